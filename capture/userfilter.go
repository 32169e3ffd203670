package capture

import (
	"fmt"
	"sync/atomic"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// dltRaw is libpcap's DLT_RAW on Linux, macOS and the BSDs but OpenBSD: a bare IPv4 or IPv6
// packet. A user-space filter is compiled for it and run on each packet's IP header on.
const dltRaw layers.LinkType = 12

// userFilter is the BPF filter run in user space for the link types whose kernel filter
// libpcap cannot compile. It is compiled for raw IP with libpcap itself (pcap_compile on a
// dead handle, compileRawFilter) and run with pcap_offline_filter, so it means exactly what
// the expression means to the kernel on other links. A build without libpcap has none.
type userFilter struct {
	expr     string
	matches  func(ci gopacket.CaptureInfo, ip []byte) bool
	links    map[layers.LinkType]string // link type -> libpcap's reason
	filtered atomic.Int64               // packets the filter refused
}

// filterInUserSpace arranges for expr to run in user space on packets of link type lt, for
// which libpcap refused it with why.
func (s *Source) filterInUserSpace(expr string, lt layers.LinkType, why error) error {
	if s.af != nil {
		return why
	}
	if s.user == nil {
		e := expr
		if base, ok := withoutVLAN(expr); ok {
			e = base // a bare IP packet has no VLAN tag
		}
		matches, err := compileRawFilter(e)
		if err != nil {
			return err
		}
		s.user = &userFilter{expr: e, matches: matches, links: map[layers.LinkType]string{}}
	}
	s.user.links[lt] = why.Error()
	return nil
}

// UserFilter says, when the filter runs in user space on some link type, which and why (for
// the run's first lines); "" when the kernel filters everything.
func (s *Source) UserFilter() string {
	if s.user == nil {
		return ""
	}
	msg := ""
	for lt, why := range s.user.links {
		if msg != "" {
			msg += "; "
		}
		name := lt.String()
		if lt == LinkTypeNFLOG {
			name = "NFLOG"
		}
		msg += fmt.Sprintf("%s (link type %d): libpcap cannot filter it in the kernel (%s)", name, int(lt), why)
	}
	return msg + fmt.Sprintf(": the filter %q runs in user space on the IP packets", s.user.expr)
}

// UserFiltered is the number of packets the user-space filter refused.
func (s *Source) UserFiltered() int64 {
	if s.user == nil {
		return 0
	}
	return s.user.filtered.Load()
}

// userFiltering applies the user-space filter before the handler sees a packet.
type userFiltering struct {
	Handler
	f *userFilter
}

func (u *userFiltering) Packet(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) {
	if _, ok := u.f.links[lt]; ok {
		ip, ok := networkPacket(lt, data)
		if !ok {
			u.f.filtered.Add(1)
			return
		}
		fci := ci
		fci.CaptureLength = len(ip)
		fci.Length = len(ip) + max(0, ci.Length-ci.CaptureLength)
		if !u.f.matches(fci, ip) {
			u.f.filtered.Add(1)
			return
		}
	}
	u.Handler.Packet(data, ci, lt)
}

// networkPacket returns the IP packet a frame carries, from its header on: NFLOG's payload,
// or whatever gopacket's decoders find under the link layer.
func networkPacket(lt layers.LinkType, data []byte) ([]byte, bool) {
	if lt == LinkTypeNFLOG {
		return nflogPayload(data)
	}
	pkt := gopacket.NewPacket(data, lt, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	nl := pkt.NetworkLayer()
	if nl == nil {
		return nil, false
	}
	at := offsetIn(data, nl.LayerContents())
	if at < 0 {
		return nil, false
	}
	return data[at:], true
}
