/* Unit tests for the fragment header codec and the erasure codec: every
 * erasure pattern of up to m fragments, byte flips in every fragment,
 * broken headers, mixed objects, and concurrent use of one context. */
#include "fl_crc32c.h"
#include "fl_ec.h"
#include "fl_ec_frag.h"
#include "fl_test.h"

#include <errno.h>
#include <pthread.h>

#define THRESHOLD 4096

static uint64_t rnd(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

static uint8_t *make_object(size_t size, uint64_t seed) {
  uint8_t *p = malloc(size ? size : 1);
  FL_CHECK(p != NULL);
  for (size_t i = 0; i < size; i++)
    p[i] = (uint8_t)(rnd(&seed) >> 24);
  return p;
}

static fl_ec_t *make_ec_threshold(int k, int m, size_t threshold) {
  fl_ec_t *ec = NULL;
  fl_errmsg_t em = {{0}};
  fl_ec_config_t cfg = {.k = k, .m = m, .replica_threshold = threshold};
  int rc = fl_ec_init(&ec, &cfg, &em);
  if (rc != 0)
    fprintf(stderr, "fl_ec_init: %s\n", fl_errmsg_str(&em, rc));
  FL_CHECK_OK(rc);
  return ec;
}

static fl_ec_t *make_ec(int k, int m) { return make_ec_threshold(k, m, THRESHOLD); }

/* What a node would hand back: header and payload in one buffer, built
 * from the two iovecs the client sent. */
typedef struct {
  uint8_t *buf[FL_EC_MAX_FRAGS];
  size_t len[FL_EC_MAX_FRAGS];
  int n;
} received_t;

static void receive(const fl_ec_stripe_t *s, received_t *r) {
  r->n = s->nfrags;
  for (int i = 0; i < s->nfrags; i++) {
    struct iovec iov[2];
    fl_ec_frag_iov(&s->frag[i], iov);
    FL_CHECK_EQ(iov[0].iov_len, FL_EC_FRAG_HDR_SIZE);
    r->len[i] = iov[0].iov_len + iov[1].iov_len;
    r->buf[i] = malloc(r->len[i]);
    FL_CHECK(r->buf[i] != NULL);
    memcpy(r->buf[i], iov[0].iov_base, iov[0].iov_len);
    memcpy(r->buf[i] + iov[0].iov_len, iov[1].iov_base, iov[1].iov_len);
  }
}

static void received_free(received_t *r) {
  for (int i = 0; i < r->n; i++)
    free(r->buf[i]);
  r->n = 0;
}

/* ---- header codec ---------------------------------------------------- */

static fl_ec_frag_hdr_t sample_hdr(void) {
  fl_ec_frag_hdr_t h = {.layout = FL_EC_LAYOUT_EC, .codec = 4, .k = 4, .m = 2, .index = 5,
                        .object_size = 1000, .stripe_id = 0x1122334455667788ull,
                        .payload_len = 250 + 96, .payload_crc = 0xdeadbeef};
  return h;
}

static void test_hdr_roundtrip(void) {
  fl_ec_frag_hdr_t h = sample_hdr(), g;
  h.flags = FL_EC_FLAG_ENCRYPTED;
  h.key_id = 77;
  uint8_t b[FL_EC_FRAG_HDR_SIZE];
  fl_ec_frag_hdr_encode(&h, b);
  FL_CHECK_MEM(b, "FLEC", 4);
  FL_CHECK_OK(fl_ec_frag_hdr_parse(b, sizeof b, &g, NULL));
  FL_CHECK_EQ(g.version, FL_EC_FRAG_VERSION);
  FL_CHECK_EQ(g.layout, h.layout);
  FL_CHECK_EQ(g.flags, h.flags);
  FL_CHECK_EQ(g.codec, h.codec);
  FL_CHECK_EQ(g.k, 4);
  FL_CHECK_EQ(g.m, 2);
  FL_CHECK_EQ(g.index, 5);
  FL_CHECK_EQ(g.key_id, 77);
  FL_CHECK(g.object_size == 1000 && g.stripe_id == h.stripe_id && g.payload_len == h.payload_len);
  FL_CHECK_EQ(g.payload_crc, 0xdeadbeefu);
}

static void test_hdr_truncated_empty_garbage(void) {
  fl_ec_frag_hdr_t h = sample_hdr(), g;
  uint8_t b[FL_EC_FRAG_HDR_SIZE];
  fl_ec_frag_hdr_encode(&h, b);
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(fl_ec_frag_hdr_parse(b, 0, &g, &em), FL_ETRUNC);
  FL_CHECK(strstr(em.msg, "truncated: 0 of 48") != NULL);
  for (size_t len = 1; len < sizeof b; len++)
    FL_CHECK_ERR(fl_ec_frag_hdr_parse(b, len, &g, NULL), FL_ETRUNC);
  FL_CHECK_ERR(fl_ec_frag_verify(b, 0, &g, NULL), FL_ETRUNC);

  uint64_t s = 42;
  uint8_t junk[256];
  for (int t = 0; t < 1000; t++) {
    for (size_t i = 0; i < sizeof junk; i++)
      junk[i] = (uint8_t)rnd(&s);
    if (t & 1)
      memcpy(junk, "FLEC\x01", 5); /* past the magic and version checks */
    int rc = fl_ec_frag_hdr_parse(junk, sizeof junk, &g, &em);
    FL_CHECK_ERR(rc, FL_ECORRUPT);
  }
  memset(junk, 0, sizeof junk);
  FL_CHECK_ERR(fl_ec_frag_hdr_parse(junk, sizeof junk, &g, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "bad magic") != NULL);
}

/* Re-encodes with a valid header CRC so the field checks are reached. */
static int parse_with(fl_ec_frag_hdr_t h, int byte, uint8_t value, fl_errmsg_t *em) {
  uint8_t b[FL_EC_FRAG_HDR_SIZE];
  fl_ec_frag_hdr_encode(&h, b);
  if (byte >= 0) {
    b[byte] = value;
    uint32_t c = fl_crc32c(b, 44);
    for (int i = 0; i < 4; i++)
      b[44 + i] = (uint8_t)(c >> (8 * i));
  }
  fl_ec_frag_hdr_t g;
  return fl_ec_frag_hdr_parse(b, sizeof b, &g, em);
}

static void test_hdr_fields_refused(void) {
  fl_errmsg_t em = {{0}};
  fl_ec_frag_hdr_t h = sample_hdr();
  FL_CHECK_OK(parse_with(h, -1, 0, &em));
  FL_CHECK_ERR(parse_with(h, 4, 2, &em), FL_EVERSION);
  FL_CHECK(strstr(em.msg, "version 2") != NULL);
  FL_CHECK_ERR(parse_with(h, 5, 3, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "layout") != NULL);
  FL_CHECK_ERR(parse_with(h, 6, 0x80, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "flags") != NULL);
  FL_CHECK_ERR(parse_with(h, 8, 0, &em), FL_ECORRUPT); /* k = 0 */
  FL_CHECK(strstr(em.msg, "geometry") != NULL);
  FL_CHECK_ERR(parse_with(h, 9, 40, &em), FL_ECORRUPT); /* k+m > 32 */
  FL_CHECK_ERR(parse_with(h, 10, 6, &em), FL_ECORRUPT); /* index >= k+m */
  FL_CHECK(strstr(em.msg, "index") != NULL);
  FL_CHECK_ERR(parse_with(h, 11, 1, &em), FL_ECORRUPT);
  FL_CHECK_ERR(parse_with(h, 12, 1, &em), FL_ECORRUPT); /* key id, clear */
  FL_CHECK(strstr(em.msg, "key id") != NULL);
  FL_CHECK_ERR(parse_with(h, 23, 1, &em), FL_ECORRUPT); /* oversized object */
  FL_CHECK(strstr(em.msg, "exceeds") != NULL);
  FL_CHECK_ERR(parse_with(h, 39, 1, &em), FL_ECORRUPT); /* oversized payload */
  FL_CHECK(strstr(em.msg, "impossible") != NULL);
  FL_CHECK_ERR(parse_with(h, 33, 0, &em), FL_ECORRUPT); /* payload too short */
  h.layout = FL_EC_LAYOUT_REPLICA;
  h.codec = 0;
  h.index = 2;
  h.payload_len = h.object_size;
  FL_CHECK_OK(parse_with(h, -1, 0, &em));
  FL_CHECK_ERR(parse_with(h, 10, 3, &em), FL_ECORRUPT); /* replica index > m */
  FL_CHECK_ERR(parse_with(h, 32, 7, &em), FL_ECORRUPT); /* len != size */
  FL_CHECK(strstr(em.msg, "replica payload") != NULL);
}

static void test_hdr_every_bit_flip(void) {
  fl_ec_frag_hdr_t h = sample_hdr(), g;
  uint8_t b[FL_EC_FRAG_HDR_SIZE];
  fl_ec_frag_hdr_encode(&h, b);
  for (int i = 0; i < FL_EC_FRAG_HDR_SIZE; i++)
    for (int bit = 0; bit < 8; bit++) {
      b[i] ^= (uint8_t)(1u << bit);
      int rc = fl_ec_frag_hdr_parse(b, sizeof b, &g, NULL);
      FL_CHECK_ERR(rc, i == 4 ? FL_EVERSION : FL_ECORRUPT);
      b[i] ^= (uint8_t)(1u << bit);
    }
}

static void test_frag_verify_payload(void) {
  uint8_t frag[FL_EC_FRAG_HDR_SIZE + 100 + 1];
  for (int i = 0; i < 101; i++)
    frag[FL_EC_FRAG_HDR_SIZE + i] = (uint8_t)i;
  fl_ec_frag_hdr_t h = {.layout = FL_EC_LAYOUT_REPLICA, .k = 4, .m = 2, .index = 1, .object_size = 100,
                        .payload_len = 100, .payload_crc = fl_crc32c(frag + FL_EC_FRAG_HDR_SIZE, 100)};
  fl_ec_frag_hdr_encode(&h, frag);
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_ec_frag_verify(frag, FL_EC_FRAG_HDR_SIZE + 100, NULL, &em));
  FL_CHECK_ERR(fl_ec_frag_verify(frag, FL_EC_FRAG_HDR_SIZE + 99, NULL, &em), FL_ETRUNC);
  FL_CHECK(strstr(em.msg, "payload truncated: 99 of 100") != NULL);
  FL_CHECK_ERR(fl_ec_frag_verify(frag, sizeof frag, NULL, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "1 bytes after") != NULL);
  /* With the whole fragment's CRC known (as a frame's): the same verdicts
   * without a pass over the payload, and the CRC a sender would declare. */
  uint32_t whole = fl_crc32c(frag, FL_EC_FRAG_HDR_SIZE + 100);
  FL_CHECK_EQ(fl_ec_frag_whole_crc(frag, FL_EC_FRAG_HDR_SIZE + 100), whole);
  fl_ec_frag_hdr_t got;
  FL_CHECK_OK(fl_ec_frag_verify_known(frag, FL_EC_FRAG_HDR_SIZE + 100, whole, &got, &em));
  FL_CHECK_EQ(got.payload_crc, h.payload_crc);
  FL_CHECK_ERR(fl_ec_frag_verify_known(frag, FL_EC_FRAG_HDR_SIZE + 99, whole, NULL, &em),
               FL_ETRUNC);
  frag[FL_EC_FRAG_HDR_SIZE + 50] ^= 4;
  FL_CHECK_ERR(fl_ec_frag_verify(frag, FL_EC_FRAG_HDR_SIZE + 100, NULL, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "fragment 1 payload CRC32C mismatch") != NULL);
  /* The bytes as they arrived (CRC of the flipped bytes, checked by the
   * frame) against the header's CRC of the original payload. */
  uint32_t flipped = fl_crc32c(frag, FL_EC_FRAG_HDR_SIZE + 100);
  FL_CHECK_ERR(fl_ec_frag_verify_known(frag, FL_EC_FRAG_HDR_SIZE + 100, flipped, NULL, &em),
               FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "fragment 1 payload CRC32C mismatch") != NULL);
  /* A header whose payload CRC was tampered with, frame CRC recomputed. */
  frag[FL_EC_FRAG_HDR_SIZE + 50] ^= 4;
  h.payload_crc ^= 1;
  fl_ec_frag_hdr_encode(&h, frag);
  FL_CHECK_ERR(fl_ec_frag_verify_known(frag, FL_EC_FRAG_HDR_SIZE + 100,
                                       fl_crc32c(frag, FL_EC_FRAG_HDR_SIZE + 100), NULL, &em),
               FL_ECORRUPT);
}

/* ---- codec ------------------------------------------------------------ */

/* Decodes from all fragments except those in erased_mask, in reverse
 * order, and checks the bytes. Returns the fast-path flag. */
static int decode_without(fl_ec_t *ec, const received_t *r, uint32_t erased_mask, const uint8_t *obj,
                          size_t size) {
  fl_ec_in_t in[FL_EC_MAX_FRAGS];
  int n = 0;
  for (int i = r->n - 1; i >= 0; i--)
    if (!(erased_mask & (1u << i)))
      in[n++] = (fl_ec_in_t){r->buf[i], r->len[i]};
  uint8_t *out = malloc(size + 1);
  size_t got = 0;
  fl_ec_report_t rep;
  fl_errmsg_t em = {{0}};
  int rc = fl_ec_decode(ec, in, n, out, size, &got, &rep, &em);
  if (rc != 0)
    fprintf(stderr, "decode size %zu erased 0x%x: %s\n", size, erased_mask, fl_errmsg_str(&em, rc));
  FL_CHECK_OK(rc);
  FL_CHECK_EQ(got, size);
  FL_CHECK_MEM(out, obj, size);
  FL_CHECK_EQ(rep.bad_pos, 0);
  free(out);
  return rep.fast_path;
}

static void check_all_patterns(int k, int m, size_t threshold, const size_t *sizes, size_t nsizes) {
  fl_ec_t *ec = make_ec_threshold(k, m, threshold);
  for (size_t si = 0; si < nsizes; si++) {
    size_t size = sizes[si];
    uint8_t *obj = make_object(size, 1000 + si);
    fl_ec_stripe_t s;
    fl_ec_put_opts_t o = {.stripe_id = 99 + si};
    FL_CHECK_OK(fl_ec_encode(ec, obj, size, &o, &s, NULL));
    int replica = size == 0 || size < threshold;
    FL_CHECK_EQ(s.layout, replica ? FL_EC_LAYOUT_REPLICA : FL_EC_LAYOUT_EC);
    FL_CHECK_EQ(s.nfrags, replica ? m + 1 : k + m);
    received_t r;
    receive(&s, &r);
    /* Inputs must come back untouched, even from a degraded decode. */
    uint32_t crc_before[FL_EC_MAX_FRAGS];
    for (int i = 0; i < r.n; i++)
      crc_before[i] = fl_crc32c(r.buf[i], r.len[i]);
    int patterns = 0;
    for (uint32_t mask = 0; mask < (1u << r.n); mask++) {
      if (__builtin_popcount(mask) > m)
        continue;
      int fast = decode_without(ec, &r, mask, obj, size);
      int data_missing = replica ? mask == (1u << r.n) - 1 : (mask & ((1u << k) - 1)) != 0;
      FL_CHECK_EQ(fast, !data_missing);
      patterns++;
    }
    FL_CHECK(patterns > 1);
    for (int i = 0; i < r.n; i++)
      FL_CHECK_EQ(fl_crc32c(r.buf[i], r.len[i]), crc_before[i]);
    received_free(&r);
    fl_ec_stripe_release(&s);
    fl_ec_stripe_release(&s);
    free(obj);
  }
  fl_ec_close(ec);
}

static const size_t sizes[] = {0, 1, 7, 1000, THRESHOLD - 1, THRESHOLD, THRESHOLD + 1, 65537, 1000003};
/* Without replication, tiny objects give EC fragments shorter than
 * liberasurecode's own header. */
static const size_t tiny[] = {1, 2, 7, 100, 641};

static void test_patterns_4_2(void) {
  check_all_patterns(4, 2, THRESHOLD, sizes, sizeof sizes / sizeof sizes[0]);
  check_all_patterns(4, 2, 0, tiny, sizeof tiny / sizeof tiny[0]);
}

static void test_patterns_8_3(void) {
  check_all_patterns(8, 3, THRESHOLD, sizes, sizeof sizes / sizeof sizes[0]);
  check_all_patterns(8, 3, 0, tiny, sizeof tiny / sizeof tiny[0]);
}

/* Flips one byte at every position of every fragment (header and data)
 * of a small EC object and a replica: each is decoded around and named. */
static void check_flips(fl_ec_t *ec, size_t size, int step) {
  uint8_t *obj = make_object(size, size);
  fl_ec_stripe_t s;
  FL_CHECK_OK(fl_ec_encode(ec, obj, size, NULL, &s, NULL));
  received_t r;
  receive(&s, &r);
  uint8_t *out = malloc(size);
  for (int f = 0; f < r.n; f++) {
    for (size_t pos = 0; pos < r.len[f]; pos += (pos < FL_EC_FRAG_HDR_SIZE ? 1 : (size_t)step)) {
      r.buf[f][pos] ^= 0x5a;
      fl_ec_in_t in[FL_EC_MAX_FRAGS];
      for (int i = 0; i < r.n; i++)
        in[i] = (fl_ec_in_t){r.buf[i], r.len[i]};
      fl_ec_report_t rep;
      fl_errmsg_t em = {{0}};
      size_t got = 0;
      FL_CHECK_OK(fl_ec_decode(ec, in, r.n, out, size, &got, &rep, &em));
      FL_CHECK_EQ(got, size);
      FL_CHECK_MEM(out, obj, size);
      FL_CHECK_EQ(rep.bad_pos, 1ull << f);
      if (pos >= FL_EC_FRAG_HDR_SIZE) {
        FL_CHECK_EQ(rep.bad_idx, 1u << f);
        FL_CHECK(strstr(em.msg, "payload CRC32C mismatch") != NULL);
      } else {
        FL_CHECK_EQ(rep.bad_idx, 0);
      }
      char tag[32];
      snprintf(tag, sizeof tag, "input %d:", f);
      FL_CHECK(strstr(em.msg, tag) != NULL);
      r.buf[f][pos] ^= 0x5a;
    }
  }
  free(out);
  received_free(&r);
  fl_ec_stripe_release(&s);
  free(obj);
}

static void test_byte_flips(void) {
  fl_ec_t *ec = make_ec(4, 2);
  check_flips(ec, 1001, 1);  /* replica */
  check_flips(ec, 10007, 1); /* EC: every byte of every fragment */
  fl_ec_close(ec);
  ec = make_ec(8, 3);
  check_flips(ec, 100003, 61);
  fl_ec_close(ec);
}

/* One object encoded and handed back by the nodes: in[i] is fragment i. */
typedef struct {
  size_t size;
  uint8_t *obj, *out;
  fl_ec_stripe_t s;
  received_t r;
  fl_ec_in_t in[FL_EC_MAX_FRAGS];
} stored_t;

static void store(stored_t *st, fl_ec_t *ec, size_t size, uint64_t seed, const fl_ec_put_opts_t *o) {
  st->size = size;
  st->obj = make_object(size, seed);
  st->out = malloc(size + 1);
  FL_CHECK_OK(fl_ec_encode(ec, st->obj, size, o, &st->s, NULL));
  receive(&st->s, &st->r);
  for (int i = 0; i < st->r.n; i++)
    st->in[i] = (fl_ec_in_t){st->r.buf[i], st->r.len[i]};
}

static void stored_free(stored_t *st) {
  received_free(&st->r);
  fl_ec_stripe_release(&st->s);
  free(st->obj);
  free(st->out);
}

static void test_too_few_fragments(void) {
  fl_ec_t *ec = make_ec(4, 2);
  stored_t st;
  store(&st, ec, 50000, 5, NULL);
  size_t size = st.size;
  fl_ec_in_t *in = st.in;
  uint8_t *out = st.out;
  fl_errmsg_t em = {{0}};
  fl_ec_report_t rep;
  /* 3 of 4 needed. */
  FL_CHECK_ERR(fl_ec_decode(ec, in + 3, 3, out, size, NULL, &rep, &em), FL_EUNAVAIL);
  FL_CHECK(strstr(em.msg, "need 4 valid fragments") != NULL && strstr(em.msg, "have 3") != NULL);
  FL_CHECK_EQ(rep.used, 3);
  /* Duplicates do not count twice. */
  fl_ec_in_t dup[4] = {in[0], in[0], in[1], in[2]};
  FL_CHECK_ERR(fl_ec_decode(ec, dup, 4, out, size, NULL, NULL, &em), FL_EUNAVAIL);
  FL_CHECK_ERR(fl_ec_decode(ec, in, 0, out, size, NULL, NULL, &em), FL_EUNAVAIL);
  FL_CHECK(strstr(em.msg, "no valid fragment among 0") != NULL);
  /* Three corrupt fragments leave 3 of 4. */
  for (int i = 0; i < 3; i++)
    st.r.buf[i][FL_EC_FRAG_HDR_SIZE + 100] ^= 1;
  FL_CHECK_ERR(fl_ec_decode(ec, in, 6, out, size, NULL, &rep, &em), FL_EUNAVAIL);
  FL_CHECK_EQ(rep.bad_pos, 7);
  FL_CHECK_EQ(rep.bad_idx, 7);
  FL_CHECK(strstr(em.msg, "fragment 2 payload CRC32C mismatch") != NULL);
  for (int i = 0; i < 3; i++)
    st.r.buf[i][FL_EC_FRAG_HDR_SIZE + 100] ^= 1;
  /* Output buffer too small. */
  FL_CHECK_ERR(fl_ec_decode(ec, in, 6, out, size - 1, NULL, &rep, &em), FL_ETOOBIG);
  FL_CHECK_EQ(rep.hdr.object_size, size);
  /* Truncated and empty inputs are named. */
  in[1].len = 10;
  in[2].len = 0;
  in[3].len -= 1;
  FL_CHECK_ERR(fl_ec_decode(ec, in, 6, out, size, NULL, &rep, &em), FL_EUNAVAIL);
  FL_CHECK_EQ(rep.bad_pos, 0xe);
  FL_CHECK(strstr(em.msg, "input 1: fragment header truncated: 10 of 48") != NULL);
  FL_CHECK(strstr(em.msg, "payload truncated") != NULL);
  stored_free(&st);
  fl_ec_close(ec);
}

static void test_mismatched_objects(void) {
  fl_ec_t *ec = make_ec(4, 2);
  stored_t a, b, c;
  fl_ec_put_opts_t oa = {.stripe_id = 1}, ob = {.stripe_id = 2};
  store(&a, ec, 30000, 1, &oa);
  store(&b, ec, 30000, 2, &ob);
  store(&c, ec, 30001, 3, &oa); /* same stripe id, another size */
  fl_ec_in_t in[6];
  fl_errmsg_t em = {{0}};
  fl_ec_report_t rep;
  /* 3 + 3: neither object can be rebuilt. */
  for (int i = 0; i < 6; i++)
    in[i] = i < 3 ? a.in[i] : b.in[i];
  FL_CHECK_ERR(fl_ec_decode(ec, in, 6, a.out, a.size, NULL, &rep, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "different objects") != NULL);
  FL_CHECK(strstr(em.msg, "belongs to another object") != NULL);
  /* 4 of a + 2 of b: a is rebuilt, b's fragments are named. */
  for (int i = 0; i < 6; i++)
    in[i] = i < 4 ? a.in[i] : b.in[i];
  size_t got = 0;
  FL_CHECK_OK(fl_ec_decode(ec, in, 6, a.out, a.size, &got, &rep, &em));
  FL_CHECK_MEM(a.out, a.obj, a.size);
  FL_CHECK_EQ(rep.bad_pos, 0x30);
  FL_CHECK_EQ(rep.bad_idx, 0x30);
  FL_CHECK_EQ(rep.hdr.stripe_id, 1);
  in[0] = c.in[0];
  FL_CHECK_ERR(fl_ec_decode(ec, in, 4, a.out, a.size, NULL, &rep, &em), FL_ECORRUPT);
  stored_free(&a);
  stored_free(&b);
  stored_free(&c);
  fl_ec_close(ec);
}

static void test_encrypted_flags_and_geometry(void) {
  fl_ec_t *ec = make_ec(4, 2), *other = make_ec(8, 3);
  stored_t st;
  fl_ec_put_opts_t o = {.stripe_id = 5, .flags = FL_EC_FLAG_ENCRYPTED, .key_id = 1234};
  store(&st, ec, 20000, 9, &o);
  fl_ec_report_t rep;
  FL_CHECK_OK(fl_ec_decode(ec, st.in + 1, 5, st.out, st.size, NULL, &rep, NULL));
  FL_CHECK_MEM(st.out, st.obj, st.size);
  FL_CHECK_EQ(rep.hdr.flags, FL_EC_FLAG_ENCRYPTED);
  FL_CHECK_EQ(rep.hdr.key_id, 1234);
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(fl_ec_decode(other, st.in, 6, st.out, st.size, NULL, &rep, &em), FL_ECONFIG);
  FL_CHECK(strstr(em.msg, "k=4 m=2") != NULL);
  fl_ec_put_opts_t bad = {.key_id = 3};
  fl_ec_stripe_t s2;
  FL_CHECK_ERR(fl_ec_encode(ec, st.obj, st.size, &bad, &s2, NULL), -EINVAL);
  stored_free(&st);
  fl_ec_close(ec);
  fl_ec_close(other);
}

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* Flips byte at of a received fragment and recomputes both our CRCs. */
static void reseal(uint8_t *f, size_t len, size_t at) {
  f[at] ^= 0xff;
  put32(f + 40, fl_crc32c(f + FL_EC_FRAG_HDR_SIZE, len - FL_EC_FRAG_HDR_SIZE));
  put32(f + 44, fl_crc32c(f, 44));
}

/* A payload whose own (liberasurecode) header is broken but whose CRCs were
 * computed after the damage gets past verification: the decoder's refusal
 * is still reported as corruption, not as a backend failure. */
static void test_sealed_bad_backend_header(void) {
  fl_ec_t *ec = make_ec(4, 2);
  stored_t st;
  store(&st, ec, 40000, 21, NULL);
  reseal(st.r.buf[4], st.r.len[4], FL_EC_FRAG_HDR_SIZE + 70); /* liberasurecode's metadata checksum */
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(fl_ec_decode(ec, st.in + 1, 5, st.out, st.size, NULL, NULL, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "refused a fragment's own header") != NULL);
  stored_free(&st);
  /* A broken liberasurecode magic sends the decode down the general
   * liberasurecode_decode path, which refuses it the same way. */
  store(&st, ec, 40000, 22, NULL);
  reseal(st.r.buf[5], st.r.len[5], FL_EC_FRAG_HDR_SIZE + 60);
  FL_CHECK_ERR(fl_ec_decode(ec, st.in + 1, 5, st.out, st.size, NULL, NULL, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "refused a fragment's own header") != NULL);
  stored_free(&st);
  fl_ec_close(ec);
}

static void test_config_errors(void) {
  fl_ec_t *ec = NULL;
  fl_errmsg_t em = {{0}};
  fl_ec_config_t cfg = {.k = 4, .m = 2, .backend = "no_such_backend"};
  FL_CHECK_ERR(fl_ec_init(&ec, &cfg, &em), FL_ECONFIG);
  FL_CHECK(strstr(em.msg, "unknown erasure-code backend 'no_such_backend'") != NULL);
  cfg.backend = NULL;
  cfg.m = 0;
  FL_CHECK_ERR(fl_ec_init(&ec, &cfg, &em), FL_ECONFIG);
  cfg.k = 30;
  cfg.m = 3;
  FL_CHECK_ERR(fl_ec_init(&ec, &cfg, &em), FL_ECONFIG);
  FL_CHECK(strstr(em.msg, "k=30 m=3") != NULL);
  fl_ec_close(NULL);
  /* A backend whose library is absent here (proprietary, never packaged):
   * the same path that reports a missing libisal2. */
  cfg = (fl_ec_config_t){.k = 4, .m = 2, .backend = "libphazr"};
  FL_CHECK_ERR(fl_ec_init(&ec, &cfg, &em), FL_EBACKEND);
  FL_CHECK(strstr(em.msg, "liberasurecode backend libphazr is not available") != NULL);
  /* Another backend named explicitly works and interoperates with itself. */
  cfg = (fl_ec_config_t){.k = 4, .m = 2, .backend = "liberasurecode_rs_vand"};
  FL_CHECK_OK(fl_ec_init(&ec, &cfg, &em));
  size_t size = 12345;
  uint8_t *obj = make_object(size, 11), *out = malloc(size);
  fl_ec_stripe_t s;
  FL_CHECK_OK(fl_ec_encode(ec, obj, size, NULL, &s, NULL));
  received_t r;
  receive(&s, &r);
  FL_CHECK_EQ(decode_without(ec, &r, 0x5, obj, size), 0);
  received_free(&r);
  fl_ec_stripe_release(&s);
  fl_ec_close(ec);
  free(obj);
  free(out);
}

/* ---- threads ---------------------------------------------------------- */

typedef struct {
  fl_ec_t *ec;
  uint64_t seed;
  int iters;
} worker_t;

static void *worker(void *arg) {
  worker_t *w = arg;
  for (int it = 0; it < w->iters; it++) {
    size_t size = 1 + rnd(&w->seed) % 300000;
    uint8_t *obj = make_object(size, w->seed);
    fl_ec_stripe_t s;
    fl_ec_put_opts_t o = {.stripe_id = w->seed};
    FL_CHECK_OK(fl_ec_encode(w->ec, obj, size, &o, &s, NULL));
    received_t r;
    receive(&s, &r);
    uint32_t mask = 0;
    int lose = (int)(rnd(&w->seed) % 4); /* m = 3 */
    while (__builtin_popcount(mask) < lose && s.layout == FL_EC_LAYOUT_EC)
      mask |= 1u << (rnd(&w->seed) % 11);
    decode_without(w->ec, &r, mask, obj, size);
    received_free(&r);
    fl_ec_stripe_release(&s);
    free(obj);
  }
  return NULL;
}

/* Creates and destroys other contexts while the workers run: the registry
 * liberasurecode walks without a lock is guarded by fl_ec. */
static void *churner(void *arg) {
  int *stop = arg;
  while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
    fl_ec_t *e = make_ec(4, 2);
    fl_ec_close(e);
  }
  return NULL;
}

static void test_threads_one_context(void) {
  fl_ec_t *ec = make_ec(8, 3);
  enum { N = 4 };
  pthread_t t[N], c;
  worker_t w[N];
  int stop = 0;
  FL_CHECK_EQ(pthread_create(&c, NULL, churner, &stop), 0);
  for (int i = 0; i < N; i++) {
    w[i] = (worker_t){ec, 0x1234567ull * (uint64_t)(i + 1), 60};
    FL_CHECK_EQ(pthread_create(&t[i], NULL, worker, &w[i]), 0);
  }
  for (int i = 0; i < N; i++)
    FL_CHECK_EQ(pthread_join(t[i], NULL), 0);
  __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
  FL_CHECK_EQ(pthread_join(c, NULL), 0);
  fl_ec_close(ec);
}

/* ---- reconstructing one fragment (repair) ------------------------------ */

/* Every fragment rebuilt from the others, and from just k of them, is
 * byte-identical to what the encode wrote: repair writes exactly the lost
 * fragment. */
static void check_reconstruct(int k, int m, size_t size) {
  fl_ec_t *ec = make_ec(k, m);
  uint8_t *obj = make_object(size, size * 7 + 3);
  fl_ec_stripe_t st;
  fl_ec_put_opts_t po = {.stripe_id = 0xfeedull + size};
  FL_CHECK_OK(fl_ec_encode(ec, obj, size, &po, &st, NULL));
  received_t r;
  receive(&st, &r);
  int width = r.n, need = st.layout == FL_EC_LAYOUT_REPLICA ? 1 : k;
  uint8_t *out = malloc(r.len[0]);
  for (int lost = 0; lost < width; lost++) {
    fl_ec_in_t in[FL_EC_MAX_FRAGS];
    int n = 0;
    /* The last `need` fragments other than the lost one: parity first. */
    for (int i = width - 1; i >= 0 && n < need; i--)
      if (i != lost)
        in[n++] = (fl_ec_in_t){r.buf[i], r.len[i]};
    size_t len = 0;
    fl_errmsg_t em = {{0}};
    int rc = fl_ec_reconstruct(ec, in, n, lost, out, r.len[lost], &len, &em);
    if (rc)
      fprintf(stderr, "reconstruct %d of %d+%d, %zu bytes: %s\n", lost, k, m, size,
              fl_errmsg_str(&em, rc));
    FL_CHECK_OK(rc);
    FL_CHECK_EQ(len, r.len[lost]);
    FL_CHECK(memcmp(out, r.buf[lost], len) == 0);
    FL_CHECK_EQ(fl_ec_frag_whole_crc(out, len), fl_crc32c(out, len));
    /* Inputs the caller verified: the same bytes. */
    memset(out, 0, r.len[lost]);
    FL_CHECK_OK(fl_ec_reconstruct_checked(ec, in, n, lost, out, r.len[lost], &len, &em));
    FL_CHECK_EQ(len, r.len[lost]);
    FL_CHECK(memcmp(out, r.buf[lost], len) == 0);
  }
  /* Too few, a bad index, a small buffer. */
  fl_ec_in_t one = {r.buf[0], r.len[0]};
  size_t len = 0;
  fl_errmsg_t em = {{0}};
  if (need > 1)
    FL_CHECK_EQ(fl_ec_reconstruct(ec, &one, 1, 1, out, r.len[0], &len, &em), FL_EUNAVAIL);
  FL_CHECK_EQ(fl_ec_reconstruct(ec, &one, 1, width, out, r.len[0], &len, &em),
              need > 1 ? FL_EUNAVAIL : -EINVAL);
  fl_ec_in_t all[FL_EC_MAX_FRAGS];
  for (int i = 0; i < width; i++)
    all[i] = (fl_ec_in_t){r.buf[i], r.len[i]};
  FL_CHECK_EQ(fl_ec_reconstruct(ec, all, width, width, out, r.len[0], &len, &em), -EINVAL);
  FL_CHECK_EQ(fl_ec_reconstruct(ec, all, width, 0, out, r.len[0] - 1, &len, &em), FL_ETOOBIG);
  /* The checked variant still refuses a bad header or length, but takes a
   * payload as its caller vouched for it: the plain one refuses a flipped
   * payload byte (nothing else to use), the checked one does not look. */
  if (need > 1 || width > 1) {
    fl_ec_in_t few[FL_EC_MAX_FRAGS];
    int nf = 0;
    for (int i = 1; i < width && nf < need; i++)
      few[nf++] = (fl_ec_in_t){r.buf[i], r.len[i]};
    few[0].len--;
    FL_CHECK(fl_ec_reconstruct_checked(ec, few, nf, 0, out, r.len[0], &len, &em) != 0);
    few[0].len++;
    r.buf[1][r.len[1] - 1] ^= 0x10; /* past any codec header, in the data */
    FL_CHECK(fl_ec_reconstruct(ec, few, nf, 0, out, r.len[0], &len, &em) != 0);
    FL_CHECK_OK(fl_ec_reconstruct_checked(ec, few, nf, 0, out, r.len[0], &len, &em));
    r.buf[1][r.len[1] - 1] ^= 0x10; /* past any codec header, in the data */
  }
  /* A corrupt input is skipped when enough others remain. */
  if (width > need + 1) {
    r.buf[width - 1][FL_EC_FRAG_HDR_SIZE + 5] ^= 0x40;
    FL_CHECK_OK(fl_ec_reconstruct(ec, all, width, 0, out, r.len[0], &len, &em));
    FL_CHECK(memcmp(out, r.buf[0], len) == 0);
  }
  free(out);
  received_free(&r);
  fl_ec_stripe_release(&st);
  free(obj);
  fl_ec_close(ec);
}

static void test_reconstruct(void) {
  check_reconstruct(4, 2, 524288);
  check_reconstruct(4, 2, 524288 + 13);
  check_reconstruct(8, 3, 1000003);
  check_reconstruct(4, 2, 100); /* a replica */
}

int main(void) {
  FL_RUN(test_hdr_roundtrip);
  FL_RUN(test_hdr_truncated_empty_garbage);
  FL_RUN(test_hdr_fields_refused);
  FL_RUN(test_hdr_every_bit_flip);
  FL_RUN(test_frag_verify_payload);
  FL_RUN(test_patterns_4_2);
  FL_RUN(test_patterns_8_3);
  FL_RUN(test_byte_flips);
  FL_RUN(test_too_few_fragments);
  FL_RUN(test_mismatched_objects);
  FL_RUN(test_encrypted_flags_and_geometry);
  FL_RUN(test_sealed_bad_backend_header);
  FL_RUN(test_config_errors);
  FL_RUN(test_threads_one_context);
  FL_RUN(test_reconstruct);
  FL_DONE();
}
