/* chatc's socket: name resolution and a non-blocking TCP connection that
 * tries each address in turn. The only socket code of chatc; session.c
 * moves bytes between it and the libchat client. */
#ifndef CHATC_NET_H
#define CHATC_NET_H

#include <stddef.h>
#include <sys/types.h>

typedef struct net {
    int fd;           /* -1 when none */
    int connecting;   /* a connect is in progress on fd */
    void *res, *next; /* struct addrinfo list and the next address to try */
    char peer[80];    /* the address being tried or connected, printable */
} net;

void net_init(net *n);
/* Resolve host:port (blocking getaddrinfo) and start connecting to the
 * first address that accepts a connect. 0, or -1 with a message in err. */
int net_start(net *n, const char *host, unsigned port, char *err, size_t errlen);
/* The socket became writable while connecting: 1 connected, 0 still
 * connecting (to another address: this one failed), -1 every address
 * failed (message in err). */
int net_connect_done(net *n, char *err, size_t errlen);
/* Read up to cap bytes: > 0 read, 0 end of stream, -1 nothing now,
 * -2 error (the stream is gone). */
ssize_t net_read(net *n, void *buf, size_t cap);
/* Write: >= 0 written, -1 nothing now (would block), -2 error. */
ssize_t net_write(net *n, const void *buf, size_t len);
/* No more output (FIN), reading still possible. */
void net_shutdown_write(net *n);
void net_close(net *n);

#endif
