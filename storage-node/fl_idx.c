/* RocksDB wrapper behind fl_idx.h: options sized for a node (bounded block
 * cache and memtables, bloom filters, LZ4/ZSTD), newest-wins batches with a
 * checkpoint, prefix iterators, stats and index comparison. RocksDB's
 * errptr strings become FL_ESTORE here and go back through rocksdb_free. */
#include "fl_idx.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "fl_crc32c.h"
#include "fl_log.h"

#define FL__IDX_FORMAT 1
#define FL__IDX_CACHE_DEFAULT (64u << 20)
#define FL__IDX_WBUF_DEFAULT (32u << 20)

/* Metadata keys live under pg FF FF FF FF, above every object key. */
static const uint8_t meta_ckpt[] = {0xff, 0xff, 0xff, 0xff, 'c', 'k', 'p', 't'};
static const uint8_t meta_format[] = {0xff, 0xff, 0xff, 0xff, 'f', 'm', 't'};
static const uint8_t meta_floor[] = {0xff, 0xff, 0xff, 0xff};

struct fl_idx {
  rocksdb_t *db;
  rocksdb_options_t *opts;
  rocksdb_block_based_table_options_t *bbto;
  rocksdb_cache_t *cache;
  rocksdb_writeoptions_t *wo;
  rocksdb_readoptions_t *ro; /* point reads */
  atomic_int batch_open;     /* 1 while a batch exists */
};

/* What a batch knows about one key it touched: the version that will be
 * indexed once the batch commits, so later applies of the same key in the
 * batch compare against it without reading the database again. */
struct pending {
  uint8_t key[FL_IDX_KEY_MAX];
  size_t klen;
  int present;              /* 0: the key will have no entry */
  fl_idx_value_t newest;    /* only seq, volume and offset are kept */
};

struct fl_idx_batch {
  fl_idx_t *idx;
  rocksdb_writebatch_t *wb;
  struct pending *pend;     /* keys touched, in first-touch order */
  size_t npend, cap;
  uint32_t *slots;          /* open addressing: 1 + index into pend, 0 empty */
  size_t nslots;            /* power of two, >= 2 * cap */
};

struct fl_idx_iter {
  rocksdb_readoptions_t *ro;
  rocksdb_iterator_t *it;
  const rocksdb_snapshot_t *snap;
  fl_idx_t *idx;
  unsigned flags;
  int started;                  /* next() already returned once */
  uint8_t upper[FL_IDX_KEY_MAX]; /* iterate_upper_bound, must outlive it */
  size_t upper_len;
  const uint8_t *cur;           /* key last returned, owned by it */
  size_t cur_len;
};

static int store_err(fl_errmsg_t *em, char *err, const char *what) {
  int rc = fl_errf(em, FL_ESTORE, "index %s: %s", what, err ? err : "unknown RocksDB error");
  rocksdb_free(err);
  return rc;
}

/* ---- Checkpoint record: version, pad, volume, offset, CRC (20 bytes) ---- */

static void ckpt_encode(const fl_idx_ckpt_t *ck, uint8_t out[20]) {
  memset(out, 0, 20);
  out[0] = 1;
  for (int i = 0; i < 4; i++)
    out[4 + i] = (uint8_t)(ck->volume >> (8 * i));
  for (int i = 0; i < 8; i++)
    out[8 + i] = (uint8_t)(ck->offset >> (8 * i));
  uint32_t c = fl_crc32c(out, 16);
  for (int i = 0; i < 4; i++)
    out[16 + i] = (uint8_t)(c >> (8 * i));
}

static int ckpt_decode(const uint8_t *p, size_t n, fl_idx_ckpt_t *ck, fl_errmsg_t *em) {
  if (n != 20 || p[0] != 1)
    return fl_errf(em, FL_ECORRUPT, "index checkpoint has %zu bytes, version %u", n,
                   n ? p[0] : 0);
  uint32_t c = 0;
  for (int i = 0; i < 4; i++)
    c |= (uint32_t)p[16 + i] << (8 * i);
  if (c != fl_crc32c(p, 16))
    return fl_errf(em, FL_ECORRUPT, "index checkpoint fails its CRC32C");
  ck->volume = 0;
  ck->offset = 0;
  for (int i = 0; i < 4; i++)
    ck->volume |= (uint32_t)p[4 + i] << (8 * i);
  for (int i = 0; i < 8; i++)
    ck->offset |= (uint64_t)p[8 + i] << (8 * i);
  return 0;
}

/* ---- Open / close ---------------------------------------------------------- */

static void set_options(fl_idx_t *idx, const fl_idx_opts_t *o) {
  size_t cache = o && o->block_cache_bytes ? o->block_cache_bytes : FL__IDX_CACHE_DEFAULT;
  size_t wbuf = o && o->write_buffer_bytes ? o->write_buffer_bytes : FL__IDX_WBUF_DEFAULT;
  rocksdb_options_t *opt = idx->opts;
  rocksdb_options_set_create_if_missing(opt, 1);
  rocksdb_options_increase_parallelism(opt, 2);
  rocksdb_options_set_max_background_jobs(opt, 2);
  /* Memtables are the other big consumer after the cache: two at most. */
  rocksdb_options_set_write_buffer_size(opt, wbuf);
  rocksdb_options_set_max_write_buffer_number(opt, 2);
  /* Most applies look up a key that is not there yet; a whole-key bloom on
   * the memtable answers those without walking its skiplist of long keys. */
  rocksdb_options_set_memtable_prefix_bloom_size_ratio(opt, 0.1);
  rocksdb_options_set_memtable_whole_key_filtering(opt, 1);
  rocksdb_options_set_level_compaction_dynamic_level_bytes(opt, 1);
  rocksdb_options_set_compression(opt, rocksdb_lz4_compression);
  rocksdb_options_set_bottommost_compression(opt, rocksdb_zstd_compression);
  rocksdb_options_set_max_open_files(opt, 1000);
  /* After a crash, recover the WAL up to the first damaged record: the index
   * is then a prefix of committed batches, consistent with its checkpoint. */
  rocksdb_options_set_wal_recovery_mode(opt, 2 /* kPointInTimeRecovery */);

  idx->cache = rocksdb_cache_create_lru(cache);
  idx->bbto = rocksdb_block_based_options_create();
  rocksdb_block_based_options_set_block_cache(idx->bbto, idx->cache);
  /* Index and filter blocks are charged to the cache so memory stays
   * bounded as the index grows; L0's stay pinned since every read needs them. */
  rocksdb_block_based_options_set_cache_index_and_filter_blocks(idx->bbto, 1);
  rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(idx->bbto, 1);
  rocksdb_block_based_options_set_block_size(idx->bbto, 16 * 1024);
  rocksdb_block_based_options_set_format_version(idx->bbto, 5);
  /* Whole-key bloom: every apply looks its key up first, mostly missing. */
  rocksdb_block_based_options_set_filter_policy(idx->bbto,
                                               rocksdb_filterpolicy_create_bloom_full(10));
  rocksdb_options_set_block_based_table_factory(opt, idx->bbto);
}

static int check_format(fl_idx_t *idx, fl_errmsg_t *em) {
  char *err = NULL;
  size_t n = 0;
  char *val = rocksdb_get(idx->db, idx->ro, (const char *)meta_format, sizeof meta_format, &n,
                          &err);
  if (err)
    return store_err(em, err, "reading the format marker");
  if (val) {
    int ok = n == 1 && (uint8_t)val[0] == FL__IDX_FORMAT;
    unsigned got = n ? (uint8_t)val[0] : 0;
    rocksdb_free(val);
    if (!ok)
      return fl_errf(em, FL_EVERSION, "index format %u, this build reads %d; rebuild it",
                     got, FL__IDX_FORMAT);
    return 0;
  }
  uint8_t f = FL__IDX_FORMAT;
  rocksdb_put(idx->db, idx->wo, (const char *)meta_format, sizeof meta_format,
              (const char *)&f, 1, &err);
  if (err)
    return store_err(em, err, "writing the format marker");
  return 0;
}

int fl_idx_open(const char *path, const fl_idx_opts_t *opts, fl_idx_t **out, fl_errmsg_t *em) {
  char *err = NULL;
  int rc;
  fl_idx_t *idx = calloc(1, sizeof *idx);
  if (!idx)
    return fl_errf(em, -ENOMEM, "allocating the index handle");
  idx->opts = rocksdb_options_create();
  idx->wo = rocksdb_writeoptions_create();
  idx->ro = rocksdb_readoptions_create();
  set_options(idx, opts);
  rocksdb_writeoptions_set_sync(idx->wo, 0);
  idx->db = rocksdb_open(idx->opts, path, &err);
  if (err) {
    rc = store_err(em, err, "open");
    fl_errprefix(em, rc, "%s", path);
    goto fail;
  }
  if ((rc = check_format(idx, em)) != 0)
    goto fail;
  *out = idx;
  return 0;
fail:
  fl_idx_close(idx);
  return rc;
}

void fl_idx_close(fl_idx_t *idx) {
  if (!idx)
    return;
  if (idx->db)
    rocksdb_close(idx->db);
  rocksdb_options_destroy(idx->opts);
  rocksdb_block_based_options_destroy(idx->bbto);
  rocksdb_cache_destroy(idx->cache);
  rocksdb_writeoptions_destroy(idx->wo);
  rocksdb_readoptions_destroy(idx->ro);
  free(idx);
}

int fl_idx_destroy(const char *path, fl_errmsg_t *em) {
  char *err = NULL;
  rocksdb_options_t *o = rocksdb_options_create();
  rocksdb_destroy_db(o, path, &err);
  rocksdb_options_destroy(o);
  if (err) {
    int rc = store_err(em, err, "destroy");
    return fl_errprefix(em, rc, "%s", path);
  }
  return 0;
}

int fl_idx_ckpt_get(fl_idx_t *idx, fl_idx_ckpt_t *out, fl_errmsg_t *em) {
  char *err = NULL;
  size_t n = 0;
  char *val = rocksdb_get(idx->db, idx->ro, (const char *)meta_ckpt, sizeof meta_ckpt, &n,
                          &err);
  if (err)
    return store_err(em, err, "reading the checkpoint");
  if (!val)
    return fl_errf(em, FL_ENOTFOUND, "index has no checkpoint: replay every volume");
  int rc = ckpt_decode((const uint8_t *)val, n, out, em);
  rocksdb_free(val);
  return rc;
}

/* ---- Batches ---------------------------------------------------------------- */

int fl_idx_batch_begin(fl_idx_t *idx, fl_idx_batch_t **out, fl_errmsg_t *em) {
  if (atomic_exchange(&idx->batch_open, 1))
    return fl_errf(em, FL_EINTERNAL, "an index batch is already open");
  fl_idx_batch_t *b = calloc(1, sizeof *b);
  if (!b) {
    atomic_store(&idx->batch_open, 0);
    return fl_errf(em, -ENOMEM, "allocating an index batch");
  }
  b->idx = idx;
  b->wb = rocksdb_writebatch_create();
  *out = b;
  return 0;
}

static uint32_t *slot_of(fl_idx_batch_t *b, const uint8_t *key, size_t klen) {
  size_t mask = b->nslots - 1;
  for (size_t i = fl_crc32c(key, klen) & mask;; i = (i + 1) & mask) {
    uint32_t s = b->slots[i];
    if (s == 0)
      return &b->slots[i];
    const struct pending *p = &b->pend[s - 1];
    if (p->klen == klen && memcmp(p->key, key, klen) == 0)
      return &b->slots[i];
  }
}

/* The pending record of key, created (absent, not yet read) if new; NULL
 * when out of memory. *fresh is 1 if it was created. */
static struct pending *pending_get(fl_idx_batch_t *b, const uint8_t *key, size_t klen,
                                   int *fresh) {
  *fresh = 0;
  if (b->npend == b->cap) {
    size_t cap = b->cap ? 2 * b->cap : 64;
    struct pending *np = realloc(b->pend, cap * sizeof *np);
    uint32_t *ns = calloc(2 * cap, sizeof *ns);
    if (!np || !ns) {
      free(ns);
      if (np)
        b->pend = np;
      return NULL;
    }
    b->pend = np;
    b->cap = cap;
    free(b->slots);
    b->slots = ns;
    b->nslots = 2 * cap;
    for (size_t i = 0; i < b->npend; i++)
      *slot_of(b, b->pend[i].key, b->pend[i].klen) = (uint32_t)(i + 1);
  }
  uint32_t *slot = slot_of(b, key, klen);
  if (*slot)
    return &b->pend[*slot - 1];
  struct pending *p = &b->pend[b->npend];
  memcpy(p->key, key, klen);
  p->klen = klen;
  p->present = 0;
  *slot = (uint32_t)++b->npend;
  *fresh = 1;
  return p;
}

/* Reads key's indexed version from the database into p. */
static int pending_load(fl_idx_batch_t *b, struct pending *p, const fl_idx_key_t *k,
                        fl_errmsg_t *em) {
  char *err = NULL;
  size_t ol = 0;
  char *old = rocksdb_get(b->idx->db, b->idx->ro, (const char *)p->key, p->klen, &ol, &err);
  if (err)
    return store_err(em, err, "reading an entry before applying");
  if (!old)
    return 0;
  fl_errmsg_t oem = {{0}};
  int orc = fl_idx_value_decode((const uint8_t *)old, ol, &p->newest, &oem);
  rocksdb_free(old);
  if (orc != 0)
    fl_warn("idx", "overwriting a damaged entry (%s) of %s/%s/%s/%s frag %u",
            fl_errmsg_str(&oem, orc), k->tenant, k->study, k->series, k->sop, k->frag);
  else
    p->present = 1;
  return 0;
}

int fl_idx_batch_apply(fl_idx_batch_t *b, const fl_idx_key_t *k, const fl_idx_value_t *v,
                       int *applied, fl_errmsg_t *em) {
  uint8_t kb[FL_IDX_KEY_MAX], vb[FL_IDX_VALUE_MAX];
  size_t kl, vl;
  int rc, fresh;
  if (applied)
    *applied = 0;
  if (v->frag != k->frag)
    return fl_errf(em, -EINVAL, "entry for fragment %u carries fragment index %u", k->frag,
                   v->frag);
  if ((rc = fl_idx_key_encode(k, FL_IDX_LVL_KEY, kb, sizeof kb, &kl, em)) != 0 ||
      (rc = fl_idx_value_encode(v, vb, sizeof vb, &vl, em)) != 0)
    return rc;
  struct pending *p = pending_get(b, kb, kl, &fresh);
  if (!p)
    return fl_errf(em, -ENOMEM, "growing an index batch");
  if (fresh && (rc = pending_load(b, p, k, em)) != 0) {
    p->present = 0; /* unknown: the next apply of this key reads again */
    *slot_of(b, kb, kl) = 0;
    b->npend--;
    return rc;
  }
  if (p->present && fl_idx_value_cmp(v, &p->newest) <= 0)
    return 0;
  rocksdb_writebatch_put(b->wb, (const char *)kb, kl, (const char *)vb, vl);
  p->present = 1;
  p->newest.seq = v->seq;
  p->newest.volume = v->volume;
  p->newest.offset = v->offset;
  if (applied)
    *applied = 1;
  return 0;
}

int fl_idx_batch_forget(fl_idx_batch_t *b, const fl_idx_key_t *k, fl_errmsg_t *em) {
  uint8_t kb[FL_IDX_KEY_MAX];
  size_t kl;
  int fresh;
  int rc = fl_idx_key_encode(k, FL_IDX_LVL_KEY, kb, sizeof kb, &kl, em);
  if (rc != 0)
    return rc;
  struct pending *p = pending_get(b, kb, kl, &fresh);
  if (!p)
    return fl_errf(em, -ENOMEM, "growing an index batch");
  p->present = 0;
  rocksdb_writebatch_delete(b->wb, (const char *)kb, kl);
  return 0;
}

void fl_idx_batch_ckpt(fl_idx_batch_t *b, const fl_idx_ckpt_t *ck) {
  uint8_t v[20];
  ckpt_encode(ck, v);
  rocksdb_writebatch_put(b->wb, (const char *)meta_ckpt, sizeof meta_ckpt, (const char *)v,
                         sizeof v);
}

size_t fl_idx_batch_count(const fl_idx_batch_t *b) {
  return (size_t)rocksdb_writebatch_count(b->wb);
}

int fl_idx_batch_commit(fl_idx_batch_t *b, fl_errmsg_t *em) {
  char *err = NULL;
  int rc = 0;
  rocksdb_write(b->idx->db, b->idx->wo, b->wb, &err);
  if (err)
    rc = store_err(em, err, "committing a batch");
  fl_idx_batch_abort(b);
  return rc;
}

void fl_idx_batch_abort(fl_idx_batch_t *b) {
  if (!b)
    return;
  rocksdb_writebatch_destroy(b->wb);
  free(b->pend);
  free(b->slots);
  atomic_store(&b->idx->batch_open, 0);
  free(b);
}

int fl_idx_put(fl_idx_t *idx, const fl_idx_key_t *k, const fl_idx_value_t *v, int *applied,
               fl_errmsg_t *em) {
  fl_idx_batch_t *b;
  int rc = fl_idx_batch_begin(idx, &b, em);
  if (rc != 0)
    return rc;
  if ((rc = fl_idx_batch_apply(b, k, v, applied, em)) != 0)
    goto fail;
  return fl_idx_batch_commit(b, em);
fail:
  fl_idx_batch_abort(b);
  return rc;
}

/* ---- Reads ------------------------------------------------------------------ */

int fl_idx_get(fl_idx_t *idx, const fl_idx_key_t *k, unsigned flags, fl_idx_value_t *out,
               fl_errmsg_t *em) {
  uint8_t kb[FL_IDX_KEY_MAX];
  size_t kl, n = 0;
  char *err = NULL;
  int rc = fl_idx_key_encode(k, FL_IDX_LVL_KEY, kb, sizeof kb, &kl, em);
  if (rc != 0)
    return rc;
  char *val = rocksdb_get(idx->db, idx->ro, (const char *)kb, kl, &n, &err);
  if (err)
    return store_err(em, err, "get");
  if (!val)
    return fl_errf(em, FL_ENOTFOUND, "no index entry for %s/%s/%s frag %u", k->study,
                   k->series, k->sop, k->frag);
  rc = fl_idx_value_decode((const uint8_t *)val, n, out, em);
  rocksdb_free(val);
  if (rc != 0)
    return fl_errprefix(em, rc, "entry %s/%s/%s frag %u", k->study, k->series, k->sop, k->frag);
  if ((out->flags & FL_IDX_VF_TOMBSTONE) && !(flags & FL_IDX_WITH_TOMBSTONES))
    return fl_errf(em, FL_ENOTFOUND, "%s/%s/%s frag %u was deleted", k->study, k->series,
                   k->sop, k->frag);
  return 0;
}

/* Smallest byte string above every string that starts with p (p is never
 * all 0xFF: metadata keys are not scanned by prefix). */
static size_t prefix_successor(const uint8_t *p, size_t n, uint8_t *out) {
  memcpy(out, p, n);
  while (n > 0 && out[n - 1] == 0xff)
    n--;
  if (n > 0)
    out[n - 1]++;
  return n;
}

/* Opens a raw iterator positioned at the first key >= start, below the
 * bound [upper, upper_len) which it->upper must already hold. */
static int iter_open_raw(fl_idx_t *idx, const uint8_t *start, size_t start_len, int fill_cache,
                         fl_idx_iter_t *it) {
  it->idx = idx;
  it->snap = rocksdb_create_snapshot(idx->db);
  it->ro = rocksdb_readoptions_create();
  rocksdb_readoptions_set_snapshot(it->ro, it->snap);
  rocksdb_readoptions_set_fill_cache(it->ro, (unsigned char)fill_cache);
  rocksdb_readoptions_set_iterate_upper_bound(it->ro, (const char *)it->upper, it->upper_len);
  it->it = rocksdb_create_iterator(idx->db, it->ro);
  rocksdb_iter_seek(it->it, (const char *)start, start_len);
  return 0;
}

int fl_idx_iter_open(fl_idx_t *idx, enum fl_idx_level level, const fl_idx_key_t *prefix,
                     const uint8_t *after, size_t after_len, unsigned flags,
                     fl_idx_iter_t **out, fl_errmsg_t *em) {
  uint8_t pb[FL_IDX_KEY_MAX];
  size_t pl = 0;
  int rc;
  if (after_len > FL_IDX_KEY_MAX)
    return fl_errf(em, FL_ETOOBIG, "start-after key of %zu bytes is too long", after_len);
  if (level != FL_IDX_LVL_ALL && !prefix)
    return fl_errf(em, -EINVAL, "a prefix key is needed below the whole-index level");
  if (level != FL_IDX_LVL_ALL &&
      (rc = fl_idx_key_encode(prefix, level, pb, sizeof pb, &pl, em)) != 0)
    return rc;
  fl_idx_iter_t *it = calloc(1, sizeof *it);
  if (!it)
    return fl_errf(em, -ENOMEM, "allocating an index iterator");
  it->flags = flags;
  if (pl == 0) {
    memcpy(it->upper, meta_floor, sizeof meta_floor);
    it->upper_len = sizeof meta_floor;
  } else {
    it->upper_len = prefix_successor(pb, pl, it->upper);
  }
  const uint8_t *start = pb;
  size_t start_len = pl;
  int skip_equal = 0;
  /* Resume after `after` only when it lies past the prefix start. */
  if (after_len > 0) {
    size_t m = after_len < pl ? after_len : pl;
    int c = memcmp(after, pb, m);
    if (c > 0 || (c == 0 && after_len >= pl)) {
      start = after;
      start_len = after_len;
      skip_equal = 1;
    }
  }
  iter_open_raw(idx, start, start_len, level > FL_IDX_LVL_PG, it);
  if (skip_equal && rocksdb_iter_valid(it->it)) {
    size_t kl;
    const char *key = rocksdb_iter_key(it->it, &kl);
    if (kl == start_len && memcmp(key, start, kl) == 0)
      rocksdb_iter_next(it->it);
  }
  *out = it;
  return 0;
}

int fl_idx_iter_next(fl_idx_iter_t *it, fl_idx_key_t *k, fl_idx_value_t *v, fl_errmsg_t *em) {
  fl_idx_value_t tmp;
  fl_idx_value_t *val = v ? v : &tmp;
  for (;;) {
    /* RocksDB forbids Next() on an exhausted iterator: check first. */
    if (it->started && rocksdb_iter_valid(it->it))
      rocksdb_iter_next(it->it);
    it->started = 1;
    if (!rocksdb_iter_valid(it->it)) {
      char *err = NULL;
      rocksdb_iter_get_error(it->it, &err);
      if (err)
        return store_err(em, err, "iterating");
      it->cur = NULL;
      return 0;
    }
    size_t kl, vl;
    const uint8_t *key = (const uint8_t *)rocksdb_iter_key(it->it, &kl);
    const uint8_t *vb = (const uint8_t *)rocksdb_iter_value(it->it, &vl);
    int rc = fl_idx_value_decode(vb, vl, val, em);
    if (rc == 0 && (val->flags & FL_IDX_VF_TOMBSTONE) && !(it->flags & FL_IDX_WITH_TOMBSTONES))
      continue;
    fl_idx_key_t tk;
    if (rc == 0)
      rc = fl_idx_key_decode(key, kl, k ? k : &tk, em);
    if (rc != 0) {
      char hex[2 * 24 + 1];
      size_t n = kl < 24 ? kl : 24;
      for (size_t i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
      hex[2 * n] = 0;
      return fl_errprefix(em, rc, "index entry %s%s", hex, kl > n ? "..." : "");
    }
    it->cur = key;
    it->cur_len = kl;
    return 1;
  }
}

const uint8_t *fl_idx_iter_rawkey(const fl_idx_iter_t *it, size_t *len) {
  *len = it->cur ? it->cur_len : 0;
  return it->cur;
}

void fl_idx_iter_close(fl_idx_iter_t *it) {
  if (!it)
    return;
  rocksdb_iter_destroy(it->it);
  rocksdb_release_snapshot(it->idx->db, it->snap);
  rocksdb_readoptions_destroy(it->ro);
  free(it);
}

int fl_idx_scan(fl_idx_t *idx, enum fl_idx_level level, const fl_idx_key_t *prefix,
                fl_idx_cursor_t *cursor, size_t limit, unsigned flags, fl_idx_scan_cb cb,
                void *arg, size_t *count, fl_errmsg_t *em) {
  fl_idx_iter_t *it;
  fl_idx_key_t k;
  fl_idx_value_t v;
  size_t n = 0;
  int rc = fl_idx_iter_open(idx, level, prefix, cursor ? cursor->key : NULL,
                            cursor ? cursor->len : 0, flags, &it, em);
  if (rc != 0)
    return rc;
  while (limit == 0 || n < limit) {
    rc = fl_idx_iter_next(it, &k, &v, em);
    if (rc <= 0)
      break;
    rc = 0;
    n++;
    if (cursor) {
      size_t kl;
      const uint8_t *kb = fl_idx_iter_rawkey(it, &kl);
      memcpy(cursor->key, kb, kl);
      cursor->len = kl;
    }
    if ((rc = cb(arg, &k, &v)) != 0)
      break;
  }
  fl_idx_iter_close(it);
  if (count)
    *count = n;
  return rc;
}

int fl_idx_scan_study(fl_idx_t *idx, uint32_t pg, const char *tenant, const char *study,
                      fl_idx_cursor_t *cursor, size_t limit, fl_idx_scan_cb cb, void *arg,
                      size_t *count, fl_errmsg_t *em) {
  fl_idx_key_t k;
  memset(&k, 0, sizeof k);
  int rc = fl_idx_key_make(&k, pg, tenant, study, "0", "0", 0, em);
  if (rc != 0)
    return rc;
  return fl_idx_scan(idx, FL_IDX_LVL_STUDY, &k, cursor, limit, 0, cb, arg, count, em);
}

/* ---- Stats and comparison -------------------------------------------------- */

int fl_idx_stats(fl_idx_t *idx, fl_idx_stats_t *out, fl_errmsg_t *em) {
  static const char *const props[5] = {
      "rocksdb.estimate-num-keys", "rocksdb.total-sst-files-size",
      "rocksdb.cur-size-all-mem-tables", "rocksdb.block-cache-usage",
      "rocksdb.estimate-table-readers-mem"};
  uint64_t *dst[5] = {&out->approx_keys, &out->sst_bytes, &out->memtable_bytes,
                      &out->cache_bytes, &out->readers_bytes};
  for (int i = 0; i < 5; i++)
    if (rocksdb_property_int(idx->db, props[i], dst[i]) != 0)
      return fl_errf(em, FL_ESTORE, "index property %s is unavailable", props[i]);
  return 0;
}

int fl_idx_compare(fl_idx_t *a, fl_idx_t *b, fl_idx_diff_cb cb, void *arg, fl_idx_diff_t *out,
                   fl_errmsg_t *em) {
  fl_idx_iter_t ia, ib;
  int rc = 0;
  memset(out, 0, sizeof *out);
  memset(&ia, 0, sizeof ia);
  memset(&ib, 0, sizeof ib);
  memcpy(ia.upper, meta_floor, sizeof meta_floor);
  memcpy(ib.upper, meta_floor, sizeof meta_floor);
  ia.upper_len = ib.upper_len = sizeof meta_floor;
  iter_open_raw(a, (const uint8_t *)"", 0, 0, &ia);
  iter_open_raw(b, (const uint8_t *)"", 0, 0, &ib);
  for (;;) {
    int va = rocksdb_iter_valid(ia.it), vb = rocksdb_iter_valid(ib.it);
    if (!va && !vb)
      break;
    size_t kla = 0, klb = 0;
    const char *ka = va ? rocksdb_iter_key(ia.it, &kla) : NULL;
    const char *kb = vb ? rocksdb_iter_key(ib.it, &klb) : NULL;
    int c;
    if (!va)
      c = 1;
    else if (!vb)
      c = -1;
    else {
      c = memcmp(ka, kb, kla < klb ? kla : klb);
      if (c == 0)
        c = kla < klb ? -1 : kla > klb;
    }
    if (c < 0) {
      out->only_a++;
      if (cb)
        cb(arg, FL_IDX_DIFF_ONLY_A, (const uint8_t *)ka, kla);
      rocksdb_iter_next(ia.it);
    } else if (c > 0) {
      out->only_b++;
      if (cb)
        cb(arg, FL_IDX_DIFF_ONLY_B, (const uint8_t *)kb, klb);
      rocksdb_iter_next(ib.it);
    } else {
      size_t la, lb;
      const char *xa = rocksdb_iter_value(ia.it, &la);
      const char *xb = rocksdb_iter_value(ib.it, &lb);
      if (la == lb && memcmp(xa, xb, la) == 0) {
        out->equal++;
      } else {
        out->differ++;
        if (cb)
          cb(arg, FL_IDX_DIFF_VALUE, (const uint8_t *)ka, kla);
      }
      rocksdb_iter_next(ia.it);
      rocksdb_iter_next(ib.it);
    }
  }
  char *err = NULL;
  rocksdb_iter_get_error(ia.it, &err);
  if (!err)
    rocksdb_iter_get_error(ib.it, &err);
  if (err)
    rc = store_err(em, err, "comparing");
  rocksdb_iter_destroy(ia.it);
  rocksdb_iter_destroy(ib.it);
  rocksdb_release_snapshot(a->db, ia.snap);
  rocksdb_release_snapshot(b->db, ib.snap);
  rocksdb_readoptions_destroy(ia.ro);
  rocksdb_readoptions_destroy(ib.ro);
  return rc;
}
