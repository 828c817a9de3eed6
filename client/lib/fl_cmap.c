/* Cluster map sources for the client. The static form exists so that a
 * cluster of plain nodes can be used before (or without) a coordinator; it
 * builds exactly the map a coordinator would serve for those nodes. */
#include "fl_cmap.h"

#include "fl_cc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_addr.h"
#include "fl_map_codec.h"
#include "fl_wire_conn.h"

#define FL__STATIC_PREFIX "static:"
#define FL__STATIC_MAX_NODES 1024u

int fl_cmap_is_static(const char *src) {
  return src && strncmp(src, FL__STATIC_PREFIX, strlen(FL__STATIC_PREFIX)) == 0;
}

static int fl__num(const char **p, unsigned max, unsigned *out) {
  unsigned v = 0;
  const char *s = *p;
  if (*s < '0' || *s > '9')
    return -1;
  while (*s >= '0' && *s <= '9') {
    v = v * 10 + (unsigned)(*s - '0');
    if (v > max)
      return -1;
    s++;
  }
  *p = s;
  *out = v;
  return 0;
}

int fl_cmap_parse_static(const char *spec, fl_map_t *map, fl_errmsg_t *em) {
  memset(map, 0, sizeof *map);
  if (!fl_cmap_is_static(spec))
    return fl_errf(em, FL_ECONFIG, "static map must start with '%s'", FL__STATIC_PREFIX);
  const char *p = spec + strlen(FL__STATIC_PREFIX);
  unsigned k, m;
  if (fl__num(&p, FL_MAP_WIDTH_MAX, &k) || *p != '+' || (p++, fl__num(&p, FL_MAP_WIDTH_MAX, &m)) ||
      *p != ':' || k == 0 || k + m > FL_MAP_WIDTH_MAX)
    return fl_errf(em, FL_ECONFIG,
                   "static map needs 'static:K+M:ADDR,...' with 1 <= K and K+M <= %u",
                   FL_MAP_WIDTH_MAX);
  p++;
  fl_map_policy_t pol;
  memset(&pol, 0, sizeof pol);
  pol.k = k;
  pol.m = m;
  pol.pg_count = FL_CMAP_STATIC_PG_COUNT;
  pol.small_threshold = FL_CMAP_STATIC_SMALL;
  pol.min_write = m ? k + 1 : k;
  pol.dc_count = 1;
  snprintf(pol.dcs[0], sizeof pol.dcs[0], "dc1");
  int rc = fl_map_init(map, &pol, em);
  if (rc)
    return rc;
  uint32_t id = 0;
  while (*p) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    char text[FL_MAP_ADDR_MAX];
    if (len == 0 || len >= sizeof text) {
      rc = fl_errf(em, FL_ECONFIG, "static map: node address %u is empty or too long",
                   id + 1);
      goto fail;
    }
    memcpy(text, p, len);
    text[len] = '\0';
    fl_addr_t a;
    rc = fl_addr_parse(&a, text, 0, em);
    if (rc) {
      fl_errprefix(em, rc, "static map node %u", id + 1);
      goto fail;
    }
    if (++id > FL__STATIC_MAX_NODES) {
      rc = fl_errf(em, FL_ECONFIG, "static map: more than %u nodes", FL__STATIC_MAX_NODES);
      goto fail;
    }
    fl_map_node_t n;
    memset(&n, 0, sizeof n);
    n.id = id;
    n.weight = 1;
    n.state = FL_NODE_UP | FL_NODE_IN;
    memcpy(n.addr, text, len + 1);
    snprintf(n.dc, sizeof n.dc, "dc1");
    snprintf(n.rack, sizeof n.rack, "r%u", id);
    rc = fl_map_add_node(map, &n, em);
    if (rc)
      goto fail;
    p += len;
    if (*p == ',')
      p++;
  }
  rc = fl_map_validate(map, em);
  if (rc)
    goto fail;
  return 0;
fail:
  fl_map_free(map);
  return rc;
}

int fl_cmap_fetch_coord(const char *addr, int timeout_ms, fl_map_t *map, fl_errmsg_t *em) {
  memset(map, 0, sizeof *map);
  fl_addr_t a;
  int rc = fl_addr_parse(&a, addr, 0, em);
  if (rc)
    return fl_errprefix(em, rc, "coordinator address");
  fl_wire_conn_t c;
  rc = fl_wire_conn_open(&c, a.host, a.port, timeout_ms, NULL, em);
  if (rc)
    return fl_errprefix(em, rc, "connecting to the coordinator at %s (is it running?)", addr);
  int changed = 0;
  rc = fl_cc_get_map(&c, 0, 0, map, &changed, em);
  if (rc)
    fl_errprefix(em, rc, "GET_MAP from %s", addr);
  else if (!changed)
    rc = fl_errf(em, FL_EPROTO, "the coordinator at %s sent no cluster map", addr);
  fl_wire_conn_close(&c);
  return rc;
}

int fl_cmap_load(const char *src, int timeout_ms, fl_map_t *map, fl_errmsg_t *em) {
  if (!src || !src[0])
    return fl_errf(em, FL_ECONFIG,
                   "no coordinator address: use --coord HOST:PORT or set FILMLESS_COORD");
  if (fl_cmap_is_static(src))
    return fl_cmap_parse_static(src, map, em);
  return fl_cmap_fetch_coord(src, timeout_ms, map, em);
}

unsigned fl_cmap_ask_add(uint32_t *set, unsigned *count, unsigned cap, const uint32_t *ids,
                         unsigned n) {
  unsigned left = 0;
  for (unsigned i = 0; i < n; i++) {
    unsigned j = 0;
    while (j < *count && set[j] != ids[i])
      j++;
    if (j < *count)
      continue;
    if (*count < cap)
      set[(*count)++] = ids[i];
    else
      left++;
  }
  return left;
}
