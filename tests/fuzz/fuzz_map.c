/* Fuzz target for the cluster map decoder. Each input is decoded as is, and
 * again with its trailing CRC rewritten so mutations reach the fields behind
 * it. A decoded map must re-encode to the same bytes (the encoding is
 * canonical), and placing a few of its PGs must either fail cleanly or give
 * distinct usable nodes of the datacenter. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fl_crc32c.h"
#include "fl_map.h"
#include "fl_map_codec.h"
#include "fl_place.h"

static void check_one(const uint8_t *data, size_t size) {
  fl_map_t map;
  fl_errmsg_t em = {{0}};
  if (fl_map_decode(data, size, &map, &em) != 0)
    return;
  uint8_t *again = malloc(size);
  size_t len = 0;
  if (!again || fl_map_encode(&map, again, size, &len, &em) != 0 || len != size ||
      memcmp(again, data, size) != 0)
    abort();
  free(again);
  fl_place_t *pl;
  if (fl_place_new(&map, &pl, &em) == 0) {
    uint32_t w = map.policy.k + map.policy.m, out[FL_MAP_WIDTH_MAX];
    for (uint32_t dc = 0; dc < map.policy.dc_count; dc++)
      for (uint32_t pg = 0; pg < map.policy.pg_count && pg < 4; pg++) {
        if (fl_place_pg(pl, pg, dc, 0, out, &em) != 0)
          continue;
        for (uint32_t i = 0; i < w; i++) {
          const fl_map_node_t *n = fl_map_find_node(&map, out[i]);
          if (!n || !fl_map_node_usable(n) || strcmp(n->dc, map.policy.dcs[dc]) != 0)
            abort();
          for (uint32_t j = 0; j < i; j++)
            if (out[i] == out[j])
              abort();
        }
      }
    fl_place_free(pl);
  }
  fl_map_free(&map);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_one(data, size);
  if (size >= 4) {
    uint8_t *copy = malloc(size);
    if (!copy)
      return 0;
    memcpy(copy, data, size);
    uint32_t c = fl_crc32c(copy, size - 4);
    for (int i = 0; i < 4; i++)
      copy[size - 4 + i] = (uint8_t)(c >> (8 * i));
    check_one(copy, size);
    free(copy);
  }
  return 0;
}
