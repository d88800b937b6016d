#pragma once
// Private to operator/kube/memory: MemoryStore's state, shared by store.cpp
// (verbs, watch) and types.cpp (built-in types, CRDs, schema, scale).

#include <deque>
#include <map>
#include <set>

#include "operator/base/thread_annotations.h"
#include "operator/kube/memory/managed_fields.h"
#include "operator/kube/memory/selectors.h"
#include "operator/kube/memory/store.h"

namespace gpupool::kube {

struct VersionDef {
  std::string name;
  bool served = true;
  bool storage = true;
  std::shared_ptr<const Json> schema;  // openAPIV3Schema, or null
  std::vector<PrinterColumn> columns;
  bool status = false;
  std::optional<ScaleSpec> scale;
  std::vector<std::string> selectable_fields;  // "spec.model"
};

struct TypeDef {
  std::string group;
  std::string resource;
  std::string kind;
  std::string list_kind;
  std::string singular;
  bool namespaced = true;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  bool custom = false;
  bool generation = false;                // maintains metadata.generation
  bool strategic_merge = false;           // accepts strategic merge patch
  bool create_on_update = false;          // PUT on a missing name creates it
  bool unconditional_update = false;      // PUT without resourceVersion allowed
  bool status_subresource = false;        // built-ins with a /status endpoint
  bool eviction_subresource = false;      // pods: /eviction (policy/v1 Eviction)
  std::vector<std::string> extra_fields;  // field selector labels beyond metadata.*
  std::vector<VersionDef> versions;
  std::map<std::string, Json> objects;  // key: "ns/name" or "name"

  std::string key() const { return group + "/" + resource; }
  const VersionDef* version(const std::string& v) const {
    for (const auto& d : versions) {
      if (d.name == v && d.served) return &d;
    }
    return nullptr;
  }
  bool has_status(const VersionDef& v) const { return custom ? v.status : status_subresource; }
  std::string api_version(const std::string& v) const {
    return group.empty() ? v : group + "/" + v;
  }
  Resource as_resource(const std::string& v) const {
    return Resource{group, v, resource, kind, namespaced};
  }
  std::string qualified_kind() const { return group.empty() ? kind : kind + "." + group; }
  std::string group_resource() const { return group.empty() ? resource : resource + "." + group; }
};

struct HistoryEntry {
  int64_t rv;
  std::string type_key;
  WatchEventType type;
  Json object;  // state after the change (DELETED: last state, new rv)
  Json prev;    // state before (null for ADDED)
};

// Where a list (page) starts: the revision it shows and the key after which
// it resumes ("" = from the first object).
struct ListStart {
  int64_t rv = 0;
  std::string after;
};

// Who writes, for metadata.managedFields (managed_fields.h).
struct WriteBy {
  std::string manager;      // field manager; "" records nothing
  std::string subresource;  // "", "status", "scale"
  bool applied = false;     // managedFields already set by server-side apply
};

struct Watcher {
  std::string type_key;
  std::string api_version;
  std::string kind;
  std::string ns;
  LabelSelector labels;
  FieldSelector fields;
  bool bookmarks = false;
  size_t limit = 0;

  Mutex mu;
  std::condition_variable cv;
  std::deque<WatchEvent> queue GUARDED_BY(mu);
  bool ended GUARDED_BY(mu) = false;      // server ended: drain, then Closed
  bool cancelled GUARDED_BY(mu) = false;  // consumer cancelled: Closed at once
};

struct MemoryStore::Impl {
  Impl(const Clock& c, MemoryStoreOptions o);

  const Clock& clock;
  MemoryStoreOptions opts;

  mutable Mutex mu;
  int64_t rv GUARDED_BY(mu) = 0;
  int64_t compacted_rv GUARDED_BY(mu) = 0;  // history holds every change with rv > compacted_rv
  std::map<std::string, TypeDef> types GUARDED_BY(mu);  // by TypeDef::key()
  std::deque<HistoryEntry> history GUARDED_BY(mu);
  std::vector<std::shared_ptr<Watcher>> watchers GUARDED_BY(mu);
  std::mt19937_64 rng GUARDED_BY(mu);
  // UIDs of the most recently removed objects (at most kRemovedUidsKept),
  // oldest first in removed_order: the garbage collector's view of owners
  // that are gone.
  static constexpr size_t kRemovedUidsKept = 100'000;
  std::set<std::string> removed_uids GUARDED_BY(mu);
  std::deque<std::string> removed_order GUARDED_BY(mu);

  Mutex fault_mu;
  std::deque<FaultRule> faults GUARDED_BY(fault_mu);
  std::chrono::milliseconds delay GUARDED_BY(fault_mu){0};

  // --- helpers (REQUIRES(mu) unless noted) ---
  ApiStatus before_request(const std::string& verb, const std::string& resource)
      EXCLUDES(fault_mu);  // takes fault_mu, not mu
  ApiResult<TypeDef*> resolve(const Resource& r, const VersionDef** version) REQUIRES(mu);
  std::string now_text() const REQUIRES(mu);
  std::string new_uid() REQUIRES(mu);
  std::string random_suffix() REQUIRES(mu);
  Json present(const TypeDef& t, const std::string& version, Json obj) const REQUIRES(mu);
  void record(TypeDef& t, WatchEventType type, Json obj, Json prev) REQUIRES(mu);
  void notify(const HistoryEntry& e) REQUIRES(mu);
  std::optional<WatchEvent> event_for(const Watcher& w, const HistoryEntry& e) const REQUIRES(mu);
  bool watcher_matches(const Watcher& w, const Json& obj) const REQUIRES(mu);
  std::vector<std::string> field_labels(const TypeDef& t, const VersionDef& v) const REQUIRES(mu);
  // The snapshot a list shows: the current revision, or the one its continue
  // token names. Errors: 400 for a token this server did not make; 410
  // Expired (with a token that continues at the latest revision) when the
  // history no longer reaches back to the token's revision.
  ApiResult<ListStart> list_start(const ListOptions& list) const REQUIRES(mu);
  // The objects of `t` with keys after `after` that changed since revision
  // `at` (REQUIRES: at >= compacted_rv), as they were at `at` (null for one
  // created since), pointing into the history (valid while mu is held and
  // nothing is written). Reads only the history after `at`.
  std::map<std::string, const Json*> snapshot_changes(const TypeDef& t, int64_t at,
                                                      const std::string& after) const REQUIRES(mu);
  // One page of `t` from `start`: at most `limit` (0 = all) matching
  // objects, with a continue token when more remain.
  ObjectList list_page(const TypeDef& t, const VersionDef& v, const std::string& ns,
                       const LabelSelector& labels, const FieldSelector& fields,
                       const ListStart& start, int64_t limit) const REQUIRES(mu);

  ApiResult<Json> create_locked(TypeDef& t, const VersionDef& v, const std::string& ns,
                                const Json& obj, bool dry_run, FieldValidation fv,
                                const WarningHandler& warn, const WriteBy& by = {}) REQUIRES(mu);
  // `old` is the stored version (possibly the stored object itself, which
  // this replaces).
  ApiResult<Json> finish_update(TypeDef& t, const VersionDef& v, const std::string& key,
                                const Json& old, Json desired, bool dry_run, FieldValidation fv,
                                const WarningHandler& warn, const WriteBy& by = {}) REQUIRES(mu);
  // Server-side apply of `config` to the stored `old` (at `key`) by
  // req.field_manager: ownership and conflicts as managed_fields.h says.
  ApiResult<Json> apply_locked(TypeDef& t, const VersionDef& v, const std::string& key,
                               const Json& old, const Json& config, const PatchOptions& req)
      REQUIRES(mu);
  // Server-side apply that creates `name` (in `ns`) from `config`.
  ApiResult<Json> apply_create_locked(TypeDef& t, const VersionDef& v, const std::string& ns,
                                      const std::string& name, const Json& config,
                                      const PatchOptions& req) REQUIRES(mu);
  managed::Writer writer(const TypeDef& t, const VersionDef& v, const WriteBy& by) const
      REQUIRES(mu);
  ApiResult<DeleteResult> delete_locked(TypeDef& t, const std::string& key, const DeleteOptions& o)
      REQUIRES(mu);
  // Removes the object at `key` with a DELETED change whose previous state
  // is `stored` (the last stored version, when the slot already holds the
  // final one) or the slot's object.
  Json remove_locked(TypeDef& t, const std::string& key, std::optional<Json> stored = {})
      REQUIRES(mu);
  // eviction.cpp: POST pods/<eviction.metadata.name>/eviction in `ns`.
  ApiResult<Json> evict_locked(TypeDef& pods, const std::string& ns, const Json& eviction,
                               bool dry_run) REQUIRES(mu);
  void after_removal(const Json& removed) REQUIRES(mu);
  // The garbage collector's answer to an object written with ownerReferences
  // whose owners are all gone: it is deleted (background), as the real
  // collector does moments after such a write. Only owners this store has
  // removed count as gone, so fixtures that name owners never stored keep
  // their objects.
  void collect_if_orphaned(TypeDef& t, const std::string& key) REQUIRES(mu);
  bool has_dependents(const std::string& owner_uid) const REQUIRES(mu);
  void release_foreground_owner(const std::string& owner_uid) REQUIRES(mu);
  ApiStatus check_namespace(const TypeDef& t, const std::string& ns, const std::string& name)
      REQUIRES(mu);

  // types.cpp
  void add_builtin_types() REQUIRES(mu);
  ApiStatus validate_object(const TypeDef& t, const VersionDef& v, Json& obj, const Json* old,
                            FieldValidation fv, const WarningHandler& warn) const REQUIRES(mu);
  std::vector<StatusCause> validate_crd(const Json& crd) const REQUIRES(mu);
  void set_crd_status(Json& crd) const REQUIRES(mu);
  void register_crd(const Json& crd) REQUIRES(mu);
  void unregister_crd(const Json& crd) REQUIRES(mu);
  ApiResult<Json> scale_of(const TypeDef& t, const VersionDef& v, const Json& obj) const
      REQUIRES(mu);
  ApiResult<Json> apply_scale(const TypeDef& t, const VersionDef& v, const Json& old,
                              const Json& scale) const REQUIRES(mu);
};

// Applies schema `default`s to absent fields (recursively), in place.
void apply_schema_defaults(const Json& schema, Json& value);

inline std::string object_key(const TypeDef& t, const std::string& ns, const std::string& name) {
  return t.namespaced ? ns + "/" + name : name;
}

inline std::string meta_string(const Json& obj, const char* field) {
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return "";
  auto it = m->find(field);
  return (it != m->end() && it->is_string()) ? it->get<std::string>() : "";
}

}  // namespace gpupool::kube
