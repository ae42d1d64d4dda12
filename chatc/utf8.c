/* UTF-8 helpers. See utf8.h. */
#include "utf8.h"

#include <wchar.h>

size_t u8_decode(const char *str, size_t n, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)str;
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
        *cp = 0xFFFD;
        return 1;
    }
    if (n < len) {
        *cp = 0xFFFD;
        return 1;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = v;
    return len;
}

size_t u8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return 0;
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp <= 0x10FFFF) {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        return 4;
    }
    return 0;
}

size_t u8_prev(const char *s, size_t i)
{
    if (i == 0)
        return 0;
    size_t j = i - 1;
    /* At most three continuation bytes back. */
    while (j > 0 && i - j < 4 && (((unsigned char)s[j]) & 0xC0) == 0x80)
        j--;
    uint32_t cp;
    if (j + u8_decode(s + j, i - j, &cp) == i)
        return j;
    return i - 1; /* not a valid sequence ending at i: one byte back */
}

int u8_cp_width(uint32_t cp)
{
    int w = wcwidth((wchar_t)cp);
    return w < 0 ? 1 : w;
}

size_t u8_width(const char *s, size_t n)
{
    size_t i = 0, w = 0;
    while (i < n) {
        uint32_t cp;
        i += u8_decode(s + i, n - i, &cp);
        w += (size_t)u8_cp_width(cp);
    }
    return w;
}

int u8_cp_allowed(uint32_t cp)
{
    return !(cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
             (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
             (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF);
}

size_t u8_wrap(const char *s, size_t n, size_t width, size_t *cols)
{
    size_t i = 0, w = 0, brk = 0, brk_w = 0;
    while (i < n) {
        uint32_t cp;
        size_t l = u8_decode(s + i, n - i, &cp);
        size_t cw = (size_t)u8_cp_width(cp);
        if (w + cw > width && i > 0)
            break;
        i += l;
        w += cw;
        if (cp == ' ') {
            brk = i;
            brk_w = w;
        }
    }
    if (i < n && brk > 0) {
        /* Break after the last space; zero-width characters that follow
         * it stay with the next row. */
        *cols = brk_w;
        return brk;
    }
    /* Keep combining marks with their base character. */
    while (i < n) {
        uint32_t cp;
        size_t l = u8_decode(s + i, n - i, &cp);
        if (u8_cp_width(cp) != 0)
            break;
        i += l;
    }
    *cols = w;
    return i;
}
