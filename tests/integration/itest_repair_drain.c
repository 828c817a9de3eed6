/* Draining a node with the command-line tool: a coordinator and 7 real
 * nodes (policy 4+2, 32 PGs) hold MR studies and small SR reports.
 * `filmless node remove ID` is refused while the node is in and holds
 * fragments; `filmless node drain ID --wait` marks it out and returns once
 * the other nodes have copied everything it held and it has dropped its
 * copies; then it reports no fragments, `filmless node remove ID`
 * succeeds, and every object is whole on the remaining nodes and reads
 * back byte-identical. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filmless.h"
#include "fl_gen.h"
#include "fl_itest_cluster.h"
#include "fl_itest_data.h"
#include "fl_itest_health.h"
#include "fl_test.h"

#define NODES 7
#define DRAINED 2

static fl_itest_cluster_t cl;
static fl_client_t *client;
static fl_itest_data_t data;

static void kill_all(void) { fl_itest_cluster_kill_all(&cl); }

static uint64_t node_fragments(int slot) {
  Fl__StatResult st;
  Fl__RepairProgress rp;
  FL_CHECK_OK(fl_itest_node_stat(cl.addr[slot], &st, &rp, NULL));
  return st.objects;
}

static void test_drain(void) {
  FL_CHECK_OK(fl_itest_data_gen(&data, FL_GEN_MR, 40, 6, 4000));
  FL_CHECK_OK(fl_itest_data_gen(&data, FL_GEN_SR, 40, 1, 8000));
  FL_CHECK_EQ(fl_itest_data_put(client, &data, 0, data.n, 8, NULL), 0);
  uint64_t held = node_fragments(DRAINED);
  fprintf(stderr, "%zu objects put (%.1f MB); node %u holds %llu fragments\n", data.n,
          data.bytes / 1e6, cl.ids[DRAINED], (unsigned long long)held);
  FL_CHECK_INT(held, >, 0);

  char id[16], out[8192];
  snprintf(id, sizeof id, "%u", cl.ids[DRAINED]);
  const char *const rm[] = {"node", "remove", id, NULL};
  FL_CHECK_EQ(fl_itest_cluster_cli(&cl, out, sizeof out, rm), 1);
  FL_CHECK_EQ(fl_itest_cluster_state(&cl, cl.ids[DRAINED]), FL_NODE_UP | FL_NODE_IN);

  const char *const drain[] = {"node", "drain", id, "--wait", NULL};
  int st = fl_itest_cluster_cli(&cl, out, sizeof out, drain);
  FL_CHECK_EQ(st, 0);
  FL_CHECK_EQ(fl_itest_cluster_state(&cl, cl.ids[DRAINED]), FL_NODE_UP);
  FL_CHECK_EQ(node_fragments(DRAINED), 0);

  fl_itest_repair_sum_t sum;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_itest_repair_sum(cl.coord_addr, &sum, &em));
  fprintf(stderr, "after the drain: %llu fragments copied, %llu rebuilt, %llu dropped\n",
          (unsigned long long)sum.copied, (unsigned long long)sum.rebuilt,
          (unsigned long long)sum.dropped);
  /* The drained node was up throughout: everything moves by copying. */
  FL_CHECK_INT(sum.copied, >=, held);

  FL_CHECK_EQ(fl_itest_cluster_cli(&cl, out, sizeof out, rm), 0);
  FL_CHECK_EQ(fl_itest_cluster_state(&cl, cl.ids[DRAINED]), -1);
  FL_CHECK_OK(fl_itest_cluster_node_stop(&cl, DRAINED, SIGTERM));

  int rc = fl_itest_repair_wait(cl.coord_addr, 120000, &sum, &em);
  if (rc)
    FL__FAIL("repair: %s", fl_errmsg_str(&em, rc));
  fl_itest_health_expect(cl.coord_addr, "after drain and remove", NODES - 1, data.n);
  FL_CHECK_EQ(fl_itest_data_check_all(client, &data), 0);
}

int main(void) {
  atexit(kill_all);
  const char *const node_flags[] = {"--repair-interval", "1s", "--scrub-rate", "0MB/s", NULL};
  if (fl_itest_cluster_start(&cl, "itest_repair_drain", NODES, 4, 2, 32, "10m", NULL,
                             node_flags))
    FL__FAIL("cluster did not start");
  FL_CHECK_OK(fl_itest_cluster_client(&cl, &client));
  FL_RUN(test_drain);
  fl_client_close(client);
  fl_itest_data_free(&data);
  fl_itest_cluster_stop(&cl);
  FL_DONE();
}
