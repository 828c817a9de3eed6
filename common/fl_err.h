/* Error codes shared by every filmless module. Functions return 0 or a
 * negative code: OS failures pass through as -errno, project errors sit in a
 * reserved range below FL_ERR_BASE. Context goes in an optional fl_errmsg_t. */
#ifndef FL_ERR_H
#define FL_ERR_H

#include <stddef.h>

#define FL_ERR_BASE (-30000)

/* X(name, offset, text): the one table that makes the enum, fl_strerror()
 * and fl_err_name(). Append only: codes travel on the wire and in logs. */
#define FL_ERRNO_MAP(X)                                                         \
  X(FL_ECORRUPT, 1, "data failed its checksum or structure check")             \
  X(FL_ENOTDICOM, 2, "input is not a DICOM file")                              \
  X(FL_EDICOM, 3, "DICOM file lacks a required attribute or is malformed")     \
  X(FL_ENOSPC, 4, "no space left on the storage device")                       \
  X(FL_EEXIST, 5, "object exists with different content")                      \
  X(FL_ENOTFOUND, 6, "no such object, study or key")                           \
  X(FL_EQUORUM, 7, "too few nodes answered to meet the write policy")          \
  X(FL_ECONFIG, 8, "invalid configuration")                                    \
  X(FL_EPROTO, 9, "malformed or unexpected protocol frame")                    \
  X(FL_ETOOBIG, 10, "length exceeds the configured limit")                     \
  X(FL_EBACKEND, 11, "erasure-code backend unavailable or failed")             \
  X(FL_EVERSION, 12, "unsupported format or protocol version")                 \
  X(FL_EUID, 13, "invalid DICOM UID")                                          \
  X(FL_ESTORE, 14, "index store (RocksDB) failed")                             \
  X(FL_ETRUNC, 15, "input is truncated")                                       \
  X(FL_EUNAVAIL, 16, "not enough fragments or nodes available")                \
  X(FL_EREFUSED, 17, "change refused by cluster policy")                       \
  X(FL_ESHUTDOWN, 18, "service is shutting down")                              \
  X(FL_EINTERNAL, 19, "internal invariant violated")

enum fl_errno {
#define FL__ERR_ENUM(name, off, text) name = FL_ERR_BASE - (off),
  FL_ERRNO_MAP(FL__ERR_ENUM)
#undef FL__ERR_ENUM
};

/* Human text for any code: project codes, -errno, or 0 ("success").
 * Returns a static string; never NULL. */
const char *fl_strerror(int code);

/* Symbolic name ("FL_ECORRUPT", "ENOENT"); static, never NULL. */
const char *fl_err_name(int code);

/* Optional context for an error: what was wrong and what to do. Callers
 * that do not care pass NULL wherever a fl_errmsg_t * is taken. */
typedef struct fl_errmsg {
  char msg[512];
} fl_errmsg_t;

/* Formats into em (when non-NULL) and returns code, so callers can write
 *   return fl_errf(em, FL_EDICOM, "missing StudyInstanceUID");
 * An empty message is replaced by fl_strerror(code). */
int fl_errf(fl_errmsg_t *em, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes existing context: "reading a.dcm: <previous message>". */
int fl_errprefix(fl_errmsg_t *em, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The message in em, or fl_strerror(code) when em is NULL or empty. */
const char *fl_errmsg_str(const fl_errmsg_t *em, int code);

#endif
