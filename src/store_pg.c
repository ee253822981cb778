/*
 * store_pg.c — the PostgreSQL backend of the store (store.h): schema, migrations, queries.
 * The only file in keygate that includes libpq-fe.h.  It mirrors store_sqlite.c: the same
 * tables, the same version rules and the same error codes for the same situations.
 *
 * The file is divided into: the connection and its prepared-statement table; helpers
 * (error mapping, parameters, reading results); running a call (locking, reconnecting,
 * transactions and retries); the schema and its migrations; the operations in store.h order
 * (versions, tokens, roles, privileges, users); and store_pg_open() with the ops table.
 *
 * Concurrency.  One PGconn per struct store, used only under its mutex, so calls from several
 * threads are serialised.  Other processes share the database through PostgreSQL.  Every
 * write runs in one READ COMMITTED transaction that first locks the meta row
 * (SELECT ... FOR UPDATE): writers from every process therefore run one at a time, as under
 * SQLite's BEGIN IMMEDIATE, so the checks a write makes (role exists, no cycle, role unused)
 * still hold at its commit, and data_ver is handed out in commit order — a change-feed reader
 * that has seen data_ver N has seen every row stamped N or lower.  token_touch alone skips
 * the meta lock (it bumps nothing and only raises a timestamp).  A transaction that fails
 * with serialization_failure or deadlock_detected is retried a few times.
 *
 * Audit entries.  A change's entry (store.h, "Audited changes") is inserted by run_audited()
 * after the change's body and before its COMMIT, in the same transaction (and retried with it).
 *
 * Reads are single statements (a role's or user's grants come back in the same query, one
 * row per grant), so each sees one snapshot without a transaction; the change feeds read
 * through a cursor inside one REPEATABLE READ READ ONLY transaction, FEED_BATCH rows at a
 * time, so a million tokens never sit in memory at once.
 *
 * Connection loss.  A failed call whose connection is gone returns KG_UNAVAILABLE; the next
 * call PQreset()s it, so the store recovers by itself when the server is back.  A call that
 * finds the connection dead at its first statement (nothing done yet) reconnects and runs
 * again at once; a write whose COMMIT was lost is not re-run (its outcome is unknown).
 *
 * Versions: as in store_sqlite.c (meta.data_ver / roles_ver, tokens.ver, revoked_jti.ver).
 *
 * Schema changes: append a migration to migrations[] and raise SCHEMA_VERSION; never edit an
 * applied one.  Migrations run under a transaction-level advisory lock, so nodes starting
 * together migrate once.
 */
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCHEMA_VERSION 3
#define LIST_MAX 1001       /* rows returned by one list call, as in store_sqlite.c */
#define MAX_ATTEMPTS 5      /* runs of one call: the first and retries after 40001/40P01 */
#define FEED_BATCH 1000     /* rows fetched from a change-feed cursor at a time */
#define CONNECT_TIMEOUT "5" /* seconds; a connect_timeout in the URI wins */
#define LOCK_TIMEOUT "5s"   /* like SQLite's busy timeout: then KG_UNAVAILABLE */
#define STR_(x) #x
#define STR(x) STR_(x)
/* pg_advisory_xact_lock key of migrations: the bytes "keygate1" as a big-endian int64. */
#define MIGRATE_LOCK_KEY 7738144525137111345
#define MAX_PARAMS 11
#define JTI_MAX 64

/* ---- the connection and its statements ----------------------------------------------------- */

enum stmt_id {
    S_BEGIN_WRITE,
    S_BEGIN_SNAPSHOT,
    S_COMMIT,
    S_ROLLBACK,
    S_LOCK_META,
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
    S_TOKEN_FEED,
    S_ROLE_INSERT,
    S_ROLE_GET,
    S_ROLE_GET_BY_NAME,
    S_ROLE_LIST,
    S_ROLE_UPDATE,
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
    S_USER_UPDATE,
    S_USER_ROLES_CLEAR,
    S_USER_ROLE_INSERT,
    S_USER_DELETE,
    S_USER_COUNT,
    S_JTI_REVOKE,
    S_JTI_FEED,
    S_JTI_PURGE,
    S_AUDIT_INSERT,
    S_AUDIT_LIST,
    S_FEED_FETCH,
    S_COUNT
};

#define TOKEN_SELECT                                                                               \
    "SELECT t.seq, t.client_id, t.secret_hash, t.description, t.role_id,"                          \
    " coalesce(r.role_name, ''), t.status, t.created_on, t.last_access_on, t.revoked_on,"          \
    " t.expires_on, t.created_by"                                                                  \
    " FROM tokens t LEFT JOIN roles r ON r.role_id = t.role_id"
/* One row per (role, granted role), or one row with a NULL grant; grants in the granted role's
 * seq order.  `cond` picks the roles (and may order and limit them). */
#define ROLE_SELECT(cond)                                                                          \
    "SELECT r.seq, r.role_id, r.role_name, r.description, r.created_on, r.modified_on,"            \
    " g.granted_role_id"                                                                           \
    " FROM (SELECT * FROM roles " cond ") r"                                                       \
    " LEFT JOIN (role_grants g JOIN roles gr ON gr.role_id = g.granted_role_id)"                   \
    " ON g.role_id = r.role_id ORDER BY r.seq, gr.seq"
#define USER_SELECT(cond)                                                                          \
    "SELECT u.seq, u.user_id, u.email, u.password_hash, u.created_on, ur.role_id"                  \
    " FROM (SELECT * FROM users " cond ") u"                                                       \
    " LEFT JOIN (user_roles ur JOIN roles r ON r.role_id = ur.role_id)"                            \
    " ON ur.user_id = u.user_id ORDER BY u.seq, r.seq"
/* Emails compare as SQLite's NOCASE does: ASCII letters folded only ("C" collation). */
#define EMAIL_KEY(x) "lower(" x " COLLATE \"C\")"

static const char *const sql[S_COUNT] = {
    [S_BEGIN_WRITE] = "BEGIN ISOLATION LEVEL READ COMMITTED",
    [S_BEGIN_SNAPSHOT] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    /* Taken first by every write but touch: writers run one at a time (file comment). */
    [S_LOCK_META] = "SELECT data_ver FROM meta WHERE id = 1 FOR UPDATE",
    [S_VERSION] = "SELECT data_ver, roles_ver FROM meta WHERE id = 1",
    /* In an UPDATE the right-hand sides see the old row, so roles_ver gets the new data_ver. */
    [S_BUMP] = "UPDATE meta SET data_ver = data_ver + 1 WHERE id = 1 RETURNING data_ver",
    [S_BUMP_ROLES] = "UPDATE meta SET data_ver = data_ver + 1, roles_ver = data_ver + 1"
                     " WHERE id = 1 RETURNING data_ver",
    [S_ROLE_EXISTS] = "SELECT 1 FROM roles WHERE role_id = $1",

    [S_TOKEN_INSERT] = "INSERT INTO tokens (client_id, secret_hash, description, role_id, status,"
                       " created_on, last_access_on, revoked_on, expires_on, created_by, ver)"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    [S_TOKEN_GET] = TOKEN_SELECT " WHERE t.client_id = $1",
    [S_TOKEN_LIST] = TOKEN_SELECT " WHERE t.seq < $1 ORDER BY t.seq DESC LIMIT $2",
    [S_TOKEN_STATUS] = "SELECT status FROM tokens WHERE client_id = $1",
    [S_TOKEN_REVOKE] = "UPDATE tokens SET status = 1, revoked_on = $2, ver = $3"
                       " WHERE client_id = $1 AND status = 0",
    [S_TOKEN_TOUCH] = "UPDATE tokens SET last_access_on = $2"
                      " WHERE client_id = $1 AND coalesce(last_access_on, 0) < $2",
    [S_TOKEN_FEED] =
        "DECLARE feed NO SCROLL CURSOR FOR " TOKEN_SELECT " WHERE t.ver > $1 ORDER BY t.ver, t.seq",

    [S_ROLE_INSERT] = "INSERT INTO roles (role_id, role_name, description, created_on, modified_on)"
                      " VALUES ($1, $2, $3, $4, $5)",
    [S_ROLE_GET] = ROLE_SELECT("WHERE role_id = $1"),
    [S_ROLE_GET_BY_NAME] = ROLE_SELECT("WHERE role_name = $1"),
    [S_ROLE_LIST] = ROLE_SELECT("WHERE seq > $1 ORDER BY seq LIMIT $2"),
    [S_ROLE_UPDATE] = "UPDATE roles SET role_name = $2, description = $3, modified_on = $4"
                      " WHERE role_id = $1",
    [S_GRANTS_CLEAR] = "DELETE FROM role_grants WHERE role_id = $1",
    /* DO NOTHING drops a duplicate in the list; it does not cover foreign keys. */
    [S_GRANT_INSERT] = "INSERT INTO role_grants (role_id, granted_role_id) VALUES ($1, $2)"
                       " ON CONFLICT DO NOTHING",
    /* Is $1 reachable from itself through role_grants?  UNION stops at rows already seen. */
    [S_ROLE_CYCLE] =
        "WITH RECURSIVE reach(id) AS ("
        " SELECT granted_role_id FROM role_grants WHERE role_id = $1"
        " UNION"
        " SELECT g.granted_role_id FROM role_grants g JOIN reach ON g.role_id = reach.id)"
        " SELECT 1 FROM reach WHERE id = $1 LIMIT 1",
    [S_ROLE_TOKEN_HOLDS] = "SELECT 1 FROM tokens WHERE role_id = $1 AND status = 0 LIMIT 1",
    [S_ROLE_USER_HOLDS] = "SELECT 1 FROM user_roles WHERE role_id = $1 LIMIT 1",
    [S_ROLE_DEL_PRIVS] = "DELETE FROM privileges WHERE role_id = $1",
    [S_ROLE_DEL_GRANTS] = "DELETE FROM role_grants WHERE role_id = $1 OR granted_role_id = $1",
    [S_ROLE_DELETE] = "DELETE FROM roles WHERE role_id = $1",

    /* The WHERE makes re-granting the same kind a no-op (0 rows). */
    [S_PRIV_GRANT] =
        "INSERT INTO privileges (role_id, name, kind, granted_on) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (role_id, name) DO UPDATE SET kind = excluded.kind,"
        " granted_on = excluded.granted_on WHERE privileges.kind <> excluded.kind",
    [S_PRIV_REVOKE] = "DELETE FROM privileges WHERE role_id = $1 AND kind = $2 AND name = $3",
    /* COLLATE "C": byte order, as SQLite's BINARY. */
    [S_PRIV_LIST_ALL] = "SELECT p.role_id, p.kind, p.name FROM privileges p"
                        " JOIN roles r ON r.role_id = p.role_id"
                        " ORDER BY r.seq, p.name COLLATE \"C\"",
    [S_PRIV_LIST_ROLE] = "SELECT role_id, kind, name FROM privileges WHERE role_id = $1"
                         " ORDER BY name COLLATE \"C\"",

    [S_USER_INSERT] = "INSERT INTO users (user_id, email, password_hash, created_on)"
                      " VALUES ($1, $2, $3, $4)",
    [S_USER_GET] = USER_SELECT("WHERE user_id = $1"),
    [S_USER_GET_BY_EMAIL] = USER_SELECT("WHERE " EMAIL_KEY("email") " = " EMAIL_KEY("$1::text")),
    [S_USER_LIST] = USER_SELECT("WHERE seq > $1 ORDER BY seq LIMIT $2"),
    [S_USER_UPDATE] = "UPDATE users SET email = $2, password_hash = $3 WHERE user_id = $1",
    [S_USER_ROLES_CLEAR] = "DELETE FROM user_roles WHERE user_id = $1",
    [S_USER_ROLE_INSERT] = "INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2)"
                           " ON CONFLICT DO NOTHING",
    [S_USER_DELETE] = "DELETE FROM users WHERE user_id = $1",
    [S_USER_COUNT] = "SELECT count(*) FROM users",
    [S_JTI_REVOKE] = "INSERT INTO revoked_jti (jti, client_id, exp, ver) VALUES ($1, $2, $3, $4)"
                     " ON CONFLICT (jti) DO NOTHING",
    [S_JTI_FEED] = "DECLARE feed NO SCROLL CURSOR FOR"
                   " SELECT jti, client_id, exp, ver FROM revoked_jti"
                   " WHERE ver > $1 AND exp > $2 ORDER BY ver",
    [S_JTI_PURGE] = "DELETE FROM revoked_jti WHERE exp <= $1",
    [S_AUDIT_INSERT] = "INSERT INTO audit_log (at, actor, action, target, address, outcome, detail)"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7)",
    [S_AUDIT_LIST] = "SELECT seq, at, actor, action, target, address, outcome, detail FROM audit_log"
                     " WHERE seq < $1 AND ($2 = '' OR actor = $2) AND at >= $3 AND at < $4"
                     " ORDER BY seq DESC LIMIT $5",
    [S_FEED_FETCH] = "FETCH " STR(FEED_BATCH) " FROM feed",
};

struct pg_store {
    struct store base; /* first: a struct store * points here */
    pthread_mutex_t mu;
    PGconn *conn;
    unsigned char prepared[S_COUNT]; /* on this connection; cleared when it is reset */
    char sqlstate[6];                /* of the last failed statement, "" if none */
    int lost;                        /* the last failure was the connection going away */
    int nexec;                       /* statements sent in the current attempt */
    int fail_at;                     /* nexec of the statement that failed */
};

static struct pg_store *pg(struct store *st)
{
    assert(st);
    return (struct pg_store *)st;
}

/* ---- helpers ------------------------------------------------------------------------------- */

/* Maps an SQLSTATE to a kg_err. */
static kg_err map_sqlstate(const char *s)
{
    if (!strcmp(s, "23505")) return KG_CONFLICT; /* unique_violation */
    if (!strcmp(s, "23503")) return KG_NOTFOUND; /* foreign_key_violation: a referenced role */
    if (!strcmp(s, "40001") || !strcmp(s, "40P01")) return KG_UNAVAILABLE; /* retries spent */
    if (!strncmp(s, "08", 2) || !strncmp(s, "53", 2) || !strncmp(s, "57", 2) ||
        !strcmp(s, "55P03")) /* connection, resources, shutdown/cancel, lock_timeout */
        return KG_UNAVAILABLE;
    return KG_IO;
}

static int transient(const char *s)
{
    return !strcmp(s, "40001") || !strcmp(s, "40P01");
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

/* Statement parameters, all sent as text but the secret hash (binary). */
struct params {
    int n;
    const char *v[MAX_PARAMS];
    int len[MAX_PARAMS];
    int fmt[MAX_PARAMS];
    char num[MAX_PARAMS][24];
};

static void p_text(struct params *p, const char *s)
{
    assert(p->n < MAX_PARAMS);
    p->v[p->n] = s;
    p->len[p->n] = 0;
    p->fmt[p->n] = 0;
    p->n++;
}

static void p_int(struct params *p, int64_t v)
{
    assert(p->n < MAX_PARAMS);
    snprintf(p->num[p->n], sizeof p->num[p->n], "%lld", (long long)v);
    p_text(p, p->num[p->n]);
}

/* A time of 0 ("null") is stored as NULL. */
static void p_time(struct params *p, int64_t v)
{
    if (v) {
        p_int(p, v);
    } else {
        p_text(p, NULL);
    }
}

static void p_blob(struct params *p, const void *b, int len)
{
    assert(p->n < MAX_PARAMS);
    p->v[p->n] = b;
    p->len[p->n] = len;
    p->fmt[p->n] = 1;
    p->n++;
}

/* One-text-parameter list, the commonest case. */
static struct params key1(const char *key)
{
    struct params p = {0};
    p_text(&p, key);
    return p;
}

/* Parses text column i of row r as an int64; NULL reads 0.  KG_IO if it is not a number. */
static kg_err col_i64(const PGresult *res, int r, int i, int64_t *v)
{
    const char *s;
    char *end;
    long long x;

    *v = 0;
    if (PQgetisnull(res, r, i)) return KG_OK;
    s = PQgetvalue(res, r, i);
    errno = 0;
    x = strtoll(s, &end, 10);
    if (errno || end == s || *end) return KG_IO;
    *v = x;
    return KG_OK;
}

static int col_int(const PGresult *res, int r, int i)
{
    int64_t v;
    return col_i64(res, r, i, &v) || v < INT32_MIN || v > INT32_MAX ? -1 : (int)v;
}

/* Copies text column i of row r into dst[cap]; NULL reads "".  KG_IO if it does not fit. */
static kg_err col_text(const PGresult *res, int r, int i, char *dst, size_t cap)
{
    size_t len;

    dst[0] = '\0';
    if (PQgetisnull(res, r, i)) return KG_OK;
    len = (size_t)PQgetlength(res, r, i);
    if (len >= cap) return KG_IO;
    memcpy(dst, PQgetvalue(res, r, i), len);
    dst[len] = '\0';
    return KG_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes a bytea column (text result, hex output "\x...") of exactly KG_HASH_LEN bytes. */
static kg_err col_hash(const PGresult *res, int r, int i, unsigned char *dst)
{
    const char *s = PQgetvalue(res, r, i);

    if (PQgetisnull(res, r, i) || PQgetlength(res, r, i) != 2 + 2 * KG_HASH_LEN || s[0] != '\\' ||
        s[1] != 'x')
        return KG_IO;
    for (int k = 0; k < KG_HASH_LEN; k++) {
        int hi = hexval(s[2 + 2 * k]), lo = hexval(s[3 + 2 * k]);
        if (hi < 0 || lo < 0) return KG_IO;
        dst[k] = (unsigned char)(hi << 4 | lo);
    }
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

/* Rows changed by the command of `res` (0 when it says nothing). */
static int64_t affected(PGresult *res) /* not const: PQcmdTuples() takes a plain pointer */
{
    const char *s = PQcmdTuples(res);
    return *s ? strtoll(s, NULL, 10) : 0;
}

/* ---- running statements -------------------------------------------------------------------- */

/* Records why `res` (possibly NULL) failed; returns the kg_err.  Takes `res`. */
static kg_err failed(struct pg_store *ps, PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    kg_err rc;

    ps->fail_at = ps->nexec;
    ps->lost = PQstatus(ps->conn) != CONNECTION_OK;
    snprintf(ps->sqlstate, sizeof ps->sqlstate, "%s", state ? state : "");
    if (ps->lost)
        rc = KG_UNAVAILABLE;
    else if (state)
        rc = map_sqlstate(state);
    else
        rc = res ? KG_IO : KG_ENOMEM;
    PQclear(res);
    return rc;
}

/*
 * Runs statement `id` (prepared on this connection on first use) with `p` (NULL: none).  On
 * KG_OK *out (if out is not NULL) holds the result, which the caller PQclear()s; else the
 * error is recorded (see failed()).
 */
static kg_err exec(struct pg_store *ps, enum stmt_id id, const struct params *p, PGresult **out)
{
    static const struct params none = {0};
    PGresult *res;
    ExecStatusType est;
    char name[16];

    if (out) *out = NULL;
    if (!p) p = &none;
    ps->nexec++;
    snprintf(name, sizeof name, "kg%d", (int)id);
    if (!ps->prepared[id]) {
        res = PQprepare(ps->conn, name, sql[id], 0, NULL);
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) return failed(ps, res);
        PQclear(res);
        ps->prepared[id] = 1;
    }
    res = PQexecPrepared(ps->conn, name, p->n, p->v, p->len, p->fmt, 0);
    est = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (est != PGRES_COMMAND_OK && est != PGRES_TUPLES_OK) return failed(ps, res);
    if (out)
        *out = res; /* handed to the caller */
    else
        PQclear(res);
    return KG_OK;
}

/* Runs statement `id` and tells whether it returned a row. */
static kg_err exists(struct pg_store *ps, enum stmt_id id, const struct params *p, int *found)
{
    PGresult *res;
    kg_err rc = exec(ps, id, p, &res);

    *found = 0;
    if (rc) return rc;
    *found = PQntuples(res) > 0;
    PQclear(res);
    return KG_OK;
}

/* Runs a write statement `id` and gives the number of rows it changed (changed may be NULL). */
static kg_err change(struct pg_store *ps, enum stmt_id id, const struct params *p, int64_t *changed)
{
    PGresult *res;
    kg_err rc = exec(ps, id, p, &res);

    if (rc) return rc;
    if (changed) *changed = affected(res);
    PQclear(res);
    return KG_OK;
}

/* Raises data_ver (and sets roles_ver to it when `roles`); the new data_ver in *ver. */
static kg_err bump(struct pg_store *ps, int roles, int64_t *ver)
{
    PGresult *res;
    int64_t v = 0;
    kg_err rc = exec(ps, roles ? S_BUMP_ROLES : S_BUMP, NULL, &res);

    if (rc) return rc;
    if (PQntuples(res) != 1)
        rc = KG_IO; /* meta row missing */
    else
        rc = col_i64(res, 0, 0, &v);
    PQclear(res);
    if (!rc && ver) *ver = v;
    return rc;
}

/* Runs SQL without parameters (several statements allowed): schema scripts only. */
static kg_err exec_script(struct pg_store *ps, const char *script)
{
    PGresult *res;

    ps->nexec++;
    res = PQexec(ps->conn, script);
    if (!res || (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK))
        return failed(ps, res);
    PQclear(res);
    return KG_OK;
}

/* ---- audit entries ------------------------------------------------------------------------- */

/* Inserts entry e inside the caller's transaction. */
static kg_err put_audit(struct pg_store *ps, const struct kg_audit *e)
{
    struct params p = {0};

    p_int(&p, e->at);
    p_text(&p, e->actor);
    p_text(&p, e->action);
    p_text(&p, e->target);
    p_text(&p, e->address);
    p_text(&p, e->outcome);
    p_text(&p, e->detail);
    return exec(ps, S_AUDIT_INSERT, &p, NULL);
}

/* ---- running a call ------------------------------------------------------------------------ */

enum mode {
    M_READ,       /* one statement, autocommit */
    M_WRITE,      /* READ COMMITTED, meta row locked first */
    M_WRITE_FREE, /* READ COMMITTED, no meta lock (token_touch) */
    M_SNAPSHOT,   /* REPEATABLE READ READ ONLY (change feeds) */
};

typedef kg_err (*body_fn)(struct pg_store *ps, void *arg);

/* Per-session settings, after every (re)connect.  Notices (e.g. from IF EXISTS) are dropped. */
static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static kg_err session_setup(struct pg_store *ps)
{
    memset(ps->prepared, 0, sizeof ps->prepared);
    if (PQsetClientEncoding(ps->conn, "UTF8") != 0) return KG_UNAVAILABLE;
    return exec_script(ps, "SET lock_timeout = '" LOCK_TIMEOUT "'");
}

/* Makes sure the connection is up, resetting it when a previous call lost it. */
static kg_err connection(struct pg_store *ps)
{
    if (PQstatus(ps->conn) == CONNECTION_OK) return KG_OK;
    PQreset(ps->conn);
    if (PQstatus(ps->conn) != CONNECTION_OK) return KG_UNAVAILABLE;
    return session_setup(ps);
}

/* Leaves no transaction open: rolls back a failed or unfinished one. */
static void end_txn(struct pg_store *ps)
{
    PGTransactionStatusType ts = PQtransactionStatus(ps->conn);

    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) PQclear(PQexec(ps->conn, "ROLLBACK"));
}

/* Sleeps a few ms, more after each attempt, jittered by the clock so retriers drift apart. */
static void backoff(int attempt)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts = (struct timespec){0, (1 + attempt * 2 + ts.tv_nsec % 5) * 1000000L};
    nanosleep(&ts, NULL);
}

/*
 * Runs fn(ps, arg) under the mutex, in a transaction of `mode`, committed when fn returns
 * KG_OK, with the audit entry `audit` (NULL: none) inserted between fn and the COMMIT.
 * Re-runs it after a serialization failure or deadlock, and once after finding the
 * connection dead at the first statement.  fn must reset its outputs when it starts.
 */
static kg_err run_audited(struct pg_store *ps, enum mode mode, body_fn fn, void *arg,
                          const struct kg_audit *audit)
{
    int reconnected = 0;
    kg_err rc = KG_UNAVAILABLE;

    pthread_mutex_lock(&ps->mu);
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        if ((rc = connection(ps))) break;
        ps->nexec = 0;
        ps->fail_at = 0;
        ps->lost = 0;
        ps->sqlstate[0] = '\0';
        if (mode == M_WRITE || mode == M_WRITE_FREE)
            rc = exec(ps, S_BEGIN_WRITE, NULL, NULL);
        else if (mode == M_SNAPSHOT)
            rc = exec(ps, S_BEGIN_SNAPSHOT, NULL, NULL);
        if (!rc && mode == M_WRITE) rc = exec(ps, S_LOCK_META, NULL, NULL);
        if (!rc) rc = fn(ps, arg);
        if (!rc && audit) rc = put_audit(ps, audit);
        if (!rc && mode != M_READ) rc = exec(ps, S_COMMIT, NULL, NULL);
        if (!ps->lost) end_txn(ps);
        if (rc == KG_OK) break;
        if (ps->lost && ps->fail_at == 1 && !reconnected) {
            reconnected = 1; /* nothing was done: reconnect and run again */
            continue;
        }
        if (!ps->lost && transient(ps->sqlstate) && attempt + 1 < MAX_ATTEMPTS) {
            backoff(attempt);
            continue;
        }
        break;
    }
    pthread_mutex_unlock(&ps->mu);
    return rc;
}

/* run_audited() without an entry. */
static kg_err run(struct pg_store *ps, enum mode mode, body_fn fn, void *arg)
{
    return run_audited(ps, mode, fn, arg, NULL);
}

/* ---- schema and migrations ---------------------------------------------------------------- */

/*
 * Version 1: the tables of store_sqlite.c's version 1 in PostgreSQL types.  Times are BIGINT
 * ms, NULL where the model says 0; seq is an identity column (never reused); emails are
 * unique without regard to ASCII case (an index on their folded form).  tokens.role_id is not
 * a foreign key: a revoked token keeps the id of a role deleted after it.
 */
static const char schema_v1[] =
    "CREATE TABLE meta ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " data_ver BIGINT NOT NULL,"
    " roles_ver BIGINT NOT NULL);"
    /* The built-in roles seeded below are write number 1. */
    "INSERT INTO meta (id, data_ver, roles_ver) VALUES (1, 1, 1);"

    "CREATE TABLE roles ("
    " seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " role_id TEXT NOT NULL UNIQUE,"
    " role_name TEXT NOT NULL UNIQUE,"
    " description TEXT NOT NULL DEFAULT '',"
    " created_on BIGINT NOT NULL,"
    " modified_on BIGINT NOT NULL);"

    "CREATE TABLE role_grants ("
    " role_id TEXT NOT NULL REFERENCES roles (role_id),"
    " granted_role_id TEXT NOT NULL REFERENCES roles (role_id),"
    " PRIMARY KEY (role_id, granted_role_id));"
    "CREATE INDEX role_grants_granted ON role_grants (granted_role_id);"

    "CREATE TABLE privileges ("
    " role_id TEXT NOT NULL REFERENCES roles (role_id),"
    " name TEXT NOT NULL,"
    " kind SMALLINT NOT NULL CHECK (kind IN (0, 1)),"
    " granted_on BIGINT NOT NULL,"
    " PRIMARY KEY (role_id, name));"

    "CREATE TABLE tokens ("
    " seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " client_id TEXT NOT NULL UNIQUE,"
    " secret_hash BYTEA NOT NULL CHECK (length(secret_hash) = 32),"
    " description TEXT NOT NULL DEFAULT '',"
    " role_id TEXT NOT NULL,"
    " status SMALLINT NOT NULL CHECK (status IN (0, 1)),"
    " created_on BIGINT NOT NULL,"
    " last_access_on BIGINT,"
    " revoked_on BIGINT,"
    " expires_on BIGINT,"
    " created_by TEXT NOT NULL DEFAULT '',"
    " ver BIGINT NOT NULL);"
    "CREATE INDEX tokens_ver ON tokens (ver);"
    "CREATE INDEX tokens_role ON tokens (role_id, status);"

    "CREATE TABLE users ("
    " seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " user_id TEXT NOT NULL UNIQUE,"
    " email TEXT NOT NULL,"
    " password_hash TEXT NOT NULL,"
    " created_on BIGINT NOT NULL);"
    "CREATE UNIQUE INDEX users_email ON users (" EMAIL_KEY(
        "email") ");"

                 "CREATE TABLE user_roles ("
                 " user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,"
                 " role_id TEXT NOT NULL REFERENCES roles (role_id),"
                 " PRIMARY KEY (user_id, role_id));"
                 "CREATE INDEX user_roles_role ON user_roles (role_id);";

static kg_err seed_v1(struct pg_store *ps)
{
    static const struct {
        const char *id, *name, *desc;
    } builtin[] = {
        {"r-0000000001", KG_ROLE_ACCOUNTADMIN,
         "Holds every privilege; cannot be changed or deleted"},
        {"r-0000000002", KG_ROLE_PUBLIC, "Granted to everyone"},
    };
    int64_t now = now_ms();
    kg_err rc = KG_OK;

    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++) {
        struct params p = {0};
        p_text(&p, builtin[i].id);
        p_text(&p, builtin[i].name);
        p_text(&p, builtin[i].desc);
        p_int(&p, now);
        p_int(&p, now);
        if ((rc = exec(ps, S_ROLE_INSERT, &p, NULL))) break;
    }
    return rc;
}

/* Version 2: access tokens revoked one by one (RFC 7009), kept until they expire anyway. */
static const char schema_v2[] =
    "CREATE TABLE revoked_jti ("
    " jti TEXT PRIMARY KEY,"
    " client_id TEXT NOT NULL,"
    " exp BIGINT NOT NULL," /* seconds since the epoch, as the JWT says */
    " ver BIGINT NOT NULL);"
    "CREATE INDEX revoked_jti_ver ON revoked_jti (ver);"
    "CREATE INDEX revoked_jti_exp ON revoked_jti (exp);";

/* Version 3: the audit log, append-only. */
static const char schema_v3[] =
    "CREATE TABLE audit_log ("
    " seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " at BIGINT NOT NULL," /* ms */
    " actor TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " target TEXT NOT NULL,"
    " address TEXT NOT NULL,"
    " outcome TEXT NOT NULL,"
    " detail TEXT NOT NULL);"
    "CREATE INDEX audit_log_actor ON audit_log (actor, seq);"
    "CREATE INDEX audit_log_at ON audit_log (at);";

/* migrations[v] takes the schema from version v to v + 1. */
static const struct migration {
    const char *sql;
    kg_err (*after)(struct pg_store *ps); /* data to add once the SQL ran, or NULL */
} migrations[SCHEMA_VERSION] = {
    {schema_v1, seed_v1},
    {schema_v2, NULL},
    {schema_v3, NULL},
};

/*
 * Brings the schema to SCHEMA_VERSION in one transaction holding an advisory lock, so that
 * nodes opening the same database together migrate once: whoever gets the lock second finds
 * the work done.  The version lives in the one-row table schema_version.  KG_IO for a
 * database written by a newer keygate.  Runs with the mutex free (the store is not shared yet).
 */
static kg_err migrate_body(struct pg_store *ps, void *arg)
{
    PGresult *res = NULL;
    int64_t v = 0;
    kg_err rc;

    (void)arg;
    if ((rc = exec_script(ps, "SELECT pg_advisory_xact_lock(" STR(MIGRATE_LOCK_KEY) ")")))
        return rc;
    if ((rc = exec_script(ps, "CREATE TABLE IF NOT EXISTS schema_version ("
                              " id INTEGER PRIMARY KEY CHECK (id = 1),"
                              " version INTEGER NOT NULL);"
                              "INSERT INTO schema_version VALUES (1, 0) ON CONFLICT DO NOTHING")))
        return rc;
    ps->nexec++;
    res = PQexec(ps->conn, "SELECT version FROM schema_version WHERE id = 1");
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) return failed(ps, res);
    if (PQntuples(res) != 1) rc = KG_IO;
    if (!rc) rc = col_i64(res, 0, 0, &v);
    PQclear(res);
    if (rc) return rc;
    if (v < 0 || v > SCHEMA_VERSION) return KG_IO;
    if (v == SCHEMA_VERSION) return KG_OK;
    for (int64_t i = v; i < SCHEMA_VERSION; i++) {
        const struct migration *m = &migrations[i];
        if ((rc = exec_script(ps, m->sql))) return rc;
        if (m->after && (rc = m->after(ps))) return rc;
    }
    {
        struct params p = {0};
        p_int(&p, SCHEMA_VERSION);
        ps->nexec++;
        res = PQexecParams(ps->conn, "UPDATE schema_version SET version = $1 WHERE id = 1", p.n,
                           NULL, p.v, p.len, p.fmt, 0);
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) return failed(ps, res);
        PQclear(res);
    }
    return KG_OK;
}

/* ---- versions ------------------------------------------------------------------------------ */

struct version_arg {
    int64_t data_ver, roles_ver;
};

static kg_err version_body(struct pg_store *ps, void *arg)
{
    struct version_arg *a = arg;
    PGresult *res;
    kg_err rc = exec(ps, S_VERSION, NULL, &res);

    if (rc) return rc;
    if (PQntuples(res) != 1)
        rc = KG_IO;
    else if (!(rc = col_i64(res, 0, 0, &a->data_ver)))
        rc = col_i64(res, 0, 1, &a->roles_ver);
    PQclear(res);
    return rc;
}

static kg_err version(struct store *st, int64_t *data_ver, int64_t *roles_ver)
{
    struct version_arg a = {0, 0};
    kg_err rc = run(pg(st), M_READ, version_body, &a);

    if (rc) return rc;
    if (data_ver) *data_ver = a.data_ver;
    if (roles_ver) *roles_ver = a.roles_ver;
    return KG_OK;
}

/* ---- tokens -------------------------------------------------------------------------------- */

static int token_valid(const struct kg_token *t)
{
    return t && fits(t->client_id, sizeof t->client_id) && t->client_id[0] &&
           fits(t->description, sizeof t->description) && fits(t->role_id, sizeof t->role_id) &&
           fits(t->created_by, sizeof t->created_by) &&
           (t->status == KG_TOKEN_ACTIVE || t->status == KG_TOKEN_REVOKED);
}

/* Copies row r of a TOKEN_SELECT result into *t. */
static kg_err read_token(const PGresult *res, int r, struct kg_token *t)
{
    kg_err rc;

    memset(t, 0, sizeof *t);
    if ((rc = col_i64(res, r, 0, &t->seq))) return rc;
    if ((rc = col_text(res, r, 1, t->client_id, sizeof t->client_id))) return rc;
    if ((rc = col_hash(res, r, 2, t->secret_hash))) return rc;
    if ((rc = col_text(res, r, 3, t->description, sizeof t->description))) return rc;
    if ((rc = col_text(res, r, 4, t->role_id, sizeof t->role_id))) return rc;
    if ((rc = col_text(res, r, 5, t->role_name, sizeof t->role_name))) return rc;
    t->status = col_int(res, r, 6);
    if ((rc = col_i64(res, r, 7, &t->created_on))) return rc;
    if ((rc = col_i64(res, r, 8, &t->last_access_on))) return rc; /* NULL reads 0 */
    if ((rc = col_i64(res, r, 9, &t->revoked_on))) return rc;
    if ((rc = col_i64(res, r, 10, &t->expires_on))) return rc;
    return col_text(res, r, 11, t->created_by, sizeof t->created_by);
}

static kg_err token_insert_body(struct pg_store *ps, void *arg)
{
    const struct kg_token *t = arg;
    struct params p = key1(t->role_id);
    int64_t ver;
    int found = 0;
    kg_err rc;

    if ((rc = exists(ps, S_ROLE_EXISTS, &p, &found))) return rc;
    if (!found) return KG_NOTFOUND;
    if ((rc = bump(ps, 0, &ver))) return rc;
    p = (struct params){0};
    p_text(&p, t->client_id);
    p_blob(&p, t->secret_hash, KG_HASH_LEN);
    p_text(&p, t->description);
    p_text(&p, t->role_id);
    p_int(&p, t->status);
    p_int(&p, t->created_on);
    p_time(&p, t->last_access_on);
    p_time(&p, t->revoked_on);
    p_time(&p, t->expires_on);
    p_text(&p, t->created_by);
    p_int(&p, ver);
    return exec(ps, S_TOKEN_INSERT, &p, NULL); /* KG_CONFLICT on a taken client id */
}

static kg_err token_insert(struct store *st, const struct kg_token *t, const struct kg_audit *audit)
{
    if (!token_valid(t)) return KG_INVALID;
    /* t is only read by token_insert_body */
    return run_audited(pg(st), M_WRITE, token_insert_body, (void *)(uintptr_t)t, audit);
}

/* A token query `id` with parameters `p`; its rows end up in tokens[n] (the caller's). */
struct rows_arg {
    enum stmt_id id;
    struct params p;
    struct kg_token *tokens;
    size_t n;
};

static kg_err token_rows_body(struct pg_store *ps, void *arg)
{
    struct rows_arg *a = arg;
    struct kg_token *arr = NULL;
    PGresult *res;
    int rows;
    kg_err rc;

    a->tokens = NULL;
    a->n = 0;
    if ((rc = exec(ps, a->id, &a->p, &res))) return rc;
    rows = PQntuples(res);
    if (rows > 0 && !(arr = calloc((size_t)rows, sizeof *arr))) rc = KG_ENOMEM;
    for (int r = 0; !rc && r < rows; r++)
        rc = read_token(res, r, &arr[r]);
    PQclear(res);
    if (rc) {
        free(arr);
        return rc;
    }
    a->tokens = arr; /* handed to the caller */
    a->n = (size_t)rows;
    return KG_OK;
}

static kg_err token_get(struct store *st, const char *client_id, struct kg_token *out)
{
    struct rows_arg a = {.id = S_TOKEN_GET};
    kg_err rc;

    if (!client_id || !out) return KG_INVALID;
    a.p = key1(client_id);
    if ((rc = run(pg(st), M_READ, token_rows_body, &a))) return rc;
    if (a.n == 0) return KG_NOTFOUND;
    *out = a.tokens[0];
    free(a.tokens);
    return KG_OK;
}

static kg_err token_list(struct store *st, int64_t before_seq, size_t limit, struct kg_token **out,
                         size_t *n)
{
    struct rows_arg a = {.id = S_TOKEN_LIST};
    kg_err rc;

    if (!out || !n) return KG_INVALID;
    *out = NULL;
    *n = 0;
    p_int(&a.p, before_seq > 0 ? before_seq : INT64_MAX);
    p_int(&a.p, list_limit(limit));
    if ((rc = run(pg(st), M_READ, token_rows_body, &a))) return rc;
    *out = a.tokens; /* handed to the caller */
    *n = a.n;
    return KG_OK;
}

struct revoke_arg {
    const char *client_id;
    int64_t now;
    int changed;
};

static kg_err token_revoke_body(struct pg_store *ps, void *arg)
{
    struct revoke_arg *a = arg;
    struct params p = key1(a->client_id);
    PGresult *res;
    int64_t ver;
    int status;
    kg_err rc;

    a->changed = 0;
    if ((rc = exec(ps, S_TOKEN_STATUS, &p, &res))) return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return KG_NOTFOUND;
    }
    status = col_int(res, 0, 0);
    PQclear(res);
    if (status != KG_TOKEN_ACTIVE) return KG_OK; /* already revoked: kept so */
    if ((rc = bump(ps, 0, &ver))) return rc;
    p_int(&p, a->now);
    p_int(&p, ver);
    if ((rc = exec(ps, S_TOKEN_REVOKE, &p, NULL))) return rc;
    a->changed = 1;
    return KG_OK;
}

static kg_err token_revoke(struct store *st, const char *client_id, int64_t now, int *changed,
                           const struct kg_audit *audit)
{
    struct revoke_arg a = {client_id, now, 0};
    kg_err rc;

    if (changed) *changed = 0;
    if (!client_id) return KG_INVALID;
    if ((rc = run_audited(pg(st), M_WRITE, token_revoke_body, &a, audit))) return rc;
    if (changed) *changed = a.changed;
    return KG_OK;
}

struct touch_arg {
    const struct kg_touch *t;
    size_t n;
};

static kg_err token_touch_body(struct pg_store *ps, void *arg)
{
    struct touch_arg *a = arg;
    kg_err rc = KG_OK;

    /* One statement per token: fine for a written-behind batch; a longer batch could go as
     * one UPDATE ... FROM unnest($1::text[], $2::bigint[]). */
    for (size_t i = 0; i < a->n && !rc; i++) {
        struct params p = key1(a->t[i].client_id);
        p_int(&p, a->t[i].at);
        rc = exec(ps, S_TOKEN_TOUCH, &p, NULL);
    }
    return rc;
}

static kg_err token_touch(struct store *st, const struct kg_touch *t, size_t n)
{
    struct touch_arg a = {t, n};

    if (n == 0) return KG_OK;
    if (!t) return KG_INVALID;
    for (size_t i = 0; i < n; i++)
        if (!fits(t[i].client_id, sizeof t[i].client_id)) return KG_INVALID;
    /* No meta lock and no version bump: last access is approximate and written behind.  Two
     * batches touching the same rows in opposite orders may deadlock; run() retries. */
    return run(pg(st), M_WRITE_FREE, token_touch_body, &a);
}

/* A change feed: DECLARE statement `declare` with `p`, then every row to `row`. */
struct feed_arg {
    enum stmt_id declare;
    struct params p;
    kg_err (*row)(struct feed_arg *a, const PGresult *res, int r);
    store_token_fn token_fn;
    store_jti_fn jti_fn;
    void *fn_arg;
};

static kg_err feed_body(struct pg_store *ps, void *arg)
{
    struct feed_arg *a = arg;
    PGresult *res;
    int rows;
    kg_err rc;

    if ((rc = exec(ps, a->declare, &a->p, NULL))) return rc;
    do {
        if ((rc = exec(ps, S_FEED_FETCH, NULL, &res))) return rc;
        rows = PQntuples(res);
        for (int r = 0; !rc && r < rows; r++)
            rc = a->row(a, res, r);
        PQclear(res);
    } while (!rc && rows == FEED_BATCH);
    return rc;
}

static kg_err token_feed_row(struct feed_arg *a, const PGresult *res, int r)
{
    struct kg_token t;
    kg_err rc = read_token(res, r, &t);

    return rc ? rc : a->token_fn(a->fn_arg, &t);
}

static kg_err token_changes(struct store *st, int64_t since_ver, store_token_fn fn, void *arg)
{
    struct feed_arg a = {
        .declare = S_TOKEN_FEED, .row = token_feed_row, .token_fn = fn, .fn_arg = arg};

    if (!fn) return KG_INVALID;
    p_int(&a.p, since_ver);
    return run(pg(st), M_SNAPSHOT, feed_body, &a);
}

struct jti_arg {
    const char *jti, *client_id;
    int64_t exp, now_s;
};

static kg_err jti_revoke_body(struct pg_store *ps, void *arg)
{
    struct jti_arg *a = arg;
    struct params p = {0};
    int64_t ver;
    kg_err rc;

    p_int(&p, a->now_s);
    if ((rc = exec(ps, S_JTI_PURGE, &p, NULL))) return rc; /* expired ones are inactive anyway */
    if ((rc = bump(ps, 0, &ver))) return rc;
    p = key1(a->jti);
    p_text(&p, a->client_id);
    p_int(&p, a->exp);
    p_int(&p, ver);
    return exec(ps, S_JTI_REVOKE, &p, NULL);
}

static kg_err jti_revoke(struct store *st, const char *jti, const char *client_id, int64_t exp,
                         int64_t now_s)
{
    struct jti_arg a = {jti, client_id, exp, now_s};

    if (!jti || !client_id || !fits(jti, JTI_MAX) || !fits(client_id, KG_CLIENT_ID_LEN + 1))
        return KG_INVALID;
    return run(pg(st), M_WRITE, jti_revoke_body, &a);
}

static kg_err jti_feed_row(struct feed_arg *a, const PGresult *res, int r)
{
    char jti[JTI_MAX + 1], client_id[KG_CLIENT_ID_LEN + 1];
    int64_t exp;
    kg_err rc;

    if ((rc = col_text(res, r, 0, jti, sizeof jti)) ||
        (rc = col_text(res, r, 1, client_id, sizeof client_id)) || (rc = col_i64(res, r, 2, &exp)))
        return rc;
    return a->jti_fn(a->fn_arg, jti, exp);
}

static kg_err jti_changes(struct store *st, int64_t since_ver, int64_t now_s, store_jti_fn fn,
                          void *arg)
{
    struct feed_arg a = {.declare = S_JTI_FEED, .row = jti_feed_row, .jti_fn = fn, .fn_arg = arg};

    if (!fn) return KG_INVALID;
    p_int(&a.p, since_ver);
    p_int(&a.p, now_s);
    return run(pg(st), M_SNAPSHOT, feed_body, &a);
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

struct role_rows_arg {
    enum stmt_id id;
    struct params p;
    struct kg_role *roles;
    size_t n;
};

/* Reads a ROLE_SELECT result (one row per grant) into roles, one per role. */
static kg_err role_rows_body(struct pg_store *ps, void *arg)
{
    struct role_rows_arg *a = arg;
    struct kg_role *arr = NULL, *p, *cur = NULL;
    size_t cap = 0, cnt = 0;
    PGresult *res;
    int64_t seq;
    kg_err rc;

    a->roles = NULL;
    a->n = 0;
    if ((rc = exec(ps, a->id, &a->p, &res))) return rc;
    for (int r = 0; r < PQntuples(res); r++) {
        if ((rc = col_i64(res, r, 0, &seq))) goto out;
        if (!cur || cur->seq != seq) {
            if (cnt == cap) {
                if (!(p = grow(arr, &cap, sizeof *arr))) {
                    rc = KG_ENOMEM;
                    goto out;
                }
                arr = p;
            }
            cur = &arr[cnt++];
            memset(cur, 0, sizeof *cur);
            cur->seq = seq;
            if ((rc = col_text(res, r, 1, cur->role_id, sizeof cur->role_id)) ||
                (rc = col_text(res, r, 2, cur->role_name, sizeof cur->role_name)) ||
                (rc = col_text(res, r, 3, cur->description, sizeof cur->description)) ||
                (rc = col_i64(res, r, 4, &cur->created_on)) ||
                (rc = col_i64(res, r, 5, &cur->modified_on)))
                goto out;
        }
        if (PQgetisnull(res, r, 6)) continue;
        if (cur->ngranted == KG_GRANTS_MAX) {
            rc = KG_IO; /* more than the model allows: edited by hand */
            goto out;
        }
        if ((rc = col_text(res, r, 6, cur->granted[cur->ngranted],
                           sizeof cur->granted[cur->ngranted])))
            goto out;
        cur->ngranted++;
    }
    a->roles = arr; /* handed to the caller */
    a->n = cnt;
    arr = NULL;
out:
    PQclear(res);
    free(arr);
    return rc;
}

static kg_err role_get_by(struct store *st, enum stmt_id id, const char *key, struct kg_role *out)
{
    struct role_rows_arg a = {.id = id};
    kg_err rc;

    if (!key || !out) return KG_INVALID;
    a.p = key1(key);
    if ((rc = run(pg(st), M_READ, role_rows_body, &a))) return rc;
    if (a.n == 0) return KG_NOTFOUND;
    *out = a.roles[0];
    free(a.roles);
    return KG_OK;
}

static kg_err role_get(struct store *st, const char *role_id, struct kg_role *out)
{
    return role_get_by(st, S_ROLE_GET, role_id, out);
}

static kg_err role_get_by_name(struct store *st, const char *name, struct kg_role *out)
{
    return role_get_by(st, S_ROLE_GET_BY_NAME, name, out);
}

static kg_err role_list(struct store *st, int64_t after_seq, size_t limit, struct kg_role **out,
                        size_t *n)
{
    struct role_rows_arg a = {.id = S_ROLE_LIST};
    kg_err rc;

    if (!out || !n) return KG_INVALID;
    *out = NULL;
    *n = 0;
    p_int(&a.p, after_seq);
    p_int(&a.p, list_limit(limit));
    if ((rc = run(pg(st), M_READ, role_rows_body, &a))) return rc;
    *out = a.roles; /* handed to the caller */
    *n = a.n;
    return KG_OK;
}

/*
 * Replaces r's granted list, inside the caller's write transaction.  KG_NOTFOUND for a granted
 * role that does not exist, KG_PRECONDITION if r is then reachable from itself.
 */
static kg_err put_grants(struct pg_store *ps, const struct kg_role *r)
{
    struct params p = key1(r->role_id);
    int cycle = 0;
    kg_err rc;

    if ((rc = exec(ps, S_GRANTS_CLEAR, &p, NULL))) return rc;
    for (size_t i = 0; i < r->ngranted; i++) {
        struct params g = key1(r->role_id);
        p_text(&g, r->granted[i]);
        if ((rc = exec(ps, S_GRANT_INSERT, &g, NULL))) return rc; /* foreign key: NOTFOUND */
    }
    if ((rc = exists(ps, S_ROLE_CYCLE, &p, &cycle))) return rc;
    return cycle ? KG_PRECONDITION : KG_OK;
}

static kg_err role_insert_body(struct pg_store *ps, void *arg)
{
    const struct kg_role *r = arg;
    struct params p = key1(r->role_id);
    kg_err rc;

    p_text(&p, r->role_name);
    p_text(&p, r->description);
    p_int(&p, r->created_on);
    p_int(&p, r->modified_on);
    if ((rc = exec(ps, S_ROLE_INSERT, &p, NULL))) return rc; /* KG_CONFLICT: id or name */
    if ((rc = put_grants(ps, r))) return rc;
    return bump(ps, 1, NULL);
}

static kg_err role_insert(struct store *st, const struct kg_role *r, const struct kg_audit *audit)
{
    if (!role_valid(r)) return KG_INVALID;
    /* r is only read by role_insert_body */
    return run_audited(pg(st), M_WRITE, role_insert_body, (void *)(uintptr_t)r, audit);
}

static kg_err role_update_body(struct pg_store *ps, void *arg)
{
    const struct kg_role *r = arg;
    struct params p = key1(r->role_id);
    int64_t n = 0;
    kg_err rc;

    p_text(&p, r->role_name);
    p_text(&p, r->description);
    p_int(&p, r->modified_on);
    if ((rc = change(ps, S_ROLE_UPDATE, &p, &n))) return rc; /* KG_CONFLICT on a taken name */
    if (n == 0) return KG_NOTFOUND;
    if ((rc = put_grants(ps, r))) return rc;
    return bump(ps, 1, NULL);
}

static kg_err role_update(struct store *st, const struct kg_role *r, const struct kg_audit *audit)
{
    if (!role_valid(r)) return KG_INVALID;
    /* r is only read by role_update_body */
    return run_audited(pg(st), M_WRITE, role_update_body, (void *)(uintptr_t)r, audit);
}

static kg_err role_delete_body(struct pg_store *ps, void *arg)
{
    struct params p = key1(arg);
    int found = 0;
    kg_err rc;

    if ((rc = exists(ps, S_ROLE_EXISTS, &p, &found))) return rc;
    if (!found) return KG_NOTFOUND;
    if ((rc = exists(ps, S_ROLE_TOKEN_HOLDS, &p, &found))) return rc;
    if (!found && (rc = exists(ps, S_ROLE_USER_HOLDS, &p, &found))) return rc;
    if (found) return KG_PRECONDITION; /* an Active token or a user holds it */
    if ((rc = exec(ps, S_ROLE_DEL_PRIVS, &p, NULL))) return rc;
    if ((rc = exec(ps, S_ROLE_DEL_GRANTS, &p, NULL))) return rc;
    if ((rc = exec(ps, S_ROLE_DELETE, &p, NULL))) return rc;
    return bump(ps, 1, NULL);
}

static kg_err role_delete(struct store *st, const char *role_id, const struct kg_audit *audit)
{
    if (!role_id) return KG_INVALID;
    /* role_id is only read by role_delete_body */
    return run_audited(pg(st), M_WRITE, role_delete_body, (void *)(uintptr_t)role_id, audit);
}

/* ---- privileges ---------------------------------------------------------------------------- */

static int privilege_valid(const struct kg_privilege *p)
{
    return p && fits(p->role_id, sizeof p->role_id) && fits(p->name, sizeof p->name) &&
           p->name[0] && (p->kind == KG_ALLOW || p->kind == KG_DENY);
}

struct priv_arg {
    const struct kg_privilege *p;
    int64_t now;
    int changed;
};

static kg_err privilege_grant_body(struct pg_store *ps, void *arg)
{
    struct priv_arg *a = arg;
    struct params p = key1(a->p->role_id);
    int64_t n = 0;
    kg_err rc;

    p_text(&p, a->p->name);
    p_int(&p, a->p->kind);
    p_int(&p, a->now);
    if ((rc = change(ps, S_PRIV_GRANT, &p, &n))) return rc; /* foreign key: KG_NOTFOUND */
    if (n == 0) return KG_OK;                               /* already so: nothing to bump */
    return bump(ps, 1, NULL);
}

static kg_err privilege_grant(struct store *st, const struct kg_privilege *p, int64_t now,
                              const struct kg_audit *audit)
{
    struct priv_arg a = {p, now, 0};

    if (!privilege_valid(p)) return KG_INVALID;
    return run_audited(pg(st), M_WRITE, privilege_grant_body, &a, audit);
}

static kg_err privilege_revoke_body(struct pg_store *ps, void *arg)
{
    struct priv_arg *a = arg;
    struct params p = key1(a->p->role_id);
    int64_t n = 0;
    kg_err rc;

    a->changed = 0;
    p_int(&p, a->p->kind);
    p_text(&p, a->p->name);
    if ((rc = change(ps, S_PRIV_REVOKE, &p, &n))) return rc;
    if (n == 0) return KG_OK; /* not there: nothing to bump */
    if ((rc = bump(ps, 1, NULL))) return rc;
    a->changed = 1;
    return KG_OK;
}

static kg_err privilege_revoke(struct store *st, const struct kg_privilege *p, int *changed,
                               const struct kg_audit *audit)
{
    struct priv_arg a = {p, 0, 0};
    kg_err rc;

    if (changed) *changed = 0;
    if (!privilege_valid(p)) return KG_INVALID;
    if ((rc = run_audited(pg(st), M_WRITE, privilege_revoke_body, &a, audit))) return rc;
    if (changed) *changed = a.changed;
    return KG_OK;
}

struct priv_list_arg {
    const char *role_id;
    struct kg_privilege *arr;
    size_t n;
};

static kg_err privilege_list_body(struct pg_store *ps, void *arg)
{
    struct priv_list_arg *a = arg;
    struct kg_privilege *arr = NULL;
    struct params p = key1(a->role_id);
    PGresult *res;
    int rows;
    kg_err rc;

    a->arr = NULL;
    a->n = 0;
    if ((rc = exec(ps, a->role_id ? S_PRIV_LIST_ROLE : S_PRIV_LIST_ALL, a->role_id ? &p : NULL,
                   &res)))
        return rc;
    rows = PQntuples(res);
    if (rows > 0 && !(arr = calloc((size_t)rows, sizeof *arr))) rc = KG_ENOMEM;
    for (int r = 0; !rc && r < rows; r++) {
        if ((rc = col_text(res, r, 0, arr[r].role_id, sizeof arr[r].role_id))) break;
        arr[r].kind = col_int(res, r, 1);
        rc = col_text(res, r, 2, arr[r].name, sizeof arr[r].name);
    }
    PQclear(res);
    if (rc) {
        free(arr);
        return rc;
    }
    a->arr = arr; /* handed to the caller */
    a->n = (size_t)rows;
    return KG_OK;
}

static kg_err privilege_list(struct store *st, const char *role_id, struct kg_privilege **out,
                             size_t *n)
{
    struct priv_list_arg a = {role_id, NULL, 0};
    kg_err rc;

    if (!out || !n) return KG_INVALID;
    *out = NULL;
    *n = 0;
    if ((rc = run(pg(st), M_READ, privilege_list_body, &a))) return rc;
    *out = a.arr; /* handed to the caller */
    *n = a.n;
    return KG_OK;
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

struct user_rows_arg {
    enum stmt_id id;
    struct params p;
    struct kg_user *users;
    size_t n;
};

/* Reads a USER_SELECT result (one row per role held) into users, one per user. */
static kg_err user_rows_body(struct pg_store *ps, void *arg)
{
    struct user_rows_arg *a = arg;
    struct kg_user *arr = NULL, *p, *cur = NULL;
    size_t cap = 0, cnt = 0;
    PGresult *res;
    int64_t seq;
    kg_err rc;

    a->users = NULL;
    a->n = 0;
    if ((rc = exec(ps, a->id, &a->p, &res))) return rc;
    for (int r = 0; r < PQntuples(res); r++) {
        if ((rc = col_i64(res, r, 0, &seq))) goto out;
        if (!cur || cur->seq != seq) {
            if (cnt == cap) {
                if (!(p = grow(arr, &cap, sizeof *arr))) {
                    rc = KG_ENOMEM;
                    goto out;
                }
                arr = p;
            }
            cur = &arr[cnt++];
            memset(cur, 0, sizeof *cur);
            cur->seq = seq;
            if ((rc = col_text(res, r, 1, cur->user_id, sizeof cur->user_id)) ||
                (rc = col_text(res, r, 2, cur->email, sizeof cur->email)) ||
                (rc = col_text(res, r, 3, cur->password_hash, sizeof cur->password_hash)) ||
                (rc = col_i64(res, r, 4, &cur->created_on)))
                goto out;
        }
        if (PQgetisnull(res, r, 5)) continue;
        if (cur->nroles == KG_GRANTS_MAX) {
            rc = KG_IO; /* more than the model allows: edited by hand */
            goto out;
        }
        if ((rc = col_text(res, r, 5, cur->roles[cur->nroles], sizeof cur->roles[cur->nroles])))
            goto out;
        cur->nroles++;
    }
    a->users = arr; /* handed to the caller */
    a->n = cnt;
    arr = NULL;
out:
    PQclear(res);
    free(arr);
    return rc;
}

/* Replaces u's roles, inside the caller's write transaction; KG_NOTFOUND for a missing role. */
static kg_err put_user_roles(struct pg_store *ps, const struct kg_user *u)
{
    struct params p = key1(u->user_id);
    kg_err rc;

    if ((rc = exec(ps, S_USER_ROLES_CLEAR, &p, NULL))) return rc;
    for (size_t i = 0; i < u->nroles; i++) {
        struct params g = key1(u->user_id);
        p_text(&g, u->roles[i]);
        if ((rc = exec(ps, S_USER_ROLE_INSERT, &g, NULL))) return rc; /* foreign key */
    }
    return KG_OK;
}

static kg_err user_insert_body(struct pg_store *ps, void *arg)
{
    const struct kg_user *u = arg;
    struct params p = key1(u->user_id);
    kg_err rc;

    p_text(&p, u->email);
    p_text(&p, u->password_hash);
    p_int(&p, u->created_on);
    if ((rc = exec(ps, S_USER_INSERT, &p, NULL))) return rc; /* KG_CONFLICT: id or email */
    if ((rc = put_user_roles(ps, u))) return rc;
    return bump(ps, 0, NULL);
}

static kg_err user_insert(struct store *st, const struct kg_user *u, const struct kg_audit *audit)
{
    if (!user_valid(u)) return KG_INVALID;
    /* u is only read by user_insert_body */
    return run_audited(pg(st), M_WRITE, user_insert_body, (void *)(uintptr_t)u, audit);
}

static kg_err user_get_by(struct store *st, enum stmt_id id, const char *key, struct kg_user *out)
{
    struct user_rows_arg a = {.id = id};
    kg_err rc;

    if (!key || !out) return KG_INVALID;
    a.p = key1(key);
    if ((rc = run(pg(st), M_READ, user_rows_body, &a))) return rc;
    if (a.n == 0) return KG_NOTFOUND;
    *out = a.users[0];
    free(a.users);
    return KG_OK;
}

static kg_err user_get(struct store *st, const char *user_id, struct kg_user *out)
{
    return user_get_by(st, S_USER_GET, user_id, out);
}

static kg_err user_get_by_email(struct store *st, const char *email, struct kg_user *out)
{
    return user_get_by(st, S_USER_GET_BY_EMAIL, email, out);
}

static kg_err user_list(struct store *st, int64_t after_seq, size_t limit, struct kg_user **out,
                        size_t *n)
{
    struct user_rows_arg a = {.id = S_USER_LIST};
    kg_err rc;

    if (!out || !n) return KG_INVALID;
    *out = NULL;
    *n = 0;
    p_int(&a.p, after_seq);
    p_int(&a.p, list_limit(limit));
    if ((rc = run(pg(st), M_READ, user_rows_body, &a))) return rc;
    *out = a.users; /* handed to the caller */
    *n = a.n;
    return KG_OK;
}

static kg_err user_update_body(struct pg_store *ps, void *arg)
{
    const struct kg_user *u = arg;
    struct params p = key1(u->user_id);
    int64_t n = 0;
    kg_err rc;

    p_text(&p, u->email);
    p_text(&p, u->password_hash);
    if ((rc = change(ps, S_USER_UPDATE, &p, &n))) return rc; /* KG_CONFLICT on a taken email */
    if (n == 0) return KG_NOTFOUND;
    if ((rc = put_user_roles(ps, u))) return rc;
    return bump(ps, 0, NULL);
}

static kg_err user_update(struct store *st, const struct kg_user *u, const struct kg_audit *audit)
{
    if (!user_valid(u)) return KG_INVALID;
    /* u is only read by user_update_body */
    return run_audited(pg(st), M_WRITE, user_update_body, (void *)(uintptr_t)u, audit);
}

static kg_err user_delete_body(struct pg_store *ps, void *arg)
{
    struct params p = key1(arg);
    int64_t n = 0;
    kg_err rc;

    if ((rc = exec(ps, S_USER_ROLES_CLEAR, &p, NULL))) return rc;
    if ((rc = change(ps, S_USER_DELETE, &p, &n))) return rc;
    if (n == 0) return KG_NOTFOUND;
    return bump(ps, 0, NULL);
}

static kg_err user_delete(struct store *st, const char *user_id, const struct kg_audit *audit)
{
    if (!user_id) return KG_INVALID;
    /* user_id is only read by user_delete_body */
    return run_audited(pg(st), M_WRITE, user_delete_body, (void *)(uintptr_t)user_id, audit);
}

static kg_err user_count_body(struct pg_store *ps, void *arg)
{
    int64_t *n = arg;
    PGresult *res;
    kg_err rc = exec(ps, S_USER_COUNT, NULL, &res);

    if (rc) return rc;
    rc = PQntuples(res) == 1 ? col_i64(res, 0, 0, n) : KG_IO;
    PQclear(res);
    return rc;
}

static kg_err user_count(struct store *st, int64_t *n)
{
    int64_t v = 0;
    kg_err rc;

    if (!n) return KG_INVALID;
    if ((rc = run(pg(st), M_READ, user_count_body, &v))) return rc;
    *n = v;
    return KG_OK;
}

/* ---- audit log ----------------------------------------------------------------------------- */

static kg_err audit_append_body(struct pg_store *ps, void *arg)
{
    return put_audit(ps, arg);
}

static kg_err audit_append(struct store *st, const struct kg_audit *e)
{
    /* no meta lock: appends do not conflict, and nothing in memory follows the audit log */
    return run(pg(st), M_WRITE_FREE, audit_append_body, (void *)(uintptr_t)e); /* read only */
}

struct audit_rows {
    struct params p;
    struct kg_audit *arr;
    size_t n;
};

static kg_err audit_list_body(struct pg_store *ps, void *arg)
{
    struct audit_rows *a = arg;
    PGresult *res;
    int rows;
    kg_err rc;

    a->arr = NULL;
    a->n = 0;
    if ((rc = exec(ps, S_AUDIT_LIST, &a->p, &res))) return rc;
    rows = PQntuples(res);
    if (rows > 0 && !(a->arr = calloc((size_t)rows, sizeof *a->arr))) rc = KG_ENOMEM;
    for (int r = 0; !rc && r < rows; r++) {
        struct kg_audit *e = &a->arr[r];
        if ((rc = col_i64(res, r, 0, &e->seq)) || (rc = col_i64(res, r, 1, &e->at)) ||
            (rc = col_text(res, r, 2, e->actor, sizeof e->actor)) ||
            (rc = col_text(res, r, 3, e->action, sizeof e->action)) ||
            (rc = col_text(res, r, 4, e->target, sizeof e->target)) ||
            (rc = col_text(res, r, 5, e->address, sizeof e->address)) ||
            (rc = col_text(res, r, 6, e->outcome, sizeof e->outcome)) ||
            (rc = col_text(res, r, 7, e->detail, sizeof e->detail)))
            break;
    }
    PQclear(res);
    if (rc) {
        free(a->arr);
        a->arr = NULL;
        return rc;
    }
    a->n = (size_t)rows;
    return KG_OK;
}

static kg_err audit_list(struct store *st, const struct kg_audit_filter *f, int64_t before_seq,
                         size_t limit, struct kg_audit **out, size_t *n)
{
    struct audit_rows a = {0};
    kg_err rc;

    if (!f || !out || !n || !fits(f->actor, sizeof f->actor)) return KG_INVALID;
    *out = NULL;
    *n = 0;
    p_int(&a.p, before_seq > 0 ? before_seq : INT64_MAX);
    p_text(&a.p, f->actor);
    p_int(&a.p, f->since);
    p_int(&a.p, f->until > 0 ? f->until : INT64_MAX);
    p_int(&a.p, list_limit(limit));
    if ((rc = run(pg(st), M_READ, audit_list_body, &a))) return rc;
    if (a.n == 0) {
        free(a.arr);
        return KG_OK;
    }
    *out = a.arr; /* handed to the caller */
    *n = a.n;
    return KG_OK;
}

/* ---- opening and closing ------------------------------------------------------------------- */

/* Closes the connection and frees the store. */
static void close_db(struct store *st)
{
    struct pg_store *ps = pg(st);

    PQfinish(ps->conn); /* NULL is a no-op */
    pthread_mutex_destroy(&ps->mu);
    free(ps);
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
 * Connects to the PostgreSQL database at `uri` ("postgres://..." or "postgresql://...", as
 * libpq reads it; connect_timeout defaults to CONNECT_TIMEOUT seconds) and creates or migrates
 * the schema.  Caller owns *out (store_free()).  KG_UNAVAILABLE when the server cannot be
 * reached or refuses the connection (down, wrong credentials, no such database); KG_IO when
 * the schema is newer than this build or cannot be created.
 */
kg_err store_pg_open(const char *uri, struct store **out)
{
    /* dbname is expanded from the URI after connect_timeout, so the URI's own value wins. */
    const char *const keys[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
    const char *vals[] = {CONNECT_TIMEOUT, "keygate", uri, NULL};
    struct pg_store *ps;
    kg_err rc;

    assert(out);
    *out = NULL;
    if (!uri || !*uri) return KG_INVALID;
    if (!(ps = calloc(1, sizeof *ps))) return KG_ENOMEM;
    if (pthread_mutex_init(&ps->mu, NULL) != 0) {
        free(ps);
        return KG_ENOMEM;
    }
    ps->base.ops = &ops;
    if (!(ps->conn = PQconnectdbParams(keys, vals, 1))) {
        rc = KG_ENOMEM;
        goto out;
    }
    if (PQstatus(ps->conn) != CONNECTION_OK) {
        rc = KG_UNAVAILABLE;
        goto out;
    }
    PQsetNoticeProcessor(ps->conn, quiet, NULL);
    if ((rc = session_setup(ps))) goto out;
    if ((rc = run(ps, M_WRITE_FREE, migrate_body, NULL))) goto out;
    *out = &ps->base; /* handed to the caller */
    ps = NULL;
out:
    if (ps) close_db(&ps->base);
    return rc;
}
