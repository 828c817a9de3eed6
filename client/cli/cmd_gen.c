/* filmless gen: writes a synthetic study (the generator lives in the client
 * library, fl_gen.c); this file only parses arguments. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fl_cli.h"
#include "fl_gen.h"

static int fl__gen_run(int argc, char **argv) {
  const fl_cli_cmd_t *me = &fl_cli_cmd_gen;
  fl_gen_opts_t o = {0};
  const char *modality = NULL, *out = NULL, *v;
  unsigned long long n;
  for (int i = 1; i < argc; i++) {
    if (fl_cli_opt(argc, argv, &i, "--modality", &v)) {
      if (!v)
        return fl_cli_usage_error(me, "--modality needs a value");
      modality = v;
    } else if (fl_cli_opt(argc, argv, &i, "--out", &v)) {
      if (!v || !v[0])
        return fl_cli_usage_error(me, "--out needs a directory");
      out = v;
    } else if (fl_cli_opt(argc, argv, &i, "--instances", &v)) {
      if (fl_cli_parse_u64(v, 100000, &n) != 0 || n == 0)
        return fl_cli_usage_error(me, "--instances needs a number from 1 to 100000");
      o.instances = (uint32_t)n;
    } else if (fl_cli_opt(argc, argv, &i, "--frames", &v)) {
      if (fl_cli_parse_u64(v, 1000, &n) != 0 || n == 0)
        return fl_cli_usage_error(me, "--frames needs a number from 1 to 1000");
      o.frames = (uint32_t)n;
    } else if (fl_cli_opt(argc, argv, &i, "--seed", &v)) {
      if (fl_cli_parse_u64(v, UINT64_MAX, &n) != 0)
        return fl_cli_usage_error(me, "--seed needs a non-negative integer");
      o.seed = n;
    } else if (fl_cli_opt(argc, argv, &i, "--study-uid", &v)) {
      if (!v)
        return fl_cli_usage_error(me, "--study-uid needs a UID");
      o.study_uid = v;
    } else if (fl_cli_opt(argc, argv, &i, "--patient-id", &v)) {
      if (!v)
        return fl_cli_usage_error(me, "--patient-id needs a value");
      o.patient_id = v;
    } else if (argv[i][0] == '-') {
      return fl_cli_usage_error(me, "unknown option '%s'", argv[i]);
    } else {
      return fl_cli_usage_error(me, "unexpected argument '%s'", argv[i]);
    }
  }
  if (!modality)
    return fl_cli_usage_error(me, "--modality is required (CT, MR, DX, MG or SR)");
  if (!out)
    return fl_cli_usage_error(me, "--out DIR is required");
  if (fl_gen_modality_parse(modality, &o.modality) != 0)
    return fl_cli_usage_error(me, "unknown modality '%s' (use CT, MR, DX, MG or SR)", modality);
  if (o.frames && o.modality != FL_GEN_MG)
    return fl_cli_usage_error(me, "--frames applies to MG only");
  fl_errmsg_t em = {{0}};
  int rc = fl_gen_opts_check(&o, &em);
  if (rc != 0)
    return fl_cli_usage_error(me, "%s", fl_errmsg_str(&em, rc));
  uint64_t bytes = 0;
  rc = fl_gen_study(&o, out, &bytes, &em);
  if (rc != 0) {
    fprintf(stderr, "filmless gen: %s: %s\n", fl_err_name(rc), fl_errmsg_str(&em, rc));
    return FL_CLI_FAIL;
  }
  char uid[FL_UID_BUF];
  fl_gen_study_uid(&o, uid);
  printf("%s: %" PRIu32 " %s instance(s), %" PRIu64 " bytes, study %s\n", out,
         fl_gen_instance_count(&o), fl_gen_modality_name(o.modality), bytes, uid);
  return FL_CLI_OK;
}

const fl_cli_cmd_t fl_cli_cmd_gen = {
    "gen",
    "write a synthetic DICOM study (for tests, demos and benchmarks)",
    "usage: filmless gen --modality CT|MR|DX|MG|SR --out DIR [--instances N]\n"
    "                    [--seed S] [--study-uid UID] [--patient-id ID] [--frames N]\n\n"
    "Writes one series of Part-10 files (explicit VR little endian) into DIR,\n"
    "named <modality>_<NNNNN>.dcm, all with one StudyInstanceUID. The same\n"
    "arguments always give byte-identical files.\n\n"
    "  --modality M     CT: 300 x 512x512 16-bit slices (~0.5 MB each)\n"
    "                   MR: 200 x 256x256 16-bit slices (~130 KB each)\n"
    "                   DX: one 3888x3888 16-bit radiograph (~30 MB)\n"
    "                   MG: one breast tomosynthesis instance, 40 frames of\n"
    "                       1280x1024 16-bit (~105 MB)\n"
    "                   SR: one Basic Text SR report (a few KB)\n"
    "  --out DIR        output directory (created if missing)\n"
    "  --instances N    number of instances instead of the modality's default\n"
    "  --frames N       MG only: frames per instance (default 40)\n"
    "  --seed S         seed for UIDs, names, dates and noise (default 0)\n"
    "  --study-uid UID  use this StudyInstanceUID instead of one from the seed\n"
    "  --patient-id ID  use this PatientID instead of one from the seed\n",
    fl__gen_run,
};
