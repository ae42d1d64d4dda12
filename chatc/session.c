/* chatc's session over libchat's client. See session.h. */
#include "session.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#define CONNECT_TIMEOUT_MS 15000u
#define CLOSING_TIMEOUT_MS 3000u
#define BACKOFF_MIN_MS 1000u
#define BACKOFF_MAX_MS 60000u

#if defined(__GNUC__) || defined(__clang__)
#define SESS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SESS_PRINTF(a, b)
#endif

uint64_t now_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t now_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void notef(session *s, sess_note kind, const char *machine, const char *fmt, ...)
    SESS_PRINTF(4, 5);

static void notef(session *s, sess_note kind, const char *machine, const char *fmt, ...)
{
    char human[16384];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(human, sizeof human, fmt, ap);
    va_end(ap);
    if (s->ops->notice != NULL)
        s->ops->notice(s->ctx, kind, machine, human);
}

static void process_events(session *s, uint64_t now);

/* ---- Lifecycle ------------------------------------------------------- */

int session_init(session *s, const session_ops *ops, void *ctx)
{
    static const session_ops no_ops;
    memset(s, 0, sizeof *s);
    net_init(&s->net);
    s->ops = ops != NULL ? ops : &no_ops;
    s->ctx = ctx;
    s->port = 7447;
    s->role = -1;
    s->backoff_ms = BACKOFF_MIN_MS;
    s->reconnect = 1;
    ignore_init(&s->ignores);
    s->password = sodium_malloc(CHAT_PASSWORD_MAX + 1);
    s->new_password = sodium_malloc(CHAT_PASSWORD_MAX + 1);
    if (s->password == NULL || s->new_password == NULL) {
        sodium_free(s->password);
        sodium_free(s->new_password);
        s->password = s->new_password = NULL;
        return -1;
    }
    sodium_memzero(s->password, CHAT_PASSWORD_MAX + 1);
    sodium_memzero(s->new_password, CHAT_PASSWORD_MAX + 1);
    return 0;
}

static void drop_connection(session *s)
{
    if (s->cl != NULL)
        chat_client_free(s->cl);
    s->cl = NULL;
    net_close(&s->net);
    s->npend = 0;
    s->shut_wr = 0;
}

void session_free(session *s)
{
    drop_connection(s);
    sodium_free(s->password);
    sodium_free(s->new_password);
    s->password = s->new_password = NULL;
    sodium_memzero(s->device_key, sizeof s->device_key);
}

int session_set_password(session *s, const char *pw, size_t len)
{
    if (len == 0 || len > CHAT_PASSWORD_MAX)
        return -1;
    memcpy(s->password, pw, len);
    s->password[len] = '\0';
    s->password_len = len;
    return 0;
}

/* ---- Pending requests ------------------------------------------------ */

static void record(session *s, uint32_t req, cmd_type what, const char *arg, int quiet)
{
    if (s->npend == SESS_MAX_PENDING) {
        /* Forget the oldest: a reply to it is then shown without context. */
        memmove(s->pend, s->pend + 1, (SESS_MAX_PENDING - 1) * sizeof s->pend[0]);
        s->npend--;
    }
    sess_req *r = &s->pend[s->npend++];
    memset(r, 0, sizeof *r);
    r->req = req;
    r->what = what;
    r->quiet = (uint8_t)(quiet != 0);
    r->used = 1;
    if (arg != NULL)
        snprintf(r->arg, sizeof r->arg, "%s", arg);
}

/* Find the request req; copy it to *out and, if done, forget it. */
static int take_pending(session *s, uint32_t req, int done, sess_req *out)
{
    if (req == 0)
        return 0;
    for (size_t i = 0; i < s->npend; i++) {
        if (s->pend[i].req != req)
            continue;
        *out = s->pend[i];
        if (done) {
            memmove(s->pend + i, s->pend + i + 1, (s->npend - i - 1) * sizeof s->pend[0]);
            s->npend--;
        }
        return 1;
    }
    return 0;
}

size_t session_pending(const session *s)
{
    return s->npend;
}

/* ---- Rooms ------------------------------------------------------------ */

int session_in_room(const session *s, const char *room)
{
    for (size_t i = 0; i < s->nrooms; i++)
        if (strcasecmp(s->rooms[i], room) == 0)
            return 1;
    return 0;
}

static void room_add(session *s, const char *room)
{
    if (session_in_room(s, room) || s->nrooms == SESS_MAX_ROOMS)
        return;
    snprintf(s->rooms[s->nrooms++], sizeof s->rooms[0], "%s", room);
}

static void room_remove(session *s, const char *room)
{
    for (size_t i = 0; i < s->nrooms; i++) {
        if (strcasecmp(s->rooms[i], room) == 0) {
            memmove(s->rooms[i], s->rooms[i + 1], (s->nrooms - i - 1) * sizeof s->rooms[0]);
            s->nrooms--;
            return;
        }
    }
}

/* ---- Connecting ------------------------------------------------------- */

static void schedule_reconnect(session *s, uint64_t now)
{
    uint32_t d = s->backoff_ms;
    /* +-20% jitter, so clients cut off together do not come back together. */
    uint32_t jitter = d / 5;
    d = d - jitter + randombytes_uniform(2 * jitter + 1);
    s->reconnect_at = now + d;
    s->backoff_ms = s->backoff_ms >= BACKOFF_MAX_MS / 2 ? BACKOFF_MAX_MS : s->backoff_ms * 2;
    s->state = SESS_WAIT_RECONNECT;
    s->rejoin = s->nrooms > 0;
    char m[64];
    snprintf(m, sizeof m, "reconnecting in=%ums", (unsigned)d);
    notef(s, NOTE_RECONNECT, m, "reconnecting to %s in %.1f s", s->hostport, d / 1000.0);
}

/* Whether losing an established session should lead to a reconnect. */
static int may_reconnect(const session *s)
{
    return s->ever_ready && s->reconnect && !s->quitting && !s->fatal;
}

static void finish(session *s, sess_state next, uint64_t now)
{
    drop_connection(s);
    if (next == SESS_WAIT_RECONNECT)
        schedule_reconnect(s, now);
    else
        s->state = SESS_DONE;
}

static int connect_failed(session *s, const char *why, uint64_t now)
{
    notef(s, NOTE_ERROR, NULL, "%s", why);
    if (may_reconnect(s)) {
        finish(s, SESS_WAIT_RECONNECT, now);
    } else {
        if (!s->fatal)
            s->exit_code = EXIT_UNAVAILABLE;
        finish(s, SESS_DONE, now);
    }
    return -1;
}

static void on_connected(session *s, uint64_t now)
{
    chat_client_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.static_priv = s->device_key;
    if (chat_client_new(&s->cl, &cfg) != CHAT_OK ||
        chat_client_start(s->cl, s->user, now) != CHAT_OK) {
        s->fatal = 1;
        s->exit_code = EXIT_SOFTWARE;
        notef(s, NOTE_ERROR, NULL, "cannot start a session (out of memory?)");
        finish(s, SESS_DONE, now);
        return;
    }
    s->state = SESS_LOGIN;
    char m[KH_HOSTPORT_MAX + 32];
    snprintf(m, sizeof m, "connected %s", s->hostport);
    notef(s, NOTE_CONNECTED, m, "connected to %s (%s)", s->hostport, s->net.peer);
    session_flush(s, now);
}

int session_connect(session *s, uint64_t now)
{
    drop_connection(s);
    if (s->hostport[0] == '\0' &&
        kh_hostport(s->hostport, sizeof s->hostport, s->host, s->port) != KH_OK) {
        s->fatal = 1;
        s->exit_code = EXIT_USAGE;
        notef(s, NOTE_ERROR, NULL, "invalid host name or port");
        s->state = SESS_DONE;
        return -1;
    }
    char err[256];
    if (net_start(&s->net, s->host, s->port, err, sizeof err) != 0)
        return connect_failed(s, err, now);
    s->state = SESS_CONNECTING;
    s->connect_deadline = now + CONNECT_TIMEOUT_MS;
    if (!s->net.connecting)
        on_connected(s, now);
    return 0;
}

int session_pollfd(session *s, struct pollfd *p)
{
    if (s->net.fd < 0)
        return 0;
    p->fd = s->net.fd;
    p->events = POLLIN;
    p->revents = 0;
    if (s->net.connecting) {
        p->events = POLLOUT;
    } else if (s->cl != NULL) {
        size_t len = 0;
        (void)chat_client_out_peek(s->cl, &len);
        if (len > 0)
            p->events |= POLLOUT;
    }
    return 1;
}

/* ---- Server key ------------------------------------------------------- */

static void accept_key(session *s, const uint8_t key[32], uint64_t now)
{
    memcpy(s->accepted_key, key, 32);
    s->have_accepted_key = 1;
    if (chat_client_trust_server(s->cl, 1) != CHAT_OK)
        notef(s, NOTE_ERROR, NULL, "the session could not go on after the server key");
    session_flush(s, now);
}

static void refuse_key(session *s, int code)
{
    s->fatal = 1;
    s->exit_code = code;
    /* Refusing closes the client without sending anything more: the
     * login (our user name) never leaves. */
    if (chat_client_trust_server(s->cl, 0) != CHAT_OK)
        drop_connection(s); /* cannot happen in AWAIT_TRUST; be safe anyway */
}

static void pin_key(session *s, const uint8_t key[32], const char *fp)
{
    char err[512];
    unsigned line = 0;
    char m[200];
    if (kh_add(s->known_hosts, s->hostport, key, &line, err, sizeof err) != KH_OK) {
        snprintf(m, sizeof m, "host-key accepted %s", fp);
        notef(s, NOTE_HOSTKEY, m, "server key %s accepted for this session, but not pinned: %s", fp,
              err);
        return;
    }
    snprintf(m, sizeof m, "host-key pinned %s line=%u", fp, line);
    notef(s, NOTE_HOSTKEY, m, "pinned the key of %s (%s) in %s line %u", s->hostport, fp,
          s->known_hosts, line);
}

static void changed_warning(session *s, const char *fp, const uint8_t pinned[32], unsigned line)
{
    char pfp[CHAT_FINGERPRINT_LEN + 1];
    chat_fingerprint(pfp, pinned);
    char m[400], where[4200], fix[8400];
    if (line > 0) {
        snprintf(m, sizeof m, "host-key changed %s pinned=%s line=%u", fp, pfp, line);
        snprintf(where, sizeof where, "%s line %u", s->known_hosts, line);
        snprintf(fix, sizeof fix,
                 "If you know that the server's key was really replaced, remove line %u of\n"
                 "%s\n(for example: sed -i '%ud' '%s') and connect again to pin the new key.\n",
                 line, s->known_hosts, line, s->known_hosts);
    } else {
        snprintf(m, sizeof m, "host-key changed %s pinned=%s line=0", fp, pfp);
        snprintf(where, sizeof where, "accepted earlier in this session");
        snprintf(fix, sizeof fix, "Start chatc again to look at the new key.\n");
    }
    notef(s, NOTE_ALERT, m,
          "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
          "@       WARNING: THE SERVER'S IDENTITY HAS CHANGED!         @\n"
          "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
          "The server at %s offered a key that is not the one pinned for it.\n"
          "Someone may be intercepting this connection (a man-in-the-middle\n"
          "attack), or the server's key may have been replaced.\n"
          "  pinned key:  %s  (%s)\n"
          "  offered key: %s\n"
          "The connection was closed before anything about you was sent.\n"
          "%s"
          "No option overrides this check.\n",
          s->hostport, pfp, where, fp, fix);
}

static void check_server_key(session *s, const uint8_t key[32], uint64_t now)
{
    char fp[CHAT_FINGERPRINT_LEN + 1];
    chat_fingerprint(fp, key);
    kh_result r;
    char err[600], m[400];
    if (kh_check_file(s->known_hosts, s->hostport, key, &r, err, sizeof err) != KH_OK) {
        notef(s, NOTE_ALERT, "host-key error", "cannot check the server key: %s", err);
        refuse_key(s, EXIT_CONFIG);
        return;
    }
    if (r.bad_lines > 0)
        notef(s, NOTE_ERROR, NULL, "%s: %u malformed line(s) skipped (the first: line %u)",
              s->known_hosts, r.bad_lines, r.first_bad_line);
    if (r.status == KH_MALFORMED) {
        snprintf(m, sizeof m, "host-key malformed line=%u", r.line);
        notef(s, NOTE_ALERT, m,
              "line %u of %s is about %s but cannot be read.\n"
              "Fix or remove that line; chatc will not guess which key it meant.\n",
              r.line, s->known_hosts, s->hostport);
        refuse_key(s, EXIT_CONFIG);
        return;
    }
    if (r.status == KH_CHANGED) {
        changed_warning(s, fp, r.pinned, r.line);
        refuse_key(s, EXIT_PROTOCOL);
        return;
    }
    /* A reconnect must meet the key accepted earlier in this run, whatever
     * happened to the file since. */
    if (s->have_accepted_key && sodium_memcmp(key, s->accepted_key, 32) != 0) {
        changed_warning(s, fp, s->accepted_key, 0);
        refuse_key(s, EXIT_PROTOCOL);
        return;
    }
    if (r.status == KH_MATCH) {
        snprintf(m, sizeof m, "host-key known %s line=%u", fp, r.line);
        notef(s, NOTE_HOSTKEY, m, "server key %s (pinned in %s line %u)", fp, s->known_hosts,
              r.line);
        accept_key(s, key, now);
        return;
    }
    /* Unknown host. */
    if (s->have_accepted_key) {
        snprintf(m, sizeof m, "host-key accepted %s", fp);
        notef(s, NOTE_HOSTKEY, m, "server key %s, as accepted earlier in this session", fp);
        accept_key(s, key, now);
        return;
    }
    switch (s->trust) {
    case TRUST_STRICT:
        snprintf(m, sizeof m, "host-key unknown %s", fp);
        notef(s, NOTE_ALERT, m,
              "No key is pinned for %s in %s, and --trust=strict refuses unknown servers.\n"
              "The server offered the key %s.\n"
              "If that is the server's published fingerprint, connect once with --trust=ask\n"
              "or --trust=accept-new to pin it.\n",
              s->hostport, s->known_hosts, fp);
        refuse_key(s, EXIT_PROTOCOL);
        return;
    case TRUST_ACCEPT_NEW:
        pin_key(s, key, fp);
        accept_key(s, key, now);
        return;
    case TRUST_ASK:
    default:
        if (s->ops->ask_key != NULL && s->ops->ask_key(s->ctx, s->hostport, fp)) {
            pin_key(s, key, fp);
            accept_key(s, key, now);
            return;
        }
        snprintf(m, sizeof m, "host-key refused %s", fp);
        notef(s, NOTE_ALERT, m, "The key of %s (%s) was not accepted; nothing was sent.\n",
              s->hostport, fp);
        refuse_key(s, EXIT_PROTOCOL);
        return;
    }
}

/* ---- Login ------------------------------------------------------------ */

static void login_give_up(session *s, int left)
{
    s->fatal = 1;
    s->exit_code = EXIT_NOPERM;
    /* With attempts left we leave; otherwise the server says goodbye. */
    if (left > 0 && chat_client_quit(s->cl, "") != CHAT_OK)
        chat_client_eof(s->cl);
}

static int ask_password(session *s, int retry)
{
    if (s->ops->password == NULL)
        return -1;
    int n = s->ops->password(s->ctx, s->password, CHAT_PASSWORD_MAX + 1, retry);
    if (n <= 0 || n > CHAT_PASSWORD_MAX) {
        sodium_memzero(s->password, CHAT_PASSWORD_MAX + 1);
        s->password_len = 0;
        return -1;
    }
    s->password_len = (size_t)n;
    return 0;
}

static void answer_challenge(session *s, uint64_t now)
{
    if (s->password_len == 0 && ask_password(s, 0) != 0) {
        notef(s, NOTE_ERROR, NULL, "no password: cannot log in");
        login_give_up(s, 1);
        return;
    }
    int rc = chat_client_prove(s->cl, (const uint8_t *)s->password, s->password_len);
    if (rc != CHAT_OK) {
        notef(s, NOTE_ERROR, NULL, "cannot answer the login challenge: %s",
              rc == CHAT_E_INVAL ? "the password is empty or too long" : chat_strerror(rc));
        login_give_up(s, 1);
        return;
    }
    session_flush(s, now);
}

static void login_failed(session *s, unsigned code, unsigned left, uint64_t now)
{
    if (code == CHAT_CODE_BAD_LOGIN && left > 0 && ask_password(s, 1) == 0) {
        if (chat_client_login(s->cl, s->user) == CHAT_OK) {
            session_flush(s, now);
            return;
        }
    }
    if (s->ever_ready &&
        (code == CHAT_CODE_ALREADY_ONLINE || code == CHAT_CODE_RATE_LIMITED) && left > 0) {
        /* Reconnecting: the server may not have noticed yet that our old
         * connection is gone. Not fatal: leave and try again later. */
        notef(s, NOTE_ERROR, NULL, "login refused for now (%s); trying again later",
              code == CHAT_CODE_ALREADY_ONLINE ? "already logged in" : "rate limited");
        if (chat_client_quit(s->cl, "") != CHAT_OK)
            chat_client_eof(s->cl);
        return;
    }
    if (code == CHAT_CODE_ALREADY_ONLINE)
        notef(s, NOTE_ERROR, NULL, "%s is already logged in elsewhere", s->user);
    else if (code == CHAT_CODE_RATE_LIMITED)
        notef(s, NOTE_ERROR, NULL, "too many failed logins recently: try again later");
    else
        notef(s, NOTE_ERROR, NULL, "login refused: wrong user name or password");
    login_give_up(s, (int)left);
}

/* ---- Events ----------------------------------------------------------- */

static int str_eq(chat_str a, const char *b)
{
    size_t n = strlen(b);
    return a.n == n && strncasecmp((const char *)a.p, b, n) == 0;
}

static void copy_str(char *out, size_t cap, chat_str s)
{
    size_t n = s.n < cap - 1 ? s.n : cap - 1;
    memcpy(out, s.p, n);
    out[n] = '\0';
}

static void on_message(session *s, const chat_client_event *ev)
{
    const chat_msg *m = &ev->msg;
    sess_req info, *req = NULL;
    char room[CHAT_ROOM_MAX + 1];
    switch (m->type) {
    case CHAT_MSG_OK:
    case CHAT_MSG_ERROR:
        if (take_pending(s, m->req, 1, &info)) {
            req = &info;
            if (info.what == CMD_PASSWD && info.req == s->passwd_req) {
                if (m->type == CHAT_MSG_OK) {
                    /* Reconnects now need the new password. */
                    memcpy(s->password, s->new_password, CHAT_PASSWORD_MAX + 1);
                    s->password_len = s->new_password_len;
                }
                sodium_memzero(s->new_password, CHAT_PASSWORD_MAX + 1);
                s->new_password_len = 0;
                s->passwd_req = 0;
            }
            if (m->type == CHAT_MSG_ERROR && info.quiet &&
                m->u.error.code == CHAT_CODE_ALREADY_IN_ROOM)
                return;
        }
        break;
    case CHAT_MSG_NAMES:
        if (take_pending(s, m->req, !(m->u.names.flags & CHAT_LIST_MORE), &info))
            req = &info;
        break;
    case CHAT_MSG_ROOM_LIST:
    case CHAT_MSG_USER_LIST:
        if (take_pending(s, m->req, !(m->u.list.flags & CHAT_LIST_MORE), &info))
            req = &info;
        break;
    case CHAT_MSG_JOINED:
        if (str_eq(m->u.joined.user, s->me)) {
            copy_str(room, sizeof room, m->u.joined.room);
            room_add(s, room);
        }
        break;
    case CHAT_MSG_PARTED:
        if (str_eq(m->u.parted.user, s->me)) {
            copy_str(room, sizeof room, m->u.parted.room);
            room_remove(s, room);
        }
        break;
    case CHAT_MSG_MESSAGE:
        if (!str_eq(m->u.message.from, s->me) &&
            ignore_has(&s->ignores, (const char *)m->u.message.from.p, m->u.message.from.n))
            return;
        break;
    default:
        break;
    }
    if (s->ops->event != NULL)
        s->ops->event(s->ctx, ev, req);
}

static int close_exit_code(const chat_client_event *ev)
{
    if (ev->close.origin == CHAT_CLOSE_LOST)
        return EXIT_UNAVAILABLE;
    switch (ev->close.code) {
    case CHAT_CODE_PROTOCOL:
    case CHAT_CODE_VERSION:
        return EXIT_PROTOCOL;
    case CHAT_CODE_AUTH_LIMIT:
    case CHAT_CODE_BAD_LOGIN:
        return EXIT_NOPERM;
    case CHAT_CODE_QUIT:
        return ev->close.origin == CHAT_CLOSE_LOCAL ? EXIT_OK : EXIT_UNAVAILABLE;
    default:
        return EXIT_UNAVAILABLE;
    }
}

static void on_closed(session *s, const chat_client_event *ev, uint64_t now)
{
    unsigned code = ev->close.code;
    chat_close_origin origin = ev->close.origin;
    if (s->ops->event != NULL)
        s->ops->event(s->ctx, ev, NULL);
    s->npend = 0;
    if (s->quitting && !s->fatal)
        s->exit_code = EXIT_OK;
    else if (!s->fatal)
        s->exit_code = close_exit_code(ev);
    if (code == CHAT_CODE_AUTH_LIMIT && !s->fatal) {
        s->fatal = 1;
        s->exit_code = EXIT_NOPERM;
    }
    int again = may_reconnect(s) && code != CHAT_CODE_KICKED && code != CHAT_CODE_DELETED &&
                code != CHAT_CODE_AUTH_LIMIT;
    sess_state next = again ? SESS_WAIT_RECONNECT : SESS_DONE;
    if (origin == CHAT_CLOSE_LOCAL && s->net.fd >= 0) {
        /* Our GOODBYE (if any) still has to be written; then we wait a
         * little for the server to close its side. */
        s->state = SESS_CLOSING;
        s->after_close = next;
        s->closing_deadline = now + CLOSING_TIMEOUT_MS;
        return;
    }
    finish(s, next, now);
}

static void handle_event(session *s, const chat_client_event *ev, uint64_t now)
{
    switch (ev->type) {
    case CHAT_CLIENT_EV_SERVER_KEY: {
        uint8_t key[32];
        memcpy(key, ev->server_key, sizeof key);
        if (s->ops->event != NULL)
            s->ops->event(s->ctx, ev, NULL);
        check_server_key(s, key, now);
        break;
    }
    case CHAT_CLIENT_EV_CHALLENGE:
        if (s->ops->event != NULL)
            s->ops->event(s->ctx, ev, NULL);
        answer_challenge(s, now);
        break;
    case CHAT_CLIENT_EV_LOGIN_FAILED: {
        unsigned code = ev->msg.u.login_failed.code;
        unsigned left = ev->msg.u.login_failed.attempts_left;
        if (s->ops->event != NULL)
            s->ops->event(s->ctx, ev, NULL);
        login_failed(s, code, left, now);
        break;
    }
    case CHAT_CLIENT_EV_WELCOME: {
        copy_str(s->me, sizeof s->me, ev->msg.u.welcome.user);
        s->role = ev->msg.u.welcome.role;
        s->state = SESS_READY;
        s->ever_ready = 1;
        s->backoff_ms = BACKOFF_MIN_MS;
        if (s->ops->event != NULL)
            s->ops->event(s->ctx, ev, NULL);
        char m[80];
        snprintf(m, sizeof m, "ready %s %s", s->me, s->role == CHAT_ROLE_ADMIN ? "admin" : "user");
        notef(s, NOTE_READY, m, "logged in to %s as %s%s", s->hostport, s->me,
              s->role == CHAT_ROLE_ADMIN ? " (admin)" : "");
        if (s->rejoin) {
            s->rejoin = 0;
            char rooms[SESS_MAX_ROOMS][CHAT_ROOM_MAX + 1];
            size_t n = s->nrooms;
            memcpy(rooms, s->rooms, sizeof rooms);
            for (size_t i = 0; i < n; i++)
                (void)session_join_quiet(s, rooms[i], now);
        }
        break;
    }
    case CHAT_CLIENT_EV_MESSAGE:
        on_message(s, ev);
        break;
    case CHAT_CLIENT_EV_REJECTED:
        if (s->ops->event != NULL)
            s->ops->event(s->ctx, ev, NULL);
        break;
    case CHAT_CLIENT_EV_CLOSED:
        on_closed(s, ev, now);
        break;
    default:
        break;
    }
}

static void process_events(session *s, uint64_t now)
{
    chat_client_event ev;
    while (s->cl != NULL && s->state != SESS_CLOSING && chat_client_next_event(s->cl, &ev))
        handle_event(s, &ev, now);
}

/* ---- I/O -------------------------------------------------------------- */

static void closing_step(session *s, uint64_t now)
{
    size_t len = 0;
    if (s->cl != NULL)
        (void)chat_client_out_peek(s->cl, &len);
    if (len == 0 && !s->shut_wr) {
        net_shutdown_write(&s->net);
        s->shut_wr = 1;
    }
    (void)now;
}

void session_flush(session *s, uint64_t now)
{
    if (s->cl == NULL || s->net.fd < 0 || s->net.connecting)
        return;
    for (;;) {
        size_t len = 0;
        const uint8_t *p = chat_client_out_peek(s->cl, &len);
        if (p == NULL || len == 0)
            break;
        ssize_t w = net_write(&s->net, p, len);
        if (w > 0) {
            chat_client_out_ack(s->cl, (size_t)w);
            continue;
        }
        if (w == -1)
            return; /* POLLOUT will tell */
        /* The connection is gone. */
        if (s->state == SESS_CLOSING) {
            finish(s, s->after_close, now);
            return;
        }
        chat_client_eof(s->cl);
        process_events(s, now);
        return;
    }
    if (s->state == SESS_CLOSING)
        closing_step(s, now);
}

static void read_input(session *s, uint64_t now)
{
    uint8_t buf[16384];
    for (int rounds = 0; rounds < 64 && s->net.fd >= 0; rounds++) {
        ssize_t r = net_read(&s->net, buf, sizeof buf);
        if (r == -1)
            return;
        if (r > 0) {
            if (s->state == SESS_CLOSING || s->cl == NULL ||
                chat_client_get_state(s->cl) == CHAT_CLIENT_CLOSED)
                continue; /* after our goodbye: discarded */
            if (chat_client_feed(s->cl, buf, (size_t)r, now) == CHAT_E_NOMEM) {
                notef(s, NOTE_ERROR, NULL, "out of memory");
                chat_client_eof(s->cl);
            }
            process_events(s, now);
            continue;
        }
        /* End of stream or a socket error. */
        if (s->state == SESS_CLOSING) {
            finish(s, s->after_close, now);
            return;
        }
        if (s->cl != NULL) {
            chat_client_eof(s->cl);
            process_events(s, now);
        } else {
            finish(s, SESS_DONE, now);
        }
        return;
    }
}

void session_io(session *s, short revents, uint64_t now)
{
    if (s->net.fd < 0)
        return;
    if (s->state == SESS_CONNECTING) {
        if (revents & (POLLOUT | POLLERR | POLLHUP)) {
            char err[256];
            int r = net_connect_done(&s->net, err, sizeof err);
            if (r < 0)
                (void)connect_failed(s, err, now);
            else if (r == 1)
                on_connected(s, now);
        }
        return;
    }
    if (revents & (POLLIN | POLLERR | POLLHUP))
        read_input(s, now);
    if (s->cl != NULL)
        process_events(s, now);
    session_flush(s, now);
}

uint64_t session_deadline(const session *s)
{
    switch (s->state) {
    case SESS_CONNECTING:
        return s->connect_deadline;
    case SESS_WAIT_RECONNECT:
        return s->reconnect_at;
    case SESS_CLOSING:
        return s->closing_deadline;
    case SESS_LOGIN:
    case SESS_READY:
        return s->cl != NULL ? chat_client_next_deadline(s->cl) : UINT64_MAX;
    default:
        return UINT64_MAX;
    }
}

void session_tick(session *s, uint64_t now)
{
    switch (s->state) {
    case SESS_CONNECTING:
        if (now >= s->connect_deadline) {
            char err[200];
            snprintf(err, sizeof err, "cannot connect to %s: timed out", s->net.peer);
            (void)connect_failed(s, err, now);
        }
        break;
    case SESS_WAIT_RECONNECT:
        if (now >= s->reconnect_at)
            (void)session_connect(s, now);
        break;
    case SESS_CLOSING:
        if (now >= s->closing_deadline)
            finish(s, s->after_close, now);
        break;
    case SESS_LOGIN:
    case SESS_READY:
        if (s->cl != NULL) {
            chat_client_tick(s->cl, now);
            session_flush(s, now);
        }
        break;
    default:
        break;
    }
}

/* ---- Commands --------------------------------------------------------- */

static int sent(session *s, int rc, uint32_t req, cmd_type what, const char *arg, uint64_t now)
{
    if (rc == CHAT_OK) {
        record(s, req, what, arg, 0);
        session_flush(s, now);
        return 0;
    }
    if (rc == CHAT_E_INVAL)
        notef(s, NOTE_ERROR, NULL,
              "not sent: the text holds characters the protocol forbids "
              "(control characters, bidirectional overrides) or is too long");
    else
        notef(s, NOTE_ERROR, NULL, "not sent: %s", chat_strerror(rc));
    return -1;
}

static chat_str cs(const char *s)
{
    chat_str r;
    r.p = (const uint8_t *)s;
    r.n = strlen(s);
    return r;
}

static int need_ready(session *s)
{
    if (s->state == SESS_READY && s->cl != NULL)
        return 1;
    notef(s, NOTE_ERROR, NULL, "not connected");
    return 0;
}

/* The room a command is about: its argument, else the target if a room. */
static const char *room_of(session *s, const cmd *c, const char *target, const char *name)
{
    if (c->arg[0] != '\0')
        return c->arg;
    if (target != NULL && target[0] == '#')
        return target;
    notef(s, NOTE_ERROR, NULL, "/%s: no room given, and the current window is not a room", name);
    return NULL;
}

int session_join_quiet(session *s, const char *room, uint64_t now)
{
    if (s->state != SESS_READY || s->cl == NULL)
        return -1;
    uint32_t req = 0;
    if (chat_client_join(s->cl, room, &req) != CHAT_OK)
        return -1;
    record(s, req, CMD_JOIN, room, 1);
    session_flush(s, now);
    return 0;
}

int session_command(session *s, const cmd *c, const char *target, uint64_t now)
{
    uint32_t req = 0;
    chat_msg m;
    memset(&m, 0, sizeof m);
    const char *room;
    char err[300];
    int rc;

    switch (c->type) {
    case CMD_QUIT:
        session_quit(s, c->text, now);
        return 0;
    case CMD_IGNORE:
        if (c->arg[0] == '\0') {
            if (s->ignores.n == 0) {
                notef(s, NOTE_INFO, NULL, "nobody is ignored");
            } else {
                char list[IGNORE_MAX * (CHAT_NAME_MAX + 1) + 1];
                size_t pos = 0;
                for (size_t i = 0; i < s->ignores.n; i++)
                    pos += (size_t)snprintf(list + pos, sizeof list - pos, "%s%s", i ? " " : "",
                                            s->ignores.names[i]);
                notef(s, NOTE_INFO, NULL, "ignored: %s", list);
            }
            return 0;
        }
        /* fall through */
    case CMD_UNIGNORE: {
        int add = c->type == CMD_IGNORE;
        int r = add ? ignore_add(&s->ignores, c->arg) : ignore_remove(&s->ignores, c->arg);
        if (r < 0) {
            notef(s, NOTE_ERROR, NULL, "the ignore list is full");
            return -1;
        }
        if (r > 0 && s->ignore_path[0] != '\0' &&
            ignore_save(&s->ignores, s->ignore_path, err, sizeof err) != 0)
            notef(s, NOTE_ERROR, NULL, "cannot save the ignore list: %s", err);
        notef(s, NOTE_INFO, NULL, add ? "ignoring %s" : "no longer ignoring %s", c->arg);
        return 0;
    }
    default:
        break;
    }

    if (!need_ready(s))
        return -1;
    switch (c->type) {
    case CMD_SAY:
    case CMD_ME:
        if (target == NULL || target[0] == '\0') {
            notef(s, NOTE_ERROR, NULL,
                  "no current room or conversation: /join a room or /msg someone first");
            return -1;
        }
        rc = chat_client_say(s->cl, target, c->text,
                             c->type == CMD_ME ? CHAT_KIND_ACTION : CHAT_KIND_SAY, &req);
        return sent(s, rc, req, c->type, target, now);
    case CMD_MSG:
        rc = chat_client_say(s->cl, c->arg, c->text, CHAT_KIND_SAY, &req);
        return sent(s, rc, req, CMD_MSG, c->arg, now);
    case CMD_JOIN:
        rc = chat_client_join(s->cl, c->arg, &req);
        return sent(s, rc, req, CMD_JOIN, c->arg, now);
    case CMD_PART:
        if ((room = room_of(s, c, target, "part")) == NULL)
            return -1;
        rc = chat_client_part(s->cl, room, &req);
        return sent(s, rc, req, CMD_PART, room, now);
    case CMD_ROOMS:
        m.type = CHAT_MSG_LIST;
        rc = chat_client_request(s->cl, &m, &req);
        return sent(s, rc, req, CMD_ROOMS, "", now);
    case CMD_WHO:
        if ((room = room_of(s, c, target, "who")) == NULL)
            return -1;
        m.type = CHAT_MSG_WHO;
        m.u.room.room = cs(room);
        rc = chat_client_request(s->cl, &m, &req);
        return sent(s, rc, req, CMD_WHO, room, now);
    case CMD_TOPIC:
        if ((room = room_of(s, c, target, "topic")) == NULL)
            return -1;
        if (c->flag == 0) {
            notef(s, NOTE_ERROR, NULL, "/topic: no topic given (-delete removes it)");
            return -1;
        }
        m.type = CHAT_MSG_TOPIC;
        m.u.topic.room = cs(room);
        m.u.topic.topic = cs(c->text);
        rc = chat_client_request(s->cl, &m, &req);
        return sent(s, rc, req, CMD_TOPIC, room, now);
    case CMD_DELUSER:
        m.type = CHAT_MSG_DEL_USER;
        m.u.del_user.user = cs(c->arg);
        rc = chat_client_request(s->cl, &m, &req);
        return sent(s, rc, req, CMD_DELUSER, c->arg, now);
    case CMD_USERS:
        m.type = CHAT_MSG_USERS;
        rc = chat_client_request(s->cl, &m, &req);
        return sent(s, rc, req, CMD_USERS, "", now);
    case CMD_KICK:
        m.type = CHAT_MSG_KICK;
        m.u.kick.user = cs(c->arg);
        m.u.kick.reason = cs(c->text);
        rc = chat_client_request(s->cl, &m, &req);
        return sent(s, rc, req, CMD_KICK, c->arg, now);
    case CMD_SHUTDOWN:
        m.type = CHAT_MSG_SHUTDOWN;
        m.u.shutdown.reason = cs(c->text);
        rc = chat_client_request(s->cl, &m, &req);
        return sent(s, rc, req, CMD_SHUTDOWN, "", now);
    default:
        notef(s, NOTE_ERROR, NULL, "that command is not available here");
        return -1;
    }
}

int session_passwd(session *s, const char *pw, size_t len, uint64_t now)
{
    if (!need_ready(s))
        return -1;
    if (s->passwd_req != 0) {
        notef(s, NOTE_ERROR, NULL, "a password change is already waiting for the server");
        return -1;
    }
    if (len == 0 || len > CHAT_PASSWORD_MAX) {
        notef(s, NOTE_ERROR, NULL, "a password has 1 to %d bytes", CHAT_PASSWORD_MAX);
        return -1;
    }
    uint32_t req = 0;
    int rc = chat_client_passwd(s->cl, (const uint8_t *)pw, len, s->kdf_opslimit,
                                s->kdf_memlimit_kib, &req);
    if (rc != CHAT_OK)
        return sent(s, rc, 0, CMD_PASSWD, "", now);
    memcpy(s->new_password, pw, len);
    s->new_password[len] = '\0';
    s->new_password_len = len;
    s->passwd_req = req;
    return sent(s, rc, req, CMD_PASSWD, "", now);
}

int session_adduser(session *s, const char *name, int admin, const char *pw, size_t len,
                    uint64_t now)
{
    if (!need_ready(s))
        return -1;
    if (len == 0 || len > CHAT_PASSWORD_MAX) {
        notef(s, NOTE_ERROR, NULL, "a password has 1 to %d bytes", CHAT_PASSWORD_MAX);
        return -1;
    }
    uint32_t req = 0;
    int rc =
        chat_client_add_user(s->cl, name, admin ? CHAT_ROLE_ADMIN : CHAT_ROLE_USER,
                             (const uint8_t *)pw, len, s->kdf_opslimit, s->kdf_memlimit_kib, &req);
    return sent(s, rc, req, CMD_ADDUSER, name, now);
}

void session_quit(session *s, const char *text, uint64_t now)
{
    s->quitting = 1;
    if (s->cl != NULL && chat_client_get_state(s->cl) != CHAT_CLIENT_CLOSED) {
        if (chat_client_quit(s->cl, text != NULL ? text : "") != CHAT_OK &&
            chat_client_quit(s->cl, "") != CHAT_OK)
            chat_client_eof(s->cl);
        process_events(s, now);
        session_flush(s, now);
        return;
    }
    if (s->state != SESS_CLOSING) {
        if (!s->fatal)
            s->exit_code = EXIT_OK;
        finish(s, SESS_DONE, now);
    }
}

/* ---- Help ------------------------------------------------------------- */

void session_help(session *s, const char *name)
{
    size_t n;
    const cmd_info *t = cmd_table(&n);
    int admin = s->role == CHAT_ROLE_ADMIN;
    char m[300];
    for (size_t i = 0; i < n; i++) {
        if (name != NULL && name[0] != '\0' && strcmp(name, t[i].name) != 0)
            continue;
        if (t[i].admin && !admin && (name == NULL || name[0] == '\0'))
            continue;
        snprintf(m, sizeof m, "help /%s%s%s: %s%s", t[i].name, t[i].args[0] ? " " : "", t[i].args,
                 t[i].help, t[i].admin ? " (admin)" : "");
        notef(s, NOTE_HELP, m, "/%s%s%s  %s%s", t[i].name, t[i].args[0] ? " " : "", t[i].args,
              t[i].help, t[i].admin ? " (admin)" : "");
    }
}
