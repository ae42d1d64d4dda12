/* Tests for common/known_hosts: host:port keys, line parsing, checking a
 * key (unknown, match, changed, malformed), and the file functions
 * (creation mode, appending, permissions). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sodium.h>

#include "known_hosts.h"
#include "testutil.h"

static uint8_t key_a[32], key_b[32];
static char b64_a[64], b64_b[64];

static int group_setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    for (int i = 0; i < 32; i++) {
        key_a[i] = (uint8_t)i;
        key_b[i] = (uint8_t)(0xA0 + i);
    }
    sodium_bin2base64(b64_a, sizeof b64_a, key_a, 32, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(b64_b, sizeof b64_b, key_b, 32, sodium_base64_VARIANT_ORIGINAL);
    return 0;
}

static void test_hostport(void **state)
{
    (void)state;
    char hp[KH_HOSTPORT_MAX + 1];
    assert_int_equal(kh_hostport(hp, sizeof hp, "Chat.Example.ORG", 7447), KH_OK);
    assert_string_equal(hp, "[chat.example.org]:7447");
    assert_int_equal(kh_hostport(hp, sizeof hp, "::1", 1), KH_OK);
    assert_string_equal(hp, "[::1]:1");
    assert_int_equal(kh_hostport(hp, sizeof hp, "fe80::1%eth0", 65535), KH_OK);
    assert_string_equal(hp, "[fe80::1%eth0]:65535");
    assert_int_equal(kh_hostport(hp, sizeof hp, "", 7447), KH_E_INVAL);
    assert_int_equal(kh_hostport(hp, sizeof hp, "a b", 7447), KH_E_INVAL);
    assert_int_equal(kh_hostport(hp, sizeof hp, "a]b", 7447), KH_E_INVAL);
    assert_int_equal(kh_hostport(hp, sizeof hp, "a\nb", 7447), KH_E_INVAL);
    assert_int_equal(kh_hostport(hp, sizeof hp, "host", 0), KH_E_INVAL);
    assert_int_equal(kh_hostport(hp, sizeof hp, "host", 65536), KH_E_INVAL);
    char small[8];
    assert_int_equal(kh_hostport(small, sizeof small, "longhost", 7447), KH_E_INVAL);
    assert_string_equal(small, "");
    char big[300];
    memset(big, 'a', 256);
    big[256] = '\0';
    assert_int_equal(kh_hostport(hp, sizeof hp, big, 7447), KH_E_INVAL);
}

static int parse(const char *line, char *host, uint8_t key[32])
{
    return kh_parse_line(line, strlen(line), host, key);
}

static void test_parse_line(void **state)
{
    (void)state;
    char host[KH_HOSTPORT_MAX + 1], line[300];
    uint8_t key[32];

    snprintf(line, sizeof line, "[Host.Example]:7447 x25519 %s", b64_a);
    assert_int_equal(parse(line, host, key), 1);
    assert_string_equal(host, "[host.example]:7447");
    assert_memory_equal(key, key_a, 32);

    /* Unpadded base64, tabs, a comment field, CRLF, leading blanks. */
    char unpadded[64];
    snprintf(unpadded, sizeof unpadded, "%s", b64_a);
    unpadded[strlen(unpadded) - 1] = '\0';
    snprintf(line, sizeof line, "  [::1]:9\tx25519\t%s  added by hand\r", unpadded);
    assert_int_equal(parse(line, host, key), 1);
    assert_string_equal(host, "[::1]:9");
    assert_memory_equal(key, key_a, 32);

    assert_int_equal(parse("", host, key), 0);
    assert_int_equal(parse("   \t ", host, key), 0);
    assert_int_equal(parse("# [h]:1 x25519 AAAA", host, key), 0);
    assert_int_equal(parse("  # indented comment", host, key), 0);

    /* Malformed, but the host field is recognisable. */
    snprintf(line, sizeof line, "[h]:1 ed25519 %s", b64_a);
    assert_int_equal(parse(line, host, key), -1);
    assert_string_equal(host, "[h]:1");
    assert_int_equal(parse("[h]:1 x25519", host, key), -1);
    assert_string_equal(host, "[h]:1");
    assert_int_equal(parse("[h]:1 x25519 AAAA", host, key), -1); /* 3 bytes */
    assert_int_equal(parse("[h]:1 x25519 !!!notbase64", host, key), -1);
    snprintf(line, sizeof line, "[h]:1 x25519 %sAAAA", b64_a); /* too long */
    assert_int_equal(parse(line, host, key), -1);
    assert_int_equal(parse("[h]:1", host, key), -1);

    /* Malformed host fields: not recognisable as any host. */
    static const char *const bad_hosts[] = {"h:1",       "[h]",        "[h]:", "[h]:0",
                                            "[h]:65536", "[h]:07447",  "[]:1", "[h]:1x",
                                            "[h h]:1",   "[h]:123456", "h"};
    for (size_t i = 0; i < sizeof bad_hosts / sizeof bad_hosts[0]; i++) {
        snprintf(line, sizeof line, "%s x25519 %s", bad_hosts[i], b64_a);
        assert_int_equal(parse(line, host, key), -1);
        assert_string_equal(host, "");
    }
}

static void check(const char *text, const char *hp, const uint8_t *key, kh_result *r)
{
    kh_check_text(text, strlen(text), hp, key, r);
}

static void test_check_text(void **state)
{
    (void)state;
    char text[2048];
    kh_result r;

    check("", "[h]:1", key_a, &r);
    assert_int_equal(r.status, KH_UNKNOWN);

    snprintf(text, sizeof text,
             "# pinned keys\n"
             "[other]:1 x25519 %s\n"
             "[h]:1 x25519 %s\n",
             b64_b, b64_a);
    check(text, "[h]:1", key_a, &r);
    assert_int_equal(r.status, KH_MATCH);
    assert_int_equal(r.line, 3);
    assert_int_equal(r.bad_lines, 0);

    /* Changed: the line and the pinned key are reported. */
    check(text, "[h]:1", key_b, &r);
    assert_int_equal(r.status, KH_CHANGED);
    assert_int_equal(r.line, 3);
    assert_memory_equal(r.pinned, key_a, 32);

    /* Another port is another server. */
    check(text, "[h]:2", key_b, &r);
    assert_int_equal(r.status, KH_UNKNOWN);

    /* Host names compare without case (the file may have been edited). */
    snprintf(text, sizeof text, "[H.Example]:1 x25519 %s\n", b64_a);
    check(text, "[h.example]:1", key_a, &r);
    assert_int_equal(r.status, KH_MATCH);

    /* Two lines for one host: any match wins; else the first is reported. */
    snprintf(text, sizeof text, "[h]:1 x25519 %s\n[h]:1 x25519 %s\n", b64_b, b64_a);
    check(text, "[h]:1", key_a, &r);
    assert_int_equal(r.status, KH_MATCH);
    assert_int_equal(r.line, 2);
    uint8_t key_c[32];
    memset(key_c, 7, sizeof key_c);
    check(text, "[h]:1", key_c, &r);
    assert_int_equal(r.status, KH_CHANGED);
    assert_int_equal(r.line, 1);
    assert_memory_equal(r.pinned, key_b, 32);

    /* Malformed lines about other hosts are skipped and counted. */
    snprintf(text, sizeof text, "garbage\n[x]:1 x25519 AAAA\n[h]:1 x25519 %s", b64_a);
    check(text, "[h]:1", key_a, &r);
    assert_int_equal(r.status, KH_MATCH);
    assert_int_equal(r.line, 3);
    assert_int_equal(r.bad_lines, 2);
    assert_int_equal(r.first_bad_line, 1);

    /* A malformed line about this host is refused, even with a match. */
    snprintf(text, sizeof text, "[h]:1 x25519 %s\n[h]:1 x25519 AAAA\n", b64_a);
    check(text, "[h]:1", key_a, &r);
    assert_int_equal(r.status, KH_MALFORMED);
    assert_int_equal(r.line, 2);
    check("[h]:1 rsa AAAA\n", "[h]:1", key_a, &r);
    assert_int_equal(r.status, KH_MALFORMED);
    assert_int_equal(r.line, 1);

    /* CRLF files and a last line without newline. */
    snprintf(text, sizeof text, "\r\n[h]:1 x25519 %s\r\n", b64_a);
    check(text, "[h]:1", key_a, &r);
    assert_int_equal(r.status, KH_MATCH);
    assert_int_equal(r.line, 2);
}

static void test_format_line(void **state)
{
    (void)state;
    char line[KH_LINE_MAX + 1], host[KH_HOSTPORT_MAX + 1], want[200];
    uint8_t key[32];
    assert_int_equal(kh_format_line(line, sizeof line, "[h]:1", key_a), KH_OK);
    snprintf(want, sizeof want, "[h]:1 x25519 %s", b64_a);
    assert_string_equal(line, want);
    assert_int_equal(parse(line, host, key), 1);
    assert_memory_equal(key, key_a, 32);
    char small[10];
    assert_int_equal(kh_format_line(small, sizeof small, "[h]:1", key_a), KH_E_INVAL);
}

/* ---- Files ------------------------------------------------------------ */

typedef struct fixture {
    char dir[64];
    char path[128];
    char err[600];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL || tu_mkdtemp(f->dir, sizeof f->dir, "kh-test") != 0) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/known_hosts", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int rc = tu_rm_rf(f->dir);
    free(f);
    return rc;
}

static void test_file_add_and_check(void **state)
{
    fixture *f = *state;
    kh_result r;
    assert_int_equal(kh_check_file(f->path, "[h]:1", key_a, &r, f->err, sizeof f->err), KH_OK);
    assert_int_equal(r.status, KH_UNKNOWN);

    mode_t old = umask(0);
    unsigned line = 0;
    assert_int_equal(kh_add(f->path, "[h]:1", key_a, &line, f->err, sizeof f->err), KH_OK);
    umask(old);
    assert_int_equal(line, 1);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    assert_int_equal(kh_add(f->path, "[g]:2", key_b, &line, f->err, sizeof f->err), KH_OK);
    assert_int_equal(line, 2);
    assert_int_equal(kh_check_file(f->path, "[g]:2", key_b, &r, f->err, sizeof f->err), KH_OK);
    assert_int_equal(r.status, KH_MATCH);
    assert_int_equal(r.line, 2);
    assert_int_equal(kh_check_file(f->path, "[h]:1", key_b, &r, f->err, sizeof f->err), KH_OK);
    assert_int_equal(r.status, KH_CHANGED);
    assert_int_equal(r.line, 1);

    /* The text is exactly two lines. */
    char buf[512], want[512];
    FILE *fp = fopen(f->path, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    snprintf(want, sizeof want, "[h]:1 x25519 %s\n[g]:2 x25519 %s\n", b64_a, b64_b);
    assert_string_equal(buf, want);
}

static void test_file_without_final_newline(void **state)
{
    fixture *f = *state;
    char text[200];
    snprintf(text, sizeof text, "# mine\n[h]:1 x25519 %s", b64_a);
    assert_int_equal(tu_write(f->path, text, strlen(text), 0600), 0);
    unsigned line = 0;
    assert_int_equal(kh_add(f->path, "[g]:2", key_b, &line, f->err, sizeof f->err), KH_OK);
    assert_int_equal(line, 3);
    kh_result r;
    assert_int_equal(kh_check_file(f->path, "[h]:1", key_a, &r, f->err, sizeof f->err), KH_OK);
    assert_int_equal(r.status, KH_MATCH);
    assert_int_equal(kh_check_file(f->path, "[g]:2", key_b, &r, f->err, sizeof f->err), KH_OK);
    assert_int_equal(r.status, KH_MATCH);
    assert_int_equal(r.line, 3);
}

static void test_file_writable_by_others_refused(void **state)
{
    fixture *f = *state;
    char text[200];
    snprintf(text, sizeof text, "[h]:1 x25519 %s\n", b64_a);
    assert_int_equal(tu_write(f->path, text, strlen(text), 0620), 0);
    assert_int_equal(chmod(f->path, 0620), 0);
    kh_result r;
    assert_int_equal(kh_check_file(f->path, "[h]:1", key_a, &r, f->err, sizeof f->err), KH_E_PERM);
    assert_non_null(strstr(f->err, "chmod 600"));
    assert_int_equal(kh_add(f->path, "[g]:1", key_a, NULL, f->err, sizeof f->err), KH_E_PERM);
    assert_int_equal(chmod(f->path, 0644), 0); /* readable is fine, as for OpenSSH */
    assert_int_equal(kh_check_file(f->path, "[h]:1", key_a, &r, f->err, sizeof f->err), KH_OK);
    assert_int_equal(r.status, KH_MATCH);
}

static void test_file_missing_directory(void **state)
{
    fixture *f = *state;
    char p[200];
    snprintf(p, sizeof p, "%s/nope/known_hosts", f->dir);
    kh_result r;
    assert_int_equal(kh_check_file(p, "[h]:1", key_a, &r, f->err, sizeof f->err), KH_OK);
    assert_int_equal(r.status, KH_UNKNOWN);
    assert_int_equal(kh_add(p, "[h]:1", key_a, NULL, f->err, sizeof f->err), KH_E_IO);
    assert_true(strlen(f->err) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostport),
        cmocka_unit_test(test_parse_line),
        cmocka_unit_test(test_check_text),
        cmocka_unit_test(test_format_line),
        cmocka_unit_test_setup_teardown(test_file_add_and_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_without_final_newline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_writable_by_others_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_missing_directory, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
