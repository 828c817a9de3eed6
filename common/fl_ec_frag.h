/* The fragment header: a fixed 48-byte prefix that lets any holder verify
 * one fragment on its own (magic, version, geometry, index, object size,
 * stripe id, CRC32C of header and payload). Pure codec: no I/O, no codec. */
#ifndef FL_EC_FRAG_H
#define FL_EC_FRAG_H

#include <stddef.h>
#include <stdint.h>

#include "fl_err.h"

/* On-wire / on-disk layout, all integers little-endian:
 *
 * OFFSET SIZE DESCRIPTION
 *      0    4 magic "FLEC" (0x46 0x4C 0x45 0x43)
 *      4    1 format version, currently 1
 *      5    1 layout: 1 = EC (k data + m parity), 2 = REPLICA (full copy)
 *      6    1 flags: bit 0 = payload encrypted; other bits must be 0
 *      7    1 codec: liberasurecode backend id for EC, 0 for REPLICA
 *      8    1 k (1..32)
 *      9    1 m (0..31, k+m <= 32)
 *     10    1 fragment index: 0..k+m-1 for EC, 0..m for REPLICA
 *     11    1 reserved, 0
 *     12    4 key id of the encryption key (0 when not encrypted)
 *     16    8 object size in bytes (before erasure coding)
 *     24    8 stripe id: equal in every fragment of one encode
 *     32    8 payload length in bytes (what follows this header)
 *     40    4 CRC32C of the payload
 *     44    4 CRC32C of bytes 0..43
 */
#define FL_EC_FRAG_HDR_SIZE 48
#define FL_EC_FRAG_MAGIC 0x43454C46u /* "FLEC" read little-endian */
#define FL_EC_FRAG_VERSION 1
#define FL_EC_MAX_FRAGS 32
/* liberasurecode sizes are int internally: objects stay well below 2 GiB. */
#define FL_EC_MAX_OBJECT ((uint64_t)1 << 30)

enum fl_ec_layout { FL_EC_LAYOUT_EC = 1, FL_EC_LAYOUT_REPLICA = 2 };
enum fl_ec_flag { FL_EC_FLAG_ENCRYPTED = 1u << 0 };
#define FL_EC_FLAGS_KNOWN ((unsigned)FL_EC_FLAG_ENCRYPTED)

typedef struct fl_ec_frag_hdr {
  uint8_t version;      /* FL_EC_FRAG_VERSION */
  uint8_t layout;       /* enum fl_ec_layout */
  uint8_t flags;        /* enum fl_ec_flag bits */
  uint8_t codec;        /* liberasurecode ec_backend_id_t, 0 for replicas */
  uint8_t k, m;         /* geometry of the stripe */
  uint8_t index;        /* which fragment this is */
  uint32_t key_id;      /* encryption key id, 0 when clear */
  uint64_t object_size; /* bytes of the original object */
  uint64_t stripe_id;   /* ties the fragments of one encode together */
  uint64_t payload_len; /* bytes after the header */
  uint32_t payload_crc; /* CRC32C of those bytes */
} fl_ec_frag_hdr_t;

/* Writes h into out[FL_EC_FRAG_HDR_SIZE] with its header CRC. h is read
 * only; h->version is ignored (the current version is written). */
void fl_ec_frag_hdr_encode(const fl_ec_frag_hdr_t *h, uint8_t out[FL_EC_FRAG_HDR_SIZE]);

/* Parses and checks the header at buf[0..len): FL_ETRUNC if len is below
 * the header size, FL_ECORRUPT for a wrong magic, header CRC, layout, flags,
 * geometry, index or a size out of bounds, FL_EVERSION for an unknown
 * version. Does not look at the payload. buf is borrowed for the call;
 * *out is written only on success. */
int fl_ec_frag_hdr_parse(const void *buf, size_t len, fl_ec_frag_hdr_t *out, fl_errmsg_t *em);

/* The header as above and the length: FL_ETRUNC if the payload is shorter
 * than the header says, FL_ECORRUPT if longer; the payload's CRC is not
 * computed. On success *out (may be NULL) holds the header. */
int fl_ec_frag_check_len(const void *buf, size_t len, fl_ec_frag_hdr_t *out, fl_errmsg_t *em);

/* Checks a whole fragment (header + payload, contiguous, exactly len bytes):
 * the header as above, then FL_ETRUNC if the payload is shorter than its
 * header says, FL_ECORRUPT if longer or if its CRC32C differs. On success
 * *out (may be NULL) holds the header and the payload is buf + 48. */
int fl_ec_frag_verify(const void *buf, size_t len, fl_ec_frag_hdr_t *out, fl_errmsg_t *em);

/* fl_ec_frag_verify for a fragment whose CRC32C over all len bytes is
 * known to be right: a frame's payload CRC checked as the bytes arrived,
 * or a volume record's checked as they were read. The payload's CRC then
 * follows from whole_crc and the header's, with the same result as
 * fl_ec_frag_verify and without a second pass over the payload. */
int fl_ec_frag_verify_known(const void *buf, size_t len, uint32_t whole_crc,
                            fl_ec_frag_hdr_t *out, fl_errmsg_t *em);

/* The CRC32C of a whole fragment (header + payload, len bytes) from its
 * header alone, right when the header's payload CRC is (one the encoder or
 * reconstruction just computed): what a frame carrying it declares. */
uint32_t fl_ec_frag_whole_crc(const void *buf, size_t len);

#endif
