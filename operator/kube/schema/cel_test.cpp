#include "operator/kube/schema/cel.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdint>

namespace gpupool::kube::schema {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

bool eval_true(const std::string& rule, const json& self, const json* old = nullptr) {
  CelOutcome o = evaluate_cel(rule, self, old);
  EXPECT_TRUE(o.ok) << rule << ": " << o.error;
  return o.ok && o.value;
}

TEST(Cel, FieldsComparisonsAndLogic) {
  json self = {{"min", 2}, {"max", 5}, {"name", "abc"}, {"ratio", 0.5}, {"on", true}};
  EXPECT_TRUE(eval_true("self.max >= self.min", self));
  EXPECT_FALSE(eval_true("self.max < self.min", self));
  EXPECT_TRUE(eval_true("self.min + 3 == self.max && self.max - 1 == 4", self));
  EXPECT_TRUE(eval_true("self.min * 2 < self.max % 4 + 4", self));
  EXPECT_TRUE(eval_true("self.ratio < 1 && self.ratio > 0.25", self));
  EXPECT_TRUE(eval_true("!(self.name == 'x') || false", self));
  EXPECT_TRUE(eval_true("self.on ? self.min == 2 : self.min == 3", self));
  EXPECT_TRUE(eval_true("self.name + \"d\" == 'abcd'", self));
  EXPECT_TRUE(eval_true("self.name.startsWith('ab') && self.name.endsWith('bc')", self));
  EXPECT_TRUE(eval_true("self.name.contains('b') && self.name.matches('^a.c$')", self));
  EXPECT_TRUE(eval_true("-self.min == -2 && size(self.name) == 3 && self.name.size() == 3", self));
  EXPECT_TRUE(eval_true("'min' in self && 3 in [1, 2, 3] && !(4 in [1, 2])", self));
}

TEST(Cel, HasAndMissingFields) {
  json self = {{"a", {{"b", 1}}}};
  EXPECT_TRUE(eval_true("has(self.a) && has(self.a.b) && !has(self.c)", self));
  EXPECT_TRUE(eval_true("!has(self.c) || self.c.d == 1", self));  // short-circuit guard
  CelOutcome missing = evaluate_cel("self.c == 1", self, nullptr);
  EXPECT_FALSE(missing.ok);
  EXPECT_EQ(missing.error, "no such key: c");
  // Errors are absorbed when the other side decides.
  EXPECT_TRUE(eval_true("self.c == 1 || true", self));
  EXPECT_FALSE(eval_true("self.c == 1 && false", self));
  EXPECT_TRUE(eval_true("(has(self.x) ? self.x : 0) == 0", self));
}

TEST(Cel, Macros) {
  json self = {{"items", {{{"name", "a"}}, {{"name", "b"}}, {{"name", "a"}}}},
               {"m", {{"k1", 1}, {"k2", 2}}}};
  EXPECT_FALSE(eval_true("self.items.all(p, self.items.exists_one(q, q.name == p.name))", self));
  EXPECT_TRUE(eval_true("self.items.exists(p, p.name == 'b')", self));
  EXPECT_TRUE(eval_true("self.items.exists_one(p, p.name == 'b')", self));
  EXPECT_TRUE(eval_true("self.m.all(k, k.startsWith('k'))", self));
  EXPECT_TRUE(eval_true("[].all(x, x > 1)", self));
  json unique = {{"items", {{{"name", "a"}}, {{"name", "b"}}}}};
  EXPECT_TRUE(eval_true("self.items.all(p, self.items.exists_one(q, q.name == p.name))", unique));
}

TEST(Cel, TransitionRules) {
  json old = {{"x", 1}};
  json same = {{"x", 1}};
  json changed = {{"x", 2}};
  EXPECT_TRUE(is_transition_rule("self == oldSelf"));
  EXPECT_FALSE(is_transition_rule("self.oldSelfish == 1"));
  EXPECT_TRUE(eval_true("self == oldSelf", same, &old));
  EXPECT_FALSE(eval_true("self == oldSelf", changed, &old));
  EXPECT_FALSE(evaluate_cel("self == oldSelf", same, nullptr).ok);
}

TEST(Cel, CompileErrorsAreReported) {
  EXPECT_EQ(cel_compile_error("self.a >= self.b"), "");
  EXPECT_THAT(cel_compile_error("self.a >= "), HasSubstr("unexpected end"));
  EXPECT_THAT(cel_compile_error("self.a >== 1"), HasSubstr("unexpected"));
  EXPECT_THAT(cel_compile_error("timestamp(self.t) > 1"), HasSubstr("unsupported function"));
  EXPECT_THAT(cel_compile_error("'open"), HasSubstr("unterminated"));
  EXPECT_THAT(cel_compile_error("self.a # 1"), HasSubstr("unexpected character"));
  EXPECT_THAT(cel_compile_error(std::string(200, '(') + "1" + std::string(200, ')')),
              HasSubstr("too deeply"));
  EXPECT_THAT(cel_compile_error(std::string(100000, '!') + "true"), HasSubstr("too"));
  std::string chain = "1";
  for (int i = 0; i < 5000; ++i)
    chain += " + 1";
  EXPECT_THAT(cel_compile_error(chain), HasSubstr("too long"));
}

TEST(Cel, RuntimeErrorsAreValuesNotCrashes) {
  json self = {{"a", 1}, {"s", "x"}, {"l", {1}}, {"big", 1e300}, {"min", INT64_MIN}};
  for (const char* rule :
       {"self.a / 0 == 1", "self.l[5] == 1", "self.s > 1", "!self.a", "self.a.b == 1",
        "size(self.a) == 1", "self.a", "undefined == 1", "9223372036854775807 + 1 > 0",
        "self.s.matches('[')", "-self.min > 0", "int(self.big) > 0", "self.min / -1 > 0",
        "self.min % -1 == 0", "self.min - 1 < 0", "self.min * -1 > 0"}) {
    CelOutcome o = evaluate_cel(rule, self, nullptr);
    EXPECT_FALSE(o.ok) << rule;
    EXPECT_FALSE(o.error.empty()) << rule;
  }
}

json rule_schema() {
  return json::parse(R"({
    "type": "object",
    "properties": {"spec": {
      "type": "object",
      "x-kubernetes-validations": [
        {"rule": "!has(self.max) || self.max >= self.min", "message": "max must be >= min",
         "fieldPath": ".max"},
        {"rule": "!has(self.name) || size(self.name) > 0"},
        {"rule": "!has(self.secret) || size(self.secret) > 0", "message": "secret is required",
         "reason": "FieldValueRequired"}
      ],
      "properties": {
        "min": {"type": "integer"}, "max": {"type": "integer"}, "name": {"type": "string"},
        "secret": {"type": "string"},
        "offer": {"type": "object", "properties": {"id": {"type": "string"}},
                  "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "offer is immutable"}]},
        "list": {"type": "array", "items": {"type": "integer",
                 "x-kubernetes-validations": [{"rule": "self > 0", "message": "must be positive"}]}}
      }}}})");
}

std::vector<std::string> cause_texts(const std::vector<SchemaCause>& causes) {
  std::vector<std::string> out;
  for (const auto& c : causes)
    out.push_back(c.to_string());
  return out;
}

TEST(CelRules, ViolationsUseServerWordingAndPaths) {
  json obj = {{"metadata", {{"name", "x"}}},
              {"spec", {{"min", 3}, {"max", 1}, {"name", ""}, {"secret", ""}, {"list", {1, -1}}}}};
  auto causes = validate_rules(rule_schema(), obj);
  EXPECT_THAT(cause_texts(causes),
              ElementsAre("spec.max: Invalid value: \"object\": max must be >= min",
                          "spec: Invalid value: \"object\": failed rule: !has(self.name) || "
                          "size(self.name) > 0",
                          "spec: Required value: secret is required",
                          "spec.list[1]: Invalid value: \"integer\": must be positive"));
  EXPECT_EQ(causes[2].type, CauseType::FieldValueRequired);
  json good = {{"spec", {{"min", 1}, {"max", 3}, {"list", {1, 2}}}}};
  EXPECT_THAT(validate_rules(rule_schema(), good), IsEmpty());
}

TEST(CelRules, TransitionRulesRunOnlyOnUpdate) {
  json old = {{"spec", {{"min", 0}, {"offer", {{"id", "a"}}}}}};
  json changed = {{"spec", {{"min", 0}, {"offer", {{"id", "b"}}}}}};
  EXPECT_THAT(validate_rules(rule_schema(), changed), IsEmpty());  // create
  EXPECT_THAT(cause_texts(validate_rules(rule_schema(), changed, &old)),
              ElementsAre("spec.offer: Invalid value: \"object\": offer is immutable"));
  EXPECT_THAT(validate_rules(rule_schema(), old, &old), IsEmpty());
  json no_old_offer = {{"spec", {{"min", 0}}}};
  EXPECT_THAT(validate_rules(rule_schema(), changed, &no_old_offer), IsEmpty());
}

TEST(CelRules, EvaluationErrorsBecomeCauses) {
  json schema = {{"type", "object"},
                 {"x-kubernetes-validations", {{{"rule", "self.missing > 1"}, {"message", "m"}}}}};
  auto causes = validate_rules(schema, json::object(), nullptr, Options{false});
  ASSERT_EQ(causes.size(), 1u);
  EXPECT_THAT(causes[0].message, HasSubstr("no such key: missing"));
}

TEST(CelRules, CompileErrorsAreListedWithTheirPath) {
  json schema = rule_schema();
  EXPECT_THAT(rule_compile_errors(schema), IsEmpty());
  schema["properties"]["spec"]["properties"]["list"]["items"]["x-kubernetes-validations"][0]
        ["rule"] = "self >";
  auto errors = rule_compile_errors(schema);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], HasSubstr("spec.list[]: self >: "));
}

}  // namespace
}  // namespace gpupool::kube::schema
