/*
 * http_int.h — what both HTTP adapters (http_ev.c, http_mhd.c) share, written once in
 * http_util.c: nothing above the adapter includes this.
 */
#ifndef KG_HTTP_INT_H
#define KG_HTTP_INT_H

/* The value of hex digit c, or -1. */
int http_hexval(char c);

/* At most `want` connections, or fewer when the open-file limit leaves room for fewer (logged,
 * as a warning when `explicit_value`, the operator's own --max-conns): the rest of keygate
 * keeps descriptors for stdio, the database and its journal, key files, PostgreSQL
 * connections, the listener, and two per thread. */
unsigned http_fit_conn_limit(unsigned want, unsigned threads, int explicit_value);

#endif
