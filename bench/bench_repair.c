/* Repair benchmark: a filmless-coord and seven filmless-node processes on
 * loopback (policy 4+2, 128 PGs), filled through libfilmless with CT
 * studies (many studies, so every PG holds some). Then one node is killed
 * with SIGKILL and marked out, and the other six rebuild what it held.
 * Figures, each beside a reference measured in the same run:
 *   repair throughput per surviving node: fragment bytes written by repair
 *     (RepairProgress.bytes_done summed over the nodes' STATs) / elapsed
 *     time from the mark-out to the last degraded PG repaired / survivors;
 *     reference: raw durable writes (O_DIRECT, fdatasync after every
 *     chunk of the size of one fragment's record) by as many concurrent
 *     writers as surviving nodes, per writer. The nodes share this one
 *     disk, so both are per-node shares of the same disk.
 *   client get latency p50 and p99 of single instances (one reader thread,
 *     random instances) during the repair, against the same reader on the
 *     idle cluster just before the kill, for 20 s (a 5 s window gave idle
 *     p99s from 1.8 to 4.3 ms on the same build: too few of the rare slow
 *     gets that a repair-long window always holds).
 * The whole run is done per repair rate and kind, each time on a fresh
 * cluster, and the figure names carry both; an alone run is repeated
 * (--repeat, default 3) and the run with the median ratio reported, as
 * this shared machine's speed moves by 10-20% from one run to the next:
 *   alone (--rates, default unlimited: --repair-rate 0): repair with no
 *     client traffic, what the nodes can rebuild;
 *   reads (--reads-at, default 100MB/s, the nodes' default rate, and
 *     2MB/s): the same repair with the reader running throughout, for the
 *     latency figures and the throughput repair keeps while clients, whose
 *     requests go first, read.
 * Usage: bench_repair [--dir DIR] [--studies N] [--rates R1,R2...]
 *                     [--reads-at R1,R2...] [--parallel N] [--inflight N]
 *                     [--repeat N] [--modality M] [--keep]
 *        (default build/bench-repair.tmp from the source tree, 1000
 *        studies of 8 CT instances, about 4 GB, so that the start of a
 *        repair (map, summaries, first listings) weighs on the figure about
 *        as little as in a real one; "-" runs none of a kind; the nodes'
 *        --repair-parallel 2 and --repair-inflight 8; --modality makes the
 *        studies MR, DX or MG instead; --keep leaves the directory and the
 *        logs) */
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
#include "fl_dicom.h"
#include "fl_gen.h"
#include "fl_nc.h"
#include "fl_wire_conn.h"

#define NODES 7
#define VICTIM 6
#define PER_STUDY 8
#define BASE_PORT 27400
#define FL__IDLE_SECS 20 /* idle latency window */

static pid_t pids[NODES + 1]; /* the nodes, then the coordinator */
static uint32_t ids[NODES];
static fl_client_t *cl;
static const char *dir;
static int keep; /* --keep: leave the cluster's directory (logs) after the run */

static void kill_all(void) {
  for (int i = 0; i <= NODES; i++)
    if (pids[i] > 0)
      kill(pids[i], SIGKILL);
}

static void die(const char *what, int rc, const fl_errmsg_t *em) {
  fprintf(stderr, "bench_repair: %s: %s: %s (logs in %s)\n", what, fl_err_name(rc),
          fl_errmsg_str(em, rc), dir);
  exit(1);
}

static int coord_map(fl_map_t *map) {
  fl_wire_conn_t c;
  int changed = 0, rc = fl_wire_conn_open(&c, "127.0.0.1", BASE_PORT, 2000, NULL, NULL);
  if (rc)
    return rc;
  rc = fl_cc_get_map(&c, 0, 0, map, &changed, NULL);
  fl_wire_conn_close(&c);
  return rc ? rc : changed ? 0 : FL_EPROTO;
}

/* Node flags --repair-parallel and --repair-inflight (the nodes' defaults
 * unless given). */
static const char *parallel = "2", *inflight = "8";

static void start_cluster(const char *rate) {
  const char *coord_extra[] = {"--pg-count", "128", "--heartbeat-interval", "200ms",
                               "--down-after", "1s", "--out-after", "10m", NULL};
  const char *node_extra[] = {"--repair-rate", rate, "--repair-interval", "1s",
                              "--repair-parallel", parallel, "--repair-inflight", inflight,
                              NULL};
  fl_bench_cluster_spawn(dir, BASE_PORT, NODES, coord_extra, node_extra, pids, "bench_repair");
  for (int t = 0;; t++) {
    fl_map_t map;
    int ready = 0;
    if (coord_map(&map) == 0) {
      uint32_t up = 0;
      for (uint32_t n = 0; n < map.node_count; n++)
        up += map.nodes[n].state == (FL_NODE_UP | FL_NODE_IN);
      ready = up == NODES;
      fl_map_free(&map);
    }
    if (ready)
      break;
    if (t > 300) {
      fprintf(stderr, "bench_repair: the nodes did not join the coordinator (see %s)\n", dir);
      exit(1);
    }
    usleep(100000);
  }
  for (int i = 0; i < NODES; i++) {
    char p[1100];
    snprintf(p, sizeof p, "%s/node%d/node.id", dir, i + 1);
    unsigned id = 0;
    for (int t = 0; !id && t < 100; t++) {
      FILE *f = fopen(p, "r");
      if (f) {
        if (fscanf(f, "%u", &id) != 1)
          id = 0;
        fclose(f);
      }
      if (!id)
        usleep(100000);
    }
    if (!id) {
      fprintf(stderr, "bench_repair: no id in %s\n", p);
      exit(1);
    }
    ids[i] = id;
  }
}

/* ---- fill ----------------------------------------------------------------- */

typedef struct inst {
  char study[FL_UID_BUF], series[FL_UID_BUF], sop[FL_UID_BUF];
} inst_t;

static inst_t *insts;
static int modality = FL_GEN_CT; /* --modality */
static size_t n_insts;
static uint64_t fill_bytes, frag_record;

typedef struct fill {
  pthread_mutex_t mu;
  size_t next;
} fill_t;

static void *fill_worker(void *arg) {
  fill_t *f = arg;
  for (;;) {
    pthread_mutex_lock(&f->mu);
    size_t i = f->next++;
    pthread_mutex_unlock(&f->mu);
    if (i >= n_insts)
      return NULL;
    fl_gen_opts_t g = {0};
    g.modality = modality;
    g.instances = PER_STUDY;
    g.seed = 500 + i / PER_STUDY;
    uint8_t *buf;
    size_t len;
    fl_errmsg_t em = {{0}};
    int rc = fl_gen_instance(&g, (uint32_t)(i % PER_STUDY), &buf, &len, &em);
    fl_dicom_info_t di;
    if (rc == 0)
      rc = fl_dicom_parse(buf, len, &di, &em);
    if (rc == 0)
      rc = fl_client_put(cl, buf, len, NULL, &em);
    if (rc)
      die("put", rc, &em);
    memcpy(insts[i].study, di.study_uid, FL_UID_BUF);
    memcpy(insts[i].series, di.series_uid, FL_UID_BUF);
    memcpy(insts[i].sop, di.sop_uid, FL_UID_BUF);
    pthread_mutex_lock(&f->mu);
    fill_bytes += len;
    /* One fragment's record on disk: 48-byte fragment header + len/k
     * payload, the record header, padded to 4 KiB. */
    frag_record = ((len + 3) / 4 + 48 + 512 + 4095) / 4096 * 4096;
    pthread_mutex_unlock(&f->mu);
    free(buf);
  }
}

static double fill(size_t studies) {
  n_insts = studies * PER_STUDY;
  insts = calloc(n_insts, sizeof *insts);
  fill_t f = {PTHREAD_MUTEX_INITIALIZER, 0};
  pthread_t th[16];
  double t0 = fl_bench_now();
  for (int i = 0; i < 16; i++)
    pthread_create(&th[i], NULL, fill_worker, &f);
  for (int i = 0; i < 16; i++)
    pthread_join(th[i], NULL);
  return fl_bench_now() - t0;
}

/* ---- reader ------------------------------------------------------------------ */

typedef struct reader {
  pthread_t th;
  int stop;
  double *lat; /* ms */
  size_t n, cap;
  uint64_t errors;
} reader_t;

static void *reader_main(void *arg) {
  reader_t *r = arg;
  uint32_t x = 0x12345678u ^ (uint32_t)r->cap;
  while (!__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST)) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    const inst_t *in = &insts[x % n_insts];
    void *data;
    size_t len;
    fl_errmsg_t em = {{0}};
    double t0 = fl_bench_now();
    int rc = fl_client_get(cl, in->study, in->series, in->sop, &data, &len, &em);
    double ms = (fl_bench_now() - t0) * 1e3;
    if (rc) {
      if (r->errors++ < 3)
        fprintf(stderr, "bench_repair: get %s: %s: %s\n", in->sop, fl_err_name(rc),
                fl_errmsg_str(&em, rc));
      continue;
    }
    free(data);
    if (r->n == r->cap) {
      r->cap = r->cap ? r->cap * 2 : 4096;
      r->lat = realloc(r->lat, r->cap * sizeof *r->lat);
    }
    r->lat[r->n++] = ms;
  }
  return NULL;
}

static void reader_start(reader_t *r) {
  memset(r, 0, sizeof *r);
  pthread_create(&r->th, NULL, reader_main, r);
}

static int dcmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Stops the reader; *p50 and *p99 in ms. */
static void reader_stop(reader_t *r, double *p50, double *p99) {
  __atomic_store_n(&r->stop, 1, __ATOMIC_SEQ_CST);
  pthread_join(r->th, NULL);
  if (!r->n) {
    fprintf(stderr, "bench_repair: no successful get\n");
    exit(1);
  }
  qsort(r->lat, r->n, sizeof *r->lat, dcmp);
  *p50 = r->lat[r->n / 2];
  *p99 = r->lat[(r->n * 99) / 100];
  free(r->lat);
}

/* ---- repair progress ------------------------------------------------------- */

typedef struct progress {
  uint64_t bytes_done, passes_min;
  uint32_t degraded;
  int clean; /* every survivor: repair epoch == map epoch, nothing degraded */
} progress_t;

static void progress(uint64_t epoch, progress_t *p) {
  memset(p, 0, sizeof *p);
  p->clean = 1;
  p->passes_min = UINT64_MAX;
  for (int i = 0; i < NODES; i++) {
    if (i == VICTIM)
      continue;
    fl_wire_conn_t c;
    Fl__StatResult st;
    fl_errmsg_t em = {{0}};
    int rc = fl_wire_conn_open(&c, "127.0.0.1", (uint16_t)(BASE_PORT + i + 1), 5000, NULL, &em);
    if (rc == 0)
      rc = fl_nc_stat(&c, &st, &em);
    if (rc)
      die("stat", rc, &em);
    /* fl_nc_stat copies the scalars only; the repair figures are read
     * from the response while the connection still holds it. */
    const Fl__FrameHeader *h = fl_wire_conn_header(&c);
    const Fl__RepairProgress *rp =
        h->body_case == FL__FRAME_HEADER__BODY_STAT_RESULT ? h->stat_result->repair : NULL;
    if (!rp) {
      p->clean = 0;
    } else {
      p->bytes_done += rp->bytes_done;
      p->degraded += rp->pgs_degraded;
      if (rp->passes < p->passes_min)
        p->passes_min = rp->passes;
      p->clean = p->clean && st.map_epoch == epoch && rp->epoch == epoch &&
                 rp->pgs_degraded == 0;
    }
    fl_wire_conn_close(&c);
  }
}

/* CPU seconds (user + system) the surviving nodes have used so far, and
 * (faults may be NULL) their minor page faults: fresh memory costs this
 * machine class far more than resident memory (docs/repair.md). */
static double nodes_cpu(unsigned long long *faults) {
  double sum = 0;
  long hz = sysconf(_SC_CLK_TCK);
  if (faults)
    *faults = 0;
  for (int i = 0; i < NODES; i++) {
    if (pids[i] <= 0)
      continue;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pids[i]);
    FILE *f = fopen(path, "r");
    if (!f)
      continue;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* Fields 10 (minflt), 14 and 15 (utime, stime) follow the ")" that
     * ends field 2. */
    char *p = strrchr(buf, ')');
    unsigned long long mf = 0, ut = 0, st = 0;
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %llu %*u %*u %*u %llu %llu", &mf, &ut,
                    &st) == 3) {
      sum += (double)(ut + st) / (double)hz;
      if (faults)
        *faults += mf;
    }
  }
  return sum;
}

/* ---- raw reference ------------------------------------------------------------ */

typedef struct raw {
  pthread_t th;
  char dir[1100];
  uint64_t total;
  size_t chunk;
  double secs;
} raw_t;

static void *raw_main(void *arg) {
  raw_t *r = arg;
  r->secs = fl_bench_raw_write(r->dir, 1, r->total, r->chunk, 1);
  return NULL;
}

/* MB/s per writer of `writers` concurrent durable writers (mean). */
static double raw_per_writer(int writers, size_t chunk, uint64_t per_writer) {
  raw_t r[NODES];
  for (int i = 0; i < writers; i++) {
    snprintf(r[i].dir, sizeof r[i].dir, "%s/raw%d", dir, i);
    mkdir(r[i].dir, 0755);
    r[i].total = per_writer / chunk * chunk;
    r[i].chunk = chunk;
    pthread_create(&r[i].th, NULL, raw_main, &r[i]);
  }
  double sum = 0;
  for (int i = 0; i < writers; i++) {
    pthread_join(r[i].th, NULL);
    sum += r[i].total / r[i].secs / 1e6;
  }
  return sum / writers;
}

/* What one run measured. */
typedef struct result {
  double per_node, raw;             /* MB/s: repair per surviving node, reference per writer */
  double idle50, idle99, rep50, rep99; /* ms, with reads */
} result_t;

/* One whole run on a fresh cluster whose nodes repair at `rate`: fill,
 * idle latency (with reads), the raw reference, kill + mark out, repair
 * (with a reader throughout when `reads`). */
static result_t run(const char *rate, int reads, size_t studies) {
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0 || mkdir(dir, 0755) != 0) {
    perror(dir);
    exit(1);
  }
  start_cluster(rate);
  char spec[64];
  snprintf(spec, sizeof spec, "127.0.0.1:%d", BASE_PORT);
  fl_client_opts_t co = {.coord = spec, .tenant = "bench", .timeout_ms = 30000};
  fl_errmsg_t em = {{0}};
  int rc = fl_client_open(&cl, &co, &em);
  if (rc)
    die("open", rc, &em);
  double dt = fill(studies);
  fprintf(stderr, "bench_repair: --repair-rate %s: %zu instances in %zu studies, %.0f MB in "
                  "%.1f s\n",
          rate, n_insts, studies, fill_bytes / 1e6, dt);

  /* Idle latency. */
  reader_t rd;
  double idle50 = 0, idle99 = 0;
  if (reads) {
    reader_start(&rd);
    sleep(FL__IDLE_SECS);
    reader_stop(&rd, &idle50, &idle99);
  }

  /* Reference: as many durable writers as surviving nodes, chunks of one
   * fragment record; 96 MiB each (about a second in all), which shorter
   * runs showed too noisy. */
  double raw = raw_per_writer(NODES - 1, (size_t)frag_record, 96u << 20);
  fprintf(stderr, "bench_repair: idle get p50 %.2f ms, p99 %.2f ms; raw durable write %.1f MB/s "
                  "per writer\n",
          idle50, idle99, raw);

  /* Lose a node for good. */
  kill(pids[VICTIM], SIGKILL);
  waitpid(pids[VICTIM], NULL, 0);
  pids[VICTIM] = 0;
  fl_wire_conn_t c;
  if ((rc = fl_wire_conn_open(&c, "127.0.0.1", BASE_PORT, 5000, NULL, &em)) != 0)
    die("coordinator", rc, &em);
  uint64_t epoch = 0;
  progress_t p0, p;
  fl_map_t m;
  if ((rc = coord_map(&m)) != 0)
    die("map", rc, NULL);
  progress(m.epoch, &p0);
  fl_map_free(&m);
  if (reads)
    reader_start(&rd);
  unsigned long long flt0 = 0, flt_end = 0;
  double t0 = fl_bench_now(), cpu0 = nodes_cpu(&flt0);
  if ((rc = fl_cc_mark(&c, ids[VICTIM], 1, &epoch, &em)) != 0)
    die("mark out", rc, &em);
  fl_wire_conn_close(&c);
  /* Repair is over when every survivor reports the latest epoch clean;
   * the epoch may move once more when the coordinator sees the node down. */
  double t_end = 0, t_report = 0, cpu_end = cpu0;
  for (;;) {
    usleep(100000);
    if ((rc = coord_map(&m)) != 0)
      die("map", rc, NULL);
    epoch = m.epoch;
    fl_map_free(&m);
    progress(epoch, &p);
    if (fl_bench_now() - t_report >= 1.0) {
      t_report = fl_bench_now();
      fprintf(stderr, "bench_repair: t=%.1f s epoch %llu: %.1f MB written by repair, %u PGs "
                      "degraded\n",
              t_report - t0, (unsigned long long)epoch, (p.bytes_done - p0.bytes_done) / 1e6,
              p.degraded);
    }
    if (p.clean && p.bytes_done > p0.bytes_done) {
      t_end = fl_bench_now();
      break;
    }
    cpu_end = nodes_cpu(&flt_end);
    if (fl_bench_now() - t0 > 600) {
      fprintf(stderr, "bench_repair: repair did not finish in 10 minutes (%u PGs degraded)\n",
              p.degraded);
      exit(1);
    }
  }
  double rep50 = 0, rep99 = 0;
  if (reads)
    reader_stop(&rd, &rep50, &rep99);
  else
    rd.n = 0, rd.errors = 0;
  double secs = t_end - t0;
  double per_node = (p.bytes_done - p0.bytes_done) / secs / 1e6 / (NODES - 1);
  fprintf(stderr, "bench_repair: %.0f MB of fragments rebuilt in %.1f s by %d nodes, which used "
                  "%.1f CPU-seconds and took %llu page faults meanwhile (%ld CPUs online); %zu "
                  "gets during the repair, %llu failed\n",
          (p.bytes_done - p0.bytes_done) / 1e6, secs, NODES - 1, cpu_end - cpu0,
          flt_end - flt0, sysconf(_SC_NPROCESSORS_ONLN), rd.n, (unsigned long long)rd.errors);

  result_t res = {per_node, raw, idle50, idle99, rep50, rep99};
  fl_client_close(cl);
  cl = NULL;
  for (int i = 0; i <= NODES; i++)
    if (pids[i] > 0) {
      kill(pids[i], SIGTERM);
      waitpid(pids[i], NULL, 0);
      pids[i] = 0;
    }
  free(insts);
  insts = NULL;
  fill_bytes = 0;
  if (!keep && system(cmd) != 0)
    exit(1);
  return res;
}

static int by_ratio(const void *a, const void *b) {
  const result_t *x = a, *y = b;
  double rx = x->per_node / x->raw, ry = y->per_node / y->raw;
  return rx < ry ? -1 : rx > ry;
}

/* Runs `repeat` times and prints the lines of the run whose throughput
 * ratio is the median: the figure and its reference come from the same
 * run, and a slow or fast moment of this shared machine in one run does
 * not make the figure. The throughput line, and with reads the two
 * latency lines, are named after the rate. */
static void measure(const char *rate, int reads, size_t studies, int repeat) {
  result_t rs[16];
  for (int i = 0; i < repeat; i++) {
    rs[i] = run(rate, reads, studies);
    if (repeat > 1)
      fprintf(stderr, "bench_repair: run %d of %d: %.2f MB/s per node, reference %.1f, ratio "
                      "%.3f\n",
              i + 1, repeat, rs[i].per_node, rs[i].raw, rs[i].per_node / rs[i].raw);
  }
  qsort(rs, (size_t)repeat, sizeof rs[0], by_ratio);
  const result_t *m = &rs[repeat / 2];
  char name[128], ref[128];
  const char *tag = atof(rate) == 0 ? "unlimited" : rate;
  snprintf(name, sizeof name, "repair_per_node_MBps_%s_rate_%s", reads ? "reads" : "alone", tag);
  snprintf(ref, sizeof ref, "raw_durable_write_per_writer_x%d_%lluKiB", NODES - 1,
           (unsigned long long)(frag_record >> 10));
  fl_bench_line(name, m->per_node, "MB/s", ref, m->raw);
  if (reads) {
    snprintf(name, sizeof name, "repair_get_p50_ms_rate_%s", tag);
    fl_bench_line(name, m->rep50, "ms", "idle_get_p50_ms", m->idle50);
    snprintf(name, sizeof name, "repair_get_p99_ms_rate_%s", tag);
    fl_bench_line(name, m->rep99, "ms", "idle_get_p99_ms", m->idle99);
  }
}

int main(int argc, char **argv) {
  struct stat sb;
  dir = stat("build", &sb) == 0 && S_ISDIR(sb.st_mode) ? "build/bench-repair.tmp"
                                                       : "bench-repair.tmp";
  size_t studies = 1000;
  int repeat = 3;
  char rates[256] = "0MB/s", reads_at[256] = "100MB/s,2MB/s";
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
      dir = argv[++i];
    else if (strcmp(argv[i], "--studies") == 0 && i + 1 < argc)
      studies = (size_t)atoi(argv[++i]);
    else if (strcmp(argv[i], "--rates") == 0 && i + 1 < argc)
      snprintf(rates, sizeof rates, "%s", argv[++i]);
    else if (strcmp(argv[i], "--reads-at") == 0 && i + 1 < argc)
      snprintf(reads_at, sizeof reads_at, "%s", argv[++i]);
    else if (strcmp(argv[i], "--parallel") == 0 && i + 1 < argc)
      parallel = argv[++i];
    else if (strcmp(argv[i], "--inflight") == 0 && i + 1 < argc)
      inflight = argv[++i];
    else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
      repeat = atoi(argv[++i]);
    else if (strcmp(argv[i], "--keep") == 0)
      keep = 1;
    else if (strcmp(argv[i], "--modality") == 0 && i + 1 < argc &&
             fl_gen_modality_parse(argv[++i], &modality) == 0)
      ;
    else {
      fprintf(stderr, "usage: bench_repair [--dir DIR] [--studies N] [--rates R1,R2...] "
                      "[--reads-at R1,R2...] "
                      "[--parallel N] [--inflight N] [--repeat N] [--modality CT|MR|DX|MG] "
                      "[--keep]\n");
      return 2;
    }
  }
  if (studies < 1 || studies > 10000 || repeat < 1 || repeat > 16)
    return 2;
  atexit(kill_all);
  /* "-" (or an empty list) runs nothing of that kind. */
  for (char *save = NULL, *r = strtok_r(rates, ",", &save); r; r = strtok_r(NULL, ",", &save))
    if (strcmp(r, "-"))
      measure(r, 0, studies, repeat);
  for (char *save = NULL, *r = strtok_r(reads_at, ",", &save); r; r = strtok_r(NULL, ",", &save))
    if (strcmp(r, "-"))
      measure(r, 1, studies, 1);
  return 0;
}
