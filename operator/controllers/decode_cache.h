#pragma once
// Typed objects decoded once per stored version, the recently read ones kept.
//
// An informer's objects are shared_ptr<const Json> that are never changed in
// place: a new version is a new object. So the typed form of a stored object
// can be decoded once and handed to every reconcile that reads it, instead of
// being decoded again on each read (a pool reconcile reads its own instances,
// the endpoint reconcile the same ones right after). Only objects taken from
// a kube::Store belong here; JSON built or modified locally is decoded with
// to_pool / to_instance.
//
// A store keeps each version encoded and hands out a tree decoded from it
// that lives only while readers hold it (kube/runtime/store.h), so two reads
// of one version may give two trees. An entry is therefore keyed by the
// stored version the tree was read from (kube::stored_version), which lives
// as long as the store holds that version. A tree no store handed out (built
// locally, an informer event) is keyed by its own address instead. Either
// way the entry remembers its key through a weak_ptr, so a new version or
// object that reuses a freed address is never mistaken for the old one: a
// read never sees a typed form of another version than the tree it passed.
//
// Bounded: at most `capacity` entries are kept, the least recently read
// dropped first. A typed form costs more than the store's encoding of the
// whole object (~2 KiB per GpuInstance against ~0.5 KiB), so keeping one for
// every object (60,000 at 10,000 pools x 5) would cost more memory than the
// rest of the caches together; a dropped entry is decoded again from the
// tree on its next read (bench/README.md, "bounded decode cache", has the
// cost). Entries whose version or object is gone are swept once the table
// has doubled since the last sweep, so an unbounded cache stays bounded by
// the objects held too.
//
// Thread-safety: every member function may be called from any thread.

#include <algorithm>
#include <cstddef>
#include <limits>
#include <list>
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
  static constexpr std::size_t kUnbounded = std::numeric_limits<std::size_t>::max();

  // REQUIRES: capacity >= 1.
  explicit DecodeCache(Decoder decode, std::size_t capacity = kUnbounded)
      : decode_(decode), capacity_(capacity < 1 ? 1 : capacity) {}

  // The decoded object; null when `obj` is null or cannot be decoded (a
  // failed decode is remembered too, until the object changes or the entry
  // is dropped).
  std::shared_ptr<const T> get(const kube::ObjectPtr& obj) const {
    if (!obj) return nullptr;
    std::shared_ptr<const void> source = kube::stored_version(obj);
    if (!source) source = obj;
    {
      MutexLock lock(mu_);
      auto it = entries_.find(source.get());
      if (it != entries_.end() && it->second.source.lock() == source) {
        recent_.splice(recent_.begin(), recent_, it->second.recent);
        return it->second.value;
      }
    }
    std::shared_ptr<const T> value;
    if (auto decoded = decode_(*obj)) value = std::make_shared<const T>(std::move(*decoded));
    MutexLock lock(mu_);
    put(source, value);
    return value;
  }

  std::size_t size() const {
    MutexLock lock(mu_);
    return entries_.size();
  }
  std::size_t capacity() const { return capacity_; }

 private:
  using Recent = std::list<const void*>;  // most recently read first
  struct Entry {
    std::weak_ptr<const void> source;  // the stored version, or the tree
    std::shared_ptr<const T> value;
    Recent::iterator recent;
  };

  // Keeps `value` for `source` (replacing an entry at the same address: its
  // source is gone), then drops entries beyond the capacity.
  void put(const std::shared_ptr<const void>& source, std::shared_ptr<const T> value) const
      REQUIRES(mu_) {
    auto [it, fresh] = entries_.try_emplace(source.get());
    if (fresh) {
      recent_.push_front(source.get());
    } else {
      recent_.splice(recent_.begin(), recent_, it->second.recent);
    }
    it->second = Entry{source, std::move(value), recent_.begin()};
    while (entries_.size() > capacity_)
      erase(entries_.find(recent_.back()));
    if (entries_.size() >= sweep_at_) sweep();
  }

  using Entries = std::unordered_map<const void*, Entry>;
  typename Entries::iterator erase(typename Entries::iterator it) const REQUIRES(mu_) {
    recent_.erase(it->second.recent);
    return entries_.erase(it);
  }

  void sweep() const REQUIRES(mu_) {
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = it->second.source.expired() ? erase(it) : std::next(it);
    }
    sweep_at_ = std::max<std::size_t>(kMinSweep, 2 * entries_.size());
  }

  static constexpr std::size_t kMinSweep = 1024;
  Decoder decode_;
  const std::size_t capacity_;
  mutable Mutex mu_;
  mutable Entries entries_ GUARDED_BY(mu_);
  mutable Recent recent_ GUARDED_BY(mu_);
  mutable std::size_t sweep_at_ GUARDED_BY(mu_) = kMinSweep;
};

// The caches the reconcilers share (Context::decoded).
struct DecodedObjects {
  // Entries kept by default: see bench/README.md ("bounded decode cache")
  // for how these were chosen.
  static constexpr std::size_t kPoolEntries = 2048;
  static constexpr std::size_t kInstanceEntries = 4096;
  DecodedObjects(std::size_t pool_entries = kPoolEntries,
                 std::size_t instance_entries = kInstanceEntries);
  DecodeCache<api::GpuPool> pools;
  DecodeCache<api::GpuInstance> instances;
};

}  // namespace gpupool::controllers
