/* UTF-8 helpers for chatc's display: decoding, encoding and terminal
 * column widths (wcwidth, so the LC_CTYPE locale must be a UTF-8 one;
 * chatc calls setlocale). */
#ifndef CHATC_UTF8_H
#define CHATC_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decode the character at s[0..n) (n >= 1) into *cp; returns its length
 * (1..4). An invalid or truncated sequence decodes as U+FFFD of length 1. */
size_t u8_decode(const char *s, size_t n, uint32_t *cp);

/* Encode cp (a valid scalar value) into out (>= 4 bytes); returns the
 * length, or 0 for a surrogate or a value above U+10FFFF. */
size_t u8_encode(uint32_t cp, char out[4]);

/* Offset of the start of the character before offset i in s (i > 0). */
size_t u8_prev(const char *s, size_t i);

/* Columns a code point takes: wcwidth(), with unprintable ones counted as
 * 1 (chatc draws them as U+FFFD). 0 for combining marks. */
int u8_cp_width(uint32_t cp);

/* Columns of s[0..n). */
size_t u8_width(const char *s, size_t n);

/* 1 if cp may be typed into a message: not a control character nor one of
 * the code points PROTOCOL.md §5.3 forbids. */
int u8_cp_allowed(uint32_t cp);

/* Line wrapping: the number of bytes of s[0..n) that make the next row of
 * at most width columns (>= 1), breaking after a space when one is in the
 * row, else between characters; *cols receives the row's width. Always at
 * least one character, even one wider than the row. The caller skips one
 * space at the start of a continuation row if it wants to. */
size_t u8_wrap(const char *s, size_t n, size_t width, size_t *cols);
#endif
