/* Unit tests of chatd's own modules: the config parser, the loop's hash
 * table and the log line format. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "config.h"
#include "log.h"
#include "table.h"
#include "testutil.h"

static char g_dir[64];

static int setup(void **state)
{
    (void)state;
    return tu_mkdtemp(g_dir, sizeof g_dir, "test_chatd_units");
}

static int teardown(void **state)
{
    (void)state;
    return tu_rm_rf(g_dir);
}

/* Build a config from file text (and overrides); the result code. */
static int build(chatd_config *c, const char *text, const chatd_overrides *ov, char *err,
                 size_t errlen)
{
    char path[128];
    snprintf(path, sizeof path, "%s/c.conf", g_dir);
    assert_int_equal(tu_write(path, text, strlen(text), 0600), 0);
    return chatd_config_build(c, path, 1, ov, err, errlen);
}

static void test_defaults(void **state)
{
    (void)state;
    chatd_config *c = malloc(sizeof *c);
    char err[512] = "";
    assert_int_equal(chatd_config_build(c, NULL, 0, NULL, err, sizeof err), CHATD_CFG_OK);
    assert_int_equal(c->port, 7447);
    assert_int_equal(c->nlisten, 0);
    assert_int_equal(c->max_connections, 1024);
    assert_int_equal(c->max_per_address, 16);
    assert_int_equal(c->login_timeout_ms, 30000);
    assert_int_equal(c->idle_timeout_ms, 300000);
    assert_int_equal(c->drain_timeout_ms, 10000);
    assert_int_equal(c->out_max, 1024 * 1024);
    assert_int_equal(c->history_len, 50);
    assert_int_equal(c->min_opslimit, CHAT_OPSLIMIT_DEFAULT);
    assert_int_equal(c->min_memlimit_kib, CHAT_MEMLIMIT_KIB_DEFAULT);
    assert_int_equal(c->nrooms, 1);
    assert_string_equal(c->rooms[0], "#lobby");
    assert_string_equal(c->motd_text, "");
    assert_int_equal(c->log_level, CHATD_LOG_INFO);
    /* A missing file is fine unless required. */
    assert_int_equal(chatd_config_build(c, "/nonexistent/x.conf", 0, NULL, err, sizeof err),
                     CHATD_CFG_OK);
    assert_int_equal(chatd_config_build(c, "/nonexistent/x.conf", 1, NULL, err, sizeof err),
                     CHATD_CFG_E_NOENT);
    assert_non_null(strstr(err, "/nonexistent/x.conf"));
    free(c);
}

static void test_values(void **state)
{
    (void)state;
    chatd_config *c = malloc(sizeof *c);
    char err[512] = "";
    const char *text = "# comment\n"
                       "   # indented comment\n"
                       "\n"
                       "port=0\n"
                       "  login_timeout = 500ms  \r\n"
                       "idle_timeout = 2m\n"
                       "drain_timeout = 1h\n"
                       "output_queue_max = 64K\n"
                       "default_rooms = #A,#b  #c #a\n"
                       "motd = \"  hello\\n\\\"world\\\" \\\\ \"\n"
                       "log_level = debug\n"
                       "listen = 127.0.0.1\n"
                       "listen = [::1]:9000\n"
                       "state_dir = rel/state\n"
                       "key_file = /abs/key\n";
    assert_int_equal(build(c, text, NULL, err, sizeof err), CHATD_CFG_OK);
    assert_int_equal(c->port, 0);
    assert_int_equal(c->login_timeout_ms, 500);
    assert_int_equal(c->idle_timeout_ms, 120000);
    assert_int_equal(c->drain_timeout_ms, 3600000);
    assert_int_equal(c->out_max, 65536);
    assert_int_equal(c->nrooms, 3);
    assert_string_equal(c->rooms[0], "#a");
    assert_string_equal(c->rooms[1], "#b");
    assert_string_equal(c->rooms[2], "#c");
    assert_string_equal(c->motd_text, "  hello\n\"world\" \\ ");
    assert_int_equal(c->log_level, CHATD_LOG_DEBUG);
    assert_int_equal(c->nlisten, 2);
    assert_string_equal(c->listen[1], "[::1]:9000");
    char want[160];
    snprintf(want, sizeof want, "%s/rel/state", g_dir);
    assert_string_equal(c->state_dir, want);
    assert_string_equal(c->key_file, "/abs/key");

    /* Overrides win; listen from flags replaces the file's. */
    chatd_overrides ov;
    memset(&ov, 0, sizeof ov);
    assert_int_equal(chatd_overrides_add(&ov, "port", "8000"), 0);
    assert_int_equal(chatd_overrides_add(&ov, "listen", "0.0.0.0"), 0);
    assert_int_equal(chatd_overrides_add(&ov, "default_rooms", ""), 0);
    assert_int_equal(build(c, text, &ov, err, sizeof err), CHATD_CFG_OK);
    assert_int_equal(c->port, 8000);
    assert_int_equal(c->nlisten, 1);
    assert_string_equal(c->listen[0], "0.0.0.0");
    assert_int_equal(c->nrooms, 0);

    /* motd_file replaces motd, without its trailing newline. */
    char motd[160], conf[256];
    snprintf(motd, sizeof motd, "%s/motd.txt", g_dir);
    assert_int_equal(tu_write(motd, "line 1\nline 2\n", 14, 0644), 0);
    snprintf(conf, sizeof conf, "motd = ignored\nmotd_file = motd.txt\n");
    assert_int_equal(build(c, conf, NULL, err, sizeof err), CHATD_CFG_OK);
    assert_string_equal(c->motd_text, "line 1\nline 2");
    free(c);
}

static void expect_error(const char *text, const char *msg)
{
    chatd_config *c = malloc(sizeof *c);
    char err[512] = "";
    assert_int_equal(build(c, text, NULL, err, sizeof err), CHATD_CFG_E_INVAL);
    if (strstr(err, msg) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", err, msg);
    free(c);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("port = 1\nfoo\n", "c.conf:2: expected \"key = value\"");
    expect_error("\n\nnope = 1\n", "c.conf:3: unknown setting \"nope\"");
    expect_error("port = 65536\n", "c.conf:1: port: 65536 is out of range (0 to 65535)");
    expect_error("port = -1\n", "not a whole number");
    expect_error("port = 12abc\n", "not a whole number");
    expect_error("port = 99999999999999999999999\n", "not a whole number");
    expect_error("idle_timeout = 5 min\n", "not a duration");
    expect_error("login_timeout = 0\n", "out of range");
    expect_error("output_queue_max = 1k\n", "out of range");
    expect_error("output_queue_max = 1T\n", "not a size");
    expect_error("max_connections = 0\n", "out of range");
    expect_error("log_level = loud\n", "not one of error, warn, info, debug");
    expect_error("listen = localhost\n", "is not an address");
    expect_error("listen = 1.2.3.4:99999\n", "is not an address");
    expect_error("listen = [::1\n", "is not an address");
    expect_error("default_rooms = lobby\n", "not a room name");
    expect_error("default_rooms = #9x\n", "not a room name");
    expect_error("motd = \"open\n", "missing closing quote");
    expect_error("motd = \"a\" b\n", "text after the closing quote");
    expect_error("motd = \"\\t\"\n", "unknown escape");
    expect_error("motd = a\x1b[2Jb\n", "motd: not valid UTF-8 text");
    expect_error("motd = \xff\xfe\n", "motd: not valid UTF-8 text");
    expect_error("min_opslimit = 0\n", "out of range");
    expect_error("min_memlimit_kib = 4\n", "out of range");
    char bin[] = "port = 1\n\0\n";
    chatd_config *c = malloc(sizeof *c);
    char path[128], err[512];
    snprintf(path, sizeof path, "%s/bin.conf", g_dir);
    assert_int_equal(tu_write(path, bin, sizeof bin - 1, 0600), 0);
    assert_int_equal(chatd_config_build(c, path, 1, NULL, err, sizeof err), CHATD_CFG_E_INVAL);
    assert_non_null(strstr(err, "NUL"));
    const char *nofile = "motd_file = /nonexistent/motd\n";
    assert_int_equal(build(c, nofile, NULL, err, sizeof err), CHATD_CFG_E_NOENT);
    assert_non_null(strstr(err, "motd_file: /nonexistent/motd does not exist"));
    free(c);
}

static void test_listen_parse(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    socklen_t sl;
    int any;
    assert_int_equal(chatd_parse_listen("*", 7447, &ss, &sl, &any), 0);
    assert_int_equal(any, 1);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 7447);
    assert_int_equal(chatd_parse_listen("*:9", 7447, &ss, &sl, &any), 0);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 9);
    assert_int_equal(chatd_parse_listen("127.0.0.1", 5, &ss, &sl, &any), 0);
    assert_int_equal(any, 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(sl, sizeof(struct sockaddr_in));
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 5);
    assert_int_equal(chatd_parse_listen("10.0.0.1:80", 5, &ss, &sl, &any), 0);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 80);
    assert_int_equal(chatd_parse_listen("::1", 5, &ss, &sl, &any), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 5);
    assert_int_equal(chatd_parse_listen("[fe80::1]:0", 5, &ss, &sl, &any), 0);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 0);
    assert_int_equal(chatd_parse_listen("", 5, &ss, &sl, &any), -1);
    assert_int_equal(chatd_parse_listen("[::1]x", 5, &ss, &sl, &any), -1);
    assert_int_equal(chatd_parse_listen("1.2.3", 5, &ss, &sl, &any), -1);
    assert_int_equal(chatd_parse_listen("1.2.3.4:", 5, &ss, &sl, &any), -1);
    assert_int_equal(chatd_parse_listen("host.example:1", 5, &ss, &sl, &any), -1);
}

static void test_print_and_diff(void **state)
{
    (void)state;
    chatd_config *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    char err[512];
    assert_int_equal(build(a, "port = 1\nmotd = x\n", NULL, err, sizeof err), CHATD_CFG_OK);
    assert_int_equal(build(b, "port = 2\nmotd = y\nmax_connections = 5\nhistory_length = 7\n"
                              "default_rooms = #x\n",
                           NULL, err, sizeof err),
                     CHATD_CFG_OK);
    char diff[256];
    chatd_config_restart_diff(a, b, diff, sizeof diff);
    assert_string_equal(diff, "port,history_length,default_rooms");
    chatd_config_restart_diff(a, a, diff, sizeof diff);
    assert_string_equal(diff, "");

    /* What check-config prints reads back to the same configuration. */
    char path[128];
    snprintf(path, sizeof path, "%s/printed.conf", g_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    chatd_config_print(b, f);
    fclose(f);
    chatd_config *c = malloc(sizeof *c);
    assert_int_equal(chatd_config_build(c, path, 1, NULL, err, sizeof err), CHATD_CFG_OK);
    chatd_config_restart_diff(b, c, diff, sizeof diff);
    assert_string_equal(diff, "");
    assert_string_equal(c->motd_text, "y");
    assert_int_equal(c->max_connections, 5);
    free(a);
    free(b);
    free(c);
}

/* The table against a plain array, through growth and deletions. */
static void test_table(void **state)
{
    (void)state;
    enum { N = 3000 };
    chatd_table t;
    chatd_table_init(&t);
    static uint8_t keys[N][CHATD_TABLE_KEY];
    static int present[N];
    for (int i = 0; i < N; i++) {
        memset(keys[i], 0, CHATD_TABLE_KEY);
        uint64_t id = (uint64_t)i * 7919u + 1u;
        memcpy(keys[i] + 1, &id, sizeof id);
        present[i] = 0;
    }
    uint32_t rnd = 12345;
    for (int round = 0; round < 20000; round++) {
        rnd = rnd * 1103515245u + 12345u;
        int i = (int)((rnd >> 8) % N);
        chatd_slot *s = chatd_table_find(&t, keys[i]);
        assert_int_equal(s != NULL, present[i]);
        if (present[i] && (rnd & 1)) {
            assert_int_equal(s->n, (uint32_t)i);
            chatd_table_erase(&t, s);
            present[i] = 0;
        } else if (!present[i]) {
            s = chatd_table_insert(&t, keys[i]);
            assert_non_null(s);
            assert_null(s->ptr);
            s->n = (uint32_t)i;
            present[i] = 1;
        }
    }
    size_t count = 0;
    for (int i = 0; i < N; i++) {
        chatd_slot *s = chatd_table_find(&t, keys[i]);
        assert_int_equal(s != NULL, present[i]);
        if (s != NULL)
            assert_int_equal(s->n, (uint32_t)i);
        count += (size_t)present[i];
    }
    assert_int_equal(t.count, count);
    chatd_table_free(&t);
}

/* The id map against a plain array, through growth, deletions and the
 * shrink back once most entries are gone. */
typedef struct idobj {
    int tag;
    uint64_t id;
} idobj;

static void test_idmap(void **state)
{
    (void)state;
    enum { N = 3000 };
    static idobj objs[N];
    static int present[N];
    chatd_idmap m;
    chatd_idmap_init(&m, offsetof(idobj, id));
    assert_null(chatd_idmap_find(&m, 1));
    for (int i = 0; i < N; i++) {
        objs[i].tag = i;
        objs[i].id = (uint64_t)i + 1u; /* sequential, like the hub's */
        present[i] = 0;
    }
    uint32_t rnd = 777;
    for (int round = 0; round < 40000; round++) {
        rnd = rnd * 1103515245u + 12345u;
        int i = (int)((rnd >> 8) % N);
        idobj *o = chatd_idmap_find(&m, objs[i].id);
        assert_int_equal(o != NULL, present[i]);
        if (present[i]) {
            assert_ptr_equal(o, &objs[i]);
            if (rnd & 1) {
                chatd_idmap_erase(&m, o);
                present[i] = 0;
            }
        } else {
            assert_int_equal(chatd_idmap_insert(&m, &objs[i]), 0);
            present[i] = 1;
        }
    }
    size_t count = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(chatd_idmap_find(&m, objs[i].id) != NULL, present[i]);
        count += (size_t)present[i];
    }
    assert_int_equal(m.count, count);
    /* Erasing what is not there changes nothing. */
    idobj stranger = {0, 999999};
    chatd_idmap_erase(&m, &stranger);
    assert_int_equal(m.count, count);
    for (int i = 0; i < N; i++)
        if (present[i])
            chatd_idmap_erase(&m, &objs[i]);
    assert_int_equal(m.count, 0);
    assert_true(m.cap <= 64);
    chatd_idmap_free(&m);
}

/* Log lines: format, level filter, escaping of anything unprintable. */
static void test_log(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/log.txt", g_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    int saved = dup(2);
    dup2(fd, 2);
    chatd_log_set_level(CHATD_LOG_INFO);
    chatd_log(CHATD_LOG_INFO, 42, "127.0.0.1:5", "login user=%s", "alice");
    chatd_log(CHATD_LOG_DEBUG, 0, NULL, "hidden");
    chatd_log(CHATD_LOG_WARN, 0, NULL, "evil=%s", "a\x1b[2J\nb\\");
    dup2(saved, 2);
    close(saved);
    close(fd);
    char buf[1024];
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *second = strchr(buf, '\n');
    assert_non_null(second);
    *second++ = '\0';
    /* 2025-01-01T00:00:00.000Z */
    assert_true(strlen(buf) > 25 && buf[4] == '-' && buf[10] == 'T' && buf[23] == 'Z');
    assert_string_equal(buf + 24, " info conn=42 peer=127.0.0.1:5 login user=alice");
    assert_string_equal(second + 24, " warn conn=- peer=- evil=a\\x1b[2J\\x0ab\\x5c\n");
    chatd_log_level l;
    assert_int_equal(chatd_log_level_parse("warning", &l), 0);
    assert_int_equal(l, CHATD_LOG_WARN);
    assert_int_equal(chatd_log_level_parse("verbose", &l), -1);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),     cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors),       cmocka_unit_test(test_listen_parse),
        cmocka_unit_test(test_print_and_diff), cmocka_unit_test(test_table),
        cmocka_unit_test(test_idmap),
        cmocka_unit_test(test_log),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
