//go:build linux

package vxlan

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
	"github.com/vishvananda/netns"
)

// innerPacket is one captured (and, for underlay captures, decapsulated) frame.
type innerPacket struct {
	vni              uint32
	outerSrc, outerD net.IP // nil for frames captured on a kernel VXLAN device
	srcMAC           net.HardwareAddr
	src, dst         net.IP
	proto            layers.IPProtocol
	srcPort, dstPort uint16
	seq              uint32
	payload          []byte
}

// openCapture opens a live libpcap handle on dev inside ns (the packet socket stays
// bound to that namespace), with a snap length that holds GSO super-packets whole.
func openCapture(ns netns.NsHandle, dev, filter string) (*pcap.Handle, error) {
	var h *pcap.Handle
	err := inNetns(ns, func() error {
		in, err := pcap.NewInactiveHandle(dev)
		if err != nil {
			return err
		}
		defer in.CleanUp()
		// A ring of 32 MiB: libpcap's default 2 MiB holds only a handful of 256 KiB slots and
		// drops bursts of GSO super-packets (seen here as lost requests).
		for _, e := range []error{in.SetSnapLen(262144), in.SetBufferSize(32 << 20), in.SetPromisc(true), in.SetTimeout(50 * time.Millisecond), in.SetImmediateMode(true)} {
			if e != nil {
				return e
			}
		}
		if h, err = in.Activate(); err != nil {
			return err
		}
		if filter != "" {
			if err := h.SetBPFFilter(filter); err != nil {
				h.Close()
				return err
			}
		}
		return nil
	})
	return h, err
}

// liveCapture reads a handle on its own goroutine until stopped, at most 20 s and
// 100000 packets.
type liveCapture struct {
	mu       sync.Mutex
	packets  []innerPacket
	maxOuter int // largest UDP payload handed to Decap
	stop     chan struct{}
	done     chan error
}

// startCapture reads h. With d, frames are outer VXLAN packets: those to d.Port() are
// decapsulated and the inner frame kept. Without d, frames are kept as they are (a
// capture on a kernel VXLAN device, which has already decapsulated them).
func startCapture(h *pcap.Handle, d *Decapsulator) *liveCapture {
	c := &liveCapture{stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		deadline := time.Now().Add(20 * time.Second)
		for n := 0; n < 100000 && time.Now().Before(deadline); n++ {
			select {
			case <-c.stop:
				c.done <- nil
				return
			default:
			}
			data, _, err := h.ReadPacketData()
			if errors.Is(err, pcap.NextErrorTimeoutExpired) {
				continue
			}
			if err != nil {
				c.done <- err
				return
			}
			var ip innerPacket
			frame := data
			if d != nil {
				p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
				ip4, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
				udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
				if ip4 == nil || udp == nil || uint16(udp.DstPort) != d.Port() {
					continue
				}
				vni, inner, ok := d.Decap(udp.Payload)
				if !ok {
					continue
				}
				ip.vni, ip.outerSrc, ip.outerD, frame = vni, ip4.SrcIP, ip4.DstIP, inner
				c.mu.Lock()
				c.maxOuter = max(c.maxOuter, len(udp.Payload))
				c.mu.Unlock()
			}
			ip.decode(frame)
			c.mu.Lock()
			c.packets = append(c.packets, ip)
			c.mu.Unlock()
		}
		c.done <- errors.New("capture loop ended by its bound before the test stopped it")
	}()
	return c
}

// snapshot returns the frames captured so far.
func (c *liveCapture) snapshot() []innerPacket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]innerPacket(nil), c.packets...)
}

// finish stops the reader and returns its error.
func (c *liveCapture) finish() error {
	close(c.stop)
	return <-c.done
}

// decode fills the inner fields from an Ethernet frame.
func (ip *innerPacket) decode(frame []byte) {
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); eth != nil {
		ip.srcMAC = eth.SrcMAC
	}
	if v4, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); v4 != nil {
		ip.src, ip.dst, ip.proto = v4.SrcIP, v4.DstIP, v4.Protocol
	}
	switch l := p.TransportLayer().(type) {
	case *layers.UDP:
		ip.srcPort, ip.dstPort, ip.payload = uint16(l.SrcPort), uint16(l.DstPort), l.Payload
	case *layers.TCP:
		ip.srcPort, ip.dstPort, ip.seq, ip.payload = uint16(l.SrcPort), uint16(l.DstPort), l.Seq, l.Payload
	}
}
