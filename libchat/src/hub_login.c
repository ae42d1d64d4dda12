/* The hub's handshake and login (PROTOCOL.md §3, §4, §10): HS1 -> HS2 or
 * REJECT, HS3 -> CHALLENGE, PROOF -> WELCOME or LOGIN_FAILED, with fake
 * challenges for unknown names and bounded failure counts per name and
 * per address. */
#include "hub_internal.h"

#include <string.h>

#include <sodium.h>

#include "chat/verifier.h"

/* ---------------------------------------------------------------------
 * Failure tables: a fixed window per key, at most HUB_FAIL_MAX keys.
 * ------------------------------------------------------------------- */

#define FAIL_NONE UINT32_MAX

static uint64_t fail_hash(const chat_hub *h, const uint8_t *key, size_t n)
{
    uint8_t out[crypto_shorthash_BYTES];
    crypto_shorthash(out, key, n, h->map_key);
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = (x << 8) | out[i];
    return x;
}

static uint32_t fail_find(const chat_hub *h, const hub_fail_tab *t, const uint8_t *key, size_t n)
{
    if (t->ix == NULL)
        return FAIL_NONE;
    size_t i = (size_t)(fail_hash(h, key, n) & t->ixmask);
    while (t->ix[i] != 0) {
        const hub_fail_ent *e = &t->e[t->ix[i] - 1];
        if (e->klen == n && memcmp(e->key, key, n) == 0)
            return t->ix[i] - 1;
        i = (i + 1) & t->ixmask;
    }
    return FAIL_NONE;
}

static void fail_ix_insert(const chat_hub *h, hub_fail_tab *t, uint32_t idx)
{
    const hub_fail_ent *e = &t->e[idx];
    size_t i = (size_t)(fail_hash(h, e->key, e->klen) & t->ixmask);
    while (t->ix[i] != 0)
        i = (i + 1) & t->ixmask;
    t->ix[i] = idx + 1;
}

static void fail_ix_remove(const chat_hub *h, hub_fail_tab *t, uint32_t idx)
{
    size_t mask = t->ixmask;
    const hub_fail_ent *e = &t->e[idx];
    size_t i = (size_t)(fail_hash(h, e->key, e->klen) & mask);
    while (t->ix[i] != idx + 1) {
        if (t->ix[i] == 0)
            return;
        i = (i + 1) & mask;
    }
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (t->ix[j] == 0)
            break;
        const hub_fail_ent *o = &t->e[t->ix[j] - 1];
        size_t home = (size_t)(fail_hash(h, o->key, o->klen) & mask);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->ix[i] = t->ix[j];
            i = j;
        }
    }
    t->ix[i] = 0;
}

static void fail_unlink(hub_fail_tab *t, uint32_t idx)
{
    hub_fail_ent *e = &t->e[idx];
    if (e->older != FAIL_NONE)
        t->e[e->older].newer = e->newer;
    else
        t->oldest = e->newer;
    if (e->newer != FAIL_NONE)
        t->e[e->newer].older = e->older;
    else
        t->newest = e->older;
    e->older = e->newer = FAIL_NONE;
}

static void fail_link_newest(hub_fail_tab *t, uint32_t idx)
{
    hub_fail_ent *e = &t->e[idx];
    e->newer = FAIL_NONE;
    e->older = t->newest;
    if (t->newest != FAIL_NONE)
        t->e[t->newest].newer = idx;
    else
        t->oldest = idx;
    t->newest = idx;
}

/* 1 while the entry refuses logins: within its window and at the limit. */
static int fail_entry_limits(const chat_hub *h, const hub_fail_tab *t, const hub_fail_ent *e)
{
    return h->now.mono_ms >= e->start && h->now.mono_ms - e->start < h->fail_window_ms &&
           e->count >= t->limit;
}

/* Make room for one more entry; returns its index or FAIL_NONE. */
static uint32_t fail_alloc(chat_hub *h, hub_fail_tab *t)
{
    if (t->n < t->cap)
        return t->n++;
    if (t->cap >= HUB_FAIL_MAX) {
        /* Full: evict the oldest entry that refuses nobody, so flooding the
         * table with junk names cannot flush out a name that is locked.
         * Only when every entry is at its limit does the oldest go. */
        uint32_t idx = t->oldest;
        for (uint32_t k = t->oldest; k != FAIL_NONE; k = t->e[k].newer) {
            if (!fail_entry_limits(h, t, &t->e[k])) {
                idx = k;
                break;
            }
        }
        fail_ix_remove(h, t, idx);
        fail_unlink(t, idx);
        return idx;
    }
    uint32_t ncap = t->cap != 0 ? t->cap * 2 : 16;
    hub_fail_ent *ne = chat__realloc(&h->alloc, t->e, (size_t)ncap * sizeof *ne);
    if (ne == NULL)
        return FAIL_NONE;
    t->e = ne;
    uint32_t ixcap = ncap * 2;
    uint32_t *nix = chat__calloc(&h->alloc, (size_t)ixcap * sizeof *nix);
    if (nix == NULL)
        return FAIL_NONE;
    chat__free(&h->alloc, t->ix);
    t->ix = nix;
    t->ixmask = ixcap - 1;
    t->cap = ncap;
    for (uint32_t i = 0; i < t->n; i++)
        fail_ix_insert(h, t, i);
    return t->n++;
}

int chat__fail_limited(const chat_hub *h, const hub_fail_tab *t, const uint8_t *key, size_t n)
{
    uint32_t idx = fail_find(h, t, key, n);
    if (idx == FAIL_NONE)
        return 0;
    return fail_entry_limits(h, t, &t->e[idx]);
}

void chat__fail_record(chat_hub *h, hub_fail_tab *t, const uint8_t *key, size_t n)
{
    uint64_t now = h->now.mono_ms;
    uint32_t idx = fail_find(h, t, key, n);
    if (idx != FAIL_NONE) {
        hub_fail_ent *e = &t->e[idx];
        if (now < e->start || now - e->start >= h->fail_window_ms) {
            /* A new window starts: the entry becomes the newest. */
            e->start = now;
            e->count = 1;
            fail_unlink(t, idx);
            fail_link_newest(t, idx);
        } else if (e->count < UINT32_MAX) {
            e->count++;
        }
        return;
    }
    idx = fail_alloc(h, t);
    if (idx == FAIL_NONE)
        return; /* out of memory: the limit is not enforced for this key */
    hub_fail_ent *e = &t->e[idx];
    memset(e, 0, sizeof *e);
    e->start = now;
    e->count = 1;
    e->klen = (uint8_t)n;
    memcpy(e->key, key, n);
    fail_link_newest(t, idx);
    fail_ix_insert(h, t, idx);
}

void chat__fail_free(chat_hub *h, hub_fail_tab *t)
{
    if (t->e != NULL) {
        sodium_memzero(t->e, (size_t)t->cap * sizeof *t->e);
        chat__free(&h->alloc, t->e);
    }
    chat__free(&h->alloc, t->ix);
    t->e = NULL;
    t->ix = NULL;
    t->n = t->cap = 0;
    t->oldest = t->newest = FAIL_NONE;
}

/* ---------------------------------------------------------------------
 * Handshake
 * ------------------------------------------------------------------- */

void chat__hub_on_hs1(chat_hub *h, hub_conn *c, const uint8_t *body, size_t n)
{
    hub_login *l = c->login;
    l->hs = chat__calloc(&h->alloc, sizeof *l->hs);
    if (l->hs == NULL) {
        h->nomem = 1;
        chat__conn_end(h, c, CHAT_CODE_INTERNAL, NULL, 0, 0);
        return;
    }
    uint8_t payload[64];
    size_t plen = 0;
    uint8_t vmin = 0, vmax = 0;
    if (chat_handshake_init_keypair(l->hs, CHAT_NOISE_PROTOCOL, 0, (const uint8_t *)CHAT_PROLOGUE,
                                    CHAT_PROLOGUE_LEN, h->static_priv, h->static_pub, NULL,
                                    h->rng) != CHAT_OK ||
        chat_handshake_read(l->hs, body, n, payload, sizeof payload, &plen) != CHAT_OK ||
        chat_hs1_payload_decode(payload, plen, &vmin, &vmax) != CHAT_OK || vmin == 0 ||
        vmin > vmax) {
        chat__conn_end(h, c, CHAT_CODE_PROTOCOL, NULL, 0, 0);
        return;
    }
    uint8_t lo = vmin > h->version_min ? vmin : h->version_min;
    uint8_t hi = vmax < h->version_max ? vmax : h->version_max;
    if (lo > hi) {
        chat_reject r;
        memset(&r, 0, sizeof r);
        r.version_min = h->version_min;
        r.version_max = h->version_max;
        r.code = CHAT_CODE_VERSION;
        const char *t = chat__code_text(CHAT_CODE_VERSION);
        r.text.p = (const uint8_t *)t;
        r.text.n = strlen(t);
        uint8_t buf[CHAT_REJECT_MAX];
        size_t len = 0;
        if (chat_reject_encode(&r, buf, sizeof buf, &len) == CHAT_OK)
            (void)chat__conn_queue_frame(h, c, CHAT_FRAME_REJECT, buf, len);
        chat__conn_end(h, c, CHAT_CODE_VERSION, NULL, 0, 0);
        return;
    }
    uint8_t msg[128];
    size_t len = 0;
    if (chat_handshake_write(l->hs, &hi, 1, msg, sizeof msg, &len) != CHAT_OK) {
        chat__conn_end(h, c, CHAT_CODE_INTERNAL, NULL, 0, 0);
        return;
    }
    if (chat__conn_queue_frame(h, c, CHAT_FRAME_HS2, msg, len) != 0) {
        chat__conn_end(h, c, CHAT_CODE_INTERNAL, NULL, 0, 0);
        return;
    }
    l->version = hi;
    c->state = HUB_AWAIT_HS3;
}

void chat__hub_on_hs3(chat_hub *h, hub_conn *c, const uint8_t *body, size_t n)
{
    hub_login *l = c->login;
    size_t plen = 0;
    if (chat_handshake_read(l->hs, body, n, h->rx, sizeof h->rx, &plen) != CHAT_OK) {
        chat__conn_end(h, c, CHAT_CODE_PROTOCOL, NULL, 0, 0);
        return;
    }
    chat_cipher c1, c2;
    memcpy(l->h, chat_handshake_hash(l->hs), sizeof l->h);
    if (chat_handshake_split(l->hs, &c1, &c2) != CHAT_OK) {
        sodium_memzero(h->rx, plen);
        chat__conn_end(h, c, CHAT_CODE_INTERNAL, NULL, 0, 0);
        return;
    }
    /* c1 carries client -> server, c2 server -> client. */
    memcpy(c->rx_k, c1.k, sizeof c->rx_k);
    memcpy(c->tx_k, c2.k, sizeof c->tx_k);
    c->rx_n = c1.n;
    c->tx_n = c2.n;
    chat_cipher_wipe(&c1);
    chat_cipher_wipe(&c2);
    chat_handshake_wipe(l->hs);
    chat__free(&h->alloc, l->hs);
    l->hs = NULL;
    c->flags |= HUB_F_KEYS;
    c->state = HUB_AWAIT_PROOF;
    chat__hub_event(h, CHAT_HUB_EV_HANDSHAKE, c, "", "", l->version, 0);

    /* The payload must be exactly one LOGIN message. */
    const uint8_t *p = h->rx;
    size_t left = plen;
    chat_msg m;
    if (chat_msg_next(&p, &left, &m) != CHAT_OK || left != 0 || m.type != CHAT_MSG_LOGIN)
        chat__conn_fail(h, c);
    else
        chat__hub_on_login(h, c, &m);
    sodium_memzero(h->rx, plen);
}

/* ---------------------------------------------------------------------
 * Login
 * ------------------------------------------------------------------- */

static void fake_salt(const chat_hub *h, const char *folded, uint8_t salt[CHAT_SALT_LEN])
{
    static const char label[] = "chat/1 fake salt";
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, h->fake_key, sizeof h->fake_key);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)label, sizeof label - 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)folded, strlen(folded));
    crypto_auth_hmacsha256_final(&st, mac);
    memcpy(salt, mac, CHAT_SALT_LEN);
    sodium_memzero(&st, sizeof st);
    sodium_memzero(mac, sizeof mac);
}

void chat__hub_on_login(chat_hub *h, hub_conn *c, const chat_msg *m)
{
    hub_login *l = c->login;
    chat_name_fold(c->name, m->u.login.user.p, m->u.login.user.n);
    chat_account acct;
    memset(&acct, 0, sizeof acct);
    /* The fake salt is computed for every name, known or not, so both paths
     * do the same work. */
    uint8_t fake[CHAT_SALT_LEN];
    fake_salt(h, c->name, fake);
    int rc = h->store.get(h->store.ctx, c->name, &acct);
    if (rc == CHAT_OK) {
        l->chal = acct.verifier;
        l->known = 1;
    } else if (rc == CHAT_E_NOTFOUND) {
        /* Indistinguishable from a real account, and stable per name. */
        memset(&l->chal, 0, sizeof l->chal);
        memcpy(l->chal.salt, fake, sizeof fake);
        l->chal.opslimit = h->fake_opslimit;
        l->chal.memlimit_kib = h->fake_memlimit_kib;
        l->known = 0;
    } else {
        sodium_memzero(&acct, sizeof acct);
        chat__conn_end(h, c, CHAT_CODE_INTERNAL, NULL, 1, 0);
        return;
    }
    sodium_memzero(&acct, sizeof acct);
    chat_msg out;
    memset(&out, 0, sizeof out);
    out.type = CHAT_MSG_CHALLENGE;
    memcpy(out.u.challenge.salt, l->chal.salt, CHAT_SALT_LEN);
    out.u.challenge.opslimit = l->chal.opslimit;
    out.u.challenge.memlimit_kib = l->chal.memlimit_kib;
    c->state = HUB_AWAIT_PROOF;
    (void)chat__conn_send(h, c, &out);
}

static void login_failed(chat_hub *h, hub_conn *c, uint16_t code, int counts)
{
    hub_login *l = c->login;
    if (counts && l->failures < UINT8_MAX)
        l->failures++;
    uint8_t left = l->failures >= h->login_attempts
                       ? 0
                       : (uint8_t)(h->login_attempts - l->failures);
    chat_msg out;
    memset(&out, 0, sizeof out);
    out.type = CHAT_MSG_LOGIN_FAILED;
    out.u.login_failed.code = code;
    out.u.login_failed.attempts_left = left;
    const char *t = chat__code_text(code);
    out.u.login_failed.text.p = (const uint8_t *)t;
    out.u.login_failed.text.n = strlen(t);
    chat__hub_event(h, CHAT_HUB_EV_LOGIN_FAILED, c, c->name, "", code, 0);
    c->state = HUB_AWAIT_LOGIN;
    if (chat__conn_send(h, c, &out) != 0)
        return;
    if (left == 0)
        chat__conn_end(h, c, CHAT_CODE_AUTH_LIMIT, NULL, 1, 0);
}

static void login_ok(chat_hub *h, hub_conn *c, uint8_t role)
{
    if (chat__map_get(h, &h->users, c->name) != NULL) {
        /* Valid proof, but the user is online elsewhere: not a failure. */
        login_failed(h, c, CHAT_CODE_ALREADY_ONLINE, 0);
        return;
    }
    if (chat__map_put(h, &h->users, c->name) != CHAT_OK) {
        h->nomem = 1;
        chat__conn_end(h, c, CHAT_CODE_INTERNAL, NULL, 1, 0);
        return;
    }
    c->state = HUB_READY;
    c->role = role;
    chat__conn_free_login(h, c);
    chat__conn_touch(h, c);
    chat__hub_event(h, CHAT_HUB_EV_LOGIN, c, c->name, "", role, 0);
    chat_msg out;
    memset(&out, 0, sizeof out);
    out.type = CHAT_MSG_WELCOME;
    out.u.welcome.user.p = (const uint8_t *)c->name;
    out.u.welcome.user.n = strlen(c->name);
    out.u.welcome.role = role;
    out.u.welcome.time_ms = h->now.wall_ms;
    out.u.welcome.motd.p = (const uint8_t *)(h->motd != NULL ? h->motd : "");
    out.u.welcome.motd.n = h->motd_len;
    if (chat__conn_send(h, c, &out) != 0)
        return;
    chat__hub_join_defaults(h, c);
}

void chat__hub_on_proof(chat_hub *h, hub_conn *c, const chat_msg *m)
{
    hub_login *l = c->login;
    size_t nlen = strlen(c->name);
    if (chat__fail_limited(h, &h->fail_name, (const uint8_t *)c->name, nlen) ||
        (l->addr_len > 0 && chat__fail_limited(h, &h->fail_addr, l->addr, l->addr_len))) {
        /* The proof is not checked; the attempt counts against the
         * connection (the tables are not extended, so the lock ends one
         * window after the last real failure). */
        login_failed(h, c, CHAT_CODE_RATE_LIMITED, 1);
        return;
    }
    /* The account may have changed or gone since the challenge: the proof
     * only counts against the verifier that was challenged, if it is
     * still the account's. The store is asked for unknown names too, so
     * both cases cost the same. */
    int known = l->known;
    chat_account acct;
    memset(&acct, 0, sizeof acct);
    int rc = h->store.get(h->store.ctx, c->name, &acct);
    if (rc == CHAT_E_NOTFOUND) {
        known = 0;
    } else if (rc != CHAT_OK) {
        sodium_memzero(&acct, sizeof acct);
        chat__conn_end(h, c, CHAT_CODE_INTERNAL, NULL, 1, 0);
        return;
    } else if (sodium_memcmp(acct.verifier.salt, l->chal.salt, CHAT_SALT_LEN) != 0 ||
               acct.verifier.opslimit != l->chal.opslimit ||
               acct.verifier.memlimit_kib != l->chal.memlimit_kib ||
               sodium_memcmp(acct.verifier.pk, l->chal.pk, CHAT_PK_LEN) != 0) {
        known = 0;
    }
    /* Unknown names are verified too (against a dummy key), so both
     * cases take the same time. */
    const uint8_t *pk = known ? acct.verifier.pk : h->dummy_pk;
    int vr = chat_proof_verify(m->u.proof.sig, pk, l->h, (const uint8_t *)c->name, nlen);
    uint8_t role = acct.role == CHAT_ROLE_ADMIN ? CHAT_ROLE_ADMIN : CHAT_ROLE_USER;
    sodium_memzero(&acct, sizeof acct);
    if (known && vr == CHAT_OK) {
        login_ok(h, c, role);
        return;
    }
    chat__fail_record(h, &h->fail_name, (const uint8_t *)c->name, nlen);
    if (l->addr_len > 0)
        chat__fail_record(h, &h->fail_addr, l->addr, l->addr_len);
    login_failed(h, c, CHAT_CODE_BAD_LOGIN, 1);
}
