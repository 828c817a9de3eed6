/* Generated studies for the client's integration tests: the instances'
 * bytes and identities, kept to compare what reads return. */
#ifndef FL_ITEST_STUDY_H
#define FL_ITEST_STUDY_H

#include <stddef.h>
#include <stdint.h>

#include "filmless.h"
#include "fl_dicom.h"
#include "fl_uid.h"

typedef struct fl_itest_obj {
  uint8_t *buf; /* malloc'd instance bytes */
  size_t len;
  fl_dicom_info_t di;
} fl_itest_obj_t;

typedef struct fl_itest_study {
  fl_itest_obj_t *o;
  size_t n;
  char uid[FL_UID_BUF];
} fl_itest_study_t;

/* Generates n instances of modality (enum fl_gen_modality) from seed;
 * ends the test on failure. fl_itest_study_free releases them. */
void fl_itest_study_make(fl_itest_study_t *s, int modality, uint32_t n, uint64_t seed);
void fl_itest_study_free(fl_itest_study_t *s);

/* The instance with SOP Instance UID sop (borrowed), or NULL. */
fl_itest_obj_t *fl_itest_study_find(fl_itest_study_t *s, const char *sop);

/* An fl_study_instance_cb comparing each delivered instance with what was
 * generated (arg: fl_itest_seen_t, s set, the rest zeroed). */
typedef struct fl_itest_seen {
  fl_itest_study_t *s;
  size_t count; /* instances delivered */
  int bad;      /* of them, differing from what was put */
} fl_itest_seen_t;

int fl_itest_study_check_cb(void *arg, const fl_instance_t *in, const void *data, size_t len);

#endif
