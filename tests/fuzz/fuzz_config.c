/* Fuzz target for the configuration loader: the input is an INI file for a
 * node-like schema covering every value type. Any result is fine; crashes,
 * overreads, leaks and sanitizer reports are not. The first byte also picks
 * a key for a flag override fed the same text, and every address that
 * loads must format back to a string that parses to the same address. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_config.h"

struct fz_conf {
  char id[32];
  char data[128];
  fl_addr_t listen;
  fl_addr_t coord;
  int64_t workers;
  int64_t offset;
  uint64_t max_frame;
  uint64_t rate;
  int64_t idle_ms;
  int64_t grace_ms;
  bool scrub;
  int mode;
};

static const char *const fz_modes[] = {"always", "batch", "never", NULL};

static const fl_cfg_field_t fz_fields[] = {
    FL_CFG_STR("node", "id", struct fz_conf, id, NULL, FL_CFG_REQUIRED, "--id", "id"),
    FL_CFG_PATHF("node", "data", struct fz_conf, data, "/tmp/x", 0, "--data", "data"),
    FL_CFG_ADDRF("node", "listen", struct fz_conf, listen, "0.0.0.0:7000", FL_CFG_PORT0,
                 "--listen", "listen"),
    FL_CFG_ADDRF("client", "coordinator", struct fz_conf, coord, "localhost:7100", 0, NULL, "c"),
    FL_CFG_INTF("node", "workers", struct fz_conf, workers, "4", 1, 64, 0, NULL, "w"),
    FL_CFG_INTF("node", "offset", struct fz_conf, offset, "0", 0, 0, 0, NULL, "o"),
    FL_CFG_SIZEF("net", "max_frame", struct fz_conf, max_frame, "64MiB", 4096, FL_CFG_GIB, 0,
                 NULL, "f"),
    FL_CFG_RATEF("scrub", "rate", struct fz_conf, rate, "50MB/s", 0, 0, 0, NULL, "r"),
    FL_CFG_BOOLF("scrub", "enabled", struct fz_conf, scrub, "on", 0, NULL, "e"),
    FL_CFG_DURF("net", "idle_timeout", struct fz_conf, idle_ms, "60s", 1000, INT64_MAX, 0, NULL,
                "i"),
    FL_CFG_DURF("coord", "grace", struct fz_conf, grace_ms, "5m", 0, 0, 0, NULL, "g"),
    FL_CFG_ENUMF("node", "fsync", struct fz_conf, mode, "batch", fz_modes, 0, NULL, "m"),
    FL_CFG_END,
};

static void fz_check_addr(const fl_addr_t *a) {
  char buf[FL_ADDR_STRLEN];
  fl_addr_t b;
  if (fl_addr_format(a, buf, sizeof buf) < 0 || fl_addr_parse(&b, buf, FL_ADDR_PORT0, NULL) != 0 ||
      strcmp(a->host, b.host) != 0 || a->port != b.port || a->kind != b.kind)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct fz_conf c;
  fl_cfg_t cfg;
  fl_errmsg_t em = {{0}};
  if (fl_cfg_init(&cfg, fz_fields, &c, &em) != 0)
    abort();
  int rc = fl_cfg_load_string(&cfg, "fuzz.ini", (const char *)data, size, &em);
  if (rc == 0)
    (void)fl_cfg_finish(&cfg, &em);
  if (rc != 0 && (rc != FL_ECONFIG || em.msg[0] == '\0'))
    abort();
  fz_check_addr(&c.listen);
  fz_check_addr(&c.coord);

  /* The same bytes as one flag value (up to the first NUL). */
  if (size > 0) {
    size_t nf = sizeof fz_fields / sizeof fz_fields[0] - 1;
    const fl_cfg_field_t *f = &fz_fields[data[0] % nf];
    char *val = malloc(size);
    if (!val)
      return 0;
    memcpy(val, data + 1, size - 1);
    val[size - 1] = '\0';
    rc = fl_cfg_set(&cfg, f->section, f->key, val, "--fuzz", &em);
    if (rc != 0 && rc != FL_ECONFIG)
      abort();
    fl_addr_t a;
    if (fl_addr_parse(&a, val, FL_ADDR_PORT0, NULL) == 0)
      fz_check_addr(&a);
    free(val);
  }
  return 0;
}
