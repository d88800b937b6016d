#pragma once
// A small CEL interpreter for CRD validation rules
// (x-kubernetes-validations), enough for the cross-field rules operators
// write: field access, has(), size(), comparisons, arithmetic (+ - on
// numbers, + on strings and lists), ! && || ?:, `in` on lists and maps,
// list literals, the macros all / exists / exists_one, string methods
// startsWith / endsWith / contains / matches, and transition rules with
// oldSelf. It is NOT a full CEL implementation (no types, timestamps,
// durations, optionals, cost estimation); rules outside the subset fail to
// compile with a clear message, so a test catches them.
//
// Semantics follow the CEL spec where it matters for validation: accessing a
// missing field is an evaluation error ("no such key: x"); && and || absorb
// errors when the other side decides (false && error == false, true ||
// error == true); integers and doubles compare numerically.
//
// Thread-safety: call concurrently at will. Compiled rules and matches()
// patterns are cached process-wide (mutex-guarded, bounded).

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "operator/kube/schema/schema.h"

namespace gpupool::kube::schema {

// Compile check: "" if `rule` is in the supported subset, else why not.
std::string cel_compile_error(std::string_view rule);

struct CelOutcome {
  bool ok = false;     // evaluated without error
  bool value = false;  // the rule's boolean result (when ok)
  std::string error;   // why not (when !ok), e.g. "no such key: max"
};

// Evaluates `rule` with `self` bound to the value and `oldSelf` to
// *old_self (nullptr: no old value; a rule mentioning oldSelf then errors).
CelOutcome evaluate_cel(std::string_view rule, const nlohmann::json& self,
                        const nlohmann::json* old_self);

// True if the rule mentions oldSelf (a transition rule: evaluated only on
// update, when the old object has the field too).
bool is_transition_rule(std::string_view rule);

// Runs every x-kubernetes-validations rule in `schema` against `value`
// (and, for transition rules, `old_value` when not null), returning the
// violations in the API server's vocabulary:
//   spec: Invalid value: "object": replicas.max must be >= replicas.min
// The path is the rule's node plus its fieldPath; the printed value is the
// node's schema type; `reason` picks the cause type (default
// FieldValueInvalid). A rule without `message` reports
// "failed rule: <rule>". Evaluation errors are reported as
// FieldValueInvalid causes naming the rule. With custom_resource_root, the
// root's apiVersion/kind/metadata are skipped like validate() does.
std::vector<SchemaCause> validate_rules(const nlohmann::json& schema, const nlohmann::json& value,
                                        const nlohmann::json* old_value = nullptr,
                                        const Options& options = {});

// Compile errors of every rule in a schema, as "<path>: <rule>: <why>".
std::vector<std::string> rule_compile_errors(const nlohmann::json& schema);

}  // namespace gpupool::kube::schema
