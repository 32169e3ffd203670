package main

import (
	"fmt"
	"io"
	"net/netip"

	"sniffer/capture"
	"sniffer/vxlan"
)

// mirrorMode sets the decoder up to decapsulate VXLAN- and Geneve-mirrored traffic in user
// space and returns the BPF filter for the outer packets (the application ports then filter
// the inner packets) and the decapsulators, whose counters the summary reports (g is nil
// when SNIFFER_MIRROR_GENEVEPORT is 0).
func mirrorMode(cfg *Config, ports capture.PortSet, dec *capture.Decoder) (filter string, d *vxlan.Decapsulator, g *vxlan.Geneve, err error) {
	sel, err := vxlan.ParseVNIs(cfg.MirrorVNIs)
	if err != nil {
		return "", nil, nil, err
	}
	if d, err = vxlan.New(cfg.MirrorPort, sel); err != nil {
		return "", nil, nil, err
	}
	dec.VXLANPort, dec.Decap, dec.InnerPorts = d.Port(), d, ports
	if cfg.MirrorGeneve == 0 {
		return vxlan.MirrorFilter(int(d.Port()), 0), d, nil, nil
	}
	if g, err = vxlan.NewGeneve(cfg.MirrorGeneve, sel); err != nil {
		return "", nil, nil, err
	}
	if g.Port() == d.Port() {
		return "", nil, nil, fmt.Errorf("SNIFFER_MIRROR_GENEVEPORT and SNIFFER_MIRROR_VXLANPORT are both %d: give Geneve its own port (6081), or 0 to turn it off", g.Port())
	}
	dec.GenevePort, dec.Geneve = g.Port(), g
	return vxlan.MirrorFilter(int(d.Port()), int(g.Port())), d, g, nil
}

// vxlanDevice makes sure the VPC_MIRROR_DEVICE VXLAN device exists and is up, creating
// it when needed; the returned cleanup deletes it only if it was created here.
func vxlanDevice(cfg *Config, stderr io.Writer) (func(), error) {
	dc := vxlan.DeviceConfig{Name: cfg.MirrorDevice, Port: cfg.VXLANPort, Parent: cfg.VXLANParent}
	if cfg.VXLANVNI > 0 {
		dc.VNI = uint32(cfg.VXLANVNI)
	}
	for _, a := range []struct {
		s   string
		dst *netip.Addr
		env string
	}{{cfg.VXLANLocal, &dc.Local, "VXLAN_LOCAL"}, {cfg.VXLANRemote, &dc.Remote, "VXLAN_REMOTE"}} {
		if a.s == "" {
			continue
		}
		ip, err := netip.ParseAddr(a.s)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not an IP address", a.env, a.s)
		}
		*a.dst = ip
	}
	created, cleanup, err := vxlan.EnsureDevice(dc)
	if err != nil {
		return nil, err
	}
	if created {
		fmt.Fprintf(stderr, "sniffer: created VXLAN device %s (VNI %d, port %d); it is deleted on exit\n", cfg.MirrorDevice, dc.VNI, cfg.VXLANPort)
	}
	return func() {
		if err := cleanup(); err != nil {
			fmt.Fprintln(stderr, "sniffer: removing the VXLAN device:", err)
		}
	}, nil
}
