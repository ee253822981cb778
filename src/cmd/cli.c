/*
 * cli.c — `keygate token|role|user …`: argument parsing, the calls into service.c, and
 * plain or --json output.  The CLI acts as the operator, who holds every role.
 *
 * Layout: option parsing, output helpers, token commands, role commands, user commands,
 * dispatch.
 */
#include "cli.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "render.h"
#include "service.h"
#include "util.h"

static const char usage_text[] =
    "usage: keygate <command> [options]\n"
    "\n"
    "  serve [--listen 127.0.0.1:8080] [--db PATH] [--issuer URL] [--audience AUD]\n"
    "        [--access-token-ttl SECONDS] [--session-idle SECONDS] [--threads N]\n"
    "        [--policy FILE] [--log-level LEVEL]       (SIGHUP reloads the policy)\n"
    "        [--max-conns N] [--max-conns-per-ip N]    (defaults 4096 and a quarter of it;\n"
    "                                                  behind a proxy, per-ip = max-conns)\n"
    "        [--header-timeout SECONDS] [--idle-timeout SECONDS]   (defaults 10 and 30)\n"
    "        [--gate-headers auto|original|forwarded]  (which headers /gate reads; aliases\n"
    "                                                  nginx, envoy = original; traefik,\n"
    "                                                  caddy = forwarded; auto refuses both)\n"
    "        [--trusted-proxy CIDR[,CIDR...]]          (only these peers' forwarding header\n"
    "        [--forwarded-header X-Forwarded-For|Forwarded|X-Real-IP]   is read)\n"
    "        [--admin-password-file FILE]  (the first user's password, or env\n"
    "                                      KEYGATE_ADMIN_PASSWORD; else one is generated)\n"
    "        [--min-body-rate BYTES_PER_S]  (default 1024: a request body slower than this,\n"
    "                                       after a 2 s grace, is cut)\n"
    "        [--signing-alg EdDSA|ES256|RS256]  (a new key directory's signing key; for one\n"
    "                                           of another algorithm, a rotation to it)\n"
    "        [--jwks-max-age SECONDS]  (default 300: the JWKS's Cache-Control; a new key\n"
    "                                  is published this long, plus 5 s, before it signs)\n"
    "  token create --role NAME [--description TEXT] [--expires-on 2027-01-31T00:00:00Z] [--json]\n"
    "  token list [--json]\n"
    "  token revoke CLIENT_ID\n"
    "  role create NAME [--description TEXT]\n"
    "  role list [--json]\n"
    "  role grant-privilege ROLE PRIVILEGE [--deny]\n"
    "  role revoke-privilege ROLE PRIVILEGE [--deny]\n"
    "  role grant-role ROLE GRANTED_ROLE\n"
    "  user create EMAIL --role NAME\n"
    "  keys rotate [--alg EdDSA|ES256|RS256]   (new access-token signing key, by default of\n"
    "                              the current key's algorithm; published at once, signing\n"
    "                              after --jwks-max-age; the old one stays published until\n"
    "                              the tokens it signed have expired)\n"
    "\n"
    "Every command takes --db PATH (or env KEYGATE_DB; default data/keygate.db) and creates\n"
    "and migrates the database if needed.  ROLE and NAME are role names.\n";

void cli_usage(void)
{
    fputs(usage_text, stdout);
}

/* ---- options ------------------------------------------------------------------------- */

struct args {
    const char *pos[3]; /* positional arguments after the verb */
    size_t npos;
    const char *role, *description, *expires_on, *alg;
    int json, deny, help;
};

/* Parses argv[2..] (after group and verb).  Returns 0, or 2 after printing a usage error. */
static int parse(int argc, char **argv, struct args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 2; i < argc; i++) {
        const char *s = argv[i];
        const char **slot = NULL;
        if (strcmp(s, "--json") == 0)
            a->json = 1;
        else if (strcmp(s, "--deny") == 0)
            a->deny = 1;
        else if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0)
            a->help = 1;
        else if (strcmp(s, "--role") == 0)
            slot = &a->role;
        else if (strcmp(s, "--description") == 0)
            slot = &a->description;
        else if (strcmp(s, "--expires-on") == 0)
            slot = &a->expires_on;
        else if (strcmp(s, "--alg") == 0)
            slot = &a->alg;
        else if (s[0] == '-' && s[1] == '-') {
            fprintf(stderr, "keygate: unknown option %s\n", s);
            return 2;
        } else if (a->npos < KG_ARRAY_LEN(a->pos))
            a->pos[a->npos++] = s;
        else {
            fprintf(stderr, "keygate: too many arguments\n");
            return 2;
        }
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "keygate: %s needs a value\n", s);
                return 2;
            }
            *slot = argv[++i];
        }
    }
    return 0;
}

static int fail(const char *what, kg_err rc, const char *why)
{
    fprintf(stderr, "keygate: %s: %s (%s)\n", what, why && *why ? why : "failed", kg_err_name(rc));
    return 1;
}

static int print_json(json_t *o)
{
    if (!o) return fail("output", KG_ENOMEM, "out of memory");
    json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(o);
    return 0;
}

static kg_err role_by_name(struct app *a, const char *name, struct kg_role *out, const char **why)
{
    kg_err rc = store_role_get_by_name(a->st, name, out);
    if (rc == KG_NOTFOUND) *why = "no role has that name";
    return rc;
}

/* ---- tokens -------------------------------------------------------------------------- */

static int token_cmd(struct app *a, const char *verb, const struct args *g)
{
    struct actor op = {.id = "cli", .operator= 1 };
    const char *why = "";
    kg_err rc;
    if (strcmp(verb, "create") == 0) {
        struct kg_role r;
        struct kg_token t;
        char secret[KG_SECRET_LEN + 1];
        int64_t exp = 0;
        if (!g->role || g->npos)
            return fprintf(
                       stderr,
                       "usage: keygate token create --role NAME [--description TEXT] [--json]\n"),
                   2;
        if (g->expires_on && kg_time_parse(g->expires_on, &exp) != KG_OK)
            return fail("token create", KG_INVALID,
                        "--expires-on must look like 2027-01-31T00:00:00Z");
        if ((rc = role_by_name(a, g->role, &r, &why)) ||
            (rc = service_token_create(a, &op, g->description ? g->description : "", r.role_id, exp,
                                       &t, secret, &why)))
            return fail("token create", rc, why);
        if (g->json)
            print_json(render_token(&t, 0, secret));
        else
            printf("Client ID:   %s\nSecret key:  %s\nRole:        %s\n"
                   "The secret key is shown only this once: store it now.\n",
                   t.client_id, secret, t.role_name);
        sodium_memzero(secret, sizeof secret);
        return 0;
    }
    if (strcmp(verb, "list") == 0) {
        json_t *arr = g->json ? json_array() : NULL;
        int64_t before = 0;
        if (!g->json)
            printf("%-20s  %-7s  %-20s  %-24s  %-24s  %s\n", "CLIENT ID", "STATUS", "ROLE",
                   "CREATED", "LAST ACCESS", "DESCRIPTION");
        for (;;) {
            struct kg_token *ts = NULL;
            size_t n = 0;
            if ((rc = store_token_list(a->st, before, 500, &ts, &n)) != KG_OK) {
                json_decref(arr);
                return fail("token list", rc, "could not read tokens");
            }
            for (size_t i = 0; i < n; i++) {
                if (arr) {
                    json_array_append_new(arr, render_token(&ts[i], 0, NULL));
                    continue;
                }
                char created[40], last[40] = "never";
                kg_time_format(ts[i].created_on, created, sizeof created);
                if (ts[i].last_access_on) kg_time_format(ts[i].last_access_on, last, sizeof last);
                printf("%-20s  %-7s  %-20s  %-24s  %-24s  %s\n", ts[i].client_id,
                       ts[i].status == KG_TOKEN_ACTIVE ? "Active" : "Revoked", ts[i].role_name,
                       created, last, ts[i].description);
            }
            if (n) before = ts[n - 1].seq;
            free(ts);
            if (n < 500) break;
        }
        return arr ? print_json(arr) : 0;
    }
    if (strcmp(verb, "revoke") == 0) {
        struct kg_token t;
        if (g->npos != 1) return fprintf(stderr, "usage: keygate token revoke CLIENT_ID\n"), 2;
        if ((rc = service_token_revoke(a, &op, g->pos[0], &t, &why)))
            return fail("token revoke", rc, why);
        printf("%s: Revoked\n", t.client_id);
        return 0;
    }
    fprintf(stderr, "usage: keygate token create|list|revoke ...\n");
    return 2;
}

/* ---- roles --------------------------------------------------------------------------- */

static int role_cmd(struct app *a, const char *verb, const struct args *g)
{
    struct actor op = {.id = "cli", .operator= 1 };
    const char *why = "";
    kg_err rc;
    struct kg_role r, r2;
    if (strcmp(verb, "create") == 0) {
        if (g->npos != 1)
            return fprintf(stderr, "usage: keygate role create NAME [--description TEXT]\n"), 2;
        if ((rc = service_role_create(a, &op, g->pos[0], g->description ? g->description : "", NULL,
                                      0, 0, &r, &why)))
            return fail("role create", rc, why);
        if (g->json) return print_json(render_role(&r, NULL));
        printf("%s  %s\n", r.role_id, r.role_name);
        return 0;
    }
    if (strcmp(verb, "list") == 0) {
        json_t *arr = g->json ? json_array() : NULL;
        int64_t after = 0;
        for (;;) {
            struct kg_role *rs = NULL;
            size_t n = 0;
            if ((rc = store_role_list(a->st, after, 500, &rs, &n)) != KG_OK) {
                json_decref(arr);
                return fail("role list", rc, "could not read roles");
            }
            for (size_t i = 0; i < n; i++) {
                if (arr)
                    json_array_append_new(arr, render_role(&rs[i], NULL));
                else
                    printf("%s  %-24s  %s\n", rs[i].role_id, rs[i].role_name, rs[i].description);
            }
            if (n) after = rs[n - 1].seq;
            free(rs);
            if (n < 500) break;
        }
        return arr ? print_json(arr) : 0;
    }
    if (strcmp(verb, "grant-privilege") == 0) {
        if (g->npos != 2)
            return fprintf(stderr, "usage: keygate role grant-privilege ROLE PRIVILEGE [--deny]\n"),
                   2;
        if ((rc = role_by_name(a, g->pos[0], &r, &why)) ||
            (rc = service_privilege_grant(a, &op, r.role_id,
                                          privilege_kind_name(g->deny ? KG_DENY : KG_ALLOW),
                                          g->pos[1], &why)))
            return fail("role grant-privilege", rc, why);
        printf("%s: %s %s\n", r.role_name, privilege_kind_name(g->deny ? KG_DENY : KG_ALLOW),
               g->pos[1]);
        return 0;
    }
    if (strcmp(verb, "revoke-privilege") == 0) {
        int changed = 0;
        if (g->npos != 2)
            return fprintf(stderr,
                           "usage: keygate role revoke-privilege ROLE PRIVILEGE [--deny]\n"),
                   2;
        if ((rc = role_by_name(a, g->pos[0], &r, &why)) ||
            (rc = service_privilege_revoke(a, &op, r.role_id,
                                           privilege_kind_name(g->deny ? KG_DENY : KG_ALLOW),
                                           g->pos[1], &changed, &why)))
            return fail("role revoke-privilege", rc, why);
        printf("%s: %s %s %s\n", r.role_name, privilege_kind_name(g->deny ? KG_DENY : KG_ALLOW),
               g->pos[1], changed ? "revoked" : "was not granted");
        return 0;
    }
    if (strcmp(verb, "grant-role") == 0) {
        if (g->npos != 2)
            return fprintf(stderr, "usage: keygate role grant-role ROLE GRANTED_ROLE\n"), 2;
        if ((rc = role_by_name(a, g->pos[0], &r, &why)) ||
            (rc = role_by_name(a, g->pos[1], &r2, &why)))
            return fail("role grant-role", rc, why);
        if (r.ngranted >= KG_GRANTS_MAX)
            return fail("role grant-role", KG_INVALID, "too many roles (at most 32)");
        for (size_t i = 0; i < r.ngranted; i++)
            if (strcmp(r.granted[i], r2.role_id) == 0)
                return printf("%s already has %s\n", r.role_name, r2.role_name), 0;
        memcpy(r.granted[r.ngranted++], r2.role_id, sizeof r2.role_id);
        if ((rc = service_role_update(a, &op, r.role_id, NULL, NULL, (const kg_role_id *)r.granted,
                                      r.ngranted, 1, &r, &why)))
            return fail("role grant-role", rc, why);
        printf("%s: granted %s\n", r.role_name, r2.role_name);
        return 0;
    }
    fprintf(stderr,
            "usage: keygate role create|list|grant-privilege|revoke-privilege|grant-role ...\n");
    return 2;
}

/* ---- users --------------------------------------------------------------------------- */

static int user_cmd(struct app *a, const char *verb, const struct args *g)
{
    struct actor op = {.id = "cli", .operator= 1 };
    const char *why = "";
    kg_err rc;
    if (strcmp(verb, "create") == 0) {
        struct kg_role r;
        struct kg_user u;
        char password[33];
        if (g->npos != 1 || !g->role)
            return fprintf(stderr, "usage: keygate user create EMAIL --role NAME\n"), 2;
        if ((rc = role_by_name(a, g->role, &r, &why)) ||
            (rc = service_user_create(a, &op, g->pos[0], NULL, (const kg_role_id *)&r.role_id, 1,
                                      &u, password, &why)))
            return fail("user create", rc, why);
        printf(
            "User ID:   %s\nEmail:     %s\nPassword:  %s\nThe password is shown only this once.\n",
            u.user_id, u.email, password);
        sodium_memzero(password, sizeof password);
        return 0;
    }
    fprintf(stderr, "usage: keygate user create EMAIL --role NAME\n");
    return 2;
}

/* ---- keys ---------------------------------------------------------------------------- */

static int keys_cmd(const char *dir, const char *verb, const struct args *g)
{
    char kid[KG_KID_MAX + 1];
    kg_err rc;
    int alg = g->alg ? keys_alg_parse(g->alg) : -1;
    if (strcmp(verb, "rotate") != 0 || g->npos || (g->alg && alg < 0)) {
        fprintf(stderr, "usage: keygate keys rotate [--alg EdDSA|ES256|RS256]\n");
        return 2;
    }
    if ((rc = keys_rotate(dir, alg, kid)) != KG_OK)
        return fail("keys rotate", rc, "could not write the new key");
    printf("New signing key %s. Running servers publish it within a second and sign with it once "
           "it has been published for their --jwks-max-age (default 300 s) plus 5 s; the old key "
           "stays published until the tokens it signed have expired.\n",
           kid);
    return 0;
}

/* ---- dispatch ------------------------------------------------------------------------ */

int cli_run(int argc, char **argv, const char *db, const char *keys_dir)
{
    struct args g;
    struct app a;
    int status;
    if (argc < 2 || parse(argc, argv, &g) != 0) {
        cli_usage();
        return 2;
    }
    if (g.help || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        cli_usage();
        return 0;
    }
    struct app_opts ao = {.db = db, .keys_dir = keys_dir};
    char err[512];
    if (app_open(&ao, &a, err, sizeof err) != KG_OK) {
        fprintf(stderr, "keygate: %s\n", err);
        return 1;
    }
    if (strcmp(argv[0], "keys") == 0)
        status = keys_cmd(keys_dir, argv[1], &g);
    else if (strcmp(argv[0], "token") == 0)
        status = token_cmd(&a, argv[1], &g);
    else if (strcmp(argv[0], "role") == 0)
        status = role_cmd(&a, argv[1], &g);
    else if (strcmp(argv[0], "user") == 0)
        status = user_cmd(&a, argv[1], &g);
    else {
        cli_usage();
        status = 2;
    }
    app_close(&a);
    return status;
}
