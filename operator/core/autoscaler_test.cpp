#include "operator/core/autoscaler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

namespace gpupool::autoscale {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

const Time kT0 = sys_days{year{2026} / November / 29} + 12h;

Input input(int current, std::vector<std::optional<double>> values,
            std::vector<api::MetricSpec> metrics = {{api::MetricType::QueueDepth, 10, {}}}) {
  Input in;
  in.spec.enabled = true;
  in.spec.metrics = std::move(metrics);
  in.spec.scale_up_stabilization_seconds = 0;
  in.spec.scale_down_stabilization_seconds = 0;
  in.min = 0;
  in.max = 100;
  in.current = current;
  for (auto& v : values)
    in.signals.push_back(Signal{v, v ? "" : "Prometheus at 127.0.0.1:9090: connection refused"});
  in.now = kT0;
  return in;
}

TEST(Autoscaler, TotalSignalsAskForCeilOfValueOverTarget) {
  const Output out = decide(input(2, {37.0}));
  EXPECT_EQ(out.desired, 4);
  EXPECT_THAT(out.reason, HasSubstr("metrics[0] QueueDepth 37 / 10 per replica -> 4"));
  EXPECT_TRUE(out.active);
}

TEST(Autoscaler, UtilisationScalesTheCurrentCount) {
  const Output out = decide(input(4, {90.0}, {{api::MetricType::GpuUtilization, 60, {}}}));
  EXPECT_EQ(out.desired, 6);  // ceil(4 × 90 / 60)
}

TEST(Autoscaler, WithinToleranceNothingChanges) {
  EXPECT_EQ(decide(input(4, {42.0})).desired, 4);  // 42 / (10 × 4) = 1.05
  EXPECT_EQ(decide(input(4, {45.0})).desired, 5);  // 1.125: outside 10 %
  Input in = input(4, {45.0});
  in.spec.tolerance = 0.2;
  EXPECT_EQ(decide(in).desired, 4);
}

TEST(Autoscaler, TheLargestSignalWins) {
  const Output out = decide(
      input(2, {20.0, 300.0},
            {{api::MetricType::QueueDepth, 10, {}}, {api::MetricType::RequestsPerSecond, 50, {}}}));
  EXPECT_EQ(out.desired, 6);
  EXPECT_THAT(out.reason, HasSubstr("RequestsPerSecond"));
}

TEST(Autoscaler, AFailingSignalHoldsTheCountButLetsOthersScaleUp) {
  // The only signal fails: hold, never scale to zero.
  Output out = decide(input(3, {std::nullopt}));
  EXPECT_EQ(out.desired, 3);
  EXPECT_FALSE(out.active);
  EXPECT_THAT(out.problem, HasSubstr("connection refused"));
  // One of two fails and the other asks for less: hold.
  out = decide(
      input(3, {std::nullopt, 10.0},
            {{api::MetricType::QueueDepth, 10, {}}, {api::MetricType::RequestsPerSecond, 10, {}}}));
  EXPECT_EQ(out.desired, 3);
  EXPECT_TRUE(out.active);
  // ... and asks for more: scale up.
  out = decide(
      input(3, {std::nullopt, 80.0},
            {{api::MetricType::QueueDepth, 10, {}}, {api::MetricType::RequestsPerSecond, 10, {}}}));
  EXPECT_EQ(out.desired, 7);
}

TEST(Autoscaler, ScaleDownWaitsForItsStabilisationWindow) {
  Input in = input(5, {50.0});
  in.spec.scale_down_stabilization_seconds = 300;
  Output out = decide(in);
  EXPECT_EQ(out.desired, 5);
  // Demand drops at T0 + 1 min; for five minutes after the 5 was last in
  // force it holds.
  for (int m = 1; m <= 5; ++m) {
    in.history = out.history;
    in.now = kT0 + minutes(m);
    in.signals = {Signal{10.0, ""}};
    out = decide(in);
    EXPECT_EQ(out.desired, 5) << m;
    EXPECT_EQ(out.clamped_by, "scaleDownStabilization") << m;
  }
  in.history = out.history;
  in.now = kT0 + 6min + 1s;
  out = decide(in);
  EXPECT_EQ(out.desired, 4);  // step limit: at most max(1, 10 %) down per minute
  EXPECT_EQ(out.clamped_by, "stepLimit");
}

TEST(Autoscaler, ScaleUpStabilisationIgnoresABriefSpike) {
  Input in = input(2, {20.0});
  in.spec.scale_up_stabilization_seconds = 120;
  Output out = decide(in);
  in.history = out.history;
  in.now = kT0 + 30s;
  in.signals = {Signal{80.0, ""}};
  out = decide(in);
  EXPECT_EQ(out.desired, 2);
  EXPECT_EQ(out.clamped_by, "scaleUpStabilization");
  // Sustained for the window: up.
  in.history = out.history;
  in.now = kT0 + 151s;
  out = decide(in);
  EXPECT_EQ(out.desired, 6);  // 8 wanted; the step limit allows 2 + 4 this minute
  EXPECT_EQ(out.clamped_by, "stepLimit");
}

TEST(Autoscaler, StepLimitsBoundHowFastItMoves) {
  Input in = input(2, {500.0});
  Output out = decide(in);
  EXPECT_EQ(out.desired, 6);  // 2 + max(4 pods, 100 % of 2)
  EXPECT_EQ(out.clamped_by, "stepLimit");
  in.history = out.history;
  in.current = 6;
  in.now = kT0 + 30s;  // same period: the base is still 2
  EXPECT_EQ(decide(in).desired, 6);
  in.now = kT0 + 61s;
  EXPECT_EQ(decide(in).desired, 12);  // 6 + 100 %
}

TEST(Autoscaler, MinAndMaxBound) {
  Input in = input(1, {0.0});
  in.min = 1;
  Output out = decide(in);
  EXPECT_EQ(out.desired, 1);
  EXPECT_EQ(out.clamped_by, "min");
  in = input(8, {500.0});
  in.max = 10;
  out = decide(in);
  EXPECT_EQ(out.desired, 10);
  EXPECT_EQ(out.clamped_by, "max");
}

TEST(Autoscaler, HistoryKeepsChangePointsOnlyAndIsBounded) {
  Input in = input(1, {10.0});
  Output out = decide(in);
  ASSERT_EQ(out.history.size(), 1u);
  // Nothing changes: nothing is appended, so status is not rewritten.
  for (int i = 1; i < 50; ++i) {
    in.history = out.history;
    in.now = kT0 + seconds(15 * i);
    out = decide(in);
  }
  EXPECT_EQ(out.history.size(), 1u);
  EXPECT_EQ(out.history.front().at, kT0);
  // Demand that moves every round: bounded.
  for (int i = 0; i < 400; ++i) {
    in.history = out.history;
    in.now = kT0 + 1h + seconds(15 * i);
    in.signals = {Signal{10.0 * (1 + i % 3), ""}};
    out = decide(in);
  }
  EXPECT_LE(out.history.size(), kMaxHistory);
  EXPECT_GT(out.history.size(), kFinePoints);
  EXPECT_EQ(out.history.back().at, in.now);
}

// A day of flickering demand: 1-2 machines, and 5-6 from 08:00 to 14:00 UTC,
// one machine less every third 5-minute step: 192 change points a day.
double flickering_day_demand(Time t) {
  const auto in_day = t.time_since_epoch() % 24h;
  const bool hump = in_day >= 8h && in_day < 14h;
  const bool low = duration_cast<minutes>(in_day).count() / 5 % 3 == 2;
  return 10.0 * ((hump ? 6 : 2) - (low ? 1 : 0));
}

// The pool follows the autoscaler every 5 minutes from `from` to `to`.
Input follow(Input in, Time from, Time to, double (*demand)(Time)) {
  for (Time t = from; t < to; t += 5min) {
    in.now = t;
    in.signals = {Signal{demand(t), ""}};
    const Output out = decide(in);
    in.history = out.history;
    in.current = out.desired;
  }
  return in;
}

TEST(Autoscaler, HistoryRemembersAWeekAtHourlyResolutionWithinItsBound) {
  const Time day0 = sys_days{year{2026} / November / 22};
  Input in = follow(input(2, {}), day0, day0 + 7 * 24h + 8h, flickering_day_demand);
  ASSERT_LE(in.history.size(), kMaxHistory);
  // A week back, not the last ~32 hours that 256 raw change points hold.
  EXPECT_LE(in.history.front().at, day0 + 24h);
  // The latest changes are kept as they were.
  std::vector<Sample> raw =
      follow(input(2, {}), in.now - 2h, in.now + 1min, flickering_day_demand).history;
  ASSERT_GE(raw.size(), 10u);
  EXPECT_EQ(std::vector<Sample>(in.history.end() - 10, in.history.end()),
            std::vector<Sample>(raw.end() - 10, raw.end()));
  // Each past day's hump is one six-hour episode at level 6 (the five-minute
  // dips are shorter than the merge gap), so a hump starting now is expected
  // to last six hours, not the planner's 24 h default (with only the raw
  // change points, one hump is remembered: no estimate at all).
  const std::optional<Duration> left = expected_lifetime(in.history, 6, in.now, 15min);
  ASSERT_TRUE(left.has_value());
  EXPECT_GE(*left, 5h);
  EXPECT_LE(*left, 7h);
}

TEST(Autoscaler, BoundingAHistoryTwiceChangesNothingAndKeepsTheWindowsFine) {
  std::vector<Sample> h;
  for (int i = 0; i < 2000; ++i)
    h.push_back(Sample{kT0 + minutes(3 * i), 1 + i % 4, 1 + i % 3});
  const Time now = h.back().at + 1min;
  const std::vector<Sample> once = bound_history(h, now, 3h);
  EXPECT_LE(once.size(), kMaxHistory);
  EXPECT_EQ(bound_history(once, now, 3h), once);
  // Everything within the 3 h window is still there, point for point.
  const auto fine_from =
      std::find_if(h.begin(), h.end(), [&](const Sample& s) { return s.at > now - 3h; });
  const std::vector<Sample> window(fine_from, h.end());
  ASSERT_GE(once.size(), window.size());
  EXPECT_EQ(
      std::vector<Sample>(once.end() - static_cast<std::ptrdiff_t>(window.size()), once.end()),
      window);
  // Older points are hour means: 1..4 repeating averages to 2.5, rounded 3.
  EXPECT_EQ(once.front().recommended, 3);
  // Points older than a week go; a short history is left alone.
  EXPECT_EQ(bound_history(h, h.back().at + 30 * 24h, 0s).size(), 1u);
  const std::vector<Sample> shorter(h.begin(), h.begin() + 100);
  EXPECT_EQ(bound_history(shorter, shorter.back().at, 0s), shorter);
}

TEST(Autoscaler, AStableHighRecommendationHoldsThroughTheScaleDownWindow) {
  // Recommended 5 since T0, unchanged (one change point); demand drops at
  // T0 + 10 min: the 5 was in force until then, so the window still holds.
  Input in = input(5, {50.0});
  in.spec.scale_down_stabilization_seconds = 300;
  Output out = decide(in);
  in.history = out.history;
  in.now = kT0 + 10min;
  in.signals = {Signal{10.0, ""}};
  out = decide(in);
  EXPECT_EQ(out.desired, 5);
  EXPECT_EQ(out.clamped_by, "scaleDownStabilization");
  in.history = out.history;
  in.now = kT0 + 15min + 1s;
  EXPECT_EQ(decide(in).desired, 4);
}

TEST(Autoscaler, SchedulesRaiseTheFloorAndMaxStillBounds) {
  Input in = input(1, {0.0});
  in.min = 0;
  in.schedule_min = 3;
  Output out = decide(in);
  EXPECT_EQ(out.desired, 3);
  EXPECT_EQ(out.clamped_by, "schedule");
  in.max = 2;
  EXPECT_EQ(decide(in).desired, 2);
}

TEST(Autoscaler, StepLimitsComeFromTheSpec) {
  Input in = input(10, {500.0});
  in.spec.scale_up = {1, 10, 60};
  EXPECT_EQ(decide(in).desired, 11);  // max(1 pod, 10 % of 10)
  in = input(10, {0.0});
  in.spec.scale_down = {2, 50, 60};
  EXPECT_EQ(decide(in).desired, 5);  // max(2 pods, 50 % of 10)
}

TEST(Autoscaler, LifetimeEstimateIsWhatPastEpisodesHadLeftAtTheCurrentAge) {
  std::vector<Sample> h;
  auto at = [&](int minute, int rec) { h.push_back({kT0 + minutes(minute), rec, rec}); };
  // Finished episodes at level >= 3: 10 min, 30 min, 50 min.
  at(0, 2);
  at(10, 3);
  at(20, 2);
  at(40, 4);
  at(70, 2);
  at(100, 3);
  at(150, 2);
  // A new episode starting now: the median finished episode.
  at(200, 3);
  EXPECT_EQ(expected_lifetime(h, 3, kT0 + 200min), 30min);
  // 20 minutes into it, the 10-minute episode no longer speaks: what the
  // 30- and 50-minute ones had left (10 and 30 min), median 20 min.
  EXPECT_EQ(expected_lifetime(h, 3, kT0 + 220min), 20min);
  // Past every finished episode's length: expect as long again.
  EXPECT_EQ(expected_lifetime(h, 3, kT0 + 260min), 60min);
  // Level 4 had one finished episode only; the running one does not count.
  EXPECT_EQ(expected_lifetime(h, 4, kT0 + 200min), std::nullopt);
  EXPECT_EQ(expected_lifetime({}, 1, kT0), std::nullopt);
}

TEST(Autoscaler, DipsShorterThanTheMergeGapDoNotEndAnEpisode) {
  std::vector<Sample> h;
  auto at = [&](int minute, int rec) { h.push_back({kT0 + minutes(minute), rec, rec}); };
  // Level 4 flickers: up for 30 min with 5-minute dips, then gone for an hour, twice.
  for (int base : {0, 120}) {
    at(base, 4);
    at(base + 10, 3);
    at(base + 15, 4);
    at(base + 25, 3);
    at(base + 30, 4);
    at(base + 40, 3);
  }
  at(240, 4);
  // Without a gap every flicker is its own 10-minute episode.
  EXPECT_EQ(expected_lifetime(h, 4, kT0 + 240min), 10min);
  // Dips of 5 min inside a 10-minute gap are ridden out: two 40-minute episodes.
  EXPECT_EQ(expected_lifetime(h, 4, kT0 + 240min, 10min), 40min);
}

}  // namespace
}  // namespace gpupool::autoscale
