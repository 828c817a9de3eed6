/* Wire frames: round trips of every message type, byte-at-a-time and
 * truncated feeding, garbage, limits refused before allocation, CRC and
 * version failures, pipelining, the caller-buffer payload path, and the
 * blocking connection against an echo server thread on 127.0.0.1. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fl_crc32c.h"
#include "fl_test.h"
#include "fl_wire.h"
#include "fl_wire_conn.h"

/* ---- helpers ------------------------------------------------------------ */

/* A growable byte stream of encoded frames. */
struct stream {
  uint8_t *b;
  size_t n, cap;
};

static void stream_put(struct stream *s, const void *p, size_t n) {
  if (s->n + n > s->cap) {
    s->cap = (s->n + n) * 2 + 64;
    s->b = realloc(s->b, s->cap);
    FL_CHECK(s->b != NULL);
  }
  if (n)
    memcpy(s->b + s->n, p, n);
  s->n += n;
}

/* Encodes h with payload (len bytes) and appends the frame to s. */
static void stream_frame(struct stream *s, Fl__FrameHeader *h, const void *payload, size_t len) {
  uint8_t hb[FL_WIRE_HEADER_BUF_MAX];
  size_t hl;
  struct iovec iov = {.iov_base = (void *)payload, .iov_len = len};
  FL_CHECK_OK(fl_wire_encode(h, &iov, len ? 1 : 0, hb, sizeof hb, &hl, NULL));
  FL_CHECK_EQ(hl, fl_wire_encoded_size(h));
  stream_put(s, hb, hl);
  stream_put(s, payload, len);
}

/* A frame built by hand, for headers the encoder rightly refuses. The
 * preamble's version/flags and a CRC skew are parameters. */
static void stream_raw(struct stream *s, const Fl__FrameHeader *h, uint8_t version, uint8_t flags,
                       uint32_t crc_xor, const void *payload, size_t len) {
  size_t hl = protobuf_c_message_get_packed_size(&h->base);
  uint8_t *b = malloc(FL_WIRE_PREAMBLE_SIZE + hl);
  memcpy(b, FL_WIRE_MAGIC, 4);
  b[4] = version;
  b[5] = flags;
  b[6] = (uint8_t)(hl >> 8);
  b[7] = (uint8_t)hl;
  protobuf_c_message_pack(&h->base, b + FL_WIRE_PREAMBLE_SIZE);
  uint32_t crc = fl_crc32c_extend(fl_crc32c(b, 8), b + FL_WIRE_PREAMBLE_SIZE, hl) ^ crc_xor;
  b[8] = (uint8_t)(crc >> 24);
  b[9] = (uint8_t)(crc >> 16);
  b[10] = (uint8_t)(crc >> 8);
  b[11] = (uint8_t)crc;
  stream_put(s, b, FL_WIRE_PREAMBLE_SIZE + hl);
  stream_put(s, payload, len);
  free(b);
}

/* Feeds s to p in chunks of `chunk` bytes (0: all at once). For each frame
 * parsed, appends its re-packed header and payload to out (if non-NULL).
 * Returns frames parsed, or the first error. */
static int feed_all(fl_wire_parser_t *p, const uint8_t *b, size_t n, size_t chunk,
                    struct stream *out, fl_errmsg_t *em) {
  int frames = 0;
  size_t off = 0;
  while (off < n) {
    size_t len = chunk && chunk < n - off ? chunk : n - off;
    size_t pos = 0;
    while (pos < len) {
      size_t used;
      int rc = fl_wire_parser_feed(p, b + off + pos, len - pos, &used, em);
      FL_CHECK(used <= len - pos);
      pos += used;
      if (rc < 0)
        return rc;
      if (rc == FL_WIRE_FRAME) {
        frames++;
        const Fl__FrameHeader *h = fl_wire_parser_header(p);
        FL_CHECK(h != NULL);
        if (out) {
          uint8_t hb[FL_WIRE_HEADER_BUF_MAX];
          size_t hl = protobuf_c_message_pack(&h->base, hb);
          stream_put(out, hb, hl);
          size_t pl;
          const void *pp = fl_wire_parser_payload(p, &pl);
          FL_CHECK_EQ(pl, h->payload_length);
          stream_put(out, pp, pl);
        }
      } else if (rc == FL_WIRE_AGAIN) {
        FL_CHECK_EQ(used, len - (pos - used));
      }
    }
    off += len;
  }
  return frames;
}

static void fill(uint8_t *b, size_t n, uint32_t seed) {
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    b[i] = (uint8_t)(seed >> 16);
  }
}

/* ---- one header of every type and direction ----------------------------- */

/* Storage for the body messages, so headers can point into it. */
struct bodies {
  Fl__ObjectKey key;
  Fl__Attribute attr;
  Fl__Attribute *attrs[1];
  Fl__Auth auth;
  Fl__PutFragmentArgs put;
  Fl__PutFragmentResult put_r;
  Fl__GetFragmentArgs get;
  Fl__GetFragmentResult get_r;
  Fl__ListArgs list;
  Fl__ListResult list_r;
  Fl__DeleteArgs del;
  Fl__DeleteResult del_r;
  Fl__StatResult stat_r;
  Fl__PgStatsResult pgs_r;
  Fl__RegisterNodeArgs reg;
  Fl__RegisterNodeResult reg_r;
  Fl__HeartbeatArgs hb;
  Fl__HeartbeatResult hb_r;
  Fl__GetMapArgs map;
  Fl__GetMapResult map_r;
  Fl__AdminSetWeightArgs weight;
  Fl__AdminMarkArgs mark;
  Fl__AdminRemoveNodeArgs rm;
  char *dcs[2];
  Fl__AdminSetPolicyArgs setpol;
  Fl__AdminResult admin_r;
  uint8_t token[3];
};

static void bodies_init(struct bodies *b) {
  fl__object_key__init(&b->key);
  b->key.tenant = "chu-nord";
  b->key.study_uid = "1.2.840.113619.2.55.3.604688119";
  b->key.series_uid = "1.2.840.113619.2.55.3.604688119.7";
  b->key.sop_uid = "1.2.840.113619.2.55.3.604688119.7.42";
  fl__attribute__init(&b->attr);
  b->attr.tag = 0x00100010;
  b->attr.value.data = (uint8_t *)"\x01\x02\x03";
  b->attr.value.len = 3;
  b->attr.encrypted = 1;
  b->attrs[0] = &b->attr;
  fl__auth__init(&b->auth);
  b->auth.principal = "gateway-1";
  memcpy(b->token, "tok", 3);
  b->auth.token.data = b->token;
  b->auth.token.len = 3;
  fl__put_fragment_args__init(&b->put);
  b->put.key = &b->key;
  b->put.fragment_index = 5;
  b->put.pg = 4093;
  b->put.layout = 1;
  b->put.object_size = 525000;
  b->put.ec_k = 8;
  b->put.ec_m = 3;
  b->put.key_id = 7;
  b->put.flags = 2;
  b->put.n_attrs = 1;
  b->put.attrs = b->attrs;
  fl__put_fragment_result__init(&b->put_r);
  b->put_r.existed = 1;
  fl__get_fragment_args__init(&b->get);
  b->get.key = &b->key;
  b->get.fragment_index = 2;
  b->get.offset = 4096;
  b->get.length = 8192;
  fl__get_fragment_result__init(&b->get_r);
  b->get_r.fragment_size = 65536;
  b->get_r.fragment_crc32c = 0xdeadbeef;
  fl__list_args__init(&b->list);
  b->list.prefix = &b->key;
  b->list.page_token.data = b->token;
  b->list.page_token.len = 3;
  b->list.max_entries = 1000;
  fl__list_result__init(&b->list_r);
  b->list_r.count = 17;
  fl__delete_args__init(&b->del);
  b->del.key = &b->key;
  b->del.all_fragments = 1;
  fl__delete_result__init(&b->del_r);
  b->del_r.tombstoned = 3;
  fl__stat_result__init(&b->stat_r);
  fl__pg_stats_result__init(&b->pgs_r);
  b->pgs_r.count = 3;
  b->stat_r.capacity_bytes = (uint64_t)4 << 40;
  b->stat_r.used_bytes = 123456789;
  b->stat_r.volumes = 12;
  fl__register_node_args__init(&b->reg);
  b->reg.address = "10.0.0.7:7400";
  b->reg.datacenter = "dc-a";
  b->reg.rack = "r12";
  fl__register_node_result__init(&b->reg_r);
  b->reg_r.node_id = 9;
  fl__heartbeat_args__init(&b->hb);
  b->hb.node_id = 9;
  b->hb.corrupt_fragments = 1;
  fl__heartbeat_result__init(&b->hb_r);
  b->hb_r.map_epoch = 77;
  fl__get_map_args__init(&b->map);
  b->map.known_epoch = 76;
  b->map.wait_ms = 30000;
  fl__get_map_result__init(&b->map_r);
  b->map_r.epoch = 77;
  fl__admin_set_weight_args__init(&b->weight);
  b->weight.node_id = 9;
  b->weight.weight = 4000;
  fl__admin_mark_args__init(&b->mark);
  b->mark.node_id = 9;
  b->mark.out = 1;
  fl__admin_remove_node_args__init(&b->rm);
  b->rm.node_id = 9;
  fl__admin_set_policy_args__init(&b->setpol);
  b->setpol.k = 8;
  b->setpol.m = 3;
  b->setpol.pg_count = 4096;
  b->dcs[0] = "dc-a";
  b->dcs[1] = "dc-b";
  b->setpol.n_datacenters = 2;
  b->setpol.datacenters = b->dcs;
  fl__admin_result__init(&b->admin_r);
  b->admin_r.map_epoch = 78;
}

/* Sets h to a request (resp == 0) or response of `type` with its body, and
 * says through *payload_ok whether this direction may carry a payload. */
static void header_for(Fl__FrameHeader *h, struct bodies *b, int type, int resp,
                       int *payload_ok) {
  fl__frame_header__init(h);
  h->type = (Fl__MsgType)type;
  h->response = resp;
  h->request_id = 0x1000u + (uint64_t)type;
  h->map_epoch = 77;
  h->deadline_ms = resp ? 0 : 5000;
  if (!resp)
    h->auth = &b->auth;
  *payload_ok = 0;
#define BODY(c, f, v) (h->body_case = FL__FRAME_HEADER__BODY_##c, h->f = (v))
  switch (type) {
  case FL__MSG_TYPE__MSG_TYPE_PING:
    *payload_ok = 1;
    break;
  case FL__MSG_TYPE__MSG_TYPE_PUT_FRAGMENT:
    *payload_ok = !resp;
    if (resp)
      BODY(PUT_FRAGMENT_RESULT, put_fragment_result, &b->put_r);
    else
      BODY(PUT_FRAGMENT, put_fragment, &b->put);
    break;
  case FL__MSG_TYPE__MSG_TYPE_GET_FRAGMENT:
    *payload_ok = resp;
    if (resp)
      BODY(GET_FRAGMENT_RESULT, get_fragment_result, &b->get_r);
    else
      BODY(GET_FRAGMENT, get_fragment, &b->get);
    break;
  case FL__MSG_TYPE__MSG_TYPE_LIST:
    *payload_ok = resp;
    if (resp)
      BODY(LIST_RESULT, list_result, &b->list_r);
    else
      BODY(LIST, list, &b->list);
    break;
  case FL__MSG_TYPE__MSG_TYPE_DELETE:
    if (resp)
      BODY(DELETE_RESULT, delete_result, &b->del_r);
    else
      BODY(DELETE_FRAGMENT, delete_fragment, &b->del);
    break;
  case FL__MSG_TYPE__MSG_TYPE_STAT:
    if (resp)
      BODY(STAT_RESULT, stat_result, &b->stat_r);
    break;
  case FL__MSG_TYPE__MSG_TYPE_PG_STATS:
    *payload_ok = resp;
    if (resp)
      BODY(PG_STATS_RESULT, pg_stats_result, &b->pgs_r);
    break;
  case FL__MSG_TYPE__MSG_TYPE_REGISTER_NODE:
    if (resp)
      BODY(REGISTER_NODE_RESULT, register_node_result, &b->reg_r);
    else
      BODY(REGISTER_NODE, register_node, &b->reg);
    break;
  case FL__MSG_TYPE__MSG_TYPE_HEARTBEAT:
    if (resp)
      BODY(HEARTBEAT_RESULT, heartbeat_result, &b->hb_r);
    else
      BODY(HEARTBEAT, heartbeat, &b->hb);
    break;
  case FL__MSG_TYPE__MSG_TYPE_GET_MAP:
  case FL__MSG_TYPE__MSG_TYPE_WATCH_MAP:
    *payload_ok = resp;
    if (resp)
      BODY(GET_MAP_RESULT, get_map_result, &b->map_r);
    else
      BODY(GET_MAP, get_map, &b->map);
    break;
  case FL__MSG_TYPE__MSG_TYPE_ADMIN_LIST_NODES:
    *payload_ok = resp;
    if (resp)
      BODY(ADMIN_RESULT, admin_result, &b->admin_r);
    break;
  case FL__MSG_TYPE__MSG_TYPE_ADMIN_SET_WEIGHT:
    if (resp)
      BODY(ADMIN_RESULT, admin_result, &b->admin_r);
    else
      BODY(ADMIN_SET_WEIGHT, admin_set_weight, &b->weight);
    break;
  case FL__MSG_TYPE__MSG_TYPE_ADMIN_MARK:
    if (resp)
      BODY(ADMIN_RESULT, admin_result, &b->admin_r);
    else
      BODY(ADMIN_MARK, admin_mark, &b->mark);
    break;
  case FL__MSG_TYPE__MSG_TYPE_ADMIN_REMOVE_NODE:
    if (resp)
      BODY(ADMIN_RESULT, admin_result, &b->admin_r);
    else
      BODY(ADMIN_REMOVE_NODE, admin_remove_node, &b->rm);
    break;
  case FL__MSG_TYPE__MSG_TYPE_ADMIN_SET_POLICY:
    if (resp)
      BODY(ADMIN_RESULT, admin_result, &b->admin_r);
    else
      BODY(ADMIN_SET_POLICY, admin_set_policy, &b->setpol);
    break;
  default:
    FL_CHECK(!"type missing from the test table");
  }
#undef BODY
}

/* Every type value from the generated descriptor, so a type added to the
 * .proto and forgotten here or in fl_wire.c fails this test. */
static int all_types(int *out) {
  const ProtobufCEnumDescriptor *d = &fl__msg_type__descriptor;
  int n = 0;
  for (unsigned i = 0; i < d->n_values; i++)
    if (d->values[i].value != FL__MSG_TYPE__MSG_TYPE_NONE)
      out[n++] = d->values[i].value;
  return n;
}

/* The stream of one request and one response of every type, payloads where
 * allowed; expect gets each frame's packed header + payload, for compare. */
static int every_type_stream(struct stream *s, struct stream *expect) {
  struct bodies b;
  bodies_init(&b);
  int types[64], nt = all_types(types), frames = 0;
  uint8_t payload[3000];
  for (int i = 0; i < nt; i++) {
    for (int resp = 0; resp <= 1; resp++) {
      Fl__FrameHeader h;
      int pok;
      header_for(&h, &b, types[i], resp, &pok);
      size_t plen = pok ? 100 + (size_t)i * 97 + (size_t)resp : 0;
      fill(payload, plen, (uint32_t)(i * 2 + resp));
      stream_frame(s, &h, payload, plen);
      uint8_t hb[FL_WIRE_HEADER_BUF_MAX];
      size_t hl = protobuf_c_message_pack(&h.base, hb);
      stream_put(expect, hb, hl);
      stream_put(expect, payload, plen);
      frames++;
    }
  }
  return frames;
}

/* ---- pure tests --------------------------------------------------------- */

static void test_type_table(void) {
  int types[64], nt = all_types(types);
  FL_CHECK_EQ(nt, 16);
  for (int i = 0; i < nt; i++) {
    FL_CHECK(fl_wire_type_known(types[i]));
    FL_CHECK(strcmp(fl_wire_type_name(types[i]), "UNKNOWN") != 0);
  }
  FL_CHECK(!fl_wire_type_known(0));
  FL_CHECK(!fl_wire_type_known(99));
  FL_CHECK_STR(fl_wire_type_name(FL__MSG_TYPE__MSG_TYPE_WATCH_MAP), "WATCH_MAP");
  FL_CHECK_STR(fl_wire_type_name(7), "PG_STATS");
  FL_CHECK_STR(fl_wire_type_name(31), "UNKNOWN");
}

static void test_roundtrip_every_type(void) {
  struct stream s = {0}, expect = {0}, got = {0};
  int frames = every_type_stream(&s, &expect);
  FL_CHECK_EQ(frames, 32);
  size_t chunks[] = {0, 1, 2, 7, 12, 13, 4096};
  for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
    fl_wire_parser_t p;
    fl_wire_parser_init(&p, NULL);
    got.n = 0;
    FL_CHECK_EQ(feed_all(&p, s.b, s.n, chunks[c], &got, NULL), frames);
    FL_CHECK(!fl_wire_parser_mid_frame(&p));
    FL_CHECK_EQ(got.n, expect.n);
    FL_CHECK_MEM(got.b, expect.b, expect.n);
    fl_wire_parser_close(&p);
  }
  free(s.b);
  free(expect.b);
  free(got.b);
}

static void test_fields_survive(void) {
  struct bodies b;
  bodies_init(&b);
  Fl__FrameHeader h;
  int pok;
  header_for(&h, &b, FL__MSG_TYPE__MSG_TYPE_PUT_FRAGMENT, 0, &pok);
  uint8_t payload[777];
  fill(payload, sizeof payload, 3);
  struct stream s = {0};
  stream_frame(&s, &h, payload, sizeof payload);
  fl_wire_parser_t p;
  fl_wire_parser_init(&p, NULL);
  size_t used;
  FL_CHECK_EQ(fl_wire_parser_feed(&p, s.b, s.n, &used, NULL), FL_WIRE_HEADER);
  FL_CHECK_EQ(fl_wire_parser_payload_remaining(&p), sizeof payload);
  FL_CHECK_EQ(fl_wire_parser_feed(&p, s.b + used, s.n - used, &used, NULL), FL_WIRE_FRAME);
  const Fl__FrameHeader *r = fl_wire_parser_header(&p);
  FL_CHECK_EQ(r->request_id, h.request_id);
  FL_CHECK_EQ(r->map_epoch, 77);
  FL_CHECK_EQ(r->deadline_ms, 5000);
  FL_CHECK_EQ(r->payload_crc32c, fl_crc32c(payload, sizeof payload));
  FL_CHECK_STR(r->auth->principal, "gateway-1");
  FL_CHECK_EQ(r->body_case, FL__FRAME_HEADER__BODY_PUT_FRAGMENT);
  FL_CHECK_STR(r->put_fragment->key->tenant, "chu-nord");
  FL_CHECK_STR(r->put_fragment->key->sop_uid, b.key.sop_uid);
  FL_CHECK_EQ(r->put_fragment->fragment_index, 5);
  FL_CHECK_EQ(r->put_fragment->key_id, 7);
  FL_CHECK_EQ(r->put_fragment->n_attrs, 1);
  FL_CHECK_EQ(r->put_fragment->attrs[0]->tag, 0x00100010);
  size_t pl;
  void *taken = fl_wire_parser_take_payload(&p, &pl);
  FL_CHECK(taken != NULL);
  FL_CHECK_EQ(pl, sizeof payload);
  FL_CHECK_MEM(taken, payload, sizeof payload);
  FL_CHECK(fl_wire_parser_payload(&p, &pl) == NULL && pl == 0);
  FL_CHECK(fl_wire_parser_take_payload(&p, &pl) == NULL);
  free(taken);
  fl_wire_parser_close(&p);
  free(s.b);
}

static void test_truncated_at_every_byte(void) {
  struct stream s = {0}, expect = {0};
  every_type_stream(&s, &expect);
  /* The first two frames (PING request, response), then every prefix. */
  fl_wire_parser_t p;
  fl_wire_parser_init(&p, NULL);
  size_t frame_end[3] = {0}, off = 0;
  for (int f = 1; f <= 2; f++) {
    size_t used = 0;
    int rc;
    do {
      size_t u;
      rc = fl_wire_parser_feed(&p, s.b + off + used, s.n - off - used, &u, NULL);
      used += u;
    } while (rc == FL_WIRE_HEADER || rc == FL_WIRE_AGAIN);
    FL_CHECK_EQ(rc, FL_WIRE_FRAME);
    off += used;
    frame_end[f] = off;
  }
  fl_wire_parser_close(&p);
  for (size_t cut = 0; cut < frame_end[2]; cut++) {
    fl_wire_parser_init(&p, NULL);
    int frames = feed_all(&p, s.b, cut, 0, NULL, NULL);
    FL_CHECK_EQ(frames, cut >= frame_end[1] ? 1 : 0);
    int mid = cut != 0 && cut != frame_end[1];
    FL_CHECK_EQ(fl_wire_parser_mid_frame(&p), mid);
    fl_wire_parser_close(&p);
  }
  free(s.b);
  free(expect.b);
}

static void test_garbage(void) {
  fl_wire_parser_t p;
  fl_errmsg_t em;
  size_t used;
  fl_wire_parser_init(&p, NULL);
  FL_CHECK_ERR(fl_wire_parser_feed(&p, "GET / HTTP/1.1\r\n", 16, &used, &em), FL_EPROTO);
  FL_CHECK(strstr(em.msg, "bad magic at byte 0") != NULL);
  FL_CHECK(strstr(fl_wire_parser_reason(&p), "bad magic") != NULL);
  /* Failed stays failed, consumes nothing. */
  FL_CHECK_ERR(fl_wire_parser_feed(&p, FL_WIRE_MAGIC, 4, &used, NULL), FL_EPROTO);
  FL_CHECK_EQ(used, 0);
  fl_wire_parser_close(&p);

  /* Refused at the first wrong byte, even fed one at a time. */
  fl_wire_parser_init(&p, NULL);
  FL_CHECK_EQ(fl_wire_parser_feed(&p, "FL", 2, &used, NULL), FL_WIRE_AGAIN);
  FL_CHECK_ERR(fl_wire_parser_feed(&p, "X", 1, &used, &em), FL_EPROTO);
  FL_CHECK(strstr(em.msg, "byte 2") != NULL);
  fl_wire_parser_close(&p);

  fl_wire_parser_init(&p, NULL);
  const uint8_t tls[] = {0x16, 0x03, 0x01, 0x02, 0x00};
  FL_CHECK_ERR(fl_wire_parser_feed(&p, tls, sizeof tls, &used, &em), FL_EPROTO);
  FL_CHECK(strstr(em.msg, "TLS") != NULL);
  fl_wire_parser_close(&p);

  /* Random bytes never crash and end in a clear error or a wait. */
  uint8_t junk[4096];
  for (uint32_t seed = 1; seed < 200; seed++) {
    fill(junk, sizeof junk, seed);
    if (seed % 2)
      memcpy(junk, "FLWP\x01\x00", 6); /* past the magic, into the header */
    fl_wire_parser_init(&p, NULL);
    int rc = feed_all(&p, junk, sizeof junk, seed % 5, NULL, NULL);
    FL_CHECK(rc == FL_EPROTO || rc == FL_ETOOBIG || rc == FL_ECORRUPT || rc == 0);
    fl_wire_parser_close(&p);
  }

  /* Empty input is a wait, not an error. */
  fl_wire_parser_init(&p, NULL);
  FL_CHECK_EQ(fl_wire_parser_feed(&p, "", 0, &used, NULL), FL_WIRE_AGAIN);
  FL_CHECK(!fl_wire_parser_mid_frame(&p));
  fl_wire_parser_close(&p);
}

static void test_preamble_errors(void) {
  struct bodies b;
  bodies_init(&b);
  Fl__FrameHeader h;
  int pok;
  header_for(&h, &b, FL__MSG_TYPE__MSG_TYPE_STAT, 0, &pok);
  fl_errmsg_t em;
  fl_wire_parser_t p;
  struct stream s = {0};

  stream_raw(&s, &h, 2, 0, 0, NULL, 0);
  fl_wire_parser_init(&p, NULL);
  FL_CHECK_ERR(feed_all(&p, s.b, s.n, 1, NULL, &em), FL_EVERSION);
  FL_CHECK(strstr(em.msg, "version 2") != NULL);
  fl_wire_parser_close(&p);

  s.n = 0;
  stream_raw(&s, &h, FL_WIRE_VERSION, 0x80, 0, NULL, 0);
  fl_wire_parser_init(&p, NULL);
  FL_CHECK_ERR(feed_all(&p, s.b, s.n, 0, NULL, &em), FL_EPROTO);
  FL_CHECK(strstr(em.msg, "flags") != NULL);
  fl_wire_parser_close(&p);

  s.n = 0;
  stream_raw(&s, &h, FL_WIRE_VERSION, 0, 0x10, NULL, 0);
  fl_wire_parser_init(&p, NULL);
  FL_CHECK_ERR(feed_all(&p, s.b, s.n, 3, NULL, &em), FL_ECORRUPT);
  FL_CHECK(strstr(em.msg, "header CRC") != NULL);
  fl_wire_parser_close(&p);

  /* A flipped header bit is caught by the header CRC. */
  s.n = 0;
  stream_raw(&s, &h, FL_WIRE_VERSION, 0, 0, NULL, 0);
  s.b[FL_WIRE_PREAMBLE_SIZE + 1] ^= 0x04;
  fl_wire_parser_init(&p, NULL);
  FL_CHECK_ERR(feed_all(&p, s.b, s.n, 0, NULL, &em), FL_ECORRUPT);
  fl_wire_parser_close(&p);

  /* Header length 0. */
  uint8_t pre[FL_WIRE_PREAMBLE_SIZE] = {'F', 'L', 'W', 'P', FL_WIRE_VERSION, 0, 0, 0, 0, 0, 0, 0};
  fl_wire_parser_init(&p, NULL);
  FL_CHECK_ERR(feed_all(&p, pre, sizeof pre, 0, NULL, &em), FL_EPROTO);
  FL_CHECK(strstr(em.msg, "empty") != NULL);
  fl_wire_parser_close(&p);

  /* Header bytes with a valid CRC that do not decode as a FrameHeader. */
  uint8_t bad[FL_WIRE_PREAMBLE_SIZE + 3] = {'F', 'L', 'W', 'P', FL_WIRE_VERSION, 0, 0, 3};
  bad[12] = 0x0a; /* field 1, length-delimited: wrong wire type */
  bad[13] = 0x05; /* ... and 5 bytes that are not there */
  bad[14] = 0x00;
  uint32_t crc = fl_crc32c_extend(fl_crc32c(bad, 8), bad + 12, 3);
  bad[8] = (uint8_t)(crc >> 24), bad[9] = (uint8_t)(crc >> 16);
  bad[10] = (uint8_t)(crc >> 8), bad[11] = (uint8_t)crc;
  fl_wire_parser_init(&p, NULL);
  FL_CHECK_ERR(feed_all(&p, bad, sizeof bad, 0, NULL, &em), FL_EPROTO);
  FL_CHECK(strstr(em.msg, "does not decode") != NULL);
  fl_wire_parser_close(&p);
  free(s.b);
}

static void test_limits_before_allocation(void) {
  fl_errmsg_t em;
  fl_wire_parser_t p;
  /* A header length over the limit: refused from the preamble alone. */
  uint8_t pre[FL_WIRE_PREAMBLE_SIZE] = {'F', 'L', 'W', 'P', FL_WIRE_VERSION, 0, 0xff, 0xff};
  fl_wire_parser_init(&p, NULL);
  FL_CHECK_ERR(feed_all(&p, pre, sizeof pre, 0, NULL, &em), FL_ETOOBIG);
  FL_CHECK(strstr(em.msg, "65535") != NULL);
  FL_CHECK(p.hbuf == NULL && p.hcap == 0);
  fl_wire_parser_close(&p);

  fl_wire_limits_t small = {.header_max = 64, .payload_max = 1000};
  pre[6] = 0, pre[7] = 65;
  fl_wire_parser_init(&p, &small);
  FL_CHECK_ERR(feed_all(&p, pre, sizeof pre, 0, NULL, NULL), FL_ETOOBIG);
  FL_CHECK(p.hbuf == NULL);
  fl_wire_parser_close(&p);

  /* A payload length over the limit: refused from the header, nothing
   * allocated for it, whatever bytes follow. */
  Fl__FrameHeader h;
  fl__frame_header__init(&h);
  h.type = FL__MSG_TYPE__MSG_TYPE_PING;
  h.payload_length = (uint64_t)1 << 40;
  h.payload_crc32c = 1;
  uint8_t hb[FL_WIRE_HEADER_BUF_MAX];
  size_t hl;
  FL_CHECK_OK(fl_wire_encode_header(&h, hb, sizeof hb, &hl, NULL));
  fl_wire_parser_init(&p, NULL);
  FL_CHECK_ERR(feed_all(&p, hb, hl, 0, NULL, &em), FL_ETOOBIG);
  FL_CHECK(strstr(em.msg, "1099511627776") != NULL);
  FL_CHECK(p.payload == NULL);
  fl_wire_parser_close(&p);

  h.payload_length = 1001;
  FL_CHECK_OK(fl_wire_encode_header(&h, hb, sizeof hb, &hl, NULL));
  fl_wire_parser_init(&p, &small);
  FL_CHECK_ERR(feed_all(&p, hb, hl, 1, NULL, NULL), FL_ETOOBIG);
  FL_CHECK(p.payload == NULL);
  fl_wire_parser_close(&p);

  /* Exactly at the limit passes. */
  h.payload_length = 1000;
  uint8_t body[1000];
  fill(body, sizeof body, 9);
  struct stream s = {0};
  stream_frame(&s, &h, body, sizeof body);
  fl_wire_parser_init(&p, &small);
  FL_CHECK_EQ(feed_all(&p, s.b, s.n, 0, NULL, NULL), 1);
  fl_wire_parser_close(&p);
  free(s.b);

  /* Limits are clamped to what the format can express. */
  fl_wire_limits_t huge = {.header_max = 1u << 20};
  fl_wire_parser_init(&p, &huge);
  FL_CHECK_EQ(p.header_max, FL_WIRE_HEADER_LIMIT);
  FL_CHECK_EQ(p.payload_max, FL_WIRE_PAYLOAD_MAX_DEFAULT);
  fl_wire_parser_close(&p);
}

static void test_payload_crc(void) {
  struct bodies b;
  bodies_init(&b);
  Fl__FrameHeader h;
  int pok;
  header_for(&h, &b, FL__MSG_TYPE__MSG_TYPE_PUT_FRAGMENT, 0, &pok);
  uint8_t payload[5000];
  fill(payload, sizeof payload, 77);
  struct stream s = {0};
  stream_frame(&s, &h, payload, sizeof payload);
  fl_errmsg_t em;
  for (size_t at = 0; at < sizeof payload; at += 999) {
    s.b[s.n - sizeof payload + at] ^= 0x01;
    fl_wire_parser_t p;
    fl_wire_parser_init(&p, NULL);
    FL_CHECK_ERR(feed_all(&p, s.b, s.n, 1000, NULL, &em), FL_ECORRUPT);
    FL_CHECK(strstr(em.msg, "PUT_FRAGMENT payload CRC") != NULL);
    fl_wire_parser_close(&p);
    s.b[s.n - sizeof payload + at] ^= 0x01;
  }
  /* No payload but a CRC: the header is inconsistent. */
  fl__frame_header__init(&h);
  h.type = FL__MSG_TYPE__MSG_TYPE_PING;
  h.payload_crc32c = 5;
  s.n = 0;
  stream_raw(&s, &h, FL_WIRE_VERSION, 0, 0, NULL, 0);
  fl_wire_parser_t p;
  fl_wire_parser_init(&p, NULL);
  FL_CHECK_ERR(feed_all(&p, s.b, s.n, 0, NULL, NULL), FL_ECORRUPT);
  fl_wire_parser_close(&p);
  free(s.b);
}

/* Headers that break the rules: each refused by the parser (with the given
 * code) and by the encoder. */
static void expect_refused(const Fl__FrameHeader *h, int code, const char *what) {
  struct stream s = {0};
  stream_raw(&s, h, FL_WIRE_VERSION, 0, 0, NULL, 0);
  fl_wire_parser_t p;
  fl_errmsg_t em;
  fl_wire_parser_init(&p, NULL);
  FL_CHECK_ERR(feed_all(&p, s.b, s.n, 0, NULL, &em), code);
  if (!strstr(em.msg, what))
    FL_CHECK_STR(em.msg, what);
  fl_wire_parser_close(&p);
  uint8_t hb[FL_WIRE_HEADER_BUF_MAX];
  size_t hl;
  FL_CHECK_ERR(fl_wire_encode_header(h, hb, sizeof hb, &hl, NULL), code);
  free(s.b);
}

static void test_header_rules(void) {
  struct bodies b;
  bodies_init(&b);
  Fl__FrameHeader h;
  int pok;

  fl__frame_header__init(&h);
  h.type = (Fl__MsgType)99;
  expect_refused(&h, FL_EPROTO, "unknown message type 99");
  h.type = FL__MSG_TYPE__MSG_TYPE_NONE;
  h.request_id = 1; /* an all-default header would pack to nothing */
  expect_refused(&h, FL_EPROTO, "unknown message type 0");

  header_for(&h, &b, FL__MSG_TYPE__MSG_TYPE_GET_FRAGMENT, 0, &pok);
  h.body_case = FL__FRAME_HEADER__BODY_PUT_FRAGMENT;
  h.put_fragment = &b.put;
  expect_refused(&h, FL_EPROTO, "GET_FRAGMENT request carries body field 32");

  header_for(&h, &b, FL__MSG_TYPE__MSG_TYPE_GET_FRAGMENT, 0, &pok);
  h.status = FL_ENOTFOUND;
  expect_refused(&h, FL_EPROTO, "request carries status");

  header_for(&h, &b, FL__MSG_TYPE__MSG_TYPE_GET_FRAGMENT, 1, &pok);
  h.status = 3;
  expect_refused(&h, FL_EPROTO, "positive status");

  /* A payload where the type has none, or on an error response. */
  header_for(&h, &b, FL__MSG_TYPE__MSG_TYPE_STAT, 0, &pok);
  h.payload_length = 1;
  expect_refused(&h, FL_EPROTO, "STAT request may not carry a payload");
  header_for(&h, &b, FL__MSG_TYPE__MSG_TYPE_GET_FRAGMENT, 1, &pok);
  h.status = FL_ENOTFOUND;
  h.payload_length = 10;
  expect_refused(&h, FL_EPROTO, "error response may not carry a payload");

  char longtext[FL_WIRE_ERROR_TEXT_MAX + 2];
  memset(longtext, 'x', sizeof longtext - 1);
  longtext[sizeof longtext - 1] = '\0';
  header_for(&h, &b, FL__MSG_TYPE__MSG_TYPE_STAT, 1, &pok);
  h.status = FL_ESTORE;
  h.error_text = longtext;
  expect_refused(&h, FL_EPROTO, "error text longer");

  /* Missing arguments are the handler's business, not the frame's. */
  header_for(&h, &b, FL__MSG_TYPE__MSG_TYPE_GET_FRAGMENT, 0, &pok);
  h.body_case = FL__FRAME_HEADER__BODY__NOT_SET;
  FL_CHECK_OK(fl_wire_header_check(&h, 0, NULL));
}

static void test_encode_errors(void) {
  Fl__FrameHeader h;
  fl__frame_header__init(&h);
  h.type = FL__MSG_TYPE__MSG_TYPE_PING;
  uint8_t hb[16];
  size_t hl = 12345;
  fl_errmsg_t em;
  FL_CHECK_ERR(fl_wire_encode_header(&h, hb, 8, &hl, &em), FL_ETOOBIG);
  FL_CHECK_EQ(hl, 12345);
  FL_CHECK_OK(fl_wire_encode_header(&h, hb, sizeof hb, &hl, NULL));
  FL_CHECK_EQ(hl, fl_wire_encoded_size(&h));

  /* A header over the 16-bit limit. */
  size_t big = FL_WIRE_HEADER_LIMIT;
  char *text = malloc(big + 1);
  memset(text, 'a', big);
  text[big] = '\0';
  Fl__Auth auth;
  fl__auth__init(&auth);
  auth.principal = text;
  h.auth = &auth;
  uint8_t *buf = malloc(FL_WIRE_HEADER_BUF_MAX + 100);
  FL_CHECK_ERR(fl_wire_encode_header(&h, buf, FL_WIRE_HEADER_BUF_MAX + 100, &hl, &em),
               FL_ETOOBIG);
  FL_CHECK(strstr(em.msg, "PING header packs") != NULL);
  free(buf);
  free(text);
}

static void test_response_init(void) {
  Fl__FrameHeader req, resp;
  fl__frame_header__init(&req);
  fl__frame_header__init(&resp);
  req.type = FL__MSG_TYPE__MSG_TYPE_DELETE;
  req.request_id = 42;
  fl_wire_response_init(&resp, &req, FL_ENOTFOUND, "no such study 1.2.3; check the UID");
  FL_CHECK_EQ(resp.request_id, 42);
  FL_CHECK_EQ(resp.type, FL__MSG_TYPE__MSG_TYPE_DELETE);
  FL_CHECK(resp.response);
  FL_CHECK_EQ(resp.status, FL_ENOTFOUND);
  FL_CHECK_OK(fl_wire_header_check(&resp, 0, NULL));
  Fl__FrameHeader ok;
  fl__frame_header__init(&ok);
  fl_wire_response_init(&ok, &req, 0, NULL);
  FL_CHECK_STR(ok.error_text, "");
}

/* Many frames in one buffer, parsed into caller buffers through the
 * dest/commit path, as a client reading fragments would. */
static void test_pipelining_and_caller_buffers(void) {
  struct stream s = {0};
  uint8_t payloads[20][1000];
  for (int i = 0; i < 20; i++) {
    Fl__FrameHeader h;
    fl__frame_header__init(&h);
    h.type = FL__MSG_TYPE__MSG_TYPE_PING;
    h.request_id = (uint64_t)i;
    size_t n = (size_t)i * 50;
    fill(payloads[i], n, (uint32_t)i);
    stream_frame(&s, &h, payloads[i], n);
  }
  fl_wire_parser_t p;
  fl_wire_parser_init(&p, NULL);
  size_t off = 0;
  uint8_t mine[1000];
  for (int i = 0; i < 20; i++) {
    size_t used;
    int rc = fl_wire_parser_feed(&p, s.b + off, 20, &used, NULL);
    off += used;
    while (rc == FL_WIRE_AGAIN) {
      rc = fl_wire_parser_feed(&p, s.b + off, 1, &used, NULL);
      off += used;
    }
    if (i == 0) {
      FL_CHECK_EQ(rc, FL_WIRE_FRAME); /* no payload: straight to a frame */
    } else {
      FL_CHECK_EQ(rc, FL_WIRE_HEADER);
      FL_CHECK_ERR(fl_wire_parser_set_payload_buf(&p, mine, (size_t)i * 50 - 1, NULL),
                   FL_ETOOBIG);
      FL_CHECK_OK(fl_wire_parser_set_payload_buf(&p, mine, sizeof mine, NULL));
      /* Like recv(): small reads straight into the destination. */
      while (rc != FL_WIRE_FRAME) {
        void *dst;
        size_t room;
        FL_CHECK_OK(fl_wire_parser_payload_dest(&p, &dst, &room, NULL));
        FL_CHECK(dst >= (void *)mine && (uint8_t *)dst + room == mine + i * 50);
        size_t n = room < 33 ? room : 33;
        memcpy(dst, s.b + off, n);
        off += n;
        rc = fl_wire_parser_payload_commit(&p, n, NULL);
        FL_CHECK(rc == FL_WIRE_AGAIN || rc == FL_WIRE_FRAME);
      }
      FL_CHECK_MEM(mine, payloads[i], (size_t)i * 50);
      size_t pl;
      FL_CHECK(fl_wire_parser_payload(&p, &pl) == mine);
      FL_CHECK(fl_wire_parser_take_payload(&p, &pl) == NULL); /* it is ours */
    }
    FL_CHECK_EQ(fl_wire_parser_header(&p)->request_id, (uint64_t)i);
  }
  FL_CHECK_EQ(off, s.n);
  /* Out of place calls are refused without harming the parser. */
  void *dst;
  size_t room;
  FL_CHECK_ERR(fl_wire_parser_payload_dest(&p, &dst, &room, NULL), FL_EPROTO);
  FL_CHECK_ERR(fl_wire_parser_payload_commit(&p, 1, NULL), FL_EPROTO);
  FL_CHECK_ERR(fl_wire_parser_set_payload_buf(&p, mine, sizeof mine, NULL), FL_EPROTO);
  FL_CHECK_STR(fl_wire_parser_reason(&p), "");
  fl_wire_parser_close(&p);
  free(s.b);
}

/* ---- the blocking connection against an echo server --------------------- */

#define SILENT_TYPE FL__MSG_TYPE__MSG_TYPE_HEARTBEAT

struct server {
  int lfd;
  uint16_t port;
  pthread_t th;
  int frames;    /* answered, for the test to compare */
  int last_rc;   /* how the connection ended */
};

/* PING echoes its payload; GET_FRAGMENT of sop "missing" fails with
 * FL_ENOTFOUND; STAT answers a StatResult; HEARTBEAT gets no answer (to
 * make the client time out); other types are answered empty. */
static void *server_main(void *arg) {
  struct server *sv = arg;
  int fd = accept(sv->lfd, NULL, NULL);
  FL_CHECK(fd >= 0);
  fl_wire_conn_t c;
  FL_CHECK_OK(fl_wire_conn_adopt(&c, fd, 10000, NULL, NULL));
  for (;;) {
    fl_errmsg_t em;
    int rc = fl_wire_conn_recv(&c, NULL, 0, &em);
    if (rc < 0) {
      sv->last_rc = rc;
      break;
    }
    const Fl__FrameHeader *req = fl_wire_conn_header(&c);
    if (req->type == SILENT_TYPE)
      continue;
    Fl__FrameHeader resp;
    fl__frame_header__init(&resp);
    Fl__StatResult st;
    fl__stat_result__init(&st);
    struct iovec iov[2];
    int n = 0;
    if (req->type == FL__MSG_TYPE__MSG_TYPE_GET_FRAGMENT && req->get_fragment &&
        strcmp(req->get_fragment->key->sop_uid, "missing") == 0) {
      fl_wire_response_init(&resp, req, FL_ENOTFOUND, "no fragment 0 of sop missing");
    } else {
      fl_wire_response_init(&resp, req, 0, NULL);
      if (req->type == FL__MSG_TYPE__MSG_TYPE_STAT) {
        st.volumes = 3;
        st.capacity_bytes = 1000;
        resp.body_case = FL__FRAME_HEADER__BODY_STAT_RESULT;
        resp.stat_result = &st;
      }
      size_t pl;
      const void *pp = fl_wire_conn_payload(&c, &pl);
      if (pl > 0) {
        /* Two pieces, to exercise the gathered write. */
        iov[n++] = (struct iovec){.iov_base = (void *)pp, .iov_len = pl / 2};
        iov[n++] = (struct iovec){.iov_base = (uint8_t *)pp + pl / 2, .iov_len = pl - pl / 2};
      }
    }
    FL_CHECK_OK(fl_wire_conn_send(&c, &resp, iov, n, &em));
    sv->frames++;
  }
  fl_wire_conn_close(&c);
  return NULL;
}

static void server_start(struct server *sv) {
  memset(sv, 0, sizeof *sv);
  sv->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  FL_CHECK(sv->lfd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  FL_CHECK_EQ(bind(sv->lfd, (struct sockaddr *)&a, sizeof a), 0);
  FL_CHECK_EQ(listen(sv->lfd, 4), 0);
  socklen_t al = sizeof a;
  FL_CHECK_EQ(getsockname(sv->lfd, (struct sockaddr *)&a, &al), 0);
  sv->port = ntohs(a.sin_port);
  FL_CHECK_EQ(pthread_create(&sv->th, NULL, server_main, sv), 0);
}

static void server_join(struct server *sv) {
  FL_CHECK_EQ(pthread_join(sv->th, NULL), 0);
  close(sv->lfd);
}

static void test_conn_loopback(void) {
  struct server sv;
  server_start(&sv);
  fl_wire_conn_t c;
  fl_errmsg_t em;
  FL_CHECK_OK(fl_wire_conn_open(&c, "127.0.0.1", sv.port, 10000, NULL, &em));

  /* Empty ping. */
  Fl__FrameHeader h;
  fl__frame_header__init(&h);
  h.type = FL__MSG_TYPE__MSG_TYPE_PING;
  FL_CHECK_OK(fl_wire_conn_call(&c, &h, NULL, 0, NULL, 0, &em));
  FL_CHECK_EQ(fl_wire_conn_header(&c)->request_id, 1);

  /* An 8 MiB fragment-sized payload, gathered from three pieces on the way
   * out and received straight into our buffer on the way back. */
  size_t big = (size_t)8 << 20;
  uint8_t *out = malloc(big), *in = malloc(big);
  fill(out, big, 8);
  struct iovec iov[3] = {{out, 1}, {out + 1, big / 2}, {out + 1 + big / 2, big - 1 - big / 2}};
  fl__frame_header__init(&h);
  h.type = FL__MSG_TYPE__MSG_TYPE_PING;
  FL_CHECK_OK(fl_wire_conn_call(&c, &h, iov, 3, in, big, &em));
  size_t pl;
  FL_CHECK(fl_wire_conn_payload(&c, &pl) == in);
  FL_CHECK_EQ(pl, big);
  FL_CHECK_MEM(in, out, big);
  FL_CHECK_EQ(fl_wire_conn_header(&c)->payload_crc32c, fl_crc32c(out, big));

  /* The same into memory the connection owns. */
  FL_CHECK_OK(fl_wire_conn_call(&c, &h, iov, 3, NULL, 0, &em));
  const void *pp = fl_wire_conn_payload(&c, &pl);
  FL_CHECK_EQ(pl, big);
  FL_CHECK_MEM(pp, out, big);

  /* A server error comes back as the call's result; the connection lives. */
  Fl__ObjectKey key;
  fl__object_key__init(&key);
  key.tenant = "t";
  key.study_uid = "1.2";
  key.series_uid = "1.2.3";
  key.sop_uid = "missing";
  Fl__GetFragmentArgs ga;
  fl__get_fragment_args__init(&ga);
  ga.key = &key;
  fl__frame_header__init(&h);
  h.type = FL__MSG_TYPE__MSG_TYPE_GET_FRAGMENT;
  h.body_case = FL__FRAME_HEADER__BODY_GET_FRAGMENT;
  h.get_fragment = &ga;
  FL_CHECK_ERR(fl_wire_conn_call(&c, &h, NULL, 0, NULL, 0, &em), FL_ENOTFOUND);
  FL_CHECK(strstr(em.msg, "GET_FRAGMENT failed on the server: no fragment 0") != NULL);
  FL_CHECK(fl_wire_conn_usable(&c));

  fl__frame_header__init(&h);
  h.type = FL__MSG_TYPE__MSG_TYPE_STAT;
  FL_CHECK_OK(fl_wire_conn_call(&c, &h, NULL, 0, NULL, 0, &em));
  FL_CHECK_EQ(fl_wire_conn_header(&c)->body_case, FL__FRAME_HEADER__BODY_STAT_RESULT);
  FL_CHECK_EQ(fl_wire_conn_header(&c)->stat_result->volumes, 3);

  /* Pipelined: three requests out, then three responses in order. */
  uint8_t small[3][100];
  for (int i = 0; i < 3; i++) {
    fill(small[i], sizeof small[i], (uint32_t)(100 + i));
    fl__frame_header__init(&h);
    h.type = FL__MSG_TYPE__MSG_TYPE_PING;
    h.request_id = 500 + (uint64_t)i;
    struct iovec one = {small[i], sizeof small[i] - (size_t)i};
    FL_CHECK_OK(fl_wire_conn_send(&c, &h, &one, 1, &em));
  }
  for (int i = 0; i < 3; i++) {
    uint8_t got[100];
    FL_CHECK_OK(fl_wire_conn_recv(&c, got, sizeof got, &em));
    FL_CHECK_EQ(fl_wire_conn_header(&c)->request_id, 500 + i);
    FL_CHECK_EQ(fl_wire_conn_header(&c)->payload_length, 100 - i);
    FL_CHECK_MEM(got, small[i], 100 - (size_t)i);
  }

  /* A response larger than the caller's buffer breaks the exchange. */
  fl__frame_header__init(&h);
  h.type = FL__MSG_TYPE__MSG_TYPE_PING;
  struct iovec one = {out, 4096};
  uint8_t tiny[100];
  FL_CHECK_ERR(fl_wire_conn_call(&c, &h, &one, 1, tiny, sizeof tiny, &em), FL_ETOOBIG);
  FL_CHECK(!fl_wire_conn_usable(&c));
  FL_CHECK_ERR(fl_wire_conn_call(&c, &h, NULL, 0, NULL, 0, &em), FL_ETOOBIG);
  fl_wire_conn_close(&c);
  server_join(&sv);
  FL_CHECK_EQ(sv.frames, 9);
  FL_CHECK(sv.last_rc == -ECONNRESET || sv.last_rc == FL_ETRUNC);
  free(out);
  free(in);
}

static void test_conn_timeout_and_refused(void) {
  struct server sv;
  server_start(&sv);
  fl_wire_conn_t c;
  fl_errmsg_t em;
  FL_CHECK_OK(fl_wire_conn_open(&c, "localhost", sv.port, 200, NULL, &em));
  Fl__HeartbeatArgs hb;
  fl__heartbeat_args__init(&hb);
  Fl__FrameHeader h;
  fl__frame_header__init(&h);
  h.type = SILENT_TYPE;
  h.body_case = FL__FRAME_HEADER__BODY_HEARTBEAT;
  h.heartbeat = &hb;
  FL_CHECK_ERR(fl_wire_conn_call(&c, &h, NULL, 0, NULL, 0, &em), -ETIMEDOUT);
  FL_CHECK(!fl_wire_conn_usable(&c));
  fl_wire_conn_close(&c);
  server_join(&sv);
  FL_CHECK_EQ(sv.frames, 0);

  /* The listener is closed now: nobody is on that port. */
  FL_CHECK_ERR(fl_wire_conn_open(&c, "127.0.0.1", sv.port, 1000, NULL, &em), -ECONNREFUSED);
  fl_wire_conn_close(&c);
  FL_CHECK_ERR(fl_wire_conn_open(&c, "no-such-host.invalid", 1, 1000, NULL, &em),
               -EHOSTUNREACH);
  fl_wire_conn_close(&c);
}

/* A peer that sends half a frame and hangs up, and one that sends garbage
 * (a socketpair stands in for the peer). */
static void test_conn_peer_misbehaves(void) {
  for (int kind = 0; kind < 2; kind++) {
    int sp[2];
    FL_CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    fl_wire_conn_t c;
    fl_errmsg_t em;
    FL_CHECK_OK(fl_wire_conn_adopt(&c, sp[0], 5000, NULL, &em));
    if (kind == 0) {
      FL_CHECK_EQ(write(sp[1], "FLWP\x01\x00\x00", 7), 7);
      close(sp[1]);
      FL_CHECK_ERR(fl_wire_conn_recv(&c, NULL, 0, &em), FL_ETRUNC);
    } else {
      FL_CHECK_EQ(write(sp[1], "HTTP/1.1 400", 12), 12);
      FL_CHECK_ERR(fl_wire_conn_recv(&c, NULL, 0, &em), FL_EPROTO);
      FL_CHECK(strstr(em.msg, "bad magic") != NULL);
      close(sp[1]);
    }
    FL_CHECK(!fl_wire_conn_usable(&c));
    fl_wire_conn_close(&c);
  }
}

int main(void) {
  FL_RUN(test_type_table);
  FL_RUN(test_roundtrip_every_type);
  FL_RUN(test_fields_survive);
  FL_RUN(test_truncated_at_every_byte);
  FL_RUN(test_garbage);
  FL_RUN(test_preamble_errors);
  FL_RUN(test_limits_before_allocation);
  FL_RUN(test_payload_crc);
  FL_RUN(test_header_rules);
  FL_RUN(test_encode_errors);
  FL_RUN(test_response_init);
  FL_RUN(test_pipelining_and_caller_buffers);
  FL_RUN(test_conn_loopback);
  FL_RUN(test_conn_timeout_and_refused);
  FL_RUN(test_conn_peer_misbehaves);
  FL_DONE();
}
