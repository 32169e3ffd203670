//go:build linux

package container

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sniffer/internal/testenv"
)

// The names the Dockerfiles' FROM lines use (their GO_IMAGE and RUNTIME_IMAGE defaults).
const (
	goImage      = "docker.io/library/golang:1.26-bookworm"
	runtimeImage = "docker.io/library/debian:bookworm-slim"
)

var (
	buildDir string // binaries built for the tests (removed at exit)
	pm       *podman
	pmErr    string // why podman cannot be used here: the tests skip with it
	pmOnce   sync.Once
)

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "sniffer-container-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	buildDir = d
	code := m.Run()
	if pm != nil {
		// Each build leaves its layers as unnamed images (the build cache); those older than
		// 6 h go, so the cache stops growing while a day's runs still reuse the apt layers.
		pm.try(5*time.Minute, "image", "prune", "-f", "--filter", "until=6h")
	}
	os.RemoveAll(d)
	os.Exit(code)
}

// repoRoot is the module root, two levels up.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("cannot find the module root above %s: %v", root, err)
	}
	return root
}

// podman runs podman with the tests' own configuration and storage.
type podman struct {
	env   []string
	cache string // .cache/container

	mu     sync.Mutex
	built  map[string]*buildResult
	images error // from preparing the base images, once
	imOnce sync.Once
}

type buildResult struct {
	once sync.Once
	ref  string // the first tag it was built with
	took time.Duration
	err  error
}

// needPodman skips t unless the tests can run containers here, and returns the harness.
func needPodman(t *testing.T) *podman {
	t.Helper()
	testenv.NeedRoot(t, "network namespaces, podman's rootful storage, live capture")
	pmOnce.Do(func() {
		for _, tool := range []string{"podman", "runc", "ip", "nsenter", "tar"} {
			if _, err := exec.LookPath(tool); err != nil {
				pmErr = tool + " is not installed (bash scripts/setup.sh installs podman, runc and debootstrap)"
				return
			}
		}
		root := repoRoot(t)
		cache := filepath.Join(root, ".cache", "container")
		conf := filepath.Join(cache, "conf")
		if err := os.MkdirAll(conf, 0o755); err != nil {
			pmErr = err.Error()
			return
		}
		// runc and cgroupfs work on these machines without systemd; no default ulimits,
		// because the machine's hard limits may be below podman's defaults.
		files := map[string]string{
			"containers.conf": "[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n",
			"storage.conf":    fmt.Sprintf("[storage]\ndriver = \"overlay\"\ngraphroot = %q\nrunroot = \"/run/sniffer-e2e-podman\"\n", filepath.Join(cache, "storage")),
		}
		for name, text := range files {
			if err := os.WriteFile(filepath.Join(conf, name), []byte(text), 0o644); err != nil {
				pmErr = err.Error()
				return
			}
		}
		pm = &podman{
			cache: cache,
			built: map[string]*buildResult{},
			env: append(os.Environ(),
				"CONTAINERS_CONF="+filepath.Join(conf, "containers.conf"),
				"CONTAINERS_STORAGE_CONF="+filepath.Join(conf, "storage.conf")),
		}
		if out, err := pm.try(time.Minute, "info", "--format", "{{.Host.OCIRuntime.Name}} {{.Store.GraphDriverName}}"); err != nil {
			pmErr = fmt.Sprintf("podman does not work here: %v: %s", err, out)
			pm = nil
		}
	})
	if pm == nil {
		testenv.Missing(t, "%s", pmErr)
	}
	return pm
}

// try runs podman with args and returns its combined output.
func (p *podman) try(limit time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "podman", args...)
	cmd.Env = p.env
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("podman %s: timed out after %v", args[0], limit)
	}
	return string(out), err
}

// must runs podman and fails t on error.
func (p *podman) must(t *testing.T, limit time.Duration, args ...string) string {
	t.Helper()
	out, err := p.try(limit, args...)
	if err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, tail(out, 6000))
	}
	return out
}

// stdout runs podman and returns its standard output only (podman prints warnings about
// systemd health-check timers on standard error here).
func (p *podman) stdout(t *testing.T, limit time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "podman", args...)
	cmd.Env = p.env
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Run(); err != nil {
		t.Fatalf("podman %s: %v\n%s%s", strings.Join(args, " "), err, so.String(), tail(se.String(), 4000))
	}
	return so.String()
}

// lockCache serialises test processes that share the cache (two `go test` runs at once).
func (p *podman) lockCache(t *testing.T) func() {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(p.cache, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }
}

// baseImages makes sure the two base images exist in the tests' storage, building their
// root file systems with debootstrap when they are not cached.
func (p *podman) baseImages(t *testing.T) {
	t.Helper()
	p.imOnce.Do(func() {
		unlock := p.lockCache(t)
		defer unlock()
		p.images = p.makeBaseImages(t)
	})
	if p.images != nil {
		// Typically debootstrap could not reach its mirror: in CI that fails the suite.
		testenv.Missing(t, "cannot make the base images: %v", p.images)
	}
}

func (p *podman) makeBaseImages(t *testing.T) error {
	goVersion, err := exec.Command(goTool(), "env", "GOVERSION").Output()
	if err != nil {
		return fmt.Errorf("go env GOVERSION: %v", err)
	}
	gv := strings.TrimSpace(string(goVersion))
	goRoot, err := exec.Command(goTool(), "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("go env GOROOT: %v", err)
	}
	gr := strings.TrimSpace(string(goRoot))
	label := func(image string) string {
		out, err := p.try(time.Minute, "image", "inspect", "--format", `{{index .Config.Labels "sniffer.e2e.base"}}`, image)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(out)
	}
	needRT, needGo := label(runtimeImage) != "bookworm", label(goImage) != "bookworm "+gv
	if !needRT && !needGo {
		return nil
	}
	// debootstrap both root file systems at once when neither is cached.
	type fs struct {
		dir     string
		include string
		err     error
	}
	rt := &fs{dir: filepath.Join(p.cache, "rootfs-runtime")}
	bd := &fs{dir: filepath.Join(p.cache, "rootfs-build"), include: "gcc,libc6-dev,ca-certificates,pkg-config"}
	var wg sync.WaitGroup
	for _, f := range []*fs{rt, bd} {
		if _, err := os.Stat(filepath.Join(f.dir, "etc", "debian_version")); err == nil {
			continue
		}
		if _, err := exec.LookPath("debootstrap"); err != nil {
			return fmt.Errorf("debootstrap is not installed (bash scripts/setup.sh installs it)")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.err = debootstrap(t, f.dir, f.include)
		}()
	}
	wg.Wait()
	for _, f := range []*fs{rt, bd} {
		if f.err != nil {
			return f.err
		}
	}
	// The build image trusts what this machine trusts, so that go mod download works
	// where TLS is intercepted (the machine's own CA bundle replaces Debian's).
	if ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		os.WriteFile(filepath.Join(bd.dir, "etc", "ssl", "certs", "ca-certificates.crt"), ca, 0o644)
	}
	if needRT {
		start := time.Now()
		if err := importRootfs(p, rt.dir, nil, runtimeImage, []string{"LABEL sniffer.e2e.base=bookworm", `CMD ["bash"]`}); err != nil {
			return err
		}
		t.Logf("imported %s in %v", runtimeImage, time.Since(start).Round(time.Second))
	}
	if needGo {
		start := time.Now()
		// Go goes in at /usr/local/go, as in the official image, from this machine's GOROOT.
		if err := importRootfs(p, bd.dir, []string{"-C", filepath.Dir(gr), "--transform", "s,^" + filepath.Base(gr) + ",usr/local/go,", filepath.Base(gr)}, goImage, []string{
			"ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"ENV GOPATH=/go", "ENV GOTOOLCHAIN=local", "WORKDIR /go", "LABEL sniffer.e2e.base=bookworm " + gv, `CMD ["bash"]`,
		}); err != nil {
			return err
		}
		t.Logf("imported %s (%s) in %v", goImage, gv, time.Since(start).Round(time.Second))
	}
	return nil
}

// debootstrap makes a minimal bookworm in dir (via dir.tmp, renamed when complete, so an
// interrupted run leaves nothing that looks finished) and trims what images leave out.
func debootstrap(t *testing.T, dir, include string) error {
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	args := []string{"--variant=minbase"}
	if include != "" {
		args = append(args, "--include="+include)
	}
	args = append(args, "bookworm", tmp, "http://deb.debian.org/debian")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, "debootstrap", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("debootstrap %s: %v\n%s", strings.Join(args, " "), err, tail(string(out), 3000))
	}
	for _, junk := range []string{"usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info", "var/lib/apt/lists", "var/cache/apt"} {
		p := filepath.Join(tmp, junk)
		os.RemoveAll(p)
		os.MkdirAll(p, 0o755)
	}
	os.MkdirAll(filepath.Join(tmp, "var/lib/apt/lists/partial"), 0o755)
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	t.Logf("debootstrap %s: %v", filepath.Base(dir), time.Since(start).Round(time.Second))
	return nil
}

// importRootfs streams dir (and the extra tar arguments) into podman import as image.
func importRootfs(p *podman, dir string, extra []string, image string, changes []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tarArgs := append([]string{"-cf", "-", "-C", dir, "."}, extra...)
	tarCmd := exec.CommandContext(ctx, "tar", tarArgs...)
	args := []string{"import"}
	for _, c := range changes {
		args = append(args, "--change", c)
	}
	args = append(args, "-", image)
	imp := exec.CommandContext(ctx, "podman", args...)
	imp.Env = p.env
	pipe, err := tarCmd.StdoutPipe()
	if err != nil {
		return err
	}
	imp.Stdin = pipe
	var tarErr, impOut bytes.Buffer
	tarCmd.Stderr = &tarErr
	imp.Stdout, imp.Stderr = &impOut, &impOut
	if err := tarCmd.Start(); err != nil {
		return err
	}
	ierr := imp.Run()
	terr := tarCmd.Wait()
	if terr != nil {
		return fmt.Errorf("tar %s: %v: %s", strings.Join(tarArgs, " "), terr, tarErr.String())
	}
	if ierr != nil {
		return fmt.Errorf("podman import %s: %v: %s", image, ierr, impOut.String())
	}
	return nil
}

// build builds the Dockerfile (relative to the repository) with target ("" for the last
// stage), tagged with every name in tags (at least one), once per test run. It returns the
// build time.
func (p *podman) build(t *testing.T, dockerfile, target string, tags ...string) time.Duration {
	t.Helper()
	p.baseImages(t)
	key := dockerfile + "#" + target
	p.mu.Lock()
	b := p.built[key]
	if b == nil {
		b = &buildResult{}
		p.built[key] = b
	}
	p.mu.Unlock()
	b.once.Do(func() {
		b.ref = tags[0]
		args := []string{"build", "--pull=never", "--network", "host", "--format", "docker", "-f", dockerfile}
		if target != "" {
			args = append(args, "--target", target)
		}
		for _, tag := range tags {
			args = append(args, "-t", tag)
		}
		args = append(args, "--build-arg", "VERSION=e2e", repoRoot(t))
		start := time.Now()
		out, err := p.try(30*time.Minute, args...)
		b.took = time.Since(start)
		if err != nil {
			b.err = fmt.Errorf("podman %s: %v\n%s", strings.Join(args, " "), err, tail(out, 8000))
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	for _, tag := range tags { // built earlier under other names: add these
		if tag != b.ref {
			p.must(t, time.Minute, "tag", b.ref, tag)
		}
	}
	return b.took
}

// imageSize is the image's size in bytes as podman counts it (all layers, uncompressed).
func (p *podman) imageSize(t *testing.T, image string) int64 {
	t.Helper()
	var n int64
	fmt.Sscan(strings.TrimSpace(p.stdout(t, time.Minute, "image", "inspect", "--format", "{{.Size}}", image)), &n)
	return n
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// goBuild builds a package of the repository into buildDir, once per test run.
var goBuilds sync.Map

func goBuild(t *testing.T, pkg string) string {
	t.Helper()
	type res struct {
		once sync.Once
		path string
		err  error
	}
	v, _ := goBuilds.LoadOrStore(pkg, &res{})
	r := v.(*res)
	r.once.Do(func() {
		r.path = filepath.Join(buildDir, filepath.Base(pkg))
		cmd := exec.Command(goTool(), "build", "-o", r.path, pkg)
		cmd.Dir = repoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			r.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.path
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
