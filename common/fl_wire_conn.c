/* Blocking wire connection. The socket is non-blocking underneath and every
 * wait goes through poll() against one deadline per operation, so a silent
 * peer costs at most the timeout. Small reads fill a buffer the parser
 * eats; once a header announces a payload, the rest of it is read straight
 * into its destination (the caller's buffer when given), never copied. */
#include "fl_wire_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Socket reads between payloads; large enough for many small frames. */
#define FL__CONN_RBUF (64u * 1024)
/* After a frame with a large payload, a read between frames takes only
 * this much, so the next payload lands in its buffer without a copy. */
#define FL__CONN_HDR_READ 4096u
#define FL__CONN_LARGE (32u * 1024)

static int64_t fl__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t fl__deadline(int timeout_ms) {
  return timeout_ms > 0 ? fl__now_ms() + timeout_ms : -1;
}

/* Waits for events on fd until deadline (-1: forever): 0 or -ETIMEDOUT. */
static int fl__wait(int fd, short events, int64_t deadline) {
  for (;;) {
    int ms = -1;
    if (deadline >= 0) {
      int64_t left = deadline - fl__now_ms();
      if (left <= 0)
        return -ETIMEDOUT;
      ms = left > 1000000 ? 1000000 : (int)left;
    }
    struct pollfd pfd = {.fd = fd, .events = events};
    int n = poll(&pfd, 1, ms);
    if (n > 0)
      return 0;
    if (n < 0 && errno != EINTR)
      return -errno;
  }
}

/* Marks the connection unusable; returns code for the caller to pass on. */
static int fl__break(fl_wire_conn_t *c, int code) {
  c->broken = 1;
  c->err = code;
  return code;
}

static int fl__setup(fl_wire_conn_t *c, int fd, int timeout_ms, const fl_wire_limits_t *lim,
                     fl_errmsg_t *em) {
  memset(c, 0, sizeof *c);
  c->fd = fd;
  c->timeout_ms = timeout_ms;
  fl_wire_parser_init(&c->parser, lim);
  int one = 1;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
    goto fail;
  /* Request/response traffic: never hold a small frame back. Not a TCP
   * socket (a socketpair in a test): nothing to tune. */
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 && errno != EOPNOTSUPP &&
      errno != ENOPROTOOPT)
    goto fail;
  c->rbuf = malloc(FL__CONN_RBUF);
  if (!c->rbuf) {
    errno = ENOMEM;
    goto fail;
  }
  c->rcap = FL__CONN_RBUF;
  return 0;
fail:;
  int rc = -errno;
  fl_wire_conn_close(c);
  return fl_errf(em, rc, "setting up socket: %s", strerror(-rc));
}

int fl_wire_conn_adopt(fl_wire_conn_t *c, int fd, int timeout_ms, const fl_wire_limits_t *lim,
                       fl_errmsg_t *em) {
  return fl__setup(c, fd, timeout_ms, lim, em);
}

/* Connects one resolved address within the deadline; returns the fd. */
static int fl__connect_one(const struct addrinfo *ai, int64_t deadline) {
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  ai->ai_protocol);
  if (fd < 0)
    return -errno;
  int rc = 0;
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
    if (errno != EINPROGRESS) {
      rc = -errno;
      goto fail;
    }
    rc = fl__wait(fd, POLLOUT, deadline);
    if (rc < 0)
      goto fail;
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
      soerr = errno;
    if (soerr) {
      rc = -soerr;
      goto fail;
    }
  }
  return fd;
fail:
  close(fd);
  return rc;
}

int fl_wire_conn_open(fl_wire_conn_t *c, const char *host, uint16_t port, int timeout_ms,
                      const fl_wire_limits_t *lim, fl_errmsg_t *em) {
  memset(c, 0, sizeof *c);
  c->fd = -1;
  c->broken = 1;
  c->err = -ENOTCONN;
  char portstr[8];
  snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC};
  struct addrinfo *res = NULL;
  int g = getaddrinfo(host, portstr, &hints, &res);
  if (g != 0)
    return fl_errf(em, -EHOSTUNREACH, "cannot resolve %s: %s", host, gai_strerror(g));
  int64_t deadline = fl__deadline(timeout_ms);
  int fd = -EHOSTUNREACH;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    fd = fl__connect_one(ai, deadline);
    if (fd >= 0 || fd == -ETIMEDOUT)
      break;
  }
  freeaddrinfo(res);
  if (fd < 0)
    return fl_errf(em, fd, "connecting to %s:%u: %s", host, (unsigned)port, strerror(-fd));
  return fl__setup(c, fd, timeout_ms, lim, em);
}

void fl_wire_conn_close(fl_wire_conn_t *c) {
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  c->broken = 1;
  if (c->err == 0)
    c->err = -ENOTCONN;
  fl_wire_parser_close(&c->parser);
  free(c->rbuf);
  free(c->qbuf);
  free(c->qseg);
  c->rbuf = c->qbuf = NULL;
  c->qseg = NULL;
  c->rcap = c->rpos = c->rlen = c->qcap = c->qlen = c->nseg = c->segcap = 0;
}

int fl_wire_conn_usable(const fl_wire_conn_t *c) { return c->fd >= 0 && !c->broken; }

void fl_wire_conn_set_timeout(fl_wire_conn_t *c, int timeout_ms) { c->timeout_ms = timeout_ms; }

static int fl__unusable(const fl_wire_conn_t *c, fl_errmsg_t *em) {
  return fl_errf(em, c->err ? c->err : -ENOTCONN, "connection unusable after: %s",
                 fl_strerror(c->err));
}

static int fl__write_all(fl_wire_conn_t *c, struct iovec *iov, int n);

/* Grows *buf (*cap bytes) to hold at least need, doubling from floor. */
static int fl__reserve(uint8_t **buf, size_t *cap, size_t need, size_t floor, fl_errmsg_t *em) {
  if (need <= *cap)
    return 0;
  size_t ncap = *cap > floor ? *cap : floor;
  while (ncap < need)
    ncap *= 2;
  uint8_t *nb = realloc(*buf, ncap);
  if (!nb)
    return fl_errf(em, -ENOMEM, "no memory for %zu bytes of frames to send", need);
  *buf = nb;
  *cap = ncap;
  return 0;
}

/* Buffers one write sends at most; a queue this long is written first. */
#define FL__QSEG_MAX 256

static int fl__flush(fl_wire_conn_t *c, const char *what, fl_errmsg_t *em);

/* Appends a piece of output, merged with the last when it continues it. */
static int fl__seg(fl_wire_conn_t *c, const void *base, size_t off, size_t len, fl_errmsg_t *em) {
  if (len == 0)
    return 0;
  if (c->nseg) {
    fl_wire_conn_seg_t *last = &c->qseg[c->nseg - 1];
    if (last->base == base && last->off + last->len == off) {
      last->len += len;
      return 0;
    }
  }
  if (c->nseg == c->segcap) {
    size_t cap = c->segcap ? 2 * c->segcap : 16;
    fl_wire_conn_seg_t *ns = realloc(c->qseg, cap * sizeof *ns);
    if (!ns)
      return fl_errf(em, -ENOMEM, "no memory to queue a frame");
    c->qseg = ns;
    c->segcap = cap;
  }
  c->qseg[c->nseg++] = (fl_wire_conn_seg_t){base, off, len};
  return 0;
}

/* Encodes h into the queue, its payload (iovcnt buffers, borrowed) after
 * it; crc NULL: the payload's CRC is computed here. On failure nothing of
 * the frame stays queued. */
static int fl__queue(fl_wire_conn_t *c, Fl__FrameHeader *h, const struct iovec *payload,
                     int iovcnt, const uint32_t *crc, fl_errmsg_t *em) {
  if (!fl_wire_conn_usable(c))
    return fl__unusable(c, em);
  if (iovcnt < 0 || iovcnt > FL_WIRE_CONN_IOV_MAX)
    return fl_errf(em, -EINVAL, "%d payload buffers, at most %d", iovcnt, FL_WIRE_CONN_IOV_MAX);
  if (c->background && !h->response)
    h->background = 1;
  int rc;
  if (c->nseg + (size_t)iovcnt + 1 > FL__QSEG_MAX && (rc = fl__flush(c, "queued frames", em)) < 0)
    return rc;
  size_t hlen;
  rc = fl__reserve(&c->qbuf, &c->qcap, c->qlen + fl_wire_encoded_size(h), FL_WIRE_HEADER_BUF_MAX,
                   em);
  if (rc < 0)
    return rc;
  if (crc || iovcnt == 0) {
    h->payload_length = 0;
    for (int i = 0; i < iovcnt; i++)
      h->payload_length += payload[i].iov_len;
    h->payload_crc32c = h->payload_length && crc ? *crc : 0;
    rc = fl_wire_encode_header(h, c->qbuf + c->qlen, c->qcap - c->qlen, &hlen, em);
  } else {
    rc = fl_wire_encode(h, payload, iovcnt, c->qbuf + c->qlen, c->qcap - c->qlen, &hlen, em);
  }
  if (rc < 0)
    return rc;
  /* Saved to take the frame back out if a segment cannot be added. */
  size_t nseg = c->nseg, last_len = nseg ? c->qseg[nseg - 1].len : 0;
  rc = fl__seg(c, NULL, c->qlen, hlen, em);
  for (int i = 0; rc == 0 && i < iovcnt; i++)
    rc = fl__seg(c, payload[i].iov_base, 0, payload[i].iov_len, em);
  if (rc < 0) {
    c->nseg = nseg;
    if (nseg)
      c->qseg[nseg - 1].len = last_len;
    return rc;
  }
  c->qlen += hlen;
  return 0;
}

/* Writes the queue whole; a failure breaks the connection. */
static int fl__flush(fl_wire_conn_t *c, const char *what, fl_errmsg_t *em) {
  if (!c->nseg)
    return 0;
  struct iovec iov[FL__QSEG_MAX];
  int n = 0;
  for (size_t i = 0; i < c->nseg; i++) {
    const fl_wire_conn_seg_t *g = &c->qseg[i];
    iov[n++] = (struct iovec){.iov_base = g->base ? (uint8_t *)g->base + g->off : c->qbuf + g->off,
                              .iov_len = g->len};
  }
  c->nseg = 0;
  c->qlen = 0;
  int rc = fl__write_all(c, iov, n);
  if (rc < 0)
    return fl_errf(em, fl__break(c, rc), "sending %s: %s", what, strerror(-rc));
  return 0;
}

/* Writes the n buffers of iov (modified) whole before the connection's
 * deadline: 0 or -errno. */
static int fl__write_all(fl_wire_conn_t *c, struct iovec *iov, int n) {
  int rc;
  int64_t deadline = fl__deadline(c->timeout_ms);
  struct iovec *cur = iov;
  while (n > 0) {
    struct msghdr msg = {.msg_iov = cur, .msg_iovlen = (size_t)n};
    ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        return -errno;
      rc = fl__wait(c->fd, POLLOUT, deadline);
      if (rc < 0)
        return rc;
      continue;
    }
    size_t left = (size_t)w;
    while (n > 0 && left >= cur->iov_len) {
      left -= cur->iov_len;
      cur++;
      n--;
    }
    if (n > 0) {
      cur->iov_base = (uint8_t *)cur->iov_base + left;
      cur->iov_len -= left;
    }
  }
  return 0;
}

int fl_wire_conn_queue(fl_wire_conn_t *c, Fl__FrameHeader *h, fl_errmsg_t *em) {
  return fl__queue(c, h, NULL, 0, NULL, em);
}

int fl_wire_conn_queue_known(fl_wire_conn_t *c, Fl__FrameHeader *h, const struct iovec *payload,
                             int iovcnt, uint32_t crc, fl_errmsg_t *em) {
  return fl__queue(c, h, payload, iovcnt, &crc, em);
}

int fl_wire_conn_flush(fl_wire_conn_t *c, fl_errmsg_t *em) {
  if (!c->nseg)
    return 0;
  if (!fl_wire_conn_usable(c))
    return fl__unusable(c, em);
  return fl__flush(c, "queued frames", em);
}

/* The frame joins what is queued, and all of it leaves in one write. */
int fl_wire_conn_send(fl_wire_conn_t *c, Fl__FrameHeader *h, const struct iovec *payload,
                      int iovcnt, fl_errmsg_t *em) {
  int rc = fl__queue(c, h, payload, iovcnt, NULL, em);
  if (rc < 0)
    return rc;
  char what[64];
  snprintf(what, sizeof what, "%s frame", fl_wire_type_name((int)h->type));
  return fl__flush(c, what, em);
}

/* One read of at most cap bytes into dst before the deadline: > 0 bytes, or
 * 0 at end of stream, or -errno. */
static ssize_t fl__read(fl_wire_conn_t *c, void *dst, size_t cap, int64_t deadline) {
  for (;;) {
    ssize_t r = recv(c->fd, dst, cap, 0);
    if (r >= 0)
      return r;
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return -errno;
    int rc = fl__wait(c->fd, POLLIN, deadline);
    if (rc < 0)
      return rc;
  }
}

/* Feeds buffered bytes to the parser: FL_WIRE_FRAME, FL_WIRE_AGAIN (buffer
 * used up, frame incomplete) or an error. */
static int fl__feed_buffered(fl_wire_conn_t *c, void *buf, size_t cap, fl_errmsg_t *em) {
  while (c->rpos < c->rlen) {
    size_t used;
    int rc = fl_wire_parser_feed(&c->parser, c->rbuf + c->rpos, c->rlen - c->rpos, &used, em);
    c->rpos += used;
    if (rc < 0 || rc == FL_WIRE_FRAME)
      return rc;
    if (rc == FL_WIRE_HEADER && buf) {
      rc = fl_wire_parser_set_payload_buf(&c->parser, buf, cap, em);
      if (rc < 0)
        return rc;
    }
  }
  return FL_WIRE_AGAIN;
}

/* A frame arrived: notes whether it was large, for the next read's size. */
static int fl__frame_done(fl_wire_conn_t *c) {
  size_t plen = 0;
  (void)fl_wire_parser_payload(&c->parser, &plen);
  c->large = plen >= FL__CONN_LARGE;
  return 0;
}

int fl_wire_conn_recv(fl_wire_conn_t *c, void *buf, size_t cap, fl_errmsg_t *em) {
  if (!fl_wire_conn_usable(c))
    return fl__unusable(c, em);
  int rc;
  if (c->nseg && (rc = fl_wire_conn_flush(c, em)) < 0)
    return rc;
  int64_t deadline = fl__deadline(c->timeout_ms);
  for (;;) {
    rc = fl__feed_buffered(c, buf, cap, em);
    if (rc == FL_WIRE_FRAME)
      return fl__frame_done(c);
    if (rc < 0)
      return fl__break(c, rc);
    ssize_t r;
    size_t room = fl_wire_parser_payload_remaining(&c->parser);
    if (room > 0) {
      /* Mid-payload with nothing buffered: read straight into place. */
      void *dst;
      rc = fl_wire_parser_payload_dest(&c->parser, &dst, &room, em);
      if (rc < 0)
        return fl__break(c, rc);
      r = fl__read(c, dst, room, deadline);
      if (r > 0) {
        rc = fl_wire_parser_payload_commit(&c->parser, (size_t)r, em);
        if (rc == FL_WIRE_FRAME)
          return fl__frame_done(c);
        if (rc < 0)
          return fl__break(c, rc);
        continue;
      }
    } else {
      c->rpos = c->rlen = 0;
      r = fl__read(c, c->rbuf, c->large && c->rcap > FL__CONN_HDR_READ ? FL__CONN_HDR_READ : c->rcap,
                   deadline);
      if (r > 0) {
        c->rlen = (size_t)r;
        continue;
      }
    }
    if (r == 0 && fl_wire_parser_mid_frame(&c->parser))
      return fl_errf(em, fl__break(c, FL_ETRUNC), "peer closed the connection mid-frame");
    rc = r == 0 ? -ECONNRESET : (int)r;
    return fl_errf(em, fl__break(c, rc), "receiving a frame: %s",
                   r == 0 ? "peer closed the connection" : strerror(-rc));
  }
}

int fl_wire_conn_call(fl_wire_conn_t *c, Fl__FrameHeader *req, const struct iovec *payload,
                      int iovcnt, void *buf, size_t cap, fl_errmsg_t *em) {
  req->request_id = ++c->next_id;
  req->response = 0;
  int rc = fl_wire_conn_send(c, req, payload, iovcnt, em);
  if (rc < 0)
    return rc;
  rc = fl_wire_conn_recv(c, buf, cap, em);
  if (rc < 0)
    return rc;
  const Fl__FrameHeader *resp = fl_wire_parser_header(&c->parser);
  if (!resp->response || resp->request_id != req->request_id || resp->type != req->type)
    return fl_errf(em, fl__break(c, FL_EPROTO),
                   "%s request %llu answered by %s %s %llu", fl_wire_type_name((int)req->type),
                   (unsigned long long)req->request_id, fl_wire_type_name((int)resp->type),
                   resp->response ? "response" : "request",
                   (unsigned long long)resp->request_id);
  if (resp->status != 0)
    return fl_errf(em, resp->status, "%s failed on the server: %s",
                   fl_wire_type_name((int)req->type),
                   resp->error_text && resp->error_text[0] ? resp->error_text
                                                           : fl_strerror(resp->status));
  return 0;
}

const Fl__FrameHeader *fl_wire_conn_header(const fl_wire_conn_t *c) {
  return fl_wire_parser_header(&c->parser);
}

const void *fl_wire_conn_payload(const fl_wire_conn_t *c, size_t *len) {
  return fl_wire_parser_payload(&c->parser, len);
}
