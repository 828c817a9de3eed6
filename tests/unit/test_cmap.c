/* Unit tests of the client's static cluster map ("static:K+M:ADDR,..."):
 * the map it builds, and refusals of malformed, truncated, empty and
 * oversized specs with a message naming the problem; and of what the
 * client keeps across epochs: which map changes may move placement, and
 * the merge of current and earlier holders into the nodes to ask. */
#include <stdio.h>

#include "fl_cmap.h"
#include "fl_place.h"
#include "fl_test.h"

static void test_valid(void) {
  fl_map_t m;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_cmap_parse_static("static:4+2:127.0.0.1:1,127.0.0.1:2,127.0.0.1:3,"
                                   "127.0.0.1:4,127.0.0.1:5,[::1]:6",
                                   &m, &em));
  FL_CHECK_EQ(m.policy.k, 4);
  FL_CHECK_EQ(m.policy.m, 2);
  FL_CHECK_EQ(m.policy.min_write, 5);
  FL_CHECK_EQ(m.policy.pg_count, FL_CMAP_STATIC_PG_COUNT);
  FL_CHECK_EQ(m.policy.small_threshold, FL_CMAP_STATIC_SMALL);
  FL_CHECK_EQ(m.node_count, 6);
  FL_CHECK_EQ(m.nodes[5].id, 6);
  FL_CHECK_STR(m.nodes[5].addr, "[::1]:6");
  FL_CHECK_STR(m.nodes[2].rack, "r3");
  FL_CHECK_STR(m.nodes[0].dc, "dc1");
  FL_CHECK_EQ(fl_map_validate(&m, NULL), 0);
  fl_map_free(&m);
  FL_CHECK(fl_cmap_is_static("static:1+1:a:1,b:2"));
  FL_CHECK(!fl_cmap_is_static("127.0.0.1:7000"));
}

static void refused(const char *spec, int code, const char *word) {
  fl_map_t m;
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(fl_cmap_parse_static(spec, &m, &em), code);
  if (!strstr(em.msg, word))
    FL__FAIL("'%s': message '%s' lacks '%s'", spec, em.msg, word);
  FL_CHECK_EQ(m.node_count, 0);
}

static void test_refused(void) {
  refused("", FL_ECONFIG, "static:");
  refused("static:", FL_ECONFIG, "K+M");
  refused("static:4+2", FL_ECONFIG, "K+M");
  refused("static:0+2:a:1,b:2", FL_ECONFIG, "K+M");
  refused("static:4+x:a:1", FL_ECONFIG, "K+M");
  refused("static:30+3:a:1", FL_ECONFIG, "K+M");
  refused("static:99999999999+1:a:1", FL_ECONFIG, "K+M");
  refused("static:1+1:a:1,,b:2", FL_ECONFIG, "empty");
  refused("static:1+1:a:1,b", FL_ECONFIG, "node 2");
  refused("static:4+2:a:1,b:2", FL_EUNAVAIL, "dc1");
  char big[300];
  snprintf(big, sizeof big, "static:1+1:%0200d:1,b:2", 7);
  refused(big, FL_ECONFIG, "too long");
}

static void test_coord_unreachable(void) {
  fl_map_t m;
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(fl_cmap_load(NULL, 100, &m, &em), FL_ECONFIG);
  FL_CHECK(strstr(em.msg, "FILMLESS_COORD") != NULL);
  FL_CHECK_ERR(fl_cmap_load("no-port", 100, &m, &em), FL_ECONFIG);
}

static void test_ask_add(void) {
  uint32_t set[8];
  unsigned n = 0;
  const uint32_t cur[] = {3, 1, 2}, prev[] = {1, 4, 2}, older[] = {5, 3, 6}, dup[] = {7, 7};
  FL_CHECK_EQ(fl_cmap_ask_add(set, &n, 8, cur, 3), 0);
  FL_CHECK_EQ(n, 3);
  FL_CHECK_EQ(fl_cmap_ask_add(set, &n, 8, prev, 3), 0);
  FL_CHECK_EQ(n, 4);
  /* The current placement first, in position order, then the new ones. */
  const uint32_t want[] = {3, 1, 2, 4};
  FL_CHECK_MEM(set, want, sizeof want);
  FL_CHECK_EQ(fl_cmap_ask_add(set, &n, 8, prev, 3), 0); /* again: nothing new */
  FL_CHECK_EQ(n, 4);
  FL_CHECK_EQ(fl_cmap_ask_add(set, &n, 8, NULL, 0), 0);
  FL_CHECK_EQ(n, 4);
  /* Room for one of 5 and 6: the other is counted as left out. */
  FL_CHECK_EQ(fl_cmap_ask_add(set, &n, 5, older, 3), 1);
  FL_CHECK_EQ(n, 5);
  FL_CHECK_EQ(set[4], 5);
  unsigned m = 0;
  FL_CHECK_EQ(fl_cmap_ask_add(set, &m, 8, dup, 2), 0);
  FL_CHECK_EQ(m, 1);
}

static void six(fl_map_t *m) {
  FL_CHECK_OK(fl_cmap_parse_static("static:2+1:h:1,h:2,h:3,h:4,h:5,h:6", m, NULL));
}

/* Same placement for every PG in both maps. */
static int same_placement(const fl_map_t *a, const fl_map_t *b) {
  for (uint32_t pg = 0; pg < a->policy.pg_count; pg++) {
    uint32_t x[FL_MAP_WIDTH_MAX], y[FL_MAP_WIDTH_MAX];
    FL_CHECK_OK(fl_place_pg_nodes(a, pg, "dc1", x, NULL));
    FL_CHECK_OK(fl_place_pg_nodes(b, pg, "dc1", y, NULL));
    if (memcmp(x, y, 3 * sizeof *x) != 0)
      return 0;
  }
  return 1;
}

static void test_placement_differs(void) {
  fl_map_t a, b;
  six(&a);
  six(&b);
  FL_CHECK_EQ(fl_map_placement_differs(&a, &b), 0);
  /* Changes that keep every position where it is. */
  b.epoch = 9;
  b.nodes[2].state &= ~FL_NODE_UP; /* down but in keeps its positions */
  snprintf(b.nodes[4].addr, sizeof b.nodes[4].addr, "elsewhere:5");
  b.policy.min_write = 3;
  b.policy.small_threshold = 1;
  FL_CHECK_EQ(fl_map_placement_differs(&a, &b), 0);
  FL_CHECK(same_placement(&a, &b));
  fl_map_free(&b);
  /* Changes that move positions (each checked to move some). */
  six(&b);
  b.nodes[1].weight = 5;
  FL_CHECK_EQ(fl_map_placement_differs(&a, &b), 1);
  FL_CHECK(!same_placement(&a, &b));
  fl_map_free(&b);
  six(&b);
  b.nodes[1].state &= ~FL_NODE_IN;
  FL_CHECK_EQ(fl_map_placement_differs(&a, &b), 1);
  FL_CHECK(!same_placement(&a, &b));
  fl_map_free(&b);
  six(&b);
  fl_map_node_t n = b.nodes[5];
  n.id = 7;
  snprintf(n.rack, sizeof n.rack, "r7");
  FL_CHECK_OK(fl_map_add_node(&b, &n, NULL));
  FL_CHECK_EQ(fl_map_placement_differs(&a, &b), 1);
  FL_CHECK_EQ(fl_map_placement_differs(&b, &a), 1);
  FL_CHECK(!same_placement(&a, &b));
  fl_map_free(&b);
  six(&b);
  uint32_t x[FL_MAP_WIDTH_MAX];
  FL_CHECK_OK(fl_place_pg_nodes(&b, 0, "dc1", x, NULL));
  uint32_t to = 1;
  while (to == x[0] || to == x[1] || to == x[2])
    to++;
  FL_CHECK_OK(fl_map_upmap_set(&b, 0, x[0], to, NULL));
  FL_CHECK_EQ(fl_map_placement_differs(&a, &b), 1);
  FL_CHECK(!same_placement(&a, &b));
  fl_map_free(&b);
  six(&b);
  snprintf(b.nodes[0].rack, sizeof b.nodes[0].rack, "r2");
  FL_CHECK_EQ(fl_map_placement_differs(&a, &b), 1);
  fl_map_free(&b);
  six(&b);
  b.policy.m = 2;
  FL_CHECK_EQ(fl_map_placement_differs(&a, &b), 1);
  fl_map_free(&b);
  fl_map_free(&a);
}

int main(void) {
  FL_RUN(test_valid);
  FL_RUN(test_refused);
  FL_RUN(test_coord_unreachable);
  FL_RUN(test_ask_add);
  FL_RUN(test_placement_differs);
  FL_DONE();
}
