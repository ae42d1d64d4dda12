/* The destination argument. See addr.h. */
#include "addr.h"

#include <stdio.h>
#include <string.h>

#include "chat/codec.h"

static int host_ok(const char *h, size_t n)
{
    if (n == 0 || n > 255)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == ':' || c == '_' || c == '%' || c == '-'))
            return 0;
    }
    return 1;
}

static int parse_port(const char *p, unsigned *out)
{
    unsigned v = 0;
    size_t n = strlen(p);
    if (n == 0 || n > 5 || p[0] == '0')
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *out = v;
    return 0;
}

int addr_parse(const char *s, chatc_addr *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    const char *at = strchr(s, '@');
    if (at != NULL) {
        size_t ul = (size_t)(at - s);
        if (!chat_valid_name((const uint8_t *)s, ul)) {
            snprintf(err, errlen,
                     "invalid user name '%.*s' (1 to 32 of a-z 0-9 . _ -, starting with a letter)",
                     (int)(ul > 40 ? 40 : ul), s);
            return -1;
        }
        chat_name_fold(a->user, (const uint8_t *)s, ul);
        s = at + 1;
    }
    const char *port = NULL;
    size_t hl;
    const char *h = s;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL) {
            snprintf(err, errlen, "missing ']' after an IPv6 address");
            return -1;
        }
        h = s + 1;
        hl = (size_t)(close - h);
        if (close[1] == ':')
            port = close + 2;
        else if (close[1] != '\0') {
            snprintf(err, errlen, "unexpected text after ']'");
            return -1;
        }
    } else {
        const char *c1 = strchr(s, ':');
        if (c1 != NULL && strchr(c1 + 1, ':') == NULL) {
            hl = (size_t)(c1 - s);
            port = c1 + 1;
        } else {
            hl = strlen(s); /* no port, or a bare IPv6 address */
        }
    }
    if (!host_ok(h, hl)) {
        snprintf(err, errlen, "invalid host name '%.*s'", (int)(hl > 60 ? 60 : hl), h);
        return -1;
    }
    memcpy(a->host, h, hl);
    a->host[hl] = '\0';
    if (port != NULL && parse_port(port, &a->port) != 0) {
        snprintf(err, errlen, "invalid port '%.10s' (1 to 65535)", port);
        return -1;
    }
    return 0;
}
