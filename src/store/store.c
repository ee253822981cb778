/*
 * store.c — choosing a storage backend by URI, and the store_*() wrappers that make the
 * contract's checks.
 *
 * The file has three parts: the checks of the records a call is given (written here once, so
 * that no backend sees what store.h calls KG_INVALID); store_open()/store_free(), which pick
 * the backend from the URI scheme; and one wrapper per struct store_ops entry, which checks
 * and forwards the call, timing it for /metrics (read, write or poll: metrics.h).  The work is in
 * the backends: store_sql.c for what the SQL backends share, store_sqlite.c and store_pg.c for what
 * differs.
 */
#include "store.h"

#include <assert.h>
#include <string.h>

#include "cidr.h"
#include "log.h"
#include "metrics.h"

#define SQLITE_SCHEME "sqlite:"
#define JTI_MAX 63 /* bytes of a jti the store records */

/* ---- the checks ---------------------------------------------------------------------------- */

/* True when `s` is NUL-terminated within a field of `cap` bytes. */
static int fits(const char *s, size_t cap)
{
    return s && strnlen(s, cap) < cap;
}

/* The one check of an entry, made here before any backend sees it: every field within its
 * bounds, an action and an outcome. */
static int audit_valid(const struct kg_audit *e)
{
    return e && fits(e->actor, sizeof e->actor) && fits(e->action, sizeof e->action) &&
           e->action[0] && fits(e->target, sizeof e->target) &&
           fits(e->address, sizeof e->address) && fits(e->outcome, sizeof e->outcome) &&
           e->outcome[0] && fits(e->detail, sizeof e->detail);
}

/* A change's optional entry: none, or a valid one. */
#define AUDIT_OK_OR_INVALID(audit)                                                                 \
    do {                                                                                           \
        if ((audit) && !audit_valid(audit)) return KG_INVALID;                                     \
    } while (0)

static int secret_valid(const struct kg_secret *s)
{
    return s && fits(s->prefix, sizeof s->prefix) && fits(s->description, sizeof s->description) &&
           (s->status == KG_SECRET_ACTIVE || s->status == KG_SECRET_REVOKED);
}

/* A token's usage controls: a rate limit whole or absent, within bounds; at most
 * KG_CIDRS_MAX ranges, each in its canonical text (cidr_text's), ","-separated. */
static int limits_valid(const struct kg_token *t)
{
    size_t n = 0;
    if ((t->rate_requests == 0) != (t->rate_period_s == 0) || t->rate_requests < 0 ||
        t->rate_requests > KG_RATE_REQUESTS_MAX || t->rate_period_s < 0 ||
        t->rate_period_s > KG_RATE_PERIOD_MAX ||
        t->rate_requests > t->rate_period_s * KG_RATE_PER_S_MAX || !fits(t->cidrs, sizeof t->cidrs))
        return 0;
    for (const char *s = t->cidrs; *s; n++) {
        size_t len = strcspn(s, ",");
        struct cidr r;
        char canon[CIDR_TEXT_MAX];
        if (n == KG_CIDRS_MAX || !cidr_parse(s, len, &r)) return 0;
        cidr_text(&r, canon);
        if (strlen(canon) != len || memcmp(canon, s, len) != 0) return 0;
        s += len;
        if (*s == ',' && !*++s) return 0; /* a trailing comma */
    }
    return 1;
}

/* A token to insert: with one to KG_SECRETS_LIVE_MAX secrets. */
static int token_valid(const struct kg_token *t)
{
    if (!t || !fits(t->client_id, sizeof t->client_id) || !t->client_id[0] ||
        !fits(t->description, sizeof t->description) || !fits(t->role_id, sizeof t->role_id) ||
        !fits(t->created_by, sizeof t->created_by) ||
        (t->status != KG_TOKEN_ACTIVE && t->status != KG_TOKEN_REVOKED) || t->nsecrets == 0 ||
        t->nsecrets > KG_SECRETS_LIVE_MAX || !limits_valid(t))
        return 0;
    for (size_t i = 0; i < t->nsecrets; i++)
        if (!secret_valid(&t->secrets[i])) return 0;
    return 1;
}

static int role_valid(const struct kg_role *r)
{
    if (!r || !fits(r->role_id, sizeof r->role_id) || !r->role_id[0] ||
        !fits(r->role_name, sizeof r->role_name) || !r->role_name[0] ||
        !fits(r->description, sizeof r->description) ||
        !fits(r->owning_role_id, sizeof r->owning_role_id) || r->ngranted > KG_GRANTS_MAX)
        return 0;
    for (size_t i = 0; i < r->ngranted; i++)
        if (!fits(r->granted[i], sizeof r->granted[i])) return 0;
    return 1;
}

/* any_kind: KG_KIND_ANY is a kind too (a revoke's). */
static int privilege_valid(const struct kg_privilege *p, int any_kind)
{
    return p && fits(p->role_id, sizeof p->role_id) && fits(p->name, sizeof p->name) &&
           p->name[0] &&
           (p->kind == KG_ALLOW || p->kind == KG_DENY || (any_kind && p->kind == KG_KIND_ANY));
}

static int user_valid(const struct kg_user *u)
{
    if (!u || !fits(u->user_id, sizeof u->user_id) || !u->user_id[0] ||
        !fits(u->email, sizeof u->email) || !u->email[0] ||
        !fits(u->password_hash, sizeof u->password_hash) || u->nroles > KG_GRANTS_MAX)
        return 0;
    for (size_t i = 0; i < u->nroles; i++)
        if (!fits(u->roles[i], sizeof u->roles[i])) return 0;
    return 1;
}

/* A list call's outputs: both given, and empty until it succeeds. */
#define LIST_OUT_OR_INVALID(out, n)                                                                \
    do {                                                                                           \
        if (!(out) || !(n)) return KG_INVALID;                                                     \
        *(out) = NULL;                                                                             \
        *(n) = 0;                                                                                  \
    } while (0)

/* ---- opening and closing ----------------------------------------------------------------- */

/* The SQLite path of uri: what follows "sqlite:", or uri itself when it has no scheme; NULL
 * for any other "scheme://" (PostgreSQL's among them). */
static const char *sqlite_path(const char *uri)
{
    if (strncmp(uri, SQLITE_SCHEME, strlen(SQLITE_SCHEME)) == 0) return uri + strlen(SQLITE_SCHEME);
    return strstr(uri, "://") ? NULL : uri;
}

const char *store_sqlite_file(const char *uri)
{
    const char *path = uri ? sqlite_path(uri) : NULL;
    return path && *path && strcmp(path, ":memory:") != 0 ? path : NULL;
}

/*
 * "postgres://…" or "postgresql://…" opens PostgreSQL (libpq connection URI); "sqlite:PATH"
 * and a plain PATH open SQLite; any other "scheme://" is KG_INVALID, as are NULL and an
 * empty path.
 */
kg_err store_open(const char *uri, struct store **out)
{
    assert(out);
    *out = NULL;
    if (!uri) return KG_INVALID;
    if (!strncmp(uri, "postgres://", 11) || !strncmp(uri, "postgresql://", 13)) {
#ifdef KG_NO_PG
        KG_LOG(LOG_ERR, "this keygate was built without PostgreSQL (make STORE_PG=0)");
        return KG_INVALID;
#else
        return store_pg_open(uri, out);
#endif
    }
    const char *path = sqlite_path(uri);
    if (!path || !*path) return KG_INVALID; /* another backend's URI, or no path */
    return store_sqlite_open(path, out);
}

void store_free(struct store *st)
{
    if (!st) return;
    assert(st->ops && st->ops->close);
    st->ops->close(st);
}

/* ---- forwarding wrappers ------------------------------------------------------------------- */

#define OPS(st) (assert((st) && (st)->ops), (st)->ops)

/* Returns what `call` returns, its time counted for /metrics under `kind` (metrics.h). */
#define TIMED(kind, call)                                                                          \
    do {                                                                                           \
        uint64_t t0_ = metrics_now_ns();                                                           \
        kg_err rc_ = (call);                                                                       \
        metrics_store((kind), metrics_now_ns() - t0_);                                             \
        return rc_;                                                                                \
    } while (0)

kg_err store_version(struct store *st, int64_t *data_ver, int64_t *roles_ver)
{
    TIMED(METRICS_STORE_POLL, OPS(st)->version(st, data_ver, roles_ver));
}

kg_err store_account_id(struct store *st, char out[KG_ACCOUNT_ID_LEN + 1])
{
    if (!out) return KG_INVALID;
    TIMED(METRICS_STORE_READ, OPS(st)->account_id(st, out));
}

kg_err store_view_mark(struct store *st, char out[STORE_MARK_LEN + 1], int64_t *data_ver)
{
    if (!out || !data_ver) return KG_INVALID;
    TIMED(METRICS_STORE_READ, OPS(st)->view_mark(st, out, data_ver));
}

kg_err store_view_mark_set(struct store *st, const char *mark)
{
    if (!mark || strlen(mark) > STORE_MARK_LEN) return KG_INVALID;
    TIMED(METRICS_STORE_WRITE, OPS(st)->view_mark_set(st, mark));
}

kg_err store_token_insert(struct store *st, const struct kg_token *t, const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    if (!token_valid(t)) return KG_INVALID;
    TIMED(METRICS_STORE_WRITE, OPS(st)->token_insert(st, t, audit));
}

kg_err store_token_get(struct store *st, const char *client_id, struct kg_token *out)
{
    if (!client_id || !out) return KG_INVALID;
    TIMED(METRICS_STORE_READ, OPS(st)->token_get(st, client_id, out));
}

kg_err store_token_list(struct store *st, int64_t before_seq, size_t limit, struct kg_token **out,
                        size_t *n)
{
    LIST_OUT_OR_INVALID(out, n);
    TIMED(METRICS_STORE_READ, OPS(st)->token_list(st, before_seq, limit, out, n));
}

kg_err store_token_list_expiring(struct store *st, int64_t now, int64_t by, int64_t before_seq,
                                 size_t limit, struct kg_token **out, size_t *n)
{
    LIST_OUT_OR_INVALID(out, n);
    if (by < now) return KG_INVALID;
    TIMED(METRICS_STORE_READ, OPS(st)->token_list_expiring(st, now, by, before_seq, limit, out, n));
}

kg_err store_token_revoke(struct store *st, const char *client_id, int64_t now, int *changed,
                          const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    if (changed) *changed = 0;
    if (!client_id) return KG_INVALID;
    TIMED(METRICS_STORE_WRITE, OPS(st)->token_revoke(st, client_id, now, changed, audit));
}

kg_err store_token_update(struct store *st, const struct kg_token *t, const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    if (!t || !fits(t->client_id, sizeof t->client_id) ||
        !fits(t->description, sizeof t->description) || !limits_valid(t))
        return KG_INVALID;
    TIMED(METRICS_STORE_WRITE, OPS(st)->token_update(st, t, audit));
}

kg_err store_secret_add(struct store *st, const char *client_id, const struct kg_secret *s,
                        int64_t now, int64_t expire_others_at, const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    if (!client_id || !secret_valid(s) || s->status != KG_SECRET_ACTIVE) return KG_INVALID;
    TIMED(METRICS_STORE_WRITE, OPS(st)->secret_add(st, client_id, s, now, expire_others_at, audit));
}

kg_err store_secret_delete(struct store *st, const char *client_id, int64_t seq, int64_t now,
                           const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    if (!client_id || seq <= 0) return KG_INVALID;
    TIMED(METRICS_STORE_WRITE, OPS(st)->secret_delete(st, client_id, seq, now, audit));
}

kg_err store_secret_find(struct store *st, const unsigned char hash[KG_HASH_LEN],
                         char client_id[KG_CLIENT_ID_LEN + 1], int64_t *seq, int *status)
{
    if (!hash || !client_id || !seq || !status) return KG_INVALID;
    TIMED(METRICS_STORE_READ, OPS(st)->secret_find(st, hash, client_id, seq, status));
}

kg_err store_secret_revoke(struct store *st, const char *client_id, int64_t seq, int64_t now,
                           int *changed, const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    if (changed) *changed = 0;
    if (!client_id || seq <= 0) return KG_INVALID;
    TIMED(METRICS_STORE_WRITE, OPS(st)->secret_revoke(st, client_id, seq, now, changed, audit));
}

kg_err store_token_touch(struct store *st, const struct kg_touch *t, size_t n)
{
    if (n == 0) return KG_OK;
    if (!t) return KG_INVALID;
    for (size_t i = 0; i < n; i++)
        if (!fits(t[i].client_id, sizeof t[i].client_id)) return KG_INVALID;
    TIMED(METRICS_STORE_WRITE, OPS(st)->token_touch(st, t, n));
}

kg_err store_token_changes(struct store *st, int64_t since_ver, store_token_fn fn, void *arg)
{
    if (!fn) return KG_INVALID;
    TIMED(METRICS_STORE_POLL, OPS(st)->token_changes(st, since_ver, fn, arg));
}

kg_err store_token_load(struct store *st, store_token_fn token_fn, store_secret_fn secret_fn,
                        void *arg)
{
    if (!token_fn || !secret_fn) return KG_INVALID;
    TIMED(METRICS_STORE_POLL, OPS(st)->token_load(st, token_fn, secret_fn, arg));
}

kg_err store_usage_add(struct store *st, const struct kg_usage *u, size_t n)
{
    if (n == 0) return KG_OK;
    if (!u) return KG_INVALID;
    for (size_t i = 0; i < n; i++)
        if (!fits(u[i].client_id, sizeof u[i].client_id)) return KG_INVALID;
    TIMED(METRICS_STORE_WRITE, OPS(st)->usage_add(st, u, n));
}

kg_err store_usage_read(struct store *st, const char *client_id, int64_t since, int64_t until,
                        struct kg_usage **out, size_t *n)
{
    LIST_OUT_OR_INVALID(out, n);
    if (!client_id) return KG_INVALID;
    TIMED(METRICS_STORE_READ, OPS(st)->usage_read(st, client_id, since, until, out, n));
}

kg_err store_usage_top(struct store *st, int64_t since, int64_t until, int by_refused, size_t limit,
                       struct kg_usage **out, size_t *n)
{
    LIST_OUT_OR_INVALID(out, n);
    TIMED(METRICS_STORE_READ, OPS(st)->usage_top(st, since, until, by_refused, limit, out, n));
}

kg_err store_usage_total(struct store *st, int64_t since, int64_t until, struct kg_usage *out)
{
    if (!out) return KG_INVALID;
    TIMED(METRICS_STORE_READ, OPS(st)->usage_total(st, since, until, out));
}

kg_err store_usage_prune(struct store *st, int64_t before)
{
    TIMED(METRICS_STORE_WRITE, OPS(st)->usage_prune(st, before));
}

kg_err store_rate_sync(struct store *st, const char *node, const struct kg_rate_window *mine,
                       size_t n, int64_t now, struct kg_rate_window **others, size_t *nothers)
{
    LIST_OUT_OR_INVALID(others, nothers);
    if (!node || (n && !mine)) return KG_INVALID;
    for (size_t i = 0; i < n; i++)
        if (!fits(mine[i].client_id, sizeof mine[i].client_id) || mine[i].period <= 0)
            return KG_INVALID;
    TIMED(METRICS_STORE_WRITE, OPS(st)->rate_sync(st, node, mine, n, now, others, nothers));
}

kg_err store_jti_revoke(struct store *st, const char *jti, const char *client_id, int64_t exp,
                        int64_t now_s)
{
    if (!fits(jti, JTI_MAX + 1) || !fits(client_id, KG_CLIENT_ID_LEN + 1)) return KG_INVALID;
    TIMED(METRICS_STORE_WRITE, OPS(st)->jti_revoke(st, jti, client_id, exp, now_s));
}

kg_err store_jti_changes(struct store *st, int64_t since_ver, int64_t now_s, store_jti_fn fn,
                         void *arg)
{
    if (!fn) return KG_INVALID;
    TIMED(METRICS_STORE_POLL, OPS(st)->jti_changes(st, since_ver, now_s, fn, arg));
}

kg_err store_role_insert(struct store *st, const struct kg_role *r, const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    if (!role_valid(r)) return KG_INVALID;
    TIMED(METRICS_STORE_WRITE, OPS(st)->role_insert(st, r, audit));
}

kg_err store_role_get(struct store *st, const char *role_id, struct kg_role *out)
{
    if (!role_id || !out) return KG_INVALID;
    TIMED(METRICS_STORE_READ, OPS(st)->role_get(st, role_id, out));
}

kg_err store_role_get_by_name(struct store *st, const char *name, struct kg_role *out)
{
    if (!name || !out) return KG_INVALID;
    TIMED(METRICS_STORE_READ, OPS(st)->role_get_by_name(st, name, out));
}

kg_err store_role_list(struct store *st, int64_t after_seq, size_t limit, struct kg_role **out,
                       size_t *n)
{
    LIST_OUT_OR_INVALID(out, n);
    TIMED(METRICS_STORE_READ, OPS(st)->role_list(st, after_seq, limit, out, n));
}

kg_err store_role_update(struct store *st, const struct kg_role *r, const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    if (!role_valid(r)) return KG_INVALID;
    TIMED(METRICS_STORE_WRITE, OPS(st)->role_update(st, r, audit));
}

kg_err store_role_delete(struct store *st, const char *role_id, const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    if (!role_id) return KG_INVALID;
    TIMED(METRICS_STORE_WRITE, OPS(st)->role_delete(st, role_id, audit));
}

kg_err store_privilege_grant(struct store *st, const struct kg_privilege *p, int64_t now,
                             const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    if (!privilege_valid(p, 0) || (p->grant_option && p->kind != KG_ALLOW)) return KG_INVALID;
    TIMED(METRICS_STORE_WRITE, OPS(st)->privilege_grant(st, p, now, audit));
}

kg_err store_privilege_revoke(struct store *st, const struct kg_privilege *p, int option_only,
                              int *changed, const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    if (changed) *changed = 0;
    if (!privilege_valid(p, 1)) return KG_INVALID;
    TIMED(METRICS_STORE_WRITE,
          OPS(st)->privilege_revoke(st, p, option_only ? 1 : 0, changed, audit));
}

kg_err store_privilege_list(struct store *st, const char *role_id, struct kg_privilege **out,
                            size_t *n)
{
    LIST_OUT_OR_INVALID(out, n);
    TIMED(METRICS_STORE_READ, OPS(st)->privilege_list(st, role_id, out, n));
}

kg_err store_user_insert(struct store *st, const struct kg_user *u, const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    if (!user_valid(u)) return KG_INVALID;
    TIMED(METRICS_STORE_WRITE, OPS(st)->user_insert(st, u, audit));
}

kg_err store_user_get(struct store *st, const char *user_id, struct kg_user *out)
{
    if (!user_id || !out) return KG_INVALID;
    TIMED(METRICS_STORE_READ, OPS(st)->user_get(st, user_id, out));
}

kg_err store_user_get_by_email(struct store *st, const char *email, struct kg_user *out)
{
    if (!email || !out) return KG_INVALID;
    TIMED(METRICS_STORE_READ, OPS(st)->user_get_by_email(st, email, out));
}

kg_err store_user_list(struct store *st, int64_t after_seq, size_t limit, struct kg_user **out,
                       size_t *n)
{
    LIST_OUT_OR_INVALID(out, n);
    TIMED(METRICS_STORE_READ, OPS(st)->user_list(st, after_seq, limit, out, n));
}

kg_err store_user_update(struct store *st, const struct kg_user *u, const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    if (!user_valid(u)) return KG_INVALID;
    TIMED(METRICS_STORE_WRITE, OPS(st)->user_update(st, u, audit));
}

kg_err store_user_delete(struct store *st, const char *user_id, const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    if (!user_id) return KG_INVALID;
    TIMED(METRICS_STORE_WRITE, OPS(st)->user_delete(st, user_id, audit));
}

kg_err store_user_count(struct store *st, int64_t *n)
{
    if (!n) return KG_INVALID;
    TIMED(METRICS_STORE_READ, OPS(st)->user_count(st, n));
}

kg_err store_audit_append(struct store *st, const struct kg_audit *e)
{
    if (!audit_valid(e)) return KG_INVALID;
    TIMED(METRICS_STORE_WRITE, OPS(st)->audit_append(st, e));
}

kg_err store_audit_list(struct store *st, const struct kg_audit_filter *f, int64_t before_seq,
                        size_t limit, struct kg_audit **out, size_t *n)
{
    if (!f || !fits(f->actor, sizeof f->actor)) return KG_INVALID;
    LIST_OUT_OR_INVALID(out, n);
    TIMED(METRICS_STORE_READ, OPS(st)->audit_list(st, f, before_seq, limit, out, n));
}

kg_err store_audit_after(struct store *st, int64_t after_seq, size_t limit, struct kg_audit **out,
                         size_t *n)
{
    if (after_seq < 0) return KG_INVALID;
    LIST_OUT_OR_INVALID(out, n);
    TIMED(METRICS_STORE_READ, OPS(st)->audit_after(st, after_seq, limit, out, n));
}

/* ---- webhooks ------------------------------------------------------------------------------ */

static int webhook_id_valid(const char *id)
{
    return fits(id, KG_WEBHOOK_ID_LEN + 1) && id[0];
}

kg_err store_webhook_claim(struct store *st, const char *id, const char *url, const char *node,
                           int64_t now, int64_t lease_until, int *claimed,
                           struct kg_webhook_state *out)
{
    if (!webhook_id_valid(id) || !fits(url, KG_WEBHOOK_URL_MAX + 1) ||
        !fits(node, KG_WEBHOOK_NODE_MAX + 1) || !node[0] || !claimed || !out)
        return KG_INVALID;
    TIMED(METRICS_STORE_WRITE,
          OPS(st)->webhook_claim(st, id, url, node, now, lease_until, claimed, out));
}

kg_err store_webhook_get(struct store *st, const char *id, struct kg_webhook_state *out)
{
    if (!webhook_id_valid(id) || !out) return KG_INVALID;
    TIMED(METRICS_STORE_READ, OPS(st)->webhook_get(st, id, out));
}

kg_err store_webhook_record(struct store *st, const struct kg_webhook_attempt *a, int *changed)
{
    if (!a || !webhook_id_valid(a->id) || !fits(a->node, KG_WEBHOOK_NODE_MAX + 1) ||
        !fits(a->action, KG_ACTION_MAX + 1) || !fits(a->error, KG_WEBHOOK_ERROR_MAX + 1) ||
        a->event_seq <= 0 || !changed ||
        (a->outcome != KG_WEBHOOK_RETRY && a->outcome != KG_WEBHOOK_DELIVERED &&
         a->outcome != KG_WEBHOOK_FAILED))
        return KG_INVALID;
    TIMED(METRICS_STORE_WRITE, OPS(st)->webhook_record(st, a, changed));
}

kg_err store_webhook_release(struct store *st, const char *id, const char *node)
{
    if (!webhook_id_valid(id) || !fits(node, KG_WEBHOOK_NODE_MAX + 1) || !node[0])
        return KG_INVALID;
    TIMED(METRICS_STORE_WRITE, OPS(st)->webhook_release(st, id, node));
}

kg_err store_webhook_failures(struct store *st, const char *id, size_t limit,
                              struct kg_webhook_failure **out, size_t *n)
{
    if (!webhook_id_valid(id)) return KG_INVALID;
    LIST_OUT_OR_INVALID(out, n);
    TIMED(METRICS_STORE_READ, OPS(st)->webhook_failures(st, id, limit, out, n));
}
