#pragma once
// The one seam for "now". Everything that needs the current time takes a
// Clock& (or a Time value); only system_clock.cpp reads the real clock.
//
// Time has one-second resolution on purpose: billing, Kubernetes timestamps
// and the simulator all work in whole seconds. Steady (monotonic) time for
// timeouts and backoff is separate, in milliseconds.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>

#include "operator/base/thread_annotations.h"

namespace gpupool {

using Time = std::chrono::sys_seconds;  // UTC wall-clock instant
using Duration = std::chrono::seconds;  // wall-clock span
using SteadyTime = std::chrono::steady_clock::time_point;
using MicroTime = std::chrono::sys_time<std::chrono::microseconds>;  // Lease timestamps only

class Clock {
 public:
  virtual ~Clock() = default;
  // Current UTC wall-clock time, truncated to the second.
  virtual Time now() const = 0;
  // Current UTC wall-clock time with microseconds (SystemClock); clocks that
  // only know whole seconds (FakeClock) answer now().
  virtual MicroTime now_micro() const { return now(); }
  // Monotonic time for timeouts and backoff.
  virtual SteadyTime steady_now() const = 0;
};

// The real clock. Thread-safe.
class SystemClock final : public Clock {
 public:
  Time now() const override;
  MicroTime now_micro() const override;
  SteadyTime steady_now() const override;
};

// A clock that moves only when told to. Thread-safe. steady_now() advances
// together with now(), starting from an arbitrary fixed point.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(Time start) : now_(start) {}
  Time now() const override;
  SteadyTime steady_now() const override;
  void advance(Duration d);
  void set(Time t);  // REQUIRES: t >= now()

 private:
  mutable Mutex mu_;
  Time now_ GUARDED_BY(mu_);
  Duration elapsed_ GUARDED_BY(mu_){0};
};

// Formats t as RFC 3339 in UTC with a trailing Z ("2026-11-22T02:10:42Z").
std::string format_rfc3339(Time t);
// Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)". Returns false on any
// malformed input; fractional seconds are dropped.
bool parse_rfc3339(std::string_view text, Time& out);

}  // namespace gpupool
