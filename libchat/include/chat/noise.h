/* Noise Protocol Framework (revision 34) for the one suite libchat uses,
 * 25519_ChaChaPoly_SHA256, built on libsodium only.
 *
 * A generic HandshakeState driven by a pattern table: every non-PSK
 * pattern of the specification (one-way N/K/X, the interactive
 * fundamental patterns and the deferred variants such as X1K1) is
 * supported, so the public test vectors can be replayed. libchat itself
 * uses Noise_XX.
 *
 * All objects live in caller memory and never allocate. Wipe them with
 * chat_handshake_wipe / chat_cipher_wipe when done. */
#ifndef CHAT_NOISE_H
#define CHAT_NOISE_H

#include "chat/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CHAT_NOISE_DHLEN 32
#define CHAT_NOISE_HASHLEN 32
#define CHAT_NOISE_KEYLEN 32
#define CHAT_NOISE_TAGLEN 16
#define CHAT_NOISE_MAX_MSG 65535 /* largest Noise message, any kind */
#define CHAT_NOISE_MAX_TOKENS 8  /* tokens in one message pattern */
#define CHAT_NOISE_MAX_MSGS 4    /* message patterns in one handshake */
#define CHAT_NOISE_PROTOCOL_NAME_MAX 64

/* CipherState: a key and a 64-bit nonce. */
typedef struct chat_cipher {
    uint8_t k[CHAT_NOISE_KEYLEN];
    uint64_t n;
    uint8_t has_key;
} chat_cipher;

/* SymmetricState. */
typedef struct chat_symmetric {
    chat_cipher cs;
    uint8_t ck[CHAT_NOISE_HASHLEN];
    uint8_t h[CHAT_NOISE_HASHLEN];
} chat_symmetric;

/* HandshakeState. Fields are private: use the functions below. */
typedef struct chat_handshake {
    chat_symmetric ss;
    uint8_t s_priv[CHAT_NOISE_DHLEN], s_pub[CHAT_NOISE_DHLEN];
    uint8_t e_priv[CHAT_NOISE_DHLEN], e_pub[CHAT_NOISE_DHLEN];
    uint8_t rs[CHAT_NOISE_DHLEN], re[CHAT_NOISE_DHLEN];
    uint8_t has_s, has_e, has_rs, has_re;
    uint8_t fixed_e;   /* ephemeral supplied by chat_handshake_set_ephemeral */
    uint8_t initiator; /* 1 = initiator, 0 = responder */
    uint8_t pattern;   /* index into the private pattern table */
    uint8_t msg_index; /* next message pattern to process */
    chat_rng rng;
} chat_handshake;

/* Initialise for the protocol `name` (e.g. "Noise_XX_25519_ChaChaPoly_SHA256").
 * s_priv: this side's static private key, or NULL if the pattern has none for
 * this role. rs: the remote static public key when pre-known (K/N patterns'
 * pre-messages), else NULL. The local static public key is derived from
 * s_priv. rng draws the ephemeral key unless one is set with
 * chat_handshake_set_ephemeral before the first message that needs it.
 * Returns CHAT_E_INVAL for an unknown or unsupported protocol name, a
 * missing key the pattern needs, or a key it does not use (an rs for a
 * pattern that transmits the peer's static would not be checked against
 * anything). On any error hs is left unusable (every call: CHAT_E_STATE). */
CHAT_MUST_CHECK int chat_handshake_init(chat_handshake *hs, const char *name, int initiator,
                                        const uint8_t *prologue, size_t prologue_len,
                                        const uint8_t *s_priv, const uint8_t *rs,
                                        chat_rng rng);

/* The same, with this side's static key pair given whole (s_priv and s_pub
 * both required; s_pub must be the public key of s_priv). Deriving the
 * public key costs a base-point multiplication, about a sixth of a server's
 * whole login (docs/PERFORMANCE.md): a server answering every handshake with
 * one static key derives it once. */
CHAT_MUST_CHECK int chat_handshake_init_keypair(chat_handshake *hs, const char *name, int initiator,
                                                const uint8_t *prologue, size_t prologue_len,
                                                const uint8_t *s_priv,
                                                const uint8_t s_pub[CHAT_NOISE_DHLEN],
                                                const uint8_t *rs, chat_rng rng);

/* Fix the ephemeral private key (test vectors, known-answer transcripts).
 * Call after init and before the message that sends `e`; ignored once the
 * ephemeral has been sent. */
void chat_handshake_set_ephemeral(chat_handshake *hs, const uint8_t e_priv[CHAT_NOISE_DHLEN]);

/* 1 when it is this side's turn to write, 0 when it must read. */
int chat_handshake_my_turn(const chat_handshake *hs);

/* 1 once every message pattern has been processed. */
int chat_handshake_done(const chat_handshake *hs);

/* Write the next handshake message with `payload` into out (capacity cap).
 * *out_len receives the message length. Errors: CHAT_E_STATE (not our turn
 * or done), CHAT_E_FULL (cap too small), CHAT_E_TOOBIG (over 65535) leave
 * the handshake unchanged; CHAT_E_CRYPTO (DH produced all zeros: the peer
 * sent a low-order point) wipes it and it must be abandoned. */
CHAT_MUST_CHECK int chat_handshake_write(chat_handshake *hs, const uint8_t *payload,
                                         size_t payload_len, uint8_t *out, size_t cap,
                                         size_t *out_len);

/* Read the next handshake message. The payload is written to payload_out
 * (capacity cap; msg_len bytes always suffice). Errors that leave the
 * handshake unchanged: CHAT_E_STATE, CHAT_E_PROTO (too short),
 * CHAT_E_TOOBIG (over 65535), CHAT_E_FULL (cap too small for the payload).
 * Errors after which the handshake is wiped and must be abandoned:
 * CHAT_E_DECRYPT (authentication failed), CHAT_E_CRYPTO (DH produced all
 * zeros: low-order point). */
CHAT_MUST_CHECK int chat_handshake_read(chat_handshake *hs, const uint8_t *msg, size_t msg_len,
                                        uint8_t *payload_out, size_t cap, size_t *payload_len);

/* After done: the two transport CipherStates. c1 encrypts initiator to
 * responder, c2 responder to initiator (Noise Split()). Works once
 * (CHAT_E_STATE before done or when repeated); it wipes the handshake's
 * secret keys but keeps the hash and the static public keys readable. */
CHAT_MUST_CHECK int chat_handshake_split(chat_handshake *hs, chat_cipher *c1, chat_cipher *c2);

/* The handshake hash h (valid at any point; final after the last message). */
const uint8_t *chat_handshake_hash(const chat_handshake *hs);

/* The peer's static public key once received (or pre-known), else NULL. */
const uint8_t *chat_handshake_remote_static(const chat_handshake *hs);

/* The local static public key, or NULL when none was given. */
const uint8_t *chat_handshake_local_static(const chat_handshake *hs);

void chat_handshake_wipe(chat_handshake *hs);

/* Transport encryption with a CipherState: out receives ciphertext||tag
 * (pt_len + 16 bytes); ad may be NULL with ad_len 0. Fails with
 * CHAT_E_NONCE when the nonce reaches 2^64-1 (reserved, never used),
 * CHAT_E_STATE when c has no key, CHAT_E_TOOBIG when pt_len + 16 exceeds
 * CHAT_NOISE_MAX_MSG. */
CHAT_MUST_CHECK int chat_cipher_encrypt(chat_cipher *c, const uint8_t *ad, size_t ad_len,
                                        const uint8_t *pt, size_t pt_len, uint8_t *out);

/* out receives ct_len - 16 bytes. CHAT_E_DECRYPT on a bad tag (the nonce
 * is not advanced then), CHAT_E_PROTO when ct_len < 16, CHAT_E_TOOBIG when
 * ct_len > CHAT_NOISE_MAX_MSG, CHAT_E_NONCE / CHAT_E_STATE as for encrypt.
 * out may equal ct (in place). */
CHAT_MUST_CHECK int chat_cipher_decrypt(chat_cipher *c, const uint8_t *ad, size_t ad_len,
                                        const uint8_t *ct, size_t ct_len, uint8_t *out);

void chat_cipher_wipe(chat_cipher *c);

/* X25519 helpers used by front-ends and tests. */
CHAT_MUST_CHECK int chat_x25519_public(uint8_t pub[CHAT_NOISE_DHLEN],
                                       const uint8_t priv[CHAT_NOISE_DHLEN]);
void chat_x25519_generate(uint8_t priv[CHAT_NOISE_DHLEN], uint8_t pub[CHAT_NOISE_DHLEN],
                          chat_rng rng);

#ifdef __cplusplus
}
#endif
#endif
