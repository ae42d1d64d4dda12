/* chatd's event loop: one thread, epoll, non-blocking sockets, over
 * libchat's hub (chat/hub.h). The loop owns the sockets, the signals
 * (signalfd) and the front-end limits; every protocol decision is the
 * hub's.
 *
 * Each iteration: wait for readiness (the timeout is the earliest of the
 * hub's deadline and the front-end's own); read everything ready and feed
 * it to the hub; run the hub's timers; then flush each connection the hub
 * marked dirty once (one send of everything sealed for it), keeping
 * EPOLLOUT only while output is pending; then log the hub's events.
 *
 * A connection the hub closed is drained (its GOODBYE written) for at most
 * drain_timeout, then its write side is shut and its input read and
 * discarded briefly (a lingering close, so the peer sees the GOODBYE and a
 * FIN rather than a reset). */
#ifndef CHATD_LOOP_H
#define CHATD_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct chatd_server chatd_server;

/* Re-read the configuration for SIGHUP into *out; 0 or -1 with err set. */
typedef int (*chatd_reload_fn)(void *ctx, chatd_config *out, char *err, size_t errlen);

typedef struct chatd_server_params {
    const chatd_config *cfg;  /* copied */
    const uint8_t *key;       /* 32-byte server key (copied into the hub) */
    chat_store store;
    const char *port_file;    /* written once listening, or NULL */
    chatd_reload_fn reload;   /* may be NULL */
    void *reload_ctx;
} chatd_server_params;

/* Block the signals chatd handles (call before any other thread or child
 * could exist: at the start of main). */
void chatd_signals_block(void);

/* Listen, create the hub. A sysexits code; err says what failed. */
int chatd_server_new(chatd_server **out, const chatd_server_params *p, char *err, size_t errlen);

/* Run until shutdown (SIGTERM, SIGINT or the admin SHUTDOWN). A sysexits
 * code: EX_OK after a clean shutdown. */
int chatd_server_run(chatd_server *s);

/* Close every socket, free the hub (wiping its keys). */
void chatd_server_free(chatd_server *s);

#endif
