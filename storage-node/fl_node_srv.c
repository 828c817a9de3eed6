/* The storage node's network side: one libuv loop accepts connections and
 * parses frames; every request runs on libuv's thread pool (disk, CRC and
 * index work never touch the loop) and its response is written back as
 * header + payload without copying the payload. Requests on one connection
 * are pipelined (responses carry the request id and may come back out of
 * order); a connection pauses reading once max_inflight requests are in
 * progress. A malformed frame closes only its own connection. SIGTERM or
 * SIGINT stop accepting, let every request in flight finish and its
 * response go out, then close the store. Scrubbing and compaction run in
 * the background on the same pool. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "fl_log.h"
#include "fl_node.h"
#include "fl_wire.h"

#define FL__READ_BUF (256 * 1024)

typedef struct fl__node fl__node_t;

typedef struct fl__conn {
  uv_tcp_t tcp;                 /* handle first: freed in the close callback */
  uv_timer_t idle;
  fl__node_t *node;
  fl_wire_parser_t parser;
  char *rbuf;                   /* read buffer when not reading a payload in place */
  int in_payload;               /* the last alloc handed out the payload destination */
  int inflight;                 /* requests queued or running */
  int paused;                   /* reading stopped for back-pressure */
  int closing;                  /* no more reading; handles close once idle */
  int handles_closing;          /* uv_close called on both handles */
  int handles_open;
  char peer[64];
  struct fl__conn *prev, *next; /* node's connection list, loop thread only */
} fl__conn_t;

typedef struct fl__req {
  uv_work_t work;
  uv_write_t write;
  fl__conn_t *conn;
  uint8_t *hdr_in;             /* packed request header, unpacked on the worker */
  size_t hdr_in_len;
  void *payload_in;            /* handed over from the parser */
  size_t payload_in_len;
  uint8_t *hdr_out;            /* encoded response preamble + header */
  size_t hdr_out_len;
  void *payload_out_base;      /* allocation holding the response payload */
  void *payload_out;
  uint64_t payload_out_len;
} fl__req_t;

struct fl__node {
  uv_loop_t loop;
  uv_tcp_t listener;
  uv_signal_t sigterm, sigint;
  uv_timer_t maint;
  uv_work_t maint_work;
  int maint_running;
  uint64_t last_scrub_ms, last_compact_ms;
  atomic_int stop_flag;        /* tells a running scrub to stop */
  const fl_node_cfg_t *cfg;
  fl_store_t *store;
  fl_wire_limits_t limits;
  fl__conn_t *conns;
  int inflight;                /* all requests queued or running */
  int stopping;
  int finished;                /* the loop's own handles are closing */
  uint64_t conns_total, reqs_total;
};

static void fl__conn_close(fl__conn_t *c);
static void fl__conn_resume(fl__conn_t *c);

/* ---- responses -------------------------------------------------------------- */

static void fl__req_free(fl__req_t *r) {
  free(r->hdr_in);
  free(r->payload_in);
  free(r->hdr_out);
  free(r->payload_out_base);
  free(r);
}

static void fl__conn_try_free(fl__conn_t *c);

static void fl__maybe_finish(fl__node_t *n) {
  if (n->stopping && !n->finished && n->inflight == 0 && !n->maint_running) {
    n->finished = 1;
    while (n->conns)
      fl__conn_close(n->conns);
    uv_close((uv_handle_t *)&n->maint, NULL);
    uv_close((uv_handle_t *)&n->sigterm, NULL);
    uv_close((uv_handle_t *)&n->sigint, NULL);
  }
}

static void fl__req_done(fl__req_t *r) {
  fl__conn_t *c = r->conn;
  fl__node_t *n = c->node;
  fl__req_free(r);
  c->inflight--;
  n->inflight--;
  if (c->paused && c->inflight < c->node->cfg->max_inflight && !n->stopping)
    fl__conn_resume(c);
  fl__conn_try_free(c);
  fl__maybe_finish(n);
}

static void fl__on_write(uv_write_t *w, int status) {
  fl__req_t *r = w->data;
  if (status < 0 && !r->conn->closing) {
    fl_debug("node", "%s: write failed: %s", r->conn->peer, uv_strerror(status));
    fl__conn_close(r->conn);
  }
  fl__req_done(r);
}

static void fl__work(uv_work_t *w) {
  fl__req_t *r = w->data;
  fl__node_t *n = r->conn->node;
  Fl__FrameHeader *req = fl__frame_header__unpack(NULL, r->hdr_in_len, r->hdr_in);
  Fl__FrameHeader resp = FL__FRAME_HEADER__INIT;
  fl_node_rpc_scratch_t *sc = NULL;
  if (!req) {
    /* It decoded on the loop a moment ago: only memory can fail here. */
    fl_error("node", "cannot decode a request header again (out of memory?)");
    return;
  }
  fl_node_rpc_handle(n->store, n->cfg, req, r->payload_in, r->payload_in_len, &resp, &sc,
                     &r->payload_out_base, &r->payload_out, &r->payload_out_len);
  size_t cap = fl_wire_encoded_size(&resp);
  r->hdr_out = malloc(cap);
  fl_errmsg_t em = {{0}};
  if (r->hdr_out && fl_wire_encode_header(&resp, r->hdr_out, cap, &r->hdr_out_len, &em) != 0) {
    fl_error("node", "cannot encode a %s response: %s", fl_wire_type_name(req->type), em.msg);
    free(r->hdr_out);
    r->hdr_out = NULL;
  }
  fl_node_rpc_scratch_free(sc);
  fl__frame_header__free_unpacked(req, NULL);
  /* The request payload is not needed any more: give its memory back now. */
  free(r->payload_in);
  r->payload_in = NULL;
}

static void fl__after_work(uv_work_t *w, int status) {
  fl__req_t *r = w->data;
  fl__conn_t *c = r->conn;
  if (status != 0 || !r->hdr_out || c->closing) {
    if (!r->hdr_out && !c->closing)
      fl__conn_close(c); /* the peer would wait for ever otherwise */
    fl__req_done(r);
    return;
  }
  uv_buf_t bufs[2] = {uv_buf_init((char *)r->hdr_out, (unsigned)r->hdr_out_len),
                      uv_buf_init(r->payload_out, (unsigned)r->payload_out_len)};
  r->write.data = r;
  int rc = uv_write(&r->write, (uv_stream_t *)&c->tcp, bufs, r->payload_out_len ? 2 : 1,
                    fl__on_write);
  if (rc < 0) {
    fl__conn_close(c);
    fl__req_done(r);
  }
}

/* ---- reading ------------------------------------------------------------------ */

static int fl__dispatch(fl__conn_t *c) {
  fl__node_t *n = c->node;
  const Fl__FrameHeader *h = fl_wire_parser_header(&c->parser);
  if (h->response) {
    fl_warn("node", "%s: sent a response frame where a request belongs; closing", c->peer);
    return -1;
  }
  fl__req_t *r = calloc(1, sizeof *r);
  if (!r)
    return -1;
  r->conn = c;
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
  r->work.data = r;
  c->inflight++;
  n->inflight++;
  n->reqs_total++;
  int rc = uv_queue_work(&n->loop, &r->work, fl__work, fl__after_work);
  if (rc < 0) {
    c->inflight--;
    n->inflight--;
    fl__req_free(r);
    return -1;
  }
  return 0;
}

static void fl__conn_fail(fl__conn_t *c, int rc, const fl_errmsg_t *em) {
  fl_warn("node", "%s: closing connection: %s (%s)", c->peer, fl_errmsg_str(em, rc),
          fl_err_name(rc));
  fl__conn_close(c);
}

static void fl__after_frame(fl__conn_t *c) {
  if (c->inflight >= c->node->cfg->max_inflight && !c->paused) {
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
  *buf = uv_buf_init(c->rbuf, FL__READ_BUF);
}

static void fl__on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  fl__conn_t *c = s->data;
  (void)buf;
  if (c->closing)
    return;
  if (nread < 0) {
    if (nread != UV_EOF)
      fl_debug("node", "%s: read: %s", c->peer, uv_strerror((int)nread));
    else if (fl_wire_parser_mid_frame(&c->parser))
      fl_warn("node", "%s: connection closed in the middle of a frame", c->peer);
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
    if (rc == FL_WIRE_FRAME) {
      if (fl__dispatch(c) != 0)
        return fl__conn_close(c);
    }
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

/* Requests in flight point at their connection: its handles close (and its
 * memory goes) only once the last of them is done. */
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
  fl__node_t *n = c->node;
  if (c->prev)
    c->prev->next = c->next;
  else
    n->conns = c->next;
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
    fl_debug("node", "%s: idle for %" PRId64 " ms; closing", c->peer, c->node->cfg->idle_timeout_ms);
    fl__conn_close(c);
  }
}

static void fl__on_connection(uv_stream_t *server, int status) {
  fl__node_t *n = server->data;
  if (status < 0) {
    fl_warn("node", "accept: %s", uv_strerror(status));
    return;
  }
  fl__conn_t *c = calloc(1, sizeof *c);
  if (!c || !(c->rbuf = malloc(FL__READ_BUF))) {
    free(c);
    return;
  }
  c->node = n;
  fl_wire_parser_init(&c->parser, &n->limits);
  uv_tcp_init(&n->loop, &c->tcp);
  c->tcp.data = c;
  c->handles_open = 1;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    uv_close((uv_handle_t *)&c->tcp, fl__conn_free);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_timer_init(&n->loop, &c->idle);
  c->idle.data = c;
  c->handles_open = 2;
  uv_timer_start(&c->idle, fl__on_idle, (uint64_t)n->cfg->idle_timeout_ms,
                 (uint64_t)n->cfg->idle_timeout_ms);
  struct sockaddr_storage ss;
  int len = sizeof ss;
  snprintf(c->peer, sizeof c->peer, "peer");
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
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
  c->next = n->conns;
  if (n->conns)
    n->conns->prev = c;
  n->conns = c;
  n->conns_total++;
  uv_read_start((uv_stream_t *)&c->tcp, fl__on_alloc, fl__on_read);
}

/* ---- background maintenance ---------------------------------------------------------- */

enum { FL__MAINT_NONE, FL__MAINT_SCRUB, FL__MAINT_COMPACT };

typedef struct fl__maint_job {
  fl__node_t *node;
  int kind;
} fl__maint_job_t;

static void fl__maint_work(uv_work_t *w) {
  fl__maint_job_t *j = w->data;
  fl__node_t *n = j->node;
  fl_errmsg_t em = {{0}};
  int rc;
  if (j->kind == FL__MAINT_SCRUB) {
    rc = fl_store_scrub(n->store, (double)n->cfg->scrub_rate / 1e6, &n->stop_flag, NULL, &em);
    if (rc)
      fl_warn("scrub", "pass stopped: %s", fl_errmsg_str(&em, rc));
  } else {
    uint64_t freed = 0;
    rc = fl_store_compact(n->store, (unsigned)n->cfg->compact_dead_pct, &freed, &em);
    if (rc)
      fl_warn("compact", "stopped: %s", fl_errmsg_str(&em, rc));
  }
}

static void fl__maint_done(uv_work_t *w, int status) {
  (void)status;
  fl__maint_job_t *j = w->data;
  fl__node_t *n = j->node;
  if (j->kind == FL__MAINT_SCRUB)
    n->last_scrub_ms = uv_now(&n->loop);
  else
    n->last_compact_ms = uv_now(&n->loop);
  free(j);
  n->maint_running = 0;
  fl__maybe_finish(n);
}

static void fl__on_maint(uv_timer_t *t) {
  fl__node_t *n = t->data;
  if (n->maint_running || n->stopping)
    return;
  uint64_t now = uv_now(&n->loop);
  int kind = FL__MAINT_NONE;
  if (n->cfg->compact_interval_ms > 0 &&
      now - n->last_compact_ms >= (uint64_t)n->cfg->compact_interval_ms)
    kind = FL__MAINT_COMPACT;
  else if (n->cfg->scrub_rate > 0 && now - n->last_scrub_ms >= (uint64_t)n->cfg->scrub_interval_ms)
    kind = FL__MAINT_SCRUB;
  if (kind == FL__MAINT_NONE)
    return;
  fl__maint_job_t *j = calloc(1, sizeof *j);
  if (!j)
    return;
  j->node = n;
  j->kind = kind;
  n->maint_work.data = j;
  if (uv_queue_work(&n->loop, &n->maint_work, fl__maint_work, fl__maint_done) == 0)
    n->maint_running = 1;
  else
    free(j);
}

/* ---- start and stop -------------------------------------------------------------------- */

static void fl__on_signal(uv_signal_t *s, int signum) {
  fl__node_t *n = s->data;
  if (n->stopping)
    return;
  fl_info("node", "%s: finishing %d request(s) in flight, then stopping",
          signum == SIGTERM ? "SIGTERM" : "SIGINT", n->inflight);
  n->stopping = 1;
  atomic_store(&n->stop_flag, 1);
  uv_close((uv_handle_t *)&n->listener, NULL);
  for (fl__conn_t *c = n->conns; c; c = c->next)
    if (!c->paused) {
      uv_read_stop((uv_stream_t *)&c->tcp);
      c->paused = 1;
    }
  fl__maybe_finish(n);
}

static void fl__walk_close(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

int fl_node_run(const fl_node_cfg_t *cfg, fl_errmsg_t *em) {
  char workers[16];
  snprintf(workers, sizeof workers, "%d", (int)cfg->workers);
  /* libuv reads the pool size once, at the first queued work. */
  setenv("UV_THREADPOOL_SIZE", workers, 1);
  fl__node_t *n = calloc(1, sizeof *n);
  if (!n)
    return -ENOMEM;
  n->cfg = cfg;
  n->limits.payload_max = cfg->max_payload;
  int rc = uv_loop_init(&n->loop);
  if (rc < 0) {
    free(n);
    return fl_errf(em, rc, "cannot start the event loop: %s", uv_strerror(rc));
  }
  fl_store_opts_t so;
  memset(&so, 0, sizeof so);
  so.volume_max_bytes = cfg->volume_max;
  so.reserve_bytes = cfg->reserve;
  so.direct = cfg->direct == 0 ? FL_VOL_DIRECT_AUTO
              : cfg->direct == 1 ? FL_VOL_DIRECT_ON
                                 : FL_VOL_DIRECT_OFF;
  so.idx.block_cache_bytes = cfg->index_cache;
  fl_store_open_report_t rep;
  rc = fl_store_open(cfg->data, &so, &n->store, &rep, em);
  if (rc) {
    fl_errprefix(em, rc, "opening the store in %s", cfg->data);
    goto fail;
  }
  struct sockaddr_storage ss;
  socklen_t sslen = sizeof ss;
  if ((rc = fl_addr_resolve(&cfg->listen, SOCK_STREAM, &ss, &sslen, em)) != 0)
    goto fail;
  uv_tcp_init(&n->loop, &n->listener);
  n->listener.data = n;
  rc = uv_tcp_bind(&n->listener, (struct sockaddr *)&ss, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&n->listener, 511, fl__on_connection);
  if (rc < 0) {
    char a[300];
    fl_addr_format(&cfg->listen, a, sizeof a);
    rc = fl_errf(em, rc, "cannot listen on %s: %s", a, uv_strerror(rc));
    goto fail;
  }
  int namelen = sizeof ss;
  uv_tcp_getsockname(&n->listener, (struct sockaddr *)&ss, &namelen);
  int port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                      : ntohs(((struct sockaddr_in *)&ss)->sin_port);
  fl_info("node", "node %d (dc %s, rack %s) serving %s on %s port %d", (int)cfg->id, cfg->dc,
          cfg->rack, cfg->data, cfg->listen.host, port);
  uv_signal_init(&n->loop, &n->sigterm);
  uv_signal_init(&n->loop, &n->sigint);
  n->sigterm.data = n->sigint.data = n;
  uv_signal_start(&n->sigterm, fl__on_signal, SIGTERM);
  uv_signal_start(&n->sigint, fl__on_signal, SIGINT);
  signal(SIGPIPE, SIG_IGN);
  uv_timer_init(&n->loop, &n->maint);
  n->maint.data = n;
  n->last_scrub_ms = n->last_compact_ms = uv_now(&n->loop);
  uv_timer_start(&n->maint, fl__on_maint, 1000, 1000);
  uv_run(&n->loop, UV_RUN_DEFAULT);
  fl_info("node", "stopped after %" PRIu64 " connections and %" PRIu64 " requests",
          n->conns_total, n->reqs_total);
  rc = 0;
fail:
  uv_walk(&n->loop, fl__walk_close, NULL);
  uv_run(&n->loop, UV_RUN_DEFAULT);
  uv_loop_close(&n->loop);
  fl_store_close(n->store);
  free(n);
  return rc;
}
