// The only file in the tree that reads the real clock.
#include "operator/clock/clock.h"

namespace gpupool {

Time SystemClock::now() const {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

MicroTime SystemClock::now_micro() const {
  return std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
}

SteadyTime SystemClock::steady_now() const {
  return std::chrono::steady_clock::now();
}

}  // namespace gpupool
