#!/usr/bin/env bash
# The whole job, capture file to a Resurface collector, side by side with Resurface's own
# network-sniffer engine (GoReplay with --output-resurface, logger-go; gor-resurface in
# ../shared/anchors, not part of this repository; ANCHORS=DIR elsewhere). Both read the same
# recorded workload (bin/workload, cached like scripts/bench.sh's) with the rules
# "include debug" and post to the loopback collector of output/resurfacetest, run by
# bin/collectorbench, which counts a call right when it matches nginx's record (method, path
# and query, status) and measures the tool's CPU (user+sys) and peak RSS. The engine never
# exits at end of file: --exit-after 40 s, as in the anchors' README.
#
#   scripts/collector-bench.sh [SECONDS] [CONNECTIONS]     default 8 16 (about 7,000 calls)
#   RUNS=3   runs of each tool, interleaved; every run is printed
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
secs=${1:-8}
conns=${2:-16}
runs=${RUNS:-1}
build_tools
(cd "$root" && go build -o bin/collectorbench ./scripts/collectorbench)
pcap=$(ensure_capture "$secs" "$conns")
calls=${pcap%.pcap}.calls
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
anchors=${ANCHORS:-$root/../shared/anchors}
engine=
if [[ $anchors != none && -f $anchors/gor-resurface.xz ]]; then
  xz -dc "$anchors/gor-resurface.xz" >"$tmp/gor-resurface" && chmod +x "$tmp/gor-resurface"
  engine=$tmp/gor-resurface
else
  echo "--- anchors: gor-resurface not found at $anchors (not in this repository: ../shared/anchors beside the checkout, or ANCHORS=DIR); sniffer alone"
fi
echo "capture: $pcap ($(du -h "$pcap" | cut -f1)); nginx served $(wc -l <"$calls") calls; $(nproc) cores; $(uptime | sed 's/.*load/load/')"
# Two pairs, each sniffer run followed by the engine posting the same way: uncompressed (sniffer's
# default to a loopback collector; the engine with the rule skip_compression), then zlib
# (sniffer -compress on; the engine's default).
rows=()
for ((i = 0; i < runs; i++)); do
  for pair in "off|include debug
skip_compression" "on|include debug"; do
    compress=${pair%%|*}
    engine_rules=${pair#*|}
    rows+=("$("$root/bin/collectorbench" -calls "$calls" -name "sniffer zlib=$compress" -- "$root/bin/sniffer" -r "$pcap" -url '{URL}' \
      -compress "$( [[ $compress == on ]] && echo on || echo auto)" -rules 'include debug' 2>"$tmp/sniffer.err")")
    if [[ -n $engine ]]; then
      rows+=("$("$root/bin/collectorbench" -calls "$calls" -name "engine zlib=$compress" -timeout 90s -- "$engine" --input-raw "$pcap" \
        --input-raw-engine pcap_file --input-raw-track-response --input-raw-expire 2s --output-resurface '{URL}' \
        --output-resurface-rules "$engine_rules" --exit-after 40s 2>"$tmp/engine.err")")
    fi
  done
done
echo "--- sniffer's summary (last run):"
tail -n 4 "$tmp/sniffer.err"
echo
echo "to a collector, $(basename "$pcap"), rules include debug; each engine run against the sniffer run just before it, posting the same way (zlib=off: sniffer's default to loopback, the engine with skip_compression; zlib=on: sniffer -compress on, the engine's default)"
printf '%-18s %7s %8s %7s %7s %6s %12s %9s %6s %8s\n' tool served received right missed cpu_s right/cpu-s peak_MiB posts wire_MB
last=
for r in "${rows[@]}"; do
  IFS='|' read -r name served got right _ _ cpu rate rss posts wire _ <<<"$r"
  printf '%-18s %7s %8s %7s %7s %6s %12s %9s %6s %8s\n' "$name" "$served" "$got" "$right" $((served - right)) "$cpu" "$rate" \
    "$rss" "$posts" "$(awk -v w="$wire" 'BEGIN { printf "%.1f", w / 1e6 }')"
  # scripts/goals.sh's input: collector|tool|right|served|cpu_s|right per CPU-s|peak MiB
  [[ -n ${GOALS_OUT:-} ]] && echo "collector|$name|$right|$served|$cpu|$rate|$rss" >>"$GOALS_OUT"
  if [[ $name == sniffer* ]]; then
    last=$rate
  elif [[ -n $last ]]; then
    echo "  sniffer / Resurface engine: $(awk -v a="$last" -v b="$rate" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }') the right calls per CPU-second"
  fi
done
