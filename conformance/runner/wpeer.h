/* The runner's own protocol endpoint: one side of one connection, built on
 * libchat's Noise, codec and verifier layers (not on chat_client or
 * chat_hub), so a transcript can make it do what a conforming peer never
 * would: any message in any state, raw frames, flipped bits.
 *
 * Initiator (plays a client against a server under test) or responder
 * (plays a server against a client under test). Frames it builds are
 * handed back to the caller, which may modify them before they go on the
 * wire; everything it receives is decoded into events (event.h). */
#ifndef CF_WPEER_H
#define CF_WPEER_H

#include "chat/chat.h"

#include "event.h"
#include "util.h"

enum {
    WP_START = 0,
    WP_SENT_HS1,   /* initiator: waiting for HS2 */
    WP_AWAIT_TRUST,/* initiator: HS2 read */
    WP_GOT_HS1,    /* responder: HS1 read, HS2 not sent */
    WP_SENT_HS2,   /* responder: waiting for HS3 */
    WP_KEYS,       /* transport keys */
    WP_DONE        /* closed (GOODBYE, REJECT, or a local protocol error) */
};

typedef struct cf_wpeer {
    int initiator;
    int state;
    int eof;          /* the other side closed the stream */
    chat_handshake hs;
    int hs_init;
    chat_cipher tx, rx;
    uint8_t h[32];
    uint8_t static_priv[32];
    chat_rng rng;
    uint8_t server_key[32];
    uint8_t version;
    cf_buf in;        /* a partial frame */
    cf_buf pending;   /* encoded messages waiting for the next seal */
    cf_evq ev;
    uint64_t frames_in, bytes_after_close;
    /* Login bookkeeping. */
    char login_user[CHAT_NAME_MAX + 1]; /* folded name of the last LOGIN (sent or received) */
    int have_chal;
    uint8_t chal_salt[16];
    uint32_t chal_ops, chal_mem;
    uint32_t next_req;
} cf_wpeer;

void cf_wpeer_init(cf_wpeer *w, int initiator, const uint8_t static_priv[32], chat_rng rng);
void cf_wpeer_free(cf_wpeer *w);

/* Frame builders: append one frame to out. 0, or -1 with err filled. */
int cf_wpeer_hs1(cf_wpeer *w, const uint8_t *payload, size_t n, cf_buf *out, char *err, size_t cap);
int cf_wpeer_hs2(cf_wpeer *w, const uint8_t *payload, size_t n, cf_buf *out, char *err, size_t cap);
int cf_wpeer_hs3(cf_wpeer *w, const uint8_t *payload, size_t n, cf_buf *out, char *err, size_t cap);
/* Append one encoded message ([u16 len][type][body]) to the pending plaintext. */
void cf_wpeer_queue(cf_wpeer *w, const uint8_t *msg, size_t n);
/* Seal all pending messages into one TRANSPORT frame (nothing if none). */
int cf_wpeer_seal(cf_wpeer *w, cf_buf *out, char *err, size_t cap);
/* Seal arbitrary plaintext bytes into one TRANSPORT frame. */
int cf_wpeer_seal_plain(cf_wpeer *w, const uint8_t *pt, size_t n, cf_buf *out, char *err,
                        size_t cap);

/* Bytes from the other side. Problems become CLOSED events (origin local). */
void cf_wpeer_feed(cf_wpeer *w, const uint8_t *p, size_t n);
/* The other side closed the stream. */
void cf_wpeer_eof(cf_wpeer *w);

#endif
