#!/usr/bin/env bash
# Every test: set up, check formatting, build with ASan+UBSan (clang), run
# CTest.
# Extra arguments are passed to ctest (for example: -L unit, -R Billing); the
# fuzz targets (scripts/fuzz.sh: a fixed seed and a fixed number of inputs
# each, not a time budget) run only in a full run without them, or
# never with GPUPOOL_FUZZ=0.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/check-format.sh"

# One clang tree (build-test/) for the tests and the fuzz targets: clang
# compiles this code about three times faster than g++ at -O0 with ASan, and
# libFuzzer needs clang anyway, so every library is compiled once
# (bench/README.md, "CI time"). Line tables are all ASan's and UBSan's
# reports need. GPUPOOL_TEST_CXX=g++ builds the tests with g++ instead (the
# fuzz targets then get their own clang tree, build-fuzz/).
cxx=$(command -v "${GPUPOOL_TEST_CXX:-clang++}")
cache="$root/build-test/CMakeCache.txt"
if [ -f "$cache" ] && ! grep -qx "CMAKE_CXX_COMPILER:[A-Z]*=$cxx" "$cache"; then
  echo "test: build-test/ was configured with another compiler; configuring it again for $cxx"
  rm -rf "$root/build-test"
fi
fuzz_in_tree=OFF
debug_flags=-g1
if "$cxx" --version | grep -q clang; then
  fuzz_in_tree=ON
  debug_flags=-gline-tables-only
fi
"$root/scripts/build.sh" build-test -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="$debug_flags" -DGPUPOOL_SANITIZE=ON -DGPUPOOL_FUZZ="$fuzz_in_tree" \
  -DGPUPOOL_BUILD_BENCH=ON
# clang-tidy on the sources the last change touched (scripts/check-tidy.sh;
# GPUPOOL_TIDY_BASE=<rev> checks everything changed since <rev>).
"$root/scripts/check-tidy.sh" "$root/build-test"
cd "$root/build-test"
# ctest -j starts the longest tests first when it knows their times, which a
# fresh machine does not: it starts from tests/ctest-costs.txt (name, runs,
# seconds of every test that takes a second or more; written from a full
# run's Testing/Temporary/CTestCostData.txt). A test missing there only
# starts later. Three jobs on two cores: the end-to-end tests spend most of
# their time waiting on real timers (a lease, a registration timeout), not
# on the CPU.
costs=Testing/Temporary/CTestCostData.txt
if [ ! -s "$costs" ]; then
  mkdir -p Testing/Temporary
  cp "$root/tests/ctest-costs.txt" "$costs"
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --output-on-failure -j "${GPUPOOL_TEST_JOBS:-3}" "$@"
if (($# == 0)) && [ "${GPUPOOL_FUZZ:-1}" != 0 ] && [ "${GPUPOOL_FUZZ_SECONDS:-}" != 0 ]; then
  if [ "$fuzz_in_tree" = ON ]; then
    GPUPOOL_FUZZ_DIR=build-test "$root/scripts/fuzz.sh"
  else
    "$root/scripts/fuzz.sh"
  fi
fi
