//go:build linux

package capture

// The AF_PACKET engine reads a TPACKET_V3 ring the kernel fills in blocks: one wake-up
// hands over a block of packets, where libpcap in immediate mode (which sniffer needs, so
// that calls are not held back) falls back to TPACKET_V2 and one wake-up per packet. It
// can also join a fanout group, so that several sniffer processes split one interface by
// flow, each seeing both directions of the connections it gets.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
	"golang.org/x/net/bpf"
)

// Defaults of the AF_PACKET ring: 512 KiB blocks hold the largest GRO/TSO super-packet
// the snap length keeps; the number of blocks comes from the buffer size (16 MiB by
// default: 32 blocks).
//
// The kernel hands a block over when it is full or afBlockTimeout after its first packet.
// A block handed over part full wastes the rest of its space until it is read, so a short
// timeout shrinks the ring under load: at 10 ms and 12,000 packets a second, blocks left
// four fifths empty and the ring overflowed where libpcap's did not. Calls are not held
// back by it in any way that matters (the reassembler waits far longer for a response).
const (
	DefaultAFBlockSize = 512 << 10
	minAFBlocks        = 4
	afPollTimeout      = 200 * time.Millisecond // how often Run looks at ctx and calls Idle when idle (afRing.wait)
	afBlockTimeout     = 64 * time.Millisecond  // a partly filled block is handed over after this
)

type afSource struct {
	tps   []*afpacket.TPacket
	rings []*afRing // tps[i]'s wait in the Go poller
	lts   []layers.LinkType
	names []string
	// armed is when each socket's filter was attached: the ring may hold packets taken
	// before that, unfiltered, and those are skipped.
	armed []time.Time
	// final holds the counters read at close, for a summary printed after it.
	final *[2]int
}

// openAFPacket opens one TPACKET_V3 socket per device, with the filter attached and, when
// cfg.FanoutGroup is set, in that fanout group (hash of the flow, both directions alike).
func openAFPacket(cfg Config) (*Source, error) {
	devs, err := ResolveDevices(cfg.Device)
	if err != nil {
		return nil, err
	}
	if cfg.FanoutGroup < 0 || cfg.FanoutGroup > 0xffff-len(devs)+1 {
		return nil, SettingError{fmt.Errorf("AF_PACKET fanout group %d: want 1 to 65535 (0: no fanout)", cfg.FanoutGroup)}
	}
	block := cfg.BlockSize
	if block == 0 {
		block = DefaultAFBlockSize
	}
	if block < 1<<16 || block%os.Getpagesize() != 0 {
		return nil, SettingError{fmt.Errorf("AF_PACKET block size %d: want a multiple of the page size (%d), 64 KiB or more (default %d)", block, os.Getpagesize(), DefaultAFBlockSize)}
	}
	nblocks := cfg.NumBlocks
	if nblocks == 0 {
		size := cfg.BufferSize
		if size <= 0 {
			size = DefaultBufferSize
		}
		nblocks = max(size/block, minAFBlocks)
	}
	if nblocks < 1 || nblocks > 1<<16 {
		return nil, SettingError{fmt.Errorf("AF_PACKET block count %d: want 1 to 65536", nblocks)}
	}
	af := &afSource{}
	fail := func(err error) (*Source, error) {
		af.close()
		return nil, err
	}
	for i, dev := range devs {
		tp, lt, err := openAFDevice(dev, cfg, block, nblocks)
		if err != nil {
			return fail(err)
		}
		af.tps, af.lts, af.names = append(af.tps, tp), append(af.lts, lt), append(af.names, dev)
		ring, err := newAFRing(tp)
		if err != nil {
			return fail(fmt.Errorf("device %s: %v", dev, err))
		}
		af.rings = append(af.rings, ring)
		if err := setAFFilter(tp, lt, cfg.Filter); err != nil {
			return fail(fmt.Errorf("device %s: %v", dev, err))
		}
		af.armed = append(af.armed, time.Now())
		if cfg.FanoutGroup > 0 {
			// A fanout group lives on one device: the next device takes the next id.
			id := uint16(cfg.FanoutGroup + i)
			if err := tp.SetFanout(afpacket.FanoutHash|afpacket.FanoutHashWithDefrag, id); err != nil {
				return fail(fmt.Errorf("device %s: joining AF_PACKET fanout group %d: %v (every member must use the same device and fanout mode)", dev, id, err))
			}
		}
	}
	return &Source{names: af.names, live: true, af: af}, nil
}

// OpenGroup opens n afpacket sources that split the capture by flow: each has its own
// sockets, and the sockets of one device are in one PACKET_FANOUT_HASH group, so that every
// packet of a connection, both directions, reaches the same source. Run each with its own
// decoder and reassembler (Group.Run). The group is cfg.FanoutGroup, or a random one when
// that is 0 (other sniffer processes then stay out of it). The members share the buffer:
// each ring is cfg.BufferSize/n (unless cfg.NumBlocks sets it), so the memory the rings
// take does not grow with n; the hash spreads the bursts over them.
func OpenGroup(cfg Config, n int) (*Group, error) {
	if n < 1 || n > 256 {
		return nil, fmt.Errorf("afpacket group of %d sources: want 1 to 256", n)
	}
	cfg.Engine = "afpacket"
	if cfg.FanoutGroup == 0 {
		cfg.FanoutGroup = 1 + rand.IntN(0xff00) // leaves room for one id per device above it
	}
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = DefaultBufferSize
	}
	cfg.BufferSize /= n
	g := &Group{}
	for range n {
		s, err := openAFPacket(cfg)
		if err != nil {
			g.Close()
			return nil, err
		}
		g.Members = append(g.Members, s)
	}
	return g, nil
}

// openAFDevice opens the ring on dev. "any" is read as SOCK_DGRAM, which starts every
// packet at its IP header whatever the device's link layer; a named device is read raw.
func openAFDevice(dev string, cfg Config, block, nblocks int) (*afpacket.TPacket, layers.LinkType, error) {
	opts := []any{
		afpacket.TPacketVersion3,
		afpacket.OptBlockSize(block),
		afpacket.OptFrameSize(os.Getpagesize()), // V3 packs packets of any size into a block
		afpacket.OptNumBlocks(nblocks),
		afpacket.OptBlockTimeout(afBlockTimeout),
		afpacket.OptPollTimeout(0), // gopacket's poll only checks; afRing.wait waits
	}
	lt := layers.LinkTypeRaw
	if dev == "any" {
		opts = append(opts, afpacket.SocketDgram)
	} else {
		var err error
		if lt, err = deviceLinkType(dev); err != nil {
			return nil, 0, err
		}
		opts = append(opts, afpacket.OptInterface(dev), afpacket.SocketRaw)
	}
	tp, err := afpacket.NewTPacket(opts...)
	if err != nil {
		if errors.Is(err, os.ErrPermission) || strings.Contains(err.Error(), "not permitted") {
			return nil, 0, fmt.Errorf("device %s: AF_PACKET socket: %v: run as root or give the binary CAP_NET_RAW (setcap cap_net_raw+ep sniffer)", dev, err)
		}
		if strings.Contains(err.Error(), "too many open files") {
			return nil, 0, fmt.Errorf("device %s: AF_PACKET socket: %v: raise the open-file limit (ulimit -n) or set fewer SNIFFER_WORKERS (each live worker opens a socket of its own per device)", dev, err)
		}
		return nil, 0, fmt.Errorf("device %s: AF_PACKET ring of %d blocks of %d bytes: %v (list devices with: ip link; a smaller SNIFFER_PCAP_BUFFER_SIZE needs less locked memory)", dev, nblocks, block, err)
	}
	if cfg.Promisc && dev != "any" {
		if err := tp.SetPromiscuous(true); err != nil {
			tp.Close()
			return nil, 0, fmt.Errorf("device %s: promiscuous mode: %v", dev, err)
		}
	}
	return tp, lt, nil
}

// deviceLinkType maps the device's ARPHRD type to the link type of what a raw AF_PACKET
// socket reads on it.
func deviceLinkType(dev string) (layers.LinkType, error) {
	b, err := os.ReadFile("/sys/class/net/" + dev + "/type")
	if err != nil {
		return 0, fmt.Errorf("device %s: %v (list devices with: ip link)", dev, err)
	}
	t, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	switch t {
	case 1, 772: // ARPHRD_ETHER, ARPHRD_LOOPBACK (an Ethernet header of zeros)
		return layers.LinkTypeEthernet, nil
	case 65534, 778, 776: // ARPHRD_NONE (tun, wireguard), ARPHRD_IPGRE, ARPHRD_SIT: bare IP
		return layers.LinkTypeRaw, nil
	}
	return 0, fmt.Errorf("device %s: link type %d (ARPHRD) is not read by the afpacket engine; use -engine libpcap", dev, t)
}

// setAFFilter compiles expr with libpcap for the socket's link type, cut at Snaplen (the
// filter's return value is the length kept), and attaches it. An empty expr attaches a
// filter that keeps Snaplen bytes of every packet.
func setAFFilter(tp *afpacket.TPacket, lt layers.LinkType, expr string) error {
	e := expr
	if lt != layers.LinkTypeEthernet {
		if base, ok := withoutVLAN(expr); ok {
			e = base
		}
	}
	if e == "" {
		return tp.SetBPF(skipLoopbackOutgoing([]bpf.RawInstruction{{Op: 0x06, K: Snaplen}})) // ret #Snaplen
	}
	dlt := lt
	if lt == layers.LinkTypeRaw {
		dlt = 12 // libpcap's DLT_RAW on Linux; 101 is the LINKTYPE_RAW of files, which pcap_open_dead refuses
	}
	ins, err := pcap.CompileBPFFilter(dlt, Snaplen, e)
	if err != nil {
		return fmt.Errorf("BPF filter %q: %v (check the BPF_FILTER syntax, see man pcap-filter)", expr, err)
	}
	raw := make([]bpf.RawInstruction, len(ins))
	for i, in := range ins {
		raw[i] = bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	if err := tp.SetBPF(skipLoopbackOutgoing(raw)); err != nil {
		return fmt.Errorf("attaching BPF filter %q: %v", expr, err)
	}
	return nil
}

func (a *afSource) close() {
	if a.final == nil && len(a.tps) > 0 {
		r, d := a.stats()
		a.final = &[2]int{r, d}
	}
	for _, r := range a.rings {
		r.close()
	}
	for _, tp := range a.tps {
		tp.Close()
	}
	a.tps, a.rings = nil, nil
}

// stats sums the sockets' counters: packets the filter passed (tp_packets, drops
// included) and packets dropped because the ring was full.
func (a *afSource) stats() (received, dropped int) {
	if a.final != nil {
		return a.final[0], a.final[1]
	}
	for _, tp := range a.tps {
		if _, v3, err := tp.SocketStats(); err == nil {
			received += int(v3.Packets())
			dropped += int(v3.Drops())
		}
	}
	return
}

// run reads packets until ctx ends (then drains, see stopping) or a read fails. With one socket it reads in place
// from the ring; with several, each is read on its own goroutine and merged.
func (a *afSource) run(ctx context.Context, h Handler) error {
	if len(a.tps) == 1 {
		return a.runOne(ctx, h)
	}
	readers := make([]reader, len(a.tps))
	for i, ring := range a.rings {
		name, armed := a.names[i], a.armed[i]
		readers[i] = reader{
			name: name,
			lt:   a.lts[i],
			read: func() ([]byte, gopacket.CaptureInfo, error) {
				data, ci, err := ring.read(afPollTimeout, true) // copies: the data outlives the call
				if err != nil && !errors.Is(err, afpacket.ErrTimeout) {
					err = fmt.Errorf("reading packets from %s: %v", name, err)
				}
				return data, ci, err
			},
			timeout: func(err error) bool { return errors.Is(err, afpacket.ErrTimeout) },
			settle:  afBlockTimeout,
			// Packets taken before the filter was attached are left out.
			skip: func(ci gopacket.CaptureInfo) bool {
				if !armed.IsZero() && ci.Timestamp.Before(armed) {
					return true
				}
				armed = time.Time{}
				return false
			},
		}
	}
	return merge(ctx, h, readers)
}

func (a *afSource) runOne(ctx context.Context, h Handler) error {
	ring, lt, armed := a.rings[0], a.lts[0], a.armed[0]
	stop := stopping{ctx: ctx, settle: afBlockTimeout}
	lastIdle := time.Now()
	for n := 0; ; n++ {
		if n&255 == 0 {
			stop.ended()
		}
		data, ci, err := ring.read(afPollTimeout, false)
		switch {
		case err == nil && stop.after(ci):
			return stop.err()
		case err == nil && !armed.IsZero() && ci.Timestamp.Before(armed):
			continue // taken before the filter was attached
		case err == nil:
			armed = time.Time{}
			h.Packet(data, ci, lt)
			if n&255 == 0 {
				if now := time.Now(); now.Sub(lastIdle) >= 200*time.Millisecond {
					lastIdle = now
					h.Idle(now)
				}
			}
		case errors.Is(err, afpacket.ErrTimeout):
			if stop.drained() {
				return nil
			}
			lastIdle = time.Now()
			h.Idle(lastIdle)
		default:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("reading packets from %s: %v", a.names[0], err)
		}
	}
}

// skipLoopbackOutgoing puts in front of prog a test that drops packets leaving through the
// loopback device: lo hands AF_PACKET every packet twice, going out and coming in, and
// libpcap skips the first copy the same way. Other devices' outgoing packets are kept (on
// a server they are the responses). Jumps are relative, so prog is unchanged behind it.
func skipLoopbackOutgoing(prog []bpf.RawInstruction) []bpf.RawInstruction {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return prog
	}
	const (
		ldAbs    = 0x20       // BPF_LD | BPF_W | BPF_ABS
		jeqK     = 0x15       // BPF_JMP | BPF_JEQ | BPF_K
		retK     = 0x06       // BPF_RET | BPF_K
		adOff    = 0xfffff000 // SKF_AD_OFF (-4096)
		pktType  = 4          // SKF_AD_PKTTYPE
		ifIndex  = 8          // SKF_AD_IFINDEX
		outgoing = 4          // PACKET_OUTGOING
	)
	head := []bpf.RawInstruction{
		{Op: ldAbs, K: adOff + pktType},
		{Op: jeqK, K: outgoing, Jt: 0, Jf: 3}, // outgoing: look at the device; else the filter
		{Op: ldAbs, K: adOff + ifIndex},
		{Op: jeqK, K: uint32(lo.Index), Jt: 0, Jf: 1}, // lo: drop; else the filter
		{Op: retK, K: 0},
	}
	return append(head, prog...)
}
