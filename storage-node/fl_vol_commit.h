/* Group commit: many threads submit requests; whichever arrives while no
 * flush is running becomes the leader, flushes everything queued with one
 * call (one write + one fdatasync), and wakes the others. A submit returns
 * only after its own request has been flushed. */
#ifndef FL_VOL_COMMIT_H
#define FL_VOL_COMMIT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fl_vol_commit_req {
  void *arg;       /* the submitter's payload, for the flush function */
  uint64_t bytes;  /* size, used to cap a batch */
  int rc;          /* OUT: set by the flush function */
  int done;        /* guarded by the commit mutex */
  struct fl_vol_commit_req *next;
} fl_vol_commit_req_t;

/* Flushes n requests (in submission order) and sets each one's rc. Runs on
 * the leader's thread without the commit mutex held; never concurrently
 * with itself. */
typedef void (*fl_vol_commit_flush_fn)(void *ctx, fl_vol_commit_req_t **reqs, size_t n);

typedef struct fl_vol_commit {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  fl_vol_commit_req_t *head, *tail; /* queue, guarded by mu */
  int leader;                       /* a flush is running; guarded by mu */
  uint64_t max_batch_bytes;         /* a batch stops growing past this */
  fl_vol_commit_flush_fn flush;
  void *ctx;                        /* borrowed by flush */
  fl_vol_commit_req_t **batch;      /* leader only */
  size_t batch_cap;
  uint64_t flushes, requests;       /* statistics, guarded by mu */
} fl_vol_commit_t;

/* max_batch_bytes 0 = 32 MiB. ctx is borrowed until fl_vol_commit_destroy. */
int fl_vol_commit_init(fl_vol_commit_t *c, fl_vol_commit_flush_fn flush, void *ctx,
                       uint64_t max_batch_bytes);
/* No submit may be in flight. */
void fl_vol_commit_destroy(fl_vol_commit_t *c);

/* Queues r (borrowed until this returns) and waits until it is flushed;
 * returns r->rc. Thread-safe. */
int fl_vol_commit_submit(fl_vol_commit_t *c, fl_vol_commit_req_t *r);

/* Flush calls and requests so far (a consistent snapshot). */
void fl_vol_commit_stats(fl_vol_commit_t *c, uint64_t *flushes, uint64_t *requests);

#endif
