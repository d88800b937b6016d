#include "operator/controllers/create_expectations.h"

namespace gpupool::controllers {

void CreateExpectations::expect(const std::string& key, const std::vector<std::string>& names,
                                Time now) {
  MutexLock lock(mu_);
  Pending& p = pending_[key];
  p.names.insert(names.begin(), names.end());
  p.since = now;
}

void CreateExpectations::forget(const std::string& key, const std::string& name) {
  MutexLock lock(mu_);
  auto it = pending_.find(key);
  if (it == pending_.end()) return;
  it->second.names.erase(name);
  if (it->second.names.empty()) pending_.erase(it);
}

bool CreateExpectations::satisfied(const std::string& key,
                                   const std::function<bool(const std::string&)>& in_cache,
                                   Time now) {
  MutexLock lock(mu_);
  auto it = pending_.find(key);
  if (it == pending_.end()) return true;
  std::set<std::string>& names = it->second.names;
  for (auto n = names.begin(); n != names.end();) {
    n = in_cache(*n) ? names.erase(n) : std::next(n);
  }
  if (names.empty() || now - it->second.since > timeout_) {
    pending_.erase(it);
    return true;
  }
  return false;
}

std::optional<Time> CreateExpectations::expires_at(const std::string& key) const {
  MutexLock lock(mu_);
  auto it = pending_.find(key);
  if (it == pending_.end()) return std::nullopt;
  return it->second.since + timeout_;
}

void CreateExpectations::erase(const std::string& key) {
  MutexLock lock(mu_);
  pending_.erase(key);
}

}  // namespace gpupool::controllers
