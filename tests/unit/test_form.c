/* Unit tests of form.c: urlencoded bodies and Basic credentials. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "form.h"

static void test_parse_and_decode(void **state)
{
    (void)state;
    struct form f;
    const char *body = "grant_type=client_credentials&client_id=kgc_x&scope=a+b%20c%2B&empty=&flag";
    assert_int_equal(form_parse(body, strlen(body), &f), KG_OK);
    assert_string_equal(form_get(&f, "grant_type"), "client_credentials");
    assert_string_equal(form_get(&f, "client_id"), "kgc_x");
    assert_string_equal(form_get(&f, "scope"), "a b c+");
    assert_string_equal(form_get(&f, "empty"), "");
    assert_string_equal(form_get(&f, "flag"), "");
    assert_null(form_get(&f, "missing"));
    form_cleanup(&f);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    struct form f;
    static const struct {
        const char *body;
        kg_err rc;
    } cases[] = {
        {"a=1&a=2", KG_CONFLICT},
        {"a=%zz", KG_INVALID},
        {"a=%4", KG_INVALID},
        {"a=%", KG_INVALID},
        {"a=%00", KG_INVALID},
        {"%61=1&a=2", KG_CONFLICT},
        {"a=1&b=1&c=1&d=1&e=1&f=1&g=1&h=1&i=1&j=1&k=1&l=1&m=1&n=1&o=1&p=1&q=1", KG_INVALID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(form_parse(cases[i].body, strlen(cases[i].body), &f), cases[i].rc);
        form_cleanup(&f);
    }
    assert_int_equal(form_parse("", 0, &f), KG_OK);
    assert_int_equal(f.n, 0);
    form_cleanup(&f);
}

static void test_basic(void **state)
{
    (void)state;
    char id[32], secret[64];
    /* base64("kgc_abc:s3cr%3At") — the secret holds an encoded colon */
    assert_int_equal(
        form_basic("Basic a2djX2FiYzpzM2NyJTNBdA==", id, sizeof id, secret, sizeof secret), KG_OK);
    assert_string_equal(id, "kgc_abc");
    assert_string_equal(secret, "s3cr:t");
    assert_int_equal(
        form_basic("basic a2djX2FiYzpzM2NyJTNBdA==", id, sizeof id, secret, sizeof secret), KG_OK);
    assert_int_equal(form_basic("Bearer xyz", id, sizeof id, secret, sizeof secret), KG_INVALID);
    assert_int_equal(form_basic("Basic !!!!", id, sizeof id, secret, sizeof secret), KG_INVALID);
    assert_int_equal(form_basic("Basic bm9jb2xvbg==", id, sizeof id, secret, sizeof secret),
                     KG_INVALID); /* "nocolon" */
    assert_int_equal(form_basic("Basic ", id, sizeof id, secret, sizeof secret), KG_INVALID);
    char huge[2000] = "Basic ";
    memset(huge + 6, 'A', sizeof huge - 7);
    huge[sizeof huge - 1] = '\0';
    assert_int_equal(form_basic(huge, id, sizeof id, secret, sizeof secret), KG_TOOBIG);
    /* an id longer than its buffer */
    assert_int_equal(form_basic("Basic YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhOng=",
                                id, sizeof id, secret, sizeof secret),
                     KG_TOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_decode),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_basic),
    };
    return cmocka_run_group_tests_name("form", tests, NULL, NULL);
}
