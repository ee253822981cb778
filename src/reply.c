/*
 * reply.c — JSON responses and the single kg_err → HTTP / OAuth error mapping.
 */
#include "reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const struct {
    int http;
    const char *status; /* Google-style status name of the REST API */
    const char *oauth;  /* RFC 6749 §5.2 error code */
} map[] = {
    [KG_OK] = {200, "OK", NULL},
    [KG_ENOMEM] = {500, "INTERNAL", "server_error"},
    [KG_INVALID] = {400, "INVALID_ARGUMENT", "invalid_request"},
    [KG_NOTFOUND] = {404, "NOT_FOUND", "invalid_request"},
    [KG_CONFLICT] = {409, "ALREADY_EXISTS", "invalid_request"},
    [KG_PRECONDITION] = {400, "FAILED_PRECONDITION", "invalid_request"},
    [KG_UNAUTHENTICATED] = {401, "UNAUTHENTICATED", "invalid_client"},
    [KG_FORBIDDEN] = {403, "PERMISSION_DENIED", "unauthorized_client"},
    [KG_TOOBIG] = {413, "INVALID_ARGUMENT", "invalid_request"},
    [KG_UNAVAILABLE] = {503, "UNAVAILABLE", "temporarily_unavailable"},
    [KG_IO] = {500, "INTERNAL", "server_error"},
    [KG_BADMETHOD] = {405, "METHOD_NOT_ALLOWED", "invalid_request"},
    [KG_INTERNAL] = {500, "INTERNAL", "server_error"},
};

static unsigned idx(kg_err rc)
{
    return (unsigned)rc < sizeof map / sizeof map[0] && map[rc].status ? (unsigned)rc : KG_INTERNAL;
}

int reply_status(kg_err rc)
{
    return map[idx(rc)].http;
}

const char *reply_status_name(kg_err rc)
{
    return map[idx(rc)].status;
}

/* Sends JSON text (NULL: out of memory) with the headers every JSON answer carries: `cache`
 * as Cache-Control, or NULL for no-store. */
static void send_text(struct http_req *req, int status, const char *text, size_t len,
                      const char *const *extra, const char *cache)
{
    if (!text) {
        static const char oom[] = "{\"code\":500,\"message\":\"out of memory\",\"status\":\"INTERNAL\"}";
        http_reply(req, 500, "application/json", oom, sizeof oom - 1, NULL);
        return;
    }
    const char *headers[8] = {"Cache-Control", cache ? cache : "no-store", cache ? NULL : "Pragma", "no-cache"};
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
    unsigned i = idx(rc);
    if (rc == KG_UNAVAILABLE) /* whatever the step was, this is what the caller can act on */
        msg = "the database is unavailable; try again shortly";
    char path[160];
    kg_log_clean(req->path, path, sizeof path);
    if (map[i].http >= 500) KG_LOG_REQ(LOG_ERR, req->id, "%s %s: %s (%s)", req->method, path, msg, kg_err_name(rc));
    else KG_LOG_REQ(LOG_INFO, req->id, "%s %s: %d %s", req->method, path, map[i].http, msg);
    const char *bearer[] = {"WWW-Authenticate",
                            challenge_error ? "Bearer realm=\"keygate\", error=\"invalid_token\""
                                            : "Bearer realm=\"keygate\"",
                            NULL};
    send_json(req, map[i].http, json_pack("{s:i, s:s, s:s}", "code", map[i].http, "message", msg, "status", map[i].status),
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
    unsigned i = idx(rc);
    if (!error) error = map[i].oauth;
    KG_LOG_REQ(LOG_INFO, req->id, "POST /oauth: %d %s", map[i].http, error);
    const char *basic[] = {"WWW-Authenticate", "Basic realm=\"keygate\"", NULL};
    send_json(req, map[i].http, json_pack("{s:s, s:s}", "error", error, "error_description", desc),
              rc == KG_UNAUTHENTICATED ? basic : NULL, NULL);
}

void reply_throttled(struct http_req *req, int oauth, int64_t wait_s, const char *what)
{
    char msg[160], secs[24];
    snprintf(msg, sizeof msg, "too many failed %s; try again in %lld seconds", what, (long long)wait_s);
    snprintf(secs, sizeof secs, "%lld", (long long)wait_s);
    KG_LOG_REQ(LOG_NOTICE, req->id, "%s throttled for %lld s (address %s)", what, (long long)wait_s, req->peer);
    const char *retry[] = {"Retry-After", secs, NULL};
    /* RFC 6749 names no error for this; temporarily_unavailable says "retry later" */
    json_t *body = oauth ? json_pack("{s:s, s:s}", "error", "temporarily_unavailable", "error_description", msg)
                         : json_pack("{s:i, s:s, s:s}", "code", 429, "message", msg, "status", "RESOURCE_EXHAUSTED");
    send_json(req, 429, body, retry, NULL);
}
