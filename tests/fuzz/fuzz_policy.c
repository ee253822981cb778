/*
 * fuzz_policy.c — the gate's route policy (policy.c): the policy file parser, and matching
 * X-Original-URI / X-Original-Method values against a policy.
 *
 * Input: policy text, optionally followed by a NUL and request lines "METHOD URI".  The whole
 * input is parsed as a policy; when there is a NUL, the text before it is parsed too, and
 * each request line is matched against that policy and against a fixed one (README's
 * example).  Checks, from policy.h's contracts:
 *   - a refused text leaves *out NULL and a NUL-terminated "line N: …" message that fits;
 *   - an accepted text's every rule matches a URI made from its own pattern (so the parser
 *     and the matcher agree), and its tokens are what the format allows;
 *   - a match is only ever given for a URI the contract does not refuse (no %2F %2E %5C %00,
 *     backslash, control byte, "//" before the last segment, "." or ".." segment), for a
 *     non-empty method, and is a valid privilege name.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "privilege.h"

#define CHECK_RULES_MAX 64 /* rules of one policy replayed against the matcher */
#define REQUESTS_MAX 32
#define ERR_MAX 96

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct policy *fixed;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char text[] = "# route policy\n"
                               "GET    /api/v1/orders          orders:read\n"
                               "GET    /api/v1/orders/*        orders:read\n"
                               "POST   /api/v1/orders          orders:write   # create\n"
                               "DELETE /api/v1/orders/*        orders.admin\n"
                               "ANY    /admin/**               ManageSecurity\n"
                               "GET    /audit/**               ViewAuditLog\n"
                               "GET    /a%41b/;x/*/c           custom_1\n"
                               "ANY    /                       public.root\n"
                               "\tPUT\t/files/*/content\tfiles_rw-2\r\n";
    (void)argc, (void)argv;
    char err[128];
    if (policy_parse(text, sizeof text - 1, &fixed, err, sizeof err) != KG_OK) {
        fprintf(stderr, "fuzz_policy: the fixed policy was refused: %s\n", err);
        exit(1);
    }
    return 0;
}

/* ---- the contract of policy_match, restated ---------------------------------------------- */

static int dot_segment(const char *s, size_t n)
{
    size_t k = 0;
    while (k < n && s[k] != ';')
        k++;
    return (k == 1 && s[0] == '.') || (k == 2 && s[0] == '.' && s[1] == '.');
}

/* 0 when policy_match must refuse uri whatever the rules. */
static int uri_allowed(const char *uri)
{
    size_t end = strcspn(uri, "?#");
    if (end == 0 || uri[0] != '/') return 0;
    for (size_t i = 0; i < end; i++) {
        unsigned char c = (unsigned char)uri[i];
        if (c == '\\' || c < 0x20 || c == 0x7f) return 0;
        if (c == '%' && i + 2 < end) {
            char e[3] = {uri[i + 1], uri[i + 2], 0};
            static const char *const bad[] = {"2F", "2f", "2E", "2e", "5C", "5c", "00"};
            for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
                if (strcmp(e, bad[k]) == 0) return 0;
        }
    }
    for (size_t start = 1;;) {
        size_t stop = start;
        while (stop < end && uri[stop] != '/')
            stop++;
        if (stop == start && stop < end) return 0; /* "//" */
        if (dot_segment(uri + start, stop - start)) return 0;
        if (stop >= end) return 1;
        start = stop + 1;
    }
}

static void match(const struct policy *p, const char *method, const char *uri)
{
    const char *priv = policy_match(p, method, uri);
    if (!priv) return;
    if (!method[0] || !uri_allowed(uri) || strlen(priv) > KG_PRIV_MAX || !privilege_valid(priv))
        abort();
}

/* ---- accepted policies: every rule reachable -------------------------------------------- */

/* Splits line s[0..n) (comment cut) into up to 4 tokens as the format does; their count. */
static size_t tokens(const char *s, size_t n, const char *tok[4], size_t len[4])
{
    const char *hash = memchr(s, '#', n);
    if (hash) n = (size_t)(hash - s);
    size_t k = 0;
    for (size_t i = 0; i < n && k < 4;) {
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i == n) break;
        size_t st = i;
        while (i < n && s[i] != ' ' && s[i] != '\t')
            i++;
        tok[k] = s + st;
        len[k++] = i - st;
    }
    return k;
}

/* A URI the pattern pat[0..n) matches: '*' → "x", a final "**" dropped. */
static int uri_for(const char *pat, size_t n, char *out, size_t size)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        int seg_start = i > 0 && pat[i - 1] == '/';
        if (seg_start && pat[i] == '*' && i + 2 == n && pat[i + 1] == '*') {
            if (w > 1) w--; // "/a/**" gives "/a", "/**" gives "/"
            break;
        }
        if (w + 2 >= size) return -1;
        out[w++] = seg_start && pat[i] == '*' ? 'x' : pat[i];
    }
    out[w] = '\0';
    return 0;
}

/* The tokens of the next non-blank line from *pos (CR and comment cut); 0 at the end. */
static size_t next_line(const char *text, size_t len, size_t *pos, const char *tok[4], size_t tl[4])
{
    while (*pos < len) {
        const char *nl = memchr(text + *pos, '\n', len - *pos);
        size_t end = nl ? (size_t)(nl - text) : len, n = end - *pos;
        if (n > 0 && text[*pos + n - 1] == '\r') n--;
        size_t k = tokens(text + *pos, n, tok, tl);
        *pos = end + 1;
        if (k) return k;
    }
    return 0;
}

/*
 * Checks an accepted text's rules and replays the first CHECK_RULES_MAX against p; returns 1
 * (p may be matched against).  tests/fuzz/crashes/policy-null-seg-ids: a policy of only
 * catch-all rules (slash, two stars) once made policy_match compute &NULL[0].
 */
static int accepted(const struct policy *p, const char *text, size_t len)
{
    const char *tok[4];
    size_t tl[4], k, pos = 0, checked = 0;
    for (; (k = next_line(text, len, &pos, tok, tl)) != 0;) {
        if (k != 3 || tl[0] > 16 || tl[1] > POLICY_LINE_MAX || tl[2] > KG_PRIV_MAX) abort();
        /* tests/fuzz/crashes/policy-nul-privilege: a NUL inside a token was once accepted */
        if (memchr(tok[2], '\0', tl[2])) abort();
        char priv[KG_PRIV_MAX + 1];
        memcpy(priv, tok[2], tl[2]);
        priv[tl[2]] = '\0';
        if (!privilege_valid(priv)) abort();
        for (size_t i = 0; i < tl[0] + tl[1]; i++) {
            unsigned char c = (unsigned char)(i < tl[0] ? tok[0][i] : tok[1][i - tl[0]]);
            if (c <= ' ' || c >= 0x7f) abort(); /* methods and patterns are printable */
        }
        if (checked == CHECK_RULES_MAX) continue;
        char method[17], uri[POLICY_LINE_MAX + 2];
        memcpy(method, tok[0], tl[0]);
        method[tl[0]] = '\0';
        if (strcmp(method, "ANY") == 0) memcpy(method, "GET", 4);
        if (uri_for(tok[1], tl[1], uri, sizeof uri) != 0) abort();
        if (!uri_allowed(uri) || !policy_match(p, method, uri)) abort();
        checked++;
    }
    return 1;
}

/* ---- the driver ------------------------------------------------------------------------- */

/* The policy of text, or NULL when refused (or not to be matched against, see accepted). */
static struct policy *parse(const char *text, size_t len, size_t err_size)
{
    char err[ERR_MAX];
    struct policy *p = (struct policy *)&err; /* must be overwritten */
    memset(err, 'x', sizeof err);
    kg_err rc = policy_parse(text, len, &p, err, err_size);
    if (rc == KG_OK) {
        if (!p || err[0] != '\0') abort();
        if (accepted(p, text, len)) return p;
        policy_free(p);
        return NULL;
    }
    if (p != NULL || (rc != KG_INVALID && rc != KG_TOOBIG && rc != KG_ENOMEM)) abort();
    if (!memchr(err, '\0', err_size)) abort();
    if (err_size > 5 && rc != KG_ENOMEM && strncmp(err, "line ", 5) != 0) abort();
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    size_t err_size = 1 + size % ERR_MAX; /* truncation too */
    policy_free(parse(text, size, err_size));

    const char *nul = memchr(text, '\0', size);
    if (!nul) return 0;
    size_t plen = (size_t)(nul - text);
    struct policy *p = parse(text, plen, ERR_MAX);

    /* Request lines: a NUL-terminated copy split at '\n'; "METHOD URI" at the first ' '. */
    size_t rlen = size - plen - 1;
    char *req = malloc(rlen + 1);
    if (!req) {
        policy_free(p);
        return 0;
    }
    memcpy(req, nul + 1, rlen);
    req[rlen] = '\0';
    char *line = req;
    for (int i = 0; line && i < REQUESTS_MAX; i++) {
        char *next = strchr(line, '\n');
        if (next) *next++ = '\0';
        char *sp = strchr(line, ' ');
        const char *method = line, *uri = "/";
        if (sp) {
            *sp = '\0';
            uri = sp + 1;
        }
        match(fixed, method, uri);
        if (p) match(p, method, uri);
        line = next;
    }
    free(req);
    policy_free(p);
    return 0;
}
