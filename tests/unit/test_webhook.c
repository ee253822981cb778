/* Unit tests of webhook.c and webhook_send.c: the signature (a value computed elsewhere, with
 * Python's hmac), the event body, the webhook ID, reading the configuration, showing a URL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "webhook.h"
#include "webhook_send.h"

static void test_signature_known_value(void **state)
{
    (void)state;
    static const char secret[] = "whsec_test_secret_0123456789", body[] = "{\"id\":\"evt_1\"}";
    char sig[WEBHOOK_SIGNATURE_MAX + 1];
    /* python3: hmac.new(secret, b'1700000000.' + body, sha256).hexdigest() */
    webhook_signature((const unsigned char *)secret, strlen(secret), 1700000000, body, strlen(body),
                      sig);
    assert_string_equal(
        sig, "t=1700000000,v1=7e9a82a20098cf01f04d9c09f5a7459669bfecf51392ce3adb1445906fceff61");
    /* another time, another body or another secret: another signature */
    char other[WEBHOOK_SIGNATURE_MAX + 1];
    webhook_signature((const unsigned char *)secret, strlen(secret), 1700000001, body, strlen(body),
                      other);
    assert_string_not_equal(strchr(sig, ','), strchr(other, ','));
    webhook_signature((const unsigned char *)secret, strlen(secret), 1700000000, "{}", 2, other);
    assert_string_not_equal(sig, other);
    webhook_signature((const unsigned char *)"whsec_test_secret_0123456780", strlen(secret),
                      1700000000, body, strlen(body), other);
    assert_string_not_equal(sig, other);
}

static void test_event_body(void **state)
{
    (void)state;
    struct kg_audit e = {.seq = 42, .at = 1700000000123};
    strcpy(e.actor, "kgc_0123456789abcdef");
    strcpy(e.action, "apiToken.revoke");
    strcpy(e.target, "kgc_fedcba9876543210");
    strcpy(e.address, "127.0.0.1");
    strcpy(e.outcome, "OK");
    strcpy(e.detail, "a \"quoted\" detail");
    char *body = webhook_event_body(&e);
    assert_non_null(body);
    json_error_t err;
    json_t *o = json_loads(body, 0, &err);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "id")), "evt_42");
    assert_string_equal(json_string_value(json_object_get(o, "type")), "apiToken.revoke");
    assert_string_equal(json_string_value(json_object_get(o, "createdOn")),
                        "2023-11-14T22:13:20.123Z");
    json_t *d = json_object_get(o, "data");
    assert_string_equal(json_string_value(json_object_get(d, "action")), "apiToken.revoke");
    assert_string_equal(json_string_value(json_object_get(d, "detail")), "a \"quoted\" detail");
    assert_string_equal(json_string_value(json_object_get(d, "sourceAddress")), "127.0.0.1");
    assert_int_equal(json_object_size(o), 4);
    json_decref(o);
    free(body);
}

static void test_id(void **state)
{
    (void)state;
    char a[KG_WEBHOOK_ID_LEN + 1], b[KG_WEBHOOK_ID_LEN + 1];
    webhook_id("https://example.com/hook", a);
    assert_string_equal(a, "wh_d6ab8982c8d4b2c0"); /* python3: blake2b(url, digest_size=8) */
    webhook_id("https://example.com/hook?x=1", b);
    assert_string_not_equal(a, b);
}

static void test_url_shown(void **state)
{
    (void)state;
    char shown[KG_WEBHOOK_URL_MAX + 1];
    assert_int_equal(webhook_send_url_check("https://user:pw@example.com:8443/a/b?token=x#f", shown,
                                            sizeof shown),
                     KG_OK);
    assert_string_equal(shown, "https://example.com:8443/a/b");
    assert_int_equal(webhook_send_url_check("http://127.0.0.1", shown, sizeof shown), KG_OK);
    assert_string_equal(shown, "http://127.0.0.1/");
    assert_int_equal(webhook_send_url_check("ftp://example.com/x", shown, sizeof shown),
                     KG_INVALID);
    assert_int_equal(webhook_send_url_check("file:///etc/passwd", shown, sizeof shown), KG_INVALID);
    assert_int_equal(webhook_send_url_check("not a url", shown, sizeof shown), KG_INVALID);
    assert_int_equal(webhook_send_url_check("https://example.com/abcdef", shown, 10), KG_TOOBIG);
}

/* A secret file holding `text`; its path in path[64]. */
static void secret_file(char path[64], const char *text)
{
    snprintf(path, 64, "/tmp/kg-webhook-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void test_configuration(void **state)
{
    (void)state;
    struct webhooks *ws = NULL;
    char good[64], shrt[64], spec[512], err[256];
    secret_file(good, "0123456789abcdef-secret\nsecond line ignored\n");
    secret_file(shrt, "short\n");
    assert_int_equal(webhooks_new(&ws), KG_OK);
    snprintf(spec, sizeof spec,
             "  https://a.example/hook secret-file=%s\n http://b.example/x?k=1 "
             "secret-file=%s ",
             good, good);
    assert_int_equal(webhooks_add(ws, spec, err, sizeof err), KG_OK);
    assert_int_equal(webhooks_count(ws), 2);
    snprintf(spec, sizeof spec, "https://a.example/hook secret-file=%s", good);
    assert_int_equal(webhooks_add(ws, spec, err, sizeof err), KG_CONFLICT);
    assert_non_null(strstr(err, "given twice"));
    snprintf(spec, sizeof spec, "https://c.example/hook secret-file=%s", shrt);
    assert_int_equal(webhooks_add(ws, spec, err, sizeof err), KG_INVALID);
    assert_non_null(strstr(err, "16 to 512 bytes"));
    assert_null(strstr(err, "short\n"));
    assert_int_equal(webhooks_add(ws, "https://c.example/hook", err, sizeof err), KG_INVALID);
    assert_int_equal(webhooks_add(ws, "https://c.example/hook secret=abc", err, sizeof err),
                     KG_INVALID);
    assert_int_equal(webhooks_add(ws, "", err, sizeof err), KG_INVALID);
    assert_int_equal(
        webhooks_add(ws, "https://c.example/hook secret-file=/nonexistent/x", err, sizeof err),
        KG_IO);
    struct webhook_counts c;
    webhooks_counts(ws, 1, &c);
    assert_int_equal(c.pending, -1);
    assert_int_equal(c.delivered + c.retried + c.failed, 0);
    assert_memory_equal(c.id, "wh_", 3);
    for (int i = 2; i < WEBHOOKS_MAX; i++) {
        snprintf(spec, sizeof spec, "https://n%d.example/ secret-file=%s", i, good);
        assert_int_equal(webhooks_add(ws, spec, err, sizeof err), KG_OK);
    }
    snprintf(spec, sizeof spec, "https://more.example/ secret-file=%s", good);
    assert_int_equal(webhooks_add(ws, spec, err, sizeof err), KG_TOOBIG);
    webhooks_free(ws); /* never started: nothing to stop */
    webhooks_free(NULL);
    unlink(good);
    unlink(shrt);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_known_value),
        cmocka_unit_test(test_event_body),
        cmocka_unit_test(test_id),
        cmocka_unit_test(test_url_shown),
        cmocka_unit_test(test_configuration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
