/* Crash safety of filmless-node, with real processes: writers pound a node
 * with puts and the node is killed with SIGKILL in the middle, 20 times
 * over. After every restart each write that was acknowledged reads back
 * byte-exact, and a write that was not acknowledged is either absent or
 * byte-exact: a torn record is never returned as valid. Then three SIGTERMs
 * in the middle of a storm: the node answers every write it took in, so no
 * write is complete on disk without having been acknowledged. At the end
 * the index rebuilt from the volumes equals the live one. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fl_itest.h"
#include "fl_test.h"

#define ROUNDS 20
#define WRITERS 4
#define MAX_OBJ (256 * 1024)
#define MAX_RECS 20000

#define STUDY "1.2.826.0.1.3680043.8.498.77"

typedef struct rec {
  int round, writer, seq;
  uint32_t size;
  int acked; /* 1: acknowledged, 0: sent but no answer */
} rec_t;

static fl_itest_node_t node;
static rec_t recs[MAX_RECS];
static int nrecs;
static pthread_mutex_t recs_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int round_no;

static uint32_t seed_of(const rec_t *r) {
  return (uint32_t)(r->round * 1000003 + r->writer * 10007 + r->seq);
}

static void sop_of(const rec_t *r, char *sop, size_t cap) {
  snprintf(sop, cap, STUDY ".%d.%d.%d", r->round + 1, r->writer + 1, r->seq + 1);
}

static fl_nc_key_t key_of(const char *sop) {
  fl_nc_key_t k = {3, "hosp-crash", STUDY, STUDY ".1", sop, 0};
  return k;
}

static void *writer(void *arg) {
  int w = (int)(intptr_t)arg;
  int round = atomic_load(&round_no);
  fl_wire_conn_t c;
  if (fl_itest_connect(&node, &c) != 0)
    return NULL;
  uint8_t *buf = malloc(MAX_OBJ);
  uint32_t rnd = (uint32_t)(round * 31 + w + 1);
  for (int seq = 0;; seq++) {
    rnd = rnd * 1103515245u + 12345u;
    pthread_mutex_lock(&recs_mu);
    if (nrecs == MAX_RECS) {
      pthread_mutex_unlock(&recs_mu);
      break;
    }
    int i = nrecs++;
    recs[i] = (rec_t){round, w, seq, 1 + (rnd >> 8) % MAX_OBJ, 0};
    pthread_mutex_unlock(&recs_mu);
    char sop[96];
    sop_of(&recs[i], sop, sizeof sop);
    fl_nc_key_t k = key_of(sop);
    fl_itest_fill(buf, recs[i].size, seed_of(&recs[i]));
    int rc = fl_nc_put(&c, &k, NULL, buf, recs[i].size, NULL, NULL);
    if (rc != 0)
      break; /* the node died under us: this one stays unacknowledged */
    recs[i].acked = 1;
  }
  free(buf);
  fl_wire_conn_close(&c);
  return NULL;
}

/* Checks every record written so far; returns how many were complete on
 * disk without having been acknowledged. */
static int verify_all(void) {
  fl_wire_conn_t c;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_itest_connect(&node, &c));
  uint8_t *want = malloc(MAX_OBJ), *got = malloc(MAX_OBJ);
  int acked = 0, absent = 0, survived = 0;
  for (int i = 0; i < nrecs; i++) {
    char sop[96];
    sop_of(&recs[i], sop, sizeof sop);
    fl_nc_key_t k = key_of(sop);
    uint64_t n = 0;
    fl_itest_fill(want, recs[i].size, seed_of(&recs[i]));
    int rc = fl_nc_get(&c, &k, 0, 0, got, MAX_OBJ, &n, NULL, &em);
    if (recs[i].acked) {
      if (rc != 0)
        fprintf(stderr, "acknowledged %s lost: %s\n", sop, fl_errmsg_str(&em, rc));
      FL_CHECK_OK(rc);
      acked++;
    } else if (rc == FL_ENOTFOUND) {
      absent++;
      continue;
    } else {
      FL_CHECK_OK(rc);
      survived++;
    }
    FL_CHECK_EQ(n, recs[i].size);
    FL_CHECK_MEM(got, want, n);
  }
  fprintf(stderr, "round %d: %d acknowledged intact, %d unacknowledged absent, %d unacknowledged"
                  " but complete\n",
          atomic_load(&round_no), acked, absent, survived);
  free(want);
  free(got);
  fl_wire_conn_close(&c);
  return survived;
}

static char dir[400];

static void test_kill_storm(void) {
  FL_CHECK_OK(fl_proc_scratch_dir("itest_node_crash", dir, sizeof dir));
  snprintf(node.dir, sizeof node.dir, "%s/n1", dir);
  const char *const extra[] = {"--log-level", "warn", NULL};
  FL_CHECK_OK(fl_itest_node_start(&node, node.dir, extra));
  srand(12345);
  int survived = 0;
  for (int r = 0; r < ROUNDS; r++) {
    atomic_store(&round_no, r);
    pthread_t th[WRITERS];
    for (int w = 0; w < WRITERS; w++)
      FL_CHECK_EQ(pthread_create(&th[w], NULL, writer, (void *)(intptr_t)w), 0);
    struct timespec ts = {0, (50 + rand() % 250) * 1000000L};
    nanosleep(&ts, NULL);
    int st = fl_proc_stop(&node.proc, SIGKILL, 10000);
    FL_CHECK(WIFSIGNALED(st));
    for (int w = 0; w < WRITERS; w++)
      pthread_join(th[w], NULL);
    FL_CHECK_OK(fl_itest_node_start(&node, node.dir, extra));
    survived = verify_all();
  }
  /* SIGTERM in the middle of a storm: the node answers what it took in and
   * exits 0, so every write is now either acknowledged or absent. */
  for (int r = ROUNDS; r < ROUNDS + 3; r++) {
    atomic_store(&round_no, r);
    pthread_t th[WRITERS];
    for (int w = 0; w < WRITERS; w++)
      FL_CHECK_EQ(pthread_create(&th[w], NULL, writer, (void *)(intptr_t)w), 0);
    struct timespec ts = {0, (100 + rand() % 200) * 1000000L};
    nanosleep(&ts, NULL);
    int st = fl_proc_stop(&node.proc, SIGTERM, 20000);
    FL_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    for (int w = 0; w < WRITERS; w++)
      pthread_join(th[w], NULL);
    FL_CHECK_OK(fl_itest_node_start(&node, node.dir, extra));
    FL_CHECK_EQ(verify_all(), survived);
  }
  int st = fl_proc_stop(&node.proc, SIGTERM, 20000);
  FL_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s verify-index --data %s", fl_proc_bin("filmless-node"), node.dir);
  FL_CHECK_EQ(system(cmd), 0);
}

int main(void) {
  FL_RUN(test_kill_storm);
  fl_proc_rmtree(dir);
  FL_DONE();
}
