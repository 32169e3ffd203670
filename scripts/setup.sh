#!/usr/bin/env bash
# Installs, on Debian, what building, testing and benchmarking sniffer need: a C toolchain and
# libpcap for gopacket's cgo, iproute2 for the namespace tests, nginx + wrk + tcpdump + ethtool
# for the workload recorder (scripts/workload: make run, the benchmarks, e2e), curl as a second
# HTTP client in the end-to-end test, GNU time for the benchmarks; podman + runc + debootstrap (base images made locally),
# python3-yaml (compose and DaemonSet files), getcap and file for the container tests; the arm64
# cross compiler and libpcap for make dist. Idempotent and quick: apt runs only when a package is missing.
# Go itself (1.26, at /usr/local/go) is expected to be there already.
set -euo pipefail

pkgs=(gcc libc6-dev make libpcap-dev iproute2 nginx-light wrk tcpdump ethtool python3 procps time curl ca-certificates
      podman runc containernetworking-plugins debootstrap python3-yaml libcap2-bin file
      gcc-aarch64-linux-gnu libc6-dev-arm64-cross libpcap0.8-dev:arm64)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

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

if ! command -v go >/dev/null && [[ ! -x /usr/local/go/bin/go ]]; then
  echo "setup: Go is not installed; install Go 1.26 at /usr/local/go (https://go.dev/doc/install)" >&2
  exit 1
fi
echo "setup: all of ${pkgs[*]} installed"
