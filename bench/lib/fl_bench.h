/* Shared pieces of the benchmarks: a monotonic clock, the references every
 * figure is a ratio of (raw durable sequential writes, a raw loopback TCP
 * copy), the BENCH line format, and process memory. */
#ifndef FL_BENCH_H
#define FL_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

double fl_bench_now(void);

/* posix_memalign'd (4 KiB) buffer of n bytes filled with a pattern; exits on
 * failure. */
void *fl_bench_alloc(size_t n);

/* Writes total bytes sequentially to a fresh file in dir in chunk-byte
 * writes (O_DIRECT when direct), fdatasync after each write when sync_each,
 * else once at the end. Returns seconds; exits on an I/O error. */
double fl_bench_raw_write(const char *dir, int direct, uint64_t total, size_t chunk,
                          int sync_each);

/* Copies total bytes over a TCP connection on 127.0.0.1 from one thread to
 * another in chunk-byte sends. Returns seconds. */
double fl_bench_tcp_copy(uint64_t total, size_t chunk);

/* Prints: BENCH <name> <value> <unit> ref=<ref_name> <ref_value> ratio=<value/ref>. */
void fl_bench_line(const char *name, double value, const char *unit, const char *ref_name,
                   double ref_value);

/* Resident set size of pid in bytes (0 if unknown). */
uint64_t fl_bench_rss(pid_t pid);

/* Starts argv[0] (a path) with argv, its stderr appended to log; returns
 * the child's pid, or -1 if fork failed. argv is borrowed for the call. */
pid_t fl_bench_spawn(const char *log, char *const argv[]);

/* Polls until a TCP connect to 127.0.0.1:port succeeds; after 30 s prints
 * "<prog>: <what> did not start (see <where>)" and exits. */
void fl_bench_wait_port(int port, const char *prog, const char *what, const char *where);

/* Starts a local cluster under dir: filmless-coord (policy 4+2) on
 * 127.0.0.1:base_port and `nodes` filmless-node on the next ports, node i
 * in rack "r<i+1>" of dc1, each registering with the coordinator;
 * coord_extra and node_extra (NULL-terminated, may be NULL) are appended
 * to their flags. pids[0..nodes) get the nodes, pids[nodes] the
 * coordinator. Waits for every port; exits naming prog on failure. */
void fl_bench_cluster_spawn(const char *dir, int base_port, int nodes,
                            const char *const *coord_extra, const char *const *node_extra,
                            pid_t *pids, const char *prog);

/* Directory this executable lives in (for sibling binaries). */
const char *fl_bench_bindir(void);

#endif
