#!/usr/bin/env bash
# Speed, memory and completeness of `sniffer -r` over real traffic: a capture recorded by
# bin/workload (nginx + wrk in network namespaces; once, cached under .cache/captures; recording needs root), read with bodies
# decoded and with -decode=false. For each it prints calls, wall and CPU (user+sys) seconds,
# calls per second, calls per CPU-second and peak RSS, measured by GNU time over a run whose output
# only goes to `wc -l`; then a second, untimed run is checked against nginx's record of every call
# it served (the same multiset of method, path and query, status; /large.json bodies valid JSON
# when decoded).
#
#
# Then one table side by side with the anchors (../shared/anchors: GoReplay 2.0 built from source,
# not part of this repository; ANCHORS=DIR elsewhere): GoReplay reading the same file (it never
# exits at end of file: --exit-after 6 s plus the capture's length), its right calls counted by the
# anchors' gor-calls.py, and libpcap alone (tcpdump -r FILE -w /dev/null) as the floor. Right calls
# are those matched against nginx's record (for sniffer less any with another call's X-Request-Id);
# missed = served - right; dropped = what the tool itself said it dropped. Ratios are against
# GoReplay's row of the same run. Without the anchors the table says so and holds sniffer's rows.
#
#   scripts/bench.sh [SECONDS] [CONNECTIONS]     default 30 64
#   RUNS=3      timed runs per mode; the one with the least CPU is reported
#   COMPARE=0   skip the completeness check (no right calls then: the table shows all calls)
#   ANCHORS=DIR where gor.xz and gor-calls.py are (default ../shared/anchors); ANCHORS=none skips them
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
table=() # tool|right|dropped|calls wall cpu calls/s calls/cpu-s rss
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
    "$root/bin/sniffer" "${flags[@]}" -r "$pcap" 2>/dev/null | "$root/bin/compare" -calls "$calls" "${json[@]}" - >"$tmp/cmp-$mode" || status=1
    cat "$tmp/cmp-$mode"
  fi
  # right calls: matched against nginx's record, less any carrying another call's request id
  right=$(awk '/matched [0-9]+ / { for (i = 1; i < NF; i++) if ($i == "matched") m = $(i + 1) }
    / wrong,/ { for (i = 2; i <= NF; i++) if ($i == "wrong,") w = $(i - 1) }
    END { if (m == "") print "-"; else print m - w }' "$tmp/cmp-$mode" 2>/dev/null || echo -)
  dropped=$(grep -o 'dropped=[0-9]*' "$tmp/err-$mode" | awk -F= '{ s += $2 } END { print s + 0 }')
  table+=("sniffer${flags[*]:+ ${flags[*]}}|$right|$dropped|$best")
done

# The anchors: GoReplay over the same file, and libpcap alone.
anchors=${ANCHORS:-$root/../shared/anchors}
if [[ $anchors != none && -f $anchors/gor.xz && -f $anchors/gor-calls.py ]]; then
  xz -dc "$anchors/gor.xz" >"$tmp/gor" && chmod +x "$tmp/gor"
  gexit=${GOR_EXIT:-$((6 + secs))}s
  echo "--- GoReplay 2.0 (anchor, $anchors/gor.xz): --input-raw-engine pcap_file, --exit-after $gexit"
  # Its output goes through a pipe, as sniffer's does (to wc -l): the reader's CPU is counted for
  # neither. Written straight to a file, GoReplay spent more system time (1.8 CPU-s against
  # 0.8-1.1 with its output to /dev/null, one comparison on the 8 s x 32 capture).
  { /usr/bin/time -f '%e %U %S %M' -o "$tmp/time" "$tmp/gor" --input-raw "$pcap" --input-raw-engine pcap_file \
    --input-raw-track-response --output-stdout --input-raw-expire 2s --exit-after "$gexit" 2>"$tmp/gor.err" || true; } | cat >"$tmp/gor.out"
  read -r wall user sys rss <"$tmp/time"
  gline=$(python3 "$anchors/gor-calls.py" "$tmp/gor.out" "$calls")
  echo "$gline"
  gright=$(awk '{ print $3 }' <<<"$gline")
  n=$(awk '{ for (i = 1; i < NF; i++) if ($i == "requests") print $(i + 1) + 0 }' <<<"$gline")
  table+=("GoReplay 2.0 (anchor)|$gright|-|$(awk -v n="$n" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
    c = u + s; printf "%d %.2f %.2f %.0f %.0f %.1f", n, w, c, (w > 0 ? n / w : 0), (c > 0 ? n / c : 0), r / 1024 }')")
  gor_row=${#table[@]}
else
  echo "--- anchors: not found at $anchors (GoReplay is not in this repository: ../shared/anchors beside the checkout, or ANCHORS=DIR); the table holds sniffer alone"
  gor_row=
fi
if command -v tcpdump >/dev/null; then
  /usr/bin/time -f '%e %U %S %M' -o "$tmp/time" tcpdump -r "$pcap" -w /dev/null 2>/dev/null || true
  read -r wall user sys rss <"$tmp/time"
  table+=("libpcap alone (tcpdump -r)|-|-|$(awk -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN { printf "0 %.2f %.2f 0 0 %.1f", w, u + s, r / 1024 }')")
fi

echo
printf '%-14s %9s %8s %8s %9s %12s %13s\n' mode calls wall_s cpu_s calls/s calls/cpu-s peak_RSS_MiB
for r in "${results[@]}"; do
  read -r mode n wall cpu cps cpcs rss <<<"$r"
  [[ $mode == raw ]] && mode=-decode=false
  printf '%-14s %9d %8s %8s %9s %12s %13s\n' "$mode" "$n" "$wall" "$cpu" "$cps" "$cpcs" "$rss"
done

# One table, side by side: right calls per CPU-second and peak RSS, with ratios to GoReplay.
served=$(wc -l <"$calls")
echo
echo "offline, $(basename "$pcap"): nginx served $served calls; ratios against GoReplay in this run"
printf '%-28s %7s %7s %7s %7s %12s %8s %10s %8s\n' tool right missed dropped cpu_s right/cpu-s x_gor peak_MiB x_gor
gcpcs= grss=
if [[ -n $gor_row ]]; then
  IFS='|' read -r _ gright _ rest <<<"${table[gor_row - 1]}"
  read -r _ _ gcpu _ _ grss <<<"$rest"
  gcpcs=$(awk -v r="$gright" -v c="$gcpu" 'BEGIN { if (c > 0) printf "%.0f", r / c }')
fi
for row in "${table[@]}"; do
  IFS='|' read -r tool right dropped rest <<<"$row"
  read -r n wall cpu cps cpcs rss <<<"$rest"
  rc=- missed=- xr=- xm=-
  if [[ $right != - ]]; then
    rc=$(awk -v r="$right" -v c="$cpu" 'BEGIN { printf "%.0f", (c > 0 ? r / c : 0) }')
    missed=$((served - right))
    [[ -n $gcpcs ]] && xr=$(awk -v a="$rc" -v b="$gcpcs" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }')
  fi
  [[ -n $grss ]] && xm=$(awk -v a="$rss" -v b="$grss" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }')
  printf '%-28s %7s %7s %7s %7s %12s %8s %10s %8s\n' "$tool" "$right" "$missed" "$dropped" "$cpu" "$rc" "$xr" "$rss" "$xm"
  # scripts/goals.sh's input: offline|tool|right|served|cpu_s|right per CPU-s|peak MiB
  [[ -n ${GOALS_OUT:-} ]] && echo "offline|$tool|$right|$served|$cpu|$rc|$rss" >>"$GOALS_OUT"
done
exit $status
