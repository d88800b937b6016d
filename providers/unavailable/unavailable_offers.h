#pragma once
// A short-lived memory of offers that just answered "no capacity", so the
// planner moves to the next offer at once instead of buying the same sold-out
// offer again (Karpenter's unavailable-offerings cache).
//
// Keys are planner::offer_key() strings. Entries expire `ttl` after they were
// marked; time comes in as a value. Thread-safe.

#include <map>
#include <mutex>
#include <set>
#include <string>

#include "operator/clock/clock.h"

namespace gpupool {

class UnavailableOffers {
 public:
  explicit UnavailableOffers(Duration ttl = Duration{180}) : ttl_(ttl) {}

  // Marks `offer_key` unavailable from `now` for the ttl (extends an entry).
  void mark(const std::string& offer_key, Time now);
  // Forgets an entry early (the provider reported capacity again).
  void clear(const std::string& offer_key);
  bool contains(const std::string& offer_key, Time now) const;
  // The keys unavailable at `now`, for planner::Request::unavailable. Drops
  // expired entries.
  std::set<std::string> active(Time now);

 private:
  Duration ttl_;
  mutable std::mutex mu_;
  std::map<std::string, Time> until_;  // GUARDED_BY(mu_)
};

}  // namespace gpupool
