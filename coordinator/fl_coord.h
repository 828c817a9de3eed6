/* filmless-coord: the coordinator daemon. Configuration (INI + flags) and
 * the server that keeps the cluster map, membership and admin changes. */
#ifndef FL_COORD_H
#define FL_COORD_H

#include <stdint.h>

#include "fl_addr.h"
#include "fl_config.h"
#include "fl_err.h"
#include "fl_map.h"

typedef struct fl_coord_cfg {
  char data[1024];            /* data directory: the RocksDB database lives here */
  fl_addr_t listen;           /* where clients, nodes and admins connect */
  char log_level[16];
  int64_t heartbeat_ms;       /* interval told to nodes */
  int64_t down_after_ms;      /* silent this long: down */
  int64_t out_after_ms;       /* silent this long: out (> down_after) */
  int64_t watch_max_ms;       /* longest WATCH_MAP wait granted */
  int64_t idle_timeout_ms;    /* close idle connections (watches keep them busy) */
  int64_t k, m, pg_count, min_write; /* initial policy (fresh database only) */
  uint64_t small_threshold;
  char datacenters[FL_MAP_DC_MAX * FL_MAP_NAME_MAX]; /* comma-separated */
  int replication;            /* 0 async, 1 sync */
} fl_coord_cfg_t;

/* The schema of filmless-coord's INI file and flags (docs/coordinator.md). */
extern const fl_cfg_field_t fl_coord_cfg_fields[];

/* Checks what the table cannot (out_after > down_after, the datacenter list)
 * and builds the initial policy from cfg. */
int fl_coord_cfg_policy(const fl_coord_cfg_t *cfg, fl_map_policy_t *p, fl_errmsg_t *em);

/* Runs the coordinator until SIGTERM/SIGINT. Returns 0 or the error that
 * stopped it (message in em). */
int fl_coord_run(const fl_coord_cfg_t *cfg, fl_errmsg_t *em);

#endif
