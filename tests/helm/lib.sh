# Shared helpers for the tests/helm scripts (sourced, not run).

# The repository root and helm: .tools/bin/helm from scripts/setup.sh, or
# $GPUPOOL_HELM. A missing helm is a broken setup, not a reason to pass.
root=${GPUPOOL_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
chart="$root/helm/gpupool-operator"
helm=${GPUPOOL_HELM:-$root/.tools/bin/helm}
if [ ! -x "$helm" ]; then
  echo "FAIL: helm not found at $helm (run scripts/setup.sh)" >&2
  exit 1
fi

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
pass() { echo "ok   $*"; }

# finish: exits 1 when any check failed.
finish() {
  if ((failures)); then
    echo "$failures check(s) failed" >&2
    exit 1
  fi
  echo "PASS"
}

# split_docs FILE DIR: writes each YAML document of FILE to DIR/NNN-<Kind>.yaml.
split_docs() {
  awk -v dir="$2" '
    function flush() {
      if (doc != "" && kind != "") {
        n++
        f = sprintf("%s/%03d-%s.yaml", dir, n, kind)
        printf "%s", doc > f
        close(f)
      }
      doc = ""; kind = ""
    }
    /^---/ { flush(); next }
    /^kind: / { kind = $2 }
    { doc = doc $0 "\n" }
    END { flush() }' "$1"
}

# doc_of FILE KIND: the first document of that kind in a multi-document FILE.
doc_of() {
  awk -v want="$2" '
    /^---/ { if (found) exit; doc = ""; next }
    { doc = doc $0 "\n" }
    /^kind: / && $2 == want { found = 1 }
    END { if (found) printf "%s", doc }' "$1"
}
