/* filmless get: fetches a whole study into a folder, one verified
 * <SOPInstanceUID>.dcm per instance. */
#include <stdio.h>
#include <string.h>

#include "fl_cli.h"

static int fl__get_run(int argc, char **argv) {
  const fl_cli_cmd_t *me = &fl_cli_cmd_get;
  fl_cli_common_t co = {0};
  const char *out = NULL, *study = NULL, *v;
  int rc;
  for (int i = 1; i < argc; i++) {
    if (fl_cli_common_opt(me, argc, argv, &i, &co, &rc)) {
      if (rc)
        return rc;
    } else if (fl_cli_opt(argc, argv, &i, "-o", &v) || fl_cli_opt(argc, argv, &i, "--out", &v)) {
      if (!v || !v[0])
        return fl_cli_usage_error(me, "-o needs a directory");
      out = v;
    } else if ((rc = fl_cli_one_arg(me, argv[i], &study)) != 0) {
      return rc;
    }
  }
  if (!study)
    return fl_cli_usage_error(me, "give a Study Instance UID");
  if (!out)
    return fl_cli_usage_error(me, "-o DIR is required");
  fl_client_t *cl;
  if ((rc = fl_cli_client_open(me, &co, &cl)) != FL_CLI_OK)
    return rc;
  fl_study_get_stats_t st;
  fl_errmsg_t em = {{0}};
  double t0 = 0;
  (void)t0;
  rc = fl_study_get_to_dir(cl, study, out, &st, &em);
  fl_client_close(cl);
  if (rc) {
    fprintf(stderr, "filmless get: %s: %s\n", fl_err_name(rc), fl_errmsg_str(&em, rc));
    if (st.instances)
      fprintf(stderr, "filmless get: %llu instance(s) written, %llu failed\n",
              (unsigned long long)st.instances, (unsigned long long)st.failed);
    return FL_CLI_FAIL;
  }
  printf("get: %llu instances, %.1f MB written to %s (first after %.1f ms)\n",
         (unsigned long long)st.instances, st.bytes / 1e6, out, st.first_ms);
  return FL_CLI_OK;
}

const fl_cli_cmd_t fl_cli_cmd_get = {
    "get", "fetch a study into a folder",
    "usage: filmless get [options] STUDY_UID -o DIR\n"
    "\n"
    "Writes every instance of the study to DIR/<SOPInstanceUID>.dcm, byte for\n"
    "byte as stored, each verified against its checksums. Works with up to m\n"
    "storage nodes of the study's group down.\n"
    "\n"
    "options:\n" FL_CLI_COMMON_HELP
    "  -o, --out DIR      destination folder (created if missing)\n",
    fl__get_run};
