/* Unit tests of ids.c: formats, checksum, uniqueness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <regex.h>
#include <sodium.h>
#include <string.h>

#include "ids.h"

static int matches(const char *re, const char *s)
{
    regex_t r;
    assert_int_equal(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
    int ok = regexec(&r, s, 0, NULL, 0) == 0;
    regfree(&r);
    return ok;
}

static void test_crc32_known_value(void **state)
{
    (void)state;
    assert_int_equal(ids_crc32("123456789", 9), 0xCBF43926u); /* the CRC-32 check value */
    assert_int_equal(ids_crc32("", 0), 0);
}

static void test_formats(void **state)
{
    (void)state;
    char cid[KG_CLIENT_ID_LEN + 1], sec[KG_SECRET_LEN + 1], rid[KG_ROLE_ID_LEN + 1],
        uid[KG_USER_ID_LEN + 1], jti[KG_JTI_LEN + 1], aid[KG_ACCOUNT_ID_LEN + 1];
    for (int i = 0; i < 200; i++) {
        ids_account_id(aid);
        assert_true(matches("^a-[0-9]{10}$", aid));
        assert_true(ids_account_id_valid(aid));
        ids_client_id(cid);
        ids_secret(sec);
        ids_role_id(rid);
        ids_user_id(uid);
        ids_jti(jti);
        assert_true(matches("^kgc_[0-9A-Za-z]{16}$", cid));
        assert_true(matches("^kgs_[0-9A-Za-z]{38}$", sec));
        assert_true(matches("^r-[0-9]{10}$", rid));
        assert_true(matches("^u-[0-9]{10}$", uid));
        assert_true(matches("^[0-9A-Za-z]{22}$", jti));
        assert_true(ids_client_id_valid(cid));
        assert_true(ids_secret_valid(sec));
        assert_true(ids_role_id_valid(rid));
        assert_true(ids_user_id_valid(uid));
    }
}

/* jtis come from a per-thread pool refilled 4 KiB at a time, each from a seed of its own:
 * across refills they stay distinct (one seed for all would repeat the pool), and every
 * character of the alphabet turns up. */
static void test_jtis_distinct(void **state)
{
    (void)state;
    enum { N = 2000 }; /* 44,000 characters and more (some bytes are skipped): 11 refills */
    static char jtis[N][KG_JTI_LEN + 1];
    int seen[128] = {0};
    for (int i = 0; i < N; i++) {
        ids_jti(jtis[i]);
        for (int k = 0; k < KG_JTI_LEN; k++)
            seen[(unsigned char)jtis[i][k] & 127]++;
        for (int j = 0; j < i; j++)
            assert_string_not_equal(jtis[i], jtis[j]);
    }
    int kinds = 0;
    for (int c = 0; c < 128; c++)
        kinds += seen[c] > 0;
    assert_int_equal(kinds, 62);
}

static void test_secret_ids(void **state)
{
    (void)state;
    char id[KG_SECRET_ID_LEN + 1];
    ids_secret_id(42, id);
    assert_string_equal(id, "s-0000000042");
    assert_int_equal(ids_secret_seq(id), 42);
    ids_secret_id(9999999999, id);
    assert_int_equal(ids_secret_seq(id), 9999999999);
    static const char *const bad[] = {
        "s-000000004", "s-00000000042", "r-0000000042", "s-00000000x2", "", "s-", NULL};
    for (size_t i = 0; bad[i]; i++)
        assert_int_equal(ids_secret_seq(bad[i]), 0);
    assert_int_equal(ids_secret_seq(NULL), 0);
}

static void test_secret_checksum_catches_typos(void **state)
{
    (void)state;
    char sec[KG_SECRET_LEN + 1];
    ids_secret(sec);
    for (size_t i = 4; i < KG_SECRET_LEN; i++) {
        char bad[KG_SECRET_LEN + 1];
        memcpy(bad, sec, sizeof bad);
        bad[i] = bad[i] == 'a' ? 'b' : 'a';
        assert_false(ids_secret_valid(bad));
    }
    assert_false(ids_secret_valid("kgs_short"));
    assert_false(ids_client_id_valid("kgc_0123456789abcdef0")); /* one too long */
    assert_false(ids_client_id_valid("kgc_0123456789abcde-"));
    assert_false(ids_role_id_valid("r-12345678901"));
    assert_false(ids_role_id_valid("r-123456789a"));
    assert_false(ids_account_id_valid("a-12345678901"));
    assert_false(ids_account_id_valid("r-1234567890"));
    assert_false(ids_account_id_valid(""));
}

static void test_ids_are_distinct(void **state)
{
    (void)state;
    enum { N = 2000 };
    static char seen[N][KG_CLIENT_ID_LEN + 1];
    for (int i = 0; i < N; i++) {
        ids_client_id(seen[i]);
        for (int k = 0; k < i; k++)
            assert_string_not_equal(seen[i], seen[k]);
    }
}

/* Every base62 character is equally likely: a chi-square test over 62,000 characters
 * (61 degrees of freedom; 110 is far past the 0.9999 quantile, about 112 would be 1e-4). */
static void test_base62_is_uniform(void **state)
{
    (void)state;
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    enum { N = 62000 };
    static char s[N + 1];
    int count[256] = {0};
    ids_base62(s, N);
    assert_int_equal(strlen(s), N);
    for (int i = 0; i < N; i++)
        count[(unsigned char)s[i]]++;
    double chi = 0, expect = N / 62.0;
    for (int i = 0; i < 62; i++) {
        double d = count[(unsigned char)b62[i]] - expect;
        chi += d * d / expect;
    }
    assert_true(chi < 110.0);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32_known_value),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_jtis_distinct),
        cmocka_unit_test(test_secret_ids),
        cmocka_unit_test(test_secret_checksum_catches_typos),
        cmocka_unit_test(test_ids_are_distinct),
        cmocka_unit_test(test_base62_is_uniform),
    };
    return cmocka_run_group_tests_name("ids", tests, NULL, NULL);
}
