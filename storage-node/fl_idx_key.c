/* Codec of the index's keys and values. Pure functions over buffers: the
 * RocksDB wrapper (fl_idx.c) and the fuzz target are its only callers that
 * matter, and the decoder treats every byte it reads as untrusted. */
#include "fl_idx_key.h"

#include <errno.h>
#include <string.h>

#include "fl_crc32c.h"
#include "fl_pg.h"

/* ---- Little helpers -------------------------------------------------------- */

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_le(uint8_t *p, uint64_t v, int n) {
  for (int i = 0; i < n; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* Length of s, or max + 1 if s has no NUL within max + 1 bytes. */
static size_t bounded_len(const char *s, size_t max) {
  return strnlen(s, max + 1);
}

/* ---- Field checks ----------------------------------------------------------- */

static int uid_chars_ok(const uint8_t *p, size_t n) {
  if (n == 0 || n > FL_IDX_UID_MAX)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((p[i] >= '0' && p[i] <= '9') || p[i] == '.'))
      return 0;
  return 1;
}

static int tenant_chars_ok(const uint8_t *p, size_t n) {
  if (n == 0 || n > FL_IDX_TENANT_MAX)
    return 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '_' && c != '-')))
      return 0;
  }
  return 1;
}

int fl_idx_check_uid(const char *uid, const char *what, fl_errmsg_t *em) {
  size_t n = bounded_len(uid, FL_IDX_UID_MAX);
  if (!uid_chars_ok((const uint8_t *)uid, n))
    return fl_errf(em, FL_EUID, "%s \"%.70s%s\" is not 1..%d digits and dots", what, uid,
                   n > 70 ? "..." : "", FL_IDX_UID_MAX);
  return 0;
}

int fl_idx_check_tenant(const char *tenant, fl_errmsg_t *em) {
  size_t n = bounded_len(tenant, FL_IDX_TENANT_MAX);
  if (!tenant_chars_ok((const uint8_t *)tenant, n))
    return fl_errf(em, -EINVAL, "tenant \"%.40s%s\" is not [a-z0-9][a-z0-9_-]{0,31}",
                   tenant, n > 40 ? "..." : "");
  return 0;
}

/* ---- Keys ---------------------------------------------------------------- */

/* Nibble of a UID character: '.' = 1, '0'..'9' = 2..11; 0 terminates. */
static uint8_t uid_nibble(char c) {
  return c == '.' ? 1 : (uint8_t)(c - '0' + 2);
}

/* Packs a checked UID of n characters into (n + 2) / 2 bytes. */
static void uid_pack(const char *uid, size_t n, uint8_t *out) {
  memset(out, 0, (n + 2) / 2);
  for (size_t i = 0; i < n; i++)
    out[i / 2] |= (uint8_t)(uid_nibble(uid[i]) << (i % 2 ? 0 : 4));
}

/* Unpacks a UID from buf[0, len) into out (FL_IDX_UID_MAX + 1 bytes) and
 * returns the bytes consumed, or 0 if it is truncated, -1 if malformed
 * (bad nibble, empty, too long, non-zero padding). */
static long uid_unpack(const uint8_t *buf, size_t len, char *out) {
  for (size_t i = 0; i / 2 < len; i++) {
    uint8_t nib = i % 2 ? buf[i / 2] & 0x0f : buf[i / 2] >> 4;
    if (nib == 0) {
      if (i == 0 || (i % 2 == 0 && (buf[i / 2] & 0x0f) != 0))
        return -1;
      out[i] = '\0';
      return (long)(i / 2 + 1);
    }
    if (nib > 11 || i >= FL_IDX_UID_MAX)
      return -1;
    out[i] = nib == 1 ? '.' : (char)('0' + nib - 2);
  }
  return 0;
}

static int copy_field(char *dst, size_t cap, const char *src) {
  size_t n = bounded_len(src, cap - 1);
  if (n >= cap)
    return -1;
  memcpy(dst, src, n + 1);
  return 0;
}

int fl_idx_key_make(fl_idx_key_t *k, uint32_t pg, const char *tenant, const char *study,
                    const char *series, const char *sop, uint16_t frag, fl_errmsg_t *em) {
  int rc;
  if (pg == FL_IDX_PG_RESERVED)
    return fl_errf(em, -EINVAL, "pg %u is reserved for index metadata", pg);
  if ((rc = fl_idx_check_tenant(tenant, em)) != 0 ||
      (rc = fl_idx_check_uid(study, "study UID", em)) != 0 ||
      (rc = fl_idx_check_uid(series, "series UID", em)) != 0 ||
      (rc = fl_idx_check_uid(sop, "SOP instance UID", em)) != 0)
    return rc;
  k->pg = pg;
  k->frag = frag;
  /* Lengths were just checked, so these copies cannot truncate. */
  copy_field(k->tenant, sizeof k->tenant, tenant);
  copy_field(k->study, sizeof k->study, study);
  copy_field(k->series, sizeof k->series, series);
  copy_field(k->sop, sizeof k->sop, sop);
  return 0;
}

int fl_idx_key_encode(const fl_idx_key_t *k, enum fl_idx_level level, uint8_t *buf,
                      size_t cap, size_t *len, fl_errmsg_t *em) {
  const char *strs[4] = {k->tenant, k->study, k->series, k->sop};
  static const char *const names[4] = {"tenant", "study UID", "series UID",
                                       "SOP instance UID"};
  size_t n = 0;
  int rc;
  if (level > FL_IDX_LVL_KEY)
    return fl_errf(em, -EINVAL, "unknown key level %d", (int)level);
  if (level >= FL_IDX_LVL_PG) {
    if (k->pg == FL_IDX_PG_RESERVED)
      return fl_errf(em, -EINVAL, "pg %u is reserved for index metadata", k->pg);
    if (cap < 4)
      goto small;
    put_be32(buf, k->pg);
    n = 4;
  }
  for (int i = 0; i < 4 && (int)level >= FL_IDX_LVL_TENANT + i; i++) {
    rc = i == 0 ? fl_idx_check_tenant(strs[i], em) : fl_idx_check_uid(strs[i], names[i], em);
    if (rc != 0)
      return rc;
    size_t sl = strlen(strs[i]);
    size_t need = i == 0 ? sl + 1 : (sl + 2) / 2;
    if (cap - n < need)
      goto small;
    if (i == 0) {
      memcpy(buf + n, strs[i], sl);
      buf[n + sl] = 0;
    } else {
      uid_pack(strs[i], sl, buf + n);
    }
    n += need;
  }
  if (level == FL_IDX_LVL_KEY) {
    if (cap - n < 2)
      goto small;
    buf[n] = (uint8_t)(k->frag >> 8);
    buf[n + 1] = (uint8_t)k->frag;
    n += 2;
  }
  *len = n;
  return 0;
small:
  return fl_errf(em, FL_ETOOBIG, "key buffer of %zu bytes is too small", cap);
}

/* Decodes pg .. SOP UID; with_frag says whether a fragment index follows
 * (an index key) or the input ends there (an object key). */
static int key_decode(const uint8_t *buf, size_t len, int with_frag, fl_idx_key_t *k,
                      fl_errmsg_t *em) {
  char *dst[4] = {k->tenant, k->study, k->series, k->sop};
  static const char *const names[4] = {"tenant", "study UID", "series UID",
                                       "SOP instance UID"};
  size_t pos = 4;
  if (len < 4)
    return fl_errf(em, FL_ETRUNC, "index key of %zu bytes is shorter than its pg", len);
  k->pg = get_be32(buf);
  if (k->pg == FL_IDX_PG_RESERVED)
    return fl_errf(em, FL_ECORRUPT, "index key is a reserved metadata key");
  const uint8_t *end = memchr(buf + pos, 0, len - pos);
  if (!end)
    return fl_errf(em, FL_ETRUNC, "index key ends inside its tenant");
  size_t n = (size_t)(end - (buf + pos));
  if (!tenant_chars_ok(buf + pos, n))
    return fl_errf(em, FL_ECORRUPT, "index key has a malformed tenant (%zu bytes)", n);
  memcpy(dst[0], buf + pos, n);
  dst[0][n] = '\0';
  pos += n + 1;
  for (int i = 1; i < 4; i++) {
    long used = uid_unpack(buf + pos, len - pos, dst[i]);
    if (used == 0)
      return fl_errf(em, FL_ETRUNC, "index key ends inside its %s", names[i]);
    if (used < 0)
      return fl_errf(em, FL_ECORRUPT, "index key has a malformed %s at byte %zu", names[i],
                     pos);
    pos += (size_t)used;
  }
  size_t tail = with_frag ? 2 : 0;
  if (len - pos < tail)
    return fl_errf(em, FL_ETRUNC, "index key ends before its fragment index");
  if (len - pos > tail)
    return fl_errf(em, FL_ECORRUPT, "index key has %zu trailing bytes", len - pos - tail);
  if (with_frag)
    k->frag = (uint16_t)(buf[pos] << 8 | buf[pos + 1]);
  return 0;
}

int fl_idx_key_decode(const uint8_t *buf, size_t len, fl_idx_key_t *k, fl_errmsg_t *em) {
  return key_decode(buf, len, 1, k, em);
}

int fl_idx_objkey_decode(const uint8_t *buf, size_t len, uint16_t frag, fl_idx_key_t *k,
                         fl_errmsg_t *em) {
  k->frag = frag;
  return key_decode(buf, len, 0, k, em);
}

/* ---- Values ---------------------------------------------------------------- */

void fl_idx_attrs_clear(fl_idx_attrs_t *a) {
  memset(a, 0, sizeof *a);
  a->series_number = FL_IDX_NO_NUMBER;
  a->instance_number = FL_IDX_NO_NUMBER;
}

/* Variable fields in layout order, so encoder and decoder share one table. */
struct vfield {
  const char *name;
  int lenbytes; /* 1 or 2 */
  size_t max;
};
static const struct vfield vfields[5] = {
    {"SOP class UID", 1, FL_IDX_SOPCLASS_MAX}, {"modality", 1, FL_IDX_MODALITY_MAX},
    {"study date", 1, FL_IDX_DATE_MAX},        {"patient id", 2, FL_IDX_PHI_MAX},
    {"patient name", 2, FL_IDX_PHI_MAX},
};

int fl_idx_value_encode(const fl_idx_value_t *v, uint8_t *buf, size_t cap, size_t *len,
                        fl_errmsg_t *em) {
  const fl_idx_attrs_t *a = &v->attrs;
  const uint8_t *data[5] = {(const uint8_t *)a->sop_class, (const uint8_t *)a->modality,
                            (const uint8_t *)a->study_date, a->patient_id, a->patient_name};
  size_t lens[5] = {bounded_len(a->sop_class, FL_IDX_SOPCLASS_MAX),
                    bounded_len(a->modality, FL_IDX_MODALITY_MAX),
                    bounded_len(a->study_date, FL_IDX_DATE_MAX), a->patient_id_len,
                    a->patient_name_len};
  size_t total = FL_IDX_VALUE_FIXED + 4;
  if (v->flags & ~FL_IDX_VF_KNOWN)
    return fl_errf(em, -EINVAL, "value flags 0x%02x has unknown bits", v->flags);
  for (int i = 0; i < 5; i++) {
    if (lens[i] > vfields[i].max)
      return fl_errf(em, FL_ETOOBIG, "%s is longer than %zu bytes", vfields[i].name,
                     vfields[i].max);
    total += (size_t)vfields[i].lenbytes + lens[i];
  }
  if (cap < total)
    return fl_errf(em, FL_ETOOBIG, "value buffer of %zu bytes is too small (%zu needed)",
                   cap, total);
  buf[0] = FL_IDX_VALUE_VERSION;
  buf[1] = v->flags;
  put_le(buf + 2, total, 2);
  put_le(buf + 4, v->volume, 4);
  put_le(buf + 8, v->offset, 8);
  put_le(buf + 16, v->rec_len, 4);
  put_le(buf + 20, v->crc, 4);
  put_le(buf + 24, v->frag, 2);
  buf[26] = v->layout;
  buf[27] = 0;
  put_le(buf + 28, v->obj_size, 8);
  put_le(buf + 36, v->seq, 8);
  put_le(buf + 44, (uint32_t)a->series_number, 4);
  put_le(buf + 48, (uint32_t)a->instance_number, 4);
  size_t pos = FL_IDX_VALUE_FIXED;
  for (int i = 0; i < 5; i++) {
    put_le(buf + pos, lens[i], vfields[i].lenbytes);
    pos += (size_t)vfields[i].lenbytes;
    if (lens[i])
      memcpy(buf + pos, data[i], lens[i]);
    pos += lens[i];
  }
  put_le(buf + pos, fl_crc32c(buf, pos), 4);
  *len = pos + 4;
  return 0;
}

int fl_idx_value_decode(const uint8_t *buf, size_t len, fl_idx_value_t *v, fl_errmsg_t *em) {
  fl_idx_attrs_t *a = &v->attrs;
  uint8_t *dst[5] = {(uint8_t *)a->sop_class, (uint8_t *)a->modality,
                     (uint8_t *)a->study_date, a->patient_id, a->patient_name};
  if (len == 0)
    return fl_errf(em, FL_ETRUNC, "index value is empty");
  if (buf[0] != FL_IDX_VALUE_VERSION)
    return fl_errf(em, FL_EVERSION, "index value version %u, this build reads %d", buf[0],
                   FL_IDX_VALUE_VERSION);
  if (len < FL_IDX_VALUE_MIN)
    return fl_errf(em, FL_ETRUNC, "index value of %zu bytes is shorter than the minimum %d",
                   len, FL_IDX_VALUE_MIN);
  if (len > FL_IDX_VALUE_MAX)
    return fl_errf(em, FL_ETOOBIG, "index value of %zu bytes exceeds the maximum %d", len,
                   FL_IDX_VALUE_MAX);
  size_t declared = (size_t)get_le(buf + 2, 2);
  if (declared != len)
    return fl_errf(em, declared > len ? FL_ETRUNC : FL_ECORRUPT,
                   "index value declares %zu bytes but has %zu", declared, len);
  uint32_t want = (uint32_t)get_le(buf + len - 4, 4);
  uint32_t got = fl_crc32c(buf, len - 4);
  if (want != got)
    return fl_errf(em, FL_ECORRUPT, "index value CRC32C 0x%08x does not match stored 0x%08x",
                   got, want);
  /* The CRC passed, but a value written by a buggy or hostile encoder can
   * still be inconsistent: check the structure as strictly as the bytes. */
  if (buf[1] & ~FL_IDX_VF_KNOWN)
    return fl_errf(em, FL_ECORRUPT, "index value has unknown flags 0x%02x", buf[1]);
  if (buf[27] != 0)
    return fl_errf(em, FL_ECORRUPT, "index value reserved byte is 0x%02x", buf[27]);
  v->flags = buf[1];
  v->volume = (uint32_t)get_le(buf + 4, 4);
  v->offset = get_le(buf + 8, 8);
  v->rec_len = (uint32_t)get_le(buf + 16, 4);
  v->crc = (uint32_t)get_le(buf + 20, 4);
  v->frag = (uint16_t)get_le(buf + 24, 2);
  v->layout = buf[26];
  v->obj_size = get_le(buf + 28, 8);
  v->seq = get_le(buf + 36, 8);
  a->series_number = (int32_t)(uint32_t)get_le(buf + 44, 4);
  a->instance_number = (int32_t)(uint32_t)get_le(buf + 48, 4);
  size_t pos = FL_IDX_VALUE_FIXED, end = len - 4;
  for (int i = 0; i < 5; i++) {
    int lb = vfields[i].lenbytes;
    if (end - pos < (size_t)lb)
      return fl_errf(em, FL_ECORRUPT, "index value ends before the length of its %s",
                     vfields[i].name);
    size_t n = (size_t)get_le(buf + pos, lb);
    pos += (size_t)lb;
    if (n > vfields[i].max)
      return fl_errf(em, FL_ECORRUPT, "index value %s is %zu bytes, at most %zu allowed",
                     vfields[i].name, n, vfields[i].max);
    if (end - pos < n)
      return fl_errf(em, FL_ECORRUPT, "index value %s of %zu bytes overruns the value",
                     vfields[i].name, n);
    if (lb == 1 && memchr(buf + pos, 0, n))
      return fl_errf(em, FL_ECORRUPT, "index value %s contains a NUL byte", vfields[i].name);
    if (n)
      memcpy(dst[i], buf + pos, n);
    if (lb == 1)
      dst[i][n] = 0;
    else if (i == 3)
      a->patient_id_len = (uint16_t)n;
    else
      a->patient_name_len = (uint16_t)n;
    pos += n;
  }
  if (pos != end)
    return fl_errf(em, FL_ECORRUPT, "index value has %zu bytes after its last field",
                   end - pos);
  return 0;
}

int fl_idx_value_cmp(const fl_idx_value_t *a, const fl_idx_value_t *b) {
  if (a->seq != b->seq)
    return a->seq < b->seq ? -1 : 1;
  if (a->volume != b->volume)
    return a->volume < b->volume ? -1 : 1;
  if (a->offset != b->offset)
    return a->offset < b->offset ? -1 : 1;
  return 0;
}

uint64_t fl_idx_key_obj_hash(const fl_idx_key_t *k) {
  uint8_t buf[FL_IDX_KEY_MAX];
  size_t len = 0;
  if (fl_idx_key_encode(k, FL_IDX_LVL_OBJECT, buf, sizeof buf, &len, NULL) != 0)
    return 0;
  return fl_pg_hash64(buf, len);
}
