/* Tests for chatd's SQLite account store: persistence, every error code,
 * list order, file modes, a second connection (the offline admin tool)
 * next to the server's, schema versioning, corruption, and crashes in the
 * middle of writes (a child process killed with SIGKILL).
 *
 * The test binary doubles as its own helper process: run with --writer or
 * --hold-lock it acts as the other process of a multi-process test (a
 * fresh exec, so no SQLite state is inherited across fork). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include "store_sqlite.h"
#include "testutil.h"

static char self_exe[4096];

typedef struct fixture {
    char dir[64];
    char db[128];
    char err[1024];
    mode_t old_umask;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL || tu_mkdtemp(f->dir, sizeof f->dir, "store-test") != 0) {
        free(f);
        return -1;
    }
    snprintf(f->db, sizeof f->db, "%s/chatd.db", f->dir);
    f->old_umask = umask(022);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    umask(f->old_umask);
    int rc = tu_rm_rf(f->dir);
    free(f);
    return rc;
}

/* ---- Helpers ----------------------------------------------------------- */

/* The deterministic account number i: "u000042", fields derived from the
 * name, so a reader can tell a complete row from a torn one. */
static void make_account(chat_account *a, unsigned i)
{
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "u%06u", i);
    uint8_t h[CHAT_SALT_LEN + CHAT_PK_LEN];
    crypto_generichash(h, sizeof h, (const uint8_t *)a->name, strlen(a->name), NULL, 0);
    memcpy(a->verifier.salt, h, CHAT_SALT_LEN);
    memcpy(a->verifier.pk, h + CHAT_SALT_LEN, CHAT_PK_LEN);
    a->role = i % 3 == 0 ? CHAT_ROLE_ADMIN : CHAT_ROLE_USER;
    a->verifier.opslimit = i + 1;
    a->verifier.memlimit_kib = 8 + 2 * i;
}

static void assert_account_equal(const chat_account *a, const chat_account *b)
{
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->role, b->role);
    assert_memory_equal(a->verifier.salt, b->verifier.salt, CHAT_SALT_LEN);
    assert_int_equal(a->verifier.opslimit, b->verifier.opslimit);
    assert_int_equal(a->verifier.memlimit_kib, b->verifier.memlimit_kib);
    assert_memory_equal(a->verifier.pk, b->verifier.pk, CHAT_PK_LEN);
}

static chatd_store *open_ok(fixture *f)
{
    chatd_store *s = NULL;
    int rc = chatd_store_open(&s, f->db, f->err, sizeof f->err);
    if (rc != CHAT_OK)
        fail_msg("open %s: %s", f->db, f->err);
    assert_non_null(s);
    return s;
}

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        char copy[256];
        snprintf(copy, sizeof copy, "%s", msg ? msg : "?");
        sqlite3_free(msg);
        fail_msg("%s: %s", sql, copy);
    }
}

/* The single integer a query returns. */
static long long raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Start this binary as a helper: argv = self mode db fd [extra]. The
 * helper writes one byte to fd when ready. Returns its pid; *ready_fd is
 * the read end. */
static pid_t spawn_helper(const char *mode, const char *db, const char *extra, int *ready_fd)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Die with the test: a failed assertion or a ctest timeout must
         * not leave a server running. */
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(p[0]);
        char fd[16];
        snprintf(fd, sizeof fd, "%d", p[1]);
        execl(self_exe, self_exe, mode, db, fd, extra, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    *ready_fd = p[0];
    return pid;
}

/* Wait up to ms for the helper's ready byte. 1 if it came. */
static int wait_ready(int fd, int ms)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, ms) != 1)
        return 0;
    char c;
    return read(fd, &c, 1) == 1;
}

/* ---- Helper processes -------------------------------------------------- */

/* --writer DB FD: insert accounts u<count>, u<count+1>, ... until killed. */
static int helper_writer(const char *db, int fd)
{
    chatd_store *s = NULL;
    char err[1024];
    if (chatd_store_open(&s, db, err, sizeof err) != CHAT_OK) {
        fprintf(stderr, "writer: %s\n", err);
        return 2;
    }
    size_t start;
    if (chatd_store_count_accounts(s, &start) != CHAT_OK)
        return 3;
    if (write(fd, "R", 1) != 1)
        return 4;
    chat_store v = chatd_store_vtable(s);
    uint64_t t0 = now_ms();
    for (unsigned i = (unsigned)start; now_ms() - t0 < 30000; i++) {
        chat_account a;
        make_account(&a, i);
        int rc = v.put(v.ctx, &a, 1);
        if (rc != CHAT_OK) {
            fprintf(stderr, "writer: put %s: %d %s\n", a.name, rc, chatd_store_last_error(s));
            chatd_store_close(s);
            return 5;
        }
    }
    chatd_store_close(s);
    return 0;
}

/* --hold-lock DB FD MS: hold the write lock for MS milliseconds. */
static int helper_hold_lock(const char *db, int fd, unsigned ms)
{
    sqlite3 *h = NULL;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        return 2;
    if (sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return 3;
    if (write(fd, "R", 1) != 1)
        return 4;
    sleep_ms(ms);
    int rc = sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(h);
    return rc == SQLITE_OK ? 0 : 5;
}

/* ---- Tests ------------------------------------------------------------- */

static void test_create_and_reopen(void **state)
{
    fixture *f = *state;
    chatd_store *s = open_ok(f);
    size_t n = 99;
    assert_int_equal(chatd_store_count_accounts(s, &n), CHAT_OK);
    assert_int_equal(n, 0);
    assert_string_equal(chatd_store_last_error(s), "");
    chat_store v = chatd_store_vtable(s);
    assert_ptr_equal(v.ctx, s);
    for (unsigned i = 0; i < 5; i++) {
        chat_account a;
        make_account(&a, i);
        assert_int_equal(v.put(v.ctx, &a, 1), CHAT_OK);
    }
    chatd_store_close(s);

    /* A restart keeps the users. */
    s = open_ok(f);
    v = chatd_store_vtable(s);
    assert_int_equal(chatd_store_count_accounts(s, &n), CHAT_OK);
    assert_int_equal(n, 5);
    assert_int_equal(chatd_store_count_admins(s, &n), CHAT_OK);
    assert_int_equal(n, 2); /* u000000 and u000003 */
    for (unsigned i = 0; i < 5; i++) {
        chat_account want, got;
        make_account(&want, i);
        memset(&got, 0xee, sizeof got);
        assert_int_equal(v.get(v.ctx, want.name, &got), CHAT_OK);
        assert_account_equal(&got, &want);
    }
    chatd_store_close(s);
    chatd_store_close(NULL);
}

static void test_error_codes(void **state)
{
    fixture *f = *state;
    chatd_store *s = open_ok(f);
    chat_store v = chatd_store_vtable(s);
    chat_account a, b, got;
    make_account(&a, 1);
    make_account(&b, 2);

    assert_int_equal(v.get(v.ctx, "nobody", &got), CHAT_E_NOTFOUND);
    assert_int_equal(v.del(v.ctx, "nobody"), CHAT_E_NOTFOUND);
    assert_int_equal(v.put(v.ctx, &a, 0), CHAT_E_NOTFOUND); /* replace a missing one */
    assert_int_equal(v.put(v.ctx, &a, 1), CHAT_OK);
    assert_int_equal(v.put(v.ctx, &a, 1), CHAT_E_EXISTS);

    /* Replace: new verifier and role, same name. */
    chat_account c = b;
    memcpy(c.name, a.name, sizeof c.name);
    c.role = CHAT_ROLE_ADMIN;
    assert_int_equal(v.put(v.ctx, &c, 0), CHAT_OK);
    assert_int_equal(v.get(v.ctx, a.name, &got), CHAT_OK);
    assert_account_equal(&got, &c);

    /* Names are folded: any case finds the account, and clashes. */
    chat_account upper;
    make_account(&upper, 7);
    strcpy(upper.name, "Alice.Smith-2_x");
    assert_int_equal(v.put(v.ctx, &upper, 1), CHAT_OK);
    assert_int_equal(v.get(v.ctx, "ALICE.SMITH-2_X", &got), CHAT_OK);
    assert_string_equal(got.name, "alice.smith-2_x");
    strcpy(upper.name, "alice.SMITH-2_x");
    assert_int_equal(v.put(v.ctx, &upper, 1), CHAT_E_EXISTS);
    assert_int_equal(v.put(v.ctx, &upper, 0), CHAT_OK);
    assert_int_equal(v.del(v.ctx, "Alice.Smith-2_X"), CHAT_OK);
    assert_int_equal(v.get(v.ctx, "alice.smith-2_x", &got), CHAT_E_NOTFOUND);

    /* Invalid names and roles. */
    static const char *const bad[] = {"", "1abc", "a b", "bob!", "-x", "#room",
                                      "abcdefghijklmnopqrstuvwxyz0123456"}; /* 33 */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        chat_account x;
        make_account(&x, 9);
        memset(x.name, 0, sizeof x.name);
        memcpy(x.name, bad[i], strlen(bad[i]) < CHAT_NAME_MAX ? strlen(bad[i]) : CHAT_NAME_MAX);
        if (strlen(bad[i]) > CHAT_NAME_MAX) {
            /* 33 characters cannot be stored with a NUL: fill it all. */
            memcpy(x.name, bad[i], sizeof x.name);
        }
        assert_int_equal(v.put(v.ctx, &x, 1), CHAT_E_INVAL);
        assert_int_equal(v.get(v.ctx, bad[i], &got), CHAT_E_NOTFOUND);
        assert_int_equal(v.del(v.ctx, bad[i]), CHAT_E_NOTFOUND);
    }
    assert_int_equal(v.get(v.ctx, NULL, &got), CHAT_E_NOTFOUND);
    chat_account r;
    make_account(&r, 10);
    r.role = 2;
    assert_int_equal(v.put(v.ctx, &r, 1), CHAT_E_INVAL);
    assert_int_equal(v.put(v.ctx, NULL, 1), CHAT_E_STORE);
    assert_int_equal(v.get(v.ctx, "u000001", NULL), CHAT_E_STORE);
    assert_int_equal(v.list(v.ctx, NULL, NULL), CHAT_E_STORE);

    /* A 32-character name is fine. */
    make_account(&r, 11);
    strcpy(r.name, "abcdefghijklmnopqrstuvwxyz012345");
    assert_int_equal(v.put(v.ctx, &r, 1), CHAT_OK);
    assert_int_equal(v.get(v.ctx, r.name, &got), CHAT_OK);
    assert_int_equal(v.del(v.ctx, r.name), CHAT_OK);

    assert_int_equal(v.del(v.ctx, a.name), CHAT_OK);
    assert_int_equal(v.del(v.ctx, a.name), CHAT_E_NOTFOUND);
    size_t n;
    assert_int_equal(chatd_store_count_accounts(s, &n), CHAT_OK);
    assert_int_equal(n, 0);
    chatd_store_close(s);
}

static void test_replace_keeps_created_at(void **state)
{
    fixture *f = *state;
    chatd_store *s = open_ok(f);
    chat_store v = chatd_store_vtable(s);
    chat_account a;
    make_account(&a, 1);
    assert_int_equal(v.put(v.ctx, &a, 1), CHAT_OK);
    sqlite3 *db = raw_open(f->db);
    long long t = raw_int(db, "SELECT created_at FROM accounts WHERE name = 'u000001'");
    long long now = (long long)time(NULL);
    assert_true(t > 1600000000LL && t <= now);
    raw_exec(db, "UPDATE accounts SET created_at = 12345 WHERE name = 'u000001'");
    a.verifier.opslimit = 77;
    assert_int_equal(v.put(v.ctx, &a, 0), CHAT_OK);
    assert_int_equal(raw_int(db, "SELECT created_at FROM accounts WHERE name = 'u000001'"),
                     12345);
    assert_int_equal(raw_int(db, "SELECT opslimit FROM accounts WHERE name = 'u000001'"), 77);
    sqlite3_close(db);
    chatd_store_close(s);
}

typedef struct visit {
    chat_store v;
    char names[300][CHAT_NAME_MAX + 1];
    size_t n;
    size_t stop_after; /* 0 = never */
    int delete_each;
    int bad;
} visit;

static int visitor(void *arg, const chat_account *a)
{
    visit *w = arg;
    if (w->n < 300)
        strcpy(w->names[w->n], a->name);
    unsigned i;
    chat_account want;
    if (sscanf(a->name, "u%6u", &i) == 1) {
        make_account(&want, i);
        if (want.role != a->role || memcmp(&want.verifier, &a->verifier, sizeof want.verifier))
            w->bad++;
    }
    w->n++;
    if (w->delete_each && w->v.del(w->v.ctx, a->name) != CHAT_OK)
        w->bad++;
    return w->stop_after != 0 && w->n >= w->stop_after;
}

static void test_list_order(void **state)
{
    fixture *f = *state;
    chatd_store *s = open_ok(f);
    chat_store v = chatd_store_vtable(s);
    visit *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->v = v;

    assert_int_equal(v.list(v.ctx, visitor, w), CHAT_OK);
    assert_int_equal(w->n, 0);

    /* 150 accounts (more than one internal page), inserted in a shuffled
     * order. */
    enum { N = 150 };
    unsigned order[N];
    for (unsigned i = 0; i < N; i++)
        order[i] = i;
    for (unsigned i = N - 1; i > 0; i--) {
        unsigned j = randombytes_uniform(i + 1);
        unsigned t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (unsigned i = 0; i < N; i++) {
        chat_account a;
        make_account(&a, order[i]);
        assert_int_equal(v.put(v.ctx, &a, 1), CHAT_OK);
    }
    /* And two names that sort differently in other collations. */
    chat_account x;
    make_account(&x, 1000);
    strcpy(x.name, "Zed");
    assert_int_equal(v.put(v.ctx, &x, 1), CHAT_OK);
    strcpy(x.name, "a.b");
    assert_int_equal(v.put(v.ctx, &x, 1), CHAT_OK);

    assert_int_equal(v.list(v.ctx, visitor, w), CHAT_OK);
    assert_int_equal(w->n, N + 2);
    assert_int_equal(w->bad, 0);
    assert_string_equal(w->names[0], "a.b");
    for (unsigned i = 0; i < N; i++) {
        char want[16];
        snprintf(want, sizeof want, "u%06u", i);
        assert_string_equal(w->names[1 + i], want);
    }
    assert_string_equal(w->names[N + 1], "zed");

    /* The visitor stops early. */
    memset(w->names, 0, sizeof w->names);
    w->n = 0;
    w->stop_after = 70;
    assert_int_equal(v.list(v.ctx, visitor, w), CHAT_OK);
    assert_int_equal(w->n, 70);

    /* A visitor may change the store: delete everything while listing. */
    w->n = 0;
    w->stop_after = 0;
    w->delete_each = 1;
    assert_int_equal(v.list(v.ctx, visitor, w), CHAT_OK);
    assert_int_equal(w->n, N + 2);
    assert_int_equal(w->bad, 0);
    size_t n;
    assert_int_equal(chatd_store_count_accounts(s, &n), CHAT_OK);
    assert_int_equal(n, 0);
    free(w);
    chatd_store_close(s);
}

static void check_modes(const fixture *f, int want)
{
    char p[160];
    assert_int_equal(tu_mode(f->db), want);
    snprintf(p, sizeof p, "%s-wal", f->db);
    assert_int_equal(tu_mode(p), want);
    snprintf(p, sizeof p, "%s-shm", f->db);
    assert_int_equal(tu_mode(p), want);
}

static void test_file_modes(void **state)
{
    fixture *f = *state;
    umask(0);
    chatd_store *s = open_ok(f);
    chat_store v = chatd_store_vtable(s);
    chat_account a;
    make_account(&a, 1);
    assert_int_equal(v.put(v.ctx, &a, 1), CHAT_OK);
    check_modes(f, 0600);
    /* A second connection (with the -wal and -shm present) keeps them. */
    chatd_store *s2 = open_ok(f);
    make_account(&a, 2);
    chat_store v2 = chatd_store_vtable(s2);
    assert_int_equal(v2.put(v2.ctx, &a, 1), CHAT_OK);
    check_modes(f, 0600);
    chatd_store_close(s2);
    chatd_store_close(s);
    assert_int_equal(tu_mode(f->db), 0600);

    /* -wal/-shm left with loose modes (e.g. by another tool) are fixed. */
    s = open_ok(f);
    char p[160];
    snprintf(p, sizeof p, "%s-wal", f->db);
    assert_int_equal(chmod(p, 0644), 0);
    s2 = open_ok(f);
    check_modes(f, 0600);
    chatd_store_close(s2);
    chatd_store_close(s);

    /* Under umask 077 as well. */
    umask(077);
    snprintf(f->db, sizeof f->db, "%s/other.db", f->dir);
    s = open_ok(f);
    v = chatd_store_vtable(s);
    assert_int_equal(v.put(v.ctx, &a, 1), CHAT_OK);
    check_modes(f, 0600);
    chatd_store_close(s);
}

static void test_second_connection(void **state)
{
    fixture *f = *state;
    chatd_store *server = open_ok(f);
    chatd_store *admin = open_ok(f); /* the offline admin tool */
    chat_store sv = chatd_store_vtable(server), av = chatd_store_vtable(admin);
    chat_account a, got;

    make_account(&a, 3);
    assert_int_equal(av.put(av.ctx, &a, 1), CHAT_OK);
    assert_int_equal(sv.get(sv.ctx, a.name, &got), CHAT_OK); /* seen at once */
    assert_account_equal(&got, &a);
    a.verifier.opslimit = 9;
    assert_int_equal(av.put(av.ctx, &a, 0), CHAT_OK); /* password reset */
    assert_int_equal(sv.get(sv.ctx, a.name, &got), CHAT_OK);
    assert_int_equal(got.verifier.opslimit, 9);
    assert_int_equal(sv.del(sv.ctx, a.name), CHAT_OK);
    assert_int_equal(av.get(av.ctx, a.name, &got), CHAT_E_NOTFOUND);
    assert_int_equal(av.put(av.ctx, &a, 1), CHAT_OK);
    assert_int_equal(sv.put(sv.ctx, &a, 1), CHAT_E_EXISTS);
    size_t n1, n2;
    assert_int_equal(chatd_store_count_accounts(server, &n1), CHAT_OK);
    assert_int_equal(chatd_store_count_accounts(admin, &n2), CHAT_OK);
    assert_int_equal(n1, 1);
    assert_int_equal(n2, 1);

    /* A third connection holds the write lock: after the busy timeout a
     * write fails with CHAT_E_STORE and a reason; reads still work (WAL). */
    sqlite3 *h = raw_open(f->db);
    raw_exec(h, "BEGIN IMMEDIATE");
    chatd_store_set_busy_timeout(server, 50);
    make_account(&a, 4);
    uint64_t t0 = now_ms();
    assert_int_equal(sv.put(sv.ctx, &a, 1), CHAT_E_STORE);
    assert_true(now_ms() - t0 >= 40);
    assert_true(tu_has(chatd_store_last_error(server), "locked"));
    assert_true(tu_has(chatd_store_last_error(server), f->db));
    assert_true(tu_has(chatd_store_last_error(server), "u000004"));
    assert_int_equal(sv.del(sv.ctx, "u000003"), CHAT_E_STORE);
    assert_int_equal(sv.get(sv.ctx, "u000003", &got), CHAT_OK);
    raw_exec(h, "COMMIT");
    sqlite3_close(h);
    /* Nothing was half done, and writes work again. */
    assert_int_equal(sv.get(sv.ctx, "u000004", &got), CHAT_E_NOTFOUND);
    assert_int_equal(sv.put(sv.ctx, &a, 1), CHAT_OK);
    assert_int_equal(av.get(av.ctx, "u000004", &got), CHAT_OK);

    chatd_store_close(admin);
    chatd_store_close(server);
}

static void test_waits_for_other_process(void **state)
{
    fixture *f = *state;
    chatd_store *s = open_ok(f);
    chat_store v = chatd_store_vtable(s);
    int fd;
    pid_t pid = spawn_helper("--hold-lock", f->db, "300", &fd);
    assert_true(wait_ready(fd, 10000));
    /* The other process holds the lock for 300 ms; the default busy
     * timeout waits for it. */
    chat_account a;
    make_account(&a, 5);
    uint64_t t0 = now_ms();
    int rc = v.put(v.ctx, &a, 1);
    if (rc != CHAT_OK)
        fail_msg("put: %s", chatd_store_last_error(s));
    assert_true(now_ms() - t0 >= 150);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    close(fd);
    chatd_store_close(s);
}

static void test_schema(void **state)
{
    fixture *f = *state;
    chatd_store *s = open_ok(f);
    sqlite3 *db = raw_open(f->db);
    assert_int_equal(raw_int(db, "SELECT version FROM schema_version"), CHATD_SCHEMA_VERSION);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM schema_version"), 1);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_journal_mode WHERE "
                                 "journal_mode = 'wal'"),
                     1);
    /* The accounts table has the documented columns, in order. */
    static const char *const cols[] = {"name",         "role", "salt",      "opslimit",
                                       "memlimit_kib", "pk",   "created_at"};
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT name, pk FROM pragma_table_info('accounts') ORDER BY cid",
                           -1, &st, NULL),
        SQLITE_OK);
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(st, 0), cols[i]);
        assert_int_equal(sqlite3_column_int(st, 1), i == 0 ? 1 : 0);
    }
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    /* The table's checks hold even against other writers. */
    char *msg = NULL;
    assert_int_not_equal(sqlite3_exec(db,
                                      "INSERT INTO accounts VALUES ('x', 0, x'00', 1, 8, "
                                      "zeroblob(32), 0)",
                                      NULL, NULL, &msg),
                         SQLITE_OK);
    sqlite3_free(msg);
    sqlite3_close(db);
    chatd_store_close(s);

    /* Reopening an up-to-date database changes nothing. */
    s = open_ok(f);
    chatd_store_close(s);
}

static void expect_open_fails(fixture *f, const char *reason)
{
    static char sentinel;
    chatd_store *s = (chatd_store *)(void *)&sentinel; /* must be reset to NULL */
    f->err[0] = '\0';
    int rc = chatd_store_open(&s, f->db, f->err, sizeof f->err);
    if (rc == CHAT_OK || !tu_has(f->err, reason)) {
        if (rc == CHAT_OK)
            chatd_store_close(s);
        fail_msg("want failure \"%s\", got %d \"%s\"", reason, rc, f->err);
    }
    assert_null(s);
    assert_true(tu_has(f->err, f->db));
}

static void test_schema_versions_refused(void **state)
{
    fixture *f = *state;
    chatd_store *s = open_ok(f);
    chat_store v = chatd_store_vtable(s);
    chat_account a;
    make_account(&a, 1);
    assert_int_equal(v.put(v.ctx, &a, 1), CHAT_OK);
    chatd_store_close(s);

    sqlite3 *db = raw_open(f->db);
    raw_exec(db, "UPDATE schema_version SET version = 2");
    expect_open_fails(f, "schema version 2, newer than this chatd supports (1)");
    raw_exec(db, "UPDATE schema_version SET version = 'x'");
    expect_open_fails(f, "invalid schema version");
    raw_exec(db, "UPDATE schema_version SET version = 1");
    sqlite3_close(db);
    /* Back to a known version: the data is still there. */
    s = open_ok(f);
    v = chatd_store_vtable(s);
    chat_account got;
    assert_int_equal(v.get(v.ctx, "u000001", &got), CHAT_OK);
    chatd_store_close(s);
}

static void test_not_chatd_database(void **state)
{
    fixture *f = *state;
    /* Someone else's SQLite database. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    raw_exec(db, "CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('hi')");
    sqlite3_close(db);
    expect_open_fails(f, "not a chatd one (it has a table \"notes\"");
    /* ...left as it was. */
    db = raw_open(f->db);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE name = "
                                 "'schema_version'"),
                     0);
    sqlite3_close(db);

    /* Not SQLite at all. */
    unlink(f->db);
    char junk[8192];
    memset(junk, 'j', sizeof junk);
    assert_int_equal(tu_write(f->db, junk, sizeof junk, 0600), 0);
    expect_open_fails(f, "not an SQLite database");

    /* A directory. */
    unlink(f->db);
    assert_int_equal(mkdir(f->db, 0700), 0);
    expect_open_fails(f, "not a regular file");
    rmdir(f->db);

    /* A missing directory. */
    snprintf(f->db, sizeof f->db, "%s/missing/chatd.db", f->dir);
    expect_open_fails(f, "No such file or directory");

    chatd_store *s = NULL;
    assert_int_equal(chatd_store_open(&s, "", f->err, sizeof f->err), CHAT_E_INVAL);
    assert_int_equal(chatd_store_open(NULL, f->db, f->err, sizeof f->err), CHAT_E_INVAL);
}

static void test_corruption_detected(void **state)
{
    fixture *f = *state;
    chatd_store *s = open_ok(f);
    chat_store v = chatd_store_vtable(s);
    for (unsigned i = 0; i < 400; i++) {
        chat_account a;
        make_account(&a, i);
        assert_int_equal(v.put(v.ctx, &a, 1), CHAT_OK);
    }
    chatd_store_close(s);
    char p[160];
    snprintf(p, sizeof p, "%s-wal", f->db);
    assert_int_equal(access(p, F_OK), -1); /* checkpointed into the file */

    /* Overwrite the middle of the file (B-tree pages) with junk. */
    struct stat st;
    assert_int_equal(stat(f->db, &st), 0);
    assert_true(st.st_size >= 4 * 4096);
    int fd = open(f->db, O_WRONLY);
    assert_true(fd >= 0);
    char junk[4096];
    memset(junk, 0x5a, sizeof junk);
    for (off_t off = 2 * 4096; off + 4096 <= st.st_size - 4096; off += 2 * 4096)
        assert_int_equal(pwrite(fd, junk, sizeof junk, off), (ssize_t)sizeof junk);
    close(fd);
    expect_open_fails(f, "corrupt");
}

/* Damage that reading does not notice but the integrity check does: an
 * index whose entries do not match its table. */
static void test_integrity_check_on_open(void **state)
{
    fixture *f = *state;
    chatd_store *s = open_ok(f);
    chat_store v = chatd_store_vtable(s);
    for (unsigned i = 0; i < 50; i++) {
        chat_account a;
        make_account(&a, i);
        assert_int_equal(v.put(v.ctx, &a, 1), CHAT_OK);
    }
    chatd_store_close(s);
    sqlite3 *db = raw_open(f->db);
    raw_exec(db, "CREATE INDEX by_role ON accounts (role)");
    raw_exec(db, "PRAGMA writable_schema = ON");
    raw_exec(db, "UPDATE sqlite_master SET sql = 'CREATE INDEX by_role ON accounts (opslimit)'"
                 " WHERE name = 'by_role'");
    sqlite3_close(db);
    expect_open_fails(f, "is corrupt (integrity check: ");
}

/* Check the database after a crash: it opens (integrity check passed),
 * the writer's accounts are u000000..u<n-1> with nothing missing, and
 * every row is complete. Returns n. */
static size_t check_after_crash(fixture *f)
{
    chatd_store *s = open_ok(f);
    chat_store v = chatd_store_vtable(s);
    visit *w = calloc(1, sizeof *w);
    assert_non_null(w);
    /* Names only up to 300 are recorded; count and check them all. */
    assert_int_equal(v.list(v.ctx, visitor, w), CHAT_OK);
    assert_int_equal(w->bad, 0);
    size_t n, writer = 0;
    assert_int_equal(chatd_store_count_accounts(s, &n), CHAT_OK);
    assert_int_equal(n, w->n);
    for (size_t i = 0; i < n; i++) {
        chat_account want, got;
        make_account(&want, (unsigned)i);
        if (v.get(v.ctx, want.name, &got) != CHAT_OK)
            break;
        assert_account_equal(&got, &want);
        writer++;
    }
    /* All others are the server's own "srv-" rows (none are left). */
    assert_int_equal(writer, n);
    free(w);
    chatd_store_close(s);
    return n;
}

static void test_crash_mid_write(void **state)
{
    fixture *f = *state;
    /* The server has the database open the whole time. */
    chatd_store *server = open_ok(f);
    chat_store sv = chatd_store_vtable(server);
    size_t prev = 0;
    int killed = 0;
    uint64_t t0 = now_ms();
    for (int round = 0; round < 20 && now_ms() - t0 < 20000; round++) {
        int fd;
        /* Delete the database now and then, so some kills land while it
         * is being created and its schema written. */
        if (round == 10) {
            chatd_store_close(server);
            char p[160];
            unlink(f->db);
            snprintf(p, sizeof p, "%s-wal", f->db);
            unlink(p);
            snprintf(p, sizeof p, "%s-shm", f->db);
            unlink(p);
            prev = 0;
        }
        pid_t pid = spawn_helper("--writer", f->db, NULL, &fd);
        if (round % 4 == 3 || round == 10) {
            sleep_ms(randombytes_uniform(8)); /* maybe while opening */
        } else {
            assert_true(wait_ready(fd, 10000));
            sleep_ms(1 + randombytes_uniform(25));
        }
        assert_int_equal(kill(pid, SIGKILL), 0);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        close(fd);
        if (WIFSIGNALED(st))
            killed++;
        else
            fail_msg("writer exited with status %d before it was killed", WEXITSTATUS(st));

        size_t n = check_after_crash(f);
        assert_true(n >= prev);
        prev = n;

        if (round == 10)
            server = open_ok(f);
        sv = chatd_store_vtable(server);
        /* The dead writer's lock is gone: the server writes at once. */
        chatd_store_set_busy_timeout(server, 1000);
        chat_account a;
        make_account(&a, 0);
        snprintf(a.name, sizeof a.name, "srv-%d", round);
        assert_int_equal(sv.put(sv.ctx, &a, 1), CHAT_OK);
        assert_int_equal(sv.del(sv.ctx, a.name), CHAT_OK);
        size_t sn;
        assert_int_equal(chatd_store_count_accounts(server, &sn), CHAT_OK);
        assert_int_equal(sn, n);
    }
    chatd_store_close(server);
    assert_true(killed >= 10);
    /* The writer got some work done between the kills. */
    assert_true(prev > 0);
    print_message("crash test: %d kills, %zu accounts in the final database\n", killed, prev);
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return 1;
    if (argc >= 4 && strcmp(argv[1], "--writer") == 0)
        return helper_writer(argv[2], atoi(argv[3]));
    if (argc >= 5 && strcmp(argv[1], "--hold-lock") == 0)
        return helper_hold_lock(argv[2], atoi(argv[3]), (unsigned)atoi(argv[4]));

    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (n > 0)
        self_exe[n] = '\0';
    else
        snprintf(self_exe, sizeof self_exe, "%s", argv[0]);

    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_create_and_reopen),
        T(test_error_codes),
        T(test_replace_keeps_created_at),
        T(test_list_order),
        T(test_file_modes),
        T(test_second_connection),
        T(test_waits_for_other_process),
        T(test_schema),
        T(test_schema_versions_refused),
        T(test_not_chatd_database),
        T(test_corruption_detected),
        T(test_integrity_check_on_open),
        T(test_crash_mid_write),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
