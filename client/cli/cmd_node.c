/* filmless node: list the cluster's nodes, set a node's weight, mark it
 * out (drain) or in, remove it. Each change is one admin RPC to the
 * coordinator, which refuses what would leave a datacenter short of k+m
 * usable nodes. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_cli.h"
#include "fl_cli_coord.h"

static int fl__list(const fl_cli_coord_opts_t *co) {
  const fl_cli_cmd_t *me = &fl_cli_cmd_node;
  fl_map_t map;
  fl_cc_status_t *st = NULL;
  uint32_t n = 0;
  int rc = fl_cli_coord_list(me, co, &map, &st, &n);
  if (rc)
    return rc;
  if (co->json) {
    printf("{\"epoch\":%" PRIu64 ",\"nodes\":", map.epoch);
    fl_cli_coord_print_nodes(stdout, &map, st, n, 1);
    printf("}\n");
  } else {
    fl_cli_coord_print_nodes(stdout, &map, st, n, 0);
  }
  free(st);
  fl_map_free(&map);
  return FL_CLI_OK;
}

static int fl__change(const fl_cli_coord_opts_t *co, const char *sub, uint32_t id, uint32_t weight) {
  const fl_cli_cmd_t *me = &fl_cli_cmd_node;
  fl_wire_conn_t c;
  int rc = fl_cli_coord_connect(me, co, &c);
  if (rc)
    return rc;
  fl_errmsg_t em = {{0}};
  uint64_t epoch = 0;
  char done[96];
  if (strcmp(sub, "weight") == 0) {
    rc = fl_cc_set_weight(&c, id, weight, &epoch, &em);
    snprintf(done, sizeof done, "node %u weight %u", id, weight);
  } else if (strcmp(sub, "out") == 0 || strcmp(sub, "in") == 0) {
    rc = fl_cc_mark(&c, id, sub[0] == 'o', &epoch, &em);
    snprintf(done, sizeof done, "node %u marked %s", id, sub);
  } else {
    rc = fl_cc_remove(&c, id, &epoch, &em);
    snprintf(done, sizeof done, "node %u removed", id);
  }
  fl_wire_conn_close(&c);
  if (rc)
    return fl_cli_coord_fail(me, rc, &em);
  if (co->json)
    printf("{\"ok\":true,\"node\":%u,\"epoch\":%" PRIu64 "}\n", id, epoch);
  else
    printf("%s (epoch %" PRIu64 ")\n", done, epoch);
  return FL_CLI_OK;
}

static int fl__node_run(int argc, char **argv) {
  const fl_cli_cmd_t *me = &fl_cli_cmd_node;
  fl_cli_coord_opts_t co = {0};
  const char *pos[4];
  int npos = 0, rc;
  for (int i = 1; i < argc; i++) {
    if (fl_cli_coord_opt(me, argc, argv, &i, &co, &rc)) {
      if (rc)
        return rc;
    } else if (argv[i][0] == '-') {
      return fl_cli_usage_error(me, "unknown option '%s'", argv[i]);
    } else if (npos < 4) {
      pos[npos++] = argv[i];
    } else {
      return fl_cli_usage_error(me, "unexpected argument '%s'", argv[i]);
    }
  }
  if (npos == 0)
    return fl_cli_usage_error(me, "give a subcommand: list, weight, out, in or remove");
  const char *sub = pos[0];
  if (strcmp(sub, "list") == 0) {
    if (npos != 1)
      return fl_cli_usage_error(me, "list takes no argument");
    return fl__list(&co);
  }
  int is_weight = strcmp(sub, "weight") == 0;
  if (!is_weight && strcmp(sub, "out") && strcmp(sub, "in") && strcmp(sub, "remove"))
    return fl_cli_usage_error(me, "unknown subcommand '%s' (known: list, weight, out, in, "
                              "remove)", sub);
  if (npos != (is_weight ? 3 : 2))
    return fl_cli_usage_error(me, is_weight ? "usage: node weight ID WEIGHT"
                                            : "usage: node %s ID", sub);
  unsigned long long id, w = 0;
  if (fl_cli_parse_u64(pos[1], UINT32_MAX, &id) != 0 || id == 0)
    return fl_cli_usage_error(me, "node id '%s' is not a number from 1", pos[1]);
  if (is_weight && fl_cli_parse_u64(pos[2], UINT32_MAX, &w) != 0)
    return fl_cli_usage_error(me, "weight '%s' is not a number from 0 to %u", pos[2],
                              UINT32_MAX);
  return fl__change(&co, sub, (uint32_t)id, (uint32_t)w);
}

const fl_cli_cmd_t fl_cli_cmd_node = {
    "node", "list nodes; set weight, mark out/in, remove",
    "usage: filmless node list [--json]\n"
    "       filmless node weight ID WEIGHT\n"
    "       filmless node out ID        drain: its PGs are placed elsewhere\n"
    "       filmless node in ID         back into placement\n"
    "       filmless node remove ID     forget an out node (down, or drained)\n"
    "\n"
    "Each change bumps the cluster map's epoch. The coordinator refuses a\n"
    "change that would leave a datacenter with fewer than k+m usable nodes,\n"
    "and says why; nothing changes then.\n"
    "\n"
    "options:\n" FL_CLI_COORD_HELP,
    fl__node_run};
