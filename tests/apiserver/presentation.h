#pragma once
// Private to tests/apiserver: what the server shows besides stored objects —
// version, discovery documents, the minimal OpenAPI v3, server-side Tables
// with a JSONPath subset, and kubectl's human durations.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "operator/clock/clock.h"
#include "operator/kube/memory/store.h"

namespace gpupool::apiserver {

using kube::Json;
using kube::TypeInfo;

Json version_info();
Json core_api_versions(const std::string& server_address);
Json api_group_list(const std::vector<TypeInfo>& types);
std::optional<Json> api_group(const std::vector<TypeInfo>& types, const std::string& group);
// group "" = core ("/api/v1").
std::optional<Json> api_resource_list(const std::vector<TypeInfo>& types, const std::string& group,
                                      const std::string& version);

Json openapi_index(const std::vector<TypeInfo>& types);
// `gv_path` is "api/v1" or "apis/<group>/<version>".
std::optional<Json> openapi_document(const std::vector<TypeInfo>& types,
                                     const std::string& gv_path);

enum class IncludeObject { None, Metadata, Object };

// A meta.k8s.io/v1 Table for `objects` using the type's printer columns.
Json to_table(const TypeInfo& type, const std::vector<Json>& objects, Time now,
              IncludeObject include, bool with_columns);

// JSONPath subset used by printer columns: .a.b, ['a'], [n], [*], [?(@.k=="v")]
// (also !=, and nested @.a.b). Returns every match in order; a bad
// expression yields no match.
std::vector<Json> jsonpath(const Json& obj, std::string_view path);

// kubectl's duration.HumanDuration ("5s", "3m20s", "2d").
std::string human_duration(Duration d);

}  // namespace gpupool::apiserver
