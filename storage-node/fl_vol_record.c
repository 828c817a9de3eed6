/* Pure codec for volume record headers: bounds first, CRC last, so a hostile
 * or torn header never causes an allocation or an out-of-bounds read. */
#include "fl_vol_record.h"

#include <string.h>

#include "fl_crc32c.h"
#include "fl_vol_le.h"

uint64_t fl_vol_rec_footprint(size_t key_len, size_t meta_len, uint64_t payload_len) {
  uint64_t n = FL_VOL_REC_FIXED + (uint64_t)key_len + meta_len + payload_len;
  return (n + FL_VOL_ALIGN - 1) & ~(uint64_t)(FL_VOL_ALIGN - 1);
}

int fl_vol_rec_check(const fl_vol_rec_hdr_t *h, fl_errmsg_t *em) {
  if (h->key_len == 0)
    return fl_errf(em, FL_ECORRUPT, "record key is empty");
  if (h->key_len > FL_VOL_KEY_MAX)
    return fl_errf(em, FL_ETOOBIG, "record key length %u exceeds %u", h->key_len,
                   FL_VOL_KEY_MAX);
  if (h->meta_len > FL_VOL_META_MAX)
    return fl_errf(em, FL_ETOOBIG, "record meta length %u exceeds %u", h->meta_len,
                   FL_VOL_META_MAX);
  if (h->payload_len > FL_VOL_PAYLOAD_MAX)
    return fl_errf(em, FL_ETOOBIG, "record payload length %llu exceeds %llu",
                   (unsigned long long)h->payload_len, (unsigned long long)FL_VOL_PAYLOAD_MAX);
  if (h->flags & ~FL_VOL_REC_F_KNOWN)
    return fl_errf(em, FL_ECORRUPT, "record flags 0x%04x have unknown bits", h->flags);
  if (h->offset % FL_VOL_ALIGN)
    return fl_errf(em, FL_ECORRUPT, "record offset %llu is not %u-aligned",
                   (unsigned long long)h->offset, FL_VOL_ALIGN);
  return 0;
}

int fl_vol_rec_encode(uint8_t *buf, size_t cap, const fl_vol_rec_hdr_t *h, fl_errmsg_t *em) {
  int rc = fl_vol_rec_check(h, em);
  if (rc)
    return rc;
  size_t n = fl_vol_rec_hdr_size(h);
  if (cap < n)
    return fl_errf(em, FL_ETRUNC, "record header needs %zu bytes, buffer has %zu", n, cap);
  memset(buf, 0, FL_VOL_REC_FIXED);
  fl__vol_put32(buf + 0, FL_VOL_REC_MAGIC);
  fl__vol_put16(buf + 4, FL_VOL_REC_VERSION);
  fl__vol_put16(buf + 6, h->flags);
  fl__vol_put32(buf + 8, h->volume_id);
  fl__vol_put16(buf + 12, h->frag);
  fl__vol_put16(buf + 14, h->key_len);
  fl__vol_put64(buf + 16, h->offset);
  fl__vol_put64(buf + 24, h->seq);
  fl__vol_put64(buf + 32, h->payload_len);
  fl__vol_put32(buf + 40, h->payload_crc);
  fl__vol_put16(buf + 44, h->meta_len);
  memcpy(buf + FL_VOL_REC_FIXED, h->key, h->key_len);
  if (h->meta_len)
    memcpy(buf + FL_VOL_REC_FIXED + h->key_len, h->meta, h->meta_len);
  uint32_t crc = fl_crc32c(buf, 52);
  crc = fl_crc32c_extend(crc, buf + FL_VOL_REC_FIXED, (size_t)h->key_len + h->meta_len);
  fl__vol_put32(buf + 52, crc);
  return (int)n;
}

int fl_vol_rec_parse(const uint8_t *buf, size_t len, fl_vol_rec_hdr_t *out, fl_errmsg_t *em) {
  if (len < FL_VOL_REC_FIXED)
    return fl_errf(em, FL_ETRUNC, "record header truncated: %zu of %d fixed bytes", len,
                   FL_VOL_REC_FIXED);
  uint32_t magic = fl__vol_get32(buf);
  if (magic != FL_VOL_REC_MAGIC)
    return fl_errf(em, FL_ECORRUPT, "bad record magic 0x%08x", magic);
  uint16_t ver = fl__vol_get16(buf + 4);
  if (ver != FL_VOL_REC_VERSION)
    return fl_errf(em, FL_EVERSION, "record version %u, this build reads %u", ver,
                   FL_VOL_REC_VERSION);
  fl_vol_rec_hdr_t h;
  h.flags = fl__vol_get16(buf + 6);
  h.volume_id = fl__vol_get32(buf + 8);
  h.frag = fl__vol_get16(buf + 12);
  h.key_len = fl__vol_get16(buf + 14);
  h.offset = fl__vol_get64(buf + 16);
  h.seq = fl__vol_get64(buf + 24);
  h.payload_len = fl__vol_get64(buf + 32);
  h.payload_crc = fl__vol_get32(buf + 40);
  h.meta_len = fl__vol_get16(buf + 44);
  for (int i = 46; i < 52; i++)
    if (buf[i] != 0)
      return fl_errf(em, FL_ECORRUPT, "record reserved byte %d is 0x%02x", i, buf[i]);
  int rc = fl_vol_rec_check(&h, em);
  if (rc)
    return rc;
  size_t n = fl_vol_rec_hdr_size(&h);
  if (len < n)
    return fl_errf(em, FL_ETRUNC, "record header truncated: %zu of %zu bytes", len, n);
  uint32_t want = fl__vol_get32(buf + 52);
  uint32_t crc = fl_crc32c(buf, 52);
  crc = fl_crc32c_extend(crc, buf + FL_VOL_REC_FIXED, (size_t)h.key_len + h.meta_len);
  if (crc != want)
    return fl_errf(em, FL_ECORRUPT, "record header CRC 0x%08x, stored 0x%08x", crc, want);
  h.key = buf + FL_VOL_REC_FIXED;
  h.meta = h.meta_len ? buf + FL_VOL_REC_FIXED + h.key_len : NULL;
  *out = h;
  return 0;
}

int fl_vol_rec_verify_payload(const fl_vol_rec_hdr_t *h, const void *payload, fl_errmsg_t *em) {
  uint32_t crc = fl_crc32c(payload, (size_t)h->payload_len);
  if (crc != h->payload_crc)
    return fl_errf(em, FL_ECORRUPT, "payload CRC 0x%08x, header says 0x%08x", crc,
                   h->payload_crc);
  return 0;
}
