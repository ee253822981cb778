/* Unit tests of throttle.c: free failures, doubling waits up to the cap, quiet expiry,
 * forgetting, success marks, a full table, and floods that must not wash out a lock: a
 * locked key and a success mark survive 50,000 other failures in fixed memory, and a table
 * full of locked keys fails closed for new ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <malloc.h>
#include <sodium.h>
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
    for (int i = 0; i < 20; i++)
        throttle_fail(t, "a:127.0.0.2", THROTTLE_FREE, T0);
    assert_int_equal(throttle_wait(t, "a:127.0.0.2", T0), THROTTLE_MAX_WAIT_S);
    assert_int_equal(throttle_wait(t, "a:127.0.0.2", T0 + THROTTLE_MAX_WAIT_S * 1000), 0);
    /* fifteen quiet minutes forget the count: the next failure is free again */
    throttle_fail(t, "a:127.0.0.2", THROTTLE_FREE, T0 + 16 * 60 * 1000);
    assert_int_equal(throttle_wait(t, "a:127.0.0.2", T0 + 16 * 60 * 1000), 0);
    for (int i = 0; i < 10; i++)
        throttle_fail(t, "e:x@example.com", THROTTLE_FREE, T0);
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
    for (int i = 0; i < THROTTLE_FREE + 2; i++)
        throttle_fail(t, "a:10.0.0.1", THROTTLE_FREE, T0 + 4 * THROTTLE_KEYS);
    for (int i = 0; i < THROTTLE_KEYS; i++) {
        snprintf(key, sizeof key, "c:kgc_x%015d", i);
        throttle_fail(t, key, THROTTLE_FREE,
                      T0 + 4 * THROTTLE_KEYS - 1); /* older than the attack */
    }
    assert_true(throttle_wait(t, "a:10.0.0.1", T0 + 4 * THROTTLE_KEYS) > 0);
    throttle_free(t);
}

#define FLOOD 50000

/* Fails FLOOD other keys, as an attack from hundreds of addresses with random unknown client
 * IDs and emails would (every address up to its own limit and past it), all of them newer
 * than the key under test; time runs from `from` in 1 ms steps. */
static void flood(struct throttle *t, int64_t from)
{
    char key[96];
    uint32_t r[3];
    for (int i = 0; i < FLOOD; i++) {
        randombytes_buf(r, sizeof r);
        switch (i % 5) {
        case 0:
            snprintf(key, sizeof key, "a:10.%u.%u.%u", (unsigned)(i / 5) % 500 / 250,
                     (unsigned)(i / 5) % 250, 7u);
            break;
        case 1:
            snprintf(key, sizeof key, "c:kgc_%08x%08x", (unsigned)r[0], (unsigned)r[1]);
            break;
        case 2:
            snprintf(key, sizeof key, "u:%08x%08x@example.com", (unsigned)r[0], (unsigned)r[1]);
            break;
        case 3:
            snprintf(key, sizeof key, "s:10.0.%u.7/%08x@example.com", (unsigned)(i / 5) % 250,
                     (unsigned)r[2]);
            break;
        default:
            snprintf(key, sizeof key, "p:10.1.%u.%u", (unsigned)(i / 5) % 250, 7u);
            break;
        }
        throttle_fail(t, key, i % 5 == 1 ? 10 : THROTTLE_FREE, from + i);
    }
}

/* A locked client ID, address and account stay locked however many other keys fail, and the
 * table's memory does not grow. */
static void test_locked_survives_flood(void **state)
{
    (void)state;
    static const char *const locked[] = {"c:kgc_victim0000000001", "a:192.0.2.1",
                                         "u:owner@example.com", NULL};
    struct throttle *t = NULL;
    assert_int_equal(throttle_new(&t), KG_OK);
    for (int k = 0; locked[k]; k++)
        for (int i = 0; i < 10 + 8; i++)
            throttle_fail(t, locked[k], 10, T0); /* wait 256 s */
    for (int k = 0; locked[k]; k++)
        assert_int_equal(throttle_wait(t, locked[k], T0), 256);

    struct mallinfo2 before = mallinfo2();
    flood(t, T0 + 1);
    struct mallinfo2 after = mallinfo2();
    assert_int_equal(after.uordblks, before.uordblks); /* no allocation per call */

    int64_t now = T0 + FLOOD + 1;
    for (int k = 0; locked[k]; k++) {
        int64_t w = throttle_wait(t, locked[k], now);
        if (w == 0) fail_msg("%s was evicted by the flood", locked[k]);
        assert_true(w >= 256 - (FLOOD + 1) / 1000 - 1);
    }
    /* Its wait over, a locked key is still held: the next failure waits longer, not free. */
    now = T0 + 257 * 1000;
    flood(t, now);
    now += FLOOD + 1;
    for (int k = 0; locked[k]; k++) {
        assert_int_equal(throttle_wait(t, locked[k], now), 0);
        throttle_fail(t, locked[k], 10, now);
        assert_int_equal(throttle_wait(t, locked[k], now), THROTTLE_MAX_WAIT_S);
    }
    throttle_free(t);
}

/* Success marks live apart from the failure counters: a flood of failures does not push out a
 * client's mark at its usual address. */
static void test_marks_survive_flood(void **state)
{
    (void)state;
    struct throttle *t = NULL;
    assert_int_equal(throttle_new(&t), KG_OK);
    throttle_succeed(t, "k:kgc_a@127.0.0.1", T0);
    flood(t, T0 + 1);
    assert_true(throttle_known(t, "k:kgc_a@127.0.0.1", T0 + FLOOD + 1));
    throttle_free(t);
}

/* A key below its limit gives way to a newcomer only after the keys with fewer failures: a
 * stream of one-off failures does not reset a counter on its way to the limit. */
static void test_counting_survives_one_offs(void **state)
{
    (void)state;
    struct throttle *t = NULL;
    assert_int_equal(throttle_new(&t), KG_OK);
    for (int i = 0; i < 9; i++)
        throttle_fail(t, "c:kgc_victim0000000002", 10, T0);
    char key[64];
    for (int i = 0; i < 4 * THROTTLE_KEYS; i++) {
        snprintf(key, sizeof key, "c:kgc_%016d", i);
        throttle_fail(t, key, 10, T0 + 1 + i / 1000);
    }
    throttle_fail(t, "c:kgc_victim0000000002", 10, T0 + 1000);
    assert_int_equal(throttle_wait(t, "c:kgc_victim0000000002", T0 + 1000), 1);
    throttle_free(t);
}

/* When every slot is locked, a new key cannot push one out: it is itself reported waiting
 * (failing closed) until a slot is free again, and memory stays what it was. */
static void test_full_of_locked_fails_closed(void **state)
{
    (void)state;
    struct throttle *t = NULL;
    char key[64];
    assert_int_equal(throttle_new(&t), KG_OK);
    size_t size = throttle_size(t);
    assert_true(size < 4u << 20);
    int first_closed = -1;
    for (int i = 0; i < 2 * THROTTLE_KEYS; i++) {
        snprintf(key, sizeof key, "a:locked-%d", i);
        if (first_closed < 0 && throttle_wait(t, key, T0) > 0) first_closed = i;
        throttle_fail(t, key, 1, T0); /* locked at once */
    }
    print_message("first key refused for want of room after %d locked keys (%.0f%% of %d)\n",
                  first_closed, 100.0 * first_closed / THROTTLE_KEYS, THROTTLE_KEYS);
    assert_true(first_closed > THROTTLE_KEYS / 2);
    for (int i = 0; i < 2 * THROTTLE_KEYS; i++) { /* every one is still locked, or fails closed */
        snprintf(key, sizeof key, "a:locked-%d", i);
        if (throttle_wait(t, key, T0) == 0) fail_msg("%s is not locked", key);
    }
    int64_t w = throttle_wait(t, "a:newcomer", T0 + 2000);
    assert_true(w >= 1 && w <= THROTTLE_MAX_WAIT_S);
    assert_int_equal(throttle_failures(t, "a:newcomer", T0 + 2000), 0);
    throttle_fail(t, "a:newcomer", THROTTLE_FREE, T0 + 2000); /* no room: not counted, no harm */
    assert_int_equal(throttle_size(t), size);
    /* fifteen quiet minutes free the table */
    int64_t later = T0 + (THROTTLE_QUIET_S + 1) * 1000LL;
    assert_int_equal(throttle_wait(t, "a:newcomer", later), 0);
    throttle_fail(t, "a:newcomer", THROTTLE_FREE, later);
    assert_int_equal(throttle_failures(t, "a:newcomer", later), 1);
    throttle_free(t);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_known),
        cmocka_unit_test(test_full_table),
        cmocka_unit_test(test_locked_survives_flood),
        cmocka_unit_test(test_marks_survive_flood),
        cmocka_unit_test(test_counting_survives_one_offs),
        cmocka_unit_test(test_full_of_locked_fails_closed),
    };
    return cmocka_run_group_tests_name("throttle", tests, NULL, NULL);
}
