/* One append-only volume file: create/open with torn-tail recovery, batched
 * durable appends, verified reads, iteration, sealing. Layout and recovery
 * rules: docs/volume-format.md. */
#ifndef FL_VOL_H
#define FL_VOL_H

#include <stddef.h>
#include <stdint.h>

#include "fl_err.h"
#include "fl_vol_io.h"
#include "fl_vol_record.h"
#include "fl_vol_super.h"

typedef struct fl_vol fl_vol_t;

enum { FL_VOL_DIRECT_AUTO = 0, FL_VOL_DIRECT_ON = 1, FL_VOL_DIRECT_OFF = 2 };

typedef struct fl_vol_opts {
  const fl_vol_io_t *io; /* NULL = fl_vol_io_posix(); borrowed, outlives the volume */
  uint64_t max_size;     /* appends that would pass it are refused; 0 = 1 GiB */
  int direct;            /* O_DIRECT: AUTO falls back to buffered where refused */
} fl_vol_opts_t;

/* What fl_vol_open found and did. */
typedef struct fl_vol_recovery {
  uint64_t file_size;     /* size on open */
  uint64_t scanned_from;  /* the superblock checkpoint the scan started at */
  uint64_t end;           /* end of valid records after recovery */
  uint64_t records;       /* records verified by the scan */
  uint64_t dropped_bytes; /* torn tail truncated away */
  uint64_t corrupt;       /* bad records followed by valid ones: kept, left for scrub */
} fl_vol_recovery_t;

#define FL_VOL_CRC_CHECK 1
#define FL_VOL_CRC_VERIFIED 2

/* One record to append. Pointers are borrowed for the call only. */
typedef struct fl_vol_rec_in {
  const void *key;
  uint16_t key_len; /* 1..FL_VOL_KEY_MAX */
  uint16_t meta_len; /* 0..FL_VOL_META_MAX */
  const void *meta;
  uint16_t frag;
  uint16_t flags;   /* FL_VOL_REC_F_* */
  uint64_t seq;     /* assigned by the caller (volume set) */
  const void *payload;
  uint64_t payload_len;
  /* 0: the payload's CRC is computed here. FL_VOL_CRC_CHECK: payload_crc
   * is the sender's, computed here again and compared (not trusted).
   * FL_VOL_CRC_VERIFIED: payload_crc was already verified over these very
   * bytes (a frame's CRC, checked as they arrived): used without another
   * pass over them. */
  int crc_given;
  uint32_t payload_crc;
} fl_vol_rec_in_t;

/* A record header read from disk; h.key/h.meta point into raw (valid as long
 * as this struct). */
typedef struct fl_vol_rec {
  fl_vol_rec_hdr_t h;
  uint64_t footprint; /* bytes in the file, padding included */
  uint8_t raw[FL_VOL_HDR_MAX];
} fl_vol_rec_t;

/* Creates path (must not exist) as an empty active volume `id`, durable
 * (file, superblock and directory entry synced) on return. o may be NULL.
 * path is copied. *out is NULL on error. */
int fl_vol_create(const char *path, uint32_t id, const fl_vol_opts_t *o, fl_vol_t **out,
                  fl_errmsg_t *em);

/* Opens an existing volume. An active volume is scanned from its superblock
 * checkpoint, verifying every record; a torn tail is truncated (and synced)
 * and reported in *rep (may be NULL); the new checkpoint is written. */
int fl_vol_open(const char *path, const fl_vol_opts_t *o, fl_vol_t **out,
                fl_vol_recovery_t *rep, fl_errmsg_t *em);

/* Closes and frees v (NULL is fine). No call on v may be in flight. */
void fl_vol_close(fl_vol_t *v);

uint32_t fl_vol_id(const fl_vol_t *v);
const char *fl_vol_path(const fl_vol_t *v); /* owned by v */
uint64_t fl_vol_end(fl_vol_t *v);     /* durable end: every byte below is acknowledged */
uint64_t fl_vol_max_seq(fl_vol_t *v); /* highest seq stored (0 if none) */
int fl_vol_sealed(fl_vol_t *v);
int fl_vol_direct(const fl_vol_t *v); /* 1 if writes use O_DIRECT */
/* 1 after an append failed and could not be cut back: the volume refuses
 * appends (its file is repaired by the next open). Appender only. */
int fl_vol_broken(const fl_vol_t *v);

/* Bytes n records take in the file. */
uint64_t fl_vol_batch_bytes(const fl_vol_rec_in_t *recs, size_t n);

/* 1 if `bytes` more fit under max_size; an empty volume takes anything, so
 * one record larger than max_size still has a home. */
int fl_vol_fits(fl_vol_t *v, uint64_t bytes);

/* Writes n records at the end with one write and one fdatasync; returns
 * after they are durable, offsets in offs[n] (OUT). Nothing is written when
 * a record is invalid (FL_ETOOBIG, FL_ECORRUPT for a CRC mismatch). On an I/O
 * failure the file is truncated back so no partial record stays, and the
 * error is returned: FL_ENOSPC for a full disk, else -errno. The next append
 * works once the cause is gone. FL_EREFUSED if sealed. Same as
 * fl_vol_write + fl_vol_sync (+ fl_vol_undo if the sync fails). */
int fl_vol_append(fl_vol_t *v, const fl_vol_rec_in_t *recs, size_t n, uint64_t *offs,
                  fl_errmsg_t *em);

/* The two halves of an append, for pipelining (the group commit writes the
 * next batch while the previous one syncs):
 * fl_vol_write: one pwrite of n records after the written end; not durable
 *   nor readable yet. A failed write cuts its own bytes back (errors as
 *   fl_vol_append). Calls must not overlap each other or fl_vol_undo.
 * fl_vol_sync: one fdatasync; on success every record written before the
 *   call is durable and readable. May run alongside fl_vol_write. On
 *   failure (FL_ENOSPC or -errno) the caller must fl_vol_undo (with no
 *   write running) and fail every record written since the durable end.
 * fl_vol_undo: truncates to the durable end, dropping written records.
 * fl_vol_pending: 1 if some written records are not durable yet. */
int fl_vol_write(fl_vol_t *v, const fl_vol_rec_in_t *recs, size_t n, uint64_t *offs,
                 fl_errmsg_t *em);
int fl_vol_sync(fl_vol_t *v, fl_errmsg_t *em);
void fl_vol_undo(fl_vol_t *v);
/* Truncates to `to` (>= the durable end) and marks the volume broken if even
 * that fails. */
void fl_vol_undo_to(fl_vol_t *v, uint64_t to);
int fl_vol_pending(fl_vol_t *v);

/* Like fl_vol_read with a payload, but into a buffer it allocates: *base
 * (release with free()) holds the bytes, *data points at the first payload
 * byte of the range inside it. On an O_DIRECT volume the range is read with
 * O_DIRECT into a 4 KiB-aligned buffer: records written with O_DIRECT are
 * not in the page cache, and a buffered read would fill it first and copy
 * after. Nothing is allocated on error. Thread-safe. */
int fl_vol_read_alloc(fl_vol_t *v, uint64_t off, fl_vol_rec_t *rec, uint64_t pay_off,
                      uint64_t len, void **base, void **data, fl_errmsg_t *em);

/* Marks v sealed (read-only) in its superblock; durable on return, and so
 * is every record written before (the superblock's fdatasync covers them). */
int fl_vol_seal(fl_vol_t *v, fl_errmsg_t *em);

/* Reads the record at off (below the durable end) into rec and, if payload is
 * non-NULL, len bytes of its payload starting at pay_off into payload (OUT).
 * Verifies the header always, and the payload CRC when the whole payload is
 * read. FL_ECORRUPT if off is not a valid record, -EINVAL for a range past
 * the payload. Thread-safe. */
int fl_vol_read(fl_vol_t *v, uint64_t off, fl_vol_rec_t *rec, void *payload, uint64_t pay_off,
                uint64_t len, fl_errmsg_t *em);

/* Iterates records in file order. verify: also read every payload, check
 * its CRC and that the padding is zero (scrub, recovery); otherwise only
 * headers are read (index rebuild). */
typedef struct fl_vol_iter {
  fl_vol_t *v;   /* borrowed */
  uint64_t off;  /* next offset to look at */
  uint64_t end;  /* durable end when the iteration started */
  int verify;
  uint8_t *buf;  /* scratch for payload checks, owned */
} fl_vol_iter_t;

int fl_vol_iter_init(fl_vol_iter_t *it, fl_vol_t *v, int verify);
void fl_vol_iter_close(fl_vol_iter_t *it);

/* Returns 1 with the next record in *rec and its offset in *off; 0 at the
 * end; FL_ECORRUPT when the record at *off is bad (the iterator has already
 * moved to the next valid record, so calling again continues); other
 * negatives are I/O errors. */
int fl_vol_iter_next(fl_vol_iter_t *it, fl_vol_rec_t *rec, uint64_t *off, fl_errmsg_t *em);

#endif
