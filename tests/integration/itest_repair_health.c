/* The repair tests' own instruments, checked against damage made by hand:
 * a coordinator and 6 real nodes (policy 4+2, 16 PGs) with repair turned
 * off hold MR studies and SR reports. The health check finds them all
 * healthy; then one object gets a stray copy (fragment 1 put on the node
 * of position 0), another loses fragment 2 (deleted on its node), a third
 * has fragment 3 replaced by bytes with one payload byte flipped (stored
 * by the node under a valid wire CRC, so only the fragment's own header
 * CRC tells). The check must count exactly one stray, one missing and one
 * corrupt fragment, and the repair waiter must not report repair finished
 * on nodes whose repair is off. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filmless.h"
#include "fl_gen.h"
#include "fl_itest_cluster.h"
#include "fl_itest_data.h"
#include "fl_itest_health.h"
#include "fl_pg.h"
#include "fl_place.h"
#include "fl_test.h"

#define NODES 6

static fl_itest_cluster_t cl;
static fl_client_t *client;
static fl_itest_data_t data;
static fl_map_t map;

static void kill_all(void) { fl_itest_cluster_kill_all(&cl); }

/* Connection to the node with id (its address from the map). */
static void conn_to(uint32_t id, fl_wire_conn_t *c) {
  int slot = fl_itest_cluster_slot(&cl, id);
  FL_CHECK(slot >= 0);
  FL_CHECK_OK(fl_itest_connect(&cl.nodes[slot], c));
}

/* Key of fragment frag of object o and the nodes of its placement. */
static fl_nc_key_t key_of(const fl_itest_obj_t *o, uint32_t frag, uint32_t place[]) {
  uint32_t pg = fl_pg_of("hosp-a", o->di.study_uid, map.policy.pg_count);
  FL_CHECK_OK(fl_place_pg_nodes(&map, pg, "dc1", place, NULL));
  fl_nc_key_t k = {pg, "hosp-a", o->di.study_uid, o->di.series_uid, o->di.sop_uid, frag};
  return k;
}

/* Reads fragment k whole from node id into a malloc'd buffer. */
static uint8_t *get_frag(uint32_t id, const fl_nc_key_t *k, uint64_t *len) {
  fl_wire_conn_t c;
  conn_to(id, &c);
  size_t cap = 4u << 20;
  uint8_t *buf = malloc(cap);
  FL_CHECK(buf != NULL);
  fl_errmsg_t em = {{0}};
  int rc = fl_nc_get(&c, k, 0, 0, buf, cap, len, NULL, &em);
  if (rc)
    FL__FAIL("get fragment %u from node %u: %s", k->frag, id, fl_errmsg_str(&em, rc));
  fl_wire_conn_close(&c);
  return buf;
}

static void put_frag(uint32_t id, const fl_nc_key_t *k, const fl_itest_obj_t *o,
                     const uint8_t *buf, uint64_t len) {
  fl_wire_conn_t c;
  conn_to(id, &c);
  fl_nc_put_opts_t po = {0};
  po.layout = 1;
  po.object_size = o->len;
  fl_errmsg_t em = {{0}};
  int rc = fl_nc_put(&c, k, &po, buf, len, NULL, &em);
  if (rc)
    FL__FAIL("put fragment %u on node %u: %s", k->frag, id, fl_errmsg_str(&em, rc));
  fl_wire_conn_close(&c);
}

static void delete_frag(uint32_t id, const fl_nc_key_t *k) {
  fl_wire_conn_t c;
  conn_to(id, &c);
  uint32_t n = 0;
  FL_CHECK_OK(fl_nc_delete(&c, k, 0, &n, NULL));
  FL_CHECK_EQ(n, 1);
  fl_wire_conn_close(&c);
}

static void test_instruments(void) {
  FL_CHECK_OK(fl_itest_data_gen(&data, FL_GEN_MR, 6, 3, 11000));
  FL_CHECK_OK(fl_itest_data_gen(&data, FL_GEN_SR, 6, 1, 12000));
  FL_CHECK_EQ(fl_itest_data_put(client, &data, 0, data.n, 4, NULL), 0);
  fl_errmsg_t em = {{0}};
  fl_itest_health_t h;
  FL_CHECK_OK(fl_itest_health_check(cl.coord_addr, &h, NULL, &em));
  fl_itest_health_print(&h, "as put", stderr);
  FL_CHECK(fl_itest_health_ok(&h));
  FL_CHECK_EQ(h.objects, data.n);
  FL_CHECK_EQ(h.ec_objects, 18);
  FL_CHECK_EQ(h.fragments, 18 * 6 + 6 * 3);

  FL_CHECK_OK(fl_itest_cluster_map(&cl, &map));
  uint32_t place[FL_MAP_WIDTH_MAX];
  /* Object 0 (the data starts with the MR studies, erasure-coded): a copy
   * of fragment 1 on the node of position 0. */
  fl_nc_key_t k = key_of(&data.o[0], 1, place);
  uint64_t len = 0;
  uint8_t *b = get_frag(place[1], &k, &len);
  put_frag(place[0], &k, &data.o[0], b, len);
  free(b);
  /* Object 3 (another study): fragment 2 gone. */
  k = key_of(&data.o[3], 2, place);
  delete_frag(place[2], &k);
  /* Object 6: fragment 3 replaced by bytes with one payload byte flipped. */
  k = key_of(&data.o[6], 3, place);
  b = get_frag(place[3], &k, &len);
  delete_frag(place[3], &k);
  b[48 + len / 3] ^= 0x01;
  put_frag(place[3], &k, &data.o[6], b, len);
  free(b);

  FL_CHECK_OK(fl_itest_health_check(cl.coord_addr, &h, NULL, &em));
  fl_itest_health_print(&h, "damaged by hand", stderr);
  FL_CHECK(!fl_itest_health_ok(&h));
  FL_CHECK_EQ(h.objects, data.n);
  FL_CHECK_EQ(h.healthy, data.n - 2); /* a stray leaves its object whole */
  FL_CHECK_EQ(h.strays, 1);
  FL_CHECK_EQ(h.missing, 1);
  FL_CHECK_EQ(h.corrupt, 1);
  /* The client still reads all three (k of k+m verified fragments). */
  FL_CHECK_EQ(fl_itest_data_check_all(client, &data), 0);

  /* Repair is off: never reported finished. */
  fl_itest_repair_sum_t sum;
  FL_CHECK_ERR(fl_itest_repair_wait(cl.coord_addr, 3000, &sum, &em), -ETIMEDOUT);
  fl_map_free(&map);
}

int main(void) {
  atexit(kill_all);
  const char *const node_flags[] = {"--repair-enabled", "false", "--scrub-rate", "0MB/s", NULL};
  if (fl_itest_cluster_start(&cl, "itest_repair_health", NODES, 4, 2, 16, "10m", NULL,
                             node_flags))
    FL__FAIL("cluster did not start");
  FL_CHECK_OK(fl_itest_cluster_client(&cl, &client));
  FL_RUN(test_instruments);
  fl_client_close(client);
  fl_itest_data_free(&data);
  fl_itest_cluster_stop(&cl);
  FL_DONE();
}
