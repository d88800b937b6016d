#include "operator/controllers/provider_slots.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "operator/clock/clock.h"
#include "operator/kube/runtime/workqueue.h"

namespace gpupool::controllers {
namespace {

TEST(ProviderSlots, RefusesAtTheLimitWithoutBlockingAndCountsPerProvider) {
  ProviderSlots slots(2);
  ProviderSlots::Slot a = slots.try_acquire("slow");
  ProviderSlots::Slot b = slots.try_acquire("slow");
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_EQ(slots.in_flight("slow"), 2);
  EXPECT_FALSE(slots.try_acquire("slow"));  // at the limit: refused at once
  EXPECT_FALSE(slots.try_acquire("slow"));
  // Another provider has slots of its own.
  ProviderSlots::Slot c = slots.try_acquire("fast");
  EXPECT_TRUE(c);
  EXPECT_EQ(slots.in_flight("fast"), 1);
  const auto refused = slots.refusals();
  EXPECT_EQ(refused.at("slow"), 2);
  EXPECT_EQ(refused.count("fast"), 0U);
}

TEST(ProviderSlots, ASlotIsGivenBackWhenItGoesOutOfScopeOrIsReleased) {
  ProviderSlots slots(1);
  {
    ProviderSlots::Slot a = slots.try_acquire("p");
    ASSERT_TRUE(a);
    EXPECT_FALSE(slots.try_acquire("p"));
  }
  EXPECT_EQ(slots.in_flight("p"), 0);
  ProviderSlots::Slot b = slots.try_acquire("p");
  ASSERT_TRUE(b);
  b.release();
  b.release();  // idempotent: gives back one slot, not two
  EXPECT_FALSE(b);
  EXPECT_EQ(slots.in_flight("p"), 0);
  ProviderSlots::Slot c = slots.try_acquire("p");
  ProviderSlots::Slot d = slots.try_acquire("p");
  EXPECT_TRUE(c);
  EXPECT_FALSE(d);
}

TEST(ProviderSlots, AMovedSlotIsHeldOnceAndGivenBackOnce) {
  ProviderSlots slots(1);
  ProviderSlots::Slot a = slots.try_acquire("p");
  ProviderSlots::Slot b = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_TRUE(b);
  EXPECT_EQ(slots.in_flight("p"), 1);
  ProviderSlots::Slot c;
  c = std::move(b);
  EXPECT_EQ(slots.in_flight("p"), 1);
  c = ProviderSlots::Slot{};  // assigning over a held slot gives it back
  EXPECT_EQ(slots.in_flight("p"), 0);
}

TEST(ProviderSlots, ZeroLimitIsUnlimited) {
  ProviderSlots slots(0);
  std::vector<ProviderSlots::Slot> held;
  for (int i = 0; i < 100; ++i)
    held.push_back(slots.try_acquire("p"));
  for (const auto& s : held)
    EXPECT_TRUE(s);
  EXPECT_EQ(slots.in_flight("p"), 100);
  EXPECT_TRUE(slots.refusals().empty());
}

TEST(ProviderSlots, DefaultIsHalfTheWorkersAndAtLeastOne) {
  EXPECT_EQ(default_provider_concurrency(1), 1);
  EXPECT_EQ(default_provider_concurrency(2), 1);
  EXPECT_EQ(default_provider_concurrency(3), 1);
  EXPECT_EQ(default_provider_concurrency(8), 4);
  EXPECT_EQ(default_provider_concurrency(0), 1);
}

TEST(ProviderSlots, ThreadsNeverHoldMoreThanTheLimit) {
  constexpr int kLimit = 3;
  ProviderSlots slots(kLimit);
  std::atomic<int> holding{0};
  std::atomic<int> most{0};
  std::atomic<int> taken{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        ProviderSlots::Slot s = slots.try_acquire("p");
        if (!s) continue;
        ++taken;
        const int now = ++holding;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        --holding;
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_LE(most.load(), kLimit);
  EXPECT_GT(taken.load(), 0);
  EXPECT_EQ(slots.in_flight("p"), 0);
}

// Issue 12: a refused key is put back on its queue when a slot frees, not by
// polling; once, however often it was refused; oldest first, one per slot.
TEST(ProviderSlots, ARefusedKeyIsWokenExactlyWhenASlotIsReleased) {
  ProviderSlots slots(1);
  std::vector<std::string> woken;
  const ProviderSlots::Enqueue enqueue = [&](const std::string& key) { woken.push_back(key); };
  ProviderSlots::Slot call = slots.try_acquire("p");
  ASSERT_TRUE(call);
  for (int i = 0; i < 3; ++i) {  // refused three times: waits once
    ASSERT_FALSE(slots.try_acquire("p"));
    EXPECT_TRUE(slots.wait("p", {&enqueue, "ns/a"}));
  }
  ASSERT_FALSE(slots.try_acquire("p"));
  EXPECT_TRUE(slots.wait("p", {&enqueue, "ns/b"}));
  EXPECT_EQ(slots.waiting("p"), 2);
  EXPECT_TRUE(woken.empty()) << "nobody is woken while the slot is held";
  call.release();
  EXPECT_EQ(woken, std::vector<std::string>{"ns/a"}) << "one slot freed: the oldest waiter";
  EXPECT_EQ(slots.waiting("p"), 1);
  ProviderSlots::Slot a = slots.try_acquire("p");  // what ns/a's reconcile does
  ASSERT_TRUE(a);
  a.release();
  EXPECT_EQ(woken, (std::vector<std::string>{"ns/a", "ns/b"}));
  EXPECT_EQ(slots.waiting("p"), 0);
  EXPECT_EQ(slots.wakes(), 2);
}

TEST(ProviderSlots, EveryFreeSlotWakesOneWaiterAndOtherProvidersWakeNobody) {
  ProviderSlots slots(2);
  std::vector<std::string> woken;
  const ProviderSlots::Enqueue enqueue = [&](const std::string& key) { woken.push_back(key); };
  ProviderSlots::Slot a = slots.try_acquire("p");
  ProviderSlots::Slot b = slots.try_acquire("p");
  for (const char* key : {"k1", "k2", "k3"})
    EXPECT_TRUE(slots.wait("p", {&enqueue, key}));
  {
    ProviderSlots::Slot other = slots.try_acquire("q");
    ASSERT_TRUE(other);
  }
  EXPECT_TRUE(woken.empty());
  a.release();
  EXPECT_EQ(woken, std::vector<std::string>{"k1"});
  // The woken key did not take the slot; the next release hands on both.
  b.release();
  EXPECT_EQ(woken, (std::vector<std::string>{"k1", "k2", "k3"}));
}

TEST(ProviderSlots, WaitingWhenASlotIsAlreadyFreeRegistersNothing) {
  ProviderSlots slots(1);
  std::vector<std::string> woken;
  const ProviderSlots::Enqueue enqueue = [&](const std::string& key) { woken.push_back(key); };
  // Freed between the refusal and wait(): the caller must try again itself.
  EXPECT_FALSE(slots.wait("p", {&enqueue, "k"}));
  const ProviderSlots::Enqueue empty;
  ProviderSlots::Slot call = slots.try_acquire("p");
  EXPECT_FALSE(slots.wait("p", {&empty, "k"})) << "no queue to wake it through";
  EXPECT_FALSE(slots.wait("p", {nullptr, "k"}));
  EXPECT_EQ(slots.waiting("p"), 0);
  EXPECT_EQ(slots.refused_result({"p"}, &empty, "k").requeue_after, kProviderBusyRequeue);
  EXPECT_EQ(slots.refused_result({"p"}, &enqueue, "k").requeue_after, kProviderWaitSafetyRequeue);
  call.release();
  EXPECT_EQ(woken, std::vector<std::string>{"k"});
  EXPECT_EQ(slots.refused_result({"p"}, &enqueue, "k").requeue_after, kube::Millis{0})
      << "a slot is free: come back at once";
}

// The queue's view: while the slot is held the refused key runs once (no
// polling), then runs again the moment the slot is given back.
TEST(ProviderSlots, ARefusedKeyDoesNotRunWhileTheSlotIsHeldAndRunsOnceItFrees) {
  FakeClock clock(Time{std::chrono::hours(1)});
  kube::WorkQueue queue(clock);
  ProviderSlots slots(1);
  const ProviderSlots::Enqueue enqueue = [&](const std::string& key) { queue.add(key); };
  int runs = 0;
  int calls = 0;
  // One worker pass, as kube::Controller applies a reconcile's result.
  auto work = [&] {
    std::optional<std::string> key = queue.try_get();
    if (!key) return false;
    ++runs;
    kube::ReconcileResult r = kube::ReconcileResult::done();
    if (ProviderSlots::Slot s = slots.try_acquire("p")) {
      ++calls;
    } else {
      r = slots.refused_result({"p"}, &enqueue, *key);
    }
    queue.forget(*key);
    if (r.requeue_after) queue.add_after(*key, *r.requeue_after);
    queue.done(*key);
    return true;
  };
  ProviderSlots::Slot slow_call = slots.try_acquire("p");
  queue.add("ns/a");
  // 9 s of a held slot (under kProviderWaitSafetyRequeue), looked at each second.
  for (int i = 0; i < 9; ++i) {
    while (work()) {
    }
    clock.advance(std::chrono::seconds(1));
    queue.clock_advanced();
  }
  EXPECT_EQ(runs, 1) << "the old 300 ms requeue ran it at every look";
  EXPECT_EQ(calls, 0);
  slow_call.release();
  ASSERT_TRUE(work()) << "woken at once, no clock advance needed";
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace gpupool::controllers
