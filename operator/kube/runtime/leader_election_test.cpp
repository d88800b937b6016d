// Leader election and the event recorder against the in-memory API store
// (real Lease/Event semantics: resourceVersion conflicts, SMP on Events).
#include "operator/kube/runtime/leader_election.h"

#include <gtest/gtest.h>

#include <thread>

#include "operator/kube/memory/store.h"
#include "operator/kube/runtime/event_recorder.h"

namespace gpupool::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

template <typename Pred>
bool eventually(Pred p) {
  for (int i = 0; i < 10'000; ++i) {
    if (p()) return true;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return p();
}

LeaderElectionConfig cfg(const std::string& id) {
  LeaderElectionConfig c;
  c.lease_namespace = "kube-system";
  c.lease_name = "gpupool-operator";
  c.identity = id;
  c.poll_interval = milliseconds(5);
  return c;
}

Json lease(MemoryStore& api) {
  auto l = api.get(resources::kLeases, "kube-system", "gpupool-operator");
  EXPECT_TRUE(l.ok());
  return l.ok() ? *l : Json();
}

TEST(LeaderElection, ValidatesDurations) {
  EXPECT_TRUE(LeaderElector::validate(cfg("a")).ok());
  auto c = cfg("a");
  c.renew_deadline = seconds(15);
  EXPECT_FALSE(LeaderElector::validate(c).ok());
  c = cfg("a");
  c.retry_period = seconds(9);  // 1.2 * 9 > 10
  EXPECT_FALSE(LeaderElector::validate(c).ok());
  c = cfg("");
  EXPECT_FALSE(LeaderElector::validate(c).ok());
}

TEST(LeaderElection, MicroTimeFormat) {
  EXPECT_EQ(format_micro_time(Time{seconds(1'767'225'600)}), "2026-01-01T00:00:00.000000Z");
  const MicroTime t = MicroTime{seconds(1'767'225'600)} + std::chrono::microseconds(42'001'234);
  EXPECT_EQ(format_micro_time(t), "2026-01-01T00:00:42.001234Z");
  EXPECT_EQ(
      format_micro_time(MicroTime{seconds(1'767'225'600)} + std::chrono::microseconds(999'999)),
      "2026-01-01T00:00:00.999999Z");
}

TEST(LeaderElection, MicroTimeParsesBackWithMicroseconds) {
  const MicroTime base{seconds(1'767'225'600)};
  EXPECT_EQ(parse_micro_time("2026-01-01T00:00:42.001234Z"),
            base + std::chrono::microseconds(42'001'234));
  EXPECT_EQ(parse_micro_time("2026-01-01T00:00:00Z"), base) << "no fraction";
  EXPECT_EQ(parse_micro_time("2026-01-01T00:00:00.5Z"), base + std::chrono::microseconds(500'000));
  EXPECT_EQ(parse_micro_time("2026-01-01T00:00:00.123456789Z"),
            base + std::chrono::microseconds(123'456))
      << "nanoseconds (metav1.Time from some servers) are truncated";
  EXPECT_EQ(parse_micro_time("2026-01-01T02:00:00.000007+02:00"),
            base + std::chrono::microseconds(7));
  const MicroTime t = base + std::chrono::microseconds(3'600'000'017);
  EXPECT_EQ(parse_micro_time(format_micro_time(t)), t);
  for (const char* bad :
       {"", "2026-01-01", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00.12x4Z", "not a time"}) {
    EXPECT_EQ(parse_micro_time(bad), std::nullopt) << bad;
  }
}

// A clock that knows microseconds, as SystemClock does.
class MicroClock final : public Clock {
 public:
  explicit MicroClock(MicroTime start) : start_(start), now_(start) {}
  Time now() const override { return std::chrono::floor<seconds>(now_); }
  MicroTime now_micro() const override { return now_; }
  SteadyTime steady_now() const override { return SteadyTime{} + (now_ - start_); }
  void advance(std::chrono::microseconds d) { now_ += d; }

 private:
  const MicroTime start_;
  MicroTime now_;
};

TEST(LeaderElection, LeaseTimestampsKeepTheClocksMicroseconds) {
  MicroClock clock(MicroTime{seconds(1'800'000'000)} + std::chrono::microseconds(250'017));
  MemoryStore api(clock);
  LeaderElector a(api, clock, cfg("a"));
  ASSERT_TRUE(a.try_acquire_or_renew());
  Json l = lease(api);
  EXPECT_EQ(l["spec"]["acquireTime"], "2027-01-15T08:00:00.250017Z");
  EXPECT_EQ(l["spec"]["renewTime"], "2027-01-15T08:00:00.250017Z");
  clock.advance(std::chrono::microseconds(1'500'001));
  ASSERT_TRUE(a.try_acquire_or_renew());
  l = lease(api);
  EXPECT_EQ(l["spec"]["renewTime"], "2027-01-15T08:00:01.750018Z");
  EXPECT_EQ(l["spec"]["acquireTime"], "2027-01-15T08:00:00.250017Z");
  const auto renewed = parse_micro_time(l["spec"]["renewTime"].get<std::string>());
  ASSERT_TRUE(renewed.has_value());
  EXPECT_EQ(*renewed, clock.now_micro());
}

TEST(LeaderElection, TheWriteFenceClosesRenewDeadlineAfterTheLastGoodAttemptStarted) {
  FakeClock clock(Time{seconds(1'800'000'000)});
  MemoryStore api(clock);
  LeaderElector a(api, clock, cfg("a"));  // lease 15 s, renew deadline 10 s
  EXPECT_FALSE(a.holds_lease()) << "not before acquiring";
  ASSERT_TRUE(a.try_acquire_or_renew());
  EXPECT_TRUE(a.holds_lease());
  clock.advance(seconds(9));
  EXPECT_TRUE(a.holds_lease());
  // No renewal for 10 s (the process was paused, or renewals hung): the
  // fence is shut although the elector has not noticed (is_leader).
  clock.advance(seconds(1));
  EXPECT_TRUE(a.is_leader());
  EXPECT_FALSE(a.holds_lease());
  // A renewal that succeeds opens it again for another renew deadline.
  ASSERT_TRUE(a.try_acquire_or_renew());
  EXPECT_TRUE(a.holds_lease());
  // Another candidate took over: a's next attempt fails and the fence shuts.
  Json l = lease(api);
  l["spec"]["holderIdentity"] = "b";
  ASSERT_TRUE(api.update(resources::kLeases, l).ok());
  EXPECT_FALSE(a.try_acquire_or_renew());
  EXPECT_FALSE(a.holds_lease());
}

TEST(LeaderElection, TwoCandidatesTakeOverOnlyAfterObservedExpiry) {
  FakeClock clock(Time{seconds(1'800'000'000)});
  MemoryStore api(clock);
  std::vector<std::string> b_saw;
  auto cb = cfg("b");
  cb.on_new_leader = [&](const std::string& id) { b_saw.push_back(id); };
  LeaderElector a(api, clock, cfg("a"));
  LeaderElector b(api, clock, cb);
  ASSERT_TRUE(a.try_acquire_or_renew());
  Json l = lease(api);
  EXPECT_EQ(l["spec"]["holderIdentity"], "a");
  EXPECT_EQ(l["spec"]["leaseDurationSeconds"], 15);
  EXPECT_EQ(l["spec"]["leaseTransitions"], 0);
  EXPECT_EQ(l["spec"]["acquireTime"], "2027-01-15T08:00:00.000000Z");
  EXPECT_FALSE(b.try_acquire_or_renew());
  EXPECT_EQ(b.observed_leader(), "a");

  clock.advance(seconds(10));
  ASSERT_TRUE(a.try_acquire_or_renew());  // renew
  l = lease(api);
  EXPECT_EQ(l["spec"]["renewTime"], "2027-01-15T08:00:10.000000Z");
  EXPECT_EQ(l["spec"]["acquireTime"], "2027-01-15T08:00:00.000000Z") << "kept on renew";
  EXPECT_FALSE(b.try_acquire_or_renew()) << "b saw a change: its timer restarts";

  clock.advance(seconds(14));
  EXPECT_FALSE(b.try_acquire_or_renew()) << "14 s since b saw a change";
  clock.advance(seconds(2));
  ASSERT_TRUE(b.try_acquire_or_renew()) << "a stopped renewing 16 s ago";
  l = lease(api);
  EXPECT_EQ(l["spec"]["holderIdentity"], "b");
  EXPECT_EQ(l["spec"]["leaseTransitions"], 1);
  EXPECT_EQ(l["spec"]["acquireTime"], "2027-01-15T08:00:26.000000Z");
  EXPECT_FALSE(a.try_acquire_or_renew());
  EXPECT_FALSE(a.is_leader());
  EXPECT_EQ(a.observed_leader(), "b");
  EXPECT_EQ(b_saw, (std::vector<std::string>{"a", "b"})) << "each new leader once";
}

TEST(LeaderElection, StaleCandidateLosesTheRaceWithConflict) {
  FakeClock clock(Time{seconds(1'800'000'000)});
  MemoryStore api(clock);
  LeaderElector a(api, clock, cfg("a"));
  ASSERT_TRUE(a.try_acquire_or_renew());
  // Someone else writes the lease behind a's back; a's cached copy is stale.
  Json l = lease(api);
  l["spec"]["holderIdentity"] = "c";
  ASSERT_TRUE(api.update(resources::kLeases, l).ok());
  EXPECT_FALSE(a.try_acquire_or_renew()) << "fast-path renew conflicts, then sees c holding";
  EXPECT_EQ(lease(api)["spec"]["holderIdentity"], "c");
}

TEST(LeaderElection, ReleaseLetsTheNextCandidateInAtOnce) {
  FakeClock clock(Time{seconds(1'800'000'000)});
  MemoryStore api(clock);
  LeaderElector a(api, clock, cfg("a"));
  LeaderElector b(api, clock, cfg("b"));
  ASSERT_TRUE(a.try_acquire_or_renew());
  EXPECT_FALSE(b.try_acquire_or_renew());
  ASSERT_TRUE(a.release());
  Json l = lease(api);
  EXPECT_EQ(l["spec"]["holderIdentity"], "");
  EXPECT_EQ(l["spec"]["leaseDurationSeconds"], 1);
  EXPECT_TRUE(b.try_acquire_or_renew());
  EXPECT_EQ(lease(api)["spec"]["leaseTransitions"], 1);
}

TEST(LeaderElection, LosingRenewalsPastTheDeadlineStopsLeading) {
  FakeClock clock(Time{seconds(1'800'000'000)});
  MemoryStore api(clock);
  std::atomic<int> started{0}, stopped{0};
  auto c = cfg("a");
  c.on_started_leading = [&] { started.fetch_add(1); };
  c.on_stopped_leading = [&] { stopped.fetch_add(1); };
  LeaderElector a(api, clock, c);
  a.start();
  ASSERT_TRUE(eventually([&] { return started.load() == 1; }));
  EXPECT_TRUE(a.is_leader());
  // The API server becomes unreachable for the elector.
  for (const char* verb : {"get", "update", "create"}) {
    api.inject_fault({verb, "leases", 1000, make_error(ErrorKind::Unavailable, "down")});
  }
  // Renewals are due every 2 s; the renew deadline (10 s) runs from the
  // first one (+2 s), so the attempt at +12 s is the last.
  for (uint64_t step = 1; step <= 5; ++step) {
    clock.advance(seconds(2));
    a.clock_advanced();
    ASSERT_TRUE(eventually([&] { return a.attempts_total() == 1 + step; })) << step;
    EXPECT_EQ(stopped.load(), 0) << "still within the renew deadline at step " << step;
  }
  clock.advance(seconds(2));
  a.clock_advanced();
  ASSERT_TRUE(eventually([&] { return stopped.load() == 1; }));
  EXPECT_EQ(stopped.load(), 1);
  EXPECT_FALSE(a.is_leader());
  a.stop();
  EXPECT_EQ(stopped.load(), 1) << "called once";
}

TEST(LeaderElection, StopWithReleaseOnCancelFreesTheLease) {
  FakeClock clock(Time{seconds(1'800'000'000)});
  MemoryStore api(clock);
  std::atomic<int> started{0}, stopped{0};
  auto c = cfg("a");
  c.release_on_cancel = true;
  c.on_started_leading = [&] { started.fetch_add(1); };
  c.on_stopped_leading = [&] { stopped.fetch_add(1); };
  LeaderElector a(api, clock, c);
  a.start();
  ASSERT_TRUE(eventually([&] { return started.load() == 1; }));
  a.stop();
  EXPECT_EQ(stopped.load(), 1);
  EXPECT_EQ(lease(api)["spec"]["holderIdentity"], "");
}

// --- Event recorder --------------------------------------------------------

Json pool() {
  return {
      {"apiVersion", "gpupool.io/v1alpha1"},
      {"kind", "GpuPool"},
      {"metadata",
       {{"name", "pool-a"}, {"namespace", "default"}, {"uid", "u-1"}, {"resourceVersion", "7"}}}};
}

TEST(EventRecorder, CreatesThenAggregatesRepeats) {
  FakeClock clock(Time{seconds(1'800'000'000)});
  MemoryStore api(clock);
  EventRecorder rec(api, clock, "gpupool-operator", "host-1");
  ASSERT_TRUE(rec.record(pool(), "Normal", "Scaled", "pool scaled to 8").ok());
  clock.advance(seconds(5));
  ASSERT_TRUE(rec.record(pool(), "Normal", "Scaled", "pool scaled to 8").ok());
  ASSERT_TRUE(rec.record(pool(), "Warning", "Failed", "no capacity").ok());
  auto events = api.list(resources::kEvents, "default");
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->items.size(), 2u);
  const Json* scaled = nullptr;
  for (const auto& e : events->items) {
    if (e["reason"] == "Scaled") scaled = &e;
  }
  ASSERT_NE(scaled, nullptr);
  EXPECT_EQ((*scaled)["count"], 2);
  EXPECT_EQ((*scaled)["firstTimestamp"], "2027-01-15T08:00:00Z");
  EXPECT_EQ((*scaled)["lastTimestamp"], "2027-01-15T08:00:05Z");
  EXPECT_EQ((*scaled)["involvedObject"]["uid"], "u-1");
  EXPECT_EQ((*scaled)["involvedObject"]["kind"], "GpuPool");
  EXPECT_EQ((*scaled)["source"]["component"], "gpupool-operator");
  EXPECT_EQ((*scaled)["type"], "Normal");
  EXPECT_EQ((*scaled)["metadata"]["name"].get<std::string>().rfind("pool-a.", 0), 0u);
  EXPECT_EQ(rec.created_total(), 2u);
  EXPECT_EQ(rec.patched_total(), 1u);
}

TEST(EventRecorder, RecreatesExpiredEventsAndUsesDefaultForClusterScoped) {
  FakeClock clock(Time{seconds(1'800'000'000)});
  MemoryStore api(clock);
  EventRecorder rec(api, clock, "gpupool-operator");
  Json provider = {{"apiVersion", "gpupool.io/v1alpha1"},
                   {"kind", "GpuProvider"},
                   {"metadata", {{"name", "aws"}, {"uid", "u-2"}}}};
  ASSERT_TRUE(rec.record(provider, "Warning", "AuthFailed", "bad key").ok());
  auto list = api.list(resources::kEvents, "default");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->items.size(), 1u);
  const std::string name = list->items[0]["metadata"]["name"];
  ASSERT_TRUE(api.remove(resources::kEvents, "default", name).ok());  // expired
  ASSERT_TRUE(rec.record(provider, "Warning", "AuthFailed", "bad key").ok());
  list = api.list(resources::kEvents, "default");
  ASSERT_EQ(list->items.size(), 1u);
  EXPECT_EQ(list->items[0]["count"], 1);
  EXPECT_EQ(rec.created_total(), 2u);
  Json nameless = {{"kind", "X"}, {"metadata", Json::object()}};
  EXPECT_FALSE(rec.record(nameless, "Normal", "R", "m").ok());
}

}  // namespace
}  // namespace gpupool::kube
