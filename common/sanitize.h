/* Escaping of untrusted text for display: whatever bytes come in, what comes
 * out is valid UTF-8 that cannot move a terminal's cursor, change its state
 * or reorder what is shown. libchat already rejects such text on the wire
 * (PROTOCOL.md §5.3); the front-ends escape again on output, as defence in
 * depth (a bug in one layer must not put an escape sequence on a screen).
 *
 * What is replaced, and by what (all replacements are printable ASCII):
 *   - C0 controls U+0000..U+001F     "^@" .. "^_"   (caret notation; ESC is "^[",
 *                                                    LF is "^J")
 *   - DEL U+007F                     "^?"
 *   - C1 controls U+0080..U+009F     "\u0080" .. "\u009f"
 *   - U+2028, U+2029 (line/paragraph separators), U+202A..U+202E and
 *     U+2066..U+2069 (bidi embeddings, overrides, isolates)   "\u202e" etc.
 *   - each byte that is not part of valid, shortest-form UTF-8 (stray
 *     continuation bytes, a bare 0x9B CSI, surrogates, > U+10FFFF)   "\x9b"
 * Everything else passes unchanged. The function is idempotent: escaping
 * escaped text changes nothing. */
#ifndef CHAT_SANITIZE_H
#define CHAT_SANITIZE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest replacement of one input byte or character ("\u202e"). */
#define CHAT_SANITIZE_MAX_ESC 6

/* Escape in[0..n) into out (capacity cap >= 1, always NUL-terminated).
 * Output is cut before a character or escape that does not fit, never in
 * the middle of one. Returns the number of bytes written (without the NUL).
 * A buffer of n * CHAT_SANITIZE_MAX_ESC + 1 bytes always holds everything. */
size_t chat_sanitize(const char *in, size_t n, char *out, size_t cap);

/* 1 if in[0..n) would pass through chat_sanitize unchanged. */
int chat_sanitize_is_clean(const char *in, size_t n);

#ifdef __cplusplus
}
#endif
#endif
