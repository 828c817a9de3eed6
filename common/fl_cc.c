/* Blocking coordinator calls: one request header per RPC, one
 * fl_wire_conn_call, then the result copied out (maps decoded with the
 * one map codec). */
#include "fl_cc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_map_codec.h"

int fl_cc_register(fl_wire_conn_t *c, const fl_cc_reg_t *r, uint32_t *id, uint64_t *epoch,
                   uint32_t *hb_ms, fl_errmsg_t *em) {
  Fl__FrameHeader h = FL__FRAME_HEADER__INIT;
  Fl__RegisterNodeArgs a = FL__REGISTER_NODE_ARGS__INIT;
  a.node_id = r->id;
  a.address = (char *)r->addr;
  a.datacenter = (char *)r->dc;
  a.rack = (char *)r->rack;
  a.capacity_bytes = r->capacity_bytes;
  a.software_version = (char *)(r->version ? r->version : "");
  h.type = FL__MSG_TYPE__MSG_TYPE_REGISTER_NODE;
  h.body_case = FL__FRAME_HEADER__BODY_REGISTER_NODE;
  h.register_node = &a;
  int rc = fl_wire_conn_call(c, &h, NULL, 0, NULL, 0, em);
  if (rc)
    return rc;
  const Fl__FrameHeader *resp = fl_wire_conn_header(c);
  if (resp->body_case != FL__FRAME_HEADER__BODY_REGISTER_NODE_RESULT)
    return fl_errf(em, FL_EPROTO, "REGISTER_NODE response without its result");
  *id = resp->register_node_result->node_id;
  *epoch = resp->register_node_result->map_epoch;
  *hb_ms = resp->register_node_result->heartbeat_interval_ms;
  return 0;
}

void fl_cc_repair_to_pb(const fl_cc_repair_t *r, Fl__RepairProgress *pb) {
  fl__repair_progress__init(pb);
  pb->pgs_led = r->pgs_led;
  pb->pgs_degraded = r->pgs_degraded;
  pb->min_survivors = r->min_survivors;
  pb->bytes_left = r->bytes_left;
  pb->fragments_left = r->fragments_left;
  pb->rate_bytes_per_s = r->rate_bytes_per_s;
  pb->bytes_done = r->bytes_done;
  pb->fragments_rebuilt = r->fragments_rebuilt;
  pb->fragments_copied = r->fragments_copied;
  pb->fragments_dropped = r->fragments_dropped;
  pb->deletes_propagated = r->deletes_propagated;
  pb->epoch = r->epoch;
  pb->passes = r->passes;
}

void fl_cc_repair_from_pb(const Fl__RepairProgress *pb, fl_cc_repair_t *r) {
  memset(r, 0, sizeof *r);
  if (!pb)
    return;
  r->pgs_led = pb->pgs_led;
  r->pgs_degraded = pb->pgs_degraded;
  r->min_survivors = pb->min_survivors;
  r->bytes_left = pb->bytes_left;
  r->fragments_left = pb->fragments_left;
  r->rate_bytes_per_s = pb->rate_bytes_per_s;
  r->bytes_done = pb->bytes_done;
  r->fragments_rebuilt = pb->fragments_rebuilt;
  r->fragments_copied = pb->fragments_copied;
  r->fragments_dropped = pb->fragments_dropped;
  r->deletes_propagated = pb->deletes_propagated;
  r->epoch = pb->epoch;
  r->passes = pb->passes;
}

void fl_cc_repair_add(fl_cc_repair_t *a, const fl_cc_repair_t *b) {
  a->pgs_led += b->pgs_led;
  a->pgs_degraded += b->pgs_degraded;
  if (b->min_survivors && (!a->min_survivors || b->min_survivors < a->min_survivors))
    a->min_survivors = b->min_survivors;
  a->bytes_left += b->bytes_left;
  a->fragments_left += b->fragments_left;
  a->rate_bytes_per_s += b->rate_bytes_per_s;
  a->bytes_done += b->bytes_done;
  a->fragments_rebuilt += b->fragments_rebuilt;
  a->fragments_copied += b->fragments_copied;
  a->fragments_dropped += b->fragments_dropped;
  a->deletes_propagated += b->deletes_propagated;
  if (b->epoch > a->epoch)
    a->epoch = b->epoch;
  a->passes += b->passes;
}

int fl_cc_heartbeat(fl_wire_conn_t *c, const fl_cc_hb_t *hb, uint64_t *epoch, fl_errmsg_t *em) {
  Fl__FrameHeader h = FL__FRAME_HEADER__INIT;
  Fl__HeartbeatArgs a = FL__HEARTBEAT_ARGS__INIT;
  a.node_id = hb->id;
  a.capacity_bytes = hb->capacity_bytes;
  a.used_bytes = hb->used_bytes;
  a.objects = hb->objects;
  a.corrupt_fragments = hb->corrupt;
  Fl__RepairProgress rp;
  fl_cc_repair_to_pb(&hb->repair, &rp);
  a.repair = &rp;
  h.type = FL__MSG_TYPE__MSG_TYPE_HEARTBEAT;
  h.body_case = FL__FRAME_HEADER__BODY_HEARTBEAT;
  h.heartbeat = &a;
  int rc = fl_wire_conn_call(c, &h, NULL, 0, NULL, 0, em);
  if (rc)
    return rc;
  const Fl__FrameHeader *resp = fl_wire_conn_header(c);
  if (resp->body_case != FL__FRAME_HEADER__BODY_HEARTBEAT_RESULT)
    return fl_errf(em, FL_EPROTO, "HEARTBEAT response without its result");
  *epoch = resp->heartbeat_result->map_epoch;
  return 0;
}

int fl_cc_get_map(fl_wire_conn_t *c, uint64_t known_epoch, uint32_t wait_ms, fl_map_t *map,
                  int *changed, fl_errmsg_t *em) {
  *changed = 0;
  Fl__FrameHeader h = FL__FRAME_HEADER__INIT;
  Fl__GetMapArgs a = FL__GET_MAP_ARGS__INIT;
  a.known_epoch = known_epoch;
  a.wait_ms = wait_ms;
  h.type = wait_ms ? FL__MSG_TYPE__MSG_TYPE_WATCH_MAP : FL__MSG_TYPE__MSG_TYPE_GET_MAP;
  h.body_case = FL__FRAME_HEADER__BODY_GET_MAP;
  h.get_map = &a;
  int rc = fl_wire_conn_call(c, &h, NULL, 0, NULL, 0, em);
  if (rc)
    return rc;
  const Fl__FrameHeader *resp = fl_wire_conn_header(c);
  if (resp->body_case != FL__FRAME_HEADER__BODY_GET_MAP_RESULT)
    return fl_errf(em, FL_EPROTO, "GET_MAP response without its result");
  if (resp->get_map_result->unchanged)
    return 0;
  size_t len = 0;
  const uint8_t *p = fl_wire_conn_payload(c, &len);
  if ((rc = fl_map_decode(p, len, map, em)) != 0)
    return fl_errprefix(em, rc, "cluster map from the coordinator");
  if (map->epoch != resp->get_map_result->epoch) {
    rc = fl_errf(em, FL_EPROTO, "GET_MAP result says epoch %llu, its map is at %llu",
                 (unsigned long long)resp->get_map_result->epoch,
                 (unsigned long long)map->epoch);
    fl_map_free(map);
    return rc;
  }
  *changed = 1;
  return 0;
}

int fl_cc_list_decode(const uint8_t *payload, uint64_t len, uint64_t map_len, fl_map_t *map,
                      fl_cc_status_t **st, uint32_t *n, fl_errmsg_t *em) {
  *st = NULL;
  *n = 0;
  if (map_len > len)
    return fl_errf(em, FL_EPROTO, "node list: map length %llu exceeds the payload (%llu bytes)",
                   (unsigned long long)map_len, (unsigned long long)len);
  int rc = fl_map_decode(payload, (size_t)map_len, map, em);
  if (rc)
    return fl_errprefix(em, rc, "node list: cluster map");
  Fl__NodeStatusList *l =
      fl__node_status_list__unpack(NULL, (size_t)(len - map_len), payload + map_len);
  if (!l) {
    fl_map_free(map);
    return fl_errf(em, FL_EPROTO, "node list: the status list (%llu bytes) does not decode",
                   (unsigned long long)(len - map_len));
  }
  fl_cc_status_t *out = calloc(l->n_nodes ? l->n_nodes : 1, sizeof *out);
  if (!out) {
    fl__node_status_list__free_unpacked(l, NULL);
    fl_map_free(map);
    return fl_errf(em, -ENOMEM, "node list: out of memory");
  }
  for (size_t i = 0; i < l->n_nodes; i++) {
    const Fl__NodeStatus *s = l->nodes[i];
    out[i].id = s->id;
    out[i].capacity_bytes = s->capacity_bytes;
    out[i].used_bytes = s->used_bytes;
    out[i].objects = s->objects;
    out[i].corrupt = s->corrupt_fragments;
    out[i].last_seen_ms_ago = s->last_seen_ms_ago;
    out[i].seen = s->seen;
    out[i].auto_out = s->auto_out;
    snprintf(out[i].version, sizeof out[i].version, "%s",
             s->software_version ? s->software_version : "");
    fl_cc_repair_from_pb(s->repair, &out[i].repair);
  }
  *n = (uint32_t)l->n_nodes;
  *st = out;
  fl__node_status_list__free_unpacked(l, NULL);
  return 0;
}

int fl_cc_list(fl_wire_conn_t *c, fl_map_t *map, fl_cc_status_t **st, uint32_t *n,
               fl_errmsg_t *em) {
  Fl__FrameHeader h = FL__FRAME_HEADER__INIT;
  h.type = FL__MSG_TYPE__MSG_TYPE_ADMIN_LIST_NODES;
  int rc = fl_wire_conn_call(c, &h, NULL, 0, NULL, 0, em);
  if (rc)
    return rc;
  const Fl__FrameHeader *resp = fl_wire_conn_header(c);
  if (resp->body_case != FL__FRAME_HEADER__BODY_ADMIN_RESULT)
    return fl_errf(em, FL_EPROTO, "ADMIN_LIST_NODES response without its result");
  size_t len = 0;
  const uint8_t *p = fl_wire_conn_payload(c, &len);
  return fl_cc_list_decode(p, len, resp->admin_result->map_length, map, st, n, em);
}

static int fl__admin(fl_wire_conn_t *c, Fl__FrameHeader *h, uint64_t *epoch, fl_errmsg_t *em) {
  int rc = fl_wire_conn_call(c, h, NULL, 0, NULL, 0, em);
  if (rc)
    return rc;
  const Fl__FrameHeader *resp = fl_wire_conn_header(c);
  if (resp->body_case != FL__FRAME_HEADER__BODY_ADMIN_RESULT)
    return fl_errf(em, FL_EPROTO, "%s response without its result",
                   fl_wire_type_name(resp->type));
  if (epoch)
    *epoch = resp->admin_result->map_epoch;
  return 0;
}

int fl_cc_set_weight(fl_wire_conn_t *c, uint32_t id, uint32_t weight, uint64_t *epoch,
                     fl_errmsg_t *em) {
  Fl__FrameHeader h = FL__FRAME_HEADER__INIT;
  Fl__AdminSetWeightArgs a = FL__ADMIN_SET_WEIGHT_ARGS__INIT;
  a.node_id = id;
  a.weight = weight;
  h.type = FL__MSG_TYPE__MSG_TYPE_ADMIN_SET_WEIGHT;
  h.body_case = FL__FRAME_HEADER__BODY_ADMIN_SET_WEIGHT;
  h.admin_set_weight = &a;
  return fl__admin(c, &h, epoch, em);
}

int fl_cc_mark(fl_wire_conn_t *c, uint32_t id, int out, uint64_t *epoch, fl_errmsg_t *em) {
  Fl__FrameHeader h = FL__FRAME_HEADER__INIT;
  Fl__AdminMarkArgs a = FL__ADMIN_MARK_ARGS__INIT;
  a.node_id = id;
  a.out = out != 0;
  h.type = FL__MSG_TYPE__MSG_TYPE_ADMIN_MARK;
  h.body_case = FL__FRAME_HEADER__BODY_ADMIN_MARK;
  h.admin_mark = &a;
  return fl__admin(c, &h, epoch, em);
}

int fl_cc_remove(fl_wire_conn_t *c, uint32_t id, uint64_t *epoch, fl_errmsg_t *em) {
  Fl__FrameHeader h = FL__FRAME_HEADER__INIT;
  Fl__AdminRemoveNodeArgs a = FL__ADMIN_REMOVE_NODE_ARGS__INIT;
  a.node_id = id;
  h.type = FL__MSG_TYPE__MSG_TYPE_ADMIN_REMOVE_NODE;
  h.body_case = FL__FRAME_HEADER__BODY_ADMIN_REMOVE_NODE;
  h.admin_remove_node = &a;
  return fl__admin(c, &h, epoch, em);
}

int fl_cc_set_policy(fl_wire_conn_t *c, const fl_map_policy_t *p, uint64_t expect_epoch,
                     uint64_t *epoch, fl_errmsg_t *em) {
  Fl__FrameHeader h = FL__FRAME_HEADER__INIT;
  Fl__AdminSetPolicyArgs a = FL__ADMIN_SET_POLICY_ARGS__INIT;
  char *dcs[FL_MAP_DC_MAX];
  a.k = p->k;
  a.m = p->m;
  a.pg_count = p->pg_count;
  a.small_threshold = p->small_threshold;
  a.min_write = p->min_write;
  a.repl_mode = p->repl_mode;
  a.expect_epoch = expect_epoch;
  uint32_t n = p->dc_count > FL_MAP_DC_MAX ? FL_MAP_DC_MAX : p->dc_count;
  for (uint32_t i = 0; i < n; i++)
    dcs[i] = (char *)p->dcs[i];
  a.n_datacenters = n;
  a.datacenters = dcs;
  h.type = FL__MSG_TYPE__MSG_TYPE_ADMIN_SET_POLICY;
  h.body_case = FL__FRAME_HEADER__BODY_ADMIN_SET_POLICY;
  h.admin_set_policy = &a;
  return fl__admin(c, &h, epoch, em);
}
