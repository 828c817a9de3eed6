/* Applies a stream of volume records to the index in checkpointed batches:
 * the one loop behind crash replay and `filmless-node rebuild-index`. */
#ifndef FL_IDX_REPLAY_H
#define FL_IDX_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "fl_idx.h"

/* One volume record as the index sees it. */
typedef struct fl_idx_record {
  fl_idx_key_t key;   /* object key + fragment index from the record */
  fl_idx_value_t val; /* location, seq, flags, attributes */
  fl_idx_ckpt_t next; /* position right after this record */
} fl_idx_record_t;

/* Record source (the volume reader): fills *rec with the next record in
 * volume order and returns 1, returns 0 at the end, or a negative error.
 * rec is owned by the caller. */
typedef int (*fl_idx_source_fn)(void *src, fl_idx_record_t *rec, fl_errmsg_t *em);

typedef struct fl_idx_replay_stats {
  uint64_t records; /* records read from the source */
  uint64_t applied; /* entries written (newer than what was indexed) */
  uint64_t batches; /* batches committed */
} fl_idx_replay_stats_t;

/* The same loop fed record by record (for a caller that is itself called
 * back per record, e.g. a walk over the volumes): init, add each record,
 * then finish (commits the last batch) or abort. */
typedef struct fl_idx_replayer {
  fl_idx_t *idx;
  fl_idx_batch_t *b;       /* open batch, or NULL */
  size_t in_batch, batch_size;
  fl_idx_replay_stats_t st;
} fl_idx_replayer_t;

void fl_idx_replayer_init(fl_idx_replayer_t *r, fl_idx_t *idx, size_t batch_size);
/* rec is copied into the batch; the checkpoint moves to rec->next. */
int fl_idx_replayer_add(fl_idx_replayer_t *r, const fl_idx_record_t *rec, fl_errmsg_t *em);
int fl_idx_replayer_finish(fl_idx_replayer_t *r, fl_errmsg_t *em);
void fl_idx_replayer_abort(fl_idx_replayer_t *r);

/* Reads every record from next(src) and applies it under newest-wins,
 * committing every batch_size records (0: 1000) together with the
 * checkpoint of the last record in the batch. On error the batches already
 * committed stay (with their checkpoint), so calling again after a fix
 * resumes correctly. st is optional. */
int fl_idx_replay(fl_idx_t *idx, fl_idx_source_fn next, void *src, size_t batch_size,
                  fl_idx_replay_stats_t *st, fl_errmsg_t *em);

#endif
