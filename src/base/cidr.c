/*
 * cidr.c — addresses and ranges (cidr.h).
 */
#include "cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void cidr_addr_normalise(struct cidr_addr *a)
{
    if (a->family == AF_INET6 && memcmp(a->b, v4_mapped, 12) == 0) {
        memmove(a->b, a->b + 12, 4);
        memset(a->b + 4, 0, 12);
        a->family = AF_INET;
    }
}

int cidr_addr_parse_raw(const char *s, size_t len, struct cidr_addr *a)
{
    char buf[INET6_ADDRSTRLEN + 1];
    if (len == 0 || len >= sizeof buf) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(a, 0, sizeof *a);
    if (inet_pton(AF_INET, buf, a->b) == 1)
        a->family = AF_INET;
    else if (inet_pton(AF_INET6, buf, a->b) == 1)
        a->family = AF_INET6;
    else
        return 0;
    return 1;
}

int cidr_addr_parse(const char *s, size_t len, struct cidr_addr *a)
{
    if (!cidr_addr_parse_raw(s, len, a)) return 0;
    cidr_addr_normalise(a);
    return 1;
}

void cidr_addr_text(const struct cidr_addr *a, char *out)
{
    if (!inet_ntop(a->family, a->b, out, CIDR_TEXT_MAX)) out[0] = '\0';
}

int cidr_parse(const char *s, size_t len, struct cidr *r)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    struct cidr_addr raw;
    if (!cidr_addr_parse_raw(s, alen, &raw)) return 0;
    unsigned max = raw.family == AF_INET ? 32 : 128;
    int64_t bits = max;
    if (slash) {
        char nb[8];
        size_t nl = len - alen - 1;
        if (nl == 0 || nl >= sizeof nb) return 0;
        memcpy(nb, slash + 1, nl);
        nb[nl] = '\0';
        if (kg_parse_int64(nb, 0, max, &bits) != KG_OK) return 0;
    }
    /* "::ffff:10.0.0.0/104" is the IPv4 range 10.0.0.0/8: peers are compared as IPv4. */
    if (raw.family == AF_INET6 && memcmp(raw.b, v4_mapped, 12) == 0 && bits >= 96) {
        cidr_addr_normalise(&raw);
        bits -= 96;
    }
    r->a = raw;
    r->bits = (unsigned)bits;
    for (unsigned i = r->bits; i < (r->a.family == AF_INET ? 32u : 128u); i++)
        r->a.b[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
    return 1;
}

int cidr_contains(const struct cidr *r, const struct cidr_addr *a)
{
    if (r->a.family != a->family) return 0;
    unsigned full = r->bits / 8, rest = r->bits % 8;
    if (memcmp(r->a.b, a->b, full) != 0) return 0;
    if (!rest) return 1;
    unsigned char mask = (unsigned char)(0xffu << (8 - rest));
    return (r->a.b[full] & mask) == (a->b[full] & mask);
}

void cidr_text(const struct cidr *r, char *out)
{
    char a[CIDR_TEXT_MAX];
    cidr_addr_text(&r->a, a);
    if (!a[0] || snprintf(out, CIDR_TEXT_MAX, "%s/%u", a, r->bits) >= CIDR_TEXT_MAX) out[0] = '\0';
}
