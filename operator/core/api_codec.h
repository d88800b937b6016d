#pragma once
// Wire mapping of the gpupool.io/v1alpha1 types (api_types.h) to and from
// JSON (nlohmann) and YAML (yaml-cpp, converted to the same JSON first, so
// there is exactly one decoder).
//
// Wire format: camelCase field names (spec.replicas.min,
// spec.budget.maxUsdPerHour, ...); Money as a decimal string ("1.27"); Time
// as RFC 3339 UTC ("2026-11-22T02:10:42Z"); enums as their CamelCase names.
// A JSON null is treated like an absent field.
//
// Decoding never throws and never stops at the first problem: it returns
// every problem with its field path ("spec.gpu.count: must be an integer").
// A field of the wrong type is reported and left at its default.
//   Strict  (user files): unknown fields are errors ("spec.foo: unknown field");
//           apiVersion and kind are required.
//   Lenient (objects from the API server): unknown fields are ignored;
//           apiVersion and kind may be absent but must match if present.
// Decoding does not apply defaults or validate values beyond their type; see
// api_validation.h.
//
// Encoding is total and deterministic. Unset optionals, empty strings, empty
// lists, empty maps and objects left empty by those rules are omitted;
// numbers and booleans of spec and status are always written (metadata's
// generation is omitted when 0). decode(encode(x)) == x for every x.
//
// Thread-safety: all functions are pure and may be called concurrently.

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "operator/base/result.h"
#include "operator/core/api_types.h"

namespace gpupool::api {

// One problem with one field. `path` uses Kubernetes field-path syntax:
// "spec.providers[0].name", "metadata.labels[app]"; empty for the whole
// document. `document` is the 0-based index in a multi-document YAML stream,
// or -1 when there is only one document.
struct FieldError {
  std::string path;
  std::string message;
  int document = -1;

  // "spec.replicas.max: must be >= spec.replicas.min", prefixed with
  // "document 2: " when document >= 0.
  std::string to_string() const;
  bool operator==(const FieldError&) const = default;
};

struct DecodeError {
  enum class Kind {
    Syntax,       // the text is not valid JSON / YAML (fields has one entry with line info)
    Invalid,      // well-formed, but fields have the wrong type, are unknown, ...
    UnknownKind,  // apiVersion/kind is not one of the three kinds
  };
  Kind kind = Kind::Invalid;
  std::string message;  // one line summary
  std::vector<FieldError> fields;
};

enum class DecodeMode { Strict, Lenient };

// ---- Enum string forms -----------------------------------------------------
// to_string gives the wire form; parse_* returns nullopt for anything else
// (exact, case-sensitive match).
std::string_view to_string(ConditionStatus v);
std::string_view to_string(ReliabilityRequirement v);
std::string_view to_string(MetricType v);
std::string_view to_string(UsageMode v);
std::string_view to_string(InstancePhase v);
std::string_view to_string(ReliabilityTier v);
std::string_view to_string(BillingAlignment v);
std::string_view to_string(MinimumKind v);
std::optional<ConditionStatus> parse_condition_status(std::string_view s);
std::optional<ReliabilityRequirement> parse_reliability_requirement(std::string_view s);
std::optional<MetricType> parse_metric_type(std::string_view s);
std::optional<UsageMode> parse_usage_mode(std::string_view s);
std::optional<InstancePhase> parse_instance_phase(std::string_view s);
std::optional<ReliabilityTier> parse_reliability_tier(std::string_view s);
std::optional<BillingAlignment> parse_billing_alignment(std::string_view s);
std::optional<MinimumKind> parse_minimum_kind(std::string_view s);

// ---- Offer <-> OfferSpec ---------------------------------------------------
OfferSpec offer_spec_from(const Offer& offer);
// capacity_hint, source and as_of are left at their defaults.
Offer offer_from(const OfferSpec& spec);

// ---- JSON ------------------------------------------------------------------
nlohmann::json encode(const GpuPool& pool);
nlohmann::json encode(const GpuInstance& instance);
// The `status` member alone, as encode(object)["status"] has it (a status
// write need not encode, nor copy, the whole object).
nlohmann::json encode(const GpuPoolStatus& status);
nlohmann::json encode(const GpuInstanceStatus& status);
nlohmann::json encode(const GpuProvider& provider);
nlohmann::json encode(const ObjectMeta& meta);
nlohmann::json encode(const Condition& condition);
nlohmann::json encode(const BillingRule& rule);

Result<GpuPool, DecodeError> decode_gpu_pool(const nlohmann::json& doc, DecodeMode mode);
Result<GpuInstance, DecodeError> decode_gpu_instance(const nlohmann::json& doc, DecodeMode mode);
Result<GpuProvider, DecodeError> decode_gpu_provider(const nlohmann::json& doc, DecodeMode mode);

// Any of the three kinds, chosen by the document's apiVersion and kind.
using ApiObject = std::variant<GpuPool, GpuInstance, GpuProvider>;
Result<ApiObject, DecodeError> decode_object(const nlohmann::json& doc, DecodeMode mode);
nlohmann::json encode(const ApiObject& object);

// Like decode_object, but keeps the partially decoded object: fields that
// failed to decode keep their defaults. `object` is unset only when the
// document is not one of the three kinds (then unknown_kind is true and
// errors says why). For reporting every problem in a user file at once
// (see load_objects in api_validation.h).
struct PartialDecode {
  std::optional<ApiObject> object;
  std::vector<FieldError> errors;
  bool unknown_kind = false;
};
PartialDecode decode_object_partial(const nlohmann::json& doc, DecodeMode mode);

// Parses JSON text (no exceptions; syntax errors carry the byte position).
Result<nlohmann::json, DecodeError> parse_json(std::string_view text);

// ---- YAML ------------------------------------------------------------------
// Converts a YAML stream to one JSON value per document (empty documents are
// skipped). Plain scalars resolve like kubectl's reader does: null, booleans
// (true/false and the YAML 1.1 words yes/no/on/off/y/n in their usual
// capitalisations), integers, floats; anything else is a string. Quoted
// scalars are
// strings; explicit !!str / !!int / !!float / !!bool / !!null tags are
// honoured. Duplicate mapping keys, non-scalar keys, nesting deeper than 64
// and alias expansion beyond 100000 nodes are errors.
Result<std::vector<nlohmann::json>, DecodeError> yaml_to_json(std::string_view text);

// yaml_to_json then decode_object on every document. Errors from all
// documents are collected (FieldError::document set when there is more than
// one document).
Result<std::vector<ApiObject>, DecodeError> decode_yaml(std::string_view text, DecodeMode mode);

// YAML text of one object (block style), for people and for `plan -o yaml`.
std::string to_yaml(const nlohmann::json& value);

// Accessors that work on any ApiObject.
const ObjectMeta& metadata_of(const ApiObject& object);
std::string_view kind_of(const ApiObject& object);

}  // namespace gpupool::api
