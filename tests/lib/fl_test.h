/* Minimal unit-test harness: checks print both operands and the location,
 * then end the test binary with a failure (ctest reports it). FL_RUN runs one
 * test function and counts it; FL_DONE prints "N passed, 0 failed". */
#ifndef FL_TEST_H
#define FL_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_err.h"


static int fl_test_passed;

#define FL__FAIL(...)                                         \
  do {                                                        \
    fprintf(stderr, "%s:%d: check failed: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__);                             \
    fputc('\n', stderr);                                      \
    fprintf(stdout, "%d passed, 1 failed\n", fl_test_passed); \
    exit(1);                                                  \
  } while (0)

#define FL_CHECK(cond)                     \
  do {                                     \
    if (!(cond))                           \
      FL__FAIL("%s", #cond);               \
  } while (0)

#define FL_CHECK_INT(a, op, b)                                                      \
  do {                                                                              \
    long long fl__a = (long long)(a), fl__b = (long long)(b);                       \
    if (!(fl__a op fl__b))                                                          \
      FL__FAIL("%s %s %s (%lld vs %lld)", #a, #op, #b, fl__a, fl__b);               \
  } while (0)

#define FL_CHECK_EQ(a, b) FL_CHECK_INT(a, ==, b)

/* An fl_* call that must succeed; prints the error name on failure. */
#define FL_CHECK_OK(expr)                                                           \
  do {                                                                              \
    int fl__rc = (expr);                                                            \
    if (fl__rc != 0)                                                                \
      FL__FAIL("%s returned %d (%s: %s)", #expr, fl__rc, fl_err_name(fl__rc),       \
               fl_strerror(fl__rc));                                                \
  } while (0)

/* An fl_* call that must fail with a given code. */
#define FL_CHECK_ERR(expr, code)                                                    \
  do {                                                                              \
    int fl__rc = (expr);                                                            \
    if (fl__rc != (code))                                                           \
      FL__FAIL("%s returned %s (%d), expected %s", #expr, fl_err_name(fl__rc),      \
               fl__rc, fl_err_name(code));                                          \
  } while (0)

#define FL_CHECK_STR(a, b)                                                          \
  do {                                                                              \
    const char *fl__a = (a), *fl__b = (b);                                          \
    if (!fl__a || !fl__b || strcmp(fl__a, fl__b) != 0)                              \
      FL__FAIL("%s == %s (\"%s\" vs \"%s\")", #a, #b, fl__a ? fl__a : "(null)",     \
               fl__b ? fl__b : "(null)");                                           \
  } while (0)

#define FL_CHECK_MEM(a, b, n)                                                       \
  do {                                                                              \
    if (memcmp((a), (b), (n)) != 0)                                                 \
      FL__FAIL("memcmp(%s, %s, %s) != 0", #a, #b, #n);                              \
  } while (0)

#define FL_RUN(fn)                                   \
  do {                                               \
    fprintf(stderr, "-- %s\n", #fn);                 \
    fn();                                            \
    fl_test_passed++;                                \
  } while (0)

#define FL_DONE()                                    \
  do {                                               \
    printf("%d passed, 0 failed\n", fl_test_passed); \
    return 0;                                        \
  } while (0)

#endif
