#pragma once
// MemoryStore: an in-memory Kubernetes API implementing KubeApi with the real
// API server's semantics (reference: /work/shared/reference/kubernetes-api.md
// §3, §4, §8). It powers unit tests, the simulator and, behind an HTTP front,
// the test API server (tests/apiserver).
//
// Semantics kept:
//  * one global, monotonically increasing resourceVersion (decimal string);
//    uid, creationTimestamp (from the injected Clock), generateName;
//  * metadata.generation for CRs and CRDs: 1 on create, +1 on changes outside
//    metadata (and status, when the status subresource is on), unchanged by
//    /status writes, +1 when deletionTimestamp is first set;
//  * a no-op write keeps the resourceVersion and emits no watch event;
//  * status subresource: /status writes change only .status, main writes
//    ignore .status; scale subresource (autoscaling/v1 Scale) through the
//    CRD's specReplicasPath/statusReplicasPath/labelSelectorPath;
//  * optimistic concurrency (Conflict on a stale resourceVersion; CRs, CRDs
//    and Leases require one on update); create-on-update for Events, Leases;
//  * finalizers: delete marks deletionTimestamp; a write leaving finalizers
//    empty removes the object; no new finalizers once deleting;
//  * garbage collection through ownerReferences (Background: dependents
//    deleted right after the owner; Foreground: owner waits, with the
//    foregroundDeletion finalizer, until its dependents are gone; Orphan:
//    dependents lose the ownerReference). GC runs synchronously inside the
//    delete, so the effects are visible when remove() returns. An object
//    created with ownerReferences only to owners already removed (a
//    controller acting on a stale cache) is created and at once deleted,
//    as the real collector does moments later;
//  * namespaced objects need an existing, non-terminating Namespace
//    ("default", "kube-system", "kube-public" and "kube-node-lease" exist
//    from the start); deleting a Namespace deletes its contents;
//  * label selectors, field selectors (metadata.name, metadata.namespace and
//    per-kind fields; CRDs' selectableFields), watch from a resourceVersion
//    with a bounded history window, bookmarks, and Gone/Expired for
//    compacted versions;
//  * pagination with limit/continue: every page of a list shows the objects
//    as they were at the first page's resourceVersion (the list's
//    metadata.resourceVersion on every page); an object created, changed or
//    deleted between pages does not appear, change or disappear. No copy is
//    kept per list: a page is the current objects with the changes made
//    since the snapshot undone from the watch history, so the memory bound
//    is the history's (MemoryStoreOptions::history_size changes, shared with
//    watches) and a page costs O(page + changes since the snapshot). A token
//    older than the history answers 410 Expired with the real message and a
//    token (Status metadata.continue) that resumes at the latest revision;
//    a token this server did not make answers 400;
//  * metadata.managedFields and server-side apply with field-manager
//    conflicts (409 unless force), as managed_fields.h describes; writes
//    that name no field manager (the operator in process) leave the entries
//    as they are;
//  * the pods/<name>/eviction subresource honouring policy/v1
//    PodDisruptionBudgets from their status (eviction.cpp says how);
//  * dry run; CRDs: creating a CustomResourceDefinition makes its resource
//    servable at every served version (no conversion: objects are stored once
//    and shown with the requested apiVersion), sets NamesAccepted and
//    Established, validates CRs through the schema hook, applies schema
//    defaults, and deleting it deletes its objects.
//  * core/v1 Events and events.k8s.io/v1 Events are kept as two separate
//    collections (the real server shares one; the operator uses one of them).
//
// Thread safety: every public method is thread-safe. Watch streams are fed
// from writers through a bounded per-watcher queue: a watcher whose queue is
// full is dropped (its stream ends), so writers never block on readers.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "operator/clock/clock.h"
#include "operator/kube/api/api.h"

namespace gpupool::kube {

// Result of checking a custom resource against its CRD version schema.
struct SchemaCheck {
  std::vector<StatusCause> causes;          // non-empty = 422 Invalid
  std::vector<std::string> unknown_fields;  // dotted paths ("spec.foo")
};
// Validates `object` (a full custom resource) against `schema` (the CRD
// version's openAPIV3Schema); `old_object` is the stored object on updates
// (for CEL transition rules), nullptr on create. Must remove the unknown
// fields it reports from `object` (pruning), may apply schema defaults, and
// must not throw. The default (when gpupool_schema is built) reports unknown
// fields, prunes, applies defaults, validates the OpenAPI keywords and runs
// the x-kubernetes-validations CEL rules; tests may replace it.
using SchemaValidator =
    std::function<SchemaCheck(const Json& schema, Json& object, const Json* old_object)>;

struct PrinterColumn {
  std::string name;
  std::string type;  // integer|number|string|boolean|date
  std::string format;
  std::string description;
  std::string json_path;
  int priority = 0;
};

struct ScaleSpec {
  std::string spec_replicas_path;    // ".spec.replicas"
  std::string status_replicas_path;  // ".status.replicas"
  std::string label_selector_path;   // ".status.selector" or ""
};

// What a served resource looks like at one version (for discovery, tables,
// OpenAPI and URL routing in the HTTP front).
struct TypeInfo {
  Resource resource;  // version = this served version
  std::string list_kind;
  std::string singular;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  bool custom = false;  // defined by a CRD
  bool status_subresource = false;
  bool eviction_subresource = false;  // pods: POST <name>/eviction
  std::optional<ScaleSpec> scale;
  std::vector<PrinterColumn> printer_columns;  // CRD additionalPrinterColumns
  bool strategic_merge = false;                // accepts strategic merge patch
  std::vector<std::string> field_selectors;    // supported field labels
  std::shared_ptr<const Json> schema;          // openAPIV3Schema (CRs), else null
};

// Next N requests matching (verb, resource) fail with `error`.
struct FaultRule {
  std::string verb;      // get|list|create|update|patch|delete|watch, "" = any
  std::string resource;  // plural, "" = any
  int count = 1;
  ApiError error;
};

struct MemoryStoreOptions {
  // Changes kept for resuming watches and paged lists (their snapshots):
  // a watch or continue token older than this many changes gets 410.
  size_t history_size = 1000;
  // Events buffered per watcher before it is dropped.
  size_t watcher_queue_limit = 10000;
  // Seed for uids and generated names (0 = random).
  uint64_t seed = 0;
  // Schema validation for custom resources; empty = built-in default.
  SchemaValidator schema_validator;
};

class MemoryStore final : public KubeApi {
 public:
  // `clock` must outlive the store.
  explicit MemoryStore(const Clock& clock, MemoryStoreOptions options = {});
  ~MemoryStore() override;

  // --- KubeApi ---
  ApiResult<Json> get(const Resource& r, const std::string& ns, const std::string& name,
                      const GetOptions& opts = {}) override;
  ApiResult<ObjectList> list(const Resource& r, const std::string& ns,
                             const ListOptions& opts = {}) override;
  ApiResult<Json> create(const Resource& r, const std::string& ns, const Json& obj,
                         const CreateOptions& opts = {}) override;
  ApiResult<Json> update(const Resource& r, const Json& obj,
                         const UpdateOptions& opts = {}) override;
  ApiResult<Json> patch(const Resource& r, const std::string& ns, const std::string& name,
                        PatchType type, const Json& patch, const PatchOptions& opts = {}) override;
  ApiResult<DeleteResult> remove(const Resource& r, const std::string& ns, const std::string& name,
                                 const DeleteOptions& opts = {}) override;
  ApiResult<std::unique_ptr<WatchStream>> watch(const Resource& r, const std::string& ns,
                                                const WatchOptions& opts = {}) override;

  // --- Type registry (for the HTTP front) ---
  // Every served (group, version, resource), built-ins first.
  std::vector<TypeInfo> served_types() const;
  std::optional<TypeInfo> find_type(const std::string& group, const std::string& version,
                                    const std::string& resource) const;
  // By apiVersion + kind (for loading manifests).
  std::optional<TypeInfo> find_type_by_kind(const std::string& api_version,
                                            const std::string& kind) const;
  // The current (latest) resourceVersion.
  int64_t resource_version() const;
  // Whether the object exists; not subject to fault injection or delay.
  bool exists(const Resource& r, const std::string& ns, const std::string& name) const;

  // --- Fault injection and test hooks ---
  // Ends every open watch stream (clients see a normal end of stream).
  void drop_watches();
  // Queues a fault rule; rules are consumed in order of addition.
  void inject_fault(FaultRule rule);
  void clear_faults();
  // Every request waits this long before being served (0 = none).
  void set_delay(std::chrono::milliseconds delay);
  // Forgets the watch history up to the current version: watches and continue
  // tokens from older versions get Gone (410 Expired).
  void compact();
  // Sends a BOOKMARK with the current resourceVersion to every watcher that
  // allowed bookmarks.
  void send_bookmarks();
  // Number of open watch streams (tests use it to wait for a watcher).
  size_t watcher_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpupool::kube
