package vxlan

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"
)

// EnsureDevice makes sure the VXLAN device cfg.Name exists and returns cleanup, which
// undoes only what EnsureDevice did.
//
// If a link of that name exists (of any type), it is used as it is: created is false
// and cleanup does nothing, because the device belongs to whoever made it. Otherwise
// EnsureDevice creates a VXLAN link with cfg's VNI, port, parent and addresses, brings
// it up, and returns created true and a cleanup that deletes it. Cleanup is safe to
// call more than once and from any goroutine: it acts on the network namespace that
// EnsureDevice ran in and deletes the link by its index, so a newer device that took
// the same name is left alone.
//
// Creating needs CAP_NET_ADMIN; without it the error names the capability and the
// equivalent ip link command (DeviceConfig.IPCommand).
func EnsureDevice(cfg DeviceConfig) (created bool, cleanup func() error, err error) {
	noop := func() error { return nil }
	cfg, err = cfg.withDefaults()
	if err != nil {
		return false, noop, err
	}
	// A handle binds its netlink socket to the calling thread's network namespace now,
	// so cleanup deletes in the same namespace even if it runs on another thread.
	h, err := netlink.NewHandle(syscall.NETLINK_ROUTE)
	if err != nil {
		return false, noop, fmt.Errorf("vxlan: opening a netlink socket: %w", err)
	}
	exists, err := linkExists(h, cfg.Name)
	if err != nil || exists {
		h.Close()
		return false, noop, err
	}

	link := &netlink.Vxlan{
		LinkAttrs: netlink.LinkAttrs{Name: cfg.Name},
		VxlanId:   int(cfg.VNI),
		Port:      cfg.Port,
		Learning:  true, // iproute2's default, so IPCommand describes the same device
	}
	if cfg.Parent != "" {
		parent, err := h.LinkByName(cfg.Parent)
		if err != nil {
			h.Close()
			return false, noop, fmt.Errorf("vxlan: parent device %q for %s: %w; set VXLAN_PARENT to the underlay interface the mirrored traffic arrives on (ip link show)", cfg.Parent, cfg.Name, err)
		}
		link.VtepDevIndex = parent.Attrs().Index
	}
	if cfg.Local.IsValid() {
		link.SrcAddr = net.IP(cfg.Local.Unmap().AsSlice())
	}
	if cfg.Remote.IsValid() {
		link.Group = net.IP(cfg.Remote.Unmap().AsSlice())
	}

	if err := h.LinkAdd(link); err != nil {
		defer h.Close()
		if errors.Is(err, syscall.EEXIST) {
			// Another process created the name since we looked: use theirs.
			if exists, _ := linkExists(h, cfg.Name); exists {
				return false, noop, nil
			}
			return false, noop, fmt.Errorf("vxlan: creating %s: %w; another VXLAN device probably uses VNI %d on port %d already (ip -d link show type vxlan): capture on that device instead", cfg.Name, err, cfg.VNI, cfg.Port)
		}
		return false, noop, wrapPerm("creating", cfg, err)
	}
	index := link.Index
	del := func() error {
		if index == 0 {
			return h.LinkDel(link)
		}
		l, err := h.LinkByIndex(index)
		if err != nil {
			var nf netlink.LinkNotFoundError
			if errors.As(err, &nf) {
				return nil // already gone
			}
			return err
		}
		if l.Attrs().Name != cfg.Name {
			return nil // ours was deleted and the index reused
		}
		return h.LinkDel(l)
	}
	if err := h.LinkSetUp(link); err != nil {
		upErr := wrapPerm("bringing up", cfg, err)
		if derr := del(); derr != nil {
			upErr = fmt.Errorf("%w (and deleting it again failed: %v; remove it with: ip link del %s)", upErr, derr, cfg.Name)
		}
		h.Close()
		return false, noop, upErr
	}

	var once sync.Once
	var cerr error
	cleanup = func() error {
		once.Do(func() {
			defer h.Close()
			if err := del(); err != nil {
				cerr = fmt.Errorf("vxlan: deleting %s, which sniffer created: %w; remove it with: ip link del %s", cfg.Name, err, cfg.Name)
			}
		})
		return cerr
	}
	return true, cleanup, nil
}

// linkExists reports whether a link named name exists in h's namespace; any error
// other than "not found" is returned, since guessing would create a duplicate.
func linkExists(h *netlink.Handle, name string) (bool, error) {
	_, err := h.LinkByName(name)
	if err == nil {
		return true, nil
	}
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return false, nil
	}
	return false, fmt.Errorf("vxlan: looking up device %s: %w", name, err)
}

// wrapPerm turns EPERM/EACCES into the message the issue asks for: which capability is
// missing and which command does the same by hand.
func wrapPerm(what string, cfg DeviceConfig, err error) error {
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("vxlan: %s device %s needs CAP_NET_ADMIN (run sniffer as root or grant it with: setcap cap_net_admin,cap_net_raw+ep ./sniffer), or create the device beforehand with: %s: %w",
			what, cfg.Name, cfg.IPCommand(), err)
	}
	return fmt.Errorf("vxlan: %s device %s: %w (the same by hand: %s)", what, cfg.Name, err, cfg.IPCommand())
}
