/* chatc's line mode. See linemode.h; the output format is documented in
 * chatc(1), section LINE MODE. */
#include "linemode.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "eventfmt.h"
#include "sanitize.h"
#include "sig.h"

#define INPUT_LINE_MAX 8192
#define EOF_WAIT_MS 10000u

typedef struct linemode {
    session *s;
    const linemode_opts *o;
    char target[CHAT_ROOM_MAX + 1];
    char buf[INPUT_LINE_MAX + 1]; /* stdin bytes not yet a whole line */
    size_t len;
    int skipping; /* dropping the rest of an over-long line */
    int stdin_eof;
    uint64_t eof_deadline;
    int quit_sent;
    cmd_type await_secret; /* CMD_PASSWD / CMD_ADDUSER: the next line is a password */
    char secret_user[CHAT_ROOM_MAX + 1];
    int secret_admin;
    int out_broken;
} linemode;

static void out_line(linemode *lm, const char *line)
{
    if (lm->out_broken)
        return;
    if (fputs(line, stdout) == EOF || fputc('\n', stdout) == EOF || fflush(stdout) == EOF)
        lm->out_broken = 1;
}

static void out_prefixed(linemode *lm, const char *prefix, const char *text)
{
    char esc[2048], line[2100];
    /* Human texts may span lines: one line each, like every event. */
    const char *p = text;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
        if (n > 0) {
            (void)chat_sanitize(p, n, esc, sizeof esc);
            snprintf(line, sizeof line, "%s %s", prefix, esc);
            out_line(lm, line);
        }
        p += n;
        if (*p == '\n')
            p++;
    }
}

/* ---- session_ops ------------------------------------------------------ */

static int str_is(chat_str a, const char *b)
{
    return a.n == strlen(b) && memcmp(a.p, b, a.n) == 0;
}

static void lm_event(void *ctx, const chat_client_event *ev, const sess_req *req)
{
    linemode *lm = ctx;
    (void)req;
    static char line[16384];
    chat_event_format(ev, line, sizeof line);
    out_line(lm, line);
    if (ev->type != CHAT_CLIENT_EV_MESSAGE)
        return;
    const chat_msg *m = &ev->msg;
    /* A room the server put us in (its default rooms) is where plain
     * lines go until the script names a target itself: a bot that just
     * writes lines talks in the room it is seen in. */
    if (m->type == CHAT_MSG_JOINED && lm->target[0] == '\0' && str_is(m->u.joined.user, lm->s->me) &&
        m->u.joined.room.n < sizeof lm->target) {
        memcpy(lm->target, m->u.joined.room.p, m->u.joined.room.n);
        lm->target[m->u.joined.room.n] = '\0';
    }
    /* Leaving the room that plain lines go to: they go nowhere now. */
    if (m->type == CHAT_MSG_PARTED && str_is(m->u.parted.user, lm->s->me) &&
        str_is(m->u.parted.room, lm->target))
        lm->target[0] = '\0';
}

static void lm_notice(void *ctx, sess_note kind, const char *machine, const char *human)
{
    linemode *lm = ctx;
    if (kind == NOTE_ALERT)
        fprintf(stderr, "%s", human);
    if (machine != NULL)
        out_line(lm, machine);
    else
        out_prefixed(lm, kind == NOTE_ERROR ? "client-error" : "info", human);
    if (kind == NOTE_READY && lm->o->room != NULL && lm->o->room[0] != '\0') {
        snprintf(lm->target, sizeof lm->target, "%s", lm->o->room);
        if (!session_in_room(lm->s, lm->o->room))
            (void)session_join_quiet(lm->s, lm->o->room, now_mono_ms());
    }
}

static const session_ops line_ops = {
    .ask_key = NULL,  /* no prompts: --trust decides */
    .password = NULL, /* --password-file only */
    .event = lm_event,
    .notice = lm_notice,
};

/* ---- Input lines ------------------------------------------------------ */

static void client_error(linemode *lm, const char *text)
{
    out_prefixed(lm, "client-error", text);
}

static void handle_line(linemode *lm, char *line, size_t n, uint64_t now)
{
    session *s = lm->s;
    if (n > 0 && line[n - 1] == '\r')
        line[--n] = '\0';
    if (lm->await_secret != CMD_NONE) {
        cmd_type what = lm->await_secret;
        lm->await_secret = CMD_NONE;
        if (what == CMD_PASSWD)
            (void)session_passwd(s, line, n, now);
        else
            (void)session_adduser(s, lm->secret_user, lm->secret_admin, line, n, now);
        sodium_memzero(line, n);
        return;
    }
    static cmd c;
    cmd_parse(line, &c);
    switch (c.type) {
    case CMD_NONE:
        return;
    case CMD_USAGE:
    case CMD_UNKNOWN:
        client_error(lm, c.usage);
        return;
    case CMD_HELP:
        session_help(s, c.arg);
        return;
    case CMD_QUERY:
        snprintf(lm->target, sizeof lm->target, "%s", c.arg);
        return;
    case CMD_PASSWD:
        lm->await_secret = CMD_PASSWD;
        return;
    case CMD_ADDUSER:
        lm->await_secret = CMD_ADDUSER;
        snprintf(lm->secret_user, sizeof lm->secret_user, "%s", c.arg);
        lm->secret_admin = c.flag;
        return;
    case CMD_WINDOW:
    case CMD_CLEAR:
    case CMD_BELL:
        client_error(lm, "that command only makes sense in the terminal interface");
        return;
    case CMD_CLOSE:
        if (lm->target[0] == '#') {
            cmd p;
            memset(&p, 0, sizeof p);
            p.type = CMD_PART;
            (void)session_command(s, &p, lm->target, now);
        }
        lm->target[0] = '\0';
        return;
    case CMD_JOIN:
        if (session_command(s, &c, lm->target, now) == 0)
            snprintf(lm->target, sizeof lm->target, "%s", c.arg);
        return;
    case CMD_QUIT:
        lm->quit_sent = 1;
        (void)session_command(s, &c, lm->target, now);
        return;
    default:
        (void)session_command(s, &c, lm->target, now);
        return;
    }
}

/* Read what stdin has; handle whole lines. */
static void read_stdin(linemode *lm, uint64_t now)
{
    char chunk[4096];
    ssize_t r = read(STDIN_FILENO, chunk, sizeof chunk);
    if (r < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        r = 0; /* an error ends input like EOF */
    }
    if (r == 0) {
        if (lm->len > 0 && !lm->skipping) {
            lm->buf[lm->len] = '\0';
            handle_line(lm, lm->buf, lm->len, now);
        }
        sodium_memzero(lm->buf, sizeof lm->buf);
        lm->len = 0;
        lm->stdin_eof = 1;
        lm->eof_deadline = now + EOF_WAIT_MS;
        return;
    }
    for (ssize_t i = 0; i < r; i++) {
        char ch = chunk[i];
        if (ch == '\n') {
            if (!lm->skipping) {
                lm->buf[lm->len] = '\0';
                handle_line(lm, lm->buf, lm->len, now);
            }
            sodium_memzero(lm->buf, lm->len);
            lm->len = 0;
            lm->skipping = 0;
            continue;
        }
        if (lm->skipping)
            continue;
        if (lm->len == INPUT_LINE_MAX) {
            client_error(lm, "input line too long: ignored");
            sodium_memzero(lm->buf, sizeof lm->buf);
            lm->len = 0;
            lm->skipping = 1;
            if (lm->await_secret != CMD_NONE)
                lm->await_secret = CMD_NONE;
            continue;
        }
        lm->buf[lm->len++] = ch;
    }
    sodium_memzero(chunk, sizeof chunk);
}

int linemode_run(session *s, const linemode_opts *o)
{
    static linemode lm;
    memset(&lm, 0, sizeof lm);
    lm.s = s;
    lm.o = o;
    s->ops = &line_ops;
    s->ctx = &lm;
    s->reconnect = 0; /* a script sees the end of its connection */
    if (o->room != NULL)
        snprintf(lm.target, sizeof lm.target, "%s", o->room);
    setvbuf(stdout, NULL, _IOLBF, 0);
    int fl = fcntl(STDIN_FILENO, F_GETFL);
    if (fl >= 0)
        (void)fcntl(STDIN_FILENO, F_SETFL, fl | O_NONBLOCK);

    uint64_t now = now_mono_ms();
    (void)session_connect(s, now);
    while (s->state != SESS_DONE) {
        struct pollfd fds[3];
        nfds_t n = 0;
        long sock = -1, in = -1;
        if (sig_fd() >= 0) {
            fds[n].fd = sig_fd();
            fds[n].events = POLLIN;
            fds[n].revents = 0;
            n++;
        }
        if (session_pollfd(s, &fds[n]))
            sock = (long)n++;
        if (s->state == SESS_READY && !lm.stdin_eof && !lm.quit_sent) {
            fds[n].fd = STDIN_FILENO;
            fds[n].events = POLLIN;
            fds[n].revents = 0;
            in = (long)n++;
        }
        now = now_mono_ms();
        uint64_t dl = session_deadline(s);
        if (lm.stdin_eof && !lm.quit_sent && lm.eof_deadline < dl)
            dl = lm.eof_deadline;
        int timeout = -1;
        if (dl != UINT64_MAX)
            timeout = dl <= now ? 0 : (dl - now > 60000 ? 60000 : (int)(dl - now));
        if (lm.stdin_eof && !lm.quit_sent && timeout > 100)
            timeout = 100;
        int pr = poll(fds, n, timeout);
        now = now_mono_ms();
        if (sig_take_quit() && !lm.quit_sent) {
            lm.quit_sent = 1;
            session_quit(s, "", now);
        }
        if (pr > 0 && sock >= 0 && fds[sock].revents)
            session_io(s, fds[sock].revents, now);
        if (pr > 0 && in >= 0 && (fds[in].revents & (POLLIN | POLLHUP | POLLERR)))
            read_stdin(&lm, now);
        if (lm.out_broken && !lm.quit_sent) {
            lm.quit_sent = 1;
            session_quit(s, "", now);
        }
        /* End of input: once the server has answered every request (so
         * their results are printed), say goodbye. */
        if (lm.stdin_eof && !lm.quit_sent &&
            (session_pending(s) == 0 || now >= lm.eof_deadline || s->state != SESS_READY)) {
            lm.quit_sent = 1;
            session_quit(s, "", now);
        }
        session_tick(s, now);
    }
    if (fl >= 0)
        (void)fcntl(STDIN_FILENO, F_SETFL, fl);
    sodium_memzero(&lm, sizeof lm);
    return s->exit_code;
}
