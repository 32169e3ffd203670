//go:build (!darwin || cgo) && !gofiles

package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcap"
)

// fastPacket is a packet read (copied) by libpcap or fastFile, for comparing the two.
type fastPacket struct {
	data []byte
	ci   gopacket.CaptureInfo
}

func fastReadLibpcap(t *testing.T, path, filter string) ([]fastPacket, string) {
	t.Helper()
	h, err := pcap.OpenOffline(path)
	if err != nil {
		t.Fatalf("libpcap: %v", err)
	}
	defer h.Close()
	if filter != "" {
		if err := h.SetBPFFilter(linkFilter(filter, h.LinkType())); err != nil {
			t.Fatalf("libpcap filter: %v", err)
		}
	}
	var out []fastPacket
	for {
		data, ci, err := h.ReadPacketData()
		switch {
		case err == nil:
			ci.InterfaceIndex = 0
			out = append(out, fastPacket{data, ci})
			continue
		case err == io.EOF:
			return out, "eof"
		}
		if why := h.Error(); why != nil && strings.Contains(why.Error(), "truncated") {
			return out, "truncated"
		}
		return out, "error"
	}
}

func fastReadGo(t *testing.T, path, filter string) ([]fastPacket, string, bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := openFastFile(f)
	if err != nil {
		t.Fatalf("openFastFile: %v", err)
	}
	if g == nil {
		return nil, "", false
	}
	if filter != "" {
		if err := g.setFilter(filter); err != nil {
			t.Fatalf("filter: %v", err)
		}
	}
	var out []fastPacket
	for {
		data, ci, err := g.next()
		switch {
		case err == nil:
			out = append(out, fastPacket{append([]byte(nil), data...), ci})
			continue
		case errors.Is(err, io.EOF):
			return out, "eof", true
		case errors.Is(err, ErrTruncated):
			return out, "truncated", true
		}
		return out, "error", true
	}
}

func fastSameReads(t *testing.T, path, filter string) bool {
	t.Helper()
	want, wend := fastReadLibpcap(t, path, filter)
	got, gend, ok := fastReadGo(t, path, filter)
	if !ok {
		return false
	}
	if gend != wend || len(got) != len(want) {
		t.Fatalf("%s, filter %q: Go read %d packets, then %s; libpcap %d, then %s", path, filter, len(got), gend, len(want), wend)
	}
	for i := range want {
		w, g := want[i], got[i]
		if string(w.data) != string(g.data) || !w.ci.Timestamp.Equal(g.ci.Timestamp) ||
			w.ci.CaptureLength != g.ci.CaptureLength || w.ci.Length != g.ci.Length {
			t.Fatalf("%s, filter %q: packet %d differs: Go %v (%d bytes), libpcap %v (%d bytes)", path, filter, i, g.ci, len(g.data), w.ci, len(w.data))
		}
	}
	return true
}

// TestFastFileAsLibpcap reads every corpus capture that fastFile takes both ways, with no
// filter, the default one and filters on the wire length and the TCP flags: the same
// packets, bytes, lengths and timestamps, and the same end.
func TestFastFileAsLibpcap(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(needCorpus(t), "*.pcap*"))
	if len(files) == 0 {
		t.Fatalf("no corpus at %s (SNIFFER_CORPUS)", corpusDir())
	}
	taken := 0
	for _, f := range files {
		// The generated filter (VLAN-tagged halves, kept on Ethernet only: libpcap refuses
		// "vlan" on other link types, Cisco HDLC among them) and filters on lengths and flags.
		generated := Filter([]PortRange{{80, 80}, {8080, 8080}})
		for _, filter := range []string{"", generated, "greater 200 and tcp", "len > 1000 or tcp[13] & 2 != 0"} {
			if fastSameReads(t, f, filter) && filter == "" {
				taken++
			}
		}
	}
	t.Logf("%d of %d corpus files read by fastFile", taken, len(files))
	if taken == 0 {
		t.Fatal("fastFile took none of the corpus")
	}
}

// TestFastFileEdges writes files libpcap reads in its own ways: both byte orders and both
// timestamp precisions, a packet longer than the snap length (cut to it), packets cut
// short on the wire, a file cut inside a packet and inside a record header.
func TestFastFileEdges(t *testing.T) {
	dir := t.TempDir()
	frame := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 7)
		}
		copy(b[12:], []byte{0x08, 0x00}) // Ethernet, IPv4 (the rest need not parse)
		return b
	}
	for _, order := range []interface {
		binary.AppendByteOrder
	}{binary.LittleEndian, binary.BigEndian} {
		for _, nano := range []bool{false, true} {
			for _, cut := range []int{0, 10, 30} { // bytes cut from the end of the file
				magic := uint32(0xa1b2c3d4)
				if nano {
					magic = 0xa1b23c4d
				}
				var b []byte
				b = order.AppendUint32(b, magic)
				b = order.AppendUint16(b, 2)
				b = order.AppendUint16(b, 4)
				b = append(b, make([]byte, 8)...)
				b = order.AppendUint32(b, 300) // snap length
				b = order.AppendUint32(b, 1)   // Ethernet
				rec := func(sec, frac uint32, caplen, wirelen int) {
					b = order.AppendUint32(b, sec)
					b = order.AppendUint32(b, frac)
					b = order.AppendUint32(b, uint32(caplen))
					b = order.AppendUint32(b, uint32(wirelen))
					b = append(b, frame(caplen)...)
				}
				rec(1700000000, 999999, 100, 100)
				rec(1700000001, 123456789, 400, 400) // past the snap length
				rec(0x80000000, 5, 60, 1500)         // cut on the wire; past 2038
				rec(1700000002, 1, 250, 250)
				b = b[:len(b)-cut]
				path := filepath.Join(dir, fmt.Sprintf("edge-%v-%v-%d.pcap", order, nano, cut))
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
				for _, filter := range []string{"", "greater 200", "len > 1000"} {
					if !fastSameReads(t, path, filter) {
						t.Fatalf("fastFile refused %s", path)
					}
				}
			}
		}
	}
}
