#include "operator/base/heap.h"

#include <gtest/gtest.h>

namespace gpupool {
namespace {

using std::chrono::seconds;

TEST(HeapTrimmer, TrimsAtOnceThenAtMostOncePerInterval) {
  int trims = 0;
  HeapTrimmer t(seconds(60), [&] { ++trims; });
  const HeapTrimmer::TimePoint t0{seconds(1000)};
  EXPECT_TRUE(t.maybe_trim(t0));
  EXPECT_FALSE(t.maybe_trim(t0 + seconds(15)));
  EXPECT_FALSE(t.maybe_trim(t0 + seconds(59)));
  EXPECT_EQ(trims, 1);
  EXPECT_TRUE(t.maybe_trim(t0 + seconds(60)));
  EXPECT_FALSE(t.maybe_trim(t0 + seconds(100)));
  EXPECT_TRUE(t.maybe_trim(t0 + seconds(125)));
  EXPECT_EQ(trims, 3);
}

TEST(HeapTrimmer, TheRealTrimRuns) {
  HeapTrimmer t(seconds(60));
  EXPECT_TRUE(t.maybe_trim(HeapTrimmer::TimePoint{seconds(1)}));
}

}  // namespace
}  // namespace gpupool
