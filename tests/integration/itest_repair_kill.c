/* Repair after a node is lost for good: a coordinator and 7 real nodes
 * (policy 4+2, 32 PGs), a storm of puts of MR studies and small SR reports
 * (erasure-coded and replicated objects) during which one node is killed
 * with SIGKILL and never returns. The coordinator marks it down, then out;
 * the nodes' repair workers rebuild what it held on the new placement.
 * Then every object has all its fragments, verified, at its position in
 * the current map, no copy anywhere else, and every acknowledged put reads
 * back byte-identical. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filmless.h"
#include "fl_cc.h"
#include "fl_gen.h"
#include "fl_itest_cluster.h"
#include "fl_itest_data.h"
#include "fl_itest_health.h"
#include "fl_test.h"

#define NODES 7
#define VICTIM 3
#define REPAIR_TIMEOUT_MS 180000

static fl_itest_cluster_t cl;
static fl_client_t *client;
static fl_itest_data_t data;

static void kill_all(void) { fl_itest_cluster_kill_all(&cl); }

typedef struct storm {
  size_t from, to;
  volatile size_t done;
} storm_t;

static void *storm_thread(void *arg) {
  storm_t *s = arg;
  fl_itest_data_put(client, &data, s->from, s->to, 4, &s->done);
  return NULL;
}

static void test_kill_during_puts(void) {
  /* 40 MR studies of 6 instances (~130 KB each: erasure-coded) and 40
   * single-report SR studies (a few KB: replicated), interleaved so the
   * storm keeps both kinds going. */
  FL_CHECK_OK(fl_itest_data_gen(&data, FL_GEN_MR, 40, 6, 1000));
  FL_CHECK_OK(fl_itest_data_gen(&data, FL_GEN_SR, 40, 1, 5000));
  size_t first = data.n / 4;
  FL_CHECK_EQ(fl_itest_data_put(client, &data, 0, first, 8, NULL), 0);

  storm_t s = {first, data.n, 0};
  pthread_t th;
  FL_CHECK_EQ(pthread_create(&th, NULL, storm_thread, &s), 0);
  while (__atomic_load_n(&s.done, __ATOMIC_SEQ_CST) < (data.n - first) / 3)
    fl_itest_sleep_ms(5);
  uint32_t victim = cl.ids[VICTIM];
  fprintf(stderr, "killing node %u after %zu puts of the storm\n", victim, s.done);
  FL_CHECK_OK(fl_itest_cluster_node_stop(&cl, VICTIM, SIGKILL));
  pthread_join(th, NULL);

  size_t ok = 0;
  for (size_t i = 0; i < data.n; i++)
    ok += data.put_rc[i] == 0;
  fprintf(stderr, "%zu of %zu puts acknowledged (%.1f MB)\n", ok, data.n, data.bytes / 1e6);
  /* One node of seven gone leaves every PG at least min_write = 5 nodes. */
  FL_CHECK_EQ(ok, data.n);

  /* Down after 1 s, out after 3 s (the storm may outlast both), by the
   * grace period, not by an admin. */
  FL_CHECK_OK(fl_itest_cluster_wait_state(&cl, victim, 0, 60000));
  {
    fl_wire_conn_t c;
    fl_map_t m;
    fl_cc_status_t *st = NULL;
    uint32_t n = 0;
    int auto_out = 0;
    FL_CHECK_OK(fl_itest_connect(&cl.coord, &c));
    FL_CHECK_OK(fl_cc_list(&c, &m, &st, &n, NULL));
    for (uint32_t i = 0; i < n; i++)
      auto_out |= st[i].id == victim && st[i].auto_out;
    FL_CHECK(auto_out);
    free(st);
    fl_map_free(&m);
    fl_wire_conn_close(&c);
  }

  fl_itest_repair_sum_t sum;
  fl_errmsg_t em = {{0}};
  int rc = fl_itest_repair_wait(cl.coord_addr, REPAIR_TIMEOUT_MS, &sum, &em);
  if (rc)
    FL__FAIL("repair: %s", fl_errmsg_str(&em, rc));
  fprintf(stderr,
          "repair finished in epoch %llu: %llu fragments rebuilt, %llu copied, %llu dropped, "
          "%.1f MB written\n",
          (unsigned long long)sum.epoch, (unsigned long long)sum.rebuilt,
          (unsigned long long)sum.copied, (unsigned long long)sum.dropped, sum.bytes_done / 1e6);
  FL_CHECK_INT(sum.rebuilt + sum.copied, >, 0);

  fl_itest_health_expect(cl.coord_addr, "after repair", NODES - 1, data.n);
  FL_CHECK_EQ(fl_itest_data_check_all(client, &data), 0);
}

int main(void) {
  atexit(kill_all);
  const char *const node_flags[] = {"--repair-interval", "1s", "--scrub-rate", "0MB/s", NULL};
  if (fl_itest_cluster_start(&cl, "itest_repair_kill", NODES, 4, 2, 32, "3s", NULL, node_flags))
    FL__FAIL("cluster did not start");
  FL_CHECK_OK(fl_itest_cluster_client(&cl, &client));
  FL_RUN(test_kill_during_puts);
  fl_client_close(client);
  fl_itest_data_free(&data);
  fl_itest_cluster_stop(&cl);
  FL_DONE();
}
