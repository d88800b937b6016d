#!/usr/bin/env bash
# build.sh DIR [cmake options...]: configure (once) and build the tree in DIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$1; shift
jobs=${GPUPOOL_JOBS:-$(nproc)}
if [ ! -f "$root/$dir/build.ninja" ]; then
  cmake -S "$root" -B "$root/$dir" -G Ninja "$@"
else
  cmake "$root/$dir" "$@" >/dev/null
fi
cmake --build "$root/$dir" -j "$jobs"
