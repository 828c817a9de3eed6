/* Implementation of fl_log: formats a whole line in a local buffer and writes
 * it at once so lines from several threads or processes never interleave. */
#include "fl_log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static atomic_int fl__log_level = -1; /* -1: not yet read from FILMLESS_LOG */

static const char *const fl__level_names[] = {"debug", "info", "warn", "error", "off"};

int fl_log_level_parse(const char *name) {
  if (!name)
    return -1;
  for (int i = 0; i <= FL_LOG_OFF; i++)
    if (strcasecmp(name, fl__level_names[i]) == 0)
      return i;
  if (strcasecmp(name, "warning") == 0)
    return FL_LOG_WARN;
  return -1;
}

void fl_log_set_level(int level) {
  if (level >= FL_LOG_DEBUG && level <= FL_LOG_OFF)
    atomic_store(&fl__log_level, level);
}

int fl_log_get_level(void) {
  int lvl = atomic_load(&fl__log_level);
  if (lvl < 0) {
    lvl = fl_log_level_parse(getenv("FILMLESS_LOG"));
    if (lvl < 0)
      lvl = FL_LOG_INFO;
    atomic_store(&fl__log_level, lvl);
  }
  return lvl;
}

void fl_log(int level, const char *component, const char *fmt, ...) {
  if (level < fl_log_get_level() || level >= FL_LOG_OFF)
    return;
  char line[2048];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  static const char *const tags[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
  int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s[%d]: ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                   tm.tm_sec, ts.tv_nsec / 1000000, tags[level], component ? component : "-",
                   (int)getpid());
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 2)
    len = sizeof line - 2;
  line[len++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, len);
  (void)w;
}
