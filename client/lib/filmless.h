/* libfilmless: store, fetch, list and delete DICOM instances and studies in a
 * filmless cluster. The only header an application includes; the design
 * (threading, object layout, visibility, immutability) is docs/client.md. */
#ifndef FILMLESS_H
#define FILMLESS_H

#include <stddef.h>
#include <stdint.h>

/* Error codes (FL_E*, negative), fl_strerror(), fl_err_name() and the
 * optional message buffer fl_errmsg_t every call below accepts (NULL when
 * the caller does not want the text). */
#include "fl_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Threading: a client handle may be used by any number of threads at once;
 * every function below is thread-safe on the same handle except
 * fl_client_close, which must not race with any other call on it. Inside,
 * fragments of one instance go out in parallel on a pool of I/O threads
 * over per-node pools of connections; callers get more instances in flight
 * simply by calling from several threads. */
typedef struct fl_client fl_client_t;

#define FL_CLIENT_UID_BUF 65 /* a DICOM UID (64 characters) and its NUL */

typedef struct fl_client_opts {
  /* Where the cluster map comes from: the coordinator's "HOST:PORT", or a
   * static map "static:K+M:ADDR,ADDR,..." naming the nodes directly (for a
   * cluster without coordinator; docs/client.md). Copied. Required. */
  const char *coord;
  const char *tenant;     /* copied; NULL or "": "default" */
  unsigned io_threads;    /* node I/O threads; 0: 32 */
  unsigned study_threads; /* instances in flight in a study get; 0: 8 */
  int timeout_ms;         /* per node call; 0: 10000 */
  /* 1: read the map once at open and never again. 0 (the default): with a
   * coordinator, a background thread watches the map (WATCH_MAP) and
   * installs each new epoch, and a node answering with a newer epoch makes
   * it fetch at once (docs/client.md, "Maps"). No effect on static maps. */
  int no_watch;
} fl_client_opts_t;

/* Opens a client: loads the cluster map, starts the thread pools and (see
 * no_watch) the map watcher. No node is contacted yet. opts is copied. Errors: FL_ECONFIG (bad address,
 * tenant or static map, with em saying which), the coordinator's transport
 * error (-ECONNREFUSED, -ETIMEDOUT), FL_EUNAVAIL (map with too few nodes),
 * -ENOMEM. *out is set only on success. */
int fl_client_open(fl_client_t **out, const fl_client_opts_t *opts, fl_errmsg_t *em);

/* Waits for nothing (every call has returned by contract; the watcher's
 * long poll is cut short, not waited out), closes every connection and
 * frees the handle. NULL is a no-op. */
void fl_client_close(fl_client_t *c);

/* ---- put --------------------------------------------------------------- */

/* What a put did. */
typedef struct fl_put_result {
  char study_uid[FL_CLIENT_UID_BUF];  /* identity read from the DICOM data */
  char series_uid[FL_CLIENT_UID_BUF];
  char sop_uid[FL_CLIENT_UID_BUF];
  uint64_t size;           /* bytes of the instance */
  int replicated;          /* 1: small object stored as m+1 replicas */
  int existed;             /* 1: the identical instance was already stored */
  unsigned frags_total;    /* fragments (or replicas) the layout has */
  unsigned frags_durable;  /* acknowledged durable by their nodes */
  unsigned frags_missing;  /* not written: left for repair (logged) */
} fl_put_result_t;

/* Stores one instance from memory. Its identity (study, series and SOP
 * instance UIDs) is read from the bytes by the DICOM shim. buf is borrowed
 * for the call only. The instance is erasure-coded (k+m fragments) or, below
 * the policy's small-object threshold, replicated (m+1 copies), and the
 * fragments are sent in parallel to the study's placement group. Success
 * once min_write fragments (replicas: min_write - k + 1) are durable; the
 * rest are counted in res->frags_missing and logged for repair.
 * Immutability: the same bytes again succeed and change nothing
 * (res->existed = 1); different bytes under a stored SOP Instance UID fail
 * with FL_EEXIST. Errors: FL_ENOTDICOM / FL_EDICOM / FL_EUID (bad input,
 * nothing sent), FL_EQUORUM (too few nodes of the group answered: the
 * fragments this call wrote are removed again, so nothing becomes
 * visible), FL_EEXIST, FL_ETOOBIG, FL_ENOSPC, transport errors. res may be
 * NULL; it is filled as far as known on failure too. */
int fl_client_put(fl_client_t *c, const void *buf, size_t len, fl_put_result_t *res,
                  fl_errmsg_t *em);

/* fl_client_put of a file's bytes (mapped read-only; path borrowed). The
 * file name plays no part in the identity. Also -errno for I/O errors. */
int fl_client_put_file(fl_client_t *c, const char *path, fl_put_result_t *res,
                       fl_errmsg_t *em);

/* ---- get --------------------------------------------------------------- */

/* Fetches one instance, byte-exact and verified (every fragment's CRC32C,
 * and the object size). series_uid may be NULL (found by listing the
 * study). Data fragments are read first (no decoding); parity is read only
 * for data fragments that are missing or corrupt. On success *out is a
 * malloc'd buffer handed to the caller (free()) of *len bytes. Strings are
 * borrowed for the call. Errors: FL_ENOTFOUND (no such instance visible),
 * FL_EUNAVAIL (fewer than k valid fragments reachable), FL_EUID. */
int fl_client_get(fl_client_t *c, const char *study_uid, const char *series_uid,
                  const char *sop_uid, void **out, size_t *len, fl_errmsg_t *em);

/* One instance as listed. */
typedef struct fl_instance {
  char study_uid[FL_CLIENT_UID_BUF];
  char series_uid[FL_CLIENT_UID_BUF];
  char sop_uid[FL_CLIENT_UID_BUF];
  char sop_class_uid[FL_CLIENT_UID_BUF];
  char modality[17];
  char study_date[9];
  int32_t series_number;   /* -1 when unknown */
  int32_t instance_number; /* -1 when unknown */
  uint64_t size;           /* bytes of the instance */
  int replicated;          /* 1: stored as replicas */
  unsigned frags_present;  /* distinct fragments found on reachable nodes */
  unsigned frags_total;    /* k+m, or m+1 for replicas */
} fl_instance_t;

/* Called once per instance of a study get, with its bytes (borrowed for
 * the call only). Calls are serialised (never two at once) but come from
 * the library's threads (or the caller's), in no particular order. A
 * non-zero return stops the get and is returned by it. The callback may
 * call fl_client_put or fl_client_get but not another fl_study_get* (its
 * thread would wait for the pool it runs on). */
typedef int (*fl_study_instance_cb)(void *arg, const fl_instance_t *inst, const void *data,
                                    size_t len);

/* What a study get did. */
typedef struct fl_study_get_stats {
  uint64_t instances; /* delivered to the callback */
  uint64_t bytes;
  uint64_t failed;    /* instances that could not be read (first error returned) */
  double first_ms;    /* call start to first instance delivered */
} fl_study_get_stats_t;

/* Fetches every visible instance of a study, several at once
 * (study_threads), each verified as in fl_client_get. study_uid and arg are
 * borrowed for the call; stats may be NULL. Errors: FL_ENOTFOUND (no
 * visible instance), the first instance error (the others are still
 * attempted and counted in stats->failed), or the callback's return. */
int fl_study_get(fl_client_t *c, const char *study_uid, fl_study_instance_cb cb, void *arg,
                 fl_study_get_stats_t *stats, fl_errmsg_t *em);

/* fl_study_get writing each instance to dir/<SOPInstanceUID>.dcm (dir is
 * created if missing; files are written to a temporary name, fsync'd and
 * renamed, so a file that exists is complete). */
int fl_study_get_to_dir(fl_client_t *c, const char *study_uid, const char *dir,
                        fl_study_get_stats_t *stats, fl_errmsg_t *em);

/* ---- list and delete --------------------------------------------------- */

/* A study's visible instances, sorted by series number, series UID,
 * instance number, SOP UID. Owned by the caller: fl_study_listing_free. */
typedef struct fl_study_listing {
  fl_instance_t *inst;
  size_t count;
  unsigned nodes_down; /* nodes of the group that did not answer */
} fl_study_listing_t;

/* Lists a study: asks every node of its placement group in parallel (and,
 * after a map change, the group's nodes in the earlier maps, whose
 * failures do not count) and lists an instance only when enough fragments
 * are present to read it (docs/client.md, "Visibility", "Maps"). An
 * unknown study is an empty listing (count 0), not an error. FL_EUNAVAIL
 * if fewer than k nodes of the current group answered. */
int fl_study_list(fl_client_t *c, const char *study_uid, fl_study_listing_t *out,
                  fl_errmsg_t *em);
void fl_study_listing_free(fl_study_listing_t *l);

/* One study of the tenant. */
typedef struct fl_study_summary {
  char study_uid[FL_CLIENT_UID_BUF];
  char study_date[9];
  char modality[17]; /* of the first instance seen */
} fl_study_summary_t;

/* Lists the tenant's studies (every node is asked; a study held by at
 * least one reachable node appears). *out is a malloc'd array of *count
 * entries (free()), sorted by study UID. *nodes_down (may be NULL) gets the
 * number of nodes that did not answer. */
int fl_client_list_studies(fl_client_t *c, fl_study_summary_t **out, size_t *count,
                           unsigned *nodes_down, fl_errmsg_t *em);

/* Deletes every instance of a study: a tombstone for each fragment on every
 * node of its group, and on the group's nodes in the earlier maps (those
 * that cannot be reached are logged, not an error). *instances (may be NULL) gets the number of instances
 * found. Nodes that are down keep their fragments until repair; the call
 * then fails with FL_EUNAVAIL after deleting what it could (retry later).
 * Deleting an unknown study succeeds with 0. */
int fl_study_delete(fl_client_t *c, const char *study_uid, uint64_t *instances,
                    fl_errmsg_t *em);

/* The policy the client works with (from the cluster map). */
typedef struct fl_client_policy {
  unsigned k, m, min_write, pg_count;
  uint64_t small_threshold;
  uint64_t map_epoch;
  unsigned nodes;
} fl_client_policy_t;

void fl_client_policy(fl_client_t *c, fl_client_policy_t *out);

/* The epoch of the map the client uses now (0 for a static map). It grows
 * as the watcher installs new maps; each call uses the map that was
 * current when it started, from its start to its end. */
uint64_t fl_client_map_epoch(fl_client_t *c);

#ifdef __cplusplus
}
#endif

#endif
