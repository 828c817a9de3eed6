/* Greedy upmap balancer. Per datacenter: place every PG, count fragments
 * per node, then repeatedly take the fullest node (fragments / weight) and
 * move one of its fragments to the emptiest node that keeps the PG's racks
 * distinct (the same rack, or one no other position uses), recording the
 * move as an upmap pair keyed by the PG's computed (raw) node. A node whose
 * fragments cannot go anywhere useful is set aside. */
#include "fl_balance.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fl_place.h"

struct fl__bnode {
  uint32_t id;
  uint32_t rack;
  double weight;     /* 0 when not usable */
  uint32_t load;     /* fragments placed here */
  uint32_t *pgpos;   /* (pg * width + position) of each fragment */
  uint32_t cap;
  int stuck;
};

static double fl__fill(const struct fl__bnode *b) { return b->load / b->weight; }

static int fl__push(struct fl__bnode *b, uint32_t v) {
  if (b->load == b->cap) {
    uint32_t nc = b->cap ? b->cap * 2 : 64;
    uint32_t *p = realloc(b->pgpos, nc * sizeof *p);
    if (!p)
      return -ENOMEM;
    b->pgpos = p;
    b->cap = nc;
  }
  b->pgpos[b->load++] = v;
  return 0;
}

struct fl__bdc {
  uint32_t n;
  struct fl__bnode *node;   /* sorted by id */
  uint32_t *cur;            /* pg_count * width: index into node[] */
  uint32_t *raw;            /* same, without upmap */
  double total_w, total_load;
};

static uint32_t fl__bidx(const struct fl__bdc *d, uint32_t id) {
  uint32_t lo = 0, hi = d->n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (d->node[mid].id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static void fl__bdc_free(struct fl__bdc *d) {
  if (d->node)
    for (uint32_t i = 0; i < d->n; i++)
      free(d->node[i].pgpos);
  free(d->node);
  free(d->cur);
  free(d->raw);
  memset(d, 0, sizeof *d);
}

static int fl__bdc_load(struct fl__bdc *d, const fl_map_t *map, const fl_place_t *pl,
                        uint32_t dci, int want_raw, fl_errmsg_t *em) {
  uint32_t w = fl_place_width(pl), pgc = map->policy.pg_count;
  int rc = 0;
  memset(d, 0, sizeof *d);
  for (uint32_t i = 0; i < map->node_count; i++)
    if (fl_map_dc_index(map, map->nodes[i].dc) == (int)dci)
      d->n++;
  d->node = calloc(d->n ? d->n : 1, sizeof *d->node);
  d->cur = malloc((size_t)pgc * w * sizeof *d->cur);
  if (want_raw)
    d->raw = malloc((size_t)pgc * w * sizeof *d->raw);
  if (!d->node || !d->cur || (want_raw && !d->raw))
    goto nomem;
  uint32_t j = 0;
  for (uint32_t i = 0; i < map->node_count; i++) {
    const fl_map_node_t *nd = &map->nodes[i];
    if (fl_map_dc_index(map, nd->dc) != (int)dci)
      continue;
    uint32_t dd;
    d->node[j].id = nd->id;
    fl_place_node_loc(pl, nd->id, &dd, &d->node[j].rack);
    d->node[j].weight = fl_map_node_usable(nd) ? (double)nd->weight : 0.0;
    d->total_w += d->node[j].weight;
    j++;
  }
  uint32_t out[FL_MAP_WIDTH_MAX];
  for (uint32_t pg = 0; pg < pgc; pg++) {
    if ((rc = fl_place_pg(pl, pg, dci, 0, out, em)) != 0)
      goto fail;
    for (uint32_t p = 0; p < w; p++) {
      uint32_t bi = fl__bidx(d, out[p]);
      d->cur[(size_t)pg * w + p] = bi;
      if (fl__push(&d->node[bi], pg * w + p))
        goto nomem;
    }
    if (want_raw) {
      if ((rc = fl_place_pg(pl, pg, dci, FL_PLACE_RAW, out, em)) != 0)
        goto fail;
      for (uint32_t p = 0; p < w; p++)
        d->raw[(size_t)pg * w + p] = fl__bidx(d, out[p]);
    }
  }
  d->total_load = (double)pgc * w;
  return 0;
nomem:
  rc = fl_errf(em, -ENOMEM, "balancer: out of memory");
fail:
  fl__bdc_free(d);
  return rc;
}

static double fl__bdc_maxmean(const struct fl__bdc *d) {
  double mx = 0, mean = d->total_load / d->total_w;
  for (uint32_t i = 0; i < d->n; i++)
    if (d->node[i].weight > 0 && fl__fill(&d->node[i]) > mx)
      mx = fl__fill(&d->node[i]);
  return mean > 0 ? mx / mean : 0;
}

int fl_balance_fill(const fl_map_t *map, double *maxmean, fl_errmsg_t *em) {
  fl_place_t *pl = NULL;
  int rc = fl_place_new(map, &pl, em);
  if (rc)
    return rc;
  *maxmean = 0;
  for (uint32_t d = 0; d < map->policy.dc_count; d++) {
    struct fl__bdc b;
    if ((rc = fl__bdc_load(&b, map, pl, d, 0, em)) != 0)
      break;
    double v = fl__bdc_maxmean(&b);
    if (v > *maxmean)
      *maxmean = v;
    fl__bdc_free(&b);
  }
  fl_place_free(pl);
  return rc;
}

/* Sort key of a node by fill, self-contained for qsort. */
struct fl__bkey {
  double fill;
  uint32_t id;
  uint32_t idx;
};

static int fl__cmp_fill(const void *a, const void *b) {
  const struct fl__bkey *x = a, *y = b;
  if (x->fill != y->fill)
    return x->fill < y->fill ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* Balances one datacenter; *budget counts down the changes allowed. */
static int fl__balance_dc(fl_map_t *map, struct fl__bdc *d, uint32_t w, uint32_t racks,
                          double target, uint32_t *budget, uint32_t *changes,
                          fl_errmsg_t *em) {
  int rc = 0;
  struct fl__bkey *key = NULL;
  uint32_t *order = NULL, nu = 0;
  order = malloc((d->n ? d->n : 1) * sizeof *order);
  key = malloc((d->n ? d->n : 1) * sizeof *key);
  if (!order || !key) {
    rc = fl_errf(em, -ENOMEM, "balancer: out of memory");
    goto done;
  }
  for (uint32_t i = 0; i < d->n; i++)
    if (d->node[i].weight > 0)
      order[nu++] = i;
  double mean = d->total_load / d->total_w;
  uint32_t cap = racks >= w ? 1 : (w + racks - 1) / racks;
  while (*budget > 0) {
    for (uint32_t i = 0; i < nu; i++)
      key[i] = (struct fl__bkey){fl__fill(&d->node[order[i]]), d->node[order[i]].id, order[i]};
    qsort(key, nu, sizeof *key, fl__cmp_fill);
    for (uint32_t i = 0; i < nu; i++)
      order[i] = key[i].idx;
    uint32_t oi = UINT32_MAX;
    for (uint32_t t = nu; t-- > 0;)
      if (!d->node[order[t]].stuck) {
        oi = order[t];
        break;
      }
    if (oi == UINT32_MAX)
      break;
    struct fl__bnode *o = &d->node[oi];
    if (fl__fill(o) <= target * mean)
      break;
    int moved = 0;
    for (uint32_t c = 0; c < nu && !moved; c++) {
      struct fl__bnode *t = &d->node[order[c]];
      if ((t->load + 1) / t->weight >= fl__fill(o))
        break; /* no emptier node left: moving would not lower the max */
      for (uint32_t f = 0; f < o->load && !moved; f++) {
        uint32_t pp = o->pgpos[f], pg = pp / w, pos = pp % w;
        /* The same rule fl_place_pg applies to pairs: a new node, and no
         * more positions on its rack than the computed layout allows. */
        const uint32_t *cur = &d->cur[(size_t)pg * w];
        uint32_t on_rack = 0;
        int ok = 1;
        for (uint32_t q = 0; q < w && ok; q++) {
          if (q == pos)
            continue;
          if (cur[q] == order[c])
            ok = 0;
          on_rack += d->node[cur[q]].rack == t->rack;
        }
        if (!ok || (t->rack != o->rack && on_rack + 1 > cap))
          continue;
        /* The pair is keyed by the computed node of this position. */
        uint32_t raw_i = d->raw[(size_t)pg * w + pos];
        uint32_t raw_id = d->node[raw_i].id;
        if (raw_i == order[c]) {
          const fl_map_upmap_t *u;
          uint32_t cnt = fl_map_upmap_of(map, pg, &u);
          for (uint32_t x = 0; x < cnt; x++)
            if (u[x].from == raw_id) {
              uint32_t at = (uint32_t)(u - map->upmap) + x;
              memmove(&map->upmap[at], &map->upmap[at + 1],
                      (map->upmap_count - at - 1) * sizeof *map->upmap);
              map->upmap_count--;
              break;
            }
        } else if ((rc = fl_map_upmap_set(map, pg, raw_id, t->id, em)) != 0) {
          goto done;
        }
        d->cur[(size_t)pg * w + pos] = order[c];
        o->pgpos[f] = o->pgpos[--o->load];
        if ((rc = fl__push(t, pp)) != 0) {
          rc = fl_errf(em, rc, "balancer: out of memory");
          goto done;
        }
        (*budget)--;
        (*changes)++;
        moved = 1;
      }
    }
    if (!moved)
      o->stuck = 1;
  }
done:
  free(order);
  free(key);
  return rc;
}

int fl_balance_run(fl_map_t *map, const fl_balance_opts_t *opts, fl_balance_stats_t *stats,
                   fl_errmsg_t *em) {
  fl_place_t *pl = NULL;
  fl_balance_stats_t st = {0};
  uint32_t budget = opts->max_changes;
  double target = opts->target_permille / 1000.0;
  int rc = fl_place_new(map, &pl, em);
  if (rc)
    return rc;
  uint32_t w = fl_place_width(pl);
  for (uint32_t dci = 0; dci < map->policy.dc_count; dci++) {
    struct fl__bdc d;
    if ((rc = fl__bdc_load(&d, map, pl, dci, 1, em)) != 0)
      break;
    double before = fl__bdc_maxmean(&d);
    rc = fl__balance_dc(map, &d, w, fl_place_rack_count(pl, dci), target, &budget,
                        &st.changes, em);
    double after = fl__bdc_maxmean(&d);
    if (before > st.before)
      st.before = before;
    if (after > st.after)
      st.after = after;
    fl__bdc_free(&d);
    if (rc)
      break;
  }
  fl_place_free(pl);
  if (stats)
    *stats = st;
  return rc;
}
