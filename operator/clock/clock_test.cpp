#include "operator/clock/clock.h"

#include <gtest/gtest.h>

namespace gpupool {
namespace {

using namespace std::chrono_literals;

TEST(Rfc3339, RoundTripsUtc) {
  Time t;
  ASSERT_TRUE(parse_rfc3339("2026-11-22T02:10:42Z", t));
  EXPECT_EQ(format_rfc3339(t), "2026-11-22T02:10:42Z");
}

TEST(Rfc3339, AppliesOffsetAndDropsFraction) {
  Time t;
  ASSERT_TRUE(parse_rfc3339("2026-11-22T03:10:42.123456+01:00", t));
  EXPECT_EQ(format_rfc3339(t), "2026-11-22T02:10:42Z");
}

TEST(Rfc3339, RejectsMalformed) {
  Time t;
  EXPECT_FALSE(parse_rfc3339("", t));
  EXPECT_FALSE(parse_rfc3339("2026-11-22 02:10:42Z", t));
  EXPECT_FALSE(parse_rfc3339("2026-13-22T02:10:42Z", t));
  EXPECT_FALSE(parse_rfc3339("2026-02-30T02:10:42Z", t));
  EXPECT_FALSE(parse_rfc3339("2026-11-22T02:10:42", t));
  EXPECT_FALSE(parse_rfc3339("2026-11-22T02:10:42Zjunk", t));
}

TEST(FakeClock, MovesOnlyWhenTold) {
  Time start;
  ASSERT_TRUE(parse_rfc3339("2026-01-01T00:00:00Z", start));
  FakeClock clock(start);
  const auto s0 = clock.steady_now();
  EXPECT_EQ(clock.now(), start);
  clock.advance(90s);
  EXPECT_EQ(clock.now(), start + 90s);
  EXPECT_EQ(clock.steady_now() - s0, std::chrono::duration_cast<SteadyTime::duration>(90s));
  clock.set(start + 10s);  // never backwards
  EXPECT_EQ(clock.now(), start + 90s);
}

}  // namespace
}  // namespace gpupool
