/* Display escaping of untrusted text. See sanitize.h. */
#include "sanitize.h"

#include <stdint.h>
#include <string.h>

/* Length of the valid, shortest-form UTF-8 sequence at s[0..n) and its code
 * point in *cp, or 0 if s does not start with one. */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1Fu, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0Fu, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

/* 1 if code point cp must be shown escaped. */
static int needs_escape(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
           (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

/* The escape for one code point or one bad byte into esc (>= 7 bytes);
 * returns its length. */
static size_t escape_of(uint32_t cp, int bad_byte, char esc[CHAT_SANITIZE_MAX_ESC + 1])
{
    static const char hex[] = "0123456789abcdef";
    if (bad_byte) {
        esc[0] = '\\', esc[1] = 'x', esc[2] = hex[(cp >> 4) & 0xF], esc[3] = hex[cp & 0xF];
        return 4;
    }
    if (cp < 0x20 || cp == 0x7F) {
        esc[0] = '^';
        esc[1] = (char)(cp == 0x7F ? '?' : (char)(cp + 0x40));
        return 2;
    }
    esc[0] = '\\', esc[1] = 'u';
    esc[2] = hex[(cp >> 12) & 0xF], esc[3] = hex[(cp >> 8) & 0xF];
    esc[4] = hex[(cp >> 4) & 0xF], esc[5] = hex[cp & 0xF];
    return 6;
}

size_t chat_sanitize(const char *in, size_t n, char *out, size_t cap)
{
    if (out == NULL || cap == 0)
        return 0;
    const unsigned char *s = (const unsigned char *)in;
    size_t used = 0, i = 0;
    while (i < n) {
        uint32_t cp = 0;
        size_t len = utf8_seq(s + i, n - i, &cp);
        const char *piece;
        size_t plen;
        char esc[CHAT_SANITIZE_MAX_ESC + 1];
        if (len == 0) {
            plen = escape_of(s[i], 1, esc);
            piece = esc;
            len = 1;
        } else if (needs_escape(cp)) {
            plen = escape_of(cp, 0, esc);
            piece = esc;
        } else {
            piece = (const char *)s + i;
            plen = len;
        }
        if (plen > cap - 1 - used)
            break;
        memcpy(out + used, piece, plen);
        used += plen;
        i += len;
    }
    out[used] = '\0';
    return used;
}

int chat_sanitize_is_clean(const char *in, size_t n)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0;
    while (i < n) {
        uint32_t cp = 0;
        size_t len = utf8_seq(s + i, n - i, &cp);
        if (len == 0 || needs_escape(cp))
            return 0;
        i += len;
    }
    return 1;
}
