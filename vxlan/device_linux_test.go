//go:build linux

package vxlan

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// vxlanLink looks a link up by name in the calling thread's namespace.
func vxlanLink(name string) (*netlink.Vxlan, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, err
	}
	vx, ok := l.(*netlink.Vxlan)
	if !ok {
		return nil, fmt.Errorf("%s is a %s link, not vxlan", name, l.Type())
	}
	return vx, nil
}

func TestEnsureDeviceCreatesUsesAndDeletes(t *testing.T) {
	needRoot(t)
	nsName, ns := newNetns(t, "dev")
	run(t, "ip", "-n", nsName, "link", "add", "ul0", "type", "veth", "peer", "name", "ul1") // this kernel has no dummy driver
	run(t, "ip", "-n", nsName, "link", "set", "ul0", "up")

	cfg := DeviceConfig{Name: "vx0", VNI: 4242, Port: 4790, Parent: "ul0",
		Local: netip.MustParseAddr("192.0.2.1"), Remote: netip.MustParseAddr("192.0.2.2")}
	var cleanup func() error
	err := inNetns(ns, func() error {
		created, c, err := EnsureDevice(cfg)
		if err != nil {
			return err
		}
		if !created {
			return errors.New("EnsureDevice reported an existing device in a new namespace")
		}
		cleanup = c
		vx, err := vxlanLink("vx0")
		if err != nil {
			return err
		}
		parent, err := netlink.LinkByName("ul0")
		if err != nil {
			return err
		}
		switch {
		case vx.VxlanId != 4242:
			return fmt.Errorf("VNI %d, want 4242", vx.VxlanId)
		case vx.Port != 4790:
			return fmt.Errorf("port %d, want 4790", vx.Port)
		case vx.VtepDevIndex != parent.Attrs().Index:
			return fmt.Errorf("parent index %d, want ul0's %d", vx.VtepDevIndex, parent.Attrs().Index)
		case !vx.SrcAddr.Equal(net.IP{192, 0, 2, 1}) || !vx.Group.Equal(net.IP{192, 0, 2, 2}):
			return fmt.Errorf("local %v remote %v", vx.SrcAddr, vx.Group)
		case vx.Flags&net.FlagUp == 0:
			return fmt.Errorf("vx0 is not up: flags %v", vx.Flags)
		}

		// A second call finds the device and must neither recreate nor own it.
		created, c2, err := EnsureDevice(DeviceConfig{Name: "vx0", VNI: 1})
		if err != nil || created {
			return fmt.Errorf("second EnsureDevice: created %v, %v", created, err)
		}
		if err := c2(); err != nil {
			return err
		}
		if _, err := vxlanLink("vx0"); err != nil {
			return fmt.Errorf("the no-op cleanup of an existing device removed it: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// iproute2 agrees, independently of netlink's decoding.
	detail := run(t, "ip", "-n", nsName, "-d", "link", "show", "vx0")
	for _, want := range []string{"vxlan id 4242", "remote 192.0.2.2", "local 192.0.2.1", "dev ul0", "dstport 4790", ",UP"} {
		if !strings.Contains(detail, want) {
			t.Errorf("ip -d link show vx0 lacks %q:\n%s", want, detail)
		}
	}
	if !t.Failed() {
		t.Logf("ip -d link show:\n%s", detail)
	}

	// Cleanup runs here, on a thread in the root namespace: it must still delete the
	// device in the namespace EnsureDevice ran in, and only there.
	if err := cleanup(); err != nil {
		t.Fatal(err)
	}
	if err := cleanup(); err != nil {
		t.Fatalf("second cleanup: %v", err)
	}
	if out := run(t, "ip", "-n", nsName, "-o", "link", "show"); strings.Contains(out, "vx0") {
		t.Fatalf("vx0 still exists after cleanup:\n%s", out)
	}
	if out := run(t, "ip", "-n", nsName, "-o", "link", "show", "ul0"); !strings.Contains(out, "ul0") {
		t.Fatalf("cleanup removed the parent device too:\n%s", out)
	}
}

// The ip command printed in errors must build the same device as EnsureDevice.
func TestIPCommandBuildsTheSameDevice(t *testing.T) {
	needRoot(t)
	cfg := DeviceConfig{Name: "vxm", VNI: 77, Parent: "ul0", Local: netip.MustParseAddr("192.0.2.1"), Remote: netip.MustParseAddr("192.0.2.9")}
	infos := make([]map[string]any, 2)
	for i := range infos {
		nsName, ns := newNetns(t, fmt.Sprintf("cmd%d", i))
		run(t, "ip", "-n", nsName, "link", "add", "ul0", "type", "veth", "peer", "name", "ul1") // this kernel has no dummy driver
		if i == 0 {
			if err := inNetns(ns, func() error { _, _, err := EnsureDevice(cfg); return err }); err != nil {
				t.Fatal(err)
			}
		} else {
			for _, c := range strings.Split(cfg.IPCommand(), " && ") {
				args := strings.Fields(c)
				run(t, args[0], append([]string{"-n", nsName}, args[1:]...)...)
			}
		}
		var links []struct {
			Flags    []string `json:"flags"`
			LinkInfo struct {
				Kind string         `json:"info_kind"`
				Data map[string]any `json:"info_data"`
			} `json:"linkinfo"`
		}
		if err := json.Unmarshal([]byte(run(t, "ip", "-n", nsName, "-j", "-d", "link", "show", "vxm")), &links); err != nil || len(links) != 1 {
			t.Fatalf("ip -j output: %v %v", links, err)
		}
		infos[i] = links[0].LinkInfo.Data
		infos[i]["up"] = strings.Contains(fmt.Sprint(links[0].Flags), "UP")
	}
	a, _ := json.Marshal(infos[0])
	b, _ := json.Marshal(infos[1])
	if string(a) != string(b) {
		t.Fatalf("netlink and %q made different devices:\nnetlink: %s\nip:      %s", cfg.IPCommand(), a, b)
	}
	t.Logf("%s\nboth: %s", cfg.IPCommand(), a)
}

// Without CAP_NET_ADMIN the error must say which capability, and which command to run
// instead. Capabilities are per thread on Linux, so the test drops CAP_NET_ADMIN on
// its own throw-away thread (inside its own namespace) and leaves the process alone.
func TestEnsureDeviceWithoutCapNetAdmin(t *testing.T) {
	needRoot(t)
	nsName, ns := newNetns(t, "noadmin")
	run(t, "ip", "-n", nsName, "link", "add", "ul0", "type", "veth", "peer", "name", "ul1") // this kernel has no dummy driver
	var ensureErr error
	err := inNetns(ns, func() error {
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			return fmt.Errorf("capget: %w", err)
		}
		data[0].Effective &^= 1 << unix.CAP_NET_ADMIN
		data[0].Permitted &^= 1 << unix.CAP_NET_ADMIN
		data[0].Inheritable &^= 1 << unix.CAP_NET_ADMIN
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			return fmt.Errorf("capset: %w", err)
		}
		created, cleanup, err := EnsureDevice(DeviceConfig{VNI: 42, Parent: "ul0"})
		if created {
			cleanup()
			return errors.New("created a device without CAP_NET_ADMIN")
		}
		ensureErr = err
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ensureErr == nil {
		t.Fatal("EnsureDevice without CAP_NET_ADMIN returned no error")
	}
	msg := ensureErr.Error()
	for _, want := range []string{"CAP_NET_ADMIN", "ip link add vx0 type vxlan id 42 dstport 4789 dev ul0 && ip link set vx0 up"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
	if !errors.Is(ensureErr, syscall.EPERM) {
		t.Errorf("error does not wrap EPERM: %v", ensureErr)
	}
	if out := run(t, "ip", "-n", nsName, "-o", "link", "show"); strings.Contains(out, "vx0") {
		t.Fatalf("vx0 exists after a refused creation:\n%s", out)
	}
	t.Log(msg)
}

func TestEnsureDeviceBadParent(t *testing.T) {
	needRoot(t)
	_, ns := newNetns(t, "noparent")
	err := inNetns(ns, func() error {
		_, _, err := EnsureDevice(DeviceConfig{VNI: 1, Parent: "nosuch0"})
		if err == nil || !strings.Contains(err.Error(), "VXLAN_PARENT") || !strings.Contains(err.Error(), `"nosuch0"`) {
			return fmt.Errorf("missing parent gave %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
