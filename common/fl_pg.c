/* Study -> placement group. The hash is FNV-1a 64 followed by the fmix64
 * finalizer: a few lines of well-known, byte-oriented integer arithmetic, so
 * a client on any machine computes the same PG as the coordinator. */
#include "fl_pg.h"

#include <string.h>

static uint64_t fl__fnv_extend(uint64_t h, const void *data, size_t len) {
  const unsigned char *p = data;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= UINT64_C(0x100000001b3);
  }
  return h;
}

uint64_t fl_pg_fnv1a64(const void *data, size_t len) {
  return fl__fnv_extend(UINT64_C(0xcbf29ce484222325), data, len);
}

uint64_t fl_pg_hash64(const void *data, size_t len) {
  return fl_pg_mix64(fl_pg_fnv1a64(data, len));
}

uint64_t fl_pg_study_hash(const char *tenant, const char *study_uid) {
  /* Streamed so no concatenation buffer (and no length limit) is needed;
   * equal to hashing the concatenated bytes. */
  static const unsigned char zero = 0;
  uint64_t h = fl_pg_fnv1a64(tenant, strlen(tenant));
  h = fl__fnv_extend(h, &zero, 1);
  h = fl__fnv_extend(h, study_uid, strlen(study_uid));
  return fl_pg_mix64(h);
}

uint32_t fl_pg_of(const char *tenant, const char *study_uid, uint32_t pg_count) {
  if (pg_count == 0)
    pg_count = 1;
  return (uint32_t)(fl_pg_study_hash(tenant, study_uid) % pg_count);
}
