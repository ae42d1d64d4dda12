#include "msgtext.h"

#include <stdio.h>
#include <string.h>

#define PATTERN_LEN (26 + BT_MAX)
static char pattern[PATTERN_LEN];

void bt_init(void)
{
    for (size_t i = 0; i < PATTERN_LEN; i++)
        pattern[i] = (char)('a' + i % 26);
}

/* The padding of message seq from text position h on. */
static const char *pad_at(uint32_t seq, size_t h)
{
    return pattern + (seq % 26u * 7u + h % 26u) % 26u;
}

size_t bt_make(char *out, size_t b, uint64_t ts, uint32_t s, uint32_t seq)
{
    int h = snprintf(out, BT_HDR_MAX + 1, "%016llx %u %u ", (unsigned long long)ts, (unsigned)s,
                     (unsigned)seq);
    memcpy(out + h, pad_at(seq, (size_t)h), b - (size_t)h);
    out[b] = '\0';
    return b;
}

/* "<hex16> <dec> <dec> ": the header's length, or 0. */
static size_t parse_header(const uint8_t *t, size_t len, uint64_t *ts, uint32_t *s, uint32_t *seq)
{
    if (len < 16)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < 16; i++) {
        uint8_t ch = t[i];
        unsigned d;
        if (ch >= '0' && ch <= '9')
            d = (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            d = (unsigned)(ch - 'a' + 10);
        else
            return 0;
        v = v << 4 | d;
    }
    size_t i = 16;
    uint32_t *dst[2] = {s, seq};
    for (int f = 0; f < 2; f++) {
        if (i >= len || t[i] != ' ')
            return 0;
        i++;
        uint64_t x = 0;
        size_t start = i;
        while (i < len && t[i] >= '0' && t[i] <= '9' && i - start < 10)
            x = x * 10 + (uint64_t)(t[i++] - '0');
        if (i == start || x > UINT32_MAX)
            return 0;
        *dst[f] = (uint32_t)x;
    }
    if (i >= len || t[i] != ' ')
        return 0;
    *ts = v;
    return i + 1;
}

int bt_check(const uint8_t *t, size_t len, size_t b, uint64_t *ts, uint32_t *s, uint32_t *seq)
{
    size_t h = parse_header(t, len, ts, s, seq);
    if (h == 0)
        return BT_E_HEADER;
    if (len != b)
        return BT_E_LENGTH;
    if (memcmp(t + h, pad_at(*seq, h), len - h) != 0)
        return BT_E_CORRUPT;
    return BT_OK;
}
