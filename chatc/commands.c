/* Slash-command parsing and the command table. See commands.h. */
#include "commands.h"

#include <stdio.h>
#include <string.h>

static const cmd_info table[] = {
    {"join", "#room", "join a room (created if new) and switch to its window", 0},
    {"part", "[#room]", "leave a room (default: the current one)", 0},
    {"rooms", "", "list the server's rooms, their members and topics", 0},
    {"who", "[#room]", "list the members of a room (default: the current one)", 0},
    {"topic", "[#room] [text|-delete]", "show, set or delete a room's topic", 0},
    {"msg", "NAME text", "send a private message (NAME may also be a #room)", 0},
    {"query", "NAME", "open a window for private messages with NAME", 0},
    {"me", "text", "send an action (\"* you text\")", 0},
    {"passwd", "", "change your password (asked twice, never echoed)", 0},
    {"ignore", "[NAME]", "hide NAME's messages (client side; no NAME: list)", 0},
    {"unignore", "NAME", "show NAME's messages again", 0},
    {"bell", "[on|off]", "bell on a mention or a private message (no argument: toggle)", 0},
    {"window", "N", "switch to window N (also Alt-N, Ctrl-N, Ctrl-P)", 0},
    {"close", "", "close the current window (parts a room)", 0},
    {"clear", "", "clear the current window", 0},
    {"help", "[command]", "this list, or help on one command", 0},
    {"quit", "[message]", "leave (alias /exit)", 0},
    {"users", "", "list every account with its role and whether it is online", 1},
    {"adduser", "NAME [admin]", "create an account (its password is asked twice)", 1},
    {"deluser", "NAME", "delete an account (disconnects it if online)", 1},
    {"kick", "NAME [reason]", "disconnect a user", 1},
    {"shutdown", "[reason]", "stop the server", 1},
};

static const struct {
    const char *alias, *name;
} aliases[] = {{"exit", "quit"}, {"list", "rooms"}, {"names", "who"}, {"win", "window"}};

const cmd_info *cmd_table(size_t *n)
{
    *n = sizeof table / sizeof table[0];
    return table;
}

const cmd_info *cmd_find(const char *name)
{
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(name, aliases[i].alias) == 0)
            name = aliases[i].name;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(name, table[i].name) == 0)
            return &table[i];
    return NULL;
}

size_t cmd_complete(const char *prefix, size_t len, int admin, const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (table[i].admin && !admin)
            continue;
        if (strlen(table[i].name) >= len && strncmp(table[i].name, prefix, len) == 0) {
            if (n < max)
                out[n] = table[i].name;
            n++;
        }
    }
    return n;
}

/* ---- Parsing --------------------------------------------------------- */

static int blank(char c)
{
    return c == ' ' || c == '\t';
}

static const char *skip_blanks(const char *p)
{
    while (blank(*p))
        p++;
    return p;
}

/* Cut the next word off *p into w (capacity cap). Returns its length, or
 * cap if it was too long (w then holds a prefix). */
static size_t next_word(const char **p, char *w, size_t cap)
{
    const char *s = skip_blanks(*p);
    size_t n = 0;
    while (s[n] != '\0' && !blank(s[n]))
        n++;
    size_t c = n < cap - 1 ? n : cap - 1;
    memcpy(w, s, c);
    w[c] = '\0';
    *p = skip_blanks(s + n);
    return n < cap ? n : cap;
}

/* The rest of the line without surrounding blanks into out (capacity
 * cap). 0 if it does not fit. */
static int rest_of(const char *p, char *out, size_t cap)
{
    p = skip_blanks(p);
    size_t n = strlen(p);
    while (n > 0 && blank(p[n - 1]))
        n--;
    if (n >= cap)
        return 0;
    memcpy(out, p, n);
    out[n] = '\0';
    return 1;
}

static void usage(cmd *c, const char *name, const char *why)
{
    const cmd_info *ci = cmd_find(name);
    c->type = CMD_USAGE;
    if (ci != NULL)
        snprintf(c->usage, sizeof c->usage, "%s; usage: /%s%s%s", why, ci->name,
                 ci->args[0] ? " " : "", ci->args);
    else
        snprintf(c->usage, sizeof c->usage, "%s", why);
}

/* Check and fold a user name into c->arg. */
static int take_name(cmd *c, const char *w, size_t n, const char *cmdname)
{
    if (n == 0 || !chat_valid_name((const uint8_t *)w, n)) {
        usage(c, cmdname, n == 0 ? "a name is needed" : "invalid name");
        return 0;
    }
    chat_name_fold(c->arg, (const uint8_t *)w, n);
    return 1;
}

/* Check and fold a room name (a missing '#' is added) into c->arg. */
static int take_room(cmd *c, const char *w, size_t n, const char *cmdname)
{
    char tmp[CHAT_ROOM_MAX + 2];
    if (n > 0 && w[0] != '#' && n < CHAT_ROOM_MAX) {
        tmp[0] = '#';
        memcpy(tmp + 1, w, n);
        w = tmp;
        n++;
    }
    if (n == 0 || !chat_valid_room((const uint8_t *)w, n)) {
        usage(c, cmdname, n == 0 ? "a room is needed" : "invalid room name");
        return 0;
    }
    chat_name_fold(c->arg, (const uint8_t *)w, n);
    return 1;
}

static int take_text(cmd *c, const char *p, size_t max, int required, const char *cmdname,
                     const char *what)
{
    if (!rest_of(p, c->text, sizeof c->text) || strlen(c->text) > max) {
        char why[80];
        snprintf(why, sizeof why, "%s too long (at most %zu bytes)", what, max);
        usage(c, cmdname, why);
        return 0;
    }
    if (required && c->text[0] == '\0') {
        char why[80];
        snprintf(why, sizeof why, "%s needed", what);
        usage(c, cmdname, why);
        return 0;
    }
    return 1;
}

static void no_args(cmd *c, const char *p, const char *name, cmd_type t)
{
    if (*skip_blanks(p) != '\0')
        usage(c, name, "no arguments expected");
    else
        c->type = t;
}

void cmd_parse(const char *line, cmd *c)
{
    memset(c, 0, sizeof *c);
    if (line[0] != '/' || line[1] == '/') {
        const char *t = line[0] == '/' ? line + 1 : line;
        if (*skip_blanks(t) == '\0') {
            c->type = CMD_NONE;
            return;
        }
        if (strlen(t) > CHAT_TEXT_MAX) {
            c->type = CMD_USAGE;
            snprintf(c->usage, sizeof c->usage, "message too long (%zu bytes, at most %d)",
                     strlen(t), CHAT_TEXT_MAX);
            return;
        }
        c->type = CMD_SAY;
        memcpy(c->text, t, strlen(t) + 1);
        return;
    }

    const char *p = line + 1;
    char name[16], w[CHAT_ROOM_MAX + 2];
    size_t nlen = next_word(&p, name, sizeof name);
    for (size_t i = 0; i < nlen && i < sizeof name; i++)
        if (name[i] >= 'A' && name[i] <= 'Z')
            name[i] = (char)(name[i] - 'A' + 'a');
    const cmd_info *ci = nlen < sizeof name ? cmd_find(name) : NULL;
    if (ci == NULL) {
        c->type = CMD_UNKNOWN;
        snprintf(c->arg, sizeof c->arg, "%s", name);
        snprintf(c->usage, sizeof c->usage, "unknown command /%s (try /help)", name);
        return;
    }
    const char *n = ci->name;
    size_t wl;

    if (strcmp(n, "join") == 0) {
        wl = next_word(&p, w, sizeof w);
        if (!take_room(c, w, wl, n))
            return;
        if (*p != '\0')
            usage(c, n, "one room at a time");
        else
            c->type = CMD_JOIN;
    } else if (strcmp(n, "part") == 0 || strcmp(n, "who") == 0) {
        wl = next_word(&p, w, sizeof w);
        if (wl > 0 && !take_room(c, w, wl, n))
            return;
        if (*p != '\0')
            usage(c, n, "too many arguments");
        else
            c->type = n[0] == 'p' ? CMD_PART : CMD_WHO;
    } else if (strcmp(n, "rooms") == 0) {
        no_args(c, p, n, CMD_ROOMS);
    } else if (strcmp(n, "topic") == 0) {
        if (*p == '#') {
            wl = next_word(&p, w, sizeof w);
            if (!take_room(c, w, wl, n))
                return;
        }
        if (!take_text(c, p, CHAT_TOPIC_MAX, 0, n, "topic"))
            return;
        c->flag = c->text[0] == '\0' ? 0 : strcmp(c->text, "-delete") == 0 ? 2 : 1;
        if (c->flag == 2)
            c->text[0] = '\0';
        c->type = CMD_TOPIC;
    } else if (strcmp(n, "msg") == 0) {
        wl = next_word(&p, w, sizeof w);
        if (wl > 0 && w[0] == '#') {
            if (!take_room(c, w, wl, n))
                return;
        } else if (!take_name(c, w, wl, n)) {
            return;
        }
        if (!take_text(c, p, CHAT_TEXT_MAX, 1, n, "a message"))
            return;
        c->type = CMD_MSG;
    } else if (strcmp(n, "query") == 0 || strcmp(n, "deluser") == 0 || strcmp(n, "unignore") == 0) {
        wl = next_word(&p, w, sizeof w);
        if (!take_name(c, w, wl, n))
            return;
        if (*p != '\0')
            usage(c, n, "too many arguments");
        else
            c->type = n[0] == 'q' ? CMD_QUERY : n[0] == 'd' ? CMD_DELUSER : CMD_UNIGNORE;
    } else if (strcmp(n, "ignore") == 0) {
        wl = next_word(&p, w, sizeof w);
        if (wl > 0 && !take_name(c, w, wl, n))
            return;
        if (*p != '\0')
            usage(c, n, "too many arguments");
        else
            c->type = CMD_IGNORE;
    } else if (strcmp(n, "me") == 0) {
        if (take_text(c, p, CHAT_TEXT_MAX, 1, n, "a text"))
            c->type = CMD_ME;
    } else if (strcmp(n, "passwd") == 0) {
        no_args(c, p, n, CMD_PASSWD);
    } else if (strcmp(n, "adduser") == 0) {
        wl = next_word(&p, w, sizeof w);
        if (!take_name(c, w, wl, n))
            return;
        char role[16];
        size_t rl = next_word(&p, role, sizeof role);
        if (*p != '\0' || (rl > 0 && strcmp(role, "admin") != 0 && strcmp(role, "user") != 0)) {
            usage(c, n, "the role is admin or user");
            return;
        }
        c->flag = rl > 0 && strcmp(role, "admin") == 0;
        c->type = CMD_ADDUSER;
    } else if (strcmp(n, "users") == 0) {
        no_args(c, p, n, CMD_USERS);
    } else if (strcmp(n, "kick") == 0) {
        wl = next_word(&p, w, sizeof w);
        if (!take_name(c, w, wl, n))
            return;
        if (take_text(c, p, CHAT_REASON_MAX, 0, n, "the reason"))
            c->type = CMD_KICK;
    } else if (strcmp(n, "shutdown") == 0) {
        if (take_text(c, p, CHAT_REASON_MAX, 0, n, "the reason"))
            c->type = CMD_SHUTDOWN;
    } else if (strcmp(n, "quit") == 0) {
        if (take_text(c, p, CHAT_REASON_MAX, 0, n, "the message"))
            c->type = CMD_QUIT;
    } else if (strcmp(n, "bell") == 0) {
        wl = next_word(&p, w, sizeof w);
        if (*p != '\0' || (wl > 0 && strcmp(w, "on") != 0 && strcmp(w, "off") != 0)) {
            usage(c, n, "on or off");
            return;
        }
        c->flag = wl == 0 ? -1 : strcmp(w, "on") == 0;
        c->type = CMD_BELL;
    } else if (strcmp(n, "window") == 0) {
        wl = next_word(&p, w, sizeof w);
        unsigned v = 0;
        int ok = wl > 0 && wl <= 4 && *p == '\0';
        for (size_t i = 0; ok && i < wl; i++) {
            if (w[i] < '0' || w[i] > '9')
                ok = 0;
            else
                v = v * 10 + (unsigned)(w[i] - '0');
        }
        if (!ok || v == 0) {
            usage(c, n, "a window number is needed");
            return;
        }
        c->num = v;
        c->type = CMD_WINDOW;
    } else if (strcmp(n, "close") == 0) {
        no_args(c, p, n, CMD_CLOSE);
    } else if (strcmp(n, "clear") == 0) {
        no_args(c, p, n, CMD_CLEAR);
    } else if (strcmp(n, "help") == 0) {
        wl = next_word(&p, w, sizeof w);
        const char *h = w[0] == '/' ? w + 1 : w;
        if (wl > 0 && cmd_find(h) == NULL) {
            c->type = CMD_USAGE;
            snprintf(c->usage, sizeof c->usage, "no command /%s (try /help)", h);
            return;
        }
        if (wl > 0)
            snprintf(c->arg, sizeof c->arg, "%s", cmd_find(h)->name);
        c->type = CMD_HELP;
    }
}
