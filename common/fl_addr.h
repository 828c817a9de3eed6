/* Network addresses as written in configs and flags: "HOST:PORT" with an
 * IPv4 literal, a bracketed IPv6 literal or a hostname. Parsing and
 * formatting are pure; name resolution is a separate, explicit step. */
#ifndef FL_ADDR_H
#define FL_ADDR_H

#include <stdint.h>
#include <sys/socket.h>

#include "fl_err.h"

/* Longest host part kept (a DNS name is at most 253 bytes; an IPv6 literal
 * with a zone id fits too), and the longest formatted "[host]:port". */
#define FL_ADDR_HOST_MAX 253
#define FL_ADDR_STRLEN (FL_ADDR_HOST_MAX + 2 + 1 + 5 + 1)

enum fl_addr_kind {
  FL_ADDR_NAME = 1, /* a DNS hostname, resolved later */
  FL_ADDR_IPV4 = 2, /* dotted-quad literal */
  FL_ADDR_IPV6 = 3  /* literal written in brackets, optional %zone */
};

typedef struct fl_addr {
  char host[FL_ADDR_HOST_MAX + 1]; /* NUL-terminated, without brackets */
  uint16_t port;                   /* host byte order */
  uint8_t kind;                    /* enum fl_addr_kind */
} fl_addr_t;

/* Parse flags. */
#define FL_ADDR_PORT0 1u /* accept port 0 ("any free port", for listeners) */

/* Parses text ("127.0.0.1:7000", "[::1]:7000", "node-3.dc1:7000") into out.
 * text (non-NULL, NUL-terminated) is borrowed for the call; out is written only on success. Errors are
 * FL_ECONFIG with em saying what is wrong: missing host or port, port out of
 * range, bad brackets, an IPv6 literal without brackets, a malformed IPv4
 * literal or hostname. Pure: no lookups. */
int fl_addr_parse(fl_addr_t *out, const char *text, unsigned flags, fl_errmsg_t *em);

/* Writes "host:port" (IPv6 in brackets) into buf of size len; returns the
 * length written, or -ENOSPC (buf then holds a truncated string when len>0).
 * fl_addr_parse() of the result gives back an equal address. */
int fl_addr_format(const fl_addr_t *a, char *buf, size_t len);

/* Resolves a to its first socket address with getaddrinfo() (literals never
 * touch DNS). Writes *out and *outlen on success. socktype is SOCK_STREAM
 * or 0. Errors: FL_ENOTFOUND for an unknown name, -EAGAIN for a temporary
 * resolver failure, -ENOMEM, or -errno; em names the host. Blocking: call
 * it off the event loop (uv_getaddrinfo is the non-blocking route). */
int fl_addr_resolve(const fl_addr_t *a, int socktype, struct sockaddr_storage *out,
                    socklen_t *outlen, fl_errmsg_t *em);

#endif
