/* CRC32C (Castagnoli), the checksum of every fragment, record and frame.
 * Backed by ISA-L crc32_iscsi; values match RFC 3720 (crc32c("123456789")
 * == 0xE3069283). */
#ifndef FL_CRC32C_H
#define FL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC of len bytes at buf. Any length, any alignment. */
uint32_t fl_crc32c(const void *buf, size_t len);

/* Continues a CRC: fl_crc32c_extend(fl_crc32c(a, n), b, m) equals the CRC of
 * a followed by b. Start from 0 for an empty prefix. */
uint32_t fl_crc32c_extend(uint32_t crc, const void *buf, size_t len);

#endif
