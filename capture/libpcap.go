//go:build !darwin || cgo

package capture

import (
	"fmt"
	"io"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
)

// pcapHandle is a libpcap handle: a device or a file.
type pcapHandle struct {
	h    *pcap.Handle
	live bool
}

func openLiveHandle(dev string, cfg Config) (handle, error) {
	in, err := pcap.NewInactiveHandle(dev)
	if err != nil {
		return nil, fmt.Errorf("device %s: %v", dev, err)
	}
	defer in.CleanUp()
	_ = in.SetSnapLen(Snaplen)
	_ = in.SetPromisc(cfg.Promisc)
	_ = in.SetImmediateMode(cfg.Immediate)
	_ = in.SetTimeout(pcapTimeout)
	if cfg.BufferSize > 0 {
		if err := in.SetBufferSize(cfg.BufferSize); err != nil {
			return nil, fmt.Errorf("device %s: buffer size %d: %v", dev, cfg.BufferSize, err)
		}
	}
	h, err := in.Activate()
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, "ermission") || strings.Contains(msg, "not permitted") {
			return nil, fmt.Errorf("device %s: %v: run as root or give the binary CAP_NET_RAW (setcap cap_net_raw+ep sniffer)", dev, err)
		}
		return nil, fmt.Errorf("device %s: %v (list devices with: ip link)", dev, err)
	}
	return &pcapHandle{h: h, live: true}, nil
}

func (p *pcapHandle) LinkType() layers.LinkType { return p.h.LinkType() }

func (p *pcapHandle) setFilter(expr string) error {
	return p.h.SetBPFFilter(linkFilter(expr, p.h.LinkType()))
}

// linkFilter is the expression installed on a handle of link type lt. libpcap knows VLAN
// tags on Ethernet only ("no VLAN support for Linux cooked v1" on the any device, raw IP,
// loopback): the generated filter keeps its untagged half elsewhere.
func linkFilter(expr string, lt layers.LinkType) string {
	if lt != layers.LinkTypeEthernet {
		if base, ok := withoutVLAN(expr); ok {
			return base
		}
	}
	return expr
}

func (p *pcapHandle) next() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := p.h.ZeroCopyReadPacketData()
	switch {
	case err == nil:
		return data, ci, nil
	case err == pcap.NextErrorTimeoutExpired:
		return nil, ci, errTimeout
	case err == pcap.NextErrorReadError && p.timedOut():
		return nil, ci, errTimeout
	case err == io.EOF || err == pcap.NextErrorNoMorePackets:
		return nil, ci, io.EOF
	case strings.Contains(err.Error(), "truncated"):
		return nil, ci, ErrTruncated
	case err == pcap.NextErrorReadError && !p.live:
		// gopacket says only "Read Error"; libpcap's own message says why,
		// "truncated dump file; tried to read ..." for a file cut short.
		if why := p.h.Error(); why != nil {
			if strings.Contains(why.Error(), "truncated") {
				return nil, ci, ErrTruncated
			}
			return nil, ci, why
		}
	}
	return nil, ci, err
}

// timedOut tells whether the last read error was the read timeout. libpcap's nflog device
// sets the timeout as a socket receive timeout and reports the EAGAIN it gives as an error
// ("Can't receive packet: Resource temporarily unavailable"): that is a timeout too.
func (p *pcapHandle) timedOut() bool {
	why := p.h.Error()
	return why != nil && strings.Contains(why.Error(), "temporarily unavailable")
}

func (p *pcapHandle) stats() (received, dropped, ifDropped int, ok bool) {
	st, err := p.h.Stats()
	if err != nil {
		return 0, 0, 0, false
	}
	return st.PacketsReceived, st.PacketsDropped, st.PacketsIfDropped, true
}

func (p *pcapHandle) close() { p.h.Close() }
