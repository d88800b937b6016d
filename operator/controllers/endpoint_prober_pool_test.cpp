// The pool of prober threads (endpoint_prober_pool.h) with a prober whose
// probes of ".../stuck" paths block until the test opens its gate: a blocked
// probe holds only its own thread, one probe per key, completions are told,
// forgotten keys' answers are dropped, and stop() does not wait for a stuck
// probe longer than its timeout. Waits are on conditions (bounded, so a
// broken pool fails instead of hanging), never sleeps.
#include "operator/controllers/endpoint_prober_pool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace gpupool::controllers {
namespace {

using namespace std::chrono_literals;

constexpr auto kPatience = 10s;  // far longer than any wait below should take

// Answers "HTTP 200" at once, except for URLs ending in /stuck, which wait
// for open_gate(). Optionally moves the fake clock while answering.
class GatedProber final : public EndpointProber {
 public:
  health::Probe probe(const std::string& url, Duration timeout) override {
    std::unique_lock lock(mu_);
    entered_.push_back(url);
    timeouts_.push_back(timeout);
    cv_.notify_all();
    if (url.ends_with("/stuck")) cv_.wait(lock, [this] { return open_; });
    if (clock_) clock_->advance(answer_takes_);
    ++returned_;
    cv_.notify_all();
    return {true, "HTTP 200"};
  }
  void open_gate() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void advance_while_answering(FakeClock& clock, Duration d) {
    std::lock_guard lock(mu_);
    clock_ = &clock;
    answer_takes_ = d;
  }
  bool wait_entered(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kPatience, [&] { return entered_.size() >= n; });
  }
  bool wait_returned(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kPatience, [&] { return returned_ >= n; });
  }
  std::vector<std::string> entered() {
    std::lock_guard lock(mu_);
    return entered_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  FakeClock* clock_ = nullptr;
  Duration answer_takes_{0};
  std::vector<std::string> entered_;
  std::vector<Duration> timeouts_;
  int returned_ = 0;
};

// The keys on_done was called with.
class Completions {
 public:
  ProbePool::OnDone callback() {
    return [this](const std::string& key) {
      std::lock_guard lock(mu_);
      keys_.push_back(key);
      cv_.notify_all();
    };
  }
  bool wait_for(const std::string& key) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kPatience,
                        [&] { return std::find(keys_.begin(), keys_.end(), key) != keys_.end(); });
  }
  std::vector<std::string> keys() {
    std::lock_guard lock(mu_);
    return keys_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> keys_;
};

constexpr const char* kStuck = "http://192.0.2.1:8000/stuck";
constexpr const char* kFine = "http://127.0.0.1:8000/health";

class ProbePoolTest : public ::testing::Test {
 protected:
  ProbePoolTest() : clock_(Time{std::chrono::hours(24 * 365 * 56)}) {}

  std::unique_ptr<ProbePool> make_pool(ProbePool::Options options) {
    return std::make_unique<ProbePool>(prober_, clock_, options, done_.callback());
  }
  void TearDown() override { prober_->open_gate(); }  // nothing stays blocked

  FakeClock clock_;
  std::shared_ptr<GatedProber> prober_ = std::make_shared<GatedProber>();
  Completions done_;
};

TEST_F(ProbePoolTest, AProbeThatNeverAnswersDoesNotDelayAnotherKeysProbe) {
  auto pool = make_pool({.threads = 2});
  ASSERT_EQ(pool->start("default/a", kStuck, Duration{5}), ProbePool::Started::Queued);
  ASSERT_TRUE(prober_->wait_entered(1));
  ASSERT_EQ(pool->start("default/b", kFine, Duration{5}), ProbePool::Started::Queued);

  ASSERT_TRUE(done_.wait_for("default/b"));
  auto b = pool->take("default/b");
  ASSERT_TRUE(b.has_value());
  EXPECT_TRUE(b->probe.ok);
  EXPECT_EQ(b->probe.detail, "HTTP 200");
  EXPECT_EQ(b->url, kFine);
  EXPECT_FALSE(pool->take("default/b").has_value()) << "a result is handed out once";
  EXPECT_FALSE(pool->pending("default/b"));

  EXPECT_TRUE(pool->pending("default/a"));
  EXPECT_FALSE(pool->take("default/a").has_value()) << "still in flight";
  prober_->open_gate();
  ASSERT_TRUE(done_.wait_for("default/a"));
  auto a = pool->take("default/a");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->url, kStuck);
  EXPECT_EQ(pool->size(), 0u);
}

TEST_F(ProbePoolTest, OneProbePerKeyUntilItsResultIsTaken) {
  auto pool = make_pool({.threads = 4});
  ASSERT_EQ(pool->start("default/a", kStuck, Duration{5}), ProbePool::Started::Queued);
  EXPECT_EQ(pool->start("default/a", kStuck, Duration{5}), ProbePool::Started::AlreadyPending);
  EXPECT_EQ(pool->start("default/a", kFine, Duration{5}), ProbePool::Started::AlreadyPending);
  ASSERT_TRUE(prober_->wait_entered(1));
  prober_->open_gate();
  ASSERT_TRUE(done_.wait_for("default/a"));
  // Finished but not taken: still one for the key.
  EXPECT_EQ(pool->start("default/a", kFine, Duration{5}), ProbePool::Started::AlreadyPending);
  EXPECT_EQ(prober_->entered().size(), 1u);
  ASSERT_TRUE(pool->take("default/a").has_value());
  EXPECT_EQ(pool->start("default/a", kFine, Duration{5}), ProbePool::Started::Queued);
  ASSERT_TRUE(prober_->wait_returned(2));
  EXPECT_EQ(prober_->entered(), (std::vector<std::string>{kStuck, kFine}));
}

TEST_F(ProbePoolTest, TheProbeTimeIsWhenTheGetStartedNotWhenItAnswered) {
  auto pool = make_pool({.threads = 1});
  const Time t0 = clock_.now();
  prober_->advance_while_answering(clock_, Duration{3});
  ASSERT_EQ(pool->start("default/a", kFine, Duration{5}), ProbePool::Started::Queued);
  ASSERT_TRUE(done_.wait_for("default/a"));
  auto a = pool->take("default/a");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->started, t0);
  EXPECT_EQ(clock_.now(), t0 + Duration{3});
}

TEST_F(ProbePoolTest, TheAnswerOfAForgottenKeyIsDroppedAndNotTold) {
  auto pool = make_pool({.threads = 1});
  ASSERT_EQ(pool->start("default/gone", kStuck, Duration{5}), ProbePool::Started::Queued);
  ASSERT_TRUE(prober_->wait_entered(1));
  ASSERT_EQ(pool->start("default/queued", kFine, Duration{5}), ProbePool::Started::Queued);
  ASSERT_EQ(pool->start("default/after", kFine, Duration{5}), ProbePool::Started::Queued);
  pool->forget("default/gone");    // in flight
  pool->forget("default/queued");  // not started yet: never probed
  EXPECT_FALSE(pool->pending("default/gone"));
  EXPECT_EQ(pool->size(), 1u);
  prober_->open_gate();
  // One thread, in order: once "after" is told, "gone" has been finished.
  ASSERT_TRUE(done_.wait_for("default/after"));
  EXPECT_THAT(done_.keys(), ::testing::ElementsAre("default/after"));
  EXPECT_FALSE(pool->take("default/gone").has_value());
  EXPECT_EQ(prober_->entered(), (std::vector<std::string>{kStuck, kFine}));
  ASSERT_TRUE(pool->take("default/after").has_value());
  EXPECT_EQ(pool->size(), 0u);
  // A key forgotten and started again gets its new probe's answer.
  ASSERT_EQ(pool->start("default/gone", kFine, Duration{5}), ProbePool::Started::Queued);
  ASSERT_TRUE(done_.wait_for("default/gone"));
  EXPECT_TRUE(pool->take("default/gone").has_value());
}

TEST_F(ProbePoolTest, AtMostMaxKeysAreHeld) {
  auto pool = make_pool({.threads = 1, .max_keys = 2});
  // Finished or not, a key is held until its result is taken (or forgotten).
  ASSERT_EQ(pool->start("default/a", kFine, Duration{5}), ProbePool::Started::Queued);
  ASSERT_EQ(pool->start("default/b", kFine, Duration{5}), ProbePool::Started::Queued);
  EXPECT_EQ(pool->start("default/c", kFine, Duration{5}), ProbePool::Started::Full);
  pool->forget("default/b");
  EXPECT_EQ(pool->start("default/c", kFine, Duration{5}), ProbePool::Started::Queued);
  EXPECT_EQ(pool->size(), 2u);
}

TEST_F(ProbePoolTest, StopDoesNotWaitForAStuckProbeLongerThanItsTimeoutAndDropsQueuedOnes) {
  auto pool = make_pool({.threads = 1});
  ASSERT_EQ(pool->start("default/a", kStuck, Duration{1}), ProbePool::Started::Queued);
  ASSERT_TRUE(prober_->wait_entered(1));
  ASSERT_EQ(pool->start("default/queued", kFine, Duration{1}), ProbePool::Started::Queued);
  const auto before = std::chrono::steady_clock::now();
  pool->stop();
  const auto took = std::chrono::steady_clock::now() - before;
  EXPECT_LT(took, 3s) << "stop() waited for a probe that never answers";
  EXPECT_GE(took, 1s) << "stop() should give a probe in flight its timeout";
  EXPECT_EQ(pool->start("default/b", kFine, Duration{1}), ProbePool::Started::Stopped);
  EXPECT_FALSE(pool->pending("default/a"));
  // The stuck probe answers after all: dropped, nobody is told, and the
  // queued probe never runs.
  prober_->open_gate();
  ASSERT_TRUE(prober_->wait_returned(1));
  pool.reset();  // the thread left behind still holds what it needs
  EXPECT_TRUE(done_.keys().empty());
  EXPECT_EQ(prober_->entered(), (std::vector<std::string>{kStuck}));
}

TEST_F(ProbePoolTest, StopWithNothingInFlightJoinsAtOnce) {
  auto pool = make_pool({.threads = 3});
  ASSERT_EQ(pool->start("default/a", kFine, Duration{30}), ProbePool::Started::Queued);
  ASSERT_TRUE(done_.wait_for("default/a"));
  const auto before = std::chrono::steady_clock::now();
  pool->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 1s);
  pool->stop();  // idempotent
  EXPECT_EQ(pool->size(), 0u);
  EXPECT_EQ(pool->start("default/a", kFine, Duration{30}), ProbePool::Started::Stopped);
}

TEST(ProbePoolOptionsTest, ThreadsAndKeysAreChecked) {
  EXPECT_EQ(ProbePool::invalid({}), "");
  EXPECT_EQ(ProbePool::invalid({.threads = 0}), "threads must be 1..64, not 0");
  EXPECT_EQ(ProbePool::invalid({.threads = 65}), "threads must be 1..64, not 65");
  EXPECT_EQ(ProbePool::invalid({.threads = 1, .max_keys = 0}), "max_keys must be at least 1");
}

}  // namespace
}  // namespace gpupool::controllers
