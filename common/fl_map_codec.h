/* Binary encoding of the cluster map: compact, canonical (one map, one byte
 * string), with a magic, a version and a CRC32C. Pure: buffers in and out.
 *
 * Layout, all integers little-endian:
 *
 *   OFFSET SIZE       DESCRIPTION
 *   0      4          magic "FLMP"
 *   4      2          version (1)
 *   6      2          flags (0)
 *   8      4          total length in bytes, CRC included
 *   12     8          epoch
 *   20     4 x 7      k, m, pg_count, small_threshold, min_write,
 *                     repl_mode, dc_count
 *   48     32 x dcs   datacenter names, NUL-padded
 *   ...    4          node_count
 *   ...    140 x n    nodes: id, weight, state (4 each), addr (64),
 *                     dc (32), rack (32), strings NUL-padded
 *   ...    4          upmap_count
 *   ...    12 x u     pairs: pg, from, to (4 each)
 *   end-4  4          CRC32C of every byte before it
 *
 * Nodes are in ascending id order and pairs in ascending (pg, from) order;
 * bytes after a string's NUL are zero. The decoder rejects anything else,
 * so decode(encode(map)) == map and encode(decode(b)) == b. */
#ifndef FL_MAP_CODEC_H
#define FL_MAP_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "fl_err.h"
#include "fl_map.h"

#define FL_MAP_CODEC_VERSION 1
/* Bounds checked before anything is allocated. */
#define FL_MAP_CODEC_MAX_NODES (1u << 20)
#define FL_MAP_CODEC_MAX_UPMAP (1u << 24)

/* Exact size of the encoding of map. */
size_t fl_map_encoded_size(const fl_map_t *map);

/* Encodes map into buf (borrowed; cap bytes). FL_ETOOBIG if cap is below
 * fl_map_encoded_size(map) or the map exceeds the codec's bounds. *len
 * gets the bytes written. */
int fl_map_encode(const fl_map_t *map, uint8_t *buf, size_t cap, size_t *len,
                  fl_errmsg_t *em);

/* Decodes len bytes at buf (borrowed for the call) into map, which is
 * initialized here (fl_map_free it after success; on error it is empty).
 * FL_ETRUNC (too short or cut), FL_ECORRUPT (magic, CRC, layout, order),
 * FL_EVERSION, FL_ETOOBIG (counts above the bounds), FL_ECONFIG/FL_EEXIST
 * (content the map model refuses), each with a message naming the field. */
int fl_map_decode(const uint8_t *buf, size_t len, fl_map_t *map, fl_errmsg_t *em);

#endif
