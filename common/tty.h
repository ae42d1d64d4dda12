/* Questions on the controlling terminal (/dev/tty), for the moments before a
 * front-end has a user interface of its own: a password without echo, or a
 * plain answer (yes/no, a fingerprint). Reading /dev/tty rather than stdin
 * keeps a password out of pipes and redirections.
 *
 * Functions return TTY_OK (0) or a negative TTY_E_* code. */
#ifndef CHAT_TTY_H
#define CHAT_TTY_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    TTY_OK = 0,
    TTY_E_NOTTY = -1,  /* no controlling terminal */
    TTY_E_IO = -2,     /* reading or writing it failed */
    TTY_E_EOF = -3,    /* end of input (Ctrl-D) before a line */
    TTY_E_TOOBIG = -4, /* the line did not fit the buffer (it is wiped) */
    TTY_E_INTR = -5    /* interrupted (Ctrl-C) */
};

/* 1 if a controlling terminal can be opened. */
int tty_available(void);

/* Print prompt on the terminal and read one line with echo off into buf
 * (capacity cap; NUL-terminated, without the newline); *len its length.
 * The terminal's settings are restored afterwards, also on Ctrl-C (which
 * returns TTY_E_INTR). On any failure buf is wiped. */
int tty_read_password(const char *prompt, char *buf, size_t cap, size_t *len);

/* Same with echo on: for answers that are not secret. */
int tty_ask(const char *prompt, char *buf, size_t cap);

/* Write text to the terminal (for warnings that must reach the user even
 * when stdout and stderr are redirected). */
int tty_print(const char *text);

#ifdef __cplusplus
}
#endif
#endif
