/*
 * server.h — `keygate serve`: wires store, keys, view and HTTP together and runs until
 * SIGINT/SIGTERM.
 */
#ifndef KG_SERVER_H
#define KG_SERVER_H

#include <stdint.h>

struct server_opts {
    const char *listen;   /* "127.0.0.1:8080" */
    const char *db;       /* store URI */
    const char *keys_dir; /* where hash.key and signing.key live */
    const char *issuer;   /* NULL = "http://" + listen */
    const char *audience; /* NULL = issuer */
    const char *policy;   /* the gate's route policy file; NULL = deny every route */
    int64_t access_token_ttl;
    int64_t session_idle; /* seconds a pane session lives unused */
    unsigned threads;     /* 0 = one per core */
    /* connection limits and timeouts (struct http_config); 0 = the built-in default */
    unsigned max_conns, max_conns_per_ip, header_timeout, idle_timeout;
    unsigned min_body_rate; /* bytes a second; 0 = the built-in default */
};

/* Returns the process exit status. */
int server_run(const struct server_opts *o);

#endif
