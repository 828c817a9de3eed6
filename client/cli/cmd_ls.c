/* filmless ls: the tenant's studies, or one study's series and instances;
 * text or --json. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_cli.h"

static int fl__ls_studies(fl_client_t *cl, int json) {
  fl_study_summary_t *s;
  size_t n;
  unsigned down = 0;
  fl_errmsg_t em = {{0}};
  int rc = fl_client_list_studies(cl, &s, &n, &down, &em);
  if (rc) {
    fprintf(stderr, "filmless ls: %s: %s\n", fl_err_name(rc), fl_errmsg_str(&em, rc));
    return FL_CLI_FAIL;
  }
  if (json) {
    printf("[");
    for (size_t i = 0; i < n; i++) {
      printf("%s{\"study_uid\":", i ? "," : "");
      fl_cli_json_str(stdout, s[i].study_uid);
      printf(",\"study_date\":");
      fl_cli_json_str(stdout, s[i].study_date);
      printf(",\"modality\":");
      fl_cli_json_str(stdout, s[i].modality);
      printf("}");
    }
    printf("]\n");
  } else {
    for (size_t i = 0; i < n; i++)
      printf("%-64s  %-8s  %s\n", s[i].study_uid, s[i].study_date[0] ? s[i].study_date : "-",
             s[i].modality[0] ? s[i].modality : "-");
    printf("%zu stud%s\n", n, n == 1 ? "y" : "ies");
  }
  if (down)
    fprintf(stderr, "filmless ls: %u node(s) did not answer; the list may be incomplete\n",
            down);
  free(s);
  return FL_CLI_OK;
}

static int fl__ls_study(fl_client_t *cl, const char *study, int json) {
  fl_study_listing_t l;
  fl_errmsg_t em = {{0}};
  int rc = fl_study_list(cl, study, &l, &em);
  if (rc) {
    fprintf(stderr, "filmless ls: %s: %s\n", fl_err_name(rc), fl_errmsg_str(&em, rc));
    return FL_CLI_FAIL;
  }
  if (json) {
    printf("{\"study_uid\":");
    fl_cli_json_str(stdout, study);
    printf(",\"instances\":[");
    for (size_t i = 0; i < l.count; i++) {
      const fl_instance_t *x = &l.inst[i];
      printf("%s{\"series_uid\":", i ? "," : "");
      fl_cli_json_str(stdout, x->series_uid);
      printf(",\"sop_uid\":");
      fl_cli_json_str(stdout, x->sop_uid);
      printf(",\"sop_class_uid\":");
      fl_cli_json_str(stdout, x->sop_class_uid);
      printf(",\"modality\":");
      fl_cli_json_str(stdout, x->modality);
      printf(",\"series_number\":%d,\"instance_number\":%d,\"size\":%" PRIu64
             ",\"replicated\":%s,\"fragments\":%u,\"fragments_total\":%u}",
             (int)x->series_number, (int)x->instance_number, x->size,
             x->replicated ? "true" : "false", x->frags_present, x->frags_total);
    }
    printf("]}\n");
  } else {
    const char *series = "";
    uint64_t total = 0;
    for (size_t i = 0; i < l.count; i++) {
      const fl_instance_t *x = &l.inst[i];
      if (strcmp(series, x->series_uid) != 0) {
        series = x->series_uid;
        printf("series %s  (#%d, %s)\n", series, (int)x->series_number,
               x->modality[0] ? x->modality : "-");
      }
      printf("  %-64s  #%-5d %10" PRIu64 " B  %u/%u %s\n", x->sop_uid, (int)x->instance_number,
             x->size, x->frags_present, x->frags_total, x->replicated ? "replicas" : "fragments");
      total += x->size;
    }
    printf("%zu instance(s), %.1f MB\n", l.count, total / 1e6);
  }
  if (l.nodes_down)
    fprintf(stderr, "filmless ls: %u node(s) of the study's group did not answer\n",
            l.nodes_down);
  fl_study_listing_free(&l);
  return FL_CLI_OK;
}

static int fl__ls_run(int argc, char **argv) {
  const fl_cli_cmd_t *me = &fl_cli_cmd_ls;
  fl_cli_common_t co = {0};
  const char *study = NULL;
  int rc;
  for (int i = 1; i < argc; i++) {
    if (fl_cli_common_opt(me, argc, argv, &i, &co, &rc)) {
      if (rc)
        return rc;
    } else if ((rc = fl_cli_one_arg(me, argv[i], &study)) != 0) {
      return rc;
    }
  }
  fl_client_t *cl;
  if ((rc = fl_cli_client_open(me, &co, &cl)) != FL_CLI_OK)
    return rc;
  rc = study ? fl__ls_study(cl, study, co.json) : fl__ls_studies(cl, co.json);
  fl_client_close(cl);
  return rc;
}

const fl_cli_cmd_t fl_cli_cmd_ls = {
    "ls", "list studies, or a study's series and instances",
    "usage: filmless ls [options] [STUDY_UID]\n"
    "\n"
    "Without a study: the tenant's studies (UID, date, modality). With one: its\n"
    "series and instances with sizes and how many fragments were found. An\n"
    "instance is listed once enough fragments are stored to read it back.\n"
    "\n"
    "options:\n" FL_CLI_COMMON_HELP
    "  --json             one JSON document on stdout\n",
    fl__ls_run};
