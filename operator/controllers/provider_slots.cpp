#include "operator/controllers/provider_slots.h"

#include <algorithm>
#include <utility>

namespace gpupool::controllers {

int default_provider_concurrency(int workers) {
  return std::max(1, workers / 2);
}

ProviderSlots::Slot::Slot(Slot&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), provider_(std::move(other.provider_)) {}

ProviderSlots::Slot& ProviderSlots::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::exchange(other.owner_, nullptr);
    provider_ = std::move(other.provider_);
  }
  return *this;
}

void ProviderSlots::Slot::release() {
  if (ProviderSlots* owner = std::exchange(owner_, nullptr)) owner->give_back(provider_);
}

ProviderSlots::Slot ProviderSlots::try_acquire(const std::string& provider) {
  std::lock_guard lock(mu_);
  int& n = in_flight_[provider];
  if (limit_ > 0 && n >= limit_) {
    ++refusals_[provider];
    return {};
  }
  ++n;
  return {this, provider};
}

void ProviderSlots::give_back(const std::string& provider) {
  std::lock_guard lock(mu_);
  auto it = in_flight_.find(provider);
  if (it == in_flight_.end()) return;
  if (--it->second <= 0) in_flight_.erase(it);
}

int ProviderSlots::in_flight(const std::string& provider) const {
  std::lock_guard lock(mu_);
  auto it = in_flight_.find(provider);
  return it == in_flight_.end() ? 0 : it->second;
}

std::map<std::string, int64_t> ProviderSlots::refusals() const {
  std::lock_guard lock(mu_);
  return refusals_;
}

}  // namespace gpupool::controllers
