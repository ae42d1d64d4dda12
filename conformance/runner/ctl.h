/* The shim protocol's control lines (docs/SHIM.md), for both ends: the
 * runner's shim adapter and the project's own shim. A line is words
 * separated by single spaces, ending in "\n"; after the first word (the
 * verb) come KEY=VALUE words and bare flags. Byte strings are lower-case
 * hex, numbers decimal. */
#ifndef CF_CTL_H
#define CF_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "util.h"

#define CF_CTL_MAX_LINE (1u << 20) /* bytes in one control line */
#define CF_CTL_MAX_WORDS 32

/* Exit status of a shim that does not implement what it was asked. */
#define CF_SHIM_UNIMPLEMENTED 89

/* A line split into words (pointers into an owned copy). */
typedef struct cf_ctl {
    char *copy;
    size_t len;
    const char *w[CF_CTL_MAX_WORDS];
    size_t n;
} cf_ctl;

/* Split line (NUL-terminated, no "\n"). 0, or -1 when it has too many
 * words or empty ones. */
int cf_ctl_split(cf_ctl *c, const char *line);
void cf_ctl_free(cf_ctl *c);
/* The verb (first word), or "". */
const char *cf_ctl_verb(const cf_ctl *c);
/* The value of KEY=VALUE, or NULL. */
const char *cf_ctl_get(const cf_ctl *c, const char *key);
/* 1 if the bare word is present. */
int cf_ctl_flag(const cf_ctl *c, const char *word);
/* KEY as a decimal number: 0, or -1 when missing or malformed. */
int cf_ctl_u64(const cf_ctl *c, const char *key, uint64_t *out);
/* KEY as hex bytes appended to out: 0, or -1 when missing or malformed. */
int cf_ctl_hex(const cf_ctl *c, const char *key, cf_buf *out);
/* Append " KEY=HEX" to a line being built. */
void cf_ctl_put_hex(cf_buf *line, const char *key, const uint8_t *p, size_t n);

/* Reading lines from a descriptor, with a timeout. */
typedef struct cf_lines {
    int fd;
    cf_buf in;
    size_t used; /* the line handed out last, dropped on the next call */
    int eof;
} cf_lines;

/* The next line (NUL-terminated, without "\n", valid until the next call)
 * in *line: 1; 0 when none came within timeout_ms (-1: wait forever); -1 at
 * end of input, on an error or on a line over CF_CTL_MAX_LINE. */
int cf_lines_next(cf_lines *l, char **line, int timeout_ms);
void cf_lines_free(cf_lines *l);

/* Write or read exactly n bytes on a descriptor within timeout_ms (-1:
 * forever; non-blocking descriptors are waited on with poll). 0 or -1. */
int cf_fd_write(int fd, const void *p, size_t n, int timeout_ms);
int cf_fd_read(int fd, void *p, size_t n, int timeout_ms);

/* A client event as a control line ("event ..." without "\n"), and back
 * from a split line (ev owns its buffers after; cf_event_free). */
void cf_event_to_ctl(const cf_event *ev, cf_buf *line);
int cf_event_from_ctl(const cf_ctl *c, cf_event *ev);

/* role=user|admin: 0 and *out (a chat_role), or -1. */
int cf_ctl_role(const cf_ctl *c, const char *key, uint8_t *out);
#endif
