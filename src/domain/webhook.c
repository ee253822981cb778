/*
 * webhook.c — event webhooks (webhook.h): the set and its configuration, the signature and
 * the body, the delivery threads, and what the API and /metrics read of them.
 */
#include "webhook.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ids.h"
#include "log.h"
#include "render.h"
#include "util.h"
#include "webhook_send.h"

#define URL_MAX 2048
#define FAILURES_SHOWN 20 /* of each webhook, by webhooks_render() */

struct hook {
    struct webhooks *ws;
    char id[KG_WEBHOOK_ID_LEN + 1];
    char url[URL_MAX + 1];              /* the whole URL: never logged or shown */
    char shown[KG_WEBHOOK_URL_MAX + 1]; /* what may be */
    unsigned char secret[WEBHOOK_SECRET_MAX];
    size_t secret_len;
    pthread_t thread;
    int started;
    int64_t gap_seq, gap_since; /* a skipped seq being waited for, and since when (ms) */
    int store_failing;          /* the last store call failed: logged once */
    _Atomic uint64_t delivered, retried, failed;
    _Atomic int64_t pending;
};

struct webhooks {
    struct hook hooks[WEBHOOKS_MAX];
    size_t n;
    struct store *st;
    struct webhook_opts o;
    char node[KG_WEBHOOK_NODE_MAX + 1];
    atomic_int stop;
    pthread_mutex_t mu; /* with cv: a thread's wait between polls, cut short by stop */
    pthread_cond_t cv;
};

/* ---- the set and its configuration ----------------------------------------------------- */

kg_err webhooks_new(struct webhooks **out)
{
    struct webhooks *ws = calloc(1, sizeof *ws);
    if (!ws) return KG_ENOMEM;
    pthread_mutex_init(&ws->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ws->cv, &ca);
    pthread_condattr_destroy(&ca);
    *out = ws;
    return KG_OK;
}

size_t webhooks_count(const struct webhooks *ws)
{
    return ws ? ws->n : 0;
}

void webhook_id(const char *url, char out[KG_WEBHOOK_ID_LEN + 1])
{
    unsigned char h[8];
    crypto_generichash(h, sizeof h, (const unsigned char *)url, strlen(url), NULL, 0);
    memcpy(out, "wh_", 3);
    sodium_bin2hex(out + 3, KG_WEBHOOK_ID_LEN + 1 - 3, h, sizeof h);
}

/* Reads the secret: the first line of `path`, without its line end. */
static kg_err secret_read(struct hook *h, const char *path, char *err, size_t err_size)
{
    kg_err rc = KG_IO;
    char buf[WEBHOOK_SECRET_MAX + 2];
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, err_size, "cannot read the webhook secret file %s: %s", path,
                 strerror(errno));
        goto out;
    }
    while (n < sizeof buf) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    size_t len = 0;
    while (len < n && buf[len] != '\n' && buf[len] != '\r')
        len++;
    if (len < WEBHOOK_SECRET_MIN || len > WEBHOOK_SECRET_MAX) {
        snprintf(err, err_size, "the webhook secret in %s must be %d to %d bytes on its first line",
                 path, WEBHOOK_SECRET_MIN, WEBHOOK_SECRET_MAX);
        rc = KG_INVALID;
        goto out;
    }
    memcpy(h->secret, buf, len);
    h->secret_len = len;
    rc = KG_OK;
out:
    if (fd >= 0) close(fd);
    sodium_memzero(buf, sizeof buf);
    return rc;
}

/* Adds one webhook: url (n bytes) and the path of its secret file. */
static kg_err hook_add(struct webhooks *ws, const char *url, size_t n, const char *file, char *err,
                       size_t err_size)
{
    struct hook *h = &ws->hooks[ws->n];
    kg_err rc;
    if (ws->n >= WEBHOOKS_MAX) {
        snprintf(err, err_size, "at most %d webhooks", WEBHOOKS_MAX);
        return KG_TOOBIG;
    }
    memset(h, 0, sizeof *h);
    if (n > URL_MAX) {
        snprintf(err, err_size, "a webhook URL is at most %d bytes", URL_MAX);
        return KG_INVALID;
    }
    memcpy(h->url, url, n);
    h->url[n] = '\0';
    if ((rc = webhook_send_url_check(h->url, h->shown, sizeof h->shown)) != KG_OK) {
        snprintf(err, err_size, "a webhook URL is http:// or https:// and a host (%s)",
                 rc == KG_TOOBIG ? "this one is too long" : "this one is not");
        return KG_INVALID;
    }
    if (!file) {
        snprintf(err, err_size, "webhook %s: give its secret as secret-file=PATH", h->shown);
        return KG_INVALID;
    }
    webhook_id(h->url, h->id);
    for (size_t i = 0; i < ws->n; i++)
        if (strcmp(ws->hooks[i].url, h->url) == 0) {
            snprintf(err, err_size, "webhook %s is given twice", h->shown);
            return KG_CONFLICT;
        }
    if ((rc = secret_read(h, file, err, err_size)) != KG_OK) return rc;
    h->ws = ws;
    atomic_store(&h->pending, -1);
    ws->n++;
    return KG_OK;
}

kg_err webhooks_add(struct webhooks *ws, const char *spec, char *err, size_t err_size)
{
    kg_err rc = KG_OK;
    const char *url = NULL, *file = NULL;
    size_t url_len = 0;
    char path[4096];
    const char *p = spec;
    while (rc == KG_OK) {
        while (*p && isspace((unsigned char)*p))
            p++;
        size_t len = 0;
        while (p[len] && !isspace((unsigned char)p[len]))
            len++;
        int is_url = len && (strncmp(p, "http://", 7) == 0 || strncmp(p, "https://", 8) == 0);
        if (!len || is_url) { /* the end, or the next webhook: the one before is complete */
            if (url) rc = hook_add(ws, url, url_len, file, err, err_size);
            if (!len || rc != KG_OK) break;
            url = p, url_len = len, file = NULL;
        } else if (url && !file && len > 12 && strncmp(p, "secret-file=", 12) == 0 &&
                   len - 12 < sizeof path) {
            memcpy(path, p + 12, len - 12);
            path[len - 12] = '\0';
            file = path;
        } else {
            snprintf(err, err_size,
                     "a webhook is given as 'URL secret-file=PATH' (URL: http:// or https://)");
            rc = KG_INVALID;
        }
        p += len;
    }
    if (rc == KG_OK && !url) {
        snprintf(err, err_size, "a webhook is given as 'URL secret-file=PATH'");
        rc = KG_INVALID;
    }
    return rc;
}

/* ---- the signature and the body -------------------------------------------------------- */

void webhook_signature(const unsigned char *secret, size_t secret_len, int64_t t, const char *body,
                       size_t body_len, char out[WEBHOOK_SIGNATURE_MAX + 1])
{
    crypto_auth_hmacsha256_state s;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char ts[24], hex[2 * sizeof mac + 1];
    int n = snprintf(ts, sizeof ts, "%" PRId64, t);
    crypto_auth_hmacsha256_init(&s, secret, secret_len);
    crypto_auth_hmacsha256_update(&s, (const unsigned char *)ts, (size_t)n);
    crypto_auth_hmacsha256_update(&s, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&s, (const unsigned char *)body, body_len);
    crypto_auth_hmacsha256_final(&s, mac);
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    snprintf(out, WEBHOOK_SIGNATURE_MAX + 1, "t=%s,v1=%s", ts, hex);
    sodium_memzero(&s, sizeof s);
}

char *webhook_event_body(const struct kg_audit *e)
{
    char id[32];
    snprintf(id, sizeof id, "evt_%" PRId64, e->seq);
    json_t *o = json_pack("{s:s, s:s, s:o, s:o}", "id", id, "type", e->action, "createdOn",
                          render_time(e->at), "data", render_audit(e));
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* ---- delivery ------------------------------------------------------------------------- */

/* Waits ms, or less when the set is stopping; returns non-zero when it is. */
static int wait_or_stop(struct webhooks *ws, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&ws->mu);
    while (!atomic_load(&ws->stop))
        if (pthread_cond_timedwait(&ws->cv, &ws->mu, &ts) != 0) break;
    pthread_mutex_unlock(&ws->mu);
    return atomic_load(&ws->stop);
}

/* Logs a failing store once, and its recovery. */
static void store_state(struct hook *h, kg_err rc, const char *what)
{
    if (rc != KG_OK && !h->store_failing)
        KG_LOG(LOG_WARNING, "webhook %s (%s): cannot %s: %s; trying again", h->id, h->shown, what,
               kg_err_name(rc));
    else if (rc == KG_OK && h->store_failing)
        KG_LOG(LOG_NOTICE, "webhook %s (%s): the store answers again", h->id, h->shown);
    h->store_failing = rc != KG_OK;
}

/* The wait before retry number `attempts` (1 = the first retry). */
static int64_t backoff(const struct webhook_opts *o, int64_t attempts)
{
    int64_t d = o->backoff_ms;
    for (int64_t i = 1; i < attempts && d < WEBHOOK_BACKOFF_CAP_MS; i++)
        d *= 2;
    return d < WEBHOOK_BACKOFF_CAP_MS ? d : WEBHOOK_BACKOFF_CAP_MS;
}

/* One attempt at event e of h, whose state is s; records its outcome.  Returns 1 when the
 * cursor moved on (the next event may follow at once), 0 otherwise. */
static int attempt(struct hook *h, const struct kg_webhook_state *s, const struct kg_audit *e)
{
    struct webhooks *ws = h->ws;
    int moved = 0;
    char *body = webhook_event_body(e);
    char sig[WEBHOOK_SIGNATURE_MAX + 1], err[KG_WEBHOOK_ERROR_MAX + 1] = "";
    char h_id[64], h_type[64], h_try[64], h_sig[WEBHOOK_SIGNATURE_MAX + 32];
    long status = 0;
    if (!body) goto out;
    int64_t tries = s->attempts + 1;
    webhook_signature(h->secret, h->secret_len, kg_now_ms() / 1000, body, strlen(body), sig);
    snprintf(h_id, sizeof h_id, "Keygate-Event-Id: evt_%" PRId64, e->seq);
    snprintf(h_type, sizeof h_type, "Keygate-Event-Type: %s", e->action);
    snprintf(h_try, sizeof h_try, "Keygate-Delivery-Attempt: %" PRId64, tries);
    snprintf(h_sig, sizeof h_sig, "Keygate-Signature: %s", sig);
    const char *headers[] = {"Content-Type: application/json", h_id, h_type, h_try, h_sig, NULL};
    struct webhook_post p = {h->url, body, strlen(body), headers, ws->o.timeout_ms, &ws->stop};
    kg_err rc = webhook_send(&p, &status, err, sizeof err);
    if (rc != KG_OK && atomic_load(&ws->stop)) goto out; /* cut short: not an attempt */
    int ok = rc == KG_OK && status >= 200 && status < 300;
    if (rc == KG_OK && !ok) snprintf(err, sizeof err, "answered HTTP %ld", status);
    int64_t now = kg_now_ms();
    struct kg_webhook_attempt a = {
        .id = h->id,
        .node = ws->node,
        .outcome = ok                        ? KG_WEBHOOK_DELIVERED
                   : tries >= ws->o.attempts ? KG_WEBHOOK_FAILED
                                             : KG_WEBHOOK_RETRY,
        .event_seq = e->seq,
        .action = e->action,
        .attempts = tries,
        .next_at = now + backoff(&ws->o, tries),
        .at = now,
        .status = status,
        .error = ok ? "" : err,
    };
    int changed = 0;
    rc = store_webhook_record(ws->st, &a, &changed);
    store_state(h, rc, "record a delivery");
    if (rc != KG_OK || !changed) goto out; /* the lease was lost: its holder carries on */
    switch (a.outcome) {
    case KG_WEBHOOK_DELIVERED:
        atomic_fetch_add(&h->delivered, 1);
        KG_LOG(LOG_DEBUG, "webhook %s (%s): delivered evt_%" PRId64 " (%s), HTTP %ld", h->id,
               h->shown, e->seq, e->action, status);
        moved = 1;
        break;
    case KG_WEBHOOK_RETRY:
        atomic_fetch_add(&h->retried, 1);
        KG_LOG(LOG_NOTICE,
               "webhook %s (%s): evt_%" PRId64 " attempt %" PRId64
               " failed (%s); retrying in %" PRId64 " ms",
               h->id, h->shown, e->seq, tries, err, a.next_at - now);
        break;
    case KG_WEBHOOK_FAILED:
        atomic_fetch_add(&h->failed, 1);
        KG_LOG(LOG_WARNING,
               "webhook %s (%s): gave up evt_%" PRId64 " (%s) after %" PRId64 " attempts: %s",
               h->id, h->shown, e->seq, e->action, tries, err);
        moved = 1;
        break;
    }
out:
    free(body);
    return moved;
}

/* Delivers what is due of h now: events one after the other while they are delivered. */
static void deliver(struct hook *h)
{
    struct webhooks *ws = h->ws;
    for (int i = 0; i < 1000 && !atomic_load(&ws->stop); i++) {
        struct kg_webhook_state s;
        struct kg_audit *e = NULL;
        size_t n = 0;
        int claimed = 0;
        int64_t now = kg_now_ms();
        /* A read while idle; the lease is written only to take it, or to renew it once half of
         * it is spent: the half left outlasts an attempt (lease_ms), so that no other node can
         * take the webhook while this one is still sending an event. */
        const int64_t lease_ms = WEBHOOK_LEASE_MS > 2 * ws->o.timeout_ms + 5000
                                     ? WEBHOOK_LEASE_MS
                                     : 2 * ws->o.timeout_ms + 5000;
        kg_err rc = store_webhook_get(ws->st, h->id, &s);
        if (rc == KG_OK) {
            atomic_store(&h->pending, s.pending);
            int mine = strcmp(s.leased_by, ws->node) == 0;
            if (s.pending == 0 || s.next_at > now || (!mine && s.lease_until > now)) {
                store_state(h, rc, "read its state");
                return;
            }
            claimed = mine && s.lease_until - now > lease_ms / 2;
        }
        if (!claimed && (rc == KG_OK || rc == KG_NOTFOUND)) /* NOTFOUND: the row is made */
            rc = store_webhook_claim(ws->st, h->id, h->shown, ws->node, now, now + lease_ms,
                                     &claimed, &s);
        store_state(h, rc, "read its state");
        if (rc != KG_OK) return;
        atomic_store(&h->pending, s.pending);
        if (!claimed || s.next_at > now || s.pending == 0) return;
        rc = store_audit_after(ws->st, s.cursor, 1, &e, &n);
        store_state(h, rc, "read the audit log");
        if (rc != KG_OK || n == 0) {
            free(e);
            return;
        }
        if (e->seq != s.cursor + 1) { /* a seq skipped: committing still, or rolled back */
            if (h->gap_seq != s.cursor + 1) h->gap_seq = s.cursor + 1, h->gap_since = now;
            if (now - h->gap_since < WEBHOOK_GAP_WAIT_MS) {
                free(e);
                return;
            }
        }
        int moved = attempt(h, &s, e);
        free(e);
        if (!moved) return;
    }
}

static void *hook_main(void *arg)
{
    struct hook *h = arg;
    struct webhooks *ws = h->ws;
    while (!wait_or_stop(ws, WEBHOOK_POLL_MS))
        deliver(h);
    store_webhook_release(ws->st, h->id, ws->node); /* the next node need not wait */
    return NULL;
}

kg_err webhooks_start(struct webhooks *ws, struct store *st, const struct webhook_opts *o)
{
    ws->st = st;
    ws->o.timeout_ms = o && o->timeout_ms > 0 ? o->timeout_ms : 10000;
    ws->o.attempts = o && o->attempts > 0 ? o->attempts : 16;
    ws->o.backoff_ms = o && o->backoff_ms > 0 ? o->backoff_ms : 1000;
    memcpy(ws->node, "n-", 2);
    ids_base62(ws->node + 2, 16);
    if (!ws->n) return KG_OK;
    if (webhook_send_global_init() != KG_OK) return KG_INTERNAL;
    for (size_t i = 0; i < ws->n; i++) { /* rows made now: what happens from here on is sent */
        struct hook *h = &ws->hooks[i];
        struct kg_webhook_state s;
        int claimed;
        int64_t now = kg_now_ms();
        kg_err rc = store_webhook_claim(st, h->id, h->shown, ws->node, now, now + WEBHOOK_LEASE_MS,
                                        &claimed, &s);
        store_state(h, rc, "read its state");
        if (rc == KG_OK) atomic_store(&h->pending, s.pending);
    }
    for (size_t i = 0; i < ws->n; i++) {
        if (pthread_create(&ws->hooks[i].thread, NULL, hook_main, &ws->hooks[i]) != 0) {
            atomic_store(&ws->stop, 1);
            for (size_t j = 0; j < i; j++)
                pthread_join(ws->hooks[j].thread, NULL), ws->hooks[j].started = 0;
            return KG_INTERNAL;
        }
        ws->hooks[i].started = 1;
        KG_LOG(LOG_INFO, "webhook %s: every audit event is sent to %s", ws->hooks[i].id,
               ws->hooks[i].shown);
    }
    return KG_OK;
}

void webhooks_free(struct webhooks *ws)
{
    if (!ws) return;
    pthread_mutex_lock(&ws->mu);
    atomic_store(&ws->stop, 1);
    pthread_cond_broadcast(&ws->cv);
    pthread_mutex_unlock(&ws->mu);
    for (size_t i = 0; i < ws->n; i++)
        if (ws->hooks[i].started) pthread_join(ws->hooks[i].thread, NULL);
    pthread_cond_destroy(&ws->cv);
    pthread_mutex_destroy(&ws->mu);
    sodium_memzero(ws, sizeof *ws);
    free(ws);
}

/* ---- what the API and /metrics read ---------------------------------------------------- */

void webhooks_counts(const struct webhooks *ws, size_t i, struct webhook_counts *out)
{
    const struct hook *h = &ws->hooks[i];
    out->id = h->id;
    out->delivered = atomic_load(&h->delivered);
    out->retried = atomic_load(&h->retried);
    out->failed = atomic_load(&h->failed);
    out->pending = atomic_load(&h->pending);
}

/* An HTTP status, or null for none. */
static json_t *status_json(int64_t status)
{
    return status ? json_integer(status) : json_null();
}

static json_t *render_failures(struct store *st, const char *id, kg_err *rc)
{
    struct kg_webhook_failure *f = NULL;
    size_t n = 0;
    json_t *arr = NULL;
    if ((*rc = store_webhook_failures(st, id, FAILURES_SHOWN, &f, &n)) != KG_OK) goto out;
    arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        char evt[32];
        snprintf(evt, sizeof evt, "evt_%" PRId64, f[i].event_seq);
        if (json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:o, s:s, s:o}", "eventId", evt,
                                                 "type", f[i].action, "attempts",
                                                 (json_int_t)f[i].attempts, "lastStatus",
                                                 status_json(f[i].last_status), "error", f[i].error,
                                                 "failedOn", render_time(f[i].failed_on)))) {
            json_decref(arr);
            arr = NULL;
        }
    }
out:
    free(f);
    return arr;
}

json_t *webhooks_render(const struct webhooks *ws, struct store *st, kg_err *rc)
{
    json_t *arr = json_array(), *out = NULL;
    *rc = KG_OK;
    for (size_t i = 0; arr && i < webhooks_count(ws); i++) {
        const struct hook *h = &ws->hooks[i];
        struct kg_webhook_state s;
        *rc = store_webhook_get(st, h->id, &s);
        if (*rc == KG_NOTFOUND) { /* its thread has not polled yet */
            memset(&s, 0, sizeof s);
            *rc = KG_OK;
        }
        if (*rc != KG_OK) goto out;
        json_t *failures = render_failures(st, h->id, rc);
        if (*rc != KG_OK) goto out;
        if (json_array_append_new(
                arr,
                json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o}", "id", h->id,
                          "url", h->shown, "delivered", (json_int_t)s.delivered, "failed",
                          (json_int_t)s.failed, "pending", (json_int_t)s.pending, "attempts",
                          (json_int_t)s.attempts, "lastStatus", status_json(s.last_status),
                          "lastError", s.last_error[0] ? json_string(s.last_error) : json_null(),
                          "lastAttemptOn", render_time(s.last_at), "nextAttemptOn",
                          render_time(s.attempts ? s.next_at : 0), "failures", failures)))
            goto out;
    }
    if (arr) out = json_pack("{s:O}", "result", arr);
out:
    json_decref(arr);
    return out;
}
