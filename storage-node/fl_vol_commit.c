/* Leader/follower group commit. The queue only grows while a flush runs, so
 * the busier the disk, the larger the next batch: one fdatasync serves every
 * writer that arrived during the previous one. */
#include "fl_vol_commit.h"

#include <errno.h>
#include <stdlib.h>

int fl_vol_commit_init(fl_vol_commit_t *c, fl_vol_commit_flush_fn flush, void *ctx,
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
  c->flush = flush;
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

/* Takes a batch off the queue head (mu held). Returns its length, or 0 if
 * the batch array could not grow (then only the head is taken). */
static size_t fl__commit_take(fl_vol_commit_t *c) {
  size_t n = 0;
  uint64_t bytes = 0;
  while (c->head && (n == 0 || bytes + c->head->bytes <= c->max_batch_bytes)) {
    if (n == c->batch_cap) {
      size_t cap = c->batch_cap ? c->batch_cap * 2 : 64;
      fl_vol_commit_req_t **b = realloc(c->batch, cap * sizeof *b);
      if (!b) {
        if (n)
          break;
        /* Keep making progress with a batch of one on the stack's behalf. */
        return 0;
      }
      c->batch = b;
      c->batch_cap = cap;
    }
    fl_vol_commit_req_t *r = c->head;
    c->head = r->next;
    if (!c->head)
      c->tail = NULL;
    r->next = NULL;
    c->batch[n++] = r;
    bytes += r->bytes;
  }
  return n;
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
    if (c->leader) {
      pthread_cond_wait(&c->cv, &c->mu);
      continue;
    }
    c->leader = 1;
    fl_vol_commit_req_t *one = NULL, **batch;
    size_t n = fl__commit_take(c);
    if (n) {
      batch = c->batch;
    } else {
      /* Out of memory for the batch array: flush the head alone. */
      one = c->head;
      c->head = one->next;
      if (!c->head)
        c->tail = NULL;
      one->next = NULL;
      batch = &one;
      n = 1;
    }
    c->flushes++;
    c->requests += n;
    pthread_mutex_unlock(&c->mu);
    c->flush(c->ctx, batch, n);
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < n; i++)
      batch[i]->done = 1;
    c->leader = 0;
    pthread_cond_broadcast(&c->cv);
  }
  int rc = r->rc;
  pthread_mutex_unlock(&c->mu);
  return rc;
}

void fl_vol_commit_stats(fl_vol_commit_t *c, uint64_t *flushes, uint64_t *requests) {
  pthread_mutex_lock(&c->mu);
  *flushes = c->flushes;
  *requests = c->requests;
  pthread_mutex_unlock(&c->mu);
}
