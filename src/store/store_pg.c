/*
 * store_pg.c — the PostgreSQL backend of the store (store.h): the driver of store_sql.h and
 * the running of migrations.  The only file in keygate that includes libpq-fe.h.  What the
 * backends share — every operation, the statements' text, the schema (here in PostgreSQL
 * types), the versions — is in store_sql.c and store_sql_text.h.
 *
 * The file is divided into: the connection and its prepared-statement table; helpers
 * (error mapping, parameters, reading results); running statements; running a call (locking,
 * reconnecting, transactions and retries); the driver; migrations; and store_pg_open().
 *
 * Concurrency.  One PGconn per struct store, used only under its mutex, so calls from several
 * threads are serialised.  Other processes share the database through PostgreSQL.  Every
 * write runs in one READ COMMITTED transaction that first locks the meta row
 * (SELECT ... FOR UPDATE): writers from every process therefore run one at a time, as under
 * SQLite's BEGIN IMMEDIATE, so the checks a write makes (role exists, no cycle, role unused)
 * still hold at its commit, and data_ver is handed out in commit order — a change-feed reader
 * that has seen data_ver N has seen every row stamped N or lower.  SQL_WRITE_FREE calls
 * (token_touch, audit_append) skip the meta lock (they bump nothing).  A transaction that
 * fails with serialization_failure or deadlock_detected is retried a few times.
 *
 * Reads are single statements in autocommit; the change feeds read through a cursor inside
 * one REPEATABLE READ READ ONLY transaction, FEED_BATCH rows at a time, so a million tokens
 * never sit in memory at once.
 *
 * Connection loss.  A failed call whose connection is gone returns KG_UNAVAILABLE; the next
 * call PQreset()s it, so the store recovers by itself when the server is back.  A call that
 * finds the connection dead at its first statement (nothing done yet) reconnects and runs
 * again at once; a write whose COMMIT was lost is not re-run (its outcome is unknown).
 *
 * Migrations (store_sql_text.h) run under a transaction-level advisory lock, so nodes starting
 * together migrate once.
 */
#include "store_sql.h"

#include <assert.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ATTEMPTS 5      /* runs of one call: the first and retries after 40001/40P01 */
#define FEED_BATCH 1000     /* rows fetched from a change-feed cursor at a time */
#define CONNECT_TIMEOUT "5" /* seconds; a connect_timeout in the URI wins */
#define LOCK_TIMEOUT "5s"   /* like SQLite's busy timeout: then KG_UNAVAILABLE */
#define STR_(x) #x
#define STR(x) STR_(x)
/* pg_advisory_xact_lock key of migrations: the bytes "keygate1" as a big-endian int64. */
#define MIGRATE_LOCK_KEY 7738144525137111345

/* ---- the connection and its statements ----------------------------------------------------- */

/* Emails compare as SQLite's NOCASE does: ASCII letters folded only ("C" collation). */
#define EMAIL_KEY(x) "lower(" x " COLLATE \"C\")"

/* PostgreSQL's dialect of the shared statements (store_sql_text.h). */
#define SQL_P(n) "$" #n
#define SQL_BYTEWISE " COLLATE \"C\"" /* byte order, as SQLite's BINARY */
#define SQL_EMAIL_IS(p) EMAIL_KEY("email") " = " EMAIL_KEY(p "::text")
#define SQL_FEED(q) "DECLARE feed NO SCROLL CURSOR FOR " q /* read by S_FEED_FETCH */
#define DDL_BIGINT "BIGINT"
#define DDL_SMALLINT "SMALLINT"
#define DDL_BYTES "BYTEA"
#define DDL_SEQ "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
#define DDL_NO_ROWID ""
#define DDL_EMAIL_UNIQUE "" /* an index on the folded email instead: */
#define DDL_EMAIL_INDEX "CREATE UNIQUE INDEX users_email ON users (" EMAIL_KEY("email") ");"
#define DDL_STAMP(n) "" /* the table schema_version: see migrate_body() */
#include "store_sql_text.h"

/* This backend's own statements, numbered after the shared ones. */
enum {
    S_BEGIN_WRITE = SQL_COUNT,
    S_BEGIN_SNAPSHOT,
    S_COMMIT,
    S_LOCK_META,
    S_FEED_FETCH,
    S_FEED_CLOSE,
    S_COUNT
};

static const char *const own_sql[S_COUNT - SQL_COUNT] = {
    [S_BEGIN_WRITE - SQL_COUNT] = "BEGIN ISOLATION LEVEL READ COMMITTED",
    [S_BEGIN_SNAPSHOT - SQL_COUNT] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    [S_COMMIT - SQL_COUNT] = "COMMIT",
    /* Taken first by every SQL_WRITE: writers run one at a time (file comment). */
    [S_LOCK_META - SQL_COUNT] = "SELECT data_ver FROM meta WHERE id = 1 FOR UPDATE",
    [S_FEED_FETCH - SQL_COUNT] = "FETCH " STR(FEED_BATCH) " FROM feed",
    [S_FEED_CLOSE - SQL_COUNT] = "CLOSE feed",
};

struct pg_store {
    struct sql_store sql; /* first: a struct store * points here */
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

/* Statement parameters as libpq takes them: all text but the secret hash (binary). */
struct params {
    int n;
    const char *v[SQL_ARGS_MAX];
    int len[SQL_ARGS_MAX];
    int fmt[SQL_ARGS_MAX];
    char num[SQL_ARGS_MAX][24];
};

static void to_params(const struct sql_args *a, struct params *p)
{
    p->n = a ? a->n : 0;
    for (int i = 0; i < p->n; i++) {
        const struct sql_arg *v = &a->v[i];
        p->v[i] = v->p; /* SQL_TEXT; NULL for SQL_NULL */
        p->len[i] = 0;
        p->fmt[i] = 0;
        if (v->type == SQL_I64) {
            snprintf(p->num[i], sizeof p->num[i], "%lld", (long long)v->i);
            p->v[i] = p->num[i];
        } else if (v->type == SQL_HASH) {
            p->len[i] = KG_HASH_LEN;
            p->fmt[i] = 1;
        } else if (v->type == SQL_NULL) {
            p->v[i] = NULL;
        }
    }
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
    const size_t cap = KG_HASH_LEN;
    const char *s = PQgetvalue(res, r, i);

    if (PQgetisnull(res, r, i) || (size_t)PQgetlength(res, r, i) != 2 + 2 * cap || s[0] != '\\' ||
        s[1] != 'x')
        return KG_IO;
    for (size_t k = 0; k < cap; k++) {
        int hi = hexval(s[2 + 2 * k]), lo = hexval(s[3 + 2 * k]);
        if (hi < 0 || lo < 0) return KG_IO;
        dst[k] = (unsigned char)(hi << 4 | lo);
    }
    return KG_OK;
}

/* Reads row r's columns 0..n-1 into dst as cols says (store_sql.h). */
static kg_err read_row(const PGresult *res, int r, const struct sql_col *cols, size_t n, char *dst)
{
    for (size_t i = 0; i < n; i++) {
        const struct sql_col *c = &cols[i];
        int64_t v;
        int x;
        kg_err rc = KG_OK;
        switch (c->type) {
        case SQL_I64:
            if (!(rc = col_i64(res, r, (int)i, &v))) memcpy(dst + c->off, &v, sizeof v);
            break;
        case SQL_INT: /* a number out of range reads -1, as no valid value */
            x = col_i64(res, r, (int)i, &v) || v < INT32_MIN || v > INT32_MAX ? -1 : (int)v;
            memcpy(dst + c->off, &x, sizeof x);
            break;
        case SQL_TEXT:
            rc = col_text(res, r, (int)i, dst + c->off, c->cap);
            break;
        case SQL_HASH:
            rc = col_hash(res, r, (int)i, (unsigned char *)dst + c->off);
            break;
        default:
            rc = KG_IO;
            break;
        }
        if (rc) return rc;
    }
    return KG_OK;
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
 * Runs statement `id` (prepared on this connection on first use) with `a` (NULL: none).  On
 * KG_OK *out (if out is not NULL) holds the result, which the caller PQclear()s; else the
 * error is recorded (see failed()).
 */
static kg_err run_stmt(struct pg_store *ps, int id, const struct sql_args *a, PGresult **out)
{
    struct params p;
    PGresult *res;
    ExecStatusType est;
    char name[16];

    if (out) *out = NULL;
    to_params(a, &p);
    ps->nexec++;
    snprintf(name, sizeof name, "kg%d", id);
    if (!ps->prepared[id]) {
        const char *q = id < SQL_COUNT ? sql_text[id] : own_sql[id - SQL_COUNT];
        res = PQprepare(ps->conn, name, q, 0, NULL);
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) return failed(ps, res);
        PQclear(res);
        ps->prepared[id] = 1;
    }
    res = PQexecPrepared(ps->conn, name, p.n, p.v, p.len, p.fmt, 0);
    est = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (est != PGRES_COMMAND_OK && est != PGRES_TUPLES_OK) return failed(ps, res);
    if (out)
        *out = res; /* handed to the caller */
    else
        PQclear(res);
    return KG_OK;
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

/* ---- running a call ------------------------------------------------------------------------ */

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

/* ---- the driver ---------------------------------------------------------------------------- */

/*
 * Runs body(st, arg) under the mutex, in a transaction of `mode`, committed when body returns
 * KG_OK.  Re-runs it after a serialization failure or deadlock, and once after finding the
 * connection dead at the first statement.
 */
static kg_err run(struct store *st, enum sql_mode mode, sql_body_fn body, void *arg)
{
    struct pg_store *ps = pg(st);
    int reconnected = 0;
    kg_err rc = KG_UNAVAILABLE;

    pthread_mutex_lock(&ps->sql.mu);
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        if ((rc = connection(ps))) break;
        ps->nexec = 0;
        ps->fail_at = 0;
        ps->lost = 0;
        ps->sqlstate[0] = '\0';
        if (mode == SQL_WRITE || mode == SQL_WRITE_FREE)
            rc = run_stmt(ps, S_BEGIN_WRITE, NULL, NULL);
        else if (mode == SQL_SNAPSHOT)
            rc = run_stmt(ps, S_BEGIN_SNAPSHOT, NULL, NULL);
        if (!rc && mode == SQL_WRITE) rc = run_stmt(ps, S_LOCK_META, NULL, NULL);
        if (!rc) rc = body(st, arg);
        if (!rc && mode != SQL_READ) rc = run_stmt(ps, S_COMMIT, NULL, NULL);
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
    pthread_mutex_unlock(&ps->sql.mu);
    return rc;
}

/* Hands the rows of res on as rows says. */
static kg_err each_row(PGresult *res, const struct sql_rows *rows)
{
    kg_err rc = KG_OK;

    for (int r = 0; !rc && r < PQntuples(res); r++)
        if (!(rc = read_row(res, r, rows->cols, rows->ncols, rows->dst))) rc = rows->fn(rows->arg);
    return rc;
}

/* A change feed (SQL_FEEDS on) DECLAREs a cursor and is fetched FEED_BATCH rows at a time. */
static kg_err exec(struct store *st, enum sql_id id, const struct sql_args *a,
                   const struct sql_rows *rows, int64_t *changed)
{
    struct pg_store *ps = pg(st);
    PGresult *res;
    int n;
    kg_err rc;

    if ((rc = run_stmt(ps, id, a, &res))) return rc;
    if (id < SQL_FEEDS) {
        if (rows) rc = each_row(res, rows);
        if (!rc && changed) *changed = affected(res);
        PQclear(res);
        return rc;
    }
    PQclear(res);
    assert(rows);
    do {
        if ((rc = run_stmt(ps, S_FEED_FETCH, NULL, &res))) return rc;
        n = PQntuples(res);
        rc = each_row(res, rows);
        PQclear(res);
    } while (!rc && n == FEED_BATCH);
    /* closed, so that another feed may follow in the same transaction (the first load's) */
    if (!rc) rc = run_stmt(ps, S_FEED_CLOSE, NULL, NULL);
    return rc;
}

/* Closes the connection. */
static void disconnect(struct store *st)
{
    struct pg_store *ps = pg(st);

    PQfinish(ps->conn); /* NULL is a no-op */
}

static const struct sql_driver driver = {
    .run = run,
    .exec = exec,
    .disconnect = disconnect,
};

/* ---- migrations ------------------------------------------------------------------------- */

/*
 * Brings the schema to SQL_SCHEMA_VERSION in one transaction holding an advisory lock, so that
 * nodes opening the same database together migrate once: whoever gets the lock second finds
 * the work done.  The version lives in the one-row table schema_version.  KG_IO for a
 * database written by a newer keygate.
 */
static kg_err migrate_body(struct store *st, void *arg)
{
    struct pg_store *ps = pg(st);
    const char *version = STR(SQL_SCHEMA_VERSION);
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
    if (v < 0 || v > SQL_SCHEMA_VERSION) return KG_IO;
    if (v == SQL_SCHEMA_VERSION) return KG_OK;
    for (int64_t i = v; i < SQL_SCHEMA_VERSION; i++) {
        const struct sql_migration *m = &sql_migrations[i];
        if ((rc = exec_script(ps, m->sql))) return rc;
        if (m->after && (rc = m->after(&ps->sql.base))) return rc;
    }
    ps->nexec++;
    res = PQexecParams(ps->conn, "UPDATE schema_version SET version = $1 WHERE id = 1", 1, NULL,
                       &version, NULL, NULL, 0);
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) return failed(ps, res);
    PQclear(res);
    return KG_OK;
}

/* ---- opening ------------------------------------------------------------------------------ */

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
    if (!(ps = store_sql_new(sizeof *ps, &driver))) return KG_ENOMEM;
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
    if ((rc = run(&ps->sql.base, SQL_WRITE_FREE, migrate_body, NULL))) goto out;
    *out = &ps->sql.base; /* handed to the caller */
    ps = NULL;
out:
    if (ps) store_free(&ps->sql.base);
    return rc;
}
