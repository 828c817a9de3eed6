/* The generic network side of every filmless daemon: one libuv loop accepts
 * connections and parses frames; each request goes to the caller's handler,
 * which answers now (on the loop) or later (after thread-pool work, or a
 * long poll). Requests on one connection are pipelined: responses carry the
 * request id and may go back out of order; a connection pauses reading
 * once max_inflight of its requests are open. A malformed frame closes only
 * its own connection. SIGTERM or SIGINT stop accepting and reading, let
 * every open request be answered, then end the loop. */
#include "fl_srv.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fl_crc32c.h"
#include "fl_log.h"

#define FL__READ_BUF (256 * 1024)
/* After a frame with a large payload, the next read between frames takes
 * only this much: the header, then the payload straight into its own
 * buffer, instead of most of it into the read buffer and a copy. */
#define FL__READ_HDR 4096
#define FL__LARGE_PAYLOAD (32 * 1024)

typedef struct fl__conn {
  uv_tcp_t tcp;                 /* handle first: freed in the close callback */
  uv_timer_t idle;
  fl_srv_t *srv;
  fl_wire_parser_t parser;
  char *rbuf;                   /* read buffer when not reading a payload in place */
  int in_payload;               /* the last alloc handed out the payload destination */
  int large;                    /* the last request carried a large payload */
  int inflight;                 /* requests open (handler or write) */
  int unanswered;               /* requests open and not answered yet */
  /* fl_srv_req_work_begin/end, serialized by their caller: */
  int working;                  /* requests handed to other threads, not ready yet */
  uint64_t quiet_bytes;         /* payload bytes of ready answers not announced */
  int64_t quiet_since_ns;       /* when the oldest of them got ready; 0: none */
  int paused;                   /* reading stopped for back-pressure or stop */
  int closing;                  /* no more reading; handles close once idle */
  int handles_closing;          /* uv_close called on both handles */
  int handles_open;
  char peer[64];
  struct fl__conn *prev, *next; /* server's connection list, loop thread only */
} fl__conn_t;

struct fl_srv_req {
  uv_write_t write;
  fl__conn_t *conn;
  uint8_t *hdr_in;              /* packed request header */
  size_t hdr_in_len;
  Fl__FrameHeader *hdr;         /* unpacked lazily from hdr_in */
  void *payload_in;
  uint64_t payload_in_len;
  uint8_t *hdr_out;             /* encoded response preamble + header */
  size_t hdr_out_len;
  void *payload_out_base;       /* allocation holding the response payload */
};

struct fl_srv {
  uv_loop_t loop;
  uv_tcp_t listener;
  uv_signal_t sigterm, sigint;
  fl_srv_ops_t ops;
  void *ctx;
  char name[16];
  fl_wire_limits_t limits;
  int64_t idle_timeout_ms;
  int64_t max_inflight;
  int port;
  fl__conn_t *conns;
  int inflight;                 /* all requests open */
  int stopping;
  int finished;                 /* the loop's own handles are closing */
  uint64_t conns_total, reqs_total;
};

static void fl__conn_close(fl__conn_t *c);
static void fl__conn_resume(fl__conn_t *c);
static void fl__conn_try_free(fl__conn_t *c);

/* ---- ending requests ------------------------------------------------------- */

static void fl__maybe_finish(fl_srv_t *s) {
  if (!s->stopping || s->finished || s->inflight > 0)
    return;
  if (s->ops.busy && s->ops.busy(s->ctx))
    return;
  s->finished = 1;
  while (s->conns)
    fl__conn_close(s->conns);
  if (s->ops.on_finish)
    s->ops.on_finish(s->ctx);
  uv_close((uv_handle_t *)&s->sigterm, NULL);
  uv_close((uv_handle_t *)&s->sigint, NULL);
}

void fl_srv_maybe_finish(fl_srv_t *srv) { fl__maybe_finish(srv); }

static void fl__req_free(fl_srv_req_t *r) {
  if (r->hdr)
    fl__frame_header__free_unpacked(r->hdr, NULL);
  free(r->hdr_in);
  free(r->payload_in);
  free(r->hdr_out);
  free(r->payload_out_base);
  free(r);
}

static void fl__req_done(fl_srv_req_t *r) {
  fl__conn_t *c = r->conn;
  fl_srv_t *s = c->srv;
  fl__req_free(r);
  c->inflight--;
  s->inflight--;
  if (c->paused && c->inflight < s->max_inflight && !s->stopping)
    fl__conn_resume(c);
  fl__conn_try_free(c);
  fl__maybe_finish(s);
}

static void fl__on_write(uv_write_t *w, int status) {
  fl_srv_req_t *r = w->data;
  if (status < 0 && !r->conn->closing) {
    fl_debug(r->conn->srv->name, "%s: write failed: %s", r->conn->peer, uv_strerror(status));
    fl__conn_close(r->conn);
  }
  fl__req_done(r);
}

void fl_srv_req_respond_raw(fl_srv_req_t *r, uint8_t *hdr, size_t hdr_len,
                            void *payload_base, const void *payload, uint64_t payload_len) {
  fl__conn_t *c = r->conn;
  c->unanswered--;
  r->hdr_out = hdr;
  r->hdr_out_len = hdr_len;
  r->payload_out_base = payload_base;
  if (!hdr || c->closing) {
    if (!hdr && !c->closing)
      fl__conn_close(c); /* the peer would wait for ever otherwise */
    fl__req_done(r);
    return;
  }
  uv_buf_t bufs[2] = {uv_buf_init((char *)hdr, (unsigned)hdr_len),
                      uv_buf_init((char *)payload, (unsigned)payload_len)};
  r->write.data = r;
  int rc = uv_write(&r->write, (uv_stream_t *)&c->tcp, bufs, payload_len ? 2 : 1,
                    fl__on_write);
  if (rc < 0) {
    fl__conn_close(c);
    fl__req_done(r);
  }
}

/* The requests one write answers (fl_srv_req_respond_group). */
typedef struct fl__group {
  size_t n;
  fl_srv_req_t *reqs[];
} fl__group_t;

static void fl__on_write_group(uv_write_t *w, int status) {
  fl__group_t *g = w->data;
  fl__conn_t *c = g->reqs[0]->conn;
  if (status < 0 && !c->closing) {
    fl_debug(c->srv->name, "%s: write failed: %s", c->peer, uv_strerror(status));
    fl__conn_close(c);
  }
  for (size_t i = 0; i < g->n; i++)
    fl__req_done(g->reqs[i]);
  free(g);
}

void fl_srv_req_respond_group(const fl_srv_resp_t *rs, size_t n) {
  fl__conn_t *c = n ? rs[0].req->conn : NULL;
  int one_write = n > 1 && !c->closing;
  for (size_t i = 0; i < n && one_write; i++)
    one_write = rs[i].req->conn == c && rs[i].hdr;
  fl__group_t *g = one_write ? malloc(sizeof *g + n * sizeof g->reqs[0]) : NULL;
  uv_buf_t *bufs = g ? malloc(2 * n * sizeof *bufs) : NULL;
  if (!bufs) {
    free(g);
    for (size_t i = 0; i < n; i++)
      fl_srv_req_respond_raw(rs[i].req, rs[i].hdr, rs[i].hdr_len, rs[i].payload_base,
                             rs[i].payload, rs[i].payload_len);
    return;
  }
  unsigned nb = 0;
  for (size_t i = 0; i < n; i++) {
    fl_srv_req_t *r = rs[i].req;
    r->hdr_out = rs[i].hdr;
    r->hdr_out_len = rs[i].hdr_len;
    r->payload_out_base = rs[i].payload_base;
    bufs[nb++] = uv_buf_init((char *)rs[i].hdr, (unsigned)rs[i].hdr_len);
    if (rs[i].payload_len)
      bufs[nb++] = uv_buf_init((char *)rs[i].payload, (unsigned)rs[i].payload_len);
    g->reqs[i] = r;
  }
  g->n = n;
  c->unanswered -= (int)n;
  fl_srv_req_t *first = rs[0].req;
  first->write.data = g;
  /* libuv keeps its own copy of the buffer list. */
  int rc = uv_write(&first->write, (uv_stream_t *)&c->tcp, bufs, nb, fl__on_write_group);
  free(bufs);
  if (rc < 0) {
    fl__conn_close(c);
    for (size_t i = 0; i < n; i++)
      fl__req_done(g->reqs[i]);
    free(g);
  }
}

int fl_srv_req_same_conn(const fl_srv_req_t *a, const fl_srv_req_t *b) {
  return a->conn == b->conn;
}

int fl_srv_req_conn_unanswered(const fl_srv_req_t *r) { return r->conn->unanswered; }

void fl_srv_req_work_begin(fl_srv_req_t *r) { r->conn->working++; }

int fl_srv_req_work_end(fl_srv_req_t *r, uint64_t bytes, uint64_t max_bytes, int64_t max_ns) {
  fl__conn_t *c = r->conn;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  if (c->working > 0)
    c->working--;
  c->quiet_bytes += bytes;
  if (!c->quiet_since_ns)
    c->quiet_since_ns = now;
  if (c->working > 0 && c->quiet_bytes < max_bytes && now - c->quiet_since_ns < max_ns)
    return 0;
  c->quiet_bytes = 0;
  c->quiet_since_ns = 0;
  return 1;
}

void fl_srv_req_respond(fl_srv_req_t *r, Fl__FrameHeader *resp, void *payload,
                        uint64_t payload_len) {
  resp->payload_length = payload_len;
  resp->payload_crc32c = payload_len ? fl_crc32c(payload, (size_t)payload_len) : 0;
  size_t cap = fl_wire_encoded_size(resp);
  uint8_t *hdr = malloc(cap);
  size_t len = 0;
  fl_errmsg_t em = {{0}};
  if (hdr && fl_wire_encode_header(resp, hdr, cap, &len, &em) != 0) {
    fl_error(r->conn->srv->name, "cannot encode a %s response: %s",
             fl_wire_type_name(resp->type), em.msg);
    free(hdr);
    hdr = NULL;
  }
  if (!hdr) {
    free(payload);
    payload = NULL;
    payload_len = 0;
  }
  fl_srv_req_respond_raw(r, hdr, len, payload, payload, payload_len);
}

void fl_srv_req_drop(fl_srv_req_t *r) { fl_srv_req_respond_raw(r, NULL, 0, NULL, NULL, 0); }

const Fl__FrameHeader *fl_srv_req_header(fl_srv_req_t *r) {
  if (!r->hdr)
    r->hdr = fl__frame_header__unpack(NULL, r->hdr_in_len, r->hdr_in);
  return r->hdr;
}

const void *fl_srv_req_payload(const fl_srv_req_t *r, uint64_t *len) {
  *len = r->payload_in_len;
  return r->payload_in;
}

void fl_srv_req_release_payload(fl_srv_req_t *r) {
  free(r->payload_in);
  r->payload_in = NULL;
  r->payload_in_len = 0;
}

const char *fl_srv_req_peer(const fl_srv_req_t *r) { return r->conn->peer; }

int fl_srv_req_conn_closed(const fl_srv_req_t *r) { return r->conn->closing; }

/* ---- reading ------------------------------------------------------------------ */

static int fl__dispatch(fl__conn_t *c) {
  fl_srv_t *s = c->srv;
  const Fl__FrameHeader *h = fl_wire_parser_header(&c->parser);
  if (h->response) {
    fl_warn(s->name, "%s: sent a response frame where a request belongs; closing", c->peer);
    return -1;
  }
  fl_srv_req_t *r = calloc(1, sizeof *r);
  if (!r)
    return -1;
  r->conn = c;
  /* The parser's header lives until the next feed: keep it packed, and
   * unpack where it is used (often a worker thread). */
  r->hdr_in_len = fl__frame_header__get_packed_size(h);
  r->hdr_in = malloc(r->hdr_in_len ? r->hdr_in_len : 1);
  if (!r->hdr_in) {
    free(r);
    return -1;
  }
  fl__frame_header__pack(h, r->hdr_in);
  size_t plen = 0;
  r->payload_in = fl_wire_parser_take_payload(&c->parser, &plen);
  if (!r->payload_in) {
    const void *p = fl_wire_parser_payload(&c->parser, &plen);
    if (plen) { /* the payload sits in a buffer the parser keeps: copy it */
      r->payload_in = malloc(plen);
      if (!r->payload_in) {
        fl__req_free(r);
        return -1;
      }
      memcpy(r->payload_in, p, plen);
    }
  }
  r->payload_in_len = plen;
  c->large = plen >= FL__LARGE_PAYLOAD;
  c->inflight++;
  c->unanswered++;
  s->inflight++;
  s->reqs_total++;
  s->ops.on_request(s->ctx, r);
  return 0;
}

static void fl__conn_fail(fl__conn_t *c, int rc, const fl_errmsg_t *em) {
  fl_warn(c->srv->name, "%s: closing connection: %s (%s)", c->peer, fl_errmsg_str(em, rc),
          fl_err_name(rc));
  fl__conn_close(c);
}

static void fl__after_frame(fl__conn_t *c) {
  if (!c->closing && c->inflight >= c->srv->max_inflight && !c->paused) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->paused = 1;
  }
}

static void fl__on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  fl__conn_t *c = h->data;
  void *dest;
  size_t room;
  /* A payload in progress is read straight into its final buffer. */
  if (fl_wire_parser_payload_remaining(&c->parser) > 0 &&
      fl_wire_parser_payload_dest(&c->parser, &dest, &room, NULL) == 0) {
    c->in_payload = 1;
    *buf = uv_buf_init(dest, room > UINT32_MAX ? UINT32_MAX : (unsigned)room);
    return;
  }
  c->in_payload = 0;
  *buf = uv_buf_init(c->rbuf, c->large ? FL__READ_HDR : FL__READ_BUF);
}

static void fl__on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  fl__conn_t *c = st->data;
  if (c->closing)
    return;
  if (nread < 0) {
    if (nread != UV_EOF)
      fl_debug(c->srv->name, "%s: read: %s", c->peer, uv_strerror((int)nread));
    else if (fl_wire_parser_mid_frame(&c->parser))
      fl_warn(c->srv->name, "%s: connection closed in the middle of a frame", c->peer);
    fl__conn_close(c);
    return;
  }
  if (nread == 0)
    return;
  uv_timer_again(&c->idle);
  fl_errmsg_t em = {{0}};
  int rc;
  if (c->in_payload) {
    rc = fl_wire_parser_payload_commit(&c->parser, (size_t)nread, &em);
    if (rc < 0)
      return fl__conn_fail(c, rc, &em);
    if (rc == FL_WIRE_FRAME) {
      if (fl__dispatch(c) != 0)
        return fl__conn_close(c);
      fl__after_frame(c);
    }
    return;
  }
  const char *p = buf->base;
  size_t left = (size_t)nread;
  while (left > 0 && !c->closing) {
    size_t used = 0;
    rc = fl_wire_parser_feed(&c->parser, p, left, &used, &em);
    p += used;
    left -= used;
    if (rc < 0)
      return fl__conn_fail(c, rc, &em);
    if (rc == FL_WIRE_FRAME && fl__dispatch(c) != 0)
      return fl__conn_close(c);
    /* FL_WIRE_HEADER: the payload continues in the buffer or in the next
     * reads (which alloc points straight at the payload). */
  }
  fl__after_frame(c);
}

static void fl__conn_resume(fl__conn_t *c) {
  if (c->closing)
    return;
  c->paused = 0;
  uv_read_start((uv_stream_t *)&c->tcp, fl__on_alloc, fl__on_read);
}

/* ---- connection lifetime ---------------------------------------------------------- */

static void fl__conn_free(uv_handle_t *h) {
  fl__conn_t *c = h->data;
  if (--c->handles_open > 0)
    return;
  fl_wire_parser_close(&c->parser);
  free(c->rbuf);
  free(c);
}

/* Open requests point at their connection: its handles close (and its
 * memory goes) only once the last of them has ended. */
static void fl__conn_try_free(fl__conn_t *c) {
  if (!c->closing || c->inflight > 0 || c->handles_closing)
    return;
  c->handles_closing = 1;
  uv_close((uv_handle_t *)&c->tcp, fl__conn_free);
  uv_close((uv_handle_t *)&c->idle, fl__conn_free);
}

static void fl__conn_close(fl__conn_t *c) {
  if (c->closing)
    return;
  c->closing = 1;
  fl_srv_t *s = c->srv;
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->prev = c->next = NULL;
  uv_read_stop((uv_stream_t *)&c->tcp);
  uv_timer_stop(&c->idle);
  fl__conn_try_free(c);
}

static void fl__on_idle(uv_timer_t *t) {
  fl__conn_t *c = t->data;
  if (c->inflight == 0) {
    fl_debug(c->srv->name, "%s: idle for %" PRId64 " ms; closing", c->peer,
             c->srv->idle_timeout_ms);
    fl__conn_close(c);
  }
}

static void fl__peer_name(fl__conn_t *c) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  snprintf(c->peer, sizeof c->peer, "peer");
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
    return;
  char ip[48] = "?";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
    port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
    port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  }
  snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
}

static void fl__on_connection(uv_stream_t *server, int status) {
  fl_srv_t *s = server->data;
  if (status < 0) {
    fl_warn(s->name, "accept: %s", uv_strerror(status));
    return;
  }
  fl__conn_t *c = calloc(1, sizeof *c);
  if (!c || !(c->rbuf = malloc(FL__READ_BUF))) {
    free(c);
    return;
  }
  c->srv = s;
  fl_wire_parser_init(&c->parser, &s->limits);
  uv_tcp_init(&s->loop, &c->tcp);
  c->tcp.data = c;
  c->handles_open = 1;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    uv_close((uv_handle_t *)&c->tcp, fl__conn_free);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_timer_init(&s->loop, &c->idle);
  c->idle.data = c;
  c->handles_open = 2;
  uv_timer_start(&c->idle, fl__on_idle, (uint64_t)s->idle_timeout_ms,
                 (uint64_t)s->idle_timeout_ms);
  fl__peer_name(c);
  c->next = s->conns;
  if (s->conns)
    s->conns->prev = c;
  s->conns = c;
  s->conns_total++;
  uv_read_start((uv_stream_t *)&c->tcp, fl__on_alloc, fl__on_read);
}

/* ---- start and stop -------------------------------------------------------------------- */

void fl_srv_stop(fl_srv_t *s) {
  if (s->stopping)
    return;
  s->stopping = 1;
  uv_close((uv_handle_t *)&s->listener, NULL);
  for (fl__conn_t *c = s->conns; c; c = c->next)
    if (!c->paused) {
      uv_read_stop((uv_stream_t *)&c->tcp);
      c->paused = 1;
    }
  if (s->ops.on_stop)
    s->ops.on_stop(s->ctx);
  fl__maybe_finish(s);
}

static void fl__on_signal(uv_signal_t *sig, int signum) {
  fl_srv_t *s = sig->data;
  if (s->stopping)
    return;
  fl_info(s->name, "%s: finishing %d request(s) in flight, then stopping",
          signum == SIGTERM ? "SIGTERM" : "SIGINT", s->inflight);
  fl_srv_stop(s);
}

int fl_srv_stopping(const fl_srv_t *s) { return s->stopping; }

uv_loop_t *fl_srv_loop(fl_srv_t *s) { return &s->loop; }

int fl_srv_port(const fl_srv_t *s) { return s->port; }

void fl_srv_counts(const fl_srv_t *s, uint64_t *conns, uint64_t *reqs) {
  *conns = s->conns_total;
  *reqs = s->reqs_total;
}

int fl_srv_run(fl_srv_t *s) {
  uv_run(&s->loop, UV_RUN_DEFAULT);
  return 0;
}

static void fl__walk_close(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

void fl_srv_free(fl_srv_t *s) {
  if (!s)
    return;
  uv_walk(&s->loop, fl__walk_close, NULL);
  uv_run(&s->loop, UV_RUN_DEFAULT);
  uv_loop_close(&s->loop);
  free(s);
}

int fl_srv_new(const fl_srv_opts_t *o, const fl_srv_ops_t *ops, void *ctx, fl_srv_t **out,
               fl_errmsg_t *em) {
  *out = NULL;
  fl_srv_t *s = calloc(1, sizeof *s);
  if (!s)
    return fl_errf(em, -ENOMEM, "starting the server: out of memory");
  s->ops = *ops;
  s->ctx = ctx;
  snprintf(s->name, sizeof s->name, "%s", o->name ? o->name : "srv");
  s->limits = o->limits;
  s->idle_timeout_ms = o->idle_timeout_ms > 0 ? o->idle_timeout_ms : 300000;
  s->max_inflight = o->max_inflight > 0 ? o->max_inflight : 64;
  int rc = uv_loop_init(&s->loop);
  if (rc < 0) {
    free(s);
    return fl_errf(em, rc, "cannot start the event loop: %s", uv_strerror(rc));
  }
  struct sockaddr_storage ss;
  socklen_t sslen = sizeof ss;
  if ((rc = fl_addr_resolve(&o->listen, SOCK_STREAM, &ss, &sslen, em)) != 0)
    goto fail;
  uv_tcp_init(&s->loop, &s->listener);
  s->listener.data = s;
  rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&s->listener, 511, fl__on_connection);
  if (rc < 0) {
    char a[300];
    fl_addr_format(&o->listen, a, sizeof a);
    rc = fl_errf(em, rc, "cannot listen on %s: %s", a, uv_strerror(rc));
    goto fail;
  }
  int namelen = sizeof ss;
  uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &namelen);
  s->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                     : ntohs(((struct sockaddr_in *)&ss)->sin_port);
  uv_signal_init(&s->loop, &s->sigterm);
  uv_signal_init(&s->loop, &s->sigint);
  s->sigterm.data = s->sigint.data = s;
  uv_signal_start(&s->sigterm, fl__on_signal, SIGTERM);
  uv_signal_start(&s->sigint, fl__on_signal, SIGINT);
  signal(SIGPIPE, SIG_IGN);
  *out = s;
  return 0;
fail:
  fl_srv_free(s);
  return rc;
}
