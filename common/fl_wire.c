/* Wire frame codec. The encoder writes preamble + header into a caller
 * buffer (the payload goes out separately, by writev, never copied); the
 * parser is a byte-driven state machine that bounds every length before it
 * allocates, verifies both CRCs, and lets a caller receive a large payload
 * straight into memory it owns. */
#include "fl_wire.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_crc32c.h"

enum {
  FL__WP_PREAMBLE = 0, /* collecting the 12-byte preamble */
  FL__WP_HEADER,       /* collecting hlen header bytes */
  FL__WP_PAYLOAD,      /* header delivered; payload bytes due */
  FL__WP_FRAME,        /* a complete frame is held for the caller */
  FL__WP_FAILED,       /* final: err and reason say why */
};

/* ---- the per-type rules ------------------------------------------------- */

/* What a type may carry: the body case of its request and of its response
 * (NOT_SET: no arguments / no result), and whether each may have a payload. */
struct fl__type_rule {
  int type;
  const char *name;
  Fl__FrameHeader__BodyCase req_body;
  Fl__FrameHeader__BodyCase resp_body;
  int req_payload;
  int resp_payload;
};

#define FL__T(t) FL__MSG_TYPE__MSG_TYPE_##t, #t
#define FL__B(b) FL__FRAME_HEADER__BODY_##b
#define FL__NONE FL__FRAME_HEADER__BODY__NOT_SET

static const struct fl__type_rule fl__rules[] = {
    {FL__T(PING), FL__NONE, FL__NONE, 1, 1},
    {FL__T(PUT_FRAGMENT), FL__B(PUT_FRAGMENT), FL__B(PUT_FRAGMENT_RESULT), 1, 0},
    {FL__T(GET_FRAGMENT), FL__B(GET_FRAGMENT), FL__B(GET_FRAGMENT_RESULT), 0, 1},
    {FL__T(LIST), FL__B(LIST), FL__B(LIST_RESULT), 0, 1},
    {FL__T(DELETE), FL__B(DELETE_FRAGMENT), FL__B(DELETE_RESULT), 0, 0},
    {FL__T(STAT), FL__NONE, FL__B(STAT_RESULT), 0, 0},
    {FL__T(PG_STATS), FL__NONE, FL__B(PG_STATS_RESULT), 0, 1},
    {FL__T(REGISTER_NODE), FL__B(REGISTER_NODE), FL__B(REGISTER_NODE_RESULT), 0, 0},
    {FL__T(HEARTBEAT), FL__B(HEARTBEAT), FL__B(HEARTBEAT_RESULT), 0, 0},
    {FL__T(GET_MAP), FL__B(GET_MAP), FL__B(GET_MAP_RESULT), 0, 1},
    {FL__T(WATCH_MAP), FL__B(GET_MAP), FL__B(GET_MAP_RESULT), 0, 1},
    {FL__T(ADMIN_LIST_NODES), FL__NONE, FL__B(ADMIN_RESULT), 0, 1},
    {FL__T(ADMIN_SET_WEIGHT), FL__B(ADMIN_SET_WEIGHT), FL__B(ADMIN_RESULT), 0, 0},
    {FL__T(ADMIN_MARK), FL__B(ADMIN_MARK), FL__B(ADMIN_RESULT), 0, 0},
    {FL__T(ADMIN_REMOVE_NODE), FL__B(ADMIN_REMOVE_NODE), FL__B(ADMIN_RESULT), 0, 0},
    {FL__T(ADMIN_SET_POLICY), FL__B(ADMIN_SET_POLICY), FL__B(ADMIN_RESULT), 0, 0},
};

#undef FL__T
#undef FL__B

static const struct fl__type_rule *fl__rule(int type) {
  for (size_t i = 0; i < sizeof fl__rules / sizeof fl__rules[0]; i++)
    if (fl__rules[i].type == type)
      return &fl__rules[i];
  return NULL;
}

const char *fl_wire_type_name(int type) {
  const struct fl__type_rule *r = fl__rule(type);
  return r ? r->name : "UNKNOWN";
}

int fl_wire_type_known(int type) { return fl__rule(type) != NULL; }

int fl_wire_header_check(const Fl__FrameHeader *h, uint64_t payload_max, fl_errmsg_t *em) {
  const struct fl__type_rule *r = fl__rule((int)h->type);
  if (!r)
    return fl_errf(em, FL_EPROTO, "unknown message type %d", (int)h->type);
  const char *dir = h->response ? "response" : "request";
  Fl__FrameHeader__BodyCase want = h->response ? r->resp_body : r->req_body;
  if (h->body_case != FL__NONE && h->body_case != want)
    return fl_errf(em, FL_EPROTO, "%s %s carries body field %d, expected %d", r->name, dir,
                   (int)h->body_case, (int)want);
  if (h->status > 0)
    return fl_errf(em, FL_EPROTO, "%s %s has positive status %d", r->name, dir, (int)h->status);
  if (h->status != 0 && !h->response)
    return fl_errf(em, FL_EPROTO, "%s request carries status %d", r->name, (int)h->status);
  if (h->error_text && strlen(h->error_text) > FL_WIRE_ERROR_TEXT_MAX)
    return fl_errf(em, FL_EPROTO, "%s %s error text longer than %u bytes", r->name, dir,
                   FL_WIRE_ERROR_TEXT_MAX);
  if (h->payload_length > 0) {
    int allowed = h->response ? r->resp_payload : r->req_payload;
    if (!allowed || h->status != 0)
      return fl_errf(em, FL_EPROTO, "%s %s%s may not carry a payload (%llu bytes)", r->name,
                     h->status != 0 ? "error " : "", dir,
                     (unsigned long long)h->payload_length);
    if (h->payload_length > payload_max)
      return fl_errf(em, FL_ETOOBIG, "%s %s payload of %llu bytes exceeds the limit of %llu",
                     r->name, dir, (unsigned long long)h->payload_length,
                     (unsigned long long)payload_max);
  } else if (h->payload_crc32c != 0) {
    return fl_errf(em, FL_ECORRUPT, "%s %s has no payload but payload CRC %08x", r->name, dir,
                   (unsigned)h->payload_crc32c);
  }
  return 0;
}

void fl_wire_response_init(Fl__FrameHeader *resp, const Fl__FrameHeader *req, int status,
                           const char *error_text) {
  resp->request_id = req->request_id;
  resp->type = req->type;
  resp->response = 1;
  resp->status = status;
  if (error_text && error_text[0])
    resp->error_text = (char *)error_text;
}

/* ---- encoding ----------------------------------------------------------- */

static void fl__put_be16(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static void fl__put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t fl__get_be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }

static uint32_t fl__get_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

size_t fl_wire_encoded_size(const Fl__FrameHeader *h) {
  return FL_WIRE_PREAMBLE_SIZE + protobuf_c_message_get_packed_size(&h->base);
}

int fl_wire_encode_header(const Fl__FrameHeader *h, uint8_t *buf, size_t cap, size_t *out_len,
                          fl_errmsg_t *em) {
  int rc = fl_wire_header_check(h, UINT64_MAX, em);
  if (rc < 0)
    return rc;
  size_t hlen = protobuf_c_message_get_packed_size(&h->base);
  if (hlen > FL_WIRE_HEADER_LIMIT)
    return fl_errf(em, FL_ETOOBIG, "%s header packs to %zu bytes, limit %u",
                   fl_wire_type_name((int)h->type), hlen, FL_WIRE_HEADER_LIMIT);
  if (FL_WIRE_PREAMBLE_SIZE + hlen > cap)
    return fl_errf(em, FL_ETOOBIG, "encoded header needs %zu bytes, buffer has %zu",
                   FL_WIRE_PREAMBLE_SIZE + hlen, cap);
  /* A header whose every field is default packs to nothing; the type is
   * never default on the wire, so hlen >= 2 here. */
  memcpy(buf, FL_WIRE_MAGIC, 4);
  buf[4] = FL_WIRE_VERSION;
  buf[5] = 0;
  fl__put_be16(buf + 6, (uint32_t)hlen);
  size_t packed = protobuf_c_message_pack(&h->base, buf + FL_WIRE_PREAMBLE_SIZE);
  if (packed != hlen)
    return fl_errf(em, FL_EINTERNAL, "header packed to %zu bytes, sized %zu", packed, hlen);
  uint32_t crc = fl_crc32c_extend(fl_crc32c(buf, 8), buf + FL_WIRE_PREAMBLE_SIZE, hlen);
  fl__put_be32(buf + 8, crc);
  *out_len = FL_WIRE_PREAMBLE_SIZE + hlen;
  return 0;
}

int fl_wire_encode(Fl__FrameHeader *h, const struct iovec *payload, int iovcnt, uint8_t *buf,
                   size_t cap, size_t *out_len, fl_errmsg_t *em) {
  uint64_t len = 0;
  uint32_t crc = 0;
  for (int i = 0; i < iovcnt; i++) {
    crc = fl_crc32c_extend(crc, payload[i].iov_base, payload[i].iov_len);
    len += payload[i].iov_len;
  }
  h->payload_length = len;
  h->payload_crc32c = crc;
  return fl_wire_encode_header(h, buf, cap, out_len, em);
}

/* ---- parsing ------------------------------------------------------------ */

void fl_wire_parser_init(fl_wire_parser_t *p, const fl_wire_limits_t *lim) {
  memset(p, 0, sizeof *p);
  p->header_max = lim && lim->header_max ? lim->header_max : FL_WIRE_HEADER_MAX_DEFAULT;
  if (p->header_max > FL_WIRE_HEADER_LIMIT)
    p->header_max = FL_WIRE_HEADER_LIMIT;
  p->payload_max = lim && lim->payload_max ? lim->payload_max : FL_WIRE_PAYLOAD_MAX_DEFAULT;
  if (p->payload_max > SIZE_MAX)
    p->payload_max = SIZE_MAX;
  p->state = FL__WP_PREAMBLE;
}

/* Drops the current frame (header, owned payload) and waits for the next. */
static void fl__release_frame(fl_wire_parser_t *p) {
  if (p->hdr)
    protobuf_c_message_free_unpacked(&p->hdr->base, NULL);
  p->hdr = NULL;
  if (p->payload_owned)
    free(p->payload);
  p->payload = NULL;
  p->payload_len = 0;
  p->payload_owned = 0;
  p->crc = 0;
  p->have = 0;
  p->hlen = 0;
}

void fl_wire_parser_close(fl_wire_parser_t *p) {
  fl__release_frame(p);
  free(p->hbuf);
  p->hbuf = NULL;
  p->hcap = 0;
  p->state = FL__WP_FAILED;
  p->err = FL_ESHUTDOWN;
  snprintf(p->reason, sizeof p->reason, "parser closed");
}

/* Enters the final failed state; the reason goes to the parser and em. */
static int fl__fail(fl_wire_parser_t *p, fl_errmsg_t *em, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fl__fail(fl_wire_parser_t *p, fl_errmsg_t *em, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->reason, sizeof p->reason, fmt, ap);
  va_end(ap);
  p->state = FL__WP_FAILED;
  p->err = code;
  return fl_errf(em, code, "%s", p->reason);
}

/* Checks what has arrived of the preamble so far, so that garbage is
 * refused at its first wrong byte rather than after 12. */
static int fl__check_preamble(fl_wire_parser_t *p, size_t from, fl_errmsg_t *em) {
  for (size_t i = from; i < p->have && i < 4; i++) {
    if (p->pre[i] != (uint8_t)FL_WIRE_MAGIC[i]) {
      /* A TLS ClientHello (0x16 0x03) on a plaintext port is the common
       * mistake; say so. */
      const char *hint = p->pre[0] == 0x16 ? " (a TLS handshake: is the peer using TLS?)" : "";
      return fl__fail(p, em, FL_EPROTO, "bad magic at byte %zu: 0x%02x, expected 0x%02x%s", i,
                      p->pre[i], (uint8_t)FL_WIRE_MAGIC[i], hint);
    }
  }
  if (from <= 4 && p->have > 4 && p->pre[4] != FL_WIRE_VERSION)
    return fl__fail(p, em, FL_EVERSION, "protocol version %u, this build speaks %u", p->pre[4],
                    FL_WIRE_VERSION);
  if (from <= 5 && p->have > 5 && p->pre[5] != 0)
    return fl__fail(p, em, FL_EPROTO, "reserved flags 0x%02x set in version %u frame",
                    p->pre[5], FL_WIRE_VERSION);
  if (p->have < FL_WIRE_PREAMBLE_SIZE)
    return 0;
  uint32_t hlen = fl__get_be16(p->pre + 6);
  if (hlen == 0)
    return fl__fail(p, em, FL_EPROTO, "empty frame header");
  if (hlen > p->header_max)
    return fl__fail(p, em, FL_ETOOBIG, "frame header of %u bytes exceeds the limit of %u", hlen,
                    p->header_max);
  if (hlen > p->hcap) {
    uint8_t *nb = realloc(p->hbuf, hlen);
    if (!nb)
      return fl__fail(p, em, -ENOMEM, "no memory for a %u-byte frame header", hlen);
    p->hbuf = nb;
    p->hcap = hlen;
  }
  p->hlen = hlen;
  p->have = 0;
  p->state = FL__WP_HEADER;
  return 0;
}

/* The header bytes are all in: verify, decode and check them. */
static int fl__finish_header(fl_wire_parser_t *p, fl_errmsg_t *em) {
  uint32_t want = fl__get_be32(p->pre + 8);
  uint32_t got = fl_crc32c_extend(fl_crc32c(p->pre, 8), p->hbuf, p->hlen);
  if (got != want)
    return fl__fail(p, em, FL_ECORRUPT, "frame header CRC %08x, expected %08x", got, want);
  p->hdr = fl__frame_header__unpack(NULL, p->hlen, p->hbuf);
  if (!p->hdr)
    return fl__fail(p, em, FL_EPROTO, "frame header (%u bytes) does not decode", p->hlen);
  fl_errmsg_t why;
  int rc = fl_wire_header_check(p->hdr, p->payload_max, &why);
  if (rc < 0)
    return fl__fail(p, em, rc, "%s", why.msg);
  p->have = 0;
  p->crc = 0;
  p->payload_len = (size_t)p->hdr->payload_length;
  if (p->payload_len == 0) {
    p->state = FL__WP_FRAME;
    return FL_WIRE_FRAME;
  }
  p->state = FL__WP_PAYLOAD;
  return FL_WIRE_HEADER;
}

int fl_wire_parser_payload_dest(fl_wire_parser_t *p, void **dest, size_t *room, fl_errmsg_t *em) {
  if (p->state != FL__WP_PAYLOAD)
    return fl_errf(em, FL_EPROTO, "no payload is pending");
  if (!p->payload) {
    p->payload = malloc(p->payload_len);
    if (!p->payload)
      return fl__fail(p, em, -ENOMEM, "no memory for a %zu-byte payload", p->payload_len);
    p->payload_owned = 1;
  }
  *dest = p->payload + p->have;
  *room = p->payload_len - p->have;
  return 0;
}

int fl_wire_parser_payload_commit(fl_wire_parser_t *p, size_t n, fl_errmsg_t *em) {
  if (p->state != FL__WP_PAYLOAD || !p->payload || n > p->payload_len - p->have)
    return fl_errf(em, FL_EPROTO, "payload commit of %zu bytes out of place", n);
  p->crc = fl_crc32c_extend(p->crc, p->payload + p->have, n);
  p->have += n;
  if (p->have < p->payload_len)
    return FL_WIRE_AGAIN;
  if (p->crc != p->hdr->payload_crc32c)
    return fl__fail(p, em, FL_ECORRUPT, "%s payload CRC %08x, expected %08x (%zu bytes)",
                    fl_wire_type_name((int)p->hdr->type), p->crc,
                    (unsigned)p->hdr->payload_crc32c, p->payload_len);
  p->state = FL__WP_FRAME;
  return FL_WIRE_FRAME;
}

int fl_wire_parser_feed(fl_wire_parser_t *p, const void *data, size_t len, size_t *consumed,
                        fl_errmsg_t *em) {
  const uint8_t *in = data;
  size_t used = 0;
  int rc = FL_WIRE_AGAIN;
  *consumed = 0;
  if (p->state == FL__WP_FAILED)
    return fl_errf(em, p->err, "%s", p->reason);
  if (p->state == FL__WP_FRAME) {
    fl__release_frame(p);
    p->state = FL__WP_PREAMBLE;
  }
  while (used < len && rc == FL_WIRE_AGAIN) {
    size_t n;
    switch (p->state) {
    case FL__WP_PREAMBLE: {
      size_t from = p->have;
      n = FL_WIRE_PREAMBLE_SIZE - p->have;
      n = n < len - used ? n : len - used;
      memcpy(p->pre + p->have, in + used, n);
      p->have += n;
      used += n;
      rc = fl__check_preamble(p, from, em);
      break;
    }
    case FL__WP_HEADER:
      n = p->hlen - p->have;
      n = n < len - used ? n : len - used;
      memcpy(p->hbuf + p->have, in + used, n);
      p->have += n;
      used += n;
      if (p->have == p->hlen)
        rc = fl__finish_header(p, em);
      break;
    case FL__WP_PAYLOAD: {
      void *dst;
      size_t room;
      rc = fl_wire_parser_payload_dest(p, &dst, &room, em);
      if (rc < 0)
        break;
      n = room < len - used ? room : len - used;
      memcpy(dst, in + used, n);
      used += n;
      rc = fl_wire_parser_payload_commit(p, n, em);
      break;
    }
    default:
      rc = fl_errf(em, FL_EINTERNAL, "parser in state %d", p->state);
      break;
    }
  }
  *consumed = used;
  return rc;
}

int fl_wire_parser_set_payload_buf(fl_wire_parser_t *p, void *buf, size_t cap, fl_errmsg_t *em) {
  if (p->state != FL__WP_PAYLOAD || p->have != 0 || p->payload)
    return fl_errf(em, FL_EPROTO, "a payload buffer can only be attached before the payload");
  if (cap < p->payload_len)
    return fl_errf(em, FL_ETOOBIG, "%s payload of %zu bytes does not fit a %zu-byte buffer",
                   fl_wire_type_name((int)p->hdr->type), p->payload_len, cap);
  p->payload = buf;
  p->payload_owned = 0;
  return 0;
}

const Fl__FrameHeader *fl_wire_parser_header(const fl_wire_parser_t *p) {
  return p->state == FL__WP_PAYLOAD || p->state == FL__WP_FRAME ? p->hdr : NULL;
}

const void *fl_wire_parser_payload(const fl_wire_parser_t *p, size_t *len) {
  if (p->state != FL__WP_FRAME || !p->payload) {
    *len = 0;
    return NULL;
  }
  *len = p->payload_len;
  return p->payload;
}

void *fl_wire_parser_take_payload(fl_wire_parser_t *p, size_t *len) {
  if (p->state != FL__WP_FRAME || !p->payload_owned) {
    *len = 0;
    return NULL;
  }
  void *out = p->payload;
  *len = p->payload_len;
  p->payload = NULL;
  p->payload_owned = 0;
  return out;
}

size_t fl_wire_parser_payload_remaining(const fl_wire_parser_t *p) {
  return p->state == FL__WP_PAYLOAD ? p->payload_len - p->have : 0;
}

int fl_wire_parser_mid_frame(const fl_wire_parser_t *p) {
  return p->state == FL__WP_HEADER || p->state == FL__WP_PAYLOAD ||
         (p->state == FL__WP_PREAMBLE && p->have > 0);
}

const char *fl_wire_parser_reason(const fl_wire_parser_t *p) {
  return p->state == FL__WP_FAILED ? p->reason : "";
}
