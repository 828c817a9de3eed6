/* filmless node: list the cluster's nodes, set a node's weight, mark it
 * out or in, drain it (out, then follow its fragment count down to zero),
 * remove it. Each change is one admin RPC to the coordinator, which
 * refuses what would leave a datacenter short of k+m usable nodes. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fl_cli.h"
#include "fl_cli_coord.h"
#include "fl_config.h"

#define FL__POLL_MS 1000       /* drain --wait: one ADMIN_LIST_NODES a second */
#define FL__POLL_FIRST_MS 200  /* until the first heartbeat after the mark */

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

static uint64_t fl__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void fl__sleep_ms(uint64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

/* What one poll of a drain found. */
enum { FL__D_WAIT, FL__D_DONE, FL__D_GONE, FL__D_IN };

/* One ADMIN_LIST_NODES: *frags gets node id's fragment count when a
 * heartbeat the coordinator received after mark_ms (this process's
 * clock) reports it (*fresh = 1); a count from before the mark may
 * predate data still arriving. */
static int fl__drain_poll(fl_wire_conn_t *c, uint32_t id, uint64_t mark_ms, int *state,
                          int *fresh, uint64_t *frags, int *down, fl_cc_repair_t *sum,
                          fl_errmsg_t *em) {
  fl_map_t map;
  fl_cc_status_t *st = NULL;
  uint32_t n = 0, up;
  uint64_t sent = fl__now_ms();
  int rc = fl_cc_list(c, &map, &st, &n, em);
  if (rc)
    return rc;
  *state = FL__D_WAIT;
  *fresh = 0;
  *down = 0;
  const fl_map_node_t *nd = fl_map_find_node(&map, id);
  const fl_cc_status_t *s = fl_cli_coord_status(st, n, id);
  fl_cli_coord_repair_sum(&map, st, n, sum, &up);
  if (!nd) {
    *state = FL__D_GONE;
  } else if (nd->state & FL_NODE_IN) {
    *state = FL__D_IN;
  } else {
    *down = !(nd->state & FL_NODE_UP);
    /* The coordinator read its clock after `sent`: the heartbeat came at
     * `sent - ago` or later. */
    if (s && s->seen && !*down && s->last_seen_ms_ago < sent &&
        sent - s->last_seen_ms_ago > mark_ms) {
      *fresh = 1;
      *frags = s->objects;
      if (*frags == 0)
        *state = FL__D_DONE;
    }
  }
  free(st);
  fl_map_free(&map);
  return 0;
}

static int fl__drain(const fl_cli_coord_opts_t *co, uint32_t id, int wait, int64_t timeout_ms) {
  const fl_cli_cmd_t *me = &fl_cli_cmd_node;
  fl_wire_conn_t c;
  int rc = fl_cli_coord_connect(me, co, &c);
  if (rc)
    return rc;
  fl_errmsg_t em = {{0}};
  uint64_t epoch = 0;
  if ((rc = fl_cc_mark(&c, id, 1, &epoch, &em)) != 0) {
    fl_wire_conn_close(&c);
    return fl_cli_coord_fail(me, rc, &em);
  }
  uint64_t mark_ms = fl__now_ms();
  if (!co->json) {
    printf("node %u marked out (epoch %" PRIu64 "): its PGs are placed on other nodes, which "
           "copy its fragments from it\n", id, epoch);
    if (!wait)
      printf("follow it with `filmless node drain %u --wait` or `filmless cluster status`; "
             "remove the node once it holds no fragment\n", id);
    fflush(stdout);
  }
  if (!wait) {
    fl_wire_conn_close(&c);
    if (co->json)
      printf("{\"ok\":true,\"node\":%u,\"epoch\":%" PRIu64 "}\n", id, epoch);
    return FL_CLI_OK;
  }
  char tmo[32] = "";
  if (timeout_ms > 0)
    fl_cfg_format_duration(timeout_ms, tmo, sizeof tmo);
  uint64_t frags = 0;
  int seen_fresh = 0, said_down = 0, said_err = 0, done = 0;
  for (;;) {
    int state = FL__D_WAIT, fresh = 0, down = 0;
    uint64_t now_frags = 0;
    fl_cc_repair_t sum;
    em.msg[0] = 0;
    rc = fl_wire_conn_usable(&c) ? 0 : fl_cli_coord_reopen(co, &c, &em);
    if (rc == 0)
      rc = fl__drain_poll(&c, id, mark_ms, &state, &fresh, &now_frags, &down, &sum, &em);
    if (rc) {
      /* The drain goes on without this process; a coordinator restarting
       * only delays what we can show. */
      if (!said_err)
        fprintf(stderr, "filmless node: asking the coordinator: %s: %s; retrying\n",
                fl_err_name(rc), fl_errmsg_str(&em, rc));
      said_err = 1;
    } else if (state == FL__D_GONE) {
      fprintf(stderr, "filmless node: node %u is no longer in the cluster map (removed)\n", id);
      break;
    } else if (state == FL__D_IN) {
      fprintf(stderr, "filmless node: node %u was marked in again; the drain stopped\n", id);
      break;
    } else if (state == FL__D_DONE) {
      done = 1;
      frags = 0;
      break;
    } else if (down && !said_down && !co->json) {
      printf("node %u is down: it cannot report its fragments, and its PGs are rebuilt from "
             "the other nodes; once `filmless cluster status` shows repair complete it may "
             "be removed\n", id);
      said_down = 1;
    } else if (fresh && (!seen_fresh || now_frags != frags) && !co->json) {
      char left[16], rate[16];
      fl_cli_coord_human(sum.bytes_left, left, sizeof left);
      fl_cli_coord_human(sum.rate_bytes_per_s, rate, sizeof rate);
      printf("node %u: %" PRIu64 " fragment%s left (cluster repair: %s left at %s/s)\n", id,
             now_frags, now_frags == 1 ? "" : "s", left, rate);
    }
    fflush(stdout);
    if (rc == 0)
      said_err = 0;
    if (fresh) {
      seen_fresh = 1;
      frags = now_frags;
    }
    uint64_t now = fl__now_ms();
    if (timeout_ms > 0 && now - mark_ms >= (uint64_t)timeout_ms) {
      if (seen_fresh)
        fprintf(stderr, "filmless node: node %u still holds %" PRIu64 " fragment(s) after %s; "
                "the drain goes on in the background\n", id, frags, tmo);
      else
        fprintf(stderr, "filmless node: node %u has not reported its fragments in the %s "
                "since it was marked out; the drain goes on in the background\n", id, tmo);
      break;
    }
    uint64_t step = seen_fresh ? FL__POLL_MS : FL__POLL_FIRST_MS;
    if (timeout_ms > 0 && now + step - mark_ms > (uint64_t)timeout_ms)
      step = mark_ms + (uint64_t)timeout_ms - now;
    fl__sleep_ms(step);
  }
  fl_wire_conn_close(&c);
  if (co->json) {
    printf("{\"ok\":%s,\"node\":%u,\"epoch\":%" PRIu64 ",\"drained\":%s,\"fragments\":",
           done ? "true" : "false", id, epoch, done ? "true" : "false");
    if (seen_fresh || done)
      printf("%" PRIu64 "}\n", frags);
    else
      printf("null}\n");
  } else if (done)
    printf("node %u is drained: it holds no fragment; remove it with `filmless node remove "
           "%u`\n", id, id);
  return done ? FL_CLI_OK : FL_CLI_FAIL;
}

static int fl__node_run(int argc, char **argv) {
  const fl_cli_cmd_t *me = &fl_cli_cmd_node;
  fl_cli_coord_opts_t co = {0};
  const char *pos[4], *tmo = NULL;
  int npos = 0, rc, wait = 0;
  for (int i = 1; i < argc; i++) {
    if (fl_cli_coord_opt(me, argc, argv, &i, &co, &rc)) {
      if (rc)
        return rc;
    } else if (strcmp(argv[i], "--wait") == 0) {
      wait = 1;
    } else if (fl_cli_opt(argc, argv, &i, "--timeout", &tmo)) {
      if (!tmo)
        return fl_cli_usage_error(me, "--timeout needs a duration (e.g. 30m)");
    } else if (argv[i][0] == '-') {
      return fl_cli_usage_error(me, "unknown option '%s'", argv[i]);
    } else if (npos < 4) {
      pos[npos++] = argv[i];
    } else {
      return fl_cli_usage_error(me, "unexpected argument '%s'", argv[i]);
    }
  }
  if (npos == 0)
    return fl_cli_usage_error(me, "give a subcommand: list, weight, out, in, drain or remove");
  const char *sub = pos[0];
  int is_drain = strcmp(sub, "drain") == 0;
  if ((wait || tmo) && !is_drain)
    return fl_cli_usage_error(me, "--wait and --timeout go with drain");
  if (tmo && !wait)
    return fl_cli_usage_error(me, "--timeout goes with --wait");
  if (strcmp(sub, "list") == 0) {
    if (npos != 1)
      return fl_cli_usage_error(me, "list takes no argument");
    return fl__list(&co);
  }
  int is_weight = strcmp(sub, "weight") == 0;
  if (!is_weight && !is_drain && strcmp(sub, "out") && strcmp(sub, "in") &&
      strcmp(sub, "remove"))
    return fl_cli_usage_error(me, "unknown subcommand '%s' (known: list, weight, out, in, "
                              "drain, remove)", sub);
  if (npos != (is_weight ? 3 : 2))
    return fl_cli_usage_error(me, is_weight ? "usage: node weight ID WEIGHT"
                                            : "usage: node %s ID", sub);
  unsigned long long id, w = 0;
  if (fl_cli_parse_u64(pos[1], UINT32_MAX, &id) != 0 || id == 0)
    return fl_cli_usage_error(me, "node id '%s' is not a number from 1", pos[1]);
  if (is_weight && fl_cli_parse_u64(pos[2], UINT32_MAX, &w) != 0)
    return fl_cli_usage_error(me, "weight '%s' is not a number from 0 to %u", pos[2],
                              UINT32_MAX);
  if (is_drain) {
    int64_t ms = 0;
    fl_errmsg_t em = {{0}};
    if (tmo && (fl_cfg_parse_duration(tmo, &ms, &em) != 0 || ms <= 0))
      return fl_cli_usage_error(me, "--timeout '%s' is not a positive duration (e.g. 90s, "
                                "30m, 2h)", tmo);
    return fl__drain(&co, (uint32_t)id, wait, ms);
  }
  return fl__change(&co, sub, (uint32_t)id, (uint32_t)w);
}

const fl_cli_cmd_t fl_cli_cmd_node = {
    "node", "list nodes; set weight, mark out/in, drain, remove",
    "usage: filmless node list [--json]\n"
    "       filmless node weight ID WEIGHT\n"
    "       filmless node out ID        its PGs are placed elsewhere\n"
    "       filmless node in ID         back into placement\n"
    "       filmless node drain ID [--wait [--timeout DUR]]\n"
    "       filmless node remove ID     forget an out node (down, or drained)\n"
    "\n"
    "Each change bumps the cluster map's epoch. The coordinator refuses a\n"
    "change that would leave a datacenter with fewer than k+m usable nodes,\n"
    "and says why; nothing changes then.\n"
    "\n"
    "drain marks the node out: the nodes that take over its PGs copy its\n"
    "fragments from it (nothing is decoded), and it drops each copy once the\n"
    "PG is complete elsewhere. With --wait it then follows the fragment count\n"
    "the node reports in its heartbeats (only those received after the mark),\n"
    "printing it as it falls, and exits 0 once the node holds none: then\n"
    "remove it. With --timeout it gives up after DUR (exit 1; the drain goes\n"
    "on in the background). remove is refused while the node is up and still\n"
    "reports fragments; a node that is down and out may be removed (its data\n"
    "counts as lost and is rebuilt from the other nodes).\n"
    "\n"
    "options:\n" FL_CLI_COORD_HELP
    "  --wait             drain: wait until the node holds no fragment\n"
    "  --timeout DUR      with --wait: give up after DUR (e.g. 90s, 30m, 2h)\n",
    fl__node_run};
