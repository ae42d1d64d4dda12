/* Harness: the frame decoder (PROTOCOL.md §2), as a stream reader uses it.
 *
 * Input: a byte stream. Frames are decoded one after another until the
 * stream ends, needs more bytes or is refused. Checked for every frame:
 * the result agrees with the wire rules (length 0 and unknown types are
 * refused, a known type waits for its body), every strict prefix of an
 * accepted frame asks for more bytes, the header re-encodes to the same
 * bytes, and the bodies of HS1 and REJECT go through their own decoders,
 * which must round-trip what they accept. */
#include <string.h>

#include "chat/chat.h"
#include "fixture.h"
#include "fuzz.h"

static void check_bodies(const chat_frame *f)
{
    if (f->type == CHAT_FRAME_HS1 && f->body_len >= 32) {
        uint8_t vmin, vmax;
        const uint8_t *pl = f->body + 32;
        size_t pn = f->body_len - 32;
        if (chat_hs1_payload_decode(pl, pn, &vmin, &vmax) == CHAT_OK) {
            uint8_t again[CHAT_HS1_PAYLOAD_LEN];
            chat_hs1_payload_encode(again, vmin, vmax);
            FX_CHECK(pn == sizeof again && memcmp(again, pl, pn) == 0);
        }
    }
    if (f->type == CHAT_FRAME_REJECT) {
        chat_reject r;
        if (chat_reject_decode(f->body, f->body_len, &r) == CHAT_OK) {
            uint8_t again[CHAT_REJECT_MAX];
            size_t n = 0;
            FX_CHECK(chat_reject_encode(&r, again, sizeof again, &n) == CHAT_OK);
            FX_CHECK(n == f->body_len && memcmp(again, f->body, n) == 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off <= size) {
        const uint8_t *p = data + off;
        size_t len = size - off;
        chat_frame f;
        size_t used = 9999;
        int rc = chat_frame_decode(p, len, &f, &used);
        size_t flen = len >= 2 ? (size_t)p[0] << 8 | p[1] : 0;
        if (rc == CHAT_E_AGAIN) {
            FX_CHECK(used == 0 && f.body == NULL);
            FX_CHECK(len < 2 || (flen != 0 && (len < 3 || len < 2 + flen)));
            FX_CHECK(len < 3 || (p[2] >= CHAT_FRAME_HS1 && p[2] <= CHAT_FRAME_TRANSPORT));
            break;
        }
        if (rc != CHAT_OK) {
            FX_CHECK(rc == CHAT_E_PROTO && used == 0);
            FX_CHECK(flen == 0 || p[2] < CHAT_FRAME_HS1 || p[2] > CHAT_FRAME_TRANSPORT);
            break;
        }
        FX_CHECK(f.type >= CHAT_FRAME_HS1 && f.type <= CHAT_FRAME_TRANSPORT);
        FX_CHECK(used == 2 + flen && used <= len && used >= CHAT_FRAME_HEADER);
        FX_CHECK(f.body == p + CHAT_FRAME_HEADER && f.body_len == used - CHAT_FRAME_HEADER);
        FX_CHECK(f.body_len <= CHAT_FRAME_BODY_MAX);
        uint8_t hdr[CHAT_FRAME_HEADER];
        chat_frame_header(hdr, f.type, f.body_len);
        FX_CHECK(memcmp(hdr, p, sizeof hdr) == 0);
        /* Any shorter prefix is incomplete, never an error or a frame. */
        size_t cuts[4] = {0, 1, 2, used - 1};
        for (int i = 0; i < 4; i++) {
            chat_frame g;
            size_t u2 = 0;
            if (cuts[i] < used)
                FX_CHECK(chat_frame_decode(p, cuts[i], &g, &u2) == CHAT_E_AGAIN && u2 == 0);
        }
        check_bodies(&f);
        off += used;
    }
    return 0;
}
