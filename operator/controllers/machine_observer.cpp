#include "operator/controllers/machine_observer.h"

#include <vector>

namespace gpupool::controllers {

bool MachineObserver::claim_list(Entry& e, const std::shared_ptr<Provider>& provider,
                                 Time now) const {
  if (e.listing) return false;
  const bool same_adapter = e.adapter.lock() == provider;
  if (same_adapter && e.failed_at && now - *e.failed_at < max_age_) return false;
  if (same_adapter && e.has_list && now - e.taken < max_age_) return false;
  e.listing = true;
  return true;
}

std::optional<Machine> MachineObserver::lookup(const Entry& e,
                                               const std::shared_ptr<Provider>& provider,
                                               std::string_view pool_uid, std::string_view name) {
  if (!e.has_list || e.adapter.lock() != provider) return std::nullopt;
  auto it = e.machines.find({std::string(pool_uid), std::string(name)});
  if (it == e.machines.end()) return std::nullopt;
  return it->second;
}

std::optional<Machine> MachineObserver::observe(const std::shared_ptr<Provider>& provider,
                                                const std::string& provider_name,
                                                std::string_view pool_uid, std::string_view name,
                                                Time now) {
  if (!provider) return std::nullopt;
  {
    std::lock_guard lock(mu_);
    Entry& e = entries_[provider_name];
    if (!claim_list(e, provider, now)) {
      // While the last list() is a recent failure, get() answers.
      if (e.failed_at && now - *e.failed_at < max_age_) return std::nullopt;
      return lookup(e, provider, pool_uid, name);
    }
  }
  // This reconcile takes the list; the others answer from the previous one.
  auto listed = provider->list(MachineFilter{});
  std::lock_guard lock(mu_);
  Entry& e = entries_[provider_name];
  e.listing = false;
  ++lists_;
  if (e.adapter.lock() != provider) {  // the old list was another adapter's answer
    e.has_list = false;
    e.machines.clear();
    e.adapter = provider;
  }
  if (!listed.ok()) {
    ++failed_lists_;
    e.failed_at = now;
    return std::nullopt;
  }
  e.failed_at.reset();
  e.taken = now;
  e.has_list = true;
  e.machines.clear();
  for (Machine& m : *listed) {
    std::string uid = m.pool_uid();
    if (uid.empty() || m.name.empty()) continue;
    auto key = std::make_pair(std::move(uid), m.name);
    auto slot = e.machines.find(key);
    // A live machine wins over a gone one of the same name (machine_named()).
    if (slot == e.machines.end()) {
      e.machines.emplace(std::move(key), std::move(m));
    } else if (is_gone(slot->second.state) && !is_gone(m.state)) {
      slot->second = std::move(m);
    }
  }
  return lookup(e, provider, pool_uid, name);
}

int64_t MachineObserver::lists() const {
  std::lock_guard lock(mu_);
  return lists_;
}

int64_t MachineObserver::failed_lists() const {
  std::lock_guard lock(mu_);
  return failed_lists_;
}

}  // namespace gpupool::controllers
