/* The ignore list. See ignore.h. */
#include "ignore.h"

#include <string.h>
#include <strings.h>

#include "fileutil.h"

void ignore_init(ignore_list *l)
{
    memset(l, 0, sizeof *l);
}

int ignore_has(const ignore_list *l, const char *name, size_t len)
{
    for (size_t i = 0; i < l->n; i++)
        if (strlen(l->names[i]) == len && strncasecmp(l->names[i], name, len) == 0)
            return 1;
    return 0;
}

int ignore_add(ignore_list *l, const char *name)
{
    size_t len = strlen(name);
    if (!chat_valid_name((const uint8_t *)name, len))
        return -1;
    if (ignore_has(l, name, len))
        return 0;
    if (l->n == IGNORE_MAX)
        return -1;
    chat_name_fold(l->names[l->n++], (const uint8_t *)name, len);
    return 1;
}

int ignore_remove(ignore_list *l, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < l->n; i++) {
        if (strlen(l->names[i]) == len && strncasecmp(l->names[i], name, len) == 0) {
            memmove(l->names[i], l->names[i + 1], (l->n - i - 1) * sizeof l->names[0]);
            l->n--;
            return 1;
        }
    }
    return 0;
}

int ignore_load(ignore_list *l, const char *path, char *err, size_t errlen)
{
    char *text;
    size_t len;
    int rc = fu_read_file_alloc(path, 1024 * 1024, &text, &len, 0, err, errlen);
    if (rc == FU_E_NOENT)
        return 0;
    if (rc != FU_OK)
        return -1;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl != NULL ? (size_t)(nl - text) : len;
        char name[CHAT_NAME_MAX + 1];
        size_t n = end - pos;
        if (n > 0 && n <= CHAT_NAME_MAX) {
            memcpy(name, text + pos, n);
            name[n] = '\0';
            (void)ignore_add(l, name);
        }
        pos = end + 1;
    }
    fu_free_wipe(text, len + 1);
    return 0;
}

int ignore_save(const ignore_list *l, const char *path, char *err, size_t errlen)
{
    char buf[IGNORE_MAX * (CHAT_NAME_MAX + 1) + 1];
    size_t pos = 0;
    for (size_t i = 0; i < l->n; i++) {
        size_t n = strlen(l->names[i]);
        memcpy(buf + pos, l->names[i], n);
        buf[pos + n] = '\n';
        pos += n + 1;
    }
    return fu_write_atomic(path, buf, pos, 0600, err, errlen) == FU_OK ? 0 : -1;
}
