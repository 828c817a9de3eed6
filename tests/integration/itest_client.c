/* Integration test of libfilmless against six real filmless-node processes
 * (policy 4+2, min_write 5): round trip of an erasure-coded study and a
 * replicated small instance, immutability, reads with m nodes killed, puts
 * refused with FL_EQUORUM below min_write and accepted at it, a study put
 * during which two nodes are killed (no instance is half visible, before or
 * after they return), deleting a study, and each node's enumeration of a
 * tenant's studies (LIST with an empty study UID), paged and whole. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filmless.h"
#include "fl_dicom.h"
#include "fl_gen.h"
#include "fl_itest.h"
#include "fl_itest_study.h"
#include "fl_test.h"

#define NNODES 6

static fl_itest_node_t nodes[NNODES];
static char spec[1024];
static fl_client_t *cl;


/* Every listed instance reads back byte-exact; returns how many. */
static size_t check_study(fl_itest_study_t *s) {
  fl_itest_seen_t v = {s, 0, 0};
  fl_study_get_stats_t st;
  fl_errmsg_t em = {{0}};
  int rc = fl_study_get(cl, s->uid, fl_itest_study_check_cb, &v, &st, &em);
  if (rc != 0 && rc != FL_ENOTFOUND)
    FL__FAIL("study get: %s: %s", fl_err_name(rc), fl_errmsg_str(&em, rc));
  FL_CHECK_EQ(v.bad, 0);
  FL_CHECK_EQ(st.failed, 0);
  FL_CHECK_EQ(v.count, st.instances);
  return v.count;
}

static void kill_node(int i) {
  FL_CHECK(fl_proc_stop(&nodes[i].proc, SIGKILL, 10000) >= 0);
}

static void start_node(int i) {
  char id[16];
  snprintf(id, sizeof id, "%d", i + 1);
  const char *extra[] = {"--id", id, "--scrub-rate", "0MB/s", "--reserve", "64MiB", NULL};
  FL_CHECK_OK(fl_itest_node_start(&nodes[i], nodes[i].dir, extra));
}

static fl_itest_study_t ct, sr;

static void test_roundtrip(void) {
  fl_errmsg_t em = {{0}};
  for (size_t i = 0; i < ct.n; i++) {
    fl_put_result_t r;
    FL_CHECK_OK(fl_client_put(cl, ct.o[i].buf, ct.o[i].len, &r, &em));
    FL_CHECK_EQ(r.existed, 0);
    FL_CHECK_EQ(r.replicated, 0);
    FL_CHECK_EQ(r.frags_total, 6);
    FL_CHECK_EQ(r.frags_durable, 6);
    FL_CHECK_EQ(r.frags_missing, 0);
    FL_CHECK_STR(r.sop_uid, ct.o[i].di.sop_uid);
  }
  fl_put_result_t r;
  FL_CHECK_OK(fl_client_put(cl, sr.o[0].buf, sr.o[0].len, &r, &em));
  FL_CHECK_EQ(r.replicated, 1);
  FL_CHECK_EQ(r.frags_total, 3);
  FL_CHECK_EQ(r.frags_durable, 3);

  fl_study_listing_t l;
  FL_CHECK_OK(fl_study_list(cl, ct.uid, &l, &em));
  FL_CHECK_EQ(l.count, ct.n);
  for (size_t i = 0; i < l.count; i++) {
    FL_CHECK_EQ(l.inst[i].frags_present, 6);
    FL_CHECK(fl_itest_study_find(&ct, l.inst[i].sop_uid) != NULL);
    FL_CHECK_EQ(l.inst[i].size, fl_itest_study_find(&ct, l.inst[i].sop_uid)->len);
    FL_CHECK_STR(l.inst[i].modality, "CT");
  }
  fl_study_listing_free(&l);
  FL_CHECK_EQ(check_study(&ct), ct.n);
  FL_CHECK_EQ(check_study(&sr), 1);

  /* Single instance, with and without its series. */
  void *data;
  size_t len;
  FL_CHECK_OK(fl_client_get(cl, ct.uid, NULL, ct.o[3].di.sop_uid, &data, &len, &em));
  FL_CHECK_EQ(len, ct.o[3].len);
  FL_CHECK_MEM(data, ct.o[3].buf, len);
  free(data);
  FL_CHECK_OK(fl_client_get(cl, sr.uid, sr.o[0].di.series_uid, sr.o[0].di.sop_uid, &data, &len,
                            &em));
  FL_CHECK_EQ(len, sr.o[0].len);
  FL_CHECK_MEM(data, sr.o[0].buf, len);
  free(data);
  FL_CHECK_ERR(fl_client_get(cl, ct.uid, ct.o[0].di.series_uid, "1.2.3.4.5", &data, &len, &em),
               FL_ENOTFOUND);

  /* The tenant's studies: both, once each. */
  fl_study_summary_t *ss;
  size_t n;
  unsigned down = 9;
  FL_CHECK_OK(fl_client_list_studies(cl, &ss, &n, &down, &em));
  FL_CHECK_EQ(n, 2);
  FL_CHECK_EQ(down, 0);
  FL_CHECK(strcmp(ss[0].study_uid, ct.uid) == 0 || strcmp(ss[1].study_uid, ct.uid) == 0);
  FL_CHECK(strcmp(ss[0].study_uid, sr.uid) == 0 || strcmp(ss[1].study_uid, sr.uid) == 0);
  free(ss);
}

static void test_immutable(void) {
  fl_errmsg_t em = {{0}};
  fl_put_result_t r;
  FL_CHECK_OK(fl_client_put(cl, ct.o[0].buf, ct.o[0].len, &r, &em));
  FL_CHECK_EQ(r.existed, 1);
  FL_CHECK_OK(fl_client_put(cl, sr.o[0].buf, sr.o[0].len, &r, &em));
  FL_CHECK_EQ(r.existed, 1);
  /* Same UIDs, one pixel changed. */
  uint8_t *alt = malloc(ct.o[0].len);
  memcpy(alt, ct.o[0].buf, ct.o[0].len);
  alt[ct.o[0].len - 7] ^= 0x5a;
  FL_CHECK_ERR(fl_client_put(cl, alt, ct.o[0].len, &r, &em), FL_EEXIST);
  FL_CHECK(strstr(em.msg, "immutable") != NULL);
  free(alt);
  FL_CHECK_EQ(check_study(&ct), ct.n);
}

static void test_degraded(void) {
  fl_errmsg_t em = {{0}};
  /* m = 2 nodes gone: everything still reads back. */
  kill_node(0);
  kill_node(4);
  FL_CHECK_EQ(check_study(&ct), ct.n);
  FL_CHECK_EQ(check_study(&sr), 1);
  fl_study_listing_t l;
  FL_CHECK_OK(fl_study_list(cl, ct.uid, &l, &em));
  FL_CHECK_EQ(l.count, ct.n);
  FL_CHECK_EQ(l.nodes_down, 2);
  fl_study_listing_free(&l);

  /* 4 of 6 up, min_write 5: refused, and nothing becomes visible. */
  fl_itest_study_t b;
  fl_itest_study_make(&b, FL_GEN_CT, 2, 99);
  fl_put_result_t r;
  FL_CHECK_ERR(fl_client_put(cl, b.o[0].buf, b.o[0].len, &r, &em), FL_EQUORUM);
  FL_CHECK(strstr(em.msg, "needed") != NULL);
  FL_CHECK_EQ(check_study(&b), 0);

  /* 5 of 6 up: accepted, one fragment left for repair. */
  start_node(0);
  FL_CHECK_OK(fl_client_put(cl, b.o[0].buf, b.o[0].len, &r, &em));
  FL_CHECK_EQ(r.frags_durable, 5);
  FL_CHECK_EQ(r.frags_missing, 1);
  start_node(4);
  FL_CHECK_OK(fl_client_put(cl, b.o[1].buf, b.o[1].len, &r, &em));
  FL_CHECK_EQ(r.frags_missing, 0);
  FL_CHECK_EQ(check_study(&b), 2);
  fl_itest_study_free(&b);
}

typedef struct putter {
  fl_itest_study_t *s;
  int *rc;
  volatile int done;
} putter_t;

static void *put_thread(void *arg) {
  putter_t *p = arg;
  for (size_t i = 0; i < p->s->n; i++) {
    fl_put_result_t r;
    p->rc[i] = fl_client_put(cl, p->s->o[i].buf, p->s->o[i].len, &r, NULL);
    __atomic_store_n(&p->done, (int)i + 1, __ATOMIC_SEQ_CST);
  }
  return NULL;
}

/* The listed instances are exactly the acknowledged ones, all readable. */
static void check_visible(fl_itest_study_t *s, const int *rc) {
  fl_study_listing_t l;
  fl_errmsg_t em = {{0}};
  FL_CHECK_OK(fl_study_list(cl, s->uid, &l, &em));
  size_t ok = 0;
  for (size_t i = 0; i < s->n; i++)
    ok += rc[i] == 0;
  FL_CHECK_EQ(l.count, ok);
  for (size_t i = 0; i < l.count; i++) {
    fl_itest_obj_t *o = fl_itest_study_find(s, l.inst[i].sop_uid);
    FL_CHECK(o != NULL);
    FL_CHECK_EQ(rc[o - s->o], 0);
  }
  fl_study_listing_free(&l);
  FL_CHECK_EQ(check_study(s), ok);
}

static void test_kill_during_put(void) {
  fl_itest_study_t c;
  fl_itest_study_make(&c, FL_GEN_CT, 40, 1234);
  int *rc = calloc(c.n, sizeof *rc);
  putter_t p = {&c, rc, 0};
  pthread_t th;
  FL_CHECK_EQ(pthread_create(&th, NULL, put_thread, &p), 0);
  while (__atomic_load_n(&p.done, __ATOMIC_SEQ_CST) < 10)
    usleep(1000);
  kill_node(2);
  kill_node(3);
  pthread_join(th, NULL);
  size_t ok = 0, quorum = 0;
  for (size_t i = 0; i < c.n; i++) {
    ok += rc[i] == 0;
    quorum += rc[i] == FL_EQUORUM;
  }
  fprintf(stderr, "put during kill: %zu acknowledged, %zu refused (FL_EQUORUM)\n", ok, quorum);
  FL_CHECK_INT(ok, >=, 10);
  FL_CHECK_EQ(ok + quorum, c.n);
  FL_CHECK_INT(quorum, >, 0);
  check_visible(&c, rc);
  start_node(2);
  start_node(3);
  check_visible(&c, rc);
  free(rc);
  fl_itest_study_free(&c);
}

static void test_delete(void) {
  fl_errmsg_t em = {{0}};
  uint64_t n = 0;
  FL_CHECK_OK(fl_study_delete(cl, ct.uid, &n, &em));
  FL_CHECK_EQ(n, ct.n);
  FL_CHECK_EQ(check_study(&ct), 0);
  void *data;
  size_t len;
  FL_CHECK_ERR(fl_client_get(cl, ct.uid, ct.o[0].di.series_uid, ct.o[0].di.sop_uid, &data, &len,
                             &em),
               FL_ENOTFOUND);
  FL_CHECK_OK(fl_study_delete(cl, ct.uid, &n, &em));
  FL_CHECK_EQ(n, 0);
  /* Deleted instances may be stored again. */
  fl_put_result_t r;
  FL_CHECK_OK(fl_client_put(cl, ct.o[0].buf, ct.o[0].len, &r, &em));
  FL_CHECK_EQ(check_study(&ct), 1);
}

typedef struct uids {
  char v[64][FL_UID_BUF];
  int n;
} uids_t;

static int collect_study(void *arg, const Fl__ListEntry *e) {
  uids_t *u = arg;
  if (u->n == 64)
    return -1;
  snprintf(u->v[u->n++], FL_UID_BUF, "%s", e->key->study_uid);
  return 0;
}

/* LIST with an empty study UID: each node's distinct studies, the same with
 * pages of 2 as in one page, and together every study of the tenant. */
static void test_enumeration(void) {
  fl_errmsg_t em = {{0}};
  fl_itest_study_t s[7];
  for (int i = 0; i < 7; i++) {
    fl_itest_study_make(&s[i], FL_GEN_SR, 1, 50 + (uint64_t)i);
    FL_CHECK_OK(fl_client_put(cl, s[i].o[0].buf, s[i].o[0].len, NULL, &em));
  }
  int found[7] = {0};
  for (int n = 0; n < NNODES; n++) {
    fl_wire_conn_t c;
    FL_CHECK_OK(fl_itest_connect(&nodes[n], &c));
    fl_nc_key_t k = {0, "hosp-a", "", NULL, NULL, 0};
    uids_t *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    uint64_t na = 0, nb = 0;
    FL_CHECK_OK(fl_nc_list(&c, &k, 2, collect_study, a, &na, &em));
    FL_CHECK_OK(fl_nc_list(&c, &k, 1000, collect_study, b, &nb, &em));
    FL_CHECK_EQ(na, nb);
    for (int i = 0; i < a->n; i++) {
      int same = 0;
      for (int j = 0; j < b->n; j++)
        same += strcmp(a->v[i], b->v[j]) == 0;
      FL_CHECK_EQ(same, 1); /* in both, and once */
      for (int j = 0; j < 7; j++)
        found[j] += strcmp(a->v[i], s[j].uid) == 0;
    }
    /* Another tenant sees nothing of these. */
    fl_nc_key_t other = {0, "hosp-b", "", NULL, NULL, 0};
    FL_CHECK_OK(fl_nc_list(&c, &other, 2, NULL, NULL, &na, &em));
    FL_CHECK_EQ(na, 0);
    free(a);
    free(b);
    fl_wire_conn_close(&c);
  }
  for (int j = 0; j < 7; j++)
    FL_CHECK_EQ(found[j], 3); /* m+1 replicas, one per node */
  fl_study_summary_t *ss;
  size_t n;
  FL_CHECK_OK(fl_client_list_studies(cl, &ss, &n, NULL, &em));
  for (int j = 0; j < 7; j++) {
    int seen = 0;
    for (size_t i = 0; i < n; i++)
      seen += strcmp(ss[i].study_uid, s[j].uid) == 0;
    FL_CHECK_EQ(seen, 1);
  }
  free(ss);
  for (int i = 0; i < 7; i++)
    fl_itest_study_free(&s[i]);
}

static void test_bad_input(void) {
  fl_errmsg_t em = {{0}};
  static const char junk[] = "this is not a DICOM file at all";
  FL_CHECK_ERR(fl_client_put(cl, junk, sizeof junk, NULL, &em), FL_ENOTDICOM);
  fl_client_t *x = NULL;
  fl_client_opts_t o = {"static:4+2:127.0.0.1:1", NULL, 0, 0, 0, 0};
  FL_CHECK_ERR(fl_client_open(&x, &o, &em), FL_EUNAVAIL);
  o.coord = spec;
  o.tenant = "Bad Tenant";
  FL_CHECK_ERR(fl_client_open(&x, &o, &em), FL_ECONFIG);
}

/* A failed check exits: take the nodes down with the test. */
static void kill_all(void) {
  for (int i = 0; i < NNODES; i++)
    if (nodes[i].proc.pid > 0)
      fl_proc_stop(&nodes[i].proc, SIGKILL, 5000);
}

int main(void) {
  char dir[400];
  atexit(kill_all);
  FL_CHECK_OK(fl_proc_scratch_dir("itest_client", dir, sizeof dir));
  size_t off = (size_t)snprintf(spec, sizeof spec, "static:4+2:");
  for (int i = 0; i < NNODES; i++) {
    snprintf(nodes[i].dir, sizeof nodes[i].dir, "%s/n%d", dir, i + 1);
    start_node(i);
    off += (size_t)snprintf(spec + off, sizeof spec - off, "%s127.0.0.1:%d", i ? "," : "",
                            nodes[i].port);
  }
  fl_client_opts_t o = {spec, "hosp-a", 0, 0, 5000, 0};
  fl_errmsg_t em = {{0}};
  int rc = fl_client_open(&cl, &o, &em);
  if (rc)
    FL__FAIL("open: %s", fl_errmsg_str(&em, rc));
  fl_itest_study_make(&ct, FL_GEN_CT, 12, 7);
  fl_itest_study_make(&sr, FL_GEN_SR, 1, 8);
  FL_RUN(test_roundtrip);
  FL_RUN(test_immutable);
  FL_RUN(test_degraded);
  FL_RUN(test_kill_during_put);
  FL_RUN(test_delete);
  FL_RUN(test_enumeration);
  FL_RUN(test_bad_input);
  fl_client_close(cl);
  fl_itest_study_free(&ct);
  fl_itest_study_free(&sr);
  for (int i = 0; i < NNODES; i++)
    fl_proc_stop(&nodes[i].proc, SIGTERM, 20000);
  fl_proc_rmtree(dir);
  FL_DONE();
}
