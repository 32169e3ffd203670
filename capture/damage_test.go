package capture

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"sniffer/internal/damage"
	"sniffer/model"
)

// callKey is what must survive damage unchanged: the exchange, the client, the bodies.
func callKey(c *model.Call) string {
	return fmt.Sprintf("%s %s %s -> %d %q %q", c.Client, c.Request.Method, c.URL, c.Response.Status, c.Request.Body, c.Response.Body)
}

// TestCorpusFragmentedTunnels is issue 11's "fragmented tunnels: every call": each corpus
// capture cut into IP fragments at 576 and 1,280 bytes, or not cut, then left as it is or
// wrapped in VXLAN, Geneve (Ethernet inside) or Geneve with bare IP inside (AWS Gateway Load
// Balancer) whose datagrams are cut at a 1,500-byte underlay, with every packet's fragments in
// a random order (seeds 1 and 2): the same calls as the undamaged capture, one for one, and no IP
// datagram given up.
func TestCorpusFragmentedTunnels(t *testing.T) {
	dir := needCorpus(t)
	tmp := t.TempDir()
	runs, calls, frags := 0, 0, int64(0)
	for _, row := range corpus {
		path := filepath.Join(dir, row.file)
		base, _ := runCapture(t, path, row.vxlan)
		if len(base) == 0 {
			continue // nothing to keep (link types gopacket cannot read, one-sided captures)
		}
		want := make([]string, len(base))
		for i, c := range base {
			want[i] = callKey(c)
		}
		slices.Sort(want)
		for _, wrap := range []string{"", damage.TunnelVXLAN, damage.TunnelGeneve, damage.TunnelGeneveIP} {
			if wrap != "" && row.vxlan {
				continue // sniffer decapsulates one tunnel, not a tunnel in a tunnel
			}
			for _, mtu := range []int{0, 576, 1280} {
				for seed := uint64(1); seed <= 2; seed++ {
					if wrap == "" && mtu == 0 {
						continue
					}
					name := fmt.Sprintf("%s wrap=%q frag=%d seed=%d", row.file, wrap, mtu, seed)
					c, err := damage.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					opts := damage.Options{Seed: seed, FragMTU: mtu, FragReorder: true, Tunnel: wrap, VNI: 42}
					if wrap != "" {
						opts.OuterMTU = 1500
					}
					if err := damage.Apply(c, opts); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if len(c.Dropped) > 0 {
						continue // geneve-ip carries IP only: this capture's frames are PPPoE
					}
					out := filepath.Join(tmp, "damaged.pcap")
					if err := c.WriteFile(out); err != nil {
						t.Fatal(err)
					}
					got, st := runCaptureStats(t, out, wrap != "" || row.vxlan)
					keys := make([]string, len(got))
					for i, c := range got {
						keys[i] = callKey(c)
					}
					slices.Sort(keys)
					runs++
					calls += len(got)
					frags += st.Frag.Fragments.Load()
					if !slices.Equal(keys, want) {
						t.Errorf("%s: %d calls, want the undamaged capture's %d; %s", name, len(got), len(want), &st.Frag)
						for _, k := range keys {
							if !slices.Contains(want, k) {
								t.Logf("  not in the undamaged capture: %.200s", k)
							}
						}
					}
					if st.Frag.Lost() != 0 {
						t.Errorf("%s: %s", name, &st.Frag)
					}
				}
			}
		}
	}
	t.Logf("%d damaged runs, %d calls, all as undamaged; %d IP fragments reassembled in all", runs, calls, frags)
}
