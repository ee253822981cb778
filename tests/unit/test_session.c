/* Unit tests of session.c: create, look up, idle expiry, end, end per user, a crowded table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

static void test_lifecycle(void **state)
{
    (void)state;
    struct sessions *s = NULL;
    struct session_info info, got;
    char id[KG_SESSION_ID_LEN + 1], other[KG_SESSION_ID_LEN + 1];
    assert_int_equal(sessions_new(60, &s), KG_OK);
    assert_int_equal(sessions_create(s, "u-0000000001", "", 1000, id, &info), KG_OK);
    assert_int_equal(strlen(id), KG_SESSION_ID_LEN);
    assert_int_equal(sessions_get(s, id, 2000, &got), KG_OK);
    assert_string_equal(got.user_id, "u-0000000001");
    assert_string_equal(got.csrf, info.csrf);
    assert_string_not_equal(got.csrf, id);

    memcpy(other, id, sizeof other);
    other[5] ^= 1; /* one character off */
    assert_int_equal(sessions_get(s, other, 2000, &got), KG_UNAUTHENTICATED);
    assert_int_equal(sessions_get(s, "short", 2000, &got), KG_UNAUTHENTICATED);
    assert_int_equal(sessions_get(s, "", 2000, &got), KG_UNAUTHENTICATED);

    /* used at 2000: still alive at 62000, gone after 60 s unused */
    assert_int_equal(sessions_get(s, id, 62000, &got), KG_OK);
    assert_int_equal(sessions_get(s, id, 122001, &got), KG_UNAUTHENTICATED);
    assert_int_equal(sessions_get(s, id, 122002, &got), KG_UNAUTHENTICATED); /* and stays gone */

    assert_int_equal(sessions_create(s, "u-0000000002", "", 200000, id, &info), KG_OK);
    sessions_end(s, id);
    assert_int_equal(sessions_get(s, id, 200001, &got), KG_UNAUTHENTICATED);
    sessions_end(s, "not-a-session");
    sessions_free(s);
}

/* A session begun under one password hash does not outlive a change of it. */
static void test_password_stamp(void **state)
{
    (void)state;
    struct sessions *s = NULL;
    struct session_info info, got;
    char id[KG_SESSION_ID_LEN + 1];
    const char *before = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g";
    const char *after = "$argon2id$v=19$m=65536,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA";
    assert_int_equal(sessions_new(60, &s), KG_OK);
    assert_int_equal(sessions_create(s, "u-0000000001", before, 1000, id, &info), KG_OK);
    assert_int_equal(sessions_get(s, id, 2000, &got), KG_OK);
    assert_true(session_password_current(&got, before));
    assert_false(session_password_current(&got, after));
    assert_false(session_password_current(&got, ""));
    sessions_free(s);
}

static void test_many_and_per_user(void **state)
{
    (void)state;
    enum { N = 500 }; /* a bucket overflowing is then a one-in-a-million event */
    static char ids[N][KG_SESSION_ID_LEN + 1];
    struct sessions *s = NULL;
    struct session_info info, got;
    assert_int_equal(sessions_new(3600, &s), KG_OK);
    for (int i = 0; i < N; i++) {
        char user[16];
        snprintf(user, sizeof user, "u-%010d", i % 10);
        assert_int_equal(sessions_create(s, user, "", 1000 + i, ids[i], &info), KG_OK);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(sessions_get(s, ids[i], 5000, &got), KG_OK);
        char user[16];
        snprintf(user, sizeof user, "u-%010d", i % 10);
        assert_string_equal(got.user_id, user);
    }
    sessions_end_user(s, "u-0000000003");
    for (int i = 0; i < N; i++)
        assert_int_equal(sessions_get(s, ids[i], 6000, &got),
                         i % 10 == 3 ? KG_UNAUTHENTICATED : KG_OK);
    sessions_free(s);
}

/* Twice as many sign-ins as slots: each one works at once (the oldest near it gives way). */
static void test_crowded(void **state)
{
    (void)state;
    struct sessions *s = NULL;
    struct session_info info, got;
    char id[KG_SESSION_ID_LEN + 1];
    assert_int_equal(sessions_new(3600, &s), KG_OK);
    for (int i = 0; i < 2 * KG_SESSIONS_MAX; i++) {
        assert_int_equal(sessions_create(s, "u-0000000001", "", 1000 + i, id, &info), KG_OK);
        assert_int_equal(sessions_get(s, id, 1000 + i, &got), KG_OK);
    }
    sessions_free(s);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_password_stamp),
        cmocka_unit_test(test_many_and_per_user),
        cmocka_unit_test(test_crowded),
    };
    return cmocka_run_group_tests_name("session", tests, NULL, NULL);
}
