#!/usr/bin/env bash
# The main job: set up, build build/bin/gpupool-operator, and run it.
# With no cluster configured it plans the bundled example pool against the
# bundled providers and prints the result.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh" build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPUPOOL_BUILD_TESTS=OFF
cd "$root"
exec build/bin/gpupool-operator plan -f examples/l40s-inference-pool.yaml -p examples/providers.yaml "$@"
