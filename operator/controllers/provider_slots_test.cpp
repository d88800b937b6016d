#include "operator/controllers/provider_slots.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <utility>
#include <vector>

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

}  // namespace
}  // namespace gpupool::controllers
