/*
 * pane.c — sign-in (argon2id; failures throttled per address, per account at an address, and
 * per account for the addresses that failed it), sessions in an HttpOnly SameSite=Strict
 * cookie, and the embedded pages.
 *
 * Layout: static files, sign-in, sign-out, session description.
 */
#include "pane.h"

#include <ctype.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "assets.h"
#include "audit.h"
#include "ids.h"
#include "log.h"
#include "proxy.h"
#include "reply.h"
#include "util.h"

/* ---- static files -------------------------------------------------------------------- */

static void send_asset(struct call *c, const char *name, const char *cache)
{
    const struct asset *a = assets_find(name);
    if (!a) {
        reply_error(c->req, KG_NOTFOUND, "no such file");
        return;
    }
    const char *headers[] = {"Cache-Control", cache, NULL};
    http_reply(c->req, 200, a->content_type, (const char *)a->data, a->len, headers);
}

static void redirect(struct call *c, const char *location)
{
    const char *headers[] = {"Location", location, "Cache-Control", "no-store", NULL};
    http_reply(c->req, 302, "text/plain; charset=utf-8", "", 0, headers);
}

void pane_root(struct call *c)
{
    redirect(c, "/api-auth-token");
}

void pane_login_page(struct call *c)
{
    send_asset(c, "login.html", "no-store");
}

void pane_app_page(struct call *c)
{
    struct session_info si;
    const char *id = http_cookie(c->req, KG_SESSION_COOKIE);
    if (!id || sessions_get(c->app->sessions, id, kg_now_ms(), &si) != KG_OK) {
        /* The path, percent-encoded but for its unreserved bytes and '/': a route's {} part
         * (a token's page) is the caller's text, decoded. */
        static const char hex[] = "0123456789ABCDEF";
        char loc[sizeof "/login?next=" + 3 * (KG_PARAM_MAX + 64)];
        size_t n = kg_strcpy(loc, sizeof loc, "/login?next=") == KG_OK ? strlen(loc) : 0;
        for (const unsigned char *p = (const unsigned char *)c->req->path; *p && n + 4 < sizeof loc;
             p++) {
            if (isalnum(*p) || strchr("-._~/", *p)) {
                loc[n++] = (char)*p;
            } else {
                loc[n++] = '%';
                loc[n++] = hex[*p >> 4];
                loc[n++] = hex[*p & 15];
            }
        }
        loc[n] = '\0';
        redirect(c, loc);
        return;
    }
    send_asset(c, "app.html", "no-store");
}

/* /assets/NAME or /assets/FOLDER/NAME (a module of the pane's script); never a page. */
void pane_asset(struct call *c)
{
    char name[2 * KG_PARAM_MAX + 2];
    if (c->params[1][0])
        snprintf(name, sizeof name, "%s/%s", c->params[0], c->params[1]);
    else
        kg_strcpy(name, sizeof name, c->params[0]);
    size_t n = strlen(name);
    if (n >= 5 && strcmp(name + n - 5, ".html") == 0) {
        reply_error(c->req, KG_NOTFOUND, "no such file");
        return;
    }
    send_asset(c, name, "no-cache");
}

/* ---- sign-in ------------------------------------------------------------------------- */

static char dummy_hash[crypto_pwhash_STRBYTES];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

/* A hash to verify against when the email is unknown, so that the answer takes as long. */
static void make_dummy(void)
{
    char pw[24];
    ids_base62(pw, sizeof pw - 1);
    if (crypto_pwhash_str(dummy_hash, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        dummy_hash[0] = '\0';
}

static void set_cookie(struct call *c, int status, json_t *body, const char *value, int clear)
{
    char cookie[160];
    snprintf(cookie, sizeof cookie, "%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s",
             KG_SESSION_COOKIE, value, clear ? "; Max-Age=0" : "",
             c->app->cfg.secure_cookies ? "; Secure" : "");
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    const char *headers[] = {"Set-Cookie", cookie, "Cache-Control", "no-store", NULL};
    http_reply(c->req, status, text ? "application/json" : NULL, text ? text : "",
               text ? strlen(text) : 0, headers);
    free(text);
    sodium_memzero(cookie, sizeof cookie);
}

/* Failed sign-ins for one account, from all addresses, in 15 minutes before the account is
 * slowed; even then only addresses that have failed for it since their last success (and
 * where it has not signed in for a day) wait: a right password from anywhere else goes on. */
#define SIGNIN_FREE_ACCOUNT 10

void pane_login(struct call *c)
{
    static const char *const fields[] = {"email", "password", NULL};
    struct app *a = c->app;
    json_t *body = NULL;
    const char *email, *password;
    char lower[KG_EMAIL_MAX + 1];
    /* p: the address, s: the account at the address, u: the account, m: a success there */
    char where[PROXY_ADDR_MAX]; /* the client's address, an IPv6 one by its /64 */
    proxy_addr_group(c->req->peer, where);
    char pkey[8 + sizeof where], skey[8 + sizeof where + sizeof lower], ukey[8 + sizeof lower],
        mkey[sizeof skey];
    int64_t now = kg_now_ms();
    if (json_body_or_reply(c, fields, &body)) return;
    if (json_string_or_reply(c, body, "email", 1, &email) ||
        json_string_or_reply(c, body, "password", 1, &password))
        goto out;
    if (strlen(email) > KG_EMAIL_MAX || strlen(password) > KG_PASSWORD_MAX) {
        reply_error(c->req, KG_INVALID, "email or password too long");
        goto out;
    }
    size_t n = strlen(email);
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)tolower((unsigned char)email[i]);
    snprintf(pkey, sizeof pkey, "p:%s", where);
    snprintf(skey, sizeof skey, "s:%s/%s", where, lower);
    snprintf(ukey, sizeof ukey, "u:%s", lower);
    snprintf(mkey, sizeof mkey, "m:%s/%s", where, lower);

    /* Sign-ins are counted apart from client authentications (oauth.c), so that neither
     * slows the other at a shared address. */
    int64_t wait = throttle_wait(a->throttle, pkey, now);
    int64_t w = throttle_wait(a->throttle, skey, now);
    if (w > wait) wait = w;
    if (wait == 0 && throttle_failures(a->throttle, skey, now) > 0 &&
        !throttle_known(a->throttle, mkey, now))
        wait = throttle_wait(a->throttle, ukey, now);
    if (wait > 0) {
        call_throttled(c, wait, "sign-ins");
        goto out;
    }

    struct kg_user u;
    int known = store_user_get_by_email(a->st, email, &u) == KG_OK;
    pthread_once(&dummy_once, make_dummy);
    int ok = crypto_pwhash_str_verify(known ? u.password_hash : dummy_hash, password,
                                      strlen(password)) == 0;
    if (!known || !ok) {
        throttle_fail(a->throttle, pkey, THROTTLE_FREE, now);
        throttle_fail(a->throttle, skey, THROTTLE_FREE, now);
        throttle_fail(a->throttle, ukey, SIGNIN_FREE_ACCOUNT, now);
        audit_record(a, known ? u.user_id : "", c->req->peer, "signIn", email, KG_UNAUTHENTICATED,
                     known ? "wrong password" : "no such user");
        KG_LOG_REQ(LOG_NOTICE, c->req->id, "sign-in failed (address %s)", c->req->peer);
        reply_error(c->req, KG_UNAUTHENTICATED, "wrong email or password");
        goto out;
    }
    throttle_forget(a->throttle, skey);
    throttle_succeed(a->throttle, mkey, now);
    char sid[KG_SESSION_ID_LEN + 1];
    struct session_info si;
    if (sessions_create(a->sessions, u.user_id, u.password_hash, now, sid, &si) != KG_OK) {
        reply_error(c->req, KG_INTERNAL, "could not start a session");
        goto out;
    }
    KG_LOG_REQ(LOG_NOTICE, c->req->id, "user %s signed in (address %s)", u.user_id, c->req->peer);
    audit_record(a, u.user_id, c->req->peer, "signIn", u.email, KG_OK, "");
    set_cookie(c, 200, json_pack("{s:s, s:s}", "userId", u.user_id, "email", u.email), sid, 0);
    sodium_memzero(sid, sizeof sid);
out:
    json_decref(body);
}

void pane_logout(struct call *c)
{
    const char *id = http_cookie(c->req, KG_SESSION_COOKIE);
    if (id) sessions_end(c->app->sessions, id);
    audit_actor(c->app, &c->actor, "signOut", c->actor.id, KG_OK, "");
    set_cookie(c, 204, NULL, "", 1);
}

/* ---- the session, as the page script sees it ----------------------------------------- */

void pane_session(struct call *c)
{
    struct app *a = c->app;
    struct kg_user u;
    struct view_role_ref *refs = NULL;
    size_t n = 0;
    if (store_user_get(a->st, c->actor.id, &u) != KG_OK ||
        view_active_roles(a->view, c->actor.roles, c->actor.nroles, &refs, &n) != KG_OK) {
        reply_error(c->req, KG_INTERNAL, "could not read the session");
        return;
    }
    json_t *roles = json_array();
    for (size_t i = 0; roles && i < n; i++)
        json_array_append_new(roles, json_pack("{s:s, s:s}", "roleId", refs[i].role_id, "roleName",
                                               refs[i].role_name));
    free(refs);
    const kg_role_id *h = (const kg_role_id *)c->actor.roles;
    size_t hn = c->actor.nroles;
    reply_json(c->req, 200,
               json_pack("{s:s, s:s, s:s, s:I, s:o, s:{s:b, s:b, s:b, s:b}}", "userId", u.user_id,
                         "email", u.email, "csrfToken", c->csrf, "idleTimeoutSeconds",
                         (json_int_t)sessions_idle_seconds(a->sessions), "activeRoles", roles,
                         "privileges", PRIV_MANAGE_SECURITY,
                         view_allows(a->view, h, hn, PRIV_MANAGE_SECURITY), PRIV_CREATE_ROLE,
                         view_allows(a->view, h, hn, PRIV_CREATE_ROLE), PRIV_CREATE_USER,
                         view_allows(a->view, h, hn, PRIV_CREATE_USER), PRIV_VIEW_AUDIT_LOG,
                         view_allows(a->view, h, hn, PRIV_VIEW_AUDIT_LOG)));
}
