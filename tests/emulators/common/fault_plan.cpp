#include "tests/emulators/common/fault_plan.h"

namespace gpupool::emulators {

void FaultPlan::add(std::string operation, Fault fault, int times) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& q = queues_[std::move(operation)];
  for (int i = 0; i < times; ++i)
    q.push_back(fault);
}

std::optional<Fault> FaultPlan::take(std::string_view operation) {
  std::lock_guard<std::mutex> lock(mu_);
  for (std::string_view key : {operation, std::string_view()}) {
    auto it = queues_.find(key);
    if (it != queues_.end() && !it->second.empty()) {
      Fault f = it->second.front();
      it->second.pop_front();
      return f;
    }
  }
  return std::nullopt;
}

void FaultPlan::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  queues_.clear();
}

size_t FaultPlan::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [k, q] : queues_)
    n += q.size();
  return n;
}

}  // namespace gpupool::emulators
