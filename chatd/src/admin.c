/* chatd's offline administration (see admin.h). */
#include "admin.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include <sodium.h>

#include "log.h"
#include "state.h"

static int errout(int rc, const char *err)
{
    fprintf(stderr, "chatd: %s\n", err);
    return rc;
}

int chatd_cmd_fingerprint(const chatd_config *cfg)
{
    char err[1024] = "";
    chatd_paths p;
    int rc = chatd_paths_resolve(cfg, &p, err, sizeof err);
    if (rc == EX_OK && !p.key_explicit)
        rc = chatd_state_dir_prepare(&p, err, sizeof err);
    if (rc != EX_OK)
        return errout(rc, err);
    uint8_t key[32];
    int created = 0;
    rc = chatd_key_load(&p, 1, key, &created, err, sizeof err);
    if (rc != EX_OK)
        return errout(rc, err);
    uint8_t pub[32];
    crypto_scalarmult_base(pub, key);
    sodium_memzero(key, sizeof key);
    char fp[CHAT_FINGERPRINT_LEN + 1];
    chat_fingerprint(fp, pub);
    if (created)
        fprintf(stderr, "chatd: generated a new server key in %s\n", p.key_file);
    printf("%s\n", fp);
    return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
}

/* Open the database of cfg's state directory. */
static int open_db(const chatd_config *cfg, chatd_store **st)
{
    char err[1024] = "";
    chatd_paths p;
    int rc = chatd_paths_resolve(cfg, &p, err, sizeof err);
    if (rc == EX_OK)
        rc = chatd_state_dir_prepare(&p, err, sizeof err);
    if (rc == EX_OK)
        rc = chatd_db_open(&p, st, err, sizeof err);
    if (rc != EX_OK)
        return errout(rc, err);
    return EX_OK;
}

static int check_name(const char *name, char folded[CHAT_NAME_MAX + 1])
{
    size_t n = strlen(name);
    if (!chat_valid_name((const uint8_t *)name, n)) {
        fprintf(stderr,
                "chatd: \"%.40s\" is not a valid user name (1 to 32 of a-z 0-9 . _ -, starting "
                "with a letter)\n",
                name);
        return EX_USAGE;
    }
    chat_name_fold(folded, (const uint8_t *)name, n);
    return EX_OK;
}

/* A new verifier from pwfile or the terminal. */
static int new_verifier(const chatd_config *cfg, const char *name, const char *pwfile,
                        chat_verifier *v)
{
    char pw[CHAT_PASSWORD_MAX + 2];
    size_t len = 0;
    char prompt[96], err[1024] = "";
    (void)snprintf(prompt, sizeof prompt, "New password for \"%s\": ", name);
    int rc = chatd_read_new_password(pwfile, prompt, pw, sizeof pw, &len, err, sizeof err);
    if (rc == EX_CONFIG)
        (void)snprintf(err, sizeof err,
                       "no terminal to ask for the password on: give it with --password-file "
                       "FILE (its first line)");
    if (rc == EX_OK)
        rc = chatd_make_verifier(cfg, pw, len, v, err, sizeof err);
    sodium_memzero(pw, sizeof pw);
    if (rc != EX_OK)
        return errout(rc == EX_CONFIG ? EX_USAGE : rc, err);
    return EX_OK;
}

int chatd_cmd_add_user(const chatd_config *cfg, const char *name, const char *role,
                       const char *pwfile)
{
    chat_account a;
    memset(&a, 0, sizeof a);
    int rc = check_name(name, a.name);
    if (rc != EX_OK)
        return rc;
    if (role == NULL || strcmp(role, "user") == 0)
        a.role = CHAT_ROLE_USER;
    else if (strcmp(role, "admin") == 0)
        a.role = CHAT_ROLE_ADMIN;
    else {
        fprintf(stderr, "chatd: --role must be \"user\" or \"admin\", not \"%.40s\"\n", role);
        return EX_USAGE;
    }
    chatd_store *st = NULL;
    if ((rc = open_db(cfg, &st)) != EX_OK)
        return rc;
    chat_store vt = chatd_store_vtable(st);
    chat_account old;
    int grc = vt.get(vt.ctx, a.name, &old);
    sodium_memzero(&old, sizeof old);
    if (grc == CHAT_OK) {
        fprintf(stderr, "chatd: the account \"%s\" already exists (change its password with "
                        "`chatd passwd %s`)\n",
                a.name, a.name);
        chatd_store_close(st);
        return EX_DATAERR;
    }
    if ((rc = new_verifier(cfg, a.name, pwfile, &a.verifier)) != EX_OK) {
        chatd_store_close(st);
        return rc;
    }
    int prc = vt.put(vt.ctx, &a, 1);
    sodium_memzero(&a.verifier, sizeof a.verifier);
    if (prc == CHAT_E_EXISTS) {
        fprintf(stderr, "chatd: the account \"%s\" already exists\n", a.name);
        rc = EX_DATAERR;
    } else if (prc != CHAT_OK) {
        fprintf(stderr, "chatd: cannot create the account: %s\n", chatd_store_last_error(st));
        rc = EX_IOERR;
    } else {
        fprintf(stderr, "chatd: created %s \"%s\"\n",
                a.role == CHAT_ROLE_ADMIN ? "admin" : "user", a.name);
        rc = EX_OK;
    }
    chatd_store_close(st);
    return rc;
}

int chatd_cmd_passwd(const chatd_config *cfg, const char *name, const char *pwfile)
{
    chat_account a;
    memset(&a, 0, sizeof a);
    char folded[CHAT_NAME_MAX + 1];
    int rc = check_name(name, folded);
    if (rc != EX_OK)
        return rc;
    chatd_store *st = NULL;
    if ((rc = open_db(cfg, &st)) != EX_OK)
        return rc;
    chat_store vt = chatd_store_vtable(st);
    int grc = vt.get(vt.ctx, folded, &a);
    if (grc != CHAT_OK) {
        if (grc == CHAT_E_NOTFOUND)
            fprintf(stderr, "chatd: no account \"%s\" (create it with `chatd add-user %s`)\n",
                    folded, folded);
        else
            fprintf(stderr, "chatd: %s\n", chatd_store_last_error(st));
        chatd_store_close(st);
        return grc == CHAT_E_NOTFOUND ? EX_DATAERR : EX_IOERR;
    }
    if ((rc = new_verifier(cfg, a.name, pwfile, &a.verifier)) != EX_OK) {
        sodium_memzero(&a, sizeof a);
        chatd_store_close(st);
        return rc;
    }
    int prc = vt.put(vt.ctx, &a, 0);
    sodium_memzero(&a.verifier, sizeof a.verifier);
    if (prc != CHAT_OK) {
        fprintf(stderr, "chatd: cannot change the password: %s\n",
                prc == CHAT_E_NOTFOUND ? "the account was deleted meanwhile"
                                       : chatd_store_last_error(st));
        rc = prc == CHAT_E_NOTFOUND ? EX_DATAERR : EX_IOERR;
    } else {
        fprintf(stderr, "chatd: changed the password of \"%s\"\n", a.name);
        rc = EX_OK;
    }
    chatd_store_close(st);
    return rc;
}

static int print_account(void *arg, const chat_account *a)
{
    (void)arg;
    printf("%s %s\n", a->name, a->role == CHAT_ROLE_ADMIN ? "admin" : "user");
    return 0;
}

int chatd_cmd_list_users(const chatd_config *cfg)
{
    chatd_store *st = NULL;
    int rc = open_db(cfg, &st);
    if (rc != EX_OK)
        return rc;
    chat_store vt = chatd_store_vtable(st);
    if (vt.list(vt.ctx, print_account, NULL) != CHAT_OK) {
        fprintf(stderr, "chatd: %s\n", chatd_store_last_error(st));
        rc = EX_IOERR;
    }
    chatd_store_close(st);
    if (fflush(stdout) != 0)
        rc = EX_IOERR;
    return rc;
}
