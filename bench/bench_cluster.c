/* Cluster benchmark: six filmless-node processes on loopback, policy 4+2,
 * driven through libfilmless. Puts and gets of a CT study (300 x 0.5 MB),
 * of 10 DX instances (30 MB each) and of 5,000 small SR instances (about
 * 4 KiB), each beside a reference measured in the same run:
 *   puts: raw durable sequential writes (O_DIRECT, fdatasync per MiB) of the
 *         same bytes in the same directory, times k/(k+m) (the disk-bound
 *         ingest limit: every byte becomes (k+m)/k bytes on one disk);
 *   gets: a raw loopback TCP copy of the same bytes;
 *   time to first instance of a study get (p50, p99 over repeated gets of
 *         the CT study): against the time to read one instance alone;
 *   a one-shot command (open, list the studies, close; p50): with the map
 *         watcher against without it.
 * A filmless-coord process holds the cluster map; the nodes register with it
 * and the client fetches the map from it, as in production.
 * Usage: bench_cluster [--dir DIR] [--jobs N] [--rounds N] [--study-threads N]
 *        (default build/bench-cluster.tmp when run from the source tree,
 *        else ./bench-cluster.tmp; 16 instances in flight, 30 gets, the
 *        client's default instances in flight per study get) */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "filmless.h"
#include "fl_bench.h"
#include "fl_cc.h"
#include "fl_gen.h"
#include "fl_wire_conn.h"

#define NODES 6
#define BASE_PORT 27300

static pid_t pids[NODES + 1]; /* the nodes, then the coordinator */
static fl_client_t *cl;
static int jobs = 16;

typedef struct objs {
  uint8_t **buf;
  size_t *len;
  size_t n;
  uint64_t bytes;
} objs_t;

static void die(const char *what, int rc, const fl_errmsg_t *em) {
  fprintf(stderr, "bench_cluster: %s: %s: %s\n", what, fl_err_name(rc), fl_errmsg_str(em, rc));
  for (int i = 0; i <= NODES; i++)
    if (pids[i] > 0)
      kill(pids[i], SIGKILL);
  exit(1);
}

static void gen(objs_t *o, int modality, uint32_t per_study, uint32_t studies, uint64_t seed) {
  memset(o, 0, sizeof *o);
  o->buf = calloc((size_t)per_study * studies, sizeof *o->buf);
  o->len = calloc((size_t)per_study * studies, sizeof *o->len);
  for (uint32_t s = 0; s < studies; s++) {
    fl_gen_opts_t g = {0};
    g.modality = modality;
    g.instances = per_study;
    g.seed = seed + s;
    for (uint32_t i = 0; i < per_study; i++) {
      fl_errmsg_t em = {{0}};
      int rc = fl_gen_instance(&g, i, &o->buf[o->n], &o->len[o->n], &em);
      if (rc)
        die("generating", rc, &em);
      o->bytes += o->len[o->n];
      o->n++;
    }
  }
}

static void free_objs(objs_t *o) {
  for (size_t i = 0; i < o->n; i++)
    free(o->buf[i]);
  free(o->buf);
  free(o->len);
}

typedef struct putctx {
  objs_t *o;
  pthread_mutex_t mu;
  size_t next;
} putctx_t;

static void *put_worker(void *arg) {
  putctx_t *p = arg;
  for (;;) {
    pthread_mutex_lock(&p->mu);
    size_t i = p->next++;
    pthread_mutex_unlock(&p->mu);
    if (i >= p->o->n)
      return NULL;
    fl_errmsg_t em = {{0}};
    int rc = fl_client_put(cl, p->o->buf[i], p->o->len[i], NULL, &em);
    if (rc)
      die("put", rc, &em);
  }
}

/* Puts every object with `jobs` threads; returns seconds. */
static double put_all(objs_t *o) {
  putctx_t p = {o, PTHREAD_MUTEX_INITIALIZER, 0};
  pthread_t th[64];
  double t0 = fl_bench_now();
  for (int i = 0; i < jobs; i++)
    pthread_create(&th[i], NULL, put_worker, &p);
  for (int i = 0; i < jobs; i++)
    pthread_join(th[i], NULL);
  return fl_bench_now() - t0;
}

static int count_cb(void *arg, const fl_instance_t *in, const void *data, size_t len) {
  (void)in;
  (void)data;
  *(uint64_t *)arg += len;
  return 0;
}

/* Gets the given studies one after the other; returns seconds. */
static double get_studies(char (*uids)[FL_UID_BUF], int n, uint64_t expect_bytes, double *first) {
  uint64_t bytes = 0;
  double t0 = fl_bench_now();
  for (int i = 0; i < n; i++) {
    fl_study_get_stats_t st;
    fl_errmsg_t em = {{0}};
    int rc = fl_study_get(cl, uids[i], count_cb, &bytes, &st, &em);
    if (rc)
      die("study get", rc, &em);
    if (first)
      *first = st.first_ms;
  }
  double dt = fl_bench_now() - t0;
  if (bytes != expect_bytes) {
    fprintf(stderr, "bench_cluster: got %llu bytes back, expected %llu\n",
            (unsigned long long)bytes, (unsigned long long)expect_bytes);
    exit(1);
  }
  return dt;
}

static void study_uid(int modality, uint32_t n, uint64_t seed, char out[FL_UID_BUF]) {
  fl_gen_opts_t g = {0};
  g.modality = modality;
  g.instances = n;
  g.seed = seed;
  fl_gen_study_uid(&g, out);
}

static int dcmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Starts the coordinator (4+2) and NODES nodes registering with it, and waits
 * until the map holds every node up and in; spec receives its address. */
static void start_cluster(const char *dir, char *spec, size_t cap) {
  snprintf(spec, cap, "127.0.0.1:%d", BASE_PORT);
  fl_bench_cluster_spawn(dir, BASE_PORT, NODES, NULL, NULL, pids, "bench_cluster");
  for (int t = 0;; t++) {
    fl_wire_conn_t c;
    fl_map_t map;
    int changed = 0, ready = 0;
    memset(&map, 0, sizeof map);
    if (fl_wire_conn_open(&c, "127.0.0.1", BASE_PORT, 1000, NULL, NULL) == 0) {
      if (fl_cc_get_map(&c, 0, 0, &map, &changed, NULL) == 0 && changed) {
        uint32_t up = 0;
        for (uint32_t n = 0; n < map.node_count; n++)
          up += (map.nodes[n].state & (FL_NODE_UP | FL_NODE_IN)) == (FL_NODE_UP | FL_NODE_IN);
        ready = up == NODES;
        fl_map_free(&map);
      }
      fl_wire_conn_close(&c);
    }
    if (ready)
      return;
    if (t > 300) {
      fprintf(stderr, "bench_cluster: the nodes did not join the coordinator (see %s)\n", dir);
      exit(1);
    }
    usleep(100000);
  }
}

int main(int argc, char **argv) {
  struct stat sb;
  const char *dir = stat("build", &sb) == 0 && S_ISDIR(sb.st_mode) ? "build/bench-cluster.tmp"
                                                                   : "bench-cluster.tmp";
  int rounds = 30, study_threads = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
      dir = argv[++i];
    else if (strcmp(argv[i], "--jobs") == 0 && i + 1 < argc)
      jobs = atoi(argv[++i]);
    else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
      rounds = atoi(argv[++i]);
    else if (strcmp(argv[i], "--study-threads") == 0 && i + 1 < argc)
      study_threads = atoi(argv[++i]);
    else {
      fprintf(stderr,
              "usage: bench_cluster [--dir DIR] [--jobs N] [--rounds N] [--study-threads N]\n");
      return 2;
    }
  }
  if (jobs < 1 || jobs > 64 || rounds < 2 || rounds > 1000 || study_threads < 0 ||
      study_threads > 256)
    return 2;
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0 || mkdir(dir, 0755) != 0) {
    perror(dir);
    return 1;
  }
  char spec[512];
  start_cluster(dir, spec, sizeof spec);
  fl_client_opts_t co = {spec, "bench", 0, (unsigned)study_threads, 30000, 0};
  fl_errmsg_t em = {{0}};
  int rc = fl_client_open(&cl, &co, &em);
  if (rc)
    die("open", rc, &em);
  fl_client_policy_t pol;
  fl_client_policy(cl, &pol);
  double kfrac = (double)pol.k / (pol.k + pol.m);

  /* CT study */
  objs_t ct;
  gen(&ct, FL_GEN_CT, 300, 1, 1);
  double raw = fl_bench_raw_write(dir, 1, ct.bytes, 1u << 20, 1);
  double limit = ct.bytes / raw / 1e6 * kfrac;
  double dt = put_all(&ct);
  fl_bench_line("cluster_put_ct_MBps", ct.bytes / dt / 1e6, "MB/s", "raw_write_x_k/(k+m)", limit);
  fl_bench_line("cluster_put_ct_inst_per_s", ct.n / dt, "inst/s", "raw_write_x_k/(k+m)_inst",
                limit * 1e6 / (ct.bytes / (double)ct.n));
  char uid[1][FL_UID_BUF];
  study_uid(FL_GEN_CT, 300, 1, uid[0]);
  double copy = fl_bench_tcp_copy(ct.bytes, 1u << 20);
  double copy_mbps = ct.bytes / copy / 1e6;
  double firsts[1000];
  double best = 1e9;
  for (int r = 0; r < rounds; r++) {
    double t = get_studies(uid, 1, ct.bytes, &firsts[r]);
    if (t < best)
      best = t;
  }
  qsort(firsts, (size_t)rounds, sizeof *firsts, dcmp);
  /* Median of the rounds for throughput too. */
  double gets[1000];
  for (int r = 0; r < 5; r++)
    gets[r] = get_studies(uid, 1, ct.bytes, NULL);
  qsort(gets, 5, sizeof *gets, dcmp);
  fl_bench_line("cluster_get_ct_MBps", ct.bytes / gets[2] / 1e6, "MB/s", "tcp_copy", copy_mbps);
  fl_bench_line("cluster_get_ct_inst_per_s", ct.n / gets[2], "inst/s", "tcp_copy_inst",
                copy_mbps * 1e6 / (ct.bytes / (double)ct.n));
  /* Reference for first-instance time: one instance read on its own. */
  double one = 0;
  {
    fl_study_listing_t l;
    if ((rc = fl_study_list(cl, uid[0], &l, &em)) != 0)
      die("list", rc, &em);
    double ones[64];
    for (int r = 0; r < 21; r++) {
      void *data;
      size_t len;
      double t0 = fl_bench_now();
      if ((rc = fl_client_get(cl, uid[0], l.inst[0].series_uid, l.inst[0].sop_uid, &data, &len,
                              &em)) != 0)
        die("get", rc, &em);
      ones[r] = (fl_bench_now() - t0) * 1e3;
      free(data);
    }
    qsort(ones, 21, sizeof *ones, dcmp);
    one = ones[10];
    fl_study_listing_free(&l);
  }
  fl_bench_line("cluster_first_instance_p50_ms", firsts[rounds / 2], "ms", "single_get_p50_ms",
                one);
  fl_bench_line("cluster_first_instance_p99_ms", firsts[(rounds * 99) / 100], "ms",
                "single_get_p50_ms", one);
  free_objs(&ct);

  /* 10 DX */
  objs_t dx;
  gen(&dx, FL_GEN_DX, 1, 10, 100);
  raw = fl_bench_raw_write(dir, 1, dx.bytes, 1u << 20, 1);
  limit = dx.bytes / raw / 1e6 * kfrac;
  dt = put_all(&dx);
  fl_bench_line("cluster_put_dx_MBps", dx.bytes / dt / 1e6, "MB/s", "raw_write_x_k/(k+m)", limit);
  char dxu[10][FL_UID_BUF];
  for (int i = 0; i < 10; i++)
    study_uid(FL_GEN_DX, 1, 100 + (uint64_t)i, dxu[i]);
  copy = fl_bench_tcp_copy(dx.bytes, 1u << 20);
  dt = get_studies(dxu, 10, dx.bytes, NULL);
  fl_bench_line("cluster_get_dx_MBps", dx.bytes / dt / 1e6, "MB/s", "tcp_copy",
                dx.bytes / copy / 1e6);
  free_objs(&dx);

  /* 5,000 small */
  objs_t sm;
  gen(&sm, FL_GEN_SR, 5000, 1, 7);
  raw = fl_bench_raw_write(dir, 1, sm.bytes, 1u << 20, 1);
  /* Replicas: every byte is written m+1 times. */
  limit = sm.bytes / raw / 1e6 / (pol.m + 1);
  dt = put_all(&sm);
  fl_bench_line("cluster_put_small_inst_per_s", sm.n / dt, "inst/s", "raw_write_/(m+1)_inst",
                limit * 1e6 / (sm.bytes / (double)sm.n));
  char smu[1][FL_UID_BUF];
  study_uid(FL_GEN_SR, 5000, 7, smu[0]);
  copy = fl_bench_tcp_copy(sm.bytes, 4096);
  dt = get_studies(smu, 1, sm.bytes, NULL);
  fl_bench_line("cluster_get_small_inst_per_s", sm.n / dt, "inst/s", "tcp_copy_4KiB_inst",
                sm.n / copy);
  free_objs(&sm);

  /* A one-shot command (filmless ls): open, list the tenant's studies,
   * close; with the map watcher (the default) against without it. */
  double with_w[1000], without_w[1000];
  for (int r = 0; r < rounds; r++)
    for (int nw = 0; nw < 2; nw++) {
      fl_client_opts_t oo = {spec, "bench", 0, 0, 30000, nw};
      fl_client_t *x;
      fl_study_summary_t *sum = NULL;
      size_t ns = 0;
      double t0 = fl_bench_now();
      if ((rc = fl_client_open(&x, &oo, &em)) != 0 ||
          (rc = fl_client_list_studies(x, &sum, &ns, NULL, &em)) != 0)
        die("one-shot list", rc, &em);
      fl_client_close(x);
      (nw ? without_w : with_w)[r] = (fl_bench_now() - t0) * 1e3;
      free(sum);
    }
  qsort(with_w, (size_t)rounds, sizeof *with_w, dcmp);
  qsort(without_w, (size_t)rounds, sizeof *without_w, dcmp);
  fl_bench_line("cluster_oneshot_ls_p50_ms", with_w[rounds / 2], "ms", "no_watch_p50_ms",
                without_w[rounds / 2]);

  fl_client_close(cl);
  for (int i = 0; i <= NODES; i++) {
    kill(pids[i], SIGTERM);
    waitpid(pids[i], NULL, 0);
  }
  if (system(cmd) != 0)
    return 1;
  return 0;
}
