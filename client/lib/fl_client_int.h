/* Private to libfilmless: the client handle, node tasks and the helpers
 * the put path (fl_client.c) and the read paths (fl_client_read.c) share. */
#ifndef FL_CLIENT_INT_H
#define FL_CLIENT_INT_H

#include <pthread.h>
#include <sys/uio.h>

#include "filmless.h"
#include "fl_addr.h"
#include "fl_ec.h"
#include "fl_map.h"
#include "fl_nc.h"
#include "fl_place.h"
#include "fl_pool.h"

#define FL__IDLE_MAX 16        /* idle connections kept per node */
#define FL__LIST_PAGE 1000u    /* entries per LIST page */
#define FL__RANGE (1u << 20)   /* fragments above are read in ranges this size, in parallel */
#define FL__TENANT_MAX 32     /* the node index's limit */

/* ---- handle and connection pools ------------------------------------------ */

typedef struct fl__npool {
  pthread_mutex_t mu;
  fl_wire_conn_t *idle[FL__IDLE_MAX]; /* guarded by mu */
  int nidle;                          /* guarded by mu */
  fl_addr_t addr;                     /* immutable after open */
} fl__npool_t;

struct fl_client {
  char tenant[FL__TENANT_MAX + 1];
  int timeout_ms;
  fl_map_t map;         /* immutable after open */
  fl_place_t *place;    /* immutable after open */
  fl_ec_t *ec;          /* thread-safe */
  fl_pool_t *io;        /* node calls */
  fl_pool_t *study;     /* per-instance work of study gets */
  fl__npool_t *np;      /* one per map.nodes[i] */
};

enum { FL__OP_PUT = 1, FL__OP_GET, FL__OP_LIST, FL__OP_DEL };

typedef struct fl__ftask fl__ftask_t;
typedef int (*fl__list_sink)(fl__ftask_t *t, const Fl__ListEntry *e);

/* One call to one node, run on the I/O pool. Owned by the caller that
 * waits on latch; the worker writes rc, em and the results. */
struct fl__ftask {
  fl_client_t *c;
  fl_latch_t *latch;
  int op;
  int ni;             /* map node index */
  fl_nc_key_t key;    /* strings borrowed from the caller */
  /* PUT */
  const fl_nc_put_opts_t *po;
  const fl_nc_put_ext_t *px;
  struct iovec iov[2];
  int existed;
  /* GET: into buf (cap) if set, else a malloc'd copy in buf; off/len
   * select a range (len 0: to the end) */
  uint8_t *buf;
  size_t cap, got;
  uint64_t off, len;
  /* LIST */
  fl__list_sink sink;
  void *sink_arg;
  size_t sunk;        /* entries handed to sink so far */
  uint32_t page;      /* LIST page size; 0: FL__LIST_PAGE */
  size_t stop_after;  /* LIST: stop after this many entries (0: all) */
  /* DEL: every fragment of each of these SOP keys (series[i], sop[i]) */
  const char *const *del_series, *const *del_sop;
  size_t del_n, deleted;
  int rc;
  fl_errmsg_t em;
};


/* Monotonic milliseconds. */
double fl__cl_now_ms(void);

/* Zeroes t and sets its owner, latch, operation and node index. */
void fl__cl_task_init(fl__ftask_t *t, fl_client_t *c, fl_latch_t *l, int op, int ni);

/* Runs n tasks on the I/O pool and waits for all of them. */
void fl__cl_run_tasks(fl_client_t *c, fl__ftask_t *t, size_t n, fl_latch_t *l);

/* Index of node id in c->map.nodes, or -1. */
int fl__cl_node_index(const fl_client_t *c, uint32_t id);

/* The study's PG and the node indexes of its k+m positions (local DC). */
int fl__cl_place(fl_client_t *c, const char *study, uint32_t *pg, int ni[FL_MAP_WIDTH_MAX],
                 fl_errmsg_t *em);

/* FL_EUID naming `what` unless uid is a valid DICOM UID. */
int fl__cl_check_uid(const char *what, const char *uid, fl_errmsg_t *em);

#endif
