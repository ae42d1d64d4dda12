/* Windows, scrollback, unread counts and nick lists. See windows.h. */
#include "windows.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sanitize.h"

static window *win_new(win_kind kind, const char *name, size_t cap)
{
    window *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->lines = calloc(cap, sizeof *w->lines);
    if (w->lines == NULL) {
        free(w);
        return NULL;
    }
    w->cap = cap;
    w->kind = kind;
    size_t n = strlen(name);
    if (n > CHAT_ROOM_MAX)
        n = CHAT_ROOM_MAX;
    memcpy(w->name, name, n);
    w->name[n] = '\0';
    return w;
}

void win_clear(window *w)
{
    for (size_t k = 0; k < w->count; k++)
        free(w->lines[(w->head + k) % w->cap].text);
    memset(w->lines, 0, w->cap * sizeof *w->lines);
    w->head = w->count = 0;
    w->scroll = 0;
}

void win_nicks_clear(window *w)
{
    for (size_t i = 0; i < w->nnicks; i++)
        free(w->nicks[i]);
    w->nnicks = 0;
    w->names_open = 0;
}

static void win_free(window *w)
{
    if (w == NULL)
        return;
    win_clear(w);
    win_nicks_clear(w);
    free(w->nicks);
    free(w->lines);
    free(w);
}

int wl_init(winlist *wl, size_t max_lines)
{
    memset(wl, 0, sizeof *wl);
    wl->max_lines = max_lines > 0 ? max_lines : 2000;
    return wl_open(wl, "status") == 0 ? 0 : -1;
}

void wl_free(winlist *wl)
{
    for (size_t i = 0; i < wl->n; i++)
        win_free(wl->w[i]);
    free(wl->w);
    memset(wl, 0, sizeof *wl);
}

long wl_find(const winlist *wl, const char *name)
{
    for (size_t i = 0; i < wl->n; i++)
        if (strcasecmp(wl->w[i]->name, name) == 0)
            return (long)i;
    return -1;
}

long wl_open(winlist *wl, const char *name)
{
    long f = wl_find(wl, name);
    if (f >= 0)
        return f;
    if (wl->n == wl->cap) {
        size_t nc = wl->cap ? wl->cap * 2 : 8;
        window **nw = realloc(wl->w, nc * sizeof *nw);
        if (nw == NULL)
            return -1;
        wl->w = nw;
        wl->cap = nc;
    }
    win_kind k = wl->n == 0 ? WIN_STATUS : name[0] == '#' ? WIN_ROOM : WIN_QUERY;
    window *w = win_new(k, name, wl->max_lines);
    if (w == NULL)
        return -1;
    wl->w[wl->n] = w;
    return (long)wl->n++;
}

void wl_close(winlist *wl, size_t i)
{
    if (i == 0 || i >= wl->n)
        return;
    win_free(wl->w[i]);
    memmove(wl->w + i, wl->w + i + 1, (wl->n - i - 1) * sizeof *wl->w);
    wl->n--;
    if (wl->cur >= i && wl->cur > 0)
        wl->cur--;
    wl_switch(wl, wl->cur);
}

void wl_switch(winlist *wl, size_t i)
{
    if (i >= wl->n)
        return;
    wl->cur = i;
    wl->w[i]->unread = 0;
    wl->w[i]->activity = 0;
}

void wl_next(winlist *wl)
{
    wl_switch(wl, (wl->cur + 1) % wl->n);
}

void wl_prev(winlist *wl)
{
    wl_switch(wl, (wl->cur + wl->n - 1) % wl->n);
}

window *wl_current(const winlist *wl)
{
    return wl->w[wl->cur];
}

const wline *win_line(const window *w, size_t k)
{
    return k < w->count ? &w->lines[(w->head + k) % w->cap] : NULL;
}

int wl_add(winlist *wl, size_t i, uint64_t time_ms, line_kind kind, const char *nick,
           const char *text, size_t text_len, int highlight, int own)
{
    if (i >= wl->n)
        return -1;
    window *w = wl->w[i];
    size_t cap = text_len * 6 + 1;
    char *t = malloc(cap);
    if (t == NULL)
        return -1;
    size_t tl = chat_sanitize(text, text_len, t, cap);
    char *shrunk = realloc(t, tl + 1);
    if (shrunk != NULL)
        t = shrunk;
    wline *l;
    if (w->count == w->cap) {
        l = &w->lines[w->head];
        free(l->text);
        w->head = (w->head + 1) % w->cap;
    } else {
        l = &w->lines[(w->head + w->count) % w->cap];
        w->count++;
    }
    memset(l, 0, sizeof *l);
    l->time_ms = time_ms;
    l->kind = (uint8_t)kind;
    l->highlight = (uint8_t)(highlight != 0);
    l->own = (uint8_t)(own != 0);
    if (nick != NULL)
        (void)chat_sanitize(nick, strlen(nick), l->nick, sizeof l->nick);
    l->text = t;
    if (w->scroll > 0)
        w->scroll++; /* keep the same lines on screen while scrolled back */
    if (i != wl->cur) {
        int act = highlight ? 3 : (kind == LINE_MSG || kind == LINE_ACTION) ? 2 : 1;
        if (kind == LINE_MSG || kind == LINE_ACTION)
            w->unread++;
        if (act > w->activity)
            w->activity = act;
    }
    return 0;
}

/* ---- Nick list ------------------------------------------------------- */

void win_names_begin(window *w)
{
    if (!w->names_open) {
        win_nicks_clear(w);
        w->names_open = 1;
    }
}

/* Position of nick in the sorted list, or where it would go; *found. */
static size_t nick_pos(const window *w, const char *nick, int *found)
{
    size_t lo = 0, hi = w->nnicks;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcasecmp(w->nicks[mid], nick);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

int win_nick_add(window *w, const char *nick)
{
    int found;
    size_t pos = nick_pos(w, nick, &found);
    if (found)
        return 0;
    if (w->nnicks == w->nicks_cap) {
        size_t nc = w->nicks_cap ? w->nicks_cap * 2 : 16;
        char **nn = realloc(w->nicks, nc * sizeof *nn);
        if (nn == NULL)
            return -1;
        w->nicks = nn;
        w->nicks_cap = nc;
    }
    size_t l = strlen(nick);
    char *copy = malloc(l + 1);
    if (copy == NULL)
        return -1;
    memcpy(copy, nick, l + 1);
    memmove(w->nicks + pos + 1, w->nicks + pos, (w->nnicks - pos) * sizeof *w->nicks);
    w->nicks[pos] = copy;
    w->nnicks++;
    return 0;
}

void win_nick_remove(window *w, const char *nick)
{
    int found;
    size_t pos = nick_pos(w, nick, &found);
    if (!found)
        return;
    free(w->nicks[pos]);
    memmove(w->nicks + pos, w->nicks + pos + 1, (w->nnicks - pos - 1) * sizeof *w->nicks);
    w->nnicks--;
}

int win_has_nick(const window *w, const char *nick)
{
    int found;
    (void)nick_pos(w, nick, &found);
    return found;
}

size_t win_nick_complete(const window *w, const char *prefix, size_t len, const char **out,
                         size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < w->nnicks; i++) {
        if (strncasecmp(w->nicks[i], prefix, len) == 0) {
            if (n < max)
                out[n] = w->nicks[i];
            n++;
        }
    }
    return n;
}

/* ---- Mentions and colours -------------------------------------------- */

static int name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

int mentions(const char *text, size_t len, const char *nick)
{
    size_t nl = strlen(nick);
    if (nl == 0 || nl > len)
        return 0;
    for (size_t i = 0; i + nl <= len; i++) {
        if (strncasecmp(text + i, nick, nl) != 0)
            continue;
        int before = i > 0 && name_char((unsigned char)text[i - 1]);
        /* A trailing '.' or '-' ends a sentence more often than a name. */
        size_t e = i + nl;
        int after = e < len && name_char((unsigned char)text[e]) &&
                    !((text[e] == '.' || text[e] == '-') &&
                      (e + 1 == len || !name_char((unsigned char)text[e + 1])));
        if (!before && !after)
            return 1;
    }
    return 0;
}

unsigned nick_colour(const char *nick, unsigned ncolors)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)nick; *p; p++) {
        unsigned char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        h ^= c;
        h *= 16777619u;
    }
    return ncolors ? h % ncolors : 0;
}
