/* One volume file. Writes go through one O_DIRECT (or buffered) descriptor
 * from a 4 KiB-aligned staging buffer, one pwrite + one fdatasync per batch;
 * reads go through a second, buffered descriptor so any byte range can be
 * read without alignment. The durable end (`end`) only moves after
 * fdatasync, so a reader never sees an unacknowledged record. */
#include "fl_vol.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fl_crc32c.h"
#include "fl_log.h"

#define FL__VOL_SCRATCH (1u << 20)

struct fl_vol {
  const fl_vol_io_t *io; /* borrowed */
  char *path;            /* owned */
  uint32_t id;
  int wfd;               /* write descriptor (O_DIRECT when direct) */
  int rfd;               /* buffered read descriptor (== wfd when !direct) */
  int direct;
  uint64_t max_size;
  _Atomic uint64_t end;      /* durable end: advanced by fl_vol_sync */
  _Atomic uint64_t wend;     /* written end (>= end): advanced by fl_vol_write */
  _Atomic uint64_t max_seq;  /* highest seq below end */
  _Atomic uint64_t wmax_seq; /* highest seq below wend */
  atomic_int sealed;
  int broken;            /* a failed append could not be undone: refuse more */
  fl_vol_super_t sb;     /* last superblock written; appender only */
  uint8_t *stage;        /* aligned staging buffer; appender only */
  size_t stage_cap;
};

static int fl__vol_ioerr(int rc) { return (rc == -ENOSPC || rc == -EDQUOT) ? FL_ENOSPC : rc; }

static uint64_t fl__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint32_t fl_vol_id(const fl_vol_t *v) { return v->id; }
const char *fl_vol_path(const fl_vol_t *v) { return v->path; }
uint64_t fl_vol_end(fl_vol_t *v) { return atomic_load(&v->end); }
uint64_t fl_vol_max_seq(fl_vol_t *v) { return atomic_load(&v->max_seq); }
int fl_vol_sealed(fl_vol_t *v) { return atomic_load(&v->sealed); }
int fl_vol_direct(const fl_vol_t *v) { return v->direct; }
int fl_vol_broken(const fl_vol_t *v) { return v->broken; }

uint64_t fl_vol_batch_bytes(const fl_vol_rec_in_t *recs, size_t n) {
  uint64_t t = 0;
  for (size_t i = 0; i < n; i++)
    t += fl_vol_rec_footprint(recs[i].key_len, recs[i].meta_len, recs[i].payload_len);
  return t;
}

int fl_vol_fits(fl_vol_t *v, uint64_t bytes) {
  uint64_t end = atomic_load(&v->wend);
  return end == FL_VOL_DATA_START || end + bytes <= v->max_size;
}

/* Opens path for writing (O_DIRECT as asked) and for buffered reading. */
static int fl__vol_open_fds(fl_vol_t *v, const fl_vol_opts_t *o, int create, fl_errmsg_t *em) {
  int flags = O_RDWR | (create ? O_CREAT | O_EXCL : 0);
  int want = o ? o->direct : FL_VOL_DIRECT_AUTO;
  v->wfd = v->rfd = -1;
  v->direct = 0;
  if (want != FL_VOL_DIRECT_OFF) {
    int fd = v->io->open(v->io->ctx, v->path, flags | O_DIRECT, 0644);
    if (fd >= 0) {
      v->wfd = fd;
      v->direct = 1;
    } else if (fd != -EINVAL || want == FL_VOL_DIRECT_ON) {
      return fl_errf(em, fd, "opening volume %s with O_DIRECT", v->path);
    }
  }
  if (v->wfd < 0) {
    int fd = v->io->open(v->io->ctx, v->path, flags, 0644);
    if (fd < 0)
      return fl_errf(em, fd, "opening volume %s", v->path);
    v->wfd = v->rfd = fd;
    return 0;
  }
  int fd = v->io->open(v->io->ctx, v->path, O_RDONLY, 0);
  if (fd < 0)
    return fl_errf(em, fd, "opening volume %s for reading", v->path);
  v->rfd = fd;
  return 0;
}

static fl_vol_t *fl__vol_new(const char *path, const fl_vol_opts_t *o) {
  fl_vol_t *v = calloc(1, sizeof *v);
  if (!v)
    return NULL;
  v->path = strdup(path);
  if (!v->path) {
    free(v);
    return NULL;
  }
  v->io = (o && o->io) ? o->io : fl_vol_io_posix();
  v->max_size = (o && o->max_size) ? o->max_size : (1ull << 30);
  v->wfd = v->rfd = -1;
  return v;
}

void fl_vol_close(fl_vol_t *v) {
  if (!v)
    return;
  if (v->rfd >= 0 && v->rfd != v->wfd)
    v->io->close(v->io->ctx, v->rfd);
  if (v->wfd >= 0)
    v->io->close(v->io->ctx, v->wfd);
  free(v->stage);
  free(v->path);
  free(v);
}

static int fl__vol_stage(fl_vol_t *v, size_t need, fl_errmsg_t *em) {
  if (v->stage_cap >= need)
    return 0;
  size_t cap = v->stage_cap ? v->stage_cap : (1u << 20);
  while (cap < need)
    cap *= 2;
  void *p = NULL;
  int rc = posix_memalign(&p, FL_VOL_ALIGN, cap);
  if (rc)
    return fl_errf(em, -rc, "allocating a %zu-byte write buffer", cap);
  free(v->stage);
  v->stage = p;
  v->stage_cap = cap;
  return 0;
}

/* Records that everything below wend (seqs up to wmax) is durable. */
static void fl__vol_durable(fl_vol_t *v, uint64_t wend, uint64_t wmax) {
  uint64_t e = atomic_load(&v->end);
  while (e < wend && !atomic_compare_exchange_weak(&v->end, &e, wend)) {
  }
  uint64_t m = atomic_load(&v->max_seq);
  while (m < wmax && !atomic_compare_exchange_weak(&v->max_seq, &m, wmax)) {
  }
}

static int fl__vol_write_super(fl_vol_t *v, uint16_t state, fl_errmsg_t *em) {
  fl_vol_super_t sb = v->sb;
  sb.generation++;
  sb.state = state;
  /* The slot's fdatasync also makes every written record durable. */
  uint64_t wend = atomic_load(&v->wend), wmax = atomic_load(&v->wmax_seq);
  sb.checkpoint = wend;
  sb.checkpoint_seq = wmax;
  int rc = fl__vol_stage(v, FL_VOL_SB_SLOT, em);
  if (rc)
    return rc;
  rc = fl_vol_super_write(v->io, v->wfd, &sb, v->stage, em);
  if (rc)
    return fl_errprefix(em, rc, "volume %s", v->path);
  v->sb = sb;
  fl__vol_durable(v, wend, wmax);
  return 0;
}

static void fl__sync_dir(const char *path) {
  char *copy = strdup(path);
  if (!copy)
    return;
  int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
  free(copy);
}

int fl_vol_create(const char *path, uint32_t id, const fl_vol_opts_t *o, fl_vol_t **out,
                  fl_errmsg_t *em) {
  int rc;
  *out = NULL;
  fl_vol_t *v = fl__vol_new(path, o);
  if (!v)
    return fl_errf(em, -ENOMEM, "creating volume %s", path);
  rc = fl__vol_open_fds(v, o, 1, em);
  if (rc)
    goto fail;
  v->id = id;
  atomic_store(&v->end, FL_VOL_DATA_START);
  atomic_store(&v->wend, FL_VOL_DATA_START);
  rc = v->io->ftruncate(v->io->ctx, v->wfd, FL_VOL_DATA_START);
  if (rc) {
    rc = fl_errf(em, fl__vol_ioerr(rc), "sizing new volume %s", path);
    goto fail;
  }
  v->sb = (fl_vol_super_t){.volume_id = id, .generation = 0, .created_ns = fl__now_ns()};
  rc = fl__vol_write_super(v, FL_VOL_STATE_ACTIVE, em);
  if (rc)
    goto fail;
  fl__sync_dir(path);
  *out = v;
  return 0;
fail:
  if (v->wfd >= 0)
    unlink(path);
  fl_vol_close(v);
  return rc;
}

/* Checks the record at off, which must end at or below limit. verify also
 * reads the payload and padding through scratch (FL__VOL_SCRATCH bytes).
 * Returns 0, FL_ETRUNC (runs past limit), FL_ECORRUPT, or -errno. */
/* Parses the n header bytes in rec->raw of the record at off and checks
 * that it is where it says and ends before limit. */
static int fl__vol_hdr_check(fl_vol_t *v, uint64_t off, uint64_t limit, fl_vol_rec_t *rec,
                             size_t n, fl_errmsg_t *em) {
  int rc = fl_vol_rec_parse(rec->raw, n, &rec->h, em);
  if (rc)
    return rc;
  if (rec->h.offset != off || rec->h.volume_id != v->id)
    return fl_errf(em, FL_ECORRUPT, "record at %llu claims volume %u offset %llu",
                   (unsigned long long)off, rec->h.volume_id,
                   (unsigned long long)rec->h.offset);
  rec->footprint = fl_vol_rec_footprint(rec->h.key_len, rec->h.meta_len, rec->h.payload_len);
  if (off + rec->footprint > limit)
    return fl_errf(em, FL_ETRUNC, "record at %llu (%llu bytes) runs past the end %llu",
                   (unsigned long long)off, (unsigned long long)rec->footprint,
                   (unsigned long long)limit);
  return 0;
}

static int fl__vol_check_at(fl_vol_t *v, uint64_t off, uint64_t limit, fl_vol_rec_t *rec,
                            int verify, uint8_t *scratch, fl_errmsg_t *em) {
  if (off + FL_VOL_REC_FIXED > limit)
    return fl_errf(em, FL_ETRUNC, "record at %llu runs past the end %llu",
                   (unsigned long long)off, (unsigned long long)limit);
  size_t want = limit - off < FL_VOL_HDR_MAX ? (size_t)(limit - off) : FL_VOL_HDR_MAX;
  ssize_t n = v->io->pread(v->io->ctx, v->rfd, rec->raw, want, off);
  if (n < 0)
    return fl_errf(em, (int)n, "reading record header at %llu", (unsigned long long)off);
  int rc = fl__vol_hdr_check(v, off, limit, rec, (size_t)n, em);
  if (rc)
    return rc;
  if (!verify)
    return 0;
  uint64_t pos = off + fl_vol_rec_hdr_size(&rec->h);
  uint64_t pay_end = pos + rec->h.payload_len, rec_end = off + rec->footprint;
  uint32_t crc = 0;
  while (pos < rec_end) {
    size_t chunk = rec_end - pos < FL__VOL_SCRATCH ? (size_t)(rec_end - pos) : FL__VOL_SCRATCH;
    n = v->io->pread(v->io->ctx, v->rfd, scratch, chunk, pos);
    if (n < 0)
      return fl_errf(em, (int)n, "reading record payload at %llu", (unsigned long long)pos);
    if ((size_t)n != chunk)
      return fl_errf(em, FL_ETRUNC, "short read of record at %llu", (unsigned long long)off);
    size_t pay = pos < pay_end ? (size_t)(pay_end - pos < chunk ? pay_end - pos : chunk) : 0;
    crc = fl_crc32c_extend(crc, scratch, pay);
    for (size_t i = pay; i < chunk; i++)
      if (scratch[i])
        return fl_errf(em, FL_ECORRUPT, "record at %llu: padding byte at %llu is 0x%02x",
                       (unsigned long long)off, (unsigned long long)(pos + i), scratch[i]);
    pos += chunk;
  }
  if (crc != rec->h.payload_crc)
    return fl_errf(em, FL_ECORRUPT, "record at %llu: payload CRC 0x%08x, header says 0x%08x",
                   (unsigned long long)off, crc, rec->h.payload_crc);
  return 0;
}

/* Finds the first fully valid record after a bad one at `bad`, stepping by
 * the alignment. Returns 1 with *next, 0 if none before limit, or -errno. */
/* The next record after the bad one at `bad`: with verify, the next wholly
 * valid record (recovery: only corrupt records after a point are a torn
 * tail); without, the next valid header (scrub: a corrupt record right after
 * another one is still visited and reported). */
static int fl__vol_resync(fl_vol_t *v, uint64_t bad, uint64_t limit, uint8_t *scratch,
                          int verify, uint64_t *next) {
  fl_vol_rec_t *rec = malloc(sizeof *rec);
  if (!rec)
    return -ENOMEM;
  int found = 0;
  for (uint64_t o = bad + FL_VOL_ALIGN; o + FL_VOL_REC_FIXED <= limit; o += FL_VOL_ALIGN) {
    int rc = fl__vol_check_at(v, o, limit, rec, verify, scratch, NULL);
    if (rc == 0) {
      *next = o;
      found = 1;
      break;
    }
    if (rc != FL_ECORRUPT && rc != FL_ETRUNC && rc != FL_EVERSION && rc != FL_ETOOBIG) {
      found = rc;
      break;
    }
  }
  free(rec);
  return found;
}

static void fl__vol_note_seq(fl_vol_t *v, uint64_t seq) {
  if (seq > atomic_load(&v->max_seq))
    atomic_store(&v->max_seq, seq);
}

/* Scans [from, size) verifying every record; truncates a torn tail. */
static int fl__vol_recover(fl_vol_t *v, uint64_t from, uint64_t size, fl_vol_recovery_t *rep,
                           fl_errmsg_t *em) {
  int rc = 0;
  uint8_t *scratch = malloc(FL__VOL_SCRATCH);
  fl_vol_rec_t *rec = malloc(sizeof *rec);
  if (!scratch || !rec) {
    rc = fl_errf(em, -ENOMEM, "recovering %s", v->path);
    goto fail;
  }
  uint64_t off = from;
  while (off < size) {
    fl_errmsg_t why = {{0}};
    rc = fl__vol_check_at(v, off, size, rec, 1, scratch, &why);
    if (rc == 0) {
      rep->records++;
      fl__vol_note_seq(v, rec->h.seq);
      off += rec->footprint;
      continue;
    }
    if (rc != FL_ECORRUPT && rc != FL_ETRUNC && rc != FL_EVERSION && rc != FL_ETOOBIG) {
      fl_errf(em, rc, "recovering %s: %s", v->path, why.msg);
      goto fail;
    }
    uint64_t next = 0;
    int r = fl__vol_resync(v, off, size, scratch, 1, &next);
    if (r < 0) {
      rc = fl_errf(em, r, "recovering %s", v->path);
      goto fail;
    }
    if (r == 0) {
      /* Nothing valid follows: the tail was torn by a crash mid-write. */
      fl_warn("vol", "%s: torn tail at %llu (%s): dropping %llu bytes", v->path,
              (unsigned long long)off, why.msg, (unsigned long long)(size - off));
      break;
    }
    fl_warn("vol", "%s: corrupt record at %llu (%s), valid records resume at %llu", v->path,
            (unsigned long long)off, why.msg, (unsigned long long)next);
    rep->corrupt++;
    off = next;
  }
  rc = 0;
  if (off > size)
    off = size;
  off &= ~(uint64_t)(FL_VOL_ALIGN - 1);
  if (off < FL_VOL_DATA_START)
    off = FL_VOL_DATA_START;
  if (off != size) {
    rc = v->io->ftruncate(v->io->ctx, v->wfd, off);
    if (!rc)
      rc = v->io->fdatasync(v->io->ctx, v->wfd);
    if (rc) {
      fl_errf(em, rc, "truncating the torn tail of %s at %llu", v->path,
              (unsigned long long)off);
      goto fail;
    }
    rep->dropped_bytes = size - off;
  }
  atomic_store(&v->end, off);
  atomic_store(&v->wend, off);
  atomic_store(&v->wmax_seq, atomic_load(&v->max_seq));
  rep->end = off;
fail:
  free(scratch);
  free(rec);
  return rc;
}

int fl_vol_open(const char *path, const fl_vol_opts_t *o, fl_vol_t **out,
                fl_vol_recovery_t *rep, fl_errmsg_t *em) {
  int rc;
  fl_vol_recovery_t local;
  if (!rep)
    rep = &local;
  memset(rep, 0, sizeof *rep);
  *out = NULL;
  fl_vol_t *v = fl__vol_new(path, o);
  if (!v)
    return fl_errf(em, -ENOMEM, "opening volume %s", path);
  rc = fl__vol_open_fds(v, o, 0, em);
  if (rc)
    goto fail;
  rc = fl_vol_super_read(v->io, v->rfd, &v->sb, em);
  if (rc) {
    fl_errprefix(em, rc, "volume %s", path);
    goto fail;
  }
  v->id = v->sb.volume_id;
  atomic_store(&v->max_seq, v->sb.checkpoint_seq);
  uint64_t size = 0;
  rc = v->io->size(v->io->ctx, v->rfd, &size);
  if (rc) {
    fl_errf(em, rc, "sizing volume %s", path);
    goto fail;
  }
  rep->file_size = size;
  rep->scanned_from = v->sb.checkpoint;
  if (size < v->sb.checkpoint) {
    rc = fl_errf(em, FL_ECORRUPT, "volume %s is %llu bytes, its superblock vouches for %llu",
                 path, (unsigned long long)size, (unsigned long long)v->sb.checkpoint);
    goto fail;
  }
  if (v->sb.state == FL_VOL_STATE_SEALED) {
    atomic_store(&v->sealed, 1);
    atomic_store(&v->end, v->sb.checkpoint);
    atomic_store(&v->wend, v->sb.checkpoint);
    atomic_store(&v->wmax_seq, v->sb.checkpoint_seq);
    rep->end = v->sb.checkpoint;
  } else {
    rc = fl__vol_recover(v, v->sb.checkpoint, size, rep, em);
    if (rc)
      goto fail;
    if (rep->end != v->sb.checkpoint || atomic_load(&v->max_seq) != v->sb.checkpoint_seq) {
      rc = fl__vol_write_super(v, FL_VOL_STATE_ACTIVE, em);
      if (rc)
        goto fail;
    }
  }
  *out = v;
  return 0;
fail:
  fl_vol_close(v);
  return rc;
}

int fl_vol_write(fl_vol_t *v, const fl_vol_rec_in_t *recs, size_t n, uint64_t *offs,
                 fl_errmsg_t *em) {
  int rc;
  if (atomic_load(&v->sealed))
    return fl_errf(em, FL_EREFUSED, "volume %s is sealed", v->path);
  if (v->broken)
    return fl_errf(em, -EIO, "volume %s failed an earlier append and could not undo it",
                   v->path);
  uint64_t end = atomic_load(&v->wend);
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++) {
    fl_vol_rec_hdr_t h = {.key_len = recs[i].key_len, .meta_len = recs[i].meta_len,
                          .payload_len = recs[i].payload_len, .flags = recs[i].flags};
    rc = fl_vol_rec_check(&h, em);
    if (rc)
      return fl_errprefix(em, rc, "record %zu", i);
    total += fl_vol_rec_footprint(h.key_len, h.meta_len, h.payload_len);
  }
  if (total > SIZE_MAX / 2)
    return fl_errf(em, FL_ETOOBIG, "batch of %llu bytes", (unsigned long long)total);
  rc = fl__vol_stage(v, (size_t)total, em);
  if (rc)
    return rc;
  uint64_t pos = 0, max_seq = atomic_load(&v->wmax_seq);
  for (size_t i = 0; i < n; i++) {
    const fl_vol_rec_in_t *r = &recs[i];
    fl_vol_rec_hdr_t h = {
        .flags = r->flags, .frag = r->frag, .volume_id = v->id, .offset = end + pos,
        .seq = r->seq, .payload_len = r->payload_len,
        .payload_crc = r->crc_given == FL_VOL_CRC_VERIFIED
                           ? r->payload_crc
                           : fl_crc32c(r->payload, (size_t)r->payload_len),
        .key_len = r->key_len, .meta_len = r->meta_len, .key = r->key, .meta = r->meta};
    if (r->crc_given && r->payload_crc != h.payload_crc)
      return fl_errf(em, FL_ECORRUPT, "record %zu: payload CRC 0x%08x, sender said 0x%08x", i,
                     h.payload_crc, r->payload_crc);
    uint8_t *p = v->stage + pos;
    int hn = fl_vol_rec_encode(p, (size_t)(total - pos), &h, em);
    if (hn < 0)
      return hn;
    if (r->payload_len)
      memcpy(p + hn, r->payload, (size_t)r->payload_len);
    uint64_t fp = fl_vol_rec_footprint(h.key_len, h.meta_len, h.payload_len);
    memset(p + hn + r->payload_len, 0, (size_t)(fp - hn - r->payload_len));
    offs[i] = end + pos;
    pos += fp;
    if (r->seq > max_seq)
      max_seq = r->seq;
  }
  uint64_t done = 0;
  while (done < total) {
    ssize_t w = v->io->pwrite(v->io->ctx, v->wfd, v->stage + done, (size_t)(total - done),
                              end + done);
    if (w < 0) {
      rc = (int)w;
      goto undo;
    }
    if (w == 0) {
      rc = -EIO;
      goto undo;
    }
    done += (uint64_t)w;
  }
  /* Seq before end: a sync that sees the new end also sees its seqs. */
  atomic_store(&v->wmax_seq, max_seq);
  atomic_store(&v->wend, end + total);
  return 0;
undo:
  /* Cut whatever part of the batch reached the file, so nothing that was
   * not acknowledged can be found by a later recovery scan. Earlier
   * batches (below `end`) are untouched. */
  fl_vol_undo_to(v, end);
  return fl_errf(em, fl__vol_ioerr(rc), "appending %llu bytes to %s at %llu: %s",
                 (unsigned long long)total, v->path, (unsigned long long)end,
                 fl_strerror(rc));
}

int fl_vol_sync(fl_vol_t *v, fl_errmsg_t *em) {
  uint64_t wmax = atomic_load(&v->wmax_seq);
  uint64_t wend = atomic_load(&v->wend);
  if (wend <= atomic_load(&v->end))
    return 0;
  int rc = v->io->fdatasync(v->io->ctx, v->wfd);
  if (rc)
    return fl_errf(em, fl__vol_ioerr(rc), "syncing %s: %s", v->path, fl_strerror(rc));
  fl__vol_durable(v, wend, wmax);
  return 0;
}

int fl_vol_pending(fl_vol_t *v) { return atomic_load(&v->wend) > atomic_load(&v->end); }

void fl_vol_undo(fl_vol_t *v) { fl_vol_undo_to(v, atomic_load(&v->end)); }

void fl_vol_undo_to(fl_vol_t *v, uint64_t to) {
  int t = v->io->ftruncate(v->io->ctx, v->wfd, to);
  if (!t)
    t = v->io->fdatasync(v->io->ctx, v->wfd);
  if (t) {
    v->broken = 1;
    fl_error("vol", "%s: cannot truncate back to %llu after a failed append: %s", v->path,
             (unsigned long long)to, fl_strerror(t));
  }
  /* wmax_seq stays: over-counting a seq is harmless, reusing one is not. */
  atomic_store(&v->wend, to);
}

int fl_vol_append(fl_vol_t *v, const fl_vol_rec_in_t *recs, size_t n, uint64_t *offs,
                  fl_errmsg_t *em) {
  int rc = fl_vol_write(v, recs, n, offs, em);
  if (rc)
    return rc;
  rc = fl_vol_sync(v, em);
  if (rc)
    fl_vol_undo(v);
  return rc;
}

int fl_vol_seal(fl_vol_t *v, fl_errmsg_t *em) {
  if (atomic_load(&v->sealed))
    return 0;
  int rc = fl__vol_write_super(v, FL_VOL_STATE_SEALED, em);
  if (rc)
    return rc;
  atomic_store(&v->sealed, 1);
  return 0;
}

int fl_vol_read(fl_vol_t *v, uint64_t off, fl_vol_rec_t *rec, void *payload, uint64_t pay_off,
                uint64_t len, fl_errmsg_t *em) {
  uint64_t end = atomic_load(&v->end);
  if (off < FL_VOL_DATA_START || off >= end || off % FL_VOL_ALIGN)
    return fl_errf(em, FL_ENOTFOUND, "volume %u has no record at %llu (end %llu)", v->id,
                   (unsigned long long)off, (unsigned long long)end);
  int rc = fl__vol_check_at(v, off, end, rec, 0, NULL, em);
  if (rc) {
    if (rc == FL_ETRUNC || rc == FL_ETOOBIG || rc == FL_EVERSION)
      rc = FL_ECORRUPT;
    return fl_errprefix(em, rc, "volume %u", v->id);
  }
  if (!payload)
    return 0;
  if (pay_off > rec->h.payload_len || len > rec->h.payload_len - pay_off)
    return fl_errf(em, -EINVAL, "range %llu+%llu is past the %llu-byte payload",
                   (unsigned long long)pay_off, (unsigned long long)len,
                   (unsigned long long)rec->h.payload_len);
  uint64_t at = off + fl_vol_rec_hdr_size(&rec->h) + pay_off, got = 0;
  while (got < len) {
    ssize_t n = v->io->pread(v->io->ctx, v->rfd, (uint8_t *)payload + got,
                             (size_t)(len - got), at + got);
    if (n < 0)
      return fl_errf(em, (int)n, "reading volume %u at %llu", v->id,
                     (unsigned long long)(at + got));
    if (n == 0)
      return fl_errf(em, FL_ECORRUPT, "volume %u ends inside the record at %llu", v->id,
                     (unsigned long long)off);
    got += (uint64_t)n;
  }
  if (pay_off == 0 && len == rec->h.payload_len) {
    rc = fl_vol_rec_verify_payload(&rec->h, payload, em);
    if (rc)
      return fl_errprefix(em, rc, "volume %u record at %llu", v->id, (unsigned long long)off);
  }
  return 0;
}

int fl_vol_read_alloc(fl_vol_t *v, uint64_t off, fl_vol_rec_t *rec, uint64_t pay_off,
                      uint64_t len, void **base, void **data, fl_errmsg_t *em) {
  *base = *data = NULL;
  if (!v->direct) {
    void *b = malloc(len ? len : 1);
    if (!b)
      return -ENOMEM;
    int rc = fl_vol_read(v, off, rec, b, pay_off, len, em);
    if (rc) {
      free(b);
      return rc;
    }
    *base = *data = b;
    return 0;
  }
  /* One direct read of header and payload together: the header is at
   * most FL_VOL_HDR_MAX bytes, so reading that much more than the payload
   * wanted covers both (the buffered header read it saves would also pull
   * the payload into the page cache by readahead). */
  uint64_t end = atomic_load(&v->end);
  if (off < FL_VOL_DATA_START || off >= end || off % FL_VOL_ALIGN)
    return fl_errf(em, FL_ENOTFOUND, "volume %u has no record at %llu (end %llu)", v->id,
                   (unsigned long long)off, (unsigned long long)end);
  if (pay_off <= FL_VOL_PAYLOAD_MAX && len <= FL_VOL_PAYLOAD_MAX) {
    uint64_t span = (FL_VOL_HDR_MAX + pay_off + len + FL_VOL_ALIGN - 1) &
                    ~(uint64_t)(FL_VOL_ALIGN - 1);
    if (span > end - off)
      span = end - off;
    void *b = NULL;
    if (posix_memalign(&b, FL_VOL_ALIGN, (size_t)span))
      return -ENOMEM;
    size_t got = 0;
    while (got < span) {
      ssize_t r = v->io->pread(v->io->ctx, v->wfd, (uint8_t *)b + got, (size_t)span - got,
                               off + got);
      if (r < 0) {
        free(b);
        return fl_errf(em, (int)r, "reading volume %u at %llu", v->id,
                       (unsigned long long)(off + got));
      }
      if (r == 0)
        break;
      got += (size_t)r;
    }
    size_t hn = got < FL_VOL_HDR_MAX ? got : FL_VOL_HDR_MAX;
    memcpy(rec->raw, b, hn);
    int rc = fl__vol_hdr_check(v, off, end, rec, hn, em);
    if (rc == 0 && (pay_off > rec->h.payload_len || len > rec->h.payload_len - pay_off))
      rc = fl_errf(em, -EINVAL, "range %llu+%llu is past the %llu-byte payload",
                   (unsigned long long)pay_off, (unsigned long long)len,
                   (unsigned long long)rec->h.payload_len);
    uint64_t start = fl_vol_rec_hdr_size(&rec->h) + pay_off;
    if (rc == 0 && start + len > got)
      rc = fl_errf(em, FL_ECORRUPT, "volume %u ends inside the record at %llu", v->id,
                   (unsigned long long)off);
    if (rc == 0 && pay_off == 0 && len == rec->h.payload_len)
      rc = fl_vol_rec_verify_payload(&rec->h, (uint8_t *)b + start, em);
    if (rc) {
      free(b);
      if (rc == FL_ETRUNC || rc == FL_ETOOBIG || rc == FL_EVERSION)
        rc = FL_ECORRUPT;
      return fl_errprefix(em, rc, "volume %u record at %llu", v->id, (unsigned long long)off);
    }
    *base = b;
    *data = (uint8_t *)b + start;
    return 0;
  }
  int rc = fl_vol_read(v, off, rec, NULL, 0, 0, em); /* header only */
  if (rc)
    return rc;
  if (pay_off > rec->h.payload_len || len > rec->h.payload_len - pay_off)
    return fl_errf(em, -EINVAL, "range %llu+%llu is past the %llu-byte payload",
                   (unsigned long long)pay_off, (unsigned long long)len,
                   (unsigned long long)rec->h.payload_len);
  /* Records are padded to FL_VOL_ALIGN, so the aligned span stays inside it. */
  uint64_t start = off + fl_vol_rec_hdr_size(&rec->h) + pay_off;
  uint64_t astart = start & ~(uint64_t)(FL_VOL_ALIGN - 1);
  uint64_t aend = (start + len + FL_VOL_ALIGN - 1) & ~(uint64_t)(FL_VOL_ALIGN - 1);
  size_t n = (size_t)(aend - astart);
  void *b = NULL;
  if (posix_memalign(&b, FL_VOL_ALIGN, n ? n : FL_VOL_ALIGN))
    return -ENOMEM;
  for (size_t got = 0; got < n;) {
    ssize_t r = v->io->pread(v->io->ctx, v->wfd, (uint8_t *)b + got, n - got,
                             astart + got);
    if (r < 0) {
      free(b);
      return fl_errf(em, (int)r, "reading volume %u at %llu", v->id,
                     (unsigned long long)(astart + got));
    }
    if (r == 0) {
      free(b);
      return fl_errf(em, FL_ECORRUPT, "volume %u ends inside the record at %llu", v->id,
                     (unsigned long long)off);
    }
    got += (size_t)r;
  }
  void *d = (uint8_t *)b + (start - astart);
  if (pay_off == 0 && len == rec->h.payload_len) {
    rc = fl_vol_rec_verify_payload(&rec->h, d, em);
    if (rc) {
      free(b);
      return fl_errprefix(em, rc, "volume %u record at %llu", v->id, (unsigned long long)off);
    }
  }
  *base = b;
  *data = d;
  return 0;
}

int fl_vol_iter_init(fl_vol_iter_t *it, fl_vol_t *v, int verify) {
  it->v = v;
  it->off = FL_VOL_DATA_START;
  it->end = atomic_load(&v->end);
  it->verify = verify;
  it->buf = malloc(FL__VOL_SCRATCH);
  return it->buf ? 0 : -ENOMEM;
}

void fl_vol_iter_close(fl_vol_iter_t *it) {
  free(it->buf);
  it->buf = NULL;
}

int fl_vol_iter_next(fl_vol_iter_t *it, fl_vol_rec_t *rec, uint64_t *off, fl_errmsg_t *em) {
  if (it->off >= it->end)
    return 0;
  *off = it->off;
  int rc = fl__vol_check_at(it->v, it->off, it->end, rec, it->verify, it->buf, em);
  if (rc == 0) {
    it->off += rec->footprint;
    return 1;
  }
  if (rc != FL_ECORRUPT && rc != FL_ETRUNC && rc != FL_EVERSION && rc != FL_ETOOBIG)
    return rc;
  uint64_t next = 0;
  int r = fl__vol_resync(it->v, it->off, it->end, it->buf, 0, &next);
  if (r < 0)
    return fl_errf(em, r, "volume %u: looking for records after %llu", it->v->id,
                   (unsigned long long)it->off);
  it->off = r ? next : it->end;
  return FL_ECORRUPT;
}
