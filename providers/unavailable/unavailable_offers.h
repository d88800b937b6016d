#pragma once
// A short-lived memory of offers that just answered "no capacity", so the
// planner moves to the next offer at once instead of buying the same sold-out
// offer again (Karpenter's unavailable-offerings cache).
//
// Keys are planner::offer_key() strings. Entries expire `ttl` after they were
// marked; time comes in as a value. A longer memory (`recent`, `memory`)
// answers "sold out lately", which consolidation (pool_decision.h rule 4c)
// uses so it does not keep trying an offer that keeps refusing. Thread-safe.

#include <map>
#include <mutex>
#include <set>
#include <string>

#include "operator/base/thread_annotations.h"
#include "operator/clock/clock.h"

namespace gpupool {

class UnavailableOffers {
 public:
  explicit UnavailableOffers(Duration ttl = Duration{180}, Duration memory = Duration{3600})
      : ttl_(ttl), memory_(memory) {}

  // Marks `offer_key` unavailable from `now` for the ttl (extends an entry).
  void mark(const std::string& offer_key, Time now);
  // Forgets an entry early (the provider reported capacity again).
  void clear(const std::string& offer_key);
  bool contains(const std::string& offer_key, Time now) const;
  // The keys unavailable at `now`, for planner::Request::unavailable. Drops
  // expired entries.
  std::set<std::string> active(Time now);
  // The keys marked within `memory` before `now` (a superset of active()).
  // Drops older ones.
  std::set<std::string> recent(Time now);

 private:
  Duration ttl_;
  Duration memory_;
  mutable Mutex mu_;
  std::map<std::string, Time> until_ GUARDED_BY(mu_);
  std::map<std::string, Time> last_mark_ GUARDED_BY(mu_);
};

}  // namespace gpupool
