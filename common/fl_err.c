/* fl_strerror/fl_err_name from the FL_ERRNO_MAP table, plus the small
 * formatted-context helpers every module uses. */
#include "fl_err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *fl_strerror(int code) {
  if (code == 0)
    return "success";
  switch (code) {
#define FL__ERR_TEXT(name, off, text) \
  case name:                          \
    return text;
    FL_ERRNO_MAP(FL__ERR_TEXT)
#undef FL__ERR_TEXT
  default:
    break;
  }
  if (code < 0 && code > FL_ERR_BASE)
    return strerror(-code);
  return "unknown error";
}

const char *fl_err_name(int code) {
  if (code == 0)
    return "OK";
  switch (code) {
#define FL__ERR_NAME(name, off, text) \
  case name:                          \
    return #name;
    FL_ERRNO_MAP(FL__ERR_NAME)
#undef FL__ERR_NAME
  default:
    break;
  }
  if (code < 0 && code > FL_ERR_BASE) {
    const char *n = strerrorname_np(-code);
    if (n)
      return n;
  }
  return "EUNKNOWN";
}

static void fl__vformat(fl_errmsg_t *em, const char *prefix, const char *fmt, va_list ap) {
  char tmp[sizeof em->msg];
  vsnprintf(tmp, sizeof tmp, fmt, ap);
  /* Long context is cut, never overflowed: the start says the most. */
  size_t n = strlen(tmp);
  memcpy(em->msg, tmp, n + 1);
  if (prefix && prefix[0] && n + 2 < sizeof em->msg) {
    size_t room = sizeof em->msg - n - 2;
    size_t plen = strnlen(prefix, room);
    memcpy(em->msg + n, ": ", 2);
    memcpy(em->msg + n + 2, prefix, plen);
    em->msg[n + 2 + plen] = '\0';
  }
}

int fl_errf(fl_errmsg_t *em, int code, const char *fmt, ...) {
  if (!em)
    return code;
  va_list ap;
  va_start(ap, fmt);
  fl__vformat(em, NULL, fmt, ap);
  va_end(ap);
  return code;
}

int fl_errprefix(fl_errmsg_t *em, int code, const char *fmt, ...) {
  if (!em)
    return code;
  char prev[sizeof em->msg];
  snprintf(prev, sizeof prev, "%s", em->msg[0] ? em->msg : fl_strerror(code));
  va_list ap;
  va_start(ap, fmt);
  fl__vformat(em, prev, fmt, ap);
  va_end(ap);
  return code;
}

const char *fl_errmsg_str(const fl_errmsg_t *em, int code) {
  if (em && em->msg[0])
    return em->msg;
  return fl_strerror(code);
}
