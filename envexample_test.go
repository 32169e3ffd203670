package main

import (
	"bufio"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestEnvExample keeps .env.example complete: every variable sniffer reads must be there,
// with its default, so that the file documents every setting (the requirement).
func TestEnvExample(t *testing.T) {
	f, err := os.Open(".env.example")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line := regexp.MustCompile(`^#?([A-Z][A-Z0-9_]*)=(.*)$`)
	documented := map[string]string{} // the commented default line "#NAME=value"
	set := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		if strings.HasPrefix(sc.Text(), "#") {
			documented[m[1]] = m[2]
		} else {
			set[m[1]] = true
		}
	}
	for _, f := range settingFields() {
		env := f.Tag.Get("envconfig")
		got, ok := documented[env]
		if !ok {
			t.Errorf(".env.example does not document %s (%s): add \"# %s\" and \"#%s=%s\"", env, f.Name, f.Tag.Get("desc"), env, f.Tag.Get("default"))
			continue
		}
		want := f.Tag.Get("default")
		switch {
		case want == "" && f.Type.Kind() == reflect.Bool:
			want = "false"
		}
		if got != want {
			t.Errorf(".env.example: #%s=%s, but the default is %q", env, got, want)
		}
	}
	for name := range set {
		if _, ok := documented[name]; !ok && !strings.HasPrefix(name, "COMPOSE_") {
			t.Errorf(".env.example sets %s without documenting its default as #%s=", name, name)
		}
	}
}
