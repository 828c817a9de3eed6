/* Blocking node calls: build the request header for each RPC, run one
 * fl_wire_conn_call, and copy out what the response says. */
#include "fl_nc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void fl__okey(Fl__ObjectKey *ok, const fl_nc_key_t *k) {
  fl__object_key__init(ok);
  ok->tenant = (char *)k->tenant;
  ok->study_uid = (char *)k->study;
  ok->series_uid = (char *)(k->series ? k->series : "");
  ok->sop_uid = (char *)(k->sop ? k->sop : "");
}

int fl_nc_ping(fl_wire_conn_t *c, fl_errmsg_t *em) {
  Fl__FrameHeader h = FL__FRAME_HEADER__INIT;
  h.type = FL__MSG_TYPE__MSG_TYPE_PING;
  return fl_wire_conn_call(c, &h, NULL, 0, NULL, 0, em);
}

static void fl__put_build(fl_nc_put_msg_t *m, const fl_nc_key_t *k, const fl_nc_put_opts_t *o,
                          const fl_nc_put_ext_t *x, uint64_t len) {
  fl__frame_header__init(&m->h);
  fl__put_fragment_args__init(&m->a);
  size_t na = 0;
  fl__okey(&m->ok, k);
  m->a.key = &m->ok;
  m->a.pg = k->pg;
  m->a.fragment_index = k->frag;
  m->a.object_size = len;
  const struct {
    uint32_t tag;
    const char *v;
  } attrs[5] = {{0x00080060u, o ? o->modality : NULL},
                {0x00080016u, o ? o->sop_class : NULL},
                {0x00080020u, o ? o->study_date : NULL},
                {0x00200011u, x ? x->series_number : NULL},
                {0x00200013u, x ? x->instance_number : NULL}};
  if (o) {
    m->a.layout = o->layout;
    m->a.object_size = o->object_size;
  }
  if (x) {
    m->a.ec_k = x->ec_k;
    m->a.ec_m = x->ec_m;
  }
  for (int i = 0; i < 5; i++)
    if (attrs[i].v && attrs[i].v[0]) {
      fl__attribute__init(&m->at[na]);
      m->at[na].tag = attrs[i].tag;
      m->at[na].value.data = (uint8_t *)attrs[i].v;
      m->at[na].value.len = strlen(attrs[i].v);
      m->ap[na] = &m->at[na];
      na++;
    }
  m->a.attrs = m->ap;
  m->a.n_attrs = na;
  m->h.type = FL__MSG_TYPE__MSG_TYPE_PUT_FRAGMENT;
  m->h.body_case = FL__FRAME_HEADER__BODY_PUT_FRAGMENT;
  m->h.put_fragment = &m->a;
}

static uint64_t fl__iov_len(const struct iovec *iov, int iovcnt) {
  uint64_t len = 0;
  for (int i = 0; i < iovcnt; i++)
    len += iov[i].iov_len;
  return len;
}

/* Sends a built PUT_FRAGMENT header h with the payload, waits for the answer. */
static int fl__put_call(fl_wire_conn_t *c, Fl__FrameHeader *h, const struct iovec *iov,
                        int iovcnt, uint64_t len, int *existed, fl_errmsg_t *em) {
  int rc = fl_wire_conn_call(c, h, iov, len ? iovcnt : 0, NULL, 0, em);
  if (rc == 0 && existed) {
    const Fl__FrameHeader *r = fl_wire_conn_header(c);
    *existed = r->body_case == FL__FRAME_HEADER__BODY_PUT_FRAGMENT_RESULT &&
               r->put_fragment_result->existed;
  }
  return rc;
}

int fl_nc_putv(fl_wire_conn_t *c, const fl_nc_key_t *k, const fl_nc_put_opts_t *o,
               const fl_nc_put_ext_t *x, const struct iovec *iov, int iovcnt, int *existed,
               fl_errmsg_t *em) {
  uint64_t len = fl__iov_len(iov, iovcnt);
  fl_nc_put_msg_t m;
  fl__put_build(&m, k, o, x, len);
  return fl__put_call(c, &m.h, iov, iovcnt, len, existed, em);
}

int fl_nc_put_entry_msg(fl_nc_put_msg_t *m, const fl_nc_key_t *k, const Fl__ListEntry *meta,
                        uint64_t len, fl_errmsg_t *em) {
  if (meta->tombstone)
    return fl_errf(em, -EINVAL, "cannot put fragment %u of %s from a tombstone entry", k->frag,
                   k->sop ? k->sop : "");
  fl__put_build(m, k, NULL, NULL, len);
  m->a.layout = meta->layout;
  m->a.object_size = meta->object_size;
  m->a.key_id = meta->key_id;
  m->a.flags = meta->flags;
  /* Borrowed for the call: packing only reads them. */
  m->a.attrs = meta->attrs;
  m->a.n_attrs = meta->n_attrs;
  return 0;
}

int fl_nc_put_entry(fl_wire_conn_t *c, const fl_nc_key_t *k, const Fl__ListEntry *meta,
                    const struct iovec *iov, int iovcnt, int *existed, fl_errmsg_t *em) {
  if (existed)
    *existed = 0;
  uint64_t len = fl__iov_len(iov, iovcnt);
  fl_nc_put_msg_t m;
  int rc = fl_nc_put_entry_msg(&m, k, meta, len, em);
  return rc ? rc : fl__put_call(c, &m.h, iov, iovcnt, len, existed, em);
}

int fl_nc_put_entry_queue(fl_wire_conn_t *c, uint64_t id, const fl_nc_key_t *k,
                          const Fl__ListEntry *meta, const struct iovec *iov, int iovcnt,
                          uint32_t crc, fl_errmsg_t *em) {
  uint64_t len = fl__iov_len(iov, iovcnt);
  fl_nc_put_msg_t m;
  int rc = fl_nc_put_entry_msg(&m, k, meta, len, em);
  if (rc)
    return rc;
  m.h.request_id = id;
  return fl_wire_conn_queue_known(c, &m.h, iov, len ? iovcnt : 0, crc, em);
}

int fl_nc_put(fl_wire_conn_t *c, const fl_nc_key_t *k, const fl_nc_put_opts_t *o,
              const void *data, uint64_t len, int *existed, fl_errmsg_t *em) {
  struct iovec iov = {(void *)data, len};
  return fl_nc_putv(c, k, o, NULL, &iov, 1, existed, em);
}

typedef struct fl__get_msg {
  Fl__FrameHeader h;
  Fl__GetFragmentArgs a;
  Fl__ObjectKey ok;
} fl__get_msg_t;

static void fl__get_build(fl__get_msg_t *m, const fl_nc_key_t *k, uint64_t off, uint64_t len) {
  fl__frame_header__init(&m->h);
  fl__get_fragment_args__init(&m->a);
  fl__okey(&m->ok, k);
  m->a.key = &m->ok;
  m->a.pg = k->pg;
  m->a.fragment_index = k->frag;
  m->a.offset = off;
  m->a.length = len;
  m->h.type = FL__MSG_TYPE__MSG_TYPE_GET_FRAGMENT;
  m->h.body_case = FL__FRAME_HEADER__BODY_GET_FRAGMENT;
  m->h.get_fragment = &m->a;
}

int fl_nc_get(fl_wire_conn_t *c, const fl_nc_key_t *k, uint64_t off, uint64_t len, void *buf,
              uint64_t cap, uint64_t *got, uint64_t *frag_size, fl_errmsg_t *em) {
  fl__get_msg_t m;
  fl__get_build(&m, k, off, len);
  int rc = fl_wire_conn_call(c, &m.h, NULL, 0, buf, cap, em);
  if (rc)
    return rc;
  const Fl__FrameHeader *r = fl_wire_conn_header(c);
  *got = r->payload_length;
  if (frag_size)
    *frag_size = r->body_case == FL__FRAME_HEADER__BODY_GET_FRAGMENT_RESULT
                     ? r->get_fragment_result->fragment_size
                     : 0;
  return 0;
}

int fl_nc_put_send(fl_wire_conn_t *c, uint64_t id, const fl_nc_key_t *k, const void *data,
                   uint64_t len, fl_errmsg_t *em) {
  fl_nc_put_msg_t m;
  fl__put_build(&m, k, NULL, NULL, len);
  m.h.request_id = id;
  struct iovec iov = {(void *)data, len};
  return fl_wire_conn_send(c, &m.h, &iov, len ? 1 : 0, em);
}

int fl_nc_get_send(fl_wire_conn_t *c, uint64_t id, const fl_nc_key_t *k, fl_errmsg_t *em) {
  fl__get_msg_t m;
  fl__get_build(&m, k, 0, 0);
  m.h.request_id = id;
  return fl_wire_conn_send(c, &m.h, NULL, 0, em);
}

int fl_nc_get_queue(fl_wire_conn_t *c, uint64_t id, const fl_nc_key_t *k, fl_errmsg_t *em) {
  fl__get_msg_t m;
  fl__get_build(&m, k, 0, 0);
  m.h.request_id = id;
  return fl_wire_conn_queue(c, &m.h, em);
}

int fl_nc_recv(fl_wire_conn_t *c, void *buf, uint64_t cap, uint64_t *id, fl_errmsg_t *em) {
  int rc = fl_wire_conn_recv(c, buf, cap, em);
  if (rc)
    return rc;
  const Fl__FrameHeader *r = fl_wire_conn_header(c);
  *id = r->request_id;
  if (!r->response)
    return fl_errf(em, FL_EPROTO, "node sent a request where a response belongs");
  if (r->status)
    return fl_errf(em, r->status, "%s failed on the node: %s", fl_wire_type_name(r->type),
                   r->error_text[0] ? r->error_text : fl_strerror(r->status));
  return 0;
}

/* One DELETE: a plain delete, or a drop at map_epoch. */
static int fl__delete(fl_wire_conn_t *c, const fl_nc_key_t *k, int all_frags, int drop,
                      uint64_t map_epoch, uint32_t *tombstoned, fl_errmsg_t *em) {
  Fl__FrameHeader h = FL__FRAME_HEADER__INIT;
  Fl__DeleteArgs a = FL__DELETE_ARGS__INIT;
  Fl__ObjectKey ok;
  fl__okey(&ok, k);
  a.key = &ok;
  a.pg = k->pg;
  a.fragment_index = k->frag;
  a.all_fragments = all_frags;
  a.drop = drop;
  h.map_epoch = map_epoch;
  h.type = FL__MSG_TYPE__MSG_TYPE_DELETE;
  h.body_case = FL__FRAME_HEADER__BODY_DELETE_FRAGMENT;
  h.delete_fragment = &a;
  int rc = fl_wire_conn_call(c, &h, NULL, 0, NULL, 0, em);
  if (rc == 0 && tombstoned) {
    const Fl__FrameHeader *r = fl_wire_conn_header(c);
    *tombstoned = r->body_case == FL__FRAME_HEADER__BODY_DELETE_RESULT
                      ? r->delete_result->tombstoned
                      : 0;
  }
  return rc;
}

int fl_nc_delete(fl_wire_conn_t *c, const fl_nc_key_t *k, int all_frags, uint32_t *tombstoned,
                 fl_errmsg_t *em) {
  return fl__delete(c, k, all_frags, 0, 0, tombstoned, em);
}

int fl_nc_drop(fl_wire_conn_t *c, const fl_nc_key_t *k, uint64_t map_epoch, uint32_t *dropped,
               fl_errmsg_t *em) {
  return fl__delete(c, k, 0, 1, map_epoch, dropped, em);
}

/* Runs the LIST of a (prefix and flags filled by the caller) page after
 * page, calling fn for each entry. */
static int fl__list_pages(fl_wire_conn_t *c, Fl__ListArgs *a, fl_nc_list_fn fn, void *arg,
                          uint64_t *count, fl_errmsg_t *em) {
  uint8_t token[512];
  size_t token_len = 0;
  *count = 0;
  for (;;) {
    Fl__FrameHeader h = FL__FRAME_HEADER__INIT;
    a->page_token.data = token;
    a->page_token.len = token_len;
    h.type = FL__MSG_TYPE__MSG_TYPE_LIST;
    h.body_case = FL__FRAME_HEADER__BODY_LIST;
    h.list = a;
    int rc = fl_wire_conn_call(c, &h, NULL, 0, NULL, 0, em);
    if (rc)
      return rc;
    const Fl__FrameHeader *r = fl_wire_conn_header(c);
    size_t plen = 0;
    const void *p = fl_wire_conn_payload(c, &plen);
    Fl__ListPage *page = fl__list_page__unpack(NULL, plen, p);
    if (!page)
      return fl_errf(em, FL_EPROTO, "node sent a list page that does not decode");
    for (size_t i = 0; i < page->n_entries && rc == 0; i++) {
      (*count)++;
      if (fn)
        rc = fn(arg, page->entries[i]);
    }
    fl__list_page__free_unpacked(page, NULL);
    if (rc)
      return rc;
    if (r->body_case != FL__FRAME_HEADER__BODY_LIST_RESULT ||
        r->list_result->next_page_token.len == 0)
      return 0;
    if (r->list_result->next_page_token.len > sizeof token)
      return fl_errf(em, FL_EPROTO, "node sent an oversized page token");
    token_len = r->list_result->next_page_token.len;
    memcpy(token, r->list_result->next_page_token.data, token_len);
  }
}

int fl_nc_list(fl_wire_conn_t *c, const fl_nc_key_t *k, uint32_t page_size, fl_nc_list_fn fn,
               void *arg, uint64_t *count, fl_errmsg_t *em) {
  Fl__ListArgs a = FL__LIST_ARGS__INIT;
  Fl__ObjectKey ok;
  fl__okey(&ok, k);
  a.prefix = &ok;
  a.pg = k->pg;
  a.max_entries = page_size;
  return fl__list_pages(c, &a, fn, arg, count, em);
}

int fl_nc_list_pg(fl_wire_conn_t *c, uint32_t pg, int include_tombstones, uint32_t page_size,
                  fl_nc_list_fn fn, void *arg, uint64_t *count, fl_errmsg_t *em) {
  Fl__ListArgs a = FL__LIST_ARGS__INIT;
  a.pg = pg;
  a.whole_pg = 1;
  a.include_tombstones = include_tombstones != 0;
  a.max_entries = page_size;
  return fl__list_pages(c, &a, fn, arg, count, em);
}

int fl_nc_stat(fl_wire_conn_t *c, Fl__StatResult *out, fl_errmsg_t *em) {
  Fl__FrameHeader h = FL__FRAME_HEADER__INIT;
  h.type = FL__MSG_TYPE__MSG_TYPE_STAT;
  int rc = fl_wire_conn_call(c, &h, NULL, 0, NULL, 0, em);
  if (rc)
    return rc;
  const Fl__FrameHeader *r = fl_wire_conn_header(c);
  fl__stat_result__init(out);
  if (r->body_case == FL__FRAME_HEADER__BODY_STAT_RESULT) {
    *out = *r->stat_result;
    out->base = (ProtobufCMessage)PROTOBUF_C_MESSAGE_INIT(&fl__stat_result__descriptor);
    out->repair = NULL; /* freed with the response */
  }
  return 0;
}

static int fl__varint(const uint8_t *p, size_t len, size_t *i, uint64_t *v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*i >= len)
      return -1;
    uint8_t b = p[(*i)++];
    *v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80))
      return 0;
  }
  return -1;
}

/* Counts the top-level field-1 records (PgStat entries) of a PgStatList by
 * walking its tags, so the entry count is bounded before protobuf-c
 * allocates anything. -1 if the framing is broken. */
static int fl__pg_stats_count(const uint8_t *p, size_t len, uint64_t *count) {
  size_t i = 0;
  uint64_t key, v;
  *count = 0;
  while (i < len) {
    if (fl__varint(p, len, &i, &key))
      return -1;
    switch (key & 7) {
    case 0:
      if (fl__varint(p, len, &i, &v))
        return -1;
      break;
    case 1:
    case 5: {
      size_t w = (key & 7) == 1 ? 8 : 4;
      if (len - i < w)
        return -1;
      i += w;
      break;
    }
    case 2:
      if (fl__varint(p, len, &i, &v) || v > len - i)
        return -1;
      i += (size_t)v;
      if ((key >> 3) == 1)
        (*count)++;
      break;
    default:
      return -1;
    }
  }
  return 0;
}

int fl_nc_pg_stats_decode(const uint8_t *payload, size_t len, fl_nc_pg_stat_t **out,
                          size_t *n, fl_errmsg_t *em) {
  *out = NULL;
  *n = 0;
  if (len == 0)
    return 0;
  uint64_t entries = 0;
  if (fl__pg_stats_count(payload, len, &entries) != 0)
    return fl_errf(em, FL_EPROTO, "PG_STATS payload of %zu bytes is not a PgStatList (broken "
                   "field framing)", len);
  if (entries > FL_NC_PG_STATS_MAX)
    return fl_errf(em, FL_EPROTO, "PG_STATS payload has %" PRIu64 " entries (at most %u)",
                   entries, FL_NC_PG_STATS_MAX);
  Fl__PgStatList *l = fl__pg_stat_list__unpack(NULL, len, payload);
  if (!l)
    return fl_errf(em, FL_EPROTO, "PG_STATS payload of %zu bytes does not decode as a PgStatList",
                   len);
  int rc = 0;
  fl_nc_pg_stat_t *a = NULL;
  if (l->n_stats > FL_NC_PG_STATS_MAX) {
    rc = fl_errf(em, FL_EPROTO, "PG_STATS payload has %zu entries (at most %u)", l->n_stats,
                 FL_NC_PG_STATS_MAX);
    goto out;
  }
  if (l->n_stats == 0)
    goto out;
  a = malloc(l->n_stats * sizeof *a);
  if (!a) {
    rc = -ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < l->n_stats; i++) {
    const Fl__PgStat *e = l->stats[i];
    if (e->fragment_index >= FL_NC_FRAG_MAX) {
      rc = fl_errf(em, FL_EPROTO, "PG_STATS entry %zu (pg %u) has fragment index %u (at most %u)",
                   i, e->pg, e->fragment_index, FL_NC_FRAG_MAX - 1);
      goto out;
    }
    const fl_nc_pg_stat_t *prev = i ? &a[i - 1] : NULL;
    if (prev && (e->pg < prev->pg || (e->pg == prev->pg && e->fragment_index <= prev->frag))) {
      int dup = e->pg == prev->pg && e->fragment_index == prev->frag;
      rc = fl_errf(em, FL_EPROTO,
                   "PG_STATS entry %zu (pg %u, fragment %u) %s the previous one (pg %u, "
                   "fragment %u)",
                   i, e->pg, e->fragment_index, dup ? "repeats" : "is out of order after",
                   prev->pg, prev->frag);
      goto out;
    }
    a[i].pg = e->pg;
    a[i].frag = (uint16_t)e->fragment_index;
    a[i].ec_count = e->ec_count;
    a[i].ec_digest = e->ec_digest;
    a[i].replica_count = e->replica_count;
    a[i].replica_digest = e->replica_digest;
    a[i].bytes = e->bytes;
  }
  *out = a;
  *n = l->n_stats;
  a = NULL;
out:
  free(a);
  fl__pg_stat_list__free_unpacked(l, NULL);
  return rc;
}

int fl_nc_pg_stats(fl_wire_conn_t *c, fl_nc_pg_stat_t **out, size_t *n, fl_errmsg_t *em) {
  *out = NULL;
  *n = 0;
  Fl__FrameHeader h = FL__FRAME_HEADER__INIT;
  h.type = FL__MSG_TYPE__MSG_TYPE_PG_STATS;
  int rc = fl_wire_conn_call(c, &h, NULL, 0, NULL, 0, em);
  if (rc)
    return rc;
  size_t plen = 0;
  const void *p = fl_wire_conn_payload(c, &plen);
  if ((rc = fl_nc_pg_stats_decode(p, plen, out, n, em)) != 0)
    return rc;
  const Fl__FrameHeader *r = fl_wire_conn_header(c);
  if (r->body_case == FL__FRAME_HEADER__BODY_PG_STATS_RESULT && r->pg_stats_result->count != *n) {
    free(*out);
    *out = NULL;
    rc = fl_errf(em, FL_EPROTO, "node says %u PG summaries but sent %zu",
                 r->pg_stats_result->count, *n);
    *n = 0;
  }
  return rc;
}
