/* Benchmark of the DICOM shim: headers parsed per second from memory on a
 * generated 0.5 MB CT instance (Pixel Data is skipped, not read), beside a
 * plain memcpy of the same instance measured in the same run: the ratio says
 * how many headers are read in the time it takes to copy one instance once.
 * A second figure parses the same instance from a file (open, mmap, parse). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fl_dicom.h"
#include "fl_gen.h"

static double fl__now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile size_t fl__sink;

/* Operations per second over about 0.5 s; the median of 5 runs. */
static double fl__rate(int (*op)(void *), void *arg) {
  double r[5];
  for (int k = 0; k < 5; k++) {
    size_t n = 0;
    double t0 = fl__now(), t;
    do {
      for (int i = 0; i < 64; i++)
        if (op(arg) != 0) {
          fprintf(stderr, "bench_dicom: operation failed\n");
          exit(1);
        }
      n += 64;
    } while ((t = fl__now() - t0) < 0.5);
    r[k] = (double)n / t;
  }
  for (int i = 0; i < 5; i++) /* sort for the median */
    for (int j = i + 1; j < 5; j++)
      if (r[j] < r[i]) {
        double x = r[i];
        r[i] = r[j];
        r[j] = x;
      }
  return r[2];
}

static uint8_t *fl__inst, *fl__copy;
static size_t fl__len;
static char fl__path[4096];

static int fl__parse_mem(void *arg) {
  fl_dicom_info_t *d = arg;
  int rc = fl_dicom_parse(fl__inst, fl__len, d, NULL);
  fl__sink += (size_t)d->study_uid[5];
  return rc;
}

static int fl__parse_file(void *arg) {
  fl_dicom_info_t *d = arg;
  int rc = fl_dicom_parse_file(fl__path, d, NULL);
  fl__sink += (size_t)d->study_uid[5];
  return rc;
}

static int fl__memcpy(void *arg) {
  (void)arg;
  memcpy(fl__copy, fl__inst, fl__len);
  fl__sink += fl__copy[fl__len / 2];
  return 0;
}

int main(void) {
  fl_gen_opts_t o = {.modality = FL_GEN_CT, .instances = 1, .seed = 1};
  fl_errmsg_t em = {{0}};
  int rc = fl_gen_instance(&o, 0, &fl__inst, &fl__len, &em);
  if (rc != 0) {
    fprintf(stderr, "bench_dicom: %s\n", fl_errmsg_str(&em, rc));
    return 1;
  }
  fl__copy = malloc(fl__len);
  memset(fl__copy, 1, fl__len); /* fault the pages in before timing */
  const char *tmp = getenv("TMPDIR");
  snprintf(fl__path, sizeof fl__path, "%s/bench_dicom_%d.dcm", tmp ? tmp : "/tmp", (int)getpid());
  FILE *f = fopen(fl__path, "wb");
  if (!f || fwrite(fl__inst, 1, fl__len, f) != fl__len || fclose(f) != 0) {
    fprintf(stderr, "bench_dicom: cannot write %s\n", fl__path);
    return 1;
  }
  fl_dicom_info_t d;
  double ref = fl__rate(fl__memcpy, NULL);
  double mem = fl__rate(fl__parse_mem, &d);
  double file = fl__rate(fl__parse_file, &d);
  unlink(fl__path);
  printf("# CT instance %zu bytes; memcpy of it %.2f GB/s\n", fl__len, ref * (double)fl__len / 1e9);
  printf("BENCH dicom_parse_mem_ct %.0f headers/s ref=memcpy_instance %.0f copies/s ratio=%.2f\n",
         mem, ref, mem / ref);
  printf("BENCH dicom_parse_file_ct %.0f headers/s ref=dicom_parse_mem_ct %.0f headers/s "
         "ratio=%.2f\n",
         file, mem, file / mem);
  free(fl__copy);
  free(fl__inst);
  return 0;
}
