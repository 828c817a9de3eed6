/* Integration test of the storage node's map watch (WATCH_MAP long polls
 * next to the heartbeats, storage-node/fl_node_coord.c), with real
 * processes: a coordinator (policy 1+1, so one of the 3 nodes can be
 * marked out) that tells its 3 nodes to heartbeat only every
 * 30 s. Each change to the map (a weight, a node marked out, a weight
 * after the coordinator restarted) reaches every node's STAT within 10 s,
 * which no heartbeat can explain; a node stopped with SIGTERM while its
 * 20 s poll is open exits cleanly within 10 s. Every wait is a bounded
 * poll. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "fl_cc.h"
#include "fl_itest_cluster.h"
#include "fl_test.h"

#define NODES 3
#define SETTLE_MS 60000 /* joining: the first maps, whatever their path */
#define WATCH_MS 10000  /* a third of the heartbeat interval */
#define STOP_MS 10000   /* half of one poll */

/* Heartbeats every 30 s (down_after must be at least twice that), so only
 * the watch can bring a map within WATCH_MS. */
#define COORD_FLAGS                                                               \
  "--heartbeat-interval", "30s", "--down-after", "2m", "--out-after", "10m"

static fl_itest_cluster_t cl;

static void kill_all(void) { fl_itest_cluster_kill_all(&cl); }

/* The epoch node slot i serves in its STAT; 0 if it does not answer. */
static uint64_t node_epoch(int i) {
  fl_wire_conn_t w;
  Fl__StatResult sr;
  if (fl_itest_connect(&cl.nodes[i], &w) != 0)
    return 0;
  uint64_t e = fl_nc_stat(&w, &sr, NULL) == 0 ? sr.map_epoch : 0;
  fl_wire_conn_close(&w);
  return e;
}

static uint64_t coord_epoch(void) {
  fl_map_t m;
  if (fl_itest_cluster_map(&cl, &m) != 0)
    return 0;
  uint64_t e = m.epoch;
  fl_map_free(&m);
  return e;
}

/* Polls every 50 ms, up to ms, until every running node serves epoch
 * want; fails the test with every node's epoch and the logs otherwise. */
static void expect_all_at(uint64_t want, int ms, const char *what) {
  uint64_t t0 = fl_itest_now_ms();
  for (;;) {
    int done = 1;
    for (int i = 0; i < cl.count && done; i++)
      done = cl.nodes[i].proc.pid <= 0 || node_epoch(i) == want;
    if (done)
      break;
    if (fl_itest_now_ms() - t0 > (uint64_t)ms) {
      for (int i = 0; i < cl.count; i++)
        if (cl.nodes[i].proc.pid > 0)
          fprintf(stderr, "node %u (slot %d) serves epoch %llu\n", cl.ids[i], i,
                  (unsigned long long)node_epoch(i));
      fl_itest_cluster_dump(&cl);
      FL__FAIL("%s: not every node served epoch %llu within %d ms", what,
               (unsigned long long)want, ms);
    }
    fl_itest_sleep_ms(50);
  }
  fprintf(stderr, "%s: every node serves epoch %llu after %llu ms\n", what,
          (unsigned long long)want, (unsigned long long)(fl_itest_now_ms() - t0));
}

static void settle(void) {
  uint64_t t0 = fl_itest_now_ms(), e;
  while ((e = coord_epoch()) == 0 && fl_itest_now_ms() - t0 < SETTLE_MS)
    fl_itest_sleep_ms(100);
  FL_CHECK(e > 0);
  expect_all_at(e, SETTLE_MS, "after joining");
}

static uint64_t set_weight(int slot, uint32_t weight) {
  fl_wire_conn_t w;
  fl_errmsg_t em = {{0}};
  uint64_t before = coord_epoch(), e = 0;
  FL_CHECK_OK(fl_itest_connect(&cl.coord, &w));
  int rc = fl_cc_set_weight(&w, cl.ids[slot], weight, &e, &em);
  fl_wire_conn_close(&w);
  if (rc)
    FL__FAIL("weight of node %u: %s", cl.ids[slot], fl_errmsg_str(&em, rc));
  FL_CHECK_INT(e, >, before);
  return e;
}

static void test_weight(void) {
  settle();
  uint64_t e = set_weight(0, 50);
  expect_all_at(e, WATCH_MS, "weight");
}

static void test_mark_out(void) {
  fl_wire_conn_t w;
  fl_errmsg_t em = {{0}};
  uint64_t before = coord_epoch(), e = 0;
  FL_CHECK_OK(fl_itest_connect(&cl.coord, &w));
  int rc = fl_cc_mark(&w, cl.ids[2], 1, &e, &em);
  fl_wire_conn_close(&w);
  if (rc)
    FL__FAIL("marking node %u out: %s", cl.ids[2], fl_errmsg_str(&em, rc));
  FL_CHECK_INT(e, >, before);
  /* The node marked out still runs and learns it too. */
  expect_all_at(e, WATCH_MS, "mark out");
}

/* The coordinator goes away and comes back on the same port and data:
 * the watches reconnect on their own (the heartbeats would not notice for
 * up to 30 s) and bring the next change. */
static void test_coord_restart(void) {
  int st = fl_proc_stop(&cl.coord.proc, SIGTERM, 20000);
  FL_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  fl_itest_sleep_ms(1000); /* the watches back off meanwhile */
  const char *const argv[] = {COORD_FLAGS, "--log-level", "info", NULL};
  FL_CHECK_OK(fl_itest_coord_start(&cl.coord, cl.coord.dir, argv));
  uint64_t e = set_weight(1, 70);
  expect_all_at(e, WATCH_MS, "after the coordinator restarted");
}

/* SIGTERM while the node's poll is open: the stop breaks the poll rather
 * than waiting it out (20 s), and the node exits cleanly. */
static void test_prompt_stop(void) {
  fl_itest_sleep_ms(500); /* the nodes are back in their long polls */
  uint64_t t0 = fl_itest_now_ms();
  int st = fl_proc_stop(&cl.nodes[1].proc, SIGTERM, STOP_MS);
  fprintf(stderr, "node %u stopped after %llu ms\n", cl.ids[1],
          (unsigned long long)(fl_itest_now_ms() - t0));
  if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
    fl_itest_dump_log(&cl.nodes[1]);
    FL__FAIL("node %u did not exit cleanly within %d ms of SIGTERM (wait status %d)",
             cl.ids[1], STOP_MS, st);
  }
  /* The others still follow the map. */
  uint64_t e = set_weight(0, 60);
  expect_all_at(e, WATCH_MS, "after a node stopped");
}

/* A watch that fails (the coordinator away) logs at debug level only: the
 * heartbeat thread warns about the coordinator already. */
static void test_quiet_log(void) {
  for (int i = 0; i < cl.count; i++) {
    FILE *f = fopen(cl.nodes[i].log, "r");
    FL_CHECK(f != NULL);
    char line[1024];
    int noisy = 0;
    while (fgets(line, sizeof line, f))
      noisy += strstr(line, "watching the map") != NULL;
    fclose(f);
    FL_CHECK_EQ(noisy, 0);
  }
}

int main(void) {
  atexit(kill_all);
  const char *const coord_flags[] = {COORD_FLAGS, NULL};
  const char *const node_flags[] = {"--scrub-rate", "0MB/s", NULL};
  if (fl_itest_cluster_start(&cl, "itest_node_watch", NODES, 1, 1, 16, "10m", coord_flags,
                             node_flags))
    FL__FAIL("cluster did not start");
  FL_RUN(test_weight);
  FL_RUN(test_mark_out);
  FL_RUN(test_coord_restart);
  FL_RUN(test_prompt_stop);
  FL_RUN(test_quiet_log);
  fl_itest_cluster_stop(&cl);
  FL_DONE();
}
