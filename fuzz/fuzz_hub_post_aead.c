/* Harness: the hub behind the AEAD. A real Noise XX handshake and login
 * with the fixture's fixed keys (fixture.h) puts a connection into a known
 * state; then the input's plaintexts are encrypted with the real
 * client-to-server transport key, in nonce order, and fed to the hub, so
 * the fuzzer spends its time on the login and command handling rather
 * than on guessing MACs.
 *
 * Input:  [mode:u8] then records [flags:u8][len:u16][bytes:len]...
 *   mode & 3: 0  connection after HS3 as alice: CHALLENGE sent, PROOF due
 *             1  logged in as bob (user), in #lobby
 *             2  logged in as alice (admin), in #lobby
 *             3  as 2, with bob logged in on a second connection
 *   mode & 4: end with EOF (chat_hub_release) on every connection.
 *   A record's bytes (cut to what the input holds) are a plaintext:
 *   sealed as one TRANSPORT frame and fed, unless a flag says otherwise:
 *   0x01 RAW     feed the bytes as they are, unencrypted (any frame, any
 *                garbage; the hub must close without acting on it);
 *   0x02 BADTAG  seal, then flip a bit of the tag: the MAC-failure path;
 *   0x04 SPLIT   feed the frame in two halves;
 *   0x08 HOLD    do not drain the hub's output afterwards (it piles up
 *                towards the out_max bound, FX_OUT_MAX);
 *   0x10 TICK    then advance the clock by 8 << (3 * (flags >> 5)) ms and
 *                tick the hub (login and idle timeouts);
 *   without TICK: flags & 0x20 sends the record from the second
 *   connection (mode 3 only); 0x40 makes every allocation fail while the
 *   record is fed, 0x80 only the first (the out-of-memory paths).
 * Everything the hub writes must pass the output oracle (valid frames,
 * authentic under the server-to-client key, valid server messages,
 * nothing after GOODBYE, within the output bound). */
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "fixture.h"
#include "fuzz.h"

#define REC_RAW 0x01u
#define REC_BADTAG 0x02u
#define REC_SPLIT 0x04u
#define REC_HOLD 0x08u
#define REC_TICK 0x10u
#define REC_OTHER 0x20u
#define REC_OOM_ALL 0x40u
#define REC_OOM_ONE 0x80u

typedef struct conn {
    chat_conn_id id;
    uint64_t tx; /* client-to-server nonce */
    fx_rx rx;
} conn;

static uint8_t frame[CHAT_FRAME_HEADER + CHAT_FRAME_BODY_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    (void)fx_get();
    return 0;
}

static void feed(chat_hub *h, conn *c, const uint8_t *p, size_t n, chat_time now)
{
    int rc = chat_hub_feed(h, c->id, p, n, now);
    FX_CHECK(FX_FEED_OK(rc));
}

/* Accept and log in as user u (after HS3 only, when !proof). */
static void open_conn(chat_hub *h, conn *c, int u, int proof, chat_time now)
{
    const fx_fixture *f = fx_get();
    uint8_t addr[4] = {198, 51, 100, (uint8_t)(u + 1)};
    FX_CHECK(chat_hub_accept(h, addr, sizeof addr, now, &c->id) == CHAT_OK);
    fx_rx_init(&c->rx, CHAT_DIR_S2C, NULL, NULL);
    c->tx = 0;
    feed(h, c, f->hs1, sizeof f->hs1, now);
    feed(h, c, f->hs3[u], f->hs3_len[u], now);
    (void)fx_hub_drain(h, c->id, &c->rx);
    FX_CHECK(c->rx.msgs == 1); /* the CHALLENGE */
    if (!proof)
        return;
    uint8_t pt[128];
    size_t pn = fx_proof_plain(u, u, 0, pt, sizeof pt);
    size_t fn = fx_seal(f->k_cs, &c->tx, pt, pn, frame);
    feed(h, c, frame, fn, now);
    (void)fx_hub_drain(h, c->id, &c->rx);
    FX_CHECK(chat_hub_conn_state(h, c->id) & CHAT_CONN_READY);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const fx_fixture *f = fx_get();
    fuzz_in in = fin_make(data, size);
    uint8_t mode = fin_u8(&in);
    int stage = mode & 3;

    chat_store_mem *st;
    chat_hub *h = fx_hub_new(&st);
    chat_time now = fx_time0();
    conn cs[2];
    int nconn = stage == 3 ? 2 : 1;
    open_conn(h, &cs[0], stage == 1 ? FX_BOB : FX_ALICE, stage != 0, now);
    if (nconn == 2) {
        open_conn(h, &cs[1], FX_BOB, 1, now);
        (void)fx_hub_drain(h, cs[0].id, &cs[0].rx); /* JOINED bob */
    }
    fx_hub_events(h);

    while (fin_left(&in) > 0) {
        uint8_t flags = fin_u8(&in);
        const uint8_t *bytes;
        size_t n = fin_take(&in, fin_u16(&in), &bytes);
        conn *c = &cs[0];
        if (!(flags & REC_TICK) && (flags & REC_OTHER) && nconn == 2)
            c = &cs[1];
        const uint8_t *p = bytes;
        size_t len = n;
        if (!(flags & REC_RAW)) {
            if (n > CHAT_TRANSPORT_PLAIN_MAX)
                n = CHAT_TRANSPORT_PLAIN_MAX;
            len = fx_seal(f->k_cs, &c->tx, bytes, n, frame);
            if (flags & REC_BADTAG)
                frame[len - 1] ^= 0x01;
            p = frame;
        }
        if (!(flags & REC_TICK)) {
            fx_alloc_fail_all((flags & REC_OOM_ALL) != 0);
            if (flags & REC_OOM_ONE)
                fx_alloc_fail_after(1);
        }
        if ((flags & REC_SPLIT) && len > 1) {
            feed(h, c, p, len / 2, now);
            feed(h, c, p + len / 2, len - len / 2, now);
        } else {
            feed(h, c, p, len, now);
        }
        fx_alloc_fail_all(0);
        fx_alloc_fail_after(0);
        if (flags & REC_TICK) {
            uint64_t step = (uint64_t)8 << (3 * (flags >> 5));
            now.mono_ms += step;
            now.wall_ms += step;
            chat_hub_tick(h, now);
        }
        if (!(flags & REC_HOLD))
            for (int k = 0; k < nconn; k++)
                (void)fx_hub_drain(h, cs[k].id, &cs[k].rx);
        fx_hub_events(h);
    }

    for (int k = 0; k < nconn; k++)
        (void)fx_hub_drain(h, cs[k].id, &cs[k].rx);
    if (mode & 4) {
        for (int k = 0; k < nconn; k++) {
            chat_hub_release(h, cs[k].id, now);
            if (k + 1 < nconn)
                (void)fx_hub_drain(h, cs[k + 1].id, &cs[k + 1].rx); /* PARTED */
        }
        FX_CHECK(chat_hub_conn_count(h) == 0 && chat_hub_user_count(h) == 0);
    }
    for (int k = 0; k < nconn; k++)
        fx_rx_free(&cs[k].rx);
    fx_hub_events(h);
    fx_hub_free(h, st);
    return 0;
}
