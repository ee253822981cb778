/*
 * test_store.c — unit tests of the store (store.h) through the store_*() wrappers only,
 * against a throw-away SQLite file in a fresh mkdtemp() directory per test — or, when
 * KEYGATE_TEST_PG holds an admin URI (postgres://postgres@127.0.0.1:PORT/postgres, see
 * scripts/pgtest.sh), against a fresh PostgreSQL database kg_t made (with psql) and dropped
 * per test.  Tests of SQLite-only things (file paths, "sqlite:" URIs) are skipped there.
 *
 * Divided into: fixture and record builders; opening and versions; tokens; roles;
 * privileges; users; durability and sharing (reopen, two handles, threads).
 */
#include <setjmp.h> /* cmocka needs these before cmocka.h */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

#define ADMIN_ID "r-0000000001"
#define PUBLIC_ID "r-0000000002"

/* ---- fixture ------------------------------------------------------------------------------- */

#define PG_DB "kg_t"
#define PG_FRESH_DB "kg_t_fresh"

static const char *pg_admin; /* KEYGATE_TEST_PG, or NULL for the SQLite run */

struct fx {
    char dir[64];
    char path[512]; /* SQLite file, or PostgreSQL URI of PG_DB */
    struct store *st;
};

/* Runs one SQL command (no single quotes: use $$…$$) on the database at `uri` with psql; 0 on
 * success. */
static int pg_sql(const char *uri, const char *cmd)
{
    char line[4096];
    int n = snprintf(line, sizeof line,
                     "PGOPTIONS='-c client_min_messages=warning' psql -qX -v ON_ERROR_STOP=1"
                     " '%s' -c '%s' >/dev/null",
                     uri, cmd);

    if (n < 0 || (size_t)n >= sizeof line || strchr(uri, '\'') || strchr(cmd, '\'')) return -1;
    return system(line) == 0 ? 0 : -1;
}

/* Runs one SQL command on the admin database; 0 on success. */
static int pg_admin_sql(const char *cmd)
{
    return pg_sql(pg_admin, cmd);
}

/* Drops (closing its sessions) and creates database `db`; 0 on success. */
static int pg_fresh(const char *db)
{
    char cmd[128];

    snprintf(cmd, sizeof cmd, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
    if (pg_admin_sql(cmd)) return -1;
    snprintf(cmd, sizeof cmd, "CREATE DATABASE %s", db);
    return pg_admin_sql(cmd);
}

static void pg_drop(const char *db)
{
    char cmd[128];

    snprintf(cmd, sizeof cmd, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
    pg_admin_sql(cmd);
}

/* The admin URI with its database name replaced by `db` (query string kept); 0 on success. */
static int pg_uri(const char *db, char *buf, size_t cap)
{
    const char *host = strstr(pg_admin, "://"), *slash, *query;
    int n;

    if (!host) return -1;
    host += 3;
    query = strchr(host, '?');
    slash = strchr(host, '/');
    if (slash && query && slash > query) slash = NULL;
    if (!slash) slash = query ? query : host + strlen(host);
    n = snprintf(buf, cap, "%.*s/%s%s", (int)(slash - pg_admin), pg_admin, db, query ? query : "");
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);

    if (!f) return -1;
    if (pg_admin) {
        if (pg_fresh(PG_DB) || pg_uri(PG_DB, f->path, sizeof f->path)) {
            free(f);
            return -1;
        }
    } else {
        strcpy(f->dir, "/tmp/kg_test_store_XXXXXX");
        if (!mkdtemp(f->dir)) {
            free(f);
            return -1;
        }
        snprintf(f->path, sizeof f->path, "%s/keygate.db", f->dir);
    }
    if (store_open(f->path, &f->st) != KG_OK) {
        if (pg_admin)
            pg_drop(PG_DB);
        else
            rmdir(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

/* Removes the files in dir (the database, its -wal and -shm) and dir itself. */
static void remove_dir(const char *dir)
{
    char p[512];
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d) {
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < (int)sizeof p) unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static int teardown(void **state)
{
    struct fx *f = *state;

    store_free(f->st);
    if (pg_admin)
        pg_drop(PG_DB);
    else
        remove_dir(f->dir);
    free(f);
    return 0;
}

static struct kg_token mk_token(int i, const char *role_id, int64_t created_on)
{
    struct kg_token t;

    memset(&t, 0, sizeof t);
    snprintf(t.client_id, sizeof t.client_id, "kgc_%016d", i);
    t.nsecrets = 1;
    for (int k = 0; k < KG_HASH_LEN; k++)
        t.secrets[0].hash[k] = (unsigned char)(i + k);
    strcpy(t.secrets[0].prefix, "kgs_abcd");
    t.secrets[0].created_on = created_on;
    snprintf(t.description, sizeof t.description, "token %d", i);
    snprintf(t.role_id, sizeof t.role_id, "%s", role_id);
    t.status = KG_TOKEN_ACTIVE;
    t.created_on = created_on;
    strcpy(t.created_by, "cli");
    return t;
}

static struct kg_role mk_role(int i, const char *name)
{
    struct kg_role r;

    memset(&r, 0, sizeof r);
    snprintf(r.role_id, sizeof r.role_id, "r-%010d", i);
    snprintf(r.role_name, sizeof r.role_name, "%s", name);
    snprintf(r.description, sizeof r.description, "role %s", name);
    r.created_on = r.modified_on = 1000 + i;
    return r;
}

static struct kg_user mk_user(int i, const char *email)
{
    struct kg_user u;

    memset(&u, 0, sizeof u);
    snprintf(u.user_id, sizeof u.user_id, "u-%010d", i);
    snprintf(u.email, sizeof u.email, "%s", email);
    strcpy(u.password_hash, "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA");
    u.created_on = 5000 + i;
    return u;
}

struct collected {
    struct kg_token *arr;
    size_t n;
};

static kg_err collect(void *arg, const struct kg_token *t)
{
    struct collected *c = arg;
    struct kg_token *p = realloc(c->arr, (c->n + 1) * sizeof *p);
    if (!p) return KG_ENOMEM;
    c->arr = p;
    c->arr[c->n++] = *t;
    return KG_OK;
}

/* The change feed gathered into an array (NULL when empty), as the tests compare it. */
static kg_err changes(struct store *st, int64_t since, struct kg_token **out, size_t *n)
{
    struct collected c = {NULL, 0};
    kg_err rc = store_token_changes(st, since, collect, &c);
    *out = c.arr;
    *n = c.n;
    return rc;
}

static void versions(struct store *st, int64_t *d, int64_t *r)
{
    assert_int_equal(store_version(st, d, r), KG_OK);
}

/* r, with the sync its stored row has now (kept for a role not stored): an update meant for
 * the row as it is, past the compare-and-set. */
static struct kg_role *cur_role(struct store *st, struct kg_role *r)
{
    struct kg_role got;
    if (store_role_get(st, r->role_id, &got) == KG_OK) r->sync = got.sync;
    return r;
}

static struct kg_user *cur_user(struct store *st, struct kg_user *u)
{
    struct kg_user got;
    if (store_user_get(st, u->user_id, &got) == KG_OK) u->sync = got.sync;
    return u;
}

/* ---- opening and versions ------------------------------------------------------------------ */

static void test_open_seeds_builtin_roles(void **state)
{
    struct fx *f = *state;
    struct kg_role r, *list = NULL;
    struct store *other = NULL;
    struct timespec t0, t1;
    size_t n = 0;
    int64_t d, rv;

    assert_int_equal(store_role_get(f->st, ADMIN_ID, &r), KG_OK);
    assert_string_equal(r.role_name, "accountadmin");
    assert_string_equal(r.description, "Holds every privilege; cannot be changed or deleted");
    assert_true(r.created_on > 1600000000000 && r.created_on == r.modified_on);
    assert_int_equal(r.ngranted, 0);
    assert_int_equal(store_role_get_by_name(f->st, "public", &r), KG_OK);
    assert_string_equal(r.role_id, PUBLIC_ID);
    assert_string_equal(r.description, "Granted to everyone");
    assert_int_equal(store_role_list(f->st, 0, 100, &list, &n), KG_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].role_id, ADMIN_ID);
    assert_string_equal(list[1].role_id, PUBLIC_ID);
    assert_true(list[0].seq < list[1].seq);
    free(list);
    versions(f->st, &d, &rv);
    assert_int_equal(d, 1);
    assert_int_equal(rv, 1);

    /* Opening it again finds it migrated: nothing re-seeded. */
    assert_int_equal(store_open(f->path, &other), KG_OK);
    assert_int_equal(store_role_list(other, 0, 100, &list, &n), KG_OK);
    assert_int_equal(n, 2);
    free(list);
    versions(other, &d, &rv);
    assert_int_equal(d, 1);
    store_free(other);
    other = NULL;

    /* A PostgreSQL URI nobody answers fails promptly (connect_timeout), whichever run. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kg_err rc = store_open("postgres://postgres@127.0.0.1:1/x", &other);
    assert_true(rc == KG_UNAVAILABLE || rc == KG_IO);
    assert_null(other);
    rc = store_open("postgresql://postgres@127.0.0.1:1/x?connect_timeout=2", &other);
    assert_true(rc == KG_UNAVAILABLE || rc == KG_IO);
    assert_null(other);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 10);
    assert_int_equal(store_open("mysql://localhost/kg", &other), KG_INVALID); /* no backend */
    assert_int_equal(store_open(NULL, &other), KG_INVALID);
    assert_null(other);
    store_free(NULL);
}

/* SQLite's own URI forms and file errors. */
static void test_open_sqlite_uris(void **state)
{
    struct fx *f = *state;
    struct kg_role *list = NULL;
    struct store *other = NULL;
    char uri[600];
    size_t n = 0;
    int64_t d, rv;

    if (pg_admin) skip();
    /* The "sqlite:" form opens the same file, already migrated: nothing re-seeded. */
    snprintf(uri, sizeof uri, "sqlite:%s", f->path);
    assert_int_equal(store_open(uri, &other), KG_OK);
    assert_int_equal(store_role_list(other, 0, 100, &list, &n), KG_OK);
    assert_int_equal(n, 2);
    free(list);
    versions(other, &d, &rv);
    assert_int_equal(d, 1);
    store_free(other);
    other = NULL;

    assert_int_equal(store_open("sqlite:", &other), KG_INVALID);
    assert_int_equal(store_open("/nonexistent-dir/x/keygate.db", &other), KG_IO);
    assert_null(other);
}

static void test_versions_move_on_writes(void **state)
{
    struct fx *f = *state;
    struct kg_token t = mk_token(1, PUBLIC_ID, 100);
    struct kg_role r = mk_role(10, "ops");
    struct kg_privilege p = {.role_id = "r-0000000010", .kind = KG_ALLOW, .name = "read_tokens"};
    struct kg_user u = mk_user(1, "a@example.com");
    struct kg_touch touch = {.client_id = "kgc_0000000000000001", .at = 999};
    int64_t d0, r0, d, rv;
    int changed;

    versions(f->st, &d0, &r0);
    assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    versions(f->st, &d, &rv);
    assert_int_equal(d, d0 + 1);
    assert_int_equal(rv, r0); /* token writes leave roles_ver alone */

    assert_int_equal(store_role_insert(f->st, &r, NULL), KG_OK);
    versions(f->st, &d0, &r0);
    assert_int_equal(d0, d + 1);
    assert_int_equal(r0, d0); /* role writes set roles_ver to the new data_ver */

    assert_int_equal(store_privilege_grant(f->st, &p, 5, NULL), KG_OK);
    versions(f->st, &d, &rv);
    assert_int_equal(d, d0 + 1);
    assert_int_equal(rv, d);

    assert_int_equal(store_user_insert(f->st, &u, NULL), KG_OK);
    versions(f->st, &d0, &r0);
    assert_int_equal(d0, d + 1);
    assert_int_equal(r0, rv); /* user writes bump data_ver only */

    assert_int_equal(store_token_touch(f->st, &touch, 1), KG_OK);
    assert_int_equal(store_token_revoke(f->st, t.client_id, 7, &changed, NULL), KG_OK);
    versions(f->st, &d, &rv);
    assert_int_equal(d, d0 + 1); /* the touch did not count, the revoke did */
    assert_int_equal(rv, r0);

    r.ngranted = 1;
    strcpy(r.granted[0], PUBLIC_ID);
    assert_int_equal(store_role_update(f->st, cur_role(f->st, &r), NULL), KG_OK);
    versions(f->st, &d0, &r0);
    assert_int_equal(d0, d + 1);
    assert_int_equal(r0, d0);

    assert_int_equal(store_privilege_revoke(f->st, &p, 0, &changed, NULL), KG_OK);
    assert_int_equal(changed, 1);
    versions(f->st, &d, &rv);
    assert_int_equal(d, d0 + 1);
    assert_int_equal(rv, d);

    assert_int_equal(store_role_delete(f->st, r.role_id, NULL), KG_OK);
    versions(f->st, &d0, &r0);
    assert_int_equal(d0, d + 1);
    assert_int_equal(r0, d0);

    /* Calls that change nothing write nothing. */
    assert_int_equal(store_token_revoke(f->st, t.client_id, 8, &changed, NULL), KG_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(store_privilege_revoke(f->st, &p, 0, &changed, NULL), KG_OK);
    assert_int_equal(changed, 0);
    versions(f->st, &d, &rv);
    assert_int_equal(d, d0);
    assert_int_equal(rv, r0);
    assert_int_equal(store_role_insert(f->st, &r, NULL), KG_OK);
    assert_int_equal(store_privilege_grant(f->st, &p, 9, NULL), KG_OK);
    versions(f->st, &d, &rv);
    assert_int_equal(d, d0 + 2);
    assert_int_equal(store_privilege_grant(f->st, &p, 10, NULL), KG_OK); /* same kind again */
    versions(f->st, &d0, &r0);
    assert_int_equal(d0, d);
    assert_int_equal(r0, rv);
}

/* ---- tokens -------------------------------------------------------------------------------- */

static void test_token_insert_get(void **state)
{
    struct fx *f = *state;
    struct kg_token t = mk_token(1, PUBLIC_ID, 1700000000000), got, t2;
    int64_t d0, r0, d, rv;

    t.expires_on = 1800000000000;
    assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    assert_int_equal(store_token_get(f->st, t.client_id, &got), KG_OK);
    assert_true(got.seq > 0);
    assert_string_equal(got.client_id, t.client_id);
    assert_int_equal(got.nsecrets, 1);
    assert_true(got.secrets[0].seq > 0);
    assert_memory_equal(got.secrets[0].hash, t.secrets[0].hash, KG_HASH_LEN);
    assert_string_equal(got.secrets[0].prefix, "kgs_abcd");
    assert_int_equal(got.secrets[0].created_on, 1700000000000);
    assert_string_equal(got.description, "token 1");
    assert_string_equal(got.role_id, PUBLIC_ID);
    assert_string_equal(got.role_name, "public");
    assert_int_equal(got.status, KG_TOKEN_ACTIVE);
    assert_int_equal(got.created_on, 1700000000000);
    assert_int_equal(got.last_access_on, 0);
    assert_int_equal(got.revoked_on, 0);
    assert_int_equal(got.expires_on, 1800000000000);
    assert_string_equal(got.created_by, "cli");

    versions(f->st, &d0, &r0);
    t2 = mk_token(1, ADMIN_ID, 5);
    assert_int_equal(store_token_insert(f->st, &t2, NULL), KG_CONFLICT);
    t2 = mk_token(2, "r-0000009999", 5);
    assert_int_equal(store_token_insert(f->st, &t2, NULL), KG_NOTFOUND);
    assert_int_equal(store_token_get(f->st, t2.client_id, &got), KG_NOTFOUND);
    versions(f->st, &d, &rv);
    assert_int_equal(d, d0); /* failed writes were rolled back whole */

    /* Inputs that do not fit their fields are refused before any SQL. */
    t2 = mk_token(3, PUBLIC_ID, 5);
    memset(t2.description, 'x', sizeof t2.description);
    assert_int_equal(store_token_insert(f->st, &t2, NULL), KG_INVALID);
    t2 = mk_token(3, PUBLIC_ID, 5);
    t2.status = 7;
    assert_int_equal(store_token_insert(f->st, &t2, NULL), KG_INVALID);

    /* A description of exactly the maximum length round-trips. */
    t2 = mk_token(4, PUBLIC_ID, 5);
    memset(t2.description, 'd', KG_DESC_MAX_BYTES);
    t2.description[KG_DESC_MAX_BYTES] = '\0';
    assert_int_equal(store_token_insert(f->st, &t2, NULL), KG_OK);
    assert_int_equal(store_token_get(f->st, t2.client_id, &got), KG_OK);
    assert_int_equal(strlen(got.description), KG_DESC_MAX_BYTES);
}

static void test_token_list_paging(void **state)
{
    struct fx *f = *state;
    struct kg_token *page = NULL;
    int seen[251] = {0};
    int64_t before = 0, last = INT64_MAX;
    size_t n = 0, total = 0, pages = 0;

    for (int i = 1; i <= 250; i++) {
        struct kg_token t = mk_token(i, PUBLIC_ID, 1000 + i);
        assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    }
    for (;;) {
        assert_int_equal(store_token_list(f->st, before, 100, &page, &n), KG_OK);
        if (n == 0) {
            assert_null(page);
            break;
        }
        pages++;
        for (size_t k = 0; k < n; k++) {
            int id = atoi(page[k].client_id + 4);
            assert_true(page[k].seq < last); /* newest first, strictly */
            last = page[k].seq;
            assert_true(id >= 1 && id <= 250);
            assert_int_equal(seen[id], 0);
            seen[id] = 1;
            assert_int_equal(page[k].created_on, 1000 + id);
            assert_string_equal(page[k].role_name, "public");
        }
        if (total == 0) assert_string_equal(page[0].client_id, "kgc_0000000000000250");
        total += n;
        before = page[n - 1].seq;
        free(page);
        page = NULL;
    }
    assert_int_equal(total, 250);
    assert_int_equal(pages, 3);

    /* A huge limit is bounded (all 250 fit under the bound); a zero limit returns nothing. */
    assert_int_equal(store_token_list(f->st, 0, (size_t)-1, &page, &n), KG_OK);
    assert_int_equal(n, 250);
    assert_string_equal(page[249].client_id, "kgc_0000000000000001");
    free(page);
    assert_int_equal(store_token_list(f->st, 0, 0, &page, &n), KG_OK);
    assert_int_equal(n, 0);
    assert_null(page);
}

static void test_token_revoke_idempotent(void **state)
{
    struct fx *f = *state;
    struct kg_token t = mk_token(1, PUBLIC_ID, 100), got;
    int changed = -1;

    assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    assert_int_equal(store_token_revoke(f->st, t.client_id, 2000, &changed, NULL), KG_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(store_token_get(f->st, t.client_id, &got), KG_OK);
    assert_int_equal(got.status, KG_TOKEN_REVOKED);
    assert_int_equal(got.revoked_on, 2000);

    assert_int_equal(store_token_revoke(f->st, t.client_id, 3000, &changed, NULL), KG_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(store_token_get(f->st, t.client_id, &got), KG_OK);
    assert_int_equal(got.revoked_on, 2000); /* kept */
    assert_int_equal(store_token_revoke(f->st, "kgc_nope", 3000, &changed, NULL), KG_NOTFOUND);
}

static void test_token_touch_only_raises(void **state)
{
    struct fx *f = *state;
    struct kg_token a = mk_token(1, PUBLIC_ID, 100), b = mk_token(2, PUBLIC_ID, 100), got;
    struct kg_touch batch[3] = {
        {.client_id = "kgc_0000000000000001", .at = 500},
        {.client_id = "kgc_unknown", .at = 900}, /* skipped */
        {.client_id = "kgc_0000000000000002", .at = 700},
    };
    struct kg_token *ch = NULL;
    size_t n = 0;
    int64_t d0, r0, d, rv;

    assert_int_equal(store_token_insert(f->st, &a, NULL), KG_OK);
    assert_int_equal(store_token_insert(f->st, &b, NULL), KG_OK);
    versions(f->st, &d0, &r0);
    assert_int_equal(store_token_touch(f->st, batch, 3), KG_OK);
    assert_int_equal(store_token_get(f->st, a.client_id, &got), KG_OK);
    assert_int_equal(got.last_access_on, 500);
    assert_int_equal(store_token_get(f->st, b.client_id, &got), KG_OK);
    assert_int_equal(got.last_access_on, 700);

    batch[0].at = 400; /* earlier: ignored */
    batch[2].at = 800; /* later: taken */
    assert_int_equal(store_token_touch(f->st, batch, 3), KG_OK);
    assert_int_equal(store_token_get(f->st, a.client_id, &got), KG_OK);
    assert_int_equal(got.last_access_on, 500);
    assert_int_equal(store_token_get(f->st, b.client_id, &got), KG_OK);
    assert_int_equal(got.last_access_on, 800);

    assert_int_equal(store_token_touch(f->st, NULL, 0), KG_OK);
    versions(f->st, &d, &rv);
    assert_int_equal(d, d0); /* touches bump nothing */
    assert_int_equal(rv, r0);
    assert_int_equal(changes(f->st, d0, &ch, &n), KG_OK);
    assert_int_equal(n, 0);
    assert_null(ch);
}

static void test_token_changes(void **state)
{
    struct fx *f = *state;
    struct kg_token *ch = NULL;
    size_t n = 0;
    int64_t v0, v1, v2, rv;
    int changed;

    versions(f->st, &v0, &rv);
    for (int i = 1; i <= 3; i++) {
        struct kg_token t = mk_token(i, PUBLIC_ID, 100 + i);
        assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    }
    versions(f->st, &v1, &rv);
    assert_int_equal(v1, v0 + 3);

    assert_int_equal(changes(f->st, 0, &ch, &n), KG_OK);
    assert_int_equal(n, 3);
    free(ch);
    assert_int_equal(changes(f->st, v0 + 1, &ch, &n), KG_OK);
    assert_int_equal(n, 2); /* tokens 2 and 3 */
    free(ch);
    assert_int_equal(changes(f->st, v1, &ch, &n), KG_OK);
    assert_int_equal(n, 0);
    assert_null(ch);

    assert_int_equal(store_token_revoke(f->st, "kgc_0000000000000002", 900, &changed, NULL), KG_OK);
    versions(f->st, &v2, &rv);
    assert_int_equal(changes(f->st, v1, &ch, &n), KG_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ch[0].client_id, "kgc_0000000000000002");
    assert_int_equal(ch[0].status, KG_TOKEN_REVOKED);
    free(ch);
    assert_int_equal(changes(f->st, v2, &ch, &n), KG_OK);
    assert_int_equal(n, 0);
}

/* ---- roles --------------------------------------------------------------------------------- */

static void test_role_insert_get_list_update(void **state)
{
    struct fx *f = *state;
    struct kg_role a = mk_role(10, "ops"), b = mk_role(11, "auditor"), got, *list = NULL;
    size_t n = 0;

    a.ngranted = 1;
    strcpy(a.granted[0], PUBLIC_ID);
    assert_int_equal(store_role_insert(f->st, &a, NULL), KG_OK);
    assert_int_equal(store_role_insert(f->st, &b, NULL), KG_OK);

    assert_int_equal(store_role_get(f->st, a.role_id, &got), KG_OK);
    assert_string_equal(got.role_name, "ops");
    assert_string_equal(got.description, "role ops");
    assert_int_equal(got.created_on, 1010);
    assert_int_equal(got.ngranted, 1);
    assert_string_equal(got.granted[0], PUBLIC_ID);
    assert_int_equal(store_role_get_by_name(f->st, "auditor", &got), KG_OK);
    assert_string_equal(got.role_id, b.role_id);
    assert_int_equal(store_role_get(f->st, "r-0000000099", &got), KG_NOTFOUND);
    assert_int_equal(store_role_get_by_name(f->st, "nobody", &got), KG_NOTFOUND);

    /* Conflicts: a taken name, a taken id. */
    struct kg_role c = mk_role(12, "ops");
    assert_int_equal(store_role_insert(f->st, &c, NULL), KG_CONFLICT);
    c = mk_role(10, "other");
    assert_int_equal(store_role_insert(f->st, &c, NULL), KG_CONFLICT);
    c = mk_role(12, "withghost");
    c.ngranted = 1;
    strcpy(c.granted[0], "r-0000000099");
    assert_int_equal(store_role_insert(f->st, &c, NULL), KG_NOTFOUND);
    assert_int_equal(store_role_get(f->st, c.role_id, &got), KG_NOTFOUND); /* rolled back */

    /* List: oldest first, paged by after_seq. */
    assert_int_equal(store_role_list(f->st, 0, 3, &list, &n), KG_OK);
    assert_int_equal(n, 3);
    assert_string_equal(list[2].role_id, a.role_id);
    assert_int_equal(list[2].ngranted, 1);
    int64_t after = list[2].seq;
    free(list);
    assert_int_equal(store_role_list(f->st, after, 3, &list, &n), KG_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].role_id, b.role_id);
    free(list);
    assert_int_equal(store_role_list(f->st, after + 100, 3, &list, &n), KG_OK);
    assert_int_equal(n, 0);
    assert_null(list);

    /* Update: name, description, modified_on and the granted list, replaced whole. */
    a = mk_role(10, "operators");
    strcpy(a.description, "runs things");
    a.created_on = 1;
    a.modified_on = 2222;
    a.ngranted = 2;
    strcpy(a.granted[0], b.role_id); /* given out of seq order */
    strcpy(a.granted[1], ADMIN_ID);
    assert_int_equal(store_role_update(f->st, cur_role(f->st, &a), NULL), KG_OK);
    assert_int_equal(store_role_get(f->st, a.role_id, &got), KG_OK);
    assert_string_equal(got.role_name, "operators");
    assert_string_equal(got.description, "runs things");
    assert_int_equal(got.created_on, 1010); /* not changed by update */
    assert_int_equal(got.modified_on, 2222);
    assert_int_equal(got.ngranted, 2);
    assert_string_equal(got.granted[0], ADMIN_ID); /* ordered by the granted role's seq */
    assert_string_equal(got.granted[1], b.role_id);
    assert_int_equal(store_role_get_by_name(f->st, "ops", &got), KG_NOTFOUND);

    /* Failed updates leave the row as it was. */
    struct kg_role bad = a;
    strcpy(bad.role_name, "auditor");
    assert_int_equal(store_role_update(f->st, cur_role(f->st, &bad), NULL), KG_CONFLICT);
    bad = a;
    strcpy(bad.role_name, "renamed");
    bad.ngranted = 1;
    strcpy(bad.granted[0], "r-0000000099");
    assert_int_equal(store_role_update(f->st, cur_role(f->st, &bad), NULL), KG_NOTFOUND);
    bad = mk_role(98, "ghost");
    assert_int_equal(store_role_update(f->st, cur_role(f->st, &bad), NULL), KG_NOTFOUND);
    assert_int_equal(store_role_get(f->st, a.role_id, &got), KG_OK);
    assert_string_equal(got.role_name, "operators");
    assert_int_equal(got.ngranted, 2);

    bad = a;
    bad.ngranted = KG_GRANTS_MAX + 1;
    assert_int_equal(store_role_update(f->st, cur_role(f->st, &bad), NULL), KG_INVALID);
}

static void test_role_cycles_refused(void **state)
{
    struct fx *f = *state;
    struct kg_role a = mk_role(10, "a"), b = mk_role(11, "b"), c = mk_role(12, "c"), got;
    int64_t d0, r0, d, rv;

    assert_int_equal(store_role_insert(f->st, &a, NULL), KG_OK);
    assert_int_equal(store_role_insert(f->st, &b, NULL), KG_OK);
    assert_int_equal(store_role_insert(f->st, &c, NULL), KG_OK);
    a.ngranted = 1;
    strcpy(a.granted[0], b.role_id); /* A -> B */
    assert_int_equal(store_role_update(f->st, cur_role(f->st, &a), NULL), KG_OK);
    versions(f->st, &d0, &r0);

    b.ngranted = 1;
    strcpy(b.granted[0], a.role_id); /* B -> A closes a cycle */
    assert_int_equal(store_role_update(f->st, cur_role(f->st, &b), NULL), KG_PRECONDITION);
    strcpy(b.granted[0], b.role_id); /* B -> B */
    assert_int_equal(store_role_update(f->st, cur_role(f->st, &b), NULL), KG_PRECONDITION);
    b.ngranted = 1;
    strcpy(b.granted[0], c.role_id); /* B -> C fine ... */
    assert_int_equal(store_role_update(f->st, cur_role(f->st, &b), NULL), KG_OK);
    c.ngranted = 2;
    strcpy(c.granted[0], PUBLIC_ID);
    strcpy(c.granted[1], a.role_id); /* ... but C -> A closes A -> B -> C -> A */
    assert_int_equal(store_role_update(f->st, cur_role(f->st, &c), NULL), KG_PRECONDITION);

    struct kg_role self = mk_role(13, "self");
    self.ngranted = 1;
    strcpy(self.granted[0], self.role_id);
    assert_int_equal(store_role_insert(f->st, &self, NULL), KG_PRECONDITION);
    assert_int_equal(store_role_get(f->st, self.role_id, &got), KG_NOTFOUND);

    /* The earlier state is intact: A -> B -> C, C grants nothing. */
    assert_int_equal(store_role_get(f->st, a.role_id, &got), KG_OK);
    assert_int_equal(got.ngranted, 1);
    assert_string_equal(got.granted[0], b.role_id);
    assert_int_equal(store_role_get(f->st, b.role_id, &got), KG_OK);
    assert_int_equal(got.ngranted, 1);
    assert_string_equal(got.granted[0], c.role_id);
    assert_int_equal(store_role_get(f->st, c.role_id, &got), KG_OK);
    assert_int_equal(got.ngranted, 0);
    versions(f->st, &d, &rv);
    assert_int_equal(d, d0 + 1); /* only the B -> C update counted */
    assert_int_equal(rv, d);

    /* A diamond is not a cycle: A -> B, A -> C, B -> C. */
    a.ngranted = 2;
    strcpy(a.granted[1], c.role_id);
    assert_int_equal(store_role_update(f->st, cur_role(f->st, &a), NULL), KG_OK);
}

static void test_role_delete(void **state)
{
    struct fx *f = *state;
    struct kg_role r = mk_role(10, "temp"), holder = mk_role(11, "holder"), got;
    struct kg_token t = mk_token(1, "r-0000000010", 100), gt;
    struct kg_privilege p = {.role_id = "r-0000000010", .kind = KG_ALLOW, .name = "x"};
    struct kg_privilege *privs = NULL;
    struct kg_user u = mk_user(1, "u@example.com");
    size_t n = 0;
    int changed;

    r.ngranted = 1;
    strcpy(r.granted[0], PUBLIC_ID);
    assert_int_equal(store_role_insert(f->st, &r, NULL), KG_OK);
    holder.ngranted = 1;
    strcpy(holder.granted[0], r.role_id); /* holder is granted r */
    assert_int_equal(store_role_insert(f->st, &holder, NULL), KG_OK);
    assert_int_equal(store_privilege_grant(f->st, &p, 1, NULL), KG_OK);
    assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);

    assert_int_equal(store_role_delete(f->st, r.role_id, NULL), KG_PRECONDITION); /* active token */
    assert_int_equal(store_token_revoke(f->st, t.client_id, 200, &changed, NULL), KG_OK);

    u.nroles = 1;
    strcpy(u.roles[0], r.role_id);
    assert_int_equal(store_user_insert(f->st, &u, NULL), KG_OK);
    assert_int_equal(store_role_delete(f->st, r.role_id, NULL), KG_PRECONDITION); /* a user */
    assert_int_equal(store_role_get(f->st, r.role_id, &got), KG_OK);              /* untouched */
    u.nroles = 0;
    assert_int_equal(store_user_update(f->st, cur_user(f->st, &u), NULL), KG_OK);

    assert_int_equal(store_role_delete(f->st, r.role_id, NULL), KG_OK);
    assert_int_equal(store_role_get(f->st, r.role_id, &got), KG_NOTFOUND);
    assert_int_equal(store_role_delete(f->st, r.role_id, NULL), KG_NOTFOUND);
    assert_int_equal(store_role_get(f->st, holder.role_id, &got), KG_OK);
    assert_int_equal(got.ngranted, 0); /* the grant of r is gone */
    assert_int_equal(store_privilege_list(f->st, r.role_id, &privs, &n), KG_OK);
    assert_int_equal(n, 0);

    /* The revoked token keeps its role id; its role name now reads "". */
    assert_int_equal(store_token_get(f->st, t.client_id, &gt), KG_OK);
    assert_string_equal(gt.role_id, r.role_id);
    assert_string_equal(gt.role_name, "");

    /* The id and name are free again. */
    assert_int_equal(store_role_insert(f->st, &r, NULL), KG_OK);
}

/* ---- privileges ---------------------------------------------------------------------------- */

static void test_privileges(void **state)
{
    struct fx *f = *state;
    struct kg_role r = mk_role(10, "ops");
    struct kg_privilege p1 = {.role_id = "r-0000000010", .kind = KG_ALLOW, .name = "tokens_write"};
    struct kg_privilege p2 = {.role_id = "r-0000000010", .kind = KG_ALLOW, .name = "roles_read"};
    struct kg_privilege p3 = {.role_id = ADMIN_ID, .kind = KG_DENY, .name = "nothing"};
    struct kg_privilege ghost = {.role_id = "r-0000000099", .kind = KG_ALLOW, .name = "x"};
    struct kg_privilege *list = NULL;
    size_t n = 0;
    int changed = -1;

    assert_int_equal(store_role_insert(f->st, &r, NULL), KG_OK);
    assert_int_equal(store_privilege_grant(f->st, &p1, 1, NULL), KG_OK);
    assert_int_equal(store_privilege_grant(f->st, &p2, 1, NULL), KG_OK);
    assert_int_equal(store_privilege_grant(f->st, &p3, 1, NULL), KG_OK);
    assert_int_equal(store_privilege_grant(f->st, &ghost, 1, NULL), KG_NOTFOUND);

    assert_int_equal(store_privilege_list(f->st, r.role_id, &list, &n), KG_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "roles_read"); /* by name */
    assert_string_equal(list[1].name, "tokens_write");
    assert_string_equal(list[1].role_id, r.role_id);
    assert_int_equal(list[1].kind, KG_ALLOW);
    free(list);

    p1.kind = KG_DENY; /* grant again: the kind changes */
    assert_int_equal(store_privilege_grant(f->st, &p1, 2, NULL), KG_OK);
    assert_int_equal(store_privilege_list(f->st, NULL, &list, &n), KG_OK);
    assert_int_equal(n, 3);
    assert_string_equal(list[0].role_id, ADMIN_ID); /* roles in seq order, then by name */
    assert_string_equal(list[2].name, "tokens_write");
    assert_int_equal(list[2].kind, KG_DENY);
    free(list);

    p1.kind = KG_ALLOW; /* kind does not match: nothing removed */
    assert_int_equal(store_privilege_revoke(f->st, &p1, 0, &changed, NULL), KG_OK);
    assert_int_equal(changed, 0);
    p1.kind = KG_DENY;
    assert_int_equal(store_privilege_revoke(f->st, &p1, 0, &changed, NULL), KG_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(store_privilege_revoke(f->st, &p1, 0, &changed, NULL), KG_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(store_privilege_list(f->st, r.role_id, &list, &n), KG_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].name, "roles_read");
    free(list);

    assert_int_equal(store_privilege_list(f->st, "r-0000000099", &list, &n), KG_OK);
    assert_int_equal(n, 0);
    assert_null(list);
    p2.kind = 5;
    assert_int_equal(store_privilege_grant(f->st, &p2, 1, NULL), KG_INVALID);
}

static int db_sql(const struct fx *f, const char *sqlite_sql, const char *pg_sql_text);

/* The grant option: stored, added by a grant and kept by a grant without it, taken away by a
 * revoke of the option alone; a revoke of either kind; no grant option on a Deny. */
static void test_privilege_grant_option(void **state)
{
    struct fx *f = *state;
    struct kg_role r = mk_role(10, "ops");
    struct kg_privilege p = {.role_id = "r-0000000010", .kind = KG_ALLOW, .name = "orders.read"};
    struct kg_privilege *list = NULL;
    size_t n = 0;
    int changed = -1;
    int64_t d0, d1, rv;

    assert_int_equal(store_role_insert(f->st, &r, NULL), KG_OK);
    p.grant_option = 1;
    assert_int_equal(store_privilege_grant(f->st, &p, 1, NULL), KG_OK);
    assert_int_equal(store_privilege_list(f->st, r.role_id, &list, &n), KG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].kind, KG_ALLOW);
    assert_int_equal(list[0].grant_option, 1);
    free(list);

    /* the same kind again, without the option: nothing changes (no version bump) */
    versions(f->st, &d0, &rv);
    p.grant_option = 0;
    assert_int_equal(store_privilege_grant(f->st, &p, 2, NULL), KG_OK);
    versions(f->st, &d1, &rv);
    assert_int_equal(d1, d0);
    assert_int_equal(store_privilege_list(f->st, r.role_id, &list, &n), KG_OK);
    assert_int_equal(list[0].grant_option, 1);
    free(list);

    /* RevokeGrantOption: the privilege stays, the option goes; a second time changes nothing */
    p.kind = KG_KIND_ANY;
    assert_int_equal(store_privilege_revoke(f->st, &p, 1, &changed, NULL), KG_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(store_privilege_revoke(f->st, &p, 1, &changed, NULL), KG_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(store_privilege_list(f->st, r.role_id, &list, &n), KG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].grant_option, 0);
    free(list);

    /* granted again with the option, then as a Deny: the kind change takes the grant whole */
    p.kind = KG_ALLOW;
    p.grant_option = 1;
    assert_int_equal(store_privilege_grant(f->st, &p, 3, NULL), KG_OK);
    p.kind = KG_DENY;
    assert_int_equal(store_privilege_grant(f->st, &p, 4, NULL), KG_INVALID); /* Deny + option */
    p.grant_option = 0;
    assert_int_equal(store_privilege_grant(f->st, &p, 4, NULL), KG_OK);
    assert_int_equal(store_privilege_list(f->st, r.role_id, &list, &n), KG_OK);
    assert_int_equal(list[0].kind, KG_DENY);
    assert_int_equal(list[0].grant_option, 0);
    free(list);

    /* KG_KIND_ANY is a revoke's kind only; it removes the Deny */
    p.kind = KG_KIND_ANY;
    assert_int_equal(store_privilege_grant(f->st, &p, 5, NULL), KG_INVALID);
    assert_int_equal(store_privilege_revoke(f->st, &p, 0, &changed, NULL), KG_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(store_privilege_list(f->st, r.role_id, &list, &n), KG_OK);
    assert_int_equal(n, 0);
    free(list);
}

/* The account ID: made once, well-formed, the same through every handle and after a reopen. */
static void test_account_id(void **state)
{
    struct fx *f = *state;
    struct store *other = NULL;
    char a[KG_ACCOUNT_ID_LEN + 1], b[KG_ACCOUNT_ID_LEN + 1];

    assert_int_equal(store_account_id(f->st, a), KG_OK);
    assert_int_equal(strlen(a), KG_ACCOUNT_ID_LEN);
    assert_memory_equal(a, "a-", 2);
    for (size_t i = 2; i < KG_ACCOUNT_ID_LEN; i++)
        assert_true(a[i] >= '0' && a[i] <= '9');
    assert_int_equal(store_open(f->path, &other), KG_OK);
    assert_int_equal(store_account_id(other, b), KG_OK);
    assert_string_equal(a, b);
    store_free(other);
    store_free(f->st);
    f->st = NULL;
    assert_int_equal(store_open(f->path, &f->st), KG_OK);
    assert_int_equal(store_account_id(f->st, b), KG_OK);
    assert_string_equal(a, b);
}

/* What migrations 4 (owners, syncs) and 5 (grant options, the account ID) added, undone: a
 * test of one migration from version 3 takes the other back too. */
#define V4_UNDONE                                                                                  \
    " ALTER TABLE roles DROP COLUMN owning_role_id; ALTER TABLE roles DROP COLUMN sync;"           \
    " ALTER TABLE users DROP COLUMN modified_on; ALTER TABLE users DROP COLUMN sync;"
#define V5_UNDONE                                                                                  \
    " ALTER TABLE meta DROP COLUMN account_id; ALTER TABLE privileges DROP COLUMN grant_option;"
/* Migration 6 (a token's secrets in their own table) undone: each token's first secret back in
 * tokens.secret_hash, in SQLite's and in PostgreSQL's words. */
#define V6_UNDONE(type, zero)                                                                      \
    " ALTER TABLE tokens ADD COLUMN secret_hash " type " NOT NULL DEFAULT " zero ";"               \
    " UPDATE tokens SET secret_hash = (SELECT s.secret_hash FROM token_secrets s"                  \
    " WHERE s.client_id = tokens.client_id ORDER BY s.seq LIMIT 1);"                               \
    " DROP TABLE token_secrets;"
/* Migration 8 (webhooks) undone. */
#define V9_UNDONE " ALTER TABLE meta DROP COLUMN view_mark;"
#define V8_UNDONE V9_UNDONE " DROP TABLE webhook_failures; DROP TABLE webhook_state;"
/* Migration 7 (usage controls) undone, and the later ones before it. */
#define V7_UNDONE                                                                                  \
    V8_UNDONE                                                                                      \
    " ALTER TABLE tokens DROP COLUMN rate_requests; ALTER TABLE tokens DROP COLUMN rate_period;"   \
    " ALTER TABLE tokens DROP COLUMN allowed_cidrs; DROP TABLE token_usage;"                       \
    " DROP TABLE rate_windows;"
#define ZERO_HASH                                                                                  \
    "00000000000000000000000000000000"                                                             \
    "00000000000000000000000000000000"
#define V6_UNDONE_SQLITE V6_UNDONE("BLOB", "x'" ZERO_HASH "'")
#define V6_UNDONE_PG V6_UNDONE("BYTEA", "$$\\x" ZERO_HASH "$$")

/* A database of schema version 3 (before grant options and the account ID), with a privilege
 * in it, is migrated when opened: the privilege is kept without a grant option, and an account
 * ID is made once. */
static void test_migrate_from_v3(void **state)
{
    struct fx *f = *state;
    struct kg_role r = mk_role(10, "ops");
    struct kg_privilege p = {.role_id = "r-0000000010", .kind = KG_DENY, .name = "orders.write"};
    struct kg_privilege *list = NULL;
    char a[KG_ACCOUNT_ID_LEN + 1], b[KG_ACCOUNT_ID_LEN + 1];
    size_t n = 0;

    assert_int_equal(store_role_insert(f->st, &r, NULL), KG_OK);
    assert_int_equal(store_privilege_grant(f->st, &p, 1, NULL), KG_OK);
    store_free(f->st);
    f->st = NULL;
    /* back to version 3 as it was, with a version-3 row added by hand */
    assert_int_equal(
        db_sql(f,
               V7_UNDONE V6_UNDONE_SQLITE
               "ALTER TABLE meta DROP COLUMN account_id;"
               " ALTER TABLE privileges DROP COLUMN grant_option;" V4_UNDONE
               " INSERT INTO privileges (role_id, name, kind, granted_on)"
               " VALUES ('r-0000000010', 'orders.read', 0, 1); PRAGMA user_version = 3;",
               V7_UNDONE V6_UNDONE_PG "ALTER TABLE meta DROP COLUMN account_id;"
                                      " ALTER TABLE privileges DROP COLUMN grant_option;" V4_UNDONE
                                      " INSERT INTO privileges (role_id, name, kind, granted_on)"
                                      " VALUES ($$r-0000000010$$, $$orders.read$$, 0, 1);"
                                      " UPDATE schema_version SET version = 3"),
        0);

    assert_int_equal(store_open(f->path, &f->st), KG_OK);
    assert_int_equal(store_privilege_list(f->st, r.role_id, &list, &n), KG_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "orders.read");
    assert_int_equal(list[0].kind, KG_ALLOW);
    assert_int_equal(list[0].grant_option, 0);
    assert_string_equal(list[1].name, "orders.write");
    assert_int_equal(list[1].kind, KG_DENY);
    free(list);
    assert_int_equal(store_account_id(f->st, a), KG_OK);
    assert_memory_equal(a, "a-", 2);

    p.kind = KG_ALLOW; /* the new column works on the migrated table */
    p.grant_option = 1;
    assert_int_equal(store_privilege_grant(f->st, &p, 2, NULL), KG_OK);
    store_free(f->st);
    f->st = NULL;
    assert_int_equal(store_open(f->path, &f->st), KG_OK); /* migrated once: the ID stays */
    assert_int_equal(store_account_id(f->st, b), KG_OK);
    assert_string_equal(a, b);
    assert_int_equal(store_privilege_list(f->st, r.role_id, &list, &n), KG_OK);
    assert_int_equal(n, 2);
    assert_int_equal(list[1].grant_option, 1);
    free(list);
}

/* ---- users --------------------------------------------------------------------------------- */

static void test_users(void **state)
{
    struct fx *f = *state;
    struct kg_role r = mk_role(10, "ops");
    struct kg_user a = mk_user(1, "Alice@Example.com"), b = mk_user(2, "bob@example.com");
    struct kg_user got, dup, *list = NULL;
    size_t n = 0;
    int64_t count = -1;

    assert_int_equal(store_role_insert(f->st, &r, NULL), KG_OK);
    assert_int_equal(store_user_count(f->st, &count), KG_OK);
    assert_int_equal(count, 0);
    a.nroles = 2;
    strcpy(a.roles[0], r.role_id);
    strcpy(a.roles[1], ADMIN_ID);
    assert_int_equal(store_user_insert(f->st, &a, NULL), KG_OK);
    assert_int_equal(store_user_insert(f->st, &b, NULL), KG_OK);

    assert_int_equal(store_user_get(f->st, a.user_id, &got), KG_OK);
    assert_true(got.seq > 0);
    assert_string_equal(got.email, "Alice@Example.com");
    assert_string_equal(got.password_hash, a.password_hash);
    assert_int_equal(got.created_on, 5001);
    assert_int_equal(got.nroles, 2);
    assert_string_equal(got.roles[0], ADMIN_ID); /* by role seq */
    assert_string_equal(got.roles[1], r.role_id);
    assert_int_equal(store_user_get_by_email(f->st, "alice@EXAMPLE.COM", &got), KG_OK);
    assert_string_equal(got.user_id, a.user_id);
    assert_int_equal(store_user_get_by_email(f->st, "carol@example.com", &got), KG_NOTFOUND);
    assert_int_equal(store_user_get(f->st, "u-0000000099", &got), KG_NOTFOUND);

    dup = mk_user(3, "ALICE@example.COM");
    assert_int_equal(store_user_insert(f->st, &dup, NULL), KG_CONFLICT); /* email, any case */
    dup = mk_user(1, "other@example.com");
    assert_int_equal(store_user_insert(f->st, &dup, NULL), KG_CONFLICT); /* id */
    dup = mk_user(3, "carol@example.com");
    dup.nroles = 1;
    strcpy(dup.roles[0], "r-0000000099");
    assert_int_equal(store_user_insert(f->st, &dup, NULL), KG_NOTFOUND);
    assert_int_equal(store_user_get(f->st, dup.user_id, &got), KG_NOTFOUND); /* rolled back */

    /* Update: email, password hash, roles replaced whole. */
    a = mk_user(1, "alice@new.example");
    strcpy(a.password_hash, "$argon2id$new");
    a.nroles = 1;
    strcpy(a.roles[0], PUBLIC_ID);
    assert_int_equal(store_user_update(f->st, cur_user(f->st, &a), NULL), KG_OK);
    assert_int_equal(store_user_get(f->st, a.user_id, &got), KG_OK);
    assert_string_equal(got.email, "alice@new.example");
    assert_string_equal(got.password_hash, "$argon2id$new");
    assert_int_equal(got.nroles, 1);
    assert_string_equal(got.roles[0], PUBLIC_ID);
    assert_int_equal(store_user_get_by_email(f->st, "Alice@Example.com", &got), KG_NOTFOUND);

    dup = a;
    strcpy(dup.email, "BOB@example.com");
    assert_int_equal(store_user_update(f->st, cur_user(f->st, &dup), NULL), KG_CONFLICT);
    dup = a;
    dup.nroles = 1;
    strcpy(dup.roles[0], "r-0000000099");
    assert_int_equal(store_user_update(f->st, cur_user(f->st, &dup), NULL), KG_NOTFOUND);
    dup = mk_user(77, "ghost@example.com");
    assert_int_equal(store_user_update(f->st, cur_user(f->st, &dup), NULL), KG_NOTFOUND);
    assert_int_equal(store_user_get(f->st, a.user_id, &got), KG_OK);
    assert_int_equal(got.nroles, 1); /* untouched by the failed updates */
    assert_string_equal(got.email, "alice@new.example");

    assert_int_equal(store_user_list(f->st, 0, 1, &list, &n), KG_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].user_id, a.user_id);
    int64_t after = list[0].seq;
    free(list);
    assert_int_equal(store_user_list(f->st, after, 10, &list, &n), KG_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].user_id, b.user_id);
    free(list);

    assert_int_equal(store_user_count(f->st, &count), KG_OK);
    assert_int_equal(count, 2);
    assert_int_equal(store_user_delete(f->st, a.user_id, NULL), KG_OK);
    assert_int_equal(store_user_delete(f->st, a.user_id, NULL), KG_NOTFOUND);
    assert_int_equal(store_user_get(f->st, a.user_id, &got), KG_NOTFOUND);
    assert_int_equal(store_user_count(f->st, &count), KG_OK);
    assert_int_equal(count, 1);

    /* Its role rows went with it: the role it held can now be deleted ... */
    a = mk_user(1, "alice@new.example");
    a.nroles = 1;
    strcpy(a.roles[0], r.role_id);
    assert_int_equal(store_user_insert(f->st, &a, NULL), KG_OK); /* id and email free again */
    assert_int_equal(store_role_delete(f->st, r.role_id, NULL), KG_PRECONDITION);
    assert_int_equal(store_user_delete(f->st, a.user_id, NULL), KG_OK);
    assert_int_equal(store_role_delete(f->st, r.role_id, NULL), KG_OK);
}

/* ---- durability and sharing ---------------------------------------------------------------- */

static void test_reopen_keeps_data(void **state)
{
    struct fx *f = *state;
    struct kg_role r = mk_role(10, "ops"), got;
    struct kg_token t = mk_token(1, "r-0000000010", 100), gt;
    struct kg_user u = mk_user(1, "a@example.com"), gu;
    int64_t d0, r0, d, rv;

    assert_int_equal(store_role_insert(f->st, &r, NULL), KG_OK);
    assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    assert_int_equal(store_user_insert(f->st, &u, NULL), KG_OK);
    versions(f->st, &d0, &r0);
    store_free(f->st);
    f->st = NULL;

    assert_int_equal(store_open(f->path, &f->st), KG_OK);
    assert_int_equal(store_role_get(f->st, r.role_id, &got), KG_OK);
    assert_string_equal(got.role_name, "ops");
    assert_int_equal(store_token_get(f->st, t.client_id, &gt), KG_OK);
    assert_string_equal(gt.role_name, "ops");
    assert_int_equal(store_user_get(f->st, u.user_id, &gu), KG_OK);
    versions(f->st, &d, &rv);
    assert_int_equal(d, d0);
    assert_int_equal(rv, r0);

    /* seq keeps growing across reopening. */
    struct kg_token t2 = mk_token(2, PUBLIC_ID, 200), gt2;
    assert_int_equal(store_token_insert(f->st, &t2, NULL), KG_OK);
    assert_int_equal(store_token_get(f->st, t2.client_id, &gt2), KG_OK);
    assert_true(gt2.seq > gt.seq);
}

static void test_two_handles_share(void **state)
{
    struct fx *f = *state;
    struct store *cli = NULL;
    struct kg_token t = mk_token(1, PUBLIC_ID, 100), got;
    struct kg_role r = mk_role(10, "ops"), gr;
    struct kg_token *ch = NULL;
    size_t n = 0;
    int64_t d1, r1, d2, r2;
    int changed;

    assert_int_equal(store_open(f->path, &cli), KG_OK); /* like the CLI beside the server */

    assert_int_equal(store_token_insert(cli, &t, NULL), KG_OK);
    assert_int_equal(store_token_get(f->st, t.client_id, &got), KG_OK);
    versions(f->st, &d1, &r1);
    versions(cli, &d2, &r2);
    assert_int_equal(d1, d2);
    assert_int_equal(r1, r2);

    assert_int_equal(store_role_insert(f->st, &r, NULL), KG_OK);
    assert_int_equal(store_role_get(cli, r.role_id, &gr), KG_OK);
    versions(cli, &d2, &r2);
    assert_int_equal(d2, d1 + 1);
    assert_int_equal(r2, d2);

    /* The server notices the CLI's revoke through the version and the change feed. */
    assert_int_equal(store_token_revoke(cli, t.client_id, 500, &changed, NULL), KG_OK);
    versions(f->st, &d1, &r1);
    assert_int_equal(d1, d2 + 1);
    assert_int_equal(changes(f->st, d2, &ch, &n), KG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ch[0].status, KG_TOKEN_REVOKED);
    free(ch);

    /* Unique rules hold across handles. */
    assert_int_equal(store_token_insert(f->st, &t, NULL), KG_CONFLICT);
    store_free(cli);
}

struct open_arg {
    const char *path;
    kg_err rc;
};

static void *open_close(void *p)
{
    struct open_arg *a = p;
    struct store *st = NULL;

    a->rc = store_open(a->path, &st);
    store_free(st);
    return NULL;
}

/* Several openers racing on a fresh database: all succeed, the schema is made and seeded
 * once.  The race is lost rarely (SQLite refused the switch to WAL at once in about one round
 * in twenty), so SQLite gets many rounds, each on a new file. */
static void first_open_round(const char *path)
{
    pthread_t th[6];
    struct open_arg args[6];
    struct store *st = NULL;
    struct kg_role *list = NULL;
    size_t n = 0;
    int64_t d, rv;

    for (int i = 0; i < 6; i++) {
        args[i].path = path;
        args[i].rc = KG_INTERNAL;
        assert_int_equal(pthread_create(&th[i], NULL, open_close, &args[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].rc, KG_OK);
    }
    assert_int_equal(store_open(path, &st), KG_OK);
    assert_int_equal(store_role_list(st, 0, 100, &list, &n), KG_OK);
    assert_int_equal(n, 2);
    free(list);
    versions(st, &d, &rv);
    assert_int_equal(d, 1);
    store_free(st);
}

static void test_concurrent_first_open(void **state)
{
    struct fx *f = *state;
    char path[600];

    if (pg_admin) {
        assert_int_equal(pg_fresh(PG_FRESH_DB), 0);
        assert_int_equal(pg_uri(PG_FRESH_DB, path, sizeof path), 0);
        first_open_round(path);
        pg_drop(PG_FRESH_DB);
        return;
    }
    for (int round = 0; round < 60; round++) {
        snprintf(path, sizeof path, "%s/fresh%d.db", f->dir, round);
        first_open_round(path);
    }
}

struct writer_arg {
    struct store *st;
    int base;
    int fails;
};

static void *write_tokens(void *p)
{
    struct writer_arg *a = p;
    struct kg_token got;

    for (int i = 0; i < 50; i++) {
        struct kg_token t = mk_token(a->base + i, PUBLIC_ID, 100);
        struct kg_touch touch = {.at = 1000 + i};
        strcpy(touch.client_id, t.client_id);
        if (store_token_insert(a->st, &t, NULL) != KG_OK) a->fails++;
        if (store_token_get(a->st, t.client_id, &got) != KG_OK) a->fails++;
        if (store_token_touch(a->st, &touch, 1) != KG_OK) a->fails++;
    }
    return NULL;
}

/* One handle used from several threads at once. */
static void test_threads_share_one_handle(void **state)
{
    struct fx *f = *state;
    pthread_t th[4];
    struct writer_arg args[4];
    struct kg_token *list = NULL;
    size_t n = 0;
    int64_t d0, r0, d, rv;

    versions(f->st, &d0, &r0);
    for (int i = 0; i < 4; i++) {
        args[i] = (struct writer_arg){.st = f->st, .base = 1000 * (i + 1), .fails = 0};
        assert_int_equal(pthread_create(&th[i], NULL, write_tokens, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].fails, 0);
    }
    assert_int_equal(store_token_list(f->st, 0, 1000, &list, &n), KG_OK);
    assert_int_equal(n, 200);
    free(list);
    versions(f->st, &d, &rv);
    assert_int_equal(d, d0 + 200);
}

struct handle_arg {
    struct store *st;
    int base, n, fails;
};

static void *insert_tokens(void *p)
{
    struct handle_arg *a = p;

    for (int i = 0; i < a->n; i++) {
        struct kg_token t = mk_token(a->base + i, PUBLIC_ID, 100 + i);
        if (store_token_insert(a->st, &t, NULL) != KG_OK) a->fails++;
    }
    return NULL;
}

static kg_err count_token(void *arg, const struct kg_token *t)
{
    (void)t;
    ++*(size_t *)arg;
    return KG_OK;
}

/* What a first load delivered (test_token_load_streams). */
struct load_seen {
    int inside;           /* a callback is running: another must not start */
    int overlapped;       /* one did */
    int secret_first;     /* a token came after a secret */
    pthread_t threads[2]; /* the threads that delivered rows */
    int nthreads, morethreads;
    unsigned char tok[1000];  /* how many times token i came */
    unsigned char sec[4000];  /* how many times the secret of seq i came */
    size_t ntok, nsec, wrong; /* rows, and rows not as the store has them */
};

static void load_enter(struct load_seen *ls)
{
    if (__atomic_exchange_n(&ls->inside, 1, __ATOMIC_ACQ_REL)) ls->overlapped = 1;
    pthread_t me = pthread_self();
    int known = 0;
    for (int i = 0; i < ls->nthreads; i++)
        known |= pthread_equal(ls->threads[i], me);
    if (!known && ls->nthreads == 2) ls->morethreads = 1;
    if (!known && ls->nthreads < 2) ls->threads[ls->nthreads++] = me;
}

static kg_err load_tok(void *arg, const struct kg_token *t)
{
    struct load_seen *ls = arg;
    load_enter(ls);
    int i = atoi(t->client_id + 4);
    if (ls->nsec) ls->secret_first = 1;
    if (i < 0 || i >= 1000 || t->status != KG_TOKEN_ACTIVE || t->nsecrets != 0 ||
        t->expires_on != (i % 2 ? 0 : 2000000 + i))
        ls->wrong++;
    else
        ls->tok[i]++;
    ls->ntok++;
    __atomic_store_n(&ls->inside, 0, __ATOMIC_RELEASE);
    return KG_OK;
}

static kg_err load_sec(void *arg, const char *client_id, const struct kg_secret *s)
{
    struct load_seen *ls = arg;
    load_enter(ls);
    int i = atoi(client_id + 4);
    if (s->seq <= 0 || s->seq >= 4000 || s->hash[0] != (unsigned char)(i % 251))
        ls->wrong++;
    else
        ls->sec[s->seq]++;
    ls->nsec++;
    __atomic_store_n(&ls->inside, 0, __ATOMIC_RELEASE);
    return KG_OK;
}

/*
 * The first load's two streams: every token once and every secret once, as stored, every
 * token before any secret, one callback at a time.  SQLite reads a file database's tables in
 * parts, two at a time on two threads (the callbacks come from both); PostgreSQL on one.  Its
 * 1,000 tokens and 1,250 secrets make more parts than the two the sides begin with.
 */
static void test_token_load_streams(void **state)
{
    struct fx *f = *state;
    struct kg_token t;
    struct kg_secret sec;
    struct load_seen *ls = calloc(1, sizeof *ls);
    enum { N = 1000 };
    assert_non_null(ls);
    memset(&t, 0, sizeof t);
    strcpy(t.role_id, "r-0000000002");
    strcpy(t.created_by, "test");
    t.nsecrets = 1;
    for (int i = 0; i < N; i++) {
        snprintf(t.client_id, sizeof t.client_id, "kgc_%016d", i);
        t.created_on = 1000 + i;
        t.expires_on = i % 2 ? 0 : 2000000 + i;
        memset(t.secrets[0].hash, i % 251, sizeof t.secrets[0].hash);
        assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    }
    size_t nsecrets = N;
    for (int i = 0; i < N; i += 4) { /* a second secret, in the upper half of the seqs */
        snprintf(t.client_id, sizeof t.client_id, "kgc_%016d", i);
        memset(&sec, 0, sizeof sec);
        memset(sec.hash, i % 251, sizeof sec.hash);
        sec.hash[1] = 0xee; /* unlike the token's first */
        strcpy(sec.prefix, "kgs_abcd");
        sec.created_on = 5000;
        assert_int_equal(store_secret_add(f->st, t.client_id, &sec, 5000, 0, NULL), KG_OK);
        nsecrets++;
    }
    assert_int_equal(store_token_load(f->st, load_tok, load_sec, ls), KG_OK);
    assert_int_equal(ls->wrong, 0);
    assert_int_equal(ls->ntok, N);
    assert_int_equal(ls->nsec, nsecrets);
    for (int i = 0; i < N; i++)
        assert_int_equal(ls->tok[i], 1);
    size_t seqs = 0;
    for (int i = 0; i < 4000; i++) {
        assert_true(ls->sec[i] <= 1);
        seqs += ls->sec[i];
    }
    assert_int_equal(seqs, nsecrets);
    assert_int_equal(ls->secret_first, 0);
    assert_int_equal(ls->overlapped, 0);
    assert_int_equal(ls->morethreads, 0);
    assert_int_equal(ls->nthreads, pg_admin ? 1 : 2);
    free(ls);
}

/*
 * Two handles (two connections, like two processes) writing at once: no write lost or
 * doubled, every write one data_ver step, and the change feed after a point gives exactly the
 * tokens written after it.
 */
static void test_two_handles_interleaved(void **state)
{
    struct fx *f = *state;
    struct store *other = NULL;
    struct handle_arg args[2];
    pthread_t th[2];
    struct kg_token *list = NULL, *ch = NULL;
    int seen[2 * 150] = {0};
    size_t n = 0, fed = 0;
    int64_t d0, r0, d, rv, v;

    assert_int_equal(store_open(f->path, &other), KG_OK);
    versions(f->st, &d0, &r0);
    args[0] = (struct handle_arg){.st = f->st, .base = 0, .n = 150};
    args[1] = (struct handle_arg){.st = other, .base = 150, .n = 150};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, insert_tokens, &args[i]), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].fails, 0);
    }
    versions(other, &d, &rv);
    assert_int_equal(d, d0 + 300);
    assert_int_equal(rv, r0);
    assert_int_equal(store_token_list(f->st, 0, 1000, &list, &n), KG_OK);
    assert_int_equal(n, 300);
    for (size_t k = 0; k < n; k++) {
        int id = atoi(list[k].client_id + 4);
        assert_true(id >= 0 && id < 300);
        assert_int_equal(seen[id], 0);
        seen[id] = 1;
        if (k) assert_true(list[k].seq < list[k - 1].seq);
    }
    free(list);

    /* Each token holds its own version: the feed from any point has the rest, in order. */
    assert_int_equal(changes(f->st, d0, &ch, &n), KG_OK);
    assert_int_equal(n, 300);
    free(ch);
    assert_int_equal(changes(other, d0 + 100, &ch, &n), KG_OK);
    assert_int_equal(n, 200);
    free(ch);
    v = d0 + 250;
    assert_int_equal(store_token_changes(f->st, v, count_token, &fed), KG_OK);
    assert_int_equal(fed, 50);
    store_free(other);
}

/* The change feed stops with the callback's error, and the store stays usable. */
static kg_err stop_at_two(void *arg, const struct kg_token *t)
{
    (void)t;
    return ++*(size_t *)arg == 2 ? KG_TOOBIG : KG_OK;
}

static kg_err count_jti(void *arg, const char *jti, int64_t exp)
{
    (void)jti;
    (void)exp;
    ++*(size_t *)arg;
    return KG_OK;
}

static void test_feeds(void **state)
{
    struct fx *f = *state;
    size_t n = 0;
    int64_t d0, r0, d, rv;

    for (int i = 1; i <= 1500; i++) { /* more than one cursor batch */
        struct kg_token t = mk_token(i, PUBLIC_ID, 100 + i);
        assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    }
    assert_int_equal(store_token_changes(f->st, 0, count_token, &n), KG_OK);
    assert_int_equal(n, 1500);
    n = 0;
    assert_int_equal(store_token_changes(f->st, 0, stop_at_two, &n), KG_TOOBIG);
    assert_int_equal(n, 2);

    versions(f->st, &d0, &r0);
    assert_int_equal(store_jti_revoke(f->st, "jti-1", "kgc_0000000000000001", 2000, 1000), KG_OK);
    assert_int_equal(store_jti_revoke(f->st, "jti-2", "kgc_0000000000000001", 1500, 1000), KG_OK);
    assert_int_equal(store_jti_revoke(f->st, "jti-1", "kgc_0000000000000001", 2000, 1000), KG_OK);
    versions(f->st, &d, &rv);
    assert_int_equal(d, d0 + 3);
    n = 0;
    assert_int_equal(store_jti_changes(f->st, 0, 1000, count_jti, &n), KG_OK);
    assert_int_equal(n, 2);
    n = 0;
    assert_int_equal(store_jti_changes(f->st, 0, 1600, count_jti, &n), KG_OK);
    assert_int_equal(n, 1); /* jti-2 expired */
    n = 0;
    assert_int_equal(store_jti_changes(f->st, d0 + 1, 1000, count_jti, &n), KG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_jti_revoke(f->st, "jti-3", "kgc_0000000000000001", 3000, 1800), KG_OK);
    n = 0;
    assert_int_equal(store_jti_changes(f->st, 0, 0, count_jti, &n), KG_OK);
    assert_int_equal(n, 2); /* jti-2 purged by the last revoke */
}

/* PostgreSQL: a connection cut by the server is re-made on the next call. */
static void test_pg_reconnects(void **state)
{
    /* $$...$$ quotes inside psql -c '...' without touching the shell's quotes. */
    static const char kill_sessions[] = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                        " WHERE datname = $$" PG_DB "$$";
    struct fx *f = *state;
    struct kg_role r;
    struct kg_token t = mk_token(1, PUBLIC_ID, 100), got;
    int64_t d, rv;

    if (!pg_admin) skip();
    assert_int_equal(store_role_get(f->st, ADMIN_ID, &r), KG_OK);
    assert_int_equal(pg_admin_sql(kill_sessions), 0);
    assert_int_equal(store_role_get(f->st, ADMIN_ID, &r), KG_OK); /* read: re-made, re-run */
    assert_int_equal(pg_admin_sql(kill_sessions), 0);
    assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK); /* write lost at BEGIN: re-run */
    assert_int_equal(store_token_get(f->st, t.client_id, &got), KG_OK);
    assert_int_equal(pg_admin_sql(kill_sessions), 0);
    versions(f->st, &d, &rv);
    assert_int_equal(d, 2);
}

/* ---- versions of rows -------------------------------------------------------------------- */

static int db_sql(const struct fx *f, const char *sqlite_sql, const char *pg_sql_text);

/* Every write of a role or user gives it a new sync; an update is a compare-and-set on the sync
 * it was given: a stale one is KG_ABORTED and changes nothing. */
static void test_sync_compare_and_set(void **state)
{
    struct fx *f = *state;
    struct kg_role r = mk_role(10, "ops"), got, stale;
    struct kg_user u = mk_user(1, "a@example.com"), ugot, ustale;
    int64_t d, rv;

    strcpy(r.owning_role_id, PUBLIC_ID);
    assert_int_equal(store_role_insert(f->st, &r, NULL), KG_OK);
    assert_int_equal(store_role_get(f->st, r.role_id, &got), KG_OK);
    versions(f->st, &d, &rv);
    assert_int_equal(got.sync, d); /* the insert's data_ver */
    assert_string_equal(got.owning_role_id, PUBLIC_ID);

    stale = got;
    strcpy(got.description, "first");
    assert_int_equal(store_role_update(f->st, &got, NULL), KG_OK);
    strcpy(stale.description, "second"); /* read before the first update */
    assert_int_equal(store_role_update(f->st, &stale, NULL), KG_ABORTED);
    assert_int_equal(store_role_get(f->st, r.role_id, &got), KG_OK);
    assert_string_equal(got.description, "first");
    assert_true(got.sync > stale.sync);
    assert_string_equal(got.owning_role_id, PUBLIC_ID); /* kept by update */

    assert_int_equal(store_user_insert(f->st, &u, NULL), KG_OK);
    assert_int_equal(store_user_get(f->st, u.user_id, &ugot), KG_OK);
    assert_int_equal(ugot.modified_on, ugot.created_on);
    ustale = ugot;
    strcpy(ugot.email, "b@example.com");
    ugot.modified_on = 9999;
    assert_int_equal(store_user_update(f->st, &ugot, NULL), KG_OK);
    strcpy(ustale.email, "c@example.com");
    assert_int_equal(store_user_update(f->st, &ustale, NULL), KG_ABORTED);
    assert_int_equal(store_user_get(f->st, u.user_id, &ugot), KG_OK);
    assert_string_equal(ugot.email, "b@example.com");
    assert_int_equal(ugot.modified_on, 9999);
    assert_true(ugot.sync > ustale.sync);

    /* Deleting a role changes the roles it was granted to and hands on the ones it owned. */
    struct kg_role holder = mk_role(11, "holder"), owned = mk_role(12, "owned");
    holder.ngranted = 1;
    strcpy(holder.granted[0], r.role_id);
    strcpy(owned.owning_role_id, r.role_id);
    assert_int_equal(store_role_insert(f->st, &holder, NULL), KG_OK);
    assert_int_equal(store_role_insert(f->st, &owned, NULL), KG_OK);
    assert_int_equal(store_role_get(f->st, holder.role_id, &holder), KG_OK);
    assert_int_equal(store_role_delete(f->st, r.role_id, NULL), KG_OK);
    assert_int_equal(store_role_get(f->st, holder.role_id, &got), KG_OK);
    assert_int_equal(got.ngranted, 0);
    assert_true(got.sync > holder.sync);
    assert_int_equal(store_role_get(f->st, owned.role_id, &got), KG_OK);
    assert_string_equal(got.owning_role_id, ADMIN_ID);
}

/* Schema version 4 (and 5) on a database of version 3: the rows made before get an owner
 * (accountadmin), a sync and (users) a modified_on. */
static void test_migration_from_v3(void **state)
{
    struct fx *f = *state;
    struct kg_role r = mk_role(10, "old"), got;
    struct kg_user u = mk_user(1, "old@example.com"), ugot;

    assert_int_equal(store_role_insert(f->st, &r, NULL), KG_OK);
    assert_int_equal(store_user_insert(f->st, &u, NULL), KG_OK);
    store_free(f->st);
    f->st = NULL;
    /* back to version 3's tables, as an older keygate left them */
    assert_int_equal(
        db_sql(f,
               "ALTER TABLE roles DROP COLUMN owning_role_id;"
               " ALTER TABLE roles DROP COLUMN sync;"
               " ALTER TABLE users DROP COLUMN modified_on;"
               " ALTER TABLE users DROP COLUMN sync;" V5_UNDONE V7_UNDONE V6_UNDONE_SQLITE
               " PRAGMA user_version = 3;",
               "ALTER TABLE roles DROP COLUMN owning_role_id;"
               " ALTER TABLE roles DROP COLUMN sync;"
               " ALTER TABLE users DROP COLUMN modified_on;"
               " ALTER TABLE users DROP COLUMN sync;" V5_UNDONE V7_UNDONE V6_UNDONE_PG
               " UPDATE schema_version SET version = 3"),
        0);
    assert_int_equal(store_open(f->path, &f->st), KG_OK);
    assert_int_equal(store_role_get(f->st, r.role_id, &got), KG_OK);
    assert_string_equal(got.owning_role_id, ADMIN_ID);
    assert_true(got.sync > 0);
    assert_int_equal(store_user_get(f->st, u.user_id, &ugot), KG_OK);
    assert_int_equal(ugot.modified_on, ugot.created_on);
    assert_true(ugot.sync > 0);
    strcpy(got.description, "changed"); /* and the compare-and-set works on them */
    assert_int_equal(store_role_update(f->st, &got, NULL), KG_OK);
}

/* A token's usage controls are stored, read back by every read, and changed by update: only an
 * Active token's; the store refuses a half rate limit and ranges not in canonical form. */
static void test_token_limits(void **state)
{
    struct fx *f = *state;
    struct kg_token t = mk_token(1, PUBLIC_ID, 1700000000000), got, *list = NULL;
    size_t n = 0;
    int changed = 0;

    t.rate_requests = 100;
    t.rate_period_s = 60;
    strcpy(t.cidrs, "203.0.113.0/24,2001:db8::/32");
    assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    assert_int_equal(store_token_get(f->st, t.client_id, &got), KG_OK);
    assert_int_equal(got.rate_requests, 100);
    assert_int_equal(got.rate_period_s, 60);
    assert_string_equal(got.cidrs, "203.0.113.0/24,2001:db8::/32");
    assert_int_equal(store_token_list(f->st, 0, 10, &list, &n), KG_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].cidrs, t.cidrs);
    assert_int_equal(list[0].rate_requests, 100);
    free(list);

    strcpy(got.description, "changed");
    got.rate_requests = got.rate_period_s = 0;
    strcpy(got.cidrs, "");
    assert_int_equal(store_token_update(f->st, &got, NULL), KG_OK);
    assert_int_equal(store_token_get(f->st, t.client_id, &got), KG_OK);
    assert_string_equal(got.description, "changed");
    assert_int_equal(got.rate_requests, 0);
    assert_string_equal(got.cidrs, "");

    got.rate_requests = 5; /* without its period */
    assert_int_equal(store_token_update(f->st, &got, NULL), KG_INVALID);
    got.rate_period_s = 1;
    strcpy(got.cidrs, "10.1.2.3/8"); /* not canonical: 10.0.0.0/8 */
    assert_int_equal(store_token_update(f->st, &got, NULL), KG_INVALID);
    strcpy(got.cidrs, "10.0.0.0/8,");
    assert_int_equal(store_token_update(f->st, &got, NULL), KG_INVALID);
    strcpy(got.cidrs, "10.0.0.0/8");
    assert_int_equal(store_token_update(f->st, &got, NULL), KG_OK);
    assert_int_equal(store_token_revoke(f->st, t.client_id, 1700000001000, &changed, NULL), KG_OK);
    assert_int_equal(store_token_update(f->st, &got, NULL), KG_PRECONDITION);
    strcpy(got.client_id, "kgc_0000000000000099");
    assert_int_equal(store_token_update(f->st, &got, NULL), KG_NOTFOUND);
}

/* Usage counts add up per (token, hour), from any number of flushes; a range reads what lies
 * in it; top orders tokens by requests or refusals; prune drops old hours. */
static void test_usage(void **state)
{
    struct fx *f = *state;
    const int64_t h = 1700000000000 / 3600000 * 3600000;
    struct kg_usage u[3], *rows = NULL, total;
    size_t n = 0;

    memset(u, 0, sizeof u);
    strcpy(u[0].client_id, "kgc_a");
    u[0].hour = h;
    u[0].n[KG_USE_GATE_ALLOWED] = 5;
    u[0].n[KG_USE_REFUSED_RATE] = 1;
    strcpy(u[1].client_id, "kgc_a");
    u[1].hour = h + 3600000;
    u[1].n[KG_USE_EXCHANGE] = 2;
    strcpy(u[2].client_id, "kgc_b");
    u[2].hour = h;
    u[2].n[KG_USE_REFUSED_ADDRESS] = 3;
    u[2].n[KG_USE_REFUSED_EXPIRED] = 1;
    assert_int_equal(store_usage_add(f->st, u, 3), KG_OK);
    assert_int_equal(store_usage_add(f->st, u, 1), KG_OK); /* a second flush adds */

    assert_int_equal(store_usage_read(f->st, "kgc_a", h, h + 7200000, &rows, &n), KG_OK);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].hour, h);
    assert_int_equal(rows[0].n[KG_USE_GATE_ALLOWED], 10);
    assert_int_equal(rows[0].n[KG_USE_REFUSED_RATE], 2);
    assert_int_equal(rows[1].n[KG_USE_EXCHANGE], 2);
    free(rows);
    assert_int_equal(store_usage_read(f->st, "kgc_a", h + 3600000, h + 7200000, &rows, &n), KG_OK);
    assert_int_equal(n, 1);
    free(rows);

    assert_int_equal(store_usage_top(f->st, h, h + 7200000, 0, 10, &rows, &n), KG_OK);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].client_id, "kgc_a"); /* 14 requests against 4 */
    assert_int_equal(rows[0].n[KG_USE_GATE_ALLOWED], 10);
    assert_int_equal(rows[0].n[KG_USE_EXCHANGE], 2);
    free(rows);
    assert_int_equal(store_usage_top(f->st, h, h + 7200000, 1, 1, &rows, &n), KG_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].client_id, "kgc_b"); /* 4 refusals against 2 */
    free(rows);
    assert_int_equal(store_usage_top(f->st, h + 3600000, h + 7200000, 1, 10, &rows, &n), KG_OK);
    assert_int_equal(n, 0); /* none refused then: left out */
    free(rows);

    assert_int_equal(store_usage_total(f->st, h, h + 7200000, &total), KG_OK);
    assert_int_equal(total.n[KG_USE_GATE_ALLOWED], 10);
    assert_int_equal(total.n[KG_USE_REFUSED_ADDRESS], 3);
    assert_int_equal(store_usage_total(f->st, 0, 1, &total), KG_OK);
    assert_int_equal(total.n[KG_USE_GATE_ALLOWED], 0);

    assert_int_equal(store_usage_prune(f->st, h + 3600000), KG_OK);
    assert_int_equal(store_usage_read(f->st, "kgc_a", 0, INT64_MAX, &rows, &n), KG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].hour, h + 3600000);
    free(rows);
}

/* Rate windows: a node reads the others' counts (summed), never its own; a newer count of its
 * own replaces the older; windows two periods old are dropped. */
static void test_rate_sync(void **state)
{
    struct fx *f = *state;
    struct kg_rate_window w = {.client_id = "kgc_a", .start = 60000, .period = 60000, .count = 7};
    struct kg_rate_window *others = NULL;
    size_t n = 0;

    assert_int_equal(store_rate_sync(f->st, "node1", &w, 1, 61000, &others, &n), KG_OK);
    assert_int_equal(n, 0);
    free(others);
    w.count = 9;
    assert_int_equal(store_rate_sync(f->st, "node1", &w, 1, 62000, &others, &n), KG_OK);
    free(others);
    w.count = 4;
    assert_int_equal(store_rate_sync(f->st, "node2", &w, 1, 62000, &others, &n), KG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(others[0].count, 9);
    free(others);
    assert_int_equal(store_rate_sync(f->st, "node3", NULL, 0, 63000, &others, &n), KG_OK);
    assert_int_equal(n, 1);
    assert_string_equal(others[0].client_id, "kgc_a");
    assert_int_equal(others[0].start, 60000);
    assert_int_equal(others[0].period, 60000);
    assert_int_equal(others[0].count, 13);
    free(others);
    assert_int_equal(store_rate_sync(f->st, "node3", NULL, 0, 180000, &others, &n), KG_OK);
    assert_int_equal(n, 0);
    free(others);
}

/* Schema version 6 on a database of version 5: each token's one secret moves to its own table
 * (same hash, no prefix to show, no expiry of its own, its last use the token's last access),
 * and the token works as before: its secrets can be added to. */
static void test_migrate_from_v5(void **state)
{
    struct fx *f = *state;
    struct kg_token t = mk_token(1, PUBLIC_ID, 1700000000000), got;
    struct kg_touch touch = {.at = 1700000005000};
    struct kg_secret s2 = t.secrets[0];

    assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    strcpy(touch.client_id, t.client_id);
    assert_int_equal(store_token_touch(f->st, &touch, 1), KG_OK);
    store_free(f->st);
    f->st = NULL;
    assert_int_equal(db_sql(f, V7_UNDONE V6_UNDONE_SQLITE " PRAGMA user_version = 5;",
                            V7_UNDONE V6_UNDONE_PG " UPDATE schema_version SET version = 5"),
                     0);
    assert_int_equal(store_open(f->path, &f->st), KG_OK);
    assert_int_equal(store_token_get(f->st, t.client_id, &got), KG_OK);
    assert_int_equal(got.nsecrets, 1);
    assert_true(got.secrets[0].seq > 0);
    assert_memory_equal(got.secrets[0].hash, t.secrets[0].hash, KG_HASH_LEN);
    assert_string_equal(got.secrets[0].prefix, "kgs_");
    assert_int_equal(got.secrets[0].status, KG_SECRET_ACTIVE);
    assert_int_equal(got.secrets[0].created_on, 1700000000000);
    assert_int_equal(got.secrets[0].last_used_on, 1700000005000);
    assert_int_equal(got.secrets[0].expires_on, 0);
    s2.hash[0] ^= 1;
    assert_int_equal(store_secret_add(f->st, t.client_id, &s2, 1700000006000, 0, NULL), KG_OK);
    assert_int_equal(store_token_get(f->st, t.client_id, &got), KG_OK);
    assert_int_equal(got.nsecrets, 2);
}

/* A token's secrets: added up to the live limit, a rotation expiring the others, the oldest
 * dead ones dropped at the keeping limit, deletion refused for the last live one, and every
 * change reaching the change feed. */
static kg_err count_feed(void *arg, const struct kg_token *t)
{
    struct kg_token *last = arg;
    *last = *t;
    return KG_OK;
}

static void test_secrets(void **state)
{
    struct fx *f = *state;
    struct kg_token t = mk_token(1, PUBLIC_ID, 1000), got, fed;
    struct kg_secret s = t.secrets[0];
    int64_t d0, d, rv;
    int changed = 0;

    assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    for (int i = 1; i < KG_SECRETS_LIVE_MAX; i++) {
        s.hash[0] = (unsigned char)(100 + i);
        snprintf(s.description, sizeof s.description, "secret %d", i);
        s.created_on = 1000 + i;
        assert_int_equal(store_secret_add(f->st, t.client_id, &s, 2000, 0, NULL), KG_OK);
    }
    assert_int_equal(store_token_get(f->st, t.client_id, &got), KG_OK);
    assert_int_equal(got.nsecrets, KG_SECRETS_LIVE_MAX);
    for (size_t i = 1; i < got.nsecrets; i++) /* oldest first */
        assert_true(got.secrets[i].seq > got.secrets[i - 1].seq);
    assert_string_equal(got.secrets[4].description, "secret 4");
    assert_int_equal(got.secrets[4].hash[0], 104);
    /* a sixth live one is refused, and changes nothing */
    versions(f->st, &d0, &rv);
    assert_int_equal(store_secret_add(f->st, t.client_id, &s, 2000, 0, NULL), KG_PRECONDITION);
    assert_int_equal(store_secret_add(f->st, t.client_id, &s, 2000, 3000, NULL), KG_PRECONDITION);
    versions(f->st, &d, &rv);
    assert_int_equal(d, d0);
    /* but once one has expired there is room: a secret expiring at 2500, seen at 3000 */
    assert_int_equal(store_secret_delete(f->st, t.client_id, got.secrets[4].seq, 2000, NULL),
                     KG_OK);
    s.expires_on = 2500;
    assert_int_equal(store_secret_add(f->st, t.client_id, &s, 2000, 0, NULL), KG_OK);
    s.expires_on = 0;
    assert_int_equal(store_secret_add(f->st, t.client_id, &s, 2000, 0, NULL), KG_PRECONDITION);
    s.hash[0] = 200;
    assert_int_equal(store_secret_add(f->st, t.client_id, &s, 3000, 0, NULL), KG_OK);

    /* a rotation at 4000 with a grace of 1000: every older live one expires at 5000 */
    s.hash[0] = 201;
    assert_int_equal(store_secret_delete(f->st, t.client_id, got.secrets[3].seq, 4000, NULL),
                     KG_OK);
    assert_int_equal(store_secret_add(f->st, t.client_id, &s, 4000, 5000, NULL), KG_OK);
    assert_int_equal(store_token_get(f->st, t.client_id, &got), KG_OK);
    assert_int_equal(got.nsecrets, 6); /* 4 old live ones, the expired one, the new one */
    for (size_t i = 0; i + 1 < got.nsecrets; i++)
        if (got.secrets[i].expires_on != 2500) assert_int_equal(got.secrets[i].expires_on, 5000);
    assert_int_equal(got.secrets[5].hash[0], 201);
    assert_int_equal(got.secrets[5].expires_on, 0);
    assert_true(kg_secret_live(&got.secrets[5], 6000));
    assert_false(kg_secret_live(&got.secrets[0], 6000));

    /* the last live secret stays; a dead one may go */
    assert_int_equal(store_secret_delete(f->st, t.client_id, got.secrets[5].seq, 6000, NULL),
                     KG_PRECONDITION);
    assert_int_equal(store_secret_delete(f->st, t.client_id, got.secrets[0].seq, 6000, NULL),
                     KG_OK);
    assert_int_equal(store_secret_delete(f->st, t.client_id, got.secrets[0].seq, 6000, NULL),
                     KG_NOTFOUND);
    assert_int_equal(store_secret_delete(f->st, "kgc_nobody0000000000", 1, 6000, NULL),
                     KG_NOTFOUND);

    /* at KG_SECRETS_MAX kept, the oldest dead one makes room (each of these is dead by the
     * time the next is added) */
    assert_int_equal(store_token_get(f->st, t.client_id, &got), KG_OK);
    for (int i = 0; got.nsecrets + (size_t)i < KG_SECRETS_MAX; i++) {
        s.expires_on = 6000 + 10 * i + 5;
        assert_int_equal(store_secret_add(f->st, t.client_id, &s, 6000 + 10 * i, 0, NULL), KG_OK);
    }
    assert_int_equal(store_token_get(f->st, t.client_id, &got), KG_OK);
    assert_int_equal(got.nsecrets, KG_SECRETS_MAX);
    int64_t oldest = got.secrets[0].seq;
    s.expires_on = 0;
    assert_int_equal(store_secret_add(f->st, t.client_id, &s, 7000, 0, NULL), KG_OK);
    assert_int_equal(store_token_get(f->st, t.client_id, &got), KG_OK);
    assert_int_equal(got.nsecrets, KG_SECRETS_MAX);
    assert_true(got.secrets[0].seq > oldest);

    /* the feed shows the token with every secret it keeps */
    versions(f->st, &d0, &rv);
    assert_int_equal(store_secret_delete(f->st, t.client_id, got.secrets[0].seq, 7000, NULL),
                     KG_OK);
    memset(&fed, 0, sizeof fed);
    assert_int_equal(store_token_changes(f->st, d0, count_feed, &fed), KG_OK);
    assert_string_equal(fed.client_id, t.client_id);
    assert_int_equal(fed.nsecrets, KG_SECRETS_MAX - 1);
    assert_memory_equal(fed.secrets[0].hash, got.secrets[1].hash, KG_HASH_LEN);

    /* a revoked token takes no new secret */
    assert_int_equal(store_token_revoke(f->st, t.client_id, 8000, &changed, NULL), KG_OK);
    assert_int_equal(store_secret_add(f->st, t.client_id, &s, 8000, 0, NULL), KG_PRECONDITION);
    assert_int_equal(store_secret_add(f->st, "kgc_nobody0000000000", &s, 8000, 0, NULL),
                     KG_NOTFOUND);
}

/* The tokens that stop working by a time: the token's own expiry, or its last live secret's;
 * tokens already dead (revoked, expired, no live secret) are not listed. */
static void test_tokens_expiring(void **state)
{
    struct fx *f = *state;
    struct kg_token t[6], *list = NULL;
    size_t n = 0;
    int changed;

    for (int i = 0; i < 6; i++) {
        t[i] = mk_token(i + 1, PUBLIC_ID, 1000);
        if (i == 1) t[i].expires_on = 5000;            /* the token expires by 6000 */
        if (i == 2) t[i].secrets[0].expires_on = 5000; /* its only secret does */
        if (i == 3) t[i].expires_on = 2000;            /* expired already at 3000 */
        if (i == 5) t[i].secrets[0].expires_on = 9000; /* later than 6000 */
        assert_int_equal(store_token_insert(f->st, &t[i], NULL), KG_OK);
    }
    /* token 6 rotated at 1500 with a grace to 5000: its first secret expires then, the new one
     * never; token 5's one secret never expires; token 1 is revoked */
    struct kg_secret s = t[5].secrets[0];
    s.hash[1] ^= 1;
    s.expires_on = 0;
    assert_int_equal(store_token_revoke(f->st, t[0].client_id, 1500, &changed, NULL), KG_OK);
    assert_int_equal(store_secret_add(f->st, t[5].client_id, &s, 1500, 5000, NULL), KG_OK);
    assert_int_equal(store_token_list_expiring(f->st, 3000, 6000, 0, 100, &list, &n), KG_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].client_id, t[2].client_id); /* newest first */
    assert_string_equal(list[1].client_id, t[1].client_id);
    free(list);
    assert_int_equal(store_token_list_expiring(f->st, 3000, 3500, 0, 100, &list, &n), KG_OK);
    assert_int_equal(n, 0);
    free(list);
    assert_int_equal(store_token_list_expiring(f->st, 3000, 2000, 0, 100, &list, &n), KG_INVALID);
}

/* A touch names the secret used: its last_used_on rises, and only ever rises. */
static void test_secret_touch(void **state)
{
    struct fx *f = *state;
    struct kg_token t = mk_token(1, PUBLIC_ID, 1000), got;
    struct kg_touch touch[2] = {{.at = 5000}, {.at = 4000}};

    assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    assert_int_equal(store_token_get(f->st, t.client_id, &got), KG_OK);
    for (int i = 0; i < 2; i++) {
        strcpy(touch[i].client_id, t.client_id);
        touch[i].secret = got.secrets[0].seq;
    }
    assert_int_equal(store_token_touch(f->st, touch, 2), KG_OK);
    assert_int_equal(store_token_get(f->st, t.client_id, &got), KG_OK);
    assert_int_equal(got.secrets[0].last_used_on, 5000);
    assert_int_equal(got.last_access_on, 5000);
}

/* ---- audit log ---------------------------------------------------------------------------- */

/* Runs SQL on the test's database beside the store's own connection — the sqlite3 CLI on the
 * file (sqlite_sql: no double quotes, $ or backslashes), psql on PostgreSQL — as a hand at the
 * database would; 0 on success. */
static int db_sql(const struct fx *f, const char *sqlite_sql, const char *pg_sql_text)
{
    char line[4096];
    int n;

    if (pg_admin) return pg_sql(f->path, pg_sql_text);
    if (strpbrk(sqlite_sql, "\"$`\\")) return -1;
    n = snprintf(line, sizeof line, "sqlite3 -bail '%s' \"%s\" >/dev/null", f->path, sqlite_sql);
    if (n < 0 || (size_t)n >= sizeof line) return -1;
    return system(line) == 0 ? 0 : -1;
}

/* Fills *e as the OK entry of a change, told apart by its detail; returns e. */
static const struct kg_audit *change_entry(struct kg_audit *e, const char *action,
                                           const char *target, const char *detail)
{
    memset(e, 0, sizeof *e);
    e->at = 1000;
    snprintf(e->actor, sizeof e->actor, "cli");
    snprintf(e->action, sizeof e->action, "%s", action);
    snprintf(e->target, sizeof e->target, "%s", target);
    snprintf(e->address, sizeof e->address, "local");
    snprintf(e->outcome, sizeof e->outcome, "OK");
    snprintf(e->detail, sizeof e->detail, "%s", detail);
    return e;
}

/* The details of every audit entry, oldest first, joined by spaces into buf. */
static void audit_details(struct store *st, char *buf, size_t cap)
{
    struct kg_audit_filter all = {"", 0, 0};
    struct kg_audit *got = NULL;
    size_t n = 0, used = 0;

    assert_int_equal(store_audit_list(st, &all, 0, 1000, &got, &n), KG_OK);
    buf[0] = '\0';
    for (size_t i = n; i-- > 0;) {
        int w = snprintf(buf + used, cap - used, "%s%s", used ? " " : "", got[i].detail);
        assert_true(w >= 0 && (size_t)w < cap - used);
        used += (size_t)w;
    }
    free(got);
}

/*
 * A change carries its entry (store.h, "Audited changes"): written with every write that
 * returns KG_OK — one that changed nothing too — and with none that fails: a taken name or
 * id, a missing record or role, a role still held; a malformed entry stops the change.
 */
static void test_audit_entry_with_change(void **state)
{
    struct fx *f = *state;
    struct kg_role r = mk_role(10, "ops"), taken = mk_role(11, "ops"), spare = mk_role(12, "spare");
    struct kg_role ghost_role = mk_role(99, "ghost");
    struct kg_token t = mk_token(1, "r-0000000010", 100), orphan = mk_token(2, "r-0000000099", 100);
    struct kg_user u = mk_user(1, "a@example.com"), twin = mk_user(2, "A@EXAMPLE.com");
    struct kg_user ghost_user = mk_user(9, "ghost@example.com");
    struct kg_privilege p = {.role_id = "r-0000000010", .kind = KG_ALLOW, .name = "x.read"};
    struct kg_privilege ghost_priv = {.role_id = "r-0000000099", .kind = KG_ALLOW, .name = "x"};
    struct kg_token got;
    char log[1024];
    int changed = -1;
#define E(action, target, detail) change_entry(&(struct kg_audit){0}, action, target, detail)

    assert_int_equal(store_role_insert(f->st, &r, E("role.create", r.role_id, "1")), KG_OK);
    assert_int_equal(store_role_insert(f->st, &taken, E("role.create", taken.role_id, "no")),
                     KG_CONFLICT);
    assert_int_equal(store_role_insert(f->st, &spare, E("role.create", spare.role_id, "2")), KG_OK);
    strcpy(r.description, "changed");
    assert_int_equal(
        store_role_update(f->st, cur_role(f->st, &r), E("role.update", r.role_id, "3")), KG_OK);
    assert_int_equal(
        store_role_update(f->st, cur_role(f->st, &ghost_role), E("role.update", "", "no")),
        KG_NOTFOUND);

    assert_int_equal(store_token_insert(f->st, &t, E("apiToken.create", t.client_id, "4")), KG_OK);
    assert_int_equal(store_token_insert(f->st, &t, E("apiToken.create", t.client_id, "no")),
                     KG_CONFLICT);
    assert_int_equal(store_token_insert(f->st, &orphan, E("apiToken.create", "", "no")),
                     KG_NOTFOUND);
    assert_int_equal(store_role_delete(f->st, r.role_id, E("role.delete", r.role_id, "no")),
                     KG_PRECONDITION);
    assert_int_equal(store_token_revoke(f->st, t.client_id, 200, &changed,
                                        E("apiToken.revoke", t.client_id, "5")),
                     KG_OK);
    assert_int_equal(changed, 1);
    /* revoking it again changes nothing, but the attempt is recorded */
    assert_int_equal(store_token_revoke(f->st, t.client_id, 300, &changed,
                                        E("apiToken.revoke", t.client_id, "6")),
                     KG_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(store_token_revoke(f->st, "kgc_0000000000000099", 300, &changed,
                                        E("apiToken.revoke", "", "no")),
                     KG_NOTFOUND);

    assert_int_equal(store_privilege_grant(f->st, &p, 1, E("privilege.grant", p.role_id, "7")),
                     KG_OK);
    assert_int_equal(store_privilege_grant(f->st, &p, 2, E("privilege.grant", p.role_id, "8")),
                     KG_OK); /* as it is */
    assert_int_equal(store_privilege_grant(f->st, &ghost_priv, 1, E("privilege.grant", "", "no")),
                     KG_NOTFOUND);
    assert_int_equal(
        store_privilege_revoke(f->st, &p, 0, &changed, E("privilege.revoke", p.role_id, "9")),
        KG_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(
        store_privilege_revoke(f->st, &p, 0, &changed, E("privilege.revoke", p.role_id, "10")),
        KG_OK);
    assert_int_equal(changed, 0);

    assert_int_equal(store_user_insert(f->st, &u, E("user.create", u.user_id, "11")), KG_OK);
    assert_int_equal(store_user_insert(f->st, &twin, E("user.create", twin.user_id, "no")),
                     KG_CONFLICT);
    strcpy(u.email, "b@example.com");
    assert_int_equal(
        store_user_update(f->st, cur_user(f->st, &u), E("user.update", u.user_id, "12")), KG_OK);
    assert_int_equal(
        store_user_update(f->st, cur_user(f->st, &ghost_user), E("user.update", "", "no")),
        KG_NOTFOUND);
    assert_int_equal(store_user_delete(f->st, u.user_id, E("user.delete", u.user_id, "13")), KG_OK);
    assert_int_equal(store_user_delete(f->st, u.user_id, E("user.delete", u.user_id, "no")),
                     KG_NOTFOUND);
    assert_int_equal(store_role_delete(f->st, spare.role_id, E("role.delete", spare.role_id, "14")),
                     KG_OK);
    assert_int_equal(store_role_delete(f->st, spare.role_id, E("role.delete", spare.role_id, "no")),
                     KG_NOTFOUND);

    /* a malformed entry (empty action) stops the change before anything is written */
    struct kg_token t3 = mk_token(3, PUBLIC_ID, 100);
    assert_int_equal(store_token_insert(f->st, &t3, E("", t3.client_id, "no")), KG_INVALID);
    assert_int_equal(store_token_get(f->st, t3.client_id, &got), KG_NOTFOUND);

    audit_details(f->st, log, sizeof log);
    assert_string_equal(log, "1 2 3 4 5 6 7 8 9 10 11 12 13 14");
#undef E
}

/*
 * An entry the database refuses (a trigger, installed beside the store as a hand at the
 * database would) fails its change, which is rolled back whole: nothing of any kind of
 * change is left, no version moves, and the entries that were accepted are all there is.
 */
static void test_audit_refused_rolls_back(void **state)
{
    static const char sqlite_trigger[] =
        "CREATE TRIGGER audit_refuse BEFORE INSERT ON audit_log WHEN NEW.detail = 'refuse'"
        " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;";
    static const char pg_trigger[] =
        "CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS"
        " $f$ BEGIN RAISE EXCEPTION $$refused by the test$$; END $f$;"
        " CREATE TRIGGER audit_refuse BEFORE INSERT ON audit_log FOR EACH ROW"
        " WHEN (NEW.detail = $$refuse$$) EXECUTE FUNCTION audit_refuse();";
    struct fx *f = *state;
    struct kg_role r = mk_role(10, "ops"), other = mk_role(11, "other"), rgot;
    struct kg_token t = mk_token(1, PUBLIC_ID, 100), tgot;
    struct kg_user u = mk_user(1, "a@example.com"), ugot;
    struct kg_privilege p = {.role_id = "r-0000000010", .kind = KG_ALLOW, .name = "x.read"};
    struct kg_privilege *privs = NULL;
    size_t n = 0;
    int changed = -1;
    int64_t d0, r0, d, rv;
    char log[256];
#define E(action, target, detail) change_entry(&(struct kg_audit){0}, action, target, detail)
#define REFUSED(action, target) E(action, target, "refuse")

    assert_int_equal(db_sql(f, sqlite_trigger, pg_trigger), 0);
    versions(f->st, &d0, &r0);

    /* creates: no record */
    assert_int_not_equal(store_role_insert(f->st, &r, REFUSED("role.create", r.role_id)), KG_OK);
    assert_int_equal(store_role_get(f->st, r.role_id, &rgot), KG_NOTFOUND);
    assert_int_not_equal(store_token_insert(f->st, &t, REFUSED("apiToken.create", t.client_id)),
                         KG_OK);
    assert_int_equal(store_token_get(f->st, t.client_id, &tgot), KG_NOTFOUND);
    assert_int_not_equal(store_user_insert(f->st, &u, REFUSED("user.create", u.user_id)), KG_OK);
    assert_int_equal(store_user_get(f->st, u.user_id, &ugot), KG_NOTFOUND);
    versions(f->st, &d, &rv);
    assert_int_equal(d, d0);
    assert_int_equal(rv, r0);

    /* the same with entries that are accepted */
    assert_int_equal(store_role_insert(f->st, &r, E("role.create", r.role_id, "1")), KG_OK);
    assert_int_equal(store_role_insert(f->st, &other, E("role.create", other.role_id, "2")), KG_OK);
    assert_int_equal(store_token_insert(f->st, &t, E("apiToken.create", t.client_id, "3")), KG_OK);
    assert_int_equal(store_user_insert(f->st, &u, E("user.create", u.user_id, "4")), KG_OK);
    assert_int_equal(store_privilege_grant(f->st, &p, 1, E("privilege.grant", p.role_id, "5")),
                     KG_OK);
    versions(f->st, &d0, &r0);

    /* changes of existing records: each left as it was */
    assert_int_not_equal(store_token_revoke(f->st, t.client_id, 200, &changed,
                                            REFUSED("apiToken.revoke", t.client_id)),
                         KG_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(store_token_get(f->st, t.client_id, &tgot), KG_OK);
    assert_int_equal(tgot.status, KG_TOKEN_ACTIVE);
    assert_int_equal(tgot.revoked_on, 0);

    struct kg_role renamed = r;
    strcpy(renamed.role_name, "renamed");
    renamed.ngranted = 1;
    strcpy(renamed.granted[0], other.role_id);
    assert_int_not_equal(
        store_role_update(f->st, cur_role(f->st, &renamed), REFUSED("role.update", r.role_id)),
        KG_OK);
    assert_int_equal(store_role_get(f->st, r.role_id, &rgot), KG_OK);
    assert_string_equal(rgot.role_name, "ops");
    assert_int_equal(rgot.ngranted, 0);
    assert_int_not_equal(
        store_role_delete(f->st, other.role_id, REFUSED("role.delete", other.role_id)), KG_OK);
    assert_int_equal(store_role_get(f->st, other.role_id, &rgot), KG_OK);

    struct kg_privilege deny = p;
    deny.kind = KG_DENY;
    assert_int_not_equal(
        store_privilege_grant(f->st, &deny, 2, REFUSED("privilege.grant", p.role_id)), KG_OK);
    assert_int_not_equal(
        store_privilege_revoke(f->st, &p, 0, &changed, REFUSED("privilege.revoke", p.role_id)),
        KG_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(store_privilege_list(f->st, p.role_id, &privs, &n), KG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(privs[0].kind, KG_ALLOW);
    free(privs);

    struct kg_user moved = u;
    strcpy(moved.email, "b@example.com");
    assert_int_not_equal(
        store_user_update(f->st, cur_user(f->st, &moved), REFUSED("user.update", u.user_id)),
        KG_OK);
    assert_int_equal(store_user_get(f->st, u.user_id, &ugot), KG_OK);
    assert_string_equal(ugot.email, "a@example.com");
    assert_int_not_equal(store_user_delete(f->st, u.user_id, REFUSED("user.delete", u.user_id)),
                         KG_OK);
    assert_int_equal(store_user_get(f->st, u.user_id, &ugot), KG_OK);

    versions(f->st, &d, &rv);
    assert_int_equal(d, d0);
    assert_int_equal(rv, r0);
    audit_details(f->st, log, sizeof log);
    assert_string_equal(log, "1 2 3 4 5");
#undef REFUSED
#undef E
}

static struct kg_audit audit_entry(int64_t at, const char *actor, const char *action,
                                   const char *outcome)
{
    struct kg_audit e;
    memset(&e, 0, sizeof e);
    e.at = at;
    snprintf(e.actor, sizeof e.actor, "%s", actor);
    snprintf(e.action, sizeof e.action, "%s", action);
    snprintf(e.target, sizeof e.target, "kgc_0000000000000001");
    snprintf(e.address, sizeof e.address, "127.0.0.1");
    snprintf(e.outcome, sizeof e.outcome, "%s", outcome);
    snprintf(e.detail, sizeof e.detail, "it's \"quoted\"; DROP TABLE audit_log; --");
    return e;
}

static void test_audit_log(void **state)
{
    struct fx *f = *state;
    struct kg_audit *got = NULL;
    size_t n = 0;
    struct kg_audit_filter all = {"", 0, 0}, by_cli = {"cli", 0, 0}, window = {"", 1500, 3500};

    assert_int_equal(store_audit_list(f->st, &all, 0, 10, &got, &n), KG_OK);
    assert_int_equal(n, 0);
    assert_null(got);
    for (int i = 1; i <= 5; i++) {
        struct kg_audit e = audit_entry(i * 1000, i % 2 ? "cli" : "u-0000000001",
                                        i == 3 ? "apiToken.revoke" : "apiToken.create",
                                        i == 4 ? "PERMISSION_DENIED" : "OK");
        assert_int_equal(store_audit_append(f->st, &e), KG_OK);
    }
    /* newest first, paged by seq */
    assert_int_equal(store_audit_list(f->st, &all, 0, 2, &got, &n), KG_OK);
    assert_int_equal(n, 2);
    assert_int_equal(got[0].at, 5000);
    assert_int_equal(got[1].at, 4000);
    assert_string_equal(got[1].outcome, "PERMISSION_DENIED");
    assert_string_equal(got[1].actor, "u-0000000001");
    assert_string_equal(got[1].detail, "it's \"quoted\"; DROP TABLE audit_log; --");
    assert_string_equal(got[1].address, "127.0.0.1");
    int64_t cursor = got[1].seq;
    free(got);
    assert_int_equal(store_audit_list(f->st, &all, cursor, 10, &got, &n), KG_OK);
    assert_int_equal(n, 3);
    assert_int_equal(got[0].at, 3000);
    assert_string_equal(got[0].action, "apiToken.revoke");
    assert_int_equal(got[2].at, 1000);
    free(got);
    /* by actor, by time (since inclusive, until exclusive) */
    assert_int_equal(store_audit_list(f->st, &by_cli, 0, 10, &got, &n), KG_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(got[i].actor, "cli");
    free(got);
    assert_int_equal(store_audit_list(f->st, &window, 0, 10, &got, &n), KG_OK);
    assert_int_equal(n, 2);
    assert_int_equal(got[0].at, 3000);
    assert_int_equal(got[1].at, 2000);
    free(got);
    /* bad entries are refused, nothing written */
    struct kg_audit bad = audit_entry(6000, "cli", "", "OK");
    assert_int_equal(store_audit_append(f->st, &bad), KG_INVALID);
    assert_int_equal(store_audit_list(f->st, &all, 0, 10, &got, &n), KG_OK);
    assert_int_equal(n, 5);
    free(got);
}

/* Webhooks' state (issue 19): a new webhook starts at the log's end; one node at a time holds
 * its lease; only the holder records, and only an event after the cursor; a failure is kept;
 * the events after the cursor come oldest first. */
static void test_webhook_state(void **state)
{
    struct fx *f = *state;
    struct kg_webhook_state s;
    struct kg_webhook_failure *fl = NULL;
    struct kg_audit *ev = NULL;
    size_t n = 0;
    int claimed = -1, changed = -1;
    const char *id = "wh_0123456789abcdef", *url = "https://example.com/hook";

    struct kg_audit old = audit_entry(1000, "cli", "apiToken.create", "OK");
    assert_int_equal(store_audit_append(f->st, &old), KG_OK);
    assert_int_equal(store_webhook_get(f->st, id, &s), KG_NOTFOUND);
    assert_int_equal(store_webhook_claim(f->st, id, url, "n-a", 5000, 35000, &claimed, &s), KG_OK);
    assert_int_equal(claimed, 1);
    assert_string_equal(s.url, url);
    assert_string_equal(s.leased_by, "n-a");
    assert_int_equal(s.pending, 0); /* the entry before it is not sent */
    int64_t start = s.cursor;
    assert_true(start > 0);
    /* another node cannot take the lease before it runs out, then can */
    assert_int_equal(store_webhook_claim(f->st, id, url, "n-b", 6000, 36000, &claimed, &s), KG_OK);
    assert_int_equal(claimed, 0);
    assert_string_equal(s.leased_by, "n-a");
    assert_int_equal(store_webhook_claim(f->st, id, url, "n-a", 7000, 37000, &claimed, &s), KG_OK);
    assert_int_equal(claimed, 1);

    for (int i = 2; i <= 4; i++) {
        struct kg_audit e =
            audit_entry(i * 1000, "cli", i == 3 ? "role.create" : "user.create", "OK");
        assert_int_equal(store_audit_append(f->st, &e), KG_OK);
    }
    assert_int_equal(store_webhook_get(f->st, id, &s), KG_OK);
    assert_int_equal(s.pending, 3);
    assert_int_equal(store_audit_after(f->st, s.cursor, 2, &ev, &n), KG_OK);
    assert_int_equal(n, 2);
    assert_true(ev[0].seq > start && ev[1].seq > ev[0].seq);
    assert_string_equal(ev[0].action, "user.create");
    assert_string_equal(ev[1].action, "role.create");

    /* a retry, recorded by the holder; the other node's record is refused */
    struct kg_webhook_attempt a = {.id = id,
                                   .node = "n-b",
                                   .outcome = KG_WEBHOOK_RETRY,
                                   .event_seq = ev[0].seq,
                                   .action = ev[0].action,
                                   .attempts = 1,
                                   .next_at = 9000,
                                   .at = 8000,
                                   .status = 500,
                                   .error = "answered HTTP 500"};
    assert_int_equal(store_webhook_record(f->st, &a, &changed), KG_OK);
    assert_int_equal(changed, 0);
    a.node = "n-a";
    assert_int_equal(store_webhook_record(f->st, &a, &changed), KG_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(store_webhook_get(f->st, id, &s), KG_OK);
    assert_int_equal(s.cursor, start);
    assert_int_equal(s.attempts, 1);
    assert_int_equal(s.next_at, 9000);
    assert_int_equal(s.last_status, 500);
    assert_string_equal(s.last_error, "answered HTTP 500");
    /* delivered: the cursor moves; recording it again changes nothing */
    a.outcome = KG_WEBHOOK_DELIVERED, a.attempts = 2, a.status = 204, a.error = "";
    assert_int_equal(store_webhook_record(f->st, &a, &changed), KG_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(store_webhook_record(f->st, &a, &changed), KG_OK);
    assert_int_equal(changed, 0);
    /* the next one given up */
    a.outcome = KG_WEBHOOK_FAILED, a.event_seq = ev[1].seq, a.action = ev[1].action;
    a.attempts = 3, a.status = 0, a.error = "Timeout was reached", a.at = 12000;
    assert_int_equal(store_webhook_record(f->st, &a, &changed), KG_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(store_webhook_get(f->st, id, &s), KG_OK);
    assert_int_equal(s.cursor, ev[1].seq);
    assert_int_equal(s.attempts, 0);
    assert_int_equal(s.delivered, 1);
    assert_int_equal(s.failed, 1);
    assert_int_equal(s.pending, 1);
    assert_int_equal(store_webhook_failures(f->st, id, 10, &fl, &n), KG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(fl[0].event_seq, ev[1].seq);
    assert_string_equal(fl[0].action, "role.create");
    assert_int_equal(fl[0].attempts, 3);
    assert_int_equal(fl[0].last_status, 0);
    assert_string_equal(fl[0].error, "Timeout was reached");
    assert_int_equal(fl[0].failed_on, 12000);
    free(fl);
    free(ev);
    /* released: another node takes it at once */
    assert_int_equal(store_webhook_release(f->st, id, "n-a"), KG_OK);
    assert_int_equal(store_webhook_claim(f->st, id, url, "n-b", 13000, 43000, &claimed, &s), KG_OK);
    assert_int_equal(claimed, 1);
    assert_int_equal(s.delivered, 1); /* the row is kept: a second claim makes no new one */
    assert_int_equal(store_webhook_claim(f->st, "wh_x", url, "", 1, 2, &claimed, &s), KG_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_seeds_builtin_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_sqlite_uris, setup, teardown),
        cmocka_unit_test_setup_teardown(test_versions_move_on_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_insert_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_list_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_revoke_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_touch_only_raises, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_insert_get_list_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_cycles_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_privileges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_privilege_grant_option, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_v3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_users, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_handles_share, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_first_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_share_one_handle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_handles_interleaved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_load_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feeds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_compare_and_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_from_v3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_v5, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_touch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_expiring, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_entry_with_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_refused_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_reconnects, setup, teardown),
    };
    pg_admin = getenv("KEYGATE_TEST_PG");
    if (pg_admin && !*pg_admin) pg_admin = NULL;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
