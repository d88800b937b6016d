#include "operator/core/spend.h"

#include "operator/core/billing.h"

#include <gtest/gtest.h>

#include <chrono>

namespace gpupool::spend {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

Money usd(std::string_view s) {
  return Money::parse(s).value();
}

Time at(int month, int day, int hour, int minute = 0) {
  return sys_days{year{2026} / month / day} + hours(hour) + minutes(minute);
}

BillingRule hourly() {
  BillingRule r;
  r.increment = 1h;
  return r;
}
BillingRule per_second() {
  BillingRule r;
  r.increment = 1s;
  return r;
}

api::GpuInstanceStatus launched(BillingRule rule, std::string price, Time launch) {
  api::GpuInstanceStatus s;
  s.phase = api::InstancePhase::Running;
  s.billing = rule;
  s.price_per_hour = usd(price);
  s.launch_time = launch;
  return s;
}

api::GpuInstance instance(std::string name, api::GpuInstanceStatus st, std::string egress = "0") {
  api::GpuInstance i;
  i.metadata.name = std::move(name);
  i.status = std::move(st);
  if (i.status.billing) i.spec.offer.billing = *i.status.billing;
  if (i.status.price_per_hour) i.spec.offer.price_per_hour = *i.status.price_per_hour;
  i.spec.offer.egress_usd_per_hour = usd(egress);
  return i;
}

TEST(Spend, NotLaunchedCostsNothing) {
  api::GpuInstanceStatus s;
  s.price_per_hour = usd("2");
  const InstanceSpend i = instance_spend(s, Money{}, at(11, 10, 12));
  EXPECT_FALSE(i.billed);
  EXPECT_EQ(i.accrued, Money{});
  EXPECT_EQ(i.burn, Money{});
}

TEST(Spend, RunningHourlyBillsStartedIncrementsAndBurns) {
  const auto s = instance("a", launched(hourly(), "2", at(11, 10, 10)));
  const InstanceSpend i = instance_spend(s, at(11, 10, 11, 30));
  EXPECT_EQ(i.accrued, usd("4"));
  EXPECT_EQ(i.committed, usd("4"));
  EXPECT_EQ(i.burn, usd("2"));
  EXPECT_EQ(i.month, usd("4"));
}

TEST(Spend, EndedInstanceStopsBurningAndAccruing) {
  auto s = launched(per_second(), "3.6", at(11, 10, 10));
  s.ended_at = at(11, 10, 10, 10);
  const InstanceSpend i = instance_spend(s, Money{}, at(11, 12, 0));
  EXPECT_EQ(i.accrued, usd("0.6"));
  EXPECT_EQ(i.burn, Money{});
}

TEST(Spend, MonthBoundaryCountsOnlyThisMonthsPart) {
  // Launched 23:30 on Oct 31, per-second at $3.60/h; now 00:30 Nov 1.
  const auto s = launched(per_second(), "3.6", at(10, 31, 23, 30));
  const InstanceSpend i = instance_spend(s, Money{}, at(11, 1, 0, 30));
  EXPECT_EQ(i.accrued, usd("3.6"));
  EXPECT_EQ(i.month, usd("1.8"));
}

TEST(Spend, IncrementStraddlingMonthCountsInMonthItStarted) {
  // Hourly from 23:30 Oct 31: the 23:30-00:30 hour belongs to October.
  const auto s = launched(hourly(), "2", at(10, 31, 23, 30));
  EXPECT_EQ(instance_spend(s, Money{}, at(11, 1, 0, 10)).month, Money{});
  EXPECT_EQ(instance_spend(s, Money{}, at(11, 1, 0, 40)).month, usd("2"));
}

TEST(Spend, MonthHelpers) {
  EXPECT_EQ(month_of(at(11, 22, 3)), "2026-11");
  EXPECT_EQ(month_start(at(11, 22, 3)), at(11, 1, 0));
  EXPECT_EQ(month_of(at(1, 1, 0)), "2026-01");
}

TEST(SpendLedger, RoundTripsAndRejectsGarbage) {
  SpendLedger l;
  l.total = usd("1.5");
  l.months["2026-11"] = usd("1.5");
  l.folded = {"a-1", "a-2"};
  auto back = parse_ledger(format_ledger(l));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, l);
  EXPECT_TRUE(parse_ledger("").ok());
  EXPECT_FALSE(parse_ledger("{").ok());
  EXPECT_FALSE(parse_ledger(R"({"total": 3})").ok());
  EXPECT_FALSE(parse_ledger(R"({"folded": [1]})").ok());
  EXPECT_FALSE(parse_ledger(R"([1])").ok());
}

TEST(SpendLedger, FoldIsIdempotentPerInstanceAndSplitsByMonth) {
  auto s = launched(per_second(), "3.6", at(10, 31, 23, 30));
  s.ended_at = at(11, 1, 0, 30);
  SpendLedger l;
  EXPECT_TRUE(fold(l, instance("p-1", s), at(11, 2, 0)));
  EXPECT_FALSE(fold(l, instance("p-1", s), at(11, 2, 0)));
  EXPECT_EQ(l.total, usd("3.6"));
  EXPECT_EQ(l.months["2026-10"], usd("1.8"));
  EXPECT_EQ(l.months["2026-11"], usd("1.8"));
  EXPECT_TRUE(was_folded(l, "p-1"));
}

TEST(SpendLedger, SplitsFinalSpendByProviderAndStaysBackwardCompatible) {
  auto a = launched(per_second(), "3.6", at(11, 1, 0));
  a.ended_at = at(11, 1, 1);
  auto b = launched(per_second(), "1.8", at(11, 1, 0));
  b.ended_at = at(11, 1, 1);
  auto ia = instance("p-1", a);
  ia.spec.offer.provider = "fluence-eu";
  auto ib = instance("p-2", b);
  ib.spec.offer.provider = "runpod";
  SpendLedger l;
  ASSERT_TRUE(fold(l, ia, at(11, 2, 0)));
  ASSERT_TRUE(fold(l, ib, at(11, 2, 0)));
  ASSERT_TRUE(fold_amount(l, "orphan/runpod/m-9", {{"2026-11", usd("0.5")}}, "runpod"));
  ASSERT_TRUE(fold_amount(l, "orphan/x", {{"2026-11", usd("0.25")}}));
  EXPECT_FALSE(fold_amount(l, "orphan/runpod/m-9", {{"2026-11", usd("0.5")}}, "runpod"));
  EXPECT_EQ(l.providers["fluence-eu"], usd("3.6"));
  EXPECT_EQ(l.providers["runpod"], usd("2.3"));
  EXPECT_EQ(l.providers[""], usd("0.25"));
  EXPECT_EQ(l.total, usd("6.15"));
  auto back = parse_ledger(format_ledger(l));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, l);
  // A ledger written before the split: no "providers" key, nothing attributed,
  // and formatting it again adds no key.
  const std::string old = R"({"folded":["a-1"],"months":{"2026-11":"1.5"},"total":"1.5"})";
  auto legacy = parse_ledger(old);
  ASSERT_TRUE(legacy.ok());
  EXPECT_TRUE(legacy->providers.empty());
  EXPECT_EQ(format_ledger(*legacy), old);
  EXPECT_FALSE(parse_ledger(R"({"providers": {"a": 1}})").ok());
  EXPECT_FALSE(parse_ledger(R"({"providers": []})").ok());
}

TEST(SpendLedger, FoldedNamesAreBounded) {
  SpendLedger l;
  api::GpuInstanceStatus nothing;
  for (size_t i = 0; i < kLedgerFoldedNames + 5; ++i) {
    ASSERT_TRUE(fold(l, instance("x-" + std::to_string(i), nothing), at(11, 1, 0)));
  }
  EXPECT_EQ(l.folded.size(), kLedgerFoldedNames);
  EXPECT_FALSE(was_folded(l, "x-0"));
  EXPECT_TRUE(was_folded(l, "x-" + std::to_string(kLedgerFoldedNames + 4)));
}

TEST(Spend, PoolTotalsIncludeLedgerAndLiveInstances) {
  std::vector<api::GpuInstance> insts(2);
  insts[0].status = launched(hourly(), "2", at(11, 10, 10));
  insts[1].status = launched(hourly(), "1", at(11, 10, 11));
  insts[1].status.ended_at = at(11, 10, 11, 30);
  SpendLedger l;
  l.total = usd("10");
  l.months["2026-11"] = usd("7");
  const api::SpendStatus s = pool_spend(insts, l, at(11, 10, 12, 15));
  EXPECT_EQ(s.accrued, usd("10") + usd("6") + usd("1"));
  EXPECT_EQ(s.committed, s.accrued);
  EXPECT_EQ(s.hourly_burn, usd("2"));
  EXPECT_EQ(s.month_to_date, usd("7") + usd("6") + usd("1"));
  EXPECT_EQ(s.month, "2026-11");
}

// Issue 8, defect 2: between folding an ended instance into the ledger and
// removing its finalizer, the instance was counted twice (3.81 -> 7.62).
TEST(Spend, AnInstanceFoldedIntoTheLedgerIsNotCountedAgain) {
  BillingRule seed;
  seed.minimum = 3h;
  seed.increment = 1h;
  auto st = launched(seed, "1.27", at(11, 10, 10));
  st.ended_at = at(11, 10, 10, 30);
  st.phase = api::InstancePhase::Terminated;
  const api::GpuInstance gone = instance("p-1", st);
  SpendLedger l;
  const Time now = at(11, 10, 11);
  EXPECT_EQ(pool_spend({gone}, l, now).accrued, usd("3.81"));
  ASSERT_TRUE(fold(l, gone, now));
  const api::SpendStatus s = pool_spend({gone}, l, now);  // object still listed
  EXPECT_EQ(s.accrued, usd("3.81"));
  EXPECT_EQ(s.month_to_date, usd("3.81"));
  EXPECT_EQ(pool_spend({}, l, now).accrued, usd("3.81"));
}

// Issue 8, defect 1: the projection added burn × (month end − now) on top of
// month-to-date, which already holds the whole minimum charge.
TEST(Spend, ProjectionCountsPrepaidTimeOnce) {
  BillingRule seed;
  seed.minimum = 3h;
  seed.increment = 1h;
  // Launched 20:00 on Nov 30; month ends in 4 h. MTD holds 3 h; one more
  // hour (23:00-24:00) starts before the month end.
  const auto a = instance("a", launched(seed, "1.27", at(11, 30, 20)));
  const Time now = at(11, 30, 20, 10);
  const api::SpendStatus s = pool_spend({a}, {}, now);
  EXPECT_EQ(s.month_to_date, usd("3.81"));
  EXPECT_EQ(s.projected_month, usd("5.08"));  // not 3.81 + 1.27 × 3h50m
  EXPECT_EQ(s.hourly_burn, usd("1.27"));
  // A parked machine ends before its next increment: nothing more this month.
  auto parked = a;
  parked.status.phase = api::InstancePhase::Parked;
  EXPECT_EQ(pool_spend({parked}, {}, now).projected_month, usd("3.81"));
  EXPECT_EQ(pool_spend({parked}, {}, now).hourly_burn, Money{});
}

// Issue 8, defect 3: egress counts in burn, accrued spend and the projection,
// not only when new machines are planned.
TEST(Spend, EgressCountsInBurnAccruedAndProjection) {
  const auto a = instance("a", launched(per_second(), "1.80", at(11, 30, 20)), "0.24");
  const Time now = at(11, 30, 22);
  const api::SpendStatus s = pool_spend({a}, {}, now);
  EXPECT_EQ(s.hourly_burn, usd("2.04"));
  EXPECT_EQ(s.accrued, usd("4.08"));  // 2 h × (1.80 + 0.24)
  EXPECT_EQ(s.month_to_date, usd("4.08"));
  EXPECT_EQ(s.projected_month, usd("8.16"));  // + 2 h to midnight
  SpendLedger l;
  auto ended = a;
  ended.status.ended_at = now;
  ASSERT_TRUE(fold(l, ended, now));
  EXPECT_EQ(l.total, usd("4.08"));
}

TEST(Spend, CostBetweenMatchesIncrementsThatStartLater) {
  BillingRule seed;
  seed.minimum = 3h;
  seed.increment = 1h;
  const Money p = usd("1.27");
  const Time l = at(11, 30, 10);
  // Inside the minimum nothing new starts before 13:00.
  EXPECT_EQ(billing::cost_between(seed, p, Money{}, l, at(11, 30, 11), at(11, 30, 13)), Money{});
  EXPECT_EQ(billing::cost_between(seed, p, Money{}, l, at(11, 30, 11), at(11, 30, 13, 1)), p);
  // Not launched: priced as a launch now, minimum included.
  EXPECT_EQ(billing::cost_between(seed, p, Money{}, std::nullopt, at(11, 30, 11), at(11, 30, 12)),
            usd("3.81"));
}

}  // namespace
}  // namespace gpupool::spend
