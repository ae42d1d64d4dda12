/* chatc's socket. See net.h. */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void net_init(net *n)
{
    memset(n, 0, sizeof *n);
    n->fd = -1;
}

static void describe(const struct addrinfo *ai, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ai->ai_family == AF_INET) {
        const struct sockaddr_in *sa = (const struct sockaddr_in *)(const void *)ai->ai_addr;
        inet_ntop(AF_INET, &sa->sin_addr, host, sizeof host);
        port = ntohs(sa->sin_port);
        snprintf(out, cap, "%s:%u", host, port);
    } else if (ai->ai_family == AF_INET6) {
        const struct sockaddr_in6 *sa = (const struct sockaddr_in6 *)(const void *)ai->ai_addr;
        inet_ntop(AF_INET6, &sa->sin6_addr, host, sizeof host);
        port = ntohs(sa->sin6_port);
        snprintf(out, cap, "[%s]:%u", host, port);
    } else {
        snprintf(out, cap, "?");
    }
}

/* Try addresses from n->next on until a connect is under way or done.
 * 0 under way/done, -1 none left. */
static int try_next(net *n, char *err, size_t errlen)
{
    int last_errno = 0;
    while (n->next != NULL) {
        struct addrinfo *ai = n->next;
        n->next = ai->ai_next;
        describe(ai, n->peer, sizeof n->peer);
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            n->fd = fd;
            n->connecting = 0;
            return 0;
        }
        if (errno == EINPROGRESS) {
            n->fd = fd;
            n->connecting = 1;
            return 0;
        }
        last_errno = errno;
        close(fd);
    }
    snprintf(err, errlen, "cannot connect to %s: %s", n->peer,
             last_errno ? strerror(last_errno) : "no address");
    return -1;
}

int net_start(net *n, const char *host, unsigned port, char *err, size_t errlen)
{
    net_close(n);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc != 0 && rc == EAI_NONAME) {
        /* AI_ADDRCONFIG hides loopback-only setups' other family. */
        hints.ai_flags = 0;
        rc = getaddrinfo(host, ps, &hints, &res);
    }
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host,
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return -1;
    }
    n->res = res;
    n->next = res;
    return try_next(n, err, errlen);
}

int net_connect_done(net *n, char *err, size_t errlen)
{
    if (!n->connecting)
        return 1;
    int e = 0;
    socklen_t el = sizeof e;
    if (getsockopt(n->fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
        e = errno;
    if (e == 0) {
        n->connecting = 0;
        return 1;
    }
    if (e == EINPROGRESS || e == EALREADY)
        return 0;
    close(n->fd);
    n->fd = -1;
    n->connecting = 0;
    char why[160];
    snprintf(why, sizeof why, "cannot connect to %s: %s", n->peer, strerror(e));
    if (try_next(n, err, errlen) != 0) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    return n->connecting ? 0 : 1;
}

ssize_t net_read(net *n, void *buf, size_t cap)
{
    for (;;) {
        ssize_t r = recv(n->fd, buf, cap, 0);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return -1;
        return -2;
    }
}

ssize_t net_write(net *n, const void *buf, size_t len)
{
    for (;;) {
        ssize_t w = send(n->fd, buf, len, MSG_NOSIGNAL);
        if (w >= 0)
            return w;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return -1;
        return -2;
    }
}

void net_shutdown_write(net *n)
{
    if (n->fd >= 0)
        (void)shutdown(n->fd, SHUT_WR);
}

void net_close(net *n)
{
    if (n->fd >= 0)
        close(n->fd);
    n->fd = -1;
    n->connecting = 0;
    if (n->res != NULL)
        freeaddrinfo(n->res);
    n->res = n->next = NULL;
}
