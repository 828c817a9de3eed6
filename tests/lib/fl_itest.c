/* Implementation of the integration-test node helpers. */
#include "fl_itest.h"

#include <stdio.h>
#include <string.h>

static int fl__start(fl_itest_node_t *n, const char *bin_name, const char *dir,
                     const char *const *extra) {
  if (dir != n->dir)
    snprintf(n->dir, sizeof n->dir, "%s", dir);
  if (!n->port)
    n->port = fl_proc_free_port();
  if (n->port <= 0)
    return n->port;
  snprintf(n->log, sizeof n->log, "%s.log", n->dir);
  char listen[64], bin[1024];
  snprintf(listen, sizeof listen, "127.0.0.1:%d", n->port);
  snprintf(bin, sizeof bin, "%s", fl_proc_bin(bin_name));
  char *argv[64] = {bin, "serve", "--data", n->dir, "--listen", listen};
  int argc = 6;
  for (int i = 0; extra && extra[i] && argc < 62; i++)
    argv[argc++] = (char *)extra[i];
  argv[argc] = NULL;
  int rc = fl_proc_start(&n->proc, argv, n->log);
  if (rc)
    return rc;
  rc = fl_proc_wait_port(&n->proc, n->port, 30000);
  if (rc)
    fl_itest_dump_log(n);
  return rc;
}

int fl_itest_node_start(fl_itest_node_t *n, const char *dir, const char *const *extra) {
  return fl__start(n, "filmless-node", dir, extra);
}

int fl_itest_coord_start(fl_itest_node_t *n, const char *dir, const char *const *extra) {
  return fl__start(n, "filmless-coord", dir, extra);
}

int fl_itest_connect(const fl_itest_node_t *n, fl_wire_conn_t *c) {
  return fl_wire_conn_open(c, "127.0.0.1", (uint16_t)n->port, 5000, NULL, NULL);
}

int fl_itest_coord_list(const fl_itest_node_t *co, fl_map_t *map, fl_cc_status_t **st,
                        uint32_t *n) {
  fl_wire_conn_t c;
  int rc = fl_itest_connect(co, &c);
  if (rc)
    return rc;
  rc = fl_cc_list(&c, map, st, n, NULL);
  fl_wire_conn_close(&c);
  return rc;
}

void fl_itest_fill(uint8_t *b, size_t n, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b[i] = (uint8_t)x;
  }
}

void fl_itest_dump_log(const fl_itest_node_t *n) {
  FILE *f = fopen(n->log, "r");
  if (!f)
    return;
  char line[1024];
  fprintf(stderr, "---- %s\n", n->log);
  while (fgets(line, sizeof line, f))
    fputs(line, stderr);
  fclose(f);
}
