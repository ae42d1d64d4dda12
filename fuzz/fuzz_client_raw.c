/* Harness: a started client session fed raw bytes as if from a server.
 *
 * Input:  [h:u8] [size:u8 x (h & 7)] [stream...]
 *   The stream is fed in chunks of size+1 bytes, cycling through the
 *   sizes (no sizes: all at once). Until the client is logged in, no
 *   chunk goes past the end of a frame: before READY the client must act
 *   between frames (trust the key, prove), as a real server waits for it;
 *   h & 0x08 lifts that rule (a server that does not wait).
 *   The clock moves 20 s per chunk, so the keep-alive PING comes due.
 *   (h >> 4) & 3: the user the client logs in as (alice, bob, carol, dave);
 *   h & 0x40:     refuse the server key instead of trusting it;
 *   h & 0x80:     end with an EOF (chat_client_eof) instead of just freeing.
 *
 * The client is the fixture's (fixture.h), so server streams recorded from
 * fixture sessions (gen_corpus: corpus/client_raw) replay through the
 * handshake, the login and the whole session. Events are handled as a
 * front-end would (fx_client_events: trust, prove, retry) and each is
 * formatted as one line; everything the client writes must pass the
 * output oracle. */
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
    size_t nsizes = fin_take(&in, h & 7u, &sizes);
    int u = (h >> 4) & 3;
    int refuse = (h & 0x40) != 0;

    chat_client *c = fx_client_new();
    uint64_t now = FX_T0_MONO;
    FX_CHECK(chat_client_start(c, fx_user(u), now) == CHAT_OK);
    fx_rx out;
    fx_rx_init(&out, CHAT_DIR_C2S, NULL, NULL);
    (void)fx_client_drain(c, &out);

    size_t pos = 0, chunk = 0, frame_end = 0;
    while (pos < in.n) {
        size_t n = nsizes ? (size_t)sizes[chunk % nsizes] + 1 : in.n;
        if (n > in.n - pos)
            n = in.n - pos;
        if (!(h & 0x08) && chat_client_get_state(c) != CHAT_CLIENT_READY) {
            if (pos >= frame_end) {
                size_t flen = in.n - pos >= 2 ? (size_t)in.p[pos] << 8 | in.p[pos + 1] : 0;
                frame_end = pos + 2 + (flen > 0 ? flen : 1);
            }
            if (n > frame_end - pos)
                n = frame_end - pos;
        }
        int rc = chat_client_feed(c, in.p + pos, n, now);
        if (rc == CHAT_E_CLOSED) {
            FX_CHECK(chat_client_get_state(c) == CHAT_CLIENT_CLOSED);
            break;
        }
        FX_CHECK(rc == CHAT_OK);
        fx_client_events(c, u, refuse);
        (void)fx_client_drain(c, &out);
        pos += n;
        chunk++;
        now += 20000;
        chat_client_tick(c, now);
        (void)fx_client_drain(c, &out);
    }
    if (h & 0x80) {
        chat_client_eof(c);
        FX_CHECK(chat_client_get_state(c) == CHAT_CLIENT_CLOSED);
    }
    fx_client_events(c, u, refuse);
    (void)fx_client_drain(c, &out);
    fx_rx_free(&out);
    chat_client_free(c);
    return 0;
}
