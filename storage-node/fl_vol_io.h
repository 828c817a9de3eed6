/* The file operations a volume performs, behind an ops table so tests can make
 * pwrite/fdatasync/ftruncate fail on the Nth call (SQLite test_syscall style).
 * fl_vol_io_posix() is the real thing; fl_vol_fault_t wraps any table. */
#ifndef FL_VOL_IO_H
#define FL_VOL_IO_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Every op returns >= 0 on success and -errno on failure (never sets errno
 * for the caller to read). ctx is the table's own context. */
typedef struct fl_vol_io {
  void *ctx;
  int (*open)(void *ctx, const char *path, int flags, int mode); /* fd or -errno */
  ssize_t (*pwrite)(void *ctx, int fd, const void *buf, size_t n, uint64_t off);
  ssize_t (*pread)(void *ctx, int fd, void *buf, size_t n, uint64_t off);
  int (*fdatasync)(void *ctx, int fd);
  int (*ftruncate)(void *ctx, int fd, uint64_t len);
  int (*size)(void *ctx, int fd, uint64_t *out); /* OUT: file size */
  int (*close)(void *ctx, int fd);
} fl_vol_io_t;

/* The process-wide POSIX table (static; never freed). */
const fl_vol_io_t *fl_vol_io_posix(void);

/* Ops a fault can target. */
enum fl_vol_fault_op {
  FL_VOL_OP_PWRITE = 0,
  FL_VOL_OP_FDATASYNC,
  FL_VOL_OP_FTRUNCATE,
  FL_VOL_OP_PREAD,
  FL_VOL_OP_COUNT_
};

/* Fault injector: `io` is the table to hand to volumes (its ctx points back
 * at this struct, so the struct must not move while in use). Calls pass
 * through to `base` until an armed countdown hits zero. Counters and
 * arming are atomic: safe while other threads do I/O. */
typedef struct fl_vol_fault {
  fl_vol_io_t io;                         /* the faulty table */
  const fl_vol_io_t *base;                /* borrowed, outlives this */
  atomic_ullong calls[FL_VOL_OP_COUNT_];  /* calls seen per op */
  atomic_llong countdown[FL_VOL_OP_COUNT_]; /* fail when it reaches 0; <0 = off */
  atomic_int err[FL_VOL_OP_COUNT_];       /* the -errno to return */
  atomic_int sticky[FL_VOL_OP_COUNT_];    /* keep failing once triggered */
  atomic_int partial;                     /* a failing pwrite first writes half */
  atomic_ullong injected;                 /* faults returned so far */
} fl_vol_fault_t;

/* base is borrowed and must outlive f. */
void fl_vol_fault_init(fl_vol_fault_t *f, const fl_vol_io_t *base);
/* The nth call from now (1 = the next one) of op returns err (a -errno).
 * sticky: every later call fails too until fl_vol_fault_clear(). */
void fl_vol_fault_arm(fl_vol_fault_t *f, int op, long long nth, int err, int sticky);
/* A failing pwrite writes the first half of its bytes before failing, as a
 * real disk that fills up mid-write does. */
void fl_vol_fault_set_partial(fl_vol_fault_t *f, int on);
/* Disarms every op (counters are kept). */
void fl_vol_fault_clear(fl_vol_fault_t *f);
unsigned long long fl_vol_fault_calls(fl_vol_fault_t *f, int op);

#endif
