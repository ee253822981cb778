/*
 * service.c — validation, the no-escalation rule, writes and view refresh for every change.
 *
 * Layout: validators, tokens, roles, privileges, users, bootstrap, and the audited entry points.
 *
 * Auditing.  Each entry point fills the OK entry of its change (struct audited) and hands it
 * to its *_do, which passes it to the one store write that makes the change: the store
 * commits the change and its entry together (store.h, "Audited changes").  When no write
 * committed — the change was refused or failed — the entry point records the outcome in an
 * entry of its own, a separate write that changes nothing else.
 */
#include "service.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cidr.h"
#include "ids.h"
#include "log.h"
#include "privilege.h"
#include "render.h"
#include "tcache.h"
#include "util.h"

int service_role_name_valid(const char *s)
{
    size_t n = strnlen(s, KG_ROLE_NAME_MAX + 1);
    if (n == 0 || n > KG_ROLE_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

int service_email_valid(const char *s)
{
    size_t n = strnlen(s, KG_EMAIL_MAX + 1);
    const char *at = strchr(s, '@');
    if (n < 3 || n > KG_EMAIL_MAX || !at || at == s || !at[1] || strchr(at + 1, '@')) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f ||
            strchr("<>()[]\\,;:\"", s[i]))
            return 0;
    return 1;
}

static kg_err text_ok(const char *s, const char *what_fail, const char **why)
{
    size_t chars;
    if (strlen(s) > KG_DESC_MAX_BYTES || !kg_utf8_text(s, strlen(s), &chars) ||
        chars > KG_DESC_MAX_CHARS) {
        *why = what_fail;
        return KG_INVALID;
    }
    return KG_OK;
}

/* A change's audit entry on its way into the store write that makes the change. */
struct audited {
    struct kg_audit entry; /* outcome OK */
    int committed;         /* the store wrote it, with the change */
};

static void audited_init(struct audited *au, const struct actor *who, const char *action,
                         const char *target, const char *detail)
{
    audit_entry(&au->entry, who, action, target, detail);
    au->committed = 0;
}

/* After every write: the API's cached answers are stale (tcache.h), and the view catches up. */
static void refresh(struct app *a)
{
    tcache_forget(a->tcache);
    if (a->view) view_sync(a->view);
}

/* The no-escalation rule: every role in `ids` must be in who's active role set. */
static kg_err may_hand_out(struct app *a, const struct actor *who, const kg_role_id *ids, size_t n,
                           const char **why)
{
    char name[KG_ROLE_NAME_MAX + 1];
    for (size_t i = 0; i < n && a->view; i++) {
        if (view_role_name(a->view, ids[i], name) != KG_OK) {
            *why = "no role has that roleId";
            return KG_NOTFOUND;
        }
    }
    if (who->operator) return KG_OK;
    for (size_t i = 0; i < n; i++) {
        if (!a->view || !view_holds(a->view, who->roles, who->nroles, ids[i])) {
            *why = "you can only hand out a role in your own active role set";
            return KG_FORBIDDEN;
        }
    }
    return KG_OK;
}

/* Changing or deleting a role, or a user, needs every role it holds in who's active role
 * set: a security admin cannot reach above itself (say, reset an accountadmin's password). */
static kg_err may_change(struct app *a, const struct actor *who, const kg_role_id *ids, size_t n,
                         const char **why)
{
    if (who->operator) return KG_OK;
    for (size_t i = 0; i < n; i++) {
        if (!a->view || !view_holds(a->view, who->roles, who->nroles, ids[i])) {
            *why = "you can only change a role or user within your own active role set";
            return KG_FORBIDDEN;
        }
    }
    return KG_OK;
}

static kg_err role_ids_ok(const kg_role_id *ids, size_t n, const char **why)
{
    if (n > KG_GRANTS_MAX) {
        *why = "too many roles (at most 32)";
        return KG_INVALID;
    }
    for (size_t i = 0; i < n; i++) {
        if (!ids_role_id_valid(ids[i])) {
            *why = "a roleId must look like r-0123456789";
            return KG_INVALID;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(ids[i], ids[k]) == 0) {
                *why = "a role is listed twice";
                return KG_INVALID;
            }
    }
    return KG_OK;
}

/* ---- tokens -------------------------------------------------------------------------- */

/* A new secret: s (hash, prefix, times) and its text in secret[] (shown once; the caller wipes
 * it).  description is checked already.  It expires at expires_on (0 = never), or sooner when
 * the deployment limits a secret's lifetime (--max-secret-lifetime). */
static void secret_make(struct app *a, const char *description, int64_t now, int64_t expires_on,
                        struct kg_secret *s, char secret[KG_SECRET_LEN + 1])
{
    int64_t max_ms = a->cfg.max_secret_lifetime * 1000;
    if (max_ms && (!expires_on || expires_on > now + max_ms)) expires_on = now + max_ms;
    memset(s, 0, sizeof *s);
    ids_secret(secret);
    keys_hash_secret(a->keys, secret, KG_SECRET_LEN, s->hash);
    memcpy(s->prefix, secret, KG_SECRET_PREFIX_LEN);
    memcpy(s->description, description, strlen(description) + 1);
    s->status = KG_SECRET_ACTIVE;
    s->created_on = now;
    s->expires_on = expires_on;
}

/* Applies lim to t (what lim sets; NULL: nothing), checking it: a rate limit of 1 to
 * KG_RATE_REQUESTS_MAX requests in 1 s to KG_RATE_PERIOD_MAX; at most KG_CIDRS_MAX ranges, kept
 * in their canonical form, each once, in the order given. */
static kg_err limits_apply(const struct service_limits *lim, struct kg_token *t, const char **why)
{
    if (!lim) return KG_OK;
    if (lim->set_rate) {
        if (lim->rate_requests || lim->rate_period_s) {
            if (lim->rate_requests < 1 || lim->rate_requests > KG_RATE_REQUESTS_MAX) {
                *why = "rateLimit.requests must be from 1 to 1000000000";
                return KG_INVALID;
            }
            if (lim->rate_period_s < 1 || lim->rate_period_s > KG_RATE_PERIOD_MAX) {
                *why = "rateLimit.periodSeconds must be from 1 to 31622400 (366 days)";
                return KG_INVALID;
            }
            if (lim->rate_requests > lim->rate_period_s * KG_RATE_PER_S_MAX) {
                *why = "rateLimit.requests must be at most 1000000 a second";
                return KG_INVALID;
            }
        }
        t->rate_requests = lim->rate_requests;
        t->rate_period_s = lim->rate_requests ? lim->rate_period_s : 0;
    }
    if (lim->set_cidrs) {
        char out[KG_CIDRS_TEXT_MAX + 1] = "";
        size_t len = 0, kept = 0;
        if (lim->ncidrs > KG_CIDRS_MAX) {
            *why = "allowedCidrs holds at most 16 ranges";
            return KG_INVALID;
        }
        for (size_t i = 0; i < lim->ncidrs; i++) {
            struct cidr r;
            char canon[CIDR_TEXT_MAX];
            const char *c = lim->cidrs[i];
            if (!c || !cidr_parse(c, strnlen(c, CIDR_TEXT_MAX), &r) || strlen(c) >= CIDR_TEXT_MAX) {
                *why = "allowedCidrs must hold IPv4 or IPv6 addresses or CIDR ranges, like "
                       "203.0.113.0/24 or 2001:db8::/32";
                return KG_INVALID;
            }
            cidr_text(&r, canon);
            size_t cl = strlen(canon);
            int dup = 0; /* the same range twice is kept once */
            for (const char *p = out; *p && !dup;
                 p += strcspn(p, ",") + (p[strcspn(p, ",")] == ','))
                dup = strcspn(p, ",") == cl && memcmp(p, canon, cl) == 0;
            if (dup) continue;
            if (kept) out[len++] = ',';
            memcpy(out + len, canon, cl + 1); /* fits: 16 ranges of at most 43 bytes */
            len += cl;
            kept++;
        }
        memcpy(t->cidrs, out, len + 1);
    }
    return KG_OK;
}

/* The audit detail of a token's usage controls: "rate limit 100/60s, 2 allowed ranges". */
static void limits_detail(const struct kg_token *t, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = t->cidrs; *p; p++)
        n += *p == ',';
    n += t->cidrs[0] != '\0';
    if (t->rate_requests)
        snprintf(out, size, "rate limit %lld/%llds, %zu allowed ranges",
                 (long long)t->rate_requests, (long long)t->rate_period_s, n);
    else
        snprintf(out, size, "no rate limit of its own, %zu allowed ranges", n);
}

static kg_err token_create_do(struct app *a, const struct actor *who, const char *description,
                              const char *role_id, int64_t expires_on,
                              const struct service_limits *lim, struct kg_token *out,
                              char secret[KG_SECRET_LEN + 1], struct audited *au, const char **why)
{
    kg_err rc;
    int64_t now = kg_now_ms();
    if ((rc = text_ok(description, "description must be text of at most 256 characters", why)))
        return rc;
    if (!ids_role_id_valid(role_id)) {
        *why = "roleId must look like r-0123456789";
        return KG_INVALID;
    }
    if (expires_on && expires_on <= now) {
        *why = "expiresOn must be in the future";
        return KG_INVALID;
    }
    struct kg_role role;
    if ((rc = store_role_get(a->st, role_id, &role)) != KG_OK) {
        *why = rc == KG_NOTFOUND ? "no role has that roleId" : "could not read the role";
        return rc;
    }
    if ((rc = may_hand_out(a, who, (const kg_role_id *)&role.role_id, 1, why))) return rc;

    memset(out, 0, sizeof *out);
    memcpy(out->description, description, strlen(description) + 1);
    memcpy(out->role_id, role.role_id, sizeof out->role_id);
    memcpy(out->role_name, role.role_name, sizeof out->role_name);
    memcpy(out->created_by, who->id, sizeof out->created_by);
    out->status = KG_TOKEN_ACTIVE;
    out->created_on = now;
    out->expires_on = expires_on;
    if ((rc = limits_apply(lim, out, why))) return rc;
    out->nsecrets = 1;
    for (int attempt = 0; attempt < 3; attempt++) {
        ids_client_id(out->client_id);
        secret_make(a, "", now, 0, &out->secrets[0], secret);
        audit_target(&au->entry, out->client_id);
        if ((rc = store_token_insert(a->st, out, &au->entry)) != KG_CONFLICT) break;
    }
    au->committed = rc == KG_OK;
    if (rc != KG_OK) {
        sodium_memzero(secret, KG_SECRET_LEN + 1);
        *why = rc == KG_NOTFOUND ? "no role has that roleId" : "could not store the token";
        return rc;
    }
    refresh(a);
    KG_LOG(LOG_NOTICE, "token %s created by %s for role %s", out->client_id, who->id,
           role.role_name);
    return store_token_get(a->st, out->client_id, out);
}

static kg_err token_revoke_do(struct app *a, const char *client_id, struct kg_token *out,
                              struct audited *au, const char **why)
{
    int changed = 0;
    kg_err rc;
    if (!ids_client_id_valid(client_id)) {
        *why = "no token has that clientId";
        return KG_NOTFOUND;
    }
    rc = store_token_revoke(a->st, client_id, kg_now_ms(), &changed, &au->entry);
    au->committed = rc == KG_OK;
    if (rc != KG_OK) {
        *why = rc == KG_NOTFOUND ? "no token has that clientId" : "could not revoke the token";
        return rc;
    }
    refresh(a);
    if (changed) KG_LOG(LOG_NOTICE, "token %s revoked", client_id);
    if ((rc = store_token_get(a->st, client_id, out)) != KG_OK) *why = "could not read the token";
    return rc;
}

static kg_err token_update_do(struct app *a, const char *client_id, const char *description,
                              const struct service_limits *lim, struct kg_token *out,
                              struct audited *au, const char **why)
{
    kg_err rc;
    if (!ids_client_id_valid(client_id) ||
        (rc = store_token_get(a->st, client_id, out)) == KG_NOTFOUND) {
        *why = "no token has that clientId";
        return KG_NOTFOUND;
    }
    if (rc != KG_OK) {
        *why = "could not read the token";
        return rc;
    }
    if (out->status != KG_TOKEN_ACTIVE) {
        *why = "a revoked token cannot be changed";
        return KG_PRECONDITION;
    }
    if (description) {
        if ((rc = text_ok(description, "description must be text of at most 256 characters", why)))
            return rc;
        memcpy(out->description, description, strlen(description) + 1);
    }
    if ((rc = limits_apply(lim, out, why))) return rc;
    limits_detail(out, au->entry.detail, sizeof au->entry.detail);
    rc = store_token_update(a->st, out, &au->entry);
    au->committed = rc == KG_OK;
    if (rc != KG_OK) {
        *why = rc == KG_PRECONDITION ? "a revoked token cannot be changed"
               : rc == KG_NOTFOUND   ? "no token has that clientId"
                                     : "could not change the token";
        return rc;
    }
    refresh(a);
    KG_LOG(LOG_NOTICE, "token %s changed: %s", client_id, au->entry.detail);
    if ((rc = store_token_get(a->st, client_id, out)) != KG_OK) *why = "could not read the token";
    return rc;
}

/* The token client_id as `who` may change its secrets: KG_NOTFOUND with why set otherwise. */
static kg_err token_of(struct app *a, const char *client_id, struct kg_token *t, const char **why)
{
    kg_err rc = ids_client_id_valid(client_id) ? store_token_get(a->st, client_id, t) : KG_NOTFOUND;
    if (rc != KG_OK)
        *why = rc == KG_NOTFOUND ? "no token has that clientId" : "could not read the token";
    return rc;
}

static kg_err secret_add_do(struct app *a, const char *client_id, const char *description,
                            int64_t expires_on, int64_t grace_ms, struct kg_token *out,
                            struct kg_secret *made, char secret[KG_SECRET_LEN + 1],
                            struct audited *au, const char **why)
{
    int64_t now = kg_now_ms();
    size_t chars;
    kg_err rc;
    if (strlen(description) > KG_SECRET_DESC_MAX ||
        !kg_utf8_text(description, strlen(description), &chars)) {
        *why = "description must be text of at most 128 bytes";
        return KG_INVALID;
    }
    if (expires_on && expires_on <= now) {
        *why = "expiresOn must be in the future";
        return KG_INVALID;
    }
    if ((rc = token_of(a, client_id, out, why))) return rc;
    struct kg_secret s;
    secret_make(a, description, now, expires_on, &s, secret);
    snprintf(au->entry.detail, sizeof au->entry.detail, "secret %s", s.prefix);
    if (grace_ms >= 0)
        snprintf(au->entry.detail, sizeof au->entry.detail,
                 "secret %s; older secrets expire in %lld s", s.prefix,
                 (long long)(grace_ms / 1000));
    rc =
        store_secret_add(a->st, client_id, &s, now, grace_ms >= 0 ? now + grace_ms : 0, &au->entry);
    au->committed = rc == KG_OK;
    if (rc != KG_OK) {
        sodium_memzero(secret, KG_SECRET_LEN + 1);
        *why = rc == KG_NOTFOUND       ? "no token has that clientId"
               : rc != KG_PRECONDITION ? "could not store the secret"
               : out->status != KG_TOKEN_ACTIVE
                   ? "the token is revoked"
                   : "a token holds at most 5 live secrets: delete one first";
        return rc;
    }
    refresh(a);
    if ((rc = token_of(a, client_id, out, why))) {
        sodium_memzero(secret, KG_SECRET_LEN + 1);
        return rc;
    }
    /* Its own record, found by its hash: another add on the token may have committed since. */
    size_t i = 0;
    while (i < out->nsecrets && sodium_memcmp(out->secrets[i].hash, s.hash, KG_HASH_LEN) != 0)
        i++;
    if (i == out->nsecrets) { /* deleted the moment it was made */
        sodium_memzero(secret, KG_SECRET_LEN + 1);
        *why = "the new secret was deleted at once";
        return KG_NOTFOUND;
    }
    *made = out->secrets[i];
    KG_LOG(LOG_NOTICE, "token %s: secret %s added%s", client_id, s.prefix,
           grace_ms >= 0 ? " by a rotation" : "");
    return KG_OK;
}

static kg_err secret_delete_do(struct app *a, const char *client_id, const char *secret_id,
                               struct audited *au, const char **why)
{
    struct kg_token t;
    int64_t seq = ids_secret_seq(secret_id);
    kg_err rc;
    if ((rc = token_of(a, client_id, &t, why))) return rc;
    rc = seq ? store_secret_delete(a->st, client_id, seq, kg_now_ms(), &au->entry) : KG_NOTFOUND;
    au->committed = rc == KG_OK;
    if (rc != KG_OK) {
        *why = rc == KG_NOTFOUND ? "the token has no secret with that secretId"
               : rc == KG_PRECONDITION
                   ? "a token keeps at least one live secret: revoke the token instead"
                   : "could not delete the secret";
        return rc;
    }
    refresh(a);
    KG_LOG(LOG_NOTICE, "token %s: secret %s deleted", client_id, secret_id);
    return KG_OK;
}

/* ---- roles --------------------------------------------------------------------------- */

static int builtin(const struct kg_role *r)
{
    return strcmp(r->role_name, KG_ROLE_ACCOUNTADMIN) == 0 ||
           strcmp(r->role_name, KG_ROLE_PUBLIC) == 0;
}

const char *service_creating_role(const struct actor *who)
{
    return who->operator|| !who->nroles ? KG_ROLE_ACCOUNTADMIN_ID : who->roles[0];
}

/* Reads the role `who` wants to change into *r.  KG_NOTFOUND; KG_PRECONDITION for a built-in
 * role (only accountadmin when public_ok: public may hold privileges); KG_FORBIDDEN when the
 * role is outside who's active role set. */
static kg_err changeable_role(struct app *a, const struct actor *who, const char *role_id,
                              int public_ok, struct kg_role *r, const char **why)
{
    kg_err rc = store_role_get(a->st, role_id, r);
    if (rc != KG_OK) {
        *why = rc == KG_NOTFOUND ? "no role has that roleId" : "could not read the role";
        return rc;
    }
    if (builtin(r) && !(public_ok && strcmp(r->role_name, KG_ROLE_PUBLIC) == 0)) {
        *why = public_ok
                   ? "accountadmin holds every privilege and cannot be changed"
                   : "the built-in roles accountadmin and public cannot be changed or deleted";
        return KG_PRECONDITION;
    }
    return may_change(a, who, (const kg_role_id *)&r->role_id, 1, why);
}

static kg_err role_write_error(kg_err rc, const char **why)
{
    switch (rc) {
    case KG_CONFLICT:
        *why = "a role with that roleName exists";
        break;
    case KG_NOTFOUND:
        *why = "a granted role does not exist";
        break;
    case KG_PRECONDITION:
        *why = "that grant would make a cycle of roles";
        break;
    default:
        *why = "could not store the role";
        break;
    }
    return rc;
}

static kg_err role_create_do(struct app *a, const struct actor *who, const char *name,
                             const char *description, const kg_role_id *granted, size_t ngranted,
                             int grant_to_creator, struct kg_role *out, struct audited *au,
                             const char **why)
{
    kg_err rc;
    if (!service_role_name_valid(name)) {
        *why = "roleName must be 1 to 64 of a-z, 0-9 and _";
        return KG_INVALID;
    }
    if ((rc = text_ok(description, "roleDescription must be text of at most 256 characters", why)))
        return rc;
    if ((rc = role_ids_ok(granted, ngranted, why)) ||
        (rc = may_hand_out(a, who, granted, ngranted, why)))
        return rc;
    memset(out, 0, sizeof *out);
    memcpy(out->role_name, name, strlen(name) + 1);
    memcpy(out->description, description, strlen(description) + 1);
    memcpy(out->owning_role_id, service_creating_role(who), sizeof out->owning_role_id);
    out->created_on = out->modified_on = kg_now_ms();
    out->ngranted = ngranted;
    if (ngranted) memcpy(out->granted, granted, ngranted * sizeof *granted);
    for (int attempt = 0; attempt < 3; attempt++) {
        ids_role_id(out->role_id);
        audit_target(&au->entry, out->role_id);
        if ((rc = store_role_insert(a->st, out, &au->entry)) != KG_CONFLICT) break;
        struct kg_role same; /* a taken name is final; a taken id is retried */
        if (store_role_get_by_name(a->st, name, &same) == KG_OK) break;
    }
    au->committed = rc == KG_OK;
    if (rc != KG_OK) return role_write_error(rc, why);
    struct kg_role creator;
    rc = KG_OK;
    for (int attempt = 0; grant_to_creator && attempt < 3; attempt++) {
        /* compare-and-set: a change of the creator's role made meanwhile is read again */
        if (who->operator|| !who->nroles ||
                store_role_get(a->st, who->roles[0], &creator) != KG_OK ||
            builtin(&creator) || creator.ngranted >= KG_GRANTS_MAX)
            break;
        struct kg_audit grant; /* a change of another role: its own entry */
        char detail[64];
        snprintf(detail, sizeof detail, "grants %s, made by a holder of this role", out->role_id);
        audit_entry(&grant, who, "role.update", creator.role_id, detail);
        memcpy(creator.granted[creator.ngranted++], out->role_id, sizeof out->role_id);
        creator.modified_on = kg_now_ms();
        if ((rc = store_role_update(a->st, &creator, &grant)) != KG_ABORTED) break;
    }
    if (rc != KG_OK)
        KG_LOG(LOG_WARNING, "role %s made, but not granted to its creator's role %s: %s",
               out->role_id, who->roles[0], kg_err_name(rc));
    refresh(a);
    return store_role_get(a->st, out->role_id, out);
}

/* The stale-read answer of an update (KG_ABORTED). */
static kg_err stale(const char *what, const char **why)
{
    *why = what;
    return KG_ABORTED;
}
#define STALE_ROLE "the role changed since it was read (syncToken); read it again"
#define STALE_USER "the user changed since it was read (syncToken); read it again"

/* One read-modify-write of a role: KG_ABORTED when it changed after the read (given `sync`,
 * before the read too). */
static kg_err role_update_once(struct app *a, const struct actor *who, const char *role_id,
                               const char *name, const char *description, const kg_role_id *granted,
                               size_t ngranted, int set_granted, int64_t sync, struct audited *au,
                               const char **why)
{
    struct kg_role r;
    kg_err rc = changeable_role(a, who, role_id, 0, &r, why);
    if (rc) return rc;
    if (sync && sync != r.sync) return stale(STALE_ROLE, why);
    if (name) {
        if (!service_role_name_valid(name)) {
            *why = "roleName must be 1 to 64 of a-z, 0-9 and _";
            return KG_INVALID;
        }
        memcpy(r.role_name, name, strlen(name) + 1);
    }
    if (description) {
        if ((rc = text_ok(description, "roleDescription must be text of at most 256 characters",
                          why)))
            return rc;
        memcpy(r.description, description, strlen(description) + 1);
    }
    if (set_granted) {
        if ((rc = role_ids_ok(granted, ngranted, why))) return rc;
        /* only newly added grants need the actor to hold them */
        for (size_t i = 0; i < ngranted; i++) {
            int had = 0;
            for (size_t k = 0; k < r.ngranted; k++)
                had |= strcmp(r.granted[k], granted[i]) == 0;
            if (!had && (rc = may_hand_out(a, who, &granted[i], 1, why))) return rc;
        }
        r.ngranted = ngranted;
        if (ngranted) memcpy(r.granted, granted, ngranted * sizeof *granted);
    }
    r.modified_on = kg_now_ms();
    rc = store_role_update(a->st, &r, &au->entry); /* compare-and-set on r.sync */
    au->committed = rc == KG_OK;
    if (rc == KG_ABORTED) return stale(STALE_ROLE, why);
    if (rc != KG_OK) return role_write_error(rc, why);
    return KG_OK;
}

/* An update without a syncToken (sync 0) applies to the role as it is: one that changed
 * between the read and the write is read again, so no change is lost.  With one, a role that
 * changed since the client read it is KG_ABORTED. */
static kg_err role_update_do(struct app *a, const struct actor *who, const char *role_id,
                             const char *name, const char *description, const kg_role_id *granted,
                             size_t ngranted, int set_granted, int64_t sync, struct kg_role *out,
                             struct audited *au, const char **why)
{
    kg_err rc = KG_ABORTED;
    for (int attempt = 0; rc == KG_ABORTED && attempt < 5; attempt++) {
        rc = role_update_once(a, who, role_id, name, description, granted, ngranted, set_granted,
                              sync, au, why);
        if (sync) break;
    }
    if (rc != KG_OK) return rc;
    refresh(a);
    return store_role_get(a->st, role_id, out);
}

static kg_err role_delete_do(struct app *a, const struct actor *who, const char *role_id,
                             struct audited *au, const char **why)
{
    struct kg_role r;
    kg_err rc = changeable_role(a, who, role_id, 0, &r, why);
    if (rc) return rc;
    rc = store_role_delete(a->st, role_id, &au->entry);
    au->committed = rc == KG_OK;
    if (rc != KG_OK) {
        *why = rc == KG_PRECONDITION ? "the role is held by an active token or a user"
                                     : "could not delete the role";
        return rc;
    }
    refresh(a);
    return KG_OK;
}

/* Checks sp's fields into *p (role_id filled by the caller): the name, the kind (a revoke may
 * leave it out: either), the grant option, the entity (this account only), the revoke action
 * (into *option_only, when asked for). */
static kg_err privilege_args(struct app *a, const struct service_privilege *sp, int grant,
                             struct kg_privilege *p, int *option_only, const char **why)
{
    char account[KG_ACCOUNT_ID_LEN + 1];
    kg_err rc;
    memset(p, 0, sizeof *p);
    p->kind = KG_KIND_ANY;
    if ((grant || sp->grant_kind) &&
        (!sp->grant_kind || privilege_kind_parse(sp->grant_kind, &p->kind) != KG_OK)) {
        *why = "grantKind must be " PRIV_GRANT_ALLOW " or " PRIV_GRANT_DENY;
        return KG_INVALID;
    }
    if (!sp->privilege || !privilege_valid(sp->privilege)) {
        *why = "privilege must be " PRIVILEGE_NAME_RULE;
        return KG_INVALID;
    }
    memcpy(p->name, sp->privilege, strlen(sp->privilege) + 1);
    if (grant && sp->grant_option && p->kind != KG_ALLOW) {
        *why = "grantOption must be false for a Deny (a Deny cannot be granted on)";
        return KG_INVALID;
    }
    p->grant_option = grant && sp->grant_option;
    if (!sp->entity_kind != !sp->entity_id) {
        *why = sp->entity_kind ? "entityId is required with entityKind"
                               : "entityKind is required with entityId";
        return KG_INVALID;
    }
    if (sp->entity_kind && strcmp(sp->entity_kind, PRIV_ENTITY_ACCOUNT) != 0) {
        *why = "entityKind must be " PRIV_ENTITY_ACCOUNT ": keygate's privileges are account-level";
        return KG_INVALID;
    }
    if (sp->entity_id) {
        if ((rc = store_account_id(a->st, account)) != KG_OK) {
            *why = "could not read the account ID";
            return rc;
        }
        if (strcmp(sp->entity_id, account) != 0) {
            *why = "entityId must be this account's accountId (GET /public/api/v1/account)";
            return KG_INVALID;
        }
    }
    if (option_only) {
        *option_only = 0;
        if (sp->revoke_action && !privilege_revoke_action_parse(sp->revoke_action, option_only)) {
            *why = "revokeAction must be " PRIV_REVOKE_ROLE_GRANT " or " PRIV_REVOKE_GRANT_OPTION;
            return KG_INVALID;
        }
    }
    return KG_OK;
}

/* 1 when role r holds a Deny of `name` itself (not through a granted role). */
static kg_err role_denies(struct app *a, const struct kg_role *r, const char *name, int *denies)
{
    struct kg_privilege *ps = NULL;
    size_t n = 0;
    kg_err rc = store_privilege_list(a->st, r->role_id, &ps, &n);
    *denies = 0;
    for (size_t i = 0; rc == KG_OK && i < n; i++)
        *denies |= strcmp(ps[i].name, name) == 0 && ps[i].kind == KG_DENY;
    free(ps);
    return rc;
}

/* Who may grant p to r (service.h): ManageSecurity within who's set, or p's grant option. */
static kg_err may_grant(struct app *a, const struct actor *who, const struct kg_role *r,
                        const struct kg_privilege *p, const char **why)
{
    kg_err rc;
    int denies = 0, manage;
    if (who->operator) return KG_OK;
    if (!a->view) {
        *why = "the caller's role lacks the " PRIV_MANAGE_SECURITY " privilege";
        return KG_FORBIDDEN;
    }
    manage = view_allows(a->view, who->roles, who->nroles, PRIV_MANAGE_SECURITY);
    if (manage) {
        if ((rc = may_change(a, who, (const kg_role_id *)&r->role_id, 1, why)) == KG_OK)
            return KG_OK;
    } else {
        *why = "the caller's role lacks the " PRIV_MANAGE_SECURITY
               " privilege, and the privilege it grants with grant option";
    }
    if (!view_grantable(a->view, who->roles, who->nroles, p->name)) return KG_FORBIDDEN;
    /* the grant option's way: an Allow, which adds to a role and never undoes a Deny (a
     * ManageSecurity holder outside its set keeps may_change's reason) */
    if (p->kind != KG_ALLOW) {
        if (!manage) *why = "granting a Deny needs the " PRIV_MANAGE_SECURITY " privilege";
        return KG_FORBIDDEN;
    }
    if ((rc = role_denies(a, r, p->name, &denies)) != KG_OK) {
        *why = "could not read the role's privileges";
        return rc;
    }
    if (denies) {
        *why =
            "the role holds a Deny of that privilege: replacing it needs the " PRIV_MANAGE_SECURITY
            " privilege";
        return KG_FORBIDDEN;
    }
    return KG_OK;
}

static kg_err privilege_grant_do(struct app *a, const struct actor *who, const char *role_id,
                                 const struct service_privilege *sp, struct audited *au,
                                 const char **why)
{
    struct kg_privilege p;
    struct kg_role r;
    kg_err rc = store_role_get(a->st, role_id, &r);
    if (rc != KG_OK) {
        *why = rc == KG_NOTFOUND ? "no role has that roleId" : "could not read the role";
        return rc;
    }
    if (strcmp(r.role_name, KG_ROLE_ACCOUNTADMIN) == 0) {
        *why = "accountadmin holds every privilege and cannot be changed";
        return KG_PRECONDITION;
    }
    if ((rc = privilege_args(a, sp, 1, &p, NULL, why)) || (rc = may_grant(a, who, &r, &p, why)))
        return rc;
    memcpy(p.role_id, r.role_id, sizeof p.role_id);
    rc = store_privilege_grant(a->st, &p, kg_now_ms(), &au->entry);
    au->committed = rc == KG_OK;
    if (rc != KG_OK) {
        *why = "could not store the privilege";
        return rc;
    }
    refresh(a);
    return KG_OK;
}

static kg_err privilege_revoke_do(struct app *a, const struct actor *who, const char *role_id,
                                  const struct service_privilege *sp, int *changed,
                                  struct audited *au, const char **why)
{
    struct kg_privilege p;
    struct kg_role r;
    int option_only = 0;
    kg_err rc = changeable_role(a, who, role_id, 1, &r, why);
    if (rc || (rc = privilege_args(a, sp, 0, &p, &option_only, why))) return rc;
    memcpy(p.role_id, r.role_id, sizeof p.role_id);
    rc = store_privilege_revoke(a->st, &p, option_only, changed, &au->entry);
    au->committed = rc == KG_OK;
    if (rc != KG_OK) {
        *why = "could not store the privilege";
        return rc;
    }
    refresh(a);
    return KG_OK;
}

static int id_cmp(const void *x, const void *y)
{
    return strcmp(((const struct view_role_ref *)x)->role_id,
                  ((const struct view_role_ref *)y)->role_id);
}

/* By name, then kind, then grant option: identical privileges side by side. */
static int priv_cmp(const void *x, const void *y)
{
    const struct kg_privilege *p = x, *q = y;
    int c = strcmp(p->name, q->name);
    if (c) return c;
    if (p->kind != q->kind) return p->kind < q->kind ? -1 : 1;
    return (p->grant_option > q->grant_option) - (p->grant_option < q->grant_option);
}

kg_err service_privilege_list(struct app *a, const char *role_id, int all,
                              struct kg_privilege **out, size_t *n)
{
    struct view_role_ref *set = NULL;
    struct kg_privilege *ps = NULL;
    size_t nset = 0, np = 0, w = 0;
    kg_role_id holder;
    kg_err rc;
    *out = NULL;
    *n = 0;
    if (!all || !a->view) return store_privilege_list(a->st, role_id, out, n);
    if (kg_strcpy(holder, sizeof holder, role_id) != KG_OK) return KG_INVALID;
    if ((rc = view_active_roles(a->view, (const kg_role_id *)&holder, 1, &set, &nset)) ||
        (rc = store_privilege_list(a->st, NULL, &ps, &np)))
        goto out;
    if (nset) qsort(set, nset, sizeof *set, id_cmp);
    for (size_t i = 0; i < np; i++) {
        struct view_role_ref key;
        memcpy(key.role_id, ps[i].role_id, sizeof key.role_id);
        if (nset && bsearch(&key, set, nset, sizeof *set, id_cmp)) ps[w++] = ps[i];
    }
    if (w) qsort(ps, w, sizeof *ps, priv_cmp);
    np = w;
    w = 0;
    for (size_t i = 0; i < np; i++)
        if (!w || priv_cmp(&ps[w - 1], &ps[i]) != 0) ps[w++] = ps[i];
    *out = ps; /* handed to the caller */
    *n = w;
    ps = NULL;
out:
    free(set);
    free(ps);
    return rc;
}

/* ---- role grants ---------------------------------------------------------------------- */

#define GRANTS_WALK_MAX 10000 /* roles a walk visits at most (a guard, not a limit in use) */

/* Appends grant {role_id to principal} to *list unless role_id is in it already. */
static kg_err grant_add(struct kg_role_grant **list, size_t *n, size_t *cap, const char *role_id,
                        const char *principal, int direct)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i].role_id, role_id) == 0) return KG_OK;
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct kg_role_grant *p = realloc(*list, ncap * sizeof *p);
        if (!p) return KG_ENOMEM;
        *list = p;
        *cap = ncap;
    }
    struct kg_role_grant *g = &(*list)[(*n)++];
    memset(g, 0, sizeof *g);
    kg_strcpy(g->role_id, sizeof g->role_id, role_id);
    kg_strcpy(g->principal, sizeof g->principal, principal);
    g->direct = direct;
    return KG_OK;
}

kg_err service_grants(struct app *a, const char *principal, const kg_role_id *direct, size_t n,
                      struct kg_role_grant **out, size_t *nout)
{
    struct kg_role_grant *list = NULL;
    size_t len = 0, cap = 0;
    kg_err rc = KG_OK;
    *out = NULL;
    *nout = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = grant_add(&list, &len, &cap, direct[i], principal, 1);
    /* breadth first: each role once, with the grantee of the shortest path to it */
    for (size_t i = 0; i < len && !rc && i < GRANTS_WALK_MAX; i++) {
        struct kg_role r;
        kg_err got = store_role_get(a->st, list[i].role_id, &r);
        if (got == KG_NOTFOUND) continue; /* deleted meanwhile: no name, nothing beyond */
        if ((rc = got)) break;
        memcpy(list[i].role_name, r.role_name, sizeof list[i].role_name);
        for (size_t k = 0; k < r.ngranted && !rc; k++)
            rc = grant_add(&list, &len, &cap, r.granted[k], r.role_id, 0);
    }
    if (rc) {
        free(list);
        return rc;
    }
    *out = list; /* handed to the caller */
    *nout = len;
    return KG_OK;
}

json_t *service_role_object(struct app *a, const struct kg_role *r)
{
    struct kg_role_grant *g = NULL;
    size_t n = 0;
    if (service_grants(a, r->role_id, (const kg_role_id *)r->granted, r->ngranted, &g, &n))
        return NULL;
    json_t *o = render_role(r, g, n);
    free(g);
    return o;
}

json_t *service_user_object(struct app *a, const struct kg_user *u)
{
    struct kg_role_grant *g = NULL;
    size_t n = 0;
    if (service_grants(a, u->user_id, (const kg_role_id *)u->roles, u->nroles, &g, &n)) return NULL;
    json_t *o = render_user(u, g, n);
    free(g);
    return o;
}

/* ---- users --------------------------------------------------------------------------- */

static kg_err password_hash(const char *password, char out[KG_PWHASH_MAX + 1], const char **why)
{
    size_t n = strlen(password);
    if (n < 8 || n > KG_PASSWORD_MAX) {
        *why = "password must be 8 to 1024 bytes";
        return KG_INVALID;
    }
    if (crypto_pwhash_str(out, password, n, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        *why = "could not hash the password";
        return KG_ENOMEM;
    }
    return KG_OK;
}

static kg_err user_write_error(kg_err rc, const char **why)
{
    *why = rc == KG_CONFLICT   ? "a user with that email exists"
           : rc == KG_NOTFOUND ? "a granted role does not exist"
                               : "could not store the user";
    return rc;
}

static kg_err user_create_do(struct app *a, const struct actor *who, const char *email,
                             const char *password, const kg_role_id *roles, size_t nroles,
                             struct kg_user *out, char generated[33], struct audited *au,
                             const char **why)
{
    kg_err rc;
    generated[0] = '\0';
    if (!service_email_valid(email)) {
        *why = "email must be an address like name@example.com";
        return KG_INVALID;
    }
    if ((rc = role_ids_ok(roles, nroles, why)) || (rc = may_hand_out(a, who, roles, nroles, why)))
        return rc;
    memset(out, 0, sizeof *out);
    memcpy(out->email, email, strlen(email) + 1);
    if (!password) {
        ids_base62(generated, 24);
        password = generated;
    }
    if ((rc = password_hash(password, out->password_hash, why))) goto fail;
    out->created_on = kg_now_ms();
    out->nroles = nroles;
    if (nroles) memcpy(out->roles, roles, nroles * sizeof *roles);
    for (int attempt = 0; attempt < 3; attempt++) {
        ids_user_id(out->user_id);
        audit_target(&au->entry, out->user_id);
        if ((rc = store_user_insert(a->st, out, &au->entry)) != KG_CONFLICT) break;
        struct kg_user same;
        if (store_user_get_by_email(a->st, email, &same) == KG_OK) break;
    }
    au->committed = rc == KG_OK;
    if (rc != KG_OK) {
        user_write_error(rc, why);
        goto fail;
    }
    KG_LOG(LOG_NOTICE, "user %s created by %s", out->user_id, who->id);
    return store_user_get(a->st, out->user_id, out);
fail:
    sodium_memzero(generated, 33);
    return rc;
}

/* One read-modify-write of a user, as role_update_once. */
static kg_err user_update_once(struct app *a, const struct actor *who, const char *user_id,
                               const char *email, const char *password_hashed,
                               const kg_role_id *roles, size_t nroles, int set_roles, int64_t sync,
                               struct audited *au, const char **why)
{
    kg_err rc;
    struct kg_user u;
    if ((rc = store_user_get(a->st, user_id, &u)) != KG_OK) {
        *why = rc == KG_NOTFOUND ? "no user has that userId" : "could not read the user";
        return rc;
    }
    if (sync && sync != u.sync) return stale(STALE_USER, why);
    if ((rc = may_change(a, who, (const kg_role_id *)u.roles, u.nroles, why))) return rc;
    if (email) {
        if (!service_email_valid(email)) {
            *why = "email must be an address like name@example.com";
            return KG_INVALID;
        }
        memcpy(u.email, email, strlen(email) + 1);
    }
    if (password_hashed) memcpy(u.password_hash, password_hashed, sizeof u.password_hash);
    if (set_roles) {
        if ((rc = role_ids_ok(roles, nroles, why))) return rc;
        for (size_t i = 0; i < nroles; i++) {
            int had = 0;
            for (size_t k = 0; k < u.nroles; k++)
                had |= strcmp(u.roles[k], roles[i]) == 0;
            if (!had && (rc = may_hand_out(a, who, &roles[i], 1, why))) return rc;
        }
        u.nroles = nroles;
        if (nroles) memcpy(u.roles, roles, nroles * sizeof *roles);
    }
    u.modified_on = kg_now_ms();
    rc = store_user_update(a->st, &u, &au->entry); /* compare-and-set on u.sync */
    au->committed = rc == KG_OK;
    if (rc == KG_ABORTED) return stale(STALE_USER, why);
    if (rc != KG_OK) return user_write_error(rc, why);
    return KG_OK;
}

/* As role_update_do: without a syncToken a user changed meanwhile is read again. */
static kg_err user_update_do(struct app *a, const struct actor *who, const char *user_id,
                             const char *email, const char *password, const kg_role_id *roles,
                             size_t nroles, int set_roles, int64_t sync, struct kg_user *out,
                             struct audited *au, const char **why)
{
    char hashed[KG_PWHASH_MAX + 1];
    kg_err rc = KG_OK;
    if (password && (rc = password_hash(password, hashed, why))) return rc; /* once: slow */
    rc = KG_ABORTED;
    for (int attempt = 0; rc == KG_ABORTED && attempt < 5; attempt++) {
        rc = user_update_once(a, who, user_id, email, password ? hashed : NULL, roles, nroles,
                              set_roles, sync, au, why);
        if (sync) break;
    }
    sodium_memzero(hashed, sizeof hashed);
    if (rc != KG_OK) return rc;
    if (password && a->sessions) sessions_end_user(a->sessions, user_id); /* sign out elsewhere */
    return store_user_get(a->st, user_id, out);
}

static kg_err user_delete_do(struct app *a, const struct actor *who, const char *user_id,
                             struct audited *au, const char **why)
{
    struct kg_user u;
    kg_err rc = store_user_get(a->st, user_id, &u);
    if (rc == KG_OK && (rc = may_change(a, who, (const kg_role_id *)u.roles, u.nroles, why)))
        return rc;
    if (rc == KG_OK) {
        rc = store_user_delete(a->st, user_id, &au->entry);
        au->committed = rc == KG_OK;
    }
    if (rc == KG_OK && a->sessions) sessions_end_user(a->sessions, user_id);
    if (rc != KG_OK)
        *why = rc == KG_NOTFOUND ? "no user has that userId" : "could not delete the user";
    return rc;
}

kg_err service_bootstrap(struct app *a, const char *password, int *created)
{
    kg_err rc;
    int64_t n = 0;
    const char *why = "";
    struct kg_role admin;
    struct kg_user u;
    struct actor op = {.id = "bootstrap", .operator= 1 };
    char unused[33]; /* filled only when no password is given */
    *created = 0;
    if ((rc = store_user_count(a->st, &n)) != KG_OK || n > 0) return rc;
    if ((rc = store_role_get_by_name(a->st, KG_ROLE_ACCOUNTADMIN, &admin)) != KG_OK) return rc;
    rc = service_user_create(a, &op, "admin@localhost", password,
                             (const kg_role_id *)&admin.role_id, 1, &u, unused, &why);
    if (rc == KG_CONFLICT) return KG_OK; /* another process made it first */
    if (rc != KG_OK) {
        KG_LOG(LOG_ERR, "bootstrap user: %s", why);
        return rc;
    }
    *created = 1;
    return KG_OK;
}

/* ---- the audited entry points ----------------------------------------------------------
 * Each public change fills its OK entry, runs its *_do above (whose store write commits the
 * entry with the change) and, when nothing committed, records the attempt's outcome on its
 * own: the actor, the record acted on and why it failed. */

/* Records a change that did not commit; one that did has its entry already. */
static void settle(struct app *a, const struct actor *who, const struct audited *au, kg_err rc,
                   const char *target, const char *why)
{
    if (!au->committed) audit_actor(a, who, au->entry.action, target, rc, why);
}

kg_err service_token_create(struct app *a, const struct actor *who, const char *description,
                            const char *role_id, int64_t expires_on,
                            const struct service_limits *lim, struct kg_token *out,
                            char secret[KG_SECRET_LEN + 1], const char **why)
{
    struct audited au;
    char detail[64];
    *why = "";
    snprintf(detail, sizeof detail, "role %s", role_id ? role_id : "");
    audited_init(&au, who, "apiToken.create", "", detail);
    kg_err rc =
        token_create_do(a, who, description, role_id, expires_on, lim, out, secret, &au, why);
    settle(a, who, &au, rc, "", *why);
    return rc;
}

kg_err service_token_revoke(struct app *a, const struct actor *who, const char *client_id,
                            struct kg_token *out, const char **why)
{
    struct audited au;
    *why = "";
    audited_init(&au, who, "apiToken.revoke", client_id, "");
    kg_err rc = token_revoke_do(a, client_id, out, &au, why);
    settle(a, who, &au, rc, client_id, *why);
    return rc;
}

kg_err service_token_update(struct app *a, const struct actor *who, const char *client_id,
                            const char *description, const struct service_limits *lim,
                            struct kg_token *out, const char **why)
{
    struct audited au;
    *why = "";
    audited_init(&au, who, "apiToken.update", client_id ? client_id : "", "");
    kg_err rc = token_update_do(a, client_id ? client_id : "", description, lim, out, &au, why);
    settle(a, who, &au, rc, client_id ? client_id : "", *why);
    return rc;
}

kg_err service_secret_add(struct app *a, const struct actor *who, const char *client_id,
                          const char *description, int64_t expires_on, int64_t grace_ms,
                          struct kg_token *out, struct kg_secret *made,
                          char secret[KG_SECRET_LEN + 1], const char **why)
{
    struct audited au;
    const char *action = grace_ms >= 0 ? "apiToken.rotate" : "apiToken.secret.add";
    *why = "";
    audited_init(&au, who, action, client_id ? client_id : "", "");
    kg_err rc = secret_add_do(a, client_id ? client_id : "", description ? description : "",
                              expires_on, grace_ms, out, made, secret, &au, why);
    settle(a, who, &au, rc, client_id ? client_id : "", *why);
    return rc;
}

kg_err service_secret_delete(struct app *a, const struct actor *who, const char *client_id,
                             const char *secret_id, const char **why)
{
    struct audited au;
    char detail[48];
    *why = "";
    snprintf(detail, sizeof detail, "secret %.20s", secret_id ? secret_id : "");
    audited_init(&au, who, "apiToken.secret.delete", client_id ? client_id : "", detail);
    kg_err rc =
        secret_delete_do(a, client_id ? client_id : "", secret_id ? secret_id : "", &au, why);
    settle(a, who, &au, rc, client_id ? client_id : "", *why);
    return rc;
}

kg_err service_usage_range(int64_t *since, int64_t until, int64_t unit, size_t *nb)
{
    *since -= *since % (unit ? unit : USAGE_HOUR_MS);
    *nb = 0;
    if (!unit) return KG_OK;
    int64_t n = ((until - 1) - (until - 1) % unit - *since) / unit + 1;
    if (n > (unit == USAGE_HOUR_MS ? 31 * 24 : 400)) return KG_INVALID;
    *nb = (size_t)n;
    return KG_OK;
}

kg_err service_usage(struct app *a, const char *client_id, int64_t since, int64_t until,
                     int64_t unit, int64_t sum[KG_USE_KINDS], int64_t (*buckets)[KG_USE_KINDS],
                     size_t nb)
{
    struct kg_usage *rows = NULL;
    size_t n = 0;
    int64_t first = unit ? since - since % unit : since - since % USAGE_HOUR_MS;
    kg_err rc = store_usage_read(a->st, client_id, first, until, &rows, &n);
    if (rc != KG_OK) return rc;
    memset(sum, 0, KG_USE_KINDS * sizeof *sum);
    if (buckets) memset(buckets, 0, nb * sizeof *buckets);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < KG_USE_KINDS; k++)
            sum[k] += rows[i].n[k];
        size_t b = unit ? (size_t)((rows[i].hour - first) / unit) : nb;
        for (size_t k = 0; buckets && b < nb && k < KG_USE_KINDS; k++)
            buckets[b][k] += rows[i].n[k];
    }
    free(rows);
    return KG_OK;
}

#define LEAK_WHERE_MAX 160 /* bytes of a reported place kept in the audit log */

kg_err service_report_leaked(struct app *a, const char *address, const char *secret,
                             const char *where, int *revoked)
{
    struct actor reporter = {.id = ""};
    struct kg_audit e;
    char client_id[KG_CLIENT_ID_LEN + 1], detail[KG_DETAIL_MAX + 1];
    unsigned char h[KG_HASH_LEN];
    int64_t seq = 0;
    int status = 0;
    size_t chars;
    kg_err rc;
    *revoked = 0;
    if (!ids_secret_valid(secret)) return KG_OK; /* a look-alike: its checksum is wrong */
    keys_hash_secret(a->keys, secret, KG_SECRET_LEN, h);
    rc = store_secret_find(a->st, h, client_id, &seq, &status);
    sodium_memzero(h, sizeof h);
    if (rc == KG_NOTFOUND) return KG_OK;
    if (rc != KG_OK) return rc;
    /* Revoked already: nothing to do, and nothing written (a known leaked secret reported
     * again and again must cost no write). */
    if (status == KG_SECRET_REVOKED) return KG_OK;
    kg_strcpy(reporter.addr, sizeof reporter.addr, address);
    /* where it was found, when it is short text (no controls, whole UTF-8): it goes in the
     * audit log, which people read in tables and terminals */
    if (where && (strlen(where) > LEAK_WHERE_MAX || !kg_utf8_text(where, strlen(where), &chars)))
        where = "(a place that is not short text)";
    char sid[KG_SECRET_ID_LEN + 1];
    ids_secret_id(seq, sid);
    snprintf(detail, sizeof detail, "secret %s reported leaked%s%s", sid,
             where && *where ? " at " : "", where ? where : "");
    audit_entry(&e, &reporter, "apiToken.secret.reportLeaked", client_id, detail);
    rc = store_secret_revoke(a->st, client_id, seq, kg_now_ms(), revoked, &e);
    if (rc == KG_NOTFOUND) return KG_OK; /* deleted meanwhile */
    if (rc != KG_OK) return rc;
    refresh(a);
    if (*revoked)
        KG_LOG(LOG_WARNING, "token %s: secret %s revoked, reported leaked by %s", client_id, sid,
               address);
    return KG_OK;
}

kg_err service_role_create(struct app *a, const struct actor *who, const char *name,
                           const char *description, const kg_role_id *granted, size_t ngranted,
                           int grant_to_creator, struct kg_role *out, const char **why)
{
    struct audited au;
    char detail[96];
    *why = "";
    snprintf(detail, sizeof detail, "name %s", name ? name : "");
    audited_init(&au, who, "role.create", "", detail);
    kg_err rc = role_create_do(a, who, name, description, granted, ngranted, grant_to_creator, out,
                               &au, why);
    settle(a, who, &au, rc, "", *why);
    return rc;
}

kg_err service_role_update(struct app *a, const struct actor *who, const char *role_id,
                           const char *name, const char *description, const kg_role_id *granted,
                           size_t ngranted, int set_granted, int64_t sync, struct kg_role *out,
                           const char **why)
{
    struct audited au;
    *why = "";
    audited_init(&au, who, "role.update", role_id, "");
    kg_err rc = role_update_do(a, who, role_id, name, description, granted, ngranted, set_granted,
                               sync, out, &au, why);
    settle(a, who, &au, rc, role_id, *why);
    return rc;
}

kg_err service_role_delete(struct app *a, const struct actor *who, const char *role_id,
                           const char **why)
{
    struct audited au;
    *why = "";
    audited_init(&au, who, "role.delete", role_id, "");
    kg_err rc = role_delete_do(a, who, role_id, &au, why);
    settle(a, who, &au, rc, role_id, *why);
    return rc;
}

/* The audit detail of a privilege change: "Allow ViewAuditLog with grant option", … */
static void privilege_detail(const struct service_privilege *sp, int grant, char *out, size_t size)
{
    const char *tail = "";
    if (grant && sp->grant_option)
        tail = " with grant option";
    else if (!grant && sp->revoke_action &&
             strcmp(sp->revoke_action, PRIV_REVOKE_GRANT_OPTION) == 0)
        tail = ": its grant option";
    snprintf(out, size, "%s %s%s",
             sp->grant_kind ? sp->grant_kind
             : grant        ? ""
                            : "any",
             sp->privilege ? sp->privilege : "", tail);
}

kg_err service_privilege_grant(struct app *a, const struct actor *who, const char *role_id,
                               const struct service_privilege *sp, const char **why)
{
    struct audited au;
    char detail[160];
    *why = "";
    privilege_detail(sp, 1, detail, sizeof detail);
    audited_init(&au, who, "privilege.grant", role_id, detail);
    kg_err rc = privilege_grant_do(a, who, role_id, sp, &au, why);
    settle(a, who, &au, rc, role_id, *why);
    return rc;
}

kg_err service_privilege_revoke(struct app *a, const struct actor *who, const char *role_id,
                                const struct service_privilege *sp, int *changed, const char **why)
{
    struct audited au;
    char detail[160];
    *why = "";
    privilege_detail(sp, 0, detail, sizeof detail);
    audited_init(&au, who, "privilege.revoke", role_id, detail);
    kg_err rc = privilege_revoke_do(a, who, role_id, sp, changed, &au, why);
    settle(a, who, &au, rc, role_id, *why);
    return rc;
}

kg_err service_user_create(struct app *a, const struct actor *who, const char *email,
                           const char *password, const kg_role_id *roles, size_t nroles,
                           struct kg_user *out, char generated[33], const char **why)
{
    struct audited au;
    *why = "";
    audited_init(&au, who, "user.create", "", email);
    kg_err rc = user_create_do(a, who, email, password, roles, nroles, out, generated, &au, why);
    settle(a, who, &au, rc, email, *why);
    return rc;
}

kg_err service_user_update(struct app *a, const struct actor *who, const char *user_id,
                           const char *email, const char *password, const kg_role_id *roles,
                           size_t nroles, int set_roles, int64_t sync, struct kg_user *out,
                           const char **why)
{
    struct audited au;
    *why = "";
    audited_init(&au, who, "user.update", user_id, password ? "password changed" : "");
    kg_err rc = user_update_do(a, who, user_id, email, password, roles, nroles, set_roles, sync,
                               out, &au, why);
    settle(a, who, &au, rc, user_id, *why);
    return rc;
}

kg_err service_user_reset_password(struct app *a, const struct actor *who, const char *email,
                                   const char *password, struct kg_user *out, char generated[33],
                                   const char **why)
{
    struct audited au;
    struct kg_user u;
    const char *target = email;
    *why = "";
    generated[0] = '\0';
    audited_init(&au, who, "user.resetPassword", email, email);
    kg_err rc = store_user_get_by_email(a->st, email, &u);
    if (rc != KG_OK) {
        *why = rc == KG_NOTFOUND ? "no user has that email" : "could not read the user";
    } else {
        target = u.user_id;
        audit_target(&au.entry, u.user_id);
        if (!password) {
            ids_base62(generated, 24);
            password = generated;
        }
        rc = user_update_do(a, who, u.user_id, NULL, password, NULL, 0, 0, 0, out, &au, why);
        if (rc != KG_OK) sodium_memzero(generated, 33);
    }
    settle(a, who, &au, rc, target, *why);
    return rc;
}

kg_err service_user_delete(struct app *a, const struct actor *who, const char *user_id,
                           const char **why)
{
    struct audited au;
    *why = "";
    audited_init(&au, who, "user.delete", user_id, "");
    kg_err rc = user_delete_do(a, who, user_id, &au, why);
    settle(a, who, &au, rc, user_id, *why);
    return rc;
}
