#!/usr/bin/env bash
# Every speed figure in one table, against the goals of issue 16: runs scripts/bench.sh (offline),
# scripts/live-bench.sh (live, default settings) and scripts/collector-bench.sh (to a collector),
# each with its own full output first, then one table of the figures each goal is about, side by
# side with the anchors (../shared/anchors; without them the table says what could not be
# compared). Ratios are within one run of each script: these machines are shared and noisy, so
# a goal near its threshold may flip between runs.
#
#   scripts/goals.sh [OFFLINE_SECS OFFLINE_CONNS [LIVE_SECS LIVE_CONNS [COLLECTOR_SECS COLLECTOR_CONNS]]]
#                    default 8 32 8 16 5 16
#   live-bench needs root; without it its rows say "not run".
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
osecs=${1:-8} oconns=${2:-32} lsecs=${3:-8} lconns=${4:-16} csecs=${5:-5} cconns=${6:-16}
figures=$(mktemp)
trap 'rm -f "$figures"' EXIT
export GOALS_OUT=$figures
status=0
echo "=== offline: scripts/bench.sh $osecs $oconns"
"$root/scripts/bench.sh" "$osecs" "$oconns" || status=1
if ((EUID == 0)); then
  echo "=== live: scripts/live-bench.sh $lsecs $lconns (default settings)"
  VARIANTS='default=' "$root/scripts/live-bench.sh" "$lsecs" "$lconns" || status=1
else
  echo "=== live: not run (live-bench needs root)"
fi
echo "=== to a collector: scripts/collector-bench.sh $csecs $cconns"
"$root/scripts/collector-bench.sh" "$csecs" "$cconns" || status=1

echo
echo "=== the goals (issue 16), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), sniffer $(cd "$root" && git describe --always --dirty 2>/dev/null || echo unknown)"
awk -F'|' '
  { key = $1 "|" $2; right[key] = $3; served[key] = $4; cpu[key] = $5; rate[key] = $6; rss[key] = $7; shed[key] = $8 }
  $2 ~ /^sniffer/ {
    if ($7 + 0 > maxrss) { maxrss = $7 + 0; maxwhere = $1 " " $2 }
    n++
    if ($1 == "live") { if ($3 != $4 || $5 != "0") bad = bad " " $1 " " $2 }
    else if ($3 != $4) bad = bad " " $1 " " $2
  }
  function ratio(a, b) { return (a != "" && b != "" && b + 0 > 0) ? sprintf("%.2fx", a / b) : "" }
  function row(goal, got, met, detail) {
    printf "| %-44s | %-10s | %-7s | %s\n", goal, (got == "" ? "-" : got), (got == "" ? "not run" : met), detail
  }
  END {
    printf "| %-44s | %-10s | %-7s | %s\n", "goal", "measured", "met", "from"
    d = ratio(rate["offline|sniffer"], rate["offline|GoReplay 2.0 (anchor)"])
    row("offline, bodies decoded: >= 1x GoReplay", d, (d + 0 >= 1 ? "yes" : "no"),
      "right calls per CPU-s, sniffer " rate["offline|sniffer"] " / GoReplay " rate["offline|GoReplay 2.0 (anchor)"])
    r = ratio(rate["offline|sniffer -decode=false"], rate["offline|GoReplay 2.0 (anchor)"])
    row("offline, -decode=false: >= 3x GoReplay", r, (r + 0 >= 3 ? "yes" : "no"),
      "right calls per CPU-s, sniffer " rate["offline|sniffer -decode=false"] " / GoReplay " rate["offline|GoReplay 2.0 (anchor)"])
    l = ratio(rate["live|sniffer default"], rate["live|GoReplay 2.0"])
    row("live, default settings: CPU/call <= GoReplay", l, (l != "" && l + 0 <= 1 ? "yes" : "no"),
      "CPU-s per 1000 calls, sniffer " rate["live|sniffer default"] " / GoReplay " rate["live|GoReplay 2.0"] \
      (shed["live|sniffer default"] + 0 > 0 ? "; sniffer shed the body work of " shed["live|sniffer default"] " calls under load (less CPU: compare with care)" : ""))
    c = ratio(rate["collector|sniffer zlib=off"], rate["collector|engine zlib=on"])
    row("collector: >= 5x the Resurface engine", c, (c + 0 >= 5 ? "yes" : "no"),
      "each default (sniffer to loopback uncompressed, the engine zlib); posting the same way: " \
      ratio(rate["collector|sniffer zlib=off"], rate["collector|engine zlib=off"]) " uncompressed, " \
      ratio(rate["collector|sniffer zlib=on"], rate["collector|engine zlib=on"]) " zlib")
    row("peak RSS <= 64 MiB, every sniffer run", (n ? maxrss " MiB" : ""), (maxrss <= 64 ? "yes" : "no"), "largest: " maxwhere)
    row("every call right, every sniffer run", (n ? (bad == "" ? "all" : "no") : ""), (bad == "" ? "yes" : "no"),
      (bad == "" ? n " runs: every served call matched, none mis-paired" : "not all calls in:" bad))
    # The CPU per call of the anchors differs between machines far more than that of sniffer
    # (GoReplay took 33-36 us a call offline on one 2-core machine, 78-80 on the next): the
    # cost of each tool on its own.
    print ""
    print "CPU per right call (us, user+sys; live: per call served):"
    own("offline sniffer, decoded", "offline|sniffer")
    own("offline sniffer -decode=false", "offline|sniffer -decode=false")
    own("offline GoReplay", "offline|GoReplay 2.0 (anchor)")
    own("live sniffer, default settings", "live|sniffer default")
    own("live GoReplay", "live|GoReplay 2.0")
    own("collector sniffer, uncompressed", "collector|sniffer zlib=off")
    own("collector sniffer, zlib", "collector|sniffer zlib=on")
    own("collector engine, uncompressed", "collector|engine zlib=off")
    own("collector engine, zlib", "collector|engine zlib=on")
  }
  function own(label, key) {
    if (!(key in rate)) return
    if (key ~ /^live/) us = rate[key] * 1000 # CPU-s per 1000 calls served
    else us = (right[key] + 0 > 0) ? cpu[key] / right[key] * 1e6 : 0
    printf "  %-34s %7.1f\n", label, us
  }' "$figures"
exit $status
