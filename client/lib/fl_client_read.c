/* libfilmless read side: list a study across its placement group (merging
 * what each node holds into visible instances), read an instance from any
 * k fragments (data first), fetch a whole study with many instances in
 * flight, delete a study, and enumerate a tenant's studies. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fl_client_int.h"
#include "fl_cmap.h"
#include "fl_ec_frag.h"
#include "fl_log.h"
#include "fl_uid.h"

/* ---- collecting LIST entries ---------------------------------------------- */

/* One fragment as a node listed it. */
typedef struct fl__lent {
  char series[FL_CLIENT_UID_BUF], sop[FL_CLIENT_UID_BUF];
  char sop_class[FL_CLIENT_UID_BUF], modality[17], study_date[9];
  int32_t series_number, instance_number;
  uint32_t frag, layout;
  uint64_t fsize, osize;
  int ai; /* index of the node in the PG's ask set */
} fl__lent_t;

typedef struct fl__lvec {
  fl__lent_t *v;
  size_t n, cap;
  int ai;
} fl__lvec_t;

static void fl__attr_str(char *dst, size_t cap, const Fl__Attribute *a) {
  size_t n = a->value.len < cap - 1 ? a->value.len : cap - 1;
  memcpy(dst, a->value.data, n);
  dst[n] = '\0';
}

static int32_t fl__attr_int(const Fl__Attribute *a) {
  char tmp[16];
  fl__attr_str(tmp, sizeof tmp, a);
  return (int32_t)strtol(tmp, NULL, 10);
}

static void fl__lent_fill(fl__lent_t *x, const Fl__ListEntry *e) {
  memset(x, 0, sizeof *x);
  x->series_number = x->instance_number = -1;
  if (e->key) {
    snprintf(x->series, sizeof x->series, "%s", e->key->series_uid);
    snprintf(x->sop, sizeof x->sop, "%s", e->key->sop_uid);
  }
  x->frag = e->fragment_index;
  x->layout = e->layout;
  x->fsize = e->fragment_size;
  x->osize = e->object_size;
  for (size_t i = 0; i < e->n_attrs; i++) {
    const Fl__Attribute *a = e->attrs[i];
    if (a->encrypted)
      continue;
    switch (a->tag) {
    case 0x00080016u:
      fl__attr_str(x->sop_class, sizeof x->sop_class, a);
      break;
    case 0x00080060u:
      fl__attr_str(x->modality, sizeof x->modality, a);
      break;
    case 0x00080020u:
      fl__attr_str(x->study_date, sizeof x->study_date, a);
      break;
    case 0x00200011u:
      x->series_number = fl__attr_int(a);
      break;
    case 0x00200013u:
      x->instance_number = fl__attr_int(a);
      break;
    default:
      break;
    }
  }
}

static int fl__sink(fl__ftask_t *t, const Fl__ListEntry *e) {
  fl__lvec_t *v = t->sink_arg;
  if (e->tombstone)
    return 0;
  if (v->n == v->cap) {
    size_t nc = v->cap ? v->cap * 2 : 256;
    fl__lent_t *nv = realloc(v->v, nc * sizeof *nv);
    if (!nv)
      return -ENOMEM;
    v->v = nv;
    v->cap = nc;
  }
  fl__lent_t *x = &v->v[v->n];
  fl__lent_fill(x, e);
  /* Names from a node become file names (get -o DIR): only valid UIDs. */
  if (fl_uid_check(x->series, strlen(x->series), NULL) != 0 ||
      fl_uid_check(x->sop, strlen(x->sop), NULL) != 0) {
    fl_warn("client", "node %u listed an entry with an invalid UID; ignored", t->np->id);
    return 0;
  }
  x->ai = v->ai;
  v->n++;
  return 0;
}

/* ---- a PG's nodes: current placement and earlier holders ----------------- */

/* Where a study's fragments are: position i of the current map holds
 * fragment i, unless the PG moved since an earlier map and the fragment
 * was not copied yet, in which case position i of that map holds it. */
typedef struct fl__pgset {
  const fl__epoch_t *e;                    /* current epoch (the call's view) */
  uint32_t pg;
  unsigned w;                              /* current width, k+m */
  fl__npool_t *pos[FL_MAP_WIDTH_MAX];      /* current positions */
  unsigned nprev;
  unsigned pw[FL__HIST];                   /* 0: the earlier map cannot place it */
  fl__npool_t *ppos[FL__HIST][FL_MAP_WIDTH_MAX];
  fl__npool_t *ask[FL__ASK_MAX];           /* pos[0..w), then earlier holders not among them */
  unsigned nask;
} fl__pgset_t;

static int fl__pgset(fl_client_t *c, const fl__view_t *v, const char *study, fl__pgset_t *ps,
                     fl_errmsg_t *em) {
  memset(ps, 0, sizeof *ps);
  ps->e = v->cur;
  int rc = fl__cl_place(c, v->cur, study, &ps->pg, ps->pos, em);
  if (rc)
    return rc;
  ps->w = fl_place_width(v->cur->place);
  uint32_t ids[FL__ASK_MAX], cand[FL_MAP_WIDTH_MAX];
  unsigned n = 0;
  for (unsigned i = 0; i < ps->w; i++)
    cand[i] = ps->pos[i]->id;
  fl_cmap_ask_add(ids, &n, FL__ASK_MAX, cand, ps->w);
  for (unsigned h = 0; h < v->nprev; h++) {
    uint32_t pg;
    if (fl__cl_place(c, v->prev[h], study, &pg, ps->ppos[h], NULL) != 0 || pg != ps->pg)
      continue; /* not placeable there (too few nodes): nothing to find */
    ps->pw[h] = fl_place_width(v->prev[h]->place);
    ps->nprev = h + 1;
    for (unsigned i = 0; i < ps->pw[h]; i++)
      cand[i] = ps->ppos[h][i]->id;
    if (fl_cmap_ask_add(ids, &n, FL__ASK_MAX, cand, ps->pw[h]))
      fl_warn("client", "PG %u: more than %u nodes across map epochs; some earlier holders "
              "are not asked", ps->pg, FL__ASK_MAX);
  }
  ps->nask = n;
  for (unsigned a = 0; a < n; a++) {
    fl__npool_t *p = NULL;
    for (unsigned i = 0; i < ps->w && !p; i++)
      if (ps->pos[i]->id == ids[a])
        p = ps->pos[i];
    for (unsigned h = 0; h < ps->nprev && !p; h++)
      for (unsigned i = 0; i < ps->pw[h] && !p; i++)
        if (ps->ppos[h][i]->id == ids[a])
          p = ps->ppos[h][i];
    ps->ask[a] = p;
  }
  return 0;
}

/* ---- study scan: who holds which fragment of which instance --------------- */

typedef struct fl__inst {
  fl_instance_t pub;
  int holder[FL_EC_MAX_FRAGS]; /* ask index of a node holding fragment i, -1: none */
  uint64_t on;                 /* ask indexes listing any fragment of it */
  uint64_t fsize;
  int visible;
} fl__inst_t;

typedef struct fl__scan {
  fl__pgset_t ps;
  fl__inst_t *inst;
  size_t n;
  unsigned nodes_down; /* of the current placement */
  int first_err;
  fl_errmsg_t first_em;
} fl__scan_t;

static int fl__lent_cmp(const void *a, const void *b) {
  const fl__lent_t *x = a, *y = b;
  int r = strcmp(x->series, y->series);
  if (!r)
    r = strcmp(x->sop, y->sop);
  if (!r)
    r = (x->frag > y->frag) - (x->frag < y->frag);
  if (!r) /* a fragment on its current holder is preferred to an earlier one */
    r = (x->ai > y->ai) - (x->ai < y->ai);
  return r;
}

static int fl__inst_cmp(const void *a, const void *b) {
  const fl_instance_t *x = &((const fl__inst_t *)a)->pub, *y = &((const fl__inst_t *)b)->pub;
  if (x->series_number != y->series_number)
    return x->series_number < y->series_number ? -1 : 1;
  int r = strcmp(x->series_uid, y->series_uid);
  if (r)
    return r;
  if (x->instance_number != y->instance_number)
    return x->instance_number < y->instance_number ? -1 : 1;
  return strcmp(x->sop_uid, y->sop_uid);
}

static void fl__scan_free(fl__scan_t *s) {
  free(s->inst);
  s->inst = NULL;
  s->n = 0;
}

/* Lists the study on every node of its group in parallel, and on the
 * nodes that held the PG's positions in the earlier maps of v, and merges
 * the answers per instance by fragment index. Only the current placement's
 * answers decide whether the study can be listed: an earlier holder that
 * fails is skipped. Instances with too few fragments to be read are kept
 * with visible = 0 (delete needs them). limit > 0 reads only the first
 * `limit` fragments of each node (a quick look at the study's beginning:
 * what it shows visible is visible, the rest is unknown). v is borrowed
 * for as long as s is used. */
static int fl__scan_study(fl_client_t *c, const fl__view_t *v, const char *study, size_t limit,
                          fl__scan_t *s, fl_errmsg_t *em) {
  memset(s, 0, sizeof *s);
  int rc = fl__cl_check_uid("study UID", study, em);
  if (rc)
    return rc;
  if ((rc = fl__pgset(c, v, study, &s->ps, em)) != 0)
    return rc;
  const fl_map_policy_t *pol = &s->ps.e->map.policy;
  unsigned w = s->ps.w, na = s->ps.nask;
  fl__ftask_t *t = calloc(na, sizeof *t);
  fl__lvec_t *vec = calloc(na, sizeof *vec);
  if (!t || !vec) {
    free(t);
    free(vec);
    return -ENOMEM;
  }
  fl_latch_t l;
  fl_latch_init(&l);
  for (unsigned i = 0; i < na; i++) {
    fl__cl_task_init(&t[i], c, &l, FL__OP_LIST, s->ps.ask[i]);
    t[i].key = (fl_nc_key_t){s->ps.pg, c->tenant, study, NULL, NULL, 0};
    t[i].sink = fl__sink;
    t[i].sink_arg = &vec[i];
    vec[i].ai = (int)i;
    if (limit) {
      t[i].page = (uint32_t)limit;
      t[i].stop_after = limit;
    }
  }
  fl__cl_run_tasks(c, t, na, &l);
  fl_latch_destroy(&l);
  size_t total = 0;
  unsigned answered = 0;
  for (unsigned i = 0; i < na; i++) {
    if (t[i].rc && i >= w) {
      fl_debug("client", "listing %s on node %u (an earlier holder): %s", study,
               s->ps.ask[i]->id, fl_errmsg_str(&t[i].em, t[i].rc));
      vec[i].n = 0;
    } else if (t[i].rc) {
      s->nodes_down++;
      if (!s->first_err) {
        s->first_err = t[i].rc;
        s->first_em = t[i].em;
      }
      fl_warn("client", "listing %s on node %u: %s", study, s->ps.ask[i]->id,
              fl_errmsg_str(&t[i].em, t[i].rc));
      vec[i].n = 0;
    } else if (i < w) {
      answered++;
    }
    total += vec[i].n;
  }
  free(t);
  fl__lent_t *all = malloc((total ? total : 1) * sizeof *all);
  rc = all ? 0 : -ENOMEM;
  size_t off = 0;
  for (unsigned i = 0; i < na; i++) {
    if (all && vec[i].n)
      memcpy(all + off, vec[i].v, vec[i].n * sizeof *all);
    off += vec[i].n;
    free(vec[i].v);
  }
  free(vec);
  if (rc)
    return rc;
  if (answered < pol->k) {
    free(all);
    return fl_errf(em, FL_EUNAVAIL,
                   "only %u of %u nodes of the study's placement group answered (%s); at "
                   "least %u are needed to list it",
                   answered, w, fl_errmsg_str(&s->first_em, s->first_err), pol->k);
  }
  qsort(all, total, sizeof *all, fl__lent_cmp);
  s->inst = calloc(total ? total : 1, sizeof *s->inst);
  if (!s->inst) {
    free(all);
    return -ENOMEM;
  }
  for (size_t i = 0; i < total;) {
    size_t j = i;
    fl__inst_t *in = &s->inst[s->n++];
    fl_instance_t *p = &in->pub;
    for (int f = 0; f < FL_EC_MAX_FRAGS; f++)
      in->holder[f] = -1;
    snprintf(p->study_uid, sizeof p->study_uid, "%s", study);
    memcpy(p->series_uid, all[i].series, sizeof p->series_uid);
    memcpy(p->sop_uid, all[i].sop, sizeof p->sop_uid);
    memcpy(p->sop_class_uid, all[i].sop_class, sizeof p->sop_class_uid);
    memcpy(p->modality, all[i].modality, sizeof p->modality);
    memcpy(p->study_date, all[i].study_date, sizeof p->study_date);
    p->series_number = all[i].series_number;
    p->instance_number = all[i].instance_number;
    p->size = all[i].osize;
    p->replicated = all[i].layout == 0;
    p->frags_total = p->replicated ? pol->m + 1 : pol->k + pol->m;
    in->fsize = all[i].fsize;
    for (; j < total && strcmp(all[j].sop, all[i].sop) == 0 &&
           strcmp(all[j].series, all[i].series) == 0;
         j++) {
      in->on |= 1ull << all[j].ai;
      /* Fragments of another layout or size than the first are another
       * write of the key; the decoder sorts them out, the listing counts
       * only the consistent ones. */
      if (all[j].frag < FL_EC_MAX_FRAGS && in->holder[all[j].frag] < 0 &&
          all[j].layout == all[i].layout && all[j].osize == all[i].osize) {
        in->holder[all[j].frag] = all[j].ai;
        p->frags_present++;
      }
    }
    in->visible = p->replicated ? p->frags_present >= 1 : p->frags_present >= pol->k;
    i = j;
  }
  free(all);
  qsort(s->inst, s->n, sizeof *s->inst, fl__inst_cmp);
  return 0;
}

/* ---- reading one instance ------------------------------------------------- */

typedef struct fl__want {
  int frag;
  fl__npool_t *np;
} fl__want_t;

/* Fetches the given fragments in parallel; appends the ones that arrived
 * whole to bufs/lens (taking ownership), sets their bits in *have and
 * returns how many did. With a
 * known fragment size above FL__RANGE each fragment is read as several
 * ranges at once (more reads in flight on the node's disk and on the
 * network); the fragment's own CRC, checked by the decoder, covers them. */
static int fl__fetch(fl_client_t *c, uint32_t pg, const char *study, const char *series,
                     const char *sop, const fl__want_t *want, int nw, uint64_t fsize,
                     uint8_t **bufs, size_t *lens, int *nb, uint64_t *have, int *first_err,
                     fl_errmsg_t *first_em) {
  size_t per = fsize > FL__RANGE ? (size_t)((fsize + FL__RANGE - 1) / FL__RANGE) : 1;
  size_t nt = (size_t)nw * per;
  fl__ftask_t one[FL_EC_MAX_FRAGS];
  fl__ftask_t *t = nt <= FL_EC_MAX_FRAGS ? one : calloc(nt, sizeof *t);
  uint8_t *fb[FL_EC_MAX_FRAGS] = {0};
  if (!t)
    return 0;
  fl_latch_t l;
  fl_latch_init(&l);
  for (int i = 0; i < nw; i++) {
    if (fsize)
      fb[i] = malloc(fsize);
    for (size_t r = 0; r < per; r++) {
      fl__ftask_t *x = &t[(size_t)i * per + r];
      fl__cl_task_init(x, c, &l, FL__OP_GET, want[i].np);
      x->key = (fl_nc_key_t){pg, c->tenant, study, series, sop, (uint32_t)want[i].frag};
      if (fb[i]) {
        x->off = (uint64_t)r * FL__RANGE;
        x->len = per > 1 ? (fsize - x->off < FL__RANGE ? fsize - x->off : FL__RANGE) : 0;
        x->buf = fb[i] + x->off;
        x->cap = per > 1 ? x->len : fsize;
      }
    }
  }
  fl__cl_run_tasks(c, t, nt, &l);
  fl_latch_destroy(&l);
  int got = 0;
  for (int i = 0; i < nw; i++) {
    int rc = 0;
    size_t total = 0;
    fl__ftask_t *bad = NULL;
    for (size_t r = 0; r < per; r++) {
      fl__ftask_t *x = &t[(size_t)i * per + r];
      if (x->rc && !rc) {
        rc = x->rc;
        bad = x;
      }
      total += x->got;
    }
    uint8_t *buf = fb[i] ? fb[i] : t[(size_t)i * per].buf;
    if (rc == 0 && fsize && total != fsize) {
      rc = FL_ECORRUPT; /* the node holds another size than it listed */
      bad = &t[(size_t)i * per];
      fl_errf(&bad->em, rc, "fragment %d of %s: %zu bytes, listed as %llu", want[i].frag, sop,
              total, (unsigned long long)fsize);
    }
    if (rc == 0) {
      bufs[*nb] = buf;
      lens[*nb] = total;
      (*nb)++;
      *have |= 1ull << want[i].frag;
      got++;
    } else {
      free(buf);
      if (!*first_err || *first_err == FL_ENOTFOUND) {
        *first_err = rc;
        *first_em = bad->em;
      }
    }
  }
  if (t != one)
    free(t);
  return got;
}

/* Decodes what was fetched. 0 and the object, FL_EUNAVAIL if more
 * fragments are needed, or another error. */
static int fl__try_decode(const fl__epoch_t *e, uint8_t **bufs, size_t *lens, int nb, uint8_t **out,
                          size_t *len, fl_errmsg_t *em) {
  if (nb == 0)
    return FL_EUNAVAIL;
  fl_ec_in_t in[FL_EC_MAX_FRAGS * 2];
  uint64_t osize = 0;
  for (int i = 0; i < nb; i++) {
    in[i].buf = bufs[i];
    in[i].len = lens[i];
    fl_ec_frag_hdr_t h;
    if (!osize && fl_ec_frag_hdr_parse(bufs[i], lens[i], &h, NULL) == 0)
      osize = h.object_size;
  }
  uint8_t *o = malloc(osize ? osize : 1);
  if (!o)
    return -ENOMEM;
  size_t got = 0;
  fl_ec_report_t rep;
  int rc = fl_ec_decode(e->ec, in, nb, o, osize ? osize : 1, &got, &rep, em);
  if (rc) {
    free(o);
    return rc;
  }
  if (rep.bad_pos)
    fl_warn("client", "read skipped %d corrupt fragment(s): %s", __builtin_popcountll(rep.bad_pos),
            em ? em->msg : "");
  *out = o;
  *len = got;
  return 0;
}

/* Reads one instance. hint (may be NULL) is its scan entry: which node of
 * ps->ask holds which fragment, and their size. Without it, the current
 * positions (data first, then parity), then for fragments still missing
 * the positions of the earlier maps (a fragment not yet moved). */
static int fl__read(fl_client_t *c, const fl__pgset_t *ps, const char *study,
                    const char *series, const char *sop, const fl__inst_t *hint, uint8_t **out,
                    size_t *len, fl_errmsg_t *em) {
  const fl__epoch_t *e = ps->e;
  unsigned k = e->map.policy.k, width = e->map.policy.k + e->map.policy.m;
  fl__want_t first[FL_EC_MAX_FRAGS] = {{0}}, rest[FL_EC_MAX_FRAGS] = {{0}};
  int nf = 0, nr = 0;
  if (hint) {
    unsigned need = hint->pub.replicated ? 1 : k;
    for (unsigned f = 0; f < width; f++) {
      if (hint->holder[f] < 0)
        continue;
      fl__want_t w = {(int)f, ps->ask[hint->holder[f]]};
      if ((unsigned)nf < need)
        first[nf++] = w;
      else
        rest[nr++] = w;
    }
  } else {
    for (unsigned f = 0; f < width; f++) {
      fl__want_t w = {(int)f, ps->pos[f]};
      if (f < k)
        first[nf++] = w;
      else
        rest[nr++] = w;
    }
  }
  uint8_t *bufs[FL_EC_MAX_FRAGS * 2];
  size_t lens[FL_EC_MAX_FRAGS * 2];
  int nb = 0, ferr = 0;
  uint64_t have = 0;
  fl_errmsg_t fem = {{0}};
  uint64_t fsize = hint ? hint->fsize : 0;
  fl__fetch(c, ps->pg, study, series, sop, first, nf, fsize, bufs, lens, &nb, &have, &ferr, &fem);
  fl_errmsg_t dem = {{0}};
  int rc = fl__try_decode(e, bufs, lens, nb, out, len, &dem);
  if (rc && nr) {
    /* Degraded: a data fragment is missing or bad; read the others. */
    fl__fetch(c, ps->pg, study, series, sop, rest, nr, fsize, bufs, lens, &nb, &have, &ferr,
              &fem);
    dem.msg[0] = '\0';
    rc = fl__try_decode(e, bufs, lens, nb, out, len, &dem);
  }
  /* Rebalancing: a fragment not on its current holder may still be on the
   * one an earlier map gave it. Their failures are not this read's
   * errors (they may be gone for good). */
  for (unsigned h = 0; rc && !hint && h < ps->nprev && nb < FL_EC_MAX_FRAGS; h++) {
    fl__want_t more[FL_EC_MAX_FRAGS];
    int nm = 0;
    for (unsigned f = 0; f < ps->pw[h] && f < width; f++)
      if (!(have >> f & 1) && ps->ppos[h][f] != ps->pos[f])
        more[nm++] = (fl__want_t){(int)f, ps->ppos[h][f]};
    if (nm > FL_EC_MAX_FRAGS - nb)
      nm = FL_EC_MAX_FRAGS - nb;
    if (!nm)
      continue;
    int xerr = 0;
    fl_errmsg_t xem = {{0}};
    if (fl__fetch(c, ps->pg, study, series, sop, more, nm, 0, bufs, lens, &nb, &have, &xerr,
                  &xem) == 0)
      continue;
    dem.msg[0] = '\0';
    rc = fl__try_decode(e, bufs, lens, nb, out, len, &dem);
  }
  for (int i = 0; i < nb; i++)
    free(bufs[i]);
  if (rc == 0 && hint && *len != hint->pub.size) {
    free(*out);
    *out = NULL;
    return fl_errf(em, FL_ECORRUPT, "%s decoded to %zu bytes, listed as %llu", sop, *len,
                   (unsigned long long)hint->pub.size);
  }
  if (rc == FL_EUNAVAIL && nb == 0 && ferr == FL_ENOTFOUND)
    return fl_errf(em, FL_ENOTFOUND, "no instance %s in study %s (tenant %s)", sop, study,
                   c->tenant);
  if (rc == FL_EUNAVAIL)
    return fl_errf(em, FL_EUNAVAIL,
                   "instance %s: only %d usable fragment(s) reachable, %u needed (%s)", sop, nb,
                   hint && hint->pub.replicated ? 1 : k,
                   ferr ? fl_errmsg_str(&fem, ferr) : fl_errmsg_str(&dem, rc));
  if (rc)
    return fl_errf(em, rc, "instance %s: %s", sop, fl_errmsg_str(&dem, rc));
  return 0;
}

static int fl__get(fl_client_t *c, const fl__view_t *v, const char *study, const char *series,
                   const char *sop, void **out, size_t *len, fl_errmsg_t *em) {
  int rc;
  if (!series) {
    fl__scan_t s;
    if ((rc = fl__scan_study(c, v, study, 0, &s, em)) != 0)
      return rc;
    rc = fl_errf(em, FL_ENOTFOUND, "no instance %s in study %s (tenant %s)", sop, study,
                 c->tenant);
    for (size_t i = 0; i < s.n; i++)
      if (strcmp(s.inst[i].pub.sop_uid, sop) == 0 && s.inst[i].visible) {
        rc = fl__read(c, &s.ps, study, s.inst[i].pub.series_uid, sop, &s.inst[i],
                      (uint8_t **)out, len, em);
        break;
      }
    fl__scan_free(&s);
    return rc;
  }
  fl__pgset_t ps;
  if ((rc = fl__pgset(c, v, study, &ps, em)) != 0)
    return rc;
  return fl__read(c, &ps, study, series, sop, NULL, (uint8_t **)out, len, em);
}

int fl_client_get(fl_client_t *c, const char *study, const char *series, const char *sop,
                  void **out, size_t *len, fl_errmsg_t *em) {
  int rc;
  if ((rc = fl__cl_check_uid("study UID", study, em)) != 0 ||
      (rc = fl__cl_check_uid("SOP instance UID", sop, em)) != 0 ||
      (series && (rc = fl__cl_check_uid("series UID", series, em)) != 0))
    return rc;
  fl__view_t *v = fl__cl_view_get(c);
  rc = fl__get(c, v, study, series, sop, out, len, em);
  fl__cl_view_put(v);
  return rc;
}

/* ---- listing -------------------------------------------------------------- */

int fl_study_list(fl_client_t *c, const char *study, fl_study_listing_t *out, fl_errmsg_t *em) {
  memset(out, 0, sizeof *out);
  fl__scan_t s;
  fl__view_t *v = fl__cl_view_get(c);
  int rc = fl__scan_study(c, v, study, 0, &s, em);
  fl__cl_view_put(v);
  if (rc)
    return rc;
  out->inst = calloc(s.n ? s.n : 1, sizeof *out->inst);
  if (!out->inst) {
    fl__scan_free(&s);
    return -ENOMEM;
  }
  for (size_t i = 0; i < s.n; i++)
    if (s.inst[i].visible)
      out->inst[out->count++] = s.inst[i].pub;
  out->nodes_down = s.nodes_down;
  fl__scan_free(&s);
  return 0;
}

void fl_study_listing_free(fl_study_listing_t *l) {
  if (!l)
    return;
  free(l->inst);
  l->inst = NULL;
  l->count = 0;
}

/* ---- whole study ---------------------------------------------------------- */

typedef struct fl__sget {
  fl_client_t *c;
  fl__scan_t *scan;
  fl_study_instance_cb cb;
  void *arg;
  int serialize;
  pthread_mutex_t mu; /* guards everything below, and cb when serialize */
  int stop, rc;
  fl_errmsg_t em;
  fl_study_get_stats_t st;
  double t0;
  fl_latch_t done;
} fl__sget_t;

typedef struct fl__sjob {
  fl__sget_t *g;
  fl__inst_t *in;
} fl__sjob_t;

static void fl__sget_fail(fl__sget_t *g, int rc, const fl_errmsg_t *em) {
  pthread_mutex_lock(&g->mu);
  g->st.failed++;
  if (!g->rc) {
    g->rc = rc;
    g->em = *em;
  }
  pthread_mutex_unlock(&g->mu);
}

static void fl__sget_job(void *arg) {
  fl__sjob_t *j = arg;
  fl__sget_t *g = j->g;
  pthread_mutex_lock(&g->mu);
  int stop = g->stop;
  pthread_mutex_unlock(&g->mu);
  if (!stop) {
    uint8_t *data = NULL;
    size_t len = 0;
    fl_errmsg_t em = {{0}};
    fl__inst_t *in = j->in;
    int rc = fl__read(g->c, &g->scan->ps, in->pub.study_uid, in->pub.series_uid,
                      in->pub.sop_uid, in, &data, &len, &em);
    if (rc) {
      fl__sget_fail(g, rc, &em);
    } else {
      pthread_mutex_lock(&g->mu);
      if (!g->st.instances && !g->st.first_ms)
        g->st.first_ms = fl__cl_now_ms() - g->t0;
      int stopped = g->stop;
      if (!g->serialize)
        pthread_mutex_unlock(&g->mu);
      int crc = stopped ? 0 : g->cb(g->arg, &in->pub, data, len);
      if (!g->serialize)
        pthread_mutex_lock(&g->mu);
      if (crc) {
        g->stop = 1;
        if (!g->rc) {
          g->rc = crc;
          fl_errf(&g->em, crc, "instance %s refused by the caller", in->pub.sop_uid);
        }
      } else {
        g->st.instances++;
        g->st.bytes += len;
      }
      pthread_mutex_unlock(&g->mu);
      free(data);
    }
  }
  fl_latch_done(&g->done);
}

/* Fragments per node of the quick look that finds a first instance. */
#define FL__QUICK_LOOK 16

static int fl__study_get(fl_client_t *c, const char *study, fl_study_instance_cb cb, void *arg,
                         int serialize, fl_study_get_stats_t *stats, fl_errmsg_t *em) {
  fl__sget_t g;
  memset(&g, 0, sizeof g);
  g.t0 = fl__cl_now_ms();
  g.c = c;
  g.cb = cb;
  g.arg = arg;
  g.serialize = serialize;
  pthread_mutex_init(&g.mu, NULL);
  fl_latch_init(&g.done);
  /* A quick look at the first fragments of each node finds an instance
   * that can be read at once; it is fetched and delivered on this thread
   * before the whole study is listed, so a viewer gets it without waiting
   * for the listing of a large study. */
  fl__scan_t q, s;
  memset(&s, 0, sizeof s);
  fl__sjob_t first = {&g, NULL};
  fl__view_t *v = fl__cl_view_get(c);
  int rc = fl__scan_study(c, v, study, FL__QUICK_LOOK, &q, em);
  if (rc) {
    if (em)
      em->msg[0] = '\0';
    memset(&q, 0, sizeof q);
  }
  for (size_t i = 0; i < q.n && !first.in; i++)
    if (q.inst[i].visible)
      first.in = &q.inst[i];
  if (first.in) {
    g.scan = &q;
    fl_latch_add(&g.done, 1);
    fl__sget_job(&first);
  }
  fl__sjob_t *jobs = NULL;
  size_t nj = 0;
  if ((rc = fl__scan_study(c, v, study, 0, &s, em)) != 0)
    goto out;
  jobs = calloc(s.n ? s.n : 1, sizeof *jobs);
  if (!jobs) {
    rc = -ENOMEM;
    goto out;
  }
  g.scan = &s;
  for (size_t i = 0; i < s.n; i++)
    if (s.inst[i].visible &&
        !(first.in && strcmp(s.inst[i].pub.sop_uid, first.in->pub.sop_uid) == 0 &&
          strcmp(s.inst[i].pub.series_uid, first.in->pub.series_uid) == 0)) {
      jobs[nj].g = &g;
      jobs[nj].in = &s.inst[i];
      nj++;
    }
  fl_latch_add(&g.done, (unsigned)nj);
  for (size_t i = 0; i < nj; i++)
    if (fl_pool_submit(c->study, fl__sget_job, &jobs[i]) != 0)
      fl__sget_job(&jobs[i]);
  fl_latch_wait(&g.done);
  if (nj == 0 && !first.in)
    rc = fl_errf(em, FL_ENOTFOUND, "no study %s for tenant %s", study, c->tenant);
  else if (g.rc) {
    rc = g.rc;
    if (em)
      *em = g.em;
  }
out:
  fl_latch_wait(&g.done);
  if (stats)
    *stats = g.st;
  fl_latch_destroy(&g.done);
  pthread_mutex_destroy(&g.mu);
  free(jobs);
  fl__scan_free(&q);
  fl__scan_free(&s);
  fl__cl_view_put(v);
  return rc;
}

int fl_study_get(fl_client_t *c, const char *study, fl_study_instance_cb cb, void *arg,
                 fl_study_get_stats_t *stats, fl_errmsg_t *em) {
  return fl__study_get(c, study, cb, arg, 1, stats, em);
}

typedef struct fl__dirw {
  const char *dir;
} fl__dirw_t;

/* Thread-safe: each call writes its own file. */
static int fl__write_file(void *arg, const fl_instance_t *in, const void *data, size_t len) {
  const fl__dirw_t *d = arg;
  char path[4096], tmp[4200];
  snprintf(path, sizeof path, "%s/%s.dcm", d->dir, in->sop_uid);
  snprintf(tmp, sizeof tmp, "%s.part", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return -errno;
  const uint8_t *p = data;
  size_t left = len;
  while (left) {
    ssize_t w = write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      int e = -errno;
      close(fd);
      unlink(tmp);
      return e;
    }
    p += w;
    left -= (size_t)w;
  }
  if (close(fd) != 0 || rename(tmp, path) != 0) {
    int e = -errno;
    unlink(tmp);
    return e;
  }
  return 0;
}

int fl_study_get_to_dir(fl_client_t *c, const char *study, const char *dir,
                        fl_study_get_stats_t *stats, fl_errmsg_t *em) {
  if (mkdir(dir, 0755) != 0 && errno != EEXIST)
    return fl_errf(em, -errno, "cannot create %s: %s", dir, strerror(errno));
  fl__dirw_t d = {dir};
  int rc = fl__study_get(c, study, fl__write_file, &d, 0, stats, em);
  if (rc && rc > FL_ERR_BASE)
    fl_errprefix(em, rc, "writing into %s", dir);
  return rc;
}

/* ---- delete --------------------------------------------------------------- */

/* Deletes on every node that listed anything of the study: the current
 * placement and the earlier holders, so a fragment not yet moved (or
 * moved but not yet dropped) does not survive the delete. An earlier
 * holder that cannot be reached does not fail the call (it may be gone
 * for good); one of the current placement does. */
static int fl__delete(fl_client_t *c, const fl__view_t *v, const char *study,
                      uint64_t *instances, fl_errmsg_t *em) {
  fl__scan_t s;
  int rc = fl__scan_study(c, v, study, 0, &s, em);
  if (rc)
    return rc;
  unsigned na = s.ps.nask;
  /* Per asked node: the (series, sop) keys it holds anything of. */
  const char **ser = calloc((s.n ? s.n : 1) * na, sizeof *ser);
  const char **sop = calloc((s.n ? s.n : 1) * na, sizeof *sop);
  fl__ftask_t *t = calloc(na, sizeof *t);
  fl_latch_t l;
  fl_latch_init(&l);
  if (!ser || !sop || !t) {
    rc = -ENOMEM;
    goto out;
  }
  size_t nt = 0;
  for (unsigned a = 0; a < na; a++) {
    fl__cl_task_init(&t[nt], c, &l, FL__OP_DEL, s.ps.ask[a]);
    t[nt].key = (fl_nc_key_t){s.ps.pg, c->tenant, study, NULL, NULL, 0};
    t[nt].del_series = ser + (size_t)a * s.n;
    t[nt].del_sop = sop + (size_t)a * s.n;
    size_t n = 0;
    for (size_t i = 0; i < s.n; i++)
      if (s.inst[i].on >> a & 1) {
        ser[(size_t)a * s.n + n] = s.inst[i].pub.series_uid;
        sop[(size_t)a * s.n + n] = s.inst[i].pub.sop_uid;
        n++;
      }
    t[nt].del_n = n;
    if (n)
      nt++;
  }
  fl__cl_run_tasks(c, t, nt, &l);
  for (size_t i = 0; i < nt; i++) {
    if (!t[i].rc)
      continue;
    int current = 0;
    for (unsigned p = 0; p < s.ps.w; p++)
      current |= t[i].np == s.ps.pos[p];
    if (!current)
      fl_warn("client", "deleting %s on node %u (an earlier holder): %s", study,
              t[i].np->id, fl_errmsg_str(&t[i].em, t[i].rc));
    else if (!rc)
      rc = fl_errf(em, t[i].rc, "deleting on node %u: %s", t[i].np->id,
                   fl_errmsg_str(&t[i].em, t[i].rc));
  }
  if (!rc && s.nodes_down)
    rc = fl_errf(em, FL_EUNAVAIL,
                 "%u node(s) of the study's group did not answer and keep their fragments; "
                 "run the delete again when they are back",
                 s.nodes_down);
  if (instances)
    *instances = s.n;
out:
  fl_latch_destroy(&l);
  free(t);
  free(ser);
  free(sop);
  fl__scan_free(&s);
  return rc;
}

int fl_study_delete(fl_client_t *c, const char *study, uint64_t *instances, fl_errmsg_t *em) {
  if (instances)
    *instances = 0;
  fl__view_t *v = fl__cl_view_get(c);
  int rc = fl__delete(c, v, study, instances, em);
  fl__cl_view_put(v);
  return rc;
}

/* ---- the tenant's studies ------------------------------------------------- */

typedef struct fl__svec {
  fl_study_summary_t *v;
  size_t n, cap;
} fl__svec_t;

static int fl__study_sink(fl__ftask_t *t, const Fl__ListEntry *e) {
  fl__svec_t *v = t->sink_arg;
  if (!e->key || !e->key->study_uid[0])
    return 0;
  if (v->n == v->cap) {
    size_t nc = v->cap ? v->cap * 2 : 64;
    fl_study_summary_t *nv = realloc(v->v, nc * sizeof *nv);
    if (!nv)
      return -ENOMEM;
    v->v = nv;
    v->cap = nc;
  }
  if (fl_uid_check(e->key->study_uid, strlen(e->key->study_uid), NULL) != 0)
    return 0;
  fl__lent_t x;
  fl__lent_fill(&x, e);
  fl_study_summary_t *s = &v->v[v->n++];
  memset(s, 0, sizeof *s);
  snprintf(s->study_uid, sizeof s->study_uid, "%s", e->key->study_uid);
  memcpy(s->study_date, x.study_date, sizeof s->study_date);
  memcpy(s->modality, x.modality, sizeof s->modality);
  return 0;
}

static int fl__summary_cmp(const void *a, const void *b) {
  return strcmp(((const fl_study_summary_t *)a)->study_uid,
                ((const fl_study_summary_t *)b)->study_uid);
}

/* The nodes of the current map, then those only earlier maps of v name
 * (they may still hold a study whose every fragment moved). *ncur: how
 * many are current. A malloc'd array, NULL on -ENOMEM. */
static fl__npool_t **fl__all_nodes(const fl__view_t *v, uint32_t *n, uint32_t *ncur) {
  uint32_t cap = v->cur->map.node_count;
  for (unsigned h = 0; h < v->nprev; h++)
    cap += v->prev[h]->map.node_count;
  fl__npool_t **all = malloc((cap ? cap : 1) * sizeof *all);
  if (!all)
    return NULL;
  uint32_t k = 0;
  for (uint32_t i = 0; i < v->cur->map.node_count; i++)
    all[k++] = v->cur->np[i];
  *ncur = k;
  for (unsigned h = 0; h < v->nprev; h++)
    for (uint32_t i = 0; i < v->prev[h]->map.node_count; i++) {
      uint32_t id = v->prev[h]->map.nodes[i].id;
      int seen = fl__cl_node_index(v->cur, id) >= 0;
      for (unsigned g = 0; g < h && !seen; g++)
        seen = fl__cl_node_index(v->prev[g], id) >= 0;
      if (!seen)
        all[k++] = v->prev[h]->np[i];
    }
  *n = k;
  return all;
}

int fl_client_list_studies(fl_client_t *c, fl_study_summary_t **out, size_t *count,
                           unsigned *nodes_down, fl_errmsg_t *em) {
  *out = NULL;
  *count = 0;
  fl__view_t *view = fl__cl_view_get(c);
  uint32_t n = 0, ncur = 0;
  fl__npool_t **np = fl__all_nodes(view, &n, &ncur);
  fl__ftask_t *t = calloc(n ? n : 1, sizeof *t);
  fl__svec_t *v = calloc(n ? n : 1, sizeof *v);
  int rc = 0;
  if (!np || !t || !v) {
    rc = -ENOMEM;
    goto out;
  }
  fl_latch_t l;
  fl_latch_init(&l);
  for (uint32_t i = 0; i < n; i++) {
    fl__cl_task_init(&t[i], c, &l, FL__OP_LIST, np[i]);
    /* An empty study UID asks the node for the tenant's distinct studies
     * (docs/wire-protocol.md, LIST). */
    t[i].key = (fl_nc_key_t){0, c->tenant, "", NULL, NULL, 0};
    t[i].sink = fl__study_sink;
    t[i].sink_arg = &v[i];
  }
  fl__cl_run_tasks(c, t, n, &l);
  fl_latch_destroy(&l);
  size_t total = 0;
  unsigned down = 0, first = n;
  for (uint32_t i = 0; i < n; i++) {
    if (t[i].rc && i < ncur) {
      down++;
      if (first == n)
        first = i;
    }
    total += v[i].n;
  }
  if (nodes_down)
    *nodes_down = down;
  if (down == ncur && ncur) {
    rc = fl_errf(em, t[first].rc, "no node answered: %s",
                 fl_errmsg_str(&t[first].em, t[first].rc));
    goto out;
  }
  fl_study_summary_t *all = malloc((total ? total : 1) * sizeof *all);
  if (!all) {
    rc = -ENOMEM;
    goto out;
  }
  size_t off = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (v[i].n)
      memcpy(all + off, v[i].v, v[i].n * sizeof *all);
    off += v[i].n;
  }
  qsort(all, total, sizeof *all, fl__summary_cmp);
  size_t u = 0;
  for (size_t i = 0; i < total; i++)
    if (u == 0 || strcmp(all[u - 1].study_uid, all[i].study_uid) != 0)
      all[u++] = all[i];
  *out = all;
  *count = u;
out:
  if (v)
    for (uint32_t i = 0; i < n; i++)
      free(v[i].v);
  free(v);
  free(t);
  free(np);
  fl__cl_view_put(view);
  return rc;
}
