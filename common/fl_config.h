/* Schema-driven INI configuration shared by every daemon: a static table of
 * typed fields, loaded from a file or string (inih) and then from flags,
 * all through one validation path. Format and messages: docs/config.md. */
#ifndef FL_CONFIG_H
#define FL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fl_addr.h"
#include "fl_err.h"

/* Value types and the C type each stores into (at the field's offset). */
enum fl_cfg_type {
  FL_CFG_STRING = 1, /* char[N]: any text, N-1 bytes at most          */
  FL_CFG_PATH,       /* char[N]: non-empty file system path             */
  FL_CFG_INT,        /* int64_t: decimal integer, optional sign         */
  FL_CFG_SIZE,       /* uint64_t bytes: 4096, 64K, 64KiB, 64KB, 1G ...  */
  FL_CFG_RATE,       /* uint64_t bytes/s: 50MB/s, 1GiB/s ...            */
  FL_CFG_DURATION,   /* int64_t milliseconds: 500ms, 30s, 5m, 2h, 1d    */
  FL_CFG_BOOL,       /* bool: true/false yes/no on/off 1/0              */
  FL_CFG_ENUM,       /* int: index into the field's names               */
  FL_CFG_ADDR        /* fl_addr_t: HOST:PORT                            */
};

/* Field flags. */
#define FL_CFG_REQUIRED 1u /* must be set by the file or a flag (no default) */
#define FL_CFG_PORT0 2u    /* ADDR: port 0 allowed (listen on any free port) */

/* One key of a daemon's configuration. Tables are static and end with
 * FL_CFG_END; build entries with the FL_CFG_* macros below, which check the
 * member's C type at compile time. */
typedef struct fl_cfg_field {
  const char *section;      /* "node"; every key lives in a section */
  const char *key;          /* "listen"; NULL ends the table */
  enum fl_cfg_type type;
  size_t offset;            /* offsetof(your struct, member) */
  size_t size;              /* sizeof the member (string capacity) */
  const char *def;          /* default, written as in a file; NULL = none */
  int64_t min, max;         /* numeric bounds in base units (bytes, ms, B/s) */
  const char *const *names; /* ENUM: NULL-terminated list of accepted names */
  unsigned flags;           /* FL_CFG_REQUIRED, FL_CFG_PORT0 */
  const char *flag;         /* command-line flag ("--listen") or NULL */
  const char *help;         /* one line, shown by fl_cfg_print_defaults() */
} fl_cfg_field_t;

#define FL__CFG_OFF(T, m, ctype) _Generic(&((T *)0)->m, ctype *: offsetof(T, m))
#define FL__CFG_STRBUF(T, m) _Generic(&((T *)0)->m[0], char *: offsetof(T, m))
#define FL__CFG_SIZEOF(T, m) sizeof(((T *)0)->m)

#define FL_CFG_STR(sec, k, T, m, def_, fl, flag_, help_)                                    \
  {.section = sec, .key = k, .type = FL_CFG_STRING, .offset = FL__CFG_STRBUF(T, m),         \
   .size = FL__CFG_SIZEOF(T, m), .def = def_, .flags = fl, .flag = flag_, .help = help_}
#define FL_CFG_PATHF(sec, k, T, m, def_, fl, flag_, help_)                                  \
  {.section = sec, .key = k, .type = FL_CFG_PATH, .offset = FL__CFG_STRBUF(T, m),           \
   .size = FL__CFG_SIZEOF(T, m), .def = def_, .flags = fl, .flag = flag_, .help = help_}
#define FL_CFG_INTF(sec, k, T, m, def_, lo, hi, fl, flag_, help_)                           \
  {.section = sec, .key = k, .type = FL_CFG_INT, .offset = FL__CFG_OFF(T, m, int64_t),      \
   .size = sizeof(int64_t), .def = def_, .min = lo, .max = hi, .flags = fl, .flag = flag_,  \
   .help = help_}
#define FL_CFG_SIZEF(sec, k, T, m, def_, lo, hi, fl, flag_, help_)                          \
  {.section = sec, .key = k, .type = FL_CFG_SIZE, .offset = FL__CFG_OFF(T, m, uint64_t),    \
   .size = sizeof(uint64_t), .def = def_, .min = lo, .max = hi, .flags = fl, .flag = flag_, \
   .help = help_}
#define FL_CFG_RATEF(sec, k, T, m, def_, lo, hi, fl, flag_, help_)                          \
  {.section = sec, .key = k, .type = FL_CFG_RATE, .offset = FL__CFG_OFF(T, m, uint64_t),    \
   .size = sizeof(uint64_t), .def = def_, .min = lo, .max = hi, .flags = fl, .flag = flag_, \
   .help = help_}
#define FL_CFG_DURF(sec, k, T, m, def_, lo, hi, fl, flag_, help_)                           \
  {.section = sec, .key = k, .type = FL_CFG_DURATION, .offset = FL__CFG_OFF(T, m, int64_t), \
   .size = sizeof(int64_t), .def = def_, .min = lo, .max = hi, .flags = fl, .flag = flag_,  \
   .help = help_}
#define FL_CFG_BOOLF(sec, k, T, m, def_, fl, flag_, help_)                                  \
  {.section = sec, .key = k, .type = FL_CFG_BOOL, .offset = FL__CFG_OFF(T, m, bool),        \
   .size = sizeof(bool), .def = def_, .flags = fl, .flag = flag_, .help = help_}
#define FL_CFG_ENUMF(sec, k, T, m, def_, names_, fl, flag_, help_)                          \
  {.section = sec, .key = k, .type = FL_CFG_ENUM, .offset = FL__CFG_OFF(T, m, int),         \
   .size = sizeof(int), .def = def_, .names = names_, .flags = fl, .flag = flag_,           \
   .help = help_}
#define FL_CFG_ADDRF(sec, k, T, m, def_, fl, flag_, help_)                                  \
  {.section = sec, .key = k, .type = FL_CFG_ADDR, .offset = FL__CFG_OFF(T, m, fl_addr_t),   \
   .size = sizeof(fl_addr_t), .def = def_, .flags = fl, .flag = flag_, .help = help_}
#define FL_CFG_END {.key = NULL}

/* Unit constants for bounds. */
#define FL_CFG_KIB ((int64_t)1 << 10)
#define FL_CFG_MIB ((int64_t)1 << 20)
#define FL_CFG_GIB ((int64_t)1 << 30)
#define FL_CFG_TIB ((int64_t)1 << 40)
#define FL_CFG_SEC ((int64_t)1000)

#define FL_CFG_MAX_FIELDS 128       /* keys per table */
#define FL_CFG_MAX_BYTES (1 << 20)  /* largest file or string accepted */

/* Where each field's current value came from. */
enum fl_cfg_src { FL_CFG_UNSET = 0, FL_CFG_DEFAULT, FL_CFG_FILE, FL_CFG_FLAG };

/* A load in progress. Caller-owned (stack is fine), no heap inside. Not
 * shared between threads; separate fl_cfg_t may load concurrently (inih
 * keeps no state between calls). Every string argument below is non-NULL
 * unless it says otherwise. */
typedef struct fl_cfg {
  const fl_cfg_field_t *fields; /* borrowed: a static table */
  void *obj;                    /* borrowed: the daemon's struct, until the last call */
  size_t nfields;
  uint32_t nloads;              /* files/strings loaded so far */
  struct {
    uint8_t src;   /* enum fl_cfg_src */
    uint32_t load; /* which load set it (duplicate detection within one file) */
    uint32_t line; /* line it was set on */
  } st[FL_CFG_MAX_FIELDS];
} fl_cfg_t;

/* Binds cfg to a table and the struct it fills, then writes every default
 * into obj (fields without one are zeroed). Both are borrowed for cfg's
 * life. A table error (bad default, duplicate key, over FL_CFG_MAX_FIELDS,
 * ENUM without names) is FL_EINTERNAL with em naming the field. */
int fl_cfg_init(fl_cfg_t *cfg, const fl_cfg_field_t *fields, void *obj, fl_errmsg_t *em);

/* Loads the INI file at path (borrowed for the call). Errors: -errno when it
 * cannot be read, FL_ECONFIG for bad content; em begins "path:line:". A key
 * already set by a flag keeps the flag's value (the file's is still
 * validated). On error obj holds defaults and validated values only. */
int fl_cfg_load_file(fl_cfg_t *cfg, const char *path, fl_errmsg_t *em);

/* Same for len bytes of text (borrowed; need not be NUL-terminated).
 * name labels messages ("node.ini", "<string>"). */
int fl_cfg_load_string(fl_cfg_t *cfg, const char *name, const char *text, size_t len,
                       fl_errmsg_t *em);

/* Sets one key from a command-line flag, overriding defaults and files
 * whatever the order of calls; the last flag wins. origin (e.g. "--listen")
 * prefixes messages; all strings are borrowed for the call. FL_ECONFIG for
 * an unknown section/key or a bad value. */
int fl_cfg_set(fl_cfg_t *cfg, const char *section, const char *key, const char *value,
               const char *origin, fl_errmsg_t *em);

/* Same, finding the field by its flag name ("--listen"); FL_ENOTFOUND if no
 * field declares that flag (em then suggests a close one). */
int fl_cfg_set_flag(fl_cfg_t *cfg, const char *flag, const char *value, fl_errmsg_t *em);

/* Applies the command-line argument at argv[*i] (argv borrowed for the
 * call): "--flag VALUE" or "--flag=VALUE" through fl_cfg_set_flag, and
 * "--config FILE" through fl_cfg_load_file. Advances *i past a separate
 * value. FL_ECONFIG for an argument that is not a flag or lacks its value;
 * otherwise the errors of those two calls. A daemon's main handles its own
 * switches (--help...) first, then passes every other argument here. */
int fl_cfg_apply_arg(fl_cfg_t *cfg, int argc, char **argv, int *i, fl_errmsg_t *em);

/* The command line every daemon shares. */
typedef struct fl_cfg_cli {
  const char *prog;             /* "filmless-node", prefixes messages */
  const char *version;          /* printed by --version */
  void (*usage)(FILE *out);     /* prints --help */
  /* The daemon's own switches: returns 1 if it consumed arg. May be NULL. */
  int (*own)(void *ctx, const char *arg);
  void *ctx;                    /* passed to own */
  const char *log_level;        /* the daemon's log_level value (points into
                                   its struct, read after loading); applied
                                   unless FILMLESS_LOG is set. May be NULL. */
} fl_cfg_cli_t;

/* Runs argv[first..argc): --help/-h, --version, --print-config, the
 * daemon's own switches, then every other argument through
 * fl_cfg_apply_arg, then fl_cfg_finish and the log level. Returns -1 when
 * the daemon should go on, else the exit code to return from main (0 after
 * help, version or print-config; 2 with the message on stderr for a bad
 * argument or configuration). cli and argv are borrowed for the call. */
int fl_cfg_cli_run(fl_cfg_t *cfg, const fl_cfg_cli_t *cli, int argc, char **argv, int first);

/* Ends loading: FL_ECONFIG naming every required key still unset. */
int fl_cfg_finish(fl_cfg_t *cfg, fl_errmsg_t *em);

/* Where a field's value came from; -1 for an unknown section/key. */
int fl_cfg_source(const fl_cfg_t *cfg, const char *section, const char *key);

/* Writes a commented sample INI: every section and key with its help, type,
 * bounds, flag and default. Loading the output as-is gives the defaults.
 * Returns 0, or -EIO if the stream reported an error. */
int fl_cfg_print_defaults(const fl_cfg_field_t *fields, FILE *out);

/* Value parsers behind the types, exposed for flags that are not config
 * keys. Pure; text is borrowed; *out written only on success. Return 0 or
 * FL_ECONFIG (em holds the expected form). */
int fl_cfg_parse_size(const char *text, uint64_t *out, fl_errmsg_t *em);
int fl_cfg_parse_rate(const char *text, uint64_t *out, fl_errmsg_t *em);
int fl_cfg_parse_duration(const char *text, int64_t *out_ms, fl_errmsg_t *em);
int fl_cfg_parse_bool(const char *text, bool *out, fl_errmsg_t *em);
int fl_cfg_parse_int(const char *text, int64_t *out, fl_errmsg_t *em);

/* Formats bytes with the largest exact binary unit ("64MiB", "1000B"). */
void fl_cfg_format_size(uint64_t bytes, char *buf, size_t len);
/* Formats milliseconds with the largest exact unit ("90s", "2h", "1500ms"). */
void fl_cfg_format_duration(int64_t ms, char *buf, size_t len);

#endif
