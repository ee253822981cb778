/* Unit tests of log.c: untrusted text is made safe for a log line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "log.h"

static void test_clean(void **state)
{
    (void)state;
    char out[64];
    kg_log_clean("/public/api/v1/apiToken/kgc_abc", out, sizeof out);
    assert_string_equal(out, "/public/api/v1/apiToken/kgc_abc");
    kg_log_clean("/x/kgs_9Z7viukaNZWmkhjgxIgqxxfDK6jScjmR1qFq3n:revoke", out, sizeof out);
    assert_string_equal(out, "/x/[redacted]:revoke");
    kg_log_clean("/x/eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln/y", out, sizeof out);
    assert_string_equal(out, "/x/[redacted]/y");
    kg_log_clean("/a\nFAKE line\x7f\xc3\xa9", out, sizeof out);
    assert_string_equal(out, "/a?FAKE line???");
    char small[8];
    kg_log_clean("/0123456789", small, sizeof small);
    assert_string_equal(small, "/012345");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_clean)};
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
