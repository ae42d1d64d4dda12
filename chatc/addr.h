/* The destination argument of chatc: [user@]host[:port], with an IPv6
 * address in brackets when a port follows ([::1]:7447). Pure. */
#ifndef CHATC_ADDR_H
#define CHATC_ADDR_H

#include <stddef.h>

#define CHATC_DEFAULT_PORT 7447

typedef struct chatc_addr {
    char user[33];  /* folded, "" if not given */
    char host[256]; /* without brackets */
    unsigned port;  /* 0 if not given */
} chatc_addr;

/* 0, or -1 with a reason in err. The user part must be a valid user name
 * (folded here); the host may hold only [A-Za-z0-9.:_%-]; the port is
 * 1..65535. A bare IPv6 address (two or more ':', no brackets) has no
 * port. */
int addr_parse(const char *s, chatc_addr *out, char *err, size_t errlen);

#endif
