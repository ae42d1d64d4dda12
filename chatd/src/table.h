/* A small hash table for the event loop: 17-byte keys (a connection id,
 * or a peer address with its length), open addressing with linear probing
 * and backward-shift deletion, hashed with SipHash (crypto_shorthash) under
 * a random key, since peers choose their addresses. Each slot carries a
 * pointer and a counter for the caller. */
#ifndef CHATD_TABLE_H
#define CHATD_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define CHATD_TABLE_KEY 17

typedef struct chatd_slot {
    uint64_t h;
    void *ptr;
    uint32_t n;
    uint8_t used;
    uint8_t key[CHATD_TABLE_KEY];
} chatd_slot;

typedef struct chatd_table {
    chatd_slot *slot;
    size_t cap; /* a power of two, or 0 */
    size_t count;
    uint8_t hkey[16];
} chatd_table;

/* An empty table with a fresh random hash key. */
void chatd_table_init(chatd_table *t);
void chatd_table_free(chatd_table *t);

/* The slot holding key, or NULL. */
chatd_slot *chatd_table_find(const chatd_table *t, const uint8_t key[CHATD_TABLE_KEY]);

/* The slot for key, added empty (ptr NULL, n 0) if absent; NULL when out
 * of memory. Slot pointers are valid until the next insert or erase. */
chatd_slot *chatd_table_insert(chatd_table *t, const uint8_t key[CHATD_TABLE_KEY]);

/* Remove a slot returned by find or insert. */
void chatd_table_erase(chatd_table *t, chatd_slot *s);

#endif
