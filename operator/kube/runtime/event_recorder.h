#pragma once
// EventRecorder: writes core/v1 Events about objects the way client-go's
// tools/record does (reference §6.1), so `kubectl describe` and
// `kubectl get events` show them.
//
//  - The first occurrence creates an Event named "<object>.<hex>" in the
//    object's namespace ("default" for cluster-scoped objects) with count 1,
//    firstTimestamp = lastTimestamp = now.
//  - Repeats of the same (object uid/kind/namespace/name, type, reason,
//    message) are aggregated: a strategic-merge PATCH raises count and moves
//    lastTimestamp. If the Event is gone (NotFound; events expire on the
//    server) a new one is created.
//  - The aggregation cache is bounded (`max_cached`), oldest entries dropped.
//
// Calls are synchronous and return the API status; event writes are best
// effort, so callers usually ignore failures.
// Thread-safety: record() may be called from any thread.

#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "operator/base/thread_annotations.h"
#include "operator/clock/clock.h"
#include "operator/kube/api/api.h"

namespace gpupool::kube {

class EventRecorder {
 public:
  EventRecorder(KubeApi& api, const Clock& clock, std::string component, std::string host = "",
                size_t max_cached = 4096);

  // `involved` is the object the event is about (apiVersion, kind, metadata
  // with name, namespace, uid, resourceVersion). type is "Normal" or
  // "Warning"; reason is CamelCase.
  ApiStatus record(const Json& involved, const std::string& type, const std::string& reason,
                   const std::string& message);

  uint64_t created_total() const EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return created_;
  }
  uint64_t patched_total() const EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return patched_;
  }

 private:
  struct Entry {
    std::string namespace_;
    std::string name;
    int64_t count = 0;
    std::list<std::string>::iterator lru;
  };

  KubeApi& api_;
  const Clock& clock_;
  std::string component_;
  std::string host_;
  size_t max_cached_;

  mutable Mutex mu_;  // serialises writes so counts never go backwards
  std::unordered_map<std::string, Entry> cache_ GUARDED_BY(mu_);
  std::list<std::string> lru_ GUARDED_BY(mu_);  // front = newest
  uint64_t sequence_ GUARDED_BY(mu_) = 0;
  uint64_t created_ GUARDED_BY(mu_) = 0;
  uint64_t patched_ GUARDED_BY(mu_) = 0;
};

}  // namespace gpupool::kube
