/*
 * err.c — the one table of what each kg_err is called: its name in logs, the HTTP status it
 * answers, the REST API's status name and the OAuth error code (RFC 6749 §5.2).  reply.c and
 * the HTTP adapters' own answers read it; nothing else maps a kg_err.
 */
#include "err.h"

#include <stddef.h>

static const struct {
    const char *name;   /* for logs: the constant's own name */
    int http;           /* HTTP status */
    const char *status; /* Google-style status name of the REST API */
    const char *oauth;  /* RFC 6749 §5.2 error code */
} table[] = {
    [KG_OK] = {"OK", 200, "OK", NULL},
    [KG_ENOMEM] = {"ENOMEM", 500, "INTERNAL", "server_error"},
    [KG_INVALID] = {"INVALID", 400, "INVALID_ARGUMENT", "invalid_request"},
    [KG_NOTFOUND] = {"NOTFOUND", 404, "NOT_FOUND", "invalid_request"},
    [KG_CONFLICT] = {"CONFLICT", 409, "ALREADY_EXISTS", "invalid_request"},
    [KG_PRECONDITION] = {"PRECONDITION", 400, "FAILED_PRECONDITION", "invalid_request"},
    [KG_UNAUTHENTICATED] = {"UNAUTHENTICATED", 401, "UNAUTHENTICATED", "invalid_client"},
    [KG_FORBIDDEN] = {"FORBIDDEN", 403, "PERMISSION_DENIED", "unauthorized_client"},
    [KG_TOOBIG] = {"TOOBIG", 413, "INVALID_ARGUMENT", "invalid_request"},
    [KG_UNAVAILABLE] = {"UNAVAILABLE", 503, "UNAVAILABLE", "temporarily_unavailable"},
    [KG_IO] = {"IO", 500, "INTERNAL", "server_error"},
    [KG_BADMETHOD] = {"BADMETHOD", 405, "METHOD_NOT_ALLOWED", "invalid_request"},
    [KG_UNIMPLEMENTED] = {"UNIMPLEMENTED", 501, "UNIMPLEMENTED", "invalid_request"},
    /* RFC 6749 names no error for this; temporarily_unavailable says "retry later" */
    [KG_THROTTLED] = {"THROTTLED", 429, "RESOURCE_EXHAUSTED", "temporarily_unavailable"},
    [KG_ABORTED] = {"ABORTED", 409, "ABORTED", "invalid_request"},
    [KG_INTERNAL] = {"INTERNAL", 500, "INTERNAL", "server_error"},
};

/* rc's row; KG_INTERNAL's for a value outside the enum. */
static unsigned row(kg_err rc)
{
    return (unsigned)rc < sizeof table / sizeof table[0] && table[rc].name ? (unsigned)rc
                                                                           : KG_INTERNAL;
}

const char *kg_err_name(kg_err rc)
{
    if ((unsigned)rc < sizeof table / sizeof table[0] && table[rc].name) return table[rc].name;
    return "UNKNOWN";
}

int kg_err_http(kg_err rc)
{
    return table[row(rc)].http;
}

const char *kg_err_status(kg_err rc)
{
    return table[row(rc)].status;
}

const char *kg_err_oauth(kg_err rc)
{
    return table[row(rc)].oauth;
}
