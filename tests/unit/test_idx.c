/* Unit tests for fl_idx on a real RocksDB in a temporary directory: get /
 * put / tombstones, study and series scans with paging, newest-wins,
 * checkpoint persistence across reopen, index comparison, bad paths. */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "fl_idx.h"
#include "fl_idx_replay.h"
#include "fl_test.h"

static char base[512];

static void tmpdir_init(void) {
  const char *t = getenv("FL_TMP");
  snprintf(base, sizeof base, "%s/test_idx.XXXXXX", t && *t ? t : "/tmp");
  FL_CHECK(mkdtemp(base) != NULL);
}

static void path_of(char *out, size_t cap, const char *name) {
  snprintf(out, cap, "%s/%s", base, name);
}

static fl_idx_t *open_idx(const char *name) {
  char p[600];
  fl_idx_t *idx = NULL;
  fl_errmsg_t em = {{0}};
  path_of(p, sizeof p, name);
  int rc = fl_idx_open(p, NULL, &idx, &em);
  if (rc != 0)
    FL__FAIL("open %s: %s", p, fl_errmsg_str(&em, rc));
  return idx;
}

static void drop_idx(fl_idx_t *idx, const char *name) {
  char p[600];
  fl_idx_close(idx);
  path_of(p, sizeof p, name);
  FL_CHECK_OK(fl_idx_destroy(p, NULL));
  rmdir(p);
}

static fl_idx_key_t key(uint32_t pg, const char *study, const char *series, const char *sop,
                        uint16_t frag) {
  fl_idx_key_t k;
  FL_CHECK_OK(fl_idx_key_make(&k, pg, "hosp-a", study, series, sop, frag, NULL));
  return k;
}

static fl_idx_value_t val(uint64_t seq, uint32_t vol, uint64_t off) {
  fl_idx_value_t v;
  memset(&v, 0, sizeof v);
  fl_idx_attrs_clear(&v.attrs);
  v.seq = seq;
  v.volume = vol;
  v.offset = off;
  v.rec_len = 1000;
  v.crc = (uint32_t)(seq * 2654435761u);
  v.obj_size = 4096;
  strcpy(v.attrs.modality, "MR");
  v.attrs.patient_name_len = 3;
  memcpy(v.attrs.patient_name, "X^Y", 3);
  return v;
}

static void test_put_get_tombstone(void) {
  fl_idx_t *idx = open_idx("basic");
  fl_idx_key_t k = key(3, "1.2.3", "1.2.3.4", "1.2.3.4.5", 1);
  fl_idx_value_t v = val(10, 1, 128), out;
  int applied = -1;
  FL_CHECK_ERR(fl_idx_get(idx, &k, 0, &out, NULL), FL_ENOTFOUND);
  FL_CHECK_ERR(fl_idx_put(idx, &k, &v, &applied, NULL), -EINVAL); /* fragment 0 vs 1 */
  v.frag = 1;
  FL_CHECK_OK(fl_idx_put(idx, &k, &v, &applied, NULL));
  FL_CHECK_EQ(applied, 1);
  FL_CHECK_OK(fl_idx_get(idx, &k, 0, &out, NULL));
  FL_CHECK(out.seq == 10 && out.volume == 1 && out.offset == 128);
  FL_CHECK_STR(out.attrs.modality, "MR");
  FL_CHECK_MEM(out.attrs.patient_name, "X^Y", 3);
  /* Another fragment of the same object is a different entry. */
  fl_idx_key_t k0 = k;
  k0.frag = 0;
  FL_CHECK_ERR(fl_idx_get(idx, &k0, 0, &out, NULL), FL_ENOTFOUND);
  /* A newer tombstone hides the entry but is kept, with its seq. */
  fl_idx_value_t t = val(11, 1, 4096);
  t.flags = FL_IDX_VF_TOMBSTONE;
  t.frag = 1;
  FL_CHECK_OK(fl_idx_put(idx, &k, &t, &applied, NULL));
  FL_CHECK_EQ(applied, 1);
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(fl_idx_get(idx, &k, 0, &out, &em), FL_ENOTFOUND);
  FL_CHECK(strstr(em.msg, "deleted") != NULL);
  FL_CHECK_OK(fl_idx_get(idx, &k, FL_IDX_WITH_TOMBSTONES, &out, NULL));
  FL_CHECK(out.seq == 11 && (out.flags & FL_IDX_VF_TOMBSTONE));
  /* Replaying the older put does not resurrect the object. */
  FL_CHECK_OK(fl_idx_put(idx, &k, &v, &applied, NULL));
  FL_CHECK_EQ(applied, 0);
  FL_CHECK_ERR(fl_idx_get(idx, &k, 0, &out, NULL), FL_ENOTFOUND);
  /* Forget removes the tombstone itself. */
  fl_idx_batch_t *b;
  FL_CHECK_OK(fl_idx_batch_begin(idx, &b, NULL));
  FL_CHECK_OK(fl_idx_batch_forget(b, &k, NULL));
  FL_CHECK_OK(fl_idx_batch_commit(b, NULL));
  FL_CHECK_ERR(fl_idx_get(idx, &k, FL_IDX_WITH_TOMBSTONES, &out, NULL), FL_ENOTFOUND);
  /* In one batch: apply, forget, then an older record: it is applied since
   * the key has no entry any more; the ops land in order. */
  v.seq = 30;
  FL_CHECK_OK(fl_idx_batch_begin(idx, &b, NULL));
  FL_CHECK_OK(fl_idx_batch_apply(b, &k, &v, &applied, NULL));
  FL_CHECK_EQ(applied, 1);
  FL_CHECK_OK(fl_idx_batch_forget(b, &k, NULL));
  v.seq = 20;
  FL_CHECK_OK(fl_idx_batch_apply(b, &k, &v, &applied, NULL));
  FL_CHECK_EQ(applied, 1);
  v.seq = 19;
  FL_CHECK_OK(fl_idx_batch_apply(b, &k, &v, &applied, NULL));
  FL_CHECK_EQ(applied, 0);
  FL_CHECK_OK(fl_idx_batch_commit(b, NULL));
  FL_CHECK_OK(fl_idx_get(idx, &k, 0, &out, NULL));
  FL_CHECK(out.seq == 20);
  drop_idx(idx, "basic");
}

static void test_newest_wins(void) {
  fl_idx_t *idx = open_idx("newest");
  fl_idx_key_t k = key(1, "1.9", "1.9.1", "1.9.1.1", 0);
  fl_idx_value_t out, v;
  int applied;
  v = val(50, 2, 100);
  FL_CHECK_OK(fl_idx_put(idx, &k, &v, &applied, NULL));
  FL_CHECK_EQ(applied, 1);
  v = val(49, 9, 0); /* older seq, even from a later volume */
  FL_CHECK_OK(fl_idx_put(idx, &k, &v, &applied, NULL));
  FL_CHECK_EQ(applied, 0);
  v = val(50, 2, 100); /* same record again: idempotent */
  FL_CHECK_OK(fl_idx_put(idx, &k, &v, &applied, NULL));
  FL_CHECK_EQ(applied, 0);
  v = val(50, 3, 8); /* relocated by compaction into a newer volume */
  FL_CHECK_OK(fl_idx_put(idx, &k, &v, &applied, NULL));
  FL_CHECK_EQ(applied, 1);
  FL_CHECK_OK(fl_idx_get(idx, &k, 0, &out, NULL));
  FL_CHECK(out.volume == 3 && out.offset == 8);
  /* Inside one batch the batch's own pending entry is compared too. */
  fl_idx_batch_t *b, *b2;
  FL_CHECK_OK(fl_idx_batch_begin(idx, &b, NULL));
  FL_CHECK_ERR(fl_idx_batch_begin(idx, &b2, NULL), FL_EINTERNAL);
  v = val(70, 4, 0);
  FL_CHECK_OK(fl_idx_batch_apply(b, &k, &v, &applied, NULL));
  FL_CHECK_EQ(applied, 1);
  v = val(60, 4, 100);
  FL_CHECK_OK(fl_idx_batch_apply(b, &k, &v, &applied, NULL));
  FL_CHECK_EQ(applied, 0);
  FL_CHECK_EQ(fl_idx_batch_count(b), 1);
  FL_CHECK_OK(fl_idx_batch_commit(b, NULL));
  FL_CHECK_OK(fl_idx_get(idx, &k, 0, &out, NULL));
  FL_CHECK(out.seq == 70);
  /* Abort writes nothing and frees the batch slot. */
  FL_CHECK_OK(fl_idx_batch_begin(idx, &b, NULL));
  v = val(80, 5, 0);
  FL_CHECK_OK(fl_idx_batch_apply(b, &k, &v, &applied, NULL));
  fl_idx_batch_abort(b);
  FL_CHECK_OK(fl_idx_get(idx, &k, 0, &out, NULL));
  FL_CHECK(out.seq == 70);
  drop_idx(idx, "newest");
}

struct collect {
  int n;
  fl_idx_key_t keys[64];
  int stop_at;
};

static int collect_cb(void *arg, const fl_idx_key_t *k, const fl_idx_value_t *v) {
  struct collect *c = arg;
  (void)v;
  if (c->n < 64)
    c->keys[c->n] = *k;
  c->n++;
  return c->stop_at && c->n == c->stop_at ? 42 : 0;
}

static int count_cb(void *arg, const fl_idx_key_t *k, const fl_idx_value_t *v) {
  (void)k;
  (void)v;
  (*(int *)arg)++;
  return 0;
}

/* Study 1.2.3 with 12 series x 10 instances, the decoy studies 1.2.34 and
 * 1.2.3.0 in the same pg and tenant, and 1.2.3 under another tenant. */
static void fill_study(fl_idx_t *idx) {
  fl_idx_batch_t *b;
  char se[65], sop[65];
  uint64_t seq = 1;
  FL_CHECK_OK(fl_idx_batch_begin(idx, &b, NULL));
  for (int s = 0; s < 12; s++)
    for (int i = 0; i < 10; i++) {
      snprintf(se, sizeof se, "1.2.3.%d", s);
      snprintf(sop, sizeof sop, "1.2.3.%d.%d", s, i);
      fl_idx_key_t k = key(5, "1.2.3", se, sop, 0);
      fl_idx_value_t v = val(seq, 1, seq * 100);
      seq++;
      FL_CHECK_OK(fl_idx_batch_apply(b, &k, &v, NULL, NULL));
    }
  const char *decoys[] = {"1.2.34", "1.2.3.0", "1.2.2"};
  for (int d = 0; d < 3; d++) {
    fl_idx_key_t k = key(5, decoys[d], "1.2.3.0", "1.2.3.0.0", 0);
    fl_idx_value_t v = val(seq, 1, seq * 100);
    seq++;
    FL_CHECK_OK(fl_idx_batch_apply(b, &k, &v, NULL, NULL));
  }
  fl_idx_key_t k;
  FL_CHECK_OK(fl_idx_key_make(&k, 5, "hosp", "1.2.3", "1.2.3.0", "1.2.3.0.0", 0, NULL));
  fl_idx_value_t v = val(seq++, 1, 1);
  FL_CHECK_OK(fl_idx_batch_apply(b, &k, &v, NULL, NULL));
  FL_CHECK_OK(fl_idx_batch_commit(b, NULL));
}

static void test_prefix_scans_and_paging(void) {
  fl_idx_t *idx = open_idx("scan");
  fill_study(idx);
  int n = 0;
  size_t count = 0;
  FL_CHECK_OK(fl_idx_scan_study(idx, 5, "hosp-a", "1.2.3", NULL, 0, count_cb, &n, &count, NULL));
  FL_CHECK_EQ(n, 120);
  FL_CHECK_EQ(count, 120);
  /* One series. */
  fl_idx_key_t p = key(5, "1.2.3", "1.2.3.1", "1", 0);
  n = 0;
  FL_CHECK_OK(fl_idx_scan(idx, FL_IDX_LVL_SERIES, &p, NULL, 0, 0, count_cb, &n, NULL, NULL));
  FL_CHECK_EQ(n, 10); /* 1.2.3.1 but not 1.2.3.10 / 1.2.3.11 */
  /* Tenant and pg levels include the decoys; whole index everything. */
  n = 0;
  FL_CHECK_OK(fl_idx_scan(idx, FL_IDX_LVL_TENANT, &p, NULL, 0, 0, count_cb, &n, NULL, NULL));
  FL_CHECK_EQ(n, 123);
  n = 0;
  FL_CHECK_OK(fl_idx_scan(idx, FL_IDX_LVL_PG, &p, NULL, 0, 0, count_cb, &n, NULL, NULL));
  FL_CHECK_EQ(n, 124);
  n = 0;
  FL_CHECK_OK(fl_idx_scan(idx, FL_IDX_LVL_ALL, NULL, NULL, 0, 0, count_cb, &n, NULL, NULL));
  FL_CHECK_EQ(n, 124);
  FL_CHECK_ERR(fl_idx_scan(idx, FL_IDX_LVL_STUDY, NULL, NULL, 0, 0, count_cb, &n, NULL, NULL),
               -EINVAL);
  p.pg = 6;
  n = 0;
  FL_CHECK_OK(fl_idx_scan(idx, FL_IDX_LVL_PG, &p, NULL, 0, 0, count_cb, &n, NULL, NULL));
  FL_CHECK_EQ(n, 0);
  /* Paging through the study 7 entries at a time visits each once, in order. */
  fl_idx_cursor_t cur;
  cur.len = 0;
  int total = 0;
  char prev[200] = "";
  for (;;) {
    struct collect c;
    memset(&c, 0, sizeof c);
    FL_CHECK_OK(fl_idx_scan_study(idx, 5, "hosp-a", "1.2.3", &cur, 7, collect_cb, &c, &count,
                                  NULL));
    FL_CHECK_EQ((size_t)c.n, count);
    for (int i = 0; i < c.n; i++) {
      char now[200];
      /* \x01 sorts below digits and dots, like the key's terminator. */
      snprintf(now, sizeof now, "%s\x01%s", c.keys[i].series, c.keys[i].sop);
      FL_CHECK(strcmp(prev, now) < 0);
      FL_CHECK_STR(c.keys[i].study, "1.2.3");
      strcpy(prev, now);
    }
    total += c.n;
    if (count < 7)
      break;
  }
  FL_CHECK_EQ(total, 120);
  /* A callback's non-zero return stops the scan and is returned. */
  struct collect c;
  memset(&c, 0, sizeof c);
  c.stop_at = 5;
  FL_CHECK_EQ(fl_idx_scan_study(idx, 5, "hosp-a", "1.2.3", NULL, 0, collect_cb, &c, &count,
                                NULL), 42);
  FL_CHECK_EQ(c.n, 5);
  /* Iterator object: resume after the raw key of the 3rd entry. */
  fl_idx_key_t sp = key(5, "1.2.3", "1", "1", 0);
  fl_idx_iter_t *it;
  fl_idx_key_t k;
  uint8_t after[FL_IDX_KEY_MAX];
  size_t al = 0;
  FL_CHECK_OK(fl_idx_iter_open(idx, FL_IDX_LVL_STUDY, &sp, NULL, 0, 0, &it, NULL));
  FL_CHECK(fl_idx_iter_rawkey(it, &al) == NULL);
  for (int i = 0; i < 3; i++)
    FL_CHECK_EQ(fl_idx_iter_next(it, &k, NULL, NULL), 1);
  const uint8_t *rk = fl_idx_iter_rawkey(it, &al);
  memcpy(after, rk, al);
  fl_idx_key_t third = k;
  fl_idx_iter_close(it);
  FL_CHECK_OK(fl_idx_iter_open(idx, FL_IDX_LVL_STUDY, &sp, after, al, 0, &it, NULL));
  FL_CHECK_EQ(fl_idx_iter_next(it, &k, NULL, NULL), 1);
  FL_CHECK(strcmp(k.sop, third.sop) > 0 || strcmp(k.series, third.series) > 0);
  n = 1;
  while (fl_idx_iter_next(it, NULL, NULL, NULL) == 1)
    n++;
  FL_CHECK_EQ(n, 117);
  FL_CHECK_EQ(fl_idx_iter_next(it, NULL, NULL, NULL), 0);
  fl_idx_iter_close(it);
  /* Tombstones are skipped by scans unless asked for. */
  fl_idx_key_t dk = key(5, "1.2.3", "1.2.3.1", "1.2.3.1.0", 0);
  fl_idx_value_t t = val(1000, 2, 0);
  t.flags = FL_IDX_VF_TOMBSTONE;
  FL_CHECK_OK(fl_idx_put(idx, &dk, &t, NULL, NULL));
  n = 0;
  FL_CHECK_OK(fl_idx_scan_study(idx, 5, "hosp-a", "1.2.3", NULL, 0, count_cb, &n, NULL, NULL));
  FL_CHECK_EQ(n, 119);
  n = 0;
  FL_CHECK_OK(fl_idx_scan(idx, FL_IDX_LVL_STUDY, &sp, NULL, 0, FL_IDX_WITH_TOMBSTONES, count_cb,
                          &n, NULL, NULL));
  FL_CHECK_EQ(n, 120);
  fl_idx_stats_t st;
  FL_CHECK_OK(fl_idx_stats(idx, &st, NULL));
  FL_CHECK(st.approx_keys >= 100);
  drop_idx(idx, "scan");
}

static void test_checkpoint_persists(void) {
  fl_idx_t *idx = open_idx("ckpt");
  fl_idx_ckpt_t ck;
  FL_CHECK_ERR(fl_idx_ckpt_get(idx, &ck, NULL), FL_ENOTFOUND);
  fl_idx_batch_t *b;
  FL_CHECK_OK(fl_idx_batch_begin(idx, &b, NULL));
  fl_idx_key_t k = key(2, "1.5", "1.5.1", "1.5.1.1", 0);
  fl_idx_value_t v = val(5, 7, 700);
  FL_CHECK_OK(fl_idx_batch_apply(b, &k, &v, NULL, NULL));
  fl_idx_ckpt_t w = {7, 1234};
  fl_idx_batch_ckpt(b, &w);
  w.offset = 1700; /* the last call wins */
  fl_idx_batch_ckpt(b, &w);
  FL_CHECK_OK(fl_idx_batch_commit(b, NULL));
  fl_idx_close(idx);
  idx = open_idx("ckpt");
  FL_CHECK_OK(fl_idx_ckpt_get(idx, &ck, NULL));
  FL_CHECK_EQ(ck.volume, 7);
  FL_CHECK_EQ(ck.offset, 1700);
  fl_idx_value_t out;
  FL_CHECK_OK(fl_idx_get(idx, &k, 0, &out, NULL));
  FL_CHECK(out.offset == 700);
  /* The checkpoint key is metadata: never listed by a scan. */
  int n = 0;
  FL_CHECK_OK(fl_idx_scan(idx, FL_IDX_LVL_ALL, NULL, NULL, 0, FL_IDX_WITH_TOMBSTONES, count_cb,
                          &n, NULL, NULL));
  FL_CHECK_EQ(n, 1);
  drop_idx(idx, "ckpt");
}

struct diffs {
  int only_a, only_b, value;
};

static void diff_cb(void *arg, enum fl_idx_diff_kind kind, const uint8_t *key, size_t len) {
  struct diffs *d = arg;
  fl_idx_key_t k;
  FL_CHECK_OK(fl_idx_key_decode(key, len, &k, NULL));
  if (kind == FL_IDX_DIFF_ONLY_A)
    d->only_a++;
  else if (kind == FL_IDX_DIFF_ONLY_B)
    d->only_b++;
  else
    d->value++;
}

static void test_compare(void) {
  fl_idx_t *a = open_idx("cmp_a"), *b = open_idx("cmp_b");
  fill_study(a);
  fill_study(b);
  fl_idx_diff_t d;
  struct diffs cd = {0, 0, 0};
  FL_CHECK_OK(fl_idx_compare(a, b, diff_cb, &cd, &d, NULL));
  FL_CHECK(d.equal == 124 && d.only_a == 0 && d.only_b == 0 && d.differ == 0);
  /* Differences of each kind; the checkpoint alone is not one. */
  fl_idx_batch_t *bb;
  FL_CHECK_OK(fl_idx_batch_begin(b, &bb, NULL));
  fl_idx_ckpt_t ck = {9, 9};
  fl_idx_batch_ckpt(bb, &ck);
  FL_CHECK_OK(fl_idx_batch_commit(bb, NULL));
  FL_CHECK_OK(fl_idx_compare(a, b, NULL, NULL, &d, NULL));
  FL_CHECK_EQ(d.equal, 124);
  fl_idx_key_t k1 = key(5, "1.2.3", "1.2.3.2", "1.2.3.2.2", 0);
  fl_idx_value_t v = val(500, 3, 0);
  FL_CHECK_OK(fl_idx_put(b, &k1, &v, NULL, NULL));
  fl_idx_key_t k2 = key(9, "1.7", "1.7.1", "1.7.1.1", 3);
  v.frag = 3;
  FL_CHECK_OK(fl_idx_put(b, &k2, &v, NULL, NULL));
  fl_idx_key_t k3 = key(0, "1.1", "1.1.1", "1.1.1.1", 3);
  FL_CHECK_OK(fl_idx_put(a, &k3, &v, NULL, NULL));
  FL_CHECK_OK(fl_idx_compare(a, b, diff_cb, &cd, &d, NULL));
  FL_CHECK(d.equal == 123 && d.only_a == 1 && d.only_b == 1 && d.differ == 1);
  FL_CHECK(cd.only_a == 1 && cd.only_b == 1 && cd.value == 1);
  drop_idx(a, "cmp_a");
  drop_idx(b, "cmp_b");
}

/* A damaged value (written behind the index's back) is reported by get
 * and scans, and a newer record from the volumes replaces it. */
static void test_corrupt_value(void) {
  char p[600];
  fl_idx_t *idx = open_idx("corrupt");
  fl_idx_key_t k = key(4, "1.4", "1.4.1", "1.4.1.1", 0);
  fl_idx_value_t v = val(5, 1, 10), out;
  FL_CHECK_OK(fl_idx_put(idx, &k, &v, NULL, NULL));
  fl_idx_close(idx);
  path_of(p, sizeof p, "corrupt");
  uint8_t kb[FL_IDX_KEY_MAX];
  size_t kl;
  FL_CHECK_OK(fl_idx_key_encode(&k, FL_IDX_LVL_KEY, kb, sizeof kb, &kl, NULL));
  char *err = NULL;
  rocksdb_options_t *o = rocksdb_options_create();
  rocksdb_t *db = rocksdb_open(o, p, &err);
  FL_CHECK(err == NULL);
  rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
  rocksdb_put(db, wo, (const char *)kb, kl, "\x01garbage", 8, &err);
  FL_CHECK(err == NULL);
  rocksdb_writeoptions_destroy(wo);
  rocksdb_close(db);
  rocksdb_options_destroy(o);
  idx = open_idx("corrupt");
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(fl_idx_get(idx, &k, 0, &out, &em), FL_ETRUNC);
  FL_CHECK(strstr(em.msg, "1.4.1.1") != NULL);
  int n = 0;
  FL_CHECK_ERR(fl_idx_scan(idx, FL_IDX_LVL_ALL, NULL, NULL, 0, 0, count_cb, &n, NULL, &em),
               FL_ETRUNC);
  FL_CHECK(strstr(em.msg, "index entry") != NULL);
  int applied = 0;
  v = val(1, 1, 0); /* even an older record wins over a damaged entry */
  FL_CHECK_OK(fl_idx_put(idx, &k, &v, &applied, NULL));
  FL_CHECK_EQ(applied, 1);
  FL_CHECK_OK(fl_idx_get(idx, &k, 0, &out, NULL));
  FL_CHECK(out.seq == 1);
  drop_idx(idx, "corrupt");
}

/* ---- Replay and rebuild ------------------------------------------------ */

enum { NREC = 1200 };
static fl_idx_record_t recs[NREC];

struct source {
  const fl_idx_record_t *recs;
  size_t n, pos, fail_at; /* fail_at: return -EIO there (0: never) */
  const size_t *order;    /* optional permutation */
};

static int source_next(void *arg, fl_idx_record_t *rec, fl_errmsg_t *em) {
  struct source *s = arg;
  if (s->fail_at && s->pos == s->fail_at)
    return fl_errf(em, -EIO, "volume read failed at record %zu", s->pos);
  if (s->pos == s->n)
    return 0;
  *rec = s->recs[s->order ? s->order[s->pos] : s->pos];
  s->pos++;
  return 1;
}

static uint32_t lcg = 777;
static uint32_t next_rand(void) {
  lcg = lcg * 1664525u + 1013904223u;
  return lcg >> 8;
}

/* A volume log: 60 keys (3 studies x 4 series x 5 instances, fragment
 * 0..2 mixed), rewritten, deleted and relocated by compaction. */
static void make_log(void) {
  for (size_t i = 0; i < NREC; i++) {
    fl_idx_record_t *r = &recs[i];
    uint32_t vol = (uint32_t)(i / 100 + 1);
    uint64_t off = (i % 100) * 512;
    uint32_t x = next_rand();
    if (i > 50 && x % 10 == 0) {
      /* compaction copy of an earlier record: same seq, new location */
      *r = recs[next_rand() % i];
    } else {
      char st[65], se[65], sop[65];
      unsigned id = next_rand() % 60;
      snprintf(st, sizeof st, "1.3.%u", id / 20);
      snprintf(se, sizeof se, "1.3.%u.%u", id / 20, id / 5 % 4);
      snprintf(sop, sizeof sop, "1.3.%u.%u.%u", id / 20, id / 5 % 4, id % 5);
      r->key = key(10 + id / 20, st, se, sop, (uint16_t)(id % 3));
      r->val = val(i + 1, 0, 0);
      r->val.frag = r->key.frag;
      if (x % 7 == 0)
        r->val.flags |= FL_IDX_VF_TOMBSTONE;
    }
    r->val.volume = vol;
    r->val.offset = off;
    r->next.volume = off + 512 == 100 * 512 ? vol + 1 : vol;
    r->next.offset = off + 512 == 100 * 512 ? 0 : off + 512;
  }
}

static void expect_equal(fl_idx_t *a, fl_idx_t *b) {
  fl_idx_diff_t d;
  FL_CHECK_OK(fl_idx_compare(a, b, NULL, NULL, &d, NULL));
  if (d.only_a || d.only_b || d.differ)
    FL__FAIL("indexes differ: %llu only in a, %llu only in b, %llu values (%llu equal)",
             (unsigned long long)d.only_a, (unsigned long long)d.only_b,
             (unsigned long long)d.differ, (unsigned long long)d.equal);
  FL_CHECK(d.equal > 0);
}

static void test_rebuild_equals_original(void) {
  make_log();
  /* The original: records applied one by one as they were written. */
  fl_idx_t *orig = open_idx("orig");
  for (size_t i = 0; i < NREC; i++)
    FL_CHECK_OK(fl_idx_put(orig, &recs[i].key, &recs[i].val, NULL, NULL));
  /* Rebuild from the log alone, in batches. */
  fl_idx_t *re = open_idx("rebuilt");
  struct source src = {recs, NREC, 0, 0, NULL};
  fl_idx_replay_stats_t st;
  FL_CHECK_OK(fl_idx_replay(re, source_next, &src, 7, &st, NULL));
  FL_CHECK_EQ(st.records, NREC);
  FL_CHECK_EQ(st.batches, (NREC + 6) / 7);
  FL_CHECK(st.applied < NREC); /* compaction copies of superseded records lose */
  expect_equal(orig, re);
  fl_idx_ckpt_t ck;
  FL_CHECK_OK(fl_idx_ckpt_get(re, &ck, NULL));
  FL_CHECK_EQ(ck.volume, NREC / 100 + 1);
  FL_CHECK_EQ(ck.offset, 0);
  /* Replaying everything again changes nothing (idempotent). */
  src.pos = 0;
  FL_CHECK_OK(fl_idx_replay(re, source_next, &src, 100, &st, NULL));
  FL_CHECK_EQ(st.applied, 0);
  expect_equal(orig, re);
  drop_idx(re, "rebuilt");
  /* Any order gives the same index (newest wins is a maximum). */
  static size_t order[NREC];
  for (size_t i = 0; i < NREC; i++)
    order[i] = i;
  for (size_t i = NREC - 1; i > 0; i--) {
    size_t j = next_rand() % (i + 1), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  fl_idx_t *sh = open_idx("shuffled");
  struct source ssrc = {recs, NREC, 0, 0, order};
  FL_CHECK_OK(fl_idx_replay(sh, source_next, &ssrc, 64, NULL, NULL));
  expect_equal(orig, sh);
  drop_idx(sh, "shuffled");
  drop_idx(orig, "orig");
}

static void test_crash_resume_from_checkpoint(void) {
  fl_idx_t *orig = open_idx("orig2");
  struct source all = {recs, NREC, 0, 0, NULL};
  FL_CHECK_OK(fl_idx_replay(orig, source_next, &all, 0, NULL, NULL));
  /* The volume reader fails at record 437: batches of 50 up to 400 stay. */
  fl_idx_t *c = open_idx("crash");
  struct source src = {recs, NREC, 0, 437, NULL};
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(fl_idx_replay(c, source_next, &src, 50, NULL, &em), -EIO);
  FL_CHECK(strstr(em.msg, "437") != NULL);
  fl_idx_close(c);
  c = open_idx("crash");
  fl_idx_ckpt_t ck;
  FL_CHECK_OK(fl_idx_ckpt_get(c, &ck, NULL));
  FL_CHECK(ck.volume == recs[399].next.volume && ck.offset == recs[399].next.offset);
  /* Resume at the first record at or after the checkpoint. */
  size_t from = 0;
  while (from < NREC && (recs[from].val.volume < ck.volume ||
                         (recs[from].val.volume == ck.volume && recs[from].val.offset < ck.offset)))
    from++;
  FL_CHECK_EQ(from, 400);
  struct source rest = {recs, NREC, from, 0, NULL};
  FL_CHECK_OK(fl_idx_replay(c, source_next, &rest, 50, NULL, NULL));
  expect_equal(orig, c);
  drop_idx(c, "crash");
  drop_idx(orig, "orig2");
}

/* An index written in another format is refused with a hint to rebuild. */
static void test_format_version(void) {
  char p[600];
  fl_idx_close(open_idx("format"));
  path_of(p, sizeof p, "format");
  static const char fmt_key[] = {(char)0xff, (char)0xff, (char)0xff, (char)0xff, 'f', 'm', 't'};
  char *err = NULL;
  rocksdb_options_t *o = rocksdb_options_create();
  rocksdb_t *db = rocksdb_open(o, p, &err);
  FL_CHECK(err == NULL);
  rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
  rocksdb_put(db, wo, fmt_key, sizeof fmt_key, "\x02", 1, &err);
  FL_CHECK(err == NULL);
  rocksdb_writeoptions_destroy(wo);
  rocksdb_close(db);
  rocksdb_options_destroy(o);
  fl_idx_t *idx = NULL;
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(fl_idx_open(p, NULL, &idx, &em), FL_EVERSION);
  FL_CHECK(idx == NULL);
  FL_CHECK(strstr(em.msg, "rebuild") != NULL);
  FL_CHECK_OK(fl_idx_destroy(p, NULL));
  rmdir(p);
}

static void test_bad_path(void) {
  fl_idx_t *idx = NULL;
  fl_errmsg_t em = {{0}};
  char p[600];
  path_of(p, sizeof p, "file");
  FILE *f = fopen(p, "w");
  FL_CHECK(f != NULL);
  fclose(f);
  char sub[700];
  snprintf(sub, sizeof sub, "%s/db", p); /* a directory under a regular file */
  FL_CHECK_ERR(fl_idx_open(sub, NULL, &idx, &em), FL_ESTORE);
  FL_CHECK(idx == NULL);
  FL_CHECK(strstr(em.msg, sub) != NULL);
  FL_CHECK(strlen(em.msg) > strlen(sub) + 10);
  unlink(p);
}

int main(void) {
  tmpdir_init();
  FL_RUN(test_put_get_tombstone);
  FL_RUN(test_newest_wins);
  FL_RUN(test_prefix_scans_and_paging);
  FL_RUN(test_checkpoint_persists);
  FL_RUN(test_compare);
  FL_RUN(test_corrupt_value);
  FL_RUN(test_rebuild_equals_original);
  FL_RUN(test_crash_resume_from_checkpoint);
  FL_RUN(test_format_version);
  FL_RUN(test_bad_path);
  rmdir(base);
  FL_DONE();
}
