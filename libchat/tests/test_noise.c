/* Unit tests for the Noise module (chat/noise.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "chat/noise.h"

#define XX "Noise_XX_25519_ChaChaPoly_SHA256"
#define NN "Noise_NN_25519_ChaChaPoly_SHA256"
#define NK "Noise_NK_25519_ChaChaPoly_SHA256"

/* ---------------------------------------------------------------------
 * Deterministic test rng (splitmix64): reproducible keys and transcripts.
 * ------------------------------------------------------------------- */

typedef struct test_rng {
    uint64_t state;
    size_t calls;
} test_rng;

static void test_rng_fill(void *ctx, uint8_t *buf, size_t len)
{
    test_rng *r = ctx;
    r->calls++;
    for (size_t i = 0; i < len; i++) {
        if (i % 8 == 0) {
            r->state += 0x9E3779B97F4A7C15u;
        }
        uint64_t z = r->state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
        z ^= z >> 31;
        buf[i] = (uint8_t)(z >> (8 * (i % 8)));
    }
}

static chat_rng rng_of(test_rng *r)
{
    chat_rng rng = {test_rng_fill, r};
    return rng;
}

/* ---------------------------------------------------------------------
 * Fixture helpers
 * ------------------------------------------------------------------- */

typedef struct party {
    uint8_t priv[CHAT_NOISE_DHLEN], pub[CHAT_NOISE_DHLEN];
    test_rng rng;
    chat_handshake hs;
    chat_cipher send, recv;
} party;

static void party_keys(party *p, uint64_t seed)
{
    memset(p, 0, sizeof *p);
    p->rng.state = seed;
    chat_x25519_generate(p->priv, p->pub, rng_of(&p->rng));
}

static void xx_init(party *a, party *b)
{
    static const uint8_t prologue[] = "libchat test";
    party_keys(a, 1);
    party_keys(b, 2);
    assert_int_equal(chat_handshake_init(&a->hs, XX, 1, prologue, sizeof prologue, a->priv,
                                         NULL, rng_of(&a->rng)),
                     CHAT_OK);
    assert_int_equal(chat_handshake_init(&b->hs, XX, 0, prologue, sizeof prologue, b->priv,
                                         NULL, rng_of(&b->rng)),
                     CHAT_OK);
}

/* Sends one handshake message from w to r with a payload, checking it
 * arrives intact. Returns the message length. */
static size_t hs_step(party *w, party *r, const char *payload, uint8_t *msg)
{
    uint8_t got[CHAT_NOISE_MAX_MSG];
    size_t len = 0, plen = 0, n = strlen(payload);
    assert_true(chat_handshake_my_turn(&w->hs));
    assert_false(chat_handshake_my_turn(&r->hs));
    assert_int_equal(chat_handshake_write(&w->hs, (const uint8_t *)payload, n, msg,
                                          CHAT_NOISE_MAX_MSG, &len),
                     CHAT_OK);
    assert_int_equal(chat_handshake_read(&r->hs, msg, len, got, sizeof got, &plen), CHAT_OK);
    assert_int_equal(plen, n);
    assert_memory_equal(got, payload, n);
    return len;
}

/* Runs a whole handshake, whoever's turn it is, then splits both sides. */
static void run_handshake(party *ini, party *res)
{
    uint8_t msg[CHAT_NOISE_MAX_MSG];
    int steps = 0;
    while (!chat_handshake_done(&ini->hs)) {
        assert_true(steps++ < CHAT_NOISE_MAX_MSGS);
        if (chat_handshake_my_turn(&ini->hs))
            hs_step(ini, res, "from initiator", msg);
        else
            hs_step(res, ini, "from responder", msg);
    }
    assert_true(chat_handshake_done(&res->hs));
    assert_int_equal(chat_handshake_split(&ini->hs, &ini->send, &ini->recv), CHAT_OK);
    assert_int_equal(chat_handshake_split(&res->hs, &res->recv, &res->send), CHAT_OK);
}

/* One transport message from a to b. */
static void transport_ok(chat_cipher *send, chat_cipher *recv, const char *text)
{
    uint8_t ct[256], pt[256];
    size_t n = strlen(text);
    assert_true(n + CHAT_NOISE_TAGLEN <= sizeof ct);
    assert_int_equal(chat_cipher_encrypt(send, NULL, 0, (const uint8_t *)text, n, ct), CHAT_OK);
    assert_memory_not_equal(ct, text, n); /* really encrypted */
    assert_int_equal(chat_cipher_decrypt(recv, NULL, 0, ct, n + CHAT_NOISE_TAGLEN, pt), CHAT_OK);
    assert_memory_equal(pt, text, n);
}

static void hex_to(uint8_t *out, const char *hex)
{
    size_t n = strlen(hex) / 2;
    assert_int_equal(sodium_hex2bin(out, n, hex, strlen(hex), NULL, NULL, NULL), 0);
}

/* After a failure part-way through a message the handshake must be dead:
 * every secret wiped and every operation refused. */
static void assert_dead(chat_handshake *hs)
{
    static const uint8_t zero[CHAT_NOISE_DHLEN];
    uint8_t buf[128];
    size_t len = 0;
    chat_cipher c1, c2;
    assert_memory_equal(hs->s_priv, zero, sizeof zero);
    assert_memory_equal(hs->e_priv, zero, sizeof zero);
    assert_memory_equal(hs->ss.ck, zero, sizeof zero);
    assert_memory_equal(hs->ss.cs.k, zero, sizeof zero);
    assert_null(chat_handshake_local_static(hs));
    assert_null(chat_handshake_remote_static(hs));
    assert_false(chat_handshake_my_turn(hs));
    assert_false(chat_handshake_done(hs));
    assert_int_equal(chat_handshake_write(hs, NULL, 0, buf, sizeof buf, &len), CHAT_E_STATE);
    assert_int_equal(chat_handshake_read(hs, buf, 96, buf, sizeof buf, &len), CHAT_E_STATE);
    assert_int_equal(chat_handshake_split(hs, &c1, &c2), CHAT_E_STATE);
}

/* ---------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------- */

static void test_xx_roundtrip(void **state)
{
    (void)state;
    party a, b;
    xx_init(&a, &b);
    assert_memory_equal(chat_handshake_local_static(&a.hs), a.pub, CHAT_NOISE_DHLEN);
    assert_null(chat_handshake_remote_static(&a.hs));
    assert_null(chat_handshake_remote_static(&b.hs));

    run_handshake(&a, &b);

    assert_memory_equal(chat_handshake_hash(&a.hs), chat_handshake_hash(&b.hs),
                        CHAT_NOISE_HASHLEN);
    assert_non_null(chat_handshake_remote_static(&a.hs));
    assert_memory_equal(chat_handshake_remote_static(&a.hs), b.pub, CHAT_NOISE_DHLEN);
    assert_memory_equal(chat_handshake_remote_static(&b.hs), a.pub, CHAT_NOISE_DHLEN);

    /* Split keys: the two directions are distinct and interoperate. */
    assert_memory_equal(a.send.k, b.recv.k, CHAT_NOISE_KEYLEN);
    assert_memory_equal(a.recv.k, b.send.k, CHAT_NOISE_KEYLEN);
    assert_memory_not_equal(a.send.k, a.recv.k, CHAT_NOISE_KEYLEN);
    for (int i = 0; i < 5; i++) {
        transport_ok(&a.send, &b.recv, "hello bob");
        transport_ok(&b.send, &a.recv, "hello alice");
    }
    assert_int_equal(a.send.n, 5);
    assert_int_equal(b.recv.n, 5);
    chat_handshake_wipe(&a.hs);
    chat_handshake_wipe(&b.hs);
}

static void test_deterministic_transcript(void **state)
{
    (void)state;
    uint8_t m1[2][CHAT_NOISE_MAX_MSG], m2[2][CHAT_NOISE_MAX_MSG];
    size_t l1[2], l2[2];
    uint8_t h[2][CHAT_NOISE_HASHLEN];
    for (int run = 0; run < 2; run++) {
        party a, b;
        xx_init(&a, &b);
        l1[run] = hs_step(&a, &b, "one", m1[run]);
        l2[run] = hs_step(&b, &a, "two", m2[run]);
        hs_step(&a, &b, "three", m2[run] + 1000);
        memcpy(h[run], chat_handshake_hash(&a.hs), CHAT_NOISE_HASHLEN);
    }
    assert_int_equal(l1[0], 32 + 3);      /* e, plaintext payload */
    assert_int_equal(l2[0], 32 + 48 + 3 + 16); /* e, enc(s), enc(payload) */
    assert_int_equal(l1[0], l1[1]);
    assert_memory_equal(m1[0], m1[1], l1[0]);
    assert_memory_equal(m2[0], m2[1], l2[0]);
    assert_memory_equal(h[0], h[1], CHAT_NOISE_HASHLEN);
}

/* A responder given its key pair whole (chat_handshake_init_keypair, what
 * the hub does) produces exactly the bytes of one that derives the public
 * key itself; without both halves it refuses. */
static void test_init_keypair(void **state)
{
    (void)state;
    static const uint8_t prologue[] = "libchat test";
    uint8_t m2[2][CHAT_NOISE_MAX_MSG], h[2][CHAT_NOISE_HASHLEN];
    size_t l2[2];
    for (int run = 0; run < 2; run++) {
        party a, b;
        party_keys(&a, 1);
        party_keys(&b, 2);
        assert_int_equal(chat_handshake_init(&a.hs, XX, 1, prologue, sizeof prologue, a.priv,
                                             NULL, rng_of(&a.rng)),
                         CHAT_OK);
        if (run == 0)
            assert_int_equal(chat_handshake_init(&b.hs, XX, 0, prologue, sizeof prologue, b.priv,
                                                 NULL, rng_of(&b.rng)),
                             CHAT_OK);
        else
            assert_int_equal(chat_handshake_init_keypair(&b.hs, XX, 0, prologue, sizeof prologue,
                                                         b.priv, b.pub, NULL, rng_of(&b.rng)),
                             CHAT_OK);
        assert_memory_equal(chat_handshake_local_static(&b.hs), b.pub, CHAT_NOISE_DHLEN);
        uint8_t m1[CHAT_NOISE_MAX_MSG], m3[CHAT_NOISE_MAX_MSG];
        (void)hs_step(&a, &b, "one", m1);
        l2[run] = hs_step(&b, &a, "two", m2[run]);
        (void)hs_step(&a, &b, "three", m3);
        memcpy(h[run], chat_handshake_hash(&b.hs), CHAT_NOISE_HASHLEN);
        assert_memory_equal(chat_handshake_remote_static(&a.hs), b.pub, CHAT_NOISE_DHLEN);
        chat_handshake_wipe(&a.hs);
        chat_handshake_wipe(&b.hs);
    }
    assert_int_equal(l2[0], l2[1]);
    assert_memory_equal(m2[0], m2[1], l2[0]);
    assert_memory_equal(h[0], h[1], CHAT_NOISE_HASHLEN);

    party c;
    party_keys(&c, 3);
    assert_int_equal(chat_handshake_init_keypair(&c.hs, XX, 0, NULL, 0, c.priv, NULL, NULL,
                                                 rng_of(&c.rng)),
                     CHAT_E_INVAL);
    assert_dead(&c.hs);
    assert_int_equal(chat_handshake_init_keypair(&c.hs, XX, 0, NULL, 0, NULL, c.pub, NULL,
                                                 rng_of(&c.rng)),
                     CHAT_E_INVAL);
    assert_dead(&c.hs);
}

/* Every supported pattern completes between two parties and the split
 * keys work (one-way patterns: initiator to responder only). */
static void test_all_patterns_interop(void **state)
{
    (void)state;
    static const char names[][5] = {
        "N",   "K",   "X",    "NN",  "NK",   "NX",   "XN",   "XK",  "XX",  "KN",
        "KK",  "KX",  "IN",   "IK",  "IX",   "NK1",  "NX1",  "X1N", "X1K", "XK1",
        "X1K1", "X1X", "XX1", "X1X1", "K1N", "K1K",  "KK1",  "K1K1", "K1X", "KX1",
        "K1X1", "I1N", "I1K", "IK1", "I1K1", "I1X",  "IX1",  "I1X1",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char name[64];
        const char *p = names[i];
        snprintf(name, sizeof name, "Noise_%.4s_25519_ChaChaPoly_SHA256", p);
        /* First letter: initiator's static (N none, K known, X/I sent);
         * second letter (after an optional 1): the responder's. One-way
         * patterns have a responder static known in advance. */
        char ci = p[0];
        const char *rest = p[1] == '1' ? p + 2 : p + 1;
        int one_way = rest[0] == '\0';
        char cr = one_way ? 'K' : rest[0];

        party a, b;
        party_keys(&a, 100 + i);
        party_keys(&b, 200 + i);
        assert_int_equal(chat_handshake_init(&a.hs, name, 1, NULL, 0, ci != 'N' ? a.priv : NULL,
                                             cr == 'K' ? b.pub : NULL, rng_of(&a.rng)),
                         CHAT_OK);
        assert_int_equal(chat_handshake_init(&b.hs, name, 0, NULL, 0, cr != 'N' ? b.priv : NULL,
                                             ci == 'K' ? a.pub : NULL, rng_of(&b.rng)),
                         CHAT_OK);
        run_handshake(&a, &b);
        assert_memory_equal(chat_handshake_hash(&a.hs), chat_handshake_hash(&b.hs),
                            CHAT_NOISE_HASHLEN);
        if (ci != 'N')
            assert_memory_equal(chat_handshake_remote_static(&b.hs), a.pub, CHAT_NOISE_DHLEN);
        if (cr != 'N')
            assert_memory_equal(chat_handshake_remote_static(&a.hs), b.pub, CHAT_NOISE_DHLEN);
        transport_ok(&a.send, &b.recv, name);
        if (!one_way)
            transport_ok(&b.send, &a.recv, name);
        chat_handshake_wipe(&a.hs);
        chat_handshake_wipe(&b.hs);
    }
}

static void test_one_way_turns(void **state)
{
    (void)state;
    party a, b;
    uint8_t msg[CHAT_NOISE_MAX_MSG];
    size_t len = 0;
    party_keys(&a, 1);
    party_keys(&b, 2);
    assert_int_equal(chat_handshake_init(&a.hs, "Noise_N_25519_ChaChaPoly_SHA256", 1, NULL, 0,
                                         NULL, b.pub, rng_of(&a.rng)),
                     CHAT_OK);
    assert_int_equal(chat_handshake_init(&b.hs, "Noise_N_25519_ChaChaPoly_SHA256", 0, NULL, 0,
                                         b.priv, NULL, rng_of(&b.rng)),
                     CHAT_OK);
    assert_false(chat_handshake_my_turn(&b.hs));
    assert_int_equal(chat_handshake_write(&b.hs, NULL, 0, msg, sizeof msg, &len), CHAT_E_STATE);
    len = hs_step(&a, &b, "only message", msg);
    assert_int_equal(len, 32 + 12 + 16);
    assert_true(chat_handshake_done(&a.hs));
    assert_true(chat_handshake_done(&b.hs));
    assert_false(chat_handshake_my_turn(&a.hs));
}

static void test_set_ephemeral(void **state)
{
    (void)state;
    party a, b;
    uint8_t e[CHAT_NOISE_DHLEN], e_pub[CHAT_NOISE_DHLEN], msg[CHAT_NOISE_MAX_MSG];
    xx_init(&a, &b);
    memset(e, 0x42, sizeof e);
    assert_int_equal(chat_x25519_public(e_pub, e), CHAT_OK);
    size_t calls = a.rng.calls;
    chat_handshake_set_ephemeral(&a.hs, e);
    hs_step(&a, &b, "", msg);
    assert_memory_equal(msg, e_pub, CHAT_NOISE_DHLEN); /* message 1 is e */
    assert_int_equal(a.rng.calls, calls);              /* rng not consulted */
}

static void test_tampered_handshake_static(void **state)
{
    (void)state;
    party a, b;
    uint8_t msg[CHAT_NOISE_MAX_MSG], out[CHAT_NOISE_MAX_MSG];
    size_t len = 0, plen = 0;
    xx_init(&a, &b);
    hs_step(&a, &b, "hi", msg);
    assert_int_equal(chat_handshake_write(&b.hs, NULL, 0, msg, sizeof msg, &len), CHAT_OK);
    msg[40] ^= 0x01; /* inside the encrypted static key (bytes 32..79) */
    assert_int_equal(chat_handshake_read(&a.hs, msg, len, out, sizeof out, &plen),
                     CHAT_E_DECRYPT);
    assert_int_equal(plen, 0);
    assert_null(chat_handshake_remote_static(&a.hs)); /* nothing learnt */
    assert_dead(&a.hs);
}

static void test_tampered_handshake_payload(void **state)
{
    (void)state;
    party a, b;
    uint8_t msg[CHAT_NOISE_MAX_MSG], out[CHAT_NOISE_MAX_MSG];
    size_t len = 0, plen = 0;
    xx_init(&a, &b);
    hs_step(&a, &b, "hi", msg);
    assert_int_equal(chat_handshake_write(&b.hs, (const uint8_t *)"payload", 7, msg, sizeof msg,
                                          &len),
                     CHAT_OK);
    msg[len - 1] ^= 0x80; /* the payload's tag */
    assert_int_equal(chat_handshake_read(&a.hs, msg, len, out, sizeof out, &plen),
                     CHAT_E_DECRYPT);
    assert_dead(&a.hs);
}

static void test_prologue_mismatch(void **state)
{
    (void)state;
    party a, b;
    uint8_t msg[CHAT_NOISE_MAX_MSG], out[CHAT_NOISE_MAX_MSG];
    size_t len = 0, plen = 0;
    party_keys(&a, 1);
    party_keys(&b, 2);
    assert_int_equal(chat_handshake_init(&a.hs, NN, 1, (const uint8_t *)"v1", 2, NULL, NULL,
                                         rng_of(&a.rng)),
                     CHAT_OK);
    assert_int_equal(chat_handshake_init(&b.hs, NN, 0, (const uint8_t *)"v2", 2, NULL, NULL,
                                         rng_of(&b.rng)),
                     CHAT_OK);
    hs_step(&a, &b, "", msg); /* unauthenticated: nothing to notice yet */
    assert_int_equal(chat_handshake_write(&b.hs, NULL, 0, msg, sizeof msg, &len), CHAT_OK);
    assert_int_equal(chat_handshake_read(&a.hs, msg, len, out, sizeof out, &plen),
                     CHAT_E_DECRYPT);
}

static void test_transport_tamper(void **state)
{
    (void)state;
    party a, b;
    uint8_t ct[64], pt[64];
    xx_init(&a, &b);
    run_handshake(&a, &b);

    assert_int_equal(chat_cipher_encrypt(&a.send, (const uint8_t *)"ad", 2,
                                         (const uint8_t *)"secret", 6, ct),
                     CHAT_OK);
    ct[3] ^= 0x10;
    assert_int_equal(chat_cipher_decrypt(&b.recv, (const uint8_t *)"ad", 2, ct, 22, pt),
                     CHAT_E_DECRYPT);
    assert_int_equal(b.recv.n, 0); /* not advanced */
    ct[3] ^= 0x10;
    /* Wrong associated data fails too, still without advancing. */
    assert_int_equal(chat_cipher_decrypt(&b.recv, (const uint8_t *)"AD", 2, ct, 22, pt),
                     CHAT_E_DECRYPT);
    assert_int_equal(b.recv.n, 0);
    /* The genuine message still decrypts, in place. */
    assert_int_equal(chat_cipher_decrypt(&b.recv, (const uint8_t *)"ad", 2, ct, 22, ct), CHAT_OK);
    assert_memory_equal(ct, "secret", 6);
    assert_int_equal(b.recv.n, 1);
    /* A replay of the same ciphertext is rejected (nonce moved on). */
    assert_int_equal(chat_cipher_encrypt(&a.send, NULL, 0, (const uint8_t *)"x", 1, ct), CHAT_OK);
    assert_int_equal(chat_cipher_decrypt(&b.recv, NULL, 0, ct, 17, pt), CHAT_OK);
    assert_int_equal(chat_cipher_decrypt(&b.recv, NULL, 0, ct, 17, pt), CHAT_E_DECRYPT);
}

static void test_nonce_exhaustion(void **state)
{
    (void)state;
    party a, b;
    uint8_t ct[64], pt[64];
    xx_init(&a, &b);
    run_handshake(&a, &b);

    a.send.n = UINT64_MAX - 1;
    b.recv.n = UINT64_MAX - 1;
    /* n = 2^64-2 is the last usable nonce. */
    assert_int_equal(chat_cipher_encrypt(&a.send, NULL, 0, (const uint8_t *)"last", 4, ct),
                     CHAT_OK);
    assert_true(a.send.n == UINT64_MAX);
    assert_int_equal(chat_cipher_decrypt(&b.recv, NULL, 0, ct, 20, pt), CHAT_OK);
    assert_memory_equal(pt, "last", 4);
    assert_true(b.recv.n == UINT64_MAX);
    /* n = 2^64-1 is reserved: both directions refuse and stay put. */
    assert_int_equal(chat_cipher_encrypt(&a.send, NULL, 0, (const uint8_t *)"more", 4, ct),
                     CHAT_E_NONCE);
    assert_true(a.send.n == UINT64_MAX);
    assert_int_equal(chat_cipher_decrypt(&b.recv, NULL, 0, ct, 20, pt), CHAT_E_NONCE);
    assert_true(b.recv.n == UINT64_MAX);
}

static void test_wrong_turn(void **state)
{
    (void)state;
    party a, b;
    uint8_t msg[CHAT_NOISE_MAX_MSG], out[CHAT_NOISE_MAX_MSG];
    size_t len = 0, plen = 0;
    xx_init(&a, &b);
    assert_true(chat_handshake_my_turn(&a.hs));
    assert_false(chat_handshake_my_turn(&b.hs));
    assert_int_equal(chat_handshake_write(&b.hs, NULL, 0, msg, sizeof msg, &len), CHAT_E_STATE);
    assert_int_equal(chat_handshake_read(&a.hs, msg, 32, out, sizeof out, &plen), CHAT_E_STATE);
    /* The refusals changed nothing: the handshake still completes. */
    run_handshake(&a, &b);
    assert_int_equal(chat_handshake_write(&a.hs, NULL, 0, msg, sizeof msg, &len), CHAT_E_STATE);
    assert_int_equal(chat_handshake_write(&b.hs, NULL, 0, msg, sizeof msg, &len), CHAT_E_STATE);
    assert_int_equal(chat_handshake_read(&a.hs, msg, 64, out, sizeof out, &plen), CHAT_E_STATE);
}

static void test_split_state(void **state)
{
    (void)state;
    party a, b;
    chat_cipher c1, c2;
    uint8_t msg[CHAT_NOISE_MAX_MSG];
    xx_init(&a, &b);
    assert_int_equal(chat_handshake_split(&a.hs, &c1, &c2), CHAT_E_STATE);
    hs_step(&a, &b, "", msg);
    hs_step(&b, &a, "", msg);
    assert_int_equal(chat_handshake_split(&a.hs, &c1, &c2), CHAT_E_STATE);
    hs_step(&a, &b, "", msg);
    uint8_t h[CHAT_NOISE_HASHLEN];
    memcpy(h, chat_handshake_hash(&a.hs), sizeof h);
    assert_int_equal(chat_handshake_split(&a.hs, &c1, &c2), CHAT_OK);
    assert_true(c1.has_key && c2.has_key);
    assert_true(c1.n == 0 && c2.n == 0);
    assert_int_equal(chat_handshake_split(&a.hs, &c1, &c2), CHAT_E_STATE);
    /* The hash and the peer's key stay available after split. */
    assert_memory_equal(chat_handshake_hash(&a.hs), h, sizeof h);
    assert_memory_equal(chat_handshake_remote_static(&a.hs), b.pub, CHAT_NOISE_DHLEN);
    assert_true(chat_handshake_done(&a.hs));
}

static void test_bad_protocol_name(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "Noise_",
        "Noise_XX",
        "Noise_ZZ_25519_ChaChaPoly_SHA256",
        "Noise_XXpsk3_25519_ChaChaPoly_SHA256",
        "Noise_XX_448_ChaChaPoly_SHA256",
        "Noise_XX_25519_AESGCM_SHA256",
        "Noise_XX_25519_ChaChaPoly_BLAKE2s",
        "Noise_XX_25519_ChaChaPoly_SHA256 ",
        "noise_XX_25519_ChaChaPoly_SHA256",
        "Noise__25519_ChaChaPoly_SHA256",
        ("Noise_XX_25519_ChaChaPoly_SHA256_25519_ChaChaPoly_SHA256_"
         "25519_ChaChaPoly_SHA256"),
    };
    party a;
    uint8_t msg[CHAT_NOISE_MAX_MSG];
    size_t len = 0;
    party_keys(&a, 1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(chat_handshake_init(&a.hs, bad[i], 1, NULL, 0, a.priv, NULL,
                                             rng_of(&a.rng)),
                         CHAT_E_INVAL);
        /* A failed init leaves an unusable handshake, not a half-made one. */
        assert_false(chat_handshake_my_turn(&a.hs));
        assert_int_equal(chat_handshake_write(&a.hs, NULL, 0, msg, sizeof msg, &len),
                         CHAT_E_STATE);
    }
    assert_int_equal(chat_handshake_init(&a.hs, NULL, 1, NULL, 0, a.priv, NULL, rng_of(&a.rng)),
                     CHAT_E_INVAL);
    /* Well-formed apart from its length (over CHAT_NOISE_PROTOCOL_NAME_MAX). */
    char longname[256];
    memset(longname, 'X', sizeof longname);
    memcpy(longname, "Noise_", 6);
    strcpy(longname + 200, "_25519_ChaChaPoly_SHA256");
    assert_int_equal(chat_handshake_init(&a.hs, longname, 1, NULL, 0, a.priv, NULL,
                                         rng_of(&a.rng)),
                     CHAT_E_INVAL);
}

static void test_wrong_keys_for_pattern(void **state)
{
    (void)state;
    party a, b;
    party_keys(&a, 1);
    party_keys(&b, 2);
    chat_rng r = rng_of(&a.rng);
    /* XX needs a local static and has no pre-known remote. */
    assert_int_equal(chat_handshake_init(&a.hs, XX, 1, NULL, 0, NULL, NULL, r), CHAT_E_INVAL);
    assert_int_equal(chat_handshake_init(&a.hs, XX, 1, NULL, 0, a.priv, b.pub, r), CHAT_E_INVAL);
    /* NK: initiator needs rs, has no static; responder needs its static. */
    assert_int_equal(chat_handshake_init(&a.hs, NK, 1, NULL, 0, NULL, NULL, r), CHAT_E_INVAL);
    assert_int_equal(chat_handshake_init(&a.hs, NK, 1, NULL, 0, a.priv, b.pub, r), CHAT_E_INVAL);
    assert_int_equal(chat_handshake_init(&a.hs, NK, 1, NULL, 0, NULL, b.pub, r), CHAT_OK);
    assert_memory_equal(chat_handshake_remote_static(&a.hs), b.pub, CHAT_NOISE_DHLEN);
    assert_null(chat_handshake_local_static(&a.hs));
    assert_int_equal(chat_handshake_init(&b.hs, NK, 0, NULL, 0, NULL, NULL, r), CHAT_E_INVAL);
    /* A prologue pointer may only be NULL when empty. */
    assert_int_equal(chat_handshake_init(&a.hs, NN, 1, NULL, 3, NULL, NULL, r), CHAT_E_INVAL);
}

static void test_capacity(void **state)
{
    (void)state;
    party a, b;
    uint8_t msg[CHAT_NOISE_MAX_MSG], out[CHAT_NOISE_MAX_MSG];
    size_t len = 0, plen = 0;
    xx_init(&a, &b);
    hs_step(&a, &b, "hi", msg);
    /* Message 2 with a 5-byte payload: 32 + 48 + 5 + 16 = 101 bytes. */
    assert_int_equal(chat_handshake_write(&b.hs, (const uint8_t *)"hello", 5, msg, 100, &len),
                     CHAT_E_FULL);
    assert_int_equal(len, 0);
    assert_true(chat_handshake_my_turn(&b.hs)); /* nothing consumed */
    assert_int_equal(chat_handshake_write(&b.hs, (const uint8_t *)"hello", 5, msg, 101, &len),
                     CHAT_OK);
    assert_int_equal(len, 101);
    /* Reading it needs room for 5 payload bytes. */
    assert_int_equal(chat_handshake_read(&a.hs, msg, len, out, 4, &plen), CHAT_E_FULL);
    assert_int_equal(chat_handshake_read(&a.hs, msg, len, out, 5, &plen), CHAT_OK);
    assert_int_equal(plen, 5);
    assert_memory_equal(out, "hello", 5);
    hs_step(&a, &b, "done", msg);
    assert_true(chat_handshake_done(&a.hs) && chat_handshake_done(&b.hs));
}

static void test_message_size_limits(void **state)
{
    (void)state;
    party a, b;
    static uint8_t payload[CHAT_NOISE_MAX_MSG + 1], msg[CHAT_NOISE_MAX_MSG + 1],
        out[CHAT_NOISE_MAX_MSG + 1];
    size_t len = 0, plen = 0;
    xx_init(&a, &b);
    /* XX message 1 is e (32 bytes) plus the plaintext payload. */
    assert_int_equal(chat_handshake_write(&a.hs, payload, CHAT_NOISE_MAX_MSG - 31, msg,
                                          sizeof msg, &len),
                     CHAT_E_TOOBIG);
    assert_int_equal(chat_handshake_write(&a.hs, payload, CHAT_NOISE_MAX_MSG - 32, msg,
                                          sizeof msg, &len),
                     CHAT_OK);
    assert_int_equal(len, CHAT_NOISE_MAX_MSG);
    assert_int_equal(chat_handshake_read(&b.hs, msg, CHAT_NOISE_MAX_MSG + 1, out, sizeof out,
                                         &plen),
                     CHAT_E_TOOBIG);
    assert_int_equal(chat_handshake_read(&b.hs, msg, len, out, sizeof out, &plen), CHAT_OK);
    assert_int_equal(plen, CHAT_NOISE_MAX_MSG - 32);
}

static void test_short_message(void **state)
{
    (void)state;
    party a, b;
    uint8_t msg[CHAT_NOISE_MAX_MSG], out[CHAT_NOISE_MAX_MSG];
    size_t len = 0, plen = 0;
    xx_init(&a, &b);
    assert_int_equal(chat_handshake_write(&a.hs, NULL, 0, msg, sizeof msg, &len), CHAT_OK);
    assert_int_equal(len, 32);
    assert_int_equal(chat_handshake_read(&b.hs, msg, 31, out, sizeof out, &plen), CHAT_E_PROTO);
    assert_int_equal(chat_handshake_read(&b.hs, msg, 32, out, sizeof out, &plen), CHAT_OK);
    assert_int_equal(plen, 0);
    assert_int_equal(chat_handshake_write(&b.hs, NULL, 0, msg, sizeof msg, &len), CHAT_OK);
    assert_int_equal(len, 32 + 48 + 16);
    assert_int_equal(chat_handshake_read(&a.hs, msg, len - 1, out, sizeof out, &plen),
                     CHAT_E_PROTO);
    assert_int_equal(chat_handshake_read(&a.hs, msg, len, out, sizeof out, &plen), CHAT_OK);
}

/* A peer ephemeral that is a low-order point makes ee all zeros. */
static void low_order_read(const uint8_t point[CHAT_NOISE_DHLEN])
{
    party a, b;
    uint8_t msg[CHAT_NOISE_MAX_MSG], out[CHAT_NOISE_MAX_MSG];
    size_t len = 0, plen = 0;
    xx_init(&a, &b);
    hs_step(&a, &b, "", msg);
    assert_int_equal(chat_handshake_write(&b.hs, NULL, 0, msg, sizeof msg, &len), CHAT_OK);
    memcpy(msg, point, CHAT_NOISE_DHLEN); /* replace b's e */
    assert_int_equal(chat_handshake_read(&a.hs, msg, len, out, sizeof out, &plen), CHAT_E_CRYPTO);
    assert_dead(&a.hs);
}

static void test_low_order_point(void **state)
{
    (void)state;
    uint8_t zero[CHAT_NOISE_DHLEN] = {0}, one[CHAT_NOISE_DHLEN] = {1};
    low_order_read(zero);
    low_order_read(one); /* u = 1 has order 4: also a zero shared secret */

    /* Responder side: it reads an all-zero e fine (no DH yet) and refuses
     * when its own message needs DH(e, re). */
    party a, b;
    uint8_t msg[CHAT_NOISE_MAX_MSG], out[CHAT_NOISE_MAX_MSG];
    size_t len = 0, plen = 0;
    xx_init(&a, &b);
    assert_int_equal(chat_handshake_read(&b.hs, zero, sizeof zero, out, sizeof out, &plen),
                     CHAT_OK);
    assert_int_equal(chat_handshake_write(&b.hs, NULL, 0, msg, sizeof msg, &len), CHAT_E_CRYPTO);
    assert_int_equal(len, 0);
    assert_dead(&b.hs);

    /* A pre-known remote static that is low order: NK's first es fails. */
    assert_int_equal(chat_handshake_init(&a.hs, NK, 1, NULL, 0, NULL, zero, rng_of(&a.rng)),
                     CHAT_OK);
    assert_int_equal(chat_handshake_write(&a.hs, NULL, 0, msg, sizeof msg, &len), CHAT_E_CRYPTO);
}

static void test_cipher_misc(void **state)
{
    (void)state;
    chat_cipher c, d;
    uint8_t ct[64], pt[64];
    memset(&c, 0, sizeof c);
    /* No key: refuse rather than emit plaintext. */
    assert_int_equal(chat_cipher_encrypt(&c, NULL, 0, (const uint8_t *)"x", 1, ct), CHAT_E_STATE);
    assert_int_equal(chat_cipher_decrypt(&c, NULL, 0, ct, 17, pt), CHAT_E_STATE);

    memset(c.k, 7, sizeof c.k);
    c.has_key = 1;
    d = c;
    assert_int_equal(chat_cipher_decrypt(&d, NULL, 0, ct, 15, pt), CHAT_E_PROTO);
    /* Empty plaintext: a bare tag. */
    assert_int_equal(chat_cipher_encrypt(&c, NULL, 0, NULL, 0, ct), CHAT_OK);
    assert_int_equal(chat_cipher_decrypt(&d, NULL, 0, ct, 16, pt), CHAT_OK);
    /* Nonce encoding: counter 1 encrypts differently from counter 0. */
    uint8_t ct1[32], ct2[32];
    assert_int_equal(chat_cipher_encrypt(&c, NULL, 0, (const uint8_t *)"same", 4, ct1), CHAT_OK);
    assert_int_equal(chat_cipher_encrypt(&c, NULL, 0, (const uint8_t *)"same", 4, ct2), CHAT_OK);
    assert_memory_not_equal(ct1, ct2, 20);
    assert_int_equal(c.n, 3);
    /* Over the Noise message limit. */
    static uint8_t big[CHAT_NOISE_MAX_MSG + 16];
    assert_int_equal(chat_cipher_encrypt(&c, NULL, 0, big, CHAT_NOISE_MAX_MSG - 15, big),
                     CHAT_E_TOOBIG);
    assert_int_equal(c.n, 3);

    chat_cipher_wipe(&c);
    uint8_t zero[sizeof c];
    memset(zero, 0, sizeof zero);
    assert_memory_equal(&c, zero, sizeof c);
}

static void test_x25519(void **state)
{
    (void)state;
    /* RFC 7748 section 6.1. */
    uint8_t priv[32], want[32], pub[32];
    hex_to(priv, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    hex_to(want, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    assert_int_equal(chat_x25519_public(pub, priv), CHAT_OK);
    assert_memory_equal(pub, want, 32);
    hex_to(priv, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    hex_to(want, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    assert_int_equal(chat_x25519_public(pub, priv), CHAT_OK);
    assert_memory_equal(pub, want, 32);

    /* generate draws from the given rng and matches chat_x25519_public. */
    test_rng r1 = {5, 0}, r2 = {5, 0};
    uint8_t p1[32], q1[32], p2[32], q2[32];
    chat_x25519_generate(p1, q1, rng_of(&r1));
    chat_x25519_generate(p2, q2, rng_of(&r2));
    assert_int_equal(r1.calls, 1);
    assert_memory_equal(p1, p2, 32);
    assert_int_equal(chat_x25519_public(pub, p1), CHAT_OK);
    assert_memory_equal(pub, q1, 32);
    /* NULL fill: libsodium's generator. */
    chat_rng sys = {NULL, NULL};
    chat_x25519_generate(p2, q2, sys);
    assert_memory_not_equal(p1, p2, 32);
}

static void test_wipe(void **state)
{
    (void)state;
    party a, b;
    uint8_t msg[CHAT_NOISE_MAX_MSG];
    size_t len = 0;
    xx_init(&a, &b);
    hs_step(&a, &b, "x", msg);
    chat_handshake_wipe(&b.hs);
    assert_false(chat_handshake_my_turn(&b.hs));
    assert_false(chat_handshake_done(&b.hs));
    assert_null(chat_handshake_local_static(&b.hs));
    assert_int_equal(chat_handshake_write(&b.hs, NULL, 0, msg, sizeof msg, &len), CHAT_E_STATE);
    uint8_t zero[CHAT_NOISE_DHLEN] = {0};
    assert_memory_equal(b.hs.s_priv, zero, sizeof zero);
    assert_memory_equal(b.hs.e_priv, zero, sizeof zero);
    assert_memory_equal(b.hs.ss.ck, zero, sizeof zero);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xx_roundtrip),
        cmocka_unit_test(test_deterministic_transcript),
        cmocka_unit_test(test_init_keypair),
        cmocka_unit_test(test_all_patterns_interop),
        cmocka_unit_test(test_one_way_turns),
        cmocka_unit_test(test_set_ephemeral),
        cmocka_unit_test(test_tampered_handshake_static),
        cmocka_unit_test(test_tampered_handshake_payload),
        cmocka_unit_test(test_prologue_mismatch),
        cmocka_unit_test(test_transport_tamper),
        cmocka_unit_test(test_nonce_exhaustion),
        cmocka_unit_test(test_wrong_turn),
        cmocka_unit_test(test_split_state),
        cmocka_unit_test(test_bad_protocol_name),
        cmocka_unit_test(test_wrong_keys_for_pattern),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_message_size_limits),
        cmocka_unit_test(test_short_message),
        cmocka_unit_test(test_low_order_point),
        cmocka_unit_test(test_cipher_misc),
        cmocka_unit_test(test_x25519),
        cmocka_unit_test(test_wipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
