/*
 * route.h — the router: one declarative table of every route (route.c), each with its
 * authentication, privilege, body limit and error form, enforced before its handler runs.
 * The handlers' request core is call.h.
 */
#ifndef KG_ROUTE_H
#define KG_ROUTE_H

#include <stddef.h>

#include "http.h"

/* The http_handler: ctx is the struct app. */
void route_request(struct http_req *req, void *ctx);

/* The largest body any route accepts: what the HTTP adapter must read (http_config.body_max)
 * for route_request() to enforce each route's own limit. */
size_t route_body_max(void);

#endif
