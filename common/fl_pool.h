/* A fixed pool of worker threads running submitted tasks in FIFO order, a
 * countdown latch callers use to wait for a group of tasks, and deadlines
 * for condition waits. The client runs its node I/O on one pool and its
 * per-instance work on another, so a task never waits for a task of its
 * own pool (no deadlock by exhaustion); the repair worker does the same. */
#ifndef FL_POOL_H
#define FL_POOL_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

typedef struct fl_pool fl_pool_t;

/* Starts nthreads (>= 1) workers. 0 or -errno. */
int fl_pool_new(fl_pool_t **out, unsigned nthreads);
/* The same, for background work: the workers run at nice FL_POOL_LOW_NICE,
 * so threads at normal priority (serving clients) get the CPU first while
 * the pool still progresses under full load (about a tenth of a CPU's
 * share against one normal thread). A worker that cannot lower its
 * priority runs at normal priority. */
#define FL_POOL_LOW_NICE 10
int fl_pool_new_low(fl_pool_t **out, unsigned nthreads);

/* Runs every queued task, then joins the workers and frees the pool.
 * No task may be submitted concurrently or afterwards. NULL is a no-op. */
void fl_pool_free(fl_pool_t *p);

/* Queues fn(arg) (arg handed over to fn). 0 or -ENOMEM; on error fn never
 * runs. Safe from any thread, including workers of this pool. */
int fl_pool_submit(fl_pool_t *p, void (*fn)(void *arg), void *arg);

/* A countdown: fl_latch_wait returns once fl_latch_done was called as many
 * times as fl_latch_add added. */
typedef struct fl_latch {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  unsigned pending;
} fl_latch_t;

void fl_latch_init(fl_latch_t *l);
void fl_latch_destroy(fl_latch_t *l);
void fl_latch_add(fl_latch_t *l, unsigned n);
void fl_latch_done(fl_latch_t *l);
void fl_latch_wait(fl_latch_t *l);

/* The CLOCK_REALTIME instant ms milliseconds from now, as
 * pthread_cond_timedwait takes it. */
void fl_deadline_ms(struct timespec *ts, uint32_t ms);

#endif
