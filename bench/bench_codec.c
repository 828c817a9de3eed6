/* Codec throughput: fl_ec encode (beside raw ISA-L and beside bare
 * liberasurecode) and decode (m data fragments lost, beside raw ISA-L; all
 * data present, beside the path the fast path replaces) for 4+2 and 8+3 at
 * 512 KiB and 8 MiB, on the same buffers in the same run, and
 * fl_crc32c beside memcpy. Figures are GB/s of object data, the median of
 * several alternating rounds. */
#include "fl_crc32c.h"
#include "fl_bench.h"
#include "fl_ec.h"

#include <erasurecode.h>
#include <isa-l/erasure_code.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 9
#define ROUND_SEC 0.05

static void die(const char *what, int rc, const fl_errmsg_t *em) {
  fprintf(stderr, "bench_codec: %s: %s\n", what, fl_errmsg_str(em, rc));
  exit(1);
}

/* One side of a comparison: fn(arg) processes `bytes` of object data. */
typedef void (*op_fn)(void *arg);

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double rate(op_fn fn, void *arg, long iters, double bytes) {
  double t0 = fl_bench_now();
  for (long i = 0; i < iters; i++)
    fn(arg);
  return bytes * (double)iters / (fl_bench_now() - t0) / 1e9;
}

/* Alternates rounds of both sides so drift hits them alike; prints the
 * medians. */
static void compare(const char *name, op_fn fn, void *arg, const char *refname, op_fn ref, void *refarg,
                    double bytes) {
  fn(arg);
  ref(refarg);
  double t0 = fl_bench_now();
  fn(arg);
  long iters = (long)(ROUND_SEC / (fl_bench_now() - t0 + 1e-9));
  if (iters < 1)
    iters = 1;
  double a[ROUNDS], b[ROUNDS];
  for (int r = 0; r < ROUNDS; r++) {
    a[r] = rate(fn, arg, iters, bytes);
    b[r] = rate(ref, refarg, iters, bytes);
  }
  qsort(a, ROUNDS, sizeof a[0], cmp_double);
  qsort(b, ROUNDS, sizeof b[0], cmp_double);
  double va = a[ROUNDS / 2], vb = b[ROUNDS / 2];
  printf("BENCH %s %.2f GB/s ref=%s %.2f ratio=%.2f\n", name, va, refname, vb, va / vb);
  fflush(stdout);
}

/* ---- fixtures ---------------------------------------------------------- */

typedef struct {
  fl_ec_t *ec;
  int k, m;
  size_t size, len; /* object size; ISA-L fragment length */
  uint8_t *obj, *out;
  /* fl_ec */
  uint8_t *rx[FL_EC_MAX_FRAGS]; /* received fragments, header + payload */
  size_t rx_len;
  fl_ec_in_t lost_in[FL_EC_MAX_FRAGS], all_in[FL_EC_MAX_FRAGS];
  char *lec_all[FL_EC_MAX_FRAGS]; /* liberasurecode fragments, all data */
  uint64_t lec_len;
  int lec_desc; /* a liberasurecode instance of our own for the reference */
  /* raw ISA-L */
  uint8_t *enc_matrix, *enc_tbls;
  uint8_t *src[FL_EC_MAX_FRAGS], *parity[FL_EC_MAX_FRAGS], *rec[FL_EC_MAX_FRAGS];
} fix_t;

static void fl_encode_op(void *arg) {
  fix_t *f = arg;
  fl_ec_stripe_t s;
  int rc = fl_ec_encode(f->ec, f->obj, f->size, NULL, &s, NULL);
  if (rc)
    die("fl_ec_encode", rc, NULL);
  fl_ec_stripe_release(&s);
}

static void isal_encode_op(void *arg) {
  fix_t *f = arg;
  ec_encode_data((int)f->len, f->k, f->m, f->enc_tbls, f->src, f->parity);
}

/* liberasurecode alone: what fl_ec_encode adds to it is the header and
 * the CRC32C of every fragment. */
static void lec_encode_op(void *arg) {
  fix_t *f = arg;
  char **data = NULL, **parity = NULL;
  uint64_t len = 0;
  if (liberasurecode_encode(f->lec_desc, (const char *)f->obj, f->size, &data, &parity, &len) != 0)
    die("liberasurecode_encode", FL_EBACKEND, NULL);
  liberasurecode_encode_cleanup(f->lec_desc, data, parity);
}

static void fl_decode_lost_op(void *arg) {
  fix_t *f = arg;
  int rc = fl_ec_decode(f->ec, f->lost_in, f->k, f->out, f->size, NULL, NULL, NULL);
  if (rc)
    die("fl_ec_decode", rc, NULL);
}

/* Raw ISA-L decode of the first m (data) fragments from the k survivors:
 * invert the survivors' rows of the encode matrix, then one
 * ec_encode_data pass, as any decoder must per lost pattern. */
static void isal_decode_lost_op(void *arg) {
  fix_t *f = arg;
  int k = f->k, m = f->m;
  uint8_t b[32 * 32], inv[32 * 32], dm[32 * 32], tbls[32 * 32 * 32];
  uint8_t *surv[FL_EC_MAX_FRAGS];
  for (int r = 0; r < k; r++) {
    int row = m + r; /* survivors: fragments m..k+m-1 */
    memcpy(b + r * k, f->enc_matrix + row * k, (size_t)k);
    surv[r] = row < k ? f->src[row] : f->parity[row - k];
  }
  if (gf_invert_matrix(b, inv, k) < 0) {
    fprintf(stderr, "bench_codec: singular matrix\n");
    exit(1);
  }
  for (int e = 0; e < m; e++) /* lost data fragment e = row e of inv */
    memcpy(dm + e * k, inv + e * k, (size_t)k);
  ec_init_tables(k, m, dm, tbls);
  ec_encode_data((int)f->len, k, m, tbls, surv, f->rec);
}

static void fl_decode_all_op(void *arg) {
  fix_t *f = arg;
  fl_ec_report_t rep;
  int rc = fl_ec_decode(f->ec, f->all_in, f->k, f->out, f->size, NULL, &rep, NULL);
  if (rc || !rep.fast_path)
    die("fl_ec_decode (all data)", rc ? rc : FL_EINTERNAL, NULL);
}

/* What fl_ec would do without its fast path: verify the k data fragments,
 * let liberasurecode_decode assemble them (it does not decode when all data
 * is present, but copies into its own allocation), copy out. */
static void lec_decode_all_op(void *arg) {
  fix_t *f = arg;
  char *dec = NULL;
  uint64_t n = 0;
  for (int i = 0; i < f->k; i++)
    if (fl_ec_frag_verify(f->all_in[i].buf, f->all_in[i].len, NULL, NULL) != 0)
      die("fl_ec_frag_verify", FL_ECORRUPT, NULL);
  int rc = liberasurecode_decode(f->lec_desc, f->lec_all, f->k, f->lec_len, 0, &dec, &n);
  if (rc == 0)
    memcpy(f->out, dec, n);
  if (rc)
    die("liberasurecode_decode", FL_EBACKEND, NULL);
  liberasurecode_decode_cleanup(f->lec_desc, dec);
}

static void setup(fix_t *f, int k, int m, size_t size) {
  memset(f, 0, sizeof *f);
  f->k = k;
  f->m = m;
  f->size = size;
  fl_errmsg_t em = {{0}};
  fl_ec_config_t cfg = {.k = k, .m = m, .replica_threshold = 4096};
  int rc = fl_ec_init(&f->ec, &cfg, &em);
  if (rc)
    die("fl_ec_init", rc, &em);
  f->obj = malloc(size);
  f->out = malloc(size);
  for (size_t i = 0; i < size; i++)
    f->obj[i] = (uint8_t)(i * 2654435761u >> 13);
  memset(f->out, 0, size);

  fl_ec_stripe_t s;
  if ((rc = fl_ec_encode(f->ec, f->obj, size, NULL, &s, &em)))
    die("fl_ec_encode", rc, &em);
  f->rx_len = FL_EC_FRAG_HDR_SIZE + s.frag[0].payload_len;
  for (int i = 0; i < k + m; i++) {
    f->rx[i] = aligned_alloc(64, (f->rx_len + 63) / 64 * 64);
    memcpy(f->rx[i], s.frag[i].hdr, FL_EC_FRAG_HDR_SIZE);
    memcpy(f->rx[i] + FL_EC_FRAG_HDR_SIZE, s.frag[i].payload, s.frag[i].payload_len);
    f->all_in[i] = (fl_ec_in_t){f->rx[i], f->rx_len};
    f->lec_all[i] = (char *)f->rx[i] + FL_EC_FRAG_HDR_SIZE;
  }
  f->lec_len = s.frag[0].payload_len;
  struct ec_args args = {.k = k, .m = m, .w = 8, .hd = m, .ct = CHKSUM_NONE};
  f->lec_desc = liberasurecode_instance_create(EC_BACKEND_ISA_L_RS_VAND, &args);
  if (f->lec_desc <= 0)
    die("liberasurecode_instance_create", FL_EBACKEND, NULL);
  for (int i = 0; i < k; i++)
    f->lost_in[i] = (fl_ec_in_t){f->rx[m + i], f->rx_len};
  fl_ec_stripe_release(&s);

  /* Raw ISA-L on the object buffer itself (size is a multiple of k). */
  f->len = size / (size_t)k;
  f->enc_matrix = malloc((size_t)(k + m) * k);
  f->enc_tbls = malloc((size_t)32 * k * m);
  gf_gen_rs_matrix(f->enc_matrix, k + m, k);
  ec_init_tables(k, m, f->enc_matrix + k * k, f->enc_tbls);
  for (int i = 0; i < k; i++)
    f->src[i] = f->obj + (size_t)i * f->len;
  for (int i = 0; i < m; i++) {
    f->parity[i] = aligned_alloc(64, (f->len + 63) / 64 * 64);
    f->rec[i] = aligned_alloc(64, (f->len + 63) / 64 * 64);
  }
  isal_encode_op(f);
}

static void teardown(fix_t *f) {
  for (int i = 0; i < f->k + f->m; i++)
    free(f->rx[i]);
  for (int i = 0; i < f->m; i++) {
    free(f->parity[i]);
    free(f->rec[i]);
  }
  free(f->enc_matrix);
  free(f->enc_tbls);
  free(f->obj);
  free(f->out);
  fl_ec_close(f->ec);
  liberasurecode_instance_destroy(f->lec_desc);
}

/* ---- CRC32C beside memcpy -------------------------------------------- */

typedef struct {
  uint8_t *a, *b;
  size_t n;
  volatile uint32_t sink;
} buf_t;

static void crc_op(void *arg) {
  buf_t *x = arg;
  x->sink = fl_crc32c(x->a, x->n);
}

static void memcpy_op(void *arg) {
  buf_t *x = arg;
  memcpy(x->b, x->a, x->n);
}

int main(void) {
  static const int geo[][2] = {{4, 2}, {8, 3}};
  static const struct {
    size_t size;
    const char *tag;
  } sizes[] = {{512 * 1024, "512K"}, {8 * 1024 * 1024, "8M"}};
  for (size_t g = 0; g < 2; g++)
    for (size_t z = 0; z < 2; z++) {
      fix_t f;
      int k = geo[g][0], m = geo[g][1];
      setup(&f, k, m, sizes[z].size);
      char name[64];
      snprintf(name, sizeof name, "ec_encode_%d+%d_%s", k, m, sizes[z].tag);
      compare(name, fl_encode_op, &f, "isal_ec_encode_data", isal_encode_op, &f, (double)f.size);
      snprintf(name, sizeof name, "ec_encode_vs_lec_%d+%d_%s", k, m, sizes[z].tag);
      compare(name, fl_encode_op, &f, "liberasurecode_encode", lec_encode_op, &f, (double)f.size);
      snprintf(name, sizeof name, "ec_decode_lost%d_%d+%d_%s", m, k, m, sizes[z].tag);
      compare(name, fl_decode_lost_op, &f, "isal_invert+ec_encode_data", isal_decode_lost_op, &f,
              (double)f.size);
      snprintf(name, sizeof name, "ec_decode_alldata_%d+%d_%s", k, m, sizes[z].tag);
      compare(name, fl_decode_all_op, &f, "verify+liberasurecode_decode+copy", lec_decode_all_op, &f, (double)f.size);
      teardown(&f);
    }
  for (size_t z = 0; z < 2; z++) {
    buf_t x = {.n = sizes[z].size};
    x.a = malloc(x.n);
    x.b = malloc(x.n);
    memset(x.a, 0x5a, x.n);
    memset(x.b, 0, x.n);
    char name[64];
    snprintf(name, sizeof name, "crc32c_%s", sizes[z].tag);
    compare(name, crc_op, &x, "memcpy", memcpy_op, &x, (double)x.n);
    free(x.a);
    free(x.b);
  }
  return 0;
}
