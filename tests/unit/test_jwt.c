/* Unit tests of jwt.c and keys.c: sign/verify round trip, tampering, expiry, "crit", key
 * files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jwt.h"
#include "keys.h"

struct fx {
    char dir[64];
    struct keys *k;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/kg-jwt-XXXXXX");
    if (!mkdtemp(f->dir) || keys_open(f->dir, &f->k) != KG_OK) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[128];
    keys_free(f->k);
    snprintf(p, sizeof p, "rm -rf %s", f->dir);
    if (system(p) != 0) return -1;
    free(f);
    return 0;
}

static struct jwt_claims claims(int64_t now)
{
    struct jwt_claims c;
    memset(&c, 0, sizeof c);
    strcpy(c.iss, "http://127.0.0.1:8080");
    strcpy(c.aud, "http://127.0.0.1:8080");
    strcpy(c.sub, "kgc_0123456789abcdef");
    strcpy(c.role, "reader");
    strcpy(c.jti, "0123456789012345678901");
    c.iat = now;
    c.exp = now + 600;
    return c;
}

static void test_round_trip(void **state)
{
    struct fx *f = *state;
    struct jwt_claims c = claims(1000000), out;
    char *tok = NULL;
    assert_int_equal(jwt_issue(f->k, &c, &tok), KG_OK);
    assert_int_equal(jwt_verify(f->k, tok, strlen(tok), c.iss, c.aud, 1000100, &out), KG_OK);
    assert_string_equal(out.sub, c.sub);
    assert_string_equal(out.role, "reader");
    assert_int_equal(out.exp, 1000600);
    /* expired, foreign issuer or audience */
    assert_int_equal(jwt_verify(f->k, tok, strlen(tok), c.iss, c.aud, 1000600, &out), KG_UNAUTHENTICATED);
    assert_int_equal(jwt_verify(f->k, tok, strlen(tok), "http://other", c.aud, 1000100, &out), KG_UNAUTHENTICATED);
    assert_int_equal(jwt_verify(f->k, tok, strlen(tok), c.iss, "other", 1000100, &out), KG_UNAUTHENTICATED);
    free(tok);
}

static void test_tampering(void **state)
{
    struct fx *f = *state;
    struct jwt_claims c = claims(1000000), out;
    char *tok = NULL;
    assert_int_equal(jwt_issue(f->k, &c, &tok), KG_OK);
    size_t len = strlen(tok);
    for (size_t i = 0; i < len; i++) { /* every single-character change is refused */
        if (tok[i] == '.') continue;
        char saved = tok[i];
        tok[i] = saved == 'A' ? 'B' : 'A';
        assert_int_equal(jwt_verify(f->k, tok, len, c.iss, c.aud, 1000100, &out), KG_UNAUTHENTICATED);
        tok[i] = saved;
    }
    assert_int_equal(jwt_verify(f->k, tok, len - 1, c.iss, c.aud, 1000100, &out), KG_UNAUTHENTICATED);
    const char *junk[] = {"", "a.b", "a.b.c.d", "..", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        assert_int_equal(jwt_verify(f->k, junk[i], strlen(junk[i]), c.iss, c.aud, 1000100, &out), KG_UNAUTHENTICATED);
    free(tok);
}

/* Signs header.claims as keygate would, the header being keygate's own with `pre` and `post`
 * (more members, each ending / starting with a comma) around it: a real signature by the
 * current key, so only the header's content can make it fail.  Caller owns the result. */
static char *sign_with_header(struct fx *f, const char *pre, const char *post, const struct jwt_claims *c)
{
    char kid[KG_KID_MAX + 1], hdr[512], pay[1024];
    keys_current_kid(f->k, kid);
    assert_true(snprintf(hdr, sizeof hdr, "{%s\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"%s\"%s}",
                         pre, kid, post) < (int)sizeof hdr);
    assert_true(snprintf(pay, sizeof pay,
                         "{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":\"%s\",\"client_id\":\"%s\","
                         "\"iat\":%lld,\"exp\":%lld,\"jti\":\"%s\",\"role\":\"%s\"}",
                         c->iss, c->sub, c->aud, c->sub, (long long)c->iat, (long long)c->exp,
                         c->jti, c->role) < (int)sizeof pay);
    size_t hl = strlen(hdr), pl = strlen(pay);
    size_t cap = sodium_base64_ENCODED_LEN(hl, sodium_base64_VARIANT_URLSAFE_NO_PADDING) +
                 sodium_base64_ENCODED_LEN(pl, sodium_base64_VARIANT_URLSAFE_NO_PADDING) +
                 sodium_base64_ENCODED_LEN(KG_SIG_LEN, sodium_base64_VARIANT_URLSAFE_NO_PADDING) + 2;
    char *tok = malloc(cap);
    assert_non_null(tok);
    sodium_bin2base64(tok, cap, (const unsigned char *)hdr, hl, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t n = strlen(tok);
    tok[n++] = '.';
    sodium_bin2base64(tok + n, cap - n, (const unsigned char *)pay, pl,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    n = strlen(tok);
    unsigned char sig[KG_SIG_LEN];
    assert_int_equal(keys_sign(f->k, kid, tok, n, sig), KG_OK);
    tok[n++] = '.';
    sodium_bin2base64(tok + n, cap - n, sig, sizeof sig, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return tok;
}

/* RFC 7515 §4.1.11: a header naming an extension in "crit" that the verifier does not
 * understand must be refused.  keygate understands none, so every "crit" is refused, while
 * the same header without it (an unknown, non-critical parameter included) is accepted. */
static void test_crit_refused(void **state)
{
    struct fx *f = *state;
    struct jwt_claims c = claims(1000000), out;
    const char *accepted[][2] = {{"", ""}, {"", ",\"x-ext\":1"}};
    const char *refused[][2] = {
        {"", ",\"crit\":[\"x-ext\"],\"x-ext\":1"},
        {"", ",\"crit\":[\"exp\"]"},
        {"", ",\"crit\":[\"b64\"],\"b64\":false"},
        {"", ",\"crit\":[]"},
        {"", ",\"crit\":\"x-ext\""},
        {"", ",\"crit\":null"},
        {"\"crit\":[\"x-ext\"],", ""},
    };
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        char *tok = sign_with_header(f, accepted[i][0], accepted[i][1], &c);
        assert_int_equal(jwt_verify(f->k, tok, strlen(tok), c.iss, c.aud, 1000100, &out), KG_OK);
        free(tok);
    }
    int wrong = 0;
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char *tok = sign_with_header(f, refused[i][0], refused[i][1], &c);
        if (jwt_verify(f->k, tok, strlen(tok), c.iss, c.aud, 1000100, &out) != KG_UNAUTHENTICATED) {
            print_error("accepted a signed token with header members %s...%s\n", refused[i][0], refused[i][1]);
            wrong++;
        }
        free(tok);
    }
    assert_int_equal(wrong, 0);
}

static void test_keys_persist_and_are_private(void **state)
{
    struct fx *f = *state;
    struct keys *again = NULL;
    char p[128];
    struct stat sb;
    unsigned char h1[KG_HASH_LEN], h2[KG_HASH_LEN];
    assert_int_equal(keys_open(f->dir, &again), KG_OK);
    keys_hash_secret(f->k, "kgs_x", 5, h1);
    keys_hash_secret(again, "kgs_x", 5, h2);
    assert_memory_equal(h1, h2, sizeof h1);
    assert_true(keys_secret_matches(again, "kgs_x", 5, h1));
    assert_false(keys_secret_matches(again, "kgs_y", 5, h1));
    char k1[KG_KID_MAX + 1], k2[KG_KID_MAX + 1];
    keys_current_kid(f->k, k1);
    keys_current_kid(again, k2);
    assert_string_equal(k1, k2);
    snprintf(p, sizeof p, "%s/hash.key", f->dir);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(sb.st_size, 32);
    keys_free(again);
}

static void test_rotation(void **state)
{
    struct fx *f = *state;
    struct jwt_claims c = claims(1000000), out;
    char *before = NULL, *after = NULL, kid0[KG_KID_MAX + 1], kid1[KG_KID_MAX + 1];
    struct keys_pub pub[4];
    keys_current_kid(f->k, kid0);
    assert_int_equal(jwt_issue(f->k, &c, &before), KG_OK);
    assert_int_equal(keys_published(f->k, pub, 4), 1);

    assert_int_equal(keys_rotate(f->dir, kid1), KG_OK); /* as the CLI does, beside a server */
    assert_string_not_equal(kid0, kid1);
    assert_int_equal(keys_refresh(f->k, 600), KG_OK);  /* the server notices */
    char now_kid[KG_KID_MAX + 1];
    keys_current_kid(f->k, now_kid);
    assert_string_equal(now_kid, kid1);
    assert_int_equal(keys_published(f->k, pub, 4), 2);
    assert_string_equal(pub[0].kid, kid1); /* current first */
    assert_string_equal(pub[1].kid, kid0);

    /* a token signed before the rotation still verifies; new ones carry the new kid */
    assert_int_equal(jwt_verify(f->k, before, strlen(before), c.iss, c.aud, 1000100, &out), KG_OK);
    assert_int_equal(jwt_issue(f->k, &c, &after), KG_OK);
    assert_int_equal(jwt_verify(f->k, after, strlen(after), c.iss, c.aud, 1000100, &out), KG_OK);
    assert_string_not_equal(before, after);

    /* another process opening the directory sees both keys too */
    struct keys *other = NULL;
    assert_int_equal(keys_open(f->dir, &other), KG_OK);
    assert_int_equal(keys_published(other, pub, 4), 2);
    assert_int_equal(jwt_verify(other, before, strlen(before), c.iss, c.aud, 1000100, &out), KG_OK);
    keys_free(other);
    free(before);
    free(after);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crit_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_persist_and_are_private, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
    };
    return cmocka_run_group_tests_name("jwt", tests, NULL, NULL);
}
