/* Rebalance when nodes join: a coordinator and 6 real nodes (policy 4+2,
 * 64 PGs) hold MR studies and small SR reports; readers run throughout;
 * two nodes join as a new rack. The new map moves some positions to them; their PGs'
 * leaders copy those fragments from the old holders and then drop the old
 * copies. Every read throughout returns the bytes put. Fragments moved
 * (copied + rebuilt, over all nodes) stay within 1.2x of the ideal: the
 * (object, position) pairs whose node differs between the old and the new
 * placement, computed here from the two maps with fl_place, and within
 * 1.2x of the new nodes' weight share of all fragments. In the end
 * every object is whole at its new positions and the old holders keep no
 * strays. */
#include <signal.h>
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
#define ADDED 2
#define READERS 2
#define REPAIR_TIMEOUT_MS 180000

static fl_itest_cluster_t cl;
static fl_client_t *client;
static fl_itest_data_t data;

static void kill_all(void) { fl_itest_cluster_kill_all(&cl); }

/* (object, position) pairs whose node differs between the placements of
 * maps a and b; *all gets the number of pairs. */
static uint64_t moved_pairs(const fl_map_t *a, const fl_map_t *b, uint64_t *all) {
  fl_place_t *pa, *pb;
  FL_CHECK_OK(fl_place_new(a, &pa, NULL));
  FL_CHECK_OK(fl_place_new(b, &pb, NULL));
  uint64_t moved = 0;
  *all = 0;
  for (size_t i = 0; i < data.n; i++) {
    const fl_itest_obj_t *o = &data.o[i];
    if (data.put_rc[i] != 0)
      continue;
    uint32_t pg = fl_pg_of("hosp-a", o->di.study_uid, a->policy.pg_count);
    uint32_t na[FL_MAP_WIDTH_MAX], nb[FL_MAP_WIDTH_MAX];
    FL_CHECK_OK(fl_place_pg(pa, pg, 0, 0, na, NULL));
    FL_CHECK_OK(fl_place_pg(pb, pg, 0, 0, nb, NULL));
    uint32_t width = o->len >= b->policy.small_threshold ? b->policy.k + b->policy.m
                                                         : b->policy.m + 1;
    for (uint32_t p = 0; p < width; p++)
      moved += na[p] != nb[p];
    *all += width;
  }
  fl_place_free(pa);
  fl_place_free(pb);
  return moved;
}

static void test_add_nodes(void) {
  FL_CHECK_OK(fl_itest_data_gen(&data, FL_GEN_MR, 60, 6, 3000));
  FL_CHECK_OK(fl_itest_data_gen(&data, FL_GEN_SR, 60, 1, 7000));
  FL_CHECK_EQ(fl_itest_data_put(client, &data, 0, data.n, 8, NULL), 0);
  fprintf(stderr, "%zu objects put (%.1f MB)\n", data.n, data.bytes / 1e6);
  fl_errmsg_t em = {{0}};
  fl_itest_repair_sum_t before;
  FL_CHECK_OK(fl_itest_repair_sum(cl.coord_addr, &before, &em));

  fl_map_t old_map, new_map;
  FL_CHECK_OK(fl_itest_cluster_map(&cl, &old_map));
  fl_itest_reader_t rd[READERS];
  for (int i = 0; i < READERS; i++)
    FL_CHECK_OK(fl_itest_reader_start(&rd[i], client, &data));
  fl_itest_sleep_ms(500);
  /* The two join as one new rack, as a rack of servers is added: the
   * placement then moves about their weight share (docs/placement.md). */
  for (int j = 0; j < ADDED; j++)
    cl.rack[NODES + j] = "rnew";
  FL_CHECK_OK(fl_itest_cluster_nodes_add(&cl, ADDED));
  for (int i = 0; i < ADDED; i++)
    FL_CHECK_OK(fl_itest_cluster_wait_state(&cl, cl.ids[NODES + i], FL_NODE_UP | FL_NODE_IN,
                                            60000));
  fl_itest_repair_sum_t sum;
  int rc = fl_itest_repair_wait(cl.coord_addr, REPAIR_TIMEOUT_MS, &sum, &em);
  /* A little more reading on the final placement, old copies gone. */
  fl_itest_sleep_ms(1000);
  for (int i = 0; i < READERS; i++) {
    fl_itest_reader_stop(&rd[i]);
    fprintf(stderr, "reader %d: %llu reads (%llu rounds), %llu errors, %llu mismatches%s%s\n", i,
            (unsigned long long)rd[i].reads, (unsigned long long)rd[i].rounds,
            (unsigned long long)rd[i].errors, (unsigned long long)rd[i].mismatches,
            rd[i].first[0] ? "; first: " : "", rd[i].first);
  }
  if (rc)
    FL__FAIL("repair: %s", fl_errmsg_str(&em, rc));
  FL_CHECK_OK(fl_itest_cluster_map(&cl, &new_map));
  FL_CHECK_EQ(new_map.epoch, sum.epoch);

  uint64_t all = 0, ideal = moved_pairs(&old_map, &new_map, &all);
  /* The nodes that were there before kept their counters; the new ones
   * started from zero. */
  uint64_t moved = sum.copied + sum.rebuilt - before.copied - before.rebuilt;
  uint64_t w_new = 0, w_all = 0;
  for (uint32_t i = 0; i < new_map.node_count; i++) {
    const fl_map_node_t *n = &new_map.nodes[i];
    if (!fl_map_node_usable(n))
      continue;
    w_all += n->weight;
    for (int j = 0; j < ADDED; j++)
      w_new += n->id == cl.ids[NODES + j] ? n->weight : 0;
  }
  double by_weight = (double)all * (double)w_new / (double)w_all;
  fprintf(stderr,
          "epochs %llu -> %llu: %llu fragments in all; moved %llu (%llu copied, %llu rebuilt, "
          "%llu dropped); ideal from placement %llu (moved/ideal %.3f); ideal by weight %.0f "
          "(moved/ideal-by-weight %.3f)\n",
          (unsigned long long)old_map.epoch, (unsigned long long)new_map.epoch,
          (unsigned long long)all, (unsigned long long)moved,
          (unsigned long long)(sum.copied - before.copied),
          (unsigned long long)(sum.rebuilt - before.rebuilt),
          (unsigned long long)(sum.dropped - before.dropped), (unsigned long long)ideal,
          ideal ? (double)moved / (double)ideal : 0.0, by_weight,
          by_weight > 0 ? (double)moved / by_weight : 0.0);
  FL_CHECK_INT(ideal, >, 0);
  FL_CHECK_INT(moved, >=, ideal);
  FL_CHECK_INT(moved * 10, <=, ideal * 12);
  FL_CHECK((double)moved <= 1.2 * by_weight);
  for (int i = 0; i < READERS; i++) {
    FL_CHECK_EQ(rd[i].mismatches, 0);
    FL_CHECK_EQ(rd[i].errors, 0);
    FL_CHECK_INT(rd[i].rounds, >=, 1);
  }

  fl_itest_health_expect(cl.coord_addr, "after the nodes joined", NODES + ADDED, data.n);
  FL_CHECK_EQ(fl_itest_data_check_all(client, &data), 0);
  fl_map_free(&old_map);
  fl_map_free(&new_map);
}

int main(void) {
  atexit(kill_all);
  const char *const node_flags[] = {"--repair-interval", "1s", "--scrub-rate", "0MB/s", NULL};
  if (fl_itest_cluster_start(&cl, "itest_repair_add", NODES, 4, 2, 64, "10m", NULL, node_flags))
    FL__FAIL("cluster did not start");
  FL_CHECK_OK(fl_itest_cluster_client(&cl, &client));
  FL_RUN(test_add_nodes);
  fl_client_close(client);
  fl_itest_data_free(&data);
  fl_itest_cluster_stop(&cl);
  FL_DONE();
}
