/* filmless-node: the storage node daemon. Configuration (INI + flags), the
 * request handlers that turn wire frames into store calls, and the libuv
 * server that runs them. */
#ifndef FL_NODE_H
#define FL_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "filmless.pb-c.h"
#include "fl_addr.h"
#include "fl_config.h"
#include "fl_store.h"

typedef struct fl_node_cfg {
  char data[1024];          /* data directory: volumes/ and index/ */
  fl_addr_t listen;         /* where the data service listens */
  fl_addr_t coord;          /* coordinator; host "" = none (standalone node) */
  int64_t id;               /* node id in the cluster map (0 = unassigned) */
  char dc[64];              /* datacenter name */
  char rack[64];            /* rack name */
  uint64_t capacity;        /* advertised capacity; 0 = the filesystem's size */
  uint64_t max_payload;     /* largest frame payload accepted */
  int64_t idle_timeout_ms;  /* close connections idle this long */
  int64_t workers;          /* threads for disk, CRC and index work */
  int64_t max_inflight;     /* requests in progress per connection */
  uint64_t volume_max;      /* roll volumes at this size */
  uint64_t reserve;         /* free space kept for the index and deletes */
  int direct;               /* O_DIRECT: auto / on / off */
  uint64_t scrub_rate;      /* scrub bandwidth, bytes/s; 0 = scrub off */
  int64_t scrub_interval_ms;/* pause between scrub passes */
  int64_t compact_interval_ms;
  int64_t compact_dead_pct; /* compact sealed volumes this dead or more */
  uint64_t index_cache;     /* RocksDB block cache */
  bool repair_enabled;      /* run the repair worker (with a coordinator) */
  uint64_t repair_rate;     /* bytes/s of repair writes; 0 = unlimited */
  int64_t repair_interval_ms;
  int64_t repair_parallel;  /* PGs repaired at once */
  int64_t repair_inflight;  /* objects in flight per PG position */
  int64_t repair_settle_ms; /* rebalance waits this long after a placement change */
  char log_level[16];
} fl_node_cfg_t;

/* The schema of filmless-node's INI file and flags (docs/config.md). */
extern const fl_cfg_field_t fl_node_cfg_fields[];

/* Handles one request on a worker thread: req (borrowed) with its payload
 * (borrowed; already verified against req->payload_crc32c, as a frame is
 * when it arrives, so a put stores that CRC without another pass) -> a
 * response header *resp (caller-initialised with
 * fl__frame_header__init; its body points into *scratch, which the caller
 * frees with fl_node_rpc_scratch_free after encoding) and a response
 * payload of *out_len bytes at *out inside the allocation *out_base
 * (handed over: free() it; both NULL when empty), whose CRC32C is already
 * in resp->payload_crc32c. Never fails: errors become the response status
 * and text. */
typedef struct fl_node_rpc_scratch fl_node_rpc_scratch_t;
typedef struct fl_node_coord fl_node_coord_t;
/* coord (may be NULL: no coordinator) gives the node id and map epoch that
 * STAT and every response header report; borrowed for the call. */
void fl_node_rpc_handle(fl_store_t *store, const fl_node_cfg_t *cfg, fl_node_coord_t *coord,
                        const Fl__FrameHeader *req,
                        const void *payload, uint64_t payload_len, Fl__FrameHeader *resp,
                        fl_node_rpc_scratch_t **scratch, void **out_base, void **out,
                        uint64_t *out_len);
void fl_node_rpc_scratch_free(fl_node_rpc_scratch_t *scratch);

/* Runs the node until SIGTERM/SIGINT: opens the store, serves, and on a
 * signal stops accepting, finishes the requests in flight, and closes.
 * Returns 0 or the error that stopped it (message in em). */
int fl_node_run(const fl_node_cfg_t *cfg, fl_errmsg_t *em);

#endif
