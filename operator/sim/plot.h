#pragma once
// The SVG picture of a run (hand-written SVG 1.1, no dependency): demand as
// a black step line, Ready capacity as areas stacked by provider, parked
// capacity stacked on top in grey, and cumulative spend as a red line on its
// own axis at the right; time in hours along the bottom. A title line says
// the policy, spend, served fraction and spend over the lower bound.
//
// Thread-safety: pure function.

#include <string>

#include "operator/sim/report.h"
#include "operator/sim/simulation.h"

namespace gpupool::sim {

std::string render_svg(const Outcome& outcome, const ReportInfo& info);

}  // namespace gpupool::sim
