#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(void)
{
    fputs("chat-conformance: out of memory\n", stderr);
    abort();
}

void *cf_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom();
    return p;
}

void *cf_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        oom();
    return p;
}

void *cf_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom();
    return q;
}

char *cf_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = cf_xmalloc(n);
    memcpy(p, s, n);
    return p;
}

/* ---- buffers ----------------------------------------------------------- */

void cf_buf_reserve(cf_buf *b, size_t more)
{
    if (more > SIZE_MAX / 2 - b->len)
        oom();
    size_t need = b->len + more + 1; /* room for a NUL after printf */
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->p = cf_xrealloc(b->p, cap);
    b->cap = cap;
}

void cf_buf_add(cf_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    cf_buf_reserve(b, n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = 0; /* always a C string too */
}

void cf_buf_byte(cf_buf *b, uint8_t x)
{
    cf_buf_add(b, &x, 1);
}

void cf_buf_u16(cf_buf *b, uint16_t x)
{
    uint8_t t[2] = {(uint8_t)(x >> 8), (uint8_t)x};
    cf_buf_add(b, t, 2);
}

void cf_buf_u32(cf_buf *b, uint32_t x)
{
    uint8_t t[4] = {(uint8_t)(x >> 24), (uint8_t)(x >> 16), (uint8_t)(x >> 8), (uint8_t)x};
    cf_buf_add(b, t, 4);
}

void cf_buf_u64(cf_buf *b, uint64_t x)
{
    cf_buf_u32(b, (uint32_t)(x >> 32));
    cf_buf_u32(b, (uint32_t)x);
}

void cf_buf_consume(cf_buf *b, size_t n)
{
    if (n >= b->len) {
        cf_buf_reset(b);
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
    b->p[b->len] = 0;
}

void cf_buf_reset(cf_buf *b)
{
    b->len = 0;
    if (b->p != NULL)
        b->p[0] = 0;
}

void cf_buf_free(cf_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void cf_buf_vprintf(cf_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return;
    cf_buf_reserve(b, (size_t)n + 1);
    vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void cf_buf_printf(cf_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cf_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* ---- arena ------------------------------------------------------------- */

struct cf_arena_chunk {
    cf_arena_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

#define ARENA_CHUNK 65536u

void *cf_arena_alloc(cf_arena *a, size_t n)
{
    size_t need = (n + 15u) & ~(size_t)15u;
    if (need < n)
        oom();
    cf_arena_chunk *c = a->head;
    if (c == NULL || c->cap - c->used < need) {
        size_t cap = need > ARENA_CHUNK ? need : ARENA_CHUNK;
        c = cf_xmalloc(sizeof *c + cap);
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += need;
    memset(p, 0, n);
    return p;
}

char *cf_arena_strndup(cf_arena *a, const char *s, size_t n)
{
    char *p = cf_arena_alloc(a, n + 1);
    if (n > 0)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void *cf_arena_memdup(cf_arena *a, const void *p, size_t n)
{
    void *q = cf_arena_alloc(a, n + 1);
    if (n > 0)
        memcpy(q, p, n);
    return q;
}

void cf_arena_free(cf_arena *a)
{
    cf_arena_chunk *c = a->head;
    while (c != NULL) {
        cf_arena_chunk *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
}

/* ---- hex and formatting ------------------------------------------------ */

void cf_hex(char *out, const uint8_t *p, size_t n)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = '\0';
}

int cf_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void cf_fmt(char *out, size_t cap, const char *fmt, ...)
{
    if (cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0)
        out[0] = '\0';
}

/* Printable: ASCII 0x20..0x7e except the quote and backslash (escaped),
 * and well-formed UTF-8 sequences of printable code points. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    /* Escape what a terminal would act on: C1, separators, bidi controls. */
    if (cp < 0xa0 || cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
        (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e || cp == 0x200f || cp == 0x061c ||
        cp == 0xfeff)
        return 0;
    return len;
}

void cf_render_value(cf_buf *b, const uint8_t *p, size_t n, int force_hex)
{
    size_t bad = 0;
    for (size_t i = 0; i < n && !force_hex;) {
        if (p[i] >= 0x20 && p[i] < 0x7f) {
            i++;
            continue;
        }
        size_t l = utf8_len(p + i, n - i);
        if (l == 0) {
            bad++;
            i++;
        } else {
            i += l;
        }
    }
    if (force_hex || (n > 0 && bad * 4 > n)) {
        char *h = cf_xmalloc(2 * n + 1);
        cf_hex(h, p, n);
        cf_buf_printf(b, "0x%s", h);
        free(h);
        return;
    }
    /* Long runs of one byte are shown as a repetition. */
    if (n >= 16) {
        size_t i = 1;
        while (i < n && p[i] == p[0])
            i++;
        if (i == n && p[0] >= 0x20 && p[0] < 0x7f && p[0] != '"' && p[0] != '\\') {
            cf_buf_printf(b, "\"%c\"*%zu", p[0], n);
            return;
        }
    }
    cf_buf_byte(b, '"');
    for (size_t i = 0; i < n;) {
        uint8_t c = p[i];
        if (c == '"' || c == '\\') {
            cf_buf_printf(b, "\\%c", c);
            i++;
        } else if (c >= 0x20 && c < 0x7f) {
            cf_buf_byte(b, c);
            i++;
        } else if (c == '\n') {
            cf_buf_add(b, "\\n", 2);
            i++;
        } else {
            size_t l = utf8_len(p + i, n - i);
            if (l > 0) {
                cf_buf_add(b, p + i, l);
                i += l;
            } else {
                cf_buf_printf(b, "\\x%02x", c);
                i++;
            }
        }
    }
    cf_buf_byte(b, '"');
}
