/* Unit tests of repair planning (storage-node/fl_heal_plan.c): the clean
 * check over summaries and the plans for lost, moved, stray, deleted and
 * conflicting fragments. */
#include <string.h>

#include "fl_heal_plan.h"
#include "fl_test.h"

/* 4+2 on nodes 0..5 at positions 0..5; nodes 6, 7 exist too. */
static uint8_t g_answered[8] = {1, 1, 1, 1, 1, 1, 1, 1};

static fl_heal_pg_t fl__pg(void) {
  fl_heal_pg_t pg;
  memset(&pg, 0, sizeof pg);
  pg.pg = 7;
  pg.k = 4;
  pg.m = 2;
  for (int i = 0; i < FL_HEAL_WIDTH_MAX; i++)
    pg.place[i] = i < 6 ? i : -1;
  pg.answered = g_answered;
  pg.nodes = 8;
  return pg;
}

static fl_heal_stat_t fl__st(int node, uint32_t frag, uint64_t ec, uint64_t dig) {
  return (fl_heal_stat_t){node, frag, ec, dig, 0, 0, ec * 1000};
}

static void test_check_clean_and_missing(void) {
  fl_heal_pg_t pg = fl__pg();
  fl_heal_stat_t st[8];
  for (int i = 0; i < 6; i++)
    st[i] = fl__st(i, (uint32_t)i, 10, 0xabc);
  fl_heal_check_t c;
  fl_heal_check(&pg, st, 6, &c);
  FL_CHECK(c.clean);
  FL_CHECK_EQ(c.survivors, 6);
  /* Node 3 lost two fragments. */
  st[3] = fl__st(3, 3, 8, 0x123);
  fl_heal_check(&pg, st, 6, &c);
  FL_CHECK(!c.clean);
  FL_CHECK_EQ(c.fragments_left, 2);
  FL_CHECK_EQ(c.bytes_left, 2000);
  FL_CHECK_EQ(c.survivors, 5);
  /* Same counts, another set: still degraded. */
  st[3] = fl__st(3, 3, 10, 0x999);
  fl_heal_check(&pg, st, 6, &c);
  FL_CHECK(!c.clean);
  FL_CHECK(c.fragments_left >= 1);
  /* A node that did not answer blocks the verdict. */
  st[3] = fl__st(3, 3, 10, 0xabc);
  g_answered[2] = 0;
  fl_heal_check(&pg, st, 6, &c);
  FL_CHECK(!c.clean);
  FL_CHECK(c.blocked);
  g_answered[2] = 1;
  /* A stray copy on node 6 keeps the PG degraded. */
  st[6] = fl__st(6, 1, 10, 0xabc);
  fl_heal_check(&pg, st, 7, &c);
  FL_CHECK(!c.clean);
  FL_CHECK_EQ(c.strays, 1);
  /* An empty PG is clean. */
  fl_heal_check(&pg, st, 0, &c);
  FL_CHECK(c.clean);
}

static void test_check_replicas(void) {
  fl_heal_pg_t pg = fl__pg();
  fl_heal_stat_t st[6];
  for (int i = 0; i < 6; i++)
    st[i] = (fl_heal_stat_t){i, (uint32_t)i, 5, 0x55, i <= 2 ? 3 : 0, i <= 2 ? 0x77 : 0, 100};
  fl_heal_check_t c;
  fl_heal_check(&pg, st, 6, &c);
  FL_CHECK(c.clean);
  st[1].replica_count = 2;
  st[1].replica_digest = 0x1;
  fl_heal_check(&pg, st, 6, &c);
  FL_CHECK(!c.clean);
  FL_CHECK_EQ(c.fragments_left, 1);
  /* A replica at a position above m is out of place. */
  st[1].replica_count = 3;
  st[1].replica_digest = 0x77;
  st[4].replica_count = 1;
  fl_heal_check(&pg, st, 6, &c);
  FL_CHECK(!c.clean);
}

static fl_heal_entry_t fl__e(int node, const char *sop, uint32_t frag) {
  return (fl_heal_entry_t){.node = node, .tenant = "t", .study = "1.2", .series = "1.2.3",
                           .sop = sop, .frag = frag, .fsize = 1000, .osize = 4000, .ec = 1};
}

static size_t fl__count(const fl_heal_plan_t *p, int kind) {
  size_t n = 0;
  for (size_t i = 0; i < p->n_ops; i++)
    n += p->ops[i].kind == kind;
  return n;
}

static void test_plan_rebuild_and_copy(void) {
  fl_heal_pg_t pg = fl__pg();
  fl_heal_entry_t e[16];
  size_t n = 0;
  /* Object A: fragment 2 lost everywhere -> rebuilt on node 2. */
  for (uint32_t f = 0; f < 6; f++)
    if (f != 2)
      e[n++] = fl__e((int)f, "1.5", f);
  /* Object B: fragment 4 still on node 7 (its old holder) -> copied. */
  for (uint32_t f = 0; f < 6; f++)
    e[n++] = fl__e(f == 4 ? 7 : (int)f, "1.6", f);
  fl_heal_plan_t p;
  FL_CHECK_OK(fl_heal_plan_build(&pg, e, n, &p, NULL));
  FL_CHECK_EQ(p.n_objs, 2);
  FL_CHECK_EQ(fl__count(&p, FL_HEAL_REBUILD), 1);
  FL_CHECK_EQ(fl__count(&p, FL_HEAL_COPY), 1);
  FL_CHECK_EQ(fl__count(&p, FL_HEAL_DROP), 1);
  FL_CHECK_EQ(p.min_survivors, 5);
  FL_CHECK_EQ(p.bytes, 2000);
  /* Order: writes by position (2 before 4), then the drop. */
  FL_CHECK_EQ(p.ops[0].kind, FL_HEAL_REBUILD);
  FL_CHECK_EQ(p.ops[0].frag, 2);
  FL_CHECK_EQ(p.ops[0].target, 2);
  FL_CHECK_EQ(p.ops[1].kind, FL_HEAL_COPY);
  FL_CHECK_EQ(p.ops[1].frag, 4);
  FL_CHECK_EQ(p.ops[1].target, 4);
  FL_CHECK_EQ(p.ops[1].source, 7);
  FL_CHECK_EQ(p.ops[2].kind, FL_HEAL_DROP);
  FL_CHECK_EQ(p.ops[2].target, 7);
  FL_CHECK_EQ(p.ops[2].frag, 4);
  fl_heal_plan_free(&p);
}

static void test_plan_deleted_lost_conflict(void) {
  fl_heal_pg_t pg = fl__pg();
  fl_heal_entry_t e[16];
  size_t n = 0;
  /* Deleted: tombstones on 0..3, live fragments left on nodes 4 and 5. */
  for (uint32_t f = 0; f < 6; f++) {
    e[n] = fl__e((int)f, "1.7", f);
    e[n++].tombstone = f < 4;
  }
  /* Lost: only 3 fragments of a 4+2 object. */
  for (uint32_t f = 0; f < 3; f++)
    e[n++] = fl__e((int)f, "1.8", f);
  fl_heal_plan_t p;
  FL_CHECK_OK(fl_heal_plan_build(&pg, e, n, &p, NULL));
  FL_CHECK_EQ(fl__count(&p, FL_HEAL_DELETE), 2);
  FL_CHECK_EQ(fl__count(&p, FL_HEAL_REBUILD), 0);
  FL_CHECK_EQ(p.lost, 1);
  FL_CHECK_EQ(p.ops[0].kind, FL_HEAL_DELETE);
  fl_heal_plan_free(&p);

  /* A holder with another write of the key is left alone. */
  n = 0;
  for (uint32_t f = 0; f < 6; f++)
    e[n++] = fl__e((int)f, "1.9", f);
  e[3].osize = 9999;
  FL_CHECK_OK(fl_heal_plan_build(&pg, e, n, &p, NULL));
  FL_CHECK_EQ(p.n_ops, 0);
  fl_heal_plan_free(&p);
}

static void test_plan_blocked_and_replicas(void) {
  fl_heal_pg_t pg = fl__pg();
  fl_heal_entry_t e[16];
  size_t n = 0;
  /* Replicated object: copies at positions 0 and 2, and a stray on 6. */
  e[n] = fl__e(0, "2.1", 0);
  e[n++].ec = 0;
  e[n] = fl__e(2, "2.1", 2);
  e[n++].ec = 0;
  e[n] = fl__e(6, "2.1", 1);
  e[n++].ec = 0;
  fl_heal_plan_t p;
  FL_CHECK_OK(fl_heal_plan_build(&pg, e, n, &p, NULL));
  FL_CHECK_EQ(fl__count(&p, FL_HEAL_COPY), 1); /* replica 1 from node 6 to node 1 */
  FL_CHECK_EQ(fl__count(&p, FL_HEAL_DROP), 1);
  fl_heal_plan_free(&p);
  /* With node 1 away: nothing is written to it and nothing dropped. */
  g_answered[1] = 0;
  FL_CHECK_OK(fl_heal_plan_build(&pg, e, n, &p, NULL));
  FL_CHECK(p.blocked);
  FL_CHECK_EQ(fl__count(&p, FL_HEAL_COPY), 0);
  FL_CHECK_EQ(fl__count(&p, FL_HEAL_DROP), 0);
  fl_heal_plan_free(&p);
  g_answered[1] = 1;
  /* The same UIDs under two tenants are two objects. */
  n = 0;
  for (uint32_t f = 0; f < 6; f++) {
    e[n++] = fl__e((int)f, "3.1", f);
    e[n] = fl__e((int)f, "3.1", f);
    e[n++].tenant = "u";
  }
  FL_CHECK_OK(fl_heal_plan_build(&pg, e, n, &p, NULL));
  FL_CHECK_EQ(p.n_objs, 2);
  FL_CHECK_EQ(p.n_ops, 0);
  fl_heal_plan_free(&p);
  /* Bad geometry is refused. */
  pg.k = 0;
  fl_errmsg_t em = {{0}};
  FL_CHECK(fl_heal_plan_build(&pg, e, n, &p, &em) < 0);
  FL_CHECK(strstr(em.msg, "geometry") != NULL);
}

int main(void) {
  FL_RUN(test_check_clean_and_missing);
  FL_RUN(test_check_replicas);
  FL_RUN(test_plan_rebuild_and_copy);
  FL_RUN(test_plan_deleted_lost_conflict);
  FL_RUN(test_plan_blocked_and_replicas);
  FL_DONE();
}
