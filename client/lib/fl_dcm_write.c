/* Explicit VR little endian encoding (PS3.5 7.1.2) into a growing buffer.
 * Used by the synthetic study generator; nothing here reads DICOM. */
#include "fl_dcm_write.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fl_err.h"

#define FL_DCM_TS_EXPLICIT_LE "1.2.840.10008.1.2.1"

void fl_dcm_buf_init(fl_dcm_buf_t *b) { memset(b, 0, sizeof *b); }

void fl_dcm_buf_free(fl_dcm_buf_t *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

void fl_dcm_buf_reset(fl_dcm_buf_t *b) {
  b->len = 0;
  b->err = 0;
}

/* Reserves n bytes at the end and returns where they start, or NULL. */
static uint8_t *fl__dcm_grow(fl_dcm_buf_t *b, size_t n) {
  if (b->err)
    return NULL;
  if (n > UINT32_MAX || b->len > SIZE_MAX / 2 - n) {
    b->err = FL_ETOOBIG;
    return NULL;
  }
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n)
      cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p) {
      b->err = -ENOMEM;
      return NULL;
    }
    b->data = p;
    b->cap = cap;
  }
  uint8_t *at = b->data + b->len;
  b->len += n;
  return at;
}

static void fl__le16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static void fl__le32(uint8_t *p, uint32_t v) {
  fl__le16(p, (uint16_t)v);
  fl__le16(p + 2, (uint16_t)(v >> 16));
}

/* VRs whose length field is 32 bits after two reserved bytes (PS3.5 Table
 * 7.1-1). */
static int fl__vr_long(const char *vr) {
  static const char *const longs[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
                                      "SV", "UC", "UN", "UR", "UT", "UV"};
  for (size_t i = 0; i < sizeof longs / sizeof longs[0]; i++)
    if (vr[0] == longs[i][0] && vr[1] == longs[i][1])
      return 1;
  return 0;
}

int fl_dcm_put_header(fl_dcm_buf_t *b, uint16_t group, uint16_t elem, const char *vr, uint32_t n) {
  int lng = fl__vr_long(vr);
  if (!lng && n > 0xffff && !b->err)
    b->err = FL_ETOOBIG;
  uint8_t *p = fl__dcm_grow(b, lng ? 12 : 8);
  if (!p)
    return b->err;
  fl__le16(p, group);
  fl__le16(p + 2, elem);
  p[4] = (uint8_t)vr[0];
  p[5] = (uint8_t)vr[1];
  if (lng) {
    fl__le16(p + 6, 0);
    fl__le32(p + 8, n);
  } else {
    fl__le16(p + 6, (uint16_t)n);
  }
  return 0;
}

int fl_dcm_put_bin(fl_dcm_buf_t *b, uint16_t group, uint16_t elem, const char *vr, const void *v,
                   size_t n) {
  size_t padded = n + (n & 1);
  if (padded > UINT32_MAX - 1 && !b->err)
    b->err = FL_ETOOBIG;
  if (fl_dcm_put_header(b, group, elem, vr, (uint32_t)padded) != 0)
    return b->err;
  uint8_t *p = fl__dcm_grow(b, padded);
  if (!p)
    return b->err;
  if (n)
    memcpy(p, v, n);
  if (padded != n)
    p[n] = 0;
  return 0;
}

int fl_dcm_put_str(fl_dcm_buf_t *b, uint16_t group, uint16_t elem, const char *vr, const char *s) {
  size_t n = strlen(s);
  if (fl_dcm_put_bin(b, group, elem, vr, s, n) != 0)
    return b->err;
  if (n & 1)
    b->data[b->len - 1] = (vr[0] == 'U' && vr[1] == 'I') ? '\0' : ' ';
  return 0;
}

int fl_dcm_put_us(fl_dcm_buf_t *b, uint16_t group, uint16_t elem, uint16_t v) {
  uint8_t le[2];
  fl__le16(le, v);
  return fl_dcm_put_bin(b, group, elem, "US", le, 2);
}

int fl_dcm_put_ul(fl_dcm_buf_t *b, uint16_t group, uint16_t elem, uint32_t v) {
  uint8_t le[4];
  fl__le32(le, v);
  return fl_dcm_put_bin(b, group, elem, "UL", le, 4);
}

int fl_dcm_seq_begin(fl_dcm_buf_t *b, uint16_t group, uint16_t elem, size_t *mark) {
  if (fl_dcm_put_header(b, group, elem, "SQ", 0) != 0)
    return b->err;
  *mark = b->len - 4;
  return 0;
}

int fl_dcm_item_begin(fl_dcm_buf_t *b, size_t *mark) {
  uint8_t *p = fl__dcm_grow(b, 8);
  if (!p)
    return b->err;
  fl__le16(p, 0xfffe);
  fl__le16(p + 2, 0xe000);
  fl__le32(p + 4, 0);
  *mark = b->len - 4;
  return 0;
}

int fl_dcm_end(fl_dcm_buf_t *b, size_t mark) {
  if (b->err)
    return b->err;
  fl__le32(b->data + mark, (uint32_t)(b->len - mark - 4));
  return 0;
}

int fl_dcm_put_part10_header(fl_dcm_buf_t *b, const char *sop_class_uid, const char *sop_uid,
                             const char *impl_class_uid, const char *impl_version) {
  uint8_t *pre = fl__dcm_grow(b, 132);
  if (!pre)
    return b->err;
  memset(pre, 0, 128);
  memcpy(pre + 128, "DICM", 4);
  /* Group length counts the bytes after its own element, so it is patched
   * once the rest of group 0002 is written. */
  static const uint8_t version[2] = {0x00, 0x01};
  fl_dcm_put_ul(b, 0x0002, 0x0000, 0);
  size_t start = b->len;
  fl_dcm_put_bin(b, 0x0002, 0x0001, "OB", version, 2);
  fl_dcm_put_str(b, 0x0002, 0x0002, "UI", sop_class_uid);
  fl_dcm_put_str(b, 0x0002, 0x0003, "UI", sop_uid);
  fl_dcm_put_str(b, 0x0002, 0x0010, "UI", FL_DCM_TS_EXPLICIT_LE);
  fl_dcm_put_str(b, 0x0002, 0x0012, "UI", impl_class_uid);
  fl_dcm_put_str(b, 0x0002, 0x0013, "SH", impl_version);
  if (b->err)
    return b->err;
  fl__le32(b->data + start - 4, (uint32_t)(b->len - start));
  return 0;
}
