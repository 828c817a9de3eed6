/* Fuzz target for the client's static cluster-map parser
 * ("static:K+M:ADDR,..."). A parsed map must validate, hold at least k+m
 * nodes with ids 1..n in order, and place PG 0 on distinct nodes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fl_cmap.h"
#include "fl_place.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  fl_map_t map;
  fl_errmsg_t em = {{0}};
  if (fl_cmap_parse_static(s, &map, &em) == 0) {
    if (fl_map_validate(&map, NULL) != 0 || map.node_count < map.policy.k + map.policy.m)
      abort();
    for (uint32_t i = 0; i < map.node_count; i++)
      if (map.nodes[i].id != i + 1)
        abort();
    uint32_t out[FL_MAP_WIDTH_MAX];
    if (fl_place_pg_nodes(&map, 0, "dc1", out, NULL) != 0)
      abort();
    for (uint32_t i = 0; i < map.policy.k + map.policy.m; i++)
      for (uint32_t j = 0; j < i; j++)
        if (out[i] == out[j])
          abort();
    fl_map_free(&map);
  } else if (!em.msg[0]) {
    abort(); /* every refusal says why */
  }
  free(s);
  return 0;
}
