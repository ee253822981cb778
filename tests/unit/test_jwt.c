/* Unit tests of jwt.c and keys.c: sign/verify round trip, tampering, expiry, "crit", key
 * files, each with EdDSA, ES256 and RS256; rotation that publishes a key before it signs. */
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
#include <time.h>
#include <unistd.h>

#include "jwt.h"
#include "keys.h"

struct fx {
    char dir[64];
    struct keys *k;
    enum keys_alg alg;
};

static enum keys_alg algs[KEYS_ALG_COUNT] = {KEYS_EDDSA, KEYS_ES256, KEYS_RS256};

/* A new key directory whose key has the algorithm the test's prestate names. */
static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->alg = *state ? *(const enum keys_alg *)*state : KEYS_EDDSA;
    strcpy(f->dir, "/tmp/kg-jwt-XXXXXX");
    struct keys_opts o = {.alg = (int)f->alg, .publish_ms = 2000};
    if (!mkdtemp(f->dir) || keys_open(f->dir, &o, &f->k) != KG_OK) return -1;
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
    char *tok = NULL, hdr[128];
    assert_int_equal(jwt_issue(f->k, &c, &tok), KG_OK);
    /* the header names the key's algorithm */
    size_t n = 0;
    assert_int_equal(sodium_base642bin((unsigned char *)hdr, sizeof hdr - 1, tok, strcspn(tok, "."),
                                       NULL, &n, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    hdr[n] = '\0';
    char want[32];
    snprintf(want, sizeof want, "{\"alg\":\"%s\",", keys_alg_name(f->alg));
    assert_true(strncmp(hdr, want, strlen(want)) == 0);
    assert_int_equal(jwt_verify(f->k, tok, strlen(tok), c.iss, c.aud, 1000100, &out), KG_OK);
    assert_string_equal(out.sub, c.sub);
    assert_string_equal(out.role, "reader");
    assert_int_equal(out.exp, 1000600);
    assert_int_equal(out.secret, 0); /* none given: no secret_id claim */
    /* the secret the client used comes back */
    char *tok2 = NULL;
    c.secret = 42;
    assert_int_equal(jwt_issue(f->k, &c, &tok2), KG_OK);
    assert_int_equal(jwt_verify(f->k, tok2, strlen(tok2), c.iss, c.aud, 1000100, &out), KG_OK);
    assert_int_equal(out.secret, 42);
    free(tok2);
    /* expired, foreign issuer or audience */
    assert_int_equal(jwt_verify(f->k, tok, strlen(tok), c.iss, c.aud, 1000600, &out),
                     KG_UNAUTHENTICATED);
    assert_int_equal(jwt_verify(f->k, tok, strlen(tok), "http://other", c.aud, 1000100, &out),
                     KG_UNAUTHENTICATED);
    assert_int_equal(jwt_verify(f->k, tok, strlen(tok), c.iss, "other", 1000100, &out),
                     KG_UNAUTHENTICATED);
    free(tok);
    /* claims of every length modulo 3 (each base64url tail) encode as libsodium decodes them,
     * and the issuer's characters that JSON escapes come back */
    strcpy(c.iss, "http://127.0.0.1:8080/a\"b\\c");
    static const char *const roles[] = {"r", "ro", "rol"};
    for (size_t i = 0; i < 3; i++) {
        unsigned char pay[1024];
        strcpy(c.role, roles[i]);
        assert_int_equal(jwt_issue(f->k, &c, &tok), KG_OK);
        const char *dot = strchr(tok, '.') + 1;
        assert_int_equal(sodium_base642bin(pay, sizeof pay, dot, strcspn(dot, "."), NULL, &n, NULL,
                                           sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                         0);
        assert_int_equal(jwt_verify(f->k, tok, strlen(tok), c.iss, c.aud, 1000100, &out), KG_OK);
        assert_string_equal(out.role, roles[i]);
        assert_string_equal(out.iss, c.iss);
        free(tok);
    }
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
        assert_int_equal(jwt_verify(f->k, tok, len, c.iss, c.aud, 1000100, &out),
                         KG_UNAUTHENTICATED);
        tok[i] = saved;
    }
    assert_int_equal(jwt_verify(f->k, tok, len - 1, c.iss, c.aud, 1000100, &out),
                     KG_UNAUTHENTICATED);
    const char *junk[] = {"", "a.b", "a.b.c.d", "..", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        assert_int_equal(jwt_verify(f->k, junk[i], strlen(junk[i]), c.iss, c.aud, 1000100, &out),
                         KG_UNAUTHENTICATED);
    free(tok);
}

/* Signs header.claims as keygate would, the header being keygate's own with `pre` and `post`
 * (more members, each ending / starting with a comma) around it: a real signature by the
 * current key, so only the header's content can make it fail.  Caller owns the result. */
static char *sign_as(struct fx *f, const char *alg_name, const char *pre, const char *post,
                     const struct jwt_claims *c)
{
    char kid[KG_KID_MAX + 1], hdr[512], pay[1024];
    enum keys_alg alg;
    keys_signer(f->k, kid, &alg);
    if (!alg_name) alg_name = keys_alg_name(alg);
    assert_true(snprintf(hdr, sizeof hdr, "{%s\"alg\":\"%s\",\"typ\":\"at+jwt\",\"kid\":\"%s\"%s}",
                         pre, alg_name, kid, post) < (int)sizeof hdr);
    assert_true(snprintf(pay, sizeof pay,
                         "{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":\"%s\",\"client_id\":\"%s\","
                         "\"iat\":%lld,\"exp\":%lld,\"jti\":\"%s\",\"role\":\"%s\"}",
                         c->iss, c->sub, c->aud, c->sub, (long long)c->iat, (long long)c->exp,
                         c->jti, c->role) < (int)sizeof pay);
    size_t hl = strlen(hdr), pl = strlen(pay);
    size_t cap = sodium_base64_ENCODED_LEN(hl, sodium_base64_VARIANT_URLSAFE_NO_PADDING) +
                 sodium_base64_ENCODED_LEN(pl, sodium_base64_VARIANT_URLSAFE_NO_PADDING) +
                 sodium_base64_ENCODED_LEN(KG_SIG_MAX, sodium_base64_VARIANT_URLSAFE_NO_PADDING) +
                 2;
    char *tok = malloc(cap);
    assert_non_null(tok);
    sodium_bin2base64(tok, cap, (const unsigned char *)hdr, hl,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t n = strlen(tok);
    tok[n++] = '.';
    sodium_bin2base64(tok + n, cap - n, (const unsigned char *)pay, pl,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    n = strlen(tok);
    unsigned char sig[KG_SIG_MAX];
    size_t sig_len = 0;
    assert_int_equal(keys_sign(f->k, kid, tok, n, sig, &sig_len), KG_OK);
    tok[n++] = '.';
    sodium_bin2base64(tok + n, cap - n, sig, sig_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return tok;
}

static char *sign_with_header(struct fx *f, const char *pre, const char *post,
                              const struct jwt_claims *c)
{
    return sign_as(f, NULL, pre, post, c);
}

/* The key decides the algorithm: a token whose header names another algorithm than its
 * key's is refused, even with a valid signature by that key ("alg" confusion). */
static void test_alg_is_the_keys(void **state)
{
    struct fx *f = *state;
    struct jwt_claims c = claims(1000000), out;
    const char *names[] = {"EdDSA", "ES256", "RS256", "none", "HS256", "ES384", "RS512", "PS256"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *tok = sign_as(f, names[i], "", "", &c);
        kg_err want = strcmp(names[i], keys_alg_name(f->alg)) == 0 ? KG_OK : KG_UNAUTHENTICATED;
        assert_int_equal(jwt_verify(f->k, tok, strlen(tok), c.iss, c.aud, 1000100, &out), want);
        free(tok);
    }
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
            print_error("accepted a signed token with header members %s...%s\n", refused[i][0],
                        refused[i][1]);
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
    assert_int_equal(keys_open(f->dir, NULL, &again), KG_OK); /* as the CLI does */
    keys_hash_secret(f->k, "kgs_x", 5, h1);
    keys_hash_secret(again, "kgs_x", 5, h2);
    assert_memory_equal(h1, h2, sizeof h1);
    keys_hash_secret(again, "kgs_y", 5, h2);
    assert_memory_not_equal(h1, h2, sizeof h1);
    char k1[KG_KID_MAX + 1], k2[KG_KID_MAX + 1];
    enum keys_alg a1, a2;
    keys_signer(f->k, k1, &a1);
    keys_signer(again, k2, &a2);
    assert_int_equal(a1, f->alg);
    assert_int_equal(a2, f->alg);
    assert_string_equal(k1, k2);
    snprintf(p, sizeof p, "%s/hash.key", f->dir);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(sb.st_size, 32);
    snprintf(p, sizeof p, "%s/signing.key", f->dir);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    keys_free(again);
}

/* Renames dir's key-<ms>-<kid>.key for kid to say it was made ago_ms earlier: time passing. */
static void age_key(const char *dir, const char *kid, int64_t ago_ms)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "cd %s && f=$(ls key-*-%s.key) && ms=${f#key-} && ms=${ms%%%%-*} && mv $f key-$((ms - "
             "%lld))-%s.key",
             dir, kid, (long long)ago_ms, kid);
    assert_int_equal(system(cmd), 0);
}

static void signer_kid(struct keys *k, char kid[KG_KID_MAX + 1])
{
    enum keys_alg alg;
    keys_signer(k, kid, &alg);
}

/* A new key is published at once and signs only once it has been published for publish_ms
 * (the JWKS cache lifetime + KEYS_SPREAD_MS; 2 s here); the old one stays published
 * until its tokens have expired, then the key files are forgotten. */
static void test_rotation(void **state)
{
    struct fx *f = *state;
    struct jwt_claims c = claims(1000000), out;
    char *before = NULL, *after = NULL, kid0[KG_KID_MAX + 1], kid1[KG_KID_MAX + 1],
         now_kid[KG_KID_MAX + 1];
    struct keys_pub pub[4];
    signer_kid(f->k, kid0);
    assert_int_equal(jwt_issue(f->k, &c, &before), KG_OK);
    assert_int_equal(keys_published(f->k, pub, 4), 1);

    assert_int_equal(keys_rotate(f->dir, -1, kid1), KG_OK); /* as the CLI does, beside a server */
    assert_string_not_equal(kid0, kid1);
    assert_int_equal(keys_refresh(f->k, 600), KG_OK);  /* the server notices */
    assert_int_equal(keys_published(f->k, pub, 4), 2); /* published at once... */
    assert_string_equal(pub[0].kid, kid0);             /* (the signing key first) */
    assert_string_equal(pub[1].kid, kid1);
    assert_string_equal(pub[1].alg, keys_alg_name(f->alg)); /* (the same algorithm) */
    signer_kid(f->k, now_kid);
    assert_string_equal(now_kid, kid0); /* ...but does not sign yet */

    /* another process opening the directory now: the same */
    struct keys *other = NULL;
    assert_int_equal(keys_open(f->dir, NULL, &other), KG_OK);
    assert_int_equal(keys_published(other, pub, 4), 2);
    signer_kid(other, now_kid);
    assert_string_equal(now_kid, kid0);
    keys_free(other);

    /* once published long enough (2 s here), the new key signs */
    struct timespec ts = {2, 100000000};
    nanosleep(&ts, NULL);
    signer_kid(f->k, now_kid);
    assert_string_equal(now_kid, kid1);
    assert_int_equal(keys_published(f->k, pub, 4), 2);
    assert_string_equal(pub[0].kid, kid1);
    /* a token signed before the rotation still verifies; new ones carry the new kid */
    assert_int_equal(jwt_verify(f->k, before, strlen(before), c.iss, c.aud, 1000100, &out), KG_OK);
    assert_int_equal(jwt_issue(f->k, &c, &after), KG_OK);
    assert_int_equal(jwt_verify(f->k, after, strlen(after), c.iss, c.aud, 1000100, &out), KG_OK);
    assert_string_not_equal(before, after);

    /* a day later (the longest token lifetime) the old key is no longer published... */
    age_key(f->dir, kid1, 86400000LL + 120000);
    assert_int_equal(keys_open(f->dir, NULL, &other), KG_OK);
    assert_int_equal(keys_published(other, pub, 4), 1);
    assert_string_equal(pub[0].kid, kid1);
    assert_int_equal(jwt_verify(other, before, strlen(before), c.iss, c.aud, 1000100, &out),
                     KG_UNAUTHENTICATED);
    assert_int_equal(jwt_verify(other, after, strlen(after), c.iss, c.aud, 1000100, &out), KG_OK);
    keys_free(other);
    /* ...and three days later (the longest JWKS max-age and token lifetime, and a day) the
     * next rotation removes its file */
    char p[128], kid2[KG_KID_MAX + 1];
    snprintf(p, sizeof p, "%s/signing.key", f->dir);
    assert_int_equal(access(p, F_OK), 0);
    age_key(f->dir, kid1, 86400000LL);
    assert_int_equal(keys_rotate(f->dir, -1, kid2), KG_OK);
    assert_int_equal(access(p, F_OK), 0); /* two days: kept */
    age_key(f->dir, kid1, 86400000LL);
    assert_int_equal(keys_rotate(f->dir, -1, kid2), KG_OK);
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(keys_open(f->dir, NULL, &other), KG_OK);
    assert_int_equal(keys_published(other, pub, 4),
                     3); /* kid1, which signs, and the two new ones */
    signer_kid(other, now_kid);
    assert_string_equal(now_kid, kid1);
    keys_free(other);
    free(before);
    free(after);
}

/* --signing-alg asking for another algorithm than the newest key's: a rotation to it, done
 * once however many servers start with it; keys_rotate(alg) likewise. */
static void test_algorithm_change(void **state)
{
    struct fx *f = *state;
    enum keys_alg want = f->alg == KEYS_EDDSA ? KEYS_RS256 : KEYS_EDDSA, alg;
    struct keys_opts o = {.alg = (int)want, .publish_ms = 2000};
    struct keys *a = NULL, *b = NULL;
    struct keys_pub pub[4];
    char kid0[KG_KID_MAX + 1], kid[KG_KID_MAX + 1];
    signer_kid(f->k, kid0);
    assert_int_equal(keys_open(f->dir, &o, &a), KG_OK);
    assert_int_equal(keys_open(f->dir, &o, &b), KG_OK); /* a second node: no second key */
    assert_int_equal(keys_published(b, pub, 4), 2);
    assert_string_equal(pub[0].kid, kid0); /* the old key signs until the new one is published */
    assert_string_equal(pub[1].alg, keys_alg_name(want));
    keys_signer(a, kid, &alg);
    assert_int_equal(alg, f->alg);
    keys_free(a);
    keys_free(b);
    /* and back, by the CLI's way */
    assert_int_equal(keys_rotate(f->dir, (int)f->alg, kid), KG_OK);
    assert_int_equal(keys_refresh(f->k, 600), KG_OK);
    assert_int_equal(keys_published(f->k, pub, 4), 3);
}

/* A key file copied in place (created empty, then written: the directory does not change)
 * is published once complete. */
static void test_copied_in_place(void **state)
{
    struct fx *f = *state;
    char other[64] = "/tmp/kg-jwt-XXXXXX", kid[KG_KID_MAX + 1], cmd[512];
    struct keys_pub pub[4];
    assert_non_null(mkdtemp(other));
    struct keys *o = NULL;
    assert_int_equal(keys_open(other, NULL, &o), KG_OK);
    keys_free(o);
    assert_int_equal(keys_rotate(other, -1, kid), KG_OK);
    snprintf(cmd, sizeof cmd, "cd %s && f=$(ls key-*-%s.key) && : > %s/$f", other, kid, f->dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(keys_refresh(f->k, 600), KG_OK);
    assert_int_equal(keys_published(f->k, pub, 4), 1); /* empty: not a key yet */
    snprintf(cmd, sizeof cmd, "cd %s && f=$(ls key-*-%s.key) && cat $f >> %s/$f && rm -rf %s",
             other, kid, f->dir, other);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(keys_refresh(f->k, 600), KG_OK);
    assert_int_equal(keys_published(f->k, pub, 4), 2);
    assert_string_equal(pub[1].kid, kid);
}

/* With more key files than are considered (64), the newest are the ones loaded. */
static void test_many_rotations(void **state)
{
    struct fx *f = *state;
    char kid[KG_KID_MAX + 1], cmd[256];
    struct keys_pub pub[KEYS_MAX];
    for (int i = 0; i < 70; i++) {
        assert_int_equal(keys_rotate(f->dir, -1, kid), KG_OK);
        /* a distinct, increasing time in each name: as rotations a millisecond apart */
        snprintf(cmd, sizeof cmd, "cd %s && f=$(ls key-*-%s.key) && mv $f key-%d-%s.key", f->dir,
                 kid, 1000000 + i, kid);
        assert_int_equal(system(cmd), 0);
    }
    struct keys *k = NULL;
    assert_int_equal(keys_open(f->dir, NULL, &k), KG_OK);
    size_t n = keys_published(k, pub, KEYS_MAX);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        found |= strcmp(pub[i].kid, kid) == 0;
    assert_true(found);
    keys_free(k);
}

/* Key files written by keygate before rotations waited (retired-<ms>-<kid>.key) still load. */
static void test_old_retired_files(void **state)
{
    struct fx *f = *state;
    struct jwt_claims c = claims(1000000), out;
    char *tok = NULL, kid0[KG_KID_MAX + 1], cmd[512];
    struct keys_pub pub[4];
    struct keys *k = NULL;
    assert_int_equal(jwt_issue(f->k, &c, &tok), KG_OK);
    signer_kid(f->k, kid0);
    long long ms = (long long)time(NULL) * 1000 - 60000;
    snprintf(cmd, sizeof cmd, "cd %s && mv signing.key retired-%lld-%s.key", f->dir, ms, kid0);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(keys_open(f->dir, NULL, &k), KG_OK); /* makes a new signing.key */
    assert_int_equal(keys_published(k, pub, 4), 2);
    assert_string_not_equal(pub[0].kid, kid0);
    assert_string_equal(pub[1].kid, kid0);
    assert_int_equal(jwt_verify(k, tok, strlen(tok), c.iss, c.aud, 1000100, &out), KG_OK);
    keys_free(k);
    free(tok);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
#define EACH_ALG(fn)                                                                               \
    cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&algs[0]),               \
        cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&algs[1]),           \
        cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&algs[2])
    const struct CMUnitTest tests[] = {
        EACH_ALG(test_round_trip),
        EACH_ALG(test_tampering),
        EACH_ALG(test_crit_refused),
        EACH_ALG(test_alg_is_the_keys),
        EACH_ALG(test_keys_persist_and_are_private),
        EACH_ALG(test_rotation),
        EACH_ALG(test_algorithm_change),
        cmocka_unit_test_setup_teardown(test_old_retired_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copied_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_rotations, setup, teardown),
    };
    return cmocka_run_group_tests_name("jwt", tests, NULL, NULL);
}
