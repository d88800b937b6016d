#include "operator/core/billing.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>

namespace gpupool::billing {
namespace {

using namespace std::chrono_literals;

constexpr Money kDollar = Money::from_dollars(1);

Time at(int hour, int minute, int second = 0) {
  using namespace std::chrono;
  return sys_days{year{2026} / November / 22} + hours(hour) + minutes(minute) + seconds(second);
}

BillingRule per_second(Duration minimum = 0s) {
  BillingRule r;
  r.increment = 1s;
  r.minimum = minimum;
  return r;
}

BillingRule hourly(Duration minimum, MinimumKind kind, BillingAlignment alignment) {
  BillingRule r;
  r.increment = 1h;
  r.minimum = minimum;
  r.minimum_kind = kind;
  r.alignment = alignment;
  return r;
}

// Seed documents' Fluence rule: 3h minimum charge, then hourly, from launch.
const BillingRule kSeedFluence = hourly(3h, MinimumKind::Charge, BillingAlignment::Launch);
// Fluence's own docs: fixed UTC clock hours, 3h prepaid deposit.
const BillingRule kDocsFluence = hourly(3h, MinimumKind::Deposit, BillingAlignment::WallClock);

TEST(BillingTest, PerSecondWithoutMinimumBillsElapsedSeconds) {
  const Time l = at(10, 0);
  const BillingRule r = per_second();
  EXPECT_EQ(committed(r, Money::from_dollars(36), l, l + 10s), Money::from_cents(10));
  EXPECT_EQ(committed(r, Money::from_dollars(36), l, l + 1h), Money::from_dollars(36));
  // Launching starts the first one-second increment.
  EXPECT_EQ(billed_duration(r, l, l), 1s);
  EXPECT_EQ(paid_through(r, l, l + 30s), l + 30s);
  EXPECT_EQ(next_boundary(r, l, l + 30s), l + 31s);
  EXPECT_TRUE(deposit_held(r, kDollar, l, l + 30s).is_zero());
}

TEST(BillingTest, AwsSixtySecondMinimumAtItsBoundary) {
  const Time l = at(10, 0);
  const BillingRule aws = per_second(60s);
  const Money price = Money::from_dollars(36);  // 1 cent per second
  EXPECT_EQ(committed(aws, price, l, l), Money::from_cents(60));
  EXPECT_EQ(committed(aws, price, l, l + 59s), Money::from_cents(60));
  EXPECT_EQ(committed(aws, price, l, l + 60s), Money::from_cents(60));
  EXPECT_EQ(committed(aws, price, l, l + 61s), Money::from_cents(61));
  EXPECT_EQ(paid_through(aws, l, l + 10s), l + 60s);
  EXPECT_EQ(paid_through(aws, l, l + 60s), l + 60s);
  EXPECT_EQ(next_boundary(aws, l, l + 60s), l + 61s);
}

TEST(BillingTest, LaunchAlignedChargeMinimumAroundTheMinimumBoundary) {
  const Time l = at(15, 40);
  const Money price = Money::parse("1.27").value();
  // Billed at launch: the whole minimum.
  EXPECT_EQ(accrued(kSeedFluence, price, l, l), Money::parse("3.81").value());
  EXPECT_EQ(paid_through(kSeedFluence, l, l), l + 3h);
  // One second before, at, and one second after the end of the minimum.
  EXPECT_EQ(committed(kSeedFluence, price, l, l + 3h - 1s), Money::parse("3.81").value());
  EXPECT_EQ(committed(kSeedFluence, price, l, l + 3h), Money::parse("3.81").value());
  EXPECT_EQ(committed(kSeedFluence, price, l, l + 3h + 1s), Money::parse("5.08").value());
  EXPECT_EQ(paid_through(kSeedFluence, l, l + 3h - 1s), l + 3h);
  EXPECT_EQ(paid_through(kSeedFluence, l, l + 3h), l + 3h);
  EXPECT_EQ(paid_through(kSeedFluence, l, l + 3h + 1s), l + 4h);
  EXPECT_EQ(next_boundary(kSeedFluence, l, l + 3h - 1s), l + 3h);
  EXPECT_EQ(next_boundary(kSeedFluence, l, l + 3h), l + 4h);
  EXPECT_EQ(next_boundary(kSeedFluence, l, l + 3h + 1s), l + 4h);
  EXPECT_TRUE(deposit_held(kSeedFluence, price, l, l).is_zero());
}

TEST(BillingTest, LaunchAlignedHourlyIncrementBoundaries) {
  const Time l = at(15, 40);
  const BillingRule r = hourly(0s, MinimumKind::Charge, BillingAlignment::Launch);
  EXPECT_EQ(billed_duration(r, l, l), 1h);
  EXPECT_EQ(billed_duration(r, l, l + 1h - 1s), 1h);
  EXPECT_EQ(billed_duration(r, l, l + 1h), 1h);
  EXPECT_EQ(billed_duration(r, l, l + 1h + 1s), 2h);
  EXPECT_EQ(paid_through(r, l, l + 20min), at(16, 40));
  EXPECT_EQ(paid_through(r, l, l + 1h + 1s), at(17, 40));
}

TEST(BillingTest, ClockAlignedFirstIncrementEndsAtTheNextFullHour) {
  const Time l = at(15, 40);
  const BillingRule r = hourly(0s, MinimumKind::Charge, BillingAlignment::WallClock);
  const Money price = Money::from_dollars(2);
  EXPECT_EQ(paid_through(r, l, l), at(16, 0));
  EXPECT_EQ(next_boundary(r, l, l), at(16, 0));
  // The partial first hour is billed in full.
  EXPECT_EQ(committed(r, price, l, l + 1min), Money::from_dollars(2));
  EXPECT_EQ(committed(r, price, l, at(15, 59, 59)), Money::from_dollars(2));
  EXPECT_EQ(committed(r, price, l, at(16, 0)), Money::from_dollars(2));
  EXPECT_EQ(committed(r, price, l, at(16, 0, 1)), Money::from_dollars(4));
  EXPECT_EQ(paid_through(r, l, at(16, 0)), at(16, 0));
  EXPECT_EQ(next_boundary(r, l, at(16, 0)), at(17, 0));
  EXPECT_EQ(paid_through(r, l, at(16, 0, 1)), at(17, 0));
  // The same 80 minutes launch-aligned costs 2 hours, clock-aligned 2 hours
  // too, but 20 minutes costs 1 hour launch-aligned and crosses 16:00 clock-aligned.
  const BillingRule launch = hourly(0s, MinimumKind::Charge, BillingAlignment::Launch);
  EXPECT_EQ(cost_for_run(launch, price, l, 25min), Money::from_dollars(2));
  EXPECT_EQ(cost_for_run(r, price, l, 25min), Money::from_dollars(4));
  // Launching exactly on the hour: no partial slot.
  EXPECT_EQ(cost_for_run(r, price, at(15, 0), 1h), Money::from_dollars(2));
}

TEST(BillingTest, DepositMinimumChargesOnlyStartedIncrementsAndHoldsTheRest) {
  const Time l = at(15, 40);
  const Money price = Money::parse("1.27").value();
  // At launch: the current clock hour is charged, two hours are held.
  EXPECT_EQ(accrued(kDocsFluence, price, l, l), price);
  EXPECT_EQ(deposit_held(kDocsFluence, price, l, l), Money::parse("2.54").value());
  EXPECT_EQ(paid_through(kDocsFluence, l, l), at(16, 0));
  // Ending after 20 minutes (crossing 16:00) costs two clock hours, not three.
  EXPECT_EQ(committed(kDocsFluence, price, l, at(16, 0)), price);
  EXPECT_EQ(committed(kDocsFluence, price, l, at(16, 0, 1)), Money::parse("2.54").value());
  EXPECT_EQ(deposit_held(kDocsFluence, price, l, at(17, 30)), Money::parse("2.54").value());
  // The same 20 minutes under the seed's charge reading costs the full minimum.
  EXPECT_EQ(cost_for_run(kSeedFluence, price, l, 20min), Money::parse("3.81").value());
  EXPECT_EQ(cost_for_run(kDocsFluence, price, l, 20min), price);
}

// Issue 8, defect 5: paid-through said 18:40 (launch + minimum) while the
// bill covers the slots 15:00-18:00, so a machine parked at once was ended at
// 18:38 and paid a fourth hour ($5.08 instead of $3.81).
TEST(BillingTest, ClockAlignedChargeMinimumCoversWholeSlotsFromTheFirstSlot) {
  const Time l = at(15, 40);
  const BillingRule r = hourly(3h, MinimumKind::Charge, BillingAlignment::WallClock);
  const Money price = Money::parse("1.27").value();
  EXPECT_EQ(paid_through(r, l, l), at(18, 0));
  EXPECT_EQ(next_boundary(r, l, l), at(18, 0));
  EXPECT_EQ(billed_duration(r, l, l), 3h);
  // Ending 2 minutes before the boundary costs the minimum only.
  EXPECT_EQ(committed(r, price, l, at(17, 58)), Money::parse("3.81").value());
  EXPECT_EQ(committed(r, price, l, at(18, 0)), Money::parse("3.81").value());
  EXPECT_EQ(committed(r, price, l, at(18, 38)), Money::parse("5.08").value());
  // 18:00:01 touches the 18:00 slot: four clock hours.
  EXPECT_EQ(billed_duration(r, l, at(18, 0, 1)), 4h);
  EXPECT_EQ(paid_through(r, l, at(18, 0, 1)), at(19, 0));
}

TEST(BillingTest, TimesBeforeLaunchCountAsLaunch) {
  const Time l = at(10, 0);
  EXPECT_EQ(committed(kSeedFluence, kDollar, l, l - 1h), Money::from_dollars(3));
  EXPECT_EQ(next_boundary(kSeedFluence, l, l - 1h), l + 3h);
  EXPECT_EQ(cost_for_run(per_second(), Money::from_dollars(36), l, -5s), Money::from_cents(1));
}

TEST(BillingTest, MalformedRulesDoNotDivideByZero) {
  BillingRule r;
  r.increment = 0s;
  r.minimum = -5s;
  const Time l = at(10, 0);
  EXPECT_EQ(billed_duration(r, l, l + 10s), 10s);
}

TEST(BillingTest, PerMinuteRule) {
  BillingRule lambda;
  lambda.increment = 60s;
  const Time l = at(10, 0);
  EXPECT_EQ(cost_for_run(lambda, Money::from_dollars(6), l, 61s), Money::from_cents(20));
  EXPECT_EQ(cost_for_run(lambda, Money::from_dollars(6), l, 60s), Money::from_cents(10));
  EXPECT_EQ(cost_for_run(lambda, Money::from_dollars(6), l, 59s), Money::from_cents(10));
}

TEST(BillingTest, Egress) {
  BillingRule aws = per_second(60s);
  aws.egress_per_gb = Money::parse("0.09").value();
  EXPECT_EQ(egress_cost(aws, 120.0), Money::parse("10.8").value());
  EXPECT_EQ(egress_cost(aws, 0.5), Money::parse("0.045").value());
  EXPECT_EQ(egress_cost_bytes(aws, 1'500'000'000), Money::parse("0.135").value());
  EXPECT_TRUE(egress_cost(aws, -3.0).is_zero());
  EXPECT_TRUE(egress_cost(aws, std::nan("")).is_zero());
  EXPECT_TRUE(egress_cost_bytes(aws, -1).is_zero());
  EXPECT_EQ(egress_cost(aws, 1e300).micros(), std::numeric_limits<int64_t>::max());
  BillingRule fluence = kSeedFluence;
  EXPECT_TRUE(egress_cost(fluence, 1e6).is_zero());
}

TEST(BillingTest, VeryLongDurationsDoNotOverflow) {
  const Time l = at(0, 0);
  const Duration century = std::chrono::hours(24 * 365 * 100);
  // $100/h for a century of seconds: 876,000 hours.
  EXPECT_EQ(cost_for_run(per_second(60s), Money::from_dollars(100), l, century),
            Money::from_dollars(87'600'000));
  EXPECT_EQ(cost_for_run(kDocsFluence, Money::from_dollars(100), l, century),
            Money::from_dollars(87'600'000));
  EXPECT_EQ(paid_through(kSeedFluence, l, l + century + 1s), l + century + 1h);
  // Absurd prices saturate instead of wrapping.
  const Money huge = Money::from_micros(std::numeric_limits<int64_t>::max() / 2);
  EXPECT_GT(cost_for_run(per_second(), huge, l, century), huge);
}

TEST(BillingTest, StateAtAgreesWithTheSingleFunctions) {
  const Time l = at(15, 40);
  const Money price = Money::parse("1.27").value();
  const State s = state_at(kDocsFluence, price, l, at(17, 5));
  EXPECT_EQ(s.accrued, accrued(kDocsFluence, price, l, at(17, 5)));
  EXPECT_EQ(s.committed, Money::parse("3.81").value());
  EXPECT_EQ(s.deposit_held, Money::parse("2.54").value());
  EXPECT_EQ(s.paid_through, at(18, 0));
  EXPECT_EQ(s.next_boundary, at(18, 0));
}

TEST(BillingTest, Describe) {
  EXPECT_EQ(describe(per_second(60s)), "per-second, 60s min");
  EXPECT_EQ(describe(per_second()), "per-second");
  EXPECT_EQ(describe(kSeedFluence), "hourly, 3h min");
  EXPECT_EQ(describe(kDocsFluence), "UTC-hourly, 3h deposit");
  BillingRule ten;
  ten.increment = 600s;
  EXPECT_EQ(describe(ten), "10min increments");
}

TEST(BillingTest, NextSlotStartIsOnTheIncrementGridAlone) {
  EXPECT_EQ(next_slot_start(kDocsFluence, at(15, 40)), at(16, 0));
  EXPECT_EQ(next_slot_start(kDocsFluence, at(16, 0)), at(17, 0));  // strictly after
  EXPECT_EQ(next_slot_start(kDocsFluence, at(16, 59, 59)), at(17, 0));
  EXPECT_EQ(next_slot_start(per_second(), at(16, 0)), at(16, 0, 1));
  const Time before_epoch = Time{} - 90min;  // -01:30: the slot starts at -01:00
  EXPECT_EQ(next_slot_start(kDocsFluence, before_epoch), Time{} - 1h);
}

}  // namespace
}  // namespace gpupool::billing
