/*
 * webhook_send.c — a webhook POST over libcurl (webhook_send.h).
 *
 * Layout: the answer's body (read and discarded), giving up on stop, the POST, URL checks.
 */
#include "webhook_send.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "version.h"

#define CONNECT_TIMEOUT_MS 5000 /* at most; never more than the whole timeout */

kg_err webhook_send_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? KG_OK : KG_INTERNAL;
}

/* The answer's body: counted and discarded; past WEBHOOK_SEND_BODY_MAX the transfer stops
 * (the status is known by then). */
static size_t discard(char *ptr, size_t size, size_t n, void *arg)
{
    size_t *seen = arg;
    (void)ptr;
    *seen += size * n;
    return *seen > WEBHOOK_SEND_BODY_MAX ? 0 : size * n;
}

/* Non-zero stops the transfer: the server is shutting down. */
static int progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                    curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return arg && atomic_load((const atomic_int *)arg) != 0;
}

kg_err webhook_send(const struct webhook_post *p, long *status, char *err, size_t err_size)
{
    kg_err rc = KG_IO;
    CURL *h = NULL;
    struct curl_slist *hdrs = NULL, *more;
    size_t seen = 0;
    long connect_ms = p->timeout_ms < CONNECT_TIMEOUT_MS ? (long)p->timeout_ms : CONNECT_TIMEOUT_MS;
    *status = 0;
    if (err_size) err[0] = '\0';
    if (!(h = curl_easy_init())) {
        snprintf(err, err_size, "out of memory");
        goto out;
    }
    for (const char *const *x = p->headers; x && *x; x++) {
        if (!(more = curl_slist_append(hdrs, *x))) {
            snprintf(err, err_size, "out of memory");
            goto out;
        }
        hdrs = more;
    }
    /* "Expect: 100-continue" would cost a round trip (or a second) on a larger body. */
    if (!(more = curl_slist_append(hdrs, "Expect:"))) goto out;
    hdrs = more;
    CURLcode c = CURLE_OK;
    if (!c) c = curl_easy_setopt(h, CURLOPT_URL, p->url);
    if (!c) c = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (!c) c = curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    if (!c) c = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM */
    if (!c) c = curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    if (!c) c = curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
    if (!c) c = curl_easy_setopt(h, CURLOPT_USERAGENT, "keygate/" KG_VERSION);
    if (!c) c = curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (!c) c = curl_easy_setopt(h, CURLOPT_POST, 1L);
    if (!c) c = curl_easy_setopt(h, CURLOPT_POSTFIELDS, p->body);
    if (!c) c = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->len);
    if (!c) c = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    if (!c) c = curl_easy_setopt(h, CURLOPT_WRITEDATA, &seen);
    if (!c) c = curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    if (!c) c = curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress);
    if (!c) c = curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)(uintptr_t)p->stop);
    if (c) {
        snprintf(err, err_size, "cannot set up the request: %s", curl_easy_strerror(c));
        rc = KG_INVALID;
        goto out;
    }
    c = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    /* A body cut short after a status line still answered. */
    if (code > 0 && (c == CURLE_OK || c == CURLE_WRITE_ERROR)) {
        *status = code;
        rc = KG_OK;
    } else {
        snprintf(err, err_size, "%s",
                 c == CURLE_ABORTED_BY_CALLBACK ? "stopped: shutting down" : curl_easy_strerror(c));
    }
out:
    curl_slist_free_all(hdrs);
    if (h) curl_easy_cleanup(h);
    return rc;
}

kg_err webhook_send_url_check(const char *url, char *shown, size_t size)
{
    kg_err rc = KG_INVALID;
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
    CURLU *u = curl_url();
    if (!u) return KG_ENOMEM;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) goto out;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
        goto out;
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0]) goto out;
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK) port = NULL;
    if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) path = NULL;
    int n = snprintf(shown, size, "%s://%s%s%s%s", scheme, host, port ? ":" : "", port ? port : "",
                     path ? path : "/");
    rc = n < 0 || (size_t)n >= size ? KG_TOOBIG : KG_OK;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}
