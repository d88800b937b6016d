#pragma once
// Field ownership for MemoryStore: metadata.managedFields and server-side
// apply, as the real API server keeps them (apimachinery
// util/managedfields; reference/kubernetes-api.md §3.5).
//
// Every write that names a field manager records which fields it set:
//  * an Update (create, PUT, merge/JSON patch, /status and /scale writes)
//    takes ownership of the fields whose value it changed, in the entry
//    (manager, Update, apiVersion, subresource), and those fields leave every
//    other entry; an Update never conflicts;
//  * an Apply owns exactly the fields of its configuration, in the entry
//    (manager, Apply, subresource). Setting a field that another entry owns
//    to a different value is a conflict (409, one FieldManagerConflict cause
//    per field) unless forced, when the other entry loses the field. Fields
//    the applier owned before, left out of its configuration now and owned
//    by nobody else, are removed from the object. Two managers that set the
//    same value share the field.
// Entries whose field set becomes empty are dropped.
//
// Where this is simpler than the real server: lists are atomic (the whole
// list is one field, as for CRD lists without x-kubernetes-list-type, so
// the "k:"/"v:" keys of associative lists are never written); a FieldsV1
// set has no "." entries for maps; Update entries are not collapsed into
// "ancient-changes" past ten managers.
//
// Pure functions on JSON: no locking, no clock (the time comes in).

#include <set>
#include <string>
#include <vector>

#include "operator/kube/api/api.h"

namespace gpupool::kube::managed {

using Path = std::vector<std::string>;  // {"spec", "replicas"}
using FieldSet = std::set<Path>;

// ".spec.replicas", as the real server prints a field path.
std::string path_text(const Path& path);

// The fields `obj` sets, as leaf paths: scalars, lists and empty maps are
// leaves. Fields the server owns are left out: apiVersion, kind and
// metadata's name, namespace, uid, resourceVersion, generation,
// creationTimestamp, deletionTimestamp, deletionGracePeriodSeconds,
// selfLink and managedFields.
FieldSet fields_of(const Json& obj);
// The fields whose value differs between `before` and `after` (set, changed
// or removed).
FieldSet changed_fields(const Json& before, const Json& after);

// FieldsV1 ({"f:spec":{"f:replicas":{}}}) to and from a set. from_fields_v1
// skips keys it does not understand ("k:", "v:", ".").
Json to_fields_v1(const FieldSet& fields);
FieldSet from_fields_v1(const Json& fields_v1);

struct Entry {
  std::string manager;
  std::string operation;    // "Apply" | "Update"
  std::string api_version;  // of the request
  std::string time;         // RFC 3339
  std::string subresource;  // "" | "status" | "scale"
  FieldSet fields;
};

// metadata.managedFields of `obj` (entries that are not objects, or whose
// fieldsType is not FieldsV1, are skipped).
std::vector<Entry> entries_of(const Json& obj);
// The managedFields array for `entries`.
Json to_json(const std::vector<Entry>& entries);

// Who writes, and when.
struct Writer {
  std::string manager;
  std::string api_version;
  std::string subresource;
  std::string time;
};

// Records an Update by `w` that changed `changed` (changed_fields of the
// write) leading to `after`.
void record_update(std::vector<Entry>& entries, const Writer& w, const FieldSet& changed,
                   const Json& after);

struct Conflict {
  std::string manager;  // as printed: "\"kubectl\"" or "\"helm\" using v1"
  Path path;
};
struct ApplyOutcome {
  Json object;                      // the live object with the configuration applied
  std::vector<Entry> entries;       // its managedFields after the apply
  std::vector<Conflict> conflicts;  // non-empty: nothing was applied (not forced)
};
// Server-side apply of `config` by `w` to `live` (owned as `entries`).
// REQUIRES: live and config are JSON objects.
ApplyOutcome apply(const Json& live, std::vector<Entry> entries, const Json& config,
                   const Writer& w, bool force);

// The real server's 409 for `conflicts` (apimachinery
// util/managedfields/internal/conflict.go): reason Conflict, one cause of
// type FieldManagerConflict per field, message "Apply failed with 1
// conflict: conflict with \"a\": .spec.replicas".
ApiError conflict_error(const std::vector<Conflict>& conflicts);

}  // namespace gpupool::kube::managed
