/* Unit tests for the index key and value codec: ordering and prefix
 * properties (the 1.2.3 / 1.2.34 trap), round trips, and a decoder that
 * refuses empty, truncated, oversized, corrupted and garbage values. */
#include <errno.h>

#include "fl_crc32c.h"
#include "fl_idx_key.h"
#include "fl_test.h"

static fl_idx_key_t mk(uint32_t pg, const char *t, const char *st, const char *se,
                       const char *sop, uint16_t frag) {
  fl_idx_key_t k;
  FL_CHECK_OK(fl_idx_key_make(&k, pg, t, st, se, sop, frag, NULL));
  return k;
}

static size_t enc(const fl_idx_key_t *k, enum fl_idx_level lvl, uint8_t *buf) {
  size_t n = 0;
  FL_CHECK_OK(fl_idx_key_encode(k, lvl, buf, FL_IDX_KEY_MAX, &n, NULL));
  return n;
}

static int bytecmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
  int c = memcmp(a, b, al < bl ? al : bl);
  return c ? c : (al > bl) - (al < bl);
}

static int has_prefix(const uint8_t *k, size_t kl, const uint8_t *p, size_t pl) {
  return kl >= pl && memcmp(k, p, pl) == 0;
}

/* Logical order of keys: fields in turn, strings by strcmp. */
static int logical_cmp(const fl_idx_key_t *a, const fl_idx_key_t *b) {
  if (a->pg != b->pg)
    return a->pg < b->pg ? -1 : 1;
  int c;
  if ((c = strcmp(a->tenant, b->tenant)) || (c = strcmp(a->study, b->study)) ||
      (c = strcmp(a->series, b->series)) || (c = strcmp(a->sop, b->sop)))
    return c;
  return (a->frag > b->frag) - (a->frag < b->frag);
}

static void test_trap_1_2_3(void) {
  uint8_t a[FL_IDX_KEY_MAX], b[FL_IDX_KEY_MAX], p[FL_IDX_KEY_MAX];
  fl_idx_key_t k3 = mk(7, "h1", "1.2.3", "1.2.3.1", "1.2.3.1.1", 0);
  fl_idx_key_t k34 = mk(7, "h1", "1.2.34", "1.2.3.1", "1.2.3.1.1", 0);
  size_t la = enc(&k3, FL_IDX_LVL_KEY, a), lb = enc(&k34, FL_IDX_LVL_KEY, b);
  FL_CHECK(bytecmp(a, la, b, lb) < 0);
  size_t lp = enc(&k3, FL_IDX_LVL_STUDY, p);
  FL_CHECK(has_prefix(a, la, p, lp));
  FL_CHECK(!has_prefix(b, lb, p, lp));
  /* Same trap one level down (series) and for tenants. */
  fl_idx_key_t s1 = mk(7, "h1", "1.2", "1.5", "1.9", 0), s2 = mk(7, "h1", "1.2", "1.5.1", "1.0", 0);
  la = enc(&s1, FL_IDX_LVL_KEY, a);
  lb = enc(&s2, FL_IDX_LVL_KEY, b);
  lp = enc(&s1, FL_IDX_LVL_SERIES, p);
  FL_CHECK(bytecmp(a, la, b, lb) < 0);
  FL_CHECK(!has_prefix(b, lb, p, lp));
  fl_idx_key_t t1 = mk(7, "h", "1.2", "1.5", "1.9", 0), t2 = mk(7, "h-a", "1.2", "1.5", "1.9", 0);
  la = enc(&t1, FL_IDX_LVL_KEY, a);
  lb = enc(&t2, FL_IDX_LVL_KEY, b);
  lp = enc(&t1, FL_IDX_LVL_TENANT, p);
  FL_CHECK(bytecmp(a, la, b, lb) < 0);
  FL_CHECK(!has_prefix(b, lb, p, lp));
}

/* Deterministic pseudo-random UIDs over a small alphabet so that prefixes
 * and equal components occur often. */
static uint32_t rnd_state = 12345;
static uint32_t rnd(void) {
  rnd_state = rnd_state * 1103515245u + 12345u;
  return rnd_state >> 8;
}
static void rnd_uid(char *out) {
  static const char *parts[] = {"1", "2", "3", "34", "1.2", "9", "10"};
  size_t n = 0;
  int comps = 1 + (int)(rnd() % 4);
  for (int i = 0; i < comps; i++) {
    const char *p = parts[rnd() % 7];
    if (i)
      out[n++] = '.';
    memcpy(out + n, p, strlen(p));
    n += strlen(p);
  }
  out[n] = 0;
}

static void test_order_and_prefix_random(void) {
  enum { N = 300 };
  static fl_idx_key_t keys[N];
  static uint8_t enc_k[N][FL_IDX_KEY_MAX];
  static size_t enc_l[N];
  static const char *tenants[] = {"a", "a-b", "ab", "a_b", "b0"};
  for (int i = 0; i < N; i++) {
    char st[65], se[65], so[65];
    rnd_uid(st);
    rnd_uid(se);
    rnd_uid(so);
    keys[i] = mk(rnd() % 3, tenants[rnd() % 5], st, se, so, (uint16_t)(rnd() % 300));
    enc_l[i] = enc(&keys[i], FL_IDX_LVL_KEY, enc_k[i]);
  }
  for (int i = 0; i < N; i++) {
    for (int j = 0; j < N; j++) {
      int lc = logical_cmp(&keys[i], &keys[j]);
      int bc = bytecmp(enc_k[i], enc_l[i], enc_k[j], enc_l[j]);
      if ((lc < 0) != (bc < 0) || (lc == 0) != (bc == 0))
        FL__FAIL("order differs for keys %d and %d (%d vs %d)", i, j, lc, bc);
      /* Prefix of each level matches exactly the keys sharing those fields. */
      for (int lvl = FL_IDX_LVL_PG; lvl <= FL_IDX_LVL_OBJECT; lvl++) {
        uint8_t p[FL_IDX_KEY_MAX];
        size_t pl = enc(&keys[i], (enum fl_idx_level)lvl, p);
        const fl_idx_key_t *a = &keys[i], *b = &keys[j];
        int same = a->pg == b->pg;
        if (lvl >= FL_IDX_LVL_TENANT)
          same = same && !strcmp(a->tenant, b->tenant);
        if (lvl >= FL_IDX_LVL_STUDY)
          same = same && !strcmp(a->study, b->study);
        if (lvl >= FL_IDX_LVL_SERIES)
          same = same && !strcmp(a->series, b->series);
        if (lvl >= FL_IDX_LVL_OBJECT)
          same = same && !strcmp(a->sop, b->sop);
        if (same != has_prefix(enc_k[j], enc_l[j], p, pl))
          FL__FAIL("prefix level %d of key %d vs key %d: expected %d", lvl, i, j, same);
      }
    }
  }
}

static void test_key_round_trip(void) {
  uint8_t buf[FL_IDX_KEY_MAX];
  char uid[65];
  memset(uid, '9', 64);
  uid[64] = 0;
  fl_idx_key_t k = mk(0xFFFFFFFEu, "abcdefghijklmnopqrstuvwxyz012345", uid, uid, uid, 0xFFFF);
  size_t n = enc(&k, FL_IDX_LVL_KEY, buf);
  FL_CHECK_EQ(n, FL_IDX_KEY_MAX);
  fl_idx_key_t d;
  FL_CHECK_OK(fl_idx_key_decode(buf, n, &d, NULL));
  FL_CHECK(logical_cmp(&k, &d) == 0);
  FL_CHECK_EQ(d.pg, 0xFFFFFFFEu);
  FL_CHECK_EQ(d.frag, 0xFFFF);
  /* Every truncation is refused, and so are trailing bytes. */
  for (size_t i = 0; i < n; i++)
    FL_CHECK_ERR(fl_idx_key_decode(buf, i, &d, NULL), FL_ETRUNC);
  /* The object key (what a volume record stores) is the key minus the
   * fragment index, and decodes back with the fragment given apart. */
  uint8_t ob[FL_IDX_KEY_MAX];
  size_t on = enc(&k, FL_IDX_LVL_OBJECT, ob);
  FL_CHECK_EQ(on, n - 2);
  FL_CHECK_MEM(ob, buf, on);
  FL_CHECK_OK(fl_idx_objkey_decode(ob, on, 7, &d, NULL));
  FL_CHECK_STR(d.sop, k.sop);
  FL_CHECK_EQ(d.frag, 7);
  FL_CHECK_ERR(fl_idx_objkey_decode(buf, n, 7, &d, NULL), FL_ECORRUPT);
  for (size_t i = 0; i < on; i++)
    FL_CHECK_ERR(fl_idx_objkey_decode(ob, i, 7, &d, NULL), FL_ETRUNC);
  uint8_t big[FL_IDX_KEY_MAX + 1];
  memcpy(big, buf, n);
  big[n] = 0;
  FL_CHECK_ERR(fl_idx_key_decode(big, n + 1, &d, NULL), FL_ECORRUPT);
}

static void test_key_refusals(void) {
  fl_idx_key_t k;
  fl_errmsg_t em = {{0}};
  char longuid[70];
  memset(longuid, '1', 65);
  longuid[65] = 0;
  FL_CHECK_ERR(fl_idx_key_make(&k, 1, "h", "1.2", "1.2", longuid, 0, &em), FL_EUID);
  FL_CHECK(strstr(em.msg, "SOP instance UID") != NULL);
  FL_CHECK_ERR(fl_idx_key_make(&k, 1, "h", "", "1.2", "1", 0, NULL), FL_EUID);
  FL_CHECK_ERR(fl_idx_key_make(&k, 1, "h", "1.2a", "1.2", "1", 0, NULL), FL_EUID);
  FL_CHECK_ERR(fl_idx_key_make(&k, 1, "H", "1.2", "1.2", "1", 0, NULL), -EINVAL);
  FL_CHECK_ERR(fl_idx_key_make(&k, 1, "-h", "1.2", "1.2", "1", 0, NULL), -EINVAL);
  FL_CHECK_ERR(fl_idx_key_make(&k, 1, "", "1.2", "1.2", "1", 0, NULL), -EINVAL);
  FL_CHECK_ERR(fl_idx_key_make(&k, 1, "abcdefghijklmnopqrstuvwxyz0123456", "1", "1", "1", 0,
                               NULL), -EINVAL);
  FL_CHECK_ERR(fl_idx_key_make(&k, FL_IDX_PG_RESERVED, "h", "1", "1", "1", 0, &em), -EINVAL);
  FL_CHECK(strstr(em.msg, "reserved") != NULL);
  /* Small buffers are refused, not overrun. */
  k = mk(1, "h", "1.2", "1.3", "1.4", 2);
  uint8_t buf[FL_IDX_KEY_MAX];
  size_t n, full = enc(&k, FL_IDX_LVL_KEY, buf);
  FL_CHECK_EQ(full, 4 + 2 + 2 + 2 + 2 + 2);
  for (size_t cap = 0; cap < full; cap++)
    FL_CHECK_ERR(fl_idx_key_encode(&k, FL_IDX_LVL_KEY, buf, cap, &n, NULL), FL_ETOOBIG);
  /* Garbage keys: a reserved pg, a bad character, a missing terminator. */
  static const uint8_t meta[] = {0xff, 0xff, 0xff, 0xff, 'c', 'k', 'p', 't'};
  FL_CHECK_ERR(fl_idx_key_decode(meta, sizeof meta, &k, NULL), FL_ECORRUPT);
  /* The packed form of "h", "1.2", "1.3", "1.4", fragment 2, then defects. */
  static const uint8_t good[] = {0, 0, 0, 1, 'h', 0, 0x31, 0x40, 0x31, 0x50, 0x31, 0x60, 0, 2};
  FL_CHECK_EQ(sizeof good, full);
  FL_CHECK_MEM(good, buf, full);
  uint8_t bad[sizeof good];
  memcpy(bad, good, sizeof bad);
  bad[7] = 0xC0; /* nibble 12 is no character */
  FL_CHECK_ERR(fl_idx_key_decode(bad, sizeof bad, &k, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "study UID") != NULL);
  memcpy(bad, good, sizeof bad);
  bad[8] = 0x00; /* empty series UID */
  FL_CHECK_ERR(fl_idx_key_decode(bad, sizeof bad, &k, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "series UID") != NULL);
  /* Study "12" ends in a high nibble and is padded: "12", "1", "1". */
  uint8_t pad[] = {0, 0, 0, 1, 'h', 0, 0x34, 0x00, 0x30, 0x30, 0, 0};
  FL_CHECK_OK(fl_idx_key_decode(pad, sizeof pad, &k, NULL));
  FL_CHECK_STR(k.study, "12");
  pad[7] = 0x05; /* non-zero padding after the terminator nibble */
  FL_CHECK_ERR(fl_idx_key_decode(pad, sizeof pad, &k, NULL), FL_ECORRUPT);
  memcpy(bad, good, sizeof bad);
  bad[11] = 0x66; /* no terminator: the SOP UID runs to the end */
  FL_CHECK_ERR(fl_idx_key_decode(bad, 12, &k, NULL), FL_ETRUNC);
  FL_CHECK_ERR(fl_idx_key_decode(good, 0, &k, NULL), FL_ETRUNC);
  /* A 65-character UID cannot be smuggled in through the packed form. */
  uint8_t longk[4 + 2 + 40 + 2 + 2 + 2] = {0, 0, 0, 1, 'h', 0};
  memset(longk + 6, 0x33, 33); /* 66 nibbles of '1', no terminator in reach */
  longk[39] = 0x30;            /* terminator after 65 characters */
  longk[40] = 0x30;
  FL_CHECK_ERR(fl_idx_key_decode(longk, 4 + 2 + 35, &k, NULL), FL_ECORRUPT);
}

static fl_idx_value_t sample_value(void) {
  fl_idx_value_t v;
  memset(&v, 0, sizeof v);
  fl_idx_attrs_clear(&v.attrs);
  v.flags = FL_IDX_VF_PHI_ENC;
  v.layout = 1;
  v.frag = 5;
  v.volume = 0x01020304u;
  v.offset = 0x1122334455667788ull;
  v.rec_len = 4096 + 80;
  v.crc = 0xdeadbeefu;
  v.obj_size = 524288;
  v.seq = 987654321012ull;
  strcpy(v.attrs.sop_class, "1.2.840.10008.5.1.4.1.1.2");
  strcpy(v.attrs.modality, "CT");
  strcpy(v.attrs.study_date, "20261129");
  v.attrs.series_number = 3;
  v.attrs.instance_number = -17;
  v.attrs.patient_id_len = 40;
  for (int i = 0; i < 40; i++)
    v.attrs.patient_id[i] = (uint8_t)(i * 37); /* opaque, NUL bytes included */
  v.attrs.patient_name_len = 0;
  return v;
}

static void check_same_value(const fl_idx_value_t *a, const fl_idx_value_t *b) {
  FL_CHECK_EQ(a->flags, b->flags);
  FL_CHECK_EQ(a->layout, b->layout);
  FL_CHECK_EQ(a->frag, b->frag);
  FL_CHECK_EQ(a->volume, b->volume);
  FL_CHECK(a->offset == b->offset);
  FL_CHECK_EQ(a->rec_len, b->rec_len);
  FL_CHECK_EQ(a->crc, b->crc);
  FL_CHECK(a->obj_size == b->obj_size);
  FL_CHECK(a->seq == b->seq);
  FL_CHECK_STR(a->attrs.sop_class, b->attrs.sop_class);
  FL_CHECK_STR(a->attrs.modality, b->attrs.modality);
  FL_CHECK_STR(a->attrs.study_date, b->attrs.study_date);
  FL_CHECK_EQ(a->attrs.series_number, b->attrs.series_number);
  FL_CHECK_EQ(a->attrs.instance_number, b->attrs.instance_number);
  FL_CHECK_EQ(a->attrs.patient_id_len, b->attrs.patient_id_len);
  FL_CHECK_MEM(a->attrs.patient_id, b->attrs.patient_id, a->attrs.patient_id_len);
  FL_CHECK_EQ(a->attrs.patient_name_len, b->attrs.patient_name_len);
  FL_CHECK_MEM(a->attrs.patient_name, b->attrs.patient_name, a->attrs.patient_name_len);
}

static void test_value_round_trip(void) {
  uint8_t buf[FL_IDX_VALUE_MAX];
  size_t n;
  fl_idx_value_t v = sample_value(), d;
  FL_CHECK_OK(fl_idx_value_encode(&v, buf, sizeof buf, &n, NULL));
  FL_CHECK_OK(fl_idx_value_decode(buf, n, &d, NULL));
  check_same_value(&v, &d);
  /* Canonical: re-encoding the decoded value gives the same bytes. */
  uint8_t again[FL_IDX_VALUE_MAX];
  size_t n2;
  FL_CHECK_OK(fl_idx_value_encode(&d, again, sizeof again, &n2, NULL));
  FL_CHECK_EQ(n, n2);
  FL_CHECK_MEM(buf, again, n);
  /* Smallest and largest values. */
  fl_idx_value_t e;
  memset(&e, 0, sizeof e);
  fl_idx_attrs_clear(&e.attrs);
  FL_CHECK_OK(fl_idx_value_encode(&e, buf, sizeof buf, &n, NULL));
  FL_CHECK_EQ(n, FL_IDX_VALUE_MIN);
  FL_CHECK_OK(fl_idx_value_decode(buf, n, &d, NULL));
  check_same_value(&e, &d);
  FL_CHECK_EQ(d.attrs.series_number, FL_IDX_NO_NUMBER);
  memset(e.attrs.sop_class, '1', FL_IDX_SOPCLASS_MAX);
  memset(e.attrs.modality, 'M', FL_IDX_MODALITY_MAX);
  memset(e.attrs.study_date, '2', FL_IDX_DATE_MAX);
  e.attrs.patient_id_len = e.attrs.patient_name_len = FL_IDX_PHI_MAX;
  memset(e.attrs.patient_id, 0xAB, FL_IDX_PHI_MAX);
  memset(e.attrs.patient_name, 0xCD, FL_IDX_PHI_MAX);
  FL_CHECK_OK(fl_idx_value_encode(&e, buf, sizeof buf, &n, NULL));
  FL_CHECK_EQ(n, FL_IDX_VALUE_MAX);
  FL_CHECK_OK(fl_idx_value_decode(buf, n, &d, NULL));
  check_same_value(&e, &d);
  /* Encoder refusals: small buffer, over-long field, unknown flag. */
  FL_CHECK_ERR(fl_idx_value_encode(&e, buf, FL_IDX_VALUE_MAX - 1, &n, NULL), FL_ETOOBIG);
  e.attrs.patient_id_len = FL_IDX_PHI_MAX + 1;
  FL_CHECK_ERR(fl_idx_value_encode(&e, buf, sizeof buf, &n, NULL), FL_ETOOBIG);
  v.flags = 0x80;
  FL_CHECK_ERR(fl_idx_value_encode(&v, buf, sizeof buf, &n, NULL), -EINVAL);
}

/* Rewrites the CRC so a structural defect is what the decoder must catch. */
static void reseal(uint8_t *buf, size_t n) {
  uint32_t c = fl_crc32c(buf, n - 4);
  for (int i = 0; i < 4; i++)
    buf[n - 4 + i] = (uint8_t)(c >> (8 * i));
}

static void test_value_refusals(void) {
  uint8_t buf[FL_IDX_VALUE_MAX + 8], b2[FL_IDX_VALUE_MAX + 8];
  size_t n;
  fl_idx_value_t v = sample_value(), d;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_idx_value_encode(&v, buf, sizeof buf, &n, NULL));
  /* Empty and every truncation. */
  FL_CHECK_ERR(fl_idx_value_decode(buf, 0, &d, &em), FL_ETRUNC);
  FL_CHECK(strstr(em.msg, "empty") != NULL);
  for (size_t i = 1; i < n; i++) {
    int rc = fl_idx_value_decode(buf, i, &d, NULL);
    FL_CHECK(rc == FL_ETRUNC);
  }
  /* Every single-bit flip is detected. */
  for (size_t i = 0; i < n; i++) {
    for (int bit = 0; bit < 8; bit++) {
      memcpy(b2, buf, n);
      b2[i] ^= (uint8_t)(1u << bit);
      int rc = fl_idx_value_decode(b2, n, &d, NULL);
      if (rc == 0)
        FL__FAIL("flip of byte %zu bit %d went undetected", i, bit);
    }
  }
  memcpy(b2, buf, n);
  b2[30] ^= 1;
  FL_CHECK_ERR(fl_idx_value_decode(b2, n, &d, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "CRC32C") != NULL);
  /* Wrong version. */
  memcpy(b2, buf, n);
  b2[0] = 2;
  FL_CHECK_ERR(fl_idx_value_decode(b2, n, &d, NULL), FL_EVERSION);
  /* Oversized input. */
  memset(b2, 0, sizeof b2);
  b2[0] = FL_IDX_VALUE_VERSION;
  FL_CHECK_ERR(fl_idx_value_decode(b2, FL_IDX_VALUE_MAX + 1, &d, &em), FL_ETOOBIG);
  /* Trailing bytes beyond the declared length. */
  memcpy(b2, buf, n);
  b2[n] = 0;
  FL_CHECK_ERR(fl_idx_value_decode(b2, n + 1, &d, NULL), FL_ECORRUPT);
  /* Structural defects behind a valid CRC. */
  memcpy(b2, buf, n);
  b2[1] = 0x40;
  reseal(b2, n);
  FL_CHECK_ERR(fl_idx_value_decode(b2, n, &d, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "flags") != NULL);
  memcpy(b2, buf, n);
  b2[27] = 1;
  reseal(b2, n);
  FL_CHECK_ERR(fl_idx_value_decode(b2, n, &d, NULL), FL_ECORRUPT);
  memcpy(b2, buf, n);
  b2[FL_IDX_VALUE_FIXED] = 200; /* SOP class length beyond its maximum */
  reseal(b2, n);
  FL_CHECK_ERR(fl_idx_value_decode(b2, n, &d, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "SOP class") != NULL);
  memcpy(b2, buf, n);
  b2[FL_IDX_VALUE_FIXED] = 60; /* within its maximum but overruns the value */
  reseal(b2, n);
  FL_CHECK_ERR(fl_idx_value_decode(b2, n, &d, NULL), FL_ECORRUPT);
  memcpy(b2, buf, n);
  b2[FL_IDX_VALUE_FIXED + 1] = 0; /* NUL inside the SOP class */
  reseal(b2, n);
  FL_CHECK_ERR(fl_idx_value_decode(b2, n, &d, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "NUL") != NULL);
  memcpy(b2, buf, n);
  b2[FL_IDX_VALUE_FIXED] = 24; /* shorter field leaves bytes at the end */
  reseal(b2, n);
  FL_CHECK_ERR(fl_idx_value_decode(b2, n, &d, NULL), FL_ECORRUPT);
  /* Garbage of every length up to the maximum never decodes. */
  for (size_t len = 0; len <= FL_IDX_VALUE_MAX; len++) {
    for (size_t i = 0; i < len; i++)
      b2[i] = (uint8_t)rnd();
    FL_CHECK(fl_idx_value_decode(b2, len, &d, NULL) != 0);
  }
}

static void test_value_cmp(void) {
  fl_idx_value_t a = sample_value(), b = a;
  FL_CHECK_EQ(fl_idx_value_cmp(&a, &b), 0);
  b.seq++;
  FL_CHECK(fl_idx_value_cmp(&a, &b) < 0);
  b = a;
  b.volume++;
  b.offset = 0; /* a relocation to a newer volume wins at equal seq */
  FL_CHECK(fl_idx_value_cmp(&b, &a) > 0);
  b = a;
  b.offset--;
  FL_CHECK(fl_idx_value_cmp(&b, &a) < 0);
}

/* The object hash is part of the repair contract (digests are compared
 * across nodes): a golden value, the same for every fragment index, and the
 * FNV-1a + fmix64 definition recomputed here by hand. */
static void test_obj_hash(void) {
  fl_idx_key_t k;
  FL_CHECK_OK(fl_idx_key_make(&k, 7, "hosp", "1.2.3", "1.2.3.4", "1.2.3.4.5", 0, NULL));
  FL_CHECK(fl_idx_key_obj_hash(&k) == UINT64_C(0xd15daca7465330df));
  k.frag = 9;
  FL_CHECK(fl_idx_key_obj_hash(&k) == UINT64_C(0xd15daca7465330df));
  uint8_t b[FL_IDX_KEY_MAX];
  size_t n = 0;
  FL_CHECK_OK(fl_idx_key_encode(&k, FL_IDX_LVL_OBJECT, b, sizeof b, &n, NULL));
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= UINT64_C(0x100000001b3);
  }
  h ^= h >> 33;
  h *= UINT64_C(0xff51afd7ed558ccd);
  h ^= h >> 33;
  h *= UINT64_C(0xc4ceb9fe1a85ec53);
  h ^= h >> 33;
  FL_CHECK(fl_idx_key_obj_hash(&k) == h);
  /* Any field of the object changes it. */
  fl_idx_key_t o = k;
  o.pg = 8;
  FL_CHECK(fl_idx_key_obj_hash(&o) != h);
  o = k;
  snprintf(o.sop, sizeof o.sop, "1.2.3.4.6");
  FL_CHECK(fl_idx_key_obj_hash(&o) != h);
  o = k;
  snprintf(o.tenant, sizeof o.tenant, "bad tenant");
  FL_CHECK(fl_idx_key_obj_hash(&o) == 0);
}

int main(void) {
  FL_RUN(test_trap_1_2_3);
  FL_RUN(test_order_and_prefix_random);
  FL_RUN(test_key_round_trip);
  FL_RUN(test_key_refusals);
  FL_RUN(test_value_round_trip);
  FL_RUN(test_value_refusals);
  FL_RUN(test_value_cmp);
  FL_RUN(test_obj_hash);
  FL_DONE();
}
