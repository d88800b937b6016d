#pragma once
// Giving the heap's free pages back to the system.
//
// glibc keeps what a process frees, in whichever malloc arena served it, so a
// burst of short-lived allocations (a provider's whole machine list decoded
// at once, a /metrics scrape of 10,000 pools: its families and 17 MB of text)
// leaves the resident size at the burst's peak for good. Measured on the
// scale benchmark (bench/README.md): a converged 10,000 x 5 operator resting
// at 452 MiB fell to 269 MiB after one malloc_trim(0). A trim costs a walk
// of the free lists and hands pages back that later allocations fault in
// again, so callers rate-limit it (HeapTrimmer).
//
// Thread-safety: release_free_heap() is safe from any thread (glibc locks
// each arena); HeapTrimmer is not (one owner thread).

#include <chrono>  // first: defines __GLIBC__ on glibc systems
#include <functional>
#include <optional>
#include <utility>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace gpupool {

inline void release_free_heap() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

// Trims at most once per `interval` of the caller's clock.
class HeapTrimmer {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit HeapTrimmer(std::chrono::steady_clock::duration interval,
                       std::function<void()> trim = release_free_heap)
      : interval_(interval), trim_(std::move(trim)) {}

  // Trims when no trim has run yet or `interval` has passed since the last
  // one; returns whether it trimmed.
  bool maybe_trim(TimePoint now) {
    if (last_ && now - *last_ < interval_) return false;
    last_ = now;
    trim_();
    return true;
  }

 private:
  const std::chrono::steady_clock::duration interval_;
  const std::function<void()> trim_;
  std::optional<TimePoint> last_;
};

}  // namespace gpupool
