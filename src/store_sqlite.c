/*
 * store_sqlite.c — the SQLite backend of the store (store.h): schema, migrations, queries.
 * The only file in keygate that includes sqlite3.h.
 *
 * The file is divided into: the connection and its prepared-statement table; helpers
 * (error mapping, locking, transactions, binding, copying columns out); the schema and its
 * migrations; the operations in store.h order (versions, tokens, roles, privileges, users);
 * and store_sqlite_open() with the ops table.
 *
 * Concurrency.  One sqlite3 connection per struct store, used only under its mutex, so calls
 * from several threads are serialised.  Other processes (the CLI) share the file through WAL.
 * Every write runs in BEGIN IMMEDIATE ... COMMIT and is rolled back whole on any error; a
 * read made of several statements runs in one read transaction so that it sees one snapshot.
 * finish() ends every call: it resets the statements still running, rolls back a
 * transaction left open (a failed write, or a read) and releases the mutex.
 *
 * Versions.  The one-row table meta holds data_ver, raised by one by every write except
 * token_touch, and roles_ver, set to the new data_ver by writes to roles, role grants and
 * privileges.  A write stamps the token rows it changes with the new data_ver (tokens.ver),
 * which is what store_token_changes() looks at.  A call that turns out to change nothing
 * (revoking a revoked token, granting a privilege as it already is, revoking a missing one)
 * bumps nothing and writes nothing but the audit entry it carries, if any.
 *
 * Audit entries.  A change's entry (store.h, "Audited changes") is inserted by
 * commit_audited() just before its COMMIT, in the same transaction.
 *
 * Schema changes: append a migration to migrations[] and raise SCHEMA_VERSION; never edit an
 * applied one.
 */
#include "store.h"

#include <assert.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCHEMA_VERSION 3
#define BUSY_TIMEOUT_MS 5000
#define LIST_MAX 1001 /* rows returned by one list call: a page of 1000 and one more, which
                        * tells the caller whether another page follows */

/* ---- the connection and its statements ----------------------------------------------------- */

enum stmt_id {
    S_BEGIN_WRITE,
    S_BEGIN_READ,
    S_COMMIT,
    S_ROLLBACK,
    S_USER_VERSION,
    S_VERSION,
    S_BUMP,
    S_BUMP_ROLES,
    S_ROLE_EXISTS,
    S_TOKEN_INSERT,
    S_TOKEN_GET,
    S_TOKEN_LIST,
    S_TOKEN_STATUS,
    S_TOKEN_REVOKE,
    S_TOKEN_TOUCH,
    S_TOKEN_CHANGES,
    S_TOKEN_ALL,
    S_ROLE_INSERT,
    S_ROLE_GET,
    S_ROLE_GET_BY_NAME,
    S_ROLE_LIST,
    S_ROLE_UPDATE,
    S_ROLE_GRANTS,
    S_GRANTS_CLEAR,
    S_GRANT_INSERT,
    S_ROLE_CYCLE,
    S_ROLE_TOKEN_HOLDS,
    S_ROLE_USER_HOLDS,
    S_ROLE_DEL_PRIVS,
    S_ROLE_DEL_GRANTS,
    S_ROLE_DELETE,
    S_PRIV_GRANT,
    S_PRIV_REVOKE,
    S_PRIV_LIST_ALL,
    S_PRIV_LIST_ROLE,
    S_USER_INSERT,
    S_USER_GET,
    S_USER_GET_BY_EMAIL,
    S_USER_LIST,
    S_USER_ROLES,
    S_USER_UPDATE,
    S_USER_ROLES_CLEAR,
    S_USER_ROLE_INSERT,
    S_USER_DELETE,
    S_USER_COUNT,
    S_JTI_REVOKE,
    S_JTI_CHANGES,
    S_JTI_PURGE,
    S_AUDIT_INSERT,
    S_AUDIT_LIST,
    S_COUNT
};

#define TOKEN_SELECT                                                                               \
    "SELECT t.seq, t.client_id, t.secret_hash, t.description, t.role_id,"                          \
    " coalesce(r.role_name, ''), t.status, t.created_on, t.last_access_on, t.revoked_on,"          \
    " t.expires_on, t.created_by"                                                                  \
    " FROM tokens t LEFT JOIN roles r ON r.role_id = t.role_id"
/* What the view needs of a token: who it is, its secret's hash and what it may do. */
#define TOKEN_STATE_SELECT                                                                         \
    "SELECT seq, client_id, secret_hash, role_id, status, last_access_on, revoked_on,"           \
    " expires_on FROM tokens"
#define ROLE_SELECT                                                                                \
    "SELECT seq, role_id, role_name, description, created_on, modified_on FROM roles"
#define USER_SELECT "SELECT seq, user_id, email, password_hash, created_on FROM users"

static const char *const sql[S_COUNT] = {
    [S_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [S_BEGIN_READ] = "BEGIN",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_USER_VERSION] = "PRAGMA user_version",
    [S_VERSION] = "SELECT data_ver, roles_ver FROM meta WHERE id = 1",
    /* In an UPDATE the right-hand sides see the old row, so roles_ver gets the new data_ver. */
    [S_BUMP] = "UPDATE meta SET data_ver = data_ver + 1 WHERE id = 1 RETURNING data_ver",
    [S_BUMP_ROLES] = "UPDATE meta SET data_ver = data_ver + 1, roles_ver = data_ver + 1"
                     " WHERE id = 1 RETURNING data_ver",
    [S_ROLE_EXISTS] = "SELECT 1 FROM roles WHERE role_id = ?1",

    [S_TOKEN_INSERT] = "INSERT INTO tokens (client_id, secret_hash, description, role_id, status,"
                       " created_on, last_access_on, revoked_on, expires_on, created_by, ver)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [S_TOKEN_GET] = TOKEN_SELECT " WHERE t.client_id = ?1",
    [S_TOKEN_LIST] = TOKEN_SELECT " WHERE t.seq < ?1 ORDER BY t.seq DESC LIMIT ?2",
    [S_TOKEN_STATUS] = "SELECT status FROM tokens WHERE client_id = ?1",
    [S_TOKEN_REVOKE] = "UPDATE tokens SET status = 1, revoked_on = ?2, ver = ?3"
                       " WHERE client_id = ?1 AND status = 0",
    [S_TOKEN_TOUCH] = "UPDATE tokens SET last_access_on = max(coalesce(last_access_on, 0), ?2)"
                      " WHERE client_id = ?1 AND coalesce(last_access_on, 0) < ?2",
    [S_TOKEN_CHANGES] = TOKEN_STATE_SELECT " WHERE ver > ?1 ORDER BY ver, seq",
    [S_TOKEN_ALL] = TOKEN_STATE_SELECT, /* in rowid order: a plain scan, no index lookups */

    [S_ROLE_INSERT] = "INSERT INTO roles (role_id, role_name, description, created_on, modified_on)"
                      " VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_ROLE_GET] = ROLE_SELECT " WHERE role_id = ?1",
    [S_ROLE_GET_BY_NAME] = ROLE_SELECT " WHERE role_name = ?1",
    [S_ROLE_LIST] = ROLE_SELECT " WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    [S_ROLE_UPDATE] = "UPDATE roles SET role_name = ?2, description = ?3, modified_on = ?4"
                      " WHERE role_id = ?1",
    [S_ROLE_GRANTS] = "SELECT g.granted_role_id FROM role_grants g"
                      " JOIN roles r ON r.role_id = g.granted_role_id"
                      " WHERE g.role_id = ?1 ORDER BY r.seq",
    [S_GRANTS_CLEAR] = "DELETE FROM role_grants WHERE role_id = ?1",
    /* OR IGNORE drops a duplicate in the list; it does not cover foreign keys. */
    [S_GRANT_INSERT] =
        "INSERT OR IGNORE INTO role_grants (role_id, granted_role_id) VALUES (?1, ?2)",
    /* Is ?1 reachable from itself through role_grants?  UNION stops at rows already seen. */
    [S_ROLE_CYCLE] =
        "WITH RECURSIVE reach(id) AS ("
        " SELECT granted_role_id FROM role_grants WHERE role_id = ?1"
        " UNION"
        " SELECT g.granted_role_id FROM role_grants g JOIN reach ON g.role_id = reach.id)"
        " SELECT 1 FROM reach WHERE id = ?1 LIMIT 1",
    [S_ROLE_TOKEN_HOLDS] = "SELECT 1 FROM tokens WHERE role_id = ?1 AND status = 0 LIMIT 1",
    [S_ROLE_USER_HOLDS] = "SELECT 1 FROM user_roles WHERE role_id = ?1 LIMIT 1",
    [S_ROLE_DEL_PRIVS] = "DELETE FROM privileges WHERE role_id = ?1",
    [S_ROLE_DEL_GRANTS] = "DELETE FROM role_grants WHERE role_id = ?1 OR granted_role_id = ?1",
    [S_ROLE_DELETE] = "DELETE FROM roles WHERE role_id = ?1",

    /* The WHERE makes re-granting the same kind a no-op (changes() = 0). */
    [S_PRIV_GRANT] =
        "INSERT INTO privileges (role_id, name, kind, granted_on) VALUES (?1, ?2, ?3, ?4)"
        " ON CONFLICT (role_id, name) DO UPDATE SET kind = excluded.kind,"
        " granted_on = excluded.granted_on WHERE kind <> excluded.kind",
    [S_PRIV_REVOKE] = "DELETE FROM privileges WHERE role_id = ?1 AND kind = ?2 AND name = ?3",
    [S_PRIV_LIST_ALL] = "SELECT p.role_id, p.kind, p.name FROM privileges p"
                        " JOIN roles r ON r.role_id = p.role_id ORDER BY r.seq, p.name",
    [S_PRIV_LIST_ROLE] = "SELECT role_id, kind, name FROM privileges WHERE role_id = ?1"
                         " ORDER BY name",

    [S_USER_INSERT] = "INSERT INTO users (user_id, email, password_hash, created_on)"
                      " VALUES (?1, ?2, ?3, ?4)",
    [S_USER_GET] = USER_SELECT " WHERE user_id = ?1",
    [S_USER_GET_BY_EMAIL] = USER_SELECT " WHERE email = ?1", /* the column is COLLATE NOCASE */
    [S_USER_LIST] = USER_SELECT " WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    [S_USER_ROLES] = "SELECT u.role_id FROM user_roles u JOIN roles r ON r.role_id = u.role_id"
                     " WHERE u.user_id = ?1 ORDER BY r.seq",
    [S_USER_UPDATE] = "UPDATE users SET email = ?2, password_hash = ?3 WHERE user_id = ?1",
    [S_USER_ROLES_CLEAR] = "DELETE FROM user_roles WHERE user_id = ?1",
    [S_USER_ROLE_INSERT] = "INSERT OR IGNORE INTO user_roles (user_id, role_id) VALUES (?1, ?2)",
    [S_USER_DELETE] = "DELETE FROM users WHERE user_id = ?1",
    [S_USER_COUNT] = "SELECT count(*) FROM users",
    [S_JTI_REVOKE] = "INSERT INTO revoked_jti (jti, client_id, exp, ver) VALUES (?1, ?2, ?3, ?4)"
                     " ON CONFLICT (jti) DO NOTHING",
    [S_JTI_CHANGES] = "SELECT jti, client_id, exp, ver FROM revoked_jti WHERE ver > ?1 AND exp > ?2"
                      " ORDER BY ver",
    [S_JTI_PURGE] = "DELETE FROM revoked_jti WHERE exp <= ?1",
    [S_AUDIT_INSERT] = "INSERT INTO audit_log (at, actor, action, target, address, outcome, detail)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_AUDIT_LIST] = "SELECT seq, at, actor, action, target, address, outcome, detail FROM audit_log"
                     " WHERE seq < ?1 AND (?2 = '' OR actor = ?2) AND at >= ?3 AND at < ?4"
                     " ORDER BY seq DESC LIMIT ?5",
};

struct sqlite_store {
    struct store base; /* first: a struct store * points here */
    pthread_mutex_t mu;
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT]; /* prepared on first use, finalised on close */
};

static struct sqlite_store *sq(struct store *st)
{
    assert(st);
    return (struct sqlite_store *)st;
}

/* ---- helpers ------------------------------------------------------------------------------- */

/* Maps an SQLite result code (extended codes are on) to a kg_err. */
static kg_err map_err(int src)
{
    switch (src & 0xff) {
    case SQLITE_OK:
        return KG_OK;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return KG_UNAVAILABLE;
    case SQLITE_NOMEM:
        return KG_ENOMEM;
    case SQLITE_CONSTRAINT:
        if (src == SQLITE_CONSTRAINT_UNIQUE || src == SQLITE_CONSTRAINT_PRIMARYKEY)
            return KG_CONFLICT;
        if (src == SQLITE_CONSTRAINT_FOREIGNKEY) return KG_NOTFOUND; /* a referenced role */
        return KG_IO;
    default:
        return KG_IO;
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* True when `s` is NUL-terminated within a field of `cap` bytes. */
static int fits(const char *s, size_t cap)
{
    return s && strnlen(s, cap) < cap;
}

static void lock(struct sqlite_store *ss)
{
    pthread_mutex_lock(&ss->mu);
}

/* Resets every statement still running, so none holds a read snapshot open. */
static void reset_running(struct sqlite_store *ss)
{
    for (size_t i = 0; i < S_COUNT; i++)
        if (ss->stmt[i] && sqlite3_stmt_busy(ss->stmt[i])) sqlite3_reset(ss->stmt[i]);
}

/* Returns statement `id`, prepared and cached on first use, reset and unbound otherwise. */
static kg_err prep(struct sqlite_store *ss, enum stmt_id id, sqlite3_stmt **out)
{
    sqlite3_stmt *s = ss->stmt[id];

    *out = NULL;
    if (!s) {
        int src = sqlite3_prepare_v3(ss->db, sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
        if (src != SQLITE_OK) return map_err(src);
        ss->stmt[id] = s;
    } else {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
    *out = s;
    return KG_OK;
}

/* Steps `s`: KG_OK with *row = 1 on a row, 0 when done (row may be NULL); else the error. */
static kg_err step(sqlite3_stmt *s, int *row)
{
    int src = sqlite3_step(s);

    if (src == SQLITE_ROW || src == SQLITE_DONE) {
        if (row) *row = src == SQLITE_ROW;
        return KG_OK;
    }
    return map_err(src);
}

/* Runs a statement without parameters to its end (BEGIN, COMMIT, ...). */
static kg_err run(struct sqlite_store *ss, enum stmt_id id)
{
    sqlite3_stmt *s;
    kg_err rc = prep(ss, id, &s);

    if (rc) return rc;
    while ((rc = step(s, NULL)) == KG_OK && sqlite3_stmt_busy(s))
        ;
    sqlite3_reset(s);
    return rc;
}

static kg_err begin_write(struct sqlite_store *ss)
{
    return run(ss, S_BEGIN_WRITE);
}

static kg_err begin_read(struct sqlite_store *ss)
{
    return run(ss, S_BEGIN_READ);
}

/* Commits; on failure the transaction is left for finish() to roll back. */
static kg_err commit(struct sqlite_store *ss)
{
    reset_running(ss);
    return run(ss, S_COMMIT);
}

/* Ends every call made under lock(): see the file comment.  Never fails. */
static void finish(struct sqlite_store *ss)
{
    reset_running(ss);
    if (!sqlite3_get_autocommit(ss->db)) run(ss, S_ROLLBACK);
    pthread_mutex_unlock(&ss->mu);
}

/* Binds, jumping to `out` with rc set on failure.  Needs `kg_err rc` and a label `out`. */
#define BIND(call)                                                                                 \
    do {                                                                                           \
        int brc_ = (call);                                                                         \
        if (brc_ != SQLITE_OK) {                                                                   \
            rc = map_err(brc_);                                                                    \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

static int bind_text(sqlite3_stmt *s, int i, const char *v)
{
    return sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

/* A time of 0 ("null") is stored as NULL. */
static int bind_time(sqlite3_stmt *s, int i, int64_t v)
{
    return v ? sqlite3_bind_int64(s, i, v) : sqlite3_bind_null(s, i);
}

/* Copies text column i into dst[cap]; NULL reads "".  KG_IO if it does not fit (a hand-edited
 * database). */
static kg_err col_text(sqlite3_stmt *s, int i, char *dst, size_t cap)
{
    const unsigned char *p;
    int len;

    dst[0] = '\0';
    if (sqlite3_column_type(s, i) == SQLITE_NULL) return KG_OK;
    p = sqlite3_column_text(s, i);
    if (!p) return KG_ENOMEM;
    len = sqlite3_column_bytes(s, i);
    if (len < 0 || (size_t)len >= cap) return KG_IO;
    memcpy(dst, p, (size_t)len);
    dst[len] = '\0';
    return KG_OK;
}

/* Room for one more element after *cap elements of `size` bytes: the grown array, or NULL
 * (arr untouched) when out of memory. */
static void *grow(void *arr, size_t *cap, size_t size)
{
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p;

    if (ncap > SIZE_MAX / size) return NULL;
    p = realloc(arr, ncap * size);
    if (p) *cap = ncap;
    return p;
}

/* Clamps a caller's list limit to LIST_MAX. */
static int64_t list_limit(size_t limit)
{
    return limit > LIST_MAX ? LIST_MAX : (int64_t)limit;
}

/* Raises data_ver (and sets roles_ver to it when `roles`); the new data_ver in *ver. */
static kg_err bump(struct sqlite_store *ss, int roles, int64_t *ver)
{
    sqlite3_stmt *s;
    int row = 0;
    kg_err rc = prep(ss, roles ? S_BUMP_ROLES : S_BUMP, &s);

    if (rc) return rc;
    if ((rc = step(s, &row))) return rc;
    if (!row) return KG_IO; /* meta row missing */
    if (ver) *ver = sqlite3_column_int64(s, 0);
    while ((rc = step(s, &row)) == KG_OK && row)
        ;
    return rc;
}

/* Runs a one-id existence query `id`: KG_OK with *found set, or the error. */
static kg_err exists(struct sqlite_store *ss, enum stmt_id id, const char *key, int *found)
{
    sqlite3_stmt *s;
    kg_err rc;

    if ((rc = prep(ss, id, &s))) return rc;
    BIND(bind_text(s, 1, key));
    rc = step(s, found);
out:
    return rc;
}

/* Fills ids[] (at most KG_GRANTS_MAX) from a query `id` of one role_id column keyed by `key`. */
static kg_err load_ids(struct sqlite_store *ss, enum stmt_id id, const char *key, kg_role_id *ids,
                       size_t *n)
{
    sqlite3_stmt *s;
    int row;
    kg_err rc;

    *n = 0;
    if ((rc = prep(ss, id, &s))) return rc;
    BIND(bind_text(s, 1, key));
    for (;;) {
        if ((rc = step(s, &row)) || !row) break;
        if (*n == KG_GRANTS_MAX) {
            rc = KG_IO; /* more than the model allows: edited by hand */
            break;
        }
        if ((rc = col_text(s, 0, ids[*n], sizeof ids[*n]))) break;
        (*n)++;
    }
out:
    sqlite3_reset(s);
    return rc;
}

/* ---- audit entries ------------------------------------------------------------------------- */

/* Inserts entry e inside the caller's write transaction. */
static kg_err put_audit(struct sqlite_store *ss, const struct kg_audit *e)
{
    sqlite3_stmt *s;
    kg_err rc;

    if ((rc = prep(ss, S_AUDIT_INSERT, &s))) return rc;
    BIND(sqlite3_bind_int64(s, 1, e->at));
    BIND(bind_text(s, 2, e->actor));
    BIND(bind_text(s, 3, e->action));
    BIND(bind_text(s, 4, e->target));
    BIND(bind_text(s, 5, e->address));
    BIND(bind_text(s, 6, e->outcome));
    BIND(bind_text(s, 7, e->detail));
    rc = step(s, NULL);
out:
    return rc;
}

/* Commits the caller's write with its audit entry (NULL: none) inserted first, so that both
 * commit or neither; on failure the transaction is left for finish() to roll back. */
static kg_err commit_audited(struct sqlite_store *ss, const struct kg_audit *audit)
{
    kg_err rc;

    if (audit && (rc = put_audit(ss, audit))) return rc;
    return commit(ss);
}

/* ---- schema and migrations ---------------------------------------------------------------- */

/*
 * Version 1.  Times are INTEGER ms, NULL where the model says 0.  Every table with a list
 * call orders by an AUTOINCREMENT seq, so a seq is never reused.  tokens.role_id is not a
 * foreign key: a revoked token keeps the id of a role deleted after it.
 */
static const char schema_v1[] =
    "CREATE TABLE meta ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " data_ver INTEGER NOT NULL,"
    " roles_ver INTEGER NOT NULL);"
    /* The built-in roles seeded below are write number 1. */
    "INSERT INTO meta (id, data_ver, roles_ver) VALUES (1, 1, 1);"

    "CREATE TABLE roles ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " role_id TEXT NOT NULL UNIQUE,"
    " role_name TEXT NOT NULL UNIQUE,"
    " description TEXT NOT NULL DEFAULT '',"
    " created_on INTEGER NOT NULL,"
    " modified_on INTEGER NOT NULL);"

    "CREATE TABLE role_grants ("
    " role_id TEXT NOT NULL REFERENCES roles (role_id),"
    " granted_role_id TEXT NOT NULL REFERENCES roles (role_id),"
    " PRIMARY KEY (role_id, granted_role_id)) WITHOUT ROWID;"
    "CREATE INDEX role_grants_granted ON role_grants (granted_role_id);"

    "CREATE TABLE privileges ("
    " role_id TEXT NOT NULL REFERENCES roles (role_id),"
    " name TEXT NOT NULL,"
    " kind INTEGER NOT NULL CHECK (kind IN (0, 1)),"
    " granted_on INTEGER NOT NULL,"
    " PRIMARY KEY (role_id, name)) WITHOUT ROWID;"

    "CREATE TABLE tokens ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " client_id TEXT NOT NULL UNIQUE,"
    " secret_hash BLOB NOT NULL CHECK (length(secret_hash) = 32),"
    " description TEXT NOT NULL DEFAULT '',"
    " role_id TEXT NOT NULL,"
    " status INTEGER NOT NULL CHECK (status IN (0, 1)),"
    " created_on INTEGER NOT NULL,"
    " last_access_on INTEGER,"
    " revoked_on INTEGER,"
    " expires_on INTEGER,"
    " created_by TEXT NOT NULL DEFAULT '',"
    " ver INTEGER NOT NULL);"
    "CREATE INDEX tokens_ver ON tokens (ver);"
    "CREATE INDEX tokens_role ON tokens (role_id, status);"

    "CREATE TABLE users ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " user_id TEXT NOT NULL UNIQUE,"
    " email TEXT NOT NULL COLLATE NOCASE UNIQUE,"
    " password_hash TEXT NOT NULL,"
    " created_on INTEGER NOT NULL);"

    "CREATE TABLE user_roles ("
    " user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,"
    " role_id TEXT NOT NULL REFERENCES roles (role_id),"
    " PRIMARY KEY (user_id, role_id)) WITHOUT ROWID;"
    "CREATE INDEX user_roles_role ON user_roles (role_id);"

    "PRAGMA user_version = 1;";

static kg_err seed_v1(struct sqlite_store *ss)
{
    static const struct {
        const char *id, *name, *desc;
    } builtin[] = {
        {"r-0000000001", KG_ROLE_ACCOUNTADMIN,
         "Holds every privilege; cannot be changed or deleted"},
        {"r-0000000002", KG_ROLE_PUBLIC, "Granted to everyone"},
    };
    int64_t now = now_ms();
    sqlite3_stmt *s;
    kg_err rc = KG_OK;

    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++) {
        if ((rc = prep(ss, S_ROLE_INSERT, &s))) return rc;
        BIND(bind_text(s, 1, builtin[i].id));
        BIND(bind_text(s, 2, builtin[i].name));
        BIND(bind_text(s, 3, builtin[i].desc));
        BIND(sqlite3_bind_int64(s, 4, now));
        BIND(sqlite3_bind_int64(s, 5, now));
        if ((rc = step(s, NULL))) return rc;
    }
out:
    return rc;
}

/* Version 2: access tokens revoked one by one (RFC 7009), kept until they expire anyway. */
static const char schema_v2[] =
    "CREATE TABLE revoked_jti ("
    " jti TEXT PRIMARY KEY,"
    " client_id TEXT NOT NULL,"
    " exp INTEGER NOT NULL," /* seconds since the epoch, as the JWT says */
    " ver INTEGER NOT NULL);"
    "CREATE INDEX revoked_jti_ver ON revoked_jti (ver);"
    "CREATE INDEX revoked_jti_exp ON revoked_jti (exp);"
    "PRAGMA user_version = 2;";

/* Version 3: the audit log, append-only. */
static const char schema_v3[] =
    "CREATE TABLE audit_log ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " at INTEGER NOT NULL," /* ms */
    " actor TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " target TEXT NOT NULL,"
    " address TEXT NOT NULL,"
    " outcome TEXT NOT NULL,"
    " detail TEXT NOT NULL);"
    "CREATE INDEX audit_log_actor ON audit_log (actor, seq);"
    "CREATE INDEX audit_log_at ON audit_log (at);"
    "PRAGMA user_version = 3;";

/* migrations[v] takes the schema from user_version v to v + 1; its SQL sets user_version. */
static const struct migration {
    const char *sql;
    kg_err (*after)(struct sqlite_store *ss); /* data to add once the SQL ran, or NULL */
} migrations[SCHEMA_VERSION] = {
    {schema_v1, seed_v1},
    {schema_v2, NULL},
    {schema_v3, NULL},
};

static kg_err user_version(struct sqlite_store *ss, int64_t *v)
{
    sqlite3_stmt *s;
    int row = 0;
    kg_err rc = prep(ss, S_USER_VERSION, &s);

    if (rc) return rc;
    if ((rc = step(s, &row))) return rc;
    if (!row) return KG_IO;
    *v = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return KG_OK;
}

/*
 * Brings the schema to SCHEMA_VERSION.  Another process may open the same file at the same
 * time, so user_version is read again under BEGIN IMMEDIATE: whoever gets the write lock
 * second finds the work done.  KG_IO for a database written by a newer keygate.
 */
static kg_err migrate(struct sqlite_store *ss)
{
    int64_t v = 0;
    kg_err rc;

    lock(ss);
    if ((rc = user_version(ss, &v)) || v == SCHEMA_VERSION) goto out;
    if ((rc = begin_write(ss))) goto out;
    if ((rc = user_version(ss, &v))) goto out;
    if (v < 0 || v > SCHEMA_VERSION) {
        rc = KG_IO;
        goto out;
    }
    for (; v < SCHEMA_VERSION; v++) {
        const struct migration *m = &migrations[v];
        int src = sqlite3_exec(ss->db, m->sql, NULL, NULL, NULL);
        if (src != SQLITE_OK) {
            rc = map_err(sqlite3_extended_errcode(ss->db));
            if (!rc) rc = KG_IO;
            goto out;
        }
        if (m->after && (rc = m->after(ss))) goto out;
    }
    rc = commit(ss);
out:
    finish(ss);
    return rc;
}

/* Runs a PRAGMA and copies its one text result into buf (empty when it returns no row). */
static kg_err pragma(struct sqlite_store *ss, const char *q, char *buf, size_t cap)
{
    sqlite3_stmt *s = NULL;
    int row = 0;
    kg_err rc;
    int src = sqlite3_prepare_v2(ss->db, q, -1, &s, NULL);

    buf[0] = '\0';
    if (src != SQLITE_OK) return map_err(src);
    if ((rc = step(s, &row)) == KG_OK && row) rc = col_text(s, 0, buf, cap);
    sqlite3_finalize(s);
    return rc;
}

/* Per-connection settings; see the file comment.  KG_IO if WAL or foreign keys are refused. */
static kg_err configure(struct sqlite_store *ss)
{
    char v[16];
    kg_err rc;

    if (sqlite3_busy_timeout(ss->db, BUSY_TIMEOUT_MS) != SQLITE_OK) return KG_IO;
    if ((rc = pragma(ss, "PRAGMA journal_mode", v, sizeof v))) return rc;
    if (strcmp(v, "wal") != 0) {
        if ((rc = pragma(ss, "PRAGMA journal_mode = WAL", v, sizeof v))) return rc;
        if (strcmp(v, "wal") != 0 && strcmp(v, "memory") != 0) return KG_IO; /* ":memory:" */
    }
    if ((rc = pragma(ss, "PRAGMA synchronous = FULL", v, sizeof v))) return rc;
    if ((rc = pragma(ss, "PRAGMA foreign_keys = ON", v, sizeof v))) return rc;
    if ((rc = pragma(ss, "PRAGMA foreign_keys", v, sizeof v))) return rc;
    if (strcmp(v, "1") != 0) return KG_IO;
    return KG_OK;
}

/* ---- versions ------------------------------------------------------------------------------ */

static kg_err version(struct store *st, int64_t *data_ver, int64_t *roles_ver)
{
    struct sqlite_store *ss = sq(st);
    sqlite3_stmt *s;
    int row = 0;
    kg_err rc;

    lock(ss);
    if ((rc = prep(ss, S_VERSION, &s))) goto out;
    if ((rc = step(s, &row))) goto out;
    if (!row) {
        rc = KG_IO;
        goto out;
    }
    if (data_ver) *data_ver = sqlite3_column_int64(s, 0);
    if (roles_ver) *roles_ver = sqlite3_column_int64(s, 1);
out:
    finish(ss);
    return rc;
}

/* ---- tokens -------------------------------------------------------------------------------- */

static int token_valid(const struct kg_token *t)
{
    return t && fits(t->client_id, sizeof t->client_id) && t->client_id[0] &&
           fits(t->description, sizeof t->description) && fits(t->role_id, sizeof t->role_id) &&
           fits(t->created_by, sizeof t->created_by) &&
           (t->status == KG_TOKEN_ACTIVE || t->status == KG_TOKEN_REVOKED);
}

/* Columns 0-2 of TOKEN_SELECT and TOKEN_STATE_SELECT: seq, client_id, secret_hash. */
static kg_err read_token_head(sqlite3_stmt *s, struct kg_token *t)
{
    const void *hash;
    kg_err rc;

    t->seq = sqlite3_column_int64(s, 0);
    if ((rc = col_text(s, 1, t->client_id, sizeof t->client_id))) return rc;
    hash = sqlite3_column_blob(s, 2);
    if (!hash || sqlite3_column_bytes(s, 2) != KG_HASH_LEN) return KG_IO;
    memcpy(t->secret_hash, hash, KG_HASH_LEN);
    return KG_OK;
}

/* Copies one TOKEN_SELECT row into *t. */
static kg_err read_token(sqlite3_stmt *s, struct kg_token *t)
{
    kg_err rc;

    /* Every field is set below, so no memset of the whole (1.3 KiB) record: a list page
     * reads 101 of them. */
    if ((rc = read_token_head(s, t))) return rc;
    if ((rc = col_text(s, 3, t->description, sizeof t->description))) return rc;
    if ((rc = col_text(s, 4, t->role_id, sizeof t->role_id))) return rc;
    if ((rc = col_text(s, 5, t->role_name, sizeof t->role_name))) return rc;
    t->status = sqlite3_column_int(s, 6);
    t->created_on = sqlite3_column_int64(s, 7);
    t->last_access_on = sqlite3_column_int64(s, 8); /* NULL reads 0 */
    t->revoked_on = sqlite3_column_int64(s, 9);
    t->expires_on = sqlite3_column_int64(s, 10);
    return col_text(s, 11, t->created_by, sizeof t->created_by);
}

/* Reads a TOKEN_STATE_SELECT row; the other fields are left empty. */
static kg_err read_token_state(sqlite3_stmt *s, struct kg_token *t)
{
    kg_err rc;

    if ((rc = read_token_head(s, t))) return rc;
    if ((rc = col_text(s, 3, t->role_id, sizeof t->role_id))) return rc;
    t->status = sqlite3_column_int(s, 4);
    t->last_access_on = sqlite3_column_int64(s, 5); /* NULL reads 0 */
    t->revoked_on = sqlite3_column_int64(s, 6);
    t->expires_on = sqlite3_column_int64(s, 7);
    return KG_OK;
}

/* Reads up to `limit` TOKEN_SELECT rows of `s` into a new array (NULL when none). */
static kg_err collect_tokens(sqlite3_stmt *s, size_t limit, struct kg_token **out, size_t *n)
{
    struct kg_token *arr = NULL, *p;
    size_t cap = 0, cnt = 0;
    int row;
    kg_err rc = KG_OK;

    while (cnt < limit) {
        if ((rc = step(s, &row))) goto out;
        if (!row) break;
        if (cnt == cap) {
            if (!(p = grow(arr, &cap, sizeof *arr))) {
                rc = KG_ENOMEM;
                goto out;
            }
            arr = p;
        }
        if ((rc = read_token(s, &arr[cnt]))) goto out;
        cnt++;
    }
    *out = arr; /* handed to the caller */
    *n = cnt;
    arr = NULL;
out:
    free(arr);
    return rc;
}

static kg_err token_insert(struct store *st, const struct kg_token *t, const struct kg_audit *audit)
{
    struct sqlite_store *ss = sq(st);
    sqlite3_stmt *s;
    int64_t ver;
    int found = 0;
    kg_err rc;

    if (!token_valid(t)) return KG_INVALID;
    lock(ss);
    if ((rc = begin_write(ss))) goto out;
    if ((rc = exists(ss, S_ROLE_EXISTS, t->role_id, &found))) goto out;
    if (!found) {
        rc = KG_NOTFOUND;
        goto out;
    }
    if ((rc = bump(ss, 0, &ver))) goto out;
    if ((rc = prep(ss, S_TOKEN_INSERT, &s))) goto out;
    BIND(bind_text(s, 1, t->client_id));
    BIND(sqlite3_bind_blob(s, 2, t->secret_hash, KG_HASH_LEN, SQLITE_STATIC));
    BIND(bind_text(s, 3, t->description));
    BIND(bind_text(s, 4, t->role_id));
    BIND(sqlite3_bind_int(s, 5, t->status));
    BIND(sqlite3_bind_int64(s, 6, t->created_on));
    BIND(bind_time(s, 7, t->last_access_on));
    BIND(bind_time(s, 8, t->revoked_on));
    BIND(bind_time(s, 9, t->expires_on));
    BIND(bind_text(s, 10, t->created_by));
    BIND(sqlite3_bind_int64(s, 11, ver));
    if ((rc = step(s, NULL))) goto out;
    rc = commit_audited(ss, audit);
out:
    finish(ss);
    return rc;
}

static kg_err token_get(struct store *st, const char *client_id, struct kg_token *out)
{
    struct sqlite_store *ss = sq(st);
    sqlite3_stmt *s;
    int row = 0;
    kg_err rc;

    if (!client_id || !out) return KG_INVALID;
    lock(ss);
    if ((rc = prep(ss, S_TOKEN_GET, &s))) goto out;
    BIND(bind_text(s, 1, client_id));
    if ((rc = step(s, &row))) goto out;
    rc = row ? read_token(s, out) : KG_NOTFOUND;
out:
    finish(ss);
    return rc;
}

static kg_err token_list(struct store *st, int64_t before_seq, size_t limit, struct kg_token **out,
                         size_t *n)
{
    struct sqlite_store *ss = sq(st);
    sqlite3_stmt *s;
    int64_t lim = list_limit(limit);
    kg_err rc;

    if (!out || !n) return KG_INVALID;
    *out = NULL;
    *n = 0;
    lock(ss);
    if ((rc = prep(ss, S_TOKEN_LIST, &s))) goto out;
    BIND(sqlite3_bind_int64(s, 1, before_seq > 0 ? before_seq : INT64_MAX));
    BIND(sqlite3_bind_int64(s, 2, lim));
    rc = collect_tokens(s, (size_t)lim, out, n);
out:
    finish(ss);
    return rc;
}

static kg_err token_revoke(struct store *st, const char *client_id, int64_t now, int *changed,
                           const struct kg_audit *audit)
{
    struct sqlite_store *ss = sq(st);
    sqlite3_stmt *s;
    int64_t ver;
    int row = 0, active;
    kg_err rc;

    if (changed) *changed = 0;
    if (!client_id) return KG_INVALID;
    lock(ss);
    if ((rc = begin_write(ss))) goto out;
    if ((rc = prep(ss, S_TOKEN_STATUS, &s))) goto out;
    BIND(bind_text(s, 1, client_id));
    if ((rc = step(s, &row))) goto out;
    if (!row) {
        rc = KG_NOTFOUND;
        goto out;
    }
    active = sqlite3_column_int(s, 0) == KG_TOKEN_ACTIVE; /* else already revoked: kept so */
    if (active) {
        if ((rc = bump(ss, 0, &ver))) goto out;
        if ((rc = prep(ss, S_TOKEN_REVOKE, &s))) goto out;
        BIND(bind_text(s, 1, client_id));
        BIND(sqlite3_bind_int64(s, 2, now));
        BIND(sqlite3_bind_int64(s, 3, ver));
        if ((rc = step(s, NULL))) goto out;
    }
    if ((rc = commit_audited(ss, audit))) goto out;
    if (changed) *changed = active;
out:
    finish(ss);
    return rc;
}

static kg_err token_touch(struct store *st, const struct kg_touch *t, size_t n)
{
    struct sqlite_store *ss = sq(st);
    sqlite3_stmt *s;
    kg_err rc;

    if (n == 0) return KG_OK;
    if (!t) return KG_INVALID;
    for (size_t i = 0; i < n; i++)
        if (!fits(t[i].client_id, sizeof t[i].client_id)) return KG_INVALID;
    lock(ss);
    if ((rc = begin_write(ss))) goto out;
    for (size_t i = 0; i < n; i++) {
        if ((rc = prep(ss, S_TOKEN_TOUCH, &s))) goto out;
        BIND(bind_text(s, 1, t[i].client_id));
        BIND(sqlite3_bind_int64(s, 2, t[i].at));
        if ((rc = step(s, NULL))) goto out;
    }
    rc = commit(ss); /* no version bump: last access is approximate and written behind */
out:
    finish(ss);
    return rc;
}

static kg_err token_changes(struct store *st, int64_t since_ver, store_token_fn fn, void *arg)
{
    struct sqlite_store *ss = sq(st);
    sqlite3_stmt *s;
    struct kg_token t;
    int row = 0;
    kg_err rc;

    if (!fn) return KG_INVALID;
    memset(&t, 0, sizeof t);
    lock(ss);
    if (since_ver <= 0) {
        if ((rc = prep(ss, S_TOKEN_ALL, &s))) goto out;
    } else {
        if ((rc = prep(ss, S_TOKEN_CHANGES, &s))) goto out;
        BIND(sqlite3_bind_int64(s, 1, since_ver));
    }
    for (;;) {
        if ((rc = step(s, &row)) || !row) break;
        if ((rc = read_token_state(s, &t)) || (rc = fn(arg, &t))) break;
    }
out:
    finish(ss);
    return rc;
}

static kg_err jti_revoke(struct store *st, const char *jti, const char *client_id, int64_t exp,
                         int64_t now_s)
{
    struct sqlite_store *ss = sq(st);
    sqlite3_stmt *s;
    int64_t ver;
    kg_err rc;

    if (!jti || !client_id || !fits(jti, 64) || !fits(client_id, KG_CLIENT_ID_LEN + 1))
        return KG_INVALID;
    lock(ss);
    if ((rc = begin_write(ss))) goto out;
    if ((rc = prep(ss, S_JTI_PURGE, &s))) goto out; /* the expired ones are inactive anyway */
    BIND(sqlite3_bind_int64(s, 1, now_s));
    if ((rc = step(s, NULL))) goto out;
    if ((rc = bump(ss, 0, &ver))) goto out;
    if ((rc = prep(ss, S_JTI_REVOKE, &s))) goto out;
    BIND(bind_text(s, 1, jti));
    BIND(bind_text(s, 2, client_id));
    BIND(sqlite3_bind_int64(s, 3, exp));
    BIND(sqlite3_bind_int64(s, 4, ver));
    if ((rc = step(s, NULL))) goto out;
    rc = commit(ss);
out:
    finish(ss);
    return rc;
}

static kg_err jti_changes(struct store *st, int64_t since_ver, int64_t now_s, store_jti_fn fn,
                          void *arg)
{
    struct sqlite_store *ss = sq(st);
    sqlite3_stmt *s;
    char jti[65], client_id[KG_CLIENT_ID_LEN + 1];
    int row = 0;
    kg_err rc;

    if (!fn) return KG_INVALID;
    lock(ss);
    if ((rc = prep(ss, S_JTI_CHANGES, &s))) goto out;
    BIND(sqlite3_bind_int64(s, 1, since_ver));
    BIND(sqlite3_bind_int64(s, 2, now_s));
    for (;;) {
        if ((rc = step(s, &row)) || !row) break;
        if ((rc = col_text(s, 0, jti, sizeof jti)) || (rc = col_text(s, 1, client_id, sizeof client_id)) ||
            (rc = fn(arg, jti, sqlite3_column_int64(s, 2))))
            break;
    }
out:
    finish(ss);
    return rc;
}

/* ---- roles --------------------------------------------------------------------------------- */

static int role_valid(const struct kg_role *r)
{
    if (!r || !fits(r->role_id, sizeof r->role_id) || !r->role_id[0] ||
        !fits(r->role_name, sizeof r->role_name) || !r->role_name[0] ||
        !fits(r->description, sizeof r->description) || r->ngranted > KG_GRANTS_MAX)
        return 0;
    for (size_t i = 0; i < r->ngranted; i++)
        if (!fits(r->granted[i], sizeof r->granted[i])) return 0;
    return 1;
}

/* Copies one ROLE_SELECT row into *r, with its granted roles. */
static kg_err read_role(struct sqlite_store *ss, sqlite3_stmt *s, struct kg_role *r)
{
    kg_err rc;

    memset(r, 0, sizeof *r);
    r->seq = sqlite3_column_int64(s, 0);
    if ((rc = col_text(s, 1, r->role_id, sizeof r->role_id))) return rc;
    if ((rc = col_text(s, 2, r->role_name, sizeof r->role_name))) return rc;
    if ((rc = col_text(s, 3, r->description, sizeof r->description))) return rc;
    r->created_on = sqlite3_column_int64(s, 4);
    r->modified_on = sqlite3_column_int64(s, 5);
    return load_ids(ss, S_ROLE_GRANTS, r->role_id, r->granted, &r->ngranted);
}

/*
 * Replaces r's granted list, inside the caller's write transaction.  KG_NOTFOUND for a granted
 * role that does not exist, KG_PRECONDITION if r is then reachable from itself.
 */
static kg_err put_grants(struct sqlite_store *ss, const struct kg_role *r)
{
    sqlite3_stmt *s;
    int cycle = 0;
    kg_err rc;

    if ((rc = prep(ss, S_GRANTS_CLEAR, &s))) return rc;
    BIND(bind_text(s, 1, r->role_id));
    if ((rc = step(s, NULL))) goto out;
    for (size_t i = 0; i < r->ngranted; i++) {
        if ((rc = prep(ss, S_GRANT_INSERT, &s))) goto out;
        BIND(bind_text(s, 1, r->role_id));
        BIND(bind_text(s, 2, r->granted[i]));
        if ((rc = step(s, NULL))) goto out; /* foreign key: KG_NOTFOUND */
    }
    if ((rc = prep(ss, S_ROLE_CYCLE, &s))) goto out;
    BIND(bind_text(s, 1, r->role_id));
    if ((rc = step(s, &cycle))) goto out;
    if (cycle) rc = KG_PRECONDITION;
out:
    return rc;
}

static kg_err role_insert(struct store *st, const struct kg_role *r, const struct kg_audit *audit)
{
    struct sqlite_store *ss = sq(st);
    sqlite3_stmt *s;
    kg_err rc;

    if (!role_valid(r)) return KG_INVALID;
    lock(ss);
    if ((rc = begin_write(ss))) goto out;
    if ((rc = prep(ss, S_ROLE_INSERT, &s))) goto out;
    BIND(bind_text(s, 1, r->role_id));
    BIND(bind_text(s, 2, r->role_name));
    BIND(bind_text(s, 3, r->description));
    BIND(sqlite3_bind_int64(s, 4, r->created_on));
    BIND(sqlite3_bind_int64(s, 5, r->modified_on));
    if ((rc = step(s, NULL))) goto out; /* KG_CONFLICT on a taken id or name */
    if ((rc = put_grants(ss, r))) goto out;
    if ((rc = bump(ss, 1, NULL))) goto out;
    rc = commit_audited(ss, audit);
out:
    finish(ss);
    return rc;
}

/* Fetches one role by the key bound to statement `id`. */
static kg_err role_get_by(struct sqlite_store *ss, enum stmt_id id, const char *key,
                          struct kg_role *out)
{
    sqlite3_stmt *s;
    int row = 0;
    kg_err rc;

    if (!key || !out) return KG_INVALID;
    lock(ss);
    if ((rc = begin_read(ss))) goto out;
    if ((rc = prep(ss, id, &s))) goto out;
    BIND(bind_text(s, 1, key));
    if ((rc = step(s, &row))) goto out;
    rc = row ? read_role(ss, s, out) : KG_NOTFOUND;
out:
    finish(ss);
    return rc;
}

static kg_err role_get(struct store *st, const char *role_id, struct kg_role *out)
{
    return role_get_by(sq(st), S_ROLE_GET, role_id, out);
}

static kg_err role_get_by_name(struct store *st, const char *name, struct kg_role *out)
{
    return role_get_by(sq(st), S_ROLE_GET_BY_NAME, name, out);
}

static kg_err role_list(struct store *st, int64_t after_seq, size_t limit, struct kg_role **out,
                        size_t *n)
{
    struct sqlite_store *ss = sq(st);
    struct kg_role *arr = NULL, *p;
    size_t cap = 0, cnt = 0;
    sqlite3_stmt *s;
    int row;
    kg_err rc;

    if (!out || !n) return KG_INVALID;
    *out = NULL;
    *n = 0;
    lock(ss);
    if ((rc = begin_read(ss))) goto out;
    if ((rc = prep(ss, S_ROLE_LIST, &s))) goto out;
    BIND(sqlite3_bind_int64(s, 1, after_seq));
    BIND(sqlite3_bind_int64(s, 2, list_limit(limit)));
    for (;;) {
        if ((rc = step(s, &row))) goto out;
        if (!row) break;
        if (cnt == cap) {
            if (!(p = grow(arr, &cap, sizeof *arr))) {
                rc = KG_ENOMEM;
                goto out;
            }
            arr = p;
        }
        if ((rc = read_role(ss, s, &arr[cnt]))) goto out;
        cnt++;
    }
    *out = arr; /* handed to the caller */
    *n = cnt;
    arr = NULL;
out:
    free(arr);
    finish(ss);
    return rc;
}

static kg_err role_update(struct store *st, const struct kg_role *r, const struct kg_audit *audit)
{
    struct sqlite_store *ss = sq(st);
    sqlite3_stmt *s;
    kg_err rc;

    if (!role_valid(r)) return KG_INVALID;
    lock(ss);
    if ((rc = begin_write(ss))) goto out;
    if ((rc = prep(ss, S_ROLE_UPDATE, &s))) goto out;
    BIND(bind_text(s, 1, r->role_id));
    BIND(bind_text(s, 2, r->role_name));
    BIND(bind_text(s, 3, r->description));
    BIND(sqlite3_bind_int64(s, 4, r->modified_on));
    if ((rc = step(s, NULL))) goto out; /* KG_CONFLICT on a taken name */
    if (sqlite3_changes(ss->db) == 0) {
        rc = KG_NOTFOUND;
        goto out;
    }
    if ((rc = put_grants(ss, r))) goto out;
    if ((rc = bump(ss, 1, NULL))) goto out;
    rc = commit_audited(ss, audit);
out:
    finish(ss);
    return rc;
}

/* Runs a one-parameter write statement `id` with `key`. */
static kg_err run_key(struct sqlite_store *ss, enum stmt_id id, const char *key)
{
    sqlite3_stmt *s;
    kg_err rc;

    if ((rc = prep(ss, id, &s))) return rc;
    BIND(bind_text(s, 1, key));
    rc = step(s, NULL);
out:
    return rc;
}

static kg_err role_delete(struct store *st, const char *role_id, const struct kg_audit *audit)
{
    struct sqlite_store *ss = sq(st);
    int found = 0;
    kg_err rc;

    if (!role_id) return KG_INVALID;
    lock(ss);
    if ((rc = begin_write(ss))) goto out;
    if ((rc = exists(ss, S_ROLE_EXISTS, role_id, &found))) goto out;
    if (!found) {
        rc = KG_NOTFOUND;
        goto out;
    }
    if ((rc = exists(ss, S_ROLE_TOKEN_HOLDS, role_id, &found))) goto out;
    if (!found && (rc = exists(ss, S_ROLE_USER_HOLDS, role_id, &found))) goto out;
    if (found) {
        rc = KG_PRECONDITION; /* an Active token or a user holds it */
        goto out;
    }
    if ((rc = run_key(ss, S_ROLE_DEL_PRIVS, role_id))) goto out;
    if ((rc = run_key(ss, S_ROLE_DEL_GRANTS, role_id))) goto out;
    if ((rc = run_key(ss, S_ROLE_DELETE, role_id))) goto out;
    if ((rc = bump(ss, 1, NULL))) goto out;
    rc = commit_audited(ss, audit);
out:
    finish(ss);
    return rc;
}

/* ---- privileges ---------------------------------------------------------------------------- */

static int privilege_valid(const struct kg_privilege *p)
{
    return p && fits(p->role_id, sizeof p->role_id) && fits(p->name, sizeof p->name) &&
           p->name[0] && (p->kind == KG_ALLOW || p->kind == KG_DENY);
}

static kg_err privilege_grant(struct store *st, const struct kg_privilege *p, int64_t now,
                              const struct kg_audit *audit)
{
    struct sqlite_store *ss = sq(st);
    sqlite3_stmt *s;
    kg_err rc;

    if (!privilege_valid(p)) return KG_INVALID;
    lock(ss);
    if ((rc = begin_write(ss))) goto out;
    if ((rc = prep(ss, S_PRIV_GRANT, &s))) goto out;
    BIND(bind_text(s, 1, p->role_id));
    BIND(bind_text(s, 2, p->name));
    BIND(sqlite3_bind_int(s, 3, p->kind));
    BIND(sqlite3_bind_int64(s, 4, now));
    if ((rc = step(s, NULL))) goto out; /* foreign key: KG_NOTFOUND */
    /* already so: nothing to bump */
    if (sqlite3_changes(ss->db) > 0 && (rc = bump(ss, 1, NULL))) goto out;
    rc = commit_audited(ss, audit);
out:
    finish(ss);
    return rc;
}

static kg_err privilege_revoke(struct store *st, const struct kg_privilege *p, int *changed,
                               const struct kg_audit *audit)
{
    struct sqlite_store *ss = sq(st);
    sqlite3_stmt *s;
    int removed;
    kg_err rc;

    if (changed) *changed = 0;
    if (!privilege_valid(p)) return KG_INVALID;
    lock(ss);
    if ((rc = begin_write(ss))) goto out;
    if ((rc = prep(ss, S_PRIV_REVOKE, &s))) goto out;
    BIND(bind_text(s, 1, p->role_id));
    BIND(sqlite3_bind_int(s, 2, p->kind));
    BIND(bind_text(s, 3, p->name));
    if ((rc = step(s, NULL))) goto out;
    removed = sqlite3_changes(ss->db) > 0; /* else not there: nothing to bump */
    if (removed && (rc = bump(ss, 1, NULL))) goto out;
    if ((rc = commit_audited(ss, audit))) goto out;
    if (changed) *changed = removed;
out:
    finish(ss);
    return rc;
}

static kg_err privilege_list(struct store *st, const char *role_id, struct kg_privilege **out,
                             size_t *n)
{
    struct sqlite_store *ss = sq(st);
    struct kg_privilege *arr = NULL, *p;
    size_t cap = 0, cnt = 0;
    sqlite3_stmt *s;
    int row;
    kg_err rc;

    if (!out || !n) return KG_INVALID;
    *out = NULL;
    *n = 0;
    lock(ss);
    if ((rc = prep(ss, role_id ? S_PRIV_LIST_ROLE : S_PRIV_LIST_ALL, &s))) goto out;
    if (role_id) BIND(bind_text(s, 1, role_id));
    for (;;) {
        if ((rc = step(s, &row))) goto out;
        if (!row) break;
        if (cnt == cap) {
            if (!(p = grow(arr, &cap, sizeof *arr))) {
                rc = KG_ENOMEM;
                goto out;
            }
            arr = p;
        }
        memset(&arr[cnt], 0, sizeof arr[cnt]);
        if ((rc = col_text(s, 0, arr[cnt].role_id, sizeof arr[cnt].role_id))) goto out;
        arr[cnt].kind = sqlite3_column_int(s, 1);
        if ((rc = col_text(s, 2, arr[cnt].name, sizeof arr[cnt].name))) goto out;
        cnt++;
    }
    *out = arr; /* handed to the caller */
    *n = cnt;
    arr = NULL;
out:
    free(arr);
    finish(ss);
    return rc;
}

/* ---- users --------------------------------------------------------------------------------- */

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

/* Copies one USER_SELECT row into *u, with its roles. */
static kg_err read_user(struct sqlite_store *ss, sqlite3_stmt *s, struct kg_user *u)
{
    kg_err rc;

    memset(u, 0, sizeof *u);
    u->seq = sqlite3_column_int64(s, 0);
    if ((rc = col_text(s, 1, u->user_id, sizeof u->user_id))) return rc;
    if ((rc = col_text(s, 2, u->email, sizeof u->email))) return rc;
    if ((rc = col_text(s, 3, u->password_hash, sizeof u->password_hash))) return rc;
    u->created_on = sqlite3_column_int64(s, 4);
    return load_ids(ss, S_USER_ROLES, u->user_id, u->roles, &u->nroles);
}

/* Replaces u's roles, inside the caller's write transaction; KG_NOTFOUND for a missing role. */
static kg_err put_user_roles(struct sqlite_store *ss, const struct kg_user *u)
{
    sqlite3_stmt *s;
    kg_err rc;

    if ((rc = run_key(ss, S_USER_ROLES_CLEAR, u->user_id))) return rc;
    for (size_t i = 0; i < u->nroles; i++) {
        if ((rc = prep(ss, S_USER_ROLE_INSERT, &s))) goto out;
        BIND(bind_text(s, 1, u->user_id));
        BIND(bind_text(s, 2, u->roles[i]));
        if ((rc = step(s, NULL))) goto out; /* foreign key: KG_NOTFOUND */
    }
out:
    return rc;
}

static kg_err user_insert(struct store *st, const struct kg_user *u, const struct kg_audit *audit)
{
    struct sqlite_store *ss = sq(st);
    sqlite3_stmt *s;
    kg_err rc;

    if (!user_valid(u)) return KG_INVALID;
    lock(ss);
    if ((rc = begin_write(ss))) goto out;
    if ((rc = prep(ss, S_USER_INSERT, &s))) goto out;
    BIND(bind_text(s, 1, u->user_id));
    BIND(bind_text(s, 2, u->email));
    BIND(bind_text(s, 3, u->password_hash));
    BIND(sqlite3_bind_int64(s, 4, u->created_on));
    if ((rc = step(s, NULL))) goto out; /* KG_CONFLICT on a taken id or email */
    if ((rc = put_user_roles(ss, u))) goto out;
    if ((rc = bump(ss, 0, NULL))) goto out;
    rc = commit_audited(ss, audit);
out:
    finish(ss);
    return rc;
}

/* Fetches one user by the key bound to statement `id`. */
static kg_err user_get_by(struct sqlite_store *ss, enum stmt_id id, const char *key,
                          struct kg_user *out)
{
    sqlite3_stmt *s;
    int row = 0;
    kg_err rc;

    if (!key || !out) return KG_INVALID;
    lock(ss);
    if ((rc = begin_read(ss))) goto out;
    if ((rc = prep(ss, id, &s))) goto out;
    BIND(bind_text(s, 1, key));
    if ((rc = step(s, &row))) goto out;
    rc = row ? read_user(ss, s, out) : KG_NOTFOUND;
out:
    finish(ss);
    return rc;
}

static kg_err user_get(struct store *st, const char *user_id, struct kg_user *out)
{
    return user_get_by(sq(st), S_USER_GET, user_id, out);
}

static kg_err user_get_by_email(struct store *st, const char *email, struct kg_user *out)
{
    return user_get_by(sq(st), S_USER_GET_BY_EMAIL, email, out);
}

static kg_err user_list(struct store *st, int64_t after_seq, size_t limit, struct kg_user **out,
                        size_t *n)
{
    struct sqlite_store *ss = sq(st);
    struct kg_user *arr = NULL, *p;
    size_t cap = 0, cnt = 0;
    sqlite3_stmt *s;
    int row;
    kg_err rc;

    if (!out || !n) return KG_INVALID;
    *out = NULL;
    *n = 0;
    lock(ss);
    if ((rc = begin_read(ss))) goto out;
    if ((rc = prep(ss, S_USER_LIST, &s))) goto out;
    BIND(sqlite3_bind_int64(s, 1, after_seq));
    BIND(sqlite3_bind_int64(s, 2, list_limit(limit)));
    for (;;) {
        if ((rc = step(s, &row))) goto out;
        if (!row) break;
        if (cnt == cap) {
            if (!(p = grow(arr, &cap, sizeof *arr))) {
                rc = KG_ENOMEM;
                goto out;
            }
            arr = p;
        }
        if ((rc = read_user(ss, s, &arr[cnt]))) goto out;
        cnt++;
    }
    *out = arr; /* handed to the caller */
    *n = cnt;
    arr = NULL;
out:
    free(arr);
    finish(ss);
    return rc;
}

static kg_err user_update(struct store *st, const struct kg_user *u, const struct kg_audit *audit)
{
    struct sqlite_store *ss = sq(st);
    sqlite3_stmt *s;
    kg_err rc;

    if (!user_valid(u)) return KG_INVALID;
    lock(ss);
    if ((rc = begin_write(ss))) goto out;
    if ((rc = prep(ss, S_USER_UPDATE, &s))) goto out;
    BIND(bind_text(s, 1, u->user_id));
    BIND(bind_text(s, 2, u->email));
    BIND(bind_text(s, 3, u->password_hash));
    if ((rc = step(s, NULL))) goto out; /* KG_CONFLICT on a taken email */
    if (sqlite3_changes(ss->db) == 0) {
        rc = KG_NOTFOUND;
        goto out;
    }
    if ((rc = put_user_roles(ss, u))) goto out;
    if ((rc = bump(ss, 0, NULL))) goto out;
    rc = commit_audited(ss, audit);
out:
    finish(ss);
    return rc;
}

static kg_err user_delete(struct store *st, const char *user_id, const struct kg_audit *audit)
{
    struct sqlite_store *ss = sq(st);
    kg_err rc;

    if (!user_id) return KG_INVALID;
    lock(ss);
    if ((rc = begin_write(ss))) goto out;
    if ((rc = run_key(ss, S_USER_ROLES_CLEAR, user_id))) goto out;
    if ((rc = run_key(ss, S_USER_DELETE, user_id))) goto out;
    if (sqlite3_changes(ss->db) == 0) {
        rc = KG_NOTFOUND;
        goto out;
    }
    if ((rc = bump(ss, 0, NULL))) goto out;
    rc = commit_audited(ss, audit);
out:
    finish(ss);
    return rc;
}

static kg_err user_count(struct store *st, int64_t *n)
{
    struct sqlite_store *ss = sq(st);
    sqlite3_stmt *s;
    int row = 0;
    kg_err rc;

    if (!n) return KG_INVALID;
    lock(ss);
    if ((rc = prep(ss, S_USER_COUNT, &s))) goto out;
    if ((rc = step(s, &row))) goto out;
    *n = row ? sqlite3_column_int64(s, 0) : 0;
out:
    finish(ss);
    return rc;
}

/* ---- audit log ----------------------------------------------------------------------------- */

static kg_err audit_append(struct store *st, const struct kg_audit *e)
{
    struct sqlite_store *ss = sq(st);
    kg_err rc;

    lock(ss);
    if ((rc = begin_write(ss))) goto out;
    rc = commit_audited(ss, e); /* no version bump: nothing in memory follows the audit log */
out:
    finish(ss);
    return rc;
}

static kg_err audit_list(struct store *st, const struct kg_audit_filter *f, int64_t before_seq,
                         size_t limit, struct kg_audit **out, size_t *n)
{
    struct sqlite_store *ss = sq(st);
    sqlite3_stmt *s;
    struct kg_audit *arr = NULL;
    int64_t lim = list_limit(limit);
    size_t cnt = 0;
    int row = 0;
    kg_err rc;

    if (!f || !out || !n || !fits(f->actor, sizeof f->actor)) return KG_INVALID;
    *out = NULL;
    *n = 0;
    if (lim > 0 && !(arr = calloc((size_t)lim, sizeof *arr))) return KG_ENOMEM;
    lock(ss);
    if ((rc = prep(ss, S_AUDIT_LIST, &s))) goto out;
    BIND(sqlite3_bind_int64(s, 1, before_seq > 0 ? before_seq : INT64_MAX));
    BIND(bind_text(s, 2, f->actor));
    BIND(sqlite3_bind_int64(s, 3, f->since));
    BIND(sqlite3_bind_int64(s, 4, f->until > 0 ? f->until : INT64_MAX));
    BIND(sqlite3_bind_int64(s, 5, lim));
    while ((int64_t)cnt < lim) {
        if ((rc = step(s, &row)) || !row) break;
        struct kg_audit *e = &arr[cnt];
        e->seq = sqlite3_column_int64(s, 0);
        e->at = sqlite3_column_int64(s, 1);
        if ((rc = col_text(s, 2, e->actor, sizeof e->actor)) ||
            (rc = col_text(s, 3, e->action, sizeof e->action)) ||
            (rc = col_text(s, 4, e->target, sizeof e->target)) ||
            (rc = col_text(s, 5, e->address, sizeof e->address)) ||
            (rc = col_text(s, 6, e->outcome, sizeof e->outcome)) ||
            (rc = col_text(s, 7, e->detail, sizeof e->detail)))
            break;
        cnt++;
    }
out:
    finish(ss);
    if (rc != KG_OK || cnt == 0) {
        free(arr);
        return rc;
    }
    *out = arr; /* handed to the caller */
    *n = cnt;
    return KG_OK;
}

/* ---- opening and closing ------------------------------------------------------------------- */

/* Finalises the statements, closes the connection and frees the store. */
static void close_db(struct store *st)
{
    struct sqlite_store *ss = sq(st);

    for (size_t i = 0; i < S_COUNT; i++)
        sqlite3_finalize(ss->stmt[i]);
    sqlite3_close(ss->db); /* NULL is a no-op; last one out checkpoints the WAL */
    pthread_mutex_destroy(&ss->mu);
    free(ss);
}

static const struct store_ops ops = {
    .close = close_db,
    .version = version,
    .token_insert = token_insert,
    .token_get = token_get,
    .token_list = token_list,
    .token_revoke = token_revoke,
    .token_touch = token_touch,
    .token_changes = token_changes,
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
};

/*
 * Opens (creating and migrating if needed) the SQLite database file at `path`.  Caller owns
 * *out (store_free()).  KG_IO when the file cannot be opened, WAL or foreign keys are refused,
 * or the schema is newer than this build; KG_UNAVAILABLE when another process holds the lock
 * beyond the busy timeout.
 */
kg_err store_sqlite_open(const char *path, struct store **out)
{
    struct sqlite_store *ss;
    kg_err rc;
    int src;

    assert(out);
    *out = NULL;
    if (!path || !*path) return KG_INVALID;
    if (!(ss = calloc(1, sizeof *ss))) return KG_ENOMEM;
    if (pthread_mutex_init(&ss->mu, NULL) != 0) {
        free(ss);
        return KG_ENOMEM;
    }
    ss->base.ops = &ops;
    src = sqlite3_open_v2(path, &ss->db,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        rc = src == SQLITE_NOMEM ? KG_ENOMEM : KG_IO;
        goto out;
    }
    sqlite3_extended_result_codes(ss->db, 1);
    if ((rc = configure(ss))) goto out;
    if ((rc = migrate(ss))) goto out;
    *out = &ss->base; /* handed to the caller */
    ss = NULL;
out:
    if (ss) close_db(&ss->base);
    return rc;
}
