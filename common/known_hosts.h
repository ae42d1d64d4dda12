/* chatc's pinned server keys: the known_hosts file.
 *
 * Format (modelled on OpenSSH's, documented in chatc(1)): one server per
 * line,
 *
 *     [host]:port x25519 BASE64KEY [comment]
 *
 * host is a lower-case DNS name or an IP address (an IPv6 address without
 * its own brackets), port the TCP port in decimal; the brackets are always
 * written, even for the default port. BASE64KEY is the standard base64
 * (padded or not) of the server's 32-byte X25519 public key. Fields are
 * separated by spaces or tabs; blank lines and lines starting with '#' are
 * ignored. Host names compare case-insensitively.
 *
 * Checking a key gives one of: unknown host (no line for it), match (some
 * line for it holds this key), changed (lines for it exist and none holds
 * this key), or malformed (a line that names this host is broken: refused
 * rather than guessed at). Malformed lines for other hosts are skipped and
 * counted.
 *
 * The parsing functions are pure; the file functions read with fileutil and
 * write atomically (temporary file, fsync, rename) with mode 0600. */
#ifndef CHAT_KNOWN_HOSTS_H
#define CHAT_KNOWN_HOSTS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KH_KEY_LEN 32
/* Longest "[host]:port" (host up to 255 bytes). */
#define KH_HOSTPORT_MAX (1 + 255 + 2 + 5)
/* Longest line written: hostport, " x25519 ", 44 base64 chars. */
#define KH_LINE_MAX (KH_HOSTPORT_MAX + 8 + 44 + 1)
/* Largest known_hosts file read. */
#define KH_FILE_MAX (4u * 1024 * 1024)

enum {
    KH_OK = 0,
    KH_E_IO = -1,    /* reading or writing the file failed */
    KH_E_INVAL = -2, /* bad host name or port */
    KH_E_PERM = -3,  /* the file is writable by group or others */
    KH_E_NOMEM = -4,
    KH_E_TOOBIG = -5 /* the file is over KH_FILE_MAX */
};

typedef enum kh_status {
    KH_UNKNOWN = 0, /* no line for this host */
    KH_MATCH,       /* a line for this host holds this key */
    KH_CHANGED,     /* lines for this host exist, none with this key */
    KH_MALFORMED    /* a line naming this host cannot be parsed */
} kh_status;

typedef struct kh_result {
    kh_status status;
    unsigned line;              /* MATCH, CHANGED, MALFORMED: 1-based line number */
    uint8_t pinned[KH_KEY_LEN]; /* CHANGED: the key on that line */
    unsigned bad_lines;         /* malformed lines about other hosts (skipped) */
    unsigned first_bad_line;    /* the first of those, or 0 */
} kh_result;

/* "[host]:port" for host (lower-cased) into out. KH_E_INVAL if host is
 * empty, too long, holds a character outside [A-Za-z0-9.:_%-], or port is
 * not 1..65535, or out is too small. */
int kh_hostport(char *out, size_t outlen, const char *host, unsigned port);

/* Parse one line. Returns 1 for an entry (hostport copied into
 * host_out, capacity KH_HOSTPORT_MAX + 1, and the key), 0 for a blank or
 * comment line, -1 for a malformed line; on -1, host_out holds the first
 * field if it looks like "[host]:port", else "". The line need not be
 * NUL-terminated and must not contain '\n'. */
int kh_parse_line(const char *line, size_t len, char *host_out, uint8_t key[KH_KEY_LEN]);

/* Check key for hostport (as kh_hostport makes it) against the file
 * contents text[0..len). */
void kh_check_text(const char *text, size_t len, const char *hostport,
                   const uint8_t key[KH_KEY_LEN], kh_result *r);

/* The line (without newline) for hostport and key into out (capacity >=
 * KH_LINE_MAX + 1). KH_E_INVAL if it does not fit. */
int kh_format_line(char *out, size_t outlen, const char *hostport, const uint8_t key[KH_KEY_LEN]);

/* Check against the file at path. A missing file is KH_UNKNOWN. A file
 * writable by group or others is refused (KH_E_PERM): anyone who can write
 * it can replace a pin. */
int kh_check_file(const char *path, const char *hostport, const uint8_t key[KH_KEY_LEN],
                  kh_result *r, char *err, size_t errlen);

/* Append a line for hostport and key to the file at path (created if
 * missing; its directory must exist), atomically, mode 0600. *line (may be
 * NULL) receives the new line's number. Never removes or changes other
 * lines (a changed key is never replaced here). */
int kh_add(const char *path, const char *hostport, const uint8_t key[KH_KEY_LEN], unsigned *line,
           char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
