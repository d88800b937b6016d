#include "operator/kube/memory/selectors.h"

#include <gtest/gtest.h>

namespace gpupool::kube {
namespace {

using Json = nlohmann::json;

bool sel(const std::string& text, const Json& labels) {
  auto s = LabelSelector::parse(text);
  EXPECT_TRUE(s.ok()) << text;
  return s.ok() && s.value().matches(labels);
}

TEST(LabelSelectorTest, EqualityAndSetOperators) {
  Json l = {{"team", "ml"}, {"tier", "gold"}, {"n", "5"}};
  EXPECT_TRUE(sel("", l));
  EXPECT_TRUE(sel("team=ml", l));
  EXPECT_TRUE(sel("team==ml", l));
  EXPECT_FALSE(sel("team=web", l));
  EXPECT_TRUE(sel("team!=web", l));
  EXPECT_TRUE(sel("missing!=x", l));  // != matches absent labels
  EXPECT_TRUE(sel("team in (web, ml)", l));
  EXPECT_FALSE(sel("team in (web)", l));
  EXPECT_TRUE(sel("team notin (web)", l));
  EXPECT_TRUE(sel("missing notin (web)", l));
  EXPECT_TRUE(sel("tier", l));
  EXPECT_FALSE(sel("!tier", l));
  EXPECT_TRUE(sel("!missing", l));
  EXPECT_TRUE(sel("team in (ml,web),tier=gold,!missing", l));
  EXPECT_FALSE(sel("team in (ml,web),tier=silver", l));
  EXPECT_TRUE(sel("n>4", l));
  EXPECT_FALSE(sel("n<5", l));
  EXPECT_FALSE(sel("team=ml", Json()));
}

TEST(LabelSelectorTest, RejectsBadSyntax) {
  for (const char* bad :
       {"team in (ml", "team foo (ml)", "=x", "a=b c", "n>x", "team=(x)", "a,,b"}) {
    EXPECT_FALSE(LabelSelector::parse(bad).ok()) << bad;
  }
}

TEST(FieldSelectorTest, SupportedFieldsOnly) {
  std::vector<std::string> supported = {"metadata.name", "metadata.namespace", "spec.model"};
  Json obj = {{"metadata", {{"name", "a"}, {"namespace", "default"}}}, {"spec", {{"model", "x"}}}};
  auto s = FieldSelector::parse("metadata.name=a,spec.model!=y", supported);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s.value().matches(obj));
  EXPECT_EQ(*s.value().equals_value("metadata.name"), "a");
  auto s2 = FieldSelector::parse("metadata.name==b", supported);
  ASSERT_TRUE(s2.ok());
  EXPECT_FALSE(s2.value().matches(obj));
  auto bad = FieldSelector::parse("spec.size=4", supported);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "field label not supported: spec.size");
  EXPECT_FALSE(FieldSelector::parse("metadata.name", supported).ok());
}

TEST(FindPathTest, FollowsObjects) {
  Json obj = {{"spec", {{"replicas", 3}, {"list", {1, 2}}}}};
  ASSERT_NE(find_path(obj, ".spec.replicas"), nullptr);
  EXPECT_EQ(*find_path(obj, "spec.replicas"), 3);
  EXPECT_EQ(find_path(obj, ".spec.list.x"), nullptr);
  EXPECT_EQ(find_path(obj, ".status"), nullptr);
  EXPECT_EQ(scalar_text(find_path(obj, "spec.replicas")), "3");
  EXPECT_EQ(scalar_text(nullptr), "");
}

}  // namespace
}  // namespace gpupool::kube
