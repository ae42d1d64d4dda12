/* Tests for common/sanitize: escaping of untrusted text for display.
 * Fixed cases for every class of character, then a property test over
 * random byte strings: the output is valid UTF-8 with no C0, DEL, C1 or
 * bidi/line-separator code point, and escaping it again changes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "sanitize.h"

static void check(const char *in, size_t n, const char *want)
{
    char out[512];
    size_t len = chat_sanitize(in, n, out, sizeof out);
    assert_int_equal(len, strlen(want));
    assert_string_equal(out, want);
    assert_int_equal(chat_sanitize_is_clean(in, n), strcmp(in, want) == 0 && strlen(want) == n);
}

#define CHECK(lit, want) check(lit, sizeof(lit) - 1, want)

static void test_plain_text_unchanged(void **state)
{
    (void)state;
    CHECK("", "");
    CHECK("hello, world! ~ {} [] \\ ^[", "hello, world! ~ {} [] \\ ^[");
    CHECK("ünïcödé 日本語 😀 e\xcc\x81", "ünïcödé 日本語 😀 e\xcc\x81"); /* combining acute */
    CHECK("\xe2\x80\x8e mark \xe2\x80\x8d zwj", "\xe2\x80\x8e mark \xe2\x80\x8d zwj");
}

static void test_c0_and_del(void **state)
{
    (void)state;
    CHECK("\x1b[2J", "^[[2J"); /* clear screen */
    CHECK("a\nb\rc\td", "a^Jb^Mc^Id");
    CHECK("\x07\x07", "^G^G"); /* bells */
    CHECK("x\x7fy", "x^?y");
    CHECK("\x1b]0;title\x07", "^[]0;title^G");     /* OSC 0 */
    CHECK("\x1b]52;c;aGk=\x07", "^[]52;c;aGk=^G"); /* OSC 52 clipboard */
    CHECK("\x1bP1$r\x1b\\", "^[P1$r^[\\");         /* DCS */
    char nul[3] = {'a', '\0', 'b'};
    check(nul, 3, "a^@b");
}

static void test_c1_and_bidi(void **state)
{
    (void)state;
    CHECK("\xc2\x9b"
          "31m",
          "\\u009b31m"); /* C1 CSI, UTF-8 encoded */
    CHECK("\xc2\x80\xc2\x9f", "\\u0080\\u009f");
    CHECK("abc\xe2\x80\xae"
          "cba",
          "abc\\u202ecba"); /* RLO */
    CHECK("\xe2\x80\xa8\xe2\x80\xa9", "\\u2028\\u2029");
    CHECK("\xe2\x81\xa6\xe2\x81\xa9", "\\u2066\\u2069");
    CHECK("\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad", "\\u202a\\u202b\\u202c\\u202d");
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    CHECK("\x9b"
          "2J",
          "\\x9b2J");                                  /* a bare 8-bit CSI */
    CHECK("\xc0\x80", "\\xc0\\x80");                   /* overlong NUL */
    CHECK("\xe0\x80\xaf", "\\xe0\\x80\\xaf");          /* overlong '/' */
    CHECK("\xed\xa0\x80", "\\xed\\xa0\\x80");          /* a surrogate */
    CHECK("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* above U+10FFFF */
    CHECK("\xf5\xff", "\\xf5\\xff");
    CHECK("ab\xe6\x97", "ab\\xe6\\x97"); /* truncated at the end */
    CHECK("\xe6\x97"
          "a",
          "\\xe6\\x97a");
}

static void test_truncation_never_splits(void **state)
{
    (void)state;
    char out[8];
    /* "^[" does not fit after 6 bytes: cut before it. */
    assert_int_equal(chat_sanitize("abcdef\x1b", 7, out, sizeof out), 6);
    assert_string_equal(out, "abcdef");
    /* A 3-byte character does not fit after 5 bytes. */
    assert_int_equal(chat_sanitize("abcde\xe6\x97\xa5", 8, out, sizeof out), 5);
    assert_string_equal(out, "abcde");
    assert_int_equal(chat_sanitize("\xe2\x80\xae", 3, out, 6), 0); /* "\u202e" needs 7 */
    assert_string_equal(out, "");
    assert_int_equal(chat_sanitize("\xe2\x80\xae", 3, out, 7), 6);
    assert_int_equal(chat_sanitize("x", 1, out, 1), 0);
    assert_string_equal(out, "");
    assert_int_equal(chat_sanitize("x", 1, NULL, 0), 0);
}

/* ---- Property test ---------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* Decode valid UTF-8 strictly; -1 if invalid. */
static int next_cp(const unsigned char *s, size_t n, size_t *i, uint32_t *cp)
{
    unsigned char c = s[*i];
    size_t len;
    uint32_t v;
    if (c < 0x80) {
        *cp = c;
        (*i)++;
        return 0;
    }
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, v = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, v = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, v = c & 0x07;
    else
        return -1;
    if (*i + len > n)
        return -1;
    for (size_t k = 1; k < len; k++) {
        if ((s[*i + k] & 0xC0) != 0x80)
            return -1;
        v = (v << 6) | (s[*i + k] & 0x3F);
    }
    if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
        (v >= 0xD800 && v <= 0xDFFF))
        return -1;
    *cp = v;
    *i += len;
    return 0;
}

static void test_property_random_inputs(void **state)
{
    (void)state;
    /* Pieces that make interesting inputs more likely than uniform bytes. */
    static const char *const pieces[] = {
        "\x1b",         "[",        "\x9b",  "\xc2\x9b", "\xe2\x80\xae",
        "\xe2\x80\xa8", "\x07",     "\n",    "\x7f",     "a",
        "日",           "\xcc\x81", "\xe6",  "\x97",     "\xf0\x9f\x98",
        "\xed\xa0\x80", "^[",       "\\x9b", "\\u202e",  "\xc0",
        "\xff",         "\x00"};
    static unsigned char in[256];
    static char out[256 * CHAT_SANITIZE_MAX_ESC + 1], again[sizeof out];
    for (int iter = 0; iter < 200000; iter++) {
        size_t n = 0, target = rnd() % 64;
        while (n < target) {
            if (rnd() % 2) {
                in[n++] = (unsigned char)rnd();
            } else {
                const char *p = pieces[rnd() % (sizeof pieces / sizeof pieces[0])];
                size_t pl = strlen(p) ? strlen(p) : 1;
                if (n + pl > sizeof in)
                    break;
                memcpy(in + n, p, pl);
                n += pl;
            }
        }
        size_t len = chat_sanitize((const char *)in, n, out, sizeof out);
        assert_int_equal(strlen(out), len); /* no NUL inside */
        size_t i = 0;
        while (i < len) {
            uint32_t cp;
            assert_int_equal(next_cp((const unsigned char *)out, len, &i, &cp), 0);
            assert_false(cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F));
            assert_false(cp == 0x2028 || cp == 0x2029 || (cp >= 0x202A && cp <= 0x202E) ||
                         (cp >= 0x2066 && cp <= 0x2069));
        }
        assert_true(chat_sanitize_is_clean(out, len));
        size_t len2 = chat_sanitize(out, len, again, sizeof again);
        assert_int_equal(len2, len);
        assert_memory_equal(again, out, len);
        /* Clean input passes through untouched. */
        if (chat_sanitize_is_clean((const char *)in, n)) {
            assert_int_equal(len, n);
            assert_memory_equal(out, in, n);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_text_unchanged),
        cmocka_unit_test(test_c0_and_del),
        cmocka_unit_test(test_c1_and_bidi),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_truncation_never_splits),
        cmocka_unit_test(test_property_random_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
