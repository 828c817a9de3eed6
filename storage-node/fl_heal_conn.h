/* Connections from a node's repair worker to its peers: a few idle
 * blocking connections kept per peer, so repair threads reuse them instead
 * of connecting per fragment. Every request sent on them is marked
 * background. Thread-safe. */
#ifndef FL_HEAL_CONN_H
#define FL_HEAL_CONN_H

#include <stdint.h>

#include "fl_err.h"
#include "fl_wire_conn.h"

typedef struct fl_heal_conns fl_heal_conns_t;

/* timeout_ms bounds every call made on the connections. */
int fl_heal_conns_new(fl_heal_conns_t **out, int timeout_ms);
/* Closes every idle connection; none may be taken. NULL is fine. */
void fl_heal_conns_free(fl_heal_conns_t *p);

/* A connection to node id at addr ("host:port", borrowed for the call):
 * an idle one, else a new one. *out is the caller's until fl_heal_conns_put. */
int fl_heal_conns_get(fl_heal_conns_t *p, uint32_t id, const char *addr, fl_wire_conn_t **out,
                      fl_errmsg_t *em);
/* Gives c back (closed and freed if broken or if the peer changed address). */
void fl_heal_conns_put(fl_heal_conns_t *p, uint32_t id, const char *addr, fl_wire_conn_t *c);
/* Closes and frees a taken connection that must not be reused (answers
 * still due on it). NULL is fine. */
void fl_heal_conns_discard(fl_wire_conn_t *c);

#endif
