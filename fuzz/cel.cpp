// Fuzz target: the CEL subset of x-kubernetes-validations
// (operator/kube/schema/cel.h) that the in-memory API server and the test
// API server run on every GpuPool write.
//
// Input: "<rule>" or "<rule>\n---\n<self JSON>[\n---\n<oldSelf JSON>]".
// Invariants: compile and evaluate never crash or throw; a rule that fails to
// compile never evaluates ok; evaluating twice gives the same outcome (the
// compiled-rule cache is transparent); validate_rules() on a schema holding
// the rule agrees with evaluate_cel about whether the value passes.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_check.h"
#include "operator/kube/schema/cel.h"

using namespace gpupool;
using nlohmann::json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = fuzz::split(fuzz::as_text(data, size), "\n---\n", 3);
  const std::string rule(parts[0]);
  json self = json::object();
  if (parts.size() > 1) {
    self = json::parse(parts[1], nullptr, false);
    if (self.is_discarded()) return 0;
  }
  json old_self;
  const json* old_ptr = nullptr;
  if (parts.size() > 2) {
    old_self = json::parse(parts[2], nullptr, false);
    if (old_self.is_discarded()) return 0;
    old_ptr = &old_self;
  }

  const std::string compile_error = kube::schema::cel_compile_error(rule);
  const auto first = kube::schema::evaluate_cel(rule, self, old_ptr);
  const auto second = kube::schema::evaluate_cel(rule, self, old_ptr);
  FUZZ_CHECK(first.ok == second.ok && first.value == second.value && first.error == second.error,
             "evaluation is deterministic");
  if (!compile_error.empty()) FUZZ_CHECK(!first.ok, "a rule that does not compile never passes");
  const bool transition = kube::schema::is_transition_rule(rule);

  // The same rule inside a schema, as the API server runs it.
  if (compile_error.empty()) {
    const json schema = {{"type", self.is_object() ? "object" : "string"},
                         {"x-kubernetes-preserve-unknown-fields", true},
                         {"x-kubernetes-validations", json::array({{{"rule", rule}}})}};
    FUZZ_CHECK(kube::schema::rule_compile_errors(schema).empty(),
               "a rule that compiles alone compiles in a schema");
    if (self.is_object() && old_ptr == nullptr && !transition) {
      const auto causes = kube::schema::validate_rules(schema, self);
      FUZZ_CHECK(causes.empty() == (first.ok && first.value),
                 "validate_rules agrees with evaluate_cel");
    }
  }
  return 0;
}
