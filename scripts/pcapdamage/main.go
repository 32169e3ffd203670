// Command pcapdamage rewrites a capture the way real capture points damage traffic, to test the
// reassembler on it: IP packets cut into fragments at an MTU, frames wrapped in VXLAN or Geneve
// (whose datagrams can be cut at the underlay's MTU), packets reordered within windows, sent
// again a few packets later, lost, tagged with 802.1Q or QinQ. Every run is deterministic from
// -seed. Reads pcap or pcapng, writes pcap (nanosecond timestamps).
//
//	pcapdamage -seed 3 -shuffle 8 -dup 0.05 -drop 0.001 -vlan 100 -r in.pcap -w out.pcap
//	pcapdamage -frag 576 -wrap vxlan -vni 42 -outer-mtu 1500 -shuffle 4 -r in.pcap -w out.pcap
//
// Read a wrapped capture with sniffer -engine mirror.
//
// It prints what it did on stderr; with -dropped FILE it writes the numbers (from 1, as tshark
// and Wireshark count) of the input packets it dropped, one a line.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"sniffer/internal/damage"
)

func main() {
	in := flag.String("r", "", "input capture (pcap or pcapng); required")
	out := flag.String("w", "", "output pcap; required")
	seed := flag.Uint64("seed", 1, "seed of every random choice: the same seed and flags give the same output")
	shuffle := flag.Int("shuffle", 0, "permute packets within consecutive windows of this many (0 or 1: keep the order)")
	shuffleGap := flag.Duration("shuffle-max-gap", time.Second, "a window ends where the capture is quiet longer than this (0: no limit)")
	dup := flag.Float64("dup", 0, "fraction of packets (0..1) sent again a few packets later")
	dupDelay := flag.Int("dup-delay", 3, "a copy comes 1..this many packets after its original")
	dupRewrite := flag.Bool("dup-rewrite-ip", false, "give copies another IPv4 id and TTL (IPv6 hop limit), as a retransmission has")
	drop := flag.Float64("drop", 0, "fraction of packets (0..1) removed")
	dropped := flag.String("dropped", "", "write the numbers (from 1) of the dropped input packets to this file")
	vlan := flag.String("vlan", "", "VLAN ids to push, outermost first: 100 gives 802.1Q, 200,100 QinQ")
	frag := flag.Int("frag", 0, "cut IP packets longer than this MTU into IP fragments (0: none)")
	fragReorder := flag.Bool("frag-reorder", false, "send each packet's fragments (-frag and -outer-mtu) in a random order")
	wrap := flag.String("wrap", "", "wrap every frame in a tunnel: vxlan (UDP 4789), geneve (UDP 6081, Ethernet inside), geneve-ip (UDP 6081, bare IP inside, as AWS Gateway Load Balancer sends)")
	vni := flag.Uint("vni", 42, "VNI of the -wrap tunnel")
	outerMTU := flag.Int("outer-mtu", 0, "with -wrap: cut the tunnel's datagrams at this underlay MTU (1500: a full-size frame becomes two fragments, as a Linux VXLAN sender sends it)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: pcapdamage -r IN -w OUT [-seed N] [-frag MTU] [-wrap vxlan|geneve|geneve-ip [-vni N] [-outer-mtu MTU]] [-shuffle N] [-dup F] [-drop F] [-vlan ID[,ID]]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *in == "" || *out == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	opts := damage.Options{Seed: *seed, ShuffleWindow: *shuffle, ShuffleMaxGap: *shuffleGap, DupFraction: *dup, DupDelay: *dupDelay, DupRewriteIP: *dupRewrite, DropFraction: *drop,
		FragMTU: *frag, FragReorder: *fragReorder, Tunnel: *wrap, VNI: uint32(*vni), OuterMTU: *outerMTU}
	if err := check(opts); err != nil {
		fmt.Fprintln(os.Stderr, "pcapdamage:", err)
		os.Exit(2)
	}
	if *vlan != "" {
		for _, s := range strings.Split(*vlan, ",") {
			v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
			if err != nil {
				fmt.Fprintf(os.Stderr, "pcapdamage: -vlan %q: ids are numbers 1..4094 separated by commas\n", *vlan)
				os.Exit(2)
			}
			opts.VLANs = append(opts.VLANs, uint16(v))
		}
	}
	if err := run(*in, *out, *dropped, opts); err != nil {
		fmt.Fprintln(os.Stderr, "pcapdamage:", err)
		os.Exit(1)
	}
}

func check(o damage.Options) error {
	for name, f := range map[string]float64{"-dup": o.DupFraction, "-drop": o.DropFraction} {
		if f < 0 || f > 1 {
			return fmt.Errorf("%s %v: a fraction is between 0 and 1", name, f)
		}
	}
	if o.ShuffleWindow < 0 || o.DupDelay < 1 {
		return fmt.Errorf("-shuffle must be 0 or more and -dup-delay 1 or more")
	}
	if o.OuterMTU != 0 && o.Tunnel == "" {
		return fmt.Errorf("-outer-mtu cuts the tunnel's datagrams: give -wrap too (or -frag to cut the packets themselves)")
	}
	if o.FragMTU < 0 || o.OuterMTU < 0 || o.VNI > 1<<24-1 {
		return fmt.Errorf("-frag and -outer-mtu are 0 (none) or an MTU; -vni has 24 bits")
	}
	return nil
}

func run(in, out, droppedFile string, opts damage.Options) error {
	c, err := damage.ReadFile(in)
	if err != nil {
		return err
	}
	n := len(c.Packets)
	if err := damage.Apply(c, opts); err != nil {
		return err
	}
	if err := c.WriteFile(out); err != nil {
		return err
	}
	if droppedFile != "" {
		var b strings.Builder
		for _, i := range c.Dropped {
			fmt.Fprintln(&b, i+1)
		}
		if err := os.WriteFile(droppedFile, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "pcapdamage: %d packets in, %d out (%d dropped, %d added: copies, fragments), %s\n",
		n, len(c.Packets), len(c.Dropped), len(c.Packets)+len(c.Dropped)-n, c.LinkType)
	return nil
}
