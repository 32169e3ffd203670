package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMissingHelper is run by TestMissing in a child process; on its own it does nothing.
func TestMissingHelper(t *testing.T) {
	if os.Getenv("SNIFFER_TESTENV_HELPER") != "1" {
		return
	}
	Missing(t, "frobnicator is not installed")
	t.Log("after Missing") // never reached: Missing ends the test either way
}

// TestMissing runs TestMissingHelper (this test binary, again) with and without CI=true: as
// root in CI it must fail, naming what is missing; elsewhere it must skip.
func TestMissing(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingHelper$", "-test.v")
		cmd.Env = append(os.Environ(), "SNIFFER_TESTENV_HELPER=1", "CI="+ci)
		out, err := cmd.CombinedOutput()
		wantFail := ci == "true" && os.Geteuid() == 0
		failed := err != nil && strings.Contains(string(out), "--- FAIL: TestMissingHelper")
		skipped := err == nil && strings.Contains(string(out), "--- SKIP: TestMissingHelper")
		if wantFail != failed || wantFail == skipped || strings.Contains(string(out), "after Missing") ||
			!strings.Contains(string(out), "frobnicator is not installed") {
			t.Errorf("CI=%q as uid %d: want fail=%v; got err=%v:\n%s", ci, os.Geteuid(), wantFail, err, out)
		}
	}
}
