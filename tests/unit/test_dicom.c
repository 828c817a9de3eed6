/* Unit tests for the DICOM shim (fl_dicom_parse) and the generator it is
 * checked against: every modality generated and parsed back attribute by
 * attribute; truncated, garbage, empty, oversized and non-DICOM inputs, files
 * missing a UID or carrying a bad one, each refused with its code and a
 * message naming the problem; the encapsulated and re-encoded corpus files. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fl_dcm_write.h"
#include "fl_dicom.h"
#include "fl_gen.h"
#include "fl_test.h"

static const char *const fl__classes[] = {
    [FL_GEN_CT] = "1.2.840.10008.5.1.4.1.1.2",
    [FL_GEN_MR] = "1.2.840.10008.5.1.4.1.1.4",
    [FL_GEN_DX] = "1.2.840.10008.5.1.4.1.1.1.1",
    [FL_GEN_MG] = "1.2.840.10008.5.1.4.1.1.13.1.3",
    [FL_GEN_SR] = "1.2.840.10008.5.1.4.1.1.88.11",
};

static void fl__gen(const fl_gen_opts_t *o, uint32_t i, uint8_t **buf, size_t *len) {
  fl_errmsg_t em = {{0}};
  int rc = fl_gen_instance(o, i, buf, len, &em);
  if (rc != 0)
    FL_CHECK_STR(fl_errmsg_str(&em, rc), "");
}

/* A refusal must carry the expected code and a message containing want. */
static void fl__refused(const void *buf, size_t len, int code, const char *want) {
  fl_dicom_info_t d;
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(fl_dicom_parse(buf, len, &d, &em), code);
  FL_CHECK(em.msg[0] != '\0');
  if (want && !strstr(em.msg, want))
    FL_CHECK_STR(em.msg, want);
}

static void test_generated_roundtrip(void) {
  for (int m = FL_GEN_CT; m <= FL_GEN_SR; m++) {
    fl_gen_opts_t o = {.modality = m, .instances = m == FL_GEN_DX || m == FL_GEN_MG ? 1 : 3,
                       .frames = 3, .seed = 42};
    if (m == FL_GEN_MR)
      o.patient_id = "PAT-0042";
    char study[FL_UID_BUF], series[FL_UID_BUF] = "", sop0[FL_UID_BUF] = "";
    fl_gen_study_uid(&o, study);
    for (uint32_t i = 0; i < o.instances; i++) {
      uint8_t *buf;
      size_t len;
      fl__gen(&o, i, &buf, &len);
      fl_dicom_info_t d;
      fl_errmsg_t em = {{0}};
      int rc = fl_dicom_parse(buf, len, &d, &em);
      if (rc != 0)
        FL_CHECK_STR(em.msg, "");
      FL_CHECK_STR(d.study_uid, study);
      if (i == 0) {
        memcpy(series, d.series_uid, sizeof series);
        memcpy(sop0, d.sop_uid, sizeof sop0);
      } else {
        FL_CHECK_STR(d.series_uid, series);
        FL_CHECK(strcmp(d.sop_uid, sop0) != 0);
      }
      FL_CHECK(strcmp(d.series_uid, d.study_uid) != 0);
      FL_CHECK_OK(fl_uid_check(d.sop_uid, strlen(d.sop_uid), NULL));
      FL_CHECK_STR(d.sop_class_uid, fl__classes[m]);
      FL_CHECK_STR(d.transfer_syntax_uid, "1.2.840.10008.1.2.1");
      FL_CHECK_STR(d.modality, fl_gen_modality_name(m));
      if (m == FL_GEN_MR)
        FL_CHECK_STR(d.patient_id, "PAT-0042");
      else
        FL_CHECK(strncmp(d.patient_id, "FL", 2) == 0 && strlen(d.patient_id) == 10);
      FL_CHECK(strncmp(d.patient_name, "SYNTHETIC^PATIENT", 17) == 0);
      FL_CHECK_EQ(strlen(d.study_date), 8);
      FL_CHECK(d.study_date[0] == '2' && d.study_date[1] == '0');
      FL_CHECK_EQ(strlen(d.accession_number), 10);
      FL_CHECK_EQ(d.number_of_frames, m == FL_GEN_MG ? 3 : 1);
      FL_CHECK_EQ(d.series_number, 1);
      FL_CHECK_EQ(d.instance_number, (int)i + 1);
      FL_CHECK(d.has_part10);
      FL_CHECK_EQ(d.has_pixel_data, m != FL_GEN_SR);
      if (m != FL_GEN_SR) {
        /* Pixel Data is the last element and fills the file to its end. */
        size_t px = m == FL_GEN_CT ? 512 * 512 * 2 : m == FL_GEN_MR ? 256 * 256 * 2
                    : m == FL_GEN_DX ? (size_t)3888 * 3888 * 2 : (size_t)1280 * 1024 * 2 * 3;
        FL_CHECK_EQ(d.pixel_data_offset + px, len);
      } else {
        FL_CHECK_INT(len, <, 8192);
      }
      free(buf);
    }
  }
}

static void test_generator_deterministic(void) {
  fl_gen_opts_t o = {.modality = FL_GEN_CT, .instances = 2, .seed = 7};
  uint8_t *a, *b;
  size_t na, nb;
  fl__gen(&o, 1, &a, &na);
  fl__gen(&o, 1, &b, &nb);
  FL_CHECK_EQ(na, nb);
  FL_CHECK_MEM(a, b, na);
  free(b);
  o.seed = 8;
  fl__gen(&o, 1, &b, &nb);
  FL_CHECK(na != nb || memcmp(a, b, na) != 0);
  free(b);
  /* Slices differ from each other, and are neither flat nor noise: the
   * pixels hold many distinct values but neighbours are mostly close. */
  o.seed = 7;
  fl__gen(&o, 0, &b, &nb);
  FL_CHECK(memcmp(a + na - 512 * 512 * 2, b + nb - 512 * 512 * 2, 512 * 512 * 2) != 0);
  const uint8_t *px = a + na - 512 * 512 * 2;
  size_t close = 0, distinct = 0;
  static uint8_t seen[4096];
  memset(seen, 0, sizeof seen);
  for (size_t i = 1; i < 512 * 512; i++) {
    int v = px[2 * i] | px[2 * i + 1] << 8, u = px[2 * i - 2] | px[2 * i - 1] << 8;
    FL_CHECK_INT(v, <, 4096);
    close += abs(v - u) <= 16;
    if (!seen[v]++)
      distinct++;
  }
  FL_CHECK_INT(distinct, >, 200);
  FL_CHECK_INT(close, >, 512 * 512 * 9 / 10);
  free(a);
  free(b);
  /* A given study UID and patient ID are used as given, and change the
   * series and SOP UIDs so two studies never share an instance UID. */
  fl_gen_opts_t p = {.modality = FL_GEN_SR, .seed = 7, .study_uid = "1.2.3.4",
                     .patient_id = "X1"};
  fl__gen(&p, 0, &a, &na);
  fl_dicom_info_t d1, d2;
  FL_CHECK_OK(fl_dicom_parse(a, na, &d1, NULL));
  FL_CHECK_STR(d1.study_uid, "1.2.3.4");
  FL_CHECK_STR(d1.patient_id, "X1");
  free(a);
  p.study_uid = "1.2.3.5";
  fl__gen(&p, 0, &a, &na);
  FL_CHECK_OK(fl_dicom_parse(a, na, &d2, NULL));
  FL_CHECK(strcmp(d1.sop_uid, d2.sop_uid) != 0);
  FL_CHECK(strcmp(d1.series_uid, d2.series_uid) != 0);
  free(a);
  fl_errmsg_t em = {{0}};
  p.study_uid = "1.2.03";
  FL_CHECK_ERR(fl_gen_instance(&p, 0, &a, &na, &em), FL_EUID);
  p.study_uid = NULL;
  p.patient_id = "a\\b";
  FL_CHECK_ERR(fl_gen_instance(&p, 0, &a, &na, &em), FL_ECONFIG);
}

static void test_truncated(void) {
  fl_gen_opts_t o = {.modality = FL_GEN_CT, .instances = 1, .seed = 1};
  uint8_t *full;
  size_t len;
  fl__gen(&o, 0, &full, &len);
  /* Every cut in the header, then a stride through Pixel Data: each copy is
   * an exact-size allocation so an overread would be seen under ASan. */
  for (size_t cut = 0; cut < len; cut += cut < 2048 ? 1 : 4093) {
    uint8_t *c = malloc(cut ? cut : 1);
    memcpy(c, full, cut);
    fl_dicom_info_t d;
    fl_errmsg_t em = {{0}};
    int rc = fl_dicom_parse(c, cut, &d, &em);
    if (cut < 132)
      FL_CHECK(rc == FL_ENOTDICOM || rc == FL_EDICOM);
    else
      FL_CHECK_ERR(rc, FL_EDICOM);
    FL_CHECK(em.msg[0] != '\0');
    free(c);
  }
  fl__refused(full, len - 1, FL_EDICOM, "Pixel Data (7FE0,0010) needs 524288 bytes");
  free(full);

  /* The SR has no Pixel Data: every cut up to the end of its last required
   * UID is refused (a cut between two later elements is a shorter, valid
   * report and cannot be told apart). */
  o.modality = FL_GEN_SR;
  fl__gen(&o, 0, &full, &len);
  fl_dicom_info_t d;
  FL_CHECK_OK(fl_dicom_parse(full, len, &d, NULL));
  const uint8_t *at = memmem(full, len, d.series_uid, strlen(d.series_uid));
  FL_CHECK(at != NULL);
  size_t last = (size_t)(at - full) + strlen(d.series_uid);
  for (size_t cut = 0; cut < last; cut++) {
    uint8_t *c = malloc(cut ? cut : 1);
    memcpy(c, full, cut);
    int rc = fl_dicom_parse(c, cut, &d, NULL);
    FL_CHECK(rc == FL_ENOTDICOM || rc == FL_EDICOM);
    free(c);
  }
  free(full);
}

static void test_garbage_empty_oversized(void) {
  fl__refused("", 0, FL_ENOTDICOM, "empty");
  fl__refused(NULL, 0, FL_ENOTDICOM, "empty");
  /* The size bound is checked before a byte is read: a one-byte buffer with
   * an absurd length is refused without being touched. */
  static const uint8_t one = 0;
  fl__refused(&one, (size_t)FL_DICOM_MAX_BYTES + 1, FL_ETOOBIG, "limit");
  fl__refused(&one, SIZE_MAX, FL_ETOOBIG, "limit");

  const char *text = "This is a radiology report in plain text, not DICOM.\n";
  fl__refused(text, strlen(text), FL_ENOTDICOM, "not DICOM");
  static const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                                'I', 'H', 'D', 'R', 0, 0, 1, 0, 0, 0, 1, 0, 8, 2};
  fl__refused(png, sizeof png, FL_ENOTDICOM, NULL);

  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (size_t n = 1; n < 3000; n = n * 3 / 2 + 1) {
    uint8_t *g = malloc(n);
    for (size_t i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      g[i] = (uint8_t)x;
    }
    fl_dicom_info_t d;
    fl_errmsg_t em = {{0}};
    int rc = fl_dicom_parse(g, n, &d, &em);
    FL_CHECK(rc == FL_ENOTDICOM || rc == FL_EDICOM);
    FL_CHECK(em.msg[0] != '\0');
    /* The same garbage behind a valid preamble is a broken DICOM file. */
    uint8_t *h = calloc(1, 132 + n);
    memcpy(h + 128, "DICM", 4);
    memcpy(h + 132, g, n);
    fl__refused(h, 132 + n, FL_EDICOM, NULL);
    free(h);
    free(g);
  }
  uint8_t pre[132] = {0};
  memcpy(pre + 128, "DICM", 4);
  fl__refused(pre, sizeof pre, FL_EDICOM, "no File Meta Information");
}

/* A Part-10 file with the given identity; NULL leaves that UID out. */
static void fl__make(fl_dcm_buf_t *b, const char *study, const char *series, const char *sop,
                     const char *cls) {
  fl_dcm_buf_init(b);
  fl_dcm_put_part10_header(b, cls ? cls : "1.2.840.10008.5.1.4.1.1.7", sop ? sop : "1.2.3",
                           "1.2.3.4", "TEST");
  fl_dcm_put_str(b, 0x0008, 0x0005, "CS", "ISO_IR 100");
  if (cls)
    fl_dcm_put_str(b, 0x0008, 0x0016, "UI", cls);
  if (sop)
    fl_dcm_put_str(b, 0x0008, 0x0018, "UI", sop);
  fl_dcm_put_str(b, 0x0008, 0x0060, "CS", "OT");
  fl_dcm_put_str(b, 0x0010, 0x0020, "LO", "P1");
  if (study)
    fl_dcm_put_str(b, 0x0020, 0x000d, "UI", study);
  if (series)
    fl_dcm_put_str(b, 0x0020, 0x000e, "UI", series);
  FL_CHECK_OK(b->err);
}

static void test_missing_and_bad_uids(void) {
  const char *cls = "1.2.840.10008.5.1.4.1.1.88.11";
  fl_dcm_buf_t b;
  fl__make(&b, "1.2.3", "1.2.3.1", "1.2.3.1.1", cls);
  fl_dicom_info_t d;
  FL_CHECK_OK(fl_dicom_parse(b.data, b.len, &d, NULL));
  FL_CHECK_STR(d.modality, "OT");
  FL_CHECK_EQ(d.number_of_frames, 1);
  FL_CHECK_EQ(d.instance_number, -1);
  FL_CHECK(!d.has_pixel_data);
  fl_dcm_buf_free(&b);

  fl__make(&b, NULL, "1.2.3.1", "1.2.3.1.1", cls);
  fl__refused(b.data, b.len, FL_EDICOM, "missing StudyInstanceUID (0020,000D)");
  fl_dcm_buf_free(&b);
  fl__make(&b, "1.2.3", NULL, "1.2.3.1.1", cls);
  fl__refused(b.data, b.len, FL_EDICOM, "missing SeriesInstanceUID (0020,000E)");
  fl_dcm_buf_free(&b);
  fl__make(&b, "1.2.3", "1.2.3.1", NULL, cls);
  fl__refused(b.data, b.len, FL_EDICOM, "missing SOPInstanceUID (0008,0018)");
  fl_dcm_buf_free(&b);
  fl__make(&b, "1.2.3", "1.2.3.1", "1.2.3.1.1", NULL);
  fl__refused(b.data, b.len, FL_EDICOM, "missing SOPClassUID (0008,0016)");
  fl_dcm_buf_free(&b);
  fl__make(&b, NULL, NULL, NULL, NULL);
  fl__refused(b.data, b.len, FL_EDICOM, "not a DICOM instance");
  fl_dcm_buf_free(&b);
  fl__make(&b, "", "1.2.3.1", "1.2.3.1.1", cls);
  fl__refused(b.data, b.len, FL_EDICOM, "empty StudyInstanceUID");
  fl_dcm_buf_free(&b);

  const char *bad[] = {"1.2.03", "1..2", "1.2.a", ".1", "1.2.840.10008.1.2.3.4.5.6.7.8.9.10.11.12.13."
                                                        "14.15.16.17.18.19.20.21"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    fl__make(&b, bad[i], "1.2.3.1", "1.2.3.1.1", cls);
    fl__refused(b.data, b.len, FL_EUID, "StudyInstanceUID (0020,000D)");
    fl_dcm_buf_free(&b);
    fl__make(&b, "1.2.3", "1.2.3.1", bad[i], cls);
    fl__refused(b.data, b.len, FL_EUID, "SOPInstanceUID (0008,0018)");
    fl_dcm_buf_free(&b);
  }
}

static void test_raw_dataset_and_input_untouched(void) {
  fl_gen_opts_t o = {.modality = FL_GEN_MR, .instances = 1, .seed = 5};
  uint8_t *full;
  size_t len;
  fl__gen(&o, 0, &full, &len);
  uint8_t *copy = malloc(len);
  memcpy(copy, full, len);
  fl_dicom_info_t a, r;
  FL_CHECK_OK(fl_dicom_parse(full, len, &a, NULL));
  FL_CHECK_MEM(full, copy, len);
  /* Without preamble and meta group (group length at offset 140): accepted as
   * a raw data set, same identity, has_part10 false. */
  uint32_t glen = full[140] | full[141] << 8 | (uint32_t)full[142] << 16 | (uint32_t)full[143] << 24;
  size_t ds = 144 + glen;
  FL_CHECK_OK(fl_dicom_parse(full + ds, len - ds, &r, NULL));
  FL_CHECK(!r.has_part10);
  FL_CHECK_STR(r.sop_uid, a.sop_uid);
  FL_CHECK_STR(r.study_uid, a.study_uid);
  FL_CHECK_STR(r.series_uid, a.series_uid);
  FL_CHECK_STR(r.transfer_syntax_uid, "1.2.840.10008.1.2.1");
  FL_CHECK_EQ(r.pixel_data_offset + 256 * 256 * 2, len - ds);
  /* Meta group without preamble is read too. */
  FL_CHECK_OK(fl_dicom_parse(full + 132, len - 132, &r, NULL));
  FL_CHECK_STR(r.sop_uid, a.sop_uid);
  FL_CHECK(!r.has_part10);
  /* A lying meta group length is refused, not guessed around. */
  full[140] ^= 2;
  fl__refused(full, len, FL_EDICOM, "meta group length");
  free(copy);
  free(full);
}

static void test_parse_file(void) {
  const char *tmp = getenv("FL_TMP");
  char path[4096];
  snprintf(path, sizeof path, "%s/test_dicom_%d.dcm", tmp ? tmp : "/tmp", (int)getpid());
  fl_gen_opts_t o = {.modality = FL_GEN_SR, .seed = 9};
  uint8_t *buf;
  size_t len;
  fl__gen(&o, 0, &buf, &len);
  FILE *f = fopen(path, "wb");
  FL_CHECK(f != NULL);
  FL_CHECK_EQ(fwrite(buf, 1, len, f), len);
  fclose(f);
  fl_dicom_info_t a, b;
  FL_CHECK_OK(fl_dicom_parse(buf, len, &a, NULL));
  FL_CHECK_OK(fl_dicom_parse_file(path, &b, NULL));
  FL_CHECK_MEM(&a, &b, sizeof a);
  f = fopen(path, "wb");
  fclose(f);
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(fl_dicom_parse_file(path, &b, &em), FL_ENOTDICOM);
  unlink(path);
  FL_CHECK_ERR(fl_dicom_parse_file(path, &b, &em), -ENOENT);
  FL_CHECK_ERR(fl_dicom_parse_file("/", &b, &em), FL_ENOTDICOM);
  free(buf);
}

/* Files re-encoded by dcmtk (implicit VR, big endian, deflated, RLE, JPEG
 * lossless, raw data set) from one generated instance: same identity, and
 * every truncation refused. */
static void test_corpus_transfer_syntaxes(void) {
  const char *src = getenv("FL_SRC");
  if (!src)
    src = ".";
  static const struct {
    const char *file, *ts;
    int part10;
  } files[] = {
      {"ct_tiny_evrle.dcm", "1.2.840.10008.1.2.1", 1},
      {"ct_tiny_ivrle.dcm", "1.2.840.10008.1.2", 1},
      {"ct_tiny_evrbe.dcm", "1.2.840.10008.1.2.2", 1},
      {"ct_tiny_deflate.dcm", "1.2.840.10008.1.2.1.99", 1},
      {"ct_tiny_rle.dcm", "1.2.840.10008.1.2.5", 1},
      {"ct_tiny_jpegll.dcm", "1.2.840.10008.1.2.4.70", 1},
      {"ct_tiny_rawds.dcm", "1.2.840.10008.1.2", 0},
  };
  char first_sop[FL_UID_BUF] = "";
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/dicom/%s", src, files[i].file);
    FILE *f = fopen(path, "rb");
    if (!f)
      FL_CHECK_STR(path, "(a readable corpus file; is FL_SRC set?)");
    uint8_t buf[8192];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    fl_dicom_info_t d;
    fl_errmsg_t em = {{0}};
    int rc = fl_dicom_parse(buf, len, &d, &em);
    if (rc != 0)
      FL_CHECK_STR(em.msg, files[i].file);
    FL_CHECK_STR(d.transfer_syntax_uid, files[i].ts);
    FL_CHECK_EQ(d.has_part10, files[i].part10);
    FL_CHECK(d.has_pixel_data);
    FL_CHECK_STR(d.modality, "CT");
    if (i == 0)
      memcpy(first_sop, d.sop_uid, sizeof first_sop);
    else
      FL_CHECK_STR(d.sop_uid, first_sop);
    for (size_t cut = 0; cut < len; cut++) {
      uint8_t *c = malloc(cut ? cut : 1);
      memcpy(c, buf, cut);
      rc = fl_dicom_parse(c, cut, &d, NULL);
      FL_CHECK(rc == FL_ENOTDICOM || rc == FL_EDICOM);
      free(c);
    }
  }
}

int main(void) {
  FL_RUN(test_generated_roundtrip);
  FL_RUN(test_generator_deterministic);
  FL_RUN(test_truncated);
  FL_RUN(test_garbage_empty_oversized);
  FL_RUN(test_missing_and_bad_uids);
  FL_RUN(test_raw_dataset_and_input_untouched);
  FL_RUN(test_parse_file);
  FL_RUN(test_corpus_transfer_syntaxes);
  FL_DONE();
}
