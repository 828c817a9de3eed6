/* Unit tests for fl_crc32c: RFC 3720 vectors, chaining, odd alignments. */
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

int main(void) {
  FL_RUN(test_vectors);
  FL_RUN(test_extend_and_alignment);
  FL_DONE();
}
