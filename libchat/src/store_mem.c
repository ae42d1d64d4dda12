/* In-memory account store: a sorted array of accounts, binary-searched by
 * folded name. Memory comes from the per-object allocator; account data is
 * wiped whenever it is dropped or moved out of a freed block. */
#include "chat/store.h"

#include <string.h>

#include <sodium.h>

#include "mem.h"

struct chat_store_mem {
    chat_allocator alloc;
    chat_account *v; /* v[0..n) sorted by name */
    size_t n;
    size_t cap;
};


/* Index of key, or of the slot where it would be inserted; *found says
 * which. */
static size_t find(const chat_store_mem *m, const char *key, int *found)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->v[mid].name, key);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

/* Grow to hold one more account. The old block is wiped before it is
 * freed (so no realloc, which could leave verifiers behind). */
static int grow(chat_store_mem *m)
{
    if (m->n < m->cap)
        return CHAT_OK;
    size_t cap = m->cap ? m->cap * 2 : 16;
    if (cap > SIZE_MAX / sizeof(chat_account))
        return CHAT_E_STORE;
    chat_account *v = chat__alloc(&m->alloc, cap * sizeof(chat_account));
    if (v == NULL)
        return CHAT_E_STORE;
    if (m->v != NULL) {
        memcpy(v, m->v, m->n * sizeof(chat_account));
        sodium_memzero(m->v, m->cap * sizeof(chat_account));
        chat__free(&m->alloc, m->v);
    }
    m->v = v;
    m->cap = cap;
    return CHAT_OK;
}

static int mem_get(void *ctx, const char *name, chat_account *out)
{
    chat_store_mem *m = ctx;
    char key[CHAT_NAME_MAX + 1];
    if (m == NULL || out == NULL)
        return CHAT_E_STORE;
    if (!chat_name_key(key, name))
        return CHAT_E_NOTFOUND;
    int found;
    size_t i = find(m, key, &found);
    if (!found)
        return CHAT_E_NOTFOUND;
    *out = m->v[i];
    return CHAT_OK;
}

static int mem_put(void *ctx, const chat_account *account, int create)
{
    chat_store_mem *m = ctx;
    char key[CHAT_NAME_MAX + 1];
    if (m == NULL || account == NULL)
        return CHAT_E_STORE;
    /* The name must be NUL-terminated inside its array. */
    if (memchr(account->name, '\0', sizeof account->name) == NULL ||
        !chat_name_key(key, account->name))
        return CHAT_E_INVAL;
    int found;
    size_t i = find(m, key, &found);
    if (create && found)
        return CHAT_E_EXISTS;
    if (!create && !found)
        return CHAT_E_NOTFOUND;

    chat_account a = *account;
    memset(a.name, 0, sizeof a.name);
    memcpy(a.name, key, strlen(key));
    if (found) {
        m->v[i] = a;
    } else {
        if (grow(m) != CHAT_OK) {
            sodium_memzero(&a, sizeof a);
            return CHAT_E_STORE;
        }
        memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof(chat_account));
        m->v[i] = a;
        m->n++;
    }
    sodium_memzero(&a, sizeof a);
    return CHAT_OK;
}

static int mem_del(void *ctx, const char *name)
{
    chat_store_mem *m = ctx;
    char key[CHAT_NAME_MAX + 1];
    if (m == NULL)
        return CHAT_E_STORE;
    if (!chat_name_key(key, name))
        return CHAT_E_NOTFOUND;
    int found;
    size_t i = find(m, key, &found);
    if (!found)
        return CHAT_E_NOTFOUND;
    memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof(chat_account));
    m->n--;
    sodium_memzero(&m->v[m->n], sizeof(chat_account));
    return CHAT_OK;
}

static int mem_list(void *ctx, chat_store_visit_fn fn, void *arg)
{
    chat_store_mem *m = ctx;
    if (m == NULL || fn == NULL)
        return CHAT_E_STORE;
    /* Visit a copy, so a visitor may change the store without invalidating
     * what it is looking at; the index keeps the walk bounded. */
    for (size_t i = 0; i < m->n; i++) {
        chat_account a = m->v[i];
        int stop = fn(arg, &a);
        sodium_memzero(&a, sizeof a);
        if (stop)
            break;
    }
    return CHAT_OK;
}

int chat_store_mem_new(chat_store_mem **out, const chat_allocator *alloc)
{
    if (out == NULL)
        return CHAT_E_INVAL;
    *out = NULL;
    chat_allocator a;
    if (alloc != NULL && !chat__alloc_ok(alloc))
        return CHAT_E_INVAL;
    if (alloc != NULL)
        a = *alloc;
    else
        memset(&a, 0, sizeof a);
    chat_store_mem *m = chat__calloc(&a, sizeof *m);
    if (m == NULL)
        return CHAT_E_NOMEM;
    m->alloc = a;
    *out = m;
    return CHAT_OK;
}

void chat_store_mem_free(chat_store_mem *m)
{
    if (m == NULL)
        return;
    chat_allocator a = m->alloc;
    if (m->v != NULL) {
        sodium_memzero(m->v, m->cap * sizeof(chat_account));
        chat__free(&a, m->v);
    }
    sodium_memzero(m, sizeof *m);
    chat__free(&a, m);
}

chat_store chat_store_mem_store(chat_store_mem *m)
{
    chat_store s;
    s.get = mem_get;
    s.put = mem_put;
    s.del = mem_del;
    s.list = mem_list;
    s.ctx = m;
    return s;
}

size_t chat_store_mem_count(const chat_store_mem *m)
{
    return m != NULL ? m->n : 0;
}
