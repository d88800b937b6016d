#!/usr/bin/env bash
# The chart ships copies of files whose single source lives elsewhere in the
# repository, because Helm reads only files inside the chart:
#   crds/*.yaml                       -> gpupool-operator/crds/
#   metrics/alerts/gpupool-rules.yaml -> gpupool-operator/files/gpupool-rules.yaml
#   metrics/dashboards/gpupool.json   -> gpupool-operator/files/gpupool.json
# Without arguments this refreshes the copies; with --check it changes nothing
# and exits 1, naming every copy that differs from its source (tests/helm runs
# it so). Edit the sources, never the copies.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
chart="$root/helm/gpupool-operator"
mode=${1:-sync}
case "$mode" in
  sync | --check) ;;
  *)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac

pairs=()
for crd in "$root"/crds/*.yaml; do
  pairs+=("$crd" "$chart/crds/$(basename "$crd")")
done
pairs+=("$root/metrics/alerts/gpupool-rules.yaml" "$chart/files/gpupool-rules.yaml")
pairs+=("$root/metrics/dashboards/gpupool.json" "$chart/files/gpupool.json")

status=0
for ((i = 0; i < ${#pairs[@]}; i += 2)); do
  src=${pairs[i]} dst=${pairs[i + 1]}
  if cmp -s "$src" "$dst"; then continue; fi
  if [ "$mode" = --check ]; then
    echo "differs from its source: ${dst#"$root"/} (source ${src#"$root"/})" >&2
    status=1
  else
    mkdir -p "$(dirname "$dst")"
    cp "$src" "$dst"
    echo "updated ${dst#"$root"/}"
  fi
done

# A chart CRD without a source (renamed or deleted in crds/) is drift too.
for copy in "$chart"/crds/*.yaml; do
  [ -e "$copy" ] || continue
  if [ ! -e "$root/crds/$(basename "$copy")" ]; then
    if [ "$mode" = --check ]; then
      echo "no source for ${copy#"$root"/} in crds/" >&2
      status=1
    else
      rm "$copy"
      echo "removed ${copy#"$root"/}"
    fi
  fi
done
exit $status
