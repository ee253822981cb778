/* Unit tests of jsonw.c: every string jsonw_str writes parses back (jansson) to itself, and a
 * token rendered as text is the same object render_token returns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "jsonw.h"
#include "render.h"

static void roundtrip(const char *s)
{
    struct jsonw w;
    jsonw_init(&w);
    jsonw_raw(&w, "[");
    jsonw_str(&w, s);
    jsonw_raw(&w, "]");
    assert_false(w.oom);
    json_error_t e;
    json_t *a = json_loadb(w.text, w.len, 0, &e);
    assert_non_null(a);
    assert_string_equal(json_string_value(json_array_get(a, 0)), s);
    json_decref(a);
    jsonw_cleanup(&w);
}

static void test_strings_round_trip(void **state)
{
    (void)state;
    char every[128];
    for (int i = 1; i < 128; i++)
        every[i - 1] = (char)i; /* every ASCII byte but NUL */
    every[127] = '\0';
    roundtrip(every);
    roundtrip("");
    roundtrip("say \"hi\" \\ back\\");
    roundtrip("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91"); /* UTF-8 passes through */
    roundtrip("</script><!--");
}

static void test_long_text_grows(void **state)
{
    (void)state;
    static char big[100000];
    memset(big, 'x', sizeof big - 1);
    big[5000] = '\n';
    roundtrip(big);
}

/* Room made at once holds what is written in pieces after it, with no growing; a text that
 * outgrows it still grows, the bytes kept. */
static void test_reserve(void **state)
{
    (void)state;
    struct jsonw w;
    jsonw_init(&w);
    jsonw_raw(&w, "[");
    jsonw_reserve(&w, 5000);
    assert_true(w.cap >= 5002);
    char *room = w.text;
    for (int i = 0; i < 1000; i++)
        jsonw_bytes(&w, "1,2,3", i < 999 ? 4 : 5);
    assert_ptr_equal(w.text, room); /* 4,000 bytes: in the room made */
    for (int i = 0; i < 1000; i++)
        jsonw_raw(&w, ",4");
    jsonw_raw(&w, "]");
    assert_false(w.oom);
    assert_int_equal(w.len, 1 + 999 * 4 + 5 + 2000 + 1);
    assert_memory_equal(w.text, "[1,2,1,2,", 9);
    assert_memory_equal(w.text + w.len - 7, ",4,4,4]", 7);
    assert_int_equal(w.text[w.len], '\0');
    jsonw_cleanup(&w);
}

static void test_token_text_equals_tree(void **state)
{
    (void)state;
    struct kg_token t;
    memset(&t, 0, sizeof t);
    strcpy(t.client_id, "kgc_0123456789abcdef");
    strcpy(t.description, "line one\nline \"two\"\t\x01");
    strcpy(t.role_id, "r-0000000001");
    strcpy(t.role_name, "accountadmin");
    strcpy(t.created_by, "u-0000000002");
    t.status = KG_TOKEN_REVOKED;
    t.created_on = 1764582800123;
    t.revoked_on = 1764582900000;
    t.nsecrets = 2; /* one expired in 2025, one that never expires */
    t.secrets[0].expires_on = 1764582900000;
    t.rate_requests = 100;
    t.rate_period_s = 60;
    strcpy(t.cidrs, "203.0.113.0/24,2001:db8::/32");
    json_t *o = render_token(&t, 1764582850000, "kgs_secret");
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "description")), t.description);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "Revoked");
    assert_string_equal(json_string_value(json_object_get(o, "createdOn")),
                        "2025-12-01T09:53:20.123Z");
    assert_string_equal(json_string_value(json_object_get(o, "lastAccessOn")),
                        "2025-12-01T09:54:10.000Z");
    assert_true(json_is_null(json_object_get(o, "expiresOn")));
    assert_string_equal(json_string_value(json_object_get(o, "clientSecret")), "kgs_secret");
    assert_int_equal(json_integer_value(json_object_get(o, "secretCount")), 1);
    assert_true(json_is_null(json_object_get(o, "secretsExpireOn"))); /* the live one never does */
    json_t *rl = json_object_get(o, "rateLimit"), *cidrs = json_object_get(o, "allowedCidrs");
    assert_int_equal(json_integer_value(json_object_get(rl, "requests")), 100);
    assert_int_equal(json_integer_value(json_object_get(rl, "periodSeconds")), 60);
    assert_int_equal(json_array_size(cidrs), 2);
    assert_string_equal(json_string_value(json_array_get(cidrs, 0)), "203.0.113.0/24");
    assert_string_equal(json_string_value(json_array_get(cidrs, 1)), "2001:db8::/32");
    assert_int_equal(json_object_size(o), 15);
    t.rate_requests = t.rate_period_s = 0;
    t.cidrs[0] = '\0';
    json_decref(o);
    o = render_token(&t, 0, NULL);
    assert_true(json_is_null(json_object_get(o, "rateLimit")));
    assert_int_equal(json_array_size(json_object_get(o, "allowedCidrs")), 0);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings_round_trip),
        cmocka_unit_test(test_long_text_grows),
        cmocka_unit_test(test_reserve),
        cmocka_unit_test(test_token_text_equals_tree),
    };
    return cmocka_run_group_tests_name("jsonw", tests, NULL, NULL);
}
