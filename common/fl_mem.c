/* Allocator tuning shared by the codec (which liberasurecode makes allocate
 * every fragment) and the storage node (read and repair buffers). With
 * glibc's defaults a buffer above 128 KiB is mmapped, or freeing it trims
 * the heap top, so each one is faulted in anew: on this machine class fresh
 * pages cost 1-2.7 GB/s against 26 GB/s for resident ones (a 4+2 512 KiB
 * encode measured 1.4 GB/s instead of 6.5). Memory kept this way is given
 * back by the node's periodic malloc_trim. */
#include "fl_mem.h"

#include <pthread.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

static void fl__mem_tune_once(void) {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
#endif
}

static pthread_once_t fl__mem_once = PTHREAD_ONCE_INIT;

void fl_mem_tune(void) { pthread_once(&fl__mem_once, fl__mem_tune_once); }
