/* Unit tests for fl_addr: HOST:PORT parsing, formatting round trips, every
 * rejection with its message, and resolution of literals and localhost. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include "fl_addr.h"
#include "fl_test.h"

static void check_ok(const char *text, const char *host, unsigned port, int kind) {
  fl_addr_t a;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_addr_parse(&a, text, 0, &em));
  FL_CHECK_STR(a.host, host);
  FL_CHECK_EQ(a.port, port);
  FL_CHECK_EQ(a.kind, kind);
  char buf[FL_ADDR_STRLEN];
  FL_CHECK_EQ(fl_addr_format(&a, buf, sizeof buf), (int)strlen(text));
  FL_CHECK_STR(buf, text);
}

static void check_bad(const char *text, const char *msg) {
  fl_addr_t a;
  memset(&a, 0x5a, sizeof a);
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(fl_addr_parse(&a, text, 0, &em), FL_ECONFIG);
  FL_CHECK_STR(em.msg, msg);
  FL_CHECK_EQ(a.port, 0x5a5a); /* untouched on error */
}

static void test_parse_ok(void) {
  check_ok("127.0.0.1:7000", "127.0.0.1", 7000, FL_ADDR_IPV4);
  check_ok("0.0.0.0:1", "0.0.0.0", 1, FL_ADDR_IPV4);
  check_ok("[::1]:65535", "::1", 65535, FL_ADDR_IPV6);
  check_ok("[::]:7000", "::", 7000, FL_ADDR_IPV6);
  check_ok("[fe80::1%eth0]:7000", "fe80::1%eth0", 7000, FL_ADDR_IPV6);
  check_ok("[::ffff:10.0.0.1]:80", "::ffff:10.0.0.1", 80, FL_ADDR_IPV6);
  check_ok("localhost:7000", "localhost", 7000, FL_ADDR_NAME);
  check_ok("node-3.dc1.example:9000", "node-3.dc1.example", 9000, FL_ADDR_NAME);
  check_ok("coord.example.:7100", "coord.example.", 7100, FL_ADDR_NAME);
  fl_addr_t a;
  FL_CHECK_OK(fl_addr_parse(&a, "127.0.0.1:0", FL_ADDR_PORT0, NULL));
  FL_CHECK_EQ(a.port, 0);
}

static void test_parse_errors(void) {
  check_bad("127.0.0.1", "missing port (expected HOST:PORT)");
  check_bad("127.0.0.1:", "missing port after ':'");
  check_bad(":7000", "missing host before ':' (use 0.0.0.0 or [::] for any)");
  check_bad("", "missing port (expected HOST:PORT)");
  check_bad("host:0", "port 0 out of range 1-65535");
  check_bad("host:65536", "port 65536 out of range 1-65535");
  check_bad("host:123456789", "port 123456789 out of range 1-65535");
  check_bad("host:-1", "port '-1' is not a decimal number");
  check_bad("host:70a", "port '70a' is not a decimal number");
  check_bad("host: 70", "port ' 70' is not a decimal number");
  check_bad("[::1:7000", "'[' without closing ']' (IPv6 is written [::1]:7000)");
  check_bad("::1]:7000", "']' without opening '['");
  check_bad("[::1]7000", "expected ':' after ']'");
  check_bad("[::1]", "missing port after ']'");
  check_bad("[]:7000", "empty IPv6 address in brackets");
  check_bad("[1.2.3.4]:7000", "'1.2.3.4' is not an IPv6 address");
  check_bad("[fe80::1%]:7000", "empty IPv6 zone after '%'");
  check_bad("[fe80::1%a/b]:7000", "bad character in IPv6 zone 'a/b'");
  check_bad("::1:7000", "IPv6 address must be in brackets, e.g. [::1]:7000");
  check_bad("256.0.0.1:7000", "'256.0.0.1' is not an IPv4 address");
  check_bad("1.2.3:7000", "'1.2.3' is not an IPv4 address");
  check_bad("-bad.example:7000", "'-bad.example' is not a valid host name");
  check_bad("bad-.example:7000", "'bad-.example' is not a valid host name");
  check_bad("a..b:7000", "'a..b' is not a valid host name");
  check_bad("under_score:7000", "'under_score' is not a valid host name");
  check_bad("sp ace:7000", "'sp ace' is not a valid host name");
  char big[400];
  memset(big, 'a', sizeof big);
  big[300] = ':';
  big[301] = '1';
  big[302] = '\0';
  check_bad(big, "host name longer than 253 bytes");
  char label[80];
  memset(label, 'a', 64);
  memcpy(label + 64, ":1", 3);
  check_bad(label, "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' is not a valid "
                   "host name");
}

static void test_format_small_buffer(void) {
  fl_addr_t a;
  FL_CHECK_OK(fl_addr_parse(&a, "[::1]:7000", 0, NULL));
  char buf[6];
  FL_CHECK_EQ(fl_addr_format(&a, buf, sizeof buf), -ENOSPC);
  FL_CHECK_STR(buf, "[::1]");
}

static void test_resolve(void) {
  fl_addr_t a;
  struct sockaddr_storage ss;
  socklen_t len = 0;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_addr_parse(&a, "127.0.0.1:7000", 0, NULL));
  FL_CHECK_OK(fl_addr_resolve(&a, SOCK_STREAM, &ss, &len, &em));
  FL_CHECK_EQ(ss.ss_family, AF_INET);
  FL_CHECK_EQ(len, sizeof(struct sockaddr_in));
  struct sockaddr_in *in = (struct sockaddr_in *)&ss;
  FL_CHECK_EQ(ntohs(in->sin_port), 7000);
  FL_CHECK_EQ(ntohl(in->sin_addr.s_addr), 0x7f000001);

  FL_CHECK_OK(fl_addr_parse(&a, "[::1]:7001", 0, NULL));
  FL_CHECK_OK(fl_addr_resolve(&a, SOCK_STREAM, &ss, &len, &em));
  FL_CHECK_EQ(ss.ss_family, AF_INET6);
  FL_CHECK_EQ(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 7001);

  FL_CHECK_OK(fl_addr_parse(&a, "localhost:7002", 0, NULL));
  FL_CHECK_OK(fl_addr_resolve(&a, SOCK_STREAM, &ss, &len, &em));
  FL_CHECK(ss.ss_family == AF_INET || ss.ss_family == AF_INET6);

  /* .invalid is reserved (RFC 2606): never resolves, answered locally. */
  FL_CHECK_OK(fl_addr_parse(&a, "no-such-host.invalid:7000", 0, NULL));
  int rc = fl_addr_resolve(&a, SOCK_STREAM, &ss, &len, &em);
  FL_CHECK(rc == FL_ENOTFOUND || rc == -EAGAIN);
  FL_CHECK(strncmp(em.msg, "cannot resolve 'no-such-host.invalid': ", 39) == 0);
}

int main(void) {
  FL_RUN(test_parse_ok);
  FL_RUN(test_parse_errors);
  FL_RUN(test_format_small_buffer);
  FL_RUN(test_resolve);
  FL_DONE();
}
