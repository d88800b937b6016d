#include "operator/core/money.h"

#include <gtest/gtest.h>

#include <limits>

namespace gpupool {
namespace {

using namespace std::chrono_literals;

TEST(Money, ParsesExactDecimals) {
  EXPECT_EQ(Money::parse("1.27")->micros(), 1'270'000);
  EXPECT_EQ(Money::parse("0.000001")->micros(), 1);
  EXPECT_EQ(Money::parse("-3")->micros(), -3'000'000);
  EXPECT_EQ(Money::parse(".5")->micros(), 500'000);
}

TEST(Money, RejectsMalformed) {
  for (const char* bad : {"", "-", "abc", "1.2.3", "1e5", "1.0000001", " 1", "1 ", "$1", "12.",
                          "99999999999999999999"}) {
    EXPECT_FALSE(Money::parse(bad).has_value()) << bad;
  }
}

TEST(Money, FormatsShortestAndFixed) {
  EXPECT_EQ(Money::from_micros(1'270'000).to_string(), "1.27");
  EXPECT_EQ(Money::from_micros(0).to_string(), "0");
  EXPECT_EQ(Money::from_micros(-1).to_string(), "-0.000001");
  EXPECT_EQ(Money::from_dollars(12).to_string(), "12");
  EXPECT_EQ(Money::from_micros(1'275'000).to_string_fixed(2), "1.28");
  EXPECT_EQ(Money::from_micros(-1'275'000).to_string_fixed(2), "-1.28");
  EXPECT_EQ(Money::from_micros(5).to_string_fixed(0), "0");
}

TEST(Money, HourlyRateForDurationRoundsToMicro) {
  const Money rate = *Money::parse("1.27");
  EXPECT_EQ(rate.for_duration(3600s), rate);
  EXPECT_EQ(rate.for_duration(1s).micros(), 353);  // 352.77... rounds up
  EXPECT_EQ(rate.for_duration(3h), *Money::parse("3.81"));
  EXPECT_EQ(Money::from_double(0.1 + 0.2).micros(), 300'000);
}

// Issue 8, defect 7: arithmetic wrapped silently, so an absurd egress price
// became a huge credit and a capped pool bought it.
TEST(Money, ArithmeticSaturatesInsteadOfWrapping) {
  const Money big = Money::max();
  EXPECT_EQ(big + Money::from_dollars(1), Money::max());
  EXPECT_EQ(Money::min() - Money::from_dollars(1), Money::min());
  EXPECT_EQ(-Money::min(), Money::max());
  EXPECT_EQ(*Money::parse("4611686018427.387905") * 4, Money::max());
  EXPECT_EQ(*Money::parse("4611686018427.387905") * -4, Money::min());
  Money acc = Money::from_dollars(9'000'000'000'000);
  acc += Money::from_dollars(9'000'000'000'000);
  EXPECT_EQ(acc, Money::max());
  EXPECT_TRUE(acc.saturated());
  EXPECT_GT(acc, Money::from_dollars(1000));  // a budget check refuses it
  EXPECT_EQ(Money::from_dollars(10'000'000'000'000), Money::max());
  EXPECT_EQ(Money::from_double(9e12 * 1e6), Money::max());
  EXPECT_EQ(Money::from_double(-9e30), Money::min());
  EXPECT_EQ(Money::from_double(std::numeric_limits<double>::quiet_NaN()), Money());
}

TEST(Money, ParseChecksTheBoundWithTheFraction) {
  EXPECT_FALSE(Money::parse("9223372036854.999999").has_value());
  EXPECT_FALSE(Money::parse("9223372036854.775808").has_value());
  EXPECT_EQ(Money::parse("9223372036854.775807")->micros(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(Money::parse("-9223372036854.775807")->micros(), -std::numeric_limits<int64_t>::max());
}

}  // namespace
}  // namespace gpupool
