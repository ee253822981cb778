/*
 * fuzz_jwt.c — access tokens as every surface reads them: jwt_verify (jwt.c) with the keys of
 * keys.c, then the verified-token cache (vcache.c).
 *
 * The signing key is fixed (written to a scratch key directory before keys_open), so seeds
 * made by jwt_issue still verify when replayed.  Input: one mode byte, then
 *   even mode byte ('T'): a token, verified as it is;
 *   odd mode byte ('S'): "HEADER-JSON\nPAYLOAD-JSON", encoded and signed here with the
 *       current key, then verified: the fuzzer cannot forge signatures, so this is how it
 *       reaches the header and claim readers behind the signature check.
 * Checks: an accepted token has this issuer and audience, is live at NOW, has a valid client
 * id, NUL-terminated claims; changing any byte of its signed part makes it fail; the cache
 * gives back what was put.
 *
 * KG_FUZZ_MINT=DIR makes the driver write its seed files into DIR and exit.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "jwt.h"
#include "keys.h"
#include "log.h"
#include "scratch.h"
#include "vcache.h"

#define NOW 1900000000LL /* seconds; a fixed "now" keeps replays deterministic */
#define ISS "http://127.0.0.1:8080"
#define AUD "http://127.0.0.1:8080"
#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct keys *keys;
static struct vcache *cache;
static char kid[KG_KID_MAX + 1];

/* token = base64url(h) "." base64url(p) "." base64url(signature); caller frees. */
static char *sign(const char *h, size_t hl, const char *p, size_t pl, size_t *len)
{
    size_t cap = sodium_base64_ENCODED_LEN(hl, B64) + sodium_base64_ENCODED_LEN(pl, B64) +
                 sodium_base64_ENCODED_LEN(KG_SIG_MAX, B64) + 2;
    char *t = malloc(cap);
    unsigned char sig[KG_SIG_MAX];
    size_t sig_len = 0;
    if (!t) return NULL;
    sodium_bin2base64(t, cap, (const unsigned char *)h, hl, B64);
    size_t n = strlen(t);
    t[n++] = '.';
    sodium_bin2base64(t + n, cap - n, (const unsigned char *)p, pl, B64);
    n += strlen(t + n);
    if (keys_sign(keys, kid, t, n, sig, &sig_len) != KG_OK) abort();
    t[n++] = '.';
    sodium_bin2base64(t + n, cap - n, sig, sig_len, B64);
    *len = n + strlen(t + n);
    return t;
}

static void put(const char *dir, const char *name, const char *mode, const char *body)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fprintf(f, "%s%s", mode, body) < 0 || fclose(f) != 0) abort();
}

/* The seed corpus: real tokens from jwt_issue, and header/payload pairs for the 'S' mode. */
static void mint(const char *dir)
{
    struct jwt_claims c = {.iss = ISS,
                           .aud = AUD,
                           .sub = "kgc_0123456789ABCDEF",
                           .role = "accountadmin",
                           .jti = "0123456789abcdefABCDEF",
                           .iat = NOW - 10,
                           .exp = NOW + 3600};
    char *t = NULL;
    if (jwt_issue(keys, &c, &t) != KG_OK) abort();
    put(dir, "valid", "T", t);
    free(t);
    c.exp = NOW - 1;
    if (jwt_issue(keys, &c, &t) != KG_OK) abort();
    put(dir, "expired", "T", t);
    free(t);
    c.exp = NOW + 60;
    memcpy(c.aud, "https://other", sizeof "https://other");
    if (jwt_issue(keys, &c, &t) != KG_OK) abort();
    put(dir, "foreign", "T", t);
    free(t);
    char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}\n{\"iss\":\"%s\",\"sub\":"
             "\"kgc_0123456789ABCDEF\",\"aud\":\"%s\",\"client_id\":\"kgc_0123456789ABCDEF\","
             "\"iat\":%lld,\"exp\":%lld,\"jti\":\"0123456789abcdefABCDEF\",\"role\":\"public\"}",
             kid, ISS, AUD, NOW - 10, NOW + 3600);
    put(dir, "signed", "S", buf);
    snprintf(buf, sizeof buf,
             "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"%s\",\"alg\":\"none\"}\n{\"iss\":1,"
             "\"exp\":1e99,\"iat\":-9223372036854775808,\"sub\":[\"x\"]}",
             kid);
    put(dir, "signed_odd", "S", buf);
    put(dir, "alg_none", "T", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.");
    put(dir, "dots", "T", "a.b.c.d");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    unsigned char seed[32], hkey[32];
    for (size_t i = 0; i < sizeof seed; i++)
        seed[i] = (unsigned char)(i + 1);
    memset(hkey, 0x42, sizeof hkey);
    kg_log_level = LOG_CRIT;
    /* the keys and the verified-token cache, opened as the server opens them (no store) */
    static struct app app;
    struct app_opts o = {.keys_dir = scratch_dir(), .serve = 1};
    char err[512];
    if (sodium_init() < 0 || scratch_write("signing.key", seed, sizeof seed) != 0 ||
        scratch_write("hash.key", hkey, sizeof hkey) != 0 ||
        app_open(&o, &app, err, sizeof err) != KG_OK) {
        fprintf(stderr, "fuzz_jwt: cannot set up the keys\n");
        exit(1);
    }
    keys = app.keys;
    cache = app.vcache;
    enum keys_alg alg;
    keys_signer(keys, kid, &alg);
    const char *mint_dir = getenv("KG_FUZZ_MINT");
    if (mint_dir) {
        mint(mint_dir);
        exit(0);
    }
    return 0;
}

static void check_str(const char *s, size_t size)
{
    if (!memchr(s, '\0', size)) abort();
}

static void accepted(const char *tok, size_t len, const struct jwt_claims *c)
{
    check_str(c->iss, sizeof c->iss);
    check_str(c->aud, sizeof c->aud);
    check_str(c->sub, sizeof c->sub);
    check_str(c->role, sizeof c->role);
    check_str(c->jti, sizeof c->jti);
    if (strcmp(c->iss, ISS) || strcmp(c->aud, AUD) || c->exp <= NOW || c->iat > NOW + 60 ||
        !ids_client_id_valid(c->sub))
        abort();

    /* Any one byte of the signed part changed: refused. */
    const char *d2 = memrchr(tok, '.', len);
    if (!d2 || d2 == tok) abort();
    size_t signed_len = (size_t)(d2 - tok);
    char *bad = malloc(len);
    if (!bad) return;
    memcpy(bad, tok, len);
    size_t at = (size_t)c->iat % signed_len;
    bad[at] = bad[at] == 'A' ? 'B' : 'A';
    struct jwt_claims other;
    if (jwt_verify(keys, bad, len, ISS, AUD, NOW, &other) == KG_OK) abort();
    free(bad);

    /* The cache: what was put comes back. */
    struct jwt_claims back;
    vcache_put(cache, tok, len, 1, c);
    if (!vcache_get(cache, tok, len, 1, NOW, &back) || strcmp(back.sub, c->sub) ||
        strcmp(back.jti, c->jti) || strcmp(back.role, c->role) || back.exp != c->exp ||
        back.iat != c->iat || vcache_get(cache, tok, len, 2, NOW, &back))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *in = (const char *)data + 1;
    size_t n = size - 1, len = 0;
    char *tok;
    if (data[0] & 1) {
        const char *nl = memchr(in, '\n', n);
        size_t hl = nl ? (size_t)(nl - in) : n;
        tok = sign(in, hl, nl ? nl + 1 : in + n, nl ? n - hl - 1 : 0, &len);
    } else {
        tok = malloc(n ? n : 1);
        if (tok) memcpy(tok, in, n);
        len = n;
    }
    if (!tok) return 0;
    struct jwt_claims c;
    memset(&c, 0x5a, sizeof c);
    kg_err rc = jwt_verify(keys, tok, len, ISS, AUD, NOW, &c);
    if (rc == KG_OK)
        accepted(tok, len, &c);
    else if (rc != KG_UNAUTHENTICATED)
        abort();
    free(tok);
    return 0;
}
