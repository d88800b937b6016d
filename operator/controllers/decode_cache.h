#pragma once
// Typed objects decoded once per stored version.
//
// An informer's objects are shared_ptr<const Json> that are never changed in
// place: a new version is a new object. So the typed form of a stored object
// can be decoded once and handed to every reconcile that reads it, instead of
// being decoded again on each pass (a pool reconcile reads its own instances
// and every instance's provider; the simulator showed decoding as the largest
// share of its CPU). Only objects taken from a kube::Store belong here; JSON
// built or modified locally is decoded with to_pool / to_instance.
//
// A store keeps each version encoded and hands out a tree decoded from it
// that lives only while readers hold it (kube/runtime/store.h), so two reads
// of one version may give two trees. An entry is therefore keyed by the
// stored version the tree was read from (kube::stored_version), which lives
// as long as the store holds that version: the typed form is decoded once per
// version, not once per read, and is the only decoded copy kept. A tree no
// store handed out (built locally, an informer event) is keyed by its own
// address instead. Either way the entry remembers its key through a
// weak_ptr, so a new version or object that reuses a freed address is never
// mistaken for the old one. Entries whose version or object is gone are
// swept once the table has doubled since the last sweep.
//
// Thread-safety: every member function may be called from any thread.

#include <cstddef>
#include <memory>
#include <optional>
#include <unordered_map>

#include "operator/base/thread_annotations.h"
#include "operator/core/api_types.h"
#include "operator/kube/runtime/store.h"

namespace gpupool::controllers {

template <class T>
class DecodeCache {
 public:
  using Decoder = std::optional<T> (*)(const kube::Json&);
  explicit DecodeCache(Decoder decode) : decode_(decode) {}

  // The decoded object; null when `obj` is null or cannot be decoded (a
  // failed decode is remembered too, until the object changes).
  std::shared_ptr<const T> get(const kube::ObjectPtr& obj) const {
    if (!obj) return nullptr;
    std::shared_ptr<const void> source = kube::stored_version(obj);
    if (!source) source = obj;
    {
      MutexLock lock(mu_);
      auto it = entries_.find(source.get());
      if (it != entries_.end() && it->second.source.lock() == source) return it->second.value;
    }
    std::shared_ptr<const T> value;
    if (auto decoded = decode_(*obj)) value = std::make_shared<const T>(std::move(*decoded));
    MutexLock lock(mu_);
    entries_[source.get()] = Entry{source, value};
    if (entries_.size() >= sweep_at_) sweep();
    return value;
  }

  std::size_t size() const {
    MutexLock lock(mu_);
    return entries_.size();
  }

 private:
  struct Entry {
    std::weak_ptr<const void> source;  // the stored version, or the tree
    std::shared_ptr<const T> value;
  };

  void sweep() const REQUIRES(mu_) {
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = it->second.source.expired() ? entries_.erase(it) : std::next(it);
    }
    sweep_at_ = std::max<std::size_t>(kMinSweep, 2 * entries_.size());
  }

  static constexpr std::size_t kMinSweep = 1024;
  Decoder decode_;
  mutable Mutex mu_;
  mutable std::unordered_map<const void*, Entry> entries_ GUARDED_BY(mu_);
  mutable std::size_t sweep_at_ GUARDED_BY(mu_) = kMinSweep;
};

// The caches the reconcilers share (Context::decoded).
struct DecodedObjects {
  DecodedObjects();
  DecodeCache<api::GpuPool> pools;
  DecodeCache<api::GpuInstance> instances;
};

}  // namespace gpupool::controllers
