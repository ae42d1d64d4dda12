/* Harness: every application message decoder and the other pure decoders
 * of codec.h, dispatching on the first input byte.
 *
 *   0x00..0xEF  the whole input is one message, [type][body], as
 *               chat_msg_decode sees it (so the first byte is its type);
 *   0xF0 + 5k   the rest is a transport plaintext walked with chat_msg_next;
 *   0xF1 + 5k   the rest is a REJECT body;
 *   0xF2 + 5k   the rest is an HS1 payload;
 *   0xF3 + 5k   the rest is a name / room / text for the field validators;
 *   0xF4 + 5k   the next byte picks a list type, the rest is one entry.
 *
 * Whatever a decoder accepts must re-encode to exactly the same bytes (the
 * codec is canonical), no strict prefix of an accepted message may decode,
 * and the validators must agree with each other and with name folding. */
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "fixture.h"
#include "fuzz.h"

static uint8_t enc[CHAT_MSG_MAX];

/* A decoded message is canonical: it encodes back to [u16 len][in]. */
static void check_roundtrip(const chat_msg *m, const uint8_t *in, size_t len)
{
    size_t n = 0;
    int rc = chat_msg_encode(m, enc, sizeof enc, &n);
    FX_CHECK(rc == CHAT_OK);
    FX_CHECK(n == len + 2);
    FX_CHECK(enc[0] == (uint8_t)(len >> 8) && enc[1] == (uint8_t)len);
    FX_CHECK(memcmp(enc + 2, in, len) == 0);
    FX_CHECK(chat_msg_name(m->type) != NULL);
    FX_CHECK(chat_msg_direction(m->type) != 0);
    fx_check_entries(m);
}

static void one_message(const uint8_t *in, size_t len)
{
    chat_msg m;
    int rc = chat_msg_decode(in, len, &m);
    if (rc != CHAT_OK) {
        FX_CHECK(rc == CHAT_E_PROTO);
        FX_CHECK(m.type == 0 && m.req == 0); /* zeroed on error */
        return;
    }
    FX_CHECK(m.type == in[0]);
    check_roundtrip(&m, in, len);
    /* Strict: the last field always ends exactly at the end. */
    chat_msg t;
    FX_CHECK(chat_msg_decode(in, len - 1, &t) != CHAT_OK);
}

static void plaintext(const uint8_t *in, size_t len)
{
    const uint8_t *p = in;
    size_t left = len;
    while (left > 0) {
        const uint8_t *before = p;
        size_t left_before = left;
        chat_msg m;
        if (chat_msg_next(&p, &left, &m) != CHAT_OK) {
            FX_CHECK(p == before && left == left_before);
            return;
        }
        size_t used = (size_t)(p - before);
        FX_CHECK(used >= 3 && used <= left_before && left == left_before - used);
        check_roundtrip(&m, before + 2, used - 2);
    }
}

static void reject(const uint8_t *in, size_t len)
{
    chat_reject r;
    if (chat_reject_decode(in, len, &r) != CHAT_OK)
        return;
    uint8_t out[CHAT_REJECT_MAX];
    size_t n = 0;
    FX_CHECK(chat_reject_encode(&r, out, sizeof out, &n) == CHAT_OK);
    FX_CHECK(n == len && memcmp(out, in, n) == 0);
    FX_CHECK(r.version_min >= 1 && r.version_min <= r.version_max);
}

static void hs1(const uint8_t *in, size_t len)
{
    uint8_t vmin, vmax;
    if (chat_hs1_payload_decode(in, len, &vmin, &vmax) != CHAT_OK) {
        FX_CHECK(vmin == 0 && vmax == 0);
        return;
    }
    uint8_t out[CHAT_HS1_PAYLOAD_LEN];
    chat_hs1_payload_encode(out, vmin, vmax);
    FX_CHECK(len == sizeof out && memcmp(out, in, len) == 0);
}

static void fields(const uint8_t *in, size_t len)
{
    int name = chat_valid_name(in, len);
    int room = chat_valid_room(in, len);
    int text = chat_valid_text(in, len, 0);
    int motd = chat_valid_text(in, len, 1);
    FX_CHECK(!name || (len >= 1 && len <= CHAT_NAME_MAX && text));
    FX_CHECK(room == (len >= 2 && in[0] == '#' && chat_valid_name(in + 1, len - 1)));
    FX_CHECK(!text || motd);
    if (motd && memchr(in, '\n', len) == NULL)
        FX_CHECK(text);

    char *folded = malloc(len + 1);
    FX_CHECK(folded != NULL);
    FX_CHECK(chat_name_fold(folded, in, len) == len);
    FX_CHECK(folded[len] == '\0');
    FX_CHECK(chat_valid_name((const uint8_t *)folded, len) == name);
    FX_CHECK(chat_valid_room((const uint8_t *)folded, len) == room);
    for (size_t i = 0; i < len; i++)
        FX_CHECK(!(folded[i] >= 'A' && folded[i] <= 'Z'));

    /* chat_name_key sees a C string: up to the first NUL. */
    size_t clen = 0;
    while (clen < len && in[clen] != 0)
        clen++;
    memcpy(folded, in, clen);
    folded[clen] = '\0';
    char key[CHAT_NAME_MAX + 1];
    int ok = chat_name_key(key, folded);
    FX_CHECK(ok == chat_valid_name(in, clen));
    if (ok) {
        char want[CHAT_NAME_MAX + 1];
        chat_name_fold(want, in, clen);
        FX_CHECK(strcmp(key, want) == 0);
    }
    free(folded);
}

static void entry(const uint8_t *in, size_t len)
{
    if (len == 0)
        return;
    int kind = in[0] % 3;
    const uint8_t *p = in + 1;
    size_t left = len - 1;
    uint8_t out[CHAT_MSG_MAX];
    size_t n = 0;
    int rc;
    if (kind == 0) {
        chat_name_entry e;
        if (chat_entry_get_name(&p, &left, &e) != CHAT_OK)
            return;
        rc = chat_entry_put_name(out, sizeof out, &n, &e);
    } else if (kind == 1) {
        chat_room_entry e;
        if (chat_entry_get_room(&p, &left, &e) != CHAT_OK)
            return;
        rc = chat_entry_put_room(out, sizeof out, &n, &e);
    } else {
        chat_user_entry e;
        if (chat_entry_get_user(&p, &left, &e) != CHAT_OK)
            return;
        rc = chat_entry_put_user(out, sizeof out, &n, &e);
    }
    FX_CHECK(rc == CHAT_OK);
    FX_CHECK(n == (size_t)(p - (in + 1)) && memcmp(out, in + 1, n) == 0);
    /* A put that does not fit writes nothing and says so. */
    if (n > 0) {
        size_t n2 = 1;
        uint8_t small[CHAT_MSG_MAX];
        const uint8_t *q = in + 1;
        size_t l2 = len - 1;
        if (kind == 0) {
            chat_name_entry e;
            FX_CHECK(chat_entry_get_name(&q, &l2, &e) == CHAT_OK);
            rc = chat_entry_put_name(small, n, &n2, &e);
        } else if (kind == 1) {
            chat_room_entry e;
            FX_CHECK(chat_entry_get_room(&q, &l2, &e) == CHAT_OK);
            rc = chat_entry_put_room(small, n, &n2, &e);
        } else {
            chat_user_entry e;
            FX_CHECK(chat_entry_get_user(&q, &l2, &e) == CHAT_OK);
            rc = chat_entry_put_user(small, n, &n2, &e);
        }
        FX_CHECK(rc == CHAT_E_FULL && n2 == 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] < 0xF0) {
        one_message(data, size);
        return 0;
    }
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    switch ((data[0] - 0xF0) % 5) {
    case 0:
        plaintext(rest, n);
        break;
    case 1:
        reject(rest, n);
        break;
    case 2:
        hs1(rest, n);
        break;
    case 3:
        fields(rest, n);
        break;
    default:
        entry(rest, n);
        break;
    }
    return 0;
}
