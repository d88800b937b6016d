#include "providers/unavailable/unavailable_offers.h"

namespace gpupool {

void UnavailableOffers::mark(const std::string& offer_key, Time now) {
  MutexLock lock(mu_);
  until_[offer_key] = now + ttl_;
  last_mark_[offer_key] = now;
}

void UnavailableOffers::clear(const std::string& offer_key) {
  MutexLock lock(mu_);
  until_.erase(offer_key);
  last_mark_.erase(offer_key);
}

bool UnavailableOffers::contains(const std::string& offer_key, Time now) const {
  MutexLock lock(mu_);
  auto it = until_.find(offer_key);
  return it != until_.end() && now < it->second;
}

std::set<std::string> UnavailableOffers::active(Time now) {
  MutexLock lock(mu_);
  std::set<std::string> out;
  for (auto it = until_.begin(); it != until_.end();) {
    if (now >= it->second) {
      it = until_.erase(it);
    } else {
      out.insert(it->first);
      ++it;
    }
  }
  return out;
}

std::set<std::string> UnavailableOffers::recent(Time now) {
  MutexLock lock(mu_);
  std::set<std::string> out;
  for (auto it = last_mark_.begin(); it != last_mark_.end();) {
    if (now >= it->second + memory_) {
      it = last_mark_.erase(it);
    } else {
      out.insert(it->first);
      ++it;
    }
  }
  return out;
}

}  // namespace gpupool
