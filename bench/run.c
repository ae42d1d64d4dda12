/* A chatbench run: resolve and check the address, raise the open-file
 * limit, share the connections out between threads (loop.c runs them),
 * then watch the phases from the main thread: everyone connected (and in
 * the room), the measured phase, the stop; read the server's CPU and
 * memory from /proc around the measured phase, and print the RESULT
 * line. */
#include "bench.h"
#include "msgtext.h"
#include "procstat.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int resolve(const bench_opts *o, struct sockaddr_storage *ss, socklen_t *len)
{
    char port[16];
    snprintf(port, sizeof port, "%u", o->port);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = getaddrinfo(o->host, port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "chatbench: %s: %s\n", o->host, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    /* A load generator aimed elsewhere is a flood: loopback only. */
    int loop = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        loop = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        loop = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    }
    if (!loop) {
        fprintf(stderr, "chatbench: %s is not a loopback address; chatbench only loads servers "
                        "on this machine (127.0.0.0/8, ::1)\n", o->host);
        return -1;
    }
    return 0;
}

int bench_connect_blocking(const bench_opts *o)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    if (resolve(o, &ss, &len) != 0)
        return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)&ss, len) != 0) {
        fprintf(stderr, "chatbench: cannot connect to %s port %u: %s\n", o->host, o->port,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Enough file descriptors for every connection, or a clear error. */
static int raise_nofile(uint64_t need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
            fprintf(stderr,
                    "chatbench: this run needs %llu file descriptors but the hard limit is "
                    "%llu: raise it (ulimit -Hn, or LimitNOFILE) or use fewer connections\n",
                    (unsigned long long)need, (unsigned long long)rl.rlim_max);
            return -1;
        }
        rl.rlim_cur = need;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            fprintf(stderr, "chatbench: cannot raise the open-file limit to %llu: %s\n",
                    (unsigned long long)need, strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int setup_threads(bench *b)
{
    const bench_opts *o = b->o;
    b->nth = o->threads;
    b->th = calloc(b->nth, sizeof *b->th);
    if (b->th == NULL)
        return -1;
    for (unsigned t = 0; t < b->nth; t++) {
        bthread *th = &b->th[t];
        th->b = b;
        th->id = t;
        th->ep = th->efd = th->tfd = -1;
    }
    for (unsigned t = 0; t < b->nth; t++) {
        bthread *th = &b->th[t];
        lat_init(&th->hist);
        th->last_tick_ms = bench_now_ns() / 1000000u;
        th->ep = epoll_create1(EPOLL_CLOEXEC);
        th->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        th->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (th->ep < 0 || th->efd < 0 || th->tfd < 0) {
            fprintf(stderr, "chatbench: epoll/eventfd/timerfd: %s\n", strerror(errno));
            return -1;
        }
        struct epoll_event ev;
        memset(&ev, 0, sizeof ev);
        ev.events = EPOLLIN;
        ev.data.ptr = &th->efd;
        (void)epoll_ctl(th->ep, EPOLL_CTL_ADD, th->efd, &ev);
        ev.data.ptr = &th->tfd;
        (void)epoll_ctl(th->ep, EPOLL_CTL_ADD, th->tfd, &ev);

        th->nconns = b->nconns / b->nth + (t < b->nconns % b->nth ? 1u : 0u);
        th->conns = calloc(th->nconns ? th->nconns : 1, sizeof *th->conns);
        th->senders = calloc(b->nsenders ? b->nsenders : 1, sizeof *th->senders);
        if (th->conns == NULL || th->senders == NULL)
            return -1;
        /* the connect window is shared out between the threads */
        th->window = o->connect_window / b->nth;
        if (th->window == 0)
            th->window = 1;
        if (o->scenario == SC_LOGIN)
            th->window = th->nconns; /* K concurrent logins, all the time */
        for (uint32_t j = 0; j < th->nconns; j++) {
            bconn *c = &th->conns[j];
            c->fd = -1;
            c->th = th;
            c->idx = t + j * b->nth;
            if (b->nsenders > 0) {
                c->expect = calloc(b->nsenders, sizeof *c->expect);
                if (c->expect == NULL)
                    return -1;
            }
            if (c->idx < b->nsenders)
                th->senders[th->nsenders++] = c;
        }
    }
    return 0;
}

static void free_bench(bench *b)
{
    if (b->th != NULL) {
        for (unsigned t = 0; t < b->nth; t++) {
            bthread *th = &b->th[t];
            for (uint32_t j = 0; th->conns != NULL && j < th->nconns; j++)
                free(th->conns[j].expect);
            free(th->conns);
            free(th->senders);
            if (th->ep >= 0)
                close(th->ep);
            if (th->efd >= 0)
                close(th->efd);
            if (th->tfd >= 0)
                close(th->tfd);
        }
        free(b->th);
    }
    if (b->seeds != NULL) {
        sodium_memzero(b->seeds, b->nconns * sizeof *b->seeds);
        free(b->seeds);
    }
    free(b->remain);
    free(b->done);
    free(b->snames);
    free(b->snames_len);
    pthread_mutex_destroy(&b->err_mu);
}

static uint64_t total_delivered(bench *b)
{
    uint64_t n = 0;
    for (unsigned t = 0; t < b->nth; t++)
        n += atomic_load_explicit(&b->th[t].delivered, memory_order_relaxed);
    return n;
}

enum { WAIT_READY, WAIT_MSGS, WAIT_SLEEP };

/* The main thread watches the run: until every client is ready, every
 * message complete, or a time has passed; and fails it on an error, on
 * --timeout, or (except while holding idle connections) when nothing has
 * moved for --stall seconds. */
static int wait_phase(bench *b, int what, uint64_t until_ns, uint64_t deadline_ns, int stall_check)
{
    const bench_opts *o = b->o;
    uint64_t total = (uint64_t)b->nsenders * b->msgs;
    uint64_t last = UINT64_MAX, last_ns = bench_now_ns();
    for (;;) {
        if (atomic_load(&b->failed))
            return -1;
        uint64_t now = bench_now_ns();
        if (what == WAIT_READY && atomic_load(&b->ready) == b->nconns)
            return 0;
        if (what == WAIT_MSGS && atomic_load(&b->msgs_done) == total)
            return 0;
        if (what == WAIT_SLEEP && now >= until_ns)
            return 0;
        uint64_t d = total_delivered(b);
        if (what == WAIT_MSGS) {
            /* The steady phase: from 10% to 90% of the deliveries, without
             * the ramp-up of the windows and the drain at the end. */
            uint64_t want = total * (b->nconns - 1);
            if (b->mid_t1 == 0 && d >= want / 10) {
                b->mid_c1 = d;
                b->mid_t1 = now;
            }
            if (b->mid_t2 == 0 && d >= want - want / 10) {
                b->mid_c2 = d;
                b->mid_t2 = now;
            }
        }
        uint64_t p = d + atomic_load(&b->ready) + atomic_load(&b->logins);
        if (p != last) {
            last = p;
            last_ns = now;
        }
        const char *why = NULL;
        char whybuf[64];
        if (now >= deadline_ns) {
            snprintf(whybuf, sizeof whybuf, "timed out after %.0f s (--timeout)", o->timeout);
            why = whybuf;
        } else if (stall_check && (double)(now - last_ns) / 1e9 > o->stall) {
            snprintf(whybuf, sizeof whybuf, "no progress for %.1f s (--stall)", o->stall);
            why = whybuf;
        }
        if (why != NULL) {
            if (what == WAIT_READY)
                return bench_fail(b, "%s: %u of %u clients %s%s", why,
                                  atomic_load(&b->ready), b->nconns,
                                  o->proto == PROTO_CHAT ? "logged in" : "registered",
                                  b->need_room ? " and in the room" : "");
            if (what == WAIT_MSGS)
                return bench_fail(b,
                                  "%s: %llu of %llu messages delivered to every receiver, "
                                  "%llu of %llu deliveries",
                                  why, (unsigned long long)atomic_load(&b->msgs_done),
                                  (unsigned long long)total,
                                  (unsigned long long)total_delivered(b),
                                  (unsigned long long)(total * (b->nconns - 1)));
            return bench_fail(b, "%s: %llu logins", why,
                              (unsigned long long)atomic_load(&b->logins));
        }
        sleep_ns(1000000);
    }
}

/* "na" when the server's pid was not given or /proc could not tell. */
static void fmt_num(char *out, size_t cap, double v, int decimals)
{
    if (v < 0 || !isfinite(v))
        snprintf(out, cap, "na");
    else
        snprintf(out, cap, "%.*f", decimals, v);
}

static double cpu_now(const bench_opts *o)
{
    return o->server_pid > 0 ? proc_cpu_s(o->server_pid) : -1;
}

/* chatbench's own CPU time (all threads), to show whether the load
 * generator rather than the server was the limit. */
static double self_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static long long rss_now(const bench_opts *o)
{
    return o->server_pid > 0 ? proc_rss_kib(o->server_pid) : -1;
}

static void print_result(bench *b, double secs, double cpu, double self_cpu, long long rss,
                         long long rss_before)
{
    const bench_opts *o = b->o;
    char cpus[32], per_cpu[32], rsss[32], selfs[32];
    fmt_num(cpus, sizeof cpus, cpu, 2);
    fmt_num(selfs, sizeof selfs, self_cpu, 2);
    fmt_num(rsss, sizeof rsss, (double)rss, 0);
    printf("RESULT proto=%s scenario=%s ", b->proto->name,
           o->scenario == SC_FANOUT ? "fanout"
           : o->scenario == SC_RATE ? "rate"
           : o->scenario == SC_LOGIN ? "login"
                                     : "idle");
    if (o->scenario == SC_FANOUT || o->scenario == SC_RATE) {
        lat_hist h;
        lat_init(&h);
        uint64_t first = 0, last = 0;
        for (unsigned t = 0; t < b->nth; t++) {
            lat_merge(&h, &b->th[t].hist);
            if (b->th[t].first_send_ns != 0 && (first == 0 || b->th[t].first_send_ns < first))
                first = b->th[t].first_send_ns;
            if (b->th[t].last_deliv_ns > last)
                last = b->th[t].last_deliv_ns;
        }
        uint64_t d = total_delivered(b);
        double span = last > first ? (double)(last - first) / 1e9 : 0;
        fmt_num(per_cpu, sizeof per_cpu, cpu > 0 ? (double)d / cpu : -1, 0);
        if (o->scenario == SC_FANOUT)
            printf("n=%u s=%u w=%u m=%u b=%zu ", o->n, o->s, o->w, b->msgs, o->b);
        else
            printf("n=%u s=%u rate=%g duration=%g m=%u b=%zu ", o->n, o->s, o->rate, o->duration,
                   b->msgs, o->b);
        char mid[32];
        fmt_num(mid, sizeof mid,
                b->mid_t2 > b->mid_t1 + 1000000u
                    ? (double)(b->mid_c2 - b->mid_c1) * 1e9 / (double)(b->mid_t2 - b->mid_t1)
                    : -1,
                0);
        printf("deliveries=%llu secs=%.3f deliveries_per_s=%.0f steady_deliveries_per_s=%s "
               "p50_us=%.0f p90_us=%.0f p99_us=%.0f p999_us=%.0f server_cpu_s=%s "
               "deliveries_per_cpu_s=%s server_rss_kb=%s bench_cpu_s=%s errors=%u\n",
               (unsigned long long)d, span, span > 0 ? (double)d / span : 0, mid,
               (double)lat_quantile(&h, 0.50) / 1e3, (double)lat_quantile(&h, 0.90) / 1e3,
               (double)lat_quantile(&h, 0.99) / 1e3, (double)lat_quantile(&h, 0.999) / 1e3, cpus,
               per_cpu, rsss, selfs, b->nerrors);
    } else if (o->scenario == SC_LOGIN) {
        uint64_t l = atomic_load(&b->logins);
        fmt_num(per_cpu, sizeof per_cpu, cpu > 0 ? (double)l / cpu : -1, 0);
        printf("k=%u duration=%g logins=%llu secs=%.3f logins_per_s=%.0f server_cpu_s=%s "
               "logins_per_cpu_s=%s server_rss_kb=%s bench_cpu_s=%s errors=%u\n",
               o->k, o->duration, (unsigned long long)l, secs, secs > 0 ? (double)l / secs : 0,
               cpus, per_cpu, rsss, selfs, b->nerrors);
    } else {
        char before[32], per_conn[32];
        fmt_num(before, sizeof before, (double)rss_before, 0);
        /* A negative growth (the server returned memory meanwhile) is
         * printed as it is, not hidden. */
        if (rss >= 0 && rss_before >= 0 && o->c > 0)
            snprintf(per_conn, sizeof per_conn, "%.0f",
                     (double)(rss - rss_before) * 1024.0 / (double)o->c);
        else
            snprintf(per_conn, sizeof per_conn, "na");
        printf("c=%u joined=%d conns=%u server_rss_before_kb=%s server_rss_kb=%s "
               "rss_per_conn_b=%s server_cpu_s=%s errors=%u\n",
               o->c, o->idle_join, atomic_load(&b->ready), before, rsss, per_conn, cpus,
               b->nerrors);
    }
    fflush(stdout);
}

int bench_run(const bench_opts *o)
{
    bench b;
    memset(&b, 0, sizeof b);
    b.o = o;
    b.proto = o->proto == PROTO_CHAT ? &bench_chat_proto : &bench_irc_proto;
    pthread_mutex_init(&b.err_mu, NULL);
    bt_init();
    if (resolve(o, &b.addr, &b.addrlen) != 0) {
        free_bench(&b);
        return 1;
    }
    switch (o->scenario) {
    case SC_FANOUT:
        b.nconns = o->n;
        b.nsenders = o->s;
        b.msgs = o->m;
        b.need_room = 1;
        break;
    case SC_RATE:
        b.nconns = o->n;
        b.nsenders = o->s;
        b.msgs = (uint32_t)ceil(o->rate * o->duration);
        b.need_room = 1;
        break;
    case SC_LOGIN:
        b.nconns = o->k;
        break;
    default:
        b.nconns = o->c;
        b.need_room = o->idle_join;
        break;
    }
    int rc = 1;
    if (raise_nofile((uint64_t)b.nconns + 64 + 3u * o->threads) != 0)
        goto out;
    if (o->proto == PROTO_CHAT && (b.seeds = calloc(b.nconns, sizeof *b.seeds)) == NULL)
        goto nomem;
    if (b.nsenders > 0) {
        size_t nm = (size_t)b.nsenders * b.msgs;
        b.remain = malloc((nm ? nm : 1) * sizeof *b.remain);
        b.done = calloc(b.nsenders, sizeof *b.done);
        b.snames = calloc(b.nsenders, sizeof *b.snames);
        b.snames_len = calloc(b.nsenders, sizeof *b.snames_len);
        if (b.remain == NULL || b.done == NULL || b.snames == NULL || b.snames_len == NULL)
            goto nomem;
        for (size_t i = 0; i < nm; i++)
            atomic_init(&b.remain[i], b.nconns - 1);
        for (uint32_t s = 0; s < b.nsenders; s++) {
            bench_name(&b, s, b.snames[s]);
            b.snames_len[s] = strlen(b.snames[s]);
        }
    }
    if (setup_threads(&b) != 0)
        goto nomem;

    long long rss_before = rss_now(o);
    uint64_t start = bench_now_ns();
    uint64_t deadline = start + (uint64_t)(o->timeout * 1e9);
    double cpu0 = -1, cpu1 = -1, self0 = -1, self1 = -1;
    if (o->scenario == SC_LOGIN) {
        cpu0 = cpu_now(o);
        self0 = self_cpu_s();
        b.t0_ns = start;
        atomic_store(&b.go, 1);
    }
    unsigned started = 0;
    for (; started < b.nth; started++) {
        if (pthread_create(&b.th[started].tid, NULL, bench_thread_main, &b.th[started]) != 0) {
            (void)bench_fail(&b, "cannot start a thread");
            break;
        }
    }

    int w = atomic_load(&b.failed) ? -1 : 0;
    double secs = 0;
    long long rss = -1;
    if (w == 0 && o->scenario != SC_LOGIN)
        w = wait_phase(&b, WAIT_READY, 0, deadline, 1);
    if (w == 0 && (o->scenario == SC_FANOUT || o->scenario == SC_RATE)) {
        cpu0 = cpu_now(o);
        self0 = self_cpu_s();
        b.t0_ns = bench_now_ns();
        atomic_store(&b.go, 1);
        bench_wake_all(&b);
        w = wait_phase(&b, WAIT_MSGS, 0, deadline, 1);
        cpu1 = cpu_now(o);
        self1 = self_cpu_s();
        rss = rss_now(o);
    } else if (w == 0 && o->scenario == SC_IDLE) {
        cpu0 = cpu_now(o);
        w = wait_phase(&b, WAIT_SLEEP, bench_now_ns() + (uint64_t)(o->hold * 1e9), deadline, 0);
        rss = rss_now(o);
        cpu1 = cpu_now(o);
    } else if (w == 0 && o->scenario == SC_LOGIN) {
        w = wait_phase(&b, WAIT_SLEEP, start + (uint64_t)(o->duration * 1e9), deadline, 1);
        cpu1 = cpu_now(o);
        self1 = self_cpu_s();
        rss = rss_now(o);
        secs = (double)(bench_now_ns() - start) / 1e9;
    }
    atomic_store(&b.stop, 1);
    bench_wake_all(&b);
    for (unsigned t = 0; t < started; t++)
        pthread_join(b.th[t].tid, NULL);

    if (b.nerrors > 0)
        fprintf(stderr, "chatbench: %s%s\n", b.err,
                b.nerrors > 1 ? " (and more errors after it)" : "");
    print_result(&b, secs, cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1,
                 self0 >= 0 && self1 >= 0 ? self1 - self0 : -1, rss, rss_before);
    rc = b.nerrors > 0 ? 1 : 0;
    goto out;
nomem:
    fprintf(stderr, "chatbench: out of memory\n");
out:
    free_bench(&b);
    return rc;
}
