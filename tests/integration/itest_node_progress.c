/* Integration test of the node's repair-progress hook
 * (fl_node_coord_set_progress) against a real filmless-coord: the node's
 * coordinator thread runs in this process over a real store, the figures
 * the callback gives arrive in ADMIN_LIST_NODES, a NULL callback sends
 * zeros, and a callback being replaced from another thread is never
 * running nor called after fl_node_coord_set_progress returns. */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fl_cc.h"
#include "fl_itest.h"
#include "fl_node_coord.h"
#include "fl_test.h"

static fl_itest_node_t coord;
static char dir[400];

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* One callback's state: its figure, whether it was replaced, and how
 * often it ran (total, and while it was being replaced or after). */
typedef struct ctx {
  uint32_t degraded;
  atomic_int retired;
  atomic_int calls;
  atomic_int late_calls;
  atomic_int running;
} ctx_t;

static void progress(void *arg, fl_cc_repair_t *out) {
  ctx_t *c = arg;
  atomic_store(&c->running, 1);
  if (atomic_load(&c->retired))
    atomic_fetch_add(&c->late_calls, 1);
  /* *out arrives zeroed: a field left alone must go out as 0. */
  if (out->bytes_left || out->pgs_led)
    atomic_fetch_add(&c->late_calls, 1000);
  out->pgs_degraded = c->degraded;
  out->bytes_left = (uint64_t)c->degraded << 30;
  out->fragments_rebuilt = (uint64_t)atomic_fetch_add(&c->calls, 1) + 1;
  sleep_ms(2); /* widen the window in which a replacement must wait */
  atomic_store(&c->running, 0);
}

/* The repair figures the coordinator holds for node id (0 if unknown). */
static int figures(uint32_t id, fl_cc_repair_t *out) {
  fl_map_t m;
  fl_cc_status_t *st;
  uint32_t n;
  if (fl_itest_coord_list(&coord, &m, &st, &n) != 0)
    return 0;
  int ok = 0;
  for (uint32_t i = 0; i < n; i++)
    if (st[i].id == id && st[i].seen) {
      *out = st[i].repair;
      ok = 1;
    }
  fl_map_free(&m);
  free(st);
  return ok;
}

/* Waits (bounded) until the coordinator shows pgs_degraded == want. */
static int wait_degraded(uint32_t id, uint32_t want) {
  fl_cc_repair_t r;
  for (int w = 0; w < 60000; w += 50) {
    if (figures(id, &r) && r.pgs_degraded == want &&
        r.bytes_left == (uint64_t)want << 30)
      return 1;
    sleep_ms(50);
  }
  return 0;
}

static void test_progress(void) {
  char cdata[512], ndata[512], caddr[64];
  snprintf(cdata, sizeof cdata, "%s/coord", dir);
  snprintf(ndata, sizeof ndata, "%s/node", dir);
  const char *const cx[] = {"--k", "2", "--m", "1", "--pg-count", "8", "--datacenters", "dc1",
                            "--heartbeat-interval", "50ms", NULL};
  FL_CHECK_OK(fl_itest_coord_start(&coord, cdata, cx));
  snprintf(caddr, sizeof caddr, "127.0.0.1:%d", coord.port);

  fl_store_opts_t so;
  memset(&so, 0, sizeof so);
  fl_store_t *store = NULL;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_store_open(ndata, &so, &store, NULL, &em));
  fl_node_cfg_t cfg;
  memset(&cfg, 0, sizeof cfg);
  snprintf(cfg.data, sizeof cfg.data, "%s", ndata);
  FL_CHECK_OK(fl_addr_parse(&cfg.listen, "127.0.0.1:1", 0, &em));
  FL_CHECK_OK(fl_addr_parse(&cfg.coord, caddr, 0, &em));
  strcpy(cfg.dc, "dc1");
  strcpy(cfg.rack, "r1");
  cfg.capacity = UINT64_C(1) << 30;
  fl_node_coord_t *nc = NULL;
  FL_CHECK_OK(fl_node_coord_start(&cfg, store, 7999, &nc, &em));

  /* Before any callback: zeros (the node registers as id 1). */
  fl_cc_repair_t r;
  int ok = 0;
  for (int w = 0; w < 60000 && !ok; w += 50) {
    ok = figures(1, &r);
    if (!ok)
      sleep_ms(50);
  }
  FL_CHECK(ok);
  FL_CHECK_EQ(r.pgs_degraded, 0);

  static ctx_t a, b;
  a.degraded = 7;
  b.degraded = 9;
  fl_node_coord_set_progress(nc, progress, &a);
  FL_CHECK(wait_degraded(1, 7));
  FL_CHECK(figures(1, &r));
  FL_CHECK(r.fragments_rebuilt >= 1);
  FL_CHECK_EQ(r.pgs_led, 0);

  /* Swapped back and forth while heartbeats run: once set_progress
   * returns, the callback it replaced is finished and never called again. */
  ctx_t *cur = &a;
  for (int i = 0; i < 300; i++) {
    ctx_t *next = cur == &a ? &b : &a;
    atomic_store(&next->retired, 0);
    fl_node_coord_set_progress(nc, progress, next);
    atomic_store(&cur->retired, 1);
    int still_running = atomic_load(&cur->running);
    FL_CHECK_EQ(still_running, 0);
    cur = next;
    sleep_ms(1 + i % 7);
  }
  int late_a = atomic_load(&a.late_calls), late_b = atomic_load(&b.late_calls);
  FL_CHECK_EQ(late_a, 0);
  FL_CHECK_EQ(late_b, 0);
  FL_CHECK(atomic_load(&a.calls) + atomic_load(&b.calls) > 5);
  FL_CHECK(wait_degraded(1, cur->degraded));

  /* NULL: heartbeats carry zeros again, and nothing is called. */
  fl_node_coord_set_progress(nc, NULL, &a);
  atomic_store(&a.retired, 1);
  atomic_store(&b.retired, 1);
  FL_CHECK(wait_degraded(1, 0));
  FL_CHECK(figures(1, &r));
  FL_CHECK_EQ(r.fragments_rebuilt, 0);
  late_a = atomic_load(&a.late_calls);
  late_b = atomic_load(&b.late_calls);
  FL_CHECK_EQ(late_a + late_b, 0);
  /* A node without a coordinator: a no-op. */
  fl_node_coord_set_progress(NULL, progress, &a);

  fl_node_coord_stop(nc);
  fl_store_close(store);
}

int main(void) {
  FL_CHECK_OK(fl_proc_scratch_dir("itest_node_progress", dir, sizeof dir));
  FL_RUN(test_progress);
  fl_proc_stop(&coord.proc, SIGTERM, 20000);
  fl_proc_rmtree(dir);
  FL_DONE();
}
