/*
 * gate.h — the gate: lets a reverse proxy (nginx auth_request, Envoy ext_authz, Traefik
 * forwardAuth) ask whether a bearer token may call a route of another API.  Routes map to
 * privileges through the policy file (policy.h); SIGHUP reloads it without dropping requests,
 * and a bad file is refused, keeping the policy in force.
 */
#ifndef KG_GATE_H
#define KG_GATE_H

#include "err.h"
#include "call.h"

struct gate;

/* Which headers carry the original request (--gate-headers).  Each proxy sets its own form
 * and passes the client's headers of the other form through untouched, so a request that
 * carries both forms, or one of the four headers twice, is refused, never judged on one of
 * them; a pinned form also refuses any header of the other. */
enum gate_headers {
    GATE_HEADERS_AUTO = 0,  /* either form, but never both */
    GATE_HEADERS_ORIGINAL,  /* X-Original-Method + X-Original-URI: nginx, Envoy */
    GATE_HEADERS_FORWARDED, /* X-Forwarded-Method + X-Forwarded-Uri: Traefik, Caddy */
};

/* "auto", "original" (or "nginx", "envoy"), "forwarded" (or "traefik", "caddy"). */
kg_err gate_headers_parse(const char *s, enum gate_headers *out);

/* path NULL: no policy file, every route is denied.  Caller owns *out.  A bad file at start
 * is an error (message logged). */
kg_err gate_new(const char *path, enum gate_headers headers, struct gate **out);
void gate_free(struct gate *g); /* NULL is a no-op */
/* Reads the policy file again; on any error the old policy stays (and the error is logged
 * with its line number).  Safe while requests are being answered. */
kg_err gate_reload(struct gate *g);

/* GET|any /gate: 204 + X-Keygate-Client-Id/X-Keygate-Role, 401, 403 or 400. */
void gate_check(struct call *c);

#endif
