/* File helpers shared by chatd and chatc. See fileutil.h. */
#include "fileutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

/* ---- Messages -------------------------------------------------------- */

int fu_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        (void)vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* The FU_E_* code for an errno value from an OS call. */
static int code_of(int e)
{
    switch (e) {
    case ENOENT:
        return FU_E_NOENT;
    case ENOMEM:
        return FU_E_NOMEM;
    case ENAMETOOLONG:
        return FU_E_INVAL;
    case EEXIST:
        return FU_E_EXISTS;
    default:
        return FU_E_IO;
    }
}

/* Copy s into out (capacity outlen). 0 if it does not fit. */
static int copy_str(char *out, size_t outlen, const char *s)
{
    size_t n = strlen(s);
    if (n >= outlen)
        return 0;
    memcpy(out, s, n + 1);
    return 1;
}

/* ---- Directories ----------------------------------------------------- */

/* mkdir one directory; an existing directory is fine. */
static int mkdir_one(const char *dir, mode_t mode, char *err, size_t errlen)
{
    if (mkdir(dir, mode) == 0)
        return FU_OK;
    int e = errno;
    struct stat st;
    /* EEXIST, but also EACCES/EROFS on a parent that already exists. */
    if (stat(dir, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return FU_OK;
        return fu_fail(err, errlen, FU_E_IO,
                    "cannot create directory %s: a file with that name exists", dir);
    }
    return fu_fail(err, errlen, code_of(e), "cannot create directory %s: %s", dir, strerror(e));
}

int fu_mkdir_p(const char *path, mode_t mode, char *err, size_t errlen)
{
    char buf[FU_PATH_MAX];
    if (path == NULL || path[0] == '\0')
        return fu_fail(err, errlen, FU_E_INVAL, "cannot create a directory with an empty name");
    if (!copy_str(buf, sizeof buf, path))
        return fu_fail(err, errlen, FU_E_INVAL, "cannot create directory %.64s...: path too long",
                    path);
    size_t n = strlen(buf);
    for (size_t i = 1; i < n; i++) {
        if (buf[i] != '/' || buf[i - 1] == '/')
            continue;
        buf[i] = '\0';
        int rc = mkdir_one(buf, mode, err, errlen);
        buf[i] = '/';
        if (rc != FU_OK)
            return rc;
    }
    return mkdir_one(buf, mode, err, errlen);
}

/* ---- Atomic write ---------------------------------------------------- */

/* Split path into its directory (dir, "." when there is none) and check it
 * has a file name. */
static int split_dir(const char *path, char *dir, size_t dirlen, const char **base)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        *base = path;
        return copy_str(dir, dirlen, ".");
    }
    *base = slash + 1;
    size_t n = (size_t)(slash - path);
    if (n == 0)
        n = 1; /* "/name": the directory is "/" */
    if (n >= dirlen)
        return 0;
    memcpy(dir, path, n);
    dir[n] = '\0';
    return 1;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += (size_t)w;
        len -= (size_t)w;
    }
    return 0;
}

/* Write data into a new temporary file next to path (created exclusively,
 * mode set exactly, fsynced, closed). On success tmp holds its name and dir
 * the directory. On failure nothing is left behind. */
static int write_temp(const char *path, const void *data, size_t len, mode_t mode, char *dir,
                      char *tmp, size_t cap, char *err, size_t errlen)
{
    const char *base;
    if (path == NULL || path[0] == '\0')
        return fu_fail(err, errlen, FU_E_INVAL, "cannot write a file with an empty name");
    if (data == NULL && len > 0)
        return fu_fail(err, errlen, FU_E_INVAL, "cannot write %s: no data given", path);
    if (!split_dir(path, dir, cap, &base))
        return fu_fail(err, errlen, FU_E_INVAL, "cannot write %.64s...: path too long", path);
    if (base[0] == '\0')
        return fu_fail(err, errlen, FU_E_INVAL, "cannot write %s: the name ends in '/'", path);

    /* ".<name>.tmp-<12 random hex digits>" next to the target, so the
     * rename stays within one file system. */
    int fd = -1;
    for (int attempt = 0; attempt < 32 && fd < 0; attempt++) {
        uint8_t rnd[6];
        char hex[2 * sizeof rnd + 1];
        randombytes_buf(rnd, sizeof rnd);
        sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
        const char *sep = strcmp(dir, "/") == 0 ? "" : "/";
        int n = snprintf(tmp, cap, "%s%s.%s.tmp-%s", dir, sep, base, hex);
        if (n < 0 || (size_t)n >= cap)
            return fu_fail(err, errlen, FU_E_INVAL, "cannot write %.64s...: path too long", path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode & 07777);
        if (fd < 0 && errno != EEXIST) {
            int e = errno;
            return fu_fail(err, errlen, code_of(e), "cannot write %s: cannot create a file in %s: %s",
                        path, dir, strerror(e));
        }
    }
    if (fd < 0)
        return fu_fail(err, errlen, FU_E_IO, "cannot write %s: no free temporary name in %s", path,
                    dir);

    const char *what = NULL;
    /* open() applied the umask; set exactly the mode asked for. */
    if (fchmod(fd, mode & 07777) != 0)
        what = "cannot set its permissions";
    else if (write_all(fd, data, len) != 0)
        what = "write failed";
    else if (fsync(fd) != 0)
        what = "cannot flush it to disk";
    int e = errno;
    if (close(fd) != 0 && what == NULL) {
        e = errno;
        what = "write failed";
    }
    if (what != NULL) {
        (void)unlink(tmp);
        return fu_fail(err, errlen, code_of(e), "cannot write %s: %s: %s", path, what, strerror(e));
    }
    return FU_OK;
}

/* Make a rename or link in dir durable. Some file systems cannot fsync a
 * directory (EINVAL); the file is in place either way. */
static int sync_dir(const char *path, const char *dir, char *err, size_t errlen)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        int e = errno;
        return fu_fail(err, errlen, code_of(e), "wrote %s but cannot open directory %s to sync it: %s",
                    path, dir, strerror(e));
    }
    if (fsync(dfd) != 0 && errno != EINVAL) {
        int e = errno;
        (void)close(dfd);
        return fu_fail(err, errlen, FU_E_IO, "wrote %s but cannot sync directory %s: %s", path, dir,
                    strerror(e));
    }
    (void)close(dfd);
    return FU_OK;
}

int fu_write_atomic(const char *path, const void *data, size_t len, mode_t mode, char *err,
                    size_t errlen)
{
    char dir[FU_PATH_MAX];
    char tmp[FU_PATH_MAX];
    int rc = write_temp(path, data, len, mode, dir, tmp, sizeof tmp, err, errlen);
    if (rc != FU_OK)
        return rc;
    if (rename(tmp, path) != 0) {
        int e = errno;
        (void)unlink(tmp);
        return fu_fail(err, errlen, code_of(e),
                    "cannot write %s: cannot rename the new file over it: %s", path, strerror(e));
    }
    return sync_dir(path, dir, err, errlen);
}

int fu_write_new(const char *path, const void *data, size_t len, mode_t mode, char *err,
                 size_t errlen)
{
    char dir[FU_PATH_MAX];
    char tmp[FU_PATH_MAX];
    int rc = write_temp(path, data, len, mode, dir, tmp, sizeof tmp, err, errlen);
    if (rc != FU_OK)
        return rc;
    /* link() publishes the complete file under its name only if the name
     * is free: never a partial file, never an overwrite. */
    int lrc = link(tmp, path);
    int e = errno;
    (void)unlink(tmp);
    if (lrc != 0) {
        if (e == EEXIST)
            return fu_fail(err, errlen, FU_E_EXISTS, "%s already exists", path);
        if (e != EPERM && e != ENOSYS && e != EOPNOTSUPP)
            return fu_fail(err, errlen, code_of(e), "cannot create %s: %s", path, strerror(e));
        /* A file system without hard links: create the name exclusively and
         * write it in place (not crash-atomic, but never an overwrite). */
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode & 07777);
        if (fd < 0) {
            e = errno;
            if (e == EEXIST)
                return fu_fail(err, errlen, FU_E_EXISTS, "%s already exists", path);
            return fu_fail(err, errlen, code_of(e), "cannot create %s: %s", path, strerror(e));
        }
        int bad = fchmod(fd, mode & 07777) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0;
        e = errno;
        if (close(fd) != 0 && !bad) {
            bad = 1;
            e = errno;
        }
        if (bad) {
            (void)unlink(path);
            return fu_fail(err, errlen, code_of(e), "cannot write %s: %s", path, strerror(e));
        }
    }
    return sync_dir(path, dir, err, errlen);
}

/* ---- Reading --------------------------------------------------------- */

int fu_check_private_fd(int fd, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        return fu_fail(err, errlen, FU_E_IO, "cannot check the permissions of %s: %s", path,
                    strerror(e));
    }
    const mode_t grp = S_IRGRP | S_IWGRP, oth = S_IROTH | S_IWOTH;
    if ((st.st_mode & (grp | oth)) != 0) {
        const char *who = (st.st_mode & grp) == 0   ? "other users"
                          : (st.st_mode & oth) == 0 ? "its group"
                                                    : "its group and other users";
        int r = (st.st_mode & (S_IRGRP | S_IROTH)) != 0;
        int w = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
        const char *how = r && w ? "read and write" : r ? "read" : "write";
        return fu_fail(err, errlen, FU_E_PERM,
                    "%s is unprotected: its permissions %04o let %s %s it, but it holds a "
                    "secret and must be accessible only by its owner (run: chmod 600 %s)",
                    path, (unsigned)(st.st_mode & 07777), who, how, path);
    }
    return FU_OK;
}

int fu_check_private(const char *path, char *err, size_t errlen)
{
    if (path == NULL)
        return fu_fail(err, errlen, FU_E_INVAL, "no file name given");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        return fu_fail(err, errlen, code_of(e), "cannot open %s: %s", path, strerror(e));
    }
    int rc = fu_check_private_fd(fd, path, err, errlen);
    (void)close(fd);
    return rc;
}

/* Open path for reading as a regular file, applying the flags; *size
 * receives its current size. */
static int open_regular(const char *path, unsigned flags, int *fdp, size_t *size, char *err,
                        size_t errlen)
{
    if (path == NULL || path[0] == '\0')
        return fu_fail(err, errlen, FU_E_INVAL, "no file name given");
    /* O_NONBLOCK: opening a FIFO must not hang; it is refused below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return fu_fail(err, errlen, FU_E_NOENT, "%s does not exist", path);
        return fu_fail(err, errlen, code_of(e), "cannot open %s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        (void)close(fd);
        return fu_fail(err, errlen, FU_E_IO, "cannot read %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        (void)close(fd);
        return fu_fail(err, errlen, FU_E_IO, "cannot read %s: %s", path,
                    S_ISDIR(st.st_mode) ? "it is a directory" : "it is not a regular file");
    }
    if ((flags & FU_READ_PRIVATE) != 0) {
        int rc = fu_check_private_fd(fd, path, err, errlen);
        if (rc != FU_OK) {
            (void)close(fd);
            return rc;
        }
    }
    *fdp = fd;
    *size = (size_t)st.st_size;
    return FU_OK;
}

/* Read up to cap bytes into buf; *more is set when data remains after cap
 * bytes. -1 on a read error (errno set). */
static int read_upto(int fd, uint8_t *buf, size_t cap, size_t *len, int *more)
{
    size_t got = 0;
    *more = 0;
    for (;;) {
        ssize_t r;
        if (got < cap) {
            r = read(fd, buf + got, cap - got);
        } else {
            uint8_t extra;
            r = read(fd, &extra, 1);
            if (r > 0)
                *more = 1;
            if (r >= 0)
                break;
        }
        if (r < 0) {
            if (errno == EINTR)
                continue;
            *len = got;
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    *len = got;
    return 0;
}

int fu_read_file(const char *path, void *buf, size_t cap, size_t *len, unsigned flags, char *err,
                 size_t errlen)
{
    if (buf == NULL || len == NULL)
        return fu_fail(err, errlen, FU_E_INVAL, "no buffer to read %s into", path ? path : "a file");
    *len = 0;
    int fd;
    size_t size;
    int rc = open_regular(path, flags, &fd, &size, err, errlen);
    if (rc != FU_OK)
        return rc;
    if (size > cap) {
        (void)close(fd);
        return fu_fail(err, errlen, FU_E_TOOBIG, "%s is too large (%zu bytes, at most %zu expected)",
                    path, size, cap);
    }
    int more;
    size_t got;
    if (read_upto(fd, buf, cap, &got, &more) != 0) {
        int e = errno;
        (void)close(fd);
        sodium_memzero(buf, cap);
        return fu_fail(err, errlen, FU_E_IO, "cannot read %s: %s", path, strerror(e));
    }
    (void)close(fd);
    if (more) {
        sodium_memzero(buf, cap);
        return fu_fail(err, errlen, FU_E_TOOBIG, "%s is too large (more than %zu bytes expected)",
                    path, cap);
    }
    *len = got;
    return FU_OK;
}

void fu_free_wipe(void *p, size_t n)
{
    if (p == NULL)
        return;
    sodium_memzero(p, n);
    free(p);
}

int fu_read_file_alloc(const char *path, size_t max, char **out, size_t *len, unsigned flags,
                       char *err, size_t errlen)
{
    if (out == NULL || len == NULL)
        return fu_fail(err, errlen, FU_E_INVAL, "no buffer to read %s into", path ? path : "a file");
    *out = NULL;
    *len = 0;
    int fd;
    size_t size;
    int rc = open_regular(path, flags, &fd, &size, err, errlen);
    if (rc != FU_OK)
        return rc;
    if (size > max || size == SIZE_MAX) {
        (void)close(fd);
        return fu_fail(err, errlen, FU_E_TOOBIG, "%s is too large (%zu bytes, at most %zu expected)",
                    path, size, max);
    }
    /* One allocation of the size fstat reported, so no secret is left
     * behind by a growing buffer; a file that grows meanwhile is read up
     * to max. */
    size_t cap = size;
    char *p = malloc(cap + 1);
    if (p == NULL) {
        (void)close(fd);
        return fu_fail(err, errlen, FU_E_NOMEM, "cannot read %s: out of memory", path);
    }
    int more;
    size_t got;
    if (read_upto(fd, (uint8_t *)p, cap, &got, &more) != 0) {
        int e = errno;
        (void)close(fd);
        fu_free_wipe(p, cap + 1);
        return fu_fail(err, errlen, FU_E_IO, "cannot read %s: %s", path, strerror(e));
    }
    (void)close(fd);
    if (more) {
        fu_free_wipe(p, cap + 1);
        return fu_fail(err, errlen, FU_E_IO, "cannot read %s: it changed while being read", path);
    }
    p[got] = '\0';
    *out = p;
    *len = got;
    return FU_OK;
}

/* ---- Paths ----------------------------------------------------------- */

int fu_join(char *out, size_t outlen, const char *dir, const char *name, char *err,
            size_t errlen)
{
    if (out == NULL || dir == NULL || name == NULL)
        return fu_fail(err, errlen, FU_E_INVAL, "no path to build");
    size_t dn = strlen(dir);
    const char *sep = (dn == 0 || dir[dn - 1] == '/' || name[0] == '\0') ? "" : "/";
    int n = snprintf(out, outlen, "%s%s%s", dir, sep, name);
    if (n < 0 || (size_t)n >= outlen) {
        if (outlen > 0)
            out[0] = '\0';
        return fu_fail(err, errlen, FU_E_INVAL, "path too long: %.64s.../%s", dir, name);
    }
    return FU_OK;
}

int fu_home(char *out, size_t outlen, char *err, size_t errlen)
{
    if (out == NULL)
        return fu_fail(err, errlen, FU_E_INVAL, "no buffer for the home directory");
    const char *h = getenv("HOME");
    if (h != NULL && h[0] == '/') {
        if (!copy_str(out, outlen, h))
            return fu_fail(err, errlen, FU_E_INVAL, "$HOME is too long");
        return FU_OK;
    }
    /* No usable $HOME: ask the password database. */
    size_t bufsize = 16384;
    for (;;) {
        char *buf = malloc(bufsize);
        if (buf == NULL)
            return fu_fail(err, errlen, FU_E_NOMEM, "cannot find the home directory: out of memory");
        struct passwd pw, *res = NULL;
        int e = getpwuid_r(getuid(), &pw, buf, bufsize, &res);
        if (e == ERANGE && bufsize < (1u << 20)) {
            free(buf);
            bufsize *= 2;
            continue;
        }
        int rc;
        if (e != 0)
            rc = fu_fail(err, errlen, FU_E_IO,
                      "cannot find the home directory: $HOME is not set and the user database "
                      "lookup failed: %s",
                      strerror(e));
        else if (res == NULL || pw.pw_dir == NULL || pw.pw_dir[0] != '/')
            rc = fu_fail(err, errlen, FU_E_NOENT,
                      "cannot find the home directory: $HOME is not set and user %lu has no "
                      "home directory in the user database",
                      (unsigned long)getuid());
        else if (!copy_str(out, outlen, pw.pw_dir))
            rc = fu_fail(err, errlen, FU_E_INVAL, "the home directory path is too long");
        else
            rc = FU_OK;
        free(buf);
        return rc;
    }
}

int fu_xdg_dir(fu_xdg kind, const char *app, char *out, size_t outlen, char *err, size_t errlen)
{
    const char *var, *def;
    switch (kind) {
    case FU_XDG_STATE:
        var = "XDG_STATE_HOME";
        def = ".local/state";
        break;
    case FU_XDG_DATA:
        var = "XDG_DATA_HOME";
        def = ".local/share";
        break;
    case FU_XDG_CONFIG:
        var = "XDG_CONFIG_HOME";
        def = ".config";
        break;
    default:
        return fu_fail(err, errlen, FU_E_INVAL, "unknown XDG directory kind");
    }
    if (out == NULL)
        return fu_fail(err, errlen, FU_E_INVAL, "no buffer for the %s directory", var);
    char base[FU_PATH_MAX];
    const char *v = getenv(var);
    int rc;
    if (v != NULL && v[0] == '/') {
        if (!copy_str(base, sizeof base, v))
            return fu_fail(err, errlen, FU_E_INVAL, "$%s is too long", var);
    } else {
        char home[FU_PATH_MAX];
        rc = fu_home(home, sizeof home, err, errlen);
        if (rc != FU_OK)
            return rc;
        rc = fu_join(base, sizeof base, home, def, err, errlen);
        if (rc != FU_OK)
            return rc;
    }
    return fu_join(out, outlen, base, app != NULL ? app : "", err, errlen);
}
