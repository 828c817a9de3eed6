/* A simple blocking wire connection over TCP: connect with a timeout, send a
 * frame (header + payload by one sendmsg), receive a frame with a timeout.
 * For tests, the CLI and benchmarks; servers and the async client use
 * fl_wire.h from their own event loop. */
#ifndef FL_WIRE_CONN_H
#define FL_WIRE_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "fl_err.h"
#include "fl_wire.h"

/* Most payload buffers fl_wire_conn_send() accepts in one frame. */
#define FL_WIRE_CONN_IOV_MAX 64

/* A queued piece of output: base + off, len bytes; base NULL means the
 * connection's own qbuf (which may move as it grows). Private. */
typedef struct fl_wire_conn_seg {
  const void *base;
  size_t off, len;
} fl_wire_conn_seg_t;

/* One connection, used by one thread at a time. Fields are private. */
typedef struct fl_wire_conn {
  int fd;                  /* -1 once closed */
  int broken;              /* transport or framing failed: only close is left */
  int err;                 /* the failure that broke it */
  int timeout_ms;          /* per send / recv / call; <= 0 waits forever */
  uint64_t next_id;        /* request ids handed out by fl_wire_conn_call */
  fl_wire_parser_t parser; /* holds the last received frame */
  uint8_t *rbuf;           /* bytes read from the socket, not yet parsed */
  size_t rcap, rpos, rlen;
  uint8_t *qbuf;           /* encoded preambles + headers of the frames queued */
  size_t qcap, qlen;
  fl_wire_conn_seg_t *qseg; /* what the next write sends: headers and payloads */
  size_t nseg, segcap;
  int background;          /* set by the owner after open: every request sent is marked
                            * background (FrameHeader.background) */
  int large;               /* the last frame received had a large payload */
} fl_wire_conn_t;

/* Connects to host:port (name or address; resolution itself is not under
 * the timeout) within timeout_ms, then uses timeout_ms for every later
 * send, receive or call. lim (copied; NULL = defaults) bounds received
 * frames. host is borrowed for the call. Errors: -ETIMEDOUT,
 * -ECONNREFUSED and other -errno, -EHOSTUNREACH when host does not
 * resolve. On error c is left closed (fl_wire_conn_close is harmless). */
int fl_wire_conn_open(fl_wire_conn_t *c, const char *host, uint16_t port, int timeout_ms,
                      const fl_wire_limits_t *lim, fl_errmsg_t *em);

/* Wraps an already connected socket (e.g. from accept()); fd is handed over
 * and closed by fl_wire_conn_close, also on error (-errno). */
int fl_wire_conn_adopt(fl_wire_conn_t *c, int fd, int timeout_ms, const fl_wire_limits_t *lim,
                       fl_errmsg_t *em);

/* Closes the socket and frees everything; safe on a closed connection. */
void fl_wire_conn_close(fl_wire_conn_t *c);

/* Sends one frame: sets h->payload_length and h->payload_crc32c from the
 * iovcnt (<= FL_WIRE_CONN_IOV_MAX) payload buffers, encodes h, and writes
 * header and payload with sendmsg, no copy of the payload. h and payload are
 * borrowed for the call. A failure after the first byte breaks the
 * connection (-ETIMEDOUT, -EPIPE, ...); an encoding failure does not. */
int fl_wire_conn_send(fl_wire_conn_t *c, Fl__FrameHeader *h, const struct iovec *payload,
                      int iovcnt, fl_errmsg_t *em);

/* Queues a frame without payload (encoded now) to go with the next send,
 * or with fl_wire_conn_flush, in the same write: requests queued one after
 * another reach the peer as one read, where sent one by one each would
 * wake it. A receive flushes first. h is borrowed for the call. */
int fl_wire_conn_queue(fl_wire_conn_t *c, Fl__FrameHeader *h, fl_errmsg_t *em);

/* fl_wire_conn_queue for a frame with a payload whose CRC32C the caller
 * already has (one computed while it was made, or checked as it arrived):
 * crc is sent as is, without a pass over the payload, and a wrong one
 * makes the receiver refuse the frame. The payload is borrowed until the
 * queue is written (the next send, receive or flush, or a queue call that
 * finds the queue full): frames of about 128 KiB cost loopback TCP here
 * about twice the CPU per byte when written one by one as when written
 * together. */
int fl_wire_conn_queue_known(fl_wire_conn_t *c, Fl__FrameHeader *h, const struct iovec *payload,
                             int iovcnt, uint32_t crc, fl_errmsg_t *em);

/* Writes the queued frames now (nothing queued: nothing to do). A failure
 * breaks the connection, as a failed send does. */
int fl_wire_conn_flush(fl_wire_conn_t *c, fl_errmsg_t *em);

/* Receives the next frame. When buf is non-NULL the payload is read
 * straight into it (cap bytes; a larger payload fails with FL_ETOOBIG);
 * otherwise into memory the connection owns. The frame is then available
 * through fl_wire_conn_header()/_payload() until the next recv or call.
 * Errors break the connection: fl_wire_parser_feed() codes, -ETIMEDOUT,
 * -ECONNRESET (closed between frames), FL_ETRUNC (closed mid-frame). */
int fl_wire_conn_recv(fl_wire_conn_t *c, void *buf, size_t cap, fl_errmsg_t *em);

/* One request/response exchange: gives req a fresh request_id, sends it
 * with the payload, receives the response (payload into buf as for
 * fl_wire_conn_recv) and checks that it answers req (same id and type, a
 * response). Returns 0, a local error (the connection is then broken) or
 * the response's own negative status with its error text in em (the
 * connection stays usable; tell them apart with fl_wire_conn_usable). */
int fl_wire_conn_call(fl_wire_conn_t *c, Fl__FrameHeader *req, const struct iovec *payload,
                      int iovcnt, void *buf, size_t cap, fl_errmsg_t *em);

/* Header / payload of the last received frame, owned by the connection,
 * valid until the next recv, call or close. NULL if none. */
const Fl__FrameHeader *fl_wire_conn_header(const fl_wire_conn_t *c);
const void *fl_wire_conn_payload(const fl_wire_conn_t *c, size_t *len);

/* 1 while the connection can still carry frames. */
int fl_wire_conn_usable(const fl_wire_conn_t *c);

/* Sets the timeout of later sends, receives and calls (<= 0: forever):
 * e.g. a short connect, then a long poll. */
void fl_wire_conn_set_timeout(fl_wire_conn_t *c, int timeout_ms);

#endif
