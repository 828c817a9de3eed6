/* Encoding and checking of the 48-byte fragment header (layout in
 * fl_ec_frag.h). Every field is bounded here so that the codec and the
 * storage node can trust a parsed header without further range checks. */
#include "fl_ec_frag.h"

#include "fl_crc32c.h"

#include <string.h>

static void fl__put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static void fl__put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t fl__get32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static uint64_t fl__get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

void fl_ec_frag_hdr_encode(const fl_ec_frag_hdr_t *h, uint8_t out[FL_EC_FRAG_HDR_SIZE]) {
  fl__put32(out + 0, FL_EC_FRAG_MAGIC);
  out[4] = FL_EC_FRAG_VERSION;
  out[5] = h->layout;
  out[6] = h->flags;
  out[7] = h->codec;
  out[8] = h->k;
  out[9] = h->m;
  out[10] = h->index;
  out[11] = 0;
  fl__put32(out + 12, h->key_id);
  fl__put64(out + 16, h->object_size);
  fl__put64(out + 24, h->stripe_id);
  fl__put64(out + 32, h->payload_len);
  fl__put32(out + 40, h->payload_crc);
  fl__put32(out + 44, fl_crc32c(out, 44));
}

/* An EC payload carries ceil(size/k) object bytes plus the backend's own
 * fragment header and alignment padding; this bounds that overhead. */
#define FL__EC_PAYLOAD_SLACK 4096u

int fl_ec_frag_hdr_parse(const void *buf, size_t len, fl_ec_frag_hdr_t *out, fl_errmsg_t *em) {
  const uint8_t *p = buf;
  if (len < FL_EC_FRAG_HDR_SIZE)
    return fl_errf(em, FL_ETRUNC, "fragment header truncated: %zu of %d bytes", len,
                   FL_EC_FRAG_HDR_SIZE);
  uint32_t magic = fl__get32(p);
  if (magic != FL_EC_FRAG_MAGIC)
    return fl_errf(em, FL_ECORRUPT, "not a fragment: bad magic 0x%08x", (unsigned)magic);
  if (p[4] != FL_EC_FRAG_VERSION)
    return fl_errf(em, FL_EVERSION, "fragment header version %u is not supported (this build reads %d)",
                   p[4], FL_EC_FRAG_VERSION);
  uint32_t want = fl__get32(p + 44), got = fl_crc32c(p, 44);
  if (want != got)
    return fl_errf(em, FL_ECORRUPT, "fragment header CRC32C mismatch (stored 0x%08x, computed 0x%08x)",
                   (unsigned)want, (unsigned)got);

  fl_ec_frag_hdr_t h = {
      .version = p[4],
      .layout = p[5],
      .flags = p[6],
      .codec = p[7],
      .k = p[8],
      .m = p[9],
      .index = p[10],
      .key_id = fl__get32(p + 12),
      .object_size = fl__get64(p + 16),
      .stripe_id = fl__get64(p + 24),
      .payload_len = fl__get64(p + 32),
      .payload_crc = fl__get32(p + 40),
  };
  /* A header with a valid CRC but impossible fields was written by a
   * broken encoder: still corruption from the reader's point of view. */
  if (h.layout != FL_EC_LAYOUT_EC && h.layout != FL_EC_LAYOUT_REPLICA)
    return fl_errf(em, FL_ECORRUPT, "fragment header: unknown layout %u", h.layout);
  if (h.flags & ~FL_EC_FLAGS_KNOWN)
    return fl_errf(em, FL_ECORRUPT, "fragment header: unknown flags 0x%02x", h.flags);
  if (!(h.flags & FL_EC_FLAG_ENCRYPTED) && h.key_id != 0)
    return fl_errf(em, FL_ECORRUPT, "fragment header: key id %u on a clear payload", (unsigned)h.key_id);
  if (p[11] != 0)
    return fl_errf(em, FL_ECORRUPT, "fragment header: reserved byte is 0x%02x", p[11]);
  if (h.k < 1 || (unsigned)h.k + h.m > FL_EC_MAX_FRAGS)
    return fl_errf(em, FL_ECORRUPT, "fragment header: invalid geometry k=%u m=%u", h.k, h.m);
  if (h.object_size > FL_EC_MAX_OBJECT)
    return fl_errf(em, FL_ECORRUPT, "fragment header: object size %llu exceeds %llu",
                   (unsigned long long)h.object_size, (unsigned long long)FL_EC_MAX_OBJECT);
  if (h.layout == FL_EC_LAYOUT_REPLICA) {
    if (h.index > h.m || h.codec != 0)
      return fl_errf(em, FL_ECORRUPT, "fragment header: replica index %u codec %u invalid for m=%u",
                     h.index, h.codec, h.m);
    if (h.payload_len != h.object_size)
      return fl_errf(em, FL_ECORRUPT, "fragment header: replica payload %llu bytes for a %llu-byte object",
                     (unsigned long long)h.payload_len, (unsigned long long)h.object_size);
  } else {
    if (h.index >= h.k + h.m || h.codec == 0)
      return fl_errf(em, FL_ECORRUPT, "fragment header: EC index %u codec %u invalid for k=%u m=%u",
                     h.index, h.codec, h.k, h.m);
    uint64_t share = (h.object_size + h.k - 1) / h.k;
    if (h.object_size == 0 || h.payload_len < share || h.payload_len > share + FL__EC_PAYLOAD_SLACK)
      return fl_errf(em, FL_ECORRUPT, "fragment header: EC payload %llu bytes impossible for a %llu-byte object, k=%u",
                     (unsigned long long)h.payload_len, (unsigned long long)h.object_size, h.k);
  }
  *out = h;
  return 0;
}

int fl_ec_frag_check_len(const void *buf, size_t len, fl_ec_frag_hdr_t *out, fl_errmsg_t *em) {
  fl_ec_frag_hdr_t h;
  int rc = fl_ec_frag_hdr_parse(buf, len, &h, em);
  if (rc != 0)
    return rc;
  size_t have = len - FL_EC_FRAG_HDR_SIZE;
  if (have < h.payload_len)
    return fl_errf(em, FL_ETRUNC, "fragment %u payload truncated: %zu of %llu bytes", h.index, have,
                   (unsigned long long)h.payload_len);
  if (have > h.payload_len)
    return fl_errf(em, FL_ECORRUPT, "fragment %u has %zu bytes after its %llu-byte payload", h.index,
                   have - (size_t)h.payload_len, (unsigned long long)h.payload_len);
  if (out)
    *out = h;
  return 0;
}

/* The payload check of fl_ec_frag_verify(_known), given the payload's CRC. */
static int fl__payload_crc_check(const fl_ec_frag_hdr_t *h, uint32_t got, fl_ec_frag_hdr_t *out,
                                 fl_errmsg_t *em) {
  if (got != h->payload_crc)
    return fl_errf(em, FL_ECORRUPT, "fragment %u payload CRC32C mismatch (stored 0x%08x, computed 0x%08x)",
                   h->index, (unsigned)h->payload_crc, (unsigned)got);
  if (out)
    *out = *h;
  return 0;
}

int fl_ec_frag_verify(const void *buf, size_t len, fl_ec_frag_hdr_t *out, fl_errmsg_t *em) {
  fl_ec_frag_hdr_t h;
  int rc = fl_ec_frag_check_len(buf, len, &h, em);
  if (rc != 0)
    return rc;
  return fl__payload_crc_check(
      &h, fl_crc32c((const uint8_t *)buf + FL_EC_FRAG_HDR_SIZE, len - FL_EC_FRAG_HDR_SIZE), out,
      em);
}

int fl_ec_frag_verify_known(const void *buf, size_t len, uint32_t whole_crc,
                            fl_ec_frag_hdr_t *out, fl_errmsg_t *em) {
  fl_ec_frag_hdr_t h;
  int rc = fl_ec_frag_check_len(buf, len, &h, em);
  if (rc != 0)
    return rc;
  uint32_t got = fl_crc32c_suffix(whole_crc, fl_crc32c(buf, FL_EC_FRAG_HDR_SIZE),
                                  len - FL_EC_FRAG_HDR_SIZE);
  return fl__payload_crc_check(&h, got, out, em);
}

uint32_t fl_ec_frag_whole_crc(const void *buf, size_t len) {
  const uint8_t *p = buf;
  if (len < FL_EC_FRAG_HDR_SIZE)
    return fl_crc32c(buf, len);
  return fl_crc32c_combine(fl_crc32c(p, FL_EC_FRAG_HDR_SIZE), fl__get32(p + 40),
                           len - FL_EC_FRAG_HDR_SIZE);
}
