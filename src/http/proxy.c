/*
 * proxy.c — trusted proxy ranges and the client address behind them.
 *
 * Layout: the range list (addresses and ranges themselves are cidr.h's), the header's hops
 * read from the right.
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cidr.h"
#include "log.h"
#include "util.h"

struct proxy {
    struct cidr r[PROXY_RANGES_MAX];
    size_t n;
    enum proxy_header header;
};

/* Moves *s and *len past the spaces and tabs at both ends. */
static void trim(const char **s, size_t *len)
{
    while (*len && (**s == ' ' || **s == '\t'))
        (*s)++, (*len)--;
    while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        (*len)--;
}

static int trusted(const struct proxy *p, const struct cidr_addr *a)
{
    for (size_t i = 0; p && i < p->n; i++)
        if (cidr_contains(&p->r[i], a)) return 1;
    return 0;
}

/* ---- the range list ---------------------------------------------------------------------- */

kg_err proxy_new(const char *ranges, const char *header, struct proxy **out, char *err,
                 size_t err_size)
{
    struct proxy *p = calloc(1, sizeof *p);
    if (!p) return KG_ENOMEM;
    if (!header || strcasecmp(header, "X-Forwarded-For") == 0)
        p->header = PROXY_X_FORWARDED_FOR;
    else if (strcasecmp(header, "Forwarded") == 0)
        p->header = PROXY_FORWARDED;
    else if (strcasecmp(header, "X-Real-IP") == 0)
        p->header = PROXY_X_REAL_IP;
    else {
        snprintf(err, err_size, "--forwarded-header is X-Forwarded-For, Forwarded or X-Real-IP");
        free(p);
        return KG_INVALID;
    }
    const char *s = ranges ? ranges : "";
    while (*s) {
        size_t len = strcspn(s, ",");
        const char *item = s;
        size_t il = len;
        trim(&item, &il);
        if (p->n == PROXY_RANGES_MAX || !cidr_parse(item, il, &p->r[p->n])) {
            char shown[64];
            size_t keep = il < sizeof shown - 1 ? il : sizeof shown - 1;
            memcpy(shown, item, keep);
            shown[keep] = '\0';
            kg_log_clean(shown, shown, sizeof shown);
            if (p->n == PROXY_RANGES_MAX)
                snprintf(err, err_size, "--trusted-proxy takes at most %d ranges",
                         PROXY_RANGES_MAX);
            else
                snprintf(err, err_size, "--trusted-proxy: '%s' is not an address or CIDR range",
                         shown);
            free(p);
            return KG_INVALID;
        }
        p->n++;
        s += len;
        if (*s == ',') s++;
    }
    *out = p;
    return KG_OK;
}

void proxy_free(struct proxy *p)
{
    free(p);
}

const char *proxy_header_name(const struct proxy *p)
{
    static const char *const names[] = {"X-Forwarded-For", "Forwarded", "X-Real-IP"};
    return names[p ? p->header : PROXY_X_FORWARDED_FOR];
}

int proxy_trusts(const struct proxy *p, const char *addr)
{
    struct cidr_addr a;
    return p && addr && cidr_addr_parse(addr, strlen(addr), &a) && trusted(p, &a);
}

int proxy_trusts_sockaddr(const struct proxy *p, const struct sockaddr *sa)
{
    struct cidr_addr a;
    memset(&a, 0, sizeof a);
    if (!p || !sa) return 0;
    if (sa->sa_family == AF_INET) {
        a.family = AF_INET;
        memcpy(a.b, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        a.family = AF_INET6;
        memcpy(a.b, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
        cidr_addr_normalise(&a);
    } else {
        return 0;
    }
    return trusted(p, &a);
}

void proxy_addr_group(const char *addr, char out[PROXY_ADDR_MAX])
{
    struct cidr_addr a;
    kg_strcpy(out, PROXY_ADDR_MAX, addr ? addr : "");
    /* the token endpoint's path: an IPv4 address (no ':') is already what is counted */
    if (!addr || !strchr(addr, ':') || !cidr_addr_parse(addr, strlen(addr), &a)) return;
    if (a.family == AF_INET6) memset(a.b + 8, 0, 8);
    cidr_addr_text(&a, out);
    if (a.family != AF_INET6) return;
    size_t n = strlen(out);
    if (n && n + 4 < PROXY_ADDR_MAX) memcpy(out + n, "/64", 4);
}

/* ---- the hops ---------------------------------------------------------------------------- */

/* Reads one hop s[0..len) as an address: X-Forwarded-For's "a", "a:port", "[v6]:port", or
 * Forwarded's element "for=…;proto=…" with its value maybe quoted. */
static int hop_parse(enum proxy_header h, const char *s, size_t len, struct cidr_addr *a)
{
    trim(&s, &len);
    if (h == PROXY_FORWARDED) { /* find the for= pair among ';'-separated pairs */
        const char *v = NULL;
        size_t vl = 0;
        while (len) {
            size_t pl = 0;
            while (pl < len && s[pl] != ';')
                pl++;
            const char *q = s;
            size_t ql = pl;
            trim(&q, &ql);
            if (ql > 4 && strncasecmp(q, "for=", 4) == 0) {
                if (v) return 0; /* two for= in one element */
                v = q + 4;
                vl = ql - 4;
            }
            s += pl;
            len -= pl;
            if (len) s++, len--;
        }
        if (!v) return 0;
        if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') v++, vl -= 2;
        s = v;
        len = vl;
    }
    if (len && s[0] == '[') { /* [v6] or [v6]:port */
        const char *close = memchr(s, ']', len);
        if (!close) return 0;
        size_t after = len - (size_t)(close - s) - 1;
        if (after && close[1] != ':') return 0;
        return cidr_addr_parse(s + 1, (size_t)(close - s) - 1, a);
    }
    const char *colon = memchr(s, ':', len);
    if (colon && !memchr(colon + 1, ':', len - (size_t)(colon - s) - 1) && memchr(s, '.', len))
        len = (size_t)(colon - s); /* a.b.c.d:port */
    return cidr_addr_parse(s, len, a);
}

void proxy_client(const struct proxy *p, const char *peer, const char *const *values, size_t n,
                  char out[PROXY_ADDR_MAX])
{
    struct cidr_addr cur;
    kg_strcpy(out, PROXY_ADDR_MAX, peer ? peer : "");
    if (!p || !peer || !cidr_addr_parse(peer, strlen(peer), &cur) || !trusted(p, &cur)) return;
    if (p->header == PROXY_X_REAL_IP) {
        struct cidr_addr a;
        if (n == 1 && hop_parse(p->header, values[0], strlen(values[0]), &a))
            cidr_addr_text(&a, out);
        return;
    }
    /* Right to left over the lines, and over each line's comma-separated hops. */
    for (size_t i = n; i-- > 0;) {
        const char *line = values[i];
        size_t end = strlen(line);
        for (;;) {
            size_t start = end;
            while (start && line[start - 1] != ',')
                start--;
            struct cidr_addr a;
            int blank = 1;
            for (size_t k = start; k < end && blank; k++)
                blank = line[k] == ' ' || line[k] == '\t';
            if (!blank) { /* "a, , b": an empty item is skipped, as RFC 9110 lists allow */
                if (!hop_parse(p->header, line + start, end - start, &a)) goto done;
                cur = a;
                if (!trusted(p, &a)) goto done;
            }
            if (start == 0) break;
            end = start - 1;
        }
    }
done:
    cidr_addr_text(&cur, out);
}
