#pragma once
// Rendering of a plan for people (a table at most 100 columns wide) and for
// programs (JSON, schema in docs/plan-json.md). Pure: no I/O.

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

#include "operator/clock/clock.h"
#include "operator/core/api_types.h"
#include "operator/core/planner.h"

namespace gpupool::cmd {

inline constexpr int kPlanSchemaVersion = 1;
inline constexpr size_t kTableWidth = 100;

struct PlanReport {
  api::GpuPool pool;  // defaulted
  planner::Plan plan;
  planner::SpendInputs spend;
  Time now{};
  std::string catalog_date;
  std::vector<std::string> notes;  // things the reader should know (missing providers, gaps)
  // Table only: also list offers of GPU models the pool does not accept or
  // with another number of GPUs per machine (JSON always lists every offer).
  bool show_all = false;
};

std::string render_table(const PlanReport& report);
nlohmann::json render_json(const PlanReport& report);

}  // namespace gpupool::cmd
