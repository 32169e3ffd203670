// Package capture reads packets from libpcap: a live device (or several), or a capture file.
// It owns device selection, the BPF filter and the link-layer decoding down to TCP; what it
// hands on is a TCP segment with its network flow and capture time.
package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
)

// Snaplen is large enough for the GRO/TSO super-packets that veth, docker and cloud NICs
// hand to libpcap (up to 64 KiB and beyond with BIG TCP); cutting them loses calls.
const Snaplen = 262144

// Config says where packets come from.
type Config struct {
	File       string // capture file to read ("-" for standard input); empty for live capture
	Device     string // device name, IP address, "prefix*", comma list; empty for every device
	Filter     string // BPF expression; empty for none
	Promisc    bool
	BufferSize int // kernel buffer in bytes; 0 leaves libpcap's default
	// Immediate asks libpcap to hand over each packet at once. On Linux it then uses
	// TPACKET_V2, whose ring has one fixed slot per packet sized by the snap length:
	// with our 256 KiB snaplen a 16 MiB buffer holds 64 packets and bursts are dropped.
	// Off, TPACKET_V3 packs packets into blocks handed over when full or after the
	// 200 ms timeout: no drops, at most 200 ms later.
	Immediate bool

	// Engine is "libpcap" (or empty) or "afpacket": Linux AF_PACKET TPACKET_V3 rings
	// (afpacket_linux.go). Files are always read with libpcap.
	Engine string
	// FanoutGroup puts the afpacket sockets in this PACKET_FANOUT_HASH group (1-65535; 0:
	// none), so that the processes sharing it split the device's traffic by flow.
	FanoutGroup int
	// BlockSize and NumBlocks size the afpacket ring (0: 512 KiB blocks, BufferSize of them).
	BlockSize, NumBlocks int
}

// Handler receives packets. Packet's data is only valid during the call.
// Idle is called about every 200 ms on a live source, with the wall clock,
// so that time-based flushing goes on while no packet arrives.
type Handler interface {
	Packet(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType)
	Idle(now time.Time)
}

// Source is an open capture: one libpcap handle per device, or one for a file.
type Source struct {
	handles []*pcap.Handle
	names   []string
	live    bool
	af      *afSource // the afpacket engine instead of handles
	user    *userFilter
}

// Open opens the capture described by cfg and installs its filter.
func Open(cfg Config) (*Source, error) {
	if cfg.File != "" {
		h, err := openFile(cfg.File)
		if err != nil {
			return nil, err
		}
		s := &Source{handles: []*pcap.Handle{h}, names: []string{cfg.File}}
		if err := s.setFilter(cfg.Filter); err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	}
	switch cfg.Engine {
	case "", "libpcap", "pcap":
	case "afpacket":
		return openAFPacket(cfg)
	default:
		return nil, fmt.Errorf("capture engine %q: want libpcap or afpacket", cfg.Engine)
	}
	devs, err := ResolveDevices(cfg.Device)
	if err != nil {
		return nil, err
	}
	s := &Source{live: true}
	for _, d := range devs {
		h, err := openLive(d, cfg)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.handles = append(s.handles, h)
		s.names = append(s.names, d)
	}
	if err := s.setFilter(cfg.Filter); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func openFile(path string) (*pcap.Handle, error) {
	if path == "-" {
		h, err := pcap.OpenOfflineFile(os.Stdin)
		if err != nil {
			return nil, fmt.Errorf("reading a capture from standard input: %v (pipe a .pcap or .pcapng, e.g. tcpdump -w -)", err)
		}
		return h, nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("capture file: %w", err)
	}
	h, err := pcap.OpenOffline(path)
	if err != nil {
		return nil, fmt.Errorf("capture file %s: %v (is it a .pcap or .pcapng file?)", path, err)
	}
	return h, nil
}

func openLive(dev string, cfg Config) (*pcap.Handle, error) {
	in, err := pcap.NewInactiveHandle(dev)
	if err != nil {
		return nil, fmt.Errorf("device %s: %v", dev, err)
	}
	defer in.CleanUp()
	_ = in.SetSnapLen(Snaplen)
	_ = in.SetPromisc(cfg.Promisc)
	_ = in.SetImmediateMode(cfg.Immediate)
	_ = in.SetTimeout(200 * time.Millisecond)
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
	return h, nil
}

func (s *Source) setFilter(expr string) error {
	if expr == "" {
		return nil
	}
	for i, h := range s.handles {
		e := expr
		if h.LinkType() != layers.LinkTypeEthernet {
			// libpcap knows VLAN tags on Ethernet only ("no VLAN support for Linux
			// cooked v1" on the any device, raw IP, loopback): the generated filter
			// keeps its untagged half there.
			if base, ok := withoutVLAN(expr); ok {
				e = base
			}
		}
		err := h.SetBPFFilter(e)
		if err == nil {
			continue
		}
		// libpcap compiles no filter at all for some link types (NFLOG: "filtering not
		// implemented"): the same filter then runs in user space on the IP packet.
		if uerr := s.filterInUserSpace(expr, h.LinkType(), err); uerr != nil {
			return fmt.Errorf("BPF filter %q on %s: %v (check the BPF_FILTER syntax, see man pcap-filter)", expr, s.names[i], err)
		}
	}
	return nil
}

// Names lists the devices (or the file) this source reads.
func (s *Source) Names() []string { return s.names }

// Live tells whether the source is a device rather than a file.
func (s *Source) Live() bool { return s.live }

// Close releases the handles.
func (s *Source) Close() {
	if s.af != nil {
		s.af.close()
	}
	for _, h := range s.handles {
		h.Close()
	}
	s.handles = nil
}

// Stats sums libpcap's counters over every handle: packets received and dropped by
// the kernel and by the interface. Files have none.
func (s *Source) Stats() (received, dropped, ifDropped int) {
	if !s.live {
		return 0, 0, 0
	}
	if s.af != nil {
		received, dropped = s.af.stats()
		return received, dropped, 0
	}
	for _, h := range s.handles {
		if st, err := h.Stats(); err == nil {
			received += st.PacketsReceived
			dropped += st.PacketsDropped
			ifDropped += st.PacketsIfDropped
		}
	}
	return
}

// timedOut reports whether a read error is the read timeout. libpcap's nflog device sets the
// timeout as a socket receive timeout and reports the EAGAIN it gives as an error ("Can't
// receive packet: Resource temporarily unavailable"): that is a timeout too.
func timedOut(hd *pcap.Handle, err error) bool {
	if err == pcap.NextErrorTimeoutExpired {
		return true
	}
	if err != pcap.NextErrorReadError {
		return false
	}
	why := hd.Error()
	return why != nil && strings.Contains(why.Error(), "temporarily unavailable")
}

// ErrTruncated is returned by Run when a capture file ends in the middle of a packet;
// everything before the cut was delivered.
var ErrTruncated = errors.New("capture file is truncated (cut in the middle of a packet); the packets before the cut were read")

// Run reads packets until the file ends, ctx is cancelled, or a read fails, calling h
// from one goroutine. With one handle it reads without copying; with several it merges
// their packets through a channel.
func (s *Source) Run(ctx context.Context, h Handler) error {
	if s.user != nil {
		h = &userFiltering{Handler: h, f: s.user}
	}
	if s.af != nil {
		return s.af.run(ctx, h)
	}
	if len(s.handles) == 1 {
		return s.runOne(ctx, s.handles[0], h)
	}
	readers := make([]reader, len(s.handles))
	for i, hd := range s.handles {
		readers[i] = reader{
			name:    s.names[i],
			lt:      hd.LinkType(),
			read:    hd.ReadPacketData, // copies: the data outlives the call
			timeout: func(err error) bool { return timedOut(hd, err) },
		}
	}
	return merge(ctx, h, readers)
}

func (s *Source) runOne(ctx context.Context, hd *pcap.Handle, h Handler) error {
	lt := hd.LinkType()
	lastIdle := time.Now()
	for n := 0; ; n++ {
		if n&1023 == 0 && ctx.Err() != nil {
			return nil
		}
		data, ci, err := hd.ZeroCopyReadPacketData()
		switch {
		case err == nil:
			h.Packet(data, ci, lt)
			if s.live && n&255 == 0 {
				if now := time.Now(); now.Sub(lastIdle) >= 200*time.Millisecond {
					lastIdle = now
					h.Idle(now)
				}
			}
		case timedOut(hd, err):
			if ctx.Err() != nil {
				return nil
			}
			lastIdle = time.Now()
			h.Idle(lastIdle)
		case err == io.EOF || err == pcap.NextErrorNoMorePackets:
			return nil
		case strings.Contains(err.Error(), "truncated"):
			return ErrTruncated
		case err == pcap.NextErrorReadError && !s.live:
			// gopacket says only "Read Error"; libpcap's own message says why,
			// "truncated dump file; tried to read ..." for a file cut short.
			if why := hd.Error(); why != nil {
				if strings.Contains(why.Error(), "truncated") {
					return ErrTruncated
				}
				return fmt.Errorf("reading packets from %s: %v", s.names[0], why)
			}
			return fmt.Errorf("reading packets from %s: %v", s.names[0], err)
		default:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("reading packets from %s: %v", s.names[0], err)
		}
	}
}
