#pragma once
// Create expectations: the GpuInstances a pool reconcile has created and the
// informer cache has not shown yet, so the next reconcile of that pool does
// not buy them a second time from a cache that lags its own creates. The
// shape of Kubernetes' ControllerExpectations (pkg/controller/
// controller_utils.go, used by the ReplicaSet controller): a reconcile that
// creates records what it expects; the expectation is lowered as the
// creates are observed; a reconcile may act on the cache once nothing is
// pending, or once the expectation is older than a timeout (5 minutes
// there and by default here: an add event that never comes, say the object
// was deleted before the watch delivered it, must not block the pool
// forever; then the cache is trusted).
//
// Unlike Kubernetes' counter, an expectation here is the set of names
// created, and "observed" means the cache holds that name: the pool's
// reconcile, which the instance informer's add event enqueues, checks its
// own creates against the cache (satisfied()), so no event handler of the
// manager needs to know about expectations, and an object seen once and
// deleted since counts as observed only if the cache showed it.
//
// Thread-safety: every method is safe to call concurrently.

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "operator/base/thread_annotations.h"
#include "operator/clock/clock.h"

namespace gpupool::controllers {

class CreateExpectations {
 public:
  // Kubernetes' ExpectationsTimeout.
  static constexpr Duration kDefaultTimeout{5 * 60};

  explicit CreateExpectations(Duration timeout = kDefaultTimeout) : timeout_(timeout) {}

  // `key` is about to create `names` (call before the creates, as
  // Kubernetes does, so a fast add event is not missed); the expectation's
  // age starts again at `now`.
  void expect(const std::string& key, const std::vector<std::string>& names, Time now)
      EXCLUDES(mu_);
  // The create of `name` failed: no add event will come for it.
  void forget(const std::string& key, const std::string& name) EXCLUDES(mu_);
  // Lowers `key`'s expectation by every name `in_cache` reports present;
  // true when nothing is pending any more, or when what is pending was
  // expected more than the timeout before `now` (then it is dropped: the
  // cache is trusted).
  bool satisfied(const std::string& key, const std::function<bool(const std::string&)>& in_cache,
                 Time now) EXCLUDES(mu_);
  // When `key`'s pending expectation expires; nullopt when none is pending.
  std::optional<Time> expires_at(const std::string& key) const EXCLUDES(mu_);
  // The object behind `key` is gone: nothing to expect for it.
  void erase(const std::string& key) EXCLUDES(mu_);

 private:
  struct Pending {
    std::set<std::string> names;
    Time since{};
  };
  const Duration timeout_;
  mutable Mutex mu_;
  std::map<std::string, Pending> pending_ GUARDED_BY(mu_);
};

}  // namespace gpupool::controllers
