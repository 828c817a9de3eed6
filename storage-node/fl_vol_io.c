/* POSIX file operations for volumes, and a fault-injecting wrapper that tests
 * (and node-level tests) use to make any of them fail on the Nth call. */
#include "fl_vol_io.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static int posix_open(void *ctx, const char *path, int flags, int mode) {
  (void)ctx;
  int fd;
  do
    fd = open(path, flags | O_CLOEXEC, mode);
  while (fd < 0 && errno == EINTR);
  return fd < 0 ? -errno : fd;
}

static ssize_t posix_pwrite(void *ctx, int fd, const void *buf, size_t n, uint64_t off) {
  (void)ctx;
  ssize_t r;
  do
    r = pwrite(fd, buf, n, (off_t)off);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

static ssize_t posix_pread(void *ctx, int fd, void *buf, size_t n, uint64_t off) {
  (void)ctx;
  ssize_t r;
  do
    r = pread(fd, buf, n, (off_t)off);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

static int posix_fdatasync(void *ctx, int fd) {
  (void)ctx;
  int r;
  do
    r = fdatasync(fd);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : 0;
}

static int posix_ftruncate(void *ctx, int fd, uint64_t len) {
  (void)ctx;
  int r;
  do
    r = ftruncate(fd, (off_t)len);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : 0;
}

static int posix_size(void *ctx, int fd, uint64_t *out) {
  (void)ctx;
  struct stat st;
  if (fstat(fd, &st) != 0)
    return -errno;
  *out = (uint64_t)st.st_size;
  return 0;
}

static int posix_close(void *ctx, int fd) {
  (void)ctx;
  /* No retry on EINTR: on Linux the fd is gone either way. */
  return close(fd) != 0 ? -errno : 0;
}

static const fl_vol_io_t fl__posix = {
    NULL, posix_open, posix_pwrite, posix_pread, posix_fdatasync,
    posix_ftruncate, posix_size, posix_close,
};

const fl_vol_io_t *fl_vol_io_posix(void) { return &fl__posix; }

/* ---- fault injection ------------------------------------------------------ */

/* Returns the injected error for this call of op, or 0 to pass through. */
static int fault_hit(fl_vol_fault_t *f, int op) {
  atomic_fetch_add(&f->calls[op], 1);
  long long c = atomic_load(&f->countdown[op]);
  for (;;) {
    if (c < 0)
      return 0;
    if (c == 0) /* triggered and sticky */
      break;
    long long next = c - 1;
    if (next == 0 && !atomic_load(&f->sticky[op]))
      next = -1;
    if (atomic_compare_exchange_weak(&f->countdown[op], &c, next)) {
      if (c != 1)
        return 0;
      break;
    }
  }
  atomic_fetch_add(&f->injected, 1);
  return atomic_load(&f->err[op]);
}

static int fault_open(void *ctx, const char *path, int flags, int mode) {
  fl_vol_fault_t *f = ctx;
  return f->base->open(f->base->ctx, path, flags, mode);
}

static ssize_t fault_pwrite(void *ctx, int fd, const void *buf, size_t n, uint64_t off) {
  fl_vol_fault_t *f = ctx;
  int e = fault_hit(f, FL_VOL_OP_PWRITE);
  if (e) {
    /* Half of an aligned write stays aligned only at 4 KiB multiples. */
    size_t half = (n / 2) & ~(size_t)4095;
    if (atomic_load(&f->partial) && half > 0)
      (void)f->base->pwrite(f->base->ctx, fd, buf, half, off);
    return e;
  }
  return f->base->pwrite(f->base->ctx, fd, buf, n, off);
}

static ssize_t fault_pread(void *ctx, int fd, void *buf, size_t n, uint64_t off) {
  fl_vol_fault_t *f = ctx;
  int e = fault_hit(f, FL_VOL_OP_PREAD);
  return e ? e : f->base->pread(f->base->ctx, fd, buf, n, off);
}

static int fault_fdatasync(void *ctx, int fd) {
  fl_vol_fault_t *f = ctx;
  int e = fault_hit(f, FL_VOL_OP_FDATASYNC);
  return e ? e : f->base->fdatasync(f->base->ctx, fd);
}

static int fault_ftruncate(void *ctx, int fd, uint64_t len) {
  fl_vol_fault_t *f = ctx;
  int e = fault_hit(f, FL_VOL_OP_FTRUNCATE);
  return e ? e : f->base->ftruncate(f->base->ctx, fd, len);
}

static int fault_size(void *ctx, int fd, uint64_t *out) {
  fl_vol_fault_t *f = ctx;
  return f->base->size(f->base->ctx, fd, out);
}

static int fault_close(void *ctx, int fd) {
  fl_vol_fault_t *f = ctx;
  return f->base->close(f->base->ctx, fd);
}

void fl_vol_fault_init(fl_vol_fault_t *f, const fl_vol_io_t *base) {
  f->io = (fl_vol_io_t){f, fault_open, fault_pwrite, fault_pread, fault_fdatasync,
                        fault_ftruncate, fault_size, fault_close};
  f->base = base;
  for (int i = 0; i < FL_VOL_OP_COUNT_; i++) {
    atomic_init(&f->calls[i], 0);
    atomic_init(&f->countdown[i], -1);
    atomic_init(&f->err[i], -EIO);
    atomic_init(&f->sticky[i], 0);
  }
  atomic_init(&f->partial, 0);
  atomic_init(&f->injected, 0);
}

void fl_vol_fault_arm(fl_vol_fault_t *f, int op, long long nth, int err, int sticky) {
  atomic_store(&f->err[op], err);
  atomic_store(&f->sticky[op], sticky);
  atomic_store(&f->countdown[op], nth < 1 ? 1 : nth);
}

void fl_vol_fault_set_partial(fl_vol_fault_t *f, int on) { atomic_store(&f->partial, on); }

void fl_vol_fault_clear(fl_vol_fault_t *f) {
  for (int i = 0; i < FL_VOL_OP_COUNT_; i++)
    atomic_store(&f->countdown[i], -1);
}

unsigned long long fl_vol_fault_calls(fl_vol_fault_t *f, int op) {
  return atomic_load(&f->calls[op]);
}
