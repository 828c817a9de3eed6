/* Placement groups: which PG a study belongs to, from a stable 64-bit hash
 * that gives the same answer on every machine, compiler and endianness. */
#ifndef FL_PG_H
#define FL_PG_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a 64 over bytes (offset basis 0xcbf29ce484222325, prime
 * 0x100000001b3). Byte-wise, so independent of endianness and alignment. */
uint64_t fl_pg_fnv1a64(const void *data, size_t len);

/* MurmurHash3's fmix64 finalizer: a bijection on 64-bit values whose every
 * output bit depends on every input bit. FNV-1a alone mixes its last bytes
 * poorly into the low bits, which the modulo below would expose. */
static inline uint64_t fl_pg_mix64(uint64_t x) {
  x ^= x >> 33;
  x *= UINT64_C(0xff51afd7ed558ccd);
  x ^= x >> 33;
  x *= UINT64_C(0xc4ceb9fe1a85ec53);
  x ^= x >> 33;
  return x;
}

/* The PG hash: fl_pg_mix64(fl_pg_fnv1a64(data, len)). */
uint64_t fl_pg_hash64(const void *data, size_t len);

/* Hash of the bytes of tenant, one NUL, then the bytes of study_uid. Both
 * strings are borrowed for the call only and must be NUL-terminated. */
uint64_t fl_pg_study_hash(const char *tenant, const char *study_uid);

/* pg = fl_pg_study_hash(tenant, study_uid) mod pg_count. pg_count must be
 * > 0 (0 is treated as 1). pg_count is fixed for the life of a cluster:
 * changing it remaps almost every study. */
uint32_t fl_pg_of(const char *tenant, const char *study_uid, uint32_t pg_count);

#endif
