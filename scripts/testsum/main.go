// Command testsum runs `go test -json` and prints what `go test` prints without -v (a line per
// package, the output of failing tests), while it keeps every skipped test and why; then it
// lists the skips and fails on any that the allow-list does not excuse. A skipped test did not
// run: unlisted, it would pass unseen.
//
//	testsum -skips FILE -- go test -json ./...     run, stream, append the skips to FILE
//	testsum -skips FILE -allow .ci/skips-allowed -report   list FILE's skips; exit 1 on any not allowed
//
// Run mode exits with the command's status (1 as well when a test failed but the command said
// nothing). The allow-list has a line per allowed skip: the package, a Go regexp matched against
// the whole test name (subtests included), and why; # starts a comment.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
)

func main() {
	skipsFile := flag.String("skips", "", "file the skipped tests are appended to (run) or read from (-report); required")
	allowFile := flag.String("allow", "", "allow-list of skips (-report)")
	report := flag.Bool("report", false, "list the skips in -skips and fail on any -allow does not excuse")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: testsum -skips FILE -- go test -json ARGS...\n       testsum -skips FILE -allow LIST -report")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *skipsFile == "" || *report == (flag.NArg() > 0) {
		flag.Usage()
		os.Exit(2)
	}
	if *report {
		os.Exit(reportSkips(os.Stdout, *skipsFile, *allowFile))
	}
	os.Exit(run(os.Stdout, flag.Args(), *skipsFile))
}

// run runs args, condensing its test2json stream onto w.
func run(w io.Writer, args []string, skipsFile string) int {
	f, err := os.OpenFile(skipsFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		return 2
	}
	defer f.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		return 2
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		return 2
	}
	c := newCondenser(w, json.NewEncoder(f))
	readErr := c.read(out)
	io.Copy(io.Discard, out)
	waitErr := cmd.Wait()
	switch {
	case readErr != nil:
		fmt.Fprintln(os.Stderr, "testsum:", readErr)
		return 2
	case waitErr != nil:
		var ee *exec.ExitError
		if errors.As(waitErr, &ee) && ee.ExitCode() > 0 {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "testsum:", waitErr)
		return 2
	case c.failed:
		return 1
	}
	return 0
}

// event is one line of test2json (go doc test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// Skip is one skipped test as recorded in the skips file.
type Skip struct {
	Package, Test, Reason string
}

type condenser struct {
	w      io.Writer
	skips  *json.Encoder
	output map[string][]string // output of running tests, by package and name
	failed bool
}

func newCondenser(w io.Writer, skips *json.Encoder) *condenser {
	return &condenser{w: w, skips: skips, output: map[string][]string{}}
}

// read consumes a test2json stream. Lines that are not JSON (a tool's own messages) pass through.
func (c *condenser) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			fmt.Fprintln(c.w, sc.Text())
			continue
		}
		if err := c.event(e); err != nil {
			return err
		}
	}
	return sc.Err()
}

func (c *condenser) event(e event) error {
	key := e.Package + " " + e.Test
	switch {
	case e.Action == "build-output":
		fmt.Fprint(c.w, e.Output)
	case e.Action == "build-fail":
		c.failed = true
	case e.Test == "":
		// The package's own lines: "ok  pkg 1.2s", "FAIL pkg", a panic or timeout outside tests.
		if e.Action == "output" && e.Output != "PASS\n" {
			fmt.Fprint(c.w, e.Output)
		}
		if e.Action == "fail" {
			c.failed = true
		}
	case e.Action == "output":
		c.output[key] = append(c.output[key], e.Output)
	case e.Action == "fail":
		c.failed = true
		for _, l := range c.output[key] {
			if !strings.HasPrefix(l, "=== ") { // -json implies -v; without -v go test shows no run lines
				fmt.Fprint(c.w, l)
			}
		}
		delete(c.output, key)
	case e.Action == "skip":
		reason := skipReason(c.output[key])
		delete(c.output, key)
		fmt.Fprintf(c.w, "SKIP %s %s: %s\n", e.Package, e.Test, reason)
		return c.skips.Encode(Skip{Package: e.Package, Test: e.Test, Reason: reason})
	case e.Action == "pass":
		delete(c.output, key)
	}
	return nil
}

// skipReason is what a skipped test logged, without the run and result lines and file:line
// prefixes, on one line.
func skipReason(lines []string) string {
	var parts []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- SKIP") {
			continue
		}
		if i := strings.Index(l, ": "); i > 0 && strings.Contains(l[:i], ".go:") {
			l = l[i+2:]
		}
		l = strings.TrimPrefix(l, "skipped: ") // the report says it already
		parts = append(parts, l)
	}
	if len(parts) == 0 {
		return "(no reason given)"
	}
	return strings.Join(parts, " / ")
}

// allowed is one line of the allow-list.
type allowed struct {
	pkg  string
	test *regexp.Regexp
	why  string
}

func readAllowList(path string) ([]allowed, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var list []allowed
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("%s:%d: want a package, a test name pattern and why it may skip, got %q", path, n, line)
		}
		re, err := regexp.Compile("^(?:" + f[1] + ")$")
		if err != nil {
			return nil, fmt.Errorf("%s:%d: test pattern: %v", path, n, err)
		}
		list = append(list, allowed{pkg: f[0], test: re, why: strings.Join(f[2:], " ")})
	}
	return list, sc.Err()
}

// reportSkips lists every skip in skipsFile, says which the allow-list excuses, and returns 1
// when any is not excused.
func reportSkips(w io.Writer, skipsFile, allowFile string) int {
	list, err := readAllowList(allowFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		return 2
	}
	skips, err := readSkips(skipsFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		return 2
	}
	sort.Slice(skips, func(i, j int) bool {
		if skips[i].Package != skips[j].Package {
			return skips[i].Package < skips[j].Package
		}
		return skips[i].Test < skips[j].Test
	})
	bad := 0
	if len(skips) == 0 {
		fmt.Fprintln(w, "\nskipped tests: none")
		return 0
	}
	fmt.Fprintf(w, "\nskipped tests: %d, each with why it skipped and whether %s allows it:\n", len(skips), allowFile)
	for _, s := range skips {
		verdict := "NOT ALLOWED"
		for _, a := range list {
			if a.pkg == s.Package && a.test.MatchString(s.Test) {
				verdict = "allowed: " + a.why
				break
			}
		}
		if verdict == "NOT ALLOWED" {
			bad++
		}
		fmt.Fprintf(w, "  %s %s\n      skipped: %s\n      %s\n", s.Package, s.Test, s.Reason, verdict)
	}
	if bad > 0 {
		fmt.Fprintf(w, "FAIL: %d skips are not on the allow-list: provide what they need (scripts/setup.sh, root) or, if the skip is right, add it to %s with why\n", bad, allowFile)
		return 1
	}
	return 0
}

func readSkips(path string) ([]Skip, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // no run recorded a skip
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var skips []Skip
	d := json.NewDecoder(f)
	for {
		var s Skip
		if err := d.Decode(&s); errors.Is(err, io.EOF) {
			return skips, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		skips = append(skips, s)
	}
}
