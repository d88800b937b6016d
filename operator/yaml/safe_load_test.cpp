#include "operator/yaml/safe_load.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace gpupool::yaml {
namespace {

// Each of these made yaml-cpp 0.7's LoadAll loop forever, growing past
// 2 GB; the first is fuzz/corpus/api_codec_yaml/regression-stray-flow-entry.
TEST(YamlSafeLoad, StreamsYamlCppNeverFinishesAreInvalidYamlWithAPosition) {
  for (const std::string& text : {std::string(","), std::string(", x\n"),
                                  std::string("# a comment\n, must list\n  budget:\n")}) {
    try {
      (void)load_all(text);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const YAML::ParserException& e) {
      EXPECT_NE(std::string(e.what()).find("does not terminate"), std::string::npos) << e.what();
    }
    EXPECT_THROW((void)load(text), YAML::ParserException) << text;
  }
}

TEST(YamlSafeLoad, TheFuzzFindingIsRefusedQuickly) {
  const char* src = std::getenv("GPUPOOL_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  std::ifstream f(std::string(src) + "/fuzz/corpus/api_codec_yaml/regression-stray-flow-entry");
  ASSERT_TRUE(f) << "the regression input is checked in";
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_THROW((void)load_all(ss.str()), YAML::ParserException);
}

TEST(YamlSafeLoad, WellFormedStreamsLoadAsYamlCppLoadsThem) {
  const std::string dense = "[[[[a]]], {b: [c, {d: e}]}, ~, '', \"x\", -1, {? f : g}]\n";
  auto docs = load_all("a: 1\nb: [x, y]\n---\n- p\n-\n- {k: v}\n---\n" + dense);
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[0]["a"].as<int>(), 1);
  EXPECT_EQ(docs[0]["b"][1].as<std::string>(), "y");
  EXPECT_TRUE(docs[1][1].IsNull());
  EXPECT_EQ(docs[2][1]["b"][1]["d"].as<std::string>(), "e");
  EXPECT_TRUE(load("").IsNull());
  // Many implicit nulls per byte stay within the budget.
  std::string nulls;
  for (int i = 0; i < 1000; ++i)
    nulls += "-\n";
  EXPECT_EQ(load(nulls).size(), 1000u);
  std::string keys = "{";
  for (int i = 0; i < 500; ++i)
    keys += "k" + std::to_string(i) + ",";
  keys += "}";
  EXPECT_EQ(load(keys).size(), 500u);
  // Ordinary syntax errors keep yaml-cpp's own message.
  try {
    (void)load("a: [1, 2\n");
    ADD_FAILURE() << "accepted an unclosed flow sequence";
  } catch (const YAML::ParserException& e) {
    EXPECT_EQ(std::string(e.what()).find("does not terminate"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gpupool::yaml
