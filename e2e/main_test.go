//go:build linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"sniffer/internal/testenv"
)

// roleEnv makes the test binary, re-executed inside a network namespace, act as the HTTP server
// or client of the live test instead of running tests.
const roleEnv = "SNIFFER_E2E_ROLE"

var buildDir string

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "server":
		os.Exit(serverMain())
	case "client":
		os.Exit(clientMain())
	case "anyport-client":
		os.Exit(anyPortClientMain())
	}
	d, err := os.MkdirTemp("", "sniffer-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	buildDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// repoRoot is the module root: this package lives one level below it.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("cannot find the module root above %s: %v", root, err)
	}
	return root
}

type built struct {
	once sync.Once
	path string
	err  error
}

var plainBin, raceBin built

// sniffer builds the binary once per test run and returns its path. With race set, and the
// tests built with -race or SNIFFER_E2E_RACE=1 in the environment, the binary is built with
// -race, so that the live capture's goroutines and signal handling are checked; tests that read
// big captures or put sniffer under load use the plain one.
func sniffer(t *testing.T, race bool) string {
	t.Helper()
	b, name, args := &plainBin, "sniffer", []string{"build", "-o"}
	if race && (raceEnabled || os.Getenv("SNIFFER_E2E_RACE") == "1") {
		b, name, args = &raceBin, "sniffer-race", []string{"build", "-race", "-o"}
	}
	root := repoRoot(t)
	b.once.Do(func() {
		b.path = filepath.Join(buildDir, name)
		cmd := exec.Command(goTool(), append(args, b.path, ".")...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go %v: %v\n%s", cmd.Args[1:], err, out)
		}
	})
	if b.err != nil {
		t.Fatalf("building sniffer: %v", b.err)
	}
	return b.path
}

// snifferEnv is the environment sniffer runs with: PATH (and GORACE) only, so that settings in
// the caller's environment (NET_DEVICE, APP_PORTS, SNIFFER_*...) cannot change what is tested.
func snifferEnv() []string {
	env := []string{"PATH=" + os.Getenv("PATH")}
	if v, ok := os.LookupEnv("GORACE"); ok {
		env = append(env, "GORACE="+v)
	}
	return env
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// needRoot skips t unless it runs as root with the named tools on PATH (a missing tool fails
// t in CI: see testenv).
func needRoot(t *testing.T, tools ...string) {
	t.Helper()
	testenv.NeedRoot(t, "network namespaces, live capture")
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s is not installed (bash .ci/run or scripts/setup.sh installs it)", tool)
		}
	}
}
