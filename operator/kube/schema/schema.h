#pragma once
// Validation, unknown-field detection and pruning of JSON values against an
// apiextensions.k8s.io/v1 structural OpenAPI v3 schema (the
// `openAPIV3Schema` of a CustomResourceDefinition version). Generic: knows
// nothing about any particular resource.
//
// Supported keywords: type (object, array, string, integer, number,
// boolean), properties, required, items, enum, minimum / maximum (+
// exclusiveMinimum / exclusiveMaximum as booleans), minLength / maxLength,
// pattern (std::regex ECMAScript), minItems / maxItems, additionalProperties
// (schema form; `false` forbids extra keys, `true` allows any), nullable,
// x-kubernetes-int-or-string, x-kubernetes-preserve-unknown-fields, format
// (date-time, date, int32, int64; other formats are accepted unchecked).
// x-kubernetes-validations (CEL) rules are NOT evaluated; callers that need
// them plug in their own checks.
//
// Error vocabulary follows the real API server (apimachinery field errors +
// kube-openapi messages), so a server built on this library answers like
// Kubernetes:
//   spec.size: Invalid value: "string": spec.size in body must be of type integer: "string"
//   spec.size: Required value
//   spec.model: Unsupported value: "v100": supported values: "h100", "a100"
//   spec.size: Invalid value: 65: spec.size in body should be less than or equal to 64
//   spec.name: Too long: may not be more than 8 bytes
//   spec.list: Too many: 5: must have at most 3 items
//
// Custom-resource root: when `custom_resource_root` is set (the default),
// `apiVersion`, `kind` and `metadata` at the root are always known fields,
// as the API server treats them for custom resources; `metadata` is neither
// validated nor pruned here (object metadata has its own rules).
//
// Thread-safety: pure functions; call concurrently at will. Malformed
// schemas never crash: unknown keywords are ignored and keywords of the
// wrong JSON type are skipped. Bad regular expressions are reported as a
// FieldValueInvalid cause on the value's path, and so are strings longer than
// 4096 bytes under a `pattern` (std::regex would recurse too deep on them).
// Compiled patterns are cached process-wide (bounded, mutex-guarded).

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace gpupool::kube::schema {

// The apimachinery field.ErrorType values that schema validation produces.
enum class CauseType {
  FieldValueRequired,      // "Required value"
  FieldValueInvalid,       // "Invalid value: <v>: <detail>"
  FieldValueNotSupported,  // "Unsupported value: <v>: supported values: ..."
  FieldValueTypeInvalid,   // "Invalid value: <type>: <path> in body must be of type ..."
  FieldValueTooLong,       // "Too long: may not be more than N bytes"
  FieldValueTooMany,       // "Too many: N: must have at most M items"
  FieldValueForbidden,     // "Forbidden: <detail>" (CEL rules with reason)
  FieldValueDuplicate,     // "Duplicate value: <v>" (CEL rules with reason)
};

// The cause's reason string, e.g. "FieldValueRequired".
std::string_view reason_of(CauseType type);

// One violation: the `causes[]` entry of a 422 Status.
struct SchemaCause {
  CauseType type = CauseType::FieldValueInvalid;
  std::string field;    // "spec.replicas.min", "spec.providers[0].name"; "" is the root
  std::string message;  // e.g. "Required value", without the field

  std::string_view reason() const { return reason_of(type); }
  // "<field>: <message>" (just the message for the root), as in the
  // aggregated 422 message.
  std::string to_string() const;
  bool operator==(const SchemaCause&) const = default;
};

struct Options {
  bool custom_resource_root = true;
};

// Every violation of `schema` by `value`, in document order. Empty: valid.
std::vector<SchemaCause> validate(const nlohmann::json& schema, const nlohmann::json& value,
                                  const Options& options = {});

// Paths of fields present in `value` that the schema does not know (not in
// `properties`, no `additionalProperties`, and no
// x-kubernetes-preserve-unknown-fields on the enclosing object), in document
// order. The strings are what the server puts in `unknown field "<path>"`.
std::vector<std::string> unknown_fields(const nlohmann::json& schema, const nlohmann::json& value,
                                        const Options& options = {});

// Removes every unknown field (see unknown_fields) and every null whose
// schema is not nullable, in place, as structural pruning does.
void prune(const nlohmann::json& schema, nlohmann::json& value, const Options& options = {});

}  // namespace gpupool::kube::schema
