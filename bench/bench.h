/* chatbench internals shared by its modules: the options, the run's shared
 * state, the load-generator threads and connections, and the protocol
 * interface that chatproto.c (libchat client sessions) and ircproto.c
 * (IRC lines) implement.
 *
 * Threads: connection j of a run belongs to thread j % T. Every connection
 * lives entirely in its thread (its socket, its protocol session, its
 * expected sequence numbers). What crosses threads is atomic: the count of
 * receivers still owed each message, each sender's count of completed
 * messages, the phase flags, and the counters the main thread watches. */
#ifndef CHATBENCH_BENCH_H
#define CHATBENCH_BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <chat/codec.h>

#include "lat.h"

enum bench_proto { PROTO_CHAT = 0, PROTO_IRC = 1 };
enum bench_scenario { SC_FANOUT = 0, SC_RATE, SC_LOGIN, SC_IDLE };

typedef struct bench_opts {
    int proto;
    const char *host;
    unsigned port;
    int server_pid;      /* 0: not given */
    int scenario;
    unsigned threads;
    uint32_t n, s, w, m; /* fanout / rate */
    size_t b;
    double rate, duration;
    uint32_t k;          /* login */
    uint32_t c;          /* idle */
    int idle_join;       /* idle: join the room too */
    double hold;         /* idle: seconds to hold the connections */
    const char *prefix;
    const char *room;
    char password[CHAT_PASSWORD_MAX + 1];
    size_t password_len;
    uint32_t connect_window;
    double timeout, stall;
} bench_opts;

/* Connection phases. */
enum {
    PH_FREE = 0,   /* no socket (not yet connected, or between login cycles) */
    PH_CONNECTING, /* non-blocking connect in progress */
    PH_LOGIN,      /* handshake + login (chat) / registration (IRC) */
    PH_JOINING,    /* JOIN sent, waiting for its answer */
    PH_READY,      /* in the room (or logged in, where no room is needed) */
    PH_QUIT,       /* QUIT / GOODBYE sent: waiting for the server to close */
    PH_DONE        /* closed for good */
};

typedef struct bench bench;
typedef struct bthread bthread;
typedef struct bconn bconn;

struct bconn {
    int fd;
    uint32_t idx;       /* account / nick index, and sender index if < S */
    int phase;
    int dirty;          /* on the thread's list of connections to flush */
    int want_out;       /* EPOLLOUT registered */
    bthread *th;
    void *ps;           /* protocol session */
    uint32_t *expect;   /* next sequence expected from each sender [S] */
    uint32_t sent;      /* messages sent (senders) */
    bconn *next_dirty;
};

/* The protocol interface. Functions returning int give 0, or -1 after
 * reporting the error with bench_fail. */
typedef struct bproto {
    const char *name;
    /* Create the session for c (account b->name(c->idx)) and queue its
     * first bytes. */
    int (*open)(bconn *c, uint64_t now_ms);
    /* Bytes read from the socket; calls the bench_on_* events. */
    int (*input)(bconn *c, const uint8_t *in, size_t n, uint64_t now_ms);
    const uint8_t *(*peek)(bconn *c, size_t *n);
    void (*ack)(bconn *c, size_t n);
    int (*join)(bconn *c, const char *room);
    /* text is NUL-terminated, len bytes. */
    int (*say)(bconn *c, const char *room, const char *text, size_t len);
    int (*quit)(bconn *c);
    void (*tick)(bconn *c, uint64_t now_ms);
    void (*close)(bconn *c); /* free the session */
} bproto;

extern const bproto bench_chat_proto;
extern const bproto bench_irc_proto;

/* Argon2id seed cache of one account: the seed is derived once for the
 * salt and limits the server challenges with, then reused. */
typedef struct bseed {
    int valid;
    uint8_t salt[CHAT_SALT_LEN];
    uint32_t opslimit, memlimit_kib;
    uint8_t seed[CHAT_SEED_LEN];
    uint8_t device_key[32]; /* the client's static X25519 key, made once */
    int have_key;
} bseed;

struct bthread {
    bench *b;
    unsigned id;
    pthread_t tid;
    int ep;       /* epoll */
    int efd;      /* eventfd: wake-ups from the main thread and other threads */
    int tfd;      /* timerfd: rate pacing */
    uint32_t timer_for; /* rate: the message number the timer is set for */
    bconn *conns; /* this thread's connections: global index id + j*T */
    uint32_t nconns;
    uint32_t next_open; /* next connection to open for the first time */
    uint32_t opening;   /* connections in CONNECTING/LOGIN/JOINING */
    uint32_t window;    /* at most this many opening at once */
    bconn *dirty;
    bconn **senders;
    uint32_t nsenders;
    lat_hist hist;
    _Atomic uint64_t delivered;
    uint64_t first_send_ns, last_deliv_ns;
    uint64_t last_tick_ms;
    uint64_t now_ns; /* monotonic time of the last read */
    uint8_t buf[65536];
};

struct bench {
    const bench_opts *o;
    const bproto *proto;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint32_t nconns;   /* N, K or C */
    uint32_t nsenders; /* S (0 for login and idle) */
    uint32_t msgs;     /* messages per sender */
    int need_room;     /* clients join the room before they are ready */
    _Atomic uint32_t *remain; /* [S*M] receivers still owed each message */
    _Atomic uint32_t *done;   /* [S] messages of each sender delivered everywhere */
    _Atomic uint64_t msgs_done;
    _Atomic uint32_t ready;
    _Atomic uint64_t logins;
    _Atomic uint64_t progress; /* anything moved: for the stall watchdog */
    _Atomic int go, stop, failed;
    uint64_t t0_ns;            /* when go was given */
    uint64_t mid_c1, mid_t1, mid_c2, mid_t2; /* deliveries and time at 10% / 90% */
    bseed *seeds;              /* chat: per account */
    char (*snames)[CHAT_NAME_MAX + 1]; /* [S] the senders' names */
    size_t *snames_len;
    pthread_mutex_t err_mu;
    char err[600];
    unsigned nerrors;
    bthread *th;
    unsigned nth;
};

/* The name of account / nick idx: prefix + decimal idx. */
void bench_name(const bench *b, uint32_t idx, char out[CHAT_NAME_MAX + 1]);

/* Record the run's first error (printf-style) and stop the run. Returns -1. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
int bench_fail(bench *b, const char *fmt, ...);

/* Events the protocol modules report (run.c). */
void bench_on_ready(bconn *c);  /* logged in / registered */
void bench_on_joined(bconn *c); /* the JOIN was answered: in the room */
void bench_on_text(bconn *c, const char *from, size_t from_len, const uint8_t *text, size_t len);
void bench_on_closed(bconn *c, const char *why); /* the session ended */

/* Monotonic clock. */
uint64_t bench_now_ns(void);

/* loop.c: a load-generator thread (pthread start routine, arg a bthread),
 * and waking every thread from its epoll_wait (they then look at the
 * run's flags). */
void *bench_thread_main(void *arg);
void bench_wake_all(bench *b);

/* A blocking TCP connection to the server (for --setup), or -1 after
 * saying why on stderr. */
int bench_connect_blocking(const bench_opts *o);

/* Run the configured scenario; prints the RESULT line. Returns 0, or 1
 * after an error (reported on stderr). */
int bench_run(const bench_opts *o);
/* Create accounts through an admin connection (chatbench --setup). */
int bench_setup(const bench_opts *o, const char *admin, const char *admin_pw, size_t admin_pw_len,
                uint32_t count, uint32_t opslimit, uint32_t memlimit_kib);

#endif
