/* Input history. See history.h. */
#include "history.h"

#include <stdlib.h>
#include <string.h>

#include "fileutil.h"
#include "input.h"

void history_init(history *h, size_t max)
{
    memset(h, 0, sizeof *h);
    h->max = max > 0 ? max : HISTORY_DEFAULT_MAX;
}

void history_free(history *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->lines[i]);
    free(h->lines);
    h->lines = NULL;
    h->n = h->cap = 0;
}

static int push(history *h, const char *line, size_t len)
{
    if (h->n == h->max) {
        free(h->lines[0]);
        memmove(h->lines, h->lines + 1, (h->n - 1) * sizeof *h->lines);
        h->n--;
    }
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        if (nc > h->max)
            nc = h->max;
        char **nl = realloc(h->lines, nc * sizeof *nl);
        if (nl == NULL)
            return -1;
        h->lines = nl;
        h->cap = nc;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return -1;
    memcpy(copy, line, len);
    copy[len] = '\0';
    h->lines[h->n++] = copy;
    h->dirty = 1;
    return 0;
}

int history_add(history *h, const char *line)
{
    size_t len = strlen(line);
    if (len == 0 || len > INPUT_MAX)
        return 0;
    if (h->n > 0 && strcmp(h->lines[h->n - 1], line) == 0)
        return 0;
    return push(h, line, len);
}

const char *history_get(const history *h, size_t back)
{
    return back < h->n ? h->lines[h->n - 1 - back] : NULL;
}

int history_load(history *h, const char *path, char *err, size_t errlen)
{
    char *text;
    size_t len;
    int rc = fu_read_file_alloc(path, (size_t)64 * 1024 * 1024, &text, &len, 0, err, errlen);
    if (rc == FU_E_NOENT)
        return 0;
    if (rc != FU_OK)
        return -1;
    size_t pos = 0;
    int out = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl != NULL ? (size_t)(nl - text) : len;
        size_t l = end - pos;
        if (l > 0 && l <= INPUT_MAX && memchr(text + pos, '\0', l) == NULL &&
            push(h, text + pos, l) != 0) {
            out = -1;
            break;
        }
        pos = end + 1;
    }
    fu_free_wipe(text, len + 1);
    h->dirty = 0;
    return out;
}

int history_save(history *h, const char *path, char *err, size_t errlen)
{
    size_t total = 0;
    for (size_t i = 0; i < h->n; i++)
        total += strlen(h->lines[i]) + 1;
    char *buf = malloc(total + 1);
    if (buf == NULL)
        return -1;
    size_t pos = 0;
    for (size_t i = 0; i < h->n; i++) {
        size_t l = strlen(h->lines[i]);
        memcpy(buf + pos, h->lines[i], l);
        buf[pos + l] = '\n';
        pos += l + 1;
    }
    int rc = fu_write_atomic(path, buf, total, 0600, err, errlen);
    free(buf);
    if (rc != FU_OK)
        return -1;
    h->dirty = 0;
    return 0;
}
