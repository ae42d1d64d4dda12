/* The server hub: connections, framing, output, timers and events
 * (PROTOCOL.md §2, §8.1, §10). Login lives in hub_login.c, rooms and
 * requests in hub_rooms.c.
 *
 * Connections are found by id through an open-addressing table. Output is
 * queued per connection as plaintext messages and sealed into as few
 * TRANSPORT frames as possible when the front-end peeks. Timeouts of each
 * kind have one fixed duration, so two FIFOs ordered by start time give
 * the next deadline in O(1). When a connection closes, its rooms are told
 * later (chat__hub_flush_leaves) so a chain of closes never recurses. */
#include "hub_internal.h"

#include <string.h>

#include <sodium.h>

#include "chat/codec.h"

/* ---------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------- */

static uint64_t load64_le(const uint8_t b[8])
{
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = (x << 8) | b[i];
    return x;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static void copy_name(char *dst, size_t cap, const char *src)
{
    size_t n = src != NULL ? strlen(src) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n > 0)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

const char *chat__code_text(unsigned code)
{
    switch (code) {
    case CHAT_CODE_PROTOCOL:
        return "protocol error";
    case CHAT_CODE_VERSION:
        return "no common protocol version";
    case CHAT_CODE_BAD_LOGIN:
        return "bad user name or password";
    case CHAT_CODE_AUTH_LIMIT:
        return "too many failed logins";
    case CHAT_CODE_ALREADY_ONLINE:
        return "already logged in elsewhere";
    case CHAT_CODE_RATE_LIMITED:
        return "too many failed logins recently, try again later";
    case CHAT_CODE_NOT_ALLOWED:
        return "not allowed";
    case CHAT_CODE_NO_SUCH_USER:
        return "no such user";
    case CHAT_CODE_NO_SUCH_ROOM:
        return "no such room";
    case CHAT_CODE_NOT_IN_ROOM:
        return "not in that room";
    case CHAT_CODE_ALREADY_IN_ROOM:
        return "already in that room";
    case CHAT_CODE_USER_EXISTS:
        return "user exists";
    case CHAT_CODE_WEAK_VERIFIER:
        return "verifier limits below the server minimum";
    case CHAT_CODE_LIMIT:
        return "server limit reached";
    case CHAT_CODE_INTERNAL:
        return "internal server error";
    case CHAT_CODE_TOO_SLOW:
        return "output queue full";
    case CHAT_CODE_IDLE:
        return "idle timeout";
    case CHAT_CODE_DELETED:
        return "account deleted";
    case CHAT_CODE_LOGIN_TIMEOUT:
        return "login timeout";
    default:
        return "";
    }
}

/* ---------------------------------------------------------------------
 * Hash tables
 * ------------------------------------------------------------------- */

static uint64_t map_hash(const chat_hub *h, uint8_t kind, const void *key)
{
    if (kind == HUB_MAP_ID) {
        uint64_t x;
        memcpy(&x, key, sizeof x);
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdULL;
        x ^= x >> 33;
        x *= 0xc4ceb9fe1a85ec53ULL;
        x ^= x >> 33;
        return x;
    }
    const char *s = key;
    uint8_t out[crypto_shorthash_BYTES];
    crypto_shorthash(out, (const unsigned char *)s, strlen(s), h->map_key);
    return load64_le(out);
}

static int map_eq(uint8_t kind, const void *a, const void *b)
{
    if (kind == HUB_MAP_ID)
        return memcmp(a, b, sizeof(uint64_t)) == 0;
    return strcmp(a, b) == 0;
}

void *chat__map_get(const chat_hub *h, const hub_map *m, const void *key)
{
    if (m->slot == NULL)
        return NULL;
    size_t i = (size_t)(map_hash(h, m->kind, key) & m->mask);
    while (m->slot[i] != NULL) {
        if (map_eq(m->kind, m->slot[i], key))
            return m->slot[i];
        i = (i + 1) & m->mask;
    }
    return NULL;
}

static void map_insert_slot(const chat_hub *h, void **slot, uint32_t mask, uint8_t kind, void *key)
{
    size_t i = (size_t)(map_hash(h, kind, key) & mask);
    while (slot[i] != NULL)
        i = (i + 1) & mask;
    slot[i] = key;
}

static int map_resize(chat_hub *h, hub_map *m, uint32_t ncap)
{
    void **ns = chat__calloc(&h->alloc, (size_t)ncap * sizeof *ns);
    if (ns == NULL)
        return CHAT_E_NOMEM;
    uint32_t cap = m->slot != NULL ? m->mask + 1 : 0;
    for (uint32_t i = 0; i < cap; i++)
        if (m->slot[i] != NULL)
            map_insert_slot(h, ns, ncap - 1, m->kind, m->slot[i]);
    chat__free(&h->alloc, m->slot);
    m->slot = ns;
    m->mask = ncap - 1;
    return CHAT_OK;
}

int chat__map_put(chat_hub *h, hub_map *m, void *key)
{
    uint32_t cap = m->slot != NULL ? m->mask + 1 : 0;
    /* Grow past a load of 3/4. */
    if (m->slot == NULL || (uint64_t)(m->count + 1) * 4 > (uint64_t)cap * 3) {
        uint32_t ncap = cap != 0 ? cap * 2 : 16;
        if (ncap == 0 || ncap > (UINT32_MAX >> 1) || map_resize(h, m, ncap) != CHAT_OK)
            return CHAT_E_NOMEM;
    }
    map_insert_slot(h, m->slot, m->mask, m->kind, key);
    m->count++;
    return CHAT_OK;
}

/* Remove the entry whose key pointer is `key` (pointer identity). */
void chat__map_del(chat_hub *h, hub_map *m, const void *key)
{
    if (m->slot == NULL)
        return;
    size_t mask = m->mask;
    size_t i = (size_t)(map_hash(h, m->kind, key) & mask);
    while (m->slot[i] != key) {
        if (m->slot[i] == NULL)
            return;
        i = (i + 1) & mask;
    }
    /* Backward-shift deletion keeps probe sequences intact. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (m->slot[j] == NULL)
            break;
        size_t home = (size_t)(map_hash(h, m->kind, m->slot[j]) & mask);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slot[i] = m->slot[j];
            i = j;
        }
    }
    m->slot[i] = NULL;
    m->count--;
    /* Shrink below a load of 1/8 so a past peak does not hold memory. */
    uint32_t cap = m->mask + 1;
    if (cap > 64 && m->count < cap / 8)
        (void)map_resize(h, m, cap / 2); /* on failure the table just stays big */
}

static void map_free(chat_hub *h, hub_map *m)
{
    chat__free(&h->alloc, m->slot);
    m->slot = NULL;
    m->mask = 0;
    m->count = 0;
}

/* ---------------------------------------------------------------------
 * Intrusive lists (timer FIFOs, leave queue, dirty list)
 * ------------------------------------------------------------------- */

static hub_link *link_of(hub_conn *c, int dirty)
{
    return dirty ? &c->dl : &c->tl;
}

static void list_append(hub_list *l, hub_conn *c, int dirty)
{
    hub_link *k = link_of(c, dirty);
    k->next = NULL;
    k->prev = l->tail;
    if (l->tail != NULL)
        link_of(l->tail, dirty)->next = c;
    else
        l->head = c;
    l->tail = c;
}

static void list_remove(hub_list *l, hub_conn *c, int dirty)
{
    hub_link *k = link_of(c, dirty);
    if (k->prev != NULL)
        link_of(k->prev, dirty)->next = k->next;
    else
        l->head = k->next;
    if (k->next != NULL)
        link_of(k->next, dirty)->prev = k->prev;
    else
        l->tail = k->prev;
    k->prev = k->next = NULL;
}

static hub_list *timer_list(chat_hub *h, uint8_t which)
{
    switch (which) {
    case HUB_TL_LOGIN:
        return &h->login_q;
    case HUB_TL_IDLE:
        return &h->idle_q;
    case HUB_TL_LEAVE:
        return &h->leave_q;
    default:
        return NULL;
    }
}

static void timer_set(chat_hub *h, hub_conn *c, uint8_t which)
{
    hub_list *l = timer_list(h, c->tlist);
    if (l != NULL)
        list_remove(l, c, 0);
    c->tlist = which;
    l = timer_list(h, which);
    if (l != NULL)
        list_append(l, c, 0);
}

void chat__conn_touch(chat_hub *h, hub_conn *c)
{
    c->t0 = h->now.mono_ms;
    timer_set(h, c, HUB_TL_IDLE);
}

static void mark_dirty(chat_hub *h, hub_conn *c)
{
    if (!(c->flags & HUB_F_DIRTY)) {
        c->flags |= HUB_F_DIRTY;
        list_append(&h->dirty_q, c, 1);
    }
}

/* ---------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------- */

void chat__hub_event(chat_hub *h, chat_hub_event_type type, const hub_conn *c, const char *user,
                     const char *target, unsigned code, int by_peer)
{
    if (h->ev_n == h->ev_cap) {
        if (h->ev_cap >= HUB_EV_MAX) {
            /* Nobody drains the queue: drop the oldest. */
            h->ev_head = (h->ev_head + 1) % h->ev_cap;
            h->ev_n--;
        } else {
            uint32_t ncap = h->ev_cap != 0 ? h->ev_cap * 2 : 16;
            hub_ev *ne = chat__alloc(&h->alloc, (size_t)ncap * sizeof *ne);
            if (ne == NULL)
                return;
            for (uint32_t i = 0; i < h->ev_n; i++)
                ne[i] = h->ev[(h->ev_head + i) % h->ev_cap];
            chat__free(&h->alloc, h->ev);
            h->ev = ne;
            h->ev_cap = ncap;
            h->ev_head = 0;
        }
    }
    hub_ev *e = &h->ev[(h->ev_head + h->ev_n) % h->ev_cap];
    memset(e, 0, sizeof *e);
    e->type = (uint8_t)type;
    e->conn = c != NULL ? c->id : 0;
    e->code = (uint16_t)code;
    e->by_peer = by_peer ? 1 : 0;
    copy_name(e->user, sizeof e->user, user);
    copy_name(e->target, sizeof e->target, target);
    h->ev_n++;
}

int chat_hub_next_event(chat_hub *h, chat_hub_event *ev)
{
    if (h == NULL || ev == NULL || h->ev_n == 0)
        return 0;
    h->ev_cur = h->ev[h->ev_head];
    h->ev_head = (h->ev_head + 1) % h->ev_cap;
    h->ev_n--;
    ev->type = (chat_hub_event_type)h->ev_cur.type;
    ev->conn = h->ev_cur.conn;
    ev->user = h->ev_cur.user;
    ev->target = h->ev_cur.target;
    ev->code = h->ev_cur.code;
    ev->by_peer = h->ev_cur.by_peer;
    return 1;
}

/* ---------------------------------------------------------------------
 * Creation and destruction
 * ------------------------------------------------------------------- */

static int motd_valid(const char *motd)
{
    size_t n = strlen(motd);
    return n <= CHAT_MOTD_MAX && chat_valid_text((const uint8_t *)motd, n, 1);
}

static uint32_t or_default(uint32_t v, uint32_t d)
{
    return v != 0 ? v : d;
}

static void conn_destroy(chat_hub *h, hub_conn *c);

int chat_hub_new(chat_hub **out, const chat_hub_config *cfg)
{
    if (out == NULL)
        return CHAT_E_INVAL;
    *out = NULL;
    if (cfg == NULL || cfg->static_priv == NULL || cfg->store.get == NULL ||
        cfg->store.put == NULL || cfg->store.del == NULL || cfg->store.list == NULL ||
        !chat__alloc_ok(&cfg->alloc))
        return CHAT_E_INVAL;
    if (cfg->motd != NULL && !motd_valid(cfg->motd))
        return CHAT_E_INVAL;
    uint8_t vmin = cfg->version_min != 0 ? cfg->version_min : CHAT_VERSION_MIN;
    uint8_t vmax = cfg->version_max != 0 ? cfg->version_max : CHAT_VERSION_MAX;
    if (vmin > vmax)
        return CHAT_E_INVAL;
    size_t ndef = 0;
    if (cfg->default_rooms != NULL) {
        for (; cfg->default_rooms[ndef] != NULL; ndef++) {
            const char *r = cfg->default_rooms[ndef];
            if (!chat_valid_room((const uint8_t *)r, strlen(r)))
                return CHAT_E_INVAL;
        }
    }
    if (sodium_init() < 0)
        return CHAT_E_CRYPTO;

    chat_hub *h = chat__calloc(&cfg->alloc, sizeof *h);
    if (h == NULL)
        return CHAT_E_NOMEM;
    h->alloc = cfg->alloc;
    h->store = cfg->store;
    h->rng = cfg->rng;
    memcpy(h->static_priv, cfg->static_priv, sizeof h->static_priv);
    if (chat_x25519_public(h->static_pub, h->static_priv) != CHAT_OK) {
        chat_allocator a = h->alloc;
        sodium_memzero(h, sizeof *h);
        chat__free(&a, h);
        return CHAT_E_CRYPTO;
    }

    h->history_len = or_default(cfg->history_len, 50);
    h->max_rooms = or_default(cfg->max_rooms, 1024);
    h->max_rooms_per_user = or_default(cfg->max_rooms_per_user, 64);
    if (h->max_rooms_per_user > UINT16_MAX)
        h->max_rooms_per_user = UINT16_MAX;
    h->login_attempts = or_default(cfg->login_attempts, 3);
    if (h->login_attempts > UINT8_MAX)
        h->login_attempts = UINT8_MAX; /* attempts_left is a u8 */
    h->login_timeout_ms = or_default(cfg->login_timeout_ms, 30000);
    h->idle_timeout_ms = or_default(cfg->idle_timeout_ms, 300000);
    h->fail_window_ms = or_default(cfg->fail_window_ms, 300000);
    h->fail_name.limit = or_default(cfg->user_fail_limit, 10);
    h->fail_addr.limit = or_default(cfg->addr_fail_limit, 30);
    h->out_max = cfg->out_max != 0 ? cfg->out_max : (size_t)1 << 20;
    h->min_opslimit = or_default(cfg->min_opslimit, CHAT_OPSLIMIT_DEFAULT);
    h->min_memlimit_kib = or_default(cfg->min_memlimit_kib, CHAT_MEMLIMIT_KIB_DEFAULT);
    if (h->min_opslimit < CHAT_OPSLIMIT_MIN)
        h->min_opslimit = CHAT_OPSLIMIT_MIN;
    if (h->min_memlimit_kib < CHAT_MEMLIMIT_KIB_MIN)
        h->min_memlimit_kib = CHAT_MEMLIMIT_KIB_MIN;
    h->fake_opslimit = cfg->fake_opslimit != 0 ? cfg->fake_opslimit : h->min_opslimit;
    h->fake_memlimit_kib =
        cfg->fake_memlimit_kib != 0 ? cfg->fake_memlimit_kib : h->min_memlimit_kib;
    if (h->fake_opslimit < CHAT_OPSLIMIT_MIN)
        h->fake_opslimit = CHAT_OPSLIMIT_MIN;
    if (h->fake_memlimit_kib < CHAT_MEMLIMIT_KIB_MIN)
        h->fake_memlimit_kib = CHAT_MEMLIMIT_KIB_MIN;
    h->version_min = vmin;
    h->version_max = vmax;

    h->conns.kind = HUB_MAP_ID;
    h->users.kind = HUB_MAP_NAME;
    h->roomtab.kind = HUB_MAP_NAME;
    h->fail_name.oldest = h->fail_name.newest = UINT32_MAX;
    h->fail_addr.oldest = h->fail_addr.newest = UINT32_MAX;
    h->next_id = 1;

    /* Server secrets, all derived from the static key so the hub draws no
     * random bytes of its own (transcripts stay reproducible):
     * K (PROTOCOL.md §4.2), the table hash key, and the dummy key that
     * proofs for unknown names are checked against. */
    static const char k_label[] = "chat/1 fake salt key";
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, h->static_priv, sizeof h->static_priv);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)k_label, sizeof k_label - 1);
    crypto_auth_hmacsha256_final(&st, h->fake_key);

    static const char m_label[] = "chat/1 hub table key";
    uint8_t tmp[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&st, h->static_priv, sizeof h->static_priv);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)m_label, sizeof m_label - 1);
    crypto_auth_hmacsha256_final(&st, tmp);
    memcpy(h->map_key, tmp, sizeof h->map_key);

    static const char d_label[] = "chat/1 dummy verifier";
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    crypto_auth_hmacsha256_init(&st, h->static_priv, sizeof h->static_priv);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)d_label, sizeof d_label - 1);
    crypto_auth_hmacsha256_final(&st, tmp);
    crypto_sign_seed_keypair(h->dummy_pk, sk, tmp);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(tmp, sizeof tmp);
    sodium_memzero(&st, sizeof st);

    int rc = chat_hub_set_motd(h, cfg->motd);
    if (rc == CHAT_OK && ndef > 0) {
        h->defrooms = chat__calloc(&h->alloc, ndef * sizeof *h->defrooms);
        if (h->defrooms == NULL)
            rc = CHAT_E_NOMEM;
        for (size_t i = 0; rc == CHAT_OK && i < ndef; i++) {
            const char *r = cfg->default_rooms[i];
            chat_name_fold(h->defrooms[h->ndefrooms], (const uint8_t *)r, strlen(r));
            /* Skip duplicates: joining twice would answer ALREADY_IN_ROOM. */
            int dup = 0;
            for (size_t j = 0; j < h->ndefrooms; j++)
                dup |= strcmp(h->defrooms[j], h->defrooms[h->ndefrooms]) == 0;
            if (!dup)
                h->ndefrooms++;
        }
    }
    if (rc != CHAT_OK) {
        chat_hub_free(h);
        return rc;
    }
    *out = h;
    return CHAT_OK;
}

void chat_hub_free(chat_hub *h)
{
    if (h == NULL)
        return;
    /* Every table and list goes as a whole: just free the objects. */
    if (h->conns.slot != NULL) {
        for (uint32_t i = 0; i <= h->conns.mask; i++)
            if (h->conns.slot[i] != NULL)
                conn_destroy(h, h->conns.slot[i]);
    }
    for (uint32_t i = 0; i < h->nrooms; i++)
        chat__room_free(h, h->rooms[i]);
    chat__free(&h->alloc, h->rooms);
    map_free(h, &h->conns);
    map_free(h, &h->users);
    map_free(h, &h->roomtab);
    chat__fail_free(h, &h->fail_name);
    chat__fail_free(h, &h->fail_addr);
    chat__free(&h->alloc, h->ev);
    chat__free(&h->alloc, h->motd);
    chat__free(&h->alloc, h->defrooms);
    chat_allocator a = h->alloc;
    sodium_memzero(h, sizeof *h);
    chat__free(&a, h);
}

int chat_hub_set_motd(chat_hub *h, const char *motd)
{
    if (h == NULL)
        return CHAT_E_INVAL;
    if (motd != NULL && !motd_valid(motd))
        return CHAT_E_INVAL;
    char *copy = NULL;
    size_t n = motd != NULL ? strlen(motd) : 0;
    if (n > 0) {
        copy = chat__alloc(&h->alloc, n + 1);
        if (copy == NULL)
            return CHAT_E_NOMEM;
        memcpy(copy, motd, n + 1);
    }
    chat__free(&h->alloc, h->motd);
    h->motd = copy;
    h->motd_len = n;
    return CHAT_OK;
}

/* ---------------------------------------------------------------------
 * Connections
 * ------------------------------------------------------------------- */

static hub_conn *conn_find(const chat_hub *h, chat_conn_id id)
{
    return chat__map_get(h, &h->conns, &id);
}

int chat_hub_accept(chat_hub *h, const uint8_t *addr, size_t addr_len, chat_time now,
                    chat_conn_id *id)
{
    if (h == NULL || id == NULL || addr_len > HUB_ADDR_MAX || (addr == NULL && addr_len != 0))
        return CHAT_E_INVAL;
    *id = 0;
    if (h->shut_down)
        return CHAT_E_STATE;
    hub_conn *c = chat__calloc(&h->alloc, sizeof *c);
    if (c == NULL)
        return CHAT_E_NOMEM;
    c->login = chat__calloc(&h->alloc, sizeof *c->login);
    if (c->login == NULL) {
        chat__free(&h->alloc, c);
        return CHAT_E_NOMEM;
    }
    c->login->addr_len = (uint8_t)addr_len;
    if (addr_len > 0)
        memcpy(c->login->addr, addr, addr_len);
    c->id = h->next_id;
    if (chat__map_put(h, &h->conns, c) != CHAT_OK) {
        chat__free(&h->alloc, c->login);
        chat__free(&h->alloc, c);
        return CHAT_E_NOMEM;
    }
    h->next_id++;
    h->nconns++;
    h->now = now;
    c->state = HUB_AWAIT_HS1;
    c->t0 = now.mono_ms;
    timer_set(h, c, HUB_TL_LOGIN);
    *id = c->id;
    return CHAT_OK;
}

void chat__conn_free_login(chat_hub *h, hub_conn *c)
{
    hub_login *l = c->login;
    if (l == NULL)
        return;
    if (l->hs != NULL) {
        chat_handshake_wipe(l->hs);
        chat__free(&h->alloc, l->hs);
    }
    sodium_memzero(l, sizeof *l);
    chat__free(&h->alloc, l);
    c->login = NULL;
}

/* Free c's memory, wiping its secrets. */
static void conn_destroy(chat_hub *h, hub_conn *c)
{
    chat__conn_free_login(h, c);
    chat__buf_free(&c->in, &h->alloc);
    chat__buf_free(&c->out, &h->alloc);
    chat__buf_free(&c->sealed, &h->alloc);
    chat__free(&h->alloc, c->rooms);
    sodium_memzero(c, sizeof *c);
    chat__free(&h->alloc, c);
}

/* Unlink c from every table and list, and free it. Its rooms must
 * already have been left. */
static void conn_free(chat_hub *h, hub_conn *c)
{
    chat__map_del(h, &h->conns, c);
    if (c->state == HUB_READY)
        chat__map_del(h, &h->users, c->name);
    timer_set(h, c, HUB_TL_NONE);
    if (c->flags & HUB_F_DIRTY)
        list_remove(&h->dirty_q, c, 1);
    conn_destroy(h, c);
    h->nconns--;
}

static void encode_goodbye(uint16_t code, const chat_str *text, uint8_t *buf, size_t cap,
                           size_t *len)
{
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_GOODBYE;
    m.u.goodbye.code = code;
    if (text != NULL) {
        m.u.goodbye.text = *text;
    } else {
        const char *t = chat__code_text(code);
        m.u.goodbye.text.p = (const uint8_t *)t;
        m.u.goodbye.text.n = strlen(t);
    }
    if (chat_msg_encode(&m, buf, cap, len) != CHAT_OK)
        *len = 0;
}

void chat__conn_end(chat_hub *h, hub_conn *c, uint16_t code, const chat_str *text, int goodbye,
                    int by_peer)
{
    if (c->state == HUB_CLOSED)
        return;
    chat__buf_free(&c->in, &h->alloc);
    if (goodbye && (c->flags & HUB_F_KEYS)) {
        /* Encoded on the stack: h->tx may hold a message being fanned out. */
        uint8_t buf[2 + 1 + 2 + 1 + CHAT_REASON_MAX];
        size_t n = 0;
        encode_goodbye(code, text, buf, sizeof buf, &n);
        if (n > 0 && chat__buf_append(&c->out, &h->alloc, buf, n) != CHAT_OK)
            h->nomem = 1;
    }
    if (c->state == HUB_READY)
        chat__map_del(h, &h->users, c->name);
    chat__hub_event(h, CHAT_HUB_EV_CLOSED, c, c->state == HUB_READY ? c->name : "", "", code,
                    by_peer);
    c->state = HUB_CLOSED;
    c->code = code;
    chat__conn_free_login(h, c);
    timer_set(h, c, c->nrooms > 0 ? HUB_TL_LEAVE : HUB_TL_NONE);
    mark_dirty(h, c); /* the front-end learns about the close */
}

void chat__conn_fail(chat_hub *h, hub_conn *c)
{
    chat__conn_end(h, c, CHAT_CODE_PROTOCOL, NULL, 1, 0);
}

static void conn_too_slow(chat_hub *h, hub_conn *c)
{
    chat__buf_free(&c->out, &h->alloc);
    chat__conn_end(h, c, CHAT_CODE_TOO_SLOW, NULL, 1, 0);
}

int chat__conn_queue(chat_hub *h, hub_conn *c, const uint8_t *msg, size_t n)
{
    if (c->state == HUB_CLOSED || !(c->flags & HUB_F_KEYS))
        return -1;
    if (n > h->out_max || c->out.len + c->sealed.len > h->out_max - n) {
        conn_too_slow(h, c);
        return -1;
    }
    if (chat__buf_append(&c->out, &h->alloc, msg, n) != CHAT_OK) {
        h->nomem = 1;
        chat__buf_free(&c->out, &h->alloc);
        chat__conn_end(h, c, CHAT_CODE_INTERNAL, NULL, 1, 0);
        return -1;
    }
    mark_dirty(h, c);
    return 0;
}

int chat__conn_send(chat_hub *h, hub_conn *c, const chat_msg *m)
{
    size_t n = 0;
    if (c->state == HUB_CLOSED)
        return -1;
    if (chat_msg_encode(m, h->tx, sizeof h->tx, &n) != CHAT_OK) {
        /* Everything the hub sends is validated beforehand; an encode
         * failure is a bug. Close rather than send something broken. */
        chat__conn_end(h, c, CHAT_CODE_INTERNAL, NULL, 1, 0);
        return -1;
    }
    int rc = chat__conn_queue(h, c, h->tx, n);
    sodium_memzero(h->tx, n); /* no plaintext left behind, as for h->rx */
    return rc;
}

int chat__conn_queue_frame(chat_hub *h, hub_conn *c, uint8_t type, const uint8_t *body, size_t n)
{
    uint8_t *w = chat__buf_reserve(&c->sealed, &h->alloc, CHAT_FRAME_HEADER + n);
    if (w == NULL) {
        h->nomem = 1;
        return -1;
    }
    chat_frame_header(w, type, n);
    memcpy(w + CHAT_FRAME_HEADER, body, n);
    c->sealed.len += CHAT_FRAME_HEADER + n;
    mark_dirty(h, c);
    return 0;
}

void chat__hub_flush_leaves(chat_hub *h)
{
    hub_conn *c;
    while ((c = h->leave_q.head) != NULL) {
        timer_set(h, c, HUB_TL_NONE);
        while (c->nrooms > 0)
            chat__room_leave(h, c->rooms[c->nrooms - 1].r, c, c->code);
    }
}

void chat__hub_shutdown_all(chat_hub *h, const chat_str *reason)
{
    h->shut_down = 1;
    if (h->conns.slot == NULL)
        return;
    for (uint32_t i = 0; i <= h->conns.mask; i++) {
        hub_conn *c = h->conns.slot[i];
        if (c != NULL && c->state != HUB_CLOSED)
            chat__conn_end(h, c, CHAT_CODE_SHUTDOWN, reason, 1, 0);
    }
}

/* ---------------------------------------------------------------------
 * Input
 * ------------------------------------------------------------------- */

static size_t be16(const uint8_t *p)
{
    return (size_t)p[0] << 8 | p[1];
}

/* The frame header (3 bytes) is known: is this frame acceptable now?
 * Otherwise close (PROTOCOL.md §8.1) and return 0. */
static int frame_ok(chat_hub *h, hub_conn *c, const uint8_t *hdr)
{
    size_t flen = be16(hdr);
    uint8_t type = hdr[2];
    int ok;
    switch (c->state) {
    case HUB_AWAIT_HS1:
        /* HS1 is exactly 38 bytes; anything else closes without a word. */
        ok = type == CHAT_FRAME_HS1 && flen == 1 + 32 + CHAT_HS1_PAYLOAD_LEN;
        break;
    case HUB_AWAIT_HS3:
        ok = type == CHAT_FRAME_HS3 && flen > 1;
        break;
    default:
        ok = type == CHAT_FRAME_TRANSPORT && flen > 0;
        break;
    }
    if (!ok)
        chat__conn_fail(h, c);
    return ok;
}

static void on_transport(chat_hub *h, hub_conn *c, const uint8_t *body, size_t n)
{
    if (n < CHAT_NOISE_TAGLEN) {
        chat__conn_end(h, c, CHAT_CODE_PROTOCOL, NULL, 0, 0);
        return;
    }
    chat_cipher cs;
    memcpy(cs.k, c->rx_k, sizeof cs.k);
    cs.n = c->rx_n;
    cs.has_key = 1;
    int rc = chat_cipher_decrypt(&cs, NULL, 0, body, n, h->rx);
    c->rx_n = cs.n;
    sodium_memzero(&cs, sizeof cs);
    if (rc != CHAT_OK) {
        /* Not authentic: act on nothing, say nothing (§2.1). */
        chat__conn_end(h, c, CHAT_CODE_PROTOCOL, NULL, 0, 0);
        return;
    }
    size_t pt = n - CHAT_NOISE_TAGLEN;
    if (c->state == HUB_READY)
        chat__conn_touch(h, c);
    if (pt == 0) {
        chat__conn_fail(h, c);
        return;
    }
    const uint8_t *p = h->rx;
    size_t left = pt;
    while (left > 0 && c->state != HUB_CLOSED) {
        chat_msg m;
        if (chat_msg_next(&p, &left, &m) != CHAT_OK) {
            chat__conn_fail(h, c);
            break;
        }
        if (m.type == CHAT_MSG_GOODBYE) {
            chat__conn_end(h, c, CHAT_CODE_QUIT, NULL, 0, 1);
            break;
        }
        switch (c->state) {
        case HUB_AWAIT_PROOF:
            if (m.type == CHAT_MSG_PROOF)
                chat__hub_on_proof(h, c, &m);
            else
                chat__conn_fail(h, c);
            break;
        case HUB_AWAIT_LOGIN:
            if (m.type == CHAT_MSG_LOGIN)
                chat__hub_on_login(h, c, &m);
            else
                chat__conn_fail(h, c);
            break;
        case HUB_READY:
            chat__hub_dispatch(h, c, &m);
            break;
        default:
            chat__conn_fail(h, c);
            break;
        }
        chat__hub_flush_leaves(h);
    }
    sodium_memzero(h->rx, pt);
}

static void process_frame(chat_hub *h, hub_conn *c, uint8_t type, const uint8_t *body, size_t n)
{
    (void)type; /* checked by frame_ok */
    switch (c->state) {
    case HUB_AWAIT_HS1:
        chat__hub_on_hs1(h, c, body, n);
        break;
    case HUB_AWAIT_HS3:
        chat__hub_on_hs3(h, c, body, n);
        break;
    case HUB_AWAIT_PROOF:
    case HUB_AWAIT_LOGIN:
    case HUB_READY:
        on_transport(h, c, body, n);
        break;
    default:
        break;
    }
}

static int in_append(chat_hub *h, hub_conn *c, const uint8_t *p, size_t n)
{
    if (chat__buf_append(&c->in, &h->alloc, p, n) != CHAT_OK) {
        h->nomem = 1;
        chat__conn_end(h, c, CHAT_CODE_INTERNAL, NULL, 1, 0);
        return -1;
    }
    return 0;
}

static void feed_bytes(chat_hub *h, hub_conn *c, const uint8_t *in, size_t len)
{
    while (len > 0 && c->state != HUB_CLOSED) {
        if (c->in.len == 0 && len >= CHAT_FRAME_HEADER) {
            /* Straight from the caller's bytes. */
            if (be16(in) == 0) {
                chat__conn_fail(h, c);
                return;
            }
            if (!frame_ok(h, c, in))
                return;
            size_t total = be16(in) + 2;
            if (len < total) {
                (void)in_append(h, c, in, len);
                return;
            }
            process_frame(h, c, in[2], in + CHAT_FRAME_HEADER, total - CHAT_FRAME_HEADER);
            in += total;
            len -= total;
            continue;
        }
        /* A partial frame is pending (or a partial header arrives). */
        size_t have = c->in.len;
        if (have < CHAT_FRAME_HEADER) {
            size_t take = CHAT_FRAME_HEADER - have;
            if (take > len)
                take = len;
            if (in_append(h, c, in, take) != 0)
                return;
            in += take;
            len -= take;
            have += take;
            if (have >= 2 && be16(c->in.p) == 0) {
                chat__conn_fail(h, c);
                return;
            }
            if (have < CHAT_FRAME_HEADER)
                return;
            if (!frame_ok(h, c, c->in.p))
                return;
        }
        size_t total = be16(c->in.p) + 2;
        size_t take = total - have;
        if (take > len)
            take = len;
        if (in_append(h, c, in, take) != 0)
            return;
        in += take;
        len -= take;
        if (c->in.len < total)
            return;
        chat__buf fr = c->in;
        memset(&c->in, 0, sizeof c->in);
        process_frame(h, c, fr.p[2], fr.p + CHAT_FRAME_HEADER, total - CHAT_FRAME_HEADER);
        chat__buf_free(&fr, &h->alloc);
    }
}

int chat_hub_feed(chat_hub *h, chat_conn_id id, const uint8_t *in, size_t len, chat_time now)
{
    if (h == NULL || (in == NULL && len != 0))
        return CHAT_E_INVAL;
    hub_conn *c = conn_find(h, id);
    if (c == NULL)
        return CHAT_E_NOTFOUND;
    h->now = now;
    h->nomem = 0;
    if (c->state != HUB_CLOSED)
        feed_bytes(h, c, in, len);
    chat__hub_flush_leaves(h);
    return h->nomem ? CHAT_E_NOMEM : CHAT_OK;
}

/* ---------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------- */

/* Seal everything queued into as few TRANSPORT frames as possible, never
 * splitting a message. */
static void seal_all(chat_hub *h, hub_conn *c)
{
    size_t off = 0;
    while (off < c->out.len) {
        size_t end = off;
        while (end < c->out.len) {
            size_t mlen = 2 + be16(c->out.p + end);
            if (end - off + mlen > CHAT_TRANSPORT_PLAIN_MAX)
                break;
            end += mlen;
        }
        size_t n = end - off;
        uint8_t *w = chat__buf_reserve(&c->sealed, &h->alloc,
                                       CHAT_FRAME_HEADER + n + CHAT_NOISE_TAGLEN);
        if (w == NULL) {
            h->nomem = 1;
            break;
        }
        chat_cipher cs;
        memcpy(cs.k, c->tx_k, sizeof cs.k);
        cs.n = c->tx_n;
        cs.has_key = 1;
        int rc = chat_cipher_encrypt(&cs, NULL, 0, c->out.p + off, n, w + CHAT_FRAME_HEADER);
        c->tx_n = cs.n;
        sodium_memzero(&cs, sizeof cs);
        if (rc != CHAT_OK) {
            /* Nonce exhausted: nothing more can be sent on this connection. */
            chat__buf_free(&c->out, &h->alloc);
            chat__conn_end(h, c, CHAT_CODE_INTERNAL, NULL, 0, 0);
            chat__hub_flush_leaves(h);
            return;
        }
        chat_frame_header(w, CHAT_FRAME_TRANSPORT, n + CHAT_NOISE_TAGLEN);
        c->sealed.len += CHAT_FRAME_HEADER + n + CHAT_NOISE_TAGLEN;
        off = end;
    }
    chat__buf_consume(&c->out, &h->alloc, off);
}

const uint8_t *chat_hub_out_peek(chat_hub *h, chat_conn_id id, size_t *len)
{
    if (len != NULL)
        *len = 0;
    if (h == NULL || len == NULL)
        return NULL;
    hub_conn *c = conn_find(h, id);
    if (c == NULL)
        return NULL;
    if (c->out.len > 0)
        seal_all(h, c);
    *len = c->sealed.len;
    return c->sealed.len > 0 ? c->sealed.p : NULL;
}

void chat_hub_out_ack(chat_hub *h, chat_conn_id id, size_t n)
{
    if (h == NULL || n == 0)
        return;
    hub_conn *c = conn_find(h, id);
    if (c == NULL)
        return;
    chat__buf_consume(&c->sealed, &h->alloc, n);
}

int chat_hub_next_dirty(chat_hub *h, chat_conn_id *id)
{
    if (h == NULL || id == NULL)
        return 0;
    hub_conn *c = h->dirty_q.head;
    if (c == NULL)
        return 0;
    list_remove(&h->dirty_q, c, 1);
    c->flags &= (uint8_t)~HUB_F_DIRTY;
    *id = c->id;
    return 1;
}

unsigned chat_hub_conn_state(const chat_hub *h, chat_conn_id id)
{
    if (h == NULL)
        return 0;
    const hub_conn *c = conn_find(h, id);
    if (c == NULL)
        return 0;
    unsigned s = 0;
    if (c->out.len > 0 || c->sealed.len > 0)
        s |= CHAT_CONN_WANT_WRITE;
    if (c->state == HUB_CLOSED)
        s |= CHAT_CONN_CLOSED;
    if (c->state == HUB_READY)
        s |= CHAT_CONN_READY;
    return s;
}

void chat_hub_release(chat_hub *h, chat_conn_id id, chat_time now)
{
    if (h == NULL)
        return;
    hub_conn *c = conn_find(h, id);
    if (c == NULL)
        return;
    h->now = now;
    if (c->state != HUB_CLOSED)
        chat__conn_end(h, c, CHAT_CODE_CONN_LOST, NULL, 0, 1);
    chat__hub_flush_leaves(h);
    conn_free(h, c);
}

/* ---------------------------------------------------------------------
 * Timeouts
 * ------------------------------------------------------------------- */

void chat_hub_tick(chat_hub *h, chat_time now)
{
    if (h == NULL)
        return;
    h->now = now;
    hub_conn *c;
    while ((c = h->login_q.head) != NULL &&
           add_sat(c->t0, h->login_timeout_ms) <= now.mono_ms) {
        /* Before transport keys the close is silent (no way to say it). */
        chat__conn_end(h, c, CHAT_CODE_LOGIN_TIMEOUT, NULL, 1, 0);
    }
    while ((c = h->idle_q.head) != NULL && add_sat(c->t0, h->idle_timeout_ms) <= now.mono_ms)
        chat__conn_end(h, c, CHAT_CODE_IDLE, NULL, 1, 0);
    chat__hub_flush_leaves(h);
}

uint64_t chat_hub_next_deadline(const chat_hub *h)
{
    if (h == NULL)
        return CHAT_NO_DEADLINE;
    uint64_t d = CHAT_NO_DEADLINE;
    if (h->login_q.head != NULL)
        d = add_sat(h->login_q.head->t0, h->login_timeout_ms);
    if (h->idle_q.head != NULL) {
        uint64_t i = add_sat(h->idle_q.head->t0, h->idle_timeout_ms);
        if (i < d)
            d = i;
    }
    return d;
}

/* ---------------------------------------------------------------------
 * Shutdown and counts
 * ------------------------------------------------------------------- */

void chat_hub_shutdown(chat_hub *h, const char *reason, chat_time now)
{
    if (h == NULL || h->shut_down)
        return;
    h->now = now;
    /* Fields set one by one: a constant initialiser holding a pointer
     * can land in .data.rel.ro in position-independent builds. */
    chat_str r;
    r.p = (const uint8_t *)"";
    r.n = 0;
    if (reason != NULL) {
        size_t n = strlen(reason);
        if (n <= CHAT_REASON_MAX && chat_valid_text((const uint8_t *)reason, n, 0)) {
            r.p = (const uint8_t *)reason;
            r.n = n;
        }
    }
    chat__hub_event(h, CHAT_HUB_EV_SHUTDOWN, NULL, "", "", CHAT_CODE_SHUTDOWN, 0);
    chat__hub_shutdown_all(h, &r);
    chat__hub_flush_leaves(h);
}

int chat_hub_is_shut_down(const chat_hub *h)
{
    return h != NULL && h->shut_down;
}

size_t chat_hub_conn_count(const chat_hub *h)
{
    return h != NULL ? h->nconns : 0;
}

size_t chat_hub_user_count(const chat_hub *h)
{
    return h != NULL ? h->users.count : 0;
}

/* ---------------------------------------------------------------------
 * Test-only accessors
 * ------------------------------------------------------------------- */

size_t chat__hub_conn_buffers(const chat_hub *h, chat_conn_id id)
{
    const hub_conn *c = conn_find(h, id);
    if (c == NULL)
        return SIZE_MAX;
    size_t n = c->in.cap + c->out.cap + c->sealed.cap;
    if (c->login != NULL) {
        n += sizeof *c->login;
        if (c->login->hs != NULL)
            n += sizeof *c->login->hs;
    }
    return n;
}

size_t chat__hub_conn_bytes(const chat_hub *h, chat_conn_id id)
{
    const hub_conn *c = conn_find(h, id);
    if (c == NULL)
        return SIZE_MAX;
    return sizeof *c + chat__hub_conn_buffers(h, id) + (size_t)c->caprooms * sizeof *c->rooms;
}

size_t chat__hub_conn_struct_size(void)
{
    return sizeof(hub_conn);
}
