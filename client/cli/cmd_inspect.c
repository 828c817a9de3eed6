/* filmless inspect: prints what the DICOM shim reads from each file (the
 * identity an object would be stored under), as text or JSON. Exit 0 only if
 * every file parsed; each bad file gets one line on stderr. */
#include <stdio.h>
#include <string.h>

#include "fl_cli.h"
#include "fl_dicom.h"

/* JSON string body: bytes >= 0x80 are taken as Latin-1 (ISO_IR 100, the
 * usual character set) so the output is always valid UTF-8 JSON. */
static void fl__json_str(const char *s) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      printf("\\%c", *p);
    else if (*p < 0x20 || *p >= 0x7f)
      printf("\\u%04x", *p);
    else
      putchar(*p);
  }
  putchar('"');
}

static void fl__json_kv(const char *k, const char *v, int last) {
  printf("    \"%s\": ", k);
  fl__json_str(v);
  printf("%s\n", last ? "" : ",");
}

static void fl__print_json(const char *path, const fl_dicom_info_t *d) {
  printf("  {\n");
  fl__json_kv("file", path, 0);
  printf("    \"ok\": true,\n");
  fl__json_kv("study_uid", d->study_uid, 0);
  fl__json_kv("series_uid", d->series_uid, 0);
  fl__json_kv("sop_uid", d->sop_uid, 0);
  fl__json_kv("sop_class_uid", d->sop_class_uid, 0);
  fl__json_kv("transfer_syntax_uid", d->transfer_syntax_uid, 0);
  fl__json_kv("patient_id", d->patient_id, 0);
  fl__json_kv("patient_name", d->patient_name, 0);
  fl__json_kv("study_date", d->study_date, 0);
  fl__json_kv("modality", d->modality, 0);
  fl__json_kv("accession_number", d->accession_number, 0);
  printf("    \"number_of_frames\": %d,\n", (int)d->number_of_frames);
  printf("    \"series_number\": %d,\n", (int)d->series_number);
  printf("    \"instance_number\": %d,\n", (int)d->instance_number);
  printf("    \"has_part10\": %s,\n", d->has_part10 ? "true" : "false");
  printf("    \"has_pixel_data\": %s\n", d->has_pixel_data ? "true" : "false");
  printf("  }");
}

static void fl__print_text(const char *path, const fl_dicom_info_t *d) {
  printf("%s\n"
         "  study_uid         %s\n"
         "  series_uid        %s\n"
         "  sop_uid           %s\n"
         "  sop_class_uid     %s\n"
         "  transfer_syntax   %s\n"
         "  patient_id        %s\n"
         "  patient_name      %s\n"
         "  study_date        %s\n"
         "  modality          %s\n"
         "  accession_number  %s\n"
         "  frames            %d\n"
         "  series_number     %d\n"
         "  instance_number   %d\n"
         "  part10            %s\n"
         "  pixel_data        %s\n",
         path, d->study_uid, d->series_uid, d->sop_uid, d->sop_class_uid,
         d->transfer_syntax_uid, d->patient_id, d->patient_name, d->study_date, d->modality,
         d->accession_number, (int)d->number_of_frames, (int)d->series_number,
         (int)d->instance_number, d->has_part10 ? "yes" : "no",
         d->has_pixel_data ? "yes" : "no");
}

static int fl__inspect_run(int argc, char **argv) {
  int json = 0, nfiles = 0, failed = 0, first = 1, opts = 1;
  for (int i = 1; i < argc; i++) {
    if (opts && strcmp(argv[i], "--") == 0)
      opts = 0;
    else if (opts && strcmp(argv[i], "--json") == 0)
      json = 1;
    else if (opts && argv[i][0] == '-' && argv[i][1] != '\0')
      return fl_cli_usage_error(&fl_cli_cmd_inspect, "unknown option '%s'", argv[i]);
    else
      nfiles++;
  }
  if (nfiles == 0)
    return fl_cli_usage_error(&fl_cli_cmd_inspect, "no FILE given");
  if (json)
    printf("[\n");
  opts = 1;
  for (int i = 1; i < argc; i++) {
    if (opts && strcmp(argv[i], "--") == 0) {
      opts = 0;
      continue;
    }
    if (opts && strcmp(argv[i], "--json") == 0)
      continue;
    fl_dicom_info_t d;
    fl_errmsg_t em = {{0}};
    int rc = fl_dicom_parse_file(argv[i], &d, &em);
    if (rc != 0) {
      failed++;
      fprintf(stderr, "filmless inspect: %s: %s: %s\n", argv[i], fl_err_name(rc),
              fl_errmsg_str(&em, rc));
      if (json) {
        printf("%s  {\n", first ? "" : ",\n");
        fl__json_kv("file", argv[i], 0);
        printf("    \"ok\": false,\n");
        fl__json_kv("error", fl_err_name(rc), 0);
        fl__json_kv("message", fl_errmsg_str(&em, rc), 1);
        printf("  }");
        first = 0;
      }
      continue;
    }
    if (json) {
      printf("%s", first ? "" : ",\n");
      fl__print_json(argv[i], &d);
    } else {
      fl__print_text(argv[i], &d);
    }
    first = 0;
  }
  if (json)
    printf("\n]\n");
  return failed ? FL_CLI_FAIL : FL_CLI_OK;
}

const fl_cli_cmd_t fl_cli_cmd_inspect = {
    "inspect",
    "print the DICOM identity and attributes of files",
    "usage: filmless inspect [--json] FILE...\n\n"
    "Reads each FILE with the DICOM shim (headers only, Pixel Data is not loaded)\n"
    "and prints its Study/Series/SOP Instance UIDs, SOP Class, transfer syntax,\n"
    "patient, date, modality, accession number and frame count.\n\n"
    "  --json   one JSON array with an object per file (\"ok\": false and the\n"
    "           error for a file that could not be read)\n\n"
    "Exit status: 0 if every file parsed, 1 if any did not (each gets one line\n"
    "on stderr naming the file and the problem), 2 on bad arguments.\n",
    fl__inspect_run,
};
