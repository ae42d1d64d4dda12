/* chatbench's chat protocol: one libchat client session per connection,
 * driven as chatc drives it (feed received bytes, drain events, write
 * what the session wants written). The server key is accepted without
 * pinning (--trust accept), and the Argon2id seed of each account is
 * derived once and reused, so a login costs the client only the Noise
 * handshake and one signature. */
#include "bench.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include <chat/client.h>
#include <chat/verifier.h>

typedef struct chat_ps {
    chat_client *cl;
    uint32_t join_req;
    int join_sent;
} chat_ps;

static chat_client *cl_of(bconn *c)
{
    return ((chat_ps *)c->ps)->cl;
}

static int open_session(bconn *c, uint64_t now_ms)
{
    bench *b = c->th->b;
    bseed *sd = &b->seeds[c->idx];
    if (!sd->have_key) {
        randombytes_buf(sd->device_key, sizeof sd->device_key);
        sd->have_key = 1;
    }
    chat_ps *ps = calloc(1, sizeof *ps);
    if (ps == NULL)
        return bench_fail(b, "out of memory");
    chat_client_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.static_priv = sd->device_key;
    int rc = chat_client_new(&ps->cl, &cfg);
    if (rc != CHAT_OK) {
        free(ps);
        return bench_fail(b, "cannot create a client session: %s", chat_strerror(rc));
    }
    c->ps = ps;
    char name[CHAT_NAME_MAX + 1];
    bench_name(b, c->idx, name);
    rc = chat_client_start(ps->cl, name, now_ms);
    if (rc != CHAT_OK)
        return bench_fail(b, "cannot start a session as %s: %s", name, chat_strerror(rc));
    return 0;
}

/* The CHALLENGE: answer with the cached seed when the salt and limits are
 * the ones seen before, else derive it (once per account and run). */
static int answer_challenge(bconn *c, const chat_msg *m)
{
    bench *b = c->th->b;
    bseed *sd = &b->seeds[c->idx];
    if (!sd->valid || memcmp(sd->salt, m->u.challenge.salt, CHAT_SALT_LEN) != 0 ||
        sd->opslimit != m->u.challenge.opslimit ||
        sd->memlimit_kib != m->u.challenge.memlimit_kib) {
        int rc = chat_seed_derive(sd->seed, (const uint8_t *)b->o->password, b->o->password_len,
                                  m->u.challenge.salt, m->u.challenge.opslimit,
                                  m->u.challenge.memlimit_kib);
        if (rc != CHAT_OK)
            return bench_fail(b, "Argon2id for account %u failed: %s", c->idx, chat_strerror(rc));
        memcpy(sd->salt, m->u.challenge.salt, CHAT_SALT_LEN);
        sd->opslimit = m->u.challenge.opslimit;
        sd->memlimit_kib = m->u.challenge.memlimit_kib;
        sd->valid = 1;
    }
    int rc = chat_client_prove_seed(cl_of(c), sd->seed);
    if (rc != CHAT_OK)
        return bench_fail(b, "cannot answer the login challenge: %s", chat_strerror(rc));
    return 0;
}

static int str_is(chat_str s, const char *z)
{
    size_t n = strlen(z);
    return s.n == n && strncasecmp((const char *)s.p, z, n) == 0;
}

static const char *code_name(unsigned code)
{
    const char *n = chat_code_name(code);
    return n != NULL ? n : "?";
}

static int on_message(bconn *c, const chat_msg *m)
{
    bench *b = c->th->b;
    chat_ps *ps = c->ps;
    switch (m->type) {
    case CHAT_MSG_MESSAGE:
        /* History replayed at JOIN (from earlier runs) and other rooms
         * (default rooms the server joins us to) are not this run's. */
        if ((m->u.message.flags & CHAT_MESSAGE_HISTORY) == 0 && str_is(m->u.message.target, b->o->room))
            bench_on_text(c, (const char *)m->u.message.from.p, m->u.message.from.n,
                          m->u.message.text.p, m->u.message.text.n);
        return 0;
    case CHAT_MSG_NAMES:
        /* NAMES is the reply to our JOIN (PROTOCOL.md §9.2). */
        if (ps->join_sent && m->req == ps->join_req) {
            ps->join_sent = 0;
            bench_on_joined(c);
        }
        return 0;
    case CHAT_MSG_ERROR:
        return bench_fail(b, "connection %u: the server answered request %u with ERROR %s: %.*s",
                          c->idx, (unsigned)m->req, code_name(m->u.error.code),
                          (int)m->u.error.text.n, (const char *)m->u.error.text.p);
    default:
        return 0; /* OK, JOINED, PARTED, TOPIC_CHANGED ...: presence, not measured */
    }
}

static int on_event(bconn *c, const chat_client_event *ev)
{
    bench *b = c->th->b;
    char name[CHAT_NAME_MAX + 1];
    switch (ev->type) {
    case CHAT_CLIENT_EV_SERVER_KEY: {
        int rc = chat_client_trust_server(cl_of(c), 1); /* --trust accept */
        if (rc != CHAT_OK)
            return bench_fail(b, "cannot accept the server key: %s", chat_strerror(rc));
        return 0;
    }
    case CHAT_CLIENT_EV_CHALLENGE:
        return answer_challenge(c, &ev->msg);
    case CHAT_CLIENT_EV_LOGIN_FAILED:
        bench_name(b, c->idx, name);
        return bench_fail(b,
                          "login as %s failed: %s: %.*s (create the accounts with chatbench "
                          "--setup, with the same --user-prefix and --password-file)",
                          name, code_name(ev->msg.u.login_failed.code),
                          (int)ev->msg.u.login_failed.text.n,
                          (const char *)ev->msg.u.login_failed.text.p);
    case CHAT_CLIENT_EV_WELCOME:
        bench_on_ready(c);
        return 0;
    case CHAT_CLIENT_EV_MESSAGE:
        return on_message(c, &ev->msg);
    case CHAT_CLIENT_EV_REJECTED:
        if (ev->reject.code == CHAT_CODE_SERVER_FULL)
            return bench_fail(b,
                              "chatd refused connection %u: %.*s (raise max_connections and "
                              "max_connections_per_address in chatd's config above the number "
                              "of connections of this run)",
                              c->idx, (int)ev->reject.text.n, (const char *)ev->reject.text.p);
        return bench_fail(b, "chatd refused connection %u: %s: %.*s", c->idx,
                          code_name(ev->reject.code), (int)ev->reject.text.n,
                          (const char *)ev->reject.text.p);
    case CHAT_CLIENT_EV_CLOSED: {
        char why[300];
        snprintf(why, sizeof why, "%s %s%s%.*s",
                 ev->close.origin == CHAT_CLOSE_PEER    ? "closed by the server:"
                 : ev->close.origin == CHAT_CLOSE_LOCAL ? "closed by chatbench:"
                                                        : "connection lost",
                 ev->close.origin == CHAT_CLOSE_LOST ? "" : code_name(ev->close.code),
                 ev->close.text.n > 0 ? ": " : "", (int)ev->close.text.n,
                 (const char *)ev->close.text.p);
        bench_on_closed(c, why);
        return 0;
    }
    default:
        return 0;
    }
}

static int chat_input(bconn *c, const uint8_t *in, size_t n, uint64_t now_ms)
{
    chat_client *cl = cl_of(c);
    int rc = chat_client_feed(cl, in, n, now_ms);
    if (rc != CHAT_OK && rc != CHAT_E_CLOSED)
        return bench_fail(c->th->b, "connection %u: %s", c->idx, chat_strerror(rc));
    chat_client_event ev;
    while (chat_client_next_event(cl, &ev))
        if (on_event(c, &ev) != 0)
            return -1;
    return 0;
}

static const uint8_t *chat_peek(bconn *c, size_t *n)
{
    return chat_client_out_peek(cl_of(c), n);
}

static void chat_ack(bconn *c, size_t n)
{
    chat_client_out_ack(cl_of(c), n);
}

static int chat_join(bconn *c, const char *room)
{
    chat_ps *ps = c->ps;
    int rc = chat_client_join(ps->cl, room, &ps->join_req);
    if (rc != CHAT_OK)
        return bench_fail(c->th->b, "cannot join %s: %s", room, chat_strerror(rc));
    ps->join_sent = 1;
    return 0;
}

static int chat_say(bconn *c, const char *room, const char *text, size_t len)
{
    (void)len;
    int rc = chat_client_say(cl_of(c), room, text, CHAT_KIND_SAY, NULL);
    if (rc != CHAT_OK)
        return bench_fail(c->th->b, "cannot send to %s: %s", room, chat_strerror(rc));
    return 0;
}

static int chat_quit(bconn *c)
{
    int rc = chat_client_quit(cl_of(c), "chatbench");
    if (rc != CHAT_OK && rc != CHAT_E_CLOSED)
        return bench_fail(c->th->b, "cannot say goodbye: %s", chat_strerror(rc));
    return 0;
}

static void chat_tick(bconn *c, uint64_t now_ms)
{
    chat_client *cl = cl_of(c);
    if (now_ms >= chat_client_next_deadline(cl))
        chat_client_tick(cl, now_ms);
}

static void chat_close(bconn *c)
{
    chat_ps *ps = c->ps;
    if (ps == NULL)
        return;
    chat_client_free(ps->cl);
    free(ps);
    c->ps = NULL;
}

const bproto bench_chat_proto = {
    "chat", open_session, chat_input, chat_peek, chat_ack, chat_join,
    chat_say, chat_quit, chat_tick, chat_close,
};
