/* The shim adapter: the implementation under test is a separate program,
 * a shim, driven through the protocol of docs/SHIM.md (in the manner of
 * BoringSSL's runner and its shims):
 *  - per transcript the adapter starts the shim (PR_SET_PDEATHSIG, ended
 *    by its PID) with pipes on its stdin and stdout for control lines, and
 *    its stderr shared with the runner's;
 *  - the shim's first line is its hello, with its capabilities;
 *  - every connection is a loopback TCP connection that the shim opens to
 *    the adapter's listening socket (whatever its role), introduced by a
 *    u64 id; the protocol's bytes travel on it, counted by control lines;
 *  - each adapter call is one request line and one reply line, and the
 *    shim finishes what a request causes before it replies (lock step), so
 *    the adapter settles as synchronously as the in-process one does
 *    (CF_CAP_INSTANT); while a request is pending the shim may ask for
 *    random bytes, which come from the transcript's source, so
 *    known-answer transcripts run byte for byte;
 *  - exit status 89 means "unimplemented": the transcript is skipped with
 *    the reason the shim gave. */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "adapter.h"
#include "chat/chat.h"
#include "ctl.h"
#include "proc.h"

#define START_TIMEOUT_MS 15000 /* the hello (sanitizer builds start slowly) */
#define REPLY_TIMEOUT_MS 30000 /* one request (it may derive a verifier) */
#define EXIT_TIMEOUT_MS 15000  /* after `end` (a leak check takes a while) */

struct cf_conn {
    cf_conn *next;
    uint64_t id;
    int fd;
    int eof;
};

typedef struct shim {
    char **argv; /* the shim and its arguments, NULL-terminated */
    unsigned caps;
    int lfd; /* the listening socket (loopback, ephemeral port) */
    unsigned port;
    /* per transcript */
    pid_t pid;
    int to, from; /* the shim's stdin and stdout, our ends */
    cf_lines lines;
    int dead;   /* the shim exited, broke the protocol or timed out */
    int status; /* its exit status once reaped, -1 before */
    char why[512];
    const cf_transcript *t;
    unsigned role;
    cf_rngsrc *rng;
    cf_rngctx rctx[CF_MAX_ACTORS + 1]; /* per actor that drew */
    size_t nrctx;
    uint64_t next_id;
    cf_conn *conns;
} shim;

/* ---- the process -------------------------------------------------------------------------- */

/* The shim is gone: reap it (killing it if it lingers) and keep why. */
static void lost(shim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void lost(shim *s, const char *fmt, ...)
{
    if (!s->dead && fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->why, sizeof s->why, fmt, ap);
        va_end(ap);
    }
    s->dead = 1;
    if (s->pid > 0) {
        s->status = cf_reap(s->pid, EXIT_TIMEOUT_MS);
        s->pid = 0;
    }
}

static void stop(shim *s)
{
    if (s->to >= 0)
        close(s->to);
    s->to = -1;
    if (s->pid > 0) {
        (void)kill(s->pid, SIGKILL);
        (void)cf_reap(s->pid, EXIT_TIMEOUT_MS);
        s->pid = 0;
    }
    if (s->from >= 0)
        close(s->from);
    s->from = -1;
    cf_lines_free(&s->lines);
    memset(&s->lines, 0, sizeof s->lines);
}

static int nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Start the shim and read its hello: 0, or -1 and err. */
static int start(shim *s, char *err, size_t cap)
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) {
        cf_fmt(err, cap, "pipe: %s", strerror(errno));
        return -1;
    }
    if (pipe2(out, O_CLOEXEC) != 0) {
        cf_fmt(err, cap, "pipe: %s", strerror(errno));
        close(in[0]);
        close(in[1]);
        return -1;
    }
    int fds[3] = {in[0], out[1], 2};
    s->pid = cf_spawn(s->argv, fds);
    close(in[0]);
    close(out[1]);
    s->to = in[1];
    s->from = out[0];
    memset(&s->lines, 0, sizeof s->lines);
    s->lines.fd = s->from;
    s->dead = 0;
    s->status = -1;
    s->why[0] = '\0';
    if (s->pid < 0) {
        s->pid = 0;
        cf_fmt(err, cap, "fork: %s", strerror(errno));
        return -1;
    }
    if (nonblocking(s->to) != 0 || nonblocking(s->from) != 0) {
        cf_fmt(err, cap, "fcntl: %s", strerror(errno));
        return -1;
    }
    char *line;
    int got = cf_lines_next(&s->lines, &line, START_TIMEOUT_MS);
    cf_ctl c;
    if (got != 1 || cf_ctl_split(&c, line) != 0 || strcmp(cf_ctl_verb(&c), "hello") != 0) {
        if (got == 1)
            cf_ctl_free(&c);
        if (got != -1)
            (void)kill(s->pid, SIGKILL); /* silent, or not speaking the protocol */
        lost(s, NULL);
        if (got == 0)
            cf_fmt(err, cap, "%s: no hello within %d ms", s->argv[0], START_TIMEOUT_MS);
        else
            cf_fmt(err, cap, "%s: no hello (exit status %d%s)", s->argv[0], s->status,
                   s->status == 127 ? ": could it be started?" : "");
        return -1;
    }
    uint64_t version;
    const char *caps = cf_ctl_get(&c, "caps");
    if (cf_ctl_u64(&c, "version", &version) != 0 || version != 1 || caps == NULL) {
        cf_fmt(err, cap, "%s: its hello is not 'hello version=1 caps=...'", s->argv[0]);
        cf_ctl_free(&c);
        return -1;
    }
    /* Lock step makes every shim settle synchronously. */
    s->caps = CF_CAP_INSTANT;
    char *list = cf_xstrdup(caps);
    for (char *save = NULL, *w = strtok_r(list, ",", &save); w != NULL;
         w = strtok_r(NULL, ",", &save))
        s->caps |= cf_cap_by_name(w); /* names it does not know: ignored */
    free(list);
    cf_ctl_free(&c);
    return 0;
}

/* ---- requests ----------------------------------------------------------------------------- */

static cf_rngctx *rng_for(shim *s, const char *actor)
{
    for (size_t i = 0; i < s->nrctx; i++)
        if (strcmp(s->rctx[i].actor, actor) == 0)
            return &s->rctx[i];
    if (s->nrctx == sizeof s->rctx / sizeof s->rctx[0])
        return NULL;
    cf_rngctx_init(&s->rctx[s->nrctx], s->rng, actor);
    return &s->rctx[s->nrctx++];
}

/* Answer `random actor=A len=N`: 0, or -1 (protocol error). */
static int answer_random(shim *s, const cf_ctl *c)
{
    uint64_t n;
    const char *actor = cf_ctl_get(c, "actor");
    cf_rngctx *ctx = actor != NULL ? rng_for(s, actor) : NULL;
    if (ctx == NULL || cf_ctl_u64(c, "len", &n) != 0 || n == 0 || n > 1024) {
        lost(s, "the shim's random request is malformed");
        return -1;
    }
    uint8_t buf[1024];
    cf_rng_draw(ctx, buf, (size_t)n);
    cf_buf line = {0};
    cf_buf_printf(&line, "random");
    cf_ctl_put_hex(&line, "bytes", buf, (size_t)n);
    cf_buf_byte(&line, '\n');
    sodium_memzero(buf, sizeof buf);
    int rc = cf_fd_write(s->to, line.p, line.len, REPLY_TIMEOUT_MS);
    sodium_memzero(line.p, line.cap);
    cf_buf_free(&line);
    if (rc != 0)
        lost(s, "the shim stopped reading its stdin");
    return rc;
}

/* Send a request line (built in req, consumed), then payload bytes on
 * connection fd, and wait for the reply, answering random requests on the
 * way. 0 and *reply (cf_ctl_free it), or -1 when the shim is gone. */
static int request(shim *s, cf_buf *req, int fd, const uint8_t *p, size_t n, cf_ctl *reply)
{
    int rc = -1;
    if (s->dead)
        goto out;
    cf_buf_byte(req, '\n');
    if (cf_fd_write(s->to, req->p, req->len, REPLY_TIMEOUT_MS) != 0) {
        lost(s, "the shim stopped reading its stdin");
        goto out;
    }
    if (n > 0 && cf_fd_write(fd, p, n, REPLY_TIMEOUT_MS) != 0) {
        lost(s, "the shim did not read %zu bytes from its connection", n);
        goto out;
    }
    for (;;) {
        char *line;
        int got = cf_lines_next(&s->lines, &line, REPLY_TIMEOUT_MS);
        if (got == 0) {
            (void)kill(s->pid, SIGKILL);
            lost(s, "the shim did not answer within %d ms", REPLY_TIMEOUT_MS);
            goto out;
        }
        if (got < 0) {
            lost(s, NULL);
            goto out;
        }
        if (cf_ctl_split(reply, line) != 0) {
            cf_ctl_free(reply);
            lost(s, "the shim wrote a malformed line");
            goto out;
        }
        const char *v = cf_ctl_verb(reply);
        if (strcmp(v, "random") == 0) {
            int arc = answer_random(s, reply);
            cf_ctl_free(reply);
            if (arc != 0)
                goto out;
            continue;
        }
        if (strcmp(v, "unimplemented") == 0) {
            /* The shim exits with status 89 after this line. */
            cf_fmt(s->why, sizeof s->why, "%s", line + strlen("unimplemented"));
            cf_ctl_free(reply);
            lost(s, NULL);
            goto out;
        }
        rc = 0;
        break;
    }
out:
    if (req->p != NULL)
        sodium_memzero(req->p, req->cap); /* requests carry passwords and keys */
    cf_buf_free(req);
    return rc;
}

/* A request whose reply is `ok` or `error TEXT`: 0, or -1 and err. */
static int simple(shim *s, cf_buf *req, char *err, size_t cap)
{
    cf_ctl r;
    if (request(s, req, -1, NULL, 0, &r) != 0) {
        if (s->why[0] != '\0')
            cf_fmt(err, cap, "the shim is gone: %s", s->why);
        else
            cf_fmt(err, cap, "the shim is gone: it exited with status %d", s->status);
        return -1;
    }
    int rc = 0;
    if (strcmp(cf_ctl_verb(&r), "error") == 0) {
        /* error TEXT: the words after the verb, as they were. */
        cf_fmt(err, cap, "the shim says:");
        for (size_t i = 1; i < r.n; i++)
            cf_fmt(err + strlen(err), cap - strlen(err), " %s", r.w[i]);
        rc = -1;
    } else if (strcmp(cf_ctl_verb(&r), "ok") != 0) {
        cf_fmt(err, cap, "the shim answered '%s', not ok or error", cf_ctl_verb(&r));
        rc = -1;
    }
    cf_ctl_free(&r);
    return rc;
}

/* ---- the adapter -------------------------------------------------------------------------- */

static unsigned sh_caps(void *self)
{
    shim *s = self;
    return s->caps;
}

static void sh_end(void *self)
{
    shim *s = self;
    cf_conn *c = s->conns;
    while (c != NULL) {
        cf_conn *n = c->next;
        if (c->fd >= 0)
            close(c->fd);
        free(c);
        c = n;
    }
    s->conns = NULL;
    stop(s);
    s->nrctx = 0;
}

/* A setting as the shim takes it: numbers and versions as they are,
 * durations in milliseconds, text as hex. */
static void put_setting(cf_buf *b, const cf_arg *a)
{
    uint64_t x;
    cf_buf_printf(b, "set");
    if (strcmp(a->key, "motd") == 0 || strcmp(a->key, "rooms") == 0)
        cf_ctl_put_hex(b, a->key, a->v.p, a->v.n);
    else if ((strcmp(a->key, "login-timeout") == 0 || strcmp(a->key, "idle-timeout") == 0 ||
              strcmp(a->key, "fail-window") == 0) &&
             cf_parse_duration(a->v.p, a->v.n, &x) == 0)
        cf_buf_printf(b, " %s=%llu", a->key, (unsigned long long)x);
    else if (cf_value_u64(&a->v, &x) == 0)
        cf_buf_printf(b, " %s=%llu", a->key, (unsigned long long)x);
    else
        cf_buf_printf(b, " %s=%.*s", a->key, (int)a->v.n, (const char *)a->v.p);
}

static int setup_server(shim *s, char *err, size_t cap)
{
    const cf_transcript *t = s->t;
    cf_buf b = {0};
    uint8_t key[32];
    cf_static_key(t, "server", key);
    cf_buf_printf(&b, "server-key");
    cf_ctl_put_hex(&b, "key", key, 32);
    sodium_memzero(key, sizeof key);
    if (simple(s, &b, err, cap) != 0)
        return -1;
    for (size_t i = 0; i < t->nserver_cfg; i++) {
        put_setting(&b, &t->server_cfg[i]);
        if (simple(s, &b, err, cap) != 0)
            return -1;
    }
    for (size_t i = 0; i < t->naccounts; i++) {
        const cf_account *a = &t->accounts[i];
        chat_account acct;
        int rc = cf_account_build(a, &acct);
        if (rc != CHAT_OK) {
            sodium_memzero(&acct, sizeof acct);
            cf_fmt(err, cap, "%s:%d: account %s: %s", t->file, a->line, a->name,
                   chat_strerror(rc));
            return -1;
        }
        cf_buf_printf(&b, "account");
        cf_ctl_put_hex(&b, "user", (const uint8_t *)a->name, strlen(a->name));
        cf_ctl_put_hex(&b, "pass", a->pass, a->pass_len);
        cf_buf_printf(&b, " role=%s opslimit=%u memlimit-kib=%u",
                      a->role == CHAT_ROLE_ADMIN ? "admin" : "user", a->opslimit,
                      a->memlimit_kib);
        cf_ctl_put_hex(&b, "salt", acct.verifier.salt, sizeof acct.verifier.salt);
        cf_ctl_put_hex(&b, "pk", acct.verifier.pk, sizeof acct.verifier.pk);
        sodium_memzero(&acct, sizeof acct);
        if (simple(s, &b, err, cap) != 0)
            return -1;
    }
    return 0;
}

static int sh_begin(void *self, const cf_setup *su, char *err, size_t cap)
{
    shim *s = self;
    sh_end(self);
    s->t = su->t;
    s->role = su->role;
    s->rng = su->rng;
    if (start(s, err, cap) != 0)
        return -1;
    cf_buf b = {0};
    cf_buf_printf(&b, "begin role=%s port=%u mono=%llu wall=%llu",
                  su->role == CF_ROLE_SERVER ? "server" : "client", s->port,
                  (unsigned long long)su->mono0, (unsigned long long)su->wall0);
    int rc = simple(s, &b, err, cap);
    if (rc == 0 && su->role == CF_ROLE_SERVER)
        rc = setup_server(s, err, cap);
    if (rc == 0) {
        cf_buf_printf(&b, "go");
        rc = simple(s, &b, err, cap);
    }
    if (rc != 0 && s->dead && s->status == CF_SHIM_UNIMPLEMENTED) {
        cf_fmt(err, cap, "the shim does not implement it:%s", s->why);
        return CF_BEGIN_SKIP;
    }
    return rc;
}

/* The connection the shim opened for id. */
static int accept_conn(shim *s, uint64_t id, char *err, size_t cap)
{
    uint64_t end = cf_now_ms() + REPLY_TIMEOUT_MS;
    for (;;) {
        uint64_t now = cf_now_ms();
        struct pollfd pf = {s->lfd, POLLIN, 0};
        if (now >= end || poll(&pf, 1, (int)(end - now)) != 1) {
            cf_fmt(err, cap, "the shim did not connect to 127.0.0.1:%u", s->port);
            return -1;
        }
        int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            continue;
        uint8_t le[8];
        uint64_t got = 0;
        if (cf_fd_read(fd, le, sizeof le, REPLY_TIMEOUT_MS) == 0) {
            for (int i = 7; i >= 0; i--)
                got = got << 8 | le[i];
            if (got == id)
                return fd;
        }
        close(fd); /* a connection of an open that failed */
    }
}

static int sh_open(void *self, const cf_open *o, cf_conn **out, char *err, size_t cap)
{
    shim *s = self;
    const cf_actor *a = &s->t->actors[o->actor];
    cf_conn *c = cf_xcalloc(1, sizeof *c);
    c->id = ++s->next_id;
    c->fd = -1;
    c->next = s->conns;
    s->conns = c;
    *out = c;
    cf_buf b = {0};
    cf_buf_printf(&b, "open conn=%llu actor=%s addr=%u auto=%u trust=%u vmin=%u vmax=%u "
                      "max-opslimit=%u max-memlimit-kib=%u",
                  (unsigned long long)c->id, a->name, a->addr, a->auto_login, a->trust, a->vmin,
                  a->vmax, a->max_opslimit, a->max_memlimit_kib);
    if (s->role == CF_ROLE_CLIENT) {
        uint8_t key[32];
        cf_static_key(s->t, a->name, key);
        cf_ctl_put_hex(&b, "key", key, 32);
        sodium_memzero(key, sizeof key);
    }
    if (o->user != NULL)
        cf_ctl_put_hex(&b, "user", (const uint8_t *)o->user, strlen(o->user));
    if (o->pass != NULL)
        cf_ctl_put_hex(&b, "pass", o->pass, o->pass_len);
    if (simple(s, &b, err, cap) != 0)
        return -1;
    c->fd = accept_conn(s, c->id, err, cap);
    return c->fd < 0 ? -1 : 0;
}

static int sh_send(void *self, cf_conn *c, const uint8_t *p, size_t n)
{
    shim *s = self;
    if (c->fd < 0)
        return -1;
    cf_buf b = {0};
    cf_buf_printf(&b, "send conn=%llu len=%zu", (unsigned long long)c->id, n);
    cf_ctl r;
    if (request(s, &b, c->fd, p, n, &r) != 0)
        return -1;
    int rc = strcmp(cf_ctl_verb(&r), "ok") == 0 ? 0 : -1;
    cf_ctl_free(&r);
    return rc;
}

static int sh_recv(void *self, cf_conn *c, cf_buf *into, size_t max, uint32_t timeout_ms)
{
    shim *s = self;
    (void)timeout_ms; /* lock step: what the shim has is there when it answers */
    if (c->eof || c->fd < 0)
        return CF_EOF;
    if (max > (size_t)INT32_MAX)
        max = INT32_MAX;
    cf_buf b = {0};
    cf_buf_printf(&b, "recv conn=%llu max=%zu", (unsigned long long)c->id, max);
    cf_ctl r;
    if (request(s, &b, -1, NULL, 0, &r) != 0) {
        c->eof = 1; /* a dead shim has closed everything */
        return CF_EOF;
    }
    uint64_t n = 0;
    int rc;
    if (strcmp(cf_ctl_verb(&r), "eof") == 0) {
        c->eof = 1;
        rc = CF_EOF;
    } else if (strcmp(cf_ctl_verb(&r), "data") == 0 && cf_ctl_u64(&r, "len", &n) == 0 &&
               n <= max) {
        cf_buf_reserve(into, (size_t)n);
        if (n > 0 && cf_fd_read(c->fd, into->p + into->len, (size_t)n, REPLY_TIMEOUT_MS) != 0) {
            lost(s, "the shim announced %llu bytes and did not write them",
                 (unsigned long long)n);
            c->eof = 1;
            rc = CF_EOF;
        } else {
            into->len += (size_t)n;
            rc = (int)n;
        }
    } else {
        lost(s, "the shim answered recv with '%s'", cf_ctl_verb(&r));
        c->eof = 1;
        rc = CF_EOF;
    }
    cf_ctl_free(&r);
    return rc;
}

static void sh_close(void *self, cf_conn *c)
{
    shim *s = self;
    if (c->fd >= 0)
        (void)shutdown(c->fd, SHUT_WR);
    cf_buf b = {0};
    cf_buf_printf(&b, "close conn=%llu", (unsigned long long)c->id);
    char err[256];
    (void)simple(s, &b, err, sizeof err);
}

static int sh_command(void *self, cf_conn *c, const cf_cmd *cmd, char *err, size_t cap)
{
    shim *s = self;
    static const char *const kinds[] = {"?", "login", "request", "quit", "passwd", "add-user"};
    if (cmd->kind < CF_CMD_LOGIN || cmd->kind > CF_CMD_ADD_USER) {
        cf_fmt(err, cap, "unknown command");
        return -1;
    }
    cf_buf b = {0};
    cf_buf_printf(&b, "command conn=%llu kind=%s", (unsigned long long)c->id, kinds[cmd->kind]);
    if (cmd->user != NULL)
        cf_ctl_put_hex(&b, "user", (const uint8_t *)cmd->user, strlen(cmd->user));
    if (cmd->pass != NULL)
        cf_ctl_put_hex(&b, "pass", cmd->pass, cmd->pass_len);
    if (cmd->kind == CF_CMD_REQUEST && cmd->msg_len >= 3)
        cf_ctl_put_hex(&b, "msg", cmd->msg + 2, cmd->msg_len - 2); /* [type][body] */
    if (cmd->kind == CF_CMD_QUIT)
        cf_ctl_put_hex(&b, "text", cmd->text, cmd->text_len);
    if (cmd->kind == CF_CMD_PASSWD || cmd->kind == CF_CMD_ADD_USER)
        cf_buf_printf(&b, " opslimit=%u memlimit-kib=%u", cmd->opslimit, cmd->memlimit_kib);
    if (cmd->kind == CF_CMD_ADD_USER)
        cf_buf_printf(&b, " role=%s", cmd->role == CHAT_ROLE_ADMIN ? "admin" : "user");
    return simple(s, &b, err, cap);
}

static int sh_event(void *self, cf_conn *c, cf_event *ev, uint32_t timeout_ms)
{
    shim *s = self;
    (void)timeout_ms;
    cf_buf b = {0};
    cf_buf_printf(&b, "event conn=%llu", (unsigned long long)c->id);
    cf_ctl r;
    if (request(s, &b, -1, NULL, 0, &r) != 0)
        return 0;
    int rc = 0;
    if (strcmp(cf_ctl_verb(&r), "event") == 0) {
        if (cf_event_from_ctl(&r, ev) == 0)
            rc = 1;
        else
            lost(s, "the shim reported a malformed event");
    } else if (strcmp(cf_ctl_verb(&r), "none") != 0) {
        lost(s, "the shim answered event with '%s'", cf_ctl_verb(&r));
    }
    cf_ctl_free(&r);
    return rc;
}

static int sh_advance(void *self, uint64_t ms)
{
    shim *s = self;
    cf_buf b = {0};
    cf_buf_printf(&b, "advance ms=%llu", (unsigned long long)ms);
    char err[256];
    return simple(s, &b, err, sizeof err);
}

static int sh_fault(void *self, const char *what, int on)
{
    shim *s = self;
    cf_buf b = {0};
    cf_buf_printf(&b, "fault %s=%s", what, on ? "on" : "off");
    char err[256];
    return simple(s, &b, err, sizeof err);
}

/* Ask the shim to end and wait for its exit status (s->status). */
static void end_process(shim *s)
{
    if (s->dead)
        return;
    cf_buf b = {0};
    cf_buf_printf(&b, "end");
    char err[256];
    if (simple(s, &b, err, sizeof err) == 0) {
        close(s->to); /* its stdin at end of file, too */
        s->to = -1;
        lost(s, NULL);
    }
}

/* After the run: `end`, then the shim must exit 0 (a sanitizer's report
 * makes it exit otherwise). */
static int sh_finish(void *self, char *err, size_t cap)
{
    shim *s = self;
    end_process(s);
    if (s->status == CF_SHIM_UNIMPLEMENTED) {
        cf_fmt(err, cap, "the shim does not implement it:%s", s->why);
        return CF_BEGIN_SKIP;
    }
    if (s->status > 128) {
        cf_fmt(err, cap, "the shim was killed by signal %d (a crash, or a sanitizer's report: "
                         "see its stderr)%s%s", s->status - 128, s->why[0] ? ": " : "", s->why);
        return -1;
    }
    if (s->status != 0) {
        cf_fmt(err, cap, "the shim exited with status %d%s%s", s->status, s->why[0] ? ": " : "",
               s->why);
        return -1;
    }
    return 0;
}

static void sh_destroy(void *self)
{
    shim *s = self;
    sh_end(self);
    if (s->lfd >= 0)
        close(s->lfd);
    for (size_t i = 0; s->argv[i] != NULL; i++)
        free(s->argv[i]);
    free(s->argv);
    free(s);
}

static const cf_adapter_ops shim_ops = {
    "shim", sh_caps, sh_begin, sh_end, sh_open, sh_send, sh_recv, sh_close,
    sh_command, sh_event, sh_advance, sh_fault, sh_destroy, sh_finish,
};

int cf_shim_new(const char *const *argv, cf_adapter *out, char *err, size_t cap)
{
    shim *s = cf_xcalloc(1, sizeof *s);
    s->to = s->from = -1;
    size_t n = 0;
    while (argv[n] != NULL)
        n++;
    s->argv = cf_xcalloc(n + 1, sizeof *s->argv);
    for (size_t i = 0; i < n; i++)
        s->argv[i] = cf_xstrdup(argv[i]);
    /* A shim that dies must not take the runner with it. */
    signal(SIGPIPE, SIG_IGN);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(s->lfd, 16) != 0 || getsockname(s->lfd, (struct sockaddr *)&sa, &sl) != 0) {
        cf_fmt(err, cap, "listening on 127.0.0.1: %s", strerror(errno));
        sh_destroy(s);
        return -1;
    }
    s->port = ntohs(sa.sin_port);
    /* Ask once what the shim can do: a hello, then `end`. */
    if (start(s, err, cap) != 0) {
        sh_destroy(s);
        return -1;
    }
    end_process(s);
    if (s->status != 0) {
        cf_fmt(err, cap, "%s: after its hello, 'end' did not make it exit with status 0 (%d)",
               s->argv[0], s->status);
        sh_destroy(s);
        return -1;
    }
    stop(s);
    out->ops = &shim_ops;
    out->self = s;
    return 0;
}
