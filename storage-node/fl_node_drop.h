/* The guard on DELETE with `drop`: a node removes its copy of a fragment
 * only when its own cluster map, at the requester's epoch, places that
 * fragment elsewhere (docs/repair.md, "Drops are guarded"). Pure. */
#ifndef FL_NODE_DROP_H
#define FL_NODE_DROP_H

#include <stdint.h>

#include "fl_err.h"
#include "fl_map.h"

/* 0 when node self_id (in datacenter dc) may drop fragment frag of pg at a
 * request made with map epoch req_epoch; otherwise FL_EREFUSED with the
 * reason in em: no map (map NULL: "this node has no cluster map"), no node
 * id yet, an epoch that differs from map->epoch, a pg the map does not
 * have, a placement that cannot be computed, or frag placed on self_id.
 * dc NULL or empty means the datacenter the map records for self_id. map
 * and dc are borrowed for the call. */
int fl_node_drop_check(const fl_map_t *map, uint32_t self_id, const char *dc, uint32_t pg,
                       uint32_t frag, uint64_t req_epoch, fl_errmsg_t *em);

#endif
