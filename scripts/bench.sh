#!/usr/bin/env bash
# Speed, memory and completeness of `sniffer -r` over real traffic: a capture recorded by
# bin/workload (nginx + wrk in network namespaces; once, cached under .cache/captures; recording needs root), read with bodies
# decoded and with -decode=false. For each it prints calls, wall and CPU (user+sys) seconds,
# calls per second, calls per CPU-second and peak RSS, measured by GNU time over a run whose output
# only goes to `wc -l`; then a second, untimed run is checked against nginx's record of every call
# it served (the same multiset of method, path and query, status; /large.json bodies valid JSON
# when decoded).
#
#   scripts/bench.sh [SECONDS] [CONNECTIONS]     default 30 64
#   RUNS=3      timed runs per mode; the one with the least CPU is reported
#   COMPARE=0   skip the completeness check
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
secs=${1:-30}
conns=${2:-64}
runs=${RUNS:-1}
[[ -x /usr/bin/time ]] || { echo "bench: GNU time is missing (apt-get install time, or scripts/setup.sh)" >&2; exit 1; }
build_tools
pcap=$(ensure_capture "$secs" "$conns")
calls=${pcap%.pcap}.calls
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "capture: $pcap ($(du -h "$pcap" | cut -f1)); nginx served $(wc -l <"$calls") calls"
echo "sniffer: $(cd "$root" && git describe --always --dirty 2>/dev/null || echo unknown commit); $(nproc) cores"
status=0
results=()
for mode in decoded raw; do
  flags=()
  json=(-json /large.json)
  if [[ $mode == raw ]]; then
    flags=(-decode=false)
    json=()
  fi
  best=
  for ((i = 0; i < runs; i++)); do
    n=$(/usr/bin/time -f '%e %U %S %M' -o "$tmp/time" "$root/bin/sniffer" "${flags[@]}" -r "$pcap" 2>"$tmp/err-$mode" | wc -l)
    read -r wall user sys rss <"$tmp/time"
    line=$(awk -v n="$n" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
      c = u + s; printf "%d %.2f %.2f %.0f %.0f %.1f", n, w, c, (w > 0 ? n / w : 0), (c > 0 ? n / c : 0), r / 1024 }')
    if [[ -z $best ]] || awk -v a="$(cut -d' ' -f3 <<<"$line")" -v b="$(cut -d' ' -f3 <<<"$best")" 'BEGIN { exit !(a < b) }'; then
      best=$line
    fi
  done
  results+=("$mode $best")
  label="sniffer -r${flags[*]:+ ${flags[*]}}"
  echo "--- $label: summary on stderr (last run):"
  tail -n 20 "$tmp/err-$mode"
  if [[ ${COMPARE:-1} != 0 ]]; then
    echo "--- completeness, $label against nginx's record:"
    "$root/bin/sniffer" "${flags[@]}" -r "$pcap" 2>/dev/null | "$root/bin/compare" -calls "$calls" "${json[@]}" - || status=1
  fi
done

echo
printf '%-14s %9s %8s %8s %9s %12s %13s\n' mode calls wall_s cpu_s calls/s calls/cpu-s peak_RSS_MiB
for r in "${results[@]}"; do
  read -r mode n wall cpu cps cpcs rss <<<"$r"
  [[ $mode == raw ]] && mode=-decode=false
  printf '%-14s %9d %8s %8s %9s %12s %13s\n' "$mode" "$n" "$wall" "$cpu" "$cps" "$cpcs" "$rss"
done
exit $status
