/* Drop guard: compares the requester's epoch with the node's own map and
 * places the PG with that map, so a leader with a stale map can never make
 * a node drop a fragment the current map still puts there. */
#include "fl_node_drop.h"

#include <inttypes.h>

#include "fl_place.h"

int fl_node_drop_check(const fl_map_t *map, uint32_t self_id, const char *dc, uint32_t pg,
                       uint32_t frag, uint64_t req_epoch, fl_errmsg_t *em) {
  if (!map)
    return fl_errf(em, FL_EREFUSED,
                   "drop refused: this node has no cluster map (standalone or not yet "
                   "registered), so it cannot tell where fragment %u of pg %u belongs",
                   frag, pg);
  if (self_id == 0)
    return fl_errf(em, FL_EREFUSED, "drop refused: this node has no id in the cluster map yet");
  if (req_epoch != map->epoch)
    return fl_errf(em, FL_EREFUSED,
                   "drop refused: request made with map epoch %" PRIu64
                   ", this node has epoch %" PRIu64 " (retry on the next pass)",
                   req_epoch, map->epoch);
  if (pg >= map->policy.pg_count)
    return fl_errf(em, FL_EREFUSED, "drop refused: pg %u is not below the map's pg count %u",
                   pg, map->policy.pg_count);
  if (!dc || !dc[0]) {
    const fl_map_node_t *n = fl_map_find_node(map, self_id);
    if (!n)
      return fl_errf(em, FL_EREFUSED, "drop refused: node %u is not in map epoch %" PRIu64,
                     self_id, map->epoch);
    dc = n->dc;
  }
  uint32_t width = map->policy.k + map->policy.m;
  if (frag >= width)
    return 0; /* no position holds this index: never wanted anywhere */
  uint32_t nodes[FL_MAP_WIDTH_MAX];
  fl_errmsg_t why = {{0}};
  int rc = fl_place_pg_nodes(map, pg, dc, nodes, &why);
  if (rc)
    return fl_errf(em, FL_EREFUSED, "drop refused: cannot place pg %u in datacenter %s: %s",
                   pg, dc, fl_errmsg_str(&why, rc));
  if (nodes[frag] == self_id)
    return fl_errf(em, FL_EREFUSED,
                   "drop refused: map epoch %" PRIu64 " places fragment %u of pg %u on this "
                   "node (%u)",
                   map->epoch, frag, pg, self_id);
  return 0;
}
