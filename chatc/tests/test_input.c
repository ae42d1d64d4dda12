/* Tests for chatc/input: the editable line. ASCII and UTF-8 insertion,
 * cursor movement by whole characters (multi-byte, wide, combining),
 * deletion, the kill keys (Ctrl-U/K/W, Ctrl-Y), refused characters,
 * history browsing with a draft, tab completion (unique, cycling,
 * suffixes) and the horizontal view with wide characters. Needs a UTF-8
 * locale for wcwidth (C.UTF-8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "input.h"
#include "utf8.h"

static input in;

static void type(const char *s)
{
    assert_int_equal(input_insert_str(&in, s, strlen(s)), 0);
}

static void is(const char *text, size_t cur)
{
    assert_string_equal(in.buf, text);
    assert_int_equal(in.len, strlen(text));
    assert_int_equal(in.cur, cur);
}

static int setup(void **state)
{
    (void)state;
    input_init(&in);
    return 0;
}

static void test_insert_and_move_ascii(void **state)
{
    (void)state;
    type("hello");
    is("hello", 5);
    input_left(&in);
    input_left(&in);
    assert_int_equal(input_insert(&in, 'X'), 0);
    is("helXlo", 4);
    input_home(&in);
    is("helXlo", 0);
    input_left(&in); /* stays */
    is("helXlo", 0);
    input_end(&in);
    input_right(&in); /* stays */
    is("helXlo", 6);
    input_backspace(&in);
    is("helXl", 5);
    input_home(&in);
    input_delete(&in);
    is("elXl", 0);
    input_backspace(&in); /* nothing before the cursor */
    is("elXl", 0);
    input_end(&in);
    input_delete(&in); /* nothing after */
    is("elXl", 4);
}

static void test_utf8_characters(void **state)
{
    (void)state;
    type("aé日😀b"); /* 1 + 2 + 3 + 4 + 1 bytes */
    is("aé日😀b", 11);
    input_left(&in);
    assert_int_equal(in.cur, 10);
    input_left(&in);
    assert_int_equal(in.cur, 6); /* over the whole emoji */
    input_left(&in);
    assert_int_equal(in.cur, 3);
    input_backspace(&in); /* removes é, both bytes */
    is("a日😀b", 1);
    input_delete(&in); /* removes 日 */
    is("a😀b", 1);
    input_right(&in);
    assert_int_equal(in.cur, 5);
    /* A base letter with combining marks moves as one character. */
    input_clear(&in);
    type("xe\xcc\x81\xcc\xa3y"); /* e + acute + dot below */
    input_end(&in);
    input_left(&in);
    assert_int_equal(in.cur, 6);
    input_left(&in);
    assert_int_equal(in.cur, 1);
    input_right(&in);
    assert_int_equal(in.cur, 6);
    input_backspace(&in);
    is("xy", 1);
}

static void test_refused_characters(void **state)
{
    (void)state;
    assert_int_equal(input_insert(&in, 0x1b), -1); /* ESC */
    assert_int_equal(input_insert(&in, '\n'), -1);
    assert_int_equal(input_insert(&in, '\t'), -1);
    assert_int_equal(input_insert(&in, 0x7f), -1);
    assert_int_equal(input_insert(&in, 0x9b), -1);   /* C1 CSI */
    assert_int_equal(input_insert(&in, 0x202e), -1); /* RLO */
    assert_int_equal(input_insert(&in, 0x2028), -1);
    assert_int_equal(input_insert(&in, 0xd800), -1); /* surrogate */
    assert_int_equal(input_insert(&in, 0x110000), -1);
    is("", 0);
    /* In a string they are dropped, the rest kept. */
    assert_int_equal(input_insert_str(&in,
                                      "a\x1b[2Jb\xff\xe2\x80\xae"
                                      "c",
                                      11),
                     0);
    is("a[2Jbc", 6);
}

static void test_full_line(void **state)
{
    (void)state;
    char big[INPUT_MAX + 1];
    memset(big, 'x', INPUT_MAX);
    big[INPUT_MAX] = '\0';
    type(big);
    assert_int_equal(in.len, INPUT_MAX);
    assert_int_equal(input_insert(&in, 'y'), -1);
    assert_int_equal(input_insert_str(&in, "yz", 2), -1);
    assert_int_equal(in.len, INPUT_MAX);
    /* input_set cuts on a character boundary. */
    char u[INPUT_MAX + 8];
    memset(u, 'x', INPUT_MAX - 1);
    strcpy(u + INPUT_MAX - 1, "日"); /* would end 2 bytes past the limit */
    input_set(&in, u);
    assert_int_equal(in.len, INPUT_MAX - 1);
}

static void test_kill_and_yank(void **state)
{
    (void)state;
    type("one two  three");
    input_kill_word(&in);
    is("one two  ", 9);
    input_kill_word(&in); /* blanks, then the word */
    is("one ", 4);
    input_yank(&in);
    is("one two  ", 9);
    input_home(&in);
    input_right(&in);
    input_kill_to_end(&in);
    is("o", 1);
    input_yank(&in);
    is("one two  ", 9);
    input_left(&in);
    input_left(&in);
    input_kill_to_start(&in);
    is("  ", 0);
    input_end(&in);
    input_yank(&in);
    is("  one two", 9);
    /* Word moves. */
    input_word_left(&in);
    assert_int_equal(in.cur, 6);
    input_word_left(&in);
    assert_int_equal(in.cur, 2);
    input_word_right(&in);
    assert_int_equal(in.cur, 5);
    /* Secret mode keeps nothing in the kill buffer. */
    input_clear(&in);
    in.kill_len = 0;
    in.secret = 1;
    type("hunter2");
    input_kill_to_start(&in);
    assert_int_equal(in.kill_len, 0);
}

static void test_history(void **state)
{
    (void)state;
    history h;
    history_init(&h, 3);
    assert_int_equal(history_add(&h, "first"), 0);
    assert_int_equal(history_add(&h, "second"), 0);
    assert_int_equal(history_add(&h, "second"), 0); /* repeat: not added */
    assert_int_equal(history_add(&h, ""), 0);
    assert_int_equal(h.n, 2);
    type("draft");
    input_history_up(&in, &h);
    is("second", 6);
    input_history_up(&in, &h);
    is("first", 5);
    input_history_up(&in, &h); /* no older entry */
    is("first", 5);
    input_history_down(&in, &h);
    is("second", 6);
    input_history_down(&in, &h);
    is("draft", 5);
    input_history_down(&in, &h); /* stays on the draft */
    is("draft", 5);
    /* Bounded: the oldest goes. */
    assert_int_equal(history_add(&h, "third"), 0);
    assert_int_equal(history_add(&h, "fourth"), 0);
    assert_int_equal(h.n, 3);
    assert_string_equal(history_get(&h, 2), "second");
    assert_null(history_get(&h, 3));
    /* Secret entry never browses history. */
    input_clear(&in);
    in.secret = 1;
    input_history_up(&in, &h);
    is("", 0);
    history_free(&h);
}

/* Candidates for completion: a fixed list filtered by prefix. */
static const char *const cands[] = {"alice", "albert", "bob", "/join", "/part", "#dev"};

static size_t complete(void *ctx, const char *word, size_t len, int first, const char **out,
                       size_t max)
{
    int *firsts = ctx;
    *firsts = first;
    size_t n = 0;
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++)
        if (strncmp(cands[i], word, len) == 0 && n < max)
            out[n++] = cands[i];
    return n;
}

static void test_tab_completion(void **state)
{
    (void)state;
    int first = -1;
    type("b");
    input_tab(&in, complete, &first);
    assert_int_equal(first, 1);
    is("bob: ", 5); /* a nick starting the line */
    input_clear(&in);
    type("hi b");
    input_tab(&in, complete, &first);
    assert_int_equal(first, 0);
    is("hi bob ", 7);
    input_clear(&in);
    type("/jo");
    input_tab(&in, complete, &first);
    is("/join ", 6);
    type("#d");
    input_tab(&in, complete, &first);
    is("/join #dev ", 11);
    /* Several matches: Tab cycles through them. */
    input_clear(&in);
    type("hey al");
    input_tab(&in, complete, &first);
    is("hey alice ", 10);
    input_tab(&in, complete, &first);
    is("hey albert ", 11);
    input_tab(&in, complete, &first);
    is("hey alice ", 10);
    /* Another key ends the cycle. */
    type("x");
    is("hey alice x", 11);
    input_tab(&in, complete, &first); /* "x" matches nothing */
    is("hey alice x", 11);
    /* Completion in the middle of a line keeps the rest. */
    input_clear(&in);
    type("bo is here");
    input_home(&in);
    input_right(&in);
    input_right(&in);
    input_tab(&in, complete, &first);
    is("bob:  is here", 5);
}

static void test_view_and_wide_chars(void **state)
{
    (void)state;
    assert_int_equal(u8_width("日本", 6), 4);
    assert_int_equal(u8_width("e\xcc\x81", 3), 1);
    type("abc");
    assert_int_equal(input_view(&in, 10), 3);
    assert_int_equal(in.view, 0);
    input_clear(&in);
    /* 10 wide characters (20 columns) in a 9-column field. */
    type("日日日日日日日日日日");
    unsigned col = input_view(&in, 9);
    assert_true(col <= 8);
    assert_int_equal(u8_width(in.buf + in.view, in.cur - in.view), col);
    assert_int_equal(in.view % 3, 0); /* on a character boundary */
    input_home(&in);
    assert_int_equal(input_view(&in, 9), 0);
    assert_int_equal(in.view, 0);
    /* Moving right keeps the cursor inside the field. */
    for (int i = 0; i < 10; i++) {
        input_right(&in);
        col = input_view(&in, 9);
        assert_true(col <= 8);
        assert_int_equal(in.view % 3, 0);
    }
    /* Back to the start: the view follows. */
    for (int i = 0; i < 10; i++) {
        input_left(&in);
        col = input_view(&in, 9);
        assert_true(col <= 8);
        assert_true(in.view <= in.cur);
    }
    assert_int_equal(in.view, 0);
}

static void test_wipe(void **state)
{
    (void)state;
    type("secret");
    input_kill_word(&in);
    input_wipe(&in);
    for (size_t i = 0; i < sizeof in.kill; i++)
        assert_int_equal(in.kill[i], 0);
    assert_int_equal(in.len, 0);
    assert_int_equal(in.hist_pos, -1);
}

int main(void)
{
    if (setlocale(LC_ALL, "C.UTF-8") == NULL) {
        fprintf(stderr, "test_input: no C.UTF-8 locale\n");
        return 1;
    }
#define T(fn) cmocka_unit_test_setup(fn, setup)
    const struct CMUnitTest tests[] = {
        T(test_insert_and_move_ascii),
        T(test_utf8_characters),
        T(test_refused_characters),
        T(test_full_line),
        T(test_kill_and_yank),
        T(test_history),
        T(test_tab_completion),
        T(test_view_and_wide_chars),
        T(test_wipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
