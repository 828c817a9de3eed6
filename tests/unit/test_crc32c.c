/* Unit tests for fl_crc32c: RFC 3720 vectors, chaining, odd alignments,
 * combining CRCs of parts without their bytes. */
#include <stdlib.h>
#include <string.h>

#include "fl_crc32c.h"
#include "fl_test.h"

static void test_vectors(void) {
  FL_CHECK_EQ(fl_crc32c("123456789", 9), 0xE3069283u);
  FL_CHECK_EQ(fl_crc32c("", 0), 0u);
  unsigned char zeros[32] = {0}, ones[32], inc[32], dec[32];
  for (int i = 0; i < 32; i++) {
    ones[i] = 0xff;
    inc[i] = (unsigned char)i;
    dec[i] = (unsigned char)(31 - i);
  }
  /* RFC 3720 appendix B.4 */
  FL_CHECK_EQ(fl_crc32c(zeros, 32), 0x8A9136AAu);
  FL_CHECK_EQ(fl_crc32c(ones, 32), 0x62A8AB43u);
  FL_CHECK_EQ(fl_crc32c(inc, 32), 0x46DD794Eu);
  FL_CHECK_EQ(fl_crc32c(dec, 32), 0x113FDB5Cu);
}

static void test_extend_and_alignment(void) {
  unsigned char buf[4099];
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = (unsigned char)(i * 131u + 7u);
  uint32_t whole = fl_crc32c(buf, sizeof buf);
  for (size_t cut = 0; cut <= sizeof buf; cut += 97) {
    uint32_t c = fl_crc32c_extend(fl_crc32c(buf, cut), buf + cut, sizeof buf - cut);
    FL_CHECK_EQ(c, whole);
  }
  /* Same bytes at every alignment give the same CRC. */
  unsigned char copy[4099 + 8];
  for (int off = 0; off < 8; off++) {
    memcpy(copy + off, buf, sizeof buf);
    FL_CHECK_EQ(fl_crc32c(copy + off, sizeof buf), whole);
  }
}

/* combine and suffix against the CRC computed over the bytes, for cuts of
 * every small size and lengths whose bits reach far into the table. */
static void test_combine_and_suffix(void) {
  size_t n = (size_t)5 << 20;
  unsigned char *buf = malloc(n);
  FL_CHECK(buf != NULL);
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    buf[i] = (unsigned char)x;
  }
  size_t lens[] = {0, 1, 2, 3, 7, 8, 48, 100, 4096, 131072, 131121, 1000003, (size_t)5 << 20};
  size_t cuts[] = {0, 1, 4, 47, 48, 49, 1000};
  for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
    for (size_t ci = 0; ci < sizeof cuts / sizeof cuts[0]; ci++) {
      size_t len = lens[li], cut = cuts[ci];
      if (cut > len)
        continue;
      uint32_t whole = fl_crc32c(buf, len), a = fl_crc32c(buf, cut),
               b = fl_crc32c(buf + cut, len - cut);
      FL_CHECK_EQ(fl_crc32c_combine(a, b, len - cut), whole);
      FL_CHECK_EQ(fl_crc32c_suffix(whole, a, len - cut), b);
    }
  /* An empty prefix or suffix changes nothing. */
  FL_CHECK_EQ(fl_crc32c_combine(0, 0x12345678u, 99), 0x12345678u);
  FL_CHECK_EQ(fl_crc32c_combine(0x12345678u, 0, 0), 0x12345678u);
  /* A flipped bit anywhere changes the derived CRC. */
  uint32_t hdr = fl_crc32c(buf, 48), whole = fl_crc32c(buf, 131121);
  buf[70000] ^= 0x10;
  FL_CHECK(fl_crc32c_suffix(whole, hdr, 131121 - 48) != fl_crc32c(buf + 48, 131121 - 48));
  free(buf);
}

int main(void) {
  FL_RUN(test_vectors);
  FL_RUN(test_extend_and_alignment);
  FL_RUN(test_combine_and_suffix);
  FL_DONE();
}
