/* Group commit, pipelined: many threads submit requests. A thread that finds
 * the write stage free writes everything queued in one go; a thread that finds
 * the sync stage free makes everything written so far durable with one
 * fdatasync, so batch N+1 is written while batch N syncs. A submit returns
 * only after its own request is durable (or has failed). */
#ifndef FL_VOL_COMMIT_H
#define FL_VOL_COMMIT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fl_vol_commit_req {
  void *arg;       /* the submitter's payload, for the callbacks */
  uint64_t bytes;  /* size, used to cap a batch */
  int rc;          /* OUT: 0, or the error of the write or sync */
  int done;        /* guarded by the commit mutex */
  struct fl_vol_commit_req *next;
} fl_vol_commit_req_t;

/* The stages, run without the commit mutex held, each never concurrently
 * with itself; write and sync may overlap; undo runs alone.
 * write: writes n requests in order and sets each one's rc (non-zero: it
 *   failed and is finished; zero: written, waiting for a sync).
 * sync: makes every request written before the call durable; 0 or error.
 * undo: after a failed sync, drops everything written but not durable.
 * durable (optional): after a successful sync, the requests it made durable
 *   (linked by next, in write order) before any of them is finished; it may
 *   set a request's rc. Runs in the sync stage, so calls are in order. */
typedef struct fl_vol_commit_ops {
  void (*write)(void *ctx, fl_vol_commit_req_t **reqs, size_t n);
  int (*sync)(void *ctx);
  void (*undo)(void *ctx);
  void (*durable)(void *ctx, fl_vol_commit_req_t *list);
} fl_vol_commit_ops_t;

typedef struct fl_vol_commit {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  fl_vol_commit_req_t *head, *tail;     /* queued, guarded by mu */
  fl_vol_commit_req_t *wr_head, *wr_tail; /* written, not durable; guarded by mu */
  int writing, syncing, blocked;        /* stage states; guarded by mu */
  uint64_t max_batch_bytes;             /* a write batch stops growing past this */
  fl_vol_commit_ops_t ops;
  void *ctx;                            /* borrowed by ops */
  fl_vol_commit_req_t **batch;          /* the writing thread's */
  size_t batch_cap;
  uint64_t syncs, requests;             /* statistics, guarded by mu */
} fl_vol_commit_t;

/* max_batch_bytes 0 = 32 MiB. ctx is borrowed until fl_vol_commit_destroy. */
int fl_vol_commit_init(fl_vol_commit_t *c, const fl_vol_commit_ops_t *ops, void *ctx,
                       uint64_t max_batch_bytes);
/* No submit may be in flight. */
void fl_vol_commit_destroy(fl_vol_commit_t *c);

/* Queues r (borrowed until this returns) and waits until it is durable or
 * failed; returns r->rc. Thread-safe. */
int fl_vol_commit_submit(fl_vol_commit_t *c, fl_vol_commit_req_t *r);

/* Successful syncs and finished requests so far (a consistent snapshot). */
void fl_vol_commit_stats(fl_vol_commit_t *c, uint64_t *syncs, uint64_t *requests);

#endif
