/* Fuzz target for the volume record and superblock codecs: any bytes must
 * parse to a clean error or to a header that re-encodes to the same bytes
 * and whose payload (when present) is checked without reading past input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fl_vol_record.h"
#include "fl_vol_super.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fl_vol_rec_hdr_t h;
  fl_errmsg_t em;
  if (fl_vol_rec_parse(data, size, &h, &em) == 0) {
    size_t n = fl_vol_rec_hdr_size(&h);
    if (n > size || h.key < data || h.key + h.key_len > data + size)
      abort();
    uint8_t out[FL_VOL_HDR_MAX];
    int m = fl_vol_rec_encode(out, sizeof out, &h, &em);
    if (m != (int)n || memcmp(out, data, n) != 0)
      abort();
    if (h.payload_len <= size - n)
      (void)fl_vol_rec_verify_payload(&h, data + n, &em);
  } else if (!em.msg[0]) {
    abort(); /* every refusal says why */
  }
  if (size >= 2 * FL_VOL_SB_BYTES) {
    fl_vol_super_t sb;
    int r = fl_vol_super_choose(data, data + FL_VOL_SB_BYTES, &sb, &em);
    if (r >= 0) {
      uint8_t img[FL_VOL_SB_BYTES];
      fl_vol_super_encode(img, &sb);
      if (memcmp(img, data + r * FL_VOL_SB_BYTES, FL_VOL_SB_BYTES) != 0)
        abort();
    }
  }
  return 0;
}
