#pragma once
// Clang thread-safety annotations, and a mutex and scoped lock that carry them.
//
// clang's -Wthread-safety checks at compile time that data marked GUARDED_BY(mu)
// is only touched with mu held and that a function marked REQUIRES(mu) is only
// called with it held. The build makes those warnings errors under clang; under
// any other compiler every macro here expands to nothing, so g++ builds the same
// code unchecked. See https://clang.llvm.org/docs/ThreadSafetyAnalysis.html.
//
// libstdc++'s std::mutex carries no capability attribute, so annotated code
// uses gpupool::Mutex and gpupool::MutexLock (the shape of absl::Mutex /
// absl::MutexLock and Chromium's base::Lock / base::AutoLock):
//
//   class Counter {
//    public:
//     void add(int n) EXCLUDES(mu_) { MutexLock lock(mu_); total_ += n; }
//    private:
//     void reset_locked() REQUIRES(mu_) { total_ = 0; }
//     Mutex mu_;
//     int total_ GUARDED_BY(mu_) = 0;
//   };
//
// Condition variables: MutexLock::wait / wait_for / wait_until take a
// std::condition_variable and block on it with the mutex released, like
// std::condition_variable::wait on a std::unique_lock. Write the predicate as
// a loop in the function that holds the lock, so the analysis sees the guarded
// reads under it:
//
//   MutexLock lock(mu_);
//   while (!ready_ && !stopping_) lock.wait(cv_);
//
// (A predicate lambda is analysed as a separate function that does not hold the
// lock; annotate it `[&]() REQUIRES(mu_) { ... }` if a lambda reads better.)
//
// Lambdas and functions that run under a lock the analysis cannot follow (a
// callback invoked by a helper that holds it) say so with REQUIRES, or, as a
// last resort with a comment why, NO_THREAD_SAFETY_ANALYSIS.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <utility>

#if defined(__clang__)
#define GPUPOOL_THREAD_ANNOTATION_(x) __attribute__((x))
#else
#define GPUPOOL_THREAD_ANNOTATION_(x)
#endif

// On a class: instances are capabilities (a lock) named `x` in diagnostics.
#define CAPABILITY(x) GPUPOOL_THREAD_ANNOTATION_(capability(x))
// On a RAII class whose constructor acquires and destructor releases.
#define SCOPED_CAPABILITY GPUPOOL_THREAD_ANNOTATION_(scoped_lockable)
// On a data member: read or written only with `x` held.
#define GUARDED_BY(x) GPUPOOL_THREAD_ANNOTATION_(guarded_by(x))
// On a pointer member: the pointee is read or written only with `x` held.
#define PT_GUARDED_BY(x) GPUPOOL_THREAD_ANNOTATION_(pt_guarded_by(x))
// On a mutex member: the order in which locks must be taken.
#define ACQUIRED_BEFORE(...) GPUPOOL_THREAD_ANNOTATION_(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) GPUPOOL_THREAD_ANNOTATION_(acquired_after(__VA_ARGS__))
// On a function: callers must hold the capabilities.
#define REQUIRES(...) GPUPOOL_THREAD_ANNOTATION_(requires_capability(__VA_ARGS__))
// On a function: callers must NOT hold them (the function takes them itself).
#define EXCLUDES(...) GPUPOOL_THREAD_ANNOTATION_(locks_excluded(__VA_ARGS__))
// On a function: acquires / releases the capabilities (no argument: `this`).
#define ACQUIRE(...) GPUPOOL_THREAD_ANNOTATION_(acquire_capability(__VA_ARGS__))
#define RELEASE(...) GPUPOOL_THREAD_ANNOTATION_(release_capability(__VA_ARGS__))
// On a function returning bool: acquires the capabilities when it returns `b`.
#define TRY_ACQUIRE(...) GPUPOOL_THREAD_ANNOTATION_(try_acquire_capability(__VA_ARGS__))
// On a function: returns a reference to the capability `x`.
#define RETURN_CAPABILITY(x) GPUPOOL_THREAD_ANNOTATION_(lock_returned(x))
// Turns the analysis off for one function. Say why next to it.
#define NO_THREAD_SAFETY_ANALYSIS GPUPOOL_THREAD_ANNOTATION_(no_thread_safety_analysis)

namespace gpupool {

// A std::mutex the analysis knows about. Not recursive; lock() blocks.
class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }

 private:
  friend class MutexLock;
  std::mutex mu_;
};

// Holds a Mutex for its scope (absl::MutexLock, base::AutoLock). unlock() and
// lock() let a scope drop the mutex around a slow call and take it back; the
// destructor releases it only if held.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() RELEASE() {
    if (held_) mu_.unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void unlock() RELEASE() {
    held_ = false;
    mu_.unlock();
  }
  void lock() ACQUIRE() {
    mu_.lock();
    held_ = true;
  }

  // Releases the mutex, blocks until cv is notified (or spuriously wakes), and
  // takes the mutex again before returning. REQUIRES: held.
  void wait(std::condition_variable& cv) {
    std::unique_lock<std::mutex> native(mu_.mu_, std::adopt_lock);
    cv.wait(native);
    native.release();
  }
  // As wait(), but gives up after d; std::cv_status::timeout when it did.
  template <class Rep, class Period>
  std::cv_status wait_for(std::condition_variable& cv, std::chrono::duration<Rep, Period> d) {
    std::unique_lock<std::mutex> native(mu_.mu_, std::adopt_lock);
    const std::cv_status status = cv.wait_for(native, d);
    native.release();
    return status;
  }
  // Waits until pred() is true or d has passed; returns pred(). pred runs with
  // the mutex held: declare it `[&]() REQUIRES(mu) { ... }` so its reads of
  // guarded data are checked.
  template <class Rep, class Period, class Pred>
  bool wait_for(std::condition_variable& cv, std::chrono::duration<Rep, Period> d, Pred pred) {
    std::unique_lock<std::mutex> native(mu_.mu_, std::adopt_lock);
    const bool result = cv.wait_for(native, d, std::move(pred));
    native.release();
    return result;
  }
  // As wait(), but gives up at `deadline` (of any std::chrono clock).
  template <class ClockT, class Dur>
  std::cv_status wait_until(std::condition_variable& cv,
                            std::chrono::time_point<ClockT, Dur> deadline) {
    std::unique_lock<std::mutex> native(mu_.mu_, std::adopt_lock);
    const std::cv_status status = cv.wait_until(native, deadline);
    native.release();
    return status;
  }

 private:
  Mutex& mu_;
  bool held_ = true;
};

}  // namespace gpupool
