/*
 * session.h — signed-in people of the web pane: in-memory sessions with an idle expiry and
 * a CSRF token each.
 *
 * A session id is 256 random bits (base64url); it lives only in the HttpOnly cookie and in
 * this table.  Sessions are per process: a restart signs everybody out.  Thread safe.
 */
#ifndef KG_SESSION_H
#define KG_SESSION_H

#include <stdint.h>

#include "err.h"
#include "model.h"

#define KG_SESSION_ID_LEN 43 /* base64url of 32 bytes */
#define KG_SESSIONS_MAX 10000

struct sessions;

#define KG_SESSION_STAMP_LEN 16

struct session_info {
    char user_id[KG_USER_ID_LEN + 1];
    char csrf[KG_SESSION_ID_LEN + 1];
    /* A digest of the password hash the user signed in under: a session outlives no password
     * change, even one made by another process (keygate user reset-password). */
    unsigned char stamp[KG_SESSION_STAMP_LEN];
};

/* idle_s: seconds without a request after which a session ends.  Caller owns *out. */
kg_err sessions_new(int64_t idle_s, struct sessions **out);
void sessions_free(struct sessions *s); /* NULL is a no-op */

/* Starts a session for user_id, who signed in under password_hash (the stored argon2id
 * string); fills id[] (for the cookie) and info.  When the part of the table the new id falls
 * in (8 of the KG_SESSIONS_MAX slots) is full, the session idle longest there is ended. */
kg_err sessions_create(struct sessions *s, const char *user_id, const char *password_hash,
                       int64_t now_ms, char id[KG_SESSION_ID_LEN + 1], struct session_info *info);
/* 1 when the session began under this password hash (the user's as stored now). */
int session_password_current(const struct session_info *info, const char *password_hash);
/* Looks a session up and marks it used at now_ms.  KG_UNAUTHENTICATED when unknown or idle
 * too long (it is then ended). */
kg_err sessions_get(struct sessions *s, const char *id, int64_t now_ms, struct session_info *out);
/* Ends a session (unknown ids are ignored). */
void sessions_end(struct sessions *s, const char *id);
/* Ends every session of a user (after a password change or deletion). */
void sessions_end_user(struct sessions *s, const char *user_id);
int64_t sessions_idle_seconds(const struct sessions *s);

#endif
