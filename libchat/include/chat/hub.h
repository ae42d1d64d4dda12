/* The server hub: every connection of a server, rooms, presence, routing,
 * permissions, admin actions and limits, as a sans-I/O state machine.
 *
 * The front-end owns the sockets. For each accepted socket it calls
 * chat_hub_accept, feeds received bytes with chat_hub_feed, and writes what
 * chat_hub_out_peek hands it, acknowledging with chat_hub_out_ack. Output
 * is queued per connection as plaintext messages and sealed into as few
 * TRANSPORT frames as possible only when the front-end peeks, so everything
 * queued for one peer since the last write costs one AEAD and one write.
 *
 * Feed a bounded amount of input between two flushes (chatd: at most a
 * quarter of out_max per loop iteration): a burst from one client fans out
 * to every member's queue, and an unbounded burst could push readers that
 * keep up over out_max (PROTOCOL.md §10).
 *
 * Connections that became writable are reported by chat_hub_next_dirty.
 * When chat_hub_conn_state says CHAT_CONN_CLOSED and the output is
 * drained, the front-end closes the socket and calls chat_hub_release. On
 * EOF or a socket error it calls chat_hub_release directly (the hub then
 * reports the connection as lost to the rooms it was in).
 *
 * Timeouts: call chat_hub_tick at or after chat_hub_next_deadline.
 * Events for logging and control come from chat_hub_next_event.
 * Nothing here blocks: the only expensive operation on the server's login
 * path is one Ed25519 verification. */
#ifndef CHAT_HUB_H
#define CHAT_HUB_H

#include "chat/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct chat_hub chat_hub;
typedef uint64_t chat_conn_id; /* never 0, never reused by one hub */

typedef struct chat_hub_config {
    const uint8_t *static_priv;  /* 32-byte X25519 server key (required) */
    chat_store store;            /* account store (required) */
    chat_rng rng;                /* NULL fill: libsodium */
    chat_allocator alloc;        /* NULLs: malloc */
    const char *motd;            /* NUL-terminated, valid MOTD text, or NULL */
    const char *const *default_rooms; /* NULL-terminated list of room names, or NULL */

    /* 0 means the default given in brackets (PROTOCOL.md §10). */
    uint32_t history_len;        /* [50] messages kept per room */
    uint32_t max_rooms;          /* [1024] */
    uint32_t max_rooms_per_user; /* [64] */
    uint32_t login_attempts;     /* [3] failed proofs per connection */
    uint32_t login_timeout_ms;   /* [30000] accept -> READY */
    uint32_t idle_timeout_ms;    /* [300000] nothing received while READY */
    uint32_t user_fail_limit;    /* [10] failed logins per name per window */
    uint32_t addr_fail_limit;    /* [30] failed logins per address per window */
    uint32_t fail_window_ms;     /* [300000] */
    size_t out_max;              /* [1 MiB] queued output bytes per connection */
    uint32_t min_opslimit;       /* [CHAT_OPSLIMIT_DEFAULT] for new verifiers */
    uint32_t min_memlimit_kib;   /* [CHAT_MEMLIMIT_KIB_DEFAULT] */
    /* limits sent in challenges for unknown names; 0: the minimums above */
    uint32_t fake_opslimit;
    uint32_t fake_memlimit_kib;
    uint8_t version_min, version_max; /* [1, 1]; tests may narrow/widen */
} chat_hub_config;

/* A copy of everything it needs is taken; cfg may be freed afterwards. */
CHAT_MUST_CHECK int chat_hub_new(chat_hub **out, const chat_hub_config *cfg);
/* Frees every connection and wipes all keys. */
void chat_hub_free(chat_hub *h);

/* Replace the MOTD (SIGHUP reload). */
CHAT_MUST_CHECK int chat_hub_set_motd(chat_hub *h, const char *motd);

/* A new connection from a peer whose address is addr[0..addr_len) (opaque
 * bytes used only for per-address limits; at most 16). */
CHAT_MUST_CHECK int chat_hub_accept(chat_hub *h, const uint8_t *addr, size_t addr_len,
                                    chat_time now, chat_conn_id *id);

/* Bytes received on a connection; all are consumed (partial frames kept).
 * Protocol errors do not fail the call: they close the connection (see
 * chat_hub_conn_state). Returns CHAT_E_NOTFOUND for an unknown id,
 * CHAT_E_NOMEM on allocation failure. */
CHAT_MUST_CHECK int chat_hub_feed(chat_hub *h, chat_conn_id id, const uint8_t *in, size_t len,
                                  chat_time now);

/* Seal what is queued for the connection and return the bytes to write
 * (NULL and *len = 0 when nothing). Valid until the next call on the hub. */
const uint8_t *chat_hub_out_peek(chat_hub *h, chat_conn_id id, size_t *len);
/* n bytes of the peeked output were written (0 < n <= *len). */
void chat_hub_out_ack(chat_hub *h, chat_conn_id id, size_t n);

/* Pop a connection that has output queued since it was last popped.
 * Returns 1 and sets *id, or 0 when none. */
int chat_hub_next_dirty(chat_hub *h, chat_conn_id *id);

#define CHAT_CONN_WANT_WRITE 0x1u /* output pending */
#define CHAT_CONN_CLOSED 0x2u     /* close the socket once output is drained */
#define CHAT_CONN_READY 0x4u      /* logged in */
/* CHAT_CONN_* bits; 0 for an unknown id. */
unsigned chat_hub_conn_state(const chat_hub *h, chat_conn_id id);

/* The socket is gone: free the connection. If the hub had not closed it
 * itself, it is reported to its rooms as CONN_LOST. */
void chat_hub_release(chat_hub *h, chat_conn_id id, chat_time now);

/* Handle timeouts due at now. */
void chat_hub_tick(chat_hub *h, chat_time now);
/* Earliest monotonic time at which chat_hub_tick has work, or CHAT_NO_DEADLINE. */
uint64_t chat_hub_next_deadline(const chat_hub *h);

/* Server shutdown (SIGTERM or the admin SHUTDOWN): every connection gets
 * GOODBYE(SHUTDOWN, reason) and is closed. Idempotent. */
void chat_hub_shutdown(chat_hub *h, const char *reason, chat_time now);
/* 1 once shut down: the front-end flushes output and exits. */
int chat_hub_is_shut_down(const chat_hub *h);

/* Number of live connections, and of logged-in ones. */
size_t chat_hub_conn_count(const chat_hub *h);
size_t chat_hub_user_count(const chat_hub *h);

/* Events for the front-end's log. Strings are NUL-terminated and valid
 * until the next call on the hub. They never hold secrets or message text. */
typedef enum chat_hub_event_type {
    CHAT_HUB_EV_NONE = 0,
    CHAT_HUB_EV_HANDSHAKE,     /* handshake completed (version) */
    CHAT_HUB_EV_LOGIN,         /* user logged in (user, role) */
    CHAT_HUB_EV_LOGIN_FAILED,  /* a failed attempt (user as given, code) */
    CHAT_HUB_EV_CLOSED,        /* connection closed by the hub or lost (code, by_peer) */
    CHAT_HUB_EV_ADMIN,         /* admin action (user = actor, target, code = message type) */
    CHAT_HUB_EV_SHUTDOWN       /* shutdown requested (user = admin, or "" for the front-end) */
} chat_hub_event_type;

typedef struct chat_hub_event {
    chat_hub_event_type type;
    chat_conn_id conn;
    const char *user;    /* "" when none */
    const char *target;  /* ADMIN: the account or user acted on; else "" */
    unsigned code;       /* chat_code, version, or message type (ADMIN) */
    int by_peer;         /* CLOSED: 1 if the peer ended it (GOODBYE or EOF) */
} chat_hub_event;

/* 1 and *ev filled, or 0 when the queue is empty. */
int chat_hub_next_event(chat_hub *h, chat_hub_event *ev);

#ifdef __cplusplus
}
#endif
#endif
