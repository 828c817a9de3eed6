/* Generation, puts and byte-exact read-back of test studies. */
#define _POSIX_C_SOURCE 200809L
#include "fl_itest_data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


int fl_itest_data_gen(fl_itest_data_t *d, int modality, uint32_t studies, uint32_t per_study,
                      uint64_t seed) {
  for (uint32_t st = 0; st < studies; st++) {
    fl_itest_study_t s;
    fl_itest_study_make(&s, modality, per_study, seed + st);
    if (d->n + s.n > d->cap) {
      size_t cap = d->cap ? d->cap * 2 : 256;
      while (cap < d->n + s.n)
        cap *= 2;
      fl_itest_obj_t *o = realloc(d->o, cap * sizeof *o);
      if (o)
        d->o = o;
      int *rc = realloc(d->put_rc, cap * sizeof *rc);
      if (rc)
        d->put_rc = rc;
      if (!o || !rc) {
        fl_itest_study_free(&s);
        return -ENOMEM;
      }
      d->cap = cap;
    }
    /* The instances' buffers move to d; only the study's array goes. */
    for (size_t i = 0; i < s.n; i++) {
      d->o[d->n] = s.o[i];
      d->put_rc[d->n] = 1;
      d->bytes += s.o[i].len;
      d->n++;
    }
    free(s.o);
  }
  return 0;
}

void fl_itest_data_free(fl_itest_data_t *d) {
  for (size_t i = 0; i < d->n; i++)
    free(d->o[i].buf);
  free(d->o);
  free(d->put_rc);
  memset(d, 0, sizeof *d);
}

typedef struct fl__putctx {
  fl_client_t *cl;
  fl_itest_data_t *d;
  size_t next, to, failed;
  volatile size_t *done;
  pthread_mutex_t mu;
} fl__putctx_t;

static void *fl__put_worker(void *arg) {
  fl__putctx_t *p = arg;
  for (;;) {
    pthread_mutex_lock(&p->mu);
    size_t i = p->next++;
    pthread_mutex_unlock(&p->mu);
    if (i >= p->to)
      return NULL;
    fl_itest_obj_t *o = &p->d->o[i];
    fl_errmsg_t em = {{0}};
    int rc = fl_client_put(p->cl, o->buf, o->len, NULL, &em);
    pthread_mutex_lock(&p->mu);
    p->d->put_rc[i] = rc;
    if (rc) {
      if (p->failed++ < 5)
        fprintf(stderr, "put %s: %s: %s\n", o->di.sop_uid, fl_err_name(rc),
                fl_errmsg_str(&em, rc));
    }
    if (p->done)
      __atomic_add_fetch(p->done, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&p->mu);
  }
}

size_t fl_itest_data_put(fl_client_t *cl, fl_itest_data_t *d, size_t from, size_t to,
                         int threads, volatile size_t *done) {
  fl__putctx_t p = {cl, d, from, to < d->n ? to : d->n, 0, done, PTHREAD_MUTEX_INITIALIZER};
  pthread_t th[32];
  if (threads < 1)
    threads = 1;
  if (threads > 32)
    threads = 32;
  int started = 0;
  for (int i = 0; i < threads; i++)
    if (pthread_create(&th[started], NULL, fl__put_worker, &p) == 0)
      started++;
  if (!started)
    fl__put_worker(&p);
  for (int i = 0; i < started; i++)
    pthread_join(th[i], NULL);
  pthread_mutex_destroy(&p.mu);
  return p.failed;
}

int fl_itest_data_check(fl_client_t *cl, const fl_itest_obj_t *o, fl_errmsg_t *em) {
  void *data = NULL;
  size_t len = 0;
  int rc = fl_client_get(cl, o->di.study_uid, o->di.series_uid, o->di.sop_uid, &data, &len, em);
  if (rc)
    return rc;
  if (len != o->len || memcmp(data, o->buf, len) != 0)
    rc = fl_errf(em, FL_ECORRUPT, "instance %s read back %zu bytes that differ from the %zu put",
                 o->di.sop_uid, len, o->len);
  free(data);
  return rc;
}

size_t fl_itest_data_check_all(fl_client_t *cl, const fl_itest_data_t *d) {
  size_t bad = 0;
  for (size_t i = 0; i < d->n; i++) {
    if (d->put_rc[i] != 0)
      continue;
    fl_errmsg_t em = {{0}};
    int rc = fl_itest_data_check(cl, &d->o[i], &em);
    if (rc && bad++ < 5)
      fprintf(stderr, "read back %s: %s: %s\n", d->o[i].di.sop_uid, fl_err_name(rc),
              fl_errmsg_str(&em, rc));
  }
  return bad;
}

static void *fl__reader(void *arg) {
  fl_itest_reader_t *r = arg;
  size_t n = r->d->n;
  size_t *order = malloc((n ? n : 1) * sizeof *order);
  if (!order)
    return NULL;
  uint32_t x = 2463534242u;
  while (!__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST)) {
    for (size_t i = 0; i < n; i++)
      order[i] = i;
    for (size_t i = n; i > 1; i--) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      size_t j = x % i, t = order[i - 1];
      order[i - 1] = order[j];
      order[j] = t;
    }
    size_t i = 0;
    for (; i < n && !__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST); i++) {
      const fl_itest_obj_t *o = &r->d->o[order[i]];
      if (r->d->put_rc[order[i]] != 0)
        continue;
      fl_errmsg_t em = {{0}};
      int rc = fl_itest_data_check(r->cl, o, &em);
      if (rc == 0) {
        __atomic_add_fetch(&r->reads, 1, __ATOMIC_SEQ_CST);
        continue;
      }
      if (rc == FL_ECORRUPT && strstr(em.msg, "differ"))
        __atomic_add_fetch(&r->mismatches, 1, __ATOMIC_SEQ_CST);
      else
        __atomic_add_fetch(&r->errors, 1, __ATOMIC_SEQ_CST);
      if (!r->first[0])
        snprintf(r->first, sizeof r->first, "%s: %s: %s", o->di.sop_uid, fl_err_name(rc),
                 fl_errmsg_str(&em, rc));
      fprintf(stderr, "reader: %s: %s: %s\n", o->di.sop_uid, fl_err_name(rc),
              fl_errmsg_str(&em, rc));
    }
    if (i == n)
      __atomic_add_fetch(&r->rounds, 1, __ATOMIC_SEQ_CST);
  }
  free(order);
  return NULL;
}

int fl_itest_reader_start(fl_itest_reader_t *r, fl_client_t *cl, const fl_itest_data_t *d) {
  memset(r, 0, sizeof *r);
  r->cl = cl;
  r->d = d;
  int rc = pthread_create(&r->th, NULL, fl__reader, r);
  return rc ? -rc : 0;
}

void fl_itest_reader_stop(fl_itest_reader_t *r) {
  __atomic_store_n(&r->stop, 1, __ATOMIC_SEQ_CST);
  pthread_join(r->th, NULL);
}
