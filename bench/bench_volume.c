/* Volume benchmark: group-committed appends of 4 KiB, 128 KiB, 512 KiB and
 * 8 MiB records from 8 threads, each beside raw sequential writes of the same
 * bytes in the same directory in the same run: O_DIRECT 1 MiB writes +
 * fdatasync, and buffered writes + fdatasync (why volumes use O_DIRECT); ops/s
 * beside one write + fdatasync at a time of the same size.
 * Usage: bench_volume [DIR]   (default ./bench-volume.tmp, removed after) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fl_bench.h"
#include "fl_volset.h"

#define THREADS 8

static void rm_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *de;
  while ((de = readdir(d))) {
    char p[4200];
    if (de->d_name[0] == '.')
      continue;
    snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
    unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

typedef struct warg {
  fl_volset_t *s;
  int tid;
  size_t size;
  int ops;
  void *payload;
} warg_t;

static void *writer(void *p) {
  warg_t *a = p;
  for (int i = 0; i < a->ops; i++) {
    char key[64];
    int kl = snprintf(key, sizeof key, "bench/%d/%d", a->tid, i);
    fl_vol_rec_in_t in = {.key = key, .key_len = (uint16_t)kl, .frag = 0,
                          .payload = a->payload, .payload_len = a->size};
    fl_volset_loc_t loc;
    fl_errmsg_t em = {{0}};
    int rc = fl_volset_append(a->s, &in, 1, &loc, &em);
    if (rc) {
      fprintf(stderr, "append: %s\n", fl_errmsg_str(&em, rc));
      exit(1);
    }
  }
  return NULL;
}

/* Appends THREADS*ops records of `size` bytes; returns seconds, fills the
 * number of fdatasyncs spent. */
static double vol_write(const char *dir, int direct, size_t size, int ops, uint64_t *flushes) {
  char sub[4200];
  snprintf(sub, sizeof sub, "%s/set", dir);
  fl_volset_opts_t o = {.vol = {.max_size = 1ull << 30, .direct = direct}};
  fl_volset_t *s;
  fl_errmsg_t em = {{0}};
  int rc = fl_volset_open(sub, &o, &s, &em);
  if (rc) {
    fprintf(stderr, "open: %s\n", fl_errmsg_str(&em, rc));
    exit(1);
  }
  warg_t a[THREADS];
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++)
    a[i] = (warg_t){s, i, size, ops, fl_bench_alloc(size)};
  double t0 = fl_bench_now();
  for (int i = 0; i < THREADS; i++)
    pthread_create(&th[i], NULL, writer, &a[i]);
  for (int i = 0; i < THREADS; i++)
    pthread_join(th[i], NULL);
  double t = fl_bench_now() - t0;
  uint64_t req;
  fl_volset_commit_stats(s, flushes, &req);
  fl_volset_close(s);
  for (int i = 0; i < THREADS; i++)
    free(a[i].payload);
  rm_dir(sub);
  return t;
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "bench-volume.tmp";
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    perror(dir);
    return 1;
  }
  static const struct {
    const char *name;
    size_t size;
    int ops; /* per thread */
  } cases[] = {{"4k", 4096, 3000}, {"128k", 128 << 10, 200}, {"512k", 512 << 10, 100},
               {"8m", 8 << 20, 8}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    size_t size = cases[c].size;
    int ops = cases[c].ops;
    uint64_t n = (uint64_t)THREADS * ops, total = n * size;
    /* Warm the path once so the first case does not pay for it. */
    if (c == 0)
      (void)fl_bench_raw_write(dir, 1, 64 << 20, 1 << 20, 0);
    double t_raw = fl_bench_raw_write(dir, 1, total, 1 << 20, 0);
    double t_buf = fl_bench_raw_write(dir, 0, total, 1 << 20, 0);
    uint64_t fl_direct = 0, fl_buffered = 0;
    double t_vol = vol_write(dir, FL_VOL_DIRECT_ON, size, ops, &fl_direct);
    double t_volb = vol_write(dir, FL_VOL_DIRECT_OFF, size, ops, &fl_buffered);
    double raw = (double)total / t_raw / 1e6, buf = (double)total / t_buf / 1e6;
    double vol = (double)total / t_vol / 1e6, volb = (double)total / t_volb / 1e6;
    const char *nm = cases[c].name;
    printf("BENCH volume_append_%s_8t %.0f MB/s ref=raw_odirect_seq_fdatasync %.0f ratio=%.2f\n",
           nm, vol, raw, vol / raw);
    /* Ops are bound by flush latency, so their reference is one write +
     * fdatasync at a time of the same size, measured right after. */
    int q = size <= (128 << 10) ? 1000 : 100;
    double t_q = fl_bench_raw_write(dir, 1, (uint64_t)q * size, size, 1);
    printf("BENCH volume_append_%s_8t_ops %.0f ops/s ref=raw_odirect_%s_fdatasync_each %.0f "
           "ratio=%.2f\n",
           nm, (double)n / t_vol, nm, q / t_q, (double)n / t_vol / (q / t_q));
    printf("BENCH volume_append_%s_8t_buffered %.0f MB/s ref=volume_append_%s_8t %.0f "
           "ratio=%.2f\n",
           nm, volb, nm, vol, volb / vol);
    printf("BENCH raw_buffered_seq_fdatasync_%s %.0f MB/s ref=raw_odirect_seq_fdatasync %.0f "
           "ratio=%.2f\n",
           nm, buf, raw, buf / raw);
    printf("INFO %s: %llu records, %llu fdatasync batches (O_DIRECT), %llu (buffered)\n", nm,
           (unsigned long long)n, (unsigned long long)fl_direct,
           (unsigned long long)fl_buffered);
    fflush(stdout);
  }
  rm_dir(dir);
  return 0;
}
