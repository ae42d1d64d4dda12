/* chatc's input history: a bounded list of lines, oldest dropped first,
 * kept in $XDG_STATE_HOME/chatc/history (one line per entry, written
 * atomically with mode 0600). */
#ifndef CHATC_HISTORY_H
#define CHATC_HISTORY_H

#include <stddef.h>

#define HISTORY_DEFAULT_MAX 1000

typedef struct history {
    char **lines; /* oldest first */
    size_t n, cap, max;
    int dirty; /* changed since loaded or saved */
} history;

void history_init(history *h, size_t max);
void history_free(history *h);
/* Add a line (empty lines and a repeat of the newest entry are not added;
 * the oldest entry goes when full). 0, or -1 out of memory. */
int history_add(history *h, const char *line);
/* Entry `back` from the newest (0 = newest), or NULL. */
const char *history_get(const history *h, size_t back);

/* Load from path (a missing file is an empty history). Lines longer than
 * the input line allows are skipped. 0, or -1 with a message in err. */
int history_load(history *h, const char *path, char *err, size_t errlen);
/* Save to path atomically (mode 0600), keeping the newest h->max entries. */
int history_save(history *h, const char *path, char *err, size_t errlen);

#endif
