/* Background maintenance of a real filmless-node: compaction reclaims at
 * least 90% of the dead bytes while reads and writes go on, and the scrub
 * finds every byte flipped in the volume files and quarantines the live
 * ones, after which reads of those fragments fail (FL_ECORRUPT, or
 * FL_ENOTFOUND once quarantined) instead of returning bad bytes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fl_itest.h"
#include "fl_test.h"
#include "fl_vol.h"

#define STUDY "1.2.826.0.1.3680043.8.498.55"
#define NOBJ 400
#define OBJ_SIZE (64 * 1024)

static fl_itest_node_t node;
static atomic_int stop_bg;
static atomic_int bg_errors, bg_reads, bg_writes;

static fl_nc_key_t key_of(int i, char *sop, size_t cap) {
  snprintf(sop, cap, STUDY ".1.%d", i + 1);
  fl_nc_key_t k = {11, "hosp-m", STUDY, STUDY ".1", sop, 0};
  return k;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static Fl__StatResult stat_now(void) {
  fl_wire_conn_t c;
  Fl__StatResult st;
  FL_CHECK_OK(fl_itest_connect(&node, &c));
  FL_CHECK_OK(fl_nc_stat(&c, &st, NULL));
  fl_wire_conn_close(&c);
  return st;
}

static void put_range(fl_wire_conn_t *c, int from, int to, uint8_t *buf) {
  char sop[96];
  for (int i = from; i < to; i++) {
    fl_nc_key_t k = key_of(i, sop, sizeof sop);
    fl_itest_fill(buf, OBJ_SIZE, (uint32_t)i);
    FL_CHECK_OK(fl_nc_put(c, &k, NULL, buf, OBJ_SIZE, NULL, NULL));
  }
}

/* Reads the live objects (i % 10 == 0) and writes new ones until told to stop. */
static void *background(void *arg) {
  (void)arg;
  fl_wire_conn_t c;
  if (fl_itest_connect(&node, &c) != 0) {
    atomic_fetch_add(&bg_errors, 1);
    return NULL;
  }
  uint8_t *want = malloc(OBJ_SIZE), *got = malloc(OBJ_SIZE);
  char sop[96];
  for (int n = 0; !atomic_load(&stop_bg); n++) {
    int i = (n * 10) % NOBJ;
    fl_nc_key_t k = key_of(i, sop, sizeof sop);
    fl_itest_fill(want, OBJ_SIZE, (uint32_t)i);
    uint64_t len = 0;
    fl_errmsg_t em = {{0}};
    int rc = fl_nc_get(&c, &k, 0, 0, got, OBJ_SIZE, &len, NULL, &em);
    if (rc || len != OBJ_SIZE || memcmp(got, want, OBJ_SIZE) != 0) {
      fprintf(stderr, "read during compaction failed: %s\n", fl_errmsg_str(&em, rc));
      atomic_fetch_add(&bg_errors, 1);
    }
    atomic_fetch_add(&bg_reads, 1);
    if (n % 4 == 0) {
      fl_nc_key_t w = key_of(10000 + n, sop, sizeof sop);
      fl_itest_fill(want, 4096, (uint32_t)(10000 + n));
      if (fl_nc_put(&c, &w, NULL, want, 4096, NULL, &em) != 0) {
        fprintf(stderr, "write during compaction failed: %s\n", em.msg);
        atomic_fetch_add(&bg_errors, 1);
      }
      atomic_fetch_add(&bg_writes, 1);
    }
  }
  free(want);
  free(got);
  fl_wire_conn_close(&c);
  return NULL;
}

static void test_compaction(void) {
  fl_wire_conn_t c;
  FL_CHECK_OK(fl_itest_connect(&node, &c));
  uint8_t *buf = malloc(OBJ_SIZE);
  uint64_t used0 = stat_now().used_bytes;
  put_range(&c, 0, NOBJ, buf);
  uint64_t per_obj = (stat_now().used_bytes - used0) / NOBJ;
  /* Delete 90%: every object whose index is not a multiple of ten. */
  char sop[96];
  int deleted = 0;
  for (int i = 0; i < NOBJ; i++)
    if (i % 10) {
      fl_nc_key_t k = key_of(i, sop, sizeof sop);
      uint32_t t = 0;
      FL_CHECK_OK(fl_nc_delete(&c, &k, 1, &t, NULL));
      FL_CHECK_EQ(t, 1);
      deleted++;
    }
  /* Filler seals the volumes holding the dead records (volume_max 2 MiB). */
  put_range(&c, 20000, 20000 + 80, buf);
  fl_wire_conn_close(&c);
  uint64_t dead = per_obj * (uint64_t)deleted;
  pthread_t bg;
  FL_CHECK_EQ(pthread_create(&bg, NULL, background, NULL), 0);
  uint64_t freed = 0;
  for (int waited = 0; waited < 120000; waited += 250) {
    freed = stat_now().compacted_bytes;
    if (freed >= dead * 9 / 10 && atomic_load(&bg_reads) >= 20)
      break;
    sleep_ms(250);
  }
  atomic_store(&stop_bg, 1);
  pthread_join(bg, NULL);
  fprintf(stderr, "compaction freed %llu of %llu dead bytes; %d reads, %d writes alongside\n",
          (unsigned long long)freed, (unsigned long long)dead, atomic_load(&bg_reads),
          atomic_load(&bg_writes));
  FL_CHECK(freed * 10 >= dead * 9);
  FL_CHECK_EQ(atomic_load(&bg_errors), 0);
  FL_CHECK(atomic_load(&bg_reads) > 0);
  /* Every live object still reads back exactly. */
  FL_CHECK_OK(fl_itest_connect(&node, &c));
  uint8_t *got = malloc(OBJ_SIZE);
  for (int i = 0; i < NOBJ; i += 10) {
    fl_nc_key_t k = key_of(i, sop, sizeof sop);
    uint64_t len = 0;
    fl_itest_fill(buf, OBJ_SIZE, (uint32_t)i);
    FL_CHECK_OK(fl_nc_get(&c, &k, 0, 0, got, OBJ_SIZE, &len, NULL, NULL));
    FL_CHECK_MEM(got, buf, OBJ_SIZE);
  }
  fl_wire_conn_close(&c);
  free(buf);
  free(got);
}

/* Flips one payload byte in `count` put records spread over the volumes;
 * returns how many it flipped. */
static int flip_records(int count) {
  char vdir[700];
  snprintf(vdir, sizeof vdir, "%s/volumes", node.dir);
  DIR *d = opendir(vdir);
  FL_CHECK(d != NULL);
  struct dirent *e;
  int flipped = 0, seen = 0;
  while ((e = readdir(d)) && flipped < count) {
    if (!strstr(e->d_name, ".flv"))
      continue;
    char path[1000];
    snprintf(path, sizeof path, "%s/%s", vdir, e->d_name);
    fl_vol_t *v = NULL;
    FL_CHECK_OK(fl_vol_open(path, NULL, &v, NULL, NULL));
    fl_vol_iter_t it;
    FL_CHECK_OK(fl_vol_iter_init(&it, v, 0));
    fl_vol_rec_t rec;
    uint64_t off;
    uint64_t targets[64];
    size_t nt = 0;
    while (fl_vol_iter_next(&it, &rec, &off, NULL) == 1 && nt < 64)
      if (rec.h.payload_len == OBJ_SIZE && (seen++ % 7) == 3)
        targets[nt++] = off + fl_vol_rec_hdr_size(&rec.h) + rec.h.payload_len / 2;
    fl_vol_iter_close(&it);
    fl_vol_close(v);
    int fd = open(path, O_RDWR);
    FL_CHECK(fd >= 0);
    for (size_t i = 0; i < nt && flipped < count; i++) {
      uint8_t b;
      FL_CHECK(pread(fd, &b, 1, (off_t)targets[i]) == 1);
      b ^= 0x5a;
      FL_CHECK(pwrite(fd, &b, 1, (off_t)targets[i]) == 1);
      flipped++;
    }
    fsync(fd);
    close(fd);
  }
  closedir(d);
  return flipped;
}

static void test_scrub(void) {
  int st = fl_proc_stop(&node.proc, SIGTERM, 20000);
  FL_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  int flipped = flip_records(12);
  FL_CHECK(flipped >= 10);
  const char *const extra[] = {"--volume-max", "2MiB", "--compact-interval", "0",
                               "--scrub-interval", "0", "--scrub-rate", "200MB/s",
                               "--log-level", "warn", NULL};
  FL_CHECK_OK(fl_itest_node_start(&node, node.dir, extra));
  uint64_t found = 0;
  for (int waited = 0; waited < 120000 && found < (uint64_t)flipped; waited += 250) {
    found = stat_now().corrupt_found;
    sleep_ms(250);
  }
  fprintf(stderr, "scrub found %llu of %d flipped records\n", (unsigned long long)found,
          flipped);
  FL_CHECK(found >= (uint64_t)flipped);
  /* No read returns a corrupt byte: every object is exact or refused. */
  fl_wire_conn_t c;
  FL_CHECK_OK(fl_itest_connect(&node, &c));
  uint8_t *want = malloc(OBJ_SIZE), *got = malloc(OBJ_SIZE);
  char sop[96];
  int refused = 0;
  for (int i = 0; i < 20000 + 80; i = (i == NOBJ - 10) ? 20000 : (i < NOBJ ? i + 10 : i + 1)) {
    fl_nc_key_t k = key_of(i, sop, sizeof sop);
    uint64_t len = 0;
    int rc = fl_nc_get(&c, &k, 0, 0, got, OBJ_SIZE, &len, NULL, NULL);
    /* Corrupt, or already quarantined by the scrub (hidden until repair). */
    if (rc == FL_ECORRUPT || rc == FL_ENOTFOUND) {
      refused++;
      continue;
    }
    FL_CHECK_OK(rc);
    fl_itest_fill(want, OBJ_SIZE, (uint32_t)i);
    FL_CHECK_MEM(got, want, OBJ_SIZE);
  }
  fprintf(stderr, "%d reads refused as corrupt or quarantined\n", refused);
  FL_CHECK(refused > 0);
  /* The scrub quarantined the flipped records that were live (those of
   * deleted or overwritten puts only count as corrupt). */
  Fl__StatResult sr = stat_now();
  fprintf(stderr, "%llu fragments quarantined\n", (unsigned long long)sr.quarantined);
  FL_CHECK(sr.quarantined > 0 && sr.quarantined <= (uint64_t)flipped);
  fl_wire_conn_close(&c);
  free(want);
  free(got);
}

int main(void) {
  char dir[400];
  FL_CHECK_OK(fl_proc_scratch_dir("itest_node_maint", dir, sizeof dir));
  snprintf(node.dir, sizeof node.dir, "%s/n1", dir);
  const char *const extra[] = {"--volume-max", "2MiB", "--compact-interval", "1s",
                               "--scrub-rate", "0MB/s", "--log-level", "warn", NULL};
  FL_CHECK_OK(fl_itest_node_start(&node, node.dir, extra));
  FL_RUN(test_compaction);
  FL_RUN(test_scrub);
  fl_proc_stop(&node.proc, SIGTERM, 20000);
  fl_proc_rmtree(dir);
  FL_DONE();
}
