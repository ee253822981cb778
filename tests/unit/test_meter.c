/* Unit tests of meter.c: the GCRA bucket (a burst of `requests`, then one each
 * period/requests; the RateLimit figures; Retry-After), charges from other nodes, the running
 * counts the flusher takes, and the once-a-minute note. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "meter.h"

#define T0 1800000000000LL

static void test_burst_then_refill(void **state)
{
    (void)state;
    struct meter m;
    struct meter_verdict v;
    memset(&m, 0, sizeof m);
    /* 10 requests a minute: 10 at once, then one every 6 s */
    for (int i = 0; i < 10; i++) {
        assert_int_equal(meter_take(&m, 10, 60, T0, &v), 1);
        assert_int_equal(v.allowed, 1);
        assert_int_equal(v.remaining, 9 - i);
        assert_int_equal(v.reset_s, (i + 1) * 6); /* seconds until the bucket is full again */
    }
    assert_int_equal(meter_take(&m, 10, 60, T0, &v), 0);
    assert_int_equal(v.remaining, 0);
    assert_int_equal(v.retry_after, 6);
    assert_int_equal(meter_take(&m, 10, 60, T0 + 5999, &v), 0); /* refused: nothing charged */
    assert_int_equal(v.retry_after, 1);
    assert_int_equal(meter_take(&m, 10, 60, T0 + 6000, &v), 1);
    assert_int_equal(v.remaining, 0);
    assert_int_equal(meter_take(&m, 10, 60, T0 + 6000, &v), 0);
    /* a full period later the whole burst is back */
    for (int i = 0; i < 10; i++)
        assert_int_equal(meter_take(&m, 10, 60, T0 + 6000 + 60000, &v), 1);
    assert_int_equal(meter_take(&m, 10, 60, T0 + 6000 + 60000, &v), 0);
    assert_int_equal(atomic_load(&m.admitted), 21);
}

/* A rate that does not divide the period (3 a second) and a large one (a billion a day). */
static void test_uneven_and_large(void **state)
{
    (void)state;
    struct meter m;
    struct meter_verdict v;
    int passed = 0;
    memset(&m, 0, sizeof m);
    for (int ms = 0; ms < 10000; ms += 10) /* 10 s at 100 requests a second */
        passed += meter_take(&m, 3, 1, T0 + ms, &v);
    assert_int_equal(passed, 3 + 30 - 1); /* the burst, then 3 a second (the last still due) */
    memset(&m, 0, sizeof m);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(meter_take(&m, 1000000000, 86400, T0, &v), 1);
    assert_int_equal(v.remaining, 1000000000 - 100000);
}

/* A limit changed to a faster one: the bucket owes at most one period of the new limit. */
static void test_limit_changed(void **state)
{
    (void)state;
    struct meter m;
    struct meter_verdict v;
    memset(&m, 0, sizeof m);
    for (int i = 0; i < 10; i++) /* 10 a day, used up: full again in a day */
        assert_int_equal(meter_take(&m, 10, 86400, T0, &v), 1);
    assert_int_equal(meter_take(&m, 10, 86400, T0, &v), 0);
    meter_limit_changed(&m, 60, T0); /* now 1000 a minute: empty, but not for a day */
    assert_int_equal(meter_take(&m, 1000, 60, T0, &v), 0);
    assert_int_equal(v.retry_after, 1);
    assert_int_equal(v.reset_s, 60);
    assert_int_equal(meter_take(&m, 1000, 60, T0 + 60, &v), 1);
    assert_int_equal(meter_take(&m, 1000, 60, T0 + 60, &v), 0);
    meter_limit_changed(&m, 0, T0 + 60); /* no limit any more: the next one starts full */
    for (int i = 0; i < 10; i++)
        assert_int_equal(meter_take(&m, 10, 60, T0 + 60, &v), 1);
}

/* What other nodes admitted is charged to this bucket, never below empty. */
static void test_charge(void **state)
{
    (void)state;
    struct meter m;
    struct meter_verdict v;
    memset(&m, 0, sizeof m);
    meter_charge(&m, 7, 10, 60, T0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(meter_take(&m, 10, 60, T0, &v), 1);
    assert_int_equal(meter_take(&m, 10, 60, T0, &v), 0);
    meter_charge(&m, 1000, 10, 60, T0); /* no deeper than empty */
    assert_int_equal(meter_take(&m, 10, 60, T0 + 6000, &v), 1);
    meter_charge(&m, 0, 10, 60, T0);
    meter_charge(&m, -5, 10, 60, T0);
    assert_int_equal(meter_take(&m, 10, 60, T0 + 6000, &v), 0);
}

/* Counts: the first since the flusher looked queues the meter; the flusher takes differences. */
static void test_counts(void **state)
{
    (void)state;
    struct meter m;
    int64_t got[KG_USE_KINDS] = {0};
    memset(&m, 0, sizeof m);
    assert_int_equal(meter_count(&m, KG_USE_GATE_ALLOWED), 1);
    assert_int_equal(meter_count(&m, KG_USE_GATE_ALLOWED), 0);
    assert_int_equal(meter_count(&m, KG_USE_REFUSED_RATE), 0);
    assert_int_equal(meter_take_counts(&m, got), 1);
    assert_int_equal(got[KG_USE_GATE_ALLOWED], 2);
    assert_int_equal(got[KG_USE_REFUSED_RATE], 1);
    assert_int_equal(got[KG_USE_EXCHANGE], 0);
    memset(got, 0, sizeof got);
    assert_int_equal(meter_take_counts(&m, got), 0);       /* nothing new */
    assert_int_equal(meter_count(&m, KG_USE_API_CALL), 1); /* clean again: queued again */
    assert_int_equal(meter_take_counts(&m, got), 1);
    assert_int_equal(got[KG_USE_API_CALL], 1);
    assert_int_equal(got[KG_USE_GATE_ALLOWED], 0);
}

/* This node's admissions per window, for the others. */
static void test_admitted_since(void **state)
{
    (void)state;
    struct meter m;
    struct meter_verdict v;
    int64_t start;
    memset(&m, 0, sizeof m);
    const int64_t w = T0 - T0 % 60000;
    for (int i = 0; i < 4; i++)
        meter_take(&m, 100, 60, w + 1000, &v);
    assert_int_equal(meter_admitted_since(&m, 60000, w + 1000, &start), 4);
    assert_int_equal(start, w);
    meter_take(&m, 100, 60, w + 2000, &v);
    assert_int_equal(meter_admitted_since(&m, 60000, w + 2000, &start), 5);
    meter_take(&m, 100, 60, w + 61000, &v);
    assert_int_equal(meter_admitted_since(&m, 60000, w + 61000, &start), 1); /* a new window */
    assert_int_equal(start, w + 60000);
}

static void test_once(void **state)
{
    (void)state;
    struct meter m;
    memset(&m, 0, sizeof m);
    assert_int_equal(meter_once(&m, 0, T0, 60000), 1);
    assert_int_equal(meter_once(&m, 0, T0 + 59999, 60000), 0);
    assert_int_equal(meter_once(&m, 0, T0 + 60000, 60000), 1);
    assert_int_equal(meter_once(&m, 1, T0 + 60000, 60000), 1); /* each `which` on its own */
    assert_int_equal(meter_once(&m, 1, T0 + 60001, 60000), 0);
    assert_int_equal(meter_once(&m, METER_NOTES, T0, 60000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refill),
        cmocka_unit_test(test_uneven_and_large),
        cmocka_unit_test(test_charge),
        cmocka_unit_test(test_limit_changed),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_admitted_since),
        cmocka_unit_test(test_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
