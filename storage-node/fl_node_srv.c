/* The storage node on the generic server (common/fl_srv.h): every request
 * runs on libuv's thread pool (disk, CRC and index work never touch the
 * loop) and its response goes back as header + payload without copying
 * the payload. Requests marked background (peers' repair) run on a pool of
 * their own at low CPU priority instead, so a client's request never
 * queues behind a burst of them. Answers to background requests wait
 * until every open request of their connection has one (up to 1 MiB, and
 * 1 ms at most), then leave in one write: a repair asks each peer for
 * several fragments at once, and loopback TCP here costs half as much CPU
 * per byte in writes of 512 KiB as in writes of 128 KiB. For the same
 * reason a finished background request wakes the loop only when it is
 * the last of its connection still being worked on (or 1 MiB or 1 ms of
 * answers wait unannounced): the loop would only hold the others. Scrubbing and compaction run in the background on the same
 * pool; a stop waits for the one running to notice the stop flag. */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "fl_heal.h"
#include "fl_log.h"
#include "fl_node.h"
#include "fl_node_coord.h"
#include "fl_pool.h"
#include "fl_srv.h"
#include "fl_wire.h"

typedef struct fl__job fl__job_t;

#define FL__HOLD_BYTES (1u << 20) /* answers of one connection held, at most */
#define FL__HOLD_MS 1

typedef struct fl__node {
  fl_srv_t *srv;
  /* Background requests (repair from peers) run on pools of their own at
   * low CPU priority, puts apart from the rest: a put sleeps in group
   * commit until its sync, and a batch of them on the reads' workers would
   * leave none for reads meanwhile. Finished ones queue here for the loop
   * thread. */
  fl_pool_t *bg_pool, *bg_put_pool;
  uv_async_t bg_async;
  int bg_async_open;
  pthread_mutex_t bg_mu;
  fl__job_t *bg_done;          /* under bg_mu */
  fl__job_t *held;             /* answered background jobs waiting for company (loop) */
  uv_timer_t hold_timer;       /* sends what is held after FL__HOLD_MS at most */
  uv_timer_t maint;
  uv_work_t maint_work;
  int maint_running;
  uv_work_t trim_work;         /* malloc_trim on the pool, at most one at a time */
  int trim_running;
  int trim_idle;               /* no request since the last trim check */
  uint64_t trim_reqs;          /* requests served at the last trim check */
  uint64_t last_trim_ms;
  uint64_t last_scrub_ms, last_compact_ms;
  atomic_int stop_flag;        /* tells a running scrub to stop */
  const fl_node_cfg_t *cfg;
  fl_store_t *store;
  fl_node_coord_t *coord;      /* NULL without --coord; set before the loop runs */
  fl_heal_t *heal;             /* repair worker: with a coordinator, unless turned off */
} fl__node_t;

struct fl__job {
  uv_work_t work;
  fl__job_t *next;             /* bg_done list */
  fl__node_t *node;
  fl_srv_req_t *req;
  uint8_t *hdr_out;            /* encoded response preamble + header */
  size_t hdr_out_len;
  void *payload_out_base;      /* allocation holding the response payload */
  void *payload_out;
  uint64_t payload_out_len;
};

/* ---- requests on the pool ------------------------------------------------------- */

static void fl__work(uv_work_t *w) {
  fl__job_t *j = w->data;
  fl__node_t *n = j->node;
  const Fl__FrameHeader *req = fl_srv_req_header(j->req);
  Fl__FrameHeader resp = FL__FRAME_HEADER__INIT;
  fl_node_rpc_scratch_t *sc = NULL;
  if (!req) {
    fl_error("node", "cannot decode a request header again (out of memory?)");
    return;
  }
  uint64_t plen = 0;
  const void *payload = fl_srv_req_payload(j->req, &plen);
  fl_node_rpc_handle(n->store, n->cfg, n->coord, req, payload, plen, &resp, &sc,
                     &j->payload_out_base, &j->payload_out, &j->payload_out_len);
  size_t cap = fl_wire_encoded_size(&resp);
  j->hdr_out = malloc(cap);
  fl_errmsg_t em = {{0}};
  if (j->hdr_out && fl_wire_encode_header(&resp, j->hdr_out, cap, &j->hdr_out_len, &em) != 0) {
    fl_error("node", "cannot encode a %s response: %s", fl_wire_type_name(req->type), em.msg);
    free(j->hdr_out);
    j->hdr_out = NULL;
  }
  fl_node_rpc_scratch_free(sc);
  /* The request payload is not needed any more: give its memory back now. */
  fl_srv_req_release_payload(j->req);
}

static void fl__after_work(uv_work_t *w, int status) {
  fl__job_t *j = w->data;
  if (status != 0 || !j->hdr_out) {
    free(j->hdr_out);
    free(j->payload_out_base);
    fl_srv_req_drop(j->req);
  } else {
    fl_srv_req_respond_raw(j->req, j->hdr_out, j->hdr_out_len, j->payload_out_base,
                           j->payload_out, j->payload_out_len);
  }
  free(j);
}

/* A background job on bg_pool: the same work, then back to the loop. */
static void fl__bg_run(void *arg) {
  fl__job_t *j = arg;
  fl__node_t *n = j->node;
  fl__work(&j->work);
  /* Under bg_mu from the count to the queue: whoever announces after this
   * finds this answer queued. */
  pthread_mutex_lock(&n->bg_mu);
  int announce = fl_srv_req_work_end(j->req, j->payload_out_len, FL__HOLD_BYTES,
                                     (int64_t)FL__HOLD_MS * 1000000);
  j->next = n->bg_done;
  n->bg_done = j;
  pthread_mutex_unlock(&n->bg_mu);
  if (announce)
    uv_async_send(&n->bg_async);
}

/* Sends the held answers of the connection of `like` (every
 * connection's when NULL), one write per connection. A connection has at
 * most max_inflight open requests, so one write takes all it holds. */
static void fl__held_send(fl__node_t *n, const fl_srv_req_t *like) {
  while (n->held) {
    const fl_srv_req_t *conn = like ? like : n->held->req;
    size_t k = 0, cap = 0;
    for (const fl__job_t *j = n->held; j; j = j->next)
      cap += fl_srv_req_same_conn(j->req, conn);
    fl_srv_resp_t *rs = malloc((cap ? cap : 1) * sizeof *rs);
    for (fl__job_t **pp = &n->held; *pp;) {
      fl__job_t *j = *pp;
      if (!fl_srv_req_same_conn(j->req, conn)) {
        pp = &j->next;
        continue;
      }
      *pp = j->next;
      if (rs) {
        rs[k++] = (fl_srv_resp_t){j->req,           j->hdr_out,     j->hdr_out_len,
                                  j->payload_out_base, j->payload_out, j->payload_out_len};
        free(j);
      } else {
        fl__after_work(&j->work, 0); /* no memory for the group: one by one */
      }
    }
    /* After this, `conn` (and `like`) may be freed. */
    fl_srv_req_respond_group(rs, k);
    free(rs);
    if (like)
      break;
  }
}

/* Whether the held answers of j's connection should go now: every open
 * request of it is answered, or enough bytes wait. */
static int fl__held_ready(fl__node_t *n, const fl__job_t *j) {
  int count = 0;
  uint64_t bytes = 0;
  for (const fl__job_t *h = n->held; h; h = h->next)
    if (fl_srv_req_same_conn(h->req, j->req)) {
      count++;
      bytes += h->payload_out_len;
    }
  return count >= fl_srv_req_conn_unanswered(j->req) || bytes >= FL__HOLD_BYTES;
}

static void fl__on_hold_timer(uv_timer_t *t) { fl__held_send(t->data, NULL); }

static void fl__bg_answer(uv_async_t *a) {
  fl__node_t *n = a->data;
  pthread_mutex_lock(&n->bg_mu);
  fl__job_t *j = n->bg_done;
  n->bg_done = NULL;
  pthread_mutex_unlock(&n->bg_mu);
  while (j) {
    fl__job_t *next = j->next;
    if (!j->hdr_out) {
      fl__after_work(&j->work, 0);
    } else {
      j->next = n->held;
      n->held = j;
      if (fl__held_ready(n, j))
        fl__held_send(n, j->req);
    }
    j = next;
  }
  if (n->held && !uv_is_active((uv_handle_t *)&n->hold_timer))
    uv_timer_start(&n->hold_timer, fl__on_hold_timer, FL__HOLD_MS, 0);
}

static void fl__on_request(void *ctx, fl_srv_req_t *req) {
  fl__node_t *n = ctx;
  fl__job_t *j = calloc(1, sizeof *j);
  if (!j) {
    fl_srv_req_drop(req);
    return;
  }
  j->node = n;
  j->req = req;
  j->work.data = j;
  const Fl__FrameHeader *h = n->bg_pool ? fl_srv_req_header(req) : NULL;
  if (h && h->background) {
    pthread_mutex_lock(&n->bg_mu);
    fl_srv_req_work_begin(req);
    pthread_mutex_unlock(&n->bg_mu);
    fl_pool_t *pool = h->type == FL__MSG_TYPE__MSG_TYPE_PUT_FRAGMENT ? n->bg_put_pool : n->bg_pool;
    if (fl_pool_submit(pool, fl__bg_run, j) == 0)
      return;
    /* Not handed over after all; answers it kept waiting go now. */
    pthread_mutex_lock(&n->bg_mu);
    fl_srv_req_work_end(req, 0, 0, 0);
    pthread_mutex_unlock(&n->bg_mu);
    uv_async_send(&n->bg_async);
  }
  if (uv_queue_work(fl_srv_loop(n->srv), &j->work, fl__work, fl__after_work) < 0) {
    free(j);
    fl_srv_req_drop(req);
  }
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
  uv_loop_t *loop = fl_srv_loop(n->srv);
  if (j->kind == FL__MAINT_SCRUB)
    n->last_scrub_ms = uv_now(loop);
  else
    n->last_compact_ms = uv_now(loop);
  free(j);
  n->maint_running = 0;
  fl_srv_maybe_finish(n->srv);
}

/* Fragment buffers of many sizes come and go on up to `workers` threads, and
 * glibc keeps what they free in per-thread arenas: without giving it back,
 * a burst of 8 MiB requests would stay resident for good. But a trim also
 * hands back the pages a busy node is about to reuse, and fresh pages cost
 * this machine class 1-2.7 GB/s against 26 for resident ones: trimming
 * every 5 s under a repair of 7 MiB fragments took 40% of the nodes' CPU in
 * page faults and zeroing. So every FL__TRIM_EVERY_MS the pool trims only
 * if the heap holds more than FL__TRIM_BUSY_FREE bytes free, or more than
 * FL__TRIM_IDLE_FREE and the node served no request since the last check:
 * a busy node keeps a bounded reserve, an idle one gives nearly all back. */
#define FL__TRIM_EVERY_MS 5000
#define FL__TRIM_BUSY_FREE (128u << 20)
#define FL__TRIM_IDLE_FREE (4u << 20)

static void fl__trim_work(uv_work_t *w) {
  fl__node_t *n = w->data;
  struct mallinfo2 mi = mallinfo2();
  if (mi.fordblks > FL__TRIM_BUSY_FREE || (n->trim_idle && mi.fordblks > FL__TRIM_IDLE_FREE))
    malloc_trim(0);
}

static void fl__trim_done(uv_work_t *w, int status) {
  (void)status;
  fl__node_t *n = w->data;
  n->trim_running = 0;
  fl_srv_maybe_finish(n->srv);
}

static void fl__on_maint(uv_timer_t *t) {
  fl__node_t *n = t->data;
  if (fl_srv_stopping(n->srv))
    return;
  uint64_t now = uv_now(fl_srv_loop(n->srv));
  if (!n->trim_running && now - n->last_trim_ms >= FL__TRIM_EVERY_MS) {
    uint64_t conns, reqs;
    fl_srv_counts(n->srv, &conns, &reqs);
    n->trim_idle = reqs == n->trim_reqs;
    n->trim_reqs = reqs;
    n->last_trim_ms = now;
    n->trim_work.data = n;
    if (uv_queue_work(fl_srv_loop(n->srv), &n->trim_work, fl__trim_work, fl__trim_done) == 0)
      n->trim_running = 1;
  }
  if (n->maint_running)
    return;
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
  if (uv_queue_work(fl_srv_loop(n->srv), &n->maint_work, fl__maint_work, fl__maint_done) == 0)
    n->maint_running = 1;
  else
    free(j);
}

/* ---- start and stop -------------------------------------------------------------------- */

static void fl__on_stop(void *ctx) {
  fl__node_t *n = ctx;
  atomic_store(&n->stop_flag, 1);
}

static int fl__busy(void *ctx) {
  fl__node_t *n = ctx;
  return n->maint_running || n->trim_running;
}

static void fl__on_finish(void *ctx) {
  fl__node_t *n = ctx;
  uv_close((uv_handle_t *)&n->maint, NULL);
  uv_close((uv_handle_t *)&n->hold_timer, NULL);
  /* Every request is answered by now, background ones included. */
  if (n->bg_async_open)
    uv_close((uv_handle_t *)&n->bg_async, NULL);
  n->bg_async_open = 0;
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
  pthread_mutex_init(&n->bg_mu, NULL);
  fl_store_opts_t so;
  memset(&so, 0, sizeof so);
  so.volume_max_bytes = cfg->volume_max;
  so.reserve_bytes = cfg->reserve;
  so.direct = cfg->direct == 0 ? FL_VOL_DIRECT_AUTO
              : cfg->direct == 1 ? FL_VOL_DIRECT_ON
                                 : FL_VOL_DIRECT_OFF;
  so.idx.block_cache_bytes = cfg->index_cache;
  fl_store_open_report_t rep;
  int rc = fl_store_open(cfg->data, &so, &n->store, &rep, em);
  if (rc) {
    fl_errprefix(em, rc, "opening the store in %s", cfg->data);
    goto fail;
  }
  fl_srv_opts_t o = {.name = "node", .listen = cfg->listen,
                     .limits = {.payload_max = cfg->max_payload},
                     .idle_timeout_ms = cfg->idle_timeout_ms, .max_inflight = cfg->max_inflight};
  fl_srv_ops_t ops = {.on_request = fl__on_request, .on_stop = fl__on_stop, .busy = fl__busy,
                      .on_finish = fl__on_finish};
  if ((rc = fl_srv_new(&o, &ops, n, &n->srv, em)) != 0)
    goto fail;
  int port = fl_srv_port(n->srv);
  fl_info("node", "node %d (dc %s, rack %s) serving %s on %s port %d", (int)cfg->id, cfg->dc,
          cfg->rack, cfg->data, cfg->listen.host, port);
  if (cfg->coord.host[0] &&
      (rc = fl_node_coord_start(cfg, n->store, port, &n->coord, em)) != 0)
    goto fail;
  if (n->coord && cfg->repair_enabled) {
    fl_heal_opts_t ho = {.rate = cfg->repair_rate, .interval_ms = cfg->repair_interval_ms,
                         .parallel = (int)cfg->repair_parallel,
                         .inflight = (int)cfg->repair_inflight,
                         .settle_ms = cfg->repair_settle_ms};
    if ((rc = fl_heal_start(cfg, n->coord, n->store, &ho, &n->heal, em)) != 0)
      goto fail;
    fl_node_coord_set_progress(n->coord, fl_heal_progress, n->heal);
  }
  uv_loop_t *loop = fl_srv_loop(n->srv);
  /* Background reads get half the request workers, 1 to 8: enough for
   * repair's pipelined reads. Background puts get as many, 1 to 32: they
   * mostly wait in group commit, and the more wait, the more share a sync
   * (a repair batch sends a target up to `inflight` puts at once, from
   * every leader). */
  if ((rc = uv_async_init(loop, &n->bg_async, fl__bg_answer)) != 0) {
    rc = fl_errf(em, -ENOMEM, "starting the background request queue: %s", uv_strerror(rc));
    goto fail;
  }
  n->bg_async.data = n;
  n->bg_async_open = 1;
  unsigned bg = cfg->workers > 16 ? 8u : cfg->workers > 1 ? (unsigned)cfg->workers / 2 : 1u;
  unsigned bg_put = cfg->workers > 64 ? 32u : cfg->workers > 1 ? (unsigned)cfg->workers / 2 : 1u;
  if ((rc = fl_pool_new_low(&n->bg_pool, bg)) != 0 ||
      (rc = fl_pool_new_low(&n->bg_put_pool, bg_put)) != 0) {
    rc = fl_errf(em, rc, "starting the background request workers: %s", fl_strerror(rc));
    goto fail;
  }
  uv_timer_init(loop, &n->maint);
  n->maint.data = n;
  uv_timer_init(loop, &n->hold_timer);
  n->hold_timer.data = n;
  n->last_scrub_ms = n->last_compact_ms = uv_now(loop);
  uv_timer_start(&n->maint, fl__on_maint, 1000, 1000);
  fl_srv_run(n->srv);
  uint64_t conns, reqs;
  fl_srv_counts(n->srv, &conns, &reqs);
  fl_info("node", "stopped after %" PRIu64 " connections and %" PRIu64 " requests", conns, reqs);
  rc = 0;
fail:
  fl_node_coord_set_progress(n->coord, NULL, NULL);
  fl_heal_stop(n->heal);
  fl_node_coord_stop(n->coord);
  /* Idle by now: the server answered every request before its loop ended. */
  fl_pool_free(n->bg_pool);
  fl_pool_free(n->bg_put_pool);
  fl_srv_free(n->srv);
  fl_store_close(n->store);
  pthread_mutex_destroy(&n->bg_mu);
  free(n);
  return rc;
}
