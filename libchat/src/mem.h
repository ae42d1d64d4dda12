/* Private: allocation through the per-object chat_allocator, and a growable
 * byte buffer. Shared by every libchat object that allocates. */
#ifndef CHAT_MEM_H
#define CHAT_MEM_H

#include "chat/common.h"

void *chat__alloc(const chat_allocator *a, size_t n);
void *chat__calloc(const chat_allocator *a, size_t n);
void *chat__realloc(const chat_allocator *a, void *p, size_t n);
void chat__free(const chat_allocator *a, void *p);
/* 1 if a is usable: all three functions NULL (malloc) or all three set.
 * A partial set would mix allocators (free() on custom memory). */
int chat__alloc_ok(const chat_allocator *a);

/* A byte buffer: p[0..len) holds data, capacity cap. An empty buffer holds
 * no memory (p == NULL), so idle objects cost nothing. */
typedef struct chat__buf {
    uint8_t *p;
    size_t len;
    size_t cap;
} chat__buf;

/* Make room for n more bytes; returns a pointer to write them at, or NULL
 * on allocation failure. The caller then adds n to len. */
uint8_t *chat__buf_reserve(chat__buf *b, const chat_allocator *a, size_t n);
/* Append n bytes. CHAT_OK or CHAT_E_NOMEM. */
int chat__buf_append(chat__buf *b, const chat_allocator *a, const void *data, size_t n);
/* Drop the first n bytes; frees the memory when the buffer becomes empty. */
void chat__buf_consume(chat__buf *b, const chat_allocator *a, size_t n);
/* Wipe (sodium_memzero) and free. */
void chat__buf_free(chat__buf *b, const chat_allocator *a);

#endif
