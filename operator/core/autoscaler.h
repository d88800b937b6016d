#pragma once
// The autoscaler's math: how many machines a pool wants, from its demand
// signals, as a pure function of the signals, the pool's autoscaling spec,
// the bounded history it keeps, and `now`. No I/O; the pool reconciler
// gathers the signals (Prometheus, pending pods, schedules) and stores the
// history in the pool's status so a restart loses nothing.
//
// Rules, in order (the HorizontalPodAutoscaler's, where it has one):
//  1. Per signal, a raw recommendation:
//       QueueDepth, RequestsPerSecond, External, PendingPods: the value is
//         the pool's total (for PendingPods: the GPUs requested by pods
//         waiting for or running on the pool's Nodes); raw = ceil(value /
//         target) (target is per replica);
//       GpuUtilization: the value is the mean utilisation of the current
//         replicas; raw = ceil(current × value / target).
//     Tolerance: when current > 0 and |value / (target × current) − 1| <=
//     spec.tolerance (default 0.1), raw = current (no churn on noise).
//     A signal with no value (source down, garbage, empty) recommends
//     `current`: it never pulls the pool down, the others may still push it
//     up. ScalingActive is False when every signal failed.
//  2. The largest raw recommendation wins (its signal is named in `reason`).
//  3. Stabilisation over the history: scale-up takes the smallest
//     recommendation in force during the last scaleUpStabilizationSeconds,
//     scale-down the largest in force during the last
//     scaleDownStabilizationSeconds (so a brief dip does not end paid
//     machines, and a brief spike does not buy them when a window is set).
//  4. Step limits per period (spec.scaleUp / spec.scaleDown, HPA's
//     behavior policies with selectPolicy Max): up to max(pods, percent % of
//     the smallest count recorded in the period) more than that count; down
//     to no fewer than the largest count recorded in the period minus
//     max(pods, percent %).
//  5. Schedules: at least Input::schedule_min (the largest minReplicas of
//     the schedule windows active now).
//  6. min / max (spec.replicas).
// The budget clamp is applied after this, by the pool decision (budgets are
// ceilings on money, not on counts).
//
// History: change points only. A sample is appended when the recommendation
// or the count differs from the last one, so a steady pool's history (and
// status) does not change; each sample is in force until the next. It is
// bounded in memory (at most kMaxHistory samples, the size the CRD allows)
// but spans up to kHistoryHorizon (a week), so a daily pattern is remembered
// (bound_history): once the samples outgrow kMaxHistory, those older than the
// newest kFinePoints (and older than every stabilisation window and step
// period, which keep their full resolution) are folded into one sample per
// UTC hour (kCoarseStep) holding the hour's time-weighted mean
// recommendation, rounded; equal neighbours are merged. A week of hours is
// 168 samples, so 88 stay at full resolution.
//
// Lifetime estimate: the history is also the demand history. For new
// capacity (the level above the current count), the estimator looks at the
// finished episodes in which the recommendation rose to that level or above.
// The episode under way has lasted some age (zero when it starts now); the
// estimate is the median of what the finished episodes longer than that age
// had left after it (the median episode, for a new one), or the age itself
// when it has outlasted them all. With fewer than kMinEpisodes finished
// episodes it returns nullopt and the planner falls back to
// spec.planning.expectedLifetimeHours or its default. Short spikes thus
// favour per-second billing, long needs cheap minimum windows.
// docs/autoscaling.md.
//
// Thread-safety: pure functions; safe concurrently.

#include <optional>
#include <string>
#include <vector>

#include "operator/clock/clock.h"
#include "operator/core/api_types.h"

namespace gpupool::autoscale {

inline constexpr size_t kMaxHistory = 256;  // change points kept (CRD maxItems)
inline constexpr Duration kHistoryHorizon{7 * 24 * 3600};
inline constexpr Duration kCoarseStep{3600};
inline constexpr size_t kFinePoints = kMaxHistory - 168;  // 168: a week of hours
inline constexpr int kMinEpisodes = 2;

// One signal's reading this round, in spec.autoscaling.metrics order.
struct Signal {
  std::optional<double> value;  // nullopt: no value (see error)
  std::string error;            // why there is no value, for people
};

// One change point: from `at` on, the recommendation after rule 2 and the
// pool's count. The same type is stored in status.autoscaling.history.
using Sample = api::ScalingSample;

struct Input {
  api::AutoscalingSpec spec;
  int min = 0;
  int max = 0;
  int current = 0;  // machines the pool has (active, provisioning included)
  std::vector<Signal> signals;
  std::vector<Sample> history;  // oldest first, as returned last time
  int schedule_min = 0;         // rule 5
  Time now{};
};

struct Output {
  int desired = 0;
  int recommended = 0;          // after rule 2, before stabilisation and limits
  std::string reason;           // "metrics[0] QueueDepth 37 / 10 per replica -> 4"
  std::string clamped_by;       // "", "scaleDownStabilization", "scaleUpStabilization",
                                // "stepLimit", "schedule", "min", "max"
  bool active = true;           // ScalingActive: at least one signal had a value
  std::string problem;          // the failing signals, for the condition and Event
  std::vector<Sample> history;  // to store: input history + this round's change, bounded
};

Output decide(const Input& input);

// The history bounded as the header says: samples superseded before
// now - kHistoryHorizon are dropped; when more than kMaxHistory remain, the
// ones before the newest kFinePoints, and before now - keep_fine, become
// hourly means; if that is still too many (a flood of changes within
// keep_fine), the oldest are dropped. A history within the bound comes back
// unchanged, and compacting a compacted history again changes nothing.
std::vector<Sample> bound_history(std::vector<Sample> history, Time now, Duration keep_fine);

// How much longer demand at or above `level` is expected to last (see the
// header), or nullopt when fewer than kMinEpisodes episodes have finished.
// A dip below the level that lasts no longer than `merge_gap` does not end
// an episode: the machine bought for it is parked, not ended, through such a
// dip (the pool passes its scale-down stabilization plus minParkSeconds).
std::optional<Duration> expected_lifetime(const std::vector<Sample>& history, int level, Time now,
                                          Duration merge_gap = Duration{0});

}  // namespace gpupool::autoscale
