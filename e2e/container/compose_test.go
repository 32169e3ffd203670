//go:build linux

package container

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sniffer/internal/testenv"
	"sniffer/rules"
)

// composeFile is the part of the compose specification docker-compose.yml uses.
type composeFile struct {
	Name     string                     `json:"name"`
	Services map[string]*composeService `json:"services"`
	Volumes  map[string]any             `json:"volumes"`
}

type composeService struct {
	Build *struct {
		Context    string `json:"context"`
		Dockerfile string `json:"dockerfile"`
		Target     string `json:"target"`
	} `json:"build"`
	Image       string            `json:"image"`
	Command     []string          `json:"command"`
	Ports       []string          `json:"ports"`
	NetworkMode string            `json:"network_mode"`
	CapAdd      []string          `json:"cap_add"`
	CapDrop     []string          `json:"cap_drop"`
	EnvFile     []map[string]any  `json:"env_file"`
	Environment map[string]string `json:"environment"`
	Volumes     []string          `json:"volumes"`
	DependsOn   []string          `json:"depends_on"`
	Profiles    []string          `json:"profiles"`
	Restart     string            `json:"restart"`
}

// loadCompose parses docker-compose.yml with a real YAML parser (Python's, which
// podman-compose brings along) into the structure above; unknown fields fail the parse.
func loadCompose(t *testing.T) (*composeFile, string) {
	t.Helper()
	root := repoRoot(t)
	path := filepath.Join(root, "docker-compose.yml")
	if _, err := exec.LookPath("python3"); err != nil {
		testenv.Missing(t, "python3 (with python3-yaml) is needed to parse docker-compose.yml; scripts/setup.sh installs it")
	}
	out, err := exec.Command("python3", "-c", "import sys, json, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)", path).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && strings.Contains(string(ee.Stderr), "No module named 'yaml'") {
			testenv.Missing(t, "python3-yaml is not installed (scripts/setup.sh installs it)")
		}
		t.Fatalf("docker-compose.yml is not valid YAML: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	dec.DisallowUnknownFields()
	var c composeFile
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("docker-compose.yml does not have the expected structure: %v\n%s", err, out)
	}
	raw, _ := os.ReadFile(path)
	return &c, string(raw)
}

// dotEnv reads .env.example's settings (the uncommented lines) as compose reads .env.
func dotEnv(t *testing.T) (set map[string]string, documented map[string]bool) {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	set, documented = map[string]string{}, map[string]bool{}
	line := regexp.MustCompile(`^(#?)([A-Z][A-Z0-9_]*)=(.*)$`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := line.FindStringSubmatch(sc.Text()); m != nil {
			documented[m[2]] = true
			if m[1] == "" {
				set[m[2]] = m[3]
			}
		}
	}
	return set, documented
}

var interp = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}`)

// interpolate does compose's ${VAR} and ${VAR:-default} with env.
func interpolate(s string, env map[string]string) string {
	return interp.ReplaceAllStringFunc(s, func(m string) string {
		g := interp.FindStringSubmatch(m)
		if v := env[g[1]]; v != "" {
			return v
		}
		return g[2]
	})
}

// TestComposeFile checks docker-compose.yml's demo as docker compose would run it: the
// services and their wiring, the sidecar's network namespace and capabilities, every
// variable documented in .env.example, the files it mounts and builds from, and the rules
// it gives sniffer.
func TestComposeFile(t *testing.T) {
	c, raw := loadCompose(t)
	root := repoRoot(t)
	for _, name := range []string{"app", "load", "sniffer", "collector", "resurface", "front", "load-front"} {
		if c.Services[name] == nil {
			t.Fatalf("docker-compose.yml has no service %q", name)
		}
	}
	for name, s := range c.Services {
		if name == "resurface" {
			if !slices.Equal(s.Profiles, []string{"resurface"}) {
				t.Errorf("resurface must only start with its profile, has profiles %v", s.Profiles)
			}
			continue
		}
		if len(s.Profiles) > 0 {
			t.Errorf("service %s has profiles %v: `docker compose up` would not start it", name, s.Profiles)
		}
		if s.Build != nil {
			df := filepath.Join(root, s.Build.Context, s.Build.Dockerfile)
			b, err := os.ReadFile(df)
			if err != nil {
				t.Errorf("service %s builds from %s: %v", name, df, err)
			} else if s.Build.Target != "" && !regexp.MustCompile(`(?m)^FROM .* AS `+regexp.QuoteMeta(s.Build.Target)+`$`).Match(b) {
				t.Errorf("service %s builds target %q, which %s lacks", name, s.Build.Target, df)
			}
		} else if !strings.Contains(s.Image, "resurface") {
			t.Errorf("service %s neither builds nor is an outside image", name)
		}
		for _, d := range s.DependsOn {
			if c.Services[d] == nil {
				t.Errorf("service %s depends on unknown %s", name, d)
			}
		}
	}
	if load, app := c.Services["load"], c.Services["app"]; load.Image != app.Image || load.Build == nil || *load.Build != *app.Build {
		t.Errorf("load must run the app's image %q with the same build section (so that compose never pulls it)", app.Image)
	}

	s := c.Services["sniffer"]
	if s.NetworkMode != "service:app" {
		t.Errorf("sniffer network_mode %q, want service:app (the sidecar shares the app's namespace)", s.NetworkMode)
	}
	if !slices.Equal(s.CapDrop, []string{"ALL"}) || !slices.Equal(s.CapAdd, []string{"NET_RAW"}) {
		t.Errorf("sniffer cap_drop %v cap_add %v, want [ALL] and [NET_RAW]", s.CapDrop, s.CapAdd)
	}
	if len(s.EnvFile) != 1 || s.EnvFile[0]["path"] != ".env" || s.EnvFile[0]["required"] != false {
		t.Errorf("sniffer env_file %v, want .env, not required", s.EnvFile)
	}
	env, documented := dotEnv(t)
	for _, m := range interp.FindAllStringSubmatch(raw, -1) {
		if !documented[m[1]] {
			t.Errorf("docker-compose.yml uses ${%s}, which .env.example does not document", m[1])
		}
	}
	senv := map[string]string{}
	for k, v := range s.Environment {
		senv[k] = interpolate(v, env)
	}
	if senv["APP_PORTS"] != "8080" || senv["USAGE_LOGGERS_URL"] != "http://collector:7701/message" {
		t.Errorf("sniffer environment %v: want APP_PORTS 8080 and the collector's URL", senv)
	}
	if !slices.Contains(c.Services["app"].Ports, "${METRICS_HOST_PORT:-9777}:9777") {
		t.Errorf("app does not publish sniffer's metrics port (sniffer shares its namespace): %v", c.Services["app"].Ports)
	}
	// The rules file mounted for USAGE_LOGGERS_RULES parses and allows the plain http:// URL.
	var rulesFile string
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && "file://"+parts[1] == senv["USAGE_LOGGERS_RULES"] {
			rulesFile = filepath.Join(root, parts[0])
		}
	}
	if rulesFile == "" {
		t.Fatalf("USAGE_LOGGERS_RULES %q is not a file mounted into sniffer (%v)", senv["USAGE_LOGGERS_RULES"], s.Volumes)
	}
	text, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	r, err := rules.Parse(string(text))
	if err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	if !r.AllowHTTPURL() {
		t.Errorf("%s lacks allow_http_url: sniffer would refuse http://collector:7701", rulesFile)
	}
}

// TestComposeDemo brings the demo up with the podman commands docker compose would run
// (podman-compose 1.0.3 cannot: it passes network_mode service:app through as is and does
// not read env_file's long form), ports left unpublished, and checks that the collector
// receives the load generator's calls through the sidecar, with .env.example as .env.
func TestComposeDemo(t *testing.T) {
	p := needPodman(t)
	c, _ := loadCompose(t)
	root := repoRoot(t)
	env, _ := dotEnv(t)
	envFile := filepath.Join(t.TempDir(), ".env")
	var b strings.Builder
	for k, v := range env {
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	if err := os.WriteFile(envFile, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	// Build what has a build section, tagged with the service's image name, as compose does.
	var order []string
	seen := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		for _, d := range c.Services[n].DependsOn {
			visit(d)
		}
		order = append(order, n)
	}
	names := make([]string, 0, len(c.Services))
	for n, s := range c.Services {
		if len(s.Profiles) == 0 {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		visit(n)
	}
	for _, n := range order {
		s := c.Services[n]
		if s.Build != nil {
			took := p.build(t, filepath.Join(s.Build.Context, s.Build.Dockerfile), s.Build.Target, "localhost/"+interpolate(s.Image, env))
			t.Logf("built %s (%s) in %v, %.1f MB", n, interpolate(s.Image, env), took.Round(time.Second), float64(p.imageSize(t, "localhost/"+interpolate(s.Image, env)))/1e6)
		}
	}

	// One network, fixed addresses, and every service name in every /etc/hosts: compose's
	// DNS without podman's dnsname plugin.
	id := os.Getpid() % 200
	netName := fmt.Sprintf("sniffer-e2e-%d", os.Getpid())
	subnet := fmt.Sprintf("10.218.%d", id)
	p.must(t, time.Minute, "network", "create", "--subnet", subnet+".0/24", netName)
	t.Cleanup(func() { p.try(time.Minute, "network", "rm", "-f", netName) })
	addr := map[string]string{}
	for i, n := range order {
		if c.Services[n].NetworkMode == "" {
			addr[n] = fmt.Sprintf("%s.%d", subnet, 10+i)
		}
	}
	ctr := func(n string) string { return fmt.Sprintf("sniffer-e2e-%d-%s", os.Getpid(), n) }
	for _, n := range order {
		s := c.Services[n]
		name := ctr(n)
		t.Cleanup(func() { p.try(time.Minute, "rm", "-f", "-t", "0", name) })
		args := []string{"run", "-d", "--name", name}
		if mode, ok := strings.CutPrefix(s.NetworkMode, "service:"); ok {
			args = append(args, "--network", "container:"+ctr(mode))
		} else {
			args = append(args, "--network", netName, "--ip", addr[n])
			for other, a := range addr {
				args = append(args, "--add-host", other+":"+a)
			}
		}
		for _, cp := range s.CapDrop {
			args = append(args, "--cap-drop", cp)
		}
		for _, cp := range s.CapAdd {
			args = append(args, "--cap-add", cp)
		}
		if len(s.EnvFile) > 0 {
			args = append(args, "--env-file", envFile)
		}
		for k, v := range s.Environment {
			args = append(args, "-e", k+"="+interpolate(v, env))
		}
		for _, v := range s.Volumes {
			if src, rest, ok := strings.Cut(v, ":"); ok && strings.HasPrefix(src, ".") {
				args = append(args, "-v", filepath.Join(root, src)+":"+rest)
			}
		}
		args = append(args, "localhost/"+interpolate(s.Image, env))
		for _, a := range s.Command {
			args = append(args, interpolate(a, env))
		}
		p.must(t, 2*time.Minute, args...)
	}
	// Whatever fails below, the containers' logs say why.
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, n := range order {
			out, _ := p.try(time.Minute, "logs", ctr(n))
			t.Logf("logs of %s:\n%s", n, tail(out, 2000))
		}
	})

	col := "http://" + addr["collector"] + ":7701"
	var msgs [][][2]string
	mirrored := 0
	waitFrom := time.Now()
	ok := until(90*time.Second, func() bool {
		code, body, err := httpGet(col + "/messages")
		if err != nil || code != 200 {
			return false
		}
		msgs = msgs[:0]
		for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
			var m [][2]string
			if json.Unmarshal([]byte(line), &m) == nil {
				msgs = append(msgs, m)
			}
		}
		mirrored = 0
		for _, m := range msgs {
			for _, kv := range m {
				if kv == [2]string{"custom_field:mirrored", "true"} {
					mirrored++
				}
			}
		}
		// Mirrored calls come at once; captured ones once sniffer has found where the
		// keep-alive connections it joined midway start (reassembly's reorderPatience).
		return len(msgs)-mirrored >= 10 && mirrored >= 3
	})
	took := time.Since(waitFrom)
	if !ok {
		t.Fatalf("the demo collector received %d calls in 90 s, %d of them mirrored by the NGINX front: want at least 10 captured and 3 mirrored", len(msgs), mirrored)
	}
	for _, m := range msgs {
		d := map[string]string{}
		for _, kv := range m {
			d[kv[0]] = kv[1]
		}
		if d["custom_field:mirrored"] == "true" {
			// Through the NGINX front: mirrored, without response, from load-front's address.
			if !strings.HasPrefix(d["request_url"], "http://front:8081/api/items") || d["response_code"] != "" || d["request_header:x-forwarded-for"] != addr["load-front"] {
				t.Errorf("unexpected mirrored call at the collector (want front's URL, no response_code, x-forwarded-for %s): %v", addr["load-front"], m)
				break
			}
			continue
		}
		// Captured at the app: direct from load, or proxied by the front (Host kept).
		if !strings.HasPrefix(d["request_url"], "http://app:8080/api/items") && !strings.HasPrefix(d["request_url"], "http://front:8081/api/items") || d["response_code"] == "" {
			t.Errorf("unexpected call at the collector: %v", m)
			break
		}
	}
	code, page, err := httpGet(col + "/")
	if err != nil || code != 200 || !strings.Contains(page, "http://app:8080/api/items") {
		t.Errorf("the collector's page: %d %v", code, err)
	}
	// sniffer shares the app's namespace: its metrics are on the app's address.
	if code, body, err := httpGet("http://" + addr["app"] + ":9777/metrics"); err != nil || code != 200 {
		t.Errorf("sniffer's /metrics at the app's address: %d %v", code, err)
	} else if m := metricsText(body); m["sniffer_calls_total"] < 10 {
		var nonzero []string
		for k, v := range m {
			if strings.HasPrefix(k, "sniffer_") && v != 0 {
				nonzero = append(nonzero, fmt.Sprintf("%s %v", k, v))
			}
		}
		slices.Sort(nonzero)
		t.Errorf("sniffer_calls_total %v, want at least 10; sniffer's counters that are not 0:\n%s", m["sniffer_calls_total"], strings.Join(nonzero, "\n"))
	}
	out, _ := p.try(time.Minute, "exec", ctr("sniffer"), "id", "-u")
	if strings.TrimSpace(out) != "10001" {
		t.Errorf("sniffer in the demo runs as uid %q, want 10001", strings.TrimSpace(out))
	}
	t.Logf("the demo collector received %d calls through the sidecar, %d of them mirrored by the NGINX front, %v after the containers started", len(msgs), mirrored, took.Round(100*time.Millisecond))
}
