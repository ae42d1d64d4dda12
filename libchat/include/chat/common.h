/* libchat common definitions: library error codes, injected randomness,
 * injected allocation, and the time the caller passes in.
 *
 * libchat never reads a clock, the environment or the OS random source and
 * keeps no global state: everything here is handed in by the caller. */
#ifndef CHAT_COMMON_H
#define CHAT_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define CHAT_MUST_CHECK __attribute__((warn_unused_result))
#else
#define CHAT_MUST_CHECK
#endif

/* Library (API) error codes. These are about calls into the library and are
 * never sent on the wire; wire error codes are chat_code (codec.h). */
typedef enum chat_err {
    CHAT_OK = 0,
    CHAT_E_INVAL = -1,     /* bad argument */
    CHAT_E_STATE = -2,     /* call not valid in the object's current state */
    CHAT_E_NOMEM = -3,     /* allocation failed */
    CHAT_E_FULL = -4,      /* output buffer / queue too small */
    CHAT_E_AGAIN = -5,     /* incomplete input: more bytes needed */
    CHAT_E_NOTFOUND = -6,  /* no such object (store, connection) */
    CHAT_E_EXISTS = -7,    /* object already exists (store) */
    CHAT_E_STORE = -8,     /* the account store failed */
    CHAT_E_PROTO = -10,    /* malformed or unexpected input from the peer */
    CHAT_E_DECRYPT = -11,  /* AEAD authentication failed */
    CHAT_E_TOOBIG = -12,   /* a length over its limit */
    CHAT_E_CLOSED = -13,   /* the connection is closed (sticky) */
    CHAT_E_CRYPTO = -14,   /* a crypto primitive failed (bad key, low-order point) */
    CHAT_E_NONCE = -15     /* a CipherState nonce is exhausted */
} chat_err;

/* Short English description of an error code; never NULL. */
const char *chat_strerror(int err);

/* Randomness: fill buf with len random bytes. A NULL fill means libsodium's
 * randombytes_buf. Deterministic tests pass their own. */
typedef void (*chat_rng_fill_fn)(void *ctx, uint8_t *buf, size_t len);
typedef struct chat_rng {
    chat_rng_fill_fn fill;
    void *ctx;
} chat_rng;

/* Allocation: all three NULL means malloc/realloc/free; otherwise all
 * three must be set (a partial set is refused with CHAT_E_INVAL). Per
 * object, never global, so failed-allocation tests can target one object. */
typedef struct chat_allocator {
    void *(*alloc)(void *ctx, size_t size);
    void *(*realloc)(void *ctx, void *ptr, size_t size);
    void (*free)(void *ctx, void *ptr);
    void *ctx;
} chat_allocator;

/* Time as the caller sees it: monotonic milliseconds for timeouts, wall
 * milliseconds since the Unix epoch for timestamps carried on the wire. */
typedef struct chat_time {
    uint64_t mono_ms;
    uint64_t wall_ms;
} chat_time;

/* No deadline pending. */
#define CHAT_NO_DEADLINE UINT64_MAX

#ifdef __cplusplus
}
#endif
#endif
