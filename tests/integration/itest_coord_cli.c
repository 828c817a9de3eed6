/* Integration test of the coordinator commands of the `filmless` tool
 * against a real filmless-coord and 4 real nodes: `cluster status` and
 * `node list` in text and JSON, `node weight|out|in|remove` with their
 * epochs, a refused change (exit 1, the coordinator's reason, nothing
 * changed), bad arguments (exit 2), and FILMLESS_COORD. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "fl_cc.h"
#include "fl_itest.h"
#include "fl_test.h"

#define NODES 4

static fl_itest_node_t coord, nodes[NODES];
static char dir[400], coord_addr[64];
static char out[1 << 16];

/* Runs `filmless ARGS` (a shell word list built by the test only), output
 * into out; returns the exit status. */
static int cli(const char *env, const char *args) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s %s %s 2>&1", env ? env : "", fl_proc_bin("filmless"), args);
  FILE *p = popen(cmd, "r");
  FL_CHECK(p != NULL);
  size_t n = fread(out, 1, sizeof out - 1, p);
  out[n] = 0;
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* filmless ARGS --coord <the test coordinator>. */
static int cli_c(const char *args) {
  char full[1100];
  snprintf(full, sizeof full, "%s --coord %s", args, coord_addr);
  return cli(NULL, full);
}

static int all_up(void) {
  fl_wire_conn_t c;
  fl_map_t m;
  fl_cc_status_t *st;
  uint32_t n;
  if (fl_itest_connect(&coord, &c) != 0)
    return 0;
  int ok = fl_cc_list(&c, &m, &st, &n, NULL) == 0;
  fl_wire_conn_close(&c);
  if (!ok)
    return 0;
  ok = m.node_count == NODES;
  for (uint32_t i = 0; ok && i < m.node_count; i++)
    ok = m.nodes[i].state == (FL_NODE_UP | FL_NODE_IN) && st[i].seen;
  fl_map_free(&m);
  free(st);
  return ok;
}

static void test_cli(void) {
  char data[512];
  snprintf(data, sizeof data, "%s/coord", dir);
  const char *const cx[] = {"--k", "2", "--m", "1", "--pg-count", "32", "--datacenters",
                            "dc1", "--heartbeat-interval", "200ms", NULL};
  FL_CHECK_OK(fl_itest_coord_start(&coord, data, cx));
  snprintf(coord_addr, sizeof coord_addr, "127.0.0.1:%d", coord.port);
  for (int i = 0; i < NODES; i++) {
    char d[512], rack[16];
    snprintf(d, sizeof d, "%s/node%d", dir, i);
    snprintf(rack, sizeof rack, "r%d", i);
    const char *const nx[] = {"--coord", coord_addr, "--rack", rack, "--reserve", "0", NULL};
    FL_CHECK_OK(fl_itest_node_start(&nodes[i], d, nx));
  }
  int ok = 0;
  for (int w = 0; w < 60000 && !(ok = all_up()); w += 100) {
    struct timespec ts = {0, 100000000L};
    nanosleep(&ts, NULL);
  }
  FL_CHECK(ok);

  FL_CHECK_EQ(cli_c("cluster status"), 0);
  FL_CHECK(strstr(out, "epoch 5") != NULL);
  FL_CHECK(strstr(out, "policy k=2 m=1 pg_count=32 min_write=3") != NULL);
  FL_CHECK(strstr(out, "nodes 4 (4 up, 4 in)") != NULL);
  FL_CHECK_EQ(cli_c("cluster status --json"), 0);
  FL_CHECK(strstr(out, "{\"epoch\":5,\"policy\":{\"k\":2,\"m\":1,\"pg_count\":32") == out);
  FL_CHECK(strstr(out, "\"rack\":\"r3\"") != NULL);
  FL_CHECK_EQ(cli_c("node list"), 0);
  FL_CHECK(strstr(out, "ID") == out);
  FL_CHECK(strstr(out, "r2") != NULL);
  FL_CHECK_EQ(cli_c("node list --json"), 0);
  FL_CHECK(strstr(out, "\"state\":\"up\",\"in\":true") != NULL);

  /* Changes, each one epoch. */
  FL_CHECK_EQ(cli_c("node weight 2 50"), 0);
  FL_CHECK_STR(out, "node 2 weight 50 (epoch 6)\n");
  FL_CHECK_EQ(cli_c("node out 4 --json"), 0);
  FL_CHECK_STR(out, "{\"ok\":true,\"node\":4,\"epoch\":7}\n");
  /* 3 usable = k+m: one more out is refused, nothing changes. */
  FL_CHECK_EQ(cli_c("node out 3"), 1);
  FL_CHECK(strstr(out, "FL_EREFUSED") != NULL);
  FL_CHECK(strstr(out, "fewer than k+m = 3") != NULL);
  FL_CHECK_EQ(cli_c("node remove 1"), 1);
  FL_CHECK(strstr(out, "is in; mark it out") != NULL);
  FL_CHECK_EQ(cli_c("node in 4"), 0);
  FL_CHECK_STR(out, "node 4 marked in (epoch 8)\n");
  FL_CHECK_EQ(cli_c("node weight 99 1"), 1);
  FL_CHECK(strstr(out, "FL_ENOTFOUND") != NULL);

  /* Bad arguments: exit 2. */
  FL_CHECK_EQ(cli_c("node weight 2"), 2);
  FL_CHECK_EQ(cli_c("node out x"), 2);
  FL_CHECK_EQ(cli_c("node frob 1"), 2);
  FL_CHECK_EQ(cli_c("cluster"), 2);
  FL_CHECK_EQ(cli(NULL, "cluster status --coord 127.0.0.1"), 2);

  /* The environment names the coordinator too. */
  char env[96];
  snprintf(env, sizeof env, "FILMLESS_COORD=%s", coord_addr);
  FL_CHECK_EQ(cli(env, "cluster status"), 0);
  FL_CHECK(strstr(out, "epoch 8") != NULL);
  /* Nothing listens there: a clear failure. */
  FL_CHECK_EQ(cli(NULL, "cluster status --coord 127.0.0.1:1"), 1);
  FL_CHECK(strstr(out, "cannot reach the coordinator at 127.0.0.1:1") != NULL);
}

int main(void) {
  FL_CHECK_OK(fl_proc_scratch_dir("itest_coord_cli", dir, sizeof dir));
  FL_RUN(test_cli);
  for (int i = 0; i < NODES; i++)
    fl_proc_stop(&nodes[i].proc, SIGTERM, 20000);
  fl_proc_stop(&coord.proc, SIGTERM, 20000);
  fl_proc_rmtree(dir);
  FL_DONE();
}
