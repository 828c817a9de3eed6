/* Helpers for integration tests that run real filmless processes on
 * 127.0.0.1: start a binary from $FL_BIN with its output in a log file, wait
 * for its TCP port, kill it for real, and make scratch directories. */
#ifndef FL_PROC_H
#define FL_PROC_H

#include <sys/types.h>

typedef struct fl_proc {
  pid_t pid;          /* 0 when not running */
  char log_path[512]; /* stdout+stderr of the child */
} fl_proc_t;

/* Path of a built binary: "$FL_BIN/<name>" (FL_BIN defaults to ./bin). The
 * returned string is static and overwritten by the next call. */
const char *fl_proc_bin(const char *name);

/* Starts argv[0] (a path) with argv, stdout/stderr appended to log_path.
 * Returns 0 or -errno; on success p->pid is the child. argv is borrowed. */
int fl_proc_start(fl_proc_t *p, char *const argv[], const char *log_path);

/* Sends sig and waits for the child to exit, up to timeout_ms; escalates to
 * SIGKILL after that. Returns the wait status, or -errno. */
int fl_proc_stop(fl_proc_t *p, int sig, int timeout_ms);

/* Non-blocking: 1 if the child is still running, 0 if it exited (status in
 * *status when non-NULL). */
int fl_proc_alive(fl_proc_t *p, int *status);

/* Polls until a TCP connect to 127.0.0.1:port succeeds (0) or timeout_ms
 * passes (-ETIMEDOUT), or the child exits (-ECHILD). */
int fl_proc_wait_port(fl_proc_t *p, int port, int timeout_ms);

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int fl_proc_free_port(void);

/* Makes a fresh empty directory "$FL_TMP/<name>.<pid>" (FL_TMP defaults to
 * /tmp) into out (size outlen). Removes any previous content. */
int fl_proc_scratch_dir(const char *name, char *out, size_t outlen);

/* rm -rf path (no shell). */
int fl_proc_rmtree(const char *path);

#endif
