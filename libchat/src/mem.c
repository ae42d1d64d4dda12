#include "mem.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

void *chat__alloc(const chat_allocator *a, size_t n)
{
    if (a != NULL && a->alloc != NULL)
        return a->alloc(a->ctx, n);
    return malloc(n);
}

void *chat__calloc(const chat_allocator *a, size_t n)
{
    void *p = chat__alloc(a, n);
    if (p != NULL)
        memset(p, 0, n);
    return p;
}

void *chat__realloc(const chat_allocator *a, void *p, size_t n)
{
    if (a != NULL && a->realloc != NULL)
        return a->realloc(a->ctx, p, n);
    return realloc(p, n);
}

void chat__free(const chat_allocator *a, void *p)
{
    if (p == NULL)
        return;
    if (a != NULL && a->free != NULL)
        a->free(a->ctx, p);
    else
        free(p);
}

int chat__alloc_ok(const chat_allocator *a)
{
    int n = (a->alloc != NULL) + (a->realloc != NULL) + (a->free != NULL);
    return n == 0 || n == 3;
}

uint8_t *chat__buf_reserve(chat__buf *b, const chat_allocator *a, size_t n)
{
    if (n > SIZE_MAX - b->len)
        return NULL;
    size_t need = b->len + n;
    if (need > b->cap) {
        /* Grow geometrically so appending message by message stays linear. */
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        /* Not realloc: a moved block would leave plaintext behind in freed
         * memory. Allocate, copy, wipe the old block, free it. */
        uint8_t *p = chat__alloc(a, cap);
        if (p == NULL)
            return NULL;
        if (b->p != NULL) {
            memcpy(p, b->p, b->len);
            sodium_memzero(b->p, b->cap);
            chat__free(a, b->p);
        }
        b->p = p;
        b->cap = cap;
    }
    return b->p + b->len;
}

int chat__buf_append(chat__buf *b, const chat_allocator *a, const void *data, size_t n)
{
    if (n == 0)
        return CHAT_OK;
    uint8_t *w = chat__buf_reserve(b, a, n);
    if (w == NULL)
        return CHAT_E_NOMEM;
    memcpy(w, data, n);
    b->len += n;
    return CHAT_OK;
}

void chat__buf_consume(chat__buf *b, const chat_allocator *a, size_t n)
{
    if (n >= b->len) {
        chat__buf_free(b, a);
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

void chat__buf_free(chat__buf *b, const chat_allocator *a)
{
    if (b->p != NULL) {
        sodium_memzero(b->p, b->cap);
        chat__free(a, b->p);
    }
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}
