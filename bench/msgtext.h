/* The text chatbench sends, B bytes:
 *   "<16 hex digits: send time, monotonic ns> <sender> <seq> " + padding
 * where padding byte i (counted from the start of the text) is
 * 'a' + (7 seq + i) mod 26: a window of the repeated alphabet, so it is
 * written with one memcpy and checked with one memcmp, and a byte that
 * moved, changed or came from another message shows. Plain ASCII, so it
 * is valid chat text and a valid IRC trailing parameter. */
#ifndef CHATBENCH_MSGTEXT_H
#define CHATBENCH_MSGTEXT_H

#include <stddef.h>
#include <stdint.h>

#define BT_HDR_MAX 39   /* the header with the largest numbers */
#define BT_MIN 40       /* smallest B: the header always fits */
#define BT_MAX 4000     /* largest B (CHAT_TEXT_MAX) */

/* Build the padding pattern; call once before any thread uses it. */
void bt_init(void);

/* Write message seq of sender s sent at ts into out (capacity b + 1,
 * NUL-terminated); returns b. BT_MIN <= b <= BT_MAX. */
size_t bt_make(char *out, size_t b, uint64_t ts, uint32_t s, uint32_t seq);

enum {
    BT_OK = 0,
    BT_E_HEADER = -1,  /* no "<hex16> <dec> <dec> " header: not chatbench's */
    BT_E_LENGTH = -2,  /* the header parses but the text is not b bytes */
    BT_E_CORRUPT = -3  /* the padding differs from what seq implies */
};

/* Check a received text against the format for b bytes; on BT_OK (and on
 * BT_E_LENGTH / BT_E_CORRUPT) *ts, *s and *seq are the header's. */
int bt_check(const uint8_t *t, size_t len, size_t b, uint64_t *ts, uint32_t *s, uint32_t *seq);

#endif
