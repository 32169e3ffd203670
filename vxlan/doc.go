// Package vxlan turns VPC traffic mirroring (AWS VPC Traffic Mirroring, Azure virtual
// network TAP, a switch's VXLAN SPAN) into ordinary Ethernet frames for reassembly.
//
// It offers the two modes of the issue:
//
//   - Kernel device mode: EnsureDevice creates (or reuses) a VXLAN device such as vx0
//     through netlink, and sniffer captures on it like on any other device. The kernel
//     does the decapsulation; it needs Linux and CAP_NET_ADMIN when the device must be
//     created.
//   - User-space mode: capture FilterExpr(port) ("udp port 4789") with libpcap on any
//     device or read a capture file, and hand each UDP payload to Decapsulator.Decap,
//     which checks the VXLAN header, applies the VNI selector (SNIFFER_MIRROR_VNIS) and
//     returns the inner Ethernet frame. It needs no kernel device and no privileges
//     beyond capturing, so it also works on macOS, Windows and pcap files.
//
// User-space mode deliberately goes through libpcap instead of binding UDP 4789 (as
// GoReplay does): a bound socket cannot coexist with a kernel vx0 on the same port, and
// libpcap sees whole jumbo frames (AWS mirrors up to 9001 bytes) instead of a fixed
// read buffer.
package vxlan
