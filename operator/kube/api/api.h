#pragma once
// KubeApi: the Kubernetes verbs the controllers use, on generic objects
// (nlohmann::json). Kubernetes code knows nothing about GPUs: typed mapping
// lives in operator/core.
//
// Two implementations share this contract:
//   * the HTTP client (operator/kube/client) talking to a real API server or
//     to the test API server (tests/apiserver), and
//   * the in-memory store (operator/kube/memory) used by unit tests, the
//     simulator and, behind an HTTP front, by the test API server.
// Both follow the real API server's semantics described in
// /work/shared/reference/kubernetes-api.md (resourceVersion, generation,
// status subresource, finalizers, watch with bookmarks and 410 Expired).
//
// Objects: every object passed in or returned is a complete JSON object with
// apiVersion, kind and metadata. Ownership: arguments are read, never kept;
// results are owned by the caller.
//
// Errors: every verb returns ApiResult<T>. Callers branch on ApiError::kind
// (never on the message). Every non-2xx answer of a real server maps to an
// ApiError (see from_status_json); implementations never throw.
//
// Thread safety: implementations are safe to call from many threads at once.
// A WatchStream is used by one consumer thread at a time; cancel() may be
// called from any thread.
//
// Watch: pull style. watch() returns a WatchStream; the consumer calls next()
// on its own thread, so events are delivered on the consumer's thread and
// nothing of the implementation runs inside user code. Errors detected before
// the stream starts (unknown resource, bad selector) are returned by watch()
// itself. A too-old resourceVersion is NOT an error of watch(): like the real
// server, the stream yields one Error event (kind Gone, reason "Expired",
// code 410) and then ends. The stream also ends when the server closes it
// (timeout, fault injection, a slow consumer being dropped); the consumer
// then re-watches from the last resourceVersion it saw (bookmarks included)
// and relists after Gone. Destroying the stream cancels it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "operator/base/result.h"

namespace gpupool::kube {

using Json = nlohmann::json;

// One API resource (a collection endpoint).
struct Resource {
  std::string group;     // "" for the core group
  std::string version;   // "v1", "v1alpha1"
  std::string resource;  // lower-case plural: "pods", "gpupools"
  std::string kind;      // "Pod", "GpuPool"
  bool namespaced = true;

  // "v1" for core, "<group>/<version>" otherwise.
  std::string api_version() const;
  // "pods" for core, "gpupools.gpupool.io" otherwise (as in NotFound texts).
  std::string group_resource() const;
  bool operator==(const Resource&) const = default;
};

// Built-in resources the operator and the test API server use. Inline
// variables, so other translation units' static initializers may use them.
namespace resources {
inline const Resource kNamespaces{"", "v1", "namespaces", "Namespace", false};
inline const Resource kNodes{"", "v1", "nodes", "Node", false};
inline const Resource kPods{"", "v1", "pods", "Pod", true};
inline const Resource kServices{"", "v1", "services", "Service", true};
inline const Resource kSecrets{"", "v1", "secrets", "Secret", true};
inline const Resource kConfigMaps{"", "v1", "configmaps", "ConfigMap", true};
inline const Resource kEvents{"", "v1", "events", "Event", true};  // core/v1 Event
inline const Resource kEventsV1{"events.k8s.io", "v1", "events", "Event", true};
inline const Resource kEndpointSlices{"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice",
                                      true};
inline const Resource kLeases{"coordination.k8s.io", "v1", "leases", "Lease", true};
inline const Resource kPodDisruptionBudgets{"policy", "v1", "poddisruptionbudgets",
                                            "PodDisruptionBudget", true};
inline const Resource kCustomResourceDefinitions{
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false};
}  // namespace resources

enum class ErrorKind {
  NotFound,              // 404
  Conflict,              // 409 reason Conflict (stale resourceVersion, preconditions)
  AlreadyExists,         // 409 reason AlreadyExists
  Invalid,               // 422
  Unauthorized,          // 401
  Forbidden,             // 403
  Unavailable,           // 503, connection failures
  Timeout,               // 504 / 408 / client-side deadline
  Gone,                  // 410 (reason Expired): resourceVersion or continue too old
  BadRequest,            // 400
  MethodNotAllowed,      // 405
  UnsupportedMediaType,  // 415
  TooManyRequests,       // 429
  Internal,              // 500 and anything unrecognised
};
std::string_view to_string(ErrorKind kind);

// One entry of Status.details.causes.
struct StatusCause {
  std::string reason;  // "FieldValueInvalid", "FieldValueRequired", ...
  std::string message;
  std::string field;  // "spec.size"
  bool operator==(const StatusCause&) const = default;
};

struct ApiError {
  ErrorKind kind = ErrorKind::Internal;
  int code = 500;      // HTTP status code
  std::string reason;  // Status.reason: "NotFound", "Expired", "Invalid", ...
  std::string message;
  // Status.details
  std::string name;
  std::string group;
  std::string details_kind;  // resource plural or kind, as the server puts it
  std::string uid;
  std::vector<StatusCause> causes;
  std::optional<int64_t> retry_after_seconds;
  // Status.metadata.continue: on a 410 for an expired continue token, a
  // token that resumes the list at the latest revision (inconsistently).
  std::string continue_token;
};

template <typename T>
using ApiResult = Result<T, ApiError>;
using ApiStatus = Status<ApiError>;

// The error kind for an HTTP code and Status.reason (reason wins when known).
ErrorKind error_kind_for(int code, std::string_view reason);
// The Status JSON object the real server would send for this error.
Json to_status_json(const ApiError& error);
// Parses a Status object from a non-2xx answer. When `body` is not a Status
// (e.g. a proxy's HTML), kind and reason come from `http_code` and the
// message says what was received.
ApiError from_status_json(const Json& body, int http_code);

// Constructors producing the real server's texts (reference §3.9).
ApiError make_not_found(const Resource& r, std::string_view name);
ApiError make_already_exists(const Resource& r, std::string_view name);
// "Operation cannot be fulfilled on <res>.<group> "<name>": <why>"
ApiError make_conflict(const Resource& r, std::string_view name, std::string_view why);
// "<Kind>.<group> "<name>" is invalid: ..." with one cause per field error.
// `qualified_kind` is e.g. "GpuPool.gpupool.io".
ApiError make_invalid(std::string_view qualified_kind, std::string_view name,
                      std::vector<StatusCause> causes);
ApiError make_error(ErrorKind kind, std::string message);  // code/reason from kind

enum class FieldValidation {
  Strict,  // unknown fields are a BadRequest
  Warn,    // unknown fields are pruned and reported through the warning handler
  Ignore,  // unknown fields are pruned silently
};
std::string_view to_string(FieldValidation v);

// Receives "Warning" texts the server attached to a successful write.
using WarningHandler = std::function<void(const std::string&)>;

struct GetOptions {
  std::string subresource;  // "", "status" or "scale"
};

struct ListOptions {
  std::string label_selector;  // "a=b,c in (d,e),!f"
  std::string field_selector;  // "metadata.name=x"
  int64_t limit = 0;           // 0 = no paging
  std::string continue_token;  // from ObjectList::continue_token
  // "" = most recent; "0" = any; otherwise not older than this version.
  std::string resource_version;
};

struct ObjectList {
  std::vector<Json> items;       // complete objects (apiVersion/kind filled)
  std::string resource_version;  // store version of the list snapshot
  std::string continue_token;    // non-empty when more pages remain
  std::optional<int64_t> remaining_item_count;
};

struct CreateOptions {
  bool dry_run = false;
  FieldValidation field_validation = FieldValidation::Strict;
  std::string field_manager;
  WarningHandler on_warning;
  // "" or "eviction": POST .../pods/<obj.metadata.name>/eviction with a
  // policy/v1 Eviction as `obj` (see eviction.h for the typed call).
  std::string subresource;
};

struct UpdateOptions {
  std::string subresource;  // "", "status" or "scale"
  bool dry_run = false;
  FieldValidation field_validation = FieldValidation::Strict;
  std::string field_manager;
  WarningHandler on_warning;
};

enum class PatchType {
  Merge,           // application/merge-patch+json (RFC 7386)
  JsonPatch,       // application/json-patch+json (RFC 6902)
  StrategicMerge,  // application/strategic-merge-patch+json (built-in kinds only)
  Apply,           // application/apply-patch+yaml (server-side apply)
};
std::string_view content_type(PatchType t);

struct PatchOptions {
  std::string subresource;  // "", "status" or "scale"
  bool dry_run = false;
  FieldValidation field_validation = FieldValidation::Strict;
  std::string field_manager;  // required for Apply
  bool force = false;         // Apply only
  WarningHandler on_warning;
};

enum class PropagationPolicy { Default, Background, Foreground, Orphan };

struct DeleteOptions {
  std::optional<std::string> precondition_uid;
  std::optional<std::string> precondition_resource_version;
  PropagationPolicy propagation_policy = PropagationPolicy::Default;
  bool dry_run = false;
  std::optional<int64_t> grace_period_seconds;
};

struct DeleteResult {
  // True when the object is gone; false when finalizers keep it (it now has
  // metadata.deletionTimestamp).
  bool deleted = false;
  // The object as it now is (deleted == false) or as it was when removed;
  // may be a Status object when the server answered with one.
  Json object;
};

struct WatchOptions {
  // "" or "0": synthetic ADDED for every matching object, then changes.
  // Otherwise every change after this version (exclusive).
  std::string resource_version;
  std::string label_selector;
  std::string field_selector;
  bool allow_bookmarks = true;
  // Server ends the stream after this long; nullopt = implementation default.
  std::optional<std::chrono::seconds> timeout;
};

enum class WatchEventType { Added, Modified, Deleted, Bookmark, Error };
std::string_view to_string(WatchEventType t);  // "ADDED", ...
std::optional<WatchEventType> parse_watch_event_type(std::string_view s);

struct WatchEvent {
  WatchEventType type = WatchEventType::Added;
  // The object; for Bookmark only apiVersion/kind/metadata.resourceVersion;
  // for Error the Status object.
  Json object;
  // Set for Error events (parsed from `object`).
  std::optional<ApiError> error;
};

// A live watch. Not copyable; destroying it cancels it.
class WatchStream {
 public:
  virtual ~WatchStream() = default;

  enum class State {
    Event,    // `event` holds the next event
    Timeout,  // nothing arrived within the timeout; call again
    Closed,   // the stream ended (server close, error event delivered, cancel)
  };
  struct Next {
    State state = State::Closed;
    WatchEvent event;
  };
  // Waits up to `timeout` for the next event. After Closed, always Closed.
  virtual Next next(std::chrono::milliseconds timeout) = 0;
  // Ends the stream and wakes a blocked next(). Thread-safe, idempotent.
  virtual void cancel() = 0;
};

class KubeApi {
 public:
  virtual ~KubeApi() = default;

  // `ns` is ignored for cluster-scoped resources and required (non-empty)
  // for namespaced ones, except in list/watch where "" means all namespaces.

  virtual ApiResult<Json> get(const Resource& r, const std::string& ns, const std::string& name,
                              const GetOptions& opts = {}) = 0;

  virtual ApiResult<ObjectList> list(const Resource& r, const std::string& ns,
                                     const ListOptions& opts = {}) = 0;

  // Name from metadata.name or metadata.generateName. Returns the stored
  // object (uid, resourceVersion, creationTimestamp, generation filled).
  virtual ApiResult<Json> create(const Resource& r, const std::string& ns, const Json& obj,
                                 const CreateOptions& opts = {}) = 0;

  // PUT. Namespace and name come from obj.metadata. obj.metadata
  // .resourceVersion is the optimistic-concurrency precondition (Conflict
  // when stale); CRs require it (Invalid when missing).
  virtual ApiResult<Json> update(const Resource& r, const Json& obj,
                                 const UpdateOptions& opts = {}) = 0;

  virtual ApiResult<Json> patch(const Resource& r, const std::string& ns, const std::string& name,
                                PatchType type, const Json& patch,
                                const PatchOptions& opts = {}) = 0;

  virtual ApiResult<DeleteResult> remove(const Resource& r, const std::string& ns,
                                         const std::string& name,
                                         const DeleteOptions& opts = {}) = 0;

  virtual ApiResult<std::unique_ptr<WatchStream>> watch(const Resource& r, const std::string& ns,
                                                        const WatchOptions& opts = {}) = 0;
};

}  // namespace gpupool::kube
