#include "operator/sim/lower_bound.h"

#include <gtest/gtest.h>

namespace gpupool::sim {
namespace {

Money bound_usd(std::string_view s) {
  return Money::parse(s).value();
}

Trace bound_trace(std::vector<TraceStep> steps) {
  Trace t;
  t.steps = std::move(steps);
  return t;
}

TEST(LowerBoundTest, CheapestMachinesWithinCapacityPerSecond) {
  // a: $1.00/h but at most 2 machines; b: $1.50/h unlimited; c: $5/h.
  const std::vector<BoundOffer> offers = {
      {"c", 1, bound_usd("5")}, {"b", 1, bound_usd("1.5")}, {"a", 1, bound_usd("1")}};
  const std::map<std::string, int> caps = {{"a", 2}};
  // 3 GPUs for an hour: 2 x a + 1 x b = $3.50; then 1 GPU for 30 min on a:
  // $0.50; then nothing for an hour.
  const Bound b = lower_bound(bound_trace({{0, 3}, {3600, 1}, {5400, 0}, {9000, 0}}), offers, caps);
  EXPECT_EQ(b.total, bound_usd("4"));
  EXPECT_TRUE(b.exact);
  EXPECT_DOUBLE_EQ(b.served_gpu_hours, 3.5);
}

TEST(LowerBoundTest, FractionalDemandNeedsWholeMachines) {
  const std::vector<BoundOffer> offers = {{"a", 1, bound_usd("1")}};
  // 2.5 GPUs need 3 machines: $3 for the hour.
  EXPECT_EQ(lower_bound(bound_trace({{0, 2.5}, {3600, 0}}), offers, {}).total, bound_usd("3"));
}

TEST(LowerBoundTest, WeightedModelsPickTheCheapestCover) {
  // An L40 machine counts 0.8 of an L40S.
  const std::vector<BoundOffer> offers = {{"l40", 0.8, bound_usd("0.80")},
                                          {"l40s", 1.0, bound_usd("0.90")}};
  EXPECT_EQ(cheapest_cover(offers, {}, 0.8).per_hour, bound_usd("0.80"));  // one L40
  EXPECT_EQ(cheapest_cover(offers, {}, 1.0).per_hour, bound_usd("0.90"));  // one L40S, not two L40
  EXPECT_EQ(cheapest_cover(offers, {}, 1.6).per_hour, bound_usd("1.60"));  // two L40
  EXPECT_EQ(cheapest_cover(offers, {}, 1.7).per_hour, bound_usd("1.70"));  // L40 + L40S
  EXPECT_TRUE(cheapest_cover(offers, {}, 1.7).exact);
}

TEST(LowerBoundTest, DemandBeyondAllCapacityIsLeftUnserved) {
  const std::vector<BoundOffer> offers = {{"a", 1, bound_usd("1")}, {"b", 1, bound_usd("2")}};
  const Cover c = cheapest_cover(offers, {{"a", 1}, {"b", 2}}, 5);
  EXPECT_DOUBLE_EQ(c.served, 3);
  EXPECT_EQ(c.per_hour, bound_usd("5"));
}

TEST(LowerBoundTest, ProviderCapacityIsSharedByItsOffers) {
  // Provider a sells two shapes but runs one machine at once.
  const std::vector<BoundOffer> offers = {
      {"a", 1, bound_usd("1")}, {"a", 1, bound_usd("1.1")}, {"b", 1, bound_usd("3")}};
  EXPECT_EQ(cheapest_cover(offers, {{"a", 1}}, 2).per_hour, bound_usd("4"));
}

}  // namespace
}  // namespace gpupool::sim
