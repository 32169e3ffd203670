#!/usr/bin/env bash
# Installs, on Debian, what building, testing and benchmarking sniffer need: a C toolchain and
# libpcap for gopacket's cgo, iproute2 for the namespace tests, nginx + wrk + tcpdump + ethtool
# for the workload recorder (scripts/workload: make run, the benchmarks, e2e), curl as a second
# HTTP client in the end-to-end test, GNU time for the benchmarks; podman + runc + debootstrap (base images made locally),
# python3-yaml (compose and DaemonSet files), getcap and file for the container tests; the arm64
# cross compiler and libpcap for make dist; node and the har-validator npm package (into
# .cache/har-validator) for the HAR test; chromium for the demo collector's page in a headless
# browser (e2e TestDemoCollectorBrowser). Idempotent and quick: apt runs only when a package is missing.
# Go itself (1.26, at /usr/local/go) is expected to be there already.
set -euo pipefail

pkgs=(gcc libc6-dev make libpcap-dev iproute2 nginx-light wrk tcpdump ethtool python3 procps time curl ca-certificates
      podman runc containernetworking-plugins debootstrap python3-yaml libcap2-bin file
      gcc-aarch64-linux-gnu libc6-dev-arm64-cross libpcap0.8-dev:arm64 nodejs chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Debian's nodejs comes without npm (NodeSource's has it built in)
command -v npm >/dev/null || missing+=(npm)

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  # Installing nginx must not start a system nginx: the tests run their own in a namespace.
  # policy-rc.d is Debian's switch for that; only ours is removed afterwards.
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    trap '"${sudo[@]}" rm -f "$policy"' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [[ " ${missing[*]}" == *:arm64* ]] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    "${sudo[@]}" dpkg --add-architecture arm64 # libpcap for the arm64 build of make dist
  fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The HAR test validates sniffer's archives with har-validator (the HAR 1.2 JSON schema).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
har=$root/.cache/har-validator
if [[ ! -f $har/node_modules/har-validator/package.json ]]; then
  echo "setup: installing the har-validator npm package into $har"
  mkdir -p "$har"
  npm install --silent --no-audit --no-fund --prefix "$har" har-validator@5.1.5 >/dev/null
fi

if ! command -v go >/dev/null && [[ ! -x /usr/local/go/bin/go ]]; then
  echo "setup: Go is not installed; install Go 1.26 at /usr/local/go (https://go.dev/doc/install)" >&2
  exit 1
fi
echo "setup: all of ${pkgs[*]} installed, and har-validator in $har"
