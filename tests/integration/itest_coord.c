/* Integration test of filmless-coord with 8 real filmless-node processes on
 * 127.0.0.1: registration, WATCH_MAP notification, admin RPCs and refused
 * changes that leave the map untouched, a killed node going down then out
 * and coming back up and in, a coordinator restart that keeps map and epoch
 * byte for byte, and nodes that keep serving (and restart with their map)
 * while the coordinator is down. Every wait is a bounded poll. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "fl_cc.h"
#include "fl_itest.h"
#include "fl_map_codec.h"
#include "fl_test.h"

#define NODES 8
#define WAIT_MS 60000

static fl_itest_node_t coord, nodes[NODES];
static char dir[400];
static char coord_flag[64];

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void dump_all(void) {
  fl_itest_dump_log(&coord);
  for (int i = 0; i < NODES; i++)
    fl_itest_dump_log(&nodes[i]);
}

#define CHECK_WAIT(cond)                                                          \
  do {                                                                            \
    int ok_ = 0;                                                                  \
    for (int w_ = 0; w_ < WAIT_MS && !(ok_ = (cond)); w_ += 100)                  \
      sleep_ms(100);                                                              \
    if (!ok_)                                                                     \
      dump_all();                                                                 \
    FL_CHECK(cond);                                                               \
  } while (0)

static void start_coord(void) {
  char data[512];
  snprintf(data, sizeof data, "%s/coord", dir);
  const char *const extra[] = {"--down-after", "1500ms", "--out-after", "4s",
                               "--heartbeat-interval", "200ms", "--k", "4", "--m", "2",
                               "--pg-count", "64", "--datacenters", "dc1", "--log-level",
                               "info", NULL};
  FL_CHECK_OK(fl_itest_coord_start(&coord, data, extra));
}

static void start_node(int i) {
  char rack[16];
  snprintf(rack, sizeof rack, "r%d", i);
  const char *const extra[] = {"--coord", coord_flag, "--dc", "dc1", "--rack", rack,
                               "--reserve", "0", "--log-level", "info", NULL};
  char d[512];
  snprintf(d, sizeof d, "%s/node%d", dir, i);
  FL_CHECK_OK(fl_itest_node_start(&nodes[i], d, extra));
}

static int cconnect(fl_wire_conn_t *c) { return fl_itest_connect(&coord, c); }

/* The coordinator's node list; 0 on success. */
typedef struct view {
  fl_map_t map;
  fl_cc_status_t *st;
  uint32_t n;
} view_t;

static int view_get(view_t *v) {
  fl_wire_conn_t c;
  int rc = cconnect(&c);
  if (rc == 0)
    rc = fl_cc_list(&c, &v->map, &v->st, &v->n, NULL);
  fl_wire_conn_close(&c);
  return rc;
}

static void view_free(view_t *v) {
  fl_map_free(&v->map);
  free(v->st);
}

/* Node ids of the 8 processes, learnt from their node.id files. */
static uint32_t ids[NODES];

static uint32_t read_id(int i) {
  char p[600];
  snprintf(p, sizeof p, "%s/node.id", nodes[i].dir);
  FILE *f = fopen(p, "r");
  unsigned id = 0;
  if (f) {
    if (fscanf(f, "%u", &id) != 1)
      id = 0;
    fclose(f);
  }
  return id;
}

/* State bits of node id in the coordinator's map; -1 if absent/unreachable. */
static int state_of(uint32_t id) {
  view_t v;
  if (view_get(&v) != 0)
    return -1;
  const fl_map_node_t *n = fl_map_find_node(&v.map, id);
  int s = n ? (int)n->state : -1;
  view_free(&v);
  return s;
}

static int all_up_in(int want) {
  view_t v;
  if (view_get(&v) != 0)
    return 0;
  int ok = (int)v.map.node_count == want;
  for (uint32_t i = 0; ok && i < v.map.node_count; i++)
    ok = v.map.nodes[i].state == (FL_NODE_UP | FL_NODE_IN);
  view_free(&v);
  return ok;
}

static int all_seen(void) {
  view_t v;
  if (view_get(&v) != 0)
    return 0;
  int ok = v.n > 0;
  for (uint32_t k = 0; k < v.n; k++)
    ok = ok && v.st[k].seen && v.map.nodes[k].state == (FL_NODE_UP | FL_NODE_IN);
  view_free(&v);
  return ok;
}

/* Encoded map and epoch as GET_MAP serves them. */
static size_t get_map_bytes(uint8_t *buf, size_t cap, uint64_t *epoch) {
  fl_wire_conn_t c;
  FL_CHECK_OK(cconnect(&c));
  fl_map_t m;
  int changed = 0;
  FL_CHECK_OK(fl_cc_get_map(&c, 0, 0, &m, &changed, NULL));
  FL_CHECK_EQ(changed, 1);
  size_t len = 0;
  FL_CHECK_OK(fl_map_encode(&m, buf, cap, &len, NULL));
  *epoch = m.epoch;
  fl_map_free(&m);
  fl_wire_conn_close(&c);
  return len;
}

/* The epoch of the map a node persisted in its data directory. */
static uint64_t node_file_epoch(int i) {
  char p[600];
  snprintf(p, sizeof p, "%s/cluster.map", nodes[i].dir);
  FILE *f = fopen(p, "rb");
  if (!f)
    return 0;
  static uint8_t buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  fl_map_t m;
  if (fl_map_decode(buf, n, &m, NULL) != 0)
    return 0;
  uint64_t e = m.epoch;
  fl_map_free(&m);
  return e;
}

static int nodes_have_epoch(uint64_t epoch) {
  for (int i = 0; i < NODES; i++)
    if (nodes[i].proc.pid && node_file_epoch(i) != epoch)
      return 0;
  return 1;
}

/* 1 when node i's STAT reports id and epoch (the file is written first,
 * memory follows). */
static int stat_is(int i, uint32_t id, uint64_t epoch) {
  fl_wire_conn_t c;
  Fl__StatResult sr;
  if (fl_itest_connect(&nodes[i], &c) != 0)
    return 0;
  int ok = fl_nc_stat(&c, &sr, NULL) == 0 && sr.node_id == id && sr.map_epoch == epoch &&
           fl_wire_conn_header(&c)->map_epoch == epoch;
  fl_wire_conn_close(&c);
  return ok;
}

static uint64_t cur_epoch(void) {
  static uint8_t buf[1 << 16];
  uint64_t e;
  get_map_bytes(buf, sizeof buf, &e);
  return e;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_join(void) {
  start_coord();
  snprintf(coord_flag, sizeof coord_flag, "127.0.0.1:%d", coord.port);
  for (int i = 0; i < NODES; i++)
    start_node(i);
  CHECK_WAIT(all_up_in(NODES));
  for (int i = 0; i < NODES; i++) {
    CHECK_WAIT(read_id(i) != 0);
    ids[i] = read_id(i);
    FL_CHECK(ids[i] >= 1 && ids[i] <= NODES);
    for (int j = 0; j < i; j++)
      FL_CHECK(ids[i] != ids[j]);
  }
  view_t v;
  FL_CHECK_OK(view_get(&v));
  FL_CHECK_EQ(v.map.policy.k, 4);
  FL_CHECK_EQ(v.map.policy.m, 2);
  FL_CHECK_EQ(v.map.policy.pg_count, 64);
  FL_CHECK_EQ(v.map.policy.min_write, 5);
  FL_CHECK(v.map.epoch >= 1 + NODES);
  FL_CHECK_EQ(v.n, NODES);
  for (uint32_t i = 0; i < v.n; i++) {
    FL_CHECK(v.st[i].seen);
    FL_CHECK(v.st[i].capacity_bytes > 0);
  }
  uint64_t e = v.map.epoch;
  view_free(&v);
  /* Every node holds the current map, on disk too, and reports its id and
   * epoch in STAT. */
  CHECK_WAIT(nodes_have_epoch(e));
  for (int i = 0; i < NODES; i++)
    CHECK_WAIT(stat_is(i, ids[i], e));
}

/* A WATCH_MAP sent before a change is answered with the new map. */
static void test_watch_and_admin(void) {
  fl_wire_conn_t w, c;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(cconnect(&w));
  FL_CHECK_OK(cconnect(&c));
  uint64_t e0 = cur_epoch();
  /* Unchanged after the wait: a short watch comes back empty. */
  fl_map_t m;
  int changed = 1;
  FL_CHECK_OK(fl_cc_get_map(&w, e0, 200, &m, &changed, &em));
  FL_CHECK_EQ(changed, 0);
  Fl__FrameHeader h = FL__FRAME_HEADER__INIT;
  Fl__GetMapArgs a = FL__GET_MAP_ARGS__INIT;
  a.known_epoch = e0;
  a.wait_ms = 20000;
  h.type = FL__MSG_TYPE__MSG_TYPE_WATCH_MAP;
  h.body_case = FL__FRAME_HEADER__BODY_GET_MAP;
  h.get_map = &a;
  h.request_id = 4242;
  FL_CHECK_OK(fl_wire_conn_send(&w, &h, NULL, 0, &em));
  uint64_t e = 0;
  FL_CHECK_OK(fl_cc_set_weight(&c, ids[0], 77, &e, &em));
  FL_CHECK_EQ(e, e0 + 1);
  FL_CHECK_OK(fl_wire_conn_recv(&w, NULL, 0, &em));
  const Fl__FrameHeader *r = fl_wire_conn_header(&w);
  FL_CHECK_EQ(r->request_id, 4242);
  FL_CHECK_EQ(r->status, 0);
  FL_CHECK(r->body_case == FL__FRAME_HEADER__BODY_GET_MAP_RESULT);
  FL_CHECK_EQ(r->get_map_result->epoch, e0 + 1);
  FL_CHECK(!r->get_map_result->unchanged);
  size_t plen = 0;
  const uint8_t *p = fl_wire_conn_payload(&w, &plen);
  FL_CHECK_OK(fl_map_decode(p, plen, &m, &em));
  FL_CHECK_EQ(m.epoch, e0 + 1);
  FL_CHECK_EQ(fl_map_find_node(&m, ids[0])->weight, 77);
  fl_map_free(&m);

  /* Out two nodes (8 -> 6 usable = k+m); a third is refused, unchanged. */
  FL_CHECK_OK(fl_cc_mark(&c, ids[7], 1, &e, &em));
  FL_CHECK_OK(fl_cc_mark(&c, ids[6], 1, &e, &em));
  FL_CHECK_EQ(state_of(ids[7]), FL_NODE_UP);
  static uint8_t before[1 << 16], after[1 << 16];
  uint64_t eb, ea;
  size_t lb = get_map_bytes(before, sizeof before, &eb);
  FL_CHECK_ERR(fl_cc_mark(&c, ids[5], 1, &e, &em), FL_EREFUSED);
  FL_CHECK(strstr(em.msg, "fewer than k+m = 6") != NULL);
  FL_CHECK_ERR(fl_cc_set_weight(&c, ids[5], 0, &e, &em), FL_EREFUSED);
  fl_map_policy_t pol;
  {
    view_t v;
    FL_CHECK_OK(view_get(&v));
    pol = v.map.policy;
    view_free(&v);
  }
  fl_map_policy_t wide = pol;
  wide.m = 3;
  FL_CHECK_ERR(fl_cc_set_policy(&c, &wide, 0, &e, &em), FL_EREFUSED);
  fl_map_policy_t pgs = pol;
  pgs.pg_count = 128;
  FL_CHECK_ERR(fl_cc_set_policy(&c, &pgs, 0, &e, &em), FL_EREFUSED);
  /* Removing an in node is refused; so is a duplicate id elsewhere. */
  FL_CHECK_ERR(fl_cc_remove(&c, ids[0], &e, &em), FL_EREFUSED);
  fl_cc_reg_t dup = {ids[0], "127.0.0.1:1", "dc1", "r0", "t", 1u << 30};
  uint32_t id;
  uint64_t ep;
  uint32_t hb;
  FL_CHECK_ERR(fl_cc_register(&c, &dup, &id, &ep, &hb, &em), FL_EREFUSED);
  FL_CHECK(strstr(em.msg, "claims its id") != NULL);
  size_t la = get_map_bytes(after, sizeof after, &ea);
  FL_CHECK_EQ(ea, eb);
  FL_CHECK_EQ(la, lb);
  FL_CHECK_MEM(after, before, la);

  /* A policy change that fits, with the expected epoch. */
  fl_map_policy_t small = pol;
  small.small_threshold = 4096;
  FL_CHECK_ERR(fl_cc_set_policy(&c, &small, ea - 1, &e, &em), FL_EREFUSED);
  FL_CHECK_OK(fl_cc_set_policy(&c, &small, ea, &e, &em));
  FL_CHECK_EQ(e, ea + 1);
  /* Back in, then remove the out and empty node 8 for good. */
  FL_CHECK_OK(fl_cc_mark(&c, ids[6], 0, &e, &em));
  FL_CHECK_EQ(state_of(ids[6]), FL_NODE_UP | FL_NODE_IN);
  FL_CHECK_OK(fl_cc_remove(&c, ids[7], &e, &em));
  FL_CHECK_EQ(state_of(ids[7]), -1);
  /* The removed node re-registers with its id and is refused: it keeps
   * serving on its own; stop it. The others follow the map. */
  int st = fl_proc_stop(&nodes[7].proc, SIGTERM, 20000);
  FL_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  FL_CHECK_EQ(state_of(ids[7]), -1);
  CHECK_WAIT(nodes_have_epoch(cur_epoch()));
  fl_wire_conn_close(&w);
  fl_wire_conn_close(&c);
}

static void test_down_out_up(void) {
  int i = 2;
  uint32_t id = ids[i];
  FL_CHECK_EQ(fl_proc_stop(&nodes[i].proc, SIGKILL, 10000) & 0x7f, SIGKILL);
  CHECK_WAIT(state_of(id) == FL_NODE_IN); /* down, still in */
  CHECK_WAIT(state_of(id) == 0);          /* then out */
  view_t v;
  FL_CHECK_OK(view_get(&v));
  for (uint32_t k = 0; k < v.n; k++)
    if (v.st[k].id == id)
      FL_CHECK(v.st[k].auto_out);
  view_free(&v);
  start_node(i);
  CHECK_WAIT(state_of(id) == (FL_NODE_UP | FL_NODE_IN));
  FL_CHECK_EQ(read_id(i), id);
  /* Killed and back before the out grace: down, then up, never out. */
  FL_CHECK_EQ(fl_proc_stop(&nodes[i].proc, SIGKILL, 10000) & 0x7f, SIGKILL);
  CHECK_WAIT(state_of(id) == FL_NODE_IN);
  start_node(i);
  CHECK_WAIT(state_of(id) == (FL_NODE_UP | FL_NODE_IN));
}

static void put_get(int i, const char *sop) {
  fl_wire_conn_t c;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_itest_connect(&nodes[i], &c));
  fl_nc_key_t k = {5, "hosp-c", "1.2.3.4", "1.2.3.4.1", sop, 0};
  char data[1000], back[1000];
  memset(data, sop[strlen(sop) - 1], sizeof data);
  FL_CHECK_OK(fl_nc_put(&c, &k, NULL, data, sizeof data, NULL, &em));
  uint64_t got = 0;
  FL_CHECK_OK(fl_nc_get(&c, &k, 0, 0, back, sizeof back, &got, NULL, &em));
  FL_CHECK_EQ(got, sizeof data);
  FL_CHECK_MEM(back, data, sizeof data);
  fl_wire_conn_close(&c);
}

static void test_coord_restart_and_absence(void) {
  static uint8_t before[1 << 16], after[1 << 16];
  uint64_t eb, ea;
  CHECK_WAIT(all_up_in(NODES - 1));
  size_t lb = get_map_bytes(before, sizeof before, &eb);
  CHECK_WAIT(nodes_have_epoch(eb));
  int st = fl_proc_stop(&coord.proc, SIGTERM, 20000);
  FL_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  /* Coordinator away: nodes serve, and a node restarted now comes back
   * with the map it persisted. */
  put_get(0, "1.2.3.4.1.1");
  FL_CHECK_EQ(fl_proc_stop(&nodes[1].proc, SIGKILL, 10000) & 0x7f, SIGKILL);
  start_node(1);
  put_get(1, "1.2.3.4.1.2");
  FL_CHECK_EQ(node_file_epoch(1), eb);
  sleep_ms(500); /* some heartbeats fail meanwhile */
  put_get(3, "1.2.3.4.1.3");
  start_coord();
  size_t la = get_map_bytes(after, sizeof after, &ea);
  FL_CHECK_EQ(ea, eb);
  FL_CHECK_EQ(la, lb);
  FL_CHECK_MEM(after, before, la);
  /* Everyone reconnects; nothing went down, so the epoch stays. */
  CHECK_WAIT(all_seen());
  view_t v;
  FL_CHECK_OK(view_get(&v));
  FL_CHECK_EQ(v.map.epoch, eb);
  view_free(&v);
}

int main(void) {
  FL_CHECK_OK(fl_proc_scratch_dir("itest_coord", dir, sizeof dir));
  FL_RUN(test_join);
  FL_RUN(test_watch_and_admin);
  FL_RUN(test_down_out_up);
  FL_RUN(test_coord_restart_and_absence);
  for (int i = 0; i < NODES; i++)
    if (nodes[i].proc.pid)
      fl_proc_stop(&nodes[i].proc, SIGTERM, 20000);
  int st = fl_proc_stop(&coord.proc, SIGTERM, 20000);
  FL_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  fl_proc_rmtree(dir);
  FL_DONE();
}
