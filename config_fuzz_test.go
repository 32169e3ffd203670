package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
)

// envNames lists every environment variable the configuration reads, from the struct
// tags, so that the fuzz target follows the Config type as it grows.
func envNames() []string {
	var names []string
	t := reflect.TypeOf(Config{})
	for i := 0; i < t.NumField(); i++ {
		if n := t.Field(i).Tag.Get("envconfig"); n != "" {
			names = append(names, n)
		}
	}
	return names
}

// vagueErrors are messages that do not name the setting at fault and are accepted
// anyway; none now (the timeout checks name their variable).
var vagueErrors = []string{}

// FuzzLoadConfig sets one environment variable (chosen by the first input) to an
// arbitrary value and passes arbitrary arguments (split on NUL bytes) to loadConfig.
// It must never panic; an error must be one that a person can act on: it names the
// variable that was set when only a variable was set, and names a flag or the stray
// arguments when only arguments were given; a success must satisfy the checks
// loadConfig promises (non-negative body limit, positive timeouts, a drop policy, ports).
func FuzzLoadConfig(f *testing.F) {
	names := envNames()
	for _, n := range names {
		os.Unsetenv(n) // a developer's own settings must not change the results
	}
	f.Add(uint8(0), "", "")
	f.Add(uint8(0), "", "-h")
	f.Add(uint8(0), "", "-max-streams\x00-5")
	f.Add(uint8(0), "", "-body-limit=-1")
	f.Add(uint8(0), "", "-idle-timeout\x000s")
	f.Add(uint8(0), "", "-drop\x00sideways")
	f.Add(uint8(0), "", "-r\x00x.pcap\x00extra")
	f.Add(uint8(0), "", "--\x00-x")
	f.Add(uint8(0), "", "-nosuchflag")
	f.Add(uint8(0), "", "-max-pending")
	for i := range names {
		for _, v := range []string{"1", "-1", "x", "2m", "true", "1e3", "99999999999999999999", "0x10", " 5 "} {
			f.Add(uint8(i), v, "")
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, value, args string) {
		if strings.ContainsRune(value, 0) {
			return // no environment can hold a NUL byte
		}
		name := ""
		if value != "" || which&0x80 != 0 {
			name = names[int(which)%len(names)]
			t.Setenv(name, value)
			defer os.Unsetenv(name)
		}
		var argv []string
		if args != "" {
			argv = strings.Split(args, "\x00")
		}
		c, err := loadConfig(argv, io.Discard)
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		if err != nil {
			msg := err.Error()
			if strings.TrimSpace(msg) == "" {
				t.Fatalf("empty error for %s=%q args %q", name, value, argv)
			}
			for _, v := range vagueErrors {
				if strings.Contains(msg, v) {
					return
				}
			}
			switch {
			case name != "" && len(argv) == 0 && !strings.Contains(msg, name) && !(name == "APP_PORT" && strings.Contains(msg, "APP_PORTS")):
				t.Fatalf("error for %s=%q does not name the variable: %v", name, value, err)
			case name == "" && len(argv) > 0 && !strings.Contains(msg, "flag") && !strings.Contains(msg, "-") && !strings.Contains(msg, "argument"):
				t.Fatalf("error for arguments %q names no flag: %v", argv, err)
			}
			return
		}
		switch {
		case c.BodyLimit < 0:
			t.Fatalf("accepted a negative body limit %d", c.BodyLimit)
		case c.IdleTimeout <= 0 || c.GapTimeout <= 0 || c.FlushTimeout <= 0:
			t.Fatalf("accepted timeouts %v %v %v", c.IdleTimeout, c.GapTimeout, c.FlushTimeout)
		case c.DropPolicy != "oldest" && c.DropPolicy != "newest":
			t.Fatalf("accepted drop policy %q", c.DropPolicy)
		}
		if _, _, err := c.appPorts(); err == nil && c.Ports == "" && c.Port == "" && c.File == "" {
			// Live with no ports set: network-sniffer's default, port 80.
			if p, anyPort, _ := c.appPorts(); anyPort || len(p) != 1 || p[0].Lo != 80 || p[0].Hi != 80 {
				t.Fatalf("live capture with no ports set: ports %v any %v, want 80", p, anyPort)
			}
		}
	})
}
