/* Volume record codec: pure encode/parse of the self-describing header that
 * precedes every payload in a volume (puts and tombstones alike). No I/O.
 * The layout is the offset table in docs/volume-format.md, repeated here. */
#ifndef FL_VOL_RECORD_H
#define FL_VOL_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "fl_err.h"

/* Record header, little endian, at a 4 KiB-aligned file offset:
 *
 *  OFFSET SIZE DESCRIPTION
 *     0    4   magic "FLRC" (0x43524C46 read as LE u32)
 *     4    2   format version (1)
 *     6    2   flags (FL_VOL_REC_F_*); unknown bits refused
 *     8    4   volume id the record was written to
 *    12    2   fragment index
 *    14    2   key length K, 1..FL_VOL_KEY_MAX
 *    16    8   file offset of this record (self-identifying: catches stale
 *              or misdirected data and records embedded in payloads)
 *    24    8   sequence number (volume-set wide; newest wins on rebuild)
 *    32    8   payload length P, 0..FL_VOL_PAYLOAD_MAX
 *    40    4   CRC32C of the payload
 *    44    2   meta length M, 0..FL_VOL_META_MAX
 *    46    6   reserved, zero
 *    52    4   CRC32C of bytes [0,52) ++ key ++ meta
 *    56    K   object key (opaque bytes)
 *  56+K    M   meta (opaque bytes: object size, DICOM attributes, ...)
 * 56+K+M   P   payload
 *          ..  zero padding to the next multiple of FL_VOL_ALIGN
 */
#define FL_VOL_REC_MAGIC 0x43524C46u
#define FL_VOL_REC_VERSION 1
#define FL_VOL_REC_FIXED 56
#define FL_VOL_KEY_MAX 1024
#define FL_VOL_META_MAX 1024
#define FL_VOL_HDR_MAX (FL_VOL_REC_FIXED + FL_VOL_KEY_MAX + FL_VOL_META_MAX)
#define FL_VOL_PAYLOAD_MAX (256ull << 20)
#define FL_VOL_ALIGN 4096u

/* A tombstone: the key/fragment is deleted as of this record's seq. */
#define FL_VOL_REC_F_TOMBSTONE 0x0001u
/* Layout: set = erasure-coded fragment, clear = full replica. */
#define FL_VOL_REC_F_EC 0x0002u
/* Payload is encrypted by the client (key id travels in meta). */
#define FL_VOL_REC_F_ENCRYPTED 0x0004u
/* With FL_VOL_REC_F_TOMBSTONE: a drop, not a delete. This node's copy of
 * the fragment is gone (moved by repair or quarantined as corrupt); the
 * object lives on elsewhere, so listings never show it as a tombstone. */
#define FL_VOL_REC_F_DROP 0x0008u
#define FL_VOL_REC_F_KNOWN 0x000Fu

/* A decoded header. key and meta point into the parsed buffer (borrowed:
 * valid as long as that buffer). For encoding they are borrowed for the
 * duration of the call. */
typedef struct fl_vol_rec_hdr {
  uint16_t flags;
  uint16_t frag;
  uint32_t volume_id;
  uint64_t offset;      /* where the record starts in its volume */
  uint64_t seq;
  uint64_t payload_len;
  uint32_t payload_crc;
  uint16_t key_len;
  uint16_t meta_len;
  const uint8_t *key;
  const uint8_t *meta;
} fl_vol_rec_hdr_t;

/* Bytes of header for these lengths (fixed part + key + meta). */
static inline size_t fl_vol_rec_hdr_size(const fl_vol_rec_hdr_t *h) {
  return FL_VOL_REC_FIXED + (size_t)h->key_len + h->meta_len;
}

/* Bytes the record takes in the file, padding included. */
uint64_t fl_vol_rec_footprint(size_t key_len, size_t meta_len, uint64_t payload_len);

/* Checks h's lengths and flags against the format's bounds; FL_ETOOBIG or
 * FL_ECORRUPT with a message naming the field. */
int fl_vol_rec_check(const fl_vol_rec_hdr_t *h, fl_errmsg_t *em);

/* Writes h's header (fixed part, key, meta, header CRC) to buf. h->payload_crc
 * must already hold the payload's CRC. Returns the header size (> 0), or
 * FL_ETOOBIG / FL_ECORRUPT (bad field) / FL_ETRUNC (cap too small). */
int fl_vol_rec_encode(uint8_t *buf, size_t cap, const fl_vol_rec_hdr_t *h, fl_errmsg_t *em);

/* Parses and validates a header from len bytes at buf: magic, version, flags,
 * every length bound (before anything is read past the fixed part), reserved
 * bytes and the header CRC. On success fills *out (key/meta borrow buf) and
 * returns 0. Errors: FL_ETRUNC (need more bytes), FL_ECORRUPT, FL_EVERSION,
 * FL_ETOOBIG, each with a message. */
int fl_vol_rec_parse(const uint8_t *buf, size_t len, fl_vol_rec_hdr_t *out, fl_errmsg_t *em);

/* 0 when payload (h->payload_len bytes) matches h->payload_crc, else
 * FL_ECORRUPT naming the expected and actual CRC. */
int fl_vol_rec_verify_payload(const fl_vol_rec_hdr_t *h, const void *payload, fl_errmsg_t *em);

#endif
