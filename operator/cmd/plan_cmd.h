#pragma once
// `gpupool-operator plan`: rank the offers for a GpuPool and show what the
// operator would buy, without a cluster.
//
//   gpupool-operator plan -f POOL.yaml [-p PROVIDERS.yaml] [--hours H]
//                         [--replicas N] [-o table|json] [--now RFC3339]
//                         [--fluence-billing seed|docs]
//
// The pool file holds one GpuPool (and optionally GpuProvider documents); the
// providers file holds GpuProvider documents ("---"-separated). Offers come
// from the default price catalog (providers/catalog) with each GpuProvider's
// overrides applied; without GpuProvider objects every provider the pool
// names is taken to be a catalog provider type of that name.
//
// Exit codes: 0 the plan was printed (also when not every machine could be
// placed: the output says why); 1 a file is unreadable, is not valid YAML, or
// holds invalid objects (every problem is printed with its field path);
// 2 the command line is wrong.
//
// Output formats are documented in docs/plan-json.md (JSON, schemaVersion 1)
// and kept readable at 100 columns (table).

#include <iosfwd>
#include <string>
#include <vector>

#include "operator/clock/clock.h"

namespace gpupool::cmd {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;

// Runs `plan` with the arguments after the word "plan". Reads only the files
// named in `args` (or stdin for "-"); writes the result to `out` and problems
// to `err`. `clock` supplies "now" unless --now is given.
int run_plan(const std::vector<std::string>& args, const Clock& clock, std::ostream& out,
             std::ostream& err);

std::string plan_usage();

}  // namespace gpupool::cmd
