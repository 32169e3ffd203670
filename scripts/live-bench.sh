#!/usr/bin/env bash
# The live check, side by side: bin/workload (scripts/workload) runs nginx + wrk and, during the
# load, several capturing processes on the server's device at once, on the same packets: sniffer
# with each engine (libpcap, afpacket) and GoReplay 2.0 from the anchors when they are there. Each
# is timed by GNU time; its output is compared with nginx's record of every call it served.
# One table at the end: calls matched, mis-paired (a response's X-Request-Id naming another call),
# kernel drops, CPU-seconds per 1000 calls served, peak RSS and context switches (voluntary: the
# process waited, for packets or a lock; involuntary: the scheduler took the CPU from it), with
# the load average of the machine, for ratios within one run (the machine's other jobs make absolute figures vary).
# Needs root. Files stay under .cache/live for a look afterwards (overwritten on the next run).
#
#   scripts/live-bench.sh [SECONDS] [CONNECTIONS]     default 30 64
#   SNIFF_FLAGS='-decode=false'   extra flags for every sniffer
#   VARIANTS='libpcap=-engine libpcap;afpacket=-engine afpacket'   the sniffers run, NAME=FLAGS
#                 separated by ';' (default those two; no -engine is auto, afpacket here).
#                 NAME@BINARY=FLAGS runs another build (a path, relative to the repository or
#                 absolute) instead of bin/sniffer, so that two builds read the same packets:
#                 VARIANTS='old@bin/sniffer-old=;new=' (build it first, e.g. git worktree +
#                 go build -o).
#   ANCHORS=DIR   where gor.xz and gor-calls.py are (default ../shared/anchors); none: no GoReplay
#   PCAP=1        tcpdump records .cache/live/live.pcap beside them and it is read back with
#                 `sniffer -r` (a call missed live but found in the file was lost by the live
#                 capture, not by reassembly). By default tcpdump records nothing, as in production.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
secs=${1:-30}
conns=${2:-64}
((EUID == 0)) || { echo "live-bench: needs root (network namespaces, live capture)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "live-bench: GNU time is missing (apt-get install time, or scripts/setup.sh)" >&2; exit 1; }
build_tools
dir=$cache/live
rm -rf "$dir"
mkdir -p "$dir"
out=$dir/live.pcap

IFS=';' read -r -a variants <<<"${VARIANTS:-libpcap=-engine libpcap;afpacket=-engine afpacket}"
# The command run in the server's namespace: every capture in the background, each under GNU time.
# The shell ignores SIGINT so that it waits for them all; sniffer and GoReplay (Go programs that
# ask for SIGINT) still get it from workload, which signals the whole process group.
sniff="trap '' INT; "
names=()
timefmt='%e %U %S %M %w %c' # elapsed, user, system, peak RSS KiB, voluntary and involuntary switches
for v in "${variants[@]}"; do
  name=${v%%=*} flags=${v#*=} bin=$root/bin/sniffer
  if [[ $name == *@* ]]; then
    bin=${name#*@} name=${name%%@*}
    [[ $bin == /* ]] || bin=$root/$bin
    [[ -x $bin ]] || { echo "live-bench: variant $name: $bin is not an executable (build it first)" >&2; exit 1; }
  fi
  names+=("$name")
  sniff+="/usr/bin/time -f '$timefmt' -o '$dir/$name.time' '$bin' -i \$DEV -ports 80 $flags ${SNIFF_FLAGS:-} >'$dir/$name.out' 2>'$dir/$name.err' & "
done
anchors=${ANCHORS:-$root/../shared/anchors}
gor=
if [[ $anchors != none && -f $anchors/gor.xz && -f $anchors/gor-calls.py ]]; then
  gor=$dir/gor
  xz -dc "$anchors/gor.xz" >"$gor" && chmod +x "$gor"
  sniff+="/usr/bin/time -f '$timefmt' -o '$dir/GoReplay.time' '$gor' --input-raw \$DEV:80 --input-raw-track-response --output-stdout --input-raw-expire 2s >'$dir/GoReplay.out' 2>'$dir/GoReplay.err' & "
else
  echo "live-bench: anchors not found at $anchors (GoReplay is not in this repository: ../shared/anchors beside the checkout, or ANCHORS=DIR): sniffer alone"
fi
sniff+="wait"
echo "capture command: $sniff"
pcapflag=(-no-pcap)
[[ -n ${PCAP:-} ]] && pcapflag=()
load0=$(cut -d' ' -f1-3 /proc/loadavg)
"$root/bin/workload" -sniff "$sniff" "${pcapflag[@]}" "$out" "$secs" "$conns" | tee "$dir/workload.log"
load1=$(cut -d' ' -f1-3 /proc/loadavg)
calls=$dir/live.calls
served=$(wc -l <"$calls")

json=(-json /large.json)
[[ ${SNIFF_FLAGS:-} == *-decode=false* ]] && json=()
status=0
rows=()
for name in "${names[@]}"; do
  echo "--- sniffer $name: stderr (last lines):"
  tail -n 14 "$dir/$name.err"
  echo "--- sniffer $name against nginx's record:"
  "$root/bin/compare" -calls "$calls" "${json[@]}" "$dir/$name.out" >"$dir/$name.cmp" || status=1
  cat "$dir/$name.cmp"
  matched=$(grep -o 'matched [0-9]*' "$dir/$name.cmp" | awk '{ print $2 }')
  wrong=$(awk '/ wrong,/ { for (i = 2; i <= NF; i++) if ($i == "wrong,") print $(i - 1) }' "$dir/$name.cmp")
  drops=$(sed -n 's/.*pcap: \([0-9]*\) received, \([0-9]*\) dropped by the kernel.*/\2 of \1/p' "$dir/$name.err")
  # Calls whose body work was shed under load (bodies left undecoded or dropped, marked): less
  # CPU spent on them, which goals.sh says beside the live figure.
  shed=$(grep -o 'shed [0-9]*' "$dir/$name.cmp" | awk '{ print $2 }')
  rows+=("sniffer $name|${matched:-0}|${wrong:-?}|${drops:-?}|${shed:-0}|$(tail -n 1 "$dir/$name.time" 2>/dev/null)")
done
if [[ -n $gor ]]; then
  echo "--- GoReplay against nginx's record:"
  gline=$(python3 "$anchors/gor-calls.py" "$dir/GoReplay.out" "$calls")
  echo "$gline"
  gmatched=$(sed -n 's/^GoReplay matched \([0-9]*\) .*/\1/p' <<<"$gline")
  rows+=("GoReplay 2.0|${gmatched:-0}|(no ids)||0|$(tail -n 1 "$dir/GoReplay.time" 2>/dev/null)")
fi

echo
echo "live, side by side on the same traffic: nginx served $served calls in ${secs} s over $conns connections;"
echo "load average $load0 before, $load1 after; $(nproc) cores; sniffer $(cd "$root" && git describe --always --dirty 2>/dev/null || echo unknown)${SNIFF_FLAGS:+, flags $SNIFF_FLAGS}"
printf '| %-22s | %16s | %10s | %18s | %20s | %13s | %17s |\n' tool "calls matched" mis-paired "kernel drops" "CPU-s / 1000 calls" "peak RSS MiB" "ctx sw vol / inv"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..24})" "$(printf -- '-%.0s' {1..18})" "$(printf -- '-%.0s' {1..12})" "$(printf -- '-%.0s' {1..20})" "$(printf -- '-%.0s' {1..22})" "$(printf -- '-%.0s' {1..15})" "$(printf -- '-%.0s' {1..19})"
for r in "${rows[@]}"; do
  IFS='|' read -r tool matched wrong drops shed timing <<<"$r"
  read -r _ user sys rss vol inv <<<"${timing:-0 0 0 0 0 0}"
  awk -v t="$tool" -v m="$matched" -v s="$served" -v w="$wrong" -v d="$drops" -v u="$user" -v y="$sys" -v r="$rss" -v cv="${vol:-0}" -v ci="${inv:-0}" 'BEGIN {
    printf "| %-22s | %7d (%5.1f%%) | %10s | %18s | %20.3f | %13.1f | %17s |\n", t, m, (s > 0 ? 100 * m / s : 0), w, d, (s > 0 ? 1000 * (u + y) / s : 0), r / 1024, cv " / " ci }'
  # scripts/goals.sh's input: live|tool|matched|served|mis-paired|CPU-s per 1000 calls|peak MiB|shed
  [[ -n ${GOALS_OUT:-} ]] && awk -v t="$tool" -v m="$matched" -v s="$served" -v w="$wrong" -v u="$user" -v y="$sys" -v r="$rss" -v sh="${shed:-0}" 'BEGIN {
    printf "live|%s|%d|%d|%s|%.3f|%.1f|%d\n", t, m, s, w, (s > 0 ? 1000 * (u + y) / s : 0), r / 1024, sh }' >>"$GOALS_OUT"
done
if [[ -n ${PCAP:-} && -s $out ]]; then
  echo "--- the same traffic from tcpdump's pcap: sniffer -r ${SNIFF_FLAGS:-} against nginx's record:"
  # shellcheck disable=SC2086 # SNIFF_FLAGS is a list of flags
  "$root/bin/sniffer" ${SNIFF_FLAGS:-} -r "$out" 2>"$dir/replay.err" | "$root/bin/compare" -calls "$calls" "${json[@]}" - || true
  tail -n 3 "$dir/replay.err"
fi
exit $status
