/* Placement: (cluster map, pg, datacenter) -> ordered list of k+m node ids,
 * position i holding fragment i. Pure and deterministic: integer arithmetic
 * only, so every client, node and coordinator computes the same answer.
 * Algorithm and properties: docs/placement.md. */
#ifndef FL_PLACE_H
#define FL_PLACE_H

#include <stdint.h>

#include "fl_err.h"
#include "fl_map.h"

/* A placement index compiled from one map epoch: per datacenter, its racks
 * and their nodes, plus a copy of the upmap table. Immutable once built, so
 * any number of threads may place with it concurrently. */
typedef struct fl_place fl_place_t;

/* Builds the index. map is borrowed for the call only (the index keeps
 * copies). The map must pass fl_map_validate_policy; datacenters with fewer
 * than k+m usable nodes are accepted here and fail at fl_place_pg time, so
 * one degraded datacenter does not stop placement in the others.
 * On success *out is owned by the caller (fl_place_free). */
int fl_place_new(const fl_map_t *map, fl_place_t **out, fl_errmsg_t *em);
void fl_place_free(fl_place_t *pl);

/* Flags for fl_place_pg. */
#define FL_PLACE_RAW 0x1u /* ignore the upmap table (the balancer's view) */

/* Writes the k+m node ids of pg in datacenter dc (policy index) to out[0..k+m).
 * Small objects use the first m+1 positions. Never repeats a node; uses
 * k+m distinct racks whenever the datacenter has at least k+m racks with
 * usable nodes, and otherwise spreads positions as evenly as it can over
 * racks. Out nodes and weight-0 nodes get nothing; a down but in node keeps
 * its positions. FL_EUNAVAIL if the datacenter has fewer than k+m usable
 * nodes; FL_ECONFIG if pg or dc is out of range. */
int fl_place_pg(const fl_place_t *pl, uint32_t pg, uint32_t dc, uint32_t flags,
                uint32_t out[], fl_errmsg_t *em);

/* One-shot convenience: builds an index, places, frees. dc is a name. */
int fl_place_pg_nodes(const fl_map_t *map, uint32_t pg, const char *dc, uint32_t out[],
                      fl_errmsg_t *em);

/* k+m of the index. */
uint32_t fl_place_width(const fl_place_t *pl);

/* Where node id sits in the index: its datacenter index and a rack index
 * within that datacenter (racks numbered by name order). -1 if unknown. */
int fl_place_node_loc(const fl_place_t *pl, uint32_t id, uint32_t *dc, uint32_t *rack);

/* Number of racks (with at least one node, any state) in datacenter dc. */
uint32_t fl_place_rack_count(const fl_place_t *pl, uint32_t dc);

/* --- building blocks, exposed for tests -------------------------------- */

/* log2(x) in unsigned Q32.32 for x >= 1 (0 for x == 0), from a 1025-entry
 * table computed with exact integer squaring plus linear interpolation:
 * absolute error below 2^-22, identical on every machine. */
uint64_t fl_place_log2_q32(uint64_t x);

/* The straw2 key of a draw: with u = (hash >> 16) + 1 in [1, 2^48],
 * key = (-log2(u / 2^48) in Q32 << 24) / weight. The smallest key wins,
 * which makes P(win) proportional to weight (an exponential race).
 * weight must be > 0. */
uint64_t fl_place_straw2_key(uint64_t hash, uint32_t weight);

#endif
