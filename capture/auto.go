package capture

import (
	"net"
	"runtime"
)

// AutoEngine is the engine SNIFFER_ENGINE=auto (the default) reads cfg with: "afpacket" for a
// live capture on Linux network devices, where its TPACKET_V3 rings (one fanout member per
// worker) cost less CPU per call than libpcap's, and "libpcap" wherever the afpacket engine
// does not apply:
//   - a capture file (.pcap, .pcapng, standard input): only libpcap (or Go) reads files;
//   - a build that is not for Linux, or one without libpcap's filter compiler (the macOS
//     build without cgo, -tags gofiles on Linux, which stands for it): AF_PACKET is Linux's,
//     and the afpacket engine compiles its filter with libpcap;
//   - immediate mode (SNIFFER_PCAP_IMMEDIATE), which is a libpcap setting;
//   - a device that is not a network interface: libpcap's pseudo-devices (nflog:GROUP, NFLOG
//     through netlink; usbmon, dbus-...), or a name no interface has (libpcap then says so).
//
// NET_DEVICE empty ("any", every interface) is read by afpacket too: one socket bound to no
// device (ifindex 0, SOCK_DGRAM) sees every interface's packets from the IP header on, the
// filter is compiled for that raw-IP link type (DLT_RAW), lo's outgoing copies are skipped as
// libpcap skips them, and the fanout members of one process split it by flow as on a named
// device (TestAFPacketCapturesLoopback and TestAFPacketOpenGroup run both).
//
// A device the afpacket engine then fails to open (a link type it does not read, a kernel
// refusing the socket or its ring) is reopened with libpcap by the caller, saying so, unless a
// fanout group shared with other processes was asked for (SNIFFER_AFPACKET_FANOUT).
func AutoEngine(cfg Config) string {
	if cfg.File != "" || runtime.GOOS != "linux" || !CompilesFilters || cfg.Immediate {
		return "libpcap"
	}
	devs, err := ResolveDevices(cfg.Device)
	if err != nil {
		return "libpcap" // Open says what is wrong with NET_DEVICE
	}
	for _, d := range devs {
		if d == "any" {
			continue
		}
		if _, err := net.InterfaceByName(d); err != nil {
			return "libpcap"
		}
	}
	return "afpacket"
}
