/* Unit tests for fl_pg: published FNV-1a 64 vectors, the finalizer, PG
 * values fixed for all time (a change here remaps every stored study), and
 * an even spread of studies over PGs. */
#include <stdio.h>

#include "fl_pg.h"
#include "fl_test.h"

static void test_fnv_vectors(void) {
  /* From the FNV reference test suite. */
  FL_CHECK(fl_pg_fnv1a64("", 0) == UINT64_C(0xcbf29ce484222325));
  FL_CHECK(fl_pg_fnv1a64("a", 1) == UINT64_C(0xaf63dc4c8601ec8c));
  FL_CHECK(fl_pg_fnv1a64("foobar", 6) == UINT64_C(0x85944171f73967e8));
}

static void test_hash_vectors(void) {
  FL_CHECK(fl_pg_mix64(0) == 0);
  FL_CHECK(fl_pg_hash64("", 0) == UINT64_C(0xefd01f60ba992926));
  FL_CHECK(fl_pg_hash64("a", 1) == UINT64_C(0x82a2a958a9bece5b));
  FL_CHECK(fl_pg_hash64("foobar", 6) == UINT64_C(0x2c22194922d1672b));
  const char *uid = "1.2.840.113619.2.55.3.604688119.868.1234567890.1";
  FL_CHECK(fl_pg_study_hash("hospital-a", uid) == UINT64_C(0xae4417668e4fc5f7));
  FL_CHECK_EQ(fl_pg_of("hospital-a", uid, 4096), 1527);
  FL_CHECK_EQ(fl_pg_of("hospital-a", uid, 16384), 1527);
  FL_CHECK_EQ(fl_pg_of("chu-lyon",
                       "1.3.6.1.4.1.14519.5.2.1.6279.6001.298806137288633453246975630178",
                       4096), 1622);
}

static void test_study_hash_is_concatenation(void) {
  const char buf[] = "t1\0" "1.2.3";
  FL_CHECK(fl_pg_study_hash("t1", "1.2.3") == fl_pg_hash64(buf, sizeof buf - 1));
  /* The separator keeps ("t1", "1.2") and ("t11", ".2") apart. */
  FL_CHECK(fl_pg_study_hash("t1", "1.2") != fl_pg_study_hash("t11", ".2"));
  FL_CHECK(fl_pg_study_hash("a", "1.2") != fl_pg_study_hash("b", "1.2"));
  FL_CHECK_EQ(fl_pg_of("a", "1.2", 0), 0);
  FL_CHECK_EQ(fl_pg_of("a", "1.2", 1), 0);
}

/* 200,000 sequential UIDs (the worst case: they differ only in their last
 * digits) over 256 PGs: chi-square with 255 degrees of freedom stays well
 * below 400 (p < 1e-7 for a uniform hash to exceed it). */
static void test_distribution(void) {
  enum { N = 200000, PGS = 256 };
  static uint32_t cnt[PGS];
  char uid[80];
  for (int i = 0; i < N; i++) {
    snprintf(uid, sizeof uid, "1.2.826.0.1.3680043.8.498.%d", i);
    cnt[fl_pg_of("hospital-a", uid, PGS)]++;
  }
  double exp = (double)N / PGS, chi = 0;
  for (int i = 0; i < PGS; i++)
    chi += (cnt[i] - exp) * (cnt[i] - exp) / exp;
  fprintf(stderr, "chi2 = %.1f\n", chi);
  FL_CHECK(chi < 400);
  /* Every output bit of the finalizer flips about half the time when one
   * input bit flips (avalanche). */
  for (int b = 0; b < 64; b++) {
    int flips = 0;
    for (uint64_t x = 1; x <= 2000; x++)
      flips += __builtin_popcountll(fl_pg_mix64(x * 0x9e3779b97f4a7c15ull) ^
                                    fl_pg_mix64((x * 0x9e3779b97f4a7c15ull) ^ (1ull << b)));
    FL_CHECK_INT(flips, >, 2000 * 64 * 45 / 100);
    FL_CHECK_INT(flips, <, 2000 * 64 * 55 / 100);
  }
}

int main(void) {
  FL_RUN(test_fnv_vectors);
  FL_RUN(test_hash_vectors);
  FL_RUN(test_study_hash_is_concatenation);
  FL_RUN(test_distribution);
  FL_DONE();
}
