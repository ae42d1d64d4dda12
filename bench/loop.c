/* The load generator's engine: each thread's non-blocking connections on
 * epoll, the events of the protocol modules (chatproto.c, ircproto.c),
 * sending, and the checks on every delivery. run.c sets a run up, watches
 * its phases and prints the result.
 *
 * The in-flight rule, the same for chat and IRC so that figures compare:
 * a message is in flight until every one of the other N-1 clients has
 * received it. IRC servers do not echo a sender's own PRIVMSG; chatd does
 * (PROTOCOL.md §9.3), and chatbench checks that echo like any delivery but
 * neither counts it as a delivery nor lets it release the window. So
 * deliveries = S * M * (N - 1) in both protocols. Every receiver sees a
 * sender's messages in order, so messages complete in order and a
 * sender's window is simply sent - completed. */
#include "bench.h"
#include "msgtext.h"

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 1000        /* protocol timers (chat keepalive PINGs) */

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_name(const bench *b, uint32_t idx, char out[CHAT_NAME_MAX + 1])
{
    snprintf(out, CHAT_NAME_MAX + 1, "%s%u", b->o->prefix, (unsigned)idx);
}

static void wake(bthread *th)
{
    uint64_t one = 1;
    (void)!write(th->efd, &one, sizeof one);
}

void bench_wake_all(bench *b)
{
    for (unsigned i = 0; i < b->nth; i++)
        if (b->th[i].efd >= 0)
            wake(&b->th[i]);
}

int bench_fail(bench *b, const char *fmt, ...)
{
    pthread_mutex_lock(&b->err_mu);
    /* Once the run has stopped (done, or already failed), what the closing
     * connections report is not the run's error. */
    if (!atomic_load(&b->stop)) {
        if (b->nerrors++ == 0) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(b->err, sizeof b->err, fmt, ap);
            va_end(ap);
        }
        atomic_store(&b->failed, 1);
    }
    pthread_mutex_unlock(&b->err_mu);
    bench_wake_all(b);
    return -1;
}

/* ---- connections ---------------------------------------------------- */

static void mark_dirty(bconn *c)
{
    if (!c->dirty) {
        c->dirty = 1;
        c->next_dirty = c->th->dirty;
        c->th->dirty = c;
    }
}

static void watch(bconn *c, uint32_t events, int op)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.ptr = c;
    if (epoll_ctl(c->th->ep, op, c->fd, &ev) != 0)
        (void)bench_fail(c->th->b, "epoll_ctl: %s", strerror(errno));
}

static void conn_release(bconn *c)
{
    if (c->ps != NULL)
        c->th->b->proto->close(c);
    if (c->fd >= 0) {
        (void)close(c->fd); /* also leaves the epoll set */
        c->fd = -1;
    }
    c->want_out = 0;
}

static int conn_open(bconn *c)
{
    bench *b = c->th->b;
    c->fd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return bench_fail(b, "socket: %s%s", strerror(errno),
                          errno == EMFILE ? " (too many open files: lower the connection count)"
                                          : "");
    int one = 1;
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (const struct sockaddr *)&b->addr, b->addrlen) != 0 &&
        errno != EINPROGRESS) {
        int e = errno;
        conn_release(c);
        return bench_fail(b, "cannot connect to %s port %u: %s%s", b->o->host, b->o->port,
                          strerror(e),
                          e == EADDRNOTAVAIL ? " (out of local ports: fewer connections, or "
                                               "wait for TIME_WAIT sockets to expire)"
                                             : "");
    }
    c->phase = PH_CONNECTING;
    watch(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_ADD);
    return 0;
}

static void conn_connected(bconn *c)
{
    bench *b = c->th->b;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0) {
        (void)bench_fail(b, "cannot connect to %s port %u: %s%s", b->o->host, b->o->port,
                         strerror(err),
                         err == ECONNREFUSED ? " (is the server running on that port?)" : "");
        return;
    }
    c->phase = PH_LOGIN;
    watch(c, EPOLLIN, EPOLL_CTL_MOD);
    if (b->proto->open(c, bench_now_ns() / 1000000u) == 0)
        mark_dirty(c);
}

/* The server closed the socket. Expected only after our QUIT. */
static void conn_eof(bconn *c)
{
    bench *b = c->th->b;
    if (c->phase != PH_QUIT) {
        char name[CHAT_NAME_MAX + 1];
        bench_name(b, c->idx, name);
        (void)bench_fail(b, "the server closed connection %u (%s) without a reason%s", c->idx,
                         name,
                         c->phase == PH_LOGIN ? " during login (connection limits? login "
                                                "rate limits?)"
                                              : "");
        conn_release(c);
        c->phase = PH_DONE;
        return;
    }
    conn_release(c);
    c->phase = PH_FREE;
    /* login: one cycle done, start the next on the same account */
    if (b->o->scenario == SC_LOGIN && !atomic_load(&b->stop))
        (void)conn_open(c);
    else
        c->phase = PH_DONE;
}

static void conn_flush(bconn *c)
{
    bench *b = c->th->b;
    for (;;) {
        size_t n = 0;
        const uint8_t *p = b->proto->peek(c, &n);
        if (n == 0)
            break;
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            b->proto->ack(c, (size_t)w);
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out) {
                c->want_out = 1;
                watch(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
            }
            return;
        }
        if (c->phase == PH_QUIT) {
            conn_eof(c); /* the server closed first: as good as its EOF */
            return;
        }
        (void)bench_fail(b, "connection %u: write: %s", c->idx, strerror(errno));
        return;
    }
    if (c->want_out) {
        c->want_out = 0;
        watch(c, EPOLLIN, EPOLL_CTL_MOD);
    }
}

static void conn_readable(bconn *c)
{
    bthread *th = c->th;
    bench *b = th->b;
    /* A few reads at most, so that one busy connection does not starve
     * the others (the socket stays readable: level-triggered). */
    for (int i = 0; i < 4 && c->fd >= 0; i++) {
        ssize_t r = read(c->fd, th->buf, sizeof th->buf);
        th->now_ns = bench_now_ns();
        if (r > 0) {
            if (c->ps != NULL &&
                b->proto->input(c, th->buf, (size_t)r, th->now_ns / 1000000u) != 0)
                return;
            mark_dirty(c);
            if ((size_t)r < sizeof th->buf)
                return;
            continue;
        }
        if (r == 0) {
            conn_eof(c);
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        if (c->phase == PH_QUIT) {
            conn_eof(c);
            return;
        }
        (void)bench_fail(b, "connection %u: read: %s", c->idx, strerror(errno));
        return;
    }
}

/* ---- events from the protocol modules ------------------------------ */

void bench_on_ready(bconn *c)
{
    bench *b = c->th->b;
    if (b->o->scenario == SC_LOGIN) {
        if (!atomic_load(&b->stop))
            atomic_fetch_add(&b->logins, 1);
        if (b->proto->quit(c) == 0)
            c->phase = PH_QUIT;
        return;
    }
    if (b->need_room) {
        if (b->proto->join(c, b->o->room) == 0)
            c->phase = PH_JOINING;
        return;
    }
    c->phase = PH_READY;
    c->th->opening--;
    atomic_fetch_add(&b->ready, 1);
}

void bench_on_joined(bconn *c)
{
    if (c->phase != PH_JOINING)
        return;
    c->phase = PH_READY;
    c->th->opening--;
    atomic_fetch_add(&c->th->b->ready, 1);
}

void bench_on_closed(bconn *c, const char *why)
{
    if (c->phase == PH_QUIT)
        return;
    char name[CHAT_NAME_MAX + 1];
    bench_name(c->th->b, c->idx, name);
    (void)bench_fail(c->th->b, "connection %u (%s): %s", c->idx, name, why);
}

/* ---- messages ------------------------------------------------------- */

void bench_on_text(bconn *c, const char *from, size_t from_len, const uint8_t *text, size_t len)
{
    bthread *th = c->th;
    bench *b = th->b;
    uint64_t ts = 0;
    uint32_t s = 0, seq = 0;
    int rc = bt_check(text, len, b->o->b, &ts, &s, &seq);
    if (rc == BT_E_HEADER || s >= b->nsenders || seq >= b->msgs) {
        (void)bench_fail(b, "connection %u received a message that is not this run's: \"%.*s\"",
                         c->idx, (int)(len < 60 ? len : 60), (const char *)text);
        return;
    }
    const char *want = b->snames[s];
    if (from_len != b->snames_len[s] || strncasecmp(from, want, from_len) != 0) {
        (void)bench_fail(b, "connection %u: message %u of sender %u came from \"%.*s\", not %s",
                         c->idx, seq, s, (int)from_len, from, want);
        return;
    }
    if (seq != c->expect[s]) {
        (void)bench_fail(b,
                         "connection %u: from sender %u got message %u where %u was due (lost, "
                         "duplicated or reordered)",
                         c->idx, s, seq, c->expect[s]);
        return;
    }
    if (rc != BT_OK) {
        (void)bench_fail(b, "connection %u: message %u of sender %u is %s", c->idx, seq, s,
                         rc == BT_E_LENGTH ? "not -b bytes long" : "corrupt");
        return;
    }
    c->expect[s]++;
    if (s == c->idx)
        return; /* chatd's echo to the sender: checked, not counted (see the top) */

    uint64_t now = th->now_ns; /* when the read that brought it returned */
    lat_add(&th->hist, now > ts ? now - ts : 0);
    th->last_deliv_ns = now;
    atomic_fetch_add_explicit(&th->delivered, 1, memory_order_relaxed);
    _Atomic uint32_t *r = &b->remain[(size_t)s * b->msgs + seq];
    if (atomic_fetch_sub(r, 1) == 1) {
        /* The last receiver: the message is complete, the sender's window
         * moves. Wake the sender's thread if it is another. */
        atomic_fetch_add(&b->done[s], 1);
        atomic_fetch_add(&b->msgs_done, 1);
        bthread *sth = &b->th[s % b->nth];
        if (sth != th)
            wake(sth);
    }
}

static void send_one(bconn *c)
{
    bthread *th = c->th;
    bench *b = th->b;
    char text[CHAT_TEXT_MAX + 1];
    uint64_t now = bench_now_ns();
    size_t n = bt_make(text, b->o->b, now, c->idx, c->sent);
    if (b->proto->say(c, b->o->room, text, n) != 0)
        return;
    c->sent++;
    if (th->first_send_ns == 0)
        th->first_send_ns = now;
    mark_dirty(c);
}

/* fanout: keep each sender's window full. */
static void pump_window(bthread *th)
{
    bench *b = th->b;
    for (uint32_t i = 0; i < th->nsenders; i++) {
        bconn *c = th->senders[i];
        if (c->phase != PH_READY)
            continue;
        uint32_t done = atomic_load(&b->done[c->idx]);
        while (c->sent < b->msgs && c->sent - done < b->o->w && !atomic_load(&b->failed))
            send_one(c);
    }
}

/* rate: message k of every sender is due at t0 + k / R. Send what is
 * due, then set the thread's one-shot timer to the next due instant, so
 * pacing is as exact as the timer and costs one wake-up per instant. */
static void pump_rate(bthread *th)
{
    bench *b = th->b;
    uint64_t now = bench_now_ns();
    double due_d = floor((double)(now - b->t0_ns) * b->o->rate / 1e9) + 1.0;
    uint32_t due = due_d >= (double)b->msgs ? b->msgs : (uint32_t)due_d;
    uint32_t next = b->msgs; /* the lowest message number not yet sent */
    for (uint32_t i = 0; i < th->nsenders; i++) {
        bconn *c = th->senders[i];
        while (c->phase == PH_READY && c->sent < due && !atomic_load(&b->failed))
            send_one(c);
        if (c->sent < next)
            next = c->sent;
    }
    if (next >= b->msgs || next == th->timer_for)
        return;
    uint64_t at = b->t0_ns + (uint64_t)((double)next * 1e9 / b->o->rate);
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = (time_t)(at / 1000000000u);
    its.it_value.tv_nsec = (long)(at % 1000000000u);
    if (timerfd_settime(th->tfd, TFD_TIMER_ABSTIME, &its, NULL) != 0)
        (void)bench_fail(b, "timerfd_settime: %s", strerror(errno));
    th->timer_for = next;
}

/* ---- threads -------------------------------------------------------- */

static void open_more(bthread *th)
{
    while (th->opening < th->window && th->next_open < th->nconns &&
           !atomic_load(&th->b->stop)) {
        bconn *c = &th->conns[th->next_open++];
        th->opening++;
        if (conn_open(c) != 0)
            return;
    }
}

static void tick_all(bthread *th, uint64_t now_ms)
{
    for (uint32_t j = 0; j < th->nconns; j++) {
        bconn *c = &th->conns[j];
        if (c->ps != NULL && c->phase >= PH_LOGIN && c->phase <= PH_READY) {
            th->b->proto->tick(c, now_ms);
            mark_dirty(c);
        }
    }
}

static void flush_dirty(bthread *th)
{
    while (th->dirty != NULL) {
        bconn *c = th->dirty;
        th->dirty = c->next_dirty;
        c->dirty = 0;
        if (c->fd >= 0 && c->ps != NULL && c->phase != PH_CONNECTING)
            conn_flush(c);
    }
}

static void on_wakeup(int fd)
{
    uint64_t v;
    (void)!read(fd, &v, sizeof v);
}

void *bench_thread_main(void *arg)
{
    bthread *th = arg;
    bench *b = th->b;
    struct epoll_event evs[256];
    th->timer_for = UINT32_MAX;
    while (!atomic_load(&b->stop)) {
        open_more(th);
        int n = epoll_wait(th->ep, evs, 256, 100);
        if (n < 0 && errno != EINTR) {
            (void)bench_fail(b, "epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n && !atomic_load(&b->failed); i++) {
            void *p = evs[i].data.ptr;
            if (p == &th->efd) {
                on_wakeup(th->efd);
                continue;
            }
            if (p == &th->tfd) {
                on_wakeup(th->tfd);
                continue;
            }
            bconn *c = p;
            if (c->fd < 0)
                continue;
            if (c->phase == PH_CONNECTING) {
                conn_connected(c);
                continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                conn_readable(c);
            if ((evs[i].events & EPOLLOUT) && c->fd >= 0)
                mark_dirty(c);
        }
        if (atomic_load(&b->go) && !atomic_load(&b->failed)) {
            if (b->o->scenario == SC_FANOUT)
                pump_window(th);
            else if (b->o->scenario == SC_RATE)
                pump_rate(th);
        }
        uint64_t now_ms = bench_now_ns() / 1000000u;
        if (now_ms - th->last_tick_ms >= TICK_MS) {
            th->last_tick_ms = now_ms;
            tick_all(th, now_ms);
        }
        flush_dirty(th);
    }
    /* Leave politely where we can: a GOODBYE / QUIT, one write attempt. */
    for (uint32_t j = 0; j < th->nconns; j++) {
        bconn *c = &th->conns[j];
        if (c->fd >= 0 && c->ps != NULL && c->phase >= PH_LOGIN && c->phase <= PH_READY &&
            b->proto->quit(c) == 0) {
            size_t len = 0;
            const uint8_t *out = b->proto->peek(c, &len);
            if (len > 0)
                (void)!send(c->fd, out, len, MSG_NOSIGNAL);
        }
        conn_release(c);
    }
    return NULL;
}
