/* Coordinator helpers of the CLI: address fallbacks, the connection, the
 * node table shared by `filmless cluster status` and `filmless node list`,
 * and the cluster's repair progress summed from the nodes' heartbeats. */
#include "fl_cli_coord.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fl_addr.h"

int fl_cli_coord_fail(const fl_cli_cmd_t *me, int rc, const fl_errmsg_t *em) {
  fprintf(stderr, "filmless %s: %s: %s\n", me->name, fl_err_name(rc), fl_errmsg_str(em, rc));
  return FL_CLI_FAIL;
}

int fl_cli_coord_opt(const fl_cli_cmd_t *me, int argc, char **argv, int *i,
                     fl_cli_coord_opts_t *o, int *rc) {
  *rc = 0;
  const char *a = argv[*i];
  if (strcmp(a, "--json") == 0) {
    o->json = 1;
    return 1;
  }
  if (strncmp(a, "--coord", 7) != 0 || (a[7] != '\0' && a[7] != '='))
    return 0;
  o->coord = a[7] == '=' ? a + 8 : *i + 1 < argc ? argv[++*i] : NULL;
  if (!o->coord || !o->coord[0])
    *rc = fl_cli_usage_error(me, "--coord needs HOST:PORT");
  return 1;
}

static const char *fl__addr(const fl_cli_coord_opts_t *o) {
  const char *addr = o->coord;
  if (!addr || !addr[0])
    addr = getenv("FILMLESS_COORD");
  if (!addr || !addr[0])
    addr = FL_CLI_COORD_DEFAULT;
  return addr;
}

int fl_cli_coord_reopen(const fl_cli_coord_opts_t *o, fl_wire_conn_t *c, fl_errmsg_t *em) {
  fl_wire_conn_close(c);
  fl_addr_t a;
  int rc = fl_addr_parse(&a, fl__addr(o), 0, em);
  return rc ? rc : fl_wire_conn_open(c, a.host, a.port, 10000, NULL, em);
}

int fl_cli_coord_connect(const fl_cli_cmd_t *me, const fl_cli_coord_opts_t *o,
                         fl_wire_conn_t *c) {
  const char *addr = fl__addr(o);
  fl_addr_t a;
  fl_errmsg_t em = {{0}};
  int rc = fl_addr_parse(&a, addr, 0, &em);
  if (rc)
    return fl_cli_usage_error(me, "coordinator address: %s", em.msg);
  rc = fl_wire_conn_open(c, a.host, a.port, 10000, NULL, &em);
  if (rc) {
    fprintf(stderr, "filmless %s: cannot reach the coordinator at %s: %s (is filmless-coord "
            "running? set --coord or FILMLESS_COORD)\n", me->name, addr, fl_errmsg_str(&em, rc));
    return FL_CLI_FAIL;
  }
  return FL_CLI_OK;
}

int fl_cli_coord_list(const fl_cli_cmd_t *me, const fl_cli_coord_opts_t *o, fl_map_t *map,
                      fl_cc_status_t **st, uint32_t *n) {
  fl_wire_conn_t c;
  int rc = fl_cli_coord_connect(me, o, &c);
  if (rc)
    return rc;
  fl_errmsg_t em = {{0}};
  rc = fl_cc_list(&c, map, st, n, &em);
  fl_wire_conn_close(&c);
  return rc ? fl_cli_coord_fail(me, rc, &em) : FL_CLI_OK;
}

const fl_cc_status_t *fl_cli_coord_status(const fl_cc_status_t *st, uint32_t n, uint32_t id) {
  for (uint32_t i = 0; i < n; i++)
    if (st[i].id == id)
      return &st[i];
  return NULL;
}

void fl_cli_coord_human(uint64_t b, char *buf, size_t cap) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = (double)b;
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    u++;
  }
  snprintf(buf, cap, u ? "%.1f%s" : "%.0f%s", v, units[u]);
}

void fl_cli_coord_print_nodes(FILE *f, const fl_map_t *map, const fl_cc_status_t *st,
                              uint32_t n, int json) {
  if (json)
    fputc('[', f);
  else
    fprintf(f, "%-6s %-5s %-4s %-12s %-12s %8s %21s %10s %15s  %s\n", "ID", "STATE", "IN",
            "DC", "RACK", "WEIGHT", "USED/CAPACITY", "LAST SEEN", "DEGRADED/LEFT", "ADDRESS");
  for (uint32_t i = 0; i < map->node_count; i++) {
    const fl_map_node_t *nd = &map->nodes[i];
    const fl_cc_status_t *s = fl_cli_coord_status(st, n, nd->id);
    const char *up = (nd->state & FL_NODE_UP) ? "up" : "down";
    const char *in = (nd->state & FL_NODE_IN) ? "in" : "out";
    if (json) {
      fprintf(f, "%s{\"id\":%u,\"state\":\"%s\",\"in\":%s,\"dc\":", i ? "," : "", nd->id, up,
              (nd->state & FL_NODE_IN) ? "true" : "false");
      fl_cli_json_str(f, nd->dc);
      fputs(",\"rack\":", f);
      fl_cli_json_str(f, nd->rack);
      fputs(",\"address\":", f);
      fl_cli_json_str(f, nd->addr);
      fprintf(f, ",\"weight\":%u", nd->weight);
      if (s)
        fprintf(f, ",\"capacity_bytes\":%" PRIu64 ",\"used_bytes\":%" PRIu64
                ",\"fragments\":%" PRIu64 ",\"corrupt_fragments\":%" PRIu64
                ",\"seen\":%s,\"last_seen_ms_ago\":%" PRIu64 ",\"auto_out\":%s",
                s->capacity_bytes, s->used_bytes, s->objects, s->corrupt,
                s->seen ? "true" : "false", s->last_seen_ms_ago,
                s->auto_out ? "true" : "false");
      fputc('}', f);
      continue;
    }
    char used[16] = "-", cap[16] = "-", both[40], seen[24] = "never", left[16], rep[32] = "-";
    if (s) {
      fl_cli_coord_human(s->used_bytes, used, sizeof used);
      fl_cli_coord_human(s->capacity_bytes, cap, sizeof cap);
      if (s->seen)
        snprintf(seen, sizeof seen, "%.1fs ago", (double)s->last_seen_ms_ago / 1000.0);
      if (s->repair.pgs_degraded || s->repair.bytes_left) {
        fl_cli_coord_human(s->repair.bytes_left, left, sizeof left);
        snprintf(rep, sizeof rep, "%u/%s", s->repair.pgs_degraded, left);
      }
    }
    snprintf(both, sizeof both, "%s/%s", used, cap);
    fprintf(f, "%-6u %-5s %-4s %-12s %-12s %8u %21s %10s %15s  %s%s\n", nd->id, up, in, nd->dc,
            nd->rack, nd->weight, both, seen, rep, nd->addr,
            s && s->auto_out ? "  (out by grace period)" : "");
  }
  if (json)
    fputc(']', f);
}

/* ---- repair progress ----------------------------------------------------------------- */

void fl_cli_coord_eta(uint64_t s, char *buf, size_t cap) {
  if (s < 60)
    snprintf(buf, cap, "%us", (unsigned)s);
  else if (s < 3600)
    snprintf(buf, cap, "%um%02us", (unsigned)(s / 60), (unsigned)(s % 60));
  else if (s < 86400)
    snprintf(buf, cap, "%uh%02um", (unsigned)(s / 3600), (unsigned)(s % 3600 / 60));
  else
    snprintf(buf, cap, "%llud%02uh", (unsigned long long)(s / 86400),
             (unsigned)(s % 86400 / 3600));
}

void fl_cli_coord_repair_sum(const fl_map_t *map, const fl_cc_status_t *st, uint32_t n,
                             fl_cc_repair_t *sum, uint32_t *up) {
  memset(sum, 0, sizeof *sum);
  *up = 0;
  for (uint32_t i = 0; i < map->node_count; i++) {
    const fl_cc_status_t *s = fl_cli_coord_status(st, n, map->nodes[i].id);
    if (!(map->nodes[i].state & FL_NODE_UP) || !s)
      continue;
    fl_cc_repair_add(sum, &s->repair);
    (*up)++;
  }
}

static int fl__repair_done(const fl_cc_repair_t *r) {
  return r->pgs_degraded == 0 && r->bytes_left == 0 && r->fragments_left == 0;
}

/* *secs: seconds to go at the current rate, rounded up. Returns 0 when
 * that is unknown: bytes are left and nothing is moving. */
static int fl__eta(const fl_cc_repair_t *r, uint64_t *secs) {
  *secs = 0;
  if (r->rate_bytes_per_s == 0)
    return r->bytes_left == 0;
  *secs = r->bytes_left / r->rate_bytes_per_s + (r->bytes_left % r->rate_bytes_per_s != 0);
  return 1;
}

static void fl__repair_json(FILE *f, const fl_cc_repair_t *r) {
  fprintf(f, "\"pgs_led\":%u,\"pgs_degraded\":%u,\"min_survivors\":%u,\"bytes_left\":%" PRIu64
          ",\"fragments_left\":%" PRIu64 ",\"rate_bytes_per_s\":%" PRIu64
          ",\"bytes_done\":%" PRIu64 ",\"fragments_rebuilt\":%" PRIu64
          ",\"fragments_copied\":%" PRIu64 ",\"fragments_dropped\":%" PRIu64
          ",\"deletes_propagated\":%" PRIu64 ",\"passes\":%" PRIu64,
          r->pgs_led, r->pgs_degraded, r->min_survivors, r->bytes_left, r->fragments_left,
          r->rate_bytes_per_s, r->bytes_done, r->fragments_rebuilt, r->fragments_copied,
          r->fragments_dropped, r->deletes_propagated, r->passes);
}

void fl_cli_coord_print_repair(FILE *f, const fl_map_t *map, const fl_cc_status_t *st,
                               uint32_t n, int json) {
  fl_cc_repair_t r;
  uint32_t up;
  fl_cli_coord_repair_sum(map, st, n, &r, &up);
  uint64_t eta = 0;
  int known = fl__eta(&r, &eta);
  if (json) {
    fprintf(f, "{\"complete\":%s,", fl__repair_done(&r) ? "true" : "false");
    fl__repair_json(f, &r);
    if (known)
      fprintf(f, ",\"eta_s\":%" PRIu64, eta);
    else
      fputs(",\"eta_s\":null", f);
    fputs(",\"nodes\":[", f);
    int first = 1;
    for (uint32_t i = 0; i < map->node_count; i++) {
      const fl_cc_status_t *s = fl_cli_coord_status(st, n, map->nodes[i].id);
      if (!(map->nodes[i].state & FL_NODE_UP) || !s)
        continue;
      fprintf(f, "%s{\"id\":%u,\"epoch\":%" PRIu64 ",", first ? "" : ",", s->id,
              s->repair.epoch);
      fl__repair_json(f, &s->repair);
      fputc('}', f);
      first = 0;
    }
    fputs("]}", f);
    return;
  }
  if (fl__repair_done(&r)) {
    fprintf(f, "repair: complete (%u PG%s led, 0 degraded)\n", r.pgs_led,
            r.pgs_led == 1 ? "" : "s");
  } else {
    char left[16], rate[16], t[24] = "-";
    fl_cli_coord_human(r.bytes_left, left, sizeof left);
    fl_cli_coord_human(r.rate_bytes_per_s, rate, sizeof rate);
    if (known)
      fl_cli_coord_eta(eta, t, sizeof t);
    fprintf(f, "repair: %u PG%s degraded, %s left (%" PRIu64 " fragment%s) at %s/s, ETA %s",
            r.pgs_degraded, r.pgs_degraded == 1 ? "" : "s", left, r.fragments_left,
            r.fragments_left == 1 ? "" : "s", rate, t);
    if (r.min_survivors)
      fprintf(f, ", fewest survivors %u", r.min_survivors);
    fputc('\n', f);
  }
  char done[16];
  fl_cli_coord_human(r.bytes_done, done, sizeof done);
  fprintf(f, "repair since the nodes started: %" PRIu64 " fragment%s rebuilt, %" PRIu64
          " copied, %" PRIu64 " dropped, %" PRIu64 " delete%s propagated, %s written\n",
          r.fragments_rebuilt, r.fragments_rebuilt == 1 ? "" : "s", r.fragments_copied,
          r.fragments_dropped, r.deletes_propagated, r.deletes_propagated == 1 ? "" : "s", done);
}
