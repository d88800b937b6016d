#pragma once
// The informer cache: objects of one resource keyed by "namespace/name"
// ("name" when cluster-scoped), handed out as immutable snapshots
// (std::shared_ptr<const Json>): a reader keeps the version it got even when
// the cache moves on.
//
// What is kept (StoreMode::Compact, the informers' stores): each stored
// version is held encoded, not as a JSON tree:
// its CBOR (a binary form of the same JSON value), raw-deflated against a
// dictionary, which is the CBOR of the first object the store kept. Objects
// of one resource share their field names and most values (apiVersion,
// kind, label keys, owners, offers, condition types and reasons), so an
// object usually deflates to a tenth of its CBOR or less; one that does not
// shrink is kept as plain CBOR. (A JSON tree costs about 6x the object's
// JSON text in heap.)
//
// A read (get, list, by_index, ...) hands out the tree of that version,
// decoded from the encoding unless a tree of it is still held by some
// reader, in which case that same tree is handed out again. So a tree lives
// only while a reader holds it; what costs memory per object is the
// encoding, the key and the indexes. Decoding is lossless for everything the
// API carries: objects, arrays, strings, booleans, null, numbers (a
// non-negative integer reads back as unsigned, as it does when parsed from
// the API's JSON text). Reading costs an inflate and a decode (tens of
// microseconds for a 1 KiB object: building the tree is most of it),
// writing an encode and a deflate. Typed forms that readers derive from an
// object should be kept per stored version (stored_version(),
// operator/controllers/decode_cache.h), not per tree.
//
// StoreMode::Trees (the default: tests, the simulator, whose few objects are
// written and read far more often than they cost memory) keeps the tree it
// was given and hands that same tree out on every read, decoding nothing.
//
// Indexes: by namespace always; more by name through add_index() (e.g. owner
// UID, a label value). An index function returns the index values of an
// object (zero or more).
//
// Thread-safety: all methods are safe from any thread. Writers are the
// informer; readers are controllers. Decoding happens outside the store's
// lock for reads.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "operator/base/thread_annotations.h"
#include "operator/kube/api/api.h"

namespace gpupool::kube {

using ObjectPtr = std::shared_ptr<const Json>;
using IndexFn = std::function<std::vector<std::string>(const Json&)>;

// One stored version of one object (opaque; defined in store.cpp). It lives
// as long as a Store holds that version or a tree read from it is held.
struct StoredObject;
using StoredVersion = std::shared_ptr<const StoredObject>;

// The stored version a tree was read from; null for a tree that no Store
// handed out (built locally, or an informer's event before it was stored).
// Two trees of the same stored version give the same pointer, and a new
// version (any change) a different one: a key for caches of derived forms.
StoredVersion stored_version(const ObjectPtr& obj);

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

// How a Store keeps its objects (see above).
enum class StoreMode { Trees, Compact };

class Store {
 public:
  explicit Store(StoreMode mode = StoreMode::Trees) : mode_(mode) {}

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
  // Whether add_index() registered `index`.
  bool has_index(const std::string& index) const;
  std::vector<std::string> keys() const;
  size_t size() const;

  // Inserts or replaces (`obj` is encoded; the store does not keep the
  // tree); returns the previous object (null when new).
  ObjectPtr upsert(const ObjectPtr& obj);
  // Removes; returns the removed object (null when absent).
  ObjectPtr remove(const std::string& key);
  // Makes the content exactly `objs` and returns the differences: Added for
  // new keys, Updated where the resourceVersion changed, Deleted for keys
  // that vanished. Unchanged objects produce nothing (and are not encoded
  // again).
  std::vector<StoreDelta> replace(std::vector<ObjectPtr> objs);

  // One object of a list made ready for replace_staged(), holding no tree:
  // a list of thousands of objects is staged page by page, so their trees
  // (~6x their JSON text) never all live at once.
  struct Staged {
    std::string key;
    StoredVersion version;
    // Each index's values for the object, in indexes_' order (unset when
    // the store already held `version`).
    std::optional<std::vector<std::vector<std::string>>> index_values;
  };
  // `obj` staged: encoded, unless the store holds the same non-empty
  // resourceVersion of it (then that version, not encoded again).
  Staged stage(const ObjectPtr& obj) EXCLUDES(mu_);
  // A difference replace_staged() made, its trees not read yet.
  struct VersionDelta {
    StoreDelta::Type type;
    StoredVersion old_version;  // Updated, Deleted
    StoredVersion new_version;  // Added, Updated
  };
  // replace() of staged objects: makes the content exactly `objs` and
  // returns the differences (the order and kinds of replace()), whose trees
  // read_delta() reads one delta at a time.
  std::vector<VersionDelta> replace_staged(std::vector<Staged> objs) EXCLUDES(mu_);
  static StoreDelta read_delta(const VersionDelta& d);

  // Bytes of the encoded objects held (not counting keys, indexes and the
  // dictionary); 0 in StoreMode::Trees.
  size_t encoded_bytes() const;

 private:
  // `key` is the key held by objects_ (the indexes view it).
  void index_locked(const std::string& key, const Json& obj, bool add) REQUIRES(mu_);
  // The same with each index's values already computed (index_values_locked).
  void index_locked(const std::string& key, const std::vector<std::vector<std::string>>& values,
                    bool add) REQUIRES(mu_);
  std::vector<std::vector<std::string>> index_values_locked(const Json& obj) const REQUIRES(mu_);
  // Inserts or replaces `key` with `version` (whose tree is `obj`); returns
  // the previous version's tree, null when new.
  ObjectPtr put_locked(const std::string& key, StoredVersion version, const Json& obj)
      REQUIRES(mu_);
  ObjectPtr erase_locked(const std::string& key) REQUIRES(mu_);
  std::vector<ObjectPtr> read_all(const std::vector<StoredVersion>& versions) const;
  // `obj` encoded (deflated against the dictionary, which the first object
  // encoded becomes). Takes mu_ briefly.
  StoredVersion encode_version(const ObjectPtr& obj) EXCLUDES(mu_);

  // Keys in the indexes are views of objects_' keys: an object is indexed
  // after it is put in objects_ and unindexed before it leaves.
  using Keys = std::set<std::string_view>;
  struct Index {
    IndexFn fn;
    std::unordered_map<std::string, Keys> values;  // value -> keys
  };

  const StoreMode mode_;
  mutable Mutex mu_;
  std::map<std::string, StoredVersion, std::less<>> objects_ GUARDED_BY(mu_);
  std::unordered_map<std::string, Keys> by_ns_ GUARDED_BY(mu_);
  std::map<std::string, Index> indexes_ GUARDED_BY(mu_);
  std::shared_ptr<const std::string> dictionary_ GUARDED_BY(mu_);
};

}  // namespace gpupool::kube
