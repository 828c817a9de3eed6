/* Per-(pg, fragment index) summaries: linear probing keyed by (pg, frag).
 * Entries are never removed (a PG that held fragments once will likely hold
 * them again, and probing stays simple); those at zero counts are left out
 * of snapshots. */
#include "fl_store_pgs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fl_pg.h"

#define FL__PGS_MIN_CAP 64u

void fl_store_pgs_init(fl_store_pgs_t *t) { memset(t, 0, sizeof *t); }

void fl_store_pgs_free(fl_store_pgs_t *t) {
  free(t->slots);
  free(t->used);
  memset(t, 0, sizeof *t);
}

static size_t fl__pgs_home(uint32_t pg, uint16_t frag, size_t cap) {
  return (size_t)(fl_pg_mix64(((uint64_t)pg << 16) | frag) & (cap - 1));
}

/* Slot of (pg, frag), or of the empty slot where it belongs. cap > 0 and the
 * table is never full (load stays below 3/4). */
static size_t fl__pgs_find(const fl_store_pgs_t *t, uint32_t pg, uint16_t frag) {
  size_t i = fl__pgs_home(pg, frag, t->cap);
  while (t->used[i] && (t->slots[i].pg != pg || t->slots[i].frag != frag))
    i = (i + 1) & (t->cap - 1);
  return i;
}

static int fl__pgs_grow(fl_store_pgs_t *t) {
  size_t cap = t->cap ? t->cap * 2 : FL__PGS_MIN_CAP;
  fl_store_pgs_t g = {calloc(cap, sizeof *g.slots), calloc(cap, 1), cap, 0, 0};
  if (!g.slots || !g.used) {
    free(g.slots);
    free(g.used);
    return -ENOMEM;
  }
  for (size_t i = 0; i < t->cap; i++)
    if (t->used[i]) {
      size_t j = fl__pgs_find(&g, t->slots[i].pg, t->slots[i].frag);
      g.slots[j] = t->slots[i];
      g.used[j] = 1;
      g.n++;
    }
  free(t->slots);
  free(t->used);
  *t = g;
  return 0;
}

int fl_store_pgs_add(fl_store_pgs_t *t, uint32_t pg, uint16_t frag, uint8_t layout,
                     uint64_t obj_hash, uint64_t bytes, int sign) {
  if ((t->n + 1) * 4 > t->cap * 3 && fl__pgs_grow(t) != 0) {
    t->broken = 1;
    return -ENOMEM;
  }
  size_t i = fl__pgs_find(t, pg, frag);
  fl_store_pg_stat_t *e = &t->slots[i];
  if (!t->used[i]) {
    memset(e, 0, sizeof *e);
    e->pg = pg;
    e->frag = frag;
    t->used[i] = 1;
    t->n++;
  }
  uint64_t *count = layout ? &e->ec_count : &e->replica_count;
  uint64_t *digest = layout ? &e->ec_digest : &e->replica_digest;
  *digest ^= obj_hash;
  if (sign > 0) {
    (*count)++;
    e->bytes += bytes;
  } else {
    (*count)--;
    e->bytes -= bytes;
  }
  return 0;
}

static int fl__pgs_cmp(const void *a, const void *b) {
  const fl_store_pg_stat_t *x = a, *y = b;
  if (x->pg != y->pg)
    return x->pg < y->pg ? -1 : 1;
  return (x->frag > y->frag) - (x->frag < y->frag);
}

int fl_store_pgs_snapshot(const fl_store_pgs_t *t, fl_store_pg_stat_t **out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (t->broken)
    return -ENOMEM;
  size_t live = 0;
  for (size_t i = 0; i < t->cap; i++)
    live += t->used[i] && (t->slots[i].ec_count || t->slots[i].replica_count);
  if (live == 0)
    return 0;
  fl_store_pg_stat_t *a = malloc(live * sizeof *a);
  if (!a)
    return -ENOMEM;
  size_t k = 0;
  for (size_t i = 0; i < t->cap; i++)
    if (t->used[i] && (t->slots[i].ec_count || t->slots[i].replica_count))
      a[k++] = t->slots[i];
  qsort(a, k, sizeof *a, fl__pgs_cmp);
  *out = a;
  *n = k;
  return 0;
}
