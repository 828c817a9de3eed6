/* Unit tests of the coordinator's persistence (RocksDB in a scratch
 * directory: save, reopen, load the same bytes, next id and auto-out set)
 * and of the ADMIN_LIST_NODES payload decoder: valid, empty, truncated,
 * garbage and oversized inputs each get a clear error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_cc.h"
#include "fl_coord_db.h"
#include "fl_map_codec.h"
#include "fl_proc.h"
#include "fl_test.h"

static void make_map(fl_map_t *m, int nodes) {
  fl_map_policy_t p;
  memset(&p, 0, sizeof p);
  p.k = 2;
  p.m = 1;
  p.pg_count = 32;
  p.min_write = 3;
  p.dc_count = 1;
  strcpy(p.dcs[0], "dc1");
  FL_CHECK_OK(fl_map_init(m, &p, NULL));
  m->epoch = 41;
  for (int i = 1; i <= nodes; i++) {
    fl_map_node_t n;
    memset(&n, 0, sizeof n);
    n.id = (uint32_t)i;
    n.weight = 10;
    n.state = FL_NODE_UP | (i == 3 ? 0 : FL_NODE_IN);
    snprintf(n.addr, sizeof n.addr, "127.0.0.1:%d", 7100 + i);
    strcpy(n.dc, "dc1");
    snprintf(n.rack, sizeof n.rack, "r%d", i);
    FL_CHECK_OK(fl_map_add_node(m, &n, NULL));
  }
}

static size_t enc(const fl_map_t *m, uint8_t *buf, size_t cap) {
  size_t len = 0;
  FL_CHECK_OK(fl_map_encode(m, buf, cap, &len, NULL));
  return len;
}

static void test_db_roundtrip(void) {
  char dir[512], db_dir[600];
  FL_CHECK_OK(fl_proc_scratch_dir("test_coord_db", dir, sizeof dir));
  snprintf(db_dir, sizeof db_dir, "%s/map.db", dir);
  fl_coord_db_t *db;
  fl_map_t m, back;
  uint32_t next_id, *auto_out, n_auto;
  int found = 1;
  FL_CHECK_OK(fl_coord_db_open(db_dir, &db, NULL));
  FL_CHECK_OK(fl_coord_db_load(db, &found, &back, &next_id, &auto_out, &n_auto, NULL));
  FL_CHECK_EQ(found, 0);
  make_map(&m, 5);
  uint32_t ao[2] = {3, 70000};
  FL_CHECK_OK(fl_coord_db_save(db, &m, 9, ao, 2, NULL));
  fl_coord_db_close(db);
  FL_CHECK_OK(fl_coord_db_open(db_dir, &db, NULL));
  FL_CHECK_OK(fl_coord_db_load(db, &found, &back, &next_id, &auto_out, &n_auto, NULL));
  FL_CHECK_EQ(found, 1);
  static uint8_t a[1 << 14], b[1 << 14];
  size_t la = enc(&m, a, sizeof a), lb = enc(&back, b, sizeof b);
  FL_CHECK_EQ(la, lb);
  FL_CHECK_MEM(a, b, la);
  FL_CHECK_EQ(next_id, 9);
  FL_CHECK_EQ(n_auto, 2);
  FL_CHECK_EQ(auto_out[0], 3);
  FL_CHECK_EQ(auto_out[1], 70000);
  free(auto_out);
  fl_map_free(&back);
  /* The auto-out set is replaced whole. */
  m.epoch++;
  FL_CHECK_OK(fl_coord_db_save(db, &m, 10, NULL, 0, NULL));
  FL_CHECK_OK(fl_coord_db_load(db, &found, &back, &next_id, &auto_out, &n_auto, NULL));
  FL_CHECK_EQ(n_auto, 0);
  FL_CHECK_EQ(next_id, 10);
  FL_CHECK_EQ(back.epoch, 42);
  free(auto_out);
  fl_map_free(&back);
  fl_coord_db_close(db);
  fl_map_free(&m);
  fl_proc_rmtree(dir);
}

static void test_list_decode(void) {
  fl_map_t m, back;
  make_map(&m, 3);
  static uint8_t buf[1 << 14];
  size_t ml = enc(&m, buf, sizeof buf);
  Fl__NodeStatus s[2], *sp[2] = {&s[0], &s[1]};
  fl__node_status__init(&s[0]);
  fl__node_status__init(&s[1]);
  s[0].id = 1;
  s[0].used_bytes = 1234;
  s[0].seen = 1;
  s[0].software_version = "0.1.0";
  s[1].id = 2;
  s[1].auto_out = 1;
  Fl__NodeStatusList l = FL__NODE_STATUS_LIST__INIT;
  l.n_nodes = 2;
  l.nodes = sp;
  size_t sl = fl__node_status_list__pack(&l, buf + ml);
  fl_cc_status_t *st;
  uint32_t n;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_cc_list_decode(buf, ml + sl, ml, &back, &st, &n, &em));
  FL_CHECK_EQ(n, 2);
  FL_CHECK_EQ(back.node_count, 3);
  FL_CHECK_EQ(st[0].used_bytes, 1234);
  FL_CHECK(st[0].seen);
  FL_CHECK_STR(st[0].version, "0.1.0");
  FL_CHECK(st[1].auto_out);
  free(st);
  fl_map_free(&back);
  /* Empty, truncated map, a split beyond the payload, a bad status list. */
  FL_CHECK_ERR(fl_cc_list_decode(buf, 0, 0, &back, &st, &n, &em), FL_ETRUNC);
  FL_CHECK_ERR(fl_cc_list_decode(buf, ml + sl, ml - 1, &back, &st, &n, &em), FL_ETRUNC);
  FL_CHECK_ERR(fl_cc_list_decode(buf, ml + sl, ml + sl + 1, &back, &st, &n, &em), FL_EPROTO);
  FL_CHECK(strstr(em.msg, "exceeds the payload") != NULL);
  static uint8_t bad[1 << 14];
  memcpy(bad, buf, ml);
  memset(bad + ml, 0xff, 16);
  FL_CHECK_ERR(fl_cc_list_decode(bad, ml + 16, ml, &back, &st, &n, &em), FL_EPROTO);
  FL_CHECK(strstr(em.msg, "does not decode") != NULL);
  memset(bad, 0x5a, 64);
  FL_CHECK(fl_cc_list_decode(bad, 64, 64, &back, &st, &n, &em) < 0);
  fl_map_free(&m);
}

int main(void) {
  FL_RUN(test_db_roundtrip);
  FL_RUN(test_list_decode);
  FL_DONE();
}
