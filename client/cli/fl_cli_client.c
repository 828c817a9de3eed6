/* What the cluster commands (put, get, ls, rm) share: the common options
 * (--coord, --tenant) with their environment fallbacks, and opening the
 * client library with them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_cli.h"

int fl_cli_opt(int argc, char **argv, int *i, const char *name, const char **val) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n) != 0)
    return 0;
  if (argv[*i][n] == '=') {
    *val = argv[*i] + n + 1;
    return 1;
  }
  if (argv[*i][n] != '\0')
    return 0;
  *val = *i + 1 < argc ? argv[++*i] : NULL;
  return 1;
}

int fl_cli_common_opt(const fl_cli_cmd_t *me, int argc, char **argv, int *i,
                      fl_cli_common_t *co, int *rc) {
  const char *v;
  *rc = 0;
  if (fl_cli_opt(argc, argv, i, "--coord", &v)) {
    if (!v || !v[0])
      *rc = fl_cli_usage_error(me, "--coord needs HOST:PORT");
    co->coord = v;
    return 1;
  }
  if (fl_cli_opt(argc, argv, i, "--tenant", &v)) {
    if (!v || !v[0])
      *rc = fl_cli_usage_error(me, "--tenant needs a name");
    co->tenant = v;
    return 1;
  }
  if (strcmp(argv[*i], "--json") == 0) {
    co->json = 1;
    return 1;
  }
  return 0;
}

int fl_cli_client_open(const fl_cli_cmd_t *me, const fl_cli_common_t *co, fl_client_t **out) {
  fl_client_opts_t o;
  memset(&o, 0, sizeof o);
  o.coord = co->coord ? co->coord : getenv("FILMLESS_COORD");
  o.tenant = co->tenant ? co->tenant : getenv("FILMLESS_TENANT");
  if (!o.coord || !o.coord[0]) {
    fprintf(stderr,
            "filmless %s: no cluster given: use --coord HOST:PORT or set FILMLESS_COORD "
            "(scripts/cluster.sh start prints it)\n",
            me->name);
    return FL_CLI_USAGE;
  }
  fl_errmsg_t em = {{0}};
  int rc = fl_client_open(out, &o, &em);
  if (rc) {
    fprintf(stderr, "filmless %s: %s: %s\n", me->name, fl_err_name(rc), fl_errmsg_str(&em, rc));
    return FL_CLI_FAIL;
  }
  return FL_CLI_OK;
}

void fl_cli_json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      fprintf(f, "\\%c", ch);
    else if (ch < 0x20)
      fprintf(f, "\\u%04x", ch);
    else
      fputc(ch, f);
  }
  fputc('"', f);
}
