/* Reading a password for chatd's own use (the first admin account, and the
 * add-user and passwd subcommands): from the terminal without echo, or the
 * first line of a file. Buffers are the caller's; wipe them with
 * sodium_memzero. */
#ifndef CHATD_PASSWORD_H
#define CHATD_PASSWORD_H

#include <stddef.h>

enum {
    PW_OK = 0,
    PW_E_NOTTY = -1,    /* no terminal to ask on */
    PW_E_IO = -2,       /* reading failed */
    PW_E_EMPTY = -3,    /* the password is empty */
    PW_E_TOOLONG = -4,  /* longer than the buffer / CHAT_PASSWORD_MAX */
    PW_E_MISMATCH = -5, /* the two entries differed (every try) */
    PW_E_INTR = -6,     /* interrupted (Ctrl-C) */
    PW_E_NOENT = -7     /* the file does not exist */
};

/* The first line of path, without its line break, into out (capacity cap;
 * NUL-terminated); *len is its length. */
int chatd_password_from_file(const char *path, char *out, size_t cap, size_t *len, char *err,
                             size_t errlen);

/* Ask on /dev/tty with echo off. With confirm, ask twice and retry (at
 * most three rounds) until both entries match. */
int chatd_password_from_tty(const char *prompt, int confirm, char *out, size_t cap, size_t *len,
                            char *err, size_t errlen);

#endif
