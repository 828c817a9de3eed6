/* Blocking node calls: build the request header for each RPC, run one
 * fl_wire_conn_call, and copy out what the response says. */
#include "fl_nc.h"

#include <errno.h>
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

int fl_nc_putv(fl_wire_conn_t *c, const fl_nc_key_t *k, const fl_nc_put_opts_t *o,
               const fl_nc_put_ext_t *x, const struct iovec *iov, int iovcnt, int *existed,
               fl_errmsg_t *em) {
  Fl__FrameHeader h = FL__FRAME_HEADER__INIT;
  Fl__PutFragmentArgs a = FL__PUT_FRAGMENT_ARGS__INIT;
  Fl__ObjectKey ok;
  Fl__Attribute at[5], *ap[5];
  size_t na = 0;
  uint64_t len = 0;
  for (int i = 0; i < iovcnt; i++)
    len += iov[i].iov_len;
  fl__okey(&ok, k);
  a.key = &ok;
  a.pg = k->pg;
  a.fragment_index = k->frag;
  a.object_size = len;
  const struct {
    uint32_t tag;
    const char *v;
  } attrs[5] = {{0x00080060u, o ? o->modality : NULL},
                {0x00080016u, o ? o->sop_class : NULL},
                {0x00080020u, o ? o->study_date : NULL},
                {0x00200011u, x ? x->series_number : NULL},
                {0x00200013u, x ? x->instance_number : NULL}};
  if (o) {
    a.layout = o->layout;
    a.object_size = o->object_size;
  }
  if (x) {
    a.ec_k = x->ec_k;
    a.ec_m = x->ec_m;
  }
  for (int i = 0; i < 5; i++)
    if (attrs[i].v && attrs[i].v[0]) {
      fl__attribute__init(&at[na]);
      at[na].tag = attrs[i].tag;
      at[na].value.data = (uint8_t *)attrs[i].v;
      at[na].value.len = strlen(attrs[i].v);
      ap[na] = &at[na];
      na++;
    }
  a.attrs = ap;
  a.n_attrs = na;
  h.type = FL__MSG_TYPE__MSG_TYPE_PUT_FRAGMENT;
  h.body_case = FL__FRAME_HEADER__BODY_PUT_FRAGMENT;
  h.put_fragment = &a;
  int rc = fl_wire_conn_call(c, &h, iov, len ? iovcnt : 0, NULL, 0, em);
  if (rc == 0 && existed) {
    const Fl__FrameHeader *r = fl_wire_conn_header(c);
    *existed = r->body_case == FL__FRAME_HEADER__BODY_PUT_FRAGMENT_RESULT &&
               r->put_fragment_result->existed;
  }
  return rc;
}

int fl_nc_put(fl_wire_conn_t *c, const fl_nc_key_t *k, const fl_nc_put_opts_t *o,
              const void *data, uint64_t len, int *existed, fl_errmsg_t *em) {
  struct iovec iov = {(void *)data, len};
  return fl_nc_putv(c, k, o, NULL, &iov, 1, existed, em);
}

int fl_nc_get(fl_wire_conn_t *c, const fl_nc_key_t *k, uint64_t off, uint64_t len, void *buf,
              uint64_t cap, uint64_t *got, uint64_t *frag_size, fl_errmsg_t *em) {
  Fl__FrameHeader h = FL__FRAME_HEADER__INIT;
  Fl__GetFragmentArgs a = FL__GET_FRAGMENT_ARGS__INIT;
  Fl__ObjectKey ok;
  fl__okey(&ok, k);
  a.key = &ok;
  a.pg = k->pg;
  a.fragment_index = k->frag;
  a.offset = off;
  a.length = len;
  h.type = FL__MSG_TYPE__MSG_TYPE_GET_FRAGMENT;
  h.body_case = FL__FRAME_HEADER__BODY_GET_FRAGMENT;
  h.get_fragment = &a;
  int rc = fl_wire_conn_call(c, &h, NULL, 0, buf, cap, em);
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

int fl_nc_delete(fl_wire_conn_t *c, const fl_nc_key_t *k, int all_frags, uint32_t *tombstoned,
                 fl_errmsg_t *em) {
  Fl__FrameHeader h = FL__FRAME_HEADER__INIT;
  Fl__DeleteArgs a = FL__DELETE_ARGS__INIT;
  Fl__ObjectKey ok;
  fl__okey(&ok, k);
  a.key = &ok;
  a.pg = k->pg;
  a.fragment_index = k->frag;
  a.all_fragments = all_frags;
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

int fl_nc_list(fl_wire_conn_t *c, const fl_nc_key_t *k, uint32_t page_size, fl_nc_list_fn fn,
               void *arg, uint64_t *count, fl_errmsg_t *em) {
  uint8_t token[512];
  size_t token_len = 0;
  *count = 0;
  for (;;) {
    Fl__FrameHeader h = FL__FRAME_HEADER__INIT;
    Fl__ListArgs a = FL__LIST_ARGS__INIT;
    Fl__ObjectKey ok;
    fl__okey(&ok, k);
    a.prefix = &ok;
    a.pg = k->pg;
    a.max_entries = page_size;
    a.page_token.data = token;
    a.page_token.len = token_len;
    h.type = FL__MSG_TYPE__MSG_TYPE_LIST;
    h.body_case = FL__FRAME_HEADER__BODY_LIST;
    h.list = &a;
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
  }
  return 0;
}
