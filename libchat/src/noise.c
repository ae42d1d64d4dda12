/* Noise Protocol Framework, revision 34, suite 25519_ChaChaPoly_SHA256.
 *
 * Layout follows the specification's three objects:
 *   CipherState     chat_cipher     (section 5.1)
 *   SymmetricState  chat_symmetric  (section 5.2)
 *   HandshakeState  chat_handshake  (section 5.3)
 * The handshake is driven by a constant pattern table, so every non-PSK
 * pattern (fundamental, one-way and deferred) shares one code path.
 *
 * Purity: no writable static data, no I/O, no clock, no OS randomness.
 * All randomness comes from the chat_rng the caller hands in. The pattern
 * table holds no pointers (names are inline char arrays) so it stays in
 * .rodata even in position-independent builds. */
#include "chat/noise.h"

#include <string.h>

#include <sodium.h>

/* ---------------------------------------------------------------------
 * Pattern table
 * ------------------------------------------------------------------- */

/* Message tokens. T_END (0) terminates a message pattern early, which lets
 * the table use zero-initialised fixed-size rows. */
enum {
    T_END = 0,
    T_E,
    T_S,
    T_EE,
    T_ES,
    T_SE,
    T_SS
};

/* Pre-message flags: which static key a party is known to hold beforehand.
 * Non-PSK, non-fallback patterns only ever pre-share a static key. */
enum { PRE_NONE = 0, PRE_S = 1 };

typedef struct noise_pattern {
    char name[6];     /* e.g. "I1X1"; NUL-terminated */
    uint8_t pre_i;    /* initiator pre-message (PRE_*) */
    uint8_t pre_r;    /* responder pre-message (PRE_*) */
    uint8_t nmsgs;    /* number of message patterns */
    uint8_t msgs[CHAT_NOISE_MAX_MSGS][CHAT_NOISE_MAX_TOKENS];
} noise_pattern;

/* Message i is sent by the initiator when i is even: every Noise pattern
 * alternates, starting with the initiator. */
static const noise_pattern patterns[] = {
    /* One-way patterns (section 7.4). */
    {"N", PRE_NONE, PRE_S, 1, {{T_E, T_ES}}},
    {"K", PRE_S, PRE_S, 1, {{T_E, T_ES, T_SS}}},
    {"X", PRE_NONE, PRE_S, 1, {{T_E, T_ES, T_S, T_SS}}},

    /* Fundamental interactive patterns (section 7.5). */
    {"NN", PRE_NONE, PRE_NONE, 2, {{T_E}, {T_E, T_EE}}},
    {"NK", PRE_NONE, PRE_S, 2, {{T_E, T_ES}, {T_E, T_EE}}},
    {"NX", PRE_NONE, PRE_NONE, 2, {{T_E}, {T_E, T_EE, T_S, T_ES}}},
    {"XN", PRE_NONE, PRE_NONE, 3, {{T_E}, {T_E, T_EE}, {T_S, T_SE}}},
    {"XK", PRE_NONE, PRE_S, 3, {{T_E, T_ES}, {T_E, T_EE}, {T_S, T_SE}}},
    {"XX", PRE_NONE, PRE_NONE, 3, {{T_E}, {T_E, T_EE, T_S, T_ES}, {T_S, T_SE}}},
    {"KN", PRE_S, PRE_NONE, 2, {{T_E}, {T_E, T_EE, T_SE}}},
    {"KK", PRE_S, PRE_S, 2, {{T_E, T_ES, T_SS}, {T_E, T_EE, T_SE}}},
    {"KX", PRE_S, PRE_NONE, 2, {{T_E}, {T_E, T_EE, T_SE, T_S, T_ES}}},
    {"IN", PRE_NONE, PRE_NONE, 2, {{T_E, T_S}, {T_E, T_EE, T_SE}}},
    {"IK", PRE_NONE, PRE_S, 2, {{T_E, T_ES, T_S, T_SS}, {T_E, T_EE, T_SE}}},
    {"IX", PRE_NONE, PRE_NONE, 2, {{T_E, T_S}, {T_E, T_EE, T_SE, T_S, T_ES}}},

    /* Deferred patterns (section 18). */
    {"NK1", PRE_NONE, PRE_S, 2, {{T_E}, {T_E, T_EE, T_ES}}},
    {"NX1", PRE_NONE, PRE_NONE, 3, {{T_E}, {T_E, T_EE, T_S}, {T_ES}}},
    {"X1N", PRE_NONE, PRE_NONE, 4, {{T_E}, {T_E, T_EE}, {T_S}, {T_SE}}},
    {"X1K", PRE_NONE, PRE_S, 4, {{T_E, T_ES}, {T_E, T_EE}, {T_S}, {T_SE}}},
    {"XK1", PRE_NONE, PRE_S, 3, {{T_E}, {T_E, T_EE, T_ES}, {T_S, T_SE}}},
    {"X1K1", PRE_NONE, PRE_S, 4, {{T_E}, {T_E, T_EE, T_ES}, {T_S}, {T_SE}}},
    {"X1X", PRE_NONE, PRE_NONE, 4, {{T_E}, {T_E, T_EE, T_S, T_ES}, {T_S}, {T_SE}}},
    {"XX1", PRE_NONE, PRE_NONE, 3, {{T_E}, {T_E, T_EE, T_S}, {T_ES, T_S, T_SE}}},
    {"X1X1", PRE_NONE, PRE_NONE, 4, {{T_E}, {T_E, T_EE, T_S}, {T_ES, T_S}, {T_SE}}},
    {"K1N", PRE_S, PRE_NONE, 3, {{T_E}, {T_E, T_EE}, {T_SE}}},
    {"K1K", PRE_S, PRE_S, 3, {{T_E, T_ES}, {T_E, T_EE}, {T_SE}}},
    {"KK1", PRE_S, PRE_S, 2, {{T_E}, {T_E, T_EE, T_SE, T_ES}}},
    {"K1K1", PRE_S, PRE_S, 3, {{T_E}, {T_E, T_EE, T_ES}, {T_SE}}},
    {"K1X", PRE_S, PRE_NONE, 3, {{T_E}, {T_E, T_EE, T_S, T_ES}, {T_SE}}},
    {"KX1", PRE_S, PRE_NONE, 3, {{T_E}, {T_E, T_EE, T_SE, T_S}, {T_ES}}},
    {"K1X1", PRE_S, PRE_NONE, 3, {{T_E}, {T_E, T_EE, T_S}, {T_SE, T_ES}}},
    {"I1N", PRE_NONE, PRE_NONE, 3, {{T_E, T_S}, {T_E, T_EE}, {T_SE}}},
    {"I1K", PRE_NONE, PRE_S, 3, {{T_E, T_ES, T_S}, {T_E, T_EE}, {T_SE}}},
    {"IK1", PRE_NONE, PRE_S, 2, {{T_E, T_S}, {T_E, T_EE, T_SE, T_ES}}},
    {"I1K1", PRE_NONE, PRE_S, 3, {{T_E, T_S}, {T_E, T_EE, T_ES}, {T_SE}}},
    {"I1X", PRE_NONE, PRE_NONE, 3, {{T_E, T_S}, {T_E, T_EE, T_S, T_ES}, {T_SE}}},
    {"IX1", PRE_NONE, PRE_NONE, 3, {{T_E, T_S}, {T_E, T_EE, T_SE, T_S}, {T_ES}}},
    {"I1X1", PRE_NONE, PRE_NONE, 3, {{T_E, T_S}, {T_E, T_EE, T_S}, {T_SE, T_ES}}},
};

#define N_PATTERNS (sizeof patterns / sizeof patterns[0])

/* A pattern index that matches no table entry: marks a handshake that was
 * never initialised successfully, was wiped, or failed part-way. Every
 * operation on it fails with CHAT_E_STATE. */
#define PATTERN_DEAD 0xFFu

static const char name_prefix[] = "Noise_";
static const char name_suffix[] = "_25519_ChaChaPoly_SHA256";

/* ---------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------- */

/* Length of a NUL-terminated string, or max+1 if it is longer than max.
 * Bounded so that a missing terminator cannot run off into memory. */
static size_t bounded_len(const char *s, size_t max)
{
    size_t n = 0;
    while (n <= max && s[n] != '\0')
        n++;
    return n;
}

static void rng_fill(chat_rng rng, uint8_t *buf, size_t len)
{
    if (rng.fill != NULL)
        rng.fill(rng.ctx, buf, len);
    else
        randombytes_buf(buf, len);
}

/* The 96-bit ChaChaPoly nonce: 32 zero bits, then n little-endian. */
static void make_nonce(uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES], uint64_t n)
{
    memset(nonce, 0, 4);
    for (int i = 0; i < 8; i++)
        nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

/* DH(): X25519. An all-zero output means the peer's key was a low-order
 * point; the result would not depend on our secret, so refuse it. */
static int dh(uint8_t out[CHAT_NOISE_DHLEN], const uint8_t priv[CHAT_NOISE_DHLEN],
              const uint8_t pub[CHAT_NOISE_DHLEN])
{
    if (crypto_scalarmult(out, priv, pub) != 0 || sodium_is_zero(out, CHAT_NOISE_DHLEN)) {
        sodium_memzero(out, CHAT_NOISE_DHLEN);
        return CHAT_E_CRYPTO;
    }
    return CHAT_OK;
}

/* ---------------------------------------------------------------------
 * CipherState (section 5.1)
 * ------------------------------------------------------------------- */

static void cipher_init_key(chat_cipher *c, const uint8_t k[CHAT_NOISE_KEYLEN])
{
    memcpy(c->k, k, CHAT_NOISE_KEYLEN);
    c->n = 0;
    c->has_key = 1;
}

/* EncryptWithAd with a key: out = ciphertext || tag. */
static int cipher_seal(chat_cipher *c, const uint8_t *ad, size_t ad_len, const uint8_t *pt,
                       size_t pt_len, uint8_t *out)
{
    uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
    unsigned long long out_len = 0;

    /* 2^64-1 is reserved (section 5.1): it is never used as a nonce. */
    if (c->n == UINT64_MAX)
        return CHAT_E_NONCE;
    make_nonce(nonce, c->n);
    if (crypto_aead_chacha20poly1305_ietf_encrypt(out, &out_len, pt, pt_len, ad, ad_len, NULL,
                                                  nonce, c->k) != 0)
        return CHAT_E_CRYPTO;
    c->n++;
    return CHAT_OK;
}

/* DecryptWithAd with a key. The nonce advances only on success, so a
 * forged message does not desynchronise the two sides. */
static int cipher_open(chat_cipher *c, const uint8_t *ad, size_t ad_len, const uint8_t *ct,
                       size_t ct_len, uint8_t *out)
{
    uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
    unsigned long long out_len = 0;

    if (c->n == UINT64_MAX)
        return CHAT_E_NONCE;
    if (ct_len < CHAT_NOISE_TAGLEN)
        return CHAT_E_PROTO;
    make_nonce(nonce, c->n);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &out_len, NULL, ct, ct_len, ad, ad_len,
                                                  nonce, c->k) != 0)
        return CHAT_E_DECRYPT;
    c->n++;
    return CHAT_OK;
}

int chat_cipher_encrypt(chat_cipher *c, const uint8_t *ad, size_t ad_len, const uint8_t *pt,
                        size_t pt_len, uint8_t *out)
{
    if (c == NULL || out == NULL || (ad == NULL && ad_len != 0) || (pt == NULL && pt_len != 0))
        return CHAT_E_INVAL;
    /* A transport CipherState without a key would "encrypt" to plaintext
     * (that is what Noise does during a handshake); never allow it here. */
    if (!c->has_key)
        return CHAT_E_STATE;
    if (pt_len > CHAT_NOISE_MAX_MSG - CHAT_NOISE_TAGLEN)
        return CHAT_E_TOOBIG;
    return cipher_seal(c, ad, ad_len, pt, pt_len, out);
}

int chat_cipher_decrypt(chat_cipher *c, const uint8_t *ad, size_t ad_len, const uint8_t *ct,
                        size_t ct_len, uint8_t *out)
{
    if (c == NULL || (ad == NULL && ad_len != 0) || (ct == NULL && ct_len != 0))
        return CHAT_E_INVAL;
    if (!c->has_key)
        return CHAT_E_STATE;
    if (ct_len < CHAT_NOISE_TAGLEN)
        return CHAT_E_PROTO;
    if (ct_len > CHAT_NOISE_MAX_MSG)
        return CHAT_E_TOOBIG;
    /* out may be NULL only when there is no plaintext to write. */
    if (out == NULL && ct_len != CHAT_NOISE_TAGLEN)
        return CHAT_E_INVAL;
    return cipher_open(c, ad, ad_len, ct, ct_len, out);
}

void chat_cipher_wipe(chat_cipher *c)
{
    if (c != NULL)
        sodium_memzero(c, sizeof *c);
}

/* ---------------------------------------------------------------------
 * SymmetricState (section 5.2)
 * ------------------------------------------------------------------- */

/* out = HASH(h || data); out may equal h. */
static void hash_concat(uint8_t out[CHAT_NOISE_HASHLEN], const uint8_t h[CHAT_NOISE_HASHLEN],
                        const uint8_t *data, size_t len)
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, h, CHAT_NOISE_HASHLEN);
    crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

/* MixHash(data): h = HASH(h || data) */
static void mix_hash(chat_symmetric *ss, const uint8_t *data, size_t len)
{
    hash_concat(ss->h, ss->h, data, len);
}

/* HKDF(chaining_key, ikm, 2) as section 4.3 defines it, with HMAC-SHA256.
 * HASHLEN == 32 == the HMAC key size libsodium expects. */
static void hkdf2(const uint8_t ck[CHAT_NOISE_HASHLEN], const uint8_t *ikm, size_t ikm_len,
                  uint8_t out1[CHAT_NOISE_HASHLEN], uint8_t out2[CHAT_NOISE_HASHLEN])
{
    uint8_t temp_key[CHAT_NOISE_HASHLEN];
    uint8_t buf[CHAT_NOISE_HASHLEN + 1];
    uint8_t one = 0x01;

    crypto_auth_hmacsha256(temp_key, ikm, ikm_len, ck);
    crypto_auth_hmacsha256(out1, &one, 1, temp_key);
    memcpy(buf, out1, CHAT_NOISE_HASHLEN);
    buf[CHAT_NOISE_HASHLEN] = 0x02;
    crypto_auth_hmacsha256(out2, buf, sizeof buf, temp_key);
    sodium_memzero(temp_key, sizeof temp_key);
    sodium_memzero(buf, sizeof buf);
}

/* MixKey(ikm): ck, k = HKDF(ck, ikm, 2). HASHLEN is 32, so no truncation. */
static void mix_key(chat_symmetric *ss, const uint8_t *ikm, size_t ikm_len)
{
    uint8_t ck[CHAT_NOISE_HASHLEN], k[CHAT_NOISE_HASHLEN];
    hkdf2(ss->ck, ikm, ikm_len, ck, k);
    memcpy(ss->ck, ck, CHAT_NOISE_HASHLEN);
    cipher_init_key(&ss->cs, k);
    sodium_memzero(ck, sizeof ck);
    sodium_memzero(k, sizeof k);
}

/* MixKey(DH(priv, pub)), wiping the shared secret afterwards. */
static int mix_dh(chat_symmetric *ss, const uint8_t *priv, const uint8_t *pub)
{
    uint8_t shared[CHAT_NOISE_DHLEN];
    int rc = dh(shared, priv, pub);
    if (rc == CHAT_OK)
        mix_key(ss, shared, sizeof shared);
    sodium_memzero(shared, sizeof shared);
    return rc;
}

static void symmetric_init(chat_symmetric *ss, const uint8_t *name, size_t name_len)
{
    /* Names up to HASHLEN bytes are zero-padded, longer ones hashed. */
    memset(ss->h, 0, CHAT_NOISE_HASHLEN);
    if (name_len <= CHAT_NOISE_HASHLEN)
        memcpy(ss->h, name, name_len);
    else
        crypto_hash_sha256(ss->h, name, name_len);
    memcpy(ss->ck, ss->h, CHAT_NOISE_HASHLEN);
    sodium_memzero(&ss->cs, sizeof ss->cs); /* InitializeKey(empty) */
}

/* EncryptAndHash: out receives pt_len (+16 once a key exists) bytes. */
static int encrypt_and_hash(chat_symmetric *ss, const uint8_t *pt, size_t pt_len, uint8_t *out,
                            size_t *out_len)
{
    if (ss->cs.has_key) {
        int rc = cipher_seal(&ss->cs, ss->h, CHAT_NOISE_HASHLEN, pt, pt_len, out);
        if (rc != CHAT_OK)
            return rc;
        *out_len = pt_len + CHAT_NOISE_TAGLEN;
    } else {
        if (pt_len != 0)
            memmove(out, pt, pt_len);
        *out_len = pt_len;
    }
    mix_hash(ss, out, *out_len);
    return CHAT_OK;
}

/* DecryptAndHash. The new h is computed from the ciphertext before
 * decrypting so that out may overlap ct; it is committed only if the tag
 * verifies. */
static int decrypt_and_hash(chat_symmetric *ss, const uint8_t *ct, size_t ct_len, uint8_t *out,
                            size_t *out_len)
{
    uint8_t next_h[CHAT_NOISE_HASHLEN];
    int rc = CHAT_OK;

    hash_concat(next_h, ss->h, ct, ct_len);
    if (ss->cs.has_key) {
        rc = cipher_open(&ss->cs, ss->h, CHAT_NOISE_HASHLEN, ct, ct_len, out);
        *out_len = ct_len - CHAT_NOISE_TAGLEN; /* callers checked ct_len >= 16 */
    } else {
        if (ct_len != 0)
            memmove(out, ct, ct_len);
        *out_len = ct_len;
    }
    if (rc == CHAT_OK)
        memcpy(ss->h, next_h, CHAT_NOISE_HASHLEN);
    return rc;
}

/* ---------------------------------------------------------------------
 * HandshakeState (section 5.3)
 * ------------------------------------------------------------------- */

static const noise_pattern *pattern_of(const chat_handshake *hs)
{
    if (hs == NULL || hs->pattern >= N_PATTERNS)
        return NULL;
    return &patterns[hs->pattern];
}

/* Finds the pattern in "Noise_<pattern>_25519_ChaChaPoly_SHA256".
 * Returns its table index, or -1. */
static int find_pattern(const char *name, size_t len)
{
    const size_t pre = sizeof name_prefix - 1, suf = sizeof name_suffix - 1;

    if (len <= pre + suf || memcmp(name, name_prefix, pre) != 0 ||
        memcmp(name + len - suf, name_suffix, suf) != 0)
        return -1;
    const char *p = name + pre;
    size_t plen = len - pre - suf;
    for (size_t i = 0; i < N_PATTERNS; i++) {
        if (bounded_len(patterns[i].name, sizeof patterns[i].name) == plen &&
            memcmp(patterns[i].name, p, plen) == 0)
            return (int)i;
    }
    return -1;
}

/* Does `role` (1 = initiator) ever send an `s` token in this pattern? */
static int sends_static(const noise_pattern *pat, int initiator)
{
    for (unsigned m = 0; m < pat->nmsgs; m++) {
        if ((m % 2 == 0) != (initiator != 0))
            continue;
        for (unsigned t = 0; t < CHAT_NOISE_MAX_TOKENS; t++)
            if (pat->msgs[m][t] == T_S)
                return 1;
    }
    return 0;
}

/* Kills a handshake after a failure part-way through a message: its
 * transcript no longer matches the peer's, so nothing may continue. */
static void handshake_kill(chat_handshake *hs)
{
    sodium_memzero(hs, sizeof *hs);
    hs->pattern = PATTERN_DEAD;
}

/* chat_handshake_init and chat_handshake_init_keypair: s_pub is the
 * public half of s_priv, or NULL to derive it here. */
static int handshake_setup(chat_handshake *hs, const char *name, int initiator,
                           const uint8_t *prologue, size_t prologue_len, const uint8_t *s_priv,
                           const uint8_t *s_pub, const uint8_t *rs, chat_rng rng)
{
    if (hs == NULL)
        return CHAT_E_INVAL;
    handshake_kill(hs); /* dead until init completes */
    if (name == NULL || (prologue == NULL && prologue_len != 0))
        return CHAT_E_INVAL;

    size_t name_len = bounded_len(name, CHAT_NOISE_PROTOCOL_NAME_MAX);
    if (name_len > CHAT_NOISE_PROTOCOL_NAME_MAX)
        return CHAT_E_INVAL;
    int idx = find_pattern(name, name_len);
    if (idx < 0)
        return CHAT_E_INVAL;
    const noise_pattern *pat = &patterns[idx];
    initiator = initiator != 0;

    /* Exactly the keys the pattern uses: a missing one cannot work, and an
     * unexpected remote static would suggest to the caller that the peer
     * is being checked against it when it is not. */
    uint8_t my_pre = initiator ? pat->pre_i : pat->pre_r;
    uint8_t their_pre = initiator ? pat->pre_r : pat->pre_i;
    int need_s = (my_pre & PRE_S) || sends_static(pat, initiator);
    int need_rs = (their_pre & PRE_S) != 0;
    if ((s_priv != NULL) != need_s || (rs != NULL) != need_rs)
        return CHAT_E_INVAL;

    if (s_priv != NULL) {
        memcpy(hs->s_priv, s_priv, CHAT_NOISE_DHLEN);
        if (s_pub != NULL) {
            memcpy(hs->s_pub, s_pub, CHAT_NOISE_DHLEN);
        } else if (crypto_scalarmult_base(hs->s_pub, hs->s_priv) != 0) {
            handshake_kill(hs);
            return CHAT_E_CRYPTO;
        }
        hs->has_s = 1;
    }
    if (rs != NULL) {
        memcpy(hs->rs, rs, CHAT_NOISE_DHLEN);
        hs->has_rs = 1;
    }
    hs->initiator = (uint8_t)initiator;
    hs->pattern = (uint8_t)idx;
    hs->msg_index = 0;
    hs->rng = rng;

    symmetric_init(&hs->ss, (const uint8_t *)name, name_len);
    mix_hash(&hs->ss, prologue, prologue_len);
    /* Pre-messages: initiator's keys first, then the responder's. */
    if (pat->pre_i & PRE_S)
        mix_hash(&hs->ss, initiator ? hs->s_pub : hs->rs, CHAT_NOISE_DHLEN);
    if (pat->pre_r & PRE_S)
        mix_hash(&hs->ss, initiator ? hs->rs : hs->s_pub, CHAT_NOISE_DHLEN);
    return CHAT_OK;
}

int chat_handshake_init(chat_handshake *hs, const char *name, int initiator,
                        const uint8_t *prologue, size_t prologue_len, const uint8_t *s_priv,
                        const uint8_t *rs, chat_rng rng)
{
    return handshake_setup(hs, name, initiator, prologue, prologue_len, s_priv, NULL, rs, rng);
}

int chat_handshake_init_keypair(chat_handshake *hs, const char *name, int initiator,
                                const uint8_t *prologue, size_t prologue_len,
                                const uint8_t *s_priv, const uint8_t s_pub[CHAT_NOISE_DHLEN],
                                const uint8_t *rs, chat_rng rng)
{
    if (s_priv == NULL || s_pub == NULL) {
        if (hs != NULL)
            handshake_kill(hs);
        return CHAT_E_INVAL;
    }
    return handshake_setup(hs, name, initiator, prologue, prologue_len, s_priv, s_pub, rs, rng);
}

void chat_handshake_set_ephemeral(chat_handshake *hs, const uint8_t e_priv[CHAT_NOISE_DHLEN])
{
    /* Ignored once the ephemeral is in use: replacing it mid-handshake
     * would break the transcript. */
    if (pattern_of(hs) == NULL || e_priv == NULL || hs->has_e)
        return;
    memcpy(hs->e_priv, e_priv, CHAT_NOISE_DHLEN);
    /* Base-point multiplication of a clamped scalar cannot fail. */
    (void)crypto_scalarmult_base(hs->e_pub, hs->e_priv);
    hs->fixed_e = 1;
}

int chat_handshake_my_turn(const chat_handshake *hs)
{
    const noise_pattern *pat = pattern_of(hs);
    if (pat == NULL || hs->msg_index >= pat->nmsgs)
        return 0;
    return (hs->msg_index % 2 == 0) == (hs->initiator != 0);
}

int chat_handshake_done(const chat_handshake *hs)
{
    const noise_pattern *pat = pattern_of(hs);
    return pat != NULL && hs->msg_index >= pat->nmsgs;
}

/* The keys a DH token combines, from this side's point of view. Returns
 * NULL pointers when a key is missing (a table or state bug). */
static void dh_keys(const chat_handshake *hs, uint8_t token, const uint8_t **priv,
                    const uint8_t **pub)
{
    /* Token "xy": x is the initiator's key, y the responder's. */
    int local_e = 0, remote_e = 0;
    switch (token) {
    case T_EE:
        local_e = 1;
        remote_e = 1;
        break;
    case T_ES:
        local_e = hs->initiator;
        remote_e = !hs->initiator;
        break;
    case T_SE:
        local_e = !hs->initiator;
        remote_e = hs->initiator;
        break;
    default: /* T_SS */
        break;
    }
    *priv = local_e ? (hs->has_e ? hs->e_priv : NULL) : (hs->has_s ? hs->s_priv : NULL);
    *pub = remote_e ? (hs->has_re ? hs->re : NULL) : (hs->has_rs ? hs->rs : NULL);
}

static int process_dh(chat_handshake *hs, uint8_t token)
{
    const uint8_t *priv, *pub;
    dh_keys(hs, token, &priv, &pub);
    if (priv == NULL || pub == NULL)
        return CHAT_E_STATE;
    return mix_dh(&hs->ss, priv, pub);
}

/* Bytes the current message needs besides the payload (keys, their tags
 * and the payload's tag). Computed without touching the state so that size
 * errors leave the handshake usable. */
static size_t message_overhead(const chat_handshake *hs, const uint8_t *tokens)
{
    size_t n = 0;
    int k = hs->ss.cs.has_key;
    for (unsigned t = 0; t < CHAT_NOISE_MAX_TOKENS && tokens[t] != T_END; t++) {
        if (tokens[t] == T_E)
            n += CHAT_NOISE_DHLEN;
        else if (tokens[t] == T_S)
            n += CHAT_NOISE_DHLEN + (k ? CHAT_NOISE_TAGLEN : 0u);
        else
            k = 1; /* every DH token runs MixKey */
    }
    return n + (k ? CHAT_NOISE_TAGLEN : 0u);
}

static int write_tokens(chat_handshake *hs, const uint8_t *tokens, uint8_t *out, size_t *pos)
{
    size_t n;
    int rc;
    for (unsigned t = 0; t < CHAT_NOISE_MAX_TOKENS && tokens[t] != T_END; t++) {
        switch (tokens[t]) {
        case T_E:
            if (hs->has_e)
                return CHAT_E_STATE;
            if (!hs->fixed_e)
                chat_x25519_generate(hs->e_priv, hs->e_pub, hs->rng);
            hs->has_e = 1;
            memcpy(out + *pos, hs->e_pub, CHAT_NOISE_DHLEN);
            *pos += CHAT_NOISE_DHLEN;
            mix_hash(&hs->ss, hs->e_pub, CHAT_NOISE_DHLEN);
            break;
        case T_S:
            if (!hs->has_s)
                return CHAT_E_STATE;
            rc = encrypt_and_hash(&hs->ss, hs->s_pub, CHAT_NOISE_DHLEN, out + *pos, &n);
            if (rc != CHAT_OK)
                return rc;
            *pos += n;
            break;
        default:
            rc = process_dh(hs, tokens[t]);
            if (rc != CHAT_OK)
                return rc;
            break;
        }
    }
    return CHAT_OK;
}

int chat_handshake_write(chat_handshake *hs, const uint8_t *payload, size_t payload_len,
                         uint8_t *out, size_t cap, size_t *out_len)
{
    if (hs == NULL || out_len == NULL || (payload == NULL && payload_len != 0))
        return CHAT_E_INVAL;
    *out_len = 0;
    if (!chat_handshake_my_turn(hs))
        return CHAT_E_STATE;
    if (out == NULL && cap != 0)
        return CHAT_E_INVAL;

    const uint8_t *tokens = pattern_of(hs)->msgs[hs->msg_index];
    size_t overhead = message_overhead(hs, tokens);
    if (payload_len > CHAT_NOISE_MAX_MSG - overhead)
        return CHAT_E_TOOBIG;
    if (cap < overhead + payload_len)
        return CHAT_E_FULL;

    size_t pos = 0, n = 0;
    int rc = write_tokens(hs, tokens, out, &pos);
    if (rc == CHAT_OK)
        rc = encrypt_and_hash(&hs->ss, payload, payload_len, out + pos, &n);
    if (rc != CHAT_OK) {
        sodium_memzero(out, cap);
        handshake_kill(hs);
        return rc;
    }
    hs->msg_index++;
    *out_len = pos + n;
    return CHAT_OK;
}

static int read_tokens(chat_handshake *hs, const uint8_t *tokens, const uint8_t *msg,
                       size_t *pos)
{
    size_t n, len;
    int rc;
    for (unsigned t = 0; t < CHAT_NOISE_MAX_TOKENS && tokens[t] != T_END; t++) {
        switch (tokens[t]) {
        case T_E:
            if (hs->has_re)
                return CHAT_E_STATE;
            memcpy(hs->re, msg + *pos, CHAT_NOISE_DHLEN);
            hs->has_re = 1;
            *pos += CHAT_NOISE_DHLEN;
            mix_hash(&hs->ss, hs->re, CHAT_NOISE_DHLEN);
            break;
        case T_S:
            if (hs->has_rs)
                return CHAT_E_STATE;
            len = CHAT_NOISE_DHLEN + (hs->ss.cs.has_key ? CHAT_NOISE_TAGLEN : 0u);
            rc = decrypt_and_hash(&hs->ss, msg + *pos, len, hs->rs, &n);
            if (rc != CHAT_OK)
                return rc;
            hs->has_rs = 1;
            *pos += len;
            break;
        default:
            rc = process_dh(hs, tokens[t]);
            if (rc != CHAT_OK)
                return rc;
            break;
        }
    }
    return CHAT_OK;
}

int chat_handshake_read(chat_handshake *hs, const uint8_t *msg, size_t msg_len,
                        uint8_t *payload_out, size_t cap, size_t *payload_len)
{
    if (hs == NULL || payload_len == NULL || (msg == NULL && msg_len != 0))
        return CHAT_E_INVAL;
    *payload_len = 0;
    const noise_pattern *pat = pattern_of(hs);
    if (pat == NULL || hs->msg_index >= pat->nmsgs || chat_handshake_my_turn(hs))
        return CHAT_E_STATE;
    if (payload_out == NULL && cap != 0)
        return CHAT_E_INVAL;

    const uint8_t *tokens = pat->msgs[hs->msg_index];
    size_t overhead = message_overhead(hs, tokens);
    if (msg_len > CHAT_NOISE_MAX_MSG)
        return CHAT_E_TOOBIG;
    if (msg_len < overhead)
        return CHAT_E_PROTO;
    size_t plen = msg_len - overhead;
    if (cap < plen)
        return CHAT_E_FULL;

    size_t pos = 0, n = 0;
    int rc = read_tokens(hs, tokens, msg, &pos);
    if (rc == CHAT_OK) {
        /* The rest of the message is the payload ciphertext (with its
         * tag when keyed); the size checks above guarantee it fits. */
        size_t ct_len = msg_len - pos;
        uint8_t dummy = 0;
        rc = decrypt_and_hash(&hs->ss, msg + pos, ct_len, payload_out ? payload_out : &dummy,
                              &n);
    }
    if (rc != CHAT_OK) {
        if (payload_out != NULL)
            sodium_memzero(payload_out, cap);
        handshake_kill(hs);
        return rc;
    }
    hs->msg_index++;
    *payload_len = n;
    return CHAT_OK;
}

int chat_handshake_split(chat_handshake *hs, chat_cipher *c1, chat_cipher *c2)
{
    const noise_pattern *pat = pattern_of(hs);
    if (c1 == NULL || c2 == NULL)
        return CHAT_E_INVAL;
    /* msg_index == nmsgs: done and not yet split (split marks itself by
     * moving one past the end, so a second call fails). */
    if (pat == NULL || hs->msg_index != pat->nmsgs)
        return CHAT_E_STATE;

    uint8_t k1[CHAT_NOISE_HASHLEN], k2[CHAT_NOISE_HASHLEN];
    hkdf2(hs->ss.ck, NULL, 0, k1, k2);
    sodium_memzero(c1, sizeof *c1);
    sodium_memzero(c2, sizeof *c2);
    cipher_init_key(c1, k1);
    cipher_init_key(c2, k2);
    sodium_memzero(k1, sizeof k1);
    sodium_memzero(k2, sizeof k2);

    /* The handshake secrets are no longer needed; keep h (channel binding)
     * and the public keys for the caller. */
    sodium_memzero(hs->ss.ck, sizeof hs->ss.ck);
    sodium_memzero(&hs->ss.cs, sizeof hs->ss.cs);
    sodium_memzero(hs->e_priv, sizeof hs->e_priv);
    sodium_memzero(hs->s_priv, sizeof hs->s_priv);
    hs->msg_index++;
    return CHAT_OK;
}

const uint8_t *chat_handshake_hash(const chat_handshake *hs)
{
    return hs != NULL ? hs->ss.h : NULL;
}

const uint8_t *chat_handshake_remote_static(const chat_handshake *hs)
{
    return pattern_of(hs) != NULL && hs->has_rs ? hs->rs : NULL;
}

const uint8_t *chat_handshake_local_static(const chat_handshake *hs)
{
    return pattern_of(hs) != NULL && hs->has_s ? hs->s_pub : NULL;
}

void chat_handshake_wipe(chat_handshake *hs)
{
    if (hs != NULL)
        handshake_kill(hs);
}

/* ---------------------------------------------------------------------
 * X25519 helpers
 * ------------------------------------------------------------------- */

int chat_x25519_public(uint8_t pub[CHAT_NOISE_DHLEN], const uint8_t priv[CHAT_NOISE_DHLEN])
{
    if (pub == NULL || priv == NULL)
        return CHAT_E_INVAL;
    if (crypto_scalarmult_base(pub, priv) != 0)
        return CHAT_E_CRYPTO;
    return CHAT_OK;
}

void chat_x25519_generate(uint8_t priv[CHAT_NOISE_DHLEN], uint8_t pub[CHAT_NOISE_DHLEN],
                          chat_rng rng)
{
    rng_fill(rng, priv, CHAT_NOISE_DHLEN);
    /* Cannot fail: libsodium clamps the scalar, so the result is never
     * the identity. */
    (void)crypto_scalarmult_base(pub, priv);
}
