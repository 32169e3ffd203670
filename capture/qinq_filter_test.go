//go:build (!darwin || cgo) && !gofiles

// TestQinQFilter reads captures through libpcap with the filter compiled by libpcap: the
// builds without it (gofiles.go) keep the ports in user space instead.

package capture

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"sniffer/internal/damage"
	"sniffer/reassembly"
)

// TestQinQFilter reads every corpus capture on Ethernet again with two VLAN tags on each
// frame (internal/damage pushes an 802.1ad S-tag outside an 802.1Q C-tag; one only on
// captures already tagged) through libpcap with the filter sniffer generates, with no
// ports and with the ports the calls were made on: the same calls must come out as from
// the capture as it was, read with the same filter. Before, the filter matched one tag at
// most and QinQ captures needed -nofilter.
func TestQinQFilter(t *testing.T) {
	dir := needCorpus(t)
	tmp := t.TempDir()
	read := func(path, filter string) []string {
		src, err := Open(Config{File: path, Filter: filter})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		got, _, _, err := runSource(src, false, reassembly.DefaultConfig())
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		keys := make([]string, len(got))
		for i, c := range got {
			keys[i] = callKey(c)
		}
		slices.Sort(keys)
		return keys
	}
	files, calls := 0, 0
	for _, row := range corpus {
		if row.vxlan {
			continue // the tags would go on the outer frame
		}
		path := filepath.Join(dir, row.file)
		c, err := damage.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if c.LinkType != layers.LinkTypeEthernet || len(c.Packets) == 0 {
			continue // no Ethernet header to tag
		}
		tags := []uint16{200, 100}
		if d := c.Packets[0].Data; len(d) > 14 && slices.Contains([]uint16{0x8100, 0x88a8, 0x9100}, uint16(d[12])<<8|uint16(d[13])) {
			tags = tags[:1] // tagged already: one more makes QinQ
		}
		base, _ := runCapture(t, path, false)
		var ports []PortRange
		for _, call := range base {
			if p := call.Server.Port(); !slices.Contains(ports, PortRange{p, p}) {
				ports = append(ports, PortRange{p, p})
			}
		}
		if err := damage.Apply(c, damage.Options{VLANs: tags}); err != nil {
			t.Fatalf("%s: %v", row.file, err)
		}
		out := filepath.Join(tmp, "qinq.pcap")
		if err := c.WriteFile(out); err != nil {
			t.Fatal(err)
		}
		for _, filter := range []string{Filter(nil), Filter(ports)} {
			want := read(path, filter)
			if len(want) == 0 {
				continue // nothing the filter takes (PPPoE, one-sided captures)
			}
			if got := read(out, filter); !slices.Equal(got, want) {
				t.Errorf("%s with two VLAN tags, filter %q: %d calls, want the %d of the capture as it was", row.file, filter, len(got), len(want))
			}
			files++
			calls += len(want)
		}
	}
	if files < 40 {
		t.Errorf("only %d corpus captures and filters compared", files)
	}
	t.Logf("%d captures and filters compared, %d calls", files, calls)
}
