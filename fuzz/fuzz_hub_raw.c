/* Harness: a fresh hub connection fed raw bytes, as from the network,
 * before and through the handshake.
 *
 * Input:  [h:u8] [size:u8 x (h & 15)] [stream...]
 *   The stream is fed in chunks of size+1 bytes, cycling through the
 *   sizes (no sizes: all at once), so partial headers and frames split at
 *   every point are exercised.
 *   h & 0x10: advance the clock by 7 s between chunks (and tick the hub):
 *             the 30 s login timeout is reachable;
 *   h & 0x20: end with an EOF (chat_hub_release) instead of just freeing;
 *   h & 0x40: open a second connection first and feed it the same stream
 *             interleaved, so two handshakes share one hub.
 *
 * The hub is the fixture's (fixture.h): streams recorded from fixture
 * sessions (gen_corpus: corpus/hub_raw) replay all the way to logged-in
 * commands. Everything the hub writes must pass the output oracle. */
#include <string.h>

#include "chat/chat.h"
#include "fixture.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    (void)fx_get();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = fin_make(data, size);
    uint8_t h = fin_u8(&in);
    const uint8_t *sizes;
    size_t nsizes = fin_take(&in, h & 15u, &sizes);
    int nconn = (h & 0x40) ? 2 : 1;

    chat_store_mem *st;
    chat_hub *hub = fx_hub_new(&st);
    chat_time now = fx_time0();
    chat_conn_id id[2];
    fx_rx rx[2];
    for (int k = 0; k < nconn; k++) {
        uint8_t addr[4] = {192, 0, 2, (uint8_t)(k + 1)};
        FX_CHECK(chat_hub_accept(hub, addr, sizeof addr, now, &id[k]) == CHAT_OK);
        fx_rx_init(&rx[k], CHAT_DIR_S2C, NULL, NULL);
    }

    size_t pos = 0, chunk = 0;
    while (pos < in.n) {
        size_t n = nsizes ? (size_t)sizes[chunk % nsizes] + 1 : in.n;
        if (n > in.n - pos)
            n = in.n - pos;
        for (int k = 0; k < nconn; k++) {
            int rc = chat_hub_feed(hub, id[k], in.p + pos, n, now);
            FX_CHECK(rc == CHAT_OK);
            (void)fx_hub_drain(hub, id[k], &rx[k]);
        }
        fx_hub_events(hub);
        pos += n;
        chunk++;
        if (h & 0x10) {
            now.mono_ms += 7000;
            now.wall_ms += 7000;
            chat_hub_tick(hub, now);
            for (int k = 0; k < nconn; k++)
                (void)fx_hub_drain(hub, id[k], &rx[k]);
        }
    }
    FX_CHECK(chat_hub_conn_count(hub) == (size_t)nconn);
    FX_CHECK(chat_hub_user_count(hub) <= 1); /* one name per stream */
    for (int k = 0; k < nconn; k++) {
        if (h & 0x20) {
            chat_hub_release(hub, id[k], now);
            FX_CHECK(chat_hub_conn_state(hub, id[k]) == 0);
        }
        fx_rx_free(&rx[k]);
    }
    fx_hub_events(hub);
    fx_hub_free(hub, st);
    return 0;
}
