/* Shared pieces of the integration tests: start a real filmless-node or
 * filmless-coord on 127.0.0.1 with a data directory of its own, and
 * connect to it. */
#ifndef FL_ITEST_H
#define FL_ITEST_H

#include "fl_cc.h"
#include "fl_nc.h"
#include "fl_proc.h"

typedef struct fl_itest_node {
  fl_proc_t proc;
  int port;
  char dir[512];
  char log[600];
} fl_itest_node_t;

/* Starts filmless-node serving dir (created if missing) on a free port,
 * extra flags appended (NULL-terminated list, may be NULL), and waits until
 * it accepts connections. Returns 0 or a negative code. */
int fl_itest_node_start(fl_itest_node_t *n, const char *dir, const char *const *extra);

/* The same for filmless-coord (dir is its data directory). */
int fl_itest_coord_start(fl_itest_node_t *n, const char *dir, const char *const *extra);

/* Connects to the node (5 s timeout per call). */
int fl_itest_connect(const fl_itest_node_t *n, fl_wire_conn_t *c);

/* ADMIN_LIST_NODES on the coordinator co, on a connection of its own: 0
 * with map and *st the caller's (fl_map_free, free), else an error. */
int fl_itest_coord_list(const fl_itest_node_t *co, fl_map_t *map, fl_cc_status_t **st,
                        uint32_t *n);

/* Fills b with n pseudo-random bytes determined by seed (xorshift32), so a
 * test can regenerate what it wrote instead of keeping it. */
void fl_itest_fill(uint8_t *b, size_t n, uint32_t seed);

/* Prints the node's log to stderr (for a failing test). */
void fl_itest_dump_log(const fl_itest_node_t *n);

#endif
