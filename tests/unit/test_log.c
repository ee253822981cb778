/* Unit tests of log.c: untrusted text is made safe for a log line; a request's line, as text
 * and as JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

/* Writes r's line at level into buf (stderr, for the call, is a file). */
static void request_line(int level, const struct kg_log_req *r, char *buf, size_t size)
{
    FILE *saved = stderr, *f = tmpfile();
    assert_non_null(f);
    stderr = f;
    kg_log_request(level, r);
    stderr = saved;
    rewind(f);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
}

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

static const struct kg_log_req gate_req = {
    .req = 17,
    .method = "GET",
    .path = "/gate",
    .status = 403,
    .ns = 412345,
    .bytes = 93,
    .client = "127.0.0.1",
    .actor = "kgc_AAAAAAAAAAAAAAAA",
    .orig_method = "POST",
    .orig_uri = "/api/\"x\"/eyJhbGciOiJFZERTQSJ9.eyJ4IjoxfQ.c2ln\n?password=hunter2",
    .error = "no policy rule allows this route",
};

static void test_request_text(void **state)
{
    (void)state;
    char buf[4096];
    kg_log_json = 0;
    request_line(LOG_DEBUG, &gate_req, buf, sizeof buf);
    const char *want = " debug  req=17 GET /gate 403 0.412ms 93B client=127.0.0.1 "
                       "actor=kgc_AAAAAAAAAAAAAAAA orig=\"POST /api/'x'/[redacted]?\" "
                       "error=\"no policy rule allows this route\"\n";
    assert_non_null(strstr(buf, want));
    assert_int_equal(strchr(buf, '\n') - buf + 1, strlen(buf)); /* one line */
    assert_null(strstr(buf, "hunter2"));                        /* no query */
    struct kg_log_req none = {.req = 3, .method = "GET", .path = "/healthz", .status = 200};
    request_line(LOG_INFO, &none, buf, sizeof buf);
    assert_non_null(strstr(buf, " info   req=3 GET /healthz 200 0.000ms 0B client=- actor=-\n"));
}

static void test_request_json(void **state)
{
    (void)state;
    char buf[8192];
    kg_log_json = 1;
    request_line(LOG_DEBUG, &gate_req, buf, sizeof buf);
    json_error_t err;
    json_t *o = json_loads(buf, 0, &err);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "debug");
    assert_int_equal(json_integer_value(json_object_get(o, "req")), 17);
    assert_string_equal(json_string_value(json_object_get(o, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(o, "path")), "/gate");
    assert_int_equal(json_integer_value(json_object_get(o, "status")), 403);
    assert_true(json_real_value(json_object_get(o, "ms")) == 0.412);
    assert_int_equal(json_integer_value(json_object_get(o, "bytes")), 93);
    assert_string_equal(json_string_value(json_object_get(o, "client")), "127.0.0.1");
    assert_string_equal(json_string_value(json_object_get(o, "actor")), "kgc_AAAAAAAAAAAAAAAA");
    assert_string_equal(json_string_value(json_object_get(o, "orig_method")), "POST");
    assert_string_equal(json_string_value(json_object_get(o, "orig_uri")),
                        "/api/\"x\"/[redacted]?");
    assert_string_equal(json_string_value(json_object_get(o, "error")),
                        "no policy rule allows this route");
    json_decref(o);
    /* no actor: null; a path long enough to cut the line short still gives JSON */
    char path[3000];
    memset(path, '"', sizeof path - 1);
    path[sizeof path - 1] = '\0';
    struct kg_log_req r = {.req = 4, .method = "GET", .path = path, .status = 404, .error = path};
    request_line(LOG_INFO, &r, buf, sizeof buf);
    o = json_loads(buf, 0, &err);
    assert_non_null(o);
    assert_true(json_is_null(json_object_get(o, "actor")) || !json_object_get(o, "actor"));
    assert_int_equal(json_integer_value(json_object_get(o, "status")), 404);
    json_decref(o);
    kg_log_json = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_clean),
                                       cmocka_unit_test(test_request_text),
                                       cmocka_unit_test(test_request_json)};
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
