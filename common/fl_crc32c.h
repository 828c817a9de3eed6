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

/* The CRC of a followed by b from the CRC of each and b's length, without
 * the bytes: fl_crc32c_combine(fl_crc32c(a, n), fl_crc32c(b, m), m) equals
 * fl_crc32c_extend(fl_crc32c(a, n), b, m). Costs a few hundred cycles
 * whatever the lengths, so a CRC already checked over a whole buffer can
 * stand in for a second pass over part of it. */
uint32_t fl_crc32c_combine(uint32_t crc_a, uint32_t crc_b, size_t len_b);

/* The converse: the CRC of b from the CRC of a followed by b and the CRC
 * of a. fl_crc32c_suffix(fl_crc32c(ab, n + m), fl_crc32c(ab, n), m) equals
 * fl_crc32c(ab + n, m). */
uint32_t fl_crc32c_suffix(uint32_t crc_ab, uint32_t crc_a, size_t len_b);

#endif
