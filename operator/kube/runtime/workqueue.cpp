#include "operator/kube/runtime/workqueue.h"

#include <algorithm>

namespace gpupool::kube {

Millis ExponentialBackoffLimiter::when(const std::string& key) {
  MutexLock lock(mu_);
  const int n = failures_[key]++;
  // base * 2^n without overflow: stop doubling once past the cap.
  Millis d = base_;
  for (int i = 0; i < n && d < cap_; ++i)
    d *= 2;
  return std::min(d, cap_);
}

void ExponentialBackoffLimiter::forget(const std::string& key) {
  MutexLock lock(mu_);
  failures_.erase(key);
}

int ExponentialBackoffLimiter::num_requeues(const std::string& key) const {
  MutexLock lock(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

WorkQueue::WorkQueue(const Clock& clock, Options options)
    : clock_(clock), options_(options), limiter_(options.base_delay, options.max_delay) {}

void WorkQueue::add(const std::string& key) {
  MutexLock lock(mu_);
  add_locked(key);
}

void WorkQueue::add_locked(const std::string& key) {
  if (shutting_down_) return;
  if (!dirty_.insert(key).second) return;  // already waiting to be handed out
  adds_.fetch_add(1);
  if (processing_.count(key) != 0) return;  // re-queued by done()
  queue_.push_back(key);
  cv_.notify_one();
}

void WorkQueue::add_after(const std::string& key, Millis delay) {
  if (delay <= Millis::zero()) {
    add(key);
    return;
  }
  MutexLock lock(mu_);
  if (shutting_down_) return;
  const SteadyTime at = clock_.steady_now() + delay;
  auto it = waiting_at_.find(key);
  if (it != waiting_at_.end()) {
    if (it->second <= at) return;  // an earlier wake-up is already pending
    auto range = waiting_.equal_range(it->second);
    for (auto w = range.first; w != range.second; ++w) {
      if (w->second == key) {
        waiting_.erase(w);
        break;
      }
    }
  }
  waiting_.emplace(at, key);
  waiting_at_[key] = at;
  cv_.notify_all();  // a waiter may need to shorten its sleep
}

void WorkQueue::add_rate_limited(const std::string& key) {
  retries_.fetch_add(1);
  add_after(key, limiter_.when(key));
}

void WorkQueue::forget(const std::string& key) {
  limiter_.forget(key);
}

int WorkQueue::num_requeues(const std::string& key) const {
  return limiter_.num_requeues(key);
}

void WorkQueue::promote_due_locked() {
  const SteadyTime now = clock_.steady_now();
  while (!waiting_.empty() && waiting_.begin()->first <= now) {
    std::string key = waiting_.begin()->second;
    waiting_.erase(waiting_.begin());
    waiting_at_.erase(key);
    add_locked(key);
  }
}

std::optional<std::string> WorkQueue::get() {
  return get_impl(true);
}

std::optional<std::string> WorkQueue::try_get() {
  return get_impl(false);
}

std::optional<std::string> WorkQueue::get_impl(bool block) {
  MutexLock lock(mu_);
  for (;;) {
    promote_due_locked();
    if (!queue_.empty()) break;
    if (shutting_down_ || !block) return std::nullopt;
    if (waiting_.empty()) {
      lock.wait(cv_);  // only add()/shut_down() can make progress
      continue;
    }
    // Sleep until the earliest delayed key is due by the injected clock, but
    // re-read that clock at least every poll_interval (a FakeClock may jump).
    const auto until =
        std::chrono::duration_cast<Millis>(waiting_.begin()->first - clock_.steady_now());
    lock.wait_for(cv_, std::clamp(until, Millis(1), options_.poll_interval));
  }
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  processing_.emplace(key, clock_.steady_now());
  dirty_.erase(key);
  return key;
}

void WorkQueue::done(const std::string& key) {
  MutexLock lock(mu_);
  processing_.erase(key);
  if (dirty_.count(key) != 0 && !shutting_down_) {
    queue_.push_back(key);
    cv_.notify_one();
  }
}

void WorkQueue::shut_down() {
  MutexLock lock(mu_);
  shutting_down_ = true;
  cv_.notify_all();
}

bool WorkQueue::shutting_down() const {
  MutexLock lock(mu_);
  return shutting_down_;
}

void WorkQueue::clock_advanced() {
  MutexLock lock(mu_);
  promote_due_locked();
  cv_.notify_all();
}

size_t WorkQueue::len() const {
  MutexLock lock(mu_);
  return queue_.size();
}

Millis WorkQueue::longest_running() const {
  MutexLock lock(mu_);
  if (processing_.empty()) return Millis::zero();
  const SteadyTime now = clock_.steady_now();
  SteadyTime oldest = now;
  for (const auto& [key, since] : processing_)
    oldest = std::min(oldest, since);
  return std::chrono::duration_cast<Millis>(now - oldest);
}

size_t WorkQueue::delayed_count() const {
  MutexLock lock(mu_);
  return waiting_.size();
}

}  // namespace gpupool::kube
