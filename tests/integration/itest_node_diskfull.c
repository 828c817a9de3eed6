/* A real filmless-node on a small filesystem of the test's own (a tmpfs with
 * a size limit): when the disk fills, puts fail with FL_ENOSPC, reads go on,
 * nothing stored is damaged, and puts work again once space returns (the
 * tmpfs is grown). Run twice: with the node's free-space reserve, and with
 * no reserve so the volume append itself meets ENOSPC. Needs root for mount;
 * without it the test reports itself skipped (exit 77). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fl_itest.h"
#include "fl_test.h"

#define STUDY "1.2.826.0.1.3680043.8.498.66"
#define OBJ (1024 * 1024)

static fl_itest_node_t node;
static char mnt[440];
static int stored; /* objects stored so far, all of them readable */

static fl_nc_key_t key_of(int i, char *sop, size_t cap) {
  snprintf(sop, cap, STUDY ".1.%d", i + 1);
  fl_nc_key_t k = {5, "hosp-f", STUDY, STUDY ".1", sop, 0};
  return k;
}

static int tmpfs_size(const char *size, int remount) {
  char opts[64];
  snprintf(opts, sizeof opts, "size=%s", size);
  return mount("tmpfs", mnt, "tmpfs", remount ? MS_REMOUNT : 0, opts);
}

static void check_all_readable(fl_wire_conn_t *c) {
  uint8_t *want = malloc(OBJ), *got = malloc(OBJ);
  char sop[96];
  for (int i = 0; i < stored; i++) {
    fl_nc_key_t k = key_of(i, sop, sizeof sop);
    uint64_t n = 0;
    fl_itest_fill(want, OBJ, (uint32_t)i);
    FL_CHECK_OK(fl_nc_get(c, &k, 0, 0, got, OBJ, &n, NULL, NULL));
    FL_CHECK_EQ(n, OBJ);
    FL_CHECK_MEM(got, want, OBJ);
  }
  free(want);
  free(got);
}

/* Puts until the disk refuses; returns the error code of the refusal. */
static int fill_disk(fl_wire_conn_t *c, fl_errmsg_t *em) {
  uint8_t *buf = malloc(OBJ);
  char sop[96];
  int rc = 0;
  for (int n = 0; n < 400; n++) {
    fl_nc_key_t k = key_of(stored, sop, sizeof sop);
    fl_itest_fill(buf, OBJ, (uint32_t)stored);
    rc = fl_nc_put(c, &k, NULL, buf, OBJ, NULL, em);
    if (rc)
      break;
    stored++;
  }
  free(buf);
  return rc;
}

static void run_phase(const char *reserve, const char *grow_to) {
  const char *const extra[] = {"--reserve", reserve, "--volume-max", "8MiB", "--log-level",
                               "error", NULL};
  FL_CHECK_OK(fl_itest_node_start(&node, node.dir, extra));
  fl_wire_conn_t c;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_itest_connect(&node, &c));
  int before = stored;
  int rc = fill_disk(&c, &em);
  fprintf(stderr, "reserve %s: %d puts, then %s: %s\n", reserve, stored - before,
          fl_err_name(rc), em.msg);
  FL_CHECK_ERR(rc, FL_ENOSPC);
  FL_CHECK(stored > before);
  /* Reads go on and nothing stored is damaged; a second try fails the same. */
  check_all_readable(&c);
  FL_CHECK_ERR(fill_disk(&c, &em), FL_ENOSPC);
  /* Space returns: writes resume. */
  FL_CHECK_EQ(tmpfs_size(grow_to, 1), 0);
  before = stored;
  uint8_t *buf = malloc(OBJ);
  char sop[96];
  for (int i = 0; i < 5; i++) {
    fl_nc_key_t k = key_of(stored, sop, sizeof sop);
    fl_itest_fill(buf, OBJ, (uint32_t)stored);
    FL_CHECK_OK(fl_nc_put(&c, &k, NULL, buf, OBJ, NULL, &em));
    stored++;
  }
  free(buf);
  check_all_readable(&c);
  fl_wire_conn_close(&c);
  /* Everything survives a restart too. */
  int st = fl_proc_stop(&node.proc, SIGTERM, 20000);
  FL_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  FL_CHECK_OK(fl_itest_node_start(&node, node.dir, extra));
  FL_CHECK_OK(fl_itest_connect(&node, &c));
  check_all_readable(&c);
  fl_wire_conn_close(&c);
  fl_proc_stop(&node.proc, SIGTERM, 20000);
}

/* On any exit, failed checks included: no node left running, no mount left. */
static void cleanup(void) {
  if (node.proc.pid > 0)
    fl_proc_stop(&node.proc, SIGKILL, 5000);
  umount2(mnt, MNT_DETACH);
}

static void test_with_reserve(void) { run_phase("8MiB", "192m"); }

static void test_without_reserve(void) { run_phase("0", "256m"); }

int main(void) {
  char dir[400];
  FL_CHECK_OK(fl_proc_scratch_dir("itest_node_diskfull", dir, sizeof dir));
  snprintf(mnt, sizeof mnt, "%.400s/mnt", dir);
  FL_CHECK_EQ(mkdir(mnt, 0755), 0);
  if (tmpfs_size("128m", 0) != 0) {
    fprintf(stderr, "skipped: mounting a tmpfs needs root (%s)\n", strerror(errno));
    fl_proc_rmtree(dir);
    return 77;
  }
  snprintf(node.dir, sizeof node.dir, "%.440s/data", mnt);
  atexit(cleanup);
  FL_RUN(test_with_reserve);
  FL_RUN(test_without_reserve);
  cleanup();
  fl_proc_rmtree(dir);
  FL_DONE();
}
