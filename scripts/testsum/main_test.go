package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunAndReport runs real `go test -json` on testdata/sample (a pass, a failure, a skip, a
// skipping subtest) and checks the condensed output, the exit status, the recorded skips and the
// report against allow-lists that excuse some or all of them.
func TestRunAndReport(t *testing.T) {
	dir := t.TempDir()
	skips := filepath.Join(dir, "skips")
	var out bytes.Buffer
	code := run(&out, []string{goTool(), "test", "-count=1", "-json", "./testdata/sample"}, skips)
	got := out.String()
	t.Logf("condensed output:\n%s", got)
	if code != 1 {
		t.Errorf("exit status %d with a failing test, want 1", code)
	}
	for _, want := range []string{"failing-log-line", "--- FAIL: TestFails", "FAIL\tsniffer/scripts/testsum/testdata/sample",
		"SKIP sniffer/scripts/testsum/testdata/sample TestSkips: no frobnicator here",
		"SKIP sniffer/scripts/testsum/testdata/sample TestParent/skips: needs a mirror"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, not := range []string{"passing-log-line", "=== RUN"} {
		if strings.Contains(got, not) {
			t.Errorf("output has %q (a passing test's log, or -v's run lines)", not)
		}
	}

	lists := []struct {
		name, text string
		code       int
		notAllowed int
	}{
		{"none", "", 1, 2},
		{"one", "# a comment\nsniffer/scripts/testsum/testdata/sample TestSkips  frobnicators are rare\n", 1, 1},
		{"both", "sniffer/scripts/testsum/testdata/sample TestSkips why\nsniffer/scripts/testsum/testdata/sample TestParent/.* why not\n", 0, 0},
		{"other package", "sniffer/other TestSkips why\nsniffer/other TestParent/.* why\n", 1, 2},
		{"partial name", "sniffer/scripts/testsum/testdata/sample TestSki why\nsniffer/scripts/testsum/testdata/sample TestParent why\n", 1, 2},
	}
	for _, l := range lists {
		allow := filepath.Join(dir, "allow-"+strings.ReplaceAll(l.name, " ", "-"))
		if err := os.WriteFile(allow, []byte(l.text), 0o644); err != nil {
			t.Fatal(err)
		}
		var rep bytes.Buffer
		c := reportSkips(&rep, skips, allow)
		if c != l.code || strings.Count(rep.String(), "NOT ALLOWED") != l.notAllowed {
			t.Errorf("allow-list %q: status %d and %d not allowed, want %d and %d:\n%s", l.name, c, strings.Count(rep.String(), "NOT ALLOWED"), l.code, l.notAllowed, rep.String())
		}
		if !strings.Contains(rep.String(), "skipped tests: 2") {
			t.Errorf("allow-list %q: report does not count 2 skips:\n%s", l.name, rep.String())
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bad"), []byte("sniffer/x TestY\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c := reportSkips(&bytes.Buffer{}, skips, filepath.Join(dir, "bad")); c != 2 {
		t.Errorf("an allow-list line without a reason: status %d, want 2", c)
	}
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}
