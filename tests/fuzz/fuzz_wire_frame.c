/* Fuzz target for the wire frame parser. Input: byte 0 picks how the stream
 * is cut into chunks (0: whole, else 1..16 bytes at a time), byte 1 picks
 * options (bit 0: payloads into a caller buffer via dest/commit; bit 1:
 * small limits; bit 2: give the first frame a correct header CRC, so the
 * fuzzer reaches header decoding without having to solve CRC32C), the rest
 * is the byte stream. Every frame parsed must pass
 * the header rules, re-encode, and parse again to the same header and
 * payload; payload messages (ListPage, the encoded cluster map, the
 * node list) are decoded as a receiver would. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fl_cc.h"
#include "fl_crc32c.h"
#include "fl_map_codec.h"
#include "fl_wire.h"

#define FUZZ_PAYLOAD_MAX (1u << 20)

static uint8_t fl__callerbuf[FUZZ_PAYLOAD_MAX];

static void fl__check(int cond) {
  if (!cond)
    abort();
}

/* Decodes a payload that is itself a message, as the receiver will. */
static void fl__decode_payload(const Fl__FrameHeader *h, const uint8_t *p, size_t n) {
  if (!h->response || h->status != 0)
    return;
  ProtobufCMessage *m = NULL;
  switch (h->type) {
  case FL__MSG_TYPE__MSG_TYPE_LIST:
    m = (ProtobufCMessage *)fl__list_page__unpack(NULL, n, p);
    break;
  case FL__MSG_TYPE__MSG_TYPE_GET_MAP:
  case FL__MSG_TYPE__MSG_TYPE_WATCH_MAP: {
    fl_map_t map;
    if (fl_map_decode(p, n, &map, NULL) == 0)
      fl_map_free(&map);
    return;
  }
  case FL__MSG_TYPE__MSG_TYPE_ADMIN_LIST_NODES: {
    fl_map_t map;
    fl_cc_status_t *st;
    uint32_t count;
    uint64_t map_len = h->body_case == FL__FRAME_HEADER__BODY_ADMIN_RESULT
                           ? h->admin_result->map_length : 0;
    if (fl_cc_list_decode(p, n, map_len, &map, &st, &count, NULL) == 0) {
      fl_map_free(&map);
      free(st);
    }
    return;
  }
  default:
    return;
  }
  if (m)
    protobuf_c_message_free_unpacked(m, NULL);
}

/* The frame just parsed must survive encode -> parse unchanged. */
static void fl__reencode(const Fl__FrameHeader *h, const uint8_t *payload, size_t plen) {
  fl__check(fl_wire_header_check(h, FUZZ_PAYLOAD_MAX, NULL) == 0);
  fl__check(h->payload_length == plen);
  static uint8_t hb[FL_WIRE_HEADER_BUF_MAX], hb2[FL_WIRE_HEADER_BUF_MAX];
  size_t hl;
  fl__check(fl_wire_encode_header(h, hb, sizeof hb, &hl, NULL) == 0);
  size_t packed = protobuf_c_message_pack(&h->base, hb2);
  fl_wire_parser_t p;
  fl_wire_parser_init(&p, NULL);
  size_t used;
  int rc = fl_wire_parser_feed(&p, hb, hl, &used, NULL);
  fl__check(used == hl);
  if (plen > 0) {
    fl__check(rc == FL_WIRE_HEADER);
    rc = fl_wire_parser_feed(&p, payload, plen, &used, NULL);
    fl__check(used == plen);
  }
  fl__check(rc == FL_WIRE_FRAME);
  const Fl__FrameHeader *h2 = fl_wire_parser_header(&p);
  fl__check(protobuf_c_message_get_packed_size(&h2->base) == packed);
  uint8_t *again = malloc(packed ? packed : 1);
  protobuf_c_message_pack(&h2->base, again);
  fl__check(memcmp(again, hb2, packed) == 0);
  free(again);
  size_t n2;
  const void *p2 = fl_wire_parser_payload(&p, &n2);
  fl__check(n2 == plen && (plen == 0 || memcmp(p2, payload, plen) == 0));
  fl_wire_parser_close(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  size_t chunk = data[0] ? (size_t)(data[0] % 16) + 1 : 0;
  int callerbuf = data[1] & 1;
  fl_wire_limits_t lim = {.header_max = 0, .payload_max = FUZZ_PAYLOAD_MAX};
  if (data[1] & 2)
    lim = (fl_wire_limits_t){.header_max = 256, .payload_max = 4096};
  uint8_t *copy = NULL;
  if ((data[1] & 4) && size >= 2 + FL_WIRE_PREAMBLE_SIZE) {
    size_t hlen = (size_t)data[2 + 6] << 8 | data[2 + 7];
    if (2 + FL_WIRE_PREAMBLE_SIZE + hlen <= size) {
      copy = malloc(size);
      memcpy(copy, data, size);
      uint8_t *f = copy + 2;
      uint32_t crc = fl_crc32c_extend(fl_crc32c(f, 8), f + FL_WIRE_PREAMBLE_SIZE, hlen);
      f[8] = (uint8_t)(crc >> 24);
      f[9] = (uint8_t)(crc >> 16);
      f[10] = (uint8_t)(crc >> 8);
      f[11] = (uint8_t)crc;
      data = copy;
    }
  }
  data += 2;
  size -= 2;

  fl_wire_parser_t p;
  fl_wire_parser_init(&p, &lim);
  size_t off = 0;
  int rc = FL_WIRE_AGAIN;
  while (off < size && rc >= 0) {
    size_t len = chunk && chunk < size - off ? chunk : size - off;
    size_t used;
    if (callerbuf && fl_wire_parser_payload_remaining(&p) > 0) {
      /* As a socket reader: straight into the destination. */
      void *dst;
      size_t room;
      rc = fl_wire_parser_payload_dest(&p, &dst, &room, NULL);
      if (rc < 0)
        break;
      used = len < room ? len : room;
      memcpy(dst, data + off, used);
      rc = fl_wire_parser_payload_commit(&p, used, NULL);
    } else {
      rc = fl_wire_parser_feed(&p, data + off, len, &used, NULL);
    }
    fl__check(used <= len);
    off += used;
    if (rc == FL_WIRE_HEADER && callerbuf)
      fl__check(fl_wire_parser_set_payload_buf(&p, fl__callerbuf, sizeof fl__callerbuf, NULL) ==
                0);
    if (rc == FL_WIRE_FRAME) {
      const Fl__FrameHeader *h = fl_wire_parser_header(&p);
      size_t plen;
      const uint8_t *pl = fl_wire_parser_payload(&p, &plen);
      fl__check(h != NULL);
      fl__decode_payload(h, pl, plen);
      fl__reencode(h, pl, plen);
      rc = FL_WIRE_AGAIN;
    }
  }
  if (rc < 0) {
    fl__check(rc == FL_EPROTO || rc == FL_EVERSION || rc == FL_ETOOBIG || rc == FL_ECORRUPT);
    fl__check(fl_wire_parser_reason(&p)[0] != '\0');
  }
  fl_wire_parser_close(&p);
  free(copy);
  return 0;
}
