#include "operator/core/endpoint_health.h"

#include <algorithm>

namespace gpupool::health {
namespace {

Duration seconds(int64_t s) {
  return Duration{std::max<int64_t>(1, s)};
}

// Rule 1: the counts after `probe`, each capped at its threshold.
api::EndpointHealthStatus count(const Input& in) {
  api::EndpointHealthStatus s = in.state;
  if (!in.probe) return s;
  const int succ_cap = std::max(1, in.spec.success_threshold);
  const int fail_cap = std::max(1, in.spec.failure_threshold);
  if (in.probe->ok) {
    s.consecutive_successes = std::min(succ_cap, s.consecutive_successes + 1);
    s.consecutive_failures = 0;
  } else {
    s.consecutive_failures = std::min(fail_cap, s.consecutive_failures + 1);
    s.consecutive_successes = 0;
  }
  if (s.consecutive_successes != in.state.consecutive_successes ||
      s.consecutive_failures != in.state.consecutive_failures) {
    s.last_probe_time = in.now;
  }
  return s;
}

// Rule 7.
Time next_probe(const Input& in, const api::EndpointHealthStatus& s, bool ready) {
  const Duration period = seconds(in.spec.period_seconds);
  Time next = in.now + period;
  const std::optional<Time> last = last_probe(s, in.last_probe);
  if (!in.probe && last && *last + period > in.now) next = *last + period;
  if (!ready && !s.first_healthy_time) {
    const Time deadline = in.launch + seconds(in.spec.startup_timeout_seconds);
    if (deadline > in.now) next = std::min(next, deadline);
  }
  if (!ready) {
    if (const auto deadline = unhealthy_deadline(in.spec, s); deadline && *deadline > in.now) {
      next = std::min(next, *deadline);
    }
  }
  return next;
}

}  // namespace

std::optional<Time> unhealthy_deadline(const api::HealthCheckSpec& spec,
                                       const api::EndpointHealthStatus& state) {
  if (spec.unhealthy_timeout_seconds <= 0 || !state.first_healthy_time) return std::nullopt;
  if (state.consecutive_failures < std::max(1, spec.failure_threshold)) return std::nullopt;
  if (!state.last_probe_time) return std::nullopt;
  return *state.last_probe_time + Duration{spec.unhealthy_timeout_seconds};
}

std::optional<Time> last_probe(const api::EndpointHealthStatus& state, std::optional<Time> memory) {
  if (!memory) return state.last_probe_time;
  if (!state.last_probe_time) return memory;
  return std::max(*memory, *state.last_probe_time);
}

bool probe_due(const api::HealthCheckSpec& spec, std::optional<Time> last, Time now) {
  return !last || now >= *last + seconds(spec.period_seconds);
}

Output decide(const Input& in) {
  Output out;
  out.state = count(in);
  out.ready = in.ready;
  const int succ_needed = std::max(1, in.spec.success_threshold);
  const int fail_needed = std::max(1, in.spec.failure_threshold);
  if (!in.ready && out.state.consecutive_successes >= succ_needed) {  // rule 2
    out.ready = true;
    out.transition = Transition::BecameHealthy;
    if (!out.state.first_healthy_time) out.state.first_healthy_time = in.now;
  } else if (in.ready && out.state.consecutive_failures >= fail_needed) {  // rule 3
    out.ready = false;
    out.transition = Transition::BecameUnhealthy;
  } else if (!in.ready && !out.state.first_healthy_time &&
             in.now - in.launch >= seconds(in.spec.startup_timeout_seconds)) {  // rule 4
    out.transition = Transition::StartupTimedOut;
  } else if (const auto deadline = unhealthy_deadline(in.spec, out.state);
             !out.ready && deadline && in.now >= *deadline) {  // rule 6
    out.transition = Transition::UnhealthyTimedOut;
  }
  out.next_probe = next_probe(in, out.state, out.ready);
  return out;
}

std::string endpoint_url(const std::string& address, int port) {
  if (address.empty() || port <= 0 || port > 65535) return "";
  const bool v6 = address.find(':') != std::string::npos && address.front() != '[';
  return "http://" + (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

std::string health_url(const std::string& address, int port, const std::string& path) {
  std::string base = endpoint_url(address, port);
  if (base.empty()) return base;
  return base + (path.empty() || path.front() != '/' ? "/" + path : path);
}

}  // namespace gpupool::health
