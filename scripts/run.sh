#!/usr/bin/env bash
# The main job, end to end: records (once, cached) a few seconds of real nginx + wrk traffic with
# bin/workload (scripts/workload: two network namespaces it creates, tcpdump between them), reads
# it with `bin/sniffer -r`, writes the calls to .cache/run/calls.ndjson
# and checks them against nginx's own record of what it served.
#
#   scripts/run.sh [PCAP]        sniff PCAP instead (no check against a server record then)
#   RUN_SECONDS=3 RUN_CONNS=8    the recorded workload (defaults)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build_tools
mkdir -p "$cache/run"
out=$cache/run/calls.ndjson
if [[ $# -ge 1 ]]; then
  pcap=$1
  calls=
else
  pcap=$(ensure_capture "${RUN_SECONDS:-3}" "${RUN_CONNS:-8}")
  calls=${pcap%.pcap}.calls
fi
echo "== $root/bin/sniffer -r $pcap > $out"
"$root/bin/sniffer" -r "$pcap" >"$out"
echo "== $(wc -l <"$out") calls in $out; the first, cut at 700 characters:"
head -n 1 "$out" | cut -c 1-700
if [[ -n $calls ]]; then
  echo "== against nginx's record ($calls):"
  "$root/bin/compare" -calls "$calls" -json /large.json "$out"
fi
