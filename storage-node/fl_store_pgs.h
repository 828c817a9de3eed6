/* The store's per-(pg, fragment index) summaries of live fragments: an
 * open-addressing hash table of counts, XOR digests and bytes. Pure memory,
 * no locking (fl_store holds its counter mutex around every call). */
#ifndef FL_STORE_PGS_H
#define FL_STORE_PGS_H

#include <stddef.h>
#include <stdint.h>

#include "fl_store.h"

typedef struct fl_store_pgs {
  fl_store_pg_stat_t *slots; /* owned; cap entries */
  uint8_t *used;             /* owned; 1 where slots[i] holds a (pg, frag) */
  size_t cap;                /* a power of two, or 0 before the first add */
  size_t n;                  /* used slots (entries at zero counts included) */
  int broken;                /* an allocation failed: the figures are incomplete */
} fl_store_pgs_t;

/* An empty table (no allocation until the first add). */
void fl_store_pgs_init(fl_store_pgs_t *t);
void fl_store_pgs_free(fl_store_pgs_t *t);

/* Adds (sign > 0) or removes (sign < 0) one live fragment of (pg, frag):
 * layout 0 counts as a replica, anything else as erasure-coded; obj_hash is
 * fl_idx_key_obj_hash of its key. -ENOMEM if the table could not grow (it
 * is marked broken). */
int fl_store_pgs_add(fl_store_pgs_t *t, uint32_t pg, uint16_t frag, uint8_t layout,
                     uint64_t obj_hash, uint64_t bytes, int sign);

/* Entries with at least one live fragment, sorted by (pg, frag), into a
 * malloc'd *out (NULL when *n is 0). -ENOMEM on allocation failure or if the
 * table is broken. */
int fl_store_pgs_snapshot(const fl_store_pgs_t *t, fl_store_pg_stat_t **out, size_t *n);

#endif
