/* Password -> verifier derivation and the login proof (PROTOCOL.md §4).
 * Pure functions: the limits are inputs, the salt comes from the caller. */
#ifndef CHAT_VERIFIER_H
#define CHAT_VERIFIER_H

#include "chat/codec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Recommended limits for new verifiers (libsodium "interactive"). */
#define CHAT_OPSLIMIT_DEFAULT 2u
#define CHAT_MEMLIMIT_KIB_DEFAULT 65536u
/* Protocol minimums (Argon2id's own) and a client's default maximums. */
#define CHAT_OPSLIMIT_MIN 1u
#define CHAT_MEMLIMIT_KIB_MIN 8u
#define CHAT_OPSLIMIT_CLIENT_MAX 16u
#define CHAT_MEMLIMIT_KIB_CLIENT_MAX 1048576u

/* seed = Argon2id(password, salt, opslimit, memlimit_kib KiB) (32 bytes).
 * CHAT_E_INVAL for an empty or over-long password or limits below the
 * minimums, CHAT_E_NOMEM when Argon2id cannot get its memory. */
CHAT_MUST_CHECK int chat_seed_derive(uint8_t seed[CHAT_SEED_LEN], const uint8_t *password,
                                     size_t password_len, const uint8_t salt[CHAT_SALT_LEN],
                                     uint32_t opslimit, uint32_t memlimit_kib);

/* The Ed25519 public key of a seed. */
void chat_seed_public(uint8_t pk[CHAT_PK_LEN], const uint8_t seed[CHAT_SEED_LEN]);

/* A complete verifier from a password: salt from rng (NULL fill = libsodium).
 * The seed is wiped before returning. */
CHAT_MUST_CHECK int chat_verifier_make(chat_verifier *out, const uint8_t *password,
                                       size_t password_len, uint32_t opslimit,
                                       uint32_t memlimit_kib, chat_rng rng);

/* The proof message of §4.3 signed with the seed's key. name need not be
 * folded (it is folded here). CHAT_E_INVAL for an invalid name. */
CHAT_MUST_CHECK int chat_proof_sign(uint8_t sig[CHAT_SIG_LEN], const uint8_t seed[CHAT_SEED_LEN],
                                    const uint8_t h[32], const uint8_t *name, size_t name_len);

/* CHAT_OK when sig is a valid proof for (pk, h, name), else CHAT_E_CRYPTO. */
CHAT_MUST_CHECK int chat_proof_verify(const uint8_t sig[CHAT_SIG_LEN], const uint8_t pk[CHAT_PK_LEN],
                                      const uint8_t h[32], const uint8_t *name, size_t name_len);

/* Server key fingerprint "SHA256:<43 chars unpadded base64>" into out
 * (capacity >= CHAT_FINGERPRINT_LEN + 1, NUL-terminated). */
#define CHAT_FINGERPRINT_LEN 50
void chat_fingerprint(char out[CHAT_FINGERPRINT_LEN + 1], const uint8_t key[32]);

#ifdef __cplusplus
}
#endif
#endif
