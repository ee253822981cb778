/* Unit tests of tcache.c: an answer kept as text is taken back only under the stamp it was made
 * at and before its `until`, with its lastAccessOn holes filled from the view; a write
 * (tcache_forget) or a new data version makes every entry stale; the budget bounds the text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "tcache.h"
#include "util.h"
#include "view.h"

#define ID "kgc_CCCCCCCCCCCCCCCC"

struct fx {
    char dir[64], path[96];
    struct store *st;
    struct view *v;
    struct tcache *c;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct kg_token t;
    strcpy(f->dir, "/tmp/kg-tcache-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->path, sizeof f->path, "%s/kg.db", f->dir);
    memset(&t, 0, sizeof t);
    strcpy(t.client_id, ID);
    strcpy(t.role_id, "r-0000000002");
    t.created_on = 1000;
    t.nsecrets = 1;
    if (store_open(f->path, &f->st) != KG_OK || store_token_insert(f->st, &t, NULL) != KG_OK ||
        view_new(f->st, &f->v) != KG_OK || tcache_new(1 << 20, &f->c) != KG_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    tcache_free(f->c);
    view_free(f->v);
    store_free(f->st);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0) return -1;
    free(f);
    return 0;
}

/* The text "[<hole>,<hole>]" with two holes for ID, stored last accesses 0 and 7000 ms. */
static void put_two(struct fx *f, const struct tcache_stamp *s, int64_t until)
{
    struct tcache_hole h[2] = {{1, 0, ID, 0}, {2, 7000, ID, 0}};
    tcache_put(f->c, "k", s, until, "[,]", 3, h, 2, f->v);
}

/* Returns the entry under "k" as text ("" for a miss); caller frees. */
static char *get(struct fx *f, const struct tcache_stamp *s, int64_t now)
{
    struct jsonw w;
    jsonw_init(&w);
    int hit = tcache_get(f->c, "k", s, now, f->v, &w);
    char *out = strdup(hit ? w.text : "");
    jsonw_cleanup(&w);
    return out;
}

static void expect(struct fx *f, const struct tcache_stamp *s, int64_t now, const char *want)
{
    char *got = get(f, s, now);
    assert_string_equal(got, want);
    free(got);
}

static void test_holes_filled_from_the_view(void **state)
{
    struct fx *f = *state;
    struct tcache_stamp s;
    tcache_stamp(f->c, f->v, &s);
    put_two(f, &s, 50000);
    /* nothing known here: each hole has what the store held (0 is null) */
    expect(f, &s, 10000, "[null,\"1970-01-01T00:00:07.000Z\"]");
    /* a later use known to the view wins over the stored one; an earlier one does not */
    view_token_touch(f->v, ID, 0, VIEW_NO_COUNT, 5000);
    expect(f, &s, 10000, "[\"1970-01-01T00:00:05.000Z\",\"1970-01-01T00:00:07.000Z\"]");
    view_token_touch(f->v, ID, 0, VIEW_NO_COUNT, 9000);
    expect(f, &s, 10000, "[\"1970-01-01T00:00:09.000Z\",\"1970-01-01T00:00:09.000Z\"]");
}

/* A page of many tokens, kept: each hole shows its own token's last access, whether the
 * answer is made now (each token found by its id) or taken from the entry (by its place in
 * the view), and a token the view does not hold shows what the store held. */
static void test_each_hole_its_own_token(void **state)
{
    struct fx *f = *state;
    struct tcache_stamp s;
    struct kg_token t;
    enum { N = 300 }; /* more than a batch of the fill's */
    struct tcache_hole h[N + 1];
    char text[N + 3], want[(N + 1) * 32], *p = want;
    memset(&t, 0, sizeof t);
    strcpy(t.role_id, "r-0000000002");
    t.nsecrets = 1;
    for (int i = 0; i < N; i++) { /* newest first, as a page lists them */
        snprintf(t.client_id, sizeof t.client_id, "kgc_%016d", N - 1 - i);
        assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    }
    assert_int_equal(view_sync(f->v), KG_OK);
    for (int i = 0; i <= N; i++) { /* the last: a token the view does not hold */
        h[i] = (struct tcache_hole){(size_t)i + 1, 3000, "", 0};
        snprintf(h[i].client_id, sizeof h[i].client_id, "kgc_%016d", i);
        if (i < N) view_token_touch(f->v, h[i].client_id, 0, VIEW_NO_COUNT, 10000 + 1000LL * i);
        text[i + 1] = ',';
    }
    text[0] = '[';
    text[N + 1] = ']';
    text[N + 2] = '\0';
    p += sprintf(p, "[");
    for (int i = 0; i <= N; i++) {
        char at[40];
        kg_time_format(i < N ? 10000 + 1000LL * i : 3000, at, sizeof at);
        p += sprintf(p, "\"%s\"%s", at, i < N ? "," : "]");
    }
    tcache_stamp(f->c, f->v, &s);
    struct jsonw w;
    jsonw_init(&w);
    tcache_fill(text, N + 2, h, N + 1, f->v, &w); /* made now */
    assert_string_equal(w.text, want);
    jsonw_cleanup(&w);
    tcache_put(f->c, "k", &s, 50000, text, N + 2, h, N + 1, f->v);
    expect(f, &s, 1000, want); /* taken from the entry */
}

static void test_stale_entries_are_not_taken(void **state)
{
    struct fx *f = *state;
    struct tcache_stamp s, now;
    tcache_stamp(f->c, f->v, &s);
    put_two(f, &s, 50000);
    expect(f, &s, 49999, "[null,\"1970-01-01T00:00:07.000Z\"]");
    expect(f, &s, 50000, "");                                             /* its until has come */
    expect(f, &(struct tcache_stamp){s.epoch, s.data_ver + 1}, 1000, ""); /* another version */
    tcache_forget(f->c);                                                  /* a write here */
    tcache_stamp(f->c, f->v, &now);
    assert_int_not_equal(now.epoch, s.epoch);
    expect(f, &now, 1000, "");
    /* a change in the store, once the view has synced it, changes the stamp */
    struct kg_token t;
    memset(&t, 0, sizeof t);
    strcpy(t.client_id, "kgc_DDDDDDDDDDDDDDDD");
    strcpy(t.role_id, "r-0000000002");
    t.nsecrets = 1;
    put_two(f, &now, 50000);
    expect(f, &now, 1000, "[null,\"1970-01-01T00:00:07.000Z\"]");
    assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    assert_int_equal(view_sync(f->v), KG_OK);
    tcache_stamp(f->c, f->v, &s);
    assert_true(s.data_ver > now.data_ver);
    expect(f, &s, 1000, "");
}

static void test_budget(void **state)
{
    struct fx *f = *state;
    struct tcache_stamp s;
    size_t big = 600 << 10; /* two of them do not fit in the 1 MiB budget */
    char *text = malloc(big);
    memset(text, 'x', big);
    tcache_stamp(f->c, f->v, &s);
    tcache_put(f->c, "a", &s, INT64_MAX, text, big, NULL, 0, f->v);
    tcache_put(f->c, "b", &s, INT64_MAX, text, big, NULL, 0, f->v);
    struct jsonw w;
    jsonw_init(&w);
    int a = tcache_get(f->c, "a", &s, 0, f->v, &w), b = tcache_get(f->c, "b", &s, 0, f->v, &w);
    assert_int_equal(a + b, 1); /* whichever slot they took, one is kept */
    assert_int_equal(w.len, big);
    jsonw_cleanup(&w);
    tcache_put(f->c, "c", &s, INT64_MAX, text, 2 << 20, NULL, 0, f->v); /* larger than all of it */
    jsonw_init(&w);
    assert_int_equal(tcache_get(f->c, "c", &s, 0, f->v, &w), 0);
    jsonw_cleanup(&w);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_holes_filled_from_the_view, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_hole_its_own_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_entries_are_not_taken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget, setup, teardown),
    };
    return cmocka_run_group_tests_name("tcache", tests, NULL, NULL);
}
