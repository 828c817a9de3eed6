/* Cluster map <-> bytes, following the offset table in fl_map_codec.h. The
 * decoder checks lengths before reading and counts before allocating, then
 * rebuilds the map through fl_map_add_node / fl_map_upmap_set so every
 * field passes the same checks as a map built in memory. */
#include "fl_map_codec.h"

#include <string.h>

#include "fl_crc32c.h"

#define FL__HDR 48
#define FL__NODE 140
#define FL__PAIR 12

static void fl__put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t fl__get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t fl_map_encoded_size(const fl_map_t *map) {
  return FL__HDR + (size_t)map->policy.dc_count * FL_MAP_NAME_MAX + 4 +
         (size_t)map->node_count * FL__NODE + 4 + (size_t)map->upmap_count * FL__PAIR + 4;
}

/* Copies a string field NUL-padded: canonical bytes whatever followed the
 * NUL in memory. */
static void fl__put_str(uint8_t *p, const char *s, size_t cap) {
  size_t n = strnlen(s, cap - 1);
  memcpy(p, s, n);
  memset(p + n, 0, cap - n);
}

int fl_map_encode(const fl_map_t *map, uint8_t *buf, size_t cap, size_t *len,
                  fl_errmsg_t *em) {
  size_t need = fl_map_encoded_size(map);
  if (map->node_count > FL_MAP_CODEC_MAX_NODES || map->upmap_count > FL_MAP_CODEC_MAX_UPMAP ||
      need > UINT32_MAX || map->policy.dc_count > FL_MAP_DC_MAX)
    return fl_errf(em, FL_ETOOBIG, "map encode: %u nodes, %u pairs exceed the format",
                   map->node_count, map->upmap_count);
  if (cap < need)
    return fl_errf(em, FL_ETOOBIG, "map encode: needs %zu bytes, buffer has %zu", need, cap);
  const fl_map_policy_t *po = &map->policy;
  uint8_t *p = buf;
  memcpy(p, "FLMP", 4);
  p[4] = FL_MAP_CODEC_VERSION;
  p[5] = 0;
  p[6] = p[7] = 0;
  fl__put32(p + 8, (uint32_t)need);
  fl__put32(p + 12, (uint32_t)map->epoch);
  fl__put32(p + 16, (uint32_t)(map->epoch >> 32));
  const uint32_t pol[7] = {po->k, po->m, po->pg_count, po->small_threshold, po->min_write,
                           po->repl_mode, po->dc_count};
  for (int i = 0; i < 7; i++)
    fl__put32(p + 20 + 4 * i, pol[i]);
  p += FL__HDR;
  for (uint32_t d = 0; d < po->dc_count; d++, p += FL_MAP_NAME_MAX)
    fl__put_str(p, po->dcs[d], FL_MAP_NAME_MAX);
  fl__put32(p, map->node_count);
  p += 4;
  for (uint32_t i = 0; i < map->node_count; i++, p += FL__NODE) {
    const fl_map_node_t *n = &map->nodes[i];
    fl__put32(p, n->id);
    fl__put32(p + 4, n->weight);
    fl__put32(p + 8, n->state);
    fl__put_str(p + 12, n->addr, FL_MAP_ADDR_MAX);
    fl__put_str(p + 12 + FL_MAP_ADDR_MAX, n->dc, FL_MAP_NAME_MAX);
    fl__put_str(p + 12 + FL_MAP_ADDR_MAX + FL_MAP_NAME_MAX, n->rack, FL_MAP_NAME_MAX);
  }
  fl__put32(p, map->upmap_count);
  p += 4;
  for (uint32_t i = 0; i < map->upmap_count; i++, p += FL__PAIR) {
    fl__put32(p, map->upmap[i].pg);
    fl__put32(p + 4, map->upmap[i].from);
    fl__put32(p + 8, map->upmap[i].to);
  }
  fl__put32(p, fl_crc32c(buf, need - 4));
  *len = need;
  return 0;
}

/* A NUL-padded string field: a NUL inside, only zeros after it. */
static int fl__get_str(const uint8_t *p, size_t cap, char *out) {
  size_t n = strnlen((const char *)p, cap);
  if (n == cap)
    return -1;
  for (size_t i = n; i < cap; i++)
    if (p[i])
      return -1;
  memcpy(out, p, cap);
  return 0;
}

/* Reads the count at *off and checks it against its bound before anything
 * is sized from it. */
static int fl__get_count(const uint8_t *buf, size_t *off, uint32_t max, const char *what,
                         uint32_t *count, fl_errmsg_t *em) {
  *count = fl__get32(buf + *off);
  *off += 4;
  if (*count > max)
    return fl_errf(em, FL_ETOOBIG, "map decode: %u %s, at most %u", *count, what, max);
  return 0;
}

int fl_map_decode(const uint8_t *buf, size_t len, fl_map_t *map, fl_errmsg_t *em) {
  int rc;
  memset(map, 0, sizeof *map);
  if (len < FL__HDR + 12)
    return fl_errf(em, FL_ETRUNC, "map decode: %zu bytes, shorter than the %d-byte minimum",
                   len, FL__HDR + 12);
  if (memcmp(buf, "FLMP", 4) != 0)
    return fl_errf(em, FL_ECORRUPT, "map decode: bad magic (not a cluster map)");
  uint32_t version = (uint32_t)buf[4] | (uint32_t)buf[5] << 8;
  if (version != FL_MAP_CODEC_VERSION)
    return fl_errf(em, FL_EVERSION, "map decode: version %u, this build reads %d", version,
                   FL_MAP_CODEC_VERSION);
  if (buf[6] || buf[7])
    return fl_errf(em, FL_ECORRUPT, "map decode: unknown flags 0x%02x%02x", buf[7], buf[6]);
  uint32_t total = fl__get32(buf + 8);
  if (total > len)
    return fl_errf(em, FL_ETRUNC, "map decode: header says %u bytes, only %zu present", total,
                   len);
  if (total < len)
    return fl_errf(em, FL_ECORRUPT, "map decode: %zu trailing bytes after the map",
                   len - total);
  uint32_t crc = fl__get32(buf + len - 4);
  if (crc != fl_crc32c(buf, len - 4))
    return fl_errf(em, FL_ECORRUPT, "map decode: CRC mismatch (stored %08x, computed %08x)",
                   crc, fl_crc32c(buf, len - 4));
  fl_map_policy_t po;
  memset(&po, 0, sizeof po);
  uint32_t pol[7];
  for (int i = 0; i < 7; i++)
    pol[i] = fl__get32(buf + 20 + 4 * i);
  po.k = pol[0];
  po.m = pol[1];
  po.pg_count = pol[2];
  po.small_threshold = pol[3];
  po.min_write = pol[4];
  po.repl_mode = pol[5];
  po.dc_count = pol[6];
  size_t end = len - 4, off = FL__HDR;
  if (po.dc_count > FL_MAP_DC_MAX)
    return fl_errf(em, FL_ECORRUPT, "map decode: %u datacenters, at most %d", po.dc_count,
                   FL_MAP_DC_MAX);
  if (end - off < (size_t)po.dc_count * FL_MAP_NAME_MAX + 4)
    return fl_errf(em, FL_ETRUNC, "map decode: cut inside the datacenter names");
  for (uint32_t d = 0; d < po.dc_count; d++, off += FL_MAP_NAME_MAX)
    if (fl__get_str(buf + off, FL_MAP_NAME_MAX, po.dcs[d]))
      return fl_errf(em, FL_ECORRUPT, "map decode: datacenter name %u is not NUL-padded", d);
  if ((rc = fl_map_init(map, &po, em)) != 0)
    return fl_errprefix(em, rc, "map decode");
  map->epoch = (uint64_t)fl__get32(buf + 12) | (uint64_t)fl__get32(buf + 16) << 32;
  uint32_t nodes, pairs;
  if ((rc = fl__get_count(buf, &off, FL_MAP_CODEC_MAX_NODES, "nodes", &nodes, em)) != 0)
    goto fail;
  if ((end - off) / FL__NODE < nodes || end - off - (size_t)nodes * FL__NODE < 4) {
    rc = fl_errf(em, FL_ETRUNC, "map decode: %u nodes do not fit in %zu bytes", nodes,
                 end - off);
    goto fail;
  }
  for (uint32_t i = 0; i < nodes; i++, off += FL__NODE) {
    fl_map_node_t n;
    memset(&n, 0, sizeof n);
    const uint8_t *p = buf + off;
    n.id = fl__get32(p);
    n.weight = fl__get32(p + 4);
    n.state = fl__get32(p + 8);
    if (fl__get_str(p + 12, FL_MAP_ADDR_MAX, n.addr) ||
        fl__get_str(p + 12 + FL_MAP_ADDR_MAX, FL_MAP_NAME_MAX, n.dc) ||
        fl__get_str(p + 12 + FL_MAP_ADDR_MAX + FL_MAP_NAME_MAX, FL_MAP_NAME_MAX, n.rack)) {
      rc = fl_errf(em, FL_ECORRUPT, "map decode: node %u has a string not NUL-padded", i);
      goto fail;
    }
    if (i > 0 && map->nodes[i - 1].id >= n.id) {
      rc = fl_errf(em, FL_ECORRUPT, "map decode: node ids out of order at node %u (id %u)", i,
                   n.id);
      goto fail;
    }
    if ((rc = fl_map_add_node(map, &n, em)) != 0) {
      fl_errprefix(em, rc, "map decode");
      goto fail;
    }
  }
  if ((rc = fl__get_count(buf, &off, FL_MAP_CODEC_MAX_UPMAP, "upmap pairs", &pairs, em)) != 0)
    goto fail;
  if ((end - off) / FL__PAIR != pairs || (end - off) % FL__PAIR) {
    rc = fl_errf(em, FL_ECORRUPT, "map decode: %u upmap pairs but %zu bytes remain", pairs,
                 end - off);
    goto fail;
  }
  for (uint32_t i = 0; i < pairs; i++, off += FL__PAIR) {
    uint32_t pg = fl__get32(buf + off), from = fl__get32(buf + off + 4),
             to = fl__get32(buf + off + 8);
    if (i > 0 && (map->upmap[i - 1].pg > pg ||
                  (map->upmap[i - 1].pg == pg && map->upmap[i - 1].from >= from))) {
      rc = fl_errf(em, FL_ECORRUPT, "map decode: upmap pair %u out of order", i);
      goto fail;
    }
    if ((rc = fl_map_upmap_set(map, pg, from, to, em)) != 0) {
      fl_errprefix(em, rc, "map decode");
      goto fail;
    }
  }
  return 0;
fail:
  fl_map_free(map);
  return rc;
}
