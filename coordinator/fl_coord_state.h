/* The coordinator's state machine: the cluster map plus what is known of
 * each node between heartbeats, and every change to them (register,
 * heartbeat, grace-period transitions, admin changes) as a pure function of
 * the current state, the request and the time, passed in. No I/O: the
 * server persists a proposed map before committing it. Rules:
 * docs/coordinator.md. */
#ifndef FL_COORD_STATE_H
#define FL_COORD_STATE_H

#include <stdint.h>

#include "fl_cc.h"
#include "fl_err.h"
#include "fl_map.h"

/* Heartbeat-time knowledge of one node; not in the map, never persisted
 * except auto_out. Index-aligned with nothing: looked up by id. */
typedef struct fl_coord_live {
  uint32_t id;
  int seen;                  /* heard from since this coordinator started */
  int auto_out;              /* marked out by the grace period (persisted) */
  uint64_t last_seen_ms;     /* coordinator clock at the last register/heartbeat */
  uint64_t capacity_bytes, used_bytes, objects, corrupt;
  char version[32];
  fl_cc_repair_t repair;     /* last heartbeat's; zeroed while the committed map
                              * says down, and at register (a restart) */
} fl_coord_live_t;

typedef struct fl_coord_timing {
  uint64_t down_after_ms;    /* silent this long: down */
  uint64_t out_after_ms;     /* silent this long: out (> down_after_ms) */
} fl_coord_timing_t;

/* Owned by one thread (the coordinator's loop). */
typedef struct fl_coord_state {
  fl_map_t map;              /* committed map: what is served and persisted */
  fl_map_t next;             /* proposed by the last change, until commit/abort */
  int has_next;
  uint32_t next_id;          /* next id to hand out; ids are never reused */
  uint32_t next_next_id;     /* next_id once `next` commits */
  fl_coord_live_t *live;     /* sorted by id, one per node of the map */
  uint32_t live_count, live_cap;
  fl_coord_timing_t timing;
  uint64_t start_ms;         /* clock at init: silent grace starts here */
} fl_coord_state_t;

/* Starts from a persisted map (copied; NULL: an empty map with *policy,
 * epoch 0), next_id (0: one past the largest id) and the ids marked out by
 * the grace period (auto_out, n_auto; copied). Every node counts as last
 * seen at now_ms, so each gets a full grace period after a restart. */
int fl_coord_state_init(fl_coord_state_t *st, const fl_map_t *map, const fl_map_policy_t *policy,
                        uint32_t next_id, const uint32_t *auto_out, uint32_t n_auto,
                        const fl_coord_timing_t *timing, uint64_t now_ms, fl_errmsg_t *em);
void fl_coord_state_free(fl_coord_state_t *st);

/* ---- changes ------------------------------------------------------------ *
 * Each returns 1 when it proposes a new map in st->next (epoch + 1), 0 when
 * the map is unchanged (nothing proposed), or a negative code with em
 * saying why it was refused (nothing proposed, nothing changed). A proposal
 * must be ended by fl_coord_commit (after persisting st->next) or
 * fl_coord_abort before the next change. Heartbeat figures are recorded at
 * once; they are not part of the map. */

typedef struct fl_coord_reg {
  uint32_t id;               /* 0: assign a new one */
  const char *addr, *dc, *rack, *version; /* borrowed for the call */
  uint64_t capacity_bytes;
} fl_coord_reg_t;

/* A node starts. New id: added up and in, weight from its capacity (GiB,
 * at least 1). Known id: must have the same address, datacenter and rack
 * (FL_EREFUSED otherwise: another node claims the id, or a node moved);
 * it goes up, and in again if the grace period had marked it out. An id
 * never handed out is FL_EREFUSED. *id_out gets the node's id. */
int fl_coord_register(fl_coord_state_t *st, const fl_coord_reg_t *r, uint64_t now_ms,
                      uint32_t *id_out, fl_errmsg_t *em);

typedef struct fl_coord_hb {
  uint32_t id;
  uint64_t capacity_bytes, used_bytes, objects, corrupt;
  fl_cc_repair_t repair;
} fl_coord_hb_t;

/* A node is alive: records the figures (never a new epoch by themselves);
 * a down node goes up (and in, if the grace period took it out).
 * FL_ENOTFOUND for an unknown id (the node should register). */
int fl_coord_heartbeat(fl_coord_state_t *st, const fl_coord_hb_t *hb, uint64_t now_ms,
                       fl_errmsg_t *em);

/* Grace periods at now_ms: up nodes silent for down_after go down; in
 * nodes silent for out_after go out (auto_out), unless that would leave
 * their datacenter below k+m usable nodes (then they stay in, logged by
 * the caller through *held, may be NULL). All transitions of one tick make
 * one epoch. */
int fl_coord_tick(fl_coord_state_t *st, uint64_t now_ms, uint32_t *held, fl_errmsg_t *em);

int fl_coord_set_weight(fl_coord_state_t *st, uint32_t id, uint32_t weight, fl_errmsg_t *em);
/* out = 1: mark out (drain); 0: mark in. Clears auto_out either way. */
int fl_coord_mark(fl_coord_state_t *st, uint32_t id, int out, fl_errmsg_t *em);
/* Only an out node may go, and only when it is down (its data counts as
 * lost and is rebuilt elsewhere) or its last heartbeat reported no
 * fragments; an up node still holding some is refused, naming `filmless
 * node drain`. */
int fl_coord_remove(fl_coord_state_t *st, uint32_t id, fl_errmsg_t *em);
/* pg_count may change only while the map has no node. expect_epoch 0:
 * unconditional; else FL_EREFUSED unless it is the current epoch. */
int fl_coord_set_policy(fl_coord_state_t *st, const fl_map_policy_t *p, uint64_t expect_epoch,
                        fl_errmsg_t *em);

/* Makes st->next the map (call once it is durable). Nodes down in it lose
 * their repair figures, so a dead node's work left is not counted. */
void fl_coord_commit(fl_coord_state_t *st);
/* Drops st->next (its persistence failed): the map stays as it was (and
 * its down nodes keep no repair figures either). */
void fl_coord_abort(fl_coord_state_t *st);

/* ---- queries ------------------------------------------------------------ */

/* Heartbeat knowledge of node id, or NULL. Borrowed until the next change. */
const fl_coord_live_t *fl_coord_live(const fl_coord_state_t *st, uint32_t id);

/* Ids marked out by the grace period, ascending, into out (cap entries);
 * returns how many there are (may exceed cap). For persistence. */
uint32_t fl_coord_auto_out(const fl_coord_state_t *st, uint32_t *out, uint32_t cap);

/* The refusal rule, pure, exposed for tests: after may not leave any
 * datacenter holding nodes with fewer than k+m usable ones, unless the
 * change made it no worse there (more usable nodes and no wider policy),
 * which lets a cluster grow node by node. FL_EREFUSED naming the
 * datacenter and the counts. */
int fl_coord_check_change(const fl_map_t *before, const fl_map_t *after, fl_errmsg_t *em);

#endif
