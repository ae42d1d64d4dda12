/* Blocking TCP test client over libchat (see tcp_client.h). */
#include "tcp_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "eventfmt.h"

struct tc {
    int fd;
    int eof;
    chat_client *c;
    char password[256];
    char fp[CHAT_FINGERPRINT_LEN + 1];
    char **lines;
    size_t nlines, cap, read;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void add_line(tc *t, const char *line)
{
    if (t->nlines == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **p = realloc(t->lines, cap * sizeof *p);
        if (p == NULL)
            abort();
        t->lines = p;
        t->cap = cap;
    }
    size_t n = strlen(line) + 1;
    char *copy = malloc(n);
    if (copy == NULL)
        abort();
    memcpy(copy, line, n);
    t->lines[t->nlines++] = copy;
}

tc *tc_new(unsigned port, const char *user, const char *password, int rcvbuf)
{
    tc *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (t->fd < 0) {
        free(t);
        return NULL;
    }
    if (rcvbuf > 0)
        (void)setsockopt(t->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    int one = 1;
    (void)setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    chat_client_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if (connect(t->fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        chat_client_new(&t->c, &cfg) != CHAT_OK ||
        chat_client_start(t->c, user, now_ms()) != CHAT_OK) {
        close(t->fd);
        chat_client_free(t->c);
        free(t);
        return NULL;
    }
    tc_set_password(t, password);
    return t;
}

void tc_free(tc *t)
{
    if (t == NULL)
        return;
    if (t->fd >= 0)
        close(t->fd);
    chat_client_free(t->c);
    for (size_t i = 0; i < t->nlines; i++)
        free(t->lines[i]);
    free(t->lines);
    sodium_memzero(t->password, sizeof t->password);
    free(t);
}

void tc_set_password(tc *t, const char *password)
{
    snprintf(t->password, sizeof t->password, "%s", password != NULL ? password : "");
}

chat_client *tc_client(tc *t)
{
    return t->c;
}

int tc_fd(const tc *t)
{
    return t->fd;
}

const char *tc_fingerprint(const tc *t)
{
    return t->fp;
}

int tc_closed(const tc *t)
{
    return chat_client_get_state(t->c) == CHAT_CLIENT_CLOSED;
}

void tc_dump(const tc *t, const char *who)
{
    for (size_t i = 0; i < t->nlines; i++)
        fprintf(stderr, "  %-8s %s%s\n", who, i < t->read ? "  " : "> ", t->lines[i]);
}

static void handle_events(tc *t)
{
    chat_client_event ev;
    char line[8192];
    while (chat_client_next_event(t->c, &ev)) {
        chat_event_format(&ev, line, sizeof line);
        add_line(t, line);
        int rc = CHAT_OK;
        if (ev.type == CHAT_CLIENT_EV_SERVER_KEY) {
            chat_fingerprint(t->fp, ev.server_key);
            rc = chat_client_trust_server(t->c, 1);
        } else if (ev.type == CHAT_CLIENT_EV_CHALLENGE) {
            rc = chat_client_prove(t->c, (const uint8_t *)t->password, strlen(t->password));
        }
        if (rc != CHAT_OK) {
            snprintf(line, sizeof line, "api-error %s", chat_strerror(rc));
            add_line(t, line);
        }
    }
}

/* Write all pending output (blocking). */
void tc_flush(tc *t)
{
    for (;;) {
        size_t len = 0;
        const uint8_t *p = chat_client_out_peek(t->c, &len);
        if (len == 0 || t->fd < 0)
            return;
        ssize_t w = send(t->fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            /* The server is gone: drop what we cannot send. */
            chat_client_out_ack(t->c, len);
            return;
        }
        chat_client_out_ack(t->c, (size_t)w);
    }
}

int tc_pump(tc *t, int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    handle_events(t);
    tc_flush(t);
    for (;;) {
        if (t->eof)
            return -1;
        uint64_t now = now_ms();
        int wait = now >= end ? 0 : (int)(end - now);
        struct pollfd pfd = {t->fd, POLLIN, 0};
        int n = poll(&pfd, 1, wait);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        uint8_t buf[65536];
        int got = 0;
        for (;;) {
            ssize_t r = recv(t->fd, buf, sizeof buf, MSG_DONTWAIT);
            if (r < 0 && errno == EINTR)
                continue;
            if (r > 0) {
                got = 1;
                int rc = chat_client_feed(t->c, buf, (size_t)r, now_ms());
                if (rc != CHAT_OK && rc != CHAT_E_CLOSED) {
                    char line[96];
                    snprintf(line, sizeof line, "api-error %s", chat_strerror(rc));
                    add_line(t, line);
                }
                handle_events(t);
                tc_flush(t);
                continue;
            }
            if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                t->eof = 1;
                if (chat_client_get_state(t->c) != CHAT_CLIENT_CLOSED)
                    chat_client_eof(t->c);
                handle_events(t);
                return -1;
            }
            break;
        }
        chat_client_tick(t->c, now_ms());
        handle_events(t);
        tc_flush(t);
        if (got)
            return 0;
    }
}

const char *tc_wait(tc *t, const char *prefix, int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    size_t plen = strlen(prefix);
    for (;;) {
        while (t->read < t->nlines) {
            const char *l = t->lines[t->read++];
            if (strncmp(l, prefix, plen) == 0)
                return l;
        }
        uint64_t now = now_ms();
        if (now >= end)
            return NULL;
        if (tc_pump(t, (int)(end - now)) != 0 && t->read == t->nlines)
            return NULL;
    }
}

int tc_login(tc *t, int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        while (t->read < t->nlines) {
            const char *l = t->lines[t->read++];
            if (strncmp(l, "welcome ", 8) == 0)
                return 0;
            if (strncmp(l, "login-failed ", 13) == 0 || strncmp(l, "closed ", 7) == 0 ||
                strncmp(l, "rejected ", 9) == 0 || strncmp(l, "api-error ", 10) == 0)
                return -1;
        }
        uint64_t now = now_ms();
        if (now >= end)
            return -1;
        if (tc_pump(t, (int)(end - now)) != 0 && t->read == t->nlines)
            return -1;
    }
}

void tc_settle(tc *t, int settle_ms)
{
    for (int i = 0; i < 50; i++) {
        size_t before = t->nlines;
        if (tc_pump(t, settle_ms) != 0 || t->nlines == before)
            return;
    }
}
