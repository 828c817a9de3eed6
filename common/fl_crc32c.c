/* ISA-L's crc32_iscsi takes and returns the un-inverted register and an int
 * length; this wrapper adds the standard pre/post inversion and chunking. */
#include "fl_crc32c.h"

#include <isa-l/crc.h>
#include <limits.h>

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
