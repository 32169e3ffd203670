// Package callset compares what sniffer printed with what the HTTP server says it served.
//
// Completeness is judged on a multiset of (method, request target, status): the only facts that both
// sniffer's NDJSON and nginx's access log (the OUT.calls file of internal/workload) record for every
// call. A multiset, not a set, because a workload repeats the same request many times and a sniffer
// that prints one call twice while missing another must not pass.
package callset

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// MaxLine bounds one NDJSON line (a call with two bodies at the default 1 MiB limit, base64'd, is
// under 3 MiB); a longer line is reported as an error rather than read into unbounded memory.
const MaxLine = 256 << 20

// Key identifies a call for completeness checks.
type Key struct {
	Method string
	Target string // path and query as sent on the request line
	Status int    // 0 when no response was seen
}

func (k Key) String() string { return fmt.Sprintf("%s %s %d", k.Method, k.Target, k.Status) }

// Set is a multiset of keys: how many times each call was seen.
type Set map[Key]int

// Add counts one more k.
func (s Set) Add(k Key) { s[k]++ }

// Len is the total count, duplicates included.
func (s Set) Len() int {
	n := 0
	for _, c := range s {
		n += c
	}
	return n
}

// Entry is a key with how many times it is over or under.
type Entry struct {
	Key   Key
	Count int
}

// Diff returns the calls want has more of than got (missing) and those got has more of (extra),
// sorted so that reports are stable, and the number of calls both have (matched).
func Diff(want, got Set) (missing, extra []Entry, matched int) {
	for k, w := range want {
		g := got[k]
		matched += min(w, g)
		if w > g {
			missing = append(missing, Entry{k, w - g})
		}
	}
	for k, g := range got {
		if w := want[k]; g > w {
			extra = append(extra, Entry{k, g - w})
		}
	}
	sortEntries(missing)
	sortEntries(extra)
	return missing, extra, matched
}

func sortEntries(es []Entry) {
	sort.Slice(es, func(i, j int) bool {
		a, b := es[i].Key, es[j].Key
		if a.Target != b.Target {
			return a.Target < b.Target
		}
		if a.Method != b.Method {
			return a.Method < b.Method
		}
		return a.Status < b.Status
	})
}

// ReadNginx parses the OUT.calls file written by internal/workload: one call a line,
// "method uri status bytes_sent request_length connection connection_requests request_id client_port".
func ReadNginx(r io.Reader) (Set, error) {
	s := Set{}
	err := readLog(r, func(k Key, _ []string) error { s.Add(k); return nil })
	return s, err
}

// Served is one call as the server logged it, with what ties it to the wire: the request id it
// sent back in X-Request-Id and the client's port.
type Served struct {
	Key
	ClientPort string
	// ConnRequest is the call's number on its connection (nginx's connection_requests, the
	// seventh field, from 1): it tells a test which calls a lost packet carried bytes of.
	ConnRequest int
}

// ReadServed parses the same file as ReadNginx and also returns every call by its request id
// (the eighth field; the ninth is the client port). A line without them, or an id logged twice,
// is an error.
func ReadServed(r io.Reader) (Set, map[string]Served, error) {
	s, ids := Set{}, map[string]Served{}
	err := readLog(r, func(k Key, f []string) error {
		if len(f) < 9 {
			return fmt.Errorf("want nine fields (request_id, client_port last), got %d", len(f))
		}
		if _, dup := ids[f[7]]; dup {
			return fmt.Errorf("request id %s logged twice", f[7])
		}
		s.Add(k)
		nth, _ := strconv.Atoi(f[6])
		ids[f[7]] = Served{Key: k, ClientPort: f[8], ConnRequest: nth}
		return nil
	})
	return s, ids, err
}

// readLog hands each line's key and fields to fn.
func readLog(r io.Reader, fn func(Key, []string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 3 {
			return fmt.Errorf("calls line %d: want at least method, uri and status, got %q", n, sc.Text())
		}
		st, err := strconv.Atoi(f[2])
		if err != nil {
			return fmt.Errorf("calls line %d: status %q is not a number", n, f[2])
		}
		if err := fn(Key{Method: f[0], Target: f[1], Status: st}, f); err != nil {
			return fmt.Errorf("calls line %d: %v", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading calls: %w", err)
	}
	return nil
}

// Message is the part of a request or response line of sniffer's NDJSON that the checks read.
type Message struct {
	Headers      [][]string      `json:"headers"`
	Body         *string         `json:"body"`
	BodyEncoding string          `json:"body_encoding"`
	BodySize     *int64          `json:"body_size"`
	Truncated    json.RawMessage `json:"truncated"`
}

// BodyBytes returns the body as bytes, undoing the base64 that sniffer applies to non-UTF-8 bodies.
func (m *Message) BodyBytes() ([]byte, error) {
	if m == nil || m.Body == nil {
		return nil, nil
	}
	switch m.BodyEncoding {
	case "":
		return []byte(*m.Body), nil
	case "base64":
		return base64.StdEncoding.DecodeString(*m.Body)
	default:
		return nil, fmt.Errorf("unknown body_encoding %q", m.BodyEncoding)
	}
}

// Header returns the first value of the named header (case-insensitive) and whether it is there.
func (m *Message) Header(name string) (string, bool) {
	if m == nil {
		return "", false
	}
	for _, h := range m.Headers {
		if len(h) == 2 && strings.EqualFold(h[0], name) {
			return h[1], true
		}
	}
	return "", false
}

// Call is one line of sniffer's NDJSON output, as far as the checks need it.
type Call struct {
	Start      string          `json:"start"`
	DurationMS *float64        `json:"duration_ms"`
	Client     string          `json:"client"`
	Server     string          `json:"server"`
	Incomplete json.RawMessage `json:"incomplete"`
	Shed       string          `json:"shed"` // what an overloaded pipeline left out ("bodies not decoded", "bodies dropped")
	Truncated  json.RawMessage `json:"truncated"`
	Request    struct {
		Message
		Method string `json:"method"`
		URL    string `json:"url"`
	} `json:"request"`
	Response *struct {
		Message
		Status int `json:"status"`
	} `json:"response"`
}

// IsIncomplete says whether sniffer marked the call incomplete or printed it without a response.
func (c *Call) IsIncomplete() bool { return c.Response == nil || isSet(c.Incomplete) }

// IsTruncated says whether any truncation marker is set, on the call or on either message.
func (c *Call) IsTruncated() bool {
	if isSet(c.Truncated) || isSet(c.Request.Truncated) {
		return true
	}
	return c.Response != nil && isSet(c.Response.Truncated)
}

// isSet reads a marker that may be a bool, a string (a reason) or absent.
func isSet(raw json.RawMessage) bool {
	v := string(bytes.TrimSpace(raw))
	return v != "" && v != "null" && v != "false" && v != `""`
}

// Key is the call's completeness key.
func (c *Call) Key() Key {
	k := Key{Method: c.Request.Method, Target: Target(c.Request.URL)}
	if c.Response != nil {
		k.Status = c.Response.Status
	}
	return k
}

// Target strips the scheme and authority off an absolute URL, leaving path and query as they
// were sent ("http://h:80/a?b" -> "/a?b"). Parsing with net/url would re-escape them and no
// longer match the server's log.
func Target(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return u
	}
	rest := u[i+3:]
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		return rest[j:]
	}
	if j := strings.IndexByte(rest, '?'); j >= 0 {
		return "/" + rest[j:]
	}
	return "/"
}

// ReadNDJSON decodes sniffer's output one line at a time and hands each call, with its raw line,
// to fn. A line that is not one JSON object is an error naming the line.
func ReadNDJSON(r io.Reader, fn func(line []byte, c *Call) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), MaxLine)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		var c Call
		if err := json.Unmarshal(line, &c); err != nil {
			return fmt.Errorf("output line %d is not one JSON call: %w (starts %q)", n, err, clip(line, 80))
		}
		if err := fn(line, &c); err != nil {
			return fmt.Errorf("output line %d: %w", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading output: %w", err)
	}
	return nil
}

func clip(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

// MessageKey is the completeness key of one Resurface message: method, path and query as
// sent, status. The message carries the URL without its query and the query's parameters
// as request_param:NAME pairs (in order), together with those of a form body; the target
// is rebuilt from the URL and, unless the body is a form, those parameters.
func MessageKey(m [][2]string) Key {
	var k Key
	var u string
	var params []string
	form := false
	for _, kv := range m {
		name, value := kv[0], kv[1]
		switch {
		case name == "request_method":
			k.Method = value
		case name == "request_url":
			u = value
		case name == "response_code":
			k.Status, _ = strconv.Atoi(value)
		case name == "request_header:content-type":
			form = form || strings.Contains(strings.ToLower(value), "application/x-www-form-urlencoded")
		case strings.HasPrefix(name, "request_param:"):
			params = append(params, url.QueryEscape(strings.TrimPrefix(name, "request_param:"))+"="+url.QueryEscape(value))
		}
	}
	k.Target = Target(u)
	if len(params) > 0 && !form {
		k.Target += "?" + strings.Join(params, "&")
	}
	return k
}
