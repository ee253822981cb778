/* Unit tests of vcache.c: a hit returns the verified claims; a different token, another key
 * generation or an expired token misses; a slot taken over forgets the older token. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "vcache.h"

static struct jwt_claims claims(const char *sub, const char *jti, int64_t exp)
{
    struct jwt_claims c;
    memset(&c, 0, sizeof c);
    snprintf(c.sub, sizeof c.sub, "%s", sub);
    snprintf(c.jti, sizeof c.jti, "%s", jti);
    snprintf(c.role, sizeof c.role, "reader");
    c.iat = exp - 3600;
    c.exp = exp;
    return c;
}

static void test_hit_and_misses(void **state)
{
    (void)state;
    struct vcache *v = NULL;
    assert_int_equal(vcache_new(&v), KG_OK);
    const char *tok = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln";
    struct jwt_claims c = claims("kgc_0123456789abcdef", "jti0123456789abcdefgh", 2000), got;
    c.secret = 7;
    assert_false(vcache_get(v, tok, strlen(tok), 1, 1000, &got)); /* empty */
    vcache_put(v, tok, strlen(tok), 1, &c);
    assert_true(vcache_get(v, tok, strlen(tok), 1, 1000, &got));
    assert_string_equal(got.sub, c.sub);
    assert_string_equal(got.jti, c.jti);
    assert_string_equal(got.role, "reader");
    assert_int_equal(got.exp, 2000);
    assert_int_equal(got.iat, 2000 - 3600);
    assert_int_equal(got.secret, 7);  /* the secret it was issued with: still checked per use */
    assert_string_equal(got.iss, ""); /* checked against the configuration, not cached */

    assert_false(vcache_get(v, tok, strlen(tok) - 1, 1, 1000, &got)); /* one byte less */
    char other[64];
    snprintf(other, sizeof other, "%s", tok);
    other[strlen(other) - 1] ^= 1; /* another signature */
    assert_false(vcache_get(v, other, strlen(other), 1, 1000, &got));
    assert_false(vcache_get(v, tok, strlen(tok), 2, 1000, &got)); /* keys changed since */
    assert_false(vcache_get(v, tok, strlen(tok), 1, 2000, &got)); /* expired */
    vcache_free(v);
}

/* Many tokens: every one put is found, or has lost its slot to a later one; none ever comes
 * back with another token's claims. */
static void test_no_mixups(void **state)
{
    (void)state;
    struct vcache *v = NULL;
    assert_int_equal(vcache_new(&v), KG_OK);
    enum { N = 3 * VCACHE_SLOTS };
    char tok[64];
    for (int i = 0; i < N; i++) {
        snprintf(tok, sizeof tok, "token-%d", i);
        char sub[32];
        snprintf(sub, sizeof sub, "kgc_%016d", i);
        struct jwt_claims c = claims(sub, "j", 5000);
        vcache_put(v, tok, strlen(tok), 7, &c);
    }
    int hits = 0;
    for (int i = 0; i < N; i++) {
        struct jwt_claims got;
        snprintf(tok, sizeof tok, "token-%d", i);
        if (!vcache_get(v, tok, strlen(tok), 7, 1000, &got)) continue;
        hits++;
        char sub[32];
        snprintf(sub, sizeof sub, "kgc_%016d", i);
        assert_string_equal(got.sub, sub);
    }
    assert_true(hits > VCACHE_SLOTS / 2 && hits <= VCACHE_SLOTS);
    vcache_free(v);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_and_misses),
        cmocka_unit_test(test_no_mixups),
    };
    return cmocka_run_group_tests_name("vcache", tests, NULL, NULL);
}
