/* Blocking calls to the coordinator over a fl_wire_conn: register and
 * heartbeat (storage nodes), get and watch the cluster map (anyone), and
 * the admin RPCs (the CLI). Maps arrive as fl_map_encode bytes and are
 * decoded here. Errors are the coordinator's status (text in em) or the
 * transport's. One connection per thread. */
#ifndef FL_CC_H
#define FL_CC_H

#include <stdint.h>

#include "fl_err.h"
#include "fl_map.h"
#include "fl_wire_conn.h"

typedef struct fl_cc_reg {
  uint32_t id;               /* 0: ask for a new one */
  const char *addr, *dc, *rack, *version; /* borrowed for the call */
  uint64_t capacity_bytes;
} fl_cc_reg_t;

/* *id gets the node's id, *epoch the current epoch, *hb_ms the heartbeat
 * interval the coordinator wants. */
int fl_cc_register(fl_wire_conn_t *c, const fl_cc_reg_t *r, uint32_t *id, uint64_t *epoch,
                   uint32_t *hb_ms, fl_errmsg_t *em);

/* A node's repair figures (RepairProgress in proto/filmless.proto,
 * docs/repair.md): *_left and pgs_* are current, the rest count since the
 * node started. All zero: the node reports no repair work. */
typedef struct fl_cc_repair {
  uint32_t pgs_led, pgs_degraded, min_survivors;
  uint64_t bytes_left, fragments_left, rate_bytes_per_s, bytes_done, fragments_rebuilt,
      fragments_copied, fragments_dropped, deletes_propagated, epoch, passes;
} fl_cc_repair_t;

/* Plain struct <-> protobuf. to_pb initialises *pb (no allocation: it
 * holds only scalars). from_pb zeroes *r first; pb NULL (an absent field)
 * gives all zeros. */
void fl_cc_repair_to_pb(const fl_cc_repair_t *r, Fl__RepairProgress *pb);
void fl_cc_repair_from_pb(const Fl__RepairProgress *pb, fl_cc_repair_t *r);

/* Sums b into a: counters and *_left add up, min_survivors is the lowest
 * non-zero one, epoch the highest. For cluster-wide totals. */
void fl_cc_repair_add(fl_cc_repair_t *a, const fl_cc_repair_t *b);

typedef struct fl_cc_hb {
  uint32_t id;
  uint64_t capacity_bytes, used_bytes, objects, corrupt;
  fl_cc_repair_t repair;     /* sent as HeartbeatArgs.repair */
} fl_cc_hb_t;

/* *epoch gets the coordinator's current epoch. */
int fl_cc_heartbeat(fl_wire_conn_t *c, const fl_cc_hb_t *hb, uint64_t *epoch, fl_errmsg_t *em);

/* GET_MAP (wait_ms = 0) or WATCH_MAP (wait_ms > 0: the coordinator answers
 * once its epoch exceeds known_epoch, or after wait_ms). *changed = 1: map
 * is initialised with the new map (fl_map_free it); 0: unchanged, map is
 * untouched. The connection's timeout must exceed wait_ms. */
int fl_cc_get_map(fl_wire_conn_t *c, uint64_t known_epoch, uint32_t wait_ms, fl_map_t *map,
                  int *changed, fl_errmsg_t *em);

/* Heartbeat knowledge of one node (not in the map). */
typedef struct fl_cc_status {
  uint32_t id;
  uint64_t capacity_bytes, used_bytes, objects, corrupt;
  uint64_t last_seen_ms_ago;
  int seen, auto_out;
  char version[32];
  fl_cc_repair_t repair;     /* from its last heartbeat; zeros while it is down */
} fl_cc_status_t;

/* ADMIN_LIST_NODES: map is initialised (fl_map_free it) and *st a malloc'd
 * array of *n statuses (handed over; free()), one per node in the order
 * the coordinator sent them. */
int fl_cc_list(fl_wire_conn_t *c, fl_map_t *map, fl_cc_status_t **st, uint32_t *n,
               fl_errmsg_t *em);

/* Splits and decodes an ADMIN_LIST_NODES payload (borrowed): map_len bytes
 * of encoded map, then a packed NodeStatusList. Pure; FL_EPROTO when the
 * split is wrong or the list does not decode, map codec errors otherwise.
 * Outputs as for fl_cc_list; nothing to free on error. */
int fl_cc_list_decode(const uint8_t *payload, uint64_t len, uint64_t map_len, fl_map_t *map,
                      fl_cc_status_t **st, uint32_t *n, fl_errmsg_t *em);

/* Admin changes; *epoch (may be NULL) gets the epoch after the change. */
int fl_cc_set_weight(fl_wire_conn_t *c, uint32_t id, uint32_t weight, uint64_t *epoch,
                     fl_errmsg_t *em);
int fl_cc_mark(fl_wire_conn_t *c, uint32_t id, int out, uint64_t *epoch, fl_errmsg_t *em);
int fl_cc_remove(fl_wire_conn_t *c, uint32_t id, uint64_t *epoch, fl_errmsg_t *em);
/* p borrowed; expect_epoch 0 = unconditional. */
int fl_cc_set_policy(fl_wire_conn_t *c, const fl_map_policy_t *p, uint64_t expect_epoch,
                     uint64_t *epoch, fl_errmsg_t *em);

#endif
