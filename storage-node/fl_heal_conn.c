/* Idle connections of the repair worker, per peer: a short list under one
 * mutex. Connecting costs a round trip; repair makes several calls per
 * fragment, so reuse matters more than fairness. */
#include "fl_heal_conn.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_addr.h"

#define FL__IDLE_MAX 64 /* idle connections kept over all peers */

typedef struct fl__idle {
  uint32_t id;
  char addr[64];
  fl_wire_conn_t *c;
} fl__idle_t;

struct fl_heal_conns {
  pthread_mutex_t mu;
  int timeout_ms;
  fl__idle_t idle[FL__IDLE_MAX];
  int n;
};

int fl_heal_conns_new(fl_heal_conns_t **out, int timeout_ms) {
  fl_heal_conns_t *p = calloc(1, sizeof *p);
  if (!p)
    return -ENOMEM;
  pthread_mutex_init(&p->mu, NULL);
  p->timeout_ms = timeout_ms;
  *out = p;
  return 0;
}

static void fl__close(fl_wire_conn_t *c) {
  fl_wire_conn_close(c);
  free(c);
}

void fl_heal_conns_free(fl_heal_conns_t *p) {
  if (!p)
    return;
  for (int i = 0; i < p->n; i++)
    fl__close(p->idle[i].c);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

int fl_heal_conns_get(fl_heal_conns_t *p, uint32_t id, const char *addr, fl_wire_conn_t **out,
                      fl_errmsg_t *em) {
  *out = NULL;
  pthread_mutex_lock(&p->mu);
  for (int i = p->n - 1; i >= 0; i--) {
    if (p->idle[i].id == id && strcmp(p->idle[i].addr, addr) == 0) {
      *out = p->idle[i].c;
      p->idle[i] = p->idle[--p->n];
      break;
    }
  }
  pthread_mutex_unlock(&p->mu);
  if (*out)
    return 0;
  fl_addr_t a;
  int rc = fl_addr_parse(&a, addr, 0, em);
  if (rc)
    return fl_errprefix(em, rc, "address of node %u", id);
  fl_wire_conn_t *c = calloc(1, sizeof *c);
  if (!c)
    return -ENOMEM;
  if ((rc = fl_wire_conn_open(c, a.host, a.port, p->timeout_ms, NULL, em)) != 0) {
    free(c);
    return fl_errprefix(em, rc, "connecting to node %u at %s", id, addr);
  }
  c->background = 1; /* peers serve repair behind their clients */
  *out = c;
  return 0;
}

void fl_heal_conns_discard(fl_wire_conn_t *c) {
  if (c)
    fl__close(c);
}

void fl_heal_conns_put(fl_heal_conns_t *p, uint32_t id, const char *addr, fl_wire_conn_t *c) {
  if (!c)
    return;
  if (!fl_wire_conn_usable(c) || strlen(addr) >= sizeof p->idle[0].addr) {
    fl__close(c);
    return;
  }
  pthread_mutex_lock(&p->mu);
  if (p->n < FL__IDLE_MAX) {
    fl__idle_t *s = &p->idle[p->n++];
    s->id = id;
    snprintf(s->addr, sizeof s->addr, "%s", addr);
    s->c = c;
    c = NULL;
  }
  pthread_mutex_unlock(&p->mu);
  if (c)
    fl__close(c);
}
