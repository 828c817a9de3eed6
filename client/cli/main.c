/* filmless: the command-line tool. main only dispatches `filmless <command>
 * [args]` through the command table; each command parses its own arguments
 * and calls the client library. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_cli.h"

#define FL_VERSION "0.1.0"

static const fl_cli_cmd_t *const fl__cmds[] = {
    &fl_cli_cmd_gen,
    &fl_cli_cmd_inspect,
    &fl_cli_cmd_put,
    &fl_cli_cmd_get,
    &fl_cli_cmd_ls,
    &fl_cli_cmd_rm,
    &fl_cli_cmd_cluster,
    &fl_cli_cmd_node,
};

#define FL__NCMDS (sizeof fl__cmds / sizeof fl__cmds[0])

int fl_cli_usage_error(const fl_cli_cmd_t *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "filmless%s%s: ", cmd ? " " : "", cmd ? cmd->name : "");
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry 'filmless %s%s--help'.\n", cmd ? cmd->name : "", cmd ? " " : "");
  return FL_CLI_USAGE;
}

int fl_cli_wants_help(int argc, char **argv) {
  for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
      return 1;
  return 0;
}

int fl_cli_parse_u64(const char *s, unsigned long long max, unsigned long long *out) {
  if (!s || s[0] < '0' || s[0] > '9')
    return -1;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end != '\0' || v > max)
    return -1;
  *out = v;
  return 0;
}

static void fl__help(FILE *f) {
  fprintf(f, "usage: filmless <command> [args]\n       filmless --help | --version\n\n"
             "commands:\n");
  for (size_t i = 0; i < FL__NCMDS; i++)
    fprintf(f, "  %-10s %s\n", fl__cmds[i]->name, fl__cmds[i]->summary);
  fprintf(f, "\n'filmless <command> --help' describes one command.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fl__help(stderr);
    return FL_CLI_USAGE;
  }
  const char *name = argv[1];
  if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
    fl__help(stdout);
    return FL_CLI_OK;
  }
  if (strcmp(name, "--version") == 0) {
    printf("filmless %s\n", FL_VERSION);
    return FL_CLI_OK;
  }
  for (size_t i = 0; i < FL__NCMDS; i++) {
    const fl_cli_cmd_t *c = fl__cmds[i];
    if (strcmp(name, c->name) != 0)
      continue;
    if (fl_cli_wants_help(argc - 1, argv + 1)) {
      fputs(c->usage, stdout);
      return FL_CLI_OK;
    }
    return c->run(argc - 1, argv + 1);
  }
  if (name[0] == '-')
    return fl_cli_usage_error(NULL, "unknown option '%s'", name);
  return fl_cli_usage_error(NULL, "unknown command '%s'", name);
}
