// The Endpoint health state machine (endpoint_health.h): thresholds, the
// probe period, the startup timeout, and counts that survive a restart
// because they live in status.
#include "operator/core/endpoint_health.h"

#include <gtest/gtest.h>

#include <chrono>

namespace gpupool::health {
namespace {

using namespace std::chrono_literals;

const Time kLaunch = Time{std::chrono::seconds{1'795'000'000}};

Probe ok() {
  return {true, "HTTP 200"};
}
Probe bad() {
  return {false, "HTTP 503"};
}

// Drives decide() the way the reconciler does: state and phase carried from
// one call to the next, as status would carry them.
struct Machine {
  api::HealthCheckSpec spec;
  api::EndpointHealthStatus state;
  bool ready = false;
  Time now = kLaunch + 60s;

  Output step(std::optional<Probe> p, Duration after = 10s) {
    Input in;
    in.spec = spec;
    in.state = state;
    in.ready = ready;
    in.launch = kLaunch;
    in.now = now;
    in.probe = std::move(p);
    Output out = decide(in);
    state = out.state;
    ready = out.ready;
    now += after;
    return out;
  }
};

TEST(EndpointHealthTest, ReadyOnlyAfterSuccessThresholdSuccessesInARow) {
  Machine m;
  m.spec.success_threshold = 3;
  EXPECT_EQ(m.step(ok()).transition, Transition::None);
  EXPECT_EQ(m.step(ok()).transition, Transition::None);
  EXPECT_FALSE(m.ready);
  EXPECT_EQ(m.step(bad()).transition, Transition::None);  // the run starts again
  EXPECT_EQ(m.state.consecutive_successes, 0);
  m.step(ok());
  m.step(ok());
  EXPECT_FALSE(m.ready);
  const Time third = m.now;
  const Output o = m.step(ok());
  EXPECT_EQ(o.transition, Transition::BecameHealthy);
  EXPECT_TRUE(m.ready);
  EXPECT_EQ(m.state.first_healthy_time, third);
}

TEST(EndpointHealthTest, AReadyMachineFallsBackOnlyAfterFailureThresholdFailuresInARow) {
  Machine m;  // failureThreshold 3 by default
  m.step(ok());
  ASSERT_TRUE(m.ready);
  m.step(bad());
  m.step(bad());
  m.step(ok());  // a success in between: the count starts again
  EXPECT_EQ(m.state.consecutive_failures, 0);
  m.step(bad());
  m.step(bad());
  EXPECT_TRUE(m.ready);
  EXPECT_EQ(m.step(bad()).transition, Transition::BecameUnhealthy);
  EXPECT_FALSE(m.ready);
  // Recovery: successThreshold (1) success makes it ready again.
  EXPECT_EQ(m.step(ok()).transition, Transition::BecameHealthy);
  EXPECT_TRUE(m.ready);
}

TEST(EndpointHealthTest, CountsStopAtTheirThresholdsSoASteadyMachineIsNotRewritten) {
  Machine m;
  m.step(ok());
  const api::EndpointHealthStatus steady = m.state;
  for (int i = 0; i < 20; ++i) {
    const Output o = m.step(ok());
    EXPECT_EQ(o.transition, Transition::None);
    EXPECT_EQ(o.state, steady);  // lastProbeTime included: nothing to write
  }
  for (int i = 0; i < 3; ++i)
    m.step(bad());
  const api::EndpointHealthStatus down = m.state;
  EXPECT_EQ(down.consecutive_failures, 3);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(m.step(bad()).state, down);
}

TEST(EndpointHealthTest, AProbeIsDueOncePerPeriodAfterTheLastOne) {
  api::HealthCheckSpec spec;
  spec.period_seconds = 30;
  api::EndpointHealthStatus s;
  EXPECT_TRUE(probe_due(spec, last_probe(s, std::nullopt), kLaunch));  // none yet
  s.last_probe_time = kLaunch;
  EXPECT_FALSE(probe_due(spec, last_probe(s, std::nullopt), kLaunch));
  EXPECT_FALSE(probe_due(spec, last_probe(s, std::nullopt), kLaunch + 29s));
  EXPECT_TRUE(probe_due(spec, last_probe(s, std::nullopt), kLaunch + 30s));
  // The caller's memory of a later probe (one that changed nothing, so it
  // is not in status) pushes the next one out; an older memory does not.
  EXPECT_FALSE(probe_due(spec, last_probe(s, kLaunch + 20s), kLaunch + 30s));
  EXPECT_TRUE(probe_due(spec, last_probe(s, kLaunch + 20s), kLaunch + 50s));
  EXPECT_EQ(last_probe(s, kLaunch - 5s), kLaunch);
  EXPECT_EQ(last_probe(api::EndpointHealthStatus{}, kLaunch), kLaunch);

  // The next probe is one period after a probe; without one, one period
  // after the last recorded probe.
  Input in;
  in.spec = spec;
  in.launch = kLaunch;
  in.now = kLaunch + 100s;
  in.probe = ok();
  EXPECT_EQ(decide(in).next_probe, kLaunch + 130s);
  in.probe.reset();
  in.state.last_probe_time = kLaunch + 90s;
  EXPECT_EQ(decide(in).next_probe, kLaunch + 120s);
  in.last_probe = kLaunch + 95s;  // remembered, not written
  EXPECT_EQ(decide(in).next_probe, kLaunch + 125s);
  in.last_probe.reset();
  in.state.last_probe_time = kLaunch;  // long ago: one period from now
  EXPECT_EQ(decide(in).next_probe, kLaunch + 130s);
}

TEST(EndpointHealthTest, AMachineNeverHealthyIsTimedOutAtTheStartupDeadline) {
  Machine m;
  m.spec.startup_timeout_seconds = 300;
  m.now = kLaunch + 280s;
  Output o = m.step(bad(), 0s);
  EXPECT_EQ(o.transition, Transition::None);
  EXPECT_EQ(o.next_probe, kLaunch + 290s);
  m.now = kLaunch + 295s;
  o = m.step(std::nullopt, 0s);  // no address yet: the deadline is still the next wake-up
  EXPECT_EQ(o.next_probe, kLaunch + 300s);
  m.now = kLaunch + 300s;
  EXPECT_EQ(m.step(bad()).transition, Transition::StartupTimedOut);
  m.now = kLaunch + 300s;
  EXPECT_EQ(m.step(std::nullopt).transition, Transition::StartupTimedOut);  // no probe either

  // Healthy at the last moment: not timed out, and never again by the
  // startup deadline once it was healthy, however long it later fails (rule
  // 6, off here, is what gives up on it then).
  Machine late;
  late.spec.startup_timeout_seconds = 300;
  late.spec.unhealthy_timeout_seconds = 0;
  late.now = kLaunch + 300s;
  EXPECT_EQ(late.step(ok()).transition, Transition::BecameHealthy);
  for (int i = 0; i < 3; ++i)
    late.step(bad(), 1000s);
  EXPECT_FALSE(late.ready);
  EXPECT_EQ(late.step(bad()).transition, Transition::None);
}

TEST(EndpointHealthTest, AMachineThatServedAndThenFailsIsGivenUpOnAfterTheUnhealthyTimeout) {
  Machine m;
  m.spec.unhealthy_timeout_seconds = 600;
  EXPECT_EQ(m.step(ok()).transition, Transition::BecameHealthy);
  m.step(bad());
  m.step(bad());
  const Time out_at = m.now;
  EXPECT_EQ(m.step(bad()).transition, Transition::BecameUnhealthy);
  EXPECT_EQ(unhealthy_deadline(m.spec, m.state), out_at + 600s);
  // Failing on: not yet at 599 s; the deadline is the next wake-up.
  m.now = out_at + 595s;
  Output o = m.step(bad(), 0s);
  EXPECT_EQ(o.transition, Transition::None);
  EXPECT_EQ(o.next_probe, out_at + 600s);
  m.now = out_at + 600s;
  EXPECT_EQ(m.step(bad(), 0s).transition, Transition::UnhealthyTimedOut);
  // No probe (address lost) at the deadline: given up on all the same.
  EXPECT_EQ(m.step(std::nullopt).transition, Transition::UnhealthyTimedOut);

  // One success in between (not enough to be Ready again) starts the clock
  // again from the probe that reaches the threshold anew.
  Machine f;
  f.spec.unhealthy_timeout_seconds = 600;
  f.spec.success_threshold = 2;
  f.step(ok());
  f.step(ok());
  for (int i = 0; i < 3; ++i)
    f.step(bad());
  EXPECT_FALSE(f.ready);
  f.now += 500s;
  f.step(ok());
  EXPECT_FALSE(f.ready);
  EXPECT_FALSE(unhealthy_deadline(f.spec, f.state));  // not failing at the threshold
  f.step(bad());
  f.step(bad());
  const Time again = f.now;
  f.step(bad(), 0s);
  EXPECT_EQ(unhealthy_deadline(f.spec, f.state), again + 600s);
  f.now = again + 599s;
  EXPECT_EQ(f.step(bad(), 0s).transition, Transition::None);

  // Never healthy: the startup timeout's business, not this rule's; 0: never.
  Machine never;
  never.spec.unhealthy_timeout_seconds = 600;
  for (int i = 0; i < 3; ++i)
    never.step(bad());
  EXPECT_FALSE(unhealthy_deadline(never.spec, never.state));
  Machine off;
  off.spec.unhealthy_timeout_seconds = 0;
  off.step(ok());
  for (int i = 0; i < 3; ++i)
    off.step(bad());
  off.now += 100'000s;
  EXPECT_EQ(off.step(bad()).transition, Transition::None);
}

TEST(EndpointHealthTest, ARestartContinuesFromTheCountsInStatus) {
  Machine before;
  before.spec.success_threshold = 3;
  before.step(ok());
  before.step(ok());
  // A new process reads status.health and the phase: one more success is enough.
  Machine after;
  after.spec = before.spec;
  after.state = before.state;
  after.ready = before.ready;
  after.now = before.now;
  EXPECT_EQ(after.state.consecutive_successes, 2);
  EXPECT_EQ(after.step(ok()).transition, Transition::BecameHealthy);
  // The same for failures of a ready machine.
  for (int i = 0; i < 2; ++i)
    after.step(bad());
  Machine again;
  again.spec = after.spec;
  again.state = after.state;
  again.ready = after.ready;
  again.now = after.now;
  EXPECT_EQ(again.step(bad()).transition, Transition::BecameUnhealthy);
}

TEST(EndpointHealthTest, UrlsBracketIpv6AndAreEmptyUntilTheAddressIsKnown) {
  EXPECT_EQ(endpoint_url("203.0.113.7", 8000), "http://203.0.113.7:8000");
  EXPECT_EQ(endpoint_url("2001:db8::7", 31000), "http://[2001:db8::7]:31000");
  EXPECT_EQ(endpoint_url("[2001:db8::7]", 31000), "http://[2001:db8::7]:31000");
  EXPECT_EQ(endpoint_url("pod-1.proxy.example", 443), "http://pod-1.proxy.example:443");
  EXPECT_EQ(endpoint_url("", 8000), "");
  EXPECT_EQ(endpoint_url("203.0.113.7", 0), "");
  EXPECT_EQ(health_url("2001:db8::7", 8000, "/health"), "http://[2001:db8::7]:8000/health");
  EXPECT_EQ(health_url("", 8000, "/health"), "");
}

}  // namespace
}  // namespace gpupool::health
