#include "operator/controllers/ledger_cache.h"

#include <gtest/gtest.h>

namespace gpupool::controllers {
namespace {

constexpr const char* kOne = R"({"total":"1.5","months":{"2026-11":"1.5"},"folded":["web-1"]})";
constexpr const char* kTwo =
    R"({"total":"2.5","months":{"2026-11":"2.5"},"folded":["web-1","web-2"]})";

TEST(LedgerCache, AnUnchangedTextIsParsedOnce) {
  LedgerCache cache;
  auto a = cache.parse("uid-1", kOne);
  auto b = cache.parse("uid-1", kOne);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(a->total, Money::parse("1.5").value());
  EXPECT_EQ(cache.parses(), 1u);
  // A new fold changes the text: parsed again, the new figures returned.
  auto c = cache.parse("uid-1", kTwo);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->folded.size(), 2u);
  EXPECT_EQ(cache.parses(), 2u);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(LedgerCache, TheSameTextUnderAnotherPoolIsItsOwnEntry) {
  LedgerCache cache;
  ASSERT_TRUE(cache.parse("uid-1", kOne).ok());
  ASSERT_TRUE(cache.parse("uid-2", kTwo).ok());
  EXPECT_EQ(cache.parse("uid-1", kOne)->total, Money::parse("1.5").value());
  EXPECT_EQ(cache.parse("uid-2", kTwo)->total, Money::parse("2.5").value());
  EXPECT_EQ(cache.parses(), 2u);
  EXPECT_EQ(cache.parse("", "")->total, Money());  // no ledger yet: empty
}

TEST(LedgerCache, ACorruptLedgerStaysAnErrorOnEveryRead) {
  LedgerCache cache;
  for (int i = 0; i < 2; ++i) {
    auto r = cache.parse("uid-1", "{not json");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("not a JSON object"), std::string::npos);
  }
  EXPECT_EQ(cache.parses(), 1u);
  EXPECT_TRUE(cache.parse("uid-1", kOne).ok());  // mended: read as such
}

TEST(LedgerCache, KeepsAtMostItsCapacityDroppingTheLeastRecentlyRead) {
  LedgerCache cache(2);
  ASSERT_TRUE(cache.parse("a", kOne).ok());
  ASSERT_TRUE(cache.parse("b", kOne).ok());
  ASSERT_TRUE(cache.parse("a", kOne).ok());  // a is now the most recent
  ASSERT_TRUE(cache.parse("c", kOne).ok());  // drops b
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.parses(), 3u);
  ASSERT_TRUE(cache.parse("a", kOne).ok());
  EXPECT_EQ(cache.parses(), 3u);  // still kept
  ASSERT_TRUE(cache.parse("b", kOne).ok());
  EXPECT_EQ(cache.parses(), 4u);  // was dropped
}

}  // namespace
}  // namespace gpupool::controllers
