/* Repair planning, pure: the clean check over PG summaries and the plan of
 * a degraded PG over its listings (docs/repair.md). */
#include "fl_heal_plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int fl__position_ok(const fl_heal_pg_t *pg, uint32_t i) {
  int h = pg->place[i];
  return h >= 0 && h < pg->nodes && pg->answered[h];
}

void fl_heal_check(const fl_heal_pg_t *pg, const fl_heal_stat_t *stats, size_t n,
                   fl_heal_check_t *out) {
  uint32_t w = pg->k + pg->m;
  memset(out, 0, sizeof *out);
  const fl_heal_stat_t *at[FL_HEAL_WIDTH_MAX] = {0};
  uint64_t best_ec[FL_HEAL_WIDTH_MAX] = {0}, best_rep[FL_HEAL_WIDTH_MAX] = {0};
  uint64_t max_ec = 0, max_rep = 0, all_bytes = 0, all_count = 0;
  for (uint32_t i = 0; i < w; i++)
    if (!fl__position_ok(pg, i))
      out->blocked = 1;
  for (size_t j = 0; j < n; j++) {
    const fl_heal_stat_t *s = &stats[j];
    uint64_t cnt = s->ec_count + s->replica_count;
    if (!cnt)
      continue;
    all_bytes += s->bytes;
    all_count += cnt;
    if (s->frag < w && pg->place[s->frag] == s->node)
      at[s->frag] = s;
    else
      out->strays++;
    if (s->frag < w) {
      if (s->ec_count > best_ec[s->frag])
        best_ec[s->frag] = s->ec_count;
      if (s->replica_count > best_rep[s->frag])
        best_rep[s->frag] = s->replica_count;
    }
    if (s->ec_count > max_ec)
      max_ec = s->ec_count;
    if (s->frag <= pg->m && s->replica_count > max_rep)
      max_rep = s->replica_count;
  }
  static const fl_heal_stat_t none;
  const fl_heal_stat_t *ref = at[0] ? at[0] : &none;
  int equal = 1;
  uint64_t left = 0;
  for (uint32_t i = 0; i < w; i++) {
    const fl_heal_stat_t *s = at[i] ? at[i] : &none;
    if (s->ec_count != max_ec || s->ec_digest != ref->ec_digest)
      equal = 0;
    left += max_ec - (s->ec_count < max_ec ? s->ec_count : max_ec);
    if (i <= pg->m) {
      if (s->replica_count != max_rep || s->replica_digest != ref->replica_digest)
        equal = 0;
      left += max_rep - (s->replica_count < max_rep ? s->replica_count : max_rep);
    } else if (s->replica_count) {
      equal = 0;
    }
  }
  out->clean = equal && !out->blocked && out->strays == 0;
  if (!out->clean && left == 0 && !equal)
    left = 1; /* same counts, different sets: at least one fragment differs */
  out->fragments_left = left;
  out->bytes_left = all_count ? left * (all_bytes / all_count) : 0;
  uint32_t surv = 0;
  if (max_ec) {
    for (uint32_t i = 0; i < w; i++)
      surv += best_ec[i] >= max_ec;
  } else if (max_rep) {
    for (uint32_t i = 0; i <= pg->m && i < w; i++)
      surv += best_rep[i] >= max_rep;
  } else {
    surv = w; /* an empty PG has nothing at risk */
  }
  out->survivors = surv;
}

/* ---- planning ---------------------------------------------------------------- */

/* Same object: tenant, study, series and SOP instance all equal (two
 * hospitals may hold the same study UIDs). */
static int fl__obj_cmp(const fl_heal_entry_t *x, const fl_heal_entry_t *y) {
  int c = strcmp(x->sop, y->sop);
  if (!c)
    c = strcmp(x->series, y->series);
  if (!c)
    c = strcmp(x->study, y->study);
  if (!c)
    c = strcmp(x->tenant, y->tenant);
  return c;
}

static int fl__entry_cmp(const void *a, const void *b) {
  const fl_heal_entry_t *x = a, *y = b;
  int c = fl__obj_cmp(x, y);
  if (!c)
    c = x->frag < y->frag ? -1 : x->frag > y->frag;
  if (!c)
    c = x->node < y->node ? -1 : x->node > y->node;
  return c;
}

static int fl__op_rank(const fl_heal_op_t *o) {
  return o->kind == FL_HEAL_DELETE ? 0 : o->kind == FL_HEAL_DROP ? 2 : 1;
}

static int fl__op_cmp(const void *a, const void *b) {
  const fl_heal_op_t *x = a, *y = b;
  int rx = fl__op_rank(x), ry = fl__op_rank(y);
  if (rx != ry)
    return rx - ry;
  if (rx == 1 && x->frag != y->frag)
    return x->frag < y->frag ? -1 : 1;
  if (x->obj != y->obj)
    return x->obj < y->obj ? -1 : 1;
  return x->target < y->target ? -1 : x->target > y->target;
}

typedef struct fl__ops {
  fl_heal_op_t *v;
  size_t n, cap;
} fl__ops_t;

static int fl__push(fl__ops_t *o, int kind, int target, int source, uint32_t frag, size_t obj) {
  if (o->n == o->cap) {
    size_t cap = o->cap ? o->cap * 2 : 64;
    fl_heal_op_t *v = realloc(o->v, cap * sizeof *v);
    if (!v)
      return -ENOMEM;
    o->v = v;
    o->cap = cap;
  }
  o->v[o->n++] = (fl_heal_op_t){kind, target, source, frag, obj};
  return 0;
}

static int fl__consistent(const fl_heal_entry_t *e, const fl_heal_entry_t *meta) {
  return !e->tombstone && e->ec == meta->ec && e->osize == meta->osize &&
         e->fsize == meta->fsize;
}

/* Plans one object: entries g[0..n) share its (series, sop). */
static int fl__plan_object(const fl_heal_pg_t *pg, const fl_heal_entry_t *g, size_t n,
                           size_t obj_ix, fl_heal_plan_t *p, fl__ops_t *ops) {
  fl_heal_obj_t *o = &p->objs[obj_ix];
  memset(o, 0, sizeof *o);
  for (int i = 0; i < FL_HEAL_WIDTH_MAX; i++)
    o->src[i] = -1;
  for (size_t j = 0; j < n; j++) {
    if (g[j].tombstone)
      o->deleted = 1;
    else if (!o->meta)
      o->meta = &g[j];
  }
  if (o->deleted || !o->meta) {
    o->deleted = 1;
    /* One delete per node still holding something of it. */
    for (size_t a = 0; a < n; a++) {
      if (g[a].tombstone)
        continue;
      int seen = 0;
      for (size_t b = 0; b < a && !seen; b++)
        seen = !g[b].tombstone && g[b].node == g[a].node;
      if (!seen) {
        int rc = fl__push(ops, FL_HEAL_DELETE, g[a].node, -1, 0, obj_ix);
        if (rc)
          return rc;
      }
    }
    return 0;
  }
  const fl_heal_entry_t *meta = o->meta;
  uint32_t width = fl_heal_width(pg, meta->ec);
  int held_ok[FL_HEAL_WIDTH_MAX] = {0}, held_other[FL_HEAL_WIDTH_MAX] = {0};
  for (size_t j = 0; j < n; j++) {
    const fl_heal_entry_t *e = &g[j];
    if (e->tombstone || e->frag >= width)
      continue;
    int mine = pg->place[e->frag] == e->node;
    if (!fl__consistent(e, meta)) {
      if (mine)
        held_other[e->frag] = 1;
      continue;
    }
    if (mine)
      held_ok[e->frag] = 1;
    if (o->src[e->frag] < 0 || mine)
      o->src[e->frag] = e->node;
  }
  for (uint32_t i = 0; i < width; i++)
    o->survivors += o->src[i] >= 0;
  o->lost = meta->ec ? o->survivors < pg->k : o->survivors < 1;
  if (o->lost) {
    p->lost++;
    return 0;
  }
  if (p->min_survivors == 0 || o->survivors < p->min_survivors)
    p->min_survivors = o->survivors;
  for (uint32_t i = 0; i < width; i++) {
    if (held_ok[i])
      continue;
    if (!fl__position_ok(pg, i) || held_other[i])
      continue; /* its node is away, or holds another write of the key */
    int rc = o->src[i] >= 0 ? fl__push(ops, FL_HEAL_COPY, pg->place[i], o->src[i], i, obj_ix)
                            : fl__push(ops, FL_HEAL_REBUILD, pg->place[i], -1, i, obj_ix);
    if (rc)
      return rc;
    p->bytes += meta->fsize;
  }
  if (p->blocked)
    return 0;
  for (size_t j = 0; j < n; j++) {
    const fl_heal_entry_t *e = &g[j];
    if (!fl__consistent(e, meta))
      continue;
    if (e->frag < width && pg->place[e->frag] == e->node)
      continue;
    int rc = fl__push(ops, FL_HEAL_DROP, e->node, -1, e->frag, obj_ix);
    if (rc)
      return rc;
  }
  return 0;
}

int fl_heal_plan_build(const fl_heal_pg_t *pg, fl_heal_entry_t *entries, size_t n,
                       fl_heal_plan_t *out, fl_errmsg_t *em) {
  memset(out, 0, sizeof *out);
  uint32_t w = pg->k + pg->m;
  if (pg->k == 0 || pg->m == 0 || w > FL_HEAL_WIDTH_MAX)
    return fl_errf(em, -EINVAL, "geometry %u+%u is out of range", pg->k, pg->m);
  for (uint32_t i = 0; i < w; i++)
    if (!fl__position_ok(pg, i))
      out->blocked = 1;
  if (n)
    qsort(entries, n, sizeof *entries, fl__entry_cmp);
  size_t groups = 0;
  for (size_t i = 0; i < n; i++)
    if (i == 0 || fl__obj_cmp(&entries[i], &entries[i - 1]))
      groups++;
  out->objs = calloc(groups ? groups : 1, sizeof *out->objs);
  if (!out->objs)
    return -ENOMEM;
  fl__ops_t ops = {0};
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0;) {
    size_t j = i + 1;
    while (j < n && fl__obj_cmp(&entries[j], &entries[i]) == 0)
      j++;
    rc = fl__plan_object(pg, &entries[i], j - i, out->n_objs++, out, &ops);
    i = j;
  }
  if (rc) {
    free(ops.v);
    fl_heal_plan_free(out);
    return fl_errf(em, rc, "out of memory planning PG %u", pg->pg);
  }
  if (ops.n)
    qsort(ops.v, ops.n, sizeof *ops.v, fl__op_cmp);
  out->ops = ops.v;
  out->n_ops = ops.n;
  return 0;
}

void fl_heal_plan_free(fl_heal_plan_t *p) {
  if (!p)
    return;
  free(p->objs);
  free(p->ops);
  memset(p, 0, sizeof *p);
}
