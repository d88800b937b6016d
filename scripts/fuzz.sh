#!/usr/bin/env bash
# fuzz.sh [TARGET...]: builds the libFuzzer targets under fuzz/ with clang
# (ASan+UBSan, build-fuzz/) and runs each for a fixed budget on a scratch copy
# of its checked-in corpus (fuzz/corpus/<target>/, read-only here) with its
# dictionary (fuzz/dict/<target>.dict). Fails on any crash, leak, timeout or
# out-of-memory, leaving the input in build-fuzz/artifacts/. Prints
# executions and coverage per target.
#
# Two modes:
#   default (what scripts/test.sh and CI run): a fixed seed and a fixed number
#     of inputs per target instead of a time budget, so the run does not
#     depend on the machine's speed and CI does not stumble on new findings
#     by chance (coverage still differs slightly between runs: libFuzzer
#     reads the corpus in directory order);
#   GPUPOOL_FUZZ_SECONDS=N: exploration, N seconds per target from a random
#     seed, to look for new bugs (a finding becomes a regression seed).
#
# Environment:
#   GPUPOOL_FUZZ_RUNS     deterministic mode: inputs per target (default 2000)
#   GPUPOOL_FUZZ_SEED     deterministic mode: the seed (default 1)
#   GPUPOOL_FUZZ_SECONDS  exploration: budget per target
#   GPUPOOL_FUZZ_DIR      build directory (default build-fuzz)
#   GPUPOOL_FUZZ_KEEP     a directory to keep each target's grown corpus in
#   GPUPOOL_JOBS          build parallelism (default: nproc)
# Extra libFuzzer flags go after "--": scripts/fuzz.sh cel -- -only_ascii=1
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${GPUPOOL_FUZZ_SECONDS:-}
if [ -n "$seconds" ]; then
  budget=(-max_total_time="$seconds")
  what="${seconds}s per target"
else
  budget=(-seed="${GPUPOOL_FUZZ_SEED:-1}" -runs="${GPUPOOL_FUZZ_RUNS:-2000}")
  what="${GPUPOOL_FUZZ_RUNS:-2000} inputs per target, seed ${GPUPOOL_FUZZ_SEED:-1}"
fi
dir="$root/${GPUPOOL_FUZZ_DIR:-build-fuzz}"
jobs=${GPUPOOL_JOBS:-$(nproc)}

targets=()
extra=()
while (($#)); do
  if [ "$1" = "--" ]; then
    shift
    extra=("$@")
    break
  fi
  targets+=("$1")
  shift
done
if ((${#targets[@]} == 0)); then
  for d in "$root"/fuzz/corpus/*/; do targets+=("$(basename "$d")"); done
fi

# Configure once; build only the fuzz targets and the libraries they link.
if [ ! -f "$dir/build.ninja" ]; then
  CC=${GPUPOOL_FUZZ_CC:-clang} CXX=${GPUPOOL_FUZZ_CXX:-clang++} \
    cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DGPUPOOL_FUZZ=ON \
    -DGPUPOOL_BUILD_TESTS=OFF -DGPUPOOL_BUILD_BENCH=OFF >/dev/null
fi
build_targets=()
for t in "${targets[@]}"; do build_targets+=("fuzz_$t"); done
cmake --build "$dir" -j "$jobs" --target "${build_targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$dir/artifacts"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

failed=()
summary=()
for t in "${targets[@]}"; do
  corpus="$root/fuzz/corpus/$t"
  work="$scratch/$t"
  mkdir -p "$work"
  args=("${budget[@]}" -timeout=10 -rss_limit_mb=2048 -max_len=65536
    -print_final_stats=1 -artifact_prefix="$dir/artifacts/$t-")
  [ -f "$root/fuzz/dict/$t.dict" ] && args+=(-dict="$root/fuzz/dict/$t.dict")
  log="$scratch/$t.log"
  echo "fuzz: $t ($what)"
  # New inputs go to the scratch directory (first); the checked-in corpus is
  # only read.
  if "$dir/fuzz/fuzz_$t" "${args[@]}" "${extra[@]}" "$work" "$corpus" >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
    grep -E "ERROR|SUMMARY|invariant broken|Test unit written|runtime error" "$log" | head -20 || true
    echo "fuzz: full log of $t:" && tail -60 "$log"
  fi
  # The last status line: "#1234 DONE cov: 567 ft: 890 corp: 12/3456b ... exec/s: 78 rss: 90Mb".
  line=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -1)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$line")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$line")
  eps=$(sed -nE 's/.* exec\/s: ([0-9]+).*/\1/p' <<<"$line")
  corp=$(sed -nE 's/.* corp: ([0-9]+)\/.*/\1/p' <<<"$line")
  summary+=("$(printf '%-22s %-6s runs=%-9s cov=%-6s ft=%-6s corpus=%-5s exec/s=%s' \
    "$t" "$status" "${runs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${eps:-?}")")
  if [ -n "${GPUPOOL_FUZZ_KEEP:-}" ]; then
    mkdir -p "$GPUPOOL_FUZZ_KEEP/$t"
    cp -n "$work"/* "$GPUPOOL_FUZZ_KEEP/$t/" 2>/dev/null || true
  fi
done

echo "fuzz: summary ($what)"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $dir/artifacts/; see fuzz/README.md)" >&2
  exit 1
fi
