/* Unit tests for fl_uid: the validation rules one by one, trimming of
 * padding, and the 2.25.<decimal> form against known values. */
#include "fl_test.h"
#include "fl_uid.h"

static int fl__check(const char *s) { return fl_uid_check(s, strlen(s), NULL); }

static void test_valid(void) {
  const char *ok[] = {"1", "0", "1.2.840.10008.1.2.1", "2.25.0", "1.0.2", "9.99.999",
                      "1.2.840.10008.5.1.4.1.1.88.11",
                      "1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23.24.2"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    FL_CHECK_INT(strlen(ok[i]), <=, FL_UID_MAX);
    FL_CHECK_OK(fl__check(ok[i]));
  }
  char max[FL_UID_MAX + 1];
  memset(max, '1', FL_UID_MAX);
  max[FL_UID_MAX] = '\0';
  FL_CHECK_OK(fl__check(max));
  /* Not NUL-terminated: only len bytes are looked at. */
  FL_CHECK_OK(fl_uid_check("1.2.3xyz", 5, NULL));
}

static void test_invalid(void) {
  struct {
    const char *uid;
    const char *why;
  } bad[] = {
      {"", "empty"},
      {".1.2", "empty component"},
      {"1.2.", "empty component"},
      {"1..2", "empty component"},
      {"1.02.3", "leading zero"},
      {"00", "leading zero"},
      {"1.2.a", "character 0x61"},
      {"1.2 .3", "character 0x20"},
      {"1,2", "character 0x2c"},
      {"-1.2", "character 0x2d"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    fl_errmsg_t em = {{0}};
    FL_CHECK_ERR(fl_uid_check(bad[i].uid, strlen(bad[i].uid), &em), FL_EUID);
    if (!strstr(em.msg, bad[i].why))
      FL_CHECK_STR(em.msg, bad[i].why);
  }
  char longer[FL_UID_MAX + 2];
  memset(longer, '1', sizeof longer - 1);
  longer[sizeof longer - 1] = '\0';
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(fl_uid_check(longer, strlen(longer), &em), FL_EUID);
  FL_CHECK(strstr(em.msg, "65 characters") != NULL);
  /* An embedded NUL is a bad character, not an end. */
  FL_CHECK_ERR(fl_uid_check("1.2\0.3", 5, NULL), FL_EUID);
}

static void test_trim(void) {
  FL_CHECK_EQ(fl_uid_trim_len("1.2.3\0", 6), 5);
  FL_CHECK_EQ(fl_uid_trim_len("1.2.3 ", 6), 5);
  FL_CHECK_EQ(fl_uid_trim_len("1.2.3 \0\0", 8), 5);
  FL_CHECK_EQ(fl_uid_trim_len("1.2.3", 5), 5);
  FL_CHECK_EQ(fl_uid_trim_len("\0\0", 2), 0);
  FL_CHECK_EQ(fl_uid_trim_len("", 0), 0);
  FL_CHECK_EQ(fl_uid_trim_len(" 1", 2), 2); /* leading spaces are not padding */
}

static void test_from_u128(void) {
  uint8_t b[16] = {0};
  char out[FL_UID_BUF];
  FL_CHECK_EQ(fl_uid_from_u128(out, b), 6);
  FL_CHECK_STR(out, "2.25.0");
  b[15] = 1;
  fl_uid_from_u128(out, b);
  FL_CHECK_STR(out, "2.25.1");
  memset(b, 0, sizeof b);
  b[7] = 1; /* 2^64 */
  fl_uid_from_u128(out, b);
  FL_CHECK_STR(out, "2.25.18446744073709551616");
  memset(b, 0xff, sizeof b); /* 2^128 - 1: the longest, 39 digits */
  FL_CHECK_EQ(fl_uid_from_u128(out, b), 44);
  FL_CHECK_STR(out, "2.25.340282366920938463463374607431768211455");
  /* PS3.5 B.2's example UUID f81d4fae-7dec-11d0-a765-00a0c91e6bf6. */
  static const uint8_t uuid[16] = {0xf8, 0x1d, 0x4f, 0xae, 0x7d, 0xec, 0x11, 0xd0,
                                   0xa7, 0x65, 0x00, 0xa0, 0xc9, 0x1e, 0x6b, 0xf6};
  fl_uid_from_u128(out, uuid);
  FL_CHECK_STR(out, "2.25.329800735698586629295641978511506172918");
  /* Every output is a valid UID, whatever the bits. */
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 10000; i++) {
    for (int j = 0; j < 16; j++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      b[j] = (uint8_t)x;
    }
    if (i % 7 == 0)
      memset(b, 0, 8); /* small values too */
    size_t n = fl_uid_from_u128(out, b);
    FL_CHECK_EQ(n, strlen(out));
    FL_CHECK_OK(fl_uid_check(out, n, NULL));
  }
}

int main(void) {
  FL_RUN(test_valid);
  FL_RUN(test_invalid);
  FL_RUN(test_trim);
  FL_RUN(test_from_u128);
  FL_DONE();
}
