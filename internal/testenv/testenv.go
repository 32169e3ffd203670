// Package testenv decides what a test does when the machine lacks something the test needs
// (root, a tool, a file beside the checkout, a network mirror).
//
// A skip hides a test that did not run, so make test lists every skip and fails on any not in
// .ci/skips-allowed (scripts/testsum). In CI as root the machine was set up by scripts/setup.sh,
// so whatever is missing there is a broken setup: Missing then fails the test at once, naming it.
package testenv

import (
	"fmt"
	"os"
	"testing"
)

// InCI says whether the tests run in CI as root (CI=true, uid 0), where nothing may be missing.
func InCI() bool { return os.Getenv("CI") == "true" && os.Geteuid() == 0 }

// Missing reports that something t needs is not here: it fails t in CI as root and skips it
// elsewhere, with the message (which should say how to install or provide what is missing).
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("%s (CI=true as root: scripts/setup.sh should have provided it, so this is a failure, not a skip)", msg)
	}
	t.Skip("skipped: " + msg)
}

// NeedRoot skips t unless it runs as root (a skip make test lists and fails on unless allowed).
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("skipped: needs root (%s); run the tests as root (sudo make test)", why)
	}
}
