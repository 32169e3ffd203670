//go:build linux

package vxlan

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netns"

	"sniffer/internal/testenv"
)

// Helpers for tests that need real kernel networking: each test gets its own network
// namespaces, named uniquely per run and deleted (with every link in them) at the end.

var nsSeq atomic.Int32

// needRoot skips the test with the reason and the command that runs it.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to create network namespaces and VXLAN devices; run: sudo go test ./vxlan")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		testenv.Missing(t, "the ip command (iproute2) is not installed; scripts/setup.sh installs it")
	}
}

// run runs a command and fails the test with its output if it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newNetns creates a named network namespace with `ip netns add` and registers its
// deletion. It returns the name and an open handle on it.
func newNetns(t *testing.T, role string) (string, netns.NsHandle) {
	t.Helper()
	name := fmt.Sprintf("vxt%d-%d-%s", os.Getpid(), nsSeq.Add(1), role)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		if strings.Contains(string(out), "Operation not permitted") {
			testenv.Missing(t, "root here may not create network namespaces (ip netns add: %s)", strings.TrimSpace(string(out)))
		}
		t.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	h, err := netns.GetFromName(name)
	if err != nil {
		exec.Command("ip", "netns", "del", name).Run()
		t.Fatalf("opening namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		h.Close()
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name, h
}

// inNetns runs fn on a fresh OS thread switched into ns and returns its error. The
// thread stays locked and is thrown away when fn returns, so no other goroutine ever
// runs in the namespace (or with whatever else fn changed about the thread). Sockets
// and netlink handles opened in fn stay bound to ns after it returns.
func inNetns(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		defer func() {
			if r := recover(); r != nil {
				errc <- fmt.Errorf("panic in namespace: %v", r)
			}
		}()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("entering namespace: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
