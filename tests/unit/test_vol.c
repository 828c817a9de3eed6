/* Unit tests for volumes, group commit and the volume set, on real files:
 * append/read/iterate, torn tails cut at many points, superblock slot
 * corruption, injected and real (tmpfs) ENOSPC, many-thread group commit,
 * a SIGKILLed writer, compaction under concurrent load, and scrub. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fl_crc32c.h"
#include "fl_test.h"
#include "fl_vol.h"
#include "fl_vol_commit.h"
#include "fl_volset.h"

/* ---- helpers ---------------------------------------------------------------- */

static char g_root[4096];
static char g_mount[4096]; /* a tmpfs this test mounted, unmounted at exit */

static void unmount_at_exit(void) {
  if (g_mount[0])
    umount2(g_mount, MNT_DETACH);
}

static void make_dir(char *out, size_t cap, const char *name) {
  if (!g_root[0]) {
    const char *t = getenv("FL_TMP");
    int n = snprintf(g_root, sizeof g_root, "%s/test_vol.XXXXXX", t && t[0] ? t : "/tmp");
    FL_CHECK(n > 0 && (size_t)n < sizeof g_root);
    FL_CHECK(mkdtemp(g_root) != NULL);
  }
  int n = snprintf(out, cap, "%s/%s", g_root, name);
  FL_CHECK(n > 0 && (size_t)n < cap);
  FL_CHECK(mkdir(out, 0755) == 0);
}

static void rm_tree(const char *path) {
  DIR *d = opendir(path);
  if (d) {
    struct dirent *de;
    while ((de = readdir(d))) {
      if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
        continue;
      char sub[4096];
      snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
      rm_tree(sub);
    }
    closedir(d);
    rmdir(path);
  } else {
    unlink(path);
  }
}

/* Deterministic payload bytes for (seed, length). */
static void fill(uint8_t *p, size_t n, uint64_t seed) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p[i] = (uint8_t)x;
  }
}

static uint64_t file_size(const char *path) {
  struct stat st;
  FL_CHECK(stat(path, &st) == 0);
  return (uint64_t)st.st_size;
}

static uint64_t dir_bytes(const char *dir) {
  uint64_t t = 0;
  DIR *d = opendir(dir);
  FL_CHECK(d != NULL);
  struct dirent *de;
  while ((de = readdir(d)))
    if (!strncmp(de->d_name, "vol-", 4)) {
      char p[4096];
      snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
      t += file_size(p);
    }
  closedir(d);
  return t;
}

static void copy_file(const char *from, const char *to, uint64_t len) {
  int a = open(from, O_RDONLY), b = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  FL_CHECK(a >= 0 && b >= 0);
  uint8_t buf[65536];
  uint64_t done = 0;
  while (done < len) {
    size_t want = len - done < sizeof buf ? (size_t)(len - done) : sizeof buf;
    ssize_t n = read(a, buf, want);
    FL_CHECK(n > 0);
    FL_CHECK(write(b, buf, (size_t)n) == n);
    done += (uint64_t)n;
  }
  close(a);
  close(b);
}

static void flip_byte(const char *path, uint64_t off) {
  int fd = open(path, O_RDWR);
  FL_CHECK(fd >= 0);
  uint8_t c;
  FL_CHECK(pread(fd, &c, 1, (off_t)off) == 1);
  c ^= 0x5a;
  FL_CHECK(pwrite(fd, &c, 1, (off_t)off) == 1);
  close(fd);
}

/* A test record: key "k<id>", meta = id, payload fill(id, len). */
typedef struct trec {
  char key[32];
  uint64_t id;
  uint8_t *payload;
  uint64_t len;
  uint16_t flags;
} trec_t;

static void trec_make(trec_t *t, uint64_t id, uint64_t len) {
  snprintf(t->key, sizeof t->key, "k%llu", (unsigned long long)id);
  t->id = id;
  t->len = len;
  t->flags = 0;
  t->payload = malloc(len ? len : 1);
  fill(t->payload, len, id);
}

static fl_vol_rec_in_t trec_in(const trec_t *t) {
  return (fl_vol_rec_in_t){.key = t->key, .key_len = (uint16_t)strlen(t->key),
                           .meta = &t->id, .meta_len = sizeof t->id,
                           .frag = (uint16_t)(t->id % 7), .flags = t->flags, .seq = 0,
                           .payload = t->payload, .payload_len = t->len};
}

/* Reads the record at off of v and checks it is exactly t. */
static void check_vol_rec(fl_vol_t *v, uint64_t off, const trec_t *t) {
  fl_vol_rec_t rec;
  uint8_t *buf = malloc(t->len ? t->len : 1);
  fl_errmsg_t em = {{0}};
  int rc = fl_vol_read(v, off, &rec, buf, 0, t->len, &em);
  if (rc)
    FL__FAIL("read %s at %llu: %s", t->key, (unsigned long long)off, fl_errmsg_str(&em, rc));
  FL_CHECK_EQ(rec.h.payload_len, t->len);
  FL_CHECK_EQ(rec.h.key_len, strlen(t->key));
  FL_CHECK_MEM(rec.h.key, t->key, rec.h.key_len);
  FL_CHECK_EQ(rec.h.meta_len, 8);
  FL_CHECK_MEM(rec.h.meta, &t->id, 8);
  FL_CHECK_EQ(rec.h.frag, t->id % 7);
  FL_CHECK_EQ(rec.h.flags, t->flags);
  FL_CHECK_MEM(buf, t->payload, t->len);
  free(buf);
}

/* Records [0, n) read back exactly and a verifying walk finds no others. */
static void check_exactly(fl_vol_t *v, const trec_t *t, size_t n, const uint64_t *offs) {
  for (size_t i = 0; i < n; i++)
    check_vol_rec(v, offs[i], &t[i]);
  fl_vol_iter_t it;
  fl_vol_rec_t rec;
  uint64_t off;
  size_t count = 0;
  FL_CHECK_OK(fl_vol_iter_init(&it, v, 1));
  while (fl_vol_iter_next(&it, &rec, &off, NULL) == 1)
    count++;
  fl_vol_iter_close(&it);
  FL_CHECK_EQ(count, n);
}

/* ---- single volume ---------------------------------------------------------- */

static const uint64_t sizes[] = {0, 1, 100, 4096 - 56 - 10, 4096, 5000, 65536, 1000000, 3};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void test_append_read_iterate(void) {
  char dir[4096], path[4200];
  make_dir(dir, sizeof dir, "basic");
  snprintf(path, sizeof path, "%s/v.flv", dir);
  fl_vol_t *v;
  FL_CHECK_OK(fl_vol_create(path, 7, NULL, &v, NULL));
  FL_CHECK_EQ(fl_vol_id(v), 7);
  FL_CHECK_EQ(fl_vol_end(v), FL_VOL_DATA_START);
  fl_vol_t *dup;
  FL_CHECK_ERR(fl_vol_create(path, 7, NULL, &dup, NULL), -EEXIST);
  trec_t t[NSIZES];
  fl_vol_rec_in_t in[NSIZES];
  uint64_t offs[NSIZES];
  for (size_t i = 0; i < NSIZES; i++) {
    trec_make(&t[i], i + 1, sizes[i]);
    in[i] = trec_in(&t[i]);
    in[i].seq = 100 + i;
  }
  t[NSIZES - 1].flags = in[NSIZES - 1].flags = FL_VOL_REC_F_TOMBSTONE;
  /* One batch of half, then the rest one by one. */
  FL_CHECK_OK(fl_vol_append(v, in, NSIZES / 2, offs, NULL));
  for (size_t i = NSIZES / 2; i < NSIZES; i++)
    FL_CHECK_OK(fl_vol_append(v, &in[i], 1, &offs[i], NULL));
  FL_CHECK_EQ(offs[0], FL_VOL_DATA_START);
  FL_CHECK_EQ(fl_vol_end(v), FL_VOL_DATA_START + fl_vol_batch_bytes(in, NSIZES));
  FL_CHECK_EQ(fl_vol_max_seq(v), 100 + NSIZES - 1);
  for (size_t i = 0; i < NSIZES; i++) {
    FL_CHECK_EQ(offs[i] % FL_VOL_ALIGN, 0);
    check_vol_rec(v, offs[i], &t[i]);
  }
  /* Range reads. */
  fl_vol_rec_t rec;
  uint8_t part[1000];
  FL_CHECK_OK(fl_vol_read(v, offs[7], &rec, part, 4321, sizeof part, NULL));
  FL_CHECK_MEM(part, t[7].payload + 4321, sizeof part);
  FL_CHECK_ERR(fl_vol_read(v, offs[7], &rec, part, sizes[7] - 10, 11, NULL), -EINVAL);
  FL_CHECK_OK(fl_vol_read(v, offs[7], &rec, NULL, 0, 0, NULL)); /* header only */
  /* Offsets that are not records. */
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(fl_vol_read(v, offs[7] + 4096, &rec, NULL, 0, 0, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "magic") != NULL);
  FL_CHECK_ERR(fl_vol_read(v, fl_vol_end(v), &rec, NULL, 0, 0, NULL), FL_ENOTFOUND);
  FL_CHECK_ERR(fl_vol_read(v, 0, &rec, NULL, 0, 0, NULL), FL_ENOTFOUND);
  FL_CHECK_ERR(fl_vol_read(v, offs[1] + 8, &rec, NULL, 0, 0, NULL), FL_ENOTFOUND);
  /* Invalid records write nothing. */
  fl_vol_rec_in_t bad = in[2];
  bad.key_len = 0;
  uint64_t end = fl_vol_end(v), o;
  FL_CHECK_ERR(fl_vol_append(v, &bad, 1, &o, NULL), FL_ECORRUPT);
  bad = in[2];
  bad.crc_given = 1;
  bad.payload_crc = fl_crc32c(t[2].payload, t[2].len) ^ 1;
  FL_CHECK_ERR(fl_vol_append(v, &bad, 1, &o, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "sender said") != NULL);
  FL_CHECK_EQ(fl_vol_end(v), end);
  FL_CHECK_EQ(file_size(path), end);
  /* Iterate, header-only and verified. */
  for (int verify = 0; verify < 2; verify++) {
    fl_vol_iter_t it;
    FL_CHECK_OK(fl_vol_iter_init(&it, v, verify));
    size_t i = 0;
    uint64_t off;
    int r;
    while ((r = fl_vol_iter_next(&it, &rec, &off, NULL)) == 1) {
      FL_CHECK(i < NSIZES);
      FL_CHECK_EQ(off, offs[i]);
      FL_CHECK_EQ(rec.h.seq, 100 + i);
      FL_CHECK_MEM(rec.h.key, t[i].key, rec.h.key_len);
      i++;
    }
    FL_CHECK_EQ(r, 0);
    FL_CHECK_EQ(i, NSIZES);
    fl_vol_iter_close(&it);
  }
  /* Seal, reopen: read-only, same content. */
  FL_CHECK_OK(fl_vol_seal(v, NULL));
  FL_CHECK_ERR(fl_vol_append(v, in, 1, &o, NULL), FL_EREFUSED);
  fl_vol_close(v);
  fl_vol_recovery_t rep;
  FL_CHECK_OK(fl_vol_open(path, NULL, &v, &rep, NULL));
  FL_CHECK(fl_vol_sealed(v));
  FL_CHECK_EQ(fl_vol_end(v), end);
  FL_CHECK_EQ(fl_vol_max_seq(v), 100 + NSIZES - 1);
  for (size_t i = 0; i < NSIZES; i++)
    check_vol_rec(v, offs[i], &t[i]);
  fl_vol_close(v);
  for (size_t i = 0; i < NSIZES; i++)
    free(t[i].payload);
}

/* Writes n single-record batches; returns offsets and record ends. */
static void write_records(const char *path, trec_t *t, size_t n, uint64_t *offs,
                          uint64_t *ends) {
  fl_vol_t *v;
  FL_CHECK_OK(fl_vol_create(path, 3, NULL, &v, NULL));
  for (size_t i = 0; i < n; i++) {
    fl_vol_rec_in_t in = trec_in(&t[i]);
    in.seq = i + 1;
    FL_CHECK_OK(fl_vol_append(v, &in, 1, &offs[i], NULL));
    ends[i] = fl_vol_end(v);
  }
  fl_vol_close(v);
}

/* Opens path and checks records [0, good) read back exactly and nothing
 * else is found. */
static void check_after_tear(const char *path, trec_t *t, size_t good, const uint64_t *offs,
                             const uint64_t *ends, fl_vol_recovery_t *rep) {
  fl_vol_t *v;
  fl_errmsg_t em = {{0}};
  int rc = fl_vol_open(path, NULL, &v, rep, &em);
  if (rc)
    FL__FAIL("open after tear: %s", fl_errmsg_str(&em, rc));
  uint64_t want_end = good ? ends[good - 1] : FL_VOL_DATA_START;
  FL_CHECK_EQ(fl_vol_end(v), want_end);
  FL_CHECK_EQ(file_size(path), want_end);
  FL_CHECK_EQ(fl_vol_max_seq(v), good);
  check_exactly(v, t, good, offs);
  fl_vol_close(v);
}

static void test_torn_tail(void) {
  char dir[4096], path[4200], orig[4200];
  make_dir(dir, sizeof dir, "torn");
  snprintf(path, sizeof path, "%s/v.flv", dir);
  snprintf(orig, sizeof orig, "%s/orig.flv", dir);
  enum { N = 12 };
  trec_t t[N];
  uint64_t offs[N], ends[N];
  for (size_t i = 0; i < N; i++)
    trec_make(&t[i], 1000 + i, (i * 7919) % 20000 + (i == N - 1 ? 70000 : 0));
  write_records(orig, t, N, offs, ends);
  uint64_t full = file_size(orig);
  FL_CHECK_EQ(full, ends[N - 1]);
  /* Cut at many points: every 512 bytes over the last three records, plus
   * odd cuts inside headers. */
  size_t cuts = 0;
  for (uint64_t cut = offs[N - 3]; cut <= full; cut += 509) {
    copy_file(orig, path, cut);
    size_t good = 0;
    while (good < N && ends[good] <= cut)
      good++;
    fl_vol_recovery_t rep;
    check_after_tear(path, t, good, offs, ends, &rep);
    FL_CHECK_EQ(rep.dropped_bytes, cut - (good ? ends[good - 1] : FL_VOL_DATA_START));
    cuts++;
  }
  for (size_t i = 0; i < N; i++) {
    uint64_t cut = offs[i] + 1 + (i * 13) % 60; /* inside the fixed header */
    copy_file(orig, path, cut);
    check_after_tear(path, t, i, offs, ends, NULL);
    cuts++;
  }
  FL_CHECK(cuts > 40);
  /* Flipped bytes in the last record (header, key, payload, padding): the
   * record is torn and dropped; everything before survives. */
  uint64_t last = offs[N - 1];
  uint64_t spots[] = {last, last + 20, last + 53, last + 56, last + 70, last + 5000,
                      ends[N - 1] - 1};
  for (size_t s = 0; s < sizeof spots / sizeof spots[0]; s++) {
    copy_file(orig, path, full);
    flip_byte(path, spots[s]);
    fl_vol_recovery_t rep;
    check_after_tear(path, t, N - 1, offs, ends, &rep);
    FL_CHECK_EQ(rep.dropped_bytes, full - offs[N - 1]);
  }
  /* A flipped byte in a middle record is not a torn tail: later valid
   * records are kept and the bad one is counted for scrub. */
  copy_file(orig, path, full);
  flip_byte(path, offs[4] + 60);
  fl_vol_t *v;
  fl_vol_recovery_t rep;
  FL_CHECK_OK(fl_vol_open(path, NULL, &v, &rep, NULL));
  FL_CHECK_EQ(rep.corrupt, 1);
  FL_CHECK_EQ(rep.dropped_bytes, 0);
  FL_CHECK_EQ(fl_vol_end(v), full);
  for (size_t i = 0; i < N; i++)
    if (i != 4)
      check_vol_rec(v, offs[i], &t[i]);
  fl_vol_rec_t rec;
  uint8_t *buf = malloc(t[4].len + 1);
  FL_CHECK_ERR(fl_vol_read(v, offs[4], &rec, buf, 0, t[4].len, NULL), FL_ECORRUPT);
  free(buf);
  fl_vol_close(v);
  /* The reopen moved the checkpoint: a second open scans nothing. */
  FL_CHECK_OK(fl_vol_open(path, NULL, &v, &rep, NULL));
  FL_CHECK_EQ(rep.scanned_from, full);
  FL_CHECK_EQ(rep.records, 0);
  fl_vol_close(v);
  /* Tail garbage after the last record (a torn unaligned write). */
  copy_file(orig, path, full);
  int fd = open(path, O_WRONLY | O_APPEND);
  uint8_t junk[3000];
  fill(junk, sizeof junk, 99);
  FL_CHECK(write(fd, junk, sizeof junk) == (ssize_t)sizeof junk);
  close(fd);
  check_after_tear(path, t, N, offs, ends, &rep);
  FL_CHECK_EQ(rep.dropped_bytes, sizeof junk);
  for (size_t i = 0; i < N; i++)
    free(t[i].payload);
}

static void test_superblock_slots(void) {
  char dir[4096], path[4200];
  make_dir(dir, sizeof dir, "super");
  snprintf(path, sizeof path, "%s/v.flv", dir);
  trec_t t;
  trec_make(&t, 5, 12345);
  fl_vol_t *v;
  FL_CHECK_OK(fl_vol_create(path, 11, NULL, &v, NULL)); /* generation 1: slot 1 */
  fl_vol_rec_in_t in = trec_in(&t);
  in.seq = 9;
  uint64_t off;
  FL_CHECK_OK(fl_vol_append(v, &in, 1, &off, NULL));
  FL_CHECK_OK(fl_vol_seal(v, NULL)); /* generation 2: slot 0 */
  fl_vol_close(v);
  /* Newest slot intact: sealed. */
  FL_CHECK_OK(fl_vol_open(path, NULL, &v, NULL, NULL));
  FL_CHECK(fl_vol_sealed(v));
  FL_CHECK_EQ(fl_vol_id(v), 11);
  fl_vol_close(v);
  /* Newest slot torn: the older (active, checkpoint at the start) wins and
   * the records are found again by the scan. */
  flip_byte(path, 17);
  fl_vol_recovery_t rep;
  FL_CHECK_OK(fl_vol_open(path, NULL, &v, &rep, NULL));
  FL_CHECK(!fl_vol_sealed(v));
  FL_CHECK_EQ(rep.records, 1);
  FL_CHECK_EQ(fl_vol_max_seq(v), 9);
  check_vol_rec(v, off, &t);
  fl_vol_close(v);
  /* That open rewrote the checkpoint into slot 0 (generation 2 again). */
  FL_CHECK_OK(fl_vol_open(path, NULL, &v, &rep, NULL));
  FL_CHECK_EQ(rep.scanned_from, fl_vol_end(v));
  fl_vol_close(v);
  /* Both slots bad: refused with a clear message. */
  flip_byte(path, 20);
  flip_byte(path, 4096 + 20);
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(fl_vol_open(path, NULL, &v, NULL, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "no valid superblock") != NULL);
  FL_CHECK(v == NULL);
  free(t.payload);
}

static void test_enospc_injected(void) {
  char dir[4096], path[4200];
  make_dir(dir, sizeof dir, "enospc");
  snprintf(path, sizeof path, "%s/v.flv", dir);
  static fl_vol_fault_t f;
  fl_vol_fault_init(&f, fl_vol_io_posix());
  fl_vol_opts_t o = {.io = &f.io};
  fl_vol_t *v;
  FL_CHECK_OK(fl_vol_create(path, 1, &o, &v, NULL));
  enum { N = 10 };
  trec_t t[N];
  uint64_t offs[N];
  size_t acked = 0;
  for (size_t i = 0; i < N; i++)
    trec_make(&t[i], 50 + i, 30000 + i * 1000);
  for (; acked < 3; acked++) {
    fl_vol_rec_in_t in = trec_in(&t[acked]);
    in.seq = acked + 1;
    FL_CHECK_OK(fl_vol_append(v, &in, 1, &offs[acked], NULL));
  }
  uint64_t end = fl_vol_end(v);
  /* A disk that fills mid-write: half the bytes land, then ENOSPC. */
  fl_vol_fault_set_partial(&f, 1);
  fl_vol_fault_arm(&f, FL_VOL_OP_PWRITE, 1, -ENOSPC, 1);
  fl_vol_rec_in_t in = trec_in(&t[acked]);
  in.seq = acked + 1;
  uint64_t o2;
  fl_errmsg_t em = {{0}};
  for (int k = 0; k < 3; k++) {
    FL_CHECK_ERR(fl_vol_append(v, &in, 1, &o2, &em), FL_ENOSPC);
    FL_CHECK_EQ(fl_vol_end(v), end);
    FL_CHECK_EQ(file_size(path), end);
    for (size_t i = 0; i < acked; i++)
      check_vol_rec(v, offs[i], &t[i]); /* reads go on */
  }
  FL_CHECK(strstr(em.msg, "appending") != NULL);
  /* Space returns: appends resume at the same place. */
  fl_vol_fault_clear(&f);
  FL_CHECK_OK(fl_vol_append(v, &in, 1, &offs[acked], NULL));
  FL_CHECK_EQ(offs[acked], end);
  acked++;
  /* fdatasync failing (EIO, then ENOSPC): the batch is cut back too. */
  int errs[] = {-EIO, -ENOSPC};
  for (int k = 0; k < 2; k++) {
    end = fl_vol_end(v);
    fl_vol_fault_arm(&f, FL_VOL_OP_FDATASYNC, 1, errs[k], 0);
    in = trec_in(&t[acked]);
    in.seq = acked + 1;
    FL_CHECK_ERR(fl_vol_append(v, &in, 1, &o2, NULL), k ? FL_ENOSPC : -EIO);
    FL_CHECK_EQ(file_size(path), end);
    FL_CHECK_OK(fl_vol_append(v, &in, 1, &offs[acked], NULL));
    acked++;
  }
  /* The undo itself failing leaves the volume refusing appends, not lying. */
  fl_vol_fault_arm(&f, FL_VOL_OP_PWRITE, 1, -ENOSPC, 0);
  fl_vol_fault_arm(&f, FL_VOL_OP_FTRUNCATE, 1, -EIO, 0);
  in = trec_in(&t[acked]);
  in.seq = acked + 1;
  FL_CHECK_ERR(fl_vol_append(v, &in, 1, &o2, NULL), FL_ENOSPC);
  FL_CHECK_ERR(fl_vol_append(v, &in, 1, &o2, NULL), -EIO);
  fl_vol_close(v);
  /* After reopening, exactly the acknowledged records are there. */
  FL_CHECK_OK(fl_vol_open(path, NULL, &v, NULL, NULL));
  check_exactly(v, t, acked, offs);
  fl_vol_close(v);
  for (size_t i = 0; i < N; i++)
    free(t[i].payload);
}

/* ---- volume set ---------------------------------------------------------- */

static void check_set_rec(fl_volset_t *s, const fl_volset_loc_t *l, const trec_t *t) {
  fl_vol_rec_t rec;
  uint8_t *buf = malloc(t->len ? t->len : 1);
  fl_errmsg_t em = {{0}};
  int rc = fl_volset_read(s, l->vol_id, l->off, &rec, buf, 0, t->len, &em);
  if (rc)
    FL__FAIL("read %s at %u/%llu: %s", t->key, l->vol_id, (unsigned long long)l->off,
             fl_errmsg_str(&em, rc));
  FL_CHECK_EQ(rec.h.seq, l->seq);
  FL_CHECK_MEM(rec.h.key, t->key, rec.h.key_len);
  FL_CHECK_MEM(buf, t->payload, t->len);
  free(buf);
}

static void test_enospc_tmpfs(void) {
  char mp[4096], dir[4200];
  make_dir(mp, sizeof mp, "tmpfs");
  if (mount("tmpfs", mp, "tmpfs", 0, "size=3m") != 0) {
    if (errno != EPERM && errno != EACCES)
      FL__FAIL("mounting a tmpfs at %s: %s", mp, strerror(errno));
    fprintf(stderr, "SKIP test_enospc_tmpfs: mounting a tmpfs is not permitted here (%s)\n",
            strerror(errno));
    return;
  }
  memcpy(g_mount, mp, sizeof g_mount);
  atexit(unmount_at_exit);
  snprintf(dir, sizeof dir, "%s/set", mp);
  /* Ballast to free later, so space can return. */
  char ballast[4300];
  snprintf(ballast, sizeof ballast, "%s/ballast", mp);
  int fd = open(ballast, O_WRONLY | O_CREAT, 0644);
  uint8_t *chunk = calloc(1, 512 * 1024);
  FL_CHECK(write(fd, chunk, 512 * 1024) == 512 * 1024);
  close(fd);
  free(chunk);
  fl_volset_opts_t o = {.vol = {.max_size = 1 << 20}};
  fl_volset_t *s;
  FL_CHECK_OK(fl_volset_open(dir, &o, &s, NULL));
  enum { MAX = 200 };
  trec_t t[MAX];
  fl_volset_loc_t loc[MAX];
  size_t acked = 0;
  int rc = 0;
  fl_errmsg_t em = {{0}};
  while (acked < MAX) {
    trec_make(&t[acked], 7000 + acked, 60000);
    fl_vol_rec_in_t in = trec_in(&t[acked]);
    rc = fl_volset_append(s, &in, 1, &loc[acked], &em);
    if (rc) {
      free(t[acked].payload);
      break;
    }
    acked++;
  }
  FL_CHECK_ERR(rc, FL_ENOSPC);
  FL_CHECK(acked > 5);
  fprintf(stderr, "  tmpfs full after %zu records: %s\n", acked, em.msg);
  /* Reads go on, writes keep failing cleanly. */
  for (size_t i = 0; i < acked; i++)
    check_set_rec(s, &loc[i], &t[i]);
  trec_t extra;
  trec_make(&extra, 9999, 60000);
  fl_vol_rec_in_t in = trec_in(&extra);
  fl_volset_loc_t el;
  FL_CHECK_ERR(fl_volset_append(s, &in, 1, &el, NULL), FL_ENOSPC);
  /* Space returns. */
  FL_CHECK(unlink(ballast) == 0);
  FL_CHECK_OK(fl_volset_append(s, &in, 1, &el, NULL));
  check_set_rec(s, &el, &extra);
  fl_volset_close(s);
  FL_CHECK_OK(fl_volset_open(dir, &o, &s, NULL));
  for (size_t i = 0; i < acked; i++)
    check_set_rec(s, &loc[i], &t[i]);
  check_set_rec(s, &el, &extra);
  fl_volset_close(s);
  for (size_t i = 0; i < acked; i++)
    free(t[i].payload);
  free(extra.payload);
  FL_CHECK(umount2(mp, MNT_DETACH) == 0);
  g_mount[0] = 0;
}

enum { GC_THREADS = 8, GC_PER = 150 };

typedef struct gc_arg {
  fl_volset_t *s;
  int tid;
  trec_t t[GC_PER];
  fl_volset_loc_t loc[GC_PER];
} gc_arg_t;

static void *gc_writer(void *p) {
  gc_arg_t *a = p;
  for (int i = 0; i < GC_PER; i++) {
    uint64_t id = (uint64_t)a->tid * 100000 + (uint64_t)i;
    trec_make(&a->t[i], id, (id * 2654435761u) % 30000);
    fl_vol_rec_in_t in = trec_in(&a->t[i]);
    fl_errmsg_t em = {{0}};
    int rc = fl_volset_append(a->s, &in, 1, &a->loc[i], &em);
    if (rc)
      FL__FAIL("append from thread %d: %s", a->tid, fl_errmsg_str(&em, rc));
  }
  return NULL;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void test_group_commit_threads(void) {
  char dir[4096];
  make_dir(dir, sizeof dir, "group");
  static fl_vol_fault_t f;
  fl_vol_fault_init(&f, fl_vol_io_posix());
  fl_volset_opts_t o = {.vol = {.io = &f.io, .max_size = 2 << 20}};
  fl_volset_t *s;
  FL_CHECK_OK(fl_volset_open(dir, &o, &s, NULL));
  unsigned long long syncs0 = fl_vol_fault_calls(&f, FL_VOL_OP_FDATASYNC);
  static gc_arg_t args[GC_THREADS];
  pthread_t th[GC_THREADS];
  for (int i = 0; i < GC_THREADS; i++) {
    args[i].s = s;
    args[i].tid = i;
    FL_CHECK(pthread_create(&th[i], NULL, gc_writer, &args[i]) == 0);
  }
  for (int i = 0; i < GC_THREADS; i++)
    pthread_join(th[i], NULL);
  unsigned long long syncs = fl_vol_fault_calls(&f, FL_VOL_OP_FDATASYNC) - syncs0;
  uint64_t flushes, reqs;
  fl_volset_commit_stats(s, &flushes, &reqs);
  size_t nvol = fl_volset_list(s, NULL, 0);
  fprintf(stderr, "  %d appends: %llu fdatasyncs, %llu sync rounds, %zu volumes\n",
          GC_THREADS * GC_PER, syncs, (unsigned long long)flushes, nvol);
  FL_CHECK_EQ(reqs, GC_THREADS * GC_PER);
  /* Rollovers cost two syncs each (new superblock, seal). */
  FL_CHECK(syncs < (unsigned long long)GC_THREADS * GC_PER);
  FL_CHECK(flushes < reqs);
  FL_CHECK(nvol > 2);
  /* Every sequence number is distinct; every record reads back, also after
   * reopening. */
  uint64_t *seqs = malloc(sizeof(uint64_t) * GC_THREADS * GC_PER);
  size_t k = 0;
  for (int i = 0; i < GC_THREADS; i++)
    for (int j = 0; j < GC_PER; j++) {
      seqs[k++] = args[i].loc[j].seq;
      check_set_rec(s, &args[i].loc[j], &args[i].t[j]);
    }
  qsort(seqs, k, sizeof *seqs, cmp_u64);
  for (size_t i = 1; i < k; i++)
    FL_CHECK(seqs[i] > seqs[i - 1]);
  free(seqs);
  fl_volset_close(s);
  FL_CHECK_OK(fl_volset_open(dir, &o, &s, NULL));
  for (int i = 0; i < GC_THREADS; i++)
    for (int j = 0; j < GC_PER; j++) {
      check_set_rec(s, &args[i].loc[j], &args[i].t[j]);
      free(args[i].t[j].payload);
    }
  /* New appends after reopening get higher sequence numbers. */
  trec_t t;
  trec_make(&t, 1, 10);
  fl_vol_rec_in_t in = trec_in(&t);
  fl_volset_loc_t l;
  FL_CHECK_OK(fl_volset_append(s, &in, 1, &l, NULL));
  FL_CHECK_EQ(l.seq, (uint64_t)GC_THREADS * GC_PER + 1);
  free(t.payload);
  fl_volset_close(s);
}

/* A commit over a fake "disk" that tracks what is written, durable and
 * undone, to check batching, ordering and the failure rules without I/O. */
enum { FK_THREADS = 16, FK_PER = 250, FK_N = FK_THREADS * 1000 };

typedef struct fake_disk {
  pthread_mutex_t mu;
  int order[FK_THREADS * FK_PER]; /* write order */
  int n;
  int pending[FK_THREADS * FK_PER]; /* written, not durable */
  int npending;
  unsigned char durable[FK_N], undone[FK_N];
  int writes, syncs, undos;
} fake_disk_t;

static void fake_write(void *ctx, fl_vol_commit_req_t **reqs, size_t n) {
  fake_disk_t *d = ctx;
  pthread_mutex_lock(&d->mu);
  d->writes++;
  for (size_t i = 0; i < n; i++) {
    int v = *(int *)reqs[i]->arg;
    d->order[d->n++] = v;
    reqs[i]->rc = v % 5 == 1 ? -ENOSPC : 0; /* some fail to write */
    if (!reqs[i]->rc)
      d->pending[d->npending++] = v;
  }
  pthread_mutex_unlock(&d->mu);
  usleep(100);
}

static int fake_sync(void *ctx) {
  fake_disk_t *d = ctx;
  pthread_mutex_lock(&d->mu);
  int fail = ++d->syncs % 7 == 0; /* every 7th sync fails */
  int snap = d->npending;
  int vals[FK_THREADS * FK_PER];
  memcpy(vals, d->pending, sizeof(int) * (size_t)snap);
  pthread_mutex_unlock(&d->mu);
  usleep(300); /* a slow fdatasync, so the write stage runs alongside */
  if (fail)
    return -EIO;
  pthread_mutex_lock(&d->mu);
  for (int i = 0; i < snap; i++)
    d->durable[vals[i]] = 1;
  memmove(d->pending, d->pending + snap, sizeof(int) * (size_t)(d->npending - snap));
  d->npending -= snap;
  pthread_mutex_unlock(&d->mu);
  return 0;
}

static void fake_undo(void *ctx) {
  fake_disk_t *d = ctx;
  pthread_mutex_lock(&d->mu);
  d->undos++;
  for (int i = 0; i < d->npending; i++)
    d->undone[d->pending[i]] = 1;
  d->npending = 0;
  pthread_mutex_unlock(&d->mu);
}

typedef struct fake_arg {
  fl_vol_commit_t *c;
  fake_disk_t *d;
  int base;
  int bad, acked, eio;
} fake_arg_t;

static void *fake_submitter(void *p) {
  fake_arg_t *a = p;
  for (int i = 0; i < FK_PER; i++) {
    int v = a->base + i;
    fl_vol_commit_req_t r = {.arg = &v, .bytes = 1};
    int rc = fl_vol_commit_submit(a->c, &r);
    pthread_mutex_lock(&a->d->mu);
    if (v % 5 == 1) {
      a->bad += rc != -ENOSPC;
    } else if (rc == 0) {
      a->bad += !a->d->durable[v] || a->d->undone[v]; /* acked => durable */
      a->acked++;
    } else {
      a->bad += rc != -EIO;
      a->eio++;
    }
    pthread_mutex_unlock(&a->d->mu);
  }
  return NULL;
}

static void test_commit_pipeline(void) {
  static fake_disk_t d = {.mu = PTHREAD_MUTEX_INITIALIZER};
  fl_vol_commit_t c;
  fl_vol_commit_ops_t ops = {fake_write, fake_sync, fake_undo, NULL};
  FL_CHECK_OK(fl_vol_commit_init(&c, &ops, &d, 0));
  fake_arg_t a[FK_THREADS];
  pthread_t th[FK_THREADS];
  for (int i = 0; i < FK_THREADS; i++) {
    a[i] = (fake_arg_t){&c, &d, i * 1000, 0, 0, 0};
    FL_CHECK(pthread_create(&th[i], NULL, fake_submitter, &a[i]) == 0);
  }
  int acked = 0, eio = 0;
  for (int i = 0; i < FK_THREADS; i++) {
    pthread_join(th[i], NULL);
    FL_CHECK_EQ(a[i].bad, 0);
    acked += a[i].acked;
    eio += a[i].eio;
  }
  fprintf(stderr, "  %d requests: %d writes, %d syncs (%d undone), %d acked, %d failed sync\n",
          d.n, d.writes, d.syncs, d.undos, acked, eio);
  FL_CHECK_EQ(d.n, FK_THREADS * FK_PER);
  FL_CHECK(d.writes < d.n);
  FL_CHECK(d.syncs < d.n);
  FL_CHECK(d.undos > 0);
  FL_CHECK(eio > 0);
  FL_CHECK(acked > 0);
  uint64_t syncs, reqs;
  fl_vol_commit_stats(&c, &syncs, &reqs);
  FL_CHECK_EQ(reqs, FK_THREADS * FK_PER);
  /* Each submitter's requests were written in its order. */
  int last[FK_THREADS];
  for (int i = 0; i < FK_THREADS; i++)
    last[i] = -1;
  for (int i = 0; i < d.n; i++) {
    int who = d.order[i] / 1000, seq = d.order[i] % 1000;
    FL_CHECK(seq > last[who]);
    last[who] = seq;
  }
  fl_vol_commit_destroy(&c);
}

/* ---- compaction under load ------------------------------------------------- */

enum { CK_KEYS = 60, CK_VERSIONS = 4, CK_LEN = 9000 };

typedef struct ck_index {
  pthread_mutex_t mu;
  fl_volset_loc_t loc[CK_KEYS + 1000];
  uint64_t version[CK_KEYS + 1000];
  int n; /* keys in use */
  atomic_int stop;
  atomic_ullong writer_bytes, reads, moves;
  fl_volset_t *s;
} ck_index_t;

static uint64_t ck_id(int key, uint64_t version) { return (uint64_t)key * 1000 + version; }

static void ck_put(ck_index_t *ix, int key, uint64_t version) {
  trec_t t;
  trec_make(&t, ck_id(key, version), CK_LEN + (uint64_t)key);
  fl_vol_rec_in_t in = trec_in(&t);
  fl_volset_loc_t l;
  FL_CHECK_OK(fl_volset_append(ix->s, &in, 1, &l, NULL));
  pthread_mutex_lock(&ix->mu);
  ix->loc[key] = l;
  ix->version[key] = version;
  pthread_mutex_unlock(&ix->mu);
  atomic_fetch_add(&ix->writer_bytes, fl_vol_batch_bytes(&in, 1));
  free(t.payload);
}

static int ck_live(void *ctx, uint32_t vol_id, uint64_t off, const fl_vol_rec_hdr_t *h) {
  ck_index_t *ix = ctx;
  (void)h;
  pthread_mutex_lock(&ix->mu);
  int live = 0;
  for (int k = 0; k < ix->n; k++)
    if (ix->loc[k].vol_id == vol_id && ix->loc[k].off == off)
      live = 1;
  pthread_mutex_unlock(&ix->mu);
  return live;
}

static int ck_reloc(void *ctx, const fl_vol_rec_hdr_t *h, uint32_t old_vol, uint64_t old_off,
                    const fl_volset_loc_t *to) {
  ck_index_t *ix = ctx;
  pthread_mutex_lock(&ix->mu);
  for (int k = 0; k < ix->n; k++)
    if (ix->loc[k].vol_id == old_vol && ix->loc[k].off == old_off) {
      FL_CHECK_EQ(to->seq, h->seq);
      ix->loc[k] = *to;
    }
  pthread_mutex_unlock(&ix->mu);
  atomic_fetch_add(&ix->moves, 1);
  return 0;
}

static void *ck_reader(void *p) {
  ck_index_t *ix = p;
  uint8_t *buf = malloc(CK_LEN + 2000), *want = malloc(CK_LEN + 2000);
  unsigned x = 1;
  while (!atomic_load(&ix->stop)) {
    x = x * 1103515245u + 12345u;
    int key = (int)((x >> 8) % CK_KEYS);
    for (;;) {
      pthread_mutex_lock(&ix->mu);
      fl_volset_loc_t l = ix->loc[key];
      uint64_t ver = ix->version[key];
      pthread_mutex_unlock(&ix->mu);
      fl_vol_rec_t rec;
      uint64_t len = CK_LEN + (uint64_t)key;
      int rc = fl_volset_read(ix->s, l.vol_id, l.off, &rec, buf, 0, len, NULL);
      if (rc == FL_ENOTFOUND)
        continue; /* compacted away between lookup and read: look again */
      FL_CHECK_OK(rc);
      fill(want, len, ck_id(key, ver));
      FL_CHECK_MEM(buf, want, len);
      break;
    }
    atomic_fetch_add(&ix->reads, 1);
  }
  free(buf);
  free(want);
  return NULL;
}

static void *ck_writer(void *p) {
  ck_index_t *ix = p;
  /* New keys only, so liveness of old records does not change under us. */
  for (int k = CK_KEYS; k < CK_KEYS + 300 && !atomic_load(&ix->stop); k++) {
    pthread_mutex_lock(&ix->mu);
    ix->n = k + 1;
    pthread_mutex_unlock(&ix->mu);
    ck_put(ix, k, 0);
  }
  return NULL;
}

static void test_compaction_under_load(void) {
  char dir[4096];
  make_dir(dir, sizeof dir, "compact");
  static ck_index_t ix = {.mu = PTHREAD_MUTEX_INITIALIZER};
  fl_volset_opts_t o = {.vol = {.max_size = 512 << 10}};
  FL_CHECK_OK(fl_volset_open(dir, &o, &ix.s, NULL));
  ix.n = CK_KEYS;
  for (uint64_t v = 0; v < CK_VERSIONS; v++)
    for (int k = 0; k < CK_KEYS; k++)
      ck_put(&ix, k, v);
  FL_CHECK_OK(fl_volset_roll(ix.s, NULL));
  uint32_t ids[256];
  size_t nv = fl_volset_list(ix.s, ids, 256);
  FL_CHECK(nv > 4 && nv < 256);
  uint32_t active = fl_volset_active_id(ix.s);
  /* Dead bytes, as the test's own index sees them. */
  uint64_t live_bytes = 0, sealed_bytes = 0;
  for (size_t i = 0; i < nv; i++)
    if (ids[i] != active) {
      char p[4300];
      snprintf(p, sizeof p, "%s/vol-%010u.flv", dir, ids[i]);
      sealed_bytes += file_size(p);
    }
  for (int k = 0; k < CK_KEYS; k++)
    live_bytes += fl_vol_rec_footprint(strlen("k") + 5, 8, CK_LEN + (uint64_t)k);
  uint64_t dead = sealed_bytes - live_bytes;
  uint64_t before = dir_bytes(dir);
  atomic_store(&ix.writer_bytes, 0);
  pthread_t rd[2], wr;
  for (int i = 0; i < 2; i++)
    FL_CHECK(pthread_create(&rd[i], NULL, ck_reader, &ix) == 0);
  FL_CHECK(pthread_create(&wr, NULL, ck_writer, &ix) == 0);
  uint64_t compacted_live = 0;
  for (size_t i = 0; i < nv; i++) {
    if (ids[i] == active)
      continue;
    fl_volset_compact_stats_t st;
    fl_errmsg_t em = {{0}};
    int rc = fl_volset_compact(ix.s, ids[i], ck_live, ck_reloc, &ix, &st, &em);
    if (rc)
      FL__FAIL("compacting %u: %s", ids[i], fl_errmsg_str(&em, rc));
    compacted_live += st.live_bytes;
  }
  atomic_store(&ix.stop, 1);
  for (int i = 0; i < 2; i++)
    pthread_join(rd[i], NULL);
  pthread_join(wr, NULL);
  FL_CHECK_EQ(compacted_live, live_bytes);
  /* Superblocks of volumes created by rollover during the run count as
   * new bytes the writer caused. */
  uint64_t after = dir_bytes(dir);
  uint64_t reclaimed = before + atomic_load(&ix.writer_bytes) - after;
  fprintf(stderr,
          "  dead %llu bytes, reclaimed %llu (%.1f%%), %llu concurrent reads, %llu moves\n",
          (unsigned long long)dead, (unsigned long long)reclaimed,
          100.0 * (double)reclaimed / (double)dead, (unsigned long long)atomic_load(&ix.reads),
          (unsigned long long)atomic_load(&ix.moves));
  FL_CHECK(reclaimed * 10 >= dead * 9);
  FL_CHECK(atomic_load(&ix.reads) > 0);
  /* Everything the index points at reads back, also after reopening. */
  for (int pass = 0; pass < 2; pass++) {
    for (int k = 0; k < ix.n; k++) {
      trec_t t;
      trec_make(&t, ck_id(k, ix.version[k]), CK_LEN + (uint64_t)k);
      check_set_rec(ix.s, &ix.loc[k], &t);
      free(t.payload);
    }
    fl_volset_close(ix.s);
    if (pass == 0)
      FL_CHECK_OK(fl_volset_open(dir, &o, &ix.s, NULL));
  }
  /* Refused: compacting the active volume. */
  FL_CHECK_OK(fl_volset_open(dir, &o, &ix.s, NULL));
  FL_CHECK_ERR(fl_volset_compact(ix.s, fl_volset_active_id(ix.s), ck_live, ck_reloc, &ix,
                                 NULL, NULL),
               FL_EREFUSED);
  fl_volset_close(ix.s);
}

/* ---- scrub ---------------------------------------------------------------------- */

typedef struct found {
  uint32_t vol[64];
  uint64_t off[64];
  int n;
} found_t;

static void on_corrupt(void *ctx, uint32_t vol_id, uint64_t off, int code, const char *why) {
  found_t *f = ctx;
  FL_CHECK_EQ(code, FL_ECORRUPT);
  FL_CHECK(why && why[0]);
  if (f->n < 64) {
    f->vol[f->n] = vol_id;
    f->off[f->n] = off;
    f->n++;
  }
}

typedef struct rb_count {
  uint64_t n, tombstones;
} rb_count_t;

static int rb_visit(void *ctx, uint32_t vol_id, uint64_t off, const fl_vol_rec_hdr_t *h) {
  rb_count_t *c = ctx;
  (void)vol_id;
  (void)off;
  c->n++;
  if (h->flags & FL_VOL_REC_F_TOMBSTONE)
    c->tombstones++;
  return 0;
}

static void test_scrub_and_foreach(void) {
  char dir[4096];
  make_dir(dir, sizeof dir, "scrub");
  fl_volset_opts_t o = {.vol = {.max_size = 256 << 10}};
  fl_volset_t *s;
  FL_CHECK_OK(fl_volset_open(dir, &o, &s, NULL));
  enum { N = 60 };
  trec_t t[N];
  fl_volset_loc_t loc[N];
  for (int i = 0; i < N; i++) {
    trec_make(&t[i], (uint64_t)i + 1, (uint64_t)(i * 3001) % 40000);
    if (i % 10 == 9)
      t[i].flags = FL_VOL_REC_F_TOMBSTONE;
    fl_vol_rec_in_t in = trec_in(&t[i]);
    FL_CHECK_OK(fl_volset_append(s, &in, 1, &loc[i], NULL));
  }
  rb_count_t c = {0};
  uint64_t corrupt = 0;
  FL_CHECK_OK(fl_volset_foreach(s, rb_visit, &c, &corrupt, NULL));
  FL_CHECK_EQ(c.n, N);
  FL_CHECK_EQ(c.tombstones, N / 10);
  found_t f = {0};
  fl_volset_scrub_stats_t st;
  FL_CHECK_OK(fl_volset_scrub(s, 0, on_corrupt, &f, NULL, &st, NULL));
  FL_CHECK_EQ(f.n, 0);
  FL_CHECK_EQ(st.records, N);
  FL_CHECK_OK(fl_volset_roll(s, NULL)); /* every data volume sealed */
  fl_volset_close(s);
  /* Flip one byte in each of several records, at different places: magic,
   * fixed header, key, meta, first/last payload byte, padding. */
  int victims[] = {0, 5, 11, 17, 23, 29, 36, 42, 50, 59};
  enum { NV = sizeof victims / sizeof victims[0] };
  for (int j = 0; j < NV; j++) {
    const trec_t *v = &t[victims[j]];
    uint64_t hdr = 56 + strlen(v->key) + 8;
    uint64_t fp = fl_vol_rec_footprint(strlen(v->key), 8, v->len);
    uint64_t rel[] = {0, 30, 57, 56 + strlen(v->key) + 2, hdr, hdr + v->len - 1, fp - 1};
    uint64_t r = rel[j % 7];
    if (r >= hdr && v->len == 0)
      r = 30;
    char p[4300];
    snprintf(p, sizeof p, "%s/vol-%010u.flv", dir, loc[victims[j]].vol_id);
    flip_byte(p, loc[victims[j]].off + r);
  }
  FL_CHECK_OK(fl_volset_open(dir, &o, &s, NULL));
  FL_CHECK_OK(fl_volset_scrub(s, 0, on_corrupt, &f, NULL, &st, NULL));
  FL_CHECK_EQ(f.n, NV);
  FL_CHECK_EQ(st.corrupt, NV);
  FL_CHECK_EQ(st.records, N - NV);
  for (int j = 0; j < NV; j++) {
    int hit = 0;
    for (int k = 0; k < f.n; k++)
      if (f.vol[k] == loc[victims[j]].vol_id && f.off[k] == loc[victims[j]].off)
        hit = 1;
    if (!hit)
      FL__FAIL("scrub missed the flip in record %d", victims[j]);
  }
  /* Header-only rebuild walk skips records with bad headers only. */
  c = (rb_count_t){0};
  corrupt = 0;
  FL_CHECK_OK(fl_volset_foreach(s, rb_visit, &c, &corrupt, NULL));
  FL_CHECK_EQ(c.n + corrupt, N);
  FL_CHECK(corrupt >= 3);
  /* A stop flag ends the scrub early. */
  atomic_int stop = 1;
  FL_CHECK_OK(fl_volset_scrub(s, 0, on_corrupt, &f, &stop, &st, NULL));
  FL_CHECK_EQ(st.records, 0);
  fl_volset_close(s);
  for (int i = 0; i < N; i++)
    free(t[i].payload);
}

/* A failed append that cannot be cut back: the set moves to a new volume. */
static void test_set_broken_volume(void) {
  char dir[4096];
  make_dir(dir, sizeof dir, "broken");
  static fl_vol_fault_t f;
  fl_vol_fault_init(&f, fl_vol_io_posix());
  fl_volset_opts_t o = {.vol = {.io = &f.io}};
  fl_volset_t *s;
  FL_CHECK_OK(fl_volset_open(dir, &o, &s, NULL));
  trec_t t[3];
  fl_volset_loc_t loc[3];
  for (int i = 0; i < 3; i++)
    trec_make(&t[i], 300 + (uint64_t)i, 20000);
  fl_vol_rec_in_t in = trec_in(&t[0]);
  FL_CHECK_OK(fl_volset_append(s, &in, 1, &loc[0], NULL));
  uint32_t first = fl_volset_active_id(s);
  fl_vol_fault_set_partial(&f, 1);
  fl_vol_fault_arm(&f, FL_VOL_OP_PWRITE, 1, -ENOSPC, 0);
  fl_vol_fault_arm(&f, FL_VOL_OP_FTRUNCATE, 1, -EIO, 0);
  in = trec_in(&t[1]);
  FL_CHECK_ERR(fl_volset_append(s, &in, 1, &loc[1], NULL), FL_ENOSPC);
  in = trec_in(&t[2]);
  FL_CHECK_OK(fl_volset_append(s, &in, 1, &loc[2], NULL));
  FL_CHECK(loc[2].vol_id != first);
  FL_CHECK_EQ(fl_volset_active_id(s), loc[2].vol_id);
  check_set_rec(s, &loc[0], &t[0]);
  check_set_rec(s, &loc[2], &t[2]);
  fl_volset_close(s);
  /* Reopened: the first volume is sealed at its last good record. */
  FL_CHECK_OK(fl_volset_open(dir, NULL, &s, NULL));
  check_set_rec(s, &loc[0], &t[0]);
  check_set_rec(s, &loc[2], &t[2]);
  uint64_t corrupt = 0;
  rb_count_t c = {0};
  FL_CHECK_OK(fl_volset_foreach(s, rb_visit, &c, &corrupt, NULL));
  FL_CHECK_EQ(c.n, 2);
  FL_CHECK_EQ(corrupt, 0);
  fl_volset_close(s);
  for (int i = 0; i < 3; i++)
    free(t[i].payload);
}

/* A failed fdatasync under many writers: the requests it covered (and any
 * written after it) fail, everything acknowledged stays, nothing is torn. */
enum { SF_THREADS = 8, SF_PER = 60 };

typedef struct sf_arg {
  fl_volset_t *s;
  int tid;
  trec_t t[SF_PER];
  fl_volset_loc_t loc[SF_PER];
  int rc[SF_PER];
} sf_arg_t;

static void *sf_writer(void *p) {
  sf_arg_t *a = p;
  for (int i = 0; i < SF_PER; i++) {
    trec_make(&a->t[i], (uint64_t)a->tid * 1000 + (uint64_t)i, 5000 + (uint64_t)i * 100);
    fl_vol_rec_in_t in = trec_in(&a->t[i]);
    a->rc[i] = fl_volset_append(a->s, &in, 1, &a->loc[i], NULL);
  }
  return NULL;
}

static void test_group_commit_sync_failure(void) {
  char dir[4096];
  make_dir(dir, sizeof dir, "syncfail");
  static fl_vol_fault_t f;
  fl_vol_fault_init(&f, fl_vol_io_posix());
  fl_volset_opts_t o = {.vol = {.io = &f.io}};
  fl_volset_t *s;
  FL_CHECK_OK(fl_volset_open(dir, &o, &s, NULL));
  fl_vol_fault_arm(&f, FL_VOL_OP_FDATASYNC, 15, -EIO, 0);
  static sf_arg_t a[SF_THREADS];
  pthread_t th[SF_THREADS];
  for (int i = 0; i < SF_THREADS; i++) {
    a[i].s = s;
    a[i].tid = i;
    FL_CHECK(pthread_create(&th[i], NULL, sf_writer, &a[i]) == 0);
  }
  for (int i = 0; i < SF_THREADS; i++)
    pthread_join(th[i], NULL);
  FL_CHECK_EQ(atomic_load(&f.injected), 1);
  int failed = 0;
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < SF_THREADS; i++)
      for (int j = 0; j < SF_PER; j++) {
        if (a[i].rc[j] == 0)
          check_set_rec(s, &a[i].loc[j], &a[i].t[j]);
        else if (pass == 0) {
          FL_CHECK_EQ(a[i].rc[j], -EIO);
          failed++;
        }
      }
    rb_count_t c = {0};
    uint64_t corrupt = 0;
    FL_CHECK_OK(fl_volset_foreach(s, rb_visit, &c, &corrupt, NULL));
    FL_CHECK_EQ(corrupt, 0);
    /* A failed request's bytes may have been made durable by an earlier
     * sync that saw them written; they are then whole, never torn. */
    FL_CHECK(c.n >= (uint64_t)(SF_THREADS * SF_PER - failed));
    FL_CHECK(c.n <= SF_THREADS * SF_PER);
    fl_volset_close(s);
    FL_CHECK_OK(fl_volset_open(dir, &o, &s, NULL));
  }
  fprintf(stderr, "  %d of %d appends failed with the fdatasync\n", failed,
          SF_THREADS * SF_PER);
  FL_CHECK(failed > 0);
  fl_volset_close(s);
  for (int i = 0; i < SF_THREADS; i++)
    for (int j = 0; j < SF_PER; j++)
      free(a[i].t[j].payload);
}

/* ---- a writer killed mid-flight ----------------------------------------- */

enum { KILL_THREADS = 4 };

typedef struct kill_arg {
  fl_volset_t *s;
  int tid, fd;
} kill_arg_t;

static void *kill_writer(void *p) {
  kill_arg_t *a = p;
  for (uint64_t i = 0;; i++) {
    trec_t t;
    uint64_t id = (uint64_t)a->tid << 32 | i;
    trec_make(&t, id, (i * 7717) % 300000);
    fl_vol_rec_in_t in = trec_in(&t);
    fl_volset_loc_t l;
    if (fl_volset_append(a->s, &in, 1, &l, NULL) != 0)
      _exit(3);
    free(t.payload);
    /* Acknowledged: tell the parent (one atomic pipe write). */
    uint64_t msg[4] = {id, l.vol_id, l.off, (i * 7717) % 300000};
    if (write(a->fd, msg, sizeof msg) != (ssize_t)sizeof msg)
      _exit(4);
  }
  return NULL;
}

typedef struct kill_seen {
  uint64_t n, bad;
} kill_seen_t;

static int kill_visit(void *ctx, uint32_t vol_id, uint64_t off, const fl_vol_rec_hdr_t *h) {
  kill_seen_t *k = ctx;
  (void)vol_id;
  (void)off;
  /* Whatever recovery kept must be exactly what some writer sent. */
  uint64_t id;
  memcpy(&id, h->meta, 8);
  char key[32];
  snprintf(key, sizeof key, "k%llu", (unsigned long long)id);
  if (h->key_len != strlen(key) || memcmp(h->key, key, h->key_len) ||
      h->payload_len != ((id & 0xffffffffu) * 7717) % 300000)
    k->bad++;
  k->n++;
  return 0;
}

static void test_killed_writer(void) {
  char dir[4096];
  make_dir(dir, sizeof dir, "kill");
  int pfd[2];
  FL_CHECK(pipe(pfd) == 0);
  pid_t pid = fork();
  FL_CHECK(pid >= 0);
  if (pid == 0) {
    close(pfd[0]);
    fl_volset_opts_t o = {.vol = {.max_size = 4 << 20}};
    fl_volset_t *s;
    if (fl_volset_open(dir, &o, &s, NULL))
      _exit(2);
    kill_arg_t a[KILL_THREADS];
    pthread_t th[KILL_THREADS];
    for (int i = 0; i < KILL_THREADS; i++) {
      a[i] = (kill_arg_t){s, i, pfd[1]};
      pthread_create(&th[i], NULL, kill_writer, &a[i]);
    }
    for (;;)
      pause();
  }
  close(pfd[1]);
  enum { ACKS = 600 };
  static uint64_t acks[ACKS][4];
  size_t n = 0;
  while (n < ACKS) {
    ssize_t r = read(pfd[0], acks[n], sizeof acks[n]);
    FL_CHECK_EQ(r, sizeof acks[n]);
    n++;
  }
  kill(pid, SIGKILL);
  /* Acks already in the pipe are acknowledged writes too. */
  static uint64_t more[4096][4];
  size_t m = 0;
  int status;
  waitpid(pid, &status, 0);
  FL_CHECK(WIFSIGNALED(status));
  while (m < 4096 && read(pfd[0], more[m], sizeof more[m]) == (ssize_t)sizeof more[m])
    m++;
  close(pfd[0]);
  fl_volset_t *s;
  FL_CHECK_OK(fl_volset_open(dir, NULL, &s, NULL));
  for (size_t i = 0; i < n + m; i++) {
    uint64_t *a = i < n ? acks[i] : more[i - n];
    trec_t t;
    trec_make(&t, a[0], a[3]);
    fl_volset_loc_t l = {(uint32_t)a[1], a[2], 0};
    fl_vol_rec_t rec;
    uint8_t *buf = malloc(t.len + 1);
    FL_CHECK_OK(fl_volset_read(s, l.vol_id, l.off, &rec, buf, 0, t.len, NULL));
    FL_CHECK_MEM(buf, t.payload, t.len);
    FL_CHECK_MEM(rec.h.key, t.key, rec.h.key_len);
    free(buf);
    free(t.payload);
  }
  kill_seen_t k = {0};
  uint64_t corrupt = 0;
  FL_CHECK_OK(fl_volset_foreach(s, kill_visit, &k, &corrupt, NULL));
  FL_CHECK_EQ(k.bad, 0);
  FL_CHECK_EQ(corrupt, 0);
  FL_CHECK(k.n >= n + m);
  fprintf(stderr, "  %zu acknowledged before the kill, %llu records after recovery\n", n + m,
          (unsigned long long)k.n);
  fl_volset_close(s);
}

int main(void) {
  FL_RUN(test_append_read_iterate);
  FL_RUN(test_torn_tail);
  FL_RUN(test_superblock_slots);
  FL_RUN(test_enospc_injected);
  FL_RUN(test_enospc_tmpfs);
  FL_RUN(test_commit_pipeline);
  FL_RUN(test_group_commit_threads);
  FL_RUN(test_compaction_under_load);
  FL_RUN(test_scrub_and_foreach);
  FL_RUN(test_set_broken_volume);
  FL_RUN(test_group_commit_sync_failure);
  FL_RUN(test_killed_writer);
  rm_tree(g_root);
  FL_DONE();
}
