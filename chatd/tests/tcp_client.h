/* A small blocking TCP client for chatd's end-to-end tests: libchat's
 * client session over a socket to 127.0.0.1, with every event recorded as
 * a line in the format of common/eventfmt.h (chatc's line mode). */
#ifndef CHATD_TCP_CLIENT_H
#define CHATD_TCP_CLIENT_H

#include <stddef.h>

#include "chat/chat.h"

typedef struct tc tc;

/* Connect to 127.0.0.1:port and start a session as user (the server key is
 * accepted, challenges are answered with password). rcvbuf > 0 sets
 * SO_RCVBUF before connecting. NULL if the connection fails. */
tc *tc_new(unsigned port, const char *user, const char *password, int rcvbuf);
void tc_free(tc *t);

/* Move bytes both ways and handle events for up to timeout_ms (returns as
 * soon as something arrived once the socket has been drained). 0, or -1
 * once the socket is closed. */
int tc_pump(tc *t, int timeout_ms);

/* Pump until the next line starting with prefix (lines before it are
 * consumed); the line, or NULL after timeout_ms. The line is valid until
 * the client is freed. */
const char *tc_wait(tc *t, const char *prefix, int timeout_ms);

/* Pump until "welcome" (0) or a failure/close line (-1). */
int tc_login(tc *t, int timeout_ms);

/* Pump until every queued output is written and nothing more arrives for
 * a moment (settle_ms). */
void tc_settle(tc *t, int settle_ms);

/* Write everything the session has queued (after a request). */
void tc_flush(tc *t);

chat_client *tc_client(tc *t);
int tc_fd(const tc *t);
void tc_set_password(tc *t, const char *password);
/* "SHA256:..." of the server key seen, "" before it. */
const char *tc_fingerprint(const tc *t);
/* Print every recorded line (for failing tests). */
void tc_dump(const tc *t, const char *who);
/* 1 once the session is closed (GOODBYE, EOF, or error). */
int tc_closed(const tc *t);

#endif
