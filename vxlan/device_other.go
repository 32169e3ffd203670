//go:build !linux

package vxlan

import (
	"fmt"
	"runtime"
)

// EnsureDevice is only available on Linux, where netlink exists. Elsewhere, capture
// FilterExpr(port) and decapsulate in user space (SNIFFER_ENGINE=mirror).
func EnsureDevice(cfg DeviceConfig) (created bool, cleanup func() error, err error) {
	return false, func() error { return nil }, fmt.Errorf("vxlan: kernel VXLAN devices need Linux (this is %s); use SNIFFER_ENGINE=mirror to decapsulate in user space", runtime.GOOS)
}
