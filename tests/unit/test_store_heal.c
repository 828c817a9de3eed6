/* Unit tests of the store's repair primitives on real files: the
 * per-(pg, frag) summaries against a full index scan (after puts, deletes,
 * drops, a replay of the whole index and a rebuild), drops (hidden, never
 * listed as deletes, a later put stores the fragment again) and quarantine
 * of corrupt records found by a scrub or a read. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "fl_crc32c.h"
#include "fl_proc.h"
#include "fl_store.h"
#include "fl_store_pgs.h"
#include "fl_test.h"
#include "fl_vol_record.h"

static char dir[400];

static void fill(uint8_t *b, size_t n, uint32_t seed) {
  for (size_t i = 0; i < n; i++)
    b[i] = (uint8_t)((i * 31u + seed * 7u) ^ (i >> 7));
}

#define PAYLOAD_MAX 9000

/* Object i, fragment f: pg i % 5, replicas for every third object. */
static fl_store_put_t make_put(int i, uint16_t f, uint8_t *buf) {
  fl_store_put_t p;
  memset(&p, 0, sizeof p);
  char sop[80];
  snprintf(sop, sizeof sop, "1.2.840.%d", i + 1);
  FL_CHECK_OK(fl_idx_key_make(&p.key, (uint32_t)(i % 5), "hosp", "1.2.3", "1.2.3.4", sop, f,
                              NULL));
  fl_idx_attrs_clear(&p.attrs);
  snprintf(p.attrs.modality, sizeof p.attrs.modality, "MR");
  p.layout = i % 3 ? 1 : 0;
  size_t n = 4000 + (size_t)(i * 37 + f) % 5000;
  fill(buf, n, (uint32_t)(i * 16 + f));
  p.obj_size = n * 4;
  p.payload = buf;
  p.payload_len = n;
  p.payload_crc = fl_crc32c(buf, n);
  return p;
}

static void open_store(fl_store_t **s) {
  fl_store_opts_t o;
  memset(&o, 0, sizeof o);
  o.volume_max_bytes = 1 << 20;
  fl_errmsg_t em = {{0}};
  int rc = fl_store_open(dir, &o, s, NULL, &em);
  if (rc)
    fprintf(stderr, "open: %s\n", fl_errmsg_str(&em, rc));
  FL_CHECK_OK(rc);
}

/* ---- summaries recomputed from the index ---------------------------------- */

typedef struct scan_ctx {
  fl_store_pg_stat_t st[512];
  size_t n;
} scan_ctx_t;

static int scan_cb(void *arg, const fl_idx_key_t *k, const fl_idx_value_t *v) {
  scan_ctx_t *c = arg;
  FL_CHECK(!(v->flags & FL_IDX_VF_TOMBSTONE));
  size_t i = 0;
  while (i < c->n && (c->st[i].pg != k->pg || c->st[i].frag != k->frag))
    i++;
  if (i == c->n) {
    FL_CHECK(c->n < 512);
    memset(&c->st[c->n], 0, sizeof c->st[0]);
    c->st[c->n].pg = k->pg;
    c->st[c->n].frag = k->frag;
    c->n++;
  }
  fl_store_pg_stat_t *e = &c->st[i];
  if (v->layout) {
    e->ec_count++;
    e->ec_digest ^= fl_idx_key_obj_hash(k);
  } else {
    e->replica_count++;
    e->replica_digest ^= fl_idx_key_obj_hash(k);
  }
  e->bytes += v->rec_len;
  return 0;
}

/* The store's summaries equal the ones computed from a scan of its live
 * index entries (key order is (pg, frag) order only within a PG's objects,
 * so compare as sets). Returns how many entries there are. */
static size_t check_summaries(fl_store_t *s) {
  static scan_ctx_t c;
  c.n = 0;
  FL_CHECK_OK(fl_idx_scan(fl_store_index(s), FL_IDX_LVL_ALL, NULL, NULL, 0, 0, scan_cb, &c,
                          NULL, NULL));
  fl_store_pg_stat_t *st = NULL;
  size_t n = 99;
  FL_CHECK_OK(fl_store_pg_stats(s, &st, &n, NULL));
  FL_CHECK_EQ(n, c.n);
  for (size_t i = 0; i < n; i++) {
    if (i)
      FL_CHECK(st[i - 1].pg < st[i].pg ||
               (st[i - 1].pg == st[i].pg && st[i - 1].frag < st[i].frag));
    size_t j = 0;
    while (j < c.n && (c.st[j].pg != st[i].pg || c.st[j].frag != st[i].frag))
      j++;
    FL_CHECK(j < c.n);
    FL_CHECK_EQ(st[i].ec_count, c.st[j].ec_count);
    FL_CHECK(st[i].ec_digest == c.st[j].ec_digest);
    FL_CHECK_EQ(st[i].replica_count, c.st[j].replica_count);
    FL_CHECK(st[i].replica_digest == c.st[j].replica_digest);
    FL_CHECK_EQ(st[i].bytes, c.st[j].bytes);
  }
  /* And the object counters agree with them. */
  fl_store_stats_t ss;
  FL_CHECK_OK(fl_store_stats(s, &ss, NULL));
  uint64_t objs = 0, bytes = 0;
  for (size_t i = 0; i < n; i++) {
    objs += st[i].ec_count + st[i].replica_count;
    bytes += st[i].bytes;
  }
  FL_CHECK_EQ(ss.objects, objs);
  FL_CHECK_EQ(ss.live_bytes, bytes);
  free(st);
  return n;
}

/* The summaries are right and equal to an earlier snapshot. */
static void check_same(fl_store_t *s, const fl_store_pg_stat_t *before, size_t nb) {
  check_summaries(s);
  fl_store_pg_stat_t *after = NULL;
  size_t na = 0;
  FL_CHECK_OK(fl_store_pg_stats(s, &after, &na, NULL));
  FL_CHECK_EQ(na, nb);
  for (size_t i = 0; i < nb; i++) {
    FL_CHECK_EQ(after[i].pg, before[i].pg);
    FL_CHECK_EQ(after[i].frag, before[i].frag);
    FL_CHECK(after[i].ec_count == before[i].ec_count);
    FL_CHECK(after[i].ec_digest == before[i].ec_digest);
    FL_CHECK(after[i].replica_count == before[i].replica_count);
    FL_CHECK(after[i].replica_digest == before[i].replica_digest);
    FL_CHECK(after[i].bytes == before[i].bytes);
  }
  free(after);
}

/* Reads object i's fragment f: its bytes (present) or FL_ENOTFOUND from
 * both get and lookup (absent). */
static void check_read(fl_store_t *s, int i, uint16_t f, int present) {
  static uint8_t want[PAYLOAD_MAX];
  fl_store_put_t p = make_put(i, f, want);
  fl_idx_value_t v;
  void *base = NULL, *data = NULL;
  uint64_t got = 0;
  int rc = fl_store_get(s, &p.key, 0, 0, &v, &base, &data, &got, NULL);
  if (present) {
    FL_CHECK_OK(rc);
    FL_CHECK_EQ(got, p.payload_len);
    FL_CHECK_MEM(data, want, got);
    free(base);
  } else {
    FL_CHECK_ERR(rc, FL_ENOTFOUND);
    FL_CHECK_ERR(fl_store_lookup(s, &p.key, &v, NULL), FL_ENOTFOUND);
  }
}

#define check_get(s, i, f) check_read(s, i, f, 1)
#define check_absent(s, i, f) check_read(s, i, f, 0)

static void test_summaries(void) {
  fl_store_t *s;
  open_store(&s);
  static uint8_t buf[PAYLOAD_MAX];
  FL_CHECK_EQ(check_summaries(s), 0);
  for (int i = 0; i < 60; i++)
    for (uint16_t f = 0; f < (i % 3 ? 6 : 3); f++) {
      fl_store_put_t p = make_put(i, f, buf);
      FL_CHECK_OK(fl_store_put(s, &p, NULL, NULL));
    }
  size_t n = check_summaries(s);
  FL_CHECK_EQ(n, 5 * 6);
  /* Identical puts again change nothing. */
  fl_store_put_t p = make_put(4, 2, buf);
  int existed = 0;
  FL_CHECK_OK(fl_store_put(s, &p, &existed, NULL));
  FL_CHECK_EQ(existed, 1);
  check_summaries(s);
  /* Deletes (one fragment, and all fragments), drops. */
  uint32_t t = 0;
  FL_CHECK_OK(fl_store_delete(s, &p.key, 0, &t, NULL));
  FL_CHECK_EQ(t, 1);
  p = make_put(7, 0, buf);
  FL_CHECK_OK(fl_store_delete(s, &p.key, 1, &t, NULL));
  FL_CHECK_EQ(t, 6);
  for (int i = 10; i < 20; i++) {
    p = make_put(i, 1, buf);
    uint64_t bytes = 0;
    FL_CHECK_OK(fl_store_drop(s, &p.key, &bytes, NULL));
    FL_CHECK_EQ(bytes, p.payload_len);
  }
  check_summaries(s);
  /* Every fragment 5 of pg 2 dropped: the entry leaves the output. */
  for (int i = 2; i < 60; i += 5)
    if (i % 3 && i != 7) { /* 7 is deleted */
      p = make_put(i, 5, buf);
      FL_CHECK_OK(fl_store_drop(s, &p.key, NULL, NULL));
    }
  FL_CHECK_EQ(check_summaries(s), 5 * 6 - 1);
  fl_store_pg_stat_t *before = NULL;
  size_t nb = 0;
  FL_CHECK_OK(fl_store_pg_stats(s, &before, &nb, NULL));
  fl_store_close(s);

  /* Reopen: the summaries come from the index scan at open. */
  open_store(&s);
  check_same(s, before, nb);
  fl_store_close(s);

  /* The whole index lost: replayed from the volumes. */
  char idx[500];
  snprintf(idx, sizeof idx, "%s/index", dir);
  FL_CHECK_OK(fl_idx_destroy(idx, NULL));
  open_store(&s);
  check_same(s, before, nb);
  check_absent(s, 12, 1);
  fl_store_close(s);

  /* Rebuilt from the volumes alone. */
  uint64_t records = 0;
  FL_CHECK_OK(fl_store_rebuild_index(dir, NULL, 1, &records, NULL));
  fl_idx_diff_t d;
  FL_CHECK_OK(fl_store_verify_index(dir, NULL, &records, &d, NULL));
  FL_CHECK_EQ(d.only_a + d.only_b + d.differ, 0);
  open_store(&s);
  check_same(s, before, nb);
  free(before);
  check_absent(s, 12, 1);
  check_get(s, 12, 2);
  fl_store_close(s);
}

/* ---- drops ---------------------------------------------------------------- */

typedef struct list_ctx {
  int tombstones, dropped, live;
} list_ctx_t;

static int list_cb(void *arg, const fl_idx_key_t *k, const fl_idx_value_t *v) {
  (void)k;
  list_ctx_t *c = arg;
  if (v->flags & FL_IDX_VF_DROPPED)
    c->dropped++;
  else if (v->flags & FL_IDX_VF_TOMBSTONE)
    c->tombstones++;
  else
    c->live++;
  return 0;
}

static void test_drop(void) {
  fl_store_t *s;
  open_store(&s);
  static uint8_t buf[PAYLOAD_MAX];
  fl_store_stats_t st0, st;
  FL_CHECK_OK(fl_store_stats(s, &st0, NULL));
  fl_store_put_t p = make_put(100, 3, buf);
  FL_CHECK_OK(fl_store_put(s, &p, NULL, NULL));
  fl_errmsg_t em = {{0}};
  uint64_t bytes = 0;
  FL_CHECK_OK(fl_store_drop(s, &p.key, &bytes, &em));
  FL_CHECK_EQ(bytes, p.payload_len);
  check_absent(s, 100, 3);
  /* Dropping what is absent, or already dropped, says so. */
  FL_CHECK_ERR(fl_store_drop(s, &p.key, &bytes, &em), FL_ENOTFOUND);
  FL_CHECK(strstr(em.msg, "not held here") != NULL);
  FL_CHECK_EQ(bytes, 0);
  fl_store_put_t q = make_put(101, 0, buf);
  FL_CHECK_ERR(fl_store_drop(s, &q.key, NULL, NULL), FL_ENOTFOUND);
  /* The index keeps it as a dropped tombstone; a delete finds nothing. */
  fl_idx_value_t v;
  FL_CHECK_OK(fl_idx_get(fl_store_index(s), &p.key, FL_IDX_WITH_TOMBSTONES, &v, NULL));
  FL_CHECK_EQ(v.flags & (FL_IDX_VF_TOMBSTONE | FL_IDX_VF_DROPPED),
              FL_IDX_VF_TOMBSTONE | FL_IDX_VF_DROPPED);
  uint32_t t = 9;
  FL_CHECK_OK(fl_store_delete(s, &p.key, 0, &t, NULL));
  FL_CHECK_EQ(t, 0);
  FL_CHECK_OK(fl_store_stats(s, &st, NULL));
  FL_CHECK_EQ(st.objects, st0.objects);
  FL_CHECK_EQ(st.tombstones, st0.tombstones);
  FL_CHECK_EQ(st.live_bytes, st0.live_bytes);
  /* A later put stores it again (repair moving it back). */
  p = make_put(100, 3, buf);
  int existed = 1;
  FL_CHECK_OK(fl_store_put(s, &p, &existed, NULL));
  FL_CHECK_EQ(existed, 0);
  check_get(s, 100, 3);
  check_summaries(s);
  FL_CHECK_OK(fl_store_drop(s, &p.key, NULL, NULL));
  /* Survives a reopen and a compaction of its volume. */
  fl_store_close(s);
  open_store(&s);
  check_absent(s, 100, 3);
  check_summaries(s);
  FL_CHECK_OK(fl_store_compact(s, 1, NULL, NULL));
  check_absent(s, 100, 3);
  check_get(s, 20, 1);
  fl_idx_key_t pgk;
  FL_CHECK_OK(fl_idx_key_make(&pgk, p.key.pg, "hosp", "1", "1", "1", 0, NULL));
  list_ctx_t c = {0, 0, 0};
  FL_CHECK_OK(fl_idx_scan(fl_store_index(s), FL_IDX_LVL_PG, &pgk, NULL, 0,
                          FL_IDX_WITH_TOMBSTONES, list_cb, &c, NULL, NULL));
  FL_CHECK(c.dropped >= 1 && c.live > 0);
  fl_store_close(s);
}

/* ---- quarantine --------------------------------------------------------------- */

/* Flips one byte at off of volume vol, while the store is open (reads see
 * the page cache or, with O_DIRECT, the synced file). */
static void flip(uint32_t vol, uint64_t off) {
  char path[600];
  snprintf(path, sizeof path, "%s/volumes/vol-%010u.flv", dir, vol);
  int fd = open(path, O_RDWR);
  FL_CHECK(fd >= 0);
  uint8_t b = 0;
  FL_CHECK_EQ(pread(fd, &b, 1, (off_t)off), 1);
  b ^= 0x5a;
  FL_CHECK_EQ(pwrite(fd, &b, 1, (off_t)off), 1);
  FL_CHECK_EQ(fsync(fd), 0);
  close(fd);
}

static void test_quarantine(void) {
  fl_store_t *s;
  open_store(&s);
  static uint8_t buf[PAYLOAD_MAX];
  for (int i = 200; i < 204; i++) {
    fl_store_put_t p = make_put(i, 0, buf);
    FL_CHECK_OK(fl_store_put(s, &p, NULL, NULL));
  }
  uint64_t found = 9;
  FL_CHECK_OK(fl_store_scrub(s, 0, NULL, &found, NULL));
  FL_CHECK_EQ(found, 0);
  fl_store_stats_t st0, st;
  FL_CHECK_OK(fl_store_stats(s, &st0, NULL));

  /* 1. A payload byte flipped, found by a scrub. Headers are at most
   * FL_VOL_HDR_MAX bytes and payloads at least 4000: off + 3000 is payload. */
  fl_store_put_t p = make_put(200, 0, buf);
  fl_idx_value_t v;
  FL_CHECK_OK(fl_store_lookup(s, &p.key, &v, NULL));
  FL_CHECK(FL_VOL_HDR_MAX < 3000);
  flip(v.volume, v.offset + 3000);
  FL_CHECK_OK(fl_store_scrub(s, 0, NULL, &found, NULL));
  FL_CHECK_EQ(found, 1);
  check_absent(s, 200, 0);
  FL_CHECK_OK(fl_store_stats(s, &st, NULL));
  FL_CHECK_EQ(st.quarantined, st0.quarantined + 1);
  FL_CHECK_EQ(st.objects, st0.objects - 1);
  FL_CHECK_EQ(st.tombstones, st0.tombstones);
  check_summaries(s);
  list_ctx_t c = {0, 0, 0};
  fl_idx_key_t pgk;
  FL_CHECK_OK(fl_idx_key_make(&pgk, p.key.pg, "hosp", "1", "1", "1", 0, NULL));
  /* A second scrub finds the bad record again but the entry is gone: no
   * second quarantine. */
  FL_CHECK_OK(fl_store_scrub(s, 0, NULL, &found, NULL));
  FL_CHECK_EQ(found, 1);
  FL_CHECK_OK(fl_store_stats(s, &st, NULL));
  FL_CHECK_EQ(st.quarantined, st0.quarantined + 1);
  /* Put again (repair): readable, and the bad old record is not the entry
   * any more, so scrubbing does not quarantine the new one. */
  p = make_put(200, 0, buf);
  FL_CHECK_OK(fl_store_put(s, &p, NULL, NULL));
  check_get(s, 200, 0);
  FL_CHECK_OK(fl_store_scrub(s, 0, NULL, &found, NULL));
  FL_CHECK_EQ(found, 1);
  check_get(s, 200, 0);
  FL_CHECK_OK(fl_store_stats(s, &st, NULL));
  FL_CHECK_EQ(st.quarantined, st0.quarantined + 1);
  check_summaries(s);

  /* 2. A payload byte flipped, found by a read. */
  p = make_put(201, 0, buf);
  FL_CHECK_OK(fl_store_lookup(s, &p.key, &v, NULL));
  flip(v.volume, v.offset + 3500);
  void *base = NULL, *data = NULL;
  uint64_t got = 0;
  FL_CHECK_ERR(fl_store_get(s, &p.key, 0, 0, &v, &base, &data, &got, NULL), FL_ECORRUPT);
  check_absent(s, 201, 0);
  FL_CHECK_OK(fl_store_stats(s, &st, NULL));
  FL_CHECK_EQ(st.quarantined, st0.quarantined + 2);
  check_summaries(s);
  p = make_put(201, 0, buf);
  FL_CHECK_OK(fl_store_put(s, &p, NULL, NULL));
  check_get(s, 201, 0);

  /* 3. A header byte flipped (inside the key): the scrub cannot read the
   * key from the record and finds the entry by a scan of the index. */
  p = make_put(203, 0, buf);
  FL_CHECK_OK(fl_store_lookup(s, &p.key, &v, NULL));
  flip(v.volume, v.offset + FL_VOL_REC_FIXED + 2);
  FL_CHECK_OK(fl_store_scrub(s, 0, NULL, &found, NULL));
  /* The two bad old records (one right after the other) and this one. */
  FL_CHECK_EQ(found, 3);
  check_absent(s, 203, 0);
  FL_CHECK_OK(fl_store_stats(s, &st, NULL));
  FL_CHECK_EQ(st.quarantined, st0.quarantined + 3);
  check_get(s, 202, 0);
  check_get(s, 200, 0);
  check_get(s, 201, 0);
  check_summaries(s);
  /* Listings never show the quarantined fragments as deletes. */
  c.tombstones = c.dropped = c.live = 0;
  FL_CHECK_OK(fl_idx_scan(fl_store_index(s), FL_IDX_LVL_PG, &pgk, NULL, 0,
                          FL_IDX_WITH_TOMBSTONES, list_cb, &c, NULL, NULL));
  FL_CHECK(c.dropped >= 1);
  fl_store_close(s);
}

/* ---- the summary table alone ----------------------------------------------------- */

/* Thousands of (pg, frag) pairs (the table grows many times): random
 * fragments added, every third removed again, against a plain array. */
static void test_pgs_table(void) {
  enum { PGS = 700, FRAGS = 9, N = PGS * FRAGS * 3 };
  static fl_store_pg_stat_t want[PGS * FRAGS];
  static struct {
    uint32_t slot;
    uint8_t layout;
    uint64_t h, bytes;
  } frag[N];
  memset(want, 0, sizeof want);
  fl_store_pgs_t t;
  fl_store_pgs_init(&t);
  uint32_t x = 12345;
  for (int i = 0; i < N; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    frag[i].slot = x % (PGS * FRAGS);
    frag[i].layout = (uint8_t)(x >> 30 & 1);
    frag[i].h = (uint64_t)x * 0x9e3779b97f4a7c15ull;
    frag[i].bytes = x % 1000;
  }
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < N; i++) {
      if (pass == 1 && i % 3)
        continue;
      int sign = pass ? -1 : 1;
      uint32_t slot = frag[i].slot, pg = (slot / FRAGS) * 7919u;
      uint16_t f = (uint16_t)(slot % FRAGS);
      FL_CHECK_OK(fl_store_pgs_add(&t, pg, f, frag[i].layout, frag[i].h, frag[i].bytes, sign));
      fl_store_pg_stat_t *w = &want[slot];
      w->pg = pg;
      w->frag = f;
      if (frag[i].layout) {
        w->ec_count += (uint64_t)(int64_t)sign;
        w->ec_digest ^= frag[i].h;
      } else {
        w->replica_count += (uint64_t)(int64_t)sign;
        w->replica_digest ^= frag[i].h;
      }
      w->bytes += (uint64_t)((int64_t)sign * (int64_t)frag[i].bytes);
    }
  fl_store_pg_stat_t *st = NULL;
  size_t n = 0;
  FL_CHECK_OK(fl_store_pgs_snapshot(&t, &st, &n));
  size_t j = 0;
  for (size_t i = 0; i < PGS * FRAGS; i++) {
    if (!want[i].ec_count && !want[i].replica_count)
      continue;
    FL_CHECK(j < n);
    FL_CHECK_EQ(st[j].pg, want[i].pg);
    FL_CHECK_EQ(st[j].frag, want[i].frag);
    FL_CHECK(st[j].ec_count == want[i].ec_count && st[j].ec_digest == want[i].ec_digest);
    FL_CHECK(st[j].replica_count == want[i].replica_count &&
             st[j].replica_digest == want[i].replica_digest);
    FL_CHECK(st[j].bytes == want[i].bytes);
    j++;
  }
  FL_CHECK_EQ(j, n);
  FL_CHECK(t.cap >= 4096);
  free(st);
  fl_store_pgs_free(&t);
}

int main(void) {
  FL_CHECK_OK(fl_proc_scratch_dir("test_store_heal", dir, sizeof dir));
  FL_RUN(test_pgs_table);
  FL_RUN(test_summaries);
  FL_RUN(test_drop);
  FL_RUN(test_quarantine);
  fl_proc_rmtree(dir);
  FL_DONE();
}
