/*
 * policy.h — the gate's route policy: which privilege a bearer token needs to call
 * METHOD PATH on the protected upstream.  The file format is summarised in the example
 * below; the README's route policy section is the user-facing description.
 *
 * A policy is parsed all or nothing: any bad line refuses the whole text with "line N: what",
 * so a caller reloading on SIGHUP keeps its old policy.  Limits: text <= 1 MiB, line <= 1024
 * bytes, <= 10,000 rules, <= 64 segments per pattern.  A parsed policy is immutable.
 */
// (A line-comment block, because its patterns hold a '/' followed by a '*'.)
//
//     # METHOD  PATH-PATTERN        PRIVILEGE         one rule a line; '#' starts a comment
//     GET       /api/v1/orders/*    orders:read       '*': exactly one non-empty segment
//     ANY       /admin/**           ManageSecurity    final '**': zero or more segments,
//                                                     so /admin, /admin/ and /admin/a/b
//
// METHOD is an upper-case token [A-Z]{1,16} or ANY.  PATH-PATTERN starts with '/'; other
// segments match literally and case-sensitively.  PRIVILEGE is a name privilege.h accepts:
// an account privilege (ManageSecurity, CreateRole, CreateUser, ViewAuditLog, Introspect) or
// a custom name [a-z][a-z0-9_.:-]{0,63}.  The first matching rule wins; no match means deny.
#ifndef KG_POLICY_H
#define KG_POLICY_H

#include <stddef.h>

#include "err.h"

#define POLICY_FILE_MAX (1024 * 1024) /* bytes of policy text */
#define POLICY_LINE_MAX 1024          /* bytes of one line, without its "\n" or "\r\n" */
#define POLICY_RULES_MAX 10000
#define POLICY_SEGMENTS_MAX 64 /* segments of one pattern, `**` included */

struct policy; /* immutable once built; safe to share between threads */

/* Parses text[0..len).  KG_OK: *out is a new policy (possibly with no rules), caller owns it
 * and frees it with policy_free().  KG_INVALID (a malformed line) / KG_TOOBIG (a limit
 * exceeded): *out = NULL and "line N: what" is written into err[err_size] (truncated to fit;
 * err may be NULL when err_size is 0).  KG_ENOMEM: *out = NULL, "out of memory". */
kg_err policy_parse(const char *text, size_t len, struct policy **out, char *err, size_t err_size);

/* Reads the file at path and parses it as policy_parse() does.  KG_IO with "cannot read
 * PATH: reason" in err when the file cannot be opened or read; otherwise policy_parse()'s
 * results.  Caller owns *out. */
kg_err policy_load(const char *path, struct policy **out, char *err, size_t err_size);

/* Frees p; NULL is a no-op. */
void policy_free(struct policy *p);

/* The privilege required by the first rule matching method and uri, or NULL to deny: no rule
 * matches, or the URI is refused.  The result is borrowed, valid while p lives.
 *
 * method is compared exactly (case-sensitive, as HTTP methods are); ANY rules match every
 * non-empty method.  uri is the original request target: everything from the first '?' or
 * '#' is ignored, nothing is percent-decoded, and the URI is refused when it does not start
 * with '/' or holds %2F, %2E, %5C, %00 (either case), a backslash, a control byte, an empty
 * segment before the last one ("//"), or a "." or ".." segment (also as ".;x" / "..;x"),
 * so that an upstream's decoding or normalising cannot reach a route the rule did not name.
 * No allocation; safe to call from many threads at once.  NULL p, method or uri: NULL. */
const char *policy_match(const struct policy *p, const char *method, const char *uri);

/* Number of rules in p (0 for NULL). */
size_t policy_rule_count(const struct policy *p);

#endif
