/* The coordinator's server: the generic wire server (common/fl_srv.h) with
 * every request handled on the loop thread. The work is small (a map of a
 * few hundred KB at most, encoded once per epoch) and ordering is then
 * free: changes apply one at a time. A change is persisted (synced RocksDB
 * batch) before it is committed and before anyone hears of it; that write
 * blocks the loop for about one fsync, which only changes pay. A timer
 * applies the grace periods and ends WATCH_MAP long polls that ran out. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "fl_coord.h"
#include "fl_coord_db.h"
#include "fl_coord_state.h"
#include "fl_log.h"
#include "fl_map_codec.h"
#include "fl_srv.h"
#include "fl_wire.h"

#define FL__TICK_MS 100

typedef struct fl__watch {
  fl_srv_req_t *req;
  uint64_t known_epoch;
  uint64_t deadline_ms;
  struct fl__watch *next;
} fl__watch_t;

typedef struct fl__coord {
  fl_srv_t *srv;
  const fl_coord_cfg_t *cfg;
  fl_coord_db_t *db;
  fl_coord_state_t st;
  uint8_t *map_buf;            /* fl_map_encode of st.map, what GET_MAP serves */
  size_t map_len;
  uv_timer_t tick;
  fl__watch_t *watches;        /* open WATCH_MAP requests */
} fl__coord_t;

static uint64_t fl__now(fl__coord_t *c) { return uv_now(fl_srv_loop(c->srv)); }

/* ---- responses -------------------------------------------------------------- */

static void fl__respond(fl__coord_t *c, fl_srv_req_t *req, const Fl__FrameHeader *h, int rc,
                        const fl_errmsg_t *em, Fl__FrameHeader *resp, void *payload,
                        uint64_t len) {
  if (rc) {
    fl_wire_response_init(resp, h, rc, fl_errmsg_str(em, rc));
    resp->body_case = FL__FRAME_HEADER__BODY__NOT_SET;
    free(payload);
    payload = NULL;
    len = 0;
  }
  resp->map_epoch = c->st.map.epoch;
  fl_srv_req_respond(req, resp, payload, len);
}

static void *fl__map_copy(fl__coord_t *c) {
  void *p = malloc(c->map_len);
  if (p)
    memcpy(p, c->map_buf, c->map_len);
  return p;
}

static void fl__watch_answer(fl__coord_t *c, fl__watch_t *w) {
  const Fl__FrameHeader *h = fl_srv_req_header(w->req);
  Fl__FrameHeader resp = FL__FRAME_HEADER__INIT;
  Fl__GetMapResult r = FL__GET_MAP_RESULT__INIT;
  fl_wire_response_init(&resp, h, 0, NULL);
  resp.body_case = FL__FRAME_HEADER__BODY_GET_MAP_RESULT;
  resp.get_map_result = &r;
  r.epoch = c->st.map.epoch;
  void *payload = NULL;
  uint64_t len = 0;
  if (c->st.map.epoch == w->known_epoch) {
    r.unchanged = 1;
  } else if (!(payload = fl__map_copy(c))) {
    fl_srv_req_drop(w->req);
    return;
  } else {
    len = c->map_len;
  }
  fl__respond(c, w->req, h, 0, NULL, &resp, payload, len);
}

/* Answers the watches that can be answered: all of them when force. */
static void fl__watches_run(fl__coord_t *c, int force) {
  uint64_t now = fl__now(c);
  fl__watch_t **pp = &c->watches;
  while (*pp) {
    fl__watch_t *w = *pp;
    if (force || w->known_epoch != c->st.map.epoch || now >= w->deadline_ms ||
        fl_srv_req_conn_closed(w->req)) {
      *pp = w->next;
      fl__watch_answer(c, w);
      free(w);
    } else {
      pp = &w->next;
    }
  }
}

/* ---- applying changes --------------------------------------------------------- */

static int fl__encode_map(fl__coord_t *c, fl_errmsg_t *em) {
  size_t cap = fl_map_encoded_size(&c->st.map), len = 0;
  uint8_t *buf = malloc(cap);
  if (!buf)
    return fl_errf(em, -ENOMEM, "encoding the cluster map: out of memory");
  int rc = fl_map_encode(&c->st.map, buf, cap, &len, em);
  if (rc) {
    free(buf);
    return rc;
  }
  free(c->map_buf);
  c->map_buf = buf;
  c->map_len = len;
  return 0;
}

static int fl__save(fl__coord_t *c, const fl_map_t *map, uint32_t next_id, fl_errmsg_t *em) {
  uint32_t n = fl_coord_auto_out(&c->st, NULL, 0);
  uint32_t *ids = malloc((n ? n : 1) * sizeof *ids);
  if (!ids)
    return fl_errf(em, -ENOMEM, "saving the cluster map: out of memory");
  fl_coord_auto_out(&c->st, ids, n);
  int rc = fl_coord_db_save(c->db, map, next_id, ids, n, em);
  free(ids);
  return rc;
}

/* rc is what a fl_coord_* change returned: persist and commit a proposal,
 * tell the watchers. Returns 0 or the error for the requester. */
static int fl__apply(fl__coord_t *c, int rc, const char *what, fl_errmsg_t *em) {
  if (rc <= 0)
    return rc;
  rc = fl__save(c, &c->st.next, c->st.next_next_id, em);
  if (rc) {
    fl_coord_abort(&c->st);
    fl_error("coord", "%s: cannot persist epoch %" PRIu64 ", change dropped: %s", what,
             c->st.map.epoch + 1, fl_errmsg_str(em, rc));
    return rc;
  }
  fl_coord_commit(&c->st);
  fl_errmsg_t em2 = {{0}};
  if ((rc = fl__encode_map(c, &em2)) != 0)
    fl_error("coord", "cannot encode epoch %" PRIu64 ": %s", c->st.map.epoch,
             fl_errmsg_str(&em2, rc));
  fl_info("coord", "epoch %" PRIu64 ": %s", c->st.map.epoch, what);
  fl__watches_run(c, 0);
  return 0;
}

static void fl__on_tick(uv_timer_t *t) {
  fl__coord_t *c = t->data;
  fl_errmsg_t em = {{0}};
  uint32_t held = 0;
  int rc = fl_coord_tick(&c->st, fl__now(c), &held, &em);
  if (rc < 0)
    fl_error("coord", "grace-period check failed: %s", fl_errmsg_str(&em, rc));
  else
    fl__apply(c, rc, "grace periods: nodes marked down or out", &em);
  static uint64_t last_warn;
  if (held && fl__now(c) - last_warn > 60000) {
    last_warn = fl__now(c);
    fl_warn("coord", "%u silent node(s) kept in: marking them out would leave a datacenter "
            "below k+m usable nodes", held);
  }
  fl__watches_run(c, 0);
}

/* ---- handlers ------------------------------------------------------------------- */

static void fl__h_register(fl__coord_t *c, fl_srv_req_t *req, const Fl__FrameHeader *h) {
  Fl__FrameHeader resp = FL__FRAME_HEADER__INIT;
  Fl__RegisterNodeResult r = FL__REGISTER_NODE_RESULT__INIT;
  fl_errmsg_t em = {{0}};
  int rc;
  if (h->body_case != FL__FRAME_HEADER__BODY_REGISTER_NODE) {
    rc = fl_errf(&em, FL_EPROTO, "REGISTER_NODE without its arguments");
  } else {
    const Fl__RegisterNodeArgs *a = h->register_node;
    fl_coord_reg_t reg = {a->node_id, a->address, a->datacenter, a->rack, a->software_version,
                          a->capacity_bytes};
    uint32_t id = 0;
    char what[160];
    rc = fl_coord_register(&c->st, &reg, fl__now(c), &id, &em);
    snprintf(what, sizeof what, "node %u registered at %s (%s/%s)", rc < 0 ? 0 : id,
             a->address, a->datacenter, a->rack);
    if (rc < 0)
      fl_warn("coord", "registration of %s refused: %s", a->address, fl_errmsg_str(&em, rc));
    rc = fl__apply(c, rc, what, &em);
    r.node_id = id;
  }
  fl_wire_response_init(&resp, h, 0, NULL);
  resp.body_case = FL__FRAME_HEADER__BODY_REGISTER_NODE_RESULT;
  resp.register_node_result = &r;
  r.map_epoch = c->st.map.epoch;
  r.heartbeat_interval_ms = (uint32_t)c->cfg->heartbeat_ms;
  fl__respond(c, req, h, rc, &em, &resp, NULL, 0);
}

static void fl__h_heartbeat(fl__coord_t *c, fl_srv_req_t *req, const Fl__FrameHeader *h) {
  Fl__FrameHeader resp = FL__FRAME_HEADER__INIT;
  Fl__HeartbeatResult r = FL__HEARTBEAT_RESULT__INIT;
  fl_errmsg_t em = {{0}};
  int rc;
  if (h->body_case != FL__FRAME_HEADER__BODY_HEARTBEAT) {
    rc = fl_errf(&em, FL_EPROTO, "HEARTBEAT without its arguments");
  } else {
    const Fl__HeartbeatArgs *a = h->heartbeat;
    fl_coord_hb_t hb = {a->node_id, a->capacity_bytes, a->used_bytes, a->objects,
                        a->corrupt_fragments, {0}};
    fl_cc_repair_from_pb(a->repair, &hb.repair);
    char what[64];
    snprintf(what, sizeof what, "node %u is up again", a->node_id);
    rc = fl__apply(c, fl_coord_heartbeat(&c->st, &hb, fl__now(c), &em), what, &em);
  }
  fl_wire_response_init(&resp, h, 0, NULL);
  resp.body_case = FL__FRAME_HEADER__BODY_HEARTBEAT_RESULT;
  resp.heartbeat_result = &r;
  r.map_epoch = c->st.map.epoch;
  fl__respond(c, req, h, rc, &em, &resp, NULL, 0);
}

static void fl__h_get_map(fl__coord_t *c, fl_srv_req_t *req, const Fl__FrameHeader *h) {
  if (h->body_case != FL__FRAME_HEADER__BODY_GET_MAP) {
    Fl__FrameHeader resp = FL__FRAME_HEADER__INIT;
    fl_errmsg_t em = {{0}};
    int rc = fl_errf(&em, FL_EPROTO, "%s without its arguments", fl_wire_type_name(h->type));
    fl__respond(c, req, h, rc, &em, &resp, NULL, 0);
    return;
  }
  fl__watch_t *w = calloc(1, sizeof *w);
  if (!w) {
    fl_srv_req_drop(req);
    return;
  }
  w->req = req;
  w->known_epoch = h->get_map->known_epoch;
  uint64_t wait = h->get_map->wait_ms;
  if (wait > (uint64_t)c->cfg->watch_max_ms)
    wait = (uint64_t)c->cfg->watch_max_ms;
  /* A watch on an older epoch, a GET_MAP, or a stopping server: answer now. */
  if (h->type != FL__MSG_TYPE__MSG_TYPE_WATCH_MAP || w->known_epoch != c->st.map.epoch ||
      wait == 0 || fl_srv_stopping(c->srv)) {
    fl__watch_answer(c, w);
    free(w);
    return;
  }
  w->deadline_ms = fl__now(c) + wait;
  w->next = c->watches;
  c->watches = w;
}

static void fl__h_list(fl__coord_t *c, fl_srv_req_t *req, const Fl__FrameHeader *h) {
  Fl__FrameHeader resp = FL__FRAME_HEADER__INIT;
  Fl__AdminResult r = FL__ADMIN_RESULT__INIT;
  fl_errmsg_t em = {{0}};
  uint32_t n = c->st.map.node_count;
  Fl__NodeStatus *ns = calloc(n ? n : 1, sizeof *ns);
  Fl__NodeStatus **np = calloc(n ? n : 1, sizeof *np);
  Fl__RepairProgress *rp = calloc(n ? n : 1, sizeof *rp);
  Fl__NodeStatusList list = FL__NODE_STATUS_LIST__INIT;
  uint8_t *payload = NULL;
  uint64_t len = 0;
  int rc = 0;
  if (!ns || !np || !rp) {
    rc = fl_errf(&em, -ENOMEM, "listing nodes: out of memory");
    goto out;
  }
  uint64_t now = fl__now(c);
  for (uint32_t i = 0; i < n; i++) {
    const fl_coord_live_t *l = fl_coord_live(&c->st, c->st.map.nodes[i].id);
    fl__node_status__init(&ns[i]);
    ns[i].id = c->st.map.nodes[i].id;
    if (l) {
      ns[i].capacity_bytes = l->capacity_bytes;
      ns[i].used_bytes = l->used_bytes;
      ns[i].objects = l->objects;
      ns[i].corrupt_fragments = l->corrupt;
      ns[i].last_seen_ms_ago = now >= l->last_seen_ms ? now - l->last_seen_ms : 0;
      ns[i].seen = l->seen != 0;
      ns[i].auto_out = l->auto_out != 0;
      ns[i].software_version = (char *)l->version;
      fl_cc_repair_to_pb(&l->repair, &rp[i]);
      ns[i].repair = &rp[i];
    }
    np[i] = &ns[i];
  }
  list.n_nodes = n;
  list.nodes = np;
  size_t llen = fl__node_status_list__get_packed_size(&list);
  len = c->map_len + llen;
  payload = malloc(len ? len : 1);
  if (!payload) {
    rc = fl_errf(&em, -ENOMEM, "listing nodes: out of memory");
    goto out;
  }
  memcpy(payload, c->map_buf, c->map_len);
  fl__node_status_list__pack(&list, payload + c->map_len);
  fl_wire_response_init(&resp, h, 0, NULL);
  resp.body_case = FL__FRAME_HEADER__BODY_ADMIN_RESULT;
  resp.admin_result = &r;
  r.map_epoch = c->st.map.epoch;
  r.map_length = (uint32_t)c->map_len;
out:
  free(ns);
  free(np);
  free(rp);
  fl__respond(c, req, h, rc, &em, &resp, payload, len);
}

static void fl__h_admin(fl__coord_t *c, fl_srv_req_t *req, const Fl__FrameHeader *h) {
  Fl__FrameHeader resp = FL__FRAME_HEADER__INIT;
  Fl__AdminResult r = FL__ADMIN_RESULT__INIT;
  fl_errmsg_t em = {{0}};
  char what[128] = "";
  int rc;
  switch (h->body_case) {
  case FL__FRAME_HEADER__BODY_ADMIN_SET_WEIGHT:
    snprintf(what, sizeof what, "node %u weight set to %u", h->admin_set_weight->node_id,
             h->admin_set_weight->weight);
    rc = fl_coord_set_weight(&c->st, h->admin_set_weight->node_id, h->admin_set_weight->weight,
                             &em);
    break;
  case FL__FRAME_HEADER__BODY_ADMIN_MARK:
    snprintf(what, sizeof what, "node %u marked %s", h->admin_mark->node_id,
             h->admin_mark->out ? "out" : "in");
    rc = fl_coord_mark(&c->st, h->admin_mark->node_id, h->admin_mark->out, &em);
    break;
  case FL__FRAME_HEADER__BODY_ADMIN_REMOVE_NODE:
    snprintf(what, sizeof what, "node %u removed", h->admin_remove_node->node_id);
    rc = fl_coord_remove(&c->st, h->admin_remove_node->node_id, &em);
    break;
  case FL__FRAME_HEADER__BODY_ADMIN_SET_POLICY: {
    const Fl__AdminSetPolicyArgs *a = h->admin_set_policy;
    fl_map_policy_t p;
    memset(&p, 0, sizeof p);
    p.k = a->k;
    p.m = a->m;
    p.pg_count = a->pg_count;
    p.small_threshold = a->small_threshold;
    p.min_write = a->min_write;
    p.repl_mode = a->repl_mode;
    rc = 0;
    if (a->n_datacenters > FL_MAP_DC_MAX)
      rc = fl_errf(&em, FL_ECONFIG, "policy: %zu datacenters, at most %d", a->n_datacenters,
                   FL_MAP_DC_MAX);
    for (size_t i = 0; rc == 0 && i < a->n_datacenters; i++) {
      if (strlen(a->datacenters[i]) >= FL_MAP_NAME_MAX)
        rc = fl_errf(&em, FL_ECONFIG, "policy: datacenter name longer than %d characters",
                     FL_MAP_NAME_MAX - 1);
      else
        memcpy(p.dcs[i], a->datacenters[i], strlen(a->datacenters[i]));
    }
    p.dc_count = (uint32_t)a->n_datacenters;
    snprintf(what, sizeof what, "policy set to k=%u m=%u pg_count=%u min_write=%u", p.k, p.m,
             p.pg_count, p.min_write);
    if (rc == 0)
      rc = fl_coord_set_policy(&c->st, &p, a->expect_epoch, &em);
    break;
  }
  default:
    rc = fl_errf(&em, FL_EPROTO, "%s without its arguments", fl_wire_type_name(h->type));
    break;
  }
  if (rc < 0)
    fl_info("coord", "refused (%s): %s", what, fl_errmsg_str(&em, rc));
  rc = fl__apply(c, rc, what, &em);
  fl_wire_response_init(&resp, h, 0, NULL);
  resp.body_case = FL__FRAME_HEADER__BODY_ADMIN_RESULT;
  resp.admin_result = &r;
  r.map_epoch = c->st.map.epoch;
  fl__respond(c, req, h, rc, &em, &resp, NULL, 0);
}

static void fl__on_request(void *ctx, fl_srv_req_t *req) {
  fl__coord_t *c = ctx;
  const Fl__FrameHeader *h = fl_srv_req_header(req);
  if (!h) {
    fl_srv_req_drop(req);
    return;
  }
  switch (h->type) {
  case FL__MSG_TYPE__MSG_TYPE_PING: {
    Fl__FrameHeader resp = FL__FRAME_HEADER__INIT;
    uint64_t len = 0;
    const void *p = fl_srv_req_payload(req, &len);
    void *copy = len ? malloc(len) : NULL;
    if (len && !copy) {
      fl_srv_req_drop(req);
      return;
    }
    if (len)
      memcpy(copy, p, len);
    fl_wire_response_init(&resp, h, 0, NULL);
    fl__respond(c, req, h, 0, NULL, &resp, copy, len);
    return;
  }
  case FL__MSG_TYPE__MSG_TYPE_REGISTER_NODE:
    return fl__h_register(c, req, h);
  case FL__MSG_TYPE__MSG_TYPE_HEARTBEAT:
    return fl__h_heartbeat(c, req, h);
  case FL__MSG_TYPE__MSG_TYPE_GET_MAP:
  case FL__MSG_TYPE__MSG_TYPE_WATCH_MAP:
    return fl__h_get_map(c, req, h);
  case FL__MSG_TYPE__MSG_TYPE_ADMIN_LIST_NODES:
    return fl__h_list(c, req, h);
  case FL__MSG_TYPE__MSG_TYPE_ADMIN_SET_WEIGHT:
  case FL__MSG_TYPE__MSG_TYPE_ADMIN_MARK:
  case FL__MSG_TYPE__MSG_TYPE_ADMIN_REMOVE_NODE:
  case FL__MSG_TYPE__MSG_TYPE_ADMIN_SET_POLICY:
    return fl__h_admin(c, req, h);
  default: {
    Fl__FrameHeader resp = FL__FRAME_HEADER__INIT;
    fl_errmsg_t em = {{0}};
    int rc = fl_errf(&em, FL_EPROTO, "%s is not served by the coordinator; send it to a "
                     "storage node", fl_wire_type_name(h->type));
    fl__respond(c, req, h, rc, &em, &resp, NULL, 0);
  }
  }
}

/* ---- start and stop ----------------------------------------------------------------- */

static void fl__on_stop(void *ctx) {
  fl__coord_t *c = ctx;
  uv_timer_stop(&c->tick);
  fl__watches_run(c, 1);
}

static void fl__on_finish(void *ctx) {
  fl__coord_t *c = ctx;
  uv_close((uv_handle_t *)&c->tick, NULL);
}

static int fl__load(fl__coord_t *c, fl_errmsg_t *em) {
  fl_map_policy_t pol;
  int rc = fl_coord_cfg_policy(c->cfg, &pol, em);
  if (rc)
    return rc;
  if (mkdir(c->cfg->data, 0755) != 0 && errno != EEXIST)
    return fl_errf(em, -errno, "cannot create the data directory %s: %s", c->cfg->data,
                   strerror(errno));
  char dbdir[1100];
  snprintf(dbdir, sizeof dbdir, "%s/map.db", c->cfg->data);
  if ((rc = fl_coord_db_open(dbdir, &c->db, em)) != 0)
    return rc;
  fl_map_t map;
  int found = 0;
  uint32_t next_id = 0, *auto_out = NULL, n_auto = 0;
  if ((rc = fl_coord_db_load(c->db, &found, &map, &next_id, &auto_out, &n_auto, em)) != 0)
    return fl_errprefix(em, rc, "%s", dbdir);
  fl_coord_timing_t t = {(uint64_t)c->cfg->down_after_ms, (uint64_t)c->cfg->out_after_ms};
  rc = fl_coord_state_init(&c->st, found ? &map : NULL, &pol, next_id, auto_out, n_auto, &t,
                           fl__now(c), em);
  if (found)
    fl_map_free(&map);
  free(auto_out);
  if (rc)
    return rc;
  if (!found) {
    /* Epoch 1 is the first map anyone sees: 0 means "no map yet". */
    c->st.map.epoch = 1;
    if ((rc = fl__save(c, &c->st.map, c->st.next_id, em)) != 0)
      return rc;
    fl_info("coord", "new cluster: k=%u m=%u pg_count=%u min_write=%u, %u datacenter(s)",
            pol.k, pol.m, pol.pg_count, pol.min_write, pol.dc_count);
  } else if (memcmp(&pol, &c->st.map.policy, sizeof pol) != 0) {
    fl_info("coord", "the stored policy (k=%u m=%u pg_count=%u) differs from [policy] in the "
            "configuration, which only seeds a new cluster; use set-policy to change it",
            c->st.map.policy.k, c->st.map.policy.m, c->st.map.policy.pg_count);
  }
  return fl__encode_map(c, em);
}

int fl_coord_run(const fl_coord_cfg_t *cfg, fl_errmsg_t *em) {
  fl__coord_t *c = calloc(1, sizeof *c);
  if (!c)
    return fl_errf(em, -ENOMEM, "starting the coordinator: out of memory");
  c->cfg = cfg;
  fl_srv_opts_t o = {.name = "coord", .listen = cfg->listen,
                     .idle_timeout_ms = cfg->idle_timeout_ms, .max_inflight = 64};
  fl_srv_ops_t ops = {.on_request = fl__on_request, .on_stop = fl__on_stop,
                      .on_finish = fl__on_finish};
  int rc = fl_srv_new(&o, &ops, c, &c->srv, em);
  if (rc)
    goto fail;
  if ((rc = fl__load(c, em)) != 0)
    goto fail;
  fl_info("coord", "serving epoch %" PRIu64 " (%u nodes) from %s on %s port %d",
          c->st.map.epoch, c->st.map.node_count, cfg->data, cfg->listen.host,
          fl_srv_port(c->srv));
  uv_timer_init(fl_srv_loop(c->srv), &c->tick);
  c->tick.data = c;
  uv_timer_start(&c->tick, fl__on_tick, FL__TICK_MS, FL__TICK_MS);
  fl_srv_run(c->srv);
  uint64_t conns, reqs;
  fl_srv_counts(c->srv, &conns, &reqs);
  fl_info("coord", "stopped at epoch %" PRIu64 " after %" PRIu64 " connections and %" PRIu64
          " requests", c->st.map.epoch, conns, reqs);
  rc = 0;
fail:
  fl_srv_free(c->srv);
  fl_coord_state_free(&c->st);
  fl_coord_db_close(c->db);
  free(c->map_buf);
  free(c);
  return rc;
}
