/* The known_hosts file of chatc. See known_hosts.h. */
#include "known_hosts.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "fileutil.h"


static int host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == ':' || c == '_' || c == '%' || c == '-';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

int kh_hostport(char *out, size_t outlen, const char *host, unsigned port)
{
    if (out == NULL || outlen == 0 || host == NULL)
        return KH_E_INVAL;
    out[0] = '\0';
    size_t n = strlen(host);
    if (n == 0 || n > 255 || port == 0 || port > 65535)
        return KH_E_INVAL;
    char h[256];
    for (size_t i = 0; i < n; i++) {
        if (!host_char(host[i]))
            return KH_E_INVAL;
        h[i] = lower(host[i]);
    }
    h[n] = '\0';
    int w = snprintf(out, outlen, "[%s]:%u", h, port);
    if (w < 0 || (size_t)w >= outlen) {
        out[0] = '\0';
        return KH_E_INVAL;
    }
    return KH_OK;
}

/* Check that f[0..n) is "[host]:port" and copy it, lower-cased, to out
 * (capacity KH_HOSTPORT_MAX + 1). 1 if valid, else 0 (out = ""). */
static int parse_hostport(const char *f, size_t n, char *out)
{
    out[0] = '\0';
    if (n < 4 || n > KH_HOSTPORT_MAX || f[0] != '[')
        return 0;
    const char *close = memchr(f, ']', n);
    if (close == NULL)
        return 0;
    size_t hlen = (size_t)(close - f) - 1;
    if (hlen == 0 || hlen > 255)
        return 0;
    for (size_t i = 1; i <= hlen; i++)
        if (!host_char(f[i]))
            return 0;
    size_t rest = n - hlen - 2; /* after ']' */
    const char *p = close + 1;
    if (rest < 2 || p[0] != ':' || rest > 6)
        return 0;
    unsigned port = 0;
    for (size_t i = 1; i < rest; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        port = port * 10 + (unsigned)(p[i] - '0');
    }
    if (port == 0 || port > 65535 || p[1] == '0')
        return 0;
    for (size_t i = 0; i < n; i++)
        out[i] = lower(f[i]);
    out[n] = '\0';
    return 1;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

int kh_parse_line(const char *line, size_t len, char *host_out, uint8_t key[KH_KEY_LEN])
{
    host_out[0] = '\0';
    while (len > 0 && (is_blank(line[len - 1]) || line[len - 1] == '\r'))
        len--;
    size_t i = 0;
    while (i < len && is_blank(line[i]))
        i++;
    if (i == len || line[i] == '#')
        return 0;

    /* Up to three fields; anything after the third is a comment. */
    const char *f[3] = {NULL, NULL, NULL};
    size_t fl[3] = {0, 0, 0};
    int nf = 0;
    while (i < len && nf < 3) {
        size_t s = i;
        while (i < len && !is_blank(line[i]))
            i++;
        f[nf] = line + s;
        fl[nf] = i - s;
        nf++;
        while (i < len && is_blank(line[i]))
            i++;
    }
    if (!parse_hostport(f[0], fl[0], host_out))
        return -1;
    if (nf < 3 || fl[1] != 6 || strncmp(f[1], "x25519", 6) != 0)
        return -1;
    size_t bin_len = 0;
    uint8_t bin[KH_KEY_LEN + 3];
    int ok = 0;
    static const int variants[2] = {sodium_base64_VARIANT_ORIGINAL,
                                    sodium_base64_VARIANT_ORIGINAL_NO_PADDING};
    for (int v = 0; v < 2 && !ok; v++) {
        if (sodium_base642bin(bin, sizeof bin, f[2], fl[2], NULL, &bin_len, NULL, variants[v]) ==
                0 &&
            bin_len == KH_KEY_LEN)
            ok = 1;
    }
    if (!ok)
        return -1;
    memcpy(key, bin, KH_KEY_LEN);
    return 1;
}

void kh_check_text(const char *text, size_t len, const char *hostport,
                   const uint8_t key[KH_KEY_LEN], kh_result *r)
{
    memset(r, 0, sizeof *r);
    r->status = KH_UNKNOWN;
    unsigned lineno = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl != NULL ? (size_t)(nl - text) : len;
        lineno++;
        char host[KH_HOSTPORT_MAX + 1];
        uint8_t k[KH_KEY_LEN];
        int rc = kh_parse_line(text + pos, end - pos, host, k);
        int ours = host[0] != '\0' && strcmp(host, hostport) == 0;
        if (rc < 0) {
            if (ours) {
                /* A broken pin for this very host: refuse rather than guess.
                 * It outranks any other line. */
                r->status = KH_MALFORMED;
                r->line = lineno;
                sodium_memzero(r->pinned, sizeof r->pinned);
                return;
            }
            if (r->bad_lines++ == 0)
                r->first_bad_line = lineno;
        } else if (rc > 0 && ours) {
            if (sodium_memcmp(k, key, KH_KEY_LEN) == 0) {
                if (r->status != KH_MATCH) {
                    r->status = KH_MATCH;
                    r->line = lineno;
                }
            } else if (r->status == KH_UNKNOWN) {
                r->status = KH_CHANGED;
                r->line = lineno;
                memcpy(r->pinned, k, KH_KEY_LEN);
            }
        }
        pos = end + 1;
    }
}

int kh_format_line(char *out, size_t outlen, const char *hostport, const uint8_t key[KH_KEY_LEN])
{
    char b64[sodium_base64_ENCODED_LEN(KH_KEY_LEN, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof b64, key, KH_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
    int w = snprintf(out, outlen, "%s x25519 %s", hostport, b64);
    if (w < 0 || (size_t)w >= outlen) {
        if (outlen > 0)
            out[0] = '\0';
        return KH_E_INVAL;
    }
    return KH_OK;
}

/* Read the file (NULL text and len 0 if it does not exist). */
static int read_kh(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    *text = NULL;
    *len = 0;
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            return KH_OK;
        return fu_fail(err, errlen, KH_E_IO, "cannot read %s: %s", path, strerror(errno));
    }
    if ((st.st_mode & 022) != 0)
        return fu_fail(err, errlen, KH_E_PERM,
                    "%s is writable by group or others (mode %04o): anyone who can write it "
                    "can replace a pinned key; fix it with: chmod 600 %s",
                    path, (unsigned)(st.st_mode & 07777), path);
    int rc = fu_read_file_alloc(path, KH_FILE_MAX, text, len, 0, err, errlen);
    if (rc == FU_E_NOENT)
        return KH_OK;
    if (rc == FU_E_TOOBIG)
        return KH_E_TOOBIG;
    if (rc == FU_E_NOMEM)
        return KH_E_NOMEM;
    return rc == FU_OK ? KH_OK : KH_E_IO;
}

int kh_check_file(const char *path, const char *hostport, const uint8_t key[KH_KEY_LEN],
                  kh_result *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    char *text;
    size_t len;
    int rc = read_kh(path, &text, &len, err, errlen);
    if (rc != KH_OK)
        return rc;
    kh_check_text(text != NULL ? text : "", len, hostport, key, r);
    if (text != NULL)
        fu_free_wipe(text, len + 1);
    return KH_OK;
}

int kh_add(const char *path, const char *hostport, const uint8_t key[KH_KEY_LEN], unsigned *line,
           char *err, size_t errlen)
{
    char entry[KH_LINE_MAX + 1];
    if (kh_format_line(entry, sizeof entry, hostport, key) != KH_OK)
        return fu_fail(err, errlen, KH_E_INVAL, "invalid host %s", hostport);
    char *text;
    size_t len;
    int rc = read_kh(path, &text, &len, err, errlen);
    if (rc != KH_OK)
        return rc;
    size_t elen = strlen(entry);
    int need_nl = len > 0 && text[len - 1] != '\n';
    size_t total = len + (size_t)need_nl + elen + 1;
    char *buf = malloc(total);
    if (buf == NULL) {
        if (text != NULL)
            fu_free_wipe(text, len + 1);
        return fu_fail(err, errlen, KH_E_NOMEM, "out of memory");
    }
    unsigned lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    if (len > 0)
        memcpy(buf, text, len);
    if (need_nl) {
        buf[len] = '\n';
        lines++;
    }
    memcpy(buf + len + (size_t)need_nl, entry, elen);
    buf[total - 1] = '\n';
    if (text != NULL)
        fu_free_wipe(text, len + 1);
    rc = fu_write_atomic(path, buf, total, 0600, err, errlen);
    free(buf);
    if (rc != FU_OK)
        return KH_E_IO;
    if (line != NULL)
        *line = lines + 1;
    return KH_OK;
}
