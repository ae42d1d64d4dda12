#include "sim.h"
#include "eventfmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

typedef struct sim_peer {
    chat_client *c;
    chat_conn_id id;
    char password[128];
    int socket_open; /* 0 once the hub side was released */
    char **lines;
    size_t nlines, cap, read;
} sim_peer;

struct sim {
    chat_hub *hub;
    chat_store_mem *store;
    chat_time now;
    uint8_t rng_key[32];
    uint64_t rng_calls;
    sim_peer cl[SIM_MAX_CLIENTS];
    int ncl;
};

/* Deterministic random stream: ChaCha20 keyed by the seed, one nonce per
 * draw, so every run with the same seed sees the same bytes. */
static void sim_rng(void *ctx, uint8_t *buf, size_t len)
{
    sim *s = ctx;
    uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = {0};
    uint64_t n = s->rng_calls++;
    memcpy(nonce, &n, sizeof n);
    crypto_stream_chacha20(buf, len, nonce, s->rng_key);
}

static chat_rng sim_rng_of(sim *s)
{
    chat_rng r = {sim_rng, s};
    return r;
}

sim *sim_new(const sim_options *opt)
{
    if (sodium_init() < 0)
        return NULL;
    sim *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    uint64_t seed = opt ? opt->seed : 0;
    memcpy(s->rng_key, &seed, sizeof seed);
    s->now.mono_ms = 1000;
    s->now.wall_ms = 1700000000000ull;
    if (chat_store_mem_new(&s->store, NULL) != CHAT_OK) {
        free(s);
        return NULL;
    }
    uint8_t server_key[32];
    sim_rng(s, server_key, sizeof server_key);
    chat_hub_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.static_priv = server_key;
    cfg.store = chat_store_mem_store(s->store);
    cfg.rng = sim_rng_of(s);
    cfg.min_opslimit = SIM_OPSLIMIT;
    cfg.min_memlimit_kib = SIM_MEMLIMIT_KIB;
    if (opt != NULL) {
        cfg.motd = opt->motd;
        cfg.default_rooms = opt->default_rooms;
        cfg.login_timeout_ms = opt->login_timeout_ms;
        cfg.idle_timeout_ms = opt->idle_timeout_ms;
        cfg.out_max = opt->out_max;
    }
    int rc = chat_hub_new(&s->hub, &cfg);
    sodium_memzero(server_key, sizeof server_key);
    if (rc != CHAT_OK) {
        chat_store_mem_free(s->store);
        free(s);
        return NULL;
    }
    return s;
}

void sim_free(sim *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < s->ncl; i++) {
        sim_peer *c = &s->cl[i];
        chat_client_free(c->c);
        for (size_t k = 0; k < c->nlines; k++)
            free(c->lines[k]);
        free(c->lines);
        sodium_memzero(c->password, sizeof c->password);
    }
    chat_hub_free(s->hub);
    chat_store_mem_free(s->store);
    free(s);
}

chat_hub *sim_hub(sim *s) { return s->hub; }
chat_store_mem *sim_store(sim *s) { return s->store; }
chat_client *sim_client(sim *s, int i) { return s->cl[i].c; }
chat_conn_id sim_conn(sim *s, int i) { return s->cl[i].id; }

int sim_add_account(sim *s, const char *name, const char *password, chat_role role)
{
    chat_account a;
    memset(&a, 0, sizeof a);
    if (!chat_valid_name((const uint8_t *)name, strlen(name)))
        return -1;
    chat_name_fold(a.name, (const uint8_t *)name, strlen(name));
    a.role = (uint8_t)role;
    if (chat_verifier_make(&a.verifier, (const uint8_t *)password, strlen(password),
                           SIM_OPSLIMIT, SIM_MEMLIMIT_KIB, sim_rng_of(s)) != CHAT_OK)
        return -1;
    chat_store st = chat_store_mem_store(s->store);
    return st.put(st.ctx, &a, 1) == CHAT_OK ? 0 : -1;
}

static void log_line(sim_peer *c, const char *line)
{
    if (c->nlines == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        char **p = realloc(c->lines, cap * sizeof *p);
        if (p == NULL)
            abort();
        c->lines = p;
        c->cap = cap;
    }
    size_t n = strlen(line) + 1;
    char *copy = malloc(n);
    if (copy == NULL)
        abort();
    memcpy(copy, line, n);
    c->lines[c->nlines++] = copy;
}

int sim_connect(sim *s, const char *user, const char *password)
{
    if (s->ncl == SIM_MAX_CLIENTS)
        return -1;
    sim_peer *c = &s->cl[s->ncl];
    memset(c, 0, sizeof *c);
    chat_client_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rng = sim_rng_of(s);
    if (chat_client_new(&c->c, &cfg) != CHAT_OK)
        return -1;
    snprintf(c->password, sizeof c->password, "%s", password);
    uint8_t addr[4] = {127, 0, 0, (uint8_t)(s->ncl + 1)};
    if (chat_hub_accept(s->hub, addr, sizeof addr, s->now, &c->id) != CHAT_OK ||
        chat_client_start(c->c, user, s->now.mono_ms) != CHAT_OK) {
        chat_client_free(c->c);
        return -1;
    }
    c->socket_open = 1;
    return s->ncl++;
}

void sim_set_password(sim *s, int i, const char *password)
{
    snprintf(s->cl[i].password, sizeof s->cl[i].password, "%s", password);
}

/* Drain a client's events into its log, answering key and challenge
 * events automatically. */
static void handle_client_events(sim *s, sim_peer *c)
{
    chat_client_event ev;
    char line[SIM_LINE_MAX];
    (void)s;
    while (chat_client_next_event(c->c, &ev)) {
        chat_event_format(&ev, line, sizeof line);
        log_line(c, line);
        int rc = CHAT_OK;
        if (ev.type == CHAT_CLIENT_EV_SERVER_KEY)
            rc = chat_client_trust_server(c->c, 1);
        else if (ev.type == CHAT_CLIENT_EV_CHALLENGE)
            rc = chat_client_prove(c->c, (const uint8_t *)c->password, strlen(c->password));
        if (rc != CHAT_OK) {
            snprintf(line, sizeof line, "api-error %s", chat_strerror(rc));
            log_line(c, line);
        }
    }
}

void sim_pump(sim *s)
{
    for (int round = 0; round < 10000; round++) {
        int moved = 0;
        for (int i = 0; i < s->ncl; i++) {
            sim_peer *c = &s->cl[i];
            if (!c->socket_open)
                continue;
            size_t len;
            const uint8_t *out = chat_client_out_peek(c->c, &len);
            if (len > 0) {
                /* Copy first: the peek buffer is the client's. */
                uint8_t *copy = malloc(len);
                if (copy == NULL)
                    abort();
                memcpy(copy, out, len);
                chat_client_out_ack(c->c, len);
                if (chat_hub_feed(s->hub, c->id, copy, len, s->now) != CHAT_OK)
                    abort();
                free(copy);
                moved = 1;
            }
        }
        for (int i = 0; i < s->ncl; i++) {
            sim_peer *c = &s->cl[i];
            if (!c->socket_open)
                continue;
            size_t len;
            const uint8_t *out = chat_hub_out_peek(s->hub, c->id, &len);
            if (len > 0) {
                int rc = chat_client_feed(c->c, out, len, s->now.mono_ms);
                chat_hub_out_ack(s->hub, c->id, len);
                (void)rc; /* a closed client ignores input: that is the test's business */
                moved = 1;
            }
            handle_client_events(s, c);
            unsigned st = chat_hub_conn_state(s->hub, c->id);
            if ((st & CHAT_CONN_CLOSED) && !(st & CHAT_CONN_WANT_WRITE)) {
                /* The hub closed it and everything was written: the
                 * socket closes, and the client sees the end of stream. */
                chat_hub_release(s->hub, c->id, s->now);
                c->socket_open = 0;
                chat_client_eof(c->c);
                handle_client_events(s, c);
                moved = 1;
            } else if (chat_client_get_state(c->c) == CHAT_CLIENT_CLOSED) {
                size_t pending;
                (void)chat_client_out_peek(c->c, &pending);
                if (pending == 0) {
                    /* The client closed its socket. */
                    chat_hub_release(s->hub, c->id, s->now);
                    c->socket_open = 0;
                    moved = 1;
                }
            }
        }
        chat_hub_event hev;
        while (chat_hub_next_event(s->hub, &hev))
            ;
        chat_conn_id id;
        while (chat_hub_next_dirty(s->hub, &id))
            ;
        if (!moved)
            return;
    }
    abort(); /* livelock: a bug */
}

void sim_advance(sim *s, uint64_t ms)
{
    s->now.mono_ms += ms;
    s->now.wall_ms += ms;
    chat_hub_tick(s->hub, s->now);
    for (int i = 0; i < s->ncl; i++)
        chat_client_tick(s->cl[i].c, s->now.mono_ms);
    sim_pump(s);
}

void sim_drop(sim *s, int i)
{
    sim_peer *c = &s->cl[i];
    if (!c->socket_open)
        return;
    chat_hub_release(s->hub, c->id, s->now);
    c->socket_open = 0;
    chat_client_eof(c->c);
    handle_client_events(s, c);
    sim_pump(s);
}

const char *sim_next_line(sim *s, int i)
{
    sim_peer *c = &s->cl[i];
    return c->read < c->nlines ? c->lines[c->read++] : NULL;
}

const char *sim_find_line(sim *s, int i, const char *prefix)
{
    const char *l;
    while ((l = sim_next_line(s, i)) != NULL)
        if (strncmp(l, prefix, strlen(prefix)) == 0)
            return l;
    return NULL;
}

void sim_print(sim *s, int i, const char *who)
{
    const char *l;
    while ((l = sim_next_line(s, i)) != NULL)
        printf("  %-6s %s\n", who, l);
}

int sim_closed(sim *s, int i)
{
    return chat_client_get_state(s->cl[i].c) == CHAT_CLIENT_CLOSED;
}
