package resurfacetest

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"sniffer/model"
)

// CheckMessage returns what is wrong with one message against the Resurface format sniffer
// sends: request_method and an absolute request_url (scheme and host, no query string);
// response_code (when present) a status; now integer epoch milliseconds; interval (when
// present) milliseconds the database keeps (see DatabaseInterval); host, agent and version present; header and param names
// lower-case; no empty values; a client address (x-forwarded-for, X-Real-IP...) present.
func CheckMessage(m [][2]string) []string {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	seen := map[string]int{}
	for _, kv := range m {
		name, value := kv[0], kv[1]
		seen[name]++
		if value == "" {
			bad("empty value for %q", name)
		}
		for _, p := range []string{"request_header:", "response_header:", "request_param:"} {
			if rest, ok := strings.CutPrefix(name, p); ok {
				if rest == "" || rest != strings.ToLower(rest) {
					bad("name %q is not lower-case", name)
				}
			}
		}
		switch name {
		case "request_url":
			u, err := url.Parse(value)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Contains(value, "?") {
				bad("request_url %q is not scheme://host/path without a query", value)
			}
		case "response_code":
			if n, err := strconv.Atoi(value); err != nil || n < 100 || n > 999 {
				bad("response_code %q", value)
			}
		case "now":
			if n, err := strconv.ParseInt(value, 10, 64); err != nil || n < 1e12 || n > 1e13 {
				bad("now %q is not epoch milliseconds", value)
			}
		case "interval":
			if f, err := strconv.ParseFloat(value, 64); err != nil || f < 0 || strings.ContainsAny(value, "eE") || DatabaseInterval(value) == 0 {
				bad("interval %q is not milliseconds the database keeps", value)
			}
		}
	}
	addr := false // the database's request_address: x-forwarded-for, or the request's own X-Real-IP...
	for _, kv := range m {
		if h, ok := strings.CutPrefix(kv[0], "request_header:"); ok && model.IsClientAddressHeader(h) {
			addr = true
		}
	}
	if !addr {
		bad("no client address (request_header:x-forwarded-for or another header the database reads it from)")
	}
	for _, name := range []string{"request_method", "request_url", "now", "host", "agent", "version"} {
		if seen[name] == 0 {
			bad("no %s", name)
		}
	}
	for _, name := range []string{"request_method", "request_url", "response_code", "request_body", "response_body", "now", "interval", "host", "agent", "version"} {
		if seen[name] > 1 {
			bad("%s appears %d times", name, seen[name])
		}
	}
	return errs
}

// DatabaseInterval is the interval_millis the Resurface database stores for an "interval"
// value, as resurfaceio/ndjson HttpMessage.add reads it: "0."-something is 1, anything
// else Float.parseFloat cut to a long; 0 means none. -1 for a value it cannot read.
func DatabaseInterval(value string) int64 {
	if strings.HasPrefix(value, "0.") {
		return 1
	}
	f, err := strconv.ParseFloat(value, 32)
	if err != nil {
		return -1
	}
	return int64(float32(f))
}
