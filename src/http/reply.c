/*
 * reply.c — JSON responses, and errors as answers: a kg_err's HTTP status, API status name and
 * OAuth error code come from err.c's one table.  What an error answer said is kept for the
 * request's one log line (reply_note), written by the router once the request is answered.
 */
#include "reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        char oom[96]; /* written here: nothing is allocated on this path */
        int n = snprintf(oom, sizeof oom,
                         "{\"code\":%d,\"message\":\"out of memory\",\"status\":\"%s\"}",
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

static void send_error(struct http_req *req, kg_err rc, const char *msg, int challenge_error)
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
    send_json(
        req, http,
        json_pack("{s:i, s:s, s:s}", "code", http, "message", msg, "status", kg_err_status(rc)),
        rc == KG_UNAUTHENTICATED ? bearer : NULL, NULL);
}

void reply_error(struct http_req *req, kg_err rc, const char *msg)
{
    /* RFC 6750 §3.1: no error code when the request carried no credentials at all */
    send_error(req, rc, msg, http_header(req, "Authorization") != NULL);
}

void reply_unauthenticated(struct http_req *req, const char *msg, int with_error)
{
    send_error(req, KG_UNAUTHENTICATED, msg, with_error);
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

void reply_throttled(struct http_req *req, int oauth, int64_t wait_s, const char *what)
{
    char msg[160], secs[24];
    snprintf(msg, sizeof msg, "too many failed %s; try again in %lld seconds", what,
             (long long)wait_s);
    snprintf(secs, sizeof secs, "%lld", (long long)wait_s);
    set_note(req, "%s", msg);
    const char *retry[] = {"Retry-After", secs, NULL};
    int http = kg_err_http(KG_THROTTLED);
    json_t *body = oauth ? json_pack("{s:s, s:s}", "error", kg_err_oauth(KG_THROTTLED),
                                     "error_description", msg)
                         : json_pack("{s:i, s:s, s:s}", "code", http, "message", msg, "status",
                                     kg_err_status(KG_THROTTLED));
    send_json(req, http, body, retry, NULL);
}
