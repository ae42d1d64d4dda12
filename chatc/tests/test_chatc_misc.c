/* Tests for chatc's small pure modules: the destination argument
 * (chatc/addr), the config file (chatc/config), the history and ignore
 * files (chatc/history, chatc/ignore) and the UTF-8 helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "addr.h"
#include "config.h"
#include "history.h"
#include "ignore.h"
#include "input.h"
#include "testutil.h"
#include "utf8.h"

static void test_addr(void **state)
{
    (void)state;
    chatc_addr a;
    char err[200];
    assert_int_equal(addr_parse("chat.example.org", &a, err, sizeof err), 0);
    assert_string_equal(a.host, "chat.example.org");
    assert_string_equal(a.user, "");
    assert_int_equal(a.port, 0);
    assert_int_equal(addr_parse("Alice@host:7000", &a, err, sizeof err), 0);
    assert_string_equal(a.user, "alice");
    assert_string_equal(a.host, "host");
    assert_int_equal(a.port, 7000);
    assert_int_equal(addr_parse("bob@[::1]:7447", &a, err, sizeof err), 0);
    assert_string_equal(a.host, "::1");
    assert_int_equal(a.port, 7447);
    assert_int_equal(addr_parse("[fe80::1%eth0]", &a, err, sizeof err), 0);
    assert_string_equal(a.host, "fe80::1%eth0");
    assert_int_equal(a.port, 0);
    assert_int_equal(addr_parse("::1", &a, err, sizeof err), 0); /* bare IPv6, no port */
    assert_string_equal(a.host, "::1");
    assert_int_equal(a.port, 0);
    assert_int_equal(addr_parse("127.0.0.1:1", &a, err, sizeof err), 0);
    assert_int_equal(a.port, 1);
    assert_int_equal(addr_parse("h:65535", &a, err, sizeof err), 0);

    static const char *const bad[] = {"",        "h:0",  "h:65536", "h:",     "h:x",
                                      "h:07447", "[::1", "[::1]x",  "[::1]:", "1bob@host",
                                      "@host",   "a b",  "h;rm",    "bob@",   "h:123456"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (addr_parse(bad[i], &a, err, sizeof err) == 0)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_true(strlen(err) > 0);
    }
}

static int parse_cfg(chatc_config *c, const char *text, char *err, size_t errlen)
{
    config_defaults(c);
    return config_parse(c, text, strlen(text), err, errlen);
}

static void test_config(void **state)
{
    (void)state;
    chatc_config c;
    char err[200];
    assert_int_equal(parse_cfg(&c, "", err, sizeof err), 0);
    assert_int_equal(c.bell, 1);
    assert_int_equal(c.trust, TRUST_ASK);
    assert_int_equal(c.trust_set, 0);
    assert_string_equal(c.timestamps, "%H:%M");
    assert_int_equal(c.paste_lines, 2);

    const char *text = "# chatc settings\n"
                       "\n"
                       "bell = off\n"
                       "  trust=accept-new  \r\n"
                       "colors = no\n"
                       "timestamps = \"[%H:%M:%S] \"\n"
                       "nicklist = false\n"
                       "history_size = 50\n"
                       "scrollback = 500\n"
                       "reconnect = 0\n"
                       "paste_lines = 0\n"
                       "user = Alice\n"
                       "kdf_opslimit = 3\n"
                       "kdf_memlimit_kib = 32768";
    assert_int_equal(parse_cfg(&c, text, err, sizeof err), 0);
    assert_int_equal(c.bell, 0);
    assert_int_equal(c.trust, TRUST_ACCEPT_NEW);
    assert_int_equal(c.trust_set, 1);
    assert_int_equal(c.colours, 0);
    assert_string_equal(c.timestamps, "[%H:%M:%S] ");
    assert_int_equal(c.nicklist, 0);
    assert_int_equal(c.history_size, 50);
    assert_int_equal(c.scrollback, 500);
    assert_int_equal(c.reconnect, 0);
    assert_int_equal(c.paste_lines, 0);
    assert_string_equal(c.user, "alice");
    assert_int_equal(c.kdf_opslimit, 3);
    assert_int_equal(c.kdf_memlimit_kib, 32768);
    assert_int_equal(parse_cfg(&c, "timestamps = off", err, sizeof err), 0);
    assert_string_equal(c.timestamps, "");

    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"bell = maybe", "line 1: invalid value 'maybe' for bell"},
        {"\n\nnope = 1", "line 3: unknown key 'nope'"},
        {"bell", "line 1: expected key = value"},
        {"trust = yes", "line 1: invalid value 'yes' for trust"},
        {"history_size = 0", "line 1: invalid value '0' for history_size"},
        {"history_size = -1", "line 1: invalid value '-1' for history_size"},
        {"scrollback = 5", "line 1: invalid value '5' for scrollback"},
        {"timestamps = HH:MM", "line 1: invalid value 'HH:MM' for timestamps"},
        {"user = 9lives", "line 1: invalid value '9lives' for user"},
        {"kdf_opslimit = 99999999999", "line 1: invalid value '99999999999' for kdf_opslimit"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse_cfg(&c, bad[i].text, err, sizeof err), -1);
        assert_string_equal(err, bad[i].msg);
    }
    trust_mode t;
    assert_int_equal(config_trust("strict", &t), 0);
    assert_int_equal(t, TRUST_STRICT);
    assert_string_equal(config_trust_name(TRUST_ACCEPT_NEW), "accept-new");
    assert_int_equal(config_trust("Strict", &t), -1);
}

typedef struct fixture {
    char dir[64];
    char path[128];
    char err[600];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL || tu_mkdtemp(f->dir, sizeof f->dir, "chatc-test") != 0) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/file", f->dir);
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

static void test_history_file(void **state)
{
    fixture *f = *state;
    history h;
    history_init(&h, 3);
    assert_int_equal(history_load(&h, f->path, f->err, sizeof f->err), 0); /* missing */
    assert_int_equal(h.n, 0);
    assert_int_equal(history_add(&h, "one"), 0);
    assert_int_equal(history_add(&h, "two ünï"), 0);
    assert_int_equal(history_add(&h, "three"), 0);
    assert_int_equal(history_add(&h, "four"), 0);
    assert_true(h.dirty);
    mode_t old = umask(0);
    assert_int_equal(history_save(&h, f->path, f->err, sizeof f->err), 0);
    umask(old);
    assert_false(h.dirty);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    history_free(&h);

    history_init(&h, 2); /* a smaller bound keeps the newest */
    assert_int_equal(history_load(&h, f->path, f->err, sizeof f->err), 0);
    assert_int_equal(h.n, 2);
    assert_string_equal(history_get(&h, 0), "four");
    assert_string_equal(history_get(&h, 1), "three");
    history_free(&h);

    /* Over-long lines are skipped when loading. */
    size_t big = INPUT_MAX + 10;
    char *text = malloc(big + 16);
    assert_non_null(text);
    memset(text, 'x', big);
    memcpy(text + big, "\nok\n", 5);
    assert_int_equal(tu_write(f->path, text, strlen(text), 0600), 0);
    free(text);
    history_init(&h, 10);
    assert_int_equal(history_load(&h, f->path, f->err, sizeof f->err), 0);
    assert_int_equal(h.n, 1);
    assert_string_equal(history_get(&h, 0), "ok");
    history_free(&h);
}

static void test_ignore_file(void **state)
{
    fixture *f = *state;
    ignore_list l;
    ignore_init(&l);
    assert_int_equal(ignore_load(&l, f->path, f->err, sizeof f->err), 0);
    assert_int_equal(ignore_add(&l, "Mallory"), 1);
    assert_int_equal(ignore_add(&l, "mallory"), 0);
    assert_int_equal(ignore_add(&l, "eve"), 1);
    assert_int_equal(ignore_add(&l, "not valid"), -1);
    assert_true(ignore_has(&l, "MALLORY", 7));
    assert_false(ignore_has(&l, "mallor", 6));
    assert_int_equal(ignore_save(&l, f->path, f->err, sizeof f->err), 0);
    ignore_list m;
    ignore_init(&m);
    assert_int_equal(ignore_load(&m, f->path, f->err, sizeof f->err), 0);
    assert_int_equal(m.n, 2);
    assert_true(ignore_has(&m, "eve", 3));
    assert_int_equal(ignore_remove(&m, "EVE"), 1);
    assert_int_equal(ignore_remove(&m, "eve"), 0);
    assert_false(ignore_has(&m, "eve", 3));
    /* Junk lines are skipped. */
    assert_int_equal(tu_write(f->path, "ok\n\n1bad\nalso ok\nfine\n", 22, 0600), 0);
    ignore_init(&m);
    assert_int_equal(ignore_load(&m, f->path, f->err, sizeof f->err), 0);
    assert_int_equal(m.n, 2);
}

static void test_utf8_helpers(void **state)
{
    (void)state;
    char b[4];
    uint32_t cp;
    assert_int_equal(u8_encode(0x41, b), 1);
    assert_int_equal(u8_encode(0xe9, b), 2);
    assert_int_equal(u8_encode(0x65e5, b), 3);
    assert_int_equal(u8_decode(b, 3, &cp), 3);
    assert_int_equal(cp, 0x65e5);
    assert_int_equal(u8_encode(0x1F600, b), 4);
    assert_int_equal(u8_encode(0xD800, b), 0);
    assert_int_equal(u8_encode(0x110000, b), 0);
    assert_int_equal(u8_decode("\xe6\x97", 2, &cp), 1); /* truncated */
    assert_int_equal(cp, 0xFFFD);
    assert_int_equal(u8_decode("\xc0\x80", 2, &cp), 1);
    assert_int_equal(cp, 0xFFFD);
    assert_int_equal(u8_prev("a日", 4), 1);
    assert_int_equal(u8_prev("a\x97", 2), 1); /* a stray continuation byte */
    assert_true(u8_cp_allowed('a'));
    assert_true(u8_cp_allowed(0x200E));
    assert_false(u8_cp_allowed(0x1b));
    assert_false(u8_cp_allowed(0x85));
    assert_false(u8_cp_allowed(0x2067));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr),
        cmocka_unit_test(test_config),
        cmocka_unit_test_setup_teardown(test_history_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ignore_file, setup, teardown),
        cmocka_unit_test(test_utf8_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
