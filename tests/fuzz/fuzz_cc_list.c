/* Fuzz target for the ADMIN_LIST_NODES payload decoder (fl_cc_list_decode):
 * the first 4 bytes (little-endian) are the announced map length, the rest
 * the payload. Each input is also tried with the map's CRC rewritten, so
 * mutations reach the map fields and the status list behind it. A decoded
 * map must re-encode to the bytes it came from. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fl_cc.h"
#include "fl_crc32c.h"
#include "fl_map_codec.h"

static void check_one(const uint8_t *p, size_t n, uint64_t map_len) {
  fl_map_t map;
  fl_cc_status_t *st;
  uint32_t count;
  if (fl_cc_list_decode(p, n, map_len, &map, &st, &count, NULL) != 0)
    return;
  uint8_t *again = malloc(map_len ? map_len : 1);
  size_t len = 0;
  if (!again || fl_map_encode(&map, again, map_len, &len, NULL) != 0 || len != map_len ||
      memcmp(again, p, len) != 0)
    abort();
  for (uint32_t i = 0; i < count; i++)
    if (st[i].version[sizeof st[i].version - 1] != '\0')
      abort();
  free(again);
  free(st);
  fl_map_free(&map);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4)
    return 0;
  uint64_t map_len = (uint64_t)data[0] | (uint64_t)data[1] << 8 | (uint64_t)data[2] << 16 |
                     (uint64_t)data[3] << 24;
  const uint8_t *p = data + 4;
  size_t n = size - 4;
  check_one(p, n, map_len);
  if (map_len >= 4 && map_len <= n) {
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
      return 0;
    memcpy(copy, p, n);
    uint32_t crc = fl_crc32c(copy, (size_t)map_len - 4);
    for (int i = 0; i < 4; i++)
      copy[map_len - 4 + (uint64_t)i] = (uint8_t)(crc >> (8 * i));
    check_one(copy, n, map_len);
    free(copy);
  }
  return 0;
}
