#!/usr/bin/env bash
# clang-tidy (.clang-tidy's curated checks) on the C++ sources a change
# touched, with the compile commands of a configured build tree; any warning
# fails. The whole tree is not checked on every run: on two cores that would
# take longer than the tests.
#
#   scripts/check-tidy.sh BUILD_DIR [BASE]
#
# Files: the .cpp files changed between BASE and the working tree (BASE:
# GPUPOOL_TIDY_BASE, else HEAD~1, so a clean checkout checks its last
# commit), plus the .cpp file of each changed header that has one, in the
# project's own folders; test sources only with GPUPOOL_TIDY_TESTS=1. The
# build is a unity build, so most sources have no
# compile command of their own: clang-tidy takes the nearest file's.
# GPUPOOL_TIDY=0 skips the check.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: check-tidy.sh BUILD_DIR [BASE]}
base=${2:-${GPUPOOL_TIDY_BASE:-HEAD~1}}
if [ "${GPUPOOL_TIDY:-1}" = 0 ]; then
  echo "check-tidy: skipped (GPUPOOL_TIDY=0)"
  exit 0
fi
cd "$root"
db="$build/compile_commands.json"
if [ ! -s "$db" ]; then
  echo "check-tidy: no $db; configure the build tree first" >&2
  exit 1
fi
if ! git rev-parse --verify -q "$base^{commit}" >/dev/null; then
  echo "check-tidy: no base $base (a repository with one commit?); nothing to compare"
  exit 0
fi

mapfile -t changed < <(git diff --name-only --diff-filter=d "$base" -- '*.cpp' '*.h')
declare -A want=()
for f in "${changed[@]}"; do
  case "$f" in
    *.h) f="${f%.h}.cpp" ;;
  esac
  [ -f "$f" ] || continue
  # Test sources only on request: gtest's macros make one large test file
  # take minutes of clang-tidy time.
  case "$f" in
    *_test.cpp | tests/*) [ "${GPUPOOL_TIDY_TESTS:-0}" = 1 ] || continue ;;
  esac
  case "$f" in
    operator/* | providers/* | metrics/* | tests/* | bench/* | fuzz/*) want["$f"]=1 ;;
  esac
done
files=("${!want[@]}")
if ((${#files[@]} == 0)); then
  echo "check-tidy: no compiled C++ source changed since $base"
  exit 0
fi
echo "check-tidy: ${#files[@]} file(s) changed since $base"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
printf '%s\n' "${files[@]}" | sort |
  xargs -P "${GPUPOOL_TIDY_JOBS:-2}" -n 1 clang-tidy -p "$build" --quiet --warnings-as-errors='*' \
    >"$log" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
  grep -E "(warning|error):" "$log" | sort -u >&2 || cat "$log" >&2
  echo "check-tidy: clang-tidy found problems in the files above" >&2
  exit 1
fi
echo "check-tidy: clean"
