/* filmless-node's configuration schema: every key of the [node], [limits],
 * [storage] and [maintenance] sections, its default, bounds and flag. */
#include <stddef.h>

#include "fl_node.h"

static const char *const fl__direct_names[] = {"auto", "on", "off", NULL};

const fl_cfg_field_t fl_node_cfg_fields[] = {
    FL_CFG_PATHF("node", "data", fl_node_cfg_t, data, NULL, FL_CFG_REQUIRED, "--data",
                 "data directory (volumes/ and index/ live here)"),
    FL_CFG_ADDRF("node", "listen", fl_node_cfg_t, listen, "127.0.0.1:7100", FL_CFG_PORT0,
                 "--listen", "HOST:PORT of the data service"),
    FL_CFG_INTF("node", "id", fl_node_cfg_t, id, "0", 0, 1000000000, 0, "--id",
                "node id in the cluster map (0: assigned by the coordinator)"),
    FL_CFG_STR("node", "dc", fl_node_cfg_t, dc, "dc1", 0, "--dc", "datacenter name"),
    FL_CFG_STR("node", "rack", fl_node_cfg_t, rack, "rack1", 0, "--rack", "rack name"),
    FL_CFG_SIZEF("node", "capacity", fl_node_cfg_t, capacity, "0", 0, INT64_MAX, 0,
                 "--capacity", "advertised capacity (0: size of the data filesystem)"),
    FL_CFG_STR("node", "log_level", fl_node_cfg_t, log_level, "info", 0, "--log-level",
               "debug, info, warn or error (FILMLESS_LOG overrides)"),
    FL_CFG_SIZEF("limits", "max_payload", fl_node_cfg_t, max_payload, "64MiB", 4096,
                 256 * FL_CFG_MIB, 0, NULL, "largest frame payload accepted"),
    FL_CFG_DURF("limits", "idle_timeout", fl_node_cfg_t, idle_timeout_ms, "5m", 100,
                24 * 3600 * FL_CFG_SEC, 0, "--idle-timeout", "close connections idle this long"),
    FL_CFG_INTF("limits", "workers", fl_node_cfg_t, workers, "16", 1, 128, 0, NULL,
                "threads doing disk, checksum and index work"),
    FL_CFG_INTF("limits", "max_inflight", fl_node_cfg_t, max_inflight, "64", 1, 4096, 0, NULL,
                "requests in progress per connection before reading pauses"),
    FL_CFG_SIZEF("storage", "volume_max", fl_node_cfg_t, volume_max, "1GiB", FL_CFG_MIB,
                 64 * FL_CFG_GIB, 0, "--volume-max", "size at which the active volume is sealed"),
    FL_CFG_SIZEF("storage", "reserve", fl_node_cfg_t, reserve, "1GiB", 0, INT64_MAX, 0,
                 "--reserve",
                 "free space kept for the index and deletes; puts fail with FL_ENOSPC below it"),
    FL_CFG_ENUMF("storage", "direct_io", fl_node_cfg_t, direct, "auto", fl__direct_names, 0,
                 NULL, "O_DIRECT volume writes: auto, on or off"),
    FL_CFG_SIZEF("storage", "index_cache", fl_node_cfg_t, index_cache, "64MiB", FL_CFG_MIB,
                 64 * FL_CFG_GIB, 0, NULL, "RocksDB block cache"),
    FL_CFG_RATEF("maintenance", "scrub_rate", fl_node_cfg_t, scrub_rate, "50MB/s", 0,
                 INT64_MAX, 0, "--scrub-rate", "scrub read bandwidth (0 turns scrubbing off)"),
    FL_CFG_DURF("maintenance", "scrub_interval", fl_node_cfg_t, scrub_interval_ms, "24h", 0,
                365 * 24 * 3600 * FL_CFG_SEC, 0, "--scrub-interval", "pause between scrub passes"),
    FL_CFG_DURF("maintenance", "compact_interval", fl_node_cfg_t, compact_interval_ms, "10m",
                0, 365 * 24 * 3600 * FL_CFG_SEC, 0, "--compact-interval",
                "how often sealed volumes are checked for compaction (0: never)"),
    FL_CFG_INTF("maintenance", "compact_dead_pct", fl_node_cfg_t, compact_dead_pct, "50", 1,
                100, 0, NULL, "compact a sealed volume once this percentage of it is dead"),
    FL_CFG_END,
};
