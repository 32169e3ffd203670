package vxlan

import (
	"net/netip"
	"strings"
	"testing"
)

func TestDeviceConfigValidation(t *testing.T) {
	v4, v6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	for _, tc := range []struct {
		cfg  DeviceConfig
		want string
	}{
		{DeviceConfig{VNI: MaxVNI + 1}, "VXLAN_VNI"},
		{DeviceConfig{Port: 70000}, "VXLAN_PORT"},
		{DeviceConfig{Port: -1}, "VXLAN_PORT"},
		{DeviceConfig{Name: "a-very-long-name0"}, "VPC_MIRROR_DEVICE"},
		{DeviceConfig{Name: "vx/0"}, "VPC_MIRROR_DEVICE"},
		{DeviceConfig{Local: v4, Remote: v6}, "same IP family"},
		{DeviceConfig{Remote: netip.MustParseAddr("239.1.1.1")}, "VXLAN_PARENT"},
	} {
		if _, err := tc.cfg.withDefaults(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one mentioning %s", tc.cfg, err, tc.want)
		}
		// EnsureDevice rejects it before touching the system, on any OS.
		if created, cleanup, err := EnsureDevice(tc.cfg); created || err == nil || cleanup == nil || cleanup() != nil {
			t.Errorf("EnsureDevice(%+v) = %v, %v", tc.cfg, created, err)
		}
	}
	c, err := DeviceConfig{}.withDefaults()
	if err != nil || c.Name != "vx0" || c.Port != 4789 {
		t.Fatalf("defaults: %+v %v", c, err)
	}
}

func TestIPCommand(t *testing.T) {
	for _, tc := range []struct {
		cfg  DeviceConfig
		want string
	}{
		{DeviceConfig{VNI: 42, Parent: "eth0"}, "ip link add vx0 type vxlan id 42 dstport 4789 dev eth0 && ip link set vx0 up"},
		{DeviceConfig{Name: "mir1", VNI: 7, Port: 8472}, "ip link add mir1 type vxlan id 7 dstport 8472 && ip link set mir1 up"},
		{DeviceConfig{VNI: 1, Parent: "ens5", Local: netip.MustParseAddr("::ffff:10.0.0.5"), Remote: netip.MustParseAddr("10.0.0.9")},
			"ip link add vx0 type vxlan id 1 dstport 4789 dev ens5 local 10.0.0.5 remote 10.0.0.9 && ip link set vx0 up"},
		{DeviceConfig{VNI: 1, Parent: "eth0", Remote: netip.MustParseAddr("239.1.1.1")},
			"ip link add vx0 type vxlan id 1 dstport 4789 dev eth0 group 239.1.1.1 && ip link set vx0 up"},
	} {
		if got := tc.cfg.IPCommand(); got != tc.want {
			t.Errorf("IPCommand(%+v)\n got %s\nwant %s", tc.cfg, got, tc.want)
		}
	}
}
