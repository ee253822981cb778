/*
 * gate.h — the gate: lets a reverse proxy (nginx auth_request, Envoy ext_authz, Traefik
 * forwardAuth) ask whether a bearer token may call a route of another API.  Routes map to
 * privileges through the policy file (policy.h); SIGHUP reloads it without dropping requests,
 * and a bad file is refused, keeping the policy in force.
 */
#ifndef KG_GATE_H
#define KG_GATE_H

#include "err.h"
#include "route.h"

struct gate;

/* path NULL: no policy file, every route is denied.  Caller owns *out.  A bad file at start
 * is an error (message logged). */
kg_err gate_new(const char *path, struct gate **out);
void gate_free(struct gate *g); /* NULL is a no-op */
/* Reads the policy file again; on any error the old policy stays (and the error is logged
 * with its line number).  Safe while requests are being answered. */
kg_err gate_reload(struct gate *g);

/* GET|any /gate: 204 + X-Keygate-Client-Id/X-Keygate-Role, 401, 403 or 400. */
void gate_check(struct call *c);

#endif
