// Package damage rewrites a packet capture the way real capture points damage traffic (mirror
// sessions, multi-queue NICs, busy hosts, tunnels): packets reordered, sent twice, lost, tagged.
// It exists to test the reassembler: every transformation is deterministic from a seed, so a
// failure seen with one seed can be replayed, and each one keeps track of which original packet
// every output packet came from, so a test can tell which calls a lost packet touched.
//
// One small file per transformation; each works on a Capture in place. Apply runs the usual
// ones in a fixed order (fragment, wrap in a tunnel, fragment the tunnel, tag, drop, duplicate,
// shuffle).
package damage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Packet is one captured frame.
type Packet struct {
	Data []byte
	CI   gopacket.CaptureInfo
	// Orig is the packet's index (from 0) in the capture as read; a duplicate keeps its
	// original's index, a packet a transformation builds from nothing has -1.
	Orig int
}

// Capture is a whole capture file in memory: damage tools run on test captures, which fit.
type Capture struct {
	LinkType layers.LinkType
	Snaplen  uint32
	Packets  []Packet
	// Dropped lists the Orig indices of the packets Drop removed, in capture order.
	Dropped []int
}

// pcapngMagic opens every pcapng file (the section header block type).
var pcapngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}

// ReadFile reads a pcap or pcapng file.
func ReadFile(path string) (*Capture, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Read reads a pcap or pcapng stream. A pcapng file whose interfaces have different link types
// is refused: the output is a classic pcap with one link type.
func Read(r io.Reader) (*Capture, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("not a capture file (too short): %w", err)
	}
	type source interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
		LinkType() layers.LinkType
	}
	var src source
	c := &Capture{}
	if bytes.Equal(magic, pcapngMagic) {
		ng, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{ErrorOnMismatchingLinkType: true})
		if err != nil {
			return nil, err
		}
		src = ng
		for i := 0; i < ng.NInterfaces(); i++ {
			if intf, err := ng.Interface(i); err == nil && intf.SnapLength > c.Snaplen {
				c.Snaplen = intf.SnapLength
			}
		}
	} else {
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, err
		}
		src = pr
		c.Snaplen = pr.Snaplen()
	}
	c.LinkType = src.LinkType()
	for {
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("packet %d: %w", len(c.Packets)+1, err)
		}
		ci.InterfaceIndex = 0
		ci.AncillaryData = nil
		c.Packets = append(c.Packets, Packet{Data: bytes.Clone(data), CI: ci, Orig: len(c.Packets)})
	}
	return c, nil
}

// WriteFile writes c as a classic pcap with nanosecond timestamps.
func (c *Capture) WriteFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := c.Write(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// Write writes c as a classic pcap with nanosecond timestamps.
func (c *Capture) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	snap := c.Snaplen
	for _, p := range c.Packets {
		if uint32(len(p.Data)) > snap {
			snap = uint32(len(p.Data))
		}
	}
	pw := pcapgo.NewWriterNanos(bw)
	if err := pw.WriteFileHeader(snap, c.LinkType); err != nil {
		return err
	}
	for i, p := range c.Packets {
		p.CI.CaptureLength = len(p.Data)
		if p.CI.Length < len(p.Data) {
			p.CI.Length = len(p.Data)
		}
		if err := pw.WritePacket(p.CI, p.Data); err != nil {
			return fmt.Errorf("packet %d: %w", i+1, err)
		}
	}
	return bw.Flush()
}

// Rand returns the random source a transformation named name uses for seed: each transformation
// draws from its own stream, so adding one to a run does not change what the others do.
func Rand(seed uint64, name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// Options selects the transformations Apply runs; zero values leave the capture alone.
type Options struct {
	Seed uint64
	// FragMTU > 0 cuts IP packets longer than that into fragments (Fragment); FragReorder sends
	// each packet's fragments (inner and outer) in a random order.
	FragMTU     int
	FragReorder bool
	// Tunnel ("vxlan", "geneve", "geneve-ip") wraps every frame in that tunnel with VNI (Wrap);
	// OuterMTU > 0 then cuts the tunnel's datagrams at the underlay's MTU, as a Linux VXLAN
	// sender does with a 1,500-byte frame on a 1,500-byte underlay.
	Tunnel   string
	VNI      uint32
	OuterMTU int
	// VLANs are 802.1Q tags to push, outermost first: one gives 802.1Q, two QinQ (802.1ad).
	VLANs []uint16
	// DropFraction of the packets is removed.
	DropFraction float64
	// DupFraction of the packets is sent again 1..DupDelay packets later (DupDelay 0 means 3);
	// with DupRewriteIP the copy has a different IPv4 id and TTL (IPv6 hop limit), as a
	// retransmission by the sender would.
	DupFraction  float64
	DupDelay     int
	DupRewriteIP bool
	// ShuffleWindow > 1 permutes packets within consecutive windows of that many; a window
	// ends early where the capture is quiet longer than ShuffleMaxGap (when > 0).
	ShuffleWindow int
	ShuffleMaxGap time.Duration
}

// Apply runs the transformations opts selects, in the order a capture point would damage the
// traffic: tags on the wire, then loss, duplicates and reordering on the way to the sniffer.
func Apply(c *Capture, opts Options) error {
	var fragRand *rand.Rand
	if opts.FragReorder {
		fragRand = Rand(opts.Seed, "fragment")
	}
	if opts.FragMTU > 0 {
		if _, err := Fragment(c, opts.FragMTU, fragRand); err != nil {
			return err
		}
	}
	if opts.Tunnel != "" {
		if err := Wrap(c, opts.Tunnel, opts.VNI); err != nil {
			return err
		}
		if opts.OuterMTU > 0 {
			if _, err := Fragment(c, opts.OuterMTU, fragRand); err != nil {
				return err
			}
		}
	}
	if len(opts.VLANs) > 0 {
		if err := Tag(c, opts.VLANs...); err != nil {
			return err
		}
	}
	if opts.DropFraction > 0 {
		Drop(c, opts.DropFraction, Rand(opts.Seed, "drop"))
	}
	if opts.DupFraction > 0 {
		if err := Duplicate(c, opts.DupFraction, opts.DupDelay, opts.DupRewriteIP, Rand(opts.Seed, "duplicate")); err != nil {
			return err
		}
	}
	if opts.ShuffleWindow > 1 {
		Shuffle(c, opts.ShuffleWindow, opts.ShuffleMaxGap, Rand(opts.Seed, "shuffle"))
	}
	return nil
}
