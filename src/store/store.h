/*
 * store.h — durable storage of tokens, roles, privileges and users, behind one interface.
 *
 * A backend fills a struct store_ops (the SQL backends, store_sqlite.c and store_pg.c,
 * share store_sql.c's); the rest of keygate reaches it only through the store_*() wrappers
 * below, which make the checks this file promises (KG_INVALID) before any backend sees a
 * call.  Every write is committed before it returns KG_OK.  Every write except
 * store_token_touch() bumps the store's change version (see store_version) so that other
 * processes sharing the database notice it.
 *
 * Audited changes.  The writes that change tokens, roles, privileges or users take a last
 * argument `audit` (borrowed; NULL for none): the audit-log entry of the change.  The backend
 * appends it in the change's own transaction, so the two commit together or not at all: it is
 * written when the call returns KG_OK — also when the call turned out to change nothing (a
 * revoke of a revoked token), since the attempt happened — and never otherwise; an entry that
 * cannot be written fails the call (KG_IO, …) and the change is rolled back.  An entry that is
 * not well-formed (see store_audit_append) is KG_INVALID before anything is written.
 *
 * Thread safety: a struct store may be used from several threads at once.
 * Ownership: arrays returned through `T **out` are the caller's, freed with free().
 * Versions of rows.  A role and a user carry `sync`: the data_ver of the write that last changed
 * the row (a read fills it; insert ignores the caller's).  Updates are compare-and-set on it.
 *
 * Errors: KG_NOTFOUND, KG_CONFLICT (unique value taken), KG_PRECONDITION (see each call),
 *         KG_ABORTED (an update's record changed since it was read: its sync differs),
 *         KG_UNAVAILABLE (busy/locked beyond the timeout), KG_IO, KG_ENOMEM.
 */
#ifndef KG_STORE_H
#define KG_STORE_H

#include "err.h"
#include "model.h"

struct store;

/* Receives one token of a change feed; a non-KG_OK return stops the feed with that error. */
typedef kg_err (*store_token_fn)(void *arg, const struct kg_token *t);
/* Receives one secret of token client_id (borrowed, for the call); like store_token_fn. */
typedef kg_err (*store_secret_fn)(void *arg, const char *client_id, const struct kg_secret *s);
/* Receives one revoked access token (its jti and expiry, seconds); like store_token_fn. */
typedef kg_err (*store_jti_fn)(void *arg, const char *jti, int64_t exp);

/* The length of a saved view's mark (store_view_mark). */
#define STORE_MARK_LEN 32

struct store_ops {
    void (*close)(struct store *st);
    kg_err (*version)(struct store *st, int64_t *data_ver, int64_t *roles_ver);
    kg_err (*account_id)(struct store *st, char out[KG_ACCOUNT_ID_LEN + 1]);
    kg_err (*view_mark)(struct store *st, char out[STORE_MARK_LEN + 1], int64_t *data_ver);
    kg_err (*view_mark_set)(struct store *st, const char *mark);

    kg_err (*token_insert)(struct store *st, const struct kg_token *t,
                           const struct kg_audit *audit);
    kg_err (*token_get)(struct store *st, const char *client_id, struct kg_token *out);
    kg_err (*token_list)(struct store *st, int64_t before_seq, size_t limit, struct kg_token **out,
                         size_t *n);
    kg_err (*token_list_expiring)(struct store *st, int64_t now, int64_t by, int64_t before_seq,
                                  size_t limit, struct kg_token **out, size_t *n);
    kg_err (*token_revoke)(struct store *st, const char *client_id, int64_t now, int *changed,
                           const struct kg_audit *audit);
    kg_err (*token_update)(struct store *st, const struct kg_token *t,
                           const struct kg_audit *audit);
    kg_err (*token_touch)(struct store *st, const struct kg_touch *t, size_t n);
    kg_err (*token_changes)(struct store *st, int64_t since_ver, store_token_fn fn, void *arg);
    kg_err (*token_load)(struct store *st, store_token_fn token_fn, store_secret_fn secret_fn,
                         void *arg);
    kg_err (*secret_add)(struct store *st, const char *client_id, const struct kg_secret *s,
                         int64_t now, int64_t expire_others_at, const struct kg_audit *audit);
    kg_err (*secret_delete)(struct store *st, const char *client_id, int64_t seq, int64_t now,
                            const struct kg_audit *audit);
    kg_err (*secret_find)(struct store *st, const unsigned char hash[KG_HASH_LEN],
                          char client_id[KG_CLIENT_ID_LEN + 1], int64_t *seq, int *status);
    kg_err (*secret_revoke)(struct store *st, const char *client_id, int64_t seq, int64_t now,
                            int *changed, const struct kg_audit *audit);
    kg_err (*usage_add)(struct store *st, const struct kg_usage *u, size_t n);
    kg_err (*usage_read)(struct store *st, const char *client_id, int64_t since, int64_t until,
                         struct kg_usage **out, size_t *n);
    kg_err (*usage_top)(struct store *st, int64_t since, int64_t until, int by_refused,
                        size_t limit, struct kg_usage **out, size_t *n);
    kg_err (*usage_total)(struct store *st, int64_t since, int64_t until, struct kg_usage *out);
    kg_err (*usage_prune)(struct store *st, int64_t before);
    kg_err (*rate_sync)(struct store *st, const char *node, const struct kg_rate_window *mine,
                        size_t n, int64_t now, struct kg_rate_window **others, size_t *nothers);
    kg_err (*jti_revoke)(struct store *st, const char *jti, const char *client_id, int64_t exp,
                         int64_t now_s);
    kg_err (*jti_changes)(struct store *st, int64_t since_ver, int64_t now_s, store_jti_fn fn,
                          void *arg);

    kg_err (*role_insert)(struct store *st, const struct kg_role *r, const struct kg_audit *audit);
    kg_err (*role_get)(struct store *st, const char *role_id, struct kg_role *out);
    kg_err (*role_get_by_name)(struct store *st, const char *name, struct kg_role *out);
    kg_err (*role_list)(struct store *st, int64_t after_seq, size_t limit, struct kg_role **out,
                        size_t *n);
    kg_err (*role_update)(struct store *st, const struct kg_role *r, const struct kg_audit *audit);
    kg_err (*role_delete)(struct store *st, const char *role_id, const struct kg_audit *audit);
    kg_err (*privilege_grant)(struct store *st, const struct kg_privilege *p, int64_t now,
                              const struct kg_audit *audit);
    kg_err (*privilege_revoke)(struct store *st, const struct kg_privilege *p, int option_only,
                               int *changed, const struct kg_audit *audit);
    kg_err (*privilege_list)(struct store *st, const char *role_id, struct kg_privilege **out,
                             size_t *n);

    kg_err (*user_insert)(struct store *st, const struct kg_user *u, const struct kg_audit *audit);
    kg_err (*user_get)(struct store *st, const char *user_id, struct kg_user *out);
    kg_err (*user_get_by_email)(struct store *st, const char *email, struct kg_user *out);
    kg_err (*user_list)(struct store *st, int64_t after_seq, size_t limit, struct kg_user **out,
                        size_t *n);
    kg_err (*user_update)(struct store *st, const struct kg_user *u, const struct kg_audit *audit);
    kg_err (*user_delete)(struct store *st, const char *user_id, const struct kg_audit *audit);
    kg_err (*user_count)(struct store *st, int64_t *n);

    kg_err (*audit_append)(struct store *st, const struct kg_audit *e);
    kg_err (*audit_list)(struct store *st, const struct kg_audit_filter *f, int64_t before_seq,
                         size_t limit, struct kg_audit **out, size_t *n);
    kg_err (*audit_after)(struct store *st, int64_t after_seq, size_t limit, struct kg_audit **out,
                          size_t *n);

    kg_err (*webhook_claim)(struct store *st, const char *id, const char *url, const char *node,
                            int64_t now, int64_t lease_until, int *claimed,
                            struct kg_webhook_state *out);
    kg_err (*webhook_get)(struct store *st, const char *id, struct kg_webhook_state *out);
    kg_err (*webhook_record)(struct store *st, const struct kg_webhook_attempt *a, int *changed);
    kg_err (*webhook_release)(struct store *st, const char *id, const char *node);
    kg_err (*webhook_failures)(struct store *st, const char *id, size_t limit,
                               struct kg_webhook_failure **out, size_t *n);
};

/* The common head of every backend's struct store. */
struct store {
    const struct store_ops *ops;
};

/*
 * Opens (creating and migrating if needed) the store at `uri`: "sqlite:PATH", or a plain
 * PATH, which means SQLite.  Caller owns *out; free with store_free().
 */
kg_err store_open(const char *uri, struct store **out);
/* The file of a SQLite store's uri (a part of uri); NULL for another backend's, or for a
 * database in memory. */
const char *store_sqlite_file(const char *uri);
void store_free(struct store *st); /* NULL is a no-op */

/* The store's change counters: data_ver grows with every write (but touches); roles_ver is
 * the data_ver of the last write to roles, privileges or role grants. */
kg_err store_version(struct store *st, int64_t *data_ver, int64_t *roles_ver);

/* The deployment's account ID ("a-" + 10 digits, ids.h), made once when the database was
 * created or migrated to schema version 4, and the same for every process sharing it.  KG_IO
 * when the store holds none that is well-formed. */
kg_err store_account_id(struct store *st, char out[KG_ACCOUNT_ID_LEN + 1]);

/* The mark of the view a server saved at its last clean stop (view_save(): a random word, the
 * same in the file), kept by the store so that a saved view is trusted only with the data it
 * was saved from: a database restored from a backup made before the save, or another
 * database, holds another mark (or none: "").  view_mark: the mark and the data version, in
 * one read.  view_mark_set: writes it (no version bump: the data is unchanged; at most
 * STORE_MARK_LEN characters). */
kg_err store_view_mark(struct store *st, char out[STORE_MARK_LEN + 1], int64_t *data_ver);
kg_err store_view_mark_set(struct store *st, const char *mark);

/* Tokens.  A token comes with its secrets (t->secrets, oldest first; at least one).
 * insert: KG_CONFLICT if the client id exists; KG_NOTFOUND if the role does not; the token
 *   is inserted with its secrets (1 to KG_SECRETS_LIVE_MAX; their seq is the store's).
 * list: newest first, only tokens with seq < before_seq (0 = from the newest), at most limit;
 *   of each secret only seq, status and expires_on are filled (what a list shows).
 * list_expiring: the same, of the Active tokens that work at `now` (not expired, a live
 *   secret) and stop by `by`: the token expires, or none of its secrets is live then.
 * revoke: sets status Revoked and revoked_on = now if Active; *changed = 0 when it was
 *   already revoked (idempotent, revoked_on kept).
 * update: sets the description, rate limit and allowed ranges of t->client_id to t's (the
 *   other fields are not read); KG_PRECONDITION when the token is revoked.  KG_INVALID for a
 *   rate limit with one part 0 or out of the model's bounds, or ranges not canonical.
 * touch: raises last_access_on to `at` where that is later, and the last_used_on of the
 *   secret named (if any) the same way; unknown ids are skipped.
 * changes: calls fn with every token whose row changed after since_ver (0 = all: in any
 *   order), streaming (a million tokens need no million-row array); fn runs while the store
 *   is busy with the feed and must not call back into the store.  It gets what the view
 *   needs (seq, client_id, role_id, status, the times, and each secret's seq, hash, status,
 *   last_used_on and expires_on); the other fields need not be filled.
 * load: every token, for a first load, in two streams read in one state of the data: token_fn
 *   with each token as changes gives it but without its secrets (nsecrets 0) and without seq
 *   and revoked_on (0: the view reads neither); then, after every token, secret_fn with every
 *   secret of every token (the fields changes gives).  Within each stream the order is not
 *   set: SQLite reads each table in parts (by seq), two at once, on two connections (when
 *   their snapshots read the same data version) and two threads, PostgreSQL in seq order.  The
 *   functions are called one at a time, from either thread, and run as changes' fn does.
 *   Each stream reads its table in storage order, with no join: the fastest whole read both
 *   databases have. */
kg_err store_token_insert(struct store *st, const struct kg_token *t, const struct kg_audit *audit);
kg_err store_token_get(struct store *st, const char *client_id, struct kg_token *out);
kg_err store_token_list(struct store *st, int64_t before_seq, size_t limit, struct kg_token **out,
                        size_t *n);
kg_err store_token_list_expiring(struct store *st, int64_t now, int64_t by, int64_t before_seq,
                                 size_t limit, struct kg_token **out, size_t *n);
kg_err store_token_revoke(struct store *st, const char *client_id, int64_t now, int *changed,
                          const struct kg_audit *audit);
kg_err store_token_update(struct store *st, const struct kg_token *t, const struct kg_audit *audit);
kg_err store_token_touch(struct store *st, const struct kg_touch *t, size_t n);
kg_err store_token_changes(struct store *st, int64_t since_ver, store_token_fn fn, void *arg);
kg_err store_token_load(struct store *st, store_token_fn token_fn, store_secret_fn secret_fn,
                        void *arg);

/* A token's secrets.  Each change is a change of the token (its change feed shows it).
 * add: inserts s (its seq and last_used_on are the store's) as a new secret of the token;
 *   expire_others_at > 0 (a rotation) first makes every live secret of the token expire then
 *   at the latest.  KG_NOTFOUND without the token; KG_PRECONDITION when it is revoked or
 *   already holds KG_SECRETS_LIVE_MAX live secrets at now.  A token keeping KG_SECRETS_MAX
 *   secrets loses its oldest that is not live.
 * delete: removes secret seq of the token (KG_NOTFOUND if it has none such); KG_PRECONDITION
 *   when that would leave it without a secret, or without a live one where it had one.
 * find: the token, seq and status of the secret whose hash is `hash` (KG_NOTFOUND: none).
 * revoke: sets the secret's status Revoked and revoked_on = now (KG_NOTFOUND if the token has
 *   no such secret); *changed = 0 when it was revoked already.  The token's other secrets
 *   are untouched, even if none of them is live any more. */
kg_err store_secret_add(struct store *st, const char *client_id, const struct kg_secret *s,
                        int64_t now, int64_t expire_others_at, const struct kg_audit *audit);
kg_err store_secret_delete(struct store *st, const char *client_id, int64_t seq, int64_t now,
                           const struct kg_audit *audit);
kg_err store_secret_find(struct store *st, const unsigned char hash[KG_HASH_LEN],
                         char client_id[KG_CLIENT_ID_LEN + 1], int64_t *seq, int *status);
kg_err store_secret_revoke(struct store *st, const char *client_id, int64_t seq, int64_t now,
                           int *changed, const struct kg_audit *audit);

/* Usage counts per token and hour (model.h's struct kg_usage).  Not changes: none bumps the
 * change version, none is audited.
 * add: adds each row's counts to what the store holds for its (client_id, hour), in one
 *   transaction (unknown tokens are kept too: counts outlive nothing they name).
 * read: one token's rows with since <= hour < until, oldest first (hours without counts have
 *   no row).  Caller owns *out.
 * top: per token, the sums of the rows in [since, until), the `limit` tokens with the most
 *   requests (every kind) or, by_refused, the most refusals, most first (a token with none is
 *   left out); hour is 0.  total: the same sums over every token (client_id "").
 * prune: drops the rows of hours before `before`.
 * Rate windows: each process counts a token's requests in its rate-limit window; sync writes
 *   this process's counts (`mine`, n, under the id `node`), drops windows over two periods old
 *   at now, and reads the other processes' counts of the windows still in use, summed per
 *   (client_id, start, period) (caller owns *others). */
kg_err store_usage_add(struct store *st, const struct kg_usage *u, size_t n);
kg_err store_usage_read(struct store *st, const char *client_id, int64_t since, int64_t until,
                        struct kg_usage **out, size_t *n);
kg_err store_usage_top(struct store *st, int64_t since, int64_t until, int by_refused, size_t limit,
                       struct kg_usage **out, size_t *n);
kg_err store_usage_total(struct store *st, int64_t since, int64_t until, struct kg_usage *out);
kg_err store_usage_prune(struct store *st, int64_t before);
kg_err store_rate_sync(struct store *st, const char *node, const struct kg_rate_window *mine,
                       size_t n, int64_t now, struct kg_rate_window **others, size_t *nothers);

/* Access tokens revoked by jti (RFC 7009).  revoke: records jti (idempotent) until exp
 * (seconds) and drops records already expired at now_s.  changes: calls fn with every
 * record written after since_ver that is still unexpired at now_s. */
kg_err store_jti_revoke(struct store *st, const char *jti, const char *client_id, int64_t exp,
                        int64_t now_s);
kg_err store_jti_changes(struct store *st, int64_t since_ver, int64_t now_s, store_jti_fn fn,
                         void *arg);

/* Roles.  insert: KG_CONFLICT on a taken id or name; its `granted` list and owning_role_id
 *   are stored too.
 * list: oldest first, seq > after_seq (0 = from the start), at most limit.
 * update: name, description, modified_on and the granted list (replaced whole), if the stored
 *   sync is still r->sync (else KG_ABORTED, nothing written); owning_role_id is kept;
 *   KG_CONFLICT on a taken name; KG_NOTFOUND if the role or a granted role does not exist;
 *   KG_PRECONDITION if a grant would make a cycle (checked inside the same transaction).
 * delete: also removes its privileges and every grant of or to it (the roles it was granted
 *   to get a new sync and modified_on; the roles it owned pass to accountadmin);
 *   KG_PRECONDITION while an Active token or a user holds it. */
kg_err store_role_insert(struct store *st, const struct kg_role *r, const struct kg_audit *audit);
kg_err store_role_get(struct store *st, const char *role_id, struct kg_role *out);
kg_err store_role_get_by_name(struct store *st, const char *name, struct kg_role *out);
kg_err store_role_list(struct store *st, int64_t after_seq, size_t limit, struct kg_role **out,
                       size_t *n);
kg_err store_role_update(struct store *st, const struct kg_role *r, const struct kg_audit *audit);
kg_err store_role_delete(struct store *st, const char *role_id, const struct kg_audit *audit);

/* Privileges.  A role holds a name once, with one kind.
 * grant: adds (role, name), or changes its kind (and takes p's grant option with it); the same
 *   kind again adds a grant option and never drops one.  KG_NOTFOUND without the role;
 *   KG_INVALID for a grant option on a Deny.
 * revoke: removes (role, name) when its kind is p->kind (KG_KIND_ANY: either); option_only
 *   drops only its grant option and keeps the privilege.  *changed = 0 when nothing was
 *   there to remove.  p->grant_option is not read.
 * list: role_id NULL lists every role's privileges; otherwise one role's, by name. */
kg_err store_privilege_grant(struct store *st, const struct kg_privilege *p, int64_t now,
                             const struct kg_audit *audit);
kg_err store_privilege_revoke(struct store *st, const struct kg_privilege *p, int option_only,
                              int *changed, const struct kg_audit *audit);
kg_err store_privilege_list(struct store *st, const char *role_id, struct kg_privilege **out,
                            size_t *n);

/* Users.  insert: KG_CONFLICT on a taken id or email; KG_NOTFOUND if a role does not exist;
 *   modified_on 0 is created_on.
 * update: email, password_hash, modified_on and roles (replaced whole), compare-and-set on
 *   u->sync as role update. */
kg_err store_user_insert(struct store *st, const struct kg_user *u, const struct kg_audit *audit);
kg_err store_user_get(struct store *st, const char *user_id, struct kg_user *out);
kg_err store_user_get_by_email(struct store *st, const char *email, struct kg_user *out);
kg_err store_user_list(struct store *st, int64_t after_seq, size_t limit, struct kg_user **out,
                       size_t *n);
kg_err store_user_update(struct store *st, const struct kg_user *u, const struct kg_audit *audit);
kg_err store_user_delete(struct store *st, const char *user_id, const struct kg_audit *audit);
kg_err store_user_count(struct store *st, int64_t *n);

/* The audit log.  append: one entry on its own (seq is assigned) — for what changes nothing:
 *   a refused change, a sign-in; a change carries its entry into its own write (see the top).
 *   KG_INVALID unless every field is NUL-terminated and action and outcome are not empty.
 * list: entries matching f, newest first, only those with seq < before_seq (0 = from the
 *   newest), at most limit (caller owns *out).  seq order is commit order. */
kg_err store_audit_append(struct store *st, const struct kg_audit *e);
kg_err store_audit_list(struct store *st, const struct kg_audit_filter *f, int64_t before_seq,
                        size_t limit, struct kg_audit **out, size_t *n);

/* Entries in seq order (oldest first) with seq > after_seq, at most limit (caller owns *out):
 * what a webhook delivers next. */
kg_err store_audit_after(struct store *st, int64_t after_seq, size_t limit, struct kg_audit **out,
                         size_t *n);

/* Webhook delivery state (webhook.h), shared by every node.  These writes bump no version
 * (nothing in memory follows them), like audit_append.
 * claim: makes the webhook's row if there is none — its cursor at the end of the audit log
 *   then, so a new webhook is sent no history — and takes its lease for `node` until
 *   lease_until (ms) when no other node holds one at `now`; *claimed = 1 when `node` holds it
 *   after the call.  *out is the row (with pending) either way.
 * get: the row (KG_NOTFOUND: none yet).
 * record: one attempt's outcome, only while a->node holds the lease and the event is still
 *   after the cursor (*changed = 0 otherwise: nothing written).  RETRY keeps the cursor and
 *   sets attempts and next_at; DELIVERED and FAILED move the cursor to the event, reset
 *   attempts and count it; FAILED also keeps a record of the event (the newest
 *   KG_WEBHOOK_FAILURES_KEPT of each webhook are kept).
 * release: gives up node's lease (a clean shutdown), if it holds it.
 * failures: the webhook's events given up, newest first, at most limit (caller owns *out). */
#define KG_WEBHOOK_FAILURES_KEPT 100
kg_err store_webhook_claim(struct store *st, const char *id, const char *url, const char *node,
                           int64_t now, int64_t lease_until, int *claimed,
                           struct kg_webhook_state *out);
kg_err store_webhook_get(struct store *st, const char *id, struct kg_webhook_state *out);
kg_err store_webhook_record(struct store *st, const struct kg_webhook_attempt *a, int *changed);
kg_err store_webhook_release(struct store *st, const char *id, const char *node);
kg_err store_webhook_failures(struct store *st, const char *id, size_t limit,
                              struct kg_webhook_failure **out, size_t *n);

/* Backend constructors (store_sqlite.c, store_pg.c). */
kg_err store_sqlite_open(const char *path, struct store **out);
kg_err store_pg_open(const char *uri, struct store **out);

#endif
