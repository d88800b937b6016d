#pragma once
// The autoscaler's math: how many machines a pool wants, from its demand
// signals, as a pure function of the signals, the pool's autoscaling spec,
// the bounded history it keeps, and `now`. No I/O; the pool reconciler
// gathers the signals (Prometheus, pending pods, schedules) and stores the
// history in the pool's status so a restart loses nothing.
//
// Rules, in order (the HorizontalPodAutoscaler's, where it has one):
//  1. Per signal, a raw recommendation:
//       QueueDepth, RequestsPerSecond, External: the value is the pool's
//         total; raw = ceil(value / target) (target is per replica);
//       GpuUtilization: the value is the mean utilisation of the current
//         replicas; raw = ceil(current × value / target).
//     Tolerance: when current > 0 and |value / (target × current) − 1| <=
//     tolerance (default 0.1), raw = current (no churn on noise).
//     A signal with no value (source down, garbage, empty) recommends
//     `current`: it never pulls the pool down, the others may still push it
//     up. ScalingActive is False when every signal failed.
//  2. The largest raw recommendation wins (its signal is named in `reason`).
//  3. Stabilisation: recommendations are recorded in the history; scale-up
//     takes the smallest recommendation of the last scaleUpStabilization
//     seconds, scale-down the largest of the last scaleDownStabilization
//     seconds (so a brief dip does not end paid machines, and a brief spike
//     does not buy them when a window is set).
//  4. Step limits per period (default 60 s): up to max(upPods, upPercent % of
//     the smallest count the pool had in the period) more than that count;
//     down to no fewer than the largest count it had in the period minus
//     max(downPods, downPercent %).
//  5. min / max (spec.replicas).
// The budget clamp is applied after this, by the pool decision (budgets are
// ceilings on money, not on counts).
//
// Lifetime estimate: the history of recommendations is also the demand
// history. For new capacity (the level above the current count), the
// estimator looks at past episodes in which the recommendation rose to that
// level or above and returns the median of their durations (an episode still
// running counts with its length so far); with fewer than kMinEpisodes
// episodes it returns nullopt and the planner falls back to
// spec.planning.expectedLifetimeHours or its default. Short spikes thus favour
// per-second billing, long needs cheap minimum windows.
//
// Thread-safety: pure functions; safe concurrently.

#include <optional>
#include <string>
#include <vector>

#include "operator/clock/clock.h"
#include "operator/core/api_types.h"

namespace gpupool::autoscale {

inline constexpr double kDefaultTolerance = 0.1;
inline constexpr size_t kMaxHistory = 256;  // recommendations kept
inline constexpr int kMinEpisodes = 2;

struct StepLimits {
  int up_pods = 4;
  int up_percent = 100;
  int down_pods = 1;
  int down_percent = 10;
  Duration period{60};
};

// One signal's reading this round, in spec.autoscaling.metrics order.
struct Signal {
  std::optional<double> value;  // nullopt: no value (see error)
  std::string error;            // why there is no value, for people
};

// One past round: the recommendation after rule 2 and the pool's count then.
struct Sample {
  Time at{};
  int recommended = 0;
  int current = 0;
  bool operator==(const Sample&) const = default;
};

struct Input {
  api::AutoscalingSpec spec;
  int min = 0;
  int max = 0;
  int current = 0;  // machines the pool has (active, provisioning included)
  std::vector<Signal> signals;
  std::vector<Sample> history;  // oldest first, as returned last time
  StepLimits limits;
  double tolerance = kDefaultTolerance;
  Time now{};
};

struct Output {
  int desired = 0;
  int recommended = 0;          // after rule 2, before stabilisation and limits
  std::string reason;           // "metrics[0] QueueDepth 37 / 10 per replica -> 4"
  std::string clamped_by;       // "", "scaleDownStabilization", "scaleUpStabilization",
                                // "stepLimit", "min", "max"
  bool active = true;           // ScalingActive: at least one signal had a value
  std::string problem;          // the failing signals, for the condition and Event
  std::vector<Sample> history;  // to store: input history + this round, bounded
};

Output decide(const Input& input);

// The median duration of past demand episodes at or above `level` (see the
// header), or nullopt when fewer than kMinEpisodes are known.
std::optional<Duration> expected_lifetime(const std::vector<Sample>& history, int level, Time now);

}  // namespace gpupool::autoscale
