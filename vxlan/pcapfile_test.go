//go:build linux

package vxlan

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
	"github.com/gopacket/gopacket/pcapgo"
)

// corpusFile returns the path of a file in the shared capture corpus beside the
// repository. With no corpus there (a bare clone) the test skips (.ci/skips-allowed lists it);
// with a corpus that lacks the file it fails: the corpus and the tests are out of step.
func corpusFile(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "corpus")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("skipped: no shared corpus at %s (it lives in ../shared/corpus beside the repository): %v", dir, err)
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the shared corpus at %s has no %s: %v", dir, name, err)
	}
	return p
}

// readMirror opens a capture with real libpcap, as sniffer -r does, applies
// FilterExpr(4789) as a BPF filter and decapsulates every UDP payload to d.Port().
// It returns the inner frames per VNI in capture order.
func readMirror(t *testing.T, path string, d *Decapsulator) map[uint32][][]byte {
	t.Helper()
	h, err := pcap.OpenOffline(path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.SetBPFFilter(FilterExpr(int(d.Port()))); err != nil {
		t.Fatalf("libpcap rejects FilterExpr: %v", err)
	}
	out := map[uint32][][]byte{}
	for i := 0; i < 100000; i++ {
		data, _, err := h.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.NoCopy)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if udp == nil || uint16(udp.DstPort) != d.Port() {
			continue
		}
		if vni, inner, ok := d.Decap(udp.Payload); ok {
			out[vni] = append(out[vni], append([]byte(nil), inner...))
		}
	}
	t.Fatal("capture file has more than 100000 packets")
	return nil
}

// http-vxlan.pcap is real AWS VPC Traffic Mirroring output (zeek's test trace): one
// GET and its 200 with a 9 KB jumbo segment, all on VNI 1.
func TestCorpusAWSMirror(t *testing.T) {
	d := mustNew(t, 0, "")
	frames := readMirror(t, corpusFile(t, "http-vxlan.pcap"), d)
	st := d.Stats()
	if st.BadHeader != 0 || st.VNIsSeen != 1 || st.Decapsulated == 0 || len(frames[1]) != int(st.Decapsulated) {
		t.Fatalf("stats %+v, frames on VNI 1: %d", st, len(frames[1]))
	}
	var req, resp bool
	var jumbo int
	for _, f := range frames[1] {
		p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			t.Fatalf("inner frame does not decode: %v", el.Error())
		}
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil {
			t.Fatalf("inner frame without TCP: %v", p)
		}
		req = req || strings.HasPrefix(string(tcp.Payload), "GET /image/svg HTTP/1.1")
		resp = resp || strings.HasPrefix(string(tcp.Payload), "HTTP/1.1 200 OK")
		jumbo = max(jumbo, len(tcp.Payload))
	}
	if !req || !resp {
		t.Fatalf("request seen %v, response seen %v", req, resp)
	}
	if jumbo != 8984 {
		t.Fatalf("largest inner TCP payload %d bytes, want the 8984-byte jumbo segment whole", jumbo)
	}
	t.Logf("%s", st)
}

// A capture of mirrored traffic, made here from a plain capture, gives back exactly the
// plain frames: the same capture wrapped twice with two VNIs (overlapping addresses, as
// two mirror sessions would) plus noise that must be counted and skipped.
func TestMirroredCaptureFileRoundTrip(t *testing.T) {
	src := corpusFile(t, "http-pipelined-5.pcap")
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("%s is %v, want Ethernet", src, r.LinkType())
	}
	var plain [][]byte
	var cis []gopacket.CaptureInfo
	for i := 0; i < 10000; i++ {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		plain = append(plain, data)
		cis = append(cis, ci)
	}

	out := filepath.Join(t.TempDir(), "mirrored.pcap")
	wf, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(wf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	write := func(frame []byte, ts time.Time) {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(frame), Length: len(frame)}, frame); err != nil {
			t.Fatal(err)
		}
	}
	for i, fr := range plain {
		write(outerIPv4(t, append(vxlanHeader(5), fr...)), cis[i].Timestamp)
		write(outerIPv4(t, append(vxlanHeader(6), fr...)), cis[i].Timestamp)
		if i == 0 {
			// Noise on the same port: a GPE packet and a header-only packet.
			write(outerIPv4(t, append([]byte{0x0c, 0, 0, 3, 0, 0, 5, 0}, fr...)), cis[i].Timestamp)
			write(outerIPv4(t, vxlanHeader(5)), cis[i].Timestamp)
		}
	}
	// The plain frames themselves must not pass the filter.
	for i, fr := range plain {
		write(fr, cis[i].Timestamp)
	}
	if err := wf.Close(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		vnis string
		want []uint32
	}{{"", []uint32{5, 6}}, {"6", []uint32{6}}, {"-6", []uint32{5}}} {
		d := mustNew(t, 0, tc.vnis)
		got := readMirror(t, out, d)
		if len(got) != len(tc.want) {
			t.Fatalf("VNIS %q: got VNIs %d, want %v", tc.vnis, len(got), tc.want)
		}
		for _, vni := range tc.want {
			if len(got[vni]) != len(plain) {
				t.Fatalf("VNIS %q: VNI %d has %d frames, want %d", tc.vnis, vni, len(got[vni]), len(plain))
			}
			for i := range plain {
				if !bytes.Equal(got[vni][i], plain[i]) {
					t.Fatalf("VNIS %q: VNI %d frame %d differs from the plain capture", tc.vnis, vni, i)
				}
			}
		}
		n := uint64(len(plain))
		want := Stats{Encapsulated: 2*n + 2, Decapsulated: n * uint64(len(tc.want)), BadHeader: 2,
			FilteredVNI: n * uint64(2-len(tc.want)), VNIsSeen: 2}
		if st := d.Stats(); st != want {
			t.Fatalf("VNIS %q: stats %+v, want %+v", tc.vnis, st, want)
		}
	}
}

// FilterExpr must compile in libpcap for any valid port.
func TestFilterExprCompiles(t *testing.T) {
	for _, port := range []int{0, 1, 4789, 8472, 65535} {
		if _, err := pcap.CompileBPFFilter(layers.LinkTypeEthernet, 65535, FilterExpr(port)); err != nil {
			t.Errorf("FilterExpr(%d) = %q does not compile: %v", port, FilterExpr(port), err)
		}
	}
}
