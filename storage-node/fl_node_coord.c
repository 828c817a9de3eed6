/* The node's coordinator threads: blocking calls, each thread on its own
 * fl_wire_conn, never on the event loop. The heartbeat thread registers
 * (once per connection), then heartbeats every interval the coordinator
 * asks for and carries the node's figures; a heartbeat that reports a
 * newer epoch fetches the map. The watch thread long-polls WATCH_MAP so a
 * new map arrives within moments of its commit instead of at the next
 * heartbeat. Either path installs through fl__install: the map is written
 * to <data>/cluster.map (temporary file, fsync, rename) before it replaces
 * the one in memory, one install at a time, and the epoch only goes up. A
 * coordinator that is down only costs retries: the node keeps serving with
 * the map it has. */
#include "fl_node_coord.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "fl_cc.h"
#include "fl_log.h"
#include "fl_pool.h"
#include "fl_map_codec.h"

#define FL__RETRY_MS 500
#define FL__CALL_TIMEOUT_MS 5000
#define FL__VERSION "0.1.0"
#define FL__WATCH_MS 20000u        /* one WATCH_MAP long poll */
#define FL__WATCH_CONNECT_MS 2000  /* bounds how long stop can wait for a connect */
#define FL__BACKOFF_MIN_MS 100
#define FL__BACKOFF_MAX_MS 5000

struct fl_node_coord {
  pthread_t thread;            /* heartbeats */
  pthread_t watch;             /* WATCH_MAP long polls */
  int watch_started;
  pthread_mutex_t mu;          /* guards stop, watch_fd, id, map, have_map */
  pthread_cond_t cv;           /* wakes both threads' sleeps on stop */
  int stop;
  int watch_fd;                /* socket of the poll in flight (-1: none), under mu:
                                * stop shuts it down so no poll is waited out */
  /* Held across a whole install (epoch check, file, swap); taken before
   * mu, never under it. */
  pthread_mutex_t install_mu;
  const fl_node_cfg_t *cfg;    /* borrowed */
  fl_store_t *store;           /* borrowed */
  char addr[FL_MAP_ADDR_MAX];  /* registered address */
  uint32_t id;                 /* written by the heartbeat thread under mu */
  fl_map_t map;                /* the node's map, under mu; replaced under install_mu too */
  int have_map;
  /* Held across each call of progress_fn, so replacing it waits for a
   * call in flight. Never taken under mu; fn may take mu under it (to
   * read the map). */
  pthread_mutex_t progress_mu;
  void (*progress_fn)(void *arg, fl_cc_repair_t *out); /* under progress_mu */
  void *progress_arg;                                   /* under progress_mu */
};

/* ---- files in the data directory --------------------------------------------- */

static int fl__write_file(const char *dir, const char *name, const void *buf, size_t len,
                          fl_errmsg_t *em) {
  char path[1200], tmp[1210];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return fl_errf(em, -errno, "cannot write %s: %s", tmp, strerror(errno));
  const uint8_t *p = buf;
  size_t left = len;
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      return fl_errf(em, -e, "cannot write %s: %s", tmp, strerror(e));
    }
    p += n;
    left -= (size_t)n;
  }
  if (fsync(fd) != 0 || close(fd) != 0)
    return fl_errf(em, -errno, "cannot sync %s: %s", tmp, strerror(errno));
  if (rename(tmp, path) != 0)
    return fl_errf(em, -errno, "cannot rename %s: %s", tmp, strerror(errno));
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return 0;
}

/* Reads a whole small file (at most max bytes) into a malloc'd buffer. */
static int fl__read_file(const char *dir, const char *name, size_t max, uint8_t **out,
                         size_t *len) {
  char path[1200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f)
    return -errno;
  uint8_t *buf = malloc(max);
  size_t n = buf ? fread(buf, 1, max, f) : 0;
  int bad = !buf || ferror(f) || n == max;
  fclose(f);
  if (bad) {
    free(buf);
    return -EIO;
  }
  *out = buf;
  *len = n;
  return 0;
}

static void fl__load_files(fl_node_coord_t *nc) {
  const char *dir = nc->cfg->data;
  uint8_t *buf;
  size_t len;
  nc->id = (uint32_t)nc->cfg->id;
  if (!nc->id && fl__read_file(dir, FL_NODE_COORD_ID_FILE, 32, &buf, &len) == 0) {
    buf[len < 31 ? len : 31] = 0;
    nc->id = (uint32_t)strtoul((char *)buf, NULL, 10);
    free(buf);
  }
  if (fl__read_file(dir, FL_NODE_COORD_MAP_FILE, 256u << 20, &buf, &len) == 0) {
    fl_errmsg_t em = {{0}};
    int rc = fl_map_decode(buf, len, &nc->map, &em);
    free(buf);
    if (rc)
      fl_warn("node", "ignoring %s/%s: %s", dir, FL_NODE_COORD_MAP_FILE, fl_errmsg_str(&em, rc));
    else {
      nc->have_map = 1;
      fl_info("node", "loaded the cluster map of epoch %" PRIu64 " (%u nodes) from %s",
              nc->map.epoch, nc->map.node_count, FL_NODE_COORD_MAP_FILE);
    }
  }
}

/* ---- the heartbeat thread ------------------------------------------------------------- */

/* Sleeps ms unless stopped; returns 1 once stop is set. */
static int fl__sleep(fl_node_coord_t *nc, uint32_t ms) {
  struct timespec ts;
  fl_deadline_ms(&ts, ms);
  pthread_mutex_lock(&nc->mu);
  while (!nc->stop && pthread_cond_timedwait(&nc->cv, &nc->mu, &ts) == 0)
    ;
  int stop = nc->stop;
  pthread_mutex_unlock(&nc->mu);
  return stop;
}

/* Makes map (handed over: freed here in every case) the node's map if its
 * epoch is newer than the one the node holds; an older or equal one is
 * dropped and that is not an error (the other thread got there first).
 * The two threads may fetch the same epoch or finish in either order:
 * install_mu makes the check, the file and the swap one step, so
 * cluster.map is never written twice at once and never goes back. via
 * names the path for the log. */
static int fl__install(fl_node_coord_t *nc, fl_map_t *map, const char *via, fl_errmsg_t *em) {
  int rc = 0;
  uint8_t *buf = NULL;
  pthread_mutex_lock(&nc->install_mu);
  if (map->epoch <= fl_node_coord_epoch(nc))
    goto out;
  size_t cap = fl_map_encoded_size(map), len = 0;
  if (!(buf = malloc(cap))) {
    rc = fl_errf(em, -ENOMEM, "saving the cluster map: out of memory");
    goto out;
  }
  if ((rc = fl_map_encode(map, buf, cap, &len, em)) != 0 ||
      (rc = fl__write_file(nc->cfg->data, FL_NODE_COORD_MAP_FILE, buf, len, em)) != 0)
    goto out;
  pthread_mutex_lock(&nc->mu);
  if (nc->have_map)
    fl_map_free(&nc->map);
  nc->map = *map;
  nc->have_map = 1;
  pthread_mutex_unlock(&nc->mu);
  fl_info("node", "cluster map epoch %" PRIu64 " (%u nodes), from %s", map->epoch,
          map->node_count, via);
  memset(map, 0, sizeof *map);
out:
  pthread_mutex_unlock(&nc->install_mu);
  free(buf);
  fl_map_free(map);
  return rc;
}

static int fl__fetch_map(fl_node_coord_t *nc, fl_wire_conn_t *c, fl_errmsg_t *em) {
  fl_map_t map;
  int changed = 0;
  int rc = fl_cc_get_map(c, fl_node_coord_epoch(nc), 0, &map, &changed, em);
  if (rc || !changed)
    return rc;
  return fl__install(nc, &map, "a heartbeat", em);
}

static void fl__figures(fl_node_coord_t *nc, fl_cc_hb_t *hb) {
  memset(hb, 0, sizeof *hb);
  hb->id = nc->id;
  hb->capacity_bytes = nc->cfg->capacity;
  struct statvfs vfs;
  if (!hb->capacity_bytes && statvfs(nc->cfg->data, &vfs) == 0)
    hb->capacity_bytes = (uint64_t)vfs.f_blocks * vfs.f_frsize;
  fl_store_stats_t s;
  if (fl_store_stats(nc->store, &s, NULL) == 0) {
    hb->used_bytes = s.volume_bytes;
    hb->objects = s.objects;
    hb->corrupt = s.corrupt_found;
  }
}

void fl_node_coord_progress(fl_node_coord_t *nc, fl_cc_repair_t *out) {
  memset(out, 0, sizeof *out);
  if (!nc)
    return;
  pthread_mutex_lock(&nc->progress_mu);
  if (nc->progress_fn)
    nc->progress_fn(nc->progress_arg, out);
  pthread_mutex_unlock(&nc->progress_mu);
}

static int fl__register(fl_node_coord_t *nc, fl_wire_conn_t *c, uint32_t *hb_ms,
                        fl_errmsg_t *em) {
  fl_cc_hb_t f;
  fl__figures(nc, &f);
  fl_cc_reg_t r = {nc->id, nc->addr, nc->cfg->dc, nc->cfg->rack, FL__VERSION, f.capacity_bytes};
  uint32_t id = 0;
  uint64_t epoch = 0;
  int rc = fl_cc_register(c, &r, &id, &epoch, hb_ms, em);
  if (rc)
    return rc;
  if (id != nc->id) {
    char text[32];
    int n = snprintf(text, sizeof text, "%u\n", id);
    if ((rc = fl__write_file(nc->cfg->data, FL_NODE_COORD_ID_FILE, text, (size_t)n, em)) != 0)
      return rc;
    pthread_mutex_lock(&nc->mu);
    nc->id = id;
    pthread_mutex_unlock(&nc->mu);
  }
  fl_info("node", "registered with the coordinator as node %u (epoch %" PRIu64 ")", id, epoch);
  return 0;
}

static void *fl__thread(void *arg) {
  fl_node_coord_t *nc = arg;
  const fl_addr_t *ca = &nc->cfg->coord;
  fl_wire_conn_t c = {.fd = -1};
  int connected = 0, registered = 0, warned = 0;
  uint32_t hb_ms = 1000;
  uint64_t behind_warned = UINT64_MAX; /* the older epoch last warned about */
  while (!fl__sleep(nc, 0)) {
    fl_errmsg_t em = {{0}};
    int rc = 0;
    if (!connected) {
      rc = fl_wire_conn_open(&c, ca->host, ca->port, FL__CALL_TIMEOUT_MS, NULL, &em);
      connected = rc == 0;
      registered = 0;
    }
    if (rc == 0 && !registered) {
      rc = fl__register(nc, &c, &hb_ms, &em);
      registered = rc == 0;
      if (rc == FL_EREFUSED) {
        /* Not a transient problem: say so loudly, keep serving, retry slowly. */
        fl_error("node", "the coordinator refused this node: %s", fl_errmsg_str(&em, rc));
        if (fl__sleep(nc, 10 * hb_ms))
          break;
        continue;
      }
    }
    /* Read before the heartbeat: a map the watch installs meanwhile may be
     * newer than the epoch the heartbeat reports, which is no regression. */
    uint64_t mine = fl_node_coord_epoch(nc), epoch = 0;
    if (rc == 0) {
      fl_cc_hb_t hb;
      fl__figures(nc, &hb);
      fl_node_coord_progress(nc, &hb.repair);
      rc = fl_cc_heartbeat(&c, &hb, &epoch, &em);
      if (rc == FL_ENOTFOUND)
        registered = 0;
    }
    if (rc == 0 && epoch > mine)
      rc = fl__fetch_map(nc, &c, &em);
    if (rc == 0 && epoch < mine && epoch != behind_warned) {
      /* Epochs only go up: a coordinator behind us lost its state. */
      fl_warn("node", "coordinator %s:%u is at epoch %" PRIu64 ", older than this node's map "
              "(%" PRIu64 "): keeping this node's map", ca->host, ca->port, epoch, mine);
      behind_warned = epoch;
    }
    if (rc && rc != FL_ENOTFOUND) {
      if (!warned)
        fl_warn("node", "coordinator %s:%u: %s; serving with the map of epoch %" PRIu64
                " and retrying", ca->host, ca->port, fl_errmsg_str(&em, rc),
                fl_node_coord_epoch(nc));
      warned = 1;
      if (!fl_wire_conn_usable(&c)) {
        fl_wire_conn_close(&c);
        connected = 0;
      }
      if (fl__sleep(nc, FL__RETRY_MS))
        break;
      continue;
    }
    if (warned && rc == 0) {
      fl_info("node", "coordinator %s:%u reachable again", ca->host, ca->port);
      warned = 0;
    }
    if (rc == 0 && fl__sleep(nc, hb_ms ? hb_ms : 1000))
      break;
  }
  fl_wire_conn_close(&c);
  return NULL;
}

/* ---- the watch thread ----------------------------------------------------------------- */

/* Long-polls WATCH_MAP with the node's epoch; the coordinator answers at
 * once when its epoch differs, else after FL__WATCH_MS (or its own cap).
 * WATCH_MAP needs no registration, so this works before the node has an
 * id. Failures are logged at debug level only: the heartbeat thread warns
 * about an unreachable coordinator already. */
static void *fl__watch_main(void *arg) {
  fl_node_coord_t *nc = arg;
  const fl_addr_t *ca = &nc->cfg->coord;
  fl_wire_conn_t w = {.fd = -1};
  int connected = 0;
  uint32_t backoff = FL__BACKOFF_MIN_MS;
  uint64_t failed_epoch = 0; /* the last epoch that could not be installed */
  for (;;) {
    fl_errmsg_t em = {{0}};
    int rc = 0;
    if (!connected) {
      rc = fl_wire_conn_open(&w, ca->host, ca->port, FL__WATCH_CONNECT_MS, NULL, &em);
      if (rc == 0) {
        connected = 1;
        /* A poll is answered after at most FL__WATCH_MS: wait that long
         * plus a call's time before calling the coordinator gone. */
        fl_wire_conn_set_timeout(&w, (int)FL__WATCH_MS + FL__CALL_TIMEOUT_MS);
      }
    }
    fl_map_t map;
    int changed = 0, stop;
    uint64_t known = fl_node_coord_epoch(nc);
    pthread_mutex_lock(&nc->mu);
    stop = nc->stop;
    if (rc == 0 && !stop)
      nc->watch_fd = w.fd;
    pthread_mutex_unlock(&nc->mu);
    if (stop)
      break;
    if (rc == 0) {
      rc = fl_cc_get_map(&w, known, FL__WATCH_MS, &map, &changed, &em);
      pthread_mutex_lock(&nc->mu);
      nc->watch_fd = -1;
      stop = nc->stop;
      pthread_mutex_unlock(&nc->mu);
      if (stop) {
        if (rc == 0 && changed)
          fl_map_free(&map);
        break;
      }
    }
    if (rc == 0 && changed && map.epoch < known) {
      /* A coordinator that lost its state answers every poll at once:
       * keep ours and back off as after an error. */
      rc = fl_errf(&em, FL_EPROTO, "the coordinator sent epoch %" PRIu64 ", older than ours "
                   "(%" PRIu64 ")", map.epoch, known);
      fl_map_free(&map);
    } else if (rc == 0 && changed) {
      uint64_t e = map.epoch;
      rc = fl__install(nc, &map, "the watch", &em);
      if (rc && e != failed_epoch) /* once per epoch: each retry would say the same */
        fl_warn("node", "map epoch %" PRIu64 " from %s:%u not installed: %s; retrying", e,
                ca->host, ca->port, fl_errmsg_str(&em, rc));
      if (rc)
        failed_epoch = e;
    }
    if (rc == 0) {
      backoff = FL__BACKOFF_MIN_MS;
      continue;
    }
    if (connected && !fl_wire_conn_usable(&w)) {
      fl_wire_conn_close(&w);
      connected = 0;
    }
    fl_debug("node", "watching the map at %s:%u: %s; again in %u ms", ca->host, ca->port,
             fl_errmsg_str(&em, rc), backoff);
    if (fl__sleep(nc, backoff))
      break;
    backoff = backoff * 2 > FL__BACKOFF_MAX_MS ? FL__BACKOFF_MAX_MS : backoff * 2;
  }
  fl_wire_conn_close(&w);
  return NULL;
}

/* ---- public -------------------------------------------------------------------------------- */

/* Stops and joins the threads: the flag and the condition end their
 * sleeps, and shutting the watch socket down ends a poll in flight, so
 * nothing waits for the coordinator (at worst for a connect in progress,
 * FL__WATCH_CONNECT_MS, or a heartbeat call). */
static void fl__join(fl_node_coord_t *nc) {
  pthread_mutex_lock(&nc->mu);
  nc->stop = 1;
  pthread_cond_broadcast(&nc->cv);
  if (nc->watch_fd >= 0)
    shutdown(nc->watch_fd, SHUT_RDWR);
  pthread_mutex_unlock(&nc->mu);
  pthread_join(nc->thread, NULL);
  if (nc->watch_started)
    pthread_join(nc->watch, NULL);
}

static void fl__free(fl_node_coord_t *nc) {
  if (nc->have_map)
    fl_map_free(&nc->map);
  pthread_mutex_destroy(&nc->mu);
  pthread_mutex_destroy(&nc->install_mu);
  pthread_mutex_destroy(&nc->progress_mu);
  pthread_cond_destroy(&nc->cv);
  free(nc);
}

int fl_node_coord_start(const fl_node_cfg_t *cfg, fl_store_t *store, int port,
                        fl_node_coord_t **out, fl_errmsg_t *em) {
  *out = NULL;
  fl_node_coord_t *nc = calloc(1, sizeof *nc);
  if (!nc)
    return fl_errf(em, -ENOMEM, "starting the coordinator thread: out of memory");
  nc->cfg = cfg;
  nc->store = store;
  int n = cfg->listen.kind == FL_ADDR_IPV6
              ? snprintf(nc->addr, sizeof nc->addr, "[%s]:%d", cfg->listen.host, port)
              : snprintf(nc->addr, sizeof nc->addr, "%s:%d", cfg->listen.host, port);
  if (n < 0 || (size_t)n >= sizeof nc->addr) {
    free(nc);
    return fl_errf(em, FL_ECONFIG, "listen address %s is too long for the cluster map (%d "
                   "characters at most)", cfg->listen.host, FL_MAP_ADDR_MAX - 1);
  }
  pthread_mutex_init(&nc->mu, NULL);
  pthread_mutex_init(&nc->install_mu, NULL);
  pthread_mutex_init(&nc->progress_mu, NULL);
  pthread_cond_init(&nc->cv, NULL);
  nc->watch_fd = -1;
  fl__load_files(nc);
  int rc = pthread_create(&nc->thread, NULL, fl__thread, nc);
  if (rc) {
    fl__free(nc);
    return fl_errf(em, -rc, "cannot start the coordinator thread: %s", strerror(rc));
  }
  if ((rc = pthread_create(&nc->watch, NULL, fl__watch_main, nc)) != 0) {
    fl__join(nc);
    fl__free(nc);
    return fl_errf(em, -rc, "cannot start the map watch thread: %s", strerror(rc));
  }
  nc->watch_started = 1;
  *out = nc;
  return 0;
}

void fl_node_coord_stop(fl_node_coord_t *nc) {
  if (!nc)
    return;
  fl__join(nc);
  fl__free(nc);
}

void fl_node_coord_set_progress(fl_node_coord_t *nc, void (*fn)(void *arg, fl_cc_repair_t *out),
                                void *arg) {
  if (!nc)
    return;
  pthread_mutex_lock(&nc->progress_mu);
  nc->progress_fn = fn;
  nc->progress_arg = fn ? arg : NULL;
  pthread_mutex_unlock(&nc->progress_mu);
}

uint64_t fl_node_coord_epoch(fl_node_coord_t *nc) {
  pthread_mutex_lock(&nc->mu);
  uint64_t e = nc->have_map ? nc->map.epoch : 0;
  pthread_mutex_unlock(&nc->mu);
  return e;
}

uint32_t fl_node_coord_id(fl_node_coord_t *nc) {
  pthread_mutex_lock(&nc->mu);
  uint32_t id = nc->id;
  pthread_mutex_unlock(&nc->mu);
  return id;
}

int fl_node_coord_map(fl_node_coord_t *nc, fl_map_t *out, fl_errmsg_t *em) {
  pthread_mutex_lock(&nc->mu);
  int rc = nc->have_map ? fl_map_copy(out, &nc->map, em)
                        : fl_errf(em, FL_ENOTFOUND, "this node has no cluster map yet");
  pthread_mutex_unlock(&nc->mu);
  return rc;
}
