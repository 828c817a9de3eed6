/* Token bucket: refill by elapsed time, debit the request, and turn any debt
 * into a wait, so the long-run rate never exceeds the configured one. */
#include "fl_vol_rate.h"

void fl_vol_rate_init(fl_vol_rate_t *r, double bytes_per_s, double burst, uint64_t now_ns) {
  r->rate = bytes_per_s;
  r->burst = burst > 0 ? burst : bytes_per_s;
  r->tokens = r->burst;
  r->last_ns = now_ns;
}

uint64_t fl_vol_rate_take(fl_vol_rate_t *r, uint64_t now_ns, uint64_t bytes) {
  if (r->rate <= 0)
    return 0;
  if (now_ns > r->last_ns) {
    r->tokens += (double)(now_ns - r->last_ns) * r->rate / 1e9;
    if (r->tokens > r->burst)
      r->tokens = r->burst;
    r->last_ns = now_ns;
  }
  r->tokens -= (double)bytes;
  if (r->tokens >= 0)
    return 0;
  return (uint64_t)(-r->tokens * 1e9 / r->rate + 0.5);
}
