/* chatd's log: one line per event on stderr.
 *
 *   2025-06-01T12:34:56.789Z info conn=3 peer=127.0.0.1:50412 login user=alice role=admin
 *
 * Fields: wall time in UTC (ISO 8601, milliseconds), level, connection id
 * ("-" when none), peer address ("-" when none), then the event and its
 * key=value details. Each line is written with one write(2), so lines from
 * chatd and its subcommands never interleave. Bytes outside printable
 * ASCII are written as \xNN, so nothing in a line can drive a terminal.
 * Callers never log message text, passwords or keys. */
#ifndef CHATD_LOG_H
#define CHATD_LOG_H

#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define CHATD_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CHATD_PRINTF(a, b)
#endif

typedef enum chatd_log_level {
    CHATD_LOG_ERROR = 0,
    CHATD_LOG_WARN = 1,
    CHATD_LOG_INFO = 2,
    CHATD_LOG_DEBUG = 3
} chatd_log_level;

/* Lines above this level are dropped. Default: info. */
void chatd_log_set_level(chatd_log_level level);
chatd_log_level chatd_log_get_level(void);
/* 1 if a line of this level would be written. */
int chatd_log_enabled(chatd_log_level level);

/* "error", "warn", "info", "debug" -> level; 0 or -1 if unknown. */
int chatd_log_level_parse(const char *s, chatd_log_level *out);
const char *chatd_log_level_name(chatd_log_level level);

/* One event. conn 0 and peer NULL print as "-". */
void chatd_log(chatd_log_level level, uint64_t conn, const char *peer, const char *fmt, ...)
    CHATD_PRINTF(4, 5);

/* Shorthands for events without a connection. */
#define log_error(...) chatd_log(CHATD_LOG_ERROR, 0, NULL, __VA_ARGS__)
#define log_warn(...) chatd_log(CHATD_LOG_WARN, 0, NULL, __VA_ARGS__)
#define log_info(...) chatd_log(CHATD_LOG_INFO, 0, NULL, __VA_ARGS__)
#define log_debug(...) chatd_log(CHATD_LOG_DEBUG, 0, NULL, __VA_ARGS__)

#endif
