/* filmless-coord's configuration schema: the [coord], [membership],
 * [policy] and [limits] keys, their defaults, bounds and flags, and the
 * initial policy they describe. */
#include <stdio.h>
#include <string.h>

#include "fl_coord.h"

static const char *const fl__repl_names[] = {"async", "sync", NULL};

const fl_cfg_field_t fl_coord_cfg_fields[] = {
    FL_CFG_PATHF("coord", "data", fl_coord_cfg_t, data, NULL, FL_CFG_REQUIRED, "--data",
                 "data directory (the cluster map database)"),
    FL_CFG_ADDRF("coord", "listen", fl_coord_cfg_t, listen, "127.0.0.1:7000", FL_CFG_PORT0,
                 "--listen", "HOST:PORT for nodes, clients and admins"),
    FL_CFG_STR("coord", "log_level", fl_coord_cfg_t, log_level, "info", 0, "--log-level",
               "debug, info, warn or error (FILMLESS_LOG overrides)"),
    FL_CFG_DURF("membership", "heartbeat_interval", fl_coord_cfg_t, heartbeat_ms, "2s", 50,
                3600 * FL_CFG_SEC, 0, "--heartbeat-interval",
                "how often nodes are told to heartbeat"),
    FL_CFG_DURF("membership", "down_after", fl_coord_cfg_t, down_after_ms, "10s", 100,
                24 * 3600 * FL_CFG_SEC, 0, "--down-after",
                "a node silent this long is marked down (keeps its placement)"),
    FL_CFG_DURF("membership", "out_after", fl_coord_cfg_t, out_after_ms, "10m", 200,
                365 * 24 * 3600 * FL_CFG_SEC, 0, "--out-after",
                "a node silent this long is marked out (its PGs are placed elsewhere)"),
    FL_CFG_INTF("policy", "k", fl_coord_cfg_t, k, "4", 1, FL_MAP_WIDTH_MAX, 0, "--k",
                "initial policy: data fragments"),
    FL_CFG_INTF("policy", "m", fl_coord_cfg_t, m, "2", 0, FL_MAP_WIDTH_MAX - 1, 0, "--m",
                "initial policy: parity fragments"),
    FL_CFG_INTF("policy", "pg_count", fl_coord_cfg_t, pg_count, "256", 1, 1 << 24, 0,
                "--pg-count", "initial policy: placement groups (fixed once nodes join)"),
    FL_CFG_INTF("policy", "min_write", fl_coord_cfg_t, min_write, "0", 0, FL_MAP_WIDTH_MAX, 0,
                "--min-write", "initial policy: fragments durable before a put succeeds "
                "(0: k+1, at most k+m)"),
    FL_CFG_SIZEF("policy", "small_threshold", fl_coord_cfg_t, small_threshold, "64KiB", 0,
                 UINT32_MAX, 0, "--small-threshold",
                 "initial policy: objects below are replicated m+1 times, not coded"),
    FL_CFG_STR("policy", "datacenters", fl_coord_cfg_t, datacenters, "dc1", 0,
               "--datacenters", "initial policy: comma-separated datacenter names"),
    FL_CFG_ENUMF("policy", "replication", fl_coord_cfg_t, replication, "async",
                 fl__repl_names, 0, NULL,
                 "initial policy: async or sync replication between datacenters"),
    FL_CFG_DURF("limits", "watch_max", fl_coord_cfg_t, watch_max_ms, "30s", 100,
                3600 * FL_CFG_SEC, 0, NULL, "longest wait granted to a WATCH_MAP"),
    FL_CFG_DURF("limits", "idle_timeout", fl_coord_cfg_t, idle_timeout_ms, "5m", 100,
                24 * 3600 * FL_CFG_SEC, 0, NULL, "close connections idle this long"),
    FL_CFG_END,
};

int fl_coord_cfg_policy(const fl_coord_cfg_t *cfg, fl_map_policy_t *p, fl_errmsg_t *em) {
  if (cfg->out_after_ms <= cfg->down_after_ms)
    return fl_errf(em, FL_ECONFIG, "[membership] out_after (%lld ms) must exceed down_after "
                   "(%lld ms)", (long long)cfg->out_after_ms, (long long)cfg->down_after_ms);
  if (cfg->down_after_ms < 2 * cfg->heartbeat_ms)
    return fl_errf(em, FL_ECONFIG, "[membership] down_after (%lld ms) must be at least twice "
                   "heartbeat_interval (%lld ms), or a live node would be marked down between "
                   "two heartbeats", (long long)cfg->down_after_ms, (long long)cfg->heartbeat_ms);
  memset(p, 0, sizeof *p);
  p->k = (uint32_t)cfg->k;
  p->m = (uint32_t)cfg->m;
  p->pg_count = (uint32_t)cfg->pg_count;
  p->min_write = cfg->min_write ? (uint32_t)cfg->min_write
                 : p->m ? p->k + 1 : p->k;
  p->small_threshold = (uint32_t)cfg->small_threshold;
  p->repl_mode = (uint32_t)cfg->replication;
  const char *s = cfg->datacenters;
  while (*s) {
    const char *e = strchr(s, ',');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (p->dc_count == FL_MAP_DC_MAX)
      return fl_errf(em, FL_ECONFIG, "[policy] datacenters: more than %d", FL_MAP_DC_MAX);
    if (n == 0 || n >= FL_MAP_NAME_MAX)
      return fl_errf(em, FL_ECONFIG, "[policy] datacenters: empty name or longer than %d "
                     "characters in '%s'", FL_MAP_NAME_MAX - 1, cfg->datacenters);
    memcpy(p->dcs[p->dc_count++], s, n);
    s = e ? e + 1 : s + n;
  }
  int rc = fl_map_validate_policy(p, em);
  return rc ? fl_errprefix(em, rc, "[policy]") : 0;
}
