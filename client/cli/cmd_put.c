/* filmless put: stores DICOM files and folders (recursively), several
 * instances at once, with a progress line on a terminal and a summary.
 * Identity comes from each file's content, never from its name. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fl_cli.h"

typedef struct fl__files {
  char **v;
  size_t n, cap;
} fl__files_t;

static int fl__add(fl__files_t *f, const char *path) {
  if (f->n == f->cap) {
    size_t nc = f->cap ? f->cap * 2 : 256;
    char **nv = realloc(f->v, nc * sizeof *nv);
    if (!nv)
      return -ENOMEM;
    f->v = nv;
    f->cap = nc;
  }
  if (!(f->v[f->n] = strdup(path)))
    return -ENOMEM;
  f->n++;
  return 0;
}

static int fl__name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files under path (itself if a file), in name order. Unreadable entries
 * are reported and counted, not fatal. */
static int fl__walk(fl__files_t *f, const char *path, unsigned *errors) {
  struct stat sb;
  if (stat(path, &sb) != 0) {
    fprintf(stderr, "filmless put: %s: %s\n", path, strerror(errno));
    (*errors)++;
    return 0;
  }
  if (!S_ISDIR(sb.st_mode))
    return fl__add(f, path);
  DIR *d = opendir(path);
  if (!d) {
    fprintf(stderr, "filmless put: %s: %s\n", path, strerror(errno));
    (*errors)++;
    return 0;
  }
  fl__files_t sub = {0};
  struct dirent *e;
  int rc = 0;
  while (rc == 0 && (e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    char p[4096];
    if ((size_t)snprintf(p, sizeof p, "%s/%s", path, e->d_name) >= sizeof p) {
      fprintf(stderr, "filmless put: %s/%s: path too long\n", path, e->d_name);
      (*errors)++;
      continue;
    }
    rc = fl__add(&sub, p);
  }
  closedir(d);
  qsort(sub.v, sub.n, sizeof *sub.v, fl__name_cmp);
  for (size_t i = 0; i < sub.n; i++) {
    if (rc == 0)
      rc = fl__walk(f, sub.v[i], errors);
    free(sub.v[i]);
  }
  free(sub.v);
  return rc;
}

typedef struct fl__put {
  fl_client_t *cl;
  fl__files_t files;
  pthread_mutex_t mu;         /* guards everything below */
  size_t next;
  unsigned stored, existed, skipped, failed, missing_frags;
  uint64_t bytes;
  double t0, last_draw;
  int tty, quiet;
} fl__put_t;

static double fl__now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fl__draw(fl__put_t *p, int final) {
  double now = fl__now();
  if (!p->tty || (!final && now - p->last_draw < 0.2))
    return;
  p->last_draw = now;
  size_t done = p->stored + p->existed + p->skipped + p->failed;
  double dt = now - p->t0 > 1e-6 ? now - p->t0 : 1e-6;
  int width = 30, fill = p->files.n ? (int)(width * done / p->files.n) : width;
  char bar[64];
  for (int i = 0; i < width; i++)
    bar[i] = i < fill ? '#' : '.';
  bar[width] = '\0';
  fprintf(stderr, "\r[%s] %zu/%zu  %.0f inst/s  %.1f MB/s%s", bar, done, p->files.n,
          (p->stored + p->existed) / dt, p->bytes / dt / 1e6, final ? "\n" : "");
  fflush(stderr);
}

static void *fl__worker(void *arg) {
  fl__put_t *p = arg;
  for (;;) {
    pthread_mutex_lock(&p->mu);
    size_t i = p->next < p->files.n ? p->next++ : SIZE_MAX;
    pthread_mutex_unlock(&p->mu);
    if (i == SIZE_MAX)
      return NULL;
    const char *path = p->files.v[i];
    fl_put_result_t r;
    fl_errmsg_t em = {{0}};
    int rc = fl_client_put_file(p->cl, path, &r, &em);
    pthread_mutex_lock(&p->mu);
    if (rc == FL_ENOTDICOM || rc == FL_EDICOM || rc == FL_EUID) {
      p->skipped++;
      if (p->tty)
        fputc('\n', stderr);
      fprintf(stderr, "skipped %s\n", fl_errmsg_str(&em, rc));
    } else if (rc) {
      p->failed++;
      if (p->tty)
        fputc('\n', stderr);
      fprintf(stderr, "FAILED %s: %s\n", fl_err_name(rc), fl_errmsg_str(&em, rc));
    } else {
      if (r.existed)
        p->existed++;
      else
        p->stored++;
      p->bytes += r.size;
      p->missing_frags += r.frags_missing;
    }
    fl__draw(p, 0);
    pthread_mutex_unlock(&p->mu);
  }
}

static int fl__put_run(int argc, char **argv) {
  const fl_cli_cmd_t *me = &fl_cli_cmd_put;
  fl_cli_common_t co = {0};
  unsigned long long jobs = 16;
  fl__put_t p;
  memset(&p, 0, sizeof p);
  unsigned walk_err = 0;
  int rc, opts = 1, npaths = 0;
  const char *v;
  for (int i = 1; i < argc; i++) {
    if (opts && strcmp(argv[i], "--") == 0) {
      opts = 0;
    } else if (opts && fl_cli_common_opt(me, argc, argv, &i, &co, &rc)) {
      if (rc)
        return rc;
    } else if (opts && fl_cli_opt(argc, argv, &i, "--jobs", &v)) {
      if (fl_cli_parse_u64(v, 256, &jobs) != 0 || jobs == 0)
        return fl_cli_usage_error(me, "--jobs needs a number from 1 to 256");
    } else if (opts && strcmp(argv[i], "--quiet") == 0) {
      p.quiet = 1;
    } else if (opts && argv[i][0] == '-' && argv[i][1]) {
      return fl_cli_usage_error(me, "unknown option '%s'", argv[i]);
    } else {
      npaths++;
    }
  }
  if (!npaths)
    return fl_cli_usage_error(me, "give at least one file or folder");
  opts = 1;
  for (int i = 1; i < argc; i++) {
    if (opts && strcmp(argv[i], "--") == 0) {
      opts = 0;
      continue;
    }
    if (opts && (strcmp(argv[i], "--coord") == 0 || strcmp(argv[i], "--tenant") == 0 ||
                 strcmp(argv[i], "--jobs") == 0)) {
      i++;
      continue;
    }
    if (opts && argv[i][0] == '-' && argv[i][1])
      continue;
    if (fl__walk(&p.files, argv[i], &walk_err) != 0) {
      fprintf(stderr, "filmless put: out of memory\n");
      return FL_CLI_FAIL;
    }
  }
  if ((rc = fl_cli_client_open(me, &co, &p.cl)) != FL_CLI_OK)
    return rc;
  pthread_mutex_init(&p.mu, NULL);
  p.tty = !p.quiet && isatty(2);
  p.t0 = fl__now();
  unsigned nt = (unsigned)jobs;
  pthread_t th[256];
  unsigned started = 0;
  for (; started < nt; started++)
    if (pthread_create(&th[started], NULL, fl__worker, &p) != 0)
      break;
  if (!started)
    fl__worker(&p);
  for (unsigned i = 0; i < started; i++)
    pthread_join(th[i], NULL);
  fl__draw(&p, 1);
  double dt = fl__now() - p.t0;
  printf("put: %u stored, %u already present, %u skipped (not DICOM), %u failed; "
         "%.1f MB in %.2f s (%.1f MB/s, %.0f instances/s)\n",
         p.stored, p.existed, p.skipped, p.failed + walk_err, p.bytes / 1e6, dt,
         dt > 0 ? p.bytes / dt / 1e6 : 0.0, dt > 0 ? (p.stored + p.existed) / dt : 0.0);
  if (p.missing_frags)
    printf("put: %u fragment(s) could not be written (nodes down); left for repair\n",
           p.missing_frags);
  fl_client_close(p.cl);
  pthread_mutex_destroy(&p.mu);
  for (size_t i = 0; i < p.files.n; i++)
    free(p.files.v[i]);
  free(p.files.v);
  return p.failed || walk_err ? FL_CLI_FAIL : FL_CLI_OK;
}

const fl_cli_cmd_t fl_cli_cmd_put = {
    "put", "store DICOM files and folders",
    "usage: filmless put [options] PATH...\n"
    "\n"
    "Stores every DICOM file under the given files and folders (recursively),\n"
    "several at once. Each instance's identity is read from its content. Files\n"
    "that are not DICOM are skipped with the reason. Storing an instance that is\n"
    "already stored with the same bytes changes nothing; different bytes under a\n"
    "stored SOP Instance UID are refused (instances are immutable).\n"
    "\n"
    "options:\n" FL_CLI_COMMON_HELP
    "  --jobs N           instances in flight (default 16)\n"
    "  --quiet            no progress line\n"
    "\n"
    "Exit status: 0 if every DICOM file is stored, 1 if any failed, 2 on bad usage.\n",
    fl__put_run};
