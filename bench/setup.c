/* chatbench --setup: create the benchmark accounts PFX0..PFXn-1 through
 * an admin connection, with ADD_USER requests pipelined (a window of them
 * in flight). Accounts that exist already are fine, so setup can run
 * before every benchmark. The verifiers use the Argon2id limits given
 * (default: libchat's minimums; chatd must be configured to allow them). */
#include "bench.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <chat/client.h>

#define SETUP_WINDOW 32

typedef struct setup {
    const bench_opts *o;
    chat_client *cl;
    int fd;
    uint32_t count, next, created, existing, answered;
    uint32_t req[SETUP_WINDOW];
    uint32_t inflight;
    uint32_t opslimit, memlimit_kib;
    int ready;
} setup;

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 1, 2)))
#endif
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "chatbench: setup: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return -1;
}

static int write_all(setup *st)
{
    size_t n = 0;
    const uint8_t *p;
    while ((p = chat_client_out_peek(st->cl, &n)) != NULL && n > 0) {
        ssize_t w = send(st->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return fail("write: %s", strerror(errno));
        chat_client_out_ack(st->cl, (size_t)w);
    }
    return 0;
}

static int add_more(setup *st)
{
    while (st->ready && st->next < st->count && st->inflight < SETUP_WINDOW) {
        char name[CHAT_NAME_MAX + 1];
        snprintf(name, sizeof name, "%s%u", st->o->prefix, (unsigned)st->next);
        uint32_t req = 0;
        int rc = chat_client_add_user(st->cl, name, CHAT_ROLE_USER, (const uint8_t *)st->o->password,
                                      st->o->password_len, st->opslimit, st->memlimit_kib, &req);
        if (rc != CHAT_OK)
            return fail("cannot request account %s: %s", name, chat_strerror(rc));
        st->req[st->inflight++] = req;
        st->next++;
    }
    return 0;
}

/* The reply to one of our ADD_USER requests: OK or ERROR. */
static int on_reply(setup *st, const chat_msg *m)
{
    uint32_t i = 0;
    while (i < st->inflight && st->req[i] != m->req)
        i++;
    if (i == st->inflight)
        return 0; /* not ours (nothing else is asked on this connection) */
    st->req[i] = st->req[--st->inflight];
    st->answered++;
    if (m->type == CHAT_MSG_OK) {
        st->created++;
        return 0;
    }
    uint16_t code = m->u.error.code;
    if (code == CHAT_CODE_USER_EXISTS) {
        st->existing++;
        return 0;
    }
    char text[CHAT_REASON_MAX + 1];
    snprintf(text, sizeof text, "%.*s", (int)m->u.error.text.n, (const char *)m->u.error.text.p);
    const char *name = chat_code_name(code);
    if (code == CHAT_CODE_WEAK_VERIFIER)
        return fail("the server refuses these Argon2id limits (%s); configure chatd with "
                    "min_opslimit = 1 and min_memlimit_kib = 8, or pass --opslimit/--memlimit-kib",
                    text);
    if (code == CHAT_CODE_NOT_ALLOWED)
        return fail("the admin user may not add accounts (%s): is it an admin?", text);
    return fail("ADD_USER failed: %s: %s", name != NULL ? name : "?", text);
}

static int on_event(setup *st, const chat_client_event *ev, const char *admin_pw, size_t pw_len)
{
    switch (ev->type) {
    case CHAT_CLIENT_EV_SERVER_KEY:
        if (chat_client_trust_server(st->cl, 1) != CHAT_OK)
            return fail("cannot accept the server key");
        return 0;
    case CHAT_CLIENT_EV_CHALLENGE:
        if (chat_client_prove(st->cl, (const uint8_t *)admin_pw, pw_len) != CHAT_OK)
            return fail("cannot answer the admin login challenge");
        return 0;
    case CHAT_CLIENT_EV_LOGIN_FAILED: {
        char text[CHAT_REASON_MAX + 1];
        snprintf(text, sizeof text, "%.*s", (int)ev->msg.u.login_failed.text.n,
                 (const char *)ev->msg.u.login_failed.text.p);
        return fail("admin login failed: %s (check --admin-user and --admin-password-file)",
                    text);
    }
    case CHAT_CLIENT_EV_WELCOME:
        if (chat_client_role(st->cl) != CHAT_ROLE_ADMIN)
            return fail("the account %s is not an admin", chat_client_user(st->cl));
        st->ready = 1;
        return 0;
    case CHAT_CLIENT_EV_MESSAGE:
        if (ev->msg.type == CHAT_MSG_OK || ev->msg.type == CHAT_MSG_ERROR)
            return on_reply(st, &ev->msg);
        return 0;
    case CHAT_CLIENT_EV_REJECTED: {
        char text[CHAT_REASON_MAX + 1];
        snprintf(text, sizeof text, "%.*s", (int)ev->reject.text.n, (const char *)ev->reject.text.p);
        return fail("chatd refused the connection: %s", text);
    }
    case CHAT_CLIENT_EV_CLOSED: {
        char text[CHAT_REASON_MAX + 1];
        snprintf(text, sizeof text, "%.*s", (int)ev->close.text.n, (const char *)ev->close.text.p);
        return fail("the admin connection closed: %s", text);
    }
    default:
        return 0;
    }
}

int bench_setup(const bench_opts *o, const char *admin, const char *admin_pw, size_t admin_pw_len,
                uint32_t count, uint32_t opslimit, uint32_t memlimit_kib)
{
    setup st;
    memset(&st, 0, sizeof st);
    st.o = o;
    st.count = count;
    st.opslimit = opslimit;
    st.memlimit_kib = memlimit_kib;
    st.fd = bench_connect_blocking(o);
    if (st.fd < 0)
        return 1;
    chat_client_config cfg;
    memset(&cfg, 0, sizeof cfg);
    int rc = -1;
    if (chat_client_new(&st.cl, &cfg) != CHAT_OK) {
        fail("out of memory");
        goto out;
    }
    if (chat_client_start(st.cl, admin, bench_now_ns() / 1000000u) != CHAT_OK) {
        fail("\"%s\" is not a valid user name", admin);
        goto out;
    }
    uint64_t deadline = bench_now_ns() + (uint64_t)(o->timeout * 1e9);
    uint8_t buf[65536];
    while (st.answered < st.count || !st.ready) {
        if (add_more(&st) != 0 || write_all(&st) != 0)
            goto out;
        if (bench_now_ns() > deadline) {
            fprintf(stderr, "chatbench: setup: timed out after %.0f s with %u of %u accounts\n",
                    o->timeout, st.answered, st.count);
            goto out;
        }
        struct pollfd pfd = {st.fd, POLLIN, 0};
        int n = poll(&pfd, 1, 100);
        if (n < 0 && errno != EINTR) {
            fail("poll: %s", strerror(errno));
            goto out;
        }
        if (n <= 0)
            continue;
        ssize_t r = read(st.fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fail("the server closed the admin connection%s%s", r < 0 ? ": " : "",
                 r < 0 ? strerror(errno) : "");
            goto out;
        }
        uint64_t now_ms = bench_now_ns() / 1000000u;
        if (chat_client_feed(st.cl, buf, (size_t)r, now_ms) == CHAT_E_NOMEM) {
            fail("out of memory");
            goto out;
        }
        chat_client_event ev;
        while (chat_client_next_event(st.cl, &ev))
            if (on_event(&st, &ev, admin_pw, admin_pw_len) != 0)
                goto out;
    }
    if (chat_client_quit(st.cl, "setup done") == CHAT_OK)
        (void)write_all(&st);
    printf("SETUP proto=chat accounts=%u created=%u existing=%u user_prefix=%s\n", st.count,
           st.created, st.existing, o->prefix);
    rc = 0;
out:
    chat_client_free(st.cl);
    close(st.fd);
    return rc == 0 ? 0 : 1;
}
