// The simulator end to end: the real controllers on a virtual clock. The
// assertions are on the outcome (served demand, spend, invariants), which a
// broken driver, market or controller would change.
#include "operator/sim/simulation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "operator/sim/plot.h"
#include "operator/sim/report.h"

namespace gpupool::sim {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

Money usd(std::string_view s) {
  return Money::parse(s).value();
}

Offer offer(std::string provider, std::string id, std::string price, BillingRule rule = {}) {
  Offer o;
  o.provider = provider;
  o.provider_type = "fake";
  o.id = std::move(id);
  o.region = "r1";
  o.gpu_model = "L40S";
  o.price_per_hour = usd(price);
  o.billing = rule;
  return o;
}

BillingRule three_hour_minimum() {
  BillingRule r;
  r.minimum = 3h;
  r.increment = 1h;
  return r;
}

api::GpuPool pool(std::vector<std::string> providers, int max = 10) {
  api::GpuPool p;
  p.metadata.name = "web";
  p.metadata.namespace_ = "default";
  p.spec.gpu.models = {api::GpuModelSpec{"L40S", 1.0}};
  p.spec.replicas.min = 0;
  p.spec.replicas.max = max;
  for (auto& n : providers)
    p.spec.providers.push_back(api::PoolProviderRef{n, std::nullopt, {}});
  p.spec.lifecycle.park_margin_seconds = 60;
  p.spec.lifecycle.adoption_grace_seconds = 60;
  return p;
}

SimProvider provider(std::string name, std::vector<Offer> offers, Duration boot = 120s) {
  SimProvider p;
  p.name = std::move(name);
  p.type = "fake";
  p.offers = std::move(offers);
  p.boot = boot;
  return p;
}

Trace trace(std::vector<TraceStep> steps) {
  Trace t;
  t.steps = std::move(steps);
  return t;
}

// Six bursty hours: short spikes over a base of one machine (kept short:
// these tests run under ASan).
Trace bursty() {
  std::vector<TraceStep> s;
  int64_t t = 0;
  const double levels[] = {1, 4, 1, 2, 6, 1, 0, 3, 1, 5, 2, 0};
  for (int i = 0; i < 8; ++i) {
    s.push_back({t, levels[i % 12]});
    t += i % 3 == 1 ? 900 : 3600;
  }
  s.push_back({t, 0});
  return trace(s);
}

Config base() {
  Config c;
  c.pool = pool({"cheap", "dear"});
  c.providers = {provider("cheap", {offer("cheap", "a", "1")}),
                 provider("dear", {offer("dear", "b", "2")})};
  return c;
}

TEST(SimulationTest, ServedIsDemandCoveredByReadyMachinesOverTime) {
  // 2 GPUs for an hour, then nothing for an hour. Machines take 120 s from
  // create to Running, so the first 120 s of demand go unserved:
  // served = 2 x 3480 s = 1.9333 GPU-h of the 2 demanded.
  Config c = base();
  c.trace = trace({{0, 2}, {3600, 0}, {7200, 0}});
  auto r = simulate(c);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_THAT(r->violations, ::testing::IsEmpty());
  EXPECT_DOUBLE_EQ(r->demanded_gpu_hours, 2.0);
  // Within one 2 s status poll of the hand-computed figures.
  EXPECT_NEAR(r->served_gpu_hours, 2.0 * 3480 / 3600, 2.0 * 2 / 3600 + 1e-9);
  EXPECT_NEAR(r->unserved_gpu_hours, 2.0 * 120 / 3600, 2.0 * 2 / 3600 + 1e-9);
  EXPECT_EQ(r->instances_launched, 2);
  EXPECT_EQ(r->by_provider.at("cheap").launched, 2);
  EXPECT_EQ(r->by_provider.at("dear").launched, 0);
  // Per-second at $1/h: the hour of demand plus the autoscaler's 300 s
  // scale-down stabilisation, then parked and kept warm for minParkSeconds
  // (600 s): 2 x 4500 s, each machine then ended within one scaling period
  // (15 s).
  EXPECT_GE(r->spend, usd("2.5"));
  EXPECT_LE(r->spend, Money::parse("1")->for_duration(2 * (4500s + 15s)));
  EXPECT_EQ(r->recorded_spend, r->spend);
  // The bound: 2 machines of "cheap" for exactly the hour.
  EXPECT_EQ(r->bound.total, usd("2"));
}

TEST(SimulationTest, EndpointMachinesServeOnceTheirHealthCheckPasses) {
  // The same hour in Endpoint mode: a machine is Ready only after a health
  // check, which the simulated containers pass as soon as they run, so the
  // figures are those of Node mode and no machine is replaced for failing it.
  Config c = base();
  c.pool.spec.usage.mode = api::UsageMode::Endpoint;
  c.pool.spec.usage.endpoint.image = "vllm/vllm-openai:v0.6.3";
  c.trace = trace({{0, 2}, {3600, 0}, {7200, 0}});
  auto r = simulate(c);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_THAT(r->violations, ::testing::IsEmpty());
  EXPECT_NEAR(r->served_gpu_hours, 2.0 * 3480 / 3600, 2.0 * 2 / 3600 + 1e-9);
  EXPECT_EQ(r->instances_launched, 2);
}

TEST(SimulationTest, ProviderCapacitySpillsToTheNextOffer) {
  Config c = base();
  c.providers[0].capacity = 1;
  c.trace = trace({{0, 3}, {3600, 0}});
  auto r = simulate(c);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_THAT(r->violations, ::testing::IsEmpty());
  EXPECT_EQ(r->by_provider.at("cheap").launched, 1);
  EXPECT_EQ(r->by_provider.at("dear").launched, 2);
  EXPECT_EQ(r->bound.total, usd("5"));  // 1 x $1 + 2 x $2 for the hour
}

TEST(SimulationTest, SameSeedSameJsonByteForByte) {
  Config c = base();
  c.trace = bursty();
  c.crash_every = 1800s;
  c.providers[0].no_capacity_rate = 0.2;
  c.seed = 42;
  auto a = simulate(c);
  auto b = simulate(c);
  ASSERT_TRUE(a.ok() && b.ok());
  ReportInfo info{"default/web", 42, -1};
  EXPECT_EQ(render_json(*a, info), render_json(*b, info));
  EXPECT_EQ(render_svg(*a, info), render_svg(*b, info));
  EXPECT_GT(a->by_provider.at("cheap").no_capacity_refusals, 0);
}

TEST(SimulationTest, CrashesKeepEveryInvariant) {
  Config c = base();
  c.trace = bursty();
  c.providers[0].offers = {offer("cheap", "a", "1", three_hour_minimum())};
  c.pool.spec.budget.max_usd_per_hour = usd("9");
  for (uint64_t seed : {1u, 2u, 3u}) {
    c.seed = seed;
    c.crash_every = 600s;
    auto r = simulate(c);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_THAT(r->violations, ::testing::IsEmpty()) << "seed " << seed;
    EXPECT_GT(r->crashes, 15) << "seed " << seed;
    EXPECT_EQ(r->recorded_spend, r->spend) << "seed " << seed;
    EXPECT_GT(r->served_gpu_hours, 0.9 * r->demanded_gpu_hours) << "seed " << seed;
  }
}

TEST(SimulationTest, ReportsNameEveryField) {
  Config c = base();
  c.trace = trace({{0, 1}, {600, 0}});
  auto r = simulate(c);
  ASSERT_TRUE(r.ok());
  const std::string json = render_json(*r, ReportInfo{"default/web", 1, -1});
  for (const char* field :
       {"spend_usd", "demanded_gpu_hours", "served_gpu_hours", "unserved_gpu_hours",
        "lower_bound_usd", "paid_idle_gpu_hours", "instances_launched", "spend_by_provider"}) {
    EXPECT_THAT(json, HasSubstr(std::string("\"") + field + "\"")) << field;
  }
  const std::string text = render_text(*r, ReportInfo{"default/web", 1, 0.5});
  EXPECT_THAT(text, HasSubstr("invariants   ok"));
  EXPECT_THAT(render_svg(*r, ReportInfo{"default/web", 1, -1}), HasSubstr("<svg"));
}

TEST(SimulationTest, SingleProviderBuysOnlyThere) {
  Config c = base();
  c.policy.kind = PolicyChoice::Kind::SingleProvider;
  c.policy.provider = "dear";
  c.trace = trace({{0, 2}, {3600, 0}});
  auto r = simulate(c);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->by_provider.at("cheap").launched, 0);
  EXPECT_EQ(r->by_provider.at("dear").launched, 2);
  EXPECT_EQ(r->policy, "single-provider:dear");
  c.policy.provider = "nowhere";
  EXPECT_FALSE(simulate(c).ok());
}

TEST(SimulationTest, ListPriceBaselinePaysMinimumsOnShortBurstsTheDefaultAvoids) {
  // "min3h" is cheaper per hour ($0.70) but bills 3 hours at launch; "flex"
  // is $1.00 per second. Demand: 20-minute bursts of 2 GPUs every 2 hours.
  // The list-price baseline buys min3h for every burst (and ends the machines
  // 10 minutes after, so the next burst buys again); the operator learns the
  // bursts are short and buys per-second, and re-uses paid time.
  Config c;
  c.pool = pool({"min3h", "flex"});
  c.providers = {provider("min3h", {offer("min3h", "m", "0.70", three_hour_minimum())}),
                 provider("flex", {offer("flex", "f", "1.00")})};
  std::vector<TraceStep> steps;
  for (int i = 0; i < 12; ++i) {
    steps.push_back({i * 7200, 2});
    steps.push_back({i * 7200 + 1200, 0});
  }
  steps.push_back({12 * 7200, 0});
  c.trace = trace(steps);
  auto def = simulate(c);
  c.policy.kind = PolicyChoice::Kind::CheapestListPrice;
  auto clp = simulate(c);
  ASSERT_TRUE(def.ok() && clp.ok());
  EXPECT_THAT(def->violations, ::testing::IsEmpty());
  EXPECT_THAT(clp->violations, ::testing::IsEmpty());
  EXPECT_EQ(clp->by_provider.at("flex").launched, 0);
  // 12 bursts x 2 machines x 3 h x $0.70.
  EXPECT_EQ(clp->spend, usd("50.40"));
  EXPECT_LT(def->spend, clp->spend);
  EXPECT_GT(def->by_provider.at("flex").launched, 0);
  EXPECT_GE(def->served_gpu_hours, clp->served_gpu_hours * 0.999);
  EXPECT_EQ(def->bound.total, clp->bound.total);  // the bound ignores the policy
}

TEST(SimulationTest, PerSecondMachinesBridgeToTheClockHourOfferBoughtMidHour) {
  // "clock" bills whole UTC hours at $1.00; "flex" bills per second at $1.50.
  // 2 GPUs from 00:40 to 03:40. Bought at 00:40, clock pays 00:00-04:00 ($4
  // a machine). The operator bridges: flex until clock's 01:00 slot starts,
  // clock from then (about $0.60 + $3 a machine).
  BillingRule clock_hours;
  clock_hours.increment = 1h;
  clock_hours.alignment = BillingAlignment::WallClock;
  Config c;
  c.pool = pool({"clock", "flex"});
  c.pool.spec.planning.expected_lifetime_hours = 3;
  c.providers = {provider("clock", {offer("clock", "c", "1.00", clock_hours)}),
                 provider("flex", {offer("flex", "f", "1.50")})};
  c.trace = trace({{0, 0}, {2400, 2}, {13200, 0}, {18000, 0}});
  auto bridged = simulate(c);
  ASSERT_TRUE(bridged.ok()) << bridged.error().message;
  EXPECT_THAT(bridged->violations, ::testing::IsEmpty());
  EXPECT_EQ(bridged->by_provider.at("flex").launched, 2);
  EXPECT_EQ(bridged->by_provider.at("clock").launched, 2);
  EXPECT_EQ(bridged->by_provider.at("clock").spend, usd("6"));    // 01:00-04:00, two machines
  EXPECT_LT(bridged->by_provider.at("flex").spend, usd("1.40"));  // 00:40 to about 01:03

  // Without consolidation nothing hands over, so nothing bridges.
  c.pool.spec.lifecycle.consolidation_lead_seconds = 0;
  auto whole = simulate(c);
  ASSERT_TRUE(whole.ok()) << whole.error().message;
  EXPECT_EQ(whole->by_provider.at("flex").launched, 0);
  EXPECT_EQ(whole->spend, usd("8"));
  EXPECT_LT(bridged->spend, whole->spend);
  EXPECT_GE(bridged->served_gpu_hours, whole->served_gpu_hours * 0.999);
}

}  // namespace
}  // namespace gpupool::sim
