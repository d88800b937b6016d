#include "operator/kube/schema/schema.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace gpupool::kube::schema {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::string> texts(const std::vector<SchemaCause>& causes) {
  std::vector<std::string> out;
  for (const auto& c : causes)
    out.push_back(c.to_string());
  return out;
}

// Wraps a property schema as spec.<name> of a custom resource.
json cr(const json& prop) {
  return {{"type", "object"},
          {"properties", {{"spec", {{"type", "object"}, {"properties", {{"x", prop}}}}}}}};
}
json obj(const json& x) {
  return {{"spec", {{"x", x}}}};
}

std::vector<std::string> check(const json& prop, const json& x) {
  return texts(validate(cr(prop), obj(x)));
}

TEST(Schema, TypeMismatchUsesServerWording) {
  auto causes = validate(cr({{"type", "integer"}}), obj("abc"));
  ASSERT_EQ(causes.size(), 1u);
  EXPECT_EQ(causes[0].type, CauseType::FieldValueTypeInvalid);
  EXPECT_EQ(causes[0].reason(), "FieldValueTypeInvalid");
  EXPECT_EQ(causes[0].field, "spec.x");
  EXPECT_EQ(causes[0].to_string(),
            "spec.x: Invalid value: \"string\": spec.x in body must be of type integer: "
            "\"string\"");
}

TEST(Schema, EveryTypeAcceptsItsOwnAndRejectsOthers) {
  const json samples[] = {json::object(), json::array(), "s", true, 3, 1.5};
  const char* types[] = {"object", "array", "string", "boolean", "integer", "number"};
  for (size_t t = 0; t < 6; ++t) {
    for (size_t s = 0; s < 6; ++s) {
      bool ok = t == s || (t == 5 && s == 4);  // integers are numbers
      EXPECT_EQ(check({{"type", types[t]}}, samples[s]).empty(), ok)
          << types[t] << " vs " << samples[s].dump();
    }
  }
}

TEST(Schema, RequiredFields) {
  json schema = {
      {"type", "object"},
      {"properties",
       {{"spec",
         {{"type", "object"},
          {"required", {"a", "b"}},
          {"properties", {{"a", {{"type", "string"}}}, {"b", {{"type", "string"}}}}}}}}}};
  auto causes = validate(schema, {{"spec", {{"a", "1"}}}});
  ASSERT_EQ(causes.size(), 1u);
  EXPECT_EQ(causes[0].type, CauseType::FieldValueRequired);
  EXPECT_EQ(causes[0].to_string(), "spec.b: Required value");
}

TEST(Schema, RootRequiredMetadataIsIgnoredForCustomResources) {
  json schema = {{"type", "object"},
                 {"required", {"metadata", "spec"}},
                 {"properties", {{"spec", {{"type", "object"}}}}}};
  EXPECT_THAT(texts(validate(schema, {{"kind", "X"}})), ElementsAre("spec: Required value"));
  Options plain{false};
  EXPECT_EQ(validate(schema, {{"kind", "X"}}, plain).size(), 2u);
}

// The root's reserved fields are skipped in place (no copy of the object or
// the schema): never validated, never required, never matched against the
// root's additionalProperties; a root enum still compares the value
// without them.
TEST(Schema, ReservedRootFieldsAreSkippedWithoutChangingTheRest) {
  json schema = {
      {"type", "object"},
      {"required", {"apiVersion", "kind", "metadata", "spec"}},
      {"properties", {{"metadata", {{"type", "string"}}}, {"spec", {{"type", "object"}}}}},
      {"additionalProperties", {{"type", "integer"}}}};
  json v = {{"apiVersion", "g/v1"},
            {"kind", "K"},
            {"metadata", {{"name", "n"}}},
            {"spec", json::object()},
            {"extra", "x"}};
  EXPECT_THAT(texts(validate(schema, v)),
              ElementsAre(R"(extra: Invalid value: "string": extra in body must be of type )"
                          R"(integer: "string")"));
  EXPECT_THAT(texts(validate(schema, {{"kind", "K"}})), ElementsAre("spec: Required value"));
  json with_enum = schema;
  with_enum["enum"] = json::array({{{"spec", json::object()}, {"extra", 1}}});
  v["extra"] = 1;
  EXPECT_TRUE(validate(with_enum, v).empty());
  v["extra"] = 2;
  EXPECT_EQ(validate(with_enum, v).size(), 1u);
}

TEST(Schema, Enum) {
  EXPECT_THAT(check({{"type", "string"}, {"enum", {"h100", "a100"}}}, "v100"),
              ElementsAre("spec.x: Unsupported value: \"v100\": supported values: \"h100\", "
                          "\"a100\""));
  EXPECT_THAT(check({{"type", "string"}, {"enum", {"h100", "a100"}}}, "a100"), IsEmpty());
  auto causes = validate(cr({{"type", "integer"}, {"enum", {1, 2}}}), obj(3));
  ASSERT_EQ(causes.size(), 1u);
  EXPECT_EQ(causes[0].type, CauseType::FieldValueNotSupported);
  EXPECT_EQ(causes[0].message, "Unsupported value: 3: supported values: 1, 2");
}

TEST(Schema, MinimumAndMaximum) {
  json s = {{"type", "integer"}, {"minimum", 0}, {"maximum", 64}};
  EXPECT_THAT(check(s, 65), ElementsAre("spec.x: Invalid value: 65: spec.x in body should be "
                                        "less than or equal to 64"));
  EXPECT_THAT(check(s, -1), ElementsAre("spec.x: Invalid value: -1: spec.x in body should be "
                                        "greater than or equal to 0"));
  EXPECT_THAT(check(s, 64), IsEmpty());
  EXPECT_THAT(check(s, 0), IsEmpty());
  json ex = {{"type", "number"},
             {"minimum", 0},
             {"exclusiveMinimum", true},
             {"maximum", 1.5},
             {"exclusiveMaximum", true}};
  EXPECT_THAT(check(ex, 0), ElementsAre("spec.x: Invalid value: 0: spec.x in body should be "
                                        "greater than 0"));
  EXPECT_THAT(check(ex, 1.5), ElementsAre("spec.x: Invalid value: 1.5: spec.x in body should be "
                                          "less than 1.5"));
  EXPECT_THAT(check(ex, 0.25), IsEmpty());
}

TEST(Schema, StringLengthsCountCharacters) {
  json s = {{"type", "string"}, {"minLength", 2}, {"maxLength", 3}};
  EXPECT_THAT(check(s, "a"), ElementsAre("spec.x: Invalid value: \"a\": spec.x in body should be "
                                         "at least 2 chars long"));
  auto causes = validate(cr(s), obj("abcd"));
  ASSERT_EQ(causes.size(), 1u);
  EXPECT_EQ(causes[0].type, CauseType::FieldValueTooLong);
  EXPECT_EQ(causes[0].message, "Too long: may not be more than 3 bytes");
  EXPECT_THAT(check(s, "\xC3\xA9\xC3\xA9\xC3\xA9"), IsEmpty());  // 3 characters, 6 bytes
}

TEST(Schema, Pattern) {
  json s = {{"type", "string"}, {"pattern", "^[0-9]+(\\.[0-9]{1,6})?$"}};
  EXPECT_THAT(check(s, "1.27"), IsEmpty());
  EXPECT_THAT(check(s, "1.2.7"), ElementsAre("spec.x: Invalid value: \"1.2.7\": spec.x in body "
                                             "should match '^[0-9]+(\\.[0-9]{1,6})?$'"));
  auto bad = validate(cr({{"type", "string"}, {"pattern", "(["}}), obj("a"));
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_THAT(bad[0].message, ::testing::HasSubstr("not a valid regular expression"));
}

TEST(Schema, HugeStringsUnderAPatternAreRefusedNotCrashed) {
  auto causes =
      validate(cr({{"type", "string"}, {"pattern", "^(a|b)*$"}}), obj(std::string(1'000'000, 'a')));
  ASSERT_EQ(causes.size(), 1u);
  EXPECT_THAT(causes[0].message, ::testing::HasSubstr("too long to match"));
}

TEST(Schema, ItemsAndItemCounts) {
  json s = {{"type", "array"},
            {"minItems", 1},
            {"maxItems", 2},
            {"items", {{"type", "string"}, {"minLength", 1}}}};
  EXPECT_THAT(check(s, json::array({"a", 3})),
              ElementsAre("spec.x[1]: Invalid value: \"integer\": spec.x[1] in body must be of "
                          "type string: \"integer\""));
  EXPECT_THAT(check(s, json::array()), ElementsAre("spec.x: Invalid value: []: spec.x in body "
                                                   "should have at least 1 items"));
  auto many = validate(cr(s), obj(json::array({"a", "b", "c"})));
  ASSERT_EQ(many.size(), 1u);
  EXPECT_EQ(many[0].type, CauseType::FieldValueTooMany);
  EXPECT_EQ(many[0].message, "Too many: 3: must have at most 2 items");
}

TEST(Schema, AdditionalPropertiesSchemaAppliesToEveryValue) {
  json s = {{"type", "object"}, {"additionalProperties", {{"type", "string"}}}};
  EXPECT_THAT(check(s, {{"a", "1"}, {"b", 2}}),
              ElementsAre("spec.x.b: Invalid value: \"integer\": spec.x.b in body must be of "
                          "type string: \"integer\""));
  EXPECT_THAT(unknown_fields(cr(s), obj({{"a", "1"}, {"b", 2}})), IsEmpty());
}

TEST(Schema, Nullable) {
  EXPECT_THAT(check({{"type", "string"}, {"nullable", true}}, nullptr), IsEmpty());
  EXPECT_THAT(check({{"type", "string"}}, nullptr),
              ElementsAre("spec.x: Invalid value: \"null\": spec.x in body must be of type "
                          "string: \"null\""));
}

TEST(Schema, IntOrString) {
  json s = {{"x-kubernetes-int-or-string", true}};
  EXPECT_THAT(check(s, 3), IsEmpty());
  EXPECT_THAT(check(s, "50%"), IsEmpty());
  EXPECT_THAT(check(s, 1.5), ElementsAre("spec.x: Invalid value: \"number\": spec.x in body must "
                                         "be of type integer,string: \"number\""));
}

TEST(Schema, DateTimeFormat) {
  json s = {{"type", "string"}, {"format", "date-time"}};
  EXPECT_THAT(check(s, "2026-11-22T02:10:42Z"), IsEmpty());
  auto causes = validate(cr(s), obj("yesterday"));
  ASSERT_EQ(causes.size(), 1u);
  EXPECT_EQ(causes[0].type, CauseType::FieldValueTypeInvalid);
  EXPECT_EQ(causes[0].to_string(),
            "spec.x: Invalid value: \"yesterday\": spec.x in body must be "
            "of type date-time: \"yesterday\"");
  EXPECT_THAT(check({{"type", "string"}, {"format", "date"}}, "2026-13-01"), ::testing::SizeIs(1));
  EXPECT_THAT(check({{"type", "integer"}, {"format", "int32"}}, 5'000'000'000LL),
              ::testing::SizeIs(1));
}

TEST(Schema, CollectsAllViolationsInDocumentOrder) {
  json schema = {{"type", "object"},
                 {"properties",
                  {{"spec",
                    {{"type", "object"},
                     {"required", {"c"}},
                     {"properties",
                      {{"a", {{"type", "integer"}, {"minimum", 1}}},
                       {"b", {{"type", "string"}, {"enum", {"x"}}}},
                       {"c", {{"type", "boolean"}}}}}}}}}};
  auto causes = validate(schema, {{"spec", {{"a", 0}, {"b", "y"}}}});
  EXPECT_THAT(texts(causes),
              ElementsAre("spec.c: Required value",
                          "spec.a: Invalid value: 0: spec.a in body should be greater than or "
                          "equal to 1",
                          "spec.b: Unsupported value: \"y\": supported values: \"x\""));
}

TEST(Schema, MalformedSchemasDoNotCrash) {
  for (const json& s : {json(3), json("x"), json::array(),
                        json{{"type", 3}, {"minimum", "a"}, {"items", 1}, {"required", 2}},
                        json{{"properties", 1}, {"enum", "x"}, {"pattern", 5}}}) {
    EXPECT_NO_FATAL_FAILURE({
      (void)validate(s, obj(1));
      (void)unknown_fields(s, obj(1));
      json v = obj(json::array({1, nullptr}));
      prune(s, v);
    });
  }
}

json pool_schema() {
  return json::parse(R"({
    "type": "object",
    "properties": {
      "spec": {"type": "object", "properties": {
        "known": {"type": "string"},
        "nested": {"type": "object", "properties": {"a": {"type": "integer"}}},
        "list": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "string"}}}},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                 "properties": {"typed": {"type": "object", "properties": {}}}},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "opt": {"type": "string", "nullable": true},
        "plain": {"type": "string"}
      }},
      "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
    }})");
}

json messy() {
  return json::parse(R"({
    "apiVersion": "g/v1", "kind": "K", "metadata": {"name": "n", "whatever": 1},
    "spec": {"known": "k", "bogus": 1,
             "nested": {"a": 1, "b": 2},
             "list": [{"n": "x", "extra": true}, {"n": "y"}],
             "free": {"anything": {"goes": 1}, "typed": {"inner": 1}},
             "labels": {"a": "b"},
             "opt": null, "plain": null},
    "status": {"any": 1},
    "top": 1
  })");
}

TEST(Schema, UnknownFieldsListsPathsNotInTheSchema) {
  EXPECT_THAT(unknown_fields(pool_schema(), messy()),
              ElementsAre("spec.bogus", "spec.free.typed.inner", "spec.list[0].extra",
                          "spec.nested.b", "top"));
}

TEST(Schema, PruneRemovesUnknownFieldsAndNonNullableNulls) {
  json v = messy();
  prune(pool_schema(), v);
  EXPECT_THAT(unknown_fields(pool_schema(), v), IsEmpty());
  EXPECT_FALSE(v.contains("top"));
  EXPECT_FALSE(v["spec"].contains("bogus"));
  EXPECT_FALSE(v["spec"]["nested"].contains("b"));
  EXPECT_TRUE(v["spec"]["free"].contains("anything"));
  EXPECT_TRUE(v["spec"].contains("opt"));     // nullable: kept
  EXPECT_FALSE(v["spec"].contains("plain"));  // null, not nullable: pruned
  EXPECT_EQ(v["metadata"]["whatever"], 1);    // metadata is not ours to prune
  EXPECT_EQ(v["status"]["any"], 1);
  EXPECT_THAT(validate(pool_schema(), v), IsEmpty());
}

}  // namespace
}  // namespace gpupool::kube::schema
