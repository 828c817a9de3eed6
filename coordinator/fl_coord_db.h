/* The coordinator's persistent state in RocksDB: the encoded cluster map
 * (fl_map_encode bytes, the same bytes GET_MAP serves), the next node id,
 * and the nodes the grace period marked out. Written together in one
 * synced batch, so a restart finds exactly the last committed epoch. */
#ifndef FL_COORD_DB_H
#define FL_COORD_DB_H

#include <stdint.h>

#include "fl_err.h"
#include "fl_map.h"

/* Keys:
 *   "map"                  fl_map_encode(map)
 *   "next_id"              4 bytes, little-endian
 *   "auto_out/" + id       4-byte big-endian id after the prefix, empty value
 */
typedef struct fl_coord_db fl_coord_db_t;

/* Opens (creating) the database in dir (borrowed for the call). */
int fl_coord_db_open(const char *dir, fl_coord_db_t **out, fl_errmsg_t *em);
void fl_coord_db_close(fl_coord_db_t *db);

/* Loads what was saved. *found = 0 (and map untouched) on a fresh database.
 * Otherwise map is initialised (fl_map_free it), *next_id set and
 * *auto_out a malloc'd array of *n_auto ids (handed over; free()). A map
 * that fails to decode is FL_ECORRUPT: the coordinator refuses to start
 * rather than serve a different map. */
int fl_coord_db_load(fl_coord_db_t *db, int *found, fl_map_t *map, uint32_t *next_id,
                     uint32_t **auto_out, uint32_t *n_auto, fl_errmsg_t *em);

/* Replaces everything with map, next_id and the auto-out ids (all
 * borrowed for the call), durably (WAL synced) before returning. */
int fl_coord_db_save(fl_coord_db_t *db, const fl_map_t *map, uint32_t next_id,
                     const uint32_t *auto_out, uint32_t n_auto, fl_errmsg_t *em);

#endif
