/* Signals for chatc's loops: SIGINT (line mode), SIGTERM and SIGHUP ask to
 * leave cleanly. The handler sets a flag and writes a byte to a pipe that
 * the loops poll (sig_fd), so a signal that arrives outside poll is not
 * missed until the next timeout. SIGPIPE is ignored (write errors are
 * handled where they happen). SIGWINCH is left to ncurses, which turns it
 * into KEY_RESIZE. */
#ifndef CHATC_SIG_H
#define CHATC_SIG_H

/* 0, or -1 if the pipe cannot be made. */
int sig_setup(int catch_int);
/* The pipe to poll for reading (-1 before sig_setup). */
int sig_fd(void);
/* The signal that asked to quit (0 if none), cleared; drains the pipe. */
int sig_take_quit(void);

#endif
