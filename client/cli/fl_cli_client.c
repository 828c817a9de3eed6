/* What the cluster commands (put, get, ls, rm) share: the common options
 * (--coord, --tenant) with their fallbacks (environment, then the client
 * configuration file), and opening the client library with them. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_cli.h"
#include "fl_config.h"

/* The client configuration file: $FILMLESS_CONFIG, else
 * ~/.config/filmless/client.ini (optional). */
typedef struct fl__cli_cfg {
  char coord[1024];
  char tenant[64];
} fl__cli_cfg_t;

static const fl_cfg_field_t fl__cli_fields[] = {
    FL_CFG_STR("client", "coord", fl__cli_cfg_t, coord, "", 0, NULL,
               "coordinator HOST:PORT (or static:K+M:ADDR,... for nodes without one)"),
    FL_CFG_STR("client", "tenant", fl__cli_cfg_t, tenant, "", 0, NULL, "tenant name"),
    FL_CFG_END};

/* Loads the file if there is one; 0 when absent, else its error (printed). */
static int fl__cli_cfg_load(const fl_cli_cmd_t *me, fl__cli_cfg_t *out) {
  memset(out, 0, sizeof *out);
  char path[1024];
  const char *env = getenv("FILMLESS_CONFIG"), *home = getenv("HOME");
  int must = env && env[0];
  if (must)
    snprintf(path, sizeof path, "%s", env);
  else if (home && home[0])
    snprintf(path, sizeof path, "%s/.config/filmless/client.ini", home);
  else
    return 0;
  fl_cfg_t cfg;
  fl_errmsg_t em = {{0}};
  int rc = fl_cfg_init(&cfg, fl__cli_fields, out, &em);
  if (rc == 0)
    rc = fl_cfg_load_file(&cfg, path, &em);
  if (rc == -ENOENT && !must)
    return 0;
  if (rc == 0)
    rc = fl_cfg_finish(&cfg, &em);
  if (rc)
    fprintf(stderr, "filmless %s: configuration %s: %s\n", me->name, path,
            fl_errmsg_str(&em, rc));
  return rc;
}

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
  fl__cli_cfg_t file;
  if (fl__cli_cfg_load(me, &file) != 0)
    return FL_CLI_USAGE;
  const char *env_coord = getenv("FILMLESS_COORD"), *env_tenant = getenv("FILMLESS_TENANT");
  o.coord = co->coord                    ? co->coord
            : env_coord && env_coord[0]  ? env_coord
            : file.coord[0]              ? file.coord
                                         : NULL;
  o.tenant = co->tenant                  ? co->tenant
             : env_tenant && env_tenant[0] ? env_tenant
             : file.tenant[0]            ? file.tenant
                                         : NULL;
  if (!o.coord || !o.coord[0])
    o.coord = FL_CLI_COORD_ADDR_DEFAULT;
  fl_errmsg_t em = {{0}};
  int rc = fl_client_open(out, &o, &em);
  if (rc == -ECONNREFUSED && !co->coord)
    fl_errprefix(&em, rc, "no coordinator given (--coord, FILMLESS_COORD, or coord under "
                          "[client] in ~/.config/filmless/client.ini), tried the default");
  if (rc) {
    fprintf(stderr, "filmless %s: %s: %s\n", me->name, fl_err_name(rc), fl_errmsg_str(&em, rc));
    return FL_CLI_FAIL;
  }
  return FL_CLI_OK;
}

int fl_cli_one_arg(const fl_cli_cmd_t *me, const char *arg, const char **slot) {
  if (arg[0] == '-')
    return fl_cli_usage_error(me, "unknown option '%s'", arg);
  if (*slot)
    return fl_cli_usage_error(me, "unexpected argument '%s'", arg);
  *slot = arg;
  return 0;
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
