/* chatc's terminal interface: the login on the terminal (server key
 * question, password without echo), then the ncurses (wide-character)
 * screen: windows, message pane, nick list, status bar, input line. */
#ifndef CHATC_UI_H
#define CHATC_UI_H

#include "config.h"
#include "session.h"

typedef struct ui_opts {
    const chatc_config *cfg;
    const char *history_path; /* input history file, or NULL */
} ui_opts;

/* Install the interface's session_ops in s, connect, log in on the
 * terminal, then run the screen until the user leaves or the session ends
 * for good. Returns the exit status. */
int ui_run(session *s, const ui_opts *o);

#endif
