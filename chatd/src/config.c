/* chatd's configuration (see config.h and chatd.conf(5)). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static int fail(char *err, size_t errlen, const char *fmt, ...) CHATD_PRINTF(3, 4);
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        (void)vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return CHATD_CFG_E_INVAL;
}

int chatd_overrides_add(chatd_overrides *o, const char *key, const char *value)
{
    if (o->n == CHATD_OVERRIDES_MAX)
        return -1;
    o->v[o->n].key = key;
    o->v[o->n].value = value;
    o->n++;
    return 0;
}

/* ---------------------------------------------------------------------
 * Value parsers
 * ------------------------------------------------------------------- */

/* Decimal digits, then an optional unit from units (NULL-terminated
 * name/multiplier pairs; "" for no unit). */
typedef struct unit {
    const char *name;
    uint64_t mult;
} unit;

static int parse_number(const char *s, const unit *units, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    for (const unit *u = units; u->name != NULL; u++) {
        if (strcmp(p, u->name) == 0) {
            if (u->mult != 0 && v > UINT64_MAX / u->mult)
                return -1;
            *out = v * u->mult;
            return 0;
        }
    }
    return -1;
}

static const unit plain_units[] = {{"", 1}, {NULL, 0}};
static const unit time_units[] = {{"", 1000},   {"s", 1000},      {"ms", 1},
                                  {"m", 60000}, {"h", 3600000}, {NULL, 0}};
static const unit size_units[] = {{"", 1},
                                  {"K", 1024},
                                  {"k", 1024},
                                  {"KiB", 1024},
                                  {"M", 1024 * 1024},
                                  {"MiB", 1024 * 1024},
                                  {"G", 1024 * 1024 * 1024},
                                  {"GiB", 1024 * 1024 * 1024},
                                  {NULL, 0}};

/* ---------------------------------------------------------------------
 * The key table
 * ------------------------------------------------------------------- */

typedef enum ktype { K_UINT, K_MS, K_SIZE, K_PATH, K_LEVEL, K_LISTEN, K_ROOMS, K_MOTD } ktype;

typedef struct key_def {
    const char *name;
    ktype type;
    size_t off;
    uint64_t min, max;
    int reload; /* takes effect on SIGHUP */
} key_def;

#define OFF(f) offsetof(chatd_config, f)
static const key_def keys[] = {
    {"listen", K_LISTEN, OFF(listen), 0, 0, 0},
    {"port", K_UINT, OFF(port), 0, 65535, 0},
    {"state_dir", K_PATH, OFF(state_dir), 0, 0, 0},
    {"key_file", K_PATH, OFF(key_file), 0, 0, 0},
    {"log_level", K_LEVEL, OFF(log_level), 0, 0, 1},
    {"max_connections", K_UINT, OFF(max_connections), 1, 1000000, 1},
    {"max_connections_per_address", K_UINT, OFF(max_per_address), 1, 1000000, 1},
    {"drain_timeout", K_MS, OFF(drain_timeout_ms), 1, 3600000, 1},
    {"login_timeout", K_MS, OFF(login_timeout_ms), 1, 3600000, 0},
    {"idle_timeout", K_MS, OFF(idle_timeout_ms), 1, 86400000, 0},
    {"output_queue_max", K_SIZE, OFF(out_max), 16384, (uint64_t)1 << 30, 0},
    {"history_length", K_UINT, OFF(history_len), 1, 100000, 0},
    {"max_rooms", K_UINT, OFF(max_rooms), 1, 1000000, 0},
    {"max_rooms_per_user", K_UINT, OFF(max_rooms_per_user), 1, 65535, 0},
    {"login_attempts", K_UINT, OFF(login_attempts), 1, 255, 0},
    {"login_failures_per_user", K_UINT, OFF(user_fail_limit), 1, 1000000, 0},
    {"login_failures_per_address", K_UINT, OFF(addr_fail_limit), 1, 1000000, 0},
    {"login_failure_window", K_MS, OFF(fail_window_ms), 1000, 86400000, 0},
    {"min_opslimit", K_UINT, OFF(min_opslimit), CHAT_OPSLIMIT_MIN, CHAT_OPSLIMIT_CLIENT_MAX, 0},
    {"min_memlimit_kib", K_UINT, OFF(min_memlimit_kib), CHAT_MEMLIMIT_KIB_MIN,
     CHAT_MEMLIMIT_KIB_CLIENT_MAX, 0},
    {"default_rooms", K_ROOMS, OFF(rooms), 0, 0, 0},
    {"motd", K_MOTD, OFF(motd), 0, 0, 1},
    {"motd_file", K_PATH, OFF(motd_file), 0, 0, 1},
};
#define NKEYS (sizeof keys / sizeof keys[0])

static const key_def *find_key(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

int chatd_config_known_key(const char *key)
{
    return find_key(key) != NULL;
}

static void defaults(chatd_config *c)
{
    memset(c, 0, sizeof *c);
    c->port = CHATD_DEFAULT_PORT;
    c->log_level = CHATD_LOG_INFO;
    c->max_connections = 1024;
    c->max_per_address = 16;
    c->drain_timeout_ms = 10000;
    c->login_timeout_ms = 30000;
    c->idle_timeout_ms = 300000;
    c->out_max = 1024 * 1024;
    c->history_len = 50;
    c->max_rooms = 1024;
    c->max_rooms_per_user = 64;
    c->login_attempts = 3;
    c->user_fail_limit = 10;
    c->addr_fail_limit = 30;
    c->fail_window_ms = 300000;
    c->min_opslimit = CHAT_OPSLIMIT_DEFAULT;
    c->min_memlimit_kib = CHAT_MEMLIMIT_KIB_DEFAULT;
    memcpy(c->rooms[0], "#lobby", sizeof "#lobby");
    c->nrooms = 1;
}

/* ---------------------------------------------------------------------
 * Listen addresses
 * ------------------------------------------------------------------- */

static int parse_port(const char *s, uint32_t *port)
{
    uint64_t v;
    if (parse_number(s, plain_units, &v) != 0 || v > 65535)
        return -1;
    *port = (uint32_t)v;
    return 0;
}

int chatd_parse_listen(const char *s, uint32_t port, struct sockaddr_storage *ss,
                       socklen_t *sslen, int *any)
{
    char host[CHATD_LISTEN_LEN];
    const char *portstr = NULL;
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof host)
        return -1;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL)
            return -1;
        size_t hl = (size_t)(close - s - 1);
        memcpy(host, s + 1, hl);
        host[hl] = '\0';
        if (close[1] == ':')
            portstr = close + 2;
        else if (close[1] != '\0')
            return -1;
    } else {
        const char *colon = strchr(s, ':');
        if (colon != NULL && strchr(colon + 1, ':') == NULL) {
            /* exactly one colon: host:port */
            size_t hl = (size_t)(colon - s);
            memcpy(host, s, hl);
            host[hl] = '\0';
            portstr = colon + 1;
        } else {
            memcpy(host, s, n + 1); /* no colon, or a bare IPv6 address */
        }
    }
    uint32_t p = port;
    if (portstr != NULL && parse_port(portstr, &p) != 0)
        return -1;
    memset(ss, 0, sizeof *ss);
    *any = 0;
    if (strcmp(host, "*") == 0) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_addr = in6addr_any;
        a6->sin6_port = htons((uint16_t)p);
        *sslen = sizeof *a6;
        *any = 1;
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)p);
        *sslen = sizeof *a4;
        return 0;
    }
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)p);
        *sslen = sizeof *a6;
        return 0;
    }
    return -1;
}

/* ---------------------------------------------------------------------
 * Setting one key
 * ------------------------------------------------------------------- */

static int set_path(char *dst, const char *key, const char *value, const char *base_dir,
                    char *err, size_t errlen)
{
    int n;
    if (value[0] == '\0' || value[0] == '/' || base_dir == NULL || base_dir[0] == '\0')
        n = snprintf(dst, FU_PATH_MAX, "%s", value);
    else
        n = snprintf(dst, FU_PATH_MAX, "%s/%s", base_dir, value);
    if (n < 0 || n >= FU_PATH_MAX)
        return fail(err, errlen, "%s: path too long", key);
    return 0;
}

static int set_rooms(chatd_config *c, const char *value, char *err, size_t errlen)
{
    c->nrooms = 0;
    const char *p = value;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            return 0;
        size_t n = strcspn(p, " \t,");
        if (!chat_valid_room((const uint8_t *)p, n))
            return fail(err, errlen,
                        "default_rooms: \"%.*s\" is not a room name ('#' then 1 to 32 of "
                        "a-z 0-9 . _ -, starting with a letter)",
                        (int)(n > 40 ? 40 : n), p);
        if (c->nrooms == CHATD_ROOMS_MAX)
            return fail(err, errlen, "default_rooms: at most %d rooms", CHATD_ROOMS_MAX);
        char folded[CHAT_ROOM_MAX + 1];
        chat_name_fold(folded, (const uint8_t *)p, n);
        int dup = 0;
        for (size_t i = 0; i < c->nrooms; i++)
            dup |= strcmp(c->rooms[i], folded) == 0;
        if (!dup)
            memcpy(c->rooms[c->nrooms++], folded, n + 1);
        p += n;
    }
}

int chatd_config_set(chatd_config *c, const char *key, const char *value, const char *base_dir,
                     char *err, size_t errlen)
{
    const key_def *k = find_key(key);
    if (k == NULL)
        return fail(err, errlen, "unknown setting \"%.64s\"", key);
    char *field = (char *)c + k->off;
    uint64_t v = 0;
    switch (k->type) {
    case K_UINT:
    case K_MS:
    case K_SIZE: {
        const unit *u = k->type == K_UINT ? plain_units : k->type == K_MS ? time_units : size_units;
        if (parse_number(value, u, &v) != 0)
            return fail(err, errlen, "%s: \"%.64s\" is not a %s", key, value,
                        k->type == K_UINT ? "whole number"
                        : k->type == K_MS ? "duration (e.g. 30, 30s, 500ms, 5m)"
                                          : "size (e.g. 1048576, 64K, 1M)");
        if (v < k->min || v > k->max) {
            if (k->type == K_MS)
                return fail(err, errlen, "%s: %.64s is out of range (%llums to %llums)", key,
                            value, (unsigned long long)k->min, (unsigned long long)k->max);
            return fail(err, errlen, "%s: %.64s is out of range (%llu to %llu)", key, value,
                        (unsigned long long)k->min, (unsigned long long)k->max);
        }
        if (k->type == K_SIZE)
            memcpy(field, &v, sizeof(uint64_t));
        else {
            uint32_t w = (uint32_t)v;
            memcpy(field, &w, sizeof w);
        }
        return 0;
    }
    case K_PATH:
        return set_path(field, key, value, base_dir, err, errlen);
    case K_LEVEL: {
        chatd_log_level l;
        if (chatd_log_level_parse(value, &l) != 0)
            return fail(err, errlen, "%s: \"%.64s\" is not one of error, warn, info, debug", key,
                        value);
        c->log_level = (uint32_t)l;
        return 0;
    }
    case K_LISTEN: {
        struct sockaddr_storage ss;
        socklen_t sl;
        int any;
        if (chatd_parse_listen(value, 0, &ss, &sl, &any) != 0)
            return fail(err, errlen,
                        "listen: \"%.64s\" is not an address (e.g. *, 0.0.0.0, ::, 127.0.0.1:7447, "
                        "[::1]:7447)",
                        value);
        if (c->nlisten == CHATD_LISTEN_MAX)
            return fail(err, errlen, "listen: at most %d addresses", CHATD_LISTEN_MAX);
        memcpy(c->listen[c->nlisten++], value, strlen(value) + 1);
        return 0;
    }
    case K_ROOMS:
        return set_rooms(c, value, err, errlen);
    case K_MOTD: {
        size_t n = strlen(value);
        if (n > CHAT_MOTD_MAX)
            return fail(err, errlen, "motd: longer than %d bytes", CHAT_MOTD_MAX);
        if (!chat_valid_text((const uint8_t *)value, n, 1))
            return fail(err, errlen, "motd: not valid UTF-8 text (control characters are not "
                                     "allowed, except line breaks written \\n)");
        memcpy(c->motd, value, n + 1);
        return 0;
    }
    }
    return fail(err, errlen, "%s: cannot be set", key);
}

/* ---------------------------------------------------------------------
 * The file
 * ------------------------------------------------------------------- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* Unquote a "..." value in place. 0 or -1. */
static int unquote(char *s, char *why, size_t whylen)
{
    if (s[0] != '"')
        return 0;
    char *w = s;
    const char *r = s + 1;
    for (;;) {
        if (*r == '\0') {
            (void)snprintf(why, whylen, "missing closing quote");
            return -1;
        }
        if (*r == '"')
            break;
        if (*r == '\\') {
            r++;
            if (*r == 'n')
                *w++ = '\n';
            else if (*r == '\\' || *r == '"')
                *w++ = *r;
            else {
                (void)snprintf(why, whylen, "unknown escape \\%c (use \\n, \\\\ or \\\")",
                               *r != '\0' ? *r : '?');
                return -1;
            }
            r++;
            continue;
        }
        *w++ = *r++;
    }
    r++;
    if (*trim((char *)r) != '\0') {
        (void)snprintf(why, whylen, "text after the closing quote");
        return -1;
    }
    *w = '\0';
    return 0;
}

static int load_file(chatd_config *c, const char *path, int required, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    char ferr[512];
    int rc = fu_read_file_alloc(path, 1 << 20, &text, &len, 0, ferr, sizeof ferr);
    if (rc == FU_E_NOENT && !required)
        return CHATD_CFG_OK;
    if (rc != FU_OK) {
        (void)snprintf(err, errlen, "config file: %s", ferr);
        return rc == FU_E_NOENT ? CHATD_CFG_E_NOENT : CHATD_CFG_E_IO;
    }
    (void)snprintf(c->source, sizeof c->source, "%s", path);
    if (memchr(text, '\0', len) != NULL) {
        fu_free_wipe(text, len + 1);
        (void)snprintf(err, errlen, "%s: not a text file (it holds NUL bytes)", path);
        return CHATD_CFG_E_INVAL;
    }
    char base[FU_PATH_MAX];
    (void)snprintf(base, sizeof base, "%s", path);
    char *slash = strrchr(base, '/');
    if (slash == NULL)
        base[0] = '\0';
    else if (slash == base)
        base[1] = '\0';
    else
        *slash = '\0';

    int lineno = 0;
    int listen_seen = 0;
    char *save = NULL;
    rc = CHATD_CFG_OK;
    /* strtok_r would skip empty lines and so miscount: split by hand. */
    for (char *line = text; line != NULL && rc == CHATD_CFG_OK; line = save) {
        char *nl = strchr(line, '\n');
        save = nl != NULL ? nl + 1 : NULL;
        if (nl != NULL)
            *nl = '\0';
        lineno++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            (void)snprintf(err, errlen, "%s:%d: expected \"key = value\"", path, lineno);
            rc = CHATD_CFG_E_INVAL;
            break;
        }
        *eq = '\0';
        char *key = trim(s);
        char *value = trim(eq + 1);
        char why[256];
        if (unquote(value, why, sizeof why) != 0) {
            (void)snprintf(err, errlen, "%s:%d: %s: %s", path, lineno, key, why);
            rc = CHATD_CFG_E_INVAL;
            break;
        }
        if (strcmp(key, "listen") == 0 && !listen_seen) {
            c->nlisten = 0;
            listen_seen = 1;
        }
        char msg[512];
        if (chatd_config_set(c, key, value, base, msg, sizeof msg) != 0) {
            (void)snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
            rc = CHATD_CFG_E_INVAL;
        }
    }
    fu_free_wipe(text, len + 1);
    return rc;
}

static int resolve_motd(chatd_config *c, char *err, size_t errlen)
{
    if (c->motd_file[0] == '\0') {
        memcpy(c->motd_text, c->motd, sizeof c->motd_text);
        return CHATD_CFG_OK;
    }
    char *text = NULL;
    size_t len = 0;
    char ferr[512];
    int rc = fu_read_file_alloc(c->motd_file, CHAT_MOTD_MAX + 2, &text, &len, 0, ferr,
                                sizeof ferr);
    if (rc != FU_OK) {
        (void)snprintf(err, errlen, "motd_file: %s", ferr);
        return rc == FU_E_NOENT ? CHATD_CFG_E_NOENT
               : rc == FU_E_TOOBIG ? CHATD_CFG_E_INVAL
                                   : CHATD_CFG_E_IO;
    }
    /* One trailing line break is the file's, not the MOTD's. */
    if (len > 0 && text[len - 1] == '\n')
        len--;
    if (len > 0 && text[len - 1] == '\r')
        len--;
    rc = CHATD_CFG_OK;
    if (len > CHAT_MOTD_MAX)
        rc = fail(err, errlen, "motd_file: %s is longer than %d bytes", c->motd_file,
                  CHAT_MOTD_MAX);
    else if (!chat_valid_text((const uint8_t *)text, len, 1))
        rc = fail(err, errlen,
                  "motd_file: %s is not valid UTF-8 text without control characters", c->motd_file);
    else {
        memcpy(c->motd_text, text, len);
        c->motd_text[len] = '\0';
    }
    fu_free_wipe(text, len + 1);
    return rc;
}

int chatd_config_build(chatd_config *c, const char *path, int required,
                       const chatd_overrides *ov, char *err, size_t errlen)
{
    defaults(c);
    int rc;
    if (path != NULL && (rc = load_file(c, path, required, err, errlen)) != CHATD_CFG_OK)
        return rc;
    int listen_seen = 0;
    for (size_t i = 0; ov != NULL && i < ov->n; i++) {
        if (strcmp(ov->v[i].key, "listen") == 0 && !listen_seen) {
            c->nlisten = 0; /* flags replace the file's addresses */
            listen_seen = 1;
        }
        char msg[512];
        if (chatd_config_set(c, ov->v[i].key, ov->v[i].value, NULL, msg, sizeof msg) != 0) {
            (void)snprintf(err, errlen, "command line: %s", msg);
            return CHATD_CFG_E_INVAL;
        }
    }
    if (c->max_per_address > c->max_connections)
        c->max_per_address = c->max_connections;
    return resolve_motd(c, err, errlen);
}

/* ---------------------------------------------------------------------
 * Printing and comparing
 * ------------------------------------------------------------------- */

static void print_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s != '\0'; s++) {
        if (*s == '\n')
            fputs("\\n", out);
        else if (*s == '"' || *s == '\\')
            fprintf(out, "\\%c", *s);
        else
            fputc(*s, out);
    }
    fputc('"', out);
}

void chatd_config_print(const chatd_config *c, FILE *out)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const key_def *k = &keys[i];
        const char *field = (const char *)c + k->off;
        switch (k->type) {
        case K_UINT:
        case K_MS: {
            uint32_t v;
            memcpy(&v, field, sizeof v);
            if (k->type == K_MS && v % 1000 == 0)
                fprintf(out, "%s = %us\n", k->name, v / 1000);
            else
                fprintf(out, "%s = %u%s\n", k->name, v, k->type == K_MS ? "ms" : "");
            break;
        }
        case K_SIZE: {
            uint64_t v;
            memcpy(&v, field, sizeof v);
            fprintf(out, "%s = %llu\n", k->name, (unsigned long long)v);
            break;
        }
        case K_PATH:
            if (field[0] != '\0')
                fprintf(out, "%s = %s\n", k->name, field);
            else
                fprintf(out, "# %s = (default)\n", k->name);
            break;
        case K_LEVEL:
            fprintf(out, "%s = %s\n", k->name, chatd_log_level_name((chatd_log_level)c->log_level));
            break;
        case K_LISTEN:
            if (c->nlisten == 0)
                fprintf(out, "# listen = * (every address, IPv6 and IPv4)\n");
            for (size_t j = 0; j < c->nlisten; j++)
                fprintf(out, "listen = %s\n", c->listen[j]);
            break;
        case K_ROOMS:
            fprintf(out, "%s =", k->name);
            for (size_t j = 0; j < c->nrooms; j++)
                fprintf(out, " %s", c->rooms[j]);
            fputc('\n', out);
            break;
        case K_MOTD:
            fprintf(out, "%s = ", k->name);
            print_quoted(out, c->motd);
            fputc('\n', out);
            break;
        }
    }
}

void chatd_config_restart_diff(const chatd_config *a, const chatd_config *b, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < NKEYS; i++) {
        const key_def *k = &keys[i];
        if (k->reload)
            continue;
        int differs;
        switch (k->type) {
        case K_LISTEN:
            differs = a->nlisten != b->nlisten;
            for (size_t j = 0; !differs && j < a->nlisten; j++)
                differs = strcmp(a->listen[j], b->listen[j]) != 0;
            break;
        case K_ROOMS:
            differs = a->nrooms != b->nrooms;
            for (size_t j = 0; !differs && j < a->nrooms; j++)
                differs = strcmp(a->rooms[j], b->rooms[j]) != 0;
            break;
        case K_PATH:
            differs = strcmp((const char *)a + k->off, (const char *)b + k->off) != 0;
            break;
        case K_SIZE:
            differs = memcmp((const char *)a + k->off, (const char *)b + k->off,
                             sizeof(uint64_t)) != 0;
            break;
        default:
            differs = memcmp((const char *)a + k->off, (const char *)b + k->off,
                             sizeof(uint32_t)) != 0;
            break;
        }
        if (differs) {
            int n = snprintf(out + used, cap - used, "%s%s", used > 0 ? "," : "", k->name);
            if (n < 0 || (size_t)n >= cap - used)
                return;
            used += (size_t)n;
        }
    }
}
