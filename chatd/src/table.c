/* The event loop's hash table (see table.h). */
#include "table.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

_Static_assert(sizeof(((chatd_table *)0)->hkey) == crypto_shorthash_KEYBYTES, "SipHash key size");

void chatd_table_init(chatd_table *t)
{
    memset(t, 0, sizeof *t);
    randombytes_buf(t->hkey, sizeof t->hkey);
}

void chatd_table_free(chatd_table *t)
{
    free(t->slot);
    sodium_memzero(t, sizeof *t);
}

static uint64_t hash(const chatd_table *t, const uint8_t key[CHATD_TABLE_KEY])
{
    uint8_t out[crypto_shorthash_BYTES];
    crypto_shorthash(out, key, CHATD_TABLE_KEY, t->hkey);
    uint64_t h;
    memcpy(&h, out, sizeof h);
    return h;
}

chatd_slot *chatd_table_find(const chatd_table *t, const uint8_t key[CHATD_TABLE_KEY])
{
    if (t->cap == 0)
        return NULL;
    uint64_t h = hash(t, key);
    for (size_t i = (size_t)h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        chatd_slot *s = &t->slot[i];
        if (!s->used)
            return NULL;
        if (s->h == h && memcmp(s->key, key, CHATD_TABLE_KEY) == 0)
            return s;
    }
}

static size_t place(chatd_slot *slots, size_t cap, const chatd_slot *src)
{
    size_t i = (size_t)src->h & (cap - 1);
    while (slots[i].used)
        i = (i + 1) & (cap - 1);
    slots[i] = *src;
    return i;
}

chatd_slot *chatd_table_insert(chatd_table *t, const uint8_t key[CHATD_TABLE_KEY])
{
    chatd_slot *found = chatd_table_find(t, key);
    if (found != NULL)
        return found;
    /* Grow past a load of 3/4. */
    if (t->cap == 0 || (t->count + 1) * 4 > t->cap * 3) {
        size_t ncap = t->cap != 0 ? t->cap * 2 : 64;
        chatd_slot *ns = calloc(ncap, sizeof *ns);
        if (ns == NULL)
            return NULL;
        for (size_t i = 0; i < t->cap; i++)
            if (t->slot[i].used)
                (void)place(ns, ncap, &t->slot[i]);
        free(t->slot);
        t->slot = ns;
        t->cap = ncap;
    }
    chatd_slot fresh;
    memset(&fresh, 0, sizeof fresh);
    fresh.used = 1;
    fresh.h = hash(t, key);
    memcpy(fresh.key, key, CHATD_TABLE_KEY);
    t->count++;
    return &t->slot[place(t->slot, t->cap, &fresh)];
}

void chatd_table_erase(chatd_table *t, chatd_slot *s)
{
    size_t mask = t->cap - 1;
    size_t i = (size_t)(s - t->slot);
    /* Backward-shift deletion: move later entries of the run back into the
     * hole unless that would put them before their home slot. */
    for (size_t j = (i + 1) & mask; t->slot[j].used; j = (j + 1) & mask) {
        size_t home = (size_t)t->slot[j].h & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->slot[i] = t->slot[j];
            i = j;
        }
    }
    memset(&t->slot[i], 0, sizeof t->slot[i]);
    t->count--;
}
