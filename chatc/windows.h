/* chatc's windows: the status window, one per room and one per private
 * conversation, each with its scrollback (a bounded ring of lines), unread
 * counts, scroll position, and for rooms the topic and the nick list.
 * Pure data structures: ui.c draws them, session.c fills them. */
#ifndef CHATC_WINDOWS_H
#define CHATC_WINDOWS_H

#include <stddef.h>
#include <stdint.h>

#include "chat/codec.h"

typedef enum win_kind { WIN_STATUS = 0, WIN_ROOM, WIN_QUERY } win_kind;

typedef enum line_kind {
    LINE_INFO = 0, /* "-!- text" from the client or the server */
    LINE_ERROR,    /* an error */
    LINE_MSG,      /* <nick> text */
    LINE_ACTION,   /* * nick text */
    LINE_EVENT     /* joins, parts, topic changes */
} line_kind;

typedef struct wline {
    uint64_t time_ms;  /* wall clock, ms since the epoch */
    uint8_t kind;      /* line_kind */
    uint8_t highlight; /* mentions the user */
    uint8_t own;       /* written by the user */
    char nick[CHAT_NAME_MAX + 1];
    char *text; /* escaped for display (sanitize.h) */
} wline;

typedef struct window {
    win_kind kind;
    char name[CHAT_ROOM_MAX + 1]; /* "#room", a user name, or "status" */
    wline *lines;                 /* ring buffer of cap lines */
    size_t head, count, cap;      /* oldest at head */
    size_t scroll;                /* rows scrolled back from the bottom (0: follow) */
    unsigned unread;              /* messages since last shown */
    int activity;                 /* 0 none, 1 events, 2 messages, 3 highlight */
    int joined;                   /* rooms: we are a member */
    char topic[CHAT_TOPIC_MAX * 6 + 1];
    char **nicks; /* sorted, folded */
    size_t nnicks, nicks_cap;
    int names_open; /* a NAMES list with MORE is arriving */
} window;

typedef struct winlist {
    window **w; /* w[0] is the status window */
    size_t n, cap;
    size_t cur;
    size_t max_lines; /* scrollback per window */
} winlist;

/* 0, or -1 out of memory. */
int wl_init(winlist *wl, size_t max_lines);
void wl_free(winlist *wl);

/* Index of the window with that name (case-insensitive), or -1. */
long wl_find(const winlist *wl, const char *name);
/* The window for name, created (after the others) if missing; -1 out of
 * memory. Rooms start with '#', other names are private conversations. */
long wl_open(winlist *wl, const char *name);
/* Close window i (not the status window); the current one moves to the
 * previous window if needed. */
void wl_close(winlist *wl, size_t i);
/* Make window i current: its unread count and activity are cleared. */
void wl_switch(winlist *wl, size_t i);
void wl_next(winlist *wl);
void wl_prev(winlist *wl);
window *wl_current(const winlist *wl);

/* Add a line to window i (text is escaped here). Unread count and activity
 * grow when the window is not the current one. 0, or -1 out of memory. */
int wl_add(winlist *wl, size_t i, uint64_t time_ms, line_kind kind, const char *nick,
           const char *text, size_t text_len, int highlight, int own);
/* Drop every line of window i. */
void win_clear(window *w);
/* Line k (0 = oldest) of the window. */
const wline *win_line(const window *w, size_t k);

/* Nick list. names_begin starts a fresh list unless one is open. */
void win_names_begin(window *w);
int win_nick_add(window *w, const char *nick);
void win_nick_remove(window *w, const char *nick);
int win_has_nick(const window *w, const char *nick);
void win_nicks_clear(window *w);

/* Nicks of window w that start with prefix[0..len) (case-insensitive),
 * sorted, into out (up to max); returns the number of matches. */
size_t win_nick_complete(const window *w, const char *prefix, size_t len, const char **out,
                         size_t max);

/* 1 if text mentions nick as a word (case-insensitive; word characters are
 * those of user names). */
int mentions(const char *text, size_t len, const char *nick);

/* A stable colour index in [0, ncolors) for a nick (FNV-1a of the folded
 * name), so a nick has the same colour in every window and every run. */
unsigned nick_colour(const char *nick, unsigned ncolors);

#endif
