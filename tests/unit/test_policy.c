/* Unit tests of policy.c: the gate's route policy — format, matching, refusals, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "policy.h"

/* Parses text (NUL-terminated) and fails the test unless it is accepted. */
static struct policy *parse_ok(const char *text)
{
    struct policy *p = NULL;
    char err[200] = "unset";
    kg_err rc = policy_parse(text, strlen(text), &p, err, sizeof err);
    if (rc != KG_OK) fail_msg("parse failed (%s): %s", kg_err_name(rc), err);
    assert_non_null(p);
    assert_string_equal(err, "");
    return p;
}

/* Parses text and checks it is refused with rc and a message equal to want (or, when want
 * ends in '*', starting with it). */
static void parse_fails(const char *text, size_t len, kg_err want_rc, const char *want)
{
    struct policy *p = (struct policy *)0x1;
    char err[200] = "";
    kg_err rc = policy_parse(text, len, &p, err, sizeof err);
    if (rc == KG_OK) policy_free(p);
    if (rc != want_rc)
        fail_msg("want %s, got %s for \"%.60s\"", kg_err_name(want_rc), kg_err_name(rc), text);
    assert_null(p);
    size_t n = strlen(want);
    if (n > 0 && want[n - 1] == '*') {
        if (strncmp(err, want, n - 1) != 0) fail_msg("message \"%s\", want \"%s\"", err, want);
    } else {
        assert_string_equal(err, want);
    }
}

static void assert_match(const struct policy *p, const char *method, const char *uri,
                         const char *want)
{
    const char *got = policy_match(p, method, uri);
    if (want == NULL && got != NULL) fail_msg("%s %s: want deny, got %s", method, uri, got);
    if (want != NULL && (got == NULL || strcmp(got, want) != 0))
        fail_msg("%s %s: want %s, got %s", method, uri, want, got ? got : "deny");
}

static void test_spec_examples(void **state)
{
    (void)state;
    struct policy *p = parse_ok("# route policy\n"
                                "GET    /api/v1/orders          orders:read\n"
                                "GET    /api/v1/orders/*        orders:read\n"
                                "POST   /api/v1/orders          orders:write   # create\n"
                                "DELETE /api/v1/orders/*        orders.admin\n"
                                "ANY    /admin/**               ManageSecurity\n"
                                "GET    /audit/**               ViewAuditLog\n"
                                "\tPUT\t/files/*/content\tfiles_rw-2\n");
    assert_int_equal(policy_rule_count(p), 7);
    assert_match(p, "GET", "/api/v1/orders", "orders:read");
    assert_match(p, "GET", "/api/v1/orders/42", "orders:read");
    assert_match(p, "POST", "/api/v1/orders", "orders:write");
    assert_match(p, "POST", "/api/v1/orders/42", NULL);
    assert_match(p, "DELETE", "/api/v1/orders/42", "orders.admin");
    assert_match(p, "DELETE", "/api/v1/orders", NULL);
    assert_match(p, "PATCH", "/admin/users/7", "ManageSecurity");
    assert_match(p, "GET", "/audit", "ViewAuditLog");
    assert_match(p, "PUT", "/files/a.txt/content", "files_rw-2");
    assert_match(p, "GET", "/API/v1/orders", NULL); /* literal segments are case-sensitive */
    assert_match(p, "GET", "/nowhere", NULL);       /* no match denies */
    policy_free(p);
}

static void test_first_match_wins(void **state)
{
    (void)state;
    struct policy *p = parse_ok("GET /a/public  reader\n"
                                "ANY /a/**      ManageSecurity\n"
                                "GET /a/public  never_reached\n"
                                "GET /**        everyone\n");
    assert_match(p, "GET", "/a/public", "reader");
    assert_match(p, "POST", "/a/public", "ManageSecurity");
    assert_match(p, "GET", "/a/other", "ManageSecurity");
    assert_match(p, "GET", "/b", "everyone");
    assert_match(p, "POST", "/b", NULL);
    /* The returned name is borrowed from the policy and stable across calls. */
    assert_ptr_equal(policy_match(p, "GET", "/b"), policy_match(p, "GET", "/c/d"));
    policy_free(p);
}

static void test_methods(void **state)
{
    (void)state;
    struct policy *p = parse_ok("ANY /any x.any\n"
                                "GET /get x.get\n"
                                "PROPFIND /dav x.dav\n");
    const char *methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "PURGE"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        assert_match(p, methods[i], "/any", "x.any");
    assert_match(p, "get", "/any", "x.any"); /* ANY is any non-empty method */
    assert_match(p, "GET", "/get", "x.get");
    assert_match(p, "get", "/get", NULL); /* exact, case-sensitive */
    assert_match(p, "GETX", "/get", NULL);
    assert_match(p, "GE", "/get", NULL);
    assert_match(p, "HEAD", "/get", NULL); /* HEAD is not implied by GET */
    assert_match(p, "PROPFIND", "/dav", "x.dav");
    assert_match(p, "AVERYLONGMETHODNAMEXX", "/get", NULL);
    assert_match(p, "", "/any", NULL);
    assert_null(policy_match(p, NULL, "/any"));
    assert_null(policy_match(p, "GET", NULL));
    assert_null(policy_match(NULL, "GET", "/any"));
    policy_free(p);
}

static void test_star_and_double_star(void **state)
{
    (void)state;
    struct policy *p = parse_ok("GET /one/*       one\n"
                                "GET /mid/*/x     mid\n"
                                "GET /rest/**     rest\n"
                                "GET /s/*/r/**    both\n"
                                "GET /            root\n");
    /* `*` is exactly one non-empty segment. */
    assert_match(p, "GET", "/one/a", "one");
    assert_match(p, "GET", "/one", NULL);
    assert_match(p, "GET", "/one/", NULL);
    assert_match(p, "GET", "/one/a/b", NULL);
    assert_match(p, "GET", "/mid/a/x", "mid");
    assert_match(p, "GET", "/mid/x", NULL);
    /* A final `**` is zero or more segments: /rest, /rest/, /rest/a/b/c. */
    assert_match(p, "GET", "/rest", "rest");
    assert_match(p, "GET", "/rest/", "rest");
    assert_match(p, "GET", "/rest/a", "rest");
    assert_match(p, "GET", "/rest/a/b/c", "rest");
    assert_match(p, "GET", "/rest/a/b/c/", "rest");
    assert_match(p, "GET", "/restx", NULL);
    assert_match(p, "GET", "/s/1/r", "both");
    assert_match(p, "GET", "/s/1/r/2/3", "both");
    assert_match(p, "GET", "/s//r", NULL);
    /* "/" is the root only. */
    assert_match(p, "GET", "/", "root");
    assert_match(p, "GET", "/x", NULL);
    policy_free(p);

    p = parse_ok("GET /** all\n");
    assert_match(p, "GET", "/", "all");
    assert_match(p, "GET", "/a/b/c", "all");
    policy_free(p);
}

static void test_trailing_slash(void **state)
{
    (void)state;
    struct policy *p = parse_ok("GET /a/b   exact\n"
                                "GET /c/d/  slashed\n"
                                "GET /e/**  tree\n");
    assert_match(p, "GET", "/a/b", "exact");
    assert_match(p, "GET", "/a/b/", NULL);
    assert_match(p, "GET", "/c/d/", "slashed");
    assert_match(p, "GET", "/c/d", NULL);
    assert_match(p, "GET", "/e/b/", "tree");
    policy_free(p);
}

static void test_query_and_fragment(void **state)
{
    (void)state;
    struct policy *p = parse_ok("GET /a/b x.ab\nGET /q/** x.q\n");
    assert_match(p, "GET", "/a/b?x=1", "x.ab");
    assert_match(p, "GET", "/a/b?", "x.ab");
    assert_match(p, "GET", "/a/b#frag", "x.ab");
    assert_match(p, "GET", "/a/b?next=/../../etc#x", "x.ab"); /* the query is not the path */
    assert_match(p, "GET", "/a/b?q=%2F%00", "x.ab");
    assert_match(p, "GET", "/a/b/?x", NULL);
    assert_match(p, "GET", "?/a/b", NULL);
    assert_match(p, "GET", "/q?a/b", "x.q");
    policy_free(p);
}

static void test_refused_uris(void **state)
{
    (void)state;
    /* A catch-all: every URI below would match it, so NULL means "refused". */
    struct policy *p = parse_ok("ANY /** anything\n");
    const char *refused[] = {
        "/a/%2F/b", "/a/%2fetc", "/a%2f..%2fb", "/a/%00", "/a/x%00y", "/a/%2E%2E/b", "/a/%2e%2e/b",
        "/a/%2e", "/a/x%2Ey", "/a/%5C..%5Cb", "/a/%5c", "/a/../b", "/a/..", "/..", "/a/./b", "/a/.",
        "/.", "/a/..;/b", "/a/..;x=1/b", "/a/.;/b", "/a\\b", "/a/..\\b", "\\a", "/a//b", "//a",
        "//", "/a///", "/a\tb", "/a\rb", "/a\x7f", "/a\x01", "", "a/b", "*", "http://host/a", "?x",
        "#x",
        /* what an upstream may decode (issue 13): double and deeper
         * encodings of the refused escapes */
        "/a/%252e%252e/b", "/a/%252E", "/a/%252F", "/a/%252f..", "/a/%255C", "/a/%2500", "/a/%253B",
        "/a/%25252F", "/a/%2525252e", "/a/%25%32%46", /* "%2F" after one decoding */
        "/a/%25%32%65", "/a/%2525%32%46",
        /* an encoded ';' (Tomcat's "..;"), encoded control bytes */
        "/a/..%3B/b", "/a/..%3b/b", "/a/%0A", "/a/%0d%0a", "/a/%09", "/a/%1F", "/a/%7F", "/a/%250A",
        /* invalid percent sequences */
        "/a/%", "/a/%2", "/a/%zz", "/a/%%32%46", "/a/%u002F", "/a/%G1", "/a/x%", "/a/%2?x",
        /* overlong and invalid UTF-8, encoded or raw */
        "/a/%C0%AF",     /* '/' in two bytes */
        "/a/%25C0%25AF", /* the same behind %25 */
        "/a/%25c0%25ae%25c0%25ae/b", "/a/%2525C0%2525AF", "/a/%c0%ae%c0%ae/b",
        "/a/%E0%80%AF",                 /* '/' in three bytes */
        "/a/%F0%80%80%AF", "/a/%C1%9C", /* '\\' in two bytes */
        "/a/%ED%A0%80",                 /* a surrogate */
        "/a/%F4%90%80%80",              /* past U+10FFFF */
        "/a/%FF", "/a/%C3",             /* cut short */
        "/a/%80", "/a/\xc0\xaf", "/a/\xff", "/a/caf\xc3"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        if (policy_match(p, "GET", refused[i])) fail_msg("URI \"%s\" was not refused", refused[i]);
    }
    /* Look-alikes that are fine. */
    const char *allowed[] = {"/",
                             "/a/",
                             "/.well-known/jwks.json",
                             "/a/..b",
                             "/a/b..",
                             "/a/...",
                             "/a/.x",
                             "/a/%41%42",
                             "/a/%2541",     /* "%41" once decoded: "A", nothing refused */
                             "/a/100%25",    /* a literal '%' */
                             "/a/100%25off", /* "%of" is no escape after decoding */
                             "/a/caf%C3%A9", /* UTF-8, encoded */
                             "/a/%E2%82%AC",
                             "/a/%F0%9F%98%80",
                             "/a;x=1",
                             "/caf\xc3\xa9",
                             "/a/b/?..=1",
                             "/a/b#/../x",
                             "/a?//b"};
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        assert_match(p, "GET", allowed[i], "anything");
    policy_free(p);

    /* The traversal a refusal prevents: a public prefix must not reach /admin. */
    p = parse_ok("GET /public/** x.public\nGET /admin/** ManageSecurity\n");
    assert_match(p, "GET", "/public/../admin/users", NULL);
    assert_match(p, "GET", "/public/%2e%2e/admin/users", NULL);
    assert_match(p, "GET", "/public/..%2Fadmin", NULL);
    assert_match(p, "GET", "/public/..;/admin/users", NULL);
    assert_match(p, "GET", "/public\\..\\admin", NULL);
    assert_match(p, "GET", "/public/%252e%252e/admin/users", NULL);
    assert_match(p, "GET", "/public/..%252Fadmin", NULL);
    assert_match(p, "GET", "/public/%c0%ae%c0%ae/admin/users", NULL);
    assert_match(p, "GET", "/public/..%3B/admin/users", NULL);
    policy_free(p);

    /* A URI holding '%' is decoded for these checks up to 4096 bytes; a longer one is
     * refused, a longer one without '%' is matched as before. */
    char longuri[4200];
    longuri[0] = '/';
    memset(longuri + 1, 'a', sizeof longuri - 2);
    longuri[sizeof longuri - 1] = '\0';
    p = parse_ok("ANY /** anything\n");
    assert_match(p, "GET", longuri, "anything");
    memcpy(longuri + 1, "%41", 3);
    assert_match(p, "GET", longuri, NULL);
    longuri[4000] = '\0';
    assert_match(p, "GET", longuri, "anything");
    policy_free(p);
}

static void test_long_uris(void **state)
{
    (void)state;
    struct policy *p = parse_ok("GET /a/** deep\nGET /b/*/*/* three\n");
    char uri[4096];
    size_t n = 0;
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(uri + n, sizeof uri - n, "/a");
    assert_match(p, "GET", uri, "deep"); /* 200 segments: beyond what a pattern can name */
    uri[1] = 'b';
    assert_match(p, "GET", uri, NULL);
    memset(uri, 'x', sizeof uri);
    memcpy(uri, "/a/", 3);
    uri[sizeof uri - 1] = '\0';
    assert_match(p, "GET", uri, "deep"); /* one 4 KB segment */
    policy_free(p);
}

/* Many distinct literals (the parser interns them), and names shared by methods and
 * segments. */
static void test_many_literals(void **state)
{
    (void)state;
    enum { N = 3000 };
    char *text = malloc((size_t)N * 64);
    assert_non_null(text);
    size_t n = 0;
    for (int i = 0; i < N; i++)
        n += (size_t)sprintf(text + n, "%s /r%d/s%d/* p%d\n", i % 3 ? "GET" : "ANY", i, i % 7, i);
    n += (size_t)sprintf(text + n, "POST /GET/POST x.post\nGET /ANY/* x.any\n");
    struct policy *p = parse_ok(text);
    assert_int_equal(policy_rule_count(p), N + 2);
    char uri[64], want[16];
    for (int i = 0; i < N; i++) {
        sprintf(uri, "/r%d/s%d/z", i, i % 7);
        sprintf(want, "p%d", i);
        assert_match(p, "GET", uri, want);
        assert_match(p, "PUT", uri, i % 3 ? NULL : want);
        sprintf(uri, "/r%d/s%d/z", i, (i + 1) % 7);
        assert_match(p, "GET", uri, NULL);
    }
    assert_match(p, "POST", "/GET/POST", "x.post");
    assert_match(p, "GET", "/GET/POST", NULL);
    assert_match(p, "GET", "/ANY/x", "x.any");
    assert_match(p, "ANY", "/ANY/x", NULL); /* "ANY" as a request method is just a name */
    assert_match(p, "ANY", "/r0/s0/z", "p0");
    policy_free(p);
    free(text);
}

static void test_comments_blank_lines_crlf(void **state)
{
    (void)state;
    struct policy *p = parse_ok("\n"
                                "   \n"
                                "\t\n"
                                "# a comment\n"
                                "   # an indented comment with GET /x y\n"
                                "GET /a x.a# no space needed\n"
                                "GET /b x.b\t# tab then comment\n"
                                "#GET /c x.c\n"
                                "GET /d x.d"); /* no final newline */
    assert_int_equal(policy_rule_count(p), 3);
    assert_match(p, "GET", "/a", "x.a");
    assert_match(p, "GET", "/b", "x.b");
    assert_match(p, "GET", "/c", NULL);
    assert_match(p, "GET", "/d", "x.d");
    policy_free(p);

    p = parse_ok("# windows\r\nGET /a x.a\r\n\r\nPOST /b/** x.b # c\r\nGET /c x.c\r");
    assert_int_equal(policy_rule_count(p), 3);
    assert_match(p, "GET", "/a", "x.a"); /* not "x.a\r" */
    assert_match(p, "POST", "/b/c", "x.b");
    assert_match(p, "GET", "/c", "x.c");
    policy_free(p);

    /* Comments may hold any bytes, even a NUL. */
    static const char nul_comment[] = "GET /a x.a # \x01\xff\0 ok\n";
    struct policy *q = NULL;
    assert_int_equal(policy_parse(nul_comment, sizeof nul_comment - 1, &q, NULL, 0), KG_OK);
    assert_match(q, "GET", "/a", "x.a");
    policy_free(q);

    /* ...but a privilege may not: it would be cut short (found by fuzzing). */
    static const char nul_priv[] = "GET /a ManageSecurity\0junk\n";
    parse_fails(nul_priv, sizeof nul_priv - 1, KG_INVALID, "line 1:*");
    /* A policy of catch-all rules alone (no segments to compare) matches everything. */
    p = parse_ok("ANY /** ManageSecurity\n");
    assert_match(p, "GET", "/", "ManageSecurity");
    assert_match(p, "DELETE", "/a/b/c", "ManageSecurity");
    policy_free(p);
}

static void test_empty_policy(void **state)
{
    (void)state;
    const char *texts[] = {"", "\n\n", "# nothing yet\n", "  \t \r\n"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        struct policy *p = parse_ok(texts[i]);
        assert_int_equal(policy_rule_count(p), 0);
        assert_match(p, "GET", "/", NULL);
        assert_match(p, "POST", "/a/b", NULL);
        policy_free(p);
    }
    struct policy *p = NULL;
    assert_int_equal(policy_parse(NULL, 0, &p, NULL, 0), KG_OK);
    assert_int_equal(policy_rule_count(p), 0);
    policy_free(p);
    policy_free(NULL);
    assert_int_equal(policy_rule_count(NULL), 0);
}

static void test_parse_errors(void **state)
{
    (void)state;
    struct {
        const char *text;
        kg_err rc;
        const char *msg;
    } cases[] = {
        /* The spec's example: the line number counts blank and comment lines. */
        {"GET /a x.a\n\n# c\nGET /b x.b\n\n  \nGET /x Foo\nGET /y x.y\n", KG_INVALID,
         "line 7: unknown privilege 'Foo'"},
        /* bad method */
        {"get /a x.a\n", KG_INVALID, "line 1: bad method 'get' (want [A-Z]{1,16} or ANY)"},
        {"GET /a x\nGet /a x\n", KG_INVALID, "line 2: bad method 'Get'*"},
        {"GET2 /a x\n", KG_INVALID, "line 1: bad method 'GET2'*"},
        {"M-SEARCH /a x\n", KG_INVALID, "line 1: bad method 'M-SEARCH'*"},
        {"ABCDEFGHIJKLMNOPQ /a x\n", KG_INVALID, "line 1: bad method*"},
        {"/a GET x\n", KG_INVALID, "line 1: bad method '/a'*"},
        /* missing field */
        {"GET\n", KG_INVALID, "line 1: missing path pattern (want METHOD PATH-PATTERN PRIVILEGE)"},
        {"\nGET /a\n", KG_INVALID, "line 2: missing privilege*"},
        {"GET /a # x.a\n", KG_INVALID, "line 1: missing privilege*"},
        {"GET /a#x x.a\n", KG_INVALID, "line 1: missing privilege*"},
        /* extra field */
        {"GET /a x.a y.b\n", KG_INVALID, "line 1: unexpected 'y.b' after the privilege"},
        {"GET /a Manage Security\n", KG_INVALID, "line 1: unexpected 'Security'*"},
        /* bad privilege */
        {"GET /a Managesecurity\n", KG_INVALID, "line 1: unknown privilege 'Managesecurity'"},
        {"GET /a MANAGESECURITY\n", KG_INVALID, "line 1: unknown privilege*"},
        {"GET /a public!\n", KG_INVALID, "line 1: unknown privilege 'public!'"},
        {"GET /a 9lives\n", KG_INVALID, "line 1: unknown privilege*"},
        {"GET /a _x\n", KG_INVALID, "line 1: unknown privilege*"},
        {"GET /a x\xc3\xa9\n", KG_INVALID, "line 1: unknown privilege 'x?\?'"},
        {"GET /a a23456789012345678901234567890123456789012345678901234567890123456\n", KG_INVALID,
         "line 1: unknown privilege 'a2345678901234567890123456789012345678901234...'"},
        /* pattern not starting with '/' */
        {"GET a/b x\n", KG_INVALID, "line 1: path pattern must start with '/': 'a/b'"},
        {"GET * x\n", KG_INVALID, "line 1: path pattern must start with '/': '*'"},
        {"GET ** x\n", KG_INVALID, "line 1: path pattern must start with '/'*"},
        /* `**` not last */
        {"GET /a/**/b x\n", KG_INVALID, "line 1: '**' must be the last segment: '/a/**/b'"},
        {"GET /**/ x\n", KG_INVALID, "line 1: '**' must be the last segment*"},
        /* other pattern errors */
        {"GET /a* x\n", KG_INVALID, "line 1: '*' must be a whole segment ('*' or '**'): '/a*'"},
        {"GET /a/***/ x\n", KG_INVALID, "line 1: '*' must be a whole segment*"},
        {"GET /a//b x\n", KG_INVALID, "line 1: empty segment ('//') in pattern '/a//b'"},
        {"GET // x\n", KG_INVALID, "line 1: empty segment*"},
        {"GET /a/../b x\n", KG_INVALID, "line 1: '.' or '..' segment in pattern '/a/../b'"},
        {"GET /a/. x\n", KG_INVALID, "line 1: '.' or '..' segment*"},
        {"GET /a%zz x\n", KG_INVALID, "line 1: bad '%' escape in pattern '/a%zz'"},
        {"GET /a% x\n", KG_INVALID, "line 1: bad '%' escape*"},
        {"GET /a%2 x\n", KG_INVALID, "line 1: bad '%' escape*"},
        {"GET /a%2f x\n", KG_INVALID,
         "line 1: %2F, %2E, %5C, %3B and control bytes never match: '/a%2f'"},
        {"GET /a%252f x\n", KG_INVALID,
         "line 1: pattern never matches: once decoded it holds a refused escape or bytes that are "
         "not UTF-8: '/a%252f'"},
        {"GET /a%C0%AF x\n", KG_INVALID,
         "line 1: pattern never matches: once decoded it holds a refused escape or bytes that are "
         "not UTF-8: '/a%C0%AF'"},
        {"GET /a%aa x\n", KG_INVALID,
         "line 1: pattern never matches: once decoded it holds a refused escape or bytes that are "
         "not UTF-8: '/a%aa'"},
        {"GET /a\\b x\n", KG_INVALID, "line 1: character not allowed in pattern '/a\\b'"},
        {"GET /a?b x\n", KG_INVALID, "line 1: character not allowed*"},
        {"GET /caf\xc3\xa9 x\n", KG_INVALID, "line 1: character not allowed in pattern '/caf?\?'"},
        {"GET /a\rb x\n", KG_INVALID, "line 1: character not allowed*"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        parse_fails(cases[i].text, strlen(cases[i].text), cases[i].rc, cases[i].msg);

    /* A NUL inside a rule is not a terminator. */
    static const char nul_rule[] = "GET /a\0b x\n";
    parse_fails(nul_rule, sizeof nul_rule - 1, KG_INVALID, "line 1: character not allowed*");

    /* The message is truncated to the buffer, and err may be absent. */
    struct policy *p = NULL;
    char small[8];
    assert_int_equal(policy_parse("GET /a Foo\n", 11, &p, small, sizeof small), KG_INVALID);
    assert_string_equal(small, "line 1:");
    assert_int_equal(policy_parse("GET /a Foo\n", 11, &p, NULL, 0), KG_INVALID);
    assert_null(p);
}

/* A heap string: head, n copies of unit, tail. */
static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(hl + ul * n + tl + 1);
    assert_non_null(s);
    memcpy(s, head, hl);
    for (size_t i = 0; i < n; i++)
        memcpy(s + hl + i * ul, unit, ul);
    memcpy(s + hl + ul * n, tail, tl + 1);
    return s;
}

static void test_limits(void **state)
{
    (void)state;
    struct policy *p = NULL;
    char *s;

    /* Lines: 1024 bytes is fine (with "\n" or "\r\n" after it), 1025 is not. */
    s = repeat("GET /a x.a", " ", 1024 - 10, "\r\nGET /b x.b\n");
    p = parse_ok(s);
    assert_int_equal(policy_rule_count(p), 2);
    policy_free(p);
    free(s);
    s = repeat("GET /a x.a", " ", 1024 - 10, "\n");
    p = parse_ok(s);
    policy_free(p);
    free(s);
    s = repeat("# ok\nGET /a x.a", " ", 1025 - 10, "\n");
    parse_fails(s, strlen(s), KG_TOOBIG, "line 2: longer than 1024 bytes");
    free(s);
    s = repeat("# ok\nGET /a x.a", " ", 1025 - 10, ""); /* the last line, unterminated */
    parse_fails(s, strlen(s), KG_TOOBIG, "line 2: longer than 1024 bytes");
    free(s);
    s = repeat("", "#", 1025, "\n"); /* a long comment is still a long line */
    parse_fails(s, strlen(s), KG_TOOBIG, "line 1: longer than 1024 bytes");
    free(s);

    /* Segments: 64 per pattern, `**` included. */
    s = repeat("GET ", "/a", 64, " x\n");
    p = parse_ok(s);
    char uri[256];
    memcpy(uri, s + 4, 128);
    uri[128] = '\0';
    assert_match(p, "GET", uri, "x");
    policy_free(p);
    free(s);
    s = repeat("GET ", "/a", 63, "/** x\n");
    p = parse_ok(s);
    policy_free(p);
    free(s);
    s = repeat("#\nGET ", "/a", 65, " x\n");
    parse_fails(s, strlen(s), KG_TOOBIG, "line 2: pattern has more than 64 segments");
    free(s);
    s = repeat("GET ", "/a", 64, "/** x\n");
    parse_fails(s, strlen(s), KG_TOOBIG, "line 1: pattern has more than 64 segments");
    free(s);
    s = repeat("GET ", "/*", 65, " x\n");
    parse_fails(s, strlen(s), KG_TOOBIG, "line 1: pattern has more than 64 segments");
    free(s);

    /* Rules: 10,000 are fine, the 10,001st is refused with its line. */
    s = repeat("", "GET /a x\n", POLICY_RULES_MAX, "");
    p = parse_ok(s);
    assert_int_equal(policy_rule_count(p), POLICY_RULES_MAX);
    policy_free(p);
    free(s);
    s = repeat("", "GET /a x\n", POLICY_RULES_MAX, "# c\nGET /b y\n");
    parse_fails(s, strlen(s), KG_TOOBIG, "line 10002: more than 10000 rules");
    free(s);

    /* Text: 1 MiB is fine, one byte more is refused with the line that crosses it. */
    size_t big = POLICY_FILE_MAX;
    s = malloc(big + 2);
    assert_non_null(s);
    memset(s, '#', big);
    for (size_t i = 999; i < big; i += 1000)
        s[i] = '\n'; /* 1000-byte lines */
    s[big] = '\0';
    p = NULL;
    assert_int_equal(policy_parse(s, big, &p, NULL, 0), KG_OK);
    assert_int_equal(policy_rule_count(p), 0);
    policy_free(p);
    s[big] = '#';
    s[big + 1] = '\0';
    parse_fails(s, big + 1, KG_TOOBIG, "line 1049: policy is larger than 1048576 bytes");
    free(s);
}

static void test_load(void **state)
{
    (void)state;
    struct policy *p = (struct policy *)0x1;
    char err[300];
    assert_int_equal(policy_load("/nonexistent/keygate/policy.conf", &p, err, sizeof err), KG_IO);
    assert_null(p);
    assert_string_equal(err,
                        "cannot read /nonexistent/keygate/policy.conf: No such file or directory");

    p = (struct policy *)0x1;
    assert_int_equal(policy_load("/", &p, err, sizeof err), KG_IO); /* a directory */
    assert_null(p);
    assert_string_equal(err, "cannot read /: Is a directory");

    char path[] = "/tmp/test_policy_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs("# gate policy\nGET /a/** x.read\nGET /b Foo\n", f);
    fclose(f);
    assert_int_equal(policy_load(path, &p, err, sizeof err), KG_INVALID);
    assert_string_equal(err, "line 3: unknown privilege 'Foo'");
    assert_null(p);

    f = fopen(path, "w");
    assert_non_null(f);
    fputs("# gate policy\nGET /a/** x.read\nANY /admin/** ManageSecurity\n", f);
    fclose(f);
    assert_int_equal(policy_load(path, &p, err, sizeof err), KG_OK);
    assert_int_equal(policy_rule_count(p), 2);
    assert_match(p, "GET", "/a/1", "x.read");
    assert_match(p, "PUT", "/admin", "ManageSecurity");
    policy_free(p);

    /* Over the size limit: refused with the line that crosses 1 MiB, not truncated. */
    f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 1100; i++)
        fprintf(f, "#%01022d\n", 0);
    fclose(f);
    assert_int_equal(policy_load(path, &p, err, sizeof err), KG_TOOBIG);
    assert_string_equal(err, "line 1025: policy is larger than 1048576 bytes");
    assert_null(p);
    unlink(path);
}

/* xorshift64*: a fixed, repeatable stream for the self-check. */
static uint64_t rnd_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state >> 12;
    rnd_state ^= rnd_state << 25;
    rnd_state ^= rnd_state >> 27;
    return rnd_state * 0x2545f4914f6cdd1dull;
}

static const char *pick(const char *const *words, size_t n)
{
    return words[rnd() % n];
}
#define PICK(words) pick(words, sizeof words / sizeof words[0])
/* Usually a piece from good, one time in rare from bad. */
#define PICK2(good, bad, rare) (rnd() % (rare) == 0 ? PICK(bad) : PICK(good))

/* Random bytes into buf[0..n); returns how many.  A third of the inputs are raw bytes; the
 * rest are rules built from the format's own pieces, mostly well-formed so that many parse
 * and reach policy_match, half of them then with a few bytes overwritten. */
static size_t fill_random(char *buf, size_t n)
{
    static const char *const methods[] = {"GET", "ANY", "POST", "DELETE", "PROPFIND"};
    static const char *const bad_methods[] = {"get", "", "G3T", "ABCDEFGHIJKLMNOPQ"};
    static const char *const segs[] = {"a", "b", "*", "v1", "%41", "x;y", "caf%C3%A9", "x.y"};
    static const char *const bad_segs[] = {"**", "",  ".", "..",          "%2f", "%", "..;",
                                           "\\", "?", "#", "caf\xc3\xa9", "a*",  "\0"};
    static const char *const privs[] = {"x.y", "ManageSecurity", "Introspect", "a:b-c", "z"};
    static const char *const bad_privs[] = {"Foo", "", "9", "x y"};
    static const char *const gaps[] = {" ", "\t", "  "};
    static const char *const bad_gaps[] = {""};
    static const char *const ends[] = {"\n", "\r\n", " # c\n", "\n\n", "\n# x\n"};
    static const char *const bad_ends[] = {" extra\n", "", "\r"};
    uint64_t mode = rnd() % 3;
    if (mode == 0) {
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)(rnd() & 0xff);
        return n;
    }
    size_t i = 0;
    while (i < n) {
        const char *parts[16];
        size_t np = 0;
        parts[np++] = PICK2(methods, bad_methods, 64);
        parts[np++] = PICK2(gaps, bad_gaps, 64);
        for (uint64_t k = rnd() % 5; k > 0 && np < 9; k--) {
            parts[np++] = "/";
            parts[np++] = PICK2(segs, bad_segs, 24);
        }
        if (np == 2) parts[np++] = "/";
        if (rnd() % 4 == 0) parts[np++] = "/**";
        parts[np++] = PICK2(gaps, bad_gaps, 64);
        parts[np++] = PICK2(privs, bad_privs, 64);
        parts[np++] = PICK2(ends, bad_ends, 64);
        for (size_t k = 0; k < np; k++)
            for (const char *c = parts[k]; *c && i < n; c++)
                buf[i++] = *c;
        if (rnd() % 4 == 0) break;
    }
    if (mode == 2)
        for (uint64_t k = rnd() % 3 + 1; k > 0 && i > 0; k--)
            buf[rnd() % i] = (char)(rnd() & 0xff);
    return i;
}

/* A random URI: mostly a path of the words the policies use, sometimes junk. */
static void random_uri(char *buf, size_t size)
{
    static const char *const segs[] = {"a", "b", "v1", "x.y", "%41", "x;y", "caf%C3%A9", "q"};
    static const char *const bad_segs[] = {"",    ".",  "..",   "%2F", "%2e",  "%00",
                                           "..;", "\\", "?q=1", "#f",  "\x01", "caf\xc3\xa9"};
    size_t i = 0;
    if (rnd() % 8 == 0) {
        size_t n = (size_t)(rnd() % size);
        for (; i < n; i++)
            buf[i] = (char)((rnd() & 0xfe) + 1); /* no NUL inside */
    } else {
        for (uint64_t k = rnd() % 6 + 1; k > 0; k--) {
            const char *w = PICK2(segs, bad_segs, 8);
            if (i + 1 + strlen(w) >= size) break;
            buf[i++] = '/';
            memcpy(buf + i, w, strlen(w));
            i += strlen(w);
        }
    }
    buf[i] = '\0';
}

static void test_random_inputs(void **state)
{
    (void)state;
    char text[600], uri[120];
    static const char *const methods[] = {
        "GET", "POST", "DELETE", "get", "X", "ANY", "AVERYLONGMETHODNAMEXX"};
    int accepted = 0, matched = 0;
    for (int iter = 0; iter < 10000; iter++) {
        size_t n = fill_random(text, (size_t)(rnd() % sizeof text));
        struct policy *p = NULL;
        char err[128];
        kg_err rc = policy_parse(text, n, &p, err, sizeof err);
        if (rc != KG_OK) {
            assert_null(p);
            assert_true(rc == KG_INVALID || rc == KG_TOOBIG);
            assert_true(strncmp(err, "line ", 5) == 0);
            continue;
        }
        accepted++;
        for (int k = 0; k < 20; k++) {
            random_uri(uri, sizeof uri);
            const char *priv = policy_match(p, PICK(methods), uri);
            if (priv) {
                matched++;
                assert_true(strlen(priv) > 0 && strlen(priv) <= 64);
            }
        }
        policy_free(p);
    }
    print_message("random self-check: 10000 inputs, %d parsed, %d matches\n", accepted, matched);
    assert_true(accepted > 500);
    assert_true(matched > 200);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void test_speed(void **state)
{
    (void)state;
    /* 50 rules; the request matches the last one, so every rule is tried. */
    char text[8192];
    size_t n = 0;
    for (int i = 0; i < 49; i++)
        n += (size_t)snprintf(text + n, sizeof text - n,
                              "%s /api/v2/service%d/*/items/** svc%d.read\n", i % 2 ? "GET" : "ANY",
                              i, i);
    n += (size_t)snprintf(text + n, sizeof text - n, "GET /api/v2/orders/*/lines/* orders:read\n");
    struct policy *p = parse_ok(text);
    assert_int_equal(policy_rule_count(p), 50);
    const char *uri = "/api/v2/orders/8f3a2c/lines/17?expand=product&fields=id,qty";
    assert_match(p, "GET", uri, "orders:read");
    const int rounds = 200000;
    const char *volatile sink = NULL;
    double t0 = now_ns();
    for (int i = 0; i < rounds; i++)
        sink = policy_match(p, "GET", uri);
    double per = (now_ns() - t0) / rounds;
    (void)sink;
    print_message("policy_match, 50 rules, worst case: %.0f ns\n", per);
    /* Generous bound: this binary runs under ASan+UBSan; an optimised build is far faster. */
    assert_true(per < 5000.0);
    policy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_examples),  cmocka_unit_test(test_first_match_wins),
        cmocka_unit_test(test_methods),        cmocka_unit_test(test_star_and_double_star),
        cmocka_unit_test(test_trailing_slash), cmocka_unit_test(test_query_and_fragment),
        cmocka_unit_test(test_refused_uris),   cmocka_unit_test(test_long_uris),
        cmocka_unit_test(test_many_literals),  cmocka_unit_test(test_comments_blank_lines_crlf),
        cmocka_unit_test(test_empty_policy),   cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_limits),         cmocka_unit_test(test_load),
        cmocka_unit_test(test_random_inputs),  cmocka_unit_test(test_speed),
    };
    return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
