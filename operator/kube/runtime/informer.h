#pragma once
// Informer: a reflector keeping a Store in step with one resource (optionally
// one namespace and selectors) through list+watch, and event handlers that
// controllers use to enqueue keys.
//
// Protocol (client-go reflector, reference §4.4):
//  - List in pages (`page_size`), first with resourceVersion "0", then watch
//    from the list's resourceVersion with bookmarks.
//  - A stream that ends (server timeout, dropped connection) is re-opened from
//    the last resourceVersion seen, bookmarks included: no relist, so no event
//    is missed or repeated.
//  - 410 Gone (HTTP status on watch or list, or an ERROR event) relists: first
//    not older than the last seen version, then, if that is Gone too, a fresh
//    consistent list (""). The relist is diffed against the cache and the
//    differences are delivered as add/update/delete, so handlers see every
//    change exactly once and nothing they already saw.
//  - Any other error backs off exponentially with jitter (base..cap), timed
//    by the injected Clock; a stream that delivered events resets the backoff.
//
// Cached objects carry no metadata.managedFields (server-side apply's
// ownership records, which the API server adds to every object written by a
// named field manager): controllers never read them, and they would be most
// of a small object's size in the cache. Writing a cached object back is
// safe: the server keeps its managedFields when an update sends none.
// controller-runtime's TransformStripManagedFields does the same. Nothing
// else is dropped: the controllers write pools and instances back with a
// full update built from the cached object, so a field missing from the
// cache would be erased on the server (metadata.annotations'
// kubectl.kubernetes.io/last-applied-configuration, say, which kubectl apply
// needs). The store keeps each object encoded, not as a tree (store.h).
//
// Handlers run on the informer's thread, after the store changed, outside any
// lock; they must be quick (enqueue a key). A handler added after start()
// first receives an add for every cached object.
//
// Thread-safety: start()/stop() from the owner; everything else from any
// thread. The KubeApi must outlive the informer.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "operator/base/thread_annotations.h"
#include "operator/clock/clock.h"
#include "operator/kube/api/api.h"
#include "operator/kube/runtime/store.h"

namespace gpupool::kube {

struct EventHandlers {
  std::function<void(const ObjectPtr&)> on_add;
  std::function<void(const ObjectPtr& old_obj, const ObjectPtr& new_obj)> on_update;
  std::function<void(const ObjectPtr&)> on_delete;
};

// Exponential backoff with jitter: next() = min(cap, base * 2^n) * (1 + jitter
// * U[0,1)), capped at cap; reset() starts over. Not thread-safe.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds base, std::chrono::milliseconds cap, double jitter,
          uint32_t seed)
      : base_(base), cap_(cap), jitter_(jitter), rng_(seed) {}
  std::chrono::milliseconds next();
  void reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }

 private:
  std::chrono::milliseconds base_, cap_;
  double jitter_;
  std::mt19937 rng_;
  int attempt_ = 0;
};

class Informer {
 public:
  struct Options {
    std::string namespace_;  // "" = all namespaces (or cluster-scoped)
    std::string label_selector;
    std::string field_selector;
    int64_t page_size = 500;
    std::chrono::seconds watch_timeout{300};
    std::chrono::milliseconds backoff_base{800};
    std::chrono::milliseconds backoff_cap{30'000};
    double backoff_jitter = 1.0;
    uint32_t seed = 1;
    // Real-time cap on one wait (watch next(), backoff sleep), so a stop or
    // a FakeClock jump is noticed.
    std::chrono::milliseconds poll_interval{200};
    // How the cache keeps objects (store.h): compact by default, so a large
    // cluster's objects cost a fraction of their JSON trees.
    StoreMode store_mode = StoreMode::Compact;
  };

  Informer(KubeApi& api, Resource resource, const Clock& clock, Options options);
  ~Informer();  // stops
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // REQUIRES: before start().
  void add_index(const std::string& name, IndexFn fn) { store_.add_index(name, std::move(fn)); }
  void add_handlers(EventHandlers handlers);

  void start();
  // Cancels the watch, wakes a backoff wait, joins the thread. Idempotent.
  void stop();

  // True once the first list has been stored.
  bool has_synced() const { return synced_.load(); }
  // Waits (real time) until synced or stopped; returns has_synced().
  bool wait_for_sync(std::chrono::milliseconds timeout);
  // Wakes a backoff wait so it re-reads the (fake) clock.
  void clock_advanced();

  const Store& store() const { return store_; }
  const Resource& resource() const { return resource_; }

  // Observability (for metrics and tests).
  std::string last_resource_version() const;
  uint64_t lists_total() const { return lists_.load(); }
  uint64_t watches_total() const { return watches_.load(); }
  uint64_t relists_after_gone_total() const { return gone_relists_.load(); }
  uint64_t errors_total() const { return errors_.load(); }
  // Number of backoff waits begun (tests wait on it before advancing time).
  uint64_t backoffs_total() const { return backoffs_.load(); }
  std::string last_error() const;

 private:
  void run();
  enum class ListOutcome { Ok, Gone, Error };
  ListOutcome list_and_replace(const std::string& rv);
  // Returns true if the stream delivered at least one event.
  bool watch_once(bool& need_relist);
  void sleep_backoff();
  void record_error(const ApiError& e);
  void dispatch(const StoreDelta& d) REQUIRES(handlers_mu_);
  void set_rv(const std::string& rv);

  KubeApi& api_;
  Resource resource_;
  const Clock& clock_;
  Options options_;
  Store store_;
  Backoff backoff_;

  Mutex handlers_mu_;  // serialises dispatch and handler registration
  std::vector<EventHandlers> handlers_ GUARDED_BY(handlers_mu_);

  mutable Mutex mu_;
  std::condition_variable cv_;
  bool stopping_ GUARDED_BY(mu_) = false;
  WatchStream* current_ GUARDED_BY(mu_) = nullptr;
  std::string rv_ GUARDED_BY(mu_);
  std::string last_error_ GUARDED_BY(mu_);
  std::thread thread_;
  std::atomic<bool> synced_{false};
  std::atomic<uint64_t> lists_{0}, watches_{0}, gone_relists_{0}, errors_{0}, backoffs_{0};
};

}  // namespace gpupool::kube
