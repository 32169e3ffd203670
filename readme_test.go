package main

import (
	"flag"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

var updateReadme = flag.Bool("update-readme", false, "rewrite the README's settings table from config.go")

// readmeTableHead is the header of the README's settings table.
const readmeTableHead = "| variable | flag | default | meaning |"

// settingFields are Config's fields that are settings (an envconfig variable), in order.
func settingFields() []reflect.StructField {
	var fs []reflect.StructField
	typ := reflect.TypeOf(Config{})
	for i := range typ.NumField() {
		if f := typ.Field(i); f.Tag.Get("envconfig") != "" {
			fs = append(fs, f)
		}
	}
	return fs
}

// settingsTable is the README's settings table as config.go's tags make it: a row per setting,
// in the order of Config, with its variable, flag, default and description.
func settingsTable() []string {
	rows := []string{readmeTableHead, "|---|---|---|---|"}
	for _, f := range settingFields() {
		env := f.Tag.Get("envconfig")
		fl, def := "", ""
		if name := f.Tag.Get("flag"); name != "" && name != "-" {
			fl = "`-" + name + "`"
		}
		if d := f.Tag.Get("default"); d != "" {
			def = "`" + d + "`"
		}
		rows = append(rows, fmt.Sprintf("| `%s` | %s | %s | %s |", env, fl, def, f.Tag.Get("desc")))
	}
	return rows
}

// TestReadmeSettings keeps the README's settings table in step with config.go, as
// TestEnvExample keeps .env.example: the same settings in the same order, each with its flag,
// default and description. go test -run TestReadmeSettings -update-readme . rewrites the table.
func TestReadmeSettings(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	start := -1
	for i, l := range lines {
		if strings.TrimSpace(l) == readmeTableHead {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatalf("README.md has no settings table (a line %q)", readmeTableHead)
	}
	end := start
	for end < len(lines) && strings.HasPrefix(lines[end], "|") {
		end++
	}
	want := settingsTable()
	if *updateReadme {
		out := append(append(append([]string{}, lines[:start]...), want...), lines[end:]...)
		if err := os.WriteFile("README.md", []byte(strings.Join(out, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got := lines[start:end]
	in := map[string]bool{}
	for _, l := range got {
		in[l] = true
	}
	wanted := map[string]bool{}
	for _, l := range want {
		wanted[l] = true
		if !in[l] {
			t.Errorf("the README's settings table lacks (or has another text for) this row:\n%s", l)
		}
	}
	for _, l := range got {
		if !wanted[l] {
			t.Errorf("the README's settings table has a row config.go does not make:\n%s", l)
		}
	}
	if !t.Failed() && strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the README's settings table is not in config.go's order")
	}
	if t.Failed() {
		t.Log("go test -run TestReadmeSettings -update-readme . rewrites the table from config.go")
	}
}

// TestReadmeNewcomer keeps the README's first screens for a newcomer: what sniffer is, then the
// two commands, then how it works with a link to the picture in docs/architecture.md, all before
// the settings table; and every relative link in the README leads to a file that exists.
func TestReadmeNewcomer(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	order := []string{"# sniffer\n", "## Two commands", "bash scripts/setup.sh && make run", "bash scripts/setup.sh && make test",
		"## How it works", "(docs/architecture.md)", readmeTableHead}
	at := -1
	for _, want := range order {
		i := strings.Index(s, want)
		if i < 0 {
			t.Errorf("README.md lacks %q", want)
			continue
		}
		if i < at {
			t.Errorf("README.md has %q before what comes first for a newcomer (order: %q)", want, order)
		}
		at = i
	}
	for _, m := range regexp.MustCompile(`\]\(([^)#:]+)(#[^)]*)?\)`).FindAllStringSubmatch(s, -1) {
		if _, err := os.Stat(m[1]); err != nil {
			t.Errorf("README.md links to %s, which is not there: %v", m[1], err)
		}
	}
}
