/* chatd's event log (see log.h). */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static chatd_log_level g_level = CHATD_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void chatd_log_set_level(chatd_log_level level)
{
    g_level = level;
}

chatd_log_level chatd_log_get_level(void)
{
    return g_level;
}

int chatd_log_enabled(chatd_log_level level)
{
    return level <= g_level;
}

int chatd_log_level_parse(const char *s, chatd_log_level *out)
{
    for (int i = 0; i <= (int)CHATD_LOG_DEBUG; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (chatd_log_level)i;
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = CHATD_LOG_WARN;
        return 0;
    }
    return -1;
}

const char *chatd_log_level_name(chatd_log_level level)
{
    return (unsigned)level <= (unsigned)CHATD_LOG_DEBUG ? level_names[level] : "?";
}

/* Append src to out at *len, escaping bytes outside printable ASCII. */
static void put_escaped(char *out, size_t cap, size_t *len, const char *src)
{
    static const char hex[] = "0123456789abcdef";
    for (const unsigned char *p = (const unsigned char *)src; *p != '\0'; p++) {
        if (*p >= 0x20 && *p < 0x7f && *p != '\\') {
            if (*len + 1 >= cap)
                break;
            out[(*len)++] = (char)*p;
        } else {
            if (*len + 4 >= cap)
                break;
            out[(*len)++] = '\\';
            out[(*len)++] = 'x';
            out[(*len)++] = hex[*p >> 4];
            out[(*len)++] = hex[*p & 15];
        }
    }
    out[*len] = '\0';
}

void chatd_log(chatd_log_level level, uint64_t conn, const char *peer, const char *fmt, ...)
{
    if (!chatd_log_enabled(level))
        return;
    int saved = errno;
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);

    struct timespec ts;
    struct tm tm;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        memset(&ts, 0, sizeof ts);
    if (gmtime_r(&ts.tv_sec, &tm) == NULL)
        memset(&tm, 0, sizeof tm);

    char line[4096];
    size_t len = 0;
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (int)(ts.tv_nsec / 1000000), chatd_log_level_name(level));
    if (n > 0)
        len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    char head[64];
    if (conn != 0)
        (void)snprintf(head, sizeof head, "conn=%llu peer=", (unsigned long long)conn);
    else
        (void)snprintf(head, sizeof head, "conn=- peer=");
    put_escaped(line, sizeof line, &len, head);
    put_escaped(line, sizeof line, &len, peer != NULL && peer[0] != '\0' ? peer : "-");
    put_escaped(line, sizeof line, &len, " ");
    put_escaped(line, sizeof line, &len, text);
    if (len + 1 < sizeof line)
        line[len++] = '\n';
    else
        line[sizeof line - 1] = '\n';
    const char *p = line;
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        p += w;
        len -= (size_t)w;
    }
    errno = saved;
}
