#include "operator/core/autoscaler.h"

#include "operator/core/api_codec.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace gpupool::autoscale {
namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// ceil() that saturates instead of overflowing an int.
int ceil_count(double v) {
  if (!std::isfinite(v) || v <= 0) return 0;
  const double c = std::ceil(v - 1e-9);  // 4.0000000001 from float noise is 4
  return c >= static_cast<double>(std::numeric_limits<int>::max()) ? std::numeric_limits<int>::max()
                                                                   : static_cast<int>(c);
}

// Rule 1 for one signal.
int raw_recommendation(const api::MetricSpec& m, double value, int current, double tolerance) {
  if (!std::isfinite(tolerance) || tolerance < 0) tolerance = 0;
  if (!(m.target > 0) || !std::isfinite(value) || value < 0) return current;
  const bool utilisation = m.type == api::MetricType::GpuUtilization;
  if (current > 0) {
    const double ratio = utilisation ? value / m.target : value / (m.target * current);
    if (std::abs(ratio - 1.0) <= tolerance) return current;
  }
  return utilisation ? ceil_count(current * value / m.target) : ceil_count(value / m.target);
}

Time floor_step(Time t) {
  return Time{std::chrono::floor<std::chrono::hours>(t.time_since_epoch())};
}

// One sample per kCoarseStep for the samples of h (oldest first) before
// `cut` (a step boundary after h.front().at): the time-weighted mean
// recommendation over the part of the step the history covers, rounded, and
// the count in force at the step's end. Equal neighbours are merged.
std::vector<Sample> coarse_samples(const std::vector<Sample>& h, Time cut) {
  static_assert(kCoarseStep == std::chrono::hours{1}, "floor_step floors to hours");
  std::vector<Sample> out;
  size_t k = 0;  // the sample in force at the start of the step
  for (Time step = floor_step(h.front().at); step < cut; step += kCoarseStep) {
    const Time from = std::max(step, h.front().at);
    const Time to = step + kCoarseStep;
    double weighted = 0;
    int current = h[k].current;
    for (size_t j = k; j < h.size() && h[j].at < to; ++j) {
      const Time begin = std::max(from, h[j].at);
      const Time end = j + 1 < h.size() ? std::min(to, h[j + 1].at) : to;
      if (end > begin)
        weighted +=
            static_cast<double>(h[j].recommended) * static_cast<double>((end - begin).count());
      current = h[j].current;
      if (j + 1 < h.size() && h[j + 1].at <= to) k = j + 1;
    }
    const int mean =
        static_cast<int>(std::lround(weighted / static_cast<double>((to - from).count())));
    if (out.empty() || out.back().recommended != mean || out.back().current != current) {
      out.push_back(Sample{from, mean, current});
    }
  }
  return out;
}

}  // namespace

std::vector<Sample> bound_history(std::vector<Sample> h, Time now, Duration keep_fine) {
  // The horizon: keep the sample in force at now - horizon, drop older ones.
  size_t first = 0;
  while (first + 1 < h.size() && h[first + 1].at <= now - kHistoryHorizon)
    ++first;
  h.erase(h.begin(), h.begin() + static_cast<std::ptrdiff_t>(first));
  if (h.size() <= kMaxHistory) return h;
  const Time cut = std::min(floor_step(h[h.size() - kFinePoints].at), floor_step(now - keep_fine));
  if (cut > h.front().at) {
    std::vector<Sample> out = coarse_samples(h, cut);
    // What was in force at the cut stays in force from the cut on.
    const auto in_force =
        std::find_if(h.rbegin(), h.rend(), [&](const Sample& s) { return s.at <= cut; });
    std::vector<Sample> fine{Sample{cut, in_force->recommended, in_force->current}};
    for (const Sample& s : h) {
      if (s.at > cut) fine.push_back(s);
    }
    for (const Sample& s : fine) {
      if (s.recommended == out.back().recommended && s.current == out.back().current) continue;
      out.push_back(s);
    }
    h = std::move(out);
  }
  if (h.size() > kMaxHistory) {
    h.erase(h.begin(), h.begin() + static_cast<std::ptrdiff_t>(h.size() - kMaxHistory));
  }
  return h;
}

Output decide(const Input& in) {
  Output out;
  const int current = std::max(0, in.current);

  // 1-2. Signals.
  int best = -1;
  int active = 0;
  for (size_t i = 0; i < in.spec.metrics.size(); ++i) {
    const api::MetricSpec& m = in.spec.metrics[i];
    const Signal s = i < in.signals.size() ? in.signals[i] : Signal{std::nullopt, "no reading"};
    const std::string name =
        "metrics[" + std::to_string(i) + "] " + std::string(api::to_string(m.type));
    int raw = current;
    std::string why;
    if (s.value) {
      ++active;
      raw = raw_recommendation(m, *s.value, current, in.spec.tolerance);
      why = name + " " + number(*s.value) + " / " + number(m.target) +
            (m.type == api::MetricType::GpuUtilization ? " per replica (mean) -> "
                                                       : " per replica -> ") +
            std::to_string(raw);
    } else {
      out.problem += (out.problem.empty() ? "" : "; ") + name + ": " + s.error;
      why = name + " has no value (" + s.error + "); holding " + std::to_string(current);
    }
    if (raw > best) {
      best = raw;
      out.reason = why;
    }
  }
  if (best < 0) {
    best = current;
    out.reason = "no metrics; holding " + std::to_string(current);
  }
  out.active = active > 0;
  out.recommended = best;

  // 3. Stabilisation over the recommendations in force in each window
  // (change points: a sample holds until the next one), and this one.
  out.history = in.history;
  if (out.history.empty() || out.history.back().recommended != best ||
      out.history.back().current != current) {
    out.history.push_back(Sample{in.now, best, current});
  }
  int up_floor = best, down_ceiling = best;
  const Duration up_window{std::max<int64_t>(0, in.spec.scale_up_stabilization_seconds)};
  const Duration down_window{std::max<int64_t>(0, in.spec.scale_down_stabilization_seconds)};
  for (size_t k = 0; k < out.history.size(); ++k) {
    const Sample& s = out.history[k];
    if (s.at > in.now) continue;
    // In force until the next change point (or now).
    const Time until = k + 1 < out.history.size() ? out.history[k + 1].at : in.now;
    // In force at some instant of (now - window, now]: one superseded exactly
    // now is not, so a zero window sees only this round.
    if (in.now - until < up_window) up_floor = std::min(up_floor, s.recommended);
    if (in.now - until < down_window) down_ceiling = std::max(down_ceiling, s.recommended);
  }
  int desired = current;
  if (up_floor > current) {
    desired = up_floor;
    if (up_floor < best) out.clamped_by = "scaleUpStabilization";
  } else if (down_ceiling < current) {
    desired = down_ceiling;
    if (down_ceiling > best) out.clamped_by = "scaleDownStabilization";
  } else if (best != current) {
    out.clamped_by = best > current ? "scaleUpStabilization" : "scaleDownStabilization";
  }

  // 4. Step limits against the counts recorded within the period (HPA
  // counts the scale events of the period the same way).
  const auto& up = in.spec.scale_up;
  const auto& down = in.spec.scale_down;
  int up_base = current, down_base = current;
  for (const Sample& s : in.history) {
    if (s.at > in.now) continue;
    if (in.now - s.at <= Duration{std::max<int64_t>(1, up.period_seconds)}) {
      up_base = std::min(up_base, s.current);
    }
    if (in.now - s.at <= Duration{std::max<int64_t>(1, down.period_seconds)}) {
      down_base = std::max(down_base, s.current);
    }
  }
  if (desired > current) {
    const int step = std::max(up.pods, ceil_count(up_base * up.percent / 100.0));
    const int limit = up_base + step;
    if (desired > limit) {
      desired = std::max(current, limit);
      out.clamped_by = "stepLimit";
    }
  } else if (desired < current) {
    const int step =
        std::max(down.pods, static_cast<int>(std::floor(down_base * down.percent / 100.0)));
    const int limit = down_base - step;
    if (desired < limit) {
      desired = std::min(current, limit);
      out.clamped_by = "stepLimit";
    }
  }

  // 5. Schedules.
  if (desired < in.schedule_min) {
    desired = in.schedule_min;
    out.clamped_by = "schedule";
  }

  // 6. Bounds.
  if (desired < in.min) {
    desired = in.min;
    out.clamped_by = "min";
  }
  if (desired > in.max) {
    desired = in.max;
    out.clamped_by = "max";
  }
  out.desired = desired;
  // Full resolution for everything the windows and step periods look at.
  const Duration keep_fine = std::max(
      {up_window, down_window, Duration{up.period_seconds}, Duration{down.period_seconds}});
  out.history = bound_history(std::move(out.history), in.now, keep_fine);
  return out;
}

std::optional<Duration> expected_lifetime(const std::vector<Sample>& history, int level, Time now,
                                          Duration merge_gap) {
  std::vector<Duration> finished;
  std::optional<Time> start;
  std::optional<Time> below_since;  // the episode's demand dipped below the level here
  // Ends the episode if its dip has outlasted the gap by `t`.
  auto close_if_over = [&](Time t) {
    if (start && below_since && t - *below_since > merge_gap) {
      finished.push_back(*below_since - *start);
      start.reset();
      below_since.reset();
    }
  };
  for (const Sample& s : history) {
    if (s.at > now) break;
    close_if_over(s.at);
    if (s.recommended >= level) {
      if (!start) start = s.at;
      below_since.reset();  // a dip no longer than the gap: the same episode
    } else if (start && !below_since) {
      below_since = s.at;
    }
  }
  close_if_over(now);
  if (static_cast<int>(finished.size()) < kMinEpisodes) return std::nullopt;
  // The episode under way has lasted `age`: what is left of it is judged by
  // the past episodes that lasted longer than that.
  const Duration age = start ? now - *start : Duration{0};  // a dip under way counts
  std::vector<Duration> remaining;
  for (const Duration d : finished) {
    if (d > age) remaining.push_back(d - age);
  }
  if (remaining.empty()) return age;  // it outlasted them all: expect as long again
  std::sort(remaining.begin(), remaining.end());
  const size_t n = remaining.size();
  return n % 2 == 1 ? remaining[n / 2] : (remaining[n / 2 - 1] + remaining[n / 2]) / 2;
}

}  // namespace gpupool::autoscale
