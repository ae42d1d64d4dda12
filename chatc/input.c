/* The editable input line. See input.h. */
#include "input.h"

#include <string.h>

#include <sodium.h>

#include "utf8.h"

void input_init(input *in)
{
    memset(in, 0, sizeof *in);
    in->hist_pos = -1;
}

void input_tab_reset(input *in)
{
    in->tab_active = 0;
}

void input_clear(input *in)
{
    sodium_memzero(in->buf, sizeof in->buf);
    in->len = in->cur = in->view = 0;
    in->hist_pos = -1;
    in->tab_active = 0;
}

void input_wipe(input *in)
{
    sodium_memzero(in, sizeof *in);
    in->hist_pos = -1;
}

/* Largest prefix length <= max of s that ends on a character boundary. */
static size_t boundary_prefix(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t l = u8_decode(s + i, n - i, &cp);
        if (i + l > max)
            break;
        i += l;
    }
    return i;
}

void input_set(input *in, const char *text)
{
    size_t n = boundary_prefix(text, strlen(text), INPUT_MAX);
    sodium_memzero(in->buf, sizeof in->buf);
    memcpy(in->buf, text, n);
    in->len = in->cur = n;
    in->view = 0;
    in->tab_active = 0;
}

static uint32_t cp_at(const input *in, size_t i)
{
    uint32_t cp;
    (void)u8_decode(in->buf + i, in->len - i, &cp);
    return cp;
}

/* End of the character (code point + following zero-width ones) at i. */
static size_t char_end(const input *in, size_t i)
{
    if (i >= in->len)
        return in->len;
    uint32_t cp;
    i += u8_decode(in->buf + i, in->len - i, &cp);
    while (i < in->len) {
        size_t l = u8_decode(in->buf + i, in->len - i, &cp);
        if (u8_cp_width(cp) != 0)
            break;
        i += l;
    }
    return i;
}

/* Start of the character that ends at i. */
static size_t char_start(const input *in, size_t i)
{
    if (i == 0)
        return 0;
    size_t j = u8_prev(in->buf, i);
    while (j > 0 && u8_cp_width(cp_at(in, j)) == 0)
        j = u8_prev(in->buf, j);
    return j;
}

static void remove_range(input *in, size_t a, size_t b, int to_kill)
{
    if (b <= a)
        return;
    if (to_kill && !in->secret) {
        memcpy(in->kill, in->buf + a, b - a);
        in->kill_len = b - a;
    }
    memmove(in->buf + a, in->buf + b, in->len - b);
    in->len -= b - a;
    sodium_memzero(in->buf + in->len, b - a);
    if (in->cur >= b)
        in->cur -= b - a;
    else if (in->cur > a)
        in->cur = a;
}

/* Insert s[0..n) at the cursor; -1 if it does not fit. */
static int insert_bytes(input *in, const char *s, size_t n)
{
    if (n > INPUT_MAX - in->len)
        return -1;
    memmove(in->buf + in->cur + n, in->buf + in->cur, in->len - in->cur);
    memcpy(in->buf + in->cur, s, n);
    in->len += n;
    in->cur += n;
    in->buf[in->len] = '\0';
    return 0;
}

int input_insert(input *in, uint32_t cp)
{
    in->tab_active = 0;
    char enc[4];
    size_t n;
    if (!u8_cp_allowed(cp) || (n = u8_encode(cp, enc)) == 0)
        return -1;
    return insert_bytes(in, enc, n);
}

int input_insert_str(input *in, const char *s, size_t n)
{
    size_t i = 0;
    int rc = 0;
    while (i < n) {
        uint32_t cp;
        size_t l = u8_decode(s + i, n - i, &cp);
        if (cp == 0xFFFD && l == 1) {
            i++; /* an invalid byte: dropped */
            continue;
        }
        if (u8_cp_allowed(cp) && insert_bytes(in, s + i, l) != 0) {
            rc = -1;
            break;
        }
        i += l;
    }
    in->tab_active = 0;
    return rc;
}

void input_left(input *in)
{
    in->tab_active = 0;
    in->cur = char_start(in, in->cur);
}

void input_right(input *in)
{
    in->tab_active = 0;
    in->cur = char_end(in, in->cur);
}

void input_home(input *in)
{
    in->tab_active = 0;
    in->cur = 0;
}

void input_end(input *in)
{
    in->tab_active = 0;
    in->cur = in->len;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Start of the word before i (blanks, then non-blanks, backwards). */
static size_t word_start(const input *in, size_t i)
{
    while (i > 0 && is_space(in->buf[i - 1]))
        i--;
    while (i > 0 && !is_space(in->buf[i - 1]))
        i--;
    return i;
}

void input_word_left(input *in)
{
    in->tab_active = 0;
    in->cur = word_start(in, in->cur);
}

void input_word_right(input *in)
{
    in->tab_active = 0;
    size_t i = in->cur;
    while (i < in->len && is_space(in->buf[i]))
        i++;
    while (i < in->len && !is_space(in->buf[i]))
        i++;
    in->cur = i;
}

void input_backspace(input *in)
{
    in->tab_active = 0;
    remove_range(in, char_start(in, in->cur), in->cur, 0);
}

void input_delete(input *in)
{
    in->tab_active = 0;
    remove_range(in, in->cur, char_end(in, in->cur), 0);
}

void input_kill_to_start(input *in)
{
    in->tab_active = 0;
    remove_range(in, 0, in->cur, 1);
}

void input_kill_to_end(input *in)
{
    in->tab_active = 0;
    remove_range(in, in->cur, in->len, 1);
}

void input_kill_word(input *in)
{
    in->tab_active = 0;
    remove_range(in, word_start(in, in->cur), in->cur, 1);
}

void input_yank(input *in)
{
    in->tab_active = 0;
    if (in->kill_len > 0)
        (void)insert_bytes(in, in->kill, in->kill_len);
}

/* ---- History --------------------------------------------------------- */

void input_history_up(input *in, const history *h)
{
    if (in->secret)
        return;
    const char *e = history_get(h, (size_t)(in->hist_pos + 1));
    if (e == NULL)
        return;
    if (in->hist_pos == -1)
        memcpy(in->draft, in->buf, in->len + 1);
    in->hist_pos++;
    input_set(in, e);
}

void input_history_down(input *in, const history *h)
{
    if (in->secret || in->hist_pos < 0)
        return;
    in->hist_pos--;
    if (in->hist_pos < 0) {
        input_set(in, in->draft);
        sodium_memzero(in->draft, sizeof in->draft);
        return;
    }
    const char *e = history_get(h, (size_t)in->hist_pos);
    input_set(in, e != NULL ? e : "");
}

/* ---- Completion ------------------------------------------------------ */

/* Replace [tab_start, cur) with the current candidate and its suffix. */
static void tab_apply(input *in)
{
    const char *c = in->tab_cands[in->tab_idx];
    char repl[INPUT_TAB_LEN + 3];
    size_t cl = strlen(c), sl = strlen(in->tab_suffix);
    memcpy(repl, c, cl);
    memcpy(repl + cl, in->tab_suffix, sl);
    size_t old_len = in->len;
    char saved[INPUT_MAX + 1];
    memcpy(saved, in->buf, old_len + 1);
    size_t saved_cur = in->cur;
    remove_range(in, in->tab_start, in->cur, 0);
    if (insert_bytes(in, repl, cl + sl) != 0) {
        memcpy(in->buf, saved, old_len + 1); /* does not fit: leave it */
        in->len = old_len;
        in->cur = saved_cur;
    }
}

void input_tab(input *in, input_complete_fn fn, void *ctx)
{
    if (in->secret)
        return;
    if (in->tab_active && in->tab_count > 1) {
        in->tab_idx = (in->tab_idx + 1) % in->tab_count;
        tab_apply(in);
        return;
    }
    size_t start = in->cur;
    while (start > 0 && !is_space(in->buf[start - 1]))
        start--;
    size_t lead = 0;
    while (lead < start && is_space(in->buf[lead]))
        lead++;
    int first = lead == start;
    const char *cands[INPUT_TAB_MAX];
    size_t n = fn(ctx, in->buf + start, in->cur - start, first, cands, INPUT_TAB_MAX);
    if (n > INPUT_TAB_MAX)
        n = INPUT_TAB_MAX;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(cands[i]);
        if (l == 0 || l >= INPUT_TAB_LEN)
            continue;
        memcpy(in->tab_cands[kept], cands[i], l + 1);
        kept++;
    }
    if (kept == 0) {
        in->tab_active = 0;
        return;
    }
    const char *c0 = in->tab_cands[0];
    if (c0[0] == '/' || c0[0] == '#' || !first)
        strcpy(in->tab_suffix, " ");
    else
        strcpy(in->tab_suffix, ": ");
    in->tab_start = start;
    in->tab_count = kept;
    in->tab_idx = 0;
    tab_apply(in);
    in->tab_active = kept > 1;
}

/* ---- View ------------------------------------------------------------ */

unsigned input_view(input *in, unsigned width)
{
    if (width < 2)
        width = 2;
    if (in->view > in->len)
        in->view = 0;
    if (in->cur < in->view) {
        /* Jump back so the cursor lands mid-field, with context before it. */
        size_t v = in->cur, w = 0;
        while (v > 0) {
            size_t p = char_start(in, v);
            size_t cw = u8_width(in->buf + p, v - p);
            if (w + cw > width / 2)
                break;
            w += cw;
            v = p;
        }
        in->view = v;
    }
    size_t col = u8_width(in->buf + in->view, in->cur - in->view);
    while (col > width - 1 && in->view < in->cur) {
        size_t e = char_end(in, in->view);
        col -= u8_width(in->buf + in->view, e - in->view);
        in->view = e;
    }
    return (unsigned)col;
}
