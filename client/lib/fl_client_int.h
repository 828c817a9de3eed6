/* Private to libfilmless: the client handle, node tasks and the helpers
 * the put path (fl_client.c) and the read paths (fl_client_read.c) share. */
#ifndef FL_CLIENT_INT_H
#define FL_CLIENT_INT_H

#include <pthread.h>
#include <stdatomic.h>
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

/* ---- handle, map snapshots and connection pools -------------------------- */

#define FL__HIST 3      /* earlier placement-changing maps kept beside the current */
#define FL__ASK_MAX 64  /* distinct nodes asked about one PG */

/* Idle connections to one node (id at address). Created the first time a
 * map names the pair, freed only at close, so a task may keep a pointer
 * for as long as the handle lives. */
typedef struct fl__npool {
  pthread_mutex_t mu;
  fl_wire_conn_t *idle[FL__IDLE_MAX]; /* guarded by mu */
  int nidle;                          /* guarded by mu */
  uint32_t id;                        /* immutable */
  char addr_text[FL_MAP_ADDR_MAX];    /* immutable */
  fl_addr_t addr;                     /* immutable */
  struct fl__npool *next;             /* the client's list; guarded by pmu */
} fl__npool_t;

/* One map epoch compiled for use: immutable once built, shared by the
 * views that name it (refs). */
typedef struct fl__epoch {
  atomic_uint refs;
  fl_map_t map;
  fl_place_t *place;
  fl_ec_t *ec;       /* codec of this map's policy */
  fl__npool_t **np;  /* np[i]: pool of map.nodes[i] (borrowed from the client) */
} fl__epoch_t;

/* What one call works with from its start to its end: the current map
 * and the earlier ones (newest first) whose placement differed. */
typedef struct fl__view {
  atomic_uint refs;
  fl__epoch_t *cur;
  fl__epoch_t *prev[FL__HIST];
  unsigned nprev;
} fl__view_t;

struct fl_client {
  char tenant[FL__TENANT_MAX + 1];
  int timeout_ms;
  char *coord;          /* the map source, copied; immutable */
  fl_pool_t *io;        /* node calls */
  fl_pool_t *study;     /* per-instance work of study gets */
  pthread_mutex_t vmu;
  fl__view_t *view;     /* guarded by vmu; a call takes a reference */
  _Atomic uint64_t epoch;   /* view->cur->map.epoch, readable without vmu */
  pthread_mutex_t pmu;
  fl__npool_t *pools;   /* guarded by pmu */
  /* The watcher thread (coordinator maps only). */
  pthread_t wth;
  int wstarted;         /* immutable after open */
  pthread_mutex_t wmu;
  pthread_cond_t wcv;   /* wakes the watcher's back-off */
  int wstop;            /* guarded by wmu */
  int wkick;            /* guarded by wmu: fetch the map now */
  int wfd;              /* guarded by wmu: the watch socket while polling, else -1 */
  uint64_t wseen;       /* guarded by wmu: newest epoch a node reported */
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
  fl__npool_t *np;    /* the node */
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

/* Zeroes t and sets its owner, latch, operation and node. */
void fl__cl_task_init(fl__ftask_t *t, fl_client_t *c, fl_latch_t *l, int op, fl__npool_t *np);

/* Runs n tasks on the I/O pool and waits for all of them. */
void fl__cl_run_tasks(fl_client_t *c, fl__ftask_t *t, size_t n, fl_latch_t *l);

/* Index of node id in e->map.nodes, or -1. */
int fl__cl_node_index(const fl__epoch_t *e, uint32_t id);

/* The PG of a study and its k+m positions in epoch e (local DC): np[i]
 * holds fragment i. */
int fl__cl_place(fl_client_t *c, const fl__epoch_t *e, const char *study, uint32_t *pg,
                 fl__npool_t *np[FL_MAP_WIDTH_MAX], fl_errmsg_t *em);

/* ---- maps (fl_client_map.c) ----------------------------------------------- */

/* Initialises the locks of c (zeroed); fl__cl_map_close undoes it. */
void fl__cl_map_init(fl_client_t *c);

/* Loads the first map from c->coord and installs it; starts the watcher
 * unless the source is static or watch is 0. */
int fl__cl_map_open(fl_client_t *c, int watch, fl_errmsg_t *em);

/* Stops the watcher (without waiting out its poll), drops the view and
 * frees every pool and its connections. */
void fl__cl_map_close(fl_client_t *c);

/* The current view, referenced: the caller releases it with view_put. */
fl__view_t *fl__cl_view_get(fl_client_t *c);
void fl__cl_view_put(fl__view_t *v);

/* A node answered with map epoch e: newer than ours wakes the watcher. */
void fl__cl_map_seen(fl_client_t *c, uint64_t e);

/* FL_EUID naming `what` unless uid is a valid DICOM UID. */
int fl__cl_check_uid(const char *what, const char *uid, fl_errmsg_t *em);

#endif
