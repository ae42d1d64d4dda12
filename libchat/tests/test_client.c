/* Tests for client.c: the client state machine of PROTOCOL.md §8.2 against
 * a small scripted server built right here on chat/noise.h and
 * chat/codec.h (a Noise XX responder that says exactly what each test
 * tells it to). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "chat/client.h"
#include "chat/noise.h"
#include "chat/verifier.h"

#define OPS 1u
#define MEM 8u
#define PASSWORD "hunter2"
#define PING_MS 1000u

/* ---------------------------------------------------------------------
 * Deterministic randomness: xorshift64*, seeded per fixture
 * ------------------------------------------------------------------- */

typedef struct test_rng {
    uint64_t s;
} test_rng;

static void test_fill(void *ctx, uint8_t *buf, size_t len)
{
    test_rng *r = ctx;
    for (size_t i = 0; i < len; i++) {
        r->s ^= r->s >> 12;
        r->s ^= r->s << 25;
        r->s ^= r->s >> 27;
        buf[i] = (uint8_t)((r->s * 0x2545F4914F6CDD1DULL) >> 56);
    }
}

/* ---------------------------------------------------------------------
 * Fixture: one client and the scripted server's state
 * ------------------------------------------------------------------- */

#define WIRE_MAX (1u << 18)
#define MAX_GOT 256

typedef struct fx {
    chat_client *c;
    chat_client_config cfg;
    uint8_t client_priv[32];
    test_rng crng, srng;
    uint64_t now;

    /* server */
    chat_handshake hs;
    chat_cipher s_rx, s_tx; /* client->server, server->client */
    uint8_t s_priv[32], s_pub[32];
    uint8_t h[32];
    uint8_t salt[CHAT_SALT_LEN];
    uint8_t pk[CHAT_PK_LEN]; /* of PASSWORD under salt, OPS, MEM */

    /* what the client wrote, and what the server decoded from it */
    uint8_t wire[WIRE_MAX];
    size_t wire_len;
    uint8_t plain[WIRE_MAX];
    size_t plain_len;
    chat_msg got[MAX_GOT];
    size_t ngot;
    size_t nframes;
} fx;

static fx *fx_new(const chat_client_config *override)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->crng.s = 0x1234567890abcdefULL;
    f->srng.s = 0x0fedcba987654321ULL;
    for (int i = 0; i < 32; i++) {
        f->client_priv[i] = (uint8_t)(0x40 + i);
        f->s_priv[i] = (uint8_t)(0x80 + i);
    }
    assert_int_equal(chat_x25519_public(f->s_pub, f->s_priv), CHAT_OK);
    for (int i = 0; i < CHAT_SALT_LEN; i++)
        f->salt[i] = (uint8_t)(0xa0 + i);
    uint8_t seed[CHAT_SEED_LEN];
    assert_int_equal(chat_seed_derive(seed, (const uint8_t *)PASSWORD, strlen(PASSWORD), f->salt,
                                      OPS, MEM),
                     CHAT_OK);
    chat_seed_public(f->pk, seed);

    if (override != NULL)
        f->cfg = *override;
    f->cfg.static_priv = f->client_priv;
    f->cfg.rng.fill = test_fill;
    f->cfg.rng.ctx = &f->crng;
    if (f->cfg.ping_interval_ms == 0)
        f->cfg.ping_interval_ms = PING_MS;
    assert_int_equal(chat_client_new(&f->c, &f->cfg), CHAT_OK);
    f->now = 1000;

    chat_rng srng = {test_fill, &f->srng};
    assert_int_equal(chat_handshake_init(&f->hs, CHAT_NOISE_PROTOCOL, 0,
                                         (const uint8_t *)CHAT_PROLOGUE, CHAT_PROLOGUE_LEN,
                                         f->s_priv, NULL, srng),
                     CHAT_OK);
    return f;
}

static void fx_free(fx *f)
{
    chat_client_free(f->c);
    chat_handshake_wipe(&f->hs);
    chat_cipher_wipe(&f->s_rx);
    chat_cipher_wipe(&f->s_tx);
    free(f);
}

/* Move everything the client wants to write into f->wire (replacing what
 * was there). Returns the byte count. */
static size_t take(fx *f)
{
    size_t len = 0;
    const uint8_t *p = chat_client_out_peek(f->c, &len);
    assert_true(len <= WIRE_MAX);
    if (len > 0)
        memcpy(f->wire, p, len);
    else
        assert_null(p);
    f->wire_len = len;
    chat_client_out_ack(f->c, len);
    size_t again = 1;
    (void)chat_client_out_peek(f->c, &again);
    assert_int_equal(again, 0);
    return len;
}

/* Server: decrypt every TRANSPORT frame in f->wire and decode the
 * messages into f->got (appending; views into f->plain). */
static void srv_open(fx *f)
{
    size_t pos = 0;
    while (pos < f->wire_len) {
        chat_frame fr;
        size_t used = 0;
        assert_int_equal(chat_frame_decode(f->wire + pos, f->wire_len - pos, &fr, &used),
                         CHAT_OK);
        assert_int_equal(fr.type, CHAT_FRAME_TRANSPORT);
        assert_true(fr.body_len > 16);
        size_t plen = fr.body_len - 16;
        uint8_t *dst = f->plain + f->plain_len;
        assert_true(f->plain_len + plen <= WIRE_MAX);
        assert_int_equal(chat_cipher_decrypt(&f->s_rx, NULL, 0, fr.body, fr.body_len, dst),
                         CHAT_OK);
        f->plain_len += plen;
        const uint8_t *p = dst;
        size_t left = plen;
        while (left > 0) {
            assert_true(f->ngot < MAX_GOT);
            assert_int_equal(chat_msg_next(&p, &left, &f->got[f->ngot]), CHAT_OK);
            f->ngot++;
        }
        f->nframes++;
        pos += used;
    }
}

/* Server: take the client's output and decode it; returns the number of
 * new messages. */
static size_t srv_recv(fx *f)
{
    size_t before = f->ngot;
    take(f);
    srv_open(f);
    return f->ngot - before;
}

/* Server: one TRANSPORT frame holding msgs[0..n) into out; returns its size. */
static size_t srv_seal(fx *f, const chat_msg *msgs, size_t n, uint8_t *out, size_t cap)
{
    uint8_t pt[CHAT_TRANSPORT_PLAIN_MAX];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        assert_int_equal(chat_msg_encode(&msgs[i], pt + len, sizeof pt - len, &k), CHAT_OK);
        len += k;
    }
    assert_true(CHAT_FRAME_HEADER + len + 16 <= cap);
    chat_frame_header(out, CHAT_FRAME_TRANSPORT, len + 16);
    assert_int_equal(chat_cipher_encrypt(&f->s_tx, NULL, 0, pt, len, out + CHAT_FRAME_HEADER),
                     CHAT_OK);
    return CHAT_FRAME_HEADER + len + 16;
}

static void feed(fx *f, const uint8_t *p, size_t n)
{
    assert_int_equal(chat_client_feed(f->c, p, n, f->now), CHAT_OK);
}

/* Server sends msgs in one frame; the client is fed. */
static void srv_send(fx *f, const chat_msg *msgs, size_t n)
{
    static uint8_t buf[CHAT_FRAME_HEADER + CHAT_FRAME_BODY_MAX];
    size_t len = srv_seal(f, msgs, n, buf, sizeof buf);
    feed(f, buf, len);
}

static void srv_send1(fx *f, const chat_msg *m)
{
    srv_send(f, m, 1);
}

static void expect_event(fx *f, chat_client_event *ev, chat_client_event_type type)
{
    assert_int_equal(chat_client_next_event(f->c, ev), 1);
    assert_int_equal(ev->type, type);
}

static void expect_no_event(fx *f)
{
    chat_client_event ev;
    assert_int_equal(chat_client_next_event(f->c, &ev), 0);
    assert_int_equal(ev.type, CHAT_CLIENT_EV_NONE);
}

static void expect_closed(fx *f, chat_close_origin origin, uint16_t code)
{
    chat_client_event ev;
    expect_event(f, &ev, CHAT_CLIENT_EV_CLOSED);
    assert_int_equal(ev.close.origin, origin);
    assert_int_equal(ev.close.code, code);
    assert_int_equal(chat_client_get_state(f->c), CHAT_CLIENT_CLOSED);
    expect_no_event(f);
}

static int str_is(chat_str s, const char *want)
{
    return s.n == strlen(want) && (s.n == 0 || memcmp(s.p, want, s.n) == 0);
}

/* ---- scripted handshake steps -------------------------------------- */

/* Client starts; the server checks and reads HS1. */
static void step_hs1(fx *f, const char *user)
{
    assert_int_equal(chat_client_start(f->c, user, f->now), CHAT_OK);
    assert_int_equal(chat_client_get_state(f->c), CHAT_CLIENT_AWAIT_HS2);
    take(f);
    assert_int_equal(f->wire_len, 3 + 38);
    uint8_t payload[64];
    size_t plen = 0;
    assert_int_equal(chat_handshake_read(&f->hs, f->wire + 3, 38, payload, sizeof payload, &plen),
                     CHAT_OK);
    assert_int_equal(plen, CHAT_HS1_PAYLOAD_LEN);
}

static size_t make_hs2(fx *f, uint8_t version, uint8_t *out)
{
    size_t len = 0;
    assert_int_equal(chat_handshake_write(&f->hs, &version, 1, out + 3, 200, &len), CHAT_OK);
    assert_int_equal(len, 97);
    chat_frame_header(out, CHAT_FRAME_HS2, len);
    return 3 + len;
}

/* Server answers HS2; the client reports the key. */
static void step_hs2(fx *f)
{
    uint8_t buf[256];
    size_t n = make_hs2(f, 1, buf);
    feed(f, buf, n);
    chat_client_event ev;
    expect_event(f, &ev, CHAT_CLIENT_EV_SERVER_KEY);
    assert_memory_equal(ev.server_key, f->s_pub, 32);
    assert_int_equal(ev.version, 1);
    assert_memory_equal(chat_client_server_key(f->c), f->s_pub, 32);
    assert_int_equal(chat_client_get_state(f->c), CHAT_CLIENT_AWAIT_TRUST);
    expect_no_event(f);
    assert_int_equal(take(f), 0); /* nothing before the key is trusted */
}

/* Trust the key; the server reads HS3 and checks the LOGIN in it. */
static void step_hs3(fx *f, const char *user)
{
    assert_int_equal(chat_client_trust_server(f->c, 1), CHAT_OK);
    assert_int_equal(chat_client_get_state(f->c), CHAT_CLIENT_AWAIT_CHALLENGE);
    take(f);
    chat_frame fr;
    size_t used = 0;
    assert_int_equal(chat_frame_decode(f->wire, f->wire_len, &fr, &used), CHAT_OK);
    assert_int_equal(used, f->wire_len);
    assert_int_equal(fr.type, CHAT_FRAME_HS3);
    uint8_t payload[256];
    size_t plen = 0;
    assert_int_equal(chat_handshake_read(&f->hs, fr.body, fr.body_len, payload, sizeof payload,
                                         &plen),
                     CHAT_OK);
    /* exactly one LOGIN with its length prefix */
    const uint8_t *p = payload;
    size_t left = plen;
    chat_msg m;
    assert_int_equal(chat_msg_next(&p, &left, &m), CHAT_OK);
    assert_int_equal(left, 0);
    assert_int_equal(m.type, CHAT_MSG_LOGIN);
    assert_true(str_is(m.u.login.user, user));
    /* the client's static key is the device key from the config */
    uint8_t cpub[32];
    assert_int_equal(chat_x25519_public(cpub, f->client_priv), CHAT_OK);
    assert_memory_equal(chat_handshake_remote_static(&f->hs), cpub, 32);
    assert_int_equal(chat_handshake_split(&f->hs, &f->s_rx, &f->s_tx), CHAT_OK);
    memcpy(f->h, chat_handshake_hash(&f->hs), 32);
}

static chat_msg challenge_msg(const fx *f, uint32_t ops, uint32_t mem)
{
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_CHALLENGE;
    memcpy(m.u.challenge.salt, f->salt, CHAT_SALT_LEN);
    m.u.challenge.opslimit = ops;
    m.u.challenge.memlimit_kib = mem;
    return m;
}

static void step_challenge(fx *f)
{
    chat_msg m = challenge_msg(f, OPS, MEM);
    srv_send1(f, &m);
    chat_client_event ev;
    expect_event(f, &ev, CHAT_CLIENT_EV_CHALLENGE);
    assert_int_equal(ev.msg.type, CHAT_MSG_CHALLENGE);
    assert_memory_equal(ev.msg.u.challenge.salt, f->salt, CHAT_SALT_LEN);
    assert_int_equal(ev.msg.u.challenge.opslimit, OPS);
    assert_int_equal(ev.msg.u.challenge.memlimit_kib, MEM);
    assert_int_equal(chat_client_get_state(f->c), CHAT_CLIENT_AWAIT_PASSWORD);
    expect_no_event(f);
}

/* Prove with password; the server checks the PROOF against (pk, h, name).
 * Returns the verification result. */
static int step_proof(fx *f, const char *password, const char *name)
{
    assert_int_equal(chat_client_prove(f->c, (const uint8_t *)password, strlen(password)),
                     CHAT_OK);
    assert_int_equal(chat_client_get_state(f->c), CHAT_CLIENT_AWAIT_RESULT);
    size_t before = f->ngot;
    assert_int_equal(srv_recv(f), 1);
    chat_msg *m = &f->got[before];
    assert_int_equal(m->type, CHAT_MSG_PROOF);
    return chat_proof_verify(m->u.proof.sig, f->pk, f->h, (const uint8_t *)name, strlen(name));
}

static void send_welcome(fx *f, const char *user, uint8_t role)
{
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_WELCOME;
    m.u.welcome.user.p = (const uint8_t *)user;
    m.u.welcome.user.n = strlen(user);
    m.u.welcome.role = role;
    m.u.welcome.time_ms = 1700000000000ULL;
    m.u.welcome.motd.p = (const uint8_t *)"hello\nworld";
    m.u.welcome.motd.n = 11;
    srv_send1(f, &m);
}

/* The whole login for "Alice"; ends READY with no event pending. */
static void to_ready(fx *f)
{
    step_hs1(f, "Alice");
    step_hs2(f);
    step_hs3(f, "Alice");
    step_challenge(f);
    assert_int_equal(step_proof(f, PASSWORD, "alice"), CHAT_OK);
    send_welcome(f, "alice", 0);
    chat_client_event ev;
    expect_event(f, &ev, CHAT_CLIENT_EV_WELCOME);
    assert_int_equal(chat_client_get_state(f->c), CHAT_CLIENT_READY);
    expect_no_event(f);
}

/* ---------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------- */

static void test_happy_path(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    assert_int_equal(chat_client_get_state(f->c), CHAT_CLIENT_START);
    assert_null(chat_client_server_key(f->c));
    assert_int_equal(chat_client_role(f->c), -1);

    /* HS1: frame type 1, 38-byte body: e then "CHAT" 1 1 in clear */
    assert_int_equal(chat_client_start(f->c, "Alice", f->now), CHAT_OK);
    size_t n = 0;
    const uint8_t *p = chat_client_out_peek(f->c, &n);
    assert_int_equal(n, 41);
    assert_int_equal(p[0], 0);
    assert_int_equal(p[1], 39);
    assert_int_equal(p[2], CHAT_FRAME_HS1);
    assert_memory_equal(p + 3 + 32, "CHAT\x01\x01", 6);
    /* a second start is refused */
    assert_int_equal(chat_client_start(f->c, "Alice", f->now), CHAT_E_STATE);
    take(f);
    uint8_t payload[64];
    size_t plen = 0;
    assert_int_equal(chat_handshake_read(&f->hs, f->wire + 3, 38, payload, sizeof payload, &plen),
                     CHAT_OK);
    assert_memory_equal(payload, "CHAT\x01\x01", 6);

    step_hs2(f);
    /* proving before the challenge is a state error */
    assert_int_equal(chat_client_prove(f->c, (const uint8_t *)"x", 1), CHAT_E_STATE);
    step_hs3(f, "Alice");
    step_challenge(f);
    assert_int_equal(chat_client_user(f->c)[0], 'a');
    /* the proof is over the folded name and this connection's h */
    assert_int_equal(step_proof(f, PASSWORD, "alice"), CHAT_OK);
    assert_int_equal(f->nframes, 1);

    send_welcome(f, "alice", 1);
    chat_client_event ev;
    expect_event(f, &ev, CHAT_CLIENT_EV_WELCOME);
    assert_int_equal(ev.msg.type, CHAT_MSG_WELCOME);
    assert_true(str_is(ev.msg.u.welcome.user, "alice"));
    assert_int_equal(ev.msg.u.welcome.role, 1);
    assert_true(str_is(ev.msg.u.welcome.motd, "hello\nworld"));
    assert_int_equal(chat_client_get_state(f->c), CHAT_CLIENT_READY);
    assert_string_equal(chat_client_user(f->c), "alice");
    assert_int_equal(chat_client_role(f->c), 1);
    expect_no_event(f);

    /* a request and its answer */
    uint32_t req = 0;
    assert_int_equal(chat_client_join(f->c, "#lobby", &req), CHAT_OK);
    assert_int_not_equal(req, 0);
    assert_int_equal(srv_recv(f), 1);
    assert_int_equal(f->got[f->ngot - 1].type, CHAT_MSG_JOIN);
    assert_int_equal(f->got[f->ngot - 1].req, req);
    assert_true(str_is(f->got[f->ngot - 1].u.room.room, "#lobby"));
    chat_msg ok;
    memset(&ok, 0, sizeof ok);
    ok.type = CHAT_MSG_OK;
    ok.req = req;
    srv_send1(f, &ok);
    expect_event(f, &ev, CHAT_CLIENT_EV_MESSAGE);
    assert_int_equal(ev.msg.type, CHAT_MSG_OK);
    assert_int_equal(ev.msg.req, req);
    expect_no_event(f);

    /* quit: GOODBYE(QUIT) goes out, CLOSED LOCAL */
    assert_int_equal(chat_client_quit(f->c, "see you"), CHAT_OK);
    assert_int_equal(srv_recv(f), 1);
    chat_msg *g = &f->got[f->ngot - 1];
    assert_int_equal(g->type, CHAT_MSG_GOODBYE);
    assert_int_equal(g->u.goodbye.code, CHAT_CODE_QUIT);
    assert_true(str_is(g->u.goodbye.text, "see you"));
    expect_closed(f, CHAT_CLOSE_LOCAL, CHAT_CODE_QUIT);
    assert_int_equal(chat_client_quit(f->c, NULL), CHAT_E_CLOSED);
    assert_int_equal(chat_client_feed(f->c, (const uint8_t *)"x", 1, f->now), CHAT_E_CLOSED);
    fx_free(f);
}

static void test_refuse_key(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    step_hs1(f, "alice");
    step_hs2(f);
    assert_int_equal(chat_client_trust_server(f->c, 0), CHAT_OK);
    assert_int_equal(chat_client_get_state(f->c), CHAT_CLIENT_CLOSED);
    /* nothing at all is sent: not HS3, not a GOODBYE */
    assert_int_equal(take(f), 0);
    expect_closed(f, CHAT_CLOSE_LOCAL, CHAT_CODE_NONE);
    assert_int_equal(chat_client_trust_server(f->c, 1), CHAT_E_CLOSED);
    assert_int_equal(take(f), 0);
    fx_free(f);
}

static void test_reject(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    step_hs1(f, "alice");
    chat_reject r;
    memset(&r, 0, sizeof r);
    r.version_min = 2;
    r.version_max = 3;
    r.code = CHAT_CODE_VERSION;
    r.text.p = (const uint8_t *)"we speak 2-3";
    r.text.n = 12;
    uint8_t buf[300];
    size_t len = 0;
    assert_int_equal(chat_reject_encode(&r, buf + 3, sizeof buf - 3, &len), CHAT_OK);
    chat_frame_header(buf, CHAT_FRAME_REJECT, len);
    feed(f, buf, 3 + len);

    chat_client_event ev;
    expect_event(f, &ev, CHAT_CLIENT_EV_REJECTED);
    assert_int_equal(ev.reject.version_min, 2);
    assert_int_equal(ev.reject.version_max, 3);
    assert_int_equal(ev.reject.code, CHAT_CODE_VERSION);
    assert_true(str_is(ev.reject.text, "we speak 2-3"));
    assert_int_equal(chat_client_get_state(f->c), CHAT_CLIENT_CLOSED);
    expect_event(f, &ev, CHAT_CLIENT_EV_CLOSED);
    assert_int_equal(ev.close.origin, CHAT_CLOSE_PEER);
    assert_int_equal(ev.close.code, CHAT_CODE_VERSION);
    assert_true(str_is(ev.close.text, "we speak 2-3"));
    expect_no_event(f);
    assert_int_equal(take(f), 0);
    fx_free(f);
}

static void test_bad_reject_and_unexpected_frames(void **state)
{
    (void)state;
    /* a malformed REJECT (bad magic) is a protocol error: close, no reply */
    fx *f = fx_new(NULL);
    step_hs1(f, "alice");
    uint8_t buf[32] = {0, 10, CHAT_FRAME_REJECT, 'C', 'H', 'A', 'X', 1, 1, 0, 2, 0};
    feed(f, buf, 12);
    expect_closed(f, CHAT_CLOSE_LOCAL, CHAT_CODE_PROTOCOL);
    assert_int_equal(take(f), 0);
    fx_free(f);

    /* an unknown frame type closes as soon as the type byte is in */
    f = fx_new(NULL);
    step_hs1(f, "alice");
    uint8_t unk[3] = {0x10, 0x00, 0x09};
    feed(f, unk, 3);
    expect_closed(f, CHAT_CLOSE_LOCAL, CHAT_CODE_PROTOCOL);
    fx_free(f);

    /* a TRANSPORT frame before the handshake is done */
    f = fx_new(NULL);
    step_hs1(f, "alice");
    uint8_t tr[20] = {0, 17, CHAT_FRAME_TRANSPORT};
    feed(f, tr, 20);
    expect_closed(f, CHAT_CLOSE_LOCAL, CHAT_CODE_PROTOCOL);
    assert_int_equal(take(f), 0);
    fx_free(f);

    /* anything while waiting for the trust decision */
    f = fx_new(NULL);
    step_hs1(f, "alice");
    step_hs2(f);
    feed(f, tr, 20);
    expect_closed(f, CHAT_CLOSE_LOCAL, CHAT_CODE_PROTOCOL);
    assert_int_equal(take(f), 0);
    fx_free(f);

    /* a handshake frame after the handshake: GOODBYE(PROTOCOL) */
    f = fx_new(NULL);
    step_hs1(f, "alice");
    step_hs2(f);
    step_hs3(f, "alice");
    uint8_t hs2[256];
    memset(hs2, 0, sizeof hs2);
    chat_frame_header(hs2, CHAT_FRAME_HS2, 97);
    feed(f, hs2, 100);
    assert_int_equal(srv_recv(f), 1);
    assert_int_equal(f->got[0].type, CHAT_MSG_GOODBYE);
    assert_int_equal(f->got[0].u.goodbye.code, CHAT_CODE_PROTOCOL);
    expect_closed(f, CHAT_CLOSE_LOCAL, CHAT_CODE_PROTOCOL);
    fx_free(f);

    /* a frame length of 0 */
    f = fx_new(NULL);
    step_hs1(f, "alice");
    uint8_t zero[2] = {0, 0};
    feed(f, zero, 2);
    expect_closed(f, CHAT_CLOSE_LOCAL, CHAT_CODE_PROTOCOL);
    fx_free(f);
}

static void test_version_out_of_range(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    step_hs1(f, "alice");
    uint8_t buf[256];
    size_t n = make_hs2(f, 2, buf);
    feed(f, buf, n);
    expect_closed(f, CHAT_CLOSE_LOCAL, CHAT_CODE_VERSION);
    assert_int_equal(take(f), 0);
    fx_free(f);

    /* a client speaking 2..3 accepts 3 */
    chat_client_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.version_min = 2;
    cfg.version_max = 3;
    f = fx_new(&cfg);
    assert_int_equal(chat_client_start(f->c, "alice", f->now), CHAT_OK);
    take(f);
    assert_memory_equal(f->wire + 3 + 32, "CHAT\x02\x03", 6);
    uint8_t payload[64];
    size_t plen = 0;
    assert_int_equal(chat_handshake_read(&f->hs, f->wire + 3, 38, payload, sizeof payload, &plen),
                     CHAT_OK);
    n = make_hs2(f, 3, buf);
    feed(f, buf, n);
    chat_client_event ev;
    expect_event(f, &ev, CHAT_CLIENT_EV_SERVER_KEY);
    assert_int_equal(ev.version, 3);
    fx_free(f);

    /* ... and refuses 1 */
    f = fx_new(&cfg);
    assert_int_equal(chat_client_start(f->c, "alice", f->now), CHAT_OK);
    take(f);
    assert_int_equal(chat_handshake_read(&f->hs, f->wire + 3, 38, payload, sizeof payload, &plen),
                     CHAT_OK);
    n = make_hs2(f, 1, buf);
    feed(f, buf, n);
    expect_closed(f, CHAT_CLOSE_LOCAL, CHAT_CODE_VERSION);
    fx_free(f);

    /* an inverted range is refused at creation */
    cfg.version_min = 3;
    cfg.version_max = 2;
    chat_client *c = NULL;
    assert_int_equal(chat_client_new(&c, &cfg), CHAT_E_INVAL);
    assert_null(c);
}

static void test_bad_hs2(void **state)
{
    (void)state;
    /* a tampered HS2 fails to authenticate: close without a word */
    fx *f = fx_new(NULL);
    step_hs1(f, "alice");
    uint8_t buf[256];
    size_t n = make_hs2(f, 1, buf);
    buf[n - 1] ^= 0x01;
    feed(f, buf, n);
    expect_closed(f, CHAT_CLOSE_LOCAL, CHAT_CODE_PROTOCOL);
    assert_int_equal(take(f), 0);
    fx_free(f);

    /* an HS2 of the wrong size */
    f = fx_new(NULL);
    step_hs1(f, "alice");
    memset(buf, 0, sizeof buf);
    chat_frame_header(buf, CHAT_FRAME_HS2, 96);
    feed(f, buf, 99);
    expect_closed(f, CHAT_CLOSE_LOCAL, CHAT_CODE_PROTOCOL);
    fx_free(f);
}

static void test_challenge_over_limits(void **state)
{
    (void)state;
    chat_client_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.max_opslimit = 4;
    cfg.max_memlimit_kib = 1024;

    uint32_t cases[3][2] = {{5, MEM}, {OPS, 1025}, {4, 1024}};
    for (int i = 0; i < 3; i++) {
        fx *f = fx_new(&cfg);
        step_hs1(f, "alice");
        step_hs2(f);
        step_hs3(f, "alice");
        chat_msg m = challenge_msg(f, cases[i][0], cases[i][1]);
        srv_send1(f, &m);
        if (i < 2) {
            /* over the maximums: GOODBYE(PROTOCOL), no CHALLENGE event */
            assert_int_equal(srv_recv(f), 1);
            assert_int_equal(f->got[0].type, CHAT_MSG_GOODBYE);
            assert_int_equal(f->got[0].u.goodbye.code, CHAT_CODE_PROTOCOL);
            expect_closed(f, CHAT_CLOSE_LOCAL, CHAT_CODE_PROTOCOL);
            assert_int_equal(chat_client_prove(f->c, (const uint8_t *)"pw", 2), CHAT_E_CLOSED);
        } else {
            /* exactly at the maximums is fine */
            chat_client_event ev;
            expect_event(f, &ev, CHAT_CLIENT_EV_CHALLENGE);
            assert_int_equal(chat_client_get_state(f->c), CHAT_CLIENT_AWAIT_PASSWORD);
        }
        fx_free(f);
    }

    /* the defaults: 16 and 1 GiB */
    fx *f = fx_new(NULL);
    step_hs1(f, "alice");
    step_hs2(f);
    step_hs3(f, "alice");
    chat_msg m = challenge_msg(f, 17, MEM);
    srv_send1(f, &m);
    expect_closed(f, CHAT_CLOSE_LOCAL, CHAT_CODE_PROTOCOL);
    fx_free(f);
}

static void test_login_failed_retry(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    step_hs1(f, "Alice");
    step_hs2(f);
    step_hs3(f, "Alice");
    step_challenge(f);
    /* a wrong password: the server's check fails */
    assert_int_equal(step_proof(f, "hunter3", "alice"), CHAT_E_CRYPTO);
    /* login is not valid while waiting for the result */
    assert_int_equal(chat_client_login(f->c, "bob"), CHAT_E_STATE);

    chat_msg lf;
    memset(&lf, 0, sizeof lf);
    lf.type = CHAT_MSG_LOGIN_FAILED;
    lf.u.login_failed.code = CHAT_CODE_BAD_LOGIN;
    lf.u.login_failed.attempts_left = 2;
    lf.u.login_failed.text.p = (const uint8_t *)"nope";
    lf.u.login_failed.text.n = 4;
    srv_send1(f, &lf);
    chat_client_event ev;
    expect_event(f, &ev, CHAT_CLIENT_EV_LOGIN_FAILED);
    assert_int_equal(ev.msg.u.login_failed.code, CHAT_CODE_BAD_LOGIN);
    assert_int_equal(ev.msg.u.login_failed.attempts_left, 2);
    assert_true(str_is(ev.msg.u.login_failed.text, "nope"));
    assert_int_equal(chat_client_get_state(f->c), CHAT_CLIENT_AWAIT_RETRY);
    expect_no_event(f);

    /* retry as another user on the same connection */
    assert_int_equal(chat_client_login(f->c, "not valid"), CHAT_E_INVAL);
    assert_int_equal(chat_client_login(f->c, "Bob"), CHAT_OK);
    assert_int_equal(chat_client_get_state(f->c), CHAT_CLIENT_AWAIT_CHALLENGE);
    assert_int_equal(srv_recv(f), 1);
    assert_int_equal(f->got[f->ngot - 1].type, CHAT_MSG_LOGIN);
    assert_true(str_is(f->got[f->ngot - 1].u.login.user, "Bob"));

    step_challenge(f);
    /* the same h, the new name (folded) */
    assert_int_equal(step_proof(f, PASSWORD, "bob"), CHAT_OK);
    chat_msg *proof = &f->got[f->ngot - 1];
    assert_int_equal(chat_proof_verify(proof->u.proof.sig, f->pk, f->h,
                                       (const uint8_t *)"alice", 5),
                     CHAT_E_CRYPTO);

    /* a WELCOME for someone else is a protocol error... */
    fx *g = fx_new(NULL);
    step_hs1(g, "carol");
    step_hs2(g);
    step_hs3(g, "carol");
    step_challenge(g);
    assert_int_equal(step_proof(g, PASSWORD, "carol"), CHAT_OK);
    send_welcome(g, "mallory", 0);
    assert_int_equal(srv_recv(g), 1);
    assert_int_equal(g->got[g->ngot - 1].type, CHAT_MSG_GOODBYE);
    expect_closed(g, CHAT_CLOSE_LOCAL, CHAT_CODE_PROTOCOL);
    fx_free(g);

    /* ... the right one makes the client READY */
    send_welcome(f, "bob", 0);
    expect_event(f, &ev, CHAT_CLIENT_EV_WELCOME);
    assert_int_equal(chat_client_get_state(f->c), CHAT_CLIENT_READY);
    assert_string_equal(chat_client_user(f->c), "bob");
    assert_int_equal(chat_client_role(f->c), 0);
    fx_free(f);
}

static void test_login_failed_last_attempt(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    step_hs1(f, "alice");
    step_hs2(f);
    step_hs3(f, "alice");
    step_challenge(f);
    assert_int_equal(step_proof(f, "wrong", "alice"), CHAT_E_CRYPTO);
    chat_msg msgs[2];
    memset(msgs, 0, sizeof msgs);
    msgs[0].type = CHAT_MSG_LOGIN_FAILED;
    msgs[0].u.login_failed.code = CHAT_CODE_BAD_LOGIN;
    msgs[0].u.login_failed.attempts_left = 0;
    msgs[1].type = CHAT_MSG_GOODBYE;
    msgs[1].u.goodbye.code = CHAT_CODE_AUTH_LIMIT;
    msgs[1].u.goodbye.text.p = (const uint8_t *)"too many";
    msgs[1].u.goodbye.text.n = 8;
    /* LOGIN_FAILED alone first: no retry possible with 0 attempts left */
    srv_send1(f, &msgs[0]);
    assert_int_equal(chat_client_login(f->c, "alice"), CHAT_E_STATE);
    srv_send1(f, &msgs[1]);
    chat_client_event ev;
    expect_event(f, &ev, CHAT_CLIENT_EV_LOGIN_FAILED);
    assert_int_equal(ev.msg.u.login_failed.attempts_left, 0);
    expect_event(f, &ev, CHAT_CLIENT_EV_CLOSED);
    assert_int_equal(ev.close.origin, CHAT_CLOSE_PEER);
    assert_int_equal(ev.close.code, CHAT_CODE_AUTH_LIMIT);
    assert_true(str_is(ev.close.text, "too many"));
    assert_int_equal(ev.msg.type, CHAT_MSG_GOODBYE);
    expect_no_event(f);
    assert_int_equal(take(f), 0); /* GOODBYE is not answered */
    fx_free(f);
}

static void test_requests_ids_and_coalescing(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);

    /* requests before READY are refused */
    uint32_t req = 0;
    assert_int_equal(chat_client_join(f->c, "#a", &req), CHAT_E_STATE);
    to_ready(f);
    size_t frames_before = f->nframes, got_before = f->ngot;

    uint32_t ids[6];
    assert_int_equal(chat_client_join(f->c, "#a", &ids[0]), CHAT_OK);
    assert_int_equal(chat_client_say(f->c, "#a", "hi there", CHAT_KIND_SAY, &ids[1]), CHAT_OK);
    assert_int_equal(chat_client_say(f->c, "bob", "waves", CHAT_KIND_ACTION, &ids[2]), CHAT_OK);
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_LIST;
    m.req = 777; /* overwritten with a fresh id */
    assert_int_equal(chat_client_request(f->c, &m, &ids[3]), CHAT_OK);
    assert_int_equal(m.req, ids[3]);
    assert_int_equal(chat_client_part(f->c, "#a", &ids[4]), CHAT_OK);
    assert_int_equal(chat_client_passwd(f->c, (const uint8_t *)"new pw", 6, OPS, MEM, &ids[5]),
                     CHAT_OK);
    for (int i = 0; i < 6; i++) {
        assert_int_not_equal(ids[i], 0);
        if (i > 0)
            assert_true(ids[i] > ids[i - 1]);
    }

    /* invalid requests: nothing queued, no id used */
    assert_int_equal(chat_client_join(f->c, "nohash", &req), CHAT_E_INVAL);
    assert_int_equal(chat_client_say(f->c, "#a", "", CHAT_KIND_SAY, &req), CHAT_E_INVAL);
    assert_int_equal(chat_client_say(f->c, "#a", "bell\a", CHAT_KIND_SAY, &req), CHAT_E_INVAL);
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_PROOF; /* not a request */
    assert_int_equal(chat_client_request(f->c, &m, &req), CHAT_E_INVAL);
    m.type = CHAT_MSG_GOODBYE;
    assert_int_equal(chat_client_request(f->c, &m, &req), CHAT_E_INVAL);
    m.type = CHAT_MSG_OK;
    assert_int_equal(chat_client_request(f->c, &m, &req), CHAT_E_INVAL);

    /* everything queued goes out sealed in one TRANSPORT frame */
    assert_int_equal(srv_recv(f), 6);
    assert_int_equal(f->nframes - frames_before, 1);
    chat_msg *g = &f->got[got_before];
    assert_int_equal(g[0].type, CHAT_MSG_JOIN);
    assert_true(str_is(g[0].u.room.room, "#a"));
    assert_int_equal(g[1].type, CHAT_MSG_SEND);
    assert_int_equal(g[1].u.send.kind, CHAT_KIND_SAY);
    assert_true(str_is(g[1].u.send.text, "hi there"));
    assert_int_equal(g[2].type, CHAT_MSG_SEND);
    assert_int_equal(g[2].u.send.kind, CHAT_KIND_ACTION);
    assert_true(str_is(g[2].u.send.target, "bob"));
    assert_int_equal(g[3].type, CHAT_MSG_LIST);
    assert_int_equal(g[4].type, CHAT_MSG_PART);
    assert_int_equal(g[5].type, CHAT_MSG_PASSWD);
    assert_int_equal(g[5].u.passwd.v.opslimit, OPS);
    assert_int_equal(g[5].u.passwd.v.memlimit_kib, MEM);
    for (int i = 0; i < 6; i++)
        assert_int_equal(g[i].req, ids[i]);
    /* the new verifier really is the new password's */
    uint8_t seed[32], pk[32];
    assert_int_equal(chat_seed_derive(seed, (const uint8_t *)"new pw", 6, g[5].u.passwd.v.salt,
                                      OPS, MEM),
                     CHAT_OK);
    chat_seed_public(pk, seed);
    assert_memory_equal(pk, g[5].u.passwd.v.pk, 32);

    /* the next id continues after the last good one */
    assert_int_equal(chat_client_join(f->c, "#b", &req), CHAT_OK);
    assert_int_equal(req, ids[5] + 1);

    /* many big requests: split into several frames, none over the max */
    char text[CHAT_TEXT_MAX + 1];
    memset(text, 'x', CHAT_TEXT_MAX);
    text[CHAT_TEXT_MAX] = '\0';
    for (int i = 0; i < 40; i++)
        assert_int_equal(chat_client_say(f->c, "#a", text, CHAT_KIND_SAY, NULL), CHAT_OK);
    frames_before = f->nframes;
    got_before = f->ngot;
    /* 40 * ~4011 bytes: three frames (65518 bytes fit 16 messages each) */
    size_t total = 0;
    const uint8_t *out = chat_client_out_peek(f->c, &total);
    assert_non_null(out);
    size_t pos = 0, frames = 0;
    while (pos < total) {
        chat_frame fr;
        size_t used = 0;
        assert_int_equal(chat_frame_decode(out + pos, total - pos, &fr, &used), CHAT_OK);
        assert_true(fr.body_len <= CHAT_FRAME_BODY_MAX);
        pos += used;
        frames++;
    }
    assert_int_equal(frames, 3);
    fx_free(f);
}

static void test_add_user(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    to_ready(f);
    size_t before = f->ngot;
    uint32_t req = 0;
    assert_int_equal(chat_client_add_user(f->c, "dave", CHAT_ROLE_ADMIN, (const uint8_t *)"pw", 2,
                                          OPS, MEM, &req),
                     CHAT_OK);
    assert_int_equal(chat_client_add_user(f->c, "9dave", CHAT_ROLE_USER, (const uint8_t *)"pw",
                                          2, OPS, MEM, NULL),
                     CHAT_E_INVAL);
    assert_int_equal(chat_client_add_user(f->c, "dave", CHAT_ROLE_USER, (const uint8_t *)"pw", 0,
                                          OPS, MEM, NULL),
                     CHAT_E_INVAL);
    assert_int_equal(srv_recv(f), 1);
    chat_msg *m = &f->got[before];
    assert_int_equal(m->type, CHAT_MSG_ADD_USER);
    assert_int_equal(m->req, req);
    assert_true(str_is(m->u.add_user.user, "dave"));
    assert_int_equal(m->u.add_user.role, CHAT_ROLE_ADMIN);
    assert_int_equal(m->u.add_user.v.opslimit, OPS);
    fx_free(f);
}

static void test_several_messages_one_frame(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    to_ready(f);
    chat_msg ms[4];
    memset(ms, 0, sizeof ms);
    ms[0].type = CHAT_MSG_JOINED;
    ms[0].u.joined.room.p = (const uint8_t *)"#a";
    ms[0].u.joined.room.n = 2;
    ms[0].u.joined.user.p = (const uint8_t *)"alice";
    ms[0].u.joined.user.n = 5;
    ms[0].u.joined.time_ms = 42;
    uint8_t entries[64];
    size_t elen = 0;
    chat_name_entry ne;
    ne.user.p = (const uint8_t *)"alice";
    ne.user.n = 5;
    assert_int_equal(chat_entry_put_name(entries, sizeof entries, &elen, &ne), CHAT_OK);
    ne.user.p = (const uint8_t *)"bob";
    ne.user.n = 3;
    assert_int_equal(chat_entry_put_name(entries, sizeof entries, &elen, &ne), CHAT_OK);
    ms[1].type = CHAT_MSG_NAMES;
    ms[1].req = 1;
    ms[1].u.names.room.p = (const uint8_t *)"#a";
    ms[1].u.names.room.n = 2;
    ms[1].u.names.count = 2;
    ms[1].u.names.entries = entries;
    ms[1].u.names.entries_len = elen;
    ms[2].type = CHAT_MSG_MESSAGE;
    ms[2].u.message.target.p = (const uint8_t *)"#a";
    ms[2].u.message.target.n = 2;
    ms[2].u.message.from.p = (const uint8_t *)"bob";
    ms[2].u.message.from.n = 3;
    ms[2].u.message.seq = 7;
    ms[2].u.message.time_ms = 43;
    ms[2].u.message.text.p = (const uint8_t *)"hello";
    ms[2].u.message.text.n = 5;
    ms[3].type = CHAT_MSG_ERROR;
    ms[3].req = 9;
    ms[3].u.error.code = CHAT_CODE_NO_SUCH_ROOM;
    srv_send(f, ms, 4);

    chat_client_event ev;
    expect_event(f, &ev, CHAT_CLIENT_EV_MESSAGE);
    assert_int_equal(ev.msg.type, CHAT_MSG_JOINED);
    assert_true(str_is(ev.msg.u.joined.user, "alice"));
    assert_int_equal(ev.msg.u.joined.time_ms, 42);
    expect_event(f, &ev, CHAT_CLIENT_EV_MESSAGE);
    assert_int_equal(ev.msg.type, CHAT_MSG_NAMES);
    assert_int_equal(ev.msg.u.names.count, 2);
    const uint8_t *p = ev.msg.u.names.entries;
    size_t left = ev.msg.u.names.entries_len;
    assert_int_equal(chat_entry_get_name(&p, &left, &ne), CHAT_OK);
    assert_true(str_is(ne.user, "alice"));
    assert_int_equal(chat_entry_get_name(&p, &left, &ne), CHAT_OK);
    assert_true(str_is(ne.user, "bob"));
    assert_int_equal(left, 0);
    expect_event(f, &ev, CHAT_CLIENT_EV_MESSAGE);
    assert_int_equal(ev.msg.type, CHAT_MSG_MESSAGE);
    assert_true(str_is(ev.msg.u.message.text, "hello"));
    assert_int_equal(ev.msg.u.message.seq, 7);
    expect_event(f, &ev, CHAT_CLIENT_EV_MESSAGE);
    assert_int_equal(ev.msg.type, CHAT_MSG_ERROR);
    assert_int_equal(ev.msg.req, 9);
    assert_int_equal(ev.msg.u.error.code, CHAT_CODE_NO_SUCH_ROOM);
    expect_no_event(f);
    assert_int_equal(take(f), 0);
    fx_free(f);
}

static chat_msg text_message(uint64_t seq, const char *text)
{
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_MESSAGE;
    m.u.message.target.p = (const uint8_t *)"#a";
    m.u.message.target.n = 2;
    m.u.message.from.p = (const uint8_t *)"bob";
    m.u.message.from.n = 3;
    m.u.message.seq = seq;
    m.u.message.text.p = (const uint8_t *)text;
    m.u.message.text.n = strlen(text);
    return m;
}

static void test_partial_frames(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    step_hs1(f, "alice");

    /* HS2 byte by byte */
    uint8_t hs2[256];
    size_t n = make_hs2(f, 1, hs2);
    for (size_t i = 0; i < n; i++) {
        expect_no_event(f);
        feed(f, hs2 + i, 1);
    }
    chat_client_event ev;
    expect_event(f, &ev, CHAT_CLIENT_EV_SERVER_KEY);
    assert_int_equal(take(f), 0);
    step_hs3(f, "alice");
    step_challenge(f);
    assert_int_equal(step_proof(f, PASSWORD, "alice"), CHAT_OK);

    /* WELCOME + two frames of messages, all glued together, byte by byte */
    static uint8_t stream[4096];
    size_t len = 0;
    chat_msg w;
    memset(&w, 0, sizeof w);
    w.type = CHAT_MSG_WELCOME;
    w.u.welcome.user.p = (const uint8_t *)"alice";
    w.u.welcome.user.n = 5;
    len += srv_seal(f, &w, 1, stream + len, sizeof stream - len);
    chat_msg a[2] = {text_message(1, "one"), text_message(2, "two")};
    len += srv_seal(f, a, 2, stream + len, sizeof stream - len);
    chat_msg b = text_message(3, "three");
    len += srv_seal(f, &b, 1, stream + len, sizeof stream - len);
    for (size_t i = 0; i < len; i++)
        feed(f, stream + i, 1);
    expect_event(f, &ev, CHAT_CLIENT_EV_WELCOME);
    const char *want[3] = {"one", "two", "three"};
    for (int i = 0; i < 3; i++) {
        expect_event(f, &ev, CHAT_CLIENT_EV_MESSAGE);
        assert_int_equal(ev.msg.u.message.seq, (uint64_t)i + 1);
        assert_true(str_is(ev.msg.u.message.text, want[i]));
    }
    expect_no_event(f);

    /* in odd-sized chunks that cut frames anywhere, interleaved with draining */
    len = 0;
    for (int k = 0; k < 20; k++) {
        chat_msg m = text_message((uint64_t)k + 10, "chunky");
        len += srv_seal(f, &m, 1, stream + len, sizeof stream - len);
    }
    size_t pos = 0, step = 1, seen = 0;
    while (pos < len) {
        size_t k = step < len - pos ? step : len - pos;
        feed(f, stream + pos, k);
        pos += k;
        step = step % 7 + 2;
        while (chat_client_next_event(f->c, &ev)) {
            assert_int_equal(ev.type, CHAT_CLIENT_EV_MESSAGE);
            assert_int_equal(ev.msg.u.message.seq, seen + 10);
            assert_true(str_is(ev.msg.u.message.text, "chunky"));
            seen++;
        }
    }
    assert_int_equal(seen, 20);
    /* feeding nothing is fine */
    feed(f, NULL, 0);
    expect_no_event(f);
    fx_free(f);
}

static void test_goodbye(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    to_ready(f);
    /* messages before the GOODBYE in the same frame are delivered first;
     * whatever follows it is ignored */
    chat_msg ms[3];
    ms[0] = text_message(1, "last words");
    memset(&ms[1], 0, sizeof ms[1]);
    ms[1].type = CHAT_MSG_GOODBYE;
    ms[1].u.goodbye.code = CHAT_CODE_KICKED;
    ms[1].u.goodbye.text.p = (const uint8_t *)"behave";
    ms[1].u.goodbye.text.n = 6;
    ms[2] = text_message(2, "ghost");
    srv_send(f, ms, 3);
    assert_int_equal(chat_client_get_state(f->c), CHAT_CLIENT_CLOSED);
    /* nothing can be queued any more */
    assert_int_equal(chat_client_join(f->c, "#a", NULL), CHAT_E_CLOSED);
    chat_client_event ev;
    expect_event(f, &ev, CHAT_CLIENT_EV_MESSAGE);
    assert_true(str_is(ev.msg.u.message.text, "last words"));
    expect_event(f, &ev, CHAT_CLIENT_EV_CLOSED);
    assert_int_equal(ev.close.origin, CHAT_CLOSE_PEER);
    assert_int_equal(ev.close.code, CHAT_CODE_KICKED);
    assert_true(str_is(ev.close.text, "behave"));
    expect_no_event(f);
    assert_int_equal(take(f), 0);
    assert_int_equal(chat_client_feed(f->c, (const uint8_t *)"", 0, f->now), CHAT_E_CLOSED);
    /* EOF after a clean close changes nothing */
    chat_client_eof(f->c);
    expect_no_event(f);
    assert_int_equal(chat_client_next_deadline(f->c), CHAT_NO_DEADLINE);
    fx_free(f);

    /* GOODBYE during login (LOGIN_TIMEOUT) */
    f = fx_new(NULL);
    step_hs1(f, "alice");
    step_hs2(f);
    step_hs3(f, "alice");
    step_challenge(f);
    chat_msg g;
    memset(&g, 0, sizeof g);
    g.type = CHAT_MSG_GOODBYE;
    g.u.goodbye.code = CHAT_CODE_LOGIN_TIMEOUT;
    srv_send1(f, &g);
    expect_closed(f, CHAT_CLOSE_PEER, CHAT_CODE_LOGIN_TIMEOUT);
    assert_int_equal(chat_client_prove(f->c, (const uint8_t *)"x", 1), CHAT_E_CLOSED);
    fx_free(f);
}

static void test_eof(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    to_ready(f);
    chat_msg m = text_message(1, "before the cut");
    srv_send1(f, &m);
    assert_int_equal(chat_client_join(f->c, "#a", NULL), CHAT_OK);
    chat_client_eof(f->c);
    assert_int_equal(chat_client_get_state(f->c), CHAT_CLIENT_CLOSED);
    chat_client_event ev;
    expect_event(f, &ev, CHAT_CLIENT_EV_MESSAGE);
    assert_true(str_is(ev.msg.u.message.text, "before the cut"));
    expect_closed(f, CHAT_CLOSE_LOST, CHAT_CODE_CONN_LOST);
    /* the stream is gone: nothing to write */
    assert_int_equal(take(f), 0);
    chat_client_eof(f->c);
    expect_no_event(f);
    fx_free(f);

    /* EOF in the middle of the handshake, with a partial frame buffered */
    f = fx_new(NULL);
    step_hs1(f, "alice");
    uint8_t part[2] = {0, 98};
    feed(f, part, 2);
    chat_client_eof(f->c);
    expect_closed(f, CHAT_CLOSE_LOST, CHAT_CODE_CONN_LOST);
    fx_free(f);
}

static void test_bit_flip(void **state)
{
    (void)state;
    /* every bit of a transport frame's body */
    for (size_t bit = 0; bit < 8 * 40; bit += 7) {
        fx *f = fx_new(NULL);
        to_ready(f);
        chat_msg ms[2] = {text_message(1, "first"), text_message(2, "second")};
        uint8_t buf[256];
        size_t n = srv_seal(f, ms, 2, buf, sizeof buf);
        size_t byte = 3 + bit / 8;
        if (byte >= n)
            byte = n - 1;
        buf[byte] ^= (uint8_t)(1u << (bit % 8));
        feed(f, buf, n);
        /* nothing of the frame is acted on; no reply into a corrupt stream */
        expect_closed(f, CHAT_CLOSE_LOCAL, CHAT_CODE_PROTOCOL);
        assert_int_equal(take(f), 0);
        fx_free(f);
    }

    /* a replayed frame fails too (implicit nonce) */
    fx *f = fx_new(NULL);
    to_ready(f);
    chat_msg m = text_message(1, "once");
    uint8_t buf[256];
    size_t n = srv_seal(f, &m, 1, buf, sizeof buf);
    feed(f, buf, n);
    chat_client_event ev;
    expect_event(f, &ev, CHAT_CLIENT_EV_MESSAGE);
    feed(f, buf, n);
    expect_closed(f, CHAT_CLOSE_LOCAL, CHAT_CODE_PROTOCOL);
    fx_free(f);

    /* a frame too short to hold a tag */
    f = fx_new(NULL);
    to_ready(f);
    uint8_t shortf[8] = {0, 6, CHAT_FRAME_TRANSPORT, 1, 2, 3, 4, 5};
    feed(f, shortf, 8);
    expect_closed(f, CHAT_CLOSE_LOCAL, CHAT_CODE_PROTOCOL);
    fx_free(f);
}

static void test_malformed_messages(void **state)
{
    (void)state;
    /* an authentic frame with an empty plaintext */
    fx *f = fx_new(NULL);
    to_ready(f);
    uint8_t buf[512];
    chat_frame_header(buf, CHAT_FRAME_TRANSPORT, 16);
    assert_int_equal(chat_cipher_encrypt(&f->s_tx, NULL, 0, NULL, 0, buf + 3), CHAT_OK);
    feed(f, buf, 19);
    assert_int_equal(srv_recv(f), 1);
    assert_int_equal(f->got[f->ngot - 1].type, CHAT_MSG_GOODBYE);
    assert_int_equal(f->got[f->ngot - 1].u.goodbye.code, CHAT_CODE_PROTOCOL);
    expect_closed(f, CHAT_CLOSE_LOCAL, CHAT_CODE_PROTOCOL);
    fx_free(f);

    /* a good message, then one whose length runs past the end */
    f = fx_new(NULL);
    to_ready(f);
    uint8_t pt[64];
    size_t k = 0;
    chat_msg ok;
    memset(&ok, 0, sizeof ok);
    ok.type = CHAT_MSG_OK;
    ok.req = 5;
    assert_int_equal(chat_msg_encode(&ok, pt, sizeof pt, &k), CHAT_OK);
    pt[k++] = 0;
    pt[k++] = 9;
    pt[k++] = CHAT_MSG_OK;
    chat_frame_header(buf, CHAT_FRAME_TRANSPORT, k + 16);
    assert_int_equal(chat_cipher_encrypt(&f->s_tx, NULL, 0, pt, k, buf + 3), CHAT_OK);
    feed(f, buf, 3 + k + 16);
    chat_client_event ev;
    expect_event(f, &ev, CHAT_CLIENT_EV_MESSAGE);
    assert_int_equal(ev.msg.req, 5);
    expect_closed(f, CHAT_CLOSE_LOCAL, CHAT_CODE_PROTOCOL);
    assert_int_equal(srv_recv(f), 1);
    assert_int_equal(f->got[f->ngot - 1].type, CHAT_MSG_GOODBYE);
    fx_free(f);

    /* messages that are valid but unexpected in READY: a CHALLENGE, a
     * WELCOME, a client->server JOIN */
    uint8_t types[3] = {CHAT_MSG_CHALLENGE, CHAT_MSG_WELCOME, CHAT_MSG_JOIN};
    for (int i = 0; i < 3; i++) {
        f = fx_new(NULL);
        to_ready(f);
        chat_msg m;
        memset(&m, 0, sizeof m);
        m.type = types[i];
        if (types[i] == CHAT_MSG_CHALLENGE) {
            m = challenge_msg(f, OPS, MEM);
        } else if (types[i] == CHAT_MSG_WELCOME) {
            m.u.welcome.user.p = (const uint8_t *)"alice";
            m.u.welcome.user.n = 5;
        } else {
            m.req = 1;
            m.u.room.room.p = (const uint8_t *)"#a";
            m.u.room.room.n = 2;
        }
        srv_send1(f, &m);
        expect_closed(f, CHAT_CLOSE_LOCAL, CHAT_CODE_PROTOCOL);
        assert_int_equal(srv_recv(f), 1);
        assert_int_equal(f->got[f->ngot - 1].type, CHAT_MSG_GOODBYE);
        assert_int_equal(f->got[f->ngot - 1].u.goodbye.code, CHAT_CODE_PROTOCOL);
        fx_free(f);
    }

    /* anything but CHALLENGE right after HS3; anything while the client
     * owes the proof */
    for (int i = 0; i < 2; i++) {
        f = fx_new(NULL);
        step_hs1(f, "alice");
        step_hs2(f);
        step_hs3(f, "alice");
        if (i == 1)
            step_challenge(f);
        chat_msg m = text_message(1, "early");
        srv_send1(f, &m);
        expect_closed(f, CHAT_CLOSE_LOCAL, CHAT_CODE_PROTOCOL);
        assert_int_equal(srv_recv(f), 1);
        assert_int_equal(f->got[f->ngot - 1].type, CHAT_MSG_GOODBYE);
        fx_free(f);
    }
}

static void test_ping(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    assert_int_equal(chat_client_next_deadline(f->c), CHAT_NO_DEADLINE);
    f->now = 5000;
    to_ready(f); /* the PROOF went out at 5000 */
    uint64_t d = chat_client_next_deadline(f->c);
    assert_int_equal(d, 5000 + PING_MS);

    chat_client_tick(f->c, d - 1);
    assert_int_equal(take(f), 0);
    chat_client_tick(f->c, d);
    size_t before = f->ngot;
    assert_int_equal(srv_recv(f), 1);
    assert_int_equal(f->got[before].type, CHAT_MSG_PING);
    uint32_t ping = f->got[before].req;
    assert_int_not_equal(ping, 0);
    assert_int_equal(chat_client_next_deadline(f->c), d + PING_MS);
    /* the OK for the keep-alive is swallowed; other OKs are delivered */
    chat_msg ok[2];
    memset(ok, 0, sizeof ok);
    ok[0].type = CHAT_MSG_OK;
    ok[0].req = ping;
    ok[1].type = CHAT_MSG_OK;
    ok[1].req = ping + 100;
    srv_send(f, ok, 2);
    chat_client_event ev;
    expect_event(f, &ev, CHAT_CLIENT_EV_MESSAGE);
    assert_int_equal(ev.msg.req, ping + 100);
    expect_no_event(f);

    /* sending something pushes the deadline back */
    f->now = d + 500;
    feed(f, NULL, 0); /* time passes in through feed */
    uint32_t req = 0;
    assert_int_equal(chat_client_join(f->c, "#a", &req), CHAT_OK);
    assert_true(req > ping);
    assert_int_equal(chat_client_next_deadline(f->c), d + 500 + PING_MS);
    chat_client_tick(f->c, d + PING_MS);
    assert_int_equal(srv_recv(f), 1);
    assert_int_equal(f->got[f->ngot - 1].type, CHAT_MSG_JOIN);
    chat_client_tick(f->c, d + 500 + PING_MS);
    assert_int_equal(srv_recv(f), 1);
    assert_int_equal(f->got[f->ngot - 1].type, CHAT_MSG_PING);
    assert_true(f->got[f->ngot - 1].req > req);
    fx_free(f);
}

/* Lots of traffic through the inbox, drained slowly: views must stay
 * valid across compaction (ASan checks the reads). */
static void test_inbox_churn(void **state)
{
    (void)state;
    fx *f = fx_new(NULL);
    to_ready(f);
    char text[1001];
    memset(text, 'q', 1000);
    text[1000] = '\0';
    uint64_t sent = 0, seen = 0;
    for (int round = 0; round < 20; round++) {
        /* one frame per message, each with its own first letter */
        for (int i = 0; i < 30; i++) {
            text[0] = (char)('a' + sent % 26);
            chat_msg m = text_message(sent + 1, text);
            srv_send1(f, &m);
            sent++;
        }
        /* drain only part of what came in */
        chat_client_event ev;
        for (int i = 0; i < 20 && chat_client_next_event(f->c, &ev); i++) {
            assert_int_equal(ev.type, CHAT_CLIENT_EV_MESSAGE);
            assert_int_equal(ev.msg.u.message.seq, seen + 1);
            assert_int_equal(ev.msg.u.message.text.n, 1000);
            assert_int_equal(ev.msg.u.message.text.p[0], 'a' + seen % 26);
            assert_int_equal(ev.msg.u.message.text.p[999], 'q');
            seen++;
        }
    }
    chat_client_event ev;
    while (chat_client_next_event(f->c, &ev)) {
        assert_int_equal(ev.msg.u.message.seq, seen + 1);
        assert_int_equal(ev.msg.u.message.text.p[0], 'a' + seen % 26);
        seen++;
    }
    assert_int_equal(seen, sent);
    assert_int_equal(chat_client_get_state(f->c), CHAT_CLIENT_READY);
    fx_free(f);
}

static void test_in_max(void **state)
{
    (void)state;
    chat_client_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.in_max = 100000;
    fx *f = fx_new(&cfg);
    to_ready(f);
    char text[4001];
    memset(text, 'z', 4000);
    text[4000] = '\0';
    /* nobody drains the events: the bound closes the connection */
    int i;
    for (i = 0; i < 100 && chat_client_get_state(f->c) != CHAT_CLIENT_CLOSED; i++) {
        chat_msg m = text_message((uint64_t)i + 1, text);
        srv_send1(f, &m);
    }
    assert_int_equal(chat_client_get_state(f->c), CHAT_CLIENT_CLOSED);
    assert_true(i > 20); /* ~24 messages of 4 KB fit 100000 bytes */
    assert_int_equal(srv_recv(f), 1);
    assert_int_equal(f->got[f->ngot - 1].type, CHAT_MSG_GOODBYE);
    assert_int_equal(f->got[f->ngot - 1].u.goodbye.code, CHAT_CODE_TOO_SLOW);
    /* what arrived before is still delivered, then CLOSED */
    chat_client_event ev;
    int n = 0;
    while (chat_client_next_event(f->c, &ev) && ev.type == CHAT_CLIENT_EV_MESSAGE)
        n++;
    assert_true(n > 20);
    assert_int_equal(ev.type, CHAT_CLIENT_EV_CLOSED);
    assert_int_equal(ev.close.origin, CHAT_CLOSE_LOCAL);
    assert_int_equal(ev.close.code, CHAT_CODE_TOO_SLOW);
    fx_free(f);

    /* draining as it goes keeps it open */
    f = fx_new(&cfg);
    to_ready(f);
    for (i = 0; i < 100; i++) {
        chat_msg m = text_message((uint64_t)i + 1, text);
        srv_send1(f, &m);
        while (chat_client_next_event(f->c, &ev))
            assert_int_equal(ev.type, CHAT_CLIENT_EV_MESSAGE);
    }
    assert_int_equal(chat_client_get_state(f->c), CHAT_CLIENT_READY);
    fx_free(f);
}

static void test_generated_key_and_defaults(void **state)
{
    (void)state;
    /* no static key in the config: one is drawn from the rng */
    test_rng r1 = {42}, r2 = {42};
    chat_client_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rng.fill = test_fill;
    cfg.rng.ctx = &r1;
    chat_client *a = NULL, *b = NULL;
    assert_int_equal(chat_client_new(&a, &cfg), CHAT_OK);
    cfg.rng.ctx = &r2;
    assert_int_equal(chat_client_new(&b, &cfg), CHAT_OK);
    /* same rng stream -> identical HS1 bytes (deterministic) */
    assert_int_equal(chat_client_start(a, "x", 0), CHAT_OK);
    assert_int_equal(chat_client_start(b, "x", 0), CHAT_OK);
    size_t la = 0, lb = 0;
    const uint8_t *pa = chat_client_out_peek(a, &la);
    const uint8_t *pb = chat_client_out_peek(b, &lb);
    assert_int_equal(la, 41);
    assert_int_equal(lb, 41);
    assert_memory_equal(pa, pb, 41);
    /* partial acknowledgement */
    chat_client_out_ack(a, 10);
    pa = chat_client_out_peek(a, &la);
    assert_int_equal(la, 31);
    assert_memory_equal(pa, pb + 10, 31);
    chat_client_free(a);
    chat_client_free(b);

    /* NULL config: all defaults, libsodium's rng */
    assert_int_equal(chat_client_new(&a, NULL), CHAT_OK);
    assert_int_equal(chat_client_start(a, "bad name", 0), CHAT_E_INVAL);
    assert_int_equal(chat_client_start(a, "", 0), CHAT_E_INVAL);
    assert_int_equal(chat_client_start(a, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0), CHAT_E_INVAL);
    assert_int_equal(chat_client_get_state(a), CHAT_CLIENT_START);
    /* feeding before start is a misuse */
    assert_int_equal(chat_client_feed(a, (const uint8_t *)"x", 1, 0), CHAT_E_STATE);
    assert_int_equal(chat_client_start(a, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0), CHAT_OK);
    chat_client_free(a);
    chat_client_free(NULL);
    assert_int_equal(chat_client_get_state(NULL), CHAT_CLIENT_CLOSED);
}

/* A failing allocator for the client object itself and for its buffers. */
typedef struct failer {
    int left; /* allocations allowed before failing; -1: unlimited */
} failer;

static void *f_alloc(void *ctx, size_t n)
{
    failer *fl = ctx;
    if (fl->left == 0)
        return NULL;
    if (fl->left > 0)
        fl->left--;
    return malloc(n);
}

static void *f_realloc(void *ctx, void *p, size_t n)
{
    failer *fl = ctx;
    if (fl->left == 0)
        return NULL;
    if (fl->left > 0)
        fl->left--;
    return realloc(p, n);
}

static void f_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    failer fl = {0};
    chat_client_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.alloc.alloc = f_alloc;
    cfg.alloc.realloc = f_realloc;
    cfg.alloc.free = f_free;
    cfg.alloc.ctx = &fl;
    chat_client *c = NULL;
    assert_int_equal(chat_client_new(&c, &cfg), CHAT_E_NOMEM);
    assert_null(c);

    /* the client exists but its output buffer cannot grow */
    fl.left = 1;
    assert_int_equal(chat_client_new(&c, &cfg), CHAT_OK);
    assert_int_equal(chat_client_start(c, "alice", 0), CHAT_E_NOMEM);
    assert_int_equal(chat_client_get_state(c), CHAT_CLIENT_START);
    fl.left = -1;
    assert_int_equal(chat_client_start(c, "alice", 0), CHAT_OK);
    chat_client_free(c);

    /* input that cannot be stored closes the connection */
    fx *f = fx_new(&cfg);
    step_hs1(f, "alice");
    step_hs2(f);
    step_hs3(f, "alice");
    chat_msg m = challenge_msg(f, OPS, MEM);
    fl.left = 0;
    uint8_t buf[256];
    size_t n = srv_seal(f, &m, 1, buf, sizeof buf);
    assert_int_equal(chat_client_feed(f->c, buf, n, f->now), CHAT_E_NOMEM);
    fl.left = -1;
    assert_int_equal(chat_client_get_state(f->c), CHAT_CLIENT_CLOSED);
    chat_client_event ev;
    expect_event(f, &ev, CHAT_CLIENT_EV_CLOSED);
    assert_int_equal(ev.close.origin, CHAT_CLOSE_LOCAL);
    fx_free(f);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_happy_path),
        cmocka_unit_test(test_refuse_key),
        cmocka_unit_test(test_reject),
        cmocka_unit_test(test_bad_reject_and_unexpected_frames),
        cmocka_unit_test(test_version_out_of_range),
        cmocka_unit_test(test_bad_hs2),
        cmocka_unit_test(test_challenge_over_limits),
        cmocka_unit_test(test_login_failed_retry),
        cmocka_unit_test(test_login_failed_last_attempt),
        cmocka_unit_test(test_requests_ids_and_coalescing),
        cmocka_unit_test(test_add_user),
        cmocka_unit_test(test_several_messages_one_frame),
        cmocka_unit_test(test_partial_frames),
        cmocka_unit_test(test_goodbye),
        cmocka_unit_test(test_eof),
        cmocka_unit_test(test_bit_flip),
        cmocka_unit_test(test_malformed_messages),
        cmocka_unit_test(test_ping),
        cmocka_unit_test(test_inbox_churn),
        cmocka_unit_test(test_in_max),
        cmocka_unit_test(test_generated_key_and_defaults),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
