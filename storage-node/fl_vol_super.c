/* Two-slot volume superblock: pure encode/decode/choose plus the two I/O
 * calls that read both slots and write the next generation's slot. */
#include "fl_vol_super.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fl_crc32c.h"
#include "fl_vol_le.h"

void fl_vol_super_encode(uint8_t buf[FL_VOL_SB_BYTES], const fl_vol_super_t *sb) {
  memset(buf, 0, FL_VOL_SB_BYTES);
  fl__vol_put32(buf + 0, FL_VOL_SB_MAGIC);
  fl__vol_put16(buf + 4, FL_VOL_SB_VERSION);
  fl__vol_put16(buf + 6, sb->state);
  fl__vol_put32(buf + 8, sb->volume_id);
  fl__vol_put64(buf + 16, sb->generation);
  fl__vol_put64(buf + 24, sb->created_ns);
  fl__vol_put64(buf + 32, sb->checkpoint);
  fl__vol_put64(buf + 40, sb->checkpoint_seq);
  fl__vol_put32(buf + 60, fl_crc32c(buf, 60));
}

int fl_vol_super_decode(const uint8_t buf[FL_VOL_SB_BYTES], fl_vol_super_t *out,
                        fl_errmsg_t *em) {
  uint32_t magic = fl__vol_get32(buf);
  if (magic != FL_VOL_SB_MAGIC)
    return fl_errf(em, FL_ECORRUPT, "bad superblock magic 0x%08x", magic);
  uint32_t crc = fl_crc32c(buf, 60), want = fl__vol_get32(buf + 60);
  if (crc != want)
    return fl_errf(em, FL_ECORRUPT, "superblock CRC 0x%08x, stored 0x%08x", crc, want);
  uint16_t ver = fl__vol_get16(buf + 4);
  if (ver != FL_VOL_SB_VERSION)
    return fl_errf(em, FL_EVERSION, "superblock version %u, this build reads %u", ver,
                   FL_VOL_SB_VERSION);
  for (unsigned i = 12; i < 60; i = (i == 15 ? 48 : i + 1))
    if (buf[i] != 0)
      return fl_errf(em, FL_ECORRUPT, "superblock reserved byte %u is 0x%02x", i, buf[i]);
  fl_vol_super_t sb;
  sb.state = fl__vol_get16(buf + 6);
  sb.volume_id = fl__vol_get32(buf + 8);
  sb.generation = fl__vol_get64(buf + 16);
  sb.created_ns = fl__vol_get64(buf + 24);
  sb.checkpoint = fl__vol_get64(buf + 32);
  sb.checkpoint_seq = fl__vol_get64(buf + 40);
  if (sb.state != FL_VOL_STATE_ACTIVE && sb.state != FL_VOL_STATE_SEALED)
    return fl_errf(em, FL_ECORRUPT, "superblock state %u unknown", sb.state);
  if (sb.checkpoint < FL_VOL_DATA_START || sb.checkpoint % 4096)
    return fl_errf(em, FL_ECORRUPT, "superblock checkpoint %llu invalid",
                   (unsigned long long)sb.checkpoint);
  *out = sb;
  return 0;
}

int fl_vol_super_choose(const uint8_t a[FL_VOL_SB_BYTES], const uint8_t b[FL_VOL_SB_BYTES],
                        fl_vol_super_t *out, fl_errmsg_t *em) {
  fl_vol_super_t sa, sb;
  fl_errmsg_t ea = {{0}}, eb = {{0}};
  int ra = fl_vol_super_decode(a, &sa, &ea);
  int rb = fl_vol_super_decode(b, &sb, &eb);
  if (ra && rb) {
    int code = (ra == FL_EVERSION || rb == FL_EVERSION) ? FL_EVERSION : FL_ECORRUPT;
    return fl_errf(em, code, "no valid superblock (slot 0: %s; slot 1: %s)", ea.msg, eb.msg);
  }
  if (!ra && (rb || sa.generation >= sb.generation)) {
    *out = sa;
    return 0;
  }
  *out = sb;
  return 1;
}

int fl_vol_super_read(const fl_vol_io_t *io, int fd, fl_vol_super_t *out, fl_errmsg_t *em) {
  uint8_t *buf = NULL;
  int rc = posix_memalign((void **)&buf, 4096, 2 * FL_VOL_SB_SLOT);
  if (rc) {
    buf = NULL;
    rc = fl_errf(em, -rc, "allocating superblock buffer");
    goto fail;
  }
  ssize_t n = io->pread(io->ctx, fd, buf, 2 * FL_VOL_SB_SLOT, 0);
  if (n < 0) {
    rc = fl_errf(em, (int)n, "reading superblock");
    goto fail;
  }
  if ((size_t)n < 2 * FL_VOL_SB_SLOT) {
    rc = fl_errf(em, FL_ETRUNC, "volume file has %zd bytes, shorter than its superblock", n);
    goto fail;
  }
  rc = fl_vol_super_choose(buf, buf + FL_VOL_SB_SLOT, out, em);
  if (rc > 0)
    rc = 0;
fail:
  free(buf);
  return rc;
}

int fl_vol_super_write(const fl_vol_io_t *io, int fd, const fl_vol_super_t *sb, uint8_t *buf,
                       fl_errmsg_t *em) {
  memset(buf, 0, FL_VOL_SB_SLOT);
  fl_vol_super_encode(buf, sb);
  uint64_t off = (sb->generation % 2) * FL_VOL_SB_SLOT;
  ssize_t n = io->pwrite(io->ctx, fd, buf, FL_VOL_SB_SLOT, off);
  if (n < 0)
    return fl_errf(em, n == -ENOSPC ? FL_ENOSPC : (int)n, "writing superblock slot %llu",
                   (unsigned long long)(sb->generation % 2));
  if ((size_t)n != FL_VOL_SB_SLOT)
    return fl_errf(em, -EIO, "short superblock write (%zd bytes)", n);
  int rc = io->fdatasync(io->ctx, fd);
  if (rc)
    return fl_errf(em, rc == -ENOSPC ? FL_ENOSPC : rc, "syncing superblock");
  return 0;
}
