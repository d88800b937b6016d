#include "operator/kube/runtime/workqueue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "operator/kube/runtime/controller.h"

namespace gpupool::kube {
namespace {

using std::chrono::seconds;

Time t0() {
  return Time{seconds(1'800'000'000)};
}

TEST(ExponentialBackoffLimiter, DoublesUpToCapAndForgets) {
  ExponentialBackoffLimiter lim(Millis(10), Millis(75));
  EXPECT_EQ(lim.when("a"), Millis(10));
  EXPECT_EQ(lim.when("a"), Millis(20));
  EXPECT_EQ(lim.when("a"), Millis(40));
  EXPECT_EQ(lim.when("a"), Millis(75));
  EXPECT_EQ(lim.when("a"), Millis(75));
  EXPECT_EQ(lim.num_requeues("a"), 5);
  EXPECT_EQ(lim.when("b"), Millis(10));  // per key
  lim.forget("a");
  EXPECT_EQ(lim.num_requeues("a"), 0);
  EXPECT_EQ(lim.when("a"), Millis(10));
}

TEST(ExponentialBackoffLimiter, NoOverflowAfterManyFailures) {
  ExponentialBackoffLimiter lim(Millis(5), Millis(1'000'000));
  Millis last{};
  for (int i = 0; i < 200; ++i)
    last = lim.when("k");
  EXPECT_EQ(last, Millis(1'000'000));
}

TEST(WorkQueue, FifoAndCoalescesDuplicates) {
  FakeClock clock(t0());
  WorkQueue q(clock);
  q.add("a");
  q.add("b");
  q.add("a");
  EXPECT_EQ(q.len(), 2u);
  EXPECT_EQ(q.try_get(), "a");
  EXPECT_EQ(q.try_get(), "b");
  EXPECT_EQ(q.try_get(), std::nullopt);
}

TEST(WorkQueue, KeyAddedWhileProcessingIsRequeuedOnceAfterDone) {
  FakeClock clock(t0());
  WorkQueue q(clock);
  q.add("a");
  ASSERT_EQ(q.try_get(), "a");
  q.add("a");
  q.add("a");
  EXPECT_EQ(q.try_get(), std::nullopt) << "must not hand out a key being processed";
  q.done("a");
  EXPECT_EQ(q.try_get(), "a");
  q.done("a");
  EXPECT_EQ(q.try_get(), std::nullopt) << "coalesced to one re-run";
}

TEST(WorkQueue, AddAfterWaitsForTheClock) {
  FakeClock clock(t0());
  WorkQueue q(clock);
  q.add_after("a", Millis(5000));
  EXPECT_EQ(q.delayed_count(), 1u);
  EXPECT_EQ(q.try_get(), std::nullopt);
  clock.advance(seconds(4));
  EXPECT_EQ(q.try_get(), std::nullopt);
  clock.advance(seconds(1));
  EXPECT_EQ(q.try_get(), "a");
  EXPECT_EQ(q.delayed_count(), 0u);
}

TEST(WorkQueue, AddAfterKeepsEarliestTime) {
  FakeClock clock(t0());
  WorkQueue q(clock);
  q.add_after("a", Millis(10'000));
  q.add_after("a", Millis(2'000));
  q.add_after("a", Millis(30'000));
  EXPECT_EQ(q.delayed_count(), 1u);
  clock.advance(seconds(2));
  EXPECT_EQ(q.try_get(), "a");
  q.done("a");
  clock.advance(seconds(60));
  EXPECT_EQ(q.try_get(), std::nullopt) << "later duplicates were dropped";
}

TEST(WorkQueue, ZeroDelayIsImmediate) {
  FakeClock clock(t0());
  WorkQueue q(clock);
  q.add_after("a", Millis(0));
  EXPECT_EQ(q.try_get(), "a");
}

TEST(WorkQueue, RateLimitedBacksOffPerKey) {
  FakeClock clock(t0());
  WorkQueue q(clock, {Millis(1000), Millis(4000), Millis(50)});
  q.add_rate_limited("a");  // 1 s
  clock.advance(seconds(1));
  ASSERT_EQ(q.try_get(), "a");
  q.done("a");
  q.add_rate_limited("a");  // 2 s
  clock.advance(seconds(1));
  EXPECT_EQ(q.try_get(), std::nullopt);
  clock.advance(seconds(1));
  ASSERT_EQ(q.try_get(), "a");
  q.done("a");
  EXPECT_EQ(q.num_requeues("a"), 2);
  q.forget("a");
  q.add_rate_limited("a");  // back to 1 s
  clock.advance(seconds(1));
  EXPECT_EQ(q.try_get(), "a");
}

TEST(WorkQueue, BlockedGetWakesWhenFakeClockAdvances) {
  FakeClock clock(t0());
  WorkQueue q(clock);
  q.add_after("a", Millis(60'000));
  std::optional<std::string> got;
  std::thread t([&] { got = q.get(); });
  clock.advance(seconds(60));
  q.clock_advanced();
  t.join();
  EXPECT_EQ(got, "a");
}

TEST(WorkQueue, ShutDownWakesAllWaitersAndIgnoresAdds) {
  FakeClock clock(t0());
  WorkQueue q(clock);
  std::vector<std::thread> threads;
  std::atomic<int> woke{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      if (!q.get()) woke.fetch_add(1);
    });
  }
  q.shut_down();
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(woke.load(), 4);
  q.add("x");
  EXPECT_EQ(q.try_get(), std::nullopt);
  EXPECT_TRUE(q.shutting_down());
}

TEST(WorkQueue, ShutDownDrainsReadyKeysFirst) {
  FakeClock clock(t0());
  WorkQueue q(clock);
  q.add("a");
  q.shut_down();
  EXPECT_EQ(q.get(), "a");
  EXPECT_EQ(q.get(), std::nullopt);
}

// Many producers and workers: a key is never processed by two workers at the
// same time, and every add is followed by at least one processing run.
TEST(WorkQueue, NeverHandsOneKeyToTwoWorkers) {
  SystemClock clock;
  WorkQueue q(clock);
  constexpr size_t kKeys = 16;
  std::vector<std::atomic<int>> in_flight(kKeys);
  std::vector<std::atomic<int>> runs(kKeys);
  std::atomic<int> violations{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&] {
      while (auto key = q.get()) {
        const auto k = static_cast<size_t>(std::stoi(*key));
        if (in_flight[k].fetch_add(1) != 0) violations.fetch_add(1);
        std::this_thread::yield();
        runs[k].fetch_add(1);
        in_flight[k].fetch_sub(1);
        q.done(*key);
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < 4; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < 2000; ++i)
        q.add(std::to_string(static_cast<size_t>(i + p) % kKeys));
    });
  }
  for (auto& t : producers)
    t.join();
  // Let the workers drain, then stop them.
  while (q.len() != 0)
    std::this_thread::yield();
  q.shut_down();
  for (auto& t : workers)
    t.join();
  EXPECT_EQ(violations.load(), 0);
  for (size_t k = 0; k < kKeys; ++k)
    EXPECT_GE(runs[k].load(), 1) << k;
}

// A hot key (re-added in a tight loop by another thread while it is being
// processed and while it waits) is queued at most once and goes to the back
// each time it is handed out, so every other key is served in FIFO order:
// at most one hot turn between two others.
TEST(WorkQueue, AKeyReAddedInATightLoopDoesNotStarveOthers) {
  FakeClock clock(t0());
  WorkQueue q(clock);
  q.add("hot");
  constexpr int kOthers = 10;
  for (int i = 0; i < kOthers; ++i)
    q.add("k" + std::to_string(i));
  std::atomic<bool> stop{false};
  std::thread hammer([&] {
    while (!stop.load())
      q.add("hot");
  });
  std::vector<std::string> served;
  int gets = 0;
  while (static_cast<int>(served.size()) < kOthers && gets < 1000) {
    auto key = q.get();
    ASSERT_TRUE(key);
    ++gets;
    if (*key != "hot") served.push_back(*key);
    q.done(*key);
  }
  stop.store(true);
  hammer.join();
  ASSERT_EQ(static_cast<int>(served.size()), kOthers);
  for (int i = 0; i < kOthers; ++i)
    EXPECT_EQ(served[static_cast<size_t>(i)], "k" + std::to_string(i)) << "FIFO";
  EXPECT_LE(gets, 2 * kOthers + 1) << "the hot key jumped ahead of others";
}

// A reconcile that asks for its key again at once, forever (a conflict on
// every pass), still lets one worker serve every other key.
TEST(Controller, AKeyThatAlwaysRequeuesAtOnceDoesNotStarveOthers) {
  SystemClock clock;
  std::atomic<int> hot_runs{0};
  std::mutex mu;
  std::set<std::string> served;
  Controller::Options opts;
  opts.workers = 1;
  Controller c(
      "hot", clock,
      [&](const ReconcileRequest& r) {
        if (r.name == "hot") {
          ++hot_runs;
          return ReconcileResult::conflict("always stale");
        }
        std::lock_guard lock(mu);
        served.insert(r.name);
        return ReconcileResult::done();
      },
      opts);
  c.start();
  c.enqueue("hot");
  while (hot_runs.load() < 100)
    std::this_thread::yield();  // the hot key is spinning
  for (int i = 0; i < 50; ++i)
    c.enqueue("k" + std::to_string(i));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  auto all_served = [&] {
    std::lock_guard lock(mu);
    return served.size() == 50U;
  };
  while (!all_served() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  c.stop();
  EXPECT_TRUE(all_served());
}

TEST(ControllerKeys, MakeAndSplit) {
  EXPECT_EQ(make_key("ns", "a"), "ns/a");
  EXPECT_EQ(make_key("", "node-1"), "node-1");
  EXPECT_EQ(split_key("ns/a"), (ReconcileRequest{"ns", "a"}));
  EXPECT_EQ(split_key("node-1"), (ReconcileRequest{"", "node-1"}));
}

TEST(Controller, ResultsTurnIntoForgetRequeueAndRetry) {
  FakeClock clock(t0());
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, int> calls;
  Controller c("test", clock,
               [&](const ReconcileRequest& r) {
                 std::lock_guard lock(mu);
                 const int n = ++calls[r.name];
                 cv.notify_all();
                 if (r.name == "fails" && n < 3) return ReconcileResult::failed("boom");
                 if (r.name == "later" && n == 1) return ReconcileResult::after(Millis(30'000));
                 return ReconcileResult::done();
               },
               {2, {Millis(1000), Millis(60'000), Millis(20)}});
  c.start();
  c.enqueue("ns", "ok");
  c.enqueue("ns", "fails");
  c.enqueue("ns", "later");
  auto wait_calls = [&](const std::string& name, int n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, seconds(10), [&] { return calls[name] >= n; });
  };
  ASSERT_TRUE(wait_calls("ok", 1));
  ASSERT_TRUE(wait_calls("fails", 1));
  ASSERT_TRUE(wait_calls("later", 1));
  // Retry of "fails" is due after 1 s, "later" after 30 s of fake time.
  for (int i = 0; i < 5; ++i) {
    clock.advance(seconds(2));
    c.queue().clock_advanced();
    std::unique_lock lock(mu);
    cv.wait_for(lock, Millis(200), [&] { return calls["fails"] >= 3; });
  }
  ASSERT_TRUE(wait_calls("fails", 3));
  clock.advance(seconds(30));
  c.queue().clock_advanced();
  ASSERT_TRUE(wait_calls("later", 2));
  c.stop();
  std::lock_guard lock(mu);
  EXPECT_EQ(calls["ok"], 1);
  EXPECT_EQ(calls["fails"], 3);
  EXPECT_EQ(calls["later"], 2);
  EXPECT_EQ(c.errors_total(), 2u);
  EXPECT_EQ(c.queue().num_requeues("ns/fails"), 0) << "success forgets the backoff";
  EXPECT_EQ(c.last_error(), std::optional<std::string>("ns/fails: boom"));
}

TEST(Controller, ConflictsRetryAtOnceAndTerminalFailuresWaitForAChange) {
  FakeClock clock(t0());  // never advanced: only an immediate requeue can run
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, int> calls;
  Controller c("test", clock,
               [&](const ReconcileRequest& r) {
                 std::lock_guard lock(mu);
                 const int n = ++calls[r.name];
                 cv.notify_all();
                 if (r.name == "stale" && n < 3) return ReconcileResult::conflict("stale");
                 if (r.name == "broken") return ReconcileResult::terminal("cannot decode");
                 return ReconcileResult::done();
               },
               {1, {Millis(1000), Millis(60'000), Millis(20)}});
  c.start();
  c.enqueue("ns", "stale");
  c.enqueue("ns", "broken");
  auto wait_calls = [&](const std::string& name, int n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, seconds(10), [&] { return calls[name] >= n; });
  };
  ASSERT_TRUE(wait_calls("stale", 3));  // without any backoff
  ASSERT_TRUE(wait_calls("broken", 1));
  std::this_thread::sleep_for(Millis(200));
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(calls["broken"], 1) << "a terminal failure is not retried";
  }
  EXPECT_EQ(c.queue().num_requeues("ns/broken"), 0);
  // The object changed (an informer event): it is reconciled again.
  c.enqueue("ns", "broken");
  ASSERT_TRUE(wait_calls("broken", 2));
  c.stop();
  EXPECT_EQ(c.errors_total(), 4u);
}

TEST(Controller, ApiErrorsMapToTheirRetryKinds) {
  auto error = [](ErrorKind k, std::string message) {
    ApiError e;
    e.kind = k;
    e.message = std::move(message);
    return e;
  };
  auto kind_of = [&](ErrorKind k) { return ReconcileResult::from(error(k, "x")).failure; };
  EXPECT_EQ(kind_of(ErrorKind::Conflict), ReconcileResult::Failure::Conflict);
  EXPECT_EQ(kind_of(ErrorKind::Invalid), ReconcileResult::Failure::Terminal);
  EXPECT_EQ(kind_of(ErrorKind::BadRequest), ReconcileResult::Failure::Terminal);
  EXPECT_EQ(kind_of(ErrorKind::Unavailable), ReconcileResult::Failure::Transient);
  EXPECT_EQ(kind_of(ErrorKind::TooManyRequests), ReconcileResult::Failure::Transient);
  EXPECT_EQ(*ReconcileResult::from(error(ErrorKind::Timeout, "slow")).error, "Timeout: slow");
}

TEST(Controller, ManyWorkersNeverReconcileOneKeyConcurrently) {
  SystemClock clock;
  std::atomic<int> violations{0};
  std::atomic<int> total{0};
  std::map<std::string, std::atomic<int>> in_flight;
  for (int k = 0; k < 8; ++k)
    in_flight[std::to_string(k)];
  Controller c("conc", clock,
               [&](const ReconcileRequest& r) {
                 if (in_flight.at(r.name).fetch_add(1) != 0) violations.fetch_add(1);
                 std::this_thread::yield();
                 in_flight.at(r.name).fetch_sub(1);
                 total.fetch_add(1);
                 return ReconcileResult::done();
               },
               {6, {}});
  c.start();
  for (int i = 0; i < 4000; ++i)
    c.enqueue("ns", std::to_string(i % 8));
  c.stop();
  EXPECT_EQ(violations.load(), 0);
  EXPECT_GE(total.load(), 1);
  EXPECT_FALSE(c.running());
}

TEST(ControllerHandlers, EnqueueObjectAndOwnerKeys) {
  FakeClock clock(t0());
  Controller c("h", clock, [](const ReconcileRequest&) { return ReconcileResult::done(); }, {});
  auto own = enqueue_object(c);
  auto owner = enqueue_owner(c, "GpuPool");
  auto make = [](const std::string& name, nlohmann::json refs) {
    return std::make_shared<const nlohmann::json>(nlohmann::json{
        {"metadata", {{"name", name}, {"namespace", "ns"}, {"ownerReferences", refs}}}});
  };
  own.on_add(make("pool-a", nlohmann::json::array()));
  EXPECT_EQ(c.queue().try_get(), "ns/pool-a");
  auto inst = make("inst-1", {{{"kind", "GpuPool"}, {"name", "pool-b"}, {"controller", true}}});
  owner.on_delete(inst);
  EXPECT_EQ(c.queue().try_get(), "ns/pool-b");
  owner.on_add(make("x", {{{"kind", "GpuPool"}, {"name", "pool-c"}, {"controller", false}},
                          {{"kind", "Other"}, {"name", "o"}, {"controller", true}}}));
  EXPECT_EQ(c.queue().try_get(), std::nullopt) << "no controller owner of that kind";
  owner.on_update(make("i", {{{"kind", "GpuPool"}, {"name", "old"}, {"controller", true}}}),
                  make("i", {{{"kind", "GpuPool"}, {"name", "new"}, {"controller", true}}}));
  EXPECT_EQ(c.queue().try_get(), "ns/old");
  EXPECT_EQ(c.queue().try_get(), "ns/new");
}

}  // namespace
}  // namespace gpupool::kube
