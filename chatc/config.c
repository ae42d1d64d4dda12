/* chatc's configuration file. See config.h. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/codec.h"

void config_defaults(chatc_config *c)
{
    memset(c, 0, sizeof *c);
    c->bell = 1;
    c->trust = TRUST_ASK;
    c->colours = 1;
    strcpy(c->timestamps, "%H:%M");
    c->nicklist = 1;
    c->history_size = 1000;
    c->scrollback = 2000;
    c->reconnect = 1;
    c->paste_lines = 2;
}

int config_trust(const char *s, trust_mode *out)
{
    if (strcmp(s, "ask") == 0)
        *out = TRUST_ASK;
    else if (strcmp(s, "accept-new") == 0)
        *out = TRUST_ACCEPT_NEW;
    else if (strcmp(s, "strict") == 0)
        *out = TRUST_STRICT;
    else
        return -1;
    return 0;
}

const char *config_trust_name(trust_mode t)
{
    return t == TRUST_ASK ? "ask" : t == TRUST_ACCEPT_NEW ? "accept-new" : "strict";
}

static int parse_bool(const char *v, int *out)
{
    if (strcmp(v, "on") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 ||
        strcmp(v, "1") == 0)
        *out = 1;
    else if (strcmp(v, "off") == 0 || strcmp(v, "no") == 0 || strcmp(v, "false") == 0 ||
             strcmp(v, "0") == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

static int parse_uint(const char *v, unsigned long max, unsigned long *out)
{
    if (v[0] < '0' || v[0] > '9')
        return -1;
    char *end;
    unsigned long x = strtoul(v, &end, 10);
    if (*end != '\0' || x > max)
        return -1;
    *out = x;
    return 0;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

int config_parse(chatc_config *c, const char *text, size_t len, char *err, size_t errlen)
{
    unsigned lineno = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl != NULL ? (size_t)(nl - text) : len;
        lineno++;
        char line[512];
        size_t ll = end - pos;
        pos = end + 1;
        if (ll >= sizeof line) {
            snprintf(err, errlen, "line %u: too long", lineno);
            return -1;
        }
        memcpy(line, text + end - ll, ll);
        line[ll] = '\0';
        char *s = line;
        while (is_blank(*s))
            s++;
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "line %u: expected key = value", lineno);
            return -1;
        }
        char *k = s, *ke = eq;
        while (ke > k && is_blank(ke[-1]))
            ke--;
        *ke = '\0';
        char *v = eq + 1;
        while (is_blank(*v))
            v++;
        char *ve = v + strlen(v);
        while (ve > v && is_blank(ve[-1]))
            ve--;
        *ve = '\0';
        /* Optional quotes around a value (for a timestamp format with a
         * trailing space). */
        size_t vl = strlen(v);
        if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
            v[vl - 1] = '\0';
            v++;
        }

        unsigned long u;
        int bad = 0;
        if (strcmp(k, "bell") == 0) {
            bad = parse_bool(v, &c->bell);
        } else if (strcmp(k, "colours") == 0 || strcmp(k, "colors") == 0) {
            bad = parse_bool(v, &c->colours);
        } else if (strcmp(k, "nicklist") == 0) {
            bad = parse_bool(v, &c->nicklist);
        } else if (strcmp(k, "reconnect") == 0) {
            bad = parse_bool(v, &c->reconnect);
        } else if (strcmp(k, "trust") == 0) {
            bad = config_trust(v, &c->trust);
            c->trust_set = !bad;
        } else if (strcmp(k, "timestamps") == 0) {
            if (strcmp(v, "off") == 0)
                c->timestamps[0] = '\0';
            else if (strlen(v) >= sizeof c->timestamps || strchr(v, '%') == NULL)
                bad = 1;
            else
                strcpy(c->timestamps, v);
        } else if (strcmp(k, "history_size") == 0) {
            bad = parse_uint(v, 100000, &u) || u == 0;
            if (!bad)
                c->history_size = (unsigned)u;
        } else if (strcmp(k, "scrollback") == 0) {
            bad = parse_uint(v, 1000000, &u) || u < 10;
            if (!bad)
                c->scrollback = (unsigned)u;
        } else if (strcmp(k, "paste_lines") == 0) {
            bad = parse_uint(v, 100000, &u);
            if (!bad)
                c->paste_lines = (unsigned)u;
        } else if (strcmp(k, "user") == 0) {
            bad = !chat_valid_name((const uint8_t *)v, strlen(v));
            if (!bad)
                chat_name_fold(c->user, (const uint8_t *)v, strlen(v));
        } else if (strcmp(k, "kdf_opslimit") == 0) {
            bad = parse_uint(v, 0xFFFFFFFFul, &u);
            if (!bad)
                c->kdf_opslimit = (uint32_t)u;
        } else if (strcmp(k, "kdf_memlimit_kib") == 0) {
            bad = parse_uint(v, 0xFFFFFFFFul, &u);
            if (!bad)
                c->kdf_memlimit_kib = (uint32_t)u;
        } else {
            snprintf(err, errlen, "line %u: unknown key '%.40s'", lineno, k);
            return -1;
        }
        if (bad) {
            snprintf(err, errlen, "line %u: invalid value '%.60s' for %s", lineno, v, k);
            return -1;
        }
    }
    return 0;
}
