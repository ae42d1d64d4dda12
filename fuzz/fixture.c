/* The fixed world of the stateful harnesses (see fixture.h). */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "eventfmt.h"

/* ---------------------------------------------------------------------
 * Failure
 * ------------------------------------------------------------------- */

noreturn void fx_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, what);
    fflush(stderr);
    abort();
}

/* ---------------------------------------------------------------------
 * Users
 * ------------------------------------------------------------------- */

static const char *const user_names[FX_NUSERS] = {"alice", "bob", "carol", "dave", "mallory"};
static const char *const user_passwords[FX_NUSERS] = {
    "alice password", "bob password", "carol password", "dave password", "mallory password"};

const char *fx_user(int u)
{
    return u >= 0 && u < FX_NUSERS ? user_names[u] : "nobody";
}

const char *fx_password(int u)
{
    return u >= 0 && u < FX_NUSERS ? user_passwords[u] : "";
}

int fx_user_index(const uint8_t *name, size_t n)
{
    char folded[CHAT_NAME_MAX + 1];
    if (n == 0 || n > CHAT_NAME_MAX)
        return -1;
    chat_name_fold(folded, name, n);
    for (int u = 0; u < FX_NUSERS; u++)
        if (strlen(user_names[u]) == n && memcmp(folded, user_names[u], n) == 0)
            return u;
    return -1;
}

/* ---------------------------------------------------------------------
 * The constant random source
 * ------------------------------------------------------------------- */

static void const_rng(void *ctx, uint8_t *buf, size_t len)
{
    static const uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];
    crypto_stream_chacha20(buf, len, nonce, ctx);
}

static fx_fixture fixture;
static int fixture_state; /* 0 none, 1 computed, 2 checked */
static int tracing;       /* CHAT_FUZZ_TRACE set: narrate events on stderr */

/* ---------------------------------------------------------------------
 * The allocator
 * ------------------------------------------------------------------- */

static struct {
    uint64_t count;     /* allocations so far */
    uint64_t fail_at;   /* this one fails (0: none) */
    uint64_t failed;    /* allocations failed since the last fixture hub */
    int fail_all;
    int next_is_hub;    /* the next allocation is a hub's own struct */
    void *cache;        /* a freed hub struct, kept for the next hub */
    size_t cache_n;
    void *big;          /* the hub struct in use */
    size_t big_n;
} heap;

static int heap_fails(void)
{
    heap.count++;
    if (heap.fail_all || heap.count == heap.fail_at) {
        if (heap.count == heap.fail_at)
            heap.fail_at = 0;
        heap.failed++;
        return 1;
    }
    return 0;
}

static void *heap_alloc(void *ctx, size_t n)
{
    (void)ctx;
    if (heap_fails())
        return NULL;
    if (heap.next_is_hub) {
        heap.next_is_hub = 0;
        FX_CHECK(heap.big == NULL); /* one fixture hub at a time */
        if (heap.cache != NULL && heap.cache_n == n) {
            heap.big = heap.cache;
            heap.cache = NULL;
        } else {
            heap.big = malloc(n);
        }
        heap.big_n = n;
        return heap.big;
    }
    return malloc(n > 0 ? n : 1);
}

static void heap_free(void *ctx, void *p)
{
    (void)ctx;
    if (p != NULL && p == heap.big) {
        free(heap.cache);
        heap.cache = p;
        heap.cache_n = heap.big_n;
        heap.big = NULL;
        return;
    }
    free(p);
}

static void *heap_realloc(void *ctx, void *p, size_t n)
{
    if (p == NULL)
        return heap_alloc(ctx, n);
    FX_CHECK(p != heap.big);
    if (heap_fails())
        return NULL;
    return realloc(p, n > 0 ? n : 1);
}

chat_allocator fx_allocator(void)
{
    chat_allocator a;
    a.alloc = heap_alloc;
    a.realloc = heap_realloc;
    a.free = heap_free;
    a.ctx = NULL;
    return a;
}

void fx_alloc_fail_after(uint64_t n)
{
    heap.fail_at = n > 0 ? heap.count + n : 0;
}

void fx_alloc_fail_all(int on)
{
    heap.fail_all = on;
}

uint64_t fx_alloc_failures(void)
{
    return heap.failed;
}

static chat_rng rng_with(uint8_t *key)
{
    chat_rng r;
    r.fill = const_rng;
    r.ctx = key;
    return r;
}

/* ---------------------------------------------------------------------
 * Input helpers
 * ------------------------------------------------------------------- */

size_t fx_encode(const chat_msg *m, uint8_t *out, size_t cap)
{
    size_t n = 0;
    if (chat_msg_encode(m, out, cap, &n) != CHAT_OK)
        return 0;
    return n;
}

size_t fx_seal(const uint8_t key[32], uint64_t *nonce, const uint8_t *pt, size_t n, uint8_t *out)
{
    FX_CHECK(n <= CHAT_TRANSPORT_PLAIN_MAX);
    chat_cipher cs;
    memcpy(cs.k, key, sizeof cs.k);
    cs.n = *nonce;
    cs.has_key = 1;
    FX_CHECK(chat_cipher_encrypt(&cs, NULL, 0, pt, n, out + CHAT_FRAME_HEADER) == CHAT_OK);
    *nonce = cs.n;
    chat_frame_header(out, CHAT_FRAME_TRANSPORT, n + CHAT_NOISE_TAGLEN);
    return CHAT_FRAME_HEADER + n + CHAT_NOISE_TAGLEN;
}

size_t fx_proof_plain(int a, int b, int corrupt, uint8_t *out, size_t cap)
{
    const fx_fixture *f = fx_get();
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_PROOF;
    memcpy(m.u.proof.sig, f->proof[a][b], CHAT_SIG_LEN);
    if (corrupt)
        m.u.proof.sig[17] ^= 0x20;
    return fx_encode(&m, out, cap);
}

static chat_str cstr(const char *s)
{
    chat_str r;
    r.p = (const uint8_t *)s;
    r.n = strlen(s);
    return r;
}

/* ---------------------------------------------------------------------
 * Computing the fixture
 * ------------------------------------------------------------------- */

static void label_hash(uint8_t out[32], const char *label)
{
    crypto_hash_sha256(out, (const unsigned char *)label, strlen(label));
}

static void compute(fx_fixture *f)
{
    FX_CHECK(sodium_init() >= 0);
    memset(f, 0, sizeof *f);
    label_hash(f->server_priv, "chat fuzz server static");
    label_hash(f->client_priv, "chat fuzz client static");
    label_hash(f->hub_rng_key, "chat fuzz hub rng");
    label_hash(f->client_rng_key, "chat fuzz client rng");

    /* Verifiers: salt = SHA-256("chat fuzz salt " || name)[0..16). */
    for (int u = 0; u < FX_NUSERS; u++) {
        char label[64];
        uint8_t salt[32];
        snprintf(label, sizeof label, "chat fuzz salt %s", user_names[u]);
        label_hash(salt, label);
        chat_verifier *v = &f->verifier[u];
        memcpy(v->salt, salt, CHAT_SALT_LEN);
        v->opslimit = FX_OPSLIMIT;
        v->memlimit_kib = FX_MEMLIMIT_KIB;
        FX_CHECK(chat_seed_derive(f->seed[u], (const uint8_t *)user_passwords[u],
                                  strlen(user_passwords[u]), v->salt, v->opslimit,
                                  v->memlimit_kib) == CHAT_OK);
        chat_seed_public(v->pk, f->seed[u]);
    }

    /* The handshake, both roles, exactly as chat_client and chat_hub run
     * it with the fixture keys and random source. */
    chat_handshake ini, resp;
    FX_CHECK(chat_handshake_init(&ini, CHAT_NOISE_PROTOCOL, 1, (const uint8_t *)CHAT_PROLOGUE,
                                 CHAT_PROLOGUE_LEN, f->client_priv, NULL,
                                 rng_with(f->client_rng_key)) == CHAT_OK);
    FX_CHECK(chat_handshake_init(&resp, CHAT_NOISE_PROTOCOL, 0, (const uint8_t *)CHAT_PROLOGUE,
                                 CHAT_PROLOGUE_LEN, f->server_priv, NULL,
                                 rng_with(f->hub_rng_key)) == CHAT_OK);
    uint8_t payload[CHAT_HS1_PAYLOAD_LEN], buf[256];
    size_t len = 0, plen = 0;
    chat_hs1_payload_encode(payload, CHAT_VERSION_MIN, CHAT_VERSION_MAX);
    FX_CHECK(chat_handshake_write(&ini, payload, sizeof payload, f->hs1 + CHAT_FRAME_HEADER,
                                  sizeof f->hs1 - CHAT_FRAME_HEADER, &len) == CHAT_OK);
    FX_CHECK(len + CHAT_FRAME_HEADER == FX_HS1_LEN);
    chat_frame_header(f->hs1, CHAT_FRAME_HS1, len);
    FX_CHECK(chat_handshake_read(&resp, f->hs1 + CHAT_FRAME_HEADER, len, buf, sizeof buf, &plen) ==
             CHAT_OK);
    uint8_t version = CHAT_VERSION_MAX;
    FX_CHECK(chat_handshake_write(&resp, &version, 1, f->hs2 + CHAT_FRAME_HEADER,
                                  sizeof f->hs2 - CHAT_FRAME_HEADER, &len) == CHAT_OK);
    FX_CHECK(len + CHAT_FRAME_HEADER == FX_HS2_LEN);
    chat_frame_header(f->hs2, CHAT_FRAME_HS2, len);
    FX_CHECK(chat_handshake_read(&ini, f->hs2 + CHAT_FRAME_HEADER, len, buf, sizeof buf, &plen) ==
             CHAT_OK);
    FX_CHECK(plen == 1 && buf[0] == version);

    for (int u = 0; u < FX_NUSERS; u++) {
        chat_handshake i2 = ini, r2 = resp;
        chat_msg login;
        memset(&login, 0, sizeof login);
        login.type = CHAT_MSG_LOGIN;
        login.u.login.user = cstr(user_names[u]);
        uint8_t pl[64];
        size_t pn = fx_encode(&login, pl, sizeof pl);
        FX_CHECK(pn > 0);
        FX_CHECK(chat_handshake_write(&i2, pl, pn, f->hs3[u] + CHAT_FRAME_HEADER,
                                      FX_HS3_MAX - CHAT_FRAME_HEADER, &len) == CHAT_OK);
        chat_frame_header(f->hs3[u], CHAT_FRAME_HS3, len);
        f->hs3_len[u] = CHAT_FRAME_HEADER + len;
        FX_CHECK(chat_handshake_read(&r2, f->hs3[u] + CHAT_FRAME_HEADER, len, buf, sizeof buf,
                                     &plen) == CHAT_OK);
        FX_CHECK(plen == pn && memcmp(buf, pl, pn) == 0);
        FX_CHECK(memcmp(chat_handshake_hash(&i2), chat_handshake_hash(&r2), 32) == 0);
        memcpy(f->h[u], chat_handshake_hash(&i2), 32);
        chat_cipher ic1, ic2, rc1, rc2;
        FX_CHECK(chat_handshake_split(&i2, &ic1, &ic2) == CHAT_OK);
        FX_CHECK(chat_handshake_split(&r2, &rc1, &rc2) == CHAT_OK);
        FX_CHECK(memcmp(ic1.k, rc1.k, 32) == 0 && memcmp(ic2.k, rc2.k, 32) == 0);
        if (u == 0) {
            memcpy(f->k_cs, ic1.k, 32);
            memcpy(f->k_sc, ic2.k, 32);
        } else {
            /* Same DH results, same keys: the point of the fixture. */
            FX_CHECK(memcmp(f->k_cs, ic1.k, 32) == 0 && memcmp(f->k_sc, ic2.k, 32) == 0);
        }
        chat_handshake_wipe(&i2);
        chat_handshake_wipe(&r2);
    }
    chat_handshake_wipe(&ini);
    chat_handshake_wipe(&resp);

    for (int a = 0; a < FX_NUSERS; a++)
        for (int b = 0; b < FX_NUSERS; b++)
            FX_CHECK(chat_proof_sign(f->proof[a][b], f->seed[b], f->h[a],
                                     (const uint8_t *)user_names[b],
                                     strlen(user_names[b])) == CHAT_OK);
}

/* ---------------------------------------------------------------------
 * Configurations
 * ------------------------------------------------------------------- */

chat_time fx_time0(void)
{
    chat_time t;
    t.mono_ms = FX_T0_MONO;
    t.wall_ms = FX_T0_WALL;
    return t;
}

static const char *const default_rooms[] = {"#lobby", NULL};

void fx_hub_config(chat_hub_config *cfg, chat_store store)
{
    const fx_fixture *f = fx_get();
    memset(cfg, 0, sizeof *cfg);
    cfg->static_priv = f->server_priv;
    cfg->store = store;
    cfg->rng = rng_with(fixture.hub_rng_key);
    cfg->alloc = fx_allocator();
    cfg->motd = "fuzz hub\nsecond line";
    cfg->default_rooms = default_rooms;
    /* Small limits: every one of them is within a short input's reach. */
    cfg->history_len = 4;
    cfg->max_rooms = 6;
    cfg->max_rooms_per_user = 3;
    cfg->login_attempts = 3;
    cfg->login_timeout_ms = 30000;
    cfg->idle_timeout_ms = 300000;
    cfg->user_fail_limit = 3;
    cfg->addr_fail_limit = 5;
    cfg->fail_window_ms = 300000;
    cfg->out_max = FX_OUT_MAX;
    cfg->min_opslimit = FX_OPSLIMIT;
    cfg->min_memlimit_kib = FX_MEMLIMIT_KIB;
}

static chat_hub *hub_new_raw(chat_store_mem **store)
{
    const fx_fixture *f = &fixture;
    FX_CHECK(chat_store_mem_new(store, NULL) == CHAT_OK);
    chat_store st = chat_store_mem_store(*store);
    for (int u = 0; u < FX_NACCOUNTS; u++) {
        chat_account a;
        memset(&a, 0, sizeof a);
        snprintf(a.name, sizeof a.name, "%s", user_names[u]);
        a.role = u == FX_ALICE ? CHAT_ROLE_ADMIN : CHAT_ROLE_USER;
        a.verifier = f->verifier[u];
        FX_CHECK(st.put(st.ctx, &a, 1) == CHAT_OK);
    }
    chat_hub_config cfg;
    fx_hub_config(&cfg, st);
    chat_hub *h = NULL;
    heap.failed = 0;
    heap.next_is_hub = 1;
    FX_CHECK(chat_hub_new(&h, &cfg) == CHAT_OK);
    FX_CHECK(heap.next_is_hub == 0 && heap.big == h);
    return h;
}

chat_hub *fx_hub_new(chat_store_mem **store)
{
    (void)fx_get();
    return hub_new_raw(store);
}

void fx_hub_free(chat_hub *h, chat_store_mem *store)
{
    fx_alloc_fail_after(0);
    fx_alloc_fail_all(0);
    chat_hub_free(h);
    chat_store_mem_free(store);
}

void fx_client_config(chat_client_config *cfg)
{
    const fx_fixture *f = fx_get();
    memset(cfg, 0, sizeof *cfg);
    cfg->static_priv = f->client_priv;
    cfg->rng = rng_with(fixture.client_rng_key);
    cfg->in_max = 1; /* raised to the minimum: one whole frame */
}

chat_client *fx_client_new(void)
{
    chat_client_config cfg;
    fx_client_config(&cfg);
    chat_client *c = NULL;
    FX_CHECK(chat_client_new(&c, &cfg) == CHAT_OK);
    return c;
}

/* ---------------------------------------------------------------------
 * The output oracle
 * ------------------------------------------------------------------- */

void fx_rx_init(fx_rx *r, unsigned dir, fx_msg_fn fn, void *arg)
{
    memset(r, 0, sizeof *r);
    r->dir = dir;
    r->fn = fn;
    r->arg = arg;
}

void fx_rx_free(fx_rx *r)
{
    free(r->buf);
    free(r->pt);
    memset(r, 0, sizeof *r);
}

static void rx_transport(fx_rx *r, const chat_frame *f)
{
    FX_CHECK(f->body_len > CHAT_NOISE_TAGLEN); /* empty plaintexts are never sent */
    if (r->pt == NULL) {
        r->pt = malloc(CHAT_FRAME_BODY_MAX);
        FX_CHECK(r->pt != NULL);
    }
    chat_cipher cs;
    memcpy(cs.k, r->dir == CHAT_DIR_S2C ? fixture.k_sc : fixture.k_cs, sizeof cs.k);
    cs.n = r->nonce;
    cs.has_key = 1;
    FX_CHECK(chat_cipher_decrypt(&cs, NULL, 0, f->body, f->body_len, r->pt) == CHAT_OK);
    r->nonce = cs.n;
    const uint8_t *p = r->pt;
    size_t left = f->body_len - CHAT_NOISE_TAGLEN;
    while (left > 0) {
        chat_msg m;
        FX_CHECK(!r->ended);
        FX_CHECK(chat_msg_next(&p, &left, &m) == CHAT_OK);
        FX_CHECK((chat_msg_direction(m.type) & r->dir) != 0);
        r->msgs++;
        if (m.type == CHAT_MSG_GOODBYE)
            r->ended = 1;
        if (r->fn != NULL)
            r->fn(r->arg, &m);
    }
}

static void rx_frame(fx_rx *r, const chat_frame *f)
{
    FX_CHECK(!r->ended);
    r->frames++;
    if (r->dir == CHAT_DIR_S2C) {
        switch (f->type) {
        case CHAT_FRAME_HS2:
            FX_CHECK(f->body_len == FX_HS2_LEN - CHAT_FRAME_HEADER);
            return;
        case CHAT_FRAME_REJECT: {
            chat_reject rj;
            FX_CHECK(chat_reject_decode(f->body, f->body_len, &rj) == CHAT_OK);
            r->ended = 1;
            return;
        }
        case CHAT_FRAME_TRANSPORT:
            rx_transport(r, f);
            return;
        default:
            FX_FAIL("hub wrote a client-to-server frame");
        }
    }
    switch (f->type) {
    case CHAT_FRAME_HS1:
        FX_CHECK(f->body_len == FX_HS1_LEN - CHAT_FRAME_HEADER);
        return;
    case CHAT_FRAME_HS3:
        FX_CHECK(f->body_len > 48 + CHAT_NOISE_TAGLEN);
        return;
    case CHAT_FRAME_TRANSPORT:
        rx_transport(r, f);
        return;
    default:
        FX_FAIL("client wrote a server-to-client frame");
    }
}

void fx_rx_feed(fx_rx *r, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 1024;
        while (cap < r->len + n)
            cap *= 2;
        uint8_t *nb = realloc(r->buf, cap);
        FX_CHECK(nb != NULL);
        r->buf = nb;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, p, n);
    r->len += n;
    size_t off = 0;
    for (;;) {
        chat_frame f;
        size_t used = 0;
        int rc = chat_frame_decode(r->buf + off, r->len - off, &f, &used);
        if (rc == CHAT_E_AGAIN)
            break;
        FX_CHECK(rc == CHAT_OK);
        rx_frame(r, &f);
        off += used;
    }
    memmove(r->buf, r->buf + off, r->len - off);
    r->len -= off;
}

/* ---------------------------------------------------------------------
 * Hub and client pumps
 * ------------------------------------------------------------------- */

size_t fx_hub_drain(chat_hub *h, chat_conn_id id, fx_rx *r)
{
    size_t n = 0;
    const uint8_t *p = chat_hub_out_peek(h, id, &n);
    size_t total = 0;
    for (int round = 0; n > 0; round++) {
        /* Everything is sealed at once, unless an allocation failed. */
        FX_CHECK(round == 0 || fx_alloc_failures() > 0);
        FX_CHECK(round < 8 && p != NULL && n <= FX_OUT_BOUND);
        if (r != NULL)
            fx_rx_feed(r, p, n);
        chat_hub_out_ack(h, id, n);
        total += n;
        p = chat_hub_out_peek(h, id, &n);
    }
    return total;
}

static size_t bounded_len(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n] != '\0')
        n++;
    return n;
}

static void check_cstr(const char *s, size_t max)
{
    FX_CHECK(s != NULL);
    FX_CHECK(bounded_len(s, max + 1) <= max);
}

void fx_hub_events(chat_hub *h)
{
    chat_hub_event ev;
    while (chat_hub_next_event(h, &ev)) {
        FX_CHECK(ev.type >= CHAT_HUB_EV_HANDSHAKE && ev.type <= CHAT_HUB_EV_SHUTDOWN);
        if (tracing)
            fprintf(stderr, "  hub: conn %llu event %d user '%s' target '%s' code %u\n",
                    (unsigned long long)ev.conn, (int)ev.type, ev.user, ev.target, ev.code);
        check_cstr(ev.user, CHAT_NAME_MAX);
        check_cstr(ev.target, CHAT_NAME_MAX);
    }
}

/* Walk the entries of a list message: the decoder validated them, so the
 * getters must find exactly `count` and consume every byte. */
void fx_check_entries(const chat_msg *m)
{
    const uint8_t *p;
    size_t left;
    uint16_t count;
    if (m->type == CHAT_MSG_NAMES) {
        p = m->u.names.entries;
        left = m->u.names.entries_len;
        count = m->u.names.count;
    } else if (m->type == CHAT_MSG_ROOM_LIST || m->type == CHAT_MSG_USER_LIST) {
        p = m->u.list.entries;
        left = m->u.list.entries_len;
        count = m->u.list.count;
    } else {
        return;
    }
    for (uint16_t i = 0; i < count; i++) {
        int rc;
        if (m->type == CHAT_MSG_NAMES) {
            chat_name_entry e;
            rc = chat_entry_get_name(&p, &left, &e);
            FX_CHECK(rc != CHAT_OK || chat_valid_name(e.user.p, e.user.n));
        } else if (m->type == CHAT_MSG_ROOM_LIST) {
            chat_room_entry e;
            rc = chat_entry_get_room(&p, &left, &e);
            FX_CHECK(rc != CHAT_OK || chat_valid_room(e.room.p, e.room.n));
        } else {
            chat_user_entry e;
            rc = chat_entry_get_user(&p, &left, &e);
            FX_CHECK(rc != CHAT_OK || e.role <= 1);
        }
        FX_CHECK(rc == CHAT_OK);
    }
    FX_CHECK(left == 0);
}

/* One event is one line of printable text. */
static void check_line(const chat_client_event *ev)
{
    static char line[16384];
    chat_event_format(ev, line, sizeof line);
    size_t n = bounded_len(line, sizeof line);
    FX_CHECK(n < sizeof line);
    if (tracing)
        fprintf(stderr, "  client: %.200s\n", line);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)line[i];
        FX_CHECK(ch >= 0x20 && ch != 0x7f);
    }
}

void fx_client_events(chat_client *c, int u, int refuse)
{
    chat_client_event ev;
    const fx_fixture *f = fx_get();
    int closed = 0;
    while (chat_client_next_event(c, &ev)) {
        FX_CHECK(!closed); /* CLOSED is the last event */
        check_line(&ev);
        switch (ev.type) {
        case CHAT_CLIENT_EV_SERVER_KEY:
            FX_IGNORE(chat_client_trust_server(c, !refuse));
            break;
        case CHAT_CLIENT_EV_CHALLENGE:
            FX_CHECK(ev.msg.type == CHAT_MSG_CHALLENGE);
            if (ev.msg.u.challenge.opslimit <= 2 && ev.msg.u.challenge.memlimit_kib <= 64)
                /* Cheap enough to derive: the whole path, Argon2id included. */
                FX_IGNORE(chat_client_prove(c, (const uint8_t *)user_passwords[u],
                                            strlen(user_passwords[u])));
            else
                FX_IGNORE(chat_client_prove_seed(c, f->seed[u]));
            break;
        case CHAT_CLIENT_EV_LOGIN_FAILED:
            FX_CHECK(ev.msg.type == CHAT_MSG_LOGIN_FAILED);
            if (ev.msg.u.login_failed.attempts_left > 0)
                FX_IGNORE(chat_client_login(c, fx_user(u)));
            break;
        case CHAT_CLIENT_EV_WELCOME:
            FX_CHECK(ev.msg.type == CHAT_MSG_WELCOME);
            FX_CHECK(fx_user_index(ev.msg.u.welcome.user.p, ev.msg.u.welcome.user.n) == u);
            break;
        case CHAT_CLIENT_EV_MESSAGE:
            FX_CHECK((chat_msg_direction(ev.msg.type) & CHAT_DIR_S2C) != 0);
            FX_CHECK(ev.msg.type != CHAT_MSG_GOODBYE && ev.msg.type != CHAT_MSG_CHALLENGE &&
                     ev.msg.type != CHAT_MSG_WELCOME && ev.msg.type != CHAT_MSG_LOGIN_FAILED);
            fx_check_entries(&ev.msg);
            break;
        case CHAT_CLIENT_EV_REJECTED:
            break;
        case CHAT_CLIENT_EV_CLOSED:
            closed = 1;
            FX_CHECK(ev.close.text.n <= CHAT_REASON_MAX + 64);
            FX_CHECK(chat_client_get_state(c) == CHAT_CLIENT_CLOSED);
            break;
        default:
            FX_FAIL("unknown client event");
        }
    }
}

size_t fx_client_drain(chat_client *c, fx_rx *r)
{
    size_t n = 0;
    const uint8_t *p = chat_client_out_peek(c, &n);
    if (n == 0)
        return 0;
    FX_CHECK(p != NULL);
    if (r != NULL)
        fx_rx_feed(r, p, n);
    chat_client_out_ack(c, n);
    return n;
}

/* ---------------------------------------------------------------------
 * The fixture, checked against the real hub and client
 * ------------------------------------------------------------------- */

static void selftest_hub(void)
{
    const fx_fixture *f = &fixture;
    chat_store_mem *st;
    chat_hub *h = hub_new_raw(&st);
    chat_time now = fx_time0();
    chat_conn_id id;
    FX_CHECK(chat_hub_accept(h, NULL, 0, now, &id) == CHAT_OK);
    uint8_t pt[128], fr[256];
    uint64_t n = 0;
    size_t pn = fx_proof_plain(FX_ALICE, FX_ALICE, 0, pt, sizeof pt);
    size_t fn = fx_seal(f->k_cs, &n, pt, pn, fr);
    FX_CHECK(chat_hub_feed(h, id, f->hs1, sizeof f->hs1, now) == CHAT_OK);
    FX_CHECK(chat_hub_feed(h, id, f->hs3[FX_ALICE], f->hs3_len[FX_ALICE], now) == CHAT_OK);
    FX_CHECK(chat_hub_feed(h, id, fr, fn, now) == CHAT_OK);
    FX_CHECK(chat_hub_conn_state(h, id) & CHAT_CONN_READY);
    fx_rx r;
    fx_rx_init(&r, CHAT_DIR_S2C, NULL, NULL);
    FX_CHECK(fx_hub_drain(h, id, &r) > 0);
    FX_CHECK(r.msgs == 4); /* CHALLENGE, WELCOME, JOINED, NAMES */
    fx_rx_free(&r);
    fx_hub_events(h);
    fx_hub_free(h, st);
}

static void selftest_client(void)
{
    const fx_fixture *f = &fixture;
    chat_client_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.static_priv = f->client_priv;
    cfg.rng = rng_with(fixture.client_rng_key);
    chat_client *c = NULL;
    FX_CHECK(chat_client_new(&c, &cfg) == CHAT_OK);
    FX_CHECK(chat_client_start(c, "alice", FX_T0_MONO) == CHAT_OK);
    fx_rx out;
    fx_rx_init(&out, CHAT_DIR_C2S, NULL, NULL);
    (void)fx_client_drain(c, &out);
    FX_CHECK(chat_client_feed(c, f->hs2, sizeof f->hs2, FX_T0_MONO) == CHAT_OK);
    fx_client_events(c, FX_ALICE, 0);
    (void)fx_client_drain(c, &out);
    FX_CHECK(chat_client_get_state(c) == CHAT_CLIENT_AWAIT_CHALLENGE);
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_CHALLENGE;
    memcpy(m.u.challenge.salt, f->verifier[FX_ALICE].salt, CHAT_SALT_LEN);
    m.u.challenge.opslimit = FX_OPSLIMIT;
    m.u.challenge.memlimit_kib = FX_MEMLIMIT_KIB;
    uint8_t pt[128], fr[256];
    uint64_t n = 0;
    size_t pn = fx_encode(&m, pt, sizeof pt);
    size_t fn = fx_seal(f->k_sc, &n, pt, pn, fr);
    FX_CHECK(chat_client_feed(c, fr, fn, FX_T0_MONO) == CHAT_OK);
    fx_client_events(c, FX_ALICE, 0);
    (void)fx_client_drain(c, &out);
    FX_CHECK(chat_client_get_state(c) == CHAT_CLIENT_AWAIT_RESULT);
    FX_CHECK(out.msgs == 1 && out.nonce == 1); /* the PROOF authenticated */
    fx_rx_free(&out);
    chat_client_free(c);
}

const fx_fixture *fx_get(void)
{
    if (fixture_state == 0) {
        tracing = getenv("CHAT_FUZZ_TRACE") != NULL;
        compute(&fixture);
        fixture_state = 1;
        selftest_hub();
        selftest_client();
        fixture_state = 2;
    }
    return &fixture;
}
