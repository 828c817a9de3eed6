/* HOST:PORT parsing and formatting for every daemon and the CLI. The parser
 * decides the kind of host from its spelling alone so that a config can be
 * validated without a resolver; fl_addr_resolve() is the only function here
 * that does I/O. */
#include "fl_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

static int fl__is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 1123 hostname: dot-separated labels of 1..63 letters, digits and
 * hyphens, no label starting or ending with a hyphen. A trailing dot (fully
 * qualified) is allowed. */
static int fl__host_name_ok(const char *h, size_t n) {
  size_t label = 0;
  for (size_t i = 0; i < n; i++) {
    char c = h[i];
    if (c == '.') {
      if (label == 0 || h[i - 1] == '-')
        return 0;
      label = 0;
      continue;
    }
    if (!fl__is_alnum(c) && c != '-')
      return 0;
    if (c == '-' && label == 0)
      return 0;
    if (++label > 63)
      return 0;
  }
  return n > 0 && h[n - 1] != '-';
}

static int fl__all_digits_dots(const char *h, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!(h[i] == '.' || (h[i] >= '0' && h[i] <= '9')))
      return 0;
  return 1;
}

/* Reads a decimal port: digits only (no sign, no spaces), at most 5. */
static int fl__parse_port(const char *p, unsigned flags, uint16_t *out, fl_errmsg_t *em) {
  if (*p == '\0')
    return fl_errf(em, FL_ECONFIG, "missing port after ':'");
  unsigned long v = 0;
  size_t n = 0;
  for (; p[n]; n++) {
    if (p[n] < '0' || p[n] > '9')
      return fl_errf(em, FL_ECONFIG, "port '%.16s' is not a decimal number", p);
    if (n < 6)
      v = v * 10 + (unsigned long)(p[n] - '0');
  }
  unsigned long lo = (flags & FL_ADDR_PORT0) ? 0 : 1;
  if (n > 5 || v > 65535 || v < lo)
    return fl_errf(em, FL_ECONFIG, "port %.16s out of range %lu-65535", p, lo);
  *out = (uint16_t)v;
  return 0;
}

int fl_addr_parse(fl_addr_t *out, const char *text, unsigned flags, fl_errmsg_t *em) {
  fl_addr_t a;
  memset(&a, 0, sizeof a);
  const char *host, *rest;
  size_t hlen;
  if (text[0] == '[') {
    const char *close = strchr(text, ']');
    if (!close)
      return fl_errf(em, FL_ECONFIG, "'[' without closing ']' (IPv6 is written [::1]:7000)");
    host = text + 1;
    hlen = (size_t)(close - host);
    rest = close + 1;
    if (*rest != ':')
      return fl_errf(em, FL_ECONFIG, *rest ? "expected ':' after ']'" : "missing port after ']'");
    if (hlen == 0)
      return fl_errf(em, FL_ECONFIG, "empty IPv6 address in brackets");
    if (hlen > FL_ADDR_HOST_MAX)
      return fl_errf(em, FL_ECONFIG, "IPv6 address too long");
    memcpy(a.host, host, hlen);
    char *zone = strchr(a.host, '%');
    if (zone) {
      if (zone[1] == '\0')
        return fl_errf(em, FL_ECONFIG, "empty IPv6 zone after '%%'");
      for (const char *z = zone + 1; *z; z++)
        if (!fl__is_alnum(*z) && *z != '_' && *z != '-' && *z != '.')
          return fl_errf(em, FL_ECONFIG, "bad character in IPv6 zone '%s'", zone + 1);
      *zone = '\0';
    }
    struct in6_addr in6;
    int ok = inet_pton(AF_INET6, a.host, &in6) == 1;
    if (zone)
      *zone = '%';
    if (!ok)
      return fl_errf(em, FL_ECONFIG, "'%.*s' is not an IPv6 address", (int)hlen, host);
    a.kind = FL_ADDR_IPV6;
    rest++;
  } else {
    if (strchr(text, ']'))
      return fl_errf(em, FL_ECONFIG, "']' without opening '['");
    const char *colon = strrchr(text, ':');
    if (!colon)
      return fl_errf(em, FL_ECONFIG, "missing port (expected HOST:PORT)");
    if (memchr(text, ':', (size_t)(colon - text)))
      return fl_errf(em, FL_ECONFIG, "IPv6 address must be in brackets, e.g. [::1]:7000");
    host = text;
    hlen = (size_t)(colon - text);
    rest = colon + 1;
    if (hlen == 0)
      return fl_errf(em, FL_ECONFIG, "missing host before ':' (use 0.0.0.0 or [::] for any)");
    if (hlen > FL_ADDR_HOST_MAX)
      return fl_errf(em, FL_ECONFIG, "host name longer than %d bytes", FL_ADDR_HOST_MAX);
    memcpy(a.host, host, hlen);
    if (fl__all_digits_dots(host, hlen)) {
      struct in_addr in4;
      if (inet_pton(AF_INET, a.host, &in4) != 1)
        return fl_errf(em, FL_ECONFIG, "'%s' is not an IPv4 address", a.host);
      a.kind = FL_ADDR_IPV4;
    } else {
      if (!fl__host_name_ok(host, hlen))
        return fl_errf(em, FL_ECONFIG, "'%.64s' is not a valid host name", a.host);
      a.kind = FL_ADDR_NAME;
    }
  }
  int rc = fl__parse_port(rest, flags, &a.port, em);
  if (rc != 0)
    return rc;
  *out = a;
  return 0;
}

int fl_addr_format(const fl_addr_t *a, char *buf, size_t len) {
  int n = snprintf(buf, len, a->kind == FL_ADDR_IPV6 ? "[%s]:%u" : "%s:%u", a->host,
                   (unsigned)a->port);
  if (n < 0 || (size_t)n >= len)
    return -ENOSPC;
  return n;
}

int fl_addr_resolve(const fl_addr_t *a, int socktype, struct sockaddr_storage *out,
                    socklen_t *outlen, fl_errmsg_t *em) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = socktype;
  hints.ai_flags = AI_NUMERICSERV;
  hints.ai_family = a->kind == FL_ADDR_IPV4 ? AF_INET : a->kind == FL_ADDR_IPV6 ? AF_INET6 : AF_UNSPEC;
  if (a->kind != FL_ADDR_NAME)
    hints.ai_flags |= AI_NUMERICHOST;
  char port[8];
  snprintf(port, sizeof port, "%u", (unsigned)a->port);
  int rc = getaddrinfo(a->host, port, &hints, &res);
  if (rc != 0) {
    int code;
    if (rc == EAI_AGAIN)
      code = -EAGAIN;
    else if (rc == EAI_MEMORY)
      code = -ENOMEM;
    else if (rc == EAI_SYSTEM)
      code = errno ? -errno : FL_EINTERNAL;
    else
      code = FL_ENOTFOUND;
    return fl_errf(em, code, "cannot resolve '%s': %s", a->host, gai_strerror(rc));
  }
  if (res->ai_addrlen > sizeof *out) {
    freeaddrinfo(res);
    return fl_errf(em, FL_EINTERNAL, "address of '%s' too long", a->host);
  }
  memcpy(out, res->ai_addr, res->ai_addrlen);
  *outlen = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}
