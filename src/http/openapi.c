/*
 * openapi.c — serves the embedded OpenAPI document (openapi.h).
 */
#include "openapi.h"

#include "openapi_json.h" /* generated from doc/openapi.json: openapi_json[], NUL-ended */

void openapi_document(struct call *c)
{
    /* the same bytes for the binary's whole life: any cache may keep them a while */
    http_reply(c->req, 200, "application/json", (const char *)openapi_json, sizeof openapi_json - 1,
               (const char *const[]){"Cache-Control", "public, max-age=3600", NULL});
}
