/* Where the client's cluster map comes from: the coordinator (GET_MAP over
 * the wire, payload = fl_map_codec encoding) or, for development and tests
 * before a coordinator runs, a static map described in the address itself. */
#ifndef FL_CMAP_H
#define FL_CMAP_H

#include "fl_err.h"
#include "fl_map.h"

/* Policy of static maps besides k and m. */
#define FL_CMAP_STATIC_PG_COUNT 256u
#define FL_CMAP_STATIC_SMALL (64u * 1024u)

/* 1 if src names a static map ("static:..."), 0 for a coordinator. */
int fl_cmap_is_static(const char *src);

/* Parses "static:K+M:ADDR[,ADDR...]" into map (initialized here; fl_map_free
 * after success, empty on error): node i (1-based) gets id i, the address,
 * datacenter dc1, rack r<i>, weight 1, up and in; min_write = k+1 (k when
 * m = 0); pg_count and small-object threshold from the constants above.
 * FL_ECONFIG names what is wrong (bad numbers, bad address, fewer than k+m
 * nodes, more than 1024). spec is borrowed for the call. Pure. */
int fl_cmap_parse_static(const char *spec, fl_map_t *map, fl_errmsg_t *em);

/* Fetches the current map from the coordinator at "HOST:PORT" with GET_MAP
 * (timeout_ms per step) into map (initialized here, as above). Errors: the
 * transport's (-ECONNREFUSED, -ETIMEDOUT ...), the coordinator's status, or
 * the map decoder's, with em naming the coordinator. */
int fl_cmap_fetch_coord(const char *addr, int timeout_ms, fl_map_t *map, fl_errmsg_t *em);

/* Either of the above, by the form of src. */
int fl_cmap_load(const char *src, int timeout_ms, fl_map_t *map, fl_errmsg_t *em);

/* ---- epochs: what the client keeps of earlier maps (pure) ---------------- */


/* Adds the ids[0..n) not already in set[0..*count) to its end, in order,
 * as long as it holds fewer than cap; returns how many were left out for
 * want of room. The client builds the nodes to ask about a PG from the
 * current placement first, then each earlier map's placement. */
unsigned fl_cmap_ask_add(uint32_t *set, unsigned *count, unsigned cap, const uint32_t *ids,
                         unsigned n);

#endif
