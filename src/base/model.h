/*
 * model.h — keygate's records, as plain fixed-size structs, and their bounds.
 *
 * Times are milliseconds since the Unix epoch; 0 means "null" (never, not set).
 * Strings are NUL-terminated UTF-8 within the sizes below.
 */
#ifndef KG_MODEL_H
#define KG_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define KG_CLIENT_ID_LEN 20   /* "kgc_" + 16 base62 */
#define KG_SECRET_LEN 42      /* "kgs_" + 32 base62 (190 bits) + 6 base62 checksum */
#define KG_ROLE_ID_LEN 12     /* "r-" + 10 digits */
#define KG_USER_ID_LEN 12     /* "u-" + 10 digits */
#define KG_ACCOUNT_ID_LEN 12  /* "a-" + 10 digits: the deployment's, made once (store.h) */
#define KG_ROLE_NAME_MAX 64   /* bytes, [a-z0-9_] */
#define KG_DESC_MAX_CHARS 256 /* characters (code points) */
#define KG_DESC_MAX_BYTES 1024
#define KG_EMAIL_MAX 254
#define KG_PRIV_MAX 64       /* privilege name bytes */
#define KG_PASSWORD_MAX 1024 /* bytes of a human password */
#define KG_HASH_LEN 32       /* keyed BLAKE2b of a client secret */
#define KG_PWHASH_MAX 128    /* argon2id encoded string (crypto_pwhash_STRBYTES) */
#define KG_ACTOR_MAX 64      /* "u-…", "kgc_…" or "cli" */
#define KG_GRANTS_MAX 32     /* roles directly granted to one role or one user */
/* A token's secrets.  A secret's ID is "s-" and its seq in 10 digits (ids_secret_id): made by
 * the store, unique in the deployment and never reused. */
#define KG_SECRET_ID_LEN 12
#define KG_SECRET_PREFIX_LEN 8 /* "kgs_" and the secret's first 4 random characters */
#define KG_SECRET_DESC_MAX 128 /* bytes of a secret's description */
#define KG_SECRETS_LIVE_MAX 5  /* live secrets (neither expired nor revoked) a token may hold */
/* secrets a token keeps, live or not: adding one beyond drops the oldest that is not live */
#define KG_SECRETS_MAX 10

#define KG_ROLE_ACCOUNTADMIN "accountadmin"
#define KG_ROLE_PUBLIC "public"
/* The built-in roles' ids (schema version 1 seeds them with these). */
#define KG_ROLE_ACCOUNTADMIN_ID "r-0000000001"
#define KG_ROLE_PUBLIC_ID "r-0000000002"

/* List pages (?pageSize=): 0 or absent means the default; Galaxy's maximum is 100. */
#define KG_PAGE_DEFAULT 100
#define KG_PAGE_MAX 100

enum kg_token_status { KG_TOKEN_ACTIVE = 0, KG_TOKEN_REVOKED = 1 };
/* Expired is not a stored status: a secret whose expires_on has passed is expired. */
enum kg_secret_status { KG_SECRET_ACTIVE = 0, KG_SECRET_REVOKED = 1 };

typedef char kg_role_id[KG_ROLE_ID_LEN + 1];

/* One of a token's client secrets, stored as a keyed hash (keys_hash_secret). */
struct kg_secret {
    int64_t seq; /* its ID's number; a newer secret has a larger seq */
    unsigned char hash[KG_HASH_LEN];
    char prefix[KG_SECRET_PREFIX_LEN + 1]; /* "kgs_" alone for a secret made before 0.17 */
    char description[KG_SECRET_DESC_MAX + 1];
    int status; /* enum kg_secret_status */
    int64_t created_on, last_used_on, expires_on, revoked_on;
};

/* A token's usage controls (issue 19): its own rate limit, and the client address ranges it may
 * be used from. */
#define KG_CIDRS_MAX 16                           /* ranges in a token's allow-list */
#define KG_CIDRS_TEXT_MAX (KG_CIDRS_MAX * 44 - 1) /* their canonical texts, comma-separated */
#define KG_RATE_REQUESTS_MAX 1000000000LL         /* requests of a rate limit */
#define KG_RATE_PERIOD_MAX (86400LL * 366)        /* seconds of a rate limit's period */
#define KG_RATE_PER_S_MAX 1000000LL /* requests a second at most: the bucket counts in ns */

struct kg_token {
    int64_t seq; /* storage order: a newer token has a larger seq */
    char client_id[KG_CLIENT_ID_LEN + 1];
    char description[KG_DESC_MAX_BYTES + 1];
    kg_role_id role_id;
    char role_name[KG_ROLE_NAME_MAX + 1]; /* filled on reads; "" if the role is gone */
    int status;                           /* enum kg_token_status */
    int64_t created_on, last_access_on, revoked_on, expires_on;
    char created_by[KG_ACTOR_MAX + 1];
    /* its own rate limit: rate_requests in rate_period_s seconds; 0 = none of its own (the
     * deployment's default applies) */
    int64_t rate_requests, rate_period_s;
    char cidrs[KG_CIDRS_TEXT_MAX + 1]; /* allowed ranges, canonical, ","-separated; "" = any */
    size_t nsecrets;                   /* its secrets, oldest first */
    struct kg_secret secrets[KG_SECRETS_MAX];
};

/* 1 when s can be used at now (ms): not revoked, not expired. */
static inline int kg_secret_live(const struct kg_secret *s, int64_t now)
{
    return s->status == KG_SECRET_ACTIVE && (!s->expires_on || s->expires_on > now);
}

struct kg_role {
    int64_t seq; /* storage order, ascending = older first */
    kg_role_id role_id;
    char role_name[KG_ROLE_NAME_MAX + 1];
    char description[KG_DESC_MAX_BYTES + 1];
    int64_t created_on, modified_on;
    kg_role_id owning_role_id; /* the role that made it (accountadmin for the CLI's) */
    int64_t sync;    /* the store's version of the row: changes with every change of the role */
    size_t ngranted; /* roles directly granted to this role */
    kg_role_id granted[KG_GRANTS_MAX];
};

/* KG_KIND_ANY: in a revoke only, either kind (a role holds a name once). */
enum kg_grant_kind { KG_KIND_ANY = -1, KG_ALLOW = 0, KG_DENY = 1 };

struct kg_privilege {
    kg_role_id role_id; /* the role holding it */
    int kind;           /* enum kg_grant_kind */
    int grant_option;   /* 1: the role may grant it on (an Allow only) */
    char name[KG_PRIV_MAX + 1];
};

struct kg_user {
    int64_t seq;
    char user_id[KG_USER_ID_LEN + 1];
    char email[KG_EMAIL_MAX + 1];
    char password_hash[KG_PWHASH_MAX + 1]; /* argon2id string; never leaves the server */
    int64_t created_on, modified_on;
    int64_t sync;  /* the store's version of the row, as kg_role's */
    size_t nroles; /* roles directly granted to this user */
    kg_role_id roles[KG_GRANTS_MAX];
};

/* One grant of a role to a principal (a role or a user): a role or user's directly granted
 * roles, and the roles it holds through them (Galaxy's RoleGrant). */
struct kg_role_grant {
    kg_role_id role_id;                   /* the role granted */
    char role_name[KG_ROLE_NAME_MAX + 1]; /* "" if it is gone */
    char principal[KG_USER_ID_LEN + 1];   /* the grantee: "r-…" or "u-…" (same length) */
    int direct;                           /* granted to the holder itself */
};

/* One audit-log entry: who did what to what, from where, and how it ended. */
#define KG_ACTION_MAX 31
#define KG_TARGET_MAX (KG_EMAIL_MAX + 1) /* an id, or the email a sign-in named */
#define KG_ADDR_MAX 63
#define KG_OUTCOME_MAX 31
#define KG_DETAIL_MAX 255
struct kg_audit {
    int64_t seq;                      /* storage order */
    int64_t at;                       /* ms */
    char actor[KG_ACTOR_MAX + 1];     /* "u-…", "kgc_…", "cli", or "" (unknown) */
    char action[KG_ACTION_MAX + 1];   /* "apiToken.create", "signIn", … */
    char target[KG_TARGET_MAX + 1];   /* the record acted on, "" if none was made */
    char address[KG_ADDR_MAX + 1];    /* the source address, "local" for the CLI */
    char outcome[KG_OUTCOME_MAX + 1]; /* "OK" or the API status name of the failure */
    char detail[KG_DETAIL_MAX + 1];
};

/* Which entries an audit-log read returns: actor "" = any; times in ms, 0 = open. */
struct kg_audit_filter {
    char actor[KG_ACTOR_MAX + 1];
    int64_t since, until; /* since <= at < until */
};

/* What a token's requests did, counted per hour (usage): in this order in the store's columns
 * and the API's objects. */
enum kg_use {
    KG_USE_EXCHANGE,          /* a client-credentials exchange that issued an access token */
    KG_USE_GATE_ALLOWED,      /* a gate check allowed */
    KG_USE_API_CALL,          /* a REST API call made with the token's access token */
    KG_USE_REFUSED_PRIVILEGE, /* a gate check refused: the role lacks the route's privilege */
    KG_USE_REFUSED_RATE,      /* a gate check or API call refused: past the rate limit */
    KG_USE_REFUSED_ADDRESS,   /* an exchange, gate check or API call from outside allowedCidrs */
    KG_USE_REFUSED_EXPIRED,   /* ... with an access token, token or secret expired or revoked */
    KG_USE_KINDS
};
#define KG_USE_FIRST_REFUSED KG_USE_REFUSED_PRIVILEGE

/* One token's counts in one hour (or, summed, over a range: hour 0). */
struct kg_usage {
    char client_id[KG_CLIENT_ID_LEN + 1];
    int64_t hour; /* ms: the start of the UTC hour */
    int64_t n[KG_USE_KINDS];
};

/* One process's count of a token's requests in one rate-limit window (see store_rate_sync). */
struct kg_rate_window {
    char client_id[KG_CLIENT_ID_LEN + 1];
    int64_t start, period; /* ms */
    int64_t count;
};

/* Pending last-access time for one token, and last use of one of its secrets (written behind,
 * see store_token_touch). */
struct kg_touch {
    char client_id[KG_CLIENT_ID_LEN + 1];
    int64_t secret; /* the secret's seq; 0 = none */
    int64_t at;
};

/* Webhooks (webhook.h): the delivery state of one configured receiver, kept in the store so
 * that it survives restarts and is shared by every node of a deployment. */
#define KG_WEBHOOK_ID_LEN 19     /* "wh_" + 16 hex digits */
#define KG_WEBHOOK_URL_MAX 255   /* the URL as shown: scheme://host[:port]/path */
#define KG_WEBHOOK_ERROR_MAX 127 /* the last error, a short sentence */
#define KG_WEBHOOK_NODE_MAX 31   /* a process's lease name */

struct kg_webhook_state {
    char id[KG_WEBHOOK_ID_LEN + 1];
    char url[KG_WEBHOOK_URL_MAX + 1];
    int64_t cursor;      /* the audit seq delivered or given up last: every one before it too */
    int64_t attempts;    /* made of the event after cursor */
    int64_t next_at;     /* ms: the next attempt not before; 0 = now */
    int64_t delivered;   /* events delivered, since the webhook was first configured */
    int64_t failed;      /* events given up */
    int64_t last_at;     /* ms of the last attempt; 0 = none yet */
    int64_t last_status; /* its HTTP status; 0 = no answer */
    char last_error[KG_WEBHOOK_ERROR_MAX + 1]; /* "" after a delivery */
    int64_t lease_until;                       /* ms */
    char leased_by[KG_WEBHOOK_NODE_MAX + 1];   /* the node delivering; "" = none */
    int64_t pending;                           /* audit entries after cursor, counted up to 10001 */
};

/* An event given up after its last attempt. */
struct kg_webhook_failure {
    int64_t event_seq; /* the audit entry's seq */
    char action[KG_ACTION_MAX + 1];
    int64_t attempts;
    int64_t last_status; /* 0 = no answer */
    char error[KG_WEBHOOK_ERROR_MAX + 1];
    int64_t failed_on; /* ms */
};

/* What one attempt at an event came to (store_webhook_record). */
enum kg_webhook_outcome { KG_WEBHOOK_RETRY, KG_WEBHOOK_DELIVERED, KG_WEBHOOK_FAILED };
struct kg_webhook_attempt {
    const char *id;   /* the webhook */
    const char *node; /* the lease holder recording it */
    enum kg_webhook_outcome outcome;
    int64_t event_seq;
    const char *action; /* the event's (a failure's record) */
    int64_t attempts;   /* made so far, this one included */
    int64_t next_at;    /* RETRY: ms */
    int64_t at;         /* ms of this attempt */
    int64_t status;     /* HTTP status; 0 = none */
    const char *error;  /* "" when delivered */
};

#endif
