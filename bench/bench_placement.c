/* Placement simulator: 1,000 nodes in 3 datacenters x 20 racks, policy 8+3,
 * at 4096 and 16384 PGs. Prints fill (max/mean, with and without the upmap
 * balancer), the fraction of fragments moved by adding 1 and 10 nodes,
 * removing one node and losing one rack (each beside the ideal fraction),
 * the PGs that would lose more than m fragments to any single rack failure,
 * and placement speed beside the PG hash speed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fl_balance.h"
#include "fl_map.h"
#include "fl_pg.h"
#include "fl_place.h"

#define NODES 1000
#define DCS 3
#define RACKS 20
#define K 8
#define M 3
#define W (K + M)
#define WEIGHT 1000

static void die(int rc, const fl_errmsg_t *em, const char *what) {
  fprintf(stderr, "bench_placement: %s: %s\n", what, fl_errmsg_str(em, rc));
  exit(1);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static fl_map_node_t mknode(uint32_t id, uint32_t dc, uint32_t rack) {
  fl_map_node_t n = {.id = id, .weight = WEIGHT, .state = FL_NODE_UP | FL_NODE_IN};
  snprintf(n.addr, sizeof n.addr, "10.%u.%u.%u:7000", dc, rack, id % 250);
  snprintf(n.dc, sizeof n.dc, "dc%u", dc);
  snprintf(n.rack, sizeof n.rack, "r%02u", rack);
  return n;
}

static void build(fl_map_t *map, uint32_t pg_count) {
  fl_map_policy_t pol = {.k = K, .m = M, .pg_count = pg_count, .small_threshold = 65536,
                         .min_write = K + 1, .dc_count = DCS};
  for (int d = 0; d < DCS; d++)
    snprintf(pol.dcs[d], sizeof pol.dcs[d], "dc%d", d);
  fl_errmsg_t em = {{0}};
  int rc = fl_map_init(map, &pol, &em);
  if (rc)
    die(rc, &em, "map");
  for (uint32_t i = 0; i < NODES; i++) {
    fl_map_node_t n = mknode(i + 1, i % DCS, (i / DCS) % RACKS);
    if ((rc = fl_map_add_node(map, &n, &em)) != 0)
      die(rc, &em, "add node");
  }
}

/* All placements: [pg][dc][pos]. */
static uint32_t *place_all(const fl_map_t *map, double *secs) {
  uint32_t pgc = map->policy.pg_count;
  uint32_t *out = malloc((size_t)pgc * DCS * W * sizeof *out);
  fl_place_t *pl;
  fl_errmsg_t em = {{0}};
  int rc = fl_place_new(map, &pl, &em);
  if (rc || !out)
    die(rc, &em, "place index");
  double t0 = now();
  for (uint32_t pg = 0; pg < pgc; pg++)
    for (uint32_t d = 0; d < DCS; d++)
      if ((rc = fl_place_pg(pl, pg, d, 0, &out[((size_t)pg * DCS + d) * W], &em)) != 0)
        die(rc, &em, "place");
  if (secs)
    *secs = now() - t0;
  fl_place_free(pl);
  return out;
}

static double moved(const uint32_t *a, const uint32_t *b, uint32_t pgc) {
  size_t n = (size_t)pgc * DCS * W, c = 0;
  for (size_t i = 0; i < n; i++)
    c += a[i] != b[i];
  return (double)c / n;
}

/* Fragments held by nodes matching pred / all fragments. */
static double held(const uint32_t *a, uint32_t pgc, const fl_map_t *map,
                   int (*pred)(const fl_map_node_t *)) {
  size_t n = (size_t)pgc * DCS * W, c = 0;
  for (size_t i = 0; i < n; i++)
    c += pred(fl_map_find_node(map, a[i]));
  return (double)c / n;
}

static int is_node5(const fl_map_node_t *n) { return n->id == 5; }
static int in_lost_rack(const fl_map_node_t *n) {
  return strcmp(n->dc, "dc0") == 0 && strcmp(n->rack, "r07") == 0;
}

static void report_move(const char *what, uint32_t pgc, double frac, double ideal) {
  printf("BENCH placement.moved.%s.pg%u %.6f frac ref=ideal %.6f ratio=%.3f\n", what, pgc,
         frac, ideal, frac / ideal);
}

/* PG copies (pg, dc) with more than m fragments in some single rack. */
static uint32_t over_m(const uint32_t *a, uint32_t pgc, const fl_map_t *map) {
  uint32_t bad = 0;
  for (size_t i = 0; i < (size_t)pgc * DCS; i++) {
    uint32_t cnt[RACKS + 1] = {0};
    int over = 0;
    for (int p = 0; p < W; p++) {
      const fl_map_node_t *n = fl_map_find_node(map, a[i * W + p]);
      int r = atoi(n->rack + 1);
      if (++cnt[r] > M)
        over = 1;
    }
    bad += over;
  }
  return bad;
}

static void run(uint32_t pgc) {
  fl_map_t base, m2;
  fl_errmsg_t em = {{0}};
  int rc;
  build(&base, pgc);
  double secs;
  uint32_t *a = place_all(&base, &secs);
  size_t placements = (size_t)pgc * DCS;
  /* Reference: hashing studies to PGs, the step a client does first. */
  char uid[64];
  uint64_t sink = 0;
  size_t nh = placements * 20;
  double t0 = now();
  for (size_t i = 0; i < nh; i++) {
    snprintf(uid, sizeof uid, "1.2.826.0.1.3680043.8.498.%zu", i);
    sink += fl_pg_of("hospital-a", uid, pgc);
  }
  double href = nh / (now() - t0);
  printf("BENCH placement.speed.pg%u %.0f placements/s ref=pg_hash %.0f ratio=%.4f%s\n", pgc,
         placements / secs, href, placements / secs / href, sink == 1 ? " " : "");

  double fill;
  if ((rc = fl_balance_fill(&base, &fill, &em)) != 0)
    die(rc, &em, "fill");
  printf("BENCH placement.fill.maxmean.pg%u %.4f ratio ref=ideal 1.0 ratio=%.4f\n", pgc, fill,
         fill);

  /* Add 1 node (dc0, rack r03). Ideal: its weight share of dc0, a third of all. */
  fl_map_copy(&m2, &base, &em);
  fl_map_node_t n = mknode(NODES + 1, 0, 3);
  fl_map_add_node(&m2, &n, &em);
  uint32_t *b = place_all(&m2, NULL);
  double dc_w[DCS] = {334.0 * WEIGHT, 333.0 * WEIGHT, 333.0 * WEIGHT};
  report_move("add1", pgc, moved(a, b, pgc), WEIGHT / (dc_w[0] + WEIGHT) / DCS);
  free(b);
  fl_map_free(&m2);

  /* Add 10 nodes over the three datacenters and several racks. */
  fl_map_copy(&m2, &base, &em);
  double add_w[DCS] = {0};
  for (uint32_t i = 0; i < 10; i++) {
    n = mknode(NODES + 1 + i, i % DCS, (i * 7) % RACKS);
    fl_map_add_node(&m2, &n, &em);
    add_w[i % DCS] += WEIGHT;
  }
  b = place_all(&m2, NULL);
  double ideal = 0;
  for (int d = 0; d < DCS; d++)
    ideal += add_w[d] / (dc_w[d] + add_w[d]) / DCS;
  report_move("add10", pgc, moved(a, b, pgc), ideal);
  free(b);
  fl_map_free(&m2);

  /* Add a whole rack of 17 nodes to dc0. */
  fl_map_copy(&m2, &base, &em);
  for (uint32_t i = 0; i < 17; i++) {
    n = mknode(NODES + 1 + i, 0, RACKS);
    fl_map_add_node(&m2, &n, &em);
  }
  b = place_all(&m2, NULL);
  report_move("addrack", pgc, moved(a, b, pgc), 17.0 * WEIGHT / (dc_w[0] + 17.0 * WEIGHT) / DCS);
  free(b);
  fl_map_free(&m2);

  /* Remove node 5. Ideal: exactly the fragments it held. */
  fl_map_copy(&m2, &base, &em);
  fl_map_remove_node(&m2, 5, &em);
  b = place_all(&m2, NULL);
  report_move("remove1", pgc, moved(a, b, pgc), held(a, pgc, &base, is_node5));
  free(b);
  fl_map_free(&m2);

  /* Lose rack r07 of dc0: all its nodes go out. */
  fl_map_copy(&m2, &base, &em);
  for (uint32_t i = 0; i < m2.node_count; i++)
    if (in_lost_rack(&m2.nodes[i]))
      m2.nodes[i].state = 0;
  b = place_all(&m2, NULL);
  report_move("racklost", pgc, moved(a, b, pgc), held(a, pgc, &base, in_lost_rack));
  free(b);
  fl_map_free(&m2);

  printf("BENCH placement.racklost.over_m.pg%u %u pgs ref=required 0 ratio=%s\n", pgc,
         over_m(a, pgc, &base), over_m(a, pgc, &base) ? "inf" : "1.000");

  /* Balancer. */
  fl_map_copy(&m2, &base, &em);
  fl_balance_opts_t opts = {.target_permille = 1050, .max_changes = 1u << 30};
  fl_balance_stats_t st;
  t0 = now();
  if ((rc = fl_balance_run(&m2, &opts, &st, &em)) != 0)
    die(rc, &em, "balance");
  double bsecs = now() - t0;
  double bfill;
  fl_balance_fill(&m2, &bfill, &em);
  printf("BENCH placement.fill.maxmean.balanced.pg%u %.4f ratio ref=unbalanced %.4f "
         "ratio=%.4f\n", pgc, bfill, fill, bfill / fill);
  uint32_t *c = place_all(&m2, NULL);
  size_t tot = (size_t)pgc * DCS * W;
  printf("BENCH placement.balance.moved.pg%u %.6f frac ref=pairs %u ratio=%.3f\n", pgc,
         moved(a, c, pgc), st.changes, moved(a, c, pgc) * tot / (st.changes ? st.changes : 1));
  printf("BENCH placement.balance.time.pg%u %.3f s ref=one_full_placement %.3f ratio=%.1f\n",
         pgc, bsecs, secs, bsecs / secs);
  /* Adding a node to a balanced map: the pairs stay, placement moves. */
  fl_map_t m3;
  fl_map_copy(&m3, &m2, &em);
  n = mknode(NODES + 1, 0, 3);
  fl_map_add_node(&m3, &n, &em);
  b = place_all(&m3, NULL);
  report_move("add1.balanced", pgc, moved(c, b, pgc), WEIGHT / (dc_w[0] + WEIGHT) / DCS);
  printf("BENCH placement.racklost.over_m.balanced.pg%u %u pgs ref=required 0 ratio=%s\n",
         pgc, over_m(c, pgc, &m2), over_m(c, pgc, &m2) ? "inf" : "1.000");
  free(b);
  free(c);
  fl_map_free(&m3);
  fl_map_free(&m2);
  free(a);
  fl_map_free(&base);
}

int main(void) {
  run(4096);
  run(16384);
  return 0;
}
