/* chatd's files and the first admin account (see state.h). */
#include "state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

#include <sodium.h>

#include "keyfile.h"
#include "log.h"
#include "password.h"

/* The first entry of a systemd directory variable (a colon-separated list),
 * or NULL. */
static int first_env_dir(const char *var, char *out, size_t outlen)
{
    const char *v = getenv(var);
    if (v == NULL || v[0] != '/')
        return -1;
    size_t n = strcspn(v, ":");
    if (n >= outlen)
        return -1;
    memcpy(out, v, n);
    out[n] = '\0';
    return 0;
}

int chatd_default_config_path(char *out, size_t outlen, char *err, size_t errlen)
{
    char dir[FU_PATH_MAX];
    if (first_env_dir("CONFIGURATION_DIRECTORY", dir, sizeof dir) != 0 &&
        fu_xdg_dir(FU_XDG_CONFIG, "chatd", dir, sizeof dir, err, errlen) != FU_OK)
        return EX_CONFIG;
    return fu_join(out, outlen, dir, "chatd.conf", err, errlen) == FU_OK ? EX_OK : EX_CONFIG;
}

int chatd_paths_resolve(const chatd_config *cfg, chatd_paths *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    if (cfg->state_dir[0] != '\0') {
        if (strlen(cfg->state_dir) >= sizeof p->state_dir) {
            (void)snprintf(err, errlen, "state directory path too long");
            return EX_CONFIG;
        }
        memcpy(p->state_dir, cfg->state_dir, strlen(cfg->state_dir) + 1);
    } else if (first_env_dir("STATE_DIRECTORY", p->state_dir, sizeof p->state_dir) != 0 &&
               fu_xdg_dir(FU_XDG_STATE, "chatd", p->state_dir, sizeof p->state_dir, err,
                          errlen) != FU_OK) {
        return EX_CONFIG;
    }
    if (cfg->key_file[0] != '\0') {
        memcpy(p->key_file, cfg->key_file, strlen(cfg->key_file) + 1);
        p->key_explicit = 1;
    } else if (fu_join(p->key_file, sizeof p->key_file, p->state_dir, CHATD_KEY_NAME, err,
                       errlen) != FU_OK) {
        return EX_CONFIG;
    }
    if (fu_join(p->db_file, sizeof p->db_file, p->state_dir, CHATD_DB_NAME, err, errlen) != FU_OK)
        return EX_CONFIG;
    return EX_OK;
}

int chatd_state_dir_prepare(const chatd_paths *p, char *err, size_t errlen)
{
    int rc = fu_mkdir_p(p->state_dir, 0700, err, errlen);
    if (rc != FU_OK)
        return rc == FU_E_INVAL ? EX_CONFIG : EX_CANTCREAT;
    struct stat st;
    if (stat(p->state_dir, &st) == 0 && (st.st_mode & 0077) != 0)
        log_warn("state-dir-permissions path=%s mode=%04o hint=\"chmod 700 %s\"", p->state_dir,
                 (unsigned)(st.st_mode & 07777), p->state_dir);
    return EX_OK;
}

int chatd_key_load(const chatd_paths *p, int create, uint8_t key[32], int *created, char *err,
                   size_t errlen)
{
    int made = 0;
    int rc;
    if (create && !p->key_explicit)
        rc = kf_load_or_create(p->key_file, key, &made, err, errlen);
    else
        rc = kf_load(p->key_file, key, err, errlen);
    if (created != NULL)
        *created = made;
    switch (rc) {
    case KF_OK:
        return EX_OK;
    case KF_E_PERM:
        return EX_NOPERM;
    case KF_E_NOENT:
        if (!p->key_explicit) {
            size_t n = strlen(err);
            (void)snprintf(err + n, errlen - n,
                           " (no server key yet: start chatd once to generate it)");
        }
        return EX_NOINPUT;
    case KF_E_FORMAT:
        return EX_DATAERR;
    case KF_E_EXISTS:
    case KF_E_IO:
    default:
        return made || create ? EX_CANTCREAT : EX_IOERR;
    }
}

int chatd_db_open(const chatd_paths *p, chatd_store **out, char *err, size_t errlen)
{
    int rc = chatd_store_open(out, p->db_file, err, errlen);
    if (rc == CHAT_OK)
        return EX_OK;
    return rc == CHAT_E_NOMEM ? EX_OSERR : EX_IOERR;
}

int chatd_make_verifier(const chatd_config *cfg, const char *password, size_t len,
                        chat_verifier *out, char *err, size_t errlen)
{
    chat_rng rng = {NULL, NULL};
    int rc = chat_verifier_make(out, (const uint8_t *)password, len, cfg->min_opslimit,
                                cfg->min_memlimit_kib, rng);
    if (rc == CHAT_OK)
        return EX_OK;
    (void)snprintf(err, errlen, "cannot derive the password verifier: %s", chat_strerror(rc));
    return rc == CHAT_E_NOMEM ? EX_OSERR : EX_DATAERR;
}

int chatd_read_new_password(const char *pwfile, const char *prompt, char *out, size_t cap,
                            size_t *len, char *err, size_t errlen)
{
    int rc;
    if (pwfile != NULL) {
        rc = chatd_password_from_file(pwfile, out, cap, len, err, errlen);
        switch (rc) {
        case PW_OK:
            return EX_OK;
        case PW_E_NOENT:
            return EX_NOINPUT;
        case PW_E_IO:
            return EX_IOERR;
        default:
            return EX_DATAERR;
        }
    }
    rc = chatd_password_from_tty(prompt, 1, out, cap, len, err, errlen);
    switch (rc) {
    case PW_OK:
        return EX_OK;
    case PW_E_NOTTY:
        return EX_CONFIG;
    case PW_E_IO:
        return EX_IOERR;
    case PW_E_INTR:
        return EX_TEMPFAIL;
    default:
        return EX_DATAERR;
    }
}

int chatd_bootstrap_admin(chatd_store *s, const chatd_config *cfg, const char *name,
                          const char *pwfile, int *created, char *err, size_t errlen)
{
    *created = 0;
    size_t nadmins = 0;
    if (chatd_store_count_admins(s, &nadmins) != CHAT_OK) {
        (void)snprintf(err, errlen, "%s", chatd_store_last_error(s));
        return EX_IOERR;
    }
    if (nadmins > 0)
        return EX_OK;
    size_t nlen = strlen(name);
    if (!chat_valid_name((const uint8_t *)name, nlen)) {
        (void)snprintf(err, errlen,
                       "admin name \"%.40s\" is not a valid user name (1 to 32 of a-z 0-9 . _ -, "
                       "starting with a letter)",
                       name);
        return EX_USAGE;
    }
    chat_account a;
    memset(&a, 0, sizeof a);
    chat_name_fold(a.name, (const uint8_t *)name, nlen);
    chat_store st = chatd_store_vtable(s);
    chat_account existing;
    int grc = st.get(st.ctx, a.name, &existing);
    sodium_memzero(&existing, sizeof existing);
    if (grc == CHAT_OK) {
        (void)snprintf(err, errlen,
                       "there is no admin account, and the account \"%s\" exists as a plain "
                       "user: create an admin with `chatd add-user NAME --role admin` or choose "
                       "another name with --admin NAME",
                       a.name);
        return EX_CONFIG;
    }
    if (grc != CHAT_E_NOTFOUND) {
        (void)snprintf(err, errlen, "%s", chatd_store_last_error(s));
        return EX_IOERR;
    }

    char pw[CHAT_PASSWORD_MAX + 2];
    size_t pwlen = 0;
    char prompt[128];
    (void)snprintf(prompt, sizeof prompt, "No admin account yet. New password for \"%s\": ",
                   a.name);
    char why[512];
    int rc = chatd_read_new_password(pwfile, prompt, pw, sizeof pw, &pwlen, why, sizeof why);
    if (rc == EX_CONFIG) {
        (void)snprintf(err, errlen,
                       "there is no admin account and no terminal to ask for its password: "
                       "give one with --admin-password-file FILE, or create it first with "
                       "`chatd add-user %s --role admin --password-file FILE`",
                       a.name);
        return rc;
    }
    if (rc != EX_OK) {
        (void)snprintf(err, errlen, "admin password: %s", why);
        sodium_memzero(pw, sizeof pw);
        return rc;
    }
    a.role = CHAT_ROLE_ADMIN;
    rc = chatd_make_verifier(cfg, pw, pwlen, &a.verifier, err, errlen);
    sodium_memzero(pw, sizeof pw);
    if (rc != EX_OK)
        return rc;
    int prc = st.put(st.ctx, &a, 1);
    sodium_memzero(&a.verifier, sizeof a.verifier);
    if (prc != CHAT_OK) {
        (void)snprintf(err, errlen, "cannot create the admin account: %s",
                       prc == CHAT_E_EXISTS ? "it was created meanwhile"
                                            : chatd_store_last_error(s));
        return prc == CHAT_E_EXISTS ? EX_TEMPFAIL : EX_IOERR;
    }
    *created = 1;
    return EX_OK;
}
