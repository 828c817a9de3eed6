/* The replay loop: records in, checkpointed newest-wins batches out. Kept
 * apart from the RocksDB wrapper because it only uses its public API and
 * is what both start-up recovery and index rebuilds run. */
#include "fl_idx_replay.h"

#include <string.h>

int fl_idx_replay(fl_idx_t *idx, fl_idx_source_fn next, void *src, size_t batch_size,
                  fl_idx_replay_stats_t *st, fl_errmsg_t *em) {
  fl_idx_replay_stats_t local;
  fl_idx_record_t rec;
  fl_idx_batch_t *b = NULL;
  size_t in_batch = 0;
  int rc, applied;
  if (!st)
    st = &local;
  memset(st, 0, sizeof *st);
  if (batch_size == 0)
    batch_size = 1000;
  for (;;) {
    rc = next(src, &rec, em);
    if (rc < 0)
      goto fail;
    if (rc == 0)
      break;
    st->records++;
    if (!b && (rc = fl_idx_batch_begin(idx, &b, em)) != 0)
      goto fail;
    if ((rc = fl_idx_batch_apply(b, &rec.key, &rec.val, &applied, em)) != 0)
      goto fail;
    st->applied += (uint64_t)applied;
    fl_idx_batch_ckpt(b, &rec.next);
    if (++in_batch == batch_size) {
      rc = fl_idx_batch_commit(b, em);
      b = NULL;
      in_batch = 0;
      if (rc != 0)
        goto fail;
      st->batches++;
    }
  }
  if (b) {
    rc = fl_idx_batch_commit(b, em);
    b = NULL;
    if (rc != 0)
      goto fail;
    st->batches++;
  }
  return 0;
fail:
  fl_idx_batch_abort(b);
  return rc;
}
