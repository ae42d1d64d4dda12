/* The fixed world every stateful harness (and gen_corpus) lives in: fixed
 * static keys, a "constant" random source, a known set of accounts, one
 * hub and one client configuration, and a real Noise XX handshake computed
 * once from them.
 *
 * The random source returns the same bytes on every call (a ChaCha20
 * keystream from its start), so every ephemeral key the hub draws is the
 * same, and so is every ephemeral the client draws. Consequently:
 *   - HS1 and HS2 are the same on every connection;
 *   - HS3 depends only on the user name in its LOGIN;
 *   - both transport keys are the same for every connection (Split() only
 *     depends on the DH results), and the handshake hash depends only on
 *     the user name;
 * so a stream recorded from any fixture session replays byte for byte
 * against a fresh fixture hub or client, in any order, and a harness can
 * encrypt and decrypt everything behind the AEAD without a handshake of
 * its own. (Test-only, of course: a real rng never repeats.)
 *
 * Everything here aborts (fx_fail) on an unexpected result: a harness that
 * finds the fixture broken has found a bug. */
#ifndef CHAT_FUZZ_FIXTURE_H
#define CHAT_FUZZ_FIXTURE_H

#include <stdnoreturn.h>

#include "chat/chat.h"

/* ---- Users -------------------------------------------------------------- */

enum { FX_ALICE = 0, FX_BOB, FX_CAROL, FX_DAVE, FX_MALLORY, FX_NUSERS };
/* alice is an admin, bob, carol and dave users; mallory has a verifier
 * (so an ADD_USER can give her an account) but no account. */
#define FX_NACCOUNTS 4
#define FX_OPSLIMIT 1u      /* Argon2id limits of every fixture verifier */
#define FX_MEMLIMIT_KIB 16u /* the hub's minimum: ADD_USER with 8 is WEAK */

const char *fx_user(int u);     /* "alice" ... */
const char *fx_password(int u); /* "alice password" ... */
/* Index of a user name (any case), or -1. */
int fx_user_index(const uint8_t *name, size_t n);

/* ---- The fixture --------------------------------------------------------- */

#define FX_HS1_LEN (CHAT_FRAME_HEADER + 32 + CHAT_HS1_PAYLOAD_LEN)
#define FX_HS2_LEN (CHAT_FRAME_HEADER + 32 + 48 + CHAT_HS2_PAYLOAD_LEN + 16)
#define FX_HS3_MAX (CHAT_FRAME_HEADER + 48 + 2 + 1 + 1 + CHAT_NAME_MAX + 16)

typedef struct fx_fixture {
    uint8_t server_priv[32], client_priv[32];
    uint8_t hub_rng_key[32], client_rng_key[32];
    uint8_t hs1[FX_HS1_LEN]; /* whole frames */
    uint8_t hs2[FX_HS2_LEN];
    uint8_t hs3[FX_NUSERS][FX_HS3_MAX];
    size_t hs3_len[FX_NUSERS];
    uint8_t h[FX_NUSERS][32]; /* handshake hash after HS3 with LOGIN(user) */
    uint8_t k_cs[32], k_sc[32]; /* transport keys, client->server and back */
    uint8_t seed[FX_NUSERS][CHAT_SEED_LEN];
    chat_verifier verifier[FX_NUSERS];
    /* proof[a][b]: PROOF signature for user b on a connection whose HS3
     * logged in as a (the hash is a's, the name and key b's). */
    uint8_t proof[FX_NUSERS][FX_NUSERS][CHAT_SIG_LEN];
} fx_fixture;

/* Computed on first use, then checked once against a real hub and a real
 * client (a login each way must reach READY). */
const fx_fixture *fx_get(void);

/* ---- Objects configured like the fixture ---------------------------------- */

#define FX_T0_MONO 1000u
#define FX_T0_WALL 1700000000000ull
chat_time fx_time0(void);

/* Hub: accounts alice..dave in a fresh in-memory store, small limits so
 * that every limit is reachable (fx_hub_config documents them). */
void fx_hub_config(chat_hub_config *cfg, chat_store store);
chat_hub *fx_hub_new(chat_store_mem **store);
void fx_hub_free(chat_hub *h, chat_store_mem *store);
#define FX_OUT_MAX 16384u

/* The allocator of fixture hubs: malloc, except that the hub's own struct
 * (200 KiB of I/O scratch space) is kept for the next hub, since a fresh
 * one per input, mapped and faulted in by ASan, cost more than everything
 * else a short input does; and that allocations can be made to fail, for
 * the out-of-memory paths. */
chat_allocator fx_allocator(void);
/* The n-th allocation from now fails (0: none). */
void fx_alloc_fail_after(uint64_t n);
/* Every allocation fails while on. */
void fx_alloc_fail_all(int on);
/* Allocations that failed since the last fx_hub_new. */
uint64_t fx_alloc_failures(void);
/* chat_hub_feed's result: CHAT_OK, or CHAT_E_NOMEM after a failure. */
#define FX_FEED_OK(rc) ((rc) == CHAT_OK || ((rc) == CHAT_E_NOMEM && fx_alloc_failures() > 0))

void fx_client_config(chat_client_config *cfg);
chat_client *fx_client_new(void);

/* ---- Building input ------------------------------------------------------ */

/* Encode m (with its u16 prefix) at out; returns the length, 0 if m does
 * not encode. */
size_t fx_encode(const chat_msg *m, uint8_t *out, size_t cap);
/* Seal pt[0..n) (n <= CHAT_TRANSPORT_PLAIN_MAX) as a whole TRANSPORT frame
 * with key at *nonce (then advanced) into out (cap >= n + 19). Returns the
 * frame length. */
size_t fx_seal(const uint8_t key[32], uint64_t *nonce, const uint8_t *pt, size_t n,
               uint8_t *out);
/* The PROOF plaintext for proof[a][b] (corrupt: one bit flipped). */
size_t fx_proof_plain(int a, int b, int corrupt, uint8_t *out, size_t cap);

/* ---- Checking output ------------------------------------------------------ */

/* An oracle over one direction of a connection: every byte a hub or a
 * client writes must be whole frames valid in that direction, TRANSPORT
 * frames must authenticate under the fixture key in nonce order, their
 * plaintexts must be non-empty sequences of messages that decode and
 * travel in that direction, and nothing may follow a GOODBYE or REJECT.
 * The callback sees every message. Partial frames are kept across calls. */
typedef void (*fx_msg_fn)(void *arg, const chat_msg *m);
typedef struct fx_rx {
    unsigned dir; /* CHAT_DIR_S2C: hub output; CHAT_DIR_C2S: client output */
    uint64_t nonce;
    int ended; /* GOODBYE or REJECT seen */
    fx_msg_fn fn;
    void *arg;
    uint8_t *buf;
    size_t len, cap;
    uint8_t *pt; /* decryption scratch (CHAT_FRAME_BODY_MAX) */
    size_t frames, msgs;
} fx_rx;
void fx_rx_init(fx_rx *r, unsigned dir, fx_msg_fn fn, void *arg);
void fx_rx_feed(fx_rx *r, const uint8_t *p, size_t n);
void fx_rx_free(fx_rx *r);

/* Peek everything the hub has for id, check it against the bound
 * FX_OUT_BOUND, feed it to r (may be NULL) and acknowledge it. Returns the
 * number of bytes. */
#define FX_OUT_BOUND (FX_OUT_MAX + 1024u)
size_t fx_hub_drain(chat_hub *h, chat_conn_id id, fx_rx *r);
/* Pop and check every hub event. */
void fx_hub_events(chat_hub *h);

/* Hand every pending client event out, checking it and its one-line
 * formatting (common/eventfmt), and answer it as a front-end would:
 * SERVER_KEY -> trust (unless refuse), CHALLENGE -> prove with user u's
 * seed, LOGIN_FAILED -> log in again as u while attempts are left. */
void fx_client_events(chat_client *c, int u, int refuse);
/* A decoded list message (NAMES, ROOM_LIST, USER_LIST; others are
 * ignored): its entries must walk exactly, each one valid. */
void fx_check_entries(const chat_msg *m);
/* Take all of the client's output into r (may be NULL). */
size_t fx_client_drain(chat_client *c, fx_rx *r);

noreturn void fx_fail(const char *file, int line, const char *what);
#define FX_FAIL(why) fx_fail(__FILE__, __LINE__, why)
#define FX_CHECK(cond)                                  \
    do {                                                \
        if (!(cond))                                    \
            fx_fail(__FILE__, __LINE__, #cond);         \
    } while (0)

/* Call a must-check function whose result does not matter here. */
#define FX_IGNORE(call)                 \
    do {                                \
        int fx_ignored_ = (call);       \
        (void)fx_ignored_;              \
    } while (0)

#endif
