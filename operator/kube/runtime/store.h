#pragma once
// The informer cache: objects of one resource keyed by "namespace/name"
// ("name" when cluster-scoped), handed out as immutable snapshots
// (std::shared_ptr<const Json>): a reader keeps the version it got even when
// the cache moves on, and nothing is copied on read.
//
// Indexes: by namespace always; more by name through add_index() (e.g. owner
// UID, a label value). An index function returns the index values of an
// object (zero or more).
//
// Thread-safety: all methods are safe from any thread. Writers are the
// informer; readers are controllers.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "operator/base/thread_annotations.h"
#include "operator/kube/api/api.h"

namespace gpupool::kube {

using ObjectPtr = std::shared_ptr<const Json>;
using IndexFn = std::function<std::vector<std::string>(const Json&)>;

// "namespace/name" or "name" from an object's metadata.
std::string object_key(const Json& obj);
// metadata.resourceVersion or "".
std::string resource_version_of(const Json& obj);

// Index functions for add_index().
IndexFn index_by_owner_uid();                      // every metadata.ownerReferences[].uid
IndexFn index_by_label(const std::string& label);  // metadata.labels[label], if set

// What a replace() changed, in the order handlers should see it.
struct StoreDelta {
  enum class Type { Added, Updated, Deleted };
  Type type;
  ObjectPtr old_obj;  // Updated, Deleted
  ObjectPtr new_obj;  // Added, Updated
};

class Store {
 public:
  // REQUIRES: called before objects are added (not thread-safe with writes).
  void add_index(const std::string& name, IndexFn fn);

  ObjectPtr get(const std::string& key) const;
  ObjectPtr get(const std::string& namespace_, const std::string& name) const;
  std::vector<ObjectPtr> list() const;
  std::vector<ObjectPtr> list_namespace(const std::string& namespace_) const;
  // Objects whose index `index` produced `value`; empty for an unknown index.
  std::vector<ObjectPtr> by_index(const std::string& index, const std::string& value) const;
  // How many objects each value of `index` has (values with none are
  // absent); empty when there is no such index. O(values), no object is
  // read: for counts the callers would otherwise get by walking every object.
  std::map<std::string, size_t> index_counts(const std::string& index) const;
  std::vector<std::string> keys() const;
  size_t size() const;

  // Inserts or replaces; returns the previous object (null when new).
  ObjectPtr upsert(ObjectPtr obj);
  // Removes; returns the removed object (null when absent).
  ObjectPtr remove(const std::string& key);
  // Makes the content exactly `objs` and returns the differences: Added for
  // new keys, Updated where the resourceVersion changed, Deleted for keys
  // that vanished. Unchanged objects produce nothing.
  std::vector<StoreDelta> replace(std::vector<ObjectPtr> objs);

 private:
  void index_locked(const std::string& key, const Json& obj, bool add) REQUIRES(mu_);

  struct Index {
    IndexFn fn;
    std::unordered_map<std::string, std::set<std::string>> values;  // value -> keys
  };

  mutable Mutex mu_;
  std::map<std::string, ObjectPtr> objects_ GUARDED_BY(mu_);
  std::unordered_map<std::string, std::set<std::string>> by_ns_ GUARDED_BY(mu_);
  std::map<std::string, Index> indexes_ GUARDED_BY(mu_);
};

}  // namespace gpupool::kube
