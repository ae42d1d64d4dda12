/* X25519 private key files for chatd (server identity) and chatc (device
 * key).
 *
 * Accepted formats, detected automatically:
 *   - raw: exactly 32 bytes;
 *   - hex: 64 hex digits (either case);
 *   - base64: standard alphabet, padded or not, of 32 bytes;
 *   - PEM "PRIVATE KEY" (unencrypted PKCS#8), as written by
 *     `openssl genpkey -algorithm X25519`. The DER is checked field by
 *     field: version 0, algorithm 1.3.101.110 (X25519) with no parameters,
 *     and a 32-byte CurvePrivateKey, nothing else.
 * Text formats may have surrounding whitespace (a trailing newline).
 *
 * Keys are saved as PKCS#8 PEM, so `openssl pkey -in FILE -pubout` reads
 * them, with mode 0600, atomically. Key files must not be readable or
 * writable by group or others: loading refuses them (KF_E_PERM).
 *
 * Functions return KF_OK (0) or a negative KF_E_* code and describe the
 * failure in err (capacity errlen; err may be NULL). Key material in
 * temporary buffers is wiped. */
#ifndef CHAT_KEYFILE_H
#define CHAT_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KF_KEY_LEN 32

enum {
    KF_OK = 0,
    KF_E_IO = -1,      /* reading or writing the file failed */
    KF_E_NOENT = -2,   /* no such file */
    KF_E_FORMAT = -3,  /* not a key in any accepted format */
    KF_E_PERM = -4,    /* the file is accessible to group or others */
    KF_E_INVAL = -5,   /* bad argument */
    KF_E_EXISTS = -6   /* kf_create: the file already exists */
};

/* Largest key file read (a PEM key is 119 bytes; the limit leaves room
 * for CRLF line ends, wrapped base64 and whitespace). */
#define KF_FILE_MAX 4096

/* Size of the PEM text kf_to_pem writes, with its NUL. */
#define KF_PEM_SIZE 120

/* A new random private key (clamped as RFC 7748 describes, as OpenSSL
 * does; X25519 clamps anyway). */
void kf_generate(uint8_t key[KF_KEY_LEN]);

/* Parse a key from memory in any accepted format. The message in err does
 * not name a file. */
int kf_parse(const uint8_t *data, size_t len, uint8_t key[KF_KEY_LEN], char *err, size_t errlen);

/* The PKCS#8 PEM text of a key into out (capacity >= KF_PEM_SIZE). */
int kf_to_pem(const uint8_t key[KF_KEY_LEN], char *out, size_t outlen);

/* Load a key file: checks its permissions, then parses it. */
int kf_load(const char *path, uint8_t key[KF_KEY_LEN], char *err, size_t errlen);

/* Write key to path as PEM, mode 0600, atomically replacing any file. */
int kf_save(const char *path, const uint8_t key[KF_KEY_LEN], char *err, size_t errlen);

/* Write key to path as PEM, mode 0600, only if path does not exist
 * (KF_E_EXISTS otherwise). */
int kf_create(const char *path, const uint8_t key[KF_KEY_LEN], char *err, size_t errlen);

/* Load path; if it does not exist, generate a key and create it. *created
 * (may be NULL) says which happened. If another process creates the file
 * at the same moment, its key is loaded and used. The directory must
 * exist (fu_mkdir_p). */
int kf_load_or_create(const char *path, uint8_t key[KF_KEY_LEN], int *created, char *err,
                      size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
