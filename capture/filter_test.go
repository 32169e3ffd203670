//go:build !darwin || cgo

// These tests compile filters with libpcap (gopacket/pcap), which a macOS build without cgo
// does not have.

package capture

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"

	"sniffer/ipfrag"
)

func TestParsePorts(t *testing.T) {
	good := map[string][]PortRange{
		"80":            {{80, 80}},
		" 80 , 8080 ":   {{80, 80}, {8080, 8080}},
		"8000-8010,443": {{8000, 8010}, {443, 443}},
		"1-65535":       {{1, 65535}},
		"80,,81":        {{80, 80}, {81, 81}},
		"":              nil,
		"9000 - 9001":   {{9000, 9001}},
		"65535":         {{65535, 65535}},
		"5-5":           {{5, 5}},
		"80,80":         {{80, 80}, {80, 80}},
	}
	for in, want := range good {
		got, err := ParsePorts(in)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("ParsePorts(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "65536", "http", "80;8080", "10-5", "-5", "5-", "80-abc", "1.5", "-1", "80 81"} {
		got, err := ParsePorts(in)
		if err == nil {
			t.Errorf("ParsePorts(%q) = %v, want an error", in, got)
			continue
		}
		if !strings.Contains(err.Error(), in) && !strings.Contains(err.Error(), strings.TrimSpace(in)) {
			t.Errorf("ParsePorts(%q): error %q does not quote the input", in, err)
		}
	}
}

func TestPortSet(t *testing.T) {
	s := PortSet{{80, 80}, {8000, 8010}}
	for p, want := range map[uint16]bool{80: true, 81: false, 7999: false, 8000: true, 8005: true, 8010: true, 8011: false} {
		if s.Has(p) != want {
			t.Errorf("Has(%d) = %v", p, !want)
		}
	}
	if !(PortSet{}).Has(12345) {
		t.Error("an empty set must hold every port")
	}
}

// TestFilterMatches compiles the generated filter with libpcap for each link type and
// runs it over built packets: TCP on the ports in both directions, IPv4 and IPv6,
// with and without a VLAN tag, and not other ports, UDP or non-IP.
func TestFilterMatches(t *testing.T) {
	ports, err := ParsePorts("80,8000-8010")
	if err != nil {
		t.Fatal(err)
	}
	expr := Filter(ports)
	a4, b4 := "10.0.0.1", "10.0.0.2"
	a6, b6 := "[2001:db8::1]", "[2001:db8::2]"
	type tc struct {
		src, dst string
		udp      bool
		match    bool
	}
	flows := []tc{
		{a4 + ":40000", b4 + ":80", false, true},
		{b4 + ":80", a4 + ":40000", false, true},
		{a4 + ":40000", b4 + ":8005", false, true},
		{b4 + ":8010", a4 + ":40000", false, true},
		{a6 + ":40000", b6 + ":80", false, true},
		{b6 + ":8000", a6 + ":40000", false, true},
		{a4 + ":40000", b4 + ":81", false, false},
		{a4 + ":40000", b4 + ":8011", false, false},
		{a6 + ":40000", b6 + ":443", false, false},
		{a4 + ":40000", b4 + ":80", true, false}, // UDP on the port
		{a6 + ":40000", b6 + ":80", true, false},
	}
	for _, frame := range []string{"ether", "vlan", "qinq", "sll", "sll2", "raw", "null"} {
		lt := pkt{frame: frame}.lt()
		if lt == layers.LinkTypeRaw {
			lt = 12 // libpcap's DLT_RAW on Linux, which LINKTYPE_RAW files open as
		}
		e := linkFilter(expr, lt)
		if _, err := pcap.CompileBPFFilter(lt, 262144, e); err != nil {
			t.Errorf("%s: filter %q does not compile: %v", frame, e, err)
			continue
		}
		bpf, err := pcap.NewBPF(lt, 262144, e)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range flows {
			p := pkt{src: netip.MustParseAddrPort(f.src), dst: netip.MustParseAddrPort(f.dst), udp: f.udp, frame: frame, payload: "GET / HTTP/1.1\r\n\r\n"}
			d := p.bytes()
			if got := bpf.Matches(ci(d), d); got != f.match {
				t.Errorf("%s %s > %s udp=%v: match %v, want %v (filter %q)", frame, f.src, f.dst, f.udp, got, f.match, e)
			}
		}
	}
	// Fragments of TCP datagrams pass on any port (only the first carries ports); those of
	// UDP datagrams do not.
	for _, frame := range []string{"ether", "raw"} {
		lt := pkt{frame: frame}.lt()
		if lt == layers.LinkTypeRaw {
			lt = 12
		}
		bpf, err := pcap.NewBPF(lt, 262144, linkFilter(expr, lt))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []tc{{a4 + ":40000", b4 + ":81", false, true}, {a6 + ":40000", b6 + ":81", false, true}, {a4 + ":1", b4 + ":80", true, false}, {a6 + ":1", b6 + ":80", true, false}} {
			raw := pkt{src: netip.MustParseAddrPort(f.src), dst: netip.MustParseAddrPort(f.dst), udp: f.udp, frame: "raw", payload: strings.Repeat("x", 3000)}.bytes()
			frags, err := ipfrag.Split(raw, 1500, 7)
			if err != nil || len(frags) != 3 {
				t.Fatalf("Split: %d fragments, %v", len(frags), err)
			}
			for i, fr := range frags {
				if frame == "ether" {
					et := []byte{8, 0}
					if fr[0]>>4 == 6 {
						et = []byte{0x86, 0xdd}
					}
					fr = append(append(make([]byte, 12), et...), fr...)
				}
				if got := bpf.Matches(ci(fr), fr); got != f.match {
					t.Errorf("%s fragment %d of %s > %s udp=%v: match %v, want %v", frame, i, f.src, f.dst, f.udp, got, f.match)
				}
			}
		}
	}
	// The filter without ports takes all TCP, with no tag, one or two, and nothing else.
	all := Filter(nil)
	for _, frame := range []string{"ether", "vlan", "qinq"} {
		bpf, err := pcap.NewBPF(layers.LinkTypeEthernet, 262144, all)
		if err != nil {
			t.Fatal(err)
		}
		tcp := pkt{src: netip.MustParseAddrPort("10.0.0.1:1"), dst: netip.MustParseAddrPort("10.0.0.2:2"), frame: frame}.bytes()
		udp := pkt{src: netip.MustParseAddrPort("10.0.0.1:1"), dst: netip.MustParseAddrPort("10.0.0.2:2"), frame: frame, udp: true}.bytes()
		if !bpf.Matches(ci(tcp), tcp) || bpf.Matches(ci(udp), udp) {
			t.Errorf("%s: filter %q wrong on TCP/UDP", frame, all)
		}
	}
}

func TestWithoutVLAN(t *testing.T) {
	for _, in := range []string{"80", "80,443,8000-8010", ""} {
		ps, _ := ParsePorts(in)
		f := Filter(ps)
		base, ok := withoutVLAN(f)
		if !ok || strings.Contains(base, "vlan") {
			t.Errorf("withoutVLAN(%q) = %q, %v", f, base, ok)
		}
	}
	for _, user := range []string{"tcp port 80", "(tcp port 80) or (vlan and (tcp port 81))", "vlan and tcp"} {
		if _, ok := withoutVLAN(user); ok {
			t.Errorf("withoutVLAN took a user expression %q", user)
		}
	}
}
