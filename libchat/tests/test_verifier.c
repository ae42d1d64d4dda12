/* Tests for verifier.c: Argon2id seed derivation, Ed25519 key, the login
 * proof of PROTOCOL.md §4.3 and the key fingerprint of §11.1.
 *
 * Known answers were computed independently at authoring time with
 * python3 (cryptography's Argon2id and Ed25519, hashlib + base64). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "chat/verifier.h"

/* Low limits keep the tests fast. */
#define OPS 1u
#define MEM 8u

static const uint8_t salt0[CHAT_SALT_LEN] = {0, 1, 2, 3, 4, 5, 6, 7,
                                             8, 9, 10, 11, 12, 13, 14, 15};
#define PW "correct horse"
#define PW_LEN (sizeof PW - 1)

static void hex(uint8_t *out, const char *s, size_t n)
{
    size_t bin_len = 0;
    assert_int_equal(sodium_hex2bin(out, n, s, strlen(s), NULL, &bin_len, NULL), 0);
    assert_int_equal(bin_len, n);
}

static void fixed_h(uint8_t h[32])
{
    for (int i = 0; i < 32; i++)
        h[i] = (uint8_t)(0x20 + i);
}

/* Argon2id(t=1, m=8 KiB, p=1, "correct horse", salt 00..0f) and its
 * Ed25519 public key, from python3 cryptography. */
static void test_seed_known_answer(void **state)
{
    (void)state;
    uint8_t seed[CHAT_SEED_LEN], want[CHAT_SEED_LEN], pk[CHAT_PK_LEN], want_pk[CHAT_PK_LEN];
    assert_int_equal(chat_seed_derive(seed, (const uint8_t *)PW, PW_LEN, salt0, OPS, MEM),
                     CHAT_OK);
    hex(want, "3bfa796a86260b73457e1290b51695931a17e266f601d0fb45563e282fb6865b", 32);
    assert_memory_equal(seed, want, 32);
    chat_seed_public(pk, seed);
    hex(want_pk, "0e0723d6e57035e1c05787a1fc5efd437dc143cf48e80a4080dcf14e3a4200c6", 32);
    assert_memory_equal(pk, want_pk, 32);
}

/* RFC 8032 §7.1 test 1: the seed's public key. */
static void test_seed_public_rfc8032(void **state)
{
    (void)state;
    uint8_t seed[32], want[32], pk[32];
    hex(seed, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", 32);
    hex(want, "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", 32);
    chat_seed_public(pk, seed);
    assert_memory_equal(pk, want, 32);
}

static void derive_pk(uint8_t pk[32], const char *pw, const uint8_t salt[16], uint32_t ops,
                      uint32_t mem)
{
    uint8_t seed[CHAT_SEED_LEN];
    assert_int_equal(chat_seed_derive(seed, (const uint8_t *)pw, strlen(pw), salt, ops, mem),
                     CHAT_OK);
    chat_seed_public(pk, seed);
}

static void test_seed_deterministic_and_distinct(void **state)
{
    (void)state;
    uint8_t a[32], b[32], c[32], d[32], e[32];
    uint8_t salt1[16];
    memcpy(salt1, salt0, 16);
    salt1[15] ^= 1;
    derive_pk(a, PW, salt0, OPS, MEM);
    derive_pk(b, PW, salt0, OPS, MEM);
    assert_memory_equal(a, b, 32);
    derive_pk(c, PW, salt1, OPS, MEM);
    assert_memory_not_equal(a, c, 32);
    derive_pk(d, "correct horsf", salt0, OPS, MEM);
    assert_memory_not_equal(a, d, 32);
    derive_pk(e, PW, salt0, OPS + 1, MEM);
    assert_memory_not_equal(a, e, 32);
    derive_pk(e, PW, salt0, OPS, MEM + 8);
    assert_memory_not_equal(a, e, 32);
}

static void test_seed_invalid(void **state)
{
    (void)state;
    uint8_t seed[32];
    uint8_t big[CHAT_PASSWORD_MAX + 1];
    memset(big, 'x', sizeof big);
    const uint8_t *pw = (const uint8_t *)PW;
    assert_int_equal(chat_seed_derive(seed, pw, PW_LEN, salt0, 0, MEM), CHAT_E_INVAL);
    assert_int_equal(chat_seed_derive(seed, pw, PW_LEN, salt0, OPS, 7), CHAT_E_INVAL);
    assert_int_equal(chat_seed_derive(seed, pw, 0, salt0, OPS, MEM), CHAT_E_INVAL);
    assert_int_equal(chat_seed_derive(seed, NULL, 3, salt0, OPS, MEM), CHAT_E_INVAL);
    assert_int_equal(chat_seed_derive(seed, big, sizeof big, salt0, OPS, MEM), CHAT_E_INVAL);
    /* exactly the maximum and minimum lengths are fine */
    assert_int_equal(chat_seed_derive(seed, big, CHAT_PASSWORD_MAX, salt0, OPS, MEM), CHAT_OK);
    assert_int_equal(chat_seed_derive(seed, big, 1, salt0, OPS, MEM), CHAT_OK);
}

typedef struct counter_rng {
    uint8_t next;
    size_t calls;
} counter_rng;

static void counter_fill(void *ctx, uint8_t *buf, size_t len)
{
    counter_rng *r = ctx;
    r->calls++;
    for (size_t i = 0; i < len; i++)
        buf[i] = r->next++;
}

static void test_verifier_make(void **state)
{
    (void)state;
    counter_rng r = {0, 0};
    chat_rng rng = {counter_fill, &r};
    chat_verifier v;
    assert_int_equal(chat_verifier_make(&v, (const uint8_t *)PW, PW_LEN, OPS, MEM, rng),
                     CHAT_OK);
    assert_int_equal(r.calls, 1);
    /* the counter rng yields salt 00..0f: the known answer above */
    assert_memory_equal(v.salt, salt0, 16);
    assert_int_equal(v.opslimit, OPS);
    assert_int_equal(v.memlimit_kib, MEM);
    uint8_t want_pk[32];
    hex(want_pk, "0e0723d6e57035e1c05787a1fc5efd437dc143cf48e80a4080dcf14e3a4200c6", 32);
    assert_memory_equal(v.pk, want_pk, 32);

    /* libsodium's rng gives a fresh salt each time */
    chat_rng def = {NULL, NULL};
    chat_verifier v1, v2;
    assert_int_equal(chat_verifier_make(&v1, (const uint8_t *)PW, PW_LEN, OPS, MEM, def),
                     CHAT_OK);
    assert_int_equal(chat_verifier_make(&v2, (const uint8_t *)PW, PW_LEN, OPS, MEM, def),
                     CHAT_OK);
    assert_memory_not_equal(v1.salt, v2.salt, 16);
    assert_memory_not_equal(v1.pk, v2.pk, 32);

    /* invalid limits: nothing drawn, nothing written */
    r.calls = 0;
    assert_int_equal(chat_verifier_make(&v, (const uint8_t *)PW, PW_LEN, 0, MEM, rng),
                     CHAT_E_INVAL);
    assert_int_equal(chat_verifier_make(&v, (const uint8_t *)PW, PW_LEN, OPS, 4, rng),
                     CHAT_E_INVAL);
    assert_int_equal(chat_verifier_make(&v, (const uint8_t *)PW, 0, OPS, MEM, rng),
                     CHAT_E_INVAL);
    assert_int_equal(r.calls, 0);
}

static void test_proof_known_answer(void **state)
{
    (void)state;
    uint8_t seed[32], pk[32], h[32], sig[64], want[64];
    assert_int_equal(chat_seed_derive(seed, (const uint8_t *)PW, PW_LEN, salt0, OPS, MEM),
                     CHAT_OK);
    chat_seed_public(pk, seed);
    fixed_h(h);
    /* name given as "Alice": signed over the folded "alice" */
    assert_int_equal(chat_proof_sign(sig, seed, h, (const uint8_t *)"Alice", 5), CHAT_OK);
    hex(want,
        "17953203001a2fbf464b01d06558c7cf5d3be81daf1a30807425b2b5f6318079"
        "1b4d9185a6365077fddcf8f117b59a78a5f589910221e38f75ce75a1f98ea907",
        64);
    assert_memory_equal(sig, want, 64);
    assert_int_equal(chat_proof_verify(sig, pk, h, (const uint8_t *)"alice", 5), CHAT_OK);
}

static void test_proof_verify_failures(void **state)
{
    (void)state;
    uint8_t seed[32], pk[32], h[32], sig[64];
    assert_int_equal(chat_seed_derive(seed, (const uint8_t *)PW, PW_LEN, salt0, OPS, MEM),
                     CHAT_OK);
    chat_seed_public(pk, seed);
    fixed_h(h);
    const uint8_t *name = (const uint8_t *)"alice";
    assert_int_equal(chat_proof_sign(sig, seed, h, name, 5), CHAT_OK);
    assert_int_equal(chat_proof_verify(sig, pk, h, name, 5), CHAT_OK);

    /* case folding: any case of the name is the same proof */
    assert_int_equal(chat_proof_verify(sig, pk, h, (const uint8_t *)"ALICE", 5), CHAT_OK);
    assert_int_equal(chat_proof_verify(sig, pk, h, (const uint8_t *)"aLiCe", 5), CHAT_OK);
    uint8_t sig2[64];
    assert_int_equal(chat_proof_sign(sig2, seed, h, (const uint8_t *)"ALICE", 5), CHAT_OK);
    assert_memory_equal(sig, sig2, 64);

    /* another handshake hash */
    uint8_t h2[32];
    memcpy(h2, h, 32);
    h2[0] ^= 0x01;
    assert_int_equal(chat_proof_verify(sig, pk, h2, name, 5), CHAT_E_CRYPTO);

    /* another name, a prefix of the name */
    assert_int_equal(chat_proof_verify(sig, pk, h, (const uint8_t *)"alicf", 5), CHAT_E_CRYPTO);
    assert_int_equal(chat_proof_verify(sig, pk, h, (const uint8_t *)"alic", 4), CHAT_E_CRYPTO);
    assert_int_equal(chat_proof_verify(sig, pk, h, (const uint8_t *)"bob", 3), CHAT_E_CRYPTO);

    /* another key */
    uint8_t seed2[32], pk2[32];
    memcpy(seed2, seed, 32);
    seed2[31] ^= 0x80;
    chat_seed_public(pk2, seed2);
    assert_int_equal(chat_proof_verify(sig, pk2, h, name, 5), CHAT_E_CRYPTO);

    /* every single flipped signature bit */
    for (size_t bit = 0; bit < 64 * 8; bit++) {
        memcpy(sig2, sig, 64);
        sig2[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(chat_proof_verify(sig2, pk, h, name, 5), CHAT_E_CRYPTO);
    }

    /* invalid names are refused by both sides */
    assert_int_equal(chat_proof_sign(sig2, seed, h, (const uint8_t *)"1alice", 6), CHAT_E_INVAL);
    assert_int_equal(chat_proof_sign(sig2, seed, h, (const uint8_t *)"", 0), CHAT_E_INVAL);
    assert_int_equal(chat_proof_verify(sig, pk, h, (const uint8_t *)"al ice", 6), CHAT_E_INVAL);
    uint8_t longname[CHAT_NAME_MAX + 1];
    memset(longname, 'a', sizeof longname);
    assert_int_equal(chat_proof_sign(sig2, seed, h, longname, sizeof longname), CHAT_E_INVAL);
    assert_int_equal(chat_proof_sign(sig2, seed, h, longname, CHAT_NAME_MAX), CHAT_OK);
    assert_int_equal(chat_proof_verify(sig2, pk, h, longname, CHAT_NAME_MAX), CHAT_OK);
}

static void test_fingerprint(void **state)
{
    (void)state;
    uint8_t key[32];
    char fp[CHAT_FINGERPRINT_LEN + 1];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)i;
    memset(fp, 'X', sizeof fp);
    chat_fingerprint(fp, key);
    assert_int_equal(strlen(fp), CHAT_FINGERPRINT_LEN);
    assert_memory_equal(fp, "SHA256:", 7);
    /* python3: base64(sha256(bytes(range(32)))) without '=' */
    assert_string_equal(fp, "SHA256:Yw3NKWbEM2aRElRIu7JbT/QSpJxzLbLIq8G4WBvXEN0");

    memset(key, 0x42, sizeof key);
    chat_fingerprint(fp, key);
    assert_string_equal(fp, "SHA256:Ql7U5KNrMOohuQ4hxxLGSeghTCm36vaAidEDnG5VOEw");
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_known_answer),
        cmocka_unit_test(test_seed_public_rfc8032),
        cmocka_unit_test(test_seed_deterministic_and_distinct),
        cmocka_unit_test(test_seed_invalid),
        cmocka_unit_test(test_verifier_make),
        cmocka_unit_test(test_proof_known_answer),
        cmocka_unit_test(test_proof_verify_failures),
        cmocka_unit_test(test_fingerprint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
