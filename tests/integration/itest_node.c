/* Integration test of filmless-node as a real process on 127.0.0.1: every
 * RPC, immutability, pipelined requests, a malformed frame that closes only
 * its own connection, SIGTERM, restart with the data intact, and an index
 * rebuilt from the volumes that equals the original. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fl_crc32c.h"
#include "fl_itest.h"
#include "fl_test.h"

#define STUDY "1.2.826.0.1.3680043.8.498.1"
#define SERIES "1.2.826.0.1.3680043.8.498.1.1"

static fl_itest_node_t node;

static fl_nc_key_t key_of(int i, char *sop, size_t cap) {
  snprintf(sop, cap, SERIES ".%d", i);
  fl_nc_key_t k = {7, "hosp-a", STUDY, SERIES, sop, 0};
  return k;
}

static void test_rpcs(void) {
  fl_wire_conn_t c;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_itest_connect(&node, &c));
  FL_CHECK_OK(fl_nc_ping(&c, &em));
  /* Fragments of several sizes, from one byte to 8 MiB. */
  static const size_t sizes[] = {1, 4096, 131072, 524288, 8u << 20};
  uint8_t *buf = malloc(8u << 20), *back = malloc(8u << 20);
  char sop[96];
  for (int i = 0; i < 5; i++) {
    fl_nc_key_t k = key_of(i, sop, sizeof sop);
    fl_itest_fill(buf, sizes[i], (unsigned)i);
    fl_nc_put_opts_t o = {1, sizes[i] * 4, "CT", "1.2.840.10008.5.1.4.1.1.2", "20261129"};
    int existed = -1;
    FL_CHECK_OK(fl_nc_put(&c, &k, &o, buf, sizes[i], &existed, &em));
    FL_CHECK_EQ(existed, 0);
    uint64_t got = 0, fsize = 0;
    FL_CHECK_OK(fl_nc_get(&c, &k, 0, 0, back, 8u << 20, &got, &fsize, &em));
    FL_CHECK_EQ(got, sizes[i]);
    FL_CHECK_EQ(fsize, sizes[i]);
    FL_CHECK_MEM(back, buf, sizes[i]);
    /* Same bytes again: accepted, nothing changes. */
    FL_CHECK_OK(fl_nc_put(&c, &k, &o, buf, sizes[i], &existed, &em));
    FL_CHECK_EQ(existed, 1);
  }
  /* A byte range. */
  fl_nc_key_t k3 = key_of(3, sop, sizeof sop);
  fl_itest_fill(buf, sizes[3], 3);
  uint64_t got = 0;
  FL_CHECK_OK(fl_nc_get(&c, &k3, 1000, 5000, back, 8u << 20, &got, NULL, &em));
  FL_CHECK_EQ(got, 5000);
  FL_CHECK_MEM(back, buf + 1000, 5000);
  FL_CHECK_ERR(fl_nc_get(&c, &k3, sizes[3] - 10, 100, back, 8u << 20, &got, NULL, &em), -EINVAL);
  /* Different bytes under an existing key are refused. */
  buf[0] ^= 1;
  FL_CHECK_ERR(fl_nc_put(&c, &k3, NULL, buf, sizes[3], NULL, &em), FL_EEXIST);
  /* Listing the study sees all five, paged two at a time. */
  uint64_t count = 0;
  fl_nc_key_t study = {7, "hosp-a", STUDY, NULL, NULL, 0};
  FL_CHECK_OK(fl_nc_list(&c, &study, 2, NULL, NULL, &count, &em));
  FL_CHECK_EQ(count, 5);
  fl_nc_key_t other = {7, "hosp-b", STUDY, NULL, NULL, 0};
  FL_CHECK_OK(fl_nc_list(&c, &other, 0, NULL, NULL, &count, &em));
  FL_CHECK_EQ(count, 0);
  /* Delete one; it is gone, the others stay. */
  fl_nc_key_t k0 = key_of(0, sop, sizeof sop);
  uint32_t tomb = 0;
  FL_CHECK_OK(fl_nc_delete(&c, &k0, 1, &tomb, &em));
  FL_CHECK_EQ(tomb, 1);
  FL_CHECK_ERR(fl_nc_get(&c, &k0, 0, 0, back, 8u << 20, &got, NULL, &em), FL_ENOTFOUND);
  FL_CHECK_OK(fl_nc_list(&c, &study, 0, NULL, NULL, &count, &em));
  FL_CHECK_EQ(count, 4);
  Fl__StatResult st;
  FL_CHECK_OK(fl_nc_stat(&c, &st, &em));
  FL_CHECK_EQ(st.objects, 4);
  FL_CHECK_EQ(st.tombstones, 1);
  FL_CHECK(st.used_bytes >= 8u << 20);
  FL_CHECK(st.capacity_bytes > 0);
  /* A bad UID is refused with a message naming it. */
  fl_nc_key_t bad = {7, "hosp-a", "1.2.abc", SERIES, "1.2.3", 0};
  FL_CHECK_ERR(fl_nc_put(&c, &bad, NULL, buf, 10, NULL, &em), FL_EUID);
  fprintf(stderr, "bad uid message: %s\n", em.msg);
  FL_CHECK(strstr(em.msg, "1.2.abc") != NULL);
  fl_wire_conn_close(&c);
  free(buf);
  free(back);
}

/* Many requests written before any response is read. */
static void test_pipelining(void) {
  fl_wire_conn_t c;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_itest_connect(&node, &c));
  enum { N = 200 };
  uint8_t data[1000];
  static char sop[N][96];
  for (int i = 0; i < N; i++) {
    fl_itest_fill(data, sizeof data, 1000u + (unsigned)i);
    snprintf(sop[i], sizeof sop[i], SERIES ".9%d", i);
    Fl__FrameHeader h = FL__FRAME_HEADER__INIT;
    Fl__PutFragmentArgs a = FL__PUT_FRAGMENT_ARGS__INIT;
    Fl__ObjectKey ok = FL__OBJECT_KEY__INIT;
    ok.tenant = "hosp-a";
    ok.study_uid = STUDY;
    ok.series_uid = SERIES;
    ok.sop_uid = sop[i];
    a.key = &ok;
    a.pg = 7;
    a.object_size = sizeof data;
    h.request_id = 5000u + (unsigned)i;
    h.type = FL__MSG_TYPE__MSG_TYPE_PUT_FRAGMENT;
    h.body_case = FL__FRAME_HEADER__BODY_PUT_FRAGMENT;
    h.put_fragment = &a;
    struct iovec iov = {data, sizeof data};
    FL_CHECK_OK(fl_wire_conn_send(&c, &h, &iov, 1, &em));
  }
  int seen[N] = {0};
  for (int i = 0; i < N; i++) {
    FL_CHECK_OK(fl_wire_conn_recv(&c, NULL, 0, &em));
    const Fl__FrameHeader *r = fl_wire_conn_header(&c);
    FL_CHECK(r->response);
    FL_CHECK_EQ(r->status, 0);
    FL_CHECK(r->request_id >= 5000 && r->request_id < 5000 + N);
    seen[r->request_id - 5000]++;
  }
  for (int i = 0; i < N; i++)
    FL_CHECK_EQ(seen[i], 1);
  fl_wire_conn_close(&c);
}

/* Garbage closes that connection only; others keep being served. */
static void test_bad_frames(void) {
  fl_wire_conn_t good, bad;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_itest_connect(&node, &good));
  FL_CHECK_OK(fl_itest_connect(&node, &bad));
  const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  FL_CHECK(send(bad.fd, junk, sizeof junk - 1, 0) == (ssize_t)(sizeof junk - 1));
  char b[16];
  ssize_t n = recv(bad.fd, b, sizeof b, 0); /* the node closes: EOF */
  FL_CHECK(n <= 0);
  fl_wire_conn_close(&bad);
  /* A frame announcing a payload over the limit is refused before reading it. */
  FL_CHECK_OK(fl_itest_connect(&node, &bad));
  uint8_t hdr[64];
  Fl__FrameHeader h = FL__FRAME_HEADER__INIT;
  h.type = FL__MSG_TYPE__MSG_TYPE_PING;
  h.payload_length = (uint64_t)1 << 40;
  size_t hl = 0;
  FL_CHECK_OK(fl_wire_encode_header(&h, hdr, sizeof hdr, &hl, &em));
  FL_CHECK(send(bad.fd, hdr, hl, 0) == (ssize_t)hl);
  n = recv(bad.fd, b, sizeof b, 0);
  FL_CHECK(n <= 0);
  fl_wire_conn_close(&bad);
  FL_CHECK_OK(fl_nc_ping(&good, &em));
  fl_wire_conn_close(&good);
}

/* A frame dribbled in a byte at a time is served; a connection that stalls
 * in the middle of a frame is closed after the idle timeout (1 s here) while
 * the node keeps serving others. */
static void test_slow_input(void) {
  fl_wire_conn_t c, slow;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_itest_connect(&node, &c));
  uint8_t frame[256];
  Fl__FrameHeader h = FL__FRAME_HEADER__INIT;
  h.type = FL__MSG_TYPE__MSG_TYPE_PING;
  h.request_id = 99;
  const char ping[] = "slow ping";
  struct iovec iov = {(void *)ping, sizeof ping};
  size_t n = 0;
  FL_CHECK_OK(fl_wire_encode(&h, &iov, 1, frame, sizeof frame, &n, &em));
  memcpy(frame + n, ping, sizeof ping);
  n += sizeof ping;
  for (size_t i = 0; i < n; i++) {
    FL_CHECK(send(c.fd, frame + i, 1, 0) == 1);
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
  }
  FL_CHECK_OK(fl_wire_conn_recv(&c, NULL, 0, &em));
  size_t plen = 0;
  const void *p = fl_wire_conn_payload(&c, &plen);
  FL_CHECK_EQ(plen, sizeof ping);
  FL_CHECK_MEM(p, ping, sizeof ping);
  FL_CHECK_EQ(fl_wire_conn_header(&c)->request_id, 99);
  /* Half a preamble, then silence. */
  FL_CHECK_OK(fl_itest_connect(&node, &slow));
  FL_CHECK(send(slow.fd, frame, 5, 0) == 5);
  struct pollfd pfd = {slow.fd, POLLIN, 0};
  FL_CHECK_EQ(poll(&pfd, 1, 20000), 1); /* bounded: the close arrives long before */
  char b[8];
  FL_CHECK(recv(slow.fd, b, sizeof b, 0) <= 0);
  fl_wire_conn_close(&slow);
  fl_wire_conn_close(&c); /* idle just as long: closed by the node too */
  FL_CHECK_OK(fl_itest_connect(&node, &c));
  FL_CHECK_OK(fl_nc_ping(&c, &em));
  fl_wire_conn_close(&c);
}

static void test_restart_and_rebuild(void) {
  int st = fl_proc_stop(&node.proc, SIGTERM, 20000);
  FL_CHECK(WIFEXITED(st));
  FL_CHECK_EQ(WEXITSTATUS(st), 0);
  /* The index rebuilt from the volumes alone equals the live one. */
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s verify-index --data %s", fl_proc_bin("filmless-node"), node.dir);
  FL_CHECK_EQ(system(cmd), 0);
  snprintf(cmd, sizeof cmd, "%s rebuild-index --discard-old --data %s",
           fl_proc_bin("filmless-node"), node.dir);
  FL_CHECK_EQ(system(cmd), 0);
  FL_CHECK_OK(fl_itest_node_start(&node, node.dir, NULL));
  fl_wire_conn_t c;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_itest_connect(&node, &c));
  uint8_t *buf = malloc(8u << 20), *back = malloc(8u << 20);
  char sop[96];
  fl_nc_key_t k = key_of(4, sop, sizeof sop);
  fl_itest_fill(buf, 8u << 20, 4);
  uint64_t got = 0;
  FL_CHECK_OK(fl_nc_get(&c, &k, 0, 0, back, 8u << 20, &got, NULL, &em));
  FL_CHECK_EQ(got, 8u << 20);
  FL_CHECK_MEM(back, buf, 8u << 20);
  Fl__StatResult s;
  FL_CHECK_OK(fl_nc_stat(&c, &s, &em));
  FL_CHECK_EQ(s.objects, 4 + 200);
  fl_wire_conn_close(&c);
  free(buf);
  free(back);
}

int main(void) {
  char dir[400];
  FL_CHECK_OK(fl_proc_scratch_dir("itest_node", dir, sizeof dir));
  snprintf(node.dir, sizeof node.dir, "%s/n1", dir);
  const char *const extra[] = {"--idle-timeout", "1s", NULL};
  FL_CHECK_OK(fl_itest_node_start(&node, node.dir, extra));
  FL_RUN(test_rpcs);
  FL_RUN(test_pipelining);
  FL_RUN(test_bad_frames);
  FL_RUN(test_slow_input);
  FL_RUN(test_restart_and_rebuild);
  fl_proc_stop(&node.proc, SIGTERM, 20000);
  fl_proc_rmtree(dir);
  FL_DONE();
}
