/*
 * jwt.c — encoding, signing, decoding and checking JWT access tokens (EdDSA, ES256, RS256).
 *
 * Layout: base64url helpers, jwt_issue(), then jwt_verify() and the claim readers it uses.
 */
#include "jwt.h"

#include <jansson.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "jsonw.h"
#include "util.h"

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* Appends base64url(data), unpadded and NUL-terminated, at p (room checked by the caller's
 * sizing: sodium_base64_ENCODED_LEN); returns the end.  A table, not sodium_bin2base64: that
 * one takes constant time for secrets, and cost an exchange a tenth of its instructions; what
 * is encoded here (the header, the claims, the signature) is all sent in the clear. */
static char *b64_put(char *p, const void *data, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *d = data;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        *p++ = abc[v >> 18];
        *p++ = abc[(v >> 12) & 63];
        *p++ = abc[(v >> 6) & 63];
        *p++ = abc[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < len ? (uint32_t)d[i + 1] << 8 : 0);
        *p++ = abc[v >> 18];
        *p++ = abc[(v >> 12) & 63];
        if (i + 1 < len) *p++ = abc[(v >> 6) & 63];
    }
    *p = '\0';
    return p;
}

kg_err jwt_issue(struct keys *k, const struct jwt_claims *c, char **out)
{
    kg_err rc = KG_ENOMEM;
    char *tok = NULL;
    char kid[KG_KID_MAX + 1], num[24];
    enum keys_alg alg;
    struct jsonw h, p;
    keys_signer(k, kid, &alg);
    /* Written as text (the members in this order): a jansson tree and its dump were a fifth
     * of an exchange. */
    jsonw_init(&h);
    jsonw_init(&p);
    jsonw_raw(&h, "{\"alg\":");
    jsonw_str(&h, keys_alg_name(alg));
    jsonw_raw(&h, ",\"typ\":\"at+jwt\",\"kid\":");
    jsonw_str(&h, kid);
    jsonw_raw(&h, "}");
    jsonw_raw(&p, "{\"iss\":");
    jsonw_str(&p, c->iss);
    jsonw_raw(&p, ",\"sub\":");
    jsonw_str(&p, c->sub);
    jsonw_raw(&p, ",\"aud\":");
    jsonw_str(&p, c->aud);
    jsonw_raw(&p, ",\"client_id\":");
    jsonw_str(&p, c->sub);
    snprintf(num, sizeof num, ",\"iat\":%lld", (long long)c->iat);
    jsonw_raw(&p, num);
    snprintf(num, sizeof num, ",\"exp\":%lld", (long long)c->exp);
    jsonw_raw(&p, num);
    jsonw_raw(&p, ",\"jti\":");
    jsonw_str(&p, c->jti);
    jsonw_raw(&p, ",\"role\":");
    jsonw_str(&p, c->role);
    if (c->secret) {
        char sid[KG_SECRET_ID_LEN + 1];
        ids_secret_id(c->secret, sid);
        jsonw_raw(&p, ",\"secret_id\":");
        jsonw_str(&p, sid);
    }
    jsonw_raw(&p, "}");
    if (h.oom || p.oom) goto out;
    size_t cap = sodium_base64_ENCODED_LEN(h.len, B64) + sodium_base64_ENCODED_LEN(p.len, B64) +
                 sodium_base64_ENCODED_LEN(KG_SIG_MAX, B64) + 2;
    if (!(tok = malloc(cap))) goto out;
    char *w = b64_put(tok, h.text, h.len);
    *w++ = '.';
    w = b64_put(w, p.text, p.len);
    unsigned char sig[KG_SIG_MAX];
    size_t sig_len = 0;
    if ((rc = keys_sign(k, kid, tok, (size_t)(w - tok), sig, &sig_len)) != KG_OK) goto out;
    *w++ = '.';
    b64_put(w, sig, sig_len);
    *out = tok;
    tok = NULL;
    rc = KG_OK;
out:
    jsonw_cleanup(&h);
    jsonw_cleanup(&p);
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
