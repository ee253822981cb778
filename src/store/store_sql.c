/*
 * store_sql.c — the store operations (store.h) of every SQL backend, written once over the
 * backend's driver (store_sql.h).
 *
 * The file is divided into: parameters, rows and the small helpers every operation uses;
 * the operations in store.h order (versions, the account, tokens, revoked jtis, roles,
 * privileges, users, the audit log); the data migrations add (the built-in roles, the account
 * ID); and the ops table.
 *
 * Each operation is a body run by the driver in a transaction (store_sql.h, struct
 * sql_driver): the body may run more than once, so it resets its outputs when it starts and
 * frees what it made when it fails.  The arguments were checked by store.c before.
 *
 * Versions.  The one-row table meta holds data_ver, raised by one by every write except
 * token_touch and audit_append, and roles_ver, set to the new data_ver by writes to roles,
 * role grants and privileges.  A write stamps the token and jti rows it changes with the new
 * data_ver (their column ver), which is what the change feeds look at.  A call that turns out
 * to change nothing (revoking a revoked token, granting a privilege as it already is,
 * revoking a missing one) bumps nothing and writes nothing but the audit entry it carries.
 *
 * Audit entries.  A change's entry (store.h, "Audited changes") is inserted after the
 * change's body and before its COMMIT, in the same transaction (and run again with it).
 */
#include "store_sql.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ids.h"

/* Rows returned by one list call: a page of 1000 and one more, which tells the caller whether
 * another page follows. */
#define LIST_MAX 1001
#define JTI_MAX 64 /* a longer jti read back is KG_IO (store.c records at most 63 bytes) */

static const struct sql_driver *drv(struct store *st)
{
    return ((struct sql_store *)st)->drv;
}

/* ---- parameters ---------------------------------------------------------------------------- */

static void a_text(struct sql_args *a, const char *s)
{
    assert(a->n < SQL_ARGS_MAX);
    a->v[a->n++] = (struct sql_arg){.type = SQL_TEXT, .p = s};
}

static void a_int(struct sql_args *a, int64_t v)
{
    assert(a->n < SQL_ARGS_MAX);
    a->v[a->n++] = (struct sql_arg){.type = SQL_I64, .i = v};
}

/* A time of 0 ("null") is stored as NULL. */
static void a_time(struct sql_args *a, int64_t v)
{
    assert(a->n < SQL_ARGS_MAX);
    a->v[a->n++] =
        v ? (struct sql_arg){.type = SQL_I64, .i = v} : (struct sql_arg){.type = SQL_NULL};
}

static void a_hash(struct sql_args *a, const unsigned char *h)
{
    assert(a->n < SQL_ARGS_MAX);
    a->v[a->n++] = (struct sql_arg){.type = SQL_HASH, .p = h};
}

/* One text parameter, the commonest case. */
static struct sql_args key1(const char *key)
{
    struct sql_args a = {0};
    a_text(&a, key);
    return a;
}

/* ---- rows ---------------------------------------------------------------------------------- */

/* TOKEN_SELECT's row: the token and one of its secrets. */
struct token_row {
    struct kg_token t; /* nsecrets stays 0: token_row() gathers them */
    struct kg_secret s;
};
#define SECRET_COLUMNS                                                                             \
    SQL_COL(SQL_I64, struct token_row, s.seq), SQL_COL(SQL_HASH, struct token_row, s.hash),        \
        SQL_COL(SQL_TEXT, struct token_row, s.prefix),                                             \
        SQL_COL(SQL_TEXT, struct token_row, s.description),                                        \
        SQL_COL(SQL_INT, struct token_row, s.status),                                              \
        SQL_COL(SQL_I64, struct token_row, s.created_on),                                          \
        SQL_COL(SQL_I64, struct token_row, s.last_used_on),                                        \
        SQL_COL(SQL_I64, struct token_row, s.expires_on),                                          \
        SQL_COL(SQL_I64, struct token_row, s.revoked_on)
/* The token's own columns of TOKEN_SELECT and TOKEN_LIST_SELECT, in their order. */
#define TOKEN_COLUMNS                                                                              \
    SQL_COL(SQL_I64, struct token_row, t.seq), SQL_COL(SQL_TEXT, struct token_row, t.client_id),   \
        SQL_COL(SQL_TEXT, struct token_row, t.description),                                        \
        SQL_COL(SQL_TEXT, struct token_row, t.role_id),                                            \
        SQL_COL(SQL_TEXT, struct token_row, t.role_name),                                          \
        SQL_COL(SQL_INT, struct token_row, t.status),                                              \
        SQL_COL(SQL_I64, struct token_row, t.created_on),                                          \
        SQL_COL(SQL_I64, struct token_row, t.last_access_on),                                      \
        SQL_COL(SQL_I64, struct token_row, t.revoked_on),                                          \
        SQL_COL(SQL_I64, struct token_row, t.expires_on),                                          \
        SQL_COL(SQL_TEXT, struct token_row, t.created_by),                                         \
        SQL_COL(SQL_I64, struct token_row, t.rate_requests),                                       \
        SQL_COL(SQL_I64, struct token_row, t.rate_period_s),                                       \
        SQL_COL(SQL_TEXT, struct token_row, t.cidrs)
static const struct sql_col token_cols[] = {
    TOKEN_COLUMNS,
    SECRET_COLUMNS,
};

/* TOKEN_LIST_SELECT's columns. */
static const struct sql_col token_list_cols[] = {
    TOKEN_COLUMNS,
    SQL_COL(SQL_I64, struct token_row, s.seq),
    SQL_COL(SQL_INT, struct token_row, s.status),
    SQL_COL(SQL_I64, struct token_row, s.expires_on),
};

/* TOKEN_STATE_SELECT's columns. */
static const struct sql_col token_state_cols[] = {
    SQL_COL(SQL_I64, struct token_row, t.seq),
    SQL_COL(SQL_TEXT, struct token_row, t.client_id),
    SQL_COL(SQL_TEXT, struct token_row, t.role_id),
    SQL_COL(SQL_INT, struct token_row, t.status),
    SQL_COL(SQL_I64, struct token_row, t.last_access_on),
    SQL_COL(SQL_I64, struct token_row, t.revoked_on),
    SQL_COL(SQL_I64, struct token_row, t.expires_on),
    SQL_COL(SQL_I64, struct token_row, t.rate_requests),
    SQL_COL(SQL_I64, struct token_row, t.rate_period_s),
    SQL_COL(SQL_TEXT, struct token_row, t.cidrs),
    SQL_COL(SQL_I64, struct token_row, s.seq),
    SQL_COL(SQL_HASH, struct token_row, s.hash),
    SQL_COL(SQL_INT, struct token_row, s.status),
    SQL_COL(SQL_I64, struct token_row, s.last_used_on),
    SQL_COL(SQL_I64, struct token_row, s.expires_on),
};

/* ROLE_SELECT's row: the role, and one granted role or "" (none: no role has an empty id). */
struct role_row {
    struct kg_role r;
    kg_role_id grant;
};
static const struct sql_col role_cols[] = {
    SQL_COL(SQL_I64, struct role_row, r.seq),
    SQL_COL(SQL_TEXT, struct role_row, r.role_id),
    SQL_COL(SQL_TEXT, struct role_row, r.role_name),
    SQL_COL(SQL_TEXT, struct role_row, r.description),
    SQL_COL(SQL_I64, struct role_row, r.created_on),
    SQL_COL(SQL_I64, struct role_row, r.modified_on),
    SQL_COL(SQL_TEXT, struct role_row, r.owning_role_id),
    SQL_COL(SQL_I64, struct role_row, r.sync),
    SQL_COL(SQL_TEXT, struct role_row, grant),
};

/* USER_SELECT's row: the user, and one role held or "". */
struct user_row {
    struct kg_user u;
    kg_role_id role;
};
static const struct sql_col user_cols[] = {
    SQL_COL(SQL_I64, struct user_row, u.seq),
    SQL_COL(SQL_TEXT, struct user_row, u.user_id),
    SQL_COL(SQL_TEXT, struct user_row, u.email),
    SQL_COL(SQL_TEXT, struct user_row, u.password_hash),
    SQL_COL(SQL_I64, struct user_row, u.created_on),
    SQL_COL(SQL_I64, struct user_row, u.modified_on),
    SQL_COL(SQL_I64, struct user_row, u.sync),
    SQL_COL(SQL_TEXT, struct user_row, role),
};

static const struct sql_col privilege_cols[] = {
    SQL_COL(SQL_TEXT, struct kg_privilege, role_id),
    SQL_COL(SQL_INT, struct kg_privilege, kind),
    SQL_COL(SQL_INT, struct kg_privilege, grant_option),
    SQL_COL(SQL_TEXT, struct kg_privilege, name),
};

/* The account ID, read from meta. */
static const struct sql_col account_col[] = {{SQL_TEXT, 0, KG_ACCOUNT_ID_LEN + 1}};

static const struct sql_col audit_cols[] = {
    SQL_COL(SQL_I64, struct kg_audit, seq),      SQL_COL(SQL_I64, struct kg_audit, at),
    SQL_COL(SQL_TEXT, struct kg_audit, actor),   SQL_COL(SQL_TEXT, struct kg_audit, action),
    SQL_COL(SQL_TEXT, struct kg_audit, target),  SQL_COL(SQL_TEXT, struct kg_audit, address),
    SQL_COL(SQL_TEXT, struct kg_audit, outcome), SQL_COL(SQL_TEXT, struct kg_audit, detail),
};

/* A revoked jti: the feed reads client_id too, so that a longer one is KG_IO. */
struct jti_row {
    char jti[JTI_MAX + 1];
    char client_id[KG_CLIENT_ID_LEN + 1];
    int64_t exp;
};
static const struct sql_col jti_cols[] = {
    SQL_COL(SQL_TEXT, struct jti_row, jti),
    SQL_COL(SQL_TEXT, struct jti_row, client_id),
    SQL_COL(SQL_I64, struct jti_row, exp),
};

/* One or two int64 columns into int64_t v[2]. */
static const struct sql_col i64_cols[] = {{SQL_I64, 0, sizeof(int64_t)},
                                          {SQL_I64, sizeof(int64_t), sizeof(int64_t)}};
static const struct sql_col int_col[] = {{SQL_INT, 0, sizeof(int)}};

#define NCOLS(cols) (sizeof cols / sizeof cols[0])

/* ---- helpers ------------------------------------------------------------------------------- */

static kg_err exec(struct store *st, enum sql_id id, const struct sql_args *a, int64_t *changed)
{
    return drv(st)->exec(st, id, a, NULL, changed);
}

static kg_err count_row(void *arg)
{
    (*(size_t *)arg)++;
    return KG_OK;
}

/* Runs query id for at most one row, read into dst; *found tells whether there was one. */
static kg_err one(struct store *st, enum sql_id id, const struct sql_args *a,
                  const struct sql_col *cols, size_t ncols, void *dst, int *found)
{
    size_t n = 0;
    struct sql_rows rows = {cols, ncols, dst, count_row, &n};
    kg_err rc = drv(st)->exec(st, id, a, &rows, NULL);

    *found = n > 0;
    return rc;
}

/* Runs a query of one key that is only asked whether it returns a row. */
static kg_err exists(struct store *st, enum sql_id id, const char *key, int *found)
{
    struct sql_args a = key1(key);
    return one(st, id, &a, NULL, 0, NULL, found);
}

/* Clamps a caller's list limit to LIST_MAX. */
static int64_t list_limit(size_t limit)
{
    return limit > LIST_MAX ? LIST_MAX : (int64_t)limit;
}

/* A query `id` with parameters `a`: each row is read into `row` as `cols` says, then handed
 * to fn(this) — append_row() by default, which collects the rows into rows.arr (NULL when
 * there is none; the caller's). */
struct query_arg {
    enum sql_id id;
    struct sql_args a;
    const struct sql_col *cols;
    size_t ncols;
    void *row;
    sql_row_fn fn;
    struct {
        void *arr;
        size_t n, cap, size; /* size: of an element, copied from the start of row */
    } rows;
};

/* A query_arg for query `id`, read with `cols` into *row, its rows collected whole. */
#define QUERY(id_, cols_, row_)                                                                    \
    {                                                                                              \
        .id = (id_), .cols = (cols_), .ncols = NCOLS(cols_), .row = (row_),                        \
        .rows.size = sizeof *(row_)                                                                \
    }

/* Appends a copy of q->row to q->rows. */
static kg_err append_row(void *arg)
{
    struct query_arg *q = arg;
    size_t ncap = q->rows.cap ? q->rows.cap * 2 : 8;
    void *p;

    if (q->rows.n == q->rows.cap) {
        if (ncap > SIZE_MAX / q->rows.size || !(p = realloc(q->rows.arr, ncap * q->rows.size)))
            return KG_ENOMEM;
        q->rows.arr = p;
        q->rows.cap = ncap;
    }
    memcpy((char *)q->rows.arr + q->rows.n++ * q->rows.size, q->row, q->rows.size);
    return KG_OK;
}

/* The record a row of a query that returns one row per part (a role's grants, a user's roles, a
 * token's secrets) belongs to: q's last record when its seq is the row's, else a new record
 * appended from the row (its parts not yet gathered).  NULL when out of memory.  Every such
 * record begins with its int64_t seq. */
static void *gathering(struct query_arg *q, int64_t seq)
{
    char *last = q->rows.n ? (char *)q->rows.arr + (q->rows.n - 1) * q->rows.size : NULL;
    int64_t last_seq = 0;

    if (last) memcpy(&last_seq, last, sizeof last_seq);
    if (!last || last_seq != seq) {
        if (append_row(q)) return NULL;
        last = (char *)q->rows.arr + (q->rows.n - 1) * q->rows.size;
    }
    return last;
}
_Static_assert(offsetof(struct kg_role, seq) == 0 && offsetof(struct kg_user, seq) == 0 &&
                   offsetof(struct kg_token, seq) == 0,
               "gathering() reads a record's seq at its start");

/* The body of a read: runs q afresh; on failure frees what it collected. */
static kg_err query_body(struct store *st, void *arg)
{
    struct query_arg *q = arg;
    struct sql_rows rows = {q->cols, q->ncols, q->row, q->fn ? q->fn : append_row, q};
    kg_err rc;

    q->rows.arr = NULL;
    q->rows.n = q->rows.cap = 0;
    rc = drv(st)->exec(st, q->id, &q->a, &rows, NULL);
    if (rc) {
        free(q->rows.arr);
        q->rows.arr = NULL;
        q->rows.n = 0;
    }
    return rc;
}

/* Reads q's first row into out (q->rows.size bytes): KG_NOTFOUND when there is none. */
static kg_err read_first(struct store *st, struct query_arg *q, void *out)
{
    kg_err rc = drv(st)->run(st, SQL_READ, query_body, q);

    if (!rc && q->rows.n == 0) rc = KG_NOTFOUND;
    if (!rc) memcpy(out, q->rows.arr, q->rows.size);
    free(q->rows.arr);
    return rc;
}

/* Reads all q's rows; on KG_OK the caller owns q->rows.arr. */
static kg_err read_all(struct store *st, struct query_arg *q)
{
    return drv(st)->run(st, SQL_READ, query_body, q);
}

/* Raises data_ver (and sets roles_ver to it when `roles`); the new data_ver in *ver. */
static kg_err bump(struct store *st, int roles, int64_t *ver)
{
    int64_t v = 0;
    int found = 0;
    kg_err rc = one(st, roles ? SQL_BUMP_ROLES : SQL_BUMP, NULL, i64_cols, 1, &v, &found);

    if (rc) return rc;
    if (!found) return KG_IO; /* meta row missing */
    if (ver) *ver = v;
    return KG_OK;
}

/* The time now, in ms (store.h's times): for rows a write changes besides the one it was
 * given (a deleted role's grantors) and the built-in roles. */
static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Inserts entry e inside the caller's transaction. */
static kg_err put_audit(struct store *st, const struct kg_audit *e)
{
    struct sql_args a = {0};

    a_int(&a, e->at);
    a_text(&a, e->actor);
    a_text(&a, e->action);
    a_text(&a, e->target);
    a_text(&a, e->address);
    a_text(&a, e->outcome);
    a_text(&a, e->detail);
    return exec(st, SQL_AUDIT_INSERT, &a, NULL);
}

struct audited {
    sql_body_fn body;
    void *arg;
    const struct kg_audit *audit;
};

static kg_err audited_body(struct store *st, void *arg)
{
    struct audited *x = arg;
    kg_err rc = x->body(st, x->arg);

    return rc ? rc : put_audit(st, x->audit);
}

/* Runs body in a transaction of `mode` with the audit entry `audit` (NULL: none) inserted
 * between the body and the COMMIT. */
static kg_err run_audited(struct store *st, enum sql_mode mode, sql_body_fn body, void *arg,
                          const struct kg_audit *audit)
{
    struct audited x = {body, arg, audit};

    if (!audit) return drv(st)->run(st, mode, body, arg);
    return drv(st)->run(st, mode, audited_body, &x);
}

/* The const record a write body only reads, as its void * argument. */
#define READ_ONLY(p) ((void *)(uintptr_t)(p))

/* ---- versions ------------------------------------------------------------------------------ */

static kg_err version_body(struct store *st, void *arg)
{
    int found = 0;
    kg_err rc = one(st, SQL_VERSION, NULL, i64_cols, 2, arg, &found);

    return rc ? rc : found ? KG_OK : KG_IO;
}

static kg_err version(struct store *st, int64_t *data_ver, int64_t *roles_ver)
{
    int64_t v[2] = {0, 0};
    kg_err rc = drv(st)->run(st, SQL_READ, version_body, v);

    if (rc) return rc;
    if (data_ver) *data_ver = v[0];
    if (roles_ver) *roles_ver = v[1];
    return KG_OK;
}

/* ---- the account -------------------------------------------------------------------------- */

static kg_err account_body(struct store *st, void *arg)
{
    int found = 0;
    kg_err rc = one(st, SQL_ACCOUNT_GET, NULL, account_col, 1, arg, &found);

    return rc ? rc : found ? KG_OK : KG_IO;
}

static kg_err account_id(struct store *st, char out[KG_ACCOUNT_ID_LEN + 1])
{
    char id[KG_ACCOUNT_ID_LEN + 1] = "";
    kg_err rc = drv(st)->run(st, SQL_READ, account_body, id);

    if (rc) return rc;
    if (!ids_account_id_valid(id)) return KG_IO; /* never made, or not one keygate made */
    memcpy(out, id, sizeof id);
    return KG_OK;
}

/* ---- the saved view's mark ----------------------------------------------------------------- */

struct mark_row {
    char mark[STORE_MARK_LEN + 1];
    int64_t data_ver;
};
static const struct sql_col mark_cols[] = {
    SQL_COL(SQL_TEXT, struct mark_row, mark),
    SQL_COL(SQL_I64, struct mark_row, data_ver),
};

static kg_err view_mark_body(struct store *st, void *arg)
{
    int found = 0;
    kg_err rc = one(st, SQL_VIEW_MARK_GET, NULL, mark_cols, NCOLS(mark_cols), arg, &found);

    return rc ? rc : found ? KG_OK : KG_IO;
}

static kg_err view_mark(struct store *st, char out[STORE_MARK_LEN + 1], int64_t *data_ver)
{
    struct mark_row r = {"", 0};
    kg_err rc = drv(st)->run(st, SQL_READ, view_mark_body, &r);

    if (rc) return rc;
    memcpy(out, r.mark, sizeof r.mark);
    *data_ver = r.data_ver;
    return KG_OK;
}

static kg_err view_mark_set_body(struct store *st, void *arg)
{
    struct sql_args a = {0};
    a_text(&a, arg);
    return exec(st, SQL_VIEW_MARK_SET, &a, NULL);
}

static kg_err view_mark_set(struct store *st, const char *mark)
{
    return drv(st)->run(st, SQL_WRITE_FREE, view_mark_set_body, READ_ONLY(mark));
}

/* ---- tokens -------------------------------------------------------------------------------- */

/* Adds row's secret to t, the token the row belongs to: KG_IO beyond what the model holds. */
static kg_err gather_secret(struct kg_token *t, const struct token_row *row)
{
    if (t->nsecrets == KG_SECRETS_MAX) return KG_IO;
    t->secrets[t->nsecrets++] = row->s;
    return KG_OK;
}

/* Gathers TOKEN_SELECT rows (one per secret) into one struct kg_token per token. */
static kg_err token_row(void *arg)
{
    struct query_arg *q = arg;
    const struct token_row *row = q->row;
    struct kg_token *cur = gathering(q, row->t.seq); /* row->t holds no secrets: nsecrets 0 */

    return cur ? gather_secret(cur, row) : KG_ENOMEM;
}

/* Sets q up to read tokens (with their secrets) through `row`: whole (token_cols), or as a list
 * shows them (token_list_cols). */
static void tokens_query(struct query_arg *q, enum sql_id id, struct token_row *row)
{
    memset(row, 0, sizeof *row);
    *q = (struct query_arg)QUERY(id, token_cols, row);
    if (id != SQL_TOKEN_GET) {
        q->cols = token_list_cols;
        q->ncols = NCOLS(token_list_cols);
    }
    q->fn = token_row;
    q->rows.size = sizeof row->t;
}

/* Inserts secret s of token client_id inside the caller's transaction. */
static kg_err put_secret(struct store *st, const char *client_id, const struct kg_secret *s)
{
    struct sql_args a = key1(client_id);

    a_hash(&a, s->hash);
    a_text(&a, s->prefix);
    a_text(&a, s->description);
    a_int(&a, s->status);
    a_int(&a, s->created_on);
    a_time(&a, s->last_used_on);
    a_time(&a, s->expires_on);
    a_time(&a, s->revoked_on);
    return exec(st, SQL_SECRET_INSERT, &a, NULL);
}

static kg_err token_insert_body(struct store *st, void *arg)
{
    const struct kg_token *t = arg;
    struct sql_args a = {0};
    int64_t ver;
    int found = 0;
    kg_err rc;

    if ((rc = exists(st, SQL_ROLE_EXISTS, t->role_id, &found))) return rc;
    if (!found) return KG_NOTFOUND;
    if ((rc = bump(st, 0, &ver))) return rc;
    a_text(&a, t->client_id);
    a_text(&a, t->description);
    a_text(&a, t->role_id);
    a_int(&a, t->status);
    a_int(&a, t->created_on);
    a_time(&a, t->last_access_on);
    a_time(&a, t->revoked_on);
    a_time(&a, t->expires_on);
    a_text(&a, t->created_by);
    a_int(&a, ver);
    a_time(&a, t->rate_requests); /* 0: none, NULL */
    a_time(&a, t->rate_period_s);
    a_text(&a, t->cidrs);
    if ((rc = exec(st, SQL_TOKEN_INSERT, &a, NULL))) return rc; /* KG_CONFLICT: a taken id */
    for (size_t i = 0; i < t->nsecrets && !rc; i++)
        rc = put_secret(st, t->client_id, &t->secrets[i]);
    return rc;
}

static kg_err token_insert(struct store *st, const struct kg_token *t, const struct kg_audit *audit)
{
    return run_audited(st, SQL_WRITE, token_insert_body, READ_ONLY(t), audit);
}

static kg_err token_get(struct store *st, const char *client_id, struct kg_token *out)
{
    struct token_row row;
    struct query_arg q;

    tokens_query(&q, SQL_TOKEN_GET, &row);
    q.a = key1(client_id);
    return read_first(st, &q, out);
}

static kg_err token_list(struct store *st, int64_t before_seq, size_t limit, struct kg_token **out,
                         size_t *n)
{
    struct token_row row;
    struct query_arg q;
    kg_err rc;

    tokens_query(&q, SQL_TOKEN_LIST, &row);
    a_int(&q.a, before_seq > 0 ? before_seq : INT64_MAX);
    a_int(&q.a, list_limit(limit));
    if ((rc = read_all(st, &q))) return rc;
    *out = q.rows.arr; /* handed to the caller */
    *n = q.rows.n;
    return KG_OK;
}

static kg_err token_list_expiring(struct store *st, int64_t now, int64_t by, int64_t before_seq,
                                  size_t limit, struct kg_token **out, size_t *n)
{
    struct token_row row;
    struct query_arg q;
    kg_err rc;

    tokens_query(&q, SQL_TOKEN_LIST_EXPIRING, &row);
    a_int(&q.a, before_seq > 0 ? before_seq : INT64_MAX);
    a_int(&q.a, list_limit(limit));
    a_int(&q.a, now);
    a_int(&q.a, by);
    if ((rc = read_all(st, &q))) return rc;
    *out = q.rows.arr; /* handed to the caller */
    *n = q.rows.n;
    return KG_OK;
}

/* The status of token client_id (KG_NOTFOUND without one), inside the caller's transaction. */
static kg_err token_status(struct store *st, const char *client_id, int *status)
{
    struct sql_args a = key1(client_id);
    int found = 0;
    kg_err rc = one(st, SQL_TOKEN_STATUS, &a, int_col, 1, status, &found);

    return rc ? rc : found ? KG_OK : KG_NOTFOUND;
}

/* Stamps token client_id with a new data_ver: its secrets changed. */
static kg_err token_stamp(struct store *st, const char *client_id)
{
    struct sql_args a = key1(client_id);
    int64_t ver;
    kg_err rc = bump(st, 0, &ver);

    if (rc) return rc;
    a_int(&a, ver);
    return exec(st, SQL_TOKEN_STAMP, &a, NULL);
}

struct revoke_arg {
    const char *client_id;
    int64_t now;
    int changed;
};

static kg_err token_revoke_body(struct store *st, void *arg)
{
    struct revoke_arg *r = arg;
    struct sql_args a = key1(r->client_id);
    int64_t ver;
    int status = 0;
    kg_err rc;

    r->changed = 0;
    if ((rc = token_status(st, r->client_id, &status))) return rc;
    if (status != KG_TOKEN_ACTIVE) return KG_OK; /* already revoked: kept so */
    if ((rc = bump(st, 0, &ver))) return rc;
    a_int(&a, r->now);
    a_int(&a, ver);
    if ((rc = exec(st, SQL_TOKEN_REVOKE, &a, NULL))) return rc;
    r->changed = 1;
    return KG_OK;
}

static kg_err token_revoke(struct store *st, const char *client_id, int64_t now, int *changed,
                           const struct kg_audit *audit)
{
    struct revoke_arg r = {client_id, now, 0};
    kg_err rc;

    if ((rc = run_audited(st, SQL_WRITE, token_revoke_body, &r, audit))) return rc;
    if (changed) *changed = r.changed;
    return KG_OK;
}

static kg_err token_update_body(struct store *st, void *arg)
{
    const struct kg_token *t = arg;
    struct sql_args a = key1(t->client_id);
    int64_t ver, changed = 0;
    int status = 0;
    kg_err rc;

    if ((rc = token_status(st, t->client_id, &status))) return rc;
    if (status != KG_TOKEN_ACTIVE) return KG_PRECONDITION;
    if ((rc = bump(st, 0, &ver))) return rc;
    a_text(&a, t->description);
    a_time(&a, t->rate_requests);
    a_time(&a, t->rate_period_s);
    a_text(&a, t->cidrs);
    a_int(&a, ver);
    if ((rc = exec(st, SQL_TOKEN_UPDATE, &a, &changed))) return rc;
    return changed ? KG_OK : KG_IO;
}

static kg_err token_update(struct store *st, const struct kg_token *t, const struct kg_audit *audit)
{
    return run_audited(st, SQL_WRITE, token_update_body, READ_ONLY(t), audit);
}

/* How many secrets token client_id has, and how many of them are live at now. */
static kg_err secret_counts(struct store *st, const char *client_id, int64_t now, int64_t *all,
                            int64_t *live)
{
    struct sql_args a = key1(client_id);
    int64_t v[2] = {0, 0};
    int found = 0;
    kg_err rc;

    a_int(&a, now);
    if ((rc = one(st, SQL_SECRET_COUNT, &a, i64_cols, 2, v, &found))) return rc;
    *all = v[0];
    *live = v[1];
    return KG_OK;
}

struct secret_add_arg {
    const char *client_id;
    const struct kg_secret *s;
    int64_t now, expire_others_at;
};

static kg_err secret_add_body(struct store *st, void *arg)
{
    struct secret_add_arg *x = arg;
    int64_t all = 0, live = 0;
    int status = 0;
    kg_err rc;

    if ((rc = token_status(st, x->client_id, &status))) return rc;
    if (status != KG_TOKEN_ACTIVE) return KG_PRECONDITION;
    if ((rc = secret_counts(st, x->client_id, x->now, &all, &live))) return rc;
    if (live >= KG_SECRETS_LIVE_MAX) return KG_PRECONDITION;
    if (all >= KG_SECRETS_MAX) { /* room for one: drop the oldest that are not live */
        struct sql_args a = key1(x->client_id);
        a_int(&a, x->now);
        a_int(&a, all - KG_SECRETS_MAX + 1);
        if ((rc = exec(st, SQL_SECRET_PRUNE, &a, NULL))) return rc;
    }
    if (x->expire_others_at) {
        struct sql_args a = key1(x->client_id);
        a_int(&a, x->expire_others_at);
        if ((rc = exec(st, SQL_SECRET_EXPIRE_ALL, &a, NULL))) return rc;
    }
    if ((rc = put_secret(st, x->client_id, x->s))) return rc;
    return token_stamp(st, x->client_id);
}

static kg_err secret_add(struct store *st, const char *client_id, const struct kg_secret *s,
                         int64_t now, int64_t expire_others_at, const struct kg_audit *audit)
{
    struct secret_add_arg x = {client_id, s, now, expire_others_at};
    return run_audited(st, SQL_WRITE, secret_add_body, &x, audit);
}

struct secret_del_arg {
    const char *client_id;
    int64_t seq, now;
};

static kg_err secret_delete_body(struct store *st, void *arg)
{
    struct secret_del_arg *x = arg;
    struct sql_args a = key1(x->client_id);
    int64_t all = 0, live = 0;
    int this_live = 0, found = 0;
    kg_err rc;

    a_int(&a, x->seq);
    a_int(&a, x->now);
    if ((rc = one(st, SQL_SECRET_LIVE, &a, int_col, 1, &this_live, &found))) return rc;
    if (!found) return KG_NOTFOUND;
    if ((rc = secret_counts(st, x->client_id, x->now, &all, &live))) return rc;
    if (all <= 1 || (this_live && live <= 1)) return KG_PRECONDITION; /* its last: revoke it */
    a.n = 2;
    if ((rc = exec(st, SQL_SECRET_DELETE, &a, NULL))) return rc;
    return token_stamp(st, x->client_id);
}

static kg_err secret_delete(struct store *st, const char *client_id, int64_t seq, int64_t now,
                            const struct kg_audit *audit)
{
    struct secret_del_arg x = {client_id, seq, now};
    return run_audited(st, SQL_WRITE, secret_delete_body, &x, audit);
}

/* SQL_SECRET_FIND's row. */
struct secret_ref {
    char client_id[KG_CLIENT_ID_LEN + 1];
    int64_t seq;
    int status;
};
static const struct sql_col secret_ref_cols[] = {
    SQL_COL(SQL_TEXT, struct secret_ref, client_id),
    SQL_COL(SQL_I64, struct secret_ref, seq),
    SQL_COL(SQL_INT, struct secret_ref, status),
};

struct secret_find_arg {
    const unsigned char *hash;
    struct secret_ref ref;
    int found;
};

static kg_err secret_find_body(struct store *st, void *arg)
{
    struct secret_find_arg *x = arg;
    struct sql_args a = {0};

    a_hash(&a, x->hash);
    return one(st, SQL_SECRET_FIND, &a, secret_ref_cols, NCOLS(secret_ref_cols), &x->ref,
               &x->found);
}

static kg_err secret_find(struct store *st, const unsigned char hash[KG_HASH_LEN],
                          char client_id[KG_CLIENT_ID_LEN + 1], int64_t *seq, int *status)
{
    struct secret_find_arg x = {.hash = hash};
    kg_err rc = drv(st)->run(st, SQL_READ, secret_find_body, &x);

    if (rc) return rc;
    if (!x.found) return KG_NOTFOUND;
    memcpy(client_id, x.ref.client_id, sizeof x.ref.client_id);
    *seq = x.ref.seq;
    *status = x.ref.status;
    return KG_OK;
}

struct secret_revoke_arg {
    const char *client_id;
    int64_t seq, now;
    int changed;
};

static kg_err secret_revoke_body(struct store *st, void *arg)
{
    struct secret_revoke_arg *x = arg;
    struct sql_args a = key1(x->client_id);
    int64_t n = 0;
    int live = 0, found = 0;
    kg_err rc;

    x->changed = 0;
    a_int(&a, x->seq);
    a_int(&a, x->now);
    if ((rc = one(st, SQL_SECRET_LIVE, &a, int_col, 1, &live, &found))) return rc;
    if (!found) return KG_NOTFOUND;
    if ((rc = exec(st, SQL_SECRET_REVOKE, &a, &n))) return rc;
    if (n == 0) return KG_OK; /* revoked already */
    x->changed = 1;
    return token_stamp(st, x->client_id);
}

static kg_err secret_revoke(struct store *st, const char *client_id, int64_t seq, int64_t now,
                            int *changed, const struct kg_audit *audit)
{
    struct secret_revoke_arg x = {client_id, seq, now, 0};
    kg_err rc = run_audited(st, SQL_WRITE, secret_revoke_body, &x, audit);

    if (!rc && changed) *changed = x.changed;
    return rc;
}

struct touch_arg {
    const struct kg_touch *t;
    size_t n;
};

static kg_err token_touch_body(struct store *st, void *arg)
{
    struct touch_arg *t = arg;
    kg_err rc = KG_OK;

    /* One statement per token and secret: fine for a written-behind batch.  A secret's row
     * before its token's, the order of every write to both (no lock-order deadlock). */
    for (size_t i = 0; i < t->n && !rc; i++) {
        struct sql_args a = {0};
        if (t->t[i].secret) {
            a_int(&a, t->t[i].secret);
            a_int(&a, t->t[i].at);
            if ((rc = exec(st, SQL_SECRET_TOUCH, &a, NULL))) break;
        }
        a = key1(t->t[i].client_id);
        a_int(&a, t->t[i].at);
        rc = exec(st, SQL_TOKEN_TOUCH, &a, NULL);
    }
    return rc;
}

static kg_err token_touch(struct store *st, const struct kg_touch *t, size_t n)
{
    struct touch_arg a = {t, n};

    /* No version bump and no wait for other writers: last access is approximate and written
     * behind.  (Two batches touching the same rows in opposite orders may deadlock in
     * PostgreSQL; its driver runs the loser again.) */
    return drv(st)->run(st, SQL_WRITE_FREE, token_touch_body, &a);
}

/* A change feed: query `id` with `a`, each row read into row or j and handed to the caller's
 * function (a token once its rows, one per secret, are gathered into t). */
struct feed_arg {
    enum sql_id id;
    struct sql_args a;
    store_token_fn token_fn;
    store_jti_fn jti_fn;
    void *fn_arg;
    struct token_row row;
    struct kg_token t; /* the token being gathered; t.seq 0 = none yet */
    struct jti_row j;
};

static kg_err token_feed_row(void *arg)
{
    struct feed_arg *f = arg;
    kg_err rc;

    if (f->t.seq != f->row.t.seq) {
        if (f->t.seq && (rc = f->token_fn(f->fn_arg, &f->t))) return rc;
        /* what the feed reads of the token's own fields (token_state_cols), each only as long
         * as it is: the struct is mostly room for text and secrets the feed leaves empty, and
         * copying it whole was a gigabyte at a million tokens */
        const struct kg_token *r = &f->row.t;
        f->t.seq = r->seq;
        memcpy(f->t.client_id, r->client_id, sizeof r->client_id);
        memcpy(f->t.role_id, r->role_id, sizeof r->role_id);
        f->t.status = r->status;
        f->t.last_access_on = r->last_access_on;
        f->t.revoked_on = r->revoked_on;
        f->t.expires_on = r->expires_on;
        f->t.rate_requests = r->rate_requests;
        f->t.rate_period_s = r->rate_period_s;
        memcpy(f->t.cidrs, r->cidrs, strlen(r->cidrs) + 1);
        f->t.nsecrets = 0;
    }
    return gather_secret(&f->t, &f->row);
}

static kg_err token_feed_body(struct store *st, void *arg)
{
    struct feed_arg *f = arg;
    struct sql_rows rows = {token_state_cols, NCOLS(token_state_cols), &f->row, token_feed_row, f};
    kg_err rc;

    f->t.seq = 0; /* the body may run again */
    if ((rc = drv(st)->exec(st, f->id, &f->a, &rows, NULL))) return rc;
    return f->t.seq ? f->token_fn(f->fn_arg, &f->t) : KG_OK;
}

static kg_err token_changes(struct store *st, int64_t since_ver, store_token_fn fn, void *arg)
{
    /* The fields the feed does not read stay empty; each row sets the others. */
    struct feed_arg f = {.id = SQL_TOKEN_ALL, .token_fn = fn, .fn_arg = arg};

    if (since_ver > 0) {
        f.id = SQL_TOKEN_CHANGES;
        a_int(&f.a, since_ver);
    }
    return drv(st)->run(st, SQL_SNAPSHOT, token_feed_body, &f);
}

/* The first load: SQL_TOKEN_LOAD's rows straight into a token (no secrets), SQL_SECRET_LOAD's
 * into a secret and its token's id. */
static const struct sql_col token_load_cols[] = {
    SQL_COL(SQL_TEXT, struct kg_token, client_id),
    SQL_COL(SQL_TEXT, struct kg_token, role_id),
    SQL_COL(SQL_INT, struct kg_token, status),
    SQL_COL(SQL_I64, struct kg_token, last_access_on),
    SQL_COL(SQL_I64, struct kg_token, expires_on),
    SQL_COL(SQL_I64, struct kg_token, rate_requests),
    SQL_COL(SQL_I64, struct kg_token, rate_period_s),
    SQL_COL(SQL_TEXT, struct kg_token, cidrs),
};
struct secret_load_row {
    char client_id[KG_CLIENT_ID_LEN + 1];
    struct kg_secret s;
};
static const struct sql_col secret_load_cols[] = {
    SQL_COL(SQL_TEXT, struct secret_load_row, client_id),
    SQL_COL(SQL_I64, struct secret_load_row, s.seq),
    SQL_COL(SQL_HASH, struct secret_load_row, s.hash),
    SQL_COL(SQL_INT, struct secret_load_row, s.status),
    SQL_COL(SQL_I64, struct secret_load_row, s.last_used_on),
    SQL_COL(SQL_I64, struct secret_load_row, s.expires_on),
};

/* One reader of the first load: its rows of each table, each read into t or row and handed
 * on. */
struct load_arg {
    store_token_fn token_fn;
    store_secret_fn secret_fn;
    void *fn_arg;
    struct kg_token *t; /* one row at a time: the struct is mostly room the load leaves empty */
    struct secret_load_row row;
    struct load_two *two;     /* the two readers' meeting place; NULL for one reader */
    struct load_batch *batch; /* with two: the rows read and not yet handed over */
    int side;                 /* 0: the store's own connection, 1: its twin's */
};

/* Two readers, each on a connection of its own and a thread of its own, share the reading of
 * each table, so that it (most of the first load at ten million tokens) takes two cores.  A
 * table's seqs are cut into parts; each side reads a part of its own first, then takes the
 * next part not yet taken until none is left: halves, one a side, ended a third of a second
 * apart at ten million tokens, while one core waited.  They hand their rows to the callbacks in
 * batches (under mu), every token before any secret: each waits for the other at the end of its
 * tokens.  Their snapshots are one state when they read the same data version (every change to the
 * data bumps it in its transaction); when they do not, neither delivers a row and the load runs
 * again on one connection.  The rows reach the callbacks in no set order: the tokens of the parts
 * interleaved, and a token's secrets too (the view puts each secret in its place by seq). */
struct load_two {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t ver[2]; /* each side's data version */
    int stage[2];   /* each side's: 1 has read its version, 2 has delivered its tokens */
    int stop;       /* a side failed, or the versions differ: the other stops too */
    int differ;     /* the versions differ */
    int delivered;  /* a row went to the callbacks: the load cannot run again */
    int64_t max[2]; /* the tables' largest seqs (side 0 reads them): tokens, secrets */
    int parts[2];   /* the tables' parts (LOAD_PARTS_MAX at most) */
    int taken[2];   /* the parts taken (by either side) */
};

/* A table has a part per LOAD_PART_SEQS seqs, LOAD_PARTS_MAX at most (at ten million tokens,
 * a tenth of a second's reading each) and two at least, one for each side. */
enum { LOAD_PART_SEQS = 256, LOAD_PARTS_MAX = 64 };

/* The rows a reader hands over at once (under mu): one at a time, the view's data went from
 * core to core with every row, and the load took twice as long as on one reader. */
enum { LOAD_BATCH = 256, LOAD_TEXT = 16384 };
struct load_batch {
    size_t n, ntext;
    union {
        struct tok_row { /* what token_load_cols[] read */
            char client_id[KG_CLIENT_ID_LEN + 1];
            kg_role_id role_id;
            int status;
            uint16_t cidrs_at, cidrs_len; /* in text */
            int64_t last_access_on, expires_on, rate_requests, rate_period_s;
        } t[LOAD_BATCH];
        struct secret_load_row s[LOAD_BATCH];
    } r;
    char text[LOAD_TEXT]; /* the tokens' allowed ranges */
};

/* Hands l's batch of tokens (secrets: `secrets`) to the callbacks, under mu. */
static kg_err load_deliver(struct load_arg *l, int secrets)
{
    struct load_batch *b = l->batch;
    struct kg_token *t = l->t; /* read into, for the last time: the scratch token now */
    kg_err rc = KG_OK;
    pthread_mutex_lock(&l->two->mu);
    if (l->two->stop) rc = KG_UNAVAILABLE;
    l->two->delivered |= b->n > 0;
    for (size_t i = 0; i < b->n && rc == KG_OK; i++) {
        if (secrets) {
            rc = l->secret_fn(l->fn_arg, b->r.s[i].client_id, &b->r.s[i].s);
            continue;
        }
        const struct tok_row *r = &b->r.t[i];
        memcpy(t->client_id, r->client_id, sizeof t->client_id);
        memcpy(t->role_id, r->role_id, sizeof t->role_id);
        t->status = r->status;
        t->last_access_on = r->last_access_on;
        t->expires_on = r->expires_on;
        t->rate_requests = r->rate_requests;
        t->rate_period_s = r->rate_period_s;
        memcpy(t->cidrs, b->text + r->cidrs_at, r->cidrs_len);
        t->cidrs[r->cidrs_len] = '\0';
        rc = l->token_fn(l->fn_arg, t);
    }
    pthread_mutex_unlock(&l->two->mu);
    b->n = b->ntext = 0;
    return rc;
}

static kg_err load_token_row(void *arg)
{
    struct load_arg *l = arg;
    if (!l->two) return l->token_fn(l->fn_arg, l->t);
    struct load_batch *b = l->batch;
    size_t len = strnlen(l->t->cidrs, KG_CIDRS_TEXT_MAX);
    struct tok_row *r = &b->r.t[b->n++];
    memcpy(r->client_id, l->t->client_id, sizeof r->client_id);
    memcpy(r->role_id, l->t->role_id, sizeof r->role_id);
    r->status = l->t->status;
    r->last_access_on = l->t->last_access_on;
    r->expires_on = l->t->expires_on;
    r->rate_requests = l->t->rate_requests;
    r->rate_period_s = l->t->rate_period_s;
    r->cidrs_at = (uint16_t)b->ntext;
    r->cidrs_len = (uint16_t)len;
    memcpy(b->text + b->ntext, l->t->cidrs, len);
    b->ntext += len;
    return b->n == LOAD_BATCH || b->ntext + KG_CIDRS_TEXT_MAX > LOAD_TEXT ? load_deliver(l, 0)
                                                                          : KG_OK;
}

static kg_err load_secret_row(void *arg)
{
    struct load_arg *l = arg;
    if (!l->two) return l->secret_fn(l->fn_arg, l->row.client_id, &l->row.s);
    struct load_batch *b = l->batch;
    b->r.s[b->n++] = l->row;
    return b->n == LOAD_BATCH ? load_deliver(l, 1) : KG_OK;
}

/* Marks l's side at `stage` and waits for the other side to get there; KG_UNAVAILABLE when
 * the load stops (the other side failed, or the versions differ). */
static kg_err load_meet(struct load_arg *l, int stage)
{
    struct load_two *w = l->two;
    pthread_mutex_lock(&w->mu);
    w->stage[l->side] = stage;
    if (stage == 1 && w->stage[!l->side] >= 1 && w->ver[0] != w->ver[1]) w->differ = w->stop = 1;
    pthread_cond_broadcast(&w->cv);
    while (!w->stop && w->stage[!l->side] < stage)
        pthread_cond_wait(&w->cv, &w->mu);
    kg_err rc = w->stop ? KG_UNAVAILABLE : KG_OK;
    pthread_mutex_unlock(&w->mu);
    return rc;
}

static void load_stop(struct load_two *w)
{
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* The next part of table `tab` (0 tokens, 1 secrets) no side has taken; -1 when none is, or
 * when the load stops. */
static int load_take(struct load_two *w, int tab)
{
    pthread_mutex_lock(&w->mu);
    int k = !w->stop && w->taken[tab] < w->parts[tab] ? w->taken[tab]++ : -1;
    pthread_mutex_unlock(&w->mu);
    return k;
}

/* Reads table `tab` (0 tokens, 1 secrets) through rows: all of it for one reader, l's parts
 * of it for two (the seqs in (lo, hi] of each; the last part to the end, which in the sides'
 * one state is the largest seq). */
static kg_err load_table(struct store *st, struct load_arg *l, int tab, struct sql_rows *rows)
{
    struct load_two *w = l->two;
    enum sql_id q = tab ? SQL_SECRET_LOAD : SQL_TOKEN_LOAD;
    kg_err rc = KG_OK;
    for (int k = w ? l->side : 0; k >= 0 && rc == KG_OK; k = w ? load_take(w, tab) : -1) {
        int64_t max = w ? w->max[tab] : 0, n = w ? w->parts[tab] : 1;
        /* max * k / n, without overflow */
        int64_t lo = max / n * k + max % n * k / n, hi = max / n * (k + 1) + max % n * (k + 1) / n;
        struct sql_args a = {0};
        a_int(&a, k == 0 ? 0 : lo), a_int(&a, k == n - 1 ? INT64_MAX : hi);
        rc = drv(st)->exec(st, q, &a, rows, NULL);
    }
    return rc;
}

static kg_err token_load_part(struct store *st, struct load_arg *l)
{
    struct sql_rows tokens = {token_load_cols, NCOLS(token_load_cols), l->t, load_token_row, l};
    struct sql_rows secrets = {secret_load_cols, NCOLS(secret_load_cols), &l->row, load_secret_row,
                               l};
    kg_err rc;
    if ((rc = load_table(st, l, 0, &tokens))) return rc;
    if (l->two && ((rc = load_deliver(l, 0)) || (rc = load_meet(l, 2)))) return rc;
    if ((rc = load_table(st, l, 1, &secrets))) return rc;
    return l->two ? load_deliver(l, 1) : KG_OK;
}

/* One side's body, in its connection's snapshot. */
static kg_err token_load_body(struct store *st, void *arg)
{
    struct load_arg *l = arg;
    struct load_two *w = l->two;
    int64_t v[2] = {0, 0};
    int found;
    kg_err rc;

    if (!w) return token_load_part(st, l);
    if ((rc = one(st, SQL_VERSION, NULL, i64_cols, 1, v, &found)) == KG_OK && l->side == 0) {
        int64_t span[2] = {0, 0};
        rc = one(st, SQL_LOAD_SPAN, NULL, i64_cols, 2, span, &found);
        for (int tab = 0; tab < 2; tab++) { /* read by side 1 after load_meet() */
            int64_t n = span[tab] / LOAD_PART_SEQS;
            w->max[tab] = span[tab];
            w->parts[tab] = n < 2 ? 2 : n > LOAD_PARTS_MAX ? LOAD_PARTS_MAX : (int)n;
            w->taken[tab] = 2; /* parts 0 and 1 are the sides' own */
        }
    }
    if (rc == KG_OK) {
        pthread_mutex_lock(&w->mu);
        w->ver[l->side] = v[0];
        pthread_mutex_unlock(&w->mu);
        rc = load_meet(l, 1);
    }
    if (rc == KG_OK) rc = token_load_part(st, l);
    if (rc != KG_OK) load_stop(w);
    return rc;
}

struct load_side {
    struct store *st;
    struct load_arg *l;
    kg_err rc;
};

static void *load_side_main(void *arg)
{
    struct load_side *s = arg;
    s->rc = drv(s->st)->run(s->st, SQL_SNAPSHOT, token_load_body, s->l);
    return NULL;
}

/* The load on two connections; *differ when it is to run again on one, no row delivered: the
 * two snapshots were not one state, or a reader failed before any row (the twin could not
 * read, say). */
static kg_err token_load_two(struct store *st, struct store *tw, struct load_arg *l, int *differ)
{
    struct load_two w = {.stage = {0, 0}};
    struct load_arg l1 = *l;
    struct load_side s1 = {tw, &l1, KG_OK};
    pthread_t th;
    kg_err rc;

    *differ = 0;
    l1.t = calloc(1, sizeof *l1.t);
    l->batch = malloc(sizeof *l->batch);
    l1.batch = malloc(sizeof *l1.batch);
    if (!l1.t || !l->batch || !l1.batch || pthread_mutex_init(&w.mu, NULL) != 0) {
        rc = KG_ENOMEM;
        goto out;
    }
    if (pthread_cond_init(&w.cv, NULL) != 0) {
        pthread_mutex_destroy(&w.mu);
        rc = KG_ENOMEM;
        goto out;
    }
    l->batch->n = l->batch->ntext = l1.batch->n = l1.batch->ntext = 0;
    l->two = l1.two = &w;
    l->side = 0, l1.side = 1;
    if (pthread_create(&th, NULL, load_side_main, &s1) != 0) {
        rc = KG_OK;
        *differ = 1; /* no thread: one reader */
    } else {
        rc = drv(st)->run(st, SQL_SNAPSHOT, token_load_body, l);
        pthread_join(th, NULL);
        if (rc == KG_OK) rc = s1.rc;
        *differ = w.differ || (rc != KG_OK && !w.delivered);
    }
    l->two = NULL;
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
out:
    free(l1.t);
    free(l->batch);
    free(l1.batch);
    l->batch = NULL;
    return rc;
}

static kg_err token_load(struct store *st, store_token_fn token_fn, store_secret_fn secret_fn,
                         void *arg)
{
    struct load_arg l = {.token_fn = token_fn, .secret_fn = secret_fn, .fn_arg = arg};
    struct store *tw = drv(st)->twin ? drv(st)->twin(st) : NULL;
    int differ = 1;
    kg_err rc = KG_OK;

    /* the fields the load does not read stay empty (zeroed once) */
    if (!(l.t = calloc(1, sizeof *l.t))) {
        store_free(tw);
        return KG_ENOMEM;
    }
    memset(&l.row, 0, sizeof l.row);
    if (tw) rc = token_load_two(st, tw, &l, &differ);
    store_free(tw);
    if (differ) { /* one reader: no twin, or two states */
        rc = drv(st)->run(st, SQL_SNAPSHOT, token_load_body, &l);
    }
    free(l.t);
    return rc;
}

struct jti_arg {
    const char *jti, *client_id;
    int64_t exp, now_s;
};

/* ---- usage and rate windows ---------------------------------------------------------------- */

static const struct sql_col usage_cols[] = {
    SQL_COL(SQL_TEXT, struct kg_usage, client_id),
    SQL_COL(SQL_I64, struct kg_usage, hour),
    SQL_COL(SQL_I64, struct kg_usage, n[KG_USE_EXCHANGE]),
    SQL_COL(SQL_I64, struct kg_usage, n[KG_USE_GATE_ALLOWED]),
    SQL_COL(SQL_I64, struct kg_usage, n[KG_USE_API_CALL]),
    SQL_COL(SQL_I64, struct kg_usage, n[KG_USE_REFUSED_PRIVILEGE]),
    SQL_COL(SQL_I64, struct kg_usage, n[KG_USE_REFUSED_RATE]),
    SQL_COL(SQL_I64, struct kg_usage, n[KG_USE_REFUSED_ADDRESS]),
    SQL_COL(SQL_I64, struct kg_usage, n[KG_USE_REFUSED_EXPIRED]),
};
_Static_assert(KG_USE_KINDS == 7, "usage_cols, USAGE_COLS and SQL_USAGE_ADD name every kind");

struct usage_add_arg {
    const struct kg_usage *u;
    size_t n;
};

static kg_err usage_add_body(struct store *st, void *arg)
{
    const struct usage_add_arg *x = arg;
    kg_err rc = KG_OK;

    for (size_t i = 0; i < x->n && !rc; i++) {
        struct sql_args a = key1(x->u[i].client_id);
        a_int(&a, x->u[i].hour);
        for (size_t k = 0; k < KG_USE_KINDS; k++)
            a_int(&a, x->u[i].n[k]);
        rc = exec(st, SQL_USAGE_ADD, &a, NULL);
    }
    return rc;
}

static kg_err usage_add(struct store *st, const struct kg_usage *u, size_t n)
{
    struct usage_add_arg x = {u, n};
    return drv(st)->run(st, SQL_WRITE_FREE, usage_add_body, &x);
}

static kg_err usage_read(struct store *st, const char *client_id, int64_t since, int64_t until,
                         struct kg_usage **out, size_t *n)
{
    struct kg_usage row;
    struct query_arg q = QUERY(SQL_USAGE_READ, usage_cols, &row);
    kg_err rc;

    q.a = key1(client_id);
    a_int(&q.a, since);
    a_int(&q.a, until);
    if ((rc = read_all(st, &q))) return rc;
    *out = q.rows.arr; /* handed to the caller */
    *n = q.rows.n;
    return KG_OK;
}

static kg_err usage_top(struct store *st, int64_t since, int64_t until, int by_refused,
                        size_t limit, struct kg_usage **out, size_t *n)
{
    struct kg_usage row;
    struct query_arg q = QUERY(SQL_USAGE_TOP, usage_cols, &row);
    kg_err rc;

    a_int(&q.a, since);
    a_int(&q.a, until);
    a_int(&q.a, by_refused ? 1 : 0);
    a_int(&q.a, list_limit(limit));
    if ((rc = read_all(st, &q))) return rc;
    *out = q.rows.arr; /* handed to the caller */
    *n = q.rows.n;
    return KG_OK;
}

static kg_err usage_total(struct store *st, int64_t since, int64_t until, struct kg_usage *out)
{
    struct kg_usage row;
    struct query_arg q = QUERY(SQL_USAGE_TOTAL, usage_cols, &row);

    a_int(&q.a, since);
    a_int(&q.a, until);
    return read_first(st, &q, out);
}

static kg_err usage_prune_body(struct store *st, void *arg)
{
    struct sql_args a = {0};

    a_int(&a, *(const int64_t *)arg);
    return exec(st, SQL_USAGE_PRUNE, &a, NULL);
}

static kg_err usage_prune(struct store *st, int64_t before)
{
    return drv(st)->run(st, SQL_WRITE_FREE, usage_prune_body, &before);
}

static const struct sql_col rate_cols[] = {
    SQL_COL(SQL_TEXT, struct kg_rate_window, client_id),
    SQL_COL(SQL_I64, struct kg_rate_window, start),
    SQL_COL(SQL_I64, struct kg_rate_window, period),
    SQL_COL(SQL_I64, struct kg_rate_window, count),
};

struct rate_sync_arg {
    const char *node;
    const struct kg_rate_window *mine;
    size_t nmine;
    int64_t now;
    struct query_arg q; /* the others' windows */
};

static kg_err rate_sync_body(struct store *st, void *arg)
{
    struct rate_sync_arg *x = arg;
    struct sql_args a = {0};
    kg_err rc = KG_OK;

    free(x->q.rows.arr); /* a retry's: the body runs afresh */
    x->q.rows.arr = NULL;
    a_int(&a, x->now);
    if ((rc = exec(st, SQL_RATE_PRUNE, &a, NULL))) return rc;
    for (size_t i = 0; i < x->nmine && !rc; i++) {
        a = key1(x->mine[i].client_id);
        a_int(&a, x->mine[i].start);
        a_int(&a, x->mine[i].period);
        a_text(&a, x->node);
        a_int(&a, x->mine[i].count);
        rc = exec(st, SQL_RATE_PUT, &a, NULL);
    }
    return rc ? rc : query_body(st, &x->q);
}

static kg_err rate_sync(struct store *st, const char *node, const struct kg_rate_window *mine,
                        size_t n, int64_t now, struct kg_rate_window **others, size_t *nothers)
{
    struct kg_rate_window row;
    struct rate_sync_arg x = {node, mine, n, now, QUERY(SQL_RATE_OTHERS, rate_cols, &row)};
    kg_err rc;

    x.q.a = key1(node);
    a_int(&x.q.a, now);
    if ((rc = drv(st)->run(st, SQL_WRITE_FREE, rate_sync_body, &x))) {
        free(x.q.rows.arr);
        return rc;
    }
    *others = x.q.rows.arr; /* handed to the caller */
    *nothers = x.q.rows.n;
    return KG_OK;
}

static kg_err jti_revoke_body(struct store *st, void *arg)
{
    struct jti_arg *j = arg;
    struct sql_args a = {0};
    int64_t ver;
    kg_err rc;

    a_int(&a, j->now_s);
    if ((rc = exec(st, SQL_JTI_PURGE, &a, NULL))) return rc; /* expired ones are inactive anyway */
    if ((rc = bump(st, 0, &ver))) return rc;
    a = key1(j->jti);
    a_text(&a, j->client_id);
    a_int(&a, j->exp);
    a_int(&a, ver);
    return exec(st, SQL_JTI_REVOKE, &a, NULL);
}

static kg_err jti_revoke(struct store *st, const char *jti, const char *client_id, int64_t exp,
                         int64_t now_s)
{
    struct jti_arg j = {jti, client_id, exp, now_s};
    return drv(st)->run(st, SQL_WRITE, jti_revoke_body, &j);
}

static kg_err jti_feed_row(void *arg)
{
    struct feed_arg *f = arg;
    return f->jti_fn(f->fn_arg, f->j.jti, f->j.exp);
}

static kg_err jti_feed_body(struct store *st, void *arg)
{
    struct feed_arg *f = arg;
    struct sql_rows rows = {jti_cols, NCOLS(jti_cols), &f->j, jti_feed_row, f};

    return drv(st)->exec(st, f->id, &f->a, &rows, NULL);
}

static kg_err jti_changes(struct store *st, int64_t since_ver, int64_t now_s, store_jti_fn fn,
                          void *arg)
{
    struct feed_arg f = {.id = SQL_JTI_CHANGES, .jti_fn = fn, .fn_arg = arg};

    a_int(&f.a, since_ver);
    a_int(&f.a, now_s);
    return drv(st)->run(st, SQL_SNAPSHOT, jti_feed_body, &f);
}

/* ---- roles --------------------------------------------------------------------------------- */

/* Gathers ROLE_SELECT rows (one per grant) into one struct kg_role per role. */
static kg_err role_row(void *arg)
{
    struct query_arg *q = arg;
    const struct role_row *row = q->row;
    struct kg_role *cur = gathering(q, row->r.seq); /* row->r holds no grants: ngranted 0 */

    if (!cur) return KG_ENOMEM;
    if (!row->grant[0]) return KG_OK;                 /* a role that grants none */
    if (cur->ngranted == KG_GRANTS_MAX) return KG_IO; /* more than the model allows */
    memcpy(cur->granted[cur->ngranted++], row->grant, sizeof row->grant);
    return KG_OK;
}

/* Sets q up to read roles (with their grants) through `row`. */
static void roles_query(struct query_arg *q, enum sql_id id, struct role_row *row)
{
    memset(row, 0, sizeof *row);
    *q = (struct query_arg)QUERY(id, role_cols, row);
    q->fn = role_row;
    q->rows.size = sizeof row->r;
}

static kg_err role_get_by(struct store *st, enum sql_id id, const char *key, struct kg_role *out)
{
    struct role_row row;
    struct query_arg q;

    roles_query(&q, id, &row);
    q.a = key1(key);
    return read_first(st, &q, out);
}

static kg_err role_get(struct store *st, const char *role_id, struct kg_role *out)
{
    return role_get_by(st, SQL_ROLE_GET, role_id, out);
}

static kg_err role_get_by_name(struct store *st, const char *name, struct kg_role *out)
{
    return role_get_by(st, SQL_ROLE_GET_BY_NAME, name, out);
}

static kg_err role_list(struct store *st, int64_t after_seq, size_t limit, struct kg_role **out,
                        size_t *n)
{
    struct role_row row;
    struct query_arg q;
    kg_err rc;

    roles_query(&q, SQL_ROLE_LIST, &row);
    a_int(&q.a, after_seq);
    a_int(&q.a, list_limit(limit));
    if ((rc = read_all(st, &q))) return rc;
    *out = q.rows.arr; /* handed to the caller */
    *n = q.rows.n;
    return KG_OK;
}

/*
 * Replaces r's granted list, inside the caller's write transaction.  KG_NOTFOUND for a granted
 * role that does not exist, KG_PRECONDITION if r is then reachable from itself.
 */
static kg_err put_grants(struct store *st, const struct kg_role *r)
{
    struct sql_args a = key1(r->role_id);
    int cycle = 0;
    kg_err rc;

    if ((rc = exec(st, SQL_GRANTS_CLEAR, &a, NULL))) return rc;
    for (size_t i = 0; i < r->ngranted; i++) {
        struct sql_args g = key1(r->role_id);
        a_text(&g, r->granted[i]);
        if ((rc = exec(st, SQL_GRANT_INSERT, &g, NULL))) return rc; /* foreign key: NOTFOUND */
    }
    if ((rc = exists(st, SQL_ROLE_CYCLE, r->role_id, &cycle))) return rc;
    return cycle ? KG_PRECONDITION : KG_OK;
}

static kg_err role_insert_body(struct store *st, void *arg)
{
    const struct kg_role *r = arg;
    struct sql_args a = key1(r->role_id);
    int64_t ver;
    kg_err rc;

    if ((rc = bump(st, 1, &ver))) return rc;
    a_text(&a, r->role_name);
    a_text(&a, r->description);
    a_int(&a, r->created_on);
    a_int(&a, r->modified_on);
    a_text(&a, r->owning_role_id);
    a_int(&a, ver);
    if ((rc = exec(st, SQL_ROLE_INSERT, &a, NULL))) return rc; /* KG_CONFLICT: id or name */
    return put_grants(st, r);
}

static kg_err role_insert(struct store *st, const struct kg_role *r, const struct kg_audit *audit)
{
    return run_audited(st, SQL_WRITE, role_insert_body, READ_ONLY(r), audit);
}

/* After a compare-and-set changed no row: KG_ABORTED if the record (key, in `exists_id`'s
 * table) is there at another version, else KG_NOTFOUND. */
static kg_err cas_missed(struct store *st, enum sql_id exists_id, const char *key)
{
    int found = 0;
    kg_err rc = exists(st, exists_id, key, &found);

    return rc ? rc : found ? KG_ABORTED : KG_NOTFOUND;
}

static kg_err role_update_body(struct store *st, void *arg)
{
    const struct kg_role *r = arg;
    struct sql_args a = key1(r->role_id);
    int64_t n = 0, ver;
    kg_err rc;

    if ((rc = bump(st, 1, &ver))) return rc;
    a_text(&a, r->role_name);
    a_text(&a, r->description);
    a_int(&a, r->modified_on);
    a_int(&a, ver);
    a_int(&a, r->sync);
    if ((rc = exec(st, SQL_ROLE_UPDATE, &a, &n))) return rc; /* KG_CONFLICT on a taken name */
    if (n == 0) return cas_missed(st, SQL_ROLE_EXISTS, r->role_id);
    return put_grants(st, r);
}

static kg_err role_update(struct store *st, const struct kg_role *r, const struct kg_audit *audit)
{
    return run_audited(st, SQL_WRITE, role_update_body, READ_ONLY(r), audit);
}

static kg_err role_delete_body(struct store *st, void *arg)
{
    const char *role_id = arg;
    struct sql_args a = key1(role_id);
    int64_t ver;
    int found = 0;
    kg_err rc;

    if ((rc = exists(st, SQL_ROLE_EXISTS, role_id, &found))) return rc;
    if (!found) return KG_NOTFOUND;
    if ((rc = exists(st, SQL_ROLE_TOKEN_HOLDS, role_id, &found))) return rc;
    if (!found && (rc = exists(st, SQL_ROLE_USER_HOLDS, role_id, &found))) return rc;
    if (found) return KG_PRECONDITION; /* an Active token or a user holds it */
    if ((rc = bump(st, 1, &ver))) return rc;
    a_int(&a, ver);
    a_int(&a, now_ms());
    if ((rc = exec(st, SQL_ROLE_DEL_TOUCH, &a, NULL))) return rc;
    a_text(&a, KG_ROLE_ACCOUNTADMIN_ID);
    if ((rc = exec(st, SQL_ROLE_DEL_OWNED, &a, NULL))) return rc;
    a = key1(role_id);
    if ((rc = exec(st, SQL_ROLE_DEL_PRIVS, &a, NULL))) return rc;
    if ((rc = exec(st, SQL_ROLE_DEL_GRANTS, &a, NULL))) return rc;
    return exec(st, SQL_ROLE_DELETE, &a, NULL);
}

static kg_err role_delete(struct store *st, const char *role_id, const struct kg_audit *audit)
{
    return run_audited(st, SQL_WRITE, role_delete_body, READ_ONLY(role_id), audit);
}

/* ---- privileges ---------------------------------------------------------------------------- */

struct priv_arg {
    const struct kg_privilege *p;
    int64_t now;     /* grant */
    int option_only; /* revoke: the grant option alone */
    int changed;
};

static kg_err privilege_grant_body(struct store *st, void *arg)
{
    struct priv_arg *g = arg;
    struct sql_args a = key1(g->p->role_id);
    int64_t n = 0;
    kg_err rc;

    a_text(&a, g->p->name);
    a_int(&a, g->p->kind);
    a_int(&a, g->p->grant_option ? 1 : 0);
    a_int(&a, g->now);
    if ((rc = exec(st, SQL_PRIV_GRANT, &a, &n))) return rc; /* foreign key: KG_NOTFOUND */
    if (n == 0) return KG_OK;                               /* already so: nothing to bump */
    return bump(st, 1, NULL);
}

static kg_err privilege_grant(struct store *st, const struct kg_privilege *p, int64_t now,
                              const struct kg_audit *audit)
{
    struct priv_arg g = {p, now, 0, 0};
    return run_audited(st, SQL_WRITE, privilege_grant_body, &g, audit);
}

static kg_err privilege_revoke_body(struct store *st, void *arg)
{
    struct priv_arg *g = arg;
    struct sql_args a = key1(g->p->role_id);
    int64_t n = 0;
    kg_err rc;

    g->changed = 0;
    a_int(&a, g->p->kind);
    a_text(&a, g->p->name);
    if ((rc = exec(st, g->option_only ? SQL_PRIV_REVOKE_OPTION : SQL_PRIV_REVOKE, &a, &n)))
        return rc;
    if (n == 0) return KG_OK; /* not there: nothing to bump */
    if ((rc = bump(st, 1, NULL))) return rc;
    g->changed = 1;
    return KG_OK;
}

static kg_err privilege_revoke(struct store *st, const struct kg_privilege *p, int option_only,
                               int *changed, const struct kg_audit *audit)
{
    struct priv_arg g = {p, 0, option_only, 0};
    kg_err rc;

    if ((rc = run_audited(st, SQL_WRITE, privilege_revoke_body, &g, audit))) return rc;
    if (changed) *changed = g.changed;
    return KG_OK;
}

static kg_err privilege_list(struct store *st, const char *role_id, struct kg_privilege **out,
                             size_t *n)
{
    struct kg_privilege p;
    struct query_arg q = QUERY(SQL_PRIV_LIST_ALL, privilege_cols, &p);
    kg_err rc;

    memset(&p, 0, sizeof p);
    if (role_id) {
        q.id = SQL_PRIV_LIST_ROLE;
        q.a = key1(role_id);
    }
    if ((rc = read_all(st, &q))) return rc;
    *out = q.rows.arr; /* handed to the caller */
    *n = q.rows.n;
    return KG_OK;
}

/* ---- users --------------------------------------------------------------------------------- */

/* Gathers USER_SELECT rows (one per role held) into one struct kg_user per user. */
static kg_err user_row(void *arg)
{
    struct query_arg *q = arg;
    const struct user_row *row = q->row;
    struct kg_user *cur = gathering(q, row->u.seq); /* row->u holds no roles: nroles is 0 */

    if (!cur) return KG_ENOMEM;
    if (!row->role[0]) return KG_OK;                /* a user who holds none */
    if (cur->nroles == KG_GRANTS_MAX) return KG_IO; /* more than the model allows */
    memcpy(cur->roles[cur->nroles++], row->role, sizeof row->role);
    return KG_OK;
}

/* Sets q up to read users (with their roles) through `row`. */
static void users_query(struct query_arg *q, enum sql_id id, struct user_row *row)
{
    memset(row, 0, sizeof *row);
    *q = (struct query_arg)QUERY(id, user_cols, row);
    q->fn = user_row;
    q->rows.size = sizeof row->u;
}

/* Replaces u's roles, inside the caller's write transaction; KG_NOTFOUND for a missing role. */
static kg_err put_user_roles(struct store *st, const struct kg_user *u)
{
    struct sql_args a = key1(u->user_id);
    kg_err rc;

    if ((rc = exec(st, SQL_USER_ROLES_CLEAR, &a, NULL))) return rc;
    for (size_t i = 0; i < u->nroles; i++) {
        struct sql_args g = key1(u->user_id);
        a_text(&g, u->roles[i]);
        if ((rc = exec(st, SQL_USER_ROLE_INSERT, &g, NULL))) return rc; /* foreign key */
    }
    return KG_OK;
}

static kg_err user_insert_body(struct store *st, void *arg)
{
    const struct kg_user *u = arg;
    struct sql_args a = key1(u->user_id);
    int64_t ver;
    kg_err rc;

    if ((rc = bump(st, 0, &ver))) return rc;
    a_text(&a, u->email);
    a_text(&a, u->password_hash);
    a_int(&a, u->created_on);
    a_int(&a, u->modified_on ? u->modified_on : u->created_on);
    a_int(&a, ver);
    if ((rc = exec(st, SQL_USER_INSERT, &a, NULL))) return rc; /* KG_CONFLICT: id or email */
    return put_user_roles(st, u);
}

static kg_err user_insert(struct store *st, const struct kg_user *u, const struct kg_audit *audit)
{
    return run_audited(st, SQL_WRITE, user_insert_body, READ_ONLY(u), audit);
}

static kg_err user_get_by(struct store *st, enum sql_id id, const char *key, struct kg_user *out)
{
    struct user_row row;
    struct query_arg q;

    users_query(&q, id, &row);
    q.a = key1(key);
    return read_first(st, &q, out);
}

static kg_err user_get(struct store *st, const char *user_id, struct kg_user *out)
{
    return user_get_by(st, SQL_USER_GET, user_id, out);
}

static kg_err user_get_by_email(struct store *st, const char *email, struct kg_user *out)
{
    return user_get_by(st, SQL_USER_GET_BY_EMAIL, email, out);
}

static kg_err user_list(struct store *st, int64_t after_seq, size_t limit, struct kg_user **out,
                        size_t *n)
{
    struct user_row row;
    struct query_arg q;
    kg_err rc;

    users_query(&q, SQL_USER_LIST, &row);
    a_int(&q.a, after_seq);
    a_int(&q.a, list_limit(limit));
    if ((rc = read_all(st, &q))) return rc;
    *out = q.rows.arr; /* handed to the caller */
    *n = q.rows.n;
    return KG_OK;
}

static kg_err user_update_body(struct store *st, void *arg)
{
    const struct kg_user *u = arg;
    struct sql_args a = key1(u->user_id);
    int64_t n = 0, ver;
    kg_err rc;

    if ((rc = bump(st, 0, &ver))) return rc;
    a_text(&a, u->email);
    a_text(&a, u->password_hash);
    a_int(&a, u->modified_on);
    a_int(&a, ver);
    a_int(&a, u->sync);
    if ((rc = exec(st, SQL_USER_UPDATE, &a, &n))) return rc; /* KG_CONFLICT on a taken email */
    if (n == 0) return cas_missed(st, SQL_USER_EXISTS, u->user_id);
    return put_user_roles(st, u);
}

static kg_err user_update(struct store *st, const struct kg_user *u, const struct kg_audit *audit)
{
    return run_audited(st, SQL_WRITE, user_update_body, READ_ONLY(u), audit);
}

static kg_err user_delete_body(struct store *st, void *arg)
{
    struct sql_args a = key1(arg);
    int64_t n = 0;
    kg_err rc;

    if ((rc = exec(st, SQL_USER_ROLES_CLEAR, &a, NULL))) return rc;
    if ((rc = exec(st, SQL_USER_DELETE, &a, &n))) return rc;
    if (n == 0) return KG_NOTFOUND;
    return bump(st, 0, NULL);
}

static kg_err user_delete(struct store *st, const char *user_id, const struct kg_audit *audit)
{
    return run_audited(st, SQL_WRITE, user_delete_body, READ_ONLY(user_id), audit);
}

static kg_err user_count_body(struct store *st, void *arg)
{
    int found = 0;
    kg_err rc = one(st, SQL_USER_COUNT, NULL, i64_cols, 1, arg, &found);

    return rc ? rc : found ? KG_OK : KG_IO;
}

static kg_err user_count(struct store *st, int64_t *n)
{
    int64_t v = 0;
    kg_err rc = drv(st)->run(st, SQL_READ, user_count_body, &v);

    if (rc) return rc;
    *n = v;
    return KG_OK;
}

/* ---- audit log ----------------------------------------------------------------------------- */

static kg_err audit_append_body(struct store *st, void *arg)
{
    return put_audit(st, arg);
}

static kg_err audit_append(struct store *st, const struct kg_audit *e)
{
    /* No wait for other writers and no version bump: appends do not conflict, and nothing in
     * memory follows the audit log. */
    return drv(st)->run(st, SQL_WRITE_FREE, audit_append_body, READ_ONLY(e));
}

static kg_err audit_list(struct store *st, const struct kg_audit_filter *f, int64_t before_seq,
                         size_t limit, struct kg_audit **out, size_t *n)
{
    struct kg_audit e;
    struct query_arg q = QUERY(SQL_AUDIT_LIST, audit_cols, &e);
    kg_err rc;

    memset(&e, 0, sizeof e);
    a_int(&q.a, before_seq > 0 ? before_seq : INT64_MAX);
    a_text(&q.a, f->actor);
    a_int(&q.a, f->since);
    a_int(&q.a, f->until > 0 ? f->until : INT64_MAX);
    a_int(&q.a, list_limit(limit));
    if ((rc = read_all(st, &q))) return rc;
    *out = q.rows.arr; /* handed to the caller */
    *n = q.rows.n;
    return KG_OK;
}

static kg_err audit_after(struct store *st, int64_t after_seq, size_t limit, struct kg_audit **out,
                          size_t *n)
{
    struct kg_audit e;
    struct query_arg q = QUERY(SQL_AUDIT_AFTER, audit_cols, &e);
    kg_err rc;

    memset(&e, 0, sizeof e);
    a_int(&q.a, after_seq);
    a_int(&q.a, list_limit(limit));
    if ((rc = read_all(st, &q))) return rc;
    *out = q.rows.arr; /* handed to the caller */
    *n = q.rows.n;
    return KG_OK;
}

/* ---- webhooks ------------------------------------------------------------------------------ */

static const struct sql_col webhook_cols[] = {
    SQL_COL(SQL_TEXT, struct kg_webhook_state, id),
    SQL_COL(SQL_TEXT, struct kg_webhook_state, url),
    SQL_COL(SQL_I64, struct kg_webhook_state, cursor),
    SQL_COL(SQL_I64, struct kg_webhook_state, attempts),
    SQL_COL(SQL_I64, struct kg_webhook_state, next_at),
    SQL_COL(SQL_I64, struct kg_webhook_state, delivered),
    SQL_COL(SQL_I64, struct kg_webhook_state, failed),
    SQL_COL(SQL_I64, struct kg_webhook_state, last_at),
    SQL_COL(SQL_I64, struct kg_webhook_state, last_status),
    SQL_COL(SQL_TEXT, struct kg_webhook_state, last_error),
    SQL_COL(SQL_I64, struct kg_webhook_state, lease_until),
    SQL_COL(SQL_TEXT, struct kg_webhook_state, leased_by),
    SQL_COL(SQL_I64, struct kg_webhook_state, pending),
};

static const struct sql_col webhook_failure_cols[] = {
    SQL_COL(SQL_I64, struct kg_webhook_failure, event_seq),
    SQL_COL(SQL_TEXT, struct kg_webhook_failure, action),
    SQL_COL(SQL_I64, struct kg_webhook_failure, attempts),
    SQL_COL(SQL_I64, struct kg_webhook_failure, last_status),
    SQL_COL(SQL_TEXT, struct kg_webhook_failure, error),
    SQL_COL(SQL_I64, struct kg_webhook_failure, failed_on),
};

/* Reads webhook id's row into *out: KG_NOTFOUND when there is none. */
static kg_err webhook_read(struct store *st, const char *id, struct kg_webhook_state *out)
{
    struct sql_args a = key1(id);
    int found = 0;
    kg_err rc;

    memset(out, 0, sizeof *out);
    rc = one(st, SQL_WEBHOOK_GET, &a, webhook_cols, NCOLS(webhook_cols), out, &found);
    return rc ? rc : found ? KG_OK : KG_NOTFOUND;
}

struct webhook_claim_arg {
    const char *id, *url, *node;
    int64_t now, lease_until;
    int claimed;
    struct kg_webhook_state *out;
};

static kg_err webhook_claim_body(struct store *st, void *arg)
{
    struct webhook_claim_arg *x = arg;
    struct sql_args a = key1(x->id);
    int64_t changed = 0;
    kg_err rc;

    x->claimed = 0;
    a_text(&a, x->url);
    if ((rc = exec(st, SQL_WEBHOOK_ADD, &a, NULL))) return rc;
    a = key1(x->id);
    a_text(&a, x->node);
    a_int(&a, x->now);
    a_int(&a, x->lease_until);
    if ((rc = exec(st, SQL_WEBHOOK_LEASE, &a, &changed))) return rc;
    x->claimed = changed > 0;
    return webhook_read(st, x->id, x->out);
}

static kg_err webhook_claim(struct store *st, const char *id, const char *url, const char *node,
                            int64_t now, int64_t lease_until, int *claimed,
                            struct kg_webhook_state *out)
{
    struct webhook_claim_arg x = {id, url, node, now, lease_until, 0, out};
    /* Rows of their own: no wait for other writers, no version bump (nothing in memory
     * follows them); the row's own lock orders two nodes' claims. */
    kg_err rc = drv(st)->run(st, SQL_WRITE_FREE, webhook_claim_body, &x);

    *claimed = rc ? 0 : x.claimed;
    return rc;
}

struct webhook_get_arg {
    const char *id;
    struct kg_webhook_state *out;
};

static kg_err webhook_get_body(struct store *st, void *arg)
{
    struct webhook_get_arg *x = arg;
    return webhook_read(st, x->id, x->out);
}

static kg_err webhook_get(struct store *st, const char *id, struct kg_webhook_state *out)
{
    struct webhook_get_arg x = {id, out};
    return drv(st)->run(st, SQL_READ, webhook_get_body, &x);
}

struct webhook_record_arg {
    const struct kg_webhook_attempt *w;
    int64_t changed;
};

static kg_err webhook_record_body(struct store *st, void *arg)
{
    struct webhook_record_arg *x = arg;
    const struct kg_webhook_attempt *w = x->w;
    struct sql_args a = key1(w->id);
    kg_err rc;

    x->changed = 0;
    a_text(&a, w->node);
    a_int(&a, w->event_seq);
    if (w->outcome == KG_WEBHOOK_RETRY) {
        a_int(&a, w->attempts);
        a_int(&a, w->next_at);
    } else {
        a_int(&a, w->outcome == KG_WEBHOOK_DELIVERED);
        a_int(&a, w->outcome == KG_WEBHOOK_FAILED);
    }
    a_int(&a, w->at);
    a_int(&a, w->status);
    a_text(&a, w->error);
    rc = exec(st, w->outcome == KG_WEBHOOK_RETRY ? SQL_WEBHOOK_RETRY : SQL_WEBHOOK_DONE, &a,
              &x->changed);
    if (rc || !x->changed || w->outcome != KG_WEBHOOK_FAILED) return rc;
    a = key1(w->id);
    a_int(&a, w->event_seq);
    a_text(&a, w->action);
    a_int(&a, w->attempts);
    a_int(&a, w->status);
    a_text(&a, w->error);
    a_int(&a, w->at);
    if ((rc = exec(st, SQL_WEBHOOK_FAIL_INSERT, &a, NULL))) return rc;
    a = key1(w->id);
    a_int(&a, KG_WEBHOOK_FAILURES_KEPT);
    return exec(st, SQL_WEBHOOK_FAIL_PRUNE, &a, NULL);
}

static kg_err webhook_record(struct store *st, const struct kg_webhook_attempt *w, int *changed)
{
    struct webhook_record_arg x = {w, 0};
    kg_err rc = drv(st)->run(st, SQL_WRITE_FREE, webhook_record_body, &x);

    *changed = rc ? 0 : x.changed > 0;
    return rc;
}

struct webhook_release_arg {
    const char *id, *node;
};

static kg_err webhook_release_body(struct store *st, void *arg)
{
    struct webhook_release_arg *x = arg;
    struct sql_args a = key1(x->id);

    a_text(&a, x->node);
    return exec(st, SQL_WEBHOOK_RELEASE, &a, NULL);
}

static kg_err webhook_release(struct store *st, const char *id, const char *node)
{
    struct webhook_release_arg x = {id, node};
    return drv(st)->run(st, SQL_WRITE_FREE, webhook_release_body, &x);
}

static kg_err webhook_failures(struct store *st, const char *id, size_t limit,
                               struct kg_webhook_failure **out, size_t *n)
{
    struct kg_webhook_failure f;
    struct query_arg q = QUERY(SQL_WEBHOOK_FAILURES, webhook_failure_cols, &f);
    kg_err rc;

    memset(&f, 0, sizeof f);
    a_text(&q.a, id);
    a_int(&q.a, list_limit(limit));
    if ((rc = read_all(st, &q))) return rc;
    *out = q.rows.arr; /* handed to the caller */
    *n = q.rows.n;
    return KG_OK;
}

/* ---- the built-in roles, the account ID, the store and its ops ---------------------------- */

kg_err store_sql_seed(struct store *st)
{
    static const struct {
        const char *id, *name, *desc;
    } builtin[] = {
        {KG_ROLE_ACCOUNTADMIN_ID, KG_ROLE_ACCOUNTADMIN,
         "Holds every privilege; cannot be changed or deleted"},
        {KG_ROLE_PUBLIC_ID, KG_ROLE_PUBLIC, "Granted to everyone"},
    };
    int64_t now = now_ms();
    kg_err rc = KG_OK;

    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0] && !rc; i++) {
        struct sql_args a = key1(builtin[i].id);
        a_text(&a, builtin[i].name);
        a_text(&a, builtin[i].desc);
        a_int(&a, now);
        a_int(&a, now);
        rc = exec(st, SQL_ROLE_SEED, &a, NULL);
    }
    return rc;
}

kg_err store_sql_account(struct store *st)
{
    char id[KG_ACCOUNT_ID_LEN + 1];
    struct sql_args a = {0};

    ids_account_id(id);
    a_text(&a, id);
    return exec(st, SQL_ACCOUNT_SET, &a, NULL);
}

void *store_sql_new(size_t size, const struct sql_driver *drv_)
{
    struct sql_store *s;

    assert(size >= sizeof *s);
    if (!(s = calloc(1, size))) return NULL;
    s->base.ops = &store_sql_ops;
    s->drv = drv_;
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

/* Disconnects and frees the store. */
static void close_store(struct store *st)
{
    struct sql_store *s = (struct sql_store *)st;

    s->drv->disconnect(st);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

const struct store_ops store_sql_ops = {
    .close = close_store,
    .version = version,
    .account_id = account_id,
    .view_mark = view_mark,
    .view_mark_set = view_mark_set,
    .token_insert = token_insert,
    .token_get = token_get,
    .token_list = token_list,
    .token_revoke = token_revoke,
    .token_update = token_update,
    .token_touch = token_touch,
    .token_changes = token_changes,
    .token_load = token_load,
    .token_list_expiring = token_list_expiring,
    .secret_add = secret_add,
    .secret_delete = secret_delete,
    .secret_find = secret_find,
    .secret_revoke = secret_revoke,
    .usage_add = usage_add,
    .usage_read = usage_read,
    .usage_top = usage_top,
    .usage_total = usage_total,
    .usage_prune = usage_prune,
    .rate_sync = rate_sync,
    .jti_revoke = jti_revoke,
    .jti_changes = jti_changes,
    .role_insert = role_insert,
    .role_get = role_get,
    .role_get_by_name = role_get_by_name,
    .role_list = role_list,
    .role_update = role_update,
    .role_delete = role_delete,
    .privilege_grant = privilege_grant,
    .privilege_revoke = privilege_revoke,
    .privilege_list = privilege_list,
    .user_insert = user_insert,
    .user_get = user_get,
    .user_get_by_email = user_get_by_email,
    .user_list = user_list,
    .user_update = user_update,
    .user_delete = user_delete,
    .user_count = user_count,
    .audit_append = audit_append,
    .audit_list = audit_list,
    .audit_after = audit_after,
    .webhook_claim = webhook_claim,
    .webhook_get = webhook_get,
    .webhook_record = webhook_record,
    .webhook_release = webhook_release,
    .webhook_failures = webhook_failures,
};
