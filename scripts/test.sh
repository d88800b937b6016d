#!/usr/bin/env bash
# Every test: set up, check formatting, build with ASan+UBSan, run CTest.
# Extra arguments are passed to ctest (for example: -L unit, -R Billing); the
# fuzz targets (scripts/fuzz.sh: a fixed seed and a fixed number of inputs
# each, not a time budget) run only in a full run without them, or
# never with GPUPOOL_FUZZ=0.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/check-format.sh"
"$root/scripts/build.sh" build-test -DCMAKE_BUILD_TYPE=Debug -DGPUPOOL_SANITIZE=ON -DGPUPOOL_BUILD_BENCH=ON
cd "$root/build-test"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --output-on-failure -j "${GPUPOOL_TEST_JOBS:-2}" "$@"
if (($# == 0)) && [ "${GPUPOOL_FUZZ:-1}" != 0 ] && [ "${GPUPOOL_FUZZ_SECONDS:-}" != 0 ]; then
  "$root/scripts/fuzz.sh"
fi
