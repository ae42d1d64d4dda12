/* Password input (see password.h). */
#include "password.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

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

static volatile sig_atomic_t g_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

static void tty_puts(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR && !g_interrupted)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* One line from fd into out; PW_OK, PW_E_TOOLONG (the rest of the line is
 * consumed), PW_E_INTR, PW_E_IO. */
static int read_line(int fd, char *out, size_t cap, size_t *len)
{
    size_t n = 0;
    int too_long = 0;
    for (;;) {
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r < 0 && errno == EINTR) {
            if (g_interrupted)
                return PW_E_INTR;
            continue;
        }
        if (r < 0)
            return PW_E_IO;
        if (r == 0) {
            if (n == 0 && !too_long)
                return PW_E_IO; /* end of input before anything */
            break;
        }
        if (ch == '\n')
            break;
        if (n + 1 < cap && n < CHAT_PASSWORD_MAX)
            out[n++] = ch;
        else
            too_long = 1;
    }
    if (n > 0 && out[n - 1] == '\r')
        n--;
    out[n] = '\0';
    *len = n;
    return too_long ? PW_E_TOOLONG : PW_OK;
}

int chatd_password_from_tty(const char *prompt, int confirm, char *out, size_t cap, size_t *len,
                            char *err, size_t errlen)
{
    *len = 0;
    out[0] = '\0';
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return fail(err, errlen, PW_E_NOTTY, "no terminal to ask for the password on", NULL);
    struct termios saved, quiet;
    if (tcgetattr(fd, &saved) != 0) {
        close(fd);
        return fail(err, errlen, PW_E_NOTTY, "no terminal to ask for the password on", NULL);
    }
    g_interrupted = 0;
    struct sigaction sa, old[4];
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: read() returns EINTR */
    sigemptyset(&sa.sa_mask);
    static const int sigs[4] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (int i = 0; i < 4; i++)
        (void)sigaction(sigs[i], &sa, &old[i]);
    struct sigaction ign, old_tstp;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    (void)sigaction(SIGTSTP, &ign, &old_tstp);

    quiet = saved;
    quiet.c_lflag &= (tcflag_t) ~(ECHO | ECHOE | ECHOK | ECHONL);
    quiet.c_lflag |= ICANON;
    int rc = PW_OK;
    if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0)
        rc = fail(err, errlen, PW_E_IO, "cannot turn off echo on the terminal", NULL);

    char again[CHAT_PASSWORD_MAX + 2];
    for (int round = 0; rc == PW_OK && round < 3; round++) {
        tty_puts(fd, prompt);
        rc = read_line(fd, out, cap, len);
        tty_puts(fd, "\n");
        if (rc == PW_OK && *len == 0)
            rc = fail(err, errlen, PW_E_EMPTY, "the password must not be empty", NULL);
        if (rc == PW_E_TOOLONG)
            (void)fail(err, errlen, rc, "the password is longer than 1024 bytes", NULL);
        if (rc == PW_E_EMPTY || rc == PW_E_TOOLONG) {
            if (round < 2) {
                tty_puts(fd, rc == PW_E_EMPTY ? "The password must not be empty. Try again.\n"
                                              : "The password is too long. Try again.\n");
                rc = PW_OK;
                continue;
            }
            break;
        }
        if (rc != PW_OK || !confirm)
            break;
        size_t len2 = 0;
        tty_puts(fd, "Again: ");
        rc = read_line(fd, again, sizeof again, &len2);
        tty_puts(fd, "\n");
        if (rc != PW_OK)
            break;
        int same = len2 == *len && sodium_memcmp(again, out, *len) == 0;
        sodium_memzero(again, sizeof again);
        if (same)
            break;
        rc = PW_E_MISMATCH;
        if (round < 2) {
            tty_puts(fd, "The passwords do not match. Try again.\n");
            rc = PW_OK;
            continue;
        }
        (void)fail(err, errlen, rc, "the passwords did not match", NULL);
    }
    sodium_memzero(again, sizeof again);
    if (rc == PW_E_INTR)
        (void)fail(err, errlen, rc, "interrupted", NULL);
    else if (rc == PW_E_IO && err != NULL && err[0] == '\0')
        (void)fail(err, errlen, rc, "cannot read the password from the terminal", NULL);
    (void)tcsetattr(fd, TCSAFLUSH, &saved);
    for (int i = 0; i < 4; i++)
        (void)sigaction(sigs[i], &old[i], NULL);
    (void)sigaction(SIGTSTP, &old_tstp, NULL);
    close(fd);
    if (rc != PW_OK) {
        sodium_memzero(out, cap);
        *len = 0;
    }
    return rc;
}
