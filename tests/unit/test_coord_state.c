/* Unit tests of the coordinator's state machine, with time passed in:
 * registration and id rules, grace periods (down, then out, held back at
 * k+m), the refusal rule, admin changes, policy changes, that a refused
 * change leaves the map byte-identical with its epoch, the nodes' repair
 * figures (kept, never an epoch, gone with a down node), the remove rule,
 * and the repair figures' trip through protobuf and ADMIN_LIST_NODES. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_coord_state.h"
#include "fl_map_codec.h"
#include "fl_test.h"

#define GIB (UINT64_C(1) << 30)
#define DOWN 1000
#define OUT 5000

static fl_map_policy_t policy(uint32_t k, uint32_t m) {
  fl_map_policy_t p;
  memset(&p, 0, sizeof p);
  p.k = k;
  p.m = m;
  p.pg_count = 64;
  p.min_write = k + 1;
  p.small_threshold = 65536;
  p.dc_count = 2;
  strcpy(p.dcs[0], "dc1");
  strcpy(p.dcs[1], "dc2");
  return p;
}

static void init(fl_coord_state_t *st, uint32_t k, uint32_t m, uint64_t now) {
  fl_map_policy_t p = policy(k, m);
  fl_coord_timing_t t = {DOWN, OUT};
  FL_CHECK_OK(fl_coord_state_init(st, NULL, &p, 0, NULL, 0, &t, now, NULL));
}

/* Applies a change the way the server does (persisting is not the point). */
static int apply(fl_coord_state_t *st, int rc) {
  if (rc == 1)
    fl_coord_commit(st);
  return rc;
}

static uint32_t reg(fl_coord_state_t *st, uint32_t id, const char *dc, int i, uint64_t now) {
  char addr[64], rack[32];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", 7100 + i);
  snprintf(rack, sizeof rack, "r%d", i % 8);
  fl_coord_reg_t r = {id, addr, dc, rack, "t", (uint64_t)(10 + i) * GIB};
  uint32_t out = 0;
  int rc = fl_coord_register(st, &r, now, &out, NULL);
  FL_CHECK(rc >= 0);
  apply(st, rc);
  return out;
}

/* Encoded bytes of the committed map, to prove a refusal changed nothing. */
static uint8_t snap_buf[1 << 16];
static size_t snap(const fl_coord_state_t *st, uint8_t *buf) {
  size_t len = 0;
  FL_CHECK_OK(fl_map_encode(&st->map, buf, sizeof snap_buf, &len, NULL));
  return len;
}

#define CHECK_REFUSED_UNCHANGED(st, expr, code)                 \
  do {                                                          \
    static uint8_t after_[1 << 16];                             \
    size_t l1_ = snap(st, snap_buf);                            \
    uint64_t e_ = (st)->map.epoch;                              \
    FL_CHECK_ERR(expr, code);                                   \
    FL_CHECK(!(st)->has_next);                                  \
    FL_CHECK_EQ((st)->map.epoch, e_);                           \
    size_t l2_ = snap(st, after_);                              \
    FL_CHECK_EQ(l1_, l2_);                                      \
    FL_CHECK_MEM(snap_buf, after_, l1_);                        \
  } while (0)

static const fl_map_node_t *node(const fl_coord_state_t *st, uint32_t id) {
  const fl_map_node_t *n = fl_map_find_node(&st->map, id);
  FL_CHECK(n != NULL);
  return n;
}

static void test_register(void) {
  fl_coord_state_t st;
  init(&st, 4, 2, 0);
  FL_CHECK_EQ(st.map.epoch, 0);
  for (int i = 0; i < 8; i++) {
    uint32_t id = reg(&st, 0, "dc1", i, 10);
    FL_CHECK_EQ(id, (uint32_t)i + 1);
    FL_CHECK_EQ(st.map.epoch, (uint64_t)i + 1);
  }
  const fl_map_node_t *n = node(&st, 3);
  FL_CHECK_EQ(n->state, FL_NODE_UP | FL_NODE_IN);
  FL_CHECK_EQ(n->weight, 12);
  FL_CHECK_STR(n->addr, "127.0.0.1:7102");
  /* A restart with the same identity changes nothing in the map. */
  FL_CHECK_EQ(reg(&st, 3, "dc1", 2, 20), 3);
  FL_CHECK_EQ(st.map.epoch, 8);
  fl_errmsg_t em = {{0}};
  /* Another node claiming id 3 from another address. */
  fl_coord_reg_t r = {3, "127.0.0.1:9999", "dc1", "r2", "t", GIB};
  uint32_t out;
  CHECK_REFUSED_UNCHANGED(&st, fl_coord_register(&st, &r, 30, &out, &em), FL_EREFUSED);
  FL_CHECK(strstr(em.msg, "registered at 127.0.0.1:7102") != NULL);
  /* A new node at an address that is taken. */
  fl_coord_reg_t r2 = {0, "127.0.0.1:7104", "dc1", "r9", "t", GIB};
  CHECK_REFUSED_UNCHANGED(&st, fl_coord_register(&st, &r2, 30, &out, &em), FL_EREFUSED);
  FL_CHECK(strstr(em.msg, "belongs to node 5") != NULL);
  /* Moving racks, an id never given, an unknown datacenter. */
  fl_coord_reg_t r3 = {3, "127.0.0.1:7102", "dc1", "elsewhere", "t", GIB};
  CHECK_REFUSED_UNCHANGED(&st, fl_coord_register(&st, &r3, 30, &out, &em), FL_EREFUSED);
  fl_coord_reg_t r4 = {77, "127.0.0.1:7777", "dc1", "r1", "t", GIB};
  CHECK_REFUSED_UNCHANGED(&st, fl_coord_register(&st, &r4, 30, &out, &em), FL_EREFUSED);
  fl_coord_reg_t r5 = {0, "127.0.0.1:7778", "dc9", "r1", "t", GIB};
  CHECK_REFUSED_UNCHANGED(&st, fl_coord_register(&st, &r5, 30, &out, &em), FL_ECONFIG);
  fl_coord_state_free(&st);
}

static void test_grace_periods(void) {
  fl_coord_state_t st;
  init(&st, 4, 2, 0);
  for (int i = 0; i < 8; i++)
    reg(&st, 0, "dc1", i, 0);
  uint64_t e = st.map.epoch;
  /* Heartbeats record figures, never bump the epoch. */
  fl_coord_hb_t hb = {1, 10 * GIB, 5000, 7, 0, {0}};
  FL_CHECK_EQ(fl_coord_heartbeat(&st, &hb, 500, NULL), 0);
  FL_CHECK_EQ(fl_coord_live(&st, 1)->used_bytes, 5000);
  FL_CHECK_EQ(st.map.epoch, e);
  /* Just before down_after: nothing. */
  FL_CHECK_EQ(apply(&st, fl_coord_tick(&st, DOWN - 1, NULL, NULL)), 0);
  /* Nodes 1-6 keep heartbeating; 7 and 8 go silent. */
  for (uint32_t id = 1; id <= 6; id++) {
    hb.id = id;
    FL_CHECK_EQ(fl_coord_heartbeat(&st, &hb, DOWN - 1, NULL), 0);
  }
  FL_CHECK_EQ(apply(&st, fl_coord_tick(&st, DOWN, NULL, NULL)), 1);
  FL_CHECK_EQ(st.map.epoch, e + 1); /* both in one epoch */
  FL_CHECK_EQ(node(&st, 7)->state, FL_NODE_IN);
  FL_CHECK_EQ(node(&st, 8)->state, FL_NODE_IN);
  FL_CHECK_EQ(node(&st, 6)->state, FL_NODE_UP | FL_NODE_IN);
  FL_CHECK_EQ(apply(&st, fl_coord_tick(&st, DOWN + 10, NULL, NULL)), 0);
  /* Node 8 comes back before out_after: up again, one epoch. */
  hb.id = 8;
  FL_CHECK_EQ(apply(&st, fl_coord_heartbeat(&st, &hb, 2000, NULL)), 1);
  FL_CHECK_EQ(node(&st, 8)->state, FL_NODE_UP | FL_NODE_IN);
  /* Keep 1-6 and 8 alive; 7 stays silent past out_after: out. */
  for (uint32_t id = 1; id <= 8; id++) {
    hb.id = id;
    if (id != 7)
      fl_coord_heartbeat(&st, &hb, OUT - 1, NULL);
  }
  uint32_t held = 9;
  FL_CHECK_EQ(apply(&st, fl_coord_tick(&st, OUT, &held, NULL)), 1);
  FL_CHECK_EQ(held, 0);
  FL_CHECK_EQ(node(&st, 7)->state, 0);
  FL_CHECK_EQ(fl_coord_live(&st, 7)->auto_out, 1);
  uint32_t ids[4];
  FL_CHECK_EQ(fl_coord_auto_out(&st, ids, 4), 1);
  FL_CHECK_EQ(ids[0], 7);
  /* Now 8, 6 and 5 go silent: 7 usable left; one more out leaves 6 = k+m,
   * the next would leave 5 and is held back (down but in). */
  uint64_t t = OUT + 100;
  for (uint32_t id = 1; id <= 4; id++) {
    hb.id = id;
    fl_coord_heartbeat(&st, &hb, t + OUT, NULL);
  }
  FL_CHECK_EQ(apply(&st, fl_coord_tick(&st, t + OUT, &held, NULL)), 1);
  FL_CHECK_EQ(held, 2);
  int outs = 0;
  for (uint32_t id = 5; id <= 8; id++)
    outs += !(node(&st, id)->state & FL_NODE_IN);
  FL_CHECK_EQ(outs, 2); /* 7 before, and one of 5, 6, 8 */
  /* The auto-out node 7 comes back: up and in again. */
  hb.id = 7;
  FL_CHECK_EQ(apply(&st, fl_coord_heartbeat(&st, &hb, t + OUT + 1, NULL)), 1);
  FL_CHECK_EQ(node(&st, 7)->state, FL_NODE_UP | FL_NODE_IN);
  FL_CHECK_EQ(fl_coord_live(&st, 7)->auto_out, 0);
  /* Unknown ids must register. */
  hb.id = 99;
  FL_CHECK_ERR(fl_coord_heartbeat(&st, &hb, 0, NULL), FL_ENOTFOUND);
  fl_coord_state_free(&st);
}

static void test_admin(void) {
  fl_coord_state_t st;
  init(&st, 4, 2, 0);
  for (int i = 0; i < 7; i++)
    reg(&st, 0, "dc1", i, 0);
  fl_errmsg_t em = {{0}};
  uint64_t e = st.map.epoch;
  FL_CHECK_EQ(apply(&st, fl_coord_set_weight(&st, 2, 40, &em)), 1);
  FL_CHECK_EQ(node(&st, 2)->weight, 40);
  FL_CHECK_EQ(st.map.epoch, e + 1);
  /* Same weight again: no change, no epoch. */
  FL_CHECK_EQ(apply(&st, fl_coord_set_weight(&st, 2, 40, &em)), 0);
  FL_CHECK_EQ(st.map.epoch, e + 1);
  CHECK_REFUSED_UNCHANGED(&st, fl_coord_set_weight(&st, 42, 1, &em), FL_ENOTFOUND);
  /* Out one (7 -> 6 usable = k+m): fine; a second would leave 5. */
  FL_CHECK_EQ(apply(&st, fl_coord_mark(&st, 7, 1, &em)), 1);
  FL_CHECK_EQ(node(&st, 7)->state, FL_NODE_UP);
  CHECK_REFUSED_UNCHANGED(&st, fl_coord_mark(&st, 6, 1, &em), FL_EREFUSED);
  FL_CHECK(strstr(em.msg, "datacenter dc1 would keep 5 usable node(s), fewer than k+m = 6") !=
           NULL);
  CHECK_REFUSED_UNCHANGED(&st, fl_coord_set_weight(&st, 6, 0, &em), FL_EREFUSED);
  /* Remove: an in node is refused; an out node still holding data too. */
  CHECK_REFUSED_UNCHANGED(&st, fl_coord_remove(&st, 6, &em), FL_EREFUSED);
  fl_coord_hb_t hb = {7, GIB, 100, 3, 0, {0}};
  fl_coord_heartbeat(&st, &hb, 10, NULL);
  CHECK_REFUSED_UNCHANGED(&st, fl_coord_remove(&st, 7, &em), FL_EREFUSED);
  FL_CHECK(strstr(em.msg, "node 7 is up and still holds 3 fragment(s); drain it first "
                  "(filmless node drain 7 --wait)") != NULL);
  hb.objects = 0;
  fl_coord_heartbeat(&st, &hb, 20, NULL);
  FL_CHECK_EQ(apply(&st, fl_coord_remove(&st, 7, &em)), 1);
  FL_CHECK(fl_map_find_node(&st.map, 7) == NULL);
  FL_CHECK(fl_coord_live(&st, 7) == NULL);
  /* Ids are never reused, and a removed id cannot come back. */
  FL_CHECK_EQ(reg(&st, 0, "dc1", 20, 30), 8);
  fl_coord_reg_t r = {7, "127.0.0.1:7106", "dc1", "r6", "t", GIB};
  uint32_t out;
  CHECK_REFUSED_UNCHANGED(&st, fl_coord_register(&st, &r, 40, &out, &em), FL_EREFUSED);
  /* Mark in again. */
  FL_CHECK_EQ(apply(&st, fl_coord_mark(&st, 8, 1, &em)), 1);
  FL_CHECK_EQ(apply(&st, fl_coord_mark(&st, 8, 0, &em)), 1);
  FL_CHECK_EQ(node(&st, 8)->state, FL_NODE_UP | FL_NODE_IN);
  /* Abort drops a proposal: the map stays. */
  uint64_t e2 = st.map.epoch;
  FL_CHECK_EQ(fl_coord_set_weight(&st, 1, 99, &em), 1);
  fl_coord_abort(&st);
  FL_CHECK_EQ(st.map.epoch, e2);
  FL_CHECK(node(&st, 1)->weight != 99);
  fl_coord_state_free(&st);
}

static void test_policy(void) {
  fl_coord_state_t st;
  init(&st, 2, 1, 0);
  fl_errmsg_t em = {{0}};
  /* Before any node, everything may change, pg_count included. */
  fl_map_policy_t p = policy(4, 2);
  p.pg_count = 256;
  FL_CHECK_EQ(apply(&st, fl_coord_set_policy(&st, &p, 0, &em)), 1);
  FL_CHECK_EQ(st.map.policy.pg_count, 256);
  for (int i = 0; i < 6; i++)
    reg(&st, 0, "dc1", i, 0);
  fl_map_policy_t q = p;
  q.pg_count = 512;
  CHECK_REFUSED_UNCHANGED(&st, fl_coord_set_policy(&st, &q, 0, &em), FL_EREFUSED);
  FL_CHECK(strstr(em.msg, "pg_count is fixed") != NULL);
  q = p;
  q.m = 3;
  q.min_write = 5;
  CHECK_REFUSED_UNCHANGED(&st, fl_coord_set_policy(&st, &q, 0, &em), FL_EREFUSED);
  q = p;
  q.dc_count = 1;
  strcpy(q.dcs[0], "dc2");
  CHECK_REFUSED_UNCHANGED(&st, fl_coord_set_policy(&st, &q, 0, &em), FL_EREFUSED);
  q = p;
  q.min_write = 9;
  CHECK_REFUSED_UNCHANGED(&st, fl_coord_set_policy(&st, &q, 0, &em), FL_ECONFIG);
  q = p;
  q.small_threshold = 1 << 20;
  CHECK_REFUSED_UNCHANGED(&st, fl_coord_set_policy(&st, &q, st.map.epoch - 1, &em), FL_EREFUSED);
  FL_CHECK_EQ(apply(&st, fl_coord_set_policy(&st, &q, st.map.epoch, &em)), 1);
  FL_CHECK_EQ(st.map.policy.small_threshold, 1 << 20);
  /* Narrower policy: fine. */
  q.k = 3;
  q.min_write = 4;
  FL_CHECK_EQ(apply(&st, fl_coord_set_policy(&st, &q, 0, &em)), 1);
  fl_coord_state_free(&st);
}

static void test_check_change(void) {
  fl_map_policy_t p = policy(2, 1);
  fl_map_t a, b;
  FL_CHECK_OK(fl_map_init(&a, &p, NULL));
  FL_CHECK_OK(fl_map_init(&b, &p, NULL));
  fl_map_node_t n;
  memset(&n, 0, sizeof n);
  strcpy(n.dc, "dc1");
  strcpy(n.rack, "r1");
  n.weight = 1;
  n.state = FL_NODE_UP | FL_NODE_IN;
  /* Growing from empty: 1 then 2 usable nodes of 3 needed, allowed. */
  n.id = 1;
  FL_CHECK_OK(fl_map_add_node(&b, &n, NULL));
  FL_CHECK_OK(fl_coord_check_change(&a, &b, NULL));
  n.id = 2;
  FL_CHECK_OK(fl_map_add_node(&a, &(fl_map_node_t){1, 1, 3, "x", "dc1", "r1"}, NULL));
  FL_CHECK_OK(fl_map_add_node(&b, &n, NULL));
  FL_CHECK_OK(fl_coord_check_change(&a, &b, NULL));
  /* Shrinking a short datacenter further: refused. */
  FL_CHECK_ERR(fl_coord_check_change(&b, &a, NULL), FL_EREFUSED);
  fl_map_free(&a);
  fl_map_free(&b);
}

static void test_restart(void) {
  fl_coord_state_t st;
  init(&st, 4, 2, 0);
  for (int i = 0; i < 8; i++)
    reg(&st, 0, "dc1", i, 0);
  fl_coord_hb_t hb = {1, GIB, 0, 0, 0, {0}};
  for (uint32_t id = 1; id <= 7; id++) {
    hb.id = id;
    fl_coord_heartbeat(&st, &hb, OUT, NULL);
  }
  FL_CHECK_EQ(apply(&st, fl_coord_tick(&st, OUT, NULL, NULL)), 1);
  FL_CHECK_EQ(node(&st, 8)->state, 0);
  uint32_t ids[4];
  uint32_t n = fl_coord_auto_out(&st, ids, 4);
  fl_coord_state_t st2;
  fl_coord_timing_t t = {DOWN, OUT};
  FL_CHECK_OK(fl_coord_state_init(&st2, &st.map, NULL, st.next_id, ids, n, &t, 100000, NULL));
  FL_CHECK_EQ(st2.map.epoch, st.map.epoch);
  FL_CHECK_EQ(n, 1);
  FL_CHECK_EQ(st2.next_id, 9);
  FL_CHECK_EQ(fl_coord_live(&st2, 8)->auto_out, 1);
  /* A restart with a stale next_id still never reuses an id. */
  fl_coord_state_t st3;
  FL_CHECK_OK(fl_coord_state_init(&st3, &st.map, NULL, 2, NULL, 0, &t, 0, NULL));
  FL_CHECK_EQ(st3.next_id, 9);
  fl_coord_state_free(&st3);
  /* Everyone gets a full grace period from the restart. */
  FL_CHECK_EQ(apply(&st2, fl_coord_tick(&st2, 100000 + DOWN - 1, NULL, NULL)), 0);
  FL_CHECK_EQ(fl_coord_live(&st2, 3)->seen, 0);
  fl_coord_state_free(&st);
  fl_coord_state_free(&st2);
}

static fl_cc_repair_t figures(uint32_t seed) {
  fl_cc_repair_t r = {seed, seed + 1, seed + 2, UINT64_C(1) << 40 | seed, seed + 4, seed + 5,
                      seed + 6, seed + 7, seed + 8, seed + 9, seed + 10, seed + 11, seed + 12};
  return r;
}

static void check_same(const fl_cc_repair_t *a, const fl_cc_repair_t *b) {
  FL_CHECK_EQ(a->pgs_led, b->pgs_led);
  FL_CHECK_EQ(a->pgs_degraded, b->pgs_degraded);
  FL_CHECK_EQ(a->min_survivors, b->min_survivors);
  FL_CHECK_EQ(a->bytes_left, b->bytes_left);
  FL_CHECK_EQ(a->fragments_left, b->fragments_left);
  FL_CHECK_EQ(a->rate_bytes_per_s, b->rate_bytes_per_s);
  FL_CHECK_EQ(a->bytes_done, b->bytes_done);
  FL_CHECK_EQ(a->fragments_rebuilt, b->fragments_rebuilt);
  FL_CHECK_EQ(a->fragments_copied, b->fragments_copied);
  FL_CHECK_EQ(a->fragments_dropped, b->fragments_dropped);
  FL_CHECK_EQ(a->deletes_propagated, b->deletes_propagated);
  FL_CHECK_EQ(a->epoch, b->epoch);
  FL_CHECK_EQ(a->passes, b->passes);
}

static int all_zero(const fl_cc_repair_t *r) {
  static const fl_cc_repair_t z;
  return memcmp(r, &z, sizeof z) == 0;
}

static void test_repair_figures(void) {
  fl_coord_state_t st;
  init(&st, 2, 1, 0);
  for (int i = 0; i < 5; i++)
    reg(&st, 0, "dc1", i, 0);
  uint64_t e = st.map.epoch;
  /* Kept as sent, per node, and never an epoch. */
  fl_coord_hb_t hb = {1, GIB, 10, 2, 0, figures(100)};
  FL_CHECK_EQ(fl_coord_heartbeat(&st, &hb, 100, NULL), 0);
  hb.id = 2;
  hb.repair = figures(200);
  FL_CHECK_EQ(fl_coord_heartbeat(&st, &hb, 100, NULL), 0);
  FL_CHECK_EQ(st.map.epoch, e);
  fl_cc_repair_t want = figures(100);
  check_same(&fl_coord_live(&st, 1)->repair, &want);
  want = figures(200);
  check_same(&fl_coord_live(&st, 2)->repair, &want);
  /* New figures replace the old ones, still without an epoch. */
  hb.repair.bytes_left = 7;
  FL_CHECK_EQ(fl_coord_heartbeat(&st, &hb, 200, NULL), 0);
  FL_CHECK_EQ(fl_coord_live(&st, 2)->repair.bytes_left, 7);
  FL_CHECK_EQ(st.map.epoch, e);
  /* Node 1 goes silent: down, and its figures leave with it. Node 2 stays. */
  for (uint32_t id = 2; id <= 5; id++) {
    hb.id = id;
    FL_CHECK_EQ(fl_coord_heartbeat(&st, &hb, DOWN, NULL), 0);
  }
  FL_CHECK_EQ(apply(&st, fl_coord_tick(&st, DOWN + 100, NULL, NULL)), 1);
  FL_CHECK_EQ(node(&st, 1)->state, FL_NODE_IN);
  FL_CHECK(all_zero(&fl_coord_live(&st, 1)->repair));
  FL_CHECK_EQ(fl_coord_live(&st, 2)->repair.bytes_left, 7);
  /* Back up: its next heartbeat reports again. */
  hb.id = 1;
  hb.repair = figures(300);
  FL_CHECK_EQ(apply(&st, fl_coord_heartbeat(&st, &hb, DOWN + 200, NULL)), 1);
  FL_CHECK_EQ(node(&st, 1)->state, FL_NODE_UP | FL_NODE_IN);
  want = figures(300);
  check_same(&fl_coord_live(&st, 1)->repair, &want);
  /* A down transition whose persistence fails (abort) clears nothing of an
   * up node, and leaves the node up with its figures. */
  FL_CHECK_EQ(fl_coord_tick(&st, 10 * DOWN, NULL, NULL), 1);
  fl_coord_abort(&st);
  FL_CHECK_EQ(node(&st, 1)->state, FL_NODE_UP | FL_NODE_IN);
  check_same(&fl_coord_live(&st, 1)->repair, &want);
  /* A restart (register) counts from zero until its first heartbeat. */
  FL_CHECK_EQ(reg(&st, 1, "dc1", 0, 10 * DOWN), 1);
  FL_CHECK(all_zero(&fl_coord_live(&st, 1)->repair));
  fl_coord_state_free(&st);
}

static void test_remove_rule(void) {
  fl_coord_state_t st;
  init(&st, 2, 1, 0);
  for (int i = 0; i < 5; i++)
    reg(&st, 0, "dc1", i, 0);
  fl_errmsg_t em = {{0}};
  /* In: drain first. */
  CHECK_REFUSED_UNCHANGED(&st, fl_coord_remove(&st, 5, &em), FL_EREFUSED);
  FL_CHECK(strstr(em.msg, "node 5 is in; drain it first (filmless node drain 5 --wait)") !=
           NULL);
  FL_CHECK_EQ(apply(&st, fl_coord_mark(&st, 5, 1, &em)), 1);
  FL_CHECK_EQ(apply(&st, fl_coord_mark(&st, 4, 1, &em)), 1);
  /* Out and up with fragments: refused, naming the drain. */
  fl_coord_hb_t hb = {5, GIB, 100, 12, 0, {0}};
  FL_CHECK_EQ(fl_coord_heartbeat(&st, &hb, 100, NULL), 0);
  CHECK_REFUSED_UNCHANGED(&st, fl_coord_remove(&st, 5, &em), FL_EREFUSED);
  FL_CHECK(strstr(em.msg, "node 5 is up and still holds 12 fragment(s); drain it first "
                  "(filmless node drain 5 --wait), then remove it") != NULL);
  /* Its fragments gone: removed. */
  hb.objects = 0;
  FL_CHECK_EQ(fl_coord_heartbeat(&st, &hb, 200, NULL), 0);
  FL_CHECK_EQ(apply(&st, fl_coord_remove(&st, 5, &em)), 1);
  FL_CHECK(fl_map_find_node(&st.map, 5) == NULL);
  /* Node 4, out, dies holding fragments: down and out may go (its data is
   * repaired elsewhere). Everyone else keeps heartbeating. */
  hb.id = 4;
  hb.objects = 9;
  FL_CHECK_EQ(fl_coord_heartbeat(&st, &hb, 300, NULL), 0);
  CHECK_REFUSED_UNCHANGED(&st, fl_coord_remove(&st, 4, &em), FL_EREFUSED);
  for (uint32_t id = 1; id <= 3; id++) {
    hb.id = id;
    FL_CHECK_EQ(fl_coord_heartbeat(&st, &hb, 300 + DOWN, NULL), 0);
  }
  FL_CHECK_EQ(apply(&st, fl_coord_tick(&st, 300 + DOWN, NULL, NULL)), 1);
  FL_CHECK_EQ(node(&st, 4)->state, 0);
  FL_CHECK_EQ(fl_coord_live(&st, 4)->objects, 9);
  FL_CHECK_EQ(apply(&st, fl_coord_remove(&st, 4, &em)), 1);
  FL_CHECK(fl_map_find_node(&st.map, 4) == NULL);
  /* After a coordinator restart an up node has not said what it holds. */
  fl_map_t saved;
  fl_coord_timing_t t = {DOWN, OUT};
  FL_CHECK_OK(fl_map_copy(&saved, &st.map, NULL));
  fl_map_node_t *n3 = (fl_map_node_t *)fl_map_find_node(&saved, 3);
  n3->state = FL_NODE_UP; /* persisted up and out */
  fl_coord_state_t st3;
  FL_CHECK_OK(fl_coord_state_init(&st3, &saved, NULL, 0, NULL, 0, &t, 0, NULL));
  fl_map_free(&saved);
  CHECK_REFUSED_UNCHANGED(&st3, fl_coord_remove(&st3, 3, &em), FL_EREFUSED);
  FL_CHECK(strstr(em.msg, "has not reported since the coordinator started") != NULL);
  hb.id = 3;
  hb.objects = 0;
  FL_CHECK_EQ(fl_coord_heartbeat(&st3, &hb, 10, NULL), 0);
  FL_CHECK_EQ(apply(&st3, fl_coord_remove(&st3, 3, &em)), 1);
  fl_coord_state_free(&st3);
  fl_coord_state_free(&st);
}

static void test_repair_wire(void) {
  /* Plain struct -> protobuf -> plain struct, every field. */
  fl_cc_repair_t a = figures(1000), b;
  Fl__RepairProgress pb;
  fl_cc_repair_to_pb(&a, &pb);
  uint8_t buf[256];
  size_t len = fl__repair_progress__pack(&pb, buf);
  Fl__RepairProgress *back = fl__repair_progress__unpack(NULL, len, buf);
  FL_CHECK(back != NULL);
  fl_cc_repair_from_pb(back, &b);
  fl__repair_progress__free_unpacked(back, NULL);
  check_same(&a, &b);
  /* An absent field (an older node) is all zeros. */
  fl_cc_repair_from_pb(NULL, &b);
  FL_CHECK(all_zero(&b));
  /* Sums: counters add up, min_survivors is the lowest non-zero. */
  fl_cc_repair_t s;
  memset(&s, 0, sizeof s);
  fl_cc_repair_t x = figures(10), y = figures(20), z;
  memset(&z, 0, sizeof z);
  fl_cc_repair_add(&s, &y);
  fl_cc_repair_add(&s, &z);
  fl_cc_repair_add(&s, &x);
  FL_CHECK_EQ(s.pgs_degraded, 11 + 21);
  FL_CHECK_EQ(s.bytes_left, (UINT64_C(1) << 41) + 30);
  FL_CHECK_EQ(s.min_survivors, 12);
  FL_CHECK_EQ(s.epoch, 31);
  FL_CHECK_EQ(s.fragments_dropped, 19 + 29);

  /* ADMIN_LIST_NODES as the server builds it: NodeStatus.repair arrives in
   * fl_cc_status_t.repair; a node without it gets zeros. */
  fl_coord_state_t st;
  init(&st, 2, 1, 0);
  for (int i = 0; i < 2; i++)
    reg(&st, 0, "dc1", i, 0);
  size_t mcap = fl_map_encoded_size(&st.map), mlen = 0;
  uint8_t *payload = malloc(mcap + 512);
  FL_CHECK(payload != NULL);
  FL_CHECK_OK(fl_map_encode(&st.map, payload, mcap, &mlen, NULL));
  Fl__NodeStatus ns[2], *np[2] = {&ns[0], &ns[1]};
  fl__node_status__init(&ns[0]);
  fl__node_status__init(&ns[1]);
  ns[0].id = 1;
  ns[0].repair = &pb;
  ns[1].id = 2;
  Fl__NodeStatusList l = FL__NODE_STATUS_LIST__INIT;
  l.n_nodes = 2;
  l.nodes = np;
  FL_CHECK(fl__node_status_list__get_packed_size(&l) <= 512);
  size_t llen = fl__node_status_list__pack(&l, payload + mlen);
  fl_map_t m;
  fl_cc_status_t *out = NULL;
  uint32_t n = 0;
  FL_CHECK_OK(fl_cc_list_decode(payload, mlen + llen, mlen, &m, &out, &n, NULL));
  FL_CHECK_EQ(n, 2);
  check_same(&out[0].repair, &a);
  FL_CHECK(all_zero(&out[1].repair));
  free(out);
  fl_map_free(&m);
  free(payload);
  fl_coord_state_free(&st);
}

int main(void) {
  FL_RUN(test_register);
  FL_RUN(test_grace_periods);
  FL_RUN(test_admin);
  FL_RUN(test_policy);
  FL_RUN(test_check_change);
  FL_RUN(test_restart);
  FL_RUN(test_repair_figures);
  FL_RUN(test_remove_rule);
  FL_RUN(test_repair_wire);
  FL_DONE();
}
