/* The in-process adapter: libchat's server hub (testing a server) or client
 * session (testing a client) in this process. Randomness comes from the
 * run's source (scripted for known-answer transcripts), time from a
 * virtual clock that only `time` steps move, and bytes pass through
 * memory, so every run is deterministic and fast.
 *
 * A test-only `bug` makes the server deviate from the specification in one
 * way, by wrapping what the adapter controls (the account store, the
 * configuration, plaintext REJECT frames) without touching libchat: the
 * suite must notice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "adapter.h"
#include "chat/chat.h"

struct cf_conn {
    cf_conn *next;
    int actor;
    /* server role */
    chat_conn_id id;
    int released;
    /* client role */
    chat_client *cl;
    cf_rngctx rctx;
    cf_evq ev;
    cf_buf pass; /* the client's password (a copy) */
    int has_pass;
};

static void set_pass(cf_conn *c, const uint8_t *p, size_t n)
{
    if (c->pass.p != NULL)
        sodium_memzero(c->pass.p, c->pass.cap);
    cf_buf_reset(&c->pass);
    c->has_pass = p != NULL;
    if (p != NULL)
        cf_buf_add(&c->pass, p, n);
}

typedef struct inproc {
    int bug;
    const cf_transcript *t;
    unsigned role;
    cf_rngsrc *rng;
    chat_time now;
    chat_hub *hub;
    chat_store_mem *mem;
    chat_store inner;
    cf_rngctx hub_rng;
    const char **rooms;
    cf_conn *conns;
    int store_fails; /* fault store=on */
} inproc;

/* ---- capabilities and bugs -------------------------------------------------------- */

static const struct {
    unsigned cap;
    const char *name;
} cap_names[] = {
    {CF_CAP_SERVER, "server"}, {CF_CAP_CLIENT, "client"},   {CF_CAP_KAT, "kat"},
    {CF_CAP_CLOCK, "clock"},   {CF_CAP_CONFIG, "config"},   {CF_CAP_ACCOUNTS, "accounts"},
    {CF_CAP_ADDR, "addr"},     {CF_CAP_INSTANT, "instant"},   {CF_CAP_FAULTS, "faults"},
    {CF_CAP_SCALED, "scaled-clock"},
};

const char *cf_cap_name(unsigned cap)
{
    for (size_t i = 0; i < sizeof cap_names / sizeof cap_names[0]; i++)
        if (cap_names[i].cap == cap)
            return cap_names[i].name;
    return "?";
}

unsigned cf_cap_by_name(const char *name)
{
    for (size_t i = 0; i < sizeof cap_names / sizeof cap_names[0]; i++)
        if (strcmp(cap_names[i].name, name) == 0)
            return cap_names[i].cap;
    return 0;
}

static const char *const bug_names[] = {"none", "lost-passwd", "extra-attempt", "reject-code",
                                        "slow-idle", "keep-deleted"};

int cf_bug_by_name(const char *name)
{
    for (size_t i = 0; i < sizeof bug_names / sizeof bug_names[0]; i++)
        if (strcmp(bug_names[i], name) == 0)
            return (int)i;
    return -1;
}

const char *cf_bug_name(int bug)
{
    if (bug < 0 || (size_t)bug >= sizeof bug_names / sizeof bug_names[0])
        return "?";
    return bug_names[bug];
}

static unsigned ip_caps(void *self)
{
    (void)self;
    return CF_CAP_SERVER | CF_CAP_CLIENT | CF_CAP_KAT | CF_CAP_CLOCK | CF_CAP_CONFIG |
           CF_CAP_ACCOUNTS | CF_CAP_ADDR | CF_CAP_INSTANT | CF_CAP_FAULTS;
}

/* ---- the account store, possibly with a bug ------------------------------------- */

static int st_get(void *ctx, const char *name, chat_account *out)
{
    inproc *ip = ctx;
    if (ip->store_fails)
        return CHAT_E_STORE;
    return ip->inner.get(ip->inner.ctx, name, out);
}

static int st_put(void *ctx, const chat_account *a, int create)
{
    inproc *ip = ctx;
    if (ip->store_fails)
        return CHAT_E_STORE;
    if (ip->bug == CF_BUG_LOST_PASSWD && !create) {
        chat_account old;
        int rc = ip->inner.get(ip->inner.ctx, a->name, &old);
        sodium_memzero(&old, sizeof old);
        return rc; /* "stored" */
    }
    return ip->inner.put(ip->inner.ctx, a, create);
}

static int st_del(void *ctx, const char *name)
{
    inproc *ip = ctx;
    if (ip->store_fails)
        return CHAT_E_STORE;
    if (ip->bug == CF_BUG_KEEP_DELETED) {
        chat_account old;
        int rc = ip->inner.get(ip->inner.ctx, name, &old);
        sodium_memzero(&old, sizeof old);
        return rc;
    }
    return ip->inner.del(ip->inner.ctx, name);
}

static int st_list(void *ctx, chat_store_visit_fn fn, void *arg)
{
    inproc *ip = ctx;
    if (ip->store_fails)
        return CHAT_E_STORE;
    return ip->inner.list(ip->inner.ctx, fn, arg);
}

/* ---- setup ------------------------------------------------------------------------ */

static const cf_arg *cfg(const cf_transcript *t, const char *key)
{
    /* The last setting wins. */
    const cf_arg *found = NULL;
    for (size_t i = 0; i < t->nserver_cfg; i++)
        if (strcmp(t->server_cfg[i].key, key) == 0)
            found = &t->server_cfg[i];
    return found;
}

static uint32_t cfg_num(const cf_transcript *t, const char *key, uint32_t dflt)
{
    const cf_arg *a = cfg(t, key);
    uint64_t v;
    if (a == NULL || cf_value_u64(&a->v, &v) != 0 || v > UINT32_MAX)
        return dflt;
    return (uint32_t)v;
}

static uint32_t cfg_ms(const cf_transcript *t, const char *key, uint32_t dflt)
{
    const cf_arg *a = cfg(t, key);
    uint64_t v;
    if (a == NULL || cf_parse_duration(a->v.p, a->v.n, &v) != 0 || v > UINT32_MAX)
        return dflt;
    return (uint32_t)v;
}

static int add_accounts(inproc *ip, char *err, size_t cap)
{
    const cf_transcript *t = ip->t;
    chat_store st = chat_store_mem_store(ip->mem);
    for (size_t i = 0; i < t->naccounts; i++) {
        const cf_account *a = &t->accounts[i];
        chat_account acct;
        int rc = cf_account_build(a, &acct);
        if (rc == CHAT_OK)
            rc = st.put(st.ctx, &acct, 1);
        sodium_memzero(&acct, sizeof acct);
        if (rc != CHAT_OK) {
            cf_fmt(err, cap, "%s:%d: account %s: %s", t->file, a->line, a->name,
                   chat_strerror(rc));
            return -1;
        }
    }
    return 0;
}

static int begin_server(inproc *ip, char *err, size_t cap)
{
    const cf_transcript *t = ip->t;
    if (chat_store_mem_new(&ip->mem, NULL) != CHAT_OK) {
        cf_fmt(err, cap, "store: out of memory");
        return -1;
    }
    ip->inner = chat_store_mem_store(ip->mem);
    if (add_accounts(ip, err, cap) != 0)
        return -1;

    chat_hub_config hc;
    memset(&hc, 0, sizeof hc);
    uint8_t key[32];
    cf_static_key(t, "server", key);
    hc.static_priv = key;
    hc.store.get = st_get;
    hc.store.put = st_put;
    hc.store.del = st_del;
    hc.store.list = st_list;
    hc.store.ctx = ip;
    cf_rngctx_init(&ip->hub_rng, ip->rng, "server");
    hc.rng = cf_rng_of(&ip->hub_rng);
    const cf_arg *motd = cfg(t, "motd");
    hc.motd = motd != NULL ? (const char *)motd->v.p : NULL;
    const cf_arg *rooms = cfg(t, "rooms");
    if (rooms != NULL) {
        /* "#a,#b" -> NULL-terminated list (copies live until end). */
        size_t count = 1;
        for (size_t i = 0; i < rooms->v.n; i++)
            count += rooms->v.p[i] == ',';
        ip->rooms = cf_xcalloc(count + 1, sizeof *ip->rooms);
        size_t k = 0, start = 0;
        for (size_t i = 0; i <= rooms->v.n; i++) {
            if (i == rooms->v.n || rooms->v.p[i] == ',') {
                char *r = cf_xmalloc(i - start + 1);
                memcpy(r, rooms->v.p + start, i - start);
                r[i - start] = '\0';
                ip->rooms[k++] = r;
                start = i + 1;
            }
        }
        hc.default_rooms = ip->rooms;
    }
    hc.history_len = cfg_num(t, "history", 0);
    hc.max_rooms = cfg_num(t, "max-rooms", 0);
    hc.max_rooms_per_user = cfg_num(t, "max-rooms-per-user", 0);
    hc.login_attempts = cfg_num(t, "attempts", 3);
    if (ip->bug == CF_BUG_EXTRA_ATTEMPT)
        hc.login_attempts++;
    hc.login_timeout_ms = cfg_ms(t, "login-timeout", 0);
    hc.idle_timeout_ms = cfg_ms(t, "idle-timeout", 300000);
    if (ip->bug == CF_BUG_SLOW_IDLE)
        hc.idle_timeout_ms *= 2;
    hc.user_fail_limit = cfg_num(t, "user-fail-limit", 0);
    hc.addr_fail_limit = cfg_num(t, "addr-fail-limit", 0);
    hc.fail_window_ms = cfg_ms(t, "fail-window", 0);
    hc.out_max = cfg_num(t, "out-max", 0);
    /* The suite's default: the smallest Argon2id limits (TRANSCRIPTS.md §8). */
    hc.min_opslimit = cfg_num(t, "min-opslimit", CHAT_OPSLIMIT_MIN);
    hc.min_memlimit_kib = cfg_num(t, "min-memlimit-kib", CHAT_MEMLIMIT_KIB_MIN);
    hc.fake_opslimit = cfg_num(t, "fake-opslimit", 0);
    hc.fake_memlimit_kib = cfg_num(t, "fake-memlimit-kib", 0);
    const cf_arg *v = cfg(t, "versions");
    if (v != NULL && v->v.n == 3) {
        hc.version_min = (uint8_t)(v->v.p[0] - '0');
        hc.version_max = (uint8_t)(v->v.p[2] - '0');
    }
    int rc = chat_hub_new(&ip->hub, &hc);
    sodium_memzero(key, sizeof key);
    if (rc != CHAT_OK) {
        cf_fmt(err, cap, "%s: the hub refuses the configuration: %s", t->file, chat_strerror(rc));
        return -1;
    }
    return 0;
}

static void ip_end(void *self);

static int ip_begin(void *self, const cf_setup *s, char *err, size_t cap)
{
    inproc *ip = self;
    ip_end(self);
    ip->t = s->t;
    ip->role = s->role;
    ip->rng = s->rng;
    ip->now.mono_ms = s->mono0;
    ip->now.wall_ms = s->wall0;
    ip->store_fails = 0;
    if (s->role == CF_ROLE_SERVER)
        return begin_server(ip, err, cap);
    return 0;
}

static void ip_end(void *self)
{
    inproc *ip = self;
    cf_conn *c = ip->conns;
    while (c != NULL) {
        cf_conn *n = c->next;
        chat_client_free(c->cl);
        cf_evq_free(&c->ev);
        set_pass(c, NULL, 0);
        cf_buf_free(&c->pass);
        free(c);
        c = n;
    }
    ip->conns = NULL;
    chat_hub_free(ip->hub);
    ip->hub = NULL;
    chat_store_mem_free(ip->mem);
    ip->mem = NULL;
    if (ip->rooms != NULL) {
        for (size_t i = 0; ip->rooms[i] != NULL; i++)
            free((void *)ip->rooms[i]);
        free(ip->rooms);
        ip->rooms = NULL;
    }
}

static void hub_housekeeping(inproc *ip)
{
    chat_hub_event hev;
    while (chat_hub_next_event(ip->hub, &hev))
        ;
    chat_conn_id id;
    while (chat_hub_next_dirty(ip->hub, &id))
        ;
}

/* ---- the client under test -------------------------------------------------------- */

static void client_events(inproc *ip, cf_conn *c)
{
    const cf_actor *a = &ip->t->actors[c->actor];
    chat_client_event ev;
    while (chat_client_next_event(c->cl, &ev)) {
        cf_event out;
        memset(&out, 0, sizeof out);
        out.valid = -1;
        switch (ev.type) {
        case CHAT_CLIENT_EV_SERVER_KEY:
            out.type = CF_T_SERVER_KEY;
            memcpy(out.key, ev.server_key, 32);
            out.version = ev.version;
            break;
        case CHAT_CLIENT_EV_CHALLENGE:
        case CHAT_CLIENT_EV_LOGIN_FAILED:
        case CHAT_CLIENT_EV_WELCOME:
        case CHAT_CLIENT_EV_MESSAGE: {
            uint8_t *buf = cf_xmalloc(CHAT_MSG_MAX);
            size_t n = 0;
            if (chat_msg_encode(&ev.msg, buf, CHAT_MSG_MAX, &n) != CHAT_OK || n < 3) {
                free(buf);
                continue;
            }
            cf_event_msg(&out, buf + 2, n - 2);
            free(buf);
            break;
        }
        case CHAT_CLIENT_EV_REJECTED:
            cf_event_closed(&out, CF_ORIGIN_PEER, ev.reject.code, ev.reject.text.p,
                            ev.reject.text.n);
            out.type = CF_T_REJECT;
            out.vmin = ev.reject.version_min;
            out.vmax = ev.reject.version_max;
            break;
        case CHAT_CLIENT_EV_CLOSED:
            cf_event_closed(&out, (uint8_t)ev.close.origin, ev.close.code, ev.close.text.p,
                            ev.close.text.n);
            break;
        default:
            continue;
        }
        if (a->auto_login && ev.type == CHAT_CLIENT_EV_SERVER_KEY) {
            out.autod = 1;
            if (chat_client_trust_server(c->cl, a->trust) != CHAT_OK)
                out.autod = 0; /* left for the transcript to see */
        } else if (a->auto_login && ev.type == CHAT_CLIENT_EV_CHALLENGE && c->has_pass) {
            out.autod = 1;
            if (chat_client_prove(c->cl, c->pass.p, c->pass.len) != CHAT_OK)
                out.autod = 0;
        }
        cf_evq_push(&c->ev, &out);
    }
}

static int open_client(inproc *ip, const cf_open *o, cf_conn *c, char *err, size_t cap)
{
    const cf_transcript *t = ip->t;
    const cf_actor *a = &t->actors[o->actor];
    uint8_t key[32];
    cf_static_key(t, a->name, key);
    cf_rngctx_init(&c->rctx, ip->rng, a->name);
    chat_client_config cc;
    memset(&cc, 0, sizeof cc);
    cc.static_priv = key;
    cc.rng = cf_rng_of(&c->rctx);
    cc.max_opslimit = a->max_opslimit;
    cc.max_memlimit_kib = a->max_memlimit_kib;
    cc.version_min = a->vmin;
    cc.version_max = a->vmax;
    int rc = chat_client_new(&c->cl, &cc);
    sodium_memzero(key, sizeof key);
    if (rc == CHAT_OK)
        rc = chat_client_start(c->cl, o->user, ip->now.mono_ms);
    if (rc != CHAT_OK) {
        cf_fmt(err, cap, "client %s: %s", a->name, chat_strerror(rc));
        return -1;
    }
    set_pass(c, o->pass, o->pass_len);
    return 0;
}

/* ---- connections ------------------------------------------------------------------ */

static int ip_open(void *self, const cf_open *o, cf_conn **out, char *err, size_t cap)
{
    inproc *ip = self;
    int actor = o->actor;
    cf_conn *c = cf_xcalloc(1, sizeof *c);
    c->actor = actor;
    c->next = ip->conns;
    ip->conns = c;
    *out = c;
    if (ip->role == CF_ROLE_CLIENT)
        return open_client(ip, o, c, err, cap);
    const cf_actor *a = &ip->t->actors[actor];
    uint8_t addr[4] = {127, 0, 0, a->addr != 0 ? a->addr : 1};
    int rc = chat_hub_accept(ip->hub, addr, sizeof addr, ip->now, &c->id);
    if (rc != CHAT_OK) {
        cf_fmt(err, cap, "accept: %s", chat_strerror(rc));
        c->released = 1;
        return -1;
    }
    return 0;
}

static int ip_send(void *self, cf_conn *c, const uint8_t *p, size_t n)
{
    inproc *ip = self;
    if (ip->role == CF_ROLE_CLIENT) {
        if (chat_client_get_state(c->cl) == CHAT_CLIENT_CLOSED)
            return -1;
        int rc = chat_client_feed(c->cl, p, n, ip->now.mono_ms);
        client_events(ip, c);
        return rc == CHAT_OK ? 0 : -1;
    }
    if (c->released)
        return -1;
    int rc = chat_hub_feed(ip->hub, c->id, p, n, ip->now);
    hub_housekeeping(ip);
    return rc == CHAT_OK ? 0 : -1;
}

/* The test-only REJECT bug: rewrite the code of a plaintext REJECT frame. */
static void bug_reject(uint8_t *p, size_t n)
{
    size_t off = 0;
    while (off + CHAT_FRAME_HEADER <= n) {
        size_t len = (size_t)p[off] << 8 | p[off + 1];
        if (p[off + 2] == CHAT_FRAME_REJECT && off + 2 + len <= n && len >= 1 + 8) {
            p[off + 3 + 6] = 0;
            p[off + 3 + 7] = CHAT_CODE_SERVER_FULL;
        }
        off += 2 + len;
    }
}

static int ip_recv(void *self, cf_conn *c, cf_buf *into, size_t max, uint32_t timeout_ms)
{
    inproc *ip = self;
    (void)timeout_ms; /* nothing arrives later than now in here */
    size_t n = 0;
    if (ip->role == CF_ROLE_CLIENT) {
        const uint8_t *p = chat_client_out_peek(c->cl, &n);
        if (n > max)
            n = max;
        if (n > 0) {
            cf_buf_add(into, p, n);
            chat_client_out_ack(c->cl, n);
            return (int)n;
        }
        return chat_client_get_state(c->cl) == CHAT_CLIENT_CLOSED ? CF_EOF : 0;
    }
    if (c->released)
        return CF_EOF;
    const uint8_t *p = chat_hub_out_peek(ip->hub, c->id, &n);
    if (n > max)
        n = max;
    if (n > (size_t)INT32_MAX)
        n = INT32_MAX;
    if (n > 0) {
        size_t at = into->len;
        cf_buf_add(into, p, n);
        chat_hub_out_ack(ip->hub, c->id, n);
        if (ip->bug == CF_BUG_REJECT_CODE)
            bug_reject(into->p + at, n);
        hub_housekeeping(ip);
        return (int)n;
    }
    unsigned st = chat_hub_conn_state(ip->hub, c->id);
    if ((st & CHAT_CONN_CLOSED) && !(st & CHAT_CONN_WANT_WRITE)) {
        chat_hub_release(ip->hub, c->id, ip->now);
        hub_housekeeping(ip);
        c->released = 1;
        return CF_EOF;
    }
    return 0;
}

static void ip_close(void *self, cf_conn *c)
{
    inproc *ip = self;
    if (ip->role == CF_ROLE_CLIENT) {
        chat_client_eof(c->cl);
        client_events(ip, c);
        return;
    }
    if (c->released)
        return;
    chat_hub_release(ip->hub, c->id, ip->now);
    hub_housekeeping(ip);
    c->released = 1;
}

static int ip_command(void *self, cf_conn *c, const cf_cmd *cmd, char *err, size_t cap)
{
    inproc *ip = self;
    if (ip->role != CF_ROLE_CLIENT || c->cl == NULL) {
        cf_fmt(err, cap, "commands go to a client under test");
        return -1;
    }
    int rc = CHAT_OK;
    switch (cmd->kind) {
    case CF_CMD_LOGIN:
        rc = chat_client_login(c->cl, cmd->user);
        if (rc == CHAT_OK && cmd->pass != NULL)
            set_pass(c, cmd->pass, cmd->pass_len);
        break;
    case CF_CMD_REQUEST: {
        chat_msg m;
        if (cmd->msg_len < 3 || chat_msg_decode(cmd->msg + 2, cmd->msg_len - 2, &m) != CHAT_OK) {
            cf_fmt(err, cap, "the request is not a valid message");
            return -1;
        }
        rc = chat_client_request(c->cl, &m, NULL);
        break;
    }
    case CF_CMD_PASSWD:
        rc = chat_client_passwd(c->cl, cmd->pass, cmd->pass_len, cmd->opslimit,
                                cmd->memlimit_kib, NULL);
        break;
    case CF_CMD_ADD_USER:
        rc = chat_client_add_user(c->cl, cmd->user, (chat_role)cmd->role, cmd->pass,
                                  cmd->pass_len, cmd->opslimit, cmd->memlimit_kib, NULL);
        break;
    case CF_CMD_QUIT: {
        char text[CHAT_REASON_MAX + 1];
        size_t n = cmd->text_len > CHAT_REASON_MAX ? CHAT_REASON_MAX : cmd->text_len;
        if (n > 0)
            memcpy(text, cmd->text, n);
        text[n] = '\0';
        rc = chat_client_quit(c->cl, text);
        break;
    }
    default:
        rc = CHAT_E_INVAL;
        break;
    }
    client_events(ip, c);
    if (rc != CHAT_OK) {
        cf_fmt(err, cap, "the client refuses: %s", chat_strerror(rc));
        return -1;
    }
    return 0;
}

static int ip_event(void *self, cf_conn *c, cf_event *ev, uint32_t timeout_ms)
{
    (void)self;
    (void)timeout_ms;
    cf_event *e = cf_evq_peek(&c->ev);
    if (e == NULL)
        return 0;
    *ev = *e;
    memset(e, 0, sizeof *e); /* ownership moves to the caller */
    cf_evq_pop(&c->ev);
    return 1;
}

static int ip_advance(void *self, uint64_t ms)
{
    inproc *ip = self;
    ip->now.mono_ms += ms;
    ip->now.wall_ms += ms;
    if (ip->hub != NULL) {
        chat_hub_tick(ip->hub, ip->now);
        hub_housekeeping(ip);
    }
    for (cf_conn *c = ip->conns; c != NULL; c = c->next) {
        if (c->cl != NULL) {
            chat_client_tick(c->cl, ip->now.mono_ms);
            client_events(ip, c);
        }
    }
    return 0;
}

static int ip_fault(void *self, const char *what, int on)
{
    inproc *ip = self;
    if (strcmp(what, "store") != 0 || ip->role != CF_ROLE_SERVER)
        return -1;
    ip->store_fails = on;
    return 0;
}

static void ip_destroy(void *self)
{
    ip_end(self);
    free(self);
}

static const cf_adapter_ops inproc_ops = {
    "inproc", ip_caps, ip_begin, ip_end, ip_open, ip_send, ip_recv, ip_close,
    ip_command, ip_event, ip_advance, ip_fault, ip_destroy, NULL,
};

cf_adapter cf_inproc_new(int bug)
{
    inproc *ip = cf_xcalloc(1, sizeof *ip);
    ip->bug = bug;
    cf_adapter a = {&inproc_ops, ip};
    return a;
}
