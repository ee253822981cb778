/* Unit tests of err.c: every kg_err has a row in the one table of names, and the names are
 * the ones the wire and the audit log carry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "err.h"

static void test_every_value_has_a_row(void **state)
{
    (void)state;
    for (int rc = KG_OK; rc <= KG_INTERNAL; rc++) {
        assert_string_not_equal(kg_err_name((kg_err)rc), "UNKNOWN");
        assert_true(kg_err_http((kg_err)rc) >= 200 && kg_err_http((kg_err)rc) < 600);
        assert_non_null(kg_err_status((kg_err)rc));
        if (rc != KG_OK) assert_non_null(kg_err_oauth((kg_err)rc));
    }
    assert_null(kg_err_oauth(KG_OK));
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(kg_err_name(KG_NOTFOUND), "NOTFOUND");
    assert_int_equal(kg_err_http(KG_NOTFOUND), 404);
    assert_string_equal(kg_err_status(KG_NOTFOUND), "NOT_FOUND");
    assert_string_equal(kg_err_status(KG_TOOBIG), "INVALID_ARGUMENT");
    assert_int_equal(kg_err_http(KG_TOOBIG), 413);
    assert_string_equal(kg_err_oauth(KG_UNAUTHENTICATED), "invalid_client");
    assert_int_equal(kg_err_http(KG_THROTTLED), 429);
    assert_string_equal(kg_err_status(KG_THROTTLED), "RESOURCE_EXHAUSTED");
    assert_string_equal(kg_err_oauth(KG_THROTTLED), "temporarily_unavailable");
    assert_string_equal(kg_err_status(KG_UNIMPLEMENTED), "UNIMPLEMENTED");
    assert_int_equal(kg_err_http(KG_ABORTED), 409);
    assert_string_equal(kg_err_status(KG_ABORTED), "ABORTED");
}

static void test_out_of_range(void **state)
{
    (void)state;
    kg_err bad = (kg_err)(KG_INTERNAL + 1);
    assert_string_equal(kg_err_name(bad), "UNKNOWN");
    assert_int_equal(kg_err_http(bad), 500);
    assert_string_equal(kg_err_status(bad), "INTERNAL");
    assert_string_equal(kg_err_oauth(bad), "server_error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_every_value_has_a_row),
                                       cmocka_unit_test(test_names),
                                       cmocka_unit_test(test_out_of_range)};
    return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}
