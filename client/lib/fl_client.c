/* libfilmless: the client handle, its per-node connection pools, and the
 * put / get / list / delete paths. Node I/O runs as tasks on an I/O pool
 * (one task = one blocking call to one node on a pooled connection);
 * whole-instance work of a study get runs on a second pool whose tasks wait
 * for I/O tasks, never for their own kind. Design: docs/client.md. */
#include "filmless.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fl_addr.h"
#include "fl_cmap.h"
#include "fl_crc32c.h"
#include "fl_dicom.h"
#include "fl_ec.h"
#include "fl_log.h"
#include "fl_nc.h"
#include "fl_pg.h"
#include "fl_place.h"
#include "fl_pool.h"
#include "fl_uid.h"
#include "fl_client_int.h"

double fl__cl_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The node index's rule for tenants: [a-z0-9][a-z0-9_-]{0,31}. */
static int fl__tenant_ok(const char *t) {
  size_t n = strlen(t);
  if (n == 0 || n > FL__TENANT_MAX)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char ch = t[i];
    int alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
    if (!alnum && (i == 0 || (ch != '-' && ch != '_')))
      return 0;
  }
  return 1;
}

int fl_client_open(fl_client_t **out, const fl_client_opts_t *o, fl_errmsg_t *em) {
  fl_client_t *c = calloc(1, sizeof *c);
  if (!c)
    return -ENOMEM;
  fl__cl_map_init(c);
  int rc;
  const char *tenant = o->tenant && o->tenant[0] ? o->tenant : "default";
  if (!fl__tenant_ok(tenant)) {
    rc = fl_errf(em, FL_ECONFIG,
                 "tenant '%s' is not valid: 1 to %d characters of a-z 0-9 _ -, starting with a letter or digit",
                 tenant, FL__TENANT_MAX);
    goto fail;
  }
  snprintf(c->tenant, sizeof c->tenant, "%s", tenant);
  c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
  if (!o->coord || !o->coord[0]) {
    rc = fl_errf(em, FL_ECONFIG,
                 "no coordinator address: use --coord HOST:PORT or set FILMLESS_COORD");
    goto fail;
  }
  if (!(c->coord = strdup(o->coord))) {
    rc = -ENOMEM;
    goto fail;
  }
  if ((rc = fl_pool_new(&c->io, o->io_threads ? o->io_threads : 32)) != 0 ||
      (rc = fl_pool_new(&c->study, o->study_threads ? o->study_threads : 8)) != 0) {
    fl_errf(em, rc, "cannot start client threads");
    goto fail;
  }
  if ((rc = fl__cl_map_open(c, !o->no_watch, em)) != 0)
    goto fail;
  *out = c;
  return 0;
fail:
  fl_client_close(c);
  return rc;
}

void fl_client_close(fl_client_t *c) {
  if (!c)
    return;
  fl_pool_free(c->study);
  fl_pool_free(c->io);
  fl__cl_map_close(c);
  free(c->coord);
  free(c);
}

void fl_client_policy(fl_client_t *c, fl_client_policy_t *out) {
  fl__view_t *v = fl__cl_view_get(c);
  const fl_map_t *m = &v->cur->map;
  out->k = m->policy.k;
  out->m = m->policy.m;
  out->min_write = m->policy.min_write;
  out->pg_count = m->policy.pg_count;
  out->small_threshold = m->policy.small_threshold;
  out->map_epoch = m->epoch;
  out->nodes = m->node_count;
  fl__cl_view_put(v);
}

int fl__cl_node_index(const fl__epoch_t *e, uint32_t id) {
  uint32_t lo = 0, hi = e->map.node_count;
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    if (e->map.nodes[mid].id == id)
      return (int)mid;
    if (e->map.nodes[mid].id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

/* A pooled connection to node index ni; *fresh says whether it was just
 * opened (a failure on a reused one may be a connection the node closed
 * while idle, worth one retry). */
static int fl__conn_get(fl_client_t *c, fl__npool_t *p, fl_wire_conn_t **out, int *fresh,
                        fl_errmsg_t *em) {
  pthread_mutex_lock(&p->mu);
  fl_wire_conn_t *w = p->nidle ? p->idle[--p->nidle] : NULL;
  pthread_mutex_unlock(&p->mu);
  if (w) {
    *out = w;
    *fresh = 0;
    return 0;
  }
  w = malloc(sizeof *w);
  if (!w)
    return -ENOMEM;
  int rc = fl_wire_conn_open(w, p->addr.host, p->addr.port, c->timeout_ms, NULL, em);
  if (rc) {
    free(w);
    return fl_errprefix(em, rc, "node %u at %s", p->id, p->addr_text);
  }
  *out = w;
  *fresh = 1;
  return 0;
}

static void fl__conn_put(fl__npool_t *p, fl_wire_conn_t *w) {
  if (fl_wire_conn_usable(w)) {
    pthread_mutex_lock(&p->mu);
    if (p->nidle < FL__IDLE_MAX) {
      p->idle[p->nidle++] = w;
      w = NULL;
    }
    pthread_mutex_unlock(&p->mu);
  }
  if (w) {
    fl_wire_conn_close(w);
    free(w);
  }
}

/* Closes every idle connection to the node. */
static void fl__conn_flush(fl__npool_t *p) {
  fl_wire_conn_t *idle[FL__IDLE_MAX];
  pthread_mutex_lock(&p->mu);
  int n = p->nidle;
  memcpy(idle, p->idle, (size_t)n * sizeof *idle);
  p->nidle = 0;
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < n; i++) {
    fl_wire_conn_close(idle[i]);
    free(idle[i]);
  }
}

/* ---- node tasks ----------------------------------------------------------- */

static int fl__list_cb(void *arg, const Fl__ListEntry *e) {
  fl__ftask_t *t = arg;
  int rc = t->sink(t, e);
  if (rc == 0 && ++t->sunk == t->stop_after)
    return 1;
  return rc;
}

static int fl__task_call(fl__ftask_t *t, fl_wire_conn_t *w) {
  switch (t->op) {
  case FL__OP_PUT:
    return fl_nc_putv(w, &t->key, t->po, t->px, t->iov, 2, &t->existed, &t->em);
  case FL__OP_GET: {
    uint64_t got = 0;
    int rc = fl_nc_get(w, &t->key, t->off, t->len, t->cap ? t->buf : NULL, t->cap, &got, NULL,
                       &t->em);
    if (rc)
      return rc;
    t->got = got;
    if (!t->cap) {
      size_t len = 0;
      const void *p = fl_wire_conn_payload(w, &len);
      t->buf = malloc(len ? len : 1);
      if (!t->buf)
        return -ENOMEM;
      memcpy(t->buf, p, len);
      t->got = len;
    }
    return 0;
  }
  case FL__OP_LIST: {
    uint64_t n = 0;
    int rc = fl_nc_list(w, &t->key, t->page ? t->page : FL__LIST_PAGE, fl__list_cb, t, &n,
                        &t->em);
    return rc > 0 ? 0 : rc; /* > 0: the sink had enough */
  }
  case FL__OP_DEL:
    if (!t->del_n) {
      uint32_t n = 0;
      return fl_nc_delete(w, &t->key, 0, &n, &t->em);
    }
    for (; t->deleted < t->del_n; t->deleted++) {
      fl_nc_key_t k = t->key;
      k.series = t->del_series[t->deleted];
      k.sop = t->del_sop[t->deleted];
      uint32_t n = 0;
      int rc = fl_nc_delete(w, &k, 1, &n, &t->em);
      if (rc)
        return rc;
    }
    return 0;
  }
  return FL_EINTERNAL;
}

static void fl__task_run(void *arg) {
  fl__ftask_t *t = arg;
  fl_client_t *c = t->c;
  for (int attempt = 0; attempt < 2; attempt++) {
    fl_wire_conn_t *w = NULL;
    int fresh = 0;
    t->rc = fl__conn_get(c, t->np, &w, &fresh, &t->em);
    if (t->rc)
      break;
    double t0 = fl__cl_now_ms();
    t->rc = fl__task_call(t, w);
    fl_debug("client", "op %d frag %u on node %u: %d in %.2f ms (%zu bytes)", t->op,
             t->key.frag, t->np->id, t->rc, fl__cl_now_ms() - t0, t->got);
    /* Every response carries the node's map epoch: a newer one than ours
     * means the coordinator has a map we lack. */
    const Fl__FrameHeader *h = fl_wire_conn_header(w);
    if (h)
      fl__cl_map_seen(c, h->map_epoch);
    int transport = t->rc && !fl_wire_conn_usable(w);
    fl__conn_put(t->np, w);
    /* A reused connection the node had closed (it restarted, or dropped an
     * idle connection): its idle siblings are as stale, so drop them all
     * and go once more on a new one. Puts and deletes are idempotent; a
     * listing is repeated only if nothing of it was consumed. */
    if (!transport || fresh || t->sunk)
      break;
    fl__conn_flush(t->np);
  }
  fl_latch_t *l = t->latch;
  fl_latch_done(l);
}

void fl__cl_task_init(fl__ftask_t *t, fl_client_t *c, fl_latch_t *l, int op, fl__npool_t *np) {
  memset(t, 0, sizeof *t);
  t->c = c;
  t->latch = l;
  t->op = op;
  t->np = np;
}

/* Submits n tasks and waits for all of them. The last task runs on the
 * caller's thread, which would only wait otherwise: a one-fragment call (a
 * replica read, a single delete) costs no hand-off to the pool and back,
 * and a put of r replicas takes r-1 pool threads, not r, so more instances
 * are in flight for the same pool. A task the pool cannot take is run on
 * the caller's thread too. */
void fl__cl_run_tasks(fl_client_t *c, fl__ftask_t *t, size_t n, fl_latch_t *l) {
  if (n == 0)
    return;
  fl_latch_add(l, (unsigned)n);
  for (size_t i = 0; i + 1 < n; i++)
    if (fl_pool_submit(c->io, fl__task_run, &t[i]) != 0)
      fl__task_run(&t[i]);
  fl__task_run(&t[n - 1]);
  fl_latch_wait(l);
}

/* Placement of a study in epoch e: pg and the k+m nodes, position i first. */
int fl__cl_place(fl_client_t *c, const fl__epoch_t *e, const char *study, uint32_t *pg,
                 fl__npool_t *np[FL_MAP_WIDTH_MAX], fl_errmsg_t *em) {
  uint32_t ids[FL_MAP_WIDTH_MAX];
  *pg = fl_pg_of(c->tenant, study, e->map.policy.pg_count);
  int rc = fl_place_pg(e->place, *pg, 0, 0, ids, em);
  if (rc)
    return rc;
  uint32_t w = fl_place_width(e->place);
  for (uint32_t i = 0; i < w; i++) {
    int ni = fl__cl_node_index(e, ids[i]);
    if (ni < 0)
      return fl_errf(em, FL_EINTERNAL, "placement named node %u, absent from the map", ids[i]);
    np[i] = e->np[ni];
  }
  return 0;
}

int fl__cl_check_uid(const char *what, const char *uid, fl_errmsg_t *em) {
  if (!uid || fl_uid_check(uid, strlen(uid), em) != 0)
    return fl_errf(em, FL_EUID, "%s '%s' is not a valid DICOM UID", what, uid ? uid : "");
  return 0;
}

/* ---- put ------------------------------------------------------------------ */

static int fl__put(fl_client_t *c, const fl__epoch_t *e, const void *buf, size_t len,
                   fl_put_result_t *res, fl_errmsg_t *em);

/* A put uses the current map only: new fragments go to the current
 * placement; the earlier holders' copies are repair's to drop. */
int fl_client_put(fl_client_t *c, const void *buf, size_t len, fl_put_result_t *res,
                  fl_errmsg_t *em) {
  fl__view_t *v = fl__cl_view_get(c);
  int rc = fl__put(c, v->cur, buf, len, res, em);
  fl__cl_view_put(v);
  return rc;
}

static int fl__put(fl_client_t *c, const fl__epoch_t *e, const void *buf, size_t len,
                   fl_put_result_t *res, fl_errmsg_t *em) {
  fl_put_result_t dummy;
  if (!res)
    res = &dummy;
  memset(res, 0, sizeof *res);
  fl_dicom_info_t di;
  int rc = fl_dicom_parse(buf, len, &di, em);
  if (rc)
    return rc;
  snprintf(res->study_uid, sizeof res->study_uid, "%s", di.study_uid);
  snprintf(res->series_uid, sizeof res->series_uid, "%s", di.series_uid);
  snprintf(res->sop_uid, sizeof res->sop_uid, "%s", di.sop_uid);
  res->size = len;
  uint32_t pg;
  fl__npool_t *ni[FL_MAP_WIDTH_MAX];
  if ((rc = fl__cl_place(c, e, di.study_uid, &pg, ni, em)) != 0)
    return rc;
  /* The stripe id depends only on the key and the bytes, so the same
   * instance encodes to the same fragments every time (an identical re-put
   * is recognised by the nodes) and other bytes give another stripe. */
  uint64_t sid = fl_pg_hash64(di.sop_uid, strlen(di.sop_uid)) ^
                 fl_pg_mix64(((uint64_t)fl_crc32c(buf, len) << 32) ^ (uint64_t)len);
  fl_ec_put_opts_t eo = {sid, 0, 0};
  fl_ec_stripe_t st;
  memset(&st, 0, sizeof st);
  if ((rc = fl_ec_encode(e->ec, buf, len, &eo, &st, em)) != 0)
    return rc;
  res->replicated = st.layout == FL_EC_LAYOUT_REPLICA;
  res->frags_total = (unsigned)st.nfrags;
  char sn[16] = "", in[16] = "";
  if (di.series_number >= 0)
    snprintf(sn, sizeof sn, "%d", (int)di.series_number);
  if (di.instance_number >= 0)
    snprintf(in, sizeof in, "%d", (int)di.instance_number);
  fl_nc_put_opts_t po = {res->replicated ? 0u : 1u, len, di.modality, di.sop_class_uid,
                         di.study_date};
  fl_nc_put_ext_t px = {sn, in, e->map.policy.k, e->map.policy.m};
  fl__ftask_t t[FL_EC_MAX_FRAGS];
  fl_latch_t l;
  fl_latch_init(&l);
  for (int i = 0; i < st.nfrags; i++) {
    fl__cl_task_init(&t[i], c, &l, FL__OP_PUT, ni[i]);
    t[i].key = (fl_nc_key_t){pg, c->tenant, di.study_uid, di.series_uid, di.sop_uid, (uint32_t)i};
    t[i].po = &po;
    t[i].px = &px;
    fl_ec_frag_iov(&st.frag[i], t[i].iov);
  }
  fl__cl_run_tasks(c, t, (size_t)st.nfrags, &l);
  unsigned durable = 0, existed = 0, eexist = 0;
  int first_err = 0, first_i = -1;
  for (int i = 0; i < st.nfrags; i++) {
    if (t[i].rc == 0) {
      durable++;
      existed += t[i].existed != 0;
    } else {
      if (t[i].rc == FL_EEXIST)
        eexist++;
      if (!first_err || t[i].rc == FL_EEXIST) {
        first_err = t[i].rc;
        first_i = i;
      }
    }
  }
  res->frags_durable = durable;
  res->existed = durable > 0 && existed == durable;
  unsigned need = e->map.policy.min_write;
  if (res->replicated)
    need = need - e->map.policy.k + 1;
  if (need > (unsigned)st.nfrags)
    need = (unsigned)st.nfrags;
  if (eexist) {
    rc = fl_errf(em, FL_EEXIST,
                 "SOP instance %s is already stored with different bytes; instances are "
                 "immutable: store the new version under a new SOP Instance UID",
                 di.sop_uid);
  } else if (durable < need) {
    rc = fl_errf(em, FL_EQUORUM,
                 "only %u of %d fragments of %s became durable, %u needed (node %u: %s); "
                 "bring the placement group's nodes back and retry",
                 durable, st.nfrags, di.sop_uid, need, ni[first_i]->id,
                 fl_errmsg_str(&t[first_i].em, first_err));
  }
  if (rc) {
    /* Take back exactly the fragments this call newly wrote (not those of
     * an identical earlier put), so that nothing of a refused put stays
     * visible (docs/client.md, Visibility). */
    size_t nd = 0;
    fl__ftask_t d[FL_EC_MAX_FRAGS];
    for (int i = 0; i < st.nfrags; i++)
      if (t[i].rc == 0 && !t[i].existed) {
        fl__cl_task_init(&d[nd], c, &l, FL__OP_DEL, ni[i]);
        d[nd].key = t[i].key;
        nd++;
      }
    if (nd)
      fl__cl_run_tasks(c, d, nd, &l);
  } else {
    res->frags_missing = (unsigned)st.nfrags - durable;
    if (res->frags_missing)
      fl_warn("client",
              "put %s/%s: %u of %d fragments missing (first: node %u: %s); left for repair",
              c->tenant, di.sop_uid, res->frags_missing, st.nfrags,
              ni[first_i]->id, fl_errmsg_str(&t[first_i].em, first_err));
  }
  fl_latch_destroy(&l);
  fl_ec_stripe_release(&st);
  return rc;
}

int fl_client_put_file(fl_client_t *c, const char *path, fl_put_result_t *res,
                       fl_errmsg_t *em) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fl_errf(em, -errno, "cannot open %s: %s", path, strerror(errno));
  struct stat sb;
  int rc;
  void *p = NULL;
  if (fstat(fd, &sb) != 0) {
    rc = fl_errf(em, -errno, "cannot stat %s: %s", path, strerror(errno));
    goto out;
  }
  if (!S_ISREG(sb.st_mode)) {
    rc = fl_errf(em, FL_ENOTDICOM, "%s is not a regular file", path);
    goto out;
  }
  if (sb.st_size == 0) {
    rc = fl_errf(em, FL_ENOTDICOM, "%s is empty", path);
    goto out;
  }
  p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) {
    p = NULL;
    rc = fl_errf(em, -errno, "cannot map %s: %s", path, strerror(errno));
    goto out;
  }
  rc = fl_client_put(c, p, (size_t)sb.st_size, res, em);
  if (rc)
    fl_errprefix(em, rc, "%s", path);
out:
  if (p)
    munmap(p, (size_t)sb.st_size);
  close(fd);
  return rc;
}
