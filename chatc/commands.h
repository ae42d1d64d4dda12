/* chatc's slash commands: parsing one input line into a command, the
 * command table behind /help and tab completion. Pure: no I/O, no client
 * state. What a command does is session.c's job. */
#ifndef CHATC_COMMANDS_H
#define CHATC_COMMANDS_H

#include <stddef.h>

#include "chat/codec.h"

typedef enum cmd_type {
    CMD_NONE = 0, /* empty line: nothing to do */
    CMD_SAY,      /* text: a message to the current window's target */
    CMD_ME,       /* text: an action */
    CMD_JOIN,     /* arg: room */
    CMD_PART,     /* arg: room, or "" for the current one */
    CMD_ROOMS,
    CMD_WHO,   /* arg: room, or "" */
    CMD_TOPIC, /* arg: room or ""; text: topic; flag 0 show, 1 set, 2 clear (-delete) */
    CMD_MSG,   /* arg: user or room; text */
    CMD_QUERY, /* arg: user */
    CMD_PASSWD,
    CMD_ADDUSER, /* arg: user; flag: 1 admin */
    CMD_DELUSER, /* arg: user */
    CMD_USERS,
    CMD_KICK,     /* arg: user; text: reason */
    CMD_SHUTDOWN, /* text: reason */
    CMD_IGNORE,   /* arg: user, or "" to list */
    CMD_UNIGNORE, /* arg: user */
    CMD_BELL,     /* flag: 1 on, 0 off, -1 toggle */
    CMD_CLEAR,
    CMD_WINDOW, /* num: 1-based window number */
    CMD_CLOSE,
    CMD_HELP,    /* arg: a command name or "" */
    CMD_QUIT,    /* text: goodbye message */
    CMD_UNKNOWN, /* arg: the command name as typed */
    CMD_USAGE    /* usage: what was wrong, with the right usage */
} cmd_type;

/* Room and user arguments are checked (chat_valid_name / chat_valid_room)
 * and folded to lower case; a room given without '#' gets one. Texts are
 * checked for length only (the client checks the rest). */
typedef struct cmd {
    cmd_type type;
    char arg[CHAT_ROOM_MAX + 1];
    char text[CHAT_TEXT_MAX + 1];
    int flag;
    unsigned num;
    char usage[160];
} cmd;

/* Parse one line (no newline). A line starting with "//" is text starting
 * with "/"; any other line starting with "/" is a command; other lines
 * are text (CMD_SAY). Leading and trailing blanks of a command's
 * arguments are dropped; a plain message is kept as typed. */
void cmd_parse(const char *line, cmd *out);

typedef struct cmd_info {
    const char *name; /* without the slash */
    const char *args;
    const char *help;
    int admin; /* shown only to admins */
} cmd_info;

/* The table of commands, in /help order; *n receives its length. */
const cmd_info *cmd_table(size_t *n);
/* The entry for a command name (without the slash; aliases too), or NULL. */
const cmd_info *cmd_find(const char *name);

/* Command names (without the slash) that start with prefix[0..len), in
 * table order, into out (up to max); admin commands only if admin. Returns
 * the number of matches. */
size_t cmd_complete(const char *prefix, size_t len, int admin, const char **out, size_t max);

#endif
