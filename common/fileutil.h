/* File helpers shared by the front-ends (chatd, chatc): directories, atomic
 * writes, bounded reads, private-file permission checks and XDG paths.
 *
 * Every function returns FU_OK (0) or a negative FU_E* code, and on failure
 * writes a sentence a user can act on into err (path and reason, e.g.
 * "cannot create directory /a/b: Permission denied"). err may be NULL when
 * the caller does not want the text; errlen is its capacity. errno is not
 * part of the interface. */
#ifndef CHAT_FILEUTIL_H
#define CHAT_FILEUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    FU_OK = 0,
    FU_E_IO = -1,       /* an OS call failed (the message says which, and why) */
    FU_E_NOENT = -2,    /* the file (or a directory on its path) does not exist */
    FU_E_TOOBIG = -3,   /* the file is larger than the caller's limit */
    FU_E_PERM = -4,     /* a private file is accessible to group or others */
    FU_E_INVAL = -5,    /* bad argument, or a path/result too long for its buffer */
    FU_E_NOMEM = -6,
    FU_E_EXISTS = -7    /* fu_write_new: the file already exists */
};

/* Longest path the helpers build (including the NUL). */
#define FU_PATH_MAX 4096

/* Create the directory path and any missing parents, each with mode (the
 * umask applies, as for mkdir(2)). Existing directories are left alone;
 * an existing non-directory on the path is an error. */
int fu_mkdir_p(const char *path, mode_t mode, char *err, size_t errlen);

/* Replace path with data[0..len) atomically: write a new file in the same
 * directory (created exclusively, then fchmod'ed to exactly mode whatever
 * the umask), fsync it, rename it over path and fsync the directory. A
 * reader sees either the old or the new content, never a mix, even after a
 * crash. On failure the temporary file is removed and path is unchanged.
 * If path is a symbolic link, the link itself is replaced by the file. */
int fu_write_atomic(const char *path, const void *data, size_t len, mode_t mode, char *err,
                    size_t errlen);

/* Create path with data[0..len) and exactly mode, failing with FU_E_EXISTS
 * if it already exists (never overwrites). Like fu_write_atomic the file
 * appears complete or not at all (the temporary file is hard-linked into
 * place; on a file system without hard links it falls back to an exclusive
 * create). For "generate on first run" files such as keys, so that two
 * processes starting at once cannot replace each other's key. */
int fu_write_new(const char *path, const void *data, size_t len, mode_t mode, char *err,
                 size_t errlen);

/* Read flags. */
#define FU_READ_PRIVATE 0x1 /* refuse (FU_E_PERM) if group/other may read or write */

/* Read a whole regular file into buf (capacity cap); *len receives its
 * size. FU_E_TOOBIG if it holds more than cap bytes, FU_E_NOENT if it does
 * not exist. On any failure buf is wiped (it may hold secrets). */
int fu_read_file(const char *path, void *buf, size_t cap, size_t *len, unsigned flags, char *err,
                 size_t errlen);

/* Same, into a new buffer of len + 1 bytes with a NUL after the data (so
 * text can be used as a C string). At most max bytes. Release it with
 * fu_free_wipe(*out, *len + 1). */
int fu_read_file_alloc(const char *path, size_t max, char **out, size_t *len, unsigned flags,
                       char *err, size_t errlen);

/* Wipe n bytes at p and free it (NULL is fine). */
void fu_free_wipe(void *p, size_t n);

/* FU_OK if path is a file that neither group nor others may read or write
 * (like OpenSSH's check for private keys); FU_E_PERM with a message naming
 * the mode and the chmod that fixes it otherwise. */
int fu_check_private(const char *path, char *err, size_t errlen);
/* The same check on an open file. path is only used in the message. */
int fu_check_private_fd(int fd, const char *path, char *err, size_t errlen);

/* The user's home directory: $HOME if set and non-empty, else the password
 * database entry of the real user. */
int fu_home(char *out, size_t outlen, char *err, size_t errlen);

typedef enum fu_xdg {
    FU_XDG_STATE,  /* $XDG_STATE_HOME,  default ~/.local/state */
    FU_XDG_DATA,   /* $XDG_DATA_HOME,   default ~/.local/share */
    FU_XDG_CONFIG  /* $XDG_CONFIG_HOME, default ~/.config */
} fu_xdg;

/* The XDG base directory of that kind joined with app (e.g. "chatc"); app
 * may be NULL or "" for the base directory itself. Per the XDG spec, a
 * variable that is unset, empty or not an absolute path is ignored. Does
 * not create anything (use fu_mkdir_p). */
int fu_xdg_dir(fu_xdg kind, const char *app, char *out, size_t outlen, char *err, size_t errlen);

/* out = dir + "/" + name (no doubled slash). FU_E_INVAL if it does not fit. */
int fu_join(char *out, size_t outlen, const char *dir, const char *name, char *err,
            size_t errlen);

/* Write a printf-style message into err (when err is not NULL and errlen
 * > 0) and return code: the one error-reporting helper of the front-end
 * modules (files, keys, known_hosts, the SQLite store). */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 4, 5)))
#endif
int fu_fail(char *err, size_t errlen, int code, const char *fmt, ...);

#ifdef __cplusplus
}
#endif
#endif
