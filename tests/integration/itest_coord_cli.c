/* Integration test of the coordinator commands of the `filmless` tool
 * against a real filmless-coord and 4 real nodes: `cluster status` and
 * `node list` in text and JSON, `node weight|out|in|remove` with their
 * epochs, a refused change (exit 1, the coordinator's reason, nothing
 * changed), bad arguments (exit 2), and FILMLESS_COORD; `node drain`
 * (an empty node at once, a node holding a fragment until the timeout, a
 * dead node) and `node remove` refused for an up node holding a fragment,
 * allowed for a down and out one. Then, on a
 * second coordinator whose nodes are this test's heartbeats, the repair
 * line of `cluster status`: sums of the up nodes' figures, a node's
 * figures gone once it is down, the ETA unknown at rate 0. */
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

static fl_itest_node_t coord, coord2, nodes[NODES];
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
  fl_map_t m;
  fl_cc_status_t *st;
  uint32_t n;
  if (fl_itest_coord_list(&coord, &m, &st, &n) != 0)
    return 0;
  int ok = m.node_count == NODES;
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
  FL_CHECK(strstr(out, "is in; drain it first (filmless node drain 1 --wait)") != NULL);
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

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* The coordinator's figures for node id of the test cluster. */
static int status_of(const fl_itest_node_t *co, uint32_t id, fl_cc_status_t *out,
                     uint32_t *state) {
  fl_map_t m;
  fl_cc_status_t *st;
  uint32_t n;
  if (fl_itest_coord_list(co, &m, &st, &n) != 0)
    return 0;
  const fl_map_node_t *nd = fl_map_find_node(&m, id);
  int ok = 0;
  for (uint32_t i = 0; nd && i < n; i++)
    if (st[i].id == id) {
      *out = st[i];
      *state = nd->state;
      ok = 1;
    }
  fl_map_free(&m);
  free(st);
  return ok;
}

static void test_drain(void) {
  /* The repair line follows the nodes line; with no repair work anywhere
   * it says complete. */
  FL_CHECK_EQ(cli_c("cluster status"), 0);
  FL_CHECK(strstr(out, "nodes 4 (4 up, 4 in), upmap pairs 0\nrepair: ") != NULL);
  FL_CHECK(strstr(out, "\nrepair since the nodes started: ") != NULL);
  FL_CHECK(strstr(out, "DEGRADED/LEFT") != NULL);
  FL_CHECK_EQ(cli_c("cluster status --json"), 0);
  FL_CHECK(strstr(out, ",\"repair\":{\"complete\":") != NULL);

  /* An empty node drains at once. */
  FL_CHECK_EQ(cli_c("node drain 3 --wait --timeout 60s"), 0);
  FL_CHECK(strstr(out, "node 3 marked out (epoch 9)") == out);
  FL_CHECK(strstr(out, "node 3 is drained: it holds no fragment; remove it with `filmless node "
                  "remove 3`") != NULL);
  FL_CHECK_EQ(cli_c("node in 3"), 0);
  FL_CHECK_STR(out, "node 3 marked in (epoch 10)\n");

  /* A fragment on node 4 (erasure-coded, alone of its stripe: nothing can
   * rebuild the rest, so no repair ever makes it a stray to drop). */
  fl_wire_conn_t c;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_itest_connect(&nodes[3], &c));
  fl_nc_key_t k = {5, "hosp-d", "1.2.3.4", "1.2.3.4.1", "1.2.3.4.1.1", 0};
  fl_nc_put_opts_t o = {1, 2000, NULL, NULL, NULL};
  char data[1000];
  memset(data, 'd', sizeof data);
  FL_CHECK_OK(fl_nc_put(&c, &k, &o, data, sizeof data, NULL, &em));
  fl_wire_conn_close(&c);
  fl_cc_status_t s4;
  uint32_t state = 0;
  int ok = 0;
  for (int w = 0; w < 60000 && !ok; w += 100) {
    ok = status_of(&coord, 4, &s4, &state) && s4.objects == 1;
    if (!ok)
      sleep_ms(100);
  }
  FL_CHECK(ok);

  /* It does not drain within the timeout: exit 1, and the drain goes on. */
  FL_CHECK_EQ(cli_c("node drain 4 --wait --timeout 2s"), 1);
  FL_CHECK(strstr(out, "node 4 marked out (epoch 11)") == out);
  FL_CHECK(strstr(out, "node 4: 1 fragment left") != NULL);
  FL_CHECK(strstr(out, "node 4 still holds 1 fragment(s) after 2s; the drain goes on in the "
                  "background") != NULL);
  FL_CHECK(status_of(&coord, 4, &s4, &state));
  FL_CHECK_EQ(state, FL_NODE_UP);
  /* Up and holding a fragment: remove is refused, naming the drain. */
  FL_CHECK_EQ(cli_c("node remove 4"), 1);
  FL_CHECK(strstr(out, "FL_EREFUSED") != NULL);
  FL_CHECK(strstr(out, "node 4 is up and still holds 1 fragment(s); drain it first (filmless "
                  "node drain 4 --wait)") != NULL);
  FL_CHECK_EQ(cli_c("node drain 4 --json"), 0);
  FL_CHECK_STR(out, "{\"ok\":true,\"node\":4,\"epoch\":11}\n");
  FL_CHECK_EQ(cli_c("node in 4"), 0);
  FL_CHECK_STR(out, "node 4 marked in (epoch 12)\n");
  /* A refused drain is printed like any refused change. */
  FL_CHECK_EQ(cli_c("node out 4"), 0);
  FL_CHECK_EQ(cli_c("node drain 3 --wait"), 1);
  FL_CHECK(strstr(out, "FL_EREFUSED") != NULL);
  FL_CHECK(strstr(out, "fewer than k+m = 3") != NULL);
  FL_CHECK_EQ(cli_c("node in 4"), 0);

  /* A dead node cannot report: --wait says so and times out; being down
   * and out, it may then be removed (its data is rebuilt elsewhere). */
  FL_CHECK_EQ(fl_proc_stop(&nodes[1].proc, SIGKILL, 10000) & 0x7f, SIGKILL);
  fl_cc_status_t s2;
  state = FL_NODE_UP;
  for (int w = 0; w < 60000 && (state & FL_NODE_UP); w += 100) {
    FL_CHECK(status_of(&coord, 2, &s2, &state));
    sleep_ms(100);
  }
  FL_CHECK_EQ(state, FL_NODE_IN);
  FL_CHECK_EQ(cli_c("node drain 2 --wait --timeout 1s"), 1);
  FL_CHECK(strstr(out, "node 2 is down: it cannot report its fragments") != NULL);
  FL_CHECK(strstr(out, "node 2 has not reported its fragments in the 1s since it was marked "
                  "out; the drain goes on in the background") != NULL);
  FL_CHECK_EQ(cli_c("node remove 2 --json"), 0);
  FL_CHECK(strstr(out, "{\"ok\":true,\"node\":2,") == out);

  /* Bad arguments. */
  FL_CHECK_EQ(cli_c("node drain 2 --timeout 5s"), 2);
  FL_CHECK_EQ(cli_c("node out 2 --wait"), 2);
  FL_CHECK_EQ(cli_c("node drain 2 --wait --timeout soon"), 2);
  FL_CHECK_EQ(cli_c("node drain"), 2);
  FL_CHECK_EQ(cli(NULL, "node --help"), 0);
  FL_CHECK(strstr(out, "filmless node drain ID [--wait [--timeout DUR]]") != NULL);
}

/* A pretend node of coord2: its heartbeat with the given figures. */
static void beat(uint32_t id, const fl_cc_repair_t *r) {
  fl_wire_conn_t c;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_itest_connect(&coord2, &c));
  fl_cc_hb_t hb = {id, UINT64_C(1) << 30, 0, 0, 0, {0}};
  if (r)
    hb.repair = *r;
  uint64_t epoch = 0;
  FL_CHECK_OK(fl_cc_heartbeat(&c, &hb, &epoch, &em));
  fl_wire_conn_close(&c);
}

static int cli_c2(const char *args) {
  char full[1100];
  snprintf(full, sizeof full, "%s --coord 127.0.0.1:%d", args, coord2.port);
  return cli(NULL, full);
}

static void test_repair_line(void) {
  char data[512];
  snprintf(data, sizeof data, "%s/coord2", dir);
  const char *const cx[] = {"--k", "2", "--m", "1", "--pg-count", "32", "--datacenters",
                            "dc1", "--down-after", "3s", "--heartbeat-interval", "500ms", NULL};
  FL_CHECK_OK(fl_itest_coord_start(&coord2, data, cx));
  fl_wire_conn_t c;
  FL_CHECK_OK(fl_itest_connect(&coord2, &c));
  for (uint32_t i = 1; i <= 3; i++) {
    char addr[32], rack[8];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", i);
    snprintf(rack, sizeof rack, "r%u", i);
    fl_cc_reg_t r = {0, addr, "dc1", rack, "t", UINT64_C(1) << 30};
    uint32_t id = 0, hb_ms = 0;
    uint64_t epoch = 0;
    FL_CHECK_OK(fl_cc_register(&c, &r, &id, &epoch, &hb_ms, NULL));
    FL_CHECK_EQ(id, i);
  }
  fl_wire_conn_close(&c);
  fl_cc_repair_t a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  a.pgs_led = 20;
  a.pgs_degraded = 7;
  a.bytes_left = UINT64_C(1) << 30;
  a.fragments_left = 3000;
  a.rate_bytes_per_s = 50 << 20;
  a.bytes_done = 100 << 20;
  a.fragments_rebuilt = 100;
  a.fragments_copied = 40;
  a.fragments_dropped = 40;
  a.deletes_propagated = 1;
  a.min_survivors = 2;
  b.pgs_led = 12;
  b.pgs_degraded = 5;
  b.bytes_left = 214748365;     /* with a: 1.2GiB */
  b.fragments_left = 400;
  b.rate_bytes_per_s = 37015142; /* with a: 85.3MiB/s, so 15 s to go */
  b.fragments_rebuilt = 20;
  b.deletes_propagated = 2;
  b.min_survivors = 3;
  beat(1, &a);
  beat(2, &b);
  beat(3, NULL);
  FL_CHECK_EQ(cli_c2("cluster status"), 0);
  FL_CHECK(strstr(out, "nodes 3 (3 up, 3 in), upmap pairs 0\n"
                       "repair: 12 PGs degraded, 1.2GiB left (3400 fragments) at 85.3MiB/s, "
                       "ETA 15s, fewest survivors 2\n"
                       "repair since the nodes started: 120 fragments rebuilt, 40 copied, "
                       "40 dropped, 3 deletes propagated, 100.0MiB written\n") != NULL);
  FL_CHECK(strstr(out, "7/1.0GiB") != NULL);   /* node 1's row */
  FL_CHECK(strstr(out, "5/204.8MiB") != NULL); /* node 2's row */
  FL_CHECK_EQ(cli_c2("cluster status --json"), 0);
  FL_CHECK(strstr(out, "\"repair\":{\"complete\":false,\"pgs_led\":32,\"pgs_degraded\":12,"
                       "\"min_survivors\":2,\"bytes_left\":1288490189,"
                       "\"fragments_left\":3400,\"rate_bytes_per_s\":89443942,") != NULL);
  FL_CHECK(strstr(out, "\"eta_s\":15,\"nodes\":[{\"id\":1,\"epoch\":0,\"pgs_led\":20,") !=
           NULL);
  FL_CHECK(strstr(out, "{\"id\":3,\"epoch\":0,\"pgs_led\":0,") != NULL);

  /* Node 2 goes silent: once down, its share leaves the totals. */
  fl_cc_status_t s2;
  uint32_t state = FL_NODE_UP;
  for (int w = 0; w < 60000 && (state & FL_NODE_UP); w += 200) {
    beat(1, &a);
    beat(3, NULL);
    sleep_ms(200);
    FL_CHECK(status_of(&coord2, 2, &s2, &state));
  }
  FL_CHECK_EQ(state, FL_NODE_IN);
  FL_CHECK_EQ(s2.repair.bytes_left, 0);
  beat(1, &a);
  beat(3, NULL);
  FL_CHECK_EQ(cli_c2("cluster status"), 0);
  FL_CHECK(strstr(out, "repair: 7 PGs degraded, 1.0GiB left (3000 fragments) at 50.0MiB/s, "
                       "ETA 21s, fewest survivors 2\n") != NULL);
  /* Nothing moving: no ETA. */
  a.rate_bytes_per_s = 0;
  beat(1, &a);
  FL_CHECK_EQ(cli_c2("cluster status"), 0);
  FL_CHECK(strstr(out, "at 0B/s, ETA -, fewest survivors 2\n") != NULL);
  FL_CHECK_EQ(cli_c2("cluster status --json"), 0);
  FL_CHECK(strstr(out, "\"eta_s\":null") != NULL);
  /* Done. */
  memset(&a, 0, sizeof a);
  a.pgs_led = 20;
  a.fragments_rebuilt = 5;
  beat(1, &a);
  FL_CHECK_EQ(cli_c2("cluster status"), 0);
  FL_CHECK(strstr(out, "repair: complete (20 PGs led, 0 degraded)\n"
                       "repair since the nodes started: 5 fragments rebuilt, 0 copied, "
                       "0 dropped, 0 deletes propagated, 0B written\n") != NULL);
}

int main(void) {
  FL_CHECK_OK(fl_proc_scratch_dir("itest_coord_cli", dir, sizeof dir));
  FL_RUN(test_cli);
  FL_RUN(test_drain);
  FL_RUN(test_repair_line);
  for (int i = 0; i < NODES; i++)
    fl_proc_stop(&nodes[i].proc, SIGTERM, 20000);
  fl_proc_stop(&coord.proc, SIGTERM, 20000);
  fl_proc_stop(&coord2.proc, SIGTERM, 20000);
  fl_proc_rmtree(dir);
  FL_DONE();
}
