/* Membership and map changes of the coordinator as pure functions: each
 * change copies the committed map into a proposal, edits it, checks the
 * refusal rules, and bumps the proposal's epoch; the caller persists and
 * commits it. Heartbeat figures live beside the map, keyed by node id. */
#include "fl_coord_state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FL__GIB (UINT64_C(1) << 30)

/* ---- heartbeat knowledge ---------------------------------------------------- */

static uint32_t fl__live_pos(const fl_coord_state_t *st, uint32_t id, int *found) {
  uint32_t lo = 0, hi = st->live_count;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (st->live[mid].id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = lo < st->live_count && st->live[lo].id == id;
  return lo;
}

static fl_coord_live_t *fl__live_get(fl_coord_state_t *st, uint32_t id) {
  int found;
  uint32_t at = fl__live_pos(st, id, &found);
  return found ? &st->live[at] : NULL;
}

const fl_coord_live_t *fl_coord_live(const fl_coord_state_t *st, uint32_t id) {
  return fl__live_get((fl_coord_state_t *)st, id);
}

/* Entry for id, created (unseen, last seen now) when missing. NULL: no memory. */
static fl_coord_live_t *fl__live_add(fl_coord_state_t *st, uint32_t id, uint64_t now_ms) {
  int found;
  uint32_t at = fl__live_pos(st, id, &found);
  if (found)
    return &st->live[at];
  if (st->live_count == st->live_cap) {
    uint32_t ncap = st->live_cap ? st->live_cap * 2 : 16;
    fl_coord_live_t *p = realloc(st->live, ncap * sizeof *p);
    if (!p)
      return NULL;
    st->live = p;
    st->live_cap = ncap;
  }
  memmove(&st->live[at + 1], &st->live[at], (st->live_count - at) * sizeof *st->live);
  st->live_count++;
  memset(&st->live[at], 0, sizeof st->live[at]);
  st->live[at].id = id;
  st->live[at].last_seen_ms = now_ms;
  return &st->live[at];
}

static void fl__live_remove(fl_coord_state_t *st, uint32_t id) {
  int found;
  uint32_t at = fl__live_pos(st, id, &found);
  if (!found)
    return;
  memmove(&st->live[at], &st->live[at + 1], (st->live_count - at - 1) * sizeof *st->live);
  st->live_count--;
}

/* A node the committed map says is down does no repair: whatever it
 * reported last would hang in the cluster's totals. */
static void fl__clear_down(fl_coord_state_t *st) {
  for (uint32_t i = 0; i < st->live_count; i++) {
    const fl_map_node_t *n = fl_map_find_node(&st->map, st->live[i].id);
    if (n && !(n->state & FL_NODE_UP))
      memset(&st->live[i].repair, 0, sizeof st->live[i].repair);
  }
}

uint32_t fl_coord_auto_out(const fl_coord_state_t *st, uint32_t *out, uint32_t cap) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < st->live_count; i++)
    if (st->live[i].auto_out) {
      if (n < cap)
        out[n] = st->live[i].id;
      n++;
    }
  return n;
}

/* ---- life cycle ---------------------------------------------------------------- */

int fl_coord_state_init(fl_coord_state_t *st, const fl_map_t *map, const fl_map_policy_t *policy,
                        uint32_t next_id, const uint32_t *auto_out, uint32_t n_auto,
                        const fl_coord_timing_t *timing, uint64_t now_ms, fl_errmsg_t *em) {
  memset(st, 0, sizeof *st);
  int rc = map ? fl_map_copy(&st->map, map, em) : fl_map_init(&st->map, policy, em);
  if (rc)
    return rc;
  st->timing = *timing;
  st->start_ms = now_ms;
  uint32_t max_id = 0;
  for (uint32_t i = 0; i < st->map.node_count; i++) {
    uint32_t id = st->map.nodes[i].id;
    if (id > max_id)
      max_id = id;
    if (!fl__live_add(st, id, now_ms))
      goto nomem;
  }
  st->next_id = next_id > max_id ? next_id : max_id + 1;
  for (uint32_t i = 0; i < n_auto; i++) {
    fl_coord_live_t *l = fl__live_get(st, auto_out[i]);
    const fl_map_node_t *n = fl_map_find_node(&st->map, auto_out[i]);
    if (l && n && !(n->state & FL_NODE_IN))
      l->auto_out = 1;
  }
  return 0;
nomem:
  fl_coord_state_free(st);
  return fl_errf(em, -ENOMEM, "coordinator state: out of memory");
}

void fl_coord_state_free(fl_coord_state_t *st) {
  fl_map_free(&st->map);
  if (st->has_next)
    fl_map_free(&st->next);
  free(st->live);
  memset(st, 0, sizeof *st);
}

/* ---- the refusal rule ---------------------------------------------------------------- */

static void fl__dc_counts(const fl_map_t *m, const char *dc, uint32_t *nodes, uint32_t *usable) {
  *nodes = *usable = 0;
  for (uint32_t i = 0; i < m->node_count; i++)
    if (strncmp(m->nodes[i].dc, dc, FL_MAP_NAME_MAX) == 0) {
      (*nodes)++;
      if (fl_map_node_usable(&m->nodes[i]))
        (*usable)++;
    }
}

int fl_coord_check_change(const fl_map_t *before, const fl_map_t *after, fl_errmsg_t *em) {
  uint32_t w_before = before->policy.k + before->policy.m;
  uint32_t w_after = after->policy.k + after->policy.m;
  for (uint32_t d = 0; d < after->policy.dc_count; d++) {
    const char *dc = after->policy.dcs[d];
    uint32_t n_after, u_after, n_before, u_before;
    fl__dc_counts(after, dc, &n_after, &u_after);
    if (n_after == 0 || u_after >= w_after)
      continue;
    fl__dc_counts(before, dc, &n_before, &u_before);
    /* A datacenter still filling up may grow node by node. */
    if (u_after >= u_before && w_after <= w_before)
      continue;
    return fl_errf(em, FL_EREFUSED,
                   "datacenter %s would keep %u usable node(s), fewer than k+m = %u; add nodes "
                   "or mark others in first",
                   dc, u_after, w_after);
  }
  return 0;
}

/* ---- proposals ------------------------------------------------------------------------- */

static int fl__propose(fl_coord_state_t *st, fl_errmsg_t *em) {
  if (st->has_next)
    return fl_errf(em, FL_EINTERNAL, "a map change is already pending");
  int rc = fl_map_copy(&st->next, &st->map, em);
  if (rc)
    return rc;
  st->has_next = 1;
  st->next_next_id = st->next_id;
  return 0;
}

/* Ends a proposal: an identical map is no change, a refused one is dropped. */
static int fl__finish(fl_coord_state_t *st, int rc, int check, fl_errmsg_t *em) {
  if (rc == 0 && check)
    rc = fl_coord_check_change(&st->map, &st->next, em);
  if (rc == 0 && st->next.node_count == st->map.node_count &&
      st->next.upmap_count == st->map.upmap_count &&
      memcmp(&st->next.policy, &st->map.policy, sizeof st->map.policy) == 0 &&
      (st->map.node_count == 0 ||
       memcmp(st->next.nodes, st->map.nodes, st->map.node_count * sizeof *st->map.nodes) == 0) &&
      st->next_next_id == st->next_id)
    rc = 1; /* identical: nothing to persist */
  if (rc != 0) {
    fl_coord_abort(st);
    return rc < 0 ? rc : 0;
  }
  st->next.epoch = st->map.epoch + 1;
  return 1;
}

void fl_coord_commit(fl_coord_state_t *st) {
  if (!st->has_next)
    return;
  fl_map_free(&st->map);
  st->map = st->next;
  memset(&st->next, 0, sizeof st->next);
  st->has_next = 0;
  st->next_id = st->next_next_id;
  for (uint32_t i = st->live_count; i-- > 0;)
    if (!fl_map_find_node(&st->map, st->live[i].id))
      fl__live_remove(st, st->live[i].id);
  fl__clear_down(st);
}

void fl_coord_abort(fl_coord_state_t *st) {
  if (!st->has_next)
    return;
  fl_map_free(&st->next);
  st->has_next = 0;
  /* A tick may have flagged nodes it was taking out: they are still in. */
  for (uint32_t i = 0; i < st->live_count; i++) {
    const fl_map_node_t *n = fl_map_find_node(&st->map, st->live[i].id);
    if (n && (n->state & FL_NODE_IN))
      st->live[i].auto_out = 0;
  }
  fl__clear_down(st);
}

static fl_map_node_t *fl__next_node(fl_coord_state_t *st, uint32_t id) {
  return (fl_map_node_t *)fl_map_find_node(&st->next, id);
}

static int fl__copy_field(char *dst, size_t cap, const char *src, const char *what,
                          fl_errmsg_t *em) {
  if (!src || strlen(src) >= cap)
    return fl_errf(em, FL_ECONFIG, "%s '%s' is empty or longer than %zu characters", what,
                   src ? src : "", cap - 1);
  memset(dst, 0, cap);
  memcpy(dst, src, strlen(src));
  return 0;
}

int fl_coord_register(fl_coord_state_t *st, const fl_coord_reg_t *r, uint64_t now_ms,
                      uint32_t *id_out, fl_errmsg_t *em) {
  fl_map_node_t want;
  memset(&want, 0, sizeof want);
  int rc;
  if ((rc = fl__copy_field(want.addr, sizeof want.addr, r->addr, "address", em)) ||
      (rc = fl__copy_field(want.dc, sizeof want.dc, r->dc, "datacenter", em)) ||
      (rc = fl__copy_field(want.rack, sizeof want.rack, r->rack, "rack", em)))
    return rc;
  if (!want.addr[0])
    return fl_errf(em, FL_ECONFIG, "a node registers with its address");
  if ((rc = fl__propose(st, em)) != 0)
    return rc;
  /* One address, one node: a second id at the same address is a mistake. */
  for (uint32_t i = 0; i < st->map.node_count; i++)
    if (st->map.nodes[i].id != r->id && strcmp(st->map.nodes[i].addr, want.addr) == 0) {
      rc = fl_errf(em, FL_EREFUSED, "address %s already belongs to node %u; start this node "
                   "with --id %u or give it another address", want.addr, st->map.nodes[i].id,
                   st->map.nodes[i].id);
      return fl__finish(st, rc, 0, em);
    }
  uint32_t id = r->id;
  fl_map_node_t *n = id ? fl__next_node(st, id) : NULL;
  if (id && !n && id >= st->next_id) {
    rc = fl_errf(em, FL_EREFUSED, "node id %u was never assigned by this coordinator; start "
                 "the node with --id 0 to get one", id);
    return fl__finish(st, rc, 0, em);
  }
  if (id && !n) {
    rc = fl_errf(em, FL_EREFUSED, "node %u was removed from the cluster and ids are never "
                 "reused; wipe its data directory and start it with --id 0", id);
    return fl__finish(st, rc, 0, em);
  }
  fl_coord_live_t *l;
  if (n) {
    if (strcmp(n->addr, want.addr) != 0) {
      rc = fl_errf(em, FL_EREFUSED, "node %u is registered at %s, not %s: another node "
                   "claims its id; remove node %u first if it moved", id, n->addr, want.addr, id);
      return fl__finish(st, rc, 0, em);
    }
    if (strcmp(n->dc, want.dc) != 0 || strcmp(n->rack, want.rack) != 0) {
      rc = fl_errf(em, FL_EREFUSED, "node %u is registered in %s/%s, not %s/%s; a node "
                   "does not move: remove it and register it again", id, n->dc, n->rack,
                   want.dc, want.rack);
      return fl__finish(st, rc, 0, em);
    }
    l = fl__live_get(st, id);
    n->state |= FL_NODE_UP;
    if (l && l->auto_out)
      n->state |= FL_NODE_IN;
  } else {
    id = st->next_id;
    want.id = id;
    uint64_t gib = r->capacity_bytes / FL__GIB;
    want.weight = gib == 0 ? 1 : gib > UINT32_MAX ? UINT32_MAX : (uint32_t)gib;
    want.state = FL_NODE_UP | FL_NODE_IN;
    if ((rc = fl_map_add_node(&st->next, &want, em)) != 0)
      return fl__finish(st, rc, 0, em);
    st->next_next_id = id + 1;
    l = NULL;
  }
  rc = fl__finish(st, 0, 1, em);
  if (rc < 0)
    return rc;
  /* Figures are recorded whatever happens to the map (no change = rc 0).
   * A new node's entry is made now: commit does not fail. */
  if (!(l = fl__live_add(st, id, now_ms))) {
    fl_coord_abort(st);
    return fl_errf(em, -ENOMEM, "registering node %u: out of memory", id);
  }
  l->seen = 1;
  l->auto_out = 0;
  l->last_seen_ms = now_ms;
  l->capacity_bytes = r->capacity_bytes;
  /* A (re)started node counts its repair from zero; its heartbeat says more. */
  memset(&l->repair, 0, sizeof l->repair);
  snprintf(l->version, sizeof l->version, "%s", r->version ? r->version : "");
  *id_out = id;
  return rc;
}

int fl_coord_heartbeat(fl_coord_state_t *st, const fl_coord_hb_t *hb, uint64_t now_ms,
                       fl_errmsg_t *em) {
  const fl_map_node_t *cur = fl_map_find_node(&st->map, hb->id);
  fl_coord_live_t *l = fl__live_get(st, hb->id);
  if (!cur || !l)
    return fl_errf(em, FL_ENOTFOUND, "node %u is not in the cluster map; register again",
                   hb->id);
  l->seen = 1;
  l->last_seen_ms = now_ms;
  l->capacity_bytes = hb->capacity_bytes;
  l->used_bytes = hb->used_bytes;
  l->objects = hb->objects;
  l->corrupt = hb->corrupt;
  l->repair = hb->repair;
  if (cur->state & FL_NODE_UP)
    return 0;
  int rc = fl__propose(st, em);
  if (rc)
    return rc;
  fl_map_node_t *n = fl__next_node(st, hb->id);
  n->state |= FL_NODE_UP;
  if (l->auto_out)
    n->state |= FL_NODE_IN;
  l->auto_out = 0;
  return fl__finish(st, 0, 0, em);
}

/* 1 if node n, silent since l->last_seen_ms, is due a transition at now_ms. */
static int fl__due(const fl_coord_state_t *st, const fl_map_node_t *n, const fl_coord_live_t *l,
                   uint64_t now_ms) {
  if (!l || now_ms < l->last_seen_ms)
    return 0;
  uint64_t silent = now_ms - l->last_seen_ms;
  return ((n->state & FL_NODE_UP) && silent >= st->timing.down_after_ms) ||
         ((n->state & FL_NODE_IN) && silent >= st->timing.out_after_ms);
}

int fl_coord_tick(fl_coord_state_t *st, uint64_t now_ms, uint32_t *held, fl_errmsg_t *em) {
  if (held)
    *held = 0;
  /* Called every 100 ms: copy the map only when something is due. */
  int due = 0;
  for (uint32_t i = 0; i < st->map.node_count && !due; i++)
    due = fl__due(st, &st->map.nodes[i], fl__live_get(st, st->map.nodes[i].id), now_ms);
  if (!due)
    return 0;
  int rc = fl__propose(st, em);
  if (rc)
    return rc;
  for (uint32_t i = 0; i < st->next.node_count; i++) {
    fl_map_node_t *n = &st->next.nodes[i];
    fl_coord_live_t *l = fl__live_get(st, n->id);
    if (!l || now_ms < l->last_seen_ms)
      continue;
    uint64_t silent = now_ms - l->last_seen_ms;
    if ((n->state & FL_NODE_UP) && silent >= st->timing.down_after_ms)
      n->state &= ~FL_NODE_UP;
    if (!(n->state & FL_NODE_UP) && (n->state & FL_NODE_IN) &&
        silent >= st->timing.out_after_ms) {
      /* Out one at a time, each checked: a datacenter never drops below k+m
       * usable nodes by itself; a node held back stays down and in. */
      n->state &= ~FL_NODE_IN;
      if (fl_coord_check_change(&st->map, &st->next, NULL) != 0) {
        n->state |= FL_NODE_IN;
        if (held)
          (*held)++;
      } else {
        l->auto_out = 2; /* becomes 1 on commit; see below */
      }
    }
  }
  rc = fl__finish(st, 0, 0, em);
  for (uint32_t i = 0; i < st->live_count; i++)
    if (st->live[i].auto_out == 2)
      st->live[i].auto_out = rc == 1 ? 1 : 0;
  return rc;
}

int fl_coord_set_weight(fl_coord_state_t *st, uint32_t id, uint32_t weight, fl_errmsg_t *em) {
  int rc = fl__propose(st, em);
  if (rc)
    return rc;
  fl_map_node_t *n = fl__next_node(st, id);
  if (!n)
    rc = fl_errf(em, FL_ENOTFOUND, "node %u is not in the cluster map", id);
  else
    n->weight = weight;
  return fl__finish(st, rc, 1, em);
}

int fl_coord_mark(fl_coord_state_t *st, uint32_t id, int out, fl_errmsg_t *em) {
  int rc = fl__propose(st, em);
  if (rc)
    return rc;
  fl_map_node_t *n = fl__next_node(st, id);
  if (!n)
    rc = fl_errf(em, FL_ENOTFOUND, "node %u is not in the cluster map", id);
  else if (out)
    n->state &= ~FL_NODE_IN;
  else
    n->state |= FL_NODE_IN;
  rc = fl__finish(st, rc, 1, em);
  fl_coord_live_t *l = fl__live_get(st, id);
  if (rc >= 0 && l)
    l->auto_out = 0; /* an admin decided: the grace period no longer undoes it */
  return rc;
}

int fl_coord_remove(fl_coord_state_t *st, uint32_t id, fl_errmsg_t *em) {
  int rc = fl__propose(st, em);
  if (rc)
    return rc;
  const fl_map_node_t *n = fl_map_find_node(&st->map, id);
  const fl_coord_live_t *l = fl__live_get(st, id);
  if (!n)
    rc = fl_errf(em, FL_ENOTFOUND, "node %u is not in the cluster map", id);
  else if (n->state & FL_NODE_IN)
    rc = fl_errf(em, FL_EREFUSED, "node %u is in; drain it first (filmless node drain %u "
                 "--wait), then remove it", id, id);
  else if ((n->state & FL_NODE_UP) && l && l->objects > 0)
    rc = fl_errf(em, FL_EREFUSED, "node %u is up and still holds %llu fragment(s); drain it "
                 "first (filmless node drain %u --wait), then remove it", id,
                 (unsigned long long)l->objects, id);
  else if ((n->state & FL_NODE_UP) && (!l || !l->seen))
    /* Up in a map this coordinator loaded, not heard from since: its
     * fragment count is unknown, not zero. */
    rc = fl_errf(em, FL_EREFUSED, "node %u has not reported since the coordinator started; "
                 "wait for its heartbeat and retry", id);
  else
    rc = fl_map_remove_node(&st->next, id, em);
  return fl__finish(st, rc, 1, em); /* its live entry goes at commit */
}

int fl_coord_set_policy(fl_coord_state_t *st, const fl_map_policy_t *p, uint64_t expect_epoch,
                        fl_errmsg_t *em) {
  int rc = fl_map_validate_policy(p, em);
  if (rc)
    return rc;
  if (expect_epoch && expect_epoch != st->map.epoch)
    return fl_errf(em, FL_EREFUSED, "the map is at epoch %llu, not %llu: read it again and "
                   "retry", (unsigned long long)st->map.epoch, (unsigned long long)expect_epoch);
  if (p->pg_count != st->map.policy.pg_count && st->map.node_count > 0)
    return fl_errf(em, FL_EREFUSED, "pg_count is fixed once nodes have joined (it is %u): "
                   "changing it would move almost every study", st->map.policy.pg_count);
  if ((rc = fl__propose(st, em)) != 0)
    return rc;
  st->next.policy = *p;
  for (uint32_t i = 0; i < st->next.node_count && rc == 0; i++)
    if (fl_map_dc_index(&st->next, st->next.nodes[i].dc) < 0)
      rc = fl_errf(em, FL_EREFUSED, "datacenter %s still holds node %u; remove its nodes "
                   "before dropping it from the policy", st->next.nodes[i].dc,
                   st->next.nodes[i].id);
  return fl__finish(st, rc, 1, em);
}
