/* The storage node's fragment store: append-only volumes (the truth) plus the
 * RocksDB index kept in step with them. Put, get, delete, list and stat of
 * fragments, index replay after a crash, index rebuild, compaction and
 * scrubbing. Thread-safe; the network layer calls it from worker threads. */
#ifndef FL_STORE_H
#define FL_STORE_H

#include <stdatomic.h>
#include <stdint.h>

#include "fl_err.h"
#include "fl_idx.h"
#include "fl_idx_key.h"
#include "fl_volset.h"

typedef struct fl_store fl_store_t;

typedef struct fl_store_opts {
  uint64_t volume_max_bytes; /* roll the active volume past this; 0 = 1 GiB */
  int direct;                /* FL_VOL_DIRECT_* */
  fl_idx_opts_t idx;         /* zero = index defaults */
  const fl_vol_io_t *io;     /* NULL = real POSIX I/O; borrowed for the store's life */
  uint64_t reserve_bytes;    /* refuse puts (FL_ENOSPC) when less is free on the disk */
} fl_store_opts_t;

/* What opening found: torn tails truncated, records replayed into the index. */
typedef struct fl_store_open_report {
  uint64_t replayed; /* volume records applied to the index after its checkpoint */
  uint64_t corrupt;  /* unreadable records met while replaying (left for scrub) */
} fl_store_open_report_t;

/* Opens (creating if needed) the store in dir: dir/volumes/ and dir/index/.
 * Recovers every volume (torn tails cut), then replays the volume records
 * written after the index checkpoint. dir and o are copied/borrowed for the
 * call (o->io for the store's life); rep may be NULL. */
int fl_store_open(const char *dir, const fl_store_opts_t *o, fl_store_t **out,
                  fl_store_open_report_t *rep, fl_errmsg_t *em);

/* No call may be in flight. NULL is fine. */
void fl_store_close(fl_store_t *s);

/* One fragment to store. Strings inside key and attrs are copied. */
typedef struct fl_store_put {
  fl_idx_key_t key;      /* pg/tenant/study/series/sop/fragment */
  uint8_t layout;        /* fragment layout (erasure-coded or replica) */
  int encrypted;         /* payload is ciphertext (record flag) */
  uint64_t obj_size;     /* whole object's size */
  fl_idx_attrs_t attrs;  /* DICOM attributes for listings */
  int phi_encrypted;     /* attrs' patient id/name are ciphertext */
  const void *payload;   /* borrowed for the call */
  uint64_t payload_len;
  uint32_t payload_crc;  /* the sender's CRC32C: checked, not trusted... */
  int crc_verified;      /* ...unless already verified over these very bytes
                            (a frame's CRC, checked as they arrived) */
} fl_store_put_t;

/* Stores p durably and indexes it; returns once both are done. Immutable:
 * the same bytes again succeed with *existed = 1 and change nothing;
 * different bytes under a live key are FL_EEXIST. FL_ECORRUPT if the payload
 * does not match payload_crc (nothing written); FL_ENOSPC when the disk is
 * full or the put would eat into the reserve that keeps the index and
 * tombstones writable (nothing written, reads go on). existed may be NULL. */
int fl_store_put(fl_store_t *s, const fl_store_put_t *p, int *existed, fl_errmsg_t *em);

/* Looks k up: FL_ENOTFOUND if absent or deleted. v receives the entry. */
int fl_store_lookup(fl_store_t *s, const fl_idx_key_t *k, fl_idx_value_t *v, fl_errmsg_t *em);

/* Reads len bytes (0 = to the end) of k's payload from off into a buffer it
 * allocates: *base is the allocation (free() it), *data the bytes and *n
 * their count, with the entry in *v. A whole read verifies the payload CRC
 * (FL_ECORRUPT if the disk changed it; the fragment is then quarantined:
 * dropped as by fl_store_drop, logged and counted, so repair rebuilds it);
 * -EINVAL for a range past the end. */
int fl_store_get(fl_store_t *s, const fl_idx_key_t *k, uint64_t off, uint64_t len,
                 fl_idx_value_t *v, void **base, void **data, uint64_t *n, fl_errmsg_t *em);

/* Writes a tombstone for k (or, with all_frags, for every fragment of k's
 * object held here). *tombstoned counts fragments that were live. Deleting
 * what is absent succeeds with 0. */
int fl_store_delete(fl_store_t *s, const fl_idx_key_t *k, int all_frags, uint32_t *tombstoned,
                    fl_errmsg_t *em);

/* Removes this node's live fragment k without deleting the object (repair
 * moved it elsewhere): appends a drop record (FL_VOL_REC_F_TOMBSTONE |
 * FL_VOL_REC_F_DROP) and indexes it as FL_IDX_VF_TOMBSTONE |
 * FL_IDX_VF_DROPPED. The fragment then reads as absent, a later put of k
 * stores it again, and listings never show the drop as a tombstone.
 * *bytes (may be NULL) gets the payload bytes freed from the live set.
 * FL_ENOTFOUND if k is not live here. k is borrowed for the call. */
int fl_store_drop(fl_store_t *s, const fl_idx_key_t *k, uint64_t *bytes, fl_errmsg_t *em);

/* Summary of the live fragments of one (pg, fragment index) held here, for
 * repair (docs/repair.md). Digests are the XOR of fl_idx_key_obj_hash. */
typedef struct fl_store_pg_stat {
  uint32_t pg;
  uint16_t frag;
  uint64_t ec_count, ec_digest;           /* live erasure-coded fragments (layout 1) */
  uint64_t replica_count, replica_digest; /* live replicas (layout 0) */
  uint64_t bytes;                         /* their payload bytes */
} fl_store_pg_stat_t;

/* Every (pg, frag) with at least one live fragment, sorted by (pg, frag),
 * into an array it allocates: *out (free() it; NULL when *n is 0), *n
 * entries. Kept in memory by every put, delete, drop and quarantine, and
 * built from the index at open. -ENOMEM if the summaries could not grow
 * (they stay unusable until the store is reopened). */
int fl_store_pg_stats(fl_store_t *s, fl_store_pg_stat_t **out, size_t *n, fl_errmsg_t *em);

/* Counters for stat. */
typedef struct fl_store_stats {
  uint64_t volume_bytes; /* all volume files */
  uint64_t live_bytes;   /* payload bytes of live fragments */
  uint64_t objects;      /* live fragments */
  uint64_t tombstones;   /* deletes held in the index (drops are not deletes) */
  uint32_t volumes;
  uint64_t corrupt_found; /* by scrubbing and reads since start */
  uint64_t quarantined;   /* corrupt fragments dropped from the index since start */
  uint64_t compacted_bytes; /* freed by compaction since start */
  uint64_t commit_flushes, commit_requests;
} fl_store_stats_t;
int fl_store_stats(fl_store_t *s, fl_store_stats_t *out, fl_errmsg_t *em);

/* The index, for listings (fl_idx_scan); owned by the store. */
fl_idx_t *fl_store_index(fl_store_t *s);

/* Compacts every sealed volume whose dead bytes are at least min_dead_pct
 * percent of its size, while reads and writes go on. *reclaimed gets the
 * bytes freed (may be NULL). */
int fl_store_compact(fl_store_t *s, unsigned min_dead_pct, uint64_t *reclaimed,
                     fl_errmsg_t *em);

/* One full scrub pass at mb_per_s (0: unlimited), reporting each corrupt
 * record through the log and the corrupt_found counter; stops early when
 * *stop becomes non-zero. *found (may be NULL) gets this pass's count.
 * After the pass, each corrupt record that a live index entry points at
 * (that very volume and offset, not a newer copy) is quarantined as in
 * fl_store_get. */
int fl_store_scrub(fl_store_t *s, double mb_per_s, const atomic_int *stop, uint64_t *found,
                   fl_errmsg_t *em);

/* Rebuilds dir's index from its volumes alone into a fresh index at
 * dir/index (the old one is moved to dir/index.old.<time>, or deleted with
 * discard_old). The store must not be open. */
int fl_store_rebuild_index(const char *dir, const fl_store_opts_t *o, int discard_old,
                           uint64_t *records, fl_errmsg_t *em);

/* Rebuilds an index from dir's volumes into a scratch directory and compares
 * it with dir/index entry by entry (counts in *diff; equal when only
 * diff->equal is non-zero). The store must not be open. */
int fl_store_verify_index(const char *dir, const fl_store_opts_t *o, uint64_t *records,
                          fl_idx_diff_t *diff, fl_errmsg_t *em);

#endif
