/*
 * webhook.h — event webhooks: every audit-log entry, POSTed as JSON to each configured URL,
 * signed, from a background queue kept in the store.
 *
 * The queue is the audit log itself.  Every change writes its audit entry in its own
 * transaction (store.h), so an entry exists exactly when its change committed; each webhook's
 * row in the store (struct kg_webhook_state) holds its cursor in the log.  A webhook first
 * configured starts at the log's end: it is sent what happens from then on, not the history.
 *
 * Delivery.  One thread a webhook polls every WEBHOOK_POLL_MS (a read of its row); when events
 * are pending it takes the webhook's lease in the store (so that of several nodes sharing a
 * PostgreSQL database one delivers it at a time), POSTs the event after the cursor, and moves the
 * cursor on a 2xx.  Any other answer, or none within the timeout, is retried after a backoff that
 * doubles from opts.backoff_ms up to WEBHOOK_BACKOFF_CAP_MS; after opts.attempts attempts the event
 * is recorded as failed and the cursor moves on.  Events reach a webhook one at a time, in the
 * log's order.  No request waits for a delivery.  An entry whose seq is skipped (a PostgreSQL
 * transaction still committing, or rolled back) is waited for up to WEBHOOK_GAP_WAIT_MS, then
 * passed. At least once: a receiver may see an event twice (a node stopped after the POST and
 * before recording it, or a lease lost in the middle); the event ID says which.
 *
 * The request.  POST, Content-Type application/json, body
 *   {"id": "evt_<seq>", "type": "<audit action>", "createdOn": "<time>",
 *    "data": <the entry as GET /public/api/v1/auditLog renders it>}
 * and the headers Keygate-Event-Id (the body's id), Keygate-Event-Type, Keygate-Delivery-Attempt
 * (1, 2, …) and Keygate-Signature: "t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>'>" keyed
 * with the webhook's secret (Stripe's form).  t is the time of the attempt: receivers should
 * refuse a t more than WEBHOOK_REPLAY_WINDOW_S away from their clock.
 *
 * Secrets are read from a file, never the command line, and never logged; a URL is shown
 * (logs, API, pane) without its user, password, query or fragment.
 *
 * Thread safety: after webhooks_start(), webhooks_metrics() and webhooks_render() may be
 * called from any thread; webhooks_free() only once nothing else uses the set.
 */
#ifndef KG_WEBHOOK_H
#define KG_WEBHOOK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "model.h"
#include "store.h"

#define WEBHOOKS_MAX 8
#define WEBHOOK_POLL_MS 1000
#define WEBHOOK_LEASE_MS 30000   /* a node's lease, renewed once half of it is spent */
#define WEBHOOK_GAP_WAIT_MS 5000 /* a skipped seq waited for, at most */
#define WEBHOOK_BACKOFF_CAP_MS 3600000
#define WEBHOOK_REPLAY_WINDOW_S 300 /* what receivers should allow (documented) */
#define WEBHOOK_SECRET_MIN 16       /* bytes of a secret, at least */
#define WEBHOOK_SECRET_MAX 512
#define WEBHOOK_SIGNATURE_MAX 96 /* "t=<20 digits>,v1=<64 hex>" */

struct webhooks;

struct webhook_opts {
    int64_t timeout_ms; /* one attempt, at most; 0 = 10 s */
    int64_t attempts;   /* of one event before it is given up; 0 = 16 */
    int64_t backoff_ms; /* before the first retry, doubling; 0 = 1 s */
};

/* An empty set (caller owns *out; webhooks_free()). */
kg_err webhooks_new(struct webhooks **out);

/* Adds the webhooks that spec names: "URL secret-file=PATH", several such separated by
 * white space (URL: http:// or https://).  The secret is the file's first line (16 to 512
 * bytes).  KG_INVALID (err says why, without the secret or the URL's hidden parts), KG_TOOBIG
 * past WEBHOOKS_MAX, KG_CONFLICT for a URL given twice, KG_IO for a file that cannot be read. */
kg_err webhooks_add(struct webhooks *ws, const char *spec, char *err, size_t err_size);

/* How many webhooks ws holds. */
size_t webhooks_count(const struct webhooks *ws);

/* Makes each webhook's row in st if it has none (its cursor at the log's end now: see the
 * top) and starts a delivery thread for each, using st (borrowed until webhooks_free()).
 * KG_INTERNAL when a thread cannot start (none is left running then). */
kg_err webhooks_start(struct webhooks *ws, struct store *st, const struct webhook_opts *o);

/* Stops the threads (an attempt under way is given up), gives their leases back, wipes the
 * secrets and frees ws.  NULL is a no-op. */
void webhooks_free(struct webhooks *ws);

/* Webhook i's (< webhooks_count) counts in this process, for /metrics: its id (borrowed for
 * ws's life), events delivered, attempts to be retried, events given up, and the events
 * pending at the last poll (-1: not known yet). */
struct webhook_counts {
    const char *id;
    uint64_t delivered, retried, failed;
    int64_t pending;
};
void webhooks_counts(const struct webhooks *ws, size_t i, struct webhook_counts *out);

/* GET /public/api/v1/webhook's body: {"result": [each webhook's state, with its newest
 * failures]} read from st; NULL on KG_ENOMEM, and *rc the store's error when it fails. */
json_t *webhooks_render(const struct webhooks *ws, struct store *st, kg_err *rc);

/* The Keygate-Signature value of body at unix time t, keyed with secret: NUL-terminated. */
void webhook_signature(const unsigned char *secret, size_t secret_len, int64_t t, const char *body,
                       size_t body_len, char out[WEBHOOK_SIGNATURE_MAX + 1]);

/* The JSON body of event e (caller owns; free()), NULL when out of memory. */
char *webhook_event_body(const struct kg_audit *e);

/* Webhook ID of a URL: "wh_" and 16 hex digits of its BLAKE2b hash (stable across restarts
 * and nodes). */
void webhook_id(const char *url, char out[KG_WEBHOOK_ID_LEN + 1]);

#endif
