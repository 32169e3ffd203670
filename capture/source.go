// Package capture reads packets from a live device (or several) or a capture file: through
// libpcap (libpcap.go), Linux AF_PACKET rings (afpacket_linux.go), or, in a macOS build
// without cgo, BPF devices (bpf_darwin.go) and files read in Go (gofile.go). It owns device
// selection, the BPF filter and the link-layer decoding down to TCP; what it hands on is a
// TCP segment with its network flow and capture time.
package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Snaplen is large enough for the GRO/TSO super-packets that veth, docker and cloud NICs
// hand to libpcap (up to 64 KiB and beyond with BIG TCP); cutting them loses calls.
const Snaplen = 262144

// DefaultBufferSize is the kernel capture buffer when Config.BufferSize is 0 on the afpacket
// engine (and what Backlog assumes then): the default of SNIFFER_PCAP_BUFFER_SIZE.
const DefaultBufferSize = 16 << 20

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
	// (afpacket_linux.go). Files are read by libpcap, or in Go where there is none.
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

// handle is one open capture: a libpcap handle, a BPF device, or a file read in Go.
type handle interface {
	LinkType() layers.LinkType
	// next returns the next packet, valid until the following call. It returns
	// errTimeout when a live read found nothing in time, io.EOF at the end of a file,
	// and ErrTruncated for a file cut in the middle of a packet.
	next() ([]byte, gopacket.CaptureInfo, error)
	setFilter(expr string) error
	// stats returns the kernel's counters of a live capture.
	stats() (received, dropped, ifDropped int, ok bool)
	close()
}

// errTimeout is a live read that found no packet within the read timeout.
var errTimeout = errors.New("read timeout")

// Source is an open capture: one handle per device, or one for a file.
type Source struct {
	handles []handle
	names   []string
	live    bool
	af      *afSource   // the afpacket engine instead of handles
	user    *userFilter // the filter run in user space where libpcap cannot (userfilter.go)
	// file is the capture file being read, for Position; nil live or for a pipe.
	file *os.File
	size int64
}

// Open opens the capture described by cfg and installs its filter.
func Open(cfg Config) (*Source, error) {
	if cfg.File != "" {
		s, err := fileSource(cfg.File, openFileHandle)
		if err != nil {
			return nil, err
		}
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
		h, err := openLiveHandle(d, cfg)
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

// fileSource opens a capture file ("-": standard input) with the given reader.
func fileSource(path string, open func(*os.File, string) (handle, error)) (*Source, error) {
	f := os.Stdin
	if path != "-" {
		var err error
		if f, err = os.Open(path); err != nil {
			return nil, fmt.Errorf("capture file: %w", err)
		}
	}
	h, err := open(f, path)
	if err != nil {
		if f != os.Stdin {
			f.Close()
		}
		return nil, err
	}
	s := &Source{handles: []handle{h}, names: []string{path}, file: f}
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		s.size = fi.Size()
	}
	return s, nil
}

// fileError words a capture file the reader refused.
func fileError(path string, err error) error {
	if path == "-" {
		return fmt.Errorf("reading a capture from standard input: %v (pipe a .pcap or .pcapng, e.g. tcpdump -w -)", err)
	}
	return fmt.Errorf("capture file %s: %v (is it a .pcap or .pcapng file?)", path, err)
}

func (s *Source) setFilter(expr string) error {
	if expr == "" {
		return nil
	}
	for i, h := range s.handles {
		err := h.setFilter(expr)
		if err == nil {
			continue
		}
		// libpcap compiles no filter at all for some link types (NFLOG: "filtering not
		// implemented"): the same filter then runs in user space on the IP packet.
		if uerr := s.filterInUserSpace(expr, h.LinkType(), err); uerr != nil {
			if CompilesFilters {
				return fmt.Errorf("BPF filter %q on %s: %v (check the BPF_FILTER syntax, see man pcap-filter)", expr, s.names[i], err)
			}
			return fmt.Errorf("BPF filter %q on %s: %v", expr, s.names[i], err)
		}
	}
	return nil
}

// Names lists the devices (or the file) this source reads.
func (s *Source) Names() []string { return s.names }

// Live tells whether the source is a device rather than a file.
func (s *Source) Live() bool { return s.live }

// Position tells how far a capture file has been read: the offset reached and the
// file's size. size is 0 when it is not known (a pipe, live capture). The offset is the
// reader's, which reads ahead by its buffer, so it runs a little ahead of the packets.
func (s *Source) Position() (read, size int64) {
	if s.file == nil || s.size == 0 {
		return 0, 0
	}
	off, err := s.file.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, 0
	}
	return min(off, s.size), s.size
}

// Close releases the handles.
func (s *Source) Close() {
	if s.af != nil {
		s.af.close()
	}
	for _, h := range s.handles {
		h.close()
	}
	s.handles = nil
	if s.file != nil && s.file != os.Stdin {
		s.file.Close()
	}
	s.file = nil
}

// Stats sums the kernel's counters over every handle: packets received and dropped by
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
		if r, d, i, ok := h.stats(); ok {
			received += r
			dropped += d
			ifDropped += i
		}
	}
	return
}

// pcapTimeout is libpcap's read timeout, which on Linux is also how long the kernel keeps a
// partly filled ring block from user space (TPACKET_V3).
const pcapTimeout = 200 * time.Millisecond

// ErrTruncated is returned by Run when a capture file ends in the middle of a packet;
// everything before the cut was delivered.
var ErrTruncated = errors.New("capture file is truncated (cut in the middle of a packet); the packets before the cut were read")

// Run reads packets until the file ends, ctx is cancelled, or a read fails, calling h
// from one goroutine. A live source, once ctx ends, still reads the packets it took before
// (see stopping). With one handle it reads without copying; with several it merges
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
			name: s.names[i],
			lt:   hd.LinkType(),
			read: func() ([]byte, gopacket.CaptureInfo, error) {
				data, ci, err := hd.next()
				return append([]byte(nil), data...), ci, err // the data outlives the call
			},
			timeout: func(err error) bool { return err == errTimeout },
			settle:  pcapTimeout,
		}
	}
	return merge(ctx, h, readers)
}

func (s *Source) runOne(ctx context.Context, hd handle, h Handler) error {
	lt := hd.LinkType()
	stop := stopping{ctx: ctx, settle: pcapTimeout}
	lastIdle := time.Now()
	for n := 0; ; n++ {
		if n&255 == 0 && stop.ended() && !s.live {
			return nil // a file stops at once; a device drains what it took before the stop
		}
		data, ci, err := hd.next()
		switch {
		case err == nil && stop.after(ci):
			return stop.err()
		case err == nil:
			h.Packet(data, ci, lt)
			if s.live && n&255 == 0 {
				if now := time.Now(); now.Sub(lastIdle) >= 200*time.Millisecond {
					lastIdle = now
					h.Idle(now)
				}
			}
		case err == errTimeout:
			if stop.drained() {
				return nil
			}
			lastIdle = time.Now()
			h.Idle(lastIdle)
		case err == io.EOF:
			return nil
		case err == ErrTruncated:
			return err
		default:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("reading packets from %s: %v", s.names[0], err)
		}
	}
}
