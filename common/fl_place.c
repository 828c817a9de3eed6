/* Rack-grouped straw2 placement.
 *
 * For a PG, the racks of the datacenter are put in a per-PG pseudo-random
 * order that depends only on (pg, rack name), and dealt round-robin into the
 * k+m positions: position p owns racks order[p], order[p + k+m], ... Each
 * position then takes the straw2 winner among the usable nodes of its racks.
 * Because every rack belongs to exactly one position, racks are distinct,
 * and a node joining or leaving changes at most the one position that owns
 * its rack: exactly the fragments the node gains or loses move, nothing
 * cascades. With fewer racks than positions, rack order[j] serves positions
 * j, j+R, ... and gives them its best-ranked distinct nodes.
 * Positions whose racks have no usable node (a rack lost) fall back to the
 * straw2 winner among racks no other position uses. */
#include "fl_place.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fl_pg.h"

/* ---- fixed-point log2 and straw2 -------------------------------------- */

#define FL__LOG_BITS 10
static uint64_t fl__log_tab[(1u << FL__LOG_BITS) + 1];
static pthread_once_t fl__log_once = PTHREAD_ONCE_INIT;

/* log2(1 + i/1024) in Q32 by repeated squaring in Q30: exact integer steps,
 * so the table is bit-identical everywhere (no libm). */
static void fl__log_init(void) {
  for (uint32_t i = 0; i <= (1u << FL__LOG_BITS); i++) {
    uint64_t y = (UINT64_C(1) << 30) + ((uint64_t)i << (30 - FL__LOG_BITS));
    uint64_t r = 0;
    if (y >= (UINT64_C(2) << 30)) {
      fl__log_tab[i] = UINT64_C(1) << 32;
      continue;
    }
    for (int b = 31; b >= 0; b--) {
      y = (y * y) >> 30;
      if (y >= (UINT64_C(2) << 30)) {
        y >>= 1;
        r |= UINT64_C(1) << b;
      }
    }
    fl__log_tab[i] = r;
  }
}

static int fl__msb64(uint64_t x) {
  int e = 0;
  for (int s = 32; s > 0; s >>= 1)
    if (x >> s) {
      x >>= s;
      e += s;
    }
  return e;
}

/* log2 in Q32 once the table is built (fl_place_new and the public entry
 * points make sure of that, keeping pthread_once off the per-draw path). */
static uint64_t fl__log2_q32(uint64_t x) {
  if (x == 0)
    return 0;
  int e = fl__msb64(x);
  uint64_t f = (x << (63 - e)) << 1; /* fraction bits below the leading 1 */
  uint32_t idx = (uint32_t)(f >> (64 - FL__LOG_BITS));
  uint64_t rem = (f >> (64 - FL__LOG_BITS - 20)) & 0xFFFFF;
  uint64_t lo = fl__log_tab[idx], hi = fl__log_tab[idx + 1];
  return ((uint64_t)e << 32) + lo + (((hi - lo) * rem) >> 20);
}

uint64_t fl_place_log2_q32(uint64_t x) {
  pthread_once(&fl__log_once, fl__log_init);
  return fl__log2_q32(x);
}

static uint64_t fl__straw2_key(uint64_t hash, uint32_t weight) {
  uint64_t u = (hash >> 16) + 1;
  uint64_t neglog = (UINT64_C(48) << 32) - fl__log2_q32(u); /* < 2^38 */
  return (neglog << 24) / weight;
}

uint64_t fl_place_straw2_key(uint64_t hash, uint32_t weight) {
  pthread_once(&fl__log_once, fl__log_init);
  return fl__straw2_key(hash, weight);
}

/* The draw of node id for pg; salt separates independent draws. */
static uint64_t fl__salt_seed(uint32_t salt) {
  return fl_pg_mix64(UINT64_C(0x9e3779b97f4a7c15) + salt);
}
static uint64_t fl__draw_hash(uint32_t pg, uint32_t id, uint64_t seed) {
  return fl_pg_mix64((((uint64_t)pg << 32) | id) ^ seed);
}

/* ---- the compiled index ------------------------------------------------ */

struct fl__pdc {
  uint32_t rack_count;
  uint64_t *rack_hash;   /* per rack: hash of its name */
  uint32_t *rack_first;  /* rack r's nodes: [rack_first[r], rack_first[r+1]) */
  uint32_t node_count;
  uint32_t *id;          /* nodes grouped by rack, ascending id within a rack */
  uint32_t *weight;      /* 0 when not usable (out or weight 0) */
  uint32_t usable_racks; /* racks with at least one usable node */
  uint32_t usable_nodes;
};

struct fl_place {
  uint32_t k, m, width, pg_count, dc_count;
  struct fl__pdc dc[FL_MAP_DC_MAX];
  uint32_t node_count;   /* every node of the map, sorted by id: */
  uint32_t *all_id;
  uint32_t *all_dc;
  uint32_t *all_rack;
  uint32_t *all_weight;  /* 0 when not usable */
  fl_map_upmap_t *upmap; /* copy of the map's table, sorted by (pg, from) */
  uint32_t upmap_count;
};

uint32_t fl_place_width(const fl_place_t *pl) { return pl->width; }

uint32_t fl_place_rack_count(const fl_place_t *pl, uint32_t dc) {
  return dc < pl->dc_count ? pl->dc[dc].rack_count : 0;
}

void fl_place_free(fl_place_t *pl) {
  if (!pl)
    return;
  for (uint32_t d = 0; d < FL_MAP_DC_MAX; d++) {
    free(pl->dc[d].rack_hash);
    free(pl->dc[d].rack_first);
    free(pl->dc[d].id);
    free(pl->dc[d].weight);
  }
  free(pl->all_id);
  free(pl->all_dc);
  free(pl->all_rack);
  free(pl->all_weight);
  free(pl->upmap);
  free(pl);
}

/* A node's sort key: (datacenter index, rack name, id). Self-contained, so
 * qsort needs no context (C11 has no qsort_r). */
struct fl__loc {
  int dc;
  const char *rack;
  uint32_t id;
  uint32_t idx;   /* index in map->nodes */
};

static int fl__cmp_loc(const void *a, const void *b) {
  const struct fl__loc *x = a, *y = b;
  if (x->dc != y->dc)
    return x->dc < y->dc ? -1 : 1;
  int c = strncmp(x->rack, y->rack, FL_MAP_NAME_MAX);
  if (c)
    return c;
  return x->id < y->id ? -1 : x->id > y->id;
}

int fl_place_new(const fl_map_t *map, fl_place_t **out, fl_errmsg_t *em) {
  struct fl__loc *order = NULL;
  int rc = fl_map_validate_policy(&map->policy, em);
  if (rc)
    return rc;
  pthread_once(&fl__log_once, fl__log_init);
  fl_place_t *pl = calloc(1, sizeof *pl);
  uint32_t n = map->node_count;
  order = malloc((n ? n : 1) * sizeof *order);
  if (!pl || !order)
    goto nomem;
  pl->k = map->policy.k;
  pl->m = map->policy.m;
  pl->width = pl->k + pl->m;
  pl->pg_count = map->policy.pg_count;
  pl->dc_count = map->policy.dc_count;
  pl->node_count = n;
  pl->all_id = malloc((n ? n : 1) * sizeof(uint32_t));
  pl->all_dc = malloc((n ? n : 1) * sizeof(uint32_t));
  pl->all_rack = malloc((n ? n : 1) * sizeof(uint32_t));
  pl->all_weight = malloc((n ? n : 1) * sizeof(uint32_t));
  if (!pl->all_id || !pl->all_dc || !pl->all_rack || !pl->all_weight)
    goto nomem;
  for (uint32_t i = 0; i < n; i++) {
    const fl_map_node_t *nd = &map->nodes[i];
    if (fl_map_dc_index(map, nd->dc) < 0) {
      rc = fl_errf(em, FL_ECONFIG, "node %u: datacenter '%.*s' is not in the policy", nd->id,
                   FL_MAP_NAME_MAX - 1, nd->dc);
      goto fail;
    }
    if (i > 0 && map->nodes[i - 1].id >= nd->id) {
      rc = fl_errf(em, FL_ECONFIG, "node id %u appears twice or out of order", nd->id);
      goto fail;
    }
    order[i] = (struct fl__loc){fl_map_dc_index(map, nd->dc), nd->rack, nd->id, i};
  }
  qsort(order, n, sizeof *order, fl__cmp_loc);

  uint32_t i = 0;
  for (uint32_t d = 0; d < pl->dc_count; d++) {
    struct fl__pdc *dc = &pl->dc[d];
    uint32_t start = i;
    while (i < n && fl_map_dc_index(map, map->nodes[order[i].idx].dc) == (int)d)
      i++;
    dc->node_count = i - start;
    uint32_t cnt = dc->node_count ? dc->node_count : 1;
    dc->id = malloc(cnt * sizeof(uint32_t));
    dc->weight = malloc(cnt * sizeof(uint32_t));
    dc->rack_hash = malloc(cnt * sizeof(uint64_t));
    dc->rack_first = malloc((cnt + 1) * sizeof(uint32_t));
    if (!dc->id || !dc->weight || !dc->rack_hash || !dc->rack_first)
      goto nomem;
    uint32_t r = 0, rack_has_usable = 0;
    for (uint32_t j = 0; j < dc->node_count; j++) {
      const fl_map_node_t *nd = &map->nodes[order[start + j].idx];
      if (j == 0 || strncmp(nd->rack, map->nodes[order[start + j - 1].idx].rack,
                            FL_MAP_NAME_MAX) != 0) {
        if (j > 0)
          r++;
        dc->rack_first[r] = j;
        dc->rack_hash[r] = fl_pg_hash64(nd->rack, strnlen(nd->rack, FL_MAP_NAME_MAX));
        rack_has_usable = 0;
      }
      dc->id[j] = nd->id;
      dc->weight[j] = fl_map_node_usable(nd) ? nd->weight : 0;
      if (dc->weight[j]) {
        dc->usable_nodes++;
        if (!rack_has_usable)
          dc->usable_racks++;
        rack_has_usable = 1;
      }
      uint32_t gi = (uint32_t)(nd - map->nodes);
      pl->all_id[gi] = nd->id;
      pl->all_dc[gi] = d;
      pl->all_rack[gi] = r;
      pl->all_weight[gi] = dc->weight[j];
    }
    dc->rack_count = dc->node_count ? r + 1 : 0;
    dc->rack_first[dc->rack_count] = dc->node_count;
  }
  if (map->upmap_count) {
    pl->upmap = malloc(map->upmap_count * sizeof *pl->upmap);
    if (!pl->upmap)
      goto nomem;
    memcpy(pl->upmap, map->upmap, map->upmap_count * sizeof *pl->upmap);
    pl->upmap_count = map->upmap_count;
  }
  free(order);
  *out = pl;
  return 0;
nomem:
  rc = fl_errf(em, -ENOMEM, "building the placement index: out of memory");
fail:
  free(order);
  fl_place_free(pl);
  return rc;
}

static int64_t fl__find_all(const fl_place_t *pl, uint32_t id) {
  uint32_t lo = 0, hi = pl->node_count;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (pl->all_id[mid] < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < pl->node_count && pl->all_id[lo] == id ? (int64_t)lo : -1;
}

int fl_place_node_loc(const fl_place_t *pl, uint32_t id, uint32_t *dc, uint32_t *rack) {
  int64_t i = fl__find_all(pl, id);
  if (i < 0)
    return -1;
  *dc = pl->all_dc[i];
  *rack = pl->all_rack[i];
  return 0;
}

/* ---- placing one PG ---------------------------------------------------- */

struct fl__slot {
  uint32_t node;  /* index into the dc's node arrays, or UINT32_MAX */
  uint32_t rack;
};

#define FL__NONE UINT32_MAX

/* Per-PG rack order: racks sorted by a hash of (pg, rack name). */
static void fl__rack_order(const struct fl__pdc *dc, uint32_t pg, uint32_t *perm,
                           uint64_t *key) {
  uint64_t pgk = fl_pg_mix64(((uint64_t)pg << 1) | 1);
  for (uint32_t r = 0; r < dc->rack_count; r++) {
    uint64_t kr = fl_pg_mix64(dc->rack_hash[r] ^ pgk);
    uint32_t j = r;
    while (j > 0 && (key[j - 1] > kr || (key[j - 1] == kr && perm[j - 1] > r))) {
      key[j] = key[j - 1];
      perm[j] = perm[j - 1];
      j--;
    }
    key[j] = kr;
    perm[j] = r;
  }
}

/* Straw2 winner among the usable nodes of rack r not yet taken; FL__NONE if
 * none. Ties (equal keys) go to the lower id, so the result is total. */
static uint32_t fl__rack_best(const struct fl__pdc *dc, uint32_t r, uint32_t pg,
                              uint32_t salt, const uint8_t *taken, uint64_t *best_key) {
  uint32_t best = FL__NONE;
  uint64_t seed = fl__salt_seed(salt);
  for (uint32_t j = dc->rack_first[r]; j < dc->rack_first[r + 1]; j++) {
    if (!dc->weight[j] || (taken && taken[j]))
      continue;
    uint64_t key = fl__straw2_key(fl__draw_hash(pg, dc->id[j], seed), dc->weight[j]);
    if (best == FL__NONE || key < *best_key) {
      best = j;
      *best_key = key;
    }
  }
  return best;
}

int fl_place_pg(const fl_place_t *pl, uint32_t pg, uint32_t dci, uint32_t flags,
                uint32_t out[], fl_errmsg_t *em) {
  if (pg >= pl->pg_count || dci >= pl->dc_count)
    return fl_errf(em, FL_ECONFIG, "placement: pg %u / datacenter %u out of range "
                   "(pg_count %u, %u datacenters)", pg, dci, pl->pg_count, pl->dc_count);
  const struct fl__pdc *dc = &pl->dc[dci];
  const uint32_t w = pl->width;
  if (dc->usable_nodes < w)
    return fl_errf(em, FL_EUNAVAIL, "placement: datacenter %u has %u usable nodes, "
                   "k+m = %u needs %u", dci, dc->usable_nodes, w, w);
  const uint32_t R = dc->rack_count;
  uint32_t perm_stack[64];
  uint64_t key_stack[64];
  uint32_t *perm = perm_stack;
  uint64_t *rkey = key_stack;
  uint8_t taken_stack[512];
  uint8_t *taken = taken_stack;
  uint32_t cnt_stack[64];
  uint32_t *rack_cnt = cnt_stack;
  int rc = 0;
  if (R > 64) {
    perm = malloc(R * sizeof *perm);
    rkey = malloc(R * sizeof *rkey);
  }
  if (dc->node_count > sizeof taken_stack)
    taken = malloc(dc->node_count);
  if (R > 64)
    rack_cnt = malloc(R * sizeof *rack_cnt);
  if (!perm || !rkey || !taken || !rack_cnt) {
    rc = fl_errf(em, -ENOMEM, "placement: out of memory");
    goto fail;
  }
  memset(taken, 0, dc->node_count);
  memset(rack_cnt, 0, R * sizeof *rack_cnt);
  if (R < w)
    fl__rack_order(dc, pg, perm, rkey);

  struct fl__slot slot[FL_MAP_WIDTH_MAX];
  if (R >= w) {
    /* Rack r belongs to group[r], the position with its highest
     * (pg, rack, position) score; empty positions then take, in order, the
     * best-scoring rack of a group that has two or more. Groups depend on
     * the set of rack names only, never on nodes, weights or states. */
    uint32_t *group = perm; /* perm is not needed in this mode */
    uint32_t gsize[FL_MAP_WIDTH_MAX] = {0};
    uint64_t pseed[FL_MAP_WIDTH_MAX];
    for (uint32_t p = 0; p < w; p++)
      pseed[p] = fl_pg_mix64((((uint64_t)pg << 6) | p) ^ UINT64_C(0x5851f42d4c957f2d));
    for (uint32_t r = 0; r < R; r++) {
      uint64_t best = 0;
      group[r] = 0;
      for (uint32_t p = 0; p < w; p++) {
        uint64_t sc = fl_pg_mix64(dc->rack_hash[r] + pseed[p]);
        if (p == 0 || sc > best) {
          best = sc;
          group[r] = p;
        }
      }
      gsize[group[r]]++;
    }
    for (uint32_t p = 0; p < w; p++) {
      if (gsize[p])
        continue;
      uint32_t donor = FL__NONE;
      uint64_t best = 0;
      for (uint32_t r = 0; r < R; r++) {
        uint64_t sc = fl_pg_mix64(dc->rack_hash[r] + pseed[p]);
        if (gsize[group[r]] >= 2 && (donor == FL__NONE || sc > best)) {
          donor = r;
          best = sc;
        }
      }
      gsize[group[donor]]--;
      group[donor] = p;
      gsize[p] = 1;
    }
    uint64_t bk[FL_MAP_WIDTH_MAX];
    for (uint32_t p = 0; p < w; p++)
      slot[p].node = FL__NONE;
    for (uint32_t r = 0; r < R; r++) {
      uint64_t k2;
      uint32_t p = group[r], c = fl__rack_best(dc, r, pg, 0, NULL, &k2);
      if (c != FL__NONE && (slot[p].node == FL__NONE || k2 < bk[p] ||
                            (k2 == bk[p] && dc->id[c] < dc->id[slot[p].node]))) {
        slot[p].node = c;
        slot[p].rack = r;
        bk[p] = k2;
      }
    }
    for (uint32_t p = 0; p < w; p++)
      if (slot[p].node != FL__NONE) {
        taken[slot[p].node] = 1;
        rack_cnt[slot[p].rack]++;
      }
  } else {
    /* Rack perm[j] serves positions j, j+R, ...: its best distinct nodes,
     * in straw2 order, to those positions in ascending order. */
    for (uint32_t j = 0; j < R; j++) {
      for (uint32_t p = j; p < w; p += R) {
        uint64_t k2;
        uint32_t c = fl__rack_best(dc, perm[j], pg, 0, taken, &k2);
        slot[p].node = c;
        slot[p].rack = perm[j];
        if (c != FL__NONE) {
          taken[c] = 1;
          rack_cnt[perm[j]]++;
        }
      }
    }
  }
  /* Fallback for positions left empty: the straw2 winner (salted by the
   * position, so positions do not all pick the same node) among the racks
   * holding the fewest of this PG's positions: unused racks first. */
  for (uint32_t p = 0; p < w; p++) {
    if (slot[p].node != FL__NONE)
      continue;
    uint32_t best = FL__NONE, best_rack = 0;
    uint64_t bk = 0;
    uint32_t min_cnt = UINT32_MAX;
    for (uint32_t r = 0; r < R; r++) {
      uint64_t k2;
      uint32_t c = fl__rack_best(dc, r, pg, p + 1, taken, &k2);
      if (c == FL__NONE)
        continue;
      if (rack_cnt[r] < min_cnt || (rack_cnt[r] == min_cnt && (k2 < bk ||
                                    (k2 == bk && dc->id[c] < dc->id[best])))) {
        min_cnt = rack_cnt[r];
        best = c;
        bk = k2;
        best_rack = r;
      }
    }
    if (best == FL__NONE) {
      rc = fl_errf(em, FL_EINTERNAL, "placement: no node left for position %u", p);
      goto fail;
    }
    slot[p].node = best;
    slot[p].rack = best_rack;
    taken[best] = 1;
    rack_cnt[best_rack]++;
  }
  /* The upmap pairs of this PG: (from -> to) where from is the computed
   * node of a position, applied only if to is usable here, not already used,
   * and puts no more of the PG on its rack than the computed layout allows.
   * Passes repeat until none applies, so the result does not depend on the
   * order the pairs were made in (one may free the rack another needs). */
  if (!(flags & FL_PLACE_RAW) && pl->upmap_count) {
    uint32_t lo = 0, hi = pl->upmap_count;
    while (lo < hi) {
      uint32_t mid = lo + (hi - lo) / 2;
      if (pl->upmap[mid].pg < pg)
        lo = mid + 1;
      else
        hi = mid;
    }
    uint32_t raw[FL_MAP_WIDTH_MAX], done_mask = 0;
    for (uint32_t p = 0; p < w; p++)
      raw[p] = dc->id[slot[p].node];
    uint32_t cap = R >= w ? 1 : (w + R - 1) / R;
    for (int progress = 1; progress;) {
      progress = 0;
      for (uint32_t u = lo; u < pl->upmap_count && pl->upmap[u].pg == pg; u++) {
        uint32_t p;
        for (p = 0; p < w && raw[p] != pl->upmap[u].from; p++)
          ;
        if (p == w || (done_mask >> p & 1))
          continue;
        int64_t ti = fl__find_all(pl, pl->upmap[u].to);
        if (ti < 0 || pl->all_dc[ti] != dci || !pl->all_weight[ti])
          continue;
        uint32_t trk = pl->all_rack[ti], tj;
        for (tj = dc->rack_first[trk]; dc->id[tj] != pl->upmap[u].to; tj++)
          ;
        if (taken[tj] || (trk != slot[p].rack && rack_cnt[trk] + 1 > cap))
          continue;
        taken[slot[p].node] = 0;
        rack_cnt[slot[p].rack]--;
        slot[p].node = tj;
        slot[p].rack = trk;
        taken[tj] = 1;
        rack_cnt[trk]++;
        done_mask |= UINT32_C(1) << p;
        progress = 1;
      }
    }
  }
  for (uint32_t p = 0; p < w; p++)
    out[p] = dc->id[slot[p].node];
fail:
  if (perm != perm_stack)
    free(perm);
  if (rkey != key_stack)
    free(rkey);
  if (taken != taken_stack)
    free(taken);
  if (rack_cnt != cnt_stack)
    free(rack_cnt);
  return rc;
}

int fl_place_pg_nodes(const fl_map_t *map, uint32_t pg, const char *dc, uint32_t out[],
                      fl_errmsg_t *em) {
  int d = fl_map_dc_index(map, dc);
  if (d < 0)
    return fl_errf(em, FL_ECONFIG, "placement: datacenter '%s' is not in the policy", dc);
  fl_place_t *pl = NULL;
  int rc = fl_place_new(map, &pl, em);
  if (rc)
    return rc;
  rc = fl_place_pg(pl, pg, (uint32_t)d, 0, out, em);
  fl_place_free(pl);
  return rc;
}
