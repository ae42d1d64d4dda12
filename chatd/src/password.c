/* Password input (see password.h). */
#include "password.h"
#include "tty.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "chat/chat.h"
#include "fileutil.h"

static int fail(char *err, size_t errlen, int code, const char *msg, const char *path)
{
    if (err != NULL && errlen > 0) {
        if (path != NULL)
            (void)snprintf(err, errlen, "password file %s: %s", path, msg);
        else
            (void)snprintf(err, errlen, "%s", msg);
    }
    return code;
}

int chatd_password_from_file(const char *path, char *out, size_t cap, size_t *len, char *err,
                             size_t errlen)
{
    char *text = NULL;
    size_t n = 0;
    char ferr[512];
    *len = 0;
    out[0] = '\0';
    int rc = fu_read_file_alloc(path, 64 * 1024, &text, &n, 0, ferr, sizeof ferr);
    if (rc != FU_OK) {
        if (err != NULL)
            (void)snprintf(err, errlen, "password file: %s", ferr);
        return rc == FU_E_NOENT ? PW_E_NOENT : PW_E_IO;
    }
    size_t line = strcspn(text, "\n");
    if (line > 0 && text[line - 1] == '\r')
        line--;
    if (line == 0)
        rc = fail(err, errlen, PW_E_EMPTY, "the first line is empty", path);
    else if (line > CHAT_PASSWORD_MAX || line + 1 > cap)
        rc = fail(err, errlen, PW_E_TOOLONG,
                  "the password is longer than 1024 bytes", path);
    else {
        memcpy(out, text, line);
        out[line] = '\0';
        *len = line;
        rc = PW_OK;
    }
    fu_free_wipe(text, n + 1);
    return rc;
}

/* The terminal's answer as a PW_* code. */
static int from_tty_code(int rc)
{
    switch (rc) {
    case TTY_OK:
        return PW_OK;
    case TTY_E_NOTTY:
        return PW_E_NOTTY;
    case TTY_E_TOOBIG:
        return PW_E_TOOLONG;
    case TTY_E_INTR:
        return PW_E_INTR;
    default:
        return PW_E_IO;
    }
}

int chatd_password_from_tty(const char *prompt, int confirm, char *out, size_t cap, size_t *len,
                            char *err, size_t errlen)
{
    *len = 0;
    out[0] = '\0';
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (!tty_available())
        return fail(err, errlen, PW_E_NOTTY, "no terminal to ask for the password on", NULL);
    /* No more than the protocol's longest password, plus its NUL. */
    size_t limit = cap < CHAT_PASSWORD_MAX + 1 ? cap : CHAT_PASSWORD_MAX + 1;
    char again[CHAT_PASSWORD_MAX + 1];
    int rc = PW_OK;
    for (int round = 0; round < 3; round++) {
        rc = from_tty_code(tty_read_password(prompt, out, limit, len));
        if (rc == PW_OK && *len == 0)
            rc = PW_E_EMPTY;
        if (rc == PW_E_EMPTY || rc == PW_E_TOOLONG) {
            if (round < 2) {
                (void)tty_print(rc == PW_E_EMPTY ? "The password must not be empty. Try again.\n"
                                                 : "The password is too long. Try again.\n");
                continue;
            }
            (void)fail(err, errlen, rc,
                       rc == PW_E_EMPTY ? "the password must not be empty"
                                        : "the password is longer than 1024 bytes",
                       NULL);
            break;
        }
        if (rc != PW_OK || !confirm)
            break;
        size_t len2 = 0;
        rc = from_tty_code(tty_read_password("Again: ", again, sizeof again, &len2));
        if (rc != PW_OK)
            break;
        int same = len2 == *len && sodium_memcmp(again, out, *len) == 0;
        sodium_memzero(again, sizeof again);
        if (same)
            break;
        rc = PW_E_MISMATCH;
        if (round < 2) {
            (void)tty_print("The passwords do not match. Try again.\n");
            continue;
        }
        (void)fail(err, errlen, rc, "the passwords did not match", NULL);
    }
    sodium_memzero(again, sizeof again);
    if (rc == PW_E_INTR)
        (void)fail(err, errlen, rc, "interrupted", NULL);
    else if (rc == PW_E_NOTTY)
        (void)fail(err, errlen, rc, "no terminal to ask for the password on", NULL);
    else if (rc == PW_E_IO && err != NULL && err[0] == '\0')
        (void)fail(err, errlen, rc, "cannot read the password from the terminal", NULL);
    if (rc != PW_OK) {
        sodium_memzero(out, cap);
        *len = 0;
    }
    return rc;
}
