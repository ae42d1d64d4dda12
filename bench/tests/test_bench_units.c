/* Unit tests of chatbench's pure parts: the latency histogram and the
 * message text format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lat.h"
#include "msgtext.h"

static lat_hist h; /* 18 KiB: not on the stack */

static void lat_empty_is_zero(void **state)
{
    (void)state;
    lat_init(&h);
    assert_int_equal(lat_quantile(&h, 0.5), 0);
    assert_int_equal(lat_quantile(&h, 1.0), 0);
}

static void lat_small_values_are_exact(void **state)
{
    (void)state;
    lat_init(&h);
    for (uint64_t v = 1; v <= 100; v++)
        lat_add(&h, v);
    assert_int_equal(lat_quantile(&h, 0.50), 50);
    assert_int_equal(lat_quantile(&h, 0.99), 99);
    assert_int_equal(lat_quantile(&h, 1.0), 100);
}

/* Above 128 ns a bucket is at most 1/64 of its value wide, and a
 * quantile never exceeds the largest value recorded. */
static void lat_relative_error_is_bounded(void **state)
{
    (void)state;
    lat_init(&h);
    for (uint64_t us = 1; us <= 10000; us++)
        lat_add(&h, us * 1000);
    double qs[] = {0.5, 0.9, 0.99, 0.999};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        double exact = qs[i] * 10000.0 * 1000.0;
        double got = (double)lat_quantile(&h, qs[i]);
        assert_true(got >= exact);
        assert_true(got <= exact * (1.0 + 1.0 / 64));
    }
    assert_int_equal(lat_quantile(&h, 1.0), 10000 * 1000);
}

static void lat_huge_values_are_clamped(void **state)
{
    (void)state;
    lat_init(&h);
    lat_add(&h, UINT64_MAX);
    lat_add(&h, UINT64_C(1) << 50);
    assert_true(lat_quantile(&h, 0.5) > (UINT64_C(1) << 39));
    assert_int_equal(h.count, 2);
}

static void lat_merge_adds_counts(void **state)
{
    (void)state;
    static lat_hist a, b;
    lat_init(&a);
    lat_init(&b);
    for (uint64_t v = 0; v < 50; v++)
        lat_add(&a, v);
    for (uint64_t v = 50; v < 100; v++)
        lat_add(&b, v);
    lat_merge(&a, &b);
    assert_int_equal(a.count, 100);
    assert_int_equal(a.max, 99);
    assert_int_equal(lat_quantile(&a, 0.5), 49);
}

static void text_round_trip(void **state)
{
    (void)state;
    bt_init();
    char out[BT_MAX + 1];
    size_t sizes[] = {BT_MIN, 100, 401, BT_MAX};
    uint32_t seqs[] = {0, 1, 25, 26, 4294967295u};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (size_t j = 0; j < sizeof seqs / sizeof seqs[0]; j++) {
            uint64_t ts = UINT64_MAX - j;
            size_t n = bt_make(out, sizes[i], ts, 4294967295u, seqs[j]);
            assert_int_equal(n, sizes[i]);
            assert_int_equal(strlen(out), sizes[i]);
            uint64_t t2 = 0;
            uint32_t s2 = 0, q2 = 0;
            assert_int_equal(bt_check((const uint8_t *)out, n, sizes[i], &t2, &s2, &q2), BT_OK);
            assert_true(t2 == ts);
            assert_int_equal(s2, 4294967295u);
            assert_int_equal(q2, seqs[j]);
            for (size_t k = 0; k < n; k++)
                assert_true(out[k] >= ' ' && out[k] <= '~');
        }
    }
}

static void text_damage_is_detected(void **state)
{
    (void)state;
    bt_init();
    char out[BT_MAX + 1];
    uint64_t ts;
    uint32_t s, q;
    size_t n = bt_make(out, 100, 12345, 3, 7);
    /* every padding byte matters */
    for (size_t k = 30; k < n; k++) {
        char save = out[k];
        out[k] = save == 'z' ? 'a' : (char)(save + 1);
        assert_int_equal(bt_check((const uint8_t *)out, n, 100, &ts, &s, &q), BT_E_CORRUPT);
        out[k] = save;
    }
    /* truncated, or the wrong size */
    assert_int_equal(bt_check((const uint8_t *)out, n - 1, 100, &ts, &s, &q), BT_E_LENGTH);
    assert_int_equal(bt_check((const uint8_t *)out, n, 101, &ts, &s, &q), BT_E_LENGTH);
    /* the padding of another sequence number */
    char other[BT_MAX + 1];
    bt_make(other, 100, 12345, 3, 8);
    /* the header of seq 7 (up to its third space) over seq 8's padding */
    size_t hdr = 0;
    for (int spaces = 0; spaces < 3; hdr++)
        spaces += out[hdr] == ' ';
    memcpy(other, out, hdr);
    assert_int_equal(bt_check((const uint8_t *)other, 100, 100, &ts, &s, &q), BT_E_CORRUPT);
}

static void text_foreign_is_rejected(void **state)
{
    (void)state;
    uint64_t ts;
    uint32_t s, q;
    const char *bad[] = {
        "",
        "hello world",
        "000000000000000g 1 2 xxxxxxxxxxxxxxxxxxxxxxx",
        "0000000000000001  2 3 xxxxxxxxxxxxxxxxxxxxxxxx",
        "0000000000000001 1 2",
        "0000000000000001 1 99999999999 xxxxxxxxxxxxxx",
        "0000000000000001 4294967296 1 xxxxxxxxxxxxxxx",
        "0000000000000001 1 2xxxxxxxxxxxxxxxxxxxxxxxxx",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(bt_check((const uint8_t *)bad[i], strlen(bad[i]), 40, &ts, &s, &q),
                         BT_E_HEADER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lat_empty_is_zero),
        cmocka_unit_test(lat_small_values_are_exact),
        cmocka_unit_test(lat_relative_error_is_bounded),
        cmocka_unit_test(lat_huge_values_are_clamped),
        cmocka_unit_test(lat_merge_adds_counts),
        cmocka_unit_test(text_round_trip),
        cmocka_unit_test(text_damage_is_detected),
        cmocka_unit_test(text_foreign_is_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
