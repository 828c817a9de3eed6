/* The storage node's side of membership: a thread that registers with the
 * coordinator (--coord) and heartbeats, and one that watches the cluster
 * map (WATCH_MAP); each new map goes into <data>/cluster.map, then memory,
 * so a node keeps its last map while the coordinator is away and after its
 * own restart. */
#ifndef FL_NODE_COORD_H
#define FL_NODE_COORD_H

#include <stdint.h>

#include "fl_cc.h"
#include "fl_err.h"
#include "fl_map.h"
#include "fl_node.h"
#include "fl_store.h"


/* Files in the data directory. */
#define FL_NODE_COORD_MAP_FILE "cluster.map" /* fl_map_encode bytes of the last map */
#define FL_NODE_COORD_ID_FILE "node.id"      /* the id the coordinator assigned, text */

/* Loads <data>/cluster.map if present and starts the threads. cfg and store
 * are borrowed until fl_node_coord_stop; port is the port the node serves
 * on (registered with cfg->listen's host). A coordinator that cannot be
 * reached is not an error: the threads retry. A stored map that does not
 * decode is logged and ignored (the coordinator sends a fresh one). */
int fl_node_coord_start(const fl_node_cfg_t *cfg, fl_store_t *store, int port,
                        fl_node_coord_t **out, fl_errmsg_t *em);

/* Stops the threads and frees everything; NULL is fine. Does not wait
 * for a map poll in flight (its socket is shut down). */
void fl_node_coord_stop(fl_node_coord_t *nc);

/* The figures the progress function gives now (zeros without one or with
 * nc NULL), for STAT. Any thread. */
void fl_node_coord_progress(fl_node_coord_t *nc, fl_cc_repair_t *out);

/* Where the heartbeats' repair figures come from. fn is called on the
 * heartbeat thread just before each heartbeat with *out zeroed, and
 * fills it; fn NULL: heartbeats carry zeros (no repair work). Any thread,
 * any time. Once this returns, the previous fn is neither running nor
 * called again, so its arg may be freed. fn must be quick (no I/O: it
 * delays the heartbeat) and must not call fl_node_coord_set_progress; nor
 * may a caller hold a lock fn takes while calling it. arg is borrowed
 * until fl_node_coord_set_progress replaces it or fl_node_coord_stop. nc
 * NULL (a node without --coord) is a no-op. */
void fl_node_coord_set_progress(fl_node_coord_t *nc, void (*fn)(void *arg, fl_cc_repair_t *out),
                                void *arg);

/* Epoch of the map the node holds (0: none yet). Any thread. It only goes
 * up: a map is installed only if its epoch is newer. */
uint64_t fl_node_coord_epoch(fl_node_coord_t *nc);

/* The node's id: --id, else the one the coordinator assigned (0: none
 * yet). Any thread. */
uint32_t fl_node_coord_id(fl_node_coord_t *nc);

/* A copy of the node's current map into out (fl_map_free it). FL_ENOTFOUND
 * when it has none yet. Any thread. */
int fl_node_coord_map(fl_node_coord_t *nc, fl_map_t *out, fl_errmsg_t *em);

#endif
