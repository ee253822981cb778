/*
 * store_sqlite.c — the SQLite backend of the store (store.h): the driver of store_sql.h and
 * the running of migrations.  The only file in keygate that includes sqlite3.h.
 *
 * What the backends share — every operation, the statements' text, the schema, the versions
 * — is in store_sql.c and store_sql_text.h.  This file is divided into: the connection and
 * its prepared-statement table; helpers (error mapping, locking, transactions, binding,
 * copying columns out); the driver; migrations; and store_sqlite_open().
 *
 * Concurrency.  One sqlite3 connection per struct store, used only under its mutex, so calls
 * from several threads are serialised.  Other processes (the CLI) share the file through WAL.
 * Every write runs in BEGIN IMMEDIATE ... COMMIT, so writers run one at a time, and is rolled
 * back whole on any error; a read is one statement, which sees one snapshot.  finish() ends
 * every call: it resets the statements still running, rolls back a transaction left open (a
 * failed write) and releases the mutex.
 *
 * Statements are prepared on first use and cached for the life of the connection.  The
 * schema's version is SQLite's user_version, which each migration sets (DDL_STAMP).
 */
#include "store_sql.h"

#include "metrics.h"

#include <assert.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BUSY_TIMEOUT_MS 5000

/* ---- the connection and its statements ----------------------------------------------------- */

/* SQLite's dialect of the shared statements (store_sql_text.h). */
#define SQL_P(n) "?" #n
#define SQL_BYTEWISE ""              /* text columns compare as BINARY */
#define SQL_EMAIL_IS(p) "email = " p /* the column is COLLATE NOCASE */
#define SQL_FEED(q) q                /* stepped row by row */
#define DDL_BIGINT "INTEGER"
#define DDL_SMALLINT "INTEGER"
#define DDL_BYTES "BLOB"
#define DDL_SEQ "INTEGER PRIMARY KEY AUTOINCREMENT"
#define DDL_NO_ROWID " WITHOUT ROWID"
#define DDL_EMAIL_UNIQUE " COLLATE NOCASE UNIQUE"
#define DDL_EMAIL_INDEX ""
#define DDL_STAMP(n) "PRAGMA user_version = " #n ";" /* in the migration's transaction */
#include "store_sql_text.h"

/* This backend's own statements, numbered after the shared ones. */
enum { S_BEGIN_WRITE = SQL_COUNT, S_BEGIN_READ, S_COMMIT, S_ROLLBACK, S_USER_VERSION, S_COUNT };

static const char *const own_sql[S_COUNT - SQL_COUNT] = {
    [S_BEGIN_WRITE - SQL_COUNT] = "BEGIN IMMEDIATE",
    [S_BEGIN_READ - SQL_COUNT] = "BEGIN", /* deferred: a read snapshot from the first read */
    [S_COMMIT - SQL_COUNT] = "COMMIT",
    [S_ROLLBACK - SQL_COUNT] = "ROLLBACK",
    [S_USER_VERSION - SQL_COUNT] = "PRAGMA user_version",
};

struct sqlite_store {
    struct sql_store sql; /* first: a struct store * points here */
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

static void lock(struct sqlite_store *ss)
{
    pthread_mutex_lock(&ss->sql.mu);
}

/* Resets every statement still running, so none holds a read snapshot open. */
static void reset_running(struct sqlite_store *ss)
{
    for (size_t i = 0; i < S_COUNT; i++)
        if (ss->stmt[i] && sqlite3_stmt_busy(ss->stmt[i])) sqlite3_reset(ss->stmt[i]);
}

/* Returns statement `id`, prepared and cached on first use, reset and unbound otherwise. */
static kg_err prep(struct sqlite_store *ss, int id, sqlite3_stmt **out)
{
    sqlite3_stmt *s = ss->stmt[id];

    *out = NULL;
    if (!s) {
        const char *q = id < SQL_COUNT ? sql_text[id] : own_sql[id - SQL_COUNT];
        int src = sqlite3_prepare_v3(ss->db, q, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
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
static kg_err run_stmt(struct sqlite_store *ss, int id)
{
    sqlite3_stmt *s;
    kg_err rc = prep(ss, id, &s);

    if (rc) return rc;
    while ((rc = step(s, NULL)) == KG_OK && sqlite3_stmt_busy(s))
        ;
    sqlite3_reset(s);
    return rc;
}

/* Commits; on failure the transaction is left for finish() to roll back. */
static kg_err commit(struct sqlite_store *ss)
{
    reset_running(ss);
    return run_stmt(ss, S_COMMIT);
}

/* Ends every call made under lock(): see the file comment.  Never fails. */
static void finish(struct sqlite_store *ss)
{
    reset_running(ss);
    if (!sqlite3_get_autocommit(ss->db)) run_stmt(ss, S_ROLLBACK);
    pthread_mutex_unlock(&ss->sql.mu);
}

/* Binds a's parameters to ?1..?n of s (SQLITE_STATIC: a outlives the statement's run). */
static kg_err bind(sqlite3_stmt *s, const struct sql_args *a)
{
    for (int i = 0; a && i < a->n; i++) {
        const struct sql_arg *v = &a->v[i];
        int src;
        switch (v->type) {
        case SQL_I64:
            src = sqlite3_bind_int64(s, i + 1, v->i);
            break;
        case SQL_TEXT:
            src = sqlite3_bind_text(s, i + 1, v->p, -1, SQLITE_STATIC);
            break;
        case SQL_HASH:
            src = sqlite3_bind_blob(s, i + 1, v->p, KG_HASH_LEN, SQLITE_STATIC);
            break;
        default:
            src = sqlite3_bind_null(s, i + 1);
            break;
        }
        if (src != SQLITE_OK) return map_err(src);
    }
    return KG_OK;
}

/* Copies text column i into dst[cap]; NULL reads "".  KG_IO if it does not fit (a hand-edited
 * database). */
static kg_err col_text(sqlite3_stmt *s, int i, char *dst, size_t cap)
{
    const unsigned char *p;
    int len;

    dst[0] = '\0';
    if (!(p = sqlite3_column_text(s, i))) /* NULL, or out of memory converting the value */
        return sqlite3_column_type(s, i) == SQLITE_NULL ? KG_OK : KG_ENOMEM;
    len = sqlite3_column_bytes(s, i);
    if (len < 0 || (size_t)len >= cap) return KG_IO;
    memcpy(dst, p, (size_t)len);
    dst[len] = '\0';
    return KG_OK;
}

/* Reads the current row's columns 0..n-1 into dst as cols says (store_sql.h). */
static kg_err read_row(sqlite3_stmt *s, const struct sql_col *cols, size_t n, char *dst)
{
    for (size_t i = 0; i < n; i++) {
        const struct sql_col *c = &cols[i];
        const void *blob;
        int64_t v;
        int x;
        kg_err rc;
        switch (c->type) {
        case SQL_I64:
            v = sqlite3_column_int64(s, (int)i); /* NULL reads 0 */
            memcpy(dst + c->off, &v, sizeof v);
            break;
        case SQL_INT:
            x = sqlite3_column_int(s, (int)i);
            memcpy(dst + c->off, &x, sizeof x);
            break;
        case SQL_TEXT:
            if ((rc = col_text(s, (int)i, dst + c->off, c->cap))) return rc;
            break;
        case SQL_HASH:
            blob = sqlite3_column_blob(s, (int)i);
            if (!blob || sqlite3_column_bytes(s, (int)i) != KG_HASH_LEN) return KG_IO;
            memcpy(dst + c->off, blob, KG_HASH_LEN);
            break;
        default:
            return KG_IO;
        }
    }
    return KG_OK;
}

/* ---- the driver ---------------------------------------------------------------------------- */

static kg_err run(struct store *st, enum sql_mode mode, sql_body_fn body, void *arg)
{
    struct sqlite_store *ss = sq(st);
    int write = mode == SQL_WRITE || mode == SQL_WRITE_FREE; /* reads are one statement */
    kg_err rc = KG_OK;

    lock(ss);
    if (write) rc = run_stmt(ss, S_BEGIN_WRITE);
    /* a snapshot's statements (the first load's two) see one state; finish() ends it */
    else if (mode == SQL_SNAPSHOT)
        rc = run_stmt(ss, S_BEGIN_READ);
    if (!rc) rc = body(st, arg);
    if (!rc && write) rc = commit(ss);
    finish(ss);
    return rc;
}

static kg_err exec(struct store *st, enum sql_id id, const struct sql_args *a,
                   const struct sql_rows *rows, int64_t *changed)
{
    struct sqlite_store *ss = sq(st);
    sqlite3_stmt *s;
    int row = 0;
    kg_err rc;

    if ((rc = prep(ss, id, &s)) || (rc = bind(s, a))) return rc;
    while (!(rc = step(s, &row)) && row) {
        if (!rows) continue; /* rows nobody asked for */
        if ((rc = read_row(s, rows->cols, rows->ncols, rows->dst)) || (rc = rows->fn(rows->arg)))
            break;
    }
    if (!rc && changed) *changed = sqlite3_changes(ss->db);
    return rc;
}

/* Finalises the statements and closes the connection. */
static void disconnect(struct store *st)
{
    struct sqlite_store *ss = sq(st);

    for (size_t i = 0; i < S_COUNT; i++)
        sqlite3_finalize(ss->stmt[i]);
    sqlite3_close(ss->db); /* NULL is a no-op; last one out checkpoints the WAL */
}

static const struct sql_driver driver;

/* A read-only connection to the same file, for a second reader of the first load (none for a
 * database in memory, which no other connection sees). */
static struct store *twin(struct store *st)
{
    const char *path = sqlite3_db_filename(sq(st)->db, "main");
    struct sqlite_store *tw;

    if (!path || !*path || !(tw = store_sql_new(sizeof *tw, &driver))) return NULL;
    if (sqlite3_open_v2(path, &tw->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_busy_timeout(tw->db, BUSY_TIMEOUT_MS) != SQLITE_OK) {
        store_free(&tw->sql.base);
        return NULL;
    }
    sqlite3_extended_result_codes(tw->db, 1);
    return &tw->sql.base;
}

static const struct sql_driver driver = {
    .run = run,
    .exec = exec,
    .twin = twin,
    .disconnect = disconnect,
};

/* ---- migrations ------------------------------------------------------------------------- */

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
 * Brings the schema to SQL_SCHEMA_VERSION.  Another process may open the same file at the same
 * time, so user_version is read again under BEGIN IMMEDIATE: whoever gets the write lock
 * second finds the work done.  KG_IO for a database written by a newer keygate.
 */
static kg_err migrate(struct sqlite_store *ss)
{
    int64_t v = 0;
    kg_err rc;

    lock(ss);
    if ((rc = user_version(ss, &v)) || v == SQL_SCHEMA_VERSION) goto out;
    if ((rc = run_stmt(ss, S_BEGIN_WRITE))) goto out;
    if ((rc = user_version(ss, &v))) goto out;
    if (v < 0 || v > SQL_SCHEMA_VERSION) {
        rc = KG_IO;
        goto out;
    }
    for (; v < SQL_SCHEMA_VERSION; v++) {
        const struct sql_migration *m = &sql_migrations[v];
        int src = sqlite3_exec(ss->db, m->sql, NULL, NULL, NULL);
        if (src != SQLITE_OK) {
            rc = map_err(sqlite3_extended_errcode(ss->db));
            if (!rc) rc = KG_IO;
            goto out;
        }
        if (m->after && (rc = m->after(&ss->sql.base))) goto out;
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

/*
 * Switches the file to WAL.  SQLite does not call the busy handler for this switch: while
 * another connection reads the same new file (another keygate opening it at the same time)
 * the switch fails at once with SQLITE_BUSY.  So it is retried, for the busy timeout at most.
 */
static kg_err to_wal(struct sqlite_store *ss, char *v, size_t cap)
{
    uint64_t deadline = metrics_now_ns() + BUSY_TIMEOUT_MS * UINT64_C(1000000);
    kg_err rc;

    while ((rc = pragma(ss, "PRAGMA journal_mode = WAL", v, cap)) == KG_UNAVAILABLE &&
           metrics_now_ns() < deadline)
        sqlite3_sleep(5);
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
        if ((rc = to_wal(ss, v, sizeof v))) return rc;
        if (strcmp(v, "wal") != 0 && strcmp(v, "memory") != 0) return KG_IO; /* ":memory:" */
    }
    if ((rc = pragma(ss, "PRAGMA synchronous = FULL", v, sizeof v))) return rc;
    if ((rc = pragma(ss, "PRAGMA foreign_keys = ON", v, sizeof v))) return rc;
    if ((rc = pragma(ss, "PRAGMA foreign_keys", v, sizeof v))) return rc;
    if (strcmp(v, "1") != 0) return KG_IO;
    return KG_OK;
}

/* ---- opening ------------------------------------------------------------------------------ */

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
    if (!(ss = store_sql_new(sizeof *ss, &driver))) return KG_ENOMEM;
    src = sqlite3_open_v2(path, &ss->db,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        rc = src == SQLITE_NOMEM ? KG_ENOMEM : KG_IO;
        goto out;
    }
    sqlite3_extended_result_codes(ss->db, 1);
    if ((rc = configure(ss))) goto out;
    if ((rc = migrate(ss))) goto out;
    *out = &ss->sql.base; /* handed to the caller */
    ss = NULL;
out:
    if (ss) store_free(&ss->sql.base);
    return rc;
}
