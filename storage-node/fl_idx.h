/* The storage node's index: object key -> record location and attributes,
 * in RocksDB. Newest record wins, a checkpoint of the volume position
 * applied commits with every batch, and prefix scans list a study. */
#ifndef FL_IDX_H
#define FL_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "fl_err.h"
#include "fl_idx_key.h"

typedef struct fl_idx fl_idx_t;

/* Tuning; zero fields take the defaults documented in docs/index.md. */
typedef struct fl_idx_opts {
  size_t block_cache_bytes;  /* LRU cache for data, index and filter blocks (64 MiB) */
  size_t write_buffer_bytes; /* one memtable (32 MiB); at most two exist */
} fl_idx_opts_t;

/* Opens (creating if missing) the index at path. path is copied; opts may be
 * NULL. Failures from RocksDB are FL_ESTORE with its text in em; an index
 * written by another format version is FL_EVERSION. *out is set only on
 * success. */
int fl_idx_open(const char *path, const fl_idx_opts_t *opts, fl_idx_t **out, fl_errmsg_t *em);

/* Flushes nothing extra (the WAL holds unflushed writes) and frees idx.
 * No batch or iterator of idx may remain open. NULL is a no-op. */
void fl_idx_close(fl_idx_t *idx);

/* Deletes the index files at path (for rebuilding into a fresh directory).
 * The index must not be open. */
int fl_idx_destroy(const char *path, fl_errmsg_t *em);

/* ---- Checkpoint: how far the volumes have been applied --------------------
 * Written in the same atomic batch as the entries it covers, so after a
 * crash the index holds exactly the records up to its checkpoint and the
 * node replays the volumes from there (see docs/index.md). */
typedef struct fl_idx_ckpt {
  uint32_t volume; /* volume id of the next record to apply */
  uint64_t offset; /* its offset in that volume */
} fl_idx_ckpt_t;

/* FL_ENOTFOUND when no checkpoint was ever stored (replay from the start),
 * FL_ECORRUPT if the stored one fails its CRC. */
int fl_idx_ckpt_get(fl_idx_t *idx, fl_idx_ckpt_t *out, fl_errmsg_t *em);

/* ---- Write batches ---------------------------------------------------------
 * One batch may be open per index at a time (a second begin returns
 * FL_EINTERNAL): the node applies volume records from one writer. A batch
 * sees its own pending entries, so applying two versions of one key in a
 * batch keeps the newer. */
typedef struct fl_idx_batch fl_idx_batch_t;

int fl_idx_batch_begin(fl_idx_t *idx, fl_idx_batch_t **out, fl_errmsg_t *em);

/* Applies one record's entry under newest-wins: v is written only if no
 * entry exists for k or fl_idx_value_cmp(v, existing) > 0. A tombstone
 * (FL_IDX_VF_TOMBSTONE) is applied like any entry and hides the key from
 * get and scans. v->frag must equal k->frag (-EINVAL otherwise).
 * *applied (optional) is 1 if v was written, 0 if an entry
 * as new or newer was kept. k and v are copied. An existing entry that
 * fails to decode is overwritten (logged): the volumes are the truth. */
int fl_idx_batch_apply(fl_idx_batch_t *b, const fl_idx_key_t *k, const fl_idx_value_t *v,
                       int *applied, fl_errmsg_t *em);

/* Removes k's entry unconditionally (compaction dropping a tombstone whose
 * record left the volumes). k is copied. */
int fl_idx_batch_forget(fl_idx_batch_t *b, const fl_idx_key_t *k, fl_errmsg_t *em);

/* Stores ck with the batch (the last call wins). ck is copied. */
void fl_idx_batch_ckpt(fl_idx_batch_t *b, const fl_idx_ckpt_t *ck);

/* Number of operations pending in b. */
size_t fl_idx_batch_count(const fl_idx_batch_t *b);

/* Writes b atomically (WAL on, no fsync: the volumes are fsync'd and
 * replayed from the checkpoint) and frees it, whether or not it succeeds. */
int fl_idx_batch_commit(fl_idx_batch_t *b, fl_errmsg_t *em);

/* Frees b without writing. NULL is a no-op. */
void fl_idx_batch_abort(fl_idx_batch_t *b);

/* One-entry batch: begin, apply, commit. */
int fl_idx_put(fl_idx_t *idx, const fl_idx_key_t *k, const fl_idx_value_t *v, int *applied,
               fl_errmsg_t *em);

/* ---- Reads ---------------------------------------------------------------- */

#define FL_IDX_WITH_TOMBSTONES 0x1u /* get and scans also return tombstones */

/* Reads k's entry into *out. FL_ENOTFOUND if absent, or a tombstone without
 * FL_IDX_WITH_TOMBSTONES; FL_ECORRUPT if the stored value is damaged. */
int fl_idx_get(fl_idx_t *idx, const fl_idx_key_t *k, unsigned flags, fl_idx_value_t *out,
               fl_errmsg_t *em);

/* Iterator over the entries whose key starts with the `level` prefix of
 * *prefix (prefix may be NULL for FL_IDX_LVL_ALL), in key order, starting
 * strictly after the encoded key `after` (after_len 0: from the start;
 * `after` is copied). Sees a consistent snapshot taken at open. Scans of a
 * whole pg or index bypass the block cache so they do not evict hot data. */
typedef struct fl_idx_iter fl_idx_iter_t;

int fl_idx_iter_open(fl_idx_t *idx, enum fl_idx_level level, const fl_idx_key_t *prefix,
                     const uint8_t *after, size_t after_len, unsigned flags,
                     fl_idx_iter_t **out, fl_errmsg_t *em);

/* Moves to the next entry: returns 1 with *k and *v filled (either may be
 * NULL), 0 at the end, or a negative error (FL_ECORRUPT names the key). */
int fl_idx_iter_next(fl_idx_iter_t *it, fl_idx_key_t *k, fl_idx_value_t *v, fl_errmsg_t *em);

/* Encoded key of the entry last returned by next, borrowed until the next
 * call on it; NULL before the first entry. Pass it as `after` to resume. */
const uint8_t *fl_idx_iter_rawkey(const fl_idx_iter_t *it, size_t *len);

void fl_idx_iter_close(fl_idx_iter_t *it);

/* Paged scan with a callback. cursor (optional) is in/out: on entry, a
 * non-zero len means "start after this key"; on return it holds the last
 * key visited, ready for the next page. limit 0 means no limit. *count
 * (optional) receives the number of entries visited; fewer than limit
 * means the scan reached the end. A non-zero return from cb stops the scan
 * and is returned. k and v passed to cb are borrowed for the call. */
typedef struct fl_idx_cursor {
  uint8_t key[FL_IDX_KEY_MAX];
  size_t len;
} fl_idx_cursor_t;

typedef int (*fl_idx_scan_cb)(void *arg, const fl_idx_key_t *k, const fl_idx_value_t *v);

int fl_idx_scan(fl_idx_t *idx, enum fl_idx_level level, const fl_idx_key_t *prefix,
                fl_idx_cursor_t *cursor, size_t limit, unsigned flags, fl_idx_scan_cb cb,
                void *arg, size_t *count, fl_errmsg_t *em);

/* Lists one study (all series, instances and fragments): fl_idx_scan at
 * FL_IDX_LVL_STUDY. Strings are borrowed for the call. */
int fl_idx_scan_study(fl_idx_t *idx, uint32_t pg, const char *tenant, const char *study,
                      fl_idx_cursor_t *cursor, size_t limit, fl_idx_scan_cb cb, void *arg,
                      size_t *count, fl_errmsg_t *em);

/* ---- Stats and comparison -------------------------------------------------- */

typedef struct fl_idx_stats {
  uint64_t approx_keys;     /* RocksDB estimate, metadata keys included */
  uint64_t sst_bytes;       /* on-disk table files */
  uint64_t memtable_bytes;  /* all memtables */
  uint64_t cache_bytes;     /* block cache in use */
  uint64_t readers_bytes;   /* table readers outside the cache */
} fl_idx_stats_t;

int fl_idx_stats(fl_idx_t *idx, fl_idx_stats_t *out, fl_errmsg_t *em);

enum fl_idx_diff_kind { FL_IDX_DIFF_ONLY_A = 1, FL_IDX_DIFF_ONLY_B, FL_IDX_DIFF_VALUE };

typedef struct fl_idx_diff {
  uint64_t equal;  /* entries with equal key and value bytes */
  uint64_t only_a; /* keys present only in a */
  uint64_t only_b; /* keys present only in b */
  uint64_t differ; /* keys in both with different values */
} fl_idx_diff_t;

/* Called for each difference; key is borrowed for the call. */
typedef void (*fl_idx_diff_cb)(void *arg, enum fl_idx_diff_kind kind, const uint8_t *key,
                               size_t len);

/* Compares every entry (tombstones included, metadata excluded) of a and b
 * by key and canonical value bytes. Returns 0 when the walk completed,
 * whatever it found; the counts are in *out. cb may be NULL. */
int fl_idx_compare(fl_idx_t *a, fl_idx_t *b, fl_idx_diff_cb cb, void *arg, fl_idx_diff_t *out,
                   fl_errmsg_t *em);

#endif
