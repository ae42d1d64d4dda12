/* chatbench's IRC mode (RFC 2812 client side, as much as a benchmark
 * needs): NICK/USER registration (done at 001), JOIN (done at 366, end of
 * NAMES), PRIVMSG to the channel, PONG for every PING, QUIT. Any error
 * numeric other than "no MOTD" stops the run. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IRC_LINE_MAX 8192 /* longer than any line a server may send (512) */

typedef struct ibuf {
    char *p;
    size_t len, off, cap;
} ibuf;

typedef struct irc_ps {
    ibuf in;  /* an incomplete line carried over to the next read */
    ibuf out; /* bytes to write: out.p[out.off .. out.len) */
    int quitting;
} irc_ps;

static int ibuf_put(ibuf *b, const void *data, size_t n)
{
    if (b->off > 0 && b->off == b->len)
        b->off = b->len = 0;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

/* Append the NUL-terminated pieces (up to a NULL) to the output. */
static int put(bconn *c, const char *const *parts)
{
    irc_ps *ps = c->ps;
    for (; *parts != NULL; parts++)
        if (ibuf_put(&ps->out, *parts, strlen(*parts)) != 0)
            return bench_fail(c->th->b, "out of memory");
    return 0;
}

static int irc_open(bconn *c, uint64_t now_ms)
{
    (void)now_ms;
    irc_ps *ps = calloc(1, sizeof *ps);
    if (ps == NULL)
        return bench_fail(c->th->b, "out of memory");
    c->ps = ps;
    char nick[CHAT_NAME_MAX + 1];
    bench_name(c->th->b, c->idx, nick);
    const char *l[] = {"NICK ", nick, "\r\nUSER ", nick, " 0 * :chatbench\r\n", NULL};
    return put(c, l);
}

/* One line without its CR LF, NUL-terminated in place. */
static int on_line(bconn *c, char *line)
{
    bench *b = c->th->b;
    irc_ps *ps = c->ps;
    const char *from = NULL;
    size_t from_len = 0;
    char *p = line;
    if (*p == ':') {
        /* :nick!user@host or :server.name */
        from = ++p;
        while (*p != '\0' && *p != ' ')
            p++;
        const char *bang = memchr(from, '!', (size_t)(p - from));
        from_len = (size_t)((bang != NULL ? bang : p) - from);
        while (*p == ' ')
            p++;
    }
    char *cmd = p;
    while (*p != '\0' && *p != ' ')
        p++;
    size_t cmd_len = (size_t)(p - cmd);
    while (*p == ' ')
        p++;
    char *params = p;

    if (cmd_len == 4 && strncmp(cmd, "PING", 4) == 0) {
        const char *l[] = {"PONG ", params, "\r\n", NULL};
        return put(c, l);
    }
    if (cmd_len == 7 && strncmp(cmd, "PRIVMSG", 7) == 0) {
        /* PRIVMSG <target> :<text> */
        char *target = params;
        char *sp = strchr(params, ' ');
        if (sp == NULL || sp[1] != ':' || from == NULL)
            return bench_fail(b, "connection %u: malformed PRIVMSG: %s", c->idx, line);
        size_t tlen = (size_t)(sp - target);
        if (tlen == strlen(b->o->room) && strncasecmp(target, b->o->room, tlen) == 0)
            bench_on_text(c, from, from_len, (const uint8_t *)(sp + 2), strlen(sp + 2));
        return 0;
    }
    if (cmd_len == 5 && strncmp(cmd, "ERROR", 5) == 0) {
        if (ps->quitting)
            return 0; /* the server's answer to our QUIT */
        if (strstr(params, "too many connections") != NULL ||
            strstr(params, "Too many connections") != NULL)
            return bench_fail(b,
                              "the IRC server refused connection %u: %s (raise its connection "
                              "limits, e.g. ngircd's MaxConnections and MaxConnectionsIP)",
                              c->idx, params);
        return bench_fail(b, "the IRC server closed connection %u: %s", c->idx, params);
    }
    if (cmd_len == 3 && cmd[0] >= '0' && cmd[0] <= '9') {
        int num = atoi(cmd);
        if (num == 1) {
            bench_on_ready(c);
        } else if (num == 366) {
            bench_on_joined(c);
        } else if (num >= 400 && num < 600 && num != 422 /* no MOTD */) {
            return bench_fail(b, "connection %u: the IRC server answered %s", c->idx, line);
        }
    }
    return 0;
}

static int irc_input(bconn *c, const uint8_t *in, size_t n, uint64_t now_ms)
{
    (void)now_ms;
    irc_ps *ps = c->ps;
    /* Complete lines are parsed where they lie (in the caller's buffer, or
     * in ps->in after an incomplete line): a copy is kept only for the
     * incomplete tail. */
    if (ps->in.len > 0) {
        if (ibuf_put(&ps->in, in, n) != 0)
            return bench_fail(c->th->b, "out of memory");
        in = (const uint8_t *)ps->in.p;
        n = ps->in.len;
    }
    char *p = (char *)in; /* our own scratch or buffer: writable */
    size_t left = n;
    for (;;) {
        char *nl = memchr(p, '\n', left);
        if (nl == NULL)
            break;
        size_t len = (size_t)(nl - p);
        *nl = '\0';
        if (len > 0 && p[len - 1] == '\r')
            p[len - 1] = '\0';
        if (on_line(c, p) != 0)
            return -1;
        left -= len + 1;
        p = nl + 1;
    }
    if (left > IRC_LINE_MAX)
        return bench_fail(c->th->b, "connection %u: a line longer than %d bytes", c->idx,
                          IRC_LINE_MAX);
    if (ps->in.len > 0) {
        memmove(ps->in.p, p, left);
        ps->in.len = left;
    } else if (left > 0 && ibuf_put(&ps->in, p, left) != 0) {
        return bench_fail(c->th->b, "out of memory");
    }
    return 0;
}

static const uint8_t *irc_peek(bconn *c, size_t *n)
{
    irc_ps *ps = c->ps;
    *n = ps->out.len - ps->out.off;
    return (const uint8_t *)ps->out.p + ps->out.off;
}

static void irc_ack(bconn *c, size_t n)
{
    irc_ps *ps = c->ps;
    ps->out.off += n;
    if (ps->out.off == ps->out.len)
        ps->out.off = ps->out.len = 0;
}

static int irc_join(bconn *c, const char *room)
{
    const char *l[] = {"JOIN ", room, "\r\n", NULL};
    return put(c, l);
}

static int irc_say(bconn *c, const char *room, const char *text, size_t len)
{
    (void)len;
    const char *l[] = {"PRIVMSG ", room, " :", text, "\r\n", NULL};
    return put(c, l);
}

static int irc_quit(bconn *c)
{
    ((irc_ps *)c->ps)->quitting = 1;
    const char *l[] = {"QUIT :chatbench\r\n", NULL};
    return put(c, l);
}

static void irc_tick(bconn *c, uint64_t now_ms)
{
    (void)c;
    (void)now_ms; /* the server PINGs; we only answer */
}

static void irc_close(bconn *c)
{
    irc_ps *ps = c->ps;
    if (ps == NULL)
        return;
    free(ps->in.p);
    free(ps->out.p);
    free(ps);
    c->ps = NULL;
}

const bproto bench_irc_proto = {
    "irc", irc_open, irc_input, irc_peek, irc_ack, irc_join,
    irc_say, irc_quit, irc_tick, irc_close,
};
