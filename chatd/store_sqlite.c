/* chatd's account store over SQLite. See store_sqlite.h. */
#include "store_sqlite.h"
#include "fileutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

/* Accounts read per query by list(): the statement is reset between pages,
 * so a visitor may call back into the store. */
#define LIST_PAGE 64
#define STR_(x) #x
#define STR(x) STR_(x)

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_GET,
    ST_INSERT,
    ST_UPDATE,
    ST_DELETE,
    ST_LIST,
    ST_COUNT,
    ST_COUNT_ADMINS,
    ST_N
};

static const char *const stmt_sql[ST_N] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_GET] = "SELECT role, salt, opslimit, memlimit_kib, pk FROM accounts WHERE name = ?1",
    [ST_INSERT] = "INSERT INTO accounts (name, role, salt, opslimit, memlimit_kib, pk, created_at)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_UPDATE] = "UPDATE accounts SET role = ?2, salt = ?3, opslimit = ?4, memlimit_kib = ?5,"
                  " pk = ?6 WHERE name = ?1",
    [ST_DELETE] = "DELETE FROM accounts WHERE name = ?1",
    [ST_LIST] = "SELECT name, role, salt, opslimit, memlimit_kib, pk FROM accounts"
                " WHERE name > ?1 ORDER BY name LIMIT " STR(LIST_PAGE),
    [ST_COUNT] = "SELECT count(*) FROM accounts",
    [ST_COUNT_ADMINS] = "SELECT count(*) FROM accounts WHERE role = 1",
};

/* Schema migrations: migrations[v] takes version v to v + 1. */
static const char *const migrations[CHATD_SCHEMA_VERSION] = {
    /* 0 -> 1: the accounts table. */
    "CREATE TABLE accounts ("
    " name TEXT PRIMARY KEY NOT NULL CHECK (length(name) BETWEEN 1 AND 32),"
    " role INTEGER NOT NULL CHECK (role IN (0, 1)),"
    " salt BLOB NOT NULL CHECK (typeof(salt) = 'blob' AND length(salt) = 16),"
    " opslimit INTEGER NOT NULL CHECK (opslimit BETWEEN 0 AND 4294967295),"
    " memlimit_kib INTEGER NOT NULL CHECK (memlimit_kib BETWEEN 0 AND 4294967295),"
    " pk BLOB NOT NULL CHECK (typeof(pk) = 'blob' AND length(pk) = 32),"
    " created_at INTEGER NOT NULL"
    ");",
};

struct chatd_store {
    sqlite3 *db;
    sqlite3_stmt *st[ST_N];
    char path[1024];
    char errmsg[2048];
};

/* ---- Messages -------------------------------------------------------- */


/* A plain-words reason for an SQLite result code, with SQLite's own text. */
static void describe(char *out, size_t outlen, sqlite3 *db, int rc)
{
    const char *detail = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        (void)snprintf(out, outlen, "the database is locked by another process (%s)", detail);
        break;
    case SQLITE_CORRUPT:
        (void)snprintf(out, outlen, "the database is corrupt (%s); restore it from a backup",
                       detail);
        break;
    case SQLITE_NOTADB:
        (void)snprintf(out, outlen, "the file is not an SQLite database (%s)", detail);
        break;
    case SQLITE_READONLY:
        (void)snprintf(out, outlen, "the database cannot be written (%s)", detail);
        break;
    case SQLITE_FULL:
        (void)snprintf(out, outlen, "the disk is full (%s)", detail);
        break;
    default:
        (void)snprintf(out, outlen, "%s", detail);
        break;
    }
}

/* Record the failure of an operation on s; returns CHAT_E_STORE. */
static int store_fail(chatd_store *s, int rc, const char *what, const char *name)
{
    char why[384];
    describe(why, sizeof why, s->db, rc);
    if (name != NULL)
        (void)snprintf(s->errmsg, sizeof s->errmsg, "%s: cannot %s account %s: %s", s->path, what,
                       name, why);
    else
        (void)snprintf(s->errmsg, sizeof s->errmsg, "%s: cannot %s: %s", s->path, what, why);
    return CHAT_E_STORE;
}

/* ---- Names ------------------------------------------------------------- */


/* ---- Transactions -------------------------------------------------------- */

/* Run a statement without results (BEGIN, COMMIT, ROLLBACK). */
static int run_plain(chatd_store *s, int which)
{
    sqlite3_stmt *st = s->st[which];
    int rc = sqlite3_step(st);
    (void)sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void tx_rollback(chatd_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        (void)run_plain(s, ST_ROLLBACK);
}

static int tx_begin(chatd_store *s, const char *what, const char *name)
{
    int rc = run_plain(s, ST_BEGIN);
    if (rc != SQLITE_OK) {
        store_fail(s, rc, what, name);
        tx_rollback(s);
        return CHAT_E_STORE;
    }
    return CHAT_OK;
}

static int tx_commit(chatd_store *s, const char *what, const char *name)
{
    int rc = run_plain(s, ST_COMMIT);
    if (rc != SQLITE_OK) {
        store_fail(s, rc, what, name);
        tx_rollback(s);
        return CHAT_E_STORE;
    }
    return CHAT_OK;
}

/* ---- Rows ---------------------------------------------------------------- */

/* Read an account from the current row of st, columns from `first` on:
 * role, salt, opslimit, memlimit_kib, pk. 0 if the row is malformed. */
static int row_account(sqlite3_stmt *st, int first, chat_account *a)
{
    sqlite3_int64 role = sqlite3_column_int64(st, first);
    const void *salt = sqlite3_column_blob(st, first + 1);
    int salt_len = sqlite3_column_bytes(st, first + 1);
    sqlite3_int64 ops = sqlite3_column_int64(st, first + 2);
    sqlite3_int64 mem = sqlite3_column_int64(st, first + 3);
    const void *pk = sqlite3_column_blob(st, first + 4);
    int pk_len = sqlite3_column_bytes(st, first + 4);
    if (role < 0 || role > 255 || ops < 0 || ops > UINT32_MAX || mem < 0 || mem > UINT32_MAX ||
        salt == NULL || salt_len != CHAT_SALT_LEN || pk == NULL || pk_len != CHAT_PK_LEN)
        return 0;
    a->role = (uint8_t)role;
    memcpy(a->verifier.salt, salt, CHAT_SALT_LEN);
    a->verifier.opslimit = (uint32_t)ops;
    a->verifier.memlimit_kib = (uint32_t)mem;
    memcpy(a->verifier.pk, pk, CHAT_PK_LEN);
    return 1;
}

/* ---- The vtable ---------------------------------------------------------- */

static int sq_get(void *ctx, const char *name, chat_account *out)
{
    chatd_store *s = ctx;
    char key[CHAT_NAME_MAX + 1];
    if (s == NULL || out == NULL)
        return CHAT_E_STORE;
    if (!chat_name_key(key, name))
        return CHAT_E_NOTFOUND;
    sqlite3_stmt *st = s->st[ST_GET];
    int rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    int result;
    if (rc == SQLITE_ROW) {
        chat_account a;
        memset(&a, 0, sizeof a);
        memcpy(a.name, key, strlen(key));
        if (row_account(st, 0, &a)) {
            *out = a;
            result = CHAT_OK;
        } else {
            (void)snprintf(s->errmsg, sizeof s->errmsg,
                           "%s: account %s has a malformed record", s->path, key);
            result = CHAT_E_STORE;
        }
        sodium_memzero(&a, sizeof a);
    } else if (rc == SQLITE_DONE) {
        result = CHAT_E_NOTFOUND;
    } else {
        result = store_fail(s, rc, "read", key);
    }
    (void)sqlite3_reset(st);
    (void)sqlite3_clear_bindings(st);
    return result;
}

/* Bind the account fields ?1..?6 of an INSERT or UPDATE. */
static int bind_account(sqlite3_stmt *st, const char *key, const chat_account *a)
{
    int rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 2, a->role);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_blob(st, 3, a->verifier.salt, CHAT_SALT_LEN, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 4, a->verifier.opslimit);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 5, a->verifier.memlimit_kib);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_blob(st, 6, a->verifier.pk, CHAT_PK_LEN, SQLITE_STATIC);
    return rc;
}

static int sq_put(void *ctx, const chat_account *account, int create)
{
    chatd_store *s = ctx;
    char key[CHAT_NAME_MAX + 1];
    if (s == NULL || account == NULL)
        return CHAT_E_STORE;
    if (memchr(account->name, '\0', sizeof account->name) == NULL ||
        !chat_name_key(key, account->name) ||
        (account->role != CHAT_ROLE_USER && account->role != CHAT_ROLE_ADMIN))
        return CHAT_E_INVAL;

    const char *what = create ? "add" : "update";
    int result = tx_begin(s, what, key);
    if (result != CHAT_OK)
        return result;
    sqlite3_stmt *st = s->st[create ? ST_INSERT : ST_UPDATE];
    int rc = bind_account(st, key, account);
    if (rc == SQLITE_OK && create)
        rc = sqlite3_bind_int64(st, 7, (sqlite3_int64)time(NULL));
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    int changes = sqlite3_changes(s->db);
    if (rc == SQLITE_DONE && !create && changes == 0)
        result = CHAT_E_NOTFOUND;
    else if (create && rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        result = CHAT_E_EXISTS;
    else if (rc != SQLITE_DONE)
        result = store_fail(s, rc, what, key);
    (void)sqlite3_reset(st);
    (void)sqlite3_clear_bindings(st);
    if (result != CHAT_OK) {
        tx_rollback(s);
        return result;
    }
    return tx_commit(s, what, key);
}

static int sq_del(void *ctx, const char *name)
{
    chatd_store *s = ctx;
    char key[CHAT_NAME_MAX + 1];
    if (s == NULL)
        return CHAT_E_STORE;
    if (!chat_name_key(key, name))
        return CHAT_E_NOTFOUND;
    int result = tx_begin(s, "delete", key);
    if (result != CHAT_OK)
        return result;
    sqlite3_stmt *st = s->st[ST_DELETE];
    int rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_DONE && sqlite3_changes(s->db) == 0)
        result = CHAT_E_NOTFOUND;
    else if (rc != SQLITE_DONE)
        result = store_fail(s, rc, "delete", key);
    (void)sqlite3_reset(st);
    (void)sqlite3_clear_bindings(st);
    if (result != CHAT_OK) {
        tx_rollback(s);
        return result;
    }
    return tx_commit(s, "delete", key);
}

static int sq_list(void *ctx, chat_store_visit_fn fn, void *arg)
{
    chatd_store *s = ctx;
    if (s == NULL || fn == NULL)
        return CHAT_E_STORE;
    /* Page through the names in order; each page is read, the statement
     * reset, and only then visited. */
    char after[CHAT_NAME_MAX + 1] = "";
    chat_account page[LIST_PAGE];
    int result = CHAT_OK;
    for (;;) {
        sqlite3_stmt *st = s->st[ST_LIST];
        size_t n = 0;
        int rc = sqlite3_bind_text(st, 1, after, -1, SQLITE_TRANSIENT);
        while (rc == SQLITE_OK || rc == SQLITE_ROW) {
            rc = sqlite3_step(st);
            if (rc != SQLITE_ROW)
                break;
            const unsigned char *nm = sqlite3_column_text(st, 0);
            int nm_len = sqlite3_column_bytes(st, 0);
            chat_account *a = n < LIST_PAGE ? &page[n] : NULL;
            if (a != NULL)
                memset(a, 0, sizeof *a);
            if (a == NULL || nm == NULL || nm_len < 1 || nm_len > CHAT_NAME_MAX ||
                !row_account(st, 1, a)) {
                (void)snprintf(s->errmsg, sizeof s->errmsg,
                               "%s: cannot list accounts: a record is malformed", s->path);
                rc = SQLITE_CORRUPT;
                result = CHAT_E_STORE;
                break;
            }
            memcpy(a->name, nm, (size_t)nm_len);
            n++;
        }
        if (rc != SQLITE_DONE && result == CHAT_OK)
            result = store_fail(s, rc, "list accounts", NULL);
        (void)sqlite3_reset(st);
        (void)sqlite3_clear_bindings(st);
        if (result != CHAT_OK)
            break;
        int stop = 0;
        for (size_t i = 0; i < n && !stop; i++)
            stop = fn(arg, &page[i]);
        if (stop || n < LIST_PAGE)
            break;
        memcpy(after, page[n - 1].name, sizeof after);
    }
    sodium_memzero(page, sizeof page);
    return result;
}

chat_store chatd_store_vtable(chatd_store *s)
{
    chat_store v;
    v.get = sq_get;
    v.put = sq_put;
    v.del = sq_del;
    v.list = sq_list;
    v.ctx = s;
    return v;
}

/* ---- Counting ------------------------------------------------------------ */

static int count(chatd_store *s, int which, size_t *n, const char *what)
{
    if (s == NULL || n == NULL)
        return CHAT_E_STORE;
    *n = 0;
    sqlite3_stmt *st = s->st[which];
    int rc = sqlite3_step(st);
    int result = CHAT_OK;
    if (rc == SQLITE_ROW) {
        sqlite3_int64 v = sqlite3_column_int64(st, 0);
        *n = v > 0 ? (size_t)v : 0;
    } else {
        result = store_fail(s, rc, what, NULL);
    }
    (void)sqlite3_reset(st);
    return result;
}

int chatd_store_count_accounts(chatd_store *s, size_t *n)
{
    return count(s, ST_COUNT, n, "count accounts");
}

int chatd_store_count_admins(chatd_store *s, size_t *n)
{
    return count(s, ST_COUNT_ADMINS, n, "count admin accounts");
}

const char *chatd_store_last_error(const chatd_store *s)
{
    return s != NULL ? s->errmsg : "no store";
}

void chatd_store_set_busy_timeout(chatd_store *s, int ms)
{
    if (s != NULL)
        (void)sqlite3_busy_timeout(s->db, ms < 0 ? 0 : ms);
}

/* ---- Opening ------------------------------------------------------------- */

/* Create the database file with mode 0600 (whatever the umask) if it does
 * not exist yet, so SQLite never creates it with its default 0644. */
static int precreate(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) {
        int rc = fchmod(fd, 0600);
        int e = errno;
        (void)close(fd);
        if (rc != 0)
            return fu_fail(err, errlen, CHAT_E_STORE, "%s: cannot set permissions: %s", path,
                        strerror(e));
        return CHAT_OK;
    }
    int e = errno;
    if (e != EEXIST)
        return fu_fail(err, errlen, CHAT_E_STORE, "cannot create database %s: %s", path,
                    strerror(e));
    struct stat st;
    if (stat(path, &st) != 0) {
        e = errno;
        return fu_fail(err, errlen, CHAT_E_STORE, "cannot open database %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode))
        return fu_fail(err, errlen, CHAT_E_STORE, "cannot open database %s: not a regular file",
                    path);
    return CHAT_OK;
}

/* Run one SQL text with no results expected. */
static int exec(chatd_store *s, const char *sql, const char *what, char *err, size_t errlen)
{
    char *msg = NULL;
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
    sqlite3_free(msg);
    if (rc != SQLITE_OK) {
        char why[384];
        describe(why, sizeof why, s->db, rc);
        return fu_fail(err, errlen, CHAT_E_STORE, "database %s: cannot %s: %s", s->path, what, why);
    }
    return CHAT_OK;
}

/* Run a query that returns one text row into out. */
static int query_text(chatd_store *s, const char *sql, char *out, size_t outlen, int *rcp)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    out[0] = '\0';
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const unsigned char *t = sqlite3_column_text(st, 0);
            (void)snprintf(out, outlen, "%s", t != NULL ? (const char *)t : "");
            rc = SQLITE_OK;
        }
    }
    *rcp = rc;
    sqlite3_finalize(st);
    return rc == SQLITE_OK || rc == SQLITE_DONE ? CHAT_OK : CHAT_E_STORE;
}

static int check_integrity(chatd_store *s, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA integrity_check(20)", -1, &st, NULL);
    char problems[400] = "";
    size_t used = 0;
    int ok = 0, rows = 0;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
            break;
        const char *t = (const char *)sqlite3_column_text(st, 0);
        if (t == NULL)
            t = "";
        rows++;
        if (rows == 1 && strcmp(t, "ok") == 0)
            ok = 1;
        else if (rows <= 3 && used < sizeof problems - 1) {
            /* The first few problems say enough. */
            int n = snprintf(problems + used, sizeof problems - used, "%s%s", used ? "; " : "", t);
            if (n > 0)
                used += (size_t)n;
        }
    }
    if (rc != SQLITE_DONE) {
        char why[384];
        describe(why, sizeof why, s->db, rc);
        sqlite3_finalize(st);
        return fu_fail(err, errlen, CHAT_E_STORE, "cannot open database %s: %s", s->path, why);
    }
    sqlite3_finalize(st);
    if (!ok || rows != 1)
        return fu_fail(err, errlen, CHAT_E_STORE,
                    "database %s is corrupt (integrity check: %s%s); restore it from a backup",
                    s->path, problems[0] ? problems : "no result", rows > 3 ? "; ..." : "");
    return CHAT_OK;
}

/* Bring the schema to CHATD_SCHEMA_VERSION, in one write transaction. */
static int migrate(chatd_store *s, char *err, size_t errlen)
{
    int rc = exec(s, "BEGIN IMMEDIATE", "start the schema check", err, errlen);
    if (rc != CHAT_OK)
        return rc;
    rc = exec(s,
              "CREATE TABLE IF NOT EXISTS schema_version ("
              " id INTEGER PRIMARY KEY CHECK (id = 1),"
              " version INTEGER NOT NULL)",
              "create the schema_version table", err, errlen);
    char text[64];
    int src;
    long long version = 0;
    if (rc == CHAT_OK) {
        rc = query_text(s, "SELECT version FROM schema_version WHERE id = 1", text, sizeof text,
                        &src);
        if (rc != CHAT_OK)
            rc = fu_fail(err, errlen, CHAT_E_STORE, "database %s: cannot read the schema version: %s",
                      s->path, sqlite3_errmsg(s->db));
    }
    if (rc == CHAT_OK && src == SQLITE_DONE) {
        /* No version yet: a new database, unless someone else's tables are
         * in it (the wrong file). */
        rc = query_text(s,
                        "SELECT name FROM sqlite_master"
                        " WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
                        " AND name <> 'schema_version' LIMIT 1",
                        text, sizeof text, &src);
        if (rc == CHAT_OK && src != SQLITE_DONE)
            rc = fu_fail(err, errlen, CHAT_E_STORE,
                      "%s is an SQLite database but not a chatd one (it has a table \"%s\" and "
                      "no schema version)",
                      s->path, text);
        else if (rc == CHAT_OK)
            rc = exec(s, "INSERT INTO schema_version (id, version) VALUES (1, 0)",
                      "record the schema version", err, errlen);
        else
            rc = fu_fail(err, errlen, CHAT_E_STORE, "database %s: cannot read the schema: %s",
                      s->path, sqlite3_errmsg(s->db));
    } else if (rc == CHAT_OK) {
        char *end = NULL;
        version = strtoll(text, &end, 10);
        if (end == text || *end != '\0' || version < 0)
            rc = fu_fail(err, errlen, CHAT_E_STORE, "database %s has an invalid schema version \"%s\"",
                      s->path, text);
        else if (version > CHATD_SCHEMA_VERSION)
            rc = fu_fail(err, errlen, CHAT_E_STORE,
                      "database %s has schema version %lld, newer than this chatd supports (%d); "
                      "use a newer chatd",
                      s->path, version, CHATD_SCHEMA_VERSION);
    }
    for (long long v = version; rc == CHAT_OK && v < CHATD_SCHEMA_VERSION; v++) {
        char what[64], sql[128];
        (void)snprintf(what, sizeof what, "upgrade the schema to version %lld", v + 1);
        rc = exec(s, migrations[v], what, err, errlen);
        if (rc == CHAT_OK) {
            (void)snprintf(sql, sizeof sql, "UPDATE schema_version SET version = %lld WHERE id = 1",
                           v + 1);
            rc = exec(s, sql, what, err, errlen);
        }
    }
    if (rc == CHAT_OK)
        return exec(s, "COMMIT", "save the schema", err, errlen);
    char *msg = NULL;
    (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, &msg);
    sqlite3_free(msg);
    return rc;
}

/* The -wal and -shm files get the database's 0600 too (SQLite copies the
 * database's mode; this makes sure of it). */
static int protect_sidecars(chatd_store *s, char *err, size_t errlen)
{
    static const char *const suffixes[2] = {"-wal", "-shm"};
    for (size_t i = 0; i < 2; i++) {
        char p[sizeof s->path + 8];
        (void)snprintf(p, sizeof p, "%s%s", s->path, suffixes[i]);
        struct stat st;
        if (stat(p, &st) != 0)
            continue; /* not there (yet): SQLite will copy the 0600 */
        if ((st.st_mode & 0777) != 0600 && chmod(p, 0600) != 0) {
            int e = errno;
            return fu_fail(err, errlen, CHAT_E_STORE, "cannot set permissions of %s: %s", p,
                        strerror(e));
        }
    }
    return CHAT_OK;
}

int chatd_store_open(chatd_store **out, const char *path, char *err, size_t errlen)
{
    if (out == NULL)
        return fu_fail(err, errlen, CHAT_E_INVAL, "no store to open");
    *out = NULL;
    if (path == NULL || path[0] == '\0')
        return fu_fail(err, errlen, CHAT_E_INVAL, "no database file name given");
    chatd_store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return fu_fail(err, errlen, CHAT_E_NOMEM, "cannot open database %s: out of memory", path);
    /* A name SQLite could take for a URI gets a "./" in front. */
    int n = snprintf(s->path, sizeof s->path, "%s%s", strncmp(path, "file:", 5) == 0 ? "./" : "",
                     path);
    if (n < 0 || (size_t)n >= sizeof s->path) {
        free(s);
        return fu_fail(err, errlen, CHAT_E_INVAL, "database path too long: %.64s...", path);
    }

    int rc = precreate(s->path, err, errlen);
    if (rc != CHAT_OK) {
        free(s);
        return rc;
    }
    int src = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        char why[384];
        describe(why, sizeof why, s->db, src);
        (void)fu_fail(err, errlen, CHAT_E_STORE, "cannot open database %s: %s", s->path, why);
        goto fail;
    }
    (void)sqlite3_extended_result_codes(s->db, 1);
    (void)sqlite3_busy_timeout(s->db, CHATD_STORE_BUSY_MS);
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        (void)fu_fail(err, errlen, CHAT_E_STORE,
                   "cannot open database %s: it is read-only (check its permissions)", s->path);
        goto fail;
    }

    /* Check the file before anything writes to it. */
    if (check_integrity(s, err, errlen) != CHAT_OK)
        goto fail;

    char mode[32];
    if (query_text(s, "PRAGMA journal_mode = WAL", mode, sizeof mode, &src) != CHAT_OK ||
        strcmp(mode, "wal") != 0) {
        char why[384];
        if (src != SQLITE_OK && src != SQLITE_DONE)
            describe(why, sizeof why, s->db, src);
        else
            (void)snprintf(why, sizeof why, "the journal mode stays \"%s\"", mode);
        (void)fu_fail(err, errlen, CHAT_E_STORE, "database %s: cannot switch to WAL mode: %s",
                   s->path, why);
        goto fail;
    }
    if (exec(s,
             "PRAGMA synchronous = FULL;"
             "PRAGMA foreign_keys = ON;"
             "PRAGMA secure_delete = ON;"
             "PRAGMA trusted_schema = OFF;",
             "configure the connection", err, errlen) != CHAT_OK)
        goto fail;
    if (migrate(s, err, errlen) != CHAT_OK)
        goto fail;
    if (protect_sidecars(s, err, errlen) != CHAT_OK)
        goto fail;

    for (int i = 0; i < ST_N; i++) {
        src = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                                 NULL);
        if (src != SQLITE_OK) {
            char why[384];
            describe(why, sizeof why, s->db, src);
            (void)fu_fail(err, errlen, CHAT_E_STORE, "database %s: cannot prepare queries: %s",
                       s->path, why);
            goto fail;
        }
    }
    *out = s;
    return CHAT_OK;

fail:
    chatd_store_close(s);
    return CHAT_E_STORE;
}

void chatd_store_close(chatd_store *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < ST_N; i++)
        sqlite3_finalize(s->st[i]);
    if (s->db != NULL)
        (void)sqlite3_close(s->db);
    sodium_memzero(s, sizeof *s);
    free(s);
}
