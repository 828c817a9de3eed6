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
  for (int i = argi; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fl__usage(stdout);
      return 0;
    }
    if (!strcmp(a, "--version")) {
      printf("filmless-coord %s\n", FL_COORD_VERSION);
      return 0;
    }
    if (!strcmp(a, "--print-config"))
      return fl_cfg_print_defaults(fl_coord_cfg_fields, stdout) ? 1 : 0;
    if ((rc = fl_cfg_apply_arg(&c, argc, argv, &i, &em)) != 0) {
      fprintf(stderr, "filmless-coord: %s\n", fl_errmsg_str(&em, rc));
      return 2;
    }
  }
  fl_map_policy_t pol;
  if ((rc = fl_cfg_finish(&c, &em)) != 0 || (rc = fl_coord_cfg_policy(&cfg, &pol, &em)) != 0) {
    fprintf(stderr, "filmless-coord: %s\n", fl_errmsg_str(&em, rc));
    return 2;
  }
  if (!getenv("FILMLESS_LOG")) {
    int lvl = fl_log_level_parse(cfg.log_level);
    if (lvl < 0) {
      fprintf(stderr, "filmless-coord: log_level '%s' is not debug, info, warn or error\n",
              cfg.log_level);
      return 2;
    }
    fl_log_set_level(lvl);
  }
  if ((rc = fl_coord_run(&cfg, &em)) != 0) {
    fprintf(stderr, "filmless-coord: %s\n", fl_errmsg_str(&em, rc));
    return 1;
  }
  return 0;
}
