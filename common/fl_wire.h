/* Wire frames: encoding a frame header and an incremental, bounded parser
 * that turns arbitrary byte chunks into frames. Pure: no sockets, no clock.
 * Layout and message semantics: docs/wire-protocol.md. */
#ifndef FL_WIRE_H
#define FL_WIRE_H

/* A frame on the wire (all integers big-endian):
 *
 * OFFSET  SIZE  DESCRIPTION
 *      0     4  magic "FLWP" (0x46 0x4C 0x57 0x50)
 *      4     1  protocol version, FL_WIRE_VERSION
 *      5     1  flags, reserved: must be 0
 *      6     2  H = header length, 1..header_max (<= 65535)
 *      8     4  CRC32C of bytes 0..7 followed by the H header bytes
 *     12     H  fl.FrameHeader packed by protobuf-c
 *   12+H     P  payload, P = FrameHeader.payload_length <= payload_max,
 *               CRC32C(payload) = FrameHeader.payload_crc32c
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "filmless.pb-c.h"
#include "fl_err.h"

#define FL_WIRE_MAGIC "FLWP"
#define FL_WIRE_VERSION 1
#define FL_WIRE_PREAMBLE_SIZE 12
/* The header length field is 16 bits: no header is ever larger. */
#define FL_WIRE_HEADER_LIMIT 65535u
#define FL_WIRE_HEADER_MAX_DEFAULT (16u * 1024)
#define FL_WIRE_PAYLOAD_MAX_DEFAULT ((uint64_t)64 << 20)
/* A buffer this large always holds an encoded preamble + header. */
#define FL_WIRE_HEADER_BUF_MAX (FL_WIRE_PREAMBLE_SIZE + FL_WIRE_HEADER_LIMIT)
/* Longest error_text a sender may put in a header (fl_errmsg_t fits). */
#define FL_WIRE_ERROR_TEXT_MAX 1024u

/* Bounds a receiver enforces before allocating anything. Zero fields take
 * the defaults; header_max above FL_WIRE_HEADER_LIMIT is clamped. */
typedef struct fl_wire_limits {
  uint32_t header_max;  /* default FL_WIRE_HEADER_MAX_DEFAULT */
  uint64_t payload_max; /* default FL_WIRE_PAYLOAD_MAX_DEFAULT */
} fl_wire_limits_t;

/* ---- message types ------------------------------------------------------ */

/* "PUT_FRAGMENT" for FL__MSG_TYPE__MSG_TYPE_PUT_FRAGMENT; "UNKNOWN" when the
 * value is not a type of this protocol version. Static, never NULL. */
const char *fl_wire_type_name(int type);

/* 1 if type is a message type of this protocol version, else 0. */
int fl_wire_type_known(int type);

/* Checks a decoded or about-to-be-sent header against the protocol rules:
 * known type, body oneof matching the type and direction, payload allowed
 * for that type and direction and <= payload_max, status <= 0 and only on
 * responses, error_text bounded, no payload CRC without a payload.
 * FL_EPROTO, FL_ETOOBIG (payload length) or FL_ECORRUPT (a CRC for an empty
 * payload), with the reason in em. h is borrowed for the call. */
int fl_wire_header_check(const Fl__FrameHeader *h, uint64_t payload_max, fl_errmsg_t *em);

/* Fills resp (which must be fl__frame_header__init'ed) as the response to
 * req: same request_id and type, response set, status and error_text.
 * error_text is borrowed (it must outlive the encoding of resp); NULL or ""
 * means none. req is only read. */
void fl_wire_response_init(Fl__FrameHeader *resp, const Fl__FrameHeader *req, int status,
                           const char *error_text);

/* ---- encoding ----------------------------------------------------------- */

/* Bytes that fl_wire_encode_header() will write for h: preamble + header. */
size_t fl_wire_encoded_size(const Fl__FrameHeader *h);

/* Writes the preamble and packed header for h into buf (cap bytes), using
 * h->payload_length and h->payload_crc32c exactly as set (for a sender that
 * already knows the payload's CRC, e.g. a node serving a stored fragment).
 * The payload itself is sent after these bytes, separately (writev).
 * Errors: those of fl_wire_header_check() (with no payload limit), and
 * FL_ETOOBIG if the header exceeds FL_WIRE_HEADER_LIMIT or cap.
 * h and buf are borrowed for the call; *out_len is set on success only. */
int fl_wire_encode_header(const Fl__FrameHeader *h, uint8_t *buf, size_t cap, size_t *out_len,
                          fl_errmsg_t *em);

/* Like fl_wire_encode_header() but first sets h->payload_length and
 * h->payload_crc32c from the iovcnt buffers of payload (NULL/0: empty). */
int fl_wire_encode(Fl__FrameHeader *h, const struct iovec *payload, int iovcnt, uint8_t *buf,
                   size_t cap, size_t *out_len, fl_errmsg_t *em);

/* ---- parsing ------------------------------------------------------------ */

/* Events returned by fl_wire_parser_feed() and _payload_commit(). */
enum fl_wire_event {
  FL_WIRE_AGAIN = 0,  /* all input used; feed more */
  FL_WIRE_HEADER = 1, /* header valid, payload_length > 0 bytes to come */
  FL_WIRE_FRAME = 2,  /* a whole frame, payload CRC verified */
};

/* An incremental frame parser for one connection. Owned by the one thread
 * (or loop) reading that connection. Fields are private. Typical use:
 *
 *   rc = fl_wire_parser_feed(p, buf, n, &used, em);   // bytes from recv()
 *   if (rc == FL_WIRE_HEADER) {                        // big payload ahead
 *     fl_wire_parser_set_payload_buf(p, mine, cap, em); // optional
 *     while (rc == FL_WIRE_HEADER || rc == FL_WIRE_AGAIN) {
 *       fl_wire_parser_payload_dest(p, &dst, &room, em);
 *       n = recv(fd, dst, room, 0);                     // straight to mine
 *       rc = fl_wire_parser_payload_commit(p, n, em);
 *     }
 *   }
 *   if (rc == FL_WIRE_FRAME) use fl_wire_parser_header()/_payload();
 *
 * Any negative return is final for the connection: the parser stays failed
 * and returns the same code, the reason in em and fl_wire_parser_reason(). */
typedef struct fl_wire_parser {
  uint32_t header_max;       /* limits, fixed at init */
  uint64_t payload_max;
  int state;                 /* FL__WP_* in fl_wire.c */
  int err;                   /* the failure, once failed */
  size_t have;               /* bytes of the current section received */
  uint8_t pre[FL_WIRE_PREAMBLE_SIZE];
  uint32_t hlen;             /* header length from the preamble */
  uint8_t *hbuf;             /* header bytes; grown up to header_max, reused */
  size_t hcap;
  Fl__FrameHeader *hdr;      /* unpacked header of the current frame */
  uint8_t *payload;          /* destination of the current payload */
  size_t payload_len;
  int payload_owned;         /* payload allocated by the parser */
  uint32_t crc;              /* running CRC32C of payload bytes so far */
  char reason[256];          /* why the parser failed */
} fl_wire_parser_t;

/* lim is copied (NULL: defaults). Cannot fail; allocates nothing yet. */
void fl_wire_parser_init(fl_wire_parser_t *p, const fl_wire_limits_t *lim);

/* Frees everything the parser owns. A caller's payload buffer is not freed.
 * The parser may be initialised again afterwards. */
void fl_wire_parser_close(fl_wire_parser_t *p);

/* Consumes bytes from data (borrowed for the call) and sets *consumed.
 * Stops right after an event: FL_WIRE_HEADER (only when a payload follows)
 * or FL_WIRE_FRAME; the unconsumed rest is fed again by the caller, after
 * having used the frame. Feeding after FL_WIRE_FRAME releases that frame
 * and starts the next. In the payload stage bytes are copied to the payload
 * destination (allocated here, exactly payload_length bytes, unless the
 * caller attached one). Errors: FL_EPROTO (bad magic, flags, header that
 * does not decode or breaks the rules, unknown type), FL_EVERSION,
 * FL_ETOOBIG (header or payload over the limit, refused before any
 * allocation), FL_ECORRUPT (header or payload CRC), -ENOMEM. */
int fl_wire_parser_feed(fl_wire_parser_t *p, const void *data, size_t len, size_t *consumed,
                        fl_errmsg_t *em);

/* After FL_WIRE_HEADER, before any payload byte: payload bytes go to buf
 * (cap bytes), borrowed until the frame is released (next feed, or close).
 * FL_ETOOBIG if cap < payload length (the parser is unchanged: the caller
 * may let it allocate instead); FL_EPROTO if not at that point. */
int fl_wire_parser_set_payload_buf(fl_wire_parser_t *p, void *buf, size_t cap, fl_errmsg_t *em);

/* While a payload is incomplete: *dest is where the next payload byte goes
 * and *room how many bytes are still due (never more, so a read of room
 * bytes cannot swallow the next frame). Allocates the destination if the
 * caller attached none (-ENOMEM). FL_EPROTO if no payload is pending. */
int fl_wire_parser_payload_dest(fl_wire_parser_t *p, void **dest, size_t *room, fl_errmsg_t *em);

/* n bytes (<= room) were written at the last *dest. Returns FL_WIRE_AGAIN,
 * FL_WIRE_FRAME once complete and verified, or FL_ECORRUPT on CRC mismatch. */
int fl_wire_parser_payload_commit(fl_wire_parser_t *p, size_t n, fl_errmsg_t *em);

/* Header of the current frame, from FL_WIRE_HEADER until the frame is
 * released; owned by the parser. NULL at other times. */
const Fl__FrameHeader *fl_wire_parser_header(const fl_wire_parser_t *p);

/* Payload of a complete frame (after FL_WIRE_FRAME), owned by the parser or
 * the caller's attached buffer; *len set. NULL/0 when empty, taken, or not
 * ready. */
const void *fl_wire_parser_payload(const fl_wire_parser_t *p, size_t *len);

/* Hands over a parser-allocated payload of the complete frame: the caller
 * frees it with free(). NULL (and the frame unchanged) if the payload is
 * empty, in the caller's buffer, or the frame is not complete. */
void *fl_wire_parser_take_payload(fl_wire_parser_t *p, size_t *len);

/* Payload bytes still due for the current frame (0 outside the payload). */
size_t fl_wire_parser_payload_remaining(const fl_wire_parser_t *p);

/* 1 if the parser holds some bytes of a frame not yet complete (a peer
 * that closes now truncated a frame), 0 between frames. */
int fl_wire_parser_mid_frame(const fl_wire_parser_t *p);

/* Why the parser failed ("" if it has not). Owned by the parser. */
const char *fl_wire_parser_reason(const fl_wire_parser_t *p);

#endif
