/* Unit tests of throttle.c: free failures, doubling waits up to the cap, quiet expiry,
 * forgetting, success marks, and a full table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "throttle.h"

#define T0 1800000000000LL

static void test_backoff(void **state)
{
    (void)state;
    struct throttle *t = NULL;
    assert_int_equal(throttle_new(&t), KG_OK);
    for (int i = 0; i < THROTTLE_FREE - 1; i++) {
        throttle_fail(t, "a:127.0.0.2", THROTTLE_FREE, T0);
        assert_int_equal(throttle_wait(t, "a:127.0.0.2", T0), 0);
    }
    throttle_fail(t, "a:127.0.0.2", THROTTLE_FREE, T0);
    assert_int_equal(throttle_wait(t, "a:127.0.0.2", T0), 1);
    throttle_fail(t, "a:127.0.0.2", THROTTLE_FREE, T0);
    assert_int_equal(throttle_wait(t, "a:127.0.0.2", T0), 2);
    throttle_fail(t, "a:127.0.0.2", THROTTLE_FREE, T0);
    assert_int_equal(throttle_wait(t, "a:127.0.0.2", T0), 4);
    assert_int_equal(throttle_wait(t, "a:127.0.0.3", T0), 0); /* another key is untouched */
    for (int i = 0; i < 20; i++) throttle_fail(t, "a:127.0.0.2", THROTTLE_FREE, T0);
    assert_int_equal(throttle_wait(t, "a:127.0.0.2", T0), THROTTLE_MAX_WAIT_S);
    assert_int_equal(throttle_wait(t, "a:127.0.0.2", T0 + THROTTLE_MAX_WAIT_S * 1000), 0);
    /* fifteen quiet minutes forget the count: the next failure is free again */
    throttle_fail(t, "a:127.0.0.2", THROTTLE_FREE, T0 + 16 * 60 * 1000);
    assert_int_equal(throttle_wait(t, "a:127.0.0.2", T0 + 16 * 60 * 1000), 0);
    for (int i = 0; i < 10; i++) throttle_fail(t, "e:x@example.com", THROTTLE_FREE, T0);
    assert_true(throttle_wait(t, "e:x@example.com", T0) > 0);
    throttle_forget(t, "e:x@example.com");
    assert_int_equal(throttle_wait(t, "e:x@example.com", T0), 0);
    throttle_free(t);
}

static void test_known(void **state)
{
    (void)state;
    struct throttle *t = NULL;
    assert_int_equal(throttle_new(&t), KG_OK);
    assert_false(throttle_known(t, "k:kgc_a@127.0.0.1", T0));
    throttle_succeed(t, "k:kgc_a@127.0.0.1", T0);
    assert_true(throttle_known(t, "k:kgc_a@127.0.0.1", T0 + 1000));
    assert_false(throttle_known(t, "k:kgc_a@127.0.0.2", T0 + 1000));
    assert_false(throttle_known(t, "k:kgc_a@127.0.0.1", T0 + (THROTTLE_KNOWN_S + 1) * 1000LL));
    throttle_free(t);
}

/* Far more keys than entries: every call still answers, the newest failures are kept, and a
 * key under attack right now is not pushed out by older ones. */
static void test_full_table(void **state)
{
    (void)state;
    struct throttle *t = NULL;
    char key[64];
    assert_int_equal(throttle_new(&t), KG_OK);
    for (int i = 0; i < 4 * THROTTLE_KEYS; i++) {
        snprintf(key, sizeof key, "c:kgc_%016d", i);
        throttle_fail(t, key, THROTTLE_FREE, T0 + i);
    }
    for (int i = 0; i < THROTTLE_FREE + 2; i++) throttle_fail(t, "a:10.0.0.1", THROTTLE_FREE, T0 + 4 * THROTTLE_KEYS);
    for (int i = 0; i < THROTTLE_KEYS; i++) {
        snprintf(key, sizeof key, "c:kgc_x%015d", i);
        throttle_fail(t, key, THROTTLE_FREE, T0 + 4 * THROTTLE_KEYS - 1); /* older than the attack */
    }
    assert_true(throttle_wait(t, "a:10.0.0.1", T0 + 4 * THROTTLE_KEYS) > 0);
    throttle_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_known),
        cmocka_unit_test(test_full_table),
    };
    return cmocka_run_group_tests_name("throttle", tests, NULL, NULL);
}
