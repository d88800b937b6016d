#include "operator/kube/memory/managed_fields.h"

#include <gtest/gtest.h>

namespace gpupool::kube::managed {
namespace {

Writer by(const std::string& manager) {
  return Writer{manager, "example.com/v1", "", "2026-11-10T12:00:00Z"};
}

TEST(ManagedFieldsTest, FieldsOfLeaveOutWhatTheServerOwnsAndTreatListsAsOneField) {
  const Json obj = Json::parse(R"J({
    "apiVersion": "v1", "kind": "ConfigMap",
    "metadata": {"name": "a", "namespace": "default", "uid": "u", "resourceVersion": "3",
                 "labels": {"app": "web"}, "finalizers": ["x", "y"]},
    "data": {"k": "v", "empty": {}}, "list": [1, 2]})J");
  EXPECT_EQ(fields_of(obj), (FieldSet{{"metadata", "labels", "app"},
                                      {"metadata", "finalizers"},
                                      {"data", "k"},
                                      {"data", "empty"},
                                      {"list"}}));
  EXPECT_EQ(to_fields_v1(fields_of(obj))["f:metadata"]["f:labels"],
            Json({{"f:app", Json::object()}}));
  EXPECT_EQ(from_fields_v1(to_fields_v1(fields_of(obj))), fields_of(obj));
}

TEST(ManagedFieldsTest, AnApplyOfAnotherAppliersFieldWithANewValueConflictsUnlessForced) {
  const Json a_config = {{"spec", {{"replicas", 2}, {"size", 1}}}};
  auto first = apply(Json::object(), {}, a_config, by("a"), false);
  ASSERT_TRUE(first.conflicts.empty());
  // The same value is shared; a new value conflicts.
  auto shared = apply(first.object, first.entries, {{"spec", {{"size", 1}}}}, by("b"), false);
  EXPECT_TRUE(shared.conflicts.empty());
  EXPECT_EQ(shared.entries.size(), 2u);
  auto clash = apply(first.object, first.entries, {{"spec", {{"replicas", 3}}}}, by("b"), false);
  ASSERT_EQ(clash.conflicts.size(), 1u);
  EXPECT_EQ(clash.conflicts[0].manager, "\"a\"");
  const ApiError e = conflict_error(clash.conflicts);
  EXPECT_EQ(e.code, 409);
  EXPECT_EQ(e.reason, "Conflict");
  EXPECT_EQ(e.message, "Apply failed with 1 conflict: conflict with \"a\": .spec.replicas");
  ASSERT_EQ(e.causes.size(), 1u);
  EXPECT_EQ(e.causes[0],
            (StatusCause{"FieldManagerConflict", "conflict with \"a\"", ".spec.replicas"}));
  // Forced: b takes the field; a keeps the rest.
  auto forced = apply(first.object, first.entries, {{"spec", {{"replicas", 3}}}}, by("b"), true);
  ASSERT_TRUE(forced.conflicts.empty());
  EXPECT_EQ(forced.object["spec"], Json({{"replicas", 3}, {"size", 1}}));
  ASSERT_EQ(forced.entries.size(), 2u);
  EXPECT_EQ(forced.entries[0].fields, (FieldSet{{"spec", "size"}}));
  EXPECT_EQ(forced.entries[1].fields, (FieldSet{{"spec", "replicas"}}));
}

TEST(ManagedFieldsTest, AFieldAnApplierStopsSendingIsRemovedUnlessSomeoneElseOwnsIt) {
  auto first =
      apply(Json::object(), {}, {{"spec", {{"a", 1}, {"b", 2}, {"c", 3}}}}, by("x"), false);
  auto other = apply(first.object, first.entries, {{"spec", {{"c", 3}}}}, by("y"), false);
  auto again = apply(other.object, other.entries, {{"spec", {{"a", 1}}}}, by("x"), false);
  ASSERT_TRUE(again.conflicts.empty());
  EXPECT_EQ(again.object["spec"], Json({{"a", 1}, {"c", 3}}));
}

TEST(ManagedFieldsTest, AnUpdateTakesTheFieldsItChangesFromEveryoneAndNeverConflicts) {
  auto applied =
      apply(Json::object(), {}, {{"spec", {{"replicas", 2}, {"size", 1}}}}, by("a"), false);
  Json after = applied.object;
  after["spec"]["replicas"] = 5;
  auto entries = applied.entries;
  record_update(entries, Writer{"kubectl-edit", "example.com/v1", "", "t"},
                changed_fields(applied.object, after), after);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].fields, (FieldSet{{"spec", "size"}}));
  EXPECT_EQ(entries[1].operation, "Update");
  EXPECT_EQ(entries[1].fields, (FieldSet{{"spec", "replicas"}}));
  // An applier now conflicts with the updater, named with its apiVersion.
  auto clash = apply(after, entries, {{"spec", {{"replicas", 2}}}}, by("a"), false);
  ASSERT_EQ(clash.conflicts.size(), 1u);
  EXPECT_EQ(conflict_error(clash.conflicts).message,
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using example.com/v1: "
            ".spec.replicas");
  const Json json = to_json(entries);
  EXPECT_EQ(json[1]["fieldsType"], "FieldsV1");
  EXPECT_EQ(json[1]["fieldsV1"], Json({{"f:spec", {{"f:replicas", Json::object()}}}}));
  EXPECT_EQ(entries_of(Json{{"metadata", {{"managedFields", json}}}}).size(), 2u);
}

TEST(ManagedFieldsTest, ConflictsWithSeveralManagersAreListedPerManager) {
  auto a = apply(Json::object(), {}, {{"spec", {{"x", 1}, {"y", 1}}}}, by("a"), false);
  auto b = apply(a.object, a.entries, {{"spec", {{"z", 1}}}}, by("b"), false);
  auto clash =
      apply(b.object, b.entries, {{"spec", {{"x", 2}, {"y", 2}, {"z", 2}}}}, by("c"), false);
  EXPECT_EQ(conflict_error(clash.conflicts).message,
            "Apply failed with 3 conflicts: conflicts with \"a\":\n- .spec.x\n- .spec.y\n"
            "conflicts with \"b\":\n- .spec.z");
}

}  // namespace
}  // namespace gpupool::kube::managed
