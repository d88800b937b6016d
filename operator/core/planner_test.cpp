#include "operator/core/planner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

namespace gpupool::planner {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

Money usd(std::string_view s) {
  return Money::parse(s).value();
}

Time at(int day, int hour, int minute = 0) {
  using namespace std::chrono;
  return sys_days{year{2026} / November / day} + hours(hour) + minutes(minute);
}

BillingRule seed_fluence() {
  BillingRule r;
  r.minimum = 3h;
  r.increment = 1h;
  return r;
}
BillingRule per_second(Duration min = 0s, std::string_view egress = "0") {
  BillingRule r;
  r.minimum = min;
  r.increment = 1s;
  r.egress_per_gb = usd(egress);
  return r;
}

Offer offer(std::string provider, std::string price, BillingRule billing,
            std::string model = "L40S", std::string region = "r1") {
  Offer o;
  o.provider = provider;
  o.provider_type = provider;
  o.id = provider + "-" + model;
  o.region = std::move(region);
  o.gpu_model = std::move(model);
  o.price_per_hour = usd(price);
  o.billing = billing;
  return o;
}

api::GpuPoolSpec pool(std::vector<std::string> providers) {
  api::GpuPoolSpec s;
  s.gpu.models = {{"L40S", 1.0}};
  for (auto& p : providers)
    s.providers.push_back({std::move(p), std::nullopt, {}});
  return s;
}

Request request(std::vector<Offer> offers, int machines = 1, double hours = 24) {
  Request r;
  r.machines = machines;
  r.offers = std::move(offers);
  r.now = at(22, 15, 40);
  r.lifetime_hours = hours;
  return r;
}

const RankedOffer& find(const Plan& p, std::string_view provider) {
  for (const RankedOffer& r : p.offers) {
    if (r.offer.provider == provider) return r;
  }
  throw std::runtime_error("no offer");
}

std::string chosen(const Plan& p) {
  return p.choices.empty() ? "" : p.offers[p.choices[0].offer].offer.provider;
}

TEST(PlannerTest, RejectsInvalidInputWithAPath) {
  const auto err = [](const api::GpuPoolSpec& s, const Request& r) {
    auto res = plan(s, r);
    EXPECT_FALSE(res.ok());
    return res.ok() ? std::string() : res.error().message;
  };
  const Request ok = request({});
  api::GpuPoolSpec s = pool({"a"});
  Request neg = ok;
  neg.machines = -1;
  EXPECT_THAT(err(s, neg), HasSubstr("machines: must be >= 0"));
  Request zero = ok;
  zero.lifetime_hours = 0;
  EXPECT_THAT(err(s, zero), HasSubstr("lifetime"));
  Request nan = ok;
  nan.lifetime_hours = std::nan("");
  EXPECT_THAT(err(s, nan), HasSubstr("lifetime"));
  api::GpuPoolSpec bad = s;
  bad.gpu.models.clear();
  EXPECT_THAT(err(bad, ok), HasSubstr("spec.gpu.models"));
  bad = s;
  bad.gpu.models[0].throughput_weight = 0;
  EXPECT_THAT(err(bad, ok), HasSubstr("spec.gpu.models[0].throughputWeight"));
  bad = s;
  bad.gpu.count = 0;
  EXPECT_THAT(err(bad, ok), HasSubstr("spec.gpu.count"));
  bad = s;
  bad.egress.gb_per_gpu_hour = -1;
  EXPECT_THAT(err(bad, ok), HasSubstr("spec.egress.gbPerGpuHour"));
  bad = s;
  bad.providers.clear();
  EXPECT_THAT(err(bad, ok), HasSubstr("spec.providers"));
  bad = s;
  bad.planning.expected_lifetime_hours = -2;
  Request from_spec = ok;
  from_spec.lifetime_hours.reset();
  EXPECT_THAT(err(bad, from_spec), HasSubstr("spec.planning.expectedLifetimeHours"));
}

TEST(PlannerTest, LifetimeDefaultsTo24Hours) {
  Request r = request({offer("a", "1", per_second())});
  r.lifetime_hours.reset();
  auto p = plan(pool({"a"}), r);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->lifetime_defaulted);
  EXPECT_EQ(p->lifetime_hours, kDefaultLifetimeHours);
  EXPECT_EQ(p->offers[0].compute_cost, usd("24"));
  api::GpuPoolSpec s = pool({"a"});
  s.planning.expected_lifetime_hours = 2;
  p = plan(s, r);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->lifetime_defaulted);
  EXPECT_EQ(p->offers[0].compute_cost, usd("2"));
}

// (a) and (b): a per-second provider against a cheaper one with a 3-hour minimum.
TEST(PlannerTest, PerSecondBeatsThreeHourMinimumForAShortNeed) {
  const std::vector<Offer> offers = {offer("fluence", "1.27", seed_fluence()),
                                     offer("aws", "1.86", per_second(60s))};
  auto p = plan(pool({"fluence", "aws"}), request(offers, 1, 20.0 / 60.0));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(chosen(*p), "aws");
  EXPECT_EQ(find(*p, "aws").total_cost, usd("0.62"));
  EXPECT_EQ(find(*p, "fluence").total_cost, usd("3.81"));
  EXPECT_THAT(p->choices[0].reason, HasSubstr("20min"));
  EXPECT_THAT(p->choices[0].reason, HasSubstr("$0.62"));
}

TEST(PlannerTest, ThreeHourMinimumProviderWinsALongNeed) {
  const std::vector<Offer> offers = {offer("fluence", "1.27", seed_fluence()),
                                     offer("aws", "1.86", per_second(60s))};
  auto p = plan(pool({"aws", "fluence"}), request(offers, 1, 24));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(chosen(*p), "fluence");
  EXPECT_EQ(find(*p, "fluence").total_cost, usd("30.48"));
  EXPECT_EQ(find(*p, "aws").total_cost, usd("44.64"));
  EXPECT_THAT(p->choices[0].reason, HasSubstr("$30.48"));
  EXPECT_THAT(p->choices[0].reason, HasSubstr("next: aws"));
}

// (c)
TEST(PlannerTest, EgressMakesALowerListPriceLose) {
  const std::vector<Offer> offers = {offer("fluence", "1.27", seed_fluence()),
                                     offer("aws", "1.20", per_second(60s, "0.09"))};
  api::GpuPoolSpec s = pool({"aws", "fluence"});
  auto quiet = plan(s, request(offers));
  ASSERT_TRUE(quiet.ok());
  EXPECT_EQ(chosen(*quiet), "aws");  // without egress the lower list price wins

  s.egress.gb_per_gpu_hour = 5;
  auto p = plan(s, request(offers));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(chosen(*p), "fluence");
  const RankedOffer& aws = find(*p, "aws");
  EXPECT_DOUBLE_EQ(aws.egress_gb, 120.0);
  EXPECT_EQ(aws.egress_cost, usd("10.80"));
  EXPECT_EQ(aws.total_cost, usd("39.60"));
  EXPECT_EQ(aws.hourly_burn, usd("1.65"));
}

// (d)
TEST(PlannerTest, ThroughputWeightComparesL40WithL40S) {
  const std::vector<Offer> offers = {offer("a", "1.27", per_second(), "L40S"),
                                     offer("b", "1.00", per_second(), "L40")};
  api::GpuPoolSpec s = pool({"a", "b"});
  s.gpu.models = {{"L40S", 1.0}, {"L40", 0.7}};
  auto slow = plan(s, request(offers));
  ASSERT_TRUE(slow.ok());
  EXPECT_EQ(chosen(*slow), "a");  // $1.00 / 0.7 = $1.43 per L40S-equivalent > $1.27
  EXPECT_NEAR(find(*slow, "b").cost_per_unit_hour, 1.0 / 0.7, 1e-9);
  EXPECT_EQ(slow->reference_model, "L40S");

  s.gpu.models[1].throughput_weight = 0.9;  // $1.11 per L40S-equivalent < $1.27
  auto fast = plan(s, request(offers));
  ASSERT_TRUE(fast.ok());
  EXPECT_EQ(chosen(*fast), "b");
  EXPECT_THAT(fast->choices[0].reason, HasSubstr("per L40S-eq GPU-hour"));
}

TEST(PlannerTest, ModelAndShapeMustMatch) {
  Offer l4 = offer("a", "0.5", per_second(), "L4");
  Offer eight = offer("a", "8", per_second(), "l40s");
  eight.id = "eight";
  eight.gpu_count = 8;
  Offer other = offer("zzz", "0.1", per_second());
  auto p = plan(pool({"a"}), request({l4, eight, other}));
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->choices.empty());
  for (const RankedOffer& r : p->offers)
    EXPECT_FALSE(r.eligible);
  EXPECT_THAT(p->offers[0].reasons[0] + p->offers[1].reasons[0] + p->offers[2].reasons[0],
              HasSubstr("GPU model L4 not accepted (pool accepts L40S)"));
  EXPECT_THAT(find(*p, "zzz").reasons[0], HasSubstr("not in the pool's providers"));
  EXPECT_FALSE(p->shortfall.empty());
  EXPECT_THAT(p->shortfall, HasSubstr("no eligible offer"));
}

// (e)
TEST(PlannerTest, CapRegionReliabilityAndSpotExclusionsCarryReasons) {
  Offer capped = offer("capped", "1.50", per_second());
  Offer far = offer("far", "0.50", per_second(), "L40S", "eu-west");
  Offer nowhere = offer("nowhere", "0.50", per_second(), "L40S", "");
  Offer community = offer("community", "0.40", per_second());
  community.tier = ReliabilityTier::Community;
  Offer spot = offer("spot", "0.30", per_second());
  spot.spot = true;
  Offer good = offer("good", "1.90", per_second());
  api::GpuPoolSpec s = pool({"capped", "far", "nowhere", "community", "spot", "good"});
  s.providers[0].max_price_per_gpu_hour = usd("1.25");
  s.providers[1].regions = {"us-east"};
  s.providers[2].regions = {"us-east"};
  auto p = plan(s, request({capped, far, nowhere, community, spot, good}));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(chosen(*p), "good");
  EXPECT_TRUE(p->offers[0].eligible);
  EXPECT_THAT(find(*p, "capped").reasons,
              ::testing::ElementsAre("$1.50/GPU-h is over the capped cap of $1.25/GPU-h"));
  EXPECT_THAT(find(*p, "far").reasons,
              ::testing::ElementsAre("region eu-west; pool allows only us-east"));
  EXPECT_THAT(find(*p, "nowhere").reasons[0], HasSubstr("region unknown"));
  EXPECT_THAT(find(*p, "community").reasons[0], HasSubstr("pool requires Datacenter"));
  EXPECT_THAT(find(*p, "spot").reasons[0], HasSubstr("does not allow spot"));

  // Allowing them makes them win.
  s.reliability = api::ReliabilityRequirement::Any;
  s.spot.allowed = true;
  auto q = plan(s, request({capped, far, nowhere, community, spot, good}));
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(chosen(*q), "spot");
}

TEST(PlannerTest, CapacityUnavailabilityPausedQuotaAndMalformedOffers) {
  Offer none = offer("none", "0.1", per_second());
  none.capacity_hint = 0;
  Offer failed = offer("failed", "0.2", per_second());
  Offer paused = offer("paused", "0.3", per_second());
  Offer quota = offer("quota", "0.4", per_second());
  Offer broken = offer("broken", "0.01", per_second());
  broken.billing.increment = 0s;
  Offer fine = offer("fine", "5", per_second());
  Request r = request({none, failed, paused, quota, broken, fine});
  r.unavailable.insert(offer_key(failed));
  r.providers["paused"].paused = true;
  r.providers["quota"].max_instances = 3;
  r.providers["quota"].instances = 3;
  auto p = plan(pool({"none", "failed", "paused", "quota", "broken", "fine"}), r);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(chosen(*p), "fine");
  EXPECT_THAT(find(*p, "none").reasons[0], HasSubstr("no capacity"));
  EXPECT_THAT(find(*p, "failed").reasons[0], HasSubstr("marked unavailable"));
  EXPECT_THAT(find(*p, "paused").reasons[0], HasSubstr("paused"));
  EXPECT_THAT(find(*p, "quota").reasons[0], HasSubstr("quota full (3/3 instances)"));
  EXPECT_THAT(find(*p, "broken").reasons[0], HasSubstr("malformed offer: billing increment"));
  EXPECT_EQ(p->offers.back().offer.provider, "broken");  // cannot be priced: ranked last
  EXPECT_EQ(offer_key(failed), "failed/failed-L40S/r1");
}

// Issue 8, defect 7: an egress price of 9e12 $/GB wrapped the offer's total
// to a huge negative number and the planner bought it.
TEST(PlannerTest, OffersWithAbsurdPricesAreMalformedNotBargains) {
  api::GpuPoolSpec s = pool({"absurd", "huge", "fine"});
  s.egress.gb_per_gpu_hour = 1;
  s.budget.max_usd_per_hour = usd("100");
  Offer absurd = offer("absurd", "0.5", per_second(0s, "9000000000000"));
  Offer huge = offer("huge", "4611686018427.387905", per_second());
  huge.gpu_count = 1;
  Offer fine = offer("fine", "2", per_second());
  auto p = plan(s, request({absurd, huge, fine}));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(chosen(*p), "fine");
  EXPECT_THAT(find(*p, "absurd").reasons[0], HasSubstr("malformed offer: egress price"));
  EXPECT_THAT(find(*p, "huge").reasons[0], HasSubstr("malformed offer: price"));
  for (const RankedOffer& r : p->offers)
    EXPECT_GE(r.total_cost, Money()) << r.key;
}

// (f)
TEST(PlannerTest, HourlyBudgetCapBlocksWithAReason) {
  api::GpuPoolSpec s = pool({"a"});
  s.budget.max_usd_per_hour = usd("2.00");
  Request r = request({offer("a", "1.27", per_second())});
  r.spend.hourly_burn = usd("1.00");
  auto p = plan(s, r);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->choices.empty());
  EXPECT_THAT(p->offers[0].reasons[0],
              HasSubstr("budget: hourly burn would be $2.27/h, over the $2.00/h cap"));
  EXPECT_THAT(p->shortfall, HasSubstr("1 of 1 machine(s) not placed"));
  EXPECT_EQ(p->projected_hourly, usd("1.00"));

  // Room for two of three machines.
  r.spend.hourly_burn = Money();
  s.budget.max_usd_per_hour = usd("3.00");
  r.machines = 3;
  p = plan(s, r);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->placed, 2);
  EXPECT_THAT(p->shortfall, HasSubstr("hourly budget cap $3.00/h"));
  EXPECT_EQ(p->projected_hourly, usd("2.54"));
}

TEST(PlannerTest, MonthlyBudgetCapCountsToTheEndOfTheUtcMonth) {
  api::GpuPoolSpec s = pool({"a"});
  Request r = request({offer("a", "1.00", per_second())});
  r.now = at(30, 12);  // 12 hours before December
  // The kept machines' month total (spend::pool_spend): 100 + 2 × 12.
  r.spend.projected_month = usd("124");
  r.spend.hourly_burn = usd("2");
  s.budget.max_usd_per_month = usd("135.99");
  auto p = plan(s, r);
  ASSERT_TRUE(p.ok());
  // 100 + 2 × 12 + 1 × 12 = 136 > 135.99
  EXPECT_THAT(p->offers[0].reasons[0],
              HasSubstr("budget: 2026-11 would project $136.00, over the $135.99 monthly cap"));
  s.budget.max_usd_per_month = usd("136");
  p = plan(s, r);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->placed, 1);
  EXPECT_EQ(p->projected_month, usd("136"));
  EXPECT_EQ(p->month_end, Time(std::chrono::sys_days{std::chrono::year{2026} / 12 / 1}));
}

TEST(PlannerTest, MonthEnd) {
  using namespace std::chrono;
  EXPECT_EQ(month_end(at(22, 15)), Time(sys_days{year{2026} / 12 / 1}));
  const Time dec31 = sys_days{year{2026} / 12 / 31} + 23h + 59min + 59s;
  EXPECT_EQ(month_end(dec31), Time(sys_days{year{2027} / 1 / 1}));
  EXPECT_EQ(month_end(Time(sys_days{year{2027} / 1 / 1})), Time(sys_days{year{2027} / 2 / 1}));
}

// (g)
TEST(PlannerTest, PreferenceOrderBreaksAnExactTie) {
  const std::vector<Offer> offers = {offer("x", "1.00", per_second()),
                                     offer("y", "1.00", per_second())};
  auto p = plan(pool({"y", "x"}), request(offers));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(chosen(*p), "y");
  EXPECT_THAT(p->choices[0].reason, HasSubstr("tied with x"));
  p = plan(pool({"x", "y"}), request(offers));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(chosen(*p), "x");
}

// (h)
TEST(PlannerTest, CapacityHintSpillsToTheNextOffer) {
  Offer cheap = offer("cheap", "0.80", per_second());
  cheap.capacity_hint = 2;
  Offer next = offer("next", "0.90", per_second());
  auto p = plan(pool({"cheap", "next"}), request({cheap, next}, 3));
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->choices.size(), 2u);
  EXPECT_EQ(p->choices[0].machines, 2);
  EXPECT_EQ(p->offers[p->choices[0].offer].offer.provider, "cheap");
  EXPECT_EQ(p->choices[1].machines, 1);
  EXPECT_EQ(p->offers[p->choices[1].offer].offer.provider, "next");
  EXPECT_THAT(p->choices[1].reason, HasSubstr("capacity for 2 machine(s)"));
  EXPECT_EQ(p->placed, 3);
  EXPECT_TRUE(p->shortfall.empty());
  EXPECT_EQ(p->added_hourly, usd("2.50"));
  EXPECT_EQ(p->expected_total, usd("60.00"));

  // Quotas spill too.
  Request r = request({offer("a", "0.5", per_second()), offer("b", "0.6", per_second())}, 3);
  r.providers["a"].max_gpus = 2;
  p = plan(pool({"a", "b"}), r);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->choices.size(), 2u);
  EXPECT_EQ(p->choices[0].machines, 2);
  EXPECT_THAT(p->choices[1].reason, HasSubstr("provider quota of 2 GPUs"));
}

TEST(PlannerTest, ZeroMachinesStillRanks) {
  auto p = plan(pool({"a", "b"}),
                request({offer("b", "2", per_second()), offer("a", "1", per_second())}, 0));
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->choices.empty());
  EXPECT_TRUE(p->shortfall.empty());
  EXPECT_EQ(p->offers[0].offer.provider, "a");
}

TEST(PlannerTest, ClockAlignedRulesArePricedFromNow) {
  BillingRule wall;
  wall.increment = 1h;
  wall.alignment = BillingAlignment::WallClock;
  Request r = request({offer("a", "1.00", wall)}, 1, 0.5);
  r.now = at(22, 15, 40);  // 30 minutes from 15:40 crosses 16:00: two clock hours
  auto p = plan(pool({"a"}), r);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->offers[0].compute_cost, usd("2"));
  r.now = at(22, 15, 0);
  p = plan(pool({"a"}), r);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->offers[0].compute_cost, usd("1"));
}

// Bridging: per-second until the clock hour starts, then the clock-hour offer.
TEST(PlannerTest, PerSecondBridgesToAClockHourOfferBoughtMidHour) {
  BillingRule wall;  // Fluence's documented rule: UTC clock hours
  wall.increment = 1h;
  wall.alignment = BillingAlignment::WallClock;
  wall.minimum = 3h;
  wall.minimum_kind = MinimumKind::Deposit;
  const std::vector<Offer> offers = {offer("fluence", "1.27", wall),
                                     offer("aws", "1.86", per_second())};
  api::GpuPoolSpec spec = pool({"fluence", "aws"});
  spec.lifecycle.min_park_seconds = 600;
  spec.lifecycle.consolidation_lead_seconds = 600;
  Request r = request(offers, 1, 4);  // 15:40, four hours
  auto p = plan(spec, r);
  ASSERT_TRUE(p.ok());
  // fluence alone pays 15:00-20:00 ($6.35); aws 15:40-16:10 (the hand-over
  // while fluence boots) and fluence 16:00-20:00: $0.93 + $5.08.
  EXPECT_EQ(chosen(*p), "aws");
  const RankedOffer& aws = find(*p, "aws");
  EXPECT_EQ(aws.total_cost, usd("6.01"));
  ASSERT_TRUE(aws.bridge.has_value());
  EXPECT_EQ(aws.bridge->to, "fluence/fluence-L40S/r1");
  EXPECT_EQ(aws.bridge->from, at(22, 16, 0));
  EXPECT_EQ(find(*p, "fluence").total_cost, usd("6.35"));
  EXPECT_THAT(p->choices[0].reason, HasSubstr("a bridge: aws until fluence/fluence-L40S/r1"));

  // 15:10: fifty minutes of aws cost more than the rest of fluence's hour.
  r.now = at(22, 15, 10);
  p = plan(spec, r);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(chosen(*p), "fluence");

  // A need that ends before the hand-over is aws alone, unbridged.
  r.now = at(22, 15, 40);
  r.lifetime_hours = 0.25;
  p = plan(spec, r);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(chosen(*p), "aws");
  EXPECT_FALSE(find(*p, "aws").bridge.has_value());

  // Without consolidation nobody makes the hand-over; list-price ranking
  // never bridges.
  r.lifetime_hours = 4;
  spec.lifecycle.consolidation_lead_seconds = 0;
  p = plan(spec, r);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(chosen(*p), "fluence");
  EXPECT_FALSE(find(*p, "aws").bridge.has_value());
  spec.lifecycle.consolidation_lead_seconds = 600;
  r.ranking = Request::Ranking::ListPrice;
  p = plan(spec, r);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(find(*p, "aws").bridge.has_value());
}

}  // namespace
}  // namespace gpupool::planner
