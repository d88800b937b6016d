#pragma once
// What `simulate` prints: a readable report and a JSON object (schemaVersion
// 1, docs/simulate.md). The JSON holds nothing that varies between runs of
// the same input and seed (no wall time), so it is byte-for-byte
// reproducible.
//
// Thread-safety: pure functions.

#include <string>

#include "operator/sim/simulation.h"

namespace gpupool::sim {

struct ReportInfo {
  std::string pool;  // "namespace/name"
  uint64_t seed = 1;
  double wall_seconds = -1;  // text only; < 0: not shown
};

std::string render_text(const Outcome& outcome, const ReportInfo& info);
// Pretty-printed JSON with a trailing newline.
std::string render_json(const Outcome& outcome, const ReportInfo& info);

}  // namespace gpupool::sim
