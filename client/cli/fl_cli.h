/* The filmless command table: each subcommand is one cmd_<name>.c file
 * defining a run function, plus one line in the table in main.c. */
#ifndef FL_CLI_H
#define FL_CLI_H

#include <stdio.h>

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

/* Prints "filmless <cmd>: <message>" and the hint to use --help, returns
 * FL_CLI_USAGE: the one way a command reports bad arguments. */
int fl_cli_usage_error(const fl_cli_cmd_t *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* True if argv holds -h or --help before any "--". */
int fl_cli_wants_help(int argc, char **argv);

/* Parses a decimal unsigned integer in [0, max]; 0 on success, -1 otherwise. */
int fl_cli_parse_u64(const char *s, unsigned long long max, unsigned long long *out);

#endif
