/* One connection from the client side, as a sans-I/O state machine:
 * handshake -> server key decision -> login -> commands in, events out
 * (PROTOCOL.md §8.2).
 *
 *   chat_client_new, chat_client_start(user)   queue HS1
 *   loop: write chat_client_out_peek/_out_ack; chat_client_feed(received);
 *         drain chat_client_next_event:
 *           SERVER_KEY  -> chat_client_trust_server(accept?)   (pinning is the caller's)
 *           CHALLENGE   -> chat_client_prove(password) or _prove_seed(seed)
 *           LOGIN_FAILED-> chat_client_login(user) to retry, if attempts remain
 *           WELCOME, MESSAGE (any other server message), CLOSED
 *   requests: chat_client_request(msg) or the helpers below.
 *
 * The client never reads a clock: pass now_ms (monotonic) in, and call
 * chat_client_tick at chat_client_next_deadline (it sends PING to keep the
 * connection alive). */
#ifndef CHAT_CLIENT_H
#define CHAT_CLIENT_H

#include "chat/codec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct chat_client chat_client;

typedef struct chat_client_config {
    const uint8_t *static_priv;  /* 32-byte X25519 device key; NULL: generate one */
    chat_rng rng;                /* NULL fill: libsodium */
    chat_allocator alloc;        /* NULLs: malloc */
    uint32_t max_opslimit;       /* [CHAT_OPSLIMIT_CLIENT_MAX] refuse heavier challenges */
    uint32_t max_memlimit_kib;   /* [CHAT_MEMLIMIT_KIB_CLIENT_MAX] */
    uint32_t ping_interval_ms;   /* [60000] PING after this long without sending; 0: default */
    size_t in_max;               /* [4 MiB] undelivered input bound */
    uint8_t version_min, version_max; /* [1, 1] */
} chat_client_config;

CHAT_MUST_CHECK int chat_client_new(chat_client **out, const chat_client_config *cfg);
void chat_client_free(chat_client *c); /* wipes keys and secrets */

/* Queue HS1; user is the account to log in as once the server is trusted. */
CHAT_MUST_CHECK int chat_client_start(chat_client *c, const char *user, uint64_t now_ms);

/* Bytes received from the server; all consumed. Protocol errors close the
 * client (CLOSED event) and are not returned as errors; returns
 * CHAT_E_CLOSED if already closed, CHAT_E_NOMEM. */
CHAT_MUST_CHECK int chat_client_feed(chat_client *c, const uint8_t *in, size_t len, uint64_t now_ms);

/* The stream ended (EOF or error) without GOODBYE: CLOSED event with
 * origin CHAT_CLOSE_LOST. */
void chat_client_eof(chat_client *c);

/* Bytes to write; valid until the next call on the client. */
const uint8_t *chat_client_out_peek(chat_client *c, size_t *len);
void chat_client_out_ack(chat_client *c, size_t n);

typedef enum chat_client_state {
    CHAT_CLIENT_START = 0,
    CHAT_CLIENT_AWAIT_HS2,
    CHAT_CLIENT_AWAIT_TRUST,
    CHAT_CLIENT_AWAIT_CHALLENGE,
    CHAT_CLIENT_AWAIT_PASSWORD,
    CHAT_CLIENT_AWAIT_RESULT,
    CHAT_CLIENT_AWAIT_RETRY,     /* LOGIN_FAILED seen: chat_client_login may retry */
    CHAT_CLIENT_READY,
    CHAT_CLIENT_CLOSED
} chat_client_state;
chat_client_state chat_client_get_state(const chat_client *c);

/* Who closed: the server (GOODBYE received), we (a protocol error, a
 * refused key, chat_client_quit), or nobody (the stream was cut). */
typedef enum chat_close_origin {
    CHAT_CLOSE_PEER = 1,
    CHAT_CLOSE_LOCAL = 2,
    CHAT_CLOSE_LOST = 3
} chat_close_origin;

typedef enum chat_client_event_type {
    CHAT_CLIENT_EV_NONE = 0,
    CHAT_CLIENT_EV_SERVER_KEY,   /* .server_key, .version: decide with chat_client_trust_server */
    CHAT_CLIENT_EV_CHALLENGE,    /* .msg is the CHALLENGE: answer with chat_client_prove */
    CHAT_CLIENT_EV_LOGIN_FAILED, /* .msg is the LOGIN_FAILED */
    CHAT_CLIENT_EV_WELCOME,      /* .msg is the WELCOME */
    CHAT_CLIENT_EV_MESSAGE,      /* .msg is any other server message */
    CHAT_CLIENT_EV_REJECTED,     /* .reject: the server's REJECT frame (then CLOSED) */
    CHAT_CLIENT_EV_CLOSED        /* .close */
} chat_client_event_type;

typedef struct chat_client_event {
    chat_client_event_type type;
    chat_msg msg;                   /* views valid until the next call on the client */
    uint8_t server_key[32];
    uint8_t version;
    chat_reject reject;
    struct {
        chat_close_origin origin;
        uint16_t code;              /* chat_code: GOODBYE's, or ours */
        chat_str text;
    } close;
} chat_client_event;

/* 1 and *ev filled, or 0 when there is no event. */
int chat_client_next_event(chat_client *c, chat_client_event *ev);

/* Accept (1) or refuse (0) the server key from the SERVER_KEY event.
 * Accepting sends HS3 with LOGIN; refusing closes without sending more. */
CHAT_MUST_CHECK int chat_client_trust_server(chat_client *c, int accept);

/* Answer the pending CHALLENGE: derive the seed with Argon2id (slow, by
 * design) and send PROOF. The password is not kept. */
CHAT_MUST_CHECK int chat_client_prove(chat_client *c, const uint8_t *password, size_t len);
/* Same with a seed derived earlier for this challenge's salt and limits. */
CHAT_MUST_CHECK int chat_client_prove_seed(chat_client *c, const uint8_t seed[CHAT_SEED_LEN]);
/* After LOGIN_FAILED with attempts left: log in again (maybe as another user). */
CHAT_MUST_CHECK int chat_client_login(chat_client *c, const char *user);

/* The server's key (valid after SERVER_KEY), the handshake hash, the
 * logged-in user (folded) and role. */
const uint8_t *chat_client_server_key(const chat_client *c);
const char *chat_client_user(const chat_client *c);
int chat_client_role(const chat_client *c);

/* Send any client->server request (READY only). m->req is assigned a fresh
 * id, returned in *req (may be NULL). CHAT_E_INVAL if m does not encode. */
CHAT_MUST_CHECK int chat_client_request(chat_client *c, chat_msg *m, uint32_t *req);

/* Convenience requests; names and texts are NUL-terminated UTF-8. */
CHAT_MUST_CHECK int chat_client_join(chat_client *c, const char *room, uint32_t *req);
CHAT_MUST_CHECK int chat_client_part(chat_client *c, const char *room, uint32_t *req);
CHAT_MUST_CHECK int chat_client_say(chat_client *c, const char *target, const char *text,
                                    chat_kind kind, uint32_t *req);
/* New verifier for the own account / a new account, derived here with
 * Argon2id (salt from the rng) under the given limits (0: defaults). */
CHAT_MUST_CHECK int chat_client_passwd(chat_client *c, const uint8_t *password, size_t len,
                                       uint32_t opslimit, uint32_t memlimit_kib, uint32_t *req);
CHAT_MUST_CHECK int chat_client_add_user(chat_client *c, const char *user, chat_role role,
                                         const uint8_t *password, size_t len,
                                         uint32_t opslimit, uint32_t memlimit_kib, uint32_t *req);

/* Say goodbye (code QUIT) and close; the GOODBYE is in the output. */
CHAT_MUST_CHECK int chat_client_quit(chat_client *c, const char *text);

void chat_client_tick(chat_client *c, uint64_t now_ms);
uint64_t chat_client_next_deadline(const chat_client *c);

#ifdef __cplusplus
}
#endif
#endif
