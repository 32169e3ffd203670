//go:build !darwin || cgo

// These tests compile filters with libpcap (gopacket/pcap), which a macOS build without cgo
// does not have.

package capture

import (
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
	"github.com/gopacket/gopacket/pcapgo"

	"sniffer/vxlan"
)

// nflogRecord wraps an IP packet as the kernel logs it: the NFLOG header, a hardware-protocol
// TLV, a prefix TLV whose length needs padding, and the payload TLV, lengths in host order.
func nflogRecord(ip []byte) []byte {
	fam := byte(2)
	if ip[0]>>4 == 6 {
		fam = 10
	}
	rec := []byte{fam, 0, 0, 5}
	tlv := func(typ uint16, v []byte) {
		rec = binary.NativeEndian.AppendUint16(rec, uint16(4+len(v)))
		rec = binary.NativeEndian.AppendUint16(rec, typ)
		rec = append(rec, v...)
		for len(rec)%4 != 0 {
			rec = append(rec, 0)
		}
	}
	tlv(1, []byte{8, 0, 3, 0})
	tlv(10, []byte("sniffer\x00x")) // NFULA_PREFIX, 9 bytes: padded
	tlv(9, ip)
	return rec
}

// TestNFLOGDecode: TCP in NFLOG records, IPv4 and IPv6, decodes; records without a payload or
// with a TLV running past the end are counted undecodable.
func TestNFLOGDecode(t *testing.T) {
	for _, ends := range [][2]string{{"10.0.0.1:40000", "10.0.0.2:80"}, {"[2001:db8::1]:40000", "[2001:db8::2]:80"}} {
		p := pkt{src: netip.MustParseAddrPort(ends[0]), dst: netip.MustParseAddrPort(ends[1]), frame: "raw", payload: "GET / HTTP/1.1\r\n\r\n"}
		d := NewDecoder()
		if s := decodeOne(d, nflogRecord(p.bytes()), LinkTypeNFLOG); s.n != 1 || s.payload != p.payload {
			t.Errorf("%s: %d segments, payload %q", ends[0], s.n, s.payload)
		}
	}
	d := NewDecoder()
	bad := nflogRecord(pkt{src: netip.MustParseAddrPort("10.0.0.1:1"), dst: netip.MustParseAddrPort("10.0.0.2:80"), frame: "raw"}.bytes())
	binary.NativeEndian.PutUint16(bad[4:], 4000) // the first TLV claims more than there is
	for _, rec := range [][]byte{{2, 0, 0, 5}, bad, {2, 1, 0, 0}} {
		if s := decodeOne(d, rec, LinkTypeNFLOG); s.n != 0 {
			t.Errorf("record %x decoded", rec)
		}
	}
	if d.Stats.Undecoded.Load() != 3 {
		t.Errorf("undecodable %d, want 3", d.Stats.Undecoded.Load())
	}
}

// TestFilterEveryLinkType: the generated filters (ports, mirror) compile in the kernel on the
// link types libpcap opens, or, where libpcap refuses (NFLOG), for raw IP in user space.
func TestFilterEveryLinkType(t *testing.T) {
	ports, _ := ParsePorts("80,8000-8010")
	for _, expr := range []string{Filter(ports), Filter(nil), vxlan.MirrorFilter(4789, 6081)} {
		for _, lt := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeNull,
			layers.LinkTypeLoop, dltRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, layers.LinkTypePPP, layers.LinkTypeIEEE80211Radio, LinkTypeNFLOG} {
			e := linkFilter(expr, lt)
			if _, err := pcap.CompileBPFFilter(lt, Snaplen, e); err == nil {
				continue
			} else if _, rerr := pcap.NewBPF(dltRaw, Snaplen, linkFilter(expr, dltRaw)); rerr != nil {
				t.Errorf("link type %d: %q compiles neither in the kernel (%v) nor for user space (%v)", lt, e, err, rerr)
			}
		}
	}
}

// TestNFLOGFileUserFilter: an NFLOG capture file opened with the port filter gets it in user
// space: the packets on the port reach the handler, the others are refused and counted.
func TestNFLOGFileUserFilter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nflog.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(Snaplen, LinkTypeNFLOG); err != nil {
		t.Fatal(err)
	}
	for i, dst := range []string{"10.0.0.2:80", "10.0.0.2:81", "[2001:db8::2]:80", "[2001:db8::2]:443"} {
		src := "10.0.0.1:40000"
		if dst[0] == '[' {
			src = "[2001:db8::1]:40000"
		}
		rec := nflogRecord(pkt{src: netip.MustParseAddrPort(src), dst: netip.MustParseAddrPort(dst), frame: "raw", payload: "x"}.bytes())
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(int64(1700000000+i), 0), CaptureLength: len(rec), Length: len(rec)}, rec); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	ports, _ := ParsePorts("80")
	src, err := Open(Config{File: path, Filter: Filter(ports)})
	if !CompilesFilters {
		// -tags gofiles (the macOS build's paths): no compiler for the filter, in the kernel
		// or in user space; main keeps the ports in the decoder instead.
		if err == nil || !strings.Contains(err.Error(), "cannot compile BPF filters") {
			t.Errorf("a build without libpcap opened an NFLOG file with a filter: %v", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Open with the port filter on an NFLOG file: %v", err)
	}
	defer src.Close()
	if src.UserFilter() == "" {
		t.Fatal("no user-space filter on NFLOG")
	}
	h := &countHandler{}
	if err := src.Run(t.Context(), h); err != nil {
		t.Fatal(err)
	}
	if h.n != 2 || src.UserFiltered() != 2 {
		t.Errorf("%d packets passed, %d refused; want 2 and 2", h.n, src.UserFiltered())
	}
	if _, err := Open(Config{File: path, Filter: "no such filter ((("}); err == nil {
		t.Error("a filter that compiles nowhere was accepted")
	}
}

type countHandler struct{ n int }

func (c *countHandler) Packet([]byte, gopacket.CaptureInfo, layers.LinkType) { c.n++ }
func (c *countHandler) Idle(time.Time)                                       {}
