/*
 * proxy.h — the trusted reverse proxies (--trusted-proxy CIDR[,CIDR…]) and the client address
 * they report.  Only a request whose TCP peer lies in one of the ranges has its forwarding
 * header read, and only the one header the deployment names (--forwarded-header): a client
 * can send any header it likes, and a proxy passes what it does not set straight through.
 *
 * The client is the right-most untrusted hop: the header's hops are read from the right
 * (nearest) to the left, skipping the trusted ones; the first that is not trusted is the
 * client.  A hop that is not an address ("unknown", an obfuscated Forwarded name, garbage)
 * stops the walk and the address of the hop to its right (the trusted proxy that passed it)
 * stands.  Addresses come back numeric and normalised (an IPv4-mapped IPv6 address as IPv4).
 */
#ifndef KG_PROXY_H
#define KG_PROXY_H

#include <stddef.h>
#include <sys/socket.h>

#include "err.h"

#define PROXY_RANGES_MAX 64
#define PROXY_ADDR_MAX 64 /* bytes of a numeric address with its NUL */

enum proxy_header {
    PROXY_X_FORWARDED_FOR = 0, /* X-Forwarded-For: a, b, c (the default) */
    PROXY_FORWARDED,           /* RFC 7239 Forwarded: for=a, for="[b]:port" */
    PROXY_X_REAL_IP,           /* X-Real-IP: one address, set (not appended) by the proxy */
};

struct proxy;

/* Parses "CIDR[,CIDR…]" (IPv4 or IPv6, a bare address is a /32 or /128; at most
 * PROXY_RANGES_MAX) and the header name ("X-Forwarded-For", "Forwarded", "X-Real-IP", any
 * case; NULL = X-Forwarded-For).  KG_INVALID with a message in err (the offending item) when
 * either is malformed.  Caller owns *out (proxy_free). */
kg_err proxy_new(const char *ranges, const char *header, struct proxy **out, char *err,
                 size_t err_size);
void proxy_free(struct proxy *p); /* NULL is a no-op */

/* The header the deployment reads ("X-Forwarded-For", …); static. */
const char *proxy_header_name(const struct proxy *p);

/* 1 when the numeric address `addr` (or the socket address `sa`) lies in a trusted range.
 * NULL p: 0. */
int proxy_trusts(const struct proxy *p, const char *addr);
int proxy_trusts_sockaddr(const struct proxy *p, const struct sockaddr *sa);

/* The address as the brute-force throttle counts it: an IPv4 address whole, an IPv6 one by its
 * /64 ("2001:db8:1:2::/64"), the least a site is given, so that one client cannot take a fresh
 * count from each of its 2^64 addresses.  Anything else is copied as it is. */
void proxy_addr_group(const char *addr, char out[PROXY_ADDR_MAX]);

/*
 * The client address of a request whose TCP peer is `peer` (numeric) and whose forwarding
 * header lines are values[0..n) (in the order received; n may be 0).  Writes it to
 * out[PROXY_ADDR_MAX].  Without a trusted peer (or with NULL p) that is `peer` itself.
 * X-Real-IP given more than once is not believed (the peer stands).
 */
void proxy_client(const struct proxy *p, const char *peer, const char *const *values, size_t n,
                  char out[PROXY_ADDR_MAX]);

#endif
