/* Integration test of the repair RPCs of filmless-node, a real process on
 * 127.0.0.1: PG_STATS against summaries computed here, LIST with whole_pg
 * (paging, tombstones, record flags, refusal of a prefix), DELETE with drop
 * refused by a node without a cluster map, a put carrying a listed entry's
 * metadata (fl_nc_put_entry), a fragment corrupted on disk that a read
 * quarantines (STAT quarantined, gone from PG_STATS and listings, put again
 * and readable), and drops checked by nodes of a real cluster against their
 * own map (stray copy dropped; own position, other epoch refused). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fl_cc.h"
#include "fl_idx_key.h"
#include "fl_itest.h"
#include "fl_place.h"
#include "fl_test.h"
#include "fl_vol_record.h"

#define TENANT "hosp-r"
#define STUDY "1.2.826.0.1.3680043.8.498.7"
#define SERIES "1.2.826.0.1.3680043.8.498.7.1"
#define FRAG_BYTES 6000

static fl_itest_node_t node;

/* Object i lives in pg 20 + i % 2; objects 0..5 are erasure-coded with
 * fragments 0..5, objects 6..7 replicated with fragments 0..2. */
#define NOBJ 8
static int nfrags(int i) { return i < 6 ? 6 : 3; }

static fl_nc_key_t key_of(int i, uint32_t frag, char *sop, size_t cap) {
  snprintf(sop, cap, SERIES ".%d", i + 1);
  fl_nc_key_t k = {20u + (uint32_t)(i % 2), TENANT, STUDY, SERIES, sop, frag};
  return k;
}

static void put_frag(fl_wire_conn_t *c, int i, uint32_t f) {
  static uint8_t buf[FRAG_BYTES];
  char sop[96];
  fl_nc_key_t k = key_of(i, f, sop, sizeof sop);
  fl_itest_fill(buf, sizeof buf, (uint32_t)(i * 64 + f));
  fl_nc_put_opts_t o = {i < 6 ? 1u : 0u, FRAG_BYTES * 4, "MR", "1.2.840.10008.5.1.4.1.1.4",
                        "20261129"};
  fl_errmsg_t em = {{0}};
  int rc = fl_nc_put(c, &k, &o, buf, sizeof buf, NULL, &em);
  if (rc)
    fprintf(stderr, "put: %s\n", fl_errmsg_str(&em, rc));
  FL_CHECK_OK(rc);
}

/* The summaries the node should report, computed from what this test put
 * (live[i][f] says which fragments are live). */
static int live[NOBJ][6];

static void check_pg_stats(fl_wire_conn_t *c) {
  fl_nc_pg_stat_t want[2 * 6];
  memset(want, 0, sizeof want);
  for (int pg = 0; pg < 2; pg++)
    for (int f = 0; f < 6; f++) {
      want[pg * 6 + f].pg = 20u + (uint32_t)pg;
      want[pg * 6 + f].frag = (uint16_t)f;
    }
  for (int i = 0; i < NOBJ; i++)
    for (int f = 0; f < nfrags(i); f++) {
      if (!live[i][f])
        continue;
      char sop[96];
      fl_nc_key_t k = key_of(i, (uint32_t)f, sop, sizeof sop);
      fl_idx_key_t ik;
      FL_CHECK_OK(fl_idx_key_make(&ik, k.pg, k.tenant, k.study, k.series, k.sop, 0, NULL));
      fl_nc_pg_stat_t *w = &want[(i % 2) * 6 + f];
      if (i < 6) {
        w->ec_count++;
        w->ec_digest ^= fl_idx_key_obj_hash(&ik);
      } else {
        w->replica_count++;
        w->replica_digest ^= fl_idx_key_obj_hash(&ik);
      }
      w->bytes += FRAG_BYTES;
    }
  fl_nc_pg_stat_t *st = NULL;
  size_t n = 0;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_nc_pg_stats(c, &st, &n, &em));
  size_t j = 0;
  for (size_t w = 0; w < 12; w++) {
    if (!want[w].ec_count && !want[w].replica_count)
      continue;
    FL_CHECK(j < n);
    FL_CHECK_EQ(st[j].pg, want[w].pg);
    FL_CHECK_EQ(st[j].frag, want[w].frag);
    FL_CHECK_EQ(st[j].ec_count, want[w].ec_count);
    FL_CHECK(st[j].ec_digest == want[w].ec_digest);
    FL_CHECK_EQ(st[j].replica_count, want[w].replica_count);
    FL_CHECK(st[j].replica_digest == want[w].replica_digest);
    FL_CHECK_EQ(st[j].bytes, want[w].bytes);
    j++;
  }
  FL_CHECK_EQ(n, j);
  free(st);
}

typedef struct list_ctx {
  uint64_t tombstones, ec, replicas;
  int bad_flags;
} list_ctx_t;

static int list_cb(void *arg, const Fl__ListEntry *e) {
  list_ctx_t *c = arg;
  if (e->tombstone) {
    c->tombstones++;
    c->bad_flags |= e->flags != FL_VOL_REC_F_TOMBSTONE;
  } else if (e->layout) {
    c->ec++;
    c->bad_flags |= e->flags != FL_VOL_REC_F_EC;
  } else {
    c->replicas++;
    c->bad_flags |= e->flags != 0;
  }
  return 0;
}

static void list_pg(fl_wire_conn_t *c, uint32_t pg, int tombs, uint32_t page, list_ctx_t *out) {
  memset(out, 0, sizeof *out);
  uint64_t count = 0;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_nc_list_pg(c, pg, tombs, page, list_cb, out, &count, &em));
  FL_CHECK_EQ(count, out->tombstones + out->ec + out->replicas);
  FL_CHECK_EQ(out->bad_flags, 0);
}

static void test_stats_and_lists(void) {
  fl_wire_conn_t c;
  FL_CHECK_OK(fl_itest_connect(&node, &c));
  fl_nc_pg_stat_t *st = NULL;
  size_t n = 9;
  FL_CHECK_OK(fl_nc_pg_stats(&c, &st, &n, NULL));
  FL_CHECK(n == 0 && st == NULL);
  for (int i = 0; i < NOBJ; i++)
    for (int f = 0; f < nfrags(i); f++) {
      put_frag(&c, i, (uint32_t)f);
      live[i][f] = 1;
    }
  check_pg_stats(&c);
  /* pg 20 holds objects 0, 2, 4 (6 fragments each) and 6 (3 replicas). */
  list_ctx_t l;
  list_pg(&c, 20, 0, 4, &l);
  FL_CHECK_EQ(l.ec, 18);
  FL_CHECK_EQ(l.replicas, 3);
  list_pg(&c, 22, 1, 0, &l);
  FL_CHECK_EQ(l.ec + l.replicas + l.tombstones, 0);
  /* A deleted fragment: a tombstone in listings that ask for them. */
  char sop[96];
  fl_nc_key_t k = key_of(2, 3, sop, sizeof sop);
  uint32_t t = 0;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_nc_delete(&c, &k, 0, &t, &em));
  FL_CHECK_EQ(t, 1);
  live[2][3] = 0;
  list_pg(&c, 20, 0, 5, &l);
  FL_CHECK_EQ(l.ec, 17);
  FL_CHECK_EQ(l.tombstones, 0);
  list_pg(&c, 20, 1, 5, &l);
  FL_CHECK_EQ(l.ec, 17);
  FL_CHECK_EQ(l.tombstones, 1);
  check_pg_stats(&c);
  /* whole_pg with a prefix is refused. */
  Fl__FrameHeader h = FL__FRAME_HEADER__INIT;
  Fl__ListArgs a = FL__LIST_ARGS__INIT;
  Fl__ObjectKey ok = FL__OBJECT_KEY__INIT;
  ok.tenant = (char *)TENANT;
  ok.study_uid = (char *)STUDY;
  a.prefix = &ok;
  a.pg = 20;
  a.whole_pg = 1;
  h.type = FL__MSG_TYPE__MSG_TYPE_LIST;
  h.body_case = FL__FRAME_HEADER__BODY_LIST;
  h.list = &a;
  FL_CHECK_ERR(fl_wire_conn_call(&c, &h, NULL, 0, NULL, 0, &em), FL_EPROTO);
  FL_CHECK(strstr(em.msg, "prefix must be empty") != NULL);
  fl_wire_conn_close(&c);
}

static void test_drop_refused(void) {
  fl_wire_conn_t c;
  FL_CHECK_OK(fl_itest_connect(&node, &c));
  char sop[96];
  fl_nc_key_t k = key_of(1, 4, sop, sizeof sop);
  fl_errmsg_t em = {{0}};
  uint32_t dropped = 7;
  FL_CHECK_ERR(fl_nc_drop(&c, &k, 0, &dropped, &em), FL_EREFUSED);
  FL_CHECK(strstr(em.msg, "this node has no cluster map") != NULL);
  FL_CHECK_ERR(fl_nc_drop(&c, &k, 5, &dropped, &em), FL_EREFUSED);
  /* Still there. */
  static uint8_t back[FRAG_BYTES];
  uint64_t got = 0;
  FL_CHECK_OK(fl_nc_get(&c, &k, 0, 0, back, sizeof back, &got, NULL, &em));
  FL_CHECK_EQ(got, FRAG_BYTES);
  check_pg_stats(&c);
  fl_wire_conn_close(&c);
}

/* put_entry: fragment 3 of object 2 (deleted above) comes back with the
 * metadata of its sibling fragment 0, attributes included. */
typedef struct meta_ctx {
  int put, found;
  fl_errmsg_t em;
  int rc;
  uint32_t layout;
  uint64_t object_size;
  size_t n_attrs;
  char modality[16];
} meta_ctx_t;

static int meta_cb(void *arg, const Fl__ListEntry *e) {
  meta_ctx_t *c = arg;
  char want[96];
  snprintf(want, sizeof want, SERIES ".%d", 3);
  if (strcmp(e->key->sop_uid, want) != 0 || e->tombstone)
    return 0;
  if (c->put && e->fragment_index == 0) {
    fl_wire_conn_t c2;
    FL_CHECK_OK(fl_itest_connect(&node, &c2));
    static uint8_t buf[FRAG_BYTES];
    fl_itest_fill(buf, sizeof buf, 2 * 64 + 3);
    char sop[96];
    fl_nc_key_t k = key_of(2, 3, sop, sizeof sop);
    struct iovec iov[2] = {{buf, 1000}, {buf + 1000, FRAG_BYTES - 1000}};
    int existed = 1;
    c->rc = fl_nc_put_entry(&c2, &k, e, iov, 2, &existed, &c->em);
    FL_CHECK_EQ(existed, 0);
    fl_wire_conn_close(&c2);
  }
  if (!c->put && e->fragment_index == 3) {
    c->found = 1;
    c->layout = e->layout;
    c->object_size = e->object_size;
    c->n_attrs = e->n_attrs;
    for (size_t i = 0; i < e->n_attrs; i++)
      if (e->attrs[i]->tag == 0x00080060u)
        snprintf(c->modality, sizeof c->modality, "%.*s", (int)e->attrs[i]->value.len,
                 (const char *)e->attrs[i]->value.data);
  }
  return 0;
}

static void test_put_entry(void) {
  fl_wire_conn_t c;
  FL_CHECK_OK(fl_itest_connect(&node, &c));
  meta_ctx_t m;
  memset(&m, 0, sizeof m);
  m.put = 1;
  uint64_t count = 0;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_nc_list_pg(&c, 20, 0, 0, meta_cb, &m, &count, &em));
  if (m.rc)
    fprintf(stderr, "put_entry: %s\n", fl_errmsg_str(&m.em, m.rc));
  FL_CHECK_OK(m.rc);
  live[2][3] = 1;
  memset(&m, 0, sizeof m);
  FL_CHECK_OK(fl_nc_list_pg(&c, 20, 0, 0, meta_cb, &m, &count, &em));
  FL_CHECK(m.found);
  FL_CHECK_EQ(m.layout, 1);
  FL_CHECK_EQ(m.object_size, FRAG_BYTES * 4);
  FL_CHECK_EQ(m.n_attrs, 3);
  FL_CHECK_STR(m.modality, "MR");
  static uint8_t buf[FRAG_BYTES], back[FRAG_BYTES];
  fl_itest_fill(buf, sizeof buf, 2 * 64 + 3);
  char sop[96];
  fl_nc_key_t k = key_of(2, 3, sop, sizeof sop);
  uint64_t got = 0;
  FL_CHECK_OK(fl_nc_get(&c, &k, 0, 0, back, sizeof back, &got, NULL, &em));
  FL_CHECK_MEM(back, buf, FRAG_BYTES);
  check_pg_stats(&c);
  fl_wire_conn_close(&c);
}

/* Flips one byte of the first copy of needle found in the node's volume
 * files. Returns 1 if found. */
static int corrupt_on_disk(const uint8_t *needle, size_t len) {
  for (uint32_t id = 1; id < 16; id++) {
    char path[700];
    snprintf(path, sizeof path, "%s/volumes/vol-%010u.flv", node.dir, id);
    int fd = open(path, O_RDWR);
    if (fd < 0)
      continue;
    struct stat sb;
    FL_CHECK_EQ(fstat(fd, &sb), 0);
    uint8_t *all = malloc((size_t)sb.st_size + 1);
    FL_CHECK_EQ(pread(fd, all, (size_t)sb.st_size, 0), sb.st_size);
    uint8_t *at = memmem(all, (size_t)sb.st_size, needle, len);
    if (at) {
      uint8_t b = at[len / 2] ^ 0x40;
      FL_CHECK_EQ(pwrite(fd, &b, 1, (off_t)(at - all) + (off_t)(len / 2)), 1);
      FL_CHECK_EQ(fsync(fd), 0);
    }
    free(all);
    close(fd);
    if (at)
      return 1;
  }
  return 0;
}

static void test_quarantine(void) {
  fl_wire_conn_t c;
  FL_CHECK_OK(fl_itest_connect(&node, &c));
  static uint8_t buf[FRAG_BYTES], back[FRAG_BYTES];
  fl_itest_fill(buf, sizeof buf, 5 * 64 + 1);
  FL_CHECK(corrupt_on_disk(buf + 2000, 256));
  char sop[96];
  fl_nc_key_t k = key_of(5, 1, sop, sizeof sop);
  uint64_t got = 0;
  fl_errmsg_t em = {{0}};
  FL_CHECK_ERR(fl_nc_get(&c, &k, 0, 0, back, sizeof back, &got, NULL, &em), FL_ECORRUPT);
  FL_CHECK_ERR(fl_nc_get(&c, &k, 0, 0, back, sizeof back, &got, NULL, &em), FL_ENOTFOUND);
  live[5][1] = 0;
  Fl__StatResult s;
  FL_CHECK_OK(fl_nc_stat(&c, &s, &em));
  FL_CHECK_EQ(s.quarantined, 1);
  FL_CHECK_EQ(s.corrupt_found, 1);
  check_pg_stats(&c);
  /* Never listed, not even as a tombstone. */
  list_ctx_t l;
  list_pg(&c, 21, 1, 0, &l);
  FL_CHECK_EQ(l.tombstones, 0);
  FL_CHECK_EQ(l.ec, 3 * 6 - 1);
  /* Repair puts it again. */
  put_frag(&c, 5, 1);
  live[5][1] = 1;
  FL_CHECK_OK(fl_nc_get(&c, &k, 0, 0, back, sizeof back, &got, NULL, &em));
  FL_CHECK_MEM(back, buf, FRAG_BYTES);
  check_pg_stats(&c);
  fl_wire_conn_close(&c);
}

/* The summaries survive a restart (rebuilt from the index). */
static void test_restart(void) {
  int st = fl_proc_stop(&node.proc, SIGTERM, 20000);
  FL_CHECK(WIFEXITED(st));
  FL_CHECK_EQ(WEXITSTATUS(st), 0);
  FL_CHECK_OK(fl_itest_node_start(&node, node.dir, NULL));
  fl_wire_conn_t c;
  FL_CHECK_OK(fl_itest_connect(&node, &c));
  check_pg_stats(&c);
  fl_wire_conn_close(&c);
}

/* ---- drops in a cluster: a coordinator and three nodes, k=2 m=1 ---------------- */

#define CNODES 3
static fl_itest_node_t coord, cnodes[CNODES];

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* The coordinator's map once every node is up and in and reports its epoch
 * and id; 0 when it is so. */
static int cluster_settled(fl_map_t *map, uint32_t ids[CNODES]) {
  fl_wire_conn_t c;
  if (fl_itest_connect(&coord, &c) != 0)
    return -1;
  int changed = 0;
  int rc = fl_cc_get_map(&c, 0, 0, map, &changed, NULL);
  fl_wire_conn_close(&c);
  if (rc)
    return rc;
  int ok = map->node_count == CNODES;
  for (uint32_t i = 0; ok && i < map->node_count; i++)
    ok = map->nodes[i].state == (FL_NODE_UP | FL_NODE_IN);
  for (int i = 0; ok && i < CNODES; i++) {
    Fl__StatResult sr;
    ok = fl_itest_connect(&cnodes[i], &c) == 0 && fl_nc_stat(&c, &sr, NULL) == 0 &&
         sr.map_epoch == map->epoch && sr.node_id != 0;
    fl_wire_conn_close(&c);
    ids[i] = ok ? sr.node_id : 0;
  }
  if (!ok)
    fl_map_free(map);
  return ok ? 0 : -1;
}

static char top[400]; /* the test's scratch directory */

static void test_drop_in_cluster(void) {
  const char *dir = top;
  char data[512], coord_flag[64];
  snprintf(data, sizeof data, "%s/coord", dir);
  const char *const cx[] = {"--heartbeat-interval", "200ms", "--down-after", "30s",
                            "--out-after", "60s", "--k", "2", "--m", "1", "--pg-count", "8",
                            "--datacenters", "dc1", NULL};
  FL_CHECK_OK(fl_itest_coord_start(&coord, data, cx));
  snprintf(coord_flag, sizeof coord_flag, "127.0.0.1:%d", coord.port);
  for (int i = 0; i < CNODES; i++) {
    char rack[16], d[512];
    snprintf(rack, sizeof rack, "r%d", i);
    snprintf(d, sizeof d, "%s/cnode%d", dir, i);
    const char *const nx[] = {"--coord", coord_flag, "--dc", "dc1", "--rack", rack,
                              "--reserve", "0", NULL};
    FL_CHECK_OK(fl_itest_node_start(&cnodes[i], d, nx));
  }
  fl_map_t map;
  uint32_t ids[CNODES];
  int settled = -1;
  for (int waited = 0; waited < 60000 && (settled = cluster_settled(&map, ids)) != 0;
       waited += 100)
    sleep_ms(100);
  if (settled)
    fl_itest_dump_log(&coord);
  FL_CHECK_OK(settled);
  /* Node 0 holds its own fragment of pg 5 and a stray one. */
  uint32_t place[3];
  FL_CHECK_OK(fl_place_pg_nodes(&map, 5, "dc1", place, NULL));
  uint32_t own = 3;
  for (uint32_t p = 0; p < 3; p++)
    if (place[p] == ids[0])
      own = p;
  FL_CHECK(own < 3);
  uint32_t stray = (own + 1) % 3;
  fl_wire_conn_t c;
  FL_CHECK_OK(fl_itest_connect(&cnodes[0], &c));
  static uint8_t buf[FRAG_BYTES];
  fl_itest_fill(buf, sizeof buf, 99);
  char sop[96];
  fl_nc_key_t k = key_of(0, own, sop, sizeof sop);
  k.pg = 5;
  fl_errmsg_t em = {{0}};
  fl_nc_put_opts_t o = {1, FRAG_BYTES * 2, "CT", NULL, NULL};
  FL_CHECK_OK(fl_nc_put(&c, &k, &o, buf, sizeof buf, NULL, &em));
  k.frag = stray;
  FL_CHECK_OK(fl_nc_put(&c, &k, &o, buf, sizeof buf, NULL, &em));
  /* Another epoch, then the node's own position: refused. */
  uint32_t dropped = 9;
  FL_CHECK_ERR(fl_nc_drop(&c, &k, map.epoch + 1, &dropped, &em), FL_EREFUSED);
  FL_CHECK(strstr(em.msg, "epoch") != NULL);
  k.frag = own;
  FL_CHECK_ERR(fl_nc_drop(&c, &k, map.epoch, &dropped, &em), FL_EREFUSED);
  FL_CHECK(strstr(em.msg, "on this node") != NULL);
  /* The stray copy goes; a second drop finds nothing. */
  k.frag = stray;
  FL_CHECK_OK(fl_nc_drop(&c, &k, map.epoch, &dropped, &em));
  FL_CHECK_EQ(dropped, 1);
  FL_CHECK_OK(fl_nc_drop(&c, &k, map.epoch, &dropped, &em));
  FL_CHECK_EQ(dropped, 0);
  static uint8_t back[FRAG_BYTES];
  uint64_t got = 0;
  FL_CHECK_ERR(fl_nc_get(&c, &k, 0, 0, back, sizeof back, &got, NULL, &em), FL_ENOTFOUND);
  k.frag = own;
  FL_CHECK_OK(fl_nc_get(&c, &k, 0, 0, back, sizeof back, &got, NULL, &em));
  /* Only the own fragment is summarised and listed; the drop is no delete. */
  fl_nc_pg_stat_t *st = NULL;
  size_t n = 0;
  FL_CHECK_OK(fl_nc_pg_stats(&c, &st, &n, &em));
  FL_CHECK_EQ(n, 1);
  FL_CHECK_EQ(st[0].pg, 5);
  FL_CHECK_EQ(st[0].frag, own);
  FL_CHECK_EQ(st[0].ec_count, 1);
  free(st);
  list_ctx_t l;
  list_pg(&c, 5, 1, 0, &l);
  FL_CHECK_EQ(l.ec, 1);
  FL_CHECK_EQ(l.tombstones, 0);
  fl_wire_conn_close(&c);
  fl_map_free(&map);
  for (int i = 0; i < CNODES; i++)
    fl_proc_stop(&cnodes[i].proc, SIGTERM, 20000);
  fl_proc_stop(&coord.proc, SIGTERM, 20000);
}

int main(void) {
  char *dir = top;
  FL_CHECK_OK(fl_proc_scratch_dir("itest_node_repair_rpc", top, sizeof top));
  snprintf(node.dir, sizeof node.dir, "%s/n1", dir);
  FL_CHECK_OK(fl_itest_node_start(&node, node.dir, NULL));
  FL_RUN(test_stats_and_lists);
  FL_RUN(test_drop_refused);
  FL_RUN(test_put_entry);
  FL_RUN(test_quarantine);
  FL_RUN(test_restart);
  fl_proc_stop(&node.proc, SIGTERM, 20000);
  FL_RUN(test_drop_in_cluster);
  fl_proc_rmtree(dir);
  FL_DONE();
}
