/* Unit tests of util.c: strict numbers, UTF-8 text, RFC 3339 times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

static void test_parse_int64(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(kg_parse_int64("100", 1, 1000, &v), KG_OK);
    assert_int_equal(v, 100);
    assert_int_equal(kg_parse_int64("-5", -10, 10, &v), KG_OK);
    assert_int_equal(v, -5);
    const char *bad[] = {"", "0x10", "10a", " 10", "1001", "0", "+5", "99999999999999999999", "1-"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(kg_parse_int64(bad[i], 1, 1000, &v), KG_INVALID);
}

static void test_parse_duration(void **state)
{
    (void)state;
    int64_t v = -1;
    assert_int_equal(kg_parse_duration("0", 100, &v), KG_OK);
    assert_int_equal(v, 0);
    assert_int_equal(kg_parse_duration("90s", 100, &v), KG_OK);
    assert_int_equal(v, 90);
    assert_int_equal(kg_parse_duration("30m", 86400 * 30, &v), KG_OK);
    assert_int_equal(v, 1800);
    assert_int_equal(kg_parse_duration("12h", 86400 * 30, &v), KG_OK);
    assert_int_equal(v, 43200);
    assert_int_equal(kg_parse_duration("30d", 86400 * 30, &v), KG_OK);
    assert_int_equal(v, 2592000);
    static const char *const bad[] = {
        "31d", "", "s", "5", "-5s", "5x", "5 s", "1.5h", "99999999999999999999d", "h5", NULL};
    for (size_t i = 0; bad[i]; i++)
        assert_int_equal(kg_parse_duration(bad[i], 86400 * 30, &v), KG_INVALID);
    assert_int_equal(kg_parse_duration(NULL, 100, &v), KG_INVALID);
}

static void test_utf8_text(void **state)
{
    (void)state;
    size_t n;
    assert_true(kg_utf8_text("héllo ✓ 😀", strlen("héllo ✓ 😀"), &n));
    assert_int_equal(n, 9);
    assert_true(kg_utf8_text("tab\there", 8, &n));
    assert_false(kg_utf8_text("new\nline", 8, &n));
    assert_false(kg_utf8_text("\xc3", 1, &n));             /* truncated */
    assert_false(kg_utf8_text("\xc0\xaf", 2, &n));         /* overlong '/' */
    assert_false(kg_utf8_text("\xed\xa0\x80", 3, &n));     /* surrogate */
    assert_false(kg_utf8_text("\xf4\x90\x80\x80", 4, &n)); /* beyond U+10FFFF */
    assert_false(kg_utf8_text("\xff", 1, &n));
}

static void test_time_round_trip(void **state)
{
    (void)state;
    char buf[40];
    int64_t ms;
    kg_time_format(1796083200123, buf, sizeof buf);
    assert_string_equal(buf, "2026-12-01T00:00:00.123Z");
    assert_int_equal(kg_time_parse(buf, &ms), KG_OK);
    assert_int_equal(ms, 1796083200123);
    assert_int_equal(kg_time_parse("2027-01-31T00:00:00Z", &ms), KG_OK);
    const char *bad[] = {"2027-02-31T00:00:00Z",  "2027-01-31 00:00:00Z",
                         "2027-01-31T00:00:00",   "2027-01-31T00:00:00+01:00",
                         "2027-1-31T00:00:00Z",   "2027-01-31T24:00:00Z",
                         "2027-01-31T00:00:00.Z", "x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(kg_time_parse(bad[i], &ms), KG_INVALID);
}

static void test_strcpy_bounds(void **state)
{
    (void)state;
    char small[4];
    assert_int_equal(kg_strcpy(small, sizeof small, "abc"), KG_OK);
    assert_string_equal(small, "abc");
    assert_int_equal(kg_strcpy(small, sizeof small, "abcd"), KG_TOOBIG);
    assert_string_equal(small, "");
}

/* The fast formatter agrees with gmtime_r over four centuries of days, at every time of day
 * in steps, and around the epoch. */
static void test_time_format_matches_gmtime(void **state)
{
    (void)state;
    char got[40], want[64];
    for (int64_t ms = -86400000LL * 400; ms < 4102444800000LL; ms += 86400000LL * 7 + 3601001) {
        time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(ms - (int64_t)t * 1000));
        kg_time_format(ms, got, sizeof got);
        assert_string_equal(got, want);
    }
    kg_time_format(951782400000LL, got, sizeof got); /* a leap day in a year divisible by 400 */
    assert_string_equal(got, "2000-02-29T00:00:00.000Z");
    kg_time_format(253402300799999LL, got, sizeof got);
    assert_string_equal(got, "9999-12-31T23:59:59.999Z");
}

/* kg_xxh64 gives XXH64's published values: the reference implementation's, for each of its
 * code paths (under 4 bytes, 4 to 31, 32 and more). */
static void test_xxh64_known(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        uint64_t seed, want;
    } cases[] = {
        {"", 0, 0xef46db3751d8e999ull},
        {"a", 0, 0xd24ec4f1a98c6e5bull},
        {"abc", 0, 0x44bc2cf5ad770999ull},
        {"Nobody inspects the spammish repetition", 0, 0xfbcea83c8a378bf1ull},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_true(kg_xxh64(cases[i].in, strlen(cases[i].in), cases[i].seed) == cases[i].want);
    /* one byte changed anywhere in a long input changes it */
    unsigned char buf[1000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 7);
    uint64_t whole = kg_xxh64(buf, sizeof buf, 0);
    for (size_t i = 0; i < sizeof buf; i += 37) {
        buf[i] ^= 1;
        assert_true(kg_xxh64(buf, sizeof buf, 0) != whole);
        buf[i] ^= 1;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_format_matches_gmtime),
        cmocka_unit_test(test_parse_int64),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_utf8_text),
        cmocka_unit_test(test_time_round_trip),
        cmocka_unit_test(test_strcpy_bounds),
        cmocka_unit_test(test_xxh64_known),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
