/* Wire codec: frames and application messages of protocol v1
 * (docs/PROTOCOL.md sections 2 and 6). Pure functions over caller buffers:
 * nothing here allocates, and decoders are total (any input gives either a
 * decoded value or an error, never undefined behaviour), so fuzzers call
 * them directly.
 *
 * Decoded strings are views (pointer + length) into the input buffer and
 * are NOT NUL-terminated. */
#ifndef CHAT_CODEC_H
#define CHAT_CODEC_H

#include "chat/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Frames (PROTOCOL.md §2) ---------------------------------------- */

#define CHAT_FRAME_HEADER 3          /* u16 length, u8 type */
#define CHAT_FRAME_MAX 65535         /* largest value of the length field */
#define CHAT_FRAME_BODY_MAX 65534    /* length counts the type byte */
#define CHAT_TRANSPORT_PLAIN_MAX 65518 /* body max - 16-byte AEAD tag */

typedef enum chat_frame_type {
    CHAT_FRAME_HS1 = 0x01,       /* client -> server: Noise XX message 1 */
    CHAT_FRAME_HS2 = 0x02,       /* server -> client: Noise XX message 2 */
    CHAT_FRAME_HS3 = 0x03,       /* client -> server: Noise XX message 3 */
    CHAT_FRAME_REJECT = 0x04,    /* server -> client: plaintext refusal */
    CHAT_FRAME_TRANSPORT = 0x05  /* both: AEAD ciphertext of messages */
} chat_frame_type;

typedef struct chat_frame {
    uint8_t type;
    const uint8_t *body;
    size_t body_len;
} chat_frame;

/* Decode one frame at the start of in[0..len). On success *used is the
 * frame's total size (3 + body). CHAT_E_AGAIN: fewer bytes than the frame
 * needs (nothing consumed). CHAT_E_PROTO: length 0 or an unknown type
 * (the type is checked as soon as its byte is present). */
CHAT_MUST_CHECK int chat_frame_decode(const uint8_t *in, size_t len, chat_frame *f,
                                      size_t *used);

/* Write a frame header for a body of body_len bytes (<= CHAT_FRAME_BODY_MAX). */
void chat_frame_header(uint8_t out[CHAT_FRAME_HEADER], uint8_t type, size_t body_len);

/* ---- Protocol constants (PROTOCOL.md §3, §4) ------------------------- */

#define CHAT_MAGIC "CHAT"              /* 4 bytes, in HS1 and REJECT */
#define CHAT_MAGIC_LEN 4
#define CHAT_VERSION_MIN 1             /* versions this library speaks */
#define CHAT_VERSION_MAX 1
#define CHAT_PROLOGUE "chat protocol"  /* 13 bytes, Noise prologue */
#define CHAT_PROLOGUE_LEN 13
#define CHAT_NOISE_PROTOCOL "Noise_XX_25519_ChaChaPoly_SHA256"
#define CHAT_PROOF_CONTEXT "chat/1 login proof" /* 18 bytes, no NUL */
#define CHAT_PROOF_CONTEXT_LEN 18

/* ---- Field limits (PROTOCOL.md §5) ---------------------------------- */

#define CHAT_NAME_MAX 32        /* username: 1..32 of [A-Za-z0-9._-], first a letter */
#define CHAT_ROOM_MAX 33        /* '#' + a name */
#define CHAT_TEXT_MAX 4000      /* message text, 1..4000 bytes */
#define CHAT_TOPIC_MAX 300      /* topic, 0..300 bytes */
#define CHAT_REASON_MAX 200     /* error/goodbye/kick/shutdown text, 0..200 */
#define CHAT_MOTD_MAX 4000      /* MOTD, 0..4000 bytes, LF allowed */
#define CHAT_PASSWORD_MAX 1024  /* password bytes (client side only) */
#define CHAT_SALT_LEN 16
#define CHAT_PK_LEN 32          /* Ed25519 public key */
#define CHAT_SIG_LEN 64         /* Ed25519 signature */
#define CHAT_SEED_LEN 32        /* Argon2id output = Ed25519 seed */

/* ---- Wire codes (PROTOCOL.md §7): in ERROR, LOGIN_FAILED, GOODBYE,
 *      PARTED and REJECT. Distinct from chat_err. ---------------------- */

typedef enum chat_code {
    CHAT_CODE_NONE = 0,
    CHAT_CODE_PROTOCOL = 1,        /* malformed or unexpected message */
    CHAT_CODE_VERSION = 2,         /* no common protocol version */
    CHAT_CODE_BAD_LOGIN = 3,       /* wrong password or unknown user */
    CHAT_CODE_AUTH_LIMIT = 4,      /* too many failed logins */
    CHAT_CODE_ALREADY_ONLINE = 5,  /* that user is logged in elsewhere */
    CHAT_CODE_RATE_LIMITED = 6,    /* slow down */
    CHAT_CODE_NOT_ALLOWED = 7,     /* needs the admin role */
    CHAT_CODE_NO_SUCH_USER = 8,
    CHAT_CODE_NO_SUCH_ROOM = 9,
    CHAT_CODE_NOT_IN_ROOM = 10,
    CHAT_CODE_ALREADY_IN_ROOM = 11,
    CHAT_CODE_USER_EXISTS = 12,
    CHAT_CODE_WEAK_VERIFIER = 13,  /* Argon2id limits below the server minimum */
    CHAT_CODE_LIMIT = 14,          /* a server limit (rooms, members) reached */
    CHAT_CODE_SERVER_FULL = 15,    /* too many connections (REJECT) */
    CHAT_CODE_INTERNAL = 16,       /* server-side failure (store) */
    /* reasons that end a connection or a membership */
    CHAT_CODE_QUIT = 100,          /* the user left */
    CHAT_CODE_KICKED = 101,
    CHAT_CODE_SHUTDOWN = 102,
    CHAT_CODE_TOO_SLOW = 103,      /* output queue over its bound */
    CHAT_CODE_IDLE = 104,          /* idle timeout */
    CHAT_CODE_DELETED = 105,       /* the account was deleted */
    CHAT_CODE_CONN_LOST = 106,     /* ended without GOODBYE (PARTED only) */
    CHAT_CODE_PART = 107,          /* left the room (PARTED only) */
    CHAT_CODE_LOGIN_TIMEOUT = 108  /* login not completed in time */
} chat_code;

/* Short name of a wire code ("BAD_LOGIN"), or NULL if unknown. */
const char *chat_code_name(unsigned code);

/* ---- Messages (PROTOCOL.md §6) -------------------------------------- */

typedef enum chat_msg_type {
    /* client -> server */
    CHAT_MSG_LOGIN = 0x01,
    CHAT_MSG_PROOF = 0x02,
    CHAT_MSG_JOIN = 0x10,
    CHAT_MSG_PART = 0x11,
    CHAT_MSG_LIST = 0x12,
    CHAT_MSG_WHO = 0x13,
    CHAT_MSG_TOPIC = 0x14,
    CHAT_MSG_SEND = 0x15,
    CHAT_MSG_PASSWD = 0x16,
    CHAT_MSG_PING = 0x17,
    CHAT_MSG_ADD_USER = 0x20,
    CHAT_MSG_DEL_USER = 0x21,
    CHAT_MSG_USERS = 0x22,
    CHAT_MSG_KICK = 0x23,
    CHAT_MSG_SHUTDOWN = 0x24,
    /* both directions */
    CHAT_MSG_GOODBYE = 0x40,
    /* server -> client */
    CHAT_MSG_CHALLENGE = 0x81,
    CHAT_MSG_LOGIN_FAILED = 0x82,
    CHAT_MSG_WELCOME = 0x83,
    CHAT_MSG_OK = 0x90,
    CHAT_MSG_ERROR = 0x91,
    CHAT_MSG_ROOM_LIST = 0x92,
    CHAT_MSG_NAMES = 0x93,
    CHAT_MSG_USER_LIST = 0x94,
    CHAT_MSG_MESSAGE = 0xA0,
    CHAT_MSG_JOINED = 0xA1,
    CHAT_MSG_PARTED = 0xA2,
    CHAT_MSG_TOPIC_CHANGED = 0xA3
} chat_msg_type;

/* Direction in which a message type may travel. */
#define CHAT_DIR_C2S 1
#define CHAT_DIR_S2C 2
/* CHAT_DIR_* bits for a type, 0 for an unknown type. */
unsigned chat_msg_direction(unsigned type);
/* "JOIN", "MESSAGE", ... or NULL for an unknown type. */
const char *chat_msg_name(unsigned type);

typedef enum chat_role { CHAT_ROLE_USER = 0, CHAT_ROLE_ADMIN = 1 } chat_role;
typedef enum chat_kind { CHAT_KIND_SAY = 0, CHAT_KIND_ACTION = 1 } chat_kind;
#define CHAT_MESSAGE_HISTORY 0x01 /* MESSAGE.flags: replayed from history */
#define CHAT_LIST_MORE 0x01       /* list flags: more messages follow for this req */

/* A string view. */
typedef struct chat_str {
    const uint8_t *p;
    size_t n;
} chat_str;

/* The public half of a password verifier, as sent by PASSWD and ADD_USER. */
typedef struct chat_verifier {
    uint8_t salt[CHAT_SALT_LEN];
    uint32_t opslimit;
    uint32_t memlimit_kib;
    uint8_t pk[CHAT_PK_LEN];
} chat_verifier;

/* One decoded message. `req` is set for every type that carries a request
 * id (requests, OK, ERROR, the three lists); 0 otherwise. For the list
 * messages, `entries` points at the raw entries (already validated by the
 * decoder) and `count` says how many: walk them with the chat_entry_*
 * functions. To encode a list, build the entries with chat_entry_put_*. */
typedef struct chat_msg {
    uint8_t type;
    uint32_t req;
    union {
        struct { chat_str user; } login;                          /* LOGIN */
        struct { uint8_t sig[CHAT_SIG_LEN]; } proof;              /* PROOF */
        struct { chat_str room; } room;                           /* JOIN PART WHO */
        struct { chat_str room; chat_str topic; } topic;          /* TOPIC */
        struct { uint8_t kind; chat_str target; chat_str text; } send; /* SEND */
        struct { chat_verifier v; } passwd;                       /* PASSWD */
        struct { chat_str user; uint8_t role; chat_verifier v; } add_user;
        struct { chat_str user; } del_user;
        struct { chat_str user; chat_str reason; } kick;
        struct { chat_str reason; } shutdown;
        struct { uint16_t code; chat_str text; } goodbye;
        struct { uint8_t salt[CHAT_SALT_LEN]; uint32_t opslimit; uint32_t memlimit_kib; } challenge;
        struct { uint16_t code; uint8_t attempts_left; chat_str text; } login_failed;
        struct { chat_str user; uint8_t role; uint64_t time_ms; chat_str motd; } welcome;
        struct { uint16_t code; chat_str text; } error;
        struct { uint8_t flags; uint16_t count; const uint8_t *entries; size_t entries_len; } list; /* ROOM_LIST USER_LIST */
        struct { chat_str room; uint8_t flags; uint16_t count; const uint8_t *entries; size_t entries_len; } names;
        struct { uint8_t kind; uint8_t flags; chat_str target; chat_str from; uint64_t seq; uint64_t time_ms; chat_str text; } message;
        struct { chat_str room; chat_str user; uint64_t time_ms; } joined;
        struct { chat_str room; chat_str user; uint16_t reason; uint64_t time_ms; } parted;
        struct { chat_str room; chat_str by; uint64_t time_ms; chat_str topic; } topic_changed;
    } u;
} chat_msg;

/* Entries of list messages. */
typedef struct chat_room_entry { chat_str room; uint32_t members; chat_str topic; } chat_room_entry;
typedef struct chat_user_entry { chat_str user; uint8_t role; uint8_t online; } chat_user_entry;
typedef struct chat_name_entry { chat_str user; } chat_name_entry;

/* Append one entry at out[*len..cap); *len advances. CHAT_E_FULL if it
 * does not fit (nothing written), CHAT_E_INVAL if a field is invalid. */
CHAT_MUST_CHECK int chat_entry_put_room(uint8_t *out, size_t cap, size_t *len, const chat_room_entry *e);
CHAT_MUST_CHECK int chat_entry_put_user(uint8_t *out, size_t cap, size_t *len, const chat_user_entry *e);
CHAT_MUST_CHECK int chat_entry_put_name(uint8_t *out, size_t cap, size_t *len, const chat_name_entry *e);
/* Read the entry at *p (with *left bytes remaining) and advance. Only
 * call on entries from a decoded message: returns CHAT_E_PROTO if the
 * bytes are malformed anyway. */
CHAT_MUST_CHECK int chat_entry_get_room(const uint8_t **p, size_t *left, chat_room_entry *e);
CHAT_MUST_CHECK int chat_entry_get_user(const uint8_t **p, size_t *left, chat_user_entry *e);
CHAT_MUST_CHECK int chat_entry_get_name(const uint8_t **p, size_t *left, chat_name_entry *e);

/* Largest encoded message (u16 length prefix + type + body). */
#define CHAT_MSG_MAX (CHAT_TRANSPORT_PLAIN_MAX)

/* Encode m as [u16 length][u8 type][body] at out (capacity cap); *len is
 * the total written (0 on error). Every field is validated as the decoder
 * would (CHAT_E_INVAL); CHAT_E_TOOBIG when the message would exceed
 * CHAT_MSG_MAX (only a list can: split it); CHAT_E_FULL when cap is too
 * small. Checked in that order. */
CHAT_MUST_CHECK int chat_msg_encode(const chat_msg *m, uint8_t *out, size_t cap, size_t *len);

/* Decode one message from in[0..len), which holds exactly [u8 type][body]
 * (the u16 length already stripped). Strict: unknown type, short or long
 * body, trailing bytes, bad names, bad UTF-8, forbidden characters and
 * over-limit fields all give CHAT_E_PROTO, as does len > CHAT_MSG_MAX - 2
 * (no plaintext can hold it). On error *m is zeroed. */
CHAT_MUST_CHECK int chat_msg_decode(const uint8_t *in, size_t len, chat_msg *m);

/* Iterate the messages of a transport plaintext: decodes the message at
 * *p and advances *p / *left past it. Returns CHAT_OK, or CHAT_E_PROTO for
 * a malformed length prefix or message (then *p / *left are unchanged).
 * The caller stops when *left == 0.
 * An empty plaintext (no message at all) is a protocol error the caller
 * checks. */
CHAT_MUST_CHECK int chat_msg_next(const uint8_t **p, size_t *left, chat_msg *m);

/* ---- Handshake payloads and the REJECT frame (PROTOCOL.md §3) -------- */

/* HS1 payload: "CHAT" || u8 version_min || u8 version_max (6 bytes). */
#define CHAT_HS1_PAYLOAD_LEN 6
void chat_hs1_payload_encode(uint8_t out[CHAT_HS1_PAYLOAD_LEN], uint8_t vmin, uint8_t vmax);
CHAT_MUST_CHECK int chat_hs1_payload_decode(const uint8_t *in, size_t len, uint8_t *vmin, uint8_t *vmax);

/* HS2 payload: u8 version (1 byte). HS3 payload: one encoded LOGIN message
 * (with its u16 length prefix), decoded with chat_msg_next. */
#define CHAT_HS2_PAYLOAD_LEN 1

/* REJECT body: "CHAT" || u8 version_min || u8 version_max || u16 code ||
 * u8 text_len || text. */
#define CHAT_REJECT_MAX (CHAT_MAGIC_LEN + 2 + 2 + 1 + CHAT_REASON_MAX)
typedef struct chat_reject {
    uint8_t version_min, version_max;
    uint16_t code;
    chat_str text;
} chat_reject;
CHAT_MUST_CHECK int chat_reject_encode(const chat_reject *r, uint8_t *out, size_t cap, size_t *len);
CHAT_MUST_CHECK int chat_reject_decode(const uint8_t *in, size_t len, chat_reject *r);

/* ---- Field validation (PROTOCOL.md §5), shared by both ends ---------- */

/* 1 if s is a valid username (any ASCII case; compared case-insensitively). */
int chat_valid_name(const uint8_t *s, size_t n);
/* 1 if s is a valid room name ('#' + a valid name). */
int chat_valid_room(const uint8_t *s, size_t n);
/* 1 if s is valid UTF-8 without forbidden code points (§5.3). allow_lf
 * permits U+000A (MOTD only). */
int chat_valid_text(const uint8_t *s, size_t n, int allow_lf);
/* Lower-case ASCII copy of a name or room into out (capacity >= n + 1,
 * NUL-terminated); returns n. The canonical form the server uses. */
size_t chat_name_fold(char *out, const uint8_t *s, size_t n);
/* Fold a NUL-terminated name into key (the form stores index accounts by).
 * Returns 1, or 0 when name is NULL or not a valid user name. */
int chat_name_key(char key[CHAT_NAME_MAX + 1], const char *name);

#ifdef __cplusplus
}
#endif
#endif
