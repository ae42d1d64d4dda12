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

/* Objects found by a 64-bit id stored inside each of them (at a fixed
 * offset): one pointer per slot, open addressing with linear probing and
 * backward-shift deletion. The event loop finds its connections by hub id
 * with it: at 10,000 connections that is about 13 bytes each, where a
 * chatd_table slot (key copy, hash, counter) costs about 65. Ids are the
 * hub's (sequential, never reused), never chosen by a peer, so a
 * multiplicative hash is enough. */
typedef struct chatd_idmap {
    void **slot;
    size_t cap; /* a power of two, or 0 */
    size_t count;
    size_t off; /* offset of the uint64_t id in each object */
} chatd_idmap;

void chatd_idmap_init(chatd_idmap *m, size_t id_offset);
void chatd_idmap_free(chatd_idmap *m);
/* The object with this id, or NULL. */
void *chatd_idmap_find(const chatd_idmap *m, uint64_t id);
/* Add obj, whose id must not be in the map yet. 0, or -1 when out of memory. */
int chatd_idmap_insert(chatd_idmap *m, void *obj);
/* Remove obj (by identity); nothing if it is not there. */
void chatd_idmap_erase(chatd_idmap *m, const void *obj);

#endif
