/* Fuzz target for the PG_STATS payload decoder (fl_nc_pg_stats_decode):
 * any input is either refused with an error and no output, or decodes into
 * entries that obey the documented invariants (strictly increasing
 * (pg, frag), fragment indexes below FL_NC_FRAG_MAX); never a crash, leak
 * or overread. */
#include <stdint.h>
#include <stdlib.h>

#include "fl_nc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fl_nc_pg_stat_t *st = NULL;
  size_t n = 0;
  fl_errmsg_t em;
  int rc = fl_nc_pg_stats_decode(data, size, &st, &n, &em);
  if (rc != 0) {
    if (st || n)
      abort();
    return 0;
  }
  if ((n == 0) != (st == NULL) || n > FL_NC_PG_STATS_MAX)
    abort();
  for (size_t i = 0; i < n; i++) {
    if (st[i].frag >= FL_NC_FRAG_MAX)
      abort();
    if (i && (st[i].pg < st[i - 1].pg ||
              (st[i].pg == st[i - 1].pg && st[i].frag <= st[i - 1].frag)))
      abort();
  }
  free(st);
  return 0;
}
