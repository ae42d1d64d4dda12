/* Account store interface: a small vtable the hub calls to read and write
 * accounts. chatd implements it with SQLite; libchat ships an in-memory
 * implementation for tests and embedders.
 *
 * Names passed in and out are folded (lower case, see chat_name_fold). */
#ifndef CHAT_STORE_H
#define CHAT_STORE_H

#include "chat/codec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct chat_account {
    char name[CHAT_NAME_MAX + 1]; /* folded, NUL-terminated */
    uint8_t role;                 /* chat_role */
    chat_verifier verifier;
} chat_account;

/* Called for each account by list(); return non-zero to stop early. */
typedef int (*chat_store_visit_fn)(void *arg, const chat_account *account);

/* The vtable is held by value (not as a pointer to a static table) so an
 * implementation needs no relocated constant data: libchat keeps none. */
typedef struct chat_store {
    /* CHAT_OK and *out filled, CHAT_E_NOTFOUND, or CHAT_E_STORE. */
    int (*get)(void *ctx, const char *name, chat_account *out);
    /* create != 0: insert, CHAT_E_EXISTS if present. create == 0: replace
     * an existing account, CHAT_E_NOTFOUND if absent. CHAT_E_STORE on
     * failure. Atomic. */
    int (*put)(void *ctx, const chat_account *account, int create);
    /* CHAT_OK, CHAT_E_NOTFOUND, CHAT_E_STORE. Atomic. */
    int (*del)(void *ctx, const char *name);
    /* Visit every account in name order. CHAT_OK or CHAT_E_STORE. */
    int (*list)(void *ctx, chat_store_visit_fn fn, void *arg);
    void *ctx;
} chat_store;

/* In-memory store. */
typedef struct chat_store_mem chat_store_mem;
CHAT_MUST_CHECK int chat_store_mem_new(chat_store_mem **out, const chat_allocator *alloc);
void chat_store_mem_free(chat_store_mem *m);      /* wipes verifiers */
chat_store chat_store_mem_store(chat_store_mem *m); /* the vtable view */
size_t chat_store_mem_count(const chat_store_mem *m);

#ifdef __cplusplus
}
#endif
#endif
