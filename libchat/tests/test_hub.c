/* The server hub, driven by raw test peers (peer.h) through memory with a
 * virtual clock and a deterministic rng. Every test asserts the exact
 * messages each peer receives, in order (PROTOCOL.md §3, §4, §8.1, §9,
 * §10). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "hub_internal.h"
#include "peer.h"

/* ---------------------------------------------------------------------
 * Fixture: a hub with an in-memory store and four accounts
 * ------------------------------------------------------------------- */

#define MAX_PEERS 64
#define WALL0 1700000000000ull

typedef struct fx {
    test_rng rng;
    chat_store_mem *sm;
    chat_store store;
    chat_hub *hub;
    chat_time now;
    uint8_t spriv[32], spub[32];
    peer *peers[MAX_PEERS];
    size_t npeers;
} fx;

typedef void (*tweak_fn)(chat_hub_config *cfg);

static void make_verifier(fx *f, chat_verifier *v, const char *pw, uint32_t ops, uint32_t mem)
{
    assert_int_equal(chat_verifier_make(v, (const uint8_t *)pw, strlen(pw), ops, mem,
                                        test_rng_of(&f->rng)),
                     CHAT_OK);
}

static void fx_account(fx *f, const char *name, const char *pw, chat_role role)
{
    chat_account a;
    memset(&a, 0, sizeof a);
    chat_name_fold(a.name, (const uint8_t *)name, strlen(name));
    a.role = (uint8_t)role;
    make_verifier(f, &a.verifier, pw, 1, 8);
    assert_int_equal(f->store.put(f->store.ctx, &a, 1), CHAT_OK);
}

static fx *fx_new(tweak_fn tweak)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    test_rng_init(&f->rng, 42);
    test_rng_fill(&f->rng, f->spriv, sizeof f->spriv);
    assert_int_equal(chat_x25519_public(f->spub, f->spriv), CHAT_OK);
    assert_int_equal(chat_store_mem_new(&f->sm, NULL), CHAT_OK);
    f->store = chat_store_mem_store(f->sm);
    fx_account(f, "alice", "alice-pw", CHAT_ROLE_USER);
    fx_account(f, "bob", "bob-pw", CHAT_ROLE_USER);
    fx_account(f, "carol", "carol-pw", CHAT_ROLE_USER);
    fx_account(f, "root", "root-pw", CHAT_ROLE_ADMIN);

    chat_hub_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.static_priv = f->spriv;
    cfg.store = f->store;
    cfg.rng = test_rng_of(&f->rng);
    cfg.motd = "Hello\nworld";
    cfg.min_opslimit = 1;
    cfg.min_memlimit_kib = 8;
    if (tweak != NULL)
        tweak(&cfg);
    assert_int_equal(chat_hub_new(&f->hub, &cfg), CHAT_OK);
    f->now.mono_ms = 1000;
    f->now.wall_ms = WALL0;
    return f;
}

static void fx_free(fx *f)
{
    for (size_t i = 0; i < f->npeers; i++)
        peer_free(f->peers[i]);
    chat_hub_free(f->hub);
    chat_store_mem_free(f->sm);
    free(f);
}

static peer *fx_peer_addr(fx *f, const uint8_t *addr, size_t addr_len)
{
    assert_true(f->npeers < MAX_PEERS);
    peer *p = peer_new(f->npeers + 1);
    assert_non_null(p);
    f->peers[f->npeers++] = p;
    assert_int_equal(peer_attach(p, f->hub, &f->now, addr, addr_len), CHAT_OK);
    return p;
}

static peer *fx_peer(fx *f)
{
    return fx_peer_addr(f, NULL, 0);
}

static peer *fx_login(fx *f, const char *user)
{
    peer *p = fx_peer(f);
    char pw[64];
    snprintf(pw, sizeof pw, "%s-pw", user);
    assert_int_equal(peer_login(p, user, pw), 0);
    return p;
}

static void fx_advance(fx *f, uint64_t ms)
{
    f->now.mono_ms += ms;
    f->now.wall_ms += ms;
}

static void pump_all(fx *f)
{
    for (size_t i = 0; i < f->npeers; i++)
        (void)peer_pump(f->peers[i]);
}

static void drain_all(fx *f)
{
    pump_all(f);
    for (size_t i = 0; i < f->npeers; i++)
        peer_drain(f->peers[i]);
}

static void drain_events(fx *f)
{
    chat_hub_event ev;
    while (chat_hub_next_event(f->hub, &ev))
        ;
}

/* ---------------------------------------------------------------------
 * Message helpers
 * ------------------------------------------------------------------- */

static int streq(chat_str s, const char *c)
{
    return s.n == strlen(c) && (s.n == 0 || memcmp(s.p, c, s.n) == 0);
}

#define assert_str(s, c)                                                                     \
    do {                                                                                     \
        chat_str s_ = (s);                                                                   \
        if (!streq(s_, (c)))                                                                 \
            fail_msg("string \"%.*s\" != \"%s\"", (int)s_.n, (const char *)s_.p, (c));      \
    } while (0)

static chat_str cs(const char *s)
{
    chat_str r = {(const uint8_t *)s, strlen(s)};
    return r;
}

static const chat_msg *expect(peer *p, uint8_t type)
{
    const chat_msg *m = peer_expect(p, type);
    if (m == NULL)
        fail_msg("expected %s", chat_msg_name(type));
    return m;
}

static void expect_ok(peer *p, uint32_t req)
{
    assert_int_equal(expect(p, CHAT_MSG_OK)->req, req);
}

static void expect_error(peer *p, uint32_t req, unsigned code)
{
    const chat_msg *m = expect(p, CHAT_MSG_ERROR);
    assert_int_equal(m->req, req);
    assert_int_equal(m->u.error.code, code);
}

static void expect_joined(peer *p, const char *room, const char *user)
{
    const chat_msg *m = expect(p, CHAT_MSG_JOINED);
    assert_str(m->u.joined.room, room);
    assert_str(m->u.joined.user, user);
}

static void expect_parted(peer *p, const char *room, const char *user, unsigned reason)
{
    const chat_msg *m = expect(p, CHAT_MSG_PARTED);
    assert_str(m->u.parted.room, room);
    assert_str(m->u.parted.user, user);
    assert_int_equal(m->u.parted.reason, reason);
}

static void expect_goodbye(peer *p, unsigned code)
{
    const chat_msg *m = expect(p, CHAT_MSG_GOODBYE);
    assert_int_equal(m->u.goodbye.code, code);
}

/* NAMES(req, room) in one message whose members are exactly `names`. */
static void expect_names(peer *p, uint32_t req, const char *room, const char *const *names,
                         size_t n)
{
    const chat_msg *m = expect(p, CHAT_MSG_NAMES);
    assert_int_equal(m->req, req);
    assert_str(m->u.names.room, room);
    assert_int_equal(m->u.names.flags, 0);
    assert_int_equal(m->u.names.count, n);
    int seen[16] = {0};
    const uint8_t *q = m->u.names.entries;
    size_t left = m->u.names.entries_len;
    for (size_t i = 0; i < n; i++) {
        chat_name_entry e;
        assert_int_equal(chat_entry_get_name(&q, &left, &e), CHAT_OK);
        int found = 0;
        for (size_t j = 0; j < n; j++) {
            if (!seen[j] && streq(e.user, names[j])) {
                seen[j] = found = 1;
                break;
            }
        }
        if (!found)
            fail_msg("unexpected member %.*s", (int)e.user.n, (const char *)e.user.p);
    }
    assert_int_equal(left, 0);
}

static void expect_msg(peer *p, const char *target, const char *from, uint64_t seq,
                       const char *text, uint8_t flags)
{
    const chat_msg *m = expect(p, CHAT_MSG_MESSAGE);
    assert_str(m->u.message.target, target);
    assert_str(m->u.message.from, from);
    assert_int_equal(m->u.message.seq, seq);
    assert_str(m->u.message.text, text);
    assert_int_equal(m->u.message.flags, flags);
}

static void expect_none(peer *p)
{
    chat_msg m;
    if (peer_next(p, &m)) {
        const char *n = chat_msg_name(m.type);
        fail_msg("expected nothing, got %s", n != NULL ? n : "?");
    }
}

/* ---------------------------------------------------------------------
 * Request helpers (sent and fed to the hub)
 * ------------------------------------------------------------------- */

static chat_msg req_msg(uint8_t type, uint32_t req)
{
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.req = req;
    return m;
}

static void send_ok(peer *p, const chat_msg *m)
{
    assert_int_equal(peer_send(p, m), CHAT_OK);
}

static void do_topic(peer *p, uint32_t req, const char *room, const char *topic)
{
    chat_msg m = req_msg(CHAT_MSG_TOPIC, req);
    m.u.topic.room = cs(room);
    m.u.topic.topic = cs(topic);
    send_ok(p, &m);
}

static void do_room_req(peer *p, uint8_t type, uint32_t req, const char *room)
{
    chat_msg m = req_msg(type, req);
    m.u.room.room = cs(room);
    send_ok(p, &m);
}

static void do_simple(peer *p, uint8_t type, uint32_t req)
{
    chat_msg m = req_msg(type, req);
    send_ok(p, &m);
}

static void do_say(peer *p, uint32_t req, const char *target, const char *text, uint8_t kind)
{
    chat_msg m = req_msg(CHAT_MSG_SEND, req);
    m.u.send.kind = kind;
    m.u.send.target = cs(target);
    m.u.send.text = cs(text);
    send_ok(p, &m);
}

static void do_user_req(peer *p, uint8_t type, uint32_t req, const char *user)
{
    chat_msg m = req_msg(type, req);
    if (type == CHAT_MSG_DEL_USER)
        m.u.del_user.user = cs(user);
    else
        m.u.kick.user = cs(user);
    send_ok(p, &m);
}

static void do_kick(peer *p, uint32_t req, const char *user, const char *reason)
{
    chat_msg m = req_msg(CHAT_MSG_KICK, req);
    m.u.kick.user = cs(user);
    m.u.kick.reason = cs(reason);
    send_ok(p, &m);
}

static void do_shutdown(peer *p, uint32_t req, const char *reason)
{
    chat_msg m = req_msg(CHAT_MSG_SHUTDOWN, req);
    m.u.shutdown.reason = cs(reason);
    send_ok(p, &m);
}

static void do_add_user(peer *p, uint32_t req, const char *user, uint8_t role,
                        const chat_verifier *v)
{
    chat_msg m = req_msg(CHAT_MSG_ADD_USER, req);
    m.u.add_user.user = cs(user);
    m.u.add_user.role = role;
    m.u.add_user.v = *v;
    send_ok(p, &m);
}

static void do_passwd(peer *p, uint32_t req, const chat_verifier *v)
{
    chat_msg m = req_msg(CHAT_MSG_PASSWD, req);
    m.u.passwd.v = *v;
    send_ok(p, &m);
}

/* A joins room and drains what it receives; everyone else drains too. */
static void join_quiet(fx *f, peer *p, const char *room)
{
    do_room_req(p, CHAT_MSG_JOIN, 99, room);
    drain_all(f);
}

/* ---------------------------------------------------------------------
 * Handshake and versions
 * ------------------------------------------------------------------- */

static void test_handshake(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    peer *p = fx_peer(f);
    assert_int_equal(peer_state(p), 0);
    assert_int_equal(peer_handshake(p), 0);
    assert_int_equal(peer_version(p), 1);
    assert_memory_equal(peer_server_key(p), f->spub, 32);
    assert_int_equal(peer_state(p) & (CHAT_CONN_READY | CHAT_CONN_CLOSED), 0);
    /* HS2 is 3 + 97 bytes and came as one frame; no event before HS3. */
    chat_hub_event ev;
    assert_int_equal(chat_hub_next_event(f->hub, &ev), 0);

    assert_int_equal(peer_hs3(p, "alice"), 0);
    peer_sync(p);
    const chat_msg *ch = expect(p, CHAT_MSG_CHALLENGE);
    assert_int_equal(ch->u.challenge.opslimit, 1);
    assert_int_equal(ch->u.challenge.memlimit_kib, 8);
    assert_int_equal(chat_hub_next_event(f->hub, &ev), 1);
    assert_int_equal(ev.type, CHAT_HUB_EV_HANDSHAKE);
    assert_int_equal(ev.code, 1);
    assert_int_equal(ev.conn, peer_id(p));
    assert_int_equal(chat_hub_conn_count(f->hub), 1);
    assert_int_equal(chat_hub_user_count(f->hub), 0);
    fx_free(f);
}

static void tweak_versions_1_3(chat_hub_config *cfg)
{
    cfg->version_min = 1;
    cfg->version_max = 3;
}

static void test_version_overlap(void **state)
{
    (void)state;
    fx *f = fx_new(tweak_versions_1_3);
    peer *a = fx_peer(f);
    assert_int_equal(peer_hs1(a, 2, 5), 0);
    peer_sync(a);
    assert_true(peer_has_hs2(a));
    assert_int_equal(peer_version(a), 3); /* highest common */

    peer *b = fx_peer(f);
    assert_int_equal(peer_hs1(b, 1, 1), 0);
    peer_sync(b);
    assert_true(peer_has_hs2(b));
    assert_int_equal(peer_version(b), 1);

    peer *c = fx_peer(f);
    assert_int_equal(peer_hs1(c, 3, 200), 0);
    peer_sync(c);
    assert_int_equal(peer_version(c), 3);
    fx_free(f);
}

static void tweak_versions_2_3(chat_hub_config *cfg)
{
    cfg->version_min = 2;
    cfg->version_max = 3;
}

static void test_version_none(void **state)
{
    (void)state;
    fx *f = fx_new(tweak_versions_2_3);
    peer *p = fx_peer(f);
    assert_int_equal(peer_hs1(p, 1, 1), 0);
    assert_int_equal(peer_flush(p), CHAT_OK);
    assert_int_equal(peer_state(p), CHAT_CONN_CLOSED | CHAT_CONN_WANT_WRITE);
    assert_true(peer_pump(p) > 0);
    assert_false(peer_has_hs2(p));
    chat_reject r;
    assert_int_equal(peer_rejected(p, &r), 1);
    assert_int_equal(r.version_min, 2);
    assert_int_equal(r.version_max, 3);
    assert_int_equal(r.code, CHAT_CODE_VERSION);
    assert_true(r.text.n > 0);
    assert_int_equal(peer_state(p), CHAT_CONN_CLOSED);
    /* Input after the close is ignored. */
    assert_int_equal(peer_hs1(p, 2, 2), 0);
    assert_int_equal(peer_flush(p), CHAT_OK);
    assert_int_equal(peer_pump(p), 0);
    chat_hub_event ev;
    assert_int_equal(chat_hub_next_event(f->hub, &ev), 1);
    assert_int_equal(ev.type, CHAT_HUB_EV_CLOSED);
    assert_int_equal(ev.code, CHAT_CODE_VERSION);
    peer_release(p);
    assert_int_equal(chat_hub_conn_count(f->hub), 0);
    fx_free(f);
}

/* ---------------------------------------------------------------------
 * Login
 * ------------------------------------------------------------------- */

static void test_login_ok(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    peer *p = fx_peer(f);
    assert_int_equal(peer_login(p, "Alice", "alice-pw"), 0);
    const chat_msg *w = peer_last(p);
    assert_int_equal(w->type, CHAT_MSG_WELCOME);
    assert_str(w->u.welcome.user, "alice"); /* folded */
    assert_int_equal(w->u.welcome.role, CHAT_ROLE_USER);
    assert_int_equal(w->u.welcome.time_ms, WALL0);
    assert_str(w->u.welcome.motd, "Hello\nworld");
    expect_none(p);
    assert_int_equal(peer_state(p), CHAT_CONN_READY);
    assert_int_equal(chat_hub_user_count(f->hub), 1);

    peer *r = fx_peer(f);
    assert_int_equal(peer_login(r, "root", "root-pw"), 0);
    assert_int_equal(peer_last(r)->u.welcome.role, CHAT_ROLE_ADMIN);
    assert_int_equal(chat_hub_user_count(f->hub), 2);

    chat_hub_event ev;
    assert_int_equal(chat_hub_next_event(f->hub, &ev), 1);
    assert_int_equal(ev.type, CHAT_HUB_EV_HANDSHAKE);
    assert_int_equal(chat_hub_next_event(f->hub, &ev), 1);
    assert_int_equal(ev.type, CHAT_HUB_EV_LOGIN);
    assert_string_equal(ev.user, "alice");
    assert_int_equal(ev.code, CHAT_ROLE_USER);
    assert_int_equal(ev.conn, peer_id(p));

    /* A new MOTD applies to later logins. */
    assert_int_equal(chat_hub_set_motd(f->hub, "new motd"), CHAT_OK);
    assert_int_equal(chat_hub_set_motd(f->hub, "bad\x1b[2J"), CHAT_E_INVAL);
    peer *b = fx_peer(f);
    assert_int_equal(peer_login(b, "bob", "bob-pw"), 0);
    assert_str(peer_last(b)->u.welcome.motd, "new motd");
    fx_free(f);
}

static const char *const default_rooms[] = {"#lobby", "#Help", "#lobby", NULL};

static void tweak_default_rooms(chat_hub_config *cfg)
{
    cfg->default_rooms = default_rooms;
}

static void test_default_rooms(void **state)
{
    (void)state;
    fx *f = fx_new(tweak_default_rooms);
    peer *a = fx_login(f, "alice");
    /* WELCOME, then each default room as if by JOIN with req 0. */
    expect_joined(a, "#lobby", "alice");
    const char *const only_a[] = {"alice"};
    expect_names(a, 0, "#lobby", only_a, 1);
    expect_joined(a, "#help", "alice");
    expect_names(a, 0, "#help", only_a, 1);
    expect_none(a);

    peer *b = fx_login(f, "bob");
    expect_joined(b, "#lobby", "bob");
    const char *const ab[] = {"alice", "bob"};
    expect_names(b, 0, "#lobby", ab, 2);
    expect_joined(b, "#help", "bob");
    expect_names(b, 0, "#help", ab, 2);
    expect_none(b);
    peer_pump(a);
    expect_joined(a, "#lobby", "bob");
    expect_joined(a, "#help", "bob");
    expect_none(a);
    fx_free(f);
}

static void test_wrong_password(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    peer *p = fx_peer(f);
    assert_int_equal(peer_login(p, "alice", "nope"), CHAT_CODE_BAD_LOGIN);
    assert_int_equal(peer_last(p)->u.login_failed.attempts_left, 2);
    assert_false(peer_closed(p));
    assert_int_equal(peer_login(p, "alice", "nope2"), CHAT_CODE_BAD_LOGIN);
    assert_int_equal(peer_last(p)->u.login_failed.attempts_left, 1);
    assert_int_equal(peer_login(p, "alice", "nope3"), CHAT_CODE_BAD_LOGIN);
    assert_int_equal(peer_last(p)->u.login_failed.attempts_left, 0);
    expect_goodbye(p, CHAT_CODE_AUTH_LIMIT);
    expect_none(p);
    assert_true(peer_closed(p));
    assert_int_equal(chat_hub_user_count(f->hub), 0);

    chat_hub_event ev;
    int failed = 0, closed = 0;
    while (chat_hub_next_event(f->hub, &ev)) {
        if (ev.type == CHAT_HUB_EV_LOGIN_FAILED) {
            failed++;
            assert_string_equal(ev.user, "alice");
            assert_int_equal(ev.code, CHAT_CODE_BAD_LOGIN);
        }
        if (ev.type == CHAT_HUB_EV_CLOSED) {
            closed++;
            assert_int_equal(ev.code, CHAT_CODE_AUTH_LIMIT);
            assert_int_equal(ev.by_peer, 0);
        }
    }
    assert_int_equal(failed, 3);
    assert_int_equal(closed, 1);

    /* The right password after a failure works on the same connection. */
    peer *q = fx_peer(f);
    assert_int_equal(peer_login(q, "alice", "wrong"), CHAT_CODE_BAD_LOGIN);
    assert_int_equal(peer_login(q, "alice", "alice-pw"), 0);
    fx_free(f);
}

/* Handshake + LOGIN(user); returns the CHALLENGE's salt and limits. */
static void challenge_of(peer *p, const char *user, uint8_t salt[16], uint32_t *ops,
                         uint32_t *mem)
{
    if (!peer_has_hs2(p)) {
        assert_int_equal(peer_handshake(p), 0);
        assert_int_equal(peer_hs3(p, user), 0);
    } else {
        assert_int_equal(peer_relogin(p, user), 0);
    }
    peer_sync(p);
    const chat_msg *ch = expect(p, CHAT_MSG_CHALLENGE);
    memcpy(salt, ch->u.challenge.salt, 16);
    *ops = ch->u.challenge.opslimit;
    *mem = ch->u.challenge.memlimit_kib;
    chat_msg copy = *ch;
    assert_int_equal(peer_prove(p, &copy, "guess"), 0);
    peer_sync(p);
}

static void test_unknown_user(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    uint8_t s1[16], s2[16], s3[16], s4[16], sa[16];
    uint32_t ops, mem, aops, amem;

    peer *p = fx_peer(f);
    challenge_of(p, "mallory", s1, &ops, &mem);
    const chat_msg *m = expect(p, CHAT_MSG_LOGIN_FAILED);
    assert_int_equal(m->u.login_failed.code, CHAT_CODE_BAD_LOGIN);
    assert_int_equal(m->u.login_failed.attempts_left, 2);
    /* Same shape as a real account's challenge (fake limits = minimums). */
    assert_int_equal(ops, 1);
    assert_int_equal(mem, 8);

    /* Stable across attempts and connections, and case-insensitive. */
    challenge_of(p, "mallory", s2, &ops, &mem);
    assert_memory_equal(s1, s2, 16);
    assert_int_equal(expect(p, CHAT_MSG_LOGIN_FAILED)->u.login_failed.attempts_left, 1);
    peer *q = fx_peer(f);
    challenge_of(q, "MALLORY", s3, &ops, &mem);
    assert_memory_equal(s1, s3, 16);
    expect(q, CHAT_MSG_LOGIN_FAILED);

    /* Another unknown name has another salt; so has a real account. */
    challenge_of(q, "trudy", s4, &ops, &mem);
    assert_memory_not_equal(s1, s4, 16);
    expect(q, CHAT_MSG_LOGIN_FAILED);
    challenge_of(q, "alice", sa, &aops, &amem);
    assert_memory_not_equal(s1, sa, 16);
    assert_int_equal(aops, ops);
    assert_int_equal(amem, mem);

    /* The salt is HMAC-SHA256(K, "chat/1 fake salt" || name), K from the
     * static key (PROTOCOL.md §4.2). */
    uint8_t k[32], mac[32];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, f->spriv, 32);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)"chat/1 fake salt key", 20);
    crypto_auth_hmacsha256_final(&st, k);
    crypto_auth_hmacsha256_init(&st, k, 32);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)"chat/1 fake saltmallory", 23);
    crypto_auth_hmacsha256_final(&st, mac);
    assert_memory_equal(s1, mac, 16);
    fx_free(f);
}

static void tweak_fake_limits(chat_hub_config *cfg)
{
    cfg->fake_opslimit = 2;
    cfg->fake_memlimit_kib = 64;
}

static void test_unknown_user_fake_limits(void **state)
{
    (void)state;
    fx *f = fx_new(tweak_fake_limits);
    peer *p = fx_peer(f);
    uint8_t s[16];
    uint32_t ops, mem;
    challenge_of(p, "nobody", s, &ops, &mem);
    assert_int_equal(ops, 2);
    assert_int_equal(mem, 64);
    expect(p, CHAT_MSG_LOGIN_FAILED);
    fx_free(f);
}

static void test_already_online(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    peer *a = fx_login(f, "alice");
    peer *b = fx_peer(f);
    assert_int_equal(peer_login(b, "ALICE", "alice-pw"), CHAT_CODE_ALREADY_ONLINE);
    /* Not a failed attempt. */
    assert_int_equal(peer_last(b)->u.login_failed.attempts_left, 3);
    assert_false(peer_closed(b));
    /* A wrong password still says BAD_LOGIN, not that alice is online. */
    assert_int_equal(peer_login(b, "alice", "wrong"), CHAT_CODE_BAD_LOGIN);
    assert_int_equal(peer_last(b)->u.login_failed.attempts_left, 2);
    assert_int_equal(peer_login(b, "bob", "bob-pw"), 0);
    assert_int_equal(chat_hub_user_count(f->hub), 2);
    (void)a;
    fx_free(f);
}

static void tweak_rate(chat_hub_config *cfg)
{
    cfg->login_attempts = 5;
    cfg->user_fail_limit = 2;
    cfg->addr_fail_limit = 3;
    cfg->fail_window_ms = 60000;
}

static void test_rate_limit_name(void **state)
{
    (void)state;
    fx *f = fx_new(tweak_rate);
    peer *p = fx_peer(f);
    assert_int_equal(peer_login(p, "alice", "x"), CHAT_CODE_BAD_LOGIN);
    assert_int_equal(peer_last(p)->u.login_failed.attempts_left, 4);
    peer *q = fx_peer(f);
    assert_int_equal(peer_login(q, "alice", "y"), CHAT_CODE_BAD_LOGIN);
    /* Two failures for alice in the window: even the right password is
     * refused now, and the attempt counts. */
    assert_int_equal(peer_login(p, "alice", "alice-pw"), CHAT_CODE_RATE_LIMITED);
    assert_int_equal(peer_last(p)->u.login_failed.attempts_left, 3);
    /* Other names are not affected. */
    assert_int_equal(peer_login(q, "bob", "bob-pw"), 0);
    fx_advance(f, 59999);
    assert_int_equal(peer_login(p, "alice", "alice-pw"), CHAT_CODE_RATE_LIMITED);
    fx_advance(f, 1);
    assert_int_equal(peer_login(p, "alice", "alice-pw"), 0);
    fx_free(f);
}

static void test_rate_limit_addr(void **state)
{
    (void)state;
    fx *f = fx_new(tweak_rate);
    const uint8_t a1[4] = {10, 0, 0, 1}, a2[4] = {10, 0, 0, 2};
    peer *p = fx_peer_addr(f, a1, 4);
    assert_int_equal(peer_login(p, "xa", "x"), CHAT_CODE_BAD_LOGIN);
    assert_int_equal(peer_login(p, "xb", "x"), CHAT_CODE_BAD_LOGIN);
    peer *q = fx_peer_addr(f, a1, 4);
    assert_int_equal(peer_login(q, "xc", "x"), CHAT_CODE_BAD_LOGIN);
    /* Three failures from 10.0.0.1: refused for any name from there. */
    assert_int_equal(peer_login(q, "carol", "carol-pw"), CHAT_CODE_RATE_LIMITED);
    peer *r = fx_peer_addr(f, a2, 4);
    assert_int_equal(peer_login(r, "carol", "carol-pw"), 0);
    fx_free(f);
}

/* ---------------------------------------------------------------------
 * Rooms
 * ------------------------------------------------------------------- */

static void test_rooms(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    peer *a = fx_login(f, "alice");
    peer *b = fx_login(f, "bob");
    peer *c = fx_login(f, "carol");

    do_room_req(a, CHAT_MSG_JOIN, 1, "#Room");
    pump_all(f);
    expect_joined(a, "#room", "alice");
    const char *const n1[] = {"alice"};
    expect_names(a, 1, "#room", n1, 1);
    expect_none(a);
    expect_none(b);

    do_room_req(b, CHAT_MSG_JOIN, 2, "#room");
    pump_all(f);
    expect_joined(a, "#room", "bob");
    expect_none(a);
    expect_joined(b, "#room", "bob");
    const char *const n2[] = {"alice", "bob"};
    expect_names(b, 2, "#room", n2, 2);
    expect_none(b);

    fx_advance(f, 5);
    do_topic(a, 3, "#ROOM", "hello topic");
    pump_all(f);
    const chat_msg *m = expect(a, CHAT_MSG_TOPIC_CHANGED);
    assert_str(m->u.topic_changed.room, "#room");
    assert_str(m->u.topic_changed.by, "alice");
    assert_str(m->u.topic_changed.topic, "hello topic");
    assert_int_equal(m->u.topic_changed.time_ms, WALL0 + 5);
    expect_ok(a, 3);
    expect(b, CHAT_MSG_TOPIC_CHANGED);
    expect_none(a);
    expect_none(b);

    /* JOINED to all, then TOPIC_CHANGED, history, NAMES to the joiner. */
    fx_advance(f, 5);
    do_room_req(c, CHAT_MSG_JOIN, 4, "#room");
    pump_all(f);
    expect_joined(c, "#room", "carol");
    m = expect(c, CHAT_MSG_TOPIC_CHANGED);
    assert_str(m->u.topic_changed.by, "alice");
    assert_str(m->u.topic_changed.topic, "hello topic");
    assert_int_equal(m->u.topic_changed.time_ms, WALL0 + 5);
    const char *const n3[] = {"alice", "bob", "carol"};
    expect_names(c, 4, "#room", n3, 3);
    expect_none(c);
    expect_joined(a, "#room", "carol");
    expect_joined(b, "#room", "carol");

    do_room_req(b, CHAT_MSG_JOIN, 5, "#room");
    peer_pump(b);
    expect_error(b, 5, CHAT_CODE_ALREADY_IN_ROOM);

    /* PART: PARTED to every member including the leaver, then OK. */
    do_room_req(b, CHAT_MSG_PART, 6, "#room");
    pump_all(f);
    expect_parted(b, "#room", "bob", CHAT_CODE_PART);
    expect_ok(b, 6);
    expect_parted(a, "#room", "bob", CHAT_CODE_PART);
    expect_parted(c, "#room", "bob", CHAT_CODE_PART);
    do_room_req(b, CHAT_MSG_PART, 7, "#room");
    do_room_req(b, CHAT_MSG_PART, 8, "#nowhere");
    peer_pump(b);
    expect_error(b, 7, CHAT_CODE_NOT_IN_ROOM);
    expect_error(b, 8, CHAT_CODE_NO_SUCH_ROOM);

    /* WHO needs no membership. */
    do_room_req(b, CHAT_MSG_WHO, 9, "#room");
    do_room_req(b, CHAT_MSG_WHO, 10, "#nowhere");
    peer_pump(b);
    const char *const n4[] = {"alice", "carol"};
    expect_names(b, 9, "#room", n4, 2);
    expect_error(b, 10, CHAT_CODE_NO_SUCH_ROOM);

    /* TOPIC and SEND need membership. */
    do_topic(b, 11, "#room", "mine");
    do_topic(b, 12, "#nowhere", "mine");
    do_say(b, 13, "#room", "hi", CHAT_KIND_SAY);
    do_say(b, 14, "#nowhere", "hi", CHAT_KIND_SAY);
    peer_pump(b);
    expect_error(b, 11, CHAT_CODE_NOT_IN_ROOM);
    expect_error(b, 12, CHAT_CODE_NO_SUCH_ROOM);
    expect_error(b, 13, CHAT_CODE_NOT_IN_ROOM);
    expect_error(b, 14, CHAT_CODE_NO_SUCH_ROOM);
    expect_none(b);

    /* LIST: every room, name order, member counts and topics. */
    do_room_req(a, CHAT_MSG_JOIN, 15, "#abc");
    drain_all(f);
    do_simple(b, CHAT_MSG_LIST, 16);
    peer_pump(b);
    m = expect(b, CHAT_MSG_ROOM_LIST);
    assert_int_equal(m->req, 16);
    assert_int_equal(m->u.list.flags, 0);
    assert_int_equal(m->u.list.count, 2);
    const uint8_t *q = m->u.list.entries;
    size_t left = m->u.list.entries_len;
    chat_room_entry e;
    assert_int_equal(chat_entry_get_room(&q, &left, &e), CHAT_OK);
    assert_str(e.room, "#abc");
    assert_int_equal(e.members, 1);
    assert_str(e.topic, "");
    assert_int_equal(chat_entry_get_room(&q, &left, &e), CHAT_OK);
    assert_str(e.room, "#room");
    assert_int_equal(e.members, 2);
    assert_str(e.topic, "hello topic");
    assert_int_equal(left, 0);

    /* An empty topic clears it: later joiners see no TOPIC_CHANGED. */
    do_topic(a, 17, "#room", "");
    pump_all(f);
    m = expect(a, CHAT_MSG_TOPIC_CHANGED);
    assert_str(m->u.topic_changed.topic, "");
    expect_ok(a, 17);
    drain_all(f);
    do_room_req(b, CHAT_MSG_JOIN, 18, "#room");
    peer_pump(b);
    expect_joined(b, "#room", "bob");
    expect_names(b, 18, "#room", n3, 3);
    expect_none(b);

    /* An emptied room keeps existing (with its topic). */
    do_topic(a, 19, "#abc", "kept");
    do_room_req(a, CHAT_MSG_PART, 20, "#abc");
    drain_all(f);
    do_room_req(b, CHAT_MSG_JOIN, 21, "#abc");
    peer_pump(b);
    expect_joined(b, "#abc", "bob");
    assert_str(expect(b, CHAT_MSG_TOPIC_CHANGED)->u.topic_changed.topic, "kept");
    const char *const nb[] = {"bob"};
    expect_names(b, 21, "#abc", nb, 1);
    fx_free(f);
}

static void tweak_room_limits(chat_hub_config *cfg)
{
    cfg->max_rooms = 3;
    cfg->max_rooms_per_user = 2;
}

static void test_room_limits(void **state)
{
    (void)state;
    fx *f = fx_new(tweak_room_limits);
    peer *a = fx_login(f, "alice");
    peer *b = fx_login(f, "bob");
    join_quiet(f, a, "#r1");
    join_quiet(f, a, "#r2");
    do_room_req(a, CHAT_MSG_JOIN, 1, "#r3");
    peer_pump(a);
    expect_error(a, 1, CHAT_CODE_LIMIT); /* rooms per user */
    join_quiet(f, b, "#r3");
    do_room_req(b, CHAT_MSG_JOIN, 2, "#r4");
    peer_pump(b);
    expect_error(b, 2, CHAT_CODE_LIMIT); /* rooms */
    do_room_req(b, CHAT_MSG_JOIN, 3, "#r1"); /* existing room: fine */
    peer_pump(b);
    expect_joined(b, "#r1", "bob");
    fx_free(f);
}

static void test_room_messages(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    peer *a = fx_login(f, "alice");
    peer *b = fx_login(f, "bob");
    peer *c = fx_login(f, "carol");
    join_quiet(f, a, "#room");
    join_quiet(f, b, "#room");
    join_quiet(f, c, "#room");

    do_say(a, 1, "#room", "one", CHAT_KIND_SAY);
    do_say(b, 2, "#Room", "two", CHAT_KIND_SAY);
    fx_advance(f, 7);
    do_say(a, 3, "#room", "waves", CHAT_KIND_ACTION);
    pump_all(f);
    expect_msg(a, "#room", "alice", 1, "one", 0);
    expect_ok(a, 1);
    expect_msg(a, "#room", "bob", 2, "two", 0);
    const chat_msg *m = expect(a, CHAT_MSG_MESSAGE);
    assert_int_equal(m->u.message.seq, 3);
    assert_int_equal(m->u.message.kind, CHAT_KIND_ACTION);
    assert_int_equal(m->u.message.time_ms, WALL0 + 7);
    expect_ok(a, 3);
    expect_none(a);
    expect_msg(b, "#room", "alice", 1, "one", 0);
    expect_msg(b, "#room", "bob", 2, "two", 0);
    expect_ok(b, 2);
    expect_msg(b, "#room", "alice", 3, "waves", 0);
    expect_none(b);
    for (uint64_t i = 1; i <= 3; i++)
        assert_int_equal(expect(c, CHAT_MSG_MESSAGE)->u.message.seq, i);
    expect_none(c);

    /* Sequence numbers are per room. */
    join_quiet(f, a, "#other");
    do_say(a, 4, "#other", "x", CHAT_KIND_SAY);
    peer_pump(a);
    expect_msg(a, "#other", "alice", 1, "x", 0);
    fx_free(f);
}

static void tweak_history(chat_hub_config *cfg)
{
    cfg->history_len = 3;
}

static void test_history(void **state)
{
    (void)state;
    fx *f = fx_new(tweak_history);
    peer *a = fx_login(f, "alice");
    peer *b = fx_login(f, "bob");
    join_quiet(f, a, "#h");
    const char *texts[] = {"m1", "m2", "m3", "m4", "m5"};
    for (uint32_t i = 0; i < 5; i++)
        do_say(a, i + 1, "#h", texts[i], CHAT_KIND_SAY);
    drain_all(f);
    do_room_req(b, CHAT_MSG_JOIN, 9, "#h");
    peer_pump(b);
    expect_joined(b, "#h", "bob");
    /* The last 3, oldest first, flagged HISTORY, before NAMES. */
    expect_msg(b, "#h", "alice", 3, "m3", CHAT_MESSAGE_HISTORY);
    expect_msg(b, "#h", "alice", 4, "m4", CHAT_MESSAGE_HISTORY);
    expect_msg(b, "#h", "alice", 5, "m5", CHAT_MESSAGE_HISTORY);
    const char *const ab[] = {"alice", "bob"};
    expect_names(b, 9, "#h", ab, 2);
    expect_none(b);
    /* New messages are not flagged; the sequence continues. */
    do_say(a, 10, "#h", "m6", CHAT_KIND_SAY);
    peer_pump(b);
    expect_msg(b, "#h", "alice", 6, "m6", 0);
    fx_free(f);
}

static void test_private_messages(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    peer *a = fx_login(f, "alice");
    peer *b = fx_login(f, "bob");
    do_say(a, 1, "Bob", "psst", CHAT_KIND_SAY);
    pump_all(f);
    expect_msg(b, "bob", "alice", 0, "psst", 0);
    expect_none(b);
    expect_msg(a, "bob", "alice", 0, "psst", 0); /* the sender's copy */
    expect_ok(a, 1);
    expect_none(a);

    do_say(a, 2, "alice", "note to self", CHAT_KIND_SAY);
    peer_pump(a);
    expect_msg(a, "alice", "alice", 0, "note to self", 0);
    expect_ok(a, 2);
    expect_none(a);

    do_say(a, 3, "carol", "offline", CHAT_KIND_SAY);
    do_say(a, 4, "dave", "no account", CHAT_KIND_SAY);
    peer_pump(a);
    expect_error(a, 3, CHAT_CODE_NO_SUCH_USER);
    expect_error(a, 4, CHAT_CODE_NO_SUCH_USER);
    expect_none(b);
    fx_free(f);
}

static void test_coalescing(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    peer *a = fx_login(f, "alice");
    peer *b = fx_login(f, "bob");
    join_quiet(f, a, "#room");
    join_quiet(f, b, "#room");

    size_t frames = peer_frames(b);
    for (uint32_t i = 1; i <= 5; i++)
        do_say(a, i, "#room", "hello", CHAT_KIND_SAY);
    peer_pump(b);
    /* Five messages queued for bob leave as one TRANSPORT frame. */
    assert_int_equal(peer_frames(b) - frames, 1);
    assert_int_equal(peer_pending(b), 5);
    peer_drain(b);

    /* Several requests in one frame are answered in order, in one frame. */
    peer_pump(a);
    peer_drain(a);
    frames = peer_frames(a);
    chat_msg m = req_msg(CHAT_MSG_PING, 20);
    assert_int_equal(peer_queue(a, &m), 0);
    m = req_msg(CHAT_MSG_JOIN, 21);
    m.u.room.room = cs("#second");
    assert_int_equal(peer_queue(a, &m), 0);
    m = req_msg(CHAT_MSG_PING, 22);
    assert_int_equal(peer_queue(a, &m), 0);
    assert_int_equal(peer_seal(a), 0);
    assert_int_equal(peer_flush(a), CHAT_OK);
    peer_pump(a);
    assert_int_equal(peer_frames(a) - frames, 1);
    expect_ok(a, 20);
    expect_joined(a, "#second", "alice");
    const char *const na[] = {"alice"};
    expect_names(a, 21, "#second", na, 1);
    expect_ok(a, 22);
    expect_none(a);

    /* More than one frame's worth is split at message boundaries. */
    char big[4001];
    memset(big, 'x', 4000);
    big[4000] = '\0';
    drain_all(f);
    frames = peer_frames(b);
    for (uint32_t i = 0; i < 20; i++)
        do_say(a, 100 + i, "#room", big, CHAT_KIND_SAY);
    size_t n = 0;
    const uint8_t *out = chat_hub_out_peek(f->hub, peer_id(b), &n);
    assert_non_null(out);
    /* Two frames, each within the limit. */
    size_t f1 = (size_t)(out[0] << 8 | out[1]);
    assert_true(f1 - 1 <= CHAT_FRAME_BODY_MAX);
    assert_true(n > f1 + 2);
    peer_pump(b);
    assert_int_equal(peer_frames(b) - frames, 2);
    assert_int_equal(peer_pending(b), 20);
    fx_free(f);
}

/* ---------------------------------------------------------------------
 * Admin actions
 * ------------------------------------------------------------------- */

static void tweak_min2(chat_hub_config *cfg)
{
    cfg->min_opslimit = 2;
    cfg->min_memlimit_kib = 8;
}

static void test_admin_refused(void **state)
{
    (void)state;
    fx *f = fx_new(tweak_min2);
    peer *a = fx_login(f, "alice");
    peer *b = fx_login(f, "bob");
    chat_verifier v;
    make_verifier(f, &v, "dave-pw", 2, 8);
    size_t accounts = chat_store_mem_count(f->sm);

    do_add_user(a, 1, "dave", CHAT_ROLE_USER, &v);
    do_user_req(a, CHAT_MSG_DEL_USER, 2, "bob");
    do_simple(a, CHAT_MSG_USERS, 3);
    do_kick(a, 4, "bob", "bye");
    do_shutdown(a, 5, "now");
    pump_all(f);
    for (uint32_t r = 1; r <= 5; r++)
        expect_error(a, r, CHAT_CODE_NOT_ALLOWED);
    expect_none(a);
    expect_none(b);
    /* No effect. */
    assert_int_equal(chat_store_mem_count(f->sm), accounts);
    assert_false(peer_closed(b));
    assert_false(chat_hub_is_shut_down(f->hub));
    chat_account acct;
    assert_int_equal(f->store.get(f->store.ctx, "dave", &acct), CHAT_E_NOTFOUND);
    fx_free(f);
}

static void test_admin_actions(void **state)
{
    (void)state;
    fx *f = fx_new(tweak_min2);
    peer *r = fx_login(f, "root");
    peer *a = fx_login(f, "alice");
    peer *b = fx_login(f, "bob");
    join_quiet(f, a, "#room");
    join_quiet(f, b, "#room");
    drain_events(f);

    chat_verifier weak, good;
    make_verifier(f, &weak, "dave-pw", 1, 8);
    make_verifier(f, &good, "dave-pw", 2, 8);

    do_add_user(r, 1, "Dave", CHAT_ROLE_USER, &weak);
    do_add_user(r, 2, "Dave", CHAT_ROLE_USER, &good);
    do_add_user(r, 3, "dave", CHAT_ROLE_ADMIN, &good);
    do_add_user(r, 4, "alice", CHAT_ROLE_USER, &good);
    peer_pump(r);
    expect_error(r, 1, CHAT_CODE_WEAK_VERIFIER);
    expect_ok(r, 2);
    expect_error(r, 3, CHAT_CODE_USER_EXISTS);
    expect_error(r, 4, CHAT_CODE_USER_EXISTS);
    chat_account acct;
    assert_int_equal(f->store.get(f->store.ctx, "dave", &acct), CHAT_OK);
    assert_int_equal(acct.role, CHAT_ROLE_USER);
    peer *d = fx_login(f, "dave");
    (void)d;

    chat_hub_event ev;
    int admin_events = 0;
    while (chat_hub_next_event(f->hub, &ev))
        if (ev.type == CHAT_HUB_EV_ADMIN) {
            admin_events++;
            assert_string_equal(ev.user, "root");
            assert_string_equal(ev.target, "dave");
            assert_int_equal(ev.code, CHAT_MSG_ADD_USER);
        }
    assert_int_equal(admin_events, 1);

    /* USERS: every account in name order with role and online flag. */
    do_simple(r, CHAT_MSG_USERS, 5);
    peer_pump(r);
    const chat_msg *m = expect(r, CHAT_MSG_USER_LIST);
    assert_int_equal(m->req, 5);
    assert_int_equal(m->u.list.flags, 0);
    assert_int_equal(m->u.list.count, 5);
    static const struct {
        char name[8];
        uint8_t role, online;
    } want[] = {{"alice", 0, 1}, {"bob", 0, 1}, {"carol", 0, 0}, {"dave", 0, 1}, {"root", 1, 1}};
    const uint8_t *q = m->u.list.entries;
    size_t left = m->u.list.entries_len;
    for (size_t i = 0; i < 5; i++) {
        chat_user_entry e;
        assert_int_equal(chat_entry_get_user(&q, &left, &e), CHAT_OK);
        assert_str(e.user, want[i].name);
        assert_int_equal(e.role, want[i].role);
        assert_int_equal(e.online, want[i].online);
    }

    /* DEL_USER. */
    do_user_req(r, CHAT_MSG_DEL_USER, 6, "root");
    do_user_req(r, CHAT_MSG_DEL_USER, 7, "nobody");
    do_user_req(r, CHAT_MSG_DEL_USER, 8, "carol"); /* offline */
    peer_pump(r);
    expect_error(r, 6, CHAT_CODE_NOT_ALLOWED);
    expect_error(r, 7, CHAT_CODE_NO_SUCH_USER);
    expect_ok(r, 8);
    assert_int_equal(f->store.get(f->store.ctx, "carol", &acct), CHAT_E_NOTFOUND);

    do_user_req(r, CHAT_MSG_DEL_USER, 9, "BOB"); /* online, in #room */
    pump_all(f);
    expect_goodbye(b, CHAT_CODE_DELETED);
    expect_none(b);
    assert_true(peer_closed(b));
    expect_parted(a, "#room", "bob", CHAT_CODE_DELETED);
    expect_none(a);
    expect_ok(r, 9);
    assert_int_equal(f->store.get(f->store.ctx, "bob", &acct), CHAT_E_NOTFOUND);
    peer *b2 = fx_peer(f);
    assert_int_equal(peer_login(b2, "bob", "bob-pw"), CHAT_CODE_BAD_LOGIN);

    /* KICK refusals. */
    do_kick(r, 10, "nobody", "");
    do_kick(r, 11, "carol", ""); /* no longer exists */
    do_kick(r, 12, "root", "");
    peer_pump(r);
    expect_error(r, 10, CHAT_CODE_NO_SUCH_USER);
    expect_error(r, 11, CHAT_CODE_NO_SUCH_USER);
    expect_error(r, 12, CHAT_CODE_NOT_ALLOWED);
    expect_none(r);
    fx_free(f);
}

static void test_kick(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    peer *r = fx_login(f, "root");
    peer *a = fx_login(f, "alice");
    peer *b = fx_login(f, "bob");
    join_quiet(f, r, "#room");
    join_quiet(f, a, "#room");
    join_quiet(f, b, "#room");
    join_quiet(f, b, "#bobs");
    drain_events(f);

    do_kick(r, 1, "Bob", "spamming");
    pump_all(f);
    const chat_msg *m = expect(b, CHAT_MSG_GOODBYE);
    assert_int_equal(m->u.goodbye.code, CHAT_CODE_KICKED);
    assert_str(m->u.goodbye.text, "spamming");
    expect_none(b);
    assert_true(peer_closed(b));
    assert_int_equal(peer_state(b), CHAT_CONN_CLOSED); /* drained */
    expect_parted(a, "#room", "bob", CHAT_CODE_KICKED);
    expect_none(a);
    /* The admin's OK comes after the PARTED it caused. */
    expect_parted(r, "#room", "bob", CHAT_CODE_KICKED);
    expect_ok(r, 1);
    expect_none(r);
    assert_int_equal(chat_hub_user_count(f->hub), 2);

    chat_hub_event ev;
    int admin = 0, closed = 0;
    while (chat_hub_next_event(f->hub, &ev)) {
        if (ev.type == CHAT_HUB_EV_ADMIN) {
            admin++;
            assert_string_equal(ev.user, "root");
            assert_string_equal(ev.target, "bob");
            assert_int_equal(ev.code, CHAT_MSG_KICK);
        } else if (ev.type == CHAT_HUB_EV_CLOSED) {
            closed++;
            assert_int_equal(ev.code, CHAT_CODE_KICKED);
            assert_int_equal(ev.conn, peer_id(b));
            assert_string_equal(ev.user, "bob");
        }
    }
    assert_int_equal(admin, 1);
    assert_int_equal(closed, 1);

    /* Bob may log in again; #bobs still exists, empty. */
    peer_release(b);
    peer *b2 = fx_login(f, "bob");
    do_room_req(b2, CHAT_MSG_WHO, 2, "#bobs");
    peer_pump(b2);
    expect_names(b2, 2, "#bobs", NULL, 0);
    fx_free(f);
}

static void test_shutdown_admin(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    peer *r = fx_login(f, "root");
    peer *a = fx_login(f, "alice");
    join_quiet(f, r, "#room");
    join_quiet(f, a, "#room");
    peer *hs = fx_peer(f); /* AWAIT_HS3: no keys */
    assert_int_equal(peer_handshake(hs), 0);
    peer *pr = fx_peer(f); /* AWAIT_PROOF: keys */
    assert_int_equal(peer_handshake(pr), 0);
    assert_int_equal(peer_hs3(pr, "carol"), 0);
    peer_sync(pr);
    expect(pr, CHAT_MSG_CHALLENGE);
    drain_events(f);

    do_shutdown(r, 1, "maintenance");
    pump_all(f);
    expect_ok(r, 1);
    const chat_msg *m = expect(r, CHAT_MSG_GOODBYE);
    assert_int_equal(m->u.goodbye.code, CHAT_CODE_SHUTDOWN);
    assert_str(m->u.goodbye.text, "maintenance");
    expect_none(r);
    m = expect(a, CHAT_MSG_GOODBYE);
    assert_int_equal(m->u.goodbye.code, CHAT_CODE_SHUTDOWN);
    assert_str(m->u.goodbye.text, "maintenance");
    expect_none(a); /* no PARTED: everyone is gone */
    expect_goodbye(pr, CHAT_CODE_SHUTDOWN);
    expect_none(hs);
    for (size_t i = 0; i < f->npeers; i++)
        assert_true(peer_closed(f->peers[i]));
    assert_true(chat_hub_is_shut_down(f->hub));
    assert_int_equal(chat_hub_user_count(f->hub), 0);
    assert_int_equal(chat_hub_next_deadline(f->hub), CHAT_NO_DEADLINE);
    chat_conn_id id;
    assert_int_equal(chat_hub_accept(f->hub, NULL, 0, f->now, &id), CHAT_E_STATE);

    chat_hub_event ev;
    assert_int_equal(chat_hub_next_event(f->hub, &ev), 1);
    assert_int_equal(ev.type, CHAT_HUB_EV_SHUTDOWN);
    assert_string_equal(ev.user, "root");

    for (size_t i = 0; i < f->npeers; i++)
        peer_release(f->peers[i]);
    assert_int_equal(chat_hub_conn_count(f->hub), 0);
    fx_free(f);
}

static void test_shutdown_front_end(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    peer *a = fx_login(f, "alice");
    peer *b = fx_login(f, "bob");
    drain_events(f);
    chat_hub_shutdown(f->hub, "restarting", f->now);
    chat_hub_shutdown(f->hub, "again", f->now); /* idempotent */
    pump_all(f);
    const chat_msg *m = expect(a, CHAT_MSG_GOODBYE);
    assert_int_equal(m->u.goodbye.code, CHAT_CODE_SHUTDOWN);
    assert_str(m->u.goodbye.text, "restarting");
    expect_none(a);
    expect_goodbye(b, CHAT_CODE_SHUTDOWN);
    expect_none(b);
    assert_true(chat_hub_is_shut_down(f->hub));
    chat_hub_event ev;
    assert_int_equal(chat_hub_next_event(f->hub, &ev), 1);
    assert_int_equal(ev.type, CHAT_HUB_EV_SHUTDOWN);
    assert_string_equal(ev.user, "");
    fx_free(f);
}

static void test_passwd(void **state)
{
    (void)state;
    fx *f = fx_new(tweak_min2);
    peer *a = fx_login(f, "alice");
    chat_verifier weak, good;
    make_verifier(f, &weak, "new-pw", 1, 8);
    make_verifier(f, &good, "new-pw", 2, 8);
    do_passwd(a, 1, &weak);
    do_passwd(a, 2, &good);
    do_simple(a, CHAT_MSG_PING, 3);
    peer_pump(a);
    expect_error(a, 1, CHAT_CODE_WEAK_VERIFIER);
    expect_ok(a, 2);
    expect_ok(a, 3); /* still logged in */
    assert_int_equal(peer_state(a), CHAT_CONN_READY);

    peer *old = fx_peer(f);
    assert_int_equal(peer_login(old, "alice", "alice-pw"), CHAT_CODE_BAD_LOGIN);
    peer_release(a);
    assert_int_equal(peer_login(old, "alice", "new-pw"), 0);
    fx_free(f);
}

/* ---------------------------------------------------------------------
 * Timeouts
 * ------------------------------------------------------------------- */

static void tweak_timeouts(chat_hub_config *cfg)
{
    cfg->login_timeout_ms = 5000;
    cfg->idle_timeout_ms = 10000;
}

static void test_login_timeout(void **state)
{
    (void)state;
    fx *f = fx_new(tweak_timeouts);
    assert_int_equal(chat_hub_next_deadline(f->hub), CHAT_NO_DEADLINE);
    peer *idle = fx_peer(f); /* AWAIT_HS1 */
    peer *hs = fx_peer(f);   /* AWAIT_HS3 */
    assert_int_equal(peer_handshake(hs), 0);
    peer *pr = fx_peer(f); /* AWAIT_PROOF */
    assert_int_equal(peer_handshake(pr), 0);
    assert_int_equal(peer_hs3(pr, "alice"), 0);
    peer_sync(pr);
    expect(pr, CHAT_MSG_CHALLENGE);
    fx_advance(f, 1000);
    peer *late = fx_peer(f); /* accepted at 2000 */
    peer *ok = fx_login(f, "bob");
    assert_int_equal(chat_hub_next_deadline(f->hub), 1000 + 5000);

    f->now.mono_ms = 5999;
    chat_hub_tick(f->hub, f->now);
    pump_all(f);
    assert_false(peer_closed(idle));
    f->now.mono_ms = 6000;
    chat_hub_tick(f->hub, f->now);
    /* Before transport keys: silent. After: GOODBYE(LOGIN_TIMEOUT). */
    assert_int_equal(peer_state(idle), CHAT_CONN_CLOSED);
    assert_int_equal(peer_state(hs), CHAT_CONN_CLOSED);
    assert_int_equal(peer_state(pr), CHAT_CONN_CLOSED | CHAT_CONN_WANT_WRITE);
    pump_all(f);
    expect_none(idle);
    expect_none(hs);
    expect_goodbye(pr, CHAT_CODE_LOGIN_TIMEOUT);
    assert_false(peer_closed(late));
    assert_false(peer_closed(ok));
    /* The next deadline is the late one's; bob is READY: idle timer. */
    assert_int_equal(chat_hub_next_deadline(f->hub), 2000 + 5000);
    f->now.mono_ms = 7000;
    chat_hub_tick(f->hub, f->now);
    assert_true(peer_closed(late));
    assert_int_equal(chat_hub_next_deadline(f->hub), 2000 + 10000);

    /* Closed connections are reported by next_dirty, to be released. */
    chat_conn_id id;
    int seen_idle = 0;
    while (chat_hub_next_dirty(f->hub, &id))
        seen_idle |= id == peer_id(idle);
    assert_true(seen_idle);
    fx_free(f);
}

static void test_idle_timeout(void **state)
{
    (void)state;
    fx *f = fx_new(tweak_timeouts);
    peer *a = fx_login(f, "alice");
    peer *b = fx_login(f, "bob");
    join_quiet(f, a, "#room");
    join_quiet(f, b, "#room");
    assert_int_equal(chat_hub_next_deadline(f->hub), 1000 + 10000);
    fx_advance(f, 5000);
    do_simple(a, CHAT_MSG_PING, 1); /* any frame resets the idle timer */
    peer_pump(a);
    expect_ok(a, 1);
    assert_int_equal(chat_hub_next_deadline(f->hub), 1000 + 10000); /* bob's */
    f->now.mono_ms = 10999;
    chat_hub_tick(f->hub, f->now);
    assert_false(peer_closed(b));
    f->now.mono_ms = 11000;
    chat_hub_tick(f->hub, f->now);
    pump_all(f);
    expect_goodbye(b, CHAT_CODE_IDLE);
    expect_none(b);
    expect_parted(a, "#room", "bob", CHAT_CODE_IDLE);
    expect_none(a);
    assert_int_equal(chat_hub_next_deadline(f->hub), 6000 + 10000);
    f->now.mono_ms = 16000;
    chat_hub_tick(f->hub, f->now);
    peer_pump(a);
    expect_goodbye(a, CHAT_CODE_IDLE);
    assert_int_equal(chat_hub_next_deadline(f->hub), CHAT_NO_DEADLINE);
    fx_free(f);
}

/* ---------------------------------------------------------------------
 * Slow readers
 * ------------------------------------------------------------------- */

static void tweak_out_max(chat_hub_config *cfg)
{
    cfg->out_max = 8192;
}

static void test_slow_reader(void **state)
{
    (void)state;
    fx *f = fx_new(tweak_out_max);
    peer *a = fx_login(f, "alice");
    peer *b = fx_login(f, "bob");   /* peeks, never acks */
    peer *c = fx_login(f, "carol"); /* reads everything */
    peer *d = fx_login(f, "root");  /* never even peeks */
    join_quiet(f, a, "#room");
    join_quiet(f, b, "#room");
    join_quiet(f, c, "#room");
    join_quiet(f, d, "#room");

    char text[1001];
    memset(text, 'y', 1000);
    text[1000] = '\0';
    size_t b_before = peer_messages(b);
    int closed_at = -1;
    for (uint32_t i = 1; i <= 40; i++) {
        do_say(a, i, "#room", text, CHAT_KIND_SAY);
        peer_pump(a);
        peer_pump(c);
        (void)peer_peek_only(b); /* seals into the unacked output */
        size_t bytes = chat__hub_conn_buffers(f->hub, peer_id(b));
        assert_true(bytes <= 4 * 8192); /* bounded */
        if (closed_at < 0 && peer_closed(b))
            closed_at = (int)i;
    }
    assert_true(closed_at > 1 && closed_at < 12);
    assert_true(peer_closed(d));
    assert_false(peer_closed(a));
    assert_false(peer_closed(c));

    /* Alice and carol got every message and OK, and saw both leave. */
    uint32_t msgs = 0, oks = 0, parted = 0;
    chat_msg m;
    while (peer_next(a, &m)) {
        if (m.type == CHAT_MSG_MESSAGE)
            msgs++;
        else if (m.type == CHAT_MSG_OK)
            oks++;
        else if (m.type == CHAT_MSG_PARTED) {
            parted++;
            assert_int_equal(m.u.parted.reason, CHAT_CODE_TOO_SLOW);
        } else
            fail_msg("unexpected %s", chat_msg_name(m.type));
    }
    assert_int_equal(msgs, 40);
    assert_int_equal(oks, 40);
    assert_int_equal(parted, 2);
    uint64_t seq = 0;
    while (peer_next(c, &m)) {
        if (m.type == CHAT_MSG_MESSAGE)
            assert_int_equal(m.u.message.seq, ++seq);
    }
    assert_int_equal(seq, 40);

    /* Bob finally reads: what was sealed, then GOODBYE(TOO_SLOW) last,
     * all authentic (the nonces stayed in step). */
    peer_pump(b);
    assert_false(peer_broken(b));
    uint16_t code = 0;
    assert_true(peer_got_goodbye(b, &code));
    assert_int_equal(code, CHAT_CODE_TOO_SLOW);
    assert_true(peer_messages(b) > b_before + 1);
    const chat_msg *last = NULL;
    while (peer_next(b, &m))
        last = peer_last(b);
    assert_non_null(last);
    assert_int_equal(last->type, CHAT_MSG_GOODBYE);

    /* Root's plaintext queue was dropped: GOODBYE(TOO_SLOW) alone. */
    size_t d_before = peer_messages(d);
    peer_pump(d);
    assert_int_equal(peer_messages(d), d_before + 1);
    while (peer_next(d, &m))
        last = peer_last(d);
    assert_int_equal(last->type, CHAT_MSG_GOODBYE);
    assert_int_equal(last->u.goodbye.code, CHAT_CODE_TOO_SLOW);
    fx_free(f);
}

/* ---------------------------------------------------------------------
 * Hostile input
 * ------------------------------------------------------------------- */

static void test_garbage_before_handshake(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    peer *p = fx_peer(f);
    const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(peer_send_raw(p, (const uint8_t *)http, strlen(http)), 0);
    assert_int_equal(peer_flush(p), CHAT_OK);
    assert_int_equal(peer_state(p), CHAT_CONN_CLOSED);
    assert_int_equal(peer_pump(p), 0);

    /* Random bytes. */
    peer *q = fx_peer(f);
    uint8_t junk[300];
    test_rng_fill(&f->rng, junk, sizeof junk);
    junk[0] = 0x00;
    junk[1] = 0x27; /* a plausible HS1 length ... */
    junk[2] = 0x05; /* ... but TRANSPORT */
    assert_int_equal(peer_send_raw(q, junk, sizeof junk), 0);
    assert_int_equal(peer_flush(q), CHAT_OK);
    assert_int_equal(peer_state(q), CHAT_CONN_CLOSED);
    assert_int_equal(peer_pump(q), 0);

    /* HS1 of the wrong length, wrong magic, version 0, min > max. */
    uint8_t body[64];
    memset(body, 0x11, sizeof body);
    peer *r = fx_peer(f);
    assert_int_equal(peer_send_frame(r, CHAT_FRAME_HS1, body, 37), 0);
    assert_int_equal(peer_flush(r), CHAT_OK);
    assert_int_equal(peer_state(r), CHAT_CONN_CLOSED);

    static const uint8_t bad_payloads[][6] = {
        {'X', 'H', 'A', 'T', 1, 1}, {'C', 'H', 'A', 'T', 0, 1}, {'C', 'H', 'A', 'T', 2, 1}};
    for (size_t i = 0; i < 3; i++) {
        peer *s = fx_peer(f);
        chat_handshake hs;
        test_rng rng;
        test_rng_init(&rng, 900 + i);
        assert_int_equal(chat_handshake_init(&hs, CHAT_NOISE_PROTOCOL, 1,
                                             (const uint8_t *)CHAT_PROLOGUE, CHAT_PROLOGUE_LEN,
                                             f->spriv, NULL, test_rng_of(&rng)),
                         CHAT_OK);
        uint8_t msg[64];
        size_t len = 0;
        assert_int_equal(chat_handshake_write(&hs, bad_payloads[i], 6, msg, sizeof msg, &len),
                         CHAT_OK);
        assert_int_equal(len, 38);
        assert_int_equal(peer_send_frame(s, CHAT_FRAME_HS1, msg, len), 0);
        assert_int_equal(peer_flush(s), CHAT_OK);
        assert_int_equal(peer_state(s), CHAT_CONN_CLOSED);
        assert_int_equal(peer_pump(s), 0);
        chat_handshake_wipe(&hs);
    }

    /* An unknown frame type is refused as soon as its type byte arrives. */
    peer *t = fx_peer(f);
    const uint8_t hdr[3] = {0x01, 0x00, 0x07};
    assert_int_equal(peer_send_raw(t, hdr, 3), 0);
    assert_int_equal(peer_flush(t), CHAT_OK);
    assert_int_equal(peer_state(t), CHAT_CONN_CLOSED);
    /* Length 0 is refused as soon as the length is known. */
    peer *u = fx_peer(f);
    const uint8_t zero[2] = {0, 0};
    assert_int_equal(peer_send_raw(u, zero, 2), 0);
    assert_int_equal(peer_flush(u), CHAT_OK);
    assert_int_equal(peer_state(u), CHAT_CONN_CLOSED);

    /* HS3 that does not authenticate (wrong key material): silent. */
    peer *v = fx_peer(f);
    assert_int_equal(peer_handshake(v), 0);
    memset(body, 0x22, sizeof body);
    assert_int_equal(peer_send_frame(v, CHAT_FRAME_HS3, body, sizeof body), 0);
    assert_int_equal(peer_flush(v), CHAT_OK);
    assert_int_equal(peer_state(v), CHAT_CONN_CLOSED);
    assert_int_equal(peer_pump(v), 0);

    /* TRANSPORT before the handshake is done: silent. */
    peer *w = fx_peer(f);
    assert_int_equal(peer_handshake(w), 0);
    assert_int_equal(peer_send_frame(w, CHAT_FRAME_TRANSPORT, body, 20), 0);
    assert_int_equal(peer_flush(w), CHAT_OK);
    assert_int_equal(peer_state(w), CHAT_CONN_CLOSED);
    assert_int_equal(chat_hub_user_count(f->hub), 0);
    fx_free(f);
}

static void test_bitflip(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    peer *a = fx_login(f, "alice");
    peer *b = fx_login(f, "bob");
    join_quiet(f, a, "#room");
    join_quiet(f, b, "#room");

    chat_msg m = req_msg(CHAT_MSG_SEND, 1);
    m.u.send.target = cs("#room");
    m.u.send.text = cs("tampered");
    assert_int_equal(peer_queue(a, &m), 0);
    assert_int_equal(peer_seal(a), 0);
    size_t n = 0;
    uint8_t *out = (uint8_t *)(uintptr_t)peer_out(a, &n);
    out[n / 2] ^= 0x04;
    assert_int_equal(peer_flush(a), CHAT_OK);
    /* Closed without a word and without acting on the content. */
    assert_int_equal(peer_state(a), CHAT_CONN_CLOSED);
    assert_int_equal(peer_pump(a), 0);
    peer_pump(b);
    expect_parted(b, "#room", "alice", CHAT_CODE_PROTOCOL);
    expect_none(b);
    assert_int_equal(chat_hub_user_count(f->hub), 1);
    /* The room's sequence did not move. */
    do_say(b, 2, "#room", "first", CHAT_KIND_SAY);
    peer_pump(b);
    expect_msg(b, "#room", "bob", 1, "first", 0);
    expect_ok(b, 2);

    /* A replayed frame fails too (implicit nonces). */
    peer *c = fx_login(f, "carol");
    m = req_msg(CHAT_MSG_PING, 3);
    assert_int_equal(peer_queue(c, &m), 0);
    assert_int_equal(peer_seal(c), 0);
    const uint8_t *o = peer_out(c, &n);
    uint8_t copy[64];
    assert_true(n <= sizeof copy);
    memcpy(copy, o, n);
    assert_int_equal(peer_flush(c), CHAT_OK);
    peer_pump(c);
    expect_ok(c, 3);
    assert_int_equal(chat_hub_feed(f->hub, peer_id(c), copy, n, f->now), CHAT_OK);
    assert_int_equal(peer_state(c), CHAT_CONN_CLOSED);
    assert_int_equal(peer_pump(c), 0);
    fx_free(f);
}

static void test_frames_after_login(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    /* Unknown frame type in a transport state: GOODBYE(PROTOCOL) at once,
     * before the body arrives. */
    peer *a = fx_login(f, "alice");
    const uint8_t hdr[3] = {0x00, 0x40, 0x07};
    assert_int_equal(peer_send_raw(a, hdr, 3), 0);
    assert_int_equal(peer_flush(a), CHAT_OK);
    peer_pump(a);
    expect_goodbye(a, CHAT_CODE_PROTOCOL);
    assert_true(peer_closed(a));

    /* A handshake frame after the handshake. */
    peer *b = fx_login(f, "bob");
    uint8_t body[38] = {0};
    assert_int_equal(peer_send_frame(b, CHAT_FRAME_HS1, body, sizeof body), 0);
    assert_int_equal(peer_flush(b), CHAT_OK);
    peer_pump(b);
    expect_goodbye(b, CHAT_CODE_PROTOCOL);

    /* Length 0. */
    peer *c = fx_login(f, "carol");
    const uint8_t zero[3] = {0, 0, 5};
    assert_int_equal(peer_send_raw(c, zero, 3), 0);
    assert_int_equal(peer_flush(c), CHAT_OK);
    peer_pump(c);
    expect_goodbye(c, CHAT_CODE_PROTOCOL);

    /* A TRANSPORT body shorter than a tag cannot authenticate: silent. */
    peer *d = fx_login(f, "root");
    assert_int_equal(peer_send_frame(d, CHAT_FRAME_TRANSPORT, body, 10), 0);
    assert_int_equal(peer_flush(d), CHAT_OK);
    assert_true(peer_closed(d));
    assert_int_equal(peer_pump(d), 0);
    fx_free(f);
}

static void test_truncated_frames(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    peer *a = fx_login(f, "alice");
    peer *b = fx_login(f, "bob");
    join_quiet(f, a, "#room");
    join_quiet(f, b, "#room");

    /* One byte at a time: nothing happens until the frame is complete. */
    chat_msg m = req_msg(CHAT_MSG_PING, 1);
    assert_int_equal(peer_queue(a, &m), 0);
    assert_int_equal(peer_seal(a), 0);
    size_t n = 0;
    const uint8_t *o = peer_out(a, &n);
    uint8_t frame[64];
    assert_true(n <= sizeof frame);
    memcpy(frame, o, n);
    peer_out_consume(a, n);
    assert_int_equal(chat__hub_conn_buffers(f->hub, peer_id(a)), 0);
    for (size_t i = 0; i + 1 < n; i++) {
        assert_int_equal(chat_hub_feed(f->hub, peer_id(a), frame + i, 1, f->now), CHAT_OK);
        assert_int_equal(peer_pump(a), 0);
        assert_true(chat__hub_conn_buffers(f->hub, peer_id(a)) > 0);
    }
    assert_int_equal(chat_hub_feed(f->hub, peer_id(a), frame + n - 1, 1, f->now), CHAT_OK);
    peer_pump(a);
    expect_ok(a, 1);
    assert_int_equal(chat__hub_conn_buffers(f->hub, peer_id(a)), 0);

    /* Two frames and a half in one feed: the complete ones are handled. */
    m = req_msg(CHAT_MSG_PING, 2);
    assert_int_equal(peer_send(a, &m) == CHAT_OK, 1);
    peer_pump(a);
    expect_ok(a, 2);

    /* A frame cut short by the end of the stream: the peer is lost. */
    m = req_msg(CHAT_MSG_PING, 3);
    assert_int_equal(peer_queue(a, &m), 0);
    assert_int_equal(peer_seal(a), 0);
    o = peer_out(a, &n);
    assert_int_equal(chat_hub_feed(f->hub, peer_id(a), o, n - 5, f->now), CHAT_OK);
    peer_out_consume(a, n);
    assert_int_equal(peer_pump(a), 0);
    peer_release(a);
    peer_pump(b);
    expect_parted(b, "#room", "alice", CHAT_CODE_CONN_LOST);

    /* A frame whose body was shortened (length fixed up): bad tag. */
    peer *c = fx_login(f, "carol");
    m = req_msg(CHAT_MSG_PING, 4);
    assert_int_equal(peer_queue(c, &m), 0);
    assert_int_equal(peer_seal(c), 0);
    o = peer_out(c, &n);
    memcpy(frame, o, n);
    peer_out_consume(c, n);
    size_t len = (size_t)(frame[0] << 8 | frame[1]) - 1;
    frame[0] = (uint8_t)(len >> 8);
    frame[1] = (uint8_t)len;
    assert_int_equal(chat_hub_feed(f->hub, peer_id(c), frame, n - 1, f->now), CHAT_OK);
    assert_true(peer_closed(c));
    assert_int_equal(peer_pump(c), 0);
    fx_free(f);
}

static void test_protocol_violations(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);

    /* JOIN before login (AWAIT_PROOF). */
    peer *a = fx_peer(f);
    assert_int_equal(peer_handshake(a), 0);
    assert_int_equal(peer_hs3(a, "alice"), 0);
    peer_sync(a);
    expect(a, CHAT_MSG_CHALLENGE);
    do_room_req(a, CHAT_MSG_JOIN, 1, "#room");
    peer_pump(a);
    expect_goodbye(a, CHAT_CODE_PROTOCOL);
    expect_none(a);
    assert_true(peer_closed(a));

    /* LOGIN instead of PROOF. */
    peer *b = fx_peer(f);
    assert_int_equal(peer_handshake(b), 0);
    assert_int_equal(peer_hs3(b, "bob"), 0);
    peer_sync(b);
    expect(b, CHAT_MSG_CHALLENGE);
    assert_int_equal(peer_relogin(b, "bob"), 0);
    peer_sync(b);
    expect_goodbye(b, CHAT_CODE_PROTOCOL);

    /* PROOF in AWAIT_LOGIN (after a failure). */
    peer *c = fx_peer(f);
    assert_int_equal(peer_login(c, "carol", "bad"), CHAT_CODE_BAD_LOGIN);
    chat_msg pm = req_msg(CHAT_MSG_PROOF, 0);
    send_ok(c, &pm);
    peer_pump(c);
    expect_goodbye(c, CHAT_CODE_PROTOCOL);

    /* HS3 whose (authentic) payload is not a LOGIN. */
    peer *d = fx_peer(f);
    assert_int_equal(peer_handshake(d), 0);
    uint8_t buf[64];
    size_t n = 0;
    chat_msg ping = req_msg(CHAT_MSG_PING, 7);
    assert_int_equal(chat_msg_encode(&ping, buf, sizeof buf, &n), CHAT_OK);
    assert_int_equal(peer_hs3_payload(d, buf, n), 0);
    peer_sync(d);
    expect_goodbye(d, CHAT_CODE_PROTOCOL);
    expect_none(d);

    /* HS3: LOGIN followed by extra bytes. */
    peer *e = fx_peer(f);
    assert_int_equal(peer_handshake(e), 0);
    chat_msg login = req_msg(CHAT_MSG_LOGIN, 0);
    login.u.login.user = cs("alice");
    assert_int_equal(chat_msg_encode(&login, buf, sizeof buf, &n), CHAT_OK);
    buf[n++] = 0;
    assert_int_equal(peer_hs3_payload(e, buf, n), 0);
    peer_sync(e);
    expect_goodbye(e, CHAT_CODE_PROTOCOL);

    /* In READY: LOGIN, PROOF, a server-to-client type. The messages of a
     * frame after the violating one are ignored. */
    static const uint8_t bad_types[] = {CHAT_MSG_LOGIN, CHAT_MSG_PROOF, CHAT_MSG_OK};
    for (size_t i = 0; i < 3; i++) {
        peer *g = fx_login(f, "alice");
        chat_msg x = req_msg(CHAT_MSG_PING, 1);
        assert_int_equal(peer_queue(g, &x), 0);
        x = req_msg(bad_types[i], 2);
        if (bad_types[i] == CHAT_MSG_LOGIN)
            x.u.login.user = cs("bob");
        assert_int_equal(peer_queue(g, &x), 0);
        x = req_msg(CHAT_MSG_PING, 3);
        assert_int_equal(peer_queue(g, &x), 0);
        assert_int_equal(peer_seal(g), 0);
        assert_int_equal(peer_flush(g), CHAT_OK);
        peer_pump(g);
        expect_ok(g, 1);
        expect_goodbye(g, CHAT_CODE_PROTOCOL);
        expect_none(g);
        peer_release(g);
    }

    /* Empty plaintext; trailing garbage; a forbidden character. */
    peer *h = fx_login(f, "alice");
    assert_int_equal(peer_seal_plain(h, NULL, 0), 0);
    assert_int_equal(peer_flush(h), CHAT_OK);
    peer_pump(h);
    expect_goodbye(h, CHAT_CODE_PROTOCOL);
    peer_release(h);

    peer *k = fx_login(f, "alice");
    chat_msg x = req_msg(CHAT_MSG_PING, 5);
    assert_int_equal(chat_msg_encode(&x, buf, sizeof buf, &n), CHAT_OK);
    buf[n++] = 0x00;
    assert_int_equal(peer_seal_plain(k, buf, n), 0);
    assert_int_equal(peer_flush(k), CHAT_OK);
    peer_pump(k);
    expect_ok(k, 5);
    expect_goodbye(k, CHAT_CODE_PROTOCOL);
    peer_release(k);

    peer *l = fx_login(f, "alice");
    join_quiet(f, l, "#room");
    x = req_msg(CHAT_MSG_SEND, 6);
    x.u.send.target = cs("#room");
    x.u.send.text = cs("abc");
    assert_int_equal(chat_msg_encode(&x, buf, sizeof buf, &n), CHAT_OK);
    buf[n - 2] = 0x1b; /* ESC */
    assert_int_equal(peer_seal_plain(l, buf, n), 0);
    assert_int_equal(peer_flush(l), CHAT_OK);
    peer_pump(l);
    expect_goodbye(l, CHAT_CODE_PROTOCOL);
    expect_none(l);
    fx_free(f);
}

static void test_eof_and_quit(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    peer *a = fx_login(f, "alice");
    peer *b = fx_login(f, "bob");
    peer *c = fx_login(f, "carol");
    join_quiet(f, a, "#room");
    join_quiet(f, b, "#room");
    join_quiet(f, c, "#room");
    drain_events(f);
    assert_int_equal(chat_hub_conn_count(f->hub), 3);

    /* EOF without GOODBYE. */
    peer_release(b);
    assert_int_equal(chat_hub_conn_count(f->hub), 2);
    assert_int_equal(chat_hub_user_count(f->hub), 2);
    assert_int_equal(chat_hub_conn_state(f->hub, peer_id(b)), 0);
    assert_int_equal(chat_hub_feed(f->hub, peer_id(b), (const uint8_t *)"x", 1, f->now),
                     CHAT_E_NOTFOUND);
    pump_all(f);
    expect_parted(a, "#room", "bob", CHAT_CODE_CONN_LOST);
    expect_parted(c, "#room", "bob", CHAT_CODE_CONN_LOST);
    chat_hub_event ev;
    assert_int_equal(chat_hub_next_event(f->hub, &ev), 1);
    assert_int_equal(ev.type, CHAT_HUB_EV_CLOSED);
    assert_int_equal(ev.code, CHAT_CODE_CONN_LOST);
    assert_int_equal(ev.by_peer, 1);
    assert_string_equal(ev.user, "bob");

    /* GOODBYE from the client: closed without an answer, PARTED(QUIT). */
    chat_msg g = req_msg(CHAT_MSG_GOODBYE, 0);
    g.u.goodbye.code = CHAT_CODE_QUIT;
    g.u.goodbye.text = cs("bye all");
    send_ok(c, &g);
    assert_int_equal(peer_state(c), CHAT_CONN_CLOSED);
    assert_int_equal(peer_pump(c), 0);
    peer_pump(a);
    expect_parted(a, "#room", "carol", CHAT_CODE_QUIT);
    expect_none(a);
    assert_int_equal(chat_hub_next_event(f->hub, &ev), 1);
    assert_int_equal(ev.type, CHAT_HUB_EV_CLOSED);
    assert_int_equal(ev.code, CHAT_CODE_QUIT);
    assert_int_equal(ev.by_peer, 1);
    /* Releasing a connection the hub closed reports nothing more. */
    peer_release(c);
    assert_int_equal(chat_hub_next_event(f->hub, &ev), 0);
    peer_pump(a);
    expect_none(a);

    /* Both may log in again; ids are never reused. */
    peer *b2 = fx_login(f, "bob");
    assert_true(peer_id(b2) > peer_id(c));
    fx_free(f);
}

/* ---------------------------------------------------------------------
 * Memory, dirty list, events, lists
 * ------------------------------------------------------------------- */

static void test_idle_holds_no_buffers(void **state)
{
    (void)state;
    fx *f = fx_new(tweak_default_rooms);
    peer *p = fx_peer(f);
    /* Accepted: only the small login state. */
    assert_true(chat__hub_conn_buffers(f->hub, peer_id(p)) > 0);
    assert_true(chat__hub_conn_buffers(f->hub, peer_id(p)) < 256);
    assert_int_equal(peer_login(p, "alice", "alice-pw"), 0);
    peer_pump(p);
    assert_int_equal(chat__hub_conn_buffers(f->hub, peer_id(p)), 0);
    size_t total = chat__hub_conn_bytes(f->hub, peer_id(p));
    print_message("conn struct %zu bytes; idle logged-in conn in 2 rooms holds %zu bytes\n",
                  chat__hub_conn_struct_size(), total);
    assert_true(chat__hub_conn_struct_size() <= 300);
    assert_true(total <= 400);

    /* Output that is peeked but not acked is held; acked, it is freed. */
    do_simple(p, CHAT_MSG_PING, 1);
    size_t n = peer_peek_only(p);
    assert_true(n > 0);
    assert_true(chat__hub_conn_buffers(f->hub, peer_id(p)) >= n);
    chat_hub_out_ack(f->hub, peer_id(p), n / 2);
    assert_true(chat__hub_conn_buffers(f->hub, peer_id(p)) > 0);
    chat_hub_out_ack(f->hub, peer_id(p), n - n / 2);
    assert_int_equal(chat__hub_conn_buffers(f->hub, peer_id(p)), 0);
    assert_int_equal(chat_hub_conn_state(f->hub, peer_id(p)), CHAT_CONN_READY);
    assert_int_equal(chat__hub_conn_buffers(f->hub, 9999), SIZE_MAX);
    fx_free(f);
}

static void test_dirty_list(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    peer *a = fx_login(f, "alice");
    peer *b = fx_login(f, "bob");
    peer *c = fx_login(f, "carol");
    join_quiet(f, a, "#room");
    join_quiet(f, b, "#room");
    chat_conn_id id;
    while (chat_hub_next_dirty(f->hub, &id))
        ;
    do_say(a, 1, "#room", "hi", CHAT_KIND_SAY);
    do_say(a, 2, "#room", "again", CHAT_KIND_SAY);
    int sa = 0, sb = 0, sc = 0;
    while (chat_hub_next_dirty(f->hub, &id)) {
        sa += id == peer_id(a);
        sb += id == peer_id(b);
        sc += id == peer_id(c);
    }
    assert_int_equal(sa, 1);
    assert_int_equal(sb, 1);
    assert_int_equal(sc, 0);
    assert_true(chat_hub_conn_state(f->hub, peer_id(b)) & CHAT_CONN_WANT_WRITE);
    /* A released connection leaves the dirty list. */
    do_say(a, 3, "#room", "x", CHAT_KIND_SAY);
    peer_release(b);
    sb = 0;
    while (chat_hub_next_dirty(f->hub, &id))
        sb += id == peer_id(b);
    assert_int_equal(sb, 0);
    fx_free(f);
}

static void test_events_have_no_text(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    peer *a = fx_login(f, "alice");
    peer *r = fx_login(f, "root");
    join_quiet(f, a, "#room");
    do_say(a, 1, "#room", "secret text", CHAT_KIND_SAY);
    do_topic(a, 2, "#room", "secret topic");
    do_kick(r, 3, "alice", "secret reason");
    peer *x = fx_peer(f);
    assert_int_equal(peer_login(x, "bob", "secret password"), CHAT_CODE_BAD_LOGIN);
    chat_hub_event ev;
    int n = 0;
    while (chat_hub_next_event(f->hub, &ev)) {
        n++;
        assert_null(strstr(ev.user, "secret"));
        assert_null(strstr(ev.target, "secret"));
    }
    assert_true(n >= 7);
    fx_free(f);
}

static void tweak_many_rooms(chat_hub_config *cfg)
{
    cfg->max_rooms_per_user = 300;
}

static void test_list_split(void **state)
{
    (void)state;
    fx *f = fx_new(tweak_many_rooms);
    peer *r = fx_login(f, "root");

    /* 2100 accounts with 32-byte names: USER_LIST needs two messages. */
    chat_account acct;
    assert_int_equal(f->store.get(f->store.ctx, "alice", &acct), CHAT_OK);
    for (int i = 0; i < 2100; i++) {
        snprintf(acct.name, sizeof acct.name, "u%031d", i);
        assert_int_equal(f->store.put(f->store.ctx, &acct, 1), CHAT_OK);
    }
    do_simple(r, CHAT_MSG_USERS, 7);
    peer_pump(r);
    size_t total = 0, msgs = 0;
    char prev[40] = "";
    chat_msg m;
    for (;;) {
        assert_true(peer_next(r, &m));
        assert_int_equal(m.type, CHAT_MSG_USER_LIST);
        assert_int_equal(m.req, 7);
        msgs++;
        const uint8_t *q = m.u.list.entries;
        size_t left = m.u.list.entries_len;
        for (uint16_t i = 0; i < m.u.list.count; i++) {
            chat_user_entry e;
            assert_int_equal(chat_entry_get_user(&q, &left, &e), CHAT_OK);
            char name[40];
            memcpy(name, e.user.p, e.user.n);
            name[e.user.n] = '\0';
            assert_true(strcmp(prev, name) < 0); /* name order */
            memcpy(prev, name, sizeof name);
            total++;
        }
        assert_int_equal(left, 0);
        if (!(m.u.list.flags & CHAT_LIST_MORE))
            break;
    }
    assert_int_equal(msgs, 2);
    assert_int_equal(total, 2104);
    expect_none(r);

    /* 200 rooms with long names and 300-byte topics: ROOM_LIST splits. */
    char topic[301];
    memset(topic, 't', 300);
    topic[300] = '\0';
    for (int i = 0; i < 200; i++) {
        char room[40];
        snprintf(room, sizeof room, "#r%031d", i);
        do_room_req(r, CHAT_MSG_JOIN, 1, room);
        do_topic(r, 2, room, topic);
    }
    drain_all(f);
    do_simple(r, CHAT_MSG_LIST, 8);
    peer_pump(r);
    total = msgs = 0;
    for (;;) {
        assert_true(peer_next(r, &m));
        assert_int_equal(m.type, CHAT_MSG_ROOM_LIST);
        assert_int_equal(m.req, 8);
        msgs++;
        total += m.u.list.count;
        if (!(m.u.list.flags & CHAT_LIST_MORE))
            break;
    }
    assert_int_equal(msgs, 2);
    assert_int_equal(total, 200);
    fx_free(f);
}

/* A store whose every call fails: ERROR(INTERNAL), never a crash. */
typedef struct flaky {
    chat_store real;
    int fail;
} flaky;

static int flaky_get(void *ctx, const char *name, chat_account *out)
{
    flaky *s = ctx;
    return s->fail ? CHAT_E_STORE : s->real.get(s->real.ctx, name, out);
}

static int flaky_put(void *ctx, const chat_account *a, int create)
{
    flaky *s = ctx;
    return s->fail ? CHAT_E_STORE : s->real.put(s->real.ctx, a, create);
}

static int flaky_del(void *ctx, const char *name)
{
    flaky *s = ctx;
    return s->fail ? CHAT_E_STORE : s->real.del(s->real.ctx, name);
}

static int flaky_list(void *ctx, chat_store_visit_fn fn, void *arg)
{
    flaky *s = ctx;
    if (s->fail == 2) {
        /* Visit some, then fail. */
        chat_account a;
        memset(&a, 0, sizeof a);
        strcpy(a.name, "alice");
        fn(arg, &a);
        return CHAT_E_STORE;
    }
    return s->fail ? CHAT_E_STORE : s->real.list(s->real.ctx, fn, arg);
}

static void test_store_errors(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    /* A second hub over a failing wrapper of the same store. */
    flaky fl = {f->store, 0};
    chat_hub_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.static_priv = f->spriv;
    cfg.store.get = flaky_get;
    cfg.store.put = flaky_put;
    cfg.store.del = flaky_del;
    cfg.store.list = flaky_list;
    cfg.store.ctx = &fl;
    cfg.rng = test_rng_of(&f->rng);
    cfg.min_opslimit = 1;
    cfg.min_memlimit_kib = 8;
    chat_hub *hub = NULL;
    assert_int_equal(chat_hub_new(&hub, &cfg), CHAT_OK);
    chat_hub_free(f->hub);
    f->hub = hub;

    peer *r = fx_login(f, "root");
    chat_verifier v;
    make_verifier(f, &v, "x-pw", 1, 8);
    fl.fail = 1;
    do_add_user(r, 1, "dave", CHAT_ROLE_USER, &v);
    do_user_req(r, CHAT_MSG_DEL_USER, 2, "bob");
    do_simple(r, CHAT_MSG_USERS, 3);
    do_passwd(r, 4, &v);
    peer_pump(r);
    expect_error(r, 1, CHAT_CODE_INTERNAL);
    expect_error(r, 2, CHAT_CODE_INTERNAL);
    expect_error(r, 3, CHAT_CODE_INTERNAL);
    expect_error(r, 4, CHAT_CODE_INTERNAL);
    expect_none(r);
    fl.fail = 2; /* a partial list is taken back */
    do_simple(r, CHAT_MSG_USERS, 5);
    peer_pump(r);
    expect_error(r, 5, CHAT_CODE_INTERNAL);
    expect_none(r);

    /* At login: GOODBYE(INTERNAL). */
    fl.fail = 1;
    peer *p = fx_peer(f);
    assert_int_equal(peer_handshake(p), 0);
    assert_int_equal(peer_hs3(p, "alice"), 0);
    peer_sync(p);
    expect_goodbye(p, CHAT_CODE_INTERNAL);
    fx_free(f);
}

/* The failure tables directly: bounded, oldest window evicted, and every
 * surviving key still found after thousands of evictions. */
static void test_fail_table(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    chat_hub *h = f->hub;
    hub_fail_tab *t = &h->fail_name;
    t->limit = 2;
    h->fail_window_ms = 1000000;
    char key[32];
    const int total = HUB_FAIL_MAX + 904;
    for (int i = 0; i < total; i++) {
        h->now.mono_ms = (uint64_t)i;
        int n = snprintf(key, sizeof key, "k%d", i);
        chat__fail_record(h, t, (const uint8_t *)key, (size_t)n);
        chat__fail_record(h, t, (const uint8_t *)key, (size_t)n);
    }
    assert_int_equal(t->n, HUB_FAIL_MAX);
    h->now.mono_ms = (uint64_t)total;
    for (int i = 0; i < total; i++) {
        int n = snprintf(key, sizeof key, "k%d", i);
        int limited = chat__fail_limited(h, t, (const uint8_t *)key, (size_t)n);
        assert_int_equal(limited, i >= 904);
    }
    /* One failure is not the limit; a window later the count restarts. */
    chat__fail_record(h, t, (const uint8_t *)"fresh", 5);
    assert_false(chat__fail_limited(h, t, (const uint8_t *)"fresh", 5));
    chat__fail_record(h, t, (const uint8_t *)"fresh", 5);
    assert_true(chat__fail_limited(h, t, (const uint8_t *)"fresh", 5));
    h->now.mono_ms += 1000000;
    assert_false(chat__fail_limited(h, t, (const uint8_t *)"fresh", 5));
    chat__fail_record(h, t, (const uint8_t *)"fresh", 5);
    assert_false(chat__fail_limited(h, t, (const uint8_t *)"fresh", 5));
    fx_free(f);
}

/* Regression: a full table evicted the oldest entry even while it locked a
 * name, so ~4096 junk failures bought an attacker a fresh set of guesses
 * against a locked victim. Now entries under the limit go first. */
static void test_fail_table_keeps_locked_names(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    chat_hub *h = f->hub;
    hub_fail_tab *t = &h->fail_name;
    t->limit = 3;
    h->fail_window_ms = 1000000;
    h->now.mono_ms = 0;
    for (int k = 0; k < 3; k++)
        chat__fail_record(h, t, (const uint8_t *)"victim", 6);
    assert_true(chat__fail_limited(h, t, (const uint8_t *)"victim", 6));
    char key[32];
    for (int i = 0; i < 2 * HUB_FAIL_MAX; i++) {
        h->now.mono_ms = (uint64_t)i + 1;
        int n = snprintf(key, sizeof key, "junk%d", i);
        chat__fail_record(h, t, (const uint8_t *)key, (size_t)n);
    }
    assert_int_equal(t->n, HUB_FAIL_MAX);
    assert_true(chat__fail_limited(h, t, (const uint8_t *)"victim", 6));
    fx_free(f);
}

static void test_config(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    chat_hub *h = NULL;
    chat_hub_config cfg;
    memset(&cfg, 0, sizeof cfg);
    assert_int_equal(chat_hub_new(&h, &cfg), CHAT_E_INVAL); /* no key, no store */
    cfg.static_priv = f->spriv;
    cfg.store = f->store;
    cfg.motd = "bad\x07";
    assert_int_equal(chat_hub_new(&h, &cfg), CHAT_E_INVAL);
    cfg.motd = NULL;
    static const char *const bad_rooms[] = {"lobby", NULL};
    cfg.default_rooms = bad_rooms;
    assert_int_equal(chat_hub_new(&h, &cfg), CHAT_E_INVAL);
    cfg.default_rooms = NULL;
    cfg.version_min = 3;
    cfg.version_max = 2;
    assert_int_equal(chat_hub_new(&h, &cfg), CHAT_E_INVAL);
    cfg.version_min = cfg.version_max = 0;
    assert_int_equal(chat_hub_new(&h, &cfg), CHAT_OK);
    chat_conn_id id = 0;
    assert_int_equal(chat_hub_accept(h, (const uint8_t *)"12345678901234567", 17, f->now, &id),
                     CHAT_E_INVAL);
    assert_int_equal(chat_hub_accept(h, NULL, 0, f->now, &id), CHAT_OK);
    assert_int_equal(id, 1);
    assert_int_equal(chat_hub_accept(h, NULL, 0, f->now, &id), CHAT_OK);
    assert_int_equal(id, 2);
    assert_int_equal(chat_hub_feed(h, 77, NULL, 0, f->now), CHAT_E_NOTFOUND);
    size_t n = 5;
    assert_null(chat_hub_out_peek(h, 77, &n));
    assert_int_equal(n, 0);
    chat_hub_free(h); /* with live connections */
    fx_free(f);
}

static void test_many_connections(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    /* Enough connections to grow the id table several times. */
    chat_conn_id ids[1000];
    for (int i = 0; i < 1000; i++)
        assert_int_equal(chat_hub_accept(f->hub, NULL, 0, f->now, &ids[i]), CHAT_OK);
    assert_int_equal(chat_hub_conn_count(f->hub), 1000);
    for (int i = 0; i < 1000; i += 2)
        chat_hub_release(f->hub, ids[i], f->now);
    for (int i = 1; i < 1000; i += 2)
        assert_int_equal(chat_hub_conn_state(f->hub, ids[i]), 0); /* alive, nothing */
    for (int i = 0; i < 1000; i += 2)
        assert_int_equal(chat_hub_feed(f->hub, ids[i], NULL, 0, f->now), CHAT_E_NOTFOUND);
    peer *a = fx_login(f, "alice");
    assert_true(peer_id(a) > 1000);
    f->now.mono_ms += 30000;
    chat_hub_tick(f->hub, f->now);
    for (int i = 1; i < 1000; i += 2)
        assert_int_equal(chat_hub_conn_state(f->hub, ids[i]), CHAT_CONN_CLOSED);
    for (int i = 1; i < 1000; i += 2)
        chat_hub_release(f->hub, ids[i], f->now);
    assert_int_equal(chat_hub_conn_count(f->hub), 1);
    fx_free(f);
}

/* ---------------------------------------------------------------------
 * Review regressions
 * ------------------------------------------------------------------- */

static int contains(const uint8_t *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return 1;
    return 0;
}

/* Message text does not stay behind in the hub's scratch encode buffer
 * once it has been queued (h->rx is wiped the same way). */
static void test_scratch_plaintext_wiped(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    peer *a = fx_login(f, "alice");
    peer *b = fx_login(f, "bob");
    do_say(a, 1, "bob", "secret-pm-text-1", CHAT_KIND_SAY);
    assert_false(contains(f->hub->tx, sizeof f->hub->tx, "secret-pm-text-1"));
    pump_all(f);
    expect_msg(b, "bob", "alice", 0, "secret-pm-text-1", 0);
    join_quiet(f, a, "#room");
    join_quiet(f, b, "#room");
    do_say(a, 2, "#room", "secret-room-text-2", CHAT_KIND_SAY);
    assert_false(contains(f->hub->tx, sizeof f->hub->tx, "secret-room-text-2"));
    /* History replayed on join goes through the same buffer. */
    peer *c = fx_login(f, "carol");
    do_room_req(c, CHAT_MSG_JOIN, 3, "#room");
    assert_false(contains(f->hub->tx, sizeof f->hub->tx, "secret-room-text-2"));
    peer_pump(c);
    expect_joined(c, "#room", "carol");
    expect_msg(c, "#room", "alice", 1, "secret-room-text-2", CHAT_MESSAGE_HISTORY);
    fx_free(f);
}

static void *partial_alloc(void *ctx, size_t n)
{
    (void)ctx;
    return malloc(n);
}

/* A partial allocator would mix allocators (free() on custom memory, or
 * the custom free on malloc'd memory): every constructor refuses it. */
static void test_partial_allocator_refused(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    chat_allocator part;
    memset(&part, 0, sizeof part);
    part.alloc = partial_alloc; /* no realloc, no free */

    chat_hub_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.static_priv = f->spriv;
    cfg.store = f->store;
    cfg.alloc = part;
    chat_hub *h = NULL;
    assert_int_equal(chat_hub_new(&h, &cfg), CHAT_E_INVAL);
    assert_null(h);

    chat_client_config cc;
    memset(&cc, 0, sizeof cc);
    cc.alloc = part;
    chat_client *c = NULL;
    assert_int_equal(chat_client_new(&c, &cc), CHAT_E_INVAL);
    assert_null(c);

    chat_store_mem *m = NULL;
    assert_int_equal(chat_store_mem_new(&m, &part), CHAT_E_INVAL);
    assert_null(m);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_version_overlap),
        cmocka_unit_test(test_version_none),
        cmocka_unit_test(test_login_ok),
        cmocka_unit_test(test_default_rooms),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_unknown_user),
        cmocka_unit_test(test_unknown_user_fake_limits),
        cmocka_unit_test(test_already_online),
        cmocka_unit_test(test_rate_limit_name),
        cmocka_unit_test(test_rate_limit_addr),
        cmocka_unit_test(test_rooms),
        cmocka_unit_test(test_room_limits),
        cmocka_unit_test(test_room_messages),
        cmocka_unit_test(test_history),
        cmocka_unit_test(test_private_messages),
        cmocka_unit_test(test_coalescing),
        cmocka_unit_test(test_admin_refused),
        cmocka_unit_test(test_admin_actions),
        cmocka_unit_test(test_kick),
        cmocka_unit_test(test_shutdown_admin),
        cmocka_unit_test(test_shutdown_front_end),
        cmocka_unit_test(test_passwd),
        cmocka_unit_test(test_login_timeout),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_slow_reader),
        cmocka_unit_test(test_garbage_before_handshake),
        cmocka_unit_test(test_bitflip),
        cmocka_unit_test(test_frames_after_login),
        cmocka_unit_test(test_truncated_frames),
        cmocka_unit_test(test_protocol_violations),
        cmocka_unit_test(test_eof_and_quit),
        cmocka_unit_test(test_idle_holds_no_buffers),
        cmocka_unit_test(test_dirty_list),
        cmocka_unit_test(test_events_have_no_text),
        cmocka_unit_test(test_list_split),
        cmocka_unit_test(test_store_errors),
        cmocka_unit_test(test_fail_table),
        cmocka_unit_test(test_fail_table_keeps_locked_names),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_many_connections),
        cmocka_unit_test(test_scratch_plaintext_wiped),
        cmocka_unit_test(test_partial_allocator_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
