/* Unit tests for the cluster map codec: round trip, canonical bytes, and a
 * named error for empty, truncated, garbage, corrupted, oversized and
 * out-of-order input. FL_WRITE_CORPUS=dir also writes fuzz seeds there. */
#include <stdio.h>

#include "fl_crc32c.h"
#include "fl_map.h"
#include "fl_map_codec.h"
#include "fl_test.h"

static void mkmap(fl_map_t *map, uint32_t racks, uint32_t per, uint32_t dcs) {
  fl_map_policy_t pol = {.k = 2, .m = 1, .pg_count = 32, .small_threshold = 65536,
                         .min_write = 3, .repl_mode = FL_REPL_SYNC, .dc_count = dcs};
  for (uint32_t d = 0; d < dcs; d++)
    snprintf(pol.dcs[d], sizeof pol.dcs[d], "dc-%u", d);
  FL_CHECK_OK(fl_map_init(map, &pol, NULL));
  map->epoch = UINT64_C(0x0123456789abcdef);
  uint32_t id = 10;
  for (uint32_t d = 0; d < dcs; d++)
    for (uint32_t r = 0; r < racks; r++)
      for (uint32_t i = 0; i < per; i++) {
        fl_map_node_t n = {.id = id, .weight = 100 + id, .state = (id % 3) & 3};
        snprintf(n.addr, sizeof n.addr, "node%u.example:7000", id);
        snprintf(n.dc, sizeof n.dc, "dc-%u", d);
        snprintf(n.rack, sizeof n.rack, "r%u", r);
        FL_CHECK_OK(fl_map_add_node(map, &n, NULL));
        id += 3;
      }
}

static uint8_t *encode(const fl_map_t *map, size_t *len) {
  size_t cap = fl_map_encoded_size(map);
  uint8_t *buf = malloc(cap);
  FL_CHECK(buf != NULL);
  FL_CHECK_OK(fl_map_encode(map, buf, cap, len, NULL));
  FL_CHECK_EQ(*len, cap);
  return buf;
}

static void write_seed(const char *name, const uint8_t *buf, size_t len) {
  const char *dir = getenv("FL_WRITE_CORPUS");
  if (!dir)
    return;
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  FL_CHECK(f != NULL);
  FL_CHECK_EQ(fwrite(buf, 1, len, f), len);
  fclose(f);
}

/* Rewrites the trailing CRC after a deliberate change. */
static void reseal(uint8_t *buf, size_t len) {
  uint32_t c = fl_crc32c(buf, len - 4);
  for (int i = 0; i < 4; i++)
    buf[len - 4 + i] = (uint8_t)(c >> (8 * i));
}

static void test_round_trip(void) {
  fl_map_t map, back;
  fl_errmsg_t em = {{0}};
  mkmap(&map, 3, 2, 2);
  FL_CHECK_OK(fl_map_upmap_set(&map, 5, 10, 13, &em));
  FL_CHECK_OK(fl_map_upmap_set(&map, 1, 16, 19, &em));
  size_t len;
  uint8_t *buf = encode(&map, &len);
  write_seed("valid-2dc", buf, len);
  FL_CHECK_OK(fl_map_decode(buf, len, &back, &em));
  FL_CHECK(back.epoch == map.epoch);
  FL_CHECK_MEM(&back.policy, &map.policy, sizeof map.policy);
  FL_CHECK_EQ(back.node_count, map.node_count);
  FL_CHECK_MEM(back.nodes, map.nodes, map.node_count * sizeof *map.nodes);
  FL_CHECK_EQ(back.upmap_count, 2);
  FL_CHECK_MEM(back.upmap, map.upmap, 2 * sizeof *map.upmap);
  size_t len2;
  uint8_t *again = encode(&back, &len2);
  FL_CHECK_EQ(len2, len);
  FL_CHECK_MEM(again, buf, len);
  /* Bytes after a string's NUL in memory do not reach the encoding. */
  map.nodes[0].addr[40] = 'x';
  free(again);
  again = encode(&map, &len2);
  FL_CHECK_MEM(again, buf, len);
  uint8_t small[8];
  FL_CHECK_ERR(fl_map_encode(&map, small, sizeof small, &len2, &em), FL_ETOOBIG);
  free(again);
  free(buf);
  fl_map_free(&back);
  fl_map_free(&map);

  mkmap(&map, 0, 0, 1);
  buf = encode(&map, &len);
  write_seed("valid-empty", buf, len);
  FL_CHECK_OK(fl_map_decode(buf, len, &back, &em));
  FL_CHECK_EQ(back.node_count, 0);
  free(buf);
  fl_map_free(&back);
  fl_map_free(&map);
}

static void test_bad_input(void) {
  fl_map_t map, back;
  fl_errmsg_t em = {{0}};
  mkmap(&map, 2, 2, 1);
  FL_CHECK_OK(fl_map_upmap_set(&map, 3, 10, 13, &em));
  size_t len;
  uint8_t *buf = encode(&map, &len);
  FL_CHECK_ERR(fl_map_decode(buf, 0, &back, &em), FL_ETRUNC);
  FL_CHECK(strstr(em.msg, "shorter") != NULL);
  /* Every cut is an error, never a crash or a partial map. */
  for (size_t cut = 1; cut < len; cut++) {
    int rc = fl_map_decode(buf, cut, &back, &em);
    FL_CHECK(rc == FL_ETRUNC || rc == FL_ECORRUPT);
    FL_CHECK_EQ(back.node_count, 0);
  }
  write_seed("truncated", buf, len - 7);
  /* Every single flipped byte is caught (by the CRC, or before it). */
  for (size_t i = 0; i < len; i++) {
    buf[i] ^= 0x5a;
    FL_CHECK(fl_map_decode(buf, len, &back, &em) != 0);
    buf[i] ^= 0x5a;
  }
  uint8_t *copy = malloc(len + 1);
  memcpy(copy, buf, len);
  copy[len] = 0;
  FL_CHECK_ERR(fl_map_decode(copy, len + 1, &back, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "trailing") != NULL);
  memcpy(copy, buf, len);
  copy[0] = 'X';
  FL_CHECK_ERR(fl_map_decode(copy, len, &back, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "magic") != NULL);
  memcpy(copy, buf, len);
  copy[4] = 2;
  FL_CHECK_ERR(fl_map_decode(copy, len, &back, &em), FL_EVERSION);
  memcpy(copy, buf, len);
  copy[len - 1] ^= 1;
  FL_CHECK_ERR(fl_map_decode(copy, len, &back, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "CRC") != NULL);
  write_seed("bad-crc", copy, len);
  /* Oversized node count, resealed so only the bound can catch it. */
  size_t nodes_off = 48 + 32;
  memcpy(copy, buf, len);
  copy[nodes_off + 3] = 0x7f;
  reseal(copy, len);
  FL_CHECK_ERR(fl_map_decode(copy, len, &back, &em), FL_ETOOBIG);
  write_seed("huge-count", copy, len);
  /* A count that does not fit the bytes. */
  memcpy(copy, buf, len);
  copy[nodes_off] = 200;
  reseal(copy, len);
  FL_CHECK_ERR(fl_map_decode(copy, len, &back, &em), FL_ETRUNC);
  /* Swapped nodes: out of order. */
  memcpy(copy, buf, len);
  memcpy(copy + nodes_off + 4, buf + nodes_off + 4 + 140, 140);
  memcpy(copy + nodes_off + 4 + 140, buf + nodes_off + 4, 140);
  reseal(copy, len);
  FL_CHECK_ERR(fl_map_decode(copy, len, &back, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "order") != NULL);
  write_seed("unordered", copy, len);
  /* Garbage after a string's NUL. */
  memcpy(copy, buf, len);
  copy[nodes_off + 4 + 12 + 60] = 'z';
  reseal(copy, len);
  FL_CHECK_ERR(fl_map_decode(copy, len, &back, &em), FL_ECORRUPT);
  /* A valid layout whose content the model refuses: k = 0. */
  memcpy(copy, buf, len);
  memset(copy + 20, 0, 4);
  reseal(copy, len);
  FL_CHECK_ERR(fl_map_decode(copy, len, &back, &em), FL_ECONFIG);
  FL_CHECK(strstr(em.msg, "map decode: policy") != NULL);
  write_seed("bad-policy", copy, len);
  /* Garbage. */
  for (size_t i = 0; i < len; i++)
    copy[i] = (uint8_t)(i * 37 + 11);
  FL_CHECK(fl_map_decode(copy, len, &back, &em) != 0);
  write_seed("garbage", copy, len);
  free(copy);
  free(buf);
  fl_map_free(&map);
}

int main(void) {
  FL_RUN(test_round_trip);
  FL_RUN(test_bad_input);
  FL_DONE();
}
