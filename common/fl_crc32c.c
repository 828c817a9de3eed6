/* ISA-L's crc32_iscsi takes and returns the un-inverted register and an int
 * length; this wrapper adds the standard pre/post inversion and chunking.
 * Combining works in GF(2) modulo the (bit-reflected) Castagnoli
 * polynomial: appending len bytes to a message multiplies its CRC register
 * by x^(8 len), and the CRC of the appended bytes adds on (XOR), the pre
 * and post inversions cancelling out. x^(8 len) comes from a table of
 * x^(2^i) by square-and-multiply, so the cost grows with log(len). */
#include "fl_crc32c.h"

#include <isa-l/crc.h>
#include <limits.h>
#include <pthread.h>

/* Castagnoli polynomial, bit-reflected: bit 31 is x^0. */
#define FL__CRC32C_POLY 0x82F63B78u

uint32_t fl_crc32c_extend(uint32_t crc, const void *buf, size_t len) {
  uint32_t reg = ~crc;
  const unsigned char *p = buf;
  while (len > 0) {
    size_t chunk = len > (size_t)INT_MAX ? (size_t)1 << 30 : len;
    reg = crc32_iscsi((unsigned char *)p, (int)chunk, reg);
    p += chunk;
    len -= chunk;
  }
  return ~reg;
}

uint32_t fl_crc32c(const void *buf, size_t len) { return fl_crc32c_extend(0, buf, len); }

/* a * b modulo the polynomial, both in reflected order. */
static uint32_t fl__crc32c_mulmod(uint32_t a, uint32_t b) {
  uint32_t product = 0;
  for (uint32_t bit = 1u << 31; bit; bit >>= 1) {
    if (a & bit)
      product ^= b;
    b = (b & 1) ? (b >> 1) ^ FL__CRC32C_POLY : b >> 1; /* b *= x */
  }
  return product;
}

/* x^(2^i) modulo the polynomial for i = 0..63. */
static uint32_t fl__crc32c_pow2[64];
static pthread_once_t fl__crc32c_pow2_once = PTHREAD_ONCE_INIT;

static void fl__crc32c_pow2_init(void) {
  uint32_t p = 1u << 30; /* x^1 */
  for (int i = 0; i < 64; i++) {
    fl__crc32c_pow2[i] = p;
    p = fl__crc32c_mulmod(p, p);
  }
}

/* crc * x^(8 len) modulo the polynomial: the register after len more bytes
 * of zeros, short of their own contribution. */
static uint32_t fl__crc32c_shift(uint32_t crc, size_t len) {
  pthread_once(&fl__crc32c_pow2_once, fl__crc32c_pow2_init);
  uint64_t bits = (uint64_t)len;
  for (int i = 3; bits && i < 64; i++, bits >>= 1) /* 8 len = len << 3 */
    if (bits & 1)
      crc = fl__crc32c_mulmod(fl__crc32c_pow2[i], crc);
  return crc;
}

uint32_t fl_crc32c_combine(uint32_t crc_a, uint32_t crc_b, size_t len_b) {
  return fl__crc32c_shift(crc_a, len_b) ^ crc_b;
}

uint32_t fl_crc32c_suffix(uint32_t crc_ab, uint32_t crc_a, size_t len_b) {
  return fl__crc32c_shift(crc_a, len_b) ^ crc_ab;
}
