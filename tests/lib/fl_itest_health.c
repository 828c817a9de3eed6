/* Health check and repair waiter for integration tests. The check trusts
 * nothing a node says about itself: it lists what each node holds, computes
 * placement from the coordinator's map with fl_place, reads every fragment
 * at its position whole and verifies it against its own header. */
#define _POSIX_C_SOURCE 200809L
#include "fl_itest_health.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fl_addr.h"
#include "fl_cc.h"
#include "fl_ec_frag.h"
#include "fl_itest_cluster.h"
#include "fl_map.h"
#include "fl_place.h"
#include "fl_test.h"

#define FL__PROBLEMS_MAX 20

static int fl__connect(const char *addr, fl_wire_conn_t *c, fl_errmsg_t *em) {
  fl_addr_t a;
  int rc = fl_addr_parse(&a, addr, 0, em);
  if (rc)
    return rc;
  return fl_wire_conn_open(c, a.host, a.port, 10000, NULL, em);
}

static int fl__coord_map(const char *coord, fl_map_t *map, fl_errmsg_t *em) {
  fl_wire_conn_t c;
  int rc = fl__connect(coord, &c, em);
  if (rc)
    return rc;
  int changed = 0;
  rc = fl_cc_get_map(&c, 0, 0, map, &changed, em);
  fl_wire_conn_close(&c);
  if (rc == 0 && !changed)
    rc = fl_errf(em, FL_EPROTO, "coordinator sent no map");
  return rc;
}

/* ---- listing ---------------------------------------------------------- */

/* One live fragment as a node listed it. */
typedef struct fl__ent {
  char *key;         /* "tenant\0study\0series\0sop\0" packed, compared as a string of len */
  size_t key_len;
  uint32_t pg;
  uint32_t node;     /* id of the node that listed it */
  uint32_t frag;
  uint32_t layout;   /* 1 erasure-coded, 0 replica */
  uint64_t size;     /* fragment bytes */
  uint64_t osize;    /* object bytes */
} fl__ent_t;

typedef struct fl__ents {
  fl__ent_t *v;
  size_t n, cap;
  uint32_t node, pg;
} fl__ents_t;

static int fl__collect(void *arg, const Fl__ListEntry *e) {
  fl__ents_t *s = arg;
  if (e->tombstone || !e->key)
    return 0;
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 1024;
    fl__ent_t *v = realloc(s->v, cap * sizeof *v);
    if (!v)
      return -ENOMEM;
    s->v = v;
    s->cap = cap;
  }
  const char *parts[4] = {e->key->tenant, e->key->study_uid, e->key->series_uid,
                          e->key->sop_uid};
  size_t len = 0;
  for (int i = 0; i < 4; i++)
    len += strlen(parts[i]) + 1;
  char *k = malloc(len);
  if (!k)
    return -ENOMEM;
  size_t off = 0;
  for (int i = 0; i < 4; i++) {
    size_t l = strlen(parts[i]) + 1;
    memcpy(k + off, parts[i], l);
    off += l;
  }
  fl__ent_t *d = &s->v[s->n++];
  d->key = k;
  d->key_len = len;
  d->pg = s->pg;
  d->node = s->node;
  d->frag = e->fragment_index;
  d->layout = e->layout;
  d->size = e->fragment_size;
  d->osize = e->object_size;
  return 0;
}

static int fl__ent_cmp(const void *a, const void *b) {
  const fl__ent_t *x = a, *y = b;
  size_t l = x->key_len < y->key_len ? x->key_len : y->key_len;
  int c = memcmp(x->key, y->key, l);
  if (c)
    return c;
  if (x->key_len != y->key_len)
    return x->key_len < y->key_len ? -1 : 1;
  if (x->frag != y->frag)
    return x->frag < y->frag ? -1 : 1;
  return (x->node > y->node) - (x->node < y->node);
}

/* ---- the check -------------------------------------------------------- */

typedef struct fl__chk {
  const fl_map_t *map;
  fl_wire_conn_t *conn;   /* per map node index; fd < 0 when not connected */
  int *conn_ok;
  fl_itest_health_t *h;
  FILE *log;
  unsigned problems;
  uint8_t *buf;
  size_t cap;
} fl__chk_t;

static void fl__problem(fl__chk_t *k, const fl__ent_t *e, const char *fmt, uint32_t a,
                        uint32_t b, const char *detail) {
  if (k->problems++ >= FL__PROBLEMS_MAX)
    return;
  const char *t = e->key, *st = t + strlen(t) + 1, *se = st + strlen(st) + 1,
             *sop = se + strlen(se) + 1;
  fprintf(k->log, "health: pg %u %s/%s/%s/%s: ", e->pg, t, st, se, sop);
  fprintf(k->log, fmt, a, b);
  fprintf(k->log, "%s%s\n", detail ? ": " : "", detail ? detail : "");
}

static int fl__node_index(const fl_map_t *m, uint32_t id) {
  for (uint32_t i = 0; i < m->node_count; i++)
    if (m->nodes[i].id == id)
      return (int)i;
  return -1;
}

/* Reads fragment frag of e's object from node id whole and verifies it;
 * 0 with its header in *hdr, or the error (printed). */
static int fl__read_verify(fl__chk_t *k, const fl__ent_t *e, uint32_t id, uint32_t frag,
                           uint64_t size, fl_ec_frag_hdr_t *hdr) {
  int ni = fl__node_index(k->map, id);
  if (ni < 0 || !k->conn_ok[ni])
    return -ENOTCONN;
  if (size + 64 > k->cap) {
    uint8_t *b = realloc(k->buf, size + 64);
    if (!b)
      return -ENOMEM;
    k->buf = b;
    k->cap = size + 64;
  }
  const char *t = e->key, *st = t + strlen(t) + 1, *se = st + strlen(st) + 1,
             *sop = se + strlen(se) + 1;
  fl_nc_key_t key = {e->pg, t, st, se, sop, frag};
  fl_errmsg_t em = {{0}};
  uint64_t got = 0, fsize = 0;
  int rc = fl_nc_get(&k->conn[ni], &key, 0, 0, k->buf, k->cap, &got, &fsize, &em);
  if (rc == 0 && got != fsize)
    rc = fl_errf(&em, FL_ETRUNC, "got %llu of %llu bytes", (unsigned long long)got,
                 (unsigned long long)fsize);
  if (rc == 0)
    rc = fl_ec_frag_verify(k->buf, (size_t)got, hdr, &em);
  if (rc == 0 && hdr->index != frag)
    rc = fl_errf(&em, FL_ECORRUPT, "header says fragment %u", hdr->index);
  if (rc == 0 && hdr->object_size != e->osize)
    rc = fl_errf(&em, FL_ECORRUPT, "header says object size %llu, listing %llu",
                 (unsigned long long)hdr->object_size, (unsigned long long)e->osize);
  if (rc == 0) {
    k->h->bytes += got;
    return 0;
  }
  if (!fl_wire_conn_usable(&k->conn[ni])) {
    fl_wire_conn_close(&k->conn[ni]);
    k->conn_ok[ni] = fl__connect(k->map->nodes[ni].addr, &k->conn[ni], NULL) == 0;
  }
  fl__problem(k, e, "fragment %u on node %u", frag, id, fl_errmsg_str(&em, rc));
  return rc;
}

/* Checks one object: its entries are g[0..n), sorted by fragment, node. */
static void fl__check_object(fl__chk_t *k, const fl_place_t *pl, const fl__ent_t *g, size_t n) {
  fl_itest_health_t *h = k->h;
  const fl_map_policy_t *p = &k->map->policy;
  h->objects++;
  int ec = g[0].layout != 0;
  h->ec_objects += ec;
  uint32_t width = ec ? p->k + p->m : p->m + 1;
  uint32_t place[FL_MAP_WIDTH_MAX];
  uint32_t dc = 0, rack = 0;
  if (fl_place_node_loc(pl, g[0].node, &dc, &rack) != 0)
    dc = 0;
  fl_errmsg_t em = {{0}};
  if (fl_place_pg(pl, g[0].pg, dc, 0, place, &em) != 0) {
    fl__problem(k, &g[0], "no placement in datacenter %u (%u positions)", dc, width, em.msg);
    h->missing += width;
    return;
  }
  int whole = 1;
  uint64_t stripe = 0;
  int have_stripe = 0;
  for (uint32_t i = 0; i < width; i++) {
    const fl__ent_t *at = NULL;
    for (size_t j = 0; j < n && !at; j++)
      if (g[j].frag == i && g[j].node == place[i])
        at = &g[j];
    if (!at) {
      h->missing++;
      whole = 0;
      fl__problem(k, &g[0], "fragment %u missing on node %u", i, place[i], NULL);
      continue;
    }
    fl_ec_frag_hdr_t hdr;
    if (fl__read_verify(k, at, place[i], i, at->size, &hdr) != 0) {
      h->corrupt++;
      whole = 0;
      continue;
    }
    if (have_stripe && hdr.stripe_id != stripe) {
      h->corrupt++;
      whole = 0;
      fl__problem(k, at, "fragment %u on node %u has another stripe id", i, place[i], NULL);
      continue;
    }
    stripe = hdr.stripe_id;
    have_stripe = 1;
  }
  for (size_t j = 0; j < n; j++) {
    if ((uint32_t)(g[j].layout != 0) != (uint32_t)ec) {
      h->corrupt++;
      whole = 0;
      fl__problem(k, &g[j], "fragment %u on node %u has another layout", g[j].frag, g[j].node,
                  NULL);
    } else if (g[j].frag >= width || place[g[j].frag] != g[j].node) {
      h->strays++;
      fl__problem(k, &g[j], "stray fragment %u on node %u", g[j].frag, g[j].node, NULL);
    }
  }
  h->healthy += whole;
}

int fl_itest_health_check(const char *coord, fl_itest_health_t *h, FILE *log, fl_errmsg_t *em) {
  memset(h, 0, sizeof *h);
  fl_map_t map;
  int rc = fl__coord_map(coord, &map, em);
  if (rc)
    return rc;
  fl_place_t *pl = NULL;
  fl__ents_t all = {0};
  fl__chk_t k = {&map, NULL, NULL, h, log ? log : stderr, 0, NULL, 0};
  h->epoch = map.epoch;
  if ((rc = fl_place_new(&map, &pl, em)) != 0)
    goto fail;
  k.conn = calloc(map.node_count ? map.node_count : 1, sizeof *k.conn);
  k.conn_ok = calloc(map.node_count ? map.node_count : 1, sizeof *k.conn_ok);
  if (!k.conn || !k.conn_ok) {
    rc = -ENOMEM;
    goto fail;
  }
  for (uint32_t i = 0; i < map.node_count; i++) {
    const fl_map_node_t *n = &map.nodes[i];
    if (!(n->state & FL_NODE_UP))
      continue;
    fl_errmsg_t e2 = {{0}};
    int lrc = fl__connect(n->addr, &k.conn[i], &e2);
    for (uint32_t pg = 0; lrc == 0 && pg < map.policy.pg_count; pg++) {
      all.node = n->id;
      all.pg = pg;
      uint64_t count = 0;
      lrc = fl_nc_list_pg(&k.conn[i], pg, 0, 1000, fl__collect, &all, &count, &e2);
    }
    if (lrc) {
      h->nodes_failed++;
      fprintf(k.log, "health: node %u (%s) could not be listed: %s\n", n->id, n->addr,
              fl_errmsg_str(&e2, lrc));
      if (lrc == -ENOMEM) {
        rc = lrc;
        goto fail;
      }
      fl_wire_conn_close(&k.conn[i]);
      continue;
    }
    k.conn_ok[i] = 1;
    h->nodes_checked++;
  }
  h->fragments = all.n;
  qsort(all.v, all.n, sizeof *all.v, fl__ent_cmp);
  for (size_t i = 0; i < all.n;) {
    size_t j = i + 1;
    while (j < all.n && all.v[j].key_len == all.v[i].key_len &&
           memcmp(all.v[j].key, all.v[i].key, all.v[i].key_len) == 0)
      j++;
    fl__check_object(&k, pl, &all.v[i], j - i);
    i = j;
  }
  if (k.problems > FL__PROBLEMS_MAX)
    fprintf(k.log, "health: ... and %u more problems\n", k.problems - FL__PROBLEMS_MAX);
  rc = 0;
fail:
  for (size_t i = 0; i < all.n; i++)
    free(all.v[i].key);
  free(all.v);
  for (uint32_t i = 0; k.conn && i < map.node_count; i++)
    if (k.conn_ok && k.conn_ok[i])
      fl_wire_conn_close(&k.conn[i]);
  free(k.conn);
  free(k.conn_ok);
  free(k.buf);
  fl_place_free(pl);
  fl_map_free(&map);
  return rc;
}

int fl_itest_health_ok(const fl_itest_health_t *h) {
  return h->objects == h->healthy && h->missing == 0 && h->corrupt == 0 && h->strays == 0 &&
         h->nodes_failed == 0;
}

void fl_itest_health_expect(const char *coord, const char *what, uint32_t nodes,
                            uint64_t objects) {
  fl_itest_health_t h;
  fl_errmsg_t em = {{0}};
  int rc = fl_itest_health_check(coord, &h, NULL, &em);
  if (rc)
    FL__FAIL("health check %s: %s", what, fl_errmsg_str(&em, rc));
  fl_itest_health_print(&h, what, stderr);
  FL_CHECK(fl_itest_health_ok(&h));
  FL_CHECK_EQ(h.nodes_checked, nodes);
  FL_CHECK_EQ(h.objects, objects);
}

void fl_itest_health_print(const fl_itest_health_t *h, const char *what, FILE *f) {
  fprintf(f,
          "health %s, epoch %llu: %llu objects (%llu EC), %llu healthy, %llu missing, "
          "%llu corrupt, %llu strays; %llu fragments on %u nodes (%u failed), %.1f MB verified\n",
          what, (unsigned long long)h->epoch, (unsigned long long)h->objects,
          (unsigned long long)h->ec_objects, (unsigned long long)h->healthy,
          (unsigned long long)h->missing, (unsigned long long)h->corrupt,
          (unsigned long long)h->strays, (unsigned long long)h->fragments, h->nodes_checked,
          h->nodes_failed, h->bytes / 1e6);
}

/* ---- repair progress ---------------------------------------------------- */

int fl_itest_node_stat(const char *addr, Fl__StatResult *st, Fl__RepairProgress *rp,
                       fl_errmsg_t *em) {
  fl_wire_conn_t c;
  fl__repair_progress__init(rp);
  int rc = fl__connect(addr, &c, em);
  if (rc)
    return rc;
  rc = fl_nc_stat(&c, st, em);
  if (rc == 0) {
    /* The sub-message lives in the connection's frame: copy it out before
     * the close. */
    const Fl__FrameHeader *r = fl_wire_conn_header(&c);
    if (r && r->body_case == FL__FRAME_HEADER__BODY_STAT_RESULT && r->stat_result->repair) {
      *rp = *r->stat_result->repair;
      rp->base = (ProtobufCMessage)PROTOBUF_C_MESSAGE_INIT(&fl__repair_progress__descriptor);
    }
    st->repair = NULL;
  }
  fl_wire_conn_close(&c);
  return rc;
}

/* Per node state of the waiter. */
typedef struct fl__wait_node {
  uint32_t id;
  int clean;          /* seen clean in the current epoch */
  uint64_t passes;    /* passes when first seen clean */
} fl__wait_node_t;

static void fl__sum_add(fl_itest_repair_sum_t *s, const Fl__StatResult *st,
                        const Fl__RepairProgress *rp) {
  s->nodes++;
  s->pgs_led += rp->pgs_led;
  s->pgs_degraded += rp->pgs_degraded;
  s->bytes_left += rp->bytes_left;
  s->fragments_left += rp->fragments_left;
  s->bytes_done += rp->bytes_done;
  s->rebuilt += rp->fragments_rebuilt;
  s->copied += rp->fragments_copied;
  s->dropped += rp->fragments_dropped;
  s->live_fragments += st->objects;
}

int fl_itest_repair_sum(const char *coord, fl_itest_repair_sum_t *sum, fl_errmsg_t *em) {
  memset(sum, 0, sizeof *sum);
  fl_map_t map;
  int rc = fl__coord_map(coord, &map, em);
  if (rc)
    return rc;
  sum->epoch = map.epoch;
  for (uint32_t i = 0; i < map.node_count; i++) {
    if (!(map.nodes[i].state & FL_NODE_UP))
      continue;
    Fl__StatResult st;
    Fl__RepairProgress rp;
    if (fl_itest_node_stat(map.nodes[i].addr, &st, &rp, NULL) == 0)
      fl__sum_add(sum, &st, &rp);
  }
  fl_map_free(&map);
  return 0;
}

int fl_itest_repair_wait(const char *coord, int timeout_ms, fl_itest_repair_sum_t *sum,
                         fl_errmsg_t *em) {
  fl__wait_node_t w[FL_ITEST_CLUSTER_MAX * 2];
  size_t nw = 0;
  uint64_t epoch = 0, t0 = fl_itest_now_ms();
  for (;;) {
    fl_map_t map;
    int rc = fl__coord_map(coord, &map, em);
    int done = rc == 0;
    fl_itest_repair_sum_t s;
    memset(&s, 0, sizeof s);
    if (rc == 0 && map.epoch != epoch) {
      epoch = map.epoch;
      nw = 0;
    }
    s.epoch = epoch;
    int report = fl_itest_now_ms() - t0 > (uint64_t)timeout_ms;
    for (uint32_t i = 0; rc == 0 && i < map.node_count; i++) {
      const fl_map_node_t *n = &map.nodes[i];
      if (!(n->state & FL_NODE_UP))
        continue;
      size_t j = 0;
      while (j < nw && w[j].id != n->id)
        j++;
      if (j == nw && nw < sizeof w / sizeof w[0])
        w[nw++] = (fl__wait_node_t){n->id, 0, 0};
      Fl__StatResult st = FL__STAT_RESULT__INIT;
      Fl__RepairProgress rp;
      fl_errmsg_t e2 = {{0}};
      int src = fl_itest_node_stat(n->addr, &st, &rp, &e2);
      int clean = src == 0 && st.map_epoch == epoch && rp.epoch == epoch &&
                  rp.pgs_degraded == 0 && rp.passes > 0;
      if (src == 0)
        fl__sum_add(&s, &st, &rp);
      if (j < nw) {
        if (!clean)
          w[j].clean = 0;
        else if (!w[j].clean) {
          w[j].clean = 1;
          w[j].passes = rp.passes;
        }
        done = done && clean && rp.passes > w[j].passes;
      } else {
        done = 0;
      }
      if (report)
        fprintf(stderr,
                "repair wait: node %u: %s map epoch %llu, repair epoch %llu, passes %llu, "
                "%u PGs led, %u degraded, %llu fragments left\n",
                n->id, src ? fl_errmsg_str(&e2, src) : "", (unsigned long long)st.map_epoch,
                (unsigned long long)rp.epoch, (unsigned long long)rp.passes, rp.pgs_led,
                rp.pgs_degraded, (unsigned long long)rp.fragments_left);
    }
    if (rc == 0)
      fl_map_free(&map);
    if (done) {
      if (sum)
        *sum = s;
      return 0;
    }
    if (report)
      return fl_errf(em, -ETIMEDOUT, "repair did not finish in epoch %llu within %d ms",
                     (unsigned long long)epoch, timeout_ms);
    fl_itest_sleep_ms(250);
  }
}
