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
  if (!(m.target > 0) || !std::isfinite(value) || value < 0) return current;
  const bool utilisation = m.type == api::MetricType::GpuUtilization;
  if (current > 0) {
    const double ratio = utilisation ? value / m.target : value / (m.target * current);
    if (std::abs(ratio - 1.0) <= tolerance) return current;
  }
  return utilisation ? ceil_count(current * value / m.target) : ceil_count(value / m.target);
}

}  // namespace

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
      raw = raw_recommendation(m, *s.value, current, in.tolerance);
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

  // 3. Stabilisation over the recorded recommendations and this one.
  out.history = in.history;
  out.history.push_back(Sample{in.now, best, current});
  int up_floor = best, down_ceiling = best;
  const Duration up_window{std::max<int64_t>(0, in.spec.scale_up_stabilization_seconds)};
  const Duration down_window{std::max<int64_t>(0, in.spec.scale_down_stabilization_seconds)};
  for (const Sample& s : out.history) {
    if (s.at > in.now) continue;
    if (in.now - s.at <= up_window) up_floor = std::min(up_floor, s.recommended);
    if (in.now - s.at <= down_window) down_ceiling = std::max(down_ceiling, s.recommended);
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

  // 4. Step limits against the counts applied within the period.
  int period_min = current, period_max = current;
  for (const Sample& s : in.history) {
    if (s.at > in.now || in.now - s.at > in.limits.period) continue;
    period_min = std::min(period_min, s.current);
    period_max = std::max(period_max, s.current);
  }
  if (desired > current) {
    const int step =
        std::max(in.limits.up_pods, ceil_count(period_min * in.limits.up_percent / 100.0));
    const int limit = period_min + step;
    if (desired > limit) {
      desired = std::max(current, limit);
      out.clamped_by = "stepLimit";
    }
  } else if (desired < current) {
    const int step =
        std::max(in.limits.down_pods,
                 static_cast<int>(std::floor(period_max * in.limits.down_percent / 100.0)));
    const int limit = period_max - step;
    if (desired < limit) {
      desired = std::min(current, limit);
      out.clamped_by = "stepLimit";
    }
  }

  // 5. Bounds.
  if (desired < in.min) {
    desired = in.min;
    out.clamped_by = "min";
  }
  if (desired > in.max) {
    desired = in.max;
    out.clamped_by = "max";
  }
  out.desired = desired;
  if (out.history.size() > kMaxHistory) {
    out.history.erase(
        out.history.begin(),
        out.history.begin() + static_cast<std::ptrdiff_t>(out.history.size() - kMaxHistory));
  }
  return out;
}

std::optional<Duration> expected_lifetime(const std::vector<Sample>& history, int level, Time now) {
  std::vector<Duration> episodes;
  std::optional<Time> start;
  for (const Sample& s : history) {
    if (s.at > now) break;
    if (s.recommended >= level) {
      if (!start) start = s.at;
    } else if (start) {
      episodes.push_back(s.at - *start);
      start.reset();
    }
  }
  if (start) episodes.push_back(now - *start);
  if (static_cast<int>(episodes.size()) < kMinEpisodes) return std::nullopt;
  std::sort(episodes.begin(), episodes.end());
  const size_t n = episodes.size();
  return n % 2 == 1 ? episodes[n / 2] : (episodes[n / 2 - 1] + episodes[n / 2]) / 2;
}

}  // namespace gpupool::autoscale
