/* The worker pool: every task runs once, a latch waits for a group, tasks
 * may submit tasks, and a low-priority pool's workers run at
 * FL_POOL_LOW_NICE while a normal pool's keep the process's priority. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fl_pool.h"
#include "fl_test.h"

typedef struct counter {
  atomic_int runs;
  fl_latch_t *latch;
  fl_pool_t *pool;
  int nice;          /* the worker's nice value, as the task saw it */
} counter_t;

static void count_task(void *arg) {
  counter_t *c = arg;
  atomic_fetch_add(&c->runs, 1);
  fl_latch_done(c->latch);
}

static void test_runs_each_task_once(void) {
  fl_pool_t *p;
  FL_CHECK_EQ(fl_pool_new(&p, 3), 0);
  fl_latch_t l;
  fl_latch_init(&l);
  counter_t c = {.latch = &l};
  fl_latch_add(&l, 1000);
  for (int i = 0; i < 1000; i++)
    FL_CHECK_EQ(fl_pool_submit(p, count_task, &c), 0);
  fl_latch_wait(&l);
  FL_CHECK_EQ(atomic_load(&c.runs), 1000);
  fl_latch_destroy(&l);
  fl_pool_free(p);
}

/* A task that queues another on its own pool (the pool's one worker runs
 * the second once the first returns). */
static void inner_task(void *arg) { count_task(arg); }

static void outer_task(void *arg) {
  counter_t *c = arg;
  FL_CHECK_EQ(fl_pool_submit(c->pool, inner_task, c), 0);
  count_task(c);
}

static void test_task_submits_task(void) {
  fl_pool_t *p;
  FL_CHECK_EQ(fl_pool_new(&p, 1), 0);
  fl_latch_t l;
  fl_latch_init(&l);
  counter_t c = {.latch = &l, .pool = p};
  fl_latch_add(&l, 2);
  FL_CHECK_EQ(fl_pool_submit(p, outer_task, &c), 0);
  fl_latch_wait(&l);
  FL_CHECK_EQ(atomic_load(&c.runs), 2);
  fl_latch_destroy(&l);
  fl_pool_free(p);
}

static void nice_task(void *arg) {
  counter_t *c = arg;
  errno = 0;
  c->nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
  fl_latch_done(c->latch);
}

static int worker_nice(int low) {
  fl_pool_t *p;
  FL_CHECK_EQ(low ? fl_pool_new_low(&p, 1) : fl_pool_new(&p, 1), 0);
  fl_latch_t l;
  fl_latch_init(&l);
  counter_t c = {.latch = &l, .nice = -100};
  fl_latch_add(&l, 1);
  FL_CHECK_EQ(fl_pool_submit(p, nice_task, &c), 0);
  fl_latch_wait(&l);
  fl_latch_destroy(&l);
  fl_pool_free(p);
  return c.nice;
}

static void test_low_pool_runs_at_low_priority(void) {
  errno = 0;
  int mine = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
  FL_CHECK_EQ(errno, 0);
  FL_CHECK_EQ(worker_nice(0), mine);
  /* Lowering priority needs no privilege; above FL_POOL_LOW_NICE already
   * (a test run under nice) it stays where setpriority clamps it. */
  int want = mine > FL_POOL_LOW_NICE ? mine : FL_POOL_LOW_NICE;
  int got = worker_nice(1);
  FL_CHECK(got == want || (mine > FL_POOL_LOW_NICE && got >= FL_POOL_LOW_NICE));
  /* The caller's own priority is untouched. */
  FL_CHECK_EQ(getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid)), mine);
}

int main(void) {
  FL_RUN(test_runs_each_task_once);
  FL_RUN(test_task_submits_task);
  FL_RUN(test_low_pool_runs_at_low_priority);
  FL_DONE();
}
