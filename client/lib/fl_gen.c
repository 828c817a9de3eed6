/* The synthetic study generator. Each instance is a Part-10 file in explicit
 * VR little endian: a header built with fl_dcm_write, then (for images) Pixel
 * Data drawn from an ellipsoid phantom sliced at a per-instance depth, with a
 * gradient and mild seeded noise, so it compresses like a real image. Every
 * UID, date and number comes from a hash of the seed and the options. */
#include "fl_gen.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fl_dcm_write.h"
#include "fl_uid.h"

/* An axis-aligned ellipsoid; x, y, z in [-1, 1] of the field of view. Values
 * add up where ellipsoids overlap (as in the Shepp-Logan phantom). */
typedef struct fl__ellipsoid {
  float cx, cy, cz; /* centre */
  float a, b, c;    /* semi-axes */
  float value;      /* added inside */
  float grad;       /* added per unit of x from the centre (a soft bias) */
} fl__ellipsoid_t;

typedef struct fl__spec {
  const char *name;
  const char *sop_class;
  const char *image_type;
  uint16_t rows, cols, bits_stored;
  uint32_t instances, frames;
  float background, noise;
  const fl__ellipsoid_t *shape;
  size_t nshape;
  const char *spacing, *window_center, *window_width, *description;
} fl__spec_t;

static const fl__ellipsoid_t fl__chest[] = {
    {0.00f, 0.00f, 0.0f, 0.85f, 0.62f, 1.4f, 1064, 30},  /* body, 40 HU */
    {-0.38f, -0.05f, 0.2f, 0.25f, 0.38f, 0.9f, -820, 0}, /* lungs */
    {0.38f, -0.05f, 0.2f, 0.25f, 0.38f, 0.9f, -820, 0},
    {0.12f, 0.02f, 0.4f, 0.18f, 0.16f, 0.5f, 10, 0},    /* heart */
    {-0.05f, 0.25f, 0.0f, 0.06f, 0.06f, 2.0f, 180, 0},  /* aorta with contrast */
    {0.00f, 0.45f, 0.0f, 0.10f, 0.10f, 2.0f, 900, 0},   /* vertebra */
    {0.00f, 0.45f, 0.0f, 0.04f, 0.04f, 2.0f, -880, 0},  /* spinal canal */
    {-0.30f, 0.05f, -0.7f, 0.40f, 0.35f, 0.5f, 25, 0},  /* liver */
    {0.00f, 0.66f, 0.0f, 0.90f, 0.04f, 2.0f, 300, 0},   /* table */
};

/* The Shepp-Logan head, axis-aligned, scaled to 12-bit MR intensities. */
static const fl__ellipsoid_t fl__head[] = {
    {0.00f, 0.00f, 0.0f, 0.69f, 0.92f, 1.0f, 1500, 0},
    {0.00f, -0.02f, 0.0f, 0.66f, 0.87f, 0.97f, -1150, 120},
    {0.22f, 0.00f, 0.1f, 0.11f, 0.31f, 0.4f, -200, 0},
    {-0.22f, 0.00f, 0.1f, 0.16f, 0.41f, 0.45f, -200, 0},
    {0.00f, 0.35f, -0.3f, 0.21f, 0.25f, 0.3f, 150, 0},
    {0.00f, 0.10f, 0.0f, 0.05f, 0.05f, 0.2f, 150, 0},
    {0.00f, -0.10f, 0.2f, 0.05f, 0.05f, 0.2f, 150, 0},
    {-0.08f, -0.60f, -0.2f, 0.05f, 0.02f, 0.3f, 150, 0},
    {0.06f, -0.60f, -0.1f, 0.02f, 0.05f, 0.3f, 150, 0},
};

/* A chest radiograph: bright where much tissue lies along the beam. */
static const fl__ellipsoid_t fl__chest_dx[] = {
    {0.00f, 0.05f, 0.0f, 0.80f, 0.90f, 1.0f, 7000, -400}, /* torso */
    {-0.35f, -0.05f, 0.0f, 0.28f, 0.55f, 1.0f, -3500, 0}, /* lungs */
    {0.35f, -0.05f, 0.0f, 0.28f, 0.55f, 1.0f, -3500, 0},
    {0.10f, 0.20f, 0.0f, 0.25f, 0.22f, 1.0f, 2200, 0},    /* heart */
    {0.00f, 0.00f, 0.0f, 0.06f, 0.95f, 1.0f, 2500, 0},    /* spine */
    {-0.30f, -0.62f, 0.0f, 0.30f, 0.03f, 1.0f, 1800, 0},  /* clavicles */
    {0.30f, -0.62f, 0.0f, 0.30f, 0.03f, 1.0f, 1800, 0},
};

/* A breast in cranio-caudal view against the left edge, with glandular
 * tissue and one dense lesion at different depths. */
static const fl__ellipsoid_t fl__breast[] = {
    {-1.00f, 0.00f, 0.0f, 1.50f, 0.85f, 1.2f, 2200, -300},
    {-0.55f, -0.15f, -0.3f, 0.45f, 0.30f, 0.6f, 600, 0},
    {-0.45f, 0.20f, 0.3f, 0.35f, 0.25f, 0.5f, 500, 0},
    {-0.20f, 0.05f, 0.1f, 0.06f, 0.06f, 0.12f, 900, 0},
    {-0.80f, 0.00f, 0.0f, 0.25f, 0.50f, 0.9f, 300, 0},
};

#define FL__N(a) (sizeof(a) / sizeof((a)[0]))

static const fl__spec_t fl__specs[] = {
    [FL_GEN_CT] = {"CT", "1.2.840.10008.5.1.4.1.1.2", "ORIGINAL\\PRIMARY\\AXIAL", 512, 512, 12,
                   300, 1, 0, 6, fl__chest, FL__N(fl__chest), "0.9765625\\0.9765625", "40",
                   "400", "CT CHEST WITH CONTRAST"},
    [FL_GEN_MR] = {"MR", "1.2.840.10008.5.1.4.1.1.4", "ORIGINAL\\PRIMARY\\M\\ND", 256, 256, 12,
                   200, 1, 0, 5, fl__head, FL__N(fl__head), "0.9375\\0.9375", "700", "1400",
                   "MR BRAIN T1"},
    [FL_GEN_DX] = {"DX", "1.2.840.10008.5.1.4.1.1.1.1", "ORIGINAL\\PRIMARY", 3888, 3888, 14, 1,
                   1, 400, 12, fl__chest_dx, FL__N(fl__chest_dx), "0.1\\0.1", "6000", "9000",
                   "CHEST PA"},
    [FL_GEN_MG] = {"MG", "1.2.840.10008.5.1.4.1.1.13.1.3", "ORIGINAL\\PRIMARY\\TOMOSYNTHESIS\\NONE",
                   1280, 1024, 12, 1, 40, 80, 10, fl__breast, FL__N(fl__breast), "0.1\\0.1",
                   "2000", "3000", "BREAST TOMOSYNTHESIS"},
    [FL_GEN_SR] = {"SR", "1.2.840.10008.5.1.4.1.1.88.11", NULL, 0, 0, 0, 1, 0, 0, 0, NULL, 0,
                   NULL, NULL, NULL, "RADIOLOGY REPORT"},
};

#define FL__MAX_INSTANCES 100000u
#define FL__MAX_FRAMES 1000u
#define FL__IMPL_CLASS_UID "2.25.90630721508183462127213430735286466921"
#define FL__IMPL_VERSION "FILMLESS_010"

int fl_gen_modality_parse(const char *name, int *out) {
  for (int m = 0; m < (int)FL__N(fl__specs); m++)
    if (strcasecmp(name, fl__specs[m].name) == 0) {
      *out = m;
      return 0;
    }
  return FL_ECONFIG;
}

const char *fl_gen_modality_name(int modality) {
  return modality >= 0 && modality < (int)FL__N(fl__specs) ? fl__specs[modality].name : "?";
}

int fl_gen_opts_check(const fl_gen_opts_t *o, fl_errmsg_t *em) {
  if (o->modality < 0 || o->modality >= (int)FL__N(fl__specs))
    return fl_errf(em, FL_ECONFIG, "unknown modality %d (use CT, MR, DX, MG or SR)", o->modality);
  if (o->instances > FL__MAX_INSTANCES)
    return fl_errf(em, FL_ECONFIG, "at most %u instances", FL__MAX_INSTANCES);
  if (o->frames > FL__MAX_FRAMES)
    return fl_errf(em, FL_ECONFIG, "at most %u frames", FL__MAX_FRAMES);
  if (o->study_uid) {
    int rc = fl_uid_check(o->study_uid, strlen(o->study_uid), em);
    if (rc != 0)
      return fl_errprefix(em, rc, "study UID '%.64s'", o->study_uid);
  }
  if (o->patient_id) {
    size_t n = strlen(o->patient_id);
    if (n == 0 || n > 64)
      return fl_errf(em, FL_ECONFIG, "patient ID must be 1 to 64 characters");
    for (size_t i = 0; i < n; i++)
      if (o->patient_id[i] < 0x20 || o->patient_id[i] > 0x7e || o->patient_id[i] == '\\')
        return fl_errf(em, FL_ECONFIG, "patient ID has a character not allowed in LO at %zu", i);
  }
  return 0;
}

uint32_t fl_gen_instance_count(const fl_gen_opts_t *o) {
  return o->instances ? o->instances : fl__specs[o->modality].instances;
}

static uint32_t fl__frames(const fl_gen_opts_t *o) {
  const fl__spec_t *s = &fl__specs[o->modality];
  return o->modality == FL_GEN_MG && o->frames ? o->frames : s->frames;
}

/* --- deterministic values ------------------------------------------------ */

static uint64_t fl__mix(uint64_t x) { /* splitmix64 finaliser */
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static uint64_t fl__fnv(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; s && *s; s++)
    h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
  return h;
}

/* Everything about one study that does not depend on the instance. */
typedef struct fl__study {
  const fl__spec_t *spec;
  uint64_t key; /* hash of seed, modality and caller-given identity */
  uint32_t count, frames;
  char study_uid[FL_UID_BUF], series_uid[FL_UID_BUF], frame_uid[FL_UID_BUF];
  char patient_id[65], patient_name[64], birth_date[9], sex[2];
  char date[9], time[7], accession[17], study_id[17];
} fl__study_t;

static void fl__uid(uint64_t key, uint64_t label, uint64_t index, char out[FL_UID_BUF]) {
  /* Chained, never XOR-ed side by side: a ^ b cancels for swapped inputs. */
  uint64_t hi = fl__mix(fl__mix(key ^ label) ^ index);
  uint64_t lo = fl__mix(hi ^ label);
  uint8_t b[16];
  for (int i = 0; i < 8; i++) {
    b[i] = (uint8_t)(hi >> (56 - 8 * i));
    b[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
  }
  fl_uid_from_u128(out, b);
}

static void fl__study_init(fl__study_t *st, const fl_gen_opts_t *o) {
  memset(st, 0, sizeof *st);
  st->spec = &fl__specs[o->modality];
  st->key = fl__mix(fl__mix(fl__mix(fl__mix(o->seed) ^ fl__fnv(o->study_uid)) ^
                            fl__fnv(o->patient_id)) ^
                    (uint64_t)o->modality);
  st->count = fl_gen_instance_count(o);
  st->frames = fl__frames(o);
  /* The patient and the study depend on the seed alone, so studies of
   * several modalities made with one seed belong to the same patient. */
  uint64_t p = fl__mix(o->seed ^ 0x70617469656e74ull);
  if (o->study_uid)
    snprintf(st->study_uid, sizeof st->study_uid, "%s", o->study_uid);
  else
    fl__uid(fl__mix(o->seed), 1, 0, st->study_uid);
  fl__uid(st->key, 2, 0, st->series_uid);
  fl__uid(st->key, 3, 0, st->frame_uid);
  if (o->patient_id)
    snprintf(st->patient_id, sizeof st->patient_id, "%s", o->patient_id);
  else
    snprintf(st->patient_id, sizeof st->patient_id, "FL%08u", (unsigned)(p % 100000000u));
  snprintf(st->patient_name, sizeof st->patient_name, "SYNTHETIC^PATIENT%04u",
           (unsigned)(p >> 40) % 10000u);
  snprintf(st->birth_date, sizeof st->birth_date, "%04u%02u%02u",
           1930 + (unsigned)(p >> 8) % 70, 1 + (unsigned)(p >> 16) % 12,
           1 + (unsigned)(p >> 24) % 28);
  st->sex[0] = (p >> 33) & 1 ? 'F' : 'M';
  if (o->modality == FL_GEN_MG)
    st->sex[0] = 'F';
  uint64_t d = fl__mix(fl__mix(o->seed) ^ 0x6461746500ull);
  snprintf(st->date, sizeof st->date, "%04u%02u%02u", 2019 + (unsigned)(d % 7),
           1 + (unsigned)(d >> 8) % 12, 1 + (unsigned)(d >> 16) % 28);
  snprintf(st->time, sizeof st->time, "%02u%02u%02u", 7 + (unsigned)(d >> 24) % 12,
           (unsigned)(d >> 32) % 60, (unsigned)(d >> 40) % 60);
  snprintf(st->accession, sizeof st->accession, "A%09u", (unsigned)((d >> 20) % 1000000000u));
  snprintf(st->study_id, sizeof st->study_id, "%u", (unsigned)((d >> 44) % 100000u));
}

void fl_gen_study_uid(const fl_gen_opts_t *o, char out[FL_UID_BUF]) {
  fl__study_t st;
  fl__study_init(&st, o);
  memcpy(out, st.study_uid, FL_UID_BUF);
}

/* --- pixels ---------------------------------------------------------------- */

/* One frame at depth z in [-1, 1], rows*cols little-endian 16-bit values,
 * drawn row by row: each ellipsoid adds over the span where it cuts the row,
 * then noise is added and values are clamped to the stored bits. */
static void fl__draw(const fl__spec_t *s, float z, uint64_t noise_seed, uint8_t *px, float *row) {
  const uint32_t maxv = (1u << s->bits_stored) - 1;
  uint64_t r = noise_seed | 1;
  for (uint32_t y = 0; y < s->rows; y++) {
    float fy = ((float)y + 0.5f) / (float)s->rows * 2.0f - 1.0f;
    for (uint32_t x = 0; x < s->cols; x++)
      row[x] = s->background;
    for (size_t e = 0; e < s->nshape; e++) {
      const fl__ellipsoid_t *el = &s->shape[e];
      float dz = (z - el->cz) / el->c;
      if (dz <= -1.0f || dz >= 1.0f)
        continue;
      float k = sqrtf(1.0f - dz * dz);
      float dy = (fy - el->cy) / (el->b * k);
      if (dy <= -1.0f || dy >= 1.0f)
        continue;
      float half = el->a * k * sqrtf(1.0f - dy * dy);
      float x0 = (el->cx - half + 1.0f) * 0.5f * (float)s->cols;
      float x1 = (el->cx + half + 1.0f) * 0.5f * (float)s->cols;
      int32_t i0 = x0 < 0 ? 0 : (int32_t)x0;
      int32_t i1 = x1 > (float)s->cols ? (int32_t)s->cols : (int32_t)x1;
      float step = 2.0f / (float)s->cols * el->grad;
      float g = (((float)i0 + 0.5f) / (float)s->cols * 2.0f - 1.0f - el->cx) * el->grad;
      for (int32_t x = i0; x < i1; x++, g += step)
        row[x] += el->value + g;
    }
    uint8_t *out = px + (size_t)y * s->cols * 2;
    for (uint32_t x = 0; x < s->cols; x++) {
      r ^= r << 13; /* xorshift64 */
      r ^= r >> 7;
      r ^= r << 17;
      float n = ((float)(r & 0xffff) / 65535.0f - 0.5f) * 2.0f * s->noise;
      float v = row[x] + n;
      uint32_t u = v <= 0 ? 0 : v >= (float)maxv ? maxv : (uint32_t)(v + 0.5f);
      out[2 * x] = (uint8_t)u;
      out[2 * x + 1] = (uint8_t)(u >> 8);
    }
  }
}

static size_t fl__frame_bytes(const fl__spec_t *s) { return (size_t)s->rows * s->cols * 2; }

static int fl__pixels(const fl__study_t *st, uint32_t index, uint8_t *px) {
  const fl__spec_t *s = st->spec;
  float *row = malloc(sizeof(float) * s->cols);
  if (!row)
    return -ENOMEM;
  for (uint32_t f = 0; f < st->frames; f++) {
    uint32_t n = st->spec->frames > 1 ? st->frames : st->count, i = st->spec->frames > 1 ? f : index;
    float z = n > 1 ? -0.95f + 1.9f * (float)i / (float)(n - 1) : 0.0f;
    fl__draw(s, z, fl__mix(st->key ^ fl__mix(((uint64_t)index << 20) + f)),
             px + (size_t)f * fl__frame_bytes(s), row);
  }
  free(row);
  return 0;
}

/* --- header ---------------------------------------------------------------- */

static void fl__ds(char *out, size_t cap, double v) { snprintf(out, cap, "%.4f", v); }

static const char *const fl__words[] = {
    "no",        "acute",     "findings", "stable",   "mild",       "nodule",   "the",
    "lungs",     "are",       "clear",    "without",  "effusion",   "heart",    "size",
    "normal",    "compared",  "with",     "prior",    "examination", "small",   "left",
    "right",     "lobe",      "measuring", "mm",      "unchanged",  "recommend", "follow-up",
    "in",        "months",    "impression", "degenerative", "changes", "of",     "spine"};

/* A Basic Text SR body: a title and a few KB of findings. */
static void fl__put_sr(fl_dcm_buf_t *b, const fl__study_t *st, uint32_t index) {
  size_t seq, item, cseq, citem;
  fl_dcm_put_str(b, 0x0040, 0xa040, "CS", "CONTAINER");
  fl_dcm_seq_begin(b, 0x0040, 0xa043, &seq);
  fl_dcm_item_begin(b, &item);
  fl_dcm_put_str(b, 0x0008, 0x0100, "SH", "18748-4");
  fl_dcm_put_str(b, 0x0008, 0x0102, "SH", "LN");
  fl_dcm_put_str(b, 0x0008, 0x0104, "LO", "Diagnostic Imaging Report");
  fl_dcm_end(b, item);
  fl_dcm_end(b, seq);
  fl_dcm_put_str(b, 0x0040, 0xa050, "CS", "SEPARATE");
  fl_dcm_put_str(b, 0x0040, 0xa491, "CS", "COMPLETE");
  fl_dcm_put_str(b, 0x0040, 0xa493, "CS", "UNVERIFIED");
  fl_dcm_seq_begin(b, 0x0040, 0xa730, &cseq);
  static const char *const titles[] = {"Findings", "Impression"};
  uint64_t r = fl__mix(st->key ^ (0x5352ull << 32) ^ index);
  for (int t = 0; t < 2; t++) {
    char text[2048];
    size_t n = 0;
    size_t want = t == 0 ? 1800 : 600;
    while (n + 16 < want) {
      r = fl__mix(r);
      const char *w = fl__words[r % FL__N(fl__words)];
      n += (size_t)snprintf(text + n, sizeof text - n, "%s%s", n ? " " : "", w);
      if ((r >> 32) % 9 == 0)
        n += (size_t)snprintf(text + n, sizeof text - n, ".");
    }
    snprintf(text + n, sizeof text - n, ".");
    fl_dcm_item_begin(b, &citem);
    fl_dcm_put_str(b, 0x0040, 0xa010, "CS", "CONTAINS");
    fl_dcm_put_str(b, 0x0040, 0xa040, "CS", "TEXT");
    fl_dcm_seq_begin(b, 0x0040, 0xa043, &seq);
    fl_dcm_item_begin(b, &item);
    fl_dcm_put_str(b, 0x0008, 0x0100, "SH", t == 0 ? "121071" : "121073");
    fl_dcm_put_str(b, 0x0008, 0x0102, "SH", "DCM");
    fl_dcm_put_str(b, 0x0008, 0x0104, "LO", titles[t]);
    fl_dcm_end(b, item);
    fl_dcm_end(b, seq);
    fl_dcm_put_str(b, 0x0040, 0xa160, "UT", text);
    fl_dcm_end(b, citem);
  }
  fl_dcm_end(b, cseq);
}

/* Enhanced multi-frame functional groups for tomosynthesis: pixel measures
 * shared, plane position and stack position per frame. */
static void fl__put_mg_groups(fl_dcm_buf_t *b, const fl__study_t *st) {
  size_t s0, i0, s1, i1, s2, i2;
  fl_dcm_seq_begin(b, 0x5200, 0x9229, &s0);
  fl_dcm_item_begin(b, &i0);
  fl_dcm_seq_begin(b, 0x0028, 0x9110, &s1);
  fl_dcm_item_begin(b, &i1);
  fl_dcm_put_str(b, 0x0018, 0x0050, "DS", "1");
  fl_dcm_put_str(b, 0x0028, 0x0030, "DS", st->spec->spacing);
  fl_dcm_end(b, i1);
  fl_dcm_end(b, s1);
  fl_dcm_end(b, i0);
  fl_dcm_end(b, s0);
  fl_dcm_seq_begin(b, 0x5200, 0x9230, &s0);
  for (uint32_t f = 0; f < st->frames; f++) {
    char pos[64];
    fl_dcm_item_begin(b, &i0);
    fl_dcm_seq_begin(b, 0x0020, 0x9111, &s1); /* FrameContentSequence */
    fl_dcm_item_begin(b, &i1);
    fl_dcm_put_ul(b, 0x0020, 0x9057, f + 1); /* InStackPositionNumber */
    fl_dcm_end(b, i1);
    fl_dcm_end(b, s1);
    fl_dcm_seq_begin(b, 0x0020, 0x9113, &s2); /* PlanePositionSequence */
    fl_dcm_item_begin(b, &i2);
    snprintf(pos, sizeof pos, "0\\0\\%u", f);
    fl_dcm_put_str(b, 0x0020, 0x0032, "DS", pos);
    fl_dcm_end(b, i2);
    fl_dcm_end(b, s2);
    fl_dcm_end(b, i0);
  }
  fl_dcm_end(b, s0);
}

/* The whole file up to and including the Pixel Data element header. */
static int fl__header(fl_dcm_buf_t *b, const fl__study_t *st, uint32_t index) {
  const fl__spec_t *s = st->spec;
  char sop[FL_UID_BUF], num[32], z[32], pos[64];
  int image = s->rows != 0;
  fl__uid(st->key, 4, index, sop);
  fl_dcm_put_part10_header(b, s->sop_class, sop, FL__IMPL_CLASS_UID, FL__IMPL_VERSION);
  fl_dcm_put_str(b, 0x0008, 0x0005, "CS", "ISO_IR 100");
  if (image)
    fl_dcm_put_str(b, 0x0008, 0x0008, "CS", s->image_type);
  fl_dcm_put_str(b, 0x0008, 0x0012, "DA", st->date);
  fl_dcm_put_str(b, 0x0008, 0x0016, "UI", s->sop_class);
  fl_dcm_put_str(b, 0x0008, 0x0018, "UI", sop);
  fl_dcm_put_str(b, 0x0008, 0x0020, "DA", st->date);
  fl_dcm_put_str(b, 0x0008, 0x0021, "DA", st->date);
  fl_dcm_put_str(b, 0x0008, 0x0023, "DA", st->date);
  fl_dcm_put_str(b, 0x0008, 0x0030, "TM", st->time);
  fl_dcm_put_str(b, 0x0008, 0x0031, "TM", st->time);
  fl_dcm_put_str(b, 0x0008, 0x0033, "TM", st->time);
  fl_dcm_put_str(b, 0x0008, 0x0050, "SH", st->accession);
  fl_dcm_put_str(b, 0x0008, 0x0060, "CS", s->name);
  if (st->spec == &fl__specs[FL_GEN_DX] || st->spec == &fl__specs[FL_GEN_MG])
    fl_dcm_put_str(b, 0x0008, 0x0068, "CS", "FOR PRESENTATION");
  fl_dcm_put_str(b, 0x0008, 0x0070, "LO", "filmless");
  fl_dcm_put_str(b, 0x0008, 0x0090, "PN", "");
  fl_dcm_put_str(b, 0x0008, 0x1030, "LO", s->description);
  fl_dcm_put_str(b, 0x0008, 0x103e, "LO", s->description);
  if (!image) {
    size_t seq;
    fl_dcm_seq_begin(b, 0x0008, 0x1111, &seq); /* type 2, empty */
    fl_dcm_end(b, seq);
  }
  fl_dcm_put_str(b, 0x0010, 0x0010, "PN", st->patient_name);
  fl_dcm_put_str(b, 0x0010, 0x0020, "LO", st->patient_id);
  fl_dcm_put_str(b, 0x0010, 0x0030, "DA", st->birth_date);
  fl_dcm_put_str(b, 0x0010, 0x0040, "CS", st->sex);
  if (st->spec == &fl__specs[FL_GEN_MR]) {
    fl_dcm_put_str(b, 0x0018, 0x0020, "CS", "SE");
    fl_dcm_put_str(b, 0x0018, 0x0021, "CS", "NONE");
    fl_dcm_put_str(b, 0x0018, 0x0022, "CS", "");
    fl_dcm_put_str(b, 0x0018, 0x0023, "CS", "2D");
  }
  if (st->spec == &fl__specs[FL_GEN_CT] || st->spec == &fl__specs[FL_GEN_MR])
    fl_dcm_put_str(b, 0x0018, 0x0050, "DS", "1");
  if (st->spec == &fl__specs[FL_GEN_CT])
    fl_dcm_put_str(b, 0x0018, 0x0060, "DS", "120");
  if (st->spec == &fl__specs[FL_GEN_CT] || st->spec == &fl__specs[FL_GEN_MR])
    fl_dcm_put_str(b, 0x0018, 0x5100, "CS", "HFS");
  fl_dcm_put_str(b, 0x0020, 0x000d, "UI", st->study_uid);
  fl_dcm_put_str(b, 0x0020, 0x000e, "UI", st->series_uid);
  fl_dcm_put_str(b, 0x0020, 0x0010, "SH", st->study_id);
  fl_dcm_put_str(b, 0x0020, 0x0011, "IS", "1");
  snprintf(num, sizeof num, "%u", index + 1);
  fl_dcm_put_str(b, 0x0020, 0x0013, "IS", num);
  if (st->spec == &fl__specs[FL_GEN_DX] || st->spec == &fl__specs[FL_GEN_MG])
    fl_dcm_put_str(b, 0x0020, 0x0020, "CS", "A\\F");
  if (st->spec == &fl__specs[FL_GEN_CT] || st->spec == &fl__specs[FL_GEN_MR]) {
    double zmm = -0.5 * st->count + (double)index;
    fl__ds(z, sizeof z, zmm);
    snprintf(pos, sizeof pos, "%s\\%s\\%s", st->spec == &fl__specs[FL_GEN_CT] ? "-250" : "-120",
             st->spec == &fl__specs[FL_GEN_CT] ? "-250" : "-120", z);
    fl_dcm_put_str(b, 0x0020, 0x0032, "DS", pos);
    fl_dcm_put_str(b, 0x0020, 0x0037, "DS", "1\\0\\0\\0\\1\\0");
  }
  if (image && st->spec != &fl__specs[FL_GEN_DX])
    fl_dcm_put_str(b, 0x0020, 0x0052, "UI", st->frame_uid);
  if (st->spec == &fl__specs[FL_GEN_CT] || st->spec == &fl__specs[FL_GEN_MR]) {
    fl_dcm_put_str(b, 0x0020, 0x1040, "LO", "");
    fl_dcm_put_str(b, 0x0020, 0x1041, "DS", z);
  }
  if (!image) {
    fl__put_sr(b, st, index);
    return b->err;
  }
  fl_dcm_put_us(b, 0x0028, 0x0002, 1);
  fl_dcm_put_str(b, 0x0028, 0x0004, "CS", "MONOCHROME2");
  if (st->spec->frames > 1) {
    snprintf(num, sizeof num, "%u", st->frames);
    fl_dcm_put_str(b, 0x0028, 0x0008, "IS", num);
  }
  fl_dcm_put_us(b, 0x0028, 0x0010, s->rows);
  fl_dcm_put_us(b, 0x0028, 0x0011, s->cols);
  if (st->spec->frames <= 1)
    fl_dcm_put_str(b, 0x0028, 0x0030, "DS", s->spacing);
  fl_dcm_put_us(b, 0x0028, 0x0100, 16);
  fl_dcm_put_us(b, 0x0028, 0x0101, s->bits_stored);
  fl_dcm_put_us(b, 0x0028, 0x0102, (uint16_t)(s->bits_stored - 1));
  fl_dcm_put_us(b, 0x0028, 0x0103, 0);
  if (st->spec == &fl__specs[FL_GEN_MG])
    fl_dcm_put_str(b, 0x0028, 0x0301, "CS", "NO");
  fl_dcm_put_str(b, 0x0028, 0x1050, "DS", s->window_center);
  fl_dcm_put_str(b, 0x0028, 0x1051, "DS", s->window_width);
  if (st->spec == &fl__specs[FL_GEN_CT]) {
    fl_dcm_put_str(b, 0x0028, 0x1052, "DS", "-1024");
    fl_dcm_put_str(b, 0x0028, 0x1053, "DS", "1");
  }
  if (st->spec == &fl__specs[FL_GEN_MG])
    fl__put_mg_groups(b, st);
  uint64_t n = (uint64_t)fl__frame_bytes(s) * st->frames;
  if (n > UINT32_MAX - 1)
    return FL_ETOOBIG;
  fl_dcm_put_header(b, 0x7fe0, 0x0010, "OW", (uint32_t)n);
  return b->err;
}

/* --- public ---------------------------------------------------------------- */

int fl_gen_instance(const fl_gen_opts_t *o, uint32_t index, uint8_t **out, size_t *len,
                    fl_errmsg_t *em) {
  fl__study_t st;
  fl_dcm_buf_t b;
  fl_dcm_buf_init(&b);
  int rc = fl_gen_opts_check(o, em);
  if (rc != 0)
    goto fail;
  fl__study_init(&st, o);
  if (index >= st.count) {
    rc = fl_errf(em, FL_ECONFIG, "instance %u of a %u-instance study", index, st.count);
    goto fail;
  }
  rc = fl__header(&b, &st, index);
  if (rc != 0) {
    rc = fl_errf(em, rc, "building the DICOM header");
    goto fail;
  }
  size_t hdr = b.len, pix = st.spec->rows ? fl__frame_bytes(st.spec) * st.frames : 0;
  uint8_t *p = realloc(b.data, hdr + pix + 1);
  if (!p) {
    rc = fl_errf(em, -ENOMEM, "no memory for a %zu-byte instance", hdr + pix);
    goto fail;
  }
  b.data = p;
  if (pix && (rc = fl__pixels(&st, index, p + hdr)) != 0) {
    rc = fl_errf(em, rc, "drawing pixels");
    goto fail;
  }
  *out = p;
  *len = hdr + pix;
  return 0;
fail:
  fl_dcm_buf_free(&b);
  return rc;
}

static int fl__write_all(int fd, struct iovec *iov, int n) {
  while (n > 0) {
    ssize_t w = writev(fd, iov, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    while (n > 0 && (size_t)w >= iov->iov_len) {
      w -= (ssize_t)iov->iov_len;
      iov++;
      n--;
    }
    if (n > 0) {
      iov->iov_base = (uint8_t *)iov->iov_base + w;
      iov->iov_len -= (size_t)w;
    }
  }
  return 0;
}

int fl_gen_study(const fl_gen_opts_t *o, const char *dir, uint64_t *bytes, fl_errmsg_t *em) {
  fl__study_t st;
  fl_dcm_buf_t b;
  uint8_t *px = NULL;
  uint64_t total = 0;
  char path[4096];
  fl_dcm_buf_init(&b);
  int rc = fl_gen_opts_check(o, em);
  if (rc != 0)
    goto fail;
  fl__study_init(&st, o);
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    rc = fl_errf(em, -errno, "cannot create %s: %s", dir, strerror(errno));
    goto fail;
  }
  size_t pix = st.spec->rows ? fl__frame_bytes(st.spec) * st.frames : 0;
  if (pix && !(px = malloc(pix))) {
    rc = fl_errf(em, -ENOMEM, "no memory for %zu bytes of pixels", pix);
    goto fail;
  }
  for (uint32_t i = 0; i < st.count; i++) {
    fl_dcm_buf_reset(&b);
    if ((rc = fl__header(&b, &st, i)) != 0) {
      rc = fl_errf(em, rc, "building the DICOM header");
      goto fail;
    }
    if (pix && (rc = fl__pixels(&st, i, px)) != 0) {
      rc = fl_errf(em, rc, "drawing pixels");
      goto fail;
    }
    snprintf(path, sizeof path, "%s/%s_%05u.dcm", dir, st.spec->name, i + 1);
    for (char *c = path + strlen(dir) + 1; *c; c++)
      if (*c >= 'A' && *c <= 'Z')
        *c = (char)(*c - 'A' + 'a');
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      rc = fl_errf(em, -errno, "cannot create %s: %s", path, strerror(errno));
      goto fail;
    }
    struct iovec iov[2] = {{b.data, b.len}, {px, pix}};
    rc = fl__write_all(fd, iov, pix ? 2 : 1);
    if (close(fd) != 0 && rc == 0)
      rc = -errno;
    if (rc != 0) {
      rc = fl_errf(em, rc, "writing %s: %s", path, strerror(-rc));
      goto fail;
    }
    total += b.len + pix;
  }
  if (bytes)
    *bytes = total;
fail:
  free(px);
  fl_dcm_buf_free(&b);
  return rc;
}
