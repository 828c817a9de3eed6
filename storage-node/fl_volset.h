/* A directory of volumes: one active volume takes group-committed appends and
 * rolls over at a size limit; reads from any volume; compaction of sealed
 * volumes and rate-limited scrubbing run while reads and appends go on. */
#ifndef FL_VOLSET_H
#define FL_VOLSET_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "fl_err.h"
#include "fl_vol.h"

typedef struct fl_volset fl_volset_t;

/* Where a record landed. */
typedef struct fl_volset_loc {
  uint32_t vol_id;
  uint64_t off;
  uint64_t seq;
} fl_volset_loc_t;

/* Called by the group commit's sync stage after each successful fdatasync,
 * with every record it made durable, in file order, before any of their
 * writers wakes, with the records (seq assigned) and
 * where they landed; both borrowed for the call. A node updates its index
 * here, so index order is volume order and a write is acknowledged only
 * once it can be found. A non-zero return fails every append of the batch
 * (their bytes are durable all the same). */
typedef int (*fl_volset_durable_fn)(void *ctx, const fl_vol_rec_in_t *recs,
                                    const fl_volset_loc_t *locs, size_t n, fl_errmsg_t *em);

typedef struct fl_volset_opts {
  fl_vol_opts_t vol;        /* per-volume options (io, max_size, direct) */
  uint64_t max_batch_bytes; /* group-commit batch cap; 0 = 32 MiB */
  fl_volset_durable_fn durable; /* optional */
  void *durable_ctx;        /* borrowed by durable for the set's life */
} fl_volset_opts_t;

/* Opens (creating if needed) the set in dir, recovering every volume. o may
 * be NULL; its io is borrowed for the set's life. dir is copied. */
int fl_volset_open(const char *dir, const fl_volset_opts_t *o, fl_volset_t **out,
                   fl_errmsg_t *em);
/* No call on s may be in flight. NULL is fine. */
void fl_volset_close(fl_volset_t *s);

/* Appends n records as one group-committed unit and returns once they are
 * durable, with their locations in locs[n] (OUT). recs[i].seq == 0 gets the
 * next sequence number; a non-zero seq is kept (compaction preserves it).
 * recs and their buffers are borrowed for the call. Thread-safe. Errors as
 * fl_vol_append (FL_ENOSPC when the disk is full: nothing was written, and
 * later appends work once space returns). */
int fl_volset_append(fl_volset_t *s, const fl_vol_rec_in_t *recs, size_t n,
                     fl_volset_loc_t *locs, fl_errmsg_t *em);

/* Seals the active volume and starts a new one (serialised with appends). */
int fl_volset_roll(fl_volset_t *s, fl_errmsg_t *em);

/* fl_vol_read on volume vol_id; FL_ENOTFOUND if the volume is gone (e.g.
 * compacted: look the key up again). Thread-safe. */
int fl_volset_read(fl_volset_t *s, uint32_t vol_id, uint64_t off, fl_vol_rec_t *rec,
                   void *payload, uint64_t pay_off, uint64_t len, fl_errmsg_t *em);

/* fl_vol_read_alloc on volume vol_id (FL_ENOTFOUND if the volume is gone). */
int fl_volset_read_alloc(fl_volset_t *s, uint32_t vol_id, uint64_t off, fl_vol_rec_t *rec,
                         uint64_t pay_off, uint64_t len, void **base, void **data,
                         fl_errmsg_t *em);

/* Ids of the current volumes, ascending, into ids[cap] (OUT); returns how
 * many there are (may exceed cap). */
size_t fl_volset_list(fl_volset_t *s, uint32_t *ids, size_t cap);
uint32_t fl_volset_active_id(fl_volset_t *s);
/* File bytes of volume vol_id (0 if there is no such volume). */
uint64_t fl_volset_volume_bytes(fl_volset_t *s, uint32_t vol_id);
/* Total bytes of all volume files (their durable ends). */
uint64_t fl_volset_bytes(fl_volset_t *s);
/* Group-commit syncs (fdatasync rounds) and finished requests so far. */
void fl_volset_commit_stats(fl_volset_t *s, uint64_t *syncs, uint64_t *requests);

/* Index rebuild: calls fn for every valid record header of every volume, in
 * volume then file order. h is borrowed for the call. fn returns 0 to go on,
 * negative to stop (returned). Corrupt records are skipped and counted in
 * *corrupt (may be NULL). */
typedef int (*fl_volset_record_fn)(void *ctx, uint32_t vol_id, uint64_t off,
                                   const fl_vol_rec_hdr_t *h);
int fl_volset_foreach(fl_volset_t *s, fl_volset_record_fn fn, void *ctx, uint64_t *corrupt,
                      fl_errmsg_t *em);
/* The same, starting at record offset from_off of volume from_vol (a
 * checkpoint); volumes with a lower id are skipped. */
int fl_volset_foreach_from(fl_volset_t *s, uint32_t from_vol, uint64_t from_off,
                           fl_volset_record_fn fn, void *ctx, uint64_t *corrupt,
                           fl_errmsg_t *em);

/* Compaction callbacks. live: 1 if the record at (vol_id, off) is still
 * wanted (the index points at it, or it is a tombstone that still hides an
 * older put), 0 if dead, negative to abort. reloc: the record now also
 * lives at `to`; the index should point there (if it still pointed at the
 * old place). Both borrow h for the call and run on the compacting thread. */
typedef int (*fl_volset_live_fn)(void *ctx, uint32_t vol_id, uint64_t off,
                                 const fl_vol_rec_hdr_t *h);
typedef int (*fl_volset_reloc_fn)(void *ctx, const fl_vol_rec_hdr_t *h, uint32_t old_vol,
                                  uint64_t old_off, const fl_volset_loc_t *to);

typedef struct fl_volset_compact_stats {
  uint64_t records, live_records;
  uint64_t old_bytes;  /* file bytes of the compacted volume */
  uint64_t live_bytes; /* bytes rewritten into the active volume */
  uint64_t dead_bytes; /* old_bytes - live_bytes (superblock included) */
} fl_volset_compact_stats_t;

/* Rewrites the live records of sealed volume vol_id into the active volume
 * (keeping their seq), reports each move through reloc, then deletes the
 * volume. Reads of the old volume keep working for callers already inside
 * fl_volset_read. A corrupt record aborts with FL_ECORRUPT and deletes
 * nothing (repair it first). FL_EREFUSED for the active volume. */
int fl_volset_compact(fl_volset_t *s, uint32_t vol_id, fl_volset_live_fn live,
                      fl_volset_reloc_fn reloc, void *ctx, fl_volset_compact_stats_t *st,
                      fl_errmsg_t *em);

/* Scrub: re-reads every record of every volume, checks header, payload CRC
 * and padding, and reports each bad one through fn (why is a message,
 * borrowed for the call). Limited to mb_per_s MB/s (<= 0: no limit). Stops
 * early when *stop becomes non-zero (stop may be NULL). */
typedef void (*fl_volset_corrupt_fn)(void *ctx, uint32_t vol_id, uint64_t off, int code,
                                     const char *why);
typedef struct fl_volset_scrub_stats {
  uint64_t volumes, records, bytes, corrupt;
} fl_volset_scrub_stats_t;
int fl_volset_scrub(fl_volset_t *s, double mb_per_s, fl_volset_corrupt_fn fn, void *ctx,
                    const atomic_int *stop, fl_volset_scrub_stats_t *st, fl_errmsg_t *em);

#endif
