#pragma once
// Client-side request rate limiting (client-go's flowcontrol token bucket):
// `qps` tokens per second refill a bucket holding at most `burst`; each
// request takes one token, waiting when the bucket is empty.
//
// Time comes from the injected Clock's steady_now(). reserve() never blocks:
// it takes a token (possibly going into debt) and says how long the caller
// must wait before sending, so tests check the arithmetic with a FakeClock.
// Thread-safe.

#include <chrono>
#include <mutex>

#include "operator/base/thread_annotations.h"
#include "operator/clock/clock.h"

namespace gpupool::kube {

class TokenBucket {
 public:
  // qps <= 0 disables limiting (reserve() always returns zero).
  TokenBucket(const Clock& clock, double qps, int burst);

  // Takes one token; returns how long to wait before using it.
  std::chrono::milliseconds reserve();
  // reserve() and then sleep for the returned time.
  void acquire();

 private:
  const Clock& clock_;
  double qps_;
  double burst_;
  Mutex mu_;
  double tokens_ GUARDED_BY(mu_);  // may go negative (reservations)
  SteadyTime last_ GUARDED_BY(mu_);
};

}  // namespace gpupool::kube
