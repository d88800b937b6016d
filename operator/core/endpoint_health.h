#pragma once
// Endpoint-mode readiness (issue 13): when a machine that serves a container
// counts as Ready, as a pure function of its health-check settings, the
// probe state kept in its status, the answer of the probe just made and
// `now`. No I/O: the instance reconciler (operator/controllers) makes the
// HTTP GET and applies the result (docs/endpoint.md).
//
// What callers do, each reconcile of a Running or Ready Endpoint instance:
//   1. if probe_due(spec, last_probe(...), now), GET health_url() with
//      spec.timeoutSeconds and turn the answer into a Probe (2xx: ok);
//   2. call decide() with that Probe (or none: no address yet, or not due);
//   3. write Output::state into status.health and the phase (Ready when
//      Output::ready, else Running; Failed on StartupTimedOut), then
//      requeue at Output::next_probe.
//
// Rules, in order:
//  1. Counting. A successful probe adds one to consecutiveSuccesses and
//     clears consecutiveFailures; a failed one the other way round. Each
//     count is capped at its threshold (successThreshold, failureThreshold):
//     past it nothing more is learnt, so a steady machine's state stops
//     changing and costs no status writes (ARCHITECTURE rule 4).
//     lastProbeTime is set to `now` only when the counts change (so a
//     reconcile triggered by that very write does not probe again at once);
//     in a steady state it is left alone, and the caller spaces probes out
//     with its own memory of when it last probed (Input::last_probe: the
//     later of that memory and lastProbeTime; after a restart only the
//     latter, so at worst one probe comes early).
//  2. A machine that is not ready becomes ready (BecameHealthy) once
//     consecutiveSuccesses reaches successThreshold; firstHealthyTime is set
//     the first time.
//  3. A ready machine stops being ready (BecameUnhealthy) once
//     consecutiveFailures reaches failureThreshold.
//  4. A machine that was never healthy (no firstHealthyTime) and is not
//     ready at launch + startupTimeoutSeconds has timed out
//     (StartupTimedOut): the reconciler fails it and the pool replaces it.
//     One that was healthy once and then failed is not timed out here (rule
//     6 applies).
//  6. A machine that was healthy once (firstHealthyTime), is not ready, and
//     has failed failureThreshold times in a row for unhealthyTimeoutSeconds
//     (UnhealthyTimedOut) is given up on: the reconciler fails it and the
//     pool replaces it. 0 turns this off (it stays Running, not counted
//     ready, until it recovers or is scaled away). "Failing since" needs no
//     field of its own: by rule 1 the failure count stops changing once it
//     reaches failureThreshold, so lastProbeTime is the probe that reached
//     it, and any success in between moves it.
//  7. next_probe = now + periodSeconds after a probe, else last_probe +
//     periodSeconds when that is still ahead, else now + periodSeconds;
//     never later than the startup or unhealthy deadline while that can
//     still fire.
// Because every fact lives in status.health and the phase, a restarted
// operator continues the same counts.

#include <optional>
#include <string>

#include "operator/clock/clock.h"
#include "operator/core/api_types.h"

namespace gpupool::health {

// The result of one GET of the health path.
struct Probe {
  bool ok = false;     // answered 2xx
  std::string detail;  // "HTTP 200", "HTTP 503", "connect: connection refused"; never a body
};

struct Input {
  api::HealthCheckSpec spec;        // defaulted (api_validation.h)
  api::EndpointHealthStatus state;  // status.health as last written (default: none yet)
  bool ready = false;               // phase is Ready (healthy as last decided)
  Time launch{};                    // the startup timeout counts from here
  Time now{};                       // when `probe` was made
  std::optional<Probe> probe;       // nullopt: no probe this time
  // The caller's memory of its last probe before this call (rule 1); the
  // later of it and state.last_probe_time counts.
  std::optional<Time> last_probe;
};

enum class Transition { None, BecameHealthy, BecameUnhealthy, StartupTimedOut, UnhealthyTimedOut };

struct Output {
  api::EndpointHealthStatus state;
  bool ready = false;
  Transition transition = Transition::None;
  Time next_probe{};
};

// Rule 6: when a not-ready machine that served once is given up on, or
// nullopt (never healthy, not failing at the threshold, or the timeout is 0).
std::optional<Time> unhealthy_deadline(const api::HealthCheckSpec& spec,
                                       const api::EndpointHealthStatus& state);

// The later of the caller's memory of its last probe and lastProbeTime.
std::optional<Time> last_probe(const api::EndpointHealthStatus& state, std::optional<Time> memory);
// Whether a probe should be made now: none recorded, or the last one is
// periodSeconds old.
bool probe_due(const api::HealthCheckSpec& spec, std::optional<Time> last_probe, Time now);

Output decide(const Input& in);

// "http://address:port"; an IPv6 address (it contains ':') in brackets.
// "" when the address or the port is not known yet.
std::string endpoint_url(const std::string& address, int port);

// "http://address:port/path" for the health check; "" when endpoint_url is.
std::string health_url(const std::string& address, int port, const std::string& path);

}  // namespace gpupool::health
