#pragma once
// `gpupool-operator simulate`: runs the operator's own controllers on a
// virtual clock against the in-memory API and fake providers, driven by a
// demand trace, and reports spend, served demand and the lower bound
// (operator/sim, docs/simulate.md).
//
//   gpupool-operator simulate --pool POOL.yaml [--providers PROVIDERS.yaml]
//       --trace TRACE.csv [--policy default|cheapest-list-price|single-provider:NAME]
//       [--idle-seconds S] [--capacity P=N]... [--boot-seconds P=S]...
//       [--no-capacity-rate P=R]... [--market FILE.yaml] [--seed N]
//       [--crash-every S] [-o text|json] [--plot FILE.svg]
//
// Exit codes: 0 the run finished and every invariant held; 1 an invariant
// was violated, or a file could not be read or written; 2 bad input (usage,
// a malformed trace or market file, a pool that fails validation, an
// unknown provider in a flag).

#include <iosfwd>
#include <string>
#include <vector>

#include "operator/clock/clock.h"

namespace gpupool::cmd {

// `clock` is used only to time the run (the text report's wall time).
int run_simulate(const std::vector<std::string>& args, const Clock& clock, std::ostream& out,
                 std::ostream& err);

std::string simulate_usage();

}  // namespace gpupool::cmd
