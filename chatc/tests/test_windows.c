/* Tests for chatc/windows (windows, scrollback ring, unread counts and
 * activity, nick lists, mentions, nick colours) and chatc/utf8's line
 * wrapping. Needs a UTF-8 locale for wcwidth (C.UTF-8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"
#include "windows.h"

static void add(winlist *wl, size_t i, line_kind k, const char *text, int hl)
{
    assert_int_equal(wl_add(wl, i, 1000, k, "bob", text, strlen(text), hl, 0), 0);
}

static void test_open_switch_close(void **state)
{
    (void)state;
    winlist wl;
    assert_int_equal(wl_init(&wl, 100), 0);
    assert_int_equal(wl.n, 1);
    assert_int_equal(wl.w[0]->kind, WIN_STATUS);
    assert_int_equal(wl_open(&wl, "#dev"), 1);
    assert_int_equal(wl_open(&wl, "bob"), 2);
    assert_int_equal(wl_open(&wl, "#DEV"), 1); /* found, any case */
    assert_int_equal(wl.w[1]->kind, WIN_ROOM);
    assert_int_equal(wl.w[2]->kind, WIN_QUERY);
    assert_int_equal(wl_find(&wl, "Bob"), 2);
    assert_int_equal(wl_find(&wl, "carol"), -1);

    wl_switch(&wl, 2);
    assert_ptr_equal(wl_current(&wl), wl.w[2]);
    wl_next(&wl);
    assert_int_equal(wl.cur, 0);
    wl_prev(&wl);
    assert_int_equal(wl.cur, 2);
    wl_switch(&wl, 9); /* no such window: nothing happens */
    assert_int_equal(wl.cur, 2);

    wl_close(&wl, 0); /* the status window stays */
    assert_int_equal(wl.n, 3);
    wl_close(&wl, 2); /* the current one: back to the previous */
    assert_int_equal(wl.n, 2);
    assert_int_equal(wl.cur, 1);
    wl_switch(&wl, 0);
    wl_close(&wl, 1);
    assert_int_equal(wl.cur, 0);
    assert_int_equal(wl.n, 1);
    wl_free(&wl);
}

static void test_unread_and_activity(void **state)
{
    (void)state;
    winlist wl;
    assert_int_equal(wl_init(&wl, 100), 0);
    size_t dev = (size_t)wl_open(&wl, "#dev");
    add(&wl, dev, LINE_EVENT, "carol has joined", 0);
    assert_int_equal(wl.w[dev]->unread, 0);
    assert_int_equal(wl.w[dev]->activity, 1);
    add(&wl, dev, LINE_MSG, "hello", 0);
    add(&wl, dev, LINE_ACTION, "waves", 0);
    assert_int_equal(wl.w[dev]->unread, 2);
    assert_int_equal(wl.w[dev]->activity, 2);
    add(&wl, dev, LINE_MSG, "alice: look", 1);
    assert_int_equal(wl.w[dev]->unread, 3);
    assert_int_equal(wl.w[dev]->activity, 3);
    add(&wl, dev, LINE_MSG, "more", 0); /* activity never drops by itself */
    assert_int_equal(wl.w[dev]->activity, 3);
    wl_switch(&wl, dev);
    assert_int_equal(wl.w[dev]->unread, 0);
    assert_int_equal(wl.w[dev]->activity, 0);
    add(&wl, dev, LINE_MSG, "seen at once", 0); /* current window: nothing unread */
    assert_int_equal(wl.w[dev]->unread, 0);
    wl_free(&wl);
}

static void test_scrollback_ring(void **state)
{
    (void)state;
    winlist wl;
    assert_int_equal(wl_init(&wl, 10), 0);
    window *w = wl.w[0];
    char t[32];
    for (int i = 0; i < 25; i++) {
        snprintf(t, sizeof t, "line %d", i);
        add(&wl, 0, LINE_INFO, t, 0);
    }
    assert_int_equal(w->count, 10);
    assert_string_equal(win_line(w, 0)->text, "line 15");
    assert_string_equal(win_line(w, 9)->text, "line 24");
    assert_null(win_line(w, 10));
    /* Scrolled back, the view stays on the same lines as lines arrive. */
    w->scroll = 3;
    add(&wl, 0, LINE_INFO, "new", 0);
    assert_int_equal(w->scroll, 4);
    win_clear(w);
    assert_int_equal(w->count, 0);
    assert_int_equal(w->scroll, 0);
    wl_free(&wl);
}

static void test_text_is_escaped(void **state)
{
    (void)state;
    winlist wl;
    assert_int_equal(wl_init(&wl, 10), 0);
    add(&wl, 0, LINE_MSG,
        "\x1b]0;pwned\x07 \xc2\x9b"
        "1m",
        0);
    const wline *l = win_line(wl.w[0], 0);
    assert_string_equal(l->text, "^[]0;pwned^G \\u009b1m");
    assert_string_equal(l->nick, "bob");
    assert_int_equal(wl_add(&wl, 0, 0, LINE_MSG, "\x1b[31m", "x", 1, 0, 0), 0);
    assert_string_equal(win_line(wl.w[0], 1)->nick, "^[[31m");
    wl_free(&wl);
}

static void test_nick_list(void **state)
{
    (void)state;
    winlist wl;
    assert_int_equal(wl_init(&wl, 10), 0);
    window *w = wl.w[wl_open(&wl, "#dev")];
    win_names_begin(w);
    assert_int_equal(win_nick_add(w, "carol"), 0);
    assert_int_equal(win_nick_add(w, "alice"), 0);
    assert_int_equal(win_nick_add(w, "bob"), 0);
    assert_int_equal(win_nick_add(w, "alice"), 0); /* no duplicates */
    assert_int_equal(w->nnicks, 3);
    assert_string_equal(w->nicks[0], "alice");
    assert_string_equal(w->nicks[2], "carol");
    /* More of the same list (MORE flag) keeps what came before. */
    win_names_begin(w);
    assert_int_equal(win_nick_add(w, "dave"), 0);
    assert_int_equal(w->nnicks, 4);
    w->names_open = 0;
    /* A new list replaces the old one. */
    win_names_begin(w);
    assert_int_equal(w->nnicks, 0);
    assert_int_equal(win_nick_add(w, "zed"), 0);
    assert_int_equal(win_nick_add(w, "al"), 0);
    assert_int_equal(win_nick_add(w, "alice"), 0);
    assert_int_equal(win_nick_add(w, "albert"), 0);
    w->names_open = 0;
    assert_true(win_has_nick(w, "ZED"));
    win_nick_remove(w, "zed");
    win_nick_remove(w, "nobody");
    assert_false(win_has_nick(w, "zed"));
    const char *out[8];
    assert_int_equal(win_nick_complete(w, "AL", 2, out, 8), 3);
    assert_string_equal(out[0], "al");
    assert_string_equal(out[1], "albert");
    assert_string_equal(out[2], "alice");
    assert_int_equal(win_nick_complete(w, "ali", 3, out, 8), 1);
    assert_int_equal(win_nick_complete(w, "x", 1, out, 8), 0);
    win_nicks_clear(w);
    assert_int_equal(w->nnicks, 0);
    wl_free(&wl);
}

static void test_mentions(void **state)
{
    (void)state;
    assert_true(mentions("alice: hi", 9, "alice"));
    assert_true(mentions("hi Alice!", 9, "alice"));
    assert_true(mentions("hi alice.", 9, "alice"));
    assert_true(mentions("(alice)", 7, "alice"));
    assert_true(mentions("alice", 5, "alice"));
    assert_false(mentions("malice", 6, "alice"));
    assert_false(mentions("alicent", 7, "alice"));
    assert_false(mentions("alice_b", 7, "alice"));
    assert_false(mentions("alice.b", 7, "alice"));
    assert_false(mentions("", 0, "alice"));
    assert_false(mentions("ali", 3, "alice"));
    assert_false(mentions("x", 1, ""));
}

static void test_nick_colours(void **state)
{
    (void)state;
    unsigned a = nick_colour("alice", 6);
    assert_true(a < 6);
    assert_int_equal(nick_colour("ALICE", 6), a); /* folded */
    assert_int_equal(nick_colour("alice", 6), a); /* stable */
    /* Different nicks spread over the palette. */
    int seen[12] = {0};
    char n[16];
    for (int i = 0; i < 200; i++) {
        snprintf(n, sizeof n, "user%d", i);
        seen[nick_colour(n, 12)]++;
    }
    for (int i = 0; i < 12; i++)
        assert_true(seen[i] > 0);
    assert_int_equal(nick_colour("x", 0), 0);
}

static void check_wrap(const char *s, size_t width, const char *const *rows)
{
    size_t off = 0, n = strlen(s), k = 0;
    while (off < n) {
        size_t cols;
        size_t len = u8_wrap(s + off, n - off, width, &cols);
        assert_non_null(rows[k]);
        assert_int_equal(len, strlen(rows[k]));
        assert_memory_equal(s + off, rows[k], len);
        assert_int_equal(cols, u8_width(rows[k], len));
        assert_true(cols <= width || len == strlen(rows[k]));
        off += len;
        k++;
    }
    assert_null(rows[k]);
}

static void test_wrap(void **state)
{
    (void)state;
    static const char *const r1[] = {"hello ", "world", NULL};
    check_wrap("hello world", 8, r1);
    static const char *const r2[] = {"abcd", "efgh", "ij", NULL};
    check_wrap("abcdefghij", 4, r2); /* no space: hard breaks */
    static const char *const r3[] = {"日本", "語", NULL};
    check_wrap("日本語", 5, r3); /* 2 + 2 columns; a third would need 6 */
    static const char *const r4[] = {"日", "本", NULL};
    check_wrap("日本", 1, r4); /* wider than the row: one per row anyway */
    static const char *const r5[] = {"ae\xcc\x81", "b", NULL};
    check_wrap("ae\xcc\x81"
               "b",
               2, r5); /* the combining mark stays with its letter */
    static const char *const r6[] = {"fits", NULL};
    check_wrap("fits", 4, r6);
}

int main(void)
{
    if (setlocale(LC_ALL, "C.UTF-8") == NULL) {
        fprintf(stderr, "test_windows: no C.UTF-8 locale\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_switch_close), cmocka_unit_test(test_unread_and_activity),
        cmocka_unit_test(test_scrollback_ring),   cmocka_unit_test(test_text_is_escaped),
        cmocka_unit_test(test_nick_list),         cmocka_unit_test(test_mentions),
        cmocka_unit_test(test_nick_colours),      cmocka_unit_test(test_wrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
