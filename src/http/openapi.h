/*
 * openapi.h — the OpenAPI 3.1 document of keygate's HTTP API: doc/openapi.json, written and
 * kept by hand beside the route table, embedded at build time (tools/embed.c) and served
 * without authentication.  make test validates it and holds every answer of the end-to-end
 * suite to it (tests/e2e/openapi.test.js, tests/e2e/helpers.js).
 */
#ifndef KG_OPENAPI_H
#define KG_OPENAPI_H

#include "call.h"

/* GET /public/api/v1/openapi.json: the document, cacheable for an hour. */
void openapi_document(struct call *c);

#endif
