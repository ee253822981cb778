/*
 * cidr.h — IP addresses and CIDR ranges, IPv4 and IPv6: parsing, matching, canonical text.
 *
 * Addresses are compared normalised: an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the
 * IPv4 address it carries, so that a dual-stack socket's peer matches an IPv4 range.  The
 * trusted proxies (proxy.h) and a token's allowed ranges (allowedCidrs) both use this.
 */
#ifndef KG_CIDR_H
#define KG_CIDR_H

#include <stddef.h>

#define CIDR_TEXT_MAX 49 /* bytes of "ffff:…:ffff/128" (39 + 4), with room, and its NUL */

struct cidr_addr {
    int family; /* AF_INET (4 bytes of b used) or AF_INET6 */
    unsigned char b[16];
};

struct cidr {
    struct cidr_addr a; /* host bits beyond `bits` are zero */
    unsigned bits;
};

/* Parses the numeric address s[0..len) (no brackets, no port) into *a, normalised; 1 on
 * success.  cidr_addr_parse_raw keeps an IPv4-mapped address IPv6, as written. */
int cidr_addr_parse(const char *s, size_t len, struct cidr_addr *a);
int cidr_addr_parse_raw(const char *s, size_t len, struct cidr_addr *a);
/* An IPv4-mapped IPv6 address becomes the IPv4 address it carries. */
void cidr_addr_normalise(struct cidr_addr *a);
/* The numeric text of a ("" if it cannot be written); out holds CIDR_TEXT_MAX bytes. */
void cidr_addr_text(const struct cidr_addr *a, char *out);

/* Parses "address[/bits]" s[0..len) (a bare address is a /32 or /128); host bits beyond the
 * prefix are cleared ("10.1.2.3/8" is 10.0.0.0/8) and "::ffff:10.0.0.0/104" is the IPv4 range
 * 10.0.0.0/8.  1 on success. */
int cidr_parse(const char *s, size_t len, struct cidr *r);
/* 1 when a lies in r (a normalised, as cidr_addr_parse makes it). */
int cidr_contains(const struct cidr *r, const struct cidr_addr *a);
/* The canonical text of r: "10.0.0.0/8", "2001:db8::/32"; out holds CIDR_TEXT_MAX bytes. */
void cidr_text(const struct cidr *r, char *out);

#endif
