/* filmless-node: command line of the storage node daemon.
 *   filmless-node [serve] [--config FILE] [--data DIR] [--listen HOST:PORT] ...
 *   filmless-node rebuild-index --data DIR [--discard-old]
 *   filmless-node verify-index --data DIR
 *   filmless-node --print-config | --help | --version */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_log.h"
#include "fl_mem.h"
#include "fl_node.h"

#define FL_NODE_VERSION "0.1.0"

static void fl__usage(FILE *out) {
  fprintf(out,
          "usage: filmless-node [serve] [options]      run the storage node\n"
          "       filmless-node rebuild-index [options] [--discard-old]\n"
          "                                             rebuild the index from the volumes\n"
          "       filmless-node verify-index [options]  rebuild into a scratch index and\n"
          "                                             compare it with the live one\n"
          "       filmless-node --print-config          sample INI with every key\n"
          "\n"
          "options (each also a key of the INI file, see --print-config):\n"
          "  --config FILE       INI configuration file\n");
  for (const fl_cfg_field_t *f = fl_node_cfg_fields; f->key; f++)
    if (f->flag)
      fprintf(out, "  %-19s %s\n", f->flag, f->help);
  fprintf(out, "\nThe node stops cleanly on SIGTERM or SIGINT, finishing writes in flight.\n"
               "Logs go to stderr; FILMLESS_LOG=debug|info|warn|error sets the level.\n");
}

/* rebuild-index's own switch. */
static int fl__own_switch(void *ctx, const char *arg) {
  if (strcmp(arg, "--discard-old") != 0)
    return 0;
  *(int *)ctx = 1;
  return 1;
}

int main(int argc, char **argv) {
  const char *cmd = "serve";
  int argi = 1, discard_old = 0;
  fl_mem_tune();
  if (argi < argc && argv[argi][0] != '-')
    cmd = argv[argi++];
  if (strcmp(cmd, "serve") && strcmp(cmd, "rebuild-index") && strcmp(cmd, "verify-index")) {
    fprintf(stderr, "filmless-node: unknown command '%s' (try --help)\n", cmd);
    return 2;
  }
  static fl_node_cfg_t cfg;
  fl_cfg_t c;
  fl_errmsg_t em = {{0}};
  int rc = fl_cfg_init(&c, fl_node_cfg_fields, &cfg, &em);
  if (rc) {
    fprintf(stderr, "filmless-node: %s\n", fl_errmsg_str(&em, rc));
    return 1;
  }
  fl_cfg_cli_t cli = {"filmless-node", FL_NODE_VERSION, fl__usage, NULL, NULL, cfg.log_level};
  if (!strcmp(cmd, "rebuild-index")) {
    cli.own = fl__own_switch;
    cli.ctx = &discard_old;
  }
  if ((rc = fl_cfg_cli_run(&c, &cli, argc, argv, argi)) >= 0)
    return rc;
  if (!strcmp(cmd, "serve")) {
    rc = fl_node_run(&cfg, &em);
  } else {
    fl_store_opts_t so;
    memset(&so, 0, sizeof so);
    so.volume_max_bytes = cfg.volume_max;
    so.idx.block_cache_bytes = cfg.index_cache;
    uint64_t records = 0;
    if (!strcmp(cmd, "rebuild-index")) {
      rc = fl_store_rebuild_index(cfg.data, &so, discard_old, &records, &em);
      if (rc == 0)
        printf("rebuilt the index of %s from %" PRIu64 " volume records\n", cfg.data, records);
    } else {
      fl_idx_diff_t d;
      rc = fl_store_verify_index(cfg.data, &so, &records, &d, &em);
      if (rc == 0) {
        printf("index of %s against %" PRIu64 " volume records: %" PRIu64 " equal, %" PRIu64
               " only in the index, %" PRIu64 " only in the volumes, %" PRIu64 " different\n",
               cfg.data, records, d.equal, d.only_a, d.only_b, d.differ);
        if (d.only_a || d.only_b || d.differ)
          return 1;
      }
    }
  }
  if (rc) {
    fprintf(stderr, "filmless-node: %s\n", fl_errmsg_str(&em, rc));
    return 1;
  }
  return 0;
}
