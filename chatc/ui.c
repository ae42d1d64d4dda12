/* chatc's terminal interface. See ui.h.
 *
 * Two phases. Until the server welcomes us, the terminal is a plain one:
 * the server key question and the password prompt (no echo) go through
 * /dev/tty (common/tty.h), messages to stderr. At WELCOME the ncurses
 * screen starts:
 *
 *   row 0        title: window number, name, topic
 *   rows 1..H-3  messages (and the nick list on the right in a room)
 *   row H-2      status bar: time, user, server, window, activity, state
 *   row H-1      input line
 *
 * Everything received is escaped for display (common/sanitize.h) when it
 * is stored in a window, so no byte from the network reaches the terminal
 * as a control. */
#include "ui.h"

#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include <sodium.h>

#include "commands.h"
#include "history.h"
#include "input.h"
#include "sanitize.h"
#include "sig.h"
#include "tty.h"
#include "utf8.h"
#include "windows.h"

#define KEY_BATCH 8192
#define PASTE_MAX_LINES 1000

/* Colour pairs. */
enum { PAIR_STATUS = 1, PAIR_ERROR, PAIR_DIM, PAIR_HILITE, PAIR_NICK0 };
#define NICK_COLOURS_MAX 12

typedef struct ui {
    session *s;
    const ui_opts *o;
    const chatc_config *cfg;
    int curses;
    winlist wl;
    input in;
    history hist;
    int bell;
    int colours;
    unsigned nick_colours;
    int dirty;
    int last_minute;

    /* password entry for /passwd and /adduser: 0 none, 1 first, 2 again */
    int secret_stage;
    cmd_type secret_for;
    char secret_user[CHAT_ROOM_MAX + 1];
    int secret_admin;
    char *secret_first;
    size_t secret_first_len;

    /* a multi-line paste waiting for y/n */
    char **paste;
    size_t npaste;
    char paste_target[CHAT_ROOM_MAX + 1];

    /* rooms to close once parted (/close) */
    char closing[8][CHAT_ROOM_MAX + 1];

    char alert[8192]; /* for stderr once the screen is gone */
    size_t alert_len;
    char last_error[512]; /* the last error shown, in case it ends the session */

    char tab_buf[INPUT_TAB_MAX][INPUT_TAB_LEN];
} ui;

/* ---- Small helpers ---------------------------------------------------- */

static void cstr(char *out, size_t cap, chat_str s)
{
    size_t n = s.n < cap - 1 ? s.n : cap - 1;
    memcpy(out, s.p, n);
    out[n] = '\0';
}

static const char *code_text(unsigned code)
{
    const char *n = chat_code_name(code);
    return n != NULL ? n : "?";
}

/* Add a line of local text to window i. */
static void say_in(ui *u, size_t i, line_kind kind, const char *text)
{
    (void)wl_add(&u->wl, i, now_wall_ms(), kind, NULL, text, strlen(text), 0, 0);
    u->dirty = 1;
}

static void sayf(ui *u, size_t i, line_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void sayf(ui *u, size_t i, line_kind kind, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    say_in(u, i, kind, buf);
}

static size_t win_of(ui *u, const char *name)
{
    long i = wl_open(&u->wl, name);
    return i < 0 ? 0 : (size_t)i;
}

static const char *current_target(const ui *u)
{
    const window *w = wl_current(&u->wl);
    return w->kind == WIN_STATUS ? "" : w->name;
}

static void add_alert(ui *u, const char *text)
{
    size_t n = strlen(text);
    if (n > sizeof u->alert - 1 - u->alert_len)
        n = sizeof u->alert - 1 - u->alert_len;
    memcpy(u->alert + u->alert_len, text, n);
    u->alert_len += n;
    u->alert[u->alert_len] = '\0';
}

/* ---- Screen ----------------------------------------------------------- */

static void start_curses(ui *u)
{
    if (u->curses)
        return;
    /* ESC followed by a key is Alt-key; do not wait long for more. */
    set_escdelay(25);
    initscr();
    raw();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    u->colours = 0;
    if (u->cfg->colours && has_colors()) {
        start_color();
        use_default_colors();
        u->colours = 1;
        init_pair(PAIR_STATUS, COLOR_WHITE, COLOR_BLUE);
        init_pair(PAIR_ERROR, COLOR_RED, -1);
        init_pair(PAIR_DIM, COLOR_CYAN, -1);
        init_pair(PAIR_HILITE, COLOR_YELLOW, -1);
        static const short base[] = {COLOR_RED,  COLOR_GREEN,   COLOR_YELLOW,
                                     COLOR_BLUE, COLOR_MAGENTA, COLOR_CYAN};
        u->nick_colours = 6;
        for (short i = 0; i < 6; i++)
            init_pair((short)(PAIR_NICK0 + i), base[i], -1);
        if (COLORS >= 16 && COLOR_PAIRS > PAIR_NICK0 + NICK_COLOURS_MAX) {
            for (short i = 0; i < 6; i++)
                init_pair((short)(PAIR_NICK0 + 6 + i), (short)(base[i] + 8), -1);
            u->nick_colours = 12;
        }
    }
    u->curses = 1;
    u->dirty = 1;
}

static void stop_curses(ui *u)
{
    if (!u->curses)
        return;
    endwin();
    u->curses = 0;
}

/* Draw s[0..n) at the cursor, at most maxcols columns; returns the
 * columns used. Characters the terminal cannot show are drawn as '?'. */
static int put_utf8(const char *s, size_t n, int maxcols)
{
    wchar_t wb[256];
    size_t wn = 0;
    int cols = 0;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t l = u8_decode(s + i, n - i, &cp);
        int w = wcwidth((wchar_t)cp);
        if (w < 0) {
            cp = '?';
            w = 1;
        }
        if (cols + w > maxcols)
            break;
        if (wn == sizeof wb / sizeof wb[0]) {
            addnwstr(wb, (int)wn);
            wn = 0;
        }
        wb[wn++] = (wchar_t)cp;
        cols += w;
        i += l;
    }
    if (wn > 0)
        addnwstr(wb, (int)wn);
    return cols;
}

static int put_str(const char *s, int maxcols)
{
    return put_utf8(s, strlen(s), maxcols);
}

static attr_t pair_attr(const ui *u, short pair)
{
    return u->colours ? (attr_t)COLOR_PAIR(pair) : 0;
}

static attr_t nick_attr(const ui *u, const char *nick)
{
    if (!u->colours)
        return A_BOLD;
    return (attr_t)COLOR_PAIR(PAIR_NICK0 + (short)nick_colour(nick, u->nick_colours));
}

static size_t fmt_time(const ui *u, uint64_t ms, char *out, size_t cap)
{
    out[0] = '\0';
    if (u->cfg->timestamps[0] == '\0')
        return 0;
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    /* The format is the user's own (the timestamps setting). */
    if (localtime_r(&t, &tm) == NULL)
        return 0;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    return strftime(out, cap, u->cfg->timestamps, &tm);
#pragma GCC diagnostic pop
}

/* The prefix of a message line (after the time): "<nick> ", "* nick ",
 * "-!- ". */
static void line_marker(const wline *l, char *out, size_t cap)
{
    switch (l->kind) {
    case LINE_MSG:
        snprintf(out, cap, "<%s> ", l->nick);
        break;
    case LINE_ACTION:
        snprintf(out, cap, "* %s ", l->nick);
        break;
    default:
        snprintf(out, cap, "-!- ");
        break;
    }
}

typedef struct row {
    size_t line; /* index in the window */
    size_t off, len;
    int first;
} row;

/* Rows of line l for a pane of width w, pushed (last row first) into rows
 * while fewer than need are collected. */
static void line_rows(const ui *u, const window *win, size_t k, int w, row *rows, size_t *nrows,
                      size_t need)
{
    const wline *l = win_line(win, k);
    char ts[64], mk[64];
    size_t tw = fmt_time(u, l->time_ms, ts, sizeof ts);
    line_marker(l, mk, sizeof mk);
    size_t pw = (tw ? u8_width(ts, tw) + 1 : 0) + u8_width(mk, strlen(mk));
    size_t indent = pw < (size_t)w / 3 ? pw : 2;
    size_t first_w = pw + 4 < (size_t)w ? (size_t)w - pw : 4;
    size_t cont_w = indent + 4 < (size_t)w ? (size_t)w - indent : 4;
    /* Wrap forwards into a small local list, then push it backwards. */
    row tmp[512];
    size_t nt = 0, off = 0, n = strlen(l->text);
    do {
        size_t cols;
        size_t len = u8_wrap(l->text + off, n - off, nt == 0 ? first_w : cont_w, &cols);
        if (nt == sizeof tmp / sizeof tmp[0])
            break;
        tmp[nt].line = k;
        tmp[nt].off = off;
        tmp[nt].len = len;
        tmp[nt].first = nt == 0;
        nt++;
        off += len;
    } while (off < n);
    while (nt > 0 && *nrows < need)
        rows[(*nrows)++] = tmp[--nt];
}

static void draw_row(const ui *u, const window *win, const row *r, int y, int x, int w)
{
    const wline *l = win_line(win, r->line);
    move(y, x);
    int used = 0;
    if (r->first) {
        char ts[64], mk[64];
        size_t tw = fmt_time(u, l->time_ms, ts, sizeof ts);
        if (tw > 0) {
            attron(pair_attr(u, PAIR_DIM));
            used += put_utf8(ts, tw, w - used);
            attroff(pair_attr(u, PAIR_DIM));
            used += put_str(" ", w - used);
        }
        line_marker(l, mk, sizeof mk);
        if (l->kind == LINE_MSG || l->kind == LINE_ACTION) {
            attr_t na = nick_attr(u, l->nick) | (l->own ? A_BOLD : 0);
            if (l->kind == LINE_MSG)
                used += put_str("<", w - used);
            else
                used += put_str("* ", w - used);
            attron(na);
            used += put_str(l->nick, w - used);
            attroff(na);
            used += put_str(l->kind == LINE_MSG ? "> " : " ", w - used);
        } else {
            attr_t a = l->kind == LINE_ERROR ? pair_attr(u, PAIR_ERROR) : pair_attr(u, PAIR_DIM);
            attron(a);
            used += put_str(mk, w - used);
            attroff(a);
        }
    } else {
        char ts[64], mk[64];
        size_t tw = fmt_time(u, l->time_ms, ts, sizeof ts);
        line_marker(l, mk, sizeof mk);
        size_t pw = (tw ? u8_width(ts, tw) + 1 : 0) + u8_width(mk, strlen(mk));
        int indent = pw < (size_t)w / 3 ? (int)pw : 2;
        move(y, x + indent);
        used = indent;
    }
    attr_t ta = 0;
    if (l->highlight)
        ta = pair_attr(u, PAIR_HILITE) | A_BOLD;
    else if (l->kind == LINE_ERROR)
        ta = pair_attr(u, PAIR_ERROR);
    else if (l->kind == LINE_EVENT || l->kind == LINE_INFO)
        ta = pair_attr(u, PAIR_DIM);
    attron(ta);
    put_utf8(l->text + r->off, r->len, w - used);
    attroff(ta);
}

static void draw_messages(ui *u, window *win, int top, int height, int width)
{
    size_t need = (size_t)height + win->scroll;
    row *rows = malloc(need * sizeof *rows);
    if (rows == NULL)
        return;
    size_t nrows = 0;
    for (size_t k = win->count; k > 0 && nrows < need; k--)
        line_rows(u, win, k - 1, width, rows, &nrows, need);
    if (nrows < need) {
        /* Not that much to scroll back through. */
        win->scroll = nrows > (size_t)height ? nrows - (size_t)height : 0;
    }
    size_t first = win->scroll;
    for (int y = 0; y < height; y++) {
        size_t idx = first + (size_t)(height - 1 - y);
        if (idx >= nrows)
            continue;
        draw_row(u, win, &rows[idx], top + y, 0, width);
    }
    free(rows);
}

static void draw_nicks(const ui *u, const window *win, int top, int height, int x, int w)
{
    for (int y = 0; y < height; y++) {
        move(top + y, x - 1);
        addch(ACS_VLINE);
    }
    size_t n = win->nnicks;
    for (int y = 0; y < height && (size_t)y < n; y++) {
        move(top + y, x);
        if (y == height - 1 && n > (size_t)height) {
            char more[32];
            snprintf(more, sizeof more, "+%zu", n - (size_t)y);
            put_str(more, w);
            break;
        }
        const char *nick = win->nicks[y];
        attr_t a = nick_attr(u, nick);
        if (strcmp(nick, u->s->me) == 0)
            a |= A_BOLD;
        attron(a);
        put_str(nick, w);
        attroff(a);
    }
}

static const char *state_text(const session *s, char *buf, size_t cap)
{
    switch (s->state) {
    case SESS_CONNECTING:
        return "connecting";
    case SESS_LOGIN:
        return "logging in";
    case SESS_READY:
        return "connected";
    case SESS_CLOSING:
        return "closing";
    case SESS_WAIT_RECONNECT: {
        uint64_t now = now_mono_ms();
        unsigned secs =
            s->reconnect_at > now ? (unsigned)((s->reconnect_at - now + 999) / 1000) : 0;
        snprintf(buf, cap, "reconnecting in %us", secs);
        return buf;
    }
    case SESS_DONE:
        return "disconnected";
    default:
        return "";
    }
}

static void draw_status(ui *u, int y, int w)
{
    window *cur = wl_current(&u->wl);
    char bar[1024], act[512] = "", st[64];
    size_t ap = 0;
    for (size_t i = 1; i < u->wl.n; i++) {
        const window *x = u->wl.w[i];
        if (x->activity == 0 || i == u->wl.cur)
            continue;
        int n;
        if (x->unread > 0)
            n = snprintf(act + ap, sizeof act - ap, "%s%zu(%u%s)", ap ? " " : "", i + 1, x->unread,
                         x->activity == 3 ? "!" : "");
        else
            n = snprintf(act + ap, sizeof act - ap, "%s%zu%s", ap ? " " : "", i + 1,
                         x->activity == 3 ? "!" : "");
        if (n < 0 || (size_t)n >= sizeof act - ap)
            break;
        ap += (size_t)n;
    }
    char clock[16] = "";
    time_t t = time(NULL);
    struct tm tm;
    if (localtime_r(&t, &tm) != NULL)
        strftime(clock, sizeof clock, "%H:%M", &tm);
    const char *me = u->s->me[0] ? u->s->me : u->s->user;
    char server[300];
    snprintf(server, sizeof server, strchr(u->s->host, ':') ? "[%s]:%u" : "%s:%u", u->s->host,
             u->s->port);
    snprintf(bar, sizeof bar, " [%s] [%s%s] [%s] [%zu:%s]%s%s%s [%s]%s", clock, me,
             u->s->role == CHAT_ROLE_ADMIN ? "(admin)" : "", server, u->wl.cur + 1, cur->name,
             ap ? " [act: " : "", act, ap ? "]" : "", state_text(u->s, st, sizeof st),
             cur->scroll > 0 ? " -- more --" : "");
    attron(pair_attr(u, PAIR_STATUS) | (u->colours ? 0 : A_REVERSE));
    move(y, 0);
    for (int x = 0; x < w; x++)
        addch(' ');
    move(y, 0);
    put_str(bar, w);
    attroff(pair_attr(u, PAIR_STATUS) | (u->colours ? 0 : A_REVERSE));
}

static void draw_title(ui *u, int w)
{
    window *cur = wl_current(&u->wl);
    char t[CHAT_TOPIC_MAX * 6 + 128];
    if (cur->kind == WIN_ROOM)
        snprintf(t, sizeof t, " %s%s%s%s", cur->name, cur->joined ? "" : " (not joined)",
                 cur->topic[0] ? ": " : "", cur->topic);
    else if (cur->kind == WIN_QUERY)
        snprintf(t, sizeof t, " private conversation with %s", cur->name);
    else
        snprintf(t, sizeof t, " chatc %s: %s", u->s->hostport,
                 "type /help for commands, Alt-1..9 or Ctrl-N/P to switch windows");
    attron(pair_attr(u, PAIR_STATUS) | (u->colours ? 0 : A_REVERSE));
    move(0, 0);
    for (int x = 0; x < w; x++)
        addch(' ');
    move(0, 0);
    put_str(t, w);
    attroff(pair_attr(u, PAIR_STATUS) | (u->colours ? 0 : A_REVERSE));
}

static void draw(ui *u)
{
    if (!u->curses)
        return;
    int h = LINES, w = COLS;
    erase();
    if (h < 4 || w < 12) {
        mvaddstr(0, 0, "too small");
        refresh();
        u->dirty = 0;
        return;
    }
    window *cur = wl_current(&u->wl);
    draw_title(u, w);
    int height = h - 3;
    int pane_w = w;
    if (cur->kind == WIN_ROOM && u->cfg->nicklist && w >= 40) {
        int nw = 4;
        for (size_t i = 0; i < cur->nnicks; i++) {
            int l = (int)strlen(cur->nicks[i]);
            if (l > nw)
                nw = l;
        }
        if (nw > 16)
            nw = 16;
        pane_w = w - nw - 1;
        draw_nicks(u, cur, 1, height, pane_w + 1, nw);
    }
    draw_messages(u, cur, 1, height, pane_w);
    draw_status(u, h - 2, w);

    /* Input line. */
    char prompt[CHAT_ROOM_MAX + 96];
    if (u->npaste > 0)
        snprintf(prompt, sizeof prompt, "Send %zu lines to %s? (y/n) ", u->npaste, u->paste_target);
    else if (u->secret_stage == 1)
        snprintf(prompt, sizeof prompt, "%s: ",
                 u->secret_for == CMD_PASSWD ? "New password" : "Password for the new account");
    else if (u->secret_stage == 2)
        snprintf(prompt, sizeof prompt, "Repeat it: ");
    else
        snprintf(prompt, sizeof prompt, "[%s] ", cur->name);
    move(h - 1, 0);
    int pw = put_str(prompt, w - 2);
    int col = pw;
    if (u->npaste == 0 && !u->in.secret) {
        unsigned c = input_view(&u->in, (unsigned)(w - pw));
        put_utf8(u->in.buf + u->in.view, u->in.len - u->in.view, w - pw);
        col = pw + (int)c;
    }
    move(h - 1, col < w ? col : w - 1);
    refresh();
    u->dirty = 0;
}

/* ---- Session events --------------------------------------------------- */

static void room_left(ui *u, const char *room)
{
    long i = wl_find(&u->wl, room);
    if (i < 0)
        return;
    window *w = u->wl.w[i];
    w->joined = 0;
    win_nicks_clear(w);
    for (size_t k = 0; k < sizeof u->closing / sizeof u->closing[0]; k++) {
        if (strcasecmp(u->closing[k], room) == 0) {
            u->closing[k][0] = '\0';
            wl_close(&u->wl, (size_t)i);
            break;
        }
    }
}

static void show_message(ui *u, const chat_msg *m)
{
    char target[CHAT_ROOM_MAX + 1], from[CHAT_NAME_MAX + 1];
    cstr(target, sizeof target, m->u.message.target);
    cstr(from, sizeof from, m->u.message.from);
    int own = strcasecmp(from, u->s->me) == 0;
    int pm = target[0] != '#';
    const char *wname = !pm ? target : own ? target : from;
    size_t i = win_of(u, wname);
    int replay = (m->u.message.flags & CHAT_MESSAGE_HISTORY) != 0;
    int hl = !own && !replay &&
             (pm || mentions((const char *)m->u.message.text.p, m->u.message.text.n, u->s->me));
    (void)wl_add(&u->wl, i, m->u.message.time_ms,
                 m->u.message.kind == CHAT_KIND_ACTION ? LINE_ACTION : LINE_MSG, from,
                 (const char *)m->u.message.text.p, m->u.message.text.n, hl, own);
    if (hl && u->bell && u->curses)
        beep();
    u->dirty = 1;
}

static void list_entries(ui *u, const chat_msg *m)
{
    size_t cur = u->wl.cur;
    const uint8_t *p = m->type == CHAT_MSG_NAMES ? m->u.names.entries : m->u.list.entries;
    size_t left = m->type == CHAT_MSG_NAMES ? m->u.names.entries_len : m->u.list.entries_len;
    while (left > 0) {
        char a[CHAT_ROOM_MAX + 1], t[CHAT_TOPIC_MAX + 1];
        if (m->type == CHAT_MSG_ROOM_LIST) {
            chat_room_entry e;
            if (chat_entry_get_room(&p, &left, &e) != CHAT_OK)
                break;
            cstr(a, sizeof a, e.room);
            cstr(t, sizeof t, e.topic);
            sayf(u, cur, LINE_INFO, "%-20s %4u member%s%s%s", a, (unsigned)e.members,
                 e.members == 1 ? " " : "s", t[0] ? "  " : "", t);
        } else {
            chat_user_entry e;
            if (chat_entry_get_user(&p, &left, &e) != CHAT_OK)
                break;
            cstr(a, sizeof a, e.user);
            sayf(u, cur, LINE_INFO, "%-20s %-5s %s", a,
                 e.role == CHAT_ROLE_ADMIN ? "admin" : "user", e.online ? "online" : "offline");
        }
    }
}

static void on_names(ui *u, const chat_msg *m, const sess_req *req)
{
    char room[CHAT_ROOM_MAX + 1];
    cstr(room, sizeof room, m->u.names.room);
    int who = req != NULL && req->what == CMD_WHO;
    long wi = wl_find(&u->wl, room);
    if (wi >= 0 && (u->wl.w[wi]->joined || !who)) {
        window *w = u->wl.w[wi];
        win_names_begin(w);
        const uint8_t *p = m->u.names.entries;
        size_t left = m->u.names.entries_len;
        chat_name_entry e;
        while (left > 0 && chat_entry_get_name(&p, &left, &e) == CHAT_OK) {
            char n[CHAT_NAME_MAX + 1];
            cstr(n, sizeof n, e.user);
            (void)win_nick_add(w, n);
        }
        if (!(m->u.names.flags & CHAT_LIST_MORE))
            w->names_open = 0;
    }
    if (who) {
        char list[8192];
        size_t pos = 0;
        const uint8_t *p = m->u.names.entries;
        size_t left = m->u.names.entries_len;
        chat_name_entry e;
        while (left > 0 && chat_entry_get_name(&p, &left, &e) == CHAT_OK &&
               pos + e.user.n + 2 < sizeof list) {
            list[pos++] = ' ';
            memcpy(list + pos, e.user.p, e.user.n);
            pos += e.user.n;
        }
        list[pos] = '\0';
        sayf(u, u->wl.cur, LINE_INFO, "%s (%u):%s", room, (unsigned)m->u.names.count, list);
    }
    if (req != NULL && req->what == CMD_JOIN && !req->quiet && !(m->u.names.flags & CHAT_LIST_MORE))
        wl_switch(&u->wl, win_of(u, room));
    u->dirty = 1;
}

static void on_reply(ui *u, const chat_msg *m, const sess_req *req)
{
    size_t cur = u->wl.cur;
    if (m->type == CHAT_MSG_ERROR) {
        char t[CHAT_REASON_MAX + 1];
        cstr(t, sizeof t, m->u.error.text);
        sayf(u, cur, LINE_ERROR, "error: %s%s%s%s%s%s", code_text(m->u.error.code),
             t[0] ? ": " : "", t, req != NULL && req->arg[0] ? " (" : "",
             req != NULL ? req->arg : "", req != NULL && req->arg[0] ? ")" : "");
        return;
    }
    if (req == NULL)
        return;
    switch (req->what) {
    case CMD_PASSWD:
        say_in(u, cur, LINE_INFO, "your password was changed");
        break;
    case CMD_ADDUSER:
        sayf(u, cur, LINE_INFO, "account %s created", req->arg);
        break;
    case CMD_DELUSER:
        sayf(u, cur, LINE_INFO, "account %s deleted", req->arg);
        break;
    case CMD_KICK:
        sayf(u, cur, LINE_INFO, "%s was kicked", req->arg);
        break;
    case CMD_SHUTDOWN:
        say_in(u, cur, LINE_INFO, "the server is shutting down");
        break;
    default:
        break;
    }
}

static void on_server_msg(ui *u, const chat_client_event *ev, const sess_req *req)
{
    const chat_msg *m = &ev->msg;
    char room[CHAT_ROOM_MAX + 1], user[CHAT_NAME_MAX + 1], t[CHAT_TOPIC_MAX + 1];
    switch (m->type) {
    case CHAT_MSG_MESSAGE:
        show_message(u, m);
        break;
    case CHAT_MSG_JOINED: {
        cstr(room, sizeof room, m->u.joined.room);
        cstr(user, sizeof user, m->u.joined.user);
        size_t i = win_of(u, room);
        window *w = u->wl.w[i];
        (void)win_nick_add(w, user);
        if (strcasecmp(user, u->s->me) == 0) {
            w->joined = 1;
            sayf(u, i, LINE_EVENT, "you have joined %s", room);
            if (u->wl.cur == 0 && m->req == 0 && (req == NULL))
                wl_switch(&u->wl, i);
        } else {
            sayf(u, i, LINE_EVENT, "%s has joined %s", user, room);
        }
        break;
    }
    case CHAT_MSG_PARTED: {
        cstr(room, sizeof room, m->u.parted.room);
        cstr(user, sizeof user, m->u.parted.user);
        long i = wl_find(&u->wl, room);
        if (i < 0)
            break;
        unsigned r = m->u.parted.reason;
        const char *why = r == CHAT_CODE_PART        ? "left"
                          : r == CHAT_CODE_QUIT      ? "quit"
                          : r == CHAT_CODE_KICKED    ? "was kicked"
                          : r == CHAT_CODE_CONN_LOST ? "lost the connection"
                                                     : NULL;
        if (strcasecmp(user, u->s->me) == 0) {
            sayf(u, (size_t)i, LINE_EVENT, "you have left %s", room);
            room_left(u, room);
        } else {
            win_nick_remove(u->wl.w[i], user);
            if (why != NULL)
                sayf(u, (size_t)i, LINE_EVENT, "%s has %s %s", user, why,
                     r == CHAT_CODE_PART ? room : "");
            else
                sayf(u, (size_t)i, LINE_EVENT, "%s has left %s (%s)", user, room, code_text(r));
        }
        break;
    }
    case CHAT_MSG_TOPIC_CHANGED: {
        cstr(room, sizeof room, m->u.topic_changed.room);
        cstr(user, sizeof user, m->u.topic_changed.by);
        cstr(t, sizeof t, m->u.topic_changed.topic);
        size_t i = win_of(u, room);
        window *w = u->wl.w[i];
        (void)chat_sanitize(t, strlen(t), w->topic, sizeof w->topic);
        if (t[0])
            sayf(u, i, LINE_EVENT, "topic of %s (set by %s): %s", room, user, t);
        else
            sayf(u, i, LINE_EVENT, "%s removed the topic of %s", user, room);
        break;
    }
    case CHAT_MSG_NAMES:
        on_names(u, m, req);
        break;
    case CHAT_MSG_ROOM_LIST:
    case CHAT_MSG_USER_LIST:
        list_entries(u, m);
        break;
    case CHAT_MSG_OK:
    case CHAT_MSG_ERROR:
        on_reply(u, m, req);
        break;
    default:
        break;
    }
    u->dirty = 1;
}

static void on_closed(ui *u, const chat_client_event *ev)
{
    char t[CHAT_REASON_MAX + 1];
    cstr(t, sizeof t, ev->close.text);
    char msg[400];
    if (ev->close.origin == CHAT_CLOSE_LOST)
        snprintf(msg, sizeof msg, "connection lost (no goodbye from the server)");
    else if (ev->close.origin == CHAT_CLOSE_PEER)
        snprintf(msg, sizeof msg, "disconnected by the server: %s%s%s",
                 ev->close.code == CHAT_CODE_KICKED     ? "you were kicked"
                 : ev->close.code == CHAT_CODE_SHUTDOWN ? "shutdown"
                                                        : code_text(ev->close.code),
                 t[0] ? ": " : "", t);
    else if (ev->close.code == CHAT_CODE_QUIT)
        snprintf(msg, sizeof msg, "disconnected");
    else if (ev->close.code == CHAT_CODE_NONE)
        snprintf(msg, sizeof msg, "connection closed: %s", t);
    else
        snprintf(msg, sizeof msg, "connection closed: %s%s%s", code_text(ev->close.code),
                 t[0] ? ": " : "", t);
    if (!u->curses) {
        fprintf(stderr, "chatc: %s\n", msg);
        return;
    }
    for (size_t i = 0; i < u->wl.n; i++) {
        window *w = u->wl.w[i];
        if (i == 0 || w->kind == WIN_ROOM)
            say_in(u, i, LINE_ERROR, msg);
        if (w->kind == WIN_ROOM) {
            w->joined = 0;
            win_nicks_clear(w);
        }
    }
}

static void ui_event(void *ctx, const chat_client_event *ev, const sess_req *req)
{
    ui *u = ctx;
    switch (ev->type) {
    case CHAT_CLIENT_EV_WELCOME: {
        start_curses(u);
        char user[CHAT_NAME_MAX + 1];
        cstr(user, sizeof user, ev->msg.u.welcome.user);
        sayf(u, 0, LINE_INFO, "logged in to %s as %s%s", u->s->hostport, user,
             ev->msg.u.welcome.role == CHAT_ROLE_ADMIN ? " (admin)" : "");
        /* The MOTD, line by line. */
        chat_str motd = ev->msg.u.welcome.motd;
        size_t pos = 0;
        while (pos < motd.n) {
            const uint8_t *nl = memchr(motd.p + pos, '\n', motd.n - pos);
            size_t end = nl != NULL ? (size_t)(nl - motd.p) : motd.n;
            (void)wl_add(&u->wl, 0, ev->msg.u.welcome.time_ms, LINE_INFO, NULL,
                         (const char *)motd.p + pos, end - pos, 0, 0);
            pos = end + 1;
        }
        break;
    }
    case CHAT_CLIENT_EV_MESSAGE:
        if (u->curses)
            on_server_msg(u, ev, req);
        break;
    case CHAT_CLIENT_EV_LOGIN_FAILED:
        if (u->curses)
            sayf(u, 0, LINE_ERROR, "login failed: %s", code_text(ev->msg.u.login_failed.code));
        else if (ev->msg.u.login_failed.code == CHAT_CODE_BAD_LOGIN &&
                 ev->msg.u.login_failed.attempts_left > 0)
            fprintf(stderr, "Permission denied, please try again.\n");
        break;
    case CHAT_CLIENT_EV_REJECTED: {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "the server refused the connection: %s (it speaks versions %u-%u)",
                 code_text(ev->reject.code), ev->reject.version_min, ev->reject.version_max);
        if (u->curses)
            say_in(u, 0, LINE_ERROR, msg);
        else
            fprintf(stderr, "chatc: %s\n", msg);
        break;
    }
    case CHAT_CLIENT_EV_CLOSED:
        on_closed(u, ev);
        break;
    default:
        break;
    }
    u->dirty = 1;
}

static void ui_notice(void *ctx, sess_note kind, const char *machine, const char *human)
{
    ui *u = ctx;
    (void)machine;
    if (!u->curses) {
        if (kind == NOTE_ALERT)
            fputs(human, stderr);
        else if (kind == NOTE_HOSTKEY && strncmp(machine, "host-key known", 14) == 0)
            ; /* the usual case: say nothing */
        else if (kind != NOTE_CONNECTED && kind != NOTE_READY)
            fprintf(stderr, "chatc: %s\n", human);
        return;
    }
    if (kind == NOTE_READY)
        return; /* the WELCOME already said it */
    /* Human texts may span lines. */
    size_t target = kind == NOTE_CONNECTED || kind == NOTE_HOSTKEY || kind == NOTE_READY ||
                            kind == NOTE_RECONNECT
                        ? 0
                        : u->wl.cur;
    line_kind lk = kind == NOTE_ERROR || kind == NOTE_ALERT ? LINE_ERROR : LINE_INFO;
    if (kind == NOTE_ERROR)
        snprintf(u->last_error, sizeof u->last_error, "%s", human);
    if (kind == NOTE_ALERT) {
        add_alert(u, human);
        if (u->wl.cur != 0) {
            const char *p = human;
            while (*p) {
                const char *nl = strchr(p, '\n');
                size_t n = nl ? (size_t)(nl - p) : strlen(p);
                (void)wl_add(&u->wl, u->wl.cur, now_wall_ms(), lk, NULL, p, n, 0, 0);
                p += n + (nl != NULL);
            }
        }
        target = 0;
    }
    const char *p = human;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        (void)wl_add(&u->wl, target, now_wall_ms(), lk, NULL, p, n, 0, 0);
        p += n + (nl != NULL);
    }
    u->dirty = 1;
}

static int ui_ask_key(void *ctx, const char *hostport, const char *fp)
{
    ui *u = ctx;
    if (u->curses || !tty_available())
        return 0;
    char prompt[600], answer[256];
    snprintf(prompt, sizeof prompt,
             "The server %s is not known yet (no key pinned for it).\n"
             "Its key fingerprint is %s.\n"
             "Compare it with the fingerprint the server's operator published.\n"
             "Connect and pin this key (yes/no/[fingerprint])? ",
             hostport, fp);
    /* "yes" or the fingerprint itself accepts; anything else refuses. */
    if (tty_ask(prompt, answer, sizeof answer) != TTY_OK)
        return 0;
    if (strcmp(answer, "yes") == 0 || strcmp(answer, fp) == 0)
        return 1;
    if (strncmp(answer, "SHA256:", 7) == 0)
        tty_print("That is not the fingerprint of this server's key.\n");
    return 0;
}

static int ui_password(void *ctx, char *buf, size_t cap, int retry)
{
    ui *u = ctx;
    (void)retry;
    if (u->curses || !tty_available())
        return -1;
    char prompt[400];
    snprintf(prompt, sizeof prompt, "%s@%s's password: ", u->s->user, u->s->hostport);
    size_t len = 0;
    int rc = tty_read_password(prompt, buf, cap, &len);
    if (rc == TTY_E_INTR) {
        signal(SIGINT, SIG_DFL);
        raise(SIGINT);
    }
    if (rc != TTY_OK)
        return -1;
    return (int)len;
}

static const session_ops ui_ops = {
    .ask_key = ui_ask_key,
    .password = ui_password,
    .event = ui_event,
    .notice = ui_notice,
};

/* ---- Commands --------------------------------------------------------- */

static void key_help(ui *u)
{
    static const char *const lines[] = {
        "keys: Left/Right, Home/End (Ctrl-A/E), Ctrl-U/K/W cut, Ctrl-Y paste back,",
        "      Backspace/Delete, Up/Down history, PgUp/PgDn scroll, Tab completes,",
        "      Alt-1..9 or Ctrl-N/Ctrl-P switch windows, Ctrl-L redraws",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        say_in(u, u->wl.cur, LINE_INFO, lines[i]);
}

static void secret_cancel(ui *u)
{
    u->secret_stage = 0;
    u->in.secret = 0;
    if (u->secret_first != NULL)
        sodium_memzero(u->secret_first, CHAT_PASSWORD_MAX + 1);
    u->secret_first_len = 0;
    input_clear(&u->in);
}

static void secret_enter(ui *u)
{
    uint64_t now = now_mono_ms();
    if (u->secret_stage == 1) {
        if (u->in.len == 0 || u->in.len > CHAT_PASSWORD_MAX) {
            say_in(u, u->wl.cur, LINE_ERROR, "a password has 1 to 1024 bytes; cancelled");
            secret_cancel(u);
            return;
        }
        memcpy(u->secret_first, u->in.buf, u->in.len);
        u->secret_first_len = u->in.len;
        input_clear(&u->in);
        u->secret_stage = 2;
        return;
    }
    if (u->in.len != u->secret_first_len ||
        sodium_memcmp(u->in.buf, u->secret_first, u->in.len) != 0) {
        say_in(u, u->wl.cur, LINE_ERROR, "the passwords differ; nothing was changed");
        secret_cancel(u);
        return;
    }
    say_in(u, u->wl.cur, LINE_INFO, "deriving the verifier (Argon2id)...");
    draw(u);
    if (u->secret_for == CMD_PASSWD)
        (void)session_passwd(u->s, u->secret_first, u->secret_first_len, now);
    else
        (void)session_adduser(u->s, u->secret_user, u->secret_admin, u->secret_first,
                              u->secret_first_len, now);
    secret_cancel(u);
}

static void run_line(ui *u, const char *line)
{
    uint64_t now = now_mono_ms();
    static cmd c;
    cmd_parse(line, &c);
    window *cur = wl_current(&u->wl);
    size_t ci = u->wl.cur;
    switch (c.type) {
    case CMD_NONE:
        return;
    case CMD_USAGE:
    case CMD_UNKNOWN:
        say_in(u, ci, LINE_ERROR, c.usage);
        return;
    case CMD_WINDOW:
        if (c.num > u->wl.n)
            sayf(u, ci, LINE_ERROR, "no window %u (there are %zu)", c.num, u->wl.n);
        else
            wl_switch(&u->wl, c.num - 1);
        return;
    case CMD_CLEAR:
        win_clear(cur);
        return;
    case CMD_QUERY:
        wl_switch(&u->wl, win_of(u, c.arg));
        return;
    case CMD_CLOSE:
        if (cur->kind == WIN_STATUS) {
            say_in(u, ci, LINE_ERROR, "the status window stays open (/quit leaves)");
        } else if (cur->kind == WIN_ROOM && cur->joined) {
            for (size_t k = 0; k < sizeof u->closing / sizeof u->closing[0]; k++) {
                if (u->closing[k][0] == '\0') {
                    snprintf(u->closing[k], sizeof u->closing[k], "%s", cur->name);
                    break;
                }
            }
            cmd p;
            memset(&p, 0, sizeof p);
            p.type = CMD_PART;
            if (session_command(u->s, &p, cur->name, now) != 0)
                wl_close(&u->wl, ci);
        } else {
            wl_close(&u->wl, ci);
        }
        return;
    case CMD_HELP:
        session_help(u->s, c.arg);
        if (c.arg[0] == '\0')
            key_help(u);
        return;
    case CMD_BELL:
        u->bell = c.flag < 0 ? !u->bell : c.flag;
        sayf(u, ci, LINE_INFO, "bell %s", u->bell ? "on" : "off");
        return;
    case CMD_TOPIC:
        if (c.flag == 0) {
            const char *r = c.arg[0] ? c.arg : cur->name;
            long wi = wl_find(&u->wl, r);
            if (r[0] != '#')
                say_in(u, ci, LINE_ERROR, "/topic: not a room");
            else if (wi < 0 || u->wl.w[wi]->topic[0] == '\0')
                sayf(u, ci, LINE_INFO, "%s has no topic (or it is not known here)", r);
            else
                sayf(u, ci, LINE_INFO, "topic of %s: %s", r, u->wl.w[wi]->topic);
            return;
        }
        break;
    case CMD_PASSWD:
    case CMD_ADDUSER:
        if (u->s->state != SESS_READY) {
            say_in(u, ci, LINE_ERROR, "not connected");
            return;
        }
        u->secret_stage = 1;
        u->secret_for = c.type;
        u->in.secret = 1;
        snprintf(u->secret_user, sizeof u->secret_user, "%s", c.arg);
        u->secret_admin = c.flag;
        return;
    case CMD_MSG:
        if (c.arg[0] != '#')
            (void)win_of(u, c.arg);
        break;
    default:
        break;
    }
    (void)session_command(u->s, &c, current_target(u), now);
    u->dirty = 1;
}

static void submit(ui *u)
{
    if (u->secret_stage) {
        secret_enter(u);
        return;
    }
    static char line[INPUT_MAX + 1];
    memcpy(line, u->in.buf, u->in.len + 1);
    (void)history_add(&u->hist, line);
    input_clear(&u->in);
    window *cur = wl_current(&u->wl);
    cur->scroll = 0;
    run_line(u, line);
}

/* ---- Completion ------------------------------------------------------- */

static size_t complete(void *ctx, const char *word, size_t len, int first, const char **out,
                       size_t max)
{
    ui *u = ctx;
    size_t n = 0;
    if (first && len > 0 && word[0] == '/') {
        const char *names[INPUT_TAB_MAX];
        size_t k =
            cmd_complete(word + 1, len - 1, u->s->role == CHAT_ROLE_ADMIN, names, INPUT_TAB_MAX);
        for (size_t i = 0; i < k && i < INPUT_TAB_MAX && n < max; i++) {
            snprintf(u->tab_buf[n], sizeof u->tab_buf[n], "/%s", names[i]);
            out[n] = u->tab_buf[n];
            n++;
        }
        return n;
    }
    if (len > 0 && word[0] == '#') {
        for (size_t i = 1; i < u->wl.n && n < max; i++)
            if (u->wl.w[i]->kind == WIN_ROOM && strncasecmp(u->wl.w[i]->name, word, len) == 0)
                out[n++] = u->wl.w[i]->name;
        return n;
    }
    window *cur = wl_current(&u->wl);
    if (cur->kind == WIN_ROOM)
        return win_nick_complete(cur, word, len, out, max);
    if (cur->kind == WIN_QUERY && strncasecmp(cur->name, word, len) == 0 && max > 0) {
        out[0] = cur->name;
        return 1;
    }
    return 0;
}

/* ---- Keys ------------------------------------------------------------- */

typedef struct key {
    int code; /* 1: a KEY_* code */
    wint_t ch;
} key;

static int is_enter(const key *k)
{
    return (!k->code && (k->ch == '\r' || k->ch == '\n')) || (k->code && k->ch == KEY_ENTER);
}

static void paste_free(ui *u)
{
    for (size_t i = 0; i < u->npaste; i++) {
        sodium_memzero(u->paste[i], strlen(u->paste[i]));
        free(u->paste[i]);
    }
    free(u->paste);
    u->paste = NULL;
    u->npaste = 0;
}

static void paste_push(ui *u, const char *s, size_t n)
{
    if (u->npaste >= PASTE_MAX_LINES)
        return;
    char **np = realloc(u->paste, (u->npaste + 1) * sizeof *np);
    if (np == NULL)
        return;
    u->paste = np;
    char *l = malloc(n + 1);
    if (l == NULL)
        return;
    memcpy(l, s, n);
    l[n] = '\0';
    u->paste[u->npaste++] = l;
}

/* Several lines arrived at once: a paste. Collect them (the text already
 * typed starts the first) and ask before sending. Returns 1 if the batch
 * was taken as a paste. */
static int maybe_paste(ui *u, const key *keys, size_t n)
{
    if (u->cfg->paste_lines == 0 || u->secret_stage || u->npaste > 0)
        return 0;
    size_t lines = 0;
    int text_after = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_enter(&keys[i])) {
            lines++;
            text_after = 0;
        } else if (!keys[i].code) {
            text_after = 1;
        }
    }
    if (text_after)
        lines++;
    size_t first_text = 0;
    while (first_text < n && is_enter(&keys[first_text]))
        first_text++;
    if (lines < 2 || lines < u->cfg->paste_lines || first_text == n)
        return 0;
    /* Build the lines. */
    static char buf[INPUT_MAX + 1];
    size_t bl = u->in.len;
    memcpy(buf, u->in.buf, bl);
    input_clear(&u->in);
    for (size_t i = 0; i < n; i++) {
        if (is_enter(&keys[i])) {
            if (bl > 0)
                paste_push(u, buf, bl);
            bl = 0;
            continue;
        }
        if (keys[i].code)
            continue;
        uint32_t cp = (uint32_t)keys[i].ch;
        if (cp == '\t')
            cp = ' ';
        char enc[4];
        size_t el;
        if (!u8_cp_allowed(cp) || (el = u8_encode(cp, enc)) == 0 || bl + el > INPUT_MAX)
            continue;
        memcpy(buf + bl, enc, el);
        bl += el;
    }
    if (bl > 0)
        paste_push(u, buf, bl);
    sodium_memzero(buf, sizeof buf);
    if (u->npaste == 0)
        return 1;
    snprintf(u->paste_target, sizeof u->paste_target, "%s",
             current_target(u)[0] ? current_target(u) : "(no room)");
    if (u->npaste == 1) {
        /* Only one line with text after all: back into the input line. */
        input_set(&u->in, u->paste[0]);
        paste_free(u);
    }
    u->dirty = 1;
    return 1;
}

static void paste_answer(ui *u, const key *k)
{
    if (k->code)
        return;
    if (k->ch == 'y' || k->ch == 'Y') {
        uint64_t now = now_mono_ms();
        const char *t = current_target(u);
        size_t sent = 0;
        for (size_t i = 0; i < u->npaste; i++) {
            static cmd c;
            memset(&c, 0, sizeof c);
            c.type = CMD_SAY;
            snprintf(c.text, sizeof c.text, "%s", u->paste[i]);
            if (session_command(u->s, &c, t, now) != 0)
                break;
            sent++;
        }
        if (sent > 0)
            sayf(u, u->wl.cur, LINE_INFO, "sent %zu line%s", sent, sent == 1 ? "" : "s");
        paste_free(u);
    } else if (k->ch == 'n' || k->ch == 'N' || k->ch == 27 || k->ch == 3) {
        say_in(u, u->wl.cur, LINE_INFO, "paste not sent");
        paste_free(u);
    }
    u->dirty = 1;
}

static void scroll_by(ui *u, int up)
{
    window *w = wl_current(&u->wl);
    size_t page = LINES > 6 ? (size_t)(LINES - 4) : 1;
    if (up)
        w->scroll += page;
    else
        w->scroll = w->scroll > page ? w->scroll - page : 0;
}

/* Handle one key; next is the key after it in the batch (for Alt). Returns
 * how many keys were used (1 or 2). */
static size_t handle_key(ui *u, const key *k, const key *next)
{
    if (u->npaste > 0) {
        paste_answer(u, k);
        return 1;
    }
    if (k->code) {
        if (k->ch != KEY_RESIZE)
            input_tab_reset(&u->in);
        switch (k->ch) {
        case KEY_LEFT:
            input_left(&u->in);
            break;
        case KEY_RIGHT:
            input_right(&u->in);
            break;
        case KEY_HOME:
            input_home(&u->in);
            break;
        case KEY_END:
            input_end(&u->in);
            break;
        case KEY_UP:
            input_history_up(&u->in, &u->hist);
            break;
        case KEY_DOWN:
            input_history_down(&u->in, &u->hist);
            break;
        case KEY_PPAGE:
            scroll_by(u, 1);
            break;
        case KEY_NPAGE:
            scroll_by(u, 0);
            break;
        case KEY_BACKSPACE:
            input_backspace(&u->in);
            break;
        case KEY_DC:
            input_delete(&u->in);
            break;
        case KEY_ENTER:
            submit(u);
            break;
        case KEY_RESIZE:
            break;
        default:
            break;
        }
        u->dirty = 1;
        return 1;
    }
    wint_t ch = k->ch;
    if (ch != '\t')
        input_tab_reset(&u->in);
    u->dirty = 1;
    switch (ch) {
    case 1: /* Ctrl-A */
        input_home(&u->in);
        return 1;
    case 2:
        input_left(&u->in);
        return 1;
    case 3: /* Ctrl-C */
        if (u->secret_stage) {
            secret_cancel(u);
            say_in(u, u->wl.cur, LINE_INFO, "cancelled");
        } else {
            say_in(u, u->wl.cur, LINE_INFO, "type /quit to leave");
        }
        return 1;
    case 4:
        input_delete(&u->in);
        return 1;
    case 5: /* Ctrl-E */
        input_end(&u->in);
        return 1;
    case 6:
        input_right(&u->in);
        return 1;
    case 8:
    case 127:
        input_backspace(&u->in);
        return 1;
    case '\t':
        input_tab(&u->in, complete, u);
        return 1;
    case '\r':
    case '\n':
        submit(u);
        return 1;
    case 11: /* Ctrl-K */
        input_kill_to_end(&u->in);
        return 1;
    case 12: /* Ctrl-L */
        clearok(curscr, TRUE);
        return 1;
    case 14: /* Ctrl-N */
        wl_next(&u->wl);
        return 1;
    case 16: /* Ctrl-P */
        wl_prev(&u->wl);
        return 1;
    case 21: /* Ctrl-U */
        input_kill_to_start(&u->in);
        return 1;
    case 23: /* Ctrl-W */
        input_kill_word(&u->in);
        return 1;
    case 25: /* Ctrl-Y */
        input_yank(&u->in);
        return 1;
    case 27: /* ESC: Alt-<key> when a key follows */
        if (u->secret_stage && next == NULL) {
            secret_cancel(u);
            say_in(u, u->wl.cur, LINE_INFO, "cancelled");
            return 1;
        }
        if (next != NULL && !next->code) {
            wint_t c2 = next->ch;
            if (c2 >= '0' && c2 <= '9') {
                size_t w = c2 == '0' ? 9 : (size_t)(c2 - '1');
                if (w < u->wl.n)
                    wl_switch(&u->wl, w);
                return 2;
            }
            if (c2 == 'b' || c2 == 'B') {
                input_word_left(&u->in);
                return 2;
            }
            if (c2 == 'f' || c2 == 'F') {
                input_word_right(&u->in);
                return 2;
            }
            if (c2 == 'd') {
                size_t save = u->in.cur;
                input_word_right(&u->in);
                size_t end = u->in.cur;
                u->in.cur = save;
                while (u->in.cur < end && u->in.cur < u->in.len) {
                    size_t before = u->in.len;
                    input_delete(&u->in);
                    end -= before - u->in.len;
                }
                return 2;
            }
            return 2;
        }
        return 1;
    default:
        if (ch >= 32)
            (void)input_insert(&u->in, (uint32_t)ch);
        return 1;
    }
}

static void read_keys(ui *u)
{
    static key keys[KEY_BATCH];
    size_t n = 0;
    for (;;) {
        wint_t ch;
        int r = get_wch(&ch);
        if (r == ERR) {
            /* A lone ESC: give its partner a moment to arrive. */
            if (n > 0 && !keys[n - 1].code && keys[n - 1].ch == 27 && n < KEY_BATCH) {
                struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN, .revents = 0};
                if (poll(&p, 1, 40) > 0 && get_wch(&ch) != ERR) {
                    keys[n].code = 0;
                    keys[n].ch = ch;
                    /* KEY_* codes are > 0xFF and not valid characters here. */
                    if (ch >= KEY_MIN && ch <= KEY_MAX)
                        keys[n].code = 1;
                    n++;
                    continue;
                }
            }
            break;
        }
        keys[n].code = r == KEY_CODE_YES;
        keys[n].ch = ch;
        n++;
        if (n == KEY_BATCH)
            break;
    }
    if (n == 0)
        return;
    if (!maybe_paste(u, keys, n))
        for (size_t i = 0; i < n;)
            i += handle_key(u, &keys[i], i + 1 < n ? &keys[i + 1] : NULL);
    sodium_memzero(keys, n * sizeof keys[0]); /* may have held a password */
}

/* ---- Main loop -------------------------------------------------------- */

static void fix_locale(void)
{
    setlocale(LC_ALL, "");
    const char *cs = nl_langinfo(CODESET);
    if (cs == NULL || strcmp(cs, "UTF-8") != 0) {
        /* The protocol is UTF-8: draw it as such even in a "C" locale. */
        if (setlocale(LC_CTYPE, "C.UTF-8") == NULL)
            (void)setlocale(LC_CTYPE, "en_US.UTF-8");
    }
}

int ui_run(session *s, const ui_opts *o)
{
    static ui u;
    memset(&u, 0, sizeof u);
    u.s = s;
    u.o = o;
    u.cfg = o->cfg;
    u.bell = o->cfg->bell;
    fix_locale();
    if (wl_init(&u.wl, o->cfg->scrollback) != 0)
        return EXIT_SOFTWARE;
    input_init(&u.in);
    history_init(&u.hist, o->cfg->history_size);
    char err[600];
    if (o->history_path != NULL && history_load(&u.hist, o->history_path, err, sizeof err) != 0)
        fprintf(stderr, "chatc: cannot read the input history: %s\n", err);
    u.secret_first = sodium_malloc(CHAT_PASSWORD_MAX + 1);
    if (u.secret_first == NULL) {
        wl_free(&u.wl);
        history_free(&u.hist);
        return EXIT_SOFTWARE;
    }
    s->ops = &ui_ops;
    s->ctx = &u;

    uint64_t now = now_mono_ms();
    (void)session_connect(s, now);
    for (;;) {
        if (s->state == SESS_DONE && (!u.curses || s->quitting || s->fatal))
            break;
        struct pollfd fds[3];
        nfds_t n = 0;
        long sock = -1;
        if (sig_fd() >= 0) {
            fds[n].fd = sig_fd();
            fds[n].events = POLLIN;
            fds[n].revents = 0;
            n++;
        }
        if (session_pollfd(s, &fds[n]))
            sock = (long)n++;
        if (u.curses) {
            fds[n].fd = STDIN_FILENO;
            fds[n].events = POLLIN;
            fds[n].revents = 0;
            n++;
        }
        now = now_mono_ms();
        uint64_t dl = session_deadline(s);
        int timeout = -1;
        if (dl != UINT64_MAX)
            timeout = dl <= now ? 0 : (dl - now > 60000 ? 60000 : (int)(dl - now));
        if (u.curses && (timeout < 0 || timeout > 1000))
            timeout = 1000; /* the clock and the reconnect countdown */
        int pr = poll(fds, n, timeout);
        now = now_mono_ms();
        if (sig_take_quit())
            session_quit(s, "", now);
        if (pr > 0 && sock >= 0 && fds[sock].revents)
            session_io(s, fds[sock].revents, now);
        /* Keys, and KEY_RESIZE after a SIGWINCH interrupted poll. */
        if (u.curses)
            read_keys(&u);
        session_tick(s, now);
        if (u.curses) {
            time_t t = time(NULL);
            struct tm tm;
            int minute = localtime_r(&t, &tm) != NULL ? tm.tm_min : 0;
            if (minute != u.last_minute || s->state == SESS_WAIT_RECONNECT) {
                u.last_minute = minute;
                u.dirty = 1;
            }
            if (u.dirty)
                draw(&u);
        }
    }
    int code = s->fatal ? s->exit_code : s->quitting ? EXIT_OK : s->exit_code;
    int had_curses = u.curses;
    stop_curses(&u);
    if (u.alert_len > 0)
        fputs(u.alert, stderr);
    else if (had_curses && s->fatal && u.last_error[0] != '\0')
        fprintf(stderr, "chatc: %s\n", u.last_error);
    if (had_curses && o->history_path != NULL && u.hist.dirty &&
        history_save(&u.hist, o->history_path, err, sizeof err) != 0)
        fprintf(stderr, "chatc: cannot save the input history: %s\n", err);
    secret_cancel(&u);
    sodium_free(u.secret_first);
    paste_free(&u);
    input_wipe(&u.in);
    history_free(&u.hist);
    wl_free(&u.wl);
    return code;
}
