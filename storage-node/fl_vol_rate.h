/* Token bucket for background work (scrub, compaction) in bytes per second.
 * Pure: the caller passes the time in, so tests step it deterministically. */
#ifndef FL_VOL_RATE_H
#define FL_VOL_RATE_H

#include <stdint.h>

typedef struct fl_vol_rate {
  double rate;      /* bytes per second; <= 0 means unlimited */
  double burst;     /* most tokens that accumulate while idle */
  double tokens;    /* may go negative: debt paid by waiting */
  uint64_t last_ns; /* time of the last refill */
} fl_vol_rate_t;

/* bytes_per_s <= 0 disables limiting. burst <= 0 picks one second's worth. */
void fl_vol_rate_init(fl_vol_rate_t *r, double bytes_per_s, double burst, uint64_t now_ns);

/* Takes `bytes` at time now_ns and returns how many ns the caller must wait
 * before doing that work (0 if within budget). Time going backwards is
 * treated as no time passing. */
uint64_t fl_vol_rate_take(fl_vol_rate_t *r, uint64_t now_ns, uint64_t bytes);

#endif
