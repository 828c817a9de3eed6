/* filmless rm: deletes a whole study, after a confirmation unless --yes. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fl_cli.h"

static int fl__rm_run(int argc, char **argv) {
  const fl_cli_cmd_t *me = &fl_cli_cmd_rm;
  fl_cli_common_t co = {0};
  const char *study = NULL;
  int yes = 0, rc;
  for (int i = 1; i < argc; i++) {
    if (fl_cli_common_opt(me, argc, argv, &i, &co, &rc)) {
      if (rc)
        return rc;
    } else if (strcmp(argv[i], "--yes") == 0 || strcmp(argv[i], "-y") == 0) {
      yes = 1;
    } else if ((rc = fl_cli_one_arg(me, argv[i], &study)) != 0) {
      return rc;
    }
  }
  if (!study)
    return fl_cli_usage_error(me, "give a Study Instance UID");
  fl_client_t *cl;
  if ((rc = fl_cli_client_open(me, &co, &cl)) != FL_CLI_OK)
    return rc;
  fl_errmsg_t em = {{0}};
  if (!yes) {
    fl_study_listing_t l;
    rc = fl_study_list(cl, study, &l, &em);
    if (rc) {
      fprintf(stderr, "filmless rm: %s: %s\n", fl_err_name(rc), fl_errmsg_str(&em, rc));
      fl_client_close(cl);
      return FL_CLI_FAIL;
    }
    size_t n = l.count;
    fl_study_listing_free(&l);
    if (!isatty(0)) {
      fprintf(stderr, "filmless rm: not a terminal: confirm with --yes\n");
      fl_client_close(cl);
      return FL_CLI_USAGE;
    }
    fprintf(stderr, "Delete study %s (%zu instances)? [y/N] ", study, n);
    char line[16];
    if (!fgets(line, sizeof line, stdin) || (line[0] != 'y' && line[0] != 'Y')) {
      fprintf(stderr, "nothing deleted\n");
      fl_client_close(cl);
      return FL_CLI_FAIL;
    }
  }
  uint64_t n = 0;
  rc = fl_study_delete(cl, study, &n, &em);
  fl_client_close(cl);
  if (rc) {
    fprintf(stderr, "filmless rm: %s: %s\n", fl_err_name(rc), fl_errmsg_str(&em, rc));
    return FL_CLI_FAIL;
  }
  printf("rm: study %s deleted (%llu instances)\n", study, (unsigned long long)n);
  return FL_CLI_OK;
}

const fl_cli_cmd_t fl_cli_cmd_rm = {
    "rm", "delete a study",
    "usage: filmless rm [options] STUDY_UID\n"
    "\n"
    "Deletes every instance of the study on every node of its group. Asks\n"
    "first unless --yes. Nodes that are down keep their fragments: the command\n"
    "then fails and can be run again when they are back.\n"
    "\n"
    "options:\n" FL_CLI_COMMON_HELP
    "  -y, --yes          do not ask\n",
    fl__rm_run};
