/* chatc's client-side ignore list: user names whose messages are not shown,
 * kept in $XDG_CONFIG_HOME/chatc/ignore (one folded name per line, written
 * atomically, mode 0600). */
#ifndef CHATC_IGNORE_H
#define CHATC_IGNORE_H

#include <stddef.h>

#include "chat/codec.h"

#define IGNORE_MAX 256

typedef struct ignore_list {
    char names[IGNORE_MAX][CHAT_NAME_MAX + 1];
    size_t n;
} ignore_list;

void ignore_init(ignore_list *l);
/* 1 if name (any case) is ignored. */
int ignore_has(const ignore_list *l, const char *name, size_t len);
/* Add or remove a (valid) name: 1 if changed, 0 if already so, -1 if full. */
int ignore_add(ignore_list *l, const char *name);
int ignore_remove(ignore_list *l, const char *name);
/* Load (a missing file is an empty list; invalid lines are skipped) and
 * save. 0, or -1 with a message in err. */
int ignore_load(ignore_list *l, const char *path, char *err, size_t errlen);
int ignore_save(const ignore_list *l, const char *path, char *err, size_t errlen);

#endif
