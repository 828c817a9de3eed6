/* Upmap balancer: adds (pg, from -> to) exceptions to a cluster map so that
 * every node's fill (fragments / weight) ends within a bound of its
 * datacenter's mean, moving one fragment per exception and keeping the
 * placement's rack rule. Pure: a map in, a map out. */
#ifndef FL_BALANCE_H
#define FL_BALANCE_H

#include <stdint.h>

#include "fl_err.h"
#include "fl_map.h"

typedef struct fl_balance_opts {
  uint32_t target_permille; /* stop when max fill <= this x mean (e.g. 1050) */
  uint32_t max_changes;     /* upper bound on pairs added or changed (0 = none) */
} fl_balance_opts_t;

typedef struct fl_balance_stats {
  double before;            /* max/mean fill over usable nodes, worst datacenter */
  double after;
  uint32_t changes;         /* upmap pairs added, retargeted or removed */
} fl_balance_stats_t;

/* Max/mean fill of the map as placed now (upmap applied), worst datacenter. */
int fl_balance_fill(const fl_map_t *map, double *maxmean, fl_errmsg_t *em);

/* Balances map in place (only its upmap table changes). Existing pairs are
 * kept and may be retargeted. opts is borrowed for the call; stats may be
 * NULL. On error the map's upmap table may hold part of the changes, each
 * of them valid. Deterministic: ties go to the lower node id / pg. */
int fl_balance_run(fl_map_t *map, const fl_balance_opts_t *opts, fl_balance_stats_t *stats,
                   fl_errmsg_t *em);

#endif
