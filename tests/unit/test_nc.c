/* Unit tests of the pure parts of the node client: the PG_STATS payload
 * decoder on valid, empty, truncated, garbage, misordered, repeated,
 * out-of-range and oversized input. */
#include <stdlib.h>

#include "fl_nc.h"
#include "fl_test.h"

/* Packs n entries with protobuf-c, as a node does. *len gets the size. */
static uint8_t *pack(const fl_nc_pg_stat_t *e, size_t n, size_t *len) {
  Fl__PgStat *m = calloc(n + 1, sizeof *m);
  Fl__PgStat **p = calloc(n + 1, sizeof *p);
  for (size_t i = 0; i < n; i++) {
    fl__pg_stat__init(&m[i]);
    m[i].pg = e[i].pg;
    m[i].fragment_index = e[i].frag;
    m[i].ec_count = e[i].ec_count;
    m[i].ec_digest = e[i].ec_digest;
    m[i].replica_count = e[i].replica_count;
    m[i].replica_digest = e[i].replica_digest;
    m[i].bytes = e[i].bytes;
    p[i] = &m[i];
  }
  Fl__PgStatList l = FL__PG_STAT_LIST__INIT;
  l.stats = p;
  l.n_stats = n;
  *len = fl__pg_stat_list__get_packed_size(&l);
  uint8_t *buf = malloc(*len + 1);
  fl__pg_stat_list__pack(&l, buf);
  free(m);
  free(p);
  return buf;
}

static const fl_nc_pg_stat_t good[4] = {
    {0, 0, 5, 0x1234567890abcdefull, 0, 0, 5000},
    {0, 1, 5, 0x1234567890abcdefull, 2, 0xfeedull, 7000},
    {3, 2, 1, 0xdeadbeefcafef00dull, 0, 0, 100},
    {70000, 63, 0, 0, 1, 0xffffffffffffffffull, 1},
};

static void test_round_trip(void) {
  size_t len;
  uint8_t *buf = pack(good, 4, &len);
  fl_nc_pg_stat_t *st = NULL;
  size_t n = 0;
  FL_CHECK_OK(fl_nc_pg_stats_decode(buf, len, &st, &n, NULL));
  FL_CHECK_EQ(n, 4);
  for (size_t i = 0; i < n; i++) {
    FL_CHECK_EQ(st[i].pg, good[i].pg);
    FL_CHECK_EQ(st[i].frag, good[i].frag);
    FL_CHECK(st[i].ec_count == good[i].ec_count && st[i].ec_digest == good[i].ec_digest);
    FL_CHECK(st[i].replica_count == good[i].replica_count &&
             st[i].replica_digest == good[i].replica_digest);
    FL_CHECK(st[i].bytes == good[i].bytes);
  }
  free(st);
  /* Empty: no entries, nothing allocated. */
  st = (fl_nc_pg_stat_t *)1;
  FL_CHECK_OK(fl_nc_pg_stats_decode(buf, 0, &st, &n, NULL));
  FL_CHECK(st == NULL && n == 0);
  free(buf);
}

static void test_truncated_and_garbage(void) {
  size_t len;
  uint8_t *buf = pack(good, 4, &len);
  fl_errmsg_t em = {{0}};
  fl_nc_pg_stat_t *st = NULL;
  size_t n = 0;
  /* Every cut inside the last entry breaks the framing. */
  for (size_t cut = 1; cut < 6; cut++) {
    uint8_t *t = malloc(len - cut);
    memcpy(t, buf, len - cut);
    FL_CHECK_ERR(fl_nc_pg_stats_decode(t, len - cut, &st, &n, &em), FL_EPROTO);
    FL_CHECK(st == NULL && n == 0);
    FL_CHECK(strstr(em.msg, "not a PgStatList") != NULL);
    free(t);
  }
  /* Any cut: refused or a prefix of the entries, never more. */
  for (size_t cut = 1; cut < len; cut++) {
    int rc = fl_nc_pg_stats_decode(buf, cut, &st, &n, NULL);
    FL_CHECK(rc == 0 || rc == FL_EPROTO);
    if (rc == 0) {
      FL_CHECK(n < 4);
      for (size_t i = 0; i < n; i++)
        FL_CHECK_EQ(st[i].pg, good[i].pg);
    }
    free(st);
  }
  uint8_t junk[32];
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = (uint8_t)(0xf0 + i % 16);
  FL_CHECK_ERR(fl_nc_pg_stats_decode(junk, sizeof junk, &st, &n, &em), FL_EPROTO);
  FL_CHECK(st == NULL && n == 0);
  /* A well-framed entry whose inside is not a PgStat (wire type 7). */
  const uint8_t bad_inner[] = {0x0a, 0x02, 0x0f, 0x00};
  FL_CHECK_ERR(fl_nc_pg_stats_decode(bad_inner, sizeof bad_inner, &st, &n, &em), FL_EPROTO);
  FL_CHECK(strstr(em.msg, "does not decode") != NULL);
  free(buf);
}

/* Two entries, the second changed to (pg, frag): refused, naming why. */
static void refuse(uint32_t pg, uint16_t frag, const char *why) {
  fl_nc_pg_stat_t e[2] = {good[2], good[2]};
  e[1].pg = pg;
  e[1].frag = frag;
  size_t len, n = 9;
  uint8_t *buf = pack(e, 2, &len);
  fl_errmsg_t em = {{0}};
  fl_nc_pg_stat_t *st = (fl_nc_pg_stat_t *)1;
  FL_CHECK_ERR(fl_nc_pg_stats_decode(buf, len, &st, &n, &em), FL_EPROTO);
  if (!strstr(em.msg, why))
    fprintf(stderr, "message: %s\n", em.msg);
  FL_CHECK(strstr(em.msg, why) != NULL);
  FL_CHECK(st == NULL && n == 0);
  free(buf);
}

static void test_refusals(void) {
  refuse(3, 2, "entry 1 (pg 3, fragment 2) repeats");
  refuse(3, 1, "out of order");
  refuse(2, 2, "out of order");
  refuse(4, FL_NC_FRAG_MAX, "fragment index 64");
  refuse(4, 1000, "fragment index 1000");
}

/* One entry more than allowed, each the smallest possible (an empty
 * PgStat, 2 bytes): refused by the count, before any decoding. */
static void test_oversized(void) {
  size_t n = (size_t)FL_NC_PG_STATS_MAX + 1, len = 2 * n;
  uint8_t *buf = malloc(len);
  for (size_t i = 0; i < n; i++) {
    buf[2 * i] = 0x0a;
    buf[2 * i + 1] = 0x00;
  }
  fl_errmsg_t em = {{0}};
  fl_nc_pg_stat_t *st = NULL;
  size_t got = 0;
  FL_CHECK_ERR(fl_nc_pg_stats_decode(buf, len, &st, &got, &em), FL_EPROTO);
  FL_CHECK(strstr(em.msg, "entries (at most") != NULL);
  FL_CHECK(st == NULL && got == 0);
  free(buf);
}

int main(void) {
  FL_RUN(test_round_trip);
  FL_RUN(test_truncated_and_garbage);
  FL_RUN(test_refusals);
  FL_RUN(test_oversized);
  FL_DONE();
}
