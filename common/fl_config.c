/* The configuration loader: inih splits lines into section/key/value, and
 * everything else happens here: schema lookup, typed parsing with units and
 * bounds, duplicate and typo detection, flag overrides and required keys.
 * Input is always read into memory first and fed to inih through our own
 * line reader, which counts lines (the Debian build of inih does not pass
 * them to handlers), refuses NUL bytes and over-long lines instead of letting
 * inih split them, and lets a syntax error be quoted back to the user. */
#include "fl_config.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fl_log.h"

/* ------------------------------------------------------------------------ */
/* Value parsers                                                            */

/* Unsigned decimal digits at *p; advances *p. 0 on success, -1 if there are
 * no digits, -2 on overflow. */
static int fl__digits(const char **p, uint64_t *out) {
  const char *s = *p;
  uint64_t v = 0;
  if (*s < '0' || *s > '9')
    return -1;
  for (; *s >= '0' && *s <= '9'; s++) {
    unsigned d = (unsigned)(*s - '0');
    if (v > (UINT64_MAX - d) / 10)
      return -2;
    v = v * 10 + d;
  }
  *p = s;
  *out = v;
  return 0;
}

static const char *fl__skip_sp(const char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  return s;
}

int fl_cfg_parse_int(const char *text, int64_t *out, fl_errmsg_t *em) {
  const char *p = text;
  int neg = 0;
  if (*p == '-' || *p == '+')
    neg = *p++ == '-';
  uint64_t v;
  int rc = fl__digits(&p, &v);
  if (rc == 0 && *p == '\0') {
    if (!neg && v <= (uint64_t)INT64_MAX) {
      *out = (int64_t)v;
      return 0;
    }
    if (neg && v <= (uint64_t)INT64_MAX + 1) {
      *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
      return 0;
    }
    rc = -2;
  }
  if (rc == -2 || (rc == 0 && *p == '\0'))
    return fl_errf(em, FL_ECONFIG, "expected a 64-bit integer, got '%.64s' (out of range)", text);
  return fl_errf(em, FL_ECONFIG, "expected an integer like 42, got '%.64s'", text);
}

struct fl__unit {
  const char *name;
  uint64_t mult;
};

/* Size units: one letter (or the IEC "i" form) is a power of 1024, the
 * two-letter SI form a power of 1000. Matched case-insensitively. */
static const struct fl__unit fl__size_units[] = {
    {"", 1},
    {"b", 1},
    {"k", 1ull << 10},
    {"kib", 1ull << 10},
    {"kb", 1000ull},
    {"m", 1ull << 20},
    {"mib", 1ull << 20},
    {"mb", 1000000ull},
    {"g", 1ull << 30},
    {"gib", 1ull << 30},
    {"gb", 1000000000ull},
    {"t", 1ull << 40},
    {"tib", 1ull << 40},
    {"tb", 1000000000000ull},
    {NULL, 0},
};

/* Parses "<digits>[ ]<unit>" where the unit ends at end or at stop. */
static int fl__size_core(const char *text, size_t len, uint64_t *out) {
  char buf[64];
  if (len >= sizeof buf)
    return -1;
  memcpy(buf, text, len);
  buf[len] = '\0';
  const char *p = buf;
  uint64_t v;
  int rc = fl__digits(&p, &v);
  if (rc != 0)
    return rc;
  p = fl__skip_sp(p);
  for (const struct fl__unit *u = fl__size_units; u->name; u++) {
    if (strcasecmp(p, u->name) == 0) {
      if (v > UINT64_MAX / u->mult || v * u->mult > (uint64_t)INT64_MAX)
        return -2;
      *out = v * u->mult;
      return 0;
    }
  }
  return -1;
}

int fl_cfg_parse_size(const char *text, uint64_t *out, fl_errmsg_t *em) {
  int rc = fl__size_core(text, strlen(text), out);
  if (rc == -2)
    return fl_errf(em, FL_ECONFIG, "expected a size below 8EiB, got '%.64s'", text);
  if (rc != 0)
    return fl_errf(em, FL_ECONFIG, "expected a size like 4096, 64K, 64KiB or 1GB, got '%.64s'",
                   text);
  return 0;
}

int fl_cfg_parse_rate(const char *text, uint64_t *out, fl_errmsg_t *em) {
  size_t n = strlen(text);
  int rc = -1;
  /* The unit is mandatory: a bare "50" could mean bytes or megabytes. */
  if (n > 2 && text[n - 2] == '/' && (text[n - 1] == 's' || text[n - 1] == 'S')) {
    const char *u = fl__skip_sp(text);
    while (*u >= '0' && *u <= '9')
      u++;
    u = fl__skip_sp(u);
    if (u < text + n - 2)
      rc = fl__size_core(text, n - 2, out);
  }
  if (rc == -2)
    return fl_errf(em, FL_ECONFIG, "expected a rate below 8EiB/s, got '%.64s'", text);
  if (rc != 0)
    return fl_errf(em, FL_ECONFIG, "expected a rate like 50MB/s, got '%.64s'", text);
  return 0;
}

static const struct fl__unit fl__dur_units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}, {NULL, 0},
};

int fl_cfg_parse_duration(const char *text, int64_t *out_ms, fl_errmsg_t *em) {
  const char *p = text;
  uint64_t v;
  int rc = fl__digits(&p, &v);
  if (rc == 0) {
    p = fl__skip_sp(p);
    rc = -1;
    if (*p == '\0' && v == 0) {
      *out_ms = 0;
      return 0;
    }
    for (const struct fl__unit *u = fl__dur_units; u->name; u++) {
      if (strcmp(p, u->name) == 0) {
        if (v > (uint64_t)INT64_MAX / u->mult) {
          rc = -2;
          break;
        }
        *out_ms = (int64_t)(v * u->mult);
        return 0;
      }
    }
  }
  if (rc == -2)
    return fl_errf(em, FL_ECONFIG, "expected a shorter duration, got '%.64s'", text);
  return fl_errf(em, FL_ECONFIG, "expected a duration like 500ms, 30s, 5m, 2h or 1d, got '%.64s'",
                 text);
}

int fl_cfg_parse_bool(const char *text, bool *out, fl_errmsg_t *em) {
  static const char *const yes[] = {"true", "yes", "on", "1"};
  static const char *const no[] = {"false", "no", "off", "0"};
  for (size_t i = 0; i < 4; i++) {
    if (strcasecmp(text, yes[i]) == 0) {
      *out = true;
      return 0;
    }
    if (strcasecmp(text, no[i]) == 0) {
      *out = false;
      return 0;
    }
  }
  return fl_errf(em, FL_ECONFIG, "expected true/false, yes/no, on/off or 1/0, got '%.64s'", text);
}

static void fl__format_units(uint64_t v, const struct fl__unit *units, size_t n,
                             const char *const *names, char *buf, size_t len) {
  size_t best = 0;
  for (size_t i = 0; i < n; i++)
    if (units[i].mult <= v && v % units[i].mult == 0 && units[i].mult >= units[best].mult)
      best = i;
  if (v == 0)
    best = 0;
  snprintf(buf, len, "%" PRIu64 "%s", v / units[best].mult, names[best]);
}

void fl_cfg_format_size(uint64_t bytes, char *buf, size_t len) {
  static const struct fl__unit u[] = {
      {"B", 1}, {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40}};
  static const char *const names[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  fl__format_units(bytes, u, 5, names, buf, len);
}

void fl_cfg_format_duration(int64_t ms, char *buf, size_t len) {
  static const char *const names[] = {"ms", "s", "m", "h", "d"};
  if (ms < 0) {
    snprintf(buf, len, "%" PRId64 "ms", ms);
    return;
  }
  fl__format_units((uint64_t)ms, fl__dur_units, 5, names, buf, len);
}

/* ------------------------------------------------------------------------ */
/* Typed conversion of one field                                           */

union fl__val {
  int64_t i;
  uint64_t u;
  bool b;
  int e;
  fl_addr_t addr;
};

static int fl__has_bounds(const fl_cfg_field_t *f) { return f->min != 0 || f->max != 0; }

/* Renders a bound in the field's own units. */
static void fl__fmt_bound(const fl_cfg_field_t *f, int64_t v, char *buf, size_t len) {
  switch (f->type) {
  case FL_CFG_SIZE:
    fl_cfg_format_size((uint64_t)v, buf, len);
    break;
  case FL_CFG_RATE: {
    char tmp[40];
    fl_cfg_format_size((uint64_t)v, tmp, sizeof tmp);
    snprintf(buf, len, "%s/s", tmp);
    break;
  }
  case FL_CFG_DURATION:
    fl_cfg_format_duration(v, buf, len);
    break;
  default:
    snprintf(buf, len, "%" PRId64, v);
    break;
  }
}

static const char *fl__type_noun(enum fl_cfg_type t) {
  switch (t) {
  case FL_CFG_INT:
    return "an integer";
  case FL_CFG_SIZE:
    return "a size";
  case FL_CFG_RATE:
    return "a rate";
  case FL_CFG_DURATION:
    return "a duration";
  default:
    return "a value";
  }
}

/* "from A to B", "at least A" or "at most B" into buf. */
static void fl__range_text(const fl_cfg_field_t *f, char *buf, size_t len) {
  char lo[48], hi[48];
  fl__fmt_bound(f, f->min, lo, sizeof lo);
  fl__fmt_bound(f, f->max, hi, sizeof hi);
  if (f->max == INT64_MAX)
    snprintf(buf, len, "at least %s", lo);
  else if (f->min == INT64_MIN || (f->min == 0 && f->type != FL_CFG_INT))
    snprintf(buf, len, "at most %s", hi);
  else
    snprintf(buf, len, "from %s to %s", lo, hi);
}

static int fl__check_bounds(const fl_cfg_field_t *f, int64_t v, const char *text,
                            fl_errmsg_t *em) {
  if (!fl__has_bounds(f) || (v >= f->min && v <= f->max))
    return 0;
  char range[120];
  fl__range_text(f, range, sizeof range);
  return fl_errf(em, FL_ECONFIG, "expected %s %s, got '%.64s'", fl__type_noun(f->type), range,
                 text);
}

static int fl__convert(const fl_cfg_field_t *f, const char *text, union fl__val *v,
                       fl_errmsg_t *em) {
  int rc;
  switch (f->type) {
  case FL_CFG_STRING:
  case FL_CFG_PATH: {
    size_t n = strlen(text);
    if (f->type == FL_CFG_PATH && n == 0)
      return fl_errf(em, FL_ECONFIG, "expected a path, got ''");
    if (n >= f->size)
      return fl_errf(em, FL_ECONFIG, "value too long (%zu bytes, at most %zu)", n, f->size - 1);
    return 0;
  }
  case FL_CFG_INT:
    rc = fl_cfg_parse_int(text, &v->i, em);
    return rc ? rc : fl__check_bounds(f, v->i, text, em);
  case FL_CFG_SIZE:
    rc = fl_cfg_parse_size(text, &v->u, em);
    return rc ? rc : fl__check_bounds(f, (int64_t)v->u, text, em);
  case FL_CFG_RATE:
    rc = fl_cfg_parse_rate(text, &v->u, em);
    return rc ? rc : fl__check_bounds(f, (int64_t)v->u, text, em);
  case FL_CFG_DURATION:
    rc = fl_cfg_parse_duration(text, &v->i, em);
    return rc ? rc : fl__check_bounds(f, v->i, text, em);
  case FL_CFG_BOOL:
    return fl_cfg_parse_bool(text, &v->b, em);
  case FL_CFG_ENUM: {
    for (int i = 0; f->names[i]; i++) {
      if (strcmp(text, f->names[i]) == 0) {
        v->e = i;
        return 0;
      }
    }
    char list[256] = "";
    size_t off = 0;
    for (int i = 0; f->names[i] && off < sizeof list; i++)
      off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "", f->names[i]);
    return fl_errf(em, FL_ECONFIG, "expected one of %s, got '%.64s'", list, text);
  }
  case FL_CFG_ADDR: {
    fl_errmsg_t why = {{0}};
    rc = fl_addr_parse(&v->addr, text, (f->flags & FL_CFG_PORT0) ? FL_ADDR_PORT0 : 0, &why);
    if (rc)
      return fl_errf(em, FL_ECONFIG, "expected HOST:PORT like 10.0.0.5:7000 or [::1]:7000, "
                     "got '%.64s' (%s)", text, why.msg);
    return 0;
  }
  }
  return fl_errf(em, FL_EINTERNAL, "unknown field type %d", (int)f->type);
}

static void fl__store(const fl_cfg_field_t *f, void *obj, const char *text,
                      const union fl__val *v) {
  char *dst = (char *)obj + f->offset;
  switch (f->type) {
  case FL_CFG_STRING:
  case FL_CFG_PATH:
    memcpy(dst, text, strlen(text) + 1);
    break;
  case FL_CFG_INT:
  case FL_CFG_DURATION:
    memcpy(dst, &v->i, sizeof v->i);
    break;
  case FL_CFG_SIZE:
  case FL_CFG_RATE:
    memcpy(dst, &v->u, sizeof v->u);
    break;
  case FL_CFG_BOOL:
    memcpy(dst, &v->b, sizeof v->b);
    break;
  case FL_CFG_ENUM:
    memcpy(dst, &v->e, sizeof v->e);
    break;
  case FL_CFG_ADDR:
    memcpy(dst, &v->addr, sizeof v->addr);
    break;
  }
}

/* ------------------------------------------------------------------------ */
/* Lookup and suggestions                                                   */

static int fl__find(const fl_cfg_t *cfg, const char *section, const char *key) {
  for (size_t i = 0; i < cfg->nfields; i++)
    if (strcmp(cfg->fields[i].section, section) == 0 && strcmp(cfg->fields[i].key, key) == 0)
      return (int)i;
  return -1;
}

static int fl__has_section(const fl_cfg_t *cfg, const char *section) {
  for (size_t i = 0; i < cfg->nfields; i++)
    if (strcmp(cfg->fields[i].section, section) == 0)
      return 1;
  return 0;
}

/* Edit distance (case differences count as edits), capped at 64 bytes per
 * side: enough to catch typos without quadratic cost on hostile input. */
static size_t fl__distance(const char *a, const char *b) {
  size_t la = strnlen(a, 64), lb = strnlen(b, 64);
  size_t row[65];
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best)
        best = up + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

static int fl__close(const char *typed, const char *known) {
  size_t d = fl__distance(typed, known);
  size_t n = strlen(known);
  return d <= (n <= 4 ? 1 : 2) && d < n;
}

/* Message for an unknown key or section; returns FL_ECONFIG. */
static int fl__unknown(const fl_cfg_t *cfg, const char *where, const char *section,
                       const char *key, fl_errmsg_t *em) {
  if (!fl__has_section(cfg, section)) {
    for (size_t i = 0; i < cfg->nfields; i++)
      if (fl__close(section, cfg->fields[i].section))
        return fl_errf(em, FL_ECONFIG, "%sunknown section [%.64s] (did you mean [%s]?)", where,
                       section, cfg->fields[i].section);
    return fl_errf(em, FL_ECONFIG, "%sunknown section [%.64s]", where, section);
  }
  for (size_t i = 0; i < cfg->nfields; i++)
    if (strcmp(cfg->fields[i].section, section) == 0 && fl__close(key, cfg->fields[i].key))
      return fl_errf(em, FL_ECONFIG, "%s[%s] %.64s: unknown key (did you mean '%s'?)", where,
                     section, key, cfg->fields[i].key);
  for (size_t i = 0; i < cfg->nfields; i++)
    if (strcmp(cfg->fields[i].key, key) == 0)
      return fl_errf(em, FL_ECONFIG, "%s[%s] %.64s: unknown key (it belongs in [%s])", where,
                     section, key, cfg->fields[i].section);
  return fl_errf(em, FL_ECONFIG, "%s[%s] %.64s: unknown key", where, section, key);
}

/* ------------------------------------------------------------------------ */
/* Table setup, flags and the end check                                     */

int fl_cfg_init(fl_cfg_t *cfg, const fl_cfg_field_t *fields, void *obj, fl_errmsg_t *em) {
  memset(cfg, 0, sizeof *cfg);
  cfg->fields = fields;
  cfg->obj = obj;
  size_t n = 0;
  for (; fields[n].key; n++) {
    const fl_cfg_field_t *f = &fields[n];
    if (n >= FL_CFG_MAX_FIELDS)
      return fl_errf(em, FL_EINTERNAL, "config table: more than %d fields", FL_CFG_MAX_FIELDS);
    if (!f->section || !f->section[0])
      return fl_errf(em, FL_EINTERNAL, "config table: key '%s' has no section", f->key);
    for (size_t j = 0; j < n; j++) {
      if (strcmp(fields[j].section, f->section) == 0 && strcmp(fields[j].key, f->key) == 0)
        return fl_errf(em, FL_EINTERNAL, "config table: [%s] %s declared twice", f->section,
                       f->key);
      if (f->flag && fields[j].flag && strcmp(f->flag, fields[j].flag) == 0)
        return fl_errf(em, FL_EINTERNAL, "config table: flag %s declared twice", f->flag);
    }
    if (f->type == FL_CFG_ENUM && (!f->names || !f->names[0]))
      return fl_errf(em, FL_EINTERNAL, "config table: [%s] %s: enum without names", f->section,
                     f->key);
    if ((f->type == FL_CFG_STRING || f->type == FL_CFG_PATH) && f->size < 2)
      return fl_errf(em, FL_EINTERNAL, "config table: [%s] %s: string buffer too small",
                     f->section, f->key);
    if (f->min > f->max)
      return fl_errf(em, FL_EINTERNAL, "config table: [%s] %s: min above max", f->section,
                     f->key);
    if ((f->flags & FL_CFG_REQUIRED) && f->def)
      return fl_errf(em, FL_EINTERNAL, "config table: [%s] %s: required key with a default",
                     f->section, f->key);
  }
  cfg->nfields = n;
  for (size_t i = 0; i < n; i++) {
    const fl_cfg_field_t *f = &fields[i];
    memset((char *)obj + f->offset, 0, f->size);
    if (!f->def)
      continue;
    union fl__val v;
    memset(&v, 0, sizeof v);
    int rc = fl__convert(f, f->def, &v, em);
    if (rc)
      return fl_errprefix(em, FL_EINTERNAL, "config table: [%s] %s: default", f->section, f->key);
    fl__store(f, obj, f->def, &v);
    cfg->st[i].src = FL_CFG_DEFAULT;
  }
  return 0;
}

int fl_cfg_set(fl_cfg_t *cfg, const char *section, const char *key, const char *value,
               const char *origin, fl_errmsg_t *em) {
  char where[80] = "";
  if (origin)
    snprintf(where, sizeof where, "%.64s: ", origin);
  int i = fl__find(cfg, section, key);
  if (i < 0)
    return fl__unknown(cfg, where, section, key, em);
  const fl_cfg_field_t *f = &cfg->fields[i];
  union fl__val v;
  memset(&v, 0, sizeof v);
  int rc = fl__convert(f, value, &v, em);
  if (rc)
    return fl_errprefix(em, rc, "%s[%s] %s", where, section, key);
  fl__store(f, cfg->obj, value, &v);
  cfg->st[i].src = FL_CFG_FLAG;
  cfg->st[i].load = 0;
  cfg->st[i].line = 0;
  return 0;
}

int fl_cfg_set_flag(fl_cfg_t *cfg, const char *flag, const char *value, fl_errmsg_t *em) {
  for (size_t i = 0; i < cfg->nfields; i++)
    if (cfg->fields[i].flag && strcmp(cfg->fields[i].flag, flag) == 0)
      return fl_cfg_set(cfg, cfg->fields[i].section, cfg->fields[i].key, value, flag, em);
  for (size_t i = 0; i < cfg->nfields; i++)
    if (cfg->fields[i].flag && fl__close(flag, cfg->fields[i].flag))
      return fl_errf(em, FL_ENOTFOUND, "unknown option %.64s (did you mean %s?)", flag,
                     cfg->fields[i].flag);
  return fl_errf(em, FL_ENOTFOUND, "unknown option %.64s", flag);
}

int fl_cfg_finish(fl_cfg_t *cfg, fl_errmsg_t *em) {
  char list[400] = "";
  size_t off = 0, missing = 0;
  for (size_t i = 0; i < cfg->nfields; i++) {
    const fl_cfg_field_t *f = &cfg->fields[i];
    if (!(f->flags & FL_CFG_REQUIRED) || cfg->st[i].src != FL_CFG_UNSET)
      continue;
    missing++;
    if (off < sizeof list)
      off += (size_t)snprintf(list + off, sizeof list - off, "%s[%s] %s%s%s%s", off ? ", " : "",
                              f->section, f->key, f->flag ? " (" : "", f->flag ? f->flag : "",
                              f->flag ? ")" : "");
  }
  if (missing)
    return fl_errf(em, FL_ECONFIG, "missing required key%s: %s", missing > 1 ? "s" : "", list);
  return 0;
}

int fl_cfg_source(const fl_cfg_t *cfg, const char *section, const char *key) {
  int i = fl__find(cfg, section, key);
  return i < 0 ? -1 : cfg->st[i].src;
}

/* ------------------------------------------------------------------------ */
/* Loading INI text                                                         */

struct fl__load {
  fl_cfg_t *cfg;
  const char *name;    /* label for messages */
  const char *buf;     /* whole input, borrowed */
  size_t len, pos;     /* input size and next unread byte */
  uint32_t lineno;     /* line last handed to inih */
  const char *line;    /* that line, raw, without its newline */
  size_t linelen;
  uint32_t sect_line;  /* line of the last [section] header */
  uint32_t load;       /* this load's number, for duplicate detection */
  int err;             /* first error we found ... */
  uint32_t errline;    /* ... and its line; inih may have seen an earlier one */
  fl_errmsg_t *em;
};

static int fl__load_fail(struct fl__load *ld, uint32_t line, int code, const char *fmt,
                         const char *a, const char *b, const char *c) {
  fl_errmsg_t tmp = {{0}};
  char body[400];
  snprintf(body, sizeof body, fmt, a, b, c);
  fl_errf(&tmp, code, "%s:%u: %s", ld->name, line, body);
  if (ld->em)
    *ld->em = tmp;
  ld->err = code;
  ld->errline = line;
  return 0;
}

static int fl__is_sp(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

/* inih line reader over the in-memory input. */
static char *fl__reader(char *str, int num, void *stream) {
  struct fl__load *ld = stream;
  if (ld->err || ld->pos >= ld->len)
    return NULL;
  const char *line = ld->buf + ld->pos;
  const char *nl = memchr(line, '\n', ld->len - ld->pos);
  size_t n = nl ? (size_t)(nl - line) : ld->len - ld->pos;
  ld->pos += n + (nl ? 1 : 0);
  ld->lineno++;
  ld->line = line;
  ld->linelen = n;
  if (memchr(line, '\0', n)) {
    fl__load_fail(ld, ld->lineno, FL_ECONFIG, "line contains a NUL byte%s%s%s", "", "", "");
    return NULL;
  }
  if (num < 1 || n > (size_t)num - 1) {
    char lim[48];
    snprintf(lim, sizeof lim, "%zu bytes, at most %d", n, num - 1);
    fl__load_fail(ld, ld->lineno, FL_ECONFIG, "line too long (%s)%s%s", lim, "", "");
    return NULL;
  }
  memcpy(str, line, n);
  str[n] = '\0';
  size_t i = 0;
  while (i < n && fl__is_sp(line[i]))
    i++;
  if (i < n && line[i] == '[')
    ld->sect_line = ld->lineno;
  return str;
}

static int fl__handler(void *user, const char *section, const char *name, const char *value) {
  struct fl__load *ld = user;
  fl_cfg_t *cfg = ld->cfg;
  if (ld->err)
    return 0;
  /* inih hands an indented line after a key to the handler as that key's
   * value ("continuation"): the value is then the whole stripped line, less
   * any inline comment. A real key line never starts with its own value. */
  const char *s = ld->line, *e = ld->line + ld->linelen;
  while (s < e && fl__is_sp(*s))
    s++;
  size_t vlen = strlen(value);
  const char *rest = s + vlen;
  int cont = vlen <= (size_t)(e - s) && memcmp(s, value, vlen) == 0;
  if (cont && rest < e) {
    while (rest < e && fl__is_sp(*rest))
      rest++;
    cont = rest == e || (rest > s + vlen && *rest == ';');
  }
  if (cont)
    return fl__load_fail(ld, ld->lineno, FL_ECONFIG,
                         "indented line '%.64s' would continue the value of '%s'; "
                         "continuation lines are not supported%s", value, name, "");
  if (!section[0])
    return fl__load_fail(ld, ld->lineno, FL_ECONFIG,
                         "key '%.64s' before any [section] header%s%s", name, "", "");
  if (!name[0])
    return fl__load_fail(ld, ld->lineno, FL_ECONFIG, "[%s] missing key name before '='%s%s",
                         section, "", "");
  int i = fl__find(cfg, section, name);
  if (i < 0) {
    fl_errmsg_t tmp = {{0}};
    fl__unknown(cfg, "", section, name, &tmp);
    uint32_t line = fl__has_section(cfg, section) || !ld->sect_line ? ld->lineno : ld->sect_line;
    return fl__load_fail(ld, line, FL_ECONFIG, "%s%s%s", tmp.msg, "", "");
  }
  const fl_cfg_field_t *f = &cfg->fields[i];
  if (cfg->st[i].src == FL_CFG_FILE && cfg->st[i].load == ld->load) {
    char first[32];
    snprintf(first, sizeof first, "%u", cfg->st[i].line);
    return fl__load_fail(ld, ld->lineno, FL_ECONFIG, "[%s] %s: duplicate key (first set on line %s)",
                         section, name, first);
  }
  union fl__val v;
  memset(&v, 0, sizeof v);
  fl_errmsg_t why = {{0}};
  if (fl__convert(f, value, &v, &why))
    return fl__load_fail(ld, ld->lineno, FL_ECONFIG, "[%s] %s: %s", section, name, why.msg);
  /* Flags win over files whatever the order they were applied in. */
  if (cfg->st[i].src != FL_CFG_FLAG) {
    fl__store(f, cfg->obj, value, &v);
    cfg->st[i].src = FL_CFG_FILE;
    cfg->st[i].load = ld->load;
    cfg->st[i].line = ld->lineno;
  }
  return 1;
}

/* Quotes line `lineno` of the input for a syntax error. */
static int fl__syntax_error(struct fl__load *ld, uint32_t lineno) {
  const char *p = ld->buf, *end = ld->buf + ld->len;
  for (uint32_t l = 1; l < lineno && p < end; l++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    p = nl ? nl + 1 : end;
  }
  const char *nl = memchr(p, '\n', (size_t)(end - p));
  size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
  while (n && fl__is_sp(p[n - 1]))
    n--;
  while (n && fl__is_sp(*p)) {
    p++;
    n--;
  }
  char text[72];
  snprintf(text, sizeof text, "%.*s%s", (int)(n > 60 ? 60 : n), p, n > 60 ? "..." : "");
  if (n && *p == '[')
    return fl__load_fail(ld, lineno, FL_ECONFIG, "section header '%s' lacks its closing ']'%s%s",
                         text, "", "");
  return fl__load_fail(ld, lineno, FL_ECONFIG,
                       "malformed line '%s': expected '[section]', 'key = value' or a comment%s",
                       text, "", "");
}

int fl_cfg_load_string(fl_cfg_t *cfg, const char *name, const char *text, size_t len,
                       fl_errmsg_t *em) {
  if (len > FL_CFG_MAX_BYTES)
    return fl_errf(em, FL_ECONFIG, "%s: too large (%zu bytes, at most %d)", name, len,
                   FL_CFG_MAX_BYTES);
  struct fl__load ld;
  memset(&ld, 0, sizeof ld);
  ld.cfg = cfg;
  ld.name = name;
  ld.buf = text;
  ld.len = len;
  ld.load = ++cfg->nloads;
  ld.em = em;
  int r = ini_parse_stream(fl__reader, &ld, fl__handler, &ld);
  /* inih returns the first line it found wrong, its own syntax errors and
   * our refusals alike; report whichever came first. */
  if (r > 0 && (!ld.err || (uint32_t)r < ld.errline)) {
    fl__syntax_error(&ld, (uint32_t)r);
    return ld.err;
  }
  if (ld.err)
    return ld.err;
  if (r < 0)
    return fl_errf(em, FL_EINTERNAL, "%s: INI parser failed (%d)", name, r);
  return 0;
}

int fl_cfg_load_file(fl_cfg_t *cfg, const char *path, fl_errmsg_t *em) {
  char *buf = NULL;
  int rc = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    rc = fl_errf(em, -errno, "cannot read config '%s': %s", path, strerror(errno));
    goto fail;
  }
  struct stat st;
  int e = fstat(fd, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
  if (e) {
    rc = fl_errf(em, -e, "cannot read config '%s': %s", path, strerror(e));
    goto fail;
  }
  buf = malloc(FL_CFG_MAX_BYTES + 1);
  if (!buf) {
    rc = fl_errf(em, -ENOMEM, "cannot read config '%s': out of memory", path);
    goto fail;
  }
  size_t len = 0;
  for (;;) {
    ssize_t n = read(fd, buf + len, FL_CFG_MAX_BYTES + 1 - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      rc = fl_errf(em, -errno, "cannot read config '%s': %s", path, strerror(errno));
      goto fail;
    }
    if (n == 0)
      break;
    len += (size_t)n;
    if (len > FL_CFG_MAX_BYTES) {
      rc = fl_errf(em, FL_ECONFIG, "%s: too large (more than %d bytes)", path, FL_CFG_MAX_BYTES);
      goto fail;
    }
  }
  rc = fl_cfg_load_string(cfg, path, buf, len, em);
fail:
  if (fd >= 0)
    close(fd);
  free(buf);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Sample file                                                              */

static void fl__describe(const fl_cfg_field_t *f, char *buf, size_t len) {
  char range[120] = "";
  if (fl__has_bounds(f)) {
    range[0] = ' ';
    fl__range_text(f, range + 1, sizeof range - 1);
  }
  switch (f->type) {
  case FL_CFG_STRING:
    snprintf(buf, len, "string, at most %zu bytes", f->size - 1);
    break;
  case FL_CFG_PATH:
    snprintf(buf, len, "path");
    break;
  case FL_CFG_INT:
    snprintf(buf, len, "integer%s", range);
    break;
  case FL_CFG_SIZE:
    snprintf(buf, len, "size (K/M/G/T = 1024^n, KB/MB/GB/TB = 1000^n)%s", range);
    break;
  case FL_CFG_RATE:
    snprintf(buf, len, "rate like 50MB/s or 1GiB/s%s", range);
    break;
  case FL_CFG_DURATION:
    snprintf(buf, len, "duration (ms, s, m, h, d)%s", range);
    break;
  case FL_CFG_BOOL:
    snprintf(buf, len, "boolean (true/false, yes/no, on/off, 1/0)");
    break;
  case FL_CFG_ENUM: {
    size_t off = (size_t)snprintf(buf, len, "one of");
    for (int i = 0; f->names[i] && off < len; i++)
      off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : " ", f->names[i]);
    break;
  }
  case FL_CFG_ADDR:
    snprintf(buf, len, "HOST:PORT (IPv6 as [::1]:7000)%s",
             (f->flags & FL_CFG_PORT0) ? ", port 0 = any free port" : "");
    break;
  }
}

int fl_cfg_print_defaults(const fl_cfg_field_t *fields, FILE *out) {
  fprintf(out, "; filmless configuration (INI). Every key is shown with its default;\n"
               "; remove the leading ';' to change one. Flags override this file.\n");
  for (size_t i = 0; fields[i].key; i++) {
    /* Sections print in table order, each once, with all of its keys. */
    size_t first = 0;
    while (strcmp(fields[first].section, fields[i].section) != 0)
      first++;
    if (first != i)
      continue;
    fprintf(out, "\n[%s]\n", fields[i].section);
    for (size_t j = i; fields[j].key; j++) {
      const fl_cfg_field_t *f = &fields[j];
      if (strcmp(f->section, fields[i].section) != 0)
        continue;
      char desc[400];
      fl__describe(f, desc, sizeof desc);
      fprintf(out, "; %s\n; %s%s%s%s\n;%s = %s\n", f->help ? f->help : "", desc,
              (f->flags & FL_CFG_REQUIRED) ? "; required" : "", f->flag ? "; flag " : "",
              f->flag ? f->flag : "", f->key, f->def ? f->def : "");
    }
  }
  return ferror(out) ? -EIO : 0;
}

int fl_cfg_apply_arg(fl_cfg_t *cfg, int argc, char **argv, int *i, fl_errmsg_t *em) {
  const char *a = argv[*i];
  if (strncmp(a, "--", 2) != 0)
    return fl_errf(em, FL_ECONFIG, "unexpected argument '%s' (try --help)", a);
  char flag[64];
  const char *val;
  const char *eq = strchr(a, '=');
  if (eq) {
    snprintf(flag, sizeof flag, "%.*s", (int)(eq - a), a);
    val = eq + 1;
  } else {
    snprintf(flag, sizeof flag, "%s", a);
    if (*i + 1 >= argc)
      return fl_errf(em, FL_ECONFIG, "%s needs a value", flag);
    val = argv[++*i];
  }
  if (strcmp(flag, "--config") == 0)
    return fl_cfg_load_file(cfg, val, em);
  return fl_cfg_set_flag(cfg, flag, val, em);
}

int fl_cfg_cli_run(fl_cfg_t *cfg, const fl_cfg_cli_t *cli, int argc, char **argv, int first) {
  fl_errmsg_t em = {{0}};
  int rc;
  for (int i = first; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      cli->usage(stdout);
      return 0;
    }
    if (!strcmp(a, "--version")) {
      printf("%s %s\n", cli->prog, cli->version);
      return 0;
    }
    if (!strcmp(a, "--print-config"))
      return fl_cfg_print_defaults(cfg->fields, stdout) ? 1 : 0;
    if (cli->own && cli->own(cli->ctx, a))
      continue;
    if ((rc = fl_cfg_apply_arg(cfg, argc, argv, &i, &em)) != 0)
      goto fail;
  }
  if ((rc = fl_cfg_finish(cfg, &em)) != 0)
    goto fail;
  if (cli->log_level && !getenv("FILMLESS_LOG")) {
    int lvl = fl_log_level_parse(cli->log_level);
    if (lvl < 0) {
      rc = fl_errf(&em, FL_ECONFIG, "log_level '%s' is not debug, info, warn or error",
                   cli->log_level);
      goto fail;
    }
    fl_log_set_level(lvl);
  }
  return -1;
fail:
  fprintf(stderr, "%s: %s\n", cli->prog, fl_errmsg_str(&em, rc));
  return 2;
}
