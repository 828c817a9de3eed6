/* Unit tests of fl_store, the node's volumes + index pair, in one process:
 * immutability, reads, deletes, replay of the index after it lost updates,
 * index rebuild equal to the original, ENOSPC and I/O faults injected under
 * the volumes, compaction and scrub. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "fl_crc32c.h"
#include "fl_proc.h"
#include "fl_store.h"
#include "fl_test.h"
#include "fl_vol_io.h"

static char dir[400];

static void fill(uint8_t *b, size_t n, uint32_t seed) {
  for (size_t i = 0; i < n; i++)
    b[i] = (uint8_t)((i * 31u + seed * 7u) ^ (i >> 7));
}

static fl_store_put_t make_put(int i, const uint8_t *buf, size_t n) {
  fl_store_put_t p;
  memset(&p, 0, sizeof p);
  char sop[80];
  snprintf(sop, sizeof sop, "1.2.3.4.%d", i + 1);
  FL_CHECK_OK(fl_idx_key_make(&p.key, 9, "hosp", "1.2.3", "1.2.3.4", sop, 0, NULL));
  fl_idx_attrs_clear(&p.attrs);
  snprintf(p.attrs.modality, sizeof p.attrs.modality, "CT");
  p.layout = 1;
  p.obj_size = n * 4;
  p.payload = buf;
  p.payload_len = n;
  p.payload_crc = fl_crc32c(buf, n);
  return p;
}

static void open_store(fl_store_t **s, const fl_vol_io_t *io) {
  fl_store_opts_t o;
  memset(&o, 0, sizeof o);
  o.volume_max_bytes = 1 << 20;
  o.io = io;
  fl_errmsg_t em = {{0}};
  int rc = fl_store_open(dir, &o, s, NULL, &em);
  if (rc)
    fprintf(stderr, "open: %s\n", fl_errmsg_str(&em, rc));
  FL_CHECK_OK(rc);
}

static void check_get(fl_store_t *s, int i, size_t n) {
  uint8_t *want = malloc(n ? n : 1);
  fill(want, n, (uint32_t)i);
  fl_store_put_t p = make_put(i, want, n);
  fl_idx_value_t v;
  void *base = NULL, *data = NULL;
  uint64_t got = 0;
  FL_CHECK_OK(fl_store_get(s, &p.key, 0, 0, &v, &base, &data, &got, NULL));
  FL_CHECK_EQ(got, n);
  FL_CHECK_MEM(data, want, n);
  FL_CHECK_STR(v.attrs.modality, "CT");
  free(base);
  free(want);
}



static void test_put_get_delete(void) {
  fl_store_t *s;
  open_store(&s, NULL);
  uint8_t buf[20000];
  for (int i = 0; i < 50; i++) {
    size_t n = (size_t)(i * 397) % sizeof buf;
    fill(buf, n, (uint32_t)i);
    fl_store_put_t p = make_put(i, buf, n);
    int existed = -1;
    FL_CHECK_OK(fl_store_put(s, &p, &existed, NULL));
    FL_CHECK_EQ(existed, 0);
    FL_CHECK_OK(fl_store_put(s, &p, &existed, NULL));
    FL_CHECK_EQ(existed, 1);
  }
  for (int i = 0; i < 50; i++)
    check_get(s, i, (size_t)(i * 397) % sizeof buf);
  /* Different bytes under a live key; a payload that fails its CRC. */
  fill(buf, 100, 1);
  fl_store_put_t p = make_put(1, buf, 100);
  buf[0] ^= 1;
  p.payload_crc = fl_crc32c(buf, 100);
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(fl_store_put(s, &p, NULL, &em), FL_EEXIST);
  FL_CHECK(strstr(em.msg, "immutable") != NULL);
  p = make_put(77, buf, 100);
  p.payload_crc ^= 1;
  FL_CHECK_ERR(fl_store_put(s, &p, NULL, NULL), FL_ECORRUPT);
  /* A range, and a range past the end. */
  fill(buf, (49 * 397) % sizeof buf, 49);
  p = make_put(49, buf, 10);
  fl_idx_value_t v;
  void *base, *data;
  uint64_t got;
  FL_CHECK_OK(fl_store_get(s, &p.key, 100, 50, &v, &base, &data, &got, NULL));
  FL_CHECK_EQ(got, 50);
  FL_CHECK_MEM(data, buf + 100, 50);
  free(base);
  FL_CHECK_ERR(fl_store_get(s, &p.key, 100000, 0, &v, &base, &data, &got, NULL), -EINVAL);
  /* Delete: gone, counted, and deleting again is a no-op. */
  uint32_t t = 0;
  FL_CHECK_OK(fl_store_delete(s, &p.key, 1, &t, NULL));
  FL_CHECK_EQ(t, 1);
  FL_CHECK_ERR(fl_store_get(s, &p.key, 0, 0, &v, &base, &data, &got, NULL), FL_ENOTFOUND);
  FL_CHECK_OK(fl_store_delete(s, &p.key, 1, &t, NULL));
  FL_CHECK_EQ(t, 0);
  fl_store_stats_t st;
  FL_CHECK_OK(fl_store_stats(s, &st, NULL));
  FL_CHECK_EQ(st.objects, 49);
  FL_CHECK_EQ(st.tombstones, 1);
  FL_CHECK(st.volumes >= 1);
  fl_store_close(s);
}

/* The index loses its last updates (as after a crash with the WAL not
 * synced): reopening replays them from the volumes. Here the whole index is
 * dropped, the harshest case: everything comes back from the checkpoint-less
 * replay, and the counters too. */
static void test_replay_and_rebuild(void) {
  char idx[500];
  snprintf(idx, sizeof idx, "%s/index", dir);
  FL_CHECK_OK(fl_idx_destroy(idx, NULL));
  fl_store_t *s;
  open_store(&s, NULL);
  for (int i = 0; i < 49; i++)
    check_get(s, i, (size_t)(i * 397) % 20000);
  fl_store_stats_t st;
  FL_CHECK_OK(fl_store_stats(s, &st, NULL));
  FL_CHECK_EQ(st.objects, 49);
  FL_CHECK_EQ(st.tombstones, 1);
  fl_store_close(s);
  uint64_t records = 0;
  fl_idx_diff_t d;
  FL_CHECK_OK(fl_store_verify_index(dir, NULL, &records, &d, NULL));
  FL_CHECK_EQ(d.only_a + d.only_b + d.differ, 0);
  FL_CHECK_EQ(d.equal, 50);
  FL_CHECK_OK(fl_store_rebuild_index(dir, NULL, 1, &records, NULL));
  FL_CHECK_EQ(records, 51);
  open_store(&s, NULL);
  check_get(s, 10, (10 * 397) % 20000);
  fl_store_close(s);
}

/* The index goes back in time (a copy taken earlier, as a crash that lost
 * its unsynced WAL tail would leave it): reopening replays the volumes from
 * that copy's checkpoint and every later put is found again. */
static void test_replay_from_checkpoint(void) {
  char cmd[2200], idx[500], old[520];
  snprintf(idx, sizeof idx, "%s/index", dir);
  snprintf(old, sizeof old, "%s/index.before", dir);
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s'", old, idx, old);
  FL_CHECK_EQ(system(cmd), 0);
  fl_store_t *s;
  open_store(&s, NULL);
  static uint8_t buf[30000];
  for (int i = 2000; i < 2040; i++) {
    fill(buf, sizeof buf - (size_t)i, (uint32_t)i);
    fl_store_put_t p = make_put(i, buf, sizeof buf - (size_t)i);
    FL_CHECK_OK(fl_store_put(s, &p, NULL, NULL));
  }
  fl_store_close(s);
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mv '%s' '%s'", idx, old, idx);
  FL_CHECK_EQ(system(cmd), 0);
  fl_store_open_report_t rep;
  fl_store_opts_t o;
  memset(&o, 0, sizeof o);
  o.volume_max_bytes = 1 << 20;
  FL_CHECK_OK(fl_store_open(dir, &o, &s, &rep, NULL));
  /* Only what came after the checkpoint is read again. */
  FL_CHECK_EQ(rep.replayed, 40);
  for (int i = 2000; i < 2040; i++)
    check_get(s, i, sizeof buf - (size_t)i);
  check_get(s, 3, 3 * 397);
  fl_store_close(s);
}

/* Disk full and failed syncs injected under the volumes: the put fails with
 * a clear code, nothing stored is lost, and the next put works. */
static void test_faults(void) {
  fl_vol_fault_t f;
  fl_vol_fault_init(&f, fl_vol_io_posix());
  fl_store_t *s;
  open_store(&s, &f.io);
  uint8_t buf[5000];
  fill(buf, sizeof buf, 500);
  fl_store_put_t p = make_put(500, buf, sizeof buf);
  fl_vol_fault_arm(&f, FL_VOL_OP_PWRITE, 1, -ENOSPC, 0);
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(fl_store_put(s, &p, NULL, &em), FL_ENOSPC);
  fl_idx_value_t v;
  FL_CHECK_ERR(fl_store_lookup(s, &p.key, &v, NULL), FL_ENOTFOUND);
  check_get(s, 3, 3 * 397);
  fl_vol_fault_arm(&f, FL_VOL_OP_FDATASYNC, 1, -EIO, 0);
  FL_CHECK_ERR(fl_store_put(s, &p, NULL, NULL), -EIO);
  FL_CHECK_ERR(fl_store_lookup(s, &p.key, &v, NULL), FL_ENOTFOUND);
  FL_CHECK_OK(fl_store_put(s, &p, NULL, NULL));
  check_get(s, 500, sizeof buf);
  fl_store_close(s);
  /* And after a reopen the failed attempts left no trace. */
  open_store(&s, NULL);
  check_get(s, 500, sizeof buf);
  check_get(s, 3, 3 * 397);
  fl_store_close(s);
}

static void test_compact_and_scrub(void) {
  fl_store_t *s;
  open_store(&s, NULL);
  static uint8_t buf[64 * 1024];
  for (int i = 1000; i < 1100; i++) {
    fill(buf, sizeof buf, (uint32_t)i);
    fl_store_put_t p = make_put(i, buf, sizeof buf);
    FL_CHECK_OK(fl_store_put(s, &p, NULL, NULL));
  }
  for (int i = 1000; i < 1100; i++)
    if (i % 4) {
      fl_store_put_t p = make_put(i, buf, 1);
      uint32_t t;
      FL_CHECK_OK(fl_store_delete(s, &p.key, 0, &t, NULL));
    }
  uint64_t freed = 0;
  FL_CHECK_OK(fl_store_compact(s, 50, &freed, NULL));
  fl_store_stats_t st;
  FL_CHECK_OK(fl_store_stats(s, &st, NULL));
  FL_CHECK(freed > 0);
  FL_CHECK_EQ(st.compacted_bytes, freed);
  for (int i = 1000; i < 1100; i += 4)
    check_get(s, i, sizeof buf);
  uint64_t found = 99;
  FL_CHECK_OK(fl_store_scrub(s, 0, NULL, &found, NULL));
  FL_CHECK_EQ(found, 0);
  fl_store_close(s);
}

int main(void) {
  FL_CHECK_OK(fl_proc_scratch_dir("test_store", dir, sizeof dir));
  FL_RUN(test_put_get_delete);
  FL_RUN(test_replay_and_rebuild);
  FL_RUN(test_replay_from_checkpoint);
  FL_RUN(test_faults);
  FL_RUN(test_compact_and_scrub);
  fl_proc_rmtree(dir);
  FL_DONE();
}
