/* The replay loop: records in, checkpointed newest-wins batches out. Kept
 * apart from the RocksDB wrapper because it only uses its public API and
 * is what both start-up recovery and index rebuilds run. */
#include "fl_idx_replay.h"

#include <string.h>

void fl_idx_replayer_init(fl_idx_replayer_t *r, fl_idx_t *idx, size_t batch_size) {
  memset(r, 0, sizeof *r);
  r->idx = idx;
  r->batch_size = batch_size ? batch_size : 1000;
}

int fl_idx_replayer_add(fl_idx_replayer_t *r, const fl_idx_record_t *rec, fl_errmsg_t *em) {
  int rc, applied = 0;
  r->st.records++;
  if (!r->b && (rc = fl_idx_batch_begin(r->idx, &r->b, em)) != 0)
    return rc;
  if ((rc = fl_idx_batch_apply(r->b, &rec->key, &rec->val, &applied, em)) != 0)
    return rc;
  r->st.applied += (uint64_t)applied;
  fl_idx_batch_ckpt(r->b, &rec->next);
  if (++r->in_batch == r->batch_size)
    return fl_idx_replayer_finish(r, em);
  return 0;
}

int fl_idx_replayer_finish(fl_idx_replayer_t *r, fl_errmsg_t *em) {
  if (!r->b)
    return 0;
  int rc = fl_idx_batch_commit(r->b, em);
  r->b = NULL;
  r->in_batch = 0;
  if (rc == 0)
    r->st.batches++;
  return rc;
}

void fl_idx_replayer_abort(fl_idx_replayer_t *r) {
  fl_idx_batch_abort(r->b);
  r->b = NULL;
}

int fl_idx_replay(fl_idx_t *idx, fl_idx_source_fn next, void *src, size_t batch_size,
                  fl_idx_replay_stats_t *st, fl_errmsg_t *em) {
  fl_idx_replayer_t r;
  fl_idx_record_t rec;
  int rc;
  fl_idx_replayer_init(&r, idx, batch_size);
  while ((rc = next(src, &rec, em)) > 0)
    if ((rc = fl_idx_replayer_add(&r, &rec, em)) != 0)
      break;
  if (rc == 0)
    rc = fl_idx_replayer_finish(&r, em);
  else
    fl_idx_replayer_abort(&r);
  if (st)
    *st = r.st;
  return rc;
}
