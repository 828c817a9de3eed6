/* Index benchmark: inserts 1,000,000 realistic entries (1000 studies x 10
 * series x 100 instances) through fl_idx in batches of 1000 with a
 * checkpoint, lists studies by prefix, and reports the process RSS with
 * the whole million indexed. References, measured in the same run: raw
 * RocksDB batch puts of opaque keys/values of the same sizes and arrival
 * pattern (default options + increase_parallelism(2)) and a raw full scan. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "fl_bench.h"
#include "fl_idx.h"

#define STUDIES 1000
#define SERIES 10
#define INSTANCES 100
#define BATCH 1000
#define SCANS 200
#define RSS_BUDGET_MB 300.0

/* A /proc/self/status field (VmRSS, VmHWM) in MB. */
static double status_mb(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  double kb = 0;
  size_t fl = strlen(field);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, field, fl) == 0 && line[fl] == ':')
      kb = atof(line + fl + 1);
  if (f)
    fclose(f);
  return kb / 1024.0;
}

static void die(const char *what, int rc, const fl_errmsg_t *em) {
  fprintf(stderr, "bench_index: %s: %s\n", what, fl_errmsg_str(em, rc));
  exit(1);
}

static uint32_t pg_of(int study) {
  return (uint32_t)(((uint64_t)study * 2654435761u) % 4096);
}

static void make_entry(int study, int series, int inst, uint64_t seq, fl_idx_key_t *k,
                       fl_idx_value_t *v) {
  char st[65], se[65], sop[65];
  snprintf(st, sizeof st, "1.2.826.0.1.3680043.8.498.%d", 100000 + study);
  snprintf(se, sizeof se, "1.2.826.0.1.3680043.8.498.%d.%d", 100000 + study, series + 1);
  snprintf(sop, sizeof sop, "1.2.826.0.1.3680043.8.498.%d.%d.%d", 100000 + study, series + 1,
           inst + 1);
  fl_errmsg_t em;
  int rc = fl_idx_key_make(k, pg_of(study), "hosp-a", st, se, sop, 0, &em);
  if (rc != 0)
    die("key", rc, &em);
  memset(v, 0, sizeof *v);
  fl_idx_attrs_clear(&v->attrs);
  v->seq = seq;
  v->volume = (uint32_t)(seq >> 14);
  v->offset = (seq & 0x3fff) * 4200;
  v->rec_len = 4200;
  v->crc = (uint32_t)(seq * 2654435761u);
  v->obj_size = 4096;
  strcpy(v->attrs.sop_class, "1.2.840.10008.5.1.4.1.1.2");
  strcpy(v->attrs.modality, "CT");
  strcpy(v->attrs.study_date, "20261129");
  v->attrs.series_number = series + 1;
  v->attrs.instance_number = inst + 1;
  v->attrs.patient_id_len = 10;
  memcpy(v->attrs.patient_id, "PID0012345", 10);
  v->attrs.patient_name_len = 12;
  memcpy(v->attrs.patient_name, "DOE^JANE^Q^^", 12);
}

static int count_cb(void *arg, const fl_idx_key_t *k, const fl_idx_value_t *v) {
  (void)k;
  (void)v;
  (*(uint64_t *)arg)++;
  return 0;
}

static void ratio_line(const char *name, double val, const char *unit, const char *ref,
                       double refval) {
  printf("BENCH %s %.0f %s ref=%s %.0f ratio=%.3f\n", name, val, unit, ref, refval,
         refval > 0 ? val / refval : 0.0);
}

int main(void) {
  const char *t = getenv("FL_TMP");
  char dir[512], p_idx[600], p_raw[600];
  snprintf(dir, sizeof dir, "%s/bench_index.XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(p_idx, sizeof p_idx, "%s/idx", dir);
  snprintf(p_raw, sizeof p_raw, "%s/raw", dir);
  fl_errmsg_t em;
  fl_idx_t *idx;
  int rc = fl_idx_open(p_idx, NULL, &idx, &em);
  if (rc != 0)
    die("open", rc, &em);
  double rss0 = status_mb("VmRSS");

  /* --- fl_idx inserts ---------------------------------------------------- */
  size_t klen_sum = 0, vlen_sum = 0, n = 0;
  uint64_t seq = 1;
  fl_idx_batch_t *b = NULL;
  double t0 = fl_bench_now();
  for (int s = 0; s < STUDIES; s++)
    for (int se = 0; se < SERIES; se++)
      for (int i = 0; i < INSTANCES; i++) {
        fl_idx_key_t k;
        fl_idx_value_t v;
        make_entry(s, se, i, seq, &k, &v);
        if (!b && (rc = fl_idx_batch_begin(idx, &b, &em)) != 0)
          die("batch", rc, &em);
        if ((rc = fl_idx_batch_apply(b, &k, &v, NULL, &em)) != 0)
          die("apply", rc, &em);
        if (n < 10000) { /* sizes for the raw reference */
          uint8_t kb[FL_IDX_KEY_MAX], vb[FL_IDX_VALUE_MAX];
          size_t kl, vl;
          fl_idx_key_encode(&k, FL_IDX_LVL_KEY, kb, sizeof kb, &kl, NULL);
          fl_idx_value_encode(&v, vb, sizeof vb, &vl, NULL);
          klen_sum += kl;
          vlen_sum += vl;
        }
        n++;
        seq++;
        if (n % BATCH == 0) {
          fl_idx_ckpt_t ck = {v.volume, v.offset + v.rec_len};
          fl_idx_batch_ckpt(b, &ck);
          if ((rc = fl_idx_batch_commit(b, &em)) != 0)
            die("commit", rc, &em);
          b = NULL;
        }
      }
  double idx_ins = (double)n / (fl_bench_now() - t0);
  size_t klen = klen_sum / 10000, vlen = vlen_sum / 10000;

  /* --- study listing by prefix -------------------------------------------- */
  uint64_t listed = 0;
  t0 = fl_bench_now();
  for (int i = 0; i < SCANS; i++) {
    int s = (int)(((uint64_t)i * 7919u) % STUDIES);
    char st[65];
    snprintf(st, sizeof st, "1.2.826.0.1.3680043.8.498.%d", 100000 + s);
    if ((rc = fl_idx_scan_study(idx, pg_of(s), "hosp-a", st, NULL, 0, count_cb, &listed, NULL,
                                &em)) != 0)
      die("scan", rc, &em);
  }
  double scan_rate = (double)listed / (fl_bench_now() - t0);
  if (listed != (uint64_t)SCANS * SERIES * INSTANCES) {
    fprintf(stderr, "bench_index: listed %llu entries, expected %d\n",
            (unsigned long long)listed, SCANS * SERIES * INSTANCES);
    return 1;
  }
  double rss = status_mb("VmRSS");
  fl_idx_stats_t st;
  if ((rc = fl_idx_stats(idx, &st, &em)) != 0)
    die("stats", rc, &em);
  fprintf(stderr,
          "index: %zu entries, key %zu B, value %zu B; rss %.1f MB (%.1f at open, peak "
          "%.1f); sst %.1f MB, memtables %.1f MB, cache %.1f MB, readers %.1f MB\n",
          n, klen, vlen, rss, rss0, status_mb("VmHWM"), st.sst_bytes / 1048576.0,
          st.memtable_bytes / 1048576.0, st.cache_bytes / 1048576.0,
          st.readers_bytes / 1048576.0);
  fl_idx_close(idx);

  /* --- raw RocksDB reference: same count and sizes, opaque bytes ---------- */
  char *err = NULL;
  rocksdb_options_t *o = rocksdb_options_create();
  rocksdb_options_set_create_if_missing(o, 1);
  rocksdb_options_increase_parallelism(o, 2);
  rocksdb_t *db = rocksdb_open(o, p_raw, &err);
  if (err) {
    fprintf(stderr, "bench_index: raw open: %s\n", err);
    return 1;
  }
  rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
  rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
  char kb[FL_IDX_KEY_MAX], vb[FL_IDX_VALUE_MAX];
  memset(vb, 0x5a, sizeof vb);
  uint64_t x = 88172645463325252ull;
  t0 = fl_bench_now();
  /* Same arrival pattern as the index's keys: a random 8-byte "study"
   * prefix per 1000 entries, then an ascending counter; values carry 40
   * varying bytes (location, CRC, seq) and a repeated tail (attributes). */
  memset(kb, 0x31, sizeof kb);
  for (size_t i = 0; i < n; i++) {
    if (i % (SERIES * INSTANCES) == 0) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      memcpy(kb, &x, 8);
    }
    for (int j = 0; j < 4; j++)
      kb[8 + j] = (char)(i >> (24 - 8 * j));
    for (size_t j = 0; j < 40; j += 8) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      memcpy(vb + j, &x, 8);
    }
    rocksdb_writebatch_put(wb, kb, klen, vb, vlen);
    if ((i + 1) % BATCH == 0) {
      rocksdb_write(db, wo, wb, &err);
      if (err) {
        fprintf(stderr, "bench_index: raw write: %s\n", err);
        return 1;
      }
      rocksdb_writebatch_clear(wb);
    }
  }
  double raw_ins = (double)n / (fl_bench_now() - t0);
  rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
  rocksdb_iterator_t *it = rocksdb_create_iterator(db, ro);
  uint64_t scanned = 0;
  t0 = fl_bench_now();
  for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
    size_t l;
    (void)rocksdb_iter_value(it, &l);
    scanned++;
  }
  double raw_scan = (double)scanned / (fl_bench_now() - t0);
  rocksdb_iter_destroy(it);
  rocksdb_readoptions_destroy(ro);
  rocksdb_writebatch_destroy(wb);
  rocksdb_writeoptions_destroy(wo);
  rocksdb_close(db);
  rocksdb_options_destroy(o);

  ratio_line("index_insert", idx_ins, "entries/s", "rocksdb_batch_put", raw_ins);
  ratio_line("index_scan_study", scan_rate, "entries/s", "rocksdb_full_scan", raw_scan);
  printf("BENCH index_rss_1m %.1f MB ref=rss_budget %.1f ratio=%.3f\n", rss, RSS_BUDGET_MB,
         rss / RSS_BUDGET_MB);

  fl_idx_destroy(p_idx, NULL);
  fl_idx_destroy(p_raw, NULL);
  rmdir(p_idx);
  rmdir(p_raw);
  rmdir(dir);
  return 0;
}
