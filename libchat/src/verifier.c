/* Password -> verifier derivation, the login proof and key fingerprints
 * (PROTOCOL.md §4.1, §4.3, §11.1). Pure functions over caller buffers. */
#include "chat/verifier.h"

#include <string.h>

#include <sodium.h>

/* "chat/1 login proof" || h || u8 len || folded name */
#define PROOF_MSG_MAX (CHAT_PROOF_CONTEXT_LEN + 32 + 1 + CHAT_NAME_MAX)

static void rng_fill(chat_rng rng, uint8_t *buf, size_t len)
{
    if (rng.fill != NULL)
        rng.fill(rng.ctx, buf, len);
    else
        randombytes_buf(buf, len);
}

int chat_seed_derive(uint8_t seed[CHAT_SEED_LEN], const uint8_t *password, size_t password_len,
                     const uint8_t salt[CHAT_SALT_LEN], uint32_t opslimit,
                     uint32_t memlimit_kib)
{
    if (seed == NULL || password == NULL || salt == NULL)
        return CHAT_E_INVAL;
    if (password_len < 1 || password_len > CHAT_PASSWORD_MAX)
        return CHAT_E_INVAL;
    if (opslimit < CHAT_OPSLIMIT_MIN || memlimit_kib < CHAT_MEMLIMIT_KIB_MIN)
        return CHAT_E_INVAL;
    /* Argon2id's maximum also bounds size_t on 32-bit platforms. */
    uint64_t memlimit = (uint64_t)memlimit_kib * 1024u;
    if (memlimit > (uint64_t)crypto_pwhash_argon2id_MEMLIMIT_MAX)
        return CHAT_E_NOMEM;
    if (sodium_init() < 0)
        return CHAT_E_CRYPTO;
    if (crypto_pwhash(seed, CHAT_SEED_LEN, (const char *)password, password_len, salt,
                      opslimit, (size_t)memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
        sodium_memzero(seed, CHAT_SEED_LEN);
        return CHAT_E_NOMEM;
    }
    return CHAT_OK;
}

void chat_seed_public(uint8_t pk[CHAT_PK_LEN], const uint8_t seed[CHAT_SEED_LEN])
{
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(sk, sizeof sk);
}

int chat_verifier_make(chat_verifier *out, const uint8_t *password, size_t password_len,
                       uint32_t opslimit, uint32_t memlimit_kib, chat_rng rng)
{
    if (out == NULL)
        return CHAT_E_INVAL;
    chat_verifier v;
    memset(&v, 0, sizeof v);
    v.opslimit = opslimit;
    v.memlimit_kib = memlimit_kib;
    /* Validate before drawing randomness, so a bad call consumes none. */
    if (password == NULL || password_len < 1 || password_len > CHAT_PASSWORD_MAX ||
        opslimit < CHAT_OPSLIMIT_MIN || memlimit_kib < CHAT_MEMLIMIT_KIB_MIN)
        return CHAT_E_INVAL;
    rng_fill(rng, v.salt, sizeof v.salt);

    uint8_t seed[CHAT_SEED_LEN];
    int rc = chat_seed_derive(seed, password, password_len, v.salt, opslimit, memlimit_kib);
    if (rc != CHAT_OK) {
        sodium_memzero(seed, sizeof seed);
        return rc;
    }
    chat_seed_public(v.pk, seed);
    sodium_memzero(seed, sizeof seed);
    *out = v;
    return CHAT_OK;
}

/* Build the §4.3 proof message into buf; returns its length, or 0 when the
 * name is not a valid user name. */
static size_t proof_message(uint8_t buf[PROOF_MSG_MAX], const uint8_t h[32],
                            const uint8_t *name, size_t name_len)
{
    if (name == NULL || !chat_valid_name(name, name_len))
        return 0;
    char folded[CHAT_NAME_MAX + 1];
    size_t n = chat_name_fold(folded, name, name_len);
    size_t pos = 0;
    memcpy(buf + pos, CHAT_PROOF_CONTEXT, CHAT_PROOF_CONTEXT_LEN);
    pos += CHAT_PROOF_CONTEXT_LEN;
    memcpy(buf + pos, h, 32);
    pos += 32;
    buf[pos++] = (uint8_t)n;
    memcpy(buf + pos, folded, n);
    pos += n;
    return pos;
}

int chat_proof_sign(uint8_t sig[CHAT_SIG_LEN], const uint8_t seed[CHAT_SEED_LEN],
                    const uint8_t h[32], const uint8_t *name, size_t name_len)
{
    if (sig == NULL || seed == NULL || h == NULL)
        return CHAT_E_INVAL;
    uint8_t msg[PROOF_MSG_MAX];
    size_t len = proof_message(msg, h, name, name_len);
    if (len == 0)
        return CHAT_E_INVAL;

    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_seed_keypair(pk, sk, seed);
    int rc = crypto_sign_detached(sig, NULL, msg, len, sk) == 0 ? CHAT_OK : CHAT_E_CRYPTO;
    sodium_memzero(sk, sizeof sk);
    return rc;
}

int chat_proof_verify(const uint8_t sig[CHAT_SIG_LEN], const uint8_t pk[CHAT_PK_LEN],
                      const uint8_t h[32], const uint8_t *name, size_t name_len)
{
    if (sig == NULL || pk == NULL || h == NULL)
        return CHAT_E_INVAL;
    uint8_t msg[PROOF_MSG_MAX];
    size_t len = proof_message(msg, h, name, name_len);
    if (len == 0)
        return CHAT_E_INVAL;
    if (crypto_sign_verify_detached(sig, msg, len, pk) != 0)
        return CHAT_E_CRYPTO;
    return CHAT_OK;
}

void chat_fingerprint(char out[CHAT_FINGERPRINT_LEN + 1], const uint8_t key[32])
{
    uint8_t digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, key, 32);
    memcpy(out, "SHA256:", 7);
    /* 32 bytes -> 43 base64 characters + NUL = the remaining 44 bytes. */
    sodium_bin2base64(out + 7, CHAT_FINGERPRINT_LEN + 1 - 7, digest, sizeof digest,
                      sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}
