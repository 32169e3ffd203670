#!/usr/bin/env bash
# What `-ports any` (APP_PORTS=any: HTTP/1.x found on every TCP port by its first bytes) costs
# live, beside `-ports 80`: bin/workload (nginx + wrk in network namespaces) runs once, and two
# sniffers capture the server's device side by side during that one load, each under GNU time.
# Prints, per sniffer, the calls it wrote, its CPU seconds, CPU milliseconds per 1000 calls and
# peak RSS, with -ports any's ratios to -ports 80; then each sniffer's output is checked against
# nginx's record of what it served. Needs root. Files stay under .cache/ports-any.
#
#   scripts/ports-any-bench.sh [SECONDS] [CONNECTIONS]     default 20 32
#
# The workload is HTTP on port 80 alone, so this is the cost of detection on HTTP connections
# (and of the wider kernel filter); other TCP traffic on the device adds its own, which depends
# on the mix: a TLS or SSH connection is given up at its first bytes, a midstream binary
# stream after at most 256 KiB (reassembly/detect.go).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
secs=${1:-20}
conns=${2:-32}
((EUID == 0)) || { echo "ports-any-bench: needs root (network namespaces, live capture)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "ports-any-bench: GNU time is missing (apt-get install time, or scripts/setup.sh)" >&2; exit 1; }
build_tools
dir=$cache/ports-any
rm -rf "$dir"
mkdir -p "$dir"
# Both sniffers start in the background of one shell; the workload sends SIGINT to the shell's
# process group, which reaches both (GNU time ignores it while it waits and writes its figures
# once its sniffer has flushed and exited). The shell ignores it too and waits for both.
one() { # NAME PORTS
  echo "/usr/bin/time -f '%e %U %S %M' -o '$dir/$1.time' '$root/bin/sniffer' -i \$DEV -ports $2 >'$dir/$1.ndjson' 2>'$dir/$1.err' &"
}
sniff="trap '' INT; $(one p80 80) $(one any any) wait"
"$root/bin/workload" -no-pcap -sniff "$sniff" "$dir/w.pcap" "$secs" "$conns"
status=0
for _ in $(seq 30); do # GNU time writes its figures as its sniffer exits
  [[ -s $dir/p80.time && -s $dir/any.time ]] && break
  sleep 1
done
printf '%-10s %8s %8s %10s %14s %12s %13s\n' sniffer calls CPU-s wall-s 'CPU-ms/1000' 'peak RSS MiB' 'kernel drops'
for n in p80 any; do
  if [[ ! -s $dir/$n.time ]]; then
    echo "$n: no timing (it did not exit cleanly on SIGINT?); its stderr:"
    tail -n 5 "$dir/$n.err"
    status=1
    continue
  fi
  read -r wall user sys rss <"$dir/$n.time"
  calls=$(wc -l <"$dir/$n.ndjson")
  drops=$(sed -n 's/.* \([0-9]*\) dropped by the kernel.*/\1/p' "$dir/$n.err" | tail -n 1)
  echo "$n $calls $wall $user $sys $rss" >>"$dir/rows"
  awk -v n="$n" -v c="$calls" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v d="${drops:-?}" 'BEGIN {
    cpu = u + s; printf "%-10s %8d %8.2f %10.1f %14.1f %12.1f %13s\n", (n == "p80" ? "-ports 80" : "-ports any"), c, cpu, w, (c > 0 ? 1000 * 1000 * cpu / c : 0), r / 1024, d }'
done
if [[ $(wc -l <"$dir/rows" 2>/dev/null || echo 0) -eq 2 ]]; then
  awk 'NR == 1 { c1 = $2; cpu1 = $4 + $5; r1 = $6 } NR == 2 { c2 = $2; cpu2 = $4 + $5; r2 = $6 } END {
    if (c1 > 0 && c2 > 0 && cpu1 > 0 && r1 > 0)
      printf "-ports any / -ports 80: CPU per call %.2fx, peak RSS %.2fx\n", (cpu2 / c2) / (cpu1 / c1), r2 / r1 }' "$dir/rows"
fi
for n in p80 any; do
  echo "--- $n against nginx's record:"
  "$root/bin/compare" -calls "$dir/w.calls" -json /large.json "$dir/$n.ndjson" || status=$?
  grep -i -e drop -e shed "$dir/$n.err" | tail -n 3 || true
done
exit $status
