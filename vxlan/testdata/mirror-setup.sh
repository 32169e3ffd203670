#!/usr/bin/env bash
# mirror-setup.sh: build (or remove) a VPC-traffic-mirroring lab out of network namespaces.
#
#   PREFIX-cli  c0 10.203.1.1/24 ==veth== s0 10.203.1.2/24  PREFIX-srv
#               fd00:203:1::1/64          fd00:203:1::2/64
#                                          |  tc clsact on s0, ingress and egress:
#                                          |  u32 match-all -> mirred egress mirror dev vxm
#                                          vxm: vxlan id $VNI dstport $PORT local 10.203.2.1 remote 10.203.2.2 dev m0
#                                          m0 10.203.2.1/24 ==veth (mtu $MTU)== t0 10.203.2.2/24  PREFIX-tgt
#
# Every frame on s0, in both directions, is copied (not moved: the client/server traffic is
# unaffected) into vxm, which wraps it in VXLAN/UDP and sends it to the target namespace, the
# way AWS VPC Traffic Mirroring delivers to a mirror target. In PREFIX-tgt, capture either
#   user-space mode:  udp port $PORT on t0 (no kernel device needed), or
#   kernel mode:      ip link add vx0 type vxlan id $VNI dstport $PORT dev t0 && ip link set vx0 up
#                     (or let sniffer create vx0 itself) and capture on vx0.
#
# Usage (root):  mirror-setup.sh up [PREFIX]     build the lab, print KEY=VALUE lines describing it
#                mirror-setup.sh down [PREFIX]   delete the three namespaces (and all links in them)
# PREFIX defaults to "mir$$"; give a unique one per test run. Environment: VNI (default 42),
# PORT (4789), MTU of the mirror underlay m0/t0 (9001, like AWS: a mirrored 1500-byte frame plus
# 50 bytes of VXLAN/UDP/IP/Ethernet fits unfragmented; with MTU=1500 the kernel sends every full
# frame as two outer IP fragments, which sniffer reassembles), TUNNEL (vxlan, or geneve: the
# mirror session is then a Geneve device, as AWS Gateway Load Balancer sends; set PORT=6081).
# The tc egress hook runs before GSO segmentation, so TCP data the server sends is mirrored as
# GSO super-packets of up to 64 KB (an outer UDP datagram of ~65300 bytes on t0), exactly as
# tcpdump on s0 would show them; turning TSO/GSO off with ethtool does not change that. A
# capture in the target therefore needs a snap length of 262144 (tcpdump's default), not 65535.
# Only clsact, u32 and mirred are used: matchall, flower, prio and netem are absent on the
# machines this was written for. Addresses exist only inside the namespaces.
set -euo pipefail

cmd=${1:-}
prefix=${2:-mir$$}
VNI=${VNI:-42}
PORT=${PORT:-4789}
MTU=${MTU:-9001}
TUNNEL=${TUNNEL:-vxlan}

cli=$prefix-cli srv=$prefix-srv tgt=$prefix-tgt

die() { echo "mirror-setup.sh: $*" >&2; exit 1; }
ns_exists() { ip netns list | awk '{print $1}' | grep -qxF -- "$1"; }

down() {
	local ns rc=0
	for ns in "$cli" "$srv" "$tgt"; do
		if ns_exists "$ns"; then
			ip netns del "$ns" || rc=1
		fi
	done
	return $rc
}

up() {
	[ "$(id -u)" = 0 ] || die "needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) to create namespaces"
	for t in ip tc; do command -v $t >/dev/null || die "$t not found: apt-get install iproute2"; done
	case $VNI in ''|*[!0-9]*) die "VNI=$VNI is not a number (0-16777215)";; esac
	case $PORT in ''|*[!0-9]*) die "PORT=$PORT is not a number";; esac
	case $TUNNEL in vxlan|geneve) ;; *) die "TUNNEL=$TUNNEL: want vxlan or geneve";; esac
	for ns in "$cli" "$srv" "$tgt"; do
		if ns_exists "$ns"; then die "namespace $ns exists already; run: $0 down $prefix"; fi
	done
	trap 'echo "mirror-setup.sh: setup failed, removing $prefix-*" >&2; down || true' ERR

	for ns in "$cli" "$srv" "$tgt"; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
	done

	# The monitored link: client <-> server.
	ip -n "$cli" link add c0 type veth peer name s0 netns "$srv"
	ip -n "$cli" addr add 10.203.1.1/24 dev c0
	ip -n "$srv" addr add 10.203.1.2/24 dev s0
	ip -n "$cli" -6 addr add fd00:203:1::1/64 dev c0 nodad
	ip -n "$srv" -6 addr add fd00:203:1::2/64 dev s0 nodad
	ip -n "$cli" link set c0 up
	ip -n "$srv" link set s0 up

	# The mirror underlay: server namespace <-> target, jumbo like AWS.
	ip -n "$srv" link add m0 mtu "$MTU" type veth peer name t0 netns "$tgt" mtu "$MTU"
	ip -n "$srv" addr add 10.203.2.1/24 dev m0
	ip -n "$tgt" addr add 10.203.2.2/24 dev t0
	ip -n "$srv" link set m0 up
	ip -n "$tgt" link set t0 up

	# The mirror session: VXLAN (or Geneve) towards the target. nolearning: it only ever
	# sends to remote.
	if [ "$TUNNEL" = geneve ]; then
		ip -n "$srv" link add vxm type geneve id "$VNI" dstport "$PORT" remote 10.203.2.2
	else
		ip -n "$srv" link add vxm type vxlan id "$VNI" dstport "$PORT" local 10.203.2.1 remote 10.203.2.2 dev m0 nolearning
	fi
	ip -n "$srv" link set vxm mtu $((MTU - 50)) up

	# Copy every frame on s0, both directions, into vxm.
	tc -n "$srv" qdisc add dev s0 clsact
	for dir in ingress egress; do
		tc -n "$srv" filter add dev s0 "$dir" protocol all u32 match u32 0 0 action mirred egress mirror dev vxm
	done
	trap - ERR

	cat <<EOT
CLIENT_NS=$cli
SERVER_NS=$srv
TARGET_NS=$tgt
CLIENT_IP=10.203.1.1
SERVER_IP=10.203.1.2
CLIENT_IP6=fd00:203:1::1
SERVER_IP6=fd00:203:1::2
TARGET_DEV=t0
TARGET_IP=10.203.2.2
MIRROR_SRC_IP=10.203.2.1
VNI=$VNI
PORT=$PORT
TUNNEL=$TUNNEL
MTU=$MTU
# server:        ip netns exec $srv python3 -m http.server 8000 --bind 10.203.1.2
# client:        ip netns exec $cli curl -s http://10.203.1.2:8000/
# user space:    ip netns exec $tgt tcpdump -ni t0 udp port $PORT
# kernel device: ip -n $tgt link add vx0 type vxlan id $VNI dstport $PORT dev t0 && ip -n $tgt link set vx0 up
#                ip netns exec $tgt tcpdump -ni vx0 tcp port 8000
# counters:      tc -n $srv -s filter show dev s0 ingress; tc -n $srv -s filter show dev s0 egress
# remove:        $0 down $prefix
EOT
}

case $cmd in
up) up ;;
down) down ;;
*) die "usage: $0 up|down [PREFIX]" ;;
esac
