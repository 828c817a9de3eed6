/* Implementation of the shared benchmark helpers. */
#include "fl_bench.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

double fl_bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void *fl_bench_alloc(size_t n) {
  void *p = NULL;
  if (posix_memalign(&p, 4096, n ? n : 1)) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  uint32_t x = 0x9e3779b9u;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    ((unsigned char *)p)[i] = (unsigned char)x;
  }
  return p;
}

static void fl__die(const char *what) {
  perror(what);
  exit(1);
}

double fl_bench_raw_write(const char *dir, int direct, uint64_t total, size_t chunk,
                          int sync_each) {
  char path[4200];
  snprintf(path, sizeof path, "%s/fl-bench-raw.dat", dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | (direct ? O_DIRECT : 0), 0644);
  if (fd < 0)
    fl__die(path);
  void *buf = fl_bench_alloc(chunk);
  double t0 = fl_bench_now();
  for (uint64_t off = 0; off < total; off += chunk) {
    if (pwrite(fd, buf, chunk, (off_t)off) != (ssize_t)chunk)
      fl__die("pwrite");
    if (sync_each && fdatasync(fd) != 0)
      fl__die("fdatasync");
  }
  if (fdatasync(fd) != 0)
    fl__die("fdatasync");
  double t = fl_bench_now() - t0;
  close(fd);
  unlink(path);
  free(buf);
  return t;
}

typedef struct fl__sink {
  int lfd;
  uint64_t total;
  size_t chunk;
} fl__sink_t;

static void *fl__sink_thread(void *arg) {
  fl__sink_t *s = arg;
  int fd = accept(s->lfd, NULL, NULL);
  if (fd < 0)
    fl__die("accept");
  char *buf = malloc(s->chunk);
  uint64_t got = 0;
  while (got < s->total) {
    ssize_t n = recv(fd, buf, s->chunk, 0);
    if (n <= 0)
      fl__die("recv");
    got += (uint64_t)n;
  }
  char ack = 1;
  if (send(fd, &ack, 1, 0) != 1)
    fl__die("send");
  free(buf);
  close(fd);
  return NULL;
}

double fl_bench_tcp_copy(uint64_t total, size_t chunk) {
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 1) ||
      getsockname(lfd, (struct sockaddr *)&a, &len))
    fl__die("listen");
  fl__sink_t s = {lfd, total, chunk};
  pthread_t th;
  pthread_create(&th, NULL, fl__sink_thread, &s);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a))
    fl__die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char *buf = fl_bench_alloc(chunk);
  double t0 = fl_bench_now();
  for (uint64_t sent = 0; sent < total;) {
    size_t want = total - sent < chunk ? (size_t)(total - sent) : chunk;
    ssize_t n = send(fd, buf, want, 0);
    if (n <= 0)
      fl__die("send");
    sent += (uint64_t)n;
  }
  char ack;
  if (recv(fd, &ack, 1, 0) != 1)
    fl__die("recv ack");
  double t = fl_bench_now() - t0;
  pthread_join(th, NULL);
  close(fd);
  close(lfd);
  free(buf);
  return t;
}

void fl_bench_line(const char *name, double value, const char *unit, const char *ref_name,
                   double ref_value) {
  printf("BENCH %s %.4g %s ref=%s %.4g ratio=%.3f\n", name, value, unit, ref_name, ref_value,
         ref_value > 0 ? value / ref_value : 0.0);
  fflush(stdout);
}

uint64_t fl_bench_rss(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  uint64_t kb = 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %lu kB", (unsigned long *)&kb) == 1)
      break;
  fclose(f);
  return kb * 1024;
}

pid_t fl_bench_spawn(const char *log, char *const argv[]) {
  pid_t pid = fork();
  if (pid == 0) {
    FILE *f = freopen(log, "a", stderr);
    (void)f;
    execv(argv[0], argv);
    _exit(127);
  }
  return pid;
}

void fl_bench_wait_port(int port, const char *prog, const char *what, const char *where) {
  for (int t = 0;; t++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
      close(fd);
    if (ok)
      return;
    if (t > 300) {
      fprintf(stderr, "%s: %s did not start (see %s)\n", prog, what, where);
      exit(1);
    }
    usleep(100000);
  }
}

const char *fl_bench_bindir(void) {
  static char dir[4096];
  ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
  if (n <= 0)
    return ".";
  dir[n] = '\0';
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = '\0';
  return dir;
}

/* argv = fixed flags, then extra (NULL-terminated), then NULL. */
static void fl__argv(char **argv, size_t cap, char *const *fixed, size_t nfixed,
                     const char *const *extra) {
  size_t n = 0;
  for (; n < nfixed && n + 1 < cap; n++)
    argv[n] = fixed[n];
  for (size_t i = 0; extra && extra[i] && n + 1 < cap; i++)
    argv[n++] = (char *)extra[i];
  argv[n] = NULL;
}

void fl_bench_cluster_spawn(const char *dir, int base_port, int nodes,
                            const char *const *coord_extra, const char *const *node_extra,
                            pid_t *pids, const char *prog) {
  const char *bindir = fl_bench_bindir();
  char coord[4200], node[4200], cdata[1024], clog[1100], clisten[64];
  char *argv[64];
  snprintf(coord, sizeof coord, "%s/filmless-coord", bindir);
  snprintf(node, sizeof node, "%s/filmless-node", bindir);
  snprintf(cdata, sizeof cdata, "%s/coord", dir);
  snprintf(clog, sizeof clog, "%s/coord.log", dir);
  snprintf(clisten, sizeof clisten, "127.0.0.1:%d", base_port);
  mkdir(cdata, 0755);
  char *cfixed[] = {coord, "serve", "--data", cdata, "--listen", clisten,
                    "--k", "4", "--m", "2", "--log-level", "warn"};
  fl__argv(argv, 64, cfixed, sizeof cfixed / sizeof cfixed[0], coord_extra);
  pids[nodes] = fl_bench_spawn(clog, argv);
  fl_bench_wait_port(base_port, prog, "the coordinator", dir);
  for (int i = 0; i < nodes; i++) {
    char data[1024], listen[64], log[1100], rack[16];
    snprintf(data, sizeof data, "%s/node%d", dir, i + 1);
    snprintf(log, sizeof log, "%s/node%d.log", dir, i + 1);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", base_port + i + 1);
    snprintf(rack, sizeof rack, "r%d", i + 1);
    mkdir(data, 0755);
    char *nfixed[] = {node, "serve", "--data", data, "--listen", listen, "--coord", clisten,
                      "--dc", "dc1", "--rack", rack, "--log-level", "warn", "--scrub-rate",
                      "0MB/s", "--reserve", "256MiB"};
    fl__argv(argv, 64, nfixed, sizeof nfixed / sizeof nfixed[0], node_extra);
    pids[i] = fl_bench_spawn(log, argv);
  }
  for (int i = 0; i < nodes; i++)
    fl_bench_wait_port(base_port + i + 1, prog, "a node", dir);
}
