/*
 * store_sql_text.h — the text of the statements of enum sql_id (store_sql.h), written once.
 *
 * and of the schema's migrations.
 *
 * Each SQL backend includes this file once, after defining how its dialect writes what
 * differs.  In statements:
 *   SQL_P(n)          parameter n ("?1" in SQLite, "$1" in PostgreSQL)
 *   SQL_BYTEWISE      what follows a text column in ORDER BY to sort it byte by byte
 *   SQL_EMAIL_IS(p)   the condition "the user's email is p", ASCII letters folded only
 *   SQL_FEED(q)       a change-feed query q as the backend streams it (a cursor, or q itself)
 * In the schema:
 *   DDL_BIGINT, DDL_SMALLINT, DDL_BYTES   column types
 *   DDL_SEQ           an ever-growing primary key, never reused
 *   DDL_NO_ROWID      what follows a table keyed by its primary key alone
 *   DDL_EMAIL_UNIQUE  what follows users.email, DDL_EMAIL_INDEX what follows the table: the
 *                     two make emails unique without regard to ASCII case
 *   DDL_STAMP(n)      what ends migration n (SQLite records the version there)
 * It gets sql_text[SQL_COUNT] and sql_migrations[SQL_SCHEMA_VERSION].  Every value is a
 * parameter: no text is pasted into SQL.
 */
#if !defined SQL_P || !defined DDL_SEQ
#error "define the dialect (see above) before including store_sql_text.h"
#endif

#define P1 SQL_P(1)
#define P2 SQL_P(2)
#define P3 SQL_P(3)
#define P4 SQL_P(4)
#define P5 SQL_P(5)
#define P6 SQL_P(6)
#define P7 SQL_P(7)
#define P8 SQL_P(8)
#define P9 SQL_P(9)
#define P10 SQL_P(10)
#define P11 SQL_P(11)
#define P12 SQL_P(12)
#define P13 SQL_P(13)

/* token_usage's counts, in enum kg_use's order; their sums; the sum of the refused ones, and
 * of all (as a row's expression). */
#define USAGE_COLS                                                                                 \
    "exchanges, gate_allowed, api_calls, refused_privilege, refused_rate, refused_address,"        \
    " refused_expired"
#define USAGE_SUMS                                                                                 \
    "coalesce(sum(exchanges), 0), coalesce(sum(gate_allowed), 0), coalesce(sum(api_calls), 0),"    \
    " coalesce(sum(refused_privilege), 0), coalesce(sum(refused_rate), 0),"                        \
    " coalesce(sum(refused_address), 0), coalesce(sum(refused_expired), 0)"
#define USAGE_REFUSED "(refused_privilege + refused_rate + refused_address + refused_expired)"
#define USAGE_ALL "(exchanges + gate_allowed + api_calls + " USAGE_REFUSED ")"

/* One row per (token, secret), a token's secrets in seq order (a token always has one: the
 * store never removes its last); `cond` picks the tokens (and may order and limit them).
 * store_sql.c's token_cols[] reads these columns, in this order. */
#define TOKEN_SELECT(cond)                                                                         \
    "SELECT t.seq, t.client_id, t.description, t.role_id, coalesce(r.role_name, ''), t.status,"    \
    " t.created_on, t.last_access_on, t.revoked_on, t.expires_on, t.created_by, " TOKEN_LIMITS     \
    ", " SECRET_COLS " FROM (SELECT * FROM tokens " cond                                           \
    ") t LEFT JOIN roles r ON r.role_id = t.role_id"                                               \
    " JOIN token_secrets s ON s.client_id = t.client_id"
#define TOKEN_LIMITS "t.rate_requests, t.rate_period, t.allowed_cidrs"
#define SECRET_COLS                                                                                \
    "s.seq, s.secret_hash, s.prefix, s.description, s.status, s.created_on, s.last_used_on,"       \
    " s.expires_on, s.revoked_on"
/* The same for a page of tokens: of each secret only what the list shows (whether it is live,
 * and until when), which the index token_secrets_client holds: no table read per secret.
 * token_list_cols[]. */
#define TOKEN_LIST_SELECT(cond)                                                                    \
    "SELECT t.seq, t.client_id, t.description, t.role_id, coalesce(r.role_name, ''), t.status,"    \
    " t.created_on, t.last_access_on, t.revoked_on, t.expires_on, t.created_by, " TOKEN_LIMITS     \
    ", s.seq, s.status, s.expires_on"                                                              \
    " FROM (SELECT * FROM tokens " cond ") t LEFT JOIN roles r ON r.role_id = t.role_id"           \
    " JOIN token_secrets s ON s.client_id = t.client_id"
/* A secret of the token being read (tokens.client_id) live at time p. */
#define LIVE_SECRET(p)                                                                             \
    "SELECT 1 FROM token_secrets x WHERE x.client_id = tokens.client_id AND x.status = 0"          \
    " AND (x.expires_on IS NULL OR x.expires_on > " p ")"
/* What the view needs of a token: who it is, its secrets and what it may do, one row per secret
 * as TOKEN_SELECT's (token_state_cols[]). */
#define TOKEN_STATE_SELECT                                                                         \
    "SELECT t.seq, t.client_id, t.role_id, t.status, t.last_access_on, t.revoked_on,"              \
    " t.expires_on, " TOKEN_LIMITS ", s.seq, s.secret_hash, s.status, s.last_used_on,"             \
    " s.expires_on"                                                                                \
    " FROM tokens t JOIN token_secrets s ON s.client_id = t.client_id"
/* One row per (role, granted role), or one row with a NULL grant; grants in the granted role's
 * seq order.  `cond` picks the roles (and may order and limit them).  role_cols[]. */
#define ROLE_SELECT(cond)                                                                          \
    "SELECT r.seq, r.role_id, r.role_name, r.description, r.created_on, r.modified_on,"            \
    " r.owning_role_id, r.sync, g.granted_role_id"                                                 \
    " FROM (SELECT * FROM roles " cond ") r"                                                       \
    " LEFT JOIN (role_grants g JOIN roles gr ON gr.role_id = g.granted_role_id)"                   \
    " ON g.role_id = r.role_id ORDER BY r.seq, gr.seq"
/* The same for users and the roles they hold.  user_cols[]. */
#define USER_SELECT(cond)                                                                          \
    "SELECT u.seq, u.user_id, u.email, u.password_hash, u.created_on, u.modified_on, u.sync,"      \
    " ur.role_id"                                                                                  \
    " FROM (SELECT * FROM users " cond ") u"                                                       \
    " LEFT JOIN (user_roles ur JOIN roles r ON r.role_id = ur.role_id)"                            \
    " ON ur.user_id = u.user_id ORDER BY u.seq, r.seq"

static const char *const sql_text[SQL_COUNT] = {
    [SQL_VERSION] = "SELECT data_ver, roles_ver FROM meta WHERE id = 1",
    /* Where the first load splits its two streams between two readers: their largest seqs. */
    [SQL_LOAD_SPAN] = "SELECT (SELECT coalesce(max(seq), 0) FROM tokens),"
                      " (SELECT coalesce(max(seq), 0) FROM token_secrets)",
    /* In an UPDATE the right-hand sides see the old row, so roles_ver gets the new data_ver. */
    [SQL_BUMP] = "UPDATE meta SET data_ver = data_ver + 1 WHERE id = 1 RETURNING data_ver",
    [SQL_BUMP_ROLES] = "UPDATE meta SET data_ver = data_ver + 1, roles_ver = data_ver + 1"
                       " WHERE id = 1 RETURNING data_ver",
    [SQL_ROLE_EXISTS] = "SELECT 1 FROM roles WHERE role_id = " P1,
    [SQL_ACCOUNT_GET] = "SELECT account_id FROM meta WHERE id = 1",
    /* Only ever set once: the WHERE keeps an account ID already made. */
    [SQL_ACCOUNT_SET] = "UPDATE meta SET account_id = " P1 " WHERE id = 1 AND account_id = ''",
    [SQL_VIEW_MARK_GET] = "SELECT view_mark, data_ver FROM meta WHERE id = 1",
    /* No version bump: the data is as it was. */
    [SQL_VIEW_MARK_SET] = "UPDATE meta SET view_mark = " P1 " WHERE id = 1",

    [SQL_TOKEN_INSERT] =
        "INSERT INTO tokens (client_id, description, role_id, status, created_on,"
        " last_access_on, revoked_on, expires_on, created_by, ver, rate_requests, rate_period,"
        " allowed_cidrs) VALUES (" P1 ", " P2 ", " P3 ", " P4 ", " P5 ", " P6 ", " P7 ", " P8
        ", " P9 ", " P10 ", " P11 ", " P12 ", " P13 ")",
    [SQL_TOKEN_GET] = TOKEN_SELECT("WHERE client_id = " P1) " ORDER BY s.seq",
    /* The page's seqs are picked first, then their rows read by seq and each token's secrets
     * by the index, already in order: the page's rows need no sort. */
    [SQL_TOKEN_LIST] =
        TOKEN_LIST_SELECT("WHERE seq IN (SELECT seq FROM tokens WHERE seq < " P1
                          " ORDER BY seq DESC LIMIT " P2 ")") " ORDER BY t.seq DESC, s.seq",
    /* Active tokens that work at P3 and stop by P4: the token expires, or no secret stays live.
     * (Inside TOKEN_SELECT's subquery of tokens.) */
    [SQL_TOKEN_LIST_EXPIRING] = TOKEN_LIST_SELECT(
        "WHERE seq < " P1 " AND status = 0 AND (expires_on IS NULL OR expires_on > " P3
        ") AND EXISTS (" LIVE_SECRET(P3) ") AND (expires_on <= " P4 " OR NOT EXISTS (" LIVE_SECRET(
            P4) ")) ORDER BY seq DESC LIMIT " P2) " ORDER BY t.seq DESC, s.seq",
    [SQL_TOKEN_STATUS] = "SELECT status FROM tokens WHERE client_id = " P1,
    [SQL_TOKEN_REVOKE] = "UPDATE tokens SET status = 1, revoked_on = " P2 ", ver = " P3
                         " WHERE client_id = " P1 " AND status = 0",
    /* PATCH: what may change of an Active token. */
    [SQL_TOKEN_UPDATE] =
        "UPDATE tokens SET description = " P2 ", rate_requests = " P3 ", rate_period = " P4
        ", allowed_cidrs = " P5 ", ver = " P6 " WHERE client_id = " P1 " AND status = 0",
    /* A change of a token's secrets is a change of the token, for the change feed. */
    [SQL_TOKEN_STAMP] = "UPDATE tokens SET ver = " P2 " WHERE client_id = " P1,
    /* Only ever raised: the WHERE skips an older time. */
    [SQL_TOKEN_TOUCH] = "UPDATE tokens SET last_access_on = " P2 " WHERE client_id = " P1
                        " AND coalesce(last_access_on, 0) < " P2,
    [SQL_TOKEN_CHANGES] =
        SQL_FEED(TOKEN_STATE_SELECT " WHERE t.ver > " P1 " ORDER BY t.ver, t.seq, s.seq"),
    /* In storage order. */
    [SQL_TOKEN_ALL] = SQL_FEED(TOKEN_STATE_SELECT " ORDER BY t.seq, s.seq"),
    /* The first load's two streams, each a table's rows of seq in (P1, P2] in storage order
     * (SQLite: a range of its rowids, no sort and no index); token_load_cols[] and
     * secret_load_cols[]. */
    [SQL_TOKEN_LOAD] = SQL_FEED("SELECT client_id, role_id, status, last_access_on, expires_on,"
                                " rate_requests, rate_period, allowed_cidrs FROM tokens"
                                " WHERE seq > " P1 " AND seq <= " P2 " ORDER BY seq"),
    [SQL_SECRET_LOAD] = SQL_FEED("SELECT client_id, seq, secret_hash, status, last_used_on,"
                                 " expires_on FROM token_secrets"
                                 " WHERE seq > " P1 " AND seq <= " P2 " ORDER BY seq"),

    [SQL_SECRET_INSERT] =
        "INSERT INTO token_secrets (client_id, secret_hash, prefix, description, status,"
        " created_on, last_used_on, expires_on, revoked_on)"
        " VALUES (" P1 ", " P2 ", " P3 ", " P4 ", " P5 ", " P6 ", " P7 ", " P8 ", " P9 ")",
    /* A token's secrets: how many there are, and how many are live at P2. */
    [SQL_SECRET_COUNT] = "SELECT count(*), coalesce(sum(CASE WHEN status = 0 AND"
                         " (expires_on IS NULL OR expires_on > " P2 ") THEN 1 ELSE 0 END), 0)"
                         " FROM token_secrets WHERE client_id = " P1,
    /* The P3 oldest of a token's secrets that are not live at P2. */
    [SQL_SECRET_PRUNE] = "DELETE FROM token_secrets WHERE seq IN (SELECT seq FROM token_secrets"
                         " WHERE client_id = " P1 " AND (status = 1 OR expires_on <= " P2 ")"
                         " ORDER BY seq LIMIT " P3 ")",
    /* A rotation: every live secret expires at P2 at the latest. */
    [SQL_SECRET_EXPIRE_ALL] = "UPDATE token_secrets SET expires_on = " P2 " WHERE client_id = " P1
                              " AND status = 0 AND (expires_on IS NULL OR expires_on > " P2 ")",
    /* Is secret P2 of token P1 live at P3? (no row: no such secret) */
    [SQL_SECRET_LIVE] = "SELECT CASE WHEN status = 0 AND (expires_on IS NULL OR expires_on > " P3
                        ") THEN 1 ELSE 0 END FROM token_secrets"
                        " WHERE client_id = " P1 " AND seq = " P2,
    [SQL_SECRET_DELETE] = "DELETE FROM token_secrets WHERE client_id = " P1 " AND seq = " P2,
    [SQL_SECRET_FIND] = "SELECT client_id, seq, status FROM token_secrets WHERE secret_hash = " P1,
    [SQL_SECRET_REVOKE] = "UPDATE token_secrets SET status = 1, revoked_on = " P3
                          " WHERE client_id = " P1 " AND seq = " P2 " AND status = 0",
    /* Only ever raised, as SQL_TOKEN_TOUCH. */
    [SQL_SECRET_TOUCH] = "UPDATE token_secrets SET last_used_on = " P2 " WHERE seq = " P1
                         " AND coalesce(last_used_on, 0) < " P2,

    /* Counts are added: each process adds what it counted since its last flush. */
    [SQL_USAGE_ADD] =
        "INSERT INTO token_usage (client_id, hour, " USAGE_COLS ") VALUES (" P1 ", " P2 ", " P3
        ", " P4 ", " P5 ", " P6 ", " P7 ", " P8 ", " P9 ") ON CONFLICT (client_id, hour) DO UPDATE"
        " SET exchanges = token_usage.exchanges + excluded.exchanges,"
        " gate_allowed = token_usage.gate_allowed + excluded.gate_allowed,"
        " api_calls = token_usage.api_calls + excluded.api_calls,"
        " refused_privilege = token_usage.refused_privilege + excluded.refused_privilege,"
        " refused_rate = token_usage.refused_rate + excluded.refused_rate,"
        " refused_address = token_usage.refused_address + excluded.refused_address,"
        " refused_expired = token_usage.refused_expired + excluded.refused_expired",
    [SQL_USAGE_READ] =
        "SELECT client_id, hour, " USAGE_COLS " FROM token_usage WHERE client_id = " P1
        " AND hour >= " P2 " AND hour < " P3 " ORDER BY hour",
    /* The P4 tokens with the most requests (P3 = 0) or refusals (P3 = 1) in [P1, P2). */
    [SQL_USAGE_TOP] = "SELECT client_id, 0, " USAGE_SUMS " FROM token_usage WHERE hour >= " P1
                      " AND hour < " P2 " GROUP BY client_id HAVING sum(CASE WHEN " P3 " = 1 THEN"
                      " " USAGE_REFUSED " ELSE " USAGE_ALL " END) > 0 ORDER BY sum(CASE WHEN " P3
                      " = 1 THEN " USAGE_REFUSED " ELSE " USAGE_ALL " END) DESC, client_id"
                      " LIMIT " P4,
    [SQL_USAGE_TOTAL] =
        "SELECT '', 0, " USAGE_SUMS " FROM token_usage WHERE hour >= " P1 " AND hour < " P2,
    [SQL_USAGE_PRUNE] = "DELETE FROM token_usage WHERE hour < " P1,
    /* A node's own count of a token's requests in a rate-limit window (written whole: the
     * latest count replaces the one before). */
    [SQL_RATE_PUT] = "INSERT INTO rate_windows (client_id, window_start, period, node, count)"
                     " VALUES (" P1 ", " P2 ", " P3 ", " P4 ", " P5 ") ON CONFLICT"
                     " (client_id, window_start, node) DO UPDATE SET count = excluded.count",
    /* The other nodes' counts of windows still in use at P2 (a window is read for two periods:
     * it is the current one, then the previous). */
    [SQL_RATE_OTHERS] = "SELECT client_id, window_start, period, sum(count) FROM rate_windows"
                        " WHERE node <> " P1 " AND window_start + 2 * period > " P2
                        " GROUP BY client_id, window_start, period",
    [SQL_RATE_PRUNE] = "DELETE FROM rate_windows WHERE window_start + 2 * period <= " P1,

    [SQL_JTI_REVOKE] = "INSERT INTO revoked_jti (jti, client_id, exp, ver)"
                       " VALUES (" P1 ", " P2 ", " P3 ", " P4 ") ON CONFLICT (jti) DO NOTHING",
    [SQL_JTI_CHANGES] = SQL_FEED("SELECT jti, client_id, exp, ver FROM revoked_jti"
                                 " WHERE ver > " P1 " AND exp > " P2 " ORDER BY ver"),
    [SQL_JTI_PURGE] = "DELETE FROM revoked_jti WHERE exp <= " P1,

    [SQL_ROLE_INSERT] = "INSERT INTO roles (role_id, role_name, description, created_on,"
                        " modified_on, owning_role_id, sync)"
                        " VALUES (" P1 ", " P2 ", " P3 ", " P4 ", " P5 ", " P6 ", " P7 ")",
    /* The built-in roles, inserted by schema version 1 (before owning_role_id and sync). */
    [SQL_ROLE_SEED] = "INSERT INTO roles (role_id, role_name, description, created_on,"
                      " modified_on) VALUES (" P1 ", " P2 ", " P3 ", " P4 ", " P5 ")",
    [SQL_ROLE_GET] = ROLE_SELECT("WHERE role_id = " P1),
    [SQL_ROLE_GET_BY_NAME] = ROLE_SELECT("WHERE role_name = " P1),
    [SQL_ROLE_LIST] = ROLE_SELECT("WHERE seq > " P1 " ORDER BY seq LIMIT " P2),
    /* Compare-and-set: only the version read (P6) is changed. */
    [SQL_ROLE_UPDATE] =
        "UPDATE roles SET role_name = " P2 ", description = " P3 ", modified_on = " P4
        ", sync = " P5 " WHERE role_id = " P1 " AND sync = " P6,
    /* A role being deleted leaves the roles it was granted to (P1: its id). */
    [SQL_ROLE_DEL_TOUCH] = "UPDATE roles SET sync = " P2 ", modified_on = " P3
                           " WHERE role_id IN (SELECT role_id FROM role_grants"
                           " WHERE granted_role_id = " P1 ")",
    /* and the roles it owned pass to P4 (accountadmin). */
    [SQL_ROLE_DEL_OWNED] = "UPDATE roles SET owning_role_id = " P4 ", sync = " P2
                           ", modified_on = " P3 " WHERE owning_role_id = " P1,
    [SQL_GRANTS_CLEAR] = "DELETE FROM role_grants WHERE role_id = " P1,
    /* DO NOTHING drops a duplicate in the list; it does not cover foreign keys. */
    [SQL_GRANT_INSERT] = "INSERT INTO role_grants (role_id, granted_role_id)"
                         " VALUES (" P1 ", " P2 ") ON CONFLICT DO NOTHING",
    /* Is P1 reachable from itself through role_grants?  UNION stops at rows already seen. */
    [SQL_ROLE_CYCLE] =
        "WITH RECURSIVE reach(id) AS ("
        " SELECT granted_role_id FROM role_grants WHERE role_id = " P1 " UNION"
        " SELECT g.granted_role_id FROM role_grants g JOIN reach ON g.role_id = reach.id)"
        " SELECT 1 FROM reach WHERE id = " P1 " LIMIT 1",
    [SQL_ROLE_TOKEN_HOLDS] = "SELECT 1 FROM tokens WHERE role_id = " P1 " AND status = 0 LIMIT 1",
    [SQL_ROLE_USER_HOLDS] = "SELECT 1 FROM user_roles WHERE role_id = " P1 " LIMIT 1",
    [SQL_ROLE_DEL_PRIVS] = "DELETE FROM privileges WHERE role_id = " P1,
    [SQL_ROLE_DEL_GRANTS] =
        "DELETE FROM role_grants WHERE role_id = " P1 " OR granted_role_id = " P1,
    [SQL_ROLE_DELETE] = "DELETE FROM roles WHERE role_id = " P1,

    /* A grant adds to what the role holds: the same kind again keeps a grant option it had
     * (only a revoke drops one, SQL_PRIV_REVOKE_OPTION); a change of kind takes the new grant
     * whole.  The WHERE makes a grant that adds nothing a no-op (no row changed). */
    [SQL_PRIV_GRANT] = "INSERT INTO privileges (role_id, name, kind, grant_option, granted_on)"
                       " VALUES (" P1 ", " P2 ", " P3 ", " P4 ", " P5 ")"
                       " ON CONFLICT (role_id, name) DO UPDATE SET kind = excluded.kind,"
                       " grant_option = CASE WHEN privileges.kind = excluded.kind"
                       " AND privileges.grant_option = 1 THEN 1 ELSE excluded.grant_option END,"
                       " granted_on = excluded.granted_on"
                       " WHERE privileges.kind <> excluded.kind"
                       " OR (excluded.grant_option = 1 AND privileges.grant_option = 0)",
    /* P2: the kind, or -1 (KG_KIND_ANY) for either. */
    [SQL_PRIV_REVOKE] = "DELETE FROM privileges WHERE role_id = " P1 " AND (kind = " P2 " OR " P2
                        " < 0) AND name = " P3,
    [SQL_PRIV_REVOKE_OPTION] =
        "UPDATE privileges SET grant_option = 0 WHERE role_id = " P1 " AND (kind = " P2 " OR " P2
        " < 0) AND name = " P3 " AND grant_option = 1",
    [SQL_PRIV_LIST_ALL] = "SELECT p.role_id, p.kind, p.grant_option, p.name FROM privileges p"
                          " JOIN roles r ON r.role_id = p.role_id"
                          " ORDER BY r.seq, p.name" SQL_BYTEWISE,
    [SQL_PRIV_LIST_ROLE] = "SELECT role_id, kind, grant_option, name FROM privileges"
                           " WHERE role_id = " P1 " ORDER BY name" SQL_BYTEWISE,

    [SQL_USER_INSERT] =
        "INSERT INTO users (user_id, email, password_hash, created_on,"
        " modified_on, sync) VALUES (" P1 ", " P2 ", " P3 ", " P4 ", " P5 ", " P6 ")",
    [SQL_USER_EXISTS] = "SELECT 1 FROM users WHERE user_id = " P1,
    [SQL_USER_GET] = USER_SELECT("WHERE user_id = " P1),
    [SQL_USER_GET_BY_EMAIL] = USER_SELECT("WHERE " SQL_EMAIL_IS(P1)),
    [SQL_USER_LIST] = USER_SELECT("WHERE seq > " P1 " ORDER BY seq LIMIT " P2),
    /* Compare-and-set, as SQL_ROLE_UPDATE. */
    [SQL_USER_UPDATE] = "UPDATE users SET email = " P2 ", password_hash = " P3 ", modified_on = " P4
                        ", sync = " P5 " WHERE user_id = " P1 " AND sync = " P6,
    [SQL_USER_ROLES_CLEAR] = "DELETE FROM user_roles WHERE user_id = " P1,
    [SQL_USER_ROLE_INSERT] = "INSERT INTO user_roles (user_id, role_id)"
                             " VALUES (" P1 ", " P2 ") ON CONFLICT DO NOTHING",
    [SQL_USER_DELETE] = "DELETE FROM users WHERE user_id = " P1,
    [SQL_USER_COUNT] = "SELECT count(*) FROM users",

    [SQL_AUDIT_INSERT] = "INSERT INTO audit_log (at, actor, action, target, address, outcome,"
                         " detail) VALUES (" P1 ", " P2 ", " P3 ", " P4 ", " P5 ", " P6 ", " P7 ")",
    /* P2 = '': any actor. */
    [SQL_AUDIT_LIST] = "SELECT seq, at, actor, action, target, address, outcome, detail"
                       " FROM audit_log WHERE seq < " P1 " AND (" P2 " = '' OR actor = " P2 ")"
                       " AND at >= " P3 " AND at < " P4 " ORDER BY seq DESC LIMIT " P5,
    [SQL_AUDIT_AFTER] = "SELECT seq, at, actor, action, target, address, outcome, detail"
                        " FROM audit_log WHERE seq > " P1 " ORDER BY seq LIMIT " P2,

    /* A new webhook starts at the end of the log.  (SQLite needs the WHERE to read an upsert
     * after a SELECT.) */
    [SQL_WEBHOOK_ADD] = "INSERT INTO webhook_state (webhook_id, url, cursor_seq)"
                        " SELECT " P1 ", " P2 ", coalesce(max(seq), 0) FROM audit_log WHERE 1 = 1"
                        " ON CONFLICT (webhook_id) DO NOTHING",
    /* P3: now; the lease is taken when free (expired) or renewed by its holder. */
    [SQL_WEBHOOK_LEASE] =
        "UPDATE webhook_state SET leased_by = " P2 ", lease_until = " P4 " WHERE webhook_id = " P1
        " AND (leased_by = " P2 " OR lease_until <= " P3 ")",
    [SQL_WEBHOOK_GET] = "SELECT w.webhook_id, w.url, w.cursor_seq, w.attempts, w.next_at,"
                        " w.delivered, w.failed, w.last_at, w.last_status, w.last_error,"
                        " w.lease_until, w.leased_by,"
                        /* counted up to 10001: a backlog's every poll stays cheap */
                        " (SELECT count(*) FROM (SELECT 1 FROM audit_log a"
                        " WHERE a.seq > w.cursor_seq LIMIT 10001) x)"
                        " FROM webhook_state w WHERE w.webhook_id = " P1,
    /* Only the lease holder records, and only an event still after the cursor (P3). */
    [SQL_WEBHOOK_RETRY] = "UPDATE webhook_state SET attempts = " P4 ", next_at = " P5
                          ", last_at = " P6 ", last_status = " P7 ", last_error = " P8
                          " WHERE webhook_id = " P1 " AND leased_by = " P2 " AND cursor_seq < " P3,
    [SQL_WEBHOOK_DONE] = "UPDATE webhook_state SET cursor_seq = " P3 ", attempts = 0, next_at = 0,"
                         " delivered = delivered + " P4 ", failed = failed + " P5 ", last_at = " P6
                         ", last_status = " P7 ", last_error = " P8 " WHERE webhook_id = " P1
                         " AND leased_by = " P2 " AND cursor_seq < " P3,
    [SQL_WEBHOOK_FAIL_INSERT] =
        "INSERT INTO webhook_failures (webhook_id, event_seq, action, attempts, last_status,"
        " error, failed_on) VALUES (" P1 ", " P2 ", " P3 ", " P4 ", " P5 ", " P6 ", " P7 ")",
    /* Keeps the newest P2 of the webhook's. */
    [SQL_WEBHOOK_FAIL_PRUNE] = "DELETE FROM webhook_failures WHERE webhook_id = " P1
                               " AND seq NOT IN (SELECT seq FROM webhook_failures"
                               " WHERE webhook_id = " P1 " ORDER BY seq DESC LIMIT " P2 ")",
    [SQL_WEBHOOK_FAILURES] =
        "SELECT event_seq, action, attempts, last_status, error, failed_on"
        " FROM webhook_failures WHERE webhook_id = " P1 " ORDER BY seq DESC LIMIT " P2,
    [SQL_WEBHOOK_RELEASE] = "UPDATE webhook_state SET leased_by = '', lease_until = 0"
                            " WHERE webhook_id = " P1 " AND leased_by = " P2,
};

/* ---- the schema -------------------------------------------------------------------------- */

/*
 * Version 1.  Times are ms (DDL_BIGINT), NULL where the model says 0.  Every table with a list
 * call orders by a DDL_SEQ seq, so a seq is never reused.  tokens.role_id is not a foreign
 * key: a revoked token keeps the id of a role deleted after it.
 */
static const char sql_schema_v1[] =
    "CREATE TABLE meta ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " data_ver " DDL_BIGINT " NOT NULL,"
    " roles_ver " DDL_BIGINT " NOT NULL);"
    /* The built-in roles seeded by store_sql_seed() are write number 1. */
    "INSERT INTO meta (id, data_ver, roles_ver) VALUES (1, 1, 1);"

    "CREATE TABLE roles ("
    " seq " DDL_SEQ ","
    " role_id TEXT NOT NULL UNIQUE,"
    " role_name TEXT NOT NULL UNIQUE,"
    " description TEXT NOT NULL DEFAULT '',"
    " created_on " DDL_BIGINT " NOT NULL,"
    " modified_on " DDL_BIGINT " NOT NULL);"

    "CREATE TABLE role_grants ("
    " role_id TEXT NOT NULL REFERENCES roles (role_id),"
    " granted_role_id TEXT NOT NULL REFERENCES roles (role_id),"
    " PRIMARY KEY (role_id, granted_role_id))" DDL_NO_ROWID ";"
    "CREATE INDEX role_grants_granted ON role_grants (granted_role_id);"

    "CREATE TABLE privileges ("
    " role_id TEXT NOT NULL REFERENCES roles (role_id),"
    " name TEXT NOT NULL,"
    " kind " DDL_SMALLINT " NOT NULL CHECK (kind IN (0, 1)),"
    " granted_on " DDL_BIGINT " NOT NULL,"
    " PRIMARY KEY (role_id, name))" DDL_NO_ROWID ";"

    "CREATE TABLE tokens ("
    " seq " DDL_SEQ ","
    " client_id TEXT NOT NULL UNIQUE,"
    " secret_hash " DDL_BYTES " NOT NULL CHECK (length(secret_hash) = 32),"
    " description TEXT NOT NULL DEFAULT '',"
    " role_id TEXT NOT NULL,"
    " status " DDL_SMALLINT " NOT NULL CHECK (status IN (0, 1)),"
    " created_on " DDL_BIGINT " NOT NULL,"
    " last_access_on " DDL_BIGINT ","
    " revoked_on " DDL_BIGINT ","
    " expires_on " DDL_BIGINT ","
    " created_by TEXT NOT NULL DEFAULT '',"
    " ver " DDL_BIGINT " NOT NULL);"
    "CREATE INDEX tokens_ver ON tokens (ver);"
    "CREATE INDEX tokens_role ON tokens (role_id, status);"

    "CREATE TABLE users ("
    " seq " DDL_SEQ ","
    " user_id TEXT NOT NULL UNIQUE,"
    " email TEXT NOT NULL" DDL_EMAIL_UNIQUE ","
    " password_hash TEXT NOT NULL,"
    " created_on " DDL_BIGINT " NOT NULL);" DDL_EMAIL_INDEX

    "CREATE TABLE user_roles ("
    " user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,"
    " role_id TEXT NOT NULL REFERENCES roles (role_id),"
    " PRIMARY KEY (user_id, role_id))" DDL_NO_ROWID ";"
    "CREATE INDEX user_roles_role ON user_roles (role_id);" DDL_STAMP(1);

/* Version 2: access tokens revoked one by one (RFC 7009), kept until they expire anyway. */
static const char sql_schema_v2[] =
    "CREATE TABLE revoked_jti ("
    " jti TEXT PRIMARY KEY,"
    " client_id TEXT NOT NULL,"
    " exp " DDL_BIGINT " NOT NULL," /* seconds since the epoch, as the JWT says */
    " ver " DDL_BIGINT " NOT NULL);"
    "CREATE INDEX revoked_jti_ver ON revoked_jti (ver);"
    "CREATE INDEX revoked_jti_exp ON revoked_jti (exp);" DDL_STAMP(2);

/* Version 3: the audit log, append-only. */
static const char sql_schema_v3[] = "CREATE TABLE audit_log ("
                                    " seq " DDL_SEQ ","
                                    " at " DDL_BIGINT " NOT NULL," /* ms */
                                    " actor TEXT NOT NULL,"
                                    " action TEXT NOT NULL,"
                                    " target TEXT NOT NULL,"
                                    " address TEXT NOT NULL,"
                                    " outcome TEXT NOT NULL,"
                                    " detail TEXT NOT NULL);"
                                    "CREATE INDEX audit_log_actor ON audit_log (actor, seq);"
                                    "CREATE INDEX audit_log_at ON audit_log (at);" DDL_STAMP(3);

/* Version 4: optimistic concurrency and ownership.  sync is a row's version, set by every
 * write of the row to that write's data_ver (so it changes with every change and is never
 * reused), and compared by updates (compare-and-set); a role's owning_role_id is the role
 * that made it.  Existing rows: owned by accountadmin, at the current data_ver. */
static const char sql_schema_v4[] =
    "ALTER TABLE roles ADD COLUMN owning_role_id TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE roles ADD COLUMN sync " DDL_BIGINT " NOT NULL DEFAULT 0;"
    "UPDATE roles SET owning_role_id = coalesce((SELECT a.role_id FROM roles a"
    " WHERE a.role_name = 'accountadmin'), ''),"
    " sync = (SELECT data_ver FROM meta WHERE id = 1);"
    "ALTER TABLE users ADD COLUMN modified_on " DDL_BIGINT " NOT NULL DEFAULT 0;"
    "ALTER TABLE users ADD COLUMN sync " DDL_BIGINT " NOT NULL DEFAULT 0;"
    "UPDATE users SET modified_on = created_on, sync = (SELECT data_ver FROM meta WHERE id = "
    "1);" DDL_STAMP(4);

/* Version 5: Galaxy's grant option on privileges, and the deployment's account ID (made once
 * by store_sql_account() when the migration runs; meta holds it so that every node sharing a
 * PostgreSQL database answers the same one). */
static const char sql_schema_v5[] =
    "ALTER TABLE privileges ADD COLUMN grant_option " DDL_SMALLINT
    " NOT NULL DEFAULT 0 CHECK (grant_option IN (0, 1));"
    "ALTER TABLE meta ADD COLUMN account_id TEXT NOT NULL DEFAULT '';" DDL_STAMP(5);

/* Version 6: several secrets a token (issue 18).  Each token's one secret moves to
 * token_secrets, with no prefix to show (only its hash was kept) and no expiry of its own. */
static const char sql_schema_v6[] =
    "CREATE TABLE token_secrets ("
    " seq " DDL_SEQ ","
    " client_id TEXT NOT NULL REFERENCES tokens (client_id),"
    " secret_hash " DDL_BYTES " NOT NULL CHECK (length(secret_hash) = 32),"
    " prefix TEXT NOT NULL,"
    " description TEXT NOT NULL DEFAULT '',"
    " status " DDL_SMALLINT " NOT NULL CHECK (status IN (0, 1)),"
    " created_on " DDL_BIGINT " NOT NULL,"
    " last_used_on " DDL_BIGINT ","
    " expires_on " DDL_BIGINT ","
    " revoked_on " DDL_BIGINT ");"
    /* a token's secrets; it also holds what a list shows of them (TOKEN_LIST_SELECT) */
    "CREATE INDEX token_secrets_client ON token_secrets (client_id, seq, status, expires_on);"
    "CREATE INDEX token_secrets_hash ON token_secrets (secret_hash);" /* a leaked secret's */
    "INSERT INTO token_secrets (client_id, secret_hash, prefix, status, created_on,"
    " last_used_on) SELECT client_id, secret_hash, 'kgs_', 0, created_on, last_access_on"
    " FROM tokens ORDER BY seq;"
    "ALTER TABLE tokens DROP COLUMN secret_hash;" DDL_STAMP(6);

/* Version 7: usage controls (issue 19).  A token's own rate limit (NULL: none of its own) and
 * allowed client ranges ('' = any); its counts per hour, added to by every process; and each
 * process's count of a token's requests in a rate-limit window, which the others read to share
 * one limit. */
static const char sql_schema_v7[] =
    "ALTER TABLE tokens ADD COLUMN rate_requests " DDL_BIGINT ";"
    "ALTER TABLE tokens ADD COLUMN rate_period " DDL_BIGINT ";" /* seconds */
    "ALTER TABLE tokens ADD COLUMN allowed_cidrs TEXT NOT NULL DEFAULT '';"
    "CREATE TABLE token_usage ("
    " client_id TEXT NOT NULL,"
    " hour " DDL_BIGINT " NOT NULL," /* ms: the start of the UTC hour */
    " exchanges " DDL_BIGINT " NOT NULL DEFAULT 0,"
    " gate_allowed " DDL_BIGINT " NOT NULL DEFAULT 0,"
    " api_calls " DDL_BIGINT " NOT NULL DEFAULT 0,"
    " refused_privilege " DDL_BIGINT " NOT NULL DEFAULT 0,"
    " refused_rate " DDL_BIGINT " NOT NULL DEFAULT 0,"
    " refused_address " DDL_BIGINT " NOT NULL DEFAULT 0,"
    " refused_expired " DDL_BIGINT " NOT NULL DEFAULT 0,"
    " PRIMARY KEY (client_id, hour))" DDL_NO_ROWID ";"
    "CREATE INDEX token_usage_hour ON token_usage (hour);"
    "CREATE TABLE rate_windows ("
    " client_id TEXT NOT NULL,"
    " window_start " DDL_BIGINT " NOT NULL," /* ms */
    " period " DDL_BIGINT " NOT NULL,"       /* ms */
    " node TEXT NOT NULL,"                   /* the process's id, made at its start */
    " count " DDL_BIGINT " NOT NULL,"
    " PRIMARY KEY (client_id, window_start, node))" DDL_NO_ROWID ";" DDL_STAMP(7);

/* Version 8: webhooks (issue 19).  The audit log is their queue: each configured webhook's row
 * holds its cursor in the log, its retry state, its counts and the lease of the one node that
 * delivers it; webhook_failures the events given up. */
static const char sql_schema_v8[] =
    "CREATE TABLE webhook_state ("
    " webhook_id TEXT PRIMARY KEY,"
    " url TEXT NOT NULL,"
    " cursor_seq " DDL_BIGINT " NOT NULL,"
    " attempts " DDL_BIGINT " NOT NULL DEFAULT 0,"
    " next_at " DDL_BIGINT " NOT NULL DEFAULT 0,"
    " delivered " DDL_BIGINT " NOT NULL DEFAULT 0,"
    " failed " DDL_BIGINT " NOT NULL DEFAULT 0,"
    " last_at " DDL_BIGINT " NOT NULL DEFAULT 0,"
    " last_status " DDL_BIGINT " NOT NULL DEFAULT 0,"
    " last_error TEXT NOT NULL DEFAULT '',"
    " lease_until " DDL_BIGINT " NOT NULL DEFAULT 0,"
    " leased_by TEXT NOT NULL DEFAULT '')" DDL_NO_ROWID ";"
    "CREATE TABLE webhook_failures ("
    " seq " DDL_SEQ ","
    " webhook_id TEXT NOT NULL,"
    " event_seq " DDL_BIGINT " NOT NULL,"
    " action TEXT NOT NULL,"
    " attempts " DDL_BIGINT " NOT NULL,"
    " last_status " DDL_BIGINT " NOT NULL,"
    " error TEXT NOT NULL,"
    " failed_on " DDL_BIGINT " NOT NULL);"
    "CREATE INDEX webhook_failures_hook ON webhook_failures (webhook_id, seq);" DDL_STAMP(8);

/* Version 9: the mark of the view a server saved at its last clean stop (store_view_mark). */
static const char sql_schema_v9[] =
    "ALTER TABLE meta ADD COLUMN view_mark TEXT NOT NULL DEFAULT '';" DDL_STAMP(9);

/* sql_migrations[v] takes the schema from version v to v + 1.  Schema changes: append a
 * migration and raise SQL_SCHEMA_VERSION; never edit an applied one. */
static const struct sql_migration {
    const char *sql;
    kg_err (*after)(struct store *st); /* data to add once the SQL ran, or NULL */
} sql_migrations[SQL_SCHEMA_VERSION] = {
    {sql_schema_v1, store_sql_seed},
    {sql_schema_v2, NULL},
    {sql_schema_v3, NULL},
    {sql_schema_v4, NULL},
    {sql_schema_v5, store_sql_account},
    {sql_schema_v6, NULL},
    {sql_schema_v7, NULL},
    {sql_schema_v8, NULL},
    {sql_schema_v9, NULL},
};

#undef TOKEN_SELECT
#undef TOKEN_STATE_SELECT
#undef SECRET_COLS
#undef TOKEN_LIMITS
#undef USAGE_REFUSED
#undef USAGE_ALL
#undef USAGE_COLS
#undef USAGE_SUMS
#undef TOKEN_LIST_SELECT
#undef LIVE_SECRET
#undef ROLE_SELECT
#undef USER_SELECT
#undef P1
#undef P2
#undef P3
#undef P4
#undef P5
#undef P6
#undef P7
#undef P8
#undef P9
#undef P10
#undef P11
#undef P12
#undef P13
