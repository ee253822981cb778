/*
 * reply.h — every response keygate sends, and the one place where a kg_err becomes an answer:
 * a JSON error body ({"code","message","status"}) or an OAuth error (RFC 6749 §5.2), with the
 * status and names of err.c's table.
 */
#ifndef KG_REPLY_H
#define KG_REPLY_H

#include <jansson.h>
#include <stdint.h>

#include "err.h"
#include "http.h"
#include "jsonw.h"

/* Sends body (stolen: the reference is released) as JSON with Cache-Control: no-store. */
void reply_json(struct http_req *req, int status, json_t *body);
/* Sends body (stolen) as JSON that caches may keep for max_age_s seconds. */
void reply_json_public(struct http_req *req, json_t *body, int64_t max_age_s);
/* The same for JSON written as text (a 500 when w ran out of memory); w stays the caller's. */
void reply_json_text(struct http_req *req, int status, const struct jsonw *w);
/* Sends {"code","message","status"} for rc; msg is a person-readable sentence. */
void reply_error(struct http_req *req, kg_err rc, const char *msg);
/* Sends 401 UNAUTHENTICATED with a Bearer challenge; with_error adds error="invalid_token"
 * (reply_error adds it only when the request carried credentials, per RFC 6750 §3.1). */
void reply_unauthenticated(struct http_req *req, const char *msg, int with_error);
/* Sends {"error","error_description"}; `error` NULL picks the RFC 6749 code for rc. */
void reply_oauth_error(struct http_req *req, kg_err rc, const char *error, const char *desc);
/* 429 with Retry-After: wait_s, for too many failed `what` ("sign-ins"); oauth picks the
 * OAuth error form (the /oauth endpoints) over the API's. */
void reply_throttled(struct http_req *req, int oauth, int64_t wait_s, const char *what);

/* What the error answer sent for req said (its message; an OAuth error's code and
 * description; a 5xx's kg_err name too), for the request's log line; NULL when req got no
 * error answer from here.  Borrowed: valid until the thread's next error answer. */
const char *reply_note(const struct http_req *req);

#endif
