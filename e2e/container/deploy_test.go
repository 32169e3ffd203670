//go:build linux

package container

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sniffer/internal/testenv"
)

// TestDaemonSet parses deploy/daemonset.yaml and checks what makes it work: host network,
// non-root with NET_RAW alone, privilege escalation allowed (file capabilities need it),
// probes on the port SNIFFER_METRICS_ADDR serves, and only variables sniffer knows.
func TestDaemonSet(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		testenv.Missing(t, "python3 (with python3-yaml) is needed to parse YAML; scripts/setup.sh installs it")
	}
	path := filepath.Join(repoRoot(t), "deploy", "daemonset.yaml")
	out, err := exec.Command("python3", "-c", "import sys, json, yaml; json.dump(list(yaml.safe_load_all(open(sys.argv[1]))), sys.stdout)", path).Output()
	if err != nil {
		t.Fatalf("%s is not valid YAML: %v", path, err)
	}
	var docs []map[string]any
	if err := json.Unmarshal(out, &docs); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]map[string]any{}
	for _, d := range docs {
		kinds[d["kind"].(string)] = d
	}
	for _, k := range []string{"Namespace", "ConfigMap", "DaemonSet"} {
		if kinds[k] == nil {
			t.Fatalf("%s has no %s", path, k)
		}
	}
	// get walks a path of map keys and list indexes.
	get := func(v any, keys ...any) any {
		for _, k := range keys {
			switch k := k.(type) {
			case string:
				m, _ := v.(map[string]any)
				v = m[k]
			case int:
				l, _ := v.([]any)
				if k >= len(l) {
					return nil
				}
				v = l[k]
			}
		}
		return v
	}
	spec := get(kinds["DaemonSet"], "spec", "template", "spec")
	if get(spec, "hostNetwork") != true {
		t.Errorf("the DaemonSet must use hostNetwork")
	}
	c := get(spec, "containers", 0)
	sc := get(c, "securityContext")
	if get(sc, "allowPrivilegeEscalation") != true {
		t.Errorf("allowPrivilegeEscalation must be true: no_new_privs would keep the file capabilities from applying")
	}
	if !slices.Equal(toStrings(get(sc, "capabilities", "drop")), []string{"ALL"}) || !slices.Equal(toStrings(get(sc, "capabilities", "add")), []string{"NET_RAW"}) {
		t.Errorf("capabilities %v, want drop ALL, add NET_RAW", get(sc, "capabilities"))
	}
	if get(spec, "securityContext", "runAsUser") != float64(10001) || get(spec, "securityContext", "runAsNonRoot") != true {
		t.Errorf("the pod must run as the image's uid 10001, non-root")
	}
	data, _ := get(kinds["ConfigMap"], "data").(map[string]any)
	_, documented := dotEnv(t)
	for k := range data {
		if !documented[k] {
			t.Errorf("the ConfigMap sets %s, which sniffer does not read (not in .env.example)", k)
		}
	}
	port := get(c, "ports", 0, "containerPort")
	if addr, _ := data["SNIFFER_METRICS_ADDR"].(string); !strings.HasSuffix(addr, ":9777") || port != float64(9777) {
		t.Errorf("SNIFFER_METRICS_ADDR %q and the metrics port %v disagree", addr, port)
	}
	for _, probe := range []string{"livenessProbe", "readinessProbe"} {
		if get(c, probe, "httpGet", "path") != "/healthz" || get(c, probe, "httpGet", "port") != "metrics" {
			t.Errorf("%s: %v, want GET /healthz on the metrics port", probe, get(c, probe))
		}
	}
	if rules, _ := data["USAGE_LOGGERS_RULES"].(string); strings.HasPrefix(get(data, "USAGE_LOGGERS_URL").(string), "http://") && !strings.Contains(rules, "allow_http_url") {
		t.Errorf("a plain http:// USAGE_LOGGERS_URL needs allow_http_url in the rules")
	}
}

func toStrings(v any) []string {
	l, _ := v.([]any)
	s := make([]string, 0, len(l))
	for _, x := range l {
		if str, ok := x.(string); ok {
			s = append(s, str)
		}
	}
	return s
}
