/* The cluster map: an epoch, the policy (k, m, PG count, datacenters...),
 * the nodes with their location, weight and state, and the upmap exception
 * table the balancer produces. A plain data model: no I/O, no locking. */
#ifndef FL_MAP_H
#define FL_MAP_H

#include <stdint.h>

#include "fl_err.h"

/* Fixed-size string fields (NUL-terminated, so at most SIZE-1 characters):
 * a map copies with memcpy, compares with memcmp, and a node never owns
 * heap memory. Names (datacenter, rack) are [A-Za-z0-9._-]+. */
#define FL_MAP_NAME_MAX 32
#define FL_MAP_ADDR_MAX 64
#define FL_MAP_DC_MAX 8
/* Upper bound on k+m (and on m+1 replicas): placement outputs fit on stack. */
#define FL_MAP_WIDTH_MAX 32

/* Node state bits. `up`: answering heartbeats. `in`: holds placement.
 * A down but in node keeps its placement (reads go degraded, repair waits);
 * an out node gets none (its PGs are re-placed, which drives repair). */
#define FL_NODE_UP 0x1u
#define FL_NODE_IN 0x2u

typedef struct fl_map_node {
  uint32_t id;                 /* unique in the map, > 0, never reused */
  uint32_t weight;             /* capacity in any fixed unit (e.g. GiB); 0 = none */
  uint32_t state;              /* FL_NODE_UP | FL_NODE_IN bits */
  char addr[FL_MAP_ADDR_MAX];  /* "host:port" the node listens on */
  char dc[FL_MAP_NAME_MAX];    /* one of the policy's datacenters */
  char rack[FL_MAP_NAME_MAX];  /* rack name, unique within its datacenter */
} fl_map_node_t;

enum fl_map_repl { FL_REPL_ASYNC = 0, FL_REPL_SYNC = 1 };

typedef struct fl_map_policy {
  uint32_t k;                  /* data fragments, >= 1 */
  uint32_t m;                  /* parity fragments; small objects get m+1 replicas */
  uint32_t pg_count;           /* >= 1, fixed for the life of the cluster */
  uint32_t small_threshold;    /* bytes: objects below are replicated, not coded */
  uint32_t min_write;          /* fragments durable before a put succeeds, k..k+m */
  uint32_t repl_mode;          /* enum fl_map_repl, between datacenters */
  uint32_t dc_count;           /* 1..FL_MAP_DC_MAX */
  char dcs[FL_MAP_DC_MAX][FL_MAP_NAME_MAX]; /* datacenter names, distinct */
} fl_map_policy_t;

/* One upmap exception, Ceph pg_upmap_items style: in PG `pg`, the fragment
 * that placement puts on node `from` goes to node `to` instead. Pairs rather
 * than whole lists, so that when `to` later fails the PG falls back to its
 * computed node for that one fragment instead of losing the whole entry. */
typedef struct fl_map_upmap {
  uint32_t pg;
  uint32_t from;
  uint32_t to;
} fl_map_upmap_t;

typedef struct fl_map {
  uint64_t epoch;              /* set by the owner (coordinator); never bumped here */
  fl_map_policy_t policy;
  fl_map_node_t *nodes;        /* owned, sorted by id ascending */
  uint32_t node_count;
  uint32_t node_cap;
  fl_map_upmap_t *upmap;       /* owned, sorted by (pg, from), unique (pg, from) */
  uint32_t upmap_count;
  uint32_t upmap_cap;
} fl_map_t;

/* Initializes an empty map with a copy of *policy (validated: see
 * fl_map_validate_policy) and epoch 0. On error the map is left empty and
 * needs no fl_map_free. */
int fl_map_init(fl_map_t *map, const fl_map_policy_t *policy, fl_errmsg_t *em);

/* Releases the arrays; the map is empty afterwards (safe to call twice). */
void fl_map_free(fl_map_t *map);

/* Deep copy into dst (uninitialized; overwritten). On error dst is empty. */
int fl_map_copy(fl_map_t *dst, const fl_map_t *src, fl_errmsg_t *em);

/* The policy alone: k >= 1, k+m <= FL_MAP_WIDTH_MAX, pg_count >= 1,
 * k <= min_write <= k+m, 1..FL_MAP_DC_MAX distinct valid dc names. */
int fl_map_validate_policy(const fl_map_policy_t *policy, fl_errmsg_t *em);

/* Adds a copy of *node. FL_EEXIST if the id is taken, FL_ECONFIG if a field
 * is invalid (id 0, unknown datacenter, bad rack name, unterminated string,
 * unknown state bits). The map is unchanged on error. */
int fl_map_add_node(fl_map_t *map, const fl_map_node_t *node, fl_errmsg_t *em);

/* Replaces the node with node->id (weight, state, address, location).
 * FL_ENOTFOUND if absent; same field checks as add. */
int fl_map_update_node(fl_map_t *map, const fl_map_node_t *node, fl_errmsg_t *em);

/* Removes node id and every upmap pair naming it. FL_ENOTFOUND if absent. */
int fl_map_remove_node(fl_map_t *map, uint32_t id, fl_errmsg_t *em);

/* The node with id, or NULL. Borrowed: valid until the next change. */
const fl_map_node_t *fl_map_find_node(const fl_map_t *map, uint32_t id);

/* Index of datacenter name in policy.dcs, or -1. */
int fl_map_dc_index(const fl_map_t *map, const char *dc);

/* Sets the pair for (pg, from), replacing an existing one. Checks that pg
 * is below pg_count and that both nodes exist in the same datacenter and
 * differ (FL_ECONFIG otherwise). */
int fl_map_upmap_set(fl_map_t *map, uint32_t pg, uint32_t from, uint32_t to,
                     fl_errmsg_t *em);

/* Drops every upmap pair. */
void fl_map_upmap_clear(fl_map_t *map);

/* The pairs of pg: *out points into the map (borrowed until the next change),
 * returns their count (0 and *out = NULL when none). */
uint32_t fl_map_upmap_of(const fl_map_t *map, uint32_t pg, const fl_map_upmap_t **out);

/* Usable nodes are in, weight > 0. */
static inline int fl_map_node_usable(const fl_map_node_t *n) {
  return (n->state & FL_NODE_IN) && n->weight > 0;
}

/* Whole-map check: policy, nodes sorted by unique id with valid fields,
 * upmap pairs consistent, and every datacenter with at least k+m usable
 * nodes (FL_EUNAVAIL, naming the datacenter and the counts). */
int fl_map_validate(const fl_map_t *map, fl_errmsg_t *em);

/* 1 if placement computed from a may differ from placement computed from b
 * for some PG: the placement-relevant policy (k, m, pg_count,
 * datacenters), any node's id, datacenter, rack, weight or `in` bit, or
 * the upmap table differ. Up/down and address changes do not move
 * fragments (a down node keeps its positions), so they return 0. Both maps
 * borrowed for the call. */
int fl_map_placement_differs(const fl_map_t *a, const fl_map_t *b);

#endif
