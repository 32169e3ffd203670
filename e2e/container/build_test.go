//go:build linux

package container

import (
	"debug/elf"
	"debug/pe"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sniffer/internal/testenv"
)

// crossBuild builds sniffer for goos/goarch as make dist does and returns the file.
func crossBuild(t *testing.T, goos, goarch string, env ...string) string {
	t.Helper()
	out := filepath.Join(buildDir, "sniffer-"+goos+"-"+goarch)
	cmd := exec.Command(goTool(), "build", "-trimpath", "-ldflags", "-s -w", "-o", out, ".")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), append([]string{"GOOS=" + goos, "GOARCH=" + goarch}, env...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=%s GOARCH=%s go build: %v\n%s", goos, goarch, err, b)
	}
	return out
}

// TestWindowsBuild: the Windows binary builds without cgo (gopacket loads npcap's wpcap.dll
// at run time) and is a PE32+ x86-64 console program.
func TestWindowsBuild(t *testing.T) {
	exe := crossBuild(t, "windows", "amd64", "CGO_ENABLED=0")
	f, err := pe.Open(exe)
	if err != nil {
		t.Fatalf("%s is not a PE file: %v", exe, err)
	}
	defer f.Close()
	if _, ok := f.OptionalHeader.(*pe.OptionalHeader64); !ok || f.Machine != pe.IMAGE_FILE_MACHINE_AMD64 {
		t.Errorf("%s: machine %#x, optional header %T; want PE32+ for AMD64", exe, f.Machine, f.OptionalHeader)
	}
	if out, err := exec.Command("file", exe).Output(); err == nil && !strings.Contains(string(out), "PE32+") {
		t.Errorf("file says %q, want PE32+", out)
	}
}

// TestLinuxArm64Build: the arm64 binary links against arm64 libpcap with the cross compiler.
func TestLinuxArm64Build(t *testing.T) {
	if _, err := exec.LookPath("aarch64-linux-gnu-gcc"); err != nil {
		testenv.Missing(t, "aarch64-linux-gnu-gcc is not installed (scripts/setup.sh installs it with libpcap0.8-dev:arm64)")
	}
	bin := crossBuild(t, "linux", "arm64", "CGO_ENABLED=1", "CC=aarch64-linux-gnu-gcc")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	libs, _ := f.ImportedLibraries()
	if f.Machine != elf.EM_AARCH64 || !strings.Contains(strings.Join(libs, " "), "libpcap") {
		t.Errorf("%s: machine %v, libraries %v; want AArch64 linked with libpcap", bin, f.Machine, libs)
	}
}
