package damage

import (
	"bytes"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"sniffer/ipfrag"
)

// frame builds a real Ethernet/IPv4/TCP frame whose payload names its index, so a test can tell
// the packets apart after they were moved.
func frame(t *testing.T, i int) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Id: uint16(i), Protocol: layers.IPProtocolTCP, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: uint32(1000 + 10*i), ACK: true, Ack: 1, Window: 500}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	payload := []byte{byte(i >> 8), byte(i), 'x', 'y', 'z', '0', '1', '2', '3', '4'}
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

// sample is a capture of n frames 1 ms apart.
func sample(t *testing.T, n int) *Capture {
	c := &Capture{LinkType: layers.LinkTypeEthernet, Snaplen: 65535}
	t0 := time.Unix(1700000000, 0)
	for i := 0; i < n; i++ {
		d := frame(t, i)
		c.Packets = append(c.Packets, Packet{Data: d, CI: gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(d), Length: len(d)}, Orig: i})
	}
	return c
}

// index is the frame number frame wrote into the payload.
func index(t *testing.T, d []byte) int {
	t.Helper()
	p := gopacket.NewPacket(d, layers.LayerTypeEthernet, gopacket.Default)
	app := p.ApplicationLayer()
	if app == nil || len(app.Payload()) < 2 {
		t.Fatalf("frame without payload: %v", p)
	}
	return int(app.Payload()[0])<<8 | int(app.Payload()[1])
}

func monotonic(t *testing.T, c *Capture) {
	t.Helper()
	for i := 1; i < len(c.Packets); i++ {
		if c.Packets[i].CI.Timestamp.Before(c.Packets[i-1].CI.Timestamp) {
			t.Fatalf("packet %d at %v is before packet %d at %v", i, c.Packets[i].CI.Timestamp, i-1, c.Packets[i-1].CI.Timestamp)
		}
	}
}

func TestShuffleStaysInWindowAndKeepsClock(t *testing.T) {
	const n, window = 1000, 8
	c := sample(t, n)
	Shuffle(c, window, 0, Rand(1, "shuffle"))
	if len(c.Packets) != n {
		t.Fatalf("%d packets, want %d", len(c.Packets), n)
	}
	moved := 0
	seen := make([]bool, n)
	for pos, p := range c.Packets {
		i := index(t, p.Data)
		if i != p.Orig {
			t.Fatalf("packet at %d: payload says %d, Orig %d", pos, i, p.Orig)
		}
		if seen[i] {
			t.Fatalf("packet %d twice", i)
		}
		seen[i] = true
		if i/window != pos/window {
			t.Fatalf("packet %d moved to %d, out of its window of %d", i, pos, window)
		}
		if i != pos {
			moved++
		}
	}
	if moved < n/2 {
		t.Fatalf("only %d of %d packets moved", moved, n)
	}
	monotonic(t, c)

	again := sample(t, n)
	Shuffle(again, window, 0, Rand(1, "shuffle"))
	other := sample(t, n)
	Shuffle(other, window, 0, Rand(2, "shuffle"))
	same, diff := true, false
	for i := range c.Packets {
		same = same && c.Packets[i].Orig == again.Packets[i].Orig
		diff = diff || c.Packets[i].Orig != other.Packets[i].Orig
	}
	if !same || !diff {
		t.Fatalf("same seed gives the same order: %v; another seed another order: %v", same, diff)
	}
}

func TestDuplicateLaterWithinDelay(t *testing.T) {
	const n, delay = 2000, 4
	for _, rewrite := range []bool{false, true} {
		c := sample(t, n)
		orig := sample(t, n)
		if err := Duplicate(c, 0.1, delay, rewrite, Rand(3, "duplicate")); err != nil {
			t.Fatal(err)
		}
		extra := len(c.Packets) - n
		if extra < n/20 || extra > n/5 {
			t.Fatalf("%d copies of %d packets at 10%%", extra, n)
		}
		monotonic(t, c)
		first := make(map[int]int)
		for pos, p := range c.Packets {
			i := index(t, p.Data)
			at, dup := first[i]
			if !dup {
				first[i] = pos
				if !bytes.Equal(p.Data, orig.Packets[i].Data) {
					t.Fatalf("original %d changed", i)
				}
				continue
			}
			if pos-at > delay+delay { // copies of neighbours due at the same place sit between
				t.Fatalf("copy of %d at %d, original at %d: more than %d later", i, pos, at, delay)
			}
			if p.CI.Timestamp.Before(orig.Packets[i].CI.Timestamp) {
				t.Fatalf("copy of %d is earlier than its original", i)
			}
			o := gopacket.NewPacket(orig.Packets[i].Data, layers.LayerTypeEthernet, gopacket.Default)
			d := gopacket.NewPacket(p.Data, layers.LayerTypeEthernet, gopacket.Default)
			oip, dip := o.Layer(layers.LayerTypeIPv4).(*layers.IPv4), d.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			if rewrite != (oip.Id != dip.Id && oip.TTL != dip.TTL) {
				t.Fatalf("rewrite %v: id %d->%d ttl %d->%d", rewrite, oip.Id, dip.Id, oip.TTL, dip.TTL)
			}
			if ipfrag.Checksum(dip.Contents) != 0 {
				t.Fatalf("copy of %d: IPv4 header checksum wrong", i)
			}
			if !bytes.Equal(o.TransportLayer().LayerContents(), d.TransportLayer().LayerContents()) || !bytes.Equal(o.ApplicationLayer().Payload(), d.ApplicationLayer().Payload()) {
				t.Fatalf("copy of %d: TCP segment differs", i)
			}
		}
		if len(first) != n {
			t.Fatalf("%d distinct packets, want %d", len(first), n)
		}
	}
}

func TestDropRecordsWhatItRemoved(t *testing.T) {
	const n = 5000
	c := sample(t, n)
	Drop(c, 0.01, Rand(4, "drop"))
	if len(c.Dropped) == 0 || len(c.Dropped) > n/30 {
		t.Fatalf("dropped %d of %d at 1%%", len(c.Dropped), n)
	}
	if len(c.Packets)+len(c.Dropped) != n {
		t.Fatalf("%d kept + %d dropped != %d", len(c.Packets), len(c.Dropped), n)
	}
	for _, p := range c.Packets {
		if slices.Contains(c.Dropped, index(t, p.Data)) {
			t.Fatalf("packet %d is both dropped and kept", p.Orig)
		}
	}
}

func TestTagVLANAndQinQ(t *testing.T) {
	for _, vids := range [][]uint16{{100}, {200, 100}} {
		c := sample(t, 3)
		if err := Tag(c, vids...); err != nil {
			t.Fatal(err)
		}
		for _, p := range c.Packets {
			pk := gopacket.NewPacket(p.Data, layers.LayerTypeEthernet, gopacket.Default)
			var got []uint16
			for _, l := range pk.Layers() {
				if q, ok := l.(*layers.Dot1Q); ok {
					got = append(got, q.VLANIdentifier)
				}
			}
			if !slices.Equal(got, vids) || pk.Layer(layers.LayerTypeTCP) == nil || p.CI.Length != len(p.Data) {
				t.Fatalf("tags %v: decoded %v, tcp %v", vids, got, pk.Layer(layers.LayerTypeTCP) != nil)
			}
			if eth := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); len(vids) == 2 && eth.EthernetType != layers.EthernetTypeQinQ {
				t.Fatalf("outer tag type %v, want 802.1ad", eth.EthernetType)
			}
		}
	}
	if err := Tag(sample(t, 1), 4095); err == nil {
		t.Fatal("VLAN 4095 must be refused")
	}
}

// TestTagCookedCapture gives Linux cooked frames an Ethernet header before tagging them.
func TestTagCookedCapture(t *testing.T) {
	c := sample(t, 2)
	for i, p := range c.Packets {
		sll := append([]byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00}, p.Data[14:]...)
		c.Packets[i].Data = sll
	}
	c.LinkType = layers.LinkTypeLinuxSLL
	if err := Tag(c, 7); err != nil {
		t.Fatal(err)
	}
	if c.LinkType != layers.LinkTypeEthernet {
		t.Fatalf("link type %v", c.LinkType)
	}
	for i, p := range c.Packets {
		if index(t, p.Data) != i {
			t.Fatalf("frame %d lost its payload", i)
		}
	}
}

// TestReadWritePcapAndPcapng reads both formats and writes a pcap that reads back the same.
func TestReadWritePcapAndPcapng(t *testing.T) {
	c := sample(t, 20)
	dir := t.TempDir()
	ng := filepath.Join(dir, "in.pcapng")
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range c.Packets {
		if err := w.WritePacket(p.CI, p.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := Apply(got, Options{Seed: 9, ShuffleWindow: 4, DupFraction: 0.2, VLANs: []uint16{5}}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.pcap")
	if err := got.WriteFile(out); err != nil {
		t.Fatal(err)
	}
	back, err := ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if back.LinkType != layers.LinkTypeEthernet || len(back.Packets) != len(got.Packets) || len(back.Packets) <= len(c.Packets) {
		t.Fatalf("read back %d packets of %v, wrote %d", len(back.Packets), back.LinkType, len(got.Packets))
	}
	for i := range back.Packets {
		if !bytes.Equal(back.Packets[i].Data, got.Packets[i].Data) || !back.Packets[i].CI.Timestamp.Equal(got.Packets[i].CI.Timestamp) {
			t.Fatalf("packet %d changed in the file", i)
		}
	}
	if _, err := ReadFile(ng); err == nil {
		t.Fatal("a missing file must be an error")
	}
	if _, err := Read(bytes.NewReader([]byte("GET / HTTP/1.1\r\n"))); err == nil {
		t.Fatal("a text file must be an error")
	}
}

// TestShuffleKeepsPauses: no packet is moved across a pause longer than maxGap.
func TestShuffleKeepsPauses(t *testing.T) {
	c := sample(t, 200)
	for i := range c.Packets {
		c.Packets[i].CI.Timestamp = c.Packets[i].CI.Timestamp.Add(time.Duration(i/10) * 10 * time.Second) // a pause every 10 packets
	}
	Shuffle(c, 8, time.Second, Rand(5, "shuffle"))
	moved := 0
	for pos, p := range c.Packets {
		if p.Orig/10 != pos/10 {
			t.Fatalf("packet %d moved to %d, across a pause", p.Orig, pos)
		}
		if p.Orig != pos {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("nothing moved")
	}
	monotonic(t, c)
}
