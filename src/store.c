/*
 * store.c — choosing a storage backend by URI, and the thin store_*() wrappers.
 *
 * The file has two parts: store_open()/store_free(), which pick the backend from the URI
 * scheme, and one wrapper per struct store_ops entry, which only forwards the call.  All the
 * real work, locking included, is in the backend (store_sqlite.c).
 */
#include "store.h"

#include <assert.h>
#include <string.h>

#define SQLITE_SCHEME "sqlite:"

/* ---- audit entries ------------------------------------------------------------------------ */

static int fits(const char *s, size_t cap)
{
    return strnlen(s, cap) < cap;
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
#define AUDIT_OK_OR_INVALID(audit)                                                            \
    do {                                                                                        \
        if ((audit) && !audit_valid(audit)) return KG_INVALID;                                  \
    } while (0)

/* ---- opening and closing ----------------------------------------------------------------- */

/*
 * "postgres://…" or "postgresql://…" opens PostgreSQL (libpq connection URI); "sqlite:PATH"
 * and a plain PATH open SQLite; any other "scheme://" is KG_INVALID, as are NULL and an
 * empty path.
 */
kg_err store_open(const char *uri, struct store **out)
{
    const char *path;

    assert(out);
    *out = NULL;
    if (!uri) return KG_INVALID;
    if (!strncmp(uri, "postgres://", 11) || !strncmp(uri, "postgresql://", 13))
        return store_pg_open(uri, out);
    if (strncmp(uri, SQLITE_SCHEME, strlen(SQLITE_SCHEME)) == 0)
        path = uri + strlen(SQLITE_SCHEME);
    else if (strstr(uri, "://"))
        return KG_INVALID; /* another backend's URI */
    else
        path = uri;
    if (!*path) return KG_INVALID;
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

kg_err store_version(struct store *st, int64_t *data_ver, int64_t *roles_ver)
{
    return OPS(st)->version(st, data_ver, roles_ver);
}

kg_err store_token_insert(struct store *st, const struct kg_token *t, const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    return OPS(st)->token_insert(st, t, audit);
}

kg_err store_token_get(struct store *st, const char *client_id, struct kg_token *out)
{
    return OPS(st)->token_get(st, client_id, out);
}

kg_err store_token_list(struct store *st, int64_t before_seq, size_t limit, struct kg_token **out,
                        size_t *n)
{
    return OPS(st)->token_list(st, before_seq, limit, out, n);
}

kg_err store_token_revoke(struct store *st, const char *client_id, int64_t now, int *changed,
                          const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    return OPS(st)->token_revoke(st, client_id, now, changed, audit);
}

kg_err store_token_touch(struct store *st, const struct kg_touch *t, size_t n)
{
    return OPS(st)->token_touch(st, t, n);
}

kg_err store_token_changes(struct store *st, int64_t since_ver, store_token_fn fn, void *arg)
{
    return OPS(st)->token_changes(st, since_ver, fn, arg);
}

kg_err store_jti_revoke(struct store *st, const char *jti, const char *client_id, int64_t exp,
                        int64_t now_s)
{
    return OPS(st)->jti_revoke(st, jti, client_id, exp, now_s);
}

kg_err store_jti_changes(struct store *st, int64_t since_ver, int64_t now_s, store_jti_fn fn,
                         void *arg)
{
    return OPS(st)->jti_changes(st, since_ver, now_s, fn, arg);
}

kg_err store_role_insert(struct store *st, const struct kg_role *r, const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    return OPS(st)->role_insert(st, r, audit);
}

kg_err store_role_get(struct store *st, const char *role_id, struct kg_role *out)
{
    return OPS(st)->role_get(st, role_id, out);
}

kg_err store_role_get_by_name(struct store *st, const char *name, struct kg_role *out)
{
    return OPS(st)->role_get_by_name(st, name, out);
}

kg_err store_role_list(struct store *st, int64_t after_seq, size_t limit, struct kg_role **out,
                       size_t *n)
{
    return OPS(st)->role_list(st, after_seq, limit, out, n);
}

kg_err store_role_update(struct store *st, const struct kg_role *r, const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    return OPS(st)->role_update(st, r, audit);
}

kg_err store_role_delete(struct store *st, const char *role_id, const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    return OPS(st)->role_delete(st, role_id, audit);
}

kg_err store_privilege_grant(struct store *st, const struct kg_privilege *p, int64_t now,
                             const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    return OPS(st)->privilege_grant(st, p, now, audit);
}

kg_err store_privilege_revoke(struct store *st, const struct kg_privilege *p, int *changed,
                              const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    return OPS(st)->privilege_revoke(st, p, changed, audit);
}

kg_err store_privilege_list(struct store *st, const char *role_id, struct kg_privilege **out,
                            size_t *n)
{
    return OPS(st)->privilege_list(st, role_id, out, n);
}

kg_err store_user_insert(struct store *st, const struct kg_user *u, const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    return OPS(st)->user_insert(st, u, audit);
}

kg_err store_user_get(struct store *st, const char *user_id, struct kg_user *out)
{
    return OPS(st)->user_get(st, user_id, out);
}

kg_err store_user_get_by_email(struct store *st, const char *email, struct kg_user *out)
{
    return OPS(st)->user_get_by_email(st, email, out);
}

kg_err store_user_list(struct store *st, int64_t after_seq, size_t limit, struct kg_user **out,
                       size_t *n)
{
    return OPS(st)->user_list(st, after_seq, limit, out, n);
}

kg_err store_user_update(struct store *st, const struct kg_user *u, const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    return OPS(st)->user_update(st, u, audit);
}

kg_err store_user_delete(struct store *st, const char *user_id, const struct kg_audit *audit)
{
    AUDIT_OK_OR_INVALID(audit);
    return OPS(st)->user_delete(st, user_id, audit);
}

kg_err store_user_count(struct store *st, int64_t *n)
{
    return OPS(st)->user_count(st, n);
}

kg_err store_audit_append(struct store *st, const struct kg_audit *e)
{
    if (!audit_valid(e)) return KG_INVALID;
    return OPS(st)->audit_append(st, e);
}

kg_err store_audit_list(struct store *st, const struct kg_audit_filter *f, int64_t before_seq,
                        size_t limit, struct kg_audit **out, size_t *n)
{
    return OPS(st)->audit_list(st, f, before_seq, limit, out, n);
}
