/* Process and scratch-directory helpers for integration tests. Uses fork/exec
 * directly (no shell) so a kill reaches the real daemon, not a wrapper. */
#define _XOPEN_SOURCE 700
#include "fl_proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void fl__sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

const char *fl_proc_bin(const char *name) {
  static char path[1024];
  const char *dir = getenv("FL_BIN");
  snprintf(path, sizeof path, "%s/%s", dir && dir[0] ? dir : "./bin", name);
  return path;
}

int fl_proc_start(fl_proc_t *p, char *const argv[], const char *log_path) {
  snprintf(p->log_path, sizeof p->log_path, "%s", log_path);
  int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    return -errno;
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  if (pid == 0) {
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
      dup2(devnull, STDIN_FILENO);
    execv(argv[0], argv);
    dprintf(STDERR_FILENO, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(fd);
  p->pid = pid;
  return 0;
}

int fl_proc_alive(fl_proc_t *p, int *status) {
  if (p->pid <= 0)
    return 0;
  int st = 0;
  pid_t r = waitpid(p->pid, &st, WNOHANG);
  if (r == 0)
    return 1;
  if (status)
    *status = st;
  p->pid = 0;
  return 0;
}

int fl_proc_stop(fl_proc_t *p, int sig, int timeout_ms) {
  if (p->pid <= 0)
    return -ECHILD;
  kill(p->pid, sig);
  int st = 0;
  for (int waited = 0;; waited += 10) {
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid)
      break;
    if (r < 0) {
      int e = errno;
      p->pid = 0;
      return -e;
    }
    if (waited >= timeout_ms && sig != SIGKILL) {
      kill(p->pid, SIGKILL);
      sig = SIGKILL;
    }
    fl__sleep_ms(10);
  }
  p->pid = 0;
  return st;
}

int fl_proc_wait_port(fl_proc_t *p, int port, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 20) {
    if (p && !fl_proc_alive(p, NULL))
      return -ECHILD;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
      return -errno;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(s, (struct sockaddr *)&a, sizeof a);
    close(s);
    if (rc == 0)
      return 0;
    fl__sleep_ms(20);
  }
  return -ETIMEDOUT;
}

int fl_proc_free_port(void) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0)
    return -errno;
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(s, (struct sockaddr *)&a, &len) != 0) {
    int e = errno;
    close(s);
    return -e;
  }
  close(s);
  return ntohs(a.sin_port);
}

static int fl__rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int fl_proc_rmtree(const char *path) {
  if (nftw(path, fl__rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
    return -errno;
  return 0;
}

int fl_proc_scratch_dir(const char *name, char *out, size_t outlen) {
  const char *tmp = getenv("FL_TMP");
  if (!tmp || !tmp[0])
    tmp = "/tmp";
  mkdir(tmp, 0755);
  snprintf(out, outlen, "%s/%s.%d", tmp, name, (int)getpid());
  fl_proc_rmtree(out);
  if (mkdir(out, 0755) != 0)
    return -errno;
  return 0;
}
