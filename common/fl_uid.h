/* DICOM UID rules (PS3.5 9.1) as pure functions: validation, trimming of the
 * padding a UID carries inside a file, and the 2.25.<decimal> form built from
 * 128 bits (PS3.5 B.2). No I/O, no allocation. */
#ifndef FL_UID_H
#define FL_UID_H

#include <stddef.h>
#include <stdint.h>

#include "fl_err.h"

/* Longest valid UID, and the buffer size that holds one with its NUL. */
#define FL_UID_MAX 64
#define FL_UID_BUF (FL_UID_MAX + 1)

/* Checks that s[0..len) is a UID: 1..64 characters, digits and dots only, no
 * empty component (no leading, trailing or doubled dot) and no leading zero in
 * a component of more than one digit. s is borrowed for the call and need not
 * be NUL-terminated. Returns 0 or FL_EUID with em saying which rule failed and
 * where. */
int fl_uid_check(const char *s, size_t len, fl_errmsg_t *em);

/* Length of s[0..len) once the padding DICOM allows at the end of a UID value
 * (trailing NULs, and spaces written by careless encoders) is removed. */
size_t fl_uid_trim_len(const char *s, size_t len);

/* Writes "2.25." followed by the decimal value of the 128-bit big-endian
 * number in bytes[16] into out (at least FL_UID_BUF bytes, NUL-terminated).
 * The result is always a valid UID of at most 44 characters. Returns its
 * length. */
size_t fl_uid_from_u128(char out[FL_UID_BUF], const uint8_t bytes[16]);

#endif
