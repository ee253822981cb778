/*
 * server.c — the serve command: start-up, the background sync/flush thread, shutdown.
 *
 * The background thread keeps the view within ~200 ms of the store (so a revoke made by the
 * CLI or another process takes effect well within a second), writes last-access times behind
 * once a second and usage counts every --usage-flush-ms (sharing rate limits with the other
 * nodes then too), and drops usage counts older than --usage-retention once an hour.
 *
 * Layout: the background thread, the first user (its password: given, or generated and
 * handed over on a terminal or in a 0600 file, never in the log), server_run().
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "gate.h"
#include "http.h"
#include "ids.h"
#include "log.h"
#include "proxy.h"
#include "route.h"
#include "service.h"
#include "util.h"
#include "webhook.h"

#define SYNC_MS 200
#define FLUSH_MS 1000
#define PRUNE_MS 3600000

struct bg {
    struct app *app;
    struct view *view;
    struct keys *keys;
    int64_t ttl; /* the access-token lifetime: how long a retired key stays published */
    int64_t usage_flush_ms, usage_retention_s;
    atomic_int stop;
};

static void *bg_main(void *arg)
{
    struct bg *b = arg;
    int64_t last_flush = kg_now_ms(), last_usage = last_flush, last_prune = 0;
    while (!atomic_load(&b->stop)) {
        int64_t nap = b->usage_flush_ms < SYNC_MS ? b->usage_flush_ms : SYNC_MS;
        struct timespec ts = {0, nap * 1000000L};
        nanosleep(&ts, NULL);
        kg_err rc = view_sync(b->view);
        int down = rc == KG_UNAVAILABLE || rc == KG_IO;
        if (down != atomic_exchange(&b->app->store_down, down))
            KG_LOG(down ? LOG_ERR : LOG_NOTICE,
                   down ? "the database is unreachable: serving from memory, refusing writes"
                        : "the database is back");
        if (kg_now_ms() - last_flush >= FLUSH_MS) {
            view_flush_touches(b->view);
            last_flush = kg_now_ms();
        }
        if (kg_now_ms() - last_usage >= b->usage_flush_ms) {
            view_flush_usage(b->view, kg_now_ms());
            last_usage = kg_now_ms();
        }
        if (kg_now_ms() - last_prune >= PRUNE_MS) {
            int64_t before = kg_now_ms() - b->usage_retention_s * 1000;
            if (store_usage_prune(b->app->st, before - before % 3600000) == KG_OK)
                last_prune = kg_now_ms();
        }
    }
    return NULL;
}

/* Key rotations are noticed on a thread of their own, so that a database that does not answer
 * cannot delay a new key's publication (keys.h: KEYS_SPREAD_MS). */
static void *keys_main(void *arg)
{
    struct bg *b = arg;
    while (!atomic_load(&b->stop)) {
        struct timespec ts = {0, SYNC_MS * 1000000L};
        nanosleep(&ts, NULL);
        keys_refresh(b->keys, b->ttl);
    }
    return NULL;
}

/* ---- the first user ------------------------------------------------------------------ */

#define PASSWORD_FILE "admin-password"

/* Writes pw to a new file `path`, mode 0600: never over an existing file or through a
 * symlink.  KG_CONFLICT when the file exists. */
static kg_err password_write(const char *path, const char *pw)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return errno == EEXIST ? KG_CONFLICT : KG_IO;
    size_t n = strlen(pw), done = 0;
    while (done < n) {
        ssize_t w = write(fd, pw + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += (size_t)w;
    }
    int ok = done == n && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    if (close(fd) != 0) ok = 0;
    if (!ok) {
        int e = errno;
        unlink(path);
        errno = e;
    }
    return ok ? KG_OK : KG_IO;
}

/*
 * The first start: when the store has no user, makes admin@localhost (accountadmin).  The
 * password is `given` (borrowed; from --admin-password-file or the environment, named by
 * `source`), or generated and then shown on stdout if that is a terminal, else first written
 * to `<keys_dir>/admin-password` (so that it cannot be lost once the user exists) and only
 * the file's path logged.  Called once the HTTP server listens.
 */
static kg_err first_user(struct app *a, const char *keys_dir, const char *given, const char *source)
{
    kg_err rc;
    int64_t n = 0;
    int created = 0, tty = 0;
    char generated[33] = "", path[4096] = "";
    if ((rc = store_user_count(a->st, &n)) != KG_OK) goto out;
    if (n > 0) {
        if (given) KG_LOG(LOG_INFO, "users exist: the password from %s is not used", source);
        goto out;
    }
    if (!given) {
        ids_base62(generated, 24);
        tty = isatty(STDOUT_FILENO);
        if (!tty) {
            int m = snprintf(path, sizeof path, "%s/%s", keys_dir, PASSWORD_FILE);
            if (m < 0 || m >= (int)sizeof path) {
                rc = KG_INVALID;
                goto out;
            }
            if ((rc = password_write(path, generated)) == KG_CONFLICT) {
                /* another node sharing the key directory may be making the user right now */
                KG_LOG(LOG_WARNING,
                       "first start: %s exists, so no first user was made here; if no other node "
                       "made one, delete it and restart, or give --admin-password-file",
                       path);
                rc = KG_OK;
                goto out;
            }
            if (rc != KG_OK) {
                KG_LOG(LOG_ERR, "first start: cannot write %s: %s", path, strerror(errno));
                goto out;
            }
        }
    }
    if ((rc = service_bootstrap(a, given ? given : generated, &created)) != KG_OK || !created) {
        if (path[0]) unlink(path); /* no user with this password: leave no file claiming one */
        goto out;
    }
    if (given) {
        KG_LOG(LOG_NOTICE,
               "first start: created user admin@localhost (accountadmin) with the password from %s",
               source);
    } else if (tty) {
        /* Shown once, on the operator's terminal (stdout), never in the log. */
        printf("keygate: first start; created user admin@localhost (accountadmin)\n"
               "keygate:   email:    admin@localhost\n"
               "keygate:   password: %s\n"
               "keygate: this password is shown only once.\n",
               generated);
        fflush(stdout);
        KG_LOG(LOG_NOTICE, "first start: created user admin@localhost (accountadmin); its password "
                           "is shown on the terminal");
    } else {
        KG_LOG(LOG_NOTICE,
               "first start: created user admin@localhost (accountadmin); its password is in %s "
               "(mode 0600): read it, then delete the file",
               path);
    }
out:
    sodium_memzero(generated, sizeof generated);
    if (rc != KG_OK) KG_LOG(LOG_ERR, "cannot create the first user: %s", kg_err_name(rc));
    return rc;
}

/* ---- serve --------------------------------------------------------------------------- */

/* Says why the HTTP server could not listen on `listen` (err: errno of a KG_IO), and how to
 * choose another address. */
static void listen_error(const char *listen, kg_err rc, int err)
{
    char host[64] = "127.0.0.1";
    unsigned port = 0;
    http_parse_listen(listen, host, sizeof host, &port);
    int v6 = strchr(host, ':') != NULL;
    if (rc == KG_IO && err == EADDRINUSE)
        KG_LOG(LOG_ERR,
               "cannot listen on %s: the address is in use; choose another with --listen "
               "%s%s%s:PORT (make run PORT=9090)",
               listen, v6 ? "[" : "", host, v6 ? "]" : "");
    else if (rc == KG_IO && err == EACCES)
        KG_LOG(LOG_ERR,
               "cannot listen on %s: permission denied (ports below 1024 need privileges); choose "
               "another with --listen %s%s%s:PORT",
               listen, v6 ? "[" : "", host, v6 ? "]" : "");
    else if (rc == KG_IO && err == EADDRNOTAVAIL)
        KG_LOG(LOG_ERR, "cannot listen on %s: no interface of this machine has that address",
               listen);
    else if (rc == KG_IO && err)
        KG_LOG(LOG_ERR, "cannot listen on %s: %s", listen, strerror(err));
    else
        KG_LOG(LOG_ERR, "cannot listen on %s: %s", listen, kg_err_name(rc));
}

/* http_config.peer_trusted: the peer is one of the --trusted-proxy ranges. */
static int peer_trusted(const struct sockaddr *sa, void *ctx)
{
    return proxy_trusts_sockaddr(ctx, sa);
}

int server_run(const struct server_opts *o)
{
    int status = 1, bg_started = 0;
    struct http_server *http = NULL;
    struct app app;
    struct bg bg = {0};
    pthread_t bg_thread, keys_thread;
    const char *given = NULL, *source = NULL;
    kg_err rc;
    memset(&app, 0, sizeof app);

    /* Block the stop signals in every thread; this one waits for them below. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct app_opts ao = {.db = o->db,
                          .db_shown = o->db_shown,
                          .keys_dir = o->keys_dir,
                          .serve = 1,
                          .session_idle = o->session_idle,
                          .policy = o->policy,
                          .gate_headers = o->gate_headers,
                          .trusted_proxy = o->trusted_proxy,
                          .forwarded_header = o->forwarded_header};
    /* a SQLite database's view is saved next to it at a stop, and read back at the next start */
    char saved[4096];
    const char *file = store_sqlite_file(o->db);
    if (file && snprintf(saved, sizeof saved, "%s.view", file) < (int)sizeof saved)
        ao.saved_view = saved;
    struct app_config *cfg = &ao.cfg;
    int n = o->issuer ? snprintf(cfg->issuer, sizeof cfg->issuer, "%s", o->issuer)
                      : snprintf(cfg->issuer, sizeof cfg->issuer, "http://%s", o->listen);
    int m = snprintf(cfg->audience, sizeof cfg->audience, "%s",
                     o->audience ? o->audience : cfg->issuer);
    if (n < 0 || n >= (int)sizeof cfg->issuer || m < 0 || m >= (int)sizeof cfg->audience) {
        KG_LOG(LOG_ERR, "--issuer and --audience must be at most %d bytes", KG_ISSUER_MAX);
        goto out;
    }
    if (o->admin_password) {
        size_t len = strlen(o->admin_password);
        if (len < 8 || len > KG_PASSWORD_MAX) {
            KG_LOG(LOG_ERR, "%s must be 8 to %d bytes", o->admin_password_source, KG_PASSWORD_MAX);
            goto out;
        }
        given = o->admin_password, source = o->admin_password_source;
    }
    cfg->access_token_ttl = o->access_token_ttl;
    cfg->jwks_max_age = o->jwks_max_age;
    cfg->max_secret_lifetime = o->max_secret_lifetime;
    if (o->max_secret_lifetime)
        KG_LOG(LOG_INFO, "new secrets live %lld days at most (--max-secret-lifetime)",
               (long long)(o->max_secret_lifetime / 86400));
    cfg->secure_cookies = strncmp(cfg->issuer, "https://", 8) == 0;
    struct keys_opts ko = {.alg = -1, .publish_ms = o->jwks_max_age * 1000 + KEYS_SPREAD_MS};
    if (o->signing_alg && (ko.alg = keys_alg_parse(o->signing_alg)) < 0) {
        KG_LOG(LOG_ERR, "cannot start: --signing-alg is EdDSA, ES256 or RS256");
        goto out;
    }
    ao.keys_opts = &ko;
    char err[512];
    if (app_open(&ao, &app, err, sizeof err) != KG_OK) {
        KG_LOG(LOG_ERR, "%s", err);
        goto out;
    }
    if (o->db_new) KG_LOG(LOG_NOTICE, "created a new database at %s", o->db_shown);
    KG_LOG(LOG_NOTICE, "database: %s (%s); keys in %s", o->db_shown, o->db_why, o->keys_dir);
    if ((rc = webhooks_new(&app.webhooks)) != KG_OK) goto out;
    for (size_t i = 0; i < o->nwebhooks; i++) {
        if (webhooks_add(app.webhooks, o->webhooks[i], err, sizeof err) != KG_OK) {
            KG_LOG(LOG_ERR, "cannot start: %s: %s", o->webhooks_source, err);
            goto out;
        }
    }
    struct webhook_opts wo = {.timeout_ms = o->webhook_timeout_ms,
                              .attempts = o->webhook_attempts,
                              .backoff_ms = o->webhook_backoff_ms};
    if (webhooks_start(app.webhooks, app.st, &wo) != KG_OK) {
        KG_LOG(LOG_ERR, "cannot start the webhooks' delivery threads");
        goto out;
    }
    bg.app = &app;
    bg.view = app.view;
    bg.keys = app.keys;
    bg.ttl = o->access_token_ttl;
    bg.usage_flush_ms = o->usage_flush_ms > 0 ? o->usage_flush_ms : 2000;
    bg.usage_retention_s = o->usage_retention_s > 0 ? o->usage_retention_s : 90 * 86400;
    view_set_default_rate(app.view, o->default_rate_requests, o->default_rate_period_s);
    view_set_counting(app.view, !o->usage_off);
    if (o->usage_off) KG_LOG(LOG_INFO, "usage counts are off (--no-usage-counts)");
    if (o->default_rate_requests)
        KG_LOG(LOG_INFO, "tokens without a rate limit of their own: %lld requests in %lld s",
               (long long)o->default_rate_requests, (long long)o->default_rate_period_s);
    if (pthread_create(&bg_thread, NULL, bg_main, &bg) != 0) goto out;
    if (pthread_create(&keys_thread, NULL, keys_main, &bg) != 0) {
        atomic_store(&bg.stop, 1);
        pthread_join(bg_thread, NULL);
        goto out;
    }
    bg_started = 1;

    struct http_config hc = {.listen = o->listen,
                             .threads = o->threads,
                             .body_max = route_body_max(),
                             .max_conns = o->max_conns,
                             .max_conns_per_ip = o->max_conns_per_ip,
                             .header_timeout = o->header_timeout,
                             .idle_timeout = o->idle_timeout,
                             .min_body_rate = o->min_body_rate,
                             .hsts = app.cfg.secure_cookies, /* the issuer is https:// */
                             /* a trusted proxy carries many clients: no per-address cap */
                             .peer_trusted = app.proxy ? peer_trusted : NULL,
                             .peer_trusted_ctx = app.proxy};
    if ((rc = http_server_start(&hc, route_request, &app, &http)) != KG_OK) {
        listen_error(o->listen, rc, errno);
        goto out;
    }
    /* Only now, with the port held: a start that cannot listen makes no user. */
    if (first_user(&app, o->keys_dir, given, source) != KG_OK) goto out;
    KG_LOG(LOG_NOTICE, "keygate serving on http://%s (issuer %s)", o->listen, app.cfg.issuer);
    if (!o->issuer)
        KG_LOG(LOG_NOTICE,
               "no --issuer given: tokens name %s as their issuer, and clients must "
               "reach keygate at that URL; behind a proxy or a public name, set "
               "--issuer to the URL users reach",
               app.cfg.issuer);

    int sig = 0;
    while (sigwait(&stop_signals, &sig) == 0 && sig == SIGHUP)
        gate_reload(app.gate);
    KG_LOG(LOG_NOTICE, "signal %d: shutting down", sig);
    status = 0;
out:
    http_server_free(http);
    if (bg_started) {
        atomic_store(&bg.stop, 1);
        pthread_join(bg_thread, NULL);
        pthread_join(keys_thread, NULL);
    }
    webhooks_free(app.webhooks); /* before the store closes: their threads use it */
    app.webhooks = NULL;
    app_close(&app); /* a no-op when it was never opened */
    return status;
}
