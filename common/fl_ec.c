/* The erasure codec on top of liberasurecode. Fragments are our 48-byte
 * header (fl_ec_frag.h) followed by an opaque payload: for EC the whole
 * liberasurecode fragment (its own 80-byte header, then the data), so that
 * decode can hand received buffers to liberasurecode without copying; for
 * replicas the object bytes themselves. */
#include "fl_ec.h"
#include "fl_mem.h"

#include "fl_crc32c.h"

#include <erasurecode.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fl_ec {
  int desc;                 /* liberasurecode instance; immutable */
  int backend_id;           /* ec_backend_id_t, written to headers */
  int k, m;                 /* geometry */
  size_t replica_threshold; /* see fl_ec_config_t */
  char backend[32];         /* name, for messages */
};

/* liberasurecode looks instances up in a global list that encode and
 * decode walk without a lock while create/destroy modify it: readers take
 * this lock shared, instance create/destroy exclusive. */
static pthread_rwlock_t fl__lec_lock = PTHREAD_RWLOCK_INITIALIZER;

static const struct {
  const char *name;
  int id;
  const char *package; /* Debian package providing the backend's library,
                        * NULL if none does */
} fl__backends[] = {
    {"isa_l_rs_vand", EC_BACKEND_ISA_L_RS_VAND, "libisal2"},
    {"isa_l_rs_cauchy", EC_BACKEND_ISA_L_RS_CAUCHY, "libisal2"},
    {"jerasure_rs_vand", EC_BACKEND_JERASURE_RS_VAND, "libjerasure2"},
    {"jerasure_rs_cauchy", EC_BACKEND_JERASURE_RS_CAUCHY, "libjerasure2"},
    {"flat_xor_hd", EC_BACKEND_FLAT_XOR_HD, "liberasurecode1"},
    {"liberasurecode_rs_vand", EC_BACKEND_LIBERASURECODE_RS_VAND, "liberasurecode1"},
    /* Proprietary, not packaged: usable only where their library exists. */
    {"shss", EC_BACKEND_SHSS, NULL},
    {"libphazr", EC_BACKEND_LIBPHAZR, NULL},
};
#define FL__NBACKENDS (sizeof fl__backends / sizeof fl__backends[0])

/* liberasurecode's fragment header precedes the data in every EC payload. */
#define FL__LEC_HDR ((size_t)sizeof(fragment_header_t))


int fl_ec_init(fl_ec_t **out, const fl_ec_config_t *cfg, fl_errmsg_t *em) {
  int rc = 0;
  fl_ec_t *ec = NULL;
  const char *name = cfg->backend ? cfg->backend : "isa_l_rs_vand";
  size_t b = 0;
  while (b < FL__NBACKENDS && strcmp(fl__backends[b].name, name) != 0)
    b++;
  if (b == FL__NBACKENDS) {
    rc = fl_errf(em, FL_ECONFIG,
                 "unknown erasure-code backend '%s' (known: isa_l_rs_vand, isa_l_rs_cauchy, "
                 "jerasure_rs_vand, jerasure_rs_cauchy, flat_xor_hd, liberasurecode_rs_vand, shss, "
                 "libphazr)",
                 name);
    goto fail;
  }
  if (cfg->k < 1 || cfg->m < 1 || cfg->k + cfg->m > FL_EC_MAX_FRAGS) {
    rc = fl_errf(em, FL_ECONFIG, "invalid erasure-code geometry k=%d m=%d: need k>=1, m>=1, k+m<=%d",
                 cfg->k, cfg->m, FL_EC_MAX_FRAGS);
    goto fail;
  }
  /* liberasurecode allocates and frees every fragment on each encode. */
  fl_mem_tune();
  ec = calloc(1, sizeof *ec);
  if (!ec) {
    rc = fl_errf(em, -ENOMEM, "allocating the erasure codec");
    goto fail;
  }
  ec->backend_id = fl__backends[b].id;
  ec->k = cfg->k;
  ec->m = cfg->m;
  ec->replica_threshold = cfg->replica_threshold;
  snprintf(ec->backend, sizeof ec->backend, "%s", name);

  pthread_rwlock_wrlock(&fl__lec_lock);
  if (!liberasurecode_backend_available((ec_backend_id_t)ec->backend_id)) {
    pthread_rwlock_unlock(&fl__lec_lock);
    if (fl__backends[b].package)
      rc = fl_errf(em, FL_EBACKEND, "liberasurecode backend %s is not available: install the Debian package %s",
                   name, fl__backends[b].package);
    else
      rc = fl_errf(em, FL_EBACKEND,
                   "liberasurecode backend %s is not available: its vendor library is not installed "
                   "(use isa_l_rs_vand)",
                   name);
    goto fail;
  }
  struct ec_args args = {.k = cfg->k, .m = cfg->m, .w = 8, .hd = cfg->m, .ct = CHKSUM_NONE};
  ec->desc = liberasurecode_instance_create((ec_backend_id_t)ec->backend_id, &args);
  pthread_rwlock_unlock(&fl__lec_lock);
  if (ec->desc <= 0) {
    rc = fl_errf(em, FL_ECONFIG, "liberasurecode backend %s refused k=%d m=%d (error %d)", name, cfg->k,
                 cfg->m, ec->desc);
    goto fail;
  }
  *out = ec;
  return 0;
fail:
  free(ec);
  return rc;
}

void fl_ec_close(fl_ec_t *ec) {
  if (!ec)
    return;
  pthread_rwlock_wrlock(&fl__lec_lock);
  liberasurecode_instance_destroy(ec->desc);
  pthread_rwlock_unlock(&fl__lec_lock);
  free(ec);
}

int fl_ec_layout_for(const fl_ec_t *ec, size_t size) {
  return (size == 0 || size < ec->replica_threshold) ? FL_EC_LAYOUT_REPLICA : FL_EC_LAYOUT_EC;
}

void fl_ec_frag_iov(const fl_ec_frag_t *f, struct iovec iov[2]) {
  iov[0].iov_base = (void *)f->hdr;
  iov[0].iov_len = FL_EC_FRAG_HDR_SIZE;
  iov[1].iov_base = (void *)f->payload;
  iov[1].iov_len = f->payload_len;
}

void fl_ec_stripe_release(fl_ec_stripe_t *s) {
  if (s->fl__data || s->fl__parity) {
    pthread_rwlock_rdlock(&fl__lec_lock);
    liberasurecode_encode_cleanup(s->fl__ec->desc, s->fl__data, s->fl__parity);
    pthread_rwlock_unlock(&fl__lec_lock);
  }
  memset(s, 0, sizeof *s);
}

static int fl__lec_err(fl_errmsg_t *em, const fl_ec_t *ec, const char *what, int lrc) {
  if (lrc == -ENOMEM)
    return fl_errf(em, -ENOMEM, "liberasurecode %s (%s): out of memory", what, ec->backend);
  /* Our CRC passed, so a payload liberasurecode cannot read was written
   * that way: corruption from the reader's point of view. */
  if (lrc == -EBADHEADER || lrc == -EBADCHKSUM)
    return fl_errf(em, FL_ECORRUPT, "liberasurecode %s (%s) refused a fragment's own header: error %d", what,
                   ec->backend, lrc);
  return fl_errf(em, FL_EBACKEND, "liberasurecode %s failed (%s, k=%d m=%d): error %d", what, ec->backend,
                 ec->k, ec->m, lrc);
}

int fl_ec_encode(fl_ec_t *ec, const void *obj, size_t size, const fl_ec_put_opts_t *opts,
                 fl_ec_stripe_t *out, fl_errmsg_t *em) {
  static const fl_ec_put_opts_t no_opts;
  int rc = 0;
  if (!opts)
    opts = &no_opts;
  memset(out, 0, sizeof *out);
  if ((uint64_t)size > FL_EC_MAX_OBJECT)
    return fl_errf(em, FL_ETOOBIG, "object of %zu bytes exceeds the %llu-byte erasure-coding limit", size,
                   (unsigned long long)FL_EC_MAX_OBJECT);
  if ((opts->flags & ~FL_EC_FLAGS_KNOWN) || (!(opts->flags & FL_EC_FLAG_ENCRYPTED) && opts->key_id))
    return fl_errf(em, -EINVAL, "fragment flags 0x%02x with key id %u are inconsistent", opts->flags,
                   (unsigned)opts->key_id);
  fl_ec_frag_hdr_t h = {
      .flags = opts->flags,
      .k = (uint8_t)ec->k,
      .m = (uint8_t)ec->m,
      .key_id = opts->key_id,
      .object_size = size,
      .stripe_id = opts->stripe_id,
  };
  out->fl__ec = ec;
  if (fl_ec_layout_for(ec, size) == FL_EC_LAYOUT_REPLICA) {
    /* Every copy is the caller's own buffer: one CRC, no copy. */
    h.layout = FL_EC_LAYOUT_REPLICA;
    h.payload_len = size;
    h.payload_crc = fl_crc32c(obj, size);
    out->layout = FL_EC_LAYOUT_REPLICA;
    out->nfrags = ec->m + 1;
    for (int i = 0; i < out->nfrags; i++) {
      h.index = (uint8_t)i;
      fl_ec_frag_hdr_encode(&h, out->frag[i].hdr);
      out->frag[i].payload = obj;
      out->frag[i].payload_len = size;
    }
    return 0;
  }

  uint64_t frag_len = 0;
  pthread_rwlock_rdlock(&fl__lec_lock);
  int lrc = liberasurecode_encode(ec->desc, obj, size, &out->fl__data, &out->fl__parity, &frag_len);
  pthread_rwlock_unlock(&fl__lec_lock);
  if (lrc != 0) {
    /* liberasurecode frees its own fragments when encode fails. */
    out->fl__data = out->fl__parity = NULL;
    rc = fl__lec_err(em, ec, "encode", lrc);
    goto fail;
  }
  h.layout = FL_EC_LAYOUT_EC;
  h.codec = (uint8_t)ec->backend_id;
  h.payload_len = frag_len;
  out->layout = FL_EC_LAYOUT_EC;
  out->nfrags = ec->k + ec->m;
  for (int i = 0; i < out->nfrags; i++) {
    const uint8_t *p = (const uint8_t *)(i < ec->k ? out->fl__data[i] : out->fl__parity[i - ec->k]);
    h.index = (uint8_t)i;
    /* The one pass over each fragment we add: right after liberasurecode
     * wrote it, while it is still in cache. */
    h.payload_crc = fl_crc32c(p, frag_len);
    fl_ec_frag_hdr_encode(&h, out->frag[i].hdr);
    out->frag[i].payload = p;
    out->frag[i].payload_len = frag_len;
  }
  return 0;
fail:
  fl_ec_stripe_release(out);
  return rc;
}

/* ---- decode ---------------------------------------------------------- */

/* Two fragments belong to the same object when everything but the index
 * and payload CRC agrees. */
static int fl__same_object(const fl_ec_frag_hdr_t *a, const fl_ec_frag_hdr_t *b) {
  return a->layout == b->layout && a->flags == b->flags && a->codec == b->codec && a->k == b->k &&
         a->m == b->m && a->key_id == b->key_id && a->object_size == b->object_size &&
         a->stripe_id == b->stripe_id && a->payload_len == b->payload_len;
}

/* Appends "; text" to a bounded list of reasons. */
static void fl__note(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fl__note(char *buf, size_t cap, const char *fmt, ...) {
  size_t n = strlen(buf);
  if (n + 3 >= cap)
    return;
  if (n) {
    memcpy(buf + n, "; ", 3);
    n += 2;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + n, cap - n, fmt, ap);
  va_end(ap);
}

/* A systematic code stores the object verbatim in fragments 0..k-1, each
 * payload being liberasurecode's header then B data bytes. Returns B if
 * every present payload has that plain layout (else 0: let
 * liberasurecode_decode work it out). */
static size_t fl__plain_block(const fl_ec_frag_hdr_t *h, const uint8_t *const *payload) {
  size_t block = (size_t)h->payload_len - FL__LEC_HDR;
  if (h->payload_len <= FL__LEC_HDR || block * h->k < h->object_size)
    return 0;
  for (int i = 0; i < h->k + h->m; i++) {
    if (!payload[i])
      continue;
    fragment_header_t lh;
    memcpy(&lh, payload[i], sizeof lh);
    if (lh.magic != LIBERASURECODE_FRAG_HEADER_MAGIC || lh.meta.idx != (uint32_t)i ||
        lh.meta.frag_backend_metadata_size != 0)
      return 0;
  }
  return block;
}

/* Object bytes held by data fragment i. */
static size_t fl__share(const fl_ec_frag_hdr_t *h, size_t block, int i) {
  size_t start = (size_t)i * block;
  if (start >= h->object_size)
    return 0;
  size_t left = (size_t)h->object_size - start;
  return left < block ? left : block;
}

/* The present payloads as liberasurecode takes them; returns their count. */
static int fl__lec_frags(const fl_ec_frag_hdr_t *h, const uint8_t *const *payload, char **frags) {
  int nf = 0;
  for (int i = 0; i < h->k + h->m; i++)
    if (payload[i])
      frags[nf++] = (char *)payload[i]; /* liberasurecode only reads them */
  return nf;
}

/* Rebuilds the missing data fragments with liberasurecode's reconstruct,
 * writing each one in place in out when its 80-byte header can land on
 * bytes a later step overwrites (the end of the lower fragments, filled
 * after fragment i since we go downwards), else through one scratch fragment.
 * This saves liberasurecode_decode's assembly into its own allocation and
 * our copy out of it. Caller holds fl__lec_lock shared. */
static int fl__rebuild(const fl_ec_t *ec, const fl_ec_frag_hdr_t *h, size_t block,
                       const uint8_t *const *payload, uint8_t *out, size_t cap) {
  char *frags[FL_EC_MAX_FRAGS];
  int nf = fl__lec_frags(h, payload, frags), lrc = 0;
  char *scratch = NULL;
  for (int i = h->k - 1; i >= 0; i--) {
    size_t n = fl__share(h, block, i);
    if (payload[i] || n == 0)
      continue;
    size_t at = (size_t)i * block;
    if (at >= FL__LEC_HDR && at + block <= cap) {
      lrc = liberasurecode_reconstruct_fragment(ec->desc, frags, nf, h->payload_len, i,
                                                (char *)out + at - FL__LEC_HDR);
    } else {
      if (!scratch && !(scratch = malloc((size_t)h->payload_len))) {
        lrc = -ENOMEM;
        goto fail;
      }
      lrc = liberasurecode_reconstruct_fragment(ec->desc, frags, nf, h->payload_len, i, scratch);
      if (lrc == 0)
        memcpy(out + at, scratch + FL__LEC_HDR, n);
    }
    if (lrc != 0)
      goto fail;
  }
  for (int i = h->k - 1; i >= 0; i--)
    if (payload[i])
      memcpy(out + (size_t)i * block, payload[i] + FL__LEC_HDR, fl__share(h, block, i));
fail:
  free(scratch);
  return lrc;
}

/* Step 3 of fl_ec_decode for EC: payload[i] is the verified payload of
 * fragment i or NULL; at least k are present and h matches ec. */
static int fl__decode_ec(const fl_ec_t *ec, const fl_ec_frag_hdr_t *h, const uint8_t *const *payload,
                         uint8_t *out, size_t cap, int *fast_path, fl_errmsg_t *em) {
  int have_data = 1;
  for (int i = 0; i < h->k; i++)
    have_data &= payload[i] != NULL;
  size_t block = fl__plain_block(h, payload);
  if (block && have_data) {
    for (int i = 0; i < h->k; i++)
      memcpy(out + (size_t)i * block, payload[i] + FL__LEC_HDR, fl__share(h, block, i));
    *fast_path = 1;
    return 0;
  }
  int lrc;
  uint64_t dec_len = h->object_size;
  pthread_rwlock_rdlock(&fl__lec_lock);
  if (block) {
    lrc = fl__rebuild(ec, h, block, payload, out, cap);
  } else {
    char *frags[FL_EC_MAX_FRAGS], *dec = NULL;
    int nf = fl__lec_frags(h, payload, frags);
    lrc = liberasurecode_decode(ec->desc, frags, nf, h->payload_len, 0, &dec, &dec_len);
    if (lrc == 0 && dec_len == h->object_size)
      memcpy(out, dec, (size_t)dec_len);
    if (dec)
      liberasurecode_decode_cleanup(ec->desc, dec);
  }
  pthread_rwlock_unlock(&fl__lec_lock);
  if (lrc != 0)
    return fl__lec_err(em, ec, "decode", lrc);
  if (dec_len != h->object_size)
    return fl_errf(em, FL_ECORRUPT, "liberasurecode decoded %llu bytes, fragments describe %llu",
                   (unsigned long long)dec_len, (unsigned long long)h->object_size);
  return 0;
}

/* Steps 1 and 2 of decoding: verifies every input, picks the object with
 * the most distinct valid indexes, and fills payload[index] with its
 * payloads. *ref gets that object's header; reasons for rejected inputs
 * are collected in why (cap whycap). checked: the caller verified every
 * input's payload CRC itself, so only headers and lengths are checked
 * here. Returns 0 with at least `need` valid fragments of one object,
 * else an error naming the shortage. */
static int fl__pick(const fl_ec_in_t *in, int n, int checked, fl_ec_report_t *rep,
                    fl_ec_frag_hdr_t *ref_out, const uint8_t **payload, char *why,
                    size_t whycap, fl_errmsg_t *em) {
  enum { MAXIN = 64 };
  fl_ec_frag_hdr_t hdr[MAXIN];
  int ok[MAXIN];
  memset(rep, 0, sizeof *rep);
  if (n < 0 || n > MAXIN)
    return fl_errf(em, -EINVAL, "decode takes 0..%d fragments, got %d", MAXIN, n);

  /* 1. Verify each fragment on its own. */
  for (int p = 0; p < n; p++) {
    fl_errmsg_t fem = {{0}};
    int frc = checked ? fl_ec_frag_check_len(in[p].buf, in[p].len, &hdr[p], &fem)
                      : fl_ec_frag_verify(in[p].buf, in[p].len, &hdr[p], &fem);
    ok[p] = frc == 0;
    if (!ok[p]) {
      rep->bad_pos |= (uint64_t)1 << p;
      fl_ec_frag_hdr_t hh;
      if (fl_ec_frag_hdr_parse(in[p].buf, in[p].len, &hh, NULL) == 0)
        rep->bad_idx |= (uint32_t)1 << hh.index;
      fl__note(why, whycap, "input %d: %s", p, fl_errmsg_str(&fem, frc));
    }
  }

  /* 2. Pick the object with the most distinct valid indexes; fragments of
   *    other objects are refused (named in the report). */
  int best = -1, best_cnt = 0, groups = 0;
  for (int p = 0; p < n; p++) {
    if (!ok[p])
      continue;
    int first = 1;
    for (int q = 0; q < p && first; q++)
      if (ok[q] && fl__same_object(&hdr[q], &hdr[p]))
        first = 0;
    if (!first)
      continue;
    groups++;
    uint32_t seen = 0;
    for (int q = p; q < n; q++)
      if (ok[q] && fl__same_object(&hdr[q], &hdr[p]))
        seen |= (uint32_t)1 << hdr[q].index;
    int cnt = __builtin_popcount(seen);
    if (cnt > best_cnt) {
      best = p;
      best_cnt = cnt;
    }
  }
  if (best < 0)
    return fl_errf(em, FL_EUNAVAIL, "no valid fragment among %d received%s%s", n, why[0] ? ": " : "", why);
  const fl_ec_frag_hdr_t ref = hdr[best];
  rep->hdr = ref;
  for (int p = 0; p < n; p++) {
    if (ok[p] && !fl__same_object(&hdr[p], &ref)) {
      ok[p] = 0;
      rep->bad_pos |= (uint64_t)1 << p;
      rep->bad_idx |= (uint32_t)1 << hdr[p].index;
      fl__note(why, whycap, "input %d (index %u): belongs to another object (stripe %016llx, %llu bytes)", p,
               hdr[p].index, (unsigned long long)hdr[p].stripe_id, (unsigned long long)hdr[p].object_size);
    }
  }
  /* One payload per index; duplicates beyond the first are unused. */
  for (int i = 0; i < FL_EC_MAX_FRAGS; i++)
    payload[i] = NULL;
  for (int p = 0; p < n; p++)
    if (ok[p] && !payload[hdr[p].index])
      payload[hdr[p].index] = (const uint8_t *)in[p].buf + FL_EC_FRAG_HDR_SIZE;
  rep->used = best_cnt;
  *ref_out = ref;
  int need = ref.layout == FL_EC_LAYOUT_REPLICA ? 1 : ref.k;
  if (best_cnt < need)
    return fl_errf(em, groups > 1 ? FL_ECORRUPT : FL_EUNAVAIL,
                   "%s: need %d valid fragments of one object (k=%u m=%u), have %d%s%s",
                   groups > 1 ? "fragments of different objects" : "not enough fragments", need, ref.k, ref.m,
                   best_cnt, why[0] ? "; rejected: " : "", why);
  return 0;
}

static int fl__same_codec(const fl_ec_t *ec, const fl_ec_frag_hdr_t *ref, fl_errmsg_t *em) {
  if (ref->k != ec->k || ref->m != ec->m || ref->codec != ec->backend_id)
    return fl_errf(em, FL_ECONFIG, "fragments were encoded with codec %u k=%u m=%u; this codec is %s k=%d m=%d",
                   ref->codec, ref->k, ref->m, ec->backend, ec->k, ec->m);
  return 0;
}

int fl_ec_decode(fl_ec_t *ec, const fl_ec_in_t *in, int n, void *out, size_t cap, size_t *out_size,
                 fl_ec_report_t *rep, fl_errmsg_t *em) {
  fl_ec_report_t dummy;
  char why[400] = "";
  const uint8_t *payload[FL_EC_MAX_FRAGS];
  fl_ec_frag_hdr_t ref;
  if (!rep)
    rep = &dummy;
  int rc = fl__pick(in, n, 0, rep, &ref, payload, why, sizeof why, em);
  if (rc)
    return rc;
  if (ref.object_size > cap)
    return fl_errf(em, FL_ETOOBIG, "object is %llu bytes, output buffer holds %zu",
                   (unsigned long long)ref.object_size, cap);

  /* 3. Rebuild. */
  if (ref.layout == FL_EC_LAYOUT_REPLICA) {
    for (int i = 0; i <= ref.m; i++)
      if (payload[i]) {
        memcpy(out, payload[i], (size_t)ref.object_size);
        break;
      }
    rep->fast_path = 1;
  } else if ((rc = fl__same_codec(ec, &ref, em)) != 0) {
    return rc;
  } else if ((rc = fl__decode_ec(ec, &ref, payload, out, cap, &rep->fast_path, em)) != 0) {
    return rc;
  }
  if (out_size)
    *out_size = (size_t)ref.object_size;
  if (why[0])
    fl_errf(em, 0, "decoded despite rejected fragments: %s", why);
  return 0;
}

static int fl__reconstruct(fl_ec_t *ec, const fl_ec_in_t *in, int n, int checked, int index,
                           void *out, size_t cap, size_t *out_len, fl_errmsg_t *em) {
  fl_ec_report_t rep;
  char why[400] = "";
  const uint8_t *payload[FL_EC_MAX_FRAGS];
  fl_ec_frag_hdr_t ref;
  int rc = fl__pick(in, n, checked, &rep, &ref, payload, why, sizeof why, em);
  if (rc)
    return rc;
  int width = ref.layout == FL_EC_LAYOUT_REPLICA ? ref.m + 1 : ref.k + ref.m;
  if (index < 0 || index >= width)
    return fl_errf(em, -EINVAL, "fragment %d does not exist in a %s stripe of %d", index,
                   ref.layout == FL_EC_LAYOUT_REPLICA ? "replicated" : "coded", width);
  size_t len = FL_EC_FRAG_HDR_SIZE + (size_t)ref.payload_len;
  if (len > cap)
    return fl_errf(em, FL_ETOOBIG, "fragment is %zu bytes, output buffer holds %zu", len, cap);
  uint8_t *dst = (uint8_t *)out + FL_EC_FRAG_HDR_SIZE;
  const uint8_t *have = NULL;
  for (int i = 0; i < width && !have; i++)
    if (payload[i] && (ref.layout == FL_EC_LAYOUT_REPLICA || i == index))
      have = payload[i];
  if (have) {
    /* A replica's payload is the object itself; a coded fragment that was
     * given is returned as it is. */
    memcpy(dst, have, (size_t)ref.payload_len);
  } else {
    if ((rc = fl__same_codec(ec, &ref, em)) != 0)
      return rc;
    char *frags[FL_EC_MAX_FRAGS];
    int nf = fl__lec_frags(&ref, payload, frags);
    pthread_rwlock_rdlock(&fl__lec_lock);
    int lrc = liberasurecode_reconstruct_fragment(ec->desc, frags, nf, ref.payload_len, index, (char *)dst);
    pthread_rwlock_unlock(&fl__lec_lock);
    if (lrc != 0)
      return fl__lec_err(em, ec, "reconstruct", lrc);
  }
  fl_ec_frag_hdr_t h = ref;
  h.index = (uint8_t)index;
  h.payload_crc = fl_crc32c(dst, (size_t)ref.payload_len);
  fl_ec_frag_hdr_encode(&h, out);
  *out_len = len;
  return 0;
}

int fl_ec_reconstruct(fl_ec_t *ec, const fl_ec_in_t *in, int n, int index, void *out, size_t cap,
                      size_t *out_len, fl_errmsg_t *em) {
  return fl__reconstruct(ec, in, n, 0, index, out, cap, out_len, em);
}

int fl_ec_reconstruct_checked(fl_ec_t *ec, const fl_ec_in_t *in, int n, int index, void *out,
                              size_t cap, size_t *out_len, fl_errmsg_t *em) {
  return fl__reconstruct(ec, in, n, 1, index, out, cap, out_len, em);
}
