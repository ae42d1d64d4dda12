/* Formatting of libchat client events as single text lines. */
#ifndef CHAT_EVENTFMT_H
#define CHAT_EVENTFMT_H

#include <stddef.h>

#include "chat/chat.h"

/* Format ev as one line without a trailing newline into out (always
 * NUL-terminated; truncated to cap). The format is chatc's line mode,
 * documented in chatc(1) (LINE MODE): the event's kind first, then its
 * fields. Names, codes and texts come from the wire, which libchat has
 * already validated (no control characters); texts are escaped for display
 * anyway (sanitize.h), so a line never holds a control character and the
 * MOTD's line breaks show as "^J". */
void chat_event_format(const chat_client_event *ev, char *out, size_t cap);

#endif
