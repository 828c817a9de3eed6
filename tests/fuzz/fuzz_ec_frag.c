/* Fuzz target for the fragment header codec: any bytes given to the
 * parser and verifier must be refused with a named error or accepted; an
 * accepted header must re-encode to the same 48 bytes, and a verified
 * fragment's payload must match its CRC. Each input is also tried with its
 * CRCs fixed up, so the field checks behind the header CRC get explored. */
#include "fl_crc32c.h"
#include "fl_ec_frag.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void fl__check(const uint8_t *data, size_t size) {
  fl_errmsg_t em;
  fl_ec_frag_hdr_t h;
  em.msg[0] = '\0';
  int rc = fl_ec_frag_hdr_parse(data, size, &h, &em);
  if (rc == 0) {
    uint8_t again[FL_EC_FRAG_HDR_SIZE];
    fl_ec_frag_hdr_encode(&h, again);
    if (memcmp(again, data, sizeof again) != 0)
      abort();
  } else if (rc != FL_ETRUNC && rc != FL_ECORRUPT && rc != FL_EVERSION) {
    abort();
  } else if (em.msg[0] == '\0') {
    abort(); /* every refusal names its reason */
  }
  fl_ec_frag_hdr_t v;
  rc = fl_ec_frag_verify(data, size, &v, &em);
  if (rc == 0) {
    if (v.payload_len != size - FL_EC_FRAG_HDR_SIZE ||
        fl_crc32c(data + FL_EC_FRAG_HDR_SIZE, size - FL_EC_FRAG_HDR_SIZE) != v.payload_crc)
      abort();
  } else if (rc != FL_ETRUNC && rc != FL_ECORRUPT && rc != FL_EVERSION) {
    abort();
  }
}

static void fl__put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fl__check(data, size);
  if (size >= FL_EC_FRAG_HDR_SIZE) {
    /* Exact-size copy so ASan still sees any overread. */
    uint8_t *fixed = malloc(size);
    if (!fixed)
      return 0;
    memcpy(fixed, data, size);
    fl__put32(fixed + 40, fl_crc32c(fixed + FL_EC_FRAG_HDR_SIZE, size - FL_EC_FRAG_HDR_SIZE));
    fl__put32(fixed + 44, fl_crc32c(fixed, 44));
    fl__check(fixed, size);
    free(fixed);
  }
  return 0;
}
