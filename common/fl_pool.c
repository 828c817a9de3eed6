/* Worker pool and latch: a mutex-protected FIFO of tasks served by plain
 * pthreads. Tasks are short blocking node calls, so a simple queue is
 * enough; fairness between callers comes from FIFO order. */
#include "fl_pool.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct fl__task {
  struct fl__task *next;
  void (*fn)(void *);
  void *arg;
} fl__task_t;

struct fl_pool {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  fl__task_t *head, *tail; /* guarded by mu */
  int stopping;            /* guarded by mu */
  unsigned n;
  int nice;                /* workers' CPU priority, 0 = normal */
  pthread_t *threads;
};

static void *fl__worker(void *arg) {
  fl_pool_t *p = arg;
  /* Linux keeps a nice value per thread: this lowers this worker only. */
  if (p->nice)
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), p->nice);
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->head && !p->stopping)
      pthread_cond_wait(&p->cv, &p->mu);
    fl__task_t *t = p->head;
    if (!t)
      break;
    p->head = t->next;
    if (!p->head)
      p->tail = NULL;
    pthread_mutex_unlock(&p->mu);
    t->fn(t->arg);
    free(t);
    pthread_mutex_lock(&p->mu);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

static int fl__pool_new(fl_pool_t **out, unsigned nthreads, int nice) {
  fl_pool_t *p = calloc(1, sizeof *p);
  if (!p)
    return -ENOMEM;
  p->nice = nice;
  if (nthreads == 0)
    nthreads = 1;
  p->threads = calloc(nthreads, sizeof *p->threads);
  if (!p->threads) {
    free(p);
    return -ENOMEM;
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  for (unsigned i = 0; i < nthreads; i++) {
    int rc = pthread_create(&p->threads[i], NULL, fl__worker, p);
    if (rc) {
      p->n = i;
      fl_pool_free(p);
      return -rc;
    }
  }
  p->n = nthreads;
  *out = p;
  return 0;
}

int fl_pool_new(fl_pool_t **out, unsigned nthreads) { return fl__pool_new(out, nthreads, 0); }

int fl_pool_new_low(fl_pool_t **out, unsigned nthreads) {
  return fl__pool_new(out, nthreads, FL_POOL_LOW_NICE);
}

void fl_pool_free(fl_pool_t *p) {
  if (!p)
    return;
  pthread_mutex_lock(&p->mu);
  p->stopping = 1;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (unsigned i = 0; i < p->n; i++)
    pthread_join(p->threads[i], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p->threads);
  free(p);
}

int fl_pool_submit(fl_pool_t *p, void (*fn)(void *), void *arg) {
  fl__task_t *t = malloc(sizeof *t);
  if (!t)
    return -ENOMEM;
  t->next = NULL;
  t->fn = fn;
  t->arg = arg;
  pthread_mutex_lock(&p->mu);
  if (p->tail)
    p->tail->next = t;
  else
    p->head = t;
  p->tail = t;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
  return 0;
}

void fl_latch_init(fl_latch_t *l) {
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cv, NULL);
  l->pending = 0;
}

void fl_latch_destroy(fl_latch_t *l) {
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cv);
}

void fl_latch_add(fl_latch_t *l, unsigned n) {
  pthread_mutex_lock(&l->mu);
  l->pending += n;
  pthread_mutex_unlock(&l->mu);
}

void fl_latch_done(fl_latch_t *l) {
  pthread_mutex_lock(&l->mu);
  if (--l->pending == 0)
    pthread_cond_broadcast(&l->cv);
  pthread_mutex_unlock(&l->mu);
}

void fl_latch_wait(fl_latch_t *l) {
  pthread_mutex_lock(&l->mu);
  while (l->pending)
    pthread_cond_wait(&l->cv, &l->mu);
  pthread_mutex_unlock(&l->mu);
}

void fl_deadline_ms(struct timespec *ts, uint32_t ms) {
  clock_gettime(CLOCK_REALTIME, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}
