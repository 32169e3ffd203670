package output

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sniffer/internal/testenv"
	"sniffer/model"
)

// TestHARPassesHarValidator checks the archive with an independent HAR parser: the
// har-validator npm package (the HAR 1.2 JSON schema). It needs node and the package in
// $HAR_VALIDATOR_MODULES or ../.cache/har-validator/node_modules (scripts/setup.sh can put
// it there with npm install --prefix .cache/har-validator har-validator@5.1.5). Without them the test
// skips, and fails in CI (testenv).
func TestHARPassesHarValidator(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Missing(t, "node is not installed (scripts/setup.sh installs it)")
	}
	mods := os.Getenv("HAR_VALIDATOR_MODULES")
	if mods == "" {
		mods, _ = filepath.Abs("../.cache/har-validator/node_modules")
	}
	if _, err := os.Stat(filepath.Join(mods, "har-validator")); err != nil {
		testenv.Missing(t, "har-validator is not in %s (scripts/setup.sh installs it there)", mods)
	}
	path := filepath.Join(t.TempDir(), "calls.har")
	s, err := NewHAR(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		s.Write(benchCall(i))
	}
	s.Write(formCall())
	half := testCall(99)
	half.Response, half.Incomplete = nil, "no response"
	s.Write(half)
	mirrored := testCall(101)
	mirrored.Response, mirrored.Mirrored, mirrored.Server = nil, true, netip.AddrPort{}
	s.Write(mirrored)
	bin := testCall(100)
	bin.Response.Body = []byte{0xff, 0xfe, 0, 1}
	s.Write(bin)
	odd := testCall(102)
	odd.Mark("request", model.TEAndCL)
	odd.Mark("response", model.ObsFold)
	s.Write(odd) // the _anomalies custom field
	if _, err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "testdata/validate-har.js", path)
	cmd.Env = append(os.Environ(), "NODE_PATH="+mods)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("har-validator: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "25 entries") {
		t.Errorf("har-validator output: %s", out)
	}
}
