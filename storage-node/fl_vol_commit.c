/* Two-stage group commit. Queues only grow while a stage is busy, so the
 * busier the disk, the larger the batches: one write serves every request
 * that queued during the previous write, one fdatasync every request written
 * during the previous sync. A failed sync blocks the write stage, waits for
 * a running write, undoes everything not durable and fails all of it, so no
 * later write can land beyond a hole. */
#include "fl_vol_commit.h"

#include <stdlib.h>

int fl_vol_commit_init(fl_vol_commit_t *c, const fl_vol_commit_ops_t *ops, void *ctx,
                       uint64_t max_batch_bytes) {
  *c = (fl_vol_commit_t){0};
  int rc = pthread_mutex_init(&c->mu, NULL);
  if (rc)
    return -rc;
  rc = pthread_cond_init(&c->cv, NULL);
  if (rc) {
    pthread_mutex_destroy(&c->mu);
    return -rc;
  }
  c->ops = *ops;
  c->ctx = ctx;
  c->max_batch_bytes = max_batch_bytes ? max_batch_bytes : (32ull << 20);
  return 0;
}

void fl_vol_commit_destroy(fl_vol_commit_t *c) {
  pthread_cond_destroy(&c->cv);
  pthread_mutex_destroy(&c->mu);
  free(c->batch);
  c->batch = NULL;
}

static fl_vol_commit_req_t *fl__commit_pop(fl_vol_commit_t *c) {
  fl_vol_commit_req_t *r = c->head;
  c->head = r->next;
  if (!c->head)
    c->tail = NULL;
  r->next = NULL;
  return r;
}

/* Takes a write batch off the queue head into c->batch (mu held): as many
 * requests as fit under the byte cap, at least one unless the batch array
 * cannot grow (then 0). */
static size_t fl__commit_take(fl_vol_commit_t *c) {
  size_t n = 0;
  uint64_t bytes = 0;
  while (c->head && (n == 0 || bytes + c->head->bytes <= c->max_batch_bytes)) {
    if (n == c->batch_cap) {
      size_t cap = c->batch_cap ? c->batch_cap * 2 : 64;
      fl_vol_commit_req_t **nb = realloc(c->batch, cap * sizeof *nb);
      if (!nb)
        break;
      c->batch = nb;
      c->batch_cap = cap;
    }
    bytes += c->head->bytes;
    c->batch[n++] = fl__commit_pop(c);
  }
  return n;
}

static void fl__commit_finish(fl_vol_commit_t *c, fl_vol_commit_req_t *list, int rc) {
  while (list) {
    fl_vol_commit_req_t *next = list->next;
    if (rc)
      list->rc = rc;
    list->done = 1;
    c->requests++;
    list = next;
  }
}

int fl_vol_commit_submit(fl_vol_commit_t *c, fl_vol_commit_req_t *r) {
  r->done = 0;
  r->rc = 0;
  r->next = NULL;
  pthread_mutex_lock(&c->mu);
  if (c->tail)
    c->tail->next = r;
  else
    c->head = r;
  c->tail = r;
  while (!r->done) {
    if (!c->writing && !c->blocked && c->head) {
      c->writing = 1;
      fl_vol_commit_req_t *one[1];
      size_t n = fl__commit_take(c);
      fl_vol_commit_req_t **b = c->batch; /* after take: it may have moved */
      if (n == 0) { /* out of memory: a batch of one still makes progress */
        one[0] = fl__commit_pop(c);
        b = one;
        n = 1;
      }
      pthread_mutex_unlock(&c->mu);
      c->ops.write(c->ctx, b, n);
      pthread_mutex_lock(&c->mu);
      for (size_t i = 0; i < n; i++) {
        fl_vol_commit_req_t *q = b[i];
        if (q->rc) {
          q->done = 1;
          c->requests++;
          continue;
        }
        if (c->wr_tail)
          c->wr_tail->next = q;
        else
          c->wr_head = q;
        c->wr_tail = q;
      }
      c->writing = 0;
      pthread_cond_broadcast(&c->cv);
      continue;
    }
    if (!c->syncing && c->wr_head) {
      c->syncing = 1;
      fl_vol_commit_req_t *mine = c->wr_head;
      c->wr_head = c->wr_tail = NULL;
      pthread_mutex_unlock(&c->mu);
      int rc = c->ops.sync(c->ctx);
      pthread_mutex_lock(&c->mu);
      if (rc) {
        /* Nothing written since the durable end may stay: stop the write
         * stage, let a running write finish, cut everything back. */
        c->blocked = 1;
        while (c->writing)
          pthread_cond_wait(&c->cv, &c->mu);
        pthread_mutex_unlock(&c->mu);
        c->ops.undo(c->ctx);
        pthread_mutex_lock(&c->mu);
        fl__commit_finish(c, c->wr_head, rc);
        c->wr_head = c->wr_tail = NULL;
        c->blocked = 0;
      } else {
        c->syncs++;
        if (c->ops.durable) {
          pthread_mutex_unlock(&c->mu);
          c->ops.durable(c->ctx, mine);
          pthread_mutex_lock(&c->mu);
        }
      }
      fl__commit_finish(c, mine, rc);
      c->syncing = 0;
      pthread_cond_broadcast(&c->cv);
      continue;
    }
    pthread_cond_wait(&c->cv, &c->mu);
  }
  int rc = r->rc;
  pthread_mutex_unlock(&c->mu);
  return rc;
}

void fl_vol_commit_stats(fl_vol_commit_t *c, uint64_t *syncs, uint64_t *requests) {
  pthread_mutex_lock(&c->mu);
  *syncs = c->syncs;
  *requests = c->requests;
  pthread_mutex_unlock(&c->mu);
}
