/* The storage node's repair worker (docs/repair.md): for every PG this
 * node leads in the current map, it checks the PG's summaries on every
 * node of the datacenter, and for each degraded PG (fewest survivors
 * first) propagates missed deletes, copies or rebuilds missing fragments
 * onto their holders, then drops stray copies. Rate-limited; runs on
 * threads of its own, never on the node's event loop. */
#ifndef FL_HEAL_H
#define FL_HEAL_H

#include <stdint.h>

#include "fl_cc.h"
#include "fl_err.h"
#include "fl_node.h"

typedef struct fl_heal fl_heal_t;

typedef struct fl_heal_opts {
  uint64_t rate;        /* bytes/s of fragments written by repair; 0 = unlimited */
  int64_t interval_ms;  /* a pass at least this often (and at every new map) */
  int parallel;         /* PGs worked at once */
  int inflight;         /* objects per pipelined batch of a PG position */
  int64_t settle_ms;    /* copies (rebalance) start once placement was unchanged this long */
} fl_heal_opts_t;


/* Starts the worker. cfg (its dc), coord (the map, the node's id) and
 * store (this node's fragments, read without the network when they are
 * sources; may be NULL) are borrowed until fl_heal_stop; o is copied. */
int fl_heal_start(const fl_node_cfg_t *cfg, fl_node_coord_t *coord, fl_store_t *store,
                  const fl_heal_opts_t *o, fl_heal_t **out, fl_errmsg_t *em);

/* Stops the threads (a fragment being written finishes first) and frees
 * everything. NULL is fine. */
void fl_heal_stop(fl_heal_t *h);

/* Asks for a pass soon (e.g. after a fragment was quarantined). Any thread. */
void fl_heal_kick(fl_heal_t *h);

/* Current figures (RepairProgress in proto/filmless.proto). Any thread;
 * NULL h gives zeros. The signature fits fl_node_coord_set_progress. */
void fl_heal_progress(void *h, fl_cc_repair_t *out);

#endif
