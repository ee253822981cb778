/*
 * app.c — opening and closing the app (app.h): the one way the server, the CLI and the fuzz
 * drivers assemble a store, keys, the in-memory view and the serving parts.
 */
#include "app.h"

#include <stdio.h>
#include <string.h>

#include "gate.h"
#include "log.h"
#include "proxy.h"
#include "tcache.h"
#include "util.h"
#include "vcache.h"

kg_err app_open(const struct app_opts *o, struct app *a, char *err, size_t err_size)
{
    kg_err rc = KG_OK;
    memset(a, 0, sizeof *a);
    a->cfg = o->cfg;
    err[0] = '\0';
    if (o->serve) {
        enum gate_headers form = GATE_HEADERS_AUTO;
        if ((rc = sessions_new(o->session_idle, &a->sessions)) != KG_OK ||
            (rc = throttle_new(&a->throttle)) != KG_OK || (rc = vcache_new(&a->vcache)) != KG_OK ||
            (rc = tcache_new(TCACHE_BUDGET, &a->tcache)) != KG_OK) {
            snprintf(err, err_size, "cannot start: %s", kg_err_name(rc));
            goto out;
        }
        if (o->gate_headers && (rc = gate_headers_parse(o->gate_headers, &form)) != KG_OK) {
            snprintf(err, err_size,
                     "--gate-headers is auto, original (nginx, envoy) or forwarded "
                     "(traefik, caddy)");
            goto out;
        }
        if (o->trusted_proxy || o->forwarded_header) {
            char why[160] = "";
            if ((rc = proxy_new(o->trusted_proxy, o->forwarded_header, &a->proxy, why,
                                sizeof why)) != KG_OK) {
                snprintf(err, err_size, "cannot start: %s", why[0] ? why : "out of memory");
                goto out;
            }
            if (o->trusted_proxy)
                KG_LOG(LOG_INFO, "client addresses from %s when the peer is in %s",
                       proxy_header_name(a->proxy), o->trusted_proxy);
        }
        if ((rc = gate_new(o->policy, form, &a->gate)) != KG_OK) {
            snprintf(err, err_size, "cannot start: the policy file %s was refused", o->policy);
            goto out;
        }
    }
    if (o->db && (rc = store_open(o->db, &a->st)) != KG_OK) {
        snprintf(err, err_size, "cannot open the database %s: %s",
                 o->db_shown ? o->db_shown : o->db, kg_err_name(rc));
        goto out;
    }
    if (o->keys_dir && (rc = keys_open(o->keys_dir, o->keys_opts, &a->keys)) != KG_OK) {
        snprintf(err, err_size, "cannot load or create keys in %s: %s", o->keys_dir,
                 kg_err_name(rc));
        goto out;
    }
    if (o->serve && a->st) {
        int64_t t0 = kg_now_ms();
        const char *why = "";
        if ((rc = o->saved_view ? view_new_saved(a->st, o->saved_view, &a->view, &why)
                                : view_new(a->st, &a->view)) != KG_OK) {
            snprintf(err, err_size, "cannot load the database: %s", kg_err_name(rc));
            goto out;
        }
        a->saved_view = o->saved_view;
        if (why && why[0])
            KG_LOG(LOG_WARNING, "the view saved at the last stop was not read: %s", why);
        KG_LOG(LOG_INFO, "loaded the database in %lld ms%s", (long long)(kg_now_ms() - t0),
               why ? "" : " (from the view saved at the last stop, and the changes since)");
    }
out:
    if (rc != KG_OK) app_close(a);
    return rc;
}

void app_close(struct app *a)
{
    if (a->view) view_flush_touches(a->view);
    if (a->view) view_flush_usage(a->view, kg_now_ms());
    if (a->view && a->saved_view) {
        int64_t t0 = kg_now_ms();
        kg_err rc = view_save(a->view, a->saved_view);
        if (rc == KG_OK)
            KG_LOG(LOG_INFO, "saved the view in %lld ms, for the next start",
                   (long long)(kg_now_ms() - t0));
        else
            KG_LOG(LOG_WARNING, "cannot save the view to %s (%s): the next start loads in full",
                   a->saved_view, kg_err_name(rc));
    }
    view_free(a->view);
    sessions_free(a->sessions);
    gate_free(a->gate);
    proxy_free(a->proxy);
    throttle_free(a->throttle);
    vcache_free(a->vcache);
    tcache_free(a->tcache);
    keys_free(a->keys);
    store_free(a->st);
    memset(a, 0, sizeof *a);
}
