/* Volume set: the table of open volumes (reference counted so compaction can
 * drop a volume while readers still hold it), the group-commit flush that
 * owns the active volume, compaction and scrub. */
#include "fl_volset.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fl_log.h"
#include "fl_vol_commit.h"
#include "fl_vol_rate.h"

typedef struct fl__slot {
  fl_vol_t *v;
  uint32_t id;
  int refs; /* table reference + readers; guarded by set mu */
  int dead; /* removed from the table: close when refs drops to 0 */
} fl__slot_t;

/* A queued append (or roll when recs == NULL). */
typedef struct fl__put {
  const fl_vol_rec_in_t *recs;
  size_t n;
  fl_volset_loc_t *locs;
  fl_errmsg_t em;
} fl__put_t;

struct fl_volset {
  char *dir;
  fl_volset_opts_t o;
  pthread_mutex_t mu;   /* guards slots, nslots */
  fl__slot_t **slots;   /* ascending id */
  size_t nslots, cap;
  fl__slot_t *active;   /* changed only by the commit leader (and open) */
  atomic_uint active_id; /* its id, for any thread */
  uint32_t next_id;     /* commit leader only */
  uint64_t next_seq;    /* commit leader only */
  fl_vol_commit_t commit;
  fl_vol_rec_in_t *scratch; /* commit leader only */
  uint64_t *offs;
  fl_vol_rec_in_t *drecs;   /* durable stage only: records handed to the hook */
  fl_volset_loc_t *dlocs;
  size_t dcap;
  size_t scratch_cap;
};

static void fl__path(const fl_volset_t *s, uint32_t id, char *buf, size_t cap) {
  snprintf(buf, cap, "%s/vol-%010" PRIu32 ".flv", s->dir, id);
}

/* ---- table ---------------------------------------------------------------- */

static int fl__add(fl_volset_t *s, fl_vol_t *v) {
  fl__slot_t *sl = calloc(1, sizeof *sl);
  if (!sl)
    return -ENOMEM;
  sl->v = v;
  sl->id = fl_vol_id(v);
  sl->refs = 1;
  pthread_mutex_lock(&s->mu);
  if (s->nslots == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    fl__slot_t **p = realloc(s->slots, cap * sizeof *p);
    if (!p) {
      pthread_mutex_unlock(&s->mu);
      free(sl);
      return -ENOMEM;
    }
    s->slots = p;
    s->cap = cap;
  }
  size_t i = s->nslots;
  while (i > 0 && s->slots[i - 1]->id > sl->id) {
    s->slots[i] = s->slots[i - 1];
    i--;
  }
  s->slots[i] = sl;
  s->nslots++;
  pthread_mutex_unlock(&s->mu);
  return 0;
}

static fl__slot_t *fl__get(fl_volset_t *s, uint32_t id) {
  fl__slot_t *r = NULL;
  pthread_mutex_lock(&s->mu);
  for (size_t i = 0; i < s->nslots; i++)
    if (s->slots[i]->id == id) {
      r = s->slots[i];
      r->refs++;
      break;
    }
  pthread_mutex_unlock(&s->mu);
  return r;
}

static void fl__put_ref(fl_volset_t *s, fl__slot_t *sl) {
  pthread_mutex_lock(&s->mu);
  int last = --sl->refs == 0;
  pthread_mutex_unlock(&s->mu);
  if (last) {
    fl_vol_close(sl->v);
    free(sl);
  }
}

/* Takes sl out of the table; it closes when the last reader lets go. */
static void fl__remove(fl_volset_t *s, fl__slot_t *sl) {
  pthread_mutex_lock(&s->mu);
  for (size_t i = 0; i < s->nslots; i++)
    if (s->slots[i] == sl) {
      memmove(&s->slots[i], &s->slots[i + 1], (s->nslots - i - 1) * sizeof *s->slots);
      s->nslots--;
      break;
    }
  sl->dead = 1;
  pthread_mutex_unlock(&s->mu);
  fl__put_ref(s, sl);
}

/* ---- group-commit flush (leader only) ---------------------------------- */

static int fl__roll(fl_volset_t *s, fl_errmsg_t *em) {
  char path[4096];
  uint32_t id = s->next_id;
  fl__path(s, id, path, sizeof path);
  fl_vol_t *v = NULL;
  int rc = fl_vol_create(path, id, &s->o.vol, &v, em);
  if (rc)
    return rc;
  rc = fl__add(s, v);
  if (rc) {
    fl_vol_close(v);
    unlink(path);
    return fl_errf(em, rc, "adding volume %s", path);
  }
  s->next_id = id + 1;
  fl__slot_t *old = s->active;
  s->active = fl__get(s, id);
  fl__put_ref(s, s->active); /* the table's reference keeps it */
  atomic_store(&s->active_id, id);
  if (old) {
    rc = fl_vol_seal(old->v, em);
    if (rc) /* the old volume is only not marked sealed: its records stay good */
      fl_warn("vol", "sealing volume %u: %s", old->id, fl_errmsg_str(em, rc));
  }
  return 0;
}

static int fl__scratch(fl_volset_t *s, size_t n) {
  if (n <= s->scratch_cap)
    return 0;
  size_t cap = s->scratch_cap ? s->scratch_cap : 64;
  while (cap < n)
    cap *= 2;
  fl_vol_rec_in_t *r = realloc(s->scratch, cap * sizeof *r);
  if (!r)
    return -ENOMEM;
  s->scratch = r;
  uint64_t *o = realloc(s->offs, cap * sizeof *o);
  if (!o)
    return -ENOMEM;
  s->offs = o;
  s->scratch_cap = cap;
  return 0;
}

/* Write stage: appends the batch to the active volume (rolling over when it
 * is full) without syncing; the sync stage makes it durable. */
static void fl__write(void *ctx, fl_vol_commit_req_t **reqs, size_t n) {
  fl_volset_t *s = ctx;
  size_t i = 0;
  while (i < n) {
    fl__put_t *p = reqs[i]->arg;
    if (!p->recs) {
      reqs[i]->rc = fl__roll(s, &p->em);
      i++;
      continue;
    }
    size_t j = i, nrec = 0;
    uint64_t bytes = 0;
    /* A volume whose failed append could not be cut back takes no more. */
    while (j < n && !fl_vol_broken(s->active->v)) {
      fl__put_t *q = reqs[j]->arg;
      if (!q->recs || !fl_vol_fits(s->active->v, bytes + reqs[j]->bytes))
        break;
      bytes += reqs[j]->bytes;
      nrec += q->n;
      j++;
    }
    if (j == i) { /* the next put does not fit (or cannot): a new volume takes it */
      int rc = fl__roll(s, &p->em);
      if (rc) {
        reqs[i]->rc = rc;
        i++;
      }
      continue;
    }
    int rc = fl__scratch(s, nrec);
    fl_errmsg_t em = {{0}};
    if (!rc) {
      size_t k = 0;
      for (size_t r = i; r < j; r++) {
        fl__put_t *q = reqs[r]->arg;
        for (size_t x = 0; x < q->n; x++, k++) {
          s->scratch[k] = q->recs[x];
          if (!s->scratch[k].seq)
            s->scratch[k].seq = s->next_seq++;
        }
      }
      rc = fl_vol_write(s->active->v, s->scratch, nrec, s->offs, &em);
    }
    size_t k = 0;
    for (size_t r = i; r < j; r++) {
      fl__put_t *q = reqs[r]->arg;
      reqs[r]->rc = rc;
      if (rc) {
        q->em = em;
        continue;
      }
      for (size_t x = 0; x < q->n; x++, k++)
        q->locs[x] = (fl_volset_loc_t){s->active->id, s->offs[k], s->scratch[k].seq};
    }
    i = j;
  }
}

/* Volumes holding written records that are not durable yet, referenced;
 * usually just the active one. Returns the count, or -ENOMEM. */
static int fl__pending(fl_volset_t *s, fl__slot_t ***out) {
  pthread_mutex_lock(&s->mu);
  fl__slot_t **p = malloc((s->nslots + 1) * sizeof *p);
  int n = 0;
  for (size_t i = 0; p && i < s->nslots; i++)
    if (fl_vol_pending(s->slots[i]->v)) {
      s->slots[i]->refs++;
      p[n++] = s->slots[i];
    }
  pthread_mutex_unlock(&s->mu);
  *out = p;
  return p ? n : -ENOMEM;
}

/* Sync stage: one fdatasync per volume with pending records. */
static int fl__sync(void *ctx) {
  fl_volset_t *s = ctx;
  fl__slot_t **p;
  int n = fl__pending(s, &p), rc = n < 0 ? n : 0;
  for (int i = 0; i < n; i++) {
    fl_errmsg_t em = {{0}};
    int r = fl_vol_sync(p[i]->v, &em);
    if (r) {
      fl_error("vol", "%s", fl_errmsg_str(&em, r));
      if (!rc)
        rc = r;
    }
    fl__put_ref(s, p[i]);
  }
  free(p);
  return rc;
}

/* After a failed sync, with no write running: drop what is not durable. */
static void fl__undo(void *ctx) {
  fl_volset_t *s = ctx;
  fl__slot_t **p;
  int n = fl__pending(s, &p);
  for (int i = 0; i < n; i++) {
    fl_vol_undo(p[i]->v);
    fl__put_ref(s, p[i]);
  }
  free(p);
}

/* Durable stage: hands every record the last sync made durable, in file
 * order, to the set's durable hook in one call, then lets the writers go. */
static void fl__durable(void *ctx, fl_vol_commit_req_t *list) {
  fl_volset_t *s = ctx;
  if (!s->o.durable)
    return;
  size_t n = 0;
  for (fl_vol_commit_req_t *q = list; q; q = q->next) {
    fl__put_t *p = q->arg;
    if (p->recs)
      n += p->n;
  }
  if (n > s->dcap) {
    size_t cap = s->dcap ? s->dcap : 64;
    while (cap < n)
      cap *= 2;
    fl_vol_rec_in_t *r = realloc(s->drecs, cap * sizeof *r);
    if (r)
      s->drecs = r;
    fl_volset_loc_t *l = r ? realloc(s->dlocs, cap * sizeof *l) : NULL;
    if (l)
      s->dlocs = l;
    if (!r || !l) {
      for (fl_vol_commit_req_t *q = list; q; q = q->next)
        q->rc = -ENOMEM;
      return;
    }
    s->dcap = cap;
  }
  size_t k = 0;
  for (fl_vol_commit_req_t *q = list; q; q = q->next) {
    fl__put_t *p = q->arg;
    for (size_t x = 0; p->recs && x < p->n; x++, k++) {
      s->drecs[k] = p->recs[x];
      s->drecs[k].seq = p->locs[x].seq;
      s->dlocs[k] = p->locs[x];
    }
  }
  fl_errmsg_t em = {{0}};
  int rc = n ? s->o.durable(s->o.durable_ctx, s->drecs, s->dlocs, n, &em) : 0;
  if (rc)
    for (fl_vol_commit_req_t *q = list; q; q = q->next) {
      fl__put_t *p = q->arg;
      q->rc = rc;
      p->em = em;
    }
}

static const fl_vol_commit_ops_t fl__commit_ops = {fl__write, fl__sync, fl__undo, fl__durable};

/* ---- open / close --------------------------------------------------------- */

void fl_volset_close(fl_volset_t *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->nslots; i++)
    fl__put_ref(s, s->slots[i]);
  fl_vol_commit_destroy(&s->commit);
  pthread_mutex_destroy(&s->mu);
  free(s->slots);
  free(s->scratch);
  free(s->offs);
  free(s->drecs);
  free(s->dlocs);
  free(s->dir);
  free(s);
}

int fl_volset_open(const char *dir, const fl_volset_opts_t *o, fl_volset_t **out,
                   fl_errmsg_t *em) {
  int rc;
  DIR *d = NULL;
  *out = NULL;
  fl_volset_t *s = calloc(1, sizeof *s);
  if (!s)
    return fl_errf(em, -ENOMEM, "opening volume set %s", dir);
  if (o)
    s->o = *o;
  s->next_id = 1;
  s->next_seq = 1;
  pthread_mutex_init(&s->mu, NULL);
  rc = fl_vol_commit_init(&s->commit, &fl__commit_ops, s, s->o.max_batch_bytes);
  if (rc) {
    pthread_mutex_destroy(&s->mu);
    free(s);
    return fl_errf(em, rc, "opening volume set %s", dir);
  }
  s->dir = strdup(dir);
  if (!s->dir) {
    rc = fl_errf(em, -ENOMEM, "opening volume set %s", dir);
    goto fail;
  }
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    rc = fl_errf(em, -errno, "creating volume directory %s", dir);
    goto fail;
  }
  d = opendir(dir);
  if (!d) {
    rc = fl_errf(em, -errno, "listing volume directory %s", dir);
    goto fail;
  }
  struct dirent *de;
  while ((de = readdir(d))) {
    uint32_t id;
    char tail[8];
    if (sscanf(de->d_name, "vol-%10" SCNu32 ".fl%1s", &id, tail) != 2 || strcmp(tail, "v"))
      continue;
    char path[4096];
    fl__path(s, id, path, sizeof path);
    fl_vol_t *v = NULL;
    fl_vol_recovery_t rep;
    rc = fl_vol_open(path, &s->o.vol, &v, &rep, em);
    if (rc) {
      struct stat st;
      if (stat(path, &st) == 0 && st.st_size <= FL_VOL_DATA_START) {
        /* Crashed while being created: it never held a record. */
        fl_warn("vol", "removing half-created volume %s", path);
        unlink(path);
        continue;
      }
      goto fail;
    }
    if (rep.dropped_bytes || rep.corrupt)
      fl_warn("vol", "volume %u recovered: %llu records, torn tail %llu bytes, %llu corrupt",
              id, (unsigned long long)rep.records, (unsigned long long)rep.dropped_bytes,
              (unsigned long long)rep.corrupt);
    rc = fl__add(s, v);
    if (rc) {
      fl_vol_close(v);
      fl_errf(em, rc, "opening volume set %s", dir);
      goto fail;
    }
    if (id >= s->next_id)
      s->next_id = id + 1;
    if (fl_vol_max_seq(v) >= s->next_seq)
      s->next_seq = fl_vol_max_seq(v) + 1;
  }
  closedir(d);
  d = NULL;
  /* The newest unsealed volume is the active one; any older unsealed one
   * (a crash between creating and sealing) is sealed now. */
  for (size_t i = s->nslots; i-- > 0;) {
    fl__slot_t *sl = s->slots[i];
    if (fl_vol_sealed(sl->v))
      continue;
    if (!s->active) {
      s->active = sl;
      atomic_store(&s->active_id, sl->id);
      continue;
    }
    rc = fl_vol_seal(sl->v, em);
    if (rc)
      goto fail;
  }
  if (!s->active) {
    rc = fl__roll(s, em);
    if (rc)
      goto fail;
  }
  *out = s;
  return 0;
fail:
  if (d)
    closedir(d);
  fl_volset_close(s);
  return rc;
}

/* ---- public calls ---------------------------------------------------------- */

int fl_volset_append(fl_volset_t *s, const fl_vol_rec_in_t *recs, size_t n,
                     fl_volset_loc_t *locs, fl_errmsg_t *em) {
  if (n == 0)
    return 0;
  fl__put_t p = {.recs = recs, .n = n, .locs = locs};
  fl_vol_commit_req_t r = {.arg = &p, .bytes = fl_vol_batch_bytes(recs, n)};
  int rc = fl_vol_commit_submit(&s->commit, &r);
  if (rc && em) {
    if (p.em.msg[0])
      *em = p.em;
    else
      fl_errf(em, rc, "making %zu records durable in %s: %s", n, s->dir, fl_strerror(rc));
  }
  return rc;
}

int fl_volset_roll(fl_volset_t *s, fl_errmsg_t *em) {
  fl__put_t p = {0};
  fl_vol_commit_req_t r = {.arg = &p};
  int rc = fl_vol_commit_submit(&s->commit, &r);
  if (rc && em)
    *em = p.em;
  return rc;
}

int fl_volset_read(fl_volset_t *s, uint32_t vol_id, uint64_t off, fl_vol_rec_t *rec,
                   void *payload, uint64_t pay_off, uint64_t len, fl_errmsg_t *em) {
  fl__slot_t *sl = fl__get(s, vol_id);
  if (!sl)
    return fl_errf(em, FL_ENOTFOUND, "no volume %u (compacted or never existed)", vol_id);
  int rc = fl_vol_read(sl->v, off, rec, payload, pay_off, len, em);
  fl__put_ref(s, sl);
  return rc;
}

int fl_volset_read_alloc(fl_volset_t *s, uint32_t vol_id, uint64_t off, fl_vol_rec_t *rec,
                         uint64_t pay_off, uint64_t len, void **base, void **data,
                         fl_errmsg_t *em) {
  fl__slot_t *sl = fl__get(s, vol_id);
  if (!sl)
    return fl_errf(em, FL_ENOTFOUND, "no volume %u (compacted or never existed)", vol_id);
  int rc = fl_vol_read_alloc(sl->v, off, rec, pay_off, len, base, data, em);
  fl__put_ref(s, sl);
  return rc;
}

size_t fl_volset_list(fl_volset_t *s, uint32_t *ids, size_t cap) {
  pthread_mutex_lock(&s->mu);
  size_t n = s->nslots;
  for (size_t i = 0; i < n && i < cap; i++)
    ids[i] = s->slots[i]->id;
  pthread_mutex_unlock(&s->mu);
  return n;
}

uint32_t fl_volset_active_id(fl_volset_t *s) { return atomic_load(&s->active_id); }

uint64_t fl_volset_volume_bytes(fl_volset_t *s, uint32_t vol_id) {
  uint64_t t = 0;
  pthread_mutex_lock(&s->mu);
  for (size_t i = 0; i < s->nslots; i++)
    if (s->slots[i]->id == vol_id && !s->slots[i]->dead)
      t = fl_vol_end(s->slots[i]->v);
  pthread_mutex_unlock(&s->mu);
  return t;
}

uint64_t fl_volset_bytes(fl_volset_t *s) {
  uint64_t t = 0;
  pthread_mutex_lock(&s->mu);
  for (size_t i = 0; i < s->nslots; i++)
    t += fl_vol_end(s->slots[i]->v);
  pthread_mutex_unlock(&s->mu);
  return t;
}

void fl_volset_commit_stats(fl_volset_t *s, uint64_t *syncs, uint64_t *requests) {
  fl_vol_commit_stats(&s->commit, syncs, requests);
}

/* Snapshot of the ids, so long work runs without the table lock. */
static int fl__ids(fl_volset_t *s, uint32_t **ids, size_t *n) {
  for (;;) {
    size_t want = fl_volset_list(s, NULL, 0);
    uint32_t *buf = malloc((want + 1) * sizeof *buf);
    if (!buf)
      return -ENOMEM;
    size_t got = fl_volset_list(s, buf, want + 1);
    if (got <= want + 1) {
      *ids = buf;
      *n = got;
      return 0;
    }
    free(buf);
  }
}

/* Visits every record (r == 1) and every corrupt spot (r == FL_ECORRUPT,
 * rec unset, why says what) of every volume, in id then file order; bytes is
 * how far the walk moved. visit returns 0 to go on, negative to stop. */
typedef int (*fl__visit_fn)(void *ctx, uint32_t vol_id, uint64_t off, int r,
                            const fl_vol_rec_t *rec, const char *why, uint64_t bytes);

static int fl__walk(fl_volset_t *s, int verify, uint32_t from_vol, uint64_t from_off,
                    fl__visit_fn visit, void *ctx, const atomic_int *stop, uint64_t *volumes,
                    fl_errmsg_t *em) {
  uint32_t *ids = NULL;
  size_t n = 0;
  int rc = fl__ids(s, &ids, &n);
  if (rc)
    return fl_errf(em, rc, "listing volumes");
  fl_vol_rec_t *rec = malloc(sizeof *rec);
  if (!rec) {
    rc = fl_errf(em, -ENOMEM, "walking volumes");
    goto fail;
  }
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (ids[i] < from_vol)
      continue;
    fl__slot_t *sl = fl__get(s, ids[i]);
    if (!sl)
      continue; /* compacted meanwhile */
    if (volumes)
      (*volumes)++;
    fl_vol_iter_t it;
    rc = fl_vol_iter_init(&it, sl->v, verify);
    if (rc)
      fl_errf(em, rc, "walking volume %u", ids[i]);
    /* A start inside the volume must be a record boundary (a checkpoint is). */
    else if (ids[i] == from_vol && from_off > it.off && from_off % FL_VOL_ALIGN == 0)
      it.off = from_off < it.end ? from_off : it.end;
    uint64_t off = 0;
    while (rc == 0 && !(stop && atomic_load(stop))) {
      uint64_t before = it.off;
      fl_errmsg_t why = {{0}};
      int r = fl_vol_iter_next(&it, rec, &off, &why);
      if (r == 0)
        break;
      if (r < 0 && r != FL_ECORRUPT) {
        rc = fl_errf(em, r, "volume %u at %llu: %s", ids[i], (unsigned long long)off,
                     why.msg);
        break;
      }
      rc = visit(ctx, ids[i], off, r, rec, why.msg, it.off - before);
    }
    fl_vol_iter_close(&it);
    fl__put_ref(s, sl);
  }
fail:
  free(rec);
  free(ids);
  return rc;
}

typedef struct fl__foreach {
  fl_volset_record_fn fn;
  void *ctx;
  uint64_t *corrupt;
} fl__foreach_t;

static int fl__foreach_visit(void *ctx, uint32_t vol_id, uint64_t off, int r,
                             const fl_vol_rec_t *rec, const char *why, uint64_t bytes) {
  fl__foreach_t *f = ctx;
  (void)bytes;
  if (r == 1)
    return f->fn(f->ctx, vol_id, off, &rec->h);
  fl_warn("vol", "skipping corrupt record at %u/%llu: %s", vol_id, (unsigned long long)off,
          why);
  if (f->corrupt)
    (*f->corrupt)++;
  return 0;
}

int fl_volset_foreach(fl_volset_t *s, fl_volset_record_fn fn, void *ctx, uint64_t *corrupt,
                      fl_errmsg_t *em) {
  return fl_volset_foreach_from(s, 0, 0, fn, ctx, corrupt, em);
}

int fl_volset_foreach_from(fl_volset_t *s, uint32_t from_vol, uint64_t from_off,
                           fl_volset_record_fn fn, void *ctx, uint64_t *corrupt,
                           fl_errmsg_t *em) {
  fl__foreach_t f = {fn, ctx, corrupt};
  return fl__walk(s, 0, from_vol, from_off, fl__foreach_visit, &f, NULL, NULL, em);
}

/* ---- compaction ----------------------------------------------------------- */

#define FL__COMPACT_BATCH (8u << 20)

typedef struct fl__moving {
  fl_vol_rec_t rec;
  uint64_t old_off;
  uint8_t *payload;
} fl__moving_t;

/* Appends the n pending records (keeping their seq), tells reloc where each
 * went, and frees their payloads. in/locs grow to fit. */
static int fl__compact_flush(fl_volset_t *s, uint32_t vol_id, fl__moving_t *mv, size_t n,
                             fl_vol_rec_in_t **in, fl_volset_loc_t **locs,
                             fl_volset_reloc_fn reloc, void *ctx, fl_errmsg_t *em) {
  int rc = 0;
  fl_vol_rec_in_t *ni = realloc(*in, n * sizeof *ni);
  if (ni)
    *in = ni;
  fl_volset_loc_t *nl = ni ? realloc(*locs, n * sizeof *nl) : NULL;
  if (!nl) {
    rc = fl_errf(em, -ENOMEM, "compacting volume %u", vol_id);
    goto fail;
  }
  *locs = nl;
  for (size_t i = 0; i < n; i++) {
    fl_vol_rec_hdr_t *h = &mv[i].rec.h;
    /* mv may have moved (realloc) since the header was parsed into it. */
    h->key = mv[i].rec.raw + FL_VOL_REC_FIXED;
    h->meta = h->meta_len ? h->key + h->key_len : NULL;
    ni[i] = (fl_vol_rec_in_t){.key = h->key, .key_len = h->key_len, .meta = h->meta,
                              .meta_len = h->meta_len, .frag = h->frag, .flags = h->flags,
                              .seq = h->seq, .payload = mv[i].payload,
                              .payload_len = h->payload_len, .crc_given = FL_VOL_CRC_CHECK,
                              .payload_crc = h->payload_crc};
  }
  rc = fl_volset_append(s, ni, n, nl, em);
  for (size_t i = 0; i < n && rc == 0; i++)
    rc = reloc(ctx, &mv[i].rec.h, vol_id, mv[i].old_off, &nl[i]);
fail:
  for (size_t i = 0; i < n; i++) {
    free(mv[i].payload);
    mv[i].payload = NULL;
  }
  return rc;
}

int fl_volset_compact(fl_volset_t *s, uint32_t vol_id, fl_volset_live_fn live,
                      fl_volset_reloc_fn reloc, void *ctx, fl_volset_compact_stats_t *st,
                      fl_errmsg_t *em) {
  int rc = 0;
  fl_volset_compact_stats_t local = {0};
  size_t nmv = 0, cap = 0;
  uint64_t batch_bytes = 0;
  fl__moving_t *mv = NULL;
  fl_vol_rec_in_t *in = NULL;
  fl_volset_loc_t *locs = NULL;
  fl_vol_iter_t it = {0};
  fl__slot_t *sl = fl__get(s, vol_id);
  if (!st)
    st = &local;
  *st = (fl_volset_compact_stats_t){0};
  if (!sl)
    return fl_errf(em, FL_ENOTFOUND, "no volume %u", vol_id);
  if (!fl_vol_sealed(sl->v)) {
    rc = fl_errf(em, FL_EREFUSED, "volume %u is active; roll the set before compacting it",
                 vol_id);
    goto fail;
  }
  st->old_bytes = fl_vol_end(sl->v);
  rc = fl_vol_iter_init(&it, sl->v, 1);
  if (rc) {
    fl_errf(em, rc, "compacting volume %u", vol_id);
    goto fail;
  }
  for (;;) {
    if (nmv == cap) {
      size_t nc = cap ? cap * 2 : 16;
      fl__moving_t *p = realloc(mv, nc * sizeof *p);
      if (!p) {
        rc = fl_errf(em, -ENOMEM, "compacting volume %u", vol_id);
        goto fail;
      }
      mv = p;
      cap = nc;
    }
    fl__moving_t *m = &mv[nmv];
    uint64_t off;
    int r = fl_vol_iter_next(&it, &m->rec, &off, em);
    if (r == 0)
      break;
    if (r < 0) {
      rc = fl_errprefix(em, r, "compacting volume %u at %llu", vol_id, (unsigned long long)off);
      goto fail;
    }
    st->records++;
    r = live(ctx, vol_id, off, &m->rec.h);
    if (r < 0) {
      rc = fl_errf(em, r, "liveness of the record at %u/%llu", vol_id,
                   (unsigned long long)off);
      goto fail;
    }
    if (!r)
      continue;
    m->old_off = off;
    m->payload = malloc(m->rec.h.payload_len ? (size_t)m->rec.h.payload_len : 1);
    if (!m->payload) {
      rc = fl_errf(em, -ENOMEM, "compacting volume %u", vol_id);
      goto fail;
    }
    nmv++;
    rc = fl_vol_read(sl->v, off, &m->rec, m->payload, 0, m->rec.h.payload_len, em);
    if (rc)
      goto fail;
    st->live_records++;
    st->live_bytes += m->rec.footprint;
    batch_bytes += m->rec.footprint;
    if (batch_bytes >= FL__COMPACT_BATCH) {
      rc = fl__compact_flush(s, vol_id, mv, nmv, &in, &locs, reloc, ctx, em);
      nmv = 0;
      batch_bytes = 0;
      if (rc)
        goto fail;
    }
  }
  if (nmv) {
    rc = fl__compact_flush(s, vol_id, mv, nmv, &in, &locs, reloc, ctx, em);
    nmv = 0;
    if (rc)
      goto fail;
  }
  st->dead_bytes = st->old_bytes - st->live_bytes;
  /* Everything live is durable elsewhere and the index was told: drop it. */
  if (unlink(fl_vol_path(sl->v)) != 0) {
    rc = fl_errf(em, -errno, "deleting compacted volume %s", fl_vol_path(sl->v));
    goto fail;
  }
  {
    int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)fsync(dfd);
      close(dfd);
    }
  }
  fl__remove(s, sl);
fail:
  for (size_t i = 0; i < nmv; i++)
    free(mv[i].payload);
  free(mv);
  free(in);
  free(locs);
  fl_vol_iter_close(&it);
  fl__put_ref(s, sl);
  return rc;
}

/* ---- scrub ---------------------------------------------------------------- */

static uint64_t fl__mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void fl__sleep_ns(uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

typedef struct fl__scrub {
  fl_volset_corrupt_fn fn;
  void *ctx;
  fl_volset_scrub_stats_t *st;
  fl_vol_rate_t rate;
} fl__scrub_t;

static int fl__scrub_visit(void *ctx, uint32_t vol_id, uint64_t off, int r,
                           const fl_vol_rec_t *rec, const char *why, uint64_t bytes) {
  fl__scrub_t *c = ctx;
  (void)rec;
  if (r == 1) {
    c->st->records++;
  } else {
    c->st->corrupt++;
    if (c->fn)
      c->fn(c->ctx, vol_id, off, r, why);
  }
  c->st->bytes += bytes;
  uint64_t wait = fl_vol_rate_take(&c->rate, fl__mono_ns(), bytes);
  if (wait)
    fl__sleep_ns(wait);
  return 0;
}

int fl_volset_scrub(fl_volset_t *s, double mb_per_s, fl_volset_corrupt_fn fn, void *ctx,
                    const atomic_int *stop, fl_volset_scrub_stats_t *st, fl_errmsg_t *em) {
  fl_volset_scrub_stats_t local;
  fl__scrub_t c = {.fn = fn, .ctx = ctx, .st = st ? st : &local};
  *c.st = (fl_volset_scrub_stats_t){0};
  /* A burst of 1/10 s keeps the disk share smooth. */
  fl_vol_rate_init(&c.rate, mb_per_s * 1e6, mb_per_s * 1e5, fl__mono_ns());
  return fl__walk(s, 1, 0, 0, fl__scrub_visit, &c, stop, &c.st->volumes, em);
}
