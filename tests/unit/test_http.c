/* Unit tests of the HTTP adapter's per-address limit: a peer that peer_trusted() vouches
 * for (a reverse proxy) is exempt from it; any other peer is held to it.  A real server on
 * 127.0.0.1 and plain sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"

static void answer(struct http_req *req, void *ctx)
{
    (void)ctx;
    http_reply(req, 200, "text/plain", "ok", 2, NULL);
}

static int trust_all(const struct sockaddr *sa, void *ctx)
{
    (void)sa, (void)ctx;
    return 1;
}

/* Connects to 127.0.0.1:port; -1 on failure. */
static int dial(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

/* Sends a request on fd; 1 when it is answered 200, 0 when closed or silent for 2 s. */
static int served(int fd)
{
    static const char req[] = "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) return 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char buf[512];
    if (poll(&p, 1, 2000) != 1) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n <= 0) return 0;
    buf[n] = '\0';
    return strncmp(buf, "HTTP/1.1 200 ", 13) == 0;
}

/* Opens three connections from 127.0.0.1 against a per-address limit of one; returns how
 * many are served. */
static int three_from_one_address(int trusted)
{
    static unsigned port;
    if (!port) port = 20000 + (unsigned)getpid() % 20000;
    char listen[32];
    struct http_server *s = NULL;
    kg_err rc = KG_IO;
    for (int tries = 0; tries < 20 && rc != KG_OK; tries++) { /* a free port */
        snprintf(listen, sizeof listen, "127.0.0.1:%u", ++port);
        struct http_config cfg = {.listen = listen,
                                  .threads = 1,
                                  .body_max = 1024,
                                  .max_conns = 16,
                                  .max_conns_per_ip = 1,
                                  .peer_trusted = trusted ? trust_all : NULL};
        rc = http_server_start(&cfg, answer, NULL, &s);
    }
    assert_int_equal(rc, KG_OK);
    int fds[3], ok = 0;
    for (int i = 0; i < 3; i++)
        fds[i] = dial(port);
    for (int i = 0; i < 3; i++)
        ok += fds[i] >= 0 && served(fds[i]);
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0) close(fds[i]);
    http_server_free(s);
    return ok;
}

static void test_per_address_limit(void **state)
{
    (void)state;
    assert_int_equal(three_from_one_address(0), 1);
}

static void test_trusted_peer_exempt(void **state)
{
    (void)state;
    assert_int_equal(three_from_one_address(1), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_address_limit),
        cmocka_unit_test(test_trusted_peer_exempt),
    };
    return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
