/* chatc's session: one server, one user, over successive connections. It
 * drives libchat's client (chatc holds no protocol logic: it moves bytes
 * and decides what libchat asks it to decide), and keeps what both user
 * interfaces share:
 *   - the server key decision at CHAT_CLIENT_EV_SERVER_KEY, before
 *     chat_client_trust_server, against known_hosts and the --trust mode;
 *   - the password for the CHALLENGE, retries after LOGIN_FAILED;
 *   - slash commands turned into requests, and the requests still waiting
 *     for their answer;
 *   - the rooms the user is in (re-joined after a reconnect), the ignore
 *     list, automatic reconnection with back-off;
 *   - the exit status (sysexits) when the session ends.
 * What is shown, and how, is the front-end's (ui.c, linemode.c), through
 * session_ops. */
#ifndef CHATC_SESSION_H
#define CHATC_SESSION_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "chat/chat.h"
#include "commands.h"
#include "config.h"
#include "ignore.h"
#include "known_hosts.h"
#include "net.h"

/* Exit statuses (sysexits.h values, spelt out so that they are documented
 * in one place: chatc(1)). */
#define EXIT_OK 0
#define EXIT_USAGE 64
#define EXIT_UNAVAILABLE 69
#define EXIT_SOFTWARE 70
#define EXIT_PROTOCOL 76
#define EXIT_NOPERM 77
#define EXIT_CONFIG 78

typedef enum sess_state {
    SESS_IDLE = 0,       /* no connection yet */
    SESS_CONNECTING,     /* TCP connect under way */
    SESS_LOGIN,          /* handshake and login */
    SESS_READY,          /* logged in */
    SESS_CLOSING,        /* our GOODBYE is being written / waiting for the server's EOF */
    SESS_WAIT_RECONNECT, /* disconnected; reconnecting at reconnect_at */
    SESS_DONE            /* over: exit_code says how */
} sess_state;

typedef enum sess_note {
    NOTE_INFO = 0,  /* information (machine line: "info TEXT") */
    NOTE_ERROR,     /* a local error (machine line: "client-error TEXT") */
    NOTE_CONNECTED, /* TCP connected */
    NOTE_HOSTKEY,   /* the server key decision */
    NOTE_ALERT,     /* a loud multi-line warning (changed key); for stderr */
    NOTE_READY,     /* logged in */
    NOTE_RECONNECT, /* disconnected; a reconnect is scheduled */
    NOTE_HELP       /* one line of /help */
} sess_note;

/* What a reply answers. */
typedef struct sess_req {
    uint32_t req;
    cmd_type what;               /* the command that sent it */
    char arg[CHAT_ROOM_MAX + 1]; /* its room or user */
    uint8_t quiet;               /* automatic (re-join, --room): ALREADY_IN_ROOM is no error */
    uint8_t used;
} sess_req;

typedef struct session_ops {
    /* An unknown server key under --trust=ask: 1 to accept (it is then
     * pinned), 0 to refuse. NULL: refuse. */
    int (*ask_key)(void *ctx, const char *hostport, const char *fingerprint);
    /* The password to log in with, into buf (capacity cap, NUL-terminated);
     * retry is 1 after a refusal. Returns its length, or -1 when none can be
     * had (no terminal): the login then fails. NULL: none. */
    int (*password)(void *ctx, char *buf, size_t cap, int retry);
    /* An event from the server, after the session's own bookkeeping. req is
     * the request a reply answers (NULL if none or unknown). */
    void (*event)(void *ctx, const chat_client_event *ev, const sess_req *req);
    /* Something the session has to say. machine: the line-mode line (may be
     * NULL: then "info"/"client-error" + human); human: for people. */
    void (*notice)(void *ctx, sess_note kind, const char *machine, const char *human);
} session_ops;

#define SESS_MAX_ROOMS 64
#define SESS_MAX_PENDING 256

typedef struct session {
    /* settings */
    char host[256];
    unsigned port;
    char hostport[KH_HOSTPORT_MAX + 1];
    char user[CHAT_NAME_MAX + 1];
    trust_mode trust;
    char known_hosts[4096];
    char ignore_path[4096];
    uint8_t device_key[32];
    int reconnect; /* reconnect after a connection is lost */
    uint32_t kdf_opslimit, kdf_memlimit_kib;
    const session_ops *ops;
    void *ctx;

    /* secrets, in sodium_malloc'ed memory */
    char *password; /* kept for reconnects; CHAT_PASSWORD_MAX + 1 */
    size_t password_len;
    char *new_password; /* a /passwd waiting for its OK */
    size_t new_password_len;
    uint32_t passwd_req;

    /* the connection */
    net net;
    chat_client *cl;
    sess_state state;
    int ever_ready;
    int quitting; /* the user asked to leave */
    int logged_in_once_this_conn;
    uint8_t accepted_key[32]; /* the key accepted in this run */
    int have_accepted_key;
    uint64_t closing_deadline; /* CLOSING: give up waiting for the server then */
    int shut_wr;               /* CLOSING: our side is shut down */
    sess_state after_close;    /* CLOSING: DONE or WAIT_RECONNECT next */
    uint64_t connect_deadline; /* CONNECTING: give up then */
    uint64_t reconnect_at;
    uint32_t backoff_ms;
    int exit_code;
    int fatal; /* no reconnect: the front-end should end */

    /* who we are */
    char me[CHAT_NAME_MAX + 1];
    int role;

    /* rooms we are in, for re-joining */
    char rooms[SESS_MAX_ROOMS][CHAT_ROOM_MAX + 1];
    size_t nrooms;
    int rejoin; /* re-join after the next WELCOME */

    sess_req pend[SESS_MAX_PENDING];
    size_t npend;

    ignore_list ignores;
} session;

/* Set up (no connection yet). 0, or -1 out of memory. */
int session_init(session *s, const session_ops *ops, void *ctx);
void session_free(session *s);

/* Keep a password given up front (--password-file). */
int session_set_password(session *s, const char *pw, size_t len);

/* Start connecting. 0, or -1 (the session is then DONE or waiting to
 * reconnect, and a notice says why). */
int session_connect(session *s, uint64_t now);

/* The socket to poll, if any: 1 and *p filled, or 0. */
int session_pollfd(session *s, struct pollfd *p);
/* After poll: the socket's revents. Reads, feeds, handles events, writes. */
void session_io(session *s, short revents, uint64_t now);
/* Write what is pending (after commands). */
void session_flush(session *s, uint64_t now);
/* The next time session_tick has work (UINT64_MAX if none). */
uint64_t session_deadline(const session *s);
void session_tick(session *s, uint64_t now);

/* Run a parsed command for the given target (the current room or user;
 * "" if none). Commands that are the front-end's own (window, clear,
 * close, help, bell, query, passwd, adduser) are not handled here.
 * 0 sent, -1 not (a NOTE_ERROR says why). */
int session_command(session *s, const cmd *c, const char *target, uint64_t now);
/* /passwd and /adduser with the password already asked for. */
int session_passwd(session *s, const char *pw, size_t len, uint64_t now);
int session_adduser(session *s, const char *name, int admin, const char *pw, size_t len,
                    uint64_t now);
/* Join a room on the user's behalf without reporting "already in room". */
int session_join_quiet(session *s, const char *room, uint64_t now);
/* Leave: GOODBYE(QUIT) with text, then close once it is written. */
void session_quit(session *s, const char *text, uint64_t now);

/* Requests still waiting for their answer. */
size_t session_pending(const session *s);
/* 1 if the user is in room. */
int session_in_room(const session *s, const char *room);

/* The help lines for /help [name], by NOTE_HELP notices; admin commands
 * only for admins. */
void session_help(session *s, const char *name);

/* Monotonic and wall clocks in milliseconds. */
uint64_t now_mono_ms(void);
uint64_t now_wall_ms(void);

#endif
