/* UID validation and construction. Every UID that becomes part of an object's
 * identity passes fl_uid_check, so keys built from UIDs never hold a byte that
 * is not a digit or a dot. */
#include "fl_uid.h"

#include <string.h>

int fl_uid_check(const char *s, size_t len, fl_errmsg_t *em) {
  if (len == 0)
    return fl_errf(em, FL_EUID, "UID is empty");
  if (len > FL_UID_MAX)
    return fl_errf(em, FL_EUID, "UID is %zu characters long, at most %d allowed", len,
                   FL_UID_MAX);
  size_t start = 0; /* first character of the current component */
  for (size_t i = 0; i <= len; i++) {
    if (i == len || s[i] == '.') {
      if (i == start)
        return fl_errf(em, FL_EUID, "UID has an empty component at offset %zu", i);
      if (i - start > 1 && s[start] == '0')
        return fl_errf(em, FL_EUID, "UID component at offset %zu has a leading zero", start);
      start = i + 1;
    } else if (s[i] < '0' || s[i] > '9') {
      return fl_errf(em, FL_EUID, "UID has a character 0x%02x at offset %zu (only digits and dots)",
                     (unsigned)(unsigned char)s[i], i);
    }
  }
  return 0;
}

size_t fl_uid_trim_len(const char *s, size_t len) {
  while (len > 0 && (s[len - 1] == '\0' || s[len - 1] == ' '))
    len--;
  return len;
}

size_t fl_uid_from_u128(char out[FL_UID_BUF], const uint8_t bytes[16]) {
  /* Long division by 10 over four 32-bit limbs, most significant first:
   * portable, and 39 digits at most for 128 bits. */
  uint32_t limb[4];
  for (int i = 0; i < 4; i++)
    limb[i] = (uint32_t)bytes[4 * i] << 24 | (uint32_t)bytes[4 * i + 1] << 16 |
              (uint32_t)bytes[4 * i + 2] << 8 | (uint32_t)bytes[4 * i + 3];
  char digits[40];
  size_t nd = 0;
  do {
    uint64_t rem = 0;
    for (int i = 0; i < 4; i++) {
      uint64_t cur = rem << 32 | limb[i];
      limb[i] = (uint32_t)(cur / 10);
      rem = cur % 10;
    }
    digits[nd++] = (char)('0' + rem);
  } while (limb[0] | limb[1] | limb[2] | limb[3]);
  memcpy(out, "2.25.", 5);
  for (size_t i = 0; i < nd; i++)
    out[5 + i] = digits[nd - 1 - i];
  out[5 + nd] = '\0';
  return 5 + nd;
}
