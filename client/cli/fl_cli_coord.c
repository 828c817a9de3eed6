/* Coordinator helpers of the CLI: address fallbacks, the connection, and
 * the node table shared by `filmless cluster status` and `filmless node
 * list`. */
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

int fl_cli_coord_connect(const fl_cli_cmd_t *me, const fl_cli_coord_opts_t *o,
                         fl_wire_conn_t *c) {
  const char *addr = o->coord;
  if (!addr || !addr[0])
    addr = getenv("FILMLESS_COORD");
  if (!addr || !addr[0])
    addr = FL_CLI_COORD_DEFAULT;
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

static const fl_cc_status_t *fl__status(const fl_cc_status_t *st, uint32_t n, uint32_t id) {
  for (uint32_t i = 0; i < n; i++)
    if (st[i].id == id)
      return &st[i];
  return NULL;
}

static void fl__human(uint64_t b, char *buf, size_t cap) {
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
    fprintf(f, "%-6s %-5s %-4s %-12s %-12s %8s %21s %10s  %s\n", "ID", "STATE", "IN", "DC",
            "RACK", "WEIGHT", "USED/CAPACITY", "LAST SEEN", "ADDRESS");
  for (uint32_t i = 0; i < map->node_count; i++) {
    const fl_map_node_t *nd = &map->nodes[i];
    const fl_cc_status_t *s = fl__status(st, n, nd->id);
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
    char used[16] = "-", cap[16] = "-", both[40], seen[24] = "never";
    if (s) {
      fl__human(s->used_bytes, used, sizeof used);
      fl__human(s->capacity_bytes, cap, sizeof cap);
      if (s->seen)
        snprintf(seen, sizeof seen, "%.1fs ago", (double)s->last_seen_ms_ago / 1000.0);
    }
    snprintf(both, sizeof both, "%s/%s", used, cap);
    fprintf(f, "%-6u %-5s %-4s %-12s %-12s %8u %21s %10s  %s%s\n", nd->id, up, in, nd->dc,
            nd->rack, nd->weight, both, seen, nd->addr,
            s && s->auto_out ? "  (out by grace period)" : "");
  }
  if (json)
    fputc(']', f);
}
