// Command collector is the compose demo's stand-in for a Resurface collector: it takes the
// NDJSON bundles sniffer posts to USAGE_LOGGERS_URL (zlib-compressed when the request says
// Content-Encoding: deflated, as sniffer sends by default), keeps the newest calls in memory
// and shows them at GET /. GET /messages returns them as NDJSON, GET /healthz says it is up.
// It is a demo and a test fixture, not a system of record: nothing is written to disk.
package main

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", envOr("COLLECTOR_ADDR", ":7701"), "listen address (env COLLECTOR_ADDR)")
	keep := flag.Int("keep", 1000, "calls kept in memory; older ones are forgotten")
	flag.Parse()
	st := newStore(*keep)
	srv := &http.Server{Addr: *addr, Handler: st.handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
	slog.Info("collector listening", "addr", *addr, "post", "/message", "show", "/")
	if err := srv.ListenAndServe(); err != nil {
		slog.Error("collector stopped", "err", err)
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Limits on one post: sniffer's bundles are 5 MiB of NDJSON by default.
const (
	maxWire    = 64 << 20  // bytes on the wire
	maxInflate = 256 << 20 // bytes after inflating
	maxLine    = 64 << 20  // one message
)

// store keeps the newest calls in a ring and counts everything it was sent.
type store struct {
	mu       sync.Mutex
	keep     int
	msgs     []message // ring, len <= keep
	next     int
	total    int64 // messages received
	bad      int64 // lines that were not a message
	posts    int64
	badPosts int64
	started  time.Time
}

// message is one call as Resurface's loggers send it: [name, value] pairs.
type message struct {
	Pairs    [][2]string
	Received time.Time
}

func newStore(keep int) *store {
	if keep < 1 {
		keep = 1
	}
	return &store{keep: keep, started: time.Now()}
}

func (s *store) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /messages", s.serveNDJSON)
	mux.HandleFunc("GET /{$}", s.servePage)
	mux.HandleFunc("POST /", s.receive) // Resurface's path is /message; any path is taken
	return mux
}

// receive takes one bundle: NDJSON, one JSON array of [name, value] pairs a line.
func (s *store) receive(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		s.mu.Lock()
		s.badPosts++
		s.mu.Unlock()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now()
	var got []message
	var bad int64
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var pairs [][2]string
		if err := json.Unmarshal(line, &pairs); err != nil {
			bad++
			continue
		}
		got = append(got, message{Pairs: pairs, Received: now})
	}
	if err := sc.Err(); err != nil {
		bad++
	}
	s.mu.Lock()
	s.posts++
	s.bad += bad
	for _, m := range got {
		s.total++
		if len(s.msgs) < s.keep {
			s.msgs = append(s.msgs, m)
		} else {
			s.msgs[s.next] = m
		}
		s.next = (s.next + 1) % s.keep
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// readBody reads the request body, inflating it when Content-Encoding says deflated (zlib,
// what Resurface's loggers send) or deflate, with the size limits above.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	var rd io.Reader = http.MaxBytesReader(w, r.Body, maxWire)
	switch ce := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); ce {
	case "", "identity":
	case "deflated", "deflate":
		zr, err := zlib.NewReader(rd)
		if err != nil {
			return nil, fmt.Errorf("Content-Encoding %s but the body is not zlib: %v", ce, err)
		}
		defer zr.Close()
		rd = zr
	default:
		return nil, fmt.Errorf("Content-Encoding %q: want deflated or none", ce)
	}
	b, err := io.ReadAll(io.LimitReader(rd, maxInflate+1))
	if err != nil {
		return nil, fmt.Errorf("reading the bundle: %v", err)
	}
	if len(b) > maxInflate {
		return nil, errors.New("bundle larger than 256 MiB inflated")
	}
	return b, nil
}

// snapshot returns the kept messages, oldest first, and the counters.
func (s *store) snapshot() (msgs []message, total, bad, posts, badPosts int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.msgs) < s.keep {
		msgs = append(msgs, s.msgs...)
	} else {
		msgs = append(append(msgs, s.msgs[s.next:]...), s.msgs[:s.next]...)
	}
	return msgs, s.total, s.bad, s.posts, s.badPosts
}

func (s *store) serveNDJSON(w http.ResponseWriter, r *http.Request) {
	msgs, total, _, _, _ := s.snapshot()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Total-Messages", strconv.FormatInt(total, 10))
	enc := json.NewEncoder(w)
	for _, m := range msgs {
		enc.Encode(m.Pairs)
	}
}

// row is one call on the page.
type row struct {
	When, Method, URL, Status, Interval, ReqBody, RespBody string
	Headers                                                []string
}

func (s *store) servePage(w http.ResponseWriter, r *http.Request) {
	msgs, total, bad, posts, badPosts := s.snapshot()
	rows := make([]row, 0, len(msgs))
	for i := len(msgs) - 1; i >= 0; i-- { // newest first
		m := msgs[i]
		rw := row{When: m.Received.Format("15:04:05.000")}
		for _, kv := range m.Pairs {
			switch k, v := kv[0], kv[1]; {
			case k == "request_method":
				rw.Method = v
			case k == "request_url":
				rw.URL = v
			case k == "response_code":
				rw.Status = v
			case k == "interval":
				rw.Interval = v + " ms"
			case k == "request_body":
				rw.ReqBody = clip(v)
			case k == "response_body":
				rw.RespBody = clip(v)
			case strings.HasPrefix(k, "request_header:") || strings.HasPrefix(k, "response_header:") || strings.HasPrefix(k, "request_param:"):
				rw.Headers = append(rw.Headers, k+": "+clip(v))
			}
		}
		sort.Strings(rw.Headers)
		rows = append(rows, rw)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	page.Execute(w, map[string]any{
		"Rows": rows, "Total": total, "Kept": len(msgs), "Bad": bad, "Posts": posts, "BadPosts": badPosts,
		"Up": time.Since(s.started).Round(time.Second),
	})
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>sniffer demo collector</title>
<meta http-equiv="refresh" content="5">
<style>body{font:14px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
small{color:#666}pre{margin:0;white-space:pre-wrap;word-break:break-all;font-size:12px}</style></head>
<body><h1>Calls received from sniffer</h1>
<p>{{.Total}} calls in {{.Posts}} posts ({{.Kept}} kept, newest first){{if .Bad}}, {{.Bad}} unreadable lines{{end}}{{if .BadPosts}}, {{.BadPosts}} bad posts{{end}}; up {{.Up}}. This page refreshes every 5 s.
<a href="/messages">NDJSON</a></p>
<table><tr><th>received</th><th>call</th><th>status</th><th>time</th><th>details</th></tr>
{{range .Rows}}<tr><td>{{.When}}</td><td>{{.Method}} {{.URL}}</td><td>{{.Status}}</td><td>{{.Interval}}</td>
<td><details><summary><small>headers and bodies</small></summary><pre>{{range .Headers}}{{.}}
{{end}}{{if .ReqBody}}
request body: {{.ReqBody}}{{end}}{{if .RespBody}}
response body: {{.RespBody}}{{end}}</pre></details></td></tr>
{{else}}<tr><td colspan="5">Nothing yet: is sniffer's USAGE_LOGGERS_URL pointing here (http://HOST:7701/message)?</td></tr>{{end}}
</table></body></html>
`))
