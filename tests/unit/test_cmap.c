/* Unit tests of the client's static cluster map ("static:K+M:ADDR,..."):
 * the map it builds, and refusals of malformed, truncated, empty and
 * oversized specs with a message naming the problem. */
#include <stdio.h>

#include "fl_cmap.h"
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

int main(void) {
  FL_RUN(test_valid);
  FL_RUN(test_refused);
  FL_RUN(test_coord_unreachable);
  FL_DONE();
}
