/* Storage-node benchmark: one filmless-node on loopback, 8 concurrent
 * clients, puts and gets of 4 KiB, 128 KiB, 512 KiB and 8 MiB fragments.
 * Puts are compared with raw O_DIRECT sequential writes + fdatasync of the
 * same bytes in the same directory; gets with a raw loopback TCP copy of the
 * same bytes; 4 KiB put rate also with one fdatasync per 4 KiB write (what a
 * node without group commit could do). Last, the node's RSS after indexing
 * many small objects, against the 300 MB budget.
 * Each client keeps up to --depth requests in flight on its connection
 * (pipelined, as the client library does).
 * Usage: bench_node [--dir DIR] [--rss-objects N] [--depth D]
 *        (defaults ./bench-node.tmp, 1000000, 8) */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fl_bench.h"
#include "fl_nc.h"

#define CLIENTS 8
#define STUDY "1.2.826.0.1.3680043.8.498.99"

static int port;
static pid_t node_pid;

typedef struct job {
  int tid, ops, put, first;
  size_t size;
  void *buf;
  int failed;
} job_t;

static void key_of(int tid, int i, size_t size, char *sop, size_t cap, fl_nc_key_t *k) {
  snprintf(sop, cap, STUDY ".%zu.%d.%d", size, tid + 1, i + 1);
  *k = (fl_nc_key_t){(uint32_t)(tid % 64), "bench", STUDY, STUDY ".1", sop, 0};
}

static int depth = 8; /* requests in flight per client connection */

static void *client(void *arg) {
  job_t *j = arg;
  fl_wire_conn_t c;
  fl_errmsg_t em = {{0}};
  if (fl_wire_conn_open(&c, "127.0.0.1", (uint16_t)port, 30000, NULL, &em) != 0) {
    fprintf(stderr, "connect: %s\n", em.msg);
    j->failed = 1;
    return NULL;
  }
  int sent = 0, done = 0;
  while (done < j->ops) {
    while (sent < j->ops && sent - done < depth) {
      char sop[96];
      fl_nc_key_t k;
      key_of(j->tid, j->first + sent, j->size, sop, sizeof sop, &k);
      int rc = j->put ? fl_nc_put_send(&c, (uint64_t)sent + 1, &k, j->buf, j->size, &em)
                      : fl_nc_get_send(&c, (uint64_t)sent + 1, &k, &em);
      if (rc) {
        fprintf(stderr, "send: %s\n", fl_errmsg_str(&em, rc));
        j->failed = 1;
        goto out;
      }
      sent++;
    }
    uint64_t id = 0;
    int rc = fl_nc_recv(&c, j->put ? NULL : j->buf, j->put ? 0 : j->size, &id, &em);
    if (rc) {
      fprintf(stderr, "%s: %s\n", j->put ? "put" : "get", fl_errmsg_str(&em, rc));
      j->failed = 1;
      break;
    }
    done++;
  }
out:
  fl_wire_conn_close(&c);
  return NULL;
}

/* Runs CLIENTS clients doing ops each; returns seconds. */
static double run(int put, size_t size, int ops, int first) {
  job_t jobs[CLIENTS];
  pthread_t th[CLIENTS];
  for (int i = 0; i < CLIENTS; i++)
    jobs[i] = (job_t){i, ops, put, first, size, fl_bench_alloc(size), 0};
  double t0 = fl_bench_now();
  for (int i = 0; i < CLIENTS; i++)
    pthread_create(&th[i], NULL, client, &jobs[i]);
  for (int i = 0; i < CLIENTS; i++)
    pthread_join(th[i], NULL);
  double t = fl_bench_now() - t0;
  for (int i = 0; i < CLIENTS; i++) {
    free(jobs[i].buf);
    if (jobs[i].failed)
      exit(1);
  }
  return t;
}

static void start_node(const char *data) {
  char listen[64];
  snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
  char bin[4200];
  snprintf(bin, sizeof bin, "%s/filmless-node", fl_bench_bindir());
  node_pid = fork();
  if (node_pid == 0) {
    execl(bin, bin, "serve", "--data", data, "--listen", listen, "--log-level", "warn",
          "--scrub-rate", "0MB/s", "--compact-interval", "0", (char *)NULL);
    perror(bin);
    _exit(127);
  }
  for (int i = 0; i < 300; i++) {
    fl_wire_conn_t c;
    if (fl_wire_conn_open(&c, "127.0.0.1", (uint16_t)port, 1000, NULL, NULL) == 0) {
      fl_wire_conn_close(&c);
      return;
    }
    usleep(20000);
  }
  fprintf(stderr, "node did not start\n");
  exit(1);
}

int main(int argc, char **argv) {
  const char *dir = "bench-node.tmp";
  long rss_objects = 1000000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--dir"))
      dir = argv[i + 1];
    else if (!strcmp(argv[i], "--rss-objects"))
      rss_objects = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--depth"))
      depth = atoi(argv[i + 1]) > 0 ? atoi(argv[i + 1]) : 1;
  }
  mkdir(dir, 0755);
  char data[4200];
  snprintf(data, sizeof data, "%s/node", dir);
  char cmd[8600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", data);
  if (system(cmd) != 0)
    return 1;
  port = 12000 + (int)(getpid() % 15000); /* below the ephemeral range */
  start_node(data);

  static const struct {
    size_t size;
    int ops; /* per client */
    const char *name;
  } sizes[] = {{4096, 2500, "4KiB"}, {128 << 10, 200, "128KiB"}, {512 << 10, 100, "512KiB"},
               {8 << 20, 12, "8MiB"}};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    size_t size = sizes[s].size;
    int ops = sizes[s].ops;
    uint64_t total = (uint64_t)size * ops * CLIENTS;
    char name[64];
    double tp = run(1, size, ops, 0);
    double tref = fl_bench_raw_write(dir, 1, total, size < (1u << 20) ? size : 1u << 20, 0);
    snprintf(name, sizeof name, "node.put.%s", sizes[s].name);
    fl_bench_line(name, total / tp / 1e6, "MB/s", "raw_odirect_seq_write_fdatasync",
                  total / tref / 1e6);
    snprintf(name, sizeof name, "node.put.%s.ops", sizes[s].name);
    fl_bench_line(name, ops * CLIENTS / tp, "ops/s", "raw_odirect_seq_write_fdatasync",
                  ops * CLIENTS / tref);
    if (size == 4096) {
      int n = 2000;
      double tsync = fl_bench_raw_write(dir, 1, (uint64_t)n * 4096, 4096, 1);
      fl_bench_line("node.put.4KiB.ops_vs_fsync_each", ops * CLIENTS / tp, "ops/s",
                    "raw_4KiB_write_fdatasync_each_qd1", n / tsync);
    }
    double tg = run(0, size, ops, 0);
    double tcp = fl_bench_tcp_copy(total, size);
    snprintf(name, sizeof name, "node.get.%s", sizes[s].name);
    fl_bench_line(name, total / tg / 1e6, "MB/s", "raw_loopback_tcp_copy", total / tcp / 1e6);
    snprintf(name, sizeof name, "node.get.%s.ops", sizes[s].name);
    fl_bench_line(name, ops * CLIENTS / tg, "ops/s", "raw_loopback_tcp_copy",
                  ops * CLIENTS / tcp);
  }

  if (rss_objects > 0) {
    int per = (int)(rss_objects / CLIENTS);
    double t = run(1, 256, per, 1000000);
    uint64_t rss = fl_bench_rss(node_pid);
    char name[64];
    snprintf(name, sizeof name, "node.rss.%ld_small_objects", (long)per * CLIENTS);
    fl_bench_line(name, rss / 1e6, "MB", "budget", 300);
    fl_bench_line("node.put.256B.ops", per * CLIENTS / t, "ops/s", "target", 20000);
  }
  kill(node_pid, SIGTERM);
  waitpid(node_pid, NULL, 0);
  if (system(cmd) != 0)
    return 1;
  return 0;
}
