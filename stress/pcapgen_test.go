package stress

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// capWriter writes a classic pcap file packet by packet (nothing is held in memory but
// one packet), with capture times it controls: now advances by a microsecond per packet
// and by whatever a test sleeps, so slow clients take minutes of capture time in a file
// written in milliseconds.
type capWriter struct {
	f       *os.File
	bw      *bufio.Writer
	w       *pcapgo.Writer
	snaplen int
	now     time.Time
	packets int64
	cut     int64 // packets written with a captured length below their length
	off     int64 // file offset after the last packet
	buf     gopacket.SerializeBuffer
}

// newCapture creates path as an Ethernet pcap file with the given snap length.
func newCapture(t testing.TB, path string, snaplen int) *capWriter {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriterNanos(bw)
	if err := w.WriteFileHeader(uint32(snaplen), layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	return &capWriter{f: f, bw: bw, w: w, snaplen: snaplen, off: 24,
		now: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), buf: gopacket.NewSerializeBuffer()}
}

// sleep advances the capture clock.
func (w *capWriter) sleep(d time.Duration) { w.now = w.now.Add(d) }

// write appends one frame, cut to the snap length as libpcap would have captured it.
func (w *capWriter) write(frame []byte) error {
	w.now = w.now.Add(time.Microsecond)
	ci := gopacket.CaptureInfo{Timestamp: w.now, Length: len(frame), CaptureLength: len(frame)}
	if len(frame) > w.snaplen {
		frame = frame[:w.snaplen]
		ci.CaptureLength = w.snaplen
		w.cut++
	}
	w.packets++
	w.off += 16 + int64(len(frame))
	return w.w.WritePacket(ci, frame)
}

// close flushes and closes the file.
func (w *capWriter) close() error {
	if err := w.bw.Flush(); err != nil {
		w.f.Close()
		return err
	}
	return w.f.Close()
}

// flow is one TCP connection being written: it keeps both sequence numbers.
type flow struct {
	w        *capWriter
	cli, srv netip.AddrPort
	cseq     uint32 // next client sequence number
	sseq     uint32 // next server sequence number
	mss      int    // largest payload per segment
	err      error  // first write error; later writes are skipped
}

// newFlow starts a connection with arbitrary initial sequence numbers (derived from the
// ports so that they differ between connections and wrap now and then).
func (w *capWriter) newFlow(cli, srv netip.AddrPort, mss int) *flow {
	iss := uint32(cli.Port())*2654435761 ^ uint32(cli.Addr().As4()[3])<<24
	return &flow{w: w, cli: cli, srv: srv, cseq: iss, sseq: ^iss, mss: mss}
}

// segment writes one TCP segment in one direction and advances that direction's
// sequence number by its length (and one for SYN and FIN).
func (f *flow) segment(fromClient bool, syn, ack, fin, rst bool, payload []byte) {
	if f.err != nil {
		return
	}
	src, dst := f.cli, f.srv
	seq, ackn := f.cseq, f.sseq
	if !fromClient {
		src, dst = f.srv, f.cli
		seq, ackn = f.sseq, f.cseq
	}
	f.err = f.w.writeTCP(src, dst, seq, ackn, syn, ack, fin, rst, payload)
	adv := uint32(len(payload))
	if syn || fin {
		adv++
	}
	if fromClient {
		f.cseq += adv
	} else {
		f.sseq += adv
	}
}

// writeTCP serialises Ethernet, IPv4 and TCP headers around payload.
func (w *capWriter) writeTCP(src, dst netip.AddrPort, seq, ack uint32, syn, ackf, fin, rst bool, payload []byte) error {
	eth := &layers.Ethernet{SrcMAC: mac(src), DstMAC: mac(dst), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, Flags: layers.IPv4DontFragment,
		SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: seq, Ack: ack, SYN: syn, ACK: ackf, FIN: fin, RST: rst, PSH: len(payload) > 0, Window: 65535}
	if !ackf {
		tcp.Ack = 0
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		return err
	}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(w.buf, opts, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		return err
	}
	return w.write(w.buf.Bytes())
}

func mac(a netip.AddrPort) []byte {
	b := a.Addr().As4()
	return []byte{0x02, 0, b[0], b[1], b[2], b[3]}
}

// handshake writes SYN, SYN-ACK and ACK.
func (f *flow) handshake() {
	f.segment(true, true, false, false, false, nil)
	f.segment(false, true, true, false, false, nil)
	f.segment(true, false, true, false, false, nil)
}

// send writes data in one direction in segments of at most mss bytes.
func (f *flow) send(fromClient bool, data []byte) {
	for len(data) > 0 {
		n := min(len(data), f.mss)
		f.segment(fromClient, false, true, false, false, data[:n])
		data = data[n:]
	}
}

// sendFrom streams n bytes from r in one direction, mss bytes a segment, without
// holding more than one segment.
func (f *flow) sendFrom(fromClient bool, r io.Reader, n int64) {
	buf := make([]byte, f.mss)
	for n > 0 && f.err == nil {
		k := int(min(int64(len(buf)), n))
		if _, err := io.ReadFull(r, buf[:k]); err != nil {
			f.err = fmt.Errorf("body source: %v", err)
			return
		}
		f.segment(fromClient, false, true, false, false, buf[:k])
		n -= int64(k)
	}
}

// close writes the client's FIN, the server's FIN-ACK and the last ACK.
func (f *flow) close() {
	f.segment(true, false, true, true, false, nil)
	f.segment(false, false, true, true, false, nil)
	f.segment(true, false, true, false, false, nil)
}

// addr returns 10.a.b.c:port for a connection number, spreading clients over addresses.
func clientAddr(i int) netip.AddrPort {
	port := uint16(1024 + i%60000)
	host := i / 60000
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(host >> 8), byte(host + 1)}), port)
}

var server = netip.MustParseAddrPort("10.0.0.80:80")

// pattern is an endless deterministic body: printable, never a line that looks like
// HTTP, and different at every offset modulo its length (so that a body glued from the
// wrong bytes does not compare equal).
type pattern struct{ off int64 }

const patternText = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.~0123456789+/abcdefghijklmnopqrstuvwxyz"

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = patternText[(p.off+int64(i))%int64(len(patternText))]
	}
	p.off += int64(len(b))
	return len(b), nil
}

// patternPrefix returns the first n bytes of a pattern body.
func patternPrefix(n int) []byte {
	b := make([]byte, n)
	(&pattern{}).Read(b)
	return b
}
