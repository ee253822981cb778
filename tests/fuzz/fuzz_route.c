/*
 * fuzz_route.c — whole requests through route_request (route.c): path matching and path
 * parameters, methods, query strings (pageSize, pageToken), the Authorization header
 * (Bearer for the API and the gate, Basic at the token endpoint), the session cookie and the
 * CSRF header, Content-Type checks and the form and JSON bodies behind them, the gate's
 * X-Original-* headers; over a real app (SQLite store in a scratch directory, view, keys,
 * sessions, gate policy; opened by app_open() as the server opens it) with a few roles and
 * tokens.
 *
 * Input: a request as text (stub_http.h's format).  A header or cookie value "@" stands for
 * a real credential: "Authorization: @" becomes a valid bearer access token of an
 * accountadmin API token, "Cookie: kg_session=@" a live pane session, "X-CSRF-Token: @" its
 * CSRF token.  So that every run sees the same state, requests that would change it are not
 * made: authenticated ones other than GET, and POST /login (also an argon2id hash: slow).
 *
 * KG_FUZZ_VERBOSE=1 prints each request's method, path and status (to replay a corpus).
 *
 * Checks: each request is answered exactly once, never with a 5xx; without a credential,
 * the REST API, /pane/session and the gate never answer 2xx.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "log.h"
#include "route.h"
#include "scratch.h"
#include "service.h"
#include "stub_http.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct app app;
static char bearer[8 + KG_JWT_MAX + 1];
static char sid[KG_SESSION_ID_LEN + 1], csrf[KG_SESSION_ID_LEN + 1];
static int verbose; /* KG_FUZZ_VERBOSE: print each request's status */

static void fail(const char *what, kg_err rc)
{
    fprintf(stderr, "fuzz_route: setting up: %s: %s\n", what, kg_err_name(rc));
    exit(1);
}

/* Two roles with a privilege each, and two API tokens, besides the built-in roles. */
static void populate(const struct kg_role *admin)
{
    struct actor op = {.id = "cli", .operator= 1 };
    struct kg_role r, r2;
    struct kg_token t;
    char secret[KG_SECRET_LEN + 1];
    const char *why = "";
    struct service_privilege read = {
        .grant_kind = "Allow", .privilege = "orders:read", .grant_option = 1};
    struct service_privilege deny = {.grant_kind = "Deny", .privilege = "CreateUser"};
    kg_err rc;
    if ((rc = service_role_create(&app, &op, "ops_team", "Operations", NULL, 0, 0, &r, &why)) ||
        (rc = service_privilege_grant(&app, &op, r.role_id, &read, &why)) ||
        (rc = service_role_create(&app, &op, "dev", "", (const kg_role_id *)&r.role_id, 1, 0, &r2,
                                  &why)) ||
        (rc = service_privilege_grant(&app, &op, r2.role_id, &deny, &why)) ||
        (rc = service_token_create(&app, &op, "reader", r2.role_id, 0, NULL, &t, secret, &why)))
        fail(why, rc);
    if ((rc = service_token_create(&app, &op, "admin", admin->role_id, 0, NULL, &t, secret, &why)))
        fail(why, rc);

    /* The admin token's access token, valid for a day (longer than any run). */
    struct jwt_claims c;
    memset(&c, 0, sizeof c);
    memcpy(c.iss, app.cfg.issuer, sizeof c.iss);
    memcpy(c.aud, app.cfg.audience, sizeof c.aud);
    memcpy(c.sub, t.client_id, sizeof c.sub);
    memcpy(c.role, KG_ROLE_ACCOUNTADMIN, sizeof KG_ROLE_ACCOUNTADMIN);
    ids_jti(c.jti);
    c.iat = kg_now_ms() / 1000;
    c.exp = c.iat + 86400;
    char *jwt = NULL;
    if ((rc = jwt_issue(app.keys, &c, &jwt)) != KG_OK) fail("jwt_issue", rc);
    snprintf(bearer, sizeof bearer, "Bearer %s", jwt);
    free(jwt);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    static const char policy[] = "GET /api/v1/orders/* orders:read\n"
                                 "ANY /admin/** ManageSecurity\n";
    char db[1024], pol[1024], err[512];
    kg_err rc;
    kg_log_level = LOG_CRIT;
    verbose = getenv("KG_FUZZ_VERBOSE") != NULL;
    if (sodium_init() < 0) fail("sodium_init", KG_INTERNAL);
    if (!scratch_dir() || scratch_write("gate.policy", policy, sizeof policy - 1) ||
        scratch_path("gate.policy", pol, sizeof pol) || scratch_path("kg.db", db, sizeof db))
        fail("scratch directory", KG_IO);
    /* the stub's peer, 127.0.0.1, is a trusted proxy: X-Forwarded-For is read */
    struct app_opts o = {.db = db,
                         .keys_dir = scratch_dir(),
                         .serve = 1,
                         .session_idle = 3600,
                         .policy = pol,
                         .trusted_proxy = "127.0.0.0/8,::1",
                         .cfg = {.issuer = "http://127.0.0.1:8080",
                                 .audience = "http://127.0.0.1:8080",
                                 .access_token_ttl = 3600}};
    if ((rc = app_open(&o, &app, err, sizeof err)) != KG_OK) fail(err, rc);
    struct store *st = app.st;

    int created = 0;
    if ((rc = service_bootstrap(&app, "fuzz-admin-password", &created)) != KG_OK)
        fail("bootstrap", rc);
    struct kg_role admin;
    struct kg_user u;
    struct session_info si;
    if ((rc = store_role_get_by_name(st, KG_ROLE_ACCOUNTADMIN, &admin)) ||
        (rc = store_user_get_by_email(st, "admin@localhost", &u)) ||
        (rc = sessions_create(app.sessions, u.user_id, u.password_hash, kg_now_ms(), sid, &si)))
        fail("admin user and session", rc);
    memcpy(csrf, si.csrf, sizeof csrf);
    populate(&admin);
    if ((rc = view_sync(app.view)) != KG_OK) fail("view_sync", rc);
    /* Left to the process's end: the app lives as long as the fuzzer. */
    return 0;
}

/* Puts the real credentials where the request says "@"; 1 when it did. */
static int credentials(struct stub_req *s)
{
    int used = 0;
    for (size_t i = 0; i < s->nheaders; i++) {
        if (strcmp(s->headers[i].value, "@") != 0) continue;
        if (strcasecmp(s->headers[i].name, "Authorization") == 0)
            s->headers[i].value = bearer;
        else if (strcasecmp(s->headers[i].name, "X-CSRF-Token") == 0)
            s->headers[i].value = csrf;
        else
            continue;
        used = 1;
    }
    for (size_t i = 0; i < s->ncookies; i++) {
        if (strcmp(s->cookies[i].value, "@") != 0) continue;
        s->cookies[i].value = sid;
        used = 1;
    }
    return used;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    struct stub_req s;
    struct http_req req;
    stub_req_init(&s, &req);
    if (stub_req_parse(&s, &req, text, size) != 0) goto out;
    int authed = credentials(&s);
    if ((authed && strcmp(req.method, "GET") != 0) ||
        (strcmp(req.method, "POST") == 0 && strcmp(req.path, "/login") == 0))
        goto out;

    route_request(&req, &app);
    if (verbose) fprintf(stderr, "fuzz_route: %s %s: %d\n", req.method, req.path, s.status);

    if (s.replies != 1 || !req.replied || s.status < 200 || s.status >= 500) {
        fprintf(stderr, "fuzz_route: %u replies, status %d\n", s.replies, s.status);
        abort();
    }
    /* the API's contract is public, like the OAuth server's metadata */
    int public_doc = strcmp(req.path, "/public/api/v1/openapi.json") == 0;
    if (!authed && s.status < 300 && !public_doc &&
        (strncmp(req.path, "/public/", 8) == 0 || strcmp(req.path, "/pane/session") == 0 ||
         strcmp(req.path, "/gate") == 0)) {
        fprintf(stderr, "fuzz_route: %s %s answered %d without credentials\n", req.method, req.path,
                s.status);
        abort();
    }
out:
    free(text);
    return 0;
}
