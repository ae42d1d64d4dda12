/* Tests for store_mem.c: the in-memory account store behind chat_store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat/store.h"

/* An allocator that counts live blocks and can be told to fail. */
typedef struct counting {
    long live;
    long allocs;
    long fail_after; /* fail the allocation after this many; -1: never */
} counting;

static void *c_alloc(void *ctx, size_t n)
{
    counting *c = ctx;
    if (c->fail_after >= 0 && c->allocs >= c->fail_after)
        return NULL;
    void *p = malloc(n);
    if (p != NULL) {
        c->live++;
        c->allocs++;
    }
    return p;
}

static void *c_realloc(void *ctx, void *p, size_t n)
{
    counting *c = ctx;
    if (c->fail_after >= 0 && c->allocs >= c->fail_after)
        return NULL;
    void *q = realloc(p, n);
    if (q != NULL && p == NULL)
        c->live++;
    if (q != NULL)
        c->allocs++;
    return q;
}

static void c_free(void *ctx, void *p)
{
    counting *c = ctx;
    if (p != NULL)
        c->live--;
    free(p);
}

static chat_account account(const char *name, uint8_t role, uint8_t fill)
{
    chat_account a;
    memset(&a, 0, sizeof a);
    snprintf(a.name, sizeof a.name, "%s", name);
    a.role = role;
    memset(a.verifier.salt, fill, sizeof a.verifier.salt);
    a.verifier.opslimit = 2;
    a.verifier.memlimit_kib = 65536;
    memset(a.verifier.pk, fill ^ 0xff, sizeof a.verifier.pk);
    return a;
}

typedef struct setup {
    counting cnt;
    chat_allocator alloc;
    chat_store_mem *m;
    chat_store s;
} setup;

static int setup_store(void **state)
{
    setup *t = calloc(1, sizeof *t);
    if (t == NULL)
        return -1;
    t->cnt.fail_after = -1;
    t->alloc.alloc = c_alloc;
    t->alloc.realloc = c_realloc;
    t->alloc.free = c_free;
    t->alloc.ctx = &t->cnt;
    if (chat_store_mem_new(&t->m, &t->alloc) != CHAT_OK)
        return -1;
    t->s = chat_store_mem_store(t->m);
    *state = t;
    return 0;
}

static int teardown_store(void **state)
{
    setup *t = *state;
    chat_store_mem_free(t->m);
    /* everything went through the per-object allocator and came back */
    int ok = t->cnt.live == 0 && t->cnt.allocs > 0;
    free(t);
    return ok ? 0 : -1;
}

static void test_put_get(void **state)
{
    setup *t = *state;
    chat_store s = t->s;
    chat_account a = account("alice", CHAT_ROLE_ADMIN, 0x11), out;

    assert_int_equal(s.get(s.ctx, "alice", &out), CHAT_E_NOTFOUND);
    assert_int_equal(s.put(s.ctx, &a, 1), CHAT_OK);
    assert_int_equal(chat_store_mem_count(t->m), 1);
    memset(&out, 0, sizeof out);
    assert_int_equal(s.get(s.ctx, "alice", &out), CHAT_OK);
    assert_memory_equal(&out, &a, sizeof a);

    /* create of an existing name: EXISTS, nothing changed */
    chat_account a2 = account("alice", CHAT_ROLE_USER, 0x22);
    assert_int_equal(s.put(s.ctx, &a2, 1), CHAT_E_EXISTS);
    assert_int_equal(s.get(s.ctx, "alice", &out), CHAT_OK);
    assert_memory_equal(&out, &a, sizeof a);

    /* replace: new verifier and role */
    assert_int_equal(s.put(s.ctx, &a2, 0), CHAT_OK);
    assert_int_equal(s.get(s.ctx, "alice", &out), CHAT_OK);
    assert_memory_equal(&out, &a2, sizeof a2);
    assert_int_equal(chat_store_mem_count(t->m), 1);

    /* replace of an absent name: NOTFOUND, nothing created */
    chat_account b = account("bob", CHAT_ROLE_USER, 0x33);
    assert_int_equal(s.put(s.ctx, &b, 0), CHAT_E_NOTFOUND);
    assert_int_equal(s.get(s.ctx, "bob", &out), CHAT_E_NOTFOUND);
    assert_int_equal(chat_store_mem_count(t->m), 1);
}

static void test_names_case(void **state)
{
    setup *t = *state;
    chat_store s = t->s;
    chat_account a = account("Carol", CHAT_ROLE_USER, 0x44), out;
    /* stored folded, found under any case */
    assert_int_equal(s.put(s.ctx, &a, 1), CHAT_OK);
    assert_int_equal(s.get(s.ctx, "carol", &out), CHAT_OK);
    assert_string_equal(out.name, "carol");
    assert_int_equal(s.get(s.ctx, "CAROL", &out), CHAT_OK);
    chat_account a2 = account("carol", CHAT_ROLE_USER, 0x45);
    assert_int_equal(s.put(s.ctx, &a2, 1), CHAT_E_EXISTS);
    /* invalid names are never found and never stored */
    assert_int_equal(s.get(s.ctx, "", &out), CHAT_E_NOTFOUND);
    assert_int_equal(s.get(s.ctx, "9lives", &out), CHAT_E_NOTFOUND);
    assert_int_equal(s.get(s.ctx, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &out), CHAT_E_NOTFOUND);
    chat_account bad = account("no way", CHAT_ROLE_USER, 0);
    assert_int_not_equal(s.put(s.ctx, &bad, 1), CHAT_OK);
    assert_int_equal(chat_store_mem_count(t->m), 1);
}

static void test_del(void **state)
{
    setup *t = *state;
    chat_store s = t->s;
    chat_account out;
    const char *names[] = {"dave", "alice", "carol", "bob"};
    for (size_t i = 0; i < 4; i++) {
        chat_account a = account(names[i], CHAT_ROLE_USER, (uint8_t)i);
        assert_int_equal(s.put(s.ctx, &a, 1), CHAT_OK);
    }
    assert_int_equal(s.del(s.ctx, "eve"), CHAT_E_NOTFOUND);
    assert_int_equal(s.del(s.ctx, "Carol"), CHAT_OK);
    assert_int_equal(s.del(s.ctx, "carol"), CHAT_E_NOTFOUND);
    assert_int_equal(s.get(s.ctx, "carol", &out), CHAT_E_NOTFOUND);
    assert_int_equal(chat_store_mem_count(t->m), 3);
    assert_int_equal(s.get(s.ctx, "dave", &out), CHAT_OK);
    assert_int_equal(out.verifier.salt[0], 0);
    assert_int_equal(s.get(s.ctx, "bob", &out), CHAT_OK);
    assert_int_equal(out.verifier.salt[0], 3);
    /* the last and the first */
    assert_int_equal(s.del(s.ctx, "dave"), CHAT_OK);
    assert_int_equal(s.del(s.ctx, "alice"), CHAT_OK);
    assert_int_equal(chat_store_mem_count(t->m), 1);
    assert_int_equal(s.del(s.ctx, "bob"), CHAT_OK);
    assert_int_equal(chat_store_mem_count(t->m), 0);
    /* re-create after delete */
    chat_account a = account("alice", CHAT_ROLE_ADMIN, 9);
    assert_int_equal(s.put(s.ctx, &a, 1), CHAT_OK);
    assert_int_equal(s.get(s.ctx, "alice", &out), CHAT_OK);
    assert_int_equal(out.role, CHAT_ROLE_ADMIN);
}

typedef struct collect {
    char names[400][CHAT_NAME_MAX + 1];
    size_t n;
    size_t stop_at; /* stop after visiting this many; 0: never */
} collect;

static int visit(void *arg, const chat_account *a)
{
    collect *c = arg;
    assert_true(c->n < 400);
    memcpy(c->names[c->n], a->name, sizeof a->name);
    c->n++;
    return c->stop_at != 0 && c->n >= c->stop_at;
}

static void test_list_order_and_stop(void **state)
{
    setup *t = *state;
    chat_store s = t->s;
    const char *names[] = {"mallory", "Alice", "bob", "a", "zed", "a.b", "a-b", "a_b", "ab"};
    size_t k = sizeof names / sizeof names[0];
    for (size_t i = 0; i < k; i++) {
        chat_account a = account(names[i], CHAT_ROLE_USER, (uint8_t)i);
        assert_int_equal(s.put(s.ctx, &a, 1), CHAT_OK);
    }
    static collect c;
    memset(&c, 0, sizeof c);
    assert_int_equal(s.list(s.ctx, visit, &c), CHAT_OK);
    assert_int_equal(c.n, k);
    /* byte order of the folded names */
    const char *want[] = {"a", "a-b", "a.b", "a_b", "ab", "alice", "bob", "mallory", "zed"};
    for (size_t i = 0; i < k; i++)
        assert_string_equal(c.names[i], want[i]);

    /* early stop */
    memset(&c, 0, sizeof c);
    c.stop_at = 3;
    assert_int_equal(s.list(s.ctx, visit, &c), CHAT_OK);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.names[2], "a.b");

    /* an empty store visits nothing */
    for (size_t i = 0; i < k; i++)
        assert_int_equal(s.del(s.ctx, want[i]), CHAT_OK);
    memset(&c, 0, sizeof c);
    assert_int_equal(s.list(s.ctx, visit, &c), CHAT_OK);
    assert_int_equal(c.n, 0);
}

static void test_many(void **state)
{
    setup *t = *state;
    chat_store s = t->s;
    const size_t n = 300;
    /* insert in a scrambled order: i * 7 mod 300 (7 is coprime to 300) */
    for (size_t i = 0; i < n; i++) {
        size_t j = (i * 7) % n;
        char name[32];
        snprintf(name, sizeof name, "u%03zu", j);
        chat_account a = account(name, (uint8_t)(j & 1), (uint8_t)j);
        assert_int_equal(s.put(s.ctx, &a, 1), CHAT_OK);
    }
    assert_int_equal(chat_store_mem_count(t->m), n);
    for (size_t j = 0; j < n; j++) {
        char name[32];
        snprintf(name, sizeof name, "U%03zu", j);
        chat_account out;
        assert_int_equal(s.get(s.ctx, name, &out), CHAT_OK);
        assert_int_equal(out.role, j & 1);
        assert_int_equal(out.verifier.salt[5], (uint8_t)j);
    }
    static collect c;
    memset(&c, 0, sizeof c);
    assert_int_equal(s.list(s.ctx, visit, &c), CHAT_OK);
    assert_int_equal(c.n, n);
    for (size_t j = 0; j < n; j++) {
        char name[32];
        snprintf(name, sizeof name, "u%03zu", j);
        assert_string_equal(c.names[j], name);
    }
    /* delete the even ones */
    for (size_t j = 0; j < n; j += 2) {
        char name[32];
        snprintf(name, sizeof name, "u%03zu", j);
        assert_int_equal(s.del(s.ctx, name), CHAT_OK);
    }
    assert_int_equal(chat_store_mem_count(t->m), n / 2);
    memset(&c, 0, sizeof c);
    assert_int_equal(s.list(s.ctx, visit, &c), CHAT_OK);
    assert_int_equal(c.n, n / 2);
    for (size_t i = 0; i < n / 2; i++) {
        char name[32];
        snprintf(name, sizeof name, "u%03zu", 2 * i + 1);
        assert_string_equal(c.names[i], name);
    }
}

static void test_alloc_failure(void **state)
{
    setup *t = *state;
    chat_store s = t->s;
    /* fill the first block, then make growth fail */
    size_t i = 0;
    for (;; i++) {
        char name[32];
        snprintf(name, sizeof name, "n%03zu", i);
        chat_account a = account(name, 0, 1);
        long before = t->cnt.allocs;
        assert_int_equal(s.put(s.ctx, &a, 1), CHAT_OK);
        if (t->cnt.allocs != before && i > 0)
            break; /* that put grew the array */
    }
    /* the next growth is far away; fill up to it with allocation disabled
     * until one put fails with CHAT_E_STORE */
    t->cnt.fail_after = t->cnt.allocs;
    int failed = 0;
    for (i = i + 1; i < 1000; i++) {
        char name[32];
        snprintf(name, sizeof name, "n%03zu", i);
        chat_account a = account(name, 0, 1);
        int rc = s.put(s.ctx, &a, 1);
        if (rc != CHAT_OK) {
            assert_int_equal(rc, CHAT_E_STORE);
            chat_account out;
            assert_int_equal(s.get(s.ctx, name, &out), CHAT_E_NOTFOUND);
            failed = 1;
            break;
        }
    }
    assert_true(failed);
    size_t count = chat_store_mem_count(t->m);
    assert_int_equal(count, i);
    /* everything stored before is intact */
    chat_account out;
    assert_int_equal(s.get(s.ctx, "n000", &out), CHAT_OK);
    t->cnt.fail_after = -1;
    char name[32];
    snprintf(name, sizeof name, "n%03zu", i);
    chat_account a = account(name, 0, 1);
    assert_int_equal(s.put(s.ctx, &a, 1), CHAT_OK);
}

static void test_new_failure_and_default_alloc(void **state)
{
    (void)state;
    counting cnt = {0, 0, 0};
    chat_allocator al = {c_alloc, c_realloc, c_free, &cnt};
    chat_store_mem *m = (chat_store_mem *)&cnt; /* overwritten with NULL */
    assert_int_equal(chat_store_mem_new(&m, &al), CHAT_E_NOMEM);
    assert_null(m);

    /* NULL allocator: malloc */
    assert_int_equal(chat_store_mem_new(&m, NULL), CHAT_OK);
    chat_store s = chat_store_mem_store(m);
    chat_account a = account("zoe", 0, 7), out;
    assert_int_equal(s.put(s.ctx, &a, 1), CHAT_OK);
    assert_int_equal(s.get(s.ctx, "zoe", &out), CHAT_OK);
    assert_int_equal(chat_store_mem_count(m), 1);
    assert_int_equal(chat_store_mem_count(NULL), 0);
    chat_store_mem_free(m);
    chat_store_mem_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_names_case, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_del, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_list_order_and_stop, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_many, setup_store, teardown_store),
        cmocka_unit_test_setup_teardown(test_alloc_failure, setup_store, teardown_store),
        cmocka_unit_test(test_new_failure_and_default_alloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
