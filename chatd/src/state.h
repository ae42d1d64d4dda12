/* chatd's files: where they live (config file, state directory, server key,
 * database), opening them safely, and the first admin account.
 *
 * Every function returns a sysexits(3) code (EX_OK on success) and, on
 * failure, a sentence naming the file and what to do in err. */
#ifndef CHATD_STATE_H
#define CHATD_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store_sqlite.h"

#define CHATD_KEY_NAME "server.key"
#define CHATD_DB_NAME "chatd.db"

typedef struct chatd_paths {
    char state_dir[FU_PATH_MAX];
    char key_file[FU_PATH_MAX];
    char db_file[FU_PATH_MAX];
    int key_explicit; /* key_file was configured: never generate it */
} chatd_paths;

/* The config file used when --config is not given:
 * $CONFIGURATION_DIRECTORY/chatd.conf (systemd), else
 * $XDG_CONFIG_HOME/chatd/chatd.conf. */
int chatd_default_config_path(char *out, size_t outlen, char *err, size_t errlen);

/* The state directory: state_dir from the configuration, else
 * $STATE_DIRECTORY (systemd), else $XDG_STATE_HOME/chatd; and the key and
 * database paths in it. */
int chatd_paths_resolve(const chatd_config *cfg, chatd_paths *p, char *err, size_t errlen);

/* Create the state directory (0700) if needed; warn if others may enter. */
int chatd_state_dir_prepare(const chatd_paths *p, char *err, size_t errlen);

/* Load the server key. If it does not exist and create is set and the path
 * is the default one, generate it (0600). Refuses (EX_NOPERM) a key file
 * readable or writable by group or others. */
int chatd_key_load(const chatd_paths *p, int create, uint8_t key[32], int *created, char *err,
                   size_t errlen);

/* Open (create) the database. */
int chatd_db_open(const chatd_paths *p, chatd_store **out, char *err, size_t errlen);

/* A verifier for password under the configured Argon2id limits. */
int chatd_make_verifier(const chatd_config *cfg, const char *password, size_t len,
                        chat_verifier *out, char *err, size_t errlen);

/* Read a new password: from pwfile if given, else on the terminal (asked
 * twice). EX_CONFIG when neither is possible. */
int chatd_read_new_password(const char *pwfile, const char *prompt, char *out, size_t cap,
                            size_t *len, char *err, size_t errlen);

/* With no admin account in the store, create `name` as admin with a
 * password from pwfile or the terminal. *created says whether it did. */
int chatd_bootstrap_admin(chatd_store *s, const chatd_config *cfg, const char *name,
                          const char *pwfile, int *created, char *err, size_t errlen);

#endif
