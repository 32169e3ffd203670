#!/usr/bin/env bash
# Peak RSS of live sniffers posting to a collector that is down for the first DOWN seconds
# (SPOOL_DIR set), side by side on the same traffic: bin/workload -no-pcap runs nginx + wrk
# for SECONDS over CONNECTIONS and, in the server's namespace, each sniffer binary given
# capturing the same device, each with its own collector (demo/collector, started DOWN s
# after the sniffers) and spool. Prints one line per binary: peak RSS (GNU time %M and
# VmHWM), the RssAnon/RssFile sampled (every 50 ms) at the largest VmRSS seen, written and
# delivered from sniffer's summary, the messages its collector received, nginx's calls served,
# the kernel's drop share, the calls the pipeline dropped or sent without bodies (overload) and
# the collector sink's drops. Needs root and what scripts/setup.sh installs. Copy the binaries
# into place the same way (cp): how a file came into the page cache changes its RssFile.
#
#   scripts/collector-down.sh [SECONDS] [CONNECTIONS] [DOWN] -- SNIFFER_BIN...   default 8 32 5
#   RUNS=N   runs (each runs every binary at once); every run is printed; KEEP=1 keeps the
#            work directory (each sniffer's stderr in s0/, s1/...)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
secs=8 conns=32 down=5
args=()
while [[ $# -gt 0 && $1 != -- ]]; do args+=("$1"); shift; done
[[ ${#args[@]} -gt 0 ]] && secs=${args[0]}
[[ ${#args[@]} -gt 1 ]] && conns=${args[1]}
[[ ${#args[@]} -gt 2 ]] && down=${args[2]}
[[ ${1:-} == -- ]] && shift
bins=("$@")
[[ ${#bins[@]} -gt 0 ]] || bins=("$root/bin/sniffer")
runs=${RUNS:-1}
(cd "$root" && go build -o bin/workload ./scripts/workload && go build -o bin/collector ./demo/collector)
tmp=$(mktemp -d)
[[ -n ${KEEP:-} ]] || trap 'rm -rf "$tmp"' EXIT
# one.sh BIN TAG PORT: run in the server namespace by bin/workload's -sniff.
cat >"$tmp/one.sh" <<'ONE'
set -u
bin=$1 dir=$2 port=$3 down=$4 collector=$5
mkdir -p "$dir/spool"
trap 'kill -INT $pid 2>/dev/null' INT
/usr/bin/time -f '%M %U %S' -o "$dir/time" "$bin" -i "$DEV" -ports 80 -url "http://127.0.0.1:$port/message" \
  -spool-dir "$dir/spool" >"$dir/out" 2>"$dir/err" &
pid=$!
sleep 0.3
spid=$(pgrep -P $pid | head -1)
( trap '' INT; max=0; while kill -0 "$spid" 2>/dev/null; do
    s=$(cat /proc/$spid/status 2>/dev/null) || break
    r=$(awk '/^VmRSS/ {print $2}' <<<"$s"); h=$(awk '/^VmHWM/ {print $2}' <<<"$s")
    if [[ -n $r && $r -gt $max ]]; then max=$r; awk '/^(VmRSS|RssAnon|RssFile|RssShmem)/ {printf "%s %s ", $1, $2}' <<<"$s" >"$dir/peak"; fi
    [[ -n $h ]] && echo "$h" >"$dir/hwm"
    sleep 0.05
  done ) &
( sleep "$down"; exec setsid "$collector" -addr "127.0.0.1:$port" >/dev/null 2>&1 ) &
cpid=$!
while kill -0 $pid 2>/dev/null; do wait $pid; done
sleep 1
curl -s -D - -o /dev/null "http://127.0.0.1:$port/messages" | awk -F': ' 'tolower($1)=="x-total-messages" {print $2+0}' >"$dir/received"
kill "$cpid" 2>/dev/null || true
ONE
sniff=""
for i in "${!bins[@]}"; do
  sniff+="bash $tmp/one.sh ${bins[$i]} $tmp/s$i $((7790 + i)) $down $root/bin/collector & "
done
sniff+="trap '' INT; wait"
echo "$(nproc) cores; $(uptime | sed 's/.*load/load/'); ${secs} s x ${conns} connections, collector down for the first ${down} s"
printf '%-4s %-24s %8s %8s %8s %8s %7s %7s %8s %7s %7s %7s %7s %s\n' run binary peak_MiB hwm_MiB anon_MiB file_MiB written deliv received served kdrop% pl_drop nobody sink
for ((r = 1; r <= runs; r++)); do
  for i in "${!bins[@]}"; do rm -rf "$tmp/s$i"; done
  line=$("$root/bin/workload" -q -no-pcap -sniff "$sniff" "$tmp/w.pcap" "$secs" "$conns" || true)
  served=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$line")
  for i in "${!bins[@]}"; do
    d=$tmp/s$i
    peak=$(awk '{printf "%.1f", $1/1024}' "$d/time" 2>/dev/null || echo -)
    hwm=$(awk '{printf "%.1f", $1/1024}' "$d/hwm" 2>/dev/null || echo -)
    anon=$(awk '{for (i=1;i<NF;i+=2) if ($i=="RssAnon:") printf "%.1f", $(i+1)/1024}' "$d/peak" 2>/dev/null || echo -)
    file=$(awk '{for (i=1;i<NF;i+=2) if ($i=="RssFile:") printf "%.1f", $(i+1)/1024}' "$d/peak" 2>/dev/null || echo -)
    wr=$(grep -o 'written=[0-9]*' "$d/err" | head -1 | tr -dc 0-9 || true)
    de=$(grep -o 'delivered=[0-9]*' "$d/err" | head -1 | tr -dc 0-9 || true)
    kd=$(sed -n 's/.*pcap: \([0-9]*\) received, \([0-9]*\) dropped by the kernel.*/\1 \2/p' "$d/err" | awk '{ if ($1 + $2 > 0) printf "%.0f", 100 * $2 / ($1 + $2) }')
    pd=$(sed -n 's/.*calls dropped, pipeline queue full.*: \([0-9]*\).*/\1/p' "$d/err" | head -1)
    nb=$(sed -n 's/.*calls sent without bodies.*: \([0-9]*\).*/\1/p' "$d/err" | head -1)
    printf '%-4s %-24s %8s %8s %8s %8s %7s %7s %8s %7s %7s %7s %7s %s\n' "$r" "$(basename "${bins[$i]}")" "$peak" "$hwm" "$anon" "$file" "${wr:--}" "${de:--}" \
      "$(cat "$d/received" 2>/dev/null || echo -)" "${served:--}" "${kd:--}" "${pd:-0}" "${nb:-0}" "$(grep -o ' dropped=.*' "$d/err" | head -1 || true)"
    [[ -n ${VERBOSE:-} ]] && tail -n 6 "$d/err"
  done
done
