/* Unit tests of the drop guard (fl_node_drop_check): refused without a
 * map, at another epoch, for the node's own position (in its datacenter),
 * for a pg the map lacks and when placement fails; allowed for a position
 * the map gives to another node, for every pg and node of a small map. */
#include <stdio.h>

#include "fl_map.h"
#include "fl_node_drop.h"
#include "fl_place.h"
#include "fl_test.h"

/* Two datacenters of 8 nodes (4 racks of 2), k=4 m=2, 16 PGs, epoch 7. */
static void mkmap(fl_map_t *map) {
  fl_map_policy_t pol = {.k = 4, .m = 2, .pg_count = 16, .min_write = 4, .dc_count = 2};
  snprintf(pol.dcs[0], sizeof pol.dcs[0], "east");
  snprintf(pol.dcs[1], sizeof pol.dcs[1], "west");
  FL_CHECK_OK(fl_map_init(map, &pol, NULL));
  uint32_t id = 1;
  for (int d = 0; d < 2; d++)
    for (int r = 0; r < 4; r++)
      for (int i = 0; i < 2; i++) {
        fl_map_node_t n = {.id = id, .weight = 100, .state = FL_NODE_UP | FL_NODE_IN};
        snprintf(n.addr, sizeof n.addr, "127.0.0.1:%u", 7000 + id);
        snprintf(n.dc, sizeof n.dc, "%s", pol.dcs[d]);
        snprintf(n.rack, sizeof n.rack, "r%d", r);
        FL_CHECK_OK(fl_map_add_node(map, &n, NULL));
        id++;
      }
  map->epoch = 7;
}

static void test_refusals(void) {
  fl_map_t map;
  mkmap(&map);
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(fl_node_drop_check(NULL, 1, "east", 0, 0, 7, &em), FL_EREFUSED);
  FL_CHECK(strstr(em.msg, "this node has no cluster map") != NULL);
  FL_CHECK_ERR(fl_node_drop_check(&map, 0, "east", 0, 0, 7, &em), FL_EREFUSED);
  FL_CHECK(strstr(em.msg, "no id") != NULL);
  uint32_t nodes[6];
  FL_CHECK_OK(fl_place_pg_nodes(&map, 3, "east", nodes, NULL));
  uint32_t other = nodes[0] == 1 ? 2 : 1;
  /* Epoch older or newer than the node's. */
  FL_CHECK_ERR(fl_node_drop_check(&map, other, "east", 3, 0, 6, &em), FL_EREFUSED);
  FL_CHECK(strstr(em.msg, "epoch 6") != NULL && strstr(em.msg, "epoch 7") != NULL);
  FL_CHECK_ERR(fl_node_drop_check(&map, other, "east", 3, 0, 8, &em), FL_EREFUSED);
  /* The node's own position. */
  FL_CHECK_ERR(fl_node_drop_check(&map, nodes[2], "east", 3, 2, 7, &em), FL_EREFUSED);
  FL_CHECK(strstr(em.msg, "places fragment 2 of pg 3 on this node") != NULL);
  /* dc taken from the map when not given. */
  FL_CHECK_ERR(fl_node_drop_check(&map, nodes[2], NULL, 3, 2, 7, &em), FL_EREFUSED);
  FL_CHECK_ERR(fl_node_drop_check(&map, nodes[2], "", 3, 2, 7, &em), FL_EREFUSED);
  FL_CHECK_ERR(fl_node_drop_check(&map, 99, NULL, 3, 2, 7, &em), FL_EREFUSED);
  FL_CHECK(strstr(em.msg, "not in map") != NULL);
  /* pg out of range, unknown datacenter. */
  FL_CHECK_ERR(fl_node_drop_check(&map, other, "east", 16, 0, 7, &em), FL_EREFUSED);
  FL_CHECK(strstr(em.msg, "pg count") != NULL);
  FL_CHECK_ERR(fl_node_drop_check(&map, other, "north", 3, 0, 7, &em), FL_EREFUSED);
  FL_CHECK(strstr(em.msg, "north") != NULL);
  /* A datacenter with too few usable nodes cannot be placed: refused. */
  for (uint32_t id = 9; id <= 12; id++) {
    fl_map_node_t n = *fl_map_find_node(&map, id);
    n.state = FL_NODE_UP; /* out */
    FL_CHECK_OK(fl_map_update_node(&map, &n, NULL));
  }
  FL_CHECK_ERR(fl_node_drop_check(&map, 13, "west", 3, 0, 7, &em), FL_EREFUSED);
  FL_CHECK(strstr(em.msg, "cannot place") != NULL);
  fl_map_free(&map);
}

/* Exhaustive over a small map: refused exactly where the node is placed. */
static void test_exhaustive(void) {
  fl_map_t map;
  mkmap(&map);
  for (uint32_t pg = 0; pg < 16; pg++)
    for (int d = 0; d < 2; d++) {
      uint32_t nodes[6];
      FL_CHECK_OK(fl_place_pg_nodes(&map, pg, map.policy.dcs[d], nodes, NULL));
      for (uint32_t self = 1; self <= 16; self++) {
        const fl_map_node_t *n = fl_map_find_node(&map, self);
        if (strcmp(n->dc, map.policy.dcs[d]) != 0)
          continue;
        for (uint32_t f = 0; f < 8; f++) {
          int rc = fl_node_drop_check(&map, self, NULL, pg, f, 7, NULL);
          if (f < 6 && nodes[f] == self)
            FL_CHECK_ERR(rc, FL_EREFUSED);
          else
            FL_CHECK_OK(rc);
        }
      }
    }
  fl_map_free(&map);
}

int main(void) {
  FL_RUN(test_refusals);
  FL_RUN(test_exhaustive);
  FL_DONE();
}
