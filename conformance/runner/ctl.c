#include "ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "fields.h"
#include "proc.h"

int cf_ctl_split(cf_ctl *c, const char *line)
{
    memset(c, 0, sizeof *c);
    c->copy = cf_xstrdup(line);
    c->len = strlen(line);
    char *p = c->copy;
    while (*p != '\0') {
        if (c->n == CF_CTL_MAX_WORDS)
            return -1;
        c->w[c->n++] = p;
        char *sp = strchr(p, ' ');
        if (sp == NULL)
            break;
        *sp = '\0';
        p = sp + 1;
        if (*p == '\0' || *p == ' ')
            return -1; /* one space between words, none at the end */
    }
    return 0;
}

void cf_ctl_free(cf_ctl *c)
{
    if (c->copy != NULL) {
        sodium_memzero(c->copy, c->len); /* lines carry passwords and keys */
        free(c->copy);
    }
    memset(c, 0, sizeof *c);
}

const char *cf_ctl_verb(const cf_ctl *c)
{
    return c->n > 0 ? c->w[0] : "";
}

const char *cf_ctl_get(const cf_ctl *c, const char *key)
{
    size_t k = strlen(key);
    for (size_t i = 1; i < c->n; i++)
        if (strncmp(c->w[i], key, k) == 0 && c->w[i][k] == '=')
            return c->w[i] + k + 1;
    return NULL;
}

int cf_ctl_flag(const cf_ctl *c, const char *word)
{
    for (size_t i = 1; i < c->n; i++)
        if (strcmp(c->w[i], word) == 0)
            return 1;
    return 0;
}

int cf_ctl_u64(const cf_ctl *c, const char *key, uint64_t *out)
{
    const char *v = cf_ctl_get(c, key);
    if (v == NULL || *v == '\0' || strlen(v) > 20)
        return -1;
    uint64_t x = 0;
    for (const char *p = v; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        uint64_t d = (uint64_t)(*p - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *out = x;
    return 0;
}

int cf_ctl_hex(const cf_ctl *c, const char *key, cf_buf *out)
{
    const char *v = cf_ctl_get(c, key);
    if (v == NULL)
        return -1;
    size_t n = strlen(v);
    if (n % 2 != 0)
        return -1;
    cf_buf_reserve(out, n / 2);
    for (size_t i = 0; i < n; i += 2) {
        int a = cf_hexval((unsigned char)v[i]), b = cf_hexval((unsigned char)v[i + 1]);
        if (a < 0 || b < 0)
            return -1;
        cf_buf_byte(out, (uint8_t)(a << 4 | b));
    }
    return 0;
}

void cf_ctl_put_hex(cf_buf *line, const char *key, const uint8_t *p, size_t n)
{
    cf_buf_printf(line, " %s=", key);
    cf_buf_reserve(line, 2 * n + 1);
    cf_hex((char *)line->p + line->len, p, n);
    line->len += 2 * n;
}

/* ---- descriptors ------------------------------------------------------------------------ */

/* Wait for fd to be ready for ev until end (0: forever). 1 ready, 0 timeout. */
static int wait_fd(int fd, short ev, uint64_t end)
{
    for (;;) {
        int t = -1;
        if (end != 0) {
            uint64_t now = cf_now_ms();
            if (now >= end)
                return 0;
            t = (int)(end - now);
        }
        struct pollfd pf = {fd, ev, 0};
        int r = poll(&pf, 1, t);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return 1; /* let the read or write report it */
    }
}

static uint64_t deadline(int timeout_ms)
{
    return timeout_ms < 0 ? 0 : cf_now_ms() + (uint64_t)timeout_ms + (timeout_ms == 0);
}

int cf_lines_next(cf_lines *l, char **line, int timeout_ms)
{
    uint64_t end = deadline(timeout_ms);
    if (l->used > 0) {
        cf_buf_consume(&l->in, l->used);
        l->used = 0;
    }
    for (;;) {
        /* A whole line read already? */
        uint8_t *nl = l->in.len > 0 ? memchr(l->in.p, '\n', l->in.len) : NULL;
        if (nl != NULL) {
            *nl = '\0';
            *line = (char *)l->in.p;
            l->used = (size_t)(nl - l->in.p) + 1;
            return 1;
        }
        if (l->eof || l->in.len > CF_CTL_MAX_LINE)
            return -1;
        if (!wait_fd(l->fd, POLLIN, end))
            return 0;
        cf_buf_reserve(&l->in, 65536);
        ssize_t r = read(l->fd, l->in.p + l->in.len, 65536);
        if (r > 0)
            l->in.len += (size_t)r;
        else if (r == 0 || (errno != EINTR && errno != EAGAIN))
            l->eof = 1;
    }
}

void cf_lines_free(cf_lines *l)
{
    if (l->in.p != NULL)
        sodium_memzero(l->in.p, l->in.cap);
    cf_buf_free(&l->in);
}

int cf_fd_write(int fd, const void *p, size_t n, int timeout_ms)
{
    uint64_t end = deadline(timeout_ms);
    const uint8_t *b = p;
    while (n > 0) {
        /* send() so that a peer gone away is EPIPE, not SIGPIPE; pipes are
         * no sockets and take write(). */
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == ENOTSOCK)
            w = write(fd, b, n);
        if (w > 0) {
            b += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait_fd(fd, POLLOUT, end))
            continue;
        return -1;
    }
    return 0;
}

int cf_fd_read(int fd, void *p, size_t n, int timeout_ms)
{
    uint64_t end = deadline(timeout_ms);
    uint8_t *b = p;
    while (n > 0) {
        if (!wait_fd(fd, POLLIN, end))
            return -1;
        ssize_t r = read(fd, b, n);
        if (r > 0) {
            b += r;
            n -= (size_t)r;
        } else if (r == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
            return -1;
        }
    }
    return 0;
}

/* ---- events ----------------------------------------------------------------------------- */

static const char *const origins[] = {"?", "peer", "local", "lost"};

void cf_event_to_ctl(const cf_event *ev, cf_buf *line)
{
    switch (ev->type) {
    case CF_T_SERVER_KEY:
        cf_buf_printf(line, "event server-key");
        cf_ctl_put_hex(line, "key", ev->key, 32);
        cf_buf_printf(line, " version=%u", ev->version);
        break;
    case CF_T_REJECT:
        cf_buf_printf(line, "event rejected code=%u vmin=%u vmax=%u", ev->code, ev->vmin,
                      ev->vmax);
        cf_ctl_put_hex(line, "text", ev->text, ev->text_len);
        break;
    case CF_T_CLOSED:
        cf_buf_printf(line, "event closed origin=%s code=%u",
                      ev->origin <= CF_ORIGIN_LOST ? origins[ev->origin] : "?", ev->code);
        cf_ctl_put_hex(line, "text", ev->text, ev->text_len);
        break;
    default:
        cf_buf_printf(line, "event message");
        cf_ctl_put_hex(line, "msg", ev->msg, ev->len);
        break;
    }
    if (ev->autod)
        cf_buf_printf(line, " auto");
}

static int small(const cf_ctl *c, const char *key, uint64_t max, uint64_t *out)
{
    return cf_ctl_u64(c, key, out) == 0 && *out <= max ? 0 : -1;
}

int cf_event_from_ctl(const cf_ctl *c, cf_event *ev)
{
    memset(ev, 0, sizeof *ev);
    const char *kind = c->n > 1 ? c->w[1] : "";
    cf_buf b = {0};
    uint64_t x, y, z;
    int rc = -1;
    if (strcmp(kind, "server-key") == 0) {
        if (cf_ctl_hex(c, "key", &b) == 0 && b.len == 32 && small(c, "version", 255, &x) == 0) {
            ev->type = CF_T_SERVER_KEY;
            memcpy(ev->key, b.p, 32);
            ev->version = (uint8_t)x;
            ev->valid = -1;
            rc = 0;
        }
    } else if (strcmp(kind, "rejected") == 0 || strcmp(kind, "closed") == 0) {
        int closed = kind[0] == 'c';
        const char *o = cf_ctl_get(c, "origin");
        uint64_t origin = 0;
        for (uint64_t i = 1; closed && o != NULL && i <= CF_ORIGIN_LOST; i++)
            if (strcmp(o, origins[i]) == 0)
                origin = i;
        if (small(c, "code", 65535, &x) == 0 && cf_ctl_hex(c, "text", &b) == 0 &&
            (closed ? origin != 0
                    : small(c, "vmin", 255, &y) == 0 && small(c, "vmax", 255, &z) == 0)) {
            cf_event_closed(ev, (uint8_t)origin, (uint16_t)x, b.p, b.len);
            if (!closed) {
                ev->type = CF_T_REJECT;
                ev->origin = CF_ORIGIN_PEER;
                ev->vmin = (uint8_t)y;
                ev->vmax = (uint8_t)z;
            }
            rc = 0;
        }
    } else if (strcmp(kind, "message") == 0) {
        if (cf_ctl_hex(c, "msg", &b) == 0 && b.len >= 1) {
            cf_event_msg(ev, b.p, b.len);
            rc = 0;
        }
    }
    if (rc == 0)
        ev->autod = (uint8_t)cf_ctl_flag(c, "auto");
    cf_buf_free(&b);
    return rc;
}

int cf_ctl_role(const cf_ctl *c, const char *key, uint8_t *out)
{
    const char *v = cf_ctl_get(c, key);
    if (v != NULL && strcmp(v, "user") == 0)
        *out = 0;
    else if (v != NULL && strcmp(v, "admin") == 0)
        *out = 1;
    else
        return -1;
    return 0;
}
