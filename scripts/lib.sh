# Shared by the scripts: paths, and a cached capture of the project's own workload (bin/workload:
# nginx + wrk in network namespaces, internal/workload). Source it.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=$root/.cache
export PATH=$PATH:/usr/local/go/bin

# ensure_capture SECONDS CONNECTIONS prints the path of a capture of that workload, recording it
# (needs root) only when the cache under .cache/captures has none. A capture in which tcpdump
# dropped packets is not kept: nginx's count would not hold against it.
ensure_capture() {
  local secs=$1 conns=$2 dir=$cache/captures
  local pcap=$dir/workload-${secs}s-${conns}c.pcap
  if [[ -s $pcap && -s ${pcap%.pcap}.calls ]]; then
    echo "$pcap"
    return
  fi
  ((EUID == 0)) || { echo "recording a capture needs root (network namespaces): run as root once, later runs reuse $pcap" >&2; return 1; }
  mkdir -p "$dir"
  local tmp
  tmp=$(mktemp -d "$dir/tmp.XXXXXX")
  echo "recording ${secs} s of nginx + wrk traffic over ${conns} connections into $pcap ..." >&2
  local line
  line=$("$root/bin/workload" "$tmp/w.pcap" "$secs" "$conns") || { rm -rf "$tmp"; return 1; }
  echo "$line" >&2
  if [[ $line != *" dropped=0 "* ]]; then
    rm -rf "$tmp"
    echo "tcpdump dropped packets while recording; not keeping that capture (try again, or fewer connections)" >&2
    return 1
  fi
  mv "$tmp/w.calls" "${pcap%.pcap}.calls"
  mv "$tmp/w.pcap" "$pcap"
  rm -rf "$tmp"
  echo "$pcap"
}

# build_tools builds bin/sniffer, bin/compare and bin/workload.
build_tools() {
  (cd "$root" && go build -o bin/sniffer . && go build -o bin/compare ./scripts/compare && go build -o bin/workload ./scripts/workload)
}
