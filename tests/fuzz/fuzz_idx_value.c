/* Fuzz target for the index value decoder (and, on the same bytes, the key
 * and object-key decoders): any input either decodes into something that
 * re-encodes to the very same bytes, or is refused with an error; never a
 * crash or overread.
 * Each input is also tried "resealed" (its length field and CRC fixed up)
 * so mutations reach the structure checks behind the CRC. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fl_crc32c.h"
#include "fl_idx_key.h"

static void check_value(const uint8_t *data, size_t size) {
  fl_idx_value_t v;
  fl_errmsg_t em;
  if (fl_idx_value_decode(data, size, &v, &em) == 0) {
    uint8_t buf[FL_IDX_VALUE_MAX];
    size_t n = 0;
    /* The encoding is canonical: what decodes must re-encode identically. */
    if (fl_idx_value_encode(&v, buf, sizeof buf, &n, &em) != 0 || n != size ||
        memcmp(buf, data, n) != 0)
      abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fl_errmsg_t em;
  check_value(data, size);
  if (size >= 8 && size <= 0xffff) {
    uint8_t *copy = malloc(size); /* exact size, so ASan sees overreads */
    if (!copy)
      return 0;
    memcpy(copy, data, size);
    copy[2] = (uint8_t)size;
    copy[3] = (uint8_t)(size >> 8);
    uint32_t c = fl_crc32c(copy, size - 4);
    for (int i = 0; i < 4; i++)
      copy[size - 4 + i] = (uint8_t)(c >> (8 * i));
    check_value(copy, size);
    free(copy);
  }
  fl_idx_key_t k;
  if (fl_idx_key_decode(data, size, &k, &em) == 0) {
    uint8_t kb[FL_IDX_KEY_MAX];
    size_t n = 0;
    if (fl_idx_key_encode(&k, FL_IDX_LVL_KEY, kb, sizeof kb, &n, &em) != 0 || n != size ||
        memcmp(kb, data, n) != 0)
      abort();
  }
  if (fl_idx_objkey_decode(data, size, 1, &k, &em) == 0) {
    uint8_t kb[FL_IDX_KEY_MAX];
    size_t n = 0;
    if (fl_idx_key_encode(&k, FL_IDX_LVL_OBJECT, kb, sizeof kb, &n, &em) != 0 || n != size ||
        memcmp(kb, data, n) != 0)
      abort();
  }
  return 0;
}
