package reassembly

// The test helper: a TCP conversation built segment by segment with correct sequence and
// acknowledgement numbers, then serialised with gopacket's layers into real frames of a
// chosen link type and fed through capture's decoder into an Assembler, exactly as
// sniffer does with packets off the wire. Knobs reorder, duplicate, overlap and drop
// segments, split data at chosen byte boundaries, start sequence numbers anywhere
// (near 2^32 for wrap-around) and leave out the handshake (capture started mid-stream).

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"sniffer/capture"
	"sniffer/model"
)

// segment is one TCP segment of a conversation.
type segment struct {
	fromClient         bool
	syn, ack, fin, rst bool
	seq, ackNo         uint32
	payload            []byte
	// pause is extra capture time before this segment (on top of the 1 ms between
	// segments), for timeout tests.
	pause time.Duration
}

// maxSegment bounds a segment's payload even without mss: an IPv4 packet is at most
// 64 KiB long.
const maxSegment = 32000

// conv is a TCP conversation under construction.
type conv struct {
	client, server netip.AddrPort
	cnext, snext   uint32 // next sequence number each side sends
	segs           []segment
	// mss, when > 0, splits every send into segments of at most that many bytes.
	mss int
}

// newConv starts a conversation between client and server ("10.0.0.1:40000",
// "[fd00::2]:80") whose sides start at the given initial sequence numbers.
func newConv(client, server string, cisn, sisn uint32) *conv {
	return &conv{client: netip.MustParseAddrPort(client), server: netip.MustParseAddrPort(server), cnext: cisn, snext: sisn}
}

// defaultConv is a conversation on IPv4, port 80.
func defaultConv() *conv { return newConv("10.1.0.1:40001", "10.2.0.2:80", 1000, 900000) }

func (c *conv) add(s segment) int {
	if s.fromClient {
		s.seq, s.ackNo = c.cnext, c.snext
	} else {
		s.seq, s.ackNo = c.snext, c.cnext
	}
	n := uint32(len(s.payload))
	if s.syn || s.fin {
		n++
	}
	if s.fromClient {
		c.cnext += n
	} else {
		c.snext += n
	}
	c.segs = append(c.segs, s)
	return len(c.segs) - 1
}

// handshake adds SYN, SYN-ACK, ACK.
func (c *conv) handshake() *conv {
	c.add(segment{fromClient: true, syn: true})
	c.add(segment{syn: true, ack: true})
	c.add(segment{fromClient: true, ack: true})
	return c
}

// send adds data from one side, split at the given offsets into data (and at mss),
// and returns the indexes of the segments made.
func (c *conv) send(fromClient bool, data []byte, cuts ...int) []int {
	var idx []int
	prev := 0
	cuts = append(cuts, len(data))
	for _, cut := range cuts {
		if cut <= prev || cut > len(data) {
			continue
		}
		piece := data[prev:cut]
		for len(piece) > 0 {
			n := len(piece)
			if c.mss > 0 && n > c.mss {
				n = c.mss
			}
			n = min(n, maxSegment)
			idx = append(idx, c.add(segment{fromClient: fromClient, ack: true, payload: piece[:n]}))
			piece = piece[n:]
		}
		prev = cut
	}
	return idx
}

// req and resp send from the client and from the server.
func (c *conv) req(s string, cuts ...int) []int  { return c.send(true, []byte(s), cuts...) }
func (c *conv) resp(s string, cuts ...int) []int { return c.send(false, []byte(s), cuts...) }

// fin and rst end one side.
func (c *conv) fin(fromClient bool) int {
	return c.add(segment{fromClient: fromClient, fin: true, ack: true})
}
func (c *conv) rst(fromClient bool) int {
	return c.add(segment{fromClient: fromClient, rst: true, ack: true})
}

// close ends both sides with FINs and the last ACK.
func (c *conv) close() {
	c.fin(true)
	c.fin(false)
	c.add(segment{fromClient: true, ack: true})
}

// drop removes segments (lost on the wire before the capture point).
func (c *conv) drop(idx ...int) {
	gone := map[int]bool{}
	for _, i := range idx {
		gone[i] = true
	}
	out := c.segs[:0:0]
	for i, s := range c.segs {
		if !gone[i] {
			out = append(out, s)
		}
	}
	c.segs = out
}

// swap exchanges two segments in capture order.
func (c *conv) swap(i, j int) { c.segs[i], c.segs[j] = c.segs[j], c.segs[i] }

// reverse reverses the capture order of segments i..j (inclusive).
func (c *conv) reverse(i, j int) {
	for ; i < j; i, j = i+1, j-1 {
		c.swap(i, j)
	}
}

// dup inserts a copy of segment i (a retransmission) right after segment at.
func (c *conv) dup(i, at int) {
	s := c.segs[i]
	s.payload = append([]byte(nil), s.payload...)
	c.insert(at+1, s)
}

// overlap inserts, after segment at, a retransmission covering the second half of
// segment i and the first half of segment i+1 (which must be the same side's next
// segment): the same bytes sent again with different boundaries.
func (c *conv) overlap(i, at int) {
	a, b := c.segs[i], c.segs[i+1]
	if a.fromClient != b.fromClient || a.seq+uint32(len(a.payload)) != b.seq {
		panic("overlap: segments are not consecutive in one direction")
	}
	h := len(a.payload) / 2
	s := a
	s.seq = a.seq + uint32(h)
	s.payload = append(append([]byte(nil), a.payload[h:]...), b.payload[:(len(b.payload)+1)/2]...)
	c.insert(at+1, s)
}

func (c *conv) insert(at int, s segment) {
	c.segs = append(c.segs, segment{})
	copy(c.segs[at+1:], c.segs[at:])
	c.segs[at] = s
}

// link is a link-layer framing of the conversation's packets.
type link int

const (
	linkEthernet link = iota
	linkVLAN          // Ethernet with an 802.1Q tag
	linkSLL           // Linux cooked v1
	linkSLL2          // Linux cooked v2
	linkRaw           // raw IP
	linkNull          // BSD loopback
)

func (l link) String() string {
	return [...]string{"ethernet", "vlan", "sll", "sll2", "raw", "null"}[l]
}

func (l link) linkType() layers.LinkType {
	switch l {
	case linkSLL:
		return layers.LinkTypeLinuxSLL
	case linkSLL2:
		return layers.LinkTypeLinuxSLL2
	case linkRaw:
		return layers.LinkTypeRaw
	case linkNull:
		return layers.LinkTypeNull
	}
	return layers.LinkTypeEthernet
}

// frame serialises one segment as a packet of the given link type.
func (c *conv) frame(s segment, l link) []byte {
	src, dst := c.client, c.server
	if !s.fromClient {
		src, dst = dst, src
	}
	t := &layers.TCP{
		SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: s.seq, SYN: s.syn, FIN: s.fin, RST: s.rst, ACK: s.ack || !s.syn,
		Window: 65535,
	}
	if t.ACK {
		t.Ack = s.ackNo
	}
	var ip gopacket.NetworkLayer
	var ipLayer gopacket.SerializableLayer
	ethType := layers.EthernetTypeIPv4
	family := layers.ProtocolFamilyIPv4
	if src.Addr().Is4() {
		ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice(), Flags: layers.IPv4DontFragment}
		ip, ipLayer = ip4, ip4
	} else {
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		ip, ipLayer = ip6, ip6
		ethType, family = layers.EthernetTypeIPv6, layers.ProtocolFamilyIPv6BSD
	}
	if err := t.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err)
	}
	mac := func(a netip.Addr) net.HardwareAddr {
		b := a.As16()
		return net.HardwareAddr{0x02, 0, b[12], b[13], b[14], b[15]}
	}
	var ls []gopacket.SerializableLayer
	switch l {
	case linkEthernet:
		ls = append(ls, &layers.Ethernet{SrcMAC: mac(src.Addr()), DstMAC: mac(dst.Addr()), EthernetType: ethType})
	case linkVLAN:
		ls = append(ls, &layers.Ethernet{SrcMAC: mac(src.Addr()), DstMAC: mac(dst.Addr()), EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 42, Type: ethType})
	case linkNull:
		ls = append(ls, &layers.Loopback{Family: family})
	}
	ls = append(ls, ipLayer, t, gopacket.Payload(s.payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(err)
	}
	out := buf.Bytes()
	switch l {
	case linkSLL, linkSLL2:
		return append(cookedHeader(l, !s.fromClient, uint16(ethType), mac(src.Addr())), out...)
	}
	return out
}

// cookedHeader builds a Linux cooked-capture header, which gopacket cannot serialise:
// SLL (16 bytes: packet type, ARPHRD, address length, address, protocol) or SLL2
// (20 bytes: protocol, reserved, ifindex, ARPHRD, packet type, address length, address).
func cookedHeader(l link, incoming bool, proto uint16, addr net.HardwareAddr) []byte {
	pt := uint16(4) // outgoing
	if incoming {
		pt = 0
	}
	if l == linkSLL {
		h := make([]byte, 16)
		binary.BigEndian.PutUint16(h[0:], pt)
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], uint16(len(addr)))
		copy(h[6:14], addr)
		binary.BigEndian.PutUint16(h[14:], proto)
		return h
	}
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], proto)
	binary.BigEndian.PutUint32(h[4:], 3) // ifindex
	binary.BigEndian.PutUint16(h[8:], 1)
	h[10] = byte(pt)
	h[11] = byte(len(addr))
	copy(h[12:20], addr)
	return h
}

// packet is a frame with its capture time.
type packet struct {
	data []byte
	ci   gopacket.CaptureInfo
}

// t0 is the capture time of a conversation's first packet.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// packets serialises the conversation in its current capture order, 1 ms apart.
func (c *conv) packets(l link) []packet {
	out := make([]packet, 0, len(c.segs))
	at := t0
	for _, s := range c.segs {
		at = at.Add(time.Millisecond + s.pause)
		d := c.frame(s, l)
		out = append(out, packet{d, gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(d), Length: len(d)}})
	}
	return out
}

// result is what an Assembler made of some packets.
type result struct {
	calls []*model.Call
	stats *Stats
	dec   *capture.Decoder
	asm   *Assembler
}

// feed decodes the packets with capture's decoder, feeds them to a new Assembler and,
// when closeAll is set, closes it (end of capture).
func feed(cfg Config, lt layers.LinkType, pkts []packet, closeAll bool) *result {
	r := &result{dec: capture.NewDecoder()}
	r.asm = New(cfg, func(c *model.Call) { r.calls = append(r.calls, c) })
	r.stats = r.asm.Stats()
	for _, p := range pkts {
		r.dec.Decode(p.data, p.ci, lt, r.asm.Packet)
	}
	if closeAll {
		r.asm.Close()
	}
	return r
}

// run is the common case: the conversation over Ethernet, default settings plus
// KeepIncomplete (so incomplete calls can be inspected), capture closed at the end.
func (c *conv) run(t testing.TB) *result {
	t.Helper()
	cfg := DefaultConfig()
	cfg.KeepIncomplete = true
	return c.runWith(t, cfg, linkEthernet)
}

func (c *conv) runWith(t testing.TB, cfg Config, l link) *result {
	t.Helper()
	r := feed(cfg, l.linkType(), c.packets(l), true)
	if got := r.dec.Stats.TCP.Load(); got != int64(len(c.segs)) {
		t.Fatalf("%v: decoder passed on %d TCP segments of %d (undecoded %d, not TCP %d)", l, got, len(c.segs), r.dec.Stats.Undecoded.Load(), r.dec.Stats.NotTCP.Load())
	}
	return r
}

// writePcap writes the conversation to a .pcap file in dir and returns its path.
func (c *conv) writePcap(t testing.TB, dir, name string, l link) string {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(capture.Snaplen, l.linkType()); err != nil {
		t.Fatal(err)
	}
	for _, p := range c.packets(l) {
		if err := w.WritePacket(p.ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// summary is a call in one line, for comparisons: method, URL, status (or the
// incomplete reason), and body sizes.
func summary(c *model.Call) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", c.Request.Method, c.URL)
	if c.Response != nil {
		fmt.Fprintf(&b, " -> %d", c.Response.Status)
	}
	if c.Incomplete != "" {
		fmt.Fprintf(&b, " [%s]", c.Incomplete)
	}
	fmt.Fprintf(&b, " req=%q", c.Request.Body)
	if c.Response != nil {
		fmt.Fprintf(&b, " resp=%q", c.Response.Body)
	}
	return b.String()
}

func summaries(calls []*model.Call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = summary(c)
	}
	return out
}

// want compares the calls with the expected summaries, in order.
func (r *result) want(t testing.TB, want ...string) {
	t.Helper()
	got := summaries(r.calls)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n got:  %s\n want: %s", strings.Join(got, "\n       "), strings.Join(want, "\n       "))
	}
}

// complete returns the calls with no Incomplete reason.
func (r *result) complete() []*model.Call {
	var out []*model.Call
	for _, c := range r.calls {
		if c.Incomplete == "" {
			out = append(out, c)
		}
	}
	return out
}

// get builds a GET request with a Host header.
func get(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: api.test\r\n\r\n"
}

// post builds a POST with a Content-Length body.
func post(path, body string) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: api.test\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body)
}

// ok builds a 200 response with a Content-Length body.
func ok(body string) string { return status(200, body) }

func status(code int, body string) string {
	return fmt.Sprintf("HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", code, len(body), body)
}

// chunked encodes body as chunks of the given size.
func chunked(body []byte, size int) []byte {
	var b bytes.Buffer
	for len(body) > 0 {
		n := min(size, len(body))
		fmt.Fprintf(&b, "%x\r\n", n)
		b.Write(body[:n])
		b.WriteString("\r\n")
		body = body[n:]
	}
	b.WriteString("0\r\n\r\n")
	return b.Bytes()
}
