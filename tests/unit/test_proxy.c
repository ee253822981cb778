/* Unit tests of proxy.c: trusted ranges (IPv4, IPv6, mapped, bad input) and the client
 * address behind them (right-most untrusted hop, X-Forwarded-For, Forwarded, X-Real-IP). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "proxy.h"

static struct proxy *make(const char *ranges, const char *header)
{
    struct proxy *p = NULL;
    char err[160] = "";
    if (proxy_new(ranges, header, &p, err, sizeof err) != KG_OK)
        fail_msg("proxy_new(%s, %s) refused: %s", ranges, header ? header : "-", err);
    return p;
}

static void refused(const char *ranges, const char *header, const char *want_in_err)
{
    struct proxy *p = NULL;
    char err[160] = "";
    assert_int_equal(proxy_new(ranges, header, &p, err, sizeof err), KG_INVALID);
    assert_null(p);
    if (!strstr(err, want_in_err))
        fail_msg("error for '%s': '%s' lacks '%s'", ranges, err, want_in_err);
}

/* The client address for peer and the given header lines (NULL-terminated). */
static const char *client(const struct proxy *p, const char *peer, const char *const *lines)
{
    static char out[PROXY_ADDR_MAX];
    size_t n = 0;
    while (lines && lines[n])
        n++;
    proxy_client(p, peer, lines, n, out);
    return out;
}

#define LINES(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_ranges(void **state)
{
    (void)state;
    struct proxy *p = make("10.0.0.0/8, 192.168.1.7,2001:db8::/32 , ::1, 172.16.5.9/12", NULL);
    const char *in[] = {"10.0.0.1",        "10.255.255.255",  "192.168.1.7",
                        "2001:db8::1",     "2001:db8:ffff::", "::1",
                        "::ffff:10.1.2.3", "172.16.0.1",      "172.31.255.255"};
    const char *out[] = {"11.0.0.1",  "9.255.255.255",   "192.168.1.8", "2001:db9::1",    "::2",
                         "127.0.0.1", "::ffff:11.1.2.3", "172.32.0.1",  "172.15.255.255", "",
                         "garbage",   "10.0.0.1/8"};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        if (!proxy_trusts(p, in[i])) fail_msg("%s should be trusted", in[i]);
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++)
        if (proxy_trusts(p, out[i])) fail_msg("%s should not be trusted", out[i]);
    assert_false(proxy_trusts(NULL, "10.0.0.1"));

    struct sockaddr_in v4 = {.sin_family = AF_INET};
    inet_pton(AF_INET, "10.9.8.7", &v4.sin_addr);
    assert_true(proxy_trusts_sockaddr(p, (struct sockaddr *)&v4));
    inet_pton(AF_INET, "11.9.8.7", &v4.sin_addr);
    assert_false(proxy_trusts_sockaddr(p, (struct sockaddr *)&v4));
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:10.0.0.5", &v6.sin6_addr); /* a dual-stack listener's view */
    assert_true(proxy_trusts_sockaddr(p, (struct sockaddr *)&v6));
    inet_pton(AF_INET6, "2001:db8::5", &v6.sin6_addr);
    assert_true(proxy_trusts_sockaddr(p, (struct sockaddr *)&v6));
    proxy_free(p);

    /* A mapped range is an IPv4 range; host bits past the prefix are ignored. */
    p = make("::ffff:127.0.0.0/104,192.168.7.9/24", NULL);
    assert_true(proxy_trusts(p, "127.4.5.6"));
    assert_true(proxy_trusts(p, "192.168.7.200"));
    assert_false(proxy_trusts(p, "192.168.8.1"));
    proxy_free(p);

    /* /0 trusts everything of its family. */
    p = make("0.0.0.0/0", NULL);
    assert_true(proxy_trusts(p, "203.0.113.9"));
    assert_false(proxy_trusts(p, "2001:db8::1"));
    proxy_free(p);

    refused("10.0.0.0/33", NULL, "'10.0.0.0/33'");
    refused("::1/129", NULL, "'::1/129'");
    refused("10.0.0.0/", NULL, "is not an address");
    refused("10.0.0.0/-1", NULL, "is not an address");
    refused("10.0.0", NULL, "'10.0.0'");
    refused("10.0.0.1,,10.0.0.2", NULL, "''");
    refused("host.example", NULL, "host.example");
    refused("10.0.0.1", "X-Client-IP", "--forwarded-header");
    char many[2000] = "";
    for (int i = 0; i <= PROXY_RANGES_MAX; i++) {
        char one[24];
        snprintf(one, sizeof one, "%s10.0.%d.0/24", i ? "," : "", i);
        strcat(many, one);
    }
    refused(many, NULL, "at most");
}

static void test_forwarded_for(void **state)
{
    (void)state;
    struct proxy *p = make("10.0.0.0/8", "x-forwarded-for");
    assert_string_equal(proxy_header_name(p), "X-Forwarded-For");
    /* An untrusted peer: its headers are not read at all. */
    assert_string_equal(client(p, "203.0.113.5", LINES("198.51.100.1")), "203.0.113.5");
    /* A trusted peer: the right-most hop that is not trusted is the client. */
    assert_string_equal(client(p, "10.0.0.2", LINES("198.51.100.1")), "198.51.100.1");
    assert_string_equal(client(p, "10.0.0.2", LINES("1.1.1.1, 198.51.100.1")), "198.51.100.1");
    assert_string_equal(client(p, "10.0.0.2", LINES("1.1.1.1, 198.51.100.1, 10.3.3.3")),
                        "198.51.100.1");
    /* A spoofed left part changes nothing: the proxy appended the real peer on the right. */
    assert_string_equal(client(p, "10.0.0.2", LINES("10.9.9.9, 6.6.6.6, 198.51.100.1")),
                        "198.51.100.1");
    /* Every hop trusted: the left-most. */
    assert_string_equal(client(p, "10.0.0.2", LINES("10.1.1.1, 10.2.2.2")), "10.1.1.1");
    /* No header: the peer. */
    assert_string_equal(client(p, "10.0.0.2", NULL), "10.0.0.2");
    /* Several lines are one list, in order. */
    assert_string_equal(client(p, "10.0.0.2", LINES("6.6.6.6", "198.51.100.1, 10.4.4.4")),
                        "198.51.100.1");
    /* Ports, brackets, IPv6, mapped addresses, spaces and empty items. */
    assert_string_equal(client(p, "10.0.0.2", LINES("198.51.100.1:4711")), "198.51.100.1");
    assert_string_equal(client(p, "10.0.0.2", LINES("[2001:db8::7]:443")), "2001:db8::7");
    assert_string_equal(client(p, "10.0.0.2", LINES("2001:DB8::7")), "2001:db8::7");
    assert_string_equal(client(p, "10.0.0.2", LINES("::ffff:198.51.100.1")), "198.51.100.1");
    assert_string_equal(client(p, "::ffff:10.0.0.2", LINES("198.51.100.1")), "198.51.100.1");
    assert_string_equal(client(p, "10.0.0.2", LINES(" 198.51.100.1 ,  , 10.1.1.1 ")),
                        "198.51.100.1");
    /* A hop that is not an address stops the walk: the trusted hop right of it stands. */
    assert_string_equal(client(p, "10.0.0.2", LINES("198.51.100.1, unknown")), "10.0.0.2");
    assert_string_equal(client(p, "10.0.0.2", LINES("198.51.100.1, junk, 10.7.7.7")), "10.7.7.7");
    assert_string_equal(client(p, "10.0.0.2", LINES("1.2.3.4.5")), "10.0.0.2");
    assert_string_equal(client(p, "10.0.0.2", LINES("[2001:db8::7")), "10.0.0.2");
    assert_string_equal(client(p, "10.0.0.2", LINES("198.51.100.1\r\nX: y")), "10.0.0.2");
    /* No proxy set: always the peer. */
    assert_string_equal(client(NULL, "10.0.0.2", LINES("198.51.100.1")), "10.0.0.2");
    proxy_free(p);
}

static void test_forwarded(void **state)
{
    (void)state;
    struct proxy *p = make("10.0.0.0/8,2001:db8:1::/48", "Forwarded");
    assert_string_equal(proxy_header_name(p), "Forwarded");
    assert_string_equal(client(p, "10.0.0.2", LINES("for=198.51.100.1")), "198.51.100.1");
    assert_string_equal(client(p, "10.0.0.2", LINES("for=198.51.100.1;proto=https;by=10.0.0.2")),
                        "198.51.100.1");
    assert_string_equal(client(p, "10.0.0.2", LINES("proto=http;For=\"198.51.100.1:80\"")),
                        "198.51.100.1");
    assert_string_equal(client(p, "10.0.0.2", LINES("for=\"[2001:db8:cafe::17]:4711\"")),
                        "2001:db8:cafe::17");
    assert_string_equal(
        client(p, "10.0.0.2", LINES("for=6.6.6.6, for=198.51.100.1;proto=https, for=10.1.1.1")),
        "198.51.100.1");
    assert_string_equal(client(p, "2001:db8:1::9", LINES("for=\"[2001:db8:1::8]\", for=10.0.0.1")),
                        "2001:db8:1::8"); /* all trusted: the left-most */
    /* unknown, obfuscated names, a missing or doubled for=: the walk stops there */
    assert_string_equal(client(p, "10.0.0.2", LINES("for=198.51.100.1, for=unknown")), "10.0.0.2");
    assert_string_equal(client(p, "10.0.0.2", LINES("for=_hidden")), "10.0.0.2");
    assert_string_equal(client(p, "10.0.0.2", LINES("proto=https")), "10.0.0.2");
    assert_string_equal(client(p, "10.0.0.2", LINES("for=1.1.1.1;for=2.2.2.2")), "10.0.0.2");
    /* X-Forwarded-For is not what this deployment reads: proxy_client is only given the
     * Forwarded lines, so an XFF-shaped value is garbage here. */
    assert_string_equal(client(p, "10.0.0.2", LINES("198.51.100.1")), "10.0.0.2");
    proxy_free(p);
}

static void test_real_ip(void **state)
{
    (void)state;
    struct proxy *p = make("127.0.0.1", "X-Real-IP");
    assert_string_equal(client(p, "127.0.0.1", LINES("198.51.100.1")), "198.51.100.1");
    assert_string_equal(client(p, "127.0.0.1", LINES("2001:db8::1")), "2001:db8::1");
    /* Given twice, or not an address: not believed. */
    assert_string_equal(client(p, "127.0.0.1", LINES("198.51.100.1", "6.6.6.6")), "127.0.0.1");
    assert_string_equal(client(p, "127.0.0.1", LINES("1.1.1.1, 2.2.2.2")), "127.0.0.1");
    assert_string_equal(client(p, "127.0.0.2", LINES("198.51.100.1")), "127.0.0.2");
    proxy_free(p);
}

static void test_addr_group(void **state)
{
    (void)state;
    char out[PROXY_ADDR_MAX];
    proxy_addr_group("198.51.100.7", out);
    assert_string_equal(out, "198.51.100.7");
    proxy_addr_group("2001:db8:1:2:aaaa:bbbb:cccc:dddd", out);
    assert_string_equal(out, "2001:db8:1:2::/64");
    proxy_addr_group("2001:db8:1:2::1", out);
    assert_string_equal(out, "2001:db8:1:2::/64"); /* the same group: one count */
    proxy_addr_group("2001:db8:1:3::1", out);
    assert_string_equal(out, "2001:db8:1:3::/64");
    proxy_addr_group("::1", out);
    assert_string_equal(out, "::/64");
    proxy_addr_group("::ffff:198.51.100.7", out);
    assert_string_equal(out, "198.51.100.7");
    proxy_addr_group("local", out);
    assert_string_equal(out, "local");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranges),     cmocka_unit_test(test_forwarded_for),
        cmocka_unit_test(test_forwarded),  cmocka_unit_test(test_real_ip),
        cmocka_unit_test(test_addr_group),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
