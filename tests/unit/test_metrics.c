/* Unit tests of metrics.c: counters and histograms from several threads, and the Prometheus
 * text they are written as. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "version.h"

/* Route labels: index 1 shares index 0's pattern (counted under 0), index 3 is "unmatched". */
static const char *const routes[] = {"/a", NULL, "/b/{}:x\"y"};
#define NROUTES 3

static char *render(void)
{
    struct metrics_scrape s = {routes, NROUTES, 5, 2, "EdDSA", NULL, 0};
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(metrics_render(&s, &text, &len), KG_OK);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

/* Asserts that text holds `line` as a whole line. */
static void has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n') return;
    fail_msg("no line \"%s\" in:\n%s", line, text);
}

static void lacks(const char *text, const char *part)
{
    if (strstr(text, part)) fail_msg("\"%s\" should not be in:\n%s", part, text);
}

static void test_method(void **state)
{
    (void)state;
    assert_int_equal(metrics_method_of("GET"), METRICS_GET);
    assert_int_equal(metrics_method_of("POST"), METRICS_POST);
    assert_int_equal(metrics_method_of("OPTIONS"), METRICS_OPTIONS);
    assert_int_equal(metrics_method_of("PUT"), METRICS_PUT);
    assert_int_equal(metrics_method_of("PATCH"), METRICS_PATCH);
    assert_int_equal(metrics_method_of("DELETE"), METRICS_DELETE);
    assert_int_equal(metrics_method_of("HEAD"), METRICS_HEAD);
    assert_int_equal(metrics_method_of("PURGE"), METRICS_OTHER);
    assert_int_equal(metrics_method_of("GETX"), METRICS_OTHER);
    assert_int_equal(metrics_method_of(""), METRICS_OTHER);
    assert_int_equal(metrics_method_of("get"), METRICS_OTHER);
    assert_int_equal(metrics_method_of("PROPFIND"), METRICS_OTHER);
    assert_int_equal(metrics_method_of(NULL), METRICS_OTHER);
}

/* Families and their fixed series are written before anything is counted. */
static void test_empty(void **state)
{
    (void)state;
    char *t = render();
    has_line(t, "# TYPE keygate_http_requests_total counter");
    has_line(t, "# TYPE keygate_http_request_duration_seconds histogram");
    has_line(t, "# TYPE keygate_token_exchanges_total counter");
    has_line(t, "keygate_token_exchanges_total{result=\"issued\"} 0");
    has_line(t, "keygate_gate_decisions_total{decision=\"deny\",reason=\"policy\"} 0");
    has_line(t, "keygate_throttled_requests_total{what=\"sign_in\"} 0");
    has_line(t, "keygate_store_operation_duration_seconds_count{kind=\"read\"} 0");
    has_line(t, "keygate_api_tokens{status=\"active\"} 5");
    has_line(t, "keygate_api_tokens{status=\"revoked\"} 2");
    has_line(t, "keygate_build_info{version=\"" KG_VERSION "\",signing_alg=\"EdDSA\"} 1");
    has_line(t, "# TYPE process_start_time_seconds gauge");
    lacks(t, "keygate_http_requests_total{"); /* a series appears once counted */
    free(t);
}

static void test_requests(void **state)
{
    (void)state;
    metrics_request(0, METRICS_GET, 204, 150000); /* 150 µs */
    metrics_request(0, METRICS_GET, 200, 150000);
    metrics_request(2, METRICS_POST, 503, 3000000000u); /* 3 s */
    metrics_request(2, METRICS_POST, 999, 7000000000u); /* past every bound; a 5xx */
    metrics_request(NROUTES, METRICS_OTHER, 404, 1);
    char *t = render();
    has_line(t, "keygate_http_requests_total{route=\"/a\",method=\"GET\",status=\"2xx\"} 2");
    has_line(
        t, "keygate_http_requests_total{route=\"/b/{}:x\\\"y\",method=\"POST\",status=\"5xx\"} 2");
    has_line(t,
             "keygate_http_requests_total{route=\"unmatched\",method=\"other\",status=\"4xx\"} 1");
    const char *h = "keygate_http_request_duration_seconds";
    char line[200];
    snprintf(line, sizeof line, "%s_bucket{route=\"/a\",le=\"0.0001\"} 0", h);
    has_line(t, line);
    snprintf(line, sizeof line, "%s_bucket{route=\"/a\",le=\"0.00025\"} 2", h);
    has_line(t, line);
    snprintf(line, sizeof line, "%s_bucket{route=\"/a\",le=\"+Inf\"} 2", h);
    has_line(t, line);
    snprintf(line, sizeof line, "%s_sum{route=\"/a\"} 0.000300000", h);
    has_line(t, line);
    snprintf(line, sizeof line, "%s_count{route=\"/a\"} 2", h);
    has_line(t, line);
    snprintf(line, sizeof line, "%s_bucket{route=\"/b/{}:x\\\"y\",le=\"2.5\"} 0", h);
    has_line(t, line);
    snprintf(line, sizeof line, "%s_bucket{route=\"/b/{}:x\\\"y\",le=\"5\"} 1", h);
    has_line(t, line);
    snprintf(line, sizeof line, "%s_bucket{route=\"/b/{}:x\\\"y\",le=\"+Inf\"} 2", h);
    has_line(t, line);
    snprintf(line, sizeof line, "%s_sum{route=\"/b/{}:x\\\"y\"} 10.000000000", h);
    has_line(t, line);
    lacks(t, "route=\"(null)\"");
    free(t);
}

static void test_counters(void **state)
{
    (void)state;
    metrics_exchange(METRICS_ISSUED);
    metrics_exchange(METRICS_THROTTLED_CLIENT);
    metrics_exchange(METRICS_THROTTLED_CLIENT);
    metrics_exchange(METRICS_EXCHANGES); /* out of range: ignored */
    metrics_gate(METRICS_GATE_ALLOW);
    metrics_gate(METRICS_GATE_MISSING_TOKEN);
    metrics_throttled(METRICS_THROTTLE_CLIENT_AUTH);
    metrics_store(METRICS_STORE_WRITE, 1000000); /* 1 ms: on the bound, in its bucket */
    char *t = render();
    has_line(t, "keygate_token_exchanges_total{result=\"issued\"} 1");
    has_line(t, "keygate_token_exchanges_total{result=\"throttled\"} 2");
    has_line(t, "keygate_gate_decisions_total{decision=\"allow\",reason=\"privilege\"} 1");
    has_line(t, "keygate_gate_decisions_total{decision=\"invalid\",reason=\"no_token\"} 1");
    has_line(t, "keygate_throttled_requests_total{what=\"client_authentication\"} 1");
    const char *s = "keygate_store_operation_duration_seconds";
    char line[200];
    snprintf(line, sizeof line, "%s_bucket{kind=\"write\",le=\"0.0005\"} 0", s);
    has_line(t, line);
    snprintf(line, sizeof line, "%s_bucket{kind=\"write\",le=\"0.001\"} 1", s);
    has_line(t, line);
    snprintf(line, sizeof line, "%s_sum{kind=\"write\"} 0.001000000", s);
    has_line(t, line);
    free(t);
}

#define THREADS 8
#define EACH 20000

static void *count(void *arg)
{
    (void)arg;
    for (int i = 0; i < EACH; i++) {
        metrics_gate(METRICS_GATE_DENY_PRIVILEGE);
        metrics_request(1, METRICS_DELETE, 403, 50000);
    }
    return NULL;
}

/* Counts from many threads (more than one a shard, some sharing) all arrive. */
static void test_threads(void **state)
{
    (void)state;
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, count, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    char *t = render();
    char line[200];
    snprintf(line, sizeof line,
             "keygate_gate_decisions_total{decision=\"deny\",reason=\"privilege\"} %d",
             THREADS * EACH);
    has_line(t, line);
    /* index 1 is counted under no label of its own (routes[1] is NULL): not written */
    lacks(t, "method=\"DELETE\"");
    free(t);
}

/* The text is what Prometheus' parser accepts: every sample line is NAME[{…}] VALUE, and every
 * family has HELP before TYPE. */
static void test_format(void **state)
{
    (void)state;
    char *t = render();
    assert_true(t[strlen(t) - 1] == '\n');
    char *save = NULL;
    for (char *l = strtok_r(t, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (l[0] == '#') {
            assert_true(strncmp(l, "# HELP ", 7) == 0 || strncmp(l, "# TYPE ", 7) == 0);
            continue;
        }
        char *sp = strrchr(l, ' ');
        assert_non_null(sp);
        char *end = NULL;
        strtod(sp + 1, &end);
        assert_true(end && *end == '\0');
        assert_true(strncmp(l, "keygate_", 8) == 0 || strncmp(l, "process_", 8) == 0);
    }
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_method),   cmocka_unit_test(test_empty),
        cmocka_unit_test(test_requests), cmocka_unit_test(test_counters),
        cmocka_unit_test(test_threads),  cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
