/* RocksDB persistence of the coordinator: three kinds of keys, written in
 * one synced write batch; RocksDB errptr strings become FL_ESTORE here. */
#include "fl_coord_db.h"

#include <errno.h>
#include <rocksdb/c.h>
#include <stdlib.h>
#include <string.h>

#include "fl_map_codec.h"

#define FL__AUTO_PREFIX "auto_out/"
#define FL__AUTO_PLEN (sizeof FL__AUTO_PREFIX - 1)

struct fl_coord_db {
  rocksdb_t *db;
  rocksdb_options_t *opts;
  rocksdb_writeoptions_t *wo;
  rocksdb_readoptions_t *ro;
};

static int fl__store_err(fl_errmsg_t *em, char *err, const char *what) {
  int rc = fl_errf(em, FL_ESTORE, "%s: %s", what, err ? err : "unknown RocksDB error");
  rocksdb_free(err);
  return rc;
}

int fl_coord_db_open(const char *dir, fl_coord_db_t **out, fl_errmsg_t *em) {
  *out = NULL;
  fl_coord_db_t *db = calloc(1, sizeof *db);
  if (!db)
    return fl_errf(em, -ENOMEM, "opening the coordinator database: out of memory");
  db->opts = rocksdb_options_create();
  rocksdb_options_set_create_if_missing(db->opts, 1);
  db->wo = rocksdb_writeoptions_create();
  rocksdb_writeoptions_set_sync(db->wo, 1);
  db->ro = rocksdb_readoptions_create();
  char *err = NULL;
  db->db = rocksdb_open(db->opts, dir, &err);
  if (err) {
    int rc = fl__store_err(em, err, "opening the coordinator database");
    fl_errprefix(em, rc, "%s", dir);
    fl_coord_db_close(db);
    return rc;
  }
  *out = db;
  return 0;
}

void fl_coord_db_close(fl_coord_db_t *db) {
  if (!db)
    return;
  if (db->db)
    rocksdb_close(db->db);
  rocksdb_readoptions_destroy(db->ro);
  rocksdb_writeoptions_destroy(db->wo);
  rocksdb_options_destroy(db->opts);
  free(db);
}

int fl_coord_db_load(fl_coord_db_t *db, int *found, fl_map_t *map, uint32_t *next_id,
                     uint32_t **auto_out, uint32_t *n_auto, fl_errmsg_t *em) {
  *found = 0;
  *auto_out = NULL;
  *n_auto = 0;
  *next_id = 0;
  char *err = NULL;
  size_t len = 0;
  char *v = rocksdb_get(db->db, db->ro, "map", 3, &len, &err);
  if (err)
    return fl__store_err(em, err, "reading the cluster map");
  if (!v)
    return 0;
  int rc = fl_map_decode((const uint8_t *)v, len, map, em);
  rocksdb_free(v);
  if (rc)
    return fl_errprefix(em, FL_ECORRUPT, "the stored cluster map does not decode");
  v = rocksdb_get(db->db, db->ro, "next_id", 7, &len, &err);
  if (err) {
    rc = fl__store_err(em, err, "reading next_id");
    goto fail;
  }
  if (v && len == 4)
    *next_id = (uint32_t)(uint8_t)v[0] | (uint32_t)(uint8_t)v[1] << 8 |
               (uint32_t)(uint8_t)v[2] << 16 | (uint32_t)(uint8_t)v[3] << 24;
  rocksdb_free(v);
  if (v && len != 4) {
    rc = fl_errf(em, FL_ECORRUPT, "stored next_id is %zu bytes, expected 4", len);
    goto fail;
  }
  rocksdb_iterator_t *it = rocksdb_create_iterator(db->db, db->ro);
  uint32_t cap = 0;
  for (rocksdb_iter_seek(it, FL__AUTO_PREFIX, FL__AUTO_PLEN); rocksdb_iter_valid(it);
       rocksdb_iter_next(it)) {
    size_t kl;
    const char *k = rocksdb_iter_key(it, &kl);
    if (kl < FL__AUTO_PLEN || memcmp(k, FL__AUTO_PREFIX, FL__AUTO_PLEN) != 0)
      break;
    if (kl != FL__AUTO_PLEN + 4)
      continue; /* not ours: ignore */
    const uint8_t *b = (const uint8_t *)k + FL__AUTO_PLEN;
    if (*n_auto == cap) {
      cap = cap ? cap * 2 : 16;
      uint32_t *p = realloc(*auto_out, cap * sizeof *p);
      if (!p) {
        rocksdb_iter_destroy(it);
        rc = fl_errf(em, -ENOMEM, "reading auto-out nodes: out of memory");
        goto fail;
      }
      *auto_out = p;
    }
    (*auto_out)[(*n_auto)++] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
                               (uint32_t)b[2] << 8 | b[3];
  }
  rocksdb_iter_get_error(it, &err);
  rocksdb_iter_destroy(it);
  if (err) {
    rc = fl__store_err(em, err, "reading auto-out nodes");
    goto fail;
  }
  *found = 1;
  return 0;
fail:
  fl_map_free(map);
  free(*auto_out);
  *auto_out = NULL;
  *n_auto = 0;
  return rc;
}

int fl_coord_db_save(fl_coord_db_t *db, const fl_map_t *map, uint32_t next_id,
                     const uint32_t *auto_out, uint32_t n_auto, fl_errmsg_t *em) {
  size_t cap = fl_map_encoded_size(map), len = 0;
  uint8_t *buf = malloc(cap);
  if (!buf)
    return fl_errf(em, -ENOMEM, "saving the cluster map: out of memory");
  int rc = fl_map_encode(map, buf, cap, &len, em);
  if (rc) {
    free(buf);
    return rc;
  }
  rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
  rocksdb_writebatch_put(wb, "map", 3, (const char *)buf, len);
  uint8_t nid[4] = {(uint8_t)next_id, (uint8_t)(next_id >> 8), (uint8_t)(next_id >> 16),
                    (uint8_t)(next_id >> 24)};
  rocksdb_writebatch_put(wb, "next_id", 7, (const char *)nid, 4);
  /* The auto-out set is rewritten whole: delete the range, then add. */
  rocksdb_writebatch_delete_range(wb, FL__AUTO_PREFIX, FL__AUTO_PLEN, "auto_out0", 9);
  for (uint32_t i = 0; i < n_auto; i++) {
    char k[FL__AUTO_PLEN + 4];
    memcpy(k, FL__AUTO_PREFIX, FL__AUTO_PLEN);
    k[FL__AUTO_PLEN] = (char)(auto_out[i] >> 24);
    k[FL__AUTO_PLEN + 1] = (char)(auto_out[i] >> 16);
    k[FL__AUTO_PLEN + 2] = (char)(auto_out[i] >> 8);
    k[FL__AUTO_PLEN + 3] = (char)auto_out[i];
    rocksdb_writebatch_put(wb, k, sizeof k, "", 0);
  }
  char *err = NULL;
  rocksdb_write(db->db, db->wo, wb, &err);
  rocksdb_writebatch_destroy(wb);
  free(buf);
  if (err)
    return fl__store_err(em, err, "saving the cluster map");
  return 0;
}
