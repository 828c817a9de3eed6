/* The repair worker: passes over the PGs this node leads, the I/O of a
 * degraded PG's plan, the rate limit and the progress figures. The
 * decisions are fl_heal_plan.c's; this file fetches what they read and
 * carries out what they return. Threads: one that schedules passes, a
 * pool of `parallel` PG workers, and a pool of 2 x parallel batch workers
 * (a PG worker waits for its batches on the other pool, so neither pool
 * can starve itself). Both pools run at low CPU priority and every
 * request they send is marked background, so the peers serve it behind
 * their clients' requests too: repair takes what clients leave. */
#include "fl_heal.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fl_crc32c.h"
#include "fl_ec.h"
#include "fl_heal_conn.h"
#include "fl_heal_plan.h"
#include "fl_log.h"
#include "fl_map.h"
#include "fl_nc.h"
#include "fl_node.h"
#include "fl_node_coord.h"
#include "fl_place.h"
#include "fl_pool.h"

#define FL__CALL_TIMEOUT_MS 10000
#define FL__LIST_PAGE 2000u
#define FL__BUSY_REPASS_MS 1000 /* after a pass that did work: check again soon */
#define FL__BATCH_BYTES (32u << 20) /* fragment bytes one batch reads, at most */
#define FL__BATCHES_PER_PG 2        /* batches of one PG position at once */

struct fl_heal {
  const fl_node_cfg_t *cfg;
  fl_node_coord_t *coord;
  fl_store_t *store; /* this node's own fragments are read from it directly */
  fl_heal_opts_t opts;
  pthread_t thread;
  int started;
  pthread_mutex_t mu; /* stop, kick, progress, rate sampling */
  pthread_cond_t cv;
  int stop, kick;
  atomic_int stopping;
  fl_pool_t *pg_pool, *io_pool;
  fl_heal_conns_t *conns;
  /* codec of the current policy (reconstructs replicas too) */
  pthread_mutex_t ec_mu;
  fl_ec_t *ec_ec;
  uint32_t ec_k, ec_m;
  /* when placement last changed, to let rebalance wait for it to settle */
  fl_map_t last_map;
  int have_last_map;
  double placement_changed;
  /* token bucket */
  pthread_mutex_t rate_mu;
  double tokens, rate_last;
  /* per PG (pg_count of lost_n): the pass that last found objects with
   * fewer than k fragments there, under mu; lets one sighting (a put
   * still in flight) be told from a loss that stays */
  uint64_t *lost_pass;
  uint32_t lost_n;
  /* figures */
  fl_cc_repair_t prog;
  double sample_t;
  uint64_t sample_bytes;
  double ewma;
};

static double fl__now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fl__sleep(double s) {
  if (s <= 0)
    return;
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

/* Waits until `bytes` may be written under the rate limit. */
static void fl__rate_take(fl_heal_t *h, uint64_t bytes) {
  if (!h->opts.rate)
    return;
  double rate = (double)h->opts.rate, wait;
  pthread_mutex_lock(&h->rate_mu);
  double now = fl__now();
  h->tokens += (now - h->rate_last) * rate;
  h->rate_last = now;
  /* A small burst (1/16 s of the rate, at least 256 KiB) spreads bounded
   * repair evenly beside client reads instead of in bursts of a quarter
   * second's worth. */
  double burst = rate / 16 > 256 << 10 ? rate / 16 : 256 << 10;
  if (h->tokens > burst)
    h->tokens = burst;
  h->tokens -= (double)bytes;
  wait = h->tokens < 0 ? -h->tokens / rate : 0;
  pthread_mutex_unlock(&h->rate_mu);
  while (wait > 0 && !atomic_load(&h->stopping)) {
    double step = wait > 0.1 ? 0.1 : wait;
    fl__sleep(step);
    wait -= step;
  }
}

static void fl__count(fl_heal_t *h, uint64_t *field, uint64_t n) {
  pthread_mutex_lock(&h->mu);
  *field += n;
  pthread_mutex_unlock(&h->mu);
}

/* The codec for geometry k+m, made on first use and when the policy changes. */
static int fl__codecs(fl_heal_t *h, uint32_t k, uint32_t m, fl_errmsg_t *em) {
  int rc = 0;
  pthread_mutex_lock(&h->ec_mu);
  if (!h->ec_ec || h->ec_k != k || h->ec_m != m) {
    /* No fragment job runs between passes, so the old codecs are idle. */
    fl_ec_close(h->ec_ec);
    h->ec_ec = NULL;
    fl_ec_config_t ec = {.k = (int)k, .m = (int)m, .replica_threshold = 0};
    rc = fl_ec_init(&h->ec_ec, &ec, em);
    h->ec_k = k;
    h->ec_m = m;
  }
  pthread_mutex_unlock(&h->ec_mu);
  return rc;
}

/* ---- one pass's shared view ------------------------------------------------- */

typedef struct fl__peer {
  int in_dc, answered;
  fl_nc_pg_stat_t *st; /* sorted by (pg, frag) */
  size_t n;
} fl__peer_t;

typedef struct fl__pass {
  fl_heal_t *h;
  fl_map_t map;
  fl_place_t *pl;
  uint32_t dc;
  fl__peer_t *peers;     /* per map node */
  int self;              /* this node's index in map */
  uint8_t *answered;     /* per map node */
  fl_latch_t done;
  pthread_mutex_t mu;
  uint64_t seen_epoch;   /* the node's epoch last compared with map (under mu) */
  int stale;             /* that epoch moves placement: stop this pass */
  uint32_t pgs_failed;
  uint32_t pgs_worked; /* PGs whose plan had operations */
  int defer_copies;    /* placement changed moments ago: rebalance waits */
} fl__pass_t;

typedef struct fl__pgjob {
  fl__pass_t *pass;
  uint32_t pg;
  int place[FL_HEAL_WIDTH_MAX];
  fl_heal_check_t check;
} fl__pgjob_t;

/* A listed entry, copied out of the listing. */
typedef struct fl__lent {
  char tenant[64], study[68], series[68], sop[68];
  uint8_t *packed; /* the ListEntry, packed: metadata for puts */
  size_t plen;
} fl__lent_t;

typedef struct fl__list {
  fl__lent_t *v;
  fl_heal_entry_t *e;
  size_t n, cap;
  int node;
  int err;
} fl__list_t;

static int fl__peer_call_stats(fl_heal_t *h, const fl_map_node_t *nd, fl__peer_t *p) {
  fl_errmsg_t em = {{0}};
  fl_wire_conn_t *c;
  int rc = fl_heal_conns_get(h->conns, nd->id, nd->addr, &c, &em);
  if (rc == 0) {
    rc = fl_nc_pg_stats(c, &p->st, &p->n, &em);
    fl_heal_conns_put(h->conns, nd->id, nd->addr, c);
  }
  if (rc)
    fl_warn("repair", "summaries of node %u (%s): %s", nd->id, nd->addr, fl_errmsg_str(&em, rc));
  return rc;
}

static size_t fl__stats_lower(const fl__peer_t *p, uint32_t pg) {
  size_t lo = 0, hi = p->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (p->st[mid].pg < pg)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static int fl__node_index(const fl_map_t *map, uint32_t id) {
  const fl_map_node_t *n = fl_map_find_node(map, id);
  return n ? (int)(n - map->nodes) : -1;
}

static int fl__list_cb(void *arg, const Fl__ListEntry *e) {
  fl__list_t *l = arg;
  if (!e->key)
    return 0;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 256;
    fl__lent_t *v = realloc(l->v, cap * sizeof *v);
    if (!v)
      return -ENOMEM;
    l->v = v;
    l->cap = cap;
  }
  fl__lent_t *x = &l->v[l->n];
  memset(x, 0, sizeof *x);
  snprintf(x->tenant, sizeof x->tenant, "%s", e->key->tenant);
  snprintf(x->study, sizeof x->study, "%s", e->key->study_uid);
  snprintf(x->series, sizeof x->series, "%s", e->key->series_uid);
  snprintf(x->sop, sizeof x->sop, "%s", e->key->sop_uid);
  x->plen = fl__list_entry__get_packed_size(e);
  x->packed = malloc(x->plen ? x->plen : 1);
  if (!x->packed)
    return -ENOMEM;
  fl__list_entry__pack(e, x->packed);
  l->n++;
  return 0;
}

/* Lists the PG on one node into l (entries appended, node noted). */
static int fl__list_node(fl_heal_t *h, const fl_map_node_t *nd, uint32_t pg, fl__list_t *l,
                         fl_errmsg_t *em) {
  fl_wire_conn_t *c;
  int rc = fl_heal_conns_get(h->conns, nd->id, nd->addr, &c, em);
  if (rc)
    return rc;
  uint64_t count = 0;
  rc = fl_nc_list_pg(c, pg, 1, FL__LIST_PAGE, fl__list_cb, l, &count, em);
  fl_heal_conns_put(h->conns, nd->id, nd->addr, c);
  return rc;
}

/* ---- fragment work -------------------------------------------------------- */

typedef struct fl__opjob {
  fl__pass_t *pass;
  fl__pgjob_t *job;
  const fl_heal_plan_t *plan;
  const fl_heal_op_t *op;
  const fl__lent_t *lents;
  fl_latch_t *latch;
  atomic_int *failed;
} fl__opjob_t;

static void fl__nc_key(const fl__pgjob_t *j, const fl__lent_t *x, uint32_t frag, fl_nc_key_t *k) {
  *k = (fl_nc_key_t){j->pg, x->tenant, x->study, x->series, x->sop, frag};
}

/* A fetched fragment must be whole, of the wanted index, and match its
 * own header's CRC: the decoder checks again, but a copy is not decoded. */
static int fl__verify(const uint8_t *buf, uint64_t got, uint64_t fsize, uint32_t frag,
                      uint32_t node_id, fl_errmsg_t *em) {
  fl_ec_frag_hdr_t hdr;
  if (got != fsize)
    return fl_errf(em, FL_ECORRUPT, "node %u sent %" PRIu64 " bytes, listed %" PRIu64, node_id,
                   got, fsize);
  int rc = fl_ec_frag_hdr_parse(buf, got, &hdr, em);
  if (rc == 0 &&
      (hdr.index != frag || hdr.payload_len != got - FL_EC_FRAG_HDR_SIZE ||
       fl_crc32c(buf + FL_EC_FRAG_HDR_SIZE, got - FL_EC_FRAG_HDR_SIZE) != hdr.payload_crc))
    rc = fl_errf(em, FL_ECORRUPT, "fragment %u from node %u fails its own checks", frag,
                 node_id);
  return rc;
}

/* Reads fragment frag of the object whole from node ni into a new buffer. */
static int fl__fetch(fl__pass_t *ps, int ni, const fl__pgjob_t *j, const fl__lent_t *x,
                     uint32_t frag, uint64_t fsize, uint8_t **out, fl_errmsg_t *em) {
  const fl_map_node_t *nd = &ps->map.nodes[ni];
  uint8_t *buf = malloc(fsize ? fsize : 1);
  if (!buf)
    return -ENOMEM;
  fl_wire_conn_t *c;
  int rc = fl_heal_conns_get(ps->h->conns, nd->id, nd->addr, &c, em);
  if (rc) {
    free(buf);
    return rc;
  }
  fl_nc_key_t k;
  fl__nc_key(j, x, frag, &k);
  uint64_t got = 0;
  rc = fl_nc_get(c, &k, 0, 0, buf, fsize, &got, NULL, em);
  fl_heal_conns_put(ps->h->conns, nd->id, nd->addr, c);
  if (rc == 0)
    rc = fl__verify(buf, got, fsize, frag, nd->id, em);
  if (rc) {
    free(buf);
    return rc;
  }
  *out = buf;
  return 0;
}

static int fl__put(fl__pass_t *ps, int ni, const fl__pgjob_t *j, const fl__lent_t *x,
                   uint32_t frag, const struct iovec *iov, int iovcnt, fl_errmsg_t *em) {
  const fl_map_node_t *nd = &ps->map.nodes[ni];
  Fl__ListEntry *meta = fl__list_entry__unpack(NULL, x->plen, x->packed);
  if (!meta)
    return fl_errf(em, -ENOMEM, "cannot unpack a listed entry again");
  fl_wire_conn_t *c;
  int rc = fl_heal_conns_get(ps->h->conns, nd->id, nd->addr, &c, em);
  if (rc == 0) {
    fl_nc_key_t k;
    fl__nc_key(j, x, frag, &k);
    int existed = 0;
    rc = fl_nc_put_entry(c, &k, meta, iov, iovcnt, &existed, em);
    fl_heal_conns_put(ps->h->conns, nd->id, nd->addr, c);
  }
  fl__list_entry__free_unpacked(meta, NULL);
  return rc;
}

static int fl__do_copy(fl__opjob_t *o, fl_errmsg_t *em) {
  const fl_heal_obj_t *ob = &o->plan->objs[o->op->obj];
  const fl__lent_t *x = &o->lents[ob->meta->ref];
  uint8_t *buf;
  int rc = fl__fetch(o->pass, o->op->source, o->job, x, o->op->frag, ob->meta->fsize, &buf, em);
  if (rc)
    return rc;
  fl__rate_take(o->pass->h, ob->meta->fsize);
  struct iovec iov = {buf, ob->meta->fsize};
  rc = fl__put(o->pass, o->op->target, o->job, x, o->op->frag, &iov, 1, em);
  free(buf);
  if (rc == 0) {
    fl_heal_t *h = o->pass->h;
    pthread_mutex_lock(&h->mu);
    h->prog.fragments_copied++;
    h->prog.bytes_done += ob->meta->fsize;
    pthread_mutex_unlock(&h->mu);
  }
  return rc;
}

/* Asks the holders of the first `need` fragments for them at once, each on
 * its own connection, and collects the whole ones into bufs/in (*nb); the
 * reconstruction verifies their CRCs.
 * Returns the fragment indexes asked for (bit f). */
static uint32_t fl__fetch_many(fl__pass_t *ps, const fl__pgjob_t *j, const fl__lent_t *x,
                               const fl_heal_obj_t *ob, uint32_t width, uint32_t need,
                               uint64_t fsize, uint8_t **bufs, fl_ec_in_t *in, uint32_t *nb,
                               fl_errmsg_t *em) {
  fl_wire_conn_t *c[FL_HEAL_WIDTH_MAX] = {0};
  uint32_t fr[FL_HEAL_WIDTH_MAX], n = 0, tried = 0, asked = 0;
  int local = -1;
  for (uint32_t f = 0; f < width && asked < need; f++) {
    if (ob->src[f] < 0)
      continue;
    const fl_map_node_t *nd = &ps->map.nodes[ob->src[f]];
    tried |= 1u << f;
    asked++;
    if (ob->src[f] == ps->self && ps->h->store) {
      local = (int)f; /* read from this node's own store below, no network */
      continue;
    }
    fl_nc_key_t k;
    fl__nc_key(j, x, f, &k);
    if (fl_heal_conns_get(ps->h->conns, nd->id, nd->addr, &c[n], em) != 0)
      continue;
    if (fl_nc_get_send(c[n], f, &k, em) != 0) {
      fl_heal_conns_put(ps->h->conns, nd->id, nd->addr, c[n]);
      c[n] = NULL;
      continue;
    }
    fr[n++] = f;
  }
  if (local >= 0) {
    /* While the others answer: the fragment this node holds itself. */
    fl_idx_key_t k;
    fl_idx_value_t v;
    void *base = NULL, *data = NULL;
    uint64_t got = 0;
    int rc = fl_idx_key_make(&k, j->pg, x->tenant, x->study, x->series, x->sop,
                             (uint16_t)local, em);
    if (rc == 0)
      rc = fl_store_get(ps->h->store, &k, 0, 0, &v, &base, &data, &got, em);
    if (rc == 0 && got == fsize) {
      bufs[*nb] = base;
      in[*nb].buf = data;
      in[*nb].len = fsize;
      (*nb)++;
    } else {
      free(base);
    }
  }
  for (uint32_t i = 0; i < n; i++) {
    const fl_map_node_t *nd = &ps->map.nodes[ob->src[fr[i]]];
    uint8_t *buf = malloc(fsize ? fsize : 1);
    uint64_t id = 0;
    int rc = buf ? fl_nc_recv(c[i], buf, fsize, &id, em) : -ENOMEM;
    const Fl__FrameHeader *h = rc == 0 ? fl_wire_conn_header(c[i]) : NULL;
    if (rc == 0 && id != fr[i])
      rc = fl_errf(em, FL_EPROTO, "node %u answered request %" PRIu64 ", not %u", nd->id, id,
                   fr[i]);
    if (rc == 0 && h->payload_length != fsize)
      rc = fl_errf(em, FL_ECORRUPT, "node %u sent %" PRIu64 " bytes of fragment %u, listed %" PRIu64,
                   nd->id, h->payload_length, fr[i], fsize);
    fl_heal_conns_put(ps->h->conns, nd->id, nd->addr, c[i]);
    if (rc) {
      free(buf);
      continue;
    }
    bufs[*nb] = buf;
    in[*nb].buf = buf;
    in[*nb].len = fsize;
    (*nb)++;
  }
  return tried;
}

static int fl__do_rebuild(fl__opjob_t *o, fl_errmsg_t *em) {
  fl__pass_t *ps = o->pass;
  fl_heal_t *h = ps->h;
  const fl_heal_obj_t *ob = &o->plan->objs[o->op->obj];
  const fl_heal_entry_t *me = ob->meta;
  const fl__lent_t *x = &o->lents[me->ref];
  uint32_t width = me->ec ? ps->map.policy.k + ps->map.policy.m : ps->map.policy.m + 1;
  uint32_t need = me->ec ? ps->map.policy.k : 1;
  uint8_t *bufs[FL_HEAL_WIDTH_MAX];
  fl_ec_in_t in[FL_HEAL_WIDTH_MAX];
  uint32_t nb = 0;
  size_t len = 0;
  fl_errmsg_t fe = {{0}};
  uint8_t *frag = malloc(me->fsize ? me->fsize : 1);
  int rc = frag ? 0 : -ENOMEM;
  /* The first k holders are asked at once; liberasurecode computes the
   * one fragment from them (no decode of the object, no full encode). */
  uint32_t tried = 0;
  if (rc == 0) {
    tried = fl__fetch_many(ps, o->job, x, ob, width, need, me->fsize, bufs, in, &nb, &fe);
    rc = nb ? fl_ec_reconstruct(h->ec_ec, in, (int)nb, (int)o->op->frag, frag, me->fsize, &len,
                                em)
            : FL_EUNAVAIL;
  }
  if (rc == FL_EUNAVAIL || rc == FL_ECORRUPT) {
    /* One was missing or bad: add every other holder, one at a time. */
    for (uint32_t f = 0; f < width; f++) {
      if (ob->src[f] < 0 || (tried & (1u << f)))
        continue;
      if (fl__fetch(ps, ob->src[f], o->job, x, f, me->fsize, &bufs[nb], &fe) == 0) {
        in[nb].buf = bufs[nb];
        in[nb].len = me->fsize;
        nb++;
      }
    }
    rc = nb ? fl_ec_reconstruct(h->ec_ec, in, (int)nb, (int)o->op->frag, frag, me->fsize, &len,
                                em)
            : fl_errf(em, FL_EUNAVAIL, "no fragment readable (%s)", fe.msg);
  }
  if (rc == 0 && len != me->fsize)
    rc = fl_errf(em, FL_EINTERNAL, "rebuilt fragment %u is %zu bytes, listed %" PRIu64,
                 o->op->frag, len, me->fsize);
  if (rc == 0) {
    fl__rate_take(h, len);
    struct iovec iov = {frag, len};
    if ((rc = fl__put(ps, o->op->target, o->job, x, o->op->frag, &iov, 1, em)) == 0) {
      pthread_mutex_lock(&h->mu);
      h->prog.fragments_rebuilt++;
      h->prog.bytes_done += len;
      pthread_mutex_unlock(&h->mu);
    }
  }
  free(frag);
  for (uint32_t i = 0; i < nb; i++)
    free(bufs[i]);
  return rc;
}

static void fl__op_run(void *arg) {
  fl__opjob_t *o = arg;
  fl_errmsg_t em = {{0}};
  int rc = 0;
  if (atomic_load(&o->pass->h->stopping))
    rc = -ECANCELED;
  else if (o->op->kind == FL_HEAL_COPY)
    rc = fl__do_copy(o, &em);
  else
    rc = fl__do_rebuild(o, &em);
  if (rc) {
    atomic_fetch_add(o->failed, 1);
    if (rc != -ECANCELED) {
      const fl_heal_obj_t *ob = &o->plan->objs[o->op->obj];
      fl_warn("repair", "PG %u %s fragment %u of %s onto node %u: %s", o->job->pg,
              o->op->kind == FL_HEAL_COPY ? "copying" : "rebuilding", o->op->frag,
              ob->meta->sop, o->pass->map.nodes[o->op->target].id, fl_errmsg_str(&em, rc));
    }
  }
  fl_latch_done(o->latch);
}

/* ---- pipelined batches --------------------------------------------------- */

/* A batch is up to `inflight` copies and rebuilds of one PG position done
 * together: every fragment read is sent at once, pipelined on one
 * connection per source node, and every write on one connection to the
 * target, so a source serves the whole batch per wake-up and the target's
 * group commit takes its writes in one sync. An op the batch could not
 * finish (a source missing or corrupt) is retried alone by the per-op path
 * above, which asks the other holders. */

typedef struct fl__bconn {
  int ni;               /* map node index */
  fl_wire_conn_t *c;    /* NULL: not connected */
  uint32_t pending;     /* answers still due */
  int bad;              /* transport failed: discard */
} fl__bconn_t;

typedef struct fl__bop {
  const fl_heal_op_t *op;
  const fl_heal_obj_t *ob;
  const fl__lent_t *x;
  uint32_t asked;       /* bit f: fragment f asked for */
  uint32_t local;       /* bit f: fragment f to read from this node's store */
  uint32_t nb;
  uint8_t *bufs[FL_HEAL_WIDTH_MAX];
  fl_ec_in_t in[FL_HEAL_WIDTH_MAX];
  uint32_t crc[FL_HEAL_WIDTH_MAX]; /* in[i]'s CRC32C, checked as it arrived or was read */
  uint8_t *out;         /* what the target gets (a rebuilt or a fetched fragment) */
  size_t out_len;
  uint32_t out_crc;
  int out_owned;        /* out is its own allocation (a rebuilt fragment) */
  int done;             /* written */
} fl__bop_t;

typedef struct fl__batch {
  fl__pass_t *pass;
  fl__pgjob_t *job;
  const fl_heal_plan_t *plan;
  const fl_heal_op_t *ops;
  size_t n;
  const fl__lent_t *lents;
  fl_latch_t *latch;
  atomic_int *failed;
} fl__batch_t;

/* Counts one fragment written by a batch. */
static void fl__count_written(fl_heal_t *h, int kind, uint64_t bytes) {
  pthread_mutex_lock(&h->mu);
  if (kind == FL_HEAL_COPY)
    h->prog.fragments_copied++;
  else
    h->prog.fragments_rebuilt++;
  h->prog.bytes_done += bytes;
  pthread_mutex_unlock(&h->mu);
}

/* The batch's connection to map node ni, connected on first use; NULL if
 * it cannot be had. */
static fl__bconn_t *fl__bconn(fl__pass_t *ps, fl__bconn_t *cs, uint32_t *nc, int ni) {
  for (uint32_t i = 0; i < *nc; i++)
    if (cs[i].ni == ni)
      return cs[i].bad ? NULL : &cs[i];
  fl__bconn_t *b = &cs[(*nc)++];
  *b = (fl__bconn_t){.ni = ni};
  const fl_map_node_t *nd = &ps->map.nodes[ni];
  fl_errmsg_t em = {{0}};
  if (fl_heal_conns_get(ps->h->conns, nd->id, nd->addr, &b->c, &em) != 0) {
    fl_warn("repair", "node %u (%s): %s", nd->id, nd->addr, em.msg);
    b->bad = 1;
    return NULL;
  }
  return b;
}

static void fl__bconns_release(fl__pass_t *ps, fl__bconn_t *cs, uint32_t nc) {
  for (uint32_t i = 0; i < nc; i++) {
    const fl_map_node_t *nd = &ps->map.nodes[cs[i].ni];
    if (cs[i].bad || cs[i].pending)
      fl_heal_conns_discard(cs[i].c);
    else
      fl_heal_conns_put(ps->h->conns, nd->id, nd->addr, cs[i].c);
  }
}

/* Collects every answer due on b into the ops' buffers (request id =
 * op * FL_HEAL_WIDTH_MAX + fragment index). */
static void fl__batch_collect(fl__bconn_t *b, fl__bop_t *bo, size_t n, uint64_t cap,
                              uint32_t node_id) {
  while (b->pending && !b->bad) {
    uint8_t *buf = malloc(cap ? cap : 1);
    uint64_t id = 0;
    fl_errmsg_t em = {{0}};
    int rc = buf ? fl_nc_recv(b->c, buf, cap, &id, &em) : -ENOMEM;
    if (rc && !fl_wire_conn_usable(b->c)) {
      fl_warn("repair", "reading from node %u: %s", node_id, fl_errmsg_str(&em, rc));
      b->bad = 1;
      free(buf);
      break;
    }
    b->pending--;
    size_t a = (size_t)(id / FL_HEAL_WIDTH_MAX);
    uint32_t f = (uint32_t)(id % FL_HEAL_WIDTH_MAX);
    const Fl__FrameHeader *h = fl_wire_conn_header(b->c);
    if (rc == 0 && (a >= n || !(bo[a].asked & (1u << f))))
      rc = fl_errf(&em, FL_EPROTO, "node %u answered request %" PRIu64 ", not asked", node_id,
                   id);
    if (rc == 0 && h->payload_length != bo[a].ob->meta->fsize)
      rc = fl_errf(&em, FL_ECORRUPT, "node %u sent %" PRIu64 " bytes of fragment %u, listed %" PRIu64,
                   node_id, h->payload_length, f, bo[a].ob->meta->fsize);
    if (rc) {
      /* The op is retried alone; a protocol error also ends the connection. */
      if (rc == FL_EPROTO)
        b->bad = 1;
      free(buf);
      continue;
    }
    bo[a].asked &= ~(1u << f); /* answered: a duplicate id is refused */
    /* The frame's CRC, checked as the bytes arrived, covers the whole
     * fragment: the payload's own CRC follows from it without another
     * pass. */
    if (fl_ec_frag_verify_known(buf, (size_t)h->payload_length, h->payload_crc32c, NULL, &em) !=
        0) {
      fl_warn("repair", "fragment %u of %s from node %u: %s", f, bo[a].ob->meta->sop, node_id,
              em.msg);
      free(buf);
      continue;
    }
    bo[a].bufs[bo[a].nb] = buf;
    bo[a].in[bo[a].nb].buf = buf;
    bo[a].in[bo[a].nb].len = (size_t)h->payload_length;
    bo[a].crc[bo[a].nb] = h->payload_crc32c;
    bo[a].nb++;
  }
}

/* Reads this node's own fragment f of op a from its store. */
static void fl__batch_local(fl__pass_t *ps, const fl__pgjob_t *j, fl__bop_t *b, uint32_t f) {
  fl_idx_key_t k;
  fl_idx_value_t v;
  void *base = NULL, *data = NULL;
  uint64_t got = 0;
  fl_errmsg_t em = {{0}};
  int rc = fl_idx_key_make(&k, j->pg, b->x->tenant, b->x->study, b->x->series, b->x->sop,
                           (uint16_t)f, &em);
  if (rc == 0)
    rc = fl_store_get(ps->h->store, &k, 0, 0, &v, &base, &data, &got, &em);
  /* The read checked the record's CRC, which covers the whole fragment. */
  if (rc == 0 && got == b->ob->meta->fsize)
    rc = fl_ec_frag_verify_known(data, (size_t)got, v.crc, NULL, &em);
  if (rc == 0 && got == b->ob->meta->fsize) {
    b->bufs[b->nb] = base;
    b->in[b->nb].buf = data;
    b->in[b->nb].len = (size_t)got;
    b->crc[b->nb] = v.crc;
    b->nb++;
  } else {
    free(base);
  }
}

/* Stores a fragment this node itself is the target of through its own
 * request handler: the same checks and metadata as a PUT from a peer,
 * without the loopback copies. */
static int fl__put_local(fl__pass_t *ps, const fl__pgjob_t *j, const fl__lent_t *x,
                         uint32_t frag, const uint8_t *data, size_t len, uint32_t crc,
                         fl_errmsg_t *em) {
  fl_heal_t *h = ps->h;
  Fl__ListEntry *meta = fl__list_entry__unpack(NULL, x->plen, x->packed);
  if (!meta)
    return fl_errf(em, -ENOMEM, "cannot unpack a listed entry again");
  fl_nc_key_t k;
  fl__nc_key(j, x, frag, &k);
  fl_nc_put_msg_t m;
  int rc = fl_nc_put_entry_msg(&m, &k, meta, len, em);
  if (rc == 0) {
    m.h.payload_length = len;
    m.h.payload_crc32c = crc;
    m.h.map_epoch = ps->map.epoch;
    Fl__FrameHeader resp = FL__FRAME_HEADER__INIT;
    fl_node_rpc_scratch_t *sc = NULL;
    void *ob = NULL, *o = NULL;
    uint64_t ol = 0;
    fl_node_rpc_handle(h->store, h->cfg, h->coord, &m.h, data, len, &resp, &sc, &ob, &o, &ol);
    if (resp.status)
      rc = fl_errf(em, resp.status, "%s", resp.error_text && resp.error_text[0]
                                              ? resp.error_text
                                              : fl_strerror(resp.status));
    fl_node_rpc_scratch_free(sc);
    free(ob);
  }
  fl__list_entry__free_unpacked(meta, NULL);
  return rc;
}

static void fl__batch_run(void *arg) {
  fl__batch_t *bt = arg;
  fl__pass_t *ps = bt->pass;
  fl_heal_t *h = ps->h;
  size_t n = bt->n;
  uint32_t nn = ps->map.node_count;
  fl__bop_t *bo = calloc(n, sizeof *bo);
  fl__bconn_t *cs = calloc(2 * (size_t)(nn ? nn : 1), sizeof *cs); /* reads, then writes */
  uint32_t nc = 0;
  uint64_t cap = 0;
  if (!bo || !cs || atomic_load(&h->stopping)) {
    atomic_fetch_add(bt->failed, (int)n);
    goto out;
  }
  /* Ask every source at once. */
  for (size_t a = 0; a < n; a++) {
    fl__bop_t *b = &bo[a];
    b->op = &bt->ops[a];
    b->ob = &bt->plan->objs[b->op->obj];
    b->x = &bt->lents[b->ob->meta->ref];
    if (b->ob->meta->fsize > cap)
      cap = b->ob->meta->fsize;
    int ec = b->ob->meta->ec;
    uint32_t width = ec ? ps->map.policy.k + ps->map.policy.m : ps->map.policy.m + 1;
    uint32_t need = b->op->kind == FL_HEAL_COPY ? 1 : ec ? ps->map.policy.k : 1;
    /* Paced before its reads, so a rate-limited batch does not read in
     * bursts either. */
    fl__rate_take(h, b->ob->meta->fsize);
    for (uint32_t f = 0, asked = 0; f < width && asked < need; f++) {
      int ni = b->op->kind == FL_HEAL_COPY ? (f == b->op->frag ? b->op->source : -1)
                                           : b->ob->src[f];
      if (ni < 0)
        continue;
      asked++;
      if (ni == ps->self && h->store) {
        b->local |= 1u << f; /* read once every request is out */
        continue;
      }
      fl__bconn_t *c = fl__bconn(ps, cs, &nc, ni);
      fl_nc_key_t k;
      fl__nc_key(bt->job, b->x, f, &k);
      fl_errmsg_t em = {{0}};
      if (!c)
        continue;
      if (fl_nc_get_queue(c->c, (uint64_t)a * FL_HEAL_WIDTH_MAX + f, &k, &em) != 0) {
        c->bad = 1;
        continue;
      }
      c->pending++;
      b->asked |= 1u << f;
    }
  }
  /* Each source's requests leave in one write, so its loop takes them in
   * one read; then this node's own fragments while the peers read theirs
   * (the requests left together, so each peer can answer them together). */
  for (uint32_t i = 0; i < nc; i++) {
    fl_errmsg_t em = {{0}};
    if (cs[i].pending && fl_wire_conn_flush(cs[i].c, &em) != 0)
      cs[i].bad = 1;
  }
  for (size_t a = 0; a < n; a++)
    for (uint32_t f = 0; f < FL_HEAL_WIDTH_MAX; f++)
      if (bo[a].local & (1u << f))
        fl__batch_local(ps, bt->job, &bo[a], f);
  for (uint32_t i = 0; i < nc; i++)
    fl__batch_collect(&cs[i], bo, n, cap, ps->map.nodes[cs[i].ni].id);

  /* Make what each target gets. */
  for (size_t a = 0; a < n; a++) {
    fl__bop_t *b = &bo[a];
    uint64_t fsize = b->ob->meta->fsize;
    fl_errmsg_t em = {{0}};
    if (b->op->kind == FL_HEAL_COPY) {
      fl_ec_frag_hdr_t fh;
      /* Verified on arrival: what is left is that it is the wanted one. */
      if (b->nb == 1 && b->in[0].len == fsize &&
          fl_ec_frag_check_len(b->in[0].buf, b->in[0].len, &fh, &em) == 0 &&
          fh.index == b->op->frag) {
        b->out = (uint8_t *)b->in[0].buf;
        b->out_len = (size_t)fsize;
        b->out_crc = b->crc[0];
      }
      continue;
    }
    if (!b->nb || !(b->out = malloc(fsize ? fsize : 1)))
      continue;
    b->out_owned = 1;
    if (fl_ec_reconstruct_checked(h->ec_ec, b->in, (int)b->nb, (int)b->op->frag, b->out, fsize,
                                  &b->out_len, &em) != 0 ||
        b->out_len != fsize) {
      free(b->out);
      b->out = NULL;
      b->out_owned = 0;
    } else {
      b->out_crc = fl_ec_frag_whole_crc(b->out, b->out_len);
    }
  }

  /* Write them, pipelined per target (request id = op), on connections
   * apart from the read ones. */
  fl__bconn_t *ws = cs + nc;
  uint32_t nw = 0;
  for (size_t a = 0; a < n; a++) {
    fl__bop_t *b = &bo[a];
    if (!b->out)
      continue;
    if (b->op->target == ps->self && h->store) {
      fl_errmsg_t em = {{0}};
      int rc = fl__put_local(ps, bt->job, b->x, b->op->frag, b->out, b->out_len, b->out_crc,
                             &em);
      if (rc) {
        fl_warn("repair", "PG %u writing fragment %u of %s here: %s", bt->job->pg,
                b->op->frag, b->ob->meta->sop, fl_errmsg_str(&em, rc));
        b->done = -1;
        continue;
      }
      b->done = 1;
      fl__count_written(h, b->op->kind, b->out_len);
      continue;
    }
    fl__bconn_t *c = fl__bconn(ps, ws, &nw, b->op->target);
    if (!c)
      continue;
    Fl__ListEntry *meta = fl__list_entry__unpack(NULL, b->x->plen, b->x->packed);
    if (!meta)
      continue;
    fl_nc_key_t k;
    fl__nc_key(bt->job, b->x, b->op->frag, &k);
    struct iovec iov = {b->out, b->out_len};
    fl_errmsg_t em = {{0}};
    int rc = fl_nc_put_entry_queue(c->c, a, &k, meta, &iov, 1, b->out_crc, &em);
    fl__list_entry__free_unpacked(meta, NULL);
    if (rc) {
      c->bad = 1;
      continue;
    }
    c->pending++;
  }
  /* Each target's puts leave together, in one write (see fl_wire_conn.h). */
  for (uint32_t i = 0; i < nw; i++) {
    fl_errmsg_t em = {{0}};
    if (ws[i].pending && fl_wire_conn_flush(ws[i].c, &em) != 0) {
      fl_warn("repair", "writing to node %u: %s", ps->map.nodes[ws[i].ni].id, em.msg);
      ws[i].bad = 1;
    }
  }
  for (uint32_t i = 0; i < nw; i++) {
    fl__bconn_t *c = &ws[i];
    uint32_t node_id = ps->map.nodes[c->ni].id;
    while (c->pending && !c->bad) {
      uint64_t id = 0;
      fl_errmsg_t em = {{0}};
      int rc = fl_nc_recv(c->c, NULL, 0, &id, &em);
      if (rc && !fl_wire_conn_usable(c->c)) {
        fl_warn("repair", "writing to node %u: %s", node_id, fl_errmsg_str(&em, rc));
        c->bad = 1;
        break;
      }
      c->pending--;
      if (id >= n || !bo[id].out || bo[id].done || bo[id].op->target != c->ni) {
        c->bad = 1; /* not a request of this batch */
        break;
      }
      if (rc) {
        fl_warn("repair", "PG %u writing fragment %u of %s onto node %u: %s", bt->job->pg,
                bo[id].op->frag, bo[id].ob->meta->sop, node_id, fl_errmsg_str(&em, rc));
        bo[id].done = -1;
        continue;
      }
      bo[id].done = 1;
      fl__count_written(h, bo[id].op->kind, bo[id].out_len);
    }
  }
  fl__bconns_release(ps, cs, nc + nw);
  nc = 0;

  /* What the batch could not do: alone, asking every holder. */
  for (size_t a = 0; a < n; a++) {
    if (bo[a].done == 1)
      continue;
    if (bo[a].done == -1) {
      atomic_fetch_add(bt->failed, 1);
      continue;
    }
    fl_latch_t one;
    fl_latch_init(&one);
    fl_latch_add(&one, 1);
    fl__opjob_t o = {ps, bt->job, bt->plan, bo[a].op, bt->lents, &one, bt->failed};
    fl__op_run(&o);
    fl_latch_destroy(&one);
  }
out:
  if (cs)
    fl__bconns_release(ps, cs, nc);
  for (size_t a = 0; bo && a < n; a++) {
    if (bo[a].out_owned)
      free(bo[a].out);
    for (uint32_t i = 0; i < bo[a].nb; i++)
      free(bo[a].bufs[i]);
  }
  free(bo);
  free(cs);
  fl_latch_done(bt->latch);
}

/* Deletes and drops are small: done by the PG worker itself. */
static int fl__small_op(fl__pass_t *ps, fl__pgjob_t *j, const fl_heal_plan_t *p,
                        const fl_heal_op_t *op, const fl__lent_t *lents, fl_errmsg_t *em) {
  const fl_map_node_t *nd = &ps->map.nodes[op->target];
  const fl__lent_t *x = &lents[p->objs[op->obj].meta ? p->objs[op->obj].meta->ref : 0];
  fl_wire_conn_t *c;
  int rc = fl_heal_conns_get(ps->h->conns, nd->id, nd->addr, &c, em);
  if (rc)
    return rc;
  fl_nc_key_t k;
  fl__nc_key(j, x, op->frag, &k);
  uint32_t n = 0;
  if (op->kind == FL_HEAL_DELETE)
    rc = fl_nc_delete(c, &k, 1, &n, em);
  else
    rc = fl_nc_drop(c, &k, ps->map.epoch, &n, em);
  fl_heal_conns_put(ps->h->conns, nd->id, nd->addr, c);
  if (rc == 0)
    fl__count(ps->h,
              op->kind == FL_HEAL_DELETE ? &ps->h->prog.deletes_propagated
                                         : &ps->h->prog.fragments_dropped,
              op->kind == FL_HEAL_DELETE ? 1 : n);
  return rc;
}

/* ---- one PG ---------------------------------------------------------------- */

/* Runs plan ops [first, first+n) (one position) on the fragment pool, in
 * pipelined batches, and waits for them. Batches hold up to `inflight`
 * ops and FL__BATCH_BYTES of reads; the position is cut into at least
 * FL__BATCHES_PER_PG of them so that its sources and target stay busy
 * while a batch reconstructs. */
static void fl__run_ops(fl__pass_t *ps, fl__pgjob_t *j, fl_heal_plan_t *plan, size_t first,
                        size_t n, const fl__lent_t *lents, atomic_int *failed) {
  fl_heal_t *h = ps->h;
  uint64_t fsize = 0, bytes = 0; /* largest fragment; all of them */
  for (size_t a = first; a < first + n; a++) {
    const fl_heal_entry_t *me = plan->objs[plan->ops[a].obj].meta;
    bytes += me->fsize;
    if (me->fsize * (me->ec ? ps->map.policy.k : 1) > fsize)
      fsize = me->fsize * (me->ec ? ps->map.policy.k : 1);
  }
  size_t per = (n + FL__BATCHES_PER_PG - 1) / FL__BATCHES_PER_PG;
  if (per > (size_t)h->opts.inflight)
    per = (size_t)h->opts.inflight;
  if (fsize && per > FL__BATCH_BYTES / fsize)
    per = (size_t)(FL__BATCH_BYTES / fsize);
  if (per < 1)
    per = 1;
  size_t nbatch = n ? (n + per - 1) / per : 0;
  fl__batch_t *bs = calloc(nbatch ? nbatch : 1, sizeof *bs);
  fl_latch_t latch;
  fl_latch_init(&latch);
  if (!bs) {
    atomic_fetch_add(failed, (int)n);
  } else {
    fl_latch_add(&latch, (unsigned)nbatch);
    for (size_t b = 0; b < nbatch; b++) {
      size_t at = b * per, cnt = n - at < per ? n - at : per;
      bs[b] = (fl__batch_t){ps, j, plan, &plan->ops[first + at], cnt, lents, &latch, failed};
      if (fl_pool_submit(h->io_pool, fl__batch_run, &bs[b]) != 0)
        fl__batch_run(&bs[b]);
    }
    fl_latch_wait(&latch);
  }
  fl_latch_destroy(&latch);
  free(bs);
  pthread_mutex_lock(&h->mu);
  uint64_t nb = bytes;
  h->prog.fragments_left -= h->prog.fragments_left < n ? h->prog.fragments_left : n;
  h->prog.bytes_left -= h->prog.bytes_left < nb ? h->prog.bytes_left : nb;
  pthread_mutex_unlock(&h->mu);
}

static void fl__list_free(fl__list_t *l) {
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i].packed);
  free(l->v);
  free(l->e);
}

/* Lists, plans and repairs one degraded PG. 0 when it is complete now. */
static int fl__repair_pg(fl__pass_t *ps, fl__pgjob_t *j) {
  fl_heal_t *h = ps->h;
  uint32_t nn = ps->map.node_count;
  fl__list_t l;
  memset(&l, 0, sizeof l);
  int *owner = NULL; /* node of each entry */
  uint8_t *answered = calloc(nn ? nn : 1, 1);
  int rc = answered ? 0 : -ENOMEM;
  fl_heal_plan_t plan;
  memset(&plan, 0, sizeof plan);
  fl_errmsg_t em = {{0}};
  /* Everyone that reported something of the PG, and every holder. */
  for (uint32_t ni = 0; ni < nn && rc == 0; ni++) {
    fl__peer_t *p = &ps->peers[ni];
    if (!p->answered)
      continue;
    size_t at = fl__stats_lower(p, j->pg);
    int has = at < p->n && p->st[at].pg == j->pg;
    for (uint32_t i = 0; i < FL_HEAL_WIDTH_MAX && !has; i++)
      has = j->place[i] == (int)ni;
    if (!has)
      continue;
    fl_errmsg_t le = {{0}};
    size_t before = l.n;
    int lrc = fl__list_node(h, &ps->map.nodes[ni], j->pg, &l, &le);
    if (lrc == -ENOMEM) {
      rc = lrc;
      break;
    }
    if (lrc) {
      /* Entries from a listing cut short would look like missing data. */
      for (size_t i = before; i < l.n; i++)
        free(l.v[i].packed);
      l.n = before;
      fl_warn("repair", "listing PG %u on node %u: %s", j->pg, ps->map.nodes[ni].id,
              fl_errmsg_str(&le, lrc));
      continue;
    }
    answered[ni] = 1;
    owner = realloc(owner, (l.n ? l.n : 1) * sizeof *owner);
    if (!owner) {
      rc = -ENOMEM;
      break;
    }
    for (size_t i = before; i < l.n; i++)
      owner[i] = (int)ni;
  }
  if (rc == 0 && l.n) {
    l.e = calloc(l.n, sizeof *l.e);
    if (!l.e)
      rc = -ENOMEM;
  }
  for (size_t i = 0; rc == 0 && i < l.n; i++) {
    Fl__ListEntry *e = fl__list_entry__unpack(NULL, l.v[i].plen, l.v[i].packed);
    if (!e) {
      rc = -ENOMEM;
      break;
    }
    l.e[i] = (fl_heal_entry_t){.node = owner[i],
                               .tenant = l.v[i].tenant,
                               .study = l.v[i].study,
                               .series = l.v[i].series,
                               .sop = l.v[i].sop,
                               .frag = e->fragment_index,
                               .fsize = e->fragment_size,
                               .osize = e->object_size,
                               .ec = e->layout != 0,
                               .tombstone = e->tombstone,
                               .ref = i};
    fl__list_entry__free_unpacked(e, NULL);
  }
  fl_heal_pg_t view = {.pg = j->pg, .k = ps->map.policy.k, .m = ps->map.policy.m,
                       .answered = answered, .nodes = (int)nn};
  memcpy(view.place, j->place, sizeof view.place);
  if (rc == 0)
    rc = fl_heal_plan_build(&view, l.e, l.n, &plan, &em);
  if (rc) {
    fl_warn("repair", "PG %u: %s", j->pg, fl_errmsg_str(&em, rc));
    goto out;
  }
  pthread_mutex_lock(&h->mu);
  if (plan.min_survivors &&
      (!h->prog.min_survivors || plan.min_survivors < h->prog.min_survivors))
    h->prog.min_survivors = plan.min_survivors;
  pthread_mutex_unlock(&h->mu);
  if (plan.lost && !plan.blocked) {
    /* A put in flight looks the same for a moment: only a loss the pass
     * before saw too is an error. */
    pthread_mutex_lock(&h->mu);
    uint64_t pass = h->prog.passes + 1; /* this one */
    int again = j->pg < h->lost_n && h->lost_pass[j->pg] + 1 == pass;
    if (j->pg < h->lost_n)
      h->lost_pass[j->pg] = pass;
    pthread_mutex_unlock(&h->mu);
    if (again)
      fl_error("repair", "PG %u: %" PRIu64 " object(s) have fewer than k readable fragments",
               j->pg, plan.lost);
    else
      fl_info("repair", "PG %u: %" PRIu64 " object(s) with fewer than k fragments (a put in "
              "flight, or lost: the next pass tells)", j->pg, plan.lost);
  } else if (plan.lost)
    fl_info("repair", "PG %u: %" PRIu64 " object(s) unreadable while some of its nodes are away",
            j->pg, plan.lost);
  if (plan.n_ops) {
    pthread_mutex_lock(&ps->mu);
    ps->pgs_worked++;
    pthread_mutex_unlock(&ps->mu);
  }
  atomic_int failed = 0;
  size_t i = 0;
  for (; i < plan.n_ops && plan.ops[i].kind == FL_HEAL_DELETE; i++)
    if (fl__small_op(ps, j, &plan, &plan.ops[i], l.v, &em) != 0) {
      fl_warn("repair", "PG %u: propagating a delete: %s", j->pg, em.msg);
      failed++;
    }
  /* One position at a time: the PG never has two in transition. */
  size_t deferred = 0;
  while (i < plan.n_ops && plan.ops[i].kind != FL_HEAL_DROP && !atomic_load(&h->stopping)) {
    size_t e = i;
    while (e < plan.n_ops && plan.ops[e].kind != FL_HEAL_DROP &&
           plan.ops[e].frag == plan.ops[i].frag)
      e++;
    if (ps->defer_copies) {
      /* Copies (the data is still whole elsewhere) wait for the map to
       * settle; rebuilds (redundancy is lost) go at once. Ops of one
       * position are reordered so its copies come last, then cut. */
      size_t w = i;
      for (size_t a = i; a < e; a++)
        if (plan.ops[a].kind != FL_HEAL_COPY) {
          fl_heal_op_t t = plan.ops[w];
          plan.ops[w++] = plan.ops[a];
          plan.ops[a] = t;
        }
      deferred += e - w;
      if (w == i) {
        i = e;
        continue;
      }
      size_t n = w - i;
      fl__run_ops(ps, j, &plan, i, n, l.v, &failed);
      i = e;
      continue;
    }
    size_t n = e - i;
    fl__run_ops(ps, j, &plan, i, n, l.v, &failed);
    i = e;
  }
  /* A drop is only safe under the map the plan was made with. */
  if (atomic_load(&h->stopping) || fl_node_coord_epoch(h->coord) != ps->map.epoch) {
    rc = -ECANCELED;
    goto out;
  }
  if (failed == 0 && deferred == 0 && !plan.blocked) {
    for (; i < plan.n_ops; i++)
      if (fl__small_op(ps, j, &plan, &plan.ops[i], l.v, &em) != 0) {
        fl_warn("repair", "PG %u: dropping a stray copy on node %u: %s", j->pg,
                ps->map.nodes[plan.ops[i].target].id, em.msg);
        failed++;
      }
  }
  rc = failed || deferred || plan.blocked || plan.lost ? FL_EUNAVAIL : 0;
  if (plan.n_ops)
    fl_info("repair", "PG %u: %zu object(s), %zu operation(s), %d failed, %zu waiting%s", j->pg,
            plan.n_objs, plan.n_ops, (int)failed, deferred,
            plan.blocked ? ", a holder is away" : "");
out:
  fl_heal_plan_free(&plan);
  fl__list_free(&l);
  free(owner);
  free(answered);
  return rc;
}

/* Whether the node's map moved on in a way that changes placement since
 * this pass began. A change that moves nothing (a node going down or up)
 * lets the pass go on: writes to a node that is now away fail and are
 * retried, and drops are guarded by epoch anyway. */
static int fl__stale(fl__pass_t *ps) {
  fl_heal_t *h = ps->h;
  uint64_t e = fl_node_coord_epoch(h->coord);
  if (e == ps->map.epoch)
    return 0;
  pthread_mutex_lock(&ps->mu);
  if (ps->seen_epoch != e) {
    fl_map_t cur;
    ps->seen_epoch = e;
    if (fl_node_coord_map(h->coord, &cur, NULL) != 0) {
      ps->stale = 1;
    } else {
      ps->stale = fl_map_placement_differs(&ps->map, &cur);
      fl_map_free(&cur);
    }
  }
  int stale = ps->stale;
  pthread_mutex_unlock(&ps->mu);
  return stale;
}

static void fl__pg_run(void *arg) {
  fl__pgjob_t *j = arg;
  fl__pass_t *ps = j->pass;
  fl_heal_t *h = ps->h;
  int rc = -ECANCELED;
  /* A map that moves placement makes this pass stale: the next one starts
   * at once. */
  if (!atomic_load(&h->stopping) && !fl__stale(ps))
    rc = fl__repair_pg(ps, j);
  pthread_mutex_lock(&h->mu);
  if (rc == 0 && h->prog.pgs_degraded)
    h->prog.pgs_degraded--;
  pthread_mutex_unlock(&h->mu);
  if (rc) {
    pthread_mutex_lock(&ps->mu);
    ps->pgs_failed++;
    pthread_mutex_unlock(&ps->mu);
  }
  fl_latch_done(&ps->done);
}

static int fl__job_cmp(const void *a, const void *b) {
  const fl__pgjob_t *x = a, *y = b;
  if (x->check.survivors != y->check.survivors)
    return x->check.survivors < y->check.survivors ? -1 : 1;
  return x->pg < y->pg ? -1 : x->pg > y->pg;
}

/* One pass over the PGs this node leads. Returns 1 if it did work (then
 * the next pass comes soon, to confirm or finish it). */
static int fl__pass(fl_heal_t *h) {
  fl__pass_t ps;
  memset(&ps, 0, sizeof ps);
  ps.h = h;
  fl_errmsg_t em = {{0}};
  int busy = 0;
  fl__pgjob_t *jobs = NULL;
  if (fl_node_coord_map(h->coord, &ps.map, &em) != 0)
    return 0;
  /* Nodes often join (or leave) one after another within moments: copying
   * towards each intermediate placement would move fragments twice. */
  if (!h->have_last_map || fl_map_placement_differs(&h->last_map, &ps.map)) {
    if (h->have_last_map)
      h->placement_changed = fl__now();
    fl_map_free(&h->last_map);
    h->have_last_map = fl_map_copy(&h->last_map, &ps.map, NULL) == 0;
  }
  ps.defer_copies = fl__now() - h->placement_changed < (double)h->opts.settle_ms / 1000.0;
  uint32_t self = fl_node_coord_id(h->coord);
  int dci = fl_map_dc_index(&ps.map, h->cfg->dc);
  uint32_t k = ps.map.policy.k, m = ps.map.policy.m, w = k + m;
  uint32_t nn = ps.map.node_count;
  if (!self || dci < 0 || w > FL_HEAL_WIDTH_MAX || fl_place_new(&ps.map, &ps.pl, &em) != 0) {
    fl_debug("repair", "no pass at epoch %" PRIu64 ": id %u, datacenter %s%s%s", ps.map.epoch,
             self, h->cfg->dc, em.msg[0] ? ": " : "", em.msg);
    goto out;
  }
  ps.dc = (uint32_t)dci;
  if (fl__codecs(h, k, m, &em) != 0) {
    fl_error("repair", "codec %u+%u: %s", k, m, em.msg);
    goto out;
  }
  pthread_mutex_lock(&h->mu);
  if (h->lost_n != ps.map.policy.pg_count) {
    free(h->lost_pass);
    h->lost_n = 0;
    h->lost_pass = calloc(ps.map.policy.pg_count ? ps.map.policy.pg_count : 1,
                          sizeof *h->lost_pass);
    if (h->lost_pass)
      h->lost_n = ps.map.policy.pg_count;
  }
  pthread_mutex_unlock(&h->mu);
  ps.peers = calloc(nn ? nn : 1, sizeof *ps.peers);
  ps.answered = calloc(nn ? nn : 1, 1);
  jobs = calloc(ps.map.policy.pg_count ? ps.map.policy.pg_count : 1, sizeof *jobs);
  if (!ps.peers || !ps.answered || !jobs)
    goto out;
  int self_ix = fl__node_index(&ps.map, self);
  if (self_ix < 0)
    goto out;
  ps.self = self_ix;
  /* Does this node lead anything? Only then ask the others. */
  uint32_t led = 0, njobs = 0;
  uint8_t *leads = calloc(ps.map.policy.pg_count ? ps.map.policy.pg_count : 1, 1);
  int (*places)[FL_HEAL_WIDTH_MAX] =
      calloc(ps.map.policy.pg_count ? ps.map.policy.pg_count : 1, sizeof *places);
  if (!leads || !places) {
    free(leads);
    free(places);
    goto out;
  }
  for (uint32_t pg = 0; pg < ps.map.policy.pg_count; pg++) {
    uint32_t ids[FL_MAP_WIDTH_MAX];
    if (fl_place_pg(ps.pl, pg, ps.dc, 0, ids, NULL) != 0)
      continue;
    int leader = -1;
    for (uint32_t i = 0; i < w; i++) {
      places[pg][i] = fl__node_index(&ps.map, ids[i]);
      if (leader < 0 && places[pg][i] >= 0 && (ps.map.nodes[places[pg][i]].state & FL_NODE_UP))
        leader = places[pg][i];
    }
    for (uint32_t i = w; i < FL_HEAL_WIDTH_MAX; i++)
      places[pg][i] = -1;
    if (leader == self_ix) {
      leads[pg] = 1;
      led++;
    }
  }
  if (led) {
    for (uint32_t ni = 0; ni < nn; ni++) {
      const fl_map_node_t *nd = &ps.map.nodes[ni];
      if (strcmp(nd->dc, h->cfg->dc) != 0 || !(nd->state & FL_NODE_UP))
        continue;
      ps.peers[ni].in_dc = 1;
      if (fl__peer_call_stats(h, nd, &ps.peers[ni]) == 0)
        ps.peers[ni].answered = ps.answered[ni] = 1;
    }
  }
  uint64_t left = 0, bytes_left = 0;
  fl_heal_stat_t st[FL_HEAL_WIDTH_MAX * 8];
  for (uint32_t pg = 0; pg < ps.map.policy.pg_count && led; pg++) {
    if (!leads[pg])
      continue;
    size_t n = 0;
    for (uint32_t ni = 0; ni < nn; ni++) {
      fl__peer_t *p = &ps.peers[ni];
      if (!p->answered)
        continue;
      for (size_t a = fl__stats_lower(p, pg); a < p->n && p->st[a].pg == pg; a++) {
        if (n == sizeof st / sizeof st[0])
          break;
        const fl_nc_pg_stat_t *s = &p->st[a];
        st[n++] = (fl_heal_stat_t){(int)ni, s->frag, s->ec_count, s->ec_digest,
                                   s->replica_count, s->replica_digest, s->bytes};
      }
    }
    fl__pgjob_t *jb = &jobs[njobs];
    jb->pass = &ps;
    jb->pg = pg;
    memcpy(jb->place, places[pg], sizeof jb->place);
    fl_heal_pg_t view = {.pg = pg, .k = k, .m = m, .answered = ps.answered, .nodes = (int)nn};
    memcpy(view.place, places[pg], sizeof view.place);
    fl_heal_check(&view, st, n, &jb->check);
    if (jb->check.clean)
      continue;
    left += jb->check.fragments_left;
    bytes_left += jb->check.bytes_left;
    njobs++;
  }
  free(leads);
  free(places);
  qsort(jobs, njobs, sizeof *jobs, fl__job_cmp);
  pthread_mutex_lock(&h->mu);
  h->prog.pgs_led = led;
  h->prog.pgs_degraded = njobs;
  h->prog.fragments_left = left;
  h->prog.bytes_left = bytes_left;
  h->prog.min_survivors = 0;
  pthread_mutex_unlock(&h->mu);
  if (njobs) {
    fl_info("repair", "epoch %" PRIu64 ": %u of %u led PG(s) degraded, ~%" PRIu64
                      " fragment(s) to write; fewest survivors %u (PG %u)",
            ps.map.epoch, njobs, led, left, jobs[0].check.survivors, jobs[0].pg);
    pthread_mutex_init(&ps.mu, NULL);
    fl_latch_init(&ps.done);
    fl_latch_add(&ps.done, njobs);
    for (uint32_t i = 0; i < njobs; i++)
      if (fl_pool_submit(h->pg_pool, fl__pg_run, &jobs[i]) != 0)
        fl__pg_run(&jobs[i]);
    fl_latch_wait(&ps.done);
    fl_latch_destroy(&ps.done);
    pthread_mutex_destroy(&ps.mu);
    /* PGs that only wait for a node to return do not need a quick pass. */
    busy = ps.pgs_worked > 0;
  }
  pthread_mutex_lock(&h->mu);
  if (!atomic_load(&h->stopping)) {
    h->prog.epoch = ps.map.epoch;
    h->prog.passes++;
    h->prog.pgs_degraded = ps.pgs_failed;
    if (!ps.pgs_failed)
      h->prog.fragments_left = h->prog.bytes_left = 0;
  }
  pthread_mutex_unlock(&h->mu);
out:
  if (ps.peers)
    for (uint32_t ni = 0; ni < nn; ni++)
      free(ps.peers[ni].st);
  free(ps.peers);
  free(ps.answered);
  free(jobs);
  fl_place_free(ps.pl);
  fl_map_free(&ps.map);
  return busy;
}

/* ---- the scheduling thread ------------------------------------------------- */

static void *fl__main(void *arg) {
  fl_heal_t *h = arg;
  uint64_t last_epoch = 0;
  double next = fl__now() + 0.5;
  pthread_mutex_lock(&h->mu);
  while (!h->stop) {
    uint64_t epoch = fl_node_coord_epoch(h->coord);
    double now = fl__now();
    if (epoch && (epoch != last_epoch || now >= next || h->kick)) {
      h->kick = 0;
      last_epoch = epoch;
      pthread_mutex_unlock(&h->mu);
      int busy = fl__pass(h);
      pthread_mutex_lock(&h->mu);
      next = fl__now() + (busy ? FL__BUSY_REPASS_MS : (double)h->opts.interval_ms) / 1000.0;
      continue;
    }
    struct timespec ts;
    fl_deadline_ms(&ts, 50); /* a new map is noticed within 50 ms */
    pthread_cond_timedwait(&h->cv, &h->mu, &ts);
  }
  pthread_mutex_unlock(&h->mu);
  return NULL;
}

int fl_heal_start(const fl_node_cfg_t *cfg, fl_node_coord_t *coord, fl_store_t *store,
                  const fl_heal_opts_t *o, fl_heal_t **out, fl_errmsg_t *em) {
  *out = NULL;
  fl_heal_t *h = calloc(1, sizeof *h);
  if (!h)
    return -ENOMEM;
  h->cfg = cfg;
  h->coord = coord;
  h->store = store;
  h->opts = *o;
  if (h->opts.parallel < 1)
    h->opts.parallel = 1;
  if (h->opts.inflight < 1)
    h->opts.inflight = 1;
  if (h->opts.interval_ms < 100)
    h->opts.interval_ms = 100;
  pthread_mutex_init(&h->mu, NULL);
  pthread_cond_init(&h->cv, NULL);
  pthread_mutex_init(&h->ec_mu, NULL);
  pthread_mutex_init(&h->rate_mu, NULL);
  /* A node that starts (often one of several joining) lets the map
   * settle before copying too. */
  h->rate_last = h->sample_t = h->placement_changed = fl__now();
  int rc;
  if ((rc = fl_heal_conns_new(&h->conns, FL__CALL_TIMEOUT_MS)) != 0 ||
      (rc = fl_pool_new_low(&h->pg_pool, (unsigned)h->opts.parallel)) != 0 ||
      (rc = fl_pool_new_low(&h->io_pool, (unsigned)(h->opts.parallel * FL__BATCHES_PER_PG))) !=
          0)
    goto fail;
  if ((rc = -pthread_create(&h->thread, NULL, fl__main, h)) != 0)
    goto fail;
  h->started = 1;
  *out = h;
  return 0;
fail:
  fl_heal_stop(h);
  return fl_errf(em, rc, "starting the repair worker: %s", fl_strerror(rc));
}

void fl_heal_stop(fl_heal_t *h) {
  if (!h)
    return;
  atomic_store(&h->stopping, 1);
  pthread_mutex_lock(&h->mu);
  h->stop = 1;
  pthread_cond_broadcast(&h->cv);
  pthread_mutex_unlock(&h->mu);
  if (h->started)
    pthread_join(h->thread, NULL);
  fl_pool_free(h->pg_pool);
  fl_pool_free(h->io_pool);
  fl_heal_conns_free(h->conns);
  fl_ec_close(h->ec_ec);
  fl_map_free(&h->last_map);
  free(h->lost_pass);
  pthread_mutex_destroy(&h->mu);
  pthread_cond_destroy(&h->cv);
  pthread_mutex_destroy(&h->ec_mu);
  pthread_mutex_destroy(&h->rate_mu);
  free(h);
}

void fl_heal_kick(fl_heal_t *h) {
  if (!h)
    return;
  pthread_mutex_lock(&h->mu);
  h->kick = 1;
  pthread_cond_broadcast(&h->cv);
  pthread_mutex_unlock(&h->mu);
}

void fl_heal_progress(void *arg, fl_cc_repair_t *out) {
  fl_heal_t *h = arg;
  memset(out, 0, sizeof *out);
  if (!h)
    return;
  pthread_mutex_lock(&h->mu);
  /* The rate is sampled when asked (every heartbeat): an EWMA over
   * windows of at least a second. */
  double now = fl__now(), dt = now - h->sample_t;
  if (dt >= 1.0) {
    double r = (double)(h->prog.bytes_done - h->sample_bytes) / dt;
    h->ewma = h->ewma == 0 ? r : 0.5 * h->ewma + 0.5 * r;
    h->sample_t = now;
    h->sample_bytes = h->prog.bytes_done;
  }
  *out = h->prog;
  out->rate_bytes_per_s = (uint64_t)h->ewma;
  pthread_mutex_unlock(&h->mu);
}
