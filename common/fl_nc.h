/* Blocking calls to one storage node over a fl_wire_conn: put, get, list,
 * delete, stat and ping of fragments. Used by tools, tests and benchmarks;
 * one connection per thread. Errors are the node's status (with its text in
 * em) or the transport's. */
#ifndef FL_NC_H
#define FL_NC_H

#include <stddef.h>
#include <stdint.h>

#include "fl_err.h"
#include "fl_wire_conn.h"

/* A fragment's identity on a node. Strings are borrowed for each call. */
typedef struct fl_nc_key {
  uint32_t pg;
  const char *tenant, *study, *series, *sop;
  uint32_t frag;
} fl_nc_key_t;

/* Extra fields of a put (all optional: zero them). */
typedef struct fl_nc_put_opts {
  uint32_t layout;      /* 1 = erasure-coded fragment, 0 = replica */
  uint64_t object_size;
  const char *modality, *sop_class, *study_date; /* index attributes, may be NULL */
} fl_nc_put_opts_t;

int fl_nc_ping(fl_wire_conn_t *c, fl_errmsg_t *em);

/* More fields of a put, for fl_nc_putv (all optional: zero them). */
typedef struct fl_nc_put_ext {
  const char *series_number, *instance_number; /* decimal text, may be NULL */
  uint32_t ec_k, ec_m;                         /* geometry of the stripe */
} fl_nc_put_ext_t;

/* *existed (may be NULL) is 1 when identical bytes were already stored. */
int fl_nc_put(fl_wire_conn_t *c, const fl_nc_key_t *k, const fl_nc_put_opts_t *o,
              const void *data, uint64_t len, int *existed, fl_errmsg_t *em);

/* fl_nc_put with the payload in iovcnt (<= FL_WIRE_CONN_IOV_MAX) buffers,
 * sent without copying, and the extra fields of x (may be NULL). */
int fl_nc_putv(fl_wire_conn_t *c, const fl_nc_key_t *k, const fl_nc_put_opts_t *o,
               const fl_nc_put_ext_t *x, const struct iovec *iov, int iovcnt, int *existed,
               fl_errmsg_t *em);

/* Reads len bytes (0 = whole) from off into buf (cap bytes); *got receives
 * the bytes read, *frag_size (may be NULL) the whole fragment's size. */
int fl_nc_get(fl_wire_conn_t *c, const fl_nc_key_t *k, uint64_t off, uint64_t len, void *buf,
              uint64_t cap, uint64_t *got, uint64_t *frag_size, fl_errmsg_t *em);

/* Pipelining: send requests with ids of the caller's choosing without
 * waiting, then collect the responses, in any order, with fl_nc_recv. The
 * data is borrowed for the call. */
int fl_nc_put_send(fl_wire_conn_t *c, uint64_t id, const fl_nc_key_t *k, const void *data,
                   uint64_t len, fl_errmsg_t *em);
int fl_nc_get_send(fl_wire_conn_t *c, uint64_t id, const fl_nc_key_t *k, fl_errmsg_t *em);
/* fl_nc_get_send queued with fl_wire_conn_queue: it leaves with the next
 * send, receive or fl_wire_conn_flush, together with the others queued. */
int fl_nc_get_queue(fl_wire_conn_t *c, uint64_t id, const fl_nc_key_t *k, fl_errmsg_t *em);
/* Receives the next response (payload into buf when non-NULL, cap bytes;
 * else fl_wire_conn_payload gives it); *id is its request id. Returns the
 * node's status with its text in em, or a transport error. */
int fl_nc_recv(fl_wire_conn_t *c, void *buf, uint64_t cap, uint64_t *id, fl_errmsg_t *em);

/* Deletes one fragment, or with all_frags every fragment of the object. */
int fl_nc_delete(fl_wire_conn_t *c, const fl_nc_key_t *k, int all_frags, uint32_t *tombstoned,
                 fl_errmsg_t *em);

/* Lists a study (series/sop of k may be NULL), every page; calls fn for
 * each entry (borrowed for the call); *count receives the total. */
typedef int (*fl_nc_list_fn)(void *arg, const Fl__ListEntry *e);
int fl_nc_list(fl_wire_conn_t *c, const fl_nc_key_t *k, uint32_t page_size, fl_nc_list_fn fn,
               void *arg, uint64_t *count, fl_errmsg_t *em);

/* out receives a copy of the node's StatResult scalars (its repair
 * sub-message is not copied: out->repair is NULL). */
int fl_nc_stat(fl_wire_conn_t *c, Fl__StatResult *out, fl_errmsg_t *em);

/* ---- repair (docs/repair.md) ---------------------------------------------- */

/* One node's summary of its live fragments of (pg, frag): the PgStat of a
 * PG_STATS response. Digests are XORs of the object-key hash
 * (fl_idx_key_obj_hash on the node). */
typedef struct fl_nc_pg_stat {
  uint32_t pg;
  uint16_t frag;                          /* < FL_NC_FRAG_MAX */
  uint64_t ec_count, ec_digest;           /* live erasure-coded fragments */
  uint64_t replica_count, replica_digest; /* live replicas */
  uint64_t bytes;                         /* their payload bytes */
} fl_nc_pg_stat_t;

#define FL_NC_FRAG_MAX 64           /* fragment indexes a summary may name */
#define FL_NC_PG_STATS_MAX (1u << 22) /* entries a PG_STATS payload may hold */

/* The node's per-(pg, frag) summaries, sorted by (pg, frag): *out is
 * malloc'd (free() it; NULL when *n is 0). Decoded with
 * fl_nc_pg_stats_decode, whose refusals it returns. */
int fl_nc_pg_stats(fl_wire_conn_t *c, fl_nc_pg_stat_t **out, size_t *n, fl_errmsg_t *em);

/* Decodes an untrusted PG_STATS payload (a packed PgStatList; len 0 is an
 * empty list). Refuses, with FL_EPROTO and a message naming the entry:
 * bytes that do not decode, more than FL_NC_PG_STATS_MAX entries (checked
 * before the output is allocated), a fragment index >= FL_NC_FRAG_MAX, and
 * entries out of (pg, frag) order or repeated. payload is borrowed for the
 * call; on error *out is NULL and *n 0. */
int fl_nc_pg_stats_decode(const uint8_t *payload, size_t len, fl_nc_pg_stat_t **out,
                          size_t *n, fl_errmsg_t *em);

/* Lists every key of pg on the node (LIST with whole_pg), every page of
 * page_size (0: the node's default); tombstones too with
 * include_tombstones (drops are never listed). fn as for fl_nc_list (may be
 * NULL); *count receives the total. */
int fl_nc_list_pg(fl_wire_conn_t *c, uint32_t pg, int include_tombstones, uint32_t page_size,
                  fl_nc_list_fn fn, void *arg, uint64_t *count, fl_errmsg_t *em);

/* Drops the node's copy of fragment k->frag (DELETE with drop), with the
 * caller's map epoch in the request header: FL_EREFUSED (with the node's
 * reason) unless the node's map has that epoch and places the fragment
 * elsewhere. *dropped (may be NULL) is 1 if a live copy went, 0 if there
 * was none. */
int fl_nc_drop(fl_wire_conn_t *c, const fl_nc_key_t *k, uint64_t map_epoch, uint32_t *dropped,
               fl_errmsg_t *em);

/* Puts fragment k->frag (payload in iovcnt <= FL_WIRE_CONN_IOV_MAX buffers)
 * with the metadata of meta, a listed live entry of the same object: its
 * layout, object_size, key_id, record flags and every attribute verbatim
 * (encrypted ones included), so a repaired fragment is indexed exactly like
 * the one it replaces. meta and the buffers are borrowed for the call.
 * -EINVAL if meta is a tombstone. *existed as for fl_nc_put. */
int fl_nc_put_entry(fl_wire_conn_t *c, const fl_nc_key_t *k, const Fl__ListEntry *meta,
                    const struct iovec *iov, int iovcnt, int *existed, fl_errmsg_t *em);
/* The pieces of a PUT_FRAGMENT request header; they borrow the key and
 * metadata they were built from and live in the caller's frame. */
typedef struct fl_nc_put_msg {
  Fl__FrameHeader h;
  Fl__PutFragmentArgs a;
  Fl__ObjectKey ok;
  Fl__Attribute at[5], *ap[5];
} fl_nc_put_msg_t;
/* Builds in m the header fl_nc_put_entry sends for a payload of len bytes
 * (without the payload's CRC), for a node that stores a repaired fragment
 * of its own through its request handler. -EINVAL if meta is a tombstone. */
int fl_nc_put_entry_msg(fl_nc_put_msg_t *m, const fl_nc_key_t *k, const Fl__ListEntry *meta,
                        uint64_t len, fl_errmsg_t *em);
/* The same put pipelined: queued with request id `id`
 * (fl_wire_conn_queue_known: the payload is borrowed until the queue is
 * written by the next send, receive or flush); its answer comes through
 * fl_nc_recv. crc is the payload's CRC32C, which the caller has without a
 * pass over it (fl_ec_frag_whole_crc of a fragment it just made, or the
 * CRC the fragment arrived with). */
int fl_nc_put_entry_queue(fl_wire_conn_t *c, uint64_t id, const fl_nc_key_t *k,
                          const Fl__ListEntry *meta, const struct iovec *iov, int iovcnt,
                          uint32_t crc, fl_errmsg_t *em);

#endif
