#include "operator/kube/client/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <thread>

namespace gpupool::kube {

TokenBucket::TokenBucket(const Clock& clock, double qps, int burst)
    : clock_(clock),
      qps_(qps),
      burst_(std::max(1, burst)),
      tokens_(std::max(1, burst)),
      last_(clock.steady_now()) {}

std::chrono::milliseconds TokenBucket::reserve() {
  if (qps_ <= 0) return std::chrono::milliseconds(0);
  MutexLock lock(mu_);
  const SteadyTime now = clock_.steady_now();
  if (now > last_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
    last_ = now;
  }
  tokens_ -= 1.0;
  if (tokens_ >= 0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(static_cast<int64_t>(std::ceil(-tokens_ / qps_ * 1000.0)));
}

void TokenBucket::acquire() {
  const auto wait = reserve();
  if (wait.count() > 0) std::this_thread::sleep_for(wait);
}

}  // namespace gpupool::kube
