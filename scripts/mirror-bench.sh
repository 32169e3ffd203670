#!/usr/bin/env bash
# Speed and memory of the proxy mirror listener alone: `sniffer -engine none -mirror-listen` on
# loopback, NDJSON to a file, loaded by wrk as a proxy's mirror would load it (keep-alive
# connections, forwarded headers), for a request without body and with 1 KiB and 64 KiB JSON
# bodies. For each it prints the requests wrk completed, the calls sniffer wrote, sniffer's CPU
# (user+sys) and peak RSS by GNU time, and calls per CPU-second; wrk runs on the same machine, so
# wall-clock rates say little while CPU per call does.
#
#   scripts/mirror-bench.sh [SECONDS] [CONNECTIONS]     default 20 64
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
secs=${1:-20}
conns=${2:-64}
for tool in wrk /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "mirror-bench: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
(cd "$root" && go build -o bin/sniffer .)
tmp=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

echo "sniffer: $(cd "$root" && git describe --always --dirty 2>/dev/null || echo unknown); $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %10s %10s %8s %14s %10s\n' body requests calls cpu_s calls/cpu_s peak_rss
for size in 0 1024 65536; do
  cat >"$tmp/mirror.lua" <<LUA
wrk.method = "$( ((size > 0)) && echo POST || echo GET )"
wrk.headers["Host"] = "api.example.com"
wrk.headers["X-Forwarded-For"] = "203.0.113.7"
wrk.headers["X-Real-IP"] = "203.0.113.7"
wrk.headers["X-Forwarded-Proto"] = "https"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) bench"
wrk.headers["Accept"] = "application/json"
if $size > 0 then
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = '{"data":"' .. string.rep("x", $size - 11) .. '"}'
end
wrk.path = "/api/v1/orders?page=2"
LUA
  /usr/bin/time -f '%U %S %M' -o "$tmp/time" "$root/bin/sniffer" -engine none -mirror-listen "127.0.0.1:$port" \
    -o "$tmp/calls.ndjson" -rules 'include debug' 2>"$tmp/err" &
  pid=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  req=$(wrk -t2 -c"$conns" -d"${secs}s" -s "$tmp/mirror.lua" "http://127.0.0.1:$port" | awk '/requests in/ {print $1}')
  kill -INT "$(pgrep -P "$pid")" # sniffer, under GNU time
  wait "$pid" || { echo "sniffer exited with an error:" >&2; cat "$tmp/err" >&2; exit 1; }
  pid=
  calls=$(wc -l <"$tmp/calls.ndjson")
  read -r user sys rss <"$tmp/time"
  awk -v b="$size" -v q="$req" -v n="$calls" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
    printf "%-8s %10d %10d %8.2f %14.0f %7.1f MiB\n", b, q, n, u + s, n / (u + s), r / 1024 }'
  grep 'proxy mirror:' "$tmp/err" | sed 's/^/  /'
  rm -f "$tmp/calls.ndjson"
done
