/* chatd's event loop (see loop.h). */
#include "loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "fileutil.h"
#include "log.h"
#include "table.h"

/* How long a closed connection's input is read and discarded after its
 * write side was shut (lingering close). */
#define LINGER_MS 2000
/* Refused connections lingering at once; beyond that they close at once. */
#define REJECT_LINGER_MAX 64
/* Bytes read from one connection per wakeup, so one busy peer cannot
 * starve the others (epoll is level-triggered: the rest comes next time). */
#define READ_BUDGET (256 * 1024)
/* All input of one iteration is bounded by output_queue_max / IN_SHARE:
 * the hub queues what that input fans out before the iteration's flush, so
 * a reader that keeps up can never reach its queue bound because of one
 * iteration's burst (a byte in becomes about a byte out per member). */
#define IN_SHARE 4
/* Extra non-blocking polls for input before an iteration's flush, and the
 * time since the wakeup after which no more are made (see chatd_server_run). */
#define REPOLL_MAX 4
#define REPOLL_US 500
/* Freed heap glibc keeps instead of returning it to the kernel (see
 * keep_heap). */
#define HEAP_KEEP ((size_t)64 << 20)
/* Connections accepted per listener wakeup. */
#define ACCEPT_BUDGET 64
/* After EMFILE and the like, stop accepting for this long. */
#define ACCEPT_PAUSE_MS 100
/* Refusal lines logged per second before they are summarised. */
#define REFUSE_LOG_PER_SEC 10

enum { SRC_LISTEN = 1, SRC_SIGNAL, SRC_CONN };

typedef enum phase {
    PH_OPEN,   /* the hub owns the conversation */
    PH_DRAIN,  /* the hub closed it; its last output is being written */
    PH_LINGER, /* all written, write side shut; discarding input until EOF */
    PH_REJECT  /* refused at accept: REJECT written, lingering */
} phase;

typedef struct listener {
    int kind; /* SRC_LISTEN */
    int fd;
    char name[CHATD_LISTEN_LEN + 16];
} listener;

/* One socket. Every idle logged-in client holds one, so it is kept
 * small: the peer's address is stored as bytes and formatted only for a
 * log line that is written (peer_text). */
typedef struct conn conn;
struct conn {
    int kind; /* SRC_CONN */
    int fd;
    chat_conn_id id;   /* 0 once released from the hub */
    uint64_t deadline; /* PH_DRAIN, PH_LINGER, PH_REJECT: when to give up */
    conn *prev, *next;   /* all live connections */
    conn *tprev, *tnext; /* those with a deadline (not PH_OPEN) */
    conn *dnext;         /* dead list */
    uint8_t ph;          /* phase */
    uint8_t epollout;    /* EPOLLOUT registered */
    uint8_t dead;        /* closed; freed at the end of the iteration */
    uint8_t counted;     /* holds a slot in the per-address table */
    uint8_t family;      /* AF_INET, AF_INET6, or 0 when unknown */
    uint8_t addr_len;    /* bytes of ip[] that key the per-address limit */
    uint16_t port;       /* host order */
    uint8_t ip[16];      /* IPv4 in the first 4 bytes, or IPv6 */
};

/* 88 bytes on LP64 (a 96-byte malloc chunk); it was 144 with the address
 * text in it. Idle memory per connection is a target (docs/PERFORMANCE.md). */
_Static_assert(sizeof(conn) <= 96, "conn grew: idle connections pay for every byte");

/* "a.b.c.d:port", "[v6]:port" or "?". */
#define PEER_TEXT_MAX (INET6_ADDRSTRLEN + 8)

struct chatd_server {
    chatd_config cfg;
    chat_hub *hub;
    int ep;
    int sigfd;
    int src_signal; /* epoll tag for the signalfd */
    listener ls[CHATD_LISTEN_MAX + 1];
    size_t nls;
    conn *all;   /* live connections (any phase) */
    conn *timed; /* connections past PH_OPEN, each with a deadline */
    conn *dead;  /* closed this iteration */
    size_t nconns;   /* live, not counting refusals */
    size_t nrejects; /* refusals lingering */
    chatd_idmap ids;   /* chat_conn_id -> conn */
    chatd_table addrs; /* address -> number of connections */
    chatd_reload_fn reload;
    void *reload_ctx;
    int stopping;
    int force_exit;
    uint64_t stop_deadline;
    uint64_t accept_paused_until; /* 0: accepting */
    size_t in_budget; /* input bytes left in this iteration */
    uint64_t refuse_window;
    unsigned refuse_logged, refuse_suppressed;
    chat_time now;
};

static uint8_t g_buf[64 * 1024];

/* ---------------------------------------------------------------------
 * Time
 * ------------------------------------------------------------------- */

static uint64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t clock_us(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void update_now(chatd_server *s)
{
    s->now.mono_ms = clock_ms(CLOCK_MONOTONIC);
    s->now.wall_ms = clock_ms(CLOCK_REALTIME);
}

/* ---------------------------------------------------------------------
 * Keys of the tables
 * ------------------------------------------------------------------- */

static void addr_key(uint8_t key[CHATD_TABLE_KEY], const conn *c)
{
    memset(key, 0, CHATD_TABLE_KEY);
    key[0] = c->addr_len;
    memcpy(key + 1, c->ip, c->addr_len);
}

static conn *conn_by_id(const chatd_server *s, chat_conn_id id)
{
    return chatd_idmap_find(&s->ids, id);
}

/* The peer's address as log text, into buf (PEER_TEXT_MAX bytes); NULL
 * (printed as "-") when there is no connection. */
static const char *peer_text(const conn *c, char *buf)
{
    if (c == NULL)
        return NULL;
    char ip[INET6_ADDRSTRLEN];
    int af = c->family == AF_INET ? AF_INET : c->family == AF_INET6 ? AF_INET6 : 0;
    if (af == 0 || inet_ntop(af, c->ip, ip, sizeof ip) == NULL) {
        memcpy(buf, "?", 2);
        return buf;
    }
    (void)snprintf(buf, PEER_TEXT_MAX, af == AF_INET ? "%s:%u" : "[%s]:%u", ip,
                   (unsigned)c->port);
    return buf;
}

/* A log line about connection c: the peer's address is formatted only
 * when the line is written, so the hot paths pay nothing at the default
 * level for lines they would drop. */
#define CONN_LOG(level, id, c, ...)                                                                \
    do {                                                                                           \
        if (chatd_log_enabled(level)) {                                                            \
            char pt_[PEER_TEXT_MAX];                                                               \
            chatd_log((level), (id), peer_text((c), pt_), __VA_ARGS__);                            \
        }                                                                                          \
    } while (0)

/* ---------------------------------------------------------------------
 * Logging of hub events
 * ------------------------------------------------------------------- */

static const char *code_name(unsigned code)
{
    const char *n = chat_code_name(code);
    return n != NULL ? n : "?";
}

/* The level each hub event is logged at. */
static chatd_log_level event_level(chat_hub_event_type t)
{
    switch (t) {
    case CHAT_HUB_EV_LOGIN_FAILED:
        return CHATD_LOG_WARN;
    case CHAT_HUB_EV_LOGIN:
    case CHAT_HUB_EV_CLOSED:
    case CHAT_HUB_EV_ADMIN:
    case CHAT_HUB_EV_SHUTDOWN:
        return CHATD_LOG_INFO;
    default:
        return CHATD_LOG_DEBUG;
    }
}

static void drain_events(chatd_server *s)
{
    chat_hub_event ev;
    while (chat_hub_next_event(s->hub, &ev)) {
        /* Events of a dropped level cost no lookup and no formatting
         * (a few per login, at thousands of logins a second). */
        if (!chatd_log_enabled(event_level(ev.type)))
            continue;
        const conn *c = ev.conn != 0 ? conn_by_id(s, ev.conn) : NULL;
        char pt[PEER_TEXT_MAX];
        const char *peer = peer_text(c, pt);
        switch (ev.type) {
        case CHAT_HUB_EV_HANDSHAKE:
            chatd_log(CHATD_LOG_DEBUG, ev.conn, peer, "handshake version=%u", ev.code);
            break;
        case CHAT_HUB_EV_LOGIN:
            chatd_log(CHATD_LOG_INFO, ev.conn, peer, "login user=%s role=%s", ev.user,
                      ev.code == CHAT_ROLE_ADMIN ? "admin" : "user");
            break;
        case CHAT_HUB_EV_LOGIN_FAILED:
            chatd_log(CHATD_LOG_WARN, ev.conn, peer, "login-failed user=%s code=%s",
                      ev.user[0] != '\0' ? ev.user : "-", code_name(ev.code));
            break;
        case CHAT_HUB_EV_CLOSED:
            chatd_log(CHATD_LOG_INFO, ev.conn, peer, "closed user=%s code=%s by=%s",
                      ev.user[0] != '\0' ? ev.user : "-", code_name(ev.code),
                      ev.by_peer ? "peer" : "server");
            break;
        case CHAT_HUB_EV_ADMIN: {
            const char *what = chat_msg_name(ev.code);
            chatd_log(CHATD_LOG_INFO, ev.conn, peer, "admin action=%s user=%s target=%s",
                      what != NULL ? what : "?", ev.user, ev.target[0] != '\0' ? ev.target : "-");
            break;
        }
        case CHAT_HUB_EV_SHUTDOWN:
            chatd_log(CHATD_LOG_INFO, ev.conn, peer, "shutdown by=%s",
                      ev.user[0] != '\0' ? ev.user : "signal");
            break;
        default:
            chatd_log(CHATD_LOG_DEBUG, ev.conn, peer, "hub-event type=%d", (int)ev.type);
            break;
        }
    }
}

/* ---------------------------------------------------------------------
 * Connections
 * ------------------------------------------------------------------- */

static void set_epollout(chatd_server *s, conn *c, int on)
{
    if ((c->epollout != 0) == (on != 0))
        return;
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN | (on ? (uint32_t)EPOLLOUT : 0u);
    ev.data.ptr = c;
    if (epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->epollout = (uint8_t)(on != 0);
}

/* Move c to a closing phase with a deadline ms from now. */
static void set_phase(chatd_server *s, conn *c, phase ph, uint64_t ms)
{
    if (c->ph == PH_OPEN) {
        c->tprev = NULL;
        c->tnext = s->timed;
        if (s->timed != NULL)
            s->timed->tprev = c;
        s->timed = c;
    }
    c->ph = (uint8_t)ph;
    c->deadline = s->now.mono_ms + ms;
}

/* Free the hub's side of c (its socket stays open). */
static void conn_release(chatd_server *s, conn *c)
{
    if (c->id == 0)
        return;
    chat_hub_release(s->hub, c->id, s->now);
    drain_events(s); /* while the peer address is still known */
    chatd_idmap_erase(&s->ids, c);
    c->id = 0;
}

/* Close the socket and forget the connection (freed at the end of the
 * iteration, since this wakeup's events may still name it). */
static void conn_close(chatd_server *s, conn *c)
{
    if (c->dead)
        return;
    conn_release(s, c);
    if (c->counted) {
        uint8_t key[CHATD_TABLE_KEY];
        addr_key(key, c);
        chatd_slot *sl = chatd_table_find(&s->addrs, key);
        if (sl != NULL && --sl->n == 0)
            chatd_table_erase(&s->addrs, sl);
        c->counted = 0;
    }
    CONN_LOG(CHATD_LOG_DEBUG, 0, c, "socket-closed fd=%d", c->fd);
    (void)close(c->fd); /* also removes it from the epoll set */
    c->fd = -1;
    if (c->ph == PH_REJECT)
        s->nrejects--;
    else
        s->nconns--;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->all = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    if (c->ph != PH_OPEN) {
        if (c->tprev != NULL)
            c->tprev->tnext = c->tnext;
        else
            s->timed = c->tnext;
        if (c->tnext != NULL)
            c->tnext->tprev = c->tprev;
    }
    c->dead = 1;
    c->dnext = s->dead;
    s->dead = c;
}

static void free_dead(chatd_server *s)
{
    while (s->dead != NULL) {
        conn *c = s->dead;
        s->dead = c->dnext;
        free(c);
    }
}

/* Everything is written: release the hub's side, shut our write side and
 * wait (briefly) for the peer's EOF. */
static void conn_linger(chatd_server *s, conn *c)
{
    conn_release(s, c);
    set_epollout(s, c, 0);
    if (shutdown(c->fd, SHUT_WR) != 0) {
        conn_close(s, c);
        return;
    }
    set_phase(s, c, PH_LINGER, LINGER_MS);
}

/* Write what the hub has for c, then act on its state. */
static void conn_flush(chatd_server *s, conn *c)
{
    if (c->dead || c->id == 0)
        return;
    for (;;) {
        size_t len = 0;
        const uint8_t *p = chat_hub_out_peek(s->hub, c->id, &len);
        if (len == 0)
            break;
        ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
        if (w > 0) {
            chat_hub_out_ack(s->hub, c->id, (size_t)w);
            if ((size_t)w < len)
                break; /* the socket buffer is full */
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        CONN_LOG(CHATD_LOG_DEBUG, c->id, c, "write-error reason=\"%s\"",
                 w < 0 ? strerror(errno) : "no progress");
        conn_close(s, c);
        return;
    }
    unsigned st = chat_hub_conn_state(s->hub, c->id);
    set_epollout(s, c, (st & CHAT_CONN_WANT_WRITE) != 0);
    if (st & CHAT_CONN_CLOSED) {
        if (!(st & CHAT_CONN_WANT_WRITE))
            conn_linger(s, c);
        else if (c->ph == PH_OPEN)
            set_phase(s, c, PH_DRAIN, s->cfg.drain_timeout_ms);
    }
}

static void conn_read(chatd_server *s, conn *c)
{
    size_t total = 0;
    while (total < READ_BUDGET && !c->dead) {
        size_t want = sizeof g_buf;
        if (c->ph == PH_OPEN) {
            if (s->in_budget == 0)
                break; /* the rest next iteration, after the flush */
            if (want > s->in_budget)
                want = s->in_budget;
        }
        ssize_t n = recv(c->fd, g_buf, want, 0);
        if (n > 0) {
            total += (size_t)n;
            if (c->ph != PH_OPEN)
                continue; /* closed by the hub: discard */
            s->in_budget -= (size_t)n;
            update_now(s);
            int rc = chat_hub_feed(s->hub, c->id, g_buf, (size_t)n, s->now);
            if (rc != CHAT_OK)
                CONN_LOG(CHATD_LOG_ERROR, c->id, c, "hub-feed-failed reason=\"%s\"",
                         chat_strerror(rc));
            if (chat_hub_conn_state(s->hub, c->id) & CHAT_CONN_CLOSED)
                set_phase(s, c, PH_DRAIN, s->cfg.drain_timeout_ms);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        /* EOF or an error: the connection is over. */
        if (n < 0 && c->ph == PH_OPEN)
            CONN_LOG(CHATD_LOG_DEBUG, c->id, c, "read-error reason=\"%s\"", strerror(errno));
        conn_close(s, c);
        break;
    }
    /* Hub output is flushed after the whole wakeup. A connection the hub
     * closed while reading is in PH_DRAIN and is flushed with the dirty
     * ones (the hub marks it dirty when it closes). */
}

/* ---------------------------------------------------------------------
 * Accepting and refusing
 * ------------------------------------------------------------------- */

static void describe_peer(const struct sockaddr_storage *ss, conn *c)
{
    c->family = 0;
    c->addr_len = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        c->family = AF_INET;
        c->port = ntohs(a->sin_port);
        memcpy(c->ip, &a->sin_addr, 4);
        c->addr_len = 4;
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        c->port = ntohs(a->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
            c->family = AF_INET;
            memcpy(c->ip, a->sin6_addr.s6_addr + 12, 4);
            c->addr_len = 4;
        } else {
            c->family = AF_INET6;
            memcpy(c->ip, a->sin6_addr.s6_addr, 16);
            /* One IPv6 client usually holds a whole /64: count by prefix. */
            c->addr_len = 8;
        }
    }
}

/* Refusals are logged at most REFUSE_LOG_PER_SEC a second (a flood must
 * not flood the log too); the rest are counted and summarised. */
static void refusals_tick(chatd_server *s)
{
    uint64_t sec = s->now.mono_ms / 1000;
    if (sec == s->refuse_window)
        return;
    if (s->refuse_suppressed > 0)
        log_warn("refused-suppressed count=%u", s->refuse_suppressed);
    s->refuse_window = sec;
    s->refuse_logged = 0;
    s->refuse_suppressed = 0;
}

static void log_refusal(chatd_server *s, const char *peer, const char *why)
{
    refusals_tick(s);
    if (s->refuse_logged < REFUSE_LOG_PER_SEC) {
        s->refuse_logged++;
        chatd_log(CHATD_LOG_WARN, 0, peer, "refused reason=%s", why);
    } else {
        s->refuse_suppressed++;
    }
}

/* Send REJECT(SERVER_FULL) on a fresh socket, then close it (after a
 * short linger so the peer reads the frame rather than a reset). */
static void refuse(chatd_server *s, int fd, const conn *from, const char *why, const char *text)
{
    char pt[PEER_TEXT_MAX];
    log_refusal(s, peer_text(from, pt), why);
    uint8_t hdr[CHAT_FRAME_HEADER];
    uint8_t body[CHAT_REJECT_MAX];
    size_t blen = 0;
    chat_reject r;
    memset(&r, 0, sizeof r);
    r.version_min = CHAT_VERSION_MIN;
    r.version_max = CHAT_VERSION_MAX;
    r.code = CHAT_CODE_SERVER_FULL;
    r.text.p = (const uint8_t *)text;
    r.text.n = strlen(text);
    if (chat_reject_encode(&r, body, sizeof body, &blen) == CHAT_OK) {
        chat_frame_header(hdr, CHAT_FRAME_REJECT, blen);
        struct iovec iov[2] = {{hdr, sizeof hdr}, {body, blen}};
        /* A fresh socket's buffer is empty: this never blocks nor splits
         * in practice, and a short write is just a truncated refusal. */
        (void)writev(fd, iov, 2);
    }
    if (s->nrejects >= REJECT_LINGER_MAX || shutdown(fd, SHUT_WR) != 0) {
        (void)close(fd);
        return;
    }
    conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        (void)close(fd);
        return;
    }
    c->kind = SRC_CONN;
    c->fd = fd;
    c->family = from->family;
    c->port = from->port;
    memcpy(c->ip, from->ip, sizeof c->ip); /* addr_len 0: not counted */
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = c;
    if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        (void)close(fd);
        free(c);
        return;
    }
    c->next = s->all;
    if (s->all != NULL)
        s->all->prev = c;
    s->all = c;
    c->ph = PH_OPEN; /* set_phase links it into the timed list */
    set_phase(s, c, PH_REJECT, LINGER_MS);
    s->nrejects++;
}

static void pause_accepting(chatd_server *s, int on)
{
    for (size_t i = 0; i < s->nls; i++) {
        struct epoll_event ev;
        memset(&ev, 0, sizeof ev);
        ev.events = on ? 0u : (uint32_t)EPOLLIN;
        ev.data.ptr = &s->ls[i];
        (void)epoll_ctl(s->ep, EPOLL_CTL_MOD, s->ls[i].fd, &ev);
    }
    s->accept_paused_until = on ? s->now.mono_ms + ACCEPT_PAUSE_MS : 0;
}

static void accept_one(chatd_server *s, int fd, const struct sockaddr_storage *ss)
{
    conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        log_error("accept-failed reason=\"out of memory\"");
        (void)close(fd);
        return;
    }
    c->kind = SRC_CONN;
    c->fd = fd;
    describe_peer(ss, c);
    if (s->stopping || chat_hub_is_shut_down(s->hub)) {
        (void)close(fd);
        free(c);
        return;
    }
    if (s->nconns >= s->cfg.max_connections) {
        refuse(s, fd, c, "max_connections", "server full: too many connections");
        free(c);
        return;
    }
    uint8_t key[CHATD_TABLE_KEY];
    addr_key(key, c);
    chatd_slot *as = chatd_table_find(&s->addrs, key);
    if (as != NULL && as->n >= s->cfg.max_per_address) {
        refuse(s, fd, c, "max_connections_per_address",
               "server full: too many connections from your address");
        free(c);
        return;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    update_now(s);
    int rc = chat_hub_accept(s->hub, c->ip, c->addr_len, s->now, &c->id);
    if (rc != CHAT_OK) {
        CONN_LOG(CHATD_LOG_ERROR, 0, c, "accept-failed reason=\"%s\"", chat_strerror(rc));
        (void)close(fd);
        free(c);
        return;
    }
    int in_ids = chatd_idmap_insert(&s->ids, c) == 0;
    as = chatd_table_insert(&s->addrs, key);
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = c;
    if (!in_ids || as == NULL || epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        log_error("accept-failed reason=\"out of memory\"");
        if (in_ids)
            chatd_idmap_erase(&s->ids, c);
        if (as != NULL && as->n == 0)
            chatd_table_erase(&s->addrs, as);
        chat_hub_release(s->hub, c->id, s->now);
        drain_events(s);
        (void)close(fd);
        free(c);
        return;
    }
    as->n++;
    c->counted = 1;
    c->next = s->all;
    if (s->all != NULL)
        s->all->prev = c;
    s->all = c;
    s->nconns++;
    CONN_LOG(CHATD_LOG_INFO, c->id, c, "accepted connections=%zu", s->nconns);
}

static void on_listener(chatd_server *s, listener *l)
{
    for (int i = 0; i < ACCEPT_BUDGET; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EINTR || e == ECONNABORTED || e == EPROTO || e == EPERM)
                continue;
            if (e == EAGAIN || e == EWOULDBLOCK)
                return;
            /* Out of descriptors or memory: shed load, keep running. */
            log_warn("accept-failed listener=%s reason=\"%s\" action=pause-%dms", l->name,
                     strerror(e), ACCEPT_PAUSE_MS);
            pause_accepting(s, 1);
            return;
        }
        accept_one(s, fd, &ss);
    }
}

/* ---------------------------------------------------------------------
 * Signals and reload
 * ------------------------------------------------------------------- */

static const int handled_signals[] = {SIGTERM, SIGINT, SIGHUP};

void chatd_signals_block(void)
{
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof handled_signals / sizeof handled_signals[0]; i++)
        sigaddset(&set, handled_signals[i]);
    (void)sigprocmask(SIG_BLOCK, &set, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGPIPE, &sa, NULL);
}

static void do_reload(chatd_server *s)
{
    if (s->reload == NULL) {
        log_warn("reload-skipped reason=\"no configuration to reload\"");
        return;
    }
    chatd_config *n = malloc(sizeof *n);
    if (n == NULL) {
        log_error("reload-failed reason=\"out of memory\"");
        return;
    }
    char err[1024];
    if (s->reload(s->reload_ctx, n, err, sizeof err) != 0) {
        log_error("reload-failed reason=\"%s\" (keeping the running configuration)", err);
        free(n);
        return;
    }
    int rc = chat_hub_set_motd(s->hub, n->motd_text[0] != '\0' ? n->motd_text : NULL);
    if (rc != CHAT_OK) {
        log_error("reload-failed reason=\"MOTD: %s\"", chat_strerror(rc));
        free(n);
        return;
    }
    char diff[512];
    chatd_config_restart_diff(&s->cfg, n, diff, sizeof diff);
    if (diff[0] != '\0')
        log_warn("reload-partial restart-needed=%s", diff);
    s->cfg.log_level = n->log_level;
    s->cfg.max_connections = n->max_connections;
    s->cfg.max_per_address = n->max_per_address;
    s->cfg.drain_timeout_ms = n->drain_timeout_ms;
    memcpy(s->cfg.motd, n->motd, sizeof s->cfg.motd);
    memcpy(s->cfg.motd_file, n->motd_file, sizeof s->cfg.motd_file);
    memcpy(s->cfg.motd_text, n->motd_text, sizeof s->cfg.motd_text);
    chatd_log_set_level((chatd_log_level)n->log_level);
    log_info("reloaded config=%s log_level=%s max_connections=%u "
             "max_connections_per_address=%u drain_timeout_ms=%u motd_bytes=%zu",
             n->source[0] != '\0' ? n->source : "-",
             chatd_log_level_name((chatd_log_level)n->log_level), n->max_connections,
             n->max_per_address, n->drain_timeout_ms, strlen(n->motd_text));
    free(n);
}

static void on_signal(chatd_server *s)
{
    for (;;) {
        struct signalfd_siginfo si;
        ssize_t n = read(s->sigfd, &si, sizeof si);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof si)
            return;
        update_now(s);
        switch (si.ssi_signo) {
        case SIGHUP:
            log_info("signal name=SIGHUP action=reload");
            do_reload(s);
            break;
        case SIGTERM:
        case SIGINT:
            if (s->stopping) {
                log_warn("signal name=%s action=exit-now", si.ssi_signo == SIGTERM ? "SIGTERM"
                                                                                   : "SIGINT");
                s->force_exit = 1;
            } else {
                log_info("signal name=%s action=shutdown",
                         si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
                chat_hub_shutdown(s->hub, "the server is shutting down", s->now);
            }
            break;
        default:
            break;
        }
    }
}

/* ---------------------------------------------------------------------
 * Listening
 * ------------------------------------------------------------------- */

static void sockaddr_text(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        if (inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip) == NULL)
            memcpy(ip, "?", 2);
        (void)snprintf(out, cap, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
    } else {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        if (inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip) == NULL)
            memcpy(ip, "?", 2);
        (void)snprintf(out, cap, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
    }
}

/* Open one listening socket. Returns the fd, or -1 with errno set. */
static int open_listener(const struct sockaddr_storage *ss, socklen_t sl, int dual)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1, v6only = dual ? 0 : 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (ss->ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) != 0) ||
        bind(fd, (const struct sockaddr *)ss, sl) != 0 || listen(fd, SOMAXCONN) != 0) {
        int e = errno;
        (void)close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int add_listener(chatd_server *s, const char *spec, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int any;
    if (chatd_parse_listen(spec, s->cfg.port, &ss, &sl, &any) != 0) {
        (void)snprintf(err, errlen, "bad listen address \"%s\"", spec);
        return EX_CONFIG;
    }
    int fd = open_listener(&ss, sl, any);
    if (fd < 0 && any && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)) {
        /* No IPv6 here: every IPv4 address instead. */
        log_info("ipv6-unavailable reason=\"%s\" fallback=0.0.0.0", strerror(errno));
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        uint16_t port = ((struct sockaddr_in6 *)&ss)->sin6_port;
        memset(&ss, 0, sizeof ss);
        a4->sin_family = AF_INET;
        a4->sin_addr.s_addr = htonl(INADDR_ANY);
        a4->sin_port = port;
        sl = sizeof *a4;
        fd = open_listener(&ss, sl, 0);
    }
    char text[CHATD_LISTEN_LEN + 16];
    sockaddr_text(&ss, text, sizeof text);
    if (fd < 0) {
        int e = errno;
        (void)snprintf(err, errlen, "cannot listen on %s: %s%s", text, strerror(e),
                       e == EADDRINUSE ? " (is another chatd running? choose another port "
                                         "with --port)"
                       : e == EACCES   ? " (ports below 1024 need privileges)"
                                       : "");
        return e == EACCES ? EX_NOPERM : EX_UNAVAILABLE;
    }
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    if (getsockname(fd, (struct sockaddr *)&bound, &bl) == 0)
        sockaddr_text(&bound, text, sizeof text);
    listener *l = &s->ls[s->nls];
    l->kind = SRC_LISTEN;
    l->fd = fd;
    (void)snprintf(l->name, sizeof l->name, "%s", text);
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = l;
    if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        (void)snprintf(err, errlen, "epoll: %s", strerror(errno));
        (void)close(fd);
        return EX_OSERR;
    }
    s->nls++;
    log_info("listening on %s%s", text, any ? " (IPv6 and IPv4)" : "");
    return EX_OK;
}

static void close_listeners(chatd_server *s)
{
    for (size_t i = 0; i < s->nls; i++)
        (void)close(s->ls[i].fd);
    s->nls = 0;
}

static unsigned listener_port(const chatd_server *s)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (s->nls == 0 || getsockname(s->ls[0].fd, (struct sockaddr *)&ss, &sl) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Every flush frees the output buffers it wrote, and a fan-out to 1,000
 * members frees megabytes at once: glibc then trims the top of the heap
 * (past 128 KiB free, by default) and the next iteration faults the same
 * pages back in. In perf at T1000w8 the page faults and their page-table
 * work were about 8% of chatd's CPU. Keeping up to HEAP_KEEP of freed heap
 * removes that (deliveries per CPU-second +18%, docs/PERFORMANCE.md) at
 * the price of RSS staying at its recent peak, at most HEAP_KEEP above
 * what is in use. Idle connections hold no buffers either way. */
static void keep_heap(void)
{
#ifdef M_TRIM_THRESHOLD
    if (mallopt(M_TRIM_THRESHOLD, (int)HEAP_KEEP) != 1)
        log_warn("mallopt-failed setting=M_TRIM_THRESHOLD");
#endif
}

/* Make room for max_connections descriptors if the hard limit allows. */
static void raise_fd_limit(const chatd_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)cfg->max_connections + REJECT_LINGER_MAX + 32;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want)
            log_warn("fd-limit-low limit=%llu max_connections=%u hint=\"raise the limit "
                     "(ulimit -n, LimitNOFILE=) or lower max_connections\"",
                     (unsigned long long)rl.rlim_cur, cfg->max_connections);
    }
}

/* ---------------------------------------------------------------------
 * Life cycle
 * ------------------------------------------------------------------- */

int chatd_server_new(chatd_server **out, const chatd_server_params *p, char *err, size_t errlen)
{
    *out = NULL;
    chatd_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        return EX_OSERR;
    }
    s->cfg = *p->cfg;
    s->ep = -1;
    s->sigfd = -1;
    s->src_signal = SRC_SIGNAL;
    s->reload = p->reload;
    s->reload_ctx = p->reload_ctx;
    chatd_idmap_init(&s->ids, offsetof(conn, id));
    chatd_table_init(&s->addrs);
    update_now(s);
    raise_fd_limit(&s->cfg);
    keep_heap();

    const char *rooms[CHATD_ROOMS_MAX + 1];
    for (size_t i = 0; i < s->cfg.nrooms; i++)
        rooms[i] = s->cfg.rooms[i];
    rooms[s->cfg.nrooms] = NULL;
    chat_hub_config hc;
    memset(&hc, 0, sizeof hc);
    hc.static_priv = p->key;
    hc.store = p->store;
    hc.motd = s->cfg.motd_text[0] != '\0' ? s->cfg.motd_text : NULL;
    hc.default_rooms = s->cfg.nrooms > 0 ? rooms : NULL;
    hc.history_len = s->cfg.history_len;
    hc.max_rooms = s->cfg.max_rooms;
    hc.max_rooms_per_user = s->cfg.max_rooms_per_user;
    hc.login_attempts = s->cfg.login_attempts;
    hc.login_timeout_ms = s->cfg.login_timeout_ms;
    hc.idle_timeout_ms = s->cfg.idle_timeout_ms;
    hc.user_fail_limit = s->cfg.user_fail_limit;
    hc.addr_fail_limit = s->cfg.addr_fail_limit;
    hc.fail_window_ms = s->cfg.fail_window_ms;
    hc.out_max = (size_t)s->cfg.out_max;
    hc.min_opslimit = s->cfg.min_opslimit;
    hc.min_memlimit_kib = s->cfg.min_memlimit_kib;
    int rc = chat_hub_new(&s->hub, &hc);
    if (rc != CHAT_OK) {
        (void)snprintf(err, errlen, "cannot start the hub: %s", chat_strerror(rc));
        chatd_server_free(s);
        return rc == CHAT_E_NOMEM ? EX_OSERR : EX_SOFTWARE;
    }

    s->ep = epoll_create1(EPOLL_CLOEXEC);
    if (s->ep < 0) {
        (void)snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
        chatd_server_free(s);
        return EX_OSERR;
    }
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof handled_signals / sizeof handled_signals[0]; i++)
        sigaddset(&set, handled_signals[i]);
    s->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = &s->src_signal;
    if (s->sigfd < 0 || epoll_ctl(s->ep, EPOLL_CTL_ADD, s->sigfd, &ev) != 0) {
        (void)snprintf(err, errlen, "signalfd: %s", strerror(errno));
        chatd_server_free(s);
        return EX_OSERR;
    }

    if (s->cfg.nlisten == 0) {
        rc = add_listener(s, "*", err, errlen);
    } else {
        rc = EX_OK;
        for (size_t i = 0; rc == EX_OK && i < s->cfg.nlisten; i++)
            rc = add_listener(s, s->cfg.listen[i], err, errlen);
    }
    if (rc != EX_OK) {
        chatd_server_free(s);
        return rc;
    }
    if (p->port_file != NULL) {
        char text[16];
        int n = snprintf(text, sizeof text, "%u\n", listener_port(s));
        if (fu_write_atomic(p->port_file, text, (size_t)n, 0600, err, errlen) != FU_OK) {
            chatd_server_free(s);
            return EX_CANTCREAT;
        }
    }
    *out = s;
    return EX_OK;
}

void chatd_server_free(chatd_server *s)
{
    if (s == NULL)
        return;
    while (s->all != NULL)
        conn_close(s, s->all);
    free_dead(s);
    close_listeners(s);
    if (s->sigfd >= 0)
        (void)close(s->sigfd);
    if (s->ep >= 0)
        (void)close(s->ep);
    if (s->hub != NULL) {
        drain_events(s);
        chat_hub_free(s->hub);
    }
    chatd_idmap_free(&s->ids);
    chatd_table_free(&s->addrs);
    sodium_memzero(s, sizeof *s);
    free(s);
}

/* Milliseconds until the earliest deadline, for epoll_wait (-1: none). */
static int wait_timeout(chatd_server *s)
{
    uint64_t d = chat_hub_next_deadline(s->hub);
    for (const conn *c = s->timed; c != NULL; c = c->tnext)
        if (c->deadline < d)
            d = c->deadline;
    if (s->stopping && s->stop_deadline < d)
        d = s->stop_deadline;
    if (s->accept_paused_until != 0 && s->accept_paused_until < d)
        d = s->accept_paused_until;
    if (s->refuse_suppressed > 0 && (s->refuse_window + 1) * 1000 < d)
        d = (s->refuse_window + 1) * 1000;
    if (d == CHAT_NO_DEADLINE)
        return -1;
    uint64_t now = clock_ms(CLOCK_MONOTONIC);
    if (d <= now)
        return 0;
    /* +1: wake just after the deadline, not just before it. */
    return d - now >= (uint64_t)INT_MAX ? INT_MAX : (int)(d - now) + 1;
}

static void expire(chatd_server *s)
{
    conn *next;
    for (conn *c = s->timed; c != NULL; c = next) {
        next = c->tnext;
        if (c->deadline > s->now.mono_ms)
            continue;
        if (c->ph == PH_DRAIN) {
            /* The peer does not read: reset rather than leave the kernel
             * holding its unsent output. */
            struct linger lg = {1, 0};
            (void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            CONN_LOG(CHATD_LOG_INFO, c->id, c, "drain-timeout action=reset");
        }
        conn_close(s, c);
    }
}

static void handle_events(chatd_server *s, const struct epoll_event *evs, int n)
{
    for (int i = 0; i < n; i++) {
        int kind = *(int *)evs[i].data.ptr;
        if (kind == SRC_LISTEN) {
            on_listener(s, evs[i].data.ptr);
        } else if (kind == SRC_SIGNAL) {
            on_signal(s);
        } else {
            conn *c = evs[i].data.ptr;
            if (c->dead)
                continue;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                conn_read(s, c);
            if (!c->dead && (evs[i].events & EPOLLOUT))
                conn_flush(s, c);
        }
    }
}

int chatd_server_run(chatd_server *s)
{
    struct epoll_event evs[128];
    const int maxev = (int)(sizeof evs / sizeof evs[0]);
    for (;;) {
        int n = epoll_wait(s->ep, evs, maxev, wait_timeout(s));
        if (n < 0 && errno != EINTR) {
            log_error("epoll-failed reason=\"%s\"", strerror(errno));
            return EX_OSERR;
        }
        update_now(s);
        uint64_t woke_us = clock_us();
        s->in_budget = (size_t)(s->cfg.out_max / IN_SHARE);
        handle_events(s, evs, n);
        /* Input that arrived while this batch was handled joins the same
         * flush. Several senders of a room usually write at nearly the same
         * time; the first wakes us, and without this the others would each
         * cost a second flush to every member: one more AEAD and one more
         * send(2) per member (profile in docs/PERFORMANCE.md). Only while a
         * poll brings new input, within the iteration's input budget, at
         * most REPOLL_MAX polls, and only in the first REPOLL_US after the
         * wakeup: input that is expensive to handle (handshakes, proofs)
         * would otherwise hold back every reply of the iteration, and
         * clients waiting for replies then wait in lockstep. */
        for (int r = 0; r < REPOLL_MAX && n > 0 && s->in_budget > 0 &&
                        clock_us() - woke_us < REPOLL_US;
             r++) {
            size_t before = s->in_budget;
            n = epoll_wait(s->ep, evs, maxev, 0);
            if (n <= 0)
                break;
            handle_events(s, evs, n);
            if (s->in_budget == before)
                break;
        }
        update_now(s);
        chat_hub_tick(s->hub, s->now);
        chat_conn_id id;
        while (chat_hub_next_dirty(s->hub, &id)) {
            conn *c = conn_by_id(s, id);
            if (c != NULL)
                conn_flush(s, c);
        }
        expire(s);
        refusals_tick(s);
        drain_events(s);
        if (s->accept_paused_until != 0 && s->now.mono_ms >= s->accept_paused_until &&
            !s->stopping)
            pause_accepting(s, 0);
        if (chat_hub_is_shut_down(s->hub) && !s->stopping) {
            s->stopping = 1;
            s->stop_deadline = s->now.mono_ms + s->cfg.drain_timeout_ms;
            s->accept_paused_until = 0;
            close_listeners(s);
            log_info("stopping connections=%zu", s->nconns);
        }
        free_dead(s);
        if (s->stopping &&
            (s->all == NULL || s->force_exit || s->now.mono_ms >= s->stop_deadline)) {
            if (s->all != NULL)
                log_warn("stopped-with-pending connections=%zu", s->nconns + s->nrejects);
            return EX_OK;
        }
    }
}
