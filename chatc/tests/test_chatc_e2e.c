/* End-to-end tests of chatc's line mode against a real chatd on loopback.
 *
 * Each test starts chatd on an ephemeral port (--port 0 --port-file) with a
 * scratch state directory, low Argon2id minimums and an admin account
 * "alice", then runs chatc processes with stdin and stdout on pipes and
 * their own XDG directories, and asserts on the lines chatc prints (the
 * format of chatc(1), LINE MODE) and on its exit status. Every wait is
 * bounded; every process started is killed by its pid at the end.
 *
 * A small forwarding proxy (a child process) counts the bytes a client
 * sends, to show that after a refused server key nothing follows HS1.
 *
 * Usage: test_chatc_e2e CHATC CHATD */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "testutil.h"

#define T_LINE 15000 /* ms to wait for an expected line */
#define T_EXIT 15000 /* ms to wait for a process to exit */

static const char *g_chatc, *g_chatd;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- Processes -------------------------------------------------------- */

/* Wait for pid up to ms; its exit status, or -1 (still running: killed). */
static int wait_exit(pid_t pid, unsigned ms)
{
    uint64_t end = now_ms() + ms;
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
        sleep_ms(20);
    }
}

typedef struct client {
    const char *name;
    pid_t pid;
    int in, out;
    char *buf; /* everything printed so far */
    size_t len, cap;
    size_t pos; /* lines before pos have been consumed by expect */
    char err_path[256];
    int status;
} client;

typedef struct fx {
    char dir[64];
    char conf[128], state[128], portfile[128], log[128], adminpw[128];
    pid_t chatd;
    unsigned port;
    pid_t proxy;
    client *clients[16];
    size_t nclients;
} fx;

static void path(const fx *f, char *out, size_t cap, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", f->dir, name);
    assert_true(n > 0 && (size_t)n < cap);
}

static void write_file(const char *p, const char *text, mode_t mode)
{
    assert_int_equal(tu_write(p, text, strlen(text), mode), 0);
    assert_int_equal(chmod(p, mode), 0);
}

static char *read_text(const char *p)
{
    FILE *fp = fopen(p, "r");
    if (fp == NULL)
        return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return buf;
}

/* Start chatd in f->state (port 0 unless port given); waits for its port. */
static void start_chatd(fx *f, const char *state, unsigned port)
{
    char portarg[16];
    snprintf(portarg, sizeof portarg, "%u", port);
    unlink(f->portfile);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Die with the test: a failed assertion or a ctest timeout must
         * not leave a server running. */
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(f->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
        }
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        execl(g_chatd, "chatd", "--config", f->conf, "--state-dir", state, "--listen", "127.0.0.1",
              "--port", portarg, "--port-file", f->portfile, "--admin", "alice",
              "--admin-password-file", f->adminpw, "--set", "min_opslimit=1", "--set",
              "min_memlimit_kib=8", "--log-level", "debug", (char *)NULL);
        _exit(127);
    }
    f->chatd = pid;
    uint64_t end = now_ms() + 15000;
    for (;;) {
        char *t = read_text(f->portfile);
        if (t != NULL && t[0] >= '0' && t[0] <= '9' && strchr(t, '\n') != NULL) {
            f->port = (unsigned)strtoul(t, NULL, 10);
            break;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            f->chatd = 0;
            fail_msg("chatd exited early; log:\n%s", read_text(f->log));
        }
        if (now_ms() > end)
            fail_msg("chatd did not write its port file");
        sleep_ms(20);
    }
}

static void stop_chatd(fx *f)
{
    if (f->chatd > 0) {
        kill(f->chatd, SIGTERM);
        assert_true(wait_exit(f->chatd, 10000) >= 0);
        f->chatd = 0;
    }
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (f == NULL || tu_mkdtemp(f->dir, sizeof f->dir, "chatc-e2e") != 0) {
        free(f);
        return -1;
    }
    path(f, f->conf, sizeof f->conf, "chatd.conf");
    path(f, f->state, sizeof f->state, "state");
    path(f, f->portfile, sizeof f->portfile, "port");
    path(f, f->log, sizeof f->log, "chatd.log");
    path(f, f->adminpw, sizeof f->adminpw, "alice.pw");
    write_file(f->conf, "motd = welcome to the test\n", 0600);
    write_file(f->adminpw, "pw-alice\n", 0600);
    *state = f;
    start_chatd(f, f->state, 0);
    return 0;
}

static void client_free(client *c)
{
    if (c->pid > 0) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
    }
    if (c->in >= 0)
        close(c->in);
    if (c->out >= 0)
        close(c->out);
    free(c->buf);
    free(c);
}

static int teardown(void **state)
{
    fx *f = *state;
    for (size_t i = 0; i < f->nclients; i++)
        client_free(f->clients[i]);
    if (f->proxy > 0) {
        kill(f->proxy, SIGKILL);
        waitpid(f->proxy, NULL, 0);
    }
    if (f->chatd > 0) {
        kill(f->chatd, SIGTERM);
        if (wait_exit(f->chatd, 10000) < 0)
            fprintf(stderr, "chatd did not stop on SIGTERM\n");
    }
    int rc = tu_rm_rf(f->dir);
    free(f);
    return rc;
}

/* Start chatc as `name` (its own XDG directories under the scratch dir)
 * with the given arguments (NULL-terminated); the destination is added by
 * the caller in args. */
static client *chatc_argv(fx *f, const char *name, const char *const *args)
{
    client *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->name = name;
    c->in = c->out = -1;
    c->status = -2;
    snprintf(c->err_path, sizeof c->err_path, "%s/%s.err", f->dir, name);
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    char home[200], data[220], cfg[220], st[220];
    snprintf(home, sizeof home, "%s/%s", f->dir, name);
    snprintf(data, sizeof data, "%s/data", home);
    snprintf(cfg, sizeof cfg, "%s/config", home);
    snprintf(st, sizeof st, "%s/state", home);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Die with the test: a failed assertion or a ctest timeout must
         * not leave a server running. */
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(in[0], 0);
        dup2(out[1], 1);
        int fd = open(c->err_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0)
            dup2(fd, 2);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        setenv("HOME", home, 1);
        setenv("XDG_DATA_HOME", data, 1);
        setenv("XDG_CONFIG_HOME", cfg, 1);
        setenv("XDG_STATE_HOME", st, 1);
        const char *argv[32];
        size_t n = 0;
        argv[n++] = "chatc";
        for (size_t i = 0; args[i] != NULL && n < 31; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execv(g_chatc, (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    c->pid = pid;
    c->in = in[1];
    c->out = out[0];
    fcntl(c->out, F_SETFL, fcntl(c->out, F_GETFL) | O_NONBLOCK);
    f->clients[f->nclients++] = c;
    return c;
}

static const char *dest(fx *f, const char *user, unsigned port)
{
    static char d[8][64];
    static int k;
    k = (k + 1) % 8;
    snprintf(d[k], sizeof d[k], "%s@127.0.0.1:%u", user, port ? port : f->port);
    return d[k];
}

static const char *pwfile(fx *f, const char *name, const char *pw)
{
    static char p[8][160];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s.pw", f->dir, name);
    char text[200];
    snprintf(text, sizeof text, "%s\n", pw);
    write_file(p[k], text, 0600);
    return p[k];
}

/* chatc in line mode with a password and accept-new trust. */
static client *login(fx *f, const char *user, const char *pw)
{
    const char *args[] = {"--password-file", pwfile(f, user, pw), "--trust=accept-new",
                          dest(f, user, 0), NULL};
    return chatc_argv(f, user, args);
}

static void drain(client *c)
{
    for (;;) {
        if (c->len + 4096 + 1 > c->cap) {
            size_t nc = c->cap ? c->cap * 2 : 65536;
            c->buf = realloc(c->buf, nc);
            assert_non_null(c->buf);
            c->cap = nc;
        }
        ssize_t r = read(c->out, c->buf + c->len, 4096);
        if (r <= 0)
            break;
        c->len += (size_t)r;
    }
    if (c->buf != NULL)
        c->buf[c->len] = '\0';
}

/* Wait for a line starting with prefix after the last one expected;
 * returns it (valid until the next call). */
static const char *expect(client *c, const char *prefix)
{
    uint64_t end = now_ms() + T_LINE;
    static char line[8192];
    for (;;) {
        drain(c);
        size_t p = c->pos;
        while (p < c->len) {
            char *nl = memchr(c->buf + p, '\n', c->len - p);
            if (nl == NULL)
                break;
            size_t n = (size_t)(nl - (c->buf + p));
            if (strncmp(c->buf + p, prefix, strlen(prefix)) == 0 && n >= strlen(prefix)) {
                size_t k = n < sizeof line - 1 ? n : sizeof line - 1;
                memcpy(line, c->buf + p, k);
                line[k] = '\0';
                c->pos = p + n + 1;
                return line;
            }
            p += n + 1;
        }
        if (now_ms() > end) {
            fprintf(stderr, "---- %s stdout:\n%s---- %s stderr:\n%s\n", c->name,
                    c->buf ? c->buf : "", c->name, read_text(c->err_path));
            fail_msg("%s: no line starting with \"%s\"", c->name, prefix);
        }
        struct pollfd pfd = {.fd = c->out, .events = POLLIN, .revents = 0};
        poll(&pfd, 1, 50);
    }
}

/* 1 if a line starting with prefix was printed (anywhere), after draining. */
static int printed(client *c, const char *prefix)
{
    drain(c);
    const char *p = c->buf;
    while (p != NULL && *p) {
        if (strncmp(p, prefix, strlen(prefix)) == 0)
            return 1;
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return 0;
}

static void send_line(client *c, const char *line)
{
    size_t n = strlen(line);
    assert_int_equal(write(c->in, line, n), (ssize_t)n);
    assert_int_equal(write(c->in, "\n", 1), 1);
}

static void close_stdin(client *c)
{
    close(c->in);
    c->in = -1;
}

/* Wait for the exit status (the output is drained meanwhile). */
static int exit_status(client *c)
{
    uint64_t end = now_ms() + T_EXIT;
    while (c->status == -2) {
        drain(c);
        int st;
        pid_t r = waitpid(c->pid, &st, WNOHANG);
        if (r == c->pid) {
            c->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            c->pid = 0;
            break;
        }
        if (now_ms() > end) {
            fprintf(stderr, "---- %s stdout:\n%s\n", c->name, c->buf ? c->buf : "");
            fail_msg("%s did not exit", c->name);
        }
        sleep_ms(20);
    }
    drain(c);
    return c->status;
}

/* Log in and wait until ready. */
static client *ready(fx *f, const char *user, const char *pw)
{
    client *c = login(f, user, pw);
    char want[64];
    snprintf(want, sizeof want, "ready %s", user);
    expect(c, want);
    return c;
}

/* alice (admin) creates an account through chatc's /adduser. */
static void add_user(client *admin, const char *user, const char *pw, int as_admin)
{
    char l[100];
    snprintf(l, sizeof l, "/adduser %s%s", user, as_admin ? " admin" : "");
    send_line(admin, l);
    send_line(admin, pw);
    expect(admin, "ok req=");
}

/* ---- Tests ------------------------------------------------------------ */

static void test_login_rooms_pm(void **state)
{
    fx *f = *state;
    client *a = ready(f, "alice", "pw-alice");
    expect(a, "joined #lobby alice");
    expect(a, "names req=0 #lobby: alice");
    add_user(a, "bob", "pw-bob", 0);

    client *b = login(f, "bob", "pw-bob");
    expect(b, "connected [127.0.0.1]:");
    expect(b, "server-key SHA256:");
    expect(b, "host-key pinned SHA256:");
    expect(b, "challenge ");
    expect(b, "welcome bob user motd=welcome to the test");
    expect(b, "ready bob user");
    expect(b, "names req=0 #lobby: alice bob");
    expect(a, "joined #lobby bob");
    /* Before any /join, plain lines go to the room the server put us in. */
    send_line(b, "straight to the lobby");
    expect(a, "message #lobby <bob> seq=1 straight to the lobby");

    /* Rooms: join, talk (plain lines go to the last joined room), action. */
    send_line(a, "/join #dev");
    expect(a, "joined #dev alice");
    expect(a, "names req=");
    send_line(b, "/join DEV");
    expect(b, "joined #dev bob");
    expect(a, "joined #dev bob");
    expect(b, "names req=");
    send_line(a, "hello dev ünïcödé 日本");
    expect(b, "message #dev <alice> seq=1 hello dev ünïcödé 日本");
    expect(a, "message #dev <alice> seq=1 hello dev");
    expect(a, "ok req=");
    send_line(b, "/me waves");
    expect(a, "action #dev <bob> seq=2 waves");
    send_line(b, "/msg #lobby to the lobby");
    expect(a, "message #lobby <bob> seq=2 to the lobby");

    /* A private message, both ways. */
    send_line(b, "/msg alice psst");
    expect(a, "message alice <bob> seq=0 psst");
    expect(b, "message alice <bob> seq=0 psst"); /* the sender's copy */
    send_line(a, "/query bob");
    send_line(a, "hi back");
    expect(b, "message bob <alice> seq=0 hi back");

    /* Topic, who, rooms. */
    send_line(a, "/topic #dev the dev room");
    expect(b, "topic #dev by=alice the dev room");
    send_line(b, "/who #dev");
    expect(b, "names req=");
    send_line(b, "/rooms");
    expect(b, "rooms req=");
    send_line(b, "/topic #dev -delete");
    expect(a, "topic #dev by=bob ");

    /* Leaving a room; a late joiner gets the history. */
    send_line(b, "/part #dev");
    expect(a, "parted #dev bob PART");
    send_line(b, "/join #dev");
    expect(b, "history-message #dev <alice> seq=1 hello dev");

    /* Local errors. */
    send_line(b, "/frob");
    expect(b, "client-error unknown command /frob");
    send_line(b, "/join #bad!");
    expect(b, "client-error invalid room name");
    send_line(b, "/msg nobody hi");
    expect(b, "error req=");

    /* End of input: goodbye after the last answer, exit 0. */
    close_stdin(b);
    expect(b, "closed by-us QUIT");
    assert_int_equal(exit_status(b), 0);
    expect(a, "parted #lobby bob QUIT");
    send_line(a, "/quit bye");
    assert_int_equal(exit_status(a), 0);
}

static void test_admin_actions(void **state)
{
    fx *f = *state;
    client *a = ready(f, "alice", "pw-alice");
    add_user(a, "bob", "pw-bob", 0);
    add_user(a, "carol", "pw-carol", 0);
    add_user(a, "dave", "pw-dave", 1);
    send_line(a, "/adduser BOB");
    send_line(a, "whatever");
    expect(a, "error req=");

    send_line(a, "/users");
    const char *l = expect(a, "users req=");
    assert_non_null(strstr(l, "alice:admin:online"));
    assert_non_null(strstr(l, "bob:user:offline"));
    assert_non_null(strstr(l, "dave:admin:offline"));

    client *b = ready(f, "bob", "pw-bob");
    client *c = ready(f, "carol", "pw-carol");

    /* /help shows admin commands to admins only. */
    send_line(b, "/help");
    expect(b, "help /quit");
    assert_false(printed(b, "help /kick"));
    send_line(a, "/help");
    expect(a, "help /kick NAME [reason]: disconnect a user (admin)");

    /* Not allowed for users. */
    send_line(b, "/users");
    expect(b, "error req=");
    send_line(b, "/kick carol");
    l = expect(b, "error req=");
    assert_non_null(strstr(l, "NOT_ALLOWED"));

    /* Kick. */
    send_line(a, "/kick bob spamming");
    expect(b, "closed by-server KICKED spamming");
    assert_int_equal(exit_status(b), 69);
    expect(a, "parted #lobby bob KICKED");

    /* Own password, then log in with the new one only. */
    send_line(c, "/passwd");
    send_line(c, "pw-carol-2");
    expect(c, "ok req=");
    close_stdin(c);
    assert_int_equal(exit_status(c), 0);
    client *c2 = login(f, "carol", "pw-carol");
    expect(c2, "login-failed BAD_LOGIN");
    assert_int_equal(exit_status(c2), 77);
    client *c3 = ready(f, "carol", "pw-carol-2");

    /* Delete an online account. */
    send_line(a, "/deluser carol");
    expect(c3, "closed by-server DELETED");
    assert_int_equal(exit_status(c3), 69);
    expect(a, "ok req=");
    send_line(a, "/users");
    l = expect(a, "users req=");
    assert_null(strstr(l, "carol"));

    /* A second admin shuts the server down. */
    client *d = ready(f, "dave", "pw-dave");
    send_line(d, "/shutdown maintenance");
    expect(d, "ok req=");
    expect(d, "closed by-server SHUTDOWN maintenance");
    expect(a, "closed by-server SHUTDOWN maintenance");
    assert_int_equal(exit_status(d), 69);
    assert_int_equal(exit_status(a), 69);
    assert_true(wait_exit(f->chatd, 10000) == 0);
    f->chatd = 0;
}

static void test_wrong_password(void **state)
{
    fx *f = *state;
    client *c = login(f, "alice", "not-the-password");
    expect(c, "login-failed BAD_LOGIN left=");
    expect(c, "client-error login refused");
    assert_int_equal(exit_status(c), 77);
    client *u = login(f, "nosuchuser", "x");
    expect(u, "login-failed BAD_LOGIN");
    assert_int_equal(exit_status(u), 77);
}

static void test_trust_modes(void **state)
{
    fx *f = *state;
    char kh[200];
    snprintf(kh, sizeof kh, "%s/alice/data/chatc/known_hosts", f->dir);

    /* strict refuses a first contact, pins nothing, says nothing more. */
    const char *strict[] = {"--password-file",   pwfile(f, "alice", "pw-alice"),
                            "--trust",           "strict",
                            dest(f, "alice", 0), NULL};
    client *c = chatc_argv(f, "alice", strict);
    const char *l = expect(c, "host-key unknown SHA256:");
    char fp[64];
    snprintf(fp, sizeof fp, "%s", l + strlen("host-key unknown "));
    expect(c, "closed by-us");
    assert_int_equal(exit_status(c), 76);
    assert_false(printed(c, "challenge"));
    assert_null(read_text(kh));
    assert_non_null(strstr(read_text(c->err_path), "--trust=strict refuses unknown servers"));

    /* The default in line mode is strict too. */
    const char *dflt[] = {"--password-file", pwfile(f, "alice", "pw-alice"), dest(f, "alice", 0),
                          NULL};
    c = chatc_argv(f, "alice", dflt);
    expect(c, "host-key unknown");
    assert_int_equal(exit_status(c), 76);

    /* accept-new pins it (mode 0600), once. */
    c = ready(f, "alice", "pw-alice");
    char want[100];
    snprintf(want, sizeof want, "host-key pinned %s line=1", fp);
    assert_true(printed(c, want));
    close_stdin(c);
    assert_int_equal(exit_status(c), 0);
    struct stat st;
    assert_int_equal(stat(kh, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "[127.0.0.1]:%u x25519 ", f->port);
    assert_int_equal(strncmp(read_text(kh), prefix, strlen(prefix)), 0);

    /* Now strict accepts it. */
    c = chatc_argv(f, "alice", dflt);
    snprintf(want, sizeof want, "host-key known %s line=1", fp);
    expect(c, want);
    expect(c, "ready alice admin");
    close_stdin(c);
    assert_int_equal(exit_status(c), 0);
}

/* A one-connection TCP proxy in a child process: forwards between a client
 * and 127.0.0.1:to, then writes "c2s=N s2c=M" to count_path. Returns the
 * port it listens on. */
static unsigned start_proxy(fx *f, unsigned to, const char *count_path)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(ls >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(ls, 1), 0);
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
    unsigned port = ntohs(sa.sin_port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Die with the test: a failed assertion or a ctest timeout must
         * not leave a server running. */
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        int c = accept(ls, NULL, NULL);
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in ta = sa;
        ta.sin_port = htons((uint16_t)to);
        if (c < 0 || s < 0 || connect(s, (struct sockaddr *)&ta, sizeof ta) != 0)
            _exit(1);
        size_t c2s = 0, s2c = 0;
        int open_c = 1, open_s = 1;
        while (open_c || open_s) {
            struct pollfd p[2] = {{c, open_c ? POLLIN : 0, 0}, {s, open_s ? POLLIN : 0, 0}};
            if (poll(p, 2, 20000) <= 0)
                break;
            char buf[65536];
            if (open_c && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t r = read(c, buf, sizeof buf);
                if (r <= 0) {
                    open_c = 0;
                    shutdown(s, SHUT_WR);
                } else {
                    c2s += (size_t)r;
                    if (write(s, buf, (size_t)r) != r)
                        open_s = 0;
                }
            }
            if (open_s && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t r = read(s, buf, sizeof buf);
                if (r <= 0) {
                    open_s = 0;
                    shutdown(c, SHUT_WR);
                } else {
                    s2c += (size_t)r;
                    if (write(c, buf, (size_t)r) != r)
                        open_c = 0;
                }
            }
        }
        FILE *fp = fopen(count_path, "w");
        if (fp != NULL) {
            fprintf(fp, "c2s=%zu s2c=%zu\n", c2s, s2c);
            fclose(fp);
        }
        _exit(0);
    }
    close(ls);
    f->proxy = pid;
    return port;
}

static void test_changed_key(void **state)
{
    fx *f = *state;
    /* Pin the first server's key. */
    client *c = ready(f, "alice", "pw-alice");
    close_stdin(c);
    assert_int_equal(exit_status(c), 0);
    char kh[200];
    snprintf(kh, sizeof kh, "%s/alice/data/chatc/known_hosts", f->dir);
    char line[300];
    const char *t = read_text(kh);
    assert_non_null(t);
    assert_true(strlen(t) < sizeof line);
    memcpy(line, t, strlen(t) + 1);
    const char *key = strstr(line, " x25519 ");
    assert_non_null(key);

    /* Restart "the server" on the same port with another key (a fresh
     * state directory: a new key is generated). */
    unsigned port = f->port;
    stop_chatd(f);
    char state2[160];
    snprintf(state2, sizeof state2, "%s/state2", f->dir);
    start_chatd(f, state2, port);
    assert_int_equal(f->port, port);

    /* Through a proxy that counts what the client sends: pin the old key
     * for the proxy's address too. */
    char counts[200];
    snprintf(counts, sizeof counts, "%s/counts", f->dir);
    unsigned pport = start_proxy(f, port, counts);
    char text[600];
    snprintf(text, sizeof text, "# pinned\n%s[127.0.0.1]:%u%s", line, pport, key);
    write_file(kh, text, 0600);

    const char *args[] = {"--password-file", pwfile(f, "alice", "pw-alice"), "--trust=accept-new",
                          dest(f, "alice", pport), NULL};
    c = chatc_argv(f, "alice", args);
    const char *l = expect(c, "host-key changed SHA256:");
    assert_non_null(strstr(l, " pinned=SHA256:"));
    assert_non_null(strstr(l, " line=3"));
    assert_int_equal(exit_status(c), 76);
    assert_false(printed(c, "challenge"));
    const char *err = read_text(c->err_path);
    assert_non_null(strstr(err, "WARNING: THE SERVER'S IDENTITY HAS CHANGED!"));
    assert_non_null(strstr(err, "pinned key:  SHA256:"));
    assert_non_null(strstr(err, "offered key: SHA256:"));
    assert_non_null(strstr(err, "remove line 3 of"));
    assert_non_null(strstr(err, kh));
    /* The file is untouched, and nothing but HS1 was sent: a 3-byte
     * header, the 32-byte ephemeral key and the 6-byte payload. */
    assert_string_equal(read_text(kh), text);
    assert_int_equal(wait_exit(f->proxy, 10000), 0);
    f->proxy = 0;
    const char *cnt = read_text(counts);
    assert_non_null(cnt);
    assert_int_equal(strncmp(cnt, "c2s=41 ", 7), 0);

    /* The same directly, after a restart: refused, whatever the trust. */
    const char *strict[] = {"--password-file", pwfile(f, "alice", "pw-alice"), "--trust=strict",
                            dest(f, "alice", port), NULL};
    c = chatc_argv(f, "alice", strict);
    expect(c, "host-key changed SHA256:");
    assert_int_equal(exit_status(c), 76);
}

static void test_usage_and_files(void **state)
{
    fx *f = *state;
    const char *none[] = {NULL};
    client *c = chatc_argv(f, "u1", none);
    assert_int_equal(exit_status(c), 64);
    const char *two[] = {"a", "b", NULL};
    assert_int_equal(exit_status(chatc_argv(f, "u2", two)), 64);
    const char *nopw[] = {dest(f, "alice", 0), NULL};
    c = chatc_argv(f, "u3", nopw);
    assert_int_equal(exit_status(c), 64);
    assert_non_null(strstr(read_text(c->err_path), "--password-file"));
    const char *ask[] = {"--trust=ask", "--password-file", pwfile(f, "alice", "x"),
                         dest(f, "alice", 0), NULL};
    assert_int_equal(exit_status(chatc_argv(f, "u4", ask)), 64);
    const char *badport[] = {"--password-file", pwfile(f, "alice", "x"), "alice@h:0", NULL};
    assert_int_equal(exit_status(chatc_argv(f, "u5", badport)), 64);
    const char *help[] = {"--help", NULL};
    c = chatc_argv(f, "u6", help);
    assert_int_equal(exit_status(c), 0);
    expect(c, "Exit status:");
    expect(c, "  77  login refused");

    /* A password file others can read is refused (78). */
    char pw[160];
    snprintf(pw, sizeof pw, "%s/open.pw", f->dir);
    write_file(pw, "pw-alice\n", 0644);
    const char *open_pw[] = {"--password-file", pw, dest(f, "alice", 0), NULL};
    c = chatc_argv(f, "u7", open_pw);
    assert_int_equal(exit_status(c), 78);
    assert_non_null(strstr(read_text(c->err_path), "chmod 600"));

    /* A bad config file (78), a bad identity file (78). */
    char conf[160];
    snprintf(conf, sizeof conf, "%s/bad.conf", f->dir);
    write_file(conf, "bell = loud\n", 0600);
    const char *badconf[] = {
        "-c", conf, "--password-file", pwfile(f, "alice", "x"), dest(f, "alice", 0), NULL};
    c = chatc_argv(f, "u8", badconf);
    assert_int_equal(exit_status(c), 78);
    assert_non_null(strstr(read_text(c->err_path), "line 1: invalid value 'loud' for bell"));
    char id[160];
    snprintf(id, sizeof id, "%s/bad.key", f->dir);
    write_file(id, "not a key\n", 0600);
    const char *badid[] = {"--identity",        id,  "--password-file", pwfile(f, "alice", "x"),
                           dest(f, "alice", 0), NULL};
    assert_int_equal(exit_status(chatc_argv(f, "u9", badid)), 78);

    /* Nothing listening: 69. */
    unsigned port = f->port;
    stop_chatd(f);
    const char *down[] = {"--password-file", pwfile(f, "alice", "x"), dest(f, "alice", port), NULL};
    c = chatc_argv(f, "u10", down);
    assert_int_equal(exit_status(c), 69);
    assert_non_null(strstr(c->buf, "client-error cannot connect"));
}

static void test_identity_and_room_option(void **state)
{
    fx *f = *state;
    /* A device key given with --identity, in OpenSSL's PEM form. */
    char id[160];
    snprintf(id, sizeof id, "%s/device.pem", f->dir);
    write_file(id,
               "-----BEGIN PRIVATE KEY-----\n"
               "MC4CAQAwBQYDK2VuBCIEIHBxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6P\n"
               "-----END PRIVATE KEY-----\n",
               0600);
    const char *args[] = {"--identity",
                          id,
                          "--room",
                          "ops",
                          "--password-file",
                          pwfile(f, "alice", "pw-alice"),
                          "--trust=accept-new",
                          dest(f, "alice", 0),
                          NULL};
    client *a = chatc_argv(f, "alice", args);
    expect(a, "ready alice admin");
    expect(a, "joined #ops alice");
    send_line(a, "to ops");
    expect(a, "message #ops <alice> seq=1 to ops");
    /* The generated default key was not made. */
    char def[200];
    snprintf(def, sizeof def, "%s/alice/data/chatc/identity", f->dir);
    struct stat st;
    assert_int_equal(stat(def, &st), -1);
    /* Ignoring someone hides their messages. */
    add_user(a, "eve", "pw-eve", 0);
    send_line(a, "/ignore eve");
    expect(a, "info ignoring eve");
    client *e = ready(f, "eve", "pw-eve");
    send_line(e, "/join #ops");
    expect(e, "joined #ops eve");
    send_line(e, "ignored text");
    send_line(e, "/msg alice also ignored");
    expect(e, "message alice <eve> seq=0 also ignored");
    send_line(a, "/unignore eve");
    expect(a, "info no longer ignoring eve");
    send_line(e, "seen text");
    expect(a, "message #ops <eve> seq=3 seen text");
    assert_false(printed(a, "message #ops <eve> seq=2"));
    assert_false(printed(a, "message alice <eve>"));
    char ig[200];
    snprintf(ig, sizeof ig, "%s/alice/config/chatc/ignore", f->dir);
    assert_string_equal(read_text(ig), "");
    close_stdin(e);
    close_stdin(a);
    assert_int_equal(exit_status(e), 0);
    assert_int_equal(exit_status(a), 0);
}

/* At the end of input chatc waits for the answers to what it sent, prints
 * them, then says goodbye; SIGTERM also leaves cleanly. */
static void test_eof_flushes_and_sigterm(void **state)
{
    fx *f = *state;
    client *a = login(f, "alice", "pw-alice");
    send_line(a, "/join #q");
    send_line(a, "one");
    send_line(a, "two");
    send_line(a, "/rooms");
    send_line(a, "/users");
    close_stdin(a); /* all of it already written: EOF right behind */
    expect(a, "names req=");
    expect(a, "message #q <alice> seq=1 one");
    expect(a, "message #q <alice> seq=2 two");
    expect(a, "rooms req=");
    expect(a, "users req=");
    expect(a, "closed by-us QUIT");
    assert_int_equal(exit_status(a), 0);

    client *b = ready(f, "alice", "pw-alice");
    kill(b->pid, SIGTERM);
    expect(b, "closed by-us QUIT");
    assert_int_equal(exit_status(b), 0);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_chatc_e2e CHATC CHATD\n");
        return 2;
    }
    g_chatc = argv[1];
    g_chatd = argv[2];
    signal(SIGPIPE, SIG_IGN);
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_login_rooms_pm),
        T(test_admin_actions),
        T(test_wrong_password),
        T(test_trust_modes),
        T(test_changed_key),
        T(test_usage_and_files),
        T(test_identity_and_room_option),
        T(test_eof_flushes_and_sigterm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
