#include "operator/controllers/endpoint_prober_pool.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <utility>

#include "operator/base/thread_annotations.h"

namespace gpupool::controllers {

// Shared by the pool and its threads: a thread left behind by stop() keeps
// it (and so the prober) alive until its probe returns.
struct ProbePool::State {
  struct Entry {
    std::string url;
    Duration timeout{};
    uint64_t ticket = 0;  // tells this probe from an earlier, forgotten one of the key
    bool running = false;
    std::optional<Completed> result;
  };
  struct Queued {
    std::string key;
    uint64_t ticket = 0;
  };

  std::shared_ptr<EndpointProber> prober;
  const Clock* clock = nullptr;  // not read once stopped
  OnDone on_done;
  Options options;

  mutable Mutex mu;
  std::condition_variable work_cv;  // a probe was queued, or stop
  std::condition_variable idle_cv;  // a thread ended, or an on_done call returned
  std::map<std::string, Entry> entries GUARDED_BY(mu);
  std::deque<Queued> queue GUARDED_BY(mu);  // at most one per entry
  uint64_t next_ticket GUARDED_BY(mu) = 1;
  int alive GUARDED_BY(mu) = 0;    // threads not yet returned
  int calling GUARDED_BY(mu) = 0;  // on_done calls under way
  bool stopped GUARDED_BY(mu) = false;
};

namespace {

using PoolState = ProbePool::State;

// The prober's answer; a prober that throws (it should not) is a failed
// probe, never a dead thread.
health::Probe pool_probe_once(EndpointProber& prober, const std::string& url, Duration timeout) {
  try {
    return prober.probe(url, timeout);
  } catch (const std::exception& e) {
    return {false, std::string("probe failed: ") + e.what()};
  } catch (...) {
    return {false, "probe failed"};
  }
}

// Stores a finished probe unless its key was forgotten (or the pool stopped)
// meanwhile, and tells on_done (with s.mu released for the call).
void pool_finish(PoolState& s, const std::string& key, uint64_t ticket, ProbePool::Completed done)
    REQUIRES(s.mu) {
  if (s.stopped) return;
  auto it = s.entries.find(key);
  if (it == s.entries.end() || it->second.ticket != ticket) return;  // forgotten: dropped
  it->second.running = false;
  it->second.result = std::move(done);
  if (!s.on_done) return;
  ++s.calling;
  s.mu.unlock();
  s.on_done(key);
  s.mu.lock();
  --s.calling;
  s.idle_cv.notify_all();
}

// One prober thread: takes queued probes in order until stop.
void pool_work(const std::shared_ptr<PoolState>& state) {
  PoolState& s = *state;
  MutexLock lock(s.mu);
  for (;;) {
    while (!s.stopped && s.queue.empty())
      lock.wait(s.work_cv);
    if (s.stopped) break;
    const PoolState::Queued next = std::move(s.queue.front());
    s.queue.pop_front();
    auto it = s.entries.find(next.key);
    if (it == s.entries.end() || it->second.ticket != next.ticket) continue;
    it->second.running = true;
    const std::string url = it->second.url;
    const Duration timeout = it->second.timeout;
    const Time started = s.clock->now();
    lock.unlock();
    health::Probe answer = pool_probe_once(*s.prober, url, timeout);
    lock.lock();
    pool_finish(s, next.key, next.ticket, {url, std::move(answer), started});
  }
  --s.alive;
  s.idle_cv.notify_all();
}

}  // namespace

std::string ProbePool::invalid(const Options& options) {
  if (options.threads < 1 || options.threads > kMaxThreads) {
    return "threads must be 1.." + std::to_string(kMaxThreads) + ", not " +
           std::to_string(options.threads);
  }
  if (options.max_keys < 1) return "max_keys must be at least 1";
  if (options.max_stop_wait.count() < 0) return "max_stop_wait must not be negative";
  return "";
}

ProbePool::ProbePool(std::shared_ptr<EndpointProber> prober, const Clock& clock, Options options,
                     OnDone on_done)
    : prober_(std::move(prober)), state_(std::make_shared<State>()) {
  state_->prober = prober_;
  state_->clock = &clock;
  state_->on_done = std::move(on_done);
  state_->options = options;
  const int n = std::clamp(options.threads, 1, kMaxThreads);
  state_->alive = n;
  threads_.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    threads_.emplace_back([s = state_] { pool_work(s); });
}

ProbePool::~ProbePool() {
  stop();
}

ProbePool::Started ProbePool::start(const std::string& key, const std::string& url,
                                    Duration timeout) {
  State& s = *state_;
  MutexLock lock(s.mu);
  if (s.stopped) return Started::Stopped;
  if (s.entries.count(key)) return Started::AlreadyPending;
  if (s.entries.size() >= s.options.max_keys) return Started::Full;
  const uint64_t ticket = s.next_ticket++;
  s.entries[key] = State::Entry{url, timeout, ticket, false, std::nullopt};
  s.queue.push_back({key, ticket});
  s.work_cv.notify_one();
  return Started::Queued;
}

bool ProbePool::pending(const std::string& key) const {
  MutexLock lock(state_->mu);
  return state_->entries.count(key) > 0;
}

std::optional<ProbePool::Completed> ProbePool::take(const std::string& key) {
  MutexLock lock(state_->mu);
  auto it = state_->entries.find(key);
  if (it == state_->entries.end() || !it->second.result) return std::nullopt;
  Completed done = std::move(*it->second.result);
  state_->entries.erase(it);
  return done;
}

void ProbePool::forget(const std::string& key) {
  State& s = *state_;
  MutexLock lock(s.mu);
  if (s.entries.erase(key) == 0) return;
  // Its queued probe goes too, so the queue stays within max_keys.
  std::erase_if(s.queue, [&key](const State::Queued& q) { return q.key == key; });
}

size_t ProbePool::size() const {
  MutexLock lock(state_->mu);
  return state_->entries.size();
}

void ProbePool::stop() {
  State& s = *state_;
  MutexLock lock(s.mu);
  if (s.stopped && threads_.empty()) return;
  s.stopped = true;
  Duration longest{0};
  for (const auto& entry : s.entries) {
    if (entry.second.running) longest = std::max(longest, entry.second.timeout);
  }
  s.entries.clear();
  s.queue.clear();
  s.work_cv.notify_all();
  const auto wait = std::min<std::chrono::milliseconds>(longest, s.options.max_stop_wait);
  lock.wait_for(s.idle_cv, wait + std::chrono::milliseconds(100),
                [&s]() REQUIRES(s.mu) { return s.alive == 0; });
  // An on_done call under way returns soon (it must not block); none starts
  // after this.
  while (s.calling != 0)
    lock.wait(s.idle_cv);
  const bool all_returned = s.alive == 0;
  lock.unlock();
  for (auto& t : threads_) {
    if (all_returned) {
      t.join();
    } else {
      t.detach();  // its probe overstays; it holds the state and drops the result
    }
  }
  threads_.clear();
}

}  // namespace gpupool::controllers
