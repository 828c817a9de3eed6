/* The pure logic of repair (docs/repair.md): whether a PG is clean, judged
 * from the per-(pg, fragment) summaries its nodes report, and, for a PG
 * that is not, the list of operations that makes it complete in the
 * current map: deletes to propagate, fragments to copy or rebuild, stray
 * copies to drop. No I/O: the repair worker (fl_heal.c) fetches what this
 * reads and carries out what it plans. */
#ifndef FL_HEAL_PLAN_H
#define FL_HEAL_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "fl_err.h"
#include "fl_map.h"

#define FL_HEAL_WIDTH_MAX FL_MAP_WIDTH_MAX

/* One node's summary of its live fragments of one (pg, fragment index). */
typedef struct fl_heal_stat {
  int node;          /* the caller's node number (any small integer >= 0) */
  uint32_t frag;
  uint64_t ec_count, ec_digest;
  uint64_t replica_count, replica_digest;
  uint64_t bytes;
} fl_heal_stat_t;

/* What the current map says of one PG, and who answered. */
typedef struct fl_heal_pg {
  uint32_t pg;
  uint32_t k, m;
  int place[FL_HEAL_WIDTH_MAX]; /* node at each position (k+m of them), -1: none */
  const uint8_t *answered;      /* answered[node]: its summaries/listing are known */
  int nodes;                    /* size of answered[] */
} fl_heal_pg_t;

/* Verdict on one PG from its summaries. */
typedef struct fl_heal_check {
  int clean;                  /* complete in this map, nothing to do */
  int blocked;                /* a position's node did not answer: not judged clean */
  uint32_t survivors;         /* estimated healthy fragments of its worst object */
  uint64_t fragments_left;    /* estimated fragments to write */
  uint64_t bytes_left;        /* estimated bytes to write */
  uint32_t strays;            /* (node, fragment) summaries the map does not place there */
} fl_heal_check_t;

/* Judges pg from stats (n entries, all of this PG, any order, borrowed for
 * the call) per docs/repair.md "What complete means". */
void fl_heal_check(const fl_heal_pg_t *pg, const fl_heal_stat_t *stats, size_t n,
                   fl_heal_check_t *out);

/* One fragment (or tombstone) some node listed for the PG. */
typedef struct fl_heal_entry {
  int node;
  const char *tenant, *study, *series, *sop; /* borrowed until the plan is freed */
  uint32_t frag;
  uint64_t fsize, osize;    /* fragment and object size */
  int ec;                   /* 1: erasure-coded, 0: replica */
  int tombstone;            /* a client deleted the object on that node */
  size_t ref;               /* the caller's index of this entry (e.g. its metadata) */
} fl_heal_entry_t;

enum fl_heal_op_kind {
  FL_HEAL_DELETE = 1, /* target deletes every fragment of the object (it missed a delete) */
  FL_HEAL_COPY,       /* read frag from source, write it to target */
  FL_HEAL_REBUILD,    /* decode the object from its survivors, write frag to target */
  FL_HEAL_DROP        /* target drops its stray copy of frag (only once the PG is complete) */
};

typedef struct fl_heal_op {
  int kind;
  int target, source;  /* nodes; source only for COPY */
  uint32_t frag;
  size_t obj;          /* index into fl_heal_plan_t.objs */
} fl_heal_op_t;

/* One object of the PG with what is known of it. */
typedef struct fl_heal_obj {
  const fl_heal_entry_t *meta;         /* a live, consistent entry of it (metadata) */
  int src[FL_HEAL_WIDTH_MAX];          /* a node holding each fragment index live, -1 */
  uint32_t survivors;                  /* distinct fragment indexes held live */
  int deleted;
  int lost;                            /* too few survivors to rebuild */
} fl_heal_obj_t;

typedef struct fl_heal_plan {
  fl_heal_obj_t *objs;
  size_t n_objs;
  fl_heal_op_t *ops;   /* DELETE, then COPY/REBUILD by ascending frag, then DROP */
  size_t n_ops;
  uint32_t min_survivors; /* over live objects; 0 if there are none */
  uint64_t lost;          /* objects with too few survivors */
  uint64_t bytes;         /* bytes COPY and REBUILD write */
  int blocked;            /* a position's node did not answer: no DROP planned */
} fl_heal_plan_t;

/* Plans pg from every entry listed by the nodes that answered (entries:
 * borrowed until fl_heal_plan_free; reordered in place). Fragments whose
 * layout or object size differ from the object's first live entry are
 * another write of the key: never used as sources, never dropped. */
int fl_heal_plan_build(const fl_heal_pg_t *pg, fl_heal_entry_t *entries, size_t n,
                       fl_heal_plan_t *out, fl_errmsg_t *em);
void fl_heal_plan_free(fl_heal_plan_t *p);

/* Positions an object of this layout occupies: k+m, or m+1 for replicas. */
static inline uint32_t fl_heal_width(const fl_heal_pg_t *pg, int ec) {
  return ec ? pg->k + pg->m : pg->m + 1;
}

#endif
