#pragma once
// A demand trace: CSV with the header `time_s,gpus`, one row per change.
// Demand is in GPUs (L40S-equivalents) and holds each row's value until the
// next row's time (a step function); the last row's time ends the run (its
// value is never served). Times are whole or fractional seconds from the
// start of the run (fractions are rounded to the nearest second: the clock
// has one-second resolution).
//
// Rules (each violation is a TraceError naming the 1-based line):
//   * the first non-empty line is the header `time_s,gpus` (spaces around
//     fields allowed; a UTF-8 byte-order mark is ignored);
//   * every row has exactly two fields, both finite numbers;
//   * the first row's time is 0; times strictly increase;
//   * demand is >= 0;
//   * at least two rows (a start and an end).
// Empty lines and lines starting with '#' are skipped.
//
// Thread-safety: pure functions and value types.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "operator/base/result.h"

namespace gpupool::sim {

struct TraceStep {
  int64_t time_s = 0;  // seconds from the start
  double gpus = 0;     // demand from time_s until the next step
};

struct Trace {
  std::vector<TraceStep> steps;  // strictly increasing times; the last ends the run

  int64_t end_s() const { return steps.empty() ? 0 : steps.back().time_s; }
  // Demand at `t` seconds from the start (the step holding at t); 0 outside.
  double at(int64_t t) const;
  // The first step time strictly after t, or end_s() when none.
  int64_t next_change_after(int64_t t) const;
  // ∫ demand dt over the run, in GPU-hours.
  double demanded_gpu_hours() const;
  double peak() const;
};

struct TraceError {
  int line = 0;  // 1-based; 0: the trace as a whole
  std::string message;
  // "trace.csv:4: time 30 is not after the previous row's time 60"
  std::string to_string(std::string_view file) const;
};

Result<Trace, TraceError> parse_trace(std::string_view text);

}  // namespace gpupool::sim
