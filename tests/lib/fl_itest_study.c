/* Implementation of the generated-study helpers of the client tests. */
#include "fl_itest_study.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_gen.h"
#include "fl_test.h"

void fl_itest_study_make(fl_itest_study_t *s, int modality, uint32_t n, uint64_t seed) {
  fl_gen_opts_t g = {0};
  g.modality = modality;
  g.instances = n;
  g.seed = seed;
  FL_CHECK_OK(fl_gen_opts_check(&g, NULL));
  s->n = fl_gen_instance_count(&g);
  s->o = calloc(s->n, sizeof *s->o);
  FL_CHECK(s->o != NULL);
  fl_gen_study_uid(&g, s->uid);
  for (size_t i = 0; i < s->n; i++) {
    FL_CHECK_OK(fl_gen_instance(&g, (uint32_t)i, &s->o[i].buf, &s->o[i].len, NULL));
    FL_CHECK_OK(fl_dicom_parse(s->o[i].buf, s->o[i].len, &s->o[i].di, NULL));
  }
}

void fl_itest_study_free(fl_itest_study_t *s) {
  for (size_t i = 0; i < s->n; i++)
    free(s->o[i].buf);
  free(s->o);
  s->o = NULL;
  s->n = 0;
}

fl_itest_obj_t *fl_itest_study_find(fl_itest_study_t *s, const char *sop) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->o[i].di.sop_uid, sop) == 0)
      return &s->o[i];
  return NULL;
}

int fl_itest_study_check_cb(void *arg, const fl_instance_t *in, const void *data, size_t len) {
  fl_itest_seen_t *v = arg;
  fl_itest_obj_t *o = fl_itest_study_find(v->s, in->sop_uid);
  if (!o || o->len != len || memcmp(o->buf, data, len) != 0 || in->size != len) {
    fprintf(stderr, "instance %s differs from what was put\n", in->sop_uid);
    v->bad++;
  }
  v->count++;
  return 0;
}
