/* Test data for cluster integration tests: synthetic DICOM studies (fl_gen)
 * kept in memory with their identities, put through libfilmless, read back
 * and compared byte for byte, once or continuously from a reader thread. */
#ifndef FL_ITEST_DATA_H
#define FL_ITEST_DATA_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "filmless.h"
#include "fl_uid.h"

typedef struct fl_itest_obj {
  uint8_t *buf;                 /* the instance's bytes (owned) */
  size_t len;
  char study[FL_UID_BUF], series[FL_UID_BUF], sop[FL_UID_BUF];
  int put_rc;                   /* result of the last put; 1 = never put */
} fl_itest_obj_t;

typedef struct fl_itest_data {
  fl_itest_obj_t *o;
  size_t n, cap;
  uint64_t bytes;
} fl_itest_data_t;

/* Appends `studies` studies of `per_study` instances of modality
 * (enum fl_gen_modality), study s generated with seed + s. 0 or the
 * generator's / parser's error. */
int fl_itest_data_gen(fl_itest_data_t *d, int modality, uint32_t studies, uint32_t per_study,
                      uint64_t seed);

void fl_itest_data_free(fl_itest_data_t *d);

/* Puts objects [from, to) with `threads` threads (1..32), each result in
 * its put_rc; *done (may be NULL) counts finished puts as they happen.
 * Returns the number of failed puts. */
size_t fl_itest_data_put(fl_client_t *cl, fl_itest_data_t *d, size_t from, size_t to,
                         int threads, volatile size_t *done);

/* Gets o and compares: 0 when byte-identical, FL_ECORRUPT (message says so)
 * when the bytes differ, else the get's error. */
int fl_itest_data_check(fl_client_t *cl, const fl_itest_obj_t *o, fl_errmsg_t *em);

/* Checks every object whose put succeeded; returns how many failed (the
 * first few are printed to stderr). */
size_t fl_itest_data_check_all(fl_client_t *cl, const fl_itest_data_t *d);

/* A thread reading every successfully put object of d over and over in a
 * shuffled order until stopped. d must not change meanwhile. */
typedef struct fl_itest_reader {
  fl_client_t *cl;
  const fl_itest_data_t *d;
  pthread_t th;
  int stop;                 /* set by fl_itest_reader_stop */
  uint64_t reads;           /* gets that returned identical bytes */
  uint64_t errors;          /* gets that failed */
  uint64_t mismatches;      /* gets that returned different bytes */
  uint64_t rounds;          /* complete passes over the objects */
  char first[512];          /* the first failure, for the report */
} fl_itest_reader_t;

int fl_itest_reader_start(fl_itest_reader_t *r, fl_client_t *cl, const fl_itest_data_t *d);
/* Waits for the reader to finish its current get and stop. */
void fl_itest_reader_stop(fl_itest_reader_t *r);

#endif
