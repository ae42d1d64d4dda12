/* chatd's account store: the chat_store interface (chat/store.h) over an
 * SQLite database file.
 *
 * The database is created with mode 0600 whatever the umask (and so are
 * its -wal and -shm files), runs in WAL mode with synchronous=FULL, and
 * waits up to a busy timeout (5 s by default) for another process's write
 * lock, so the offline administration commands can run next to a live
 * server. Every write is one BEGIN IMMEDIATE ... COMMIT transaction: a
 * crash (even SIGKILL or power loss) leaves either the old or the new
 * account, never a partial one.
 *
 * Opening checks the file (PRAGMA integrity_check) and its schema version
 * (table schema_version), migrates an older schema and refuses a newer one
 * or a database that is not chatd's.
 *
 * Schema version 1:
 *   schema_version(id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER)
 *   accounts(name TEXT PRIMARY KEY, role INTEGER, salt BLOB(16),
 *            opslimit INTEGER, memlimit_kib INTEGER, pk BLOB(32),
 *            created_at INTEGER)   -- Unix seconds
 *
 * Through the vtable, names are validated and folded like the in-memory
 * store does: put() with an invalid name or a role other than user/admin
 * returns CHAT_E_INVAL; get()/del() of an invalid name CHAT_E_NOTFOUND.
 * Any SQLite failure (including a lock held past the busy timeout) is
 * CHAT_E_STORE, with the reason in chatd_store_last_error(). */
#ifndef CHATD_STORE_SQLITE_H
#define CHATD_STORE_SQLITE_H

#include <stddef.h>

#include "chat/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The schema version this code writes and understands. */
#define CHATD_SCHEMA_VERSION 1

/* Default time to wait for another process's lock, in milliseconds. */
#define CHATD_STORE_BUSY_MS 5000

typedef struct chatd_store chatd_store;

/* Open (creating if needed) the database at path. CHAT_OK and *out set, or
 * CHAT_E_STORE (CHAT_E_NOMEM, CHAT_E_INVAL) with a message in err naming
 * the file and the reason. The directory must exist. */
int chatd_store_open(chatd_store **out, const char *path, char *err, size_t errlen);

/* Close the database and free the store (NULL is fine). */
void chatd_store_close(chatd_store *s);

/* The chat_store view for the hub; valid until chatd_store_close. */
chat_store chatd_store_vtable(chatd_store *s);

/* Number of accounts, and of accounts with the admin role. CHAT_OK or
 * CHAT_E_STORE. */
int chatd_store_count_accounts(chatd_store *s, size_t *n);
int chatd_store_count_admins(chatd_store *s, size_t *n);

/* A sentence describing the last failure of a call on s ("" if none). */
const char *chatd_store_last_error(const chatd_store *s);

/* Change how long a call waits for another process's lock (ms >= 0). */
void chatd_store_set_busy_timeout(chatd_store *s, int ms);

#ifdef __cplusplus
}
#endif
#endif
