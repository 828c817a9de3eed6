/* A coordinator and storage nodes as real processes for integration tests.
 * Ports are fixed per test process (derived from its pid) and below 32768,
 * where no client socket of a concurrently running test can hold them;
 * a start that finds its port taken moves the whole cluster elsewhere. */
#define _POSIX_C_SOURCE 200809L
#include "fl_itest_cluster.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fl_cc.h"

uint64_t fl_itest_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void fl_itest_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* 1 if nothing listens on, or holds, 127.0.0.1:port right now. */
static int fl__port_free(int port) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0)
    return 0;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int ok = bind(s, (struct sockaddr *)&a, sizeof a) == 0;
  close(s);
  return ok;
}

/* 12000..26800 in steps of 20: room for the coordinator and 16 nodes,
 * clear of bench_cluster's 27300.. and of the ephemeral range. Tests run
 * side by side (ctest -j), so a block is drawn at random and taken only if
 * all its 20 ports are free. */
static int fl__pick_base(int attempt) {
  static unsigned seed;
  if (!seed)
    seed = (unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL);
  int base = 12000;
  for (int tries = 0; tries < 200; tries++) {
    seed = seed * 1103515245u + 12345u + (unsigned)attempt;
    base = 12000 + (int)((seed >> 8) % 741u) * 20;
    int ok = 1;
    for (int p = base; p < base + 20 && ok; p++)
      ok = fl__port_free(p);
    if (ok)
      break;
  }
  return base;
}

static uint32_t fl__read_id(const fl_itest_node_t *n) {
  char p[600];
  snprintf(p, sizeof p, "%s/node.id", n->dir);
  FILE *f = fopen(p, "r");
  unsigned id = 0;
  if (f) {
    if (fscanf(f, "%u", &id) != 1)
      id = 0;
    fclose(f);
  }
  return id;
}

/* Starts the process of slot i (a new slot when i == count) without
 * waiting for it. */
static int fl__launch(fl_itest_cluster_t *c, int i, const char *const *extra) {
  if (i < 0 || i > c->count || i >= FL_ITEST_CLUSTER_MAX)
    return -EINVAL;
  fl_itest_node_t *n = &c->nodes[i];
  if (!c->started[i]) {
    memset(n, 0, sizeof *n);
    n->port = c->base_port + 1 + i;
    char d[sizeof n->dir];
    snprintf(d, sizeof d, "%s/node%d", c->dir, i);
    memcpy(n->dir, d, sizeof d);
    snprintf(n->log, sizeof n->log, "%s.log", d);
    snprintf(c->addr[i], sizeof c->addr[i], "127.0.0.1:%d", n->port);
  }
  char rack[16], bin[1024];
  snprintf(rack, sizeof rack, "%.15s", c->rack[i] ? c->rack[i] : "");
  if (!c->rack[i])
    snprintf(rack, sizeof rack, "r%d", i);
  snprintf(bin, sizeof bin, "%s", fl_proc_bin("filmless-node"));
  const char *argv[72] = {bin, "serve", "--data", n->dir, "--listen", c->addr[i], "--coord",
                          c->coord_addr, "--dc", "dc1", "--rack", rack, "--reserve", "0",
                          "--log-level", "info"};
  int argc = 16;
  for (int k = 0; c->node_extra && c->node_extra[k] && argc < 44; k++)
    argv[argc++] = c->node_extra[k];
  for (int k = 0; extra && extra[k] && argc < 70; k++)
    argv[argc++] = extra[k];
  argv[argc] = NULL;
  int rc = fl_proc_start(&n->proc, (char *const *)argv, n->log);
  if (rc)
    return rc;
  if (i == c->count)
    c->count++;
  c->started[i] = 1;
  return 0;
}

/* Waits until slot i serves and has its id. */
static int fl__await(fl_itest_cluster_t *c, int i) {
  fl_itest_node_t *n = &c->nodes[i];
  int rc = fl_proc_wait_port(&n->proc, n->port, 30000);
  if (rc) {
    fprintf(stderr, "node slot %d (port %d) did not start: %s\n", i, n->port, fl_strerror(rc));
    fl_itest_dump_log(n);
    return rc;
  }
  for (uint64_t t0 = fl_itest_now_ms(); !c->ids[i]; fl_itest_sleep_ms(50)) {
    c->ids[i] = fl__read_id(n);
    if (!c->ids[i] && fl_itest_now_ms() - t0 > 30000) {
      fprintf(stderr, "node slot %d never registered\n", i);
      fl_itest_dump_log(n);
      return -ETIMEDOUT;
    }
  }
  return 0;
}

int fl_itest_cluster_node_start(fl_itest_cluster_t *c, int i, const char *const *extra) {
  int rc = fl__launch(c, i, extra);
  return rc ? rc : fl__await(c, i);
}

int fl_itest_cluster_nodes_add(fl_itest_cluster_t *c, int n) {
  int first = c->count, rc = 0;
  for (int i = 0; i < n && rc == 0; i++)
    rc = fl__launch(c, first + i, NULL);
  for (int i = first; i < c->count && rc == 0; i++)
    rc = fl__await(c, i);
  return rc;
}

int fl_itest_cluster_client(const fl_itest_cluster_t *c, fl_client_t **out) {
  fl_client_opts_t o = {.coord = c->coord_addr, .tenant = "hosp-a", .timeout_ms = 5000};
  fl_errmsg_t em = {{0}};
  int rc = fl_client_open(out, &o, &em);
  if (rc)
    fprintf(stderr, "client open: %s\n", fl_errmsg_str(&em, rc));
  return rc;
}

int fl_itest_cluster_node_stop(fl_itest_cluster_t *c, int i, int sig) {
  if (i < 0 || i >= c->count || c->nodes[i].proc.pid <= 0)
    return -ECHILD;
  int st = fl_proc_stop(&c->nodes[i].proc, sig, 20000);
  return st < 0 ? st : 0;
}

int fl_itest_cluster_slot(const fl_itest_cluster_t *c, uint32_t id) {
  for (int i = 0; i < c->count; i++)
    if (c->ids[i] == id)
      return i;
  return -1;
}

int fl_itest_cluster_map(const fl_itest_cluster_t *c, fl_map_t *map) {
  fl_wire_conn_t w;
  int rc = fl_itest_connect(&c->coord, &w);
  if (rc)
    return rc;
  int changed = 0;
  rc = fl_cc_get_map(&w, 0, 0, map, &changed, NULL);
  fl_wire_conn_close(&w);
  if (rc == 0 && !changed)
    rc = FL_EPROTO;
  return rc;
}

int fl_itest_cluster_state(const fl_itest_cluster_t *c, uint32_t id) {
  fl_map_t m;
  if (fl_itest_cluster_map(c, &m) != 0)
    return -1;
  const fl_map_node_t *n = fl_map_find_node(&m, id);
  int s = n ? (int)n->state : -1;
  fl_map_free(&m);
  return s;
}

int fl_itest_cluster_wait_state(const fl_itest_cluster_t *c, uint32_t id, int want,
                                int timeout_ms) {
  uint64_t t0 = fl_itest_now_ms();
  while (fl_itest_cluster_state(c, id) != want) {
    if (fl_itest_now_ms() - t0 > (uint64_t)timeout_ms)
      return -ETIMEDOUT;
    fl_itest_sleep_ms(100);
  }
  return 0;
}

/* Every started node that is running is up and in, and the map has no
 * other usable node. */
static int fl__all_joined(const fl_itest_cluster_t *c) {
  fl_map_t m;
  if (fl_itest_cluster_map(c, &m) != 0)
    return 0;
  int ok = 1;
  for (int i = 0; i < c->count && ok; i++) {
    const fl_map_node_t *n = fl_map_find_node(&m, c->ids[i]);
    ok = n && n->state == (FL_NODE_UP | FL_NODE_IN);
  }
  fl_map_free(&m);
  return ok;
}

int fl_itest_cluster_start(fl_itest_cluster_t *c, const char *name, int nodes, unsigned k,
                           unsigned m, unsigned pg_count, const char *out_after,
                           const char *const *coord_extra, const char *const *node_extra) {
  memset(c, 0, sizeof *c);
  c->node_extra = node_extra;
  int rc = fl_proc_scratch_dir(name, c->dir, sizeof c->dir);
  if (rc)
    return rc;
  char ks[16], ms[16], pgs[16], cdata[512];
  snprintf(ks, sizeof ks, "%u", k);
  snprintf(ms, sizeof ms, "%u", m);
  snprintf(pgs, sizeof pgs, "%u", pg_count);
  snprintf(cdata, sizeof cdata, "%s/coord", c->dir);
  const char *argv[48];
  int argc = 0;
  const char *base[] = {"--down-after", "1s", "--out-after", out_after, "--heartbeat-interval",
                        "200ms", "--k", ks, "--m", ms, "--pg-count", pgs, "--datacenters",
                        "dc1", "--log-level", "info", NULL};
  for (int i = 0; base[i]; i++)
    argv[argc++] = base[i];
  for (int i = 0; coord_extra && coord_extra[i] && argc < 46; i++)
    argv[argc++] = coord_extra[i];
  argv[argc] = NULL;
  for (int attempt = 0;; attempt++) {
    c->base_port = fl__pick_base(attempt);
    c->coord.port = c->base_port;
    rc = fl_itest_coord_start(&c->coord, cdata, argv);
    if (rc == 0)
      break;
    if (attempt == 4)
      return rc;
    fl_proc_rmtree(cdata);
  }
  snprintf(c->coord_addr, sizeof c->coord_addr, "127.0.0.1:%d", c->coord.port);
  for (int i = 0; i < nodes; i++)
    if ((rc = fl_itest_cluster_node_start(c, i, NULL)) != 0) {
      fl_itest_cluster_dump(c);
      return rc;
    }
  for (uint64_t t0 = fl_itest_now_ms(); !fl__all_joined(c); fl_itest_sleep_ms(100))
    if (fl_itest_now_ms() - t0 > 60000) {
      fprintf(stderr, "the nodes did not all join the coordinator\n");
      fl_itest_cluster_dump(c);
      return -ETIMEDOUT;
    }
  return 0;
}

int fl_itest_cluster_cli(const fl_itest_cluster_t *c, char *out, size_t cap,
                         const char *const *argv) {
  char bin[1024];
  snprintf(bin, sizeof bin, "%s", fl_proc_bin("filmless"));
  const char *av[64] = {bin};
  int ac = 1;
  for (int i = 0; argv[i] && ac < 60; i++)
    av[ac++] = argv[i];
  av[ac++] = "--coord";
  av[ac++] = c->coord_addr;
  av[ac] = NULL;
  int pfd[2];
  if (pipe(pfd) != 0)
    return -errno;
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(pfd[0]);
    close(pfd[1]);
    return -e;
  }
  if (pid == 0) {
    dup2(pfd[1], STDOUT_FILENO);
    close(pfd[0]);
    close(pfd[1]);
    execv(bin, (char *const *)av);
    _exit(127);
  }
  close(pfd[1]);
  size_t len = 0;
  char sink[4096];
  for (;;) {
    char *dst = out && len + 1 < cap ? out + len : sink;
    size_t room = out && len + 1 < cap ? cap - 1 - len : sizeof sink;
    ssize_t r = read(pfd[0], dst, room);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    if (dst != sink) {
      fwrite(dst, 1, (size_t)r, stderr); /* the test's log shows what the tool said */
      len += (size_t)r;
    }
  }
  close(pfd[0]);
  if (out && cap)
    out[len] = 0;
  int st = 0;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR)
      return -errno;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

void fl_itest_cluster_kill_all(fl_itest_cluster_t *c) {
  if (c->dir[0])
    fprintf(stderr, "cluster logs and data kept in %s\n", c->dir);
  for (int i = 0; i < c->count; i++)
    if (c->nodes[i].proc.pid > 0)
      fl_proc_stop(&c->nodes[i].proc, SIGKILL, 5000);
  if (c->coord.proc.pid > 0)
    fl_proc_stop(&c->coord.proc, SIGKILL, 5000);
}

void fl_itest_cluster_stop(fl_itest_cluster_t *c) {
  for (int i = 0; i < c->count; i++)
    if (c->nodes[i].proc.pid > 0)
      fl_proc_stop(&c->nodes[i].proc, SIGTERM, 20000);
  if (c->coord.proc.pid > 0)
    fl_proc_stop(&c->coord.proc, SIGTERM, 20000);
  if (c->dir[0])
    fl_proc_rmtree(c->dir);
  c->dir[0] = 0;
}

void fl_itest_cluster_dump(const fl_itest_cluster_t *c) {
  fl_itest_dump_log(&c->coord);
  for (int i = 0; i < c->count; i++)
    fl_itest_dump_log(&c->nodes[i]);
}
