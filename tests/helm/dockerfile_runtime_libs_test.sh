#!/usr/bin/env bash
# The Dockerfile's runtime stage installs every Debian package whose library
# the operator binary loads.
#
#   dockerfile_runtime_libs_test.sh OPERATOR_BINARY DOCKERFILE
#
# For each library `ldd` resolves, `dpkg -S` names the package that ships it.
# That package must be installed in the runtime image: listed in the last
# stage's `apt-get install`, already in debian:12-slim (libc6 and friends), or
# pulled in by a listed package's Depends/Pre-Depends (what apt-get installs
# with it, followed on this machine's dpkg database). Sanitizer runtimes
# (a build with GPUPOOL_SANITIZE=ON) are skipped. Packages that own a
# library the binary names directly (ELF NEEDED) must be listed themselves:
# relying on another package's dependency for them would be an accident.
set -euo pipefail

binary=${1:?usage: $0 OPERATOR_BINARY DOCKERFILE}
dockerfile=${2:?usage: $0 OPERATOR_BINARY DOCKERFILE}
[ -x "$binary" ] || { echo "FAIL: no operator binary at $binary" >&2; exit 1; }
[ -f "$dockerfile" ] || { echo "FAIL: no Dockerfile at $dockerfile" >&2; exit 1; }

# Packages debian:12-slim ships (required/essential) that a C++ binary can link.
base_image=(libc6 libgcc-s1 libstdc++6 zlib1g libzstd1 liblzma5 libbz2-1.0 libcrypt1
  libselinux1 libpcre2-8-0 libgmp10 libgnutls30 libhogweed6 libnettle8 libidn2-0
  libunistring2 libp11-kit0 libtasn1-6 libffi8 libsystemd0 liblz4-1 libgcrypt20
  libgpg-error0 libcap2 libacl1 libattr1 libtinfo6 libdb5.3 libaudit1 libcap-ng0)

# --- The runtime stage's apt-get install list.
listed=$(awk '
  /^FROM[ \t]/ { stage = "" }                   # keep only the last stage
  { stage = stage $0 "\n" }
  END { print stage }' "$dockerfile" |
  sed -e ':a' -e '/\\$/N; s/\\\n//; ta' |       # join continuation lines
  grep -o 'apt-get install[^&]*' |
  tr ' \t' '\n\n' |
  grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -vxE 'apt-get|install' | sort -u || true)
if [ -z "$listed" ]; then
  echo "FAIL: found no apt-get install list in the last stage of $dockerfile" >&2
  exit 1
fi
echo "runtime stage installs: $(echo $listed)"

# --- Library paths ldd resolves, and the package owning each (one dpkg -S
# call; ldd prints /lib/... on a merged-/usr system, dpkg may know /usr/lib/...).
ldd_out=$(ldd "$binary")
if echo "$ldd_out" | grep -q 'not found'; then
  echo "FAIL: unresolved libraries:" >&2
  echo "$ldd_out" | grep 'not found' >&2
  exit 1
fi
paths=$(echo "$ldd_out" | sed -n -e 's/.*=> \(\/[^ ]*\) .*/\1/p' -e 's/^[[:space:]]*\(\/[^ ]*\) .*/\1/p')
declare -A candidates=()
for path in $paths; do
  for c in "$path" "$(readlink -f "$path")" "/usr$path" "${path#/usr}"; do candidates[$c]=1; done
done
declare -A owner_of=()
while IFS= read -r line; do
  # "libcurl4:amd64: /usr/lib/x86_64-linux-gnu/libcurl.so.4" (diversions aside)
  case "$line" in diversion*) continue ;; esac
  file=${line##*: }
  pkg=${line%%: /*}
  pkg=${pkg%%,*}
  owner_of[$file]=${pkg%%:*}
done < <(dpkg -S "${!candidates[@]}" 2>/dev/null || true)
owner() {
  local c
  for c in "$1" "$(readlink -f "$1")" "/usr$1" "${1#/usr}"; do
    if [ -n "${owner_of[$c]:-}" ]; then
      echo "${owner_of[$c]}"
      return 0
    fi
  done
  return 1
}

# --- Everything apt-get would install: the listed packages, the base image and
# their dependencies, followed through the installed packages' metadata (read
# once).
declare -A depends_of=()
while IFS=$'\t' read -r pkg deps; do
  depends_of[$pkg]=$deps
done < <(dpkg-query -W -f='${Package}\t${Depends}, ${Pre-Depends}\n')
declare -A installed=()
queue=("${base_image[@]}" $listed)
while ((${#queue[@]})); do
  pkg=${queue[0]}
  queue=("${queue[@]:1}")
  [ -n "${installed[$pkg]:-}" ] && continue
  installed[$pkg]=1
  # "a (>= 1), b | c, d:any" -> a b c d (every alternative that is installed counts)
  for dep in $(echo "${depends_of[$pkg]:-}" | tr ',|' '\n\n' | sed -e 's/([^)]*)//g' -e 's/:any//' -e 's/ //g'); do
    [ -n "$dep" ] && queue+=("$dep")
  done
done

# --- Check each library.
needed=$(objdump -p "$binary" | awk '$1 == "NEEDED" { print $2 }')
failures=0
checked=0
for path in $paths; do
  soname=$(basename "$path")
  if ! pkg=$(owner "$path"); then
    echo "FAIL: no Debian package owns $path" >&2
    failures=$((failures + 1))
    continue
  fi
  checked=$((checked + 1))
  if [[ $pkg =~ ^lib(asan|ubsan|tsan|lsan|hwasan)[0-9]+$ ]]; then
    # scripts/test.sh builds with ASan+UBSan; the image's Release build does not.
    echo "skip $soname ($pkg: sanitizer runtime, not in a Release build)"
    continue
  fi
  if echo "$listed" | grep -qxF "$pkg" || printf '%s\n' "${base_image[@]}" | grep -qxF "$pkg"; then
    echo "ok   $soname ($pkg)"
  elif echo "$needed" | grep -qxF "$soname"; then
    echo "FAIL: the binary links $soname directly; add $pkg to the runtime apt-get list" >&2
    failures=$((failures + 1))
  elif [ -n "${installed[$pkg]:-}" ]; then
    echo "ok   $soname ($pkg, a dependency of a listed package)"
  else
    echo "FAIL: $soname comes from $pkg, which the runtime stage does not install" >&2
    failures=$((failures + 1))
  fi
done

if ((checked == 0)); then
  echo "FAIL: ldd listed no libraries for $binary" >&2
  exit 1
fi
if ((failures)); then
  echo "FAIL: $failures librar(y/ies) not covered by $dockerfile" >&2
  exit 1
fi
echo "PASS: $checked libraries covered by the runtime stage of $dockerfile"
