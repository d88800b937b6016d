#!/usr/bin/env bash
# The main job: set up, build build/bin/gpupool-operator, and run it.
# With no cluster configured it simulates the bundled example pool
# (examples/sim/) over a bursty day of demand with the operator's own
# controllers on a virtual clock, prints the report (spend, served demand,
# the lower bound) and draws build/simulate-bursty-day.svg (docs/simulate.md).
# Extra arguments go to `simulate` (e.g. --policy cheapest-list-price).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh" build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPUPOOL_BUILD_TESTS=OFF
cd "$root"
exec build/bin/gpupool-operator simulate --pool examples/sim/l40s-inference-pool.yaml \
  --trace examples/sim/bursty-day.csv --plot build/simulate-bursty-day.svg "$@"
