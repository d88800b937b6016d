#pragma once
// The lower bound on spend no policy can beat: at every moment the demand is
// served by the cheapest set of whole machines from the eligible offers that
// covers it, within each provider's capacity (most machines at once), paid
// per second at list price plus the pool's expected egress, with no boot
// time, no minimum window and no increments. Demand beyond what every
// provider together can run is left unserved (and costs the full capacity).
//
// The cover is exact: a branch-and-bound over the offers ordered by cost per
// L40S-equivalent GPU-hour, pruned with the fractional relaxation. If a
// demand level needs more than kMaxNodes search nodes the fractional
// relaxation itself is used (still a valid bound, only looser) and
// Bound::exact is false. Levels are computed once per distinct demand value.
//
// Thread-safety: pure function.

#include <map>
#include <string>
#include <vector>

#include "operator/core/money.h"
#include "operator/core/offer.h"
#include "operator/sim/trace.h"

namespace gpupool::sim {

inline constexpr long kMaxNodes = 200'000;

struct BoundOffer {
  std::string provider;  // GpuProvider name (capacity key)
  double size = 1;       // L40S-equivalent GPUs of one machine (GPUs × weight)
  Money per_hour;        // price + expected egress of one machine
};

struct Bound {
  Money total;
  bool exact = true;
  double served_gpu_hours = 0;  // less than demanded only when capacity runs out
};

// The cheapest machines covering `demand` (per hour), and whether the search
// was exact. capacity: provider -> most machines (absent: unlimited).
struct Cover {
  Money per_hour;
  double served = 0;
  bool exact = true;
};
Cover cheapest_cover(const std::vector<BoundOffer>& offers,
                     const std::map<std::string, int>& capacity, double demand);

Bound lower_bound(const Trace& trace, const std::vector<BoundOffer>& offers,
                  const std::map<std::string, int>& capacity);

}  // namespace gpupool::sim
