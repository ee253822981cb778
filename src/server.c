/*
 * server.c — the serve command: start-up, the background sync/flush thread, shutdown.
 *
 * The background thread keeps the view within ~200 ms of the store (so a revoke made by the
 * CLI or another process takes effect well within a second) and writes last-access times
 * behind once a second.
 */
#include "server.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "gate.h"
#include "http.h"
#include "log.h"
#include "route.h"
#include "service.h"
#include "util.h"
#include "vcache.h"

#define SYNC_MS 200
#define FLUSH_MS 1000

struct bg {
    struct app *app;
    struct view *view;
    struct keys *keys;
    int64_t ttl; /* the access-token lifetime: how long a retired key stays published */
    atomic_int stop;
};

static void *bg_main(void *arg)
{
    struct bg *b = arg;
    int64_t last_flush = kg_now_ms();
    while (!atomic_load(&b->stop)) {
        struct timespec ts = {0, SYNC_MS * 1000000L};
        nanosleep(&ts, NULL);
        kg_err rc = view_sync(b->view);
        int down = rc == KG_UNAVAILABLE || rc == KG_IO;
        if (down != atomic_exchange(&b->app->store_down, down))
            KG_LOG(down ? LOG_ERR : LOG_NOTICE, down ? "the database is unreachable: serving from memory, refusing writes"
                                                     : "the database is back");
        keys_refresh(b->keys, b->ttl);
        if (kg_now_ms() - last_flush >= FLUSH_MS) {
            view_flush_touches(b->view);
            last_flush = kg_now_ms();
        }
    }
    return NULL;
}

int server_run(const struct server_opts *o)
{
    int status = 1, bg_started = 0, created = 0;
    struct store *st = NULL;
    struct keys *keys = NULL;
    struct view *view = NULL;
    struct http_server *http = NULL;
    struct sessions *sessions = NULL;
    struct throttle *throttle = NULL;
    struct gate *gate = NULL;
    struct vcache *vcache = NULL;
    struct app app;
    struct bg bg = {0};
    pthread_t bg_thread;
    char password[33] = "";
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

    int n = o->issuer ? snprintf(app.cfg.issuer, sizeof app.cfg.issuer, "%s", o->issuer)
                      : snprintf(app.cfg.issuer, sizeof app.cfg.issuer, "http://%s", o->listen);
    int m = snprintf(app.cfg.audience, sizeof app.cfg.audience, "%s", o->audience ? o->audience : app.cfg.issuer);
    if (n < 0 || n >= (int)sizeof app.cfg.issuer || m < 0 || m >= (int)sizeof app.cfg.audience) {
        KG_LOG(LOG_ERR, "--issuer and --audience must be at most %d bytes", KG_ISSUER_MAX);
        goto out;
    }
    app.cfg.access_token_ttl = o->access_token_ttl;
    app.cfg.secure_cookies = strncmp(app.cfg.issuer, "https://", 8) == 0;
    if (sessions_new(o->session_idle, &sessions) != KG_OK || throttle_new(&throttle) != KG_OK ||
        vcache_new(&vcache) != KG_OK)
        goto out;
    app.sessions = sessions;
    app.vcache = vcache;
    app.throttle = throttle;
    if ((rc = gate_new(o->policy, &gate)) != KG_OK) {
        KG_LOG(LOG_ERR, "cannot start: the policy file %s was refused", o->policy);
        goto out;
    }
    app.gate = gate;

    if ((rc = store_open(o->db, &st)) != KG_OK) {
        KG_LOG(LOG_ERR, "cannot open the database %s: %s", o->db, kg_err_name(rc));
        goto out;
    }
    if ((rc = keys_open(o->keys_dir, &keys)) != KG_OK) {
        KG_LOG(LOG_ERR, "cannot load or create keys in %s: %s", o->keys_dir, kg_err_name(rc));
        goto out;
    }
    int64_t t0 = kg_now_ms();
    if ((rc = view_new(st, &view)) != KG_OK) {
        KG_LOG(LOG_ERR, "cannot load the database: %s", kg_err_name(rc));
        goto out;
    }
    KG_LOG(LOG_INFO, "loaded the database in %lld ms", (long long)(kg_now_ms() - t0));
    app.st = st;
    app.keys = keys;
    app.view = view;
    if ((rc = service_bootstrap(&app, &created, password)) != KG_OK) {
        KG_LOG(LOG_ERR, "cannot create the first user: %s", kg_err_name(rc));
        goto out;
    }
    if (created) {
        /* Shown once, on the operator's terminal (stdout), never in the log. */
        printf("keygate: first start; created user admin@localhost (accountadmin)\n"
               "keygate:   email:    admin@localhost\n"
               "keygate:   password: %s\n"
               "keygate: this password is shown only once.\n",
               password);
        fflush(stdout);
    }

    bg.app = &app;
    bg.view = view;
    bg.keys = keys;
    bg.ttl = o->access_token_ttl;
    if (pthread_create(&bg_thread, NULL, bg_main, &bg) != 0) goto out;
    bg_started = 1;

    struct http_config hc = {.listen = o->listen,
                             .threads = o->threads,
                             .body_max = 64 * 1024,
                             .max_conns = o->max_conns,
                             .max_conns_per_ip = o->max_conns_per_ip,
                             .header_timeout = o->header_timeout,
                             .idle_timeout = o->idle_timeout,
                             .min_body_rate = o->min_body_rate,
                             .hsts = app.cfg.secure_cookies /* the issuer is https:// */};
    if ((rc = http_server_start(&hc, route_request, &app, &http)) != KG_OK) {
        KG_LOG(LOG_ERR, "cannot listen on %s: %s", o->listen, kg_err_name(rc));
        goto out;
    }
    KG_LOG(LOG_NOTICE, "keygate serving on http://%s (issuer %s)", o->listen, app.cfg.issuer);

    int sig = 0;
    while (sigwait(&stop_signals, &sig) == 0 && sig == SIGHUP) gate_reload(gate);
    KG_LOG(LOG_NOTICE, "signal %d: shutting down", sig);
    status = 0;
out:
    http_server_free(http);
    if (bg_started) {
        atomic_store(&bg.stop, 1);
        pthread_join(bg_thread, NULL);
    }
    if (view) view_flush_touches(view);
    view_free(view);
    sessions_free(sessions);
    gate_free(gate);
    throttle_free(throttle);
    vcache_free(vcache);
    keys_free(keys);
    store_free(st);
    memset(password, 0, sizeof password);
    return status;
}
