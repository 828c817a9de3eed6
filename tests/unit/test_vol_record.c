/* Unit tests for the pure volume record codec, the superblock slot codec and
 * the scrub token bucket: round trips, truncation at every byte, every
 * flipped byte, oversized lengths refused before allocation, garbage. */
#include <stdint.h>

#include "fl_crc32c.h"
#include "fl_test.h"
#include "fl_vol_le.h"
#include "fl_vol_rate.h"
#include "fl_vol_record.h"
#include "fl_vol_super.h"

static const uint8_t payload[] = "pixel data of one fragment";

static fl_vol_rec_hdr_t sample(void) {
  static const uint8_t key[] = "7/acme/1.2.3/1.2.3.4/1.2.3.4.5";
  static const uint8_t meta[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  fl_vol_rec_hdr_t h = {.flags = FL_VOL_REC_F_EC, .frag = 3, .volume_id = 42,
                        .offset = 8192, .seq = 123456789, .payload_len = sizeof payload,
                        .payload_crc = fl_crc32c(payload, sizeof payload),
                        .key_len = sizeof key - 1, .meta_len = sizeof meta,
                        .key = key, .meta = meta};
  return h;
}

static void test_round_trip(void) {
  uint8_t buf[FL_VOL_HDR_MAX];
  fl_vol_rec_hdr_t h = sample(), g;
  int n = fl_vol_rec_encode(buf, sizeof buf, &h, NULL);
  FL_CHECK_EQ(n, FL_VOL_REC_FIXED + h.key_len + h.meta_len);
  FL_CHECK_OK(fl_vol_rec_parse(buf, (size_t)n, &g, NULL));
  FL_CHECK_EQ(g.flags, h.flags);
  FL_CHECK_EQ(g.frag, h.frag);
  FL_CHECK_EQ(g.volume_id, h.volume_id);
  FL_CHECK_EQ(g.offset, h.offset);
  FL_CHECK_EQ(g.seq, h.seq);
  FL_CHECK_EQ(g.payload_len, h.payload_len);
  FL_CHECK_EQ(g.payload_crc, h.payload_crc);
  FL_CHECK_EQ(g.key_len, h.key_len);
  FL_CHECK_EQ(g.meta_len, h.meta_len);
  FL_CHECK_MEM(g.key, h.key, h.key_len);
  FL_CHECK_MEM(g.meta, h.meta, h.meta_len);
  FL_CHECK(g.key == buf + FL_VOL_REC_FIXED);
  FL_CHECK_OK(fl_vol_rec_verify_payload(&g, payload, NULL));
  uint8_t bad[sizeof payload];
  memcpy(bad, payload, sizeof bad);
  bad[5] ^= 1;
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(fl_vol_rec_verify_payload(&g, bad, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "payload CRC") != NULL);
  /* Tombstone: no payload, no meta. */
  h.flags = FL_VOL_REC_F_TOMBSTONE;
  h.meta_len = 0;
  h.payload_len = 0;
  h.payload_crc = fl_crc32c("", 0);
  n = fl_vol_rec_encode(buf, sizeof buf, &h, NULL);
  FL_CHECK_OK(fl_vol_rec_parse(buf, (size_t)n, &g, NULL));
  FL_CHECK_EQ(g.flags, FL_VOL_REC_F_TOMBSTONE);
  FL_CHECK(g.meta == NULL);
  FL_CHECK_EQ(fl_vol_rec_footprint(h.key_len, 0, 0), FL_VOL_ALIGN);
  FL_CHECK_EQ(fl_vol_rec_footprint(10, 0, 4096), 2 * FL_VOL_ALIGN);
  FL_CHECK_EQ(fl_vol_rec_footprint(10, 30, FL_VOL_ALIGN - FL_VOL_REC_FIXED - 40), FL_VOL_ALIGN);
}

static void test_truncated_every_byte(void) {
  uint8_t buf[FL_VOL_HDR_MAX];
  fl_vol_rec_hdr_t h = sample(), g;
  int n = fl_vol_rec_encode(buf, sizeof buf, &h, NULL);
  for (int len = 0; len < n; len++) {
    uint8_t *copy = malloc(len ? (size_t)len : 1);
    memcpy(copy, buf, (size_t)len);
    fl_errmsg_t em = {{0}};
    FL_CHECK_ERR(fl_vol_rec_parse(copy, (size_t)len, &g, &em), FL_ETRUNC);
    FL_CHECK(strstr(em.msg, "truncated") != NULL);
    free(copy);
  }
  /* Encoding into a short buffer is refused too. */
  FL_CHECK_ERR(fl_vol_rec_encode(buf, (size_t)n - 1, &h, NULL), FL_ETRUNC);
}

static void test_flipped_bytes(void) {
  uint8_t buf[FL_VOL_HDR_MAX];
  fl_vol_rec_hdr_t h = sample(), g;
  int n = fl_vol_rec_encode(buf, sizeof buf, &h, NULL);
  for (int i = 0; i < n; i++)
    for (int bit = 0; bit < 8; bit++) {
      buf[i] ^= (uint8_t)(1u << bit);
      int rc = fl_vol_rec_parse(buf, (size_t)n, &g, NULL);
      /* Any single flip is caught; a grown length reads as truncation. */
      if (rc == 0 || (rc != FL_ECORRUPT && rc != FL_EVERSION && rc != FL_ETOOBIG &&
                      rc != FL_ETRUNC))
        FL__FAIL("flip at byte %d bit %d parsed as %s", i, bit, fl_err_name(rc));
      buf[i] ^= (uint8_t)(1u << bit);
    }
  FL_CHECK_OK(fl_vol_rec_parse(buf, (size_t)n, &g, NULL));
}

static void test_bounds_refused(void) {
  uint8_t buf[FL_VOL_HDR_MAX];
  fl_vol_rec_hdr_t h = sample(), g;
  fl_errmsg_t em = {{0}};
  h.key_len = FL_VOL_KEY_MAX + 1;
  FL_CHECK_ERR(fl_vol_rec_encode(buf, sizeof buf, &h, &em), FL_ETOOBIG);
  FL_CHECK(strstr(em.msg, "key length") != NULL);
  h = sample();
  h.key_len = 0;
  FL_CHECK_ERR(fl_vol_rec_encode(buf, sizeof buf, &h, NULL), FL_ECORRUPT);
  h = sample();
  h.meta_len = FL_VOL_META_MAX + 1;
  FL_CHECK_ERR(fl_vol_rec_encode(buf, sizeof buf, &h, NULL), FL_ETOOBIG);
  h = sample();
  h.payload_len = FL_VOL_PAYLOAD_MAX + 1;
  FL_CHECK_ERR(fl_vol_rec_encode(buf, sizeof buf, &h, NULL), FL_ETOOBIG);
  h = sample();
  h.flags = 0x8000;
  FL_CHECK_ERR(fl_vol_rec_encode(buf, sizeof buf, &h, NULL), FL_ECORRUPT);
  h = sample();
  h.offset = 100;
  FL_CHECK_ERR(fl_vol_rec_encode(buf, sizeof buf, &h, NULL), FL_ECORRUPT);

  /* A header claiming huge lengths is refused from its fixed part alone,
   * before any further byte is read or anything allocated. */
  h = sample();
  int n = fl_vol_rec_encode(buf, sizeof buf, &h, NULL);
  FL_CHECK(n > 0);
  fl__vol_put64(buf + 32, UINT64_MAX);
  em.msg[0] = 0;
  FL_CHECK_ERR(fl_vol_rec_parse(buf, FL_VOL_REC_FIXED, &g, &em), FL_ETOOBIG);
  FL_CHECK(strstr(em.msg, "payload length") != NULL);
  fl__vol_put64(buf + 32, h.payload_len);
  fl__vol_put16(buf + 14, 0xffff);
  FL_CHECK_ERR(fl_vol_rec_parse(buf, FL_VOL_REC_FIXED, &g, &em), FL_ETOOBIG);
  fl__vol_put16(buf + 14, h.key_len);
  fl__vol_put16(buf + 44, 0xffff);
  FL_CHECK_ERR(fl_vol_rec_parse(buf, FL_VOL_REC_FIXED, &g, &em), FL_ETOOBIG);
  fl__vol_put16(buf + 44, h.meta_len);
  fl__vol_put16(buf + 4, 2);
  FL_CHECK_ERR(fl_vol_rec_parse(buf, (size_t)n, &g, &em), FL_EVERSION);
  FL_CHECK(strstr(em.msg, "version 2") != NULL);
}

static void test_garbage(void) {
  uint8_t buf[4096];
  uint32_t x = 2463534242u;
  fl_vol_rec_hdr_t g;
  for (int round = 0; round < 2000; round++) {
    for (size_t i = 0; i < sizeof buf; i++) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      buf[i] = (uint8_t)x;
    }
    if (round & 1)
      fl__vol_put32(buf, FL_VOL_REC_MAGIC); /* get past the magic */
    if (round & 2)
      fl__vol_put16(buf + 4, FL_VOL_REC_VERSION);
    FL_CHECK(fl_vol_rec_parse(buf, sizeof buf, &g, NULL) < 0);
  }
  memset(buf, 0, sizeof buf);
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(fl_vol_rec_parse(buf, sizeof buf, &g, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "magic") != NULL);
  FL_CHECK_ERR(fl_vol_rec_parse(buf, 0, &g, NULL), FL_ETRUNC);
}

static void test_super_choose(void) {
  uint8_t a[FL_VOL_SB_BYTES], b[FL_VOL_SB_BYTES];
  fl_vol_super_t sa = {.state = FL_VOL_STATE_ACTIVE, .volume_id = 9, .generation = 4,
                       .created_ns = 1, .checkpoint = FL_VOL_DATA_START, .checkpoint_seq = 0};
  fl_vol_super_t sb = sa, out;
  sb.generation = 5;
  sb.state = FL_VOL_STATE_SEALED;
  sb.checkpoint = 3 * 4096;
  sb.checkpoint_seq = 77;
  fl_vol_super_encode(a, &sa);
  fl_vol_super_encode(b, &sb);
  FL_CHECK_EQ(fl_vol_super_choose(a, b, &out, NULL), 1);
  FL_CHECK_EQ(out.generation, 5);
  FL_CHECK_EQ(out.checkpoint_seq, 77);
  FL_CHECK_EQ(out.state, FL_VOL_STATE_SEALED);
  FL_CHECK_EQ(fl_vol_super_choose(b, a, &out, NULL), 0);
  FL_CHECK_EQ(out.generation, 5);
  /* Any flipped byte of the newer slot: the older one wins. */
  for (unsigned i = 0; i < FL_VOL_SB_BYTES; i++) {
    b[i] ^= 0x10;
    FL_CHECK_EQ(fl_vol_super_choose(a, b, &out, NULL), 0);
    FL_CHECK_EQ(out.generation, 4);
    b[i] ^= 0x10;
  }
  memset(a, 0, sizeof a);
  memset(b, 0xff, sizeof b);
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(fl_vol_super_choose(a, b, &out, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "no valid superblock") != NULL);
}

static void test_rate(void) {
  fl_vol_rate_t r;
  /* 10 MB/s, 1 MB burst, starting full. */
  fl_vol_rate_init(&r, 10e6, 1e6, 1000);
  FL_CHECK_EQ(fl_vol_rate_take(&r, 1000, 1000000), 0);
  /* Empty now: the next 1 MB costs 0.1 s. */
  FL_CHECK_EQ(fl_vol_rate_take(&r, 1000, 1000000), 100000000);
  /* After waiting 0.1 s the debt is paid; 0.05 s more buys 0.5 MB. */
  FL_CHECK_EQ(fl_vol_rate_take(&r, 1000 + 150000000, 500000), 0);
  /* Idle for an hour: tokens stop at the burst. */
  FL_CHECK_EQ(fl_vol_rate_take(&r, 3600000000000ull, 1000000), 0);
  FL_CHECK_EQ(fl_vol_rate_take(&r, 3600000000000ull, 2000000), 200000000);
  /* Time going backwards adds nothing. */
  FL_CHECK(fl_vol_rate_take(&r, 5, 1) > 0);
  /* Over a long run, bytes/elapsed never exceeds the rate. */
  fl_vol_rate_init(&r, 5e6, 1e5, 0);
  uint64_t now = 0, total = 0;
  for (int i = 0; i < 1000; i++) {
    uint64_t bytes = 4096u * (uint64_t)(1 + i % 50);
    now += fl_vol_rate_take(&r, now, bytes);
    total += bytes;
  }
  FL_CHECK((double)total <= 5e6 * (double)now / 1e9 + 1e5 + 1);
  fl_vol_rate_init(&r, 0, 0, 0);
  FL_CHECK_EQ(fl_vol_rate_take(&r, 0, 1ull << 40), 0);
}

int main(void) {
  FL_RUN(test_round_trip);
  FL_RUN(test_truncated_every_byte);
  FL_RUN(test_flipped_bytes);
  FL_RUN(test_bounds_refused);
  FL_RUN(test_garbage);
  FL_RUN(test_super_choose);
  FL_RUN(test_rate);
  FL_DONE();
}
