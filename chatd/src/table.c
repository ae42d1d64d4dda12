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

/* ---------------------------------------------------------------------
 * chatd_idmap
 * ------------------------------------------------------------------- */

void chatd_idmap_init(chatd_idmap *m, size_t id_offset)
{
    memset(m, 0, sizeof *m);
    m->off = id_offset;
}

void chatd_idmap_free(chatd_idmap *m)
{
    free(m->slot);
    m->slot = NULL;
    m->cap = m->count = 0;
}

static uint64_t idmap_id(const chatd_idmap *m, const void *obj)
{
    uint64_t id;
    memcpy(&id, (const uint8_t *)obj + m->off, sizeof id);
    return id;
}

/* The 64-bit finaliser of MurmurHash3: sequential ids spread over the
 * whole table. */
static size_t idmap_home(const chatd_idmap *m, uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return (size_t)x & (m->cap - 1);
}

void *chatd_idmap_find(const chatd_idmap *m, uint64_t id)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = idmap_home(m, id);; i = (i + 1) & (m->cap - 1)) {
        void *o = m->slot[i];
        if (o == NULL || idmap_id(m, o) == id)
            return o;
    }
}

static int idmap_resize(chatd_idmap *m, size_t ncap)
{
    void **ns = calloc(ncap, sizeof *ns);
    if (ns == NULL)
        return -1;
    void **old = m->slot;
    size_t ocap = m->cap;
    m->slot = ns;
    m->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i] == NULL)
            continue;
        size_t j = idmap_home(m, idmap_id(m, old[i]));
        while (ns[j] != NULL)
            j = (j + 1) & (ncap - 1);
        ns[j] = old[i];
    }
    free(old);
    return 0;
}

int chatd_idmap_insert(chatd_idmap *m, void *obj)
{
    /* Grow past a load of 3/4. */
    if (m->cap == 0 || (m->count + 1) * 4 > m->cap * 3) {
        if (idmap_resize(m, m->cap != 0 ? m->cap * 2 : 64) != 0)
            return -1;
    }
    size_t i = idmap_home(m, idmap_id(m, obj));
    while (m->slot[i] != NULL)
        i = (i + 1) & (m->cap - 1);
    m->slot[i] = obj;
    m->count++;
    return 0;
}

void chatd_idmap_erase(chatd_idmap *m, const void *obj)
{
    if (m->cap == 0)
        return;
    size_t mask = m->cap - 1;
    size_t i = idmap_home(m, idmap_id(m, obj));
    while (m->slot[i] != obj) {
        if (m->slot[i] == NULL)
            return;
        i = (i + 1) & mask;
    }
    /* Backward-shift deletion, as in chatd_table_erase. */
    for (size_t j = (i + 1) & mask; m->slot[j] != NULL; j = (j + 1) & mask) {
        size_t home = idmap_home(m, idmap_id(m, m->slot[j]));
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slot[i] = m->slot[j];
            i = j;
        }
    }
    m->slot[i] = NULL;
    m->count--;
    /* Shrink below a load of 1/8, so a past peak of connections does not
     * keep its table; a failure just leaves the table big. */
    if (m->cap > 64 && m->count < m->cap / 8)
        (void)idmap_resize(m, m->cap / 2);
}
