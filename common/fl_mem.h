/* Process-wide allocator settings for processes that move fragment-sized
 * buffers (hundreds of KiB to MiB) through malloc at a high rate. */
#ifndef FL_MEM_H
#define FL_MEM_H

/* Keeps freed fragment buffers in the heap instead of giving them back to
 * the kernel at once, so the next ones reuse hot pages. Idempotent and
 * thread-safe; a no-op outside glibc. */
void fl_mem_tune(void);

#endif
