/* The filmless command table: each subcommand is one cmd_<name>.c file
 * defining a run function, plus one line in the table in main.c. */
#ifndef FL_CLI_H
#define FL_CLI_H

#include <stdio.h>

#include "filmless.h"

/* Exit codes every command uses. */
enum { FL_CLI_OK = 0, FL_CLI_FAIL = 1, FL_CLI_USAGE = 2 };

typedef struct fl_cli_cmd {
  const char *name;
  const char *summary;                 /* one line for `filmless --help` */
  const char *usage;                   /* full text for `filmless <cmd> --help` */
  int (*run)(int argc, char **argv);   /* argv[0] is the command name */
} fl_cli_cmd_t;

extern const fl_cli_cmd_t fl_cli_cmd_inspect;
extern const fl_cli_cmd_t fl_cli_cmd_gen;
extern const fl_cli_cmd_t fl_cli_cmd_put;
extern const fl_cli_cmd_t fl_cli_cmd_get;
extern const fl_cli_cmd_t fl_cli_cmd_ls;
extern const fl_cli_cmd_t fl_cli_cmd_rm;
extern const fl_cli_cmd_t fl_cli_cmd_cluster;
extern const fl_cli_cmd_t fl_cli_cmd_node;

/* Prints "filmless <cmd>: <message>" and the hint to use --help, returns
 * FL_CLI_USAGE: the one way a command reports bad arguments. */
int fl_cli_usage_error(const fl_cli_cmd_t *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* True if argv holds -h or --help before any "--". */
int fl_cli_wants_help(int argc, char **argv);

/* Parses a decimal unsigned integer in [0, max]; 0 on success, -1 otherwise. */
int fl_cli_parse_u64(const char *s, unsigned long long max, unsigned long long *out);

/* Matches --name VALUE or --name=VALUE at argv[*i]; advances *i past a
 * separate value. *val is NULL when the value is missing. */
int fl_cli_opt(int argc, char **argv, int *i, const char *name, const char **val);

/* The coordinator's address when none is given. */
#define FL_CLI_COORD_ADDR_DEFAULT "127.0.0.1:7000"

/* Options every cluster command takes. Strings borrowed from argv. */
typedef struct fl_cli_common {
  const char *coord;  /* --coord, else $FILMLESS_COORD, else the config file,
                       * else FL_CLI_COORD_ADDR_DEFAULT */
  const char *tenant; /* --tenant, else $FILMLESS_TENANT, else the file, else "default" */
  int json;           /* --json */
} fl_cli_common_t;

/* Consumes one common option at argv[*i]: returns 1 if it was one (with
 * *rc set to a usage error if its value is missing), 0 otherwise. */
int fl_cli_common_opt(const fl_cli_cmd_t *me, int argc, char **argv, int *i,
                      fl_cli_common_t *co, int *rc);

/* Opens the client library with the common options; prints the error and
 * returns an exit code on failure. */
int fl_cli_client_open(const fl_cli_cmd_t *me, const fl_cli_common_t *co, fl_client_t **out);

/* The one positional argument of a command: an unknown option, or a second
 * argument, is a usage error (returned); otherwise *slot = arg, 0. */
int fl_cli_one_arg(const fl_cli_cmd_t *me, const char *arg, const char **slot);

/* Writes s as a JSON string literal. */
void fl_cli_json_str(FILE *f, const char *s);

/* Help text shared by the cluster commands. */
#define FL_CLI_COMMON_HELP \
  "  --coord HOST:PORT  coordinator (default: $FILMLESS_COORD, else coord in\n" \
  "                     [client] of $FILMLESS_CONFIG or ~/.config/filmless/client.ini,\n" \
  "                     else " FL_CLI_COORD_ADDR_DEFAULT ")\n" \
  "  --tenant NAME      tenant (default: $FILMLESS_TENANT, else the file's tenant,\n" \
  "                     else 'default')\n"

#endif
