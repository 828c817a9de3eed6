/* filmless-coord: command line of the coordinator daemon.
 *   filmless-coord [serve] [--config FILE] [--data DIR] [--listen HOST:PORT] ...
 *   filmless-coord --print-config | --help | --version */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_coord.h"
#include "fl_log.h"

#define FL_COORD_VERSION "0.1.0"

static void fl__usage(FILE *out) {
  fprintf(out,
          "usage: filmless-coord [serve] [options]     run the coordinator\n"
          "       filmless-coord --print-config         sample INI with every key\n"
          "\n"
          "options (each also a key of the INI file, see --print-config):\n"
          "  --config FILE         INI configuration file\n");
  for (const fl_cfg_field_t *f = fl_coord_cfg_fields; f->key; f++)
    if (f->flag)
      fprintf(out, "  %-21s %s\n", f->flag, f->help);
  fprintf(out, "\nThe [policy] keys seed a new cluster only; the stored map wins afterwards.\n"
               "The coordinator stops cleanly on SIGTERM or SIGINT.\n"
               "Logs go to stderr; FILMLESS_LOG=debug|info|warn|error sets the level.\n");
}

int main(int argc, char **argv) {
  int argi = 1;
  if (argi < argc && argv[argi][0] != '-') {
    if (strcmp(argv[argi], "serve") != 0) {
      fprintf(stderr, "filmless-coord: unknown command '%s' (try --help)\n", argv[argi]);
      return 2;
    }
    argi++;
  }
  static fl_coord_cfg_t cfg;
  fl_cfg_t c;
  fl_errmsg_t em = {{0}};
  int rc = fl_cfg_init(&c, fl_coord_cfg_fields, &cfg, &em);
  if (rc) {
    fprintf(stderr, "filmless-coord: %s\n", fl_errmsg_str(&em, rc));
    return 1;
  }
  fl_cfg_cli_t cli = {"filmless-coord", FL_COORD_VERSION, fl__usage, NULL, NULL,
                     cfg.log_level};
  if ((rc = fl_cfg_cli_run(&c, &cli, argc, argv, argi)) >= 0)
    return rc;
  fl_map_policy_t pol;
  if ((rc = fl_coord_cfg_policy(&cfg, &pol, &em)) != 0) {
    fprintf(stderr, "filmless-coord: %s\n", fl_errmsg_str(&em, rc));
    return 2;
  }
  if ((rc = fl_coord_run(&cfg, &em)) != 0) {
    fprintf(stderr, "filmless-coord: %s\n", fl_errmsg_str(&em, rc));
    return 1;
  }
  return 0;
}
