/* What the coordinator commands (cluster, node) share: connecting to the
 * coordinator from the --coord option, and printing the node table as text
 * or JSON from a map and its heartbeat figures. */
#ifndef FL_CLI_COORD_H
#define FL_CLI_COORD_H

#include <stdio.h>

#include "fl_cc.h"
#include "fl_cli.h"

#define FL_CLI_COORD_DEFAULT "127.0.0.1:7000"

/* Options of the coordinator commands. Strings borrowed from argv. */
typedef struct fl_cli_coord_opts {
  const char *coord; /* --coord, else $FILMLESS_COORD, else FL_CLI_COORD_DEFAULT */
  int json;          /* --json */
} fl_cli_coord_opts_t;

/* Consumes --coord HOST:PORT (or --coord=HOST:PORT) or --json at argv[*i]:
 * returns 1 if it was one (*rc then 0, or a usage error when the value is
 * missing), 0 otherwise. */
int fl_cli_coord_opt(const fl_cli_cmd_t *me, int argc, char **argv, int *i,
                     fl_cli_coord_opts_t *o, int *rc);

/* Connects to the coordinator the options name. Prints the error and
 * returns an exit code on failure. */
int fl_cli_coord_connect(const fl_cli_cmd_t *me, const fl_cli_coord_opts_t *o,
                         fl_wire_conn_t *c);

/* The same, quietly, for a retry: 0 or the error with em (FL_ECONFIG for
 * a bad address). On error c is closed. */
int fl_cli_coord_reopen(const fl_cli_coord_opts_t *o, fl_wire_conn_t *c, fl_errmsg_t *em);

#define FL_CLI_COORD_HELP                                                                  \
  "  --coord HOST:PORT  coordinator (default: $FILMLESS_COORD, else " FL_CLI_COORD_DEFAULT \
  ")\n"                                                                                    \
  "  --json             print JSON\n"

/* Connects and fetches the node list; prints the error and returns an
 * exit code on failure. On success map and *st are the caller's
 * (fl_map_free, free). */
int fl_cli_coord_list(const fl_cli_cmd_t *me, const fl_cli_coord_opts_t *o, fl_map_t *map,
                      fl_cc_status_t **st, uint32_t *n);

/* The node table (text) or a JSON array of node objects. map and st are
 * borrowed; st[i] belongs to map->nodes[i] (matched by id). */
void fl_cli_coord_print_nodes(FILE *f, const fl_map_t *map, const fl_cc_status_t *st,
                              uint32_t n, int json);

/* The status of node id in st (n entries), or NULL. */
const fl_cc_status_t *fl_cli_coord_status(const fl_cc_status_t *st, uint32_t n, uint32_t id);

/* Bytes in binary units, one decimal ("1.2GiB", "512B"). */
void fl_cli_coord_human(uint64_t bytes, char *buf, size_t cap);

/* A rough duration for an ETA: "14s", "3m20s", "2h05m", "3d04h". */
void fl_cli_coord_eta(uint64_t seconds, char *buf, size_t cap);

/* Sum of the repair figures of the nodes the map says are up (a down
 * node's are not counted: it does no repair). *up gets how many. */
void fl_cli_coord_repair_sum(const fl_map_t *map, const fl_cc_status_t *st, uint32_t n,
                             fl_cc_repair_t *sum, uint32_t *up);

/* Text: the repair lines of `cluster status` (what is left cluster-wide,
 * its rate and ETA, then the totals since the nodes started). JSON: a
 * "repair" object with the same totals, "eta_s" (null when unknown) and
 * "nodes", the figures of each up node. */
void fl_cli_coord_print_repair(FILE *f, const fl_map_t *map, const fl_cc_status_t *st,
                               uint32_t n, int json);

/* Prints "filmless <cmd>: NAME: message" for a failed call; returns
 * FL_CLI_FAIL. */
int fl_cli_coord_fail(const fl_cli_cmd_t *me, int rc, const fl_errmsg_t *em);

#endif
