#!/usr/bin/env bash
# Installs everything the build, the main job and the tests need on a fresh
# Debian 12 machine. Safe to run any number of times: it only calls apt-get
# when a package is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  clang-format clang-tidy
  libcurl4-openssl-dev nlohmann-json3-dev libyaml-cpp-dev prometheus-cpp-dev
  libcpprest-dev libgtest-dev libgmock-dev libbenchmark-dev libssl-dev
  prometheus curl ca-certificates
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi
