/* A whole cluster for integration tests and their helpers: a real
 * filmless-coord and N filmless-node processes registered with it on
 * 127.0.0.1, on fixed ports below the kernel's ephemeral range, with one
 * scratch directory; plus node restarts, kills, the coordinator's map and
 * the `filmless` command-line tool run against it. */
#ifndef FL_ITEST_CLUSTER_H
#define FL_ITEST_CLUSTER_H

#include <stdint.h>

#include "filmless.h"
#include "fl_itest.h"
#include "fl_map.h"

#define FL_ITEST_CLUSTER_MAX 16

typedef struct fl_itest_cluster {
  char dir[400];                           /* scratch directory of everything */
  char coord_addr[64];                     /* "127.0.0.1:PORT" */
  int base_port;                           /* coordinator; node slot i at base + 1 + i */
  fl_itest_node_t coord;
  fl_itest_node_t nodes[FL_ITEST_CLUSTER_MAX];
  uint32_t ids[FL_ITEST_CLUSTER_MAX];      /* node id of each slot, 0 until registered */
  char addr[FL_ITEST_CLUSTER_MAX][32];     /* "127.0.0.1:PORT" of each slot */
  int started[FL_ITEST_CLUSTER_MAX];       /* slot has been started at least once */
  int count;                               /* slots in use */
  const char *const *node_extra;           /* flags for every node (borrowed; may be NULL) */
  const char *rack[FL_ITEST_CLUSTER_MAX];  /* rack of a slot (borrowed); NULL: "rI" */
} fl_itest_cluster_t;

/* Makes the scratch directory "<FL_TMP>/<name>.<pid>", starts the
 * coordinator (policy k+m, pg_count PGs, 200 ms heartbeats, down after 1 s,
 * out after out_after, e.g. "3s"; coord_extra appended, may be NULL) and
 * `nodes` nodes (each on its own rack "rI", datacenter dc1, flags
 * node_extra, kept borrowed for later starts), then waits until every node
 * is up and in. Returns 0 or a negative code with the reason printed and
 * the logs dumped. */
int fl_itest_cluster_start(fl_itest_cluster_t *c, const char *name, int nodes, unsigned k,
                           unsigned m, unsigned pg_count, const char *out_after,
                           const char *const *coord_extra, const char *const *node_extra);

/* Starts node slot i (a new slot when i == count: a node joining the
 * cluster) with the cluster's node flags and then extra (may be NULL);
 * restarts keep the slot's port, directory and id. Waits for its port and,
 * for a new node, for its id. */
int fl_itest_cluster_node_start(fl_itest_cluster_t *c, int i, const char *const *extra);

/* Starts n new nodes at once (slots count..count+n-1; their processes are
 * all launched before any is waited for, so they join within moments of
 * each other) and waits for their ports and ids. */
int fl_itest_cluster_nodes_add(fl_itest_cluster_t *c, int n);

/* Opens a libfilmless client on the cluster (tenant "hosp-a", 5 s per node
 * call); *out is the caller's (fl_client_close). Errors are printed. */
int fl_itest_cluster_client(const fl_itest_cluster_t *c, fl_client_t **out);

/* Sends sig (SIGKILL: for good, no flush; SIGTERM: clean stop) and waits. */
int fl_itest_cluster_node_stop(fl_itest_cluster_t *c, int i, int sig);

/* Slot of node id, or -1. */
int fl_itest_cluster_slot(const fl_itest_cluster_t *c, uint32_t id);

/* The coordinator's current map (fl_map_free it). */
int fl_itest_cluster_map(const fl_itest_cluster_t *c, fl_map_t *map);

/* State bits of node id in the coordinator's map; -1 if absent or the
 * coordinator does not answer. */
int fl_itest_cluster_state(const fl_itest_cluster_t *c, uint32_t id);

/* Polls every 100 ms until the state of node id equals want, up to
 * timeout_ms. 0 or -ETIMEDOUT. */
int fl_itest_cluster_wait_state(const fl_itest_cluster_t *c, uint32_t id, int want,
                                int timeout_ms);

/* Runs build/bin/filmless ARGS... --coord <coordinator> (argv
 * NULL-terminated, borrowed), its stdout into out (cap bytes, NUL
 * terminated; may be NULL), stderr to the test's stderr. Returns the exit
 * status (0..255) or a negative -errno. */
int fl_itest_cluster_cli(const fl_itest_cluster_t *c, char *out, size_t cap,
                         const char *const *argv);

/* SIGKILLs every process still running (for atexit after a failed check)
 * and, unless the cluster was stopped, says where its logs are kept. */
void fl_itest_cluster_kill_all(fl_itest_cluster_t *c);

/* Stops every process (SIGTERM) and removes the scratch directory (a
 * failed test never gets here, so its logs stay). */
void fl_itest_cluster_stop(fl_itest_cluster_t *c);

/* Prints the coordinator's and every node's log to stderr. */
void fl_itest_cluster_dump(const fl_itest_cluster_t *c);

/* Milliseconds on the monotonic clock, and a sleep. */
uint64_t fl_itest_now_ms(void);
void fl_itest_sleep_ms(int ms);

#endif
