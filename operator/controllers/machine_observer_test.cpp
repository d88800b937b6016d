// MachineObserver: one list per provider per period, shared by every
// instance; never an answer it cannot stand behind.
#include "operator/controllers/machine_observer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "providers/fake/fake_provider.h"

namespace gpupool::controllers {
namespace {

using namespace std::chrono_literals;

Time t0() {
  Time t;
  EXPECT_TRUE(parse_rfc3339("2026-11-02T10:00:00Z", t));
  return t;
}

Offer l40s() {
  Offer o;
  o.id = "plan-a";
  o.region = "paris";
  o.gpu_model = "L40S";
  o.gpu_count = 1;
  o.price_per_hour = *Money::parse("0.86");
  return o;
}

InstanceIntent intent(const std::string& name, const std::string& pool_uid = "uid-1") {
  InstanceIntent i;
  i.name = name;
  i.pool_uid = pool_uid;
  i.pool_namespace = "ml";
  i.pool_name = "pool";
  i.offer = l40s();
  return i;
}

class MachineObserverTest : public ::testing::Test {
 protected:
  MachineObserverTest() : fake(provider("local")) {}
  // A fake provider selling l40s(), its machines up `boot_delay` after
  // they are bought.
  std::shared_ptr<FakeProvider> provider(const std::string& name, Duration boot_delay = 0s) {
    FakeProviderOptions o;
    o.name = name;
    o.offers = {{l40s(), -1}};
    o.boot_delay = boot_delay;
    return std::make_shared<FakeProvider>(o, clock);
  }
  // Buys `n` machines named m-0.. and returns their provider ids.
  std::vector<std::string> buy(int n, const std::string& pool_uid = "uid-1") {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      auto m = fake->create(intent("m-" + std::to_string(i), pool_uid));
      EXPECT_TRUE(m.ok());
      ids.push_back(m.ok() ? m->provider_id : "");
    }
    clock.advance(1s);  // booted
    return ids;
  }
  std::optional<Machine> observe(const std::string& name, const std::string& pool_uid = "uid-1") {
    return observer.observe(fake, "local", pool_uid, name, clock.now());
  }

  FakeClock clock{t0()};
  std::shared_ptr<FakeProvider> fake;
  MachineObserver observer{30s};
};

TEST_F(MachineObserverTest, OneListPerPeriodAnswersEveryMachineOfTheProvider) {
  const auto ids = buy(50);
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < 50; ++i) {
      auto m = observe("m-" + std::to_string(i));
      ASSERT_TRUE(m.has_value()) << i;
      EXPECT_EQ(m->provider_id, ids[static_cast<size_t>(i)]);
      EXPECT_EQ(m->state, MachineState::Running);
    }
    clock.advance(15s);  // the instance poll
  }
  // 4 rounds 15 s apart span 45 s: one list at 0 s and one at 30 s; no get.
  EXPECT_EQ(fake->calls(FakeMethod::List), 2);
  EXPECT_EQ(fake->calls(FakeMethod::Get), 0);
  EXPECT_EQ(observer.lists(), 2);
}

TEST_F(MachineObserverTest, PeekAnswersFromAFreshListAndNeverTakesOne) {
  const auto ids = buy(1);
  EXPECT_FALSE(observer.peek(fake, "local", "uid-1", "m-0", clock.now()).has_value());
  EXPECT_EQ(fake->calls(FakeMethod::List), 0);
  ASSERT_TRUE(observe("m-0").has_value());
  auto seen = observer.peek(fake, "local", "uid-1", "m-0", clock.now());
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->provider_id, ids[0]);
  clock.advance(30s);
  EXPECT_FALSE(observer.peek(fake, "local", "uid-1", "m-0", clock.now()).has_value());
  EXPECT_EQ(fake->calls(FakeMethod::List), 1);
}

TEST_F(MachineObserverTest, AMachineTheListDoesNotHoldIsLeftToGet) {
  buy(1);
  ASSERT_TRUE(observe("m-0").has_value());
  // Bought after the list was taken: the list cannot vouch for it, and its
  // absence is not taken as "gone".
  ASSERT_TRUE(fake->create(intent("late")).ok());
  EXPECT_FALSE(observe("late").has_value());
  // Another pool's machine of the same name is not this one.
  EXPECT_FALSE(observe("m-0", "uid-other").has_value());
  EXPECT_EQ(fake->calls(FakeMethod::List), 1);
}

TEST_F(MachineObserverTest, AVanishedMachineShowsAtTheNextListNotBefore) {
  const auto ids = buy(2);
  ASSERT_TRUE(observe("m-0").has_value());
  fake->vanish(ids[0]);
  // Within the period the list still shows it running: the reconciler's
  // detection waits for the next list (at most the period).
  auto stale = observe("m-0");
  ASSERT_TRUE(stale.has_value());
  EXPECT_EQ(stale->state, MachineState::Running);
  clock.advance(30s);
  auto fresh = observe("m-0");
  // The list leaves gone machines out (or shows them gone): either way not Running.
  EXPECT_TRUE(!fresh.has_value() || fresh->state != MachineState::Running);
  EXPECT_TRUE(observe("m-1").has_value());
  EXPECT_EQ(fake->calls(FakeMethod::List), 2);
}

TEST_F(MachineObserverTest, AFailedListIsNotRetriedByEveryReconcileUntilThePeriodPasses) {
  buy(3);
  fake->fail_next(FakeMethod::List, provider_error(ProviderErrorKind::Transient, "502"), 1);
  EXPECT_FALSE(observe("m-0").has_value());
  EXPECT_FALSE(observe("m-1").has_value());
  EXPECT_FALSE(observe("m-2").has_value());
  EXPECT_EQ(fake->calls(FakeMethod::List), 1);
  EXPECT_EQ(observer.failed_lists(), 1);
  clock.advance(30s);
  EXPECT_TRUE(observe("m-0").has_value());
  EXPECT_EQ(fake->calls(FakeMethod::List), 2);
  // A failure after a good list: the old list is not trusted past its
  // period; get() answers until the next try.
  clock.advance(30s);
  fake->fail_next(FakeMethod::List, provider_error(ProviderErrorKind::Transient, "502"), 1);
  EXPECT_FALSE(observe("m-0").has_value());
  EXPECT_FALSE(observe("m-1").has_value());
  EXPECT_EQ(fake->calls(FakeMethod::List), 3);
}

TEST_F(MachineObserverTest, ARebuiltAdapterIsListedAgain) {
  buy(1);
  ASSERT_TRUE(observe("m-0").has_value());
  // The registry rebuilt the GpuProvider's adapter (new credentials): the
  // old list was the old adapter's answer.
  auto rebuilt = provider("local");
  EXPECT_FALSE(observer.observe(rebuilt, "local", "uid-1", "m-0", clock.now()).has_value());
  EXPECT_EQ(rebuilt->calls(FakeMethod::List), 1);
  EXPECT_EQ(fake->calls(FakeMethod::List), 1);
}

TEST_F(MachineObserverTest, ProvidersAreListedSeparately) {
  buy(1);
  auto other = provider("other");
  ASSERT_TRUE(other->create(intent("m-0")).ok());
  clock.advance(1s);
  ASSERT_TRUE(observe("m-0").has_value());
  auto there = observer.observe(other, "other", "uid-1", "m-0", clock.now());
  ASSERT_TRUE(there.has_value());
  EXPECT_EQ(fake->calls(FakeMethod::List), 1);
  EXPECT_EQ(other->calls(FakeMethod::List), 1);
}

// Many reconciles at once take one list between them; none waits for it.
TEST_F(MachineObserverTest, ConcurrentReconcilesShareOneList) {
  buy(20);
  std::vector<std::thread> threads;
  std::atomic<int> answered{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        if (observe("m-" + std::to_string((i + t) % 20))) ++answered;
      }
    });
  }
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(fake->calls(FakeMethod::List), 1);
  EXPECT_GT(answered.load(), 0);
}

// Issue 12: each list is compared with the previous one, and what changed
// is reported once: an address or port, a machine gone from the list, a new
// one; an unchanged machine, and any machine on the first list, are not.
TEST_F(MachineObserverTest, AListReportsWhatChangedSinceThePreviousListAndNothingElse) {
  std::vector<std::string> changes;
  int64_t lists_seen_in_callback = -1;
  observer.set_on_change(
      [&](const std::string& provider, const std::string& pool_uid, const std::string& name) {
        changes.push_back(provider + " " + pool_uid + " " + name);
        lists_seen_in_callback = observer.lists();  // called outside the observer's lock
      });
  EXPECT_TRUE(observer.reports_changes());
  const auto ids = buy(2);
  InstanceIntent web = intent("web-0");
  web.container.image = "vllm/vllm-openai";
  web.container.port = 8000;
  ASSERT_TRUE(fake->create(web).ok());
  clock.advance(1s);
  ASSERT_TRUE(observe("m-0").has_value());
  EXPECT_TRUE(changes.empty()) << "the first list has nothing to compare with";
  clock.advance(30s);
  ASSERT_TRUE(observe("m-0").has_value());
  EXPECT_TRUE(changes.empty()) << "nothing changed";

  fake->vanish(ids[0]);
  fake->set_endpoint_port("web-0", 9000);
  ASSERT_TRUE(fake->create(intent("m-new")).ok());
  clock.advance(30s);
  EXPECT_FALSE(observe("m-0").has_value());
  std::sort(changes.begin(), changes.end());
  EXPECT_EQ(changes, (std::vector<std::string>{"local uid-1 m-0", "local uid-1 m-new",
                                               "local uid-1 web-0"}));
  EXPECT_EQ(lists_seen_in_callback, 3);
  changes.clear();
  clock.advance(30s);
  ASSERT_TRUE(observe("m-1").has_value());
  EXPECT_TRUE(changes.empty()) << "each change is reported once";
  EXPECT_EQ(fake->calls(FakeMethod::Get), 0);
}

TEST_F(MachineObserverTest, AListReportsAMachineWhoseStateChanged) {
  auto slow = provider("slow", 20s);
  std::vector<std::string> changes;
  observer.set_on_change(
      [&](const std::string& provider, const std::string& pool_uid, const std::string& name) {
        changes.push_back(provider + " " + pool_uid + " " + name);
      });
  ASSERT_TRUE(slow->create(intent("m-0")).ok());
  auto booting = observer.observe(slow, "slow", "uid-1", "m-0", clock.now());
  ASSERT_TRUE(booting.has_value());
  EXPECT_NE(booting->state, MachineState::Running);
  clock.advance(30s);
  auto running = observer.observe(slow, "slow", "uid-1", "m-0", clock.now());
  ASSERT_TRUE(running.has_value());
  EXPECT_EQ(running->state, MachineState::Running);
  EXPECT_EQ(changes, std::vector<std::string>{"slow uid-1 m-0"});
}

// A failed list reports nothing, and the next good one is compared with the
// last good one: a change made meanwhile is not lost.
TEST_F(MachineObserverTest, AChangeDuringAFailedListIsReportedByTheNextGoodOne) {
  std::vector<std::string> changes;
  observer.set_on_change([&](const std::string&, const std::string&, const std::string& name) {
    changes.push_back(name);
  });
  const auto ids = buy(2);
  ASSERT_TRUE(observe("m-0").has_value());
  fake->vanish(ids[1]);
  clock.advance(30s);
  fake->fail_next(FakeMethod::List, provider_error(ProviderErrorKind::Transient, "502"), 1);
  EXPECT_FALSE(observe("m-0").has_value());
  EXPECT_TRUE(changes.empty());
  clock.advance(30s);
  ASSERT_TRUE(observe("m-0").has_value());
  EXPECT_EQ(changes, std::vector<std::string>{"m-1"});
}

// A rebuilt adapter (new credentials, maybe another account) is compared
// with the old adapter's list: machines it does not show are reported.
TEST_F(MachineObserverTest, ARebuiltAdaptersFirstListIsComparedWithTheOldOnes) {
  std::vector<std::string> changes;
  observer.set_on_change([&](const std::string&, const std::string&, const std::string& name) {
    changes.push_back(name);
  });
  buy(1);
  ASSERT_TRUE(observe("m-0").has_value());
  auto rebuilt = provider("local");
  EXPECT_FALSE(observer.observe(rebuilt, "local", "uid-1", "m-0", clock.now()).has_value());
  EXPECT_EQ(changes, std::vector<std::string>{"m-0"});
}

// With no callback (tests, the simulator) nothing is reported, and readers
// are told so.
TEST_F(MachineObserverTest, WithoutACallbackNoChangeIsReported) {
  EXPECT_FALSE(observer.reports_changes());
  const auto ids = buy(1);
  ASSERT_TRUE(observe("m-0").has_value());
  fake->vanish(ids[0]);
  clock.advance(30s);
  EXPECT_FALSE(observe("m-0").has_value());
  observer.set_on_change([](const std::string&, const std::string&, const std::string&) {});
  EXPECT_TRUE(observer.reports_changes());
  observer.set_on_change(nullptr);
  EXPECT_FALSE(observer.reports_changes());
}

}  // namespace
}  // namespace gpupool::controllers
