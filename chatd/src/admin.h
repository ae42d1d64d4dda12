/* chatd's offline administration subcommands. They work on the state
 * directory directly and are safe next to a running server: every change
 * is one SQLite transaction, and the server reads accounts from the
 * database at each login. Each returns a sysexits code and prints its own
 * messages. */
#ifndef CHATD_ADMIN_H
#define CHATD_ADMIN_H

#include "config.h"

/* Print the server key's fingerprint (SHA256:...), generating the key
 * first if it does not exist yet and its path is the default one. */
int chatd_cmd_fingerprint(const chatd_config *cfg);

/* Create an account (role "user" or "admin"); the password comes from
 * pwfile or the terminal (asked twice). */
int chatd_cmd_add_user(const chatd_config *cfg, const char *name, const char *role,
                       const char *pwfile);

/* Set a new password for an existing account. */
int chatd_cmd_passwd(const chatd_config *cfg, const char *name, const char *pwfile);

/* List the accounts: name and role, one per line. */
int chatd_cmd_list_users(const chatd_config *cfg);

#endif
