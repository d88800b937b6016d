// Compiled by CTest (operator/base/CMakeLists.txt), never linked: proves the
// build's warning flags turn thread-safety findings into errors. Without a
// GPUPOOL_TSA_* define it must compile; each define adds one mistake the
// analysis must reject.
#include "operator/base/thread_annotations.h"

namespace gpupool {

class Counter {
 public:
  void add(int n) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    add_locked(n);
  }
  int read() EXCLUDES(mu_) {
#ifdef GPUPOOL_TSA_UNLOCKED_READ
    return total_;  // error: reading 'total_' requires holding mutex 'mu_'
#else
    MutexLock lock(mu_);
    return total_;
#endif
  }
  void add_twice(int n) EXCLUDES(mu_) {
    add(n);
#ifdef GPUPOOL_TSA_UNLOCKED_CALL
    add_locked(n);  // error: calling 'add_locked' requires holding mutex 'mu_'
#else
    MutexLock lock(mu_);
    add_locked(n);
#endif
  }

 private:
  void add_locked(int n) REQUIRES(mu_) {
    total_ += n;
  }

  Mutex mu_;
  int total_ GUARDED_BY(mu_) = 0;
};

int use_counter() {
  Counter c;
  c.add(1);
  c.add_twice(2);
  return c.read();
}

}  // namespace gpupool
