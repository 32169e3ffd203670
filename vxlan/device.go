package vxlan

import (
	"fmt"
	"net/netip"
	"strings"
)

// DefaultDevice is the kernel device name used when DeviceConfig.Name is empty, as in
// network-sniffer's README (VPC_MIRROR_DEVICE=vx0).
const DefaultDevice = "vx0"

// DeviceConfig describes the kernel VXLAN device for VPC_MIRROR_DEVICE mode. Only Name
// matters when the device already exists; the rest (VXLAN_VNI, VXLAN_PORT,
// VXLAN_PARENT and the optional local and remote addresses) is used to create it.
type DeviceConfig struct {
	Name   string     // interface name; "" means "vx0"
	VNI    uint32     // VXLAN Network Identifier, 0 to 16777215
	Port   int        // UDP destination port; 0 means 4789
	Parent string     // underlay device the VXLAN packets arrive on (optional)
	Local  netip.Addr // source address of the tunnel (optional)
	Remote netip.Addr // unicast peer (optional; a mirror target only receives)
}

// withDefaults fills in the defaults and rejects values the kernel would refuse, with
// the setting to fix in the message.
func (c DeviceConfig) withDefaults() (DeviceConfig, error) {
	if c.Name == "" {
		c.Name = DefaultDevice
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	switch {
	case len(c.Name) > 15 || strings.ContainsAny(c.Name, "/ \t\n:"):
		return c, fmt.Errorf("vxlan: device name %q is not a valid interface name (at most 15 characters, no '/', ':' or spaces); fix VPC_MIRROR_DEVICE", c.Name)
	case c.VNI > MaxVNI:
		return c, fmt.Errorf("vxlan: VNI %d does not fit in 24 bits; set VXLAN_VNI to 0-%d", c.VNI, MaxVNI)
	case c.Port < 1 || c.Port > 65535:
		return c, fmt.Errorf("vxlan: port %d is out of range; set VXLAN_PORT to 1-65535 (default %d)", c.Port, DefaultPort)
	case c.Local.IsValid() && c.Remote.IsValid() && c.Local.Unmap().Is4() != c.Remote.Unmap().Is4():
		return c, fmt.Errorf("vxlan: local address %s and remote address %s are not of the same IP family", c.Local, c.Remote)
	case c.Remote.IsValid() && c.Remote.IsMulticast() && c.Parent == "":
		return c, fmt.Errorf("vxlan: multicast group %s needs a parent device; set VXLAN_PARENT", c.Remote)
	}
	return c, nil
}

// IPCommand returns the iproute2 commands that create and bring up the same device,
// for users who prefer to create it themselves (or must, lacking CAP_NET_ADMIN).
func (c DeviceConfig) IPCommand() string {
	c, _ = c.withDefaults()
	var b strings.Builder
	fmt.Fprintf(&b, "ip link add %s type vxlan id %d dstport %d", c.Name, c.VNI, c.Port)
	if c.Parent != "" {
		fmt.Fprintf(&b, " dev %s", c.Parent)
	}
	if c.Local.IsValid() {
		fmt.Fprintf(&b, " local %s", c.Local.Unmap())
	}
	if c.Remote.IsValid() {
		kw := "remote"
		if c.Remote.IsMulticast() {
			kw = "group"
		}
		fmt.Fprintf(&b, " %s %s", kw, c.Remote.Unmap())
	}
	fmt.Fprintf(&b, " && ip link set %s up", c.Name)
	return b.String()
}
