/* libfilmless: the client's cluster maps. Each map is compiled once into an
 * epoch (map, placement index, codec, node pools); calls work on a
 * refcounted view (current epoch and the earlier ones whose placement
 * differed), taken at their start, so installing a map never disturbs a
 * call in flight. A watcher thread long-polls the coordinator (WATCH_MAP)
 * on its own connection and installs each new map; a node answering with
 * a newer epoch makes it fetch at once. Design: docs/client.md, "Maps". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "fl_cc.h"
#include "fl_cmap.h"
#include "fl_log.h"
#include "fl_pool.h"
#include "fl_client_int.h"

#define FL__WATCH_MS 20000u      /* one WATCH_MAP long poll */
#define FL__BACKOFF_MIN_MS 100
#define FL__BACKOFF_MAX_MS 5000
#define FL__WATCH_CONNECT_MS 2000 /* bounds how long close can wait for a connect */

/* ---- node pools ----------------------------------------------------------- */

/* The pool of node id at addr, created (no connection yet) if new. */
static fl__npool_t *fl__pool_of(fl_client_t *c, uint32_t id, const char *addr,
                                fl_errmsg_t *em) {
  pthread_mutex_lock(&c->pmu);
  fl__npool_t *p = c->pools;
  while (p && (p->id != id || strcmp(p->addr_text, addr) != 0))
    p = p->next;
  if (!p && (p = calloc(1, sizeof *p)) != NULL) {
    int rc = fl_addr_parse(&p->addr, addr, 0, em);
    if (rc) {
      fl_errprefix(em, rc, "address of node %u in the cluster map", id);
      free(p);
      p = NULL;
    } else {
      pthread_mutex_init(&p->mu, NULL);
      p->id = id;
      snprintf(p->addr_text, sizeof p->addr_text, "%s", addr);
      p->next = c->pools;
      c->pools = p;
    }
  }
  pthread_mutex_unlock(&c->pmu);
  return p;
}

static void fl__pool_drain(fl__npool_t *p) {
  pthread_mutex_lock(&p->mu);
  for (int j = 0; j < p->nidle; j++) {
    fl_wire_conn_close(p->idle[j]);
    free(p->idle[j]);
  }
  p->nidle = 0;
  pthread_mutex_unlock(&p->mu);
}

/* ---- epochs and views ----------------------------------------------------- */

static void fl__epoch_put(fl__epoch_t *e) {
  if (!e || atomic_fetch_sub(&e->refs, 1) != 1)
    return;
  fl_place_free(e->place);
  fl_ec_close(e->ec);
  free(e->np);
  fl_map_free(&e->map);
  free(e);
}

/* Compiles map (handed over, also on error) into a new epoch. */
static int fl__epoch_new(fl_client_t *c, fl_map_t *map, fl__epoch_t **out, fl_errmsg_t *em) {
  fl__epoch_t *e = calloc(1, sizeof *e);
  if (!e) {
    fl_map_free(map);
    return -ENOMEM;
  }
  atomic_init(&e->refs, 1);
  e->map = *map;
  memset(map, 0, sizeof *map);
  int rc;
  if ((rc = fl_map_validate(&e->map, em)) != 0 || (rc = fl_place_new(&e->map, &e->place, em)) != 0)
    goto fail;
  fl_ec_config_t ec = {(int)e->map.policy.k, (int)e->map.policy.m, e->map.policy.small_threshold,
                       NULL};
  if ((rc = fl_ec_init(&e->ec, &ec, em)) != 0)
    goto fail;
  e->np = calloc(e->map.node_count ? e->map.node_count : 1, sizeof *e->np);
  if (!e->np) {
    rc = -ENOMEM;
    goto fail;
  }
  for (uint32_t i = 0; i < e->map.node_count; i++)
    if (!(e->np[i] = fl__pool_of(c, e->map.nodes[i].id, e->map.nodes[i].addr, em))) {
      rc = em && em->msg[0] ? FL_ECONFIG : -ENOMEM;
      goto fail;
    }
  *out = e;
  return 0;
fail:
  fl__epoch_put(e);
  return rc;
}

static void fl__view_free(fl__view_t *v) {
  fl__epoch_put(v->cur);
  for (unsigned i = 0; i < v->nprev; i++)
    fl__epoch_put(v->prev[i]);
  free(v);
}

fl__view_t *fl__cl_view_get(fl_client_t *c) {
  pthread_mutex_lock(&c->vmu);
  fl__view_t *v = c->view;
  atomic_fetch_add(&v->refs, 1);
  pthread_mutex_unlock(&c->vmu);
  return v;
}

void fl__cl_view_put(fl__view_t *v) {
  if (v && atomic_fetch_sub(&v->refs, 1) == 1)
    fl__view_free(v);
}

/* Makes map (handed over) current. The old current map becomes the first
 * earlier one when placement may differ between them; otherwise the
 * earlier ones stay as they are. Pools of nodes no map of the view names
 * any more lose their idle connections. */
static int fl__install(fl_client_t *c, fl_map_t *map, fl_errmsg_t *em) {
  fl__epoch_t *e;
  int rc = fl__epoch_new(c, map, &e, em);
  if (rc)
    return rc;
  fl__view_t *v = calloc(1, sizeof *v);
  if (!v) {
    fl__epoch_put(e);
    return -ENOMEM;
  }
  atomic_init(&v->refs, 1);
  v->cur = e;
  pthread_mutex_lock(&c->vmu);
  fl__view_t *old = c->view;
  if (old) {
    unsigned from = 0;
    if (fl_map_placement_differs(&old->cur->map, &e->map)) {
      atomic_fetch_add(&old->cur->refs, 1);
      v->prev[v->nprev++] = old->cur;
    }
    for (; from < old->nprev && v->nprev < FL__HIST; from++) {
      atomic_fetch_add(&old->prev[from]->refs, 1);
      v->prev[v->nprev++] = old->prev[from];
    }
  }
  c->view = v;
  atomic_store(&c->epoch, e->map.epoch);
  pthread_mutex_unlock(&c->vmu);
  if (old) {
    fl_info("client", "map epoch %llu installed (%u nodes; %u earlier map(s) kept for reads)",
            (unsigned long long)e->map.epoch, e->map.node_count, v->nprev);
    pthread_mutex_lock(&c->pmu);
    for (fl__npool_t *p = c->pools; p; p = p->next) {
      int named = 0;
      for (int k = -1; k < (int)v->nprev && !named; k++) {
        const fl__epoch_t *x = k < 0 ? v->cur : v->prev[k];
        for (uint32_t i = 0; i < x->map.node_count && !named; i++)
          named = x->np[i] == p;
      }
      if (!named)
        fl__pool_drain(p);
    }
    pthread_mutex_unlock(&c->pmu);
    fl__cl_view_put(old);
  }
  return 0;
}

/* ---- the watcher ---------------------------------------------------------- */

/* Waits up to ms for a kick or stop; 1 if stopping. */
static int fl__watch_pause(fl_client_t *c, int ms) {
  struct timespec ts;
  fl_deadline_ms(&ts, (uint32_t)ms);
  pthread_mutex_lock(&c->wmu);
  while (!c->wstop && !c->wkick)
    if (pthread_cond_timedwait(&c->wcv, &c->wmu, &ts) == ETIMEDOUT)
      break;
  int stop = c->wstop;
  pthread_mutex_unlock(&c->wmu);
  return stop;
}

static void *fl__watch_main(void *arg) {
  fl_client_t *c = arg;
  fl_addr_t a;
  if (fl_addr_parse(&a, c->coord, 0, NULL) != 0)
    return NULL;
  fl_wire_conn_t w;
  int connected = 0, backoff = FL__BACKOFF_MIN_MS;
  for (;;) {
    fl_errmsg_t em = {{0}};
    pthread_mutex_lock(&c->wmu);
    int stop = c->wstop, kick = c->wkick;
    c->wkick = 0;
    pthread_mutex_unlock(&c->wmu);
    if (stop)
      break;
    int rc = 0;
    if (!connected) {
      int cto = c->timeout_ms < FL__WATCH_CONNECT_MS ? c->timeout_ms : FL__WATCH_CONNECT_MS;
      rc = fl_wire_conn_open(&w, a.host, a.port, cto, NULL, &em);
      if (rc == 0) {
        connected = 1;
        /* A poll is answered after at most FL__WATCH_MS: wait that long
         * plus a call's time before calling the coordinator gone. */
        fl_wire_conn_set_timeout(&w, (int)FL__WATCH_MS + c->timeout_ms);
      }
    }
    fl_map_t map;
    int changed = 0;
    if (rc == 0) {
      pthread_mutex_lock(&c->wmu);
      stop = c->wstop;
      kick |= c->wkick;
      c->wkick = 0;
      c->wfd = w.fd;
      pthread_mutex_unlock(&c->wmu);
      if (!stop)
        rc = fl_cc_get_map(&w, atomic_load(&c->epoch), kick ? 0 : FL__WATCH_MS, &map, &changed,
                           &em);
      pthread_mutex_lock(&c->wmu);
      c->wfd = -1;
      stop |= c->wstop;
      pthread_mutex_unlock(&c->wmu);
      if (stop) {
        if (rc == 0 && changed)
          fl_map_free(&map);
        break;
      }
    }
    if (rc == 0 && changed && map.epoch > atomic_load(&c->epoch)) {
      rc = fl__install(c, &map, &em);
      if (rc)
        fl_warn("client", "map epoch from %s not installed: %s", c->coord,
                fl_errmsg_str(&em, rc));
    } else if (rc == 0 && changed) {
      /* An older epoch (a coordinator that lost its state?): keep ours,
       * and back off, since every poll would be answered at once. */
      rc = fl_errf(&em, FL_EPROTO, "the coordinator sent epoch %llu, older than ours (%llu)",
                   (unsigned long long)map.epoch,
                   (unsigned long long)atomic_load(&c->epoch));
      fl_map_free(&map);
    }
    if (rc == 0) {
      backoff = FL__BACKOFF_MIN_MS;
      continue;
    }
    if (connected && !fl_wire_conn_usable(&w)) {
      fl_wire_conn_close(&w);
      connected = 0;
    }
    fl_debug("client", "watching the map at %s: %s; again in %d ms", c->coord,
             fl_errmsg_str(&em, rc), backoff);
    pthread_mutex_lock(&c->wmu);
    int kicked = c->wkick;
    pthread_mutex_unlock(&c->wmu);
    /* A kick broke the poll on purpose: go at once, on a new connection. */
    if (!kicked && fl__watch_pause(c, backoff))
      break;
    if (!kicked)
      backoff = backoff * 2 > FL__BACKOFF_MAX_MS ? FL__BACKOFF_MAX_MS : backoff * 2;
  }
  if (connected)
    fl_wire_conn_close(&w);
  return NULL;
}

void fl__cl_map_seen(fl_client_t *c, uint64_t e) {
  if (!c->wstarted || e <= atomic_load(&c->epoch))
    return;
  pthread_mutex_lock(&c->wmu);
  if (e > c->wseen) {
    /* Once per newer epoch: wake the back-off, and break a long poll that
     * may sit on a connection the coordinator no longer answers. */
    c->wseen = e;
    c->wkick = 1;
    pthread_cond_signal(&c->wcv);
    if (c->wfd >= 0)
      shutdown(c->wfd, SHUT_RDWR);
  }
  pthread_mutex_unlock(&c->wmu);
}

/* ---- open and close ------------------------------------------------------- */

void fl__cl_map_init(fl_client_t *c) {
  pthread_mutex_init(&c->vmu, NULL);
  pthread_mutex_init(&c->pmu, NULL);
  pthread_mutex_init(&c->wmu, NULL);
  pthread_cond_init(&c->wcv, NULL);
  c->wfd = -1;
}

int fl__cl_map_open(fl_client_t *c, int watch, fl_errmsg_t *em) {
  fl_map_t map;
  int rc = fl_cmap_load(c->coord, c->timeout_ms, &map, em);
  if (rc)
    return rc;
  if ((rc = fl__install(c, &map, em)) != 0)
    return rc;
  if (watch && !fl_cmap_is_static(c->coord)) {
    if ((rc = pthread_create(&c->wth, NULL, fl__watch_main, c)) != 0)
      return fl_errf(em, -rc, "cannot start the map watcher thread");
    c->wstarted = 1;
  }
  return 0;
}

void fl__cl_map_close(fl_client_t *c) {
  if (c->wstarted) {
    pthread_mutex_lock(&c->wmu);
    c->wstop = 1;
    pthread_cond_signal(&c->wcv);
    if (c->wfd >= 0)
      shutdown(c->wfd, SHUT_RDWR);
    pthread_mutex_unlock(&c->wmu);
    pthread_join(c->wth, NULL);
    c->wstarted = 0;
  }
  if (c->view)
    fl__cl_view_put(c->view);
  c->view = NULL;
  while (c->pools) {
    fl__npool_t *p = c->pools;
    c->pools = p->next;
    fl__pool_drain(p);
    pthread_mutex_destroy(&p->mu);
    free(p);
  }
  pthread_mutex_destroy(&c->vmu);
  pthread_mutex_destroy(&c->pmu);
  pthread_mutex_destroy(&c->wmu);
  pthread_cond_destroy(&c->wcv);
}

uint64_t fl_client_map_epoch(fl_client_t *c) { return atomic_load(&c->epoch); }
