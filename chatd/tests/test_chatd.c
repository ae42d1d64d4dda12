/* End-to-end tests of the chatd executable: a real chatd process per test,
 * on 127.0.0.1 and an ephemeral port (--port 0, read from --port-file), in
 * a temporary state directory, driven by libchat clients over TCP
 * (tcp_client.c) and by its command line.
 *
 * Usage: test_chatd /path/to/chatd [cmocka test name filter] */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <sodium.h>

#include "chat/chat.h"
#include "keyfile.h"
#include "tcp_client.h"
#include "testutil.h"

static const char *g_chatd; /* path of the chatd under test */

#define ADMIN_PW "admin-secret-canary-7f3a"
#define T_LOGIN 10000 /* ms: generous for sanitizer builds */
#define T_LINE 5000

/* ---------------------------------------------------------------------
 * A chatd instance
 * ------------------------------------------------------------------- */

typedef struct inst {
    char dir[64];
    char state[128], conf[128], pwfile[128], portfile[128], log[128];
    pid_t pid;
    unsigned port;
} inst;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void write_text(const char *path, const char *text)
{
    assert_int_equal(tu_write(path, text, strlen(text), 0600), 0);
}

static const char base_conf[] = "# written by test_chatd\n"
                                "min_opslimit = 1\n"
                                "min_memlimit_kib = 8\n"
                                "max_connections_per_address = 16\n";

/* Fill in paths in a new temporary directory. */
static void inst_init(inst *in, const char *extra_conf)
{
    memset(in, 0, sizeof *in);
    assert_int_equal(tu_mkdtemp(in->dir, sizeof in->dir, "test_chatd"), 0);
    snprintf(in->state, sizeof in->state, "%s/state", in->dir);
    snprintf(in->conf, sizeof in->conf, "%s/chatd.conf", in->dir);
    snprintf(in->pwfile, sizeof in->pwfile, "%s/admin.pw", in->dir);
    snprintf(in->portfile, sizeof in->portfile, "%s/port", in->dir);
    snprintf(in->log, sizeof in->log, "%s/chatd.log", in->dir);
    char conf[2048];
    snprintf(conf, sizeof conf, "%s%s", base_conf, extra_conf != NULL ? extra_conf : "");
    write_text(in->conf, conf);
    write_text(in->pwfile, ADMIN_PW "\n");
}

/* Run chatd with argv (chatd's own path first is added) in a child;
 * stdout to out_path (or /dev/null), stderr appended to err_path. With
 * new_session the child has no controlling terminal. */
static pid_t spawn(char *const *args, const char *out_path, const char *err_path, int new_session,
                   mode_t mask)
{
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)g_chatd;
    for (int i = 0; args[i] != NULL && n < 62; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        /* Die with the test: a failed assertion or a ctest timeout must
         * not leave a server running. */
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (new_session)
            (void)setsid();
        umask(mask);
        int in = open("/dev/null", O_RDONLY);
        int out = open(out_path != NULL ? out_path : "/dev/null",
                       O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(err_path != NULL ? err_path : "/dev/null",
                       O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (in < 0 || out < 0 || err < 0)
            _exit(127);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        execv(g_chatd, argv);
        _exit(127);
    }
    return pid;
}

/* Wait for pid to exit within timeout_ms; its exit status, 128+signal, or
 * -1 on timeout (then it is killed). */
static int wait_exit(pid_t pid, int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (now_ms() >= end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        sleep_ms(10);
    }
}

/* Run chatd to completion; output (stdout then stderr) into out. */
static int run_cmd(const inst *in, char *out, size_t cap, const char *a0, ...)
{
    char *args[32];
    int n = 0;
    va_list ap;
    va_start(ap, a0);
    for (const char *a = a0; a != NULL && n < 31; a = va_arg(ap, const char *))
        args[n++] = (char *)a;
    va_end(ap);
    args[n] = NULL;
    char op[160], ep[160];
    snprintf(op, sizeof op, "%s/cmd.out", in->dir);
    snprintf(ep, sizeof ep, "%s/cmd.err", in->dir);
    unlink(ep);
    pid_t pid = spawn(args, op, ep, 1, 022);
    assert_true(pid > 0);
    int rc = wait_exit(pid, 30000);
    if (out != NULL) {
        size_t len = 0;
        out[0] = '\0';
        const char *files[2] = {op, ep};
        for (int i = 0; i < 2; i++) {
            FILE *f = fopen(files[i], "r");
            if (f == NULL)
                continue;
            len += fread(out + len, 1, cap - 1 - len, f);
            fclose(f);
        }
        out[len] = '\0';
    }
    return rc;
}

static int file_contains(const char *path, const char *needle)
{
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    FILE *f = fopen(path, "r");
    size_t n = 0;
    if (f != NULL) {
        n = fread(buf, 1, (1 << 20) - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    int found = strstr(buf, needle) != NULL;
    free(buf);
    return found;
}

static void dump_log(const inst *in)
{
    FILE *f = fopen(in->log, "r");
    if (f == NULL)
        return;
    char line[1024];
    fprintf(stderr, "---- chatd log (%s)\n", in->log);
    while (fgets(line, sizeof line, f) != NULL)
        fprintf(stderr, "  %s", line);
    fclose(f);
}

/* Wait until the log holds needle. */
static int wait_log(const inst *in, const char *needle, int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    while (!file_contains(in->log, needle)) {
        if (now_ms() >= end) {
            dump_log(in);
            return -1;
        }
        sleep_ms(20);
    }
    return 0;
}

/* Start chatd on 127.0.0.1:0 with extra arguments; waits for the port. */
static int inst_start_args(inst *in, mode_t mask, char *const *extra)
{
    char *args[48];
    int n = 0;
    const char *fixed[] = {"--config", in->conf, "--state-dir", in->state, "--listen",
                           "127.0.0.1", "--port", "0", "--port-file", in->portfile,
                           "--log-level", "debug", NULL};
    for (int i = 0; fixed[i] != NULL; i++)
        args[n++] = (char *)fixed[i];
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 46; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    unlink(in->portfile);
    in->port = 0;
    in->pid = spawn(args, NULL, in->log, 1, mask);
    if (in->pid <= 0)
        return -1;
    uint64_t end = now_ms() + 15000;
    while (now_ms() < end) {
        FILE *f = fopen(in->portfile, "r");
        if (f != NULL) {
            unsigned p = 0;
            int ok = fscanf(f, "%u", &p) == 1;
            fclose(f);
            if (ok && p > 0) {
                in->port = p;
                return 0;
            }
        }
        int st;
        if (waitpid(in->pid, &st, WNOHANG) == in->pid) {
            in->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        sleep_ms(10);
    }
    dump_log(in);
    return -1;
}

static void inst_start(inst *in)
{
    char *extra[] = {"--admin-password-file", in->pwfile, NULL};
    int rc = inst_start_args(in, 077, extra);
    if (rc != 0)
        dump_log(in);
    assert_int_equal(rc, 0);
}

/* Send sig and wait for the exit status. */
static int inst_stop(inst *in, int sig)
{
    if (in->pid <= 0)
        return -1;
    if (sig != 0)
        kill(in->pid, sig);
    int rc = wait_exit(in->pid, 15000);
    in->pid = 0;
    return rc;
}

static void inst_cleanup(inst *in)
{
    if (in->pid > 0) {
        kill(in->pid, SIGKILL);
        waitpid(in->pid, NULL, 0);
        in->pid = 0;
    }
    if (in->dir[0] != '\0')
        tu_rm_rf(in->dir);
}

/* A logged-in client, or a failed test. */
static tc *login(const inst *in, const char *user, const char *pw)
{
    tc *t = tc_new(in->port, user, pw, 0);
    assert_non_null(t);
    if (tc_login(t, T_LOGIN) != 0) {
        tc_dump(t, user);
        dump_log(in);
        fail_msg("login of %s failed", user);
    }
    return t;
}

/* A request on t's session, written at once. */
#define REQ(t, call)                                                                          \
    do {                                                                                      \
        assert_int_equal((call), CHAT_OK);                                                    \
        tc_flush(t);                                                                          \
    } while (0)

#define WAIT(t, who, prefix)                                                                  \
    do {                                                                                      \
        if (tc_wait((t), (prefix), T_LINE) == NULL) {                                         \
            tc_dump((t), (who));                                                              \
            fail_msg("%s: no line \"%s\"", (who), (prefix));                                  \
        }                                                                                     \
    } while (0)

static void add_user(const inst *in, tc *admin, const char *name, const char *pw, chat_role role)
{
    uint32_t req;
    REQ(admin, chat_client_add_user(tc_client(admin), name, role, (const uint8_t *)pw,
                                          strlen(pw), 1, 8, &req));
    char want[32];
    snprintf(want, sizeof want, "ok req=%u", (unsigned)req);
    (void)in;
    WAIT(admin, "admin", want);
}

/* ---------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------- */

/* Admin login, a user added over the protocol, room chat, a private
 * message, the fingerprint subcommand, and a log free of secrets. */
static void test_chat(void **state)
{
    (void)state;
    inst in;
    inst_init(&in, "motd = \"Welcome to the test\"\n");
    inst_start(&in);
    tc *admin = login(&in, "admin", ADMIN_PW);
    WAIT(admin, "admin", "joined #lobby admin");
    add_user(&in, admin, "bob", "bob-pw-canary", CHAT_ROLE_USER);

    tc *bob = login(&in, "bob", "bob-pw-canary");
    WAIT(bob, "bob", "joined #lobby bob");
    WAIT(admin, "admin", "joined #lobby bob");
    WAIT(bob, "bob", "names ");

    uint32_t req;
    REQ(admin, chat_client_say(tc_client(admin), "#lobby", "hello room text-canary",
                                     CHAT_KIND_SAY, &req));
    WAIT(bob, "bob", "message #lobby <admin> seq=1 hello room text-canary");
    WAIT(admin, "admin", "message #lobby <admin> seq=1 hello room");

    REQ(bob, chat_client_say(tc_client(bob), "admin", "psst private-canary",
                                     CHAT_KIND_SAY, &req));
    WAIT(admin, "admin", "message admin <bob> seq=0 psst private-canary");
    WAIT(bob, "bob", "message admin <bob> seq=0 psst");

    /* A second room. */
    REQ(bob, chat_client_join(tc_client(bob), "#dev", &req));
    WAIT(bob, "bob", "joined #dev bob");
    REQ(bob, chat_client_say(tc_client(bob), "#dev", "me too", CHAT_KIND_ACTION, &req));
    WAIT(bob, "bob", "action #dev <bob> seq=1 me too");

    /* The fingerprint the client saw is the one chatd prints. */
    char out[4096], want[128];
    assert_int_equal(run_cmd(&in, out, sizeof out, "fingerprint", "--state-dir", in.state, NULL),
                     0);
    snprintf(want, sizeof want, "%s\n", tc_fingerprint(admin));
    assert_string_equal(out, want);

    tc_free(bob);
    tc_free(admin);
    assert_int_equal(wait_log(&in, "closed user=bob code=CONN_LOST by=peer", T_LINE), 0);
    assert_int_equal(inst_stop(&in, SIGTERM), 0);
    /* One line per event, and never a password or message text. */
    assert_true(file_contains(in.log, "login user=admin role=admin"));
    assert_true(file_contains(in.log, "admin action=ADD_USER user=admin target=bob"));
    assert_false(file_contains(in.log, "canary"));
    inst_cleanup(&in);
}

/* Every admin action; a plain user is refused them; SHUTDOWN stops the
 * server after telling every client. */
static void test_admin_actions(void **state)
{
    (void)state;
    inst in;
    inst_init(&in, NULL);
    inst_start(&in);
    tc *admin = login(&in, "admin", ADMIN_PW);
    add_user(&in, admin, "bob", "bob-pw", CHAT_ROLE_USER);
    add_user(&in, admin, "carol", "carol-pw", CHAT_ROLE_USER);
    add_user(&in, admin, "dave", "dave-pw", CHAT_ROLE_ADMIN);
    tc *bob = login(&in, "bob", "bob-pw");
    tc *carol = login(&in, "carol", "carol-pw");
    tc *dave = login(&in, "dave", "dave-pw");

    /* USERS */
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_USERS;
    uint32_t req;
    REQ(admin, chat_client_request(tc_client(admin), &m, &req));
    char want[128];
    snprintf(want, sizeof want,
             "users req=%u: admin:admin:online bob:user:online carol:user:online "
             "dave:admin:online",
             (unsigned)req);
    WAIT(admin, "admin", want);

    /* A plain user may not. */
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_USERS;
    REQ(bob, chat_client_request(tc_client(bob), &m, &req));
    snprintf(want, sizeof want, "error req=%u NOT_ALLOWED", (unsigned)req);
    WAIT(bob, "bob", want);

    /* KICK bob */
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_KICK;
    m.u.kick.user.p = (const uint8_t *)"bob";
    m.u.kick.user.n = 3;
    m.u.kick.reason.p = (const uint8_t *)"be nice";
    m.u.kick.reason.n = 7;
    REQ(admin, chat_client_request(tc_client(admin), &m, &req));
    WAIT(bob, "bob", "closed by-server KICKED be nice");
    WAIT(carol, "carol", "parted #lobby bob KICKED");

    /* DEL_USER carol: she is disconnected and cannot log in again. */
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_DEL_USER;
    m.u.del_user.user.p = (const uint8_t *)"carol";
    m.u.del_user.user.n = 5;
    REQ(admin, chat_client_request(tc_client(admin), &m, &req));
    WAIT(carol, "carol", "closed by-server DELETED");
    tc *carol2 = tc_new(in.port, "carol", "carol-pw", 0);
    assert_non_null(carol2);
    WAIT(carol2, "carol2", "login-failed BAD_LOGIN");

    /* PASSWD for the admin's own account works; the old password then fails. */
    REQ(dave, chat_client_passwd(tc_client(dave), (const uint8_t *)"dave-new", 8, 1, 8,
                                        &req));
    snprintf(want, sizeof want, "ok req=%u", (unsigned)req);
    WAIT(dave, "dave", want);

    /* SHUTDOWN from dave: everyone gets the notice, chatd exits 0. */
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_SHUTDOWN;
    m.u.shutdown.reason.p = (const uint8_t *)"maintenance";
    m.u.shutdown.reason.n = 11;
    REQ(dave, chat_client_request(tc_client(dave), &m, &req));
    WAIT(dave, "dave", "closed by-server SHUTDOWN maintenance");
    WAIT(admin, "admin", "closed by-server SHUTDOWN maintenance");
    WAIT(carol2, "carol2", "closed by-server SHUTDOWN maintenance");
    assert_int_equal(inst_stop(&in, 0), 0);
    assert_true(file_contains(in.log, "admin action=KICK user=admin target=bob"));
    assert_true(file_contains(in.log, "admin action=DEL_USER user=admin target=carol"));
    assert_true(file_contains(in.log, "shutdown by=dave"));
    assert_true(file_contains(in.log, "stopped status=0"));
    tc_free(admin);
    tc_free(bob);
    tc_free(carol);
    tc_free(carol2);
    tc_free(dave);
    inst_cleanup(&in);
}

/* A wrong password fails (and is logged without the password); the right
 * one on the same connection then works. */
static void test_wrong_password(void **state)
{
    (void)state;
    inst in;
    inst_init(&in, NULL);
    inst_start(&in);
    tc *t = tc_new(in.port, "admin", "wrong-canary", 0);
    assert_non_null(t);
    WAIT(t, "admin", "login-failed BAD_LOGIN left=2");
    tc_set_password(t, ADMIN_PW);
    REQ(t, chat_client_login(tc_client(t), "admin"));
    assert_int_equal(tc_login(t, T_LOGIN), 0);
    /* An unknown user fails the same way. */
    tc *u = tc_new(in.port, "nobody", "x", 0);
    assert_non_null(u);
    WAIT(u, "nobody", "login-failed BAD_LOGIN left=2");
    assert_int_equal(wait_log(&in, "login-failed user=nobody code=BAD_LOGIN", T_LINE), 0);
    assert_true(file_contains(in.log, "login-failed user=admin code=BAD_LOGIN"));
    assert_false(file_contains(in.log, "canary"));
    tc_free(u);
    tc_free(t);
    assert_int_equal(inst_stop(&in, SIGTERM), 0);
    inst_cleanup(&in);
}

/* SIGTERM and SIGINT: every client gets GOODBYE(SHUTDOWN), chatd exits 0. */
static void stop_by_signal(int sig)
{
    inst in;
    inst_init(&in, NULL);
    inst_start(&in);
    tc *a = login(&in, "admin", ADMIN_PW);
    tc *b = tc_new(in.port, "admin", ADMIN_PW, 0); /* still logging in */
    assert_non_null(b);
    WAIT(b, "second", "login-failed ALREADY_ONLINE");
    assert_int_equal(inst_stop(&in, sig), 0);
    WAIT(a, "admin", "closed by-server SHUTDOWN");
    WAIT(b, "second", "closed by-server SHUTDOWN");
    assert_true(file_contains(in.log, "shutdown by=signal"));
    assert_true(file_contains(in.log, "stopped status=0"));
    tc_free(a);
    tc_free(b);
    inst_cleanup(&in);
}

static void test_sigterm(void **state)
{
    (void)state;
    stop_by_signal(SIGTERM);
}

static void test_sigint(void **state)
{
    (void)state;
    stop_by_signal(SIGINT);
}

/* SIGHUP reloads the MOTD: new logins see the new one. A bad config on
 * reload keeps the running one. */
static void test_sighup(void **state)
{
    (void)state;
    inst in;
    inst_init(&in, "motd = first motd\n");
    inst_start(&in);
    tc *a = tc_new(in.port, "admin", ADMIN_PW, 0);
    assert_non_null(a);
    assert_non_null(tc_wait(a, "welcome admin admin motd=first motd", T_LOGIN));
    tc_free(a);

    char conf[512];
    snprintf(conf, sizeof conf, "%smotd = \"second motd\"\n", base_conf);
    write_text(in.conf, conf);
    kill(in.pid, SIGHUP);
    assert_int_equal(wait_log(&in, "reloaded config=", T_LINE), 0);
    tc *b = tc_new(in.port, "admin", ADMIN_PW, 0);
    assert_non_null(b);
    assert_non_null(tc_wait(b, "welcome admin admin motd=second motd", T_LOGIN));
    tc_free(b);

    /* A broken file: logged, the old configuration stays. */
    snprintf(conf, sizeof conf, "%smotd = third\nbogus line\n", base_conf);
    write_text(in.conf, conf);
    kill(in.pid, SIGHUP);
    assert_int_equal(wait_log(&in, "reload-failed", T_LINE), 0);
    assert_true(file_contains(in.log, "chatd.conf:6: expected"));
    tc *c = tc_new(in.port, "admin", ADMIN_PW, 0);
    assert_non_null(c);
    assert_non_null(tc_wait(c, "welcome admin admin motd=second motd", T_LOGIN));
    tc_free(c);

    /* Front-end limits are reloaded too; settings that need a restart are
     * named in the log. */
    snprintf(conf, sizeof conf,
             "min_opslimit = 1\nmin_memlimit_kib = 8\nmax_connections_per_address = 1\n"
             "history_length = 10\n");
    write_text(in.conf, conf);
    kill(in.pid, SIGHUP);
    assert_int_equal(wait_log(&in, "max_connections_per_address=1 ", T_LINE), 0);
    assert_true(file_contains(in.log, "reload-partial restart-needed=history_length"));
    tc *d = login(&in, "admin", ADMIN_PW);
    tc *e = tc_new(in.port, "admin", ADMIN_PW, 0);
    assert_non_null(e);
    WAIT(e, "second", "rejected SERVER_FULL");
    tc_free(e);
    tc_free(d);
    assert_int_equal(inst_stop(&in, SIGTERM), 0);
    inst_cleanup(&in);
}

/* A reader that stops reading while the room floods is disconnected with
 * TOO_SLOW; the others keep receiving. */
static void test_slow_reader(void **state)
{
    (void)state;
    inst in;
    inst_init(&in, "output_queue_max = 64K\ndrain_timeout = 1s\n");
    inst_start(&in);
    tc *admin = login(&in, "admin", ADMIN_PW);
    add_user(&in, admin, "slow", "slow-pw", CHAT_ROLE_USER);
    add_user(&in, admin, "watch", "watch-pw", CHAT_ROLE_USER);
    tc *slow = tc_new(in.port, "slow", "slow-pw", 4096);
    assert_non_null(slow);
    assert_int_equal(tc_login(slow, T_LOGIN), 0);
    WAIT(slow, "slow", "names ");
    tc *watch = login(&in, "watch", "watch-pw");
    WAIT(watch, "watch", "names ");

    /* From here slow never reads. */
    char text[CHAT_TEXT_MAX + 1];
    memset(text, 'x', CHAT_TEXT_MAX);
    text[CHAT_TEXT_MAX] = '\0';
    int kicked = 0;
    uint64_t end = now_ms() + 20000;
    for (int i = 0; i < 20000 && !kicked && now_ms() < end; i++) {
        uint32_t req;
        if (chat_client_say(tc_client(admin), "#lobby", text, CHAT_KIND_SAY, &req) != CHAT_OK) {
            tc_dump(admin, "admin");
            dump_log(&in);
            fail_msg("flood %d", i);
        }
        tc_flush(admin);
        (void)tc_pump(admin, 0);
        (void)tc_pump(watch, 0);
        if (i % 16 == 0) {
            const char *l;
            (void)tc_pump(admin, 1);
            (void)tc_pump(watch, 1);
            while ((l = tc_wait(admin, "parted #lobby slow", 0)) != NULL)
                kicked = strstr(l, "TOO_SLOW") != NULL;
        }
    }
    if (!kicked) {
        dump_log(&in);
        fail_msg("slow reader not disconnected");
    }
    WAIT(watch, "watch", "parted #lobby slow TOO_SLOW");
    /* The others still get everything. */
    uint32_t req;
    REQ(admin, chat_client_say(tc_client(admin), "#lobby", "still here", CHAT_KIND_SAY, &req));
    const char *l;
    do
        l = tc_wait(watch, "message #lobby <admin> seq=", T_LINE);
    while (l != NULL && strstr(l, "still here") == NULL);
    assert_non_null(l);

    /* The slow socket is closed by the server within the drain timeout:
     * reading it now ends in EOF or a reset. */
    int fd = tc_fd(slow);
    int closed = 0;
    uint64_t stop = now_ms() + 10000;
    char buf[65536];
    while (!closed && now_ms() < stop) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 200) <= 0)
            continue;
        ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            closed = 1;
    }
    assert_true(closed);
    assert_true(file_contains(in.log, "closed user=slow code=TOO_SLOW by=server"));
    tc_free(slow);
    tc_free(watch);
    tc_free(admin);
    assert_int_equal(inst_stop(&in, SIGTERM), 0);
    inst_cleanup(&in);
}

/* Connection limits: REJECT(SERVER_FULL) beyond the per-address limit and
 * beyond max_connections. */
static void limit_case(const char *conf, const char *text)
{
    inst in;
    inst_init(&in, conf);
    inst_start(&in);
    tc *a = tc_new(in.port, "admin", ADMIN_PW, 0);
    tc *b = tc_new(in.port, "admin", ADMIN_PW, 0);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(tc_login(a, T_LOGIN), 0);
    tc *c = tc_new(in.port, "admin", ADMIN_PW, 0);
    assert_non_null(c);
    WAIT(c, "third", "rejected SERVER_FULL server-versions=1-1");
    WAIT(c, "third", "closed");
    assert_int_equal(wait_log(&in, text, T_LINE), 0);
    /* Once they leave, there is room again. */
    tc_free(a);
    tc_free(b);
    assert_int_equal(wait_log(&in, "closed user=admin code=CONN_LOST by=peer", T_LINE), 0);
    tc *d = NULL;
    for (int i = 0; i < 50 && d == NULL; i++) {
        d = tc_new(in.port, "admin", ADMIN_PW, 0);
        assert_non_null(d);
        if (tc_login(d, T_LOGIN) != 0) {
            tc_free(d);
            d = NULL;
            sleep_ms(100);
        }
    }
    assert_non_null(d);
    tc_free(d);
    tc_free(c);
    assert_int_equal(inst_stop(&in, SIGTERM), 0);
    inst_cleanup(&in);
}

static void test_limit_per_address(void **state)
{
    (void)state;
    limit_case("max_connections_per_address = 2\n", "refused reason=max_connections_per_address");
}

static void test_limit_total(void **state)
{
    (void)state;
    limit_case("max_connections = 2\n", "refused reason=max_connections");
}

/* A connection that never completes the handshake is closed after the
 * login timeout. */
static void test_login_timeout(void **state)
{
    (void)state;
    inst in;
    inst_init(&in, "login_timeout = 500ms\n");
    inst_start(&in);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)in.port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    uint64_t t0 = now_ms();
    struct pollfd pfd = {fd, POLLIN, 0};
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    char buf[16];
    assert_int_equal(recv(fd, buf, sizeof buf, 0), 0); /* EOF, nothing said */
    assert_true(now_ms() - t0 >= 400);
    close(fd);
    assert_int_equal(wait_log(&in, "code=LOGIN_TIMEOUT by=server", T_LINE), 0);
    assert_int_equal(inst_stop(&in, SIGTERM), 0);
    inst_cleanup(&in);
}

/* A key file others may read: chatd refuses to start and says how to fix
 * it. A raw key given with --key is used as is. */
static void test_key_file(void **state)
{
    (void)state;
    inst in;
    inst_init(&in, NULL);
    assert_int_equal(mkdir(in.state, 0700), 0);
    char key_path[160];
    snprintf(key_path, sizeof key_path, "%s/server.key", in.state);
    uint8_t key[32];
    kf_generate(key);
    assert_int_equal(kf_save(key_path, key, NULL, 0), KF_OK);
    assert_int_equal(chmod(key_path, 0644), 0);
    char *extra[] = {"--admin-password-file", in.pwfile, NULL};
    assert_int_equal(inst_start_args(&in, 077, extra), 77);
    assert_true(file_contains(in.log, "chmod 600"));
    assert_true(file_contains(in.log, key_path));

    /* The fingerprint subcommand refuses it too. */
    char out[4096];
    assert_int_equal(run_cmd(&in, out, sizeof out, "fingerprint", "-s", in.state, NULL), 77);

    /* A raw 32-byte key via --key. */
    char raw_path[160];
    snprintf(raw_path, sizeof raw_path, "%s/raw.key", in.dir);
    assert_int_equal(tu_write(raw_path, key, sizeof key, 0600), 0);
    char *extra2[] = {"--admin-password-file", in.pwfile, "--key", raw_path, NULL};
    assert_int_equal(inst_start_args(&in, 077, extra2), 0);
    tc *t = login(&in, "admin", ADMIN_PW);
    uint8_t pub[32];
    crypto_scalarmult_base(pub, key);
    char fp[CHAT_FINGERPRINT_LEN + 1];
    chat_fingerprint(fp, pub);
    assert_string_equal(tc_fingerprint(t), fp);
    tc_free(t);
    assert_int_equal(inst_stop(&in, SIGTERM), 0);
    /* An explicit key that does not exist is an error, never generated. */
    assert_int_equal(run_cmd(&in, out, sizeof out, "fingerprint", "--key", "/nonexistent/k", NULL),
                     66);
    sodium_memzero(key, sizeof key);
    inst_cleanup(&in);
}

/* Under umask 000 every file chatd creates is still private. */
static void test_file_modes(void **state)
{
    (void)state;
    inst in;
    inst_init(&in, NULL);
    char *extra[] = {"--admin-password-file", in.pwfile, NULL};
    assert_int_equal(inst_start_args(&in, 0, extra), 0);
    tc *t = login(&in, "admin", ADMIN_PW);
    tc_free(t);
    char p[200];
    assert_int_equal(tu_mode(in.state), 0700);
    snprintf(p, sizeof p, "%s/server.key", in.state);
    assert_int_equal(tu_mode(p), 0600);
    snprintf(p, sizeof p, "%s/chatd.db", in.state);
    assert_int_equal(tu_mode(p), 0600);
    snprintf(p, sizeof p, "%s/chatd.db-wal", in.state);
    assert_int_equal(tu_mode(p), 0600);
    snprintf(p, sizeof p, "%s/chatd.db-shm", in.state);
    assert_int_equal(tu_mode(p), 0600);
    assert_int_equal(tu_mode(in.portfile), 0600);
    assert_int_equal(inst_stop(&in, SIGTERM), 0);
    inst_cleanup(&in);
}

/* Offline add-user and passwd while the server runs; a restart keeps the
 * accounts; list-users shows them. */
static void test_offline_admin(void **state)
{
    (void)state;
    inst in;
    inst_init(&in, NULL);
    inst_start(&in);
    char pw[160], out[4096];
    snprintf(pw, sizeof pw, "%s/carol.pw", in.dir);
    write_text(pw, "carol-pw\n");
    assert_int_equal(run_cmd(&in, out, sizeof out, "add-user", "Carol", "--password-file", pw,
                             "-s", in.state, "-c", in.conf, NULL),
                     0);
    tc *c = tc_new(in.port, "carol", "carol-pw", 0);
    assert_non_null(c);
    WAIT(c, "carol", "welcome carol user");
    tc_free(c);
    /* Adding her again fails. */
    assert_int_equal(run_cmd(&in, out, sizeof out, "add-user", "carol", "--password-file", pw,
                             "-s", in.state, "-c", in.conf, NULL),
                     65);
    assert_non_null(strstr(out, "already exists"));
    /* An admin added offline. */
    assert_int_equal(run_cmd(&in, out, sizeof out, "add-user", "erin", "--role", "admin",
                             "--password-file", pw, "-s", in.state, "-c", in.conf, NULL),
                     0);
    /* passwd: the new password works, the old one does not. */
    write_text(pw, "carol-new\n");
    assert_int_equal(run_cmd(&in, out, sizeof out, "passwd", "carol", "--password-file", pw, "-s",
                             in.state, "-c", in.conf, NULL),
                     0);
    tc *old = tc_new(in.port, "carol", "carol-pw", 0);
    assert_non_null(old);
    WAIT(old, "carol-old", "login-failed BAD_LOGIN");
    tc_free(old);
    c = login(&in, "carol", "carol-new");
    tc_free(c);
    assert_int_equal(run_cmd(&in, out, sizeof out, "passwd", "zed", "--password-file", pw, "-s",
                             in.state, "-c", in.conf, NULL),
                     65);

    /* Restart (no admin password needed any more): accounts are kept. */
    assert_int_equal(inst_stop(&in, SIGTERM), 0);
    assert_int_equal(inst_start_args(&in, 077, NULL), 0);
    c = login(&in, "carol", "carol-new");
    tc_free(c);
    tc *e = login(&in, "erin", "carol-pw");
    WAIT(e, "erin", "joined #lobby erin");
    tc_free(e);
    assert_int_equal(inst_stop(&in, SIGTERM), 0);
    assert_int_equal(run_cmd(&in, out, sizeof out, "list-users", "-s", in.state, NULL), 0);
    assert_string_equal(out, "admin admin\ncarol user\nerin admin\n");
    inst_cleanup(&in);
}

/* No admin, no terminal, no password file: refuse to start (78). */
static void test_no_admin(void **state)
{
    (void)state;
    inst in;
    inst_init(&in, NULL);
    assert_int_equal(inst_start_args(&in, 077, NULL), 78);
    assert_true(file_contains(in.log, "--admin-password-file"));
    /* A missing password file: 66; an empty one: 65. */
    char *extra[] = {"--admin-password-file", "/nonexistent/pw", NULL};
    assert_int_equal(inst_start_args(&in, 077, extra), 66);
    write_text(in.pwfile, "\n");
    char *extra2[] = {"--admin-password-file", in.pwfile, NULL};
    assert_int_equal(inst_start_args(&in, 077, extra2), 65);
    inst_cleanup(&in);
}

/* Everything read from ptys, to check nothing secret was echoed. */
static char g_pty_all[1 << 16];
static size_t g_pty_len;

/* Read the pty until its text holds want; what precedes the match and
 * the match itself are consumed from buf (the rest stays). 0 or -1. */
static int pty_expect(int master, char *buf, size_t cap, const char *want, int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    size_t len = strlen(buf);
    char *hit;
    while ((hit = strstr(buf, want)) == NULL) {
        uint64_t now = now_ms();
        if (now >= end || len + 1 >= cap)
            return -1;
        struct pollfd pfd = {master, POLLIN, 0};
        if (poll(&pfd, 1, (int)(end - now)) <= 0)
            continue;
        ssize_t r = read(master, buf + len, cap - 1 - len);
        if (r <= 0)
            return -1; /* EIO once the child has exited */
        size_t room = sizeof g_pty_all - 1 - g_pty_len;
        size_t keep = (size_t)r < room ? (size_t)r : room;
        memcpy(g_pty_all + g_pty_len, buf + len, keep);
        g_pty_len += keep;
        g_pty_all[g_pty_len] = '\0';
        len += (size_t)r;
        buf[len] = '\0';
    }
    size_t used = (size_t)(hit - buf) + strlen(want);
    memmove(buf, buf + used, len - used + 1);
    return 0;
}

static void pty_type(int master, const char *text)
{
    size_t n = strlen(text);
    assert_int_equal(write(master, text, n), (ssize_t)n);
}

/* Run chatd on a new pseudo-terminal (its controlling terminal). */
static pid_t spawn_pty(int *master, char *const *args)
{
    char *argv[40];
    int n = 0;
    argv[n++] = (char *)g_chatd;
    for (int i = 0; args[i] != NULL && n < 38; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = forkpty(master, NULL, NULL, NULL);
    if (pid == 0) {
        /* Die with the test: a failed assertion or a ctest timeout must
         * not leave a server running. */
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        execv(g_chatd, argv);
        _exit(127);
    }
    return pid;
}

/* Passwords asked on the terminal: twice, without echo; a mismatch is
 * asked again; the first admin can be created this way. */
static void test_tty_password(void **state)
{
    (void)state;
    inst in;
    inst_init(&in, NULL);
    static char buf[65536];
    int master;

    /* The server asks for the first admin's password. */
    char *serve[] = {"--config", in.conf, "--state-dir", in.state, "--listen", "127.0.0.1",
                     "--port", "0", "--port-file", in.portfile, NULL};
    pid_t pid = spawn_pty(&master, serve);
    assert_true(pid > 0);
    buf[0] = '\0';
    assert_int_equal(pty_expect(master, buf, sizeof buf, "New password for \"admin\": ", 10000), 0);
    pty_type(master, "tty-canary-1\n");
    assert_int_equal(pty_expect(master, buf, sizeof buf, "Again: ", 10000), 0);
    pty_type(master, "tty-canary-2\n");
    assert_int_equal(pty_expect(master, buf, sizeof buf, "do not match", 10000), 0);
    assert_int_equal(pty_expect(master, buf, sizeof buf, "Try again.", 10000), 0);
    /* An empty one is refused too. */
    assert_int_equal(pty_expect(master, buf, sizeof buf, "\"admin\": ", 10000), 0);
    pty_type(master, "\n");
    assert_int_equal(pty_expect(master, buf, sizeof buf, "must not be empty", 10000), 0);
    /* Type only at the prompt: each prompt flushes earlier type-ahead. */
    assert_int_equal(pty_expect(master, buf, sizeof buf, "\"admin\": ", 10000), 0);
    pty_type(master, "tty-canary-1\n");
    assert_int_equal(pty_expect(master, buf, sizeof buf, "Again: ", 10000), 0);
    pty_type(master, "tty-canary-1\n");
    assert_int_equal(pty_expect(master, buf, sizeof buf, "listening on", 10000), 0);
    assert_null(strstr(g_pty_all, "canary")); /* never echoed */
    in.pid = pid;
    uint64_t end = now_ms() + 10000;
    while (in.port == 0 && now_ms() < end) {
        FILE *f = fopen(in.portfile, "r");
        if (f != NULL) {
            if (fscanf(f, "%u", &in.port) != 1)
                in.port = 0;
            fclose(f);
        }
        if (in.port == 0)
            sleep_ms(10);
    }
    tc *t = login(&in, "admin", "tty-canary-1");
    tc_free(t);
    assert_int_equal(inst_stop(&in, SIGTERM), 0);
    close(master);

    /* add-user asks twice; three mismatches give up with status 65. */
    char *add[] = {"add-user", "tina", "--state-dir", in.state, "--config", in.conf, NULL};
    pid = spawn_pty(&master, add);
    assert_true(pid > 0);
    buf[0] = '\0';
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pty_expect(master, buf, sizeof buf, "for \"tina\": ", 10000), 0);
        pty_type(master, "one\n");
        assert_int_equal(pty_expect(master, buf, sizeof buf, "Again: ", 10000), 0);
        pty_type(master, "two\n");
    }
    (void)pty_expect(master, buf, sizeof buf, "did not match", 10000);
    assert_int_equal(wait_exit(pid, 10000), 65);
    close(master);

    pid = spawn_pty(&master, add);
    assert_true(pid > 0);
    buf[0] = '\0';
    assert_int_equal(pty_expect(master, buf, sizeof buf, "for \"tina\": ", 10000), 0);
    pty_type(master, "tina-canary\n");
    assert_int_equal(pty_expect(master, buf, sizeof buf, "Again: ", 10000), 0);
    pty_type(master, "tina-canary\n");
    (void)pty_expect(master, buf, sizeof buf, "created user", 10000);
    assert_int_equal(wait_exit(pid, 10000), 0);
    assert_null(strstr(g_pty_all, "canary"));
    assert_null(strstr(g_pty_all, "one"));
    close(master);
    char out[4096];
    assert_int_equal(run_cmd(&in, out, sizeof out, "list-users", "-s", in.state, NULL), 0);
    assert_string_equal(out, "admin admin\ntina user\n");
    inst_cleanup(&in);
}

/* --help, --version, usage errors, config errors. */
static void test_cli(void **state)
{
    (void)state;
    inst in;
    inst_init(&in, NULL);
    char out[16384];
    assert_int_equal(run_cmd(&in, out, sizeof out, "--help", NULL), 0);
    assert_non_null(strstr(out, "Usage: chatd"));
    assert_non_null(strstr(out, "add-user NAME"));
    assert_non_null(strstr(out, "Exit status"));
    assert_int_equal(run_cmd(&in, out, sizeof out, "--version", NULL), 0);
    assert_true(strncmp(out, "chatd ", 6) == 0);
    assert_int_equal(run_cmd(&in, out, sizeof out, "--bogus", NULL), 64);
    assert_non_null(strstr(out, "Try 'chatd --help'"));
    assert_int_equal(run_cmd(&in, out, sizeof out, "frobnicate", NULL), 64);
    assert_int_equal(run_cmd(&in, out, sizeof out, "add-user", NULL), 64);
    assert_int_equal(run_cmd(&in, out, sizeof out, "list-users", "extra", NULL), 64);
    assert_int_equal(run_cmd(&in, out, sizeof out, "--role", "admin", NULL), 64);
    assert_int_equal(run_cmd(&in, out, sizeof out, "-o", "nokey=1", NULL), 64);
    assert_int_equal(run_cmd(&in, out, sizeof out, "add-user", "9bad", "-s", in.state, NULL), 64);
    /* A missing explicit config file: 66. */
    assert_int_equal(run_cmd(&in, out, sizeof out, "-c", "/nonexistent/chatd.conf",
                             "check-config", NULL),
                     66);
    /* Config errors name the file and line: 78. */
    char conf[256];
    snprintf(conf, sizeof conf, "port = 7447\n\n  # comment\nmax_connections = lots\n");
    write_text(in.conf, conf);
    assert_int_equal(run_cmd(&in, out, sizeof out, "-c", in.conf, "check-config", NULL), 78);
    assert_non_null(strstr(out, "chatd.conf:4: max_connections"));
    write_text(in.conf, "no_such_key = 1\n");
    assert_int_equal(run_cmd(&in, out, sizeof out, "-c", in.conf, "check-config", NULL), 78);
    assert_non_null(strstr(out, "chatd.conf:1: unknown setting"));
    assert_int_equal(run_cmd(&in, out, sizeof out, "-c", in.conf, "--port", "70000",
                             "check-config", NULL),
                     78);
    /* A good one is printed back; flags win over the file. */
    write_text(in.conf, "port = 1234\ndefault_rooms = #a, #B\nidle_timeout = 2m\n"
                        "listen = 127.0.0.1\nmotd = \"two\\nlines \\\"quoted\\\"\"\n");
    assert_int_equal(run_cmd(&in, out, sizeof out, "-c", in.conf, "-p", "2345", "-l", "[::1]:9",
                             "check-config", NULL),
                     0);
    assert_non_null(strstr(out, "port = 2345\n"));
    assert_non_null(strstr(out, "default_rooms = #a #b\n"));
    assert_non_null(strstr(out, "idle_timeout = 120s\n"));
    assert_non_null(strstr(out, "listen = [::1]:9\n"));
    assert_null(strstr(out, "listen = 127.0.0.1"));
    assert_non_null(strstr(out, "motd = \"two\\nlines \\\"quoted\\\"\"\n"));

    /* Default paths: systemd's directories win over the XDG ones. */
    char sd[160], cd[160], cf[200], want[256];
    snprintf(sd, sizeof sd, "%s/xdg-state", in.dir);
    snprintf(cd, sizeof cd, "%s/xdg-config", in.dir);
    snprintf(cf, sizeof cf, "%s/chatd", cd);
    assert_int_equal(mkdir(cd, 0700), 0);
    assert_int_equal(mkdir(cf, 0700), 0);
    snprintf(cf, sizeof cf, "%s/chatd/chatd.conf", cd);
    write_text(cf, "port = 4242\n");
    setenv("XDG_STATE_HOME", sd, 1);
    setenv("XDG_CONFIG_HOME", cd, 1);
    assert_int_equal(run_cmd(&in, out, sizeof out, "check-config", NULL), 0);
    snprintf(want, sizeof want, "# state directory: %s/chatd\n", sd);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "port = 4242\n"));
    setenv("STATE_DIRECTORY", in.state, 1);
    snprintf(cf, sizeof cf, "%s/chatd.conf", in.dir);
    write_text(cf, "port = 4343\n");
    setenv("CONFIGURATION_DIRECTORY", in.dir, 1);
    assert_int_equal(run_cmd(&in, out, sizeof out, "check-config", NULL), 0);
    snprintf(want, sizeof want, "# state directory: %s\n", in.state);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "port = 4343\n"));
    unsetenv("STATE_DIRECTORY");
    unsetenv("CONFIGURATION_DIRECTORY");
    unsetenv("XDG_STATE_HOME");
    unsetenv("XDG_CONFIG_HOME");
    inst_cleanup(&in);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_chatd /path/to/chatd [filter]\n");
        return 2;
    }
    g_chatd = argv[1];
    if (argc > 2)
        cmocka_set_test_filter(argv[2]);
    if (sodium_init() < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat),
        cmocka_unit_test(test_admin_actions),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_sigterm),
        cmocka_unit_test(test_sigint),
        cmocka_unit_test(test_sighup),
        cmocka_unit_test(test_slow_reader),
        cmocka_unit_test(test_limit_per_address),
        cmocka_unit_test(test_limit_total),
        cmocka_unit_test(test_login_timeout),
        cmocka_unit_test(test_key_file),
        cmocka_unit_test(test_file_modes),
        cmocka_unit_test(test_offline_admin),
        cmocka_unit_test(test_no_admin),
        cmocka_unit_test(test_tty_password),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
