/*
 * view.h — the in-memory view of tokens and roles that the hot path reads.
 *
 * Verifying a client, resolving a role's privileges and checking one touch no disk: they read
 * this view under a read lock and copy out what they need.  The view follows the store:
 * view_sync() pulls whatever changed since it last looked (this process's writes, and those
 * of other processes such as the CLI); the server calls it after each write and on a timer.
 * Last access times are kept here and written behind by view_flush_touches().
 *
 * Roles: the role graph of rolegraph.h, rebuilt when roles change, answers the role calls
 * below: an actor's active role set is the roles it holds directly (a token: one; a user:
 * several), every role granted to them transitively, and `public`; which privileges a set
 * holds follows the rule in privilege.h (ManageSecurity implies CreateRole and CreateUser; a
 * Deny wins); a set that contains accountadmin holds every role and every privilege.
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef KG_VIEW_H
#define KG_VIEW_H

#include "err.h"
#include "meter.h"
#include "model.h"
#include "privilege.h" /* the privilege names view_allows() is asked about */
#include "store.h"

struct view;

/* What the hot path needs of one token (a copy): its state and its secrets, oldest first. */
struct view_secret {
    int64_t seq;
    unsigned char hash[KG_HASH_LEN];
    int status; /* enum kg_secret_status */
    int64_t expires_on;
};
struct view_token {
    kg_role_id role_id;
    int status;
    int64_t expires_on;
    size_t nsecrets;
    struct view_secret secrets[KG_SECRETS_MAX];
};

/* Loads everything from st (borrowed; must outlive the view).  Caller owns *out. */
kg_err view_new(struct store *st, struct view **out);
void view_free(struct view *v); /* NULL is a no-op */

/* The saved view (view.c says how it is kept to the data it was saved from).
 * new_saved: as view_new, but from the view saved at path when it was saved from this store's
 *   data (then only what changed since is read from the store); *why is NULL then, else the
 *   view was loaded in full and *why says why the file was not read ("" when there was none).
 *   The file is removed once read.
 * save: writes the view to path (through a file of its own, then renamed) and its mark to the
 *   store: for a clean stop, after the last flushes, with no sync to follow. */
kg_err view_new_saved(struct store *st, const char *path, struct view **out, const char **why);
kg_err view_save(struct view *v, const char *path);

/* Pulls changes from the store.  Serialised internally; cheap when nothing changed. */
kg_err view_sync(struct view *v);

/* 1 when t holds secret seq and it is live at now (ms): not revoked, not expired. */
int view_secret_live(const struct view_token *t, int64_t seq, int64_t now);

/* KG_NOTFOUND when the client id is unknown. */
kg_err view_token_get(struct view *v, const char *client_id, struct view_token *out);
/* Records an access at now (ms), with secret `secret` (its seq; 0 = none: a bearer's use), and
 * counts it as a use of kind k (VIEW_NO_COUNT: not counted; see view_token_count);
 * coalesced to one update a second per token and per secret.  1 when this was the secret's
 * first use known (it had never been used, here or in the store), for one caller only. */
#define VIEW_NO_COUNT KG_USE_KINDS
int view_token_touch(struct view *v, const char *client_id, int64_t secret, enum kg_use k,
                     int64_t now);
/* How many tokens the view holds of each status (for /metrics: no store query). */
void view_token_counts(struct view *v, size_t *active, size_t *revoked);
/* The store's data version the view has synced to (it grows with every change of the store). */
int64_t view_data_version(struct view *v);
/* The latest access known to this process (0 = none). */
int64_t view_token_last_access(struct view *v, const char *client_id);
/* The same for n tokens at once (one lock): at[i] for ids[i], found at places[i] when that is
 * not 0 (places NULL: every one by its id). */
void view_token_last_accesses(struct view *v, const char *const *ids, const uint32_t *places,
                              size_t n, int64_t *at);
/* places[i]: where token ids[i] is in the view, 0 when it is not there.  A place names one
 * token for the view's life (a record is never moved or taken out), and reads it without a
 * lookup: the tokens of a list page, newest first, are neighbours. */
void view_token_places(struct view *v, const char *const *ids, size_t n, uint32_t *places);
/* The latest use of a token's secret known to this process (0 = none). */
int64_t view_secret_last_used(struct view *v, const char *client_id, int64_t seq);
/* Writes pending last-access times to the store. */
kg_err view_flush_touches(struct view *v);

/* Usage controls (meter.h): a token's allowed ranges and rate limit, and its usage counts.
 * set_default_rate: the limit of tokens without their own (requests 0: none).
 * admit: one request of client_id on surface s from the client address `addr` (numeric text;
 *   NULL or unparsable: outside every range): refused (and counted so) when the token has
 *   allowed ranges and addr is in none of them, then, on the gate and the API, when its rate
 *   limit (its own or the default) has no room (exchanges have no rate limit).  *out says the limit
 * (requests 0: none) and its verdict, for the RateLimit headers.  An unknown client_id is admitted
 * (its access check refuses it). count: counts one use of kind k by client_id (an unknown id:
 * nothing). flush_usage: writes what was counted since the last flush in one transaction (the
 * counts of `now`'s hour), keeping them for the next flush when the store refuses them; and, when
 *   any rate limit is set, shares this process's admissions with the others sharing the
 *   store and charges theirs (store_rate_sync). */
enum view_admit { VIEW_ADMITTED = 0, VIEW_REFUSED_ADDRESS, VIEW_REFUSED_RATE };
/* Where a token's request comes in: its audit notes (view_rate.note) are each surface's own. */
enum view_surface { VIEW_EXCHANGE = 0, VIEW_GATE, VIEW_API };
#define VIEW_NOTE_EVERY_MS 60000
struct view_rate {
    int64_t requests, period_s;
    struct meter_verdict verdict;
    int note; /* an address refusal worth an audit entry: the token's first in a minute here */
};
void view_set_default_rate(struct view *v, int64_t requests, int64_t period_s);
/* on 0: count no usage (limits still hold); a new view counts. */
void view_set_counting(struct view *v, int on);
enum view_admit view_token_admit(struct view *v, const char *client_id, const char *addr,
                                 enum view_surface s, int64_t now, struct view_rate *out);
void view_token_count(struct view *v, const char *client_id, enum kg_use k);
kg_err view_flush_usage(struct view *v, int64_t now);

/* 1 when the access token with this jti was revoked on its own (RFC 7009). */
int view_jti_revoked(struct view *v, const char *jti);

/* 1 when the active role set of `holders` (n of them) allows `privilege`. */
int view_allows(struct view *v, const kg_role_id *holders, size_t n, const char *privilege);
/* 1 when that set holds `privilege` with grant option; view_grants_any: some privilege
 * (rolegraph.h). */
int view_grantable(struct view *v, const kg_role_id *holders, size_t n, const char *privilege);
int view_grants_any(struct view *v, const kg_role_id *holders, size_t n);
/* 1 when role_id is in the active role set of `holders`. */
int view_holds(struct view *v, const kg_role_id *holders, size_t n, const char *role_id);
struct view_role_ref {
    kg_role_id role_id;
    char role_name[KG_ROLE_NAME_MAX + 1];
};

/* The active role set of `holders`, sorted by name.  Caller owns *out (free()). */
kg_err view_active_roles(struct view *v, const kg_role_id *holders, size_t n,
                         struct view_role_ref **out, size_t *nout);

/* Fills out with the role's name; KG_NOTFOUND for an unknown role. */
kg_err view_role_name(struct view *v, const char *role_id, char out[KG_ROLE_NAME_MAX + 1]);

#endif
