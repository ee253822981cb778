/*
 * store_sql.h — what the two SQL backends of the store share: every operation of store.h,
 * written once (store_sql.c) over a small driver that each backend provides.
 *
 * The division of labour.  store.c checks a call's arguments (the contract's checks);
 * store_sql.c turns each call into statements — which to run, in which transaction, with
 * which parameters, what their rows mean — and store_sql_text.h holds the text of those
 * statements.  A backend (store_sqlite.c, store_pg.c) keeps only what truly differs between
 * the databases: the connection, its lock and transactions (and PostgreSQL's retries and
 * reconnects), how a parameter is bound and a column read (types), the few words of SQL and
 * the column types its dialect writes differently (see store_sql_text.h), and how it runs the
 * schema's migrations and keeps its version.
 *
 * A backend's struct store begins with a struct sql_store: its ops are store_sql_ops and its
 * drv the backend's driver.  The statements are named by enum sql_id; a backend numbers its
 * own statements (BEGIN, COMMIT, ...) from SQL_COUNT on.
 *
 * Reads are single statements: a role's or user's grants come back in the same query, one
 * row per grant, so each read sees one snapshot without a transaction of its own.
 */
#ifndef KG_STORE_SQL_H
#define KG_STORE_SQL_H

#include <pthread.h>
#include <stddef.h>

#include "store.h"

#define SQL_SCHEMA_VERSION 9 /* the number of migrations in store_sql_text.h */

/* The statements every SQL backend runs; their text is in store_sql_text.h. */
enum sql_id {
    SQL_VERSION,
    SQL_LOAD_SPAN,
    SQL_BUMP,
    SQL_BUMP_ROLES,
    SQL_ROLE_EXISTS,
    SQL_ACCOUNT_GET,
    SQL_ACCOUNT_SET,
    SQL_VIEW_MARK_GET,
    SQL_VIEW_MARK_SET,
    SQL_TOKEN_INSERT,
    SQL_TOKEN_GET,
    SQL_TOKEN_LIST,
    SQL_TOKEN_LIST_EXPIRING,
    SQL_TOKEN_STATUS,
    SQL_TOKEN_REVOKE,
    SQL_TOKEN_UPDATE,
    SQL_TOKEN_STAMP,
    SQL_TOKEN_TOUCH,
    SQL_SECRET_INSERT,
    SQL_SECRET_COUNT,
    SQL_SECRET_PRUNE,
    SQL_SECRET_EXPIRE_ALL,
    SQL_SECRET_LIVE,
    SQL_SECRET_DELETE,
    SQL_SECRET_FIND,
    SQL_SECRET_REVOKE,
    SQL_SECRET_TOUCH,
    SQL_USAGE_ADD,
    SQL_USAGE_READ,
    SQL_USAGE_TOP,
    SQL_USAGE_TOTAL,
    SQL_USAGE_PRUNE,
    SQL_RATE_PUT,
    SQL_RATE_OTHERS,
    SQL_RATE_PRUNE,
    SQL_JTI_REVOKE,
    SQL_JTI_PURGE,
    SQL_ROLE_INSERT,
    SQL_ROLE_SEED,
    SQL_ROLE_GET,
    SQL_ROLE_GET_BY_NAME,
    SQL_ROLE_LIST,
    SQL_ROLE_UPDATE,
    SQL_GRANTS_CLEAR,
    SQL_GRANT_INSERT,
    SQL_ROLE_CYCLE,
    SQL_ROLE_TOKEN_HOLDS,
    SQL_ROLE_USER_HOLDS,
    SQL_ROLE_DEL_PRIVS,
    SQL_ROLE_DEL_TOUCH,
    SQL_ROLE_DEL_OWNED,
    SQL_ROLE_DEL_GRANTS,
    SQL_ROLE_DELETE,
    SQL_PRIV_GRANT,
    SQL_PRIV_REVOKE,
    SQL_PRIV_REVOKE_OPTION,
    SQL_PRIV_LIST_ALL,
    SQL_PRIV_LIST_ROLE,
    SQL_USER_INSERT,
    SQL_USER_EXISTS,
    SQL_USER_GET,
    SQL_USER_GET_BY_EMAIL,
    SQL_USER_LIST,
    SQL_USER_UPDATE,
    SQL_USER_ROLES_CLEAR,
    SQL_USER_ROLE_INSERT,
    SQL_USER_DELETE,
    SQL_USER_COUNT,
    SQL_AUDIT_INSERT,
    SQL_AUDIT_LIST,
    SQL_AUDIT_AFTER,
    SQL_WEBHOOK_ADD,
    SQL_WEBHOOK_LEASE,
    SQL_WEBHOOK_GET,
    SQL_WEBHOOK_RETRY,
    SQL_WEBHOOK_DONE,
    SQL_WEBHOOK_FAIL_INSERT,
    SQL_WEBHOOK_FAIL_PRUNE,
    SQL_WEBHOOK_FAILURES,
    SQL_WEBHOOK_RELEASE,
    /* From here on the change feeds: results of any length, which a backend may stream. */
    SQL_TOKEN_CHANGES,
    SQL_TOKEN_ALL,
    SQL_TOKEN_LOAD,
    SQL_SECRET_LOAD,
    SQL_JTI_CHANGES,
    SQL_COUNT
};
#define SQL_FEEDS SQL_TOKEN_CHANGES

/* The types of parameters and of columns. */
enum sql_type {
    SQL_NULL, /* parameters only */
    SQL_I64,  /* a column's NULL reads 0 */
    SQL_INT,  /* columns only: an int field; NULL reads 0 */
    SQL_TEXT, /* NUL-terminated; a column's NULL reads "", one that does not fit is KG_IO */
    SQL_HASH, /* exactly KG_HASH_LEN bytes; a column's NULL is KG_IO */
};

#define SQL_ARGS_MAX 13

/* A statement's parameters ?1..?n: borrowed for the call. */
struct sql_args {
    int n;
    struct sql_arg {
        enum sql_type type;
        int64_t i;     /* SQL_I64 */
        const void *p; /* SQL_TEXT, SQL_HASH */
    } v[SQL_ARGS_MAX];
};

/* How column i of a result row is stored: at byte `off` of the destination, in `cap` bytes. */
struct sql_col {
    enum sql_type type;
    size_t off, cap;
};
#define SQL_COL(type, T, field)                                                                    \
    {                                                                                              \
        type, offsetof(T, field), sizeof(((T *)0)->field)                                          \
    }

enum sql_mode {
    SQL_READ,       /* no transaction of its own: the body runs one statement */
    SQL_WRITE,      /* a write transaction; writers from every process run one at a time */
    SQL_WRITE_FREE, /* a write transaction that need not wait for other writers (touch, audit) */
    SQL_SNAPSHOT,   /* one consistent read of a change feed */
};

typedef kg_err (*sql_body_fn)(struct store *st, void *arg);
typedef kg_err (*sql_row_fn)(void *arg);

/* Where a statement's rows go: each is read into dst as cols says (its columns 0..ncols-1),
 * then handed to fn(arg); a non-KG_OK from fn stops the statement with that error. */
struct sql_rows {
    const struct sql_col *cols;
    size_t ncols;
    void *dst;
    sql_row_fn fn;
    void *arg;
};

struct sql_driver {
    /* Runs body(st, arg) under the store's lock, in a transaction of `mode` that is committed
     * when body returns KG_OK and rolled back otherwise.  May run body more than once (a
     * retry), so body resets its outputs when it starts and frees what it made on failure. */
    kg_err (*run)(struct store *st, enum sql_mode mode, sql_body_fn body, void *arg);
    /* Inside body: runs statement id with a (NULL: none); its rows go to rows (NULL: none
     * wanted); *changed (NULL: not asked) = the rows it changed.  A change feed (SQL_FEEDS on)
     * runs only in an SQL_SNAPSHOT body. */
    kg_err (*exec)(struct store *st, enum sql_id id, const struct sql_args *a,
                   const struct sql_rows *rows, int64_t *changed);
    /* Optional (NULL: the backend has none): a second connection to st's database, read-only,
     * for a first load read by two threads (store_sql.c); NULL when none can be opened.  Freed
     * with store_free(). */
    struct store *(*twin)(struct store *st);
    /* Closes the connection and frees what hangs on it (also of a store half opened); the
     * store itself is freed after. */
    void (*disconnect)(struct store *st);
};

/* The common head of a SQL backend's struct store. */
struct sql_store {
    struct store base; /* first: a struct store * points here */
    const struct sql_driver *drv;
    pthread_mutex_t mu; /* held through each driver run(): one call at a time */
};

/* The store operations of every SQL backend. */
extern const struct store_ops store_sql_ops;

/* A new backend store of `size` bytes (the backend's struct, which begins with a struct
 * sql_store): zeroed, its head set up for drv; NULL when out of memory.  Caller owns it and
 * frees it with store_free(). */
void *store_sql_new(size_t size, const struct sql_driver *drv);

/* Inserts the built-in roles: schema version 1's data, inside the migration's transaction. */
kg_err store_sql_seed(struct store *st);
/* Makes the deployment's account ID: schema version 4's data, inside the migration's
 * transaction. */
kg_err store_sql_account(struct store *st);

#endif
