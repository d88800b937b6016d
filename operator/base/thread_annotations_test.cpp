#include "operator/base/thread_annotations.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <thread>

namespace gpupool {
namespace {

using namespace std::chrono_literals;

// A value guarded the way production classes guard theirs, so this file is
// itself checked by -Werror=thread-safety.
class Box {
 public:
  void set(int v) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    set_locked(v);
    cv_.notify_all();
  }
  int get() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return value_;
  }
  // Waits up to `d` for value_ >= want; returns whether it got there.
  bool wait_at_least(int want, std::chrono::milliseconds d) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return lock.wait_for(cv_, d, [&]() REQUIRES(mu_) { return value_ >= want; });
  }
  // The same, written as a loop around the plain wait_until().
  bool wait_at_least_loop(int want, std::chrono::milliseconds d) EXCLUDES(mu_) {
    const auto deadline = std::chrono::steady_clock::now() + d;
    MutexLock lock(mu_);
    while (value_ < want) {
      if (lock.wait_until(cv_, deadline) == std::cv_status::timeout) return value_ >= want;
    }
    return true;
  }
  Mutex& mu() RETURN_CAPABILITY(mu_) { return mu_; }

 private:
  void set_locked(int v) REQUIRES(mu_) { value_ = v; }

  Mutex mu_;
  std::condition_variable cv_;
  int value_ GUARDED_BY(mu_) = 0;
};

// Whether another thread could take `mu` right now (and give it back).
bool free_elsewhere(Mutex& mu) {
  bool got = false;
  std::thread([&] {
    if (mu.try_lock()) {
      got = true;
      mu.unlock();
    }
  }).join();
  return got;
}

// Ends a MutexLock's scope after unlock() while the mutex is held by a plain
// lock(): the destructor must not release it. The analysis cannot follow a
// capability released by hand and then retaken outside the scoped object.
bool destructor_after_unlock_leaves_mutex_alone(Mutex& mu) NO_THREAD_SAFETY_ANALYSIS {
  {
    MutexLock lock(mu);
    lock.unlock();
    mu.lock();
  }
  const bool still_held = !free_elsewhere(mu);
  mu.unlock();
  return still_held;
}

TEST(MutexTest, MutexLockHoldsTheMutexForItsScopeOnly) {
  Mutex mu;
  {
    MutexLock lock(mu);
    EXPECT_FALSE(free_elsewhere(mu));
  }
  EXPECT_TRUE(free_elsewhere(mu));
}

TEST(MutexTest, UnlockAndLockInsideTheScopeReleaseAndRetake) {
  Mutex mu;
  MutexLock lock(mu);
  lock.unlock();
  EXPECT_TRUE(free_elsewhere(mu));
  lock.lock();
  EXPECT_FALSE(free_elsewhere(mu));
}

TEST(MutexTest, DestructorAfterUnlockDoesNotUnlockAgain) {
  Mutex mu;
  EXPECT_TRUE(destructor_after_unlock_leaves_mutex_alone(mu));
}

TEST(MutexTest, WaitForWakesWhenThePredicateBecomesTrue) {
  Box box;
  std::thread setter([&] { box.set(3); });
  EXPECT_TRUE(box.wait_at_least(3, 10s));
  setter.join();
  std::thread setter2([&] { box.set(5); });
  EXPECT_TRUE(box.wait_at_least_loop(5, 10s));
  setter2.join();
}

TEST(MutexTest, WaitForTimesOutWithTheMutexHeldAgain) {
  Box box;
  EXPECT_FALSE(box.wait_at_least(1, 20ms));
  EXPECT_FALSE(box.wait_at_least_loop(1, 20ms));
  // Both waits returned with the mutex re-taken and then released by the
  // scope: it is free now.
  EXPECT_TRUE(free_elsewhere(box.mu()));
  EXPECT_EQ(box.get(), 0);
}

}  // namespace
}  // namespace gpupool
