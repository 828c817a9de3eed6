/* The fragment store: ties the volume set (source of truth) to the RocksDB
 * index. The index is updated by the group-commit leader right after each
 * durable batch, in file order, with a checkpoint in the same RocksDB batch;
 * so the index never runs ahead of the volumes, a put is acknowledged only
 * once it can be found, and after a crash replaying the volumes from the
 * checkpoint restores exactly what was acknowledged. */
#include "fl_store.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "fl_crc32c.h"
#include "fl_idx_replay.h"
#include "fl_log.h"
#include "fl_store_pgs.h"
#include "fl_vol_record.h"

#define FL__KEY_LOCKS 64
#define FL__REPLAY_BATCH 1024

struct fl_store {
  char *dir;
  uint64_t reserve;                        /* bytes kept free for index and deletes */
  fl_volset_t *vs;
  fl_idx_t *idx;
  pthread_mutex_t idx_mu;                  /* one index batch at a time */
  pthread_mutex_t key_mu[FL__KEY_LOCKS];   /* check-then-append per key */
  pthread_mutex_t cnt_mu;                  /* guards the counters below */
  uint64_t objects, live_bytes, tombstones;
  fl_store_pgs_t pgs;                      /* per-(pg, frag) summaries of live fragments */
  atomic_uint_fast64_t corrupt_found;
  atomic_uint_fast64_t quarantined;
  atomic_uint_fast64_t compacted_bytes;
};

/* ---- record <-> index entry ------------------------------------------------- */

/* A record as the index needs it, whether it comes from an append in flight
 * or from a volume on disk. */
typedef struct fl__rec_view {
  const uint8_t *key, *meta;
  uint16_t key_len, meta_len;
  uint16_t flags;
  uint64_t seq, payload_len;
  uint32_t payload_crc;
} fl__rec_view_t;

/* The index entry of a volume record at (vol, off). */
static int fl__entry(const fl__rec_view_t *r, uint32_t vol, uint64_t off, fl_idx_key_t *k,
                     fl_idx_value_t *v, fl_errmsg_t *em) {
  int rc = fl_idx_key_decode(r->key, r->key_len, k, em);
  if (rc)
    return rc;
  rc = fl_idx_value_decode(r->meta, r->meta_len, v, em);
  if (rc)
    return rc;
  v->volume = vol;
  v->offset = off;
  v->seq = r->seq;
  v->crc = r->payload_crc;
  v->rec_len = (uint32_t)r->payload_len;
  v->frag = k->frag;
  v->layout = (r->flags & FL_VOL_REC_F_EC) ? 1 : 0;
  if (r->flags & FL_VOL_REC_F_TOMBSTONE)
    v->flags |= FL_IDX_VF_TOMBSTONE;
  if (r->flags & FL_VOL_REC_F_DROP)
    v->flags |= FL_IDX_VF_TOMBSTONE | FL_IDX_VF_DROPPED;
  if (r->flags & FL_VOL_REC_F_ENCRYPTED)
    v->flags |= FL_IDX_VF_ENCRYPTED;
  return 0;
}

static int fl__apply(fl_idx_batch_t *b, const fl__rec_view_t *r, uint32_t vol, uint64_t off,
                     fl_errmsg_t *em) {
  fl_idx_key_t k;
  fl_idx_value_t v;
  int rc = fl__entry(r, vol, off, &k, &v, em);
  return rc ? rc : fl_idx_batch_apply(b, &k, &v, NULL, em);
}

/* Group-commit hook: runs on the leader thread after a batch is durable and
 * before its writers wake. */
static int fl__on_durable(void *ctx, const fl_vol_rec_in_t *recs, const fl_volset_loc_t *locs,
                          size_t n, fl_errmsg_t *em) {
  fl_store_t *s = ctx;
  pthread_mutex_lock(&s->idx_mu);
  fl_idx_batch_t *b = NULL;
  int rc = fl_idx_batch_begin(s->idx, &b, em);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    fl__rec_view_t r = {recs[i].key,        recs[i].meta,    recs[i].key_len,
                        recs[i].meta_len,   recs[i].flags,   locs[i].seq,
                        recs[i].payload_len, recs[i].payload_crc};
    if (!recs[i].crc_given)
      r.payload_crc = fl_crc32c(recs[i].payload, recs[i].payload_len);
    rc = fl__apply(b, &r, locs[i].vol_id, locs[i].off, em);
  }
  if (rc == 0 && n > 0) {
    fl_idx_ckpt_t ck = {locs[n - 1].vol_id,
                        locs[n - 1].off + fl_vol_rec_footprint(recs[n - 1].key_len,
                                                               recs[n - 1].meta_len,
                                                               recs[n - 1].payload_len)};
    fl_idx_batch_ckpt(b, &ck);
    rc = fl_idx_batch_commit(b, em);
  } else {
    fl_idx_batch_abort(b);
  }
  pthread_mutex_unlock(&s->idx_mu);
  if (rc)
    fl_error("store", "index update after a durable write failed (replayed at restart): %s",
             fl_errmsg_str(em, rc));
  return rc;
}

/* ---- replay ---------------------------------------------------------------- */

typedef struct fl__replay {
  fl_idx_replayer_t r;
  fl_errmsg_t *em;
} fl__replay_t;

static int fl__replay_one(void *ctx, uint32_t vol, uint64_t off, const fl_vol_rec_hdr_t *h) {
  fl__replay_t *rp = ctx;
  fl_idx_record_t rec;
  fl__rec_view_t v = {h->key,   h->meta,        h->key_len,    h->meta_len,
                      h->flags, h->seq,         h->payload_len, h->payload_crc};
  int rc = fl__entry(&v, vol, off, &rec.key, &rec.val, rp->em);
  if (rc) {
    /* A record whose key or meta does not decode cannot be indexed; the
     * volume CRC said it is what was written, so this is a format bug. */
    fl_error("store", "volume %u offset %" PRIu64 ": cannot index record: %s", vol, off,
             fl_errmsg_str(rp->em, rc));
    return rc;
  }
  rec.next.volume = vol;
  rec.next.offset = off + fl_vol_rec_footprint(h->key_len, h->meta_len, h->payload_len);
  return fl_idx_replayer_add(&rp->r, &rec, rp->em);
}

/* Applies the volume records from the index checkpoint on (or all of them
 * with from_start) to the index, newest wins, checkpoint in every batch. */
static int fl__replay(fl_store_t *s, int from_start, uint64_t *applied, uint64_t *corrupt,
                      fl_errmsg_t *em) {
  fl__replay_t rp = {.em = em};
  fl_idx_ckpt_t from = {0, 0};
  if (!from_start) {
    int rc = fl_idx_ckpt_get(s->idx, &from, em);
    if (rc && rc != FL_ENOTFOUND)
      return rc;
  }
  fl_idx_replayer_init(&rp.r, s->idx, FL__REPLAY_BATCH);
  int rc = fl_volset_foreach_from(s->vs, from.volume, from.offset, fl__replay_one, &rp,
                                  corrupt, em);
  if (rc == 0)
    rc = fl_idx_replayer_finish(&rp.r, em);
  else
    fl_idx_replayer_abort(&rp.r);
  *applied = rp.r.st.records;
  return rc;
}

/* ---- counters ----------------------------------------------------------------- */

/* One live fragment more (sign > 0) or less in the counters and summaries.
 * Called with cnt_mu held. */
static void fl__live_locked(fl_store_t *s, const fl_idx_key_t *k, uint8_t layout,
                            uint64_t bytes, int sign) {
  if (sign > 0) {
    s->objects++;
    s->live_bytes += bytes;
  } else {
    s->objects--;
    s->live_bytes -= bytes;
  }
  if (fl_store_pgs_add(&s->pgs, k->pg, k->frag, layout, fl_idx_key_obj_hash(k), bytes, sign))
    fl_error("store", "out of memory for the PG summaries: PG_STATS fails until a restart");
}

static void fl__live(fl_store_t *s, const fl_idx_key_t *k, uint8_t layout, uint64_t bytes,
                     int sign) {
  pthread_mutex_lock(&s->cnt_mu);
  fl__live_locked(s, k, layout, bytes, sign);
  pthread_mutex_unlock(&s->cnt_mu);
}

static int fl__count_cb(void *arg, const fl_idx_key_t *k, const fl_idx_value_t *v) {
  fl_store_t *s = arg;
  if (v->flags & FL_IDX_VF_DROPPED)
    return 0; /* neither live nor a delete */
  if (v->flags & FL_IDX_VF_TOMBSTONE)
    s->tombstones++;
  else
    fl__live_locked(s, k, v->layout, v->rec_len, 1);
  return 0;
}

/* Counters and summaries from a full index scan (at open, before any
 * other thread can see the store). */
static int fl__count(fl_store_t *s, fl_errmsg_t *em) {
  s->objects = s->live_bytes = s->tombstones = 0;
  fl_store_pgs_free(&s->pgs);
  int rc = fl_idx_scan(s->idx, FL_IDX_LVL_ALL, NULL, NULL, 0, FL_IDX_WITH_TOMBSTONES,
                       fl__count_cb, s, NULL, em);
  if (rc == 0 && s->pgs.broken)
    rc = fl_errf(em, -ENOMEM, "out of memory building the PG summaries");
  return rc;
}

/* ---- open / close ------------------------------------------------------------ */

static int fl__mkdir(const char *path, fl_errmsg_t *em) {
  if (mkdir(path, 0750) != 0 && errno != EEXIST)
    return fl_errf(em, -errno, "cannot create directory %s: %s", path, strerror(errno));
  return 0;
}

static void fl__volset_opts(const fl_store_opts_t *o, fl_store_t *s, fl_volset_opts_t *vo) {
  memset(vo, 0, sizeof *vo);
  if (o) {
    vo->vol.io = o->io;
    vo->vol.max_size = o->volume_max_bytes;
    vo->vol.direct = o->direct;
  }
  vo->durable = s ? fl__on_durable : NULL;
  vo->durable_ctx = s;
}

int fl_store_open(const char *dir, const fl_store_opts_t *o, fl_store_t **out,
                  fl_store_open_report_t *rep, fl_errmsg_t *em) {
  *out = NULL;
  char path[4096];
  int rc = fl__mkdir(dir, em);
  if (rc)
    return rc;
  fl_store_t *s = calloc(1, sizeof *s);
  if (!s)
    return -ENOMEM;
  s->dir = strdup(dir);
  s->reserve = o ? o->reserve_bytes : 0;
  pthread_mutex_init(&s->idx_mu, NULL);
  pthread_mutex_init(&s->cnt_mu, NULL);
  for (int i = 0; i < FL__KEY_LOCKS; i++)
    pthread_mutex_init(&s->key_mu[i], NULL);
  if (!s->dir) {
    rc = -ENOMEM;
    goto fail;
  }
  fl_volset_opts_t vo;
  fl__volset_opts(o, s, &vo);
  snprintf(path, sizeof path, "%s/volumes", dir);
  if ((rc = fl_volset_open(path, &vo, &s->vs, em)) != 0)
    goto fail;
  snprintf(path, sizeof path, "%s/index", dir);
  if ((rc = fl_idx_open(path, o ? &o->idx : NULL, &s->idx, em)) != 0)
    goto fail;
  uint64_t replayed = 0, corrupt = 0;
  if ((rc = fl__replay(s, 0, &replayed, &corrupt, em)) != 0)
    goto fail;
  if (replayed)
    fl_info("store", "replayed %" PRIu64 " volume records into the index", replayed);
  if ((rc = fl__count(s, em)) != 0)
    goto fail;
  if (rep) {
    rep->replayed = replayed;
    rep->corrupt = corrupt;
  }
  *out = s;
  return 0;
fail:
  fl_store_close(s);
  return rc;
}

void fl_store_close(fl_store_t *s) {
  if (!s)
    return;
  fl_volset_close(s->vs);
  fl_idx_close(s->idx);
  pthread_mutex_destroy(&s->idx_mu);
  pthread_mutex_destroy(&s->cnt_mu);
  for (int i = 0; i < FL__KEY_LOCKS; i++)
    pthread_mutex_destroy(&s->key_mu[i]);
  fl_store_pgs_free(&s->pgs);
  free(s->dir);
  free(s);
}

fl_idx_t *fl_store_index(fl_store_t *s) { return s->idx; }

/* ---- put / get / delete -------------------------------------------------------- */

static pthread_mutex_t *fl__key_lock(fl_store_t *s, const fl_idx_key_t *k) {
  uint32_t h = fl_crc32c(k->sop, strlen(k->sop));
  h = fl_crc32c_extend(h, k->study, strlen(k->study));
  return &s->key_mu[h % FL__KEY_LOCKS];
}

/* Appends one record for key k with meta v (location fields ignored). */
static int fl__append(fl_store_t *s, const fl_idx_key_t *k, const fl_idx_value_t *v,
                      uint16_t flags, const void *payload, uint64_t len, uint32_t crc,
                      int crc_verified, fl_errmsg_t *em) {
  uint8_t kbuf[FL_IDX_KEY_MAX], mbuf[FL_IDX_VALUE_MAX];
  size_t klen, mlen;
  int rc = fl_idx_key_encode(k, FL_IDX_LVL_KEY, kbuf, sizeof kbuf, &klen, em);
  if (rc)
    return rc;
  if ((rc = fl_idx_value_encode(v, mbuf, sizeof mbuf, &mlen, em)) != 0)
    return rc;
  fl_vol_rec_in_t in = {.key = kbuf,
                        .key_len = (uint16_t)klen,
                        .meta = mbuf,
                        .meta_len = (uint16_t)mlen,
                        .frag = k->frag,
                        .flags = flags,
                        .payload = payload,
                        .payload_len = len,
                        .crc_given = crc_verified ? FL_VOL_CRC_VERIFIED : FL_VOL_CRC_CHECK,
                        .payload_crc = crc};
  fl_volset_loc_t loc;
  return fl_volset_append(s->vs, &in, 1, &loc, em);
}

int fl_store_put(fl_store_t *s, const fl_store_put_t *p, int *existed, fl_errmsg_t *em) {
  if (existed)
    *existed = 0;
  if (p->payload_len > UINT32_MAX)
    return fl_errf(em, FL_ETOOBIG, "fragment of %" PRIu64 " bytes is larger than 4 GiB",
                   p->payload_len);
  pthread_mutex_t *mu = fl__key_lock(s, &p->key);
  pthread_mutex_lock(mu);
  fl_idx_value_t old;
  int rc = fl_idx_get(s->idx, &p->key, 0, &old, em);
  if (rc == 0) {
    if (old.crc == p->payload_crc && old.rec_len == p->payload_len &&
        old.obj_size == p->obj_size) {
      if (existed)
        *existed = 1;
    } else {
      rc = fl_errf(em, FL_EEXIST,
                   "fragment %u of SOP instance %s is already stored with different content "
                   "(objects are immutable: delete the study first to replace it)",
                   p->key.frag, p->key.sop);
    }
    goto out;
  }
  if (rc != FL_ENOTFOUND)
    goto out;
  /* A full disk would also stop the index and tombstones: keep a reserve. */
  struct statvfs vfs;
  if (s->reserve && statvfs(s->dir, &vfs) == 0) {
    uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    if (avail < s->reserve + p->payload_len) {
      rc = fl_errf(em, FL_ENOSPC,
                   "disk of %s is nearly full: %" PRIu64 " bytes free, %" PRIu64
                   " kept in reserve; add capacity or delete and compact",
                   s->dir, avail, s->reserve);
      goto out;
    }
  }
  fl_idx_value_t v;
  memset(&v, 0, sizeof v);
  v.layout = p->layout;
  v.frag = p->key.frag;
  v.obj_size = p->obj_size;
  v.crc = p->payload_crc;
  v.attrs = p->attrs;
  if (p->phi_encrypted)
    v.flags |= FL_IDX_VF_PHI_ENC;
  uint16_t flags = (uint16_t)((p->layout ? FL_VOL_REC_F_EC : 0) |
                              (p->encrypted ? FL_VOL_REC_F_ENCRYPTED : 0));
  rc = fl__append(s, &p->key, &v, flags, p->payload, p->payload_len, p->payload_crc,
                  p->crc_verified, em);
  if (rc == 0)
    fl__live(s, &p->key, v.layout, p->payload_len, 1);
out:
  pthread_mutex_unlock(mu);
  return rc;
}

int fl_store_lookup(fl_store_t *s, const fl_idx_key_t *k, fl_idx_value_t *v, fl_errmsg_t *em) {
  return fl_idx_get(s->idx, k, 0, v, em);
}

/* Appends k's drop record and takes k out of the live figures, if k's live
 * entry is at (vol, off) (any place when vol is UINT32_MAX). Caller holds
 * k's key lock. FL_ENOTFOUND if k is not live there. */
static int fl__drop_locked(fl_store_t *s, const fl_idx_key_t *k, uint32_t vol, uint64_t off,
                           uint64_t *bytes, fl_errmsg_t *em) {
  fl_idx_value_t v;
  int rc = fl_idx_get(s->idx, k, 0, &v, em);
  if (rc == FL_ENOTFOUND)
    return fl_errf(em, FL_ENOTFOUND, "fragment %u of SOP instance %s is not held here",
                   k->frag, k->sop);
  if (rc)
    return rc;
  if (vol != UINT32_MAX && (v.volume != vol || v.offset != off))
    return fl_errf(em, FL_ENOTFOUND,
                   "fragment %u of SOP instance %s now lives at volume %u offset %" PRIu64,
                   k->frag, k->sop, v.volume, v.offset);
  fl_idx_value_t t;
  memset(&t, 0, sizeof t);
  fl_idx_attrs_clear(&t.attrs);
  t.flags = FL_IDX_VF_TOMBSTONE | FL_IDX_VF_DROPPED;
  t.frag = k->frag;
  rc = fl__append(s, k, &t, FL_VOL_REC_F_TOMBSTONE | FL_VOL_REC_F_DROP, "", 0, 0, 0, em);
  if (rc)
    return rc;
  fl__live(s, k, v.layout, v.rec_len, -1);
  if (bytes)
    *bytes = v.rec_len;
  return 0;
}

int fl_store_drop(fl_store_t *s, const fl_idx_key_t *k, uint64_t *bytes, fl_errmsg_t *em) {
  if (bytes)
    *bytes = 0;
  pthread_mutex_t *mu = fl__key_lock(s, k);
  pthread_mutex_lock(mu);
  int rc = fl__drop_locked(s, k, UINT32_MAX, 0, bytes, em);
  pthread_mutex_unlock(mu);
  return rc;
}

/* A read or a scrub found k's record at (vol, off) corrupt: hide it so the
 * PG shows as degraded and its leader rebuilds the fragment. An entry that
 * meanwhile points elsewhere (a newer put) is left alone. */
static void fl__quarantine(fl_store_t *s, const fl_idx_key_t *k, uint32_t vol, uint64_t off) {
  fl_errmsg_t em = {{0}};
  pthread_mutex_t *mu = fl__key_lock(s, k);
  pthread_mutex_lock(mu);
  int rc = fl__drop_locked(s, k, vol, off, NULL, &em);
  pthread_mutex_unlock(mu);
  if (rc == 0) {
    atomic_fetch_add(&s->quarantined, 1);
    fl_error("store",
             "quarantined fragment %u of %s/%s/%s (pg %u) at volume %u offset %" PRIu64
             ": hidden from reads until repair rebuilds it",
             k->frag, k->tenant, k->study, k->sop, k->pg, vol, off);
  } else if (rc != FL_ENOTFOUND) {
    fl_error("store", "cannot quarantine fragment %u of %s/%s at volume %u offset %" PRIu64
             ": %s", k->frag, k->study, k->sop, vol, off, fl_errmsg_str(&em, rc));
  }
}

int fl_store_pg_stats(fl_store_t *s, fl_store_pg_stat_t **out, size_t *n, fl_errmsg_t *em) {
  pthread_mutex_lock(&s->cnt_mu);
  int rc = fl_store_pgs_snapshot(&s->pgs, out, n);
  pthread_mutex_unlock(&s->cnt_mu);
  if (rc)
    return fl_errf(em, rc, "out of memory for the PG summaries");
  return 0;
}

int fl_store_get(fl_store_t *s, const fl_idx_key_t *k, uint64_t off, uint64_t len,
                 fl_idx_value_t *v, void **base, void **data, uint64_t *n, fl_errmsg_t *em) {
  *base = *data = NULL;
  *n = 0;
  /* Compaction may delete the volume between lookup and read: look again. */
  for (int attempt = 0; attempt < 3; attempt++) {
    int rc = fl_idx_get(s->idx, k, 0, v, em);
    if (rc)
      return rc;
    uint64_t size = v->rec_len;
    if (off > size || (len && len > size - off))
      return fl_errf(em, -EINVAL,
                     "range %" PRIu64 "+%" PRIu64 " is past the end of a %" PRIu64
                     "-byte fragment",
                     off, len, size);
    uint64_t want = len ? len : size - off;
    fl_vol_rec_t rec;
    rc = fl_volset_read_alloc(s->vs, v->volume, v->offset, &rec, off, want, base, data, em);
    if (rc == FL_ENOTFOUND)
      continue;
    if (rc == FL_ECORRUPT) {
      atomic_fetch_add(&s->corrupt_found, 1);
      fl_error("store", "corrupt fragment %s/%s frag %u at volume %u offset %" PRIu64 ": %s",
               k->study, k->sop, k->frag, v->volume, v->offset, fl_errmsg_str(em, rc));
      fl__quarantine(s, k, v->volume, v->offset);
    }
    if (rc)
      return rc;
    *n = want;
    return 0;
  }
  return fl_errf(em, FL_EUNAVAIL, "fragment moved repeatedly during the read; try again");
}

typedef struct fl__frag_list {
  fl_idx_key_t keys[256];
  uint64_t sizes[256];
  uint8_t layouts[256];
  size_t n;
} fl__frag_list_t;

static int fl__collect_frag(void *arg, const fl_idx_key_t *k, const fl_idx_value_t *v) {
  fl__frag_list_t *l = arg;
  if (l->n == sizeof l->keys / sizeof l->keys[0])
    return 1;
  l->keys[l->n] = *k;
  l->layouts[l->n] = v->layout;
  l->sizes[l->n++] = v->rec_len;
  return 0;
}

int fl_store_delete(fl_store_t *s, const fl_idx_key_t *k, int all_frags, uint32_t *tombstoned,
                    fl_errmsg_t *em) {
  *tombstoned = 0;
  pthread_mutex_t *mu = fl__key_lock(s, k);
  pthread_mutex_lock(mu);
  fl__frag_list_t *l = calloc(1, sizeof *l);
  int rc = 0;
  if (!l) {
    rc = -ENOMEM;
    goto out;
  }
  if (all_frags) {
    rc = fl_idx_scan(s->idx, FL_IDX_LVL_OBJECT, k, NULL, 0, 0, fl__collect_frag, l, NULL, em);
    if (rc < 0)
      goto out;
    rc = 0;
  } else {
    fl_idx_value_t v;
    rc = fl_idx_get(s->idx, k, 0, &v, em);
    if (rc == FL_ENOTFOUND) {
      rc = 0;
      goto out;
    }
    if (rc)
      goto out;
    fl__collect_frag(l, k, &v);
  }
  for (size_t i = 0; i < l->n && rc == 0; i++) {
    fl_idx_value_t t;
    memset(&t, 0, sizeof t);
    fl_idx_attrs_clear(&t.attrs);
    t.flags = FL_IDX_VF_TOMBSTONE;
    t.frag = l->keys[i].frag;
    rc = fl__append(s, &l->keys[i], &t, FL_VOL_REC_F_TOMBSTONE, "", 0, 0, 0, em);
    if (rc == 0) {
      (*tombstoned)++;
      pthread_mutex_lock(&s->cnt_mu);
      fl__live_locked(s, &l->keys[i], l->layouts[i], l->sizes[i], -1);
      s->tombstones++;
      pthread_mutex_unlock(&s->cnt_mu);
    }
  }
out:
  free(l);
  pthread_mutex_unlock(mu);
  return rc;
}

int fl_store_stats(fl_store_t *s, fl_store_stats_t *out, fl_errmsg_t *em) {
  (void)em;
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&s->cnt_mu);
  out->objects = s->objects;
  out->live_bytes = s->live_bytes;
  out->tombstones = s->tombstones;
  pthread_mutex_unlock(&s->cnt_mu);
  out->volume_bytes = fl_volset_bytes(s->vs);
  out->volumes = (uint32_t)fl_volset_list(s->vs, NULL, 0);
  out->corrupt_found = atomic_load(&s->corrupt_found);
  out->quarantined = atomic_load(&s->quarantined);
  out->compacted_bytes = atomic_load(&s->compacted_bytes);
  fl_volset_commit_stats(s->vs, &out->commit_flushes, &out->commit_requests);
  return 0;
}

/* ---- compaction ------------------------------------------------------------------ */

typedef struct fl__vol_live {
  uint32_t *ids;
  uint64_t *live;
  size_t n;
} fl__vol_live_t;

static int fl__live_cb(void *arg, const fl_idx_key_t *k, const fl_idx_value_t *v) {
  fl__vol_live_t *vl = arg;
  for (size_t i = 0; i < vl->n; i++)
    if (vl->ids[i] == v->volume) {
      uint8_t kb[FL_IDX_KEY_MAX], mb[FL_IDX_VALUE_MAX];
      size_t kl = 0, ml = 0;
      fl_idx_key_encode(k, FL_IDX_LVL_KEY, kb, sizeof kb, &kl, NULL);
      fl_idx_value_encode(v, mb, sizeof mb, &ml, NULL);
      vl->live[i] += fl_vol_rec_footprint(kl, ml, v->rec_len);
      break;
    }
  return 0;
}

/* The record at (vol, off) is live when the index entry of its key points at
 * exactly that place (tombstones included: they hide older puts). */
static int fl__compact_live(void *ctx, uint32_t vol, uint64_t off, const fl_vol_rec_hdr_t *h) {
  fl_store_t *s = ctx;
  fl_idx_key_t k;
  fl_idx_value_t v;
  if (fl_idx_key_decode(h->key, h->key_len, &k, NULL) != 0)
    return 1; /* keep what we cannot judge */
  int rc = fl_idx_get(s->idx, &k, FL_IDX_WITH_TOMBSTONES, &v, NULL);
  if (rc == FL_ENOTFOUND)
    return 0;
  if (rc)
    return 1;
  return v.volume == vol && v.offset == off;
}

/* The durable hook already pointed the index at the copy (same seq, newer
 * volume wins), so there is nothing left to do per move. */
static int fl__compact_reloc(void *ctx, const fl_vol_rec_hdr_t *h, uint32_t old_vol,
                             uint64_t old_off, const fl_volset_loc_t *to) {
  (void)ctx;
  (void)h;
  (void)old_vol;
  (void)old_off;
  (void)to;
  return 0;
}

int fl_store_compact(fl_store_t *s, unsigned min_dead_pct, uint64_t *reclaimed,
                     fl_errmsg_t *em) {
  if (reclaimed)
    *reclaimed = 0;
  size_t n = fl_volset_list(s->vs, NULL, 0);
  fl__vol_live_t vl = {calloc(n + 1, sizeof *vl.ids), calloc(n + 1, sizeof *vl.live), 0};
  int rc = 0;
  if (!vl.ids || !vl.live) {
    rc = -ENOMEM;
    goto out;
  }
  vl.n = fl_volset_list(s->vs, vl.ids, n);
  if (vl.n > n)
    vl.n = n;
  rc = fl_idx_scan(s->idx, FL_IDX_LVL_ALL, NULL, NULL, 0, FL_IDX_WITH_TOMBSTONES, fl__live_cb,
                   &vl, NULL, em);
  if (rc)
    goto out;
  uint32_t active = fl_volset_active_id(s->vs);
  for (size_t i = 0; i < vl.n; i++) {
    if (vl.ids[i] == active)
      continue;
    uint64_t size = fl_volset_volume_bytes(s->vs, vl.ids[i]);
    if (size == 0 || vl.live[i] * 100 > size * (100 - min_dead_pct))
      continue;
    fl_volset_compact_stats_t st;
    rc = fl_volset_compact(s->vs, vl.ids[i], fl__compact_live, fl__compact_reloc, s, &st, em);
    if (rc) {
      fl_warn("store", "compaction of volume %u stopped: %s", vl.ids[i],
              fl_errmsg_str(em, rc));
      goto out;
    }
    fl_info("store", "compacted volume %u: %" PRIu64 " of %" PRIu64 " records live, %" PRIu64
            " bytes freed", vl.ids[i], st.live_records, st.records, st.dead_bytes);
    atomic_fetch_add(&s->compacted_bytes, st.dead_bytes);
    if (reclaimed)
      *reclaimed += st.dead_bytes;
  }
out:
  free(vl.ids);
  free(vl.live);
  return rc;
}

/* ---- scrub --------------------------------------------------------------------- */

/* Corrupt records met by one pass, quarantined once the pass is over (the
 * scrub callback runs inside the volume set, which a drop appends to). */
typedef struct fl__scrub_ctx {
  fl_store_t *s;
  struct {
    uint32_t vol;
    uint64_t off;
  } *bad;
  size_t n, cap;
} fl__scrub_ctx_t;

static void fl__scrub_corrupt(void *ctx, uint32_t vol, uint64_t off, int code, const char *why) {
  fl__scrub_ctx_t *c = ctx;
  atomic_fetch_add(&c->s->corrupt_found, 1);
  fl_error("scrub", "volume %u offset %" PRIu64 ": %s (%s)", vol, off, why, fl_err_name(code));
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 16;
    void *p = realloc(c->bad, cap * sizeof *c->bad);
    if (!p) {
      fl_error("scrub", "out of memory: volume %u offset %" PRIu64 " is not quarantined", vol,
               off);
      return;
    }
    c->bad = p;
    c->cap = cap;
  }
  c->bad[c->n].vol = vol;
  c->bad[c->n++].off = off;
}

typedef struct fl__at_ctx {
  uint32_t vol;
  uint64_t off;
  fl_idx_key_t keys[4];
  size_t n;
} fl__at_ctx_t;

static int fl__at_cb(void *arg, const fl_idx_key_t *k, const fl_idx_value_t *v) {
  fl__at_ctx_t *c = arg;
  if (v->volume == c->vol && v->offset == c->off && c->n < sizeof c->keys / sizeof c->keys[0])
    c->keys[c->n++] = *k;
  return 0;
}

/* Quarantines what a live entry at (vol, off) indexes. The key comes from
 * the record header when that still parses; otherwise (rare) from a scan
 * of the whole index for entries at that place. */
static void fl__quarantine_at(fl_store_t *s, uint32_t vol, uint64_t off) {
  fl_vol_rec_t *rec = malloc(sizeof *rec);
  fl_idx_key_t k;
  if (rec && fl_volset_read(s->vs, vol, off, rec, NULL, 0, 0, NULL) == 0 &&
      fl_idx_key_decode(rec->h.key, rec->h.key_len, &k, NULL) == 0) {
    free(rec);
    fl__quarantine(s, &k, vol, off);
    return;
  }
  free(rec);
  fl__at_ctx_t c = {.vol = vol, .off = off};
  fl_errmsg_t em = {{0}};
  int rc = fl_idx_scan(s->idx, FL_IDX_LVL_ALL, NULL, NULL, 0, 0, fl__at_cb, &c, NULL, &em);
  if (rc)
    fl_error("scrub", "cannot look for the entries at volume %u offset %" PRIu64 ": %s", vol,
             off, fl_errmsg_str(&em, rc));
  for (size_t i = 0; i < c.n; i++)
    fl__quarantine(s, &c.keys[i], vol, off);
}

int fl_store_scrub(fl_store_t *s, double mb_per_s, const atomic_int *stop, uint64_t *found,
                   fl_errmsg_t *em) {
  fl_volset_scrub_stats_t st;
  memset(&st, 0, sizeof st);
  fl__scrub_ctx_t c = {.s = s};
  int rc = fl_volset_scrub(s->vs, mb_per_s, fl__scrub_corrupt, &c, stop, &st, em);
  for (size_t i = 0; i < c.n; i++)
    fl__quarantine_at(s, c.bad[i].vol, c.bad[i].off);
  free(c.bad);
  if (found)
    *found = st.corrupt;
  if (rc == 0)
    fl_info("scrub", "pass done: %" PRIu64 " records, %" PRIu64 " bytes, %" PRIu64 " corrupt",
            st.records, st.bytes, st.corrupt);
  return rc;
}

/* ---- rebuild ------------------------------------------------------------------ */

/* Builds a fresh index at ipath from the volumes of dir alone. */
static int fl__rebuild_into(const char *dir, const char *ipath, const fl_store_opts_t *o,
                            uint64_t *records, fl_errmsg_t *em) {
  char vpath[4096];
  snprintf(vpath, sizeof vpath, "%s/volumes", dir);
  *records = 0;
  struct stat st;
  if (stat(vpath, &st) != 0)
    return fl_errf(em, -errno, "no volumes at %s: %s", vpath, strerror(errno));
  fl_store_t *s = calloc(1, sizeof *s);
  if (!s)
    return -ENOMEM;
  pthread_mutex_init(&s->idx_mu, NULL);
  pthread_mutex_init(&s->cnt_mu, NULL);
  for (int i = 0; i < FL__KEY_LOCKS; i++)
    pthread_mutex_init(&s->key_mu[i], NULL);
  s->dir = strdup(dir);
  fl_volset_opts_t vo;
  fl__volset_opts(o, NULL, &vo);
  int rc = fl_volset_open(vpath, &vo, &s->vs, em);
  if (rc)
    goto out;
  fl_idx_destroy(ipath, NULL);
  if ((rc = fl_idx_open(ipath, o ? &o->idx : NULL, &s->idx, em)) != 0)
    goto out;
  uint64_t corrupt = 0;
  if ((rc = fl__replay(s, 1, records, &corrupt, em)) != 0)
    goto out;
  if (corrupt)
    fl_warn("store", "rebuild skipped %" PRIu64 " corrupt records (run a scrub and repair)",
            corrupt);
out:
  fl_store_close(s);
  return rc;
}

int fl_store_rebuild_index(const char *dir, const fl_store_opts_t *o, int discard_old,
                           uint64_t *records, fl_errmsg_t *em) {
  char ipath[4096], npath[4096], opath[4200];
  snprintf(ipath, sizeof ipath, "%s/index", dir);
  snprintf(npath, sizeof npath, "%s/index.rebuild", dir);
  int rc = fl__rebuild_into(dir, npath, o, records, em);
  if (rc)
    return rc;
  struct stat st;
  if (stat(ipath, &st) == 0) {
    if (discard_old) {
      if ((rc = fl_idx_destroy(ipath, em)) != 0)
        return rc;
    } else {
      snprintf(opath, sizeof opath, "%s.old.%lld", ipath, (long long)time(NULL));
      if (rename(ipath, opath) != 0)
        return fl_errf(em, -errno, "cannot move the old index aside to %s: %s", opath,
                       strerror(errno));
      fl_info("store", "previous index kept at %s", opath);
    }
  }
  if (rename(npath, ipath) != 0)
    return fl_errf(em, -errno, "cannot move the rebuilt index into place: %s", strerror(errno));
  return 0;
}

int fl_store_verify_index(const char *dir, const fl_store_opts_t *o, uint64_t *records,
                          fl_idx_diff_t *diff, fl_errmsg_t *em) {
  char ipath[4096], npath[4096];
  snprintf(ipath, sizeof ipath, "%s/index", dir);
  snprintf(npath, sizeof npath, "%s/index.verify", dir);
  memset(diff, 0, sizeof *diff);
  int rc = fl__rebuild_into(dir, npath, o, records, em);
  if (rc)
    return rc;
  fl_idx_t *live = NULL, *fresh = NULL;
  if ((rc = fl_idx_open(ipath, o ? &o->idx : NULL, &live, em)) != 0)
    goto out;
  if ((rc = fl_idx_open(npath, o ? &o->idx : NULL, &fresh, em)) != 0)
    goto out;
  rc = fl_idx_compare(live, fresh, NULL, NULL, diff, em);
out:
  fl_idx_close(live);
  fl_idx_close(fresh);
  fl_idx_destroy(npath, NULL);
  return rc;
}
