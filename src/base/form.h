/*
 * form.h — application/x-www-form-urlencoded bodies and HTTP Basic credentials, the two
 * client inputs of the OAuth token endpoint.
 */
#ifndef KG_FORM_H
#define KG_FORM_H

#include <stddef.h>

#include "err.h"

#define KG_FORM_PAIRS_MAX 16

struct form {
    size_t n;
    char *names[KG_FORM_PAIRS_MAX];
    char *values[KG_FORM_PAIRS_MAX];
    char *buf; /* owns the decoded strings */
    size_t cap;
};

/* Decodes body into f (caller cleans up with form_cleanup even on failure).
 * KG_INVALID: bad escape, NUL, or more than 16 pairs; KG_CONFLICT: a name given twice. */
kg_err form_parse(const char *body, size_t len, struct form *f);
void form_cleanup(struct form *f);
/* Borrowed value of `name`, NULL when absent. */
const char *form_get(const struct form *f, const char *name);

/* Percent-decodes s[0..len) ('+' is a space) into out[size]; KG_INVALID for a bad escape or
 * a NUL, KG_TOOBIG when it does not fit (out is then "", as on any failure). */
kg_err form_decode(const char *s, size_t len, char *out, size_t size);

/* Parses "Basic base64(id:secret)" (each form-urlencoded, RFC 6749 §2.3.1) into id/secret.
 * KG_INVALID when it is not Basic or is malformed; KG_TOOBIG when a part is too long.
 * The secret buffer should be wiped by the caller. */
kg_err form_basic(const char *header, char *id, size_t id_size, char *secret, size_t secret_size);

#endif
