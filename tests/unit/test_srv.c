/* Unit tests of the generic server (common/fl_srv.h) in one process: the
 * loop runs on a thread, clients use blocking fl_wire_conn. Covered:
 * immediate and deferred answers (a long poll held on the loop), pipelined
 * requests answered out of order, answers of several requests sent in one
 * write (fl_srv_req_respond_group), requests queued on the client and
 * sent in one write (fl_wire_conn_queue), a malformed frame closing only its own
 * connection, and a SIGTERM that answers held requests (on_stop) before
 * the loop ends (on_finish). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fl_crc32c.h"
#include "fl_srv.h"
#include "fl_test.h"
#include "fl_wire_conn.h"

/* Loop thread state. PING: echo at once. STAT: held until a later PING
 * releases it (out of order) or until stop. */
static fl_srv_t *srv;
static fl_srv_req_t *held[8];
static int nheld, stopped, finished;
/* PINGs with payload "g<n>": held until three are, then answered in one
 * write, last first; unanswered_seen records what the server counted. */
static fl_srv_req_t *grouped[3];
static int ngrouped, unanswered_seen;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void answer(fl_srv_req_t *r) {
  const Fl__FrameHeader *h = fl_srv_req_header(r);
  Fl__FrameHeader resp = FL__FRAME_HEADER__INIT;
  fl_wire_response_init(&resp, h, 0, NULL);
  if (h->type == FL__MSG_TYPE__MSG_TYPE_STAT) {
    static Fl__StatResult sr = FL__STAT_RESULT__INIT;
    sr.map_epoch = h->request_id;
    resp.body_case = FL__FRAME_HEADER__BODY_STAT_RESULT;
    resp.stat_result = &sr;
    fl_srv_req_respond(r, &resp, NULL, 0);
    return;
  }
  uint64_t len;
  const void *p = fl_srv_req_payload(r, &len);
  void *copy = len ? malloc(len) : NULL;
  if (len)
    memcpy(copy, p, len);
  fl_srv_req_respond(r, &resp, copy, len);
}

static void on_request(void *ctx, fl_srv_req_t *r) {
  (void)ctx;
  const Fl__FrameHeader *h = fl_srv_req_header(r);
  if (h->type == FL__MSG_TYPE__MSG_TYPE_STAT && nheld < 8) {
    held[nheld++] = r;
    return;
  }
  /* A PING with payload "release" answers the held requests first. */
  uint64_t len;
  const void *p = fl_srv_req_payload(r, &len);
  if (len == 2 && ((const char *)p)[0] == 'g') {
    grouped[ngrouped++] = r;
    if (ngrouped < 3)
      return;
    unanswered_seen = fl_srv_req_conn_unanswered(r);
    fl_srv_resp_t rs[3];
    for (int i = 0; i < 3; i++) {
      fl_srv_req_t *q = grouped[2 - i];
      const Fl__FrameHeader *qh = fl_srv_req_header(q);
      Fl__FrameHeader resp = FL__FRAME_HEADER__INIT;
      fl_wire_response_init(&resp, qh, 0, NULL);
      uint64_t ql;
      const void *qp = fl_srv_req_payload(q, &ql);
      uint8_t *copy = malloc(ql);
      memcpy(copy, qp, ql);
      resp.payload_length = ql;
      resp.payload_crc32c = fl_crc32c(copy, ql);
      size_t cap = fl_wire_encoded_size(&resp), hl = 0;
      uint8_t *hdr = malloc(cap);
      FL_CHECK_OK(fl_wire_encode_header(&resp, hdr, cap, &hl, NULL));
      rs[i] = (fl_srv_resp_t){q, hdr, hl, copy, copy, ql};
    }
    ngrouped = 0;
    fl_srv_req_respond_group(rs, 3);
    return;
  }
  if (len == 7 && memcmp(p, "release", 7) == 0) {
    while (nheld > 0)
      answer(held[--nheld]);
  }
  answer(r);
}

static void on_stop(void *ctx) {
  (void)ctx;
  pthread_mutex_lock(&mu);
  stopped = 1;
  pthread_mutex_unlock(&mu);
  while (nheld > 0)
    answer(held[--nheld]);
}

static void on_finish(void *ctx) {
  (void)ctx;
  finished = 1;
}

static void *loop_thread(void *arg) {
  (void)arg;
  fl_srv_run(srv);
  return NULL;
}

static void send_req(fl_wire_conn_t *c, int type, uint64_t id, const char *payload) {
  Fl__FrameHeader h = FL__FRAME_HEADER__INIT;
  h.type = type;
  h.request_id = id;
  struct iovec iov = {(void *)payload, payload ? strlen(payload) : 0};
  FL_CHECK_OK(fl_wire_conn_send(c, &h, &iov, payload ? 1 : 0, NULL));
}

static void test_srv(void) {
  /* Every thread but the loop's blocks SIGTERM, so the signal reaches the
   * loop's watcher whichever thread the kernel picks. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  fl_srv_opts_t o = {.name = "test", .idle_timeout_ms = 60000, .max_inflight = 4};
  FL_CHECK_OK(fl_addr_parse(&o.listen, "127.0.0.1:0", FL_ADDR_PORT0, NULL));
  fl_srv_ops_t ops = {.on_request = on_request, .on_stop = on_stop, .on_finish = on_finish};
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_srv_new(&o, &ops, NULL, &srv, &em));
  int port = fl_srv_port(srv);
  FL_CHECK(port > 0);
  pthread_t th;
  FL_CHECK_EQ(pthread_create(&th, NULL, loop_thread, NULL), 0);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  fl_wire_conn_t a, b, bad;
  FL_CHECK_OK(fl_wire_conn_open(&a, "127.0.0.1", (uint16_t)port, 5000, NULL, NULL));
  FL_CHECK_OK(fl_wire_conn_open(&b, "127.0.0.1", (uint16_t)port, 5000, NULL, NULL));
  FL_CHECK_OK(fl_wire_conn_open(&bad, "127.0.0.1", (uint16_t)port, 5000, NULL, NULL));
  /* Pipelined: two held STATs, then a PING that releases them. The PING's
   * answer is written last, the STATs' in reverse order of arrival. */
  send_req(&a, FL__MSG_TYPE__MSG_TYPE_STAT, 11, NULL);
  send_req(&a, FL__MSG_TYPE__MSG_TYPE_STAT, 12, NULL);
  send_req(&a, FL__MSG_TYPE__MSG_TYPE_PING, 13, "release");
  uint64_t order[3];
  for (int i = 0; i < 3; i++) {
    FL_CHECK_OK(fl_wire_conn_recv(&a, NULL, 0, &em));
    const Fl__FrameHeader *r = fl_wire_conn_header(&a);
    order[i] = r->request_id;
    if (r->type == FL__MSG_TYPE__MSG_TYPE_STAT)
      FL_CHECK_EQ(r->stat_result->map_epoch, r->request_id);
  }
  FL_CHECK_EQ(order[0], 12);
  FL_CHECK_EQ(order[1], 11);
  FL_CHECK_EQ(order[2], 13);
  /* The same with the STATs queued: nothing leaves until the PING is
   * sent, which carries them along in front of it. */
  Fl__FrameHeader q = FL__FRAME_HEADER__INIT;
  q.type = FL__MSG_TYPE__MSG_TYPE_STAT;
  q.request_id = 41;
  FL_CHECK_OK(fl_wire_conn_queue(&a, &q, &em));
  q.request_id = 42;
  FL_CHECK_OK(fl_wire_conn_queue(&a, &q, &em));
  FL_CHECK(a.nseg > 0);
  send_req(&a, FL__MSG_TYPE__MSG_TYPE_PING, 43, "release");
  FL_CHECK_EQ(a.nseg, 0);
  for (int i = 0; i < 3; i++) {
    FL_CHECK_OK(fl_wire_conn_recv(&a, NULL, 0, &em));
    order[i] = fl_wire_conn_header(&a)->request_id;
  }
  FL_CHECK_EQ(order[0], 42);
  FL_CHECK_EQ(order[1], 41);
  FL_CHECK_EQ(order[2], 43);
  /* Queued frames leave with an explicit flush, or with a receive. */
  q.type = FL__MSG_TYPE__MSG_TYPE_PING;
  q.request_id = 44;
  FL_CHECK_OK(fl_wire_conn_queue(&a, &q, &em));
  FL_CHECK_OK(fl_wire_conn_flush(&a, &em));
  FL_CHECK_OK(fl_wire_conn_flush(&a, &em)); /* nothing left: harmless */
  FL_CHECK_OK(fl_wire_conn_recv(&a, NULL, 0, &em));
  FL_CHECK_EQ(fl_wire_conn_header(&a)->request_id, 44);
  q.request_id = 45;
  FL_CHECK_OK(fl_wire_conn_queue(&a, &q, &em));
  FL_CHECK_OK(fl_wire_conn_recv(&a, NULL, 0, &em));
  FL_CHECK_EQ(fl_wire_conn_header(&a)->request_id, 45);
  /* Frames with payloads (their CRC given) queued, then written together;
   * a wrong CRC makes the server refuse the frame and close. */
  struct iovec pv[2] = {{"first", 5}, {"second!", 7}};
  for (int i = 0; i < 2; i++) {
    q.request_id = 46 + (uint64_t)i;
    FL_CHECK_OK(fl_wire_conn_queue_known(&a, &q, &pv[i], 1,
                                         fl_crc32c(pv[i].iov_base, pv[i].iov_len), &em));
  }
  FL_CHECK_OK(fl_wire_conn_flush(&a, &em));
  for (int i = 0; i < 2; i++) {
    FL_CHECK_OK(fl_wire_conn_recv(&a, NULL, 0, &em));
    size_t el;
    const void *ep = fl_wire_conn_payload(&a, &el);
    FL_CHECK_EQ(fl_wire_conn_header(&a)->request_id, 46 + (uint64_t)i);
    FL_CHECK_EQ(el, pv[i].iov_len);
    FL_CHECK_MEM(ep, pv[i].iov_base, el);
  }
  /* Three requests answered in one write, last first, each with its own
   * payload. */
  send_req(&a, FL__MSG_TYPE__MSG_TYPE_PING, 31, "g1");
  send_req(&a, FL__MSG_TYPE__MSG_TYPE_PING, 32, "g2");
  send_req(&a, FL__MSG_TYPE__MSG_TYPE_PING, 33, "g3");
  for (int i = 0; i < 3; i++) {
    FL_CHECK_OK(fl_wire_conn_recv(&a, NULL, 0, &em));
    const Fl__FrameHeader *r = fl_wire_conn_header(&a);
    FL_CHECK_EQ(r->request_id, (uint64_t)(33 - i));
    size_t gl;
    const char *gp = fl_wire_conn_payload(&a, &gl);
    FL_CHECK_EQ(gl, 2);
    FL_CHECK_EQ(gp[1], '3' - i);
  }
  FL_CHECK_EQ(unanswered_seen, 3);
  /* A queued frame whose given CRC is wrong: refused, the connection closed. */
  fl_wire_conn_t wrong;
  FL_CHECK_OK(fl_wire_conn_open(&wrong, "127.0.0.1", (uint16_t)port, 5000, NULL, NULL));
  q.request_id = 48;
  FL_CHECK_OK(fl_wire_conn_queue_known(&wrong, &q, &pv[0], 1, 0x12345678u, &em));
  FL_CHECK(fl_wire_conn_recv(&wrong, NULL, 0, &em) != 0);
  fl_wire_conn_close(&wrong);
  /* Garbage on one connection closes it; the others carry on. */
  FL_CHECK(send(bad.fd, "GARBAGE!GARBAGE!", 16, 0) == 16);
  char x;
  struct pollfd pfd = {.fd = bad.fd, .events = POLLIN};
  FL_CHECK_EQ(poll(&pfd, 1, 10000), 1); /* the socket is non-blocking */
  ssize_t got = recv(bad.fd, &x, 1, 0); /* EOF, or a reset: unread bytes were dropped */
  FL_CHECK(got == 0 || (got < 0 && errno == ECONNRESET));
  Fl__FrameHeader ping = FL__FRAME_HEADER__INIT;
  ping.type = FL__MSG_TYPE__MSG_TYPE_PING;
  struct iovec iov = {"hello", 5};
  FL_CHECK_OK(fl_wire_conn_call(&b, &ping, &iov, 1, NULL, 0, &em));
  size_t plen;
  const void *p = fl_wire_conn_payload(&b, &plen);
  FL_CHECK_EQ(plen, 5);
  FL_CHECK_MEM(p, "hello", 5);
  /* A held request on b, then SIGTERM: it is answered, then the loop ends. */
  send_req(&b, FL__MSG_TYPE__MSG_TYPE_STAT, 21, NULL);
  /* Make sure the loop holds it before the signal. */
  send_req(&a, FL__MSG_TYPE__MSG_TYPE_PING, 22, NULL);
  FL_CHECK_OK(fl_wire_conn_recv(&a, NULL, 0, &em));
  FL_CHECK_EQ(fl_wire_conn_header(&a)->request_id, 22);
  kill(getpid(), SIGTERM);
  FL_CHECK_OK(fl_wire_conn_recv(&b, NULL, 0, &em));
  FL_CHECK_EQ(fl_wire_conn_header(&b)->request_id, 21);
  FL_CHECK_EQ(fl_wire_conn_header(&b)->status, 0);
  pthread_join(th, NULL);
  FL_CHECK(stopped);
  FL_CHECK(finished);
  /* The listener is gone. */
  fl_wire_conn_t late;
  FL_CHECK(fl_wire_conn_open(&late, "127.0.0.1", (uint16_t)port, 2000, NULL, NULL) < 0);
  fl_wire_conn_close(&a);
  fl_wire_conn_close(&b);
  fl_wire_conn_close(&bad);
  fl_srv_free(srv);
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

int main(void) {
  FL_RUN(test_srv);
  FL_DONE();
}
