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
  MutexLock lock(mu_);
  int& n = in_flight_[provider];
  if (limit_ > 0 && n >= limit_) {
    ++refusals_[provider];
    return {};
  }
  ++n;
  return {this, provider};
}

bool ProviderSlots::wait(const std::string& provider, Waiter waiter) {
  if (waiter.enqueue == nullptr || !*waiter.enqueue) return false;
  MutexLock lock(mu_);
  auto busy = in_flight_.find(provider);
  if (limit_ <= 0 || busy == in_flight_.end() || busy->second < limit_) return false;
  Waiting& w = waiting_[provider];
  WaiterId id{waiter.enqueue, std::move(waiter.key)};
  if (w.queued.insert(id).second) w.fifo.push_back(std::move(id));
  return true;
}

kube::ReconcileResult ProviderSlots::refused_result(const std::vector<std::string>& providers,
                                                    const Enqueue* enqueue,
                                                    const std::string& key) {
  if (enqueue == nullptr || !*enqueue) return kube::ReconcileResult::after(kProviderBusyRequeue);
  for (const std::string& provider : providers) {
    // Freed since the refusal: its give_back woke nobody for us; try again.
    if (!wait(provider, {enqueue, key})) return kube::ReconcileResult::after(kube::Millis{0});
  }
  return kube::ReconcileResult::after(kProviderWaitSafetyRequeue);
}

void ProviderSlots::give_back(const std::string& provider) {
  std::vector<WaiterId> woken;
  {
    MutexLock lock(mu_);
    auto it = in_flight_.find(provider);
    if (it == in_flight_.end()) return;
    const int held = --it->second;
    if (held <= 0) in_flight_.erase(it);
    auto w = waiting_.find(provider);
    if (w == waiting_.end()) return;
    // As many as can take a slot now: one per free slot, oldest first.
    for (int free = limit_ - std::max(held, 0); free > 0 && !w->second.fifo.empty(); --free) {
      woken.push_back(std::move(w->second.fifo.front()));
      w->second.fifo.pop_front();
      w->second.queued.erase(woken.back());
    }
    if (w->second.fifo.empty()) waiting_.erase(w);
    wakes_ += static_cast<int64_t>(woken.size());
  }
  for (const auto& [enqueue, key] : woken)
    (*enqueue)(key);
}

int ProviderSlots::in_flight(const std::string& provider) const {
  MutexLock lock(mu_);
  auto it = in_flight_.find(provider);
  return it == in_flight_.end() ? 0 : it->second;
}

int ProviderSlots::waiting(const std::string& provider) const {
  MutexLock lock(mu_);
  auto it = waiting_.find(provider);
  return it == waiting_.end() ? 0 : static_cast<int>(it->second.fifo.size());
}

std::map<std::string, int64_t> ProviderSlots::refusals() const {
  MutexLock lock(mu_);
  return refusals_;
}

int64_t ProviderSlots::wakes() const {
  MutexLock lock(mu_);
  return wakes_;
}

}  // namespace gpupool::controllers
