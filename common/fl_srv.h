/* A generic wire-protocol server on one libuv loop: accept, frame parsing,
 * pipelining with per-connection back-pressure, idle timeouts, response
 * writes without copying payloads, and a clean stop on SIGTERM/SIGINT.
 * What a request means is the caller's business (fl_srv_ops_t). */
#ifndef FL_SRV_H
#define FL_SRV_H

#include <stdint.h>
#include <uv.h>

#include "filmless.pb-c.h"
#include "fl_addr.h"
#include "fl_err.h"
#include "fl_wire.h"

typedef struct fl_srv fl_srv_t;
/* One request in flight: from its frame's arrival until fl_srv_req_respond
 * (or fl_srv_req_drop). While the handler holds it, it may hand it to any
 * one thread at a time (e.g. a libuv worker); respond and drop are called
 * on the loop thread only. */
typedef struct fl_srv_req fl_srv_req_t;

typedef struct fl_srv_ops {
  /* A request frame arrived (loop thread). The handler now owns req and
   * must end it with fl_srv_req_respond or fl_srv_req_drop, now or later.
   * Required. */
  void (*on_request)(void *ctx, fl_srv_req_t *req);
  /* A stop was asked for (signal or fl_srv_stop): the listener is closed
   * and connections stopped reading. Requests in flight still complete;
   * a handler holding long polls should answer them now. Optional. */
  void (*on_stop)(void *ctx);
  /* Nonzero while the caller still has background work on the loop that
   * must end before the loop does (fl_srv_maybe_finish is then called by
   * the caller once it ends). Optional. */
  int (*busy)(void *ctx);
  /* Every request is answered and busy() is 0: close the caller's own
   * handles on the loop (timers...). Called once. Optional. */
  void (*on_finish)(void *ctx);
} fl_srv_ops_t;

typedef struct fl_srv_opts {
  const char *name;          /* component name for logs ("node", "coord"); borrowed */
  fl_addr_t listen;          /* copied; port 0 = any free port */
  fl_wire_limits_t limits;   /* frame bounds; zero fields = defaults */
  int64_t idle_timeout_ms;   /* close connections idle this long, > 0 */
  int64_t max_inflight;      /* requests per connection before reading pauses, >= 1 */
} fl_srv_opts_t;

/* Creates the loop, resolves and binds the listen address, listens, and
 * installs SIGTERM/SIGINT handlers (SIGPIPE is ignored). ops is copied;
 * ctx is borrowed until fl_srv_free. On error nothing is left open and
 * *out is NULL. */
int fl_srv_new(const fl_srv_opts_t *opts, const fl_srv_ops_t *ops, void *ctx, fl_srv_t **out,
               fl_errmsg_t *em);

/* The server's loop, for the caller's own timers and thread-pool work.
 * Owned by the server. */
uv_loop_t *fl_srv_loop(fl_srv_t *srv);

/* The TCP port actually bound (useful with port 0). */
int fl_srv_port(const fl_srv_t *srv);

/* Runs the loop until a stop has completed. Returns 0. */
int fl_srv_run(fl_srv_t *srv);

/* Starts the stop sequence as a signal would (loop thread only). */
void fl_srv_stop(fl_srv_t *srv);

/* 1 once a stop has begun. */
int fl_srv_stopping(const fl_srv_t *srv);

/* The caller's background work ended: finish the stop if nothing else
 * is pending (loop thread only). */
void fl_srv_maybe_finish(fl_srv_t *srv);

/* Closes whatever is still open and frees the server and its loop. */
void fl_srv_free(fl_srv_t *srv);

/* Totals since start, for the final log line. */
void fl_srv_counts(const fl_srv_t *srv, uint64_t *conns, uint64_t *reqs);

/* ---- requests --------------------------------------------------------- */

/* The request header, unpacked on first use by whichever thread holds req;
 * owned by req. NULL only if memory ran out. */
const Fl__FrameHeader *fl_srv_req_header(fl_srv_req_t *req);

/* The request payload (NULL/0 when empty), owned by req. */
const void *fl_srv_req_payload(const fl_srv_req_t *req, uint64_t *len);

/* Frees the request payload early (once the handler is done with it). */
void fl_srv_req_release_payload(fl_srv_req_t *req);

/* "host:port" of the peer; owned by the connection, valid while req is. */
const char *fl_srv_req_peer(const fl_srv_req_t *req);

/* 1 if the connection of req has closed: a response would be dropped. */
int fl_srv_req_conn_closed(const fl_srv_req_t *req);

/* Sends the response and ends req (loop thread). hdr is an encoded
 * preamble + header of hdr_len bytes (malloc'd, handed over); the payload
 * is the payload_len bytes at payload, which lie inside the allocation
 * payload_base (handed over, NULL when empty; e.g. an aligned buffer with
 * the payload at an offset). Both are freed here, also when the connection
 * has closed. hdr NULL means the response could not be built: the
 * connection is closed, as the peer would otherwise wait. */
void fl_srv_req_respond_raw(fl_srv_req_t *req, uint8_t *hdr, size_t hdr_len,
                            void *payload_base, const void *payload, uint64_t payload_len);

/* One response of fl_srv_req_respond_group: the arguments of
 * fl_srv_req_respond_raw. */
typedef struct fl_srv_resp {
  fl_srv_req_t *req;
  uint8_t *hdr;
  size_t hdr_len;
  void *payload_base;
  const void *payload;
  uint64_t payload_len;
} fl_srv_resp_t;

/* fl_srv_req_respond_raw for n requests at once (loop thread; resps is
 * borrowed for the call). Responses of one connection go out in one
 * write: on this machine class loopback TCP costs about twice the CPU per
 * byte in writes of 128 KiB as in writes of 512 KiB. */
void fl_srv_req_respond_group(const fl_srv_resp_t *resps, size_t n);

/* 1 if a and b came on the same connection. */
int fl_srv_req_same_conn(const fl_srv_req_t *a, const fl_srv_req_t *b);

/* Requests of req's connection not answered yet, req included (loop
 * thread). */
int fl_srv_req_conn_unanswered(const fl_srv_req_t *req);

/* Answers worked out off the loop thread, announced to it in groups. A
 * handler that hands a request to another thread calls
 * fl_srv_req_work_begin first; the thread that has its answer ready calls
 * fl_srv_req_work_end with the answer's payload bytes, which returns 1
 * when the loop should be told now: no other request of that connection
 * is still being worked on, or the answers not yet announced on it reach
 * max_bytes, or the oldest of them waited max_ns. Otherwise it returns 0,
 * and a later fl_srv_req_work_end of the same connection (one is pending)
 * announces it too: a burst of answers costs the loop one wake-up instead
 * of one each. The caller serializes the calls for one connection (the
 * lock around its queue of answers) and keeps req alive until the call
 * returns. */
void fl_srv_req_work_begin(fl_srv_req_t *req);
int fl_srv_req_work_end(fl_srv_req_t *req, uint64_t bytes, uint64_t max_bytes, int64_t max_ns);

/* Encodes resp (borrowed for the call; payload_length and payload_crc32c
 * are set here from payload) and sends it with payload (handed over, may
 * be NULL). Loop thread. An encoding failure is logged and closes the
 * connection. */
void fl_srv_req_respond(fl_srv_req_t *req, Fl__FrameHeader *resp, void *payload,
                        uint64_t payload_len);

/* Ends req without a response (loop thread): its connection is closed. */
void fl_srv_req_drop(fl_srv_req_t *req);

#endif
