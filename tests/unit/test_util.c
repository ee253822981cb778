/* Unit tests of util.c: strict numbers, UTF-8 text, RFC 3339 times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

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
    const char *bad[] = {"2027-02-31T00:00:00Z", "2027-01-31 00:00:00Z", "2027-01-31T00:00:00",
                         "2027-01-31T00:00:00+01:00", "2027-1-31T00:00:00Z", "2027-01-31T24:00:00Z",
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_int64),
        cmocka_unit_test(test_utf8_text),
        cmocka_unit_test(test_time_round_trip),
        cmocka_unit_test(test_strcpy_bounds),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
