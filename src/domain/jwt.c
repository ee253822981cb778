/*
 * jwt.c — encoding, signing, decoding and checking JWT access tokens (EdDSA, ES256, RS256).
 *
 * Layout: base64url helpers, jwt_issue(), then jwt_verify() and the claim readers it uses.
 */
#include "jwt.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "util.h"

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* Appends base64url(data) at *p (room checked by the caller's sizing). */
static char *b64_put(char *p, const void *data, size_t len)
{
    size_t n = sodium_base64_ENCODED_LEN(len, B64);
    sodium_bin2base64(p, n, data, len, B64);
    return p + n - 1;
}

kg_err jwt_issue(struct keys *k, const struct jwt_claims *c, char **out)
{
    kg_err rc = KG_ENOMEM;
    char *hdr = NULL, *pay = NULL, *tok = NULL;
    char kid[KG_KID_MAX + 1];
    enum keys_alg alg;
    keys_signer(k, kid, &alg);
    json_t *h =
        json_pack("{s:s, s:s, s:s}", "alg", keys_alg_name(alg), "typ", "at+jwt", "kid", kid);
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "iss", c->iss, "sub", c->sub,
                          "aud", c->aud, "client_id", c->sub, "iat", (json_int_t)c->iat, "exp",
                          (json_int_t)c->exp, "jti", c->jti, "role", c->role);
    if (!h || !p) goto out;
    if (c->secret) {
        char sid[KG_SECRET_ID_LEN + 1];
        ids_secret_id(c->secret, sid);
        if (json_object_set_new(p, "secret_id", json_string(sid))) goto out;
    }
    hdr = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    pay = json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!hdr || !pay) goto out;
    size_t hl = strlen(hdr), pl = strlen(pay);
    size_t cap = sodium_base64_ENCODED_LEN(hl, B64) + sodium_base64_ENCODED_LEN(pl, B64) +
                 sodium_base64_ENCODED_LEN(KG_SIG_MAX, B64) + 2;
    if (!(tok = malloc(cap))) goto out;
    char *w = b64_put(tok, hdr, hl);
    *w++ = '.';
    w = b64_put(w, pay, pl);
    unsigned char sig[KG_SIG_MAX];
    size_t sig_len = 0;
    if ((rc = keys_sign(k, kid, tok, (size_t)(w - tok), sig, &sig_len)) != KG_OK) goto out;
    *w++ = '.';
    b64_put(w, sig, sig_len);
    *out = tok;
    tok = NULL;
    rc = KG_OK;
out:
    json_decref(h);
    json_decref(p);
    free(hdr);
    free(pay);
    free(tok);
    return rc;
}

/* Decodes base64url s[0..len) into a JSON object; NULL when either step fails. */
static json_t *b64_json(const char *s, size_t len)
{
    unsigned char buf[KG_JWT_MAX];
    size_t n = 0;
    if (sodium_base642bin(buf, sizeof buf, s, len, NULL, &n, NULL, B64) != 0) return NULL;
    json_t *j = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static int get_str(json_t *o, const char *key, char *dst, size_t size)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v && kg_strcpy(dst, size, v) == KG_OK;
}

static int get_int(json_t *o, const char *key, int64_t *dst)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) return 0;
    *dst = json_integer_value(v);
    return 1;
}

kg_err jwt_verify(struct keys *k, const char *token, size_t len, const char *iss, const char *aud,
                  int64_t now, struct jwt_claims *out)
{
    kg_err rc = KG_UNAUTHENTICATED;
    json_t *h = NULL, *p = NULL;
    out->sub[0] = '\0';
    if (len == 0 || len > KG_JWT_MAX || memchr(token, '\0', len)) return rc;
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token))) return rc;

    unsigned char sig[KG_SIG_MAX];
    size_t sl = 0;
    const char *s = d2 + 1;
    if (sodium_base642bin(sig, sizeof sig, s, len - (size_t)(s - token), NULL, &sl, NULL, B64) != 0)
        return rc;
    if (!(h = b64_json(token, (size_t)(d1 - token)))) goto out;
    const char *alg = json_string_value(json_object_get(h, "alg"));
    const char *typ = json_string_value(json_object_get(h, "typ"));
    const char *kid = json_string_value(json_object_get(h, "kid"));
    int a = keys_alg_parse(alg);
    if (a < 0 || !typ || strcmp(typ, "at+jwt") || !kid) goto out;
    /* keygate understands no JOSE extension, so any "crit" (even [] or not an array, both
     * malformed) names something it must not ignore: refused (RFC 7515 §4.1.11). */
    if (json_object_get(h, "crit")) goto out;
    if (!keys_verify(k, kid, (enum keys_alg)a, token, (size_t)(d2 - token), sig, sl)) goto out;
    if (!(p = b64_json(d1 + 1, (size_t)(d2 - d1 - 1)))) goto out;

    struct jwt_claims c;
    memset(&c, 0, sizeof c);
    if (!get_str(p, "iss", c.iss, sizeof c.iss) || !get_str(p, "aud", c.aud, sizeof c.aud) ||
        !get_str(p, "sub", c.sub, sizeof c.sub) || !get_str(p, "jti", c.jti, sizeof c.jti) ||
        !get_str(p, "role", c.role, sizeof c.role) || !get_int(p, "iat", &c.iat) ||
        !get_int(p, "exp", &c.exp))
        goto out;
    if (strcmp(c.iss, iss) != 0 || strcmp(c.aud, aud) != 0) goto out;
    if (!ids_client_id_valid(c.sub) || c.iat > now + 60) goto out; /* 60 s of skew for iat */
    if (c.exp <= now) {
        memcpy(out->sub, c.sub, sizeof out->sub); /* whose it was: an expired token's refusal */
        goto out;
    }
    json_t *sid = json_object_get(p, "secret_id");
    if (sid && !(c.secret = ids_secret_seq(json_string_value(sid)))) goto out;
    *out = c;
    rc = KG_OK;
out:
    json_decref(h);
    json_decref(p);
    return rc;
}
