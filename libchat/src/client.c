/* The client side of one connection (PROTOCOL.md §8.2) as a sans-I/O state
 * machine.
 *
 * Input: chat_client_feed decodes every complete frame at once (keeping a
 * partial frame across calls), decrypts TRANSPORT frames into the inbox and
 * runs each message through the state machine immediately, so the state is
 * always up to date. What the user must see is queued as event records that
 * point into the inbox by offset; chat_client_next_event decodes the
 * message again and hands out views into the inbox, valid until the next
 * call. Inbox bytes are released lazily once the events that need them have
 * been handed out.
 *
 * Output: handshake frames go straight to `out`; after the handshake,
 * messages are encoded into `pending` and sealed into as few TRANSPORT
 * frames as possible only when the caller peeks, so everything queued
 * between two writes costs one AEAD operation per frame.
 *
 * Secrets (the static key, the handshake, the ciphers, the handshake hash
 * and the proof seed) are wiped when no longer needed and on free. */
#include "chat/client.h"

#include <string.h>

#include <sodium.h>

#include "chat/noise.h"
#include "chat/verifier.h"
#include "mem.h"

#define DEFAULT_PING_MS 60000u
#define DEFAULT_IN_MAX ((size_t)4 * 1024 * 1024)
/* One whole frame must fit, or a maximal frame could never be read. */
#define IN_MAX_MIN ((size_t)CHAT_FRAME_HEADER + CHAT_FRAME_BODY_MAX)
/* HS2 body: e (32) + encrypted s with tag (48) + encrypted version (1 + 16). */
#define HS2_BODY_LEN (32 + 48 + CHAT_HS2_PAYLOAD_LEN + 16)
/* HS1 body: e (32) + the clear payload. */
#define HS1_BODY_LEN (32 + CHAT_HS1_PAYLOAD_LEN)
/* A LOGIN message with its prefix: u16 + type + str8 user. */
#define LOGIN_MSG_MAX (2 + 1 + 1 + CHAT_NAME_MAX)
/* HS3 body: encrypted s with tag (48) + encrypted LOGIN with tag. */
#define HS3_BODY_MAX (48 + LOGIN_MSG_MAX + 16)
/* Compact a buffer's consumed head only past this size (amortised). */
#define COMPACT_MIN ((size_t)65536)

/* Where the text of the CLOSED event comes from. */
enum close_text {
    TEXT_LITERAL, /* close_literal */
    TEXT_MSG,     /* the GOODBYE message at close_off in the inbox */
    TEXT_REJECT   /* the REJECT frame in reject_body */
};

/* One queued event. Message events refer to [type][body] in the inbox at
 * an absolute offset (inbox_base is the absolute offset of inbox.p[0]). */
typedef struct ev_rec {
    uint64_t off;
    size_t len;
    uint8_t type; /* chat_client_event_type */
} ev_rec;

struct chat_client {
    chat_allocator alloc;
    chat_rng rng;
    uint32_t max_opslimit, max_memlimit_kib, ping_ms;
    size_t in_max;
    uint8_t vmin, vmax;

    chat_client_state state;
    uint8_t static_priv[CHAT_NOISE_DHLEN];
    chat_handshake hs;
    chat_cipher tx, rx;
    uint8_t have_keys; /* HS3 queued: tx/rx are live */
    uint8_t h[CHAT_NOISE_HASHLEN]; /* handshake hash, kept until READY */
    uint8_t server_key[CHAT_NOISE_DHLEN];
    uint8_t have_server_key;
    uint8_t version;

    char login[CHAT_NAME_MAX + 1]; /* name of the current LOGIN, as given */
    size_t login_len;
    char user[CHAT_NAME_MAX + 1]; /* folded: the login name, then WELCOME's */
    int role;                     /* -1 until WELCOME */

    uint8_t salt[CHAT_SALT_LEN]; /* the pending CHALLENGE */
    uint32_t opslimit, memlimit_kib;
    uint8_t attempts_left;

    uint32_t next_req;
    uint32_t ping_req; /* outstanding keep-alive PING, 0 if none */
    uint64_t now, last_send;
    int nomem; /* an allocation failed while processing input */

    chat__buf raw;   /* a partial frame */
    chat__buf inbox; /* decrypted plaintexts holding undelivered messages */
    uint64_t inbox_base;
    chat__buf events; /* ev_rec records; [ev_head, len) still queued */
    size_t ev_head;
    chat__buf pending; /* encoded messages waiting to be sealed */
    chat__buf out;     /* frames ready to write */

    uint8_t reject_body[CHAT_REJECT_MAX];
    size_t reject_len;

    uint8_t close_pending; /* CLOSED event not yet handed out */
    uint8_t close_origin;
    uint8_t close_text;
    uint16_t close_code;
    const char *close_literal;
    uint64_t close_off;
    size_t close_len;
};

/* ---------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------- */

static int ev_has_msg(uint8_t type)
{
    return type == CHAT_CLIENT_EV_CHALLENGE || type == CHAT_CLIENT_EV_LOGIN_FAILED ||
           type == CHAT_CLIENT_EV_WELCOME || type == CHAT_CLIENT_EV_MESSAGE;
}

static chat_str cstr(const char *s)
{
    chat_str r;
    r.p = (const uint8_t *)s;
    r.n = s != NULL ? strlen(s) : 0;
    return r;
}

/* Length of a NUL-terminated name, or CHAT_NAME_MAX + 1 if longer. */
static size_t name_len(const char *s)
{
    size_t n = 0;
    while (n <= CHAT_NAME_MAX && s[n] != '\0')
        n++;
    return n;
}

static uint32_t fresh_req(chat_client *c)
{
    uint32_t id = c->next_req++;
    if (c->next_req == 0)
        c->next_req = 1;
    return id;
}

static int push_ev(chat_client *c, uint8_t type, uint64_t off, size_t len)
{
    ev_rec r;
    memset(&r, 0, sizeof r);
    r.type = type;
    r.off = off;
    r.len = len;
    if (chat__buf_append(&c->events, &c->alloc, &r, sizeof r) != CHAT_OK) {
        c->nomem = 1;
        return CHAT_E_NOMEM;
    }
    return CHAT_OK;
}

/* Drop inbox bytes no queued event (or the pending CLOSED) still needs.
 * Compacts lazily unless force is set. Only called at the start of a call
 * on the client, when the views of the previous event have expired. */
static void release(chat_client *c, int force)
{
    uint64_t keep = c->inbox_base + c->inbox.len;
    for (size_t i = c->ev_head; i + sizeof(ev_rec) <= c->events.len; i += sizeof(ev_rec)) {
        ev_rec r;
        memcpy(&r, c->events.p + i, sizeof r);
        if (ev_has_msg(r.type)) {
            keep = r.off;
            break;
        }
    }
    if (c->close_pending && c->close_text == TEXT_MSG && c->close_off < keep)
        keep = c->close_off;

    size_t n = (size_t)(keep - c->inbox_base);
    if (n > 0) {
        if (n == c->inbox.len) {
            chat__buf_free(&c->inbox, &c->alloc);
            c->inbox_base = keep;
        } else if (force || (n >= COMPACT_MIN && n >= c->inbox.len / 2)) {
            chat__buf_consume(&c->inbox, &c->alloc, n);
            c->inbox_base = keep;
        }
    }

    if (c->ev_head > 0) {
        if (c->ev_head >= c->events.len) {
            chat__buf_free(&c->events, &c->alloc);
            c->ev_head = 0;
        } else if (force || (c->ev_head >= 4096 && c->ev_head >= c->events.len / 2)) {
            chat__buf_consume(&c->events, &c->alloc, c->ev_head);
            c->ev_head = 0;
        }
    }
}

/* Bytes of input received but not yet handed out. */
static size_t undelivered(const chat_client *c)
{
    return c->raw.len + c->inbox.len + (c->events.len - c->ev_head);
}

/* Encode m onto the pending output. */
static int queue_msg(chat_client *c, const chat_msg *m)
{
    uint8_t *w = chat__buf_reserve(&c->pending, &c->alloc, CHAT_MSG_MAX);
    if (w == NULL)
        return CHAT_E_NOMEM;
    size_t n = 0;
    int rc = chat_msg_encode(m, w, CHAT_MSG_MAX, &n);
    if (rc != CHAT_OK)
        return rc == CHAT_E_FULL || rc == CHAT_E_TOOBIG ? CHAT_E_INVAL : rc;
    c->pending.len += n;
    c->last_send = c->now;
    return CHAT_OK;
}

/* Append a whole frame to the output. */
static int queue_frame(chat_client *c, uint8_t type, const uint8_t *body, size_t body_len)
{
    uint8_t *w = chat__buf_reserve(&c->out, &c->alloc, CHAT_FRAME_HEADER + body_len);
    if (w == NULL)
        return CHAT_E_NOMEM;
    chat_frame_header(w, type, body_len);
    memcpy(w + CHAT_FRAME_HEADER, body, body_len);
    c->out.len += CHAT_FRAME_HEADER + body_len;
    c->last_send = c->now;
    return CHAT_OK;
}

/* ---------------------------------------------------------------------
 * Closing
 * ------------------------------------------------------------------- */

static void wipe_login_secrets(chat_client *c)
{
    sodium_memzero(c->h, sizeof c->h);
    sodium_memzero(c->salt, sizeof c->salt);
}

/* Enter CLOSED and arrange for the CLOSED event (handed out after every
 * event queued before it). Nothing is processed or queued afterwards. */
static void set_closed(chat_client *c, chat_close_origin origin, uint16_t code,
                       enum close_text src, const char *literal)
{
    if (c->state == CHAT_CLIENT_CLOSED)
        return;
    c->state = CHAT_CLIENT_CLOSED;
    c->close_pending = 1;
    c->close_origin = (uint8_t)origin;
    c->close_code = code;
    c->close_text = (uint8_t)src;
    c->close_literal = literal;
    chat_handshake_wipe(&c->hs);
    chat_cipher_wipe(&c->rx);
    sodium_memzero(c->static_priv, sizeof c->static_priv);
    wipe_login_secrets(c);
    c->ping_req = 0;
    if (origin != CHAT_CLOSE_LOCAL) {
        /* The peer is gone or has said goodbye: nothing more is sent. */
        chat__buf_free(&c->pending, &c->alloc);
        chat_cipher_wipe(&c->tx);
        if (origin == CHAT_CLOSE_LOST)
            chat__buf_free(&c->out, &c->alloc);
    }
}

/* A close decided here: with GOODBYE(code) first when the peer can read
 * it (we have transport keys). */
static void close_local(chat_client *c, uint16_t code, const char *why, int goodbye)
{
    if (c->state == CHAT_CLIENT_CLOSED)
        return;
    if (goodbye && c->have_keys) {
        chat_msg m;
        memset(&m, 0, sizeof m);
        m.type = CHAT_MSG_GOODBYE;
        m.u.goodbye.code = code;
        /* Best effort: if this fails the connection just closes. */
        (void)queue_msg(c, &m);
    }
    set_closed(c, CHAT_CLOSE_LOCAL, code, TEXT_LITERAL, why);
}

static void protocol_error(chat_client *c, const char *why)
{
    close_local(c, CHAT_CODE_PROTOCOL, why, 1);
}

/* ---------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------- */

int chat_client_new(chat_client **out, const chat_client_config *cfg)
{
    if (out == NULL)
        return CHAT_E_INVAL;
    *out = NULL;
    if (sodium_init() < 0)
        return CHAT_E_CRYPTO;

    chat_client_config d;
    memset(&d, 0, sizeof d);
    if (cfg != NULL)
        d = *cfg;
    if (!chat__alloc_ok(&d.alloc))
        return CHAT_E_INVAL;
    if (d.max_opslimit == 0)
        d.max_opslimit = CHAT_OPSLIMIT_CLIENT_MAX;
    if (d.max_memlimit_kib == 0)
        d.max_memlimit_kib = CHAT_MEMLIMIT_KIB_CLIENT_MAX;
    if (d.ping_interval_ms == 0)
        d.ping_interval_ms = DEFAULT_PING_MS;
    if (d.in_max == 0)
        d.in_max = DEFAULT_IN_MAX;
    if (d.in_max < IN_MAX_MIN)
        d.in_max = IN_MAX_MIN;
    if (d.version_min == 0)
        d.version_min = CHAT_VERSION_MIN;
    if (d.version_max == 0)
        d.version_max = CHAT_VERSION_MAX;
    if (d.version_min > d.version_max)
        return CHAT_E_INVAL;

    chat_client *c = chat__calloc(&d.alloc, sizeof *c);
    if (c == NULL)
        return CHAT_E_NOMEM;
    c->alloc = d.alloc;
    c->rng = d.rng;
    c->max_opslimit = d.max_opslimit;
    c->max_memlimit_kib = d.max_memlimit_kib;
    c->ping_ms = d.ping_interval_ms;
    c->in_max = d.in_max;
    c->vmin = d.version_min;
    c->vmax = d.version_max;
    c->state = CHAT_CLIENT_START;
    c->role = -1;
    c->next_req = 1;
    if (d.static_priv != NULL) {
        memcpy(c->static_priv, d.static_priv, sizeof c->static_priv);
    } else {
        uint8_t pub[CHAT_NOISE_DHLEN];
        chat_x25519_generate(c->static_priv, pub, c->rng);
    }
    *out = c;
    return CHAT_OK;
}

void chat_client_free(chat_client *c)
{
    if (c == NULL)
        return;
    chat_allocator a = c->alloc;
    chat_handshake_wipe(&c->hs);
    chat_cipher_wipe(&c->tx);
    chat_cipher_wipe(&c->rx);
    chat__buf_free(&c->raw, &a);
    chat__buf_free(&c->inbox, &a);
    chat__buf_free(&c->events, &a);
    chat__buf_free(&c->pending, &a);
    chat__buf_free(&c->out, &a);
    sodium_memzero(c, sizeof *c);
    chat__free(&a, c);
}

int chat_client_start(chat_client *c, const char *user, uint64_t now_ms)
{
    if (c == NULL || user == NULL)
        return CHAT_E_INVAL;
    if (c->state != CHAT_CLIENT_START)
        return c->state == CHAT_CLIENT_CLOSED ? CHAT_E_CLOSED : CHAT_E_STATE;
    size_t n = name_len(user);
    if (!chat_valid_name((const uint8_t *)user, n))
        return CHAT_E_INVAL;

    int rc = chat_handshake_init(&c->hs, CHAT_NOISE_PROTOCOL, 1,
                                 (const uint8_t *)CHAT_PROLOGUE, CHAT_PROLOGUE_LEN,
                                 c->static_priv, NULL, c->rng);
    if (rc != CHAT_OK)
        return rc;
    uint8_t payload[CHAT_HS1_PAYLOAD_LEN];
    chat_hs1_payload_encode(payload, c->vmin, c->vmax);
    uint8_t body[HS1_BODY_LEN];
    size_t body_len = 0;
    rc = chat_handshake_write(&c->hs, payload, sizeof payload, body, sizeof body, &body_len);
    if (rc == CHAT_OK) {
        c->now = now_ms;
        rc = queue_frame(c, CHAT_FRAME_HS1, body, body_len);
    }
    if (rc != CHAT_OK) {
        chat_handshake_wipe(&c->hs);
        return rc;
    }
    memcpy(c->login, user, n);
    c->login[n] = '\0';
    c->login_len = n;
    chat_name_fold(c->user, (const uint8_t *)user, n);
    c->state = CHAT_CLIENT_AWAIT_HS2;
    return CHAT_OK;
}

/* ---------------------------------------------------------------------
 * Input
 * ------------------------------------------------------------------- */

static void on_hs2(chat_client *c, const chat_frame *f)
{
    if (f->body_len != HS2_BODY_LEN) {
        protocol_error(c, "bad HS2");
        return;
    }
    uint8_t payload[HS2_BODY_LEN];
    size_t plen = 0;
    int rc = chat_handshake_read(&c->hs, f->body, f->body_len, payload, sizeof payload, &plen);
    if (rc != CHAT_OK || plen != CHAT_HS2_PAYLOAD_LEN) {
        protocol_error(c, "bad HS2");
        return;
    }
    uint8_t v = payload[0];
    if (v < c->vmin || v > c->vmax) {
        close_local(c, CHAT_CODE_VERSION, "server chose an unsupported version", 0);
        return;
    }
    const uint8_t *rs = chat_handshake_remote_static(&c->hs);
    if (rs == NULL) {
        protocol_error(c, "bad HS2");
        return;
    }
    memcpy(c->server_key, rs, sizeof c->server_key);
    c->have_server_key = 1;
    c->version = v;
    if (push_ev(c, CHAT_CLIENT_EV_SERVER_KEY, 0, 0) != CHAT_OK)
        return;
    c->state = CHAT_CLIENT_AWAIT_TRUST;
}

static void on_reject(chat_client *c, const chat_frame *f)
{
    chat_reject r;
    if (f->body_len > sizeof c->reject_body ||
        chat_reject_decode(f->body, f->body_len, &r) != CHAT_OK) {
        protocol_error(c, "bad REJECT");
        return;
    }
    memcpy(c->reject_body, f->body, f->body_len);
    c->reject_len = f->body_len;
    if (push_ev(c, CHAT_CLIENT_EV_REJECTED, 0, 0) != CHAT_OK)
        return;
    set_closed(c, CHAT_CLOSE_PEER, r.code, TEXT_REJECT, NULL);
}

/* One decoded message at absolute inbox offset off ([type][body], len). */
static void on_msg(chat_client *c, const chat_msg *m, uint64_t off, size_t len)
{
    if (m->type == CHAT_MSG_GOODBYE) {
        set_closed(c, CHAT_CLOSE_PEER, m->u.goodbye.code, TEXT_MSG, NULL);
        c->close_off = off;
        c->close_len = len;
        return;
    }
    switch (c->state) {
    case CHAT_CLIENT_AWAIT_CHALLENGE:
        if (m->type != CHAT_MSG_CHALLENGE) {
            protocol_error(c, "unexpected message before CHALLENGE");
            return;
        }
        if (m->u.challenge.opslimit > c->max_opslimit ||
            m->u.challenge.memlimit_kib > c->max_memlimit_kib) {
            protocol_error(c, "challenge limits over the client's maximums");
            return;
        }
        if (push_ev(c, CHAT_CLIENT_EV_CHALLENGE, off, len) != CHAT_OK)
            return;
        memcpy(c->salt, m->u.challenge.salt, sizeof c->salt);
        c->opslimit = m->u.challenge.opslimit;
        c->memlimit_kib = m->u.challenge.memlimit_kib;
        c->state = CHAT_CLIENT_AWAIT_PASSWORD;
        return;

    case CHAT_CLIENT_AWAIT_RESULT:
        if (m->type == CHAT_MSG_WELCOME) {
            char folded[CHAT_NAME_MAX + 1];
            size_t n = chat_name_fold(folded, m->u.welcome.user.p, m->u.welcome.user.n);
            if (n != c->login_len || strcmp(folded, c->user) != 0) {
                protocol_error(c, "WELCOME for another user");
                return;
            }
            if (push_ev(c, CHAT_CLIENT_EV_WELCOME, off, len) != CHAT_OK)
                return;
            c->role = m->u.welcome.role;
            wipe_login_secrets(c);
            c->state = CHAT_CLIENT_READY;
            return;
        }
        if (m->type == CHAT_MSG_LOGIN_FAILED) {
            if (push_ev(c, CHAT_CLIENT_EV_LOGIN_FAILED, off, len) != CHAT_OK)
                return;
            c->attempts_left = m->u.login_failed.attempts_left;
            c->state = CHAT_CLIENT_AWAIT_RETRY;
            return;
        }
        protocol_error(c, "unexpected message before the login result");
        return;

    case CHAT_CLIENT_READY:
        if (chat_msg_direction(m->type) != CHAT_DIR_S2C || m->type == CHAT_MSG_CHALLENGE ||
            m->type == CHAT_MSG_LOGIN_FAILED || m->type == CHAT_MSG_WELCOME) {
            protocol_error(c, "unexpected message");
            return;
        }
        if (m->type == CHAT_MSG_OK && c->ping_req != 0 && m->req == c->ping_req) {
            c->ping_req = 0; /* the keep-alive's answer: not the user's business */
            return;
        }
        (void)push_ev(c, CHAT_CLIENT_EV_MESSAGE, off, len);
        return;

    default: /* AWAIT_PASSWORD, AWAIT_RETRY: the server owes us nothing */
        protocol_error(c, "unexpected message");
        return;
    }
}

static void on_transport(chat_client *c, const chat_frame *f)
{
    if (f->body_len <= CHAT_NOISE_TAGLEN) {
        uint8_t dummy[1];
        if (f->body_len == CHAT_NOISE_TAGLEN &&
            chat_cipher_decrypt(&c->rx, NULL, 0, f->body, f->body_len, dummy) == CHAT_OK)
            protocol_error(c, "empty transport frame");
        else
            close_local(c, CHAT_CODE_PROTOCOL, "transport frame failed authentication", 0);
        return;
    }
    size_t plen = f->body_len - CHAT_NOISE_TAGLEN;
    uint8_t *dst = chat__buf_reserve(&c->inbox, &c->alloc, plen);
    if (dst == NULL) {
        c->nomem = 1;
        return;
    }
    if (chat_cipher_decrypt(&c->rx, NULL, 0, f->body, f->body_len, dst) != CHAT_OK) {
        /* Bad tag (or nonce exhausted): close at once, act on nothing, and
         * send nothing into a stream that is corrupt or under attack. */
        sodium_memzero(dst, plen);
        close_local(c, CHAT_CODE_PROTOCOL, "transport frame failed authentication", 0);
        return;
    }
    uint64_t start = c->inbox_base + c->inbox.len;
    c->inbox.len += plen;

    const uint8_t *p = dst;
    size_t left = plen;
    while (left > 0 && c->state != CHAT_CLIENT_CLOSED && !c->nomem) {
        const uint8_t *q = p;
        chat_msg m;
        if (chat_msg_next(&p, &left, &m) != CHAT_OK) {
            protocol_error(c, "malformed message");
            return;
        }
        uint64_t off = start + (uint64_t)(q + 2 - dst);
        on_msg(c, &m, off, (size_t)(p - q) - 2);
    }
}

static void on_frame(chat_client *c, const chat_frame *f)
{
    switch (c->state) {
    case CHAT_CLIENT_AWAIT_HS2:
        if (f->type == CHAT_FRAME_HS2)
            on_hs2(c, f);
        else if (f->type == CHAT_FRAME_REJECT)
            on_reject(c, f);
        else
            protocol_error(c, "unexpected frame");
        return;
    case CHAT_CLIENT_AWAIT_CHALLENGE:
    case CHAT_CLIENT_AWAIT_PASSWORD:
    case CHAT_CLIENT_AWAIT_RESULT:
    case CHAT_CLIENT_AWAIT_RETRY:
    case CHAT_CLIENT_READY:
        if (f->type == CHAT_FRAME_TRANSPORT)
            on_transport(c, f);
        else
            protocol_error(c, "unexpected frame");
        return;
    default: /* AWAIT_TRUST: the server must wait for HS3 */
        protocol_error(c, "unexpected frame");
        return;
    }
}

/* Bytes still missing from the partial frame in p[0..n): the header first,
 * then the rest of the frame. */
static size_t frame_need(const uint8_t *p, size_t n)
{
    if (n < CHAT_FRAME_HEADER)
        return CHAT_FRAME_HEADER - n;
    size_t total = 2 + ((size_t)p[0] << 8 | p[1]);
    return total > n ? total - n : 0;
}

int chat_client_feed(chat_client *c, const uint8_t *in, size_t len, uint64_t now_ms)
{
    if (c == NULL || (in == NULL && len != 0))
        return CHAT_E_INVAL;
    if (c->state == CHAT_CLIENT_CLOSED)
        return CHAT_E_CLOSED;
    if (c->state == CHAT_CLIENT_START)
        return len == 0 ? CHAT_OK : CHAT_E_STATE;
    if (now_ms > c->now)
        c->now = now_ms;
    c->nomem = 0;
    release(c, 0);

    size_t pos = 0;
    while (c->state != CHAT_CLIENT_CLOSED && !c->nomem) {
        const uint8_t *src;
        size_t avail;
        if (c->raw.len == 0) {
            if (pos == len)
                break;
            src = in + pos;
            avail = len - pos;
        } else {
            /* Top up the partial frame with just the bytes it lacks. */
            size_t take = frame_need(c->raw.p, c->raw.len);
            if (take > len - pos)
                take = len - pos;
            if (take > 0) {
                if (chat__buf_append(&c->raw, &c->alloc, in + pos, take) != CHAT_OK) {
                    c->nomem = 1;
                    break;
                }
                pos += take;
            }
            src = c->raw.p;
            avail = c->raw.len;
        }

        chat_frame f;
        size_t used = 0;
        int rc = chat_frame_decode(src, avail, &f, &used);
        if (rc == CHAT_E_AGAIN) {
            if (c->raw.len == 0) {
                /* Less than one frame left: keep it for the next call. */
                if (chat__buf_append(&c->raw, &c->alloc, in + pos, len - pos) != CHAT_OK) {
                    c->nomem = 1;
                    break;
                }
                pos = len;
            }
            if (pos == len)
                break;
            continue;
        }
        if (rc != CHAT_OK) {
            protocol_error(c, "bad frame");
            break;
        }
        on_frame(c, &f);
        if (c->raw.len > 0)
            chat__buf_free(&c->raw, &c->alloc);
        else
            pos += used;

        if (c->state != CHAT_CLIENT_CLOSED && !c->nomem && undelivered(c) > c->in_max) {
            release(c, 1);
            if (undelivered(c) > c->in_max)
                close_local(c, CHAT_CODE_TOO_SLOW, "too much undelivered input", 1);
        }
    }
    if (c->state != CHAT_CLIENT_CLOSED && !c->nomem && undelivered(c) > c->in_max) {
        release(c, 1);
        if (undelivered(c) > c->in_max)
            close_local(c, CHAT_CODE_TOO_SLOW, "too much undelivered input", 1);
    }

    if (c->nomem) {
        /* Input was lost: the conversation cannot continue. */
        close_local(c, CHAT_CODE_INTERNAL, "out of memory", 1);
        chat__buf_free(&c->raw, &c->alloc);
        return CHAT_E_NOMEM;
    }
    if (c->state == CHAT_CLIENT_CLOSED)
        chat__buf_free(&c->raw, &c->alloc);
    return CHAT_OK;
}

void chat_client_eof(chat_client *c)
{
    if (c == NULL || c->state == CHAT_CLIENT_CLOSED)
        return;
    chat__buf_free(&c->raw, &c->alloc);
    set_closed(c, CHAT_CLOSE_LOST, CHAT_CODE_CONN_LOST, TEXT_LITERAL, "connection lost");
}

/* ---------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------- */

/* Seal everything pending into as few TRANSPORT frames as possible. */
static void seal(chat_client *c)
{
    if (c->pending.len == 0)
        return;
    if (!c->have_keys || !c->tx.has_key) {
        chat__buf_free(&c->pending, &c->alloc);
        return;
    }
    const uint8_t *p = c->pending.p;
    size_t total = c->pending.len, pos = 0;
    while (pos < total) {
        /* Whole messages, as many as fit one plaintext. Every encoded
         * message is at most CHAT_MSG_MAX == the plaintext maximum. */
        size_t chunk = 0;
        while (pos + chunk < total) {
            size_t at = pos + chunk;
            size_t mlen = 2 + ((size_t)p[at] << 8 | p[at + 1]);
            if (chunk + mlen > CHAT_TRANSPORT_PLAIN_MAX)
                break;
            chunk += mlen;
        }
        size_t body = chunk + CHAT_NOISE_TAGLEN;
        uint8_t *w = chat__buf_reserve(&c->out, &c->alloc, CHAT_FRAME_HEADER + body);
        if (w == NULL)
            break; /* keep the rest for the next peek */
        chat_frame_header(w, CHAT_FRAME_TRANSPORT, body);
        if (chat_cipher_encrypt(&c->tx, NULL, 0, p + pos, chunk, w + CHAT_FRAME_HEADER) !=
            CHAT_OK) {
            /* Nonce exhausted: nothing more can be sent on this connection. */
            chat__buf_free(&c->pending, &c->alloc);
            close_local(c, CHAT_CODE_PROTOCOL, "transport nonce exhausted", 0);
            chat_cipher_wipe(&c->tx);
            return;
        }
        c->out.len += CHAT_FRAME_HEADER + body;
        pos += chunk;
    }
    chat__buf_consume(&c->pending, &c->alloc, pos);
    if (c->state == CHAT_CLIENT_CLOSED && c->pending.len == 0)
        chat_cipher_wipe(&c->tx); /* nothing can be queued any more */
}

const uint8_t *chat_client_out_peek(chat_client *c, size_t *len)
{
    if (len != NULL)
        *len = 0;
    if (c == NULL || len == NULL)
        return NULL;
    seal(c);
    if (c->out.len == 0)
        return NULL;
    *len = c->out.len;
    return c->out.p;
}

void chat_client_out_ack(chat_client *c, size_t n)
{
    if (c == NULL || n == 0)
        return;
    chat__buf_consume(&c->out, &c->alloc, n);
}

/* ---------------------------------------------------------------------
 * State and events
 * ------------------------------------------------------------------- */

chat_client_state chat_client_get_state(const chat_client *c)
{
    return c != NULL ? c->state : CHAT_CLIENT_CLOSED;
}

/* Decode the message [type][body] at absolute inbox offset off. */
static void inbox_msg(const chat_client *c, uint64_t off, size_t len, chat_msg *m)
{
    /* Decoded once already when it arrived, so this cannot fail. */
    if (chat_msg_decode(c->inbox.p + (size_t)(off - c->inbox_base), len, m) != CHAT_OK)
        memset(m, 0, sizeof *m);
}

int chat_client_next_event(chat_client *c, chat_client_event *ev)
{
    if (c == NULL || ev == NULL)
        return 0;
    memset(ev, 0, sizeof *ev);
    release(c, 0);

    if (c->ev_head + sizeof(ev_rec) <= c->events.len) {
        ev_rec r;
        memcpy(&r, c->events.p + c->ev_head, sizeof r);
        c->ev_head += sizeof r;
        ev->type = (chat_client_event_type)r.type;
        switch (r.type) {
        case CHAT_CLIENT_EV_SERVER_KEY:
            memcpy(ev->server_key, c->server_key, sizeof ev->server_key);
            ev->version = c->version;
            break;
        case CHAT_CLIENT_EV_REJECTED:
            if (chat_reject_decode(c->reject_body, c->reject_len, &ev->reject) != CHAT_OK)
                memset(&ev->reject, 0, sizeof ev->reject);
            break;
        default:
            inbox_msg(c, r.off, r.len, &ev->msg);
            break;
        }
        return 1;
    }

    if (c->close_pending) {
        c->close_pending = 0;
        ev->type = CHAT_CLIENT_EV_CLOSED;
        ev->close.origin = (chat_close_origin)c->close_origin;
        ev->close.code = c->close_code;
        switch (c->close_text) {
        case TEXT_MSG:
            inbox_msg(c, c->close_off, c->close_len, &ev->msg);
            ev->close.text = ev->msg.u.goodbye.text;
            break;
        case TEXT_REJECT:
            if (chat_reject_decode(c->reject_body, c->reject_len, &ev->reject) != CHAT_OK)
                memset(&ev->reject, 0, sizeof ev->reject);
            ev->close.text = ev->reject.text;
            break;
        default:
            ev->close.text = cstr(c->close_literal);
            break;
        }
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * Login
 * ------------------------------------------------------------------- */

int chat_client_trust_server(chat_client *c, int accept)
{
    if (c == NULL)
        return CHAT_E_INVAL;
    if (c->state != CHAT_CLIENT_AWAIT_TRUST)
        return c->state == CHAT_CLIENT_CLOSED ? CHAT_E_CLOSED : CHAT_E_STATE;
    if (!accept) {
        /* Nothing about the user leaves the client (§3.3). */
        close_local(c, CHAT_CODE_NONE, "server key refused", 0);
        return CHAT_OK;
    }

    chat_msg login;
    memset(&login, 0, sizeof login);
    login.type = CHAT_MSG_LOGIN;
    login.u.login.user.p = (const uint8_t *)c->login;
    login.u.login.user.n = c->login_len;
    uint8_t payload[LOGIN_MSG_MAX];
    size_t plen = 0;
    int rc = chat_msg_encode(&login, payload, sizeof payload, &plen);

    uint8_t body[HS3_BODY_MAX];
    size_t body_len = 0;
    if (rc == CHAT_OK)
        rc = chat_handshake_write(&c->hs, payload, plen, body, sizeof body, &body_len);
    if (rc == CHAT_OK)
        rc = chat_handshake_split(&c->hs, &c->tx, &c->rx);
    if (rc == CHAT_OK) {
        memcpy(c->h, chat_handshake_hash(&c->hs), sizeof c->h);
        chat_handshake_wipe(&c->hs);
        /* One connection per client: the device key is not needed again. */
        sodium_memzero(c->static_priv, sizeof c->static_priv);
        rc = queue_frame(c, CHAT_FRAME_HS3, body, body_len);
    }
    sodium_memzero(body, sizeof body);
    if (rc != CHAT_OK) {
        close_local(c, CHAT_CODE_INTERNAL, rc == CHAT_E_NOMEM ? "out of memory"
                                                               : "handshake failed", 0);
        return rc;
    }
    c->have_keys = 1;
    c->state = CHAT_CLIENT_AWAIT_CHALLENGE;
    return CHAT_OK;
}

int chat_client_prove_seed(chat_client *c, const uint8_t seed[CHAT_SEED_LEN])
{
    if (c == NULL || seed == NULL)
        return CHAT_E_INVAL;
    if (c->state != CHAT_CLIENT_AWAIT_PASSWORD)
        return c->state == CHAT_CLIENT_CLOSED ? CHAT_E_CLOSED : CHAT_E_STATE;
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_PROOF;
    int rc = chat_proof_sign(m.u.proof.sig, seed, c->h, (const uint8_t *)c->login,
                             c->login_len);
    if (rc == CHAT_OK)
        rc = queue_msg(c, &m);
    sodium_memzero(&m, sizeof m);
    if (rc != CHAT_OK)
        return rc;
    c->state = CHAT_CLIENT_AWAIT_RESULT;
    return CHAT_OK;
}

int chat_client_prove(chat_client *c, const uint8_t *password, size_t len)
{
    if (c == NULL)
        return CHAT_E_INVAL;
    if (c->state != CHAT_CLIENT_AWAIT_PASSWORD)
        return c->state == CHAT_CLIENT_CLOSED ? CHAT_E_CLOSED : CHAT_E_STATE;
    uint8_t seed[CHAT_SEED_LEN];
    int rc = chat_seed_derive(seed, password, len, c->salt, c->opslimit, c->memlimit_kib);
    if (rc == CHAT_OK)
        rc = chat_client_prove_seed(c, seed);
    sodium_memzero(seed, sizeof seed);
    return rc;
}

int chat_client_login(chat_client *c, const char *user)
{
    if (c == NULL || user == NULL)
        return CHAT_E_INVAL;
    if (c->state != CHAT_CLIENT_AWAIT_RETRY || c->attempts_left == 0)
        return c->state == CHAT_CLIENT_CLOSED ? CHAT_E_CLOSED : CHAT_E_STATE;
    size_t n = name_len(user);
    if (!chat_valid_name((const uint8_t *)user, n))
        return CHAT_E_INVAL;
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_LOGIN;
    m.u.login.user.p = (const uint8_t *)user;
    m.u.login.user.n = n;
    int rc = queue_msg(c, &m);
    if (rc != CHAT_OK)
        return rc;
    memcpy(c->login, user, n);
    c->login[n] = '\0';
    c->login_len = n;
    chat_name_fold(c->user, (const uint8_t *)user, n);
    c->state = CHAT_CLIENT_AWAIT_CHALLENGE;
    return CHAT_OK;
}

const uint8_t *chat_client_server_key(const chat_client *c)
{
    return c != NULL && c->have_server_key ? c->server_key : NULL;
}

const char *chat_client_user(const chat_client *c)
{
    return c != NULL ? c->user : "";
}

int chat_client_role(const chat_client *c)
{
    return c != NULL ? c->role : -1;
}

/* ---------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------- */

static int ready(const chat_client *c)
{
    if (c->state == CHAT_CLIENT_READY)
        return CHAT_OK;
    return c->state == CHAT_CLIENT_CLOSED ? CHAT_E_CLOSED : CHAT_E_STATE;
}

static int is_request(uint8_t type)
{
    switch (type) {
    case CHAT_MSG_JOIN:
    case CHAT_MSG_PART:
    case CHAT_MSG_LIST:
    case CHAT_MSG_WHO:
    case CHAT_MSG_TOPIC:
    case CHAT_MSG_SEND:
    case CHAT_MSG_PASSWD:
    case CHAT_MSG_PING:
    case CHAT_MSG_ADD_USER:
    case CHAT_MSG_DEL_USER:
    case CHAT_MSG_USERS:
    case CHAT_MSG_KICK:
    case CHAT_MSG_SHUTDOWN:
        return 1;
    default:
        return 0;
    }
}

int chat_client_request(chat_client *c, chat_msg *m, uint32_t *req)
{
    if (c == NULL || m == NULL)
        return CHAT_E_INVAL;
    int rc = ready(c);
    if (rc != CHAT_OK)
        return rc;
    if (!is_request(m->type))
        return CHAT_E_INVAL;
    uint32_t old = m->req, saved_next = c->next_req;
    m->req = fresh_req(c);
    rc = queue_msg(c, m);
    if (rc != CHAT_OK) {
        m->req = old;
        c->next_req = saved_next;
        return rc;
    }
    if (req != NULL)
        *req = m->req;
    return CHAT_OK;
}

static int room_request(chat_client *c, uint8_t type, const char *room, uint32_t *req)
{
    if (room == NULL)
        return CHAT_E_INVAL;
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.u.room.room = cstr(room);
    return chat_client_request(c, &m, req);
}

int chat_client_join(chat_client *c, const char *room, uint32_t *req)
{
    return room_request(c, CHAT_MSG_JOIN, room, req);
}

int chat_client_part(chat_client *c, const char *room, uint32_t *req)
{
    return room_request(c, CHAT_MSG_PART, room, req);
}

int chat_client_say(chat_client *c, const char *target, const char *text, chat_kind kind,
                    uint32_t *req)
{
    if (target == NULL || text == NULL || (unsigned)kind > CHAT_KIND_ACTION)
        return CHAT_E_INVAL;
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_SEND;
    m.u.send.kind = (uint8_t)kind;
    m.u.send.target = cstr(target);
    m.u.send.text = cstr(text);
    return chat_client_request(c, &m, req);
}

int chat_client_passwd(chat_client *c, const uint8_t *password, size_t len, uint32_t opslimit,
                       uint32_t memlimit_kib, uint32_t *req)
{
    if (c == NULL)
        return CHAT_E_INVAL;
    int rc = ready(c); /* before the expensive part */
    if (rc != CHAT_OK)
        return rc;
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_PASSWD;
    rc = chat_verifier_make(&m.u.passwd.v, password, len,
                            opslimit ? opslimit : CHAT_OPSLIMIT_DEFAULT,
                            memlimit_kib ? memlimit_kib : CHAT_MEMLIMIT_KIB_DEFAULT, c->rng);
    if (rc != CHAT_OK)
        return rc;
    return chat_client_request(c, &m, req);
}

int chat_client_add_user(chat_client *c, const char *user, chat_role role,
                         const uint8_t *password, size_t len, uint32_t opslimit,
                         uint32_t memlimit_kib, uint32_t *req)
{
    if (c == NULL || user == NULL)
        return CHAT_E_INVAL;
    int rc = ready(c);
    if (rc != CHAT_OK)
        return rc;
    size_t n = name_len(user);
    if (!chat_valid_name((const uint8_t *)user, n) || (unsigned)role > CHAT_ROLE_ADMIN)
        return CHAT_E_INVAL;
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_ADD_USER;
    m.u.add_user.user.p = (const uint8_t *)user;
    m.u.add_user.user.n = n;
    m.u.add_user.role = (uint8_t)role;
    rc = chat_verifier_make(&m.u.add_user.v, password, len,
                            opslimit ? opslimit : CHAT_OPSLIMIT_DEFAULT,
                            memlimit_kib ? memlimit_kib : CHAT_MEMLIMIT_KIB_DEFAULT, c->rng);
    if (rc != CHAT_OK)
        return rc;
    return chat_client_request(c, &m, req);
}

int chat_client_quit(chat_client *c, const char *text)
{
    if (c == NULL)
        return CHAT_E_INVAL;
    if (c->state == CHAT_CLIENT_CLOSED)
        return CHAT_E_CLOSED;
    chat_str t = cstr(text);
    if (t.n > CHAT_REASON_MAX || !chat_valid_text(t.p, t.n, 0))
        return CHAT_E_INVAL;
    if (c->have_keys) {
        chat_msg m;
        memset(&m, 0, sizeof m);
        m.type = CHAT_MSG_GOODBYE;
        m.u.goodbye.code = CHAT_CODE_QUIT;
        m.u.goodbye.text = t;
        int rc = queue_msg(c, &m);
        if (rc != CHAT_OK)
            return rc;
    }
    set_closed(c, CHAT_CLOSE_LOCAL, CHAT_CODE_QUIT, TEXT_LITERAL, "quit");
    return CHAT_OK;
}

/* ---------------------------------------------------------------------
 * Time
 * ------------------------------------------------------------------- */

uint64_t chat_client_next_deadline(const chat_client *c)
{
    if (c == NULL || c->state != CHAT_CLIENT_READY)
        return CHAT_NO_DEADLINE;
    if (c->last_send > UINT64_MAX - 1 - c->ping_ms)
        return CHAT_NO_DEADLINE;
    return c->last_send + c->ping_ms;
}

void chat_client_tick(chat_client *c, uint64_t now_ms)
{
    if (c == NULL)
        return;
    if (now_ms > c->now)
        c->now = now_ms;
    if (c->state != CHAT_CLIENT_READY || now_ms < chat_client_next_deadline(c))
        return;
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_PING;
    uint32_t saved_next = c->next_req;
    m.req = fresh_req(c);
    if (queue_msg(c, &m) != CHAT_OK) {
        c->next_req = saved_next; /* try again at the next tick */
        return;
    }
    c->ping_req = m.req;
}
