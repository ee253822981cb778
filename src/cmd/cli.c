/*
 * cli.c — `keygate …`: the command table, the command line read against it, help, where the
 * data lives, and the commands: `serve` (handed to server.c) and the operator's (token,
 * role, user, audit, keys), which work on the database directly as the operator, who holds
 * every role.
 *
 * One table, commands[], names every command with its arguments and options, a line of help
 * each: the parser accepts exactly those, --help prints them, and doc/keygate.1 lists the
 * same (tests/e2e/cli.test.js compares the two).  Nothing is created — no directory, no
 * database — before the whole command line has been read and found good.
 *
 * Layout: the table, reading the command line, help, the data location, output (aligned
 * tables, JSON), serve, tokens, roles, users, the audit log, keys, cli_main().
 */
#include "cli.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "gate.h"
#include "http.h"
#include "log.h"
#include "render.h"
#include "server.h"
#include "service.h"
#include "util.h"
#include "version.h"
#include "webhook.h"

/* ---- the table ----------------------------------------------------------------------- */

struct ctx;

/* An option: a flag (meta NULL) or one taking a value, checked as it is read. */
struct opt {
    const char *name; /* "--role" */
    const char *meta; /* the value in help ("NAME"); NULL: a flag */
    const char *help; /* one line */
    int64_t lo, hi;   /* lo < hi: a whole number in [lo, hi] */
    int (*ok)(const char *v);
    const char *must; /* with ok: what the value must be, for the error */
};

struct cmd {
    const char *group;    /* the first word: "token" */
    const char *verb;     /* the rest: "create", "secret add"; NULL for a one-word command */
    const char *args;     /* its arguments, space-separated ("ROLE PRIVILEGE"); NULL: none */
    const char *required; /* an option it cannot do without; NULL: none */
    enum { USES_KEYS, USES_DB, USES_SERVER } uses;
    int (*run)(struct ctx *c);
    const char *summary; /* one line */
    const struct opt *opts;
};

static int ok_log_level(const char *v)
{
    return kg_log_parse_level(v) >= 0;
}
static int ok_log_format(const char *v)
{
    return kg_log_parse_format(v) >= 0;
}
static int ok_alg(const char *v)
{
    return keys_alg_parse(v) >= 0;
}
#define GRACE_MAX_S 2592000             /* 30 days: the REST API's gracePeriodSeconds bound */
#define LIFETIME_MAX_S (3650 * 86400LL) /* ten years */
#define LIFETIME_MUST "a duration like 90d, 12h or 30m, at most 3650d"
static int ok_lifetime(const char *v)
{
    int64_t sec;
    return kg_parse_duration(v, LIFETIME_MAX_S, &sec) == KG_OK && sec > 0;
}
/* "REQUESTS/DURATION": 1 to KG_RATE_REQUESTS_MAX requests in 1 s to KG_RATE_PERIOD_MAX. */
#define RATE_MUST "a rate limit like 100/60s, 5000/1h or 100000/1d (at most 1000000 a second)"
static int rate_parse(const char *v, int64_t *requests, int64_t *period_s)
{
    char n[24];
    const char *slash = v ? strchr(v, '/') : NULL;
    if (!slash || (size_t)(slash - v) >= sizeof n) return 0;
    memcpy(n, v, (size_t)(slash - v));
    n[slash - v] = '\0';
    return kg_parse_int64(n, 1, KG_RATE_REQUESTS_MAX, requests) == KG_OK &&
           kg_parse_duration(slash + 1, KG_RATE_PERIOD_MAX, period_s) == KG_OK && *period_s > 0 &&
           *requests <= *period_s * KG_RATE_PER_S_MAX;
}
static int ok_rate(const char *v)
{
    int64_t r, p;
    return rate_parse(v, &r, &p);
}
#define RETENTION_MUST "a duration like 90d, at least 1d and at most 3650d"
static int ok_retention(const char *v)
{
    int64_t sec;
    return kg_parse_duration(v, LIFETIME_MAX_S, &sec) == KG_OK && sec >= 86400;
}
static int ok_grace(const char *v)
{
    int64_t sec;
    return kg_parse_duration(v, GRACE_MAX_S, &sec) == KG_OK;
}
static int ok_time(const char *v)
{
    int64_t ms;
    return kg_time_parse(v, &ms) == KG_OK;
}
static int ok_gate_headers(const char *v)
{
    enum gate_headers form;
    return gate_headers_parse(v, &form) == KG_OK;
}
/* An IP address (not a name: nothing is looked up) and a port. */
static int ok_listen(const char *v)
{
    char host[64];
    unsigned port;
    unsigned char buf[sizeof(struct in6_addr)];
    return http_parse_listen(v, host, sizeof host, &port) == KG_OK &&
           (inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1);
}

/* The table's entries: a flag; an option with a value; a whole number in [lo, hi]; a value
 * that ok() accepts (else the error says "NAME is MUST"). */
/* clang-format off */
#define OPT_FLAG(name, help) {name, NULL, help, 0, 0, NULL, NULL}
#define OPT_TEXT(name, meta, help) {name, meta, help, 0, 0, NULL, NULL}
#define OPT_NUM(name, meta, lo, hi, help) {name, meta, help, lo, hi, NULL, NULL}
#define OPT_CHECKED(name, meta, help, ok, must) {name, meta, help, 0, 0, ok, must}
#define OPT_END {NULL, NULL, NULL, 0, 0, NULL, NULL}
/* clang-format on */
#define TIME_MUST "a UTC time like 2027-01-31T00:00:00Z"
#define GRACE_MUST "a duration like 90s, 30m, 12h or 7d, at most 30d, or 0"
#define ALG_MUST "EdDSA, ES256 or RS256"
#define OPT_JSON OPT_FLAG("--json", "print JSON, as the REST API renders it")

static const struct opt global_opts[] = {
    OPT_TEXT("--db", "URI", "the database: a SQLite file or postgres://… (else $KEYGATE_DB)"),
    OPT_TEXT("--keys-dir", "DIR", "where the key files live (default: beside the SQLite file)"),
    OPT_CHECKED("--log-level", "LEVEL", "error, warning, notice, info (the default) or debug",
                ok_log_level, "error, warning, notice, info or debug"),
    OPT_CHECKED("--log-format", "text|json",
                "log lines as text (the default) or one JSON object each", ok_log_format,
                "text or json"),
    OPT_FLAG("--help", "print this help and exit (also -h)"),
    OPT_END,
};
enum { G_DB, G_KEYS_DIR, G_LOG_LEVEL, G_LOG_FORMAT, G_HELP, G_COUNT };

static const struct opt serve_opts[] = {
    OPT_CHECKED("--listen", "ADDR:PORT",
                "the IP address and port to serve on (default 127.0.0.1:8080)", ok_listen,
                "an IP address and port like 127.0.0.1:8080 or [::1]:8080"),
    OPT_TEXT("--issuer", "URL",
             "the URL clients reach keygate at: tokens' iss (default http://LISTEN)"),
    OPT_TEXT("--audience", "AUD", "access tokens' aud (default: the issuer)"),
    OPT_NUM("--access-token-ttl", "SECONDS", 10, 86400,
            "how long an access token lives (default 600)"),
    OPT_NUM("--session-idle", "SECONDS", 1, 7 * 86400,
            "how long a web-pane session lives unused (default 1800)"),
    OPT_TEXT("--policy", "FILE", "the gate's route policy; SIGHUP reloads it (default: deny all)"),
    OPT_NUM("--threads", "N", 1, 256, "HTTP threads (default: one per core)"),
    OPT_NUM("--max-conns", "N", 16, 1000000, "open connections at most (default 4096)"),
    OPT_NUM("--max-conns-per-ip", "N", 1, 1000000,
            "from one address at most (default: a quarter of --max-conns)"),
    OPT_NUM("--header-timeout", "SECONDS", 1, 3600,
            "time to send a request's headers (default 10)"),
    OPT_NUM("--idle-timeout", "SECONDS", 1, 3600,
            "an unused connection is closed after it (default 30)"),
    OPT_NUM("--min-body-rate", "BYTES", 1, 1000000000,
            "a body slower a second, after 2 s, is cut (default 1024)"),
    OPT_CHECKED("--gate-headers", "FORM",
                "what /gate reads: auto, original (nginx) or forwarded (traefik)", ok_gate_headers,
                "auto, original (or nginx, envoy) or forwarded (or traefik, caddy)"),
    OPT_TEXT("--trusted-proxy", "CIDR[,CIDR...]", "peers whose forwarding header names the client"),
    OPT_TEXT("--forwarded-header", "HEADER",
             "X-Forwarded-For (the default), Forwarded or X-Real-IP"),
    OPT_TEXT("--admin-password-file", "FILE",
             "the first user's password (else $KEYGATE_ADMIN_PASSWORD)"),
    OPT_CHECKED("--signing-alg", "EdDSA|ES256|RS256",
                "a new key directory's signing algorithm, or a rotation", ok_alg, ALG_MUST),
    OPT_CHECKED("--max-secret-lifetime", "DURATION",
                "how long a new secret may live at most, like 90d (else "
                "$KEYGATE_MAX_SECRET_LIFETIME; default no limit)",
                ok_lifetime, LIFETIME_MUST),
    OPT_NUM("--jwks-max-age", "SECONDS", 0, 86400,
            "the JWKS's Cache-Control; a new key waits as long (default 300)"),
    OPT_CHECKED("--default-rate-limit", "REQUESTS/DURATION",
                "the rate limit of tokens without one of their own, like 100/60s (default none)",
                ok_rate, RATE_MUST),
    OPT_CHECKED("--usage-retention", "DURATION", "how long usage counts are kept (default 90d)",
                ok_retention, RETENTION_MUST),
    OPT_NUM("--usage-flush-ms", "MS", 100, 60000,
            "how often usage counts are written to the database (default 2000)"),
    OPT_FLAG("--no-usage-counts", "count no usage: GET …/usage and the pane's charts stay empty"),
    OPT_TEXT("--webhook", "'URL secret-file=PATH'",
             "POST every audit event to URL, signed with the file's secret; again for more "
             "(else $KEYGATE_WEBHOOK)"),
    OPT_NUM("--webhook-timeout", "SECONDS", 1, 60, "one webhook delivery, at most (default 10)"),
    OPT_NUM("--webhook-attempts", "N", 1, 100,
            "attempts at an event before it is given up (default 16)"),
    OPT_NUM("--webhook-backoff", "SECONDS", 1, 3600,
            "the wait before an event's first retry, doubling after (default 1)"),
    OPT_END,
};

static const struct opt token_create_opts[] = {
    OPT_TEXT("--role", "NAME", "the role the token acts as (required)"),
    OPT_TEXT("--description", "TEXT", "what the token is for"),
    OPT_CHECKED("--expires-on", "TIME",
                "when it stops working (UTC, 2027-01-31T00:00:00Z; default never)", ok_time,
                TIME_MUST),
    OPT_JSON,
    OPT_END,
};
static const struct opt secret_add_opts[] = {
    OPT_TEXT("--description", "TEXT", "what the secret is for (at most 128 bytes)"),
    OPT_CHECKED("--expires-on", "TIME",
                "when it stops working (UTC, 2027-01-31T00:00:00Z; default never)", ok_time,
                TIME_MUST),
    OPT_JSON,
    OPT_END,
};
static const struct opt token_rotate_opts[] = {
    OPT_CHECKED("--grace", "DURATION",
                "how long the older secrets keep working: 90s, 30m, 12h, 7d; 0 = stop now "
                "(default 24h, at most 30d)",
                ok_grace, GRACE_MUST),
    OPT_TEXT("--description", "TEXT", "what the new secret is for (at most 128 bytes)"),
    OPT_CHECKED("--expires-on", "TIME", "when the new secret stops working (UTC; default never)",
                ok_time, TIME_MUST),
    OPT_JSON,
    OPT_END,
};
static const struct opt json_only_opts[] = {OPT_JSON, OPT_END};
static const struct opt no_opts[] = {OPT_END};
static const struct opt role_create_opts[] = {
    OPT_TEXT("--description", "TEXT", "what the role is for"),
    OPT_JSON,
    OPT_END,
};
static const struct opt grant_privilege_opts[] = {
    OPT_FLAG("--deny", "a Deny grant rather than an Allow"),
    OPT_FLAG("--grant-option", "with grant option: the role may grant the privilege on"),
    OPT_END,
};
static const struct opt revoke_privilege_opts[] = {
    OPT_FLAG("--deny", "only if the role holds it as a Deny (default: whatever its kind)"),
    OPT_FLAG("--grant-option", "take back only its grant option; the privilege stays"),
    OPT_END,
};
static const struct opt user_create_opts[] = {
    OPT_TEXT("--role", "NAME", "the role the user holds (required)"),
    OPT_TEXT("--password-file", "FILE", "the password, one line (default: one is generated)"),
    OPT_END,
};
static const struct opt user_reset_opts[] = {
    OPT_TEXT("--password-file", "FILE", "the new password, one line (default: one is generated)"),
    OPT_END,
};
static const struct opt audit_list_opts[] = {
    OPT_TEXT("--actor", "ID", "only this actor's entries (u-…, kgc_…, cli)"),
    OPT_CHECKED("--since", "TIME", "only entries at or after this UTC time", ok_time, TIME_MUST),
    OPT_CHECKED("--until", "TIME", "only entries before this UTC time", ok_time, TIME_MUST),
    OPT_NUM("--limit", "N", 1, 100000, "the newest N entries at most (default 100)"),
    OPT_JSON,
    OPT_END,
};
#define RATE_OR_NONE_MUST "a rate limit like 100/60s, or none"
static int ok_rate_or_none(const char *v)
{
    return strcmp(v, "none") == 0 || ok_rate(v);
}
static const struct opt token_update_opts[] = {
    OPT_TEXT("--description", "TEXT", "what the token is for"),
    OPT_CHECKED("--rate-limit", "REQUESTS/DURATION",
                "its own rate limit, like 100/60s; none: the deployment's default", ok_rate_or_none,
                RATE_OR_NONE_MUST),
    OPT_TEXT("--allowed-cidrs", "CIDR[,CIDR...]",
             "the client addresses it may be used from; any: every address"),
    OPT_JSON,
    OPT_END,
};
#define GRANULARITY_MUST "hour or day"
static int ok_granularity(const char *v)
{
    return strcmp(v, "hour") == 0 || strcmp(v, "day") == 0;
}
static const struct opt token_usage_opts[] = {
    OPT_CHECKED("--since", "TIME", "from (UTC; default 7 days before --until)", ok_time, TIME_MUST),
    OPT_CHECKED("--until", "TIME", "up to, not including (UTC; default now)", ok_time, TIME_MUST),
    OPT_CHECKED("--by", "hour|day", "a line an hour or a day (default day)", ok_granularity,
                GRANULARITY_MUST),
    OPT_JSON,
    OPT_END,
};
static const struct opt keys_rotate_opts[] = {
    OPT_CHECKED("--alg", "EdDSA|ES256|RS256",
                "the new key's algorithm (default: the current key's)", ok_alg, ALG_MUST),
    OPT_END,
};

static int serve_run(struct ctx *c);
static int token_create(struct ctx *c);
static int token_list(struct ctx *c);
static int token_show(struct ctx *c);
static int token_revoke(struct ctx *c);
static int token_rotate(struct ctx *c);
static int token_update(struct ctx *c);
static int token_usage(struct ctx *c);
static int secret_add(struct ctx *c);
static int secret_list(struct ctx *c);
static int secret_delete(struct ctx *c);
static int role_create(struct ctx *c);
static int role_list(struct ctx *c);
static int role_grant_privilege(struct ctx *c);
static int role_revoke_privilege(struct ctx *c);
static int role_grant_role(struct ctx *c);
static int user_create(struct ctx *c);
static int user_list(struct ctx *c);
static int user_reset_password(struct ctx *c);
static int audit_list(struct ctx *c);
static int keys_rotate_run(struct ctx *c);

static const struct cmd commands[] = {
    {"serve", NULL, NULL, NULL, USES_SERVER, serve_run,
     "run the server: OAuth token endpoint, REST API, gate and web pane", serve_opts},
    {"token", "create", NULL, "--role", USES_DB, token_create,
     "create an API token for a role; its secret key is shown once", token_create_opts},
    {"token", "list", NULL, NULL, USES_DB, token_list, "list API tokens, newest first",
     json_only_opts},
    {"token", "show", "CLIENT_ID", NULL, USES_DB, token_show, "show one API token", json_only_opts},
    {"token", "revoke", "CLIENT_ID", NULL, USES_DB, token_revoke,
     "revoke an API token and its access tokens", no_opts},
    {"token", "rotate", "CLIENT_ID", NULL, USES_DB, token_rotate,
     "give a token a new secret; its older secrets expire after a grace period", token_rotate_opts},
    {"token", "update", "CLIENT_ID", NULL, USES_DB, token_update,
     "change a token's description, rate limit or allowed client addresses", token_update_opts},
    {"token", "usage", "CLIENT_ID", NULL, USES_DB, token_usage,
     "a token's usage counts: requests, and refusals by reason, by hour or day", token_usage_opts},
    {"token", "secret add", "CLIENT_ID", NULL, USES_DB, secret_add,
     "add a secret to a token; it is shown once", secret_add_opts},
    {"token", "secret list", "CLIENT_ID", NULL, USES_DB, secret_list,
     "list a token's secrets, oldest first", json_only_opts},
    {"token", "secret delete", "CLIENT_ID SECRET_ID", NULL, USES_DB, secret_delete,
     "delete a secret; access tokens issued with it stop at once", no_opts},
    {"role", "create", "NAME", NULL, USES_DB, role_create, "create a role", role_create_opts},
    {"role", "list", NULL, NULL, USES_DB, role_list, "list roles", json_only_opts},
    {"role", "grant-privilege", "ROLE PRIVILEGE", NULL, USES_DB, role_grant_privilege,
     "allow (or with --deny, deny) a privilege to a role", grant_privilege_opts},
    {"role", "revoke-privilege", "ROLE PRIVILEGE", NULL, USES_DB, role_revoke_privilege,
     "take back a privilege from a role (or with --grant-option, only its grant option)",
     revoke_privilege_opts},
    {"role", "grant-role", "ROLE GRANTED_ROLE", NULL, USES_DB, role_grant_role,
     "grant a role to a role: ROLE then holds GRANTED_ROLE", no_opts},
    {"user", "create", "EMAIL", "--role", USES_DB, user_create,
     "create a web-pane user; a generated password is shown once", user_create_opts},
    {"user", "list", NULL, NULL, USES_DB, user_list, "list web-pane users", json_only_opts},
    {"user", "reset-password", "EMAIL", NULL, USES_DB, user_reset_password,
     "set a user's password; a generated one is shown once", user_reset_opts},
    {"audit", "list", NULL, NULL, USES_DB, audit_list, "list audit-log entries, newest first",
     audit_list_opts},
    {"keys", "rotate", NULL, NULL, USES_KEYS, keys_rotate_run,
     "make a new access-token signing key (published now, signing later)", keys_rotate_opts},
};

#define OPTS_MAX 32 /* options of one command, at most */
#define ARGS_MAX 2  /* arguments of one command, at most */

/* ---- reading the command line -------------------------------------------------------- */

/* Where the data lives (locate()). */
struct location {
    int ok;               /* 0: no location could be made; why says so */
    char db[4096];        /* the store's URI */
    char shown[4096];     /* the same with any password masked: for help, logs and errors */
    const char *db_why;   /* how db was chosen, for help and the log */
    char keys[4096];      /* the key directory */
    const char *keys_why; /* how keys was chosen */
    char dbdir[4096];     /* the SQLite file's directory; "" for PostgreSQL */
    const char *file;     /* into db: the SQLite file; NULL for PostgreSQL */
    char why[256];        /* !ok: what to do */
};

struct ctx {
    const char *group;     /* the first word, once read */
    char verb[32];         /* the words of a two-word verb read so far ("secret") */
    const struct cmd *cmd; /* the command, once known */
    const char *val[OPTS_MAX];
    const char *gval[G_COUNT];
    const char *pos[ARGS_MAX];
    size_t npos;
    int help, version, words; /* words: "help" / "version" read as the first word */
    struct location loc;
    struct app app;                     /* open while a USES_DB command runs */
    struct actor op;                    /* the operator */
    char prefix[128];                   /* "keygate token create": what messages start with */
    int64_t max_secret_lifetime;        /* seconds; 0 = no limit */
    const char *webhooks[WEBHOOKS_MAX]; /* serve's --webhook values, in order */
    size_t nwebhooks;
};

/* "keygate", "keygate token" or "keygate token create", as far as the line was read. */
static const char *prefix(struct ctx *c)
{
    snprintf(c->prefix, sizeof c->prefix, "keygate%s%s%s%s", c->group ? " " : "",
             c->group ? c->group : "", c->cmd && c->cmd->verb ? " " : "",
             c->cmd && c->cmd->verb ? c->cmd->verb : "");
    return c->prefix;
}

/* A usage error: names what is wrong and where to look; returns exit status 2. */
__attribute__((format(printf, 2, 3))) static int usage_error(struct ctx *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prefix(c));
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nsee '%s --help'\n", c->prefix);
    return 2;
}

/* A failure of the command: "keygate token revoke kgc_…: MESSAGE"; returns exit status 1. */
__attribute__((format(printf, 3, 4))) static int fail(struct ctx *c, const char *subject,
                                                      const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s%s%s: ", prefix(c), subject ? " " : "", subject ? subject : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

/* Edit distance of two short words (capped; long words are simply "far"). */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[33];
    if (la > 32 || lb > 32) return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

/* Tracks the nearest of the candidates offered for a mistyped word. */
struct guess {
    const char *word, *best;
    size_t dist;
};

static void guess_offer(struct guess *g, const char *cand)
{
    size_t n = strlen(g->word), d = distance(g->word, cand);
    if (n >= 2 && strncmp(cand, g->word, n) == 0 && d > 1) d = 1; /* a prefix of it */
    if (d < g->dist && d <= 2 && d < n) g->best = cand, g->dist = d;
}

/* " (did you mean 'X'?)" or "", for a message. */
static const char *guess_text(const struct guess *g, char *buf, size_t size)
{
    if (!g->best) return "";
    snprintf(buf, size, " (did you mean '%s'?)", g->best);
    return buf;
}

static const struct opt *opt_find(const struct opt *opts, const char *name)
{
    for (; opts->name; opts++)
        if (strcmp(opts->name, name) == 0) return opts;
    return NULL;
}

static size_t opt_count(const struct opt *opts)
{
    size_t n = 0;
    while (opts[n].name)
        n++;
    return n;
}

/* The value of `name` (a flag: "1"), or NULL when not given.  name must be one of the
 * command's options or a global one. */
static const char *opt(const struct ctx *c, const char *name)
{
    const struct opt *o;
    if ((o = opt_find(global_opts, name))) return c->gval[o - global_opts];
    o = opt_find(c->cmd->opts, name);
    assert(o && "an option the table does not have");
    return c->val[o - c->cmd->opts];
}

/* A whole-number option's value, already checked; dflt when not given. */
static int64_t opt_int(const struct ctx *c, const char *name, int64_t dflt)
{
    const char *v = opt(c, name);
    int64_t n = dflt;
    if (v) kg_parse_int64(v, INT64_MIN, INT64_MAX, &n);
    return n;
}

/* Checks v for option o; returns 0, or 2 after saying what it must be. */
static int value_check(struct ctx *c, const struct opt *o, const char *v)
{
    int64_t n;
    if (o->lo < o->hi && kg_parse_int64(v, o->lo, o->hi, &n) != KG_OK)
        return usage_error(c, "%s is a whole number from %lld to %lld, not '%s'", o->name,
                           (long long)o->lo, (long long)o->hi, v);
    if (o->ok && !o->ok(v)) return usage_error(c, "%s is %s, not '%s'", o->name, o->must, v);
    return 0;
}

/* Reads one option at argv[*i] (advancing *i past its value); returns 0 or 2. */
static int read_option(struct ctx *c, int argc, char **argv, int *i)
{
    char name[64];
    const char *s = strcmp(argv[*i], "-h") == 0 ? "--help" : argv[*i], *v = NULL;
    const char *eq = strchr(s, '=');
    const struct opt *o = NULL;
    const char **slot = NULL;
    size_t n = eq && s[1] == '-' ? (size_t)(eq - s) : strlen(s);
    if (n >= sizeof name) n = sizeof name - 1;
    memcpy(name, s, n);
    name[n] = '\0';
    if (!c->group && !c->words && strcmp(name, "--version") == 0 && !eq) {
        c->version = 1;
        return 0;
    }
    if ((o = opt_find(global_opts, name)))
        slot = &c->gval[o - global_opts];
    else if (c->cmd && (o = opt_find(c->cmd->opts, name)))
        slot = &c->val[o - c->cmd->opts];
    if (!o) {
        struct guess g = {name, NULL, 99};
        char buf[96];
        for (const struct opt *k = global_opts; k->name; k++)
            guess_offer(&g, k->name);
        for (const struct opt *k = c->cmd ? c->cmd->opts : no_opts; k->name; k++)
            guess_offer(&g, k->name);
        if (!c->group) guess_offer(&g, "--version");
        return usage_error(c, "unknown option %s%s", name, guess_text(&g, buf, sizeof buf));
    }
    if (!o->meta) {
        if (eq) return usage_error(c, "%s takes no value", name);
        *slot = "1";
        if (o == &global_opts[G_HELP]) c->help = 1;
        return 0;
    }
    if (eq)
        v = eq + 1;
    else if (*i + 1 < argc)
        v = argv[++*i];
    else
        return usage_error(c, "%s needs a value: %s %s", name, name, o->meta);
    *slot = v;
    if (strcmp(o->name, "--webhook") == 0) { /* the one option given more than once */
        if (c->nwebhooks == WEBHOOKS_MAX)
            return usage_error(c, "--webhook is given %d times at most", WEBHOOKS_MAX);
        c->webhooks[c->nwebhooks++] = v;
    }
    return value_check(c, o, v);
}

/* Reads a word: the command, its second word, or an argument; returns 0 or 2. */
static int read_word(struct ctx *c, const char *s)
{
    struct guess g = {s, NULL, 99};
    char buf[96];
    if (!c->group && !c->words && (strcmp(s, "help") == 0 || strcmp(s, "version") == 0)) {
        c->words = 1;
        c->help |= s[0] == 'h';
        c->version |= s[0] == 'v';
        return 0;
    }
    if (c->version) return usage_error(c, "unexpected argument '%s'", s);
    if (!c->group) {
        for (size_t i = 0; i < KG_ARRAY_LEN(commands); i++) {
            if (strcmp(commands[i].group, s) != 0) continue;
            c->group = commands[i].group;
            if (!commands[i].verb) c->cmd = &commands[i];
            return 0;
        }
        for (size_t i = 0; i < KG_ARRAY_LEN(commands); i++)
            guess_offer(&g, commands[i].group);
        if (!c->words) guess_offer(&g, "help"), guess_offer(&g, "version");
        return usage_error(c, "unknown command '%s'%s", s, guess_text(&g, buf, sizeof buf));
    }
    if (!c->cmd) { /* the verb's word, or its first or second of two ("secret add") */
        char want[sizeof c->verb], firsts[sizeof c->verb];
        size_t n = (size_t)snprintf(want, sizeof want, "%s%s%s", c->verb, c->verb[0] ? " " : "", s);
        g.word = want;
        for (size_t i = 0; n < sizeof want && i < KG_ARRAY_LEN(commands); i++) {
            if (strcmp(commands[i].group, c->group) != 0) continue;
            if (strcmp(commands[i].verb, want) == 0) {
                c->cmd = &commands[i];
                return 0;
            }
        }
        for (size_t i = 0; n < sizeof want && i < KG_ARRAY_LEN(commands); i++) {
            if (strcmp(commands[i].group, c->group) != 0) continue;
            if (strncmp(commands[i].verb, want, n) == 0 && commands[i].verb[n] == ' ') {
                memcpy(c->verb, want, n + 1);
                return 0;
            }
            guess_offer(&g, commands[i].verb);
            size_t first = strcspn(commands[i].verb, " "); /* "secret" of "secret add" too */
            if (!c->verb[0] && commands[i].verb[first] && first < sizeof firsts) {
                memcpy(firsts, commands[i].verb, first);
                firsts[first] = '\0';
                guess_offer(&g, firsts);
            }
        }
        return usage_error(c, "unknown subcommand '%s'%s", want, guess_text(&g, buf, sizeof buf));
    }
    if (c->words) return usage_error(c, "unexpected argument '%s'", s); /* keygate help x y z */
    size_t nargs = 0;
    for (const char *a = c->cmd->args; a && *a; a += strcspn(a, " "), a += *a == ' ')
        nargs++;
    if (c->npos >= nargs) return usage_error(c, "unexpected argument '%s'", s);
    c->pos[c->npos++] = s;
    return 0;
}

/* Reads argv into c: global options anywhere, a command's own after its words.  Returns 0
 * or 2 (after a message naming what is wrong). */
static int parse(int argc, char **argv, struct ctx *c)
{
    int words_only = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int rc;
        if (!words_only && strcmp(s, "--") == 0) {
            words_only = 1; /* what follows is arguments, even if it starts with '-' */
            continue;
        }
        if (!words_only && s[0] == '-' && s[1])
            rc = read_option(c, argc, argv, &i);
        else
            rc = read_word(c, s);
        if (rc) return rc;
    }
    return 0;
}

/* Checks that the command has what it needs once the line is read; 0 or 2. */
static int complete(struct ctx *c)
{
    if (!c->group) {
        fprintf(stderr, "keygate: missing command\nsee 'keygate --help'\n");
        return 2;
    }
    if (!c->cmd) {
        char verbs[256] = "";
        for (size_t i = 0; i < KG_ARRAY_LEN(commands); i++) {
            if (strcmp(commands[i].group, c->group) != 0) continue;
            size_t n = strlen(verbs);
            snprintf(verbs + n, sizeof verbs - n, "%s%s", n ? ", " : "", commands[i].verb);
        }
        return usage_error(c, "missing subcommand (%s)", verbs);
    }
    const char *a = c->cmd->args;
    for (size_t k = 0; a && *a; k++) {
        size_t n = strcspn(a, " ");
        if (k >= c->npos) return usage_error(c, "missing argument %.*s", (int)n, a);
        a += n;
        a += *a == ' ';
    }
    if (c->cmd->required && !opt(c, c->cmd->required))
        return usage_error(c, "missing option %s %s", c->cmd->required,
                           opt_find(c->cmd->opts, c->cmd->required)->meta);
    return 0;
}

/* ---- help ---------------------------------------------------------------------------- */

#define HELP_WIDTH 80

/* Appends word to a wrapped line at *col, breaking to `indent` spaces past HELP_WIDTH. */
static void wrap(FILE *f, size_t *col, size_t indent, const char *word)
{
    size_t n = strlen(word);
    if (*col > indent && *col + 1 + n > HELP_WIDTH) {
        fprintf(f, "\n%*s", (int)indent, "");
        *col = indent;
    } else if (*col > 0) {
        fputc(' ', f);
        (*col)++;
    }
    fputs(word, f);
    *col += n;
}

/* "keygate token create --role NAME [--description TEXT] …", wrapped, after `lead`. */
static void synopsis(FILE *f, const char *lead, const struct cmd *k)
{
    char w[160];
    size_t col = 0, indent;
    snprintf(w, sizeof w, "%skeygate %s%s%s", lead, k->group, k->verb ? " " : "",
             k->verb ? k->verb : "");
    wrap(f, &col, 0, w);
    indent = strlen(w) + 1;
    if (k->args) wrap(f, &col, indent, k->args);
    if (k->required) {
        const struct opt *o = opt_find(k->opts, k->required);
        snprintf(w, sizeof w, "%s %s", o->name, o->meta);
        wrap(f, &col, indent, w);
    }
    for (const struct opt *o = k->opts; o->name; o++) {
        if (k->required && strcmp(o->name, k->required) == 0) continue;
        snprintf(w, sizeof w, "[%s%s%s]", o->name, o->meta ? " " : "", o->meta ? o->meta : "");
        wrap(f, &col, indent, w);
    }
    fputc('\n', f);
}

/* How wide the option column is for opts. */
static size_t options_width(const struct opt *opts, size_t width)
{
    for (const struct opt *o = opts; o->name; o++) {
        size_t n = strlen(o->name) + (o->meta ? 1 + strlen(o->meta) : 0);
        if (n > width) width = n;
    }
    return width;
}

/* The options, one a line: name and value in a column `width` wide, then the help. */
static void options(FILE *f, const char *title, const struct opt *opts, size_t width)
{
    char w[96];
    if (!opts->name) return;
    fprintf(f, "\n%s:\n", title);
    for (const struct opt *o = opts; o->name; o++) {
        snprintf(w, sizeof w, "%s%s%s", o->name, o->meta ? " " : "", o->meta ? o->meta : "");
        fprintf(f, "  %-*s  %s\n", (int)width, w, o->help);
    }
}

static void location_lines(FILE *f, const struct location *l)
{
    if (!l->ok) {
        fprintf(f, "\ndatabase: none: %s\n", l->why);
        return;
    }
    fprintf(f, "\ndatabase: %s (%s)\nkeys:     %s (%s)\n", l->shown, l->db_why, l->keys,
            l->keys_why);
}

/* keygate --help, keygate GROUP --help (group set) or keygate COMMAND --help. */
static void help(FILE *f, const struct ctx *c)
{
    const struct cmd *k = c->cmd;
    size_t width = options_width(global_opts, k ? options_width(k->opts, 0) : 0);
    if (k) {
        synopsis(f, "usage: ", k);
        fprintf(f, "\n%c%s.\n", toupper((unsigned char)k->summary[0]), k->summary + 1);
        options(f, "options", k->opts, width);
    } else {
        if (c->group)
            fprintf(f, "usage: keygate %s SUBCOMMAND [ARGUMENTS] [OPTIONS]\n", c->group);
        else
            fprintf(f, "usage: keygate [GLOBAL OPTIONS] COMMAND [ARGUMENTS] [OPTIONS]\n"
                       "       keygate --version | help [COMMAND]\n"
                       "\nkeygate issues API tokens (OAuth 2.0 client credentials) and checks "
                       "them,\nfor its REST API and, as a gate, for nginx.\n");
        fprintf(f, "\ncommands:\n");
        for (size_t i = 0; i < KG_ARRAY_LEN(commands); i++) {
            if (c->group && strcmp(commands[i].group, c->group) != 0) continue;
            synopsis(f, "  ", &commands[i]);
            fprintf(f, "      %s\n", commands[i].summary);
        }
        if (!c->group)
            fprintf(f, "  keygate help [COMMAND [SUBCOMMAND]]\n      this help, or a command's\n"
                       "  keygate version\n      print the version (also --version)\n");
    }
    options(f, "global options (before or after the command)", global_opts, width);
    location_lines(f, &c->loc);
    if (!k)
        fprintf(f, "\n'keygate COMMAND [SUBCOMMAND] --help' says what each option does; "
                   "man keygate, the rest.\n");
}

/* ---- the data location --------------------------------------------------------------- */

/* snprintf into buf that must fit; 0 or -1. */
__attribute__((format(printf, 3, 4))) static int fit(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* The default data directory: $STATE_DIRECTORY (systemd's StateDirectory=; the first of
 * several), $XDG_DATA_HOME/keygate (an absolute one), $HOME/.local/share/keygate.  0 or -1. */
static int default_dir(char *out, size_t size, const char **why)
{
    const char *v;
    if ((v = getenv("STATE_DIRECTORY")) && *v) {
        *why = "default under systemd: $STATE_DIRECTORY";
        return fit(out, size, "%.*s", (int)strcspn(v, ":"), v);
    }
    if ((v = getenv("XDG_DATA_HOME")) && v[0] == '/') {
        *why = "default: $XDG_DATA_HOME/keygate";
        return fit(out, size, "%s/keygate", v);
    }
    if ((v = getenv("HOME")) && *v) {
        *why = "default: $HOME/.local/share/keygate";
        return fit(out, size, "%s/.local/share/keygate", v);
    }
    return -1;
}

/* Copies uri to out with the password of a postgres:// URI ("user:PASSWORD@", and a
 * "password=" parameter) replaced by "***". */
static void mask_uri(const char *uri, char *out, size_t size)
{
    kg_strcpy(out, size, uri);
    if (strncmp(out, "postgres://", 11) != 0 && strncmp(out, "postgresql://", 13) != 0) return;
    char *auth = strstr(out, "://") + 3, *end = auth + strcspn(auth, "/?#"), *at = NULL;
    for (char *p = auth; p < end; p++)
        if (*p == '@') at = p;
    char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon && at - colon > 1) {
        memmove(colon + 4, at, strlen(at) + 1); /* "***" is no longer than what it replaces, */
        memcpy(colon + 1, "***", 3);            /* or the string still fits: at - colon >= 2 */
    }
    for (char *p = strstr(out, "password="); p; p = strstr(p + 1, "password=")) {
        char *v = p + 9, *vend = v + strcspn(v, "&#");
        if (vend - v >= 3) {
            memcpy(v, "***", 3);
            memmove(v + 3, vend, strlen(vend) + 1);
        }
    }
}

/* Works out the database and key directory: --db, $KEYGATE_DB, else the default directory's
 * keygate.db; keys in --keys-dir, else beside the SQLite file (with PostgreSQL: in the default
 * directory).  Reads the environment only: nothing is created. */
static void locate(struct ctx *c)
{
    struct location *l = &c->loc;
    char dir[4096];
    const char *v = c->gval[G_DB], *dir_why = NULL;
    int have_dir = default_dir(dir, sizeof dir, &dir_why) == 0;
    l->ok = 0;
    if (v)
        l->db_why = "--db";
    else if ((v = getenv("KEYGATE_DB")) && *v)
        l->db_why = "$KEYGATE_DB";
    else if (!have_dir) {
        snprintf(l->why, sizeof l->why, "give --db, or set KEYGATE_DB or HOME");
        return;
    } else
        v = NULL, l->db_why = dir_why;
    if (v ? kg_strcpy(l->db, sizeof l->db, v) != KG_OK
          : fit(l->db, sizeof l->db, "%s/keygate.db", dir) != 0) {
        snprintf(l->why, sizeof l->why, "the database's name is too long");
        return;
    }
    mask_uri(l->db, l->shown, sizeof l->shown);
    int remote = strncmp(l->db, "postgres://", 11) == 0 || strncmp(l->db, "postgresql://", 13) == 0;
    l->file = remote ? NULL : strncmp(l->db, "sqlite:", 7) == 0 ? l->db + 7 : l->db;
    l->dbdir[0] = '\0';
    if (l->file) {
        char tmp[4096];
        kg_strcpy(tmp, sizeof tmp, l->file);
        kg_strcpy(l->dbdir, sizeof l->dbdir, dirname(tmp));
    }
    if ((v = c->gval[G_KEYS_DIR])) {
        kg_strcpy(l->keys, sizeof l->keys, v);
        l->keys_why = "--keys-dir";
    } else if (l->file) {
        kg_strcpy(l->keys, sizeof l->keys, l->dbdir);
        l->keys_why = "beside the database";
    } else if (have_dir) {
        kg_strcpy(l->keys, sizeof l->keys, dir);
        l->keys_why = "the default directory; nodes sharing the database need the same keys";
    } else {
        snprintf(l->why, sizeof l->why, "with PostgreSQL, give --keys-dir");
        return;
    }
    l->ok = 1;
}

/* mkdir -p, mode 0700 for what it creates. */
static int make_dirs(const char *dir)
{
    char path[4096];
    if (kg_strcpy(path, sizeof path, dir) != KG_OK) return -1;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(path, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* ---- output -------------------------------------------------------------------------- */

#define TABLE_COLS_MAX 10

/* Rows of text cells, printed with each column as wide as its widest cell. */
struct table {
    size_t ncols, ncells;
    size_t width[TABLE_COLS_MAX];
    char *text; /* the cells, each NUL-terminated, row after row */
    size_t len, cap;
    int oom;
};

/* Columns on a terminal: UTF-8 lead bytes. */
static size_t text_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void table_cell(struct table *t, const char *s)
{
    size_t n = strlen(s), w = text_width(s), col = t->ncells++ % t->ncols;
    if (kg_grow(&t->text, &t->cap, t->len, n, 4096) != 0) {
        t->oom = 1;
        return;
    }
    for (size_t i = 0; i < n; i++) /* a tab in a description would break the columns */
        t->text[t->len + i] = s[i] == '\t' ? ' ' : s[i];
    t->text[t->len + n] = '\0';
    t->len += n + 1;
    if (w > t->width[col]) t->width[col] = w;
}

/* A table whose header row is head[0..ncols). */
static void table_init(struct table *t, size_t ncols, const char *const *head)
{
    assert(ncols <= TABLE_COLS_MAX);
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    for (size_t i = 0; i < ncols; i++)
        table_cell(t, head[i]);
}

/* Prints the table (the last column unpadded) and frees it; 0, or 1 when memory ran out. */
static int table_print(struct table *t)
{
    const char *p = t->text;
    int oom = t->oom;
    size_t pad = 0; /* spaces owed before the next cell: none at the end of a line */
    for (size_t k = 0; !oom && k < t->ncells; k++) {
        size_t col = k % t->ncols;
        if (*p) printf("%*s%s", (int)pad, "", p), pad = 0;
        pad += t->width[col] - text_width(p) + 2;
        if (col + 1 == t->ncols) fputc('\n', stdout), pad = 0;
        p += strlen(p) + 1;
    }
    free(t->text);
    if (oom) fprintf(stderr, "keygate: out of memory\n");
    return oom;
}

static int print_json(json_t *o)
{
    if (!o) {
        fprintf(stderr, "keygate: out of memory\n");
        return 1;
    }
    json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(o);
    return 0;
}

/* A time for people: "2026-12-07T05:37:23Z" (RFC 3339 to the second), or `none` for 0. */
static const char *when(int64_t ms, char *buf, size_t size, const char *none)
{
    if (!ms) return none;
    kg_time_format(ms, buf, size);
    char *dot = strchr(buf, '.');
    if (dot) memcpy(dot, "Z", 2);
    return buf;
}

/* ---- serve --------------------------------------------------------------------------- */

/* Reads a password from `path` into pw[KG_PASSWORD_MAX + 1]: the file's one line (a trailing
 * newline is dropped), 8 to KG_PASSWORD_MAX bytes, no NUL.  0, or 1 after saying why not. */
static int password_read(struct ctx *c, const char *option, const char *path, char *pw)
{
    char buf[KG_PASSWORD_MAX + 3]; /* room to tell "too long" from a trailing CRLF */
    int status = 1;
    size_t n = 0;
    FILE *f = fopen(path, "rbe");
    if (!f) return fail(c, NULL, "%s %s: %s", option, path, strerror(errno));
    n = fread(buf, 1, sizeof buf, f);
    if (ferror(f)) {
        fail(c, NULL, "%s %s: cannot read it", option, path);
        goto out;
    }
    if (n && buf[n - 1] == '\n') n--;
    if (n && buf[n - 1] == '\r') n--;
    if (n < 8 || n > KG_PASSWORD_MAX || memchr(buf, '\0', n) || memchr(buf, '\n', n) ||
        memchr(buf, '\r', n)) {
        fail(c, NULL, "%s %s: the password must be 8 to %d bytes on one line", option, path,
             KG_PASSWORD_MAX);
        goto out;
    }
    memcpy(pw, buf, n);
    pw[n] = '\0';
    status = 0;
out:
    sodium_memzero(buf, sizeof buf);
    fclose(f);
    return status;
}

static int serve_run(struct ctx *c)
{
    char password[KG_PASSWORD_MAX + 1] = "";
    const char *file = opt(c, "--admin-password-file"), *env = getenv("KEYGATE_ADMIN_PASSWORD");
    struct server_opts o = {
        .listen = opt(c, "--listen") ? opt(c, "--listen") : "127.0.0.1:8080",
        .db = c->loc.db,
        .db_shown = c->loc.shown,
        .db_why = c->loc.db_why,
        .db_new = c->loc.file && access(c->loc.file, F_OK) != 0,
        .keys_dir = c->loc.keys,
        .issuer = opt(c, "--issuer"),
        .audience = opt(c, "--audience"),
        .policy = opt(c, "--policy"),
        .gate_headers = opt(c, "--gate-headers"),
        .trusted_proxy = opt(c, "--trusted-proxy"),
        .forwarded_header = opt(c, "--forwarded-header"),
        .signing_alg = opt(c, "--signing-alg"),
        .access_token_ttl = opt_int(c, "--access-token-ttl", 600),
        .session_idle = opt_int(c, "--session-idle", 1800),
        .jwks_max_age = opt_int(c, "--jwks-max-age", 300),
        .max_secret_lifetime = c->max_secret_lifetime,
        .threads = (unsigned)opt_int(c, "--threads", 0),
        .max_conns = (unsigned)opt_int(c, "--max-conns", 0),
        .max_conns_per_ip = (unsigned)opt_int(c, "--max-conns-per-ip", 0),
        .header_timeout = (unsigned)opt_int(c, "--header-timeout", 0),
        .idle_timeout = (unsigned)opt_int(c, "--idle-timeout", 0),
        .min_body_rate = (unsigned)opt_int(c, "--min-body-rate", 0),
        .usage_retention_s = 90 * 86400,
        .usage_flush_ms = opt_int(c, "--usage-flush-ms", 2000),
        .usage_off = opt(c, "--no-usage-counts") != NULL,
        .webhooks = c->webhooks,
        .nwebhooks = c->nwebhooks,
        .webhooks_source = "--webhook",
        .webhook_timeout_ms = opt_int(c, "--webhook-timeout", 10) * 1000,
        .webhook_attempts = opt_int(c, "--webhook-attempts", 16),
        .webhook_backoff_ms = opt_int(c, "--webhook-backoff", 1) * 1000,
    };
    if (opt(c, "--default-rate-limit"))
        rate_parse(opt(c, "--default-rate-limit"), &o.default_rate_requests,
                   &o.default_rate_period_s);
    if (opt(c, "--usage-retention"))
        kg_parse_duration(opt(c, "--usage-retention"), LIFETIME_MAX_S, &o.usage_retention_s);
    const char *hook_env = getenv("KEYGATE_WEBHOOK");
    if (!c->nwebhooks && hook_env && *hook_env)
        o.webhooks = &hook_env, o.nwebhooks = 1, o.webhooks_source = "KEYGATE_WEBHOOK";
    if (file) {
        if (password_read(c, "--admin-password-file", file, password) != 0) return 1;
        o.admin_password = password, o.admin_password_source = "--admin-password-file";
    } else if (env && *env) {
        o.admin_password = env, o.admin_password_source = "KEYGATE_ADMIN_PASSWORD";
    }
    int status = server_run(&o);
    sodium_memzero(password, sizeof password);
    return status;
}

/* ---- tokens -------------------------------------------------------------------------- */

/* The role named `name`; 1 after "role 'x' does not exist" otherwise. */
static int role_named(struct ctx *c, const char *name, struct kg_role *out)
{
    kg_err rc = store_role_get_by_name(c->app.st, name, out);
    if (rc == KG_NOTFOUND) return fail(c, NULL, "role '%s' does not exist", name);
    if (rc != KG_OK) return fail(c, NULL, "cannot read role '%s': %s", name, kg_err_name(rc));
    return 0;
}

static int token_create(struct ctx *c)
{
    struct kg_role r;
    struct kg_token t;
    char secret[KG_SECRET_LEN + 1];
    int64_t exp = 0;
    const char *why = "", *expires = opt(c, "--expires-on"), *desc = opt(c, "--description");
    kg_err rc;
    if (expires) {
        kg_time_parse(expires, &exp); /* checked as the line was read */
        if (exp <= kg_now_ms()) return fail(c, NULL, "--expires-on %s is in the past", expires);
    }
    if (role_named(c, opt(c, "--role"), &r)) return 1;
    if ((rc = service_token_create(&c->app, &c->op, desc ? desc : "", r.role_id, exp, NULL, &t,
                                   secret, &why)) != KG_OK)
        return fail(c, NULL, "%s", why);
    if (opt(c, "--json"))
        print_json(render_token(&t, 0, secret));
    else
        printf("Client ID:   %s\nSecret key:  %s\nRole:        %s\n"
               "The secret key is shown only this once: store it now.\n",
               t.client_id, secret, t.role_name);
    sodium_memzero(secret, sizeof secret);
    return 0;
}

static int token_list(struct ctx *c)
{
    static const char *const head[] = {"CLIENT ID", "STATUS",  "ROLE",        "CREATED",
                                       "EXPIRES",   "REVOKED", "LAST ACCESS", "DESCRIPTION"};
    json_t *arr = opt(c, "--json") ? json_array() : NULL;
    struct table t;
    int64_t before = 0;
    table_init(&t, KG_ARRAY_LEN(head), head);
    for (;;) {
        struct kg_token *ts = NULL;
        size_t n = 0;
        kg_err rc = store_token_list(c->app.st, before, 500, &ts, &n);
        if (rc != KG_OK) {
            json_decref(arr);
            free(t.text);
            return fail(c, NULL, "cannot read the tokens: %s", kg_err_name(rc));
        }
        for (size_t i = 0; i < n; i++) {
            char b1[40], b2[40], b3[40], b4[40];
            const struct kg_token *k = &ts[i];
            if (arr) {
                json_array_append_new(arr, render_token(k, 0, NULL));
                continue;
            }
            table_cell(&t, k->client_id);
            table_cell(&t, k->status == KG_TOKEN_ACTIVE ? "Active" : "Revoked");
            table_cell(&t, k->role_name);
            table_cell(&t, when(k->created_on, b1, sizeof b1, "-"));
            table_cell(&t, when(k->expires_on, b2, sizeof b2, "never"));
            table_cell(&t, when(k->revoked_on, b3, sizeof b3, "-"));
            table_cell(&t, when(k->last_access_on, b4, sizeof b4, "never"));
            table_cell(&t, k->description);
        }
        if (n) before = ts[n - 1].seq;
        free(ts);
        if (n < 500) break;
    }
    if (arr) {
        free(t.text);
        return print_json(arr);
    }
    return table_print(&t);
}

/* The token `id`, or 1 after "no API token has that Client ID". */
static int token_named(struct ctx *c, const char *id, struct kg_token *out)
{
    kg_err rc = store_token_get(c->app.st, id, out);
    if (rc == KG_NOTFOUND || rc == KG_INVALID)
        return fail(c, id, "no API token has that Client ID");
    if (rc != KG_OK) return fail(c, id, "cannot read the token: %s", kg_err_name(rc));
    return 0;
}

/* The token as `token show` prints it. */
static int token_print(const struct kg_token *t)
{
    char b1[40], b2[40], b3[40], b4[40], rate[64];
    if (t->rate_requests)
        snprintf(rate, sizeof rate, "%lld requests in %lld s", (long long)t->rate_requests,
                 (long long)t->rate_period_s);
    else
        snprintf(rate, sizeof rate, "none of its own");
    printf("Client ID:    %s\nDescription:  %s\nRole:         %s (%s)\nStatus:       %s\n"
           "Created:      %s by %s\nExpires:      %s\nRevoked:      %s\nLast access:  %s\n"
           "Rate limit:   %s\nAllowed from: %s\n",
           t->client_id, t->description, t->role_name, t->role_id,
           t->status == KG_TOKEN_ACTIVE ? "Active" : "Revoked",
           when(t->created_on, b1, sizeof b1, "-"), t->created_by[0] ? t->created_by : "-",
           when(t->expires_on, b2, sizeof b2, "never"), when(t->revoked_on, b3, sizeof b3, "-"),
           when(t->last_access_on, b4, sizeof b4, "never"), rate,
           t->cidrs[0] ? t->cidrs : "any address");
    return 0;
}

static int token_show(struct ctx *c)
{
    struct kg_token t;
    if (token_named(c, c->pos[0], &t)) return 1;
    if (opt(c, "--json")) return print_json(render_token(&t, 0, NULL));
    return token_print(&t);
}

static int token_update(struct ctx *c)
{
    struct kg_token t;
    struct service_limits lim = {0};
    const char *why = "", *rate = opt(c, "--rate-limit"), *ranges = opt(c, "--allowed-cidrs");
    const char *items[KG_CIDRS_MAX + 1];
    char buf[KG_CIDRS_TEXT_MAX + 2];
    if (rate) {
        lim.set_rate = 1;
        if (strcmp(rate, "none") != 0) rate_parse(rate, &lim.rate_requests, &lim.rate_period_s);
    }
    if (ranges) { /* "a,b,c": split in a copy; "any" or "": none */
        lim.set_cidrs = 1;
        lim.cidrs = items;
        if (kg_strcpy(buf, sizeof buf, ranges) != KG_OK)
            return fail(c, c->pos[0], "--allowed-cidrs holds at most %d ranges", KG_CIDRS_MAX);
        for (char *p = strcmp(buf, "any") == 0 ? buf + 3 : buf, *save = NULL, *item;
             (item = strtok_r(save ? NULL : p, ",", &save));) {
            if (lim.ncidrs == KG_CIDRS_MAX + 1)
                return fail(c, c->pos[0], "--allowed-cidrs holds at most %d ranges", KG_CIDRS_MAX);
            items[lim.ncidrs++] = item;
        }
    }
    kg_err rc =
        service_token_update(&c->app, &c->op, c->pos[0], opt(c, "--description"), &lim, &t, &why);
    if (rc != KG_OK) return fail(c, c->pos[0], "%s", why);
    if (opt(c, "--json")) return print_json(render_token(&t, 0, NULL));
    return token_print(&t);
}

static int token_usage(struct ctx *c)
{
    static const char *const head[] = {"FROM (UTC)", "REQUESTS", "EXCHANGES", "GATE",
                                       "API",        "REFUSED",  "PRIVILEGE", "RATE",
                                       "ADDRESS",    "EXPIRED"};
    struct kg_token t;
    struct table tb;
    int64_t until = kg_now_ms(), since, sum[KG_USE_KINDS], (*b)[KG_USE_KINDS] = NULL;
    const char *by = opt(c, "--by");
    int64_t unit = by && strcmp(by, "hour") == 0 ? USAGE_HOUR_MS : USAGE_DAY_MS;
    int status = 1;
    if (token_named(c, c->pos[0], &t)) return 1;
    if (opt(c, "--until")) kg_time_parse(opt(c, "--until"), &until); /* checked as read */
    since = until - 7 * USAGE_DAY_MS;
    if (opt(c, "--since")) kg_time_parse(opt(c, "--since"), &since);
    if (since >= until) return fail(c, NULL, "--since must be before --until");
    size_t buckets; /* whole hours or days, as the API answers */
    if (service_usage_range(&since, until, unit, &buckets) != KG_OK)
        return fail(c, NULL, "at most 31 days by the hour, 400 by the day");
    int64_t first = since, nb = (int64_t)buckets;
    if (!(b = calloc((size_t)nb, sizeof *b))) return fail(c, NULL, "out of memory");
    kg_err rc = service_usage(&c->app, t.client_id, since, until, unit, sum, b, (size_t)nb);
    if (rc != KG_OK) {
        fail(c, t.client_id, "cannot read the usage counts: %s", kg_err_name(rc));
        goto out;
    }
    if (opt(c, "--json")) { /* the REST API's answer */
        json_t *o = json_pack("{s:o, s:o, s:s, s:s}", "since", render_time(since), "until",
                              render_time(until), "granularity",
                              unit == USAGE_HOUR_MS ? "hour" : "day", "clientId", t.client_id);
        json_t *tot = json_object(), *arr = json_array();
        if (tot) render_usage_counts(tot, sum);
        for (int64_t i = 0; arr && i < nb; i++) {
            json_t *e = json_pack("{s:o}", "start", render_time(first + i * unit));
            if (e) render_usage_counts(e, b[i]);
            json_array_append_new(arr, e);
        }
        json_object_set_new(o, "totals", tot);
        json_object_set_new(o, "result", arr);
        status = print_json(o);
        goto out;
    }
    table_init(&tb, KG_ARRAY_LEN(head), head);
    for (int64_t i = 0; i <= nb; i++) {
        const int64_t *n = i < nb ? b[i] : sum;
        char cell[40];
        int64_t all = 0, refused = 0;
        for (size_t k = 0; k < KG_USE_KINDS; k++) {
            all += n[k];
            refused += k >= KG_USE_FIRST_REFUSED ? n[k] : 0;
        }
        if (i < nb) {
            kg_time_format(first + i * unit, cell, sizeof cell);
            cell[unit == USAGE_HOUR_MS ? 16 : 10] = '\0'; /* 2026-12-07T13:00, 2026-12-07 */
        }
        table_cell(&tb, i < nb ? cell : "total");
        int64_t cols[] = {all,
                          n[KG_USE_EXCHANGE],
                          n[KG_USE_GATE_ALLOWED],
                          n[KG_USE_API_CALL],
                          refused,
                          n[KG_USE_REFUSED_PRIVILEGE],
                          n[KG_USE_REFUSED_RATE],
                          n[KG_USE_REFUSED_ADDRESS],
                          n[KG_USE_REFUSED_EXPIRED]};
        for (size_t k = 0; k < KG_ARRAY_LEN(cols); k++) {
            snprintf(cell, sizeof cell, "%lld", (long long)cols[k]);
            table_cell(&tb, cell);
        }
    }
    status = table_print(&tb);
out:
    free(b);
    return status;
}

static int token_revoke(struct ctx *c)
{
    struct kg_token t;
    const char *why = "";
    kg_err rc = service_token_revoke(&c->app, &c->op, c->pos[0], &t, &why);
    if (rc == KG_NOTFOUND || rc == KG_INVALID)
        return fail(c, c->pos[0], "no API token has that Client ID");
    if (rc != KG_OK) return fail(c, c->pos[0], "%s", why);
    printf("%s: Revoked\n", t.client_id);
    return 0;
}

/* ---- a token's secrets -------------------------------------------------------------- */

/* Prints a new secret as the command was asked to (JSON, or lines for a person). */
static int secret_print(struct ctx *c, const struct kg_token *t, const struct kg_secret *s,
                        const char *secret)
{
    char id[KG_SECRET_ID_LEN + 1], b[40];
    if (opt(c, "--json")) return print_json(render_secret(t->client_id, s, 0, kg_now_ms(), secret));
    ids_secret_id(s->seq, id);
    printf("Client ID:   %s\nSecret ID:   %s\nSecret key:  %s\nExpires:     %s\n"
           "The secret key is shown only this once: store it now.\n",
           t->client_id, id, secret, when(s->expires_on, b, sizeof b, "never"));
    return 0;
}

/* A new secret for token pos[0]: grace_ms >= 0 makes it a rotation. */
static int secret_new(struct ctx *c, int64_t grace_ms)
{
    struct kg_token t;
    struct kg_secret made;
    char secret[KG_SECRET_LEN + 1];
    int64_t exp = 0;
    const char *why = "", *expires = opt(c, "--expires-on");
    if (expires) {
        kg_time_parse(expires, &exp); /* checked as the line was read */
        if (exp <= kg_now_ms()) return fail(c, NULL, "--expires-on %s is in the past", expires);
    }
    kg_err rc = service_secret_add(&c->app, &c->op, c->pos[0], opt(c, "--description"), exp,
                                   grace_ms, &t, &made, secret, &why);
    if (rc != KG_OK) return fail(c, c->pos[0], "%s", why);
    int status = secret_print(c, &t, &made, secret);
    sodium_memzero(secret, sizeof secret);
    return status;
}

static int secret_add(struct ctx *c)
{
    return secret_new(c, -1);
}

static int token_rotate(struct ctx *c)
{
    int64_t grace_s = 86400;
    const char *grace = opt(c, "--grace");
    if (grace) kg_parse_duration(grace, GRACE_MAX_S, &grace_s); /* checked as the line was read */
    return secret_new(c, grace_s * 1000);
}

static int secret_list(struct ctx *c)
{
    static const char *const head[] = {"SECRET ID", "PREFIX",    "STATUS",     "CREATED",
                                       "EXPIRES",   "LAST USED", "DESCRIPTION"};
    struct kg_token t;
    struct table tb;
    int64_t now = kg_now_ms();
    if (token_named(c, c->pos[0], &t)) return 1;
    if (opt(c, "--json")) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < t.nsecrets; i++)
            json_array_append_new(arr, render_secret(t.client_id, &t.secrets[i], 0, now, NULL));
        return print_json(arr);
    }
    table_init(&tb, KG_ARRAY_LEN(head), head);
    for (size_t i = 0; i < t.nsecrets; i++) {
        const struct kg_secret *s = &t.secrets[i];
        char id[KG_SECRET_ID_LEN + 1], b1[40], b2[40], b3[40];
        ids_secret_id(s->seq, id);
        table_cell(&tb, id);
        table_cell(&tb, s->prefix);
        table_cell(&tb, render_secret_status(s, now));
        table_cell(&tb, when(s->created_on, b1, sizeof b1, "-"));
        table_cell(&tb, when(s->expires_on, b2, sizeof b2, "never"));
        table_cell(&tb, when(s->last_used_on, b3, sizeof b3, "never"));
        table_cell(&tb, s->description);
    }
    return table_print(&tb);
}

static int secret_delete(struct ctx *c)
{
    const char *why = "";
    kg_err rc = service_secret_delete(&c->app, &c->op, c->pos[0], c->pos[1], &why);
    if (rc != KG_OK)
        return fail(c, rc == KG_NOTFOUND && ids_client_id_valid(c->pos[0]) ? c->pos[1] : c->pos[0],
                    "%s", why);
    printf("%s: secret %s deleted\n", c->pos[0], c->pos[1]);
    return 0;
}

/* ---- roles --------------------------------------------------------------------------- */

/* Every role, oldest first (caller owns *out); 0, or 1 after saying why not. */
static int roles_all(struct ctx *c, struct kg_role **out, size_t *n)
{
    int64_t after = 0;
    *out = NULL, *n = 0;
    for (;;) {
        struct kg_role *page = NULL, *all;
        size_t got = 0;
        kg_err rc = store_role_list(c->app.st, after, 500, &page, &got);
        if (rc == KG_OK && got && !(all = realloc(*out, (*n + got) * sizeof *all))) rc = KG_ENOMEM;
        if (rc != KG_OK) {
            free(page), free(*out);
            *out = NULL;
            return fail(c, NULL, "cannot read the roles: %s", kg_err_name(rc));
        }
        if (got) {
            *out = all;
            memcpy(all + *n, page, got * sizeof *page);
            *n += got;
            after = page[got - 1].seq;
        }
        free(page);
        if (got < 500) return 0;
    }
}

static const char *role_name_of(const struct kg_role *rs, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rs[i].role_id, id) == 0) return rs[i].role_name;
    return "";
}

/* "a, b" of ids' names into buf. */
static const char *names_of(const kg_role_id *ids, size_t nids, const struct kg_role *rs, size_t n,
                            char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0; i < nids; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s", i ? ", " : "", role_name_of(rs, n, ids[i]));
    }
    return buf[0] ? buf : "-";
}

static int role_create(struct ctx *c)
{
    struct kg_role r;
    const char *why = "", *desc = opt(c, "--description");
    kg_err rc =
        service_role_create(&c->app, &c->op, c->pos[0], desc ? desc : "", NULL, 0, 0, &r, &why);
    if (rc == KG_CONFLICT) return fail(c, c->pos[0], "a role with that name exists");
    if (rc != KG_OK) return fail(c, c->pos[0], "%s", why);
    if (opt(c, "--json")) return print_json(service_role_object(&c->app, &r));
    printf("%s  %s\n", r.role_id, r.role_name);
    return 0;
}

static int role_list(struct ctx *c)
{
    static const char *const head[] = {"ROLE ID", "NAME", "GRANTED ROLES", "DESCRIPTION"};
    struct kg_role *rs;
    size_t n;
    char buf[KG_GRANTS_MAX * (KG_ROLE_NAME_MAX + 2) + 1];
    if (roles_all(c, &rs, &n)) return 1;
    if (opt(c, "--json")) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++) {
            json_array_append_new(arr, service_role_object(&c->app, &rs[i]));
        }
        free(rs);
        return print_json(arr);
    }
    struct table t;
    table_init(&t, KG_ARRAY_LEN(head), head);
    for (size_t i = 0; i < n; i++) {
        table_cell(&t, rs[i].role_id);
        table_cell(&t, rs[i].role_name);
        table_cell(&t, names_of((const kg_role_id *)rs[i].granted, rs[i].ngranted, rs, n, buf,
                                sizeof buf));
        table_cell(&t, rs[i].description);
    }
    free(rs);
    return table_print(&t);
}

/* role grant-privilege and revoke-privilege. */
static int role_privilege(struct ctx *c, int grant)
{
    struct kg_role r;
    const char *why = "";
    int deny = opt(c, "--deny") != NULL, option = opt(c, "--grant-option") != NULL;
    struct service_privilege sp = {
        .privilege = c->pos[1],
        .grant_kind = grant || deny ? privilege_kind_name(deny ? KG_DENY : KG_ALLOW) : NULL,
        .grant_option = grant && option,
        .revoke_action = !grant && option ? PRIV_REVOKE_GRANT_OPTION : NULL,
    };
    int changed = 1;
    kg_err rc;
    if (role_named(c, c->pos[0], &r)) return 1;
    rc = grant ? service_privilege_grant(&c->app, &c->op, r.role_id, &sp, &why)
               : service_privilege_revoke(&c->app, &c->op, r.role_id, &sp, &changed, &why);
    if (rc != KG_OK) return fail(c, r.role_name, "%s", why);
    if (grant)
        printf("%s: %s %s%s\n", r.role_name, sp.grant_kind, c->pos[1],
               option ? " with grant option" : "");
    else
        printf("%s: %s%s%s\n", r.role_name, deny ? "Deny " : "", c->pos[1],
               !changed ? " was not granted"
               : option ? ": grant option revoked"
                        : " revoked");
    return 0;
}

static int role_grant_privilege(struct ctx *c)
{
    return role_privilege(c, 1);
}

static int role_revoke_privilege(struct ctx *c)
{
    return role_privilege(c, 0);
}

static int role_grant_role(struct ctx *c)
{
    struct kg_role r, r2;
    const char *why = "";
    if (role_named(c, c->pos[0], &r) || role_named(c, c->pos[1], &r2)) return 1;
    if (r.ngranted >= KG_GRANTS_MAX)
        return fail(c, r.role_name, "holds %d roles, the most a role may", KG_GRANTS_MAX);
    for (size_t i = 0; i < r.ngranted; i++)
        if (strcmp(r.granted[i], r2.role_id) == 0)
            return printf("%s already has %s\n", r.role_name, r2.role_name), 0;
    memcpy(r.granted[r.ngranted++], r2.role_id, sizeof r2.role_id);
    if (service_role_update(&c->app, &c->op, r.role_id, NULL, NULL, (const kg_role_id *)r.granted,
                            r.ngranted, 1, r.sync, &r, &why) != KG_OK)
        return fail(c, r.role_name, "%s", why);
    printf("%s: granted %s\n", r.role_name, r2.role_name);
    return 0;
}

/* ---- users --------------------------------------------------------------------------- */

/* Prints what user create and reset-password made: a generated password once, else where the
 * password came from. */
static void user_print(const struct kg_user *u, const char *generated, const char *file)
{
    printf("User ID:   %s\nEmail:     %s\n", u->user_id, u->email);
    if (generated[0])
        printf("Password:  %s\nThe password is shown only this once.\n", generated);
    else
        printf("Password:  the one in %s\n", file);
}

static int user_create(struct ctx *c)
{
    struct kg_role r;
    struct kg_user u;
    char generated[33] = "", given[KG_PASSWORD_MAX + 1] = "";
    const char *why = "", *file = opt(c, "--password-file");
    int status = 1;
    if (role_named(c, opt(c, "--role"), &r)) return 1;
    if (file && password_read(c, "--password-file", file, given)) return 1;
    kg_err rc = service_user_create(&c->app, &c->op, c->pos[0], file ? given : NULL,
                                    (const kg_role_id *)&r.role_id, 1, &u, generated, &why);
    if (rc == KG_CONFLICT)
        fail(c, c->pos[0], "a user with that email exists");
    else if (rc != KG_OK)
        fail(c, c->pos[0], "%s", why);
    else {
        user_print(&u, generated, file);
        status = 0;
    }
    sodium_memzero(generated, sizeof generated);
    sodium_memzero(given, sizeof given);
    return status;
}

static int user_list(struct ctx *c)
{
    static const char *const head[] = {"USER ID", "EMAIL", "ROLES", "CREATED"};
    struct kg_role *rs;
    size_t n;
    int64_t after = 0;
    struct table t;
    json_t *arr = opt(c, "--json") ? json_array() : NULL;
    char buf[KG_GRANTS_MAX * (KG_ROLE_NAME_MAX + 2) + 1], b1[40];
    if (roles_all(c, &rs, &n)) {
        json_decref(arr);
        return 1;
    }
    table_init(&t, KG_ARRAY_LEN(head), head);
    for (;;) {
        struct kg_user *us = NULL;
        size_t got = 0;
        kg_err rc = store_user_list(c->app.st, after, 500, &us, &got);
        if (rc != KG_OK) {
            free(rs), free(t.text), json_decref(arr);
            return fail(c, NULL, "cannot read the users: %s", kg_err_name(rc));
        }
        for (size_t i = 0; i < got; i++) {
            const struct kg_user *u = &us[i];
            if (arr) {
                json_array_append_new(arr, service_user_object(&c->app, u));
                continue;
            }
            table_cell(&t, u->user_id);
            table_cell(&t, u->email);
            table_cell(&t,
                       names_of((const kg_role_id *)u->roles, u->nroles, rs, n, buf, sizeof buf));
            table_cell(&t, when(u->created_on, b1, sizeof b1, "-"));
        }
        if (got) after = us[got - 1].seq;
        free(us);
        if (got < 500) break;
    }
    free(rs);
    if (arr) {
        free(t.text);
        return print_json(arr);
    }
    return table_print(&t);
}

static int user_reset_password(struct ctx *c)
{
    struct kg_user u;
    char generated[33] = "", given[KG_PASSWORD_MAX + 1] = "";
    const char *why = "", *file = opt(c, "--password-file");
    int status = 1;
    if (file && password_read(c, "--password-file", file, given)) return 1;
    kg_err rc = service_user_reset_password(&c->app, &c->op, c->pos[0], file ? given : NULL, &u,
                                            generated, &why);
    if (rc != KG_OK) {
        fail(c, c->pos[0], "%s", why);
    } else {
        user_print(&u, generated, file);
        printf("The user's open web-pane sessions end at their next request.\n");
        status = 0;
    }
    sodium_memzero(generated, sizeof generated);
    sodium_memzero(given, sizeof given);
    return status;
}

/* ---- the audit log ------------------------------------------------------------------- */

static int audit_list(struct ctx *c)
{
    static const char *const head[] = {"TIME",   "ACTOR",   "ACTION", "TARGET",
                                       "SOURCE", "OUTCOME", "DETAIL"};
    struct kg_audit_filter f;
    struct kg_audit *es = NULL;
    size_t n = 0;
    const char *actor = opt(c, "--actor");
    memset(&f, 0, sizeof f);
    if (actor && kg_strcpy(f.actor, sizeof f.actor, actor) != KG_OK)
        return fail(c, NULL, "--actor is at most %d characters", KG_ACTOR_MAX);
    if (opt(c, "--since")) kg_time_parse(opt(c, "--since"), &f.since);
    if (opt(c, "--until")) kg_time_parse(opt(c, "--until"), &f.until);
    kg_err rc = store_audit_list(c->app.st, &f, 0, (size_t)opt_int(c, "--limit", 100), &es, &n);
    if (rc != KG_OK) return fail(c, NULL, "cannot read the audit log: %s", kg_err_name(rc));
    if (opt(c, "--json")) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++)
            json_array_append_new(arr, render_audit(&es[i]));
        free(es);
        return print_json(arr);
    }
    struct table t;
    table_init(&t, KG_ARRAY_LEN(head), head);
    for (size_t i = 0; i < n; i++) {
        char b[40];
        table_cell(&t, when(es[i].at, b, sizeof b, "-"));
        table_cell(&t, es[i].actor[0] ? es[i].actor : "-");
        table_cell(&t, es[i].action);
        table_cell(&t, es[i].target[0] ? es[i].target : "-");
        table_cell(&t, es[i].address[0] ? es[i].address : "-");
        table_cell(&t, es[i].outcome);
        table_cell(&t, es[i].detail);
    }
    free(es);
    return table_print(&t);
}

/* ---- keys ---------------------------------------------------------------------------- */

static int keys_rotate_run(struct ctx *c)
{
    char kid[KG_KID_MAX + 1];
    const char *alg = opt(c, "--alg");
    kg_err rc = keys_rotate(c->loc.keys, alg ? keys_alg_parse(alg) : -1, kid);
    if (rc != KG_OK)
        return fail(c, NULL, "cannot write the new key in %s: %s", c->loc.keys, kg_err_name(rc));
    printf("New signing key %s. Running servers publish it within a second and sign with it once "
           "it has been published for their --jwks-max-age (default 300 s) plus 5 s; the old key "
           "stays published until the tokens it signed have expired.\n",
           kid);
    return 0;
}

/* ---- cli_main ------------------------------------------------------------------------ */

int cli_main(int argc, char **argv)
{
    static struct ctx ctx; /* large (paths); one per process */
    struct ctx *c = &ctx;
    int status;
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < KG_ARRAY_LEN(commands); i++) /* the table fits val[]: also in NDEBUG */
        if (opt_count(commands[i].opts) > OPTS_MAX) {
            fprintf(stderr, "keygate: %s %s has more than %d options\n", commands[i].group,
                    commands[i].verb ? commands[i].verb : "", OPTS_MAX);
            return 1;
        }
    if ((status = parse(argc, argv, c)) != 0) return status;
    if (c->version) {
        printf("keygate %s\n", KG_VERSION);
        return 0;
    }
    locate(c);
    if (c->help) {
        help(stdout, c);
        return 0;
    }
    if (argc < 2) {
        help(stderr, c);
        return 2;
    }
    if ((status = complete(c)) != 0) return status;
    if (!c->loc.ok) return usage_error(c, "no database: %s", c->loc.why);
    /* the secret lifetime limit: serve's option, else the environment (the CLI's too) */
    const char *life = c->cmd->opts == serve_opts ? opt(c, "--max-secret-lifetime") : NULL;
    const char *life_env = getenv("KEYGATE_MAX_SECRET_LIFETIME");
    if (!life && life_env && *life_env) {
        if (!ok_lifetime(life_env))
            return usage_error(c, "KEYGATE_MAX_SECRET_LIFETIME is %s, not '%s'", LIFETIME_MUST,
                               life_env);
        life = life_env;
    }
    if (life) kg_parse_duration(life, LIFETIME_MAX_S, &c->max_secret_lifetime);
    if (c->gval[G_LOG_LEVEL]) kg_log_level = kg_log_parse_level(c->gval[G_LOG_LEVEL]);
    if (c->gval[G_LOG_FORMAT]) kg_log_json = kg_log_parse_format(c->gval[G_LOG_FORMAT]);

    /* The line is good: only now is anything made. */
    const char *dirs[] = {c->loc.keys, c->cmd->uses != USES_KEYS ? c->loc.dbdir : ""};
    for (size_t i = 0; i < KG_ARRAY_LEN(dirs); i++)
        if (dirs[i][0] && make_dirs(dirs[i]) != 0)
            return fail(c, NULL, "cannot create %s: %s", dirs[i], strerror(errno));
    if (c->cmd->uses != USES_DB) return c->cmd->run(c);

    struct app_opts ao = {.db = c->loc.db, .db_shown = c->loc.shown, .keys_dir = c->loc.keys};
    char err[512];
    int fresh = c->loc.file && access(c->loc.file, F_OK) != 0;
    if (app_open(&ao, &c->app, err, sizeof err) != KG_OK) {
        return fail(c, NULL, "%s", err);
    }
    if (fresh) fprintf(stderr, "keygate: created a new database at %s\n", c->loc.shown);
    c->app.cfg.max_secret_lifetime = c->max_secret_lifetime;
    kg_strcpy(c->op.id, sizeof c->op.id, "cli");
    c->op.operator= 1;
    status = c->cmd->run(c);
    app_close(&c->app);
    return status;
}
