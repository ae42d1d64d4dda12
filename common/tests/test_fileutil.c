/* Tests for common/fileutil: directories, atomic writes, bounded reads,
 * private-file checks and XDG paths. Each test runs in its own scratch
 * directory under /tmp, removed afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pwd.h>
#include <sys/types.h>

#include "fileutil.h"
#include "testutil.h"

typedef struct fixture {
    char dir[64];
    char err[512];
    mode_t old_umask;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL || tu_mkdtemp(f->dir, sizeof f->dir, "fu-test") != 0) {
        free(f);
        return -1;
    }
    f->old_umask = umask(022);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    umask(f->old_umask);
    int rc = tu_rm_rf(f->dir);
    free(f);
    return rc;
}

static void path_in(const fixture *f, char *out, size_t outlen, const char *name)
{
    int n = snprintf(out, outlen, "%s/%s", f->dir, name);
    assert_true(n > 0 && (size_t)n < outlen);
}

/* ---- fu_mkdir_p ------------------------------------------------------ */

static void test_mkdir_p_creates_parents(void **state)
{
    fixture *f = *state;
    char p[256], q[256];
    umask(0);
    path_in(f, p, sizeof p, "a/b//c/d/");
    assert_int_equal(fu_mkdir_p(p, 0700, f->err, sizeof f->err), FU_OK);
    path_in(f, q, sizeof q, "a");
    assert_int_equal(tu_mode(q), 0700);
    path_in(f, q, sizeof q, "a/b/c/d");
    assert_int_equal(tu_mode(q), 0700);
    /* Existing directories are fine, and left as they are. */
    assert_int_equal(chmod(q, 0750), 0);
    assert_int_equal(fu_mkdir_p(q, 0700, f->err, sizeof f->err), FU_OK);
    assert_int_equal(tu_mode(q), 0750);
    /* Relative paths work too. */
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(f->dir), 0);
    assert_int_equal(fu_mkdir_p("rel/x", 0700, f->err, sizeof f->err), FU_OK);
    assert_int_equal(tu_mode("rel/x"), 0700);
    assert_int_equal(chdir(cwd), 0);
}

static void test_mkdir_p_umask_applies(void **state)
{
    fixture *f = *state;
    char p[256];
    umask(077);
    path_in(f, p, sizeof p, "u/v");
    assert_int_equal(fu_mkdir_p(p, 0755, f->err, sizeof f->err), FU_OK);
    assert_int_equal(tu_mode(p), 0700);
}

static void test_mkdir_p_file_in_the_way(void **state)
{
    fixture *f = *state;
    char p[256], q[256];
    path_in(f, p, sizeof p, "file");
    assert_int_equal(tu_write(p, "x", 1, 0600), 0);
    path_in(f, q, sizeof q, "file/sub");
    assert_int_equal(fu_mkdir_p(q, 0700, f->err, sizeof f->err), FU_E_IO);
    assert_true(tu_has(f->err, p));
    assert_true(tu_has(f->err, "a file with that name exists"));
    /* The final component being a file is an error as well. */
    assert_int_equal(fu_mkdir_p(p, 0700, f->err, sizeof f->err), FU_E_IO);
    assert_int_equal(fu_mkdir_p("", 0700, f->err, sizeof f->err), FU_E_INVAL);
    assert_int_equal(fu_mkdir_p(NULL, 0700, NULL, 0), FU_E_INVAL);
}

static void test_mkdir_p_permission_denied(void **state)
{
    fixture *f = *state;
    if (geteuid() == 0)
        skip();
    char p[256], q[256];
    path_in(f, p, sizeof p, "ro");
    assert_int_equal(mkdir(p, 0500), 0);
    path_in(f, q, sizeof q, "ro/x/y");
    assert_int_equal(fu_mkdir_p(q, 0700, f->err, sizeof f->err), FU_E_IO);
    assert_true(tu_has(f->err, "ro/x"));
    assert_true(tu_has(f->err, "Permission denied"));
}

/* ---- fu_write_atomic --------------------------------------------------- */

static void test_write_atomic_modes(void **state)
{
    fixture *f = *state;
    char p[256];
    uint8_t buf[64];
    size_t len;

    /* umask 000 still gives 0600. */
    umask(0);
    path_in(f, p, sizeof p, "key");
    assert_int_equal(fu_write_atomic(p, "secret", 6, 0600, f->err, sizeof f->err), FU_OK);
    assert_int_equal(tu_mode(p), 0600);
    assert_int_equal(fu_read_file(p, buf, sizeof buf, &len, 0, f->err, sizeof f->err), FU_OK);
    assert_int_equal(len, 6);
    assert_memory_equal(buf, "secret", 6);

    /* A restrictive umask does not take bits away either: exactly mode. */
    umask(077);
    path_in(f, p, sizeof p, "public");
    assert_int_equal(fu_write_atomic(p, "abc", 3, 0644, f->err, sizeof f->err), FU_OK);
    assert_int_equal(tu_mode(p), 0644);
}

static void test_write_atomic_replaces(void **state)
{
    fixture *f = *state;
    char p[256];
    char *data;
    size_t len;
    path_in(f, p, sizeof p, "file.txt");
    assert_int_equal(tu_write(p, "old content that is longer", 26, 0644), 0);
    assert_int_equal(fu_write_atomic(p, "new", 3, 0600, f->err, sizeof f->err), FU_OK);
    assert_int_equal(fu_read_file_alloc(p, 100, &data, &len, 0, f->err, sizeof f->err), FU_OK);
    assert_int_equal(len, 3);
    assert_string_equal(data, "new");
    fu_free_wipe(data, len + 1);
    /* The mode of the replaced file is the one asked for. */
    assert_int_equal(tu_mode(p), 0600);
    /* An empty file is fine. */
    assert_int_equal(fu_write_atomic(p, NULL, 0, 0600, f->err, sizeof f->err), FU_OK);
    assert_int_equal(fu_read_file_alloc(p, 100, &data, &len, 0, f->err, sizeof f->err), FU_OK);
    assert_int_equal(len, 0);
    assert_string_equal(data, "");
    fu_free_wipe(data, len + 1);
    /* No temporary file is left behind. */
    assert_int_equal(tu_count_entries(f->dir), 1);
}

static void test_write_atomic_relative_and_root_names(void **state)
{
    fixture *f = *state;
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(f->dir), 0);
    assert_int_equal(fu_write_atomic("plain", "1", 1, 0600, f->err, sizeof f->err), FU_OK);
    assert_int_equal(tu_mode("plain"), 0600);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(tu_count_entries(f->dir), 1);
}

static void test_write_atomic_errors(void **state)
{
    fixture *f = *state;
    char p[256];
    path_in(f, p, sizeof p, "missing/dir/file");
    assert_int_equal(fu_write_atomic(p, "x", 1, 0600, f->err, sizeof f->err), FU_E_NOENT);
    assert_true(tu_has(f->err, p));
    assert_true(tu_has(f->err, "No such file or directory"));

    path_in(f, p, sizeof p, "dir/");
    assert_int_equal(fu_write_atomic(p, "x", 1, 0600, f->err, sizeof f->err), FU_E_INVAL);
    assert_int_equal(fu_write_atomic("", "x", 1, 0600, f->err, sizeof f->err), FU_E_INVAL);

    /* Renaming over a directory fails; the temporary file is cleaned up. */
    path_in(f, p, sizeof p, "adir");
    assert_int_equal(mkdir(p, 0700), 0);
    assert_int_equal(fu_write_atomic(p, "x", 1, 0600, f->err, sizeof f->err), FU_E_IO);
    assert_true(tu_has(f->err, "rename"));
    assert_int_equal(tu_count_entries(f->dir), 1);
}

static void test_write_atomic_readonly_dir(void **state)
{
    fixture *f = *state;
    if (geteuid() == 0)
        skip();
    char d[256], p[300];
    path_in(f, d, sizeof d, "ro");
    assert_int_equal(mkdir(d, 0700), 0);
    snprintf(p, sizeof p, "%s/file", d);
    assert_int_equal(tu_write(p, "keep", 4, 0600), 0);
    assert_int_equal(chmod(d, 0500), 0);
    assert_int_equal(fu_write_atomic(p, "new", 3, 0600, f->err, sizeof f->err), FU_E_IO);
    assert_true(tu_has(f->err, "Permission denied"));
    assert_true(tu_has(f->err, p));
    char buf[16];
    size_t len;
    assert_int_equal(fu_read_file(p, buf, sizeof buf, &len, 0, f->err, sizeof f->err), FU_OK);
    assert_int_equal(len, 4);
    assert_memory_equal(buf, "keep", 4);
    assert_int_equal(chmod(d, 0700), 0);
}

static void test_write_new(void **state)
{
    fixture *f = *state;
    char p[256];
    char buf[16];
    size_t len;
    umask(0);
    path_in(f, p, sizeof p, "new.key");
    assert_int_equal(fu_write_new(p, "first", 5, 0600, f->err, sizeof f->err), FU_OK);
    assert_int_equal(tu_mode(p), 0600);
    assert_int_equal(fu_write_new(p, "second", 6, 0600, f->err, sizeof f->err), FU_E_EXISTS);
    assert_true(tu_has(f->err, p));
    assert_true(tu_has(f->err, "already exists"));
    assert_int_equal(fu_read_file(p, buf, sizeof buf, &len, 0, f->err, sizeof f->err), FU_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "first", 5);
    /* Only the file itself is left: no temporary files. */
    assert_int_equal(tu_count_entries(f->dir), 1);
    path_in(f, p, sizeof p, "no/such/dir/key");
    assert_int_equal(fu_write_new(p, "x", 1, 0600, f->err, sizeof f->err), FU_E_NOENT);
}

/* ---- fu_read_file ---------------------------------------------------- */

static void test_read_file_limits(void **state)
{
    fixture *f = *state;
    char p[256];
    uint8_t buf[8];
    size_t len = 99;
    path_in(f, p, sizeof p, "eight");
    assert_int_equal(tu_write(p, "12345678", 8, 0600), 0);
    assert_int_equal(fu_read_file(p, buf, 8, &len, 0, f->err, sizeof f->err), FU_OK);
    assert_int_equal(len, 8);
    assert_int_equal(fu_read_file(p, buf, 7, &len, 0, f->err, sizeof f->err), FU_E_TOOBIG);
    assert_int_equal(len, 0);
    assert_true(tu_has(f->err, "too large"));
    assert_true(tu_has(f->err, p));

    char *data;
    assert_int_equal(fu_read_file_alloc(p, 7, &data, &len, 0, f->err, sizeof f->err),
                     FU_E_TOOBIG);
    assert_null(data);
    assert_int_equal(fu_read_file_alloc(p, 8, &data, &len, 0, f->err, sizeof f->err), FU_OK);
    assert_string_equal(data, "12345678");
    fu_free_wipe(data, len + 1);

    path_in(f, p, sizeof p, "empty");
    assert_int_equal(tu_write(p, "", 0, 0600), 0);
    assert_int_equal(fu_read_file(p, buf, sizeof buf, &len, 0, f->err, sizeof f->err), FU_OK);
    assert_int_equal(len, 0);
    assert_int_equal(fu_read_file(p, buf, 0, &len, 0, f->err, sizeof f->err), FU_OK);
}

static void test_read_file_errors(void **state)
{
    fixture *f = *state;
    char p[256];
    uint8_t buf[8];
    size_t len;
    path_in(f, p, sizeof p, "nope");
    assert_int_equal(fu_read_file(p, buf, sizeof buf, &len, 0, f->err, sizeof f->err),
                     FU_E_NOENT);
    assert_true(tu_has(f->err, p));
    assert_true(tu_has(f->err, "does not exist"));
    /* Without an error buffer. */
    assert_int_equal(fu_read_file(p, buf, sizeof buf, &len, 0, NULL, 0), FU_E_NOENT);

    assert_int_equal(fu_read_file(f->dir, buf, sizeof buf, &len, 0, f->err, sizeof f->err),
                     FU_E_IO);
    assert_true(tu_has(f->err, "is a directory"));

    /* A FIFO is refused without blocking. */
    path_in(f, p, sizeof p, "fifo");
    assert_int_equal(mkfifo(p, 0600), 0);
    assert_int_equal(fu_read_file(p, buf, sizeof buf, &len, 0, f->err, sizeof f->err), FU_E_IO);
    assert_true(tu_has(f->err, "not a regular file"));

    if (geteuid() != 0) {
        path_in(f, p, sizeof p, "unreadable");
        assert_int_equal(tu_write(p, "x", 1, 0000), 0);
        assert_int_equal(fu_read_file(p, buf, sizeof buf, &len, 0, f->err, sizeof f->err),
                         FU_E_IO);
        assert_true(tu_has(f->err, "Permission denied"));
    }
}

/* ---- Private files ----------------------------------------------------- */

static void test_check_private(void **state)
{
    fixture *f = *state;
    char p[256];
    path_in(f, p, sizeof p, "key");
    assert_int_equal(tu_write(p, "k", 1, 0600), 0);
    assert_int_equal(fu_check_private(p, f->err, sizeof f->err), FU_OK);

    static const struct {
        mode_t mode;
        int ok;
        const char *who;
    } cases[] = {
        {0400, 1, NULL},
        {0700, 1, NULL},
        {0610, 1, NULL}, /* execute alone reveals nothing */
        {0644, 0, "its group and other users"},
        {0640, 0, "its group"},
        {0620, 0, "its group"},
        {0604, 0, "other users"},
        {0602, 0, "other users"},
        {0666, 0, "its group and other users"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(chmod(p, cases[i].mode), 0);
        f->err[0] = '\0';
        int rc = fu_check_private(p, f->err, sizeof f->err);
        if (cases[i].ok) {
            assert_int_equal(rc, FU_OK);
        } else {
            char want[32];
            snprintf(want, sizeof want, "%04o", (unsigned)cases[i].mode);
            assert_int_equal(rc, FU_E_PERM);
            assert_true(tu_has(f->err, p));
            assert_true(tu_has(f->err, want));
            assert_true(tu_has(f->err, cases[i].who));
            assert_true(tu_has(f->err, "chmod 600"));
        }
    }

    /* The read flag applies the same check. */
    uint8_t buf[4];
    size_t len;
    assert_int_equal(chmod(p, 0640), 0);
    assert_int_equal(
        fu_read_file(p, buf, sizeof buf, &len, FU_READ_PRIVATE, f->err, sizeof f->err),
        FU_E_PERM);
    assert_true(tu_has(f->err, "unprotected"));
    assert_int_equal(fu_read_file(p, buf, sizeof buf, &len, 0, f->err, sizeof f->err), FU_OK);
    assert_int_equal(chmod(p, 0600), 0);
    assert_int_equal(
        fu_read_file(p, buf, sizeof buf, &len, FU_READ_PRIVATE, f->err, sizeof f->err), FU_OK);

    path_in(f, p, sizeof p, "absent");
    assert_int_equal(fu_check_private(p, f->err, sizeof f->err), FU_E_NOENT);
    assert_true(tu_has(f->err, p));
}

/* ---- Paths ----------------------------------------------------------- */

static void test_join(void **state)
{
    fixture *f = *state;
    char out[16];
    assert_int_equal(fu_join(out, sizeof out, "/a", "b", f->err, sizeof f->err), FU_OK);
    assert_string_equal(out, "/a/b");
    assert_int_equal(fu_join(out, sizeof out, "/a/", "b", f->err, sizeof f->err), FU_OK);
    assert_string_equal(out, "/a/b");
    assert_int_equal(fu_join(out, sizeof out, "/", "b", f->err, sizeof f->err), FU_OK);
    assert_string_equal(out, "/b");
    assert_int_equal(fu_join(out, sizeof out, "/a", "", f->err, sizeof f->err), FU_OK);
    assert_string_equal(out, "/a");
    assert_int_equal(fu_join(out, sizeof out, "", "b", f->err, sizeof f->err), FU_OK);
    assert_string_equal(out, "b");
    assert_int_equal(fu_join(out, sizeof out, "/0123456789", "abcdef", f->err, sizeof f->err),
                     FU_E_INVAL);
    assert_string_equal(out, "");
    assert_true(tu_has(f->err, "too long"));
}

/* Save and restore one environment variable around a test. */
typedef struct saved_env {
    const char *name;
    char *value;
} saved_env;

static saved_env env_save(const char *name)
{
    saved_env s = {name, NULL};
    const char *v = getenv(name);
    if (v != NULL)
        s.value = strdup(v);
    return s;
}

static void env_restore(saved_env *s)
{
    if (s->value != NULL) {
        setenv(s->name, s->value, 1);
        free(s->value);
    } else {
        unsetenv(s->name);
    }
}

static void test_home(void **state)
{
    fixture *f = *state;
    saved_env h = env_save("HOME");
    char out[FU_PATH_MAX];

    setenv("HOME", "/some/where", 1);
    assert_int_equal(fu_home(out, sizeof out, f->err, sizeof f->err), FU_OK);
    assert_string_equal(out, "/some/where");

    char small[4];
    assert_int_equal(fu_home(small, sizeof small, f->err, sizeof f->err), FU_E_INVAL);

    /* Unset, empty or relative: the password database. */
    struct passwd *pw = getpwuid(getuid());
    const char *cases[] = {NULL, "", "relative/home"};
    for (size_t i = 0; i < 3; i++) {
        if (cases[i] == NULL)
            unsetenv("HOME");
        else
            setenv("HOME", cases[i], 1);
        int rc = fu_home(out, sizeof out, f->err, sizeof f->err);
        if (pw != NULL && pw->pw_dir != NULL && pw->pw_dir[0] == '/') {
            assert_int_equal(rc, FU_OK);
            assert_string_equal(out, pw->pw_dir);
        } else {
            assert_int_not_equal(rc, FU_OK);
            assert_true(tu_has(f->err, "home directory"));
        }
    }
    env_restore(&h);
}

static void test_xdg(void **state)
{
    fixture *f = *state;
    saved_env h = env_save("HOME");
    saved_env s = env_save("XDG_STATE_HOME");
    saved_env d = env_save("XDG_DATA_HOME");
    saved_env c = env_save("XDG_CONFIG_HOME");
    char out[FU_PATH_MAX];

    setenv("HOME", "/home/u", 1);
    unsetenv("XDG_STATE_HOME");
    unsetenv("XDG_DATA_HOME");
    setenv("XDG_CONFIG_HOME", "", 1);
    assert_int_equal(fu_xdg_dir(FU_XDG_STATE, "chatd", out, sizeof out, f->err, sizeof f->err),
                     FU_OK);
    assert_string_equal(out, "/home/u/.local/state/chatd");
    assert_int_equal(fu_xdg_dir(FU_XDG_DATA, "chatc", out, sizeof out, f->err, sizeof f->err),
                     FU_OK);
    assert_string_equal(out, "/home/u/.local/share/chatc");
    assert_int_equal(fu_xdg_dir(FU_XDG_CONFIG, "chatc", out, sizeof out, f->err, sizeof f->err),
                     FU_OK);
    assert_string_equal(out, "/home/u/.config/chatc");
    assert_int_equal(fu_xdg_dir(FU_XDG_CONFIG, NULL, out, sizeof out, f->err, sizeof f->err),
                     FU_OK);
    assert_string_equal(out, "/home/u/.config");

    setenv("XDG_STATE_HOME", "/var/st/", 1);
    setenv("XDG_DATA_HOME", "/data", 1);
    setenv("XDG_CONFIG_HOME", "not/absolute", 1); /* ignored, per the spec */
    assert_int_equal(fu_xdg_dir(FU_XDG_STATE, "chatd", out, sizeof out, f->err, sizeof f->err),
                     FU_OK);
    assert_string_equal(out, "/var/st/chatd");
    assert_int_equal(fu_xdg_dir(FU_XDG_DATA, "chatc", out, sizeof out, f->err, sizeof f->err),
                     FU_OK);
    assert_string_equal(out, "/data/chatc");
    assert_int_equal(fu_xdg_dir(FU_XDG_CONFIG, "chatc", out, sizeof out, f->err, sizeof f->err),
                     FU_OK);
    assert_string_equal(out, "/home/u/.config/chatc");

    char small[8];
    assert_int_equal(
        fu_xdg_dir(FU_XDG_DATA, "chatc", small, sizeof small, f->err, sizeof f->err),
        FU_E_INVAL);
    assert_int_equal(fu_xdg_dir((fu_xdg)42, "x", out, sizeof out, f->err, sizeof f->err),
                     FU_E_INVAL);

    env_restore(&h);
    env_restore(&s);
    env_restore(&d);
    env_restore(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_mkdir_p_creates_parents),
        T(test_mkdir_p_umask_applies),
        T(test_mkdir_p_file_in_the_way),
        T(test_mkdir_p_permission_denied),
        T(test_write_atomic_modes),
        T(test_write_atomic_replaces),
        T(test_write_atomic_relative_and_root_names),
        T(test_write_atomic_errors),
        T(test_write_atomic_readonly_dir),
        T(test_write_new),
        T(test_read_file_limits),
        T(test_read_file_errors),
        T(test_check_private),
        T(test_join),
        T(test_home),
        T(test_xdg),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
