/* Synthetic DICOM studies for tests, demos and benchmarks: realistic sizes
 * per modality, a smooth anatomical phantom as pixel data, and UIDs derived
 * from a seed, so the same arguments always give byte-identical files. */
#ifndef FL_GEN_H
#define FL_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "fl_err.h"
#include "fl_uid.h"

enum fl_gen_modality { FL_GEN_CT, FL_GEN_MR, FL_GEN_DX, FL_GEN_MG, FL_GEN_SR };

typedef struct fl_gen_opts {
  int modality;           /* enum fl_gen_modality */
  uint32_t instances;     /* 0: the modality's default (CT 300, MR 200, others 1) */
  uint32_t frames;        /* MG only; 0: default 40 frames per instance */
  uint64_t seed;
  const char *study_uid;  /* borrowed; NULL: derived from the seed */
  const char *patient_id; /* borrowed; NULL: derived from the seed */
} fl_gen_opts_t;

/* "CT", "MR", "DX", "MG", "SR" (any case) -> *out. 0 or FL_ECONFIG. */
int fl_gen_modality_parse(const char *name, int *out);
const char *fl_gen_modality_name(int modality);

/* Checks the options (valid UID, patient ID of at most 64 printable
 * characters without a backslash, sane counts). 0 or FL_ECONFIG/FL_EUID. */
int fl_gen_opts_check(const fl_gen_opts_t *o, fl_errmsg_t *em);

/* Number of instances the options produce. */
uint32_t fl_gen_instance_count(const fl_gen_opts_t *o);

/* The StudyInstanceUID the options give (o->study_uid, or the one derived
 * from the seed) into out. Call after fl_gen_opts_check succeeded. */
void fl_gen_study_uid(const fl_gen_opts_t *o, char out[FL_UID_BUF]);

/* Builds instance index (0-based) of the study in memory: a complete Part-10
 * file. On success *out is a malloc'd buffer handed to the caller (free()) of
 * *len bytes. Pure: no I/O, same bytes for the same options. */
int fl_gen_instance(const fl_gen_opts_t *o, uint32_t index, uint8_t **out, size_t *len,
                    fl_errmsg_t *em);

/* Writes every instance to dir (created if missing; its parent must exist)
 * as <modality>_<NNNNN>.dcm, reusing one pixel buffer and writing header and
 * pixels with one writev per file. Returns 0, a negative errno naming the
 * file in em, or an option error. *bytes (if non-NULL) gets the total
 * written. */
int fl_gen_study(const fl_gen_opts_t *o, const char *dir, uint64_t *bytes, fl_errmsg_t *em);

#endif
