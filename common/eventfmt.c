/* One line of text per client event: the stable format of chatc's line
 * mode (documented in chatc(1)), also used by libchat's test harness. */
#include "eventfmt.h"

#include <stdio.h>
#include <string.h>

#include "sanitize.h"

static const char *code_name(unsigned code)
{
    const char *n = chat_code_name(code);
    return n ? n : code == 0 ? "NONE" : "?";
}

/* Copy a wire string, escaped for display (sanitize.h): libchat has
 * already refused control characters, this is defence in depth. The only
 * one the wire allows, LF in the MOTD, comes out as "^J", so one event is
 * always one line. */
static void fmt_str(char *out, size_t cap, chat_str s)
{
    (void)chat_sanitize((const char *)s.p, s.n, out, cap);
}

/* Append the entries of a list message to out. */
static void fmt_entries(const chat_msg *m, char *out, size_t cap)
{
    size_t used = strlen(out);
    const uint8_t *p = m->type == CHAT_MSG_NAMES ? m->u.names.entries : m->u.list.entries;
    size_t left = m->type == CHAT_MSG_NAMES ? m->u.names.entries_len : m->u.list.entries_len;
    while (left > 0 && used + 80 < cap) {
        char a[CHAT_TOPIC_MAX + 1], b[CHAT_ROOM_MAX + 1];
        int n = 0;
        if (m->type == CHAT_MSG_NAMES) {
            chat_name_entry e;
            if (chat_entry_get_name(&p, &left, &e) != CHAT_OK)
                break;
            fmt_str(b, sizeof b, e.user);
            n = snprintf(out + used, cap - used, " %s", b);
        } else if (m->type == CHAT_MSG_ROOM_LIST) {
            chat_room_entry e;
            if (chat_entry_get_room(&p, &left, &e) != CHAT_OK)
                break;
            fmt_str(b, sizeof b, e.room);
            fmt_str(a, sizeof a, e.topic);
            n = snprintf(out + used, cap - used, " %s(%u)", b, (unsigned)e.members);
        } else {
            chat_user_entry e;
            if (chat_entry_get_user(&p, &left, &e) != CHAT_OK)
                break;
            fmt_str(b, sizeof b, e.user);
            n = snprintf(out + used, cap - used, " %s:%s:%s", b,
                         e.role == CHAT_ROLE_ADMIN ? "admin" : "user",
                         e.online ? "online" : "offline");
        }
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

void chat_event_format(const chat_client_event *ev, char *out, size_t cap)
{
    const chat_msg *m = &ev->msg;
    char a[2 * CHAT_MOTD_MAX + 1], b[CHAT_ROOM_MAX + 1], t[CHAT_TEXT_MAX + 1];
    switch (ev->type) {
    case CHAT_CLIENT_EV_SERVER_KEY: {
        char fp[CHAT_FINGERPRINT_LEN + 1];
        chat_fingerprint(fp, ev->server_key);
        snprintf(out, cap, "server-key %s version=%u", fp, ev->version);
        return;
    }
    case CHAT_CLIENT_EV_CHALLENGE:
        snprintf(out, cap, "challenge opslimit=%u memlimit_kib=%u",
                 (unsigned)m->u.challenge.opslimit, (unsigned)m->u.challenge.memlimit_kib);
        return;
    case CHAT_CLIENT_EV_LOGIN_FAILED:
        fmt_str(t, sizeof t, m->u.login_failed.text);
        snprintf(out, cap, "login-failed %s left=%u %s", code_name(m->u.login_failed.code),
                 m->u.login_failed.attempts_left, t);
        return;
    case CHAT_CLIENT_EV_WELCOME:
        fmt_str(b, sizeof b, m->u.welcome.user);
        fmt_str(a, sizeof a, m->u.welcome.motd);
        snprintf(out, cap, "welcome %s %s motd=%s", b,
                 m->u.welcome.role == CHAT_ROLE_ADMIN ? "admin" : "user", a);
        return;
    case CHAT_CLIENT_EV_REJECTED:
        snprintf(out, cap, "rejected %s server-versions=%u-%u", code_name(ev->reject.code),
                 ev->reject.version_min, ev->reject.version_max);
        return;
    case CHAT_CLIENT_EV_CLOSED:
        fmt_str(t, sizeof t, ev->close.text);
        snprintf(out, cap, "closed %s %s %s",
                 ev->close.origin == CHAT_CLOSE_PEER    ? "by-server"
                 : ev->close.origin == CHAT_CLOSE_LOCAL ? "by-us"
                                                        : "lost",
                 code_name(ev->close.code), t);
        return;
    case CHAT_CLIENT_EV_MESSAGE:
        break;
    default:
        snprintf(out, cap, "event %d", (int)ev->type);
        return;
    }
    switch (m->type) {
    case CHAT_MSG_OK:
        snprintf(out, cap, "ok req=%u", (unsigned)m->req);
        return;
    case CHAT_MSG_ERROR:
        fmt_str(t, sizeof t, m->u.error.text);
        snprintf(out, cap, "error req=%u %s %s", (unsigned)m->req, code_name(m->u.error.code), t);
        return;
    case CHAT_MSG_MESSAGE: {
        char from[CHAT_NAME_MAX + 1];
        fmt_str(b, sizeof b, m->u.message.target);
        fmt_str(from, sizeof from, m->u.message.from);
        fmt_str(t, sizeof t, m->u.message.text);
        snprintf(out, cap, "%s%s %s <%s> seq=%llu %s",
                 (m->u.message.flags & CHAT_MESSAGE_HISTORY) ? "history-" : "",
                 m->u.message.kind == CHAT_KIND_ACTION ? "action" : "message", b, from,
                 (unsigned long long)m->u.message.seq, t);
        return;
    }
    case CHAT_MSG_JOINED:
        fmt_str(b, sizeof b, m->u.joined.room);
        fmt_str(t, sizeof t, m->u.joined.user);
        snprintf(out, cap, "joined %s %s", b, t);
        return;
    case CHAT_MSG_PARTED:
        fmt_str(b, sizeof b, m->u.parted.room);
        fmt_str(t, sizeof t, m->u.parted.user);
        snprintf(out, cap, "parted %s %s %s", b, t, code_name(m->u.parted.reason));
        return;
    case CHAT_MSG_TOPIC_CHANGED: {
        char by[CHAT_NAME_MAX + 1];
        fmt_str(b, sizeof b, m->u.topic_changed.room);
        fmt_str(by, sizeof by, m->u.topic_changed.by);
        fmt_str(t, sizeof t, m->u.topic_changed.topic);
        snprintf(out, cap, "topic %s by=%s %s", b, by, t);
        return;
    }
    case CHAT_MSG_NAMES:
        fmt_str(b, sizeof b, m->u.names.room);
        snprintf(out, cap, "names req=%u %s%s:", (unsigned)m->req, b,
                 (m->u.names.flags & CHAT_LIST_MORE) ? " more" : "");
        fmt_entries(m, out, cap);
        return;
    case CHAT_MSG_ROOM_LIST:
    case CHAT_MSG_USER_LIST:
        snprintf(out, cap, "%s req=%u%s:", m->type == CHAT_MSG_ROOM_LIST ? "rooms" : "users",
                 (unsigned)m->req, (m->u.list.flags & CHAT_LIST_MORE) ? " more" : "");
        fmt_entries(m, out, cap);
        return;
    default: {
        const char *n = chat_msg_name(m->type);
        snprintf(out, cap, "msg %s", n ? n : "?");
        return;
    }
    }
}

