/* Private: the hub's internal types, shared by hub.c (connections, framing,
 * output, timers, events), hub_login.c (handshake, login, failure limits)
 * and hub_rooms.c (rooms, messages, admin actions). Nothing here is part
 * of the public API. */
#ifndef CHAT_HUB_INTERNAL_H
#define CHAT_HUB_INTERNAL_H

#include "chat/hub.h"
#include "chat/noise.h"
#include "chat/verifier.h"
#include "mem.h"

/* Server-side connection states (PROTOCOL.md §8.1). */
enum {
    HUB_AWAIT_HS1 = 0,
    HUB_AWAIT_HS3,
    HUB_AWAIT_PROOF,
    HUB_AWAIT_LOGIN,
    HUB_READY,
    HUB_CLOSED
};

/* Which list a connection's timer link is on. */
enum { HUB_TL_NONE = 0, HUB_TL_LOGIN, HUB_TL_IDLE, HUB_TL_LEAVE };

/* Connection flags. */
#define HUB_F_KEYS 0x01u  /* transport keys established */
#define HUB_F_DIRTY 0x02u /* on the dirty list */

#define HUB_NAME_CAP (CHAT_ROOM_MAX + 1) /* folded name or room + NUL */
#define HUB_ADDR_MAX 16
#define HUB_FAIL_MAX 4096 /* entries per failure table */
#define HUB_EV_MAX 4096   /* queued events before the oldest are dropped */

typedef struct hub_conn hub_conn;
typedef struct hub_room hub_room;

typedef struct hub_link {
    hub_conn *prev, *next;
} hub_link;

/* A FIFO of connections through one of their two links. */
typedef struct hub_list {
    hub_conn *head, *tail;
} hub_list;

/* Membership is indexed both ways so joining and leaving are O(1):
 * room->m[i].slot is the index of the room in c->rooms and
 * c->rooms[j].slot the index of the connection in room->m. */
typedef struct hub_member {
    hub_conn *c;
    uint32_t slot;
} hub_member;

typedef struct hub_membership {
    hub_room *r;
    uint32_t slot;
} hub_membership;

/* State that lives only from accept to READY; wiped and freed at login. */
typedef struct hub_login {
    chat_handshake *hs;          /* HS1 .. Split(), then wiped and freed */
    uint8_t h[CHAT_NOISE_HASHLEN]; /* handshake hash, signed by the proof */
    chat_verifier chal;          /* the account the challenge was for */
    uint8_t known;               /* chal is a real account */
    uint8_t version;             /* negotiated version */
    uint8_t failures;            /* failed attempts on this connection */
    uint8_t addr_len;
    uint8_t addr[HUB_ADDR_MAX];
} hub_login;

/* One connection. Kept small: an idle logged-in connection holds this,
 * one slot in the id and user tables and its room memberships. */
struct hub_conn {
    chat_conn_id id;      /* first: the id table's key */
    hub_link tl;          /* login or idle timer FIFO, or the leave queue */
    hub_link dl;          /* dirty list */
    uint64_t t0;          /* timer start: accept time or last frame (mono ms) */
    hub_login *login;     /* until READY */
    chat__buf in;         /* partial trailing frame only */
    chat__buf out;        /* queued plaintext messages (u16-prefixed) */
    chat__buf sealed;     /* framed output not yet acknowledged */
    hub_membership *rooms;
    uint8_t tx_k[CHAT_NOISE_KEYLEN], rx_k[CHAT_NOISE_KEYLEN];
    uint64_t tx_n, rx_n;
    uint16_t nrooms, caprooms;
    uint16_t code;        /* why it closed */
    uint8_t state, role, tlist, flags;
    char name[CHAT_NAME_MAX + 1]; /* folded; the user table's key when READY */
};

struct hub_room {
    char name[HUB_NAME_CAP]; /* first: the room table's key */
    char topic_by[CHAT_NAME_MAX + 1];
    uint16_t topic_len;
    uint8_t *topic;          /* NULL when empty */
    uint64_t topic_time;
    uint64_t seq;            /* last MESSAGE sequence number */
    hub_member *m;
    uint32_t n, cap;
    uint8_t **hist;          /* ring of encoded MESSAGEs, history_len slots */
    uint32_t hist_head, hist_n;
};

/* Open-addressing hash table of pointers to keys (linear probing,
 * backward-shift deletion). MAP_ID keys are uint64_t ids; MAP_NAME keys
 * are NUL-terminated folded names, hashed with keyed SipHash. */
enum { HUB_MAP_ID = 0, HUB_MAP_NAME = 1 };
typedef struct hub_map {
    void **slot;
    uint32_t mask; /* capacity - 1; capacity 0 when slot == NULL */
    uint32_t count;
    uint8_t kind;
} hub_map;

/* Failed-login counts per name or per address over a fixed window,
 * bounded at HUB_FAIL_MAX entries (the one with the oldest window is
 * evicted). */
typedef struct hub_fail_ent {
    uint64_t start;
    uint32_t count;
    uint32_t older, newer; /* list by window start; UINT32_MAX: none */
    uint8_t klen;
    uint8_t key[CHAT_NAME_MAX];
} hub_fail_ent;

typedef struct hub_fail_tab {
    hub_fail_ent *e;
    uint32_t n, cap;
    uint32_t *ix;      /* entry index + 1, 0: empty */
    uint32_t ixmask;
    uint32_t oldest, newest;
    uint32_t limit;
} hub_fail_tab;

typedef struct hub_ev {
    chat_conn_id conn;
    uint16_t code;
    uint8_t type;
    uint8_t by_peer;
    char user[CHAT_NAME_MAX + 1];
    char target[CHAT_NAME_MAX + 1];
} hub_ev;

struct chat_hub {
    chat_allocator alloc;
    chat_store store;
    chat_rng rng;
    uint8_t static_priv[CHAT_NOISE_DHLEN];
    uint8_t static_pub[CHAT_NOISE_DHLEN]; /* derived once, not per handshake */
    uint8_t fake_key[32];  /* K of PROTOCOL.md §4.2 */
    uint8_t map_key[16];   /* SipHash key for the name tables */
    uint8_t dummy_pk[CHAT_PK_LEN]; /* proofs for unknown names are checked against it */

    uint32_t history_len, max_rooms, max_rooms_per_user, login_attempts;
    uint32_t login_timeout_ms, idle_timeout_ms, fail_window_ms;
    size_t out_max;
    uint32_t min_opslimit, min_memlimit_kib, fake_opslimit, fake_memlimit_kib;
    uint8_t version_min, version_max;

    char *motd;
    size_t motd_len;
    char (*defrooms)[HUB_NAME_CAP];
    size_t ndefrooms;

    hub_map conns;   /* id -> conn */
    hub_map users;   /* folded name -> conn (READY only) */
    hub_map roomtab; /* folded room -> room */
    hub_room **rooms; /* sorted by name */
    uint32_t nrooms, caprooms;

    hub_list login_q, idle_q, leave_q, dirty_q;
    hub_fail_tab fail_name, fail_addr;

    hub_ev *ev;       /* ring */
    uint32_t ev_head, ev_n, ev_cap;
    hub_ev ev_cur;    /* the last event handed out */

    chat_conn_id next_id;
    chat_time now;    /* time of the current call */
    size_t nconns;
    int shut_down;
    int nomem;        /* an allocation failed during this call */

    uint8_t rx[CHAT_FRAME_MAX];     /* decrypted plaintext (and HS3 payload) */
    uint8_t tx[CHAT_MSG_MAX];       /* one encoded outgoing message */
    uint8_t ent[CHAT_MSG_MAX];      /* entries of a list message being built */
};

/* ---- hub.c ---------------------------------------------------------- */
void *chat__map_get(const chat_hub *h, const hub_map *m, const void *key);
int chat__map_put(chat_hub *h, hub_map *m, void *key);
void chat__map_del(chat_hub *h, hub_map *m, const void *key);

void chat__hub_event(chat_hub *h, chat_hub_event_type type, const hub_conn *c, const char *user,
                     const char *target, unsigned code, int by_peer);

/* Queue one encoded message (u16-prefixed) for c, subject to out_max.
 * Returns 0, or -1 when it was not queued (closed, or closed now). */
int chat__conn_queue(chat_hub *h, hub_conn *c, const uint8_t *msg, size_t n);
/* Encode m into h->tx and queue it. Same result. */
int chat__conn_send(chat_hub *h, hub_conn *c, const chat_msg *m);
/* Append a framed handshake frame (HS2, REJECT) straight to the output. */
int chat__conn_queue_frame(chat_hub *h, hub_conn *c, uint8_t type, const uint8_t *body, size_t n);
/* Close c. goodbye: send GOODBYE(code, text or a default) if keys exist.
 * Its rooms see PARTED(code) once chat__hub_flush_leaves runs. */
void chat__conn_end(chat_hub *h, hub_conn *c, uint16_t code, const chat_str *text, int goodbye,
                    int by_peer);
/* A protocol error: GOODBYE(PROTOCOL) with keys, else a silent close. */
void chat__conn_fail(chat_hub *h, hub_conn *c);
void chat__hub_flush_leaves(chat_hub *h);
/* Move c to the idle FIFO, started now. */
void chat__conn_touch(chat_hub *h, hub_conn *c);
void chat__conn_free_login(chat_hub *h, hub_conn *c);
/* Every connection gets GOODBYE(SHUTDOWN, reason); the hub stops. */
void chat__hub_shutdown_all(chat_hub *h, const chat_str *reason);
const char *chat__code_text(unsigned code);

/* ---- hub_login.c ---------------------------------------------------- */
void chat__hub_on_hs1(chat_hub *h, hub_conn *c, const uint8_t *body, size_t n);
void chat__hub_on_hs3(chat_hub *h, hub_conn *c, const uint8_t *body, size_t n);
void chat__hub_on_login(chat_hub *h, hub_conn *c, const chat_msg *m);
void chat__hub_on_proof(chat_hub *h, hub_conn *c, const chat_msg *m);
void chat__fail_free(chat_hub *h, hub_fail_tab *t);
/* 1 when key has reached the table's limit in the current window. */
int chat__fail_limited(const chat_hub *h, const hub_fail_tab *t, const uint8_t *key, size_t n);
/* Count one failure for key (at h->now). */
void chat__fail_record(chat_hub *h, hub_fail_tab *t, const uint8_t *key, size_t n);

/* ---- hub_rooms.c ---------------------------------------------------- */
void chat__hub_dispatch(chat_hub *h, hub_conn *c, const chat_msg *m);
/* Join c to the default rooms (req 0) after WELCOME. */
void chat__hub_join_defaults(chat_hub *h, hub_conn *c);
/* Remove c from r and tell the remaining members PARTED(code). */
void chat__room_leave(chat_hub *h, hub_room *r, hub_conn *c, uint16_t code);
void chat__room_free(chat_hub *h, hub_room *r);

/* ---- test-only accessors -------------------------------------------- */
/* Heap bytes a connection holds in its I/O buffers and login state
 * (0 for an idle logged-in connection); SIZE_MAX for an unknown id. */
size_t chat__hub_conn_buffers(const chat_hub *h, chat_conn_id id);
/* Everything a connection holds: struct, buffers, memberships. */
size_t chat__hub_conn_bytes(const chat_hub *h, chat_conn_id id);
size_t chat__hub_conn_struct_size(void);

#endif
