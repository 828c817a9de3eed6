/* Cluster map data model: node table kept sorted by id (binary search, and a
 * canonical order so two maps with the same content are byte-equal), the
 * policy, and the upmap pairs kept sorted by (pg, from). */
#include "fl_map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int fl__name_ok(const char *s, size_t cap) {
  size_t n = strnlen(s, cap);
  if (n == 0 || n == cap)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

int fl_map_validate_policy(const fl_map_policy_t *p, fl_errmsg_t *em) {
  if (p->k < 1)
    return fl_errf(em, FL_ECONFIG, "policy: k must be at least 1");
  if (p->m > FL_MAP_WIDTH_MAX || p->k + p->m > FL_MAP_WIDTH_MAX)
    return fl_errf(em, FL_ECONFIG, "policy: k+m = %u+%u exceeds %d", p->k, p->m,
                   FL_MAP_WIDTH_MAX);
  if (p->pg_count < 1)
    return fl_errf(em, FL_ECONFIG, "policy: pg_count must be at least 1");
  if (p->min_write < p->k || p->min_write > p->k + p->m)
    return fl_errf(em, FL_ECONFIG, "policy: min_write %u must lie in k..k+m (%u..%u)",
                   p->min_write, p->k, p->k + p->m);
  if (p->repl_mode != FL_REPL_ASYNC && p->repl_mode != FL_REPL_SYNC)
    return fl_errf(em, FL_ECONFIG, "policy: unknown replication mode %u", p->repl_mode);
  if (p->dc_count < 1 || p->dc_count > FL_MAP_DC_MAX)
    return fl_errf(em, FL_ECONFIG, "policy: %u datacenters, need 1..%d", p->dc_count,
                   FL_MAP_DC_MAX);
  for (uint32_t i = 0; i < p->dc_count; i++) {
    if (!fl__name_ok(p->dcs[i], FL_MAP_NAME_MAX))
      return fl_errf(em, FL_ECONFIG, "policy: datacenter %u has an empty or invalid name "
                     "(use 1..%d of [A-Za-z0-9._-])", i, FL_MAP_NAME_MAX - 1);
    for (uint32_t j = 0; j < i; j++)
      if (strcmp(p->dcs[i], p->dcs[j]) == 0)
        return fl_errf(em, FL_ECONFIG, "policy: datacenter '%s' listed twice", p->dcs[i]);
  }
  return 0;
}

int fl_map_init(fl_map_t *map, const fl_map_policy_t *policy, fl_errmsg_t *em) {
  memset(map, 0, sizeof *map);
  int rc = fl_map_validate_policy(policy, em);
  if (rc)
    return rc;
  map->policy = *policy;
  return 0;
}

void fl_map_free(fl_map_t *map) {
  free(map->nodes);
  free(map->upmap);
  fl_map_policy_t keep = map->policy;
  memset(map, 0, sizeof *map);
  map->policy = keep;
}

int fl_map_copy(fl_map_t *dst, const fl_map_t *src, fl_errmsg_t *em) {
  memset(dst, 0, sizeof *dst);
  dst->epoch = src->epoch;
  dst->policy = src->policy;
  if (src->node_count) {
    dst->nodes = malloc(src->node_count * sizeof *dst->nodes);
    if (!dst->nodes)
      goto fail;
    memcpy(dst->nodes, src->nodes, src->node_count * sizeof *dst->nodes);
    dst->node_count = dst->node_cap = src->node_count;
  }
  if (src->upmap_count) {
    dst->upmap = malloc(src->upmap_count * sizeof *dst->upmap);
    if (!dst->upmap)
      goto fail;
    memcpy(dst->upmap, src->upmap, src->upmap_count * sizeof *dst->upmap);
    dst->upmap_count = dst->upmap_cap = src->upmap_count;
  }
  return 0;
fail:
  fl_map_free(dst);
  return fl_errf(em, -ENOMEM, "copying the cluster map: out of memory");
}

int fl_map_dc_index(const fl_map_t *map, const char *dc) {
  for (uint32_t i = 0; i < map->policy.dc_count; i++)
    if (strncmp(map->policy.dcs[i], dc, FL_MAP_NAME_MAX) == 0)
      return (int)i;
  return -1;
}

/* Position of id in the sorted table, or where it would go (*found = 0). */
static uint32_t fl__node_pos(const fl_map_t *map, uint32_t id, int *found) {
  uint32_t lo = 0, hi = map->node_count;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (map->nodes[mid].id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = lo < map->node_count && map->nodes[lo].id == id;
  return lo;
}

const fl_map_node_t *fl_map_find_node(const fl_map_t *map, uint32_t id) {
  int found;
  uint32_t i = fl__node_pos(map, id, &found);
  return found ? &map->nodes[i] : NULL;
}

static int fl__node_check(const fl_map_t *map, const fl_map_node_t *n, fl_errmsg_t *em) {
  if (n->id == 0)
    return fl_errf(em, FL_ECONFIG, "node id 0 is reserved: use ids from 1");
  if (strnlen(n->addr, FL_MAP_ADDR_MAX) == FL_MAP_ADDR_MAX)
    return fl_errf(em, FL_ECONFIG, "node %u: address longer than %d characters", n->id,
                   FL_MAP_ADDR_MAX - 1);
  if (!fl__name_ok(n->dc, FL_MAP_NAME_MAX) || fl_map_dc_index(map, n->dc) < 0)
    return fl_errf(em, FL_ECONFIG, "node %u: datacenter '%.*s' is not in the policy", n->id,
                   FL_MAP_NAME_MAX - 1, n->dc);
  if (!fl__name_ok(n->rack, FL_MAP_NAME_MAX))
    return fl_errf(em, FL_ECONFIG, "node %u: empty or invalid rack name (use 1..%d of "
                   "[A-Za-z0-9._-])", n->id, FL_MAP_NAME_MAX - 1);
  if (n->state & ~(FL_NODE_UP | FL_NODE_IN))
    return fl_errf(em, FL_ECONFIG, "node %u: unknown state bits 0x%x", n->id, n->state);
  return 0;
}

static int fl__grow(void **arr, uint32_t *cap, uint32_t need, size_t elem) {
  if (need <= *cap)
    return 0;
  uint32_t ncap = *cap ? *cap : 16;
  while (ncap < need)
    ncap *= 2;
  void *p = realloc(*arr, (size_t)ncap * elem);
  if (!p)
    return -ENOMEM;
  *arr = p;
  *cap = ncap;
  return 0;
}

int fl_map_add_node(fl_map_t *map, const fl_map_node_t *node, fl_errmsg_t *em) {
  int rc = fl__node_check(map, node, em);
  if (rc)
    return rc;
  int found;
  uint32_t at = fl__node_pos(map, node->id, &found);
  if (found)
    return fl_errf(em, FL_EEXIST, "node id %u is already in the map", node->id);
  if (fl__grow((void **)&map->nodes, &map->node_cap, map->node_count + 1, sizeof *node))
    return fl_errf(em, -ENOMEM, "adding node %u: out of memory", node->id);
  memmove(&map->nodes[at + 1], &map->nodes[at], (map->node_count - at) * sizeof *node);
  map->nodes[at] = *node;
  map->node_count++;
  return 0;
}

int fl_map_update_node(fl_map_t *map, const fl_map_node_t *node, fl_errmsg_t *em) {
  int rc = fl__node_check(map, node, em);
  if (rc)
    return rc;
  int found;
  uint32_t at = fl__node_pos(map, node->id, &found);
  if (!found)
    return fl_errf(em, FL_ENOTFOUND, "node %u is not in the map", node->id);
  map->nodes[at] = *node;
  return 0;
}

int fl_map_remove_node(fl_map_t *map, uint32_t id, fl_errmsg_t *em) {
  int found;
  uint32_t at = fl__node_pos(map, id, &found);
  if (!found)
    return fl_errf(em, FL_ENOTFOUND, "node %u is not in the map", id);
  memmove(&map->nodes[at], &map->nodes[at + 1],
          (map->node_count - at - 1) * sizeof *map->nodes);
  map->node_count--;
  uint32_t w = 0;
  for (uint32_t r = 0; r < map->upmap_count; r++)
    if (map->upmap[r].from != id && map->upmap[r].to != id)
      map->upmap[w++] = map->upmap[r];
  map->upmap_count = w;
  return 0;
}

static int fl__upmap_cmp(uint32_t pg, uint32_t from, const fl_map_upmap_t *u) {
  if (pg != u->pg)
    return pg < u->pg ? -1 : 1;
  if (from != u->from)
    return from < u->from ? -1 : 1;
  return 0;
}

/* First index whose (pg, from) is >= the key. */
static uint32_t fl__upmap_pos(const fl_map_t *map, uint32_t pg, uint32_t from) {
  uint32_t lo = 0, hi = map->upmap_count;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (fl__upmap_cmp(pg, from, &map->upmap[mid]) > 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

int fl_map_upmap_set(fl_map_t *map, uint32_t pg, uint32_t from, uint32_t to,
                     fl_errmsg_t *em) {
  if (pg >= map->policy.pg_count)
    return fl_errf(em, FL_ECONFIG, "upmap: pg %u is not below pg_count %u", pg,
                   map->policy.pg_count);
  const fl_map_node_t *a = fl_map_find_node(map, from), *b = fl_map_find_node(map, to);
  if (!a || !b || from == to)
    return fl_errf(em, FL_ECONFIG, "upmap: pg %u: %u -> %u needs two distinct known nodes",
                   pg, from, to);
  if (strcmp(a->dc, b->dc) != 0)
    return fl_errf(em, FL_ECONFIG, "upmap: pg %u: nodes %u and %u are in different "
                   "datacenters", pg, from, to);
  uint32_t at = fl__upmap_pos(map, pg, from);
  if (at < map->upmap_count && fl__upmap_cmp(pg, from, &map->upmap[at]) == 0) {
    map->upmap[at].to = to;
    return 0;
  }
  if (fl__grow((void **)&map->upmap, &map->upmap_cap, map->upmap_count + 1,
               sizeof *map->upmap))
    return fl_errf(em, -ENOMEM, "upmap: out of memory");
  memmove(&map->upmap[at + 1], &map->upmap[at],
          (map->upmap_count - at) * sizeof *map->upmap);
  map->upmap[at] = (fl_map_upmap_t){.pg = pg, .from = from, .to = to};
  map->upmap_count++;
  return 0;
}

void fl_map_upmap_clear(fl_map_t *map) { map->upmap_count = 0; }

uint32_t fl_map_upmap_of(const fl_map_t *map, uint32_t pg, const fl_map_upmap_t **out) {
  uint32_t at = fl__upmap_pos(map, pg, 0), end = at;
  while (end < map->upmap_count && map->upmap[end].pg == pg)
    end++;
  *out = end > at ? &map->upmap[at] : NULL;
  return end - at;
}

int fl_map_validate(const fl_map_t *map, fl_errmsg_t *em) {
  int rc = fl_map_validate_policy(&map->policy, em);
  if (rc)
    return rc;
  uint32_t usable[FL_MAP_DC_MAX] = {0};
  for (uint32_t i = 0; i < map->node_count; i++) {
    const fl_map_node_t *n = &map->nodes[i];
    if (i > 0 && map->nodes[i - 1].id >= n->id)
      return fl_errf(em, FL_ECONFIG, "node id %u appears twice or out of order", n->id);
    if ((rc = fl__node_check(map, n, em)) != 0)
      return rc;
    if (fl_map_node_usable(n))
      usable[fl_map_dc_index(map, n->dc)]++;
  }
  for (uint32_t i = 0; i < map->upmap_count; i++) {
    const fl_map_upmap_t *u = &map->upmap[i];
    if (i > 0 && fl__upmap_cmp(u->pg, u->from, &map->upmap[i - 1]) <= 0)
      return fl_errf(em, FL_ECONFIG, "upmap: pair (pg %u, from %u) repeated or out of order",
                     u->pg, u->from);
    const fl_map_node_t *a = fl_map_find_node(map, u->from), *b = fl_map_find_node(map, u->to);
    if (u->pg >= map->policy.pg_count || !a || !b || u->from == u->to ||
        strcmp(a->dc, b->dc) != 0)
      return fl_errf(em, FL_ECONFIG, "upmap: pair pg %u: %u -> %u is invalid", u->pg,
                     u->from, u->to);
  }
  uint32_t width = map->policy.k + map->policy.m;
  for (uint32_t d = 0; d < map->policy.dc_count; d++)
    if (usable[d] < width)
      return fl_errf(em, FL_EUNAVAIL, "datacenter '%s' has %u usable nodes (in, weight > 0) "
                     "but k+m = %u+%u needs %u: add nodes or lower k/m", map->policy.dcs[d],
                     usable[d], map->policy.k, map->policy.m, width);
  return 0;
}

int fl_map_placement_differs(const fl_map_t *a, const fl_map_t *b) {
  const fl_map_policy_t *p = &a->policy, *q = &b->policy;
  if (p->k != q->k || p->m != q->m || p->pg_count != q->pg_count || p->dc_count != q->dc_count)
    return 1;
  for (uint32_t i = 0; i < p->dc_count && i < FL_MAP_DC_MAX; i++)
    if (strcmp(p->dcs[i], q->dcs[i]) != 0)
      return 1;
  if (a->node_count != b->node_count || a->upmap_count != b->upmap_count)
    return 1;
  for (uint32_t i = 0; i < a->node_count; i++) {
    const fl_map_node_t *x = &a->nodes[i], *y = &b->nodes[i];
    if (x->id != y->id || x->weight != y->weight ||
        (x->state & FL_NODE_IN) != (y->state & FL_NODE_IN) || strcmp(x->dc, y->dc) != 0 ||
        strcmp(x->rack, y->rack) != 0)
      return 1;
  }
  for (uint32_t i = 0; i < a->upmap_count; i++)
    if (a->upmap[i].pg != b->upmap[i].pg || a->upmap[i].from != b->upmap[i].from ||
        a->upmap[i].to != b->upmap[i].to)
      return 1;
  return 0;
}
