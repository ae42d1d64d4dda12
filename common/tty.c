/* Questions on the controlling terminal. See tty.h. */
#include "tty.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

static int open_tty(void)
{
    return open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
}

int tty_available(void)
{
    int fd = open_tty();
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

int tty_print(const char *text)
{
    int fd = open_tty();
    if (fd < 0)
        return TTY_E_NOTTY;
    int rc = write_all(fd, text, strlen(text)) == 0 ? TTY_OK : TTY_E_IO;
    close(fd);
    return rc;
}

/* Read one byte; 1, 0 at EOF, -1 on error. */
static int read_byte(int fd, unsigned char *c)
{
    for (;;) {
        ssize_t r = read(fd, c, 1);
        if (r == 1)
            return 1;
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

int tty_read_password(const char *prompt, char *buf, size_t cap, size_t *len)
{
    if (buf == NULL || cap == 0)
        return TTY_E_IO;
    buf[0] = '\0';
    if (len != NULL)
        *len = 0;
    int fd = open_tty();
    if (fd < 0)
        return TTY_E_NOTTY;
    struct termios old, raw;
    if (tcgetattr(fd, &old) != 0) {
        close(fd);
        return TTY_E_NOTTY;
    }
    raw = old;
    /* Byte by byte, no echo, and Ctrl-C read as a byte: this code handles
     * it, so the terminal is always restored. */
    raw.c_lflag &= (tcflag_t) ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    raw.c_iflag &= (tcflag_t) ~(ICRNL | INLCR | IGNCR);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    /* Echo off first, then the prompt: TCSAFLUSH discards what was typed
     * before the switch, so the prompt must not invite typing earlier. */
    if (tcsetattr(fd, TCSAFLUSH, &raw) != 0) {
        close(fd);
        return TTY_E_IO;
    }
    if (prompt != NULL && write_all(fd, prompt, strlen(prompt)) != 0) {
        (void)tcsetattr(fd, TCSAFLUSH, &old);
        close(fd);
        return TTY_E_IO;
    }
    size_t n = 0;
    int rc = TTY_OK;
    for (;;) {
        unsigned char c;
        int r = read_byte(fd, &c);
        if (r <= 0) {
            rc = r == 0 ? TTY_E_EOF : TTY_E_IO;
            break;
        }
        if (c == '\r' || c == '\n')
            break;
        if (c == old.c_cc[VINTR]) {
            rc = TTY_E_INTR;
            break;
        }
        if (c == old.c_cc[VEOF] && n == 0) {
            rc = TTY_E_EOF;
            break;
        }
        if (c == old.c_cc[VERASE] || c == 0x7F || c == 0x08) {
            /* Drop one UTF-8 character. */
            while (n > 0 && (((unsigned char)buf[n - 1]) & 0xC0) == 0x80)
                n--;
            if (n > 0)
                n--;
            continue;
        }
        if (c == old.c_cc[VKILL] || c == 0x15) {
            n = 0;
            continue;
        }
        if (n + 1 >= cap) {
            rc = TTY_E_TOOBIG;
            /* Swallow the rest of the line so it does not leak elsewhere. */
            while (read_byte(fd, &c) == 1 && c != '\r' && c != '\n')
                ;
            break;
        }
        buf[n++] = (char)c;
    }
    (void)tcsetattr(fd, TCSAFLUSH, &old);
    (void)write_all(fd, "\n", 1);
    close(fd);
    if (rc != TTY_OK) {
        sodium_memzero(buf, cap);
        return rc;
    }
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return TTY_OK;
}

int tty_ask(const char *prompt, char *buf, size_t cap)
{
    if (buf == NULL || cap == 0)
        return TTY_E_IO;
    buf[0] = '\0';
    int fd = open_tty();
    if (fd < 0)
        return TTY_E_NOTTY;
    if (prompt != NULL && write_all(fd, prompt, strlen(prompt)) != 0) {
        close(fd);
        return TTY_E_IO;
    }
    size_t n = 0;
    int rc = TTY_OK, got = 0;
    for (;;) {
        unsigned char c;
        int r = read_byte(fd, &c);
        if (r <= 0) {
            rc = r == 0 && got ? TTY_OK : (r == 0 ? TTY_E_EOF : TTY_E_IO);
            break;
        }
        got = 1;
        if (c == '\n')
            break;
        if (n + 1 >= cap) {
            rc = TTY_E_TOOBIG;
            while (read_byte(fd, &c) == 1 && c != '\n')
                ;
            break;
        }
        buf[n++] = (char)c;
    }
    close(fd);
    while (n > 0 && (buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    buf[rc == TTY_OK ? n : 0] = '\0';
    return rc;
}
