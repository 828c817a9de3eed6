/* The erasure codec: turns an object into k+m self-verifying fragments
 * (liberasurecode, ISA-L backend) or m+1 replicas below a size threshold,
 * and rebuilds the object from any k of them, naming corrupt fragments. */
#ifndef FL_EC_H
#define FL_EC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "fl_ec_frag.h"
#include "fl_err.h"

/* Thread safety: one fl_ec_t may be used by any number of threads at once
 * (encode, decode, fragment sizes); it is immutable after fl_ec_init.
 * fl_ec_init/fl_ec_close may run concurrently with other contexts' work:
 * a process-wide lock covers liberasurecode's unlocked instance registry.
 * A stripe belongs to the thread that encoded it until it is released. */
typedef struct fl_ec fl_ec_t;

typedef struct fl_ec_config {
  int k;                    /* data fragments, 1..31 */
  int m;                    /* parity fragments, 1..31, k+m <= 32 */
  size_t replica_threshold; /* objects with size < this are stored as m+1
                             * full replicas; 0 disables replication except
                             * for empty objects, which are always replicas */
  const char *backend;      /* liberasurecode backend name; NULL means
                             * "isa_l_rs_vand". Borrowed during init only. */
} fl_ec_config_t;

/* Creates a codec. The first call in a process raises glibc's mmap and trim
 * thresholds (mallopt: 32 MiB, 128 MiB) so that liberasurecode's
 * per-encode fragment buffers are recycled instead of faulted in each time;
 * up to 128 MiB of freed heap may stay resident. FL_EBACKEND if the backend's shared library is missing
 * (the message names the Debian package), FL_ECONFIG for an unknown
 * backend name or a geometry the backend refuses. cfg is copied. */
int fl_ec_init(fl_ec_t **out, const fl_ec_config_t *cfg, fl_errmsg_t *em);
/* Frees ec; no stripe encoded with it may still be alive. NULL is a no-op. */
void fl_ec_close(fl_ec_t *ec);

/* The layout fl_ec_encode would pick for an object of this size. */
int fl_ec_layout_for(const fl_ec_t *ec, size_t size);

/* One fragment ready to send: the 48-byte header in hdr, then payload_len
 * bytes at payload. Send as two iovecs (fl_ec_frag_iov); nothing is copied
 * into a contiguous buffer. */
typedef struct fl_ec_frag {
  uint8_t hdr[FL_EC_FRAG_HDR_SIZE]; /* encoded header, owned by the stripe */
  const uint8_t *payload; /* EC: owned by the stripe; REPLICA: the caller's
                           * object buffer, borrowed */
  size_t payload_len;
} fl_ec_frag_t;

typedef struct fl_ec_stripe {
  int nfrags;                         /* k+m for EC, m+1 for REPLICA */
  int layout;                         /* enum fl_ec_layout */
  fl_ec_frag_t frag[FL_EC_MAX_FRAGS]; /* frag[i] has header index i */
  /* private to fl_ec.c */
  const fl_ec_t *fl__ec;
  char **fl__data, **fl__parity;
} fl_ec_stripe_t;

typedef struct fl_ec_put_opts {
  uint64_t stripe_id; /* written to every fragment; must differ between
                       * encodes that could be mixed up (e.g. a hash of
                       * object key and write time) */
  uint8_t flags;      /* FL_EC_FLAG_ENCRYPTED when obj is ciphertext */
  uint32_t key_id;    /* key that encrypted obj; 0 when clear */
} fl_ec_put_opts_t;

/* Encodes size bytes at obj into out. EC fragments are allocated by
 * liberasurecode (its one forced copy of the object) and obj is only read
 * during the call; replicas point into obj, which must then stay valid and
 * unchanged until out is released.
 * opts is read during the call (NULL: stripe id 0, clear). FL_ETOOBIG
 * beyond FL_EC_MAX_OBJECT, FL_EBACKEND if the backend fails, -ENOMEM.
 * On error out holds nothing to release. */
int fl_ec_encode(fl_ec_t *ec, const void *obj, size_t size, const fl_ec_put_opts_t *opts,
                 fl_ec_stripe_t *out, fl_errmsg_t *em);

/* Frees what fl_ec_encode allocated; the fragments' payloads die with it.
 * Safe on a zeroed stripe and twice in a row. */
void fl_ec_stripe_release(fl_ec_stripe_t *s);

/* Fills iov[0] with the header and iov[1] with the payload of f (borrowed
 * from f and its stripe). */
void fl_ec_frag_iov(const fl_ec_frag_t *f, struct iovec iov[2]);

/* One received fragment: header + payload contiguous, exactly len bytes.
 * For the zero-copy decode path buf should be 16-byte aligned. */
typedef struct fl_ec_in {
  const void *buf; /* borrowed for the call, never written */
  size_t len;
} fl_ec_in_t;

/* What fl_ec_decode found; filled on success and on failure. */
typedef struct fl_ec_report {
  uint64_t bad_pos;     /* bit p: in[p] failed verification or belongs to
                         * another object / geometry */
  uint32_t bad_idx;     /* bit i: a fragment whose header named index i
                         * (header intact) failed; unknown when the header
                         * itself was corrupt (see bad_pos) */
  int used;             /* valid fragments of the chosen object */
  int fast_path;        /* 1 if assembled from data fragments, no decoder */
  fl_ec_frag_hdr_t hdr; /* header of the chosen object's fragments (flags,
                         * key id, sizes); zero if none was valid */
} fl_ec_report_t;

/* Rebuilds an object from n fragments (any order, duplicates allowed, n <=
 * 64) into out[0..cap). Every fragment is verified; those that fail are
 * named in rep and em but do not stop the decode while k valid ones of one
 * object remain. *out_size gets the object size. Errors: FL_EUNAVAIL when
 * fewer than k (EC) or no (REPLICA) valid fragments of one object remain,
 * FL_ECORRUPT when valid fragments of several objects are mixed and none
 * has enough, FL_ETOOBIG if cap is too small (rep->hdr.object_size says how
 * much is needed), FL_EBACKEND if liberasurecode fails. rep may be NULL.
 * On a success that skipped bad fragments, em (if given) names them too. */
int fl_ec_decode(fl_ec_t *ec, const fl_ec_in_t *in, int n, void *out, size_t cap, size_t *out_size,
                 fl_ec_report_t *rep, fl_errmsg_t *em);

/* Rebuilds fragment `index` (header and payload, byte for byte what the
 * encode wrote) from n fragments of the same object, any k of them (one
 * for a replica), verifying each like fl_ec_decode, without decoding the
 * object: liberasurecode computes just that fragment. out (cap bytes)
 * receives it; *out_len its length (FL_EC_FRAG_HDR_SIZE + payload). Errors
 * as fl_ec_decode, FL_ETOOBIG if cap is too small, -EINVAL for an index
 * outside the stripe. Thread-safe like decode. */
int fl_ec_reconstruct(fl_ec_t *ec, const fl_ec_in_t *in, int n, int index, void *out, size_t cap,
                      size_t *out_len, fl_errmsg_t *em);
/* The same for inputs that each passed fl_ec_frag_verify in the caller,
 * typically right as they arrived, while still in the cache: their
 * headers and lengths are checked again, their payload CRCs are not
 * computed a second time. */
int fl_ec_reconstruct_checked(fl_ec_t *ec, const fl_ec_in_t *in, int n, int index, void *out,
                              size_t cap, size_t *out_len, fl_errmsg_t *em);

#endif
