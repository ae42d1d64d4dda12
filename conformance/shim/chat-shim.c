/* chat-shim: the project's own shim (docs/SHIM.md). It puts libchat behind
 * the shim protocol, so the conformance runner drives it as it would drive
 * a foreign implementation: a separate process, wire bytes on loopback TCP
 * sockets, control lines on stdin and stdout.
 *
 * Behind the protocol sits the in-process adapter (libchat's chat_hub as a
 * server, chat_client as a client): this program only translates control
 * lines into adapter calls and moves bytes between the sockets and libchat.
 * Its randomness is asked of the runner (CF_RNG_REMOTE), so known-answer
 * transcripts reproduce byte for byte, and its clock moves only on
 * `advance`.
 *
 * Protocol errors (a malformed or unexpected line) end the shim with exit
 * status 2 and a message on stderr: that is a bug in the runner, not a
 * verdict on libchat. */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
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

#define EXIT_USAGE 64
#define EXIT_PROTOCOL 2

typedef struct sconn {
    uint64_t id;
    int fd;
    cf_conn *c; /* the adapter's */
} sconn;

typedef struct shim {
    unsigned roles; /* CF_ROLE_* this shim offers */
    cf_adapter ad;
    cf_lines in;
    /* per transcript */
    int begun, ready;
    unsigned role;
    unsigned port;
    uint64_t mono0, wall0;
    cf_transcript *t; /* built from the setup lines; only what the adapter reads */
    size_t cap_accounts, cap_cfg;
    cf_rngsrc rng;
    sconn *conns;
    size_t nconns;
} shim;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("chat-shim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(EXIT_PROTOCOL);
}

static void put_line(cf_buf *b)
{
    cf_buf_byte(b, '\n');
    if (cf_fd_write(1, b->p, b->len, -1) != 0)
        die("stdout: %s", strerror(errno));
    cf_buf_free(b);
}

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void reply(const char *fmt, ...)
{
    cf_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    cf_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    put_line(&b);
}

/* The reply to a request the implementation carried out (rc 0) or
 * refused (err says why). */
static void answer(int rc, const char *err)
{
    if (rc != 0)
        reply("error %s", err);
    else
        reply("ok");
}

/* Free a buffer that held a secret. */
static void wipe_free(cf_buf *b)
{
    if (b->p != NULL)
        sodium_memzero(b->p, b->cap);
    cf_buf_free(b);
}

/* The shim does not implement something: say so and leave with the status
 * that makes the runner skip the transcript. */
static void unimplemented(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void unimplemented(const char *fmt, ...)
{
    cf_buf b = {0};
    cf_buf_printf(&b, "unimplemented ");
    va_list ap;
    va_start(ap, fmt);
    cf_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    put_line(&b);
    exit(CF_SHIM_UNIMPLEMENTED);
}

static void next_ctl(shim *s, cf_ctl *c)
{
    char *line;
    if (cf_lines_next(&s->in, &line, -1) != 1)
        die("stdin: the runner went away");
    if (cf_ctl_split(c, line) != 0)
        die("malformed control line");
}

/* ---- randomness from the runner --------------------------------------------------------- */

static void remote_draw(void *arg, const char *actor, uint8_t *buf, size_t len)
{
    shim *s = arg;
    reply("random actor=%s len=%zu", actor, len);
    cf_ctl c;
    next_ctl(s, &c);
    cf_buf b = {0};
    if (strcmp(cf_ctl_verb(&c), "random") != 0 || cf_ctl_hex(&c, "bytes", &b) != 0 ||
        b.len != len)
        die("expected 'random bytes=' with %zu bytes", len);
    memcpy(buf, b.p, len);
    wipe_free(&b);
    cf_ctl_free(&c);
}

/* ---- the transcript the adapter sees ---------------------------------------------------- */

/* Room for one more of n elements of an array of *cap. */
static void *grow(void *p, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return p;
    *cap = *cap ? 2 * *cap : 8;
    return cf_xrealloc(p, *cap * size);
}

static void reset(shim *s)
{
    s->ad.ops->end(s->ad.self);
    for (size_t i = 0; i < s->nconns; i++)
        if (s->conns[i].fd >= 0)
            close(s->conns[i].fd);
    free(s->conns);
    s->conns = NULL;
    s->nconns = 0;
    if (s->t != NULL) {
        for (size_t i = 0; i < s->t->naccounts; i++)
            sodium_memzero((void *)s->t->accounts[i].pass, s->t->accounts[i].pass_len);
        free(s->t->accounts);
        free(s->t->server_cfg);
        cf_arena_free(&s->t->arena);
        sodium_memzero(s->t, sizeof *s->t);
        free(s->t);
        s->t = NULL;
        cf_rngsrc_free(&s->rng);
    }
    s->begun = s->ready = 0;
}

static const char *dup_hex(shim *s, const cf_ctl *c, const char *key, size_t *n)
{
    cf_buf b = {0};
    if (cf_ctl_hex(c, key, &b) != 0)
        die("%s: %s= must be hex", cf_ctl_verb(c), key);
    const char *p = cf_arena_strndup(&s->t->arena, (const char *)(b.p ? b.p : (uint8_t *)""),
                                     b.len);
    if (n != NULL)
        *n = b.len;
    wipe_free(&b);
    return p;
}

static uint64_t num(const cf_ctl *c, const char *key, uint64_t max)
{
    uint64_t v;
    if (cf_ctl_u64(c, key, &v) != 0 || v > max)
        die("%s: %s= must be a number up to %llu", cf_ctl_verb(c), key, (unsigned long long)max);
    return v;
}

static void do_begin(shim *s, const cf_ctl *c)
{
    reset(s);
    const char *role = cf_ctl_get(c, "role");
    s->role = role != NULL && strcmp(role, "server") == 0   ? CF_ROLE_SERVER
              : role != NULL && strcmp(role, "client") == 0 ? CF_ROLE_CLIENT
                                                            : 0;
    if (s->role == 0)
        die("begin: role=server or role=client");
    if (!(s->roles & s->role))
        unimplemented("this shim runs as a %s only",
                      s->roles == CF_ROLE_SERVER ? "server" : "client");
    s->port = (unsigned)num(c, "port", 65535);
    s->mono0 = num(c, "mono", UINT64_MAX);
    s->wall0 = num(c, "wall", UINT64_MAX);
    s->t = cf_xcalloc(1, sizeof *s->t);
    s->t->file = "shim";
    s->t->id = "shim";
    s->t->kind = CF_KIND_SCENARIO;
    s->t->roles = s->role;
    s->begun = 1;
    reply("ok");
}

/* Settings whose values are text (hex on the control line); the others are
 * numbers, durations in milliseconds, or versions=A-B, all as they are. */
static int text_setting(const char *key)
{
    return strcmp(key, "motd") == 0 || strcmp(key, "rooms") == 0;
}

static void do_set(shim *s, const cf_ctl *c)
{
    if (c->n != 2 || strchr(c->w[1], '=') == NULL)
        die("set: one KEY=VALUE");
    const char *eq = strchr(c->w[1], '=');
    char *key = cf_arena_strndup(&s->t->arena, c->w[1], (size_t)(eq - c->w[1]));
    if (!cf_server_key_known(key))
        unimplemented("server setting '%s'", key);
    cf_transcript *t = s->t;
    t->server_cfg = grow(t->server_cfg, t->nserver_cfg, &s->cap_cfg, sizeof *t->server_cfg);
    cf_arg *a = &t->server_cfg[t->nserver_cfg++];
    memset(a, 0, sizeof *a);
    a->key = key;
    a->op = CF_OP_EQ;
    if (text_setting(key)) {
        a->v.kind = CF_V_STR;
        a->v.p = (const uint8_t *)dup_hex(s, c, key, &a->v.n);
    } else {
        a->v.kind = CF_V_WORD;
        a->v.n = strlen(eq + 1);
        a->v.p = (const uint8_t *)cf_arena_strndup(&t->arena, eq + 1, a->v.n);
    }
    reply("ok");
}

static void do_account(shim *s, const cf_ctl *c)
{
    cf_transcript *t = s->t;
    t->accounts = grow(t->accounts, t->naccounts, &s->cap_accounts, sizeof *t->accounts);
    cf_account *a = &t->accounts[t->naccounts++];
    memset(a, 0, sizeof *a);
    a->name = dup_hex(s, c, "user", NULL);
    a->pass = (const uint8_t *)dup_hex(s, c, "pass", &a->pass_len);
    if (cf_ctl_role(c, "role", &a->role) != 0)
        die("account: role=user|admin");
    a->opslimit = (uint32_t)num(c, "opslimit", UINT32_MAX);
    a->memlimit_kib = (uint32_t)num(c, "memlimit-kib", UINT32_MAX);
    /* The stored verifier as the runner computed it, so no Argon2id here. */
    cf_buf b = {0};
    if (cf_ctl_hex(c, "salt", &b) != 0 || b.len != 16)
        die("account: salt= 16 bytes");
    memcpy(a->salt, b.p, 16);
    cf_buf_reset(&b);
    if (cf_ctl_hex(c, "pk", &b) != 0 || b.len != 32)
        die("account: pk= 32 bytes");
    memcpy(a->pk, b.p, 32);
    cf_buf_free(&b);
    a->has_salt = a->has_pk = 1;
    reply("ok");
}

static void do_server_key(shim *s, const cf_ctl *c)
{
    cf_buf b = {0};
    if (cf_ctl_hex(c, "key", &b) != 0 || b.len != 32)
        die("server-key: key= 32 bytes");
    memcpy(s->t->server_key, b.p, 32);
    s->t->has_server_key = 1;
    wipe_free(&b);
    reply("ok");
}

static void do_go(shim *s)
{
    cf_rngsrc_init(&s->rng, s->t, CF_RNG_REMOTE);
    s->rng.remote = remote_draw;
    s->rng.remote_arg = s;
    cf_setup st;
    memset(&st, 0, sizeof st);
    st.t = s->t;
    st.role = s->role;
    st.rng = &s->rng;
    st.mono0 = s->mono0;
    st.wall0 = s->wall0;
    char err[512];
    int rc = s->ad.ops->begin(s->ad.self, &st, err, sizeof err);
    if (rc == CF_BEGIN_SKIP)
        unimplemented("%s", err);
    if (rc != 0) {
        reply("error %s", err);
        return;
    }
    s->ready = 1;
    reply("ok");
}

/* ---- connections ------------------------------------------------------------------------ */

static sconn *find_conn(shim *s, const cf_ctl *c)
{
    uint64_t id = num(c, "conn", UINT64_MAX);
    for (size_t i = 0; i < s->nconns; i++)
        if (s->conns[i].id == id)
            return &s->conns[i];
    die("%s: no connection %llu", cf_ctl_verb(c), (unsigned long long)id);
}

/* The actor of an open line in the transcript the adapter reads: added on
 * its first connection. */
static int actor_of(shim *s, const cf_ctl *c)
{
    const char *name = cf_ctl_get(c, "actor");
    if (name == NULL || *name == '\0')
        die("open: actor=NAME");
    cf_transcript *t = s->t;
    int i = cf_actor_index(t, name);
    if (i < 0) {
        if (t->nactors == CF_MAX_ACTORS)
            unimplemented("more than %d actors", CF_MAX_ACTORS);
        i = (int)t->nactors++;
    }
    cf_actor *a = &t->actors[i];
    memset(a, 0, sizeof *a);
    a->name = cf_arena_strndup(&t->arena, name, strlen(name));
    a->addr = (uint8_t)num(c, "addr", 255);
    a->auto_login = (uint8_t)num(c, "auto", 1);
    a->trust = (uint8_t)num(c, "trust", 1);
    a->vmin = (uint8_t)num(c, "vmin", 255);
    a->vmax = (uint8_t)num(c, "vmax", 255);
    a->max_opslimit = (uint32_t)num(c, "max-opslimit", UINT32_MAX);
    a->max_memlimit_kib = (uint32_t)num(c, "max-memlimit-kib", UINT32_MAX);
    cf_buf b = {0};
    if (cf_ctl_get(c, "key") != NULL) {
        if (cf_ctl_hex(c, "key", &b) != 0 || b.len != 32)
            die("open: key= 32 bytes");
        memcpy(a->key, b.p, 32);
        a->has_key = 1;
    }
    wipe_free(&b);
    return i;
}

static int dial(shim *s, uint64_t id)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)s->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    /* The runner tells its connections apart by this id. */
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(id >> (8 * i));
    if (cf_fd_write(fd, le, sizeof le, -1) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void do_open(shim *s, const cf_ctl *c)
{
    uint64_t id = num(c, "conn", UINT64_MAX);
    for (size_t i = 0; i < s->nconns; i++)
        if (s->conns[i].id == id)
            die("open: connection %llu exists", (unsigned long long)id);
    cf_open o;
    memset(&o, 0, sizeof o);
    o.actor = actor_of(s, c);
    cf_buf pass = {0};
    size_t ulen = 0;
    o.user = cf_ctl_get(c, "user") != NULL ? dup_hex(s, c, "user", &ulen) : "";
    if (cf_ctl_get(c, "pass") != NULL) {
        if (cf_ctl_hex(c, "pass", &pass) != 0)
            die("open: pass= must be hex");
        o.pass = pass.p != NULL ? pass.p : (const uint8_t *)"";
        o.pass_len = pass.len;
    }
    int fd = dial(s, id);
    if (fd < 0) {
        reply("error connect to 127.0.0.1:%u: %s", s->port, strerror(errno));
    } else {
        s->conns = cf_xrealloc(s->conns, (s->nconns + 1) * sizeof *s->conns);
        sconn *sc = &s->conns[s->nconns++];
        sc->id = id;
        sc->fd = fd;
        sc->c = NULL;
        char err[512];
        answer(s->ad.ops->open(s->ad.self, &o, &sc->c, err, sizeof err), err);
    }
    wipe_free(&pass);
}

static void do_send(shim *s, const cf_ctl *c)
{
    sconn *sc = find_conn(s, c);
    size_t n = (size_t)num(c, "len", CF_CTL_MAX_LINE);
    uint8_t *p = cf_xmalloc(n);
    if (sc->fd < 0 || cf_fd_read(sc->fd, p, n, -1) != 0)
        die("send: could not read %zu bytes from connection %llu", n,
            (unsigned long long)sc->id);
    int rc = s->ad.ops->send(s->ad.self, sc->c, p, n);
    free(p);
    if (rc != 0)
        reply("error the connection is closed");
    else
        reply("ok");
}

static void do_recv(shim *s, const cf_ctl *c)
{
    sconn *sc = find_conn(s, c);
    size_t max = (size_t)num(c, "max", CF_CTL_MAX_LINE);
    cf_buf b = {0};
    int n = s->ad.ops->recv(s->ad.self, sc->c, &b, max, 0);
    if (n == CF_EOF) {
        reply("eof");
        /* The implementation closed its end: so does the socket. */
        if (sc->fd >= 0)
            (void)shutdown(sc->fd, SHUT_WR);
    } else {
        /* The line first: the runner reads it, then exactly len bytes. */
        reply("data len=%zu", b.len);
        if (b.len > 0 && cf_fd_write(sc->fd, b.p, b.len, -1) != 0)
            die("recv: writing to connection %llu: %s", (unsigned long long)sc->id,
                strerror(errno));
    }
    cf_buf_free(&b);
}

static void do_close(shim *s, const cf_ctl *c)
{
    sconn *sc = find_conn(s, c);
    s->ad.ops->close(s->ad.self, sc->c);
    reply("ok");
}

static void do_command(shim *s, const cf_ctl *c)
{
    sconn *sc = find_conn(s, c);
    const char *kind = cf_ctl_get(c, "kind");
    cf_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cf_buf pass = {0}, msg = {0}, text = {0};
    if (kind == NULL)
        die("command: kind=");
    if (strcmp(kind, "login") == 0) {
        cmd.kind = CF_CMD_LOGIN;
    } else if (strcmp(kind, "request") == 0) {
        cmd.kind = CF_CMD_REQUEST;
    } else if (strcmp(kind, "passwd") == 0) {
        cmd.kind = CF_CMD_PASSWD;
    } else if (strcmp(kind, "add-user") == 0) {
        cmd.kind = CF_CMD_ADD_USER;
    } else if (strcmp(kind, "quit") == 0) {
        cmd.kind = CF_CMD_QUIT;
    } else {
        unimplemented("command kind=%s", kind);
    }
    if (cf_ctl_get(c, "user") != NULL)
        cmd.user = dup_hex(s, c, "user", NULL);
    if (cf_ctl_get(c, "pass") != NULL) {
        if (cf_ctl_hex(c, "pass", &pass) != 0)
            die("command: pass= must be hex");
        cmd.pass = pass.p != NULL ? pass.p : (const uint8_t *)"";
        cmd.pass_len = pass.len;
    }
    if (cmd.kind == CF_CMD_REQUEST) {
        /* The adapter takes the message with its length prefix. */
        cf_buf_u16(&msg, 0);
        if (cf_ctl_hex(c, "msg", &msg) != 0 || msg.len < 3 || msg.len - 2 > UINT16_MAX)
            die("command: msg= a message as hex");
        msg.p[0] = (uint8_t)((msg.len - 2) >> 8);
        msg.p[1] = (uint8_t)(msg.len - 2);
        cmd.msg = msg.p;
        cmd.msg_len = msg.len;
    }
    if (cmd.kind == CF_CMD_QUIT) {
        if (cf_ctl_hex(c, "text", &text) != 0)
            die("command: text= must be hex");
        cmd.text = text.p;
        cmd.text_len = text.len;
    }
    if (cmd.kind == CF_CMD_PASSWD || cmd.kind == CF_CMD_ADD_USER) {
        cmd.opslimit = (uint32_t)num(c, "opslimit", UINT32_MAX);
        cmd.memlimit_kib = (uint32_t)num(c, "memlimit-kib", UINT32_MAX);
    }
    if (cmd.kind == CF_CMD_ADD_USER && cf_ctl_role(c, "role", &cmd.role) != 0)
        die("command: role=user|admin");
    char err[512];
    answer(s->ad.ops->command(s->ad.self, sc->c, &cmd, err, sizeof err), err);
    wipe_free(&pass);
    cf_buf_free(&msg);
    cf_buf_free(&text);
}

static void do_event(shim *s, const cf_ctl *c)
{
    sconn *sc = find_conn(s, c);
    cf_event ev;
    if (s->ad.ops->event(s->ad.self, sc->c, &ev, 0) != 1) {
        reply("none");
        return;
    }
    cf_buf b = {0};
    cf_event_to_ctl(&ev, &b);
    put_line(&b);
    cf_event_free(&ev);
}

static void do_fault(shim *s, const cf_ctl *c)
{
    const char *v = cf_ctl_get(c, "store");
    if (v == NULL || (strcmp(v, "on") != 0 && strcmp(v, "off") != 0))
        unimplemented("fault %s", c->n > 1 ? c->w[1] : "");
    if (s->ad.ops->fault(s->ad.self, "store", strcmp(v, "on") == 0) != 0)
        reply("error the store cannot fail in this role");
    else
        reply("ok");
}

/* ---- main ------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: chat-shim [--role server|client] [--bug NAME]\n"
          "The conformance shim over libchat (docs/SHIM.md). Run by chat-conformance\n"
          "--shim, not by hand: control lines on stdin and stdout, wire bytes on\n"
          "loopback TCP connections to the runner.\n"
          "\n"
          "  --role ROLE   offer only this role (server: chat_hub, client: chat_client);\n"
          "                default both\n"
          "  --bug NAME    make the server deviate from the protocol in one test-only way\n"
          "                (lost-passwd, extra-attempt, reject-code, slow-idle,\n"
          "                keep-deleted): the suite must then fail\n",
          f);
}

static void serve(shim *s)
{
    for (;;) {
        cf_ctl c;
        next_ctl(s, &c);
        const char *v = cf_ctl_verb(&c);
        int setup = strcmp(v, "server-key") == 0 || strcmp(v, "set") == 0 ||
                    strcmp(v, "account") == 0 || strcmp(v, "go") == 0;
        if (strcmp(v, "begin") == 0) {
            do_begin(s, &c);
        } else if (strcmp(v, "end") == 0) {
            reset(s);
            reply("ok");
            cf_ctl_free(&c);
            return;
        } else if (!s->begun) {
            die("'%s' before begin", v);
        } else if (setup && s->ready) {
            die("'%s' after go", v);
        } else if (!setup && !s->ready) {
            die("'%s' before go", v);
        } else if (strcmp(v, "server-key") == 0) {
            do_server_key(s, &c);
        } else if (strcmp(v, "set") == 0) {
            do_set(s, &c);
        } else if (strcmp(v, "account") == 0) {
            do_account(s, &c);
        } else if (strcmp(v, "go") == 0) {
            do_go(s);
        } else if (strcmp(v, "open") == 0) {
            do_open(s, &c);
        } else if (strcmp(v, "send") == 0) {
            do_send(s, &c);
        } else if (strcmp(v, "recv") == 0) {
            do_recv(s, &c);
        } else if (strcmp(v, "close") == 0) {
            do_close(s, &c);
        } else if (strcmp(v, "command") == 0) {
            do_command(s, &c);
        } else if (strcmp(v, "event") == 0) {
            do_event(s, &c);
        } else if (strcmp(v, "advance") == 0) {
            (void)s->ad.ops->advance(s->ad.self, num(&c, "ms", UINT64_MAX / 2));
            reply("ok");
        } else if (strcmp(v, "fault") == 0) {
            do_fault(s, &c);
        } else {
            unimplemented("request '%s'", v);
        }
        cf_ctl_free(&c);
    }
}

int main(int argc, char **argv)
{
    unsigned roles = CF_ROLE_SERVER | CF_ROLE_CLIENT;
    int bug = CF_BUG_NONE;
    for (int i = 1; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--role") == 0 && next != NULL) {
            i++;
            if (strcmp(next, "server") == 0) {
                roles = CF_ROLE_SERVER;
            } else if (strcmp(next, "client") == 0) {
                roles = CF_ROLE_CLIENT;
            } else {
                fprintf(stderr, "chat-shim: --role server or --role client\n");
                return EXIT_USAGE;
            }
        } else if (strcmp(argv[i], "--bug") == 0 && next != NULL) {
            i++;
            bug = cf_bug_by_name(next);
            if (bug < 0) {
                fprintf(stderr, "chat-shim: unknown bug '%s'\n", next);
                return EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "chat-shim: unknown option or missing argument: %s\n", argv[i]);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "chat-shim: libsodium failed to initialise\n");
        return 1;
    }
    shim s;
    memset(&s, 0, sizeof s);
    s.roles = roles;
    s.in.fd = 0;
    s.ad = cf_inproc_new(bug);
    /* What the in-process adapter can do, less what is the adapter's own
     * property (instant settling comes from the protocol's lock step). */
    reply("hello version=1 caps=%s%s,kat,clock,config,accounts,addr,faults",
          roles & CF_ROLE_SERVER ? "server" : "",
          roles == (CF_ROLE_SERVER | CF_ROLE_CLIENT) ? ",client"
          : roles == CF_ROLE_CLIENT                  ? "client"
                                                     : "");
    serve(&s);
    s.ad.ops->destroy(s.ad.self);
    cf_lines_free(&s.in);
    return 0;
}
