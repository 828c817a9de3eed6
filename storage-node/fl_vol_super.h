/* Volume superblock: two 4 KiB slots at the head of every volume, written
 * alternately (LMDB style); the valid slot with the higher generation wins,
 * so a torn superblock write never loses the previous one. */
#ifndef FL_VOL_SUPER_H
#define FL_VOL_SUPER_H

#include <stdint.h>

#include "fl_err.h"
#include "fl_vol_io.h"

/* Slot layout (each slot FL_VOL_SB_SLOT bytes, slot s at offset s*4096),
 * little endian; bytes after 64 are zero:
 *
 *  OFFSET SIZE DESCRIPTION
 *     0    4   magic "FLVS" (0x53564C46 read as LE u32)
 *     4    2   format version (1)
 *     6    2   state: 1 active (appendable), 2 sealed (read-only)
 *     8    4   volume id
 *    12    4   reserved, zero
 *    16    8   generation (slot written = generation % 2)
 *    24    8   created, ns since the Unix epoch
 *    32    8   checkpoint: end of verified records when written
 *    40    8   highest record seq before the checkpoint
 *    48   12   reserved, zero
 *    60    4   CRC32C of bytes [0,60)
 */
#define FL_VOL_SB_MAGIC 0x53564C46u
#define FL_VOL_SB_VERSION 1
#define FL_VOL_SB_SLOT 4096u
#define FL_VOL_SB_BYTES 64u
#define FL_VOL_DATA_START (2u * FL_VOL_SB_SLOT)

enum { FL_VOL_STATE_ACTIVE = 1, FL_VOL_STATE_SEALED = 2 };

typedef struct fl_vol_super {
  uint16_t state;
  uint32_t volume_id;
  uint64_t generation;
  uint64_t created_ns;
  uint64_t checkpoint;
  uint64_t checkpoint_seq;
} fl_vol_super_t;

/* Pure: writes the FL_VOL_SB_BYTES-byte slot image of sb to buf. */
void fl_vol_super_encode(uint8_t buf[FL_VOL_SB_BYTES], const fl_vol_super_t *sb);

/* Pure: decodes one slot image; FL_ECORRUPT / FL_EVERSION with a message. */
int fl_vol_super_decode(const uint8_t buf[FL_VOL_SB_BYTES], fl_vol_super_t *out,
                        fl_errmsg_t *em);

/* Pure: given both slot images, picks the valid one with the higher
 * generation. Returns its index (0 or 1) and fills *out, or FL_ECORRUPT if
 * neither is valid (FL_EVERSION if one has a newer format). */
int fl_vol_super_choose(const uint8_t a[FL_VOL_SB_BYTES], const uint8_t b[FL_VOL_SB_BYTES],
                        fl_vol_super_t *out, fl_errmsg_t *em);

/* I/O: reads both slots of fd and chooses. */
int fl_vol_super_read(const fl_vol_io_t *io, int fd, fl_vol_super_t *out, fl_errmsg_t *em);

/* I/O: writes sb to slot (sb->generation % 2) and fdatasyncs. buf is a
 * caller-owned, FL_VOL_SB_SLOT-byte buffer aligned for O_DIRECT (borrowed
 * for the call). */
int fl_vol_super_write(const fl_vol_io_t *io, int fd, const fl_vol_super_t *sb, uint8_t *buf,
                       fl_errmsg_t *em);

#endif
