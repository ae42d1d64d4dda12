/* Small shared helpers of the conformance runner: a growable byte buffer,
 * an arena that owns everything a parsed transcript holds, hex, and
 * bounded string formatting. */
#ifndef CF_UTIL_H
#define CF_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer. Allocation failure aborts: the runner is a test
 * tool, and a half-built buffer would only produce a misleading verdict. */
typedef struct cf_buf {
    uint8_t *p;
    size_t len, cap;
} cf_buf;

void cf_buf_reserve(cf_buf *b, size_t more);
void cf_buf_add(cf_buf *b, const void *p, size_t n);
void cf_buf_byte(cf_buf *b, uint8_t x);
void cf_buf_u16(cf_buf *b, uint16_t x);
void cf_buf_u32(cf_buf *b, uint32_t x);
void cf_buf_u64(cf_buf *b, uint64_t x);
/* Drop the first n bytes. */
void cf_buf_consume(cf_buf *b, size_t n);
void cf_buf_reset(cf_buf *b);
void cf_buf_free(cf_buf *b);
/* printf onto the end (NUL-terminated; len excludes the NUL). */
void cf_buf_printf(cf_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cf_buf_vprintf(cf_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* An arena: many small allocations freed at once. */
typedef struct cf_arena_chunk cf_arena_chunk;
typedef struct cf_arena {
    cf_arena_chunk *head;
} cf_arena;

void *cf_arena_alloc(cf_arena *a, size_t n); /* zeroed, 16-byte aligned */
char *cf_arena_strndup(cf_arena *a, const char *s, size_t n);
void *cf_arena_memdup(cf_arena *a, const void *p, size_t n);
void cf_arena_free(cf_arena *a);

void *cf_xmalloc(size_t n);
void *cf_xcalloc(size_t n, size_t size);
void *cf_xrealloc(void *p, size_t n);
char *cf_xstrdup(const char *s);

/* Hex: lower case, no separators. out must hold 2n+1. */
void cf_hex(char *out, const uint8_t *p, size_t n);
int cf_hexval(int c); /* 0..15 or -1 */

/* snprintf that never fails silently on truncation (it truncates). */
void cf_fmt(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Bytes as a transcript value: a quoted string with C escapes when the
 * bytes are printable UTF-8-ish text, else 0x hex. Appended to b. */
void cf_render_value(cf_buf *b, const uint8_t *p, size_t n, int force_hex);

#endif
