/* chatc's line mode, for scripts, bots and tests: commands and messages
 * come from stdin one per line, events go to stdout one per line in the
 * stable format of chatc(1) ("LINE MODE"). No prompts: the server key is
 * decided by --trust, the password comes from --password-file. */
#ifndef CHATC_LINEMODE_H
#define CHATC_LINEMODE_H

#include "session.h"

typedef struct linemode_opts {
    const char *room; /* --room: join it once logged in and make it the target */
} linemode_opts;

/* Install line mode's session_ops in s, connect, and run until the
 * session is over (stdin's end, /quit, or the server's). Returns the exit
 * status. */
int linemode_run(session *s, const linemode_opts *o);

#endif
