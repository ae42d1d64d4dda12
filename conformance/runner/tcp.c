/* The TCP adapter: the server under test is reached over real sockets.
 *
 * Two ways to get a server:
 *  - --chatd PATH: for every transcript the adapter starts a fresh chatd
 *    (temporary state directory, ephemeral loopback port, the transcript's
 *    server key, its @server settings mapped to chatd.conf keys, and its
 *    accounts created with `chatd add-user` before the server starts), so
 *    rooms, history and rate limits start clean; the child gets
 *    PR_SET_PDEATHSIG and is killed by PID at the end;
 *    actors with addr= connect from distinct loopback addresses 127.0.0.N;
 *  - --tcp HOST:PORT: a running server the adapter cannot configure or
 *    restart. The accounts a transcript needs are created through an admin
 *    account (ADD_USER, with the transcript's names) and deleted at the
 *    end (DEL_USER); transcripts with settings or a fixed server key are
 *    skipped, and state such as rooms outlives each transcript
 *    (docs/TRANSCRIPTS.md §10).
 *
 * Randomness is live and time is real: known-answer transcripts, `time`
 * steps and `fault` steps are not available. */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "adapter.h"
#include "ctl.h"
#include "proc.h"
#include "chat/chat.h"

#define START_TIMEOUT_MS 15000 /* chatd start-up, add-user (sanitizer builds are slow) */
#define IO_TIMEOUT_MS 5000     /* a single write or connect */

struct cf_conn {
    cf_conn *next;
    int fd; /* -1 once closed */
    int eof;
};

typedef struct tcp {
    cf_tcp_opts o;
    const cf_transcript *t;
    uint32_t scale; /* --chatd: the transcript's durations are divided by it */
    char dir[256];  /* per-transcript state directory ("" if none) */
    pid_t pid;      /* chatd, or 0 */
    char host[256];
    char port[16];
    int made_accounts; /* --tcp: accounts to delete at the end */
    uint8_t *created;  /* --tcp: per account of the transcript, made by us */
    cf_conn *conns;
} tcp;

static unsigned tcp_caps(void *self)
{
    tcp *tp = self;
    unsigned c = CF_CAP_SERVER;
    if (tp->o.chatd != NULL)
        c |= CF_CAP_CONFIG | CF_CAP_ACCOUNTS | CF_CAP_ADDR | CF_CAP_SCALED;
    else if (tp->o.admin_user != NULL && tp->o.admin_pass != NULL)
        c |= CF_CAP_ACCOUNTS;
    return c;
}

/* ---- child processes ---------------------------------------------------------------- */

/* argv with stdin from /dev/null and stdout and stderr appended to log. */
static pid_t spawn(char *const argv[], const char *log)
{
    int fds[3];
    fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    fds[1] = fds[2] = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    pid_t pid = fds[0] >= 0 && fds[1] >= 0 ? cf_spawn(argv, fds) : -1;
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    return pid;
}

/* The last non-empty line of a log file (for error messages). */
static void last_line(const char *path, char *out, size_t cap)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char line[512];
    while (fgets(line, sizeof line, f) != NULL) {
        size_t n = strlen(line);
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n > 0)
            cf_fmt(out, cap, "%s", line);
    }
    fclose(f);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    (void)remove(path);
    return 0;
}

static int write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return close(fd);
}

/* ---- argv for chatd ----------------------------------------------------------------- */

typedef struct argv_b {
    char *a[96];
    size_t n;
} argv_b;

static void arg_add(argv_b *v, const char *s)
{
    if (v->n + 1 < sizeof v->a / sizeof v->a[0])
        v->a[v->n++] = cf_xstrdup(s);
}

static void arg_set(argv_b *v, const char *key, const char *val)
{
    cf_buf b = {0};
    cf_buf_printf(&b, "%s=%s", key, val);
    arg_add(v, "--set");
    arg_add(v, (const char *)b.p);
    cf_buf_free(&b);
}

static void arg_free(argv_b *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->a[i]);
    v->n = 0;
}

static void arg_common(tcp *tp, argv_b *v)
{
    char p[300];
    arg_add(v, tp->o.chatd);
    arg_add(v, "--config");
    cf_fmt(p, sizeof p, "%s/chatd.conf", tp->dir);
    arg_add(v, p);
    arg_add(v, "--state-dir");
    cf_fmt(p, sizeof p, "%s/state", tp->dir);
    arg_add(v, p);
    arg_add(v, "--log-level");
    arg_add(v, "warn");
}

/* A transcript setting as chatd.conf keys; 1 and a reason when chatd has
 * no such setting. */
static int map_setting(const cf_arg *a, uint32_t scale, argv_b *v, char *why, size_t cap)
{
    static const struct {
        const char *t, *chatd;
        int kind; /* 0 number, 1 duration, 2 text as it is (--set takes it raw) */
    } map[] = {
        {"history", "history_length", 0},
        {"max-rooms", "max_rooms", 0},
        {"max-rooms-per-user", "max_rooms_per_user", 0},
        {"attempts", "login_attempts", 0},
        {"login-timeout", "login_timeout", 1},
        {"idle-timeout", "idle_timeout", 1},
        {"user-fail-limit", "login_failures_per_user", 0},
        {"addr-fail-limit", "login_failures_per_address", 0},
        {"fail-window", "login_failure_window", 1},
        {"out-max", "output_queue_max", 0},
        {"min-opslimit", "min_opslimit", 0},
        {"min-memlimit-kib", "min_memlimit_kib", 0},
        {"rooms", "default_rooms", 2},
        {"motd", "motd", 2},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(map[i].t, a->key) != 0)
            continue;
        cf_buf b = {0};
        uint64_t x;
        if (map[i].kind == 0 && cf_value_u64(&a->v, &x) == 0) {
            cf_buf_printf(&b, "%llu", (unsigned long long)x);
        } else if (map[i].kind == 1 && cf_parse_duration(a->v.p, a->v.n, &x) == 0) {
            cf_buf_printf(&b, "%llums", (unsigned long long)(x / scale));
        } else if (map[i].kind == 2) {
            cf_buf_add(&b, a->v.p, a->v.n);
            cf_buf_byte(&b, 0);
        } else {
            cf_buf_free(&b);
            cf_fmt(why, cap, "setting %s: a value chatd cannot take", a->key);
            return 1;
        }
        arg_set(v, map[i].chatd, (const char *)b.p);
        cf_buf_free(&b);
        return 0;
    }
    cf_fmt(why, cap, "@server %s: chatd has no such setting", a->key);
    return 1;
}

static int add_account(tcp *tp, const cf_account *a, char *err, size_t cap)
{
    char pwf[300], log[300];
    cf_fmt(pwf, sizeof pwf, "%s/pw", tp->dir);
    cf_fmt(log, sizeof log, "%s/chatd.log", tp->dir);
    if (a->has_salt || a->has_pk) {
        cf_fmt(err, cap, "account %s has a fixed verifier (salt=/pk=); chatd add-user derives "
                         "its own", a->name);
        return CF_BEGIN_SKIP;
    }
    if (memchr(a->pass, '\n', a->pass_len) != NULL || a->pass_len == 0) {
        cf_fmt(err, cap, "account %s: a password chatd's password file cannot hold", a->name);
        return CF_BEGIN_SKIP;
    }
    cf_buf pw = {0};
    cf_buf_add(&pw, a->pass, a->pass_len);
    cf_buf_byte(&pw, '\n');
    int wrc = write_file(pwf, pw.p, pw.len);
    sodium_memzero(pw.p, pw.cap);
    cf_buf_free(&pw);
    if (wrc != 0) {
        cf_fmt(err, cap, "%s: %s", pwf, strerror(errno));
        return -1;
    }
    argv_b v = {0};
    arg_common(tp, &v);
    char num[32];
    cf_fmt(num, sizeof num, "%u", a->opslimit != 0 ? a->opslimit : CHAT_OPSLIMIT_MIN);
    arg_set(&v, "min_opslimit", num);
    cf_fmt(num, sizeof num, "%u", a->memlimit_kib != 0 ? a->memlimit_kib : CHAT_MEMLIMIT_KIB_MIN);
    arg_set(&v, "min_memlimit_kib", num);
    arg_add(&v, "add-user");
    arg_add(&v, a->name);
    arg_add(&v, "--role");
    arg_add(&v, a->role == CHAT_ROLE_ADMIN ? "admin" : "user");
    arg_add(&v, "--password-file");
    arg_add(&v, pwf);
    v.a[v.n] = NULL;
    pid_t pid = spawn(v.a, log);
    arg_free(&v);
    int st = pid > 0 ? cf_reap(pid, START_TIMEOUT_MS) : -1;
    (void)remove(pwf);
    if (st != 0) {
        char line[400];
        last_line(log, line, sizeof line);
        cf_fmt(err, cap, "chatd add-user %s: status %d: %s", a->name, st, line);
        return -1;
    }
    return 0;
}

static int start_chatd(tcp *tp, char *err, size_t cap)
{
    const cf_transcript *t = tp->t;
    const char *tmp = getenv("TMPDIR");
    cf_fmt(tp->dir, sizeof tp->dir, "%s/cf-chatd-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    if (mkdtemp(tp->dir) == NULL) {
        cf_fmt(err, cap, "mkdtemp: %s", strerror(errno));
        tp->dir[0] = '\0';
        return -1;
    }
    char p[300], log[300], portf[300];
    cf_fmt(log, sizeof log, "%s/chatd.log", tp->dir);
    cf_fmt(portf, sizeof portf, "%s/port", tp->dir);
    cf_fmt(p, sizeof p, "%s/state", tp->dir);
    if (mkdir(p, 0700) != 0) {
        cf_fmt(err, cap, "%s: %s", p, strerror(errno));
        return -1;
    }
    cf_fmt(p, sizeof p, "%s/chatd.conf", tp->dir);
    if (write_file(p, "", 0) != 0) {
        cf_fmt(err, cap, "%s: %s", p, strerror(errno));
        return -1;
    }
    /* The transcript's server key (scripted or derived from its id). */
    uint8_t key[32];
    char hex[65];
    cf_static_key(t, "server", key);
    cf_hex(hex, key, sizeof key);
    sodium_memzero(key, sizeof key);
    hex[64] = '\n';
    char keyf[300];
    cf_fmt(keyf, sizeof keyf, "%s/server.key", tp->dir);
    int wrc = write_file(keyf, hex, 65);
    sodium_memzero(hex, sizeof hex);
    if (wrc != 0) {
        cf_fmt(err, cap, "%s: %s", keyf, strerror(errno));
        return -1;
    }

    /* The settings first: chatd refusing one is a skip, not a failure. */
    argv_b v = {0};
    arg_common(tp, &v);
    arg_add(&v, "--key");
    arg_add(&v, keyf);
    arg_add(&v, "--listen");
    arg_add(&v, "127.0.0.1");
    arg_add(&v, "--port");
    arg_add(&v, "0");
    arg_add(&v, "--port-file");
    arg_add(&v, portf);
    /* The in-process defaults of the suite (TRANSCRIPTS.md §8). */
    arg_set(&v, "default_rooms", "");
    arg_set(&v, "min_opslimit", "1");
    arg_set(&v, "min_memlimit_kib", "8");
    arg_set(&v, "max_connections_per_address", "1000");
    arg_set(&v, "drain_timeout", "1s");
    if (tp->scale > 1) {
        /* A transcript with time steps runs on a faster clock: chatd's
         * timeouts shrink with it (the defaults of chatd and of the hub are
         * the same: 30 s, 300 s, 300 s). chatd's failure window has a floor
         * of 1 s; a transcript that depends on a shorter one is refused by
         * chatd (exit status 78) and skipped. */
        char ms[32];
        cf_fmt(ms, sizeof ms, "%lums", 30000ul / tp->scale);
        arg_set(&v, "login_timeout", ms);
        cf_fmt(ms, sizeof ms, "%lums", 300000ul / tp->scale);
        arg_set(&v, "idle_timeout", ms);
        cf_fmt(ms, sizeof ms, "%lums", 300000ul / tp->scale < 1000 ? 1000ul : 300000ul / tp->scale);
        arg_set(&v, "login_failure_window", ms);
    }
    for (size_t i = 0; tp->o.sets != NULL && tp->o.sets[i] != NULL; i++) {
        arg_add(&v, "--set");
        arg_add(&v, tp->o.sets[i]);
    }
    for (size_t i = 0; i < t->nserver_cfg; i++) {
        if (map_setting(&t->server_cfg[i], tp->scale, &v, err, cap) != 0) {
            arg_free(&v);
            return CF_BEGIN_SKIP;
        }
    }
    int has_admin = 0;
    for (size_t i = 0; i < t->naccounts; i++) {
        has_admin |= t->accounts[i].role == CHAT_ROLE_ADMIN;
        int rc = add_account(tp, &t->accounts[i], err, cap);
        if (rc != 0) {
            arg_free(&v);
            return rc;
        }
    }
    if (!has_admin) {
        /* chatd wants an admin: one the transcript never names. */
        char pwf[300];
        cf_fmt(pwf, sizeof pwf, "%s/admin.pw", tp->dir);
        uint8_t rnd[16];
        char pw[34];
        randombytes_buf(rnd, sizeof rnd);
        cf_hex(pw, rnd, sizeof rnd);
        pw[32] = '\n';
        if (write_file(pwf, pw, 33) != 0) {
            cf_fmt(err, cap, "%s: %s", pwf, strerror(errno));
            arg_free(&v);
            return -1;
        }
        arg_add(&v, "--admin");
        arg_add(&v, "cf-admin");
        arg_add(&v, "--admin-password-file");
        arg_add(&v, pwf);
    }
    v.a[v.n] = NULL;
    tp->pid = spawn(v.a, log);
    arg_free(&v);
    if (tp->pid < 0) {
        tp->pid = 0;
        cf_fmt(err, cap, "fork: %s", strerror(errno));
        return -1;
    }
    uint64_t end = cf_now_ms() + START_TIMEOUT_MS;
    for (;;) {
        int st;
        pid_t r = waitpid(tp->pid, &st, WNOHANG);
        if (r == tp->pid) {
            tp->pid = 0;
            int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            char line[400];
            last_line(log, line, sizeof line);
            cf_fmt(err, cap, "chatd exited with status %d: %s", code, line);
            /* 78: a setting chatd refuses (e.g. below its minimum). */
            return code == 78 ? CF_BEGIN_SKIP : -1;
        }
        FILE *f = fopen(portf, "r");
        if (f != NULL) {
            unsigned port = 0;
            int got = fscanf(f, "%u", &port);
            fclose(f);
            if (got == 1 && port > 0 && port < 65536) {
                cf_fmt(tp->host, sizeof tp->host, "127.0.0.1");
                cf_fmt(tp->port, sizeof tp->port, "%u", port);
                return 0;
            }
        }
        if (cf_now_ms() >= end) {
            cf_fmt(err, cap, "chatd did not listen within %d ms", START_TIMEOUT_MS);
            return -1;
        }
        cf_sleep_ms(5);
    }
}

/* ---- accounts through an admin account (--tcp) --------------------------------------- */

static int connect_to(const char *host, const char *port, int src_last, char *err, size_t cap);

static int flush_client(int fd, chat_client *cl)
{
    size_t n;
    const uint8_t *p;
    while ((p = chat_client_out_peek(cl, &n)) != NULL && n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            chat_client_out_ack(cl, (size_t)w);
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pf = {fd, POLLOUT, 0};
            if (poll(&pf, 1, IO_TIMEOUT_MS) == 1)
                continue;
        }
        return -1;
    }
    return 0;
}

/* Log in as the admin and create (del 0) or delete (del 1) the transcript's
 * accounts. 0, -1 with err, or CF_BEGIN_SKIP when the server refuses an
 * account (e.g. it exists already). Deleting ignores refusals. */
static int admin_accounts(tcp *tp, int del, char *err, size_t cap)
{
    const cf_transcript *t = tp->t;
    int fd = connect_to(tp->host, tp->port, 0, err, cap);
    if (fd < 0)
        return -1;
    chat_client *cl = NULL;
    chat_client_config cc;
    memset(&cc, 0, sizeof cc);
    int rc = chat_client_new(&cl, &cc);
    if (rc == CHAT_OK)
        rc = chat_client_start(cl, tp->o.admin_user, cf_now_ms());
    if (rc != CHAT_OK) {
        cf_fmt(err, cap, "admin client: %s", chat_strerror(rc));
        chat_client_free(cl);
        close(fd);
        return -1;
    }
    uint32_t *reqs = cf_xcalloc(t->naccounts + 1, sizeof *reqs);
    size_t sent = 0, answered = 0;
    int result = -1, ready = 0;
    cf_fmt(err, cap, "admin %s: no answer within %d ms", tp->o.admin_user, START_TIMEOUT_MS);
    uint64_t end = cf_now_ms() + START_TIMEOUT_MS;
    while (result == -1 || result == 2) {
        chat_client_event ev;
        while (chat_client_next_event(cl, &ev)) {
            if (ev.type == CHAT_CLIENT_EV_SERVER_KEY) {
                rc = chat_client_trust_server(cl, 1);
            } else if (ev.type == CHAT_CLIENT_EV_CHALLENGE) {
                rc = chat_client_prove(cl, (const uint8_t *)tp->o.admin_pass,
                                       strlen(tp->o.admin_pass));
            } else if (ev.type == CHAT_CLIENT_EV_WELCOME) {
                ready = 1;
            } else if (ev.type == CHAT_CLIENT_EV_LOGIN_FAILED) {
                cf_fmt(err, cap, "admin %s: the login failed", tp->o.admin_user);
                result = -3;
            } else if (ev.type == CHAT_CLIENT_EV_MESSAGE &&
                       (ev.msg.type == CHAT_MSG_OK || ev.msg.type == CHAT_MSG_ERROR)) {
                for (size_t i = 0; i < sent; i++) {
                    if (reqs[i] != ev.msg.req || (del && !tp->created[i]))
                        continue;
                    answered++;
                    if (!del && ev.msg.type == CHAT_MSG_OK)
                        tp->created[i] = 1;
                    if (ev.msg.type == CHAT_MSG_ERROR && !del && result != -4) {
                        cf_fmt(err, cap, "the server refuses account %s: %.*s (accounts are "
                                         "created with the transcript's names)",
                               t->accounts[i].name, (int)ev.msg.u.error.text.n,
                               (const char *)ev.msg.u.error.text.p);
                        result = -4;
                    }
                }
            } else if (ev.type == CHAT_CLIENT_EV_CLOSED || ev.type == CHAT_CLIENT_EV_REJECTED) {
                if (result == -1) {
                    cf_fmt(err, cap, "admin %s: the server closed the connection",
                           tp->o.admin_user);
                    result = -3;
                }
            }
            if (rc != CHAT_OK && result == -1) {
                cf_fmt(err, cap, "admin client: %s", chat_strerror(rc));
                result = -3;
            }
        }
        if (result < -1)
            break;
        while (ready && sent < t->naccounts && result == -1) {
            const cf_account *a = &t->accounts[sent];
            if (del && !tp->created[sent]) {
                sent++;
                answered++; /* not ours: never delete an account we did not make */
                continue;
            }
            if (del) {
                chat_msg m;
                memset(&m, 0, sizeof m);
                m.type = CHAT_MSG_DEL_USER;
                m.u.del_user.user.p = (const uint8_t *)a->name;
                m.u.del_user.user.n = strlen(a->name);
                rc = chat_client_request(cl, &m, &reqs[sent]);
            } else if (a->has_salt || a->has_pk) {
                cf_fmt(err, cap, "account %s has a fixed verifier (salt=/pk=)", a->name);
                result = -4;
                break;
            } else {
                rc = chat_client_add_user(cl, a->name, (chat_role)a->role, a->pass, a->pass_len,
                                          a->opslimit != 0 ? a->opslimit : CHAT_OPSLIMIT_MIN,
                                          a->memlimit_kib != 0 ? a->memlimit_kib
                                                               : CHAT_MEMLIMIT_KIB_MIN,
                                          &reqs[sent]);
            }
            if (rc != CHAT_OK) {
                cf_fmt(err, cap, "admin request for %s: %s", a->name, chat_strerror(rc));
                result = -3;
                break;
            }
            sent++;
        }
        if (ready && answered >= t->naccounts && result == -1) {
            result = 0;
            break;
        }
        if (result < -1 || flush_client(fd, cl) != 0)
            break;
        uint64_t now = cf_now_ms();
        if (now >= end)
            break;
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, (int)(end - now)) == 1) {
            uint8_t buf[16384];
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n > 0) {
                if (chat_client_feed(cl, buf, (size_t)n, cf_now_ms()) != CHAT_OK)
                    chat_client_eof(cl);
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN))
                chat_client_eof(cl);
        }
    }
    if (result == 0 && chat_client_quit(cl, "done") == CHAT_OK)
        (void)flush_client(fd, cl);
    free(reqs);
    chat_client_free(cl);
    close(fd);
    if (del)
        return 0;
    return result == 0 ? 0 : result == -4 ? CF_BEGIN_SKIP : -1;
}

/* ---- the adapter ------------------------------------------------------------------- */

static void tcp_end(void *self);

static int tcp_begin(void *self, const cf_setup *s, char *err, size_t cap)
{
    tcp *tp = self;
    tcp_end(self);
    tp->t = s->t;
    tp->scale = s->time_scale > 0 ? s->time_scale : 1;
    if (tp->o.chatd != NULL)
        return start_chatd(tp, err, cap);
    if (s->t->has_server_key) {
        cf_fmt(err, cap, "has a fixed server key; the server at %s has its own",
               tp->o.hostport);
        return CF_BEGIN_SKIP;
    }
    for (size_t i = 0; i < s->t->nsteps; i++) {
        const cf_step *st = &s->t->steps[i];
        if ((st->verb == CF_VERB_SEND || st->verb == CF_VERB_SEND_FRAME) && st->m != NULL &&
            st->m->type == CHAT_MSG_SHUTDOWN) {
            cf_fmt(err, cap, "sends SHUTDOWN: needs a server of its own (--chatd)");
            return CF_BEGIN_SKIP;
        }
    }
    if (s->t->naccounts > 0) {
        tp->created = cf_xcalloc(s->t->naccounts, 1);
        tp->made_accounts = 1; /* tcp_end deletes the ones made */
        return admin_accounts(tp, 0, err, cap);
    }
    return 0;
}

static void tcp_end(void *self)
{
    tcp *tp = self;
    cf_conn *c = tp->conns;
    while (c != NULL) {
        cf_conn *n = c->next;
        if (c->fd >= 0)
            close(c->fd);
        free(c);
        c = n;
    }
    tp->conns = NULL;
    if (tp->made_accounts) {
        char err[256];
        tp->made_accounts = 0;
        if (admin_accounts(tp, 1, err, sizeof err) != 0)
            fprintf(stderr, "chat-conformance: deleting accounts: %s\n", err);
    }
    free(tp->created);
    tp->created = NULL;
    if (tp->pid > 0) {
        (void)kill(tp->pid, SIGKILL);
        (void)cf_reap(tp->pid, START_TIMEOUT_MS);
        tp->pid = 0;
    }
    if (tp->dir[0] != '\0') {
        (void)nftw(tp->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        tp->dir[0] = '\0';
    }
    if (tp->o.chatd != NULL)
        tp->host[0] = tp->port[0] = '\0';
}

/* src_last: 0, or the last octet of a loopback source address 127.0.0.N
 * (actors with addr=, --chatd only: the server sees distinct peers). */
static int connect_to(const char *host, const char *port, int src_last, char *err, size_t cap)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0) {
        cf_fmt(err, cap, "%s:%s: %s", host, port, gai_strerror(g));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (src_last != 0 && ai->ai_family == AF_INET) {
            struct sockaddr_in sa;
            memset(&sa, 0, sizeof sa);
            sa.sin_family = AF_INET;
            sa.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)src_last);
            if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
                cf_fmt(err, cap, "bind 127.0.0.%d: %s", src_last, strerror(errno));
                close(fd);
                fd = -1;
                continue;
            }
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            struct pollfd pf = {fd, POLLOUT, 0};
            int soerr = errno;
            if (soerr == EINPROGRESS && poll(&pf, 1, IO_TIMEOUT_MS) == 1) {
                socklen_t l = sizeof soerr;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &l) != 0)
                    soerr = errno;
            } else if (soerr == EINPROGRESS) {
                soerr = ETIMEDOUT;
            }
            if (soerr != 0) {
                cf_fmt(err, cap, "connect %s:%s: %s", host, port, strerror(soerr));
                close(fd);
                fd = -1;
            }
        }
    }
    freeaddrinfo(res);
    return fd;
}

static int tcp_open(void *self, const cf_open *o, cf_conn **out, char *err, size_t cap)
{
    tcp *tp = self;
    cf_conn *c = cf_xcalloc(1, sizeof *c);
    c->fd = -1;
    c->next = tp->conns;
    tp->conns = c;
    *out = c;
    err[0] = '\0';
    int src = tp->o.chatd != NULL ? tp->t->actors[o->actor].addr : 0;
    c->fd = connect_to(tp->host, tp->port, src, err, cap);
    return c->fd < 0 ? -1 : 0;
}

static int tcp_send(void *self, cf_conn *c, const uint8_t *p, size_t n)
{
    (void)self;
    if (c->fd < 0)
        return -1;
    return cf_fd_write(c->fd, p, n, IO_TIMEOUT_MS);
}

static int tcp_recv(void *self, cf_conn *c, cf_buf *into, size_t max, uint32_t timeout_ms)
{
    (void)self;
    if (c->fd < 0 || c->eof)
        return CF_EOF;
    uint8_t buf[65536];
    if (max > sizeof buf)
        max = sizeof buf;
    if (max > (size_t)INT32_MAX)
        max = INT32_MAX;
    uint64_t end = cf_now_ms() + timeout_ms;
    for (;;) {
        ssize_t r = recv(c->fd, buf, max, 0);
        if (r > 0) {
            cf_buf_add(into, buf, (size_t)r);
            return (int)r;
        }
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            c->eof = 1;
            return CF_EOF;
        }
        uint64_t now = cf_now_ms();
        if (now >= end)
            return 0;
        struct pollfd pf = {c->fd, POLLIN, 0};
        (void)poll(&pf, 1, (int)(end - now));
    }
}

static void tcp_close(void *self, cf_conn *c)
{
    (void)self;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static int tcp_command(void *self, cf_conn *c, const cf_cmd *cmd, char *err, size_t cap)
{
    (void)self;
    (void)c;
    (void)cmd;
    cf_fmt(err, cap, "the TCP adapter tests servers only");
    return -1;
}

static int tcp_event(void *self, cf_conn *c, cf_event *ev, uint32_t timeout_ms)
{
    (void)self;
    (void)c;
    (void)ev;
    (void)timeout_ms;
    return 0;
}

static int tcp_advance(void *self, uint64_t ms)
{
    (void)self;
    (void)ms;
    return -1;
}

static int tcp_fault(void *self, const char *what, int on)
{
    (void)self;
    (void)what;
    (void)on;
    return -1;
}

static void tcp_destroy(void *self)
{
    tcp_end(self);
    free(self);
}

static const cf_adapter_ops tcp_ops = {
    "tcp", tcp_caps, tcp_begin, tcp_end, tcp_open, tcp_send, tcp_recv, tcp_close,
    tcp_command, tcp_event, tcp_advance, tcp_fault, tcp_destroy, NULL,
};

cf_adapter cf_tcp_new(const cf_tcp_opts *o)
{
    tcp *tp = cf_xcalloc(1, sizeof *tp);
    tp->o = *o;
    if (o->hostport != NULL) {
        const char *colon = strrchr(o->hostport, ':');
        size_t hn = colon != NULL ? (size_t)(colon - o->hostport) : strlen(o->hostport);
        const char *h = o->hostport;
        if (hn >= 2 && h[0] == '[' && h[hn - 1] == ']') {
            h++;
            hn -= 2;
        }
        if (hn >= sizeof tp->host)
            hn = sizeof tp->host - 1;
        memcpy(tp->host, h, hn);
        tp->host[hn] = '\0';
        cf_fmt(tp->port, sizeof tp->port, "%s", colon != NULL ? colon + 1 : "7447");
    }
    cf_adapter a = {&tcp_ops, tp};
    return a;
}
