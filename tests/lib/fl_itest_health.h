/* What integration tests of repair check: whether every object of a real
 * cluster is whole where the current map places it (every fragment present,
 * readable and verified at its position, no stray copies elsewhere), and
 * whether the nodes' repair workers report their work finished. */
#ifndef FL_ITEST_HEALTH_H
#define FL_ITEST_HEALTH_H

#include <stdint.h>
#include <stdio.h>

#include "fl_err.h"
#include "fl_nc.h"

/* Result of one health check, in the coordinator's map of epoch `epoch`. */
typedef struct fl_itest_health {
  uint64_t epoch;
  uint64_t objects;         /* distinct live objects listed on the up nodes */
  uint64_t ec_objects;      /* of those, erasure-coded (the rest replicated) */
  uint64_t healthy;         /* objects whole at every position of the map */
  uint64_t missing;         /* (object, position) pairs whose node lacks the fragment */
  uint64_t corrupt;         /* fragments at their position that failed to read or verify */
  uint64_t strays;          /* live fragments on a node the map does not place them on */
  uint64_t fragments;       /* live fragments listed */
  uint64_t bytes;           /* bytes of the fragments read and verified */
  uint32_t nodes_checked;   /* up nodes listed */
  uint32_t nodes_failed;    /* up nodes that could not be listed */
} fl_itest_health_t;

/* Takes the map from the coordinator at coord ("HOST:PORT", borrowed),
 * lists every PG (0..pg_count-1, LIST with whole_pg) on every up node, and
 * for each live object checks each placement position i (erasure-coded:
 * 0..k+m-1, replicated: 0..m): its node holds fragment i, whose bytes
 * (read whole) pass fl_ec_frag_verify with index i, the object's size and
 * the stripe id of the other positions; every other live fragment is a
 * stray. Problems are printed to log (NULL: stderr), at most 20. Returns 0
 * when the check ran (whatever it found; see fl_itest_health_ok), or the
 * error that stopped it (coordinator unreachable, placement impossible). */
int fl_itest_health_check(const char *coord, fl_itest_health_t *h, FILE *log, fl_errmsg_t *em);

/* 1 when every object is healthy, nothing is missing, corrupt or stray and
 * every up node was listed. */
int fl_itest_health_ok(const fl_itest_health_t *h);

/* Runs the check and ends the test (FL_CHECK) unless it found every
 * object whole and nothing stray, on exactly `nodes` up nodes holding
 * exactly `objects` objects; prints the result labelled `what`. */
void fl_itest_health_expect(const char *coord, const char *what, uint32_t nodes,
                            uint64_t objects);

/* One line: "health epoch E: N objects (X EC), H healthy, ..." */
void fl_itest_health_print(const fl_itest_health_t *h, const char *what, FILE *f);

/* Repair figures summed over the up nodes of the map (docs/repair.md). */
typedef struct fl_itest_repair_sum {
  uint64_t epoch;           /* coordinator's map epoch at the time */
  uint32_t nodes;           /* up nodes that answered STAT */
  uint32_t pgs_led, pgs_degraded;
  uint64_t bytes_left, fragments_left, bytes_done;
  uint64_t rebuilt, copied, dropped;
  uint64_t live_fragments;  /* StatResult.objects */
} fl_itest_repair_sum_t;

/* STAT of one node at addr ("HOST:PORT"): *st gets the scalars, *rp
 * (cleared first) a copy of the repair figures when the node sent them. */
int fl_itest_node_stat(const char *addr, Fl__StatResult *st, Fl__RepairProgress *rp,
                       fl_errmsg_t *em);

/* Sums the STATs of the up nodes of the coordinator's current map. */
int fl_itest_repair_sum(const char *coord, fl_itest_repair_sum_t *sum, fl_errmsg_t *em);

/* Polls (every 250 ms, up to timeout_ms) until repair is finished in the
 * coordinator's current epoch E: every up node has installed E, reports
 * repair.epoch == E and pgs_degraded == 0, and has completed another pass
 * since it was first seen so (so at least one whole pass ran clean in E).
 * *sum (may be NULL) gets the final figures. 0, or -ETIMEDOUT with each
 * node's state printed to stderr. */
int fl_itest_repair_wait(const char *coord, int timeout_ms, fl_itest_repair_sum_t *sum,
                         fl_errmsg_t *em);

#endif
