/* A raw client-role protocol driver for tests: built directly on
 * chat/noise.h, chat/codec.h and chat/verifier.h (not on chat_client), so
 * tests can do what a well-behaved client never would: send any message
 * in any state, raw frames, garbage bytes, flipped bits.
 *
 * The core is transport-agnostic: the peer produces bytes to write
 * (peer_out / peer_out_consume; peer_hs1, peer_queue, peer_seal... only
 * build them, peer_send* also hand them to an attached hub) and consumes
 * bytes from the server
 * (peer_recv), decoding every server message into a FIFO (peer_next,
 * peer_expect). A thin binding drives an in-process chat_hub directly
 * (peer_attach, peer_flush, peer_pump, peer_login, ...).
 *
 * Messages popped from the FIFO stay valid until peer_free. */
#ifndef CHAT_TEST_PEER_H
#define CHAT_TEST_PEER_H

#include "chat/chat.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- A deterministic random stream (ChaCha20 keyed by a seed) -------- */
typedef struct test_rng {
    uint8_t key[32];
    uint64_t counter;
} test_rng;
void test_rng_init(test_rng *r, uint64_t seed);
void test_rng_fill(void *ctx, uint8_t *buf, size_t len); /* a chat_rng_fill_fn */
chat_rng test_rng_of(test_rng *r);

/* ---- The peer --------------------------------------------------------- */
typedef struct peer peer;

/* A new peer whose static key and ephemerals come from seed. NULL on OOM. */
peer *peer_new(uint64_t seed);
void peer_free(peer *p);

/* Queue HS1 offering versions vmin..vmax. */
int peer_hs1(peer *p, uint8_t vmin, uint8_t vmax);
/* After HS2: queue HS3 whose payload is one LOGIN(user), then Split. */
int peer_hs3(peer *p, const char *user);
/* Same with an arbitrary HS3 payload (e.g. not a LOGIN). */
int peer_hs3_payload(peer *p, const uint8_t *payload, size_t n);

/* Add an encoded message to the pending plaintext (batched). */
int peer_queue(peer *p, const chat_msg *m);
/* Seal the pending plaintext into one TRANSPORT frame (nothing if empty). */
int peer_seal(peer *p);
/* Encrypt arbitrary plaintext bytes (even empty or malformed) as one
 * TRANSPORT frame. */
int peer_seal_plain(peer *p, const uint8_t *pt, size_t n);
/* Queue one frame of any type with this body, then peer_flush. */
int peer_send_frame(peer *p, uint8_t type, const uint8_t *body, size_t n);
/* Queue raw bytes, then peer_flush. */
int peer_send_raw(peer *p, const uint8_t *bytes, size_t n);
/* Sign a proof for the CHALLENGE `ch` with password for the user of the
 * last LOGIN, and queue PROOF (sealed). */
int peer_prove(peer *p, const chat_msg *ch, const char *password);
/* Queue (sealed) a LOGIN for user, for a retry after LOGIN_FAILED. */
int peer_relogin(peer *p, const char *user);

/* Bytes to write to the server, and how many were written. */
const uint8_t *peer_out(const peer *p, size_t *n);
void peer_out_consume(peer *p, size_t n);

/* Bytes from the server: HS2, REJECT and TRANSPORT frames are decoded.
 * Returns 0, or -1 when the input is bad (the peer is then broken). */
int peer_recv(peer *p, const uint8_t *bytes, size_t n);

/* Decoded server messages, oldest first. */
size_t peer_pending(const peer *p);
/* Pop the next message into *m: 1, or 0 when none. */
int peer_next(peer *p, chat_msg *m);
/* Pop the next message and return it if its type is `type`, else NULL
 * (a message of another type is still consumed). */
const chat_msg *peer_expect(peer *p, uint8_t type);
/* Drop every pending message. */
void peer_drain(peer *p);
/* The message most recently popped. */
const chat_msg *peer_last(const peer *p);

/* State seen from the wire. */
int peer_has_hs2(const peer *p);
uint8_t peer_version(const peer *p);
const uint8_t *peer_server_key(const peer *p); /* valid after HS2 */
const uint8_t *peer_hash(const peer *p);       /* handshake hash after HS3 */
int peer_rejected(const peer *p, chat_reject *r); /* 1 after a REJECT */
int peer_got_goodbye(const peer *p, uint16_t *code);
size_t peer_frames(const peer *p);   /* TRANSPORT frames received so far */
size_t peer_messages(const peer *p); /* messages received so far */
int peer_broken(const peer *p);      /* bad input was received */

/* ---- Binding to an in-process hub ------------------------------------ */
/* Accept a connection on hub (address addr[0..addr_len)); clock is read
 * at every call, so tests move time by changing *clock. */
int peer_attach(peer *p, chat_hub *hub, const chat_time *clock, const uint8_t *addr,
                size_t addr_len);
chat_conn_id peer_id(const peer *p);
/* Feed everything queued to the hub (nothing when not attached: the bytes
 * stay in peer_out). Returns chat_hub_feed's result. */
int peer_flush(peer *p);
/* Take everything the hub has for this connection (peek + ack) and
 * decode it. Returns the number of bytes taken. */
size_t peer_pump(peer *p);
/* Peek only (the front-end "wrote nothing"): returns the pending length. */
size_t peer_peek_only(peer *p);
/* flush, then pump. */
void peer_sync(peer *p);
/* HS1 (versions 1..1), HS2. 0 on HS2. */
int peer_handshake(peer *p);
/* Handshake if needed, then HS3 (or LOGIN on a retry), CHALLENGE, PROOF.
 * Returns 0 on WELCOME (popped: see peer_last), the LOGIN_FAILED code if
 * the login failed (also popped), or -1 on anything else. */
int peer_login(peer *p, const char *user, const char *password);
/* Queue + seal + flush one message. Returns chat_hub_feed's result. */
int peer_send(peer *p, const chat_msg *m);
/* The hub's view of the connection (CHAT_CONN_* bits). */
unsigned peer_state(const peer *p);
int peer_closed(const peer *p);
/* Tell the hub the socket is gone (EOF). */
void peer_release(peer *p);

/* Convenience requests (sent and flushed, not pumped). */
int peer_join(peer *p, uint32_t req, const char *room);
int peer_part(peer *p, uint32_t req, const char *room);
int peer_say(peer *p, uint32_t req, const char *target, const char *text);
int peer_ping(peer *p, uint32_t req);

#ifdef __cplusplus
}
#endif
#endif
