/*
 * reply.c — JSON responses, and errors as answers: a kg_err's HTTP status, API status name and
 * OAuth error code come from err.c's one table, and an API error's details (reply.h) from its
 * status and what the caller names.  What an error answer said is kept for the request's one
 * log line (reply_note), written by the router once the request is answered.
 *
 * Layout: the note, JSON answers, errors, OAuth errors and throttling.
 */
#include "reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* The last error answer of this thread: handlers answer on the thread that dispatched them. */
static _Thread_local struct {
    const struct http_req *req;
    unsigned long id;
    char text[200];
} note;

static void set_note(const struct http_req *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_note(const struct http_req *req, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(note.text, sizeof note.text, fmt, ap);
    va_end(ap);
    note.req = req;
    note.id = req->id;
}

const char *reply_note(const struct http_req *req)
{
    return note.req == req && note.id == req->id ? note.text : NULL;
}

/* Sends JSON text (NULL: out of memory) with the headers every JSON answer carries: `cache`
 * as Cache-Control, or NULL for no-store. */
static void send_text(struct http_req *req, int status, const char *text, size_t len,
                      const char *const *extra, const char *cache)
{
    if (!text) {
        char oom[128]; /* written here: nothing is allocated on this path */
        int n = snprintf(oom, sizeof oom,
                         "{\"code\":%d,\"message\":\"out of memory\",\"status\":\"%s\","
                         "\"details\":[]}",
                         kg_err_http(KG_ENOMEM), kg_err_status(KG_ENOMEM));
        http_reply(req, kg_err_http(KG_ENOMEM), "application/json", oom, n > 0 ? (size_t)n : 0,
                   NULL);
        return;
    }
    const char *headers[8] = {"Cache-Control", cache ? cache : "no-store", cache ? NULL : "Pragma",
                              "no-cache"};
    for (size_t i = 0; !cache && extra && extra[i] && i < 2; i += 2) {
        headers[4 + i] = extra[i];
        headers[5 + i] = extra[i + 1];
    }
    http_reply(req, status, "application/json", text, len, headers);
}

static void send_json(struct http_req *req, int status, json_t *body, const char *const *extra,
                      const char *cache)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(body);
    size_t len = text ? strlen(text) : 0;
    send_text(req, status, text, len, extra, cache);
    if (text) explicit_bzero(text, len); /* it may hold a new secret or access token */
    free(text);
}

void reply_json_text(struct http_req *req, int status, const struct jsonw *w)
{
    send_text(req, status, w->oom ? NULL : w->text, w->len, NULL, NULL);
}

void reply_json(struct http_req *req, int status, json_t *body)
{
    send_json(req, status, body, NULL, NULL);
}

void reply_json_public(struct http_req *req, json_t *body, int64_t max_age_s)
{
    char cc[48];
    snprintf(cc, sizeof cc, "public, max-age=%lld", (long long)max_age_s);
    send_json(req, 200, body, NULL, cc);
}

/* ---- errors ------------------------------------------------------------------------- */

#define DETAIL_TYPE(name) "type.googleapis.com/google.rpc." name

/* What a caller says about an error beyond its message; what it leaves unset, the status's
 * default fills (reply.h). */
struct detail {
    const struct reply_violation *v; /* BadRequest: the bad fields (nv of them) */
    size_t nv;
    const char *resource;        /* ResourceInfo: NULL = the request's path */
    const char *reason;          /* ErrorInfo: NULL = the status's own reason */
    const char *const *metadata; /* ErrorInfo: key, value, …, NULL */
    int64_t retry_s;             /* RetryInfo: seconds, when > 0 */
};

/* The error body's "details" for an answer of HTTP status `http`; NULL when out of memory. */
static json_t *details_json(const struct http_req *req, int http, const char *msg,
                            const struct detail *d)
{
    json_t *arr = json_array(), *o = NULL;
    if (!arr) return NULL;
    if (http == 400) {
        const struct reply_violation whole = {"", msg};
        const struct reply_violation *v = d->nv ? d->v : &whole;
        size_t n = d->nv ? d->nv : 1;
        json_t *fv = json_array();
        for (size_t i = 0; fv && i < n; i++)
            if (json_array_append_new(fv, json_pack("{s:s, s:s}", "field", v[i].field,
                                                    "description", v[i].description))) {
                json_decref(fv);
                fv = NULL;
            }
        o = fv ? json_pack("{s:s, s:o}", "@type", DETAIL_TYPE("BadRequest"), "fieldViolations", fv)
               : NULL;
    } else if (http == 401 || http == 403) {
        json_t *meta = json_object();
        for (size_t i = 0; meta && d->metadata && d->metadata[i] && d->metadata[i + 1]; i += 2)
            if (json_object_set_new(meta, d->metadata[i], json_string(d->metadata[i + 1]))) {
                json_decref(meta);
                meta = NULL;
            }
        const char *reason = d->reason     ? d->reason
                             : http == 401 ? "UNAUTHENTICATED"
                                           : "PERMISSION_DENIED";
        o = meta ? json_pack("{s:s, s:s, s:o}", "@type", DETAIL_TYPE("ErrorInfo"), "reason", reason,
                             "metadata", meta)
                 : NULL;
    } else if (http == 404 || http == 409) {
        char path[200];
        const char *name = d->resource;
        if (!name) { /* cleaned as for the log: no secret or control byte goes back out */
            kg_log_clean(req->path ? req->path : "", path, sizeof path);
            name = path;
        }
        o = json_pack("{s:s, s:s, s:s}", "@type", DETAIL_TYPE("ResourceInfo"), "resourceName", name,
                      "description", msg);
    } else if (http == 429 && d->retry_s > 0) {
        char delay[32];
        snprintf(delay, sizeof delay, "%llds", (long long)d->retry_s);
        o = json_pack("{s:s, s:s}", "@type", DETAIL_TYPE("RetryInfo"), "retryDelay", delay);
    } else {
        return arr;
    }
    if (!o || json_array_append_new(arr, o)) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

/* The error body {"code","message","status","details"}; NULL when out of memory. */
static json_t *error_body(const struct http_req *req, kg_err rc, const char *msg,
                          const struct detail *d)
{
    int http = kg_err_http(rc);
    json_t *details = details_json(req, http, msg, d);
    return details ? json_pack("{s:i, s:s, s:s, s:o}", "code", http, "message", msg, "status",
                               kg_err_status(rc), "details", details)
                   : NULL;
}

static void send_error(struct http_req *req, kg_err rc, const char *msg, int challenge_error,
                       const struct detail *d)
{
    int http = kg_err_http(rc);
    if (rc == KG_UNAVAILABLE) /* whatever the step was, this is what the caller can act on */
        msg = "the database is unavailable; try again shortly";
    if (http >= 500)
        set_note(req, "%s (%s)", msg, kg_err_name(rc));
    else
        set_note(req, "%s", msg);
    const char *bearer[] = {"WWW-Authenticate",
                            challenge_error ? "Bearer realm=\"keygate\", error=\"invalid_token\""
                                            : "Bearer realm=\"keygate\"",
                            NULL};
    send_json(req, http, error_body(req, rc, msg, d), rc == KG_UNAUTHENTICATED ? bearer : NULL,
              NULL);
}

/* RFC 6750 §3.1: no error code in the challenge when the request carried no credentials */
#define CARRIED_CREDENTIALS(req) (http_header((req), "Authorization") != NULL)

void reply_error(struct http_req *req, kg_err rc, const char *msg)
{
    const struct detail d = {0};
    send_error(req, rc, msg, CARRIED_CREDENTIALS(req), &d);
}

void reply_field_error(struct http_req *req, const char *field, const char *description)
{
    const struct reply_violation v = {field, description};
    reply_bad_request(req, KG_INVALID, description, &v, 1);
}

void reply_bad_request(struct http_req *req, kg_err rc, const char *msg,
                       const struct reply_violation *v, size_t n)
{
    const struct detail d = {.v = v, .nv = n};
    send_error(req, rc, msg, 0, &d);
}

void reply_resource_error(struct http_req *req, kg_err rc, const char *name, const char *msg)
{
    const struct detail d = {.resource = name};
    send_error(req, rc, msg, CARRIED_CREDENTIALS(req), &d);
}

void reply_reason_error(struct http_req *req, kg_err rc, const char *msg, const char *reason,
                        const char *const *metadata)
{
    const struct detail d = {.reason = reason, .metadata = metadata};
    send_error(req, rc, msg, CARRIED_CREDENTIALS(req), &d);
}

void reply_unauthenticated(struct http_req *req, const char *msg, int with_error)
{
    const struct detail d = {.reason = "ACCESS_TOKEN_INVALID"};
    send_error(req, KG_UNAUTHENTICATED, msg, with_error, &d);
}

void reply_oauth_error(struct http_req *req, kg_err rc, const char *error, const char *desc)
{
    int http = kg_err_http(rc);
    if (!error) error = kg_err_oauth(rc);
    set_note(req, "%s: %s", error, desc);
    const char *basic[] = {"WWW-Authenticate", "Basic realm=\"keygate\"", NULL};
    send_json(req, http, json_pack("{s:s, s:s}", "error", error, "error_description", desc),
              rc == KG_UNAUTHENTICATED ? basic : NULL, NULL);
}

void reply_rate_limited(struct http_req *req, const char *msg, int64_t wait_s)
{
    const struct detail d = {.retry_s = wait_s};
    send_error(req, KG_THROTTLED, msg, 0, &d);
}

void reply_throttled(struct http_req *req, int oauth, int64_t wait_s, const char *what)
{
    char msg[160], secs[24];
    snprintf(msg, sizeof msg, "too many failed %s; try again in %lld seconds", what,
             (long long)wait_s);
    snprintf(secs, sizeof secs, "%lld", (long long)wait_s);
    set_note(req, "%s", msg);
    const char *retry[] = {"Retry-After", secs, NULL};
    int http = kg_err_http(KG_THROTTLED);
    const struct detail d = {.retry_s = wait_s};
    json_t *body = oauth ? json_pack("{s:s, s:s}", "error", kg_err_oauth(KG_THROTTLED),
                                     "error_description", msg)
                         : error_body(req, KG_THROTTLED, msg, &d);
    send_json(req, http, body, retry, NULL);
}
