/* Scrub-driven repair: a coordinator and 6 real nodes (policy 4+2, 32
 * PGs) hold MR studies and small SR reports. With the nodes stopped, bytes
 * are flipped in about 1% of the records of their volume files (mostly in
 * payloads, some in record headers), never two fragments of one object.
 * The nodes restart with a fast scrub; while the scrub finds the damage and
 * the repair workers rebuild each quarantined fragment from the others, a
 * reader thread reads every object over and over and must never get an
 * error or different bytes. At the end every object is whole and verified
 * at its position and reads back byte-identical. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filmless.h"
#include "fl_gen.h"
#include "fl_itest_cluster.h"
#include "fl_itest_data.h"
#include "fl_itest_health.h"
#include "fl_test.h"
#include "fl_vol_record.h"

#define NODES 6
#define REPAIR_TIMEOUT_MS 180000

static fl_itest_cluster_t cl;
static fl_client_t *client;
static fl_itest_data_t data;

static void kill_all(void) { fl_itest_cluster_kill_all(&cl); }

/* One put record found in a volume file. */
typedef struct rec {
  char path[1400];
  uint64_t off;           /* record start in the file */
  uint64_t hdr;           /* header bytes (fixed + key + meta) */
  uint64_t payload;       /* payload bytes */
  uint8_t key[FL_VOL_KEY_MAX];
  uint16_t key_len;
  int last;               /* last record of its file */
} rec_t;

typedef struct recs {
  rec_t *v;
  size_t n, cap;
} recs_t;

static void scan_volume(const char *path, recs_t *out) {
  int fd = open(path, O_RDONLY);
  FL_CHECK(fd >= 0);
  off_t end = lseek(fd, 0, SEEK_END);
  static uint8_t buf[FL_VOL_HDR_MAX];
  size_t first = out->n;
  for (uint64_t off = 8192; off + FL_VOL_REC_FIXED <= (uint64_t)end;) {
    ssize_t got = pread(fd, buf, sizeof buf, (off_t)off);
    FL_CHECK(got >= FL_VOL_REC_FIXED);
    fl_vol_rec_hdr_t h;
    if (fl_vol_rec_parse(buf, (size_t)got, &h, NULL) != 0)
      break; /* end of the written records */
    if (!(h.flags & FL_VOL_REC_F_TOMBSTONE) && h.payload_len > 0) {
      if (out->n == out->cap) {
        out->cap = out->cap ? out->cap * 2 : 1024;
        out->v = realloc(out->v, out->cap * sizeof *out->v);
        FL_CHECK(out->v != NULL);
      }
      rec_t *r = &out->v[out->n++];
      snprintf(r->path, sizeof r->path, "%s", path);
      r->off = off;
      r->hdr = fl_vol_rec_hdr_size(&h);
      r->payload = h.payload_len;
      memcpy(r->key, h.key, h.key_len);
      r->key_len = h.key_len;
      r->last = 0;
    }
    off += fl_vol_rec_footprint(h.key_len, h.meta_len, h.payload_len);
  }
  if (out->n > first)
    out->v[out->n - 1].last = 1;
  close(fd);
}

static void scan_node(int i, recs_t *out) {
  char dir[700];
  snprintf(dir, sizeof dir, "%s/volumes", cl.nodes[i].dir);
  DIR *d = opendir(dir);
  FL_CHECK(d != NULL);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t l = strlen(e->d_name);
    if (l < 4 || strcmp(e->d_name + l - 4, ".flv") != 0)
      continue;
    char p[1400];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    scan_volume(p, out);
  }
  closedir(d);
}

static void flip_byte(const char *path, uint64_t off) {
  int fd = open(path, O_RDWR);
  FL_CHECK(fd >= 0);
  uint8_t b;
  FL_CHECK_EQ(pread(fd, &b, 1, (off_t)off), 1);
  b ^= 0x5a;
  FL_CHECK_EQ(pwrite(fd, &b, 1, (off_t)off), 1);
  FL_CHECK_EQ(fsync(fd), 0);
  close(fd);
}

/* Flips one byte in about 1% of the records, at most one record per object
 * (the key names the object; the fragment index is not part of it). Every
 * fourth flip goes into the header (the sequence number or the key, both
 * under the header CRC), except in the last record of a volume, which a
 * restart could take for a torn tail. Returns the number of flips. */
static size_t corrupt_volumes(void) {
  recs_t all = {0};
  for (int i = 0; i < NODES; i++)
    scan_node(i, &all);
  size_t want = all.n / 100 > 8 ? all.n / 100 : 8;
  fprintf(stderr, "%zu put records in the volumes; flipping %zu\n", all.n, want);
  uint8_t (*used)[FL_VOL_KEY_MAX + 2] = calloc(want, sizeof *used);
  size_t flips = 0, headers = 0;
  uint32_t x = 0x9e3779b9u;
  for (size_t tries = 0; flips < want && tries < all.n * 20; tries++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rec_t *r = &all.v[x % all.n];
    int dup = 0;
    for (size_t j = 0; j < flips && !dup; j++)
      dup = memcmp(used[j], &r->key_len, 2) == 0 && memcmp(used[j] + 2, r->key, r->key_len) == 0;
    if (dup)
      continue;
    int header = flips % 4 == 3 && !r->last;
    uint64_t at;
    if (header)
      at = r->off + (headers++ % 2 ? 56 + (x >> 8) % r->key_len : 24 + (x >> 8) % 8);
    else
      at = r->off + r->hdr + (x >> 8) % r->payload;
    flip_byte(r->path, at);
    memcpy(used[flips], &r->key_len, 2);
    memcpy(used[flips] + 2, r->key, r->key_len);
    flips++;
  }
  fprintf(stderr, "flipped %zu records (%zu in headers)\n", flips, headers);
  free(used);
  free(all.v);
  return flips;
}

/* Sum over the nodes of StatResult.corrupt_found (scrub or read finds,
 * repeats included) or, with quarantined, of fragments hidden from reads
 * (each once). */
static uint64_t node_sum(int quarantined) {
  uint64_t n = 0;
  for (int i = 0; i < NODES; i++) {
    Fl__StatResult st;
    Fl__RepairProgress rp;
    if (fl_itest_node_stat(cl.addr[i], &st, &rp, NULL) == 0)
      n += quarantined ? st.quarantined : st.corrupt_found;
  }
  return n;
}

static void test_scrub_repair(void) {
  FL_CHECK_OK(fl_itest_data_gen(&data, FL_GEN_MR, 40, 6, 2000));
  FL_CHECK_OK(fl_itest_data_gen(&data, FL_GEN_SR, 40, 1, 6000));
  FL_CHECK_EQ(fl_itest_data_put(client, &data, 0, data.n, 8, NULL), 0);
  fprintf(stderr, "%zu objects put (%.1f MB)\n", data.n, data.bytes / 1e6);

  for (int i = 0; i < NODES; i++)
    FL_CHECK_OK(fl_itest_cluster_node_stop(&cl, i, SIGTERM));
  size_t flips = corrupt_volumes();
  FL_CHECK_INT(flips, >=, 8);
  const char *const scrub[] = {"--scrub-interval", "1s", "--scrub-rate", "500MB/s", NULL};
  for (int i = 0; i < NODES; i++)
    FL_CHECK_OK(fl_itest_cluster_node_start(&cl, i, scrub));
  for (int i = 0; i < NODES; i++)
    FL_CHECK_OK(fl_itest_cluster_wait_state(&cl, cl.ids[i], FL_NODE_UP | FL_NODE_IN, 60000));

  fl_itest_reader_t rd;
  FL_CHECK_OK(fl_itest_reader_start(&rd, client, &data));
  /* The scrub finds every flipped record (reads may find some first) and
   * each is quarantined once. */
  uint64_t t0 = fl_itest_now_ms();
  while (node_sum(1) < flips && fl_itest_now_ms() - t0 < 120000)
    fl_itest_sleep_ms(200);
  fprintf(stderr, "corrupt finds: %llu, fragments quarantined: %llu\n",
          (unsigned long long)node_sum(0), (unsigned long long)node_sum(1));
  FL_CHECK_INT(node_sum(1), >=, flips);

  fl_itest_repair_sum_t sum;
  fl_errmsg_t em = {{0}};
  int rc = fl_itest_repair_wait(cl.coord_addr, REPAIR_TIMEOUT_MS, &sum, &em);
  fl_itest_reader_stop(&rd);
  fprintf(stderr, "reader: %llu reads (%llu rounds), %llu errors, %llu mismatches%s%s\n",
          (unsigned long long)rd.reads, (unsigned long long)rd.rounds,
          (unsigned long long)rd.errors, (unsigned long long)rd.mismatches,
          rd.first[0] ? "; first: " : "", rd.first);
  if (rc)
    FL__FAIL("repair: %s", fl_errmsg_str(&em, rc));
  fprintf(stderr, "repair finished in epoch %llu: %llu fragments rebuilt, %llu copied\n",
          (unsigned long long)sum.epoch, (unsigned long long)sum.rebuilt,
          (unsigned long long)sum.copied);
  FL_CHECK_EQ(rd.mismatches, 0);
  FL_CHECK_EQ(rd.errors, 0);
  FL_CHECK_INT(rd.rounds, >=, 1);
  FL_CHECK_INT(sum.rebuilt, >=, flips);

  fl_itest_health_expect(cl.coord_addr, "after scrub and repair", NODES, data.n);
  FL_CHECK_EQ(fl_itest_data_check_all(client, &data), 0);
}

int main(void) {
  atexit(kill_all);
  const char *const node_flags[] = {"--repair-interval", "1s", NULL};
  /* Nodes stopped on purpose must not be taken out meanwhile. */
  if (fl_itest_cluster_start(&cl, "itest_repair_scrub", NODES, 4, 2, 32, "10m", NULL,
                             node_flags))
    FL__FAIL("cluster did not start");
  FL_CHECK_OK(fl_itest_cluster_client(&cl, &client));
  FL_RUN(test_scrub_repair);
  fl_client_close(client);
  fl_itest_data_free(&data);
  fl_itest_cluster_stop(&cl);
  FL_DONE();
}
