#pragma once
// The controller work queue: a set of keys ("namespace/name" or "name") to
// reconcile, with the guarantees controllers rely on (client-go workqueue):
//
//  - Stingy: a key is never handed to two workers at once. A key added while
//    it is being processed is remembered (once) and handed out again after
//    the worker calls done(key).
//  - Coalescing: adding a key that is already waiting does nothing.
//  - Delayed adds: add_after(key, d) makes the key ready at clock.steady_now()
//    + d; the earliest pending time wins when the same key is delayed twice.
//  - Per-key exponential backoff: add_rate_limited(key) delays by
//    base * 2^failures (capped); forget(key) resets the count.
//  - shut_down() wakes every waiter; get() then returns nullopt once no
//    ready key is left. Adds after shut_down() are ignored.
//
// Time: delays are measured with the injected Clock's steady_now(). A waiter
// re-reads the clock at least every `poll_interval` of real time, so a
// FakeClock moved by a test is noticed; clock_advanced() makes that
// immediate. Thread-safety: every method may be called from any thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "operator/base/thread_annotations.h"
#include "operator/clock/clock.h"

namespace gpupool::kube {

using Millis = std::chrono::milliseconds;

// Per-key exponential backoff: when(key) = min(base * 2^n, cap) where n is
// the number of when() calls for that key since the last forget(key).
// Thread-safe.
class ExponentialBackoffLimiter {
 public:
  ExponentialBackoffLimiter(Millis base, Millis cap) : base_(base), cap_(cap) {}
  Millis when(const std::string& key);
  void forget(const std::string& key);
  int num_requeues(const std::string& key) const;

 private:
  Millis base_;
  Millis cap_;
  mutable Mutex mu_;
  std::unordered_map<std::string, int> failures_ GUARDED_BY(mu_);
};

class WorkQueue {
 public:
  struct Options {
    Millis base_delay{5};
    Millis max_delay{std::chrono::seconds(1000)};
    Millis poll_interval{50};  // real-time cap on a wait for a delayed key
  };

  explicit WorkQueue(const Clock& clock) : WorkQueue(clock, Options{}) {}
  WorkQueue(const Clock& clock, Options options);
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void add(const std::string& key);
  void add_after(const std::string& key, Millis delay);
  void add_rate_limited(const std::string& key);
  void forget(const std::string& key);
  int num_requeues(const std::string& key) const;

  // Blocks until a key is ready (then marks it processing) or the queue is
  // shut down with nothing ready (returns nullopt).
  std::optional<std::string> get();
  // Non-blocking get(): nullopt when no key is ready right now.
  std::optional<std::string> try_get();
  // REQUIRES: key was returned by get() and done() not yet called for it.
  void done(const std::string& key);

  void shut_down();
  bool shutting_down() const;
  // Tells waiters the clock may have moved (for FakeClock in tests).
  void clock_advanced();

  size_t len() const;            // ready keys
  size_t delayed_count() const;  // keys waiting for their time

  // Metrics (monotonic counters): keys newly queued by add() (or a due
  // delayed add); add_rate_limited() calls (retries after a failure).
  uint64_t adds_total() const { return adds_.load(); }
  uint64_t retries_total() const { return retries_.load(); }
  // Age by steady_now() of the oldest key being processed; zero when none.
  Millis longest_running() const;

 private:
  void add_locked(const std::string& key) REQUIRES(mu_);
  void promote_due_locked() REQUIRES(mu_);
  std::optional<std::string> get_impl(bool block);

  const Clock& clock_;
  Options options_;
  ExponentialBackoffLimiter limiter_;

  mutable Mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_ GUARDED_BY(mu_);
  std::unordered_set<std::string> dirty_ GUARDED_BY(mu_);
  std::unordered_map<std::string, SteadyTime> processing_ GUARDED_BY(mu_);  // key -> since
  std::multimap<SteadyTime, std::string> waiting_ GUARDED_BY(mu_);
  std::unordered_map<std::string, SteadyTime> waiting_at_ GUARDED_BY(mu_);
  bool shutting_down_ GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> adds_{0};
  std::atomic<uint64_t> retries_{0};
};

}  // namespace gpupool::kube
