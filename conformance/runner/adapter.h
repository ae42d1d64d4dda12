/* The adapter interface: how the runner reaches the implementation under
 * test (docs/TRANSCRIPTS.md §9).
 *
 * Whatever the role of the implementation, the runner sees connections
 * as byte pipes to it:
 *  - testing a server, each client actor's `connect` opens a pipe to the
 *    server and the runner plays the client (cf_wpeer) on its end;
 *  - testing a client, `connect` makes the client under test start a
 *    connection whose other end the runner holds (and plays the server
 *    on, or replays a known-answer server), and the client's own reports
 *    (events) and the commands a user would give it go through
 *    command/event.
 *
 * Adapters: in-process (libchat linked in, injected randomness and a
 * virtual clock), TCP (a server at host:port) and shim (a foreign
 * implementation driven through a control protocol) share this vtable. */
#ifndef CF_ADAPTER_H
#define CF_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "rng.h"
#include "transcript.h"
#include "util.h"

/* Capabilities. A transcript needing one an adapter lacks is skipped. */
#define CF_CAP_SERVER 0x001u   /* can test a server */
#define CF_CAP_CLIENT 0x002u   /* can test a client */
#define CF_CAP_KAT 0x004u      /* fixes static keys, random draws and time */
#define CF_CAP_CLOCK 0x008u    /* time steps move the implementation's clock */
#define CF_CAP_CONFIG 0x010u   /* applies @server settings */
#define CF_CAP_ACCOUNTS 0x020u /* creates @account accounts */
#define CF_CAP_ADDR 0x040u     /* gives actors distinct peer addresses (addr=) */
#define CF_CAP_INSTANT 0x080u  /* everything settles synchronously: no real waiting */
#define CF_CAP_FAULTS 0x100u   /* can make the server's account store fail (fault steps) */
#define CF_CAP_SCALED 0x200u   /* time steps run in real time: the implementation's timeouts
                                * are divided by cf_setup.time_scale and the runner waits
                                * time steps out, as many times faster (TRANSCRIPTS.md §10) */
#define CF_CAP_LAST CF_CAP_SCALED

/* Names of capabilities for @requires and reports. */
const char *cf_cap_name(unsigned cap);
unsigned cf_cap_by_name(const char *name);

typedef struct cf_conn cf_conn; /* adapter-owned */

/* Per-transcript setup. */
typedef struct cf_setup {
    const cf_transcript *t;
    unsigned role;   /* CF_ROLE_SERVER or CF_ROLE_CLIENT: the implementation's role */
    cf_rngsrc *rng;  /* randomness for everything the adapter creates */
    uint64_t mono0, wall0;
    /* CF_CAP_SCALED adapters: time runs this many times faster than the
     * transcript's clock (1: as it is); the implementation's timeouts
     * must be divided by it. */
    uint32_t time_scale;
} cf_setup;

/* Commands to a client under test. */
enum { CF_CMD_LOGIN = 1, CF_CMD_REQUEST, CF_CMD_QUIT, CF_CMD_PASSWD, CF_CMD_ADD_USER };

typedef struct cf_cmd {
    int kind;
    const char *user;    /* LOGIN, ADD_USER */
    const uint8_t *pass; /* LOGIN: the password; PASSWD, ADD_USER: the new password, from
                          * which the client derives the verifier (salt from its rng) */
    size_t pass_len;
    uint32_t opslimit, memlimit_kib; /* PASSWD, ADD_USER */
    uint8_t role;        /* ADD_USER */
    const uint8_t *msg;  /* REQUEST: an encoded message [u16 len][type][body] */
    size_t msg_len;
    const uint8_t *text; /* QUIT */
    size_t text_len;
} cf_cmd;

#define CF_EOF (-2)

typedef struct cf_open {
    int actor;
    const char *user;
    const uint8_t *pass; /* NULL: none */
    size_t pass_len;
} cf_open;

#define CF_BEGIN_SKIP 1

typedef struct cf_adapter_ops {
    const char *name;
    unsigned (*caps)(void *self);
    /* Prepare for one transcript (accounts, configuration, keys). 0, -1 on
     * error (the transcript fails), or CF_BEGIN_SKIP when this adapter
     * cannot run it (err says why; the transcript is skipped). */
    int (*begin)(void *self, const cf_setup *s, char *err, size_t cap);
    /* Tear down everything begin and the run created. */
    void (*end)(void *self);
    /* Open a connection for client actor o->actor (see above). A client
     * under test logs in as o->user with o->pass. */
    int (*open)(void *self, const cf_open *o, cf_conn **c, char *err, size_t cap);
    /* Bytes from the runner's end into the pipe. */
    int (*send)(void *self, cf_conn *c, const uint8_t *p, size_t n);
    /* Bytes the implementation wrote, appended to `into` (at most max).
     * Returns the count (0: nothing within timeout_ms), or CF_EOF once the
     * implementation closed its end and everything was read. */
    int (*recv)(void *self, cf_conn *c, cf_buf *into, size_t max, uint32_t timeout_ms);
    /* The runner closes its end (no more sends; the implementation sees EOF). */
    void (*close)(void *self, cf_conn *c);
    /* Client under test: a command as its user would give it. */
    int (*command)(void *self, cf_conn *c, const cf_cmd *cmd, char *err, size_t cap);
    /* Client under test: its next report. 1 and *ev, or 0 when none came
     * within timeout_ms. */
    int (*event)(void *self, cf_conn *c, cf_event *ev, uint32_t timeout_ms);
    /* Move the implementation's clock (CF_CAP_CLOCK). */
    int (*advance)(void *self, uint64_t ms);
    /* Make the server's account store fail (on) or work (CF_CAP_FAULTS). */
    int (*fault)(void *self, const char *what, int on);
    void (*destroy)(void *self);
    /* After a run that began, before end: did the implementation finish
     * cleanly? 0; -1 and err (the transcript fails, e.g. the process under
     * test crashed or leaked); CF_BEGIN_SKIP and err when it reported that
     * it does not implement something the transcript used (skipped, even
     * if a step failed because of it). NULL: nothing to check. */
    int (*finish)(void *self, char *err, size_t cap);
} cf_adapter_ops;

typedef struct cf_adapter {
    const cf_adapter_ops *ops;
    void *self;
} cf_adapter;

/* Test-only deviations of the in-process server (docs/TRANSCRIPTS.md §9.2). */
enum {
    CF_BUG_NONE = 0,
    CF_BUG_LOST_PASSWD,    /* the store ignores verifier updates (PASSWD says OK, changes nothing) */
    CF_BUG_EXTRA_ATTEMPT,  /* one more login attempt than configured */
    CF_BUG_REJECT_CODE,    /* REJECT frames carry SERVER_FULL instead of VERSION */
    CF_BUG_SLOW_IDLE,      /* the idle timeout is twice as long as configured */
    CF_BUG_KEEP_DELETED    /* the store ignores deletions */
};
int cf_bug_by_name(const char *name);
const char *cf_bug_name(int bug);

/* The in-process adapter: libchat's hub (server role) or client (client
 * role) in this process, with the transcript's randomness and a virtual
 * clock. */
cf_adapter cf_inproc_new(int bug);

/* The TCP adapter: a server at host:port (accounts created and deleted
 * through an admin account), or, with chatd set, a fresh chatd that the
 * adapter starts per transcript on an ephemeral loopback port with a
 * temporary state directory, the transcript's settings, accounts and
 * server key. */
typedef struct cf_tcp_opts {
    const char *hostport;   /* "HOST:PORT" (external server) or NULL */
    const char *admin_user; /* external server: an admin account */
    const char *admin_pass; /* its password */
    const char *chatd;      /* path of chatd to start per transcript, or NULL */
    const char *const *sets; /* extra --set KEY=VALUE for chatd, NULL-terminated or NULL */
} cf_tcp_opts;
cf_adapter cf_tcp_new(const cf_tcp_opts *o);

/* The shim adapter (docs/SHIM.md): argv (NULL-terminated) is the shim and
 * its arguments, started per transcript. The shim is asked for its hello
 * once here: 0 and *out, or -1 and err when it does not answer it. */
int cf_shim_new(const char *const *argv, cf_adapter *out, char *err, size_t cap);

#endif
