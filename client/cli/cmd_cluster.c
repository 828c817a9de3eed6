/* filmless cluster status: the coordinator's view of the cluster: epoch,
 * policy, repair progress summed from the up nodes' heartbeats, and every
 * node with its state, location, weight and usage. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_cli.h"
#include "fl_cli_coord.h"

static int fl__status(const fl_cli_coord_opts_t *co) {
  const fl_cli_cmd_t *me = &fl_cli_cmd_cluster;
  fl_map_t map;
  fl_cc_status_t *st = NULL;
  uint32_t n = 0;
  int rc = fl_cli_coord_list(me, co, &map, &st, &n);
  if (rc)
    return rc;
  const fl_map_policy_t *p = &map.policy;
  uint32_t up = 0, in = 0;
  for (uint32_t i = 0; i < map.node_count; i++) {
    up += (map.nodes[i].state & FL_NODE_UP) != 0;
    in += (map.nodes[i].state & FL_NODE_IN) != 0;
  }
  if (co->json) {
    printf("{\"epoch\":%" PRIu64 ",\"policy\":{\"k\":%u,\"m\":%u,\"pg_count\":%u,"
           "\"min_write\":%u,\"small_threshold\":%u,\"replication\":\"%s\",\"datacenters\":[",
           map.epoch, p->k, p->m, p->pg_count, p->min_write, p->small_threshold,
           p->repl_mode == FL_REPL_SYNC ? "sync" : "async");
    for (uint32_t d = 0; d < p->dc_count; d++) {
      if (d)
        putchar(',');
      fl_cli_json_str(stdout, p->dcs[d]);
    }
    printf("]},\"upmap_pairs\":%u,\"nodes_up\":%u,\"nodes_in\":%u,\"repair\":",
           map.upmap_count, up, in);
    fl_cli_coord_print_repair(stdout, &map, st, n, 1);
    printf(",\"nodes\":");
    fl_cli_coord_print_nodes(stdout, &map, st, n, 1);
    printf("}\n");
  } else {
    printf("epoch %" PRIu64 "\n", map.epoch);
    printf("policy k=%u m=%u pg_count=%u min_write=%u small_threshold=%uB replication=%s\n",
           p->k, p->m, p->pg_count, p->min_write, p->small_threshold,
           p->repl_mode == FL_REPL_SYNC ? "sync" : "async");
    printf("datacenters");
    for (uint32_t d = 0; d < p->dc_count; d++)
      printf(" %s", p->dcs[d]);
    printf("\nnodes %u (%u up, %u in), upmap pairs %u\n", map.node_count, up, in,
           map.upmap_count);
    fl_cli_coord_print_repair(stdout, &map, st, n, 0);
    putchar('\n');
    fl_cli_coord_print_nodes(stdout, &map, st, n, 0);
  }
  free(st);
  fl_map_free(&map);
  return FL_CLI_OK;
}

static int fl__cluster_run(int argc, char **argv) {
  const fl_cli_cmd_t *me = &fl_cli_cmd_cluster;
  fl_cli_coord_opts_t co = {0};
  const char *sub = NULL;
  int rc;
  for (int i = 1; i < argc; i++) {
    if (fl_cli_coord_opt(me, argc, argv, &i, &co, &rc)) {
      if (rc)
        return rc;
    } else if (argv[i][0] == '-') {
      return fl_cli_usage_error(me, "unknown option '%s'", argv[i]);
    } else if (!sub) {
      sub = argv[i];
    } else {
      return fl_cli_usage_error(me, "unexpected argument '%s'", argv[i]);
    }
  }
  if (!sub)
    return fl_cli_usage_error(me, "give a subcommand: status");
  if (strcmp(sub, "status") == 0)
    return fl__status(&co);
  return fl_cli_usage_error(me, "unknown subcommand '%s' (known: status)", sub);
}

const fl_cli_cmd_t fl_cli_cmd_cluster = {
    "cluster", "cluster map: epoch, policy, nodes",
    "usage: filmless cluster status [--coord HOST:PORT] [--json]\n"
    "\n"
    "Shows the coordinator's cluster map: its epoch, the policy (k, m, PG\n"
    "count, min_write, small-object threshold, datacenters), the progress of\n"
    "repair and rebalance (summed over the up nodes' last heartbeats: PGs\n"
    "degraded, bytes and fragments left, rate, ETA; fragments rebuilt,\n"
    "copied and dropped since the nodes started), and every node with its\n"
    "state (up/down, in/out), datacenter, rack, weight, used and total\n"
    "capacity, when it was last heard from, and its degraded PGs and bytes\n"
    "left to repair.\n"
    "\n"
    "options:\n" FL_CLI_COORD_HELP,
    fl__cluster_run};
