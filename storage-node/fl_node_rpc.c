/* Request handlers of filmless-node: each turns one decoded request frame
 * into a store call and fills the response header and payload. They run on
 * worker threads, never on the event loop, and never fail as such: every
 * error becomes the response's status and text. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "fl_crc32c.h"
#include "fl_log.h"
#include "fl_node.h"
#include "fl_node_coord.h"
#include "fl_node_drop.h"
#include "fl_vol_record.h"
#include "fl_wire.h"

#define FL__LIST_DEFAULT 1000u
#define FL__LIST_MAX 10000u

/* DICOM tags of the attributes the index keeps. */
#define FL__TAG_SOP_CLASS 0x00080016u
#define FL__TAG_STUDY_DATE 0x00080020u
#define FL__TAG_MODALITY 0x00080060u
#define FL__TAG_PATIENT_NAME 0x00100010u
#define FL__TAG_PATIENT_ID 0x00100020u
#define FL__TAG_SERIES_NUMBER 0x00200011u
#define FL__TAG_INSTANCE_NUMBER 0x00200013u

/* Everything a response body points at, freed after encoding. */
struct fl_node_rpc_scratch {
  char error_text[sizeof(fl_errmsg_t)];
  Fl__PutFragmentResult put;
  Fl__GetFragmentResult get;
  Fl__ListResult list;
  Fl__DeleteResult del;
  Fl__StatResult stat;
  Fl__PgStatsResult pgs;
  Fl__RepairProgress repair;
  uint8_t page_token[FL_IDX_KEY_MAX];
};

void fl_node_rpc_scratch_free(fl_node_rpc_scratch_t *scratch) { free(scratch); }

/* ---- conversions -------------------------------------------------------------- */

static int fl__key_from_wire(const Fl__ObjectKey *ok, uint32_t pg, uint32_t frag,
                             fl_idx_key_t *k, fl_errmsg_t *em) {
  if (!ok)
    return fl_errf(em, FL_EPROTO, "request has no object key");
  if (frag > UINT16_MAX)
    return fl_errf(em, FL_EPROTO, "fragment index %u is out of range", frag);
  return fl_idx_key_make(k, pg, ok->tenant, ok->study_uid, ok->series_uid, ok->sop_uid,
                         (uint16_t)frag, em);
}

static int fl__copy_str(char *dst, size_t cap, const ProtobufCBinaryData *v, const char *what,
                        fl_errmsg_t *em) {
  if (v->len >= cap)
    return fl_errf(em, FL_ETOOBIG, "attribute %s is %zu bytes (at most %zu)", what, v->len,
                   cap - 1);
  memcpy(dst, v->data, v->len);
  dst[v->len] = '\0';
  return 0;
}

static int fl__copy_int(int32_t *dst, const ProtobufCBinaryData *v, const char *what,
                        fl_errmsg_t *em) {
  char tmp[16];
  int rc = fl__copy_str(tmp, sizeof tmp, v, what, em);
  if (rc)
    return rc;
  char *end;
  long n = strtol(tmp, &end, 10);
  if (end == tmp || *end != '\0' || n < INT32_MIN + 1 || n > INT32_MAX)
    return fl_errf(em, -EINVAL, "attribute %s is not an integer: '%s'", what, tmp);
  *dst = (int32_t)n;
  return 0;
}

static int fl__attrs_from_wire(Fl__Attribute **attrs, size_t n, fl_idx_attrs_t *a, int *phi_enc,
                               fl_errmsg_t *em) {
  fl_idx_attrs_clear(a);
  *phi_enc = 0;
  for (size_t i = 0; i < n; i++) {
    const Fl__Attribute *at = attrs[i];
    int rc = 0;
    switch (at->tag) {
    case FL__TAG_SOP_CLASS:
      rc = fl__copy_str(a->sop_class, sizeof a->sop_class, &at->value, "SOPClassUID", em);
      break;
    case FL__TAG_STUDY_DATE:
      rc = fl__copy_str(a->study_date, sizeof a->study_date, &at->value, "StudyDate", em);
      break;
    case FL__TAG_MODALITY:
      rc = fl__copy_str(a->modality, sizeof a->modality, &at->value, "Modality", em);
      break;
    case FL__TAG_SERIES_NUMBER:
      rc = fl__copy_int(&a->series_number, &at->value, "SeriesNumber", em);
      break;
    case FL__TAG_INSTANCE_NUMBER:
      rc = fl__copy_int(&a->instance_number, &at->value, "InstanceNumber", em);
      break;
    case FL__TAG_PATIENT_ID:
    case FL__TAG_PATIENT_NAME: {
      int is_id = at->tag == FL__TAG_PATIENT_ID;
      if (at->value.len > FL_IDX_PHI_MAX)
        return fl_errf(em, FL_ETOOBIG, "attribute %s is %zu bytes (at most %d)",
                       is_id ? "PatientID" : "PatientName", at->value.len, FL_IDX_PHI_MAX);
      memcpy(is_id ? a->patient_id : a->patient_name, at->value.data, at->value.len);
      if (is_id)
        a->patient_id_len = (uint16_t)at->value.len;
      else
        a->patient_name_len = (uint16_t)at->value.len;
      if (at->encrypted)
        *phi_enc = 1;
      break;
    }
    default:
      break; /* attributes this version does not index are ignored */
    }
    if (rc)
      return rc;
  }
  return 0;
}

/* The record flags an index entry stands for (ListEntry.flags). */
static uint32_t fl__rec_flags(const fl_idx_value_t *v) {
  if (v->flags & FL_IDX_VF_TOMBSTONE)
    return FL_VOL_REC_F_TOMBSTONE;
  return (v->layout ? FL_VOL_REC_F_EC : 0) |
         ((v->flags & FL_IDX_VF_ENCRYPTED) ? FL_VOL_REC_F_ENCRYPTED : 0);
}

/* ---- handlers ------------------------------------------------------------------- */

static int fl__put(fl_store_t *st, const Fl__PutFragmentArgs *a, const void *payload,
                   uint64_t len, uint32_t crc, fl_node_rpc_scratch_t *sc, fl_errmsg_t *em) {
  fl_store_put_t p;
  memset(&p, 0, sizeof p);
  int rc = fl__key_from_wire(a->key, a->pg, a->fragment_index, &p.key, em);
  if (rc)
    return rc;
  if ((rc = fl__attrs_from_wire(a->attrs, a->n_attrs, &p.attrs, &p.phi_encrypted, em)) != 0)
    return rc;
  p.layout = a->layout ? 1 : 0;
  /* A repair put carries the listed record flags instead of a key id. */
  p.encrypted = a->key_id != 0 || (a->flags & FL_VOL_REC_F_ENCRYPTED) != 0;
  p.obj_size = a->object_size;
  p.payload = payload;
  p.payload_len = len;
  p.payload_crc = crc;
  p.crc_verified = 1; /* the frame's CRC, checked as the payload arrived */
  int existed = 0;
  rc = fl_store_put(st, &p, &existed, em);
  if (rc == 0)
    sc->put.existed = existed;
  return rc;
}

static int fl__get(fl_store_t *st, const Fl__GetFragmentArgs *a, fl_node_rpc_scratch_t *sc,
                   void **out_base, void **out, uint64_t *out_len, uint32_t *out_crc,
                   fl_errmsg_t *em) {
  fl_idx_key_t k;
  int rc = fl__key_from_wire(a->key, a->pg, a->fragment_index, &k, em);
  if (rc)
    return rc;
  fl_idx_value_t v;
  if ((rc = fl_store_get(st, &k, a->offset, a->length, &v, out_base, out, out_len, em)) != 0)
    return rc;
  sc->get.fragment_size = v.rec_len;
  sc->get.fragment_crc32c = v.crc;
  sc->get.object_size = v.obj_size;
  sc->get.layout = v.layout;
  sc->get.flags = fl__rec_flags(&v);
  /* A whole read was verified against the stored CRC: no second pass. */
  *out_crc = (a->offset == 0 && *out_len == v.rec_len) ? v.crc : fl_crc32c(*out, *out_len);
  return 0;
}

typedef struct fl__list_ctx {
  Fl__ListEntry *entries;
  Fl__ObjectKey *keys;
  Fl__Attribute *attrs; /* 7 per entry */
  Fl__Attribute **attr_ptrs;
  Fl__ListEntry **entry_ptrs;
  char (*strs)[4][FL_IDX_UID_MAX + 1];
  char (*nums)[2][16];
  fl_idx_attrs_t *vals;
  size_t n, cap;
} fl__list_ctx_t;

static void fl__attr(Fl__Attribute *at, uint32_t tag, const void *v, size_t len, int enc) {
  fl__attribute__init(at);
  at->tag = tag;
  at->value.data = (uint8_t *)v;
  at->value.len = len;
  at->encrypted = enc;
}

static int fl__list_cb(void *arg, const fl_idx_key_t *k, const fl_idx_value_t *v) {
  fl__list_ctx_t *c = arg;
  if (v->flags & FL_IDX_VF_DROPPED)
    return 0; /* a drop hides this node's copy; it deletes nothing */
  if (c->n == c->cap)
    return 1;
  size_t i = c->n++;
  Fl__ListEntry *e = &c->entries[i];
  Fl__ObjectKey *ok = &c->keys[i];
  fl__list_entry__init(e);
  fl__object_key__init(ok);
  memcpy(c->strs[i][0], k->tenant, sizeof k->tenant);
  memcpy(c->strs[i][1], k->study, sizeof k->study);
  memcpy(c->strs[i][2], k->series, sizeof k->series);
  memcpy(c->strs[i][3], k->sop, sizeof k->sop);
  ok->tenant = c->strs[i][0];
  ok->study_uid = c->strs[i][1];
  ok->series_uid = c->strs[i][2];
  ok->sop_uid = c->strs[i][3];
  e->key = ok;
  e->fragment_index = k->frag;
  e->fragment_size = v->rec_len;
  e->fragment_crc32c = v->crc;
  e->object_size = v->obj_size;
  e->layout = v->layout;
  e->tombstone = (v->flags & FL_IDX_VF_TOMBSTONE) != 0;
  e->flags = fl__rec_flags(v);
  c->vals[i] = v->attrs;
  const fl_idx_attrs_t *a = &c->vals[i];
  Fl__Attribute *at = &c->attrs[i * 7];
  Fl__Attribute **ap = &c->attr_ptrs[i * 7];
  size_t na = 0;
  int phi = (v->flags & FL_IDX_VF_PHI_ENC) != 0;
  if (a->sop_class[0])
    fl__attr(&at[na++], FL__TAG_SOP_CLASS, a->sop_class, strlen(a->sop_class), 0);
  if (a->study_date[0])
    fl__attr(&at[na++], FL__TAG_STUDY_DATE, a->study_date, strlen(a->study_date), 0);
  if (a->modality[0])
    fl__attr(&at[na++], FL__TAG_MODALITY, a->modality, strlen(a->modality), 0);
  if (a->series_number != FL_IDX_NO_NUMBER) {
    snprintf(c->nums[i][0], sizeof c->nums[i][0], "%d", (int)a->series_number);
    fl__attr(&at[na++], FL__TAG_SERIES_NUMBER, c->nums[i][0], strlen(c->nums[i][0]), 0);
  }
  if (a->instance_number != FL_IDX_NO_NUMBER) {
    snprintf(c->nums[i][1], sizeof c->nums[i][1], "%d", (int)a->instance_number);
    fl__attr(&at[na++], FL__TAG_INSTANCE_NUMBER, c->nums[i][1], strlen(c->nums[i][1]), 0);
  }
  if (a->patient_id_len)
    fl__attr(&at[na++], FL__TAG_PATIENT_ID, a->patient_id, a->patient_id_len, phi);
  if (a->patient_name_len)
    fl__attr(&at[na++], FL__TAG_PATIENT_NAME, a->patient_name, a->patient_name_len, phi);
  for (size_t j = 0; j < na; j++)
    ap[j] = &at[j];
  e->attrs = ap;
  e->n_attrs = na;
  c->entry_ptrs[i] = e;
  return 0;
}

/* Arrays for up to max entries (max <= FL__LIST_MAX, so no overflow).
 * Not zeroed: fl__list_cb writes every field of an entry before it is
 * used, and a page of 1000 entries is about a megabyte that a short
 * listing would otherwise clear (and fault in) for nothing. */
static int fl__list_ctx_alloc(fl__list_ctx_t *c, size_t max) {
  memset(c, 0, sizeof *c);
  c->cap = max;
  max = max ? max : 1;
  c->entries = malloc(max * sizeof *c->entries);
  c->keys = malloc(max * sizeof *c->keys);
  c->attrs = malloc(max * 7 * sizeof *c->attrs);
  c->attr_ptrs = malloc(max * 7 * sizeof *c->attr_ptrs);
  c->entry_ptrs = malloc(max * sizeof *c->entry_ptrs);
  c->strs = malloc(max * sizeof *c->strs);
  c->nums = malloc(max * sizeof *c->nums);
  c->vals = malloc(max * sizeof *c->vals);
  if (!c->entries || !c->keys || !c->attrs || !c->attr_ptrs || !c->entry_ptrs || !c->strs ||
      !c->nums || !c->vals)
    return -ENOMEM;
  return 0;
}

static void fl__list_ctx_free(fl__list_ctx_t *c) {
  free(c->entries);
  free(c->keys);
  free(c->attrs);
  free(c->attr_ptrs);
  free(c->entry_ptrs);
  free(c->strs);
  free(c->nums);
  free(c->vals);
}

static int fl__list_pack(fl__list_ctx_t *c, void **out, uint64_t *out_len, uint32_t *out_crc) {
  Fl__ListPage page = FL__LIST_PAGE__INIT;
  page.entries = c->entry_ptrs;
  page.n_entries = c->n;
  size_t plen = fl__list_page__get_packed_size(&page);
  uint8_t *buf = malloc(plen ? plen : 1);
  if (!buf)
    return -ENOMEM;
  fl__list_page__pack(&page, buf);
  *out = buf;
  *out_len = plen;
  *out_crc = fl_crc32c(buf, plen);
  return 0;
}

/* A key that sorts after every key starting with the `level` prefix of k:
 * the prefix, then 0xFF bytes (no key byte after a prefix is 0xFF: tenants
 * are [a-z0-9_-], packed UID nibbles are at most 0xB). */
static int fl__skip_key(const fl_idx_key_t *k, enum fl_idx_level level, uint8_t *buf,
                        size_t *len, fl_errmsg_t *em) {
  int rc = fl_idx_key_encode(k, level, buf, FL_IDX_KEY_MAX, len, em);
  if (rc)
    return rc;
  memset(buf + *len, 0xFF, FL_IDX_KEY_MAX - *len);
  *len = FL_IDX_KEY_MAX;
  return 0;
}

/* LIST with an empty study UID: the tenant's distinct studies on this node,
 * across every PG, one entry per study (the first live fragment found, so
 * its attributes describe one instance of the study). The scan hops from
 * study to study with seeks instead of reading every fragment; a page ends
 * after max_entries studies or FL__STUDY_HOPS seeks. */
#define FL__STUDY_HOPS 20000u
static int fl__list_studies(fl_store_t *st, const Fl__ListArgs *a, fl_node_rpc_scratch_t *sc,
                            void **out, uint64_t *out_len, uint32_t *out_crc, fl_errmsg_t *em) {
  const char *tenant = a->prefix->tenant;
  int rc = fl_idx_check_tenant(tenant, em);
  if (rc)
    return rc;
  size_t max = a->max_entries ? a->max_entries : FL__LIST_DEFAULT;
  if (max > FL__LIST_MAX)
    max = FL__LIST_MAX;
  uint8_t after[FL_IDX_KEY_MAX];
  size_t after_len = 0;
  if (a->page_token.len) {
    if (a->page_token.len > sizeof after)
      return fl_errf(em, FL_EPROTO, "page token of %zu bytes is not one of ours",
                     a->page_token.len);
    memcpy(after, a->page_token.data, a->page_token.len);
    after_len = a->page_token.len;
  }
  fl__list_ctx_t c;
  int done = 0;
  if ((rc = fl__list_ctx_alloc(&c, max)) != 0)
    goto out;
  for (unsigned hops = 0; c.n < max && hops < FL__STUDY_HOPS; hops++) {
    fl_idx_iter_t *it;
    if ((rc = fl_idx_iter_open(fl_store_index(st), FL_IDX_LVL_ALL, NULL, after, after_len, 0,
                               &it, em)) != 0)
      goto out;
    fl_idx_key_t k;
    fl_idx_value_t v;
    rc = fl_idx_iter_next(it, &k, &v, em);
    fl_idx_iter_close(it);
    if (rc < 0)
      goto out;
    if (rc == 0) {
      done = 1;
      break;
    }
    int cmp = strcmp(k.tenant, tenant);
    if (cmp == 0) {
      fl__list_cb(&c, &k, &v);
      rc = fl__skip_key(&k, FL_IDX_LVL_STUDY, after, &after_len, em);
    } else if (cmp < 0) {
      /* Before the tenant in this PG: seek to its first key. */
      snprintf(k.tenant, sizeof k.tenant, "%s", tenant);
      rc = fl_idx_key_encode(&k, FL_IDX_LVL_TENANT, after, sizeof after, &after_len, em);
    } else {
      rc = fl__skip_key(&k, FL_IDX_LVL_PG, after, &after_len, em);
    }
    if (rc)
      goto out;
  }
  rc = fl__list_pack(&c, out, out_len, out_crc);
  if (rc)
    goto out;
  sc->list.count = (uint32_t)c.n;
  if (!done) {
    memcpy(sc->page_token, after, after_len);
    sc->list.next_page_token.data = sc->page_token;
    sc->list.next_page_token.len = after_len;
  }
out:
  fl__list_ctx_free(&c);
  return rc;
}

static int fl__list_scan(fl_store_t *st, const Fl__ListArgs *a, enum fl_idx_level lvl,
                         const fl_idx_key_t *k, fl_node_rpc_scratch_t *sc, void **out,
                         uint64_t *out_len, uint32_t *out_crc, fl_errmsg_t *em);

static int fl__list(fl_store_t *st, const Fl__ListArgs *a, fl_node_rpc_scratch_t *sc,
                    void **out, uint64_t *out_len, uint32_t *out_crc, fl_errmsg_t *em) {
  if (a->whole_pg) {
    const Fl__ObjectKey *p = a->prefix;
    if (p && ((p->tenant && p->tenant[0]) || (p->study_uid && p->study_uid[0]) ||
              (p->series_uid && p->series_uid[0]) || (p->sop_uid && p->sop_uid[0])))
      return fl_errf(em, FL_EPROTO,
                     "list with whole_pg lists every key of pg %u: the prefix must be empty",
                     a->pg);
    if (a->pg >= FL_IDX_PG_RESERVED)
      return fl_errf(em, FL_EPROTO, "pg %u is out of range", a->pg);
    fl_idx_key_t k;
    memset(&k, 0, sizeof k);
    k.pg = a->pg;
    return fl__list_scan(st, a, FL_IDX_LVL_PG, &k, sc, out, out_len, out_crc, em);
  }
  if (a->prefix && a->prefix->tenant[0] && !a->prefix->study_uid[0] &&
      !a->prefix->series_uid[0] && !a->prefix->sop_uid[0])
    return fl__list_studies(st, a, sc, out, out_len, out_crc, em);
  if (!a->prefix || !a->prefix->tenant[0] || !a->prefix->study_uid[0])
    return fl_errf(em, FL_EPROTO, "list needs at least a tenant and a study UID");
  if (a->prefix->sop_uid[0] && !a->prefix->series_uid[0])
    return fl_errf(em, FL_EPROTO, "list by SOP instance needs its series UID too");
  enum fl_idx_level lvl = a->prefix->sop_uid[0]      ? FL_IDX_LVL_OBJECT
                          : a->prefix->series_uid[0] ? FL_IDX_LVL_SERIES
                                                     : FL_IDX_LVL_STUDY;
  fl_idx_key_t k;
  int rc = fl_idx_key_make(&k, a->pg, a->prefix->tenant, a->prefix->study_uid,
                           a->prefix->series_uid[0] ? a->prefix->series_uid : "1",
                           a->prefix->sop_uid[0] ? a->prefix->sop_uid : "1", 0, em);
  if (rc)
    return rc;
  return fl__list_scan(st, a, lvl, &k, sc, out, out_len, out_crc, em);
}

/* One page of the keys under the `lvl` prefix of *k, from a's page token. */
static int fl__list_scan(fl_store_t *st, const Fl__ListArgs *a, enum fl_idx_level lvl,
                         const fl_idx_key_t *k, fl_node_rpc_scratch_t *sc, void **out,
                         uint64_t *out_len, uint32_t *out_crc, fl_errmsg_t *em) {
  int rc;
  size_t max = a->max_entries ? a->max_entries : FL__LIST_DEFAULT;
  if (max > FL__LIST_MAX)
    max = FL__LIST_MAX;
  fl_idx_cursor_t cur;
  memset(&cur, 0, sizeof cur);
  if (a->page_token.len) {
    if (a->page_token.len > sizeof cur.key)
      return fl_errf(em, FL_EPROTO, "page token of %zu bytes is not one of ours",
                     a->page_token.len);
    memcpy(cur.key, a->page_token.data, a->page_token.len);
    cur.len = a->page_token.len;
  }
  fl__list_ctx_t c;
  if ((rc = fl__list_ctx_alloc(&c, max)) != 0)
    goto out;
  size_t count = 0;
  rc = fl_idx_scan(fl_store_index(st), lvl, k, &cur, max,
                   a->include_tombstones ? FL_IDX_WITH_TOMBSTONES : 0, fl__list_cb, &c, &count,
                   em);
  if (rc < 0)
    goto out;
  if ((rc = fl__list_pack(&c, out, out_len, out_crc)) != 0)
    goto out;
  sc->list.count = (uint32_t)c.n;
  if (count == max && cur.len) {
    memcpy(sc->page_token, cur.key, cur.len);
    sc->list.next_page_token.data = sc->page_token;
    sc->list.next_page_token.len = cur.len;
  }
out:
  fl__list_ctx_free(&c);
  return rc;
}

/* DELETE with drop: the guard against the node's own map, then the drop.
 * Absent is not an error (tombstoned = 0): the drop's goal holds. */
static int fl__drop(fl_store_t *st, const fl_node_cfg_t *cfg, fl_node_coord_t *coord,
                    const Fl__DeleteArgs *a, uint64_t req_epoch, const fl_idx_key_t *k,
                    fl_node_rpc_scratch_t *sc, fl_errmsg_t *em) {
  if (a->all_fragments)
    return fl_errf(em, FL_EPROTO, "a drop names one fragment_index, not all_fragments");
  fl_map_t map;
  int have = 0, rc = 0;
  if (coord) {
    rc = fl_node_coord_map(coord, &map, em);
    if (rc == 0)
      have = 1;
    else if (rc != FL_ENOTFOUND)
      return rc;
  }
  rc = fl_node_drop_check(have ? &map : NULL, coord ? fl_node_coord_id(coord) : 0, cfg->dc,
                          a->pg, a->fragment_index, req_epoch, em);
  if (have)
    fl_map_free(&map);
  if (rc)
    return rc;
  uint64_t bytes = 0;
  rc = fl_store_drop(st, k, &bytes, em);
  if (rc == FL_ENOTFOUND)
    return 0;
  if (rc == 0) {
    sc->del.tombstoned = 1;
    fl_info("node", "dropped fragment %u of %s/%s (pg %u, %" PRIu64 " bytes) at epoch %" PRIu64,
            k->frag, k->study, k->sop, k->pg, bytes, req_epoch);
  }
  return rc;
}

static int fl__delete(fl_store_t *st, const fl_node_cfg_t *cfg, fl_node_coord_t *coord,
                      const Fl__DeleteArgs *a, uint64_t req_epoch, fl_node_rpc_scratch_t *sc,
                      fl_errmsg_t *em) {
  fl_idx_key_t k;
  int rc = fl__key_from_wire(a->key, a->pg, a->fragment_index, &k, em);
  if (rc)
    return rc;
  if (a->drop)
    return fl__drop(st, cfg, coord, a, req_epoch, &k, sc, em);
  uint32_t n = 0;
  rc = fl_store_delete(st, &k, a->all_fragments, &n, em);
  sc->del.tombstoned = n;
  return rc;
}

/* PG_STATS: every summary, packed as a PgStatList payload. */
static int fl__pg_stats(fl_store_t *st, fl_node_rpc_scratch_t *sc, void **out,
                        uint64_t *out_len, uint32_t *out_crc, fl_errmsg_t *em) {
  fl_store_pg_stat_t *ps = NULL;
  size_t n = 0;
  int rc = fl_store_pg_stats(st, &ps, &n, em);
  if (rc)
    return rc;
  Fl__PgStat *msgs = calloc(n ? n : 1, sizeof *msgs);
  Fl__PgStat **ptrs = calloc(n ? n : 1, sizeof *ptrs);
  uint8_t *buf = NULL;
  if (!msgs || !ptrs) {
    rc = -ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    fl__pg_stat__init(&msgs[i]);
    msgs[i].pg = ps[i].pg;
    msgs[i].fragment_index = ps[i].frag;
    msgs[i].ec_count = ps[i].ec_count;
    msgs[i].ec_digest = ps[i].ec_digest;
    msgs[i].replica_count = ps[i].replica_count;
    msgs[i].replica_digest = ps[i].replica_digest;
    msgs[i].bytes = ps[i].bytes;
    ptrs[i] = &msgs[i];
  }
  Fl__PgStatList list = FL__PG_STAT_LIST__INIT;
  list.stats = ptrs;
  list.n_stats = n;
  size_t plen = fl__pg_stat_list__get_packed_size(&list);
  buf = malloc(plen ? plen : 1);
  if (!buf) {
    rc = -ENOMEM;
    goto out;
  }
  fl__pg_stat_list__pack(&list, buf);
  *out = buf;
  *out_len = plen;
  *out_crc = fl_crc32c(buf, plen);
  sc->pgs.count = (uint32_t)n;
out:
  free(msgs);
  free(ptrs);
  free(ps);
  return rc;
}

static int fl__stat(fl_store_t *st, const fl_node_cfg_t *cfg, fl_node_coord_t *coord,
                    fl_node_rpc_scratch_t *sc, fl_errmsg_t *em) {
  fl_store_stats_t s;
  int rc = fl_store_stats(st, &s, em);
  if (rc)
    return rc;
  uint64_t cap = cfg->capacity;
  struct statvfs vfs;
  if (statvfs(cfg->data, &vfs) == 0) {
    if (!cap)
      cap = (uint64_t)vfs.f_blocks * vfs.f_frsize;
    sc->stat.free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
  }
  sc->stat.node_id = coord ? fl_node_coord_id(coord) : (uint32_t)cfg->id;
  sc->stat.map_epoch = coord ? fl_node_coord_epoch(coord) : 0;
  sc->stat.capacity_bytes = cap;
  sc->stat.used_bytes = s.volume_bytes;
  sc->stat.live_bytes = s.live_bytes;
  sc->stat.objects = s.objects;
  sc->stat.tombstones = s.tombstones;
  sc->stat.volumes = s.volumes;
  sc->stat.corrupt_found = s.corrupt_found;
  sc->stat.quarantined = s.quarantined;
  if (coord) {
    fl_cc_repair_t r;
    fl_node_coord_progress(coord, &r);
    fl_cc_repair_to_pb(&r, &sc->repair);
    sc->stat.repair = &sc->repair;
  }
  sc->stat.compacted_bytes = s.compacted_bytes;
  return 0;
}

void fl_node_rpc_handle(fl_store_t *store, const fl_node_cfg_t *cfg, fl_node_coord_t *coord,
                        const Fl__FrameHeader *req,
                        const void *payload, uint64_t payload_len, Fl__FrameHeader *resp,
                        fl_node_rpc_scratch_t **scratch, void **out_base, void **out,
                        uint64_t *out_len) {
  fl_errmsg_t em = {{0}};
  *out_base = NULL;
  *out = NULL;
  *out_len = 0;
  uint32_t out_crc = 0;
  fl_node_rpc_scratch_t *sc = calloc(1, sizeof *sc);
  *scratch = sc;
  int rc;
  if (!sc) {
    fl_wire_response_init(resp, req, -ENOMEM, "node out of memory");
    return;
  }
  fl__put_fragment_result__init(&sc->put);
  fl__get_fragment_result__init(&sc->get);
  fl__list_result__init(&sc->list);
  fl__delete_result__init(&sc->del);
  fl__stat_result__init(&sc->stat);
  fl__pg_stats_result__init(&sc->pgs);
  switch (req->type) {
  case FL__MSG_TYPE__MSG_TYPE_PING:
    /* The response echoes the payload; copy it since the request's goes away. */
    rc = 0;
    if (payload_len) {
      *out = malloc(payload_len);
      if (!*out) {
        rc = -ENOMEM;
        break;
      }
      memcpy(*out, payload, payload_len);
      *out_base = *out;
      *out_len = payload_len;
      out_crc = req->payload_crc32c;
    }
    break;
  case FL__MSG_TYPE__MSG_TYPE_PUT_FRAGMENT:
    rc = fl__put(store, req->put_fragment, payload, payload_len, req->payload_crc32c, sc, &em);
    break;
  case FL__MSG_TYPE__MSG_TYPE_GET_FRAGMENT:
    rc = fl__get(store, req->get_fragment, sc, out_base, out, out_len, &out_crc, &em);
    break;
  case FL__MSG_TYPE__MSG_TYPE_LIST:
    rc = fl__list(store, req->list, sc, out, out_len, &out_crc, &em);
    *out_base = *out;
    break;
  case FL__MSG_TYPE__MSG_TYPE_DELETE:
    rc = fl__delete(store, cfg, coord, req->delete_fragment, req->map_epoch, sc, &em);
    break;
  case FL__MSG_TYPE__MSG_TYPE_STAT:
    rc = fl__stat(store, cfg, coord, sc, &em);
    break;
  case FL__MSG_TYPE__MSG_TYPE_PG_STATS:
    rc = fl__pg_stats(store, sc, out, out_len, &out_crc, &em);
    *out_base = *out;
    break;
  default:
    rc = fl_errf(&em, FL_EPROTO, "a storage node does not serve %s requests",
                 fl_wire_type_name(req->type));
    break;
  }
  if (rc) {
    free(*out_base);
    *out_base = NULL;
    *out = NULL;
    *out_len = 0;
    out_crc = 0;
    snprintf(sc->error_text, sizeof sc->error_text, "%s", fl_errmsg_str(&em, rc));
    fl_wire_response_init(resp, req, rc, sc->error_text);
    if (rc != FL_ENOTFOUND && rc != FL_EEXIST)
      fl_warn("node", "%s request %" PRIu64 " failed: %s (%s)", fl_wire_type_name(req->type),
              req->request_id, sc->error_text, fl_err_name(rc));
  } else {
    fl_wire_response_init(resp, req, 0, NULL);
    switch (req->type) {
    case FL__MSG_TYPE__MSG_TYPE_PUT_FRAGMENT:
      resp->body_case = FL__FRAME_HEADER__BODY_PUT_FRAGMENT_RESULT;
      resp->put_fragment_result = &sc->put;
      break;
    case FL__MSG_TYPE__MSG_TYPE_GET_FRAGMENT:
      resp->body_case = FL__FRAME_HEADER__BODY_GET_FRAGMENT_RESULT;
      resp->get_fragment_result = &sc->get;
      break;
    case FL__MSG_TYPE__MSG_TYPE_LIST:
      resp->body_case = FL__FRAME_HEADER__BODY_LIST_RESULT;
      resp->list_result = &sc->list;
      break;
    case FL__MSG_TYPE__MSG_TYPE_DELETE:
      resp->body_case = FL__FRAME_HEADER__BODY_DELETE_RESULT;
      resp->delete_result = &sc->del;
      break;
    case FL__MSG_TYPE__MSG_TYPE_STAT:
      resp->body_case = FL__FRAME_HEADER__BODY_STAT_RESULT;
      resp->stat_result = &sc->stat;
      break;
    case FL__MSG_TYPE__MSG_TYPE_PG_STATS:
      resp->body_case = FL__FRAME_HEADER__BODY_PG_STATS_RESULT;
      resp->pg_stats_result = &sc->pgs;
      break;
    default:
      break;
    }
  }
  resp->payload_length = *out_len;
  resp->payload_crc32c = out_crc;
  resp->map_epoch = coord ? fl_node_coord_epoch(coord) : 0;
}
