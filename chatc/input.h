/* chatc's input line: an editable UTF-8 line with a cursor, a kill buffer,
 * history browsing and tab completion. Pure logic (no terminal), so every
 * key's effect is unit-tested; ui.c maps keys to these calls and draws
 * what input_view says.
 *
 * The cursor always sits on a character boundary, and moves over a whole
 * character: a code point with the combining marks (zero-width code
 * points) after it. Display widths come from wcwidth, so a wide (CJK)
 * character takes two columns. Secret mode (password entry) is never
 * recorded in history and is wiped when cleared. */
#ifndef CHATC_INPUT_H
#define CHATC_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "history.h"

#define INPUT_MAX 4000   /* bytes; a line always fits one message */
#define INPUT_TAB_MAX 64 /* completion candidates kept */
#define INPUT_TAB_LEN 40 /* longest candidate kept (a room is 33) */

typedef struct input {
    char buf[INPUT_MAX + 1];
    size_t len, cur;          /* bytes; buf[len] == '\0' */
    size_t view;              /* first byte shown (horizontal scrolling) */
    char kill[INPUT_MAX + 1]; /* the last text cut by Ctrl-U/K/W, for Ctrl-Y */
    size_t kill_len;
    int secret; /* password entry: not shown, not recorded */

    /* history browsing: -1 = editing the draft, else entries back (0 = newest) */
    long hist_pos;
    char draft[INPUT_MAX + 1];

    /* tab completion cycling */
    int tab_active;
    size_t tab_start; /* byte where the completed word starts */
    size_t tab_count, tab_idx;
    char tab_suffix[3];
    char tab_cands[INPUT_TAB_MAX][INPUT_TAB_LEN];
} input;

void input_init(input *in);
/* Empty the line (wiped), stop browsing and completing. */
void input_clear(input *in);
/* Wipe everything (the kill buffer and draft too). */
void input_wipe(input *in);
/* Replace the line with text (truncated to INPUT_MAX on a character
 * boundary); cursor at the end. */
void input_set(input *in, const char *text);

/* Insert a code point at the cursor. Returns 0, or -1 if it is not
 * allowed in a message (controls, bidi overrides...) or the line is full. */
int input_insert(input *in, uint32_t cp);
/* Insert UTF-8 text (characters that are not allowed are dropped). */
int input_insert_str(input *in, const char *s, size_t n);

void input_left(input *in);
void input_right(input *in);
void input_home(input *in);
void input_end(input *in);
void input_word_left(input *in);
void input_word_right(input *in);
void input_backspace(input *in);
void input_delete(input *in);
void input_kill_to_start(input *in); /* Ctrl-U */
void input_kill_to_end(input *in);   /* Ctrl-K */
void input_kill_word(input *in);     /* Ctrl-W: the word before the cursor */
void input_yank(input *in);          /* Ctrl-Y */

/* History: Up shows older entries (the line being typed is kept as a
 * draft), Down newer ones and finally the draft again. */
void input_history_up(input *in, const history *h);
void input_history_down(input *in, const history *h);

/* Tab completion. The caller lists the candidates for the word before the
 * cursor: fn(ctx, word, len, first) fills out (up to max) and returns how
 * many, where first says whether the word begins the line. A unique match
 * is completed with a suffix (" ", or ": " after a nick at the start of
 * the line); several are cycled through by pressing Tab again. */
typedef size_t (*input_complete_fn)(void *ctx, const char *word, size_t len, int first,
                                    const char **out, size_t max);
void input_tab(input *in, input_complete_fn fn, void *ctx);
/* Any other key ends a completion cycle (the editing calls do it). */
void input_tab_reset(input *in);

/* Horizontal view for a field of width columns (>= 2): updates in->view
 * so the cursor is visible and returns the cursor's column from the start
 * of the view. The bytes to draw start at in->view. */
unsigned input_view(input *in, unsigned width);

#endif
